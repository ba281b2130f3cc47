"""Command line: `python -m fracture predict --model models/model.pt --out preds.csv INPUT...`."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from .errors import run_stage
from .storage import atomic_path


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m fracture", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    predict = commands.add_parser("predict", help="fracture probabilities for radiographs with a trained model")
    predict.add_argument("inputs", nargs="+", metavar="INPUT", help="image or DICOM files, folders, or a labels.csv")
    predict.add_argument("--model", type=Path, default=Path("models/model.pt"), help="checkpoint from the train stage")
    predict.add_argument("--out", type=Path, required=True, help="CSV to write: path, probability, prediction, "
                                                                 "label, error")
    predict.add_argument("--cam", type=Path, metavar="DIR", help="also save a Grad-CAM overlay per image here")
    predict.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    return parser


def main(argv: list[str] | None = None) -> None:
    arguments = _parser().parse_args(argv)

    def command() -> None:
        from .predict import predict
        from .training.config import resolve_device

        table = predict(arguments.model, arguments.inputs, resolve_device(arguments.device), arguments.cam)
        with atomic_path(arguments.out) as temporary:
            table.to_csv(temporary, index=False, float_format="%.6g")
        failed = int((table["error"] != "").sum())
        logging.getLogger("fracture").info(
            f"predict: {len(table) - failed} images scored, {failed} unreadable, written to {arguments.out}")

    run_stage(command)


if __name__ == "__main__":
    main()
