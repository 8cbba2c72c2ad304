"""OpenSLO v1 out: every SLO of a spec as an OpenSLO `Service` and `SLO` (with its SLI inline),
Prometheus queries as the metric sources, the page/ticket priorities kept as annotations.

What OpenSLO tools accept is what the OpenSLO go-sdk validates (`problems()` below: names are RFC
1123 labels, display names at most 63 characters, descriptions at most 1,050, enums, one time
window, no op/value on a ratio objective); the export is checked against it before it is written.
Import lives in lukhas_obs/importers/."""

from __future__ import annotations

import hashlib
import re
from datetime import datetime

from lukhas_obs import conventions as conv
from lukhas_obs import model as m
from lukhas_obs import promql
from lukhas_obs.calendar import known_zone, openslo_zone
from lukhas_obs.durations import parse_duration
from lukhas_obs.generate.yamlout import dump
from lukhas_obs.model import SLO, Spec

API = "openslo/v1"
ANNOTATION = "obs.lukhas.ai"  # OpenSLO annotation keys carry a DNS prefix, as in Kubernetes
NAME_MAX = 63
DESCRIPTION_MAX = 1050
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\Z")
_LABEL_KEY = re.compile(r"^[a-zA-Z0-9]([-._a-zA-Z0-9]{0,61}[a-zA-Z0-9])?\Z")
_ANNOTATION_KEY = re.compile(r"^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*/)?"
                             r"[a-zA-Z0-9]([-._a-zA-Z0-9]{0,61}[a-zA-Z0-9])?\Z")
_SHORTHAND = re.compile(r"^[1-9][0-9]*[mhdwMQY]\Z")
KINDS = ("SLO", "SLI", "Service", "DataSource", "AlertPolicy", "AlertCondition", "AlertNotificationTarget")


def dns_label(name: str) -> str:
    """`name` as an RFC 1123 label (what OpenSLO names are): unchanged when it is one, otherwise
    cut to fit with a short hash of the whole name, so two long names stay two names."""
    if DNS_LABEL.match(name):
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    stem = re.sub(r"[^a-z0-9-]+", "-", name.lower())[: NAME_MAX - len(digest) - 1].strip("-")
    return f"{stem}-{digest}" if stem else f"x-{digest}"


def _fit(text: str, limit: int, what: str, notes: list[str]) -> str:
    if len(text) <= limit:
        return text
    notes.append(f"{what} cut to {limit} characters (OpenSLO's limit; it had {len(text)})")
    return text[: limit - 3].rstrip() + "..."


def _source(query: str) -> dict:
    return {"metricSource": {"type": "Prometheus", "spec": {"query": query}}}


def target(slo: SLO) -> float:
    """The objective as OpenSLO's ratio, without float noise (0.999, not 0.9990000000000001)."""
    return round(slo.objective / 100, 12)


def indicator(slo: SLO) -> tuple[dict, dict]:
    """(indicator spec, objective) for one SLO."""
    objective: dict = {"displayName": slo.name, "target": target(slo)}
    match slo.sli:
        case m.RawSLI(error_ratio_query=query):   # OpenSLO has no window placeholder: 5m stands for each
            return {"ratioMetric": {"counter": False, "raw": _source(promql.at_window(query, "5m")),
                                    "rawType": "failure"}}, objective
        case m.ExpressionRatioSLI(total_query=total_query, counted_query=counted, good=good):
            key = "good" if good else "bad"
            return {"ratioMetric": {"counter": False, key: _source(promql.at_window(counted, "5m")),
                                    "total": _source(promql.at_window(total_query, "5m"))}}, objective
        case m.RatioSLI(counted=counted, good=good):
            key = "good" if good else "bad"
            return {"ratioMetric": {"counter": True, key: _source(str(counted.where(job=slo.service))),
                                    "total": _source(str(conv.total_selector(slo)))}}, objective
        case m.LatencySLI(metric=metric, threshold=threshold):
            good_bucket = metric.renamed(metric.metric + "_bucket").where(job=slo.service).plus(
                promql.Matcher("le", "=", promql.number(threshold)))
            return {"ratioMetric": {"counter": True, "good": _source(str(good_bucket)),
                                    "total": _source(str(conv.total_selector(slo)))}}, objective
        case m.AvailabilitySLI():
            total = str(conv.total_selector(slo))
            return {"ratioMetric": {"counter": False, "good": _source(f"sum({total})"),
                                    "total": _source(f"count({total})")}}, objective
        case m.ThresholdSLI(min=low, max=high):
            objective = {**objective, "op": "gte" if low is not None else "lte",
                         "value": low if low is not None else high}
            return {"thresholdMetric": _source(str(conv.total_selector(slo)))}, objective


