"""The spec's `dashboards:` section and the dashboards a spec without it gets: a folder of team
specs gets RED rows for every application service, derived from the gate's traffic roles, the
SLIs and the catalogue; every derived panel validates against Grafana's schema and its query
returns the value the history says on a real Prometheus; every section error is said at its
file and line."""

from __future__ import annotations

import json
import subprocess

import pytest
import yaml

from lukhas_obs import conventions as conv
from lukhas_obs import promql
from lukhas_obs.errors import SpecError
from lukhas_obs.generate.dashboards import build, dashboards
from lukhas_obs.spec import load_spec
from lukhas_obs.spec.loader import load_spec_text

from conftest import run_cli, shared_schemas, tool

# Grafana's dashboard schema, current and 11.6.x (grafana-foundation-sdk), under ../shared/schemas/
SCHEMAS = ["grafana-dashboard.jsonschema.json", "grafana-dashboard.v11.6.x.jsonschema.json"]

# ---- a folder of team specs, none with a dashboards: section ----------------------------

SHARED_FILE = {
    "apiVersion": "lukhas-obs/v1", "project": "shop",
    "receivers": {"pager": {"pagerduty": {"routing_key_file": "/run/secrets/pd"}}, "quiet": {}},
    "severities": {"P1": {"level": "critical", "receiver": "pager", "page": True},
                   "P3": {"level": "warning", "receiver": "quiet"}},
    "metrics": {"http_requests_total": {"type": "counter", "labels": ["code"], "services": ["checkout"]},
                "http_request_duration_seconds": {"type": "histogram", "buckets": [0.1, 0.3, 1, 3],
                                                  "services": ["checkout"]}},
    "gates": {"traffic": {"requests": "http_requests_total", "errors": 'http_requests_total{code=~"5.."}',
                          "latency": "http_request_duration_seconds", "latency_threshold": 0.3}},
}
TEAMS = {
    # the gate's traffic metrics, which checkout exports: the roles give its RED panels
    "team-checkout.yaml": {"services": [{
        "name": "checkout", "kind": "application", "port": 9000,
        "slos": [{"name": "errors", "objective": 99.5, "page": "P1", "ticket": "P3",
                  "sli": {"ratio": {"errors": 'http_requests_total{code=~"5.."}', "total": "http_requests_total"}}}]}]},
    # its own metrics: the ratio SLI gives rate and errors, the catalogue's histogram the latency
    "team-search.yaml": {
        "metrics": {"search_queries_total": {"type": "counter", "labels": ["outcome"], "services": ["search"]},
                    "search_query_seconds": {"type": "histogram", "buckets": [0.1, 0.3, 1, 3], "services": ["search"]}},
        "services": [{
            "name": "search", "kind": "application", "port": 9001,
            "slos": [{"name": "answers", "objective": 99, "page": "P1", "ticket": "P3",
                      "sli": {"ratio": {"errors": 'search_queries_total{outcome="error"}',
                                        "total": "search_queries_total"}}}]}]},
    # nothing but a scrape target: its row says whether it is up
    "team-batch.yaml": {"services": [{"name": "batch", "kind": "application", "port": 9002},
                                     {"name": "db", "kind": "database", "port": 5432}]},
}


@pytest.fixture(scope="module")
def team_spec(tmp_path_factory):
    folder = tmp_path_factory.mktemp("teams")
    (folder / "shared.yaml").write_text(yaml.safe_dump(SHARED_FILE))
    for name, body in TEAMS.items():
        (folder / name).write_text(yaml.safe_dump({"apiVersion": "lukhas-obs/v1", "team": name[5:-5], **body}))
    return load_spec(folder)


def _rows(dash: dict) -> dict[str, list[dict]]:
    """{row title: its panels}."""
    out: dict[str, list[dict]] = {}
    current: list[dict] = []
    for panel in dash["panels"]:
        if panel["type"] == "row":
            current = out.setdefault(panel["title"], [])
        else:
            current.append(panel)
    return out


def _steps(panel: dict) -> list[tuple[float, str]]:
    steps = panel["fieldConfig"]["defaults"].get("thresholds", {}).get("steps", [])
    return [(s["value"], s["color"]) for s in steps[1:]]  # the first is the base


