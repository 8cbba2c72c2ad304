"""Timeslice budgeting (OpenSLO's Timeslices): the objective is a share of good time slices, a
slice being good when its SLI meets the slice target. Refused at its line when a slice cannot
be measured; the rules pass promtool; the generated scenarios pass, and fail when the slice
rule is wrong; the gate's fast burn rebuilds the slices from a real Prometheus."""

from __future__ import annotations

import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from lukhas_obs import conventions as conv
from lukhas_obs import openslo
from lukhas_obs.errors import SpecError
from lukhas_obs.gate import run_gate
from lukhas_obs.gate.client import PromClient
from lukhas_obs.spec.loader import load_spec_text

from conftest import tool
from promserver import Prometheus
from slospec import only, promtool_test, spec_text, write_slo_rules

HEAD = spec_text("slices", "  http_requests_total: {type: counter, labels: [code]}\n"
                          "  http_request_duration_seconds: {type: histogram, buckets: [0.1, 0.5, 1]}\n", "")
W = "{{.window}}"
SLOS = f"""      - name: errors
        objective: 99
        timeslices: {{window: 1m, target: 95}}
        sli: {{ratio: {{errors: 'http_requests_total{{code=~"5.."}}', total: http_requests_total}}}}
        page: P1
        ticket: P3
      - name: p99
        objective: 99.5
        timeslices: {{window: 2m, target: 99}}
        sli: {{latency: {{metric: http_request_duration_seconds, threshold: 0.5}}}}
        page: P1
        ticket: P3
      - name: up
        objective: 99
        timeslices: {{window: 1m, target: 50}}
        sli: {{availability: {{}}}}
        page: P1
        ticket: P3
      - name: month
        objective: 99
        period: {{calendar: month, timezone: America/New_York}}
        timeslices: {{window: 1m, target: 95}}
        sli: {{ratio: {{errors: 'http_requests_total{{code=~"5.."}}', total: http_requests_total}}}}
        page: P1
        ticket: P3
      - name: raw
        objective: 99
        timeslices: {{window: 1m, target: 95}}
        sli:
          raw:
            error_ratio: 'sum(rate(http_requests_total{{code=~"5.."}}[{W}])) / sum(rate(http_requests_total[{W}]))'
        page: P1
        ticket: P3
"""


@pytest.fixture(scope="module")
def spec():
    return load_spec_text(HEAD + SLOS, "slices.yaml")


@pytest.fixture(scope="module")
def rules(spec, tmp_path_factory) -> Path:
    return write_slo_rules(spec, tmp_path_factory.mktemp("slices"))


def one_slo(body: str, head: str = HEAD) -> str:
    return head + "      - {name: s, objective: 99, page: P1, ticket: P3, sli: {availability: {}}, " + body + "}\n"


@pytest.mark.parametrize(("head", "body", "key", "message"), [
    (HEAD.replace("project: slices", "project: slices\nprometheus: {slo_evaluation_interval: 1m}"),
     "timeslices: {window: 1m, target: 99}", "timeslices.window",
     "a 1m slice holds too few samples: it must be at least 4 scrape intervals (1m) and 2 SLO evaluation "
     "intervals (2m)"),
    (HEAD.replace("project: slices", "project: slices\nprometheus: {scrape_interval: 30s}"),
     "timeslices: {window: 1m, target: 99}", "timeslices.window",
     "a 1m slice holds too few samples: it must be at least 4 scrape intervals (2m)"),
    (HEAD, "timeslices: {window: 1m30s, target: 99}", "timeslices.window", "1m30s is not a whole number of minutes"),
    (HEAD, "timeslices: {window: 10m, target: 99}", "timeslices.window",
     "a 10m slice is longer than the shortest burn-rate window (5m)"),
    (HEAD, "timeslices: {window: 1m, target: 100}", "timeslices.target", "100"),
    (HEAD, "timeslices: {window: 1m}", "timeslices", "target"),
])
def test_a_slice_that_cannot_be_measured_is_refused_at_its_line(head, body, key, message):
    with pytest.raises(SpecError) as exc:
        load_spec_text(one_slo(body, head), "bad.yaml")
    said = [str(p) for p in exc.value.problems]
    assert any(f"services[0].slos[0].{key}" in s and message in s and s.startswith("bad.yaml:") for s in said), said


