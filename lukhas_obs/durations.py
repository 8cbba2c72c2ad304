"""Prometheus duration strings ("1h30m", "5m", "30d") to seconds and back, and instants as
RFC 3339 UTC text."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import lru_cache

# Prometheus' own grammar (prometheus/common model.ParseDuration): each unit at most once, from the
# largest to the smallest, nothing else (no sign, no fraction, no space, no trailing newline).
# Matched with fullmatch, so `$` cannot match before a final newline as it would with re.match.
_GRAMMAR = re.compile(r"(?:([0-9]+)y)?(?:([0-9]+)w)?(?:([0-9]+)d)?(?:([0-9]+)h)?"
                      r"(?:([0-9]+)m)?(?:([0-9]+)s)?(?:([0-9]+)ms)?")
_ORDER = ("y", "w", "d", "h", "m", "s", "ms")
_NS = {"ms": 10**6, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9, "d": 86400 * 10**9,
       "w": 604800 * 10**9, "y": 31536000 * 10**9}
_MAX_NS = 2**63 - 1  # a Go time.Duration: Prometheus refuses anything longer (~292 years)


def parse_duration(text: str) -> float:
    """Seconds in a Prometheus duration. Raises ValueError for anything Prometheus refuses."""
    if not isinstance(text, str) or not text:
        raise ValueError(f"{text!r} is not a duration such as 30s, 5m, 1h or 30d")
    return _seconds(text)


# A spec has a few dozen distinct durations and generation reads them hundreds of thousands of
# times (every window of every SLO): parse each once. Refusals raise, so they are not cached.
@lru_cache(maxsize=4096)
def _seconds(text: str) -> float:
    match = _GRAMMAR.fullmatch(text)
    if match is None:
        raise ValueError(f"{text!r} is not a duration such as 30s, 5m, 1h or 30d "
                         "(units from largest to smallest, each at most once: y w d h m s ms)")
    ns = sum(int(n) * _NS[u] for n, u in zip(match.groups(), _ORDER, strict=True) if n is not None)
    if ns > _MAX_NS:
        raise ValueError(f"{text!r} is out of range (Prometheus durations end at about 292 years)")
    return ns / 10**9


@lru_cache(maxsize=4096)
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