def test_a_team_folder_without_dashboards_gets_red_rows_for_every_application(team_spec):
    spec = team_spec
    out = dashboards(spec)
    assert sorted(out) == sorted(f"{spec.project}-{kind}" for kind in ("services", "slos", "infrastructure"))
    rows = _rows(out["shop-services"])
    apps = [svc.name for svc in spec.services if svc.kind == "application"]
    assert list(rows) == apps  # every team's application, in the folder's order; not the database
    titles = {name: [p["title"].removeprefix(f"{name}: ") for p in panels] for name, panels in rows.items()}
    red = ["targets up", "requests per second", "error ratio", "latency"]
    assert titles == {"checkout": red, "search": red, "batch": ["targets up"]}

    checkout = {p["title"]: p for p in rows["checkout"]}
    slo = spec.service("checkout").slos[0]
    assert _steps(checkout["checkout: error ratio"]) == [(slo.error_budget, "orange")]
    assert _steps(checkout["checkout: latency"]) == [(spec.gates.latency_threshold, "red")]
    # checkout exports the gate's metrics: the roles' selectors, scoped to its job
    assert checkout["checkout: error ratio"]["targets"][0]["expr"] == promql.ratio(
        'sum by (job) (rate(http_requests_total{code=~"5..", job="checkout"}[$__rate_interval]))',
        'sum by (job) (rate(http_requests_total{job="checkout"}[$__rate_interval]))')
    search = {p["title"]: p for p in rows["search"]}
    assert _steps(search["search: error ratio"]) == [(spec.service("search").slos[0].error_budget, "orange")]
    assert _steps(search["search: latency"]) == []  # no latency SLI, no gate threshold for it
    assert [t["expr"] for t in search["search: latency"]["targets"]] == [
        f"histogram_quantile({q}, sum by (le, job) (rate(search_query_seconds_bucket{{job=\"search\"}}"
        "[$__rate_interval])))" for q in ("0.5", "0.95", "0.99")]

    slo_rows = _rows(out["shop-slos"])
    assert list(slo_rows) == [svc.name for svc in spec.services if svc.slos]


@pytest.mark.parametrize("schema", SCHEMAS)
def test_derived_and_every_kind_of_panel_validate_against_grafanas_schema(team_spec, schema):
    import jsonschema

    path, = shared_schemas(schema)
    validator = jsonschema.Draft7Validator(json.loads(path.read_text()))
    every_kind = load_spec_text(BASE + KINDS, "kinds.yaml")
    for uid, dash in {**dashboards(team_spec), **dashboards(every_kind)}.items():
        errors = [f"{list(e.absolute_path)}: {e.message[:200]}" for e in validator.iter_errors(dash)]
        assert not errors, f"{uid}:\n" + "\n".join(errors[:10])


# ---- the history a real Prometheus holds for the team services --------------------------

T0 = 1_700_000_000
STEP = 30                       # seconds between samples
RATE_INTERVAL = "2m"            # Grafana's $__rate_interval for a 30 s scrape interval: 4 x 30 s
HISTORY = 20                    # minutes
# per second: (good, bad) requests; a histogram's cumulative share per bucket boundary
TRAFFIC = {"checkout": ("http_requests_total", "code", ("200", "500"), (9.9, 0.1), "http_request_duration_seconds"),
           "search": ("search_queries_total", "outcome", ("ok", "error"), (4.8, 0.2), "search_query_seconds")}
SHARES = {"0.1": 0.5, "0.3": 0.9, "1": 0.99, "3": 1.0, "+Inf": 1.0}


