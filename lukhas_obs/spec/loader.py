"""Load a spec: YAML (safe, with lines) -> JSON Schema -> meaning checks -> model.

Every problem is collected and reported at once as FILE:LINE: key.path: message."""

from __future__ import annotations

import functools
import json
import math
import re
from importlib import resources
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jsonschema
import promql_parser
import yaml

from lukhas_obs import model as m
from lukhas_obs.durations import format_duration, parse_duration
from lukhas_obs.errors import Problem, SpecError, render_path
from lukhas_obs.promql import (
    WINDOW,
    WINDOW_PLACEHOLDER,
    PromQLError,
    Selector,
    at_window,
    metric_names,
    parse,
    parse_selector,
)
from lukhas_obs.spec import sanity
from lukhas_obs.spec.gotemplate import template_problem
from lukhas_obs.spec.yamlsource import LineMap, Sources, parse_yaml

# Series every Prometheus has without a catalogue entry.
BUILTIN_PREFIXES = ("scrape_", "probe_", "prometheus_", "alertmanager_", "process_", "go_")
BUILTIN_NAMES = {"up", "ALERTS", "ALERTS_FOR_STATE"}
HISTOGRAM_SUFFIXES = ("_bucket", "_count", "_sum")


def schema() -> dict:
    text = resources.files("lukhas_obs.spec").joinpath("schema.json").read_text(encoding="utf-8")
    return json.loads(text)


_VALIDATOR = None


@functools.cache
def _ecma_regex(pattern: str) -> re.Pattern:
    """A schema pattern with ECMA-262's `$` (end of the text): Python's `$` also matches before
    a final newline, which would let 'checkout\\n' pass ^[a-z][a-z0-9-]*$."""
    out, in_class, i = [], False, 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            out.append(pattern[i:i + 2])
            i += 2
            continue
        if c == "[":
            in_class = True
        elif c == "]":
            in_class = False
        out.append("\\Z" if c == "$" and not in_class else c)
        i += 1
    return re.compile("".join(out))


def _pattern(validator, pattern, instance, schema):
    if validator.is_type(instance, "string") and not _ecma_regex(pattern).search(instance):
        yield jsonschema.ValidationError(f"{instance!r} does not match {pattern!r}")


def _validator():
    global _VALIDATOR
    if _VALIDATOR is None:
        # the schema itself is checked against the metaschema in the tests, not at every run:
        # that check is most of a cold `slo-gate` start.
        # An integer is an int: JSON Schema counts 8080.0 as one, but it would be written into
        # the configs as 8080.0.
        base = jsonschema.Draft202012Validator
        types = base.TYPE_CHECKER.redefine(
            "integer", lambda _checker, value: isinstance(value, int) and not isinstance(value, bool))
        cls = jsonschema.validators.extend(base, validators={"pattern": _pattern}, type_checker=types)
        _VALIDATOR = cls(schema())
    return _VALIDATOR


