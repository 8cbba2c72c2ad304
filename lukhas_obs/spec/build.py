"""The validated spec document -> the model: each section converted, and the meaning checks no
schema can express, every problem at its line; cross-references on the finished model are in
sanity.py, the spec's dashboards in dashboards.py."""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import parse_qsl, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from lukhas_obs import model as m
from lukhas_obs.durations import format_duration, parse_duration
from lukhas_obs.errors import Problem
from lukhas_obs.promql import (
    WINDOW,
    WINDOW_PLACEHOLDER,
    PromQLError,
    Selector,
    at_window,
    constant_fallback,
    metric_names,
    parse,
    parse_selector,
    reads_series,
    without_fallback,
)
from lukhas_obs.spec import dashboards as spec_dashboards
from lukhas_obs.spec import sanity
from lukhas_obs.spec.defaults import present
from lukhas_obs.spec.expressions import (
    BUILTIN_NAMES,
    BUILTIN_PREFIXES,
    HISTOGRAM_SUFFIXES,
    TYPE_NAMES,
    default_images,
    duration_problems,
    unsupported_functions,
    value_type,
)
from lukhas_obs.spec.gotemplate import template_problem
from lukhas_obs.spec.schemacheck import problem_at
from lukhas_obs.spec.yamlsource import Sources


