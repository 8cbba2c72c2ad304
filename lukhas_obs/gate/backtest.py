"""Replay the gate over history: one full evaluation per step, and when it would have failed."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from lukhas_obs.durations import iso
from lukhas_obs.gate import GateReport, run_gate
from lukhas_obs.gate.client import PromClient
from lukhas_obs.gate.decide import Outcome, combine
from lukhas_obs.model import Spec


@dataclass
class Backtest:
    mode: str
    start: float
    end: float
    step: float
    points: list[GateReport] = field(default_factory=list)

    @property
    def outcome(self) -> Outcome:
        return combine(p.outcome for p in self.points)

    @property
    def first_failure(self) -> GateReport | None:
        return next((p for p in self.points if p.outcome == Outcome.FAIL), None)


def run_backtest(spec: Spec, mode: str, client: PromClient, start: float, end: float, step: float,
                 window: str | None = None, services: list[str] | None = None) -> Backtest:
    result = Backtest(mode, start, end, step)
    t = start
    while t <= end:
        result.points.append(run_gate(spec, mode, client, at=t, window=window, services=services))
        t += step
    return result


def _why(report: GateReport) -> str:
    bad = [c for c in report.checks if c.outcome == report.outcome and c.outcome != Outcome.PASS]
    return "; ".join(f"{c.name}{f' ({c.service})' if c.service else ''}: {c.reason}" for c in bad[:3])


def to_text(result: Backtest) -> str:
    counts = {o: sum(p.outcome == o for p in result.points) for o in Outcome}
    first = result.first_failure
    head = (f"slo-gate backtest {result.mode} from {iso(result.start)} to {iso(result.end)} every "
            f"{result.step:g}s: {len(result.points)} evaluations, "
            + ", ".join(f"{n} {o.value}" for o, n in counts.items() if n))
    unmeasured = counts[Outcome.ERROR] + counts[Outcome.INCONCLUSIVE]
    if first:
        head += f"\nwould have failed first at {iso(first.at)}"
    elif unmeasured:
        head += (f"\nwould not have failed where it could measure; {unmeasured} of {len(result.points)} evaluations "
                 "could not tell (ERROR or INCONCLUSIVE)")
    else:
        head += "\nwould never have failed"
    lines = [head, "", f"{'TIME':<24}  {'OUTCOME':<12}  WHY"]
    for p in result.points:
        lines.append(f"{iso(p.at):<24}  {p.outcome.value:<12}  {_why(p)}")
    return "\n".join(lines)


def to_json(result: Backtest) -> str:
    first = result.first_failure
    doc = {
        "version": 1, "mode": result.mode, "outcome": result.outcome.value, "exit_code": result.outcome.exit_code,
        "from": iso(result.start), "to": iso(result.end), "step_seconds": result.step,
        "points": [{"at": iso(p.at), "outcome": p.outcome.value,
                    "failing": [{"check": c.name, "service": c.service, "reason": c.reason}
                                for c in p.checks if c.outcome != Outcome.PASS]} for p in result.points],
    }
    if first:  # absent rather than null when the gate would never have failed
        doc["first_failure"] = iso(first.at)
    return json.dumps(doc, indent=2)
