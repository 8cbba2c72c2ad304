"""`import sloth` on Sloth specs in the shapes Sloth's examples use (prometheus/v1 files, `---`
streams, PrometheusServiceLevel objects): event SLIs become ratios or latency SLIs, what the
spec cannot hold yet is said as notes, what it cannot do blocks the SLO with every reason."""

from __future__ import annotations

import textwrap

import pytest
import yaml

from lukhas_obs.importers.common import team_file
from lukhas_obs.importers.sloth import import_sloth

from conftest import run_cli

ERRORS = 'sum(rate(http_request_duration_seconds_count{job="myservice",code=~"(5..|429)"}[{{.window}}]))'
TOTAL = 'sum(rate(http_request_duration_seconds_count{job="myservice"}[{{.window}}]))'


def spec(sli: str | None = None, alerting: str = "", version: str = "prometheus/v1", objective="99.9") -> str:
    sli = sli or f"events:\n  error_query: '{ERRORS}'\n  total_query: '{TOTAL}'"
    alerting = alerting or textwrap.dedent("""\
        name: MyServiceHighErrorRate
        labels: {category: availability}
        annotations: {summary: High error rate}
        page_alert: {labels: {severity: pageteam, routing_key: myteam}}
        ticket_alert: {labels: {severity: slack}}""")
    return (f'version: "{version}"\nservice: "myservice"\nlabels: {{owner: myteam, tier: "2"}}\nslos:\n'
            f'  - name: "requests-availability"\n    objective: {objective}\n'
            '    description: "Common SLO based on availability for HTTP request responses."\n'
            f'    sli:\n{textwrap.indent(sli, " " * 6)}\n    alerting:\n{textwrap.indent(alerting, " " * 6)}\n')


K8S = textwrap.dedent(f"""\
    apiVersion: sloth.slok.dev/v1
    kind: PrometheusServiceLevel
    metadata: {{name: sloth-slo-my-service, namespace: monitoring}}
    spec:
      service: "myservice2"
      slos:
        - name: "requests-availability"
          objective: 99.99
          sli:
            events:
              errorQuery: '{ERRORS.replace('job="myservice"', 'job="myservice2"')}'
              totalQuery: '{TOTAL.replace('job="myservice"', 'job="myservice2"')}'
          alerting:
            name: MyServiceHighErrorRate
            pageAlert: {{labels: {{severity: pageteam}}}}
            ticketAlert: {{disable: false}}
    """)

LATENCY = """events:
  error_query: |
    (
      sum(rate(apiserver_request_duration_seconds_count{verb!="WATCH"}[{{.window}}]))
      -
      sum(rate(apiserver_request_duration_seconds_bucket{le="0.4",verb!="WATCH"}[{{.window}}]))
    )
  total_query: sum(rate(apiserver_request_duration_seconds_count{verb!="WATCH"}[{{.window}}]))"""

RAW = """raw:
  error_ratio_query: |
    1 - (sum(sum_over_time(unifipoller_client_satisfaction_ratio[{{.window}}]))
         / sum(count_over_time(unifipoller_client_satisfaction_ratio[{{.window}}])))"""

CASES = [
    ("prometheus/v1 events", [spec()], [], ["the page alert is MyServiceHighErrorRate, the ticket alert "
                                            "MyServiceHighErrorRateTicket", "page alert label severity='pageteam' "
                                            "dropped: lukhas-obs sets severity itself", "Sloth's default"]),
    ("a PrometheusServiceLevel", [K8S], [], ["alert name"]),
    ("a stream of both", [spec() + "---\n" + K8S], [], []),
    ("count minus bucket over count is a latency SLI", [spec(sli=LATENCY)], [], ["read as a latency SLI"]),
    ("a raw SLI with a disabled ticket alert",
     [spec(sli=RAW, alerting="page_alert: {labels: {severity: home}}\nticket_alert: {disable: true}")],
     [], ["read as a raw error ratio"]),
    ("a plugin SLI", [spec(sli="plugin: {id: getting_started_availability, options: {job: myservice}}")],
     ["plugin"], []),
    ("an expression", [spec(sli="events:\n  error_query: 'sum(rate(a_total[{{.window}}])) * 2'\n"
                                f"  total_query: '{TOTAL}'")], [], ["read as an expression ratio"]),
    ("an expression with a template other than the window",
     [spec(sli="events:\n  error_query: 'sum(rate(a_total[{{.window}}])) * {{.factor}}'\n"
               f"  total_query: '{TOTAL}'")], ["expression"], ["a template other than"]),
    ("an unknown version", [spec(version="prometheus/v2")], ["version"], []),
    ("an objective of 100", [spec(objective="100")], ["invalid"], ["no error budget"]),
    ("an OpenSLO document", ["apiVersion: openslo/v1alpha\nkind: SLO\nmetadata: {name: x}\n"], ["version"],
     ["import openslo"]),
]


