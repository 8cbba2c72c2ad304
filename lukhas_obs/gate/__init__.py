"""slo-gate: query -> evaluate -> decide -> report."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from lukhas_obs.gate.checks import Context, next_weight, plan
from lukhas_obs.gate.client import PromClient
from lukhas_obs.gate.decide import CheckResult, Outcome, combine
from lukhas_obs.model import Spec

MODES = ("smoke", "canary", "rollback", "budget")


@dataclass
class GateReport:
    mode: str
    outcome: Outcome
    at: float
    window: str
    url: str
    checks: list[CheckResult] = field(default_factory=list)
    next_weight: int | None = None


def run_gate(spec: Spec, mode: str, client: PromClient, at: float | None = None, window: str | None = None,
             services: list[str] | None = None, canary_weight: int | None = None) -> GateReport:
    at = time.time() if at is None else at
    window = window or spec.gates.window
    services = services or [s.name for s in spec.services]
    client.start()
    ctx = Context(spec=spec, client=client, at=at, window=window, services=services, canary_weight=canary_weight)
    jobs = plan(ctx, mode)
    with ThreadPoolExecutor(max_workers=8) as pool:
        checks = list(pool.map(lambda job: job(), jobs))
    outcome = combine(c.outcome for c in checks)
    weight = next_weight(ctx) if mode == "canary" and outcome == Outcome.PASS else None
    return GateReport(mode, outcome, at, window, client.url, checks, weight)
