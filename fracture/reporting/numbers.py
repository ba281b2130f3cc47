"""How the reports write a number, and a number with its interval."""

from __future__ import annotations


def fmt(value, digits: int = 3) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def fmt_ci(value, low=None, high=None) -> str:
    """A value with its 95% interval, or the value alone where it has none."""
    if value is None or low is None:
        return fmt(value)
    return f"{value:.3f} [{low:.3f}, {high:.3f}]"


def with_ci(scores: dict, key: str) -> str:
    """Metric `key` of an evaluate result with its interval from the result's `ci`; (W) marks Wilson's."""
    interval = scores.get("ci", {}).get(key) or {}
    return fmt_ci(scores.get(key), interval.get("low"), interval.get("high")) + wilson_mark(interval)


def wilson_mark(interval: dict | None) -> str:
    """' (W)' after an interval that is Wilson's (a proportion of 0 or 1, or on fewer than ten images)."""
    return " (W)" if (interval or {}).get("method") == "wilson" else ""
