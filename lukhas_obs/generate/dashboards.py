"""Grafana dashboards (runbook 4.2) and provisioning, from the spec's metric catalogue and the
SLO engine's recording rules.

Plain dicts in Grafana's current dashboard model (schemaVersion 39), validated in the tests
against Grafana's own JSON schema (grafana-foundation-sdk). A section whose metrics the spec does
not declare is left out, never filled with a placeholder. PromQL comes from lukhas_obs.promql;
`$service`, `$instance` and `$__rate_interval` are Grafana variables, and a dashboard whose panels
name a variable it does not define is a generate-time error (Grafana would send `$service` to
Prometheus as written: a panel that never shows data)."""

from __future__ import annotations

import json
import re

from lukhas_obs import conventions as conv
from lukhas_obs import promql
from lukhas_obs.errors import GenerateError
from lukhas_obs.model import Spec
from lukhas_obs.promql import Matcher, Selector

SCHEMA_VERSION = 39
PROM = {"type": "prometheus", "uid": "lukhas-prometheus"}
LOKI = {"type": "loki", "uid": "lukhas-loki"}
RATE = "$__rate_interval"
UIDS = {"overview": "lukhas-overview", "constellation": "lukhas-constellation",
        "external": "lukhas-external-api", "infrastructure": "lukhas-infrastructure", "slos": "lukhas-slos"}
# Grafana's variable syntax (variableRegex, public/app/features/variables/utils.ts): $var,
# [[var]] and [[var:format]] (deprecated), ${var}, ${var.field}, ${var:format}.
VARIABLE_REF = re.compile(r"\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?:\.([^:^\}]+))?(?::([^\}]+))?\}")
# Grafana's global variables, defined on every dashboard (and those of data links).
BUILTIN_VARIABLES = frozenset({
    "__interval", "__interval_ms", "__rate_interval", "__rate_interval_ms", "__range", "__range_s", "__range_ms",
    "__from", "__to", "__timezone", "__dashboard", "__org", "__user", "__name", "timeFilter", "__timeFilter",
    "__url_time_range", "__all_variables", "__series", "__field", "__value", "__data",
})


class _Layout:
    """Panels left to right, 24 columns wide, rows of a fixed height."""

    def __init__(self):
        self.panels: list[dict] = []
        self.x = self.y = 0
        self.row_h = 0
        self.next_id = 1

    def add(self, panel: dict, w: int = 12, h: int = 8) -> None:
        if self.x + w > 24:
            self.x, self.y = 0, self.y + self.row_h
            self.row_h = 0
        panel["id"] = self.next_id
        self.next_id += 1
        panel["gridPos"] = {"h": h, "w": w, "x": self.x, "y": self.y}
        self.panels.append(panel)
        self.x += w
        self.row_h = max(self.row_h, h)

    def row(self, title: str) -> None:
        if self.x:
            self.x, self.y = 0, self.y + self.row_h
        self.row_h = 0
        self.add({"type": "row", "title": title, "collapsed": False, "panels": []}, w=24, h=1)
        self.x, self.y, self.row_h = 0, self.y + 1, 0


def _thresholds(*steps: tuple[float, str], base: str = "green") -> dict:
    # Grafana treats the first step as the base whatever its value (it resets it to -Infinity on
    # load); Grafana 11.6's schema wants a number there and the current one accepts one, so the
    # base is written as 0 (every metric here is non-negative) rather than null.
    return {"mode": "absolute", "steps": [{"value": 0, "color": base}]
            + [{"value": v, "color": c} for v, c in steps]}


