"""OpenSLO v1alpha and v2alpha documents, and threshold SLIs written as PromQL expressions: each
imports into a team file that validates, generates, and whose generated promtool tests pass, or
is refused with every reason; each assumption is a note. The documents are written in the shapes
of the public files (Sloth's OpenSLO examples, the go-sdk's v1alpha/v2alpha examples and test
data, oslo's test inputs: benchmarks/import_corpus.py lists them). Also: the absent alert of an
expression SLI whose total ends in `or vector(0)`, and two Sloth inputs that were said badly."""

from __future__ import annotations

import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from lukhas_obs import conventions as conv
from lukhas_obs.errors import SpecError
from lukhas_obs.generate import render
from lukhas_obs.importers.common import SHARED_FOR_CHECK, team_file
from lukhas_obs.importers.openslo import import_openslo
from lukhas_obs.importers.sloth import import_sloth
from lukhas_obs.spec.loader import load_spec_dir, load_spec_text

from conftest import run_cli
from slospec import only, promtool_test

W = "{{.window}}"
SHARED = SHARED_FOR_CHECK + ("  P1: {level: critical, receiver: nobody, page: true}\n"
                             "  P3: {level: medium, receiver: nobody}\n")

# Sloth's examples/openslo-kubernetes-apiserver.yml, shortened: two ratio objectives in one SLO
V1ALPHA = f"""apiVersion: openslo/v1alpha
kind: SLO
metadata: {{name: requests-latency, displayName: Requests Latency}}
spec:
  service: k8s-apiserver
  description: "Apiserver responses are fast enough."
  budgetingMethod: Occurrences
  objectives:
    - ratioMetrics:
        good:
          source: prometheus
          queryType: promql
          query: sum(rate(apiserver_request_duration_seconds_bucket{{le="0.4",verb!="WATCH"}}[{W}]))
        total:
          source: prometheus
          queryType: promql
          query: sum(rate(apiserver_request_duration_seconds_count{{verb!="WATCH"}}[{W}]))
      target: 0.99
    - displayName: slow ones
      ratioMetrics:
        incremental: true
        good: {{source: prometheus, queryType: promql,
                query: 'apiserver_request_duration_seconds_bucket{{le="5",verb!="WATCH"}}'}}
        total: {{source: prometheus, queryType: promql,
                 query: 'apiserver_request_duration_seconds_count{{verb!="WATCH"}}'}}
      target: 0.999
  timeWindows:
    - count: 7
      unit: Day
"""

# the go-sdk's v2alpha examples: an inline SLI on a referenced DataSource, and an SLO naming an SLI
V2ALPHA = """- apiVersion: openslo.com/v2alpha
  kind: DataSource
  metadata: {name: my-prometheus}
  spec:
    type: Prometheus
    connectionDetails: [{url: "http://prometheus.example.com"}]
- apiVersion: openslo.com/v2alpha
  kind: SLO
  metadata:
    name: web-availability
    labels: {env: prod}
  spec:
    description: X% of search requests are successful
    serviceRef: web
    sli:
      metadata: {name: web-successful-requests-ratio}
      spec:
        ratioMetric:
          counter: true
          good:
            dataSourceRef: my-prometheus
            spec: {query: 'sum(http_requests_total{code=~"2..|4.."})'}
          total:
            dataSourceRef: my-prometheus
            spec: {query: 'sum(http_requests_total)'}
    timeWindow: [{duration: 4w, isRolling: true}]
    budgetingMethod: Occurrences
    objectives: [{displayName: Good, target: 0.995}]
- apiVersion: openslo.com/v2alpha
  kind: SLI
  metadata: {name: queue-lag}
  spec:
    thresholdMetric:
      dataSourceSpec: {type: Prometheus, connectionDetails: {accessToken: secretToken}}
      spec:
        query: sum(min_over_time(kafka_consumergroup_lag{consumergroup="annotator"}[2m]))
- apiVersion: openslo.com/v2alpha
  kind: SLO
  metadata: {name: annotator-throughput}
  spec:
    service: annotator
    sliRef: queue-lag
    timeWindow: [{duration: 1w, isRolling: true}]
    budgetingMethod: Occurrences
    objectives: [{op: lte, value: 100, target: 0.99}]
"""


def imported(*texts: str, tool_name: str = "openslo"):
    importer = import_openslo if tool_name == "openslo" else import_sloth
    result = importer([(f"f{i}.yaml", t, None) for i, t in enumerate(texts)])
    team = team_file(result, tool_name, base=None, port=8080, team=None, priorities={"P1", "P3"},
                     base_metrics={})
    assert not team.unplaced, team.unplaced
    return result, team