def test_every_window_reads_the_share_of_bad_slices(spec, rules):
    slo = next(s for s in spec.slos if s.name == "errors")
    doc = yaml.safe_load((rules / "slo-web-errors.rules.yml").read_text())
    groups = {g["name"]: g for g in doc["groups"]}
    assert groups["slo-web-errors-slices"]["interval"] == "1m"
    [slice_rule] = groups["slo-web-errors-slices"]["rules"]
    assert slice_rule["record"] == conv.SLICE_BAD
    ratio = ('(\n(sum(rate(http_requests_total{code=~"5..", job="web"}[1m])) or vector(0))\n/\n'
             '(sum(rate(http_requests_total{job="web"}[1m])))\n)')
    # 1 when the slice's error ratio is past the slice target, 0 when within it, nothing without traffic
    assert slice_rule["expr"] == f"{ratio} > bool 0.05\nand\n{ratio} >= 0"
    records = {r["record"]: r["expr"] for g in doc["groups"] for r in g["rules"] if "record" in r}
    for w in conv.all_windows(slo):
        assert records[conv.ratio_name(w)] == \
            f'avg_over_time({conv.SLICE_BAD}{{service="web", slo="errors"}}[{w}])', w
    files = sorted(str(p) for p in rules.glob("*.rules.yml"))
    r = subprocess.run([tool("promtool"), "check", "rules", *files], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


def test_generated_scenarios_pass_and_fail_when_the_slice_rule_is_wrong(spec, rules, tmp_path):
    names = [f"slo-{s.id}" for s in spec.slos]
    errors = yaml.safe_load((rules / "slo-web-errors.test.yml").read_text())
    assert [t["name"] for t in errors["tests"]] == [
        # 14.4 % of 1h, plus a slice
        "6h of healthy traffic stays silent; then a total outage pages within 9m39s (burn-rate maths) plus evaluation",
        "an SLI with no series raises the absent alert, and nothing else",
        "0.04 errors in every slice, inside the slice target (0.05), spends no budget and stays silent",
        "0.0625 errors in every slice, just past the slice target, pages",
        "no traffic stays silent (slices without data do not count)",
    ]
    header = [ln for ln in (rules / "slo-web-errors.test.yml").read_text().splitlines() if ln.startswith("#")]
    assert header[1] == ("# Timeslices: promtool evaluates every rule group at this file's evaluation_interval, so"
                         " here the") and len(header) == 5
    # wrong: a slice is judged against the objective's budget (1 %) instead of the slice target
    wrong = (rules / "slo-web-errors.rules.yml").read_text().replace("> bool 0.05", "> bool 0.01")
    (tmp_path / "slo-web-errors.rules.yml").write_text(wrong)
    (tmp_path / "slo-web-errors.test.yml").write_text((rules / "slo-web-errors.test.yml").read_text())
    # the calendar month is the errors SLO again: only its own scenario, the budget's reset (each
    # of its evaluations computes the zone's period phase, which makes the whole file 3x slower)
    month = rules / "slo-web-month.test.yml"
    only("the budget starts afresh", month, tmp_path / "slo-web-month.test.yml")
    (tmp_path / "slo-web-month.rules.yml").write_text((rules / "slo-web-month.rules.yml").read_text())
    jobs = [(rules, f"{n}.test.yml") for n in names if n != "slo-web-month"] + [
        (tmp_path, "slo-web-month.test.yml"), (tmp_path, "slo-web-errors.test.yml")]
    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(lambda j: promtool_test(*j), jobs))
    for (folder, name), r in zip(jobs, results, strict=True):
        if folder == rules or name == "slo-web-month.test.yml":
            assert r.returncode == 0, f"{name}: {r.stdout[-2000:]}{r.stderr[-2000:]}"
    wrong_run = results[-1]
    assert wrong_run.returncode != 0, "the scenarios passed with a wrong slice rule"
    assert "inside the slice target" in wrong_run.stdout + wrong_run.stderr


def test_export_says_timeslices():
    spec = load_spec_text(HEAD + SLOS, "slices.yaml")
    docs = {d["metadata"]["name"]: d for d in openslo.export(spec) if d["kind"] == "SLO"}
    errors = docs["web-errors"]["spec"]
    assert errors["budgetingMethod"] == "Timeslices"
    assert errors["objectives"] == [{"displayName": "errors", "target": 0.99, "timeSliceTarget": 0.95,
                                     "timeSliceWindow": "1m"}]


T0 = 1_700_000_000


def test_gate_fast_burn_rebuilds_the_slices_from_prometheus(spec, tmp_path):
    """Two hours at 15 s samples: 3 % errors (every slice inside its 5 % target: no budget spent),
    then 10 % (every slice bad). Fast burn passes at the end of the first hour, fails at the end of
    the second, and is INCONCLUSIVE where there is no traffic at all (no slices), never a pass."""
    lines = ["# TYPE http_requests_total counter"]
    ok = bad = 0.0
    for step in range(4 * 120 + 1):
        t = T0 + 15 * step
        lines.append(f'http_requests_total{{job="web",code="200"}} {ok} {t}')
        lines.append(f'http_requests_total{{job="web",code="500"}} {bad} {t}')
        share = 0.03 if step < 240 else 0.10
        ok, bad = ok + 100 * (1 - share), bad + 100 * share
    data = tmp_path / "om.txt"
    data.write_text("\n".join(lines) + "\n# EOF\n")
    r = subprocess.run([tool("promtool"), "tsdb", "create-blocks-from", "openmetrics", str(data), str(tmp_path / "d")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    (tmp_path / "prometheus.yml").write_text("global: {scrape_interval: 15s}\n")
    prom = Prometheus(tmp_path, tmp_path / "d")
    try:
        def burns(at: float) -> dict[str, str]:
            report = run_gate(spec, "rollback", PromClient(prom.url, timeout=10), at=at, services=["web"])
            return {c.name: c.outcome.name for c in report.checks if c.name in ("fast burn errors", "fast burn raw")}

        assert burns(T0 + 3600) == {"fast burn errors": "PASS", "fast burn raw": "PASS"}
        assert burns(T0 + 7200) == {"fast burn errors": "FAIL", "fast burn raw": "FAIL"}
        assert burns(T0 - 7200) == {"fast burn errors": "INCONCLUSIVE", "fast burn raw": "INCONCLUSIVE"}
    finally:
        prom.stop()