def _panel(kind: str, title: str, targets: list[tuple[str, str]], unit: str = "short", description: str = "",
           thresholds: dict | None = None, options: dict | None = None, ds: dict = PROM) -> dict:
    defaults: dict = {"unit": unit}
    if thresholds:
        defaults["thresholds"] = thresholds
        defaults["color"] = {"mode": "thresholds"}
    panel = {
        "type": kind, "title": title, "datasource": ds,
        "targets": [{"refId": chr(65 + i), "datasource": ds, "expr": expr, "legendFormat": legend}
                    for i, (expr, legend) in enumerate(targets)],
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": options or {},
    }
    if description:
        panel["description"] = description
    if thresholds and kind == "timeseries":
        defaults["custom"] = {"thresholdsStyle": {"mode": "line"}}  # the dict under fieldConfig
    return panel


def timeseries(title, targets, unit="short", **kw) -> dict:
    return _panel("timeseries", title, targets, unit, **kw)


def stat(title, targets, unit="short", **kw) -> dict:
    return _panel("stat", title, targets, unit, options={"colorMode": "background", "graphMode": "none",
                                                          "reduceOptions": {"calcs": ["lastNotNull"]}}, **kw)


def _var(name: str, query: str, label: str, multi: bool = True) -> dict:
    return {"type": "query", "name": name, "label": label, "datasource": PROM,
            "query": query, "refresh": 2, "multi": multi, "includeAll": True,
            "allValue": ".*", "current": {"selected": True, "text": "All", "value": "$__all"}, "sort": 1}


def _log_panels(spec: Spec, uid: str, layout: _Layout) -> None:
    """The spec's LogQL queries (runbook 4.4) that name this dashboard, as logs panels."""
    queries = [q for q in spec.logs.queries if q.dashboard == uid]
    if not queries:
        return
    layout.row("Logs")
    for q in queries:
        panel = _panel("logs", q.title, [(q.expr, "")], ds=LOKI, description=q.description,
                       options={"showTime": True, "wrapLogMessage": True, "sortOrder": "Descending"})
        del panel["fieldConfig"]
        panel["targets"][0].pop("legendFormat")
        layout.add(panel, w=24 if len(queries) == 1 else 12, h=8)


def _dashboard(spec: Spec, key: str, title: str, layout: _Layout, variables: list[dict], description: str) -> dict:
    _log_panels(spec, UIDS[key], layout)
    return {
        "uid": UIDS[key], "title": title,
        "description": f"{description} Generated by lukhas-obs from {spec.source}. DO NOT EDIT.",
        "tags": [spec.project, "lukhas-obs"], "timezone": "utc", "editable": False, "graphTooltip": 1,
        "time": {"from": "now-6h", "to": "now"}, "refresh": "30s", "schemaVersion": SCHEMA_VERSION,
        "panels": layout.panels,
        "templating": {"list": variables},
        "annotations": {"list": [{
            "name": "Firing alerts", "datasource": PROM, "enable": True, "iconColor": "red",
            "expr": 'ALERTS{alertstate="firing"}',
        }]},
        "links": [{"title": "LUKHAS dashboards", "type": "dashboards", "icon": "external link", "tooltip": "",
                   "tags": [spec.project], "asDropdown": True, "targetBlank": False, "includeVars": True,
                   "keepTime": True}],
    }


def _has(spec: Spec, *names: str) -> bool:
    return all(spec.metric(n) is not None for n in names)


def _apps(spec: Spec, metric: str) -> list[str]:
    m = spec.metric(metric)
    return list(m.services) if m and m.services else [s.name for s in spec.services if s.kind == "application"]


def _svc(metric: str) -> Selector:
    return Selector(metric).plus(Matcher("job", "=~", "$service"), Matcher("instance", "=~", "$instance"))


def _rate_by(metric_sel: Selector, by=("job",)) -> str:
    return promql.agg("sum", promql.rate(metric_sel, RATE), by)


def _quantiles(sel: Selector, by=("job",)) -> list[tuple[str, str]]:
    return [(promql.histogram_quantile(q, sel, RATE, by), f"p{int(q * 100)} {{{{job}}}}") for q in (0.5, 0.95, 0.99)]


