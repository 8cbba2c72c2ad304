"""Grafana dashboards (runbook 4.2) and provisioning, from the spec's `dashboards:` section (or
the derived defaults, lukhas_obs.spec.dashboards), the metric catalogue, the gate's traffic roles
and the SLO engine's recording rules.

Plain dicts in Grafana's current dashboard model (schemaVersion 39), validated in the tests
against Grafana's own JSON schema (grafana-foundation-sdk). PromQL comes from lukhas_obs.promql;
`$service`, `$instance` and `$__rate_interval` are Grafana variables, and a dashboard whose panels
name a variable it does not define is a generate-time error (Grafana would send `$service` to
Prometheus as written: a panel that never shows data)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable

from lukhas_obs import conventions as conv
from lukhas_obs import model as m
from lukhas_obs import promql
from lukhas_obs.errors import GenerateError
from lukhas_obs.model import SLO, Spec
from lukhas_obs.promql import Matcher, Selector
from lukhas_obs.spec.dashboards import red_services, slo_owners

SCHEMA_VERSION = 39
PROM = {"type": "prometheus", "uid": "lukhas-prometheus"}
LOKI = {"type": "loki", "uid": "lukhas-loki"}
RATE = "$__rate_interval"


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


def _dashboard(spec: Spec, d: m.Dashboard, layout: _Layout, variables: list[dict]) -> dict:
    _log_panels(spec, d.uid, layout)
    generated = f"Generated by lukhas-obs from {spec.source}. DO NOT EDIT."
    return {
        "uid": d.uid, "title": d.title,
        "description": f"{d.description} {generated}" if d.description else generated,
        "tags": [spec.project, "lukhas-obs"], "timezone": "utc", "editable": False, "graphTooltip": 1,
        "time": {"from": "now-6h", "to": "now"}, "refresh": "30s", "schemaVersion": SCHEMA_VERSION,
        "panels": layout.panels,
        "templating": {"list": variables},
        "annotations": {"list": [{
            "name": "Firing alerts", "datasource": PROM, "enable": True, "iconColor": "red",
            "expr": 'ALERTS{alertstate="firing"}',
        }]},
        "links": [{"title": f"{spec.project.upper()} dashboards", "type": "dashboards", "icon": "external link",
                   "tooltip": "", "tags": [spec.project], "asDropdown": True, "targetBlank": False,
                   "includeVars": True, "keepTime": True}],
    }


def _exports(spec: Spec, svc: m.Service, name: str) -> bool:
    """The service exports the catalogue metric (a metric naming no services is every
    application's)."""
    metric = spec.metric(name)
    if metric is None:
        return False
    return svc.name in metric.services if metric.services else svc.kind == "application"


def _apps(spec: Spec) -> list[str]:
    """The services the `service` variable and the applications' health offer: those exporting
    the gate's request metric, or every application service."""
    req = spec.gates.requests
    return [svc.name for svc in spec.services
            if (_exports(spec, svc, req.metric) if req is not None else svc.kind == "application")]


def _rate_by(metric_sel: Selector, by=("job",)) -> str:
    return promql.agg("sum", promql.rate(metric_sel, RATE), by)


def _quantiles(sel: Selector, by=("job",), qs=(0.5, 0.95, 0.99)) -> list[tuple[str, str]]:
    """One query per quantile; the legend names the quantile and the `by` labels (only the
    labels when there is one quantile)."""
    labels = " ".join(f"{{{{{label}}}}}" for label in by)
    out = []
    for q in qs:
        legend = labels if len(qs) == 1 and labels else " ".join(filter(None, (f"p{promql.number(q * 100)}", labels)))
        out.append((promql.histogram_quantile(q, sel, RATE, tuple(by)), legend))
    return out


def _filters(d: m.Dashboard) -> tuple[Matcher, ...]:
    """The matchers a role's series takes from the dashboard's variables."""
    return tuple(Matcher(label, "=~", f"${var}") for var, label in (("service", "job"), ("instance", "instance"))
                 if var in d.variables)


def _variables(spec: Spec, d: m.Dashboard) -> list[dict]:
    if not d.variables:
        return []
    up = Selector("up").plus(Matcher("job", "=~", promql.any_of(_apps(spec))))
    out = []
    if "service" in d.variables:
        out.append(_var("service", f"label_values({up}, job)", "Service"))
    if "instance" in d.variables:
        # the application targets only: with service=All, `up{job=~".*"}` would also offer the
        # exporters', Prometheus's and the blackbox probes' instances, where no panel has data
        out.append(_var("instance", f"label_values({up.plus(Matcher('job', '=~', '$service'))}, instance)",
                        "Instance"))
    return out


GAUGE_UNITS = {"seconds": "s", "bytes": "bytes", "hertz": "hertz", "ratio": "percentunit"}
ROLE_UNITS = {"requests": "reqps", "errors": "reqps", "error_ratio": "percentunit", "latency": "s",
              "pool": "percentunit"}


def _metric_targets(spec: Spec, s: m.MetricSeries) -> list[tuple[str, str]]:
    sel = Selector(s.metric)
    legend = s.legend if s.legend is not None else (" ".join(f"{{{{{label}}}}}" for label in s.by) or s.metric)
    if s.show == "quantiles":
        return _quantiles(Selector(s.metric + "_bucket"), s.by, s.quantiles)
    if s.show == "rate":
        return [(_rate_by(sel, s.by), legend)]
    if s.show == "increase":
        return [(promql.agg("sum", promql.increase(sel, s.range), s.by), legend)]
    return [(promql.agg(s.show, str(sel), s.by), legend)]


def _role_targets(spec: Spec, d: m.Dashboard, role: str) -> list[tuple[str, str]]:
    g, where = spec.gates, _filters(d)
    match role:
        case "requests" if g.requests is not None:
            return [(_rate_by(g.requests.plus(*where)), "{{job}}")]
        case "errors" if g.errors is not None:
            return [(_rate_by(g.errors.plus(*where)), "{{job}}")]
        case "error_ratio" if g.errors is not None and g.requests is not None:
            return [(promql.ratio(_rate_by(g.errors.plus(*where)), _rate_by(g.requests.plus(*where))), "{{job}}")]
        case "latency" if g.latency is not None:
            return _quantiles(Selector(g.latency + "_bucket").plus(*where))
        case "pool" if g.pool_in_use is not None and g.pool_max is not None:
            ratio = f"{Selector(g.pool_in_use).plus(*where)} / {Selector(g.pool_max).plus(*where)}"
            return [(promql.agg("max", ratio, ("job",)), "{{job}}")]
    # the loader refuses a role whose gates.traffic settings are missing
    raise GenerateError(f"dashboard {d.uid}: role {role} reads a gates.traffic setting the spec does not set")


def _health_targets(spec: Spec, scope: str) -> list[tuple[str, str]]:
    if scope == "applications":
        up = Selector("up").plus(Matcher("job", "=~", promql.any_of(_apps(spec))))
        return [(f"min by (job) ({up})", "{{job}}")]
    # an exporter's own `up` says the exporter answered; for the service behind it, its "backend
    # up" metric (pg_up, ...) counts, and the exporter's `up` only when that is missing
    backed = [svc for svc in spec.services if svc.scrape and svc.exporter and svc.exporter.up]
    plain = Selector("up", (Matcher("job", "!~", promql.any_of(s.name for s in backed)),) if backed else ())
    health = [(f"min by (job) ({plain})", "{{job}}")]
    for svc in backed:
        up, backend = svc.down_selectors()
        health.append((f"min by (job) ({backend} or {up})", f"{{{{job}}}} ({backend.metric})"))
    return health


def _targets(spec: Spec, d: m.Dashboard, series: m.Series) -> list[tuple[str, str]]:
    match series:
        case m.MetricSeries():
            return _metric_targets(spec, series)
        case m.RoleSeries(role=role):
            return _role_targets(spec, d, role)
        case m.HealthSeries(scope=scope):
            return _health_targets(spec, scope)
        case m.ExprSeries(expr=expr, legend=legend):
            return [(expr, legend)]
    raise AssertionError(series)


def _unit(spec: Spec, series: m.Series) -> str:
    match series:
        case m.MetricSeries(show="rate"):
            return "ops"
        case m.MetricSeries(show="quantiles"):
            return "s"
        case m.MetricSeries(show="increase"):
            return "short"
        case m.MetricSeries(metric=name):
            metric = spec.metric(name)
            return GAUGE_UNITS.get(metric.unit, "short") if metric else "short"
        case m.RoleSeries(role=role):
            return ROLE_UNITS[role]
        case m.HealthSeries():
            return "none"
    return "short"


def _render(spec: Spec, d: m.Dashboard, p: m.Panel) -> dict:
    targets = [t for s in p.series for t in _targets(spec, d, s)]
    thresholds = _thresholds(*((t.value, t.color) for t in p.thresholds), base=p.base_color) if p.thresholds else None
    unit = p.unit or _unit(spec, p.series[0])
    if p.kind == "stat":
        return stat(p.title, targets, unit, description=p.description, thresholds=thresholds)
    if p.kind == "gauge":
        return _panel("gauge", p.title, targets, unit, description=p.description, thresholds=thresholds,
                      options={"reduceOptions": {"calcs": ["lastNotNull"]}, "showThresholdMarkers": True})
    if p.kind == "table":
        panel = _panel("table", p.title, targets, unit, description=p.description, options={"showHeader": True})
        for target in panel["targets"]:  # one row per series, now
            target.update({"format": "table", "instant": True})
        return panel
    return timeseries(p.title, targets, unit, description=p.description, thresholds=thresholds)


def _red_sources(spec: Spec, svc: m.Service) -> tuple:
    """Which series a service's RED panels show: the gate's traffic roles when the service
    exports those metrics, else its first ratio and latency SLIs, else (latency) the first
    histogram it exports. (total, errors, good, error budget, histogram, latency threshold)."""
    g = spec.gates
    ratios = [(s, s.sli) for s in svc.slos if isinstance(s.sli, m.RatioSLI)]
    budget = ratios[0][0].error_budget if ratios else None
    total = errors = good = None
    if g.requests is not None and _exports(spec, svc, g.requests.metric):
        total, errors = g.requests, g.errors
    elif ratios:
        ratio = ratios[0][1]
        total = ratio.total
        errors, good = (None, ratio.counted) if ratio.good else (ratio.counted, None)
    latencies = [s.sli for s in svc.slos if isinstance(s.sli, m.LatencySLI)]
    histogram, threshold = None, None
    if g.latency is not None and _exports(spec, svc, g.latency):
        histogram, threshold = g.latency, g.latency_threshold
    elif latencies:
        histogram, threshold = latencies[0].metric.metric, latencies[0].threshold
    else:
        histogram = next((x.name for x in spec.metrics if x.type == "histogram" and _exports(spec, svc, x.name)), None)
    return total, errors, good, budget, histogram, threshold


def _red_panels(sources: tuple, name: str, job: Matcher) -> tuple[m.Panel, ...]:
    """Targets up, then request rate, error ratio and latency where `sources` name them; `name`
    titles the panels, `job` selects the service (or `=~ "$service"` in a repeated row)."""
    total, errors, good, budget, histogram, threshold = sources

    def panel(title: str, targets: list[tuple[str, str]], unit: str, *thresholds: m.Threshold,
              kind: str = "timeseries", base: str = "green") -> m.Panel:
        return m.Panel(f"{name}: {title}", tuple(m.ExprSeries(e, legend) for e, legend in targets), kind=kind,
                       unit=unit, thresholds=thresholds, base_color=base, width=6)

    out = [panel("targets up", [(f"min by (job) ({Selector('up', (job,))})", "{{job}}")], "none",
                 m.Threshold(1, "green"), kind="stat", base="red")]
    if total is not None:
        out.append(panel("requests per second", [(_rate_by(total.plus(job)), "{{job}}")], "reqps"))
        marks = (m.Threshold(budget, "orange"),) if budget else ()
        if errors is not None:
            ratio = promql.ratio(_rate_by(errors.plus(job)), _rate_by(total.plus(job)))
            out.append(panel("error ratio", [(ratio, "{{job}}")], "percentunit", *marks))
        elif good is not None:
            ratio = "1 - " + promql.ratio(_rate_by(good.plus(job)), _rate_by(total.plus(job)))
            out.append(panel("error ratio", [(ratio, "{{job}}")], "percentunit", *marks))
    if histogram is not None:
        marks = (m.Threshold(threshold, "red"),) if threshold else ()
        out.append(panel("latency", _quantiles(Selector(histogram + "_bucket").plus(job)), "s", *marks))
    return tuple(out)


def _red_rows(spec: Spec, d: m.Dashboard, lay: _Layout, services: list[m.Service]) -> list[dict]:
    """RED rows, one per service; past STATIC_ROWS_UP_TO services whose panels show the same
    series, one row repeated over a `service` variable (returned, for the dashboard to define)."""
    sources = [_red_sources(spec, svc) for svc in services]
    if len(services) > STATIC_ROWS_UP_TO and "service" not in d.variables and len(set(sources)) == 1:
        up = Selector("up").plus(Matcher("job", "=~", promql.any_of(svc.name for svc in services)))
        lay.row("$service")
        lay.panels[-1]["repeat"] = "service"
        for p in _red_panels(sources[0], "$service", Matcher("job", "=~", "$service")):
            lay.add(_render(spec, d, p), w=p.width, h=p.height)
        return [_var("service", f"label_values({up}, job)", "Service")]
    for svc, found in zip(services, sources, strict=True):
        lay.row(svc.name)
        for p in _red_panels(found, svc.name, Matcher("job", "=", svc.name)):
            lay.add(_render(spec, d, p), w=p.width, h=p.height)
    return []


# Past this many services, one static row each makes a dashboard of megabytes that no one
# scrolls: the SLO (and RED) dashboards become one row repeated over the `service` variable.
STATIC_ROWS_UP_TO = 20


def build(spec: Spec, d: m.Dashboard) -> dict | None:
    """One dashboard of the spec, or None when it has nothing to show (no application services
    for RED rows, no SLOs)."""
    if (d.rows == (m.SLORows(),) and not d.variables
            and len(slo_owners(spec.services, None)) > STATIC_ROWS_UP_TO):
        service_var = _var("service", "label_values(slo:objective:ratio, service)", "Service")
        return _dashboard(spec, d, _repeated_slo_rows(spec),
                          [service_var, _var("slo", 'label_values(slo:objective:ratio{service=~"$service"}, slo)',
                                             "SLO")])
    lay = _Layout()
    repeated: list[dict] = []
    for row in d.rows:
        match row:
            case m.PanelRow(title=title, panels=panels):
                lay.row(title)
                for p in panels:
                    lay.add(_render(spec, d, p), w=p.width, h=p.height)
            case m.REDRows(services=chosen):
                repeated += _red_rows(spec, d, lay, red_services(spec.services, chosen))
            case m.SLORows(services=chosen):
                # One static row per service, each naming its service: a `service` variable could
                # only blank the other rows (choosing lukhas-core would leave every
                # lukhas-identity panel empty).
                for svc in slo_owners(spec.services, chosen):
                    lay.row(svc.name)
                    for s in svc.slos:
                        labels = {"service": s.service, "slo": s.name}
                        _slo_panels(lay, s.name, labels, s.target, s.period_text, s.error_budget,
                                    conv.alert_windows(s), conv.burn_windows(s, "page")[0].factor, s.description,
                                    _sli((s,), labels))
    if not lay.panels:
        return None
    return _dashboard(spec, d, lay, _variables(spec, d) + repeated[:1])


def _labelled(labels: dict) -> Callable[[str], Selector]:
    """A record's selector with an SLO row's labels: exact values, or the row's variables."""
    return lambda name: Selector(name).where(**labels)


def _sli(slos: Iterable[SLO], labels: dict) -> tuple[str, str]:
    """(what, error ratio) of the SLI panel for `slos`, the SLOs the panel may show: the last
    hour, or a calendar SLO's period so far. A repeated row shows SLOs of both kinds in one panel:
    a calendar SLO's period (its phase record says it is one), any other SLO's hour."""
    sel = _labelled(labels)
    units = {s.calendar.unit if s.calendar else None for s in slos}
    if None not in units:
        return ("period so far" if len(units) > 1 else f"{units.pop()} so far"), str(sel(conv.PERIOD_RATIO))
    if units == {None}:
        return "1h", str(sel(conv.ratio_name("1h")))
    hour = f"({sel(conv.ratio_name('1h'))} unless on (service, slo) {sel(conv.PERIOD_PHASE)})"
    return "1h; calendar SLOs: period so far", f"({sel(conv.PERIOD_RATIO)} or {hour})"


def _slo_panels(lay: _Layout, title: str, labels: dict, target: float | None, period: str, budget: float | None,
                windows: list[str], page_factor: float, description: str, sli: tuple[str, str]) -> None:
    """One SLO's row of panels. `labels` are exact values (static rows) or the `service` and
    `slo` variables (repeated rows). `sli` is (what, error ratio) of the SLI panel (see _sli)."""
    sel = _labelled(labels)

    lay.add(stat(f"{title}: objective", [(str(sel(conv.OBJECTIVE)), "objective")], "percentunit",
                 description=description), w=4, h=5)
    sli_thresholds = _thresholds((target, "green"), base="red") if target is not None else None
    lay.add(stat(f"{title}: SLI ({sli[0]})", [(f"1 - {sli[1]}", "SLI")], "percentunit",
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
    labels = {"service": "$service", "slo": "$slo"}
    _slo_panels(lay, "$slo", labels, None, "period", None, windows, conv.burn_windows(first, "page")[0].factor, "",
                _sli(spec.slos, labels))
    for panel in lay.panels[start:]:
        panel["repeat"], panel["repeatDirection"] = "slo", "v"
    return lay


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
        for name in conv.grafana_variables(text):
            if name not in defined and name not in conv.GRAFANA_BUILTIN_VARIABLES:
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
    for d in spec.dashboards:
        dash = build(spec, d)
        if dash is not None:
            check_variables(dash)
            out[d.uid] = dash
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