@pytest.mark.parametrize("docs,blockers,words", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_sloth_shape_is_read_and_each_change_said(docs, blockers, words):
    result = import_sloth([(f"s{i}.yml", t, None) for i, t in enumerate(docs)])
    team = team_file(result, "sloth", base=None, port=8080, team=None, priorities={"P1", "P3"}, base_metrics={})
    assert not result.problems and not team.unplaced
    assert sorted({b.kind for o in result.outcomes for b in o.blockers}) == sorted(blockers)
    said = "\n".join(n for o in result.outcomes for n in o.notes) + "\n".join(
        str(b) for o in result.outcomes for b in o.blockers)
    for word in words:
        assert word in said, said
    if not blockers:
        assert team.slos == len(result.outcomes) >= 1


def test_the_mapping_keeps_the_meaning():
    result = import_sloth([("gs.yml", spec(), None), ("lat.yml", spec(sli=LATENCY).replace("myservice", "api"), None)])
    entries = {o.service: o.entry for o in result.imported}
    assert entries["myservice"]["sli"] == {"ratio": {"errors": 'http_request_duration_seconds_count{code=~"(5..|429)"}',
                                                     "total": "http_request_duration_seconds_count"}}
    assert entries["myservice"]["objective"] == 99.9 and entries["myservice"]["period"] == "30d"
    assert entries["api"]["sli"] == {"latency": {"metric": "apiserver_request_duration_seconds", "threshold": 0.4,
                                                 "selector": '{verb!="WATCH"}'}}


def test_alert_windows_are_said_not_imported():
    doc = "apiVersion: sloth.slok.dev/v1\nkind: AlertWindows\nspec: {sloPeriod: 7d}\n"
    result = import_sloth([("w.yaml", doc, None)])
    assert not result.outcomes
    assert result.notes == ["w.yaml:1: Sloth AlertWindows not imported: lukhas-obs derives its burn-rate windows from"
                            " each SLO's period (7d, 28d or 30d)"]


def test_cli_import_sloth_writes_a_team_file(tmp_path):
    (tmp_path / "getting-started.yml").write_text(spec())
    out = tmp_path / "team.yaml"
    r = run_cli("import", "sloth", str(tmp_path), "--out", str(out))
    assert r.returncode == 0, r.stderr
    text = out.read_text()
    assert [[o["name"] for o in s["slos"]] for s in yaml.safe_load(text)["services"]] == [["requests-availability"]]
    slo = yaml.safe_load(text)["services"][0]["slos"][0]
    assert slo["labels"] == {"owner": "myteam", "tier": "2"}
    assert slo["alerts"] == {
        "page": {"name": "MyServiceHighErrorRate", "labels": {"category": "availability", "routing_key": "myteam"},
                 "annotations": {"summary": "High error rate"}},
        "ticket": {"name": "MyServiceHighErrorRateTicket", "labels": {"category": "availability"},
                   "annotations": {"summary": "High error rate"}}}


def test_a_disabled_alert_is_imported_disabled_and_generates():
    result = import_sloth([("s.yml", spec(alerting="page_alert: {disable: true}"), None)])
    (slo,) = result.imported
    assert slo.entry["alerts"] == {"page": {"disable": True}} and not slo.blockers
