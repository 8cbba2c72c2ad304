"""The spec's `dashboards:` section -> model dashboards, with the checks a schema cannot make
(metric kinds, labels, gate roles, variables, uids), and the dashboards a spec without the
section gets."""

from __future__ import annotations

from typing import Protocol

from lukhas_obs import conventions as conv
from lukhas_obs import model as m

SOURCES = ("metric", "role", "health", "expr")
# the keys that only mean something for one source
SOURCE_KEYS = {"metric": ("show", "by", "quantiles", "range", "legend"), "role": (), "health": (),
               "expr": ("legend",)}
SHOW_TYPES = {"rate": ("counter",), "increase": ("counter",), "quantiles": ("histogram",),
              "sum": ("gauge",), "avg": ("gauge",), "max": ("gauge",), "min": ("gauge",)}
DEFAULT_SHOW = {"counter": "rate", "histogram": "quantiles"}   # otherwise sum
# gates.traffic keys each role reads
ROLE_NEEDS = {"requests": ("requests",), "errors": ("errors",), "error_ratio": ("requests", "errors"),
              "latency": ("latency",), "pool": ("pool_in_use", "pool_max")}
TARGET_LABELS = ("job", "instance")  # set by Prometheus on every scraped series
GRAFANA_UID_MAX = 40                 # Grafana refuses a longer dashboard uid (the schema's pattern says so too)


class _Checks(Protocol):
    metrics: dict[str, m.Metric]
    problems: list

    def err(self, path: tuple, message: str) -> None: ...
    def check_metric(self, name: str, path: tuple, want_types=None) -> None: ...
    def expr(self, text: str, path: tuple, prefix: str = ""): ...
    def alert_expr(self, text: str, path: tuple, what: str = "", prefix: str = "",
                   allow_scalar: bool = False) -> bool: ...
    def duration(self, value, path, positive: bool = False, why: str = "") -> str | None: ...


def default_dashboards(project: str) -> tuple[m.Dashboard, ...]:
    """What a spec without `dashboards:` gets: RED rows for every application service, the SLOs,
    and the scrape targets with their processes. A dashboard with nothing to show is left out
    when generated (no application services, no SLOs)."""
    name = project.upper()
    targets = m.Panel("Target health", (m.HealthSeries("targets"),), kind="stat", unit="none",
                      thresholds=(m.Threshold(1, "green"),), base_color="red", width=24, height=5,
                      description="1 = up. For a service behind an exporter (PostgreSQL, Redis, nginx) this is the "
                                  "exporter's own view of it, not only whether the exporter answered.")
    cpu = m.Panel("CPU by job", (m.MetricSeries("process_cpu_seconds_total", "rate", ("job",)),), unit="percentunit",
                  description="From each target's process_* metrics; host CPU, memory and disk need "
                              "node_exporter, which the spec does not declare.")
    memory = m.Panel("Resident memory by job", (m.MetricSeries("process_resident_memory_bytes", "sum", ("job",)),),
                     unit="bytes")
    return (
        m.Dashboard(f"{project}-services", f"{name} services", (m.REDRows(),),
                    "Rate, errors and duration of every application service, from the gate's traffic metrics, the "
                    "SLIs and the metric catalogue."),
        m.Dashboard(f"{project}-slos", f"{name} SLOs", (m.SLORows(),),
                    "Per SLO: objective, SLI, error budget left, burn rate per alert window, firing alerts."),
        m.Dashboard(f"{project}-infrastructure", f"{name} Infrastructure",
                    (m.PanelRow("Targets", (targets,)), m.PanelRow("Processes", (cpu, memory))),
                    "Scrape targets and process resources."),
    )


def load(b: _Checks, body: list | None, project: str, services: tuple[m.Service, ...],
         gates: m.GateSettings) -> tuple[m.Dashboard, ...]:
    if body is None:
        derived = default_dashboards(project)
        for d in derived:
            if len(d.uid) > GRAFANA_UID_MAX:
                b.err(("project",), f"the derived dashboard uid {d.uid!r} is longer than Grafana's "
                                    f"{GRAFANA_UID_MAX} characters; shorten the project name or write a dashboards: "
                                    "section with uids of your own")
                break
        return derived
    out: list[m.Dashboard] = []
    seen: dict[str, int] = {}
    for i, d in enumerate(body):
        path = ("dashboards", i)
        if d["uid"] in seen:
            b.err(path + ("uid",), f"duplicate dashboard uid {d['uid']!r} (first at dashboards[{seen[d['uid']]}])")
        seen.setdefault(d["uid"], i)
        variables = tuple(d.get("variables", ()))
        if "instance" in variables and "service" not in variables:
            b.err(path + ("variables",), "the instance variable lists the instances of the chosen services: "
                                         "it needs the service variable")
        said = len(b.problems)
        rows = tuple(_row(b, r, path + ("rows", j), variables, services, gates) for j, r in enumerate(d["rows"]))
        dashboard = m.Dashboard(uid=d["uid"], title=d["title"], rows=rows, description=d.get("description", ""),
                                variables=variables)
        if len(b.problems) == said and not shows_something(dashboard, services):   # not when a row is wrong
            b.err(path + ("rows",), f"dashboard {d['uid']!r} would be empty (no service with SLOs, no application "
                                    "service for its rows), so it would not be written and links to it would lead "
                                    "nowhere")
        out.append(dashboard)
    return tuple(out)


