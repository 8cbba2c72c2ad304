"""Outcomes, their exit codes, and how several checks combine.

The worst wins, in the order FAIL, ERROR, INCONCLUSIVE, PASS: a failure that was measured is
never hidden by a metric that could not be, and nothing is PASS unless every check measured and
passed."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class Outcome(str, Enum):
    PASS = "PASS"
    FAIL = "FAIL"
    INCONCLUSIVE = "INCONCLUSIVE"
    ERROR = "ERROR"

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self]


EXIT_CODES = {Outcome.PASS: 0, Outcome.FAIL: 1, Outcome.INCONCLUSIVE: 3, Outcome.ERROR: 4}
SEVERITY = [Outcome.FAIL, Outcome.ERROR, Outcome.INCONCLUSIVE, Outcome.PASS]


@dataclass
class Evidence:
    labels: dict[str, str]
    value: float | None
    note: str = ""


@dataclass
class CheckResult:
    name: str
    service: str | None
    outcome: Outcome
    reason: str
    query: str = ""
    threshold: str = ""
    evidence: list[Evidence] = field(default_factory=list)
    attempts: int = 0


def combine(outcomes) -> Outcome:
    outcomes = list(outcomes)
    if not outcomes:
        return Outcome.INCONCLUSIVE  # nothing was checked: never a pass
    return min(outcomes, key=SEVERITY.index)