def _service_var(spec: Spec, metric: str) -> dict:
    jobs = promql.any_of(_apps(spec, metric))
    return _var("service", f'label_values(up{{job=~"{jobs}"}}, job)', "Service")


def overview(spec: Spec) -> dict | None:
    if not _has(spec, "lukhas_http_requests_total"):
        return None
    g = spec.gates
    apps = _apps(spec, "lukhas_http_requests_total")
    lay = _Layout()
    lay.row("Health")
    up = Selector("up").plus(Matcher("job", "=~", promql.any_of(apps)))
    lay.add(stat("Service health", [(f"min by (job) ({up})", "{{job}}")], "none",
                 thresholds=_thresholds((1, "green"), base="red"),
                 description="1 when every target of the service is scraped (runbook 2.2)."), w=24, h=4)
    lay.row("Traffic and errors")
    total = _svc("lukhas_http_requests_total")
    lay.add(timeseries("Requests per second", [(_rate_by(total), "{{job}}")], "reqps"))
    if g.errors is not None:
        errors = g.errors.plus(Matcher("job", "=~", "$service"), Matcher("instance", "=~", "$instance"))
        budget = min((s.error_budget for s in spec.slos if s.sli.kind == "ratio"), default=0.001)
        lay.add(timeseries("Error ratio (5xx / all)", [(promql.ratio(_rate_by(errors), _rate_by(total)), "{{job}}")],
                           "percentunit", thresholds=_thresholds((budget, "orange"), (0.01, "red")),
                           description="A ratio of errors to requests, not the runbook's per-second rate."))
    if _has(spec, "lukhas_http_request_duration_seconds"):
        lay.row("Latency")
        thr = g.latency_threshold or 0.25
        lay.add(timeseries("Latency p50 / p95 / p99 (histogram)",
                           _quantiles(_svc("lukhas_http_request_duration_seconds_bucket")),
                           "s", thresholds=_thresholds((thr, "red"))), w=24)
    usage = (("lukhas_identity_active_sessions", "Active sessions", "short"),
             ("lukhas_memory_storage_bytes", "Memory storage used", "bytes"))
    extra = [(n, t, u) for n, t, u in usage if _has(spec, n)]
    if extra:
        lay.row("Usage")
        for name, title, unit in extra:
            lay.add(timeseries(title, [(f"sum by (job) ({Selector(name)})", "{{job}}")], unit))
    # the application targets only: with service=All, `up{job=~".*"}` would also offer the
    # exporters', Prometheus's and the blackbox probes' instances, where no panel has data
    app_targets = up.plus(Matcher("job", "=~", "$service"))
    instance = _var("instance", f"label_values({app_targets}, instance)", "Instance")
    return _dashboard(spec, "overview", "LUKHAS Overview", lay,
                      [_service_var(spec, "lukhas_http_requests_total"), instance],
                      "Service health, traffic, errors and latency of the LUKHAS services (runbook 4.2).")


