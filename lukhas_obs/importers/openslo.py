"""OpenSLO v1 documents (SLO, SLI, DataSource, Service) as spec entries; v1alpha and v2alpha
documents are first read as v1 where the meaning is the same (openslo_alpha.py).

Read as people publish them: single documents, `---` streams and top-level lists of objects;
`indicatorRef` resolved against SLI documents and `metricSourceRef` against DataSource documents
across every file given. Every reason an SLO cannot be imported is reported at once, and every
assumption or change is a note."""

from __future__ import annotations

import json
import math
import re
from datetime import datetime

from lukhas_obs import promql
from lukhas_obs.calendar import known_zone
from lukhas_obs.durations import format_duration, parse_duration
from lukhas_obs.importers.common import (
    BAD_SAMPLES,
    Doc,
    Outcome,
    Refused,
    Result,
    counter_selector,
    expression_sli,
    gauge_selector,
    mapping,
    need_counter,
    need_gauge,
    normalise_name,
    number,
    objective_percent,
    parse_query,
    period_of,
    ratio_sli,
    raw_sli,
    read_documents,
    rule_labels,
    scoped,
    short,
    text_of,
    threshold_sli,
    windowed,
)
from lukhas_obs.importers.openslo_alpha import V1ALPHA, V2ALPHA, as_v1
from lukhas_obs.openslo import ANNOTATION, API, OPENSLO_CALENDAR_UNITS

# Sources that answer PromQL over the Prometheus API (the type names Nobl9 and the OpenSLO
# examples use, compared without case)
PROMETHEUS_TYPES = {"prometheus", "amazonprometheus", "thanos", "cortex", "mimir", "victoriametrics"}
BUDGETING = {"Occurrences", "Timeslices", "RatioTimeslices"}


def import_openslo(texts, page: str = "P1", ticket: str = "P3") -> Result:
    """`texts`: (file name, text or None, read error or None), as common.read_files gives."""
    result = Result("OpenSLO")
    reads = {id(r.doc): r for d in read_documents(texts, result) for r in as_v1(d)}
    docs = [r.doc for r in reads.values()]
    index = _Index(docs, result)
    index.read_as_v1 = {key: r.notes for key, r in reads.items() if r.notes}
    seen: dict[str, Doc] = {}
    for doc in docs:
        api, kind = doc.data.get("apiVersion"), doc.data.get("kind")
        meta = mapping(doc.data.get("metadata"))
        name = meta.get("name")
        what = f"{kind if isinstance(kind, str) else 'object'} {name if isinstance(name, str) else '(no name)'}"
        if kind == "SLO":
            same = seen.setdefault(json.dumps(doc.data, sort_keys=True, default=str), doc)
            if same is not doc:
                result.notes.append(f"{doc.where}: {what} is the same document as at {same.where}; read once")
                continue
            read = reads[id(doc)]
            out = Outcome(doc.where, f"SLO {name if isinstance(name, str) else '(no name)'}{read.label}")
            out.notes += read.notes
            out.blockers += read.blockers
            result.outcomes.append(out)
            if api != API:
                out.block("version", f"apiVersion {short(api)} is not one lukhas-obs reads ({API}, and {V1ALPHA} and "
                                     f"{V2ALPHA[0]} read as {API})")
                continue
            _slo(doc, index, out, page, ticket)
        elif api != API:
            result.notes.append(f"{doc.where}: {what}: apiVersion {short(api)} is not {API}; skipped")
        elif kind == "Service":
            if isinstance(name, str):
                notes: list[str] = []
                svc = normalise_name(name, "service", notes)
                result.services.setdefault(svc, text_of(mapping(doc.data.get("spec")).get("description")) or "")
                result.notes += [f"{doc.where}: {what}: {n}" for n in notes]
        elif kind in ("SLI", "DataSource"):
            continue  # read through references
        else:
            result.notes.append(f"{doc.where}: {what} is not imported: lukhas-obs derives the burn-rate alerts "
                                "and their routing from the spec's severities")
    return result


