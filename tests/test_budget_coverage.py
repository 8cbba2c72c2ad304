"""`slo-gate --mode budget` and how much of each SLO's period the SLI's data covers (audit 20):
a real Prometheus holding the LUKHAS SLOs' budget records and their 5m total records over known
stretches of time (backfilled with promtool), and the same history on VictoriaMetrics."""

from __future__ import annotations

import json

import pytest

from lukhas_obs import conventions as conv
from lukhas_obs.gate import run_gate
from lukhas_obs.gate.client import PromClient
from lukhas_obs.gate.decide import Outcome
from lukhas_obs.spec import load_spec

from conftest import SPEC, invoke_cli
from promserver import VictoriaMetrics, backfilled

pytestmark = pytest.mark.integration

AT = 1_767_225_600          # 2026-01-01T00:00:00Z, a multiple of 5 minutes
DAY = 86_400
STEP = 60                   # one record a minute (the rules run every 30 s; the count needs none)

# service, SLO: (budget left, stretches of history (days before AT: from, to), outcome, reason)
HISTORY = {
    # 3 days of a 30-day period, with most of the budget left: not a pass...
    ("lukhas-memory", "availability"): (0.98, [(3, 0)], Outcome.INCONCLUSIVE,
        "data covers 3 d of 30 d (10 %), under the 90 % needed to judge the budget: 98 % of the budget left over "
        "that data, not a verdict"),
    # ...nor, with almost none left, a failure
    ("lukhas-governance", "availability"): (0.05, [(3, 0)], Outcome.INCONCLUSIVE,
        "data covers 3 d of 30 d (10 %), under the 90 % needed to judge the budget: 5 % of the budget left over "
        "that data, not a verdict"),
    # the whole period (and more) has data: judged as before, the coverage said
    ("lukhas-consciousness", "availability"): (0.8, [(31, 0)], Outcome.PASS,
        "80 % of the budget left; data covers 30 d of 30 d (100 %)"),
    # a threshold SLI's record is its per-evaluation count (slo:sli_total:count)
    ("lukhas-consciousness", "tick-rate"): (0.1, [(31, 0)], Outcome.FAIL,
        "10 % of the budget left; data covers 30 d of 30 d (100 %)"),
    # a 2-day hole: 28 days (one 5m step of lookback into the hole), above 90 %
    ("lukhas-identity", "availability"): (0.7, [(31, 20), (18, 0)], Outcome.PASS,
        "70 % of the budget left; data covers 28 d of 30 d (93 %)"),
    # 26 days: just under the minimum
    ("lukhas-identity", "auth-latency"): (0.9, [(26, 0)], Outcome.INCONCLUSIVE,
        "data covers 26 d of 30 d (86 %), under the 90 % needed to judge the budget: 90 % of the budget left over "
        "that data, not a verdict"),
    # exactly the minimum (27 of 30 days) is enough
    ("lukhas-core", "availability"): (0.6, [(27, 0)], Outcome.PASS,
        "60 % of the budget left; data covers 27 d of 30 d (90 %)"),
    # a budget record without any SLI record under it (rules half loaded, relabelled away)
    ("lukhas-core", "latency"): (0.8, [], Outcome.INCONCLUSIVE,
        "data covers 0 min of 30 d (0 %), under the 90 % needed to judge the budget: 80 % of the budget left by the "
        "budget record, with no SLI data under it, not a verdict"),
}


def openmetrics() -> str:
    spec = load_spec(SPEC)
    budget, records = [], {}
    for (service, name), (left, stretches, _, _) in HISTORY.items():
        slo = next(s for s in spec.slos if s.service == service and s.name == name)
        labels = f'{{service="{service}",slo="{name}"}}'
        # the budget record over the last hour only: the gate reads its value at AT
        budget += [f"{conv.BUDGET_REMAINING}{labels} {left} {t}" for t in range(AT - 3600, AT + 1, STEP)]
        record = conv.coverage_record(slo)
        for start, end in stretches:
            records.setdefault(record, []).extend(
                f"{record}{labels} 100 {t}" for t in range(AT - start * DAY, AT - end * DAY + 1, STEP))
    out = [f"# TYPE {conv.BUDGET_REMAINING} gauge", *budget]
    for record, lines in records.items():
        out += [f"# TYPE {record} gauge", *lines]
    return "\n".join(out) + "\n# EOF\n"


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory):
    prom = backfilled(tmp_path_factory.mktemp("coverage"), openmetrics())
    try:
        yield prom
    finally:
        prom.stop()


def budget_checks(url: str) -> dict[tuple[str, str], tuple[Outcome, str]]:
    spec = load_spec(SPEC)
    services = sorted({service for service, _ in HISTORY})
    report = run_gate(spec, "budget", PromClient(url, timeout=20), at=AT, services=services)
    return {(c.service, c.name.removeprefix("error budget ")): (c.outcome, c.reason) for c in report.checks}


def test_budget_verdict_follows_the_datas_coverage_of_the_period(prometheus):
    got = budget_checks(prometheus.url)
    assert got == {key: (outcome, reason) for key, (_, _, outcome, reason) in HISTORY.items()}


def test_low_coverage_holds_with_exit_3_and_says_so_in_json(prometheus):
    """lukhas-memory alone: its only SLO has 3 days of 30: hold (3), the coverage in the JSON."""
    r = invoke_cli("slo-gate", "--mode", "budget", "--spec", str(SPEC), "--prometheus-url", prometheus.url,
                   "--at", str(AT), "--service", "lukhas-memory", "--output", "json")
    assert r.returncode == 3, r.stdout + r.stderr
    doc = json.loads(r.stdout)
    assert (doc["outcome"], doc["action"]) == ("INCONCLUSIVE", "hold: could not measure")
    [check] = doc["checks"]
    assert check["coverage"] == {"covered_seconds": 3 * DAY, "period_seconds": 30 * DAY, "ratio": 0.1,
                                 "min_ratio": 0.9, "enough": False, "text": "data covers 3 d of 30 d (10 %)"}
    assert [e["note"] for e in check["evidence"]] == ["data covers 3 d of 30 d (10 %)"]
    assert check["query"].split("\n")[1] == ('count_over_time(slo:sli_total:rate5m{service="lukhas-memory", '
                                             'slo="availability"}[30d:5m])')


def test_victoriametrics_measures_the_same_coverage(tmp_path):
    """VictoriaMetrics' subqueries count the same 5m steps (its windows exclude their left edge,
    Prometheus 2.42's include it: a full period is 8640 steps on one and 8641 on the other)."""
    vm = VictoriaMetrics(tmp_path, openmetrics())
    try:
        got = budget_checks(vm.url)
    finally:
        vm.stop()
    assert got == {key: (outcome, reason) for key, (_, _, outcome, reason) in HISTORY.items()}