def said(result) -> str:
    return "\n".join([n for o in result.outcomes for n in o.notes]
                     + [str(b) for o in result.outcomes for b in o.blockers])


def generated_tests(team_text: str, folder: Path) -> Path:
    """The team file beside a shared file, loaded as `validate` loads it, and its generated rules
    and promtool tests written out."""
    specs = folder / "specs"
    specs.mkdir()
    (specs / "shared.yaml").write_text(SHARED)
    (specs / "team.yaml").write_text(team_text)
    rules = folder / "rules"
    rules.mkdir()
    for rel, body in render(load_spec_dir(specs)).items():
        if rel.startswith("prometheus/rules/slo-"):
            (rules / Path(rel).name).write_text(body if isinstance(body, str) else body.decode())
    return rules


def test_v1alpha_ratio_objectives_import_as_one_slo_each(tmp_path):
    result, team = imported(V1ALPHA)
    assert not result.refused, said(result)
    assert [o.entry["name"] for o in result.imported] == ["requests-latency-0", "requests-latency-1"]
    assert [o.where for o in result.imported] == ["f0.yaml:9", "f0.yaml:19"]   # each objective's line
    fast, slow = (o.entry for o in result.imported)
    assert fast["sli"] == {"latency": {"metric": "apiserver_request_duration_seconds", "threshold": 0.4,
                                       "selector": '{verb!="WATCH"}'}}
    assert slow["sli"]["latency"]["threshold"] == 5.0
    assert (fast["objective"], slow["objective"], fast["period"]) == (99.0, 99.9, "7d")
    text = said(result)
    for words in ("apiVersion openslo/v1alpha read as openslo/v1", "timeWindows 7 Day read as the duration 7d",
                  "objective 2 of 2 ('slow ones') imported as its own SLO 'requests-latency-1'",
                  "does not say counter (incremental in v1alpha)"):
        assert words in text, text
    assert team.slos == 2
    rules = generated_tests(team.text, tmp_path)
    # the latency SLI's full scenario set is the generator's own test; here: it pages on an outage
    test = rules / "slo-k8s-apiserver-requests-latency-0.test.yml"
    only("a total outage pages", test, test)
    r = promtool_test(rules, "slo-k8s-apiserver-requests-latency-0.test.yml")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]


def test_v2alpha_documents_resolve_their_references_and_import():
    result, team = imported(V2ALPHA)
    assert not result.refused, said(result)
    web, lag = (o.entry for o in result.imported)
    assert web["sli"] == {"ratio": {"good": 'http_requests_total{code=~"2..|4.."}', "total": "http_requests_total"}}
    assert web["period"] == "28d" and lag["period"] == "7d"
    assert [e.get("labels") for e in (web, lag)].count({"env": "prod"}) == 1   # metadata.labels, on its rules
    assert lag["sli"]["ratio"]["errors_query"] == (
        'sum_over_time((count((sum(min_over_time(kafka_consumergroup_lag{consumergroup="annotator"}[2m]))) > 100))'
        "[{{.window}}:])")
    text = said(result)
    for words in ("apiVersion openslo.com/v2alpha read as openslo/v1", "metricSourceRef my-prometheus is the "
                  "Prometheus DataSource", "indicatorRef queue-lag resolved",
                  "SLI queue-lag: thresholdMetric: the inline data source's connectionDetails are not kept",
                  "DataSource my-prometheus: apiVersion openslo.com/v2alpha read as openslo/v1"):
        assert words in text, text
    assert team.slos == 2
    assert "secretToken" not in team.text


V1ALPHA_BAD = """apiVersion: openslo/v1alpha
kind: SLO
metadata: {name: everything-wrong}
spec:
  service: web
  budgetingMethod: Timeslices
  indicator:
    thresholdMetric: {source: prometheus, queryType: promql, query: 'queue_depth'}
  objectives:
    - ratioMetrics:
        good: {source: prometheus, queryType: promql, query: 'x_total', metadata: {bucket: "0.25"}}
        total: {source: datadog, queryType: query, query: 'sum:requests{*}'}
      target: 0.99
      timeSliceTarget: 0.9
  timeWindows: [{count: 1, unit: Fortnight}]
"""


