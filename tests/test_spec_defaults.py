"""`lukhas-obs schema` carries the defaults, and they are the model's: a spec that leaves every
optional key out loads to exactly the values the schema's `default`s announce (so a loader that
spelled its own default would fail here), and every optional key either has a `default` or is
listed below with the reason it has none."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from lukhas_obs import cli
from lukhas_obs import model as m
from lukhas_obs.spec.defaults import FIELDS, as_json, property_schema
from lukhas_obs.spec.loader import load_spec_text

# Every optional key given its container, none of the optional keys FIELDS lists.
MINIMAL = """
apiVersion: lukhas-obs/v1
project: shop
alertmanager:
  business_hours: {weekdays: ["monday:friday"], times: [{start: "09:00", end: "17:00"}]}
receivers:
  quiet: {}
severities:
  P1: {level: critical, receiver: quiet}
metrics:
  http_requests_total: {type: counter}
  http_request_duration_seconds: {type: histogram, buckets: [0.1, 1]}
services:
  - name: checkout
    kind: application
    port: 9000
    slos:
      - name: up
        objective: 99
        sli: {availability: {}}
        page: P1
        ticket: P1
        alerts: {page: {}}
      - {name: month, objective: 99, sli: {availability: {}}, page: P1, ticket: P1, period: {calendar: month}}
  - name: db
    kind: database
    exporter: {host: db-exporter, port: 9187}
alerts:
  - {name: Errors, priority: P1, summary: s, error_ratio: {errors: 'http_requests_total{code="500"}',
                                                            total: http_requests_total, above: 0.1}}
  - {name: Slow, priority: P1, summary: s, quantile: {metric: http_request_duration_seconds, quantile: 0.99, above: 1}}
  - {name: Busy, priority: P1, summary: s, rate: {metric: http_requests_total, above: 100}}
gates:
  smoke: {}
  canary: {analysis: {}}
  serve: {}
  rollback: {}
  budget: {}
logs:
  queries: [{name: errors, title: Errors, expr: '{job="checkout"} |= "error"'}]
  alerts: [{name: LogErrors, priority: P1, summary: s, expr: 'sum(rate({job="checkout"}[5m])) > 1'}]
stack: {}
dashboards:
  - uid: shop-d
    title: D
    rows:
      - title: r
        panels:
          - {title: latency, metric: http_request_duration_seconds, show: quantiles}
          - {title: errors, series: [{metric: http_requests_total, show: increase}]}