class _Index:
    """SLI and DataSource documents by name, across every file; a name given twice with
    different content is ambiguous and resolves to nothing."""

    def __init__(self, docs: list[Doc], result: Result):
        self.slis: dict[str, Doc | None] = {}
        self.sources: dict[str, Doc | None] = {}
        self.read_as_v1: dict[int, list[str]] = {}   # id(doc) -> how a v1alpha/v2alpha document was read
        for doc in docs:
            if doc.data.get("apiVersion") != API:
                continue
            kind, name = doc.data.get("kind"), mapping(doc.data.get("metadata")).get("name")
            table = {"SLI": self.slis, "DataSource": self.sources}.get(kind)  # type: ignore[arg-type]
            if table is None or not isinstance(name, str):
                continue
            first = table.get(name)
            if name in table and (first is None or first.data.get("spec") != doc.data.get("spec")):
                if first is not None:
                    result.notes.append(f"{doc.where}: {kind} {name} is defined differently in {first.where}: "
                                        "references to it are ambiguous and resolve to neither")
                table[name] = None
            else:
                table.setdefault(name, doc)


def _slo(doc: Doc, index: _Index, out: Outcome, page: str, ticket: str) -> None:
    meta, spec = mapping(doc.data.get("metadata")), doc.data.get("spec")
    annotations = mapping(meta.get("annotations"))
    if not isinstance(spec, dict):
        out.block("invalid", "the SLO has no spec")
        return
    name = text_of(meta.get("name"))
    service = text_of(annotations.get(f"{ANNOTATION}/service")) or text_of(spec.get("service"))
    _origins(doc, annotations, spec, out)
    if name is None:
        out.block("invalid", "the SLO has no metadata.name")
    if service is None:
        out.block("invalid", "the SLO names no service (spec.service)")
    else:
        service = normalise_name(service, "service", out.notes)
        out.service = service
    period = _window(spec, out)
    objective = _objective(spec, out)
    timeslices = _budgeting(spec, objective or {}, out)
    sli = None
    indicator = _indicator(doc, spec, index, out)
    if indicator is not None and service is not None:
        sli = _sli(indicator, objective or {}, annotations, service, index, out)
    if spec.get("alertPolicies"):
        out.notes.append(f"alertPolicies not imported: the burn-rate alerts page {page} and ticket {ticket} "
                         "(--page, --ticket, or the spec's severities)")
    labels = rule_labels(meta.get("labels"), "label", out)   # on every rule of the SLO, as Sloth's are
    ours = {f"{ANNOTATION}/{k}" for k in ("page", "ticket", "min-events", "max", "slo", "service")}
    other = rule_labels({k: v for k, v in annotations.items() if k not in ours}, "annotation", out, frozenset())
    if out.blockers or sli is None or objective is None or name is None or service is None or period is None:
        return
    slo_name = _slo_name(name, service, annotations, out)
    entry: dict = {"name": slo_name}
    description = text_of(spec.get("description"))
    if description:
        entry["description"] = description
    entry.update({"objective": objective["percent"], "period": period, "sli": sli,
                  "page": _priority(annotations, "page", page, out),
                  "ticket": _priority(annotations, "ticket", ticket, out)})
    events = _annotation(annotations, "min-events", int, out)
    if events is not None:
        entry["min_events"] = events
    if labels:
        entry["labels"] = labels
    if other:
        entry["annotations"] = other
    if timeslices is not None:
        entry["timeslices"] = timeslices
    out.entry = entry