@pytest.mark.parametrize("doc,kinds,words", [
    (V1ALPHA_BAD, {"invalid"},
     ["a Timeslices objective needs timeSliceWindow",
      "both indicator.thresholdMetric and objectives[].ratioMetrics", "timeWindows unit 'Fortnight' is not one of "
      "Second, Minute, Hour, Day, Week, Month, Quarter, Year"]),
    (V1ALPHA_BAD.replace("  indicator:\n    thresholdMetric: {source: prometheus, queryType: promql, "
                         "query: 'queue_depth'}\n", ""),
     {"invalid", "source"},
     ["metadata {\"bucket\": \"0.25\"} passes details to the data source", "source type datadog is not Prometheus"]),
    (V1ALPHA.replace("  timeWindows:\n    - count: 7\n      unit: Day",
                     "  timeWindows: [{count: 1, unit: Day, isRolling: false, calendar: {startTime: "
                     "2021-05-01 00:00:00, timeZone: UTC}}]"),
     {"calendar"}, ["timeWindows 1 Day read as the duration 1d"]),
    ("apiVersion: openslo/v1alpha\nkind: SLO\nmetadata: {name: none}\nspec:\n  service: web\n"
     "  objectives: [{target: 0.9}]\n", {"invalid"},
     ["neither ratioMetric nor thresholdMetric (in v1alpha: indicator.thresholdMetric or objectives[].ratioMetrics)"]),
    (V2ALPHA.split("- apiVersion: openslo.com/v2alpha\n  kind: SLI")[0].replace("type: Prometheus", "type: Datadog"),
     {"source"}, ["source type Datadog is not Prometheus"]),
])
def test_what_v1alpha_and_v2alpha_cannot_say_is_refused_with_every_reason(doc, kinds, words):
    result, _ = imported(doc)
    assert len(result.refused) == len(result.outcomes) > 0 and result.imported == []   # every SLO refused
    assert {b.kind for o in result.outcomes for b in o.blockers} == kinds, said(result)
    for w in words:
        assert w in said(result), said(result)


def threshold_slo(query: str, op: str = "lte", value: str = "100") -> str:
    return textwrap.dedent(f"""\
        apiVersion: openslo/v1
        kind: SLO
        metadata: {{name: lag}}
        spec:
          service: annotator
          indicator:
            metadata: {{name: lag}}
            spec:
              thresholdMetric:
                metricSource: {{type: Prometheus, spec: {{query: '{query}'}}}}
          timeWindow: [{{duration: 7d, isRolling: true}}]
          budgetingMethod: Occurrences
          objectives: [{{op: {op}, value: {value}, target: 0.99}}]
        """)


@pytest.mark.parametrize("query,reason", [
    ("kafka_consumergroup_lag[5m]", "gives a range vector, not an instant vector"),
    ("scalar(sum(kafka_consumergroup_lag))", "gives a scalar"),
    ("vector(1)", "reads no series"),
    (f"sum(rate(kafka_consumergroup_lag[{W}]))", "holds {{.window}}: a threshold compares each sample"),
])
def test_a_threshold_expression_that_has_no_samples_to_compare_is_refused(query, reason):
    result, _ = imported(threshold_slo(query))
    (out,) = result.outcomes
    assert [b.kind for b in out.blockers] == ["expression"] and reason in str(out.blockers[0]), said(result)


def test_a_threshold_expression_counts_failing_samples_exactly_in_prometheus(tmp_path):
    """`op lt 100` keeps its strictness: a sample at exactly 100 fails. Checked by promtool over
    input samples (3 of 10 at or above 100), through the recorded 5m series the alerts read; the
    generated tests pass."""
    result, team = imported(threshold_slo("max(kafka_consumergroup_lag)", op="lt"))
    (out,) = result.imported
    assert "those >= 100 failing op lt 100" in said(result)
    rules = generated_tests(team.text, tmp_path)
    values = "50 50 50 100 150 100 50 50 50 50 50"      # one sample a minute, from 0m
    check = {"rule_files": ["slo-annotator-lag.rules.yml"], "evaluation_interval": "1m", "tests": [{
        "interval": "1m",
        "input_series": [{"series": 'kafka_consumergroup_lag{topic="in"}', "values": values}],
        "promql_expr_test": [
        {"expr": f'{conv.ERRORS_RATE}{{slo="lag"}}', "eval_time": "6m",
         "exp_samples": [{"labels": f'{conv.ERRORS_RATE}{{service="annotator",slo="lag"}}', "value": 3}]},
        {"expr": f'{conv.TOTAL_RATE}{{slo="lag"}}', "eval_time": "6m",
         "exp_samples": [{"labels": f'{conv.TOTAL_RATE}{{service="annotator",slo="lag"}}', "value": 6}]}]}]}
    (rules / "check.test.yml").write_text(yaml.safe_dump(check))
    wrong = yaml.safe_load((rules / "check.test.yml").read_text())
    wrong["tests"][0]["promql_expr_test"][0]["exp_samples"][0]["value"] = 2   # as if 100 were good
    (rules / "wrong.test.yml").write_text(yaml.safe_dump(wrong))
    with ThreadPoolExecutor(3) as pool:
        ok, bad, generated = pool.map(lambda n: promtool_test(rules, n),
                                      ["check.test.yml", "wrong.test.yml", "slo-annotator-lag.test.yml"])
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert bad.returncode != 0 and "FAILED" in bad.stdout + bad.stderr
    assert generated.returncode == 0, generated.stdout[-3000:] + generated.stderr[-3000:]


