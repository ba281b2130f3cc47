"""Stage export: models/model.onnx, self-describing, with its parity against PyTorch on the test split in
reports/export.json."""

import logging

import torch

from fracture.core.errors import UserError, run_stage
from fracture.core.paths import EXPORT_REPORT, MODEL, ONNX_MODEL, PROCESSED
from fracture.core.storage import write_json
from fracture.data.processed import load_split
from fracture.inference.export import BOX_PARITY_LIMIT, MAP_PARITY_LIMIT, PARITY_LIMIT, export_onnx, parity
from fracture.inference.loaded_model import LoadedModel

log = logging.getLogger("stages.export")


def main() -> None:
    model = LoadedModel.load(MODEL, torch.device("cpu"))
    export_onnx(model, ONNX_MODEL)
    regions = None if model.metadata.task == "fracture" else model.classes
    test = load_split(PROCESSED, "test", regions)
    report = parity(ONNX_MODEL, model, test.images[:, 0].numpy())
    write_json(EXPORT_REPORT, report)
    log.info(f"export: {ONNX_MODEL}; on {report['images']} test images the largest difference from PyTorch is "
             f"{report['max_abs_difference']:.2e}, {report['changed_decisions']} decisions changed")
    if report["max_abs_difference"] > PARITY_LIMIT:
        raise UserError(f"export: ONNX Runtime's probabilities differ from PyTorch's by up to "
                        f"{report['max_abs_difference']:.2e}, over the limit {PARITY_LIMIT:g} ({EXPORT_REPORT}); "
                        f"the exported graph does not compute this model: report it with the architecture's name")
    if report.get("map_max_abs_difference", 0.0) > MAP_PARITY_LIMIT:
        raise UserError(f"export: ONNX Runtime's fracture map differs from PyTorch's by up to "
                        f"{report['map_max_abs_difference']:.2e} in logit, over the limit {MAP_PARITY_LIMIT:g} "
                        f"({EXPORT_REPORT}); report it with the architecture's name")
    if report.get("box_max_abs_difference", 0.0) > BOX_PARITY_LIMIT:
        raise UserError(f"export: ONNX Runtime's regressed boxes differ from PyTorch's by up to "
                        f"{report['box_max_abs_difference']:.2e} pixels, over the limit {BOX_PARITY_LIMIT:g} "
                        f"({EXPORT_REPORT}); report it with the architecture's name")


if __name__ == "__main__":
    run_stage(main)