def _origins(doc: Doc, annotations: dict, spec: dict, out: Outcome) -> None:
    """Where each part of the SLO's entry comes from in the SLO document (refusals point there;
    the SLI's parts are added where the indicator is found)."""
    def given(key: str) -> tuple | None:
        return ("metadata", "annotations", f"{ANNOTATION}/{key}") if f"{ANNOTATION}/{key}" in annotations else None

    window = ("spec", "timeWindow") + ((0,) if isinstance(spec.get("timeWindow"), list) else ())
    objective = ("spec", "objectives", 0)
    objectives = spec.get("objectives")
    first = mapping(objectives[0]) if isinstance(objectives, list) and objectives else {}
    target = "targetPercent" if "target" not in first and "targetPercent" in first else "target"
    for part, path in (((), ("spec",)), (("service",), given("service") or ("spec", "service")),
                       (("name",), given("slo") or ("metadata", "name")), (("description",), ("spec", "description")),
                       (("objective",), objective + (target,)), (("period",), window + ("duration",)),
                       (("period", "calendar"), window + ("calendar",)),
                       (("period", "timezone"), window + ("calendar", "timeZone")),
                       (("timeslices",), objective + ("timeSliceWindow",)),
                       (("timeslices", "target"), objective + ("timeSliceTarget",)),
                       (("page",), given("page")), (("ticket",), given("ticket")),
                       (("min_events",), given("min-events")), (("labels",), ("metadata", "labels")),
                       (("annotations",), ("metadata", "annotations")),
                       (("sli", "threshold", "min"), objective + ("value",)),
                       (("sli", "threshold", "max"), given("max") or objective + ("value",))):
        if path is not None:
            out.origin(part, doc, *path)
    for key in mapping(mapping(doc.data.get("metadata")).get("labels")):
        out.origin(("labels", key), doc, "metadata", "labels", key)


def _sli_origins(doc: Doc, at: tuple, out: Outcome) -> None:
    """Where the SLI's parts come from: the indicator's spec at `at` in `doc` (the SLO's inline
    indicator, or the SLI document indicatorRef names)."""
    def query(metric: str) -> tuple:
        return at + ("ratioMetric", metric, "metricSource", "spec", "query")

    out.origin(("sli",), doc, *at)
    for part, path in ((("ratio", "good"), query("good")), (("ratio", "good_query"), query("good")),
                       (("ratio", "errors"), query("bad")), (("ratio", "errors_query"), query("bad")),
                       (("ratio", "total"), query("total")), (("ratio", "total_query"), query("total")),
                       (("latency",), query("good")), (("availability",), query("good")), (("raw",), query("raw")),
                       (("threshold",), at + ("thresholdMetric", "metricSource", "spec", "query"))):
        out.origin(("sli",) + part, doc, *path)


def _annotation(annotations: dict, key: str, cast, out: Outcome):
    """An obs.lukhas.ai/<key> annotation (what export writes) as a number, or None (noted when
    it is there but not a number)."""
    value = annotations.get(f"{ANNOTATION}/{key}")
    if value is None:
        return None
    try:
        return cast(value)
    except (TypeError, ValueError):
        out.notes.append(f"annotation {ANNOTATION}/{key} {short(value)} is not a {cast.__name__}; ignored")
        return None


def _slo_name(name: str, service: str, annotations: dict, out: Outcome) -> str:
    given = text_of(annotations.get(f"{ANNOTATION}/slo"))
    if given:
        return normalise_name(given, "SLO", out.notes)
    prefix = f"{service}-"
    if name.startswith(prefix) and len(name) > len(prefix):
        out.notes.append(f"SLO {name!r} named {name[len(prefix):]!r}: its service prefix is implied (rule files are "
                         f"named slo-{service}-<slo>)")
        name = name[len(prefix):]
    return normalise_name(name, "SLO", out.notes)


def _priority(annotations: dict, key: str, default: str, out: Outcome) -> str:
    value = annotations.get(f"{ANNOTATION}/{key}")
    if value is None:
        return default
    if isinstance(value, str) and len(value) == 2 and value[0] == "P" and value[1].isdigit():
        return value
    out.notes.append(f"annotation {ANNOTATION}/{key} {short(value)} is not a priority such as P1; {default} used")
    return default