# ---- the absent alert of an expression SLI ---------------------------------------------------------

EXPR_SPEC = SHARED + """metrics:
  http_requests_total: {type: counter, labels: [code]}
services:
  - name: web
    kind: application
    port: 8080
    slos:
      - name: s
        objective: 99
        page: P1
        ticket: P3
        sli: {ratio: {errors_query: 'sum(rate(http_requests_total{code="500"}[{{.window}}]))',
                      total_query: 'TOTAL'}}
"""


def test_the_absent_alert_watches_a_total_without_its_trailing_or_vector_0(tmp_path):
    """`... or vector(0)` is never empty, so absent() of it never fired: the generated promtool
    test "an SLI with no series raises the absent alert" failed. The alert watches what precedes
    the fallback; with the old expression the same test fails in promtool."""
    total = f"(sum(rate(http_requests_total[{W}])) OR on() vector(0))"
    spec = load_spec_text(EXPR_SPEC.replace("TOTAL", total), "s.yaml")
    assert conv.absent_expr(spec.slos[0]) == "sum(rate(http_requests_total[5m]))"
    for rel, body in render(spec).items():
        if rel.startswith("prometheus/rules/slo-"):
            (tmp_path / Path(rel).name).write_text(body if isinstance(body, str) else body.decode())
    rules = tmp_path / "slo-web-s.rules.yml"
    old = tmp_path / "old"
    old.mkdir()
    (old / rules.name).write_text(rules.read_text().replace(
        "absent(sum(rate(http_requests_total[5m])))", f"absent({total.replace(W, '5m')})"))
    only("an SLI with no series", tmp_path / "slo-web-s.test.yml", tmp_path / "slo-web-s.test.yml")
    (old / "slo-web-s.test.yml").write_text((tmp_path / "slo-web-s.test.yml").read_text())
    with ThreadPoolExecutor(2) as pool:
        new_run, old_run = pool.map(lambda f: promtool_test(f, "slo-web-s.test.yml"), [tmp_path, old])
    assert new_run.returncode == 0, new_run.stdout[-3000:] + new_run.stderr[-3000:]
    assert old_run.returncode != 0 and "FAILED" in old_run.stdout + old_run.stderr


@pytest.mark.parametrize("total,message", [
    (f"sum(rate(http_requests_total[{W}]) or vector(0))", "an `or` with a constant (such as `or vector(0)`) inside"),
    (f"sum(rate(http_requests_total[{W}])) + (vector(1) or vector(2))", "an `or` with a constant"),
    (f"count_over_time(vector(1)[{W}:])", "reads no series: the SLI measures nothing"),
])
def test_an_expression_the_absent_alert_could_never_watch_is_refused_at_its_line(total, message):
    with pytest.raises(SpecError) as exc:
        load_spec_text(EXPR_SPEC.replace("TOTAL", total), "s.yaml")
    problems = [str(p) for p in exc.value.problems]
    assert any(p.startswith("s.yaml:19: services[0].slos[0].sli.ratio.total_query: ") and message in p
               for p in problems), problems


# ---- Sloth inputs that were said badly -------------------------------------------------------------

def test_sloth_slos_that_is_not_a_list_is_said_at_its_key(tmp_path):
    (tmp_path / "five.yml").write_text('version: "prometheus/v1"\nservice: "myservice"\n\nslos: 5\n')
    r = run_cli("import", "sloth", str(tmp_path / "five.yml"), "--out", str(tmp_path / "o.yaml"))
    assert r.returncode == 2, r.stderr
    assert r.stderr.splitlines() == [
        f"lukhas-obs import: {tmp_path / 'five.yml'}:4: slos is 5, not a list of SLOs; nothing imported from this spec",
        "imported 0 of 0 SLOs for 0 services from 1 files; 0 not imported; 1 input problems"]


