"""A model exported to ONNX, run by ONNX Runtime: no PyTorch needed.

The export stage writes `models/model.onnx` self-describing: its metadata
holds the classes, the thresholds frozen on validation, the `Preprocessing`
(square size, fit, filter chain, normalisation), the quality rules, the
architecture, the test-time augmentation, the versions and the data it was
trained on. The graph takes grey levels (0..255, float32, N x 1 x size x
size) after the preprocessing's resize and filters, and does the rest itself
(scaling, normalisation, the mirror image for `hflip`, the calibration's
temperature), returning class probabilities and, for a fracture map model, a
second output: the map's logits at the input's size.

A file from elsewhere is held to what the checkpoint is held to
(`metadata.check_use`): each `fracture.*` value must be JSON, the required
ones there, every field within its bounds, and the graph's input and output
must be the size and the classes its metadata says; anything else is one
line naming the file and the field.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fracture.core.errors import UserError
from fracture.imaging.preprocessing import Preprocessing
from fracture.imaging.screening import QualityRules
from fracture.inference.metadata import MetadataMismatch, check_fields, check_use, require, shown, written_by

PREFIX = "fracture."
FORMAT = "1"
INPUT, OUTPUT, MAP_OUTPUT, BOX_OUTPUT = "image", "probabilities", "fracture_map", "fracture_box_corners"
BATCH = 64
REQUIRED = {"task", "classes", "thresholds", "preprocessing"}
KNOWN = REQUIRED | {"arch", "quality", "tta", "versions", "config", "trained_on", "input", "head",
                    "temperature", "calibration_bias"}  # what export writes


def describe(values: dict) -> dict[str, str]:
    """ONNX metadata (string to string) of a checkpoint's metadata as a dict."""
    return {PREFIX + key: json.dumps(value, sort_keys=True) for key, value in values.items()} | {
        PREFIX + "format": FORMAT}


def _described(found: dict[str, str]) -> tuple[dict, dict[str, str]]:
    """The checkpoint metadata that `describe` wrote, decoded, and the values that are not JSON by field."""
    values, undecodable = {}, {}
    for key, text in found.items():
        if key.startswith(PREFIX) and key != PREFIX + "format":
            try:
                values[key[len(PREFIX):]] = json.loads(text)
            except (ValueError, RecursionError):  # not JSON, too deep, or an integer of too many digits
                undecodable[key[len(PREFIX):]] = text
    return values, undecodable


def _check_graph(session, values: dict) -> None:
    """The graph takes the square the metadata's preprocessing makes and gives one probability per class."""
    size, classes = values["preprocessing"]["image_size"], values["classes"]
    inputs = {item.name: list(item.shape) for item in session.get_inputs()}
    outputs = {item.name: list(item.shape) for item in session.get_outputs()}
    require(inputs.get(INPUT, [])[1:] == [1, size, size], "preprocessing.image_size",
            f"= {size} does not fit the graph's input {shown(inputs)} ({INPUT}: N x 1 x {size} x {size})")
    require(outputs.get(OUTPUT, [])[1:] == [len(classes)], "classes",
            f"= {shown(classes)} does not fit the graph's output {shown(outputs)} ({OUTPUT}: N x {len(classes)})")
    head = values.get("head") or {}
    has_map, regresses = head.get("kind") == "map", head.get("box") == "regressed"

    def fits(name: str, shape: list) -> bool:  # ONNX may leave the sides unnamed
        found = outputs.get(name)
        return found is not None and len(found) == len(shape) + 1 and all(
            not isinstance(side, int) or side == expected for side, expected in zip(found[1:], shape))

    require(fits(MAP_OUTPUT, [size, size]) == has_map and fits(BOX_OUTPUT, [4, size, size]) == regresses, "head",
            f"= {shown(values.get('head'))} does not fit the graph's outputs {shown(outputs)} (a map model has "
            f"{MAP_OUTPUT}: N x {size} x {size}, one that regresses its boxes also {BOX_OUTPUT}: N x 4 x {size} x "
            f"{size}, another neither)")


@dataclass(frozen=True)
class OnnxModel:
    session: object  # onnxruntime.InferenceSession
    classes: list[str]
    thresholds: dict
    preprocessing: Preprocessing
    quality: QualityRules | None
    tta: str
    has_map: bool = False
    regresses: bool = False  # its map's cells regress their boxes

    @property
    def threshold(self) -> float | None:
        return self.thresholds.get("image")

    @classmethod
    def load(cls, path: Path) -> "OnnxModel":
        try:
            import onnxruntime
        except ImportError:
            raise UserError("ONNX Runtime is not installed; pip install -r requirements.txt") from None
        if not path.is_file():
            raise UserError(f"{path} not found; the export stage writes models/model.onnx (dvc repro)")
        try:
            session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        except Exception as error:  # ONNX Runtime raises its own exception types for every kind of bad file
            raise UserError(f"{path} is not an ONNX model that ONNX Runtime can load ({type(error).__name__}); "
                            f"export it again (dvc repro)") from None
        found = session.get_modelmeta().custom_metadata_map
        if found.get(PREFIX + "format") != FORMAT:
            raise UserError(f"{path} is not an ONNX model exported by this project (no {PREFIX}format {FORMAT} in "
                            f"its metadata); export it with the export stage (dvc repro)")
        values, undecodable = _described(found)
        try:
            if undecodable:
                name, text = next(iter(undecodable.items()))
                raise MetadataMismatch(name, f"= {shown(text)} is not JSON")
            check_fields(values, KNOWN, REQUIRED, "")
            check_use(values)
            _check_graph(session, values)
        except MetadataMismatch as error:
            raise UserError(f"{path}: {PREFIX}{error}; it was written by {written_by(values.get('versions'))}: "
                            f"export it again from its checkpoint (dvc repro)") from None
        quality, head = values.get("quality"), values.get("head") or {}
        return cls(session, values["classes"], values["thresholds"], Preprocessing.from_dict(values["preprocessing"]),
                   QualityRules(**quality) if quality else None, values.get("tta", "none"),
                   head.get("kind") == "map", head.get("box") == "regressed")

    def scores(self, images: np.ndarray) -> np.ndarray:
        """Class probabilities (N x classes) of uint8 images (N x size x size) prepared by `preprocessing`."""
        outputs = [self.session.run([OUTPUT], {INPUT: images[start:start + BATCH, None].astype(np.float32)})[0]
                   for start in range(0, len(images), BATCH)]
        return np.concatenate(outputs)

    def maps(self, images: np.ndarray) -> np.ndarray:
        """A fracture map model's map (N x C x size x size: logits, then any regressed box corners) of uint8
        images, as `LoadedModel.maps` gives it."""
        if not self.has_map:
            raise UserError("this ONNX model has no fracture map (it was trained with model.head: global)")
        names = [MAP_OUTPUT, BOX_OUTPUT] if self.regresses else [MAP_OUTPUT]
        outputs = []
        for start in range(0, len(images), BATCH):
            found = self.session.run(names, {INPUT: images[start:start + BATCH, None].astype(np.float32)})
            outputs.append(np.concatenate([found[0][:, None], *found[1:]], axis=1))
        return np.concatenate(outputs)