def export(spec: Spec, notes: list[str] | None = None) -> list[dict]:
    """Service and SLO documents; what had to be shortened to fit OpenSLO's limits is added to
    `notes`."""
    notes = [] if notes is None else notes
    docs: list[dict] = []
    for svc in spec.services:
        if not svc.slos:
            continue
        service = dns_label(svc.name)
        keep = {f"{ANNOTATION}/service": svc.name} if service != svc.name else {}
        docs.append({"apiVersion": API, "kind": "Service",
                     "metadata": {"name": service, "displayName": svc.name, **({"annotations": keep} if keep else {})},
                     "spec": {"description": _fit(svc.description or f"{svc.name} ({spec.project})", DESCRIPTION_MAX,
                                                  f"service {svc.name}: description", notes)}})
        for s in svc.slos:
            ind, objective = indicator(s)
            if s.timeslices is not None:
                minutes = round(parse_duration(s.timeslices.window) / 60)   # whole minutes (validate)
                objective = {**objective, "timeSliceTarget": s.timeslices.target, "timeSliceWindow": f"{minutes}m"}
            annotations = {**keep, f"{ANNOTATION}/slo": s.name, f"{ANNOTATION}/page": s.page,
                           f"{ANNOTATION}/ticket": s.ticket}
            if s.min_events:
                annotations[f"{ANNOTATION}/min-events"] = str(s.min_events)
            if isinstance(s.sli, m.ThresholdSLI) and s.sli.min is not None and s.sli.max is not None:
                annotations[f"{ANNOTATION}/max"] = promql.number(s.sli.max)  # OpenSLO holds one bound
            what = f"SLO {s.service}/{s.name}"
            labels = _labels(s, what, notes)
            description = _fit(s.description, DESCRIPTION_MAX, f"{what}: description", notes) if s.description else ""
            docs.append({
                "apiVersion": API, "kind": "SLO",
                "metadata": {"name": dns_label(s.id),
                             "displayName": _fit(f"{s.service} {s.name}", NAME_MAX, f"{what}: displayName", notes),
                             "annotations": annotations, **({"labels": labels} if labels else {})},
                "spec": {
                    **({"description": description} if description else {}),
                    "service": service,
                    "indicator": {"metadata": {"name": dns_label(f"{s.id}-sli")}, "spec": ind},
                    "timeWindow": [_time_window(s)],
                    "budgetingMethod": "Occurrences" if s.timeslices is None else "Timeslices",
                    "objectives": [objective],
                },
            })
    for doc in docs:
        found = problems(doc)
        assert not found, f"export wrote an invalid OpenSLO document: {found}"
    return docs


# An OpenSLO label value (the 2022 schema's rule): what a Prometheus label value may be is wider.
_LABEL_VALUE = re.compile(r"^[a-z0-9A-Z][a-z0-9A-Z._-]*\Z")


def label_value(value: str) -> bool:
    """Whether OpenSLO takes `value` as a label value (or as one item of a list of them)."""
    return bool(_LABEL_VALUE.match(value)) and len(value) <= NAME_MAX


def openslo_label(value: str) -> str | list[str] | None:
    """A rule label's value as an OpenSLO label value: itself, or, when it holds commas, the list
    of its comma-separated items (OpenSLO's `map[string]string|string[]`; import joins a list
    with commas, so the two read each other back); None when OpenSLO cannot hold it."""
    if label_value(value):
        return value
    items = value.split(",")
    return items if len(items) > 1 and all(map(label_value, items)) else None


def _labels(slo: SLO, what: str, notes: list[str]) -> dict[str, str | list[str]]:
    """The SLO's rule labels that OpenSLO can hold as labels (import reads them back); the others,
    and the SLO's and its alerts' annotations and alert settings, are left out with a note."""
    kept = {k: v for k, v in ((k, openslo_label(v)) for k, v in slo.labels) if v is not None}
    left = [k for k, _ in slo.labels if k not in kept]
    if left:
        notes.append(f"{what}: labels {', '.join(left)} not exported: their values are not OpenSLO label values "
                     "(nor comma-separated lists of them)")
    if slo.annotations or slo.page_alert != m.SLOAlert(m.SLO_PAGE_ALERT) or \
            slo.ticket_alert != m.SLOAlert(m.SLO_TICKET_ALERT):
        notes.append(f"{what}: annotations and alert settings not exported: OpenSLO's alert policies say something "
                     "else")
    return kept


