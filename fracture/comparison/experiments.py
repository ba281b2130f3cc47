"""Finished DVC experiments and what each one wrote, read at its own revision.

The list comes from DVC's experiments API; params, metrics and test
predictions are read with `dvc.api` at each experiment's revision, so the
workspace is never checked out or changed.
"""

from __future__ import annotations

import io
import json
import logging
from dataclasses import dataclass

import pandas as pd

from fracture.core.errors import UserError
from fracture.core.paths import EVAL_DIR, SPLIT_REPORT, TRAIN_REPORTS
from fracture.core.paths import EVAL_METRICS as EVAL_JSON

log = logging.getLogger(__name__)

PREDICTIONS = (EVAL_DIR / "predictions.csv").as_posix()
EVAL_METRICS = EVAL_JSON.as_posix()
TRAIN_METRICS = (TRAIN_REPORTS / "metrics.json").as_posix()
SPLIT_SUMMARY = SPLIT_REPORT.as_posix()
FINISHED = (None, "Success")  # the experiments API leaves State empty once an experiment's executor is gone


@dataclass(frozen=True)
class Experiment:
    name: str
    rev: str
    params: dict  # flat: "model.arch" -> value
    train: dict  # reports/train/metrics.json
    evaluation: dict  # reports/eval/metrics.json
    predictions: pd.DataFrame  # reports/eval/predictions.csv: validation and test rows
    grouping: dict  # reports/split.json's: the unit the bootstrap resamples
    cross_validation: dict | None = None  # reports/split.json's fold deal, for a fold of a cross-validation
    folds: tuple["Experiment", ...] = ()  # a pooled cross-validation: its fold runs, in fold order

    def test(self) -> pd.DataFrame:
        return self.predictions[self.predictions["split"] == "test"].reset_index(drop=True)


def flatten(params: dict, prefix: str = "") -> dict:
    """{"model": {"arch": "x"}} -> {"model.arch": "x"}; lists stay values."""
    flat = {}
    for key, value in params.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def finished_experiments(names: list[str]) -> list[tuple[str, str]]:
    """(name, revision) of the finished experiments of the current commit, oldest first, or of those named.

    A name not run on the current commit is looked up among every commit's experiments, so runs
    made before a later commit (new code, a pulled branch) still compare by the names they were given; a name
    with a finished run and an unfinished one (a rerun, or a killed run's leftover) reads the finished run.
    """
    import dvc.api

    rows = [row for row in dvc.api.exp_show() if row.get("typ") in ("branch_commit", "branch_base")]
    finished = [row for row in rows if row.get("State") in FINISHED and row.get("Experiment")]
    done = {row["Experiment"] for row in finished}
    left = [row["Experiment"] or row["rev"] for row in rows if row not in finished]
    unfinished, rerun = sorted(set(left) - done), sorted(set(left) & done)  # rerun: e.g. a killed run's leftover
    if unfinished and not names:
        log.info(f"compare: skipping {len(unfinished)} unfinished experiments: {', '.join(unfinished)}")
    by_name = {row["Experiment"]: row["rev"] for row in reversed(finished)}  # the API lists newest first
    if not names:
        return list(by_name.items())
    for name in sorted(set(names) & set(rerun)):
        log.info(f"compare: {name} also has an unfinished run; reading its finished one, {by_name[name]}")
    if any(name not in by_name and name not in unfinished for name in names):
        by_name = {**experiments_of_every_commit(), **by_name}
    missing = [name for name in names if name not in by_name or name in unfinished]
    if missing:
        raise UserError(f"compare: no finished experiment named {', '.join(missing)} on any commit; "
                        f"`dvc exp list --all-commits` lists them (queued ones run with `dvc queue start`)")
    return [(name, by_name[name]) for name in names]


def experiments_of_every_commit() -> dict[str, str]:
    """name -> revision of the experiments kept under every commit (what `dvc exp list --all-commits` lists)."""
    from dvc.repo import Repo

    with Repo() as repo:
        listed = repo.experiments.ls(all_commits=True)
    return {name: rev for experiments in listed.values() for name, rev in experiments if name}


def committed_params() -> dict:
    """The current commit's params, flat: what a param added after an experiment ran reads as in it."""
    import dvc.api

    return flatten(dvc.api.params_show(rev="HEAD"))


def with_later_params(name: str, params: dict, later: dict) -> dict:
    """`params` with the keys only `later` has added at its values. A new param's default keeps what runs did
    before it existed, so a fold run before a param was added pools with the recipe's folds run after."""
    added = {key: value for key, value in later.items() if key not in params}
    if added:
        log.info(f"compare: {name} predates {', '.join(f'{key} (read as {value!r})' for key, value in added.items())}")
    return {**params, **added}


def load_experiment(name: str, rev: str, later: dict) -> Experiment:
    """One experiment's params, train and evaluation metrics and predictions, read at its revision; params its
    commit did not have yet read as `later` (`committed_params()`) has them."""
    import dvc.api

    try:
        params = with_later_params(name, flatten(dvc.api.params_show(rev=name)), later)
        train = json.loads(dvc.api.read(TRAIN_METRICS, rev=name))
        evaluation = json.loads(dvc.api.read(EVAL_METRICS, rev=name))
        split = json.loads(dvc.api.read(SPLIT_SUMMARY, rev=name))
        predictions = pd.read_csv(io.StringIO(dvc.api.read(PREDICTIONS, rev=name)),
                                  dtype={"image_id": str, "patient_id": str, "study_id": str})
    except FileNotFoundError as error:
        raise UserError(f"compare: experiment {name} has no {error.filename or 'outputs'} in the DVC cache; "
                        f"`dvc exp pull <remote> {name}` fetches it, or run it again") from None
    if evaluation.get("task") != "fracture":
        raise UserError(f"compare: experiment {name} was trained for model.task={evaluation.get('task')}; "
                        f"compare scores fracture detection only")
    return Experiment(name, rev, params, train, evaluation, predictions, split["grouping"],
                      split.get("cross_validation"))

