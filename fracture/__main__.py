"""Command line.

`python -m fracture predict --model models/model.pt --out preds.csv INPUT...` scores radiographs;
`python -m fracture compare [EXPERIMENT...] [--baseline NAME]` compares finished DVC experiments.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from .errors import run_stage
from .storage import atomic_path

log = logging.getLogger("fracture")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m fracture", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    predict = commands.add_parser("predict", help="fracture probabilities for radiographs with a trained model")
    predict.add_argument("inputs", nargs="+", metavar="INPUT", help="image or DICOM files, folders, or a labels.csv")
    predict.add_argument("--model", type=Path, default=Path("models/model.pt"), help="checkpoint from the train stage")
    predict.add_argument("--out", type=Path, required=True, help="CSV to write: path, probability, prediction, "
                                                                 "label, error, detail")
    predict.add_argument("--cam", type=Path, metavar="DIR", help="also save a Grad-CAM overlay per image here")
    predict.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    compare = commands.add_parser("compare", help="paired comparison of finished DVC experiments on one test set")
    compare.add_argument("experiments", nargs="*", metavar="EXPERIMENT",
                         help="experiment names (default: every finished experiment of the current commit)")
    compare.add_argument("--baseline", help="the reference of the paired differences (default: the first)")
    compare.add_argument("--out", type=Path, default=Path("reports/compare"), help="folder for compare.md, "
                                                                                  "compare.html, compare.json")
    return parser


def _predict(arguments: argparse.Namespace) -> None:
    from .errors import UserError
    from .predict import predict
    from .training.config import resolve_device

    if arguments.out.is_dir():
        raise UserError(f"--out {arguments.out} is a folder; give the CSV file to write, e.g. "
                        f"{arguments.out / 'predictions.csv'}")
    if arguments.cam is not None and arguments.cam.exists() and not arguments.cam.is_dir():
        raise UserError(f"--cam {arguments.cam} is a file; give a folder for the Grad-CAM overlays")
    table = predict(arguments.model, arguments.inputs, resolve_device(arguments.device), arguments.cam)
    with atomic_path(arguments.out) as temporary:
        table.to_csv(temporary, index=False, float_format="%.6g")
    failed = int((table["error"] != "").sum())
    log.info(f"predict: {len(table) - failed} images scored, {failed} not scored (reasons in its error column), "
             f"written to {arguments.out}")
    if failed == len(table):
        raise UserError(f"no input could be scored; the reasons are in {arguments.out}")


def _compare(arguments: argparse.Namespace) -> None:
    from .comparison.analysis import compare
    from .comparison.document import write_comparison
    from .comparison.experiments import finished_experiments, load_experiment
    from .errors import UserError

    found = finished_experiments(arguments.experiments)
    if len(found) < 2:
        raise UserError(f"compare: {len(found)} finished experiment(s) found; queue some with "
                        f"`dvc exp run --queue -S ...` and run them with `dvc queue start`")
    log.info(f"compare: reading {len(found)} experiments: {', '.join(name for name, _ in found)}")
    comparison, models = compare([load_experiment(name, rev) for name, rev in found], arguments.baseline)
    write_comparison(comparison, models, arguments.out)
    log.info(f"compare: written to {arguments.out / 'compare.md'}, compare.html and compare.json")


def main(argv: list[str] | None = None) -> None:
    arguments = _parser().parse_args(argv)

    def command() -> None:
        {"predict": _predict, "compare": _compare}[arguments.command](arguments)

    run_stage(command)


if __name__ == "__main__":
    main()