links: {}
kubernetes: {}
ruler: {}
"""

# Optional keys without a `default`, and why.
NO_DEFAULT = {
    **dict.fromkeys(["network", "prometheus.external_url", "alertmanager.external_url", "alertmanager.default_priority",
                     "receivers.*.pagerduty.url", "severities.*.notify_within", "services.*.port",
                     "services.*.health", "services.*.metrics_port", "services.*.exporter.target",
                     "services.*.slos.*.min_events", "alerts.*.for", "alerts.*.service", "alerts.*.runbook",
                     "alerts.*.dashboard", "alerts.*.service_label", "gates.serve.url", "logs.queries.*.dashboard",
                     "logs.alerts.*.for", "logs.alerts.*.service", "logs.alerts.*.service_label",
                     "logs.alerts.*.runbook", "logs.alerts.*.dashboard", "alerts.*.quantile.selector",
                     "services.*.slos.*.sli.latency.selector", "services.*.slos.*.sli.threshold.min",
                     "services.*.slos.*.sli.threshold.max"], "absent unless given"),
    **dict.fromkeys([f"gates.traffic.{k}" for k in ("requests", "errors", "latency", "latency_threshold",
                                                     "pool_in_use", "pool_max")], "absent unless given"),
    **dict.fromkeys([f"services.*.slos.*.sli.ratio.{k}" for k in ("errors", "good", "total", "errors_query",
                                                                   "good_query", "total_query")],
                    "one of a choice of keys, none a default"),
    "alerts.*.expr": "one of a choice of alert kinds",
    "services.*.host": "the service's name",
    "services.*.exporter.up": "the metric of the exporter's type (pg_up, redis_up, nginx_up)",
    "gates.canary.analysis.inconclusive_limit": "count - 1",
    "stack.images": "the pinned images of data/images.yaml, each replaceable",
    "services.*.slos.*.alerts.page.name": "SLOFastBurn for the page, SLOSlowBurn for the ticket: one shared definition",
    "services.*.slos.*.alerts.page.disable": "false (the model holds `enabled`)",
    "receivers": "a map of names", "metrics": "a map of names",
    **dict.fromkeys(["services.*.slos", "alerts", "logs.queries", "logs.alerts", "logs.records"],
                    "a list of objects"),
    "links.runbook_base_url": "absent unless given (an empty URL is no value: an editor must not insert it)",
    "links.grafana_url": "absent unless given (an empty URL is no value: an editor must not insert it)",
    "metrics.*.buckets": "a histogram's own (needed there, refused elsewhere)",
    "services.*.exporter.type": "absent unless given",
    "ruler.source_tenants": "absent unless given (an empty list is refused)",
    "dashboards": "the RED and SLO dashboards derived from the spec (a list of objects)",
    "services.*.slos.*.period.calendar": "one of a choice of period forms",
    **dict.fromkeys(["dashboards.*.rows.*.title", "dashboards.*.rows.*.panels", "dashboards.*.rows.*.red",
                     "dashboards.*.rows.*.slos"], "one of a choice of row kinds"),
    **dict.fromkeys([f"dashboards.*.rows.*.panels.*.{where}{key}" for where in ("", "series.*.")
                     for key in ("metric", "role", "health", "expr")] + ["dashboards.*.rows.*.panels.*.series"],
                    "one of a choice of query kinds"),
    **dict.fromkeys([f"dashboards.*.rows.*.panels.*.{where}show" for where in ("", "series.*.")],
                    "what suits the metric's type, none a default"),
    **dict.fromkeys([f"dashboards.*.rows.*.panels.*.{where}legend" for where in ("", "series.*.")],
                    "the `by` labels, or the metric's name"),
    "dashboards.*.rows.*.panels.*.unit": "from the series (reqps, s, percentunit ...)",
}


def _locate(spec: m.Spec, path: tuple[str, ...]) -> list:
    """The model values the key at `path` became in the MINIMAL spec."""
    owner, name = FIELDS[path]
    if owner is m:   # the model's constants for SLO and alert keys
        if name == "ALERT_DEFAULT_WINDOW":
            kind = {"error_ratio": m.ErrorRatio, "quantile": m.QuantileAbove, "rate": m.RateAbove}[path[2]]
            return [a.condition.window for a in spec.alerts if isinstance(a.condition, kind)]
        return [slo.period for slo in spec.slos]
    exporters = [s.exporter for s in spec.services if s.exporter]
    hours = spec.alertmanager.business_hours
    panels = [p for d in spec.dashboards for row in d.rows if isinstance(row, m.PanelRow) for p in row.panels]
    instances = {m.Spec: [spec], m.PrometheusSettings: [spec.prometheus], m.AlertmanagerSettings: [spec.alertmanager],
                 m.BusinessHours: [hours], m.Severity: list(spec.severities),
                 m.Metric: [metric for metric in spec.metrics if metric.type != "histogram"],   # no buckets given
                 m.Service: list(spec.services), m.Exporter: exporters, m.GateSettings: [spec.gates],
                 m.LogsSettings: [spec.logs], m.LogQuery: list(spec.logs.queries), m.StackSettings: [spec.stack],
                 m.KubernetesSettings: [spec.kubernetes], m.RulerSettings: [spec.ruler], m.SLO: list(spec.slos),
                 m.AvailabilitySLI: [s.sli for s in spec.slos if isinstance(s.sli, m.AvailabilitySLI)],
                 m.SLOAlert: [s.page_alert for s in spec.slos],
                 m.Alert: list(spec.alerts if path[0] == "alerts" else spec.logs.alerts),
                 m.Dashboard: list(spec.dashboards), m.Panel: panels,
                 m.Calendar: [s.calendar for s in spec.slos if s.calendar],
                 m.MetricSeries: [panels[0].series[0] if "series" not in path else panels[1].series[0]]}[owner]
    return [getattr(instance, name) for instance in instances]


@pytest.fixture(scope="module")
def printed():
    r = CliRunner().invoke(cli.main, ["schema"])
    assert r.exit_code == 0, r.output
    return json.loads(r.output)


@pytest.mark.parametrize("path", sorted(FIELDS), ids=".".join)
def test_leaving_a_key_out_gives_the_schemas_default(printed, path):
    spec = load_spec_text(MINIMAL, "minimal.yaml")
    node = property_schema(printed, path)
    assert "default" in node, f"{'.'.join(path)} has no default in `lukhas-obs schema`"
    values = _locate(spec, path)
    assert values, f"the minimal spec has nothing at {'.'.join(path)}"
    kind = node.get("type") or printed["$defs"].get(node.get("$ref", "#/$defs/").removeprefix("#/$defs/"), {}).get(
        "type")
    assert [as_json(v, kind) for v in values] == [node["default"]] * len(values)


def test_the_schemas_defaults_are_valid_values(printed):
    """An editor inserts a default as it is: each one is accepted where it stands."""
    import jsonschema

    spec = json.loads(json.dumps(printed))
    for path in FIELDS:
        node = property_schema(spec, path)
        target = {"$defs": spec["$defs"], **node}
        target.pop("default")
        errors = list(jsonschema.Draft202012Validator(target).iter_errors(node["default"]))
        assert errors == [], f"{'.'.join(path)}: {errors[0].message}"


def _optional_leaves(s: dict) -> list[str]:
    """Every optional key holding a value (not an object of keys), as a path with * for items."""
    def resolve(node):
        while "$ref" in node:
            target = s
            for part in node["$ref"][2:].split("/"):
                target = target[part]
            node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return node

    out: list[str] = []

    def walk(node, path):
        node = resolve(node)
        props = dict(node.get("properties", {}))
        for alternative in node.get("oneOf", []) + node.get("anyOf", []):
            props.update(alternative.get("properties", {}))
        for key, sub in props.items():
            full = path + (key,)
            if ".".join(full).startswith(("services.*.slos.*.alerts.ticket",)):
                continue   # the same definition as the page's
            body = resolve(sub)
            if key not in node.get("required", []) and "properties" not in body:
                out.append(".".join(full))
            walk(sub, full)
        if isinstance(node.get("items"), dict):
            walk(node["items"], path + ("*",))
        if isinstance(node.get("additionalProperties"), dict):
            walk(node["additionalProperties"], path + ("*",))

    walk(s, ())
    return out


def test_every_optional_key_has_a_default_or_a_reason(printed):
    defaults = {".".join(path) for path in FIELDS}
    unexplained = [p for p in _optional_leaves(printed) if p not in defaults and p not in NO_DEFAULT
                   and not p.endswith("*")]
    assert unexplained == []
    assert sorted(set(NO_DEFAULT) & defaults) == []