def red_services(services: tuple[m.Service, ...], chosen: tuple[str, ...] | None) -> list[m.Service]:
    """The services a RED row shows: the chosen ones, or every application service."""
    if chosen is None:
        return [s for s in services if s.kind == "application"]
    by_name = {s.name: s for s in services}
    return [by_name[name] for name in chosen if name in by_name]


def slo_owners(services: tuple[m.Service, ...], chosen: tuple[str, ...] | None) -> list[m.Service]:
    """The services an SLO row shows: those (of the chosen ones) with SLOs."""
    return [s for s in services if s.slos and (chosen is None or s.name in chosen)]


def shows_something(d: m.Dashboard, services: tuple[m.Service, ...]) -> bool:
    """Whether the dashboard has a panel to draw: a row of panels, a RED row for a chosen (or an
    application) service, an SLO row for a service with SLOs. The generator writes no empty one."""
    for row in d.rows:
        match row:
            case m.PanelRow(panels=panels) if panels:
                return True
            case m.REDRows(services=chosen) if red_services(services, chosen):
                return True
            case m.SLORows(services=chosen) if slo_owners(services, chosen):
                return True
    return False


def check_references(b: _Checks, dashboards: tuple[m.Dashboard, ...], alerts, logs: m.LogsSettings,
                     services: tuple[m.Service, ...], declared: bool) -> None:
    """An alert's or a log query's `dashboard:` names a dashboard that is generated (its
    dashboard_url would otherwise lead nowhere, or the log panel would be dropped)."""
    # a derived dashboard with nothing to show is not written; a declared one is refused above
    uids = {d.uid for d in dashboards if declared or shows_something(d, services)}
    known = ", ".join(sorted(uids))
    refs: list[tuple[tuple, str | None]] = [(("alerts", i, "dashboard"), a.dashboard) for i, a in enumerate(alerts)]
    refs += [(("logs", "queries", i, "dashboard"), q.dashboard) for i, q in enumerate(logs.queries)]
    refs += [(("logs", "alerts", i, "dashboard"), a.dashboard) for i, a in enumerate(logs.alerts)]
    for path, uid in refs:
        if uid is not None and uid not in uids:
            b.err(path, f"dashboard {uid!r} is not one the spec generates (dashboards: {known})")


def _row(b: _Checks, r: dict, path: tuple, variables: tuple[str, ...], services: tuple[m.Service, ...],
         gates: m.GateSettings) -> m.Row:
    kinds = [k for k in ("panels", "red", "slos") if k in r]
    if len(kinds) != 1:
        found = f"; found {', '.join(kinds)}" if kinds else ""
        b.err(path, f"a row holds exactly one of panels, red and slos{found}")
        return m.PanelRow(r.get("title", ""), ())
    kind = kinds[0]
    if kind == "panels":
        if "title" not in r:
            b.err(path, "a row of panels needs a title")
        panels = tuple(_panel(b, p, path + ("panels", k), variables, gates) for k, p in enumerate(r["panels"]))
        return m.PanelRow(r.get("title", ""), panels)
    if "title" in r:
        b.err(path + ("title",), f"{kind} rows are titled by their service; a title is not used here")
    chosen = None if r[kind] == "all" else tuple(r[kind])
    by_name = {s.name: s for s in services}
    for k, name in enumerate(chosen or ()):
        if name not in by_name:
            b.err(path + (kind, k), f"service {name!r} is not defined under services")
        elif kind == "slos" and not by_name[name].slos:
            b.err(path + (kind, k), f"service {name!r} has no SLOs")
    return m.REDRows(chosen) if kind == "red" else m.SLORows(chosen)


