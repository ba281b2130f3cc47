"""Reading params.yaml and checking each value before a stage does any work.

A key that no stage knows (a typo such as `filter.min_szie`) would otherwise
be ignored while the default it meant to change stays in force, so every
stage refuses the file with one line naming the key and the nearest known one.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import yaml

from fracture.core.errors import ParamError, UserError

PARAMS_FILE = Path("params.yaml")
_ = None  # a leaf: a value, not a section
KNOWN_PARAMS = {
    "base": {"seed": _, "workers": _},
    "data": {"source": _, "path": _, "url": _, "checksum": _, "cache_dir": _, "retries": _, "max_unpacked_gb": _,
             "synthetic": {"patients": _, "image_size": _, "abnormal_fraction": _, "valid_fraction": _}},
    "filter": {"regions": _, "min_size": _, "min_std": _},
    "split": {"val_fraction": _, "test_fraction": _, "official_test": _, "shortcut_auc": _, "folds": _, "fold": _},
    "enhance": {"filters": _, "image_size": _, "fit": _, "score_images": _, "montage_images": _,
                "clahe": {"clip_limit": _, "tile_grid": _},
                "bilateral": {"diameter": _, "sigma_color": _, "sigma_space": _},
                "median": {"kernel": _}},
    "model": {"arch": _, "task": _, "pretrained": _, "width": _, "head": _, "map_pooling": _, "map_fusion": _,
              "map_stride": _, "map_box": _},
    "train": {"seed": _, "epochs": _, "batch_size": _, "optimizer": _, "lr": _, "weight_decay": _,
              "class_weights": _, "sampler": _, "label_smoothing": _, "ema": _, "warmup_epochs": _, "grad_clip": _,
              "freeze_epochs": _, "backbone_lr_factor": _, "map_loss_weight": _, "crop": _,
              "calibration": _,
              "early_stopping": {"monitor": _, "patience": _},
              "lr_schedule": {"type": _, "factor": _, "patience": _, "min_lr": _},
              "augment": {"rotation": _, "scale": _, "shear": _, "translate": _, "brightness": _, "hflip": _,
                          "vflip": _},
              "device": _, "memory_format": _, "gpus": _, "threshold": _, "target_sensitivity": _, "tta": _},
    "evaluate": {"bootstrap_resamples": _, "ci_level": _, "calibration_bins": _, "gradcam_examples": _,
                 "subgroups": _, "external": _},
}


def _dotted(known: dict, prefix: str = "") -> list[str]:
    return [name for key, inner in known.items()
            for name in [prefix + key] + (_dotted(inner, f"{prefix}{key}.") if inner else [])]


def check_known_keys(values: dict, known: dict = KNOWN_PARAMS, prefix: str = "", path: Path = PARAMS_FILE) -> None:
    """Refuse a key that no stage reads, naming the nearest known key."""
    for key, value in values.items():
        dotted = f"{prefix}{key}"
        if key not in known:
            siblings = difflib.get_close_matches(str(key), [str(name) for name in known], n=1, cutoff=0.6)
            nearest = (prefix + siblings[0]) if siblings else next(
                iter(difflib.get_close_matches(dotted, _dotted(KNOWN_PARAMS), n=1, cutoff=0.5)), None)
            hint = f"did you mean {nearest}?" if nearest else f"known keys here: {', '.join(known)}"
            raise UserError(f"{path}: {dotted} is not a param any stage knows; {hint} (README.md lists them all)")
        if known[key] is not None:
            if not isinstance(value, dict):
                raise UserError(f"{path}: {dotted} must be a section of keys ({', '.join(known[key])}), "
                                f"not {value!r}; see README.md")
            check_known_keys(value, known[key], dotted + ".", path)


def load_params(path: Path = PARAMS_FILE) -> dict:
    """The whole params file as a dict, every key one that a stage knows."""
    try:
        params = yaml.safe_load(Path(path).read_text())
    except FileNotFoundError:
        raise UserError(f"{path} not found; run the stage from the project root") from None
    except yaml.YAMLError as error:
        raise UserError(f"{path} is not valid YAML: {str(error).splitlines()[0]}") from None
    if not isinstance(params, dict):
        raise UserError(f"{path} must hold a mapping of sections")
    check_known_keys(params, path=path)
    return params


class Section:
    """One params section, e.g. `train`, whose getters validate as they read."""

    def __init__(self, params: dict, name: str):
        values = params.get(name.split(".")[-1]) if isinstance(params, dict) else None
        if not isinstance(values, dict):
            raise UserError(f"params.yaml: section {name!r} is missing; see README.md for its keys")
        self.name, self.values = name, values

    def _raw(self, key: str) -> Any:
        if key not in self.values:
            raise UserError(f"params.yaml: {self.name}.{key} is missing; see README.md for its meaning")
        return self.values[key]

    def fail(self, key: str, expected: str) -> ParamError:
        return ParamError(f"{self.name}.{key}", self.values.get(key), expected)

    def section(self, key: str) -> "Section":
        return Section(self.values, f"{self.name}.{key}")

    def choice(self, key: str, choices: Iterable[str]) -> str:
        choices = list(choices)
        value = self._raw(key)
        if value not in choices:
            raise self.fail(key, f"choose one of: {', '.join(choices)}")
        return value

    def choice_list(self, key: str, choices: Iterable[str], allow_empty: bool = False) -> list[str]:
        choices = list(choices)
        value = self._raw(key)
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or (not value and not allow_empty):
            raise self.fail(key, f"expected a list from: {', '.join(choices)}")
        for item in value:
            if item not in choices:
                raise ParamError(f"{self.name}.{key}", item, f"choose from: {', '.join(choices)}")
        return value

    def integer(self, key: str, minimum: int | None = None, maximum: int | None = None) -> int:
        value = self._raw(key)
        if isinstance(value, bool) or not isinstance(value, int) or not _within(value, minimum, maximum):
            raise self.fail(key, f"expected an integer{_bounds(minimum, maximum)}")
        return value

    def number(self, key: str, minimum: float | None = None, maximum: float | None = None) -> float:
        value = self._raw(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                or not _within(value, minimum, maximum):
            raise self.fail(key, f"expected a number{_bounds(minimum, maximum)} (finite)")
        return float(value)

    def boolean(self, key: str) -> bool:
        value = self._raw(key)
        if not isinstance(value, bool):
            raise self.fail(key, "expected true or false")
        return value

    def text(self, key: str) -> str:
        value = self._raw(key)
        if value is None:
            return ""
        if not isinstance(value, str):
            raise self.fail(key, "expected a string")
        return value


def _within(value, minimum, maximum) -> bool:
    return (minimum is None or value >= minimum) and (maximum is None or value <= maximum)


def _bounds(minimum, maximum) -> str:
    if minimum is not None and maximum is not None:
        return f" from {minimum} to {maximum}"
    if minimum is not None:
        return f" >= {minimum}"
    if maximum is not None:
        return f" <= {maximum}"
    return ""


@dataclass(frozen=True)
class Bound:
    """The values a setting may take, defined once: params.yaml is held to it when a stage starts, and a model file
    from elsewhere (which carries the same settings) when it is loaded."""

    minimum: float
    maximum: float | None = None
    integer: bool = False
    odd: bool = False

    def __str__(self) -> str:
        return ("an odd integer" if self.odd else "an integer" if self.integer else "a finite number") + \
            _bounds(self.minimum, self.maximum)

    def admits(self, value) -> bool:
        """Whether `value`, of any type (as read from a file), is within the bound."""
        if isinstance(value, bool) or not isinstance(value, int if self.integer else (int, float)):
            return False
        if self.integer:
            return _within(value, self.minimum, self.maximum) and not (self.odd and value % 2 == 0)
        try:
            return math.isfinite(value) and _within(value, self.minimum, self.maximum)
        except OverflowError:  # an integer beyond any float
            return False

    def read(self, section: Section, key: str):
        """`key` of a params section, held to the bound."""
        if not self.integer:
            return section.number(key, self.minimum, self.maximum)
        value = section.integer(key, self.minimum, self.maximum)
        if self.odd and value % 2 == 0:
            raise section.fail(key, f"expected {self}")
        return value


def seed(params: dict) -> int:
    """The project-wide seed, `base.seed`."""
    return Section(params, "base").integer("seed", minimum=0)
