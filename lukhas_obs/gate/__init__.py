"""slo-gate: query -> evaluate -> decide -> report."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from lukhas_obs.gate.checks import Context, next_weight, plan
from lukhas_obs.gate.client import PromClient
from lukhas_obs.gate.decide import CheckResult, Outcome, combine, correct_family
from lukhas_obs.model import Spec

MODES = ("smoke", "canary", "rollback", "budget")
MAX_CHECKS_AT_ONCE = 64     # checks only wait for queries; each distinct query is sent once
MAX_QUERIES_AT_ONCE = 16    # requests in flight to the metrics provider


@dataclass
class GateReport:
    mode: str
    outcome: Outcome
    at: float
    window: str
    url: str
    checks: list[CheckResult] = field(default_factory=list)
    next_weight: int | None = None
    since: float | None = None


def run_gate(spec: Spec, mode: str, client: PromClient, at: float | None = None, window: str | None = None,
             services: list[str] | None = None, canary_weight: int | None = None,
             since: float | None = None) -> GateReport:
    at = time.time() if at is None else at
    window = window or spec.gates.window
    services = services or [s.name for s in spec.services]
    client.start()
    with ThreadPoolExecutor(max_workers=MAX_QUERIES_AT_ONCE) as queries:
        ctx = Context(spec=spec, client=client, at=at, window=window, services=services, canary_weight=canary_weight,
                      since=since, pool=queries)
        jobs = plan(ctx, mode)
        with ThreadPoolExecutor(max_workers=max(1, min(len(jobs), MAX_CHECKS_AT_ONCE))) as pool:
            checks = list(pool.map(lambda job: job(), jobs))
    checks = correct_family(checks, ctx.alpha)
    outcome = combine(c.outcome for c in checks)
    weight = next_weight(ctx) if mode == "canary" and outcome == Outcome.PASS else None
    return GateReport(mode, outcome, at, window, client.url, checks, weight, since)