def _panel(b: _Checks, p: dict, path: tuple, variables: tuple[str, ...], gates: m.GateSettings) -> m.Panel:
    inline = {k: v for k, v in p.items() if k in SOURCES or any(k in keys for keys in SOURCE_KEYS.values())}
    if "series" in p:
        if inline:
            b.err(path, f"a panel gives its queries under series or on itself, not both (found {', '.join(inline)} "
                        "beside series)")
        series = tuple(_series(b, s, path + ("series", j), variables, gates) for j, s in enumerate(p["series"]))
    else:
        series = (_series(b, inline, path, variables, gates),)
    values = [t["value"] for t in p.get("thresholds", [])]
    if values != sorted(set(values)):
        b.err(path + ("thresholds",), "threshold values must be strictly increasing (each step colours values from "
                                      "its value up to the next)")
    if (p.get("kind") == "table") and p.get("thresholds"):
        b.err(path + ("thresholds",), "a table panel shows no thresholds")
    return m.Panel(title=p["title"], series=series, kind=p.get("kind", "timeseries"), unit=p.get("unit"),
                   description=p.get("description", ""),
                   thresholds=tuple(m.Threshold(t["value"], t["color"]) for t in p.get("thresholds", [])),
                   base_color=p.get("base_color", "green"), width=p.get("width", 12), height=p.get("height", 8))


def _series(b: _Checks, s: dict, path: tuple, variables: tuple[str, ...], gates: m.GateSettings) -> m.Series:
    sources = [k for k in SOURCES if k in s]
    if len(sources) != 1:
        b.err(path, "a panel's query is exactly one of metric, role, health and expr"
                    + (f"; found {', '.join(sources)}" if sources else ""))
        return m.ExprSeries("vector(0)")
    source = sources[0]
    for key in sorted(set(s) - {source} - set(SOURCE_KEYS[source])):
        b.err(path + (key,), f"{key} does not apply to a {source} query")
    if source == "role":
        for key in ROLE_NEEDS[s["role"]]:
            if getattr(gates, key) is None:
                b.err(path + ("role",), f"role {s['role']} reads gates.traffic.{key}, which the spec does not set")
        return m.RoleSeries(s["role"])
    if source == "health":
        return m.HealthSeries(s["health"])
    if source == "expr":
        _check_expr(b, s["expr"], path + ("expr",), variables)
        return m.ExprSeries(s["expr"], s.get("legend", ""))
    return _metric_series(b, s, path)


def _metric_series(b: _Checks, s: dict, path: tuple) -> m.MetricSeries:
    name = s["metric"]
    metric = b.metrics.get(name)
    show = s.get("show") or (DEFAULT_SHOW.get(metric.type, "sum") if metric else "sum")
    if metric is None:
        b.check_metric(name, path + ("metric",))  # one every Prometheus has, or an error
    elif metric.type not in SHOW_TYPES[show]:
        b.err(path + ("show",), f"show: {show} needs a {' or '.join(SHOW_TYPES[show])}; {name} is a {metric.type}")
    by = tuple(s.get("by", ()))
    if metric is not None:
        for k, label in enumerate(by):
            if label not in metric.labels and label not in TARGET_LABELS:
                b.err(path + ("by", k), f"{name} has no label {label!r} (its labels: "
                                        f"{', '.join(metric.labels + TARGET_LABELS)})")
    if "quantiles" in s and show != "quantiles":
        b.err(path + ("quantiles",), f"quantiles apply to show: quantiles, not {show}")
    if "range" in s:
        if show != "increase":
            b.err(path + ("range",), f"range applies to show: increase, not {show}")
        b.duration(s["range"], path + ("range",), positive=True)
    return m.MetricSeries(metric=name, show=show, by=by, quantiles=tuple(s.get("quantiles", (0.5, 0.95, 0.99))),
                          range=s.get("range", "1h"), legend=s.get("legend"))


def _check_expr(b: _Checks, text: str, path: tuple, variables: tuple[str, ...]) -> None:
    """The PromQL parses with every variable filled in, names catalogue metrics only, and names
    no variable the dashboard does not define (Grafana would send `$region` as written)."""
    for name in conv.grafana_variables(text):
        if name not in variables and name not in conv.GRAFANA_BUILTIN_VARIABLES:
            b.err(path, f"${name} is not a variable of this dashboard (its variables: "
                        f"{', '.join('$' + v for v in variables) or 'none'}; and Grafana's own, such as "
                        "$__rate_interval); Grafana would send it to Prometheus as written")
            return
    # a duration fits both where variables stand: in a range and inside a matcher's string; a
    # panel plots an instant vector or a scalar, with the functions the pinned Prometheus has
    b.alert_expr(conv.GRAFANA_VARIABLE.sub("5m", text), path, "a panel's expr", allow_scalar=True)

