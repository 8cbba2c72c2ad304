"""Expression SLIs: a ratio of two PromQL expressions (`sli.ratio.errors_query`/`total_query`) and a
raw error ratio (`sli.raw.error_ratio`), with Sloth's {{.window}} placeholder. Refused at their
line when Prometheus could not record them; their rules pass `promtool check rules`; their
generated promtool scenarios pass, and fail when the rules are wrong; the gate's fast burn reads
a raw ratio from a real Prometheus; Sloth's raw and expression SLIs import."""

from __future__ import annotations

import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from lukhas_obs import conventions as conv
from lukhas_obs.errors import SpecError
from lukhas_obs.gate import run_gate
from lukhas_obs.gate.client import PromClient
from lukhas_obs.importers.sloth import import_sloth
from lukhas_obs.spec.loader import load_spec_text

from conftest import tool
from promserver import backfilled
from slospec import only, promtool_test, spec_text, write_slo_rules

HEAD = spec_text("expr", "  http_requests_total: {type: counter, labels: [code]}\n"
                        "  wifi_satisfaction_ratio: {type: gauge}\n", "")
W = "{{.window}}"
SLOS = f"""      - name: expr-errors
        objective: 99
        sli: {{ratio: {{errors_query: 'sum(rate(http_requests_total{{code=~"5.."}}[{W}])) or on() vector(0)',
                      total_query: 'sum(rate(http_requests_total[{W}]))'}}}}
        page: P1
        ticket: P3
      - name: raw-ratio
        objective: 99
        sli:
          raw:
            error_ratio: |
              sum(rate(http_requests_total{{code=~"5.."}}[{W}]))
              /
              sum(rate(http_requests_total[{W}]))
        page: P1
        ticket: P3
      - name: expr-subquery
        objective: 95
        sli: {{ratio: {{errors_query: 'sum_over_time((count(wifi_satisfaction_ratio < 0.75))[{W}:])',
                      total_query: 'sum_over_time((count(wifi_satisfaction_ratio))[{W}:])'}}}}
        page: P1
        ticket: P3
"""


@pytest.fixture(scope="module")
def spec():
    return load_spec_text(HEAD + SLOS, "expr.yaml")


@pytest.fixture(scope="module")
def rules(spec, tmp_path_factory) -> Path:
    return write_slo_rules(spec, tmp_path_factory.mktemp("expr"))


def one_slo(body: str) -> str:
    return HEAD + "      - {name: s, objective: 99, page: P1, ticket: P3, " + body + "}\n"


@pytest.mark.parametrize("body,line_message", [
    ("sli: {raw: {error_ratio: 'sum(rate(http_requests_total[5m]))'}}",
     "no {{.window}} placeholder"),
    ("sli: {raw: {error_ratio: 'http_requests_total[{{.window}}]'}}",
     "with {{.window}} = 5m: an SLI expression must give an instant vector, this gives a range vector"),
    ("sli: {raw: {error_ratio: 'sum(rate(nope_total[{{.window}}]))'}}",
     "metric 'nope_total' is not in the metrics catalogue"),
    ("sli: {raw: {error_ratio: 'sum(rate(http_requests_total[{{.window}}])'}}",
     "with {{.window}} = 5m: invalid PromQL"),
    ("sli: {raw: {error_ratio: 'rate(http_requests_total[{{.window}}]) / {{.total}}'}}",
     "holds a template other than {{.window}}"),
    ("sli: {ratio: {errors_query: 'sum(rate(http_requests_total[{{.window}}]))', total: http_requests_total}}",
     "give selectors (errors or good, and total) or expressions"),
    ("sli: {ratio: {errors_query: 'sum(rate(http_requests_total[{{.window}}]))'}}",
     "give exactly one of errors_query or good_query, beside total_query"),
    ("min_events: 10, sli: {raw: {error_ratio: 'sum(rate(http_requests_total[{{.window}}]))'}}",
     "min_events counts the requests of a selector SLI"),
])
def test_an_expression_prometheus_could_not_record_is_refused_at_its_line(body, line_message):
    with pytest.raises(SpecError) as exc:
        load_spec_text(one_slo(body), "bad.yaml")
    said = [str(p) for p in exc.value.problems]
    assert any(line_message in s and s.startswith("bad.yaml:15: services[0].slos[0].") for s in said), said


