"""The defaults of the spec's optional keys live in one place: the model (the dataclass field a key
fills, or a model constant). The loader leaves a key that the spec omits to that default, and
`schema()` writes the same value as the key's JSON Schema `default` (what `lukhas-obs schema`
prints, for editors). This table says which model field each key fills; the tests check that a
spec leaving every key out loads to exactly the schema's defaults.

Keys without an entry have no single value to show: the absent ones (None in the model, such as
a service's port), those computed from other keys (a service's host is its name, an exporter's up
metric follows its type, the images come from data/images.yaml), and lists of objects; the tests
name each with its reason. (The page and ticket alerts of an SLO share one schema definition, so
their labels and annotations defaults are written once, through the page's path.)"""

from __future__ import annotations

import dataclasses
from types import ModuleType

from lukhas_obs import model as m

Owner = type | ModuleType

PANEL = ("dashboards", "*", "rows", "*", "panels", "*")

# spec key path ("*" for any list item or map value) -> (dataclass, field) or (model module, constant)
FIELDS: dict[tuple[str, ...], tuple[Owner, str]] = {
    ("environment",): (m.Spec, "environment"),
    **{("prometheus", key): (m.PrometheusSettings, key) for key in (
        "scrape_interval", "scrape_timeout", "evaluation_interval", "slo_evaluation_interval",
        "slo_long_evaluation_interval", "slo_absent_for", "external_labels", "blackbox_exporter",
        "alertmanagers")},
    ("alertmanager", "resolve_timeout"): (m.AlertmanagerSettings, "resolve_timeout"),
    ("alertmanager", "group_by"): (m.AlertmanagerSettings, "group_by"),
    ("alertmanager", "business_hours", "location"): (m.BusinessHours, "location"),
    **{("severities", "*", key): (m.Severity, key) for key in (
        "description", "page", "group_wait", "group_interval", "repeat_interval", "business_hours_only")},
    **{("metrics", "*", key): (m.Metric, key) for key in ("help", "unit", "labels", "services")},
    **{("services", "*", key): (m.Service, key) for key in ("description", "metrics_path", "scrape")},
    ("services", "*", "exporter", "metrics_path"): (m.Exporter, "metrics_path"),
    ("services", "*", "slos", "*", "period"): (m, "SLO_DEFAULT_PERIOD"),
    ("services", "*", "slos", "*", "period", "timezone"): (m.Calendar, "timezone"),
    **{("services", "*", "slos", "*", key): (m.SLO, key) for key in ("description", "labels", "annotations")},
    ("services", "*", "slos", "*", "sli", "availability", "source"): (m.AvailabilitySLI, "source"),
    **{("services", "*", "slos", "*", "alerts", "page", key): (m.SLOAlert, key) for key in ("labels", "annotations")},
    ("alerts", "*", "description"): (m.Alert, "description"),
    **{("alerts", "*", kind, "window"): (m, "ALERT_DEFAULT_WINDOW") for kind in ("error_ratio", "quantile", "rate")},
    ("gates", "window"): (m.GateSettings, "window"),
    ("gates", "min_requests"): (m.GateSettings, "min_requests"),
    ("gates", "max_staleness"): (m.GateSettings, "max_staleness"),
    ("gates", "smoke", "tolerance"): (m.GateSettings, "smoke_tolerance"),
    ("gates", "canary", "label"): (m.GateSettings, "canary_label"),
    ("gates", "canary", "canary"): (m.GateSettings, "canary_value"),
    ("gates", "canary", "baseline"): (m.GateSettings, "baseline_value"),
    ("gates", "canary", "min_requests"): (m.GateSettings, "canary_min_requests"),
    ("gates", "canary", "confidence"): (m.GateSettings, "confidence"),
    ("gates", "canary", "min_relative_increase"): (m.GateSettings, "min_relative_increase"),
    ("gates", "canary", "min_absolute_increase"): (m.GateSettings, "min_absolute_increase"),
    ("gates", "canary", "rule_out"): (m.GateSettings, "rule_out"),
    ("gates", "canary", "max_age"): (m.GateSettings, "canary_max_age"),
    ("gates", "canary", "steps"): (m.GateSettings, "steps"),
    ("gates", "canary", "analysis", "interval"): (m.GateSettings, "analysis_interval"),
    ("gates", "canary", "analysis", "count"): (m.GateSettings, "analysis_count"),
    ("gates", "canary", "analysis", "failure_limit"): (m.GateSettings, "analysis_failure_limit"),
    ("gates", "serve", "timeout"): (m.GateSettings, "serve_timeout"),
    ("gates", "rollback", "error_ratio"): (m.GateSettings, "rollback_error_ratio"),
    ("gates", "rollback", "error_for"): (m.GateSettings, "rollback_error_for"),
    ("gates", "rollback", "services_down_ratio"): (m.GateSettings, "services_down_ratio"),
    ("gates", "rollback", "p99_seconds"): (m.GateSettings, "p99_seconds"),
    ("gates", "rollback", "p99_for"): (m.GateSettings, "p99_for"),
    ("gates", "rollback", "pool_saturation"): (m.GateSettings, "pool_saturation"),
    ("gates", "budget", "min_remaining"): (m.GateSettings, "budget_min_remaining"),
    ("gates", "budget", "min_coverage"): (m.GateSettings, "budget_min_coverage"),
    ("logs", "retention"): (m.LogsSettings, "retention"),
    ("logs", "queries", "*", "description"): (m.LogQuery, "description"),
    ("logs", "alerts", "*", "description"): (m.Alert, "description"),
    ("stack", "bind_address"): (m.StackSettings, "bind_address"),
    ("stack", "secrets_dir"): (m.StackSettings, "secrets_dir"),
    **{("kubernetes", key): (m.KubernetesSettings, key) for key in (
        "namespace", "labels", "dashboard_label", "metrics_port_name")},
    **{("ruler", key): (m.RulerSettings, key) for key in (
        "max_rules_per_group", "max_groups_per_tenant")},
    **{("dashboards", "*", key): (m.Dashboard, key) for key in ("description", "variables")},
    **{(*PANEL, key): (m.Panel, key) for key in (
        "kind", "description", "thresholds", "base_color", "width", "height")},
    **{(*query, key): (m.MetricSeries, key) for query in (PANEL, PANEL + ("series", "*"))
       for key in ("by", "quantiles", "range")},
}