def _calendar_window(w: dict, cal: dict, out: Outcome) -> dict | None:
    """A calendar window as the spec's calendar period: 1w (or 7d), 1M, 1Q (or 3M) in its
    timeZone. The spec's periods start at 00:00 on a Monday, the 1st, a quarter's first day: a
    startTime elsewhere is moved there, with a note."""
    duration = str(w.get("duration", "")).strip()
    unit = OPENSLO_CALENDAR_UNITS.get(duration)
    if unit is None:
        out.block("calendar", f"a calendar window of {short(w.get('duration'))}: the spec's calendar periods are a "
                              f"week, a month or a quarter ({', '.join(sorted(OPENSLO_CALENDAR_UNITS))})")
        return None
    zone = cal.get("timeZone")
    if zone is None:
        out.notes.append(f"calendar window of {duration} without a timeZone: UTC")
        zone = "UTC"
    if not known_zone(zone):
        out.block("calendar", f"calendar timeZone {short(zone)} is not an IANA time zone")
        return None
    start = cal.get("startTime")
    aligned = {"week": "a Monday", "month": "the 1st of a month", "quarter": "the 1st of January, April, July or "
               "October"}[unit]
    try:
        when = datetime.strptime(str(start), "%Y-%m-%d %H:%M:%S") if start is not None else None
    except ValueError:
        when = None
        out.notes.append(f"calendar startTime {short(start)} is not YYYY-MM-DD HH:MM:SS: periods start at 00:00 on "
                         f"{aligned} in {zone}")
    if when is not None and (when.time() != datetime.min.time() or (unit == "week" and when.weekday() != 0)
                             or (unit != "week" and when.day != 1)
                             or (unit == "quarter" and when.month not in (1, 4, 7, 10))):
        out.notes.append(f"calendar startTime {start} moved: the spec's {unit}s start at 00:00 on {aligned} in {zone}")
    return {"calendar": unit, "timezone": zone}


def _window(spec: dict, out: Outcome) -> str | dict | None:
    windows = spec.get("timeWindow")
    if windows is None:
        out.notes.append("no timeWindow: the spec's default period, 30d rolling")
        return "30d"
    if isinstance(windows, dict):
        windows = [windows]
    if not isinstance(windows, list) or not windows or not isinstance(windows[0], dict):
        out.block("invalid", f"timeWindow {short(windows)} is not a list of windows")
        return None
    if len(windows) > 1:
        out.block("invalid", f"{len(windows)} time windows; OpenSLO v1 takes exactly one")
    w = windows[0]
    calendar = w.get("calendar")
    if calendar is not None or w.get("isRolling") is False:
        return _calendar_window(w, mapping(calendar), out)
    if "isRolling" not in w:
        out.notes.append("timeWindow does not say isRolling: read as rolling")
    return period_of(w.get("duration"), out)


def _budgeting(spec: dict, objective: dict, out: Outcome) -> dict | None:
    """The spec's `timeslices` for a Timeslices SLO (None for Occurrences): a slice of
    timeSliceWindow is good when its SLI meets timeSliceTarget, the objective counts good slices."""
    method = spec.get("budgetingMethod")
    if method is None:
        out.notes.append("no budgetingMethod: Occurrences (counting good and bad events) assumed")
    elif method == "RatioTimeslices":
        out.block("timeslices", "budgetingMethod RatioTimeslices averages each slice's ratio; the spec counts good "
                                "slices (Timeslices) or events (Occurrences)")
    elif method == "Timeslices":
        return _timeslices(objective, out)
    elif method != "Occurrences":
        out.block("invalid", f"budgetingMethod {short(method)} is not one of {', '.join(sorted(BUDGETING))}")
    return None


