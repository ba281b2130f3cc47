import time

import pytest

from fracture.errors import ParamError
from fracture.parallel import available_cores, ordered_map, workers
from tests.conftest import default_params, with_overrides


def _slower_for_small(number: int) -> tuple[int, int]:
    """Finishes out of order on several workers: the first items take longest."""
    time.sleep(0.02 * (5 - number % 5))
    return number, number * number


@pytest.mark.parametrize("count", [1, 3])
def test_results_come_in_input_order_whatever_the_workers(count):
    assert list(ordered_map(_slower_for_small, range(20), count, "squaring")) == [(n, n * n) for n in range(20)]


def test_no_items_give_no_results():
    assert list(ordered_map(_slower_for_small, [], 4, "nothing")) == []


def test_zero_workers_means_one_per_available_core():
    assert workers(with_overrides(default_params(), {"base.workers": 0})) == available_cores() >= 1
    assert workers(with_overrides(default_params(), {"base.workers": 3})) == 3


@pytest.mark.parametrize("value", [-1, 1.5, "many", True])
def test_a_bad_worker_count_names_the_key_and_the_fix(value):
    with pytest.raises(ParamError, match=r"base\.workers = .* is not valid; expected an integer >= 0"):
        workers(with_overrides(default_params(), {"base.workers": value}))