# OpenSLO's calendar window durations for the spec's calendar units (the go-sdk's shorthand:
# M month, Q quarter), and a start each period lines up with (the spec's periods start at 00:00
# on a Monday, the 1st of a month, of a quarter): 2024-01-01 was a Monday.
OPENSLO_CALENDAR_UNITS = {"1w": "week", "7d": "week", "1M": "month", "1Q": "quarter", "3M": "quarter"}
_CALENDAR_DURATION = {"week": "1w", "month": "1M", "quarter": "1Q"}
CALENDAR_START = "2024-01-01 00:00:00"


def _time_window(s) -> dict:
    if s.calendar is None:
        return {"duration": s.period, "isRolling": True}
    return {"duration": _CALENDAR_DURATION[s.calendar.unit], "isRolling": False,
            "calendar": {"startTime": CALENDAR_START, "timeZone": openslo_zone(s.calendar.timezone)}}


def export_text(spec: Spec, notes: list[str] | None = None) -> str:
    return "".join(dump(d, "---") for d in export(spec, notes))


# ---- what the OpenSLO go-sdk accepts -----------------------------------------------------------

def problems(doc) -> list[str]:
    """Why the OpenSLO go-sdk (pkg/openslo/v1) would refuse an openslo/v1 document: its rules
    for names, lengths and enums, which the 2022 JSON schemas do not all carry."""
    out: list[str] = []
    if not isinstance(doc, dict):
        return ["not an object"]
    if doc.get("apiVersion") != API:
        out.append(f"apiVersion must be {API}")
    kind = doc.get("kind")
    if kind not in KINDS:
        out.append(f"kind {kind!r} is not one of {', '.join(KINDS)}")
    out += _metadata(doc.get("metadata"), "metadata")
    spec = doc.get("spec")
    if not isinstance(spec, dict):
        return out + ["spec: required"]
    if kind in ("Service", "SLO", "SLI"):
        out += _description(spec, "spec")
    if kind == "SLI":
        out += _sli(spec, "spec")
    if kind == "SLO":
        out += _slo(spec)
    return out


def _metadata(meta, where: str) -> list[str]:
    if not isinstance(meta, dict):
        return [f"{where}: required"]
    out = []
    name = meta.get("name")
    if not isinstance(name, str) or not DNS_LABEL.match(name):
        out.append(f"{where}.name {name!r} is not an RFC 1123 label (lower-case letters, digits, '-', at most 63)")
    display = meta.get("displayName")
    if display is not None and (not isinstance(display, str) or len(display) > NAME_MAX):
        out.append(f"{where}.displayName is longer than {NAME_MAX} characters")
    for key in (meta.get("labels") or {}):
        if not _LABEL_KEY.match(str(key)):
            out.append(f"{where}.labels: key {key!r} is not a valid label key")
    for key in (meta.get("annotations") or {}):
        if not _ANNOTATION_KEY.match(str(key)) or len(str(key).rpartition("/")[2]) > NAME_MAX:
            out.append(f"{where}.annotations: key {key!r} is not a valid annotation key")
    return out


def _description(spec: dict, where: str) -> list[str]:
    d = spec.get("description")
    if d is not None and (not isinstance(d, str) or len(d) > DESCRIPTION_MAX):
        return [f"{where}.description is longer than {DESCRIPTION_MAX} characters"]
    return []


def _metric(node, where: str) -> list[str]:
    source = node.get("metricSource") if isinstance(node, dict) else None
    if not isinstance(source, dict):
        return [f"{where}.metricSource: required"]
    out = []
    ref = source.get("metricSourceRef")
    if ref not in (None, "") and not (isinstance(ref, str) and DNS_LABEL.match(ref)):
        out.append(f"{where}.metricSource.metricSourceRef {ref!r} is not an RFC 1123 label")
    if not isinstance(source.get("spec"), dict) or not source["spec"]:
        out.append(f"{where}.metricSource.spec: required, at least one key")
    return out


def _sli(spec: dict, where: str) -> list[str]:
    ratio, threshold = spec.get("ratioMetric"), spec.get("thresholdMetric")
    if (ratio is None) == (threshold is None):
        return [f"{where}: exactly one of ratioMetric and thresholdMetric"]
    if threshold is not None:
        return _metric(threshold, f"{where}.thresholdMetric")
    if not isinstance(ratio, dict):
        return [f"{where}.ratioMetric: must be an object"]
    out = []
    if ("total" in ratio) == ("raw" in ratio):
        out.append(f"{where}.ratioMetric: exactly one of total and raw")
    if "total" in ratio:
        if ("good" in ratio) == ("bad" in ratio):
            out.append(f"{where}.ratioMetric: exactly one of good and bad")
        for key in ("good", "bad", "total"):
            if key in ratio:
                out += _metric(ratio[key], f"{where}.ratioMetric.{key}")
    else:
        out += _metric(ratio["raw"], f"{where}.ratioMetric.raw")
        if ratio.get("rawType") not in ("success", "failure"):
            out.append(f"{where}.ratioMetric.rawType must be success or failure")
    return out