def _timeslices(objective: dict, out: Outcome) -> dict | None:
    if not objective:
        return None   # the objective's own problems are said
    target, window = objective.get("timeSliceTarget"), objective.get("timeSliceWindow")
    if target is None or window is None:
        missing = " and ".join(k for k, v in (("timeSliceTarget", target), ("timeSliceWindow", window)) if v is None)
        out.block("invalid", f"a Timeslices objective needs {missing}")
        return None
    share = number(target, "timeSliceTarget", out)
    if share is not None and not 0 < share < 1:
        out.block("invalid", f"timeSliceTarget {share:g} is not between 0 and 1 (exclusive)")
        share = None
    seconds = _slice_seconds(window, out)
    if share is None or seconds is None:
        return None
    out.notes.append(f"Timeslices: a {format_duration(seconds)} slice is good when {share * 100:g} % of it is good; "
                     "slices without data do not count")
    return {"window": format_duration(seconds), "target": round(share * 100, 10)}


# OpenSLO v1's duration-shorthand (its schema's pattern: a positive whole number and one unit)
_DURATION_SHORTHAND = re.compile(r"^([1-9][0-9]*)([mhdwMQY])\Z")
_VARYING = {"M": "month", "Q": "quarter", "Y": "year"}


def _slice_seconds(window, out: Outcome) -> float | None:
    """OpenSLO's timeSliceWindow, `number | duration-shorthand`, in seconds: a number counts
    minutes (the v1 README: "Default interpretation of unit if specified as a number in minutes";
    the schema: a number above 0), a shorthand is a whole number and one of m h d w (M, Q and Y
    are of varying length: refused). A Prometheus duration (1m30s) is read with a note; the
    spec's checks then want whole minutes. Anything else is refused, saying what is taken."""
    taken = "OpenSLO takes a number of minutes (5) or a duration shorthand (5m, 1h)"
    written = short(window)
    if isinstance(window, str) and re.fullmatch(r"\s*[0-9]+(\.[0-9]+)?\s*", window):
        window = float(window)   # a number written as a string, as number() reads a target
    if isinstance(window, bool) or not isinstance(window, (int, float, str)):
        out.block("invalid", f"timeSliceWindow {short(window)} is neither a number nor a duration: {taken}")
        return None
    if isinstance(window, (int, float)):
        if not 0 < window < math.inf:
            out.block("invalid", f"timeSliceWindow {written} is not a positive number of minutes: {taken}")
            return None
        if window != int(window):
            out.block("invalid", f"timeSliceWindow {written} counts minutes ({format_duration(window * 60)}), and a "
                                 "slice is a whole number of minutes")
            return None
        kind = "a number written as a string" if written.startswith("'") else "a number"
        out.notes.append(f"timeSliceWindow {written} is {kind}: it counts minutes, a {format_duration(window * 60)} "
                         "slice")
        return int(window) * 60
    text = window.strip()
    m = _DURATION_SHORTHAND.match(text)
    if m and m.group(2) in _VARYING:
        out.block("timeslices", f"timeSliceWindow {text}: a slice of a {_VARYING[m.group(2)]} has no fixed length; "
                                "the spec's slices are a fixed whole number of minutes")
        return None
    try:
        seconds = parse_duration(text)
    except ValueError:
        out.block("invalid", f"timeSliceWindow {short(window)} is not a duration: {taken}")
        return None
    if not m:
        out.notes.append(f"timeSliceWindow {text} is not OpenSLO's duration shorthand (a whole number and one of m, h, "
                         "d, w): read as a Prometheus duration")
    return seconds


def _objective(spec: dict, out: Outcome) -> dict | None:
    objectives = spec.get("objectives")
    if not isinstance(objectives, list) or not objectives or not all(isinstance(o, dict) for o in objectives):
        out.block("invalid", f"objectives {short(objectives)} is not a list of objectives")
        return None
    if len(objectives) > 1:
        out.block("objectives", f"{len(objectives)} objectives; the spec takes one per SLO (import each as its "
                                "own SLO by hand)")
    o = objectives[0]
    if o.get("indicator") is not None or o.get("indicatorRef") is not None:
        out.block("objectives", "a composite objective (an indicator per objective)")
    percent = None
    if "target" in o:
        if "targetPercent" in o:
            out.notes.append("both target and targetPercent given: target used")
        target = number(o["target"], "target", out)
        percent = None if target is None else objective_percent(target, out)
    elif "targetPercent" in o:
        value = number(o["targetPercent"], "targetPercent", out)
        if value is not None and not 0 < value < 100:
            out.block("invalid", f"targetPercent {value:g} is not between 0 and 100 (exclusive)")
        elif value is not None:
            percent = round(value, 10)
    else:
        out.block("invalid", "the objective has no target (or targetPercent)")
    if o.get("timeSliceTarget") is not None and spec.get("budgetingMethod") not in ("Timeslices", "RatioTimeslices"):
        out.notes.append("timeSliceTarget ignored: the budgeting method is Occurrences")
    return None if percent is None else {**o, "percent": percent}