class ModelBuilder:
    """Meaning checks that a schema cannot express, done while building the model. What sections
    look up in one another (the metrics catalogue, the priorities, the service names) is read from
    the document here, before any section is built."""

    def __init__(self, data: dict, sources: Sources, display: str):
        self.data = data
        self.sources = sources
        self.file = display
        self.problems: list[Problem] = []
        self.metrics = {name: self.metric(name, body) for name, body in (data.get("metrics") or {}).items()}
        self.priorities: set[str] = set(data["severities"])
        self.service_names: set[str] = {svc["name"] for svc in data["services"]}

    def err(self, path: tuple, message: str) -> None:
        self.problems.append(problem_at(self.sources, path, message))

    # ---- helpers ----------------------------------------------------------------------------
    def duration(self, value, path, positive: bool = False, why: str = "") -> str | None:
        """A Prometheus duration; `positive` where 0 means nothing (an interval, a timeout, a
        window, a period), `why` says who refuses it."""
        if value is None:
            return None
        try:
            seconds = parse_duration(value)
        except ValueError as exc:
            self.err(path, str(exc))
            return value
        if positive and seconds <= 0:
            self.err(path, f"{path[-1]} must be longer than 0s, not {value}" + (f" ({why})" if why else ""))
        return value

    def period(self, value, path: tuple) -> str:
        """An SLO period in canonical form (`1w` and `4w` are `7d` and `28d`: durations compare as
        durations, and record names carry one spelling)."""
        if self.duration(value, path, positive=True) is None:
            return m.SLO_DEFAULT_PERIOD
        try:
            seconds = parse_duration(value)
        except ValueError:
            return m.SLO_DEFAULT_PERIOD   # reported above
        low, high = m.SLO_PERIOD_RANGE
        if seconds % 60:
            self.err(path, f"{value} is not a whole number of minutes")
        elif not low <= seconds <= high:
            self.err(path, f"{value} is outside the periods whose burn-rate windows make sense "
                           f"({format_duration(low)} to {format_duration(high)})")
        return format_duration(seconds) if seconds > 0 else m.SLO_DEFAULT_PERIOD

    def calendar(self, value: dict, path: tuple) -> m.Calendar:
        """A calendar period: its unit (the schema checked it) and an IANA time zone that this
        machine's zone database knows (the rules carry its UTC offsets)."""
        from lukhas_obs.calendar import known_zone, openslo_zone

        cal = m.Calendar(value["calendar"], **present(value, "timezone"))
        if not known_zone(cal.timezone):
            self.err(path + ("timezone",), f"{cal.timezone!r} is not an IANA time zone (e.g. UTC, Europe/Berlin, "
                                           "America/New_York)")
        elif openslo_zone(cal.timezone) is None:
            self.err(path + ("timezone",), f"{cal.timezone!r} is a legacy zone name: use its Area/Location name (e.g. "
                                           "America/New_York for EST5EDT), as OpenSLO and most tools need")
        return cal

    def rule_labels(self, labels: dict, path: tuple) -> tuple[tuple[str, str], ...]:
        for key, value in labels.items():
            if key in m.RESERVED_RULE_LABELS:
                self.err(path + (key,), f"{key!r} is set by lukhas-obs on every rule (routing, silences and the "
                                        "gate read it); choose another label name")
            self.template(value, path + (key,))
        return tuple(sorted(labels.items()))

    def rule_annotations(self, annotations: dict, path: tuple) -> tuple[tuple[str, str], ...]:
        for key, value in annotations.items():
            self.template(value, path + (key,))
        return tuple(sorted(annotations.items()))

    def slo_alert(self, body: dict, default_name: str, path: tuple) -> m.SLOAlert:
        return m.SLOAlert(name=body.get("name", default_name), enabled=not body.get("disable", False),
                          labels=self.rule_labels(body.get("labels") or {}, path + ("labels",)),
                          annotations=self.rule_annotations(body.get("annotations") or {}, path + ("annotations",)))

    def template(self, text, path: tuple) -> None:
        """Prometheus parses each annotation of an alerting rule as a Go template when it loads
        the rule file, and refuses the whole file when one does not parse."""
        if isinstance(text, str):
            problem = template_problem(text)
            if problem:
                self.err(path, f"not a valid Go template, so Prometheus would refuse the whole rule file: {problem}")

    def selector(self, text: str, path: tuple, want_types=("counter",)) -> Selector | None:
        try:
            sel = parse_selector(text)
        except PromQLError as exc:
            self.err(path, f"invalid PromQL selector {text!r}: {exc}")
            return None
        self.check_metric(sel.metric, path, want_types)
        return sel

    def check_metric(self, name: str, path: tuple, want_types=None) -> None:
        if name in BUILTIN_NAMES or name.startswith(BUILTIN_PREFIXES) or ":" in name:
            return
        metric = self.metrics.get(name)
        suffix = ""
        if metric is None:
            for sfx in HISTOGRAM_SUFFIXES:
                base = name[: -len(sfx)] if name.endswith(sfx) else None
                if base and base in self.metrics and self.metrics[base].type in ("histogram", "summary"):
                    metric, suffix = self.metrics[base], sfx
                    break
        if metric is None:
            self.err(path, f"metric {name!r} is not in the metrics catalogue")
            return
        if want_types:
            mtype = "counter" if suffix in ("_count", "_sum", "_bucket") else metric.type
            if mtype not in want_types:
                self.err(path, f"metric {name!r} is a {mtype}; expected {' or '.join(want_types)}")

    def expr(self, text: str, path: tuple, prefix: str = ""):
        try:
            node = parse(text)
        except PromQLError as exc:
            self.err(path, f"{prefix}invalid PromQL: {exc}")
            return None
        for name in sorted(metric_names(text)):
            self.check_metric(name, path)
        return node

    def alert_expr(self, text: str, path: tuple, what: str = "an alert's expr", prefix: str = "",
                   allow_scalar: bool = False) -> bool:
        """An alerting rule's own PromQL (or a rule's, `what`): what Prometheus (the pinned version)
        would refuse or never alert on, beyond what the parser checks. False when it said a problem."""
        before = len(self.problems)
        version = self.prometheus_version()
        durations = duration_problems(text, version)
        for problem in durations:
            self.err(path, prefix + problem)
        node = None if durations else self.expr(text, path, prefix)  # the parser panics on some of them
        if node is not None:
            kind = value_type(node)
            if kind != "vector" and not (allow_scalar and kind == "scalar"):
                hint = {"matrix": "; wrap the range in a function such as rate() or max_over_time()",
                        "scalar": "; an alert needs series to alert on (compare a metric, or use vector())",
                        "string": ""}[kind]
                self.err(path, f"{prefix}{what} must give an instant vector, this gives a {TYPE_NAMES[kind]}{hint}")
            if version is not None:
                for problem in sorted(unsupported_functions(node, version)):
                    self.err(path, prefix + problem)
        return len(self.problems) == before

    def window_query(self, template: str, path: tuple, windows: list[str]) -> None:
        """An expression SLI's PromQL template: Sloth's {{.window}} placeholder present and no other
        template, and each window's expression one Prometheus would record (checked window by
        window, stopping at the first that fails, so a problem is said once)."""
        if not WINDOW.search(template):
            self.err(path, f"no {WINDOW_PLACEHOLDER} placeholder: an SLI expression is recorded once per burn-rate "
                           f"window, with {WINDOW_PLACEHOLDER} replaced by it, e.g. rate(m[{WINDOW_PLACEHOLDER}])")
            return
        if "{{" in at_window(template, "5m"):
            self.err(path, f"holds a template other than {WINDOW_PLACEHOLDER}, the only one lukhas-obs fills in")
            return
        for w in windows:
            if not self.alert_expr(at_window(template, w), path, "an SLI expression",
                                   f"with {WINDOW_PLACEHOLDER} = {w}: "):
                return

    def watchable(self, template: str, path: tuple) -> None:
        """The expression the absent alert watches (conventions.absent_expr: without a trailing
        `or vector(0)`) can be empty, or the alert could never fire."""
        try:
            node = parse(without_fallback(at_window(template, "5m")))
        except PromQLError:
            return   # said by window_query
        if not reads_series(node):
            self.err(path, "reads no series: the SLI measures nothing, and its absent alert could never fire")
        elif constant_fallback(node):
            self.err(path, "an `or` with a constant (such as `or vector(0)`) inside the expression keeps it from ever "
                           "being empty, so the absent alert that watches it could never fire: put the fallback last "
                           "(the absent alert then watches what precedes it) or leave it out")

    def prometheus_version(self) -> tuple[int, int, int] | None:
        images = (self.data.get("stack") or {}).get("images") or {}
        image = images.get("prometheus") or default_images().get("prometheus", "")
        found = re.search(r":v?([0-9]+)\.([0-9]+)\.([0-9]+)", image.split("/")[-1])
        return None if found is None else (int(found[1]), int(found[2]), int(found[3]))

    # ---- sections ---------------------------------------------------------------------------
    def build(self) -> m.Spec:
        d = self.data
        receivers = tuple(self.receiver(n, b) for n, b in sorted((d.get("receivers") or {}).items()))
        receiver_names = {r.name for r in receivers}
        severities = []
        for prio, body in sorted(d["severities"].items()):
            path: tuple = ("severities", prio)
            if body["receiver"] not in receiver_names:
                self.err(path + ("receiver",), f"receiver {body['receiver']!r} is not defined under receivers")
            self.duration(body.get("notify_within"), path + ("notify_within",), positive=True)
            self.duration(body.get("group_wait"), path + ("group_wait",))  # 0s: send at once
            for key in ("group_interval", "repeat_interval"):
                self.duration(body.get(key), path + (key,), positive=True, why=f"Alertmanager refuses a zero {key}")
            repeat = body.get("repeat_interval")
            try:
                too_long = parse_duration(repeat) > parse_duration(m.ALERTMANAGER_DATA_RETENTION)
            except (TypeError, ValueError):
                too_long = False  # reported above
            if too_long:
                self.err(path + ("repeat_interval",),
                         f"repeat_interval {repeat} is longer than Alertmanager's data retention "
                         f"({m.ALERTMANAGER_DATA_RETENTION}, as the generated stack runs it): the notification log "
                         f"forgets the alert after {m.ALERTMANAGER_DATA_RETENTION}, so it would repeat then "
                         f"anyway, and Alertmanager warns at every start; use at most {m.ALERTMANAGER_DATA_RETENTION}")
            severities.append(m.Severity(
                priority=prio, level=body["level"], receiver=body["receiver"],
                **present(body, "page", "description", "notify_within", "group_wait", "group_interval",
                          "repeat_interval", "business_hours_only")))

        prom = self.prometheus(d.get("prometheus") or {})
        am = self.alertmanager(d.get("alertmanager") or {})
        if any(s.business_hours_only for s in severities) and am.business_hours is None:
            path = next(("severities", s.priority, "business_hours_only") for s in severities if s.business_hours_only)
            self.err(path, "needs alertmanager.business_hours to say when business hours are")

        seen: set[str] = set()
        for i, svc in enumerate(d["services"]):
            if svc["name"] in seen:
                self.err(("services", i, "name"), f"duplicate service name {svc['name']!r}")
            seen.add(svc["name"])
        services = tuple(self.service(i, body) for i, body in enumerate(d["services"]))
        self.check_ports(services)
        for name, metric in self.metrics.items():
            for j, svc in enumerate(metric.services):
                if svc not in self.service_names:
                    self.err(("metrics", name, "services", j), f"service {svc!r} is not defined under services")

        alerts = []
        seen_alerts: dict[str, int] = {}
        for i, body in enumerate(d.get("alerts") or []):
            if body["name"] in seen_alerts:
                self.err(("alerts", i, "name"), f"duplicate alert name {body['name']!r} "
                                                f"(first at alerts[{seen_alerts[body['name']]}])")
            seen_alerts.setdefault(body["name"], i)
            alerts.append(self.alert(i, body))

        gates = self.gates(d.get("gates") or {})
        logs = self.logs(d.get("logs") or {}, {a.name for a in alerts})
        stack = self.stack(d.get("stack") or {})
        dashboards = spec_dashboards.load(self, d.get("dashboards"), d["project"], services, gates)
        spec_dashboards.check_references(self, dashboards, alerts, logs, services, d.get("dashboards") is not None)
        k8s = d.get("kubernetes")
        kubernetes = None if k8s is None else m.KubernetesSettings(
            labels=tuple(sorted((k8s.get("labels") or {}).items())),
            **present(k8s, "namespace", "dashboard_label", "metrics_port_name"))
        links = d.get("links") or {}
        for key in ("runbook_base_url", "grafana_url"):  # the start of annotation values
            self.template(links.get(key), ("links", key))
        # URLs something else is appended to: a query or fragment in them would swallow it
        for path, what, served in (
                (("links", "runbook_base_url"), "an alert's runbook page is added after a '/' and",
                 "the runbook pages are under"),
                (("links", "grafana_url"), "a dashboard's path (/d/<uid>) is added after a '/' and",
                 "Grafana is served from"),
                (("prometheus", "external_url"), "Prometheus adds its own pages (/graph, /alerts) after it, in every "
                 "alert's links, and they", "Prometheus is served from"),
                (("alertmanager", "external_url"), "Alertmanager adds its own pages (/#/alerts, /api/v2) after it, in "
                 "every alert's links, and they", "Alertmanager is served from")):
            url = (d.get(path[0]) or {}).get(path[1]) or ""
            if "?" in url or "#" in url:
                self.err(path, f"{url!r} has a query or fragment: {what} would land inside it; give the URL "
                               f"{served}")
        spec = m.Spec(
            source=self.file, project=d["project"], **present(d, "environment", "network"),
            **present(links, "runbook_base_url", "grafana_url"), prometheus=prom, alertmanager=am,
            receivers=receivers, severities=tuple(severities),
            metrics=tuple(self.metrics[k] for k in sorted(self.metrics)), services=services,
            alerts=tuple(alerts), gates=gates, logs=logs, stack=stack, kubernetes=kubernetes,
            ruler=None if d.get("ruler") is None else m.RulerSettings(
                source_tenants=tuple(d["ruler"].get("source_tenants", ())),
                **present(d["ruler"], "max_rules_per_group", "max_groups_per_tenant")),
            dashboards=dashboards)
        # what no schema can say (names that collide, SLOs that can never have data or fire),
        # last, on a model built without problems (a half-built one could not be judged)
        if not self.problems:
            sanity.check(spec, self.err)
        return spec

    def gates(self, body: dict) -> m.GateSettings:
        path = ("gates",)
        values: dict = {}
        for key in ("window", "max_staleness"):
            if key in body:
                values[key] = self.duration(body[key], path + (key,), positive=True)
        if "min_requests" in body:
            values["min_requests"] = body["min_requests"]
        t = body.get("traffic") or {}
        tp = path + ("traffic",)
        if "requests" in t:
            values["requests"] = self.selector(t["requests"], tp + ("requests",))
        if "errors" in t:
            values["errors"] = self.selector(t["errors"], tp + ("errors",))
        if "latency" in t:
            metric = self.metrics.get(t["latency"])
            if metric is None or metric.type != "histogram":
                self.err(tp + ("latency",), f"metric {t['latency']!r} is not a histogram in the metrics catalogue")
            elif "latency_threshold" in t and float(t["latency_threshold"]) not in metric.buckets:
                self.err(tp + ("latency_threshold",), f"{t['latency_threshold']} is not a bucket boundary of "
                                                       f"{metric.name}")
            values["latency"] = t["latency"]
        if "latency_threshold" in t:
            values["latency_threshold"] = float(t["latency_threshold"])
        for key in ("pool_in_use", "pool_max"):
            if key in t:
                self.check_metric(t[key], tp + (key,), ("gauge",))
                values[key] = t[key]
        c = body.get("canary") or {}
        for key, field_name in (("label", "canary_label"), ("canary", "canary_value"), ("baseline", "baseline_value"),
                                ("min_requests", "canary_min_requests"), ("confidence", "confidence"),
                                ("min_relative_increase", "min_relative_increase"),
                                ("min_absolute_increase", "min_absolute_increase"), ("rule_out", "rule_out")):
            if key in c:
                values[field_name] = c[key]
        if "max_age" in c:
            values["canary_max_age"] = self.duration(c["max_age"], path + ("canary", "max_age"), positive=True)
        if "tolerance" in (body.get("smoke") or {}):
            values["smoke_tolerance"] = float(body["smoke"]["tolerance"])
        if "steps" in c:
            if list(c["steps"]) != sorted(set(c["steps"])) or c["steps"][-1] != 100:
                self.err(path + ("canary", "steps"), "steps must increase strictly and end at 100")
            values["steps"] = tuple(c["steps"])
        if c.get("canary") is not None and c.get("canary") == c.get("baseline"):
            self.err(path + ("canary", "baseline"), "canary and baseline must select different series")
        r = body.get("rollback") or {}
        for key, field_name in (("error_ratio", "rollback_error_ratio"), ("services_down_ratio", "services_down_ratio"),
                                ("p99_seconds", "p99_seconds"), ("pool_saturation", "pool_saturation")):
            if key in r:
                values[field_name] = float(r[key])
        for key, field_name in (("error_for", "rollback_error_for"), ("p99_for", "p99_for")):
            if key in r:
                values[field_name] = self.duration(r[key], path + ("rollback", key), positive=True)
        for key, field_name in (("min_remaining", "budget_min_remaining"), ("min_coverage", "budget_min_coverage")):
            if key in (body.get("budget") or {}):
                values[field_name] = float(body["budget"][key])
        values.update(self.delivery(body))
        return m.GateSettings(**values)

    def delivery(self, body: dict) -> dict:
        """gates.serve and gates.canary.analysis: what the generated Argo Rollouts and Flagger
        objects say. Both controllers read Go durations (no d, w or y), Argo a whole number of
        timeout seconds, and Flagger looks at most every 10 seconds."""
        serve = body.get("serve") or {}
        analysis = (body.get("canary") or {}).get("analysis") or {}
        values: dict = {}
        if "url" in serve:
            values["serve_url"] = serve["url"]
        seconds = {"timeout": parse_duration(m.GateSettings.serve_timeout),
                   "interval": parse_duration(m.GateSettings.analysis_interval)}
        paths = {"timeout": ("gates", "serve", "timeout"), "interval": ("gates", "canary", "analysis", "interval")}
        given = []
        for key, where, field_name in (("timeout", serve, "serve_timeout"),
                                       ("interval", analysis, "analysis_interval")):
            if key not in where:
                continue
            self.duration(where[key], paths[key], positive=True)
            try:
                secs = parse_duration(where[key])
            except ValueError:
                continue  # reported just above
            if secs != int(secs) or not 10 <= secs < 86400:
                why = ", and the gate answers 5s before the caller gives up" if key == "timeout" else ""
                self.err(paths[key], f"{where[key]} must be whole seconds from 10s to under 1d (Argo Rollouts and "
                                     f"Flagger read it as a Go duration{why})")
                continue
            values[field_name], seconds[key] = where[key], secs
            given.append(key)
        if given and 2 * seconds["timeout"] >= seconds["interval"]:
            self.err(paths[given[0]], f"gates.serve.timeout ({format_duration(seconds['timeout'])}) must be under half "
                                      f"of gates.canary.analysis.interval ({format_duration(seconds['interval'])}): "
                                      "Flagger calls the rollback and the confirm-promotion hooks one after the other "
                                      "in an interval")
        count = analysis.get("count", m.GateSettings.analysis_count)
        for key, field_name in (("count", "analysis_count"), ("failure_limit", "analysis_failure_limit"),
                                ("inconclusive_limit", "analysis_inconclusive_limit")):
            if key not in analysis:
                continue
            values[field_name] = analysis[key]
            if key != "count" and analysis[key] >= count:
                self.err(("gates", "canary", "analysis", key),
                         f"{key} {analysis[key]} is never reached in {count} looks (count); use at most {count - 1}")
        return values

    def logql(self, expr: str, path: tuple) -> None:
        """What can be checked of LogQL in-process: a stream selector, balanced brackets and
        quotes. The full grammar is Grafana's (checked in the tests with @grafana/lezer-logql)."""
        if "{" not in expr or "}" not in expr:
            self.err(path, "a LogQL query needs a stream selector such as {job=\"lukhas-core\"}")
            return
        depth, quote, i = 0, None, 0
        while i < len(expr):
            c = expr[i]
            if quote:
                if c == "\\" and quote == '"':
                    i += 1
                elif c == quote:
                    quote = None
            elif c in "\"`":
                quote = c
            elif c in "([{":
                depth += 1
            elif c in ")]}":
                depth -= 1
                if depth < 0:
                    break
            i += 1
        if quote or depth != 0:
            self.err(path, "unbalanced quotes or brackets in LogQL")

    def logs(self, body: dict, prom_alert_names: set[str]) -> m.LogsSettings:
        path = ("logs",)
        queries, alerts = [], []
        seen: set[str] = set()
        for i, q in enumerate(body.get("queries") or []):
            if q["name"] in seen:
                self.err(path + ("queries", i, "name"), f"duplicate query name {q['name']!r}")
            seen.add(q["name"])
            self.logql(q["expr"], path + ("queries", i, "expr"))
            queries.append(m.LogQuery(name=q["name"], title=q["title"], expr=q["expr"],
                                      **present(q, "description", "dashboard")))
        names = set(prom_alert_names)
        for i, a in enumerate(body.get("alerts") or []):
            p = path + ("alerts", i)
            if a["name"] in names:
                self.err(p + ("name",), f"alert name {a['name']!r} is already used")
            names.add(a["name"])
            self.logql(a["expr"], p + ("expr",))
            if a["priority"] not in self.priorities:
                self.err(p + ("priority",), f"severity {a['priority']!r} is not defined under severities")
            if a.get("service") and a["service"] not in self.service_names:
                self.err(p + ("service",), f"service {a['service']!r} is not defined under services")
            self.duration(a.get("for"), p + ("for",))  # 0s: fire at once, as Prometheus allows
            for key in ("summary", "description"):
                self.template(a.get(key), p + (key,))
            alerts.append(m.Alert(name=a["name"], priority=a["priority"], summary=a["summary"],
                                  condition=m.ExprCondition(a["expr"]), for_=a.get("for"),
                                  **present(a, "description"), service=a.get("service"),
                                  service_label=a.get("service_label"), runbook=a.get("runbook"),
                                  dashboard=a.get("dashboard")))
        if body.get("records"):
            self.err(path + ("records",),
                     "Loki recording rules are not generated: the stack's Loki ruler does not remote-write "
                     "(that would open an unauthenticated write path into the Prometheus the deploy gate "
                     "trusts), so a record would be evaluated and discarded; put the LogQL in logs.queries "
                     "(a dashboard panel) or logs.alerts")
        retention = self.duration(body.get("retention"), path + ("retention",), positive=True,
                                  why="Loki reads 0s as keep forever")
        return m.LogsSettings(retention=retention or m.LogsSettings.retention,
                              queries=tuple(queries), alerts=tuple(alerts))

    def stack(self, body: dict) -> m.StackSettings:
        for name, image in (body.get("images") or {}).items():
            if image.endswith(":latest") or (":" not in image.split("/")[-1] and "@" not in image):
                self.err(("stack", "images", name), f"{image!r} is not pinned to a version")
        bind = body.get("bind_address")
        if isinstance(bind, str):
            bracketed = bind.startswith("[") and bind.endswith("]")
            version: int = 0
            try:
                version = ipaddress.ip_address(bind[1:-1] if bracketed else bind).version
            except ValueError:
                pass
            if version != (6 if bracketed else 4):
                self.err(("stack", "bind_address"), f"{bind!r} is not an IPv4 address or a bracketed IPv6 address "
                                                    "(compose publishes ports on an address, not a host name)")
        return m.StackSettings(**present(body, "bind_address", "secrets_dir"),
                               images=tuple(sorted((body.get("images") or {}).items())))

    def metric(self, name: str, body: dict) -> m.Metric:
        path = ("metrics", name)
        buckets = tuple(float(b) for b in body.get("buckets", []))
        if body["type"] == "histogram" and not buckets:
            self.err(path, "a histogram needs its bucket boundaries (buckets)")
        if buckets and body["type"] != "histogram":
            self.err(path + ("buckets",), f"only histograms have buckets, this is a {body['type']}")
        if list(buckets) != sorted(set(buckets)):
            self.err(path + ("buckets",), "bucket boundaries must be strictly increasing")
        if body["type"] == "counter" and not name.endswith("_total"):
            self.err(path, "a counter's name ends in _total (Prometheus naming convention)")
        if "le" in body.get("labels", []) or "quantile" in body.get("labels", []):
            self.err(path + ("labels",), "le and quantile are reserved label names")
        return m.Metric(name=name, type=body["type"], **present(body, "help", "unit"),
                        labels=tuple(body.get("labels", [])), buckets=buckets,
                        services=tuple(body.get("services", [])))

    def receiver(self, name: str, body: dict) -> m.Receiver:
        if not body:
            return m.Receiver(name=name)
        kind, settings = next(iter(body.items()))   # the schema allows exactly one, with its keys
        notifier = {"pagerduty": m.PagerDuty, "slack": m.Slack, "webhook": m.Webhook}[kind]
        return m.Receiver(name=name, notifier=notifier(**settings))

    def prometheus(self, body: dict) -> m.PrometheusSettings:
        path = ("prometheus",)
        defaults = m.PrometheusSettings()
        values = {}
        for key in ("scrape_interval", "scrape_timeout", "evaluation_interval",
                    "slo_evaluation_interval", "slo_long_evaluation_interval", "slo_absent_for"):
            values[key] = self.duration(body.get(key), path + (key,), positive=True) or getattr(defaults, key)
        try:
            timeout, interval = parse_duration(values["scrape_timeout"]), parse_duration(values["scrape_interval"])
        except ValueError:
            pass  # already reported
        else:
            if timeout > interval and "scrape_timeout" not in body:
                values["scrape_timeout"] = values["scrape_interval"]  # as Prometheus shortens its own default
            elif timeout > interval:
                self.err(path + ("scrape_timeout",), f"scrape_timeout {values['scrape_timeout']} is longer than "
                                                      f"scrape_interval {values['scrape_interval']} (Prometheus "
                                                      "refuses it)")
        return m.PrometheusSettings(
            **values, external_labels=tuple(sorted((body.get("external_labels") or {}).items())),
            blackbox_exporter=body.get("blackbox_exporter", defaults.blackbox_exporter),
            alertmanagers=tuple(body.get("alertmanagers", defaults.alertmanagers)),
            external_url=body.get("external_url"))

    def alertmanager(self, body: dict) -> m.AlertmanagerSettings:
        path = ("alertmanager",)
        default_priority = body.get("default_priority")
        if default_priority and default_priority not in self.priorities:
            self.err(path + ("default_priority",), f"severity {default_priority!r} is not defined under severities")
        bh = body.get("business_hours")
        hours = None
        if bh:
            bp = path + ("business_hours",)
            problem = timezoneproblem_at(bh.get("location", m.BusinessHours.location))
            if problem:
                self.err(bp + ("location",), problem)
            for j, days in enumerate(bh["weekdays"]):
                first, _, last = days.partition(":")
                if last and WEEKDAYS.index(first) > WEEKDAYS.index(last):
                    halves = ((first, "saturday"), ("sunday", last))
                    split = " and ".join(f"{a}:{b}" if a != b else a for a, b in halves)
                    self.err(bp + ("weekdays", j), f"{days} ends before it starts: Alertmanager's week runs from "
                                                   f"sunday to saturday and it refuses this range; write {split}")
            for j, t in enumerate(bh["times"]):
                if t["start"] >= t["end"]:
                    midnight = (f"; across midnight write two ranges, {t['start']}-24:00 and 00:00-{t['end']}"
                                if t["start"] > t["end"] else "")
                    self.err(bp + ("times", j), f"start {t['start']} is not before end {t['end']} "
                                                f"(Alertmanager refuses it){midnight}")
            hours = m.BusinessHours(**present(bh, "location"), weekdays=tuple(bh["weekdays"]),
                                    times=tuple((t["start"], t["end"]) for t in bh["times"]))
        group_by = body.get("group_by", m.AlertmanagerSettings().group_by)
        for j, label in enumerate(group_by):
            if label in group_by[:j]:
                self.err(path + ("group_by", j), f"label {label!r} is listed twice (Alertmanager refuses a "
                                                 "duplicated label in group_by)")
        resolve_timeout = self.duration(body.get("resolve_timeout"), path + ("resolve_timeout",), positive=True)
        return m.AlertmanagerSettings(
            resolve_timeout=resolve_timeout or m.AlertmanagerSettings.resolve_timeout,
            default_priority=default_priority, group_by=tuple(group_by), business_hours=hours,
            external_url=body.get("external_url"))

    def service(self, i: int, body: dict) -> m.Service:
        path = ("services", i)
        exporter = self.exporter(body["name"], body["exporter"], path + ("exporter",)) if "exporter" in body else None
        svc = m.Service(
            name=body["name"], kind=body["kind"], host=body.get("host", body["name"]), exporter=exporter,
            **present(body, "port", "description", "health", "metrics_path", "metrics_port", "scrape"))
        if svc.health and not svc.port:
            self.err(path + ("health",), "a health endpoint needs the service's port")
        if svc.scrape and svc.scrape_address is None:
            self.err(path, "needs a port, a metrics_port or an exporter to be scraped (or scrape: false)")
        slos = []
        seen: set[str] = set()
        for j, slo_body in enumerate(body.get("slos") or []):
            if slo_body["name"] in seen:
                self.err(path + ("slos", j, "name"), f"duplicate SLO name {slo_body['name']!r} in service {svc.name!r}")
            seen.add(slo_body["name"])
            slo = self.slo(svc, path + ("slos", j), slo_body)
            if slo:
                slos.append(slo)
        return m.Service(**{**svc.__dict__, "slos": tuple(slos)})

    # what each exporter type reads, as the spec writes it (the compose stack passes it on)
    _TARGET_SCHEMES = {"postgres": ("postgresql", "postgres"), "redis": ("redis", "rediss"), "nginx": ("http", "https")}

    def exporter(self, service: str, e: dict, path: tuple) -> m.Exporter:
        kind = e.get("type")
        up = e.get("up") or m.EXPORTER_BACKEND_UP.get(kind or "")
        target = e.get("target")
        if up is not None:
            metric = self.metrics.get(up)
            if metric is None:
                self.err(path + ("up" if "up" in e else "type",),
                         f"metric {up!r} (1 while the exporter reaches {service}) is not in the metrics catalogue")
            elif metric.type != "gauge":
                self.err(path + ("up",), f"metric {up!r} is a {metric.type}; an exporter's up metric is a gauge")
            elif metric.services and service not in metric.services:
                self.err(path + ("up",), f"metric {up!r} does not list service {service!r} under its services")
        if kind and target is None:
            self.err(path, f"a {kind} exporter needs the target it reads (target: "
                           f"{self._TARGET_SCHEMES[kind][0]}://...), which the compose stack passes to it")
        if target is not None and not kind:
            self.err(path + ("target",), "a target is what the compose stack passes to an exporter it runs: give "
                                         "the exporter's type (postgres, redis, nginx), or drop the target")
        if kind and target is not None:
            url = urlsplit(target)
            try:
                port_ok = url.port is None or 0 < url.port
            except ValueError:
                port_ok = False
            query = {k.lower() for k, _ in parse_qsl(url.query, keep_blank_values=True)}
            if url.scheme not in self._TARGET_SCHEMES[kind] or not url.hostname:
                self.err(path + ("target",), f"{target!r} is not a {' or '.join(self._TARGET_SCHEMES[kind])}:// "
                                             "URL with a host")
            elif not port_ok:
                self.err(path + ("target",), f"{target!r} has no valid port (1-65535)")
            elif url.password is not None or query & {"password", "pass", "passwd", "pwd"}:
                self.err(path + ("target",), "holds a password: secrets never go in the spec; the compose stack "
                                             "reads it from a file under stack.secrets_dir")
            elif kind == "postgres" and not url.username:
                self.err(path + ("target",), "names no user (postgresql://USER@host:port/db); the password "
                                             "comes from a file under stack.secrets_dir")
        return m.Exporter(host=e["host"], port=e["port"], **present(e, "metrics_path"),
                          type=kind, up=up, target=target)

    def check_ports(self, services: tuple[m.Service, ...]) -> None:
        seen: dict[tuple[str, int], str] = {}
        for i, svc in enumerate(services):
            addresses: list[tuple[tuple[str, int], tuple]] = []
            if svc.port:
                addresses.append(((svc.host, svc.port), ("services", i, "port")))
            if svc.metrics_port and svc.metrics_port != svc.port:
                addresses.append(((svc.host, svc.metrics_port), ("services", i, "metrics_port")))
            if svc.exporter:
                addresses.append(((svc.exporter.host, svc.exporter.port), ("services", i, "exporter", "port")))
            for addr, path in addresses:
                if addr in seen:
                    self.err(path, f"{addr[0]}:{addr[1]} is already used by {seen[addr]}")
                else:
                    seen[addr] = f"service {svc.name!r}"

    def slo(self, svc: m.Service, path: tuple, body: dict) -> m.SLO | None:
        for key in ("page", "ticket"):
            if body[key] not in self.priorities:
                self.err(path + (key,), f"severity {body[key]!r} is not defined under severities")
        objective = float(body["objective"])
        if objective >= 100:
            self.err(path + ("objective",), f"{body['objective']} leaves no error budget; use a value below 100")
        sli = self.sli(svc, path + ("sli",), body["sli"])
        if sli is None:
            return None
        raw_period = body.get("period", m.SLO_DEFAULT_PERIOD)
        calendar = self.calendar(raw_period, path + ("period",)) if isinstance(raw_period, dict) else None
        period = calendar.nominal if calendar else self.period(raw_period, path + ("period",))
        labels = self.rule_labels(body.get("labels") or {}, path + ("labels",))
        annotations = self.rule_annotations(body.get("annotations") or {}, path + ("annotations",))
        alerts = body.get("alerts") or {}
        page_alert = self.slo_alert(alerts.get("page") or {}, m.SLO_PAGE_ALERT, path + ("alerts", "page"))
        ticket_alert = self.slo_alert(alerts.get("ticket") or {}, m.SLO_TICKET_ALERT, path + ("alerts", "ticket"))
        if page_alert.name == ticket_alert.name:
            self.err(path + ("alerts", "ticket", "name"),
                     f"the page and the ticket alert are both {page_alert.name!r}; promtool tests and silences "
                     "need them apart")
        timeslices = self.timeslices(body.get("timeslices"), path + ("timeslices",))
        slo = m.SLO(service=svc.name, name=body["name"], objective=objective, period=period, labels=labels,
                    annotations=annotations, page_alert=page_alert, ticket_alert=ticket_alert,
                    page=body["page"], ticket=body["ticket"], sli=sli, min_events=body.get("min_events"),
                    timeslices=timeslices, calendar=calendar, **present(body, "description"))
        if isinstance(sli, m.ExpressionRatioSLI | m.RawSLI):
            self.sli_queries(slo, path)
        return slo

    def timeslices(self, body: dict | None, path: tuple) -> m.Timeslices | None:
        if body is None:
            return None
        window = self.duration(body["window"], path + ("window",), positive=True)
        return m.Timeslices(window=window or "1m", target=round(float(body["target"]) / 100, 12))

    def sli_queries(self, slo: m.SLO, path: tuple) -> None:
        """An expression SLI checked at every window its rules record it over; min_events refused
        (it counts requests over the long window, and an expression's unit is its own: a
        per-second rate, a count, a ratio)."""
        from lukhas_obs import conventions as conv

        windows = conv.query_windows(slo)
        match slo.sli:
            case m.RawSLI(error_ratio_query=query):
                queries = [("raw", "error_ratio", query)]
            case m.ExpressionRatioSLI(total_query=total, counted_query=counted, good=good):
                key = "good_query" if good else "errors_query"
                queries = [("ratio", key, counted), ("ratio", "total_query", total)]
            case _:
                queries = []
        for kind, key, template in queries:
            self.window_query(template, path + ("sli", kind, key), windows)
        if queries:   # the last is what the absent alert watches: the total, or the raw ratio
            kind, key, watched = queries[-1]
            self.watchable(watched, path + ("sli", kind, key))
        if slo.min_events:
            self.err(path + ("min_events",), "min_events counts the requests of a selector SLI; an SLI expression's "
                                             "value has its own unit (a rate, a count, a ratio), so it cannot apply: "
                                             "leave it out, or write the SLI with selectors")

    def sli(self, svc: m.Service, path: tuple, body: dict) -> m.SLI | None:
        kind, b = next(iter(body.items()))
        p = path + (kind,)
        if kind == "ratio" and any(k.endswith("_query") for k in b):
            if any(not k.endswith("_query") for k in b):
                self.err(p, "give selectors (errors or good, and total) or expressions (errors_query or good_query, "
                            "and total_query), not both")
                return None
            if ("errors_query" in b) == ("good_query" in b) or "total_query" not in b:
                self.err(p, "give exactly one of errors_query or good_query, beside total_query")
                return None
            good = "good_query" in b
            return m.ExpressionRatioSLI(total_query=b["total_query"],
                                        counted_query=b["good_query" if good else "errors_query"], good=good)
        if kind == "raw":
            return m.RawSLI(error_ratio_query=b["error_ratio"])
        if kind == "ratio":
            if ("errors" in b) == ("good" in b) or "total" not in b:
                self.err(p, "give exactly one of errors or good, beside total")
                return None
            total = self.selector(b["total"], p + ("total",))
            key = "errors" if "errors" in b else "good"
            counted = self.selector(b[key], p + (key,))
            if total is None or counted is None:
                return None
            return m.RatioSLI(total=total, counted=counted, good=key == "good")
        if kind == "latency":
            metric = self.metrics.get(b["metric"])
            if metric is None:
                self.err(p + ("metric",), f"metric {b['metric']!r} is not in the metrics catalogue")
                return None
            if metric.type != "histogram":
                self.err(p + ("metric",), f"metric {b['metric']!r} is a {metric.type}; a latency SLI needs a histogram")
                return None
            threshold = float(b["threshold"])
            if threshold not in metric.buckets:
                bounds = ", ".join(f"{x:g}" for x in metric.buckets)
                self.err(p + ("threshold",), f"{b['threshold']} is not a bucket boundary of {metric.name} "
                                             f"(boundaries: {bounds}); a latency SLI is exact only on a boundary")
                return None
            sel = Selector(metric.name)
            if b.get("selector"):
                extra = self.selector(f"{metric.name}{b['selector']}", p + ("selector",), None)
                if extra is None:
                    return None
                sel = extra
            return m.LatencySLI(metric=sel, threshold=threshold)
        if kind == "availability":
            availability = m.AvailabilitySLI(**present(b, "source"))
            if availability.source == "probe" and not svc.health_url:
                self.err(p + ("source",), f"service {svc.name!r} has no health endpoint to probe")
                return None
            if availability.source == "up" and not svc.scrape:
                self.err(p + ("source",), f"service {svc.name!r} is not scraped, so it has no `up` series")
                return None
            return availability
        if kind == "threshold":
            gauge = self.selector(b["metric"], p + ("metric",), ("gauge",))
            if gauge is None:
                return None
            lo, hi = b.get("min"), b.get("max")
            if lo is None and hi is None:
                self.err(p, "give min, max or both")
                return None
            if lo is not None and hi is not None and lo >= hi:
                self.err(p + ("min",), f"min {lo} is not below max {hi}")
                return None
            return m.ThresholdSLI(metric=gauge, min=None if lo is None else float(lo),
                                  max=None if hi is None else float(hi))
        self.err(p, f"unknown SLI kind {kind!r}")
        return None

    def alert(self, i: int, body: dict) -> m.Alert:
        path = ("alerts", i)
        kinds = [k for k in ("expr", "target_down", "error_ratio", "quantile", "rate") if k in body]
        if len(kinds) != 1:
            self.err(path, "give exactly one of expr, target_down, error_ratio, quantile, rate"
                           + (f" (found {', '.join(kinds)})" if kinds else ""))
            condition: m.AlertCondition = m.ExprCondition("vector(0)")
        else:
            condition = self.alert_condition(kinds[0], body[kinds[0]], path + (kinds[0],))
        if body["priority"] not in self.priorities:
            self.err(path + ("priority",), f"severity {body['priority']!r} is not defined under severities")
        if body.get("service") and body["service"] not in self.service_names:
            self.err(path + ("service",), f"service {body['service']!r} is not defined under services")
        if body.get("service") and body.get("service_label"):
            self.err(path + ("service_label",), "give service or service_label, not both")
        self.duration(body.get("for"), path + ("for",))  # 0s: fire at once, as Prometheus allows
        for key in ("summary", "description"):
            self.template(body.get(key), path + (key,))
        return m.Alert(name=body["name"], priority=body["priority"], summary=body["summary"],
                       condition=condition, for_=body.get("for"), **present(body, "description"),
                       service=body.get("service"), service_label=body.get("service_label"),
                       runbook=body.get("runbook"), dashboard=body.get("dashboard"))

    def alert_condition(self, kind: str, b, path: tuple) -> m.AlertCondition:
        """The alert's condition; on an error, a placeholder (the error stops the build)."""
        placeholder = Selector("up")
        if kind == "expr":
            self.alert_expr(b, path)
            return m.ExprCondition(b)
        if kind == "target_down":
            for j, name in enumerate(b["services"]):
                if name not in self.service_names:
                    self.err(path + ("services", j), f"service {name!r} is not defined under services")
            return m.TargetDown(tuple(b["services"]))
        window = self.duration(b.get("window"), path + ("window",), positive=True) or m.ALERT_DEFAULT_WINDOW
        if kind == "error_ratio":
            errors = self.selector(b["errors"], path + ("errors",))
            total = self.selector(b["total"], path + ("total",))
            return m.ErrorRatio(errors or placeholder, total or placeholder, float(b["above"]), window)
        if kind == "quantile":
            metric = self.metrics.get(b["metric"])
            if metric is None or metric.type != "histogram":
                what = "is not in the metrics catalogue" if metric is None else f"is a {metric.type}"
                self.err(path + ("metric",), f"metric {b['metric']!r} {what}; a quantile alert needs a histogram "
                                             "(summary quantiles cannot be aggregated across instances)")
            sel = Selector(b["metric"] + "_bucket")
            if b.get("selector"):
                extra = self.selector(f"{b['metric']}{b['selector']}", path + ("selector",), None)
                if extra:
                    sel = extra.renamed(b["metric"] + "_bucket")
            return m.QuantileAbove(sel, float(b["quantile"]), float(b["above"]), window)
        if kind == "rate":
            counter = self.selector(b["metric"], path + ("metric",))
            return m.RateAbove(counter or placeholder, float(b["above"]), window)
        raise AssertionError(kind)


# ---- Alertmanager time intervals ---------------------------------------------------------------
WEEKDAYS = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")  # Alertmanager's order


def timezoneproblem_at(name: str) -> str | None:
    """Alertmanager loads `location` from the IANA time zone database and refuses a name it
    lacks. None when the zone exists, or when this machine has no database to tell."""
    if name == "Local":
        return ("'Local' is whatever zone the Alertmanager container runs in; name the zone, "
                "e.g. Europe/Berlin or UTC")
    try:
        ZoneInfo(name)
        return None
    except (ZoneInfoNotFoundError, ValueError, OSError):
        pass
    try:
        ZoneInfo("UTC")
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None  # no time zone database on this machine (pip install tzdata): cannot tell
    return f"unknown time zone {name!r}: Alertmanager would refuse it (an IANA name such as Europe/Berlin or UTC)"


