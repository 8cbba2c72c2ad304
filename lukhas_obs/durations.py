"""Prometheus duration strings ("1h30m", "5m", "30d") to seconds and back, and instants as
RFC 3339 UTC text."""

from __future__ import annotations

import re
from datetime import UTC, datetime

_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
_PART = re.compile(r"([0-9]+)(ms|s|m|h|d|w|y)")
_WHOLE = re.compile(r"^(?:[0-9]+(?:ms|s|m|h|d|w|y))+$")


def parse_duration(text: str) -> float:
    """Seconds in a Prometheus duration. Raises ValueError for anything else."""
    if not isinstance(text, str) or not _WHOLE.match(text):
        raise ValueError(f"{text!r} is not a duration such as 30s, 5m, 1h or 30d")
    return float(sum(int(n) * _UNITS[u] for n, u in _PART.findall(text)))


def format_duration(seconds: float) -> str:
    """The shortest Prometheus duration for a whole number of seconds (or milliseconds)."""
    if seconds <= 0:
        raise ValueError("a duration must be positive")
    ms = round(seconds * 1000)
    out = ""
    for unit, size in (("d", 86400000), ("h", 3600000), ("m", 60000), ("s", 1000), ("ms", 1)):
        n, ms = divmod(ms, size)
        if n:
            out += f"{n}{unit}"
    return out


def iso(t: float) -> str:
    """An instant as RFC 3339 UTC text, e.g. 2026-01-01T00:00:00Z (unix seconds as text when it
    is outside what a calendar date can hold: a value from a server is not to be trusted)."""
    try:
        return datetime.fromtimestamp(t, tz=UTC).isoformat().replace("+00:00", "Z")
    except (ValueError, OverflowError, OSError):
        return f"unix time {t!r}"