def _indicator(slo: Doc, spec: dict, index: _Index, out: Outcome) -> dict | None:
    inline, ref = spec.get("indicator"), spec.get("indicatorRef")
    if inline is not None:
        if ref is not None:
            out.notes.append(f"both indicator and indicatorRef {short(ref)} given: the inline indicator used")
        body = mapping(inline).get("spec")
        if not isinstance(body, dict):
            out.block("invalid", "indicator has no spec")
            return None
        _sli_origins(slo, ("spec", "indicator", "spec"), out)
        return body
    if ref is None:
        out.block("invalid", "the SLO has neither indicator nor indicatorRef")
        return None
    doc = index.slis.get(ref) if isinstance(ref, str) else None
    if doc is None:
        why = "is ambiguous (defined differently twice)" if ref in index.slis else "names no SLI document"
        out.block("reference", f"indicatorRef {short(ref)} {why} among the files given")
        return None
    body = doc.data.get("spec")
    if not isinstance(body, dict):
        out.block("invalid", f"SLI {ref} ({doc.where}) has no spec")
        return None
    _sli_origins(doc, ("spec",), out)
    out.notes.append(f"indicatorRef {ref} resolved to the SLI at {doc.where}")
    out.notes += [f"SLI {ref}: {n}" for n in index.read_as_v1.get(id(doc), [])]
    return body


def _query(node, index: _Index, out: Outcome, what: str) -> str | None:
    """The PromQL of a metricSource, resolving metricSourceRef against DataSource documents.
    Blockers for a source that is not Prometheus or not there."""
    source = mapping(node).get("metricSource")
    if not isinstance(source, dict):
        out.block("invalid", f"{what} has no metricSource")
        return None
    kind, ref = text_of(source.get("type")), source.get("metricSourceRef")
    if ref is not None:
        ds = index.sources.get(ref) if isinstance(ref, str) else None
        ds_type = text_of(mapping(ds.data.get("spec")).get("type")) if ds is not None else None
        if ds is None and kind is None:
            out.block("reference", f"{what}: metricSourceRef {short(ref)} names no DataSource among the files given, "
                                   "and the source gives no type")
            return None
        if ds_type and kind and ds_type.lower() != kind.lower():
            out.block("source", f"{what}: type {kind} differs from DataSource {ref}'s type {ds_type}")
            return None
        if ds is not None:
            out.notes.append(f"{what}: metricSourceRef {ref} is the {ds_type or 'untyped'} DataSource at {ds.where}")
            out.notes += [f"{what}: DataSource {ref}: {n}" for n in index.read_as_v1.get(id(ds), [])]
        kind = kind or ds_type
    if kind is None:
        out.notes.append(f"{what}: the metric source gives no type: read as Prometheus")
        kind = "Prometheus"
    if kind.lower() not in PROMETHEUS_TYPES:
        out.block("source", f"{what}: source type {kind} is not Prometheus: lukhas-obs reads Prometheus only")
        return None
    if kind.lower() != "prometheus":
        out.notes.append(f"{what}: a {kind} source, read as the Prometheus query API")
    body = mapping(source.get("spec"))
    query = text_of(body.get("query"))
    if query is None and text_of(body.get("promql")):
        query = body["promql"]
        out.notes.append(f"{what}: the query is under promql (Nobl9's key); read as the query")
    if query is None:
        out.block("invalid", f"{what}: the Prometheus source has no query")
        return None
    dims = body.get("dimensions")
    if dims:
        out.notes.append(f"{what}: dimensions {short(dims)} dropped: the spec sums the SLI over the service")
    return query


