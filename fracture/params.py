"""Reading params.yaml and checking each value before a stage does any work."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

import yaml

from .errors import ParamError, UserError

PARAMS_FILE = Path("params.yaml")


def load_params(path: Path = PARAMS_FILE) -> dict:
    """The whole params file as a dict."""
    try:
        params = yaml.safe_load(Path(path).read_text())
    except FileNotFoundError:
        raise UserError(f"{path} not found; run the stage from the project root") from None
    except yaml.YAMLError as error:
        raise UserError(f"{path} is not valid YAML: {str(error).splitlines()[0]}") from None
    if not isinstance(params, dict):
        raise UserError(f"{path} must hold a mapping of sections")
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
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not _within(value, minimum, maximum):
            raise self.fail(key, f"expected a number{_bounds(minimum, maximum)}")
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


def seed(params: dict) -> int:
    """The project-wide seed, `base.seed`."""
    return Section(params, "base").integer("seed", minimum=0)
