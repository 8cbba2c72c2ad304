"""How much of an error budget's period the SLI's data covers (`slo-gate --mode budget`).

The budget record is a ratio over the SLO's whole period whether Prometheus holds thirty days of
the SLI or two: "98 % of the budget left over 30d" from two days of data states more than is
known. The gate therefore counts, per series, the instants a step apart in the period at which the
SLO's 5m record (conventions.coverage_record) has a sample: `count_over_time(record[30d:5m])`, one
subquery per SLO, a tenth of the samples the budget record's own rule reads. k instants with data
bridge k - 1 steps, so a history that starts inside the period counts from its first sample; a
period's worth of instants is all of it (Prometheus 2.42 counts both ends of the range); a hole
inside the period is seen up to two steps shorter on Prometheus (an instant finds a sample up to
5 minutes old). Pure: the check sends the query and hands the counts here."""

from __future__ import annotations

import math
from dataclasses import dataclass

from lukhas_obs.gate.client import Sample

LONG_STEP = 300     # 5 minutes between the instants counted: the record is a 5m rate
SHORT_STEP = 60     # for a calendar period that began less than an hour ago


def step_for(period_seconds: float) -> int:
    """Seconds between the instants counted over a period of `period_seconds`."""
    return LONG_STEP if period_seconds >= 3600 else SHORT_STEP


def span(seconds: float) -> str:
    """`30 d`, `2 d 3 h`, `12 h`, `23 h 5 min`, `4 min`: whole minutes, zero parts left out."""
    minutes = int(seconds // 60)
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    parts = [f"{n} {unit}" for n, unit in ((days, "d"), (hours, "h"), (mins, "min")) if n]
    if days:   # to the hour once there are days
        parts = parts[:2] if hours else parts[:1]
    return " ".join(parts) or "0 min"


def percent(ratio: float) -> str:
    """A coverage in whole percent, rounded down (99.9 % is not all of it); some but under 1 % is
    `< 1 %`."""
    if 0 < ratio < 0.01:
        return "< 1 %"
    return f"{math.floor(round(ratio * 100, 9))} %"


@dataclass(frozen=True)
class Coverage:
    covered: float      # seconds of the period with data
    period: float       # seconds the budget is measured over (a calendar period: so far)
    minimum: float      # the share of the period the budget needs (gates.budget.min_coverage)
    under: float = 0.0  # data at one instant only: it covers less than this (a step), not nothing

    @classmethod
    def from_steps(cls, count: float, period: float, step: float, minimum: float) -> Coverage:
        """From the number of instants `step` apart at which the record had a sample."""
        whole = max(int(period // step), 1)
        if not math.isfinite(count) or count <= 0:
            return cls(0.0, period, minimum)
        covered = period if count >= whole else (int(count) - 1) * step
        return cls(float(covered), period, minimum, under=step if covered == 0 else 0.0)

    @property
    def ratio(self) -> float:
        return self.covered / self.period if self.period > 0 else 0.0

    @property
    def enough(self) -> bool:
        return self.ratio >= self.minimum

    @property
    def some(self) -> bool:
        """Any data at all (a sample at one instant covers no span, but it is there)."""
        return self.covered > 0 or self.under > 0

    def text(self) -> str:
        covered = f"less than {span(self.under)}" if self.under else span(self.covered)
        return f"data covers {covered} of {span(self.period)} ({percent(self.ratio)})"


def count_for(labels: dict[str, str], counts: list[Sample]) -> float:
    """The count of the coverage series that belongs to a budget series: every label the two
    share agrees (the rules give both the same labels; a budget measured in the gate from raw
    series may carry none). Several match: the least. None: 0, no data."""
    own = {k: v for k, v in labels.items() if k != "__name__"}
    found = [s.value for s in counts
             if all(own[k] == v for k, v in s.labels.items() if k in own and k != "__name__")
             and math.isfinite(s.value)]
    return min(found, default=0.0)