def constellation(spec: Spec) -> dict | None:
    lay = _Layout()
    if _has(spec, "lukhas_identity_auth_attempts_total") or _has(spec, "lukhas_identity_auth_duration_seconds"):
        lay.row("Identity (ΛID)")
        if _has(spec, "lukhas_identity_auth_attempts_total"):
            lay.add(timeseries("Authentications by result",
                               [(_rate_by(Selector("lukhas_identity_auth_attempts_total"), ("result",)), "{{result}}")],
                               "ops"))
        if _has(spec, "lukhas_identity_auth_failures_total"):
            lay.add(timeseries("Authentication failures by reason",
                               [(_rate_by(Selector("lukhas_identity_auth_failures_total"), ("reason",)), "{{reason}}")],
                               "ops"))
        if _has(spec, "lukhas_identity_auth_duration_seconds"):
            # one service exports it and every panel here sums over all of its instances, as
            # the P2 alert does: no variable (the dashboard defines none)
            auth = _quantiles(Selector("lukhas_identity_auth_duration_seconds_bucket"), ())
            lay.add(timeseries("Auth latency", [(q, legend.replace(" {{job}}", "")) for q, legend in auth],
                               "s", thresholds=_thresholds((0.1, "orange"), (0.2, "red")),
                               description="Target p99 < 100 ms; the P2 alert fires above 200 ms."), w=24)
    if _has(spec, "lukhas_memory_folds_total") or _has(spec, "lukhas_memory_operations_duration_seconds"):
        lay.row("Memory")
        if _has(spec, "lukhas_memory_folds_total"):
            lay.add(timeseries("Folds created per second",
                               [(_rate_by(Selector("lukhas_memory_folds_total"), ()), "folds")], "ops"))
        if _has(spec, "lukhas_memory_operations_duration_seconds"):
            sel = Selector("lukhas_memory_operations_duration_seconds_bucket")
            lay.add(timeseries("Fold operation latency p99 by operation",
                               [(promql.histogram_quantile(0.99, sel, RATE, ("operation",)), "{{operation}}")], "s"))
    if _has(spec, "lukhas_consciousness_tick_rate"):
        lay.row("Consciousness")
        lay.add(timeseries("Tick rate", [("avg(lukhas_consciousness_tick_rate)", "tick rate")], "hertz",
                           thresholds=_thresholds((9.5, "green"), base="red"),
                           description="Target 10 Hz; the tick-rate SLO counts time below 9.5 Hz."))
        if _has(spec, "lukhas_consciousness_dream_active"):
            lay.add(stat("Dream state", [("max(lukhas_consciousness_dream_active)", "dreaming")], "bool_on_off"))
    if _has(spec, "lukhas_governance_audit_events_total"):
        lay.row("Governance")
        lay.add(timeseries("Audit events per second",
                           [(_rate_by(Selector("lukhas_governance_audit_events_total"), ()), "audit events")], "ops"))
        if _has(spec, "lukhas_governance_drift_detections_total"):
            drift = promql.agg("sum", promql.increase(Selector("lukhas_governance_drift_detections_total"), "1h"))
            lay.add(timeseries("Drift detections (1h)", [(drift, "drift detections")], "short",
                               thresholds=_thresholds((1, "orange"))))
    if not lay.panels:
        return None
    return _dashboard(spec, "constellation", "LUKHAS Constellation Framework", lay, [],
                      "Identity, memory, consciousness and governance (runbook 4.2).")


def external(spec: Spec) -> dict | None:
    providers = [(p, f"lukhas_{p}_requests_total", f"lukhas_{p}_request_duration_seconds")
                 for p in ("openai", "anthropic")]
    providers = [p for p in providers if _has(spec, p[1])]
    if not providers:
        return None
    lay = _Layout()
    for name, req, lat in providers:
        lay.row(name.capitalize())
        lay.add(timeseries(f"{name} requests by status", [(_rate_by(Selector(req), ("status",)), "{{status}}")],
                           "reqps"))
        if _has(spec, lat):
            lay.add(timeseries(f"{name} latency",
                               [(q, legend.replace(" {{job}}", ""))
                                for q, legend in _quantiles(Selector(lat + "_bucket"), ())], "s"))
        if _has(spec, f"lukhas_{name}_rate_limits_total"):
            lay.add(timeseries(f"{name} rate limits (HTTP 429)",
                               [(_rate_by(Selector(f"lukhas_{name}_rate_limits_total"), ()), "429/s")], "ops",
                               description="Expected under burst load (runbook 6.3, P4)."))
    lay.row("Combined")
    failed = Matcher("status", "=~", "5..|429")
    bad = " + ".join(f"({promql.agg('sum', promql.rate(Selector(req).plus(failed), RATE))} or vector(0))"
                     for _, req, _ in providers)
    every = " + ".join(f"({promql.agg('sum', promql.rate(Selector(req), RATE))} or vector(0))"
                       for _, req, _ in providers)
    lay.add(timeseries("External API error ratio (5xx and 429)", [(promql.ratio(bad, every), "error ratio")],
                       "percentunit", thresholds=_thresholds((0.01, "orange"), (0.05, "red"))), w=24)
    return _dashboard(spec, "external", "LUKHAS External API", lay, [],
                      "OpenAI and Anthropic volume, latency, rate limits and errors (runbook 4.2).")


