"""Calendar-aligned SLO periods: where the current week, month or quarter starts in an IANA time
zone (exactly, with zoneinfo: the gate), and the same question asked in PromQL (the rules).

PromQL's calendar functions (`month()`, `day_of_week()`, ...) read UTC only. The rules therefore
shift an instant into the zone's wall-clock time with the zone's UTC offsets written into the
expression: the offset in force on 1 January of the first year of OFFSET_YEARS, plus one step per
offset change (daylight saving time) up to the end of the last year. Outside those years the
rules use the offset before the first change or after the last one (standard time for most
zones): a period that starts in summer time would then start an hour early or late. The table is
data from this machine's zone database when `make generate` runs; OFFSET_YEARS moves forward
with a release."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, available_timezones

from lukhas_obs.model import Calendar

OFFSET_YEARS = (2025, 2035)     # the rules know every UTC offset change in these years (inclusive)

# How far back a rule reads to hold a whole period (the longest, plus a daylight saving hour).
LOOKBACK = {"week": "8d", "month": "32d", "quarter": "93d"}


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


# In the zone database but not a place: the machine's own zone (whatever runs `generate`, or the
# gate, would decide the period), a placeholder, and the database's own variants.
_NOT_PLACES = ("localtime", "Factory", "posixrules")


def known_zone(name) -> bool:
    return (isinstance(name, str) and name in _zones() and name not in _NOT_PLACES
            and not name.startswith(("posix/", "right/")))


def openslo_zone(name: str) -> str | None:
    """The zone as OpenSLO writes one (Area/Location): UTC is Etc/UTC; None when it has no such name."""
    if "/" in name:
        return name
    alias = f"Etc/{name}"
    return alias if known_zone(alias) else None


def _offset(zone: ZoneInfo, t: float) -> int:
    off = datetime.fromtimestamp(t, zone).utcoffset()
    assert off is not None, "a ZoneInfo always has an offset"
    return int(off.total_seconds())


@lru_cache(maxsize=64)
def offsets(timezone: str, years: tuple[int, int] = OFFSET_YEARS) -> tuple[int, tuple[tuple[int, int], ...]]:
    """(the offset on 1 January of the first year, ((instant, offset from then on), ...)): every
    change of the zone's UTC offset in `years`, found day by day and pinned to the second."""
    zone = ZoneInfo(timezone)
    start = int(datetime(years[0], 1, 1, tzinfo=UTC).timestamp())
    end = int(datetime(years[1] + 1, 1, 1, tzinfo=UTC).timestamp())
    base = _offset(zone, start)
    changes = []
    current = base
    for day in range(start, end, 86400):
        nxt = _offset(zone, day + 86400)
        if nxt != current:
            lo, hi = day, day + 86400     # offset at lo is `current`, at hi `nxt`
            while hi - lo > 1:
                mid = (lo + hi) // 2
                lo, hi = (mid, hi) if _offset(zone, mid) == current else (lo, mid)
            changes.append((hi, nxt))
            current = nxt
    return base, tuple(changes)


# ---- exact, in Python (the gate) -------------------------------------------------------------

def _local_start(cal: Calendar, local: datetime) -> datetime:
    day = local.replace(hour=0, minute=0, second=0, microsecond=0, fold=0)
    if cal.unit == "week":
        return day - timedelta(days=day.weekday())
    if cal.unit == "month":
        return day.replace(day=1)
    return day.replace(month=3 * ((day.month - 1) // 3) + 1, day=1)


def period_start(cal: Calendar, at: float) -> float:
    """The instant (unix seconds) the period holding `at` started: Monday, the 1st or the
    quarter's first day at 00:00 in the zone (where a clock change skips midnight, the first
    instant of that day)."""
    zone = ZoneInfo(cal.timezone)
    start = _local_start(cal, datetime.fromtimestamp(at, zone))
    # wall-clock arithmetic: rebuild the naive local time in the zone, so the offset is that day's
    return datetime(start.year, start.month, start.day, tzinfo=zone).timestamp()


def period_name(cal: Calendar, at: float) -> str:
    """`November 2026`, `week 48 of 2026` or `Q4 2026`, in the zone."""
    local = datetime.fromtimestamp(at, ZoneInfo(cal.timezone))
    if cal.unit == "month":
        return local.strftime("%B %Y")
    if cal.unit == "quarter":
        return f"Q{(local.month - 1) // 3 + 1} {local.year}"
    year, week, _ = local.isocalendar()
    return f"week {week} of {year}"


def elapsed_text(seconds: float) -> str:
    """`29 d 5 h`, `5 h 12 min`, `4 min`."""
    minutes = int(seconds // 60)
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    return f"{hours} h {mins} min" if hours else f"{mins} min"


# ---- in PromQL (the rules) -------------------------------------------------------------------

def _local(x: str, timezone: str, add: int = 0) -> str:
    """The instant `x` (an instant vector of unix seconds) as the zone's wall-clock time read as
    UTC, plus `add`."""
    base, changes = offsets(timezone)
    constant = base + add
    out = f"{x} {'+' if constant >= 0 else '-'} {abs(constant)}" if constant else x
    previous = base
    for instant, offset in changes:
        step = offset - previous
        out += f" {'+' if step > 0 else '-'} ({x} >= bool {instant}) * {abs(step)}"
        previous = offset
    return f"({out})"


def phase(cal: Calendar) -> str:
    """A number for the period of the evaluation instant that the two periods before it do not
    share (see below): weeks since a Monday modulo 3, the month of the year modulo 3 (12 is a
    multiple of 3), the quarter of the year (0-3)."""
    x = "vector(time())"
    if cal.unit == "week":     # 1970-01-01 was a Thursday: 3 days after a Monday
        return f"floor({_local(x, cal.timezone, 3 * 86400)} / 604800) % 3"
    if cal.unit == "month":
        return f"month({_local(x, cal.timezone)}) % 3"
    return f"floor((month({_local(x, cal.timezone)}) - 1) / 3)"


# The fast group records the phase of each evaluation (see phase()), and a copy of each 5m record
# with a `phase` label holding it. The last period with the same phase is further back than
# LOOKBACK reaches (3 weeks, 3 months, 4 quarters): over LOOKBACK, the copies with the evaluation
# instant's phase are the current period's, and plain sum_over_time adds them up, with no
# subquery (a subquery steps through all of LOOKBACK, data or not: 9,216 steps for a month).
def phase_label(value: str) -> str:
    """A one-series vector {phase="<value>"} (count_values turns a value into a label)."""
    return f'count_values("phase", {value})'


def tag(sel: str, phase_sel: str) -> str:
    """`sel` with the `phase` label of `phase_sel` (its value is multiplied by 1)."""
    return f"{sel}\n* on () group_left (phase)\n{phase_label(phase_sel)}"


def current(cal: Calendar, per_phase: str) -> str:
    """Of `per_phase` (series with a `phase` label), those of the evaluation instant's phase,
    without the label."""
    return f"max without (phase) (\n{per_phase}\nand on (phase)\n{phase_label(phase(cal))}\n)"
