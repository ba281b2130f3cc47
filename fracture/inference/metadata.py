"""What a model file says about its use, checked field by field before any of it is used.

A checkpoint (`checkpoint.py`) and its ONNX export (`onnx_model.py`, the
same fields JSON-encoded) may come from elsewhere, so one validator holds
both to what this version can use and to bounds: an `image_size` of 1,000,000
would ask numpy for a 931 GiB canvas and an even median kernel ends in a
cv2.error. A setting that params.yaml has too (image size, filter options,
quality rules, network width) is held to the bound params.yaml is held to,
defined once beside it; thresholds are probabilities, classes a short list
of distinct names. No torch here: an ONNX model runs without it.
"""

from __future__ import annotations

import reprlib
from dataclasses import dataclass, fields

from fracture.core.params import Bound
from fracture.imaging.filters import FITS, MAX_FILTERS, OPTION_BOUNDS
from fracture.imaging.preprocessing import IMAGE_SIZE
from fracture.imaging.screening import MIN_SIZE, MIN_STD

TASKS = ("fracture", "region")
TTA_MODES = ("none", "hflip")  # test-time augmentation: the film alone, or the mean with its mirror image
WIDTH = Bound(1, 512, integer=True)  # simple_cnn's first-block channels (model.width)
PROBABILITY = Bound(0.0, 1.0)
TEMPERATURE = Bound(0.01, 100.0)  # calibration's divisor of the log-probabilities; 1 leaves them as trained
CALIBRATION_BIAS = Bound(-50.0, 50.0)  # Platt's shift of the fracture class's log-odds; 0 leaves them
NORMALIZATION = {"mean": Bound(0.0, 1.0), "std": Bound(1e-6, 1.0)}  # of 0..1 pixels; 1e-6 is the least training sets
MAX_CLASSES, MAX_CLASS_NAME = 100, 100  # far more body parts than any source has, and their names' length


@dataclass(frozen=True)
class Thresholds:
    """Decision thresholds chosen on validation and frozen; None where the task or data has none."""

    image: float | None = None
    study: float | None = None
    method: str | None = None
    target_sensitivity: float | None = None


class MetadataMismatch(Exception):
    """A model file's field that this version of the project cannot use."""

    def __init__(self, field_name: str, problem: str):
        super().__init__(f"{field_name} {problem}")


def require(condition: bool, field_name: str, problem: str) -> None:
    if not condition:
        raise MetadataMismatch(field_name, problem)


def shown(value) -> str:
    """A value for a message: short and one line (escaped), however large or deep it is."""
    return reprlib.repr(value)


def _plain(text: str) -> str:
    """A string for a message, as `shown` makes it but without the quotes."""
    return reprlib.repr(text)[1:-1]


def check_fields(values, known: set[str], required: set[str], where: str) -> None:
    """`values` is a mapping of known keys with the required ones among them; `where` ("" at the top) names it."""
    require(isinstance(values, dict), where, "is not a mapping")
    prefix = f"{where}." if where else ""
    unknown = sorted(map(str, set(values) - known))
    require(not unknown, prefix + (_plain(unknown[0]) if unknown else ""), "is unknown to this version")
    missing = sorted(required - set(values))
    require(not missing, prefix + (missing[0] if missing else ""), "is missing")


def _check_bounded(values: dict, bounds: dict[str, Bound], where: str) -> None:
    for key, bound in bounds.items():
        require(bound.admits(values[key]), f"{where}.{key}", f"= {shown(values[key])} is not {bound}")