def infrastructure(spec: Spec) -> dict | None:
    lay = _Layout()
    lay.row("Targets")
    # an exporter's own `up` says the exporter answered; for the service behind it, its "backend
    # up" metric (pg_up, ...) counts, and the exporter's `up` only when that is missing
    backed = [svc for svc in spec.services if svc.scrape and svc.exporter and svc.exporter.up]
    plain = Selector("up", (Matcher("job", "!~", promql.any_of(s.name for s in backed)),) if backed else ())
    health = [(f"min by (job) ({plain})", "{{job}}")]
    for svc in backed:
        up, backend = svc.down_selectors()
        health.append((f"min by (job) ({backend} or {up})", f"{{{{job}}}} ({backend.metric})"))
    lay.add(stat("Target health", health, "none", thresholds=_thresholds((1, "green"), base="red"),
                 description="1 = up. For a service behind an exporter (PostgreSQL, Redis, nginx) this is the "
                             "exporter's own view of it, not only whether the exporter answered."),
            w=24, h=5)
    if _has(spec, "pg_stat_database_numbackends"):
        lay.row("PostgreSQL")
        lay.add(timeseries("Connections", [("sum(pg_stat_database_numbackends)", "connections")]
                           + ([("max(pg_settings_max_connections)", "max_connections")]
                              if _has(spec, "pg_settings_max_connections") else []), "short"))
    if _has(spec, "lukhas_db_pool_connections_in_use", "lukhas_db_pool_connections_max"):
        lay.add(timeseries("Service connection pools in use",
                           [("max by (job) (lukhas_db_pool_connections_in_use / lukhas_db_pool_connections_max)",
                             "{{job}}")],
                           "percentunit", thresholds=_thresholds((0.8, "orange"), (1, "red")),
                           description="Runbook 6.3 scenario 3: alert at 80 %."))
    if _has(spec, "redis_memory_used_bytes"):
        lay.row("Redis")
        lay.add(timeseries("Memory used", [("sum(redis_memory_used_bytes)", "used")], "bytes"))
        if _has(spec, "redis_keyspace_hits_total", "redis_keyspace_misses_total"):
            hits = promql.agg("sum", promql.rate(Selector("redis_keyspace_hits_total"), RATE))
            misses = promql.agg("sum", promql.rate(Selector("redis_keyspace_misses_total"), RATE))
            # no lookups is no hit rate (empty), not 0/0 = NaN
            lay.add(timeseries("Hit rate", [(f"{hits} / ({hits} + {misses} > 0)", "hit rate")], "percentunit",
                               description="Empty while Redis serves no lookups."))
    lay.row("Processes")
    lay.add(timeseries("CPU by job", [(_rate_by(Selector("process_cpu_seconds_total"), ("job",)), "{{job}}")],
                       "percentunit",
                       description="From each target's process_* metrics; host CPU, memory and disk need "
                                   "node_exporter, which the spec does not declare."))
    lay.add(timeseries("Resident memory by job", [("sum by (job) (process_resident_memory_bytes)", "{{job}}")],
                       "bytes"))
    return _dashboard(spec, "infrastructure", "LUKHAS Infrastructure", lay, [],
                      "Targets, PostgreSQL, Redis and process resources (runbook 4.2).")


# Past this many services with SLOs, one static row each makes a dashboard of megabytes that no
# one scrolls: the SLO dashboard becomes one row repeated over the `service` variable.
STATIC_SLO_ROWS_UP_TO = 20


