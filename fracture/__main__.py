"""Command line.

`python -m fracture predict --model models/model.pt --out preds.csv INPUT...` scores radiographs;
`python -m fracture validate --model models/model.pt DATA [--source S]` measures a model on an outside labelled set;
`python -m fracture compare [EXPERIMENT...] [--revs REV...] [--baseline NAME]` compares finished DVC experiments
(or git revisions).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
from pathlib import Path

from fracture.core.errors import run_stage
from fracture.core.storage import write_csv

log = logging.getLogger("fracture")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m fracture", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    predict = commands.add_parser("predict", help="fracture probabilities for radiographs with a trained model")
    predict.add_argument("inputs", nargs="+", metavar="INPUT", help="image or DICOM files, folders, or a labels.csv")
    predict.add_argument("--model", type=Path, default=Path("models/model.pt"),
                         help="checkpoint from the train stage (.pt), or its ONNX export (.onnx: no PyTorch needed)")
    predict.add_argument("--out", type=Path, required=True, help="CSV to write: path, probability, prediction, "
                                                                 "label, boxes, error, detail")
    predict.add_argument("--cam", type=Path, metavar="DIR", help="also save a Grad-CAM overlay per image here")
    predict.add_argument("--boxes", type=Path, metavar="FILE", help="a fracture map model's boxes as COCO JSON")
    predict.add_argument("--draw", type=Path, metavar="DIR", help="each film with a fracture map model's boxes")
    predict.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    validate = commands.add_parser("validate", help="measure a trained model on an outside labelled set, as the "
                                                    "evaluate stage measures the test split")
    validate.add_argument("data", type=Path, metavar="DATA", help="the set: a folder, zip or file its source reads")
    validate.add_argument("--model", type=Path, default=Path("models/model.pt"), help="checkpoint from the train stage")
    validate.add_argument("--source", default="folder", help="how to read DATA, as data.source: folder (default), "
                                                             "mura, fracatlas or grazpedwri")
    validate.add_argument("--regions", nargs="+", default=["all"], help="regions to keep (default: all)")
    validate.add_argument("--name", help="the set's name (default: DATA's file or folder name)")
    validate.add_argument("--out", type=Path, help="folder to write (default: reports/external/NAME)")
    validate.add_argument("--params", type=Path, default=Path("params.yaml"),
                          help="params whose evaluate section (intervals, subgroups) and split.shortcut_auc apply")
    validate.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    compare = commands.add_parser("compare", help="paired comparison of finished DVC experiments on one test set")
    compare.add_argument("experiments", nargs="*", metavar="EXPERIMENT",
                         help="experiment names (default: every finished experiment of the current commit)")
    compare.add_argument("--revs", nargs="+", metavar="REV", help="compare git revisions (branches, commits) "
                         "instead of experiments; their outputs must be in the DVC cache (dvc pull, or reproduced)")
    compare.add_argument("--baseline", help="the reference of the paired differences (default: the first)")
    compare.add_argument("--out", type=Path, default=Path("reports/compare"), help="folder for compare.md, "
                                                                                  "compare.html, compare.json")
    return parser


def _predict(arguments: argparse.Namespace) -> None:
    from fracture.commands.predict import OUTPUT_COLUMNS, Found, coco_boxes, open_model, predict, refuse_foreign_boxes
    from fracture.core.errors import UserError
    from fracture.core.storage import command_folder, refuse_overwrite, write_json

    if arguments.out.is_dir():
        raise UserError(f"--out {arguments.out} is a folder; give the CSV file to write, e.g. "
                        f"{arguments.out / 'predictions.csv'}")
    for option, folder in (("--cam", arguments.cam), ("--draw", arguments.draw)):
        if folder is not None and folder.exists() and not folder.is_dir():
            raise UserError(f"{option} {folder} is a file; give a folder for the images")
    refuse_overwrite(arguments.out, OUTPUT_COLUMNS, "predict --out")
    if arguments.boxes is not None:
        refuse_foreign_boxes(arguments.boxes)
    model = open_model(arguments.model, arguments.device)
    found = Found() if arguments.boxes is not None else None
    with contextlib.ExitStack() as stack:
        cam, draw = (None if folder is None else stack.enter_context(command_folder(folder, f"predict {option}"))
                     for option, folder in (("--cam", arguments.cam), ("--draw", arguments.draw)))
        table = predict(model, arguments.inputs, cam, draw, found)
    if found is not None:
        write_json(arguments.boxes, coco_boxes(table, found))
    write_csv(table, arguments.out)
    failed = int((table["error"] != "").sum())
    log.info(f"predict: {len(table) - failed} images scored, {failed} not scored (reasons in its error column), "
             f"written to {arguments.out}")
    if failed == len(table):
        raise UserError(f"no input could be scored; the reasons are in {arguments.out}")


def _validate(arguments: argparse.Namespace) -> None:
    from fracture.core.errors import UserError
    from fracture.core.params import load_params
    from fracture.core.paths import EXTERNAL_DIR
    from fracture.evaluation.outside_sets import EXTERNAL_SOURCES, ExternalSet, Settings, checked_name, validate
    from fracture.inference.device import resolve_device
    from fracture.inference.loaded_model import LoadedModel

    if not arguments.data.exists():
        raise UserError(f"{arguments.data} not found; give the set's folder, zip or file")
    if arguments.source not in EXTERNAL_SOURCES:
        raise UserError(f"--source {arguments.source} is not a source of outside sets; choose from: "
                        f"{', '.join(EXTERNAL_SOURCES)}")
    name = checked_name(arguments.name or arguments.data.resolve().name, "--name")
    settings = Settings.of(load_params(arguments.params))
    model = LoadedModel.load(arguments.model, resolve_device(arguments.device, setting="--device"))
    spec = ExternalSet(name, arguments.source, str(arguments.data), tuple(r.lower() for r in arguments.regions))
    out = arguments.out or EXTERNAL_DIR / name
    validate(model, spec, out, settings)
    log.info(f"validate: written to {out / 'metrics.json'}, predictions.csv, rejected.csv and plots/")


def _compare(arguments: argparse.Namespace) -> None:
    from fracture.comparison.analysis import compare
    from fracture.comparison.document import write_comparison
    from fracture.comparison.experiments import committed_params, finished_experiments, load_experiment
    from fracture.core.errors import UserError
    from fracture.core.storage import refuse_foreign

    refuse_foreign(arguments.out, "compare")  # before the experiments are read, not after
    found = [(rev, rev) for rev in arguments.revs] if arguments.revs else finished_experiments(arguments.experiments)
    if len(found) < 2:
        raise UserError(f"compare: {len(found)} finished experiment(s) found; queue some with "
                        f"`dvc exp run --queue -S ...` and run them with `dvc queue start`")
    log.info(f"compare: reading {len(found)} experiments: {', '.join(name for name, _ in found)}")
    later = committed_params()
    comparison, models = compare([load_experiment(name, rev, later) for name, rev in found], arguments.baseline)
    write_comparison(comparison, models, arguments.out)
    log.info(f"compare: written to {arguments.out / 'compare.md'}, compare.html and compare.json")


def main(argv: list[str] | None = None) -> None:
    arguments = _parser().parse_args(argv)

    def command() -> None:
        {"predict": _predict, "validate": _validate, "compare": _compare}[arguments.command](arguments)

    run_stage(command)


if __name__ == "__main__":
    main()