def openmetrics() -> str:
    families: dict[str, tuple[str, list[str]]] = {}

    def add(family: str, kind: str, line: str) -> None:
        families.setdefault(family, (kind, []))[1].append(line)

    for i in range(HISTORY * 60 // STEP + 1):
        t, elapsed = T0 + i * STEP, i * STEP
        for job in ("checkout", "search", "batch", "db"):
            add("up", "gauge", f'up{{job="{job}"}} 1 {t}')
            add("process_cpu_seconds", "counter", f'process_cpu_seconds_total{{job="{job}"}} {0.1 * elapsed} {t}')
            add("process_resident_memory_bytes", "gauge", f'process_resident_memory_bytes{{job="{job}"}} 1e8 {t}')
        for job, (counter, label, values, per_second, histogram) in TRAFFIC.items():
            for value, rate in zip(values, per_second, strict=True):
                add(counter[:-6], "counter", f'{counter}{{job="{job}",{label}="{value}"}} {rate * elapsed} {t}')
            total = sum(per_second) * elapsed
            for le, share in SHARES.items():
                add(histogram, "histogram", f'{histogram}_bucket{{job="{job}",le="{le}"}} {share * total} {t}')
            add(histogram, "histogram", f'{histogram}_count{{job="{job}"}} {total} {t}')
            add(histogram, "histogram", f'{histogram}_sum{{job="{job}"}} {0.1 * total} {t}')
    text = []
    for family, (kind, lines) in families.items():
        text += [f"# TYPE {family} {kind}", *lines]
    return "\n".join(text) + "\n# EOF\n"


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory):
    from promserver import Prometheus

    root = tmp_path_factory.mktemp("prom")
    (root / "history.om").write_text(openmetrics())
    r = subprocess.run([tool("promtool"), "tsdb", "create-blocks-from", "openmetrics", str(root / "history.om"),
                        str(root / "data")], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    (root / "prometheus.yml").write_text("global: {scrape_interval: 30s}\n")
    prom = Prometheus(root, root / "data")
    yield prom
    prom.stop()


@pytest.mark.integration
def test_every_derived_panel_query_returns_what_the_history_says(team_spec, prometheus):
    """Each query of the derived services and infrastructure dashboards, as Grafana would send
    it, on a real Prometheus holding known history: every one returns data, and the RED panels
    the values the history was made with."""
    at = T0 + HISTORY * 60
    out = dashboards(team_spec)
    seen: dict[str, list[float]] = {}
    for uid in ("shop-services", "shop-infrastructure"):
        for panel in out[uid]["panels"]:
            for target in panel.get("targets", []):
                names = conv.grafana_variables(target["expr"])
                assert set(names) <= {"__rate_interval"}, names  # no variable left for a user to choose
                query = target["expr"].replace("$__rate_interval", RATE_INTERVAL)
                result = prometheus.query(query, time=at)
                assert result, f"{uid} / {panel['title']}: no data for {query}"
                seen.setdefault(panel["title"], []).extend(float(s["value"][1]) for s in result)
    for job, (_, _, _, (good, bad), _) in TRAFFIC.items():
        assert seen[f"{job}: targets up"] == [1.0]
        assert seen[f"{job}: requests per second"] == [pytest.approx(good + bad)]
        assert seen[f"{job}: error ratio"] == [pytest.approx(bad / (good + bad))]
        # half the requests are under 0.1 s, 90 % under 0.3 s: linear interpolation in the buckets
        p50, p95, p99 = seen[f"{job}: latency"]
        assert (p50, p99) == (pytest.approx(0.1), pytest.approx(1.0)) and 0.3 < p95 < 1.0
    assert seen["batch: targets up"] == [1.0]
    assert sorted(seen["Target health"]) == [1.0] * len(team_spec.services)


# ---- the section's errors, each at its file and line ------------------------------------

BASE = """apiVersion: lukhas-obs/v1
project: shop
links: {grafana_url: 'https://grafana.example'}
receivers: {quiet: {}}
severities:
  P3: {level: warning, receiver: quiet}
metrics:
  http_requests_total: {type: counter, labels: [code]}
  http_request_duration_seconds: {type: histogram, buckets: [0.1, 0.3, 1]}
  queue_depth: {type: gauge}
services:
  - name: checkout
    kind: application
    port: 9000
    slos:
      - name: errors
        objective: 99
        page: P3
        ticket: P3
        sli: {ratio: {errors: 'http_requests_total{code=~"5.."}', total: http_requests_total}}
  - {name: db, kind: database, port: 5432}
alerts:
  - {name: CheckoutDown, priority: P3, target_down: {services: [checkout]}, summary: down, dashboard: shop-main}
"""
# one dashboard with every kind of panel and every source, valid
KINDS = """dashboards:
  - uid: shop-main
    title: Shop
    variables: [service, instance]
    rows:
      - title: Every kind
        panels:
          - {title: Depth, kind: gauge, metric: queue_depth, thresholds: [{value: 10, color: red}]}
          - {title: Requests, kind: table, metric: http_requests_total, by: [code, job]}
          - {title: Latency, kind: stat, metric: http_request_duration_seconds, quantiles: [0.99]}
          - {title: Up, health: applications}
          - {title: Targets, health: targets}
          - {title: Over the hour, metric: http_requests_total, show: increase, range: 1h}
          - title: Two series
            series:
              - {metric: queue_depth, show: max, legend: max}
              - {expr: 'sum(rate(http_requests_total{job=~"$service"}[$__rate_interval]))', legend: rate}
      - red: [checkout]
      - slos: all
"""


def _section(rows: str, head: str = "") -> str:
    return f"""dashboards:
  - uid: shop-main
    title: Shop
{head}    rows:
{rows}"""


def _panel(text: str) -> str:
    return _section(f"      - title: Row\n        panels:\n          - {text}\n")


ONE = _panel("{title: X, metric: queue_depth}")


P = "dashboards[0].rows[0].panels[0]"
CASES = [
    # (dashboards section, marker on the line the problem is at, path, message)
    (_panel("{title: X, metric: nope_total}"), "nope_total", f"{P}.metric",
     "metric 'nope_total' is not in the metrics catalogue"),
    (_panel("{title: X, metric: queue_depth, show: rate}"), "queue_depth", f"{P}.show",
     "show: rate needs a counter; queue_depth is a gauge"),
    (_panel("{title: X, metric: http_request_duration_seconds, show: sum}"), "http_request", f"{P}.show",
     "show: sum needs a gauge; http_request_duration_seconds is a histogram"),
    (_panel("{title: X, metric: http_requests_total, by: [status]}"), "status", f"{P}.by[0]",
     "http_requests_total has no label 'status' (its labels: code, job, instance)"),
    (_panel("{title: X, metric: http_requests_total, quantiles: [0.9]}"), "quantiles", f"{P}.quantiles",
     "quantiles apply to show: quantiles, not rate"),
    (_panel("{title: X, metric: http_requests_total, range: 5m}"), "range", f"{P}.range",
     "range applies to show: increase, not rate"),
    (_panel("{title: X, role: requests}"), "role", f"{P}.role",
     "role requests reads gates.traffic.requests, which the spec does not set"),
    (_panel("{title: X, health: targets, legend: up}"), "legend", f"{P}.legend",
     "legend does not apply to a health query"),
    (_panel("""{title: X, expr: 'up{job=~"$team"}'}"""), "$team", f"{P}.expr",
     "$team is not a variable of this dashboard (its variables: none; and Grafana's own, such as "
     "$__rate_interval); Grafana would send it to Prometheus as written"),
    (_panel("{title: X, expr: 'rate(nope_total[$__rate_interval])'}"), "nope_total", f"{P}.expr",
     "metric 'nope_total' is not in the metrics catalogue"),
    (_panel("{title: X, expr: 'http_requests_total[5m]'}"), "expr", f"{P}.expr",
     "a panel's expr must give an instant vector, this gives a range vector; wrap the range in a function such as "
     "rate() or max_over_time()"),
    (_panel("""{title: X, expr: '"hello"'}"""), "expr", f"{P}.expr",
     "a panel's expr must give an instant vector, this gives a string"),
    (_panel("{title: X, expr: 'sort_by_label(queue_depth, \"job\")'}"), "expr", f"{P}.expr",
     "function sort_by_label() is experimental in Prometheus v2.53.2, the version the stack pins: it needs "
     "--enable-feature=promql-experimental-functions, which the stack does not set"),
    (_panel("{title: X, metric: queue_depth, health: targets}"), "queue_depth", P,
     "a panel's query is exactly one of metric, role, health and expr; found metric, health"),
    (_panel("{title: X}"), "title: X", P, "a panel's query is exactly one of metric, role, health and expr"),
    (_panel("{title: X, metric: queue_depth, series: [{metric: queue_depth}]}"), "series", P,
     "a panel gives its queries under series or on itself, not both (found metric beside series)"),
    (_panel("{title: X, metric: queue_depth, thresholds: [{value: 2, color: red}, {value: 1, color: orange}]}"),
     "thresholds", f"{P}.thresholds",
     "threshold values must be strictly increasing (each step colours values from its value up to the next)"),
    (_panel("{title: X, kind: table, metric: queue_depth, thresholds: [{value: 2, color: red}]}"),
     "thresholds", f"{P}.thresholds", "a table panel shows no thresholds"),
    (ONE + "  - {uid: shop-main, title: Again, rows: [{slos: all}]}\n",
     "Again", "dashboards[1].uid", "duplicate dashboard uid 'shop-main' (first at dashboards[0])"),
    (ONE.replace("shop-main", "shop-other"), "CheckoutDown",
     "alerts[0].dashboard", "dashboard 'shop-main' is not one the spec generates (dashboards: shop-other)"),
    ("", "CheckoutDown", "alerts[0].dashboard",
     "dashboard 'shop-main' is not one the spec generates (dashboards: shop-infrastructure, shop-services, "
     "shop-slos)"),
    (ONE.replace("      - title: Row\n", "      - title: Row\n        red: all\n"), "title: Row",
     "dashboards[0].rows[0]", "a row holds exactly one of panels, red and slos; found panels, red"),
    (_section("      - {red: [checkout, cart]}\n"),
     "cart", "dashboards[0].rows[0].red[1]", "service 'cart' is not defined under services"),
    (_section("      - {slos: [db]}\n"),
     "slos: [db]", "dashboards[0].rows[0].slos[0]", "service 'db' has no SLOs"),
    (_section("      - {slos: all}\n", head="    variables: [instance]\n"),
     "variables", "dashboards[0].variables",
     "the instance variable lists the instances of the chosen services: it needs the service variable"),
]


def _line(text: str, marker: str, after: int = 0) -> int:
    """The 1-based line of `marker`'s first occurrence at or after line `after`."""
    lines = text.splitlines()
    return next(i + 1 for i, line in enumerate(lines) if i >= after and marker in line)


@pytest.mark.parametrize("section, marker, path, message", CASES, ids=[c[2] + " " + c[3][:40] for c in CASES])
def test_a_dashboard_section_error_is_said_at_its_line(section, marker, path, message):
    text = BASE + section
    with pytest.raises(SpecError) as err:
        load_spec_text(text, "shop.yaml")
    # the alert sits in BASE; everything else in the section below it
    line = _line(text, marker, after=0 if path.startswith("alerts") else BASE.count("\n"))
    assert [str(p) for p in err.value.problems] == [f"shop.yaml:{line}: {path}: {message}"]


def test_a_project_too_long_for_the_derived_uids_is_said():
    project = "s" * 30
    text = BASE.replace("project: shop", f"project: {project}").replace(", dashboard: shop-main", "")
    with pytest.raises(SpecError) as err:
        load_spec_text(text, "shop.yaml")
    assert [str(p) for p in err.value.problems] == [
        f"shop.yaml:{_line(text, 'project:')}: project: the derived dashboard uid '{project}-infrastructure' is longer "
        "than Grafana's 40 characters; shorten the project name or write a dashboards: section with uids of your own"]
    load_spec_text(text.replace(project, project[:25]), "shop.yaml")  # 25 + len("-infrastructure") = 40


@pytest.mark.parametrize("section, path, start", [
    (_panel("{title: X, expr: 'sum(rate(http_requests_total[5m])'}"), f"{P}.expr", "invalid PromQL: "),
    (_panel("{title: X, metric: queue_depth, colour: red}"), f"{P}.colour",
     "unknown key (allowed here: base_color, by,"),
    (_panel("{title: X, metric: queue_depth, kind: heatmap}"), f"{P}.kind",
     "'heatmap' is not one of ['timeseries',"),
], ids=["bad-promql", "unknown-key", "unknown-kind"])
def test_parser_and_schema_errors_in_the_section_name_the_key(section, path, start):
    text = BASE + section
    with pytest.raises(SpecError) as err:
        load_spec_text(text, "shop.yaml")
    (problem,) = err.value.problems
    assert (problem.line, problem.path) == (_line(text, "title: X"), path)
    assert problem.message.startswith(start), problem.message


def test_every_source_and_kind_is_generated_as_the_spec_says():
    spec = load_spec_text(BASE + KINDS, "kinds.yaml")
    (main,) = spec.dashboards
    dash = build(spec, main)
    rows = _rows(dash)
    # the panel row, then the red and the slos rows, each titled by the service
    assert [p["title"] for p in dash["panels"] if p["type"] == "row"] == ["Every kind", "checkout", "checkout"]
    panels = {p["title"]: p for p in rows["Every kind"]}
    written = [p for row in main.rows if hasattr(row, "panels") for p in row.panels]
    assert [(p["type"], p["gridPos"]["w"]) for p in panels.values()] == [(p.kind, p.width) for p in written]
    assert panels["Requests"]["targets"][0] | {"expr": ""} == {
        "refId": "A", "datasource": {"type": "prometheus", "uid": "lukhas-prometheus"}, "expr": "",
        "legendFormat": "{{code}} {{job}}", "format": "table", "instant": True}
    assert [t["legendFormat"] for t in panels["Two series"]["targets"]] == ["max", "rate"]
    assert panels["Over the hour"]["targets"][0]["expr"] == "sum(increase(http_requests_total[1h]))"
    assert [v["name"] for v in dash["templating"]["list"]] == list(main.variables)
    for panel in dash["panels"]:
        for target in panel.get("targets", []):
            promql.parse(conv.GRAFANA_VARIABLE.sub("5m", target["expr"]))


def test_validate_says_a_dashboard_error_with_exit_2(tmp_path):
    spec = tmp_path / "shop.yaml"
    text = BASE + _panel("{title: X, metric: queue_depth, show: rate}")
    spec.write_text(text)
    r = run_cli("validate", "--spec", str(spec))
    assert r.returncode == 2, r.stdout + r.stderr
    assert "Traceback" not in r.stderr
    line = _line(text, "queue_depth", after=BASE.count("\n"))
    assert r.stderr.splitlines() == [f"{spec}:{line}: {P}.show: show: rate needs a counter; queue_depth is a gauge",
                                     "lukhas-obs: 1 problem in the spec; nothing was written."]


def test_a_dashboard_with_nothing_to_show_is_refused_and_not_linked():
    """No service with SLOs and no application service: a declared dashboard of SLO and RED rows
    would not be written, so it is refused at its line; a derived one is left out, and an alert
    may not link to it (both were accepted, and the alert linked to nothing: new-user audit)."""
    head = """apiVersion: lukhas-obs/v1
project: shop
receivers: {nobody: {}}
severities:
  P1: {level: critical, receiver: nobody, page: true}
services:
  - {name: db, kind: database, port: 5432}
alerts:
  - {name: DbDown, priority: P1, summary: down, target_down: {services: [db]}, dashboard: shop-x}
"""
    declared = head + "dashboards:\n  - {uid: shop-x, title: X, rows: [{slos: all}, {red: all}]}\n"
    with pytest.raises(SpecError) as err:
        load_spec_text(declared, "shop.yaml")
    assert [str(p) for p in err.value.problems] == [
        f"shop.yaml:{_line(declared, 'uid: shop-x')}: dashboards[0].rows: dashboard 'shop-x' would be empty (no "
        "service with SLOs, no application service for its rows), so it would not be written and links to it would "
        "lead nowhere"]
    derived = head.replace("shop-x", "shop-slos")
    with pytest.raises(SpecError) as err:
        load_spec_text(derived, "shop.yaml")
    assert [str(p) for p in err.value.problems] == [
        f"shop.yaml:{_line(derived, 'DbDown')}: alerts[0].dashboard: dashboard 'shop-slos' is not one the spec "
        "generates (dashboards: shop-infrastructure)"]
