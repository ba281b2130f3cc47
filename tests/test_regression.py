"""The regression gate: the default pipeline must not fall below the committed baseline."""

import json
from functools import reduce

import pytest
import yaml

from tests.conftest import REPO, copy_project, dvc

pytestmark = pytest.mark.e2e

GATE = yaml.safe_load((REPO / "tests/regression_tolerance.yaml").read_text())


def _value(metrics: dict, dotted: str) -> float:
    return reduce(lambda node, key: node[key], dotted.split("."), metrics)


@pytest.fixture(scope="module")
def reproduced(tmp_path_factory) -> dict:
    root = copy_project(tmp_path_factory.mktemp("default"))
    dvc(root, "repro", timeout=1800, every_core=True)  # as a user's run: the thread count changes training
    return json.loads((root / GATE["baseline"]).read_text())


@pytest.mark.parametrize("metric", sorted(GATE["tolerances"]))
def test_headline_metric_holds_against_the_committed_baseline(reproduced, metric):
    baseline = _value(json.loads((REPO / GATE["baseline"]).read_text()), metric)
    value = _value(reproduced, metric)
    tolerance = GATE["tolerances"][metric]
    assert value >= baseline - tolerance, (
        f"{metric} fell to {value:.4f}, below the baseline {baseline:.4f} by more than {tolerance}")
