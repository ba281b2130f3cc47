import subprocess
import sys
import threading
import time

import pytest

from fracture.core.errors import ParamError
from fracture.core.parallel import available_cores, ordered_map, worker_count
from tests.conftest import REPO, default_params, stage_env, with_overrides

HELD_BY_ANOTHER_THREAD = threading.Lock()


def _slower_for_small(number: int) -> tuple[int, int]:
    """Finishes out of order on several workers: the first items take longest."""
    time.sleep(0.02 * (5 - number % 5))
    return number, number * number


@pytest.mark.parametrize("count", [1, 3])
def test_results_come_in_input_order_whatever_the_workers(count):
    assert list(ordered_map(_slower_for_small, range(20), count, "squaring")) == [(n, n * n) for n in range(20)]


def _takes_the_lock(number: int) -> int:
    with HELD_BY_ANOTHER_THREAD:
        return number


def test_workers_start_clean_though_a_thread_of_the_caller_holds_a_lock():
    """A plain fork would copy the held lock into each worker, held for ever (as a PyTorch or OpenCV thread's
    lock at the moment of a fork hung the suite once); workers must come from a clean process instead."""
    script = ("import threading\n"
              "from fracture.core.parallel import ordered_map\n"
              "from tests.core import test_parallel\n"
              "if __name__ == '__main__':\n"
              "    holding = threading.Event()\n"
              "    threading.Thread(target=lambda: (test_parallel.HELD_BY_ANOTHER_THREAD.acquire(), holding.set()),\n"
              "                     daemon=True).start()\n"
              "    holding.wait()\n"
              "    print(list(ordered_map(test_parallel._takes_the_lock, range(4), 2, 'locking')))\n")
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=stage_env(), capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[0, 1, 2, 3]"


def test_no_items_give_no_results():
    assert list(ordered_map(_slower_for_small, [], 4, "nothing")) == []


def test_zero_workers_means_one_per_available_core():
    assert worker_count(with_overrides(default_params(), {"base.workers": 0})) == available_cores() >= 1
    assert worker_count(with_overrides(default_params(), {"base.workers": 3})) == 3


@pytest.mark.parametrize("value", [-1, 1.5, "many", True])
def test_a_bad_worker_count_names_the_key_and_the_fix(value):
    with pytest.raises(ParamError, match=r"base\.workers = .* is not valid; expected an integer >= 0"):
        worker_count(with_overrides(default_params(), {"base.workers": value}))