def _counter(node, index: _Index, out: Outcome, what: str):
    query = _query(node, index, out, what)
    if query is None:
        return None
    try:
        return counter_selector(parse_query(query, out, what), query, out, what)
    except Refused as exc:
        out.blockers.append(exc.blocker)
        return None


def _availability(ratio: dict, index: _Index, service: str, out: Outcome) -> dict | None:
    """`sum(S)` over `count(S)` with S on `up` or `probe_success`: the share of healthy scrapes or
    probes, the spec's availability SLI (what `export openslo` writes for it)."""
    good, total = ratio.get("good"), ratio.get("total")
    if good is None or total is None:
        return None
    notes = Outcome(out.where, out.label)   # quiet: only a match is reported
    queries = [_query(good, index, notes, "good"), _query(total, index, notes, "total")]
    if None in queries or notes.blockers:
        return None
    try:
        g, t = (promql.parse(q) for q in queries)  # type: ignore[arg-type]
    except promql.PromQLError:
        return None
    import promql_parser

    def inner(node, op):
        if isinstance(node, promql_parser.AggregateExpr) and str(node.op) == op and node.modifier is None:
            body = node.expr
            if isinstance(body, promql_parser.VectorSelector):
                try:
                    return promql.selector_of(body)
                except promql.PromQLError:
                    return None
        return None

    gs, ts = inner(g, "sum"), inner(t, "count")
    if gs is None or gs != ts:
        return None
    labels = gs.labels_equal()
    if gs.metric == "up" and labels == {"job": service} and len(gs.matchers) == 1:
        return {"availability": {"source": "up"}}
    if (gs.metric == "probe_success" and labels.get("service") == service and len(gs.matchers) == 2
            and "job" in labels):
        return {"availability": {"source": "probe"}}
    return None


def _expression_ratio(ratio: dict, index: _Index, out: Outcome) -> dict | None:
    """counter: false with queries over a range (`sum(rate(x[5m]))`): the queries give the rates
    or counts themselves, an expression ratio with that range as each window (what `export
    openslo` writes for one). None (quietly) when a query has no single range."""
    keys = [k for k in ("good", "bad") if k in ratio][:1] + ["total"]   # good first, as for counters
    if "total" not in ratio or len(keys) != 2:
        return None
    quiet = Outcome(out.where, out.label)
    queries = {k: _query(ratio[k], index, quiet, k) for k in keys}
    if quiet.blockers or None in queries.values():
        return None
    try:
        templates = {("errors" if k == "bad" else k) + "_query": windowed(q, quiet, k)  # type: ignore[arg-type]
                     for k, q in queries.items()}
    except Refused:
        return None
    out.notes += quiet.notes
    return expression_sli(templates, out)