def slos(spec: Spec) -> dict | None:
    if not spec.slos:
        return None
    owners = [svc for svc in spec.services if svc.slos]
    description = "Per SLO: objective, SLI, error budget left, burn rate per alert window, firing alerts."
    if len(owners) > STATIC_SLO_ROWS_UP_TO:
        service_var = _var("service", "label_values(slo:objective:ratio, service)", "Service")
        return _dashboard(spec, "slos", "LUKHAS SLOs", _repeated_slo_rows(spec),
                          [service_var, _var("slo", 'label_values(slo:objective:ratio{service=~"$service"}, slo)',
                                             "SLO")], description)
    # One static row per service, each naming its service: a `service` variable could only blank
    # the other rows (choosing lukhas-core would leave every lukhas-identity panel empty).
    lay = _Layout()
    for svc in owners:
        lay.row(svc.name)
        for s in svc.slos:
            sli = (f"{s.calendar.unit} so far", conv.PERIOD_RATIO) if s.calendar else ("1h", conv.ratio_name("1h"))
            _slo_panels(lay, s.name, {"service": s.service, "slo": s.name}, s.target, s.period_text, s.error_budget,
                        conv.alert_windows(s), conv.burn_windows(s, "page")[0].factor, s.description, sli)
    return _dashboard(spec, "slos", "LUKHAS SLOs", lay, [], description)


def _slo_panels(lay: _Layout, title: str, labels: dict, target: float | None, period: str, budget: float | None,
                windows: list[str], page_factor: float, description: str = "",
                sli: tuple[str, str] = ("1h", conv.ratio_name("1h"))) -> None:
    """One SLO's row of panels. `labels` are exact values (static rows) or the `service` and
    `slo` variables (repeated rows). `sli` is (what, record) of the SLI panel: the last hour, or
    a calendar SLO's period so far."""

    def sel(name: str) -> Selector:
        return Selector(name).where(**labels)

    lay.add(stat(f"{title}: objective", [(str(sel(conv.OBJECTIVE)), "objective")], "percentunit",
                 description=description), w=4, h=5)
    sli_thresholds = _thresholds((target, "green"), base="red") if target is not None else None
    lay.add(stat(f"{title}: SLI ({sli[0]})", [(f"1 - {sel(sli[1])}", "SLI")], "percentunit",
                 thresholds=sli_thresholds), w=4, h=5)
    lay.add(stat(f"{title}: budget left ({period})", [(str(sel(conv.BUDGET_REMAINING)), "left")],
                 "percentunit", thresholds=_thresholds((0.25, "orange"), (0.5, "green"), base="red")), w=4, h=5)
    firing = Selector("ALERTS").where(alertstate="firing", **labels)
    lay.add(stat(f"{title}: alerts firing", [(f"count({firing}) or vector(0)", "firing")], "none",
                 thresholds=_thresholds((1, "red"))), w=4, h=5)
    # the budget is known per SLO in static rows; repeated rows read it from the objective record
    budget_expr = promql.number(budget) if budget is not None else f"(1 - {sel(conv.OBJECTIVE)})"
    lay.add(timeseries(f"{title}: burn rate per alert window",
                       [(f"{sel(conv.ratio_name(w))} / {budget_expr}", w) for w in windows],
                       "x", thresholds=_thresholds((1, "orange"), (page_factor, "red"))), w=8, h=5)


def _repeated_slo_rows(spec: Spec) -> _Layout:
    lay = _Layout()
    lay.row("$service")
    lay.panels[-1]["repeat"] = "service"
    first = spec.slos[0]
    windows = conv.alert_windows(first)
    start = len(lay.panels)
    _slo_panels(lay, "$slo", {"service": "$service", "slo": "$slo"}, None, "period", None, windows,
                conv.burn_windows(first, "page")[0].factor)
    for panel in lay.panels[start:]:
        panel["repeat"], panel["repeatDirection"] = "slo", "v"
    return lay