def load_spec(path: str | Path) -> m.Spec:
    """A spec file, or a folder of them (see load_spec_dir)."""
    p = Path(path)
    if p.is_dir():
        return load_spec_dir(p)
    name = display_name(p)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError([Problem(name, 1, "", "no such file")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError([Problem(name, 1, "", f"cannot read the spec: {exc}")]) from None
    return load_spec_text(text, name)


TEAM_KEYS = ("apiVersion", "team", "services", "metrics", "alerts")


def load_spec_dir(folder: Path) -> m.Spec:
    """A folder of spec files: exactly one holds the shared definitions (the file with
    `severities`, plus receivers, Alertmanager, Prometheus and gate settings and the common
    metric catalogue); every other file is a team's, holding `services`, and may add `metrics`
    and `alerts`. Names must not collide across files; errors name both files. Files are merged
    in name order, so the output is deterministic."""
    display = display_name(folder).rstrip("/") + "/"
    files = sorted(f for f in folder.iterdir() if f.is_file() and f.suffix in (".yaml", ".yml"))
    if not files:
        raise SpecError([Problem(display, 1, "", "no .yaml spec files in this folder")])
    parsed, problems = [], []
    for f in files:
        name = display_name(f)
        try:
            data, lines = parse_yaml(f.read_text(encoding="utf-8"), name)
        except SpecError as exc:
            problems += exc.problems
            continue
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(Problem(name, 1, "", f"cannot read the spec: {exc}"))
            continue
        if not isinstance(data, dict):
            problems.append(Problem(name, 1, "", "a spec file holds a mapping"))
            continue
        parsed.append((name, data, lines))
    if problems:
        raise SpecError(problems)
    bases = [p for p in parsed if "severities" in p[1]]
    if len(bases) != 1:
        found = ", ".join(p[0] for p in bases) or "none"
        raise SpecError([Problem(display, 1, "", "exactly one file must hold the shared definitions "
                                                 f"(severities, receivers, ...); found {found}")])
    base_name, base, base_lines = bases[0]
    merged = {**base, "services": list(base.get("services") or []), "alerts": list(base.get("alerts") or []),
              "metrics": dict(base.get("metrics") or {})}
    sources = Sources.single(base_name, base_lines)
    owners: dict[tuple[str, str], tuple[str, int]] = {}

    def claim(kind: str, key, name: str, lines: LineMap, path: tuple) -> None:
        if not isinstance(key, str):
            return
        if (kind, key) in owners:
            owner, line = owners[(kind, key)]
            where = f"{owner}:{line}"
            problems.append(Problem(name, lines.line(path), render_path(path),
                                    f"{kind[:-1]} {key!r} is already defined in {where}"))
        else:
            owners[(kind, key)] = (name, lines.line(path))

    for kind in ("services", "alerts"):
        for j, item in enumerate(merged[kind]):
            claim(kind, isinstance(item, dict) and item.get("name"), base_name, base_lines, (kind, j, "name"))
    for key in merged["metrics"]:
        claim("metrics", key, base_name, base_lines, ("metrics", key))
    for name, data, lines in parsed:
        if name == base_name:
            continue
        for key in sorted(set(data) - set(TEAM_KEYS)):
            problems.append(Problem(name, lines.line((key,)), key,
                                    f"a team file holds only {', '.join(TEAM_KEYS)}; "
                                    f"{key} belongs in the shared file {base_name}"))
        if data.get("apiVersion") != base.get("apiVersion"):
            problems.append(Problem(name, lines.line(("apiVersion",)), "apiVersion",
                                    f"{data.get('apiVersion')!r} differs from "
                                    f"{base_name}'s {base.get('apiVersion')!r}"))
        for kind in ("services", "alerts"):
            items = data.get(kind) or []
            if not isinstance(items, list):
                problems.append(Problem(name, lines.line((kind,)), kind, f"{kind} is a list"))
                continue
            for j, item in enumerate(items):
                claim(kind, isinstance(item, dict) and item.get("name"), name, lines, (kind, j, "name"))
                sources.add((kind, len(merged[kind])), name, lines, (kind, j))
                merged[kind].append(item)
        metrics = data.get("metrics") or {}
        if isinstance(metrics, dict):
            for key, body in metrics.items():
                claim("metrics", key, name, lines, ("metrics", key))
                sources.add(("metrics", key), name, lines, ("metrics", key))
                merged["metrics"].setdefault(key, body)
    if problems:
        raise SpecError(problems)
    if not merged["alerts"]:
        merged.pop("alerts")
    return _validated(merged, sources, display)


def display_name(p: Path) -> str:
    """The spec's path relative to the working folder when it lies inside it (stable in headers)."""
    try:
        return p.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return p.as_posix()


def load_spec_text(text: str, filename: str) -> m.Spec:
    data, lines = parse_yaml(text, filename)
    return _validated(data, Sources.single(filename, lines), filename)


def _validated(data, sources: Sources, display: str) -> m.Spec:
    problems = schema_problems(data, sources)
    if problems:
        raise SpecError(problems)
    builder = _Builder(data, sources, display)
    spec = builder.build()
    if builder.problems:
        raise SpecError(builder.problems)
    return spec


def _problem(sources: Sources, path: tuple, message: str) -> Problem:
    filename, line, local = sources.locate(path)
    return Problem(filename, line, render_path(local), message)


# Where a string may span lines (or hold a tab): prose, and PromQL/LogQL (which ignore them).
MULTILINE_KEYS = frozenset({"description", "summary", "help", "title", "expr", "errors", "good", "total",
                            "errors_query", "good_query", "total_query", "error_ratio",
                            "selector", "requests", "metric"})


def _text_problem(text: str, multiline: bool) -> str | None:
    if text.isprintable():
        return None
    for c in text:
        if c in "\n\r\t" and multiline:
            continue
        if c in "\n\r":
            return (f"{text!r} contains a line break; only descriptions, summaries, help texts and "
                    "PromQL may span lines")
        if ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0:
            return f"{text!r} contains the control character U+{ord(c):04X}"
    return None


def text_problems(data) -> dict[tuple, tuple[tuple, str]]:
    """What no value of a spec may be, checked in one walk of the document:
    - names, labels and settings are one line of visible text: a newline or other control
      character in them would end up in file names, label values and configs;
    - YAML's .nan and .inf are numbers to the JSON Schema (every comparison with NaN is false),
      but no threshold, objective or ratio can be one.
    {path of the value: (path to report at, message)}; a bad key is reported at its mapping, as
    the key itself cannot be part of a one-line key path."""
    problems: dict[tuple, tuple[tuple, str]] = {}

    def walk(node, path: tuple, key) -> None:
        if isinstance(node, float) and not math.isfinite(node):
            problems[path] = (path, f"{node!r} is not a finite number")
        elif isinstance(node, str):
            msg = _text_problem(node, key in MULTILINE_KEYS)
            if msg:
                problems[path] = (path, msg)
        elif isinstance(node, dict):
            for k, value in node.items():
                msg = _text_problem(k, False) if isinstance(k, str) else None
                if msg:
                    problems[path + (k,)] = (path, f"the key {msg}")
                walk(value, path + (k,), k)
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, path + (i,), key)

    walk(data, (), None)
    return problems


def _branch_errors(errors):
    """A value that fits none of a oneOf's forms (a period: a duration, or {calendar: ...}) is
    reported by the form of its own type: '7 days' does not match a duration."""
    for err in errors:
        inner = [e for e in err.context or () if e.validator != "type"] if err.validator == "oneOf" else []
        yield from inner or [err]


def schema_problems(data, sources: Sources) -> list[Problem]:
    text = text_problems(data)
    problems = [_problem(sources, where, msg) for where, msg in text.values()]
    for err in _branch_errors(_validator().iter_errors(data)):
        path = tuple(err.absolute_path)
        msg = err.message
        if err.validator == "pattern" and (path in text or path + (err.instance,) in text):
            continue  # already said: it holds a control character
        if err.validator == "additionalProperties" and isinstance(err.instance, dict):
            allowed = set(err.schema.get("properties", {}))
            for key in sorted(set(err.instance) - allowed):
                known = ", ".join(sorted(allowed)) or "none"
                problems.append(_problem(sources, path + (key,), f"unknown key (allowed here: {known})"))
            continue
        if err.validator == "required":
            msg = err.message.replace("is a required property", "is required")
        elif err.validator == "pattern":
            # a pattern with a $comment is shown by what it means, not as a regular expression
            msg = f"{err.instance!r} does not match {err.schema.get('$comment') or err.validator_value}"
        elif err.validator == "maximum":
            msg = f"{err.instance} is above {err.validator_value}"
        elif err.validator in ("minimum", "exclusiveMinimum"):
            or_equal = "or equal to " if err.validator == "exclusiveMinimum" else ""
            msg = f"{err.instance} is below {or_equal}{err.validator_value}"
        elif err.validator == "maxProperties" and path and path[-1] == "sli":
            msg = f"an SLI has exactly one kind, found {', '.join(sorted(err.instance))}"
        elif err.validator == "const":
            msg = f"{err.instance!r} is not supported; expected {err.validator_value!r}"
        problems.append(_problem(sources, path, msg))
    return problems


class _Builder:
    """Meaning checks that a schema cannot express, done while building the model."""

    def __init__(self, data: dict, sources: Sources, display: str):
        self.data = data
        self.sources = sources
        self.file = display
        self.problems: list[Problem] = []

    def err(self, path: tuple, message: str) -> None:
        self.problems.append(_problem(self.sources, path, message))

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
            return "30d"
        try:
            seconds = parse_duration(value)
        except ValueError:
            return "30d"   # reported above
        low, high = m.SLO_PERIOD_RANGE
        if seconds % 60:
            self.err(path, f"{value} is not a whole number of minutes")
        elif not low <= seconds <= high:
            self.err(path, f"{value} is outside the periods whose burn-rate windows make sense "
                           f"({format_duration(low)} to {format_duration(high)})")
        return format_duration(seconds) if seconds > 0 else "30d"

    def calendar(self, value: dict, path: tuple) -> m.Calendar:
        """A calendar period: its unit (the schema checked it) and an IANA time zone that this
        machine's zone database knows (the rules carry its UTC offsets)."""
        from lukhas_obs.calendar import known_zone

        zone = value.get("timezone", "UTC")
        if not known_zone(zone):
            self.err(path + ("timezone",), f"{zone!r} is not an IANA time zone (e.g. UTC, Europe/Berlin, "
                                           "America/New_York)")
            zone = "UTC"
        return m.Calendar(value["calendar"], zone)

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

    def alert_expr(self, text: str, path: tuple, what: str = "an alert's expr", prefix: str = "") -> bool:
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
            if kind != "vector":
                hint = {"matrix": "; wrap the range in a function such as rate() or max_over_time()",
                        "scalar": "; an alert needs series to alert on (compare a metric, or use vector())",
                        "string": ""}[kind]
                self.err(path, f"{prefix}{what} must give an instant vector, this gives a {_TYPE_NAMES[kind]}{hint}")
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

    def prometheus_version(self) -> tuple[int, int, int] | None:
        images = (self.data.get("stack") or {}).get("images") or {}
        image = images.get("prometheus") or _default_images().get("prometheus", "")
        found = re.search(r":v?([0-9]+)\.([0-9]+)\.([0-9]+)", image.split("/")[-1])
        return None if found is None else (int(found[1]), int(found[2]), int(found[3]))

    # ---- sections ---------------------------------------------------------------------------
    def build(self) -> m.Spec:
        d = self.data
        self.metrics = {name: self.metric(name, body) for name, body in (d.get("metrics") or {}).items()}
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
                priority=prio, level=body["level"], receiver=body["receiver"], page=body.get("page", False),
                description=body.get("description", ""), notify_within=body.get("notify_within"),
                group_wait=body.get("group_wait", "30s"), group_interval=body.get("group_interval", "5m"),
                repeat_interval=body.get("repeat_interval", "4h"),
                business_hours_only=body.get("business_hours_only", False)))
        self.priorities = {s.priority for s in severities}

        prom = self.prometheus(d.get("prometheus") or {})
        am = self.alertmanager(d.get("alertmanager") or {})
        if any(s.business_hours_only for s in severities) and am.business_hours is None:
            path = next(("severities", s.priority, "business_hours_only") for s in severities if s.business_hours_only)
            self.err(path, "needs alertmanager.business_hours to say when business hours are")

        self.service_names: set[str] = set()
        for i, svc in enumerate(d["services"]):
            if svc["name"] in self.service_names:
                self.err(("services", i, "name"), f"duplicate service name {svc['name']!r}")
            self.service_names.add(svc["name"])
        services = tuple(self.service(i, body) for i, body in enumerate(d["services"]))
        self.services_by_name = {svc.name: svc for svc in services}
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
        k8s = d.get("kubernetes")
        kubernetes = None if k8s is None else m.KubernetesSettings(
            namespace=k8s.get("namespace", "monitoring"), labels=tuple(sorted((k8s.get("labels") or {}).items())),
            dashboard_label=k8s.get("dashboard_label", "grafana_dashboard"),
            metrics_port_name=k8s.get("metrics_port_name", "metrics"))
        links = d.get("links") or {}
        for key in ("runbook_base_url", "grafana_url"):  # the start of annotation values
            self.template(links.get(key), ("links", key))
        spec = m.Spec(
            source=self.file, project=d["project"], environment=d.get("environment", "production"),
            network=d.get("network"), runbook_base_url=links.get("runbook_base_url", ""),
            grafana_url=links.get("grafana_url", ""), prometheus=prom, alertmanager=am,
            receivers=receivers, severities=tuple(severities),
            metrics=tuple(self.metrics[k] for k in sorted(self.metrics)), services=services,
            alerts=tuple(alerts), gates=gates, logs=logs, stack=stack, kubernetes=kubernetes,
            ruler=None if d.get("ruler") is None else m.RulerSettings(
                source_tenants=tuple(d["ruler"].get("source_tenants", ())),
                max_rules_per_group=d["ruler"].get("max_rules_per_group", 20),
                max_groups_per_tenant=d["ruler"].get("max_groups_per_tenant", 70)))
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
        if "min_remaining" in (body.get("budget") or {}):
            values["budget_min_remaining"] = float(body["budget"]["min_remaining"])
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
                                      description=q.get("description", ""), dashboard=q.get("dashboard")))
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
            alerts.append(m.Alert(name=a["name"], priority=a["priority"], summary=a["summary"], kind="logql",
                                  params=(("expr", a["expr"]),), for_=a.get("for"),
                                  description=a.get("description", ""), service=a.get("service"),
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
        return m.LogsSettings(retention=retention or "30d",
                              queries=tuple(queries), alerts=tuple(alerts))

    def stack(self, body: dict) -> m.StackSettings:
        for name, image in (body.get("images") or {}).items():
            if image.endswith(":latest") or (":" not in image.split("/")[-1] and "@" not in image):
                self.err(("stack", "images", name), f"{image!r} is not pinned to a version")
        return m.StackSettings(bind_address=body.get("bind_address", "127.0.0.1"),
                               secrets_dir=body.get("secrets_dir", "./secrets"),
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
        return m.Metric(name=name, type=body["type"], help=body.get("help", ""), unit=body.get("unit", ""),
                        labels=tuple(body.get("labels", [])), buckets=buckets,
                        services=tuple(body.get("services", [])))

    def receiver(self, name: str, body: dict) -> m.Receiver:
        if not body:
            return m.Receiver(name=name, kind="none")
        kind, settings = next(iter(body.items()))
        return m.Receiver(name=name, kind=kind, settings=tuple(sorted(settings.items())))

    def prometheus(self, body: dict) -> m.PrometheusSettings:
        path = ("prometheus",)
        defaults = m.PrometheusSettings()
        values = {}
        for key in ("scrape_interval", "scrape_timeout", "evaluation_interval",
                    "slo_evaluation_interval", "slo_long_evaluation_interval"):
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
            problem = timezone_problem(bh.get("location", "UTC"))
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
            hours = m.BusinessHours(location=bh.get("location", "UTC"), weekdays=tuple(bh["weekdays"]),
                                    times=tuple((t["start"], t["end"]) for t in bh["times"]))
        group_by = body.get("group_by", m.AlertmanagerSettings().group_by)
        for j, label in enumerate(group_by):
            if label in group_by[:j]:
                self.err(path + ("group_by", j), f"label {label!r} is listed twice (Alertmanager refuses a "
                                                 "duplicated label in group_by)")
        resolve_timeout = self.duration(body.get("resolve_timeout"), path + ("resolve_timeout",), positive=True)
        return m.AlertmanagerSettings(
            resolve_timeout=resolve_timeout or "5m", default_priority=default_priority,
            group_by=tuple(group_by), business_hours=hours, external_url=body.get("external_url"))

    def service(self, i: int, body: dict) -> m.Service:
        path = ("services", i)
        exporter = self.exporter(body["name"], body["exporter"], path + ("exporter",)) if "exporter" in body else None
        svc = m.Service(
            name=body["name"], kind=body["kind"], host=body.get("host", body["name"]), port=body.get("port"),
            description=body.get("description", ""), health=body.get("health"),
            metrics_path=body.get("metrics_path", "/metrics"), metrics_port=body.get("metrics_port"),
            scrape=body.get("scrape", True), exporter=exporter)
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
        return m.Exporter(host=e["host"], port=e["port"], metrics_path=e.get("metrics_path", "/metrics"),
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
        raw_period = body.get("period", "30d")
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
        slo = m.SLO(service=svc.name, name=body["name"], objective=objective, period=period, labels=labels,
                    annotations=annotations, page_alert=page_alert, ticket_alert=ticket_alert,
                    page=body["page"], ticket=body["ticket"], sli=sli, min_events=body.get("min_events"),
                    description=body.get("description", ""), calendar=calendar)
        if sli.expression:
            self.sli_queries(slo, path)
        return slo

    def sli_queries(self, slo: m.SLO, path: tuple) -> None:
        """An expression SLI checked at every window its rules record it over; min_events refused
        (it counts requests over the long window, and an expression's unit is its own: a
        per-second rate, a count, a ratio)."""
        from lukhas_obs import conventions as conv

        sli = slo.sli
        kind = "raw" if sli.kind == "raw" else "ratio"
        windows = conv.query_windows(slo)
        for key, template in (("errors_query", sli.errors_query), ("good_query", sli.good_query),
                              ("total_query", sli.total_query), ("error_ratio", sli.error_ratio_query)):
            if template is not None:
                self.window_query(template, path + ("sli", kind, key), windows)
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
            return m.SLI(kind="ratio", errors_query=b.get("errors_query"), good_query=b.get("good_query"),
                         total_query=b["total_query"])
        if kind == "raw":
            return m.SLI(kind="raw", error_ratio_query=b["error_ratio"])
        if kind == "ratio":
            if ("errors" in b) == ("good" in b) or "total" not in b:
                self.err(p, "give exactly one of errors or good, beside total")
                return None
            total = self.selector(b["total"], p + ("total",))
            errors = self.selector(b["errors"], p + ("errors",)) if "errors" in b else None
            good = self.selector(b["good"], p + ("good",)) if "good" in b else None
            if total is None or (errors is None and good is None):
                return None
            return m.SLI(kind="ratio", errors=errors, good=good, total=total)
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
            return m.SLI(kind="latency", metric=sel, threshold=threshold)
        if kind == "availability":
            source = b.get("source", "up")
            if source == "probe" and not svc.health_url:
                self.err(p + ("source",), f"service {svc.name!r} has no health endpoint to probe")
                return None
            if source == "up" and not svc.scrape:
                self.err(p + ("source",), f"service {svc.name!r} is not scraped, so it has no `up` series")
                return None
            return m.SLI(kind="availability", source=source)
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
            return m.SLI(kind="threshold", metric=gauge,
                         min=None if lo is None else float(lo), max=None if hi is None else float(hi))
        self.err(p, f"unknown SLI kind {kind!r}")
        return None

    def alert(self, i: int, body: dict) -> m.Alert:
        path = ("alerts", i)
        kinds = [k for k in ("expr", "target_down", "error_ratio", "quantile", "rate") if k in body]
        if len(kinds) != 1:
            self.err(path, "give exactly one of expr, target_down, error_ratio, quantile, rate"
                           + (f" (found {', '.join(kinds)})" if kinds else ""))
            kind, params = "expr", (("expr", "vector(0)"),)
        else:
            kind = kinds[0]
            params = self.alert_params(kind, body[kind], path + (kind,))
        if body["priority"] not in self.priorities:
            self.err(path + ("priority",), f"severity {body['priority']!r} is not defined under severities")
        if body.get("service") and body["service"] not in self.service_names:
            self.err(path + ("service",), f"service {body['service']!r} is not defined under services")
        if body.get("service") and body.get("service_label"):
            self.err(path + ("service_label",), "give service or service_label, not both")
        self.duration(body.get("for"), path + ("for",))  # 0s: fire at once, as Prometheus allows
        for key in ("summary", "description"):
            self.template(body.get(key), path + (key,))
        return m.Alert(name=body["name"], priority=body["priority"], summary=body["summary"], kind=kind,
                       params=params, for_=body.get("for"), description=body.get("description", ""),
                       service=body.get("service"), service_label=body.get("service_label"),
                       runbook=body.get("runbook"), dashboard=body.get("dashboard"))

    def alert_params(self, kind: str, b, path: tuple) -> tuple:
        if kind == "expr":
            self.alert_expr(b, path)
            return (("expr", b),)
        if kind == "target_down":
            for j, name in enumerate(b["services"]):
                if name not in self.service_names:
                    self.err(path + ("services", j), f"service {name!r} is not defined under services")
            down = tuple(sel for name in b["services"] if name in self.services_by_name
                         for sel in self.services_by_name[name].down_selectors())
            return (("services", tuple(b["services"])), ("down", down))
        if kind == "error_ratio":
            errors = self.selector(b["errors"], path + ("errors",))
            total = self.selector(b["total"], path + ("total",))
            return (("errors", errors), ("total", total), ("above", float(b["above"])),
                    ("window", self.duration(b.get("window"), path + ("window",), positive=True) or "5m"))
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
            return (("selector", sel), ("quantile", float(b["quantile"])), ("above", float(b["above"])),
                    ("window", self.duration(b.get("window"), path + ("window",), positive=True) or "5m"))
        if kind == "rate":
            counter = self.selector(b["metric"], path + ("metric",))
            return (("selector", counter), ("above", float(b["above"])),
                    ("window", self.duration(b.get("window"), path + ("window",), positive=True) or "5m"))
        raise AssertionError(kind)


# ---- Alertmanager time intervals ---------------------------------------------------------------
WEEKDAYS = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")  # Alertmanager's order


def timezone_problem(name: str) -> str | None:
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


# ---- PromQL the pinned Prometheus would refuse -------------------------------------------------
_TYPE_NAMES = {"vector": "instant vector", "matrix": "range vector", "scalar": "scalar", "string": "string"}


def value_type(node) -> str:
    """What a parsed PromQL expression evaluates to: vector, matrix, scalar or string."""
    if isinstance(node, promql_parser.VectorSelector | promql_parser.AggregateExpr):
        return "vector"
    if isinstance(node, promql_parser.MatrixSelector | promql_parser.SubqueryExpr):
        return "matrix"
    if isinstance(node, promql_parser.NumberLiteral):
        return "scalar"
    if isinstance(node, promql_parser.StringLiteral):
        return "string"
    if isinstance(node, promql_parser.ParenExpr | promql_parser.UnaryExpr):
        return value_type(node.expr)
    if isinstance(node, promql_parser.BinaryExpr):
        return "vector" if "vector" in (value_type(node.lhs), value_type(node.rhs)) else "scalar"
    if isinstance(node, promql_parser.Call):
        return str(node.func.return_type).rsplit(".", 1)[-1].lower()
    return "vector"


# Prometheus v2.53's PromQL functions (promql/parser/functions.go at v2.53.2), without the
# experimental ones, which need --enable-feature=promql-experimental-functions (the generated
# stack does not set it), and its aggregation operators (promql/parser/lex.go).
PROMETHEUS_2_FUNCTIONS = frozenset("""
    abs absent absent_over_time acos acosh asin asinh atan atanh avg_over_time ceil changes clamp clamp_max
    clamp_min cos cosh count_over_time days_in_month day_of_month day_of_week day_of_year deg delta deriv exp
    floor histogram_avg histogram_count histogram_sum histogram_stddev histogram_stdvar histogram_fraction
    histogram_quantile holt_winters hour idelta increase irate label_replace label_join last_over_time ln log10
    log2 max_over_time min_over_time minute month pi predict_linear present_over_time quantile_over_time rad
    rate resets round scalar sgn sin sinh sort sort_desc sqrt stddev_over_time stdvar_over_time sum_over_time
    tan tanh time timestamp vector year""".split())
PROMETHEUS_2_EXPERIMENTAL = frozenset({"mad_over_time", "sort_by_label", "sort_by_label_desc"})
PROMETHEUS_2_AGGREGATIONS = frozenset(
    "sum avg count min max group stddev stdvar topk bottomk count_values quantile".split())
# Experimental in Prometheus 3 (functions.go on main): refused there too, as the flag is not set.
PROMETHEUS_3_EXPERIMENTAL = frozenset("""
    double_exponential_smoothing end first_over_time histogram_quantiles info integral limitk limit_ratio
    mad_over_time range sort_by_label sort_by_label_desc start step ts_of_first_over_time ts_of_last_over_time
    ts_of_max_over_time ts_of_min_over_time""".split())
_BRACKETS = re.compile(r"\[([^\]]*)\]")
_OFFSET = re.compile(r"\boffset\s*-?\s*([0-9][0-9A-Za-z.+]*)")
_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`|#[^\n]*')


def _pinned(version: tuple[int, int, int]) -> str:
    return f"Prometheus v{'.'.join(map(str, version))}, the version the stack pins"


_MAX_SECONDS = (2**63 - 1) / 1e9  # a Go time.Duration


def duration_problems(text: str, version: tuple[int, int, int] | None) -> list[str]:
    """The durations of ranges, subqueries and offsets, read from the text: Prometheus 2 wants
    a unit on each (the in-process parser takes a bare number as seconds, as Prometheus 3 does)
    and no version takes one past ~292 years."""
    out: list[str] = []
    bare = _QUOTED.sub(" ", text)
    found = [part.strip() for inside in _BRACKETS.findall(bare) for part in inside.split(":")]
    for duration in found + _OFFSET.findall(bare):
        if not duration:
            continue
        try:
            parse_duration(duration)
            continue
        except ValueError as exc:
            problem = str(exc)
        try:
            seconds = float(duration)
        except ValueError:
            out.append(f"in a range or offset: {problem}")
            continue
        if version is not None and version[0] < 3:
            out.append(f"duration {duration!r} needs a unit (such as 5m or 30s) in {_pinned(version)}")
        elif not math.isfinite(seconds) or seconds > _MAX_SECONDS:
            out.append(f"duration {duration!r} is out of range (Prometheus durations end at about 292 years)")
    return sorted(set(out))


def unsupported_functions(node, version: tuple[int, int, int]) -> set[str]:
    """The functions and aggregations of a parsed expression the given Prometheus version lacks
    or has only behind a feature flag."""
    out: set[str] = set()
    pinned = _pinned(version)
    flag = "needs --enable-feature=promql-experimental-functions, which the stack does not set"

    def visit(n, *_):
        if isinstance(n, promql_parser.Call):
            name, what = n.func.name, "function"
        elif isinstance(n, promql_parser.AggregateExpr):
            name, what = str(n.op), "aggregation"
        else:
            return True
        if name in (PROMETHEUS_2_EXPERIMENTAL if version[0] < 3 else PROMETHEUS_3_EXPERIMENTAL):
            out.add(f"{what} {name}() is experimental in {pinned}: it {flag}")
        elif version[0] < 3 and name not in PROMETHEUS_2_FUNCTIONS | PROMETHEUS_2_AGGREGATIONS:
            out.add(f"{what} {name}() does not exist in {pinned}")
        return True

    promql_parser.walk(node, visit)
    return out


@functools.lru_cache(maxsize=1)
def _default_images() -> dict[str, str]:
    text = resources.files("lukhas_obs.data").joinpath("images.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text) or {}