def _sli(ind: dict, objective: dict, annotations: dict, service: str, index: _Index, out: Outcome) -> dict | None:
    if "ratioMetric" in ind and "thresholdMetric" in ind:
        out.block("invalid", "the indicator has both ratioMetric and thresholdMetric")
        return None
    if isinstance(ind.get("ratioMetric"), dict):
        r = ind["ratioMetric"]
        if "raw" in r:
            query = _query(r["raw"], index, out, "raw")
            if r.get("rawType") not in ("success", "failure"):
                out.block("invalid", f"rawType {short(r.get('rawType'))} is not success or failure")
            if query is None or out.blockers:
                return None
            try:
                template = windowed(query, out, "raw", "raw")
            except Refused as exc:
                out.blockers.append(exc.blocker)
                return None
            if r["rawType"] == "success":
                out.notes.append("rawType success: the error ratio is 1 - (the query)")
                template = f"1 - ({template})"
            return raw_sli(template, out)
        for key in ("op", "value"):
            if key in objective:
                out.notes.append(f"objective {key} {short(objective[key])} ignored: a ratio SLI has no threshold")
        if r.get("counter") is False:
            availability = _availability(r, index, service, out)
            if availability is not None:
                out.notes.append("sum over count of up/probe_success read as an availability SLI")
                return availability
            expression = _expression_ratio(r, index, out)
            if expression is not None:
                return expression
            out.block("gauge-ratio", "ratioMetric with counter: false (good and total are gauges): the spec's ratios "
                                     "are counters")
        elif "counter" not in r:
            out.notes.append("ratioMetric does not say counter (incremental in v1alpha): read as counters")
        if "good" in r and "bad" in r:
            out.notes.append("both good and bad given: good used, bad ignored")
        if "total" not in r:
            out.block("invalid", "ratioMetric has no total")
        if "good" not in r and "bad" not in r:
            out.block("invalid", "ratioMetric has neither good nor bad")
        quiet = Outcome(out.where, out.label)
        good = _counter(r["good"], index, quiet, "good") if "good" in r else None
        bad = _counter(r["bad"], index, quiet, "bad") if "bad" in r and "good" not in r else None
        total = _counter(r["total"], index, quiet, "total") if "total" in r else None
        if (quiet.blockers and all(b.kind == "expression" for b in quiet.blockers) and not out.blockers
                and promql.WINDOW.search(json.dumps(r))):
            expression = _expression_ratio(r, index, out)
            if expression is not None:
                out.notes.append("queries with Sloth's {{.window}} that are not a counter selector: read as an "
                                 "expression ratio over each window, as Sloth reads them")
                return expression
        out.notes += quiet.notes
        out.blockers += quiet.blockers
        if out.blockers or total is None or (good is None and bad is None):
            for sel, what in ((good, "good"), (bad, "bad"), (total, "total")):
                if sel is not None and r.get("counter") is not False:
                    need_counter(sel, out, what)  # its reasons too, all at once
            return None
        return ratio_sli(bad, good, total, service, out)
    if isinstance(ind.get("thresholdMetric"), dict):
        query = _query(ind["thresholdMetric"], index, out, "thresholdMetric")
        op, value = objective.get("op"), objective.get("value")
        bound = None
        if value is None:
            out.block("invalid", "a thresholdMetric objective needs a value")
        else:
            bound = number(value, "objective value", out)
        if op not in ("gt", "gte", "lt", "lte"):
            out.block("invalid", f"a thresholdMetric objective needs op gt, gte, lt or lte, not {short(op)}")
        if query is None:
            return None
        try:
            node = parse_query(query, out, "thresholdMetric")
            sel = gauge_selector(node, query, "thresholdMetric")
        except Refused as exc:
            if exc.blocker.kind != "expression":
                out.blockers.append(exc.blocker)
                return None
            try:   # its own reasons too, when op or value are wrong
                expression = threshold_sli(query, node, op if op in BAD_SAMPLES else "gte", bound or 0.0, out)
            except Refused as again:
                out.blockers.append(again.blocker)
                return None
            return None if out.blockers or bound is None else expression
        if out.blockers or bound is None:
            return None
        sel = scoped(sel, service, out, "thresholdMetric")
        need_gauge(sel, out)
        if op in ("gt", "lt"):
            at = promql.number(bound)
            out.notes.append(f"op {op} {at} made inclusive ({op}e): the spec counts a sample at exactly {at} as good")
        if op in ("gt", "gte"):
            body: dict = {"metric": sel.render(), "min": bound}
            upper = _annotation(annotations, "max", float, out)
            if upper is not None:
                body["max"] = upper
            return {"threshold": body}
        return {"threshold": {"metric": sel.render(), "max": bound}}
    out.block("invalid", "the indicator has neither ratioMetric nor thresholdMetric (in v1alpha: "
                         "indicator.thresholdMetric or objectives[].ratioMetrics)")
    return None

