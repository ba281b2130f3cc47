"""Which experiments compare reads: finished ones, oldest first, or those named."""

import dvc.api
import pytest

from fracture.comparison import experiments
from fracture.comparison.experiments import finished_experiments, with_later_params
from fracture.core.errors import UserError

ROWS = [  # as dvc.api.exp_show lists them: the baseline, then its experiments newest first
    {"Experiment": None, "rev": "workspace", "typ": "baseline", "State": None},
    {"Experiment": "queued-one", "rev": "aaaaaaa", "typ": "branch_commit", "State": "Queued"},
    {"Experiment": "newer", "rev": "bbbbbbb", "typ": "branch_commit", "State": None},
    {"Experiment": "broken", "rev": "ccccccc", "typ": "branch_commit", "State": "Failed"},
    {"Experiment": "older", "rev": "fffffff", "typ": "branch_commit", "State": "Running"},  # a killed rerun's row
    {"Experiment": "older", "rev": "ddddddd", "typ": "branch_base", "State": "Success"},
]


@pytest.fixture(autouse=True)
def listed(monkeypatch):
    monkeypatch.setattr(dvc.api, "exp_show", lambda *args, **kwargs: [dict(row) for row in ROWS])
    monkeypatch.setattr(experiments, "experiments_of_every_commit", lambda: {"earlier": "eeeeeee", "newer": "0ld0ld0"})


def test_by_default_every_finished_experiment_oldest_first(caplog):
    caplog.set_level("INFO")
    assert finished_experiments([]) == [("older", "ddddddd"), ("newer", "bbbbbbb")]
    assert "skipping 2 unfinished experiments: broken, queued-one" in caplog.text


def test_named_experiments_come_in_the_order_given_and_a_finished_run_wins_over_a_leftover(caplog):
    caplog.set_level("INFO")
    assert finished_experiments(["newer", "older"]) == [("newer", "bbbbbbb"), ("older", "ddddddd")]
    assert "older also has an unfinished run; reading its finished one, ddddddd" in caplog.text


def test_a_name_run_on_an_earlier_commit_is_found_there_and_the_current_commits_run_wins():
    assert finished_experiments(["earlier", "newer"]) == [("earlier", "eeeeeee"), ("newer", "bbbbbbb")]


def test_an_unfinished_or_unknown_name_is_one_clear_error():
    with pytest.raises(UserError, match="no finished experiment named broken, nope on any commit"):
        finished_experiments(["older", "broken", "nope"])


def test_a_param_added_after_an_experiment_ran_reads_as_the_current_commit_has_it(caplog):
    caplog.set_level("INFO")
    earlier = {"model.head": "map", "split.fold": 0}
    later = {"model.head": "global", "model.map_box": "extent", "split.fold": 2}
    assert with_later_params("cv-f0", earlier, later) == {"model.head": "map", "split.fold": 0,
                                                          "model.map_box": "extent"}
    assert "cv-f0 predates model.map_box (read as 'extent')" in caplog.text
    caplog.clear()
    assert with_later_params("cv-f1", later, earlier) == later and not caplog.text, "nothing added, nothing said"