def default(owner: Owner, name: str):
    """The model's default: a dataclass field's default (or its factory's value), or a constant."""
    if isinstance(owner, ModuleType):
        return getattr(owner, name)
    for f in dataclasses.fields(owner):
        if f.name == name:
            if f.default is not dataclasses.MISSING:
                return f.default
            if f.default_factory is not dataclasses.MISSING:
                return f.default_factory()
            raise LookupError(f"{owner.__name__}.{name} has no default")
    raise LookupError(f"{owner.__name__} has no field {name}")


def present(body: dict, *keys: str) -> dict:
    """The keys the spec gives, for a model constructor: an absent key keeps the model's default."""
    return {key: body[key] for key in keys if key in body}


def as_json(value, schema_type: str | None):
    """A model default as the spec writes it: a tuple of pairs is a mapping, a tuple a list."""
    if isinstance(value, tuple):
        if schema_type == "object":
            return {k: as_json(v, None) for k, v in value}
        return [as_json(v, None) for v in value]
    return value


def property_schema(schema: dict, path: tuple[str, ...]) -> dict:
    """The schema node of the key at `path` (a property, not the shared definition it refers to:
    a `default` written there does not leak to the other users of that definition)."""
    node = schema
    for i, key in enumerate(path):
        node = _resolve(schema, node)
        if key == "*":
            nxt = node.get("items") if node.get("type") == "array" else node.get("additionalProperties")
        else:
            nxt = node.get("properties", {}).get(key)
            if nxt is None:   # a key of one of several shapes (an alert's kinds)
                nxt = next((s["properties"][key] for s in node.get("oneOf", []) + node.get("anyOf", [])
                            if key in s.get("properties", {})), None)
        if not isinstance(nxt, dict):
            raise LookupError(f"the schema has no {'.'.join(path[:i + 1])}")
        node = nxt
    return node


def _resolve(schema: dict, node: dict) -> dict:
    while "$ref" in node and node["$ref"].startswith("#/"):
        target = schema
        for part in node["$ref"][2:].split("/"):
            target = target[part]
        node = target
    return node


def with_defaults(schema: dict) -> dict:
    """`schema` (changed in place) with a `default` on every key of FIELDS, taken from the model."""
    for path, (owner, name) in FIELDS.items():
        node = property_schema(schema, path)
        node["default"] = as_json(default(owner, name), _resolve(schema, node).get("type"))
    return schema