def _check_preprocessing(values) -> None:
    check_fields(values, {"image_size", "filters", "normalization", "fit"}, {"image_size", "filters", "normalization"},
                 "preprocessing")  # `fit` came later: a checkpoint without it letterboxed
    require(values.get("fit", "letterbox") in FITS, "preprocessing.fit",
            f"= {shown(values.get('fit'))} is not one of {', '.join(FITS)}")
    _check_bounded(values, {"image_size": IMAGE_SIZE}, "preprocessing")
    require(isinstance(values["filters"], list) and len(values["filters"]) <= MAX_FILTERS, "preprocessing.filters",
            f"is not a list of at most {MAX_FILTERS} steps")
    for index, step in enumerate(values["filters"]):
        where = f"preprocessing.filters[{index}]"
        check_fields(step, {"name", "options"}, {"name", "options"}, where)
        name, options = step["name"], step["options"]
        require(isinstance(name, str) and name in OPTION_BOUNDS, f"{where}.name",
                f"{shown(name)} is not a filter of this version (known: {', '.join(OPTION_BOUNDS)})")
        bounds = OPTION_BOUNDS[name]
        require(isinstance(options, dict) and set(options) == set(bounds), f"{where}.options",
                f"{shown(sorted(map(str, options)) if isinstance(options, dict) else options)} do not fit {name}, "
                f"which takes {sorted(bounds)}")
        _check_bounded(options, bounds, f"{where}.options")
    normalization = values["normalization"]
    require(normalization is not None, "preprocessing.normalization", "is missing (the model's input statistics)")
    check_fields(normalization, set(NORMALIZATION), set(NORMALIZATION), "preprocessing.normalization")
    _check_bounded(normalization, NORMALIZATION, "preprocessing.normalization")


def _check_thresholds(thresholds, task: str) -> None:
    check_fields(thresholds, {item.name for item in fields(Thresholds)}, set(), "thresholds")
    for key in ("image", "study", "target_sensitivity"):
        require(thresholds.get(key) is None or PROBABILITY.admits(thresholds[key]), f"thresholds.{key}",
                f"= {shown(thresholds.get(key))} is not a probability ({PROBABILITY})")
    require(thresholds.get("method") is None or isinstance(thresholds["method"], str), "thresholds.method",
            "is not a name")
    if task == "fracture":
        require(thresholds.get("image") is not None, "thresholds.image", "is missing (the frozen threshold)")
    else:
        require(thresholds.get("image") is None, "thresholds.image", f"is set, but the {task} task has none")


def check_use(values: dict) -> None:
    """The fields every use of a model relies on, in a checkpoint and an ONNX export alike: task, classes,
    preprocessing, thresholds, quality rules and test-time augmentation (the caller has checked they are there)."""
    task = values["task"]
    require(task in TASKS, "task", f"{shown(task)} is not one of {', '.join(TASKS)}")
    classes = values["classes"]
    most = 2 if task == "fracture" else MAX_CLASSES
    count = "two" if task == "fracture" else f"2 to {MAX_CLASSES}"
    require(isinstance(classes, list) and 2 <= len(classes) <= most
            and all(isinstance(name, str) and 0 < len(name) <= MAX_CLASS_NAME and name.isprintable()
                    for name in classes)
            and len(set(classes)) == len(classes), "classes",
            f"= {shown(classes)} is not a list of {count} distinct class names (printable, at most {MAX_CLASS_NAME} "
            f"characters)")
    _check_preprocessing(values["preprocessing"])
    _check_thresholds(values["thresholds"], task)
    quality = values.get("quality")
    if quality is not None:
        check_fields(quality, {"min_size", "min_std"}, {"min_size", "min_std"}, "quality")
        _check_bounded(quality, {"min_size": MIN_SIZE, "min_std": MIN_STD}, "quality")
    require(values.get("tta", "none") in TTA_MODES, "tta", f"= {shown(values.get('tta'))} is not one of "
                                                           f"{', '.join(TTA_MODES)}")
    require(TEMPERATURE.admits(values.get("temperature", 1.0)), "temperature",
            f"= {shown(values.get('temperature'))} is not {TEMPERATURE}")
    require(CALIBRATION_BIAS.admits(values.get("calibration_bias", 0.0)), "calibration_bias",
            f"= {shown(values.get('calibration_bias'))} is not {CALIBRATION_BIAS}")


def written_by(versions) -> str:
    """The versions a model file says wrote it, for messages."""
    versions = versions if isinstance(versions, dict) else {}
    project = (f"fracture {_plain(versions['fracture'])}" if isinstance(versions.get("fracture"), str) else
               "a version of fracture before 0.2.0 (the first to record its own)")
    return project + (f" with torch {_plain(versions['torch'])}" if isinstance(versions.get("torch"), str) else "")