def test_each_window_is_checked_not_only_5m():
    """`[{{.window}}s]` reads `[5ms]` at 5m (a valid duration) and breaks at 1h (`[1hs]`)."""
    ok = one_slo("sli: {raw: {error_ratio: 'sum(rate(http_requests_total[{{.window}}]))'}}")
    load_spec_text(ok, "ok.yaml")
    with pytest.raises(SpecError) as exc:
        load_spec_text(one_slo("sli: {raw: {error_ratio: 'sum(rate(http_requests_total[{{.window}}s]))'}}"),
                       "bad.yaml")
    assert [p.message.split(": in a range")[0] for p in exc.value.problems] == ["with {{.window}} = 1h"]


def test_rules_substitute_each_window_and_pass_promtool_check(spec, rules):
    raw = next(s for s in spec.slos if s.name == "raw-ratio")
    doc = yaml.safe_load((rules / "slo-web-raw-ratio.rules.yml").read_text())
    by = {r.get("record") or r.get("alert"): r["expr"] for g in doc["groups"] for r in g["rules"]}
    for w in conv.query_windows(raw):
        assert by[conv.ratio_name(w)] == raw.sli.error_ratio_query.replace("{{.window}}", w)
    assert conv.query_windows(raw) == ["5m", "30m", "1h", "2h", "6h", "1d", "3d"]   # the period is not queried
    assert by["slo:sli_error:ratio_rate30d"] == \
        'avg_over_time(slo:sli_error:ratio_rate5m{service="web", slo="raw-ratio"}[30d])'
    assert by["SLOMetricsAbsent"] == f"absent({raw.sli.error_ratio_query.replace('{{.window}}', '5m')})"
    expr = yaml.safe_load((rules / "slo-web-expr-errors.rules.yml").read_text())
    records = {r["record"]: r["expr"] for g in expr["groups"] for r in g["rules"] if "record" in r}
    assert records["slo:sli_error:ratio_rate6h"] == (
        '((sum(rate(http_requests_total{code=~"5.."}[6h])) or on() vector(0)) or vector(0))\n/\n'
        "(sum(rate(http_requests_total[6h])))")
    sel = '{service="web", slo="expr-errors"}'
    assert records["slo:sli_error:ratio_rate1d"] == (f"(sum_over_time(slo:sli_errors:rate5m{sel}[1d]))\n/\n"
                                                     f"(sum_over_time(slo:sli_total:rate5m{sel}[1d]))")
    files = sorted(str(p) for p in rules.glob("*.rules.yml"))
    r = subprocess.run([tool("promtool"), "check", "rules", *files], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


def test_generated_scenarios_pass_and_fail_on_wrong_rules(rules, tmp_path):
    """The driven SLIs get every scenario of a selector ratio; the undriven one says in its header
    that only its absent alert is tested. Each kind's scenarios fail when the rule is wrong."""
    sub = (rules / "slo-web-expr-subquery.test.yml").read_text()
    assert "# Not scenario-tested: the page and ticket alerts of web/expr-subquery" in sub
    assert [t["name"] for t in yaml.safe_load(sub)["tests"]] == [
        "an SLI with no series raises the absent alert, and nothing else"]
    assert "Not scenario-tested" not in (rules / "slo-web-raw-ratio.test.yml").read_text()
    assert [t["name"] for t in yaml.safe_load((rules / "slo-web-raw-ratio.test.yml").read_text())["tests"]] == [
        "6h of healthy traffic stays silent; a 3m spike at 72% errors, 0.5 % of the budget, does not page; an hour "
        "later a total outage pages within 8m39s (burn-rate maths) plus evaluation",
        "an SLI with no series raises the absent alert, and nothing else",
        "a burn at 5.4x the budget rate, just below the page threshold, does not page",
        "a slow burn at 3.6x opens a ticket and does not page", "no traffic stays silent"]

    # wrong rules: the raw ratio reads no errors, the absent alert watches a series that always exists
    for name in ("slo-web-raw-ratio", "slo-web-expr-errors", "slo-web-expr-subquery"):
        text = (rules / f"{name}.rules.yml").read_text()
        text = text.replace('code=~"5.."', 'code="none"').replace("absent(", "absent(vector(1) or ")
        (tmp_path / f"{name}.rules.yml").write_text(text)
    only("a total outage pages", rules / "slo-web-raw-ratio.test.yml", tmp_path / "slo-web-raw-ratio.test.yml")
    only("a total outage pages", rules / "slo-web-expr-errors.test.yml", tmp_path / "slo-web-expr-errors.test.yml")
    only("an SLI with no series", rules / "slo-web-expr-subquery.test.yml",
         tmp_path / "slo-web-expr-subquery.test.yml")
    jobs = [(rules, f"slo-web-{n}.test.yml") for n in ("raw-ratio", "expr-errors", "expr-subquery")]
    jobs += [(tmp_path, f"slo-web-{n}.test.yml") for n in ("raw-ratio", "expr-errors", "expr-subquery")]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda j: promtool_test(*j), jobs))
    for (folder, name), r in zip(jobs, results, strict=True):
        if folder == rules:
            assert r.returncode == 0, f"{name}: {r.stdout[-2000:]}{r.stderr[-2000:]}"
        else:
            assert r.returncode != 0 and "FAILED" in r.stdout + r.stderr, f"{name} passed with wrong rules"