def test_a_disabled_sloth_alert_with_a_name_is_noted():
    spec = textwrap.dedent(f"""\
        version: prometheus/v1
        service: myservice
        slos:
          - name: avail
            objective: 99.9
            sli:
              events:
                error_query: 'sum(rate(http_requests_total{{code=~"5.."}}[{W}]))'
                total_query: 'sum(rate(http_requests_total[{W}]))'
            alerting:
              name: MyServiceHighErrorRate
              page_alert: {{disable: true, labels: {{team: a}}}}
              ticket_alert: {{disable: true}}
        """)
    result, team = imported(spec, tool_name="sloth")
    (out,) = result.imported
    assert out.entry["alerts"]["page"] == {"name": "MyServiceHighErrorRate", "labels": {"team": "a"}, "disable": True}
    text = said(result)
    assert "the page alert is disabled (page_alert.disable: true): its name and labels are kept" in text
    assert "the ticket alert is disabled (ticket_alert.disable: true): its name is kept" in text
    assert team.slos == 1


def test_v1alpha_window_queries_that_are_not_a_selector_are_an_expression_ratio(tmp_path):
    """Sloth reads a v1alpha ratio as `1 - good/total` of the queries as written: one that is not
    `sum(rate(sel[{{.window}}]))` is kept as an expression ratio (good_query over total_query)."""
    good = (f'sum(rate(http_requests_total{{code!~"5.."}}[{W}])) - sum(rate(http_requests_total{{code="429"}}'
            f"[{W}]))")
    doc = V1ALPHA.split("    - displayName: slow ones")[0].replace(
        'sum(rate(apiserver_request_duration_seconds_bucket{le="0.4",verb!="WATCH"}[{{.window}}]))', good).replace(
        'sum(rate(apiserver_request_duration_seconds_count{verb!="WATCH"}[{{.window}}]))',
        f"sum(rate(http_requests_total[{W}]))") + "  timeWindows: [{count: 7, unit: Day}]\n"
    result, team = imported(doc)
    (out,) = result.imported
    assert out.entry["sli"] == {"ratio": {"good_query": good, "total_query": f"sum(rate(http_requests_total[{W}]))"}}
    assert "read as an expression ratio over each window, as Sloth reads them" in said(result)
    rules = generated_tests(team.text, tmp_path)
    r = promtool_test(rules, "slo-k8s-apiserver-requests-latency.test.yml")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]


ODD = [
    "apiVersion: openslo/v1alpha\nkind: SLO\nmetadata: {name: a}\nspec: {service: w, timeWindows: x, objectives: [1]}",
    "apiVersion: openslo/v1alpha\nkind: SLO\nmetadata: {name: a}\nspec: {service: w, timeWindows: [3, {count: true, "
    "unit: 5}], objectives: [{ratioMetrics: 5}, {ratioMetrics: {good: 5, total: x, incremental: maybe}}]}",
    "apiVersion: openslo/v1alpha\nkind: SLO\nmetadata: 7\nspec: {indicator: 5, objectives: null}",
    "apiVersion: openslo/v1alpha\nkind: SLO\nspec: {indicator: {thresholdMetric: 5}, objectives: [{target: x}]}",
    "apiVersion: openslo/v1alpha\nkind: Service\nmetadata: {name: a}\nspec: 5",
    "apiVersion: openslo.com/v2alpha\nkind: SLO\nmetadata: {name: b}\nspec: {serviceRef: 5, sli: 5, sliRef: [1], "
    "objectives: [{sli: {spec: 5}}, {sliRef: 3}, 4]}",
    "apiVersion: openslo.com/v2alpha\nkind: SLO\nmetadata: {name: b}\nspec: {service: w, sli: {spec: {ratioMetric: "
    "{good: 5, total: {dataSourceSpec: 5, spec: 5}}, thresholdMetric: {dataSourceRef: [1]}}}, objectives: [{}]}",
    "apiVersion: openslo.com/v2alpha\nkind: SLI\nmetadata: {name: s}\nspec: {ratioMetric: 5}",
    "apiVersion: openslo.com/v2alpha\nkind: DataSource\nmetadata: {name: d}\nspec: [1]",
]


@pytest.mark.parametrize("doc", ODD, ids=range(len(ODD)))
def test_odd_v1alpha_and_v2alpha_shapes_are_reported_never_a_traceback(doc):
    result, _ = imported(doc)
    assert not result.imported
    for o in result.outcomes:
        assert o.blockers, o


def test_v1alpha_source_sloth_and_other_query_types_are_read_as_prometheus_and_said():
    doc = V1ALPHA.replace("source: prometheus\n          queryType: promql",
                          "source: sloth\n          queryType: metric")
    result, _ = imported(doc)
    assert len(result.imported) == 2, said(result)
    text = said(result)
    assert "good: source sloth (Sloth's name for its Prometheus) read as Prometheus" in text
    assert "queryType 'metric' read as PromQL (the source is Prometheus)" in text
