"""The benchmarks that read a study's output say what its numbers say."""

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO, study_module


def _estimate(value, low=None, high=None) -> dict:
    return {"value": value, "low": low, "high": high}


CHANCE = _estimate(0.2, 0.1, 0.3)
COMPARISON = {
    "rows": [
        {"name": "good", "pointing_game": _estimate(0.80, 0.72, 0.86), "chance_pointing_game": CHANCE,
         "detection": {"ap50": _estimate(0.60, 0.50, 0.70)}},
        {"name": "looks", "pointing_game": _estimate(0.50, 0.35, 0.60), "chance_pointing_game": CHANCE,
         "detection": None},
        {"name": "chance", "pointing_game": _estimate(0.75, 0.25, 0.90), "chance_pointing_game": CHANCE},
    ],
    "regions": [{"region": "hand", "auc": {"good": _estimate(0.93, 0.90, 0.95), "looks": _estimate(0.81, 0.75, 0.86)}}],
}


def test_the_aims_are_reached_only_where_the_figure_and_the_bound_over_chance_say_so():
    lines = {(name, aim.split()[0]): (figure, share, verdict)
             for name, aim, figure, share, verdict in study_module("fracture_aims", "bench").aims(COMPARISON, "hand")}
    assert lines["good", "hand"] == ("0.930 [0.900, 0.950]", "1.03", "reached")
    assert lines["good", "pointing"][2] == "reached" and lines["good", "AP@0.5"][2] == "reached"
    assert lines["looks", "pointing"] == ("0.500 [0.350, 0.600]", "0.71", "above chance")
    assert lines["looks", "AP@0.5"] == ("not measured", "-", "no"), "a global head draws no boxes"
    assert lines["chance", "pointing"][2] == "no", "0.75, but its lower bound lies below chance's upper bound"
    assert lines["chance", "hand"] == ("not measured", "-", "no")


@pytest.mark.e2e
def test_the_aims_benchmark_prints_a_table_from_compare_json(tmp_path):
    path = tmp_path / "compare.json"
    path.write_text(json.dumps(COMPARISON))
    result = subprocess.run([sys.executable, str(REPO / "bench/fracture_aims.py"), str(path)], capture_output=True,
                            text=True, check=True)
    assert result.stdout.splitlines()[0].split() == ["experiment", "aim", "figure", "of", "aim", "verdict"]
    assert len(result.stdout.splitlines()) == 1 + 3 * 3