def variable_references(text: str) -> list[str]:
    """The variable names a query, title or link refers to, in Grafana's syntax."""
    return [m.group(1) or m.group(2) or m.group(4) for m in VARIABLE_REF.finditer(text)]


def _panels(panels: list[dict]):
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))  # a collapsed row holds its panels


def check_variables(dash: dict) -> None:
    """Every variable a panel's queries, title, links or repeat name, and every variable a
    variable's own query names, is one the dashboard defines or one of Grafana's own; otherwise
    GenerateError naming the dashboard and the panel."""
    uid = dash["uid"]
    defined = {v["name"] for v in dash["templating"]["list"]}
    names = ", ".join(f"${n}" for n in sorted(defined)) or "none"

    def check(where: str, what: str, text: str) -> None:
        for name in variable_references(text):
            if name not in defined and name not in BUILTIN_VARIABLES:
                raise GenerateError(f"dashboard {uid}: {where}: {what} uses ${name}, which the dashboard does not "
                                    f"define (its variables: {names}); Grafana would send it to the datasource as "
                                    "written and the panel would never show data")

    for var in dash["templating"]["list"]:
        check(f"variable {var['name']!r}", "its query", var.get("query", ""))
    for panel in _panels(dash["panels"]):
        where = f"panel {panel.get('title', '')!r}"
        check(where, "the title", panel.get("title", ""))
        for target in panel.get("targets", []):
            check(where, f"query {target.get('refId', '')}", target.get("expr", ""))
        for link in panel.get("links", []):
            check(where, "a link", f"{link.get('title', '')} {link.get('url', '')}")
        if "repeat" in panel:
            check(where, "the repeat", "$" + panel["repeat"])
    for link in dash.get("links", []):
        check("dashboard links", "a link", f"{link.get('title', '')} {link.get('url', '')}")
    for annotation in dash.get("annotations", {}).get("list", []):
        check(f"annotation {annotation.get('name', '')!r}", "its query", annotation.get("expr", ""))


def dashboards(spec: Spec) -> dict[str, dict]:
    out = {}
    for key, build in (("overview", overview), ("constellation", constellation), ("external", external),
                       ("infrastructure", infrastructure), ("slos", slos)):
        dash = build(spec)
        if dash is not None:
            check_variables(dash)
            out[UIDS[key]] = dash
    return out


def to_json(dashboard: dict) -> str:
    return json.dumps(dashboard, indent=2, ensure_ascii=False, sort_keys=False) + "\n"


def provisioning(spec: Spec) -> dict[str, dict]:
    ams = spec.prometheus.alertmanagers
    datasources = {"apiVersion": 1, "datasources": [
        {"name": "Prometheus", "type": "prometheus", "uid": PROM["uid"], "access": "proxy",
         "url": "http://prometheus:9090", "isDefault": True, "editable": False,
         "jsonData": {"timeInterval": spec.prometheus.scrape_interval}},
        {"name": "Loki", "type": "loki", "uid": LOKI["uid"], "access": "proxy", "url": "http://loki:3100",
         "editable": False},
        {"name": "Jaeger", "type": "jaeger", "uid": "lukhas-jaeger", "access": "proxy", "url": "http://jaeger:16686",
         "editable": False},
        {"name": "Alertmanager", "type": "alertmanager", "uid": "lukhas-alertmanager", "access": "proxy",
         "url": f"http://{ams[0]}", "editable": False, "jsonData": {"implementation": "prometheus"}},
    ]}
    providers = {"apiVersion": 1, "providers": [
        {"name": spec.project, "folder": spec.project.upper(), "type": "file", "disableDeletion": True,
         "allowUiUpdates": False, "updateIntervalSeconds": 60,
         "options": {"path": "/var/lib/grafana/dashboards", "foldersFromFilesStructure": False}}]}
    return {"datasources/datasources.yml": datasources, "dashboards/dashboards.yml": providers}