# The 2022 schema's form of a zone (the go-sdk reads the same): Area/Location.
_AREA_LOCATION = re.compile(r"[A-Z][a-zA-Z_]+/[A-Z][a-zA-Z_]+")


def _calendar(cal) -> list[str]:
    """The go-sdk's calendar rules: startTime as 2006-01-02 15:04:05, timeZone an IANA zone."""
    if cal is None:
        return []
    if not isinstance(cal, dict):
        return ["spec.timeWindow[0].calendar must be an object"]
    out = []
    try:
        datetime.strptime(str(cal.get("startTime")), "%Y-%m-%d %H:%M:%S")
    except ValueError:
        out.append("spec.timeWindow[0].calendar.startTime must be YYYY-MM-DD HH:MM:SS")
    if not known_zone(cal.get("timeZone")) or not _AREA_LOCATION.search(str(cal.get("timeZone"))):
        out.append("spec.timeWindow[0].calendar.timeZone must be an IANA time zone named Area/Location")
    return out


def _slo(spec: dict) -> list[str]:
    out = []
    if not spec.get("service"):
        out.append("spec.service: required")
    if spec.get("budgetingMethod") not in ("Occurrences", "Timeslices", "RatioTimeslices"):
        out.append("spec.budgetingMethod must be Occurrences, Timeslices or RatioTimeslices")
    windows = spec.get("timeWindow")
    if windows is not None:
        if not isinstance(windows, list) or len(windows) != 1:
            out.append("spec.timeWindow: exactly one window")
        else:
            w = windows[0] if isinstance(windows[0], dict) else {}
            if not _SHORTHAND.match(str(w.get("duration", ""))):
                out.append("spec.timeWindow[0].duration must be a number and one of m h d w M Q Y")
            if bool(w.get("isRolling")) == ("calendar" in w):
                out.append("spec.timeWindow[0]: a rolling window has no calendar; a calendar window needs one")
            out += _calendar(w.get("calendar"))
    inline, ref = spec.get("indicator"), spec.get("indicatorRef")
    if (inline is None) == (ref is None):
        out.append("spec: exactly one of indicator and indicatorRef")
    ratio = False
    if isinstance(inline, dict):
        out += _metadata(inline.get("metadata"), "spec.indicator.metadata")
        body = inline.get("spec")
        out += _sli(body, "spec.indicator.spec") if isinstance(body, dict) else ["spec.indicator.spec: required"]
        ratio = isinstance(body, dict) and "ratioMetric" in body
    elif ref is not None and not (isinstance(ref, str) and DNS_LABEL.match(ref)):
        out.append(f"spec.indicatorRef {ref!r} is not an RFC 1123 label")
    objectives = spec.get("objectives")
    if not isinstance(objectives, list) or not objectives:
        return out + ["spec.objectives: at least one"]
    for i, o in enumerate(objectives):
        where = f"spec.objectives[{i}]"
        if not isinstance(o, dict):
            out.append(f"{where}: must be an object")
        elif "timeSliceWindow" in o and not _SHORTHAND.match(str(o["timeSliceWindow"])):
            out.append(f"{where}.timeSliceWindow must be a number and one of m h d w M Q Y")
            continue
        if ("target" in o) == ("targetPercent" in o):
            out.append(f"{where}: exactly one of target and targetPercent")
        t = o.get("target")
        if t is not None and not (isinstance(t, (int, float)) and 0 <= t < 1):
            out.append(f"{where}.target must be in [0, 1)")
        if ratio and ("op" in o or "value" in o):
            out.append(f"{where}: op and value are forbidden with a ratioMetric")
        if isinstance(inline, dict) and not ratio:
            if o.get("op") not in ("gt", "lt", "gte", "lte"):
                out.append(f"{where}.op must be gt, lt, gte or lte")
            if not isinstance(o.get("value"), (int, float)):
                out.append(f"{where}.value: required")
        if o.get("displayName") is not None and len(str(o["displayName"])) > NAME_MAX:
            out.append(f"{where}.displayName is longer than {NAME_MAX} characters")
    return out
