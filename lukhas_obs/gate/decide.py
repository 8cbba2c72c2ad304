"""Outcomes, their exit codes, and how several checks combine.

The worst wins, in the order FAIL, ERROR, INCONCLUSIVE, PASS: a failure that was measured is
never hidden by a metric that could not be, and nothing is PASS unless every check measured and
passed. A FAIL that rests on a statistical test stands only when it survives Holm's correction
over every test of the same evaluation, so the chance that an evaluation fails a healthy deploy
is the stated level, not that level times the number of checks."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum

from lukhas_obs.gate import stats
from lukhas_obs.gate.coverage import Coverage


class Outcome(StrEnum):
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
    # A check whose FAIL would rest on a statistical test carries its p-value (for every
    # outcome, so that the family counts every test made) and what it says when the family
    # correction does not confirm the failure.
    p_value: float | None = None
    unconfirmed: tuple[Outcome, str] | None = None
    # budget checks: how much of the period the SLI's data covers, for the series the reason names
    coverage: Coverage | None = None


def combine(outcomes) -> Outcome:
    outcomes = list(outcomes)
    if not outcomes:
        return Outcome.INCONCLUSIVE  # nothing was checked: never a pass
    return min(outcomes, key=SEVERITY.index)


def correct_family(checks: list[CheckResult], alpha: float) -> list[CheckResult]:
    """Holm's step-down over the statistical tests of one evaluation. A FAIL whose p-value is
    not rejected by Holm becomes the check's `unconfirmed` outcome."""
    tested = [i for i, c in enumerate(checks) if c.p_value is not None]
    if not tested:
        return checks
    rejected = stats.holm([checks[i].p_value for i in tested], alpha)  # type: ignore[misc]
    out = list(checks)
    m = len(tested)
    for i, keep in zip(tested, rejected, strict=True):
        c = checks[i]
        if c.outcome != Outcome.FAIL:
            continue
        if keep:
            out[i] = replace(c, reason=f"{c.reason} (significant after Holm's correction over {m} tests at {alpha:g})")
        else:
            outcome, reason = c.unconfirmed or (Outcome.INCONCLUSIVE, c.reason)
            out[i] = replace(c, outcome=outcome, reason=f"{reason} (p={c.p_value:.2g} is not significant after "
                                                        f"Holm's correction over {m} tests at {alpha:g})")
    return out