T0 = 1_700_000_000


def test_gate_fast_burn_reads_a_raw_ratio_from_prometheus(spec, tmp_path):
    """Two hours: healthy, then 50 % errors. Fast burn on the raw and the expression SLI passes at
    the end of the first hour and fails at the end of the second; with no series it is
    INCONCLUSIVE, never a pass."""
    lines = ["# TYPE http_requests_total counter"]
    ok = bad = 0.0
    for minute in range(121):
        lines.append(f'http_requests_total{{job="web",code="200"}} {ok} {T0 + 60 * minute}')
        lines.append(f'http_requests_total{{job="web",code="500"}} {bad} {T0 + 60 * minute}')
        ok, bad = (ok + 600, bad) if minute < 60 else (ok + 300, bad + 300)
    prom = backfilled(tmp_path, "\n".join(lines) + "\n# EOF\n")
    try:
        def burns(at: float) -> dict[str, str]:
            report = run_gate(spec, "rollback", PromClient(prom.url, timeout=10), at=at, services=["web"])
            return {c.name: c.outcome.name for c in report.checks if c.name.startswith("fast burn")}

        assert burns(T0 + 3600) == {"fast burn expr-errors": "PASS", "fast burn raw-ratio": "PASS",
                                    "fast burn expr-subquery": "INCONCLUSIVE"}
        assert burns(T0 + 7200) == {"fast burn expr-errors": "FAIL", "fast burn raw-ratio": "FAIL",
                                    "fast burn expr-subquery": "INCONCLUSIVE"}
    finally:
        prom.stop()


SLOTH = """version: prometheus/v1
service: svc01
slos:
  - name: slo02
    objective: 95
    sli:
      raw:
        error_ratio_query: |
          sum(rate(http_request_duration_seconds_count{job="myservice",code=~"(5..|429)"}[{{.window}}]))
          /
          sum(rate(http_request_duration_seconds_count{job="myservice"}[{{.window}}]))
  - name: wifi
    objective: 95
    sli:
      events:
        error_query: sum_over_time((count(unifi_client_satisfaction_ratio < 0.75))[{{.window}}:]) OR on() vector(0)
        total_query: sum_over_time((count(unifi_client_satisfaction_ratio))[{{.window}}:])
"""


def test_sloth_raw_and_expression_slis_import_as_written():
    result = import_sloth([("sloth.yaml", SLOTH, None)])
    assert not result.refused, [[str(b) for b in o.blockers] for o in result.refused]
    raw, wifi = (o.entry["sli"] for o in result.imported)
    assert raw == {"raw": {"error_ratio": yaml.safe_load(SLOTH)["slos"][0]["sli"]["raw"]["error_ratio_query"]}}
    assert wifi == {"ratio": {
        "errors_query": "sum_over_time((count(unifi_client_satisfaction_ratio < 0.75))[{{.window}}:])"
                        " OR on() vector(0)",
        "total_query": "sum_over_time((count(unifi_client_satisfaction_ratio))[{{.window}}:])"}}
    needs = {name: need.type for o in result.imported for name, need in o.metrics.items()}
    assert needs == {"http_request_duration_seconds": "summary", "unifi_client_satisfaction_ratio": "gauge"}
    period = "period 30d: Sloth's default (sloth generate --default-slo-period); set period if yours differs"
    assert [o.notes for o in result.imported] == [
        ["read as a raw error ratio (sli.raw.error_ratio), kept as written: its selectors keep their own job"
         " matchers, and its budget over the period is the average of its 5m ratio over time (no counts to weigh"
         " by traffic)", period],
        ["read as an expression ratio (sli.ratio.errors_query/total_query), kept as written: its selectors keep"
         " their own job matchers (none is added)", period]]
