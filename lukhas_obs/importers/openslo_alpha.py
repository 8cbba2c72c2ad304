"""OpenSLO v1alpha and v2alpha documents read as OpenSLO v1, where the meaning is the same.

openslo.py imports v1; this module rewrites each older or newer document into the v1 shape
first, with a note for every assumption and a reason for everything that has no v1 meaning, so
that one mapping (openslo.py) decides what the spec can hold.

v1alpha (the README before April 2022; the OpenSLO go-sdk's `pkg/openslo/v1alpha`; what Sloth
reads): `timeWindows[]` of `{count, unit}`; a threshold SLI under `indicator.thresholdMetric`; a
ratio SLI per objective under `objectives[].ratioMetrics` (`incremental` is v1's `counter`), each
metric `{source, queryType, query}`. "If using ratioMetric then any number of Thresholds can be
defined": each ratio objective is its own SLI, so it becomes its own SLO (as Sloth does).

v2alpha (`openslo.com/v2alpha`, OpenSLO's enhancements/v2alpha.md and the go-sdk's
`pkg/openslo/v2alpha`): `serviceRef` (`service` in the proposal), `sli`/`sliRef` for v1's
`indicator`/`indicatorRef` (also per objective: a composite SLO), and each metric as
`{dataSourceRef, dataSourceSpec, spec}` instead of v1's `metricSource`."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from lukhas_obs.importers.common import Blocker, Doc, mapping, short, text_of
from lukhas_obs.openslo import API

V1ALPHA = "openslo/v1alpha"
V2ALPHA = ("openslo.com/v2alpha", "openslo/v2alpha")
# v1alpha time window units (README 2021: Second for rolling windows, Year to Day for calendar
# ones; the go-sdk takes Second, Day, Week, Month, Quarter); Minute and Hour as the notes say
UNITS = {"second": "s", "minute": "m", "hour": "h", "day": "d", "week": "w", "month": "M", "quarter": "Q",
         "year": "Y"}
PROMQL_QUERY_TYPES = {"promql", "query", "prometheus"}
METRIC_KEYS = ("good", "bad", "total", "raw")


@dataclass
class Read:
    """A document as v1, with what reading it that way assumed or could not do."""
    doc: Doc
    label: str = ""                                    # e.g. " (objective 2 of 2)"
    notes: list[str] = field(default_factory=list)
    blockers: list[Blocker] = field(default_factory=list)


def as_v1(doc: Doc) -> list[Read]:
    """`doc` as one or more v1 documents (a v1alpha SLO with several ratio objectives is one SLO
    per objective); a v1 document, or one of another version, unchanged."""
    api = doc.data.get("apiVersion")
    if api == V1ALPHA:
        return _v1alpha(doc)
    if api in V2ALPHA:
        return [_v2alpha(doc)]
    return [Read(doc)]


def _as(doc: Doc, data: dict) -> Doc:
    return replace(doc, data={**data, "apiVersion": API})


# ---- v1alpha ---------------------------------------------------------------------------------

def _v1alpha(doc: Doc) -> list[Read]:
    data = doc.data
    if data.get("kind") != "SLO" or not isinstance(data.get("spec"), dict):
        return [Read(_as(doc, data))]   # Service (same shape), or what v1 reports as it is
    spec = data["spec"]
    meta = mapping(data.get("metadata"))
    name = text_of(meta.get("name"))
    base: dict = {k: v for k, v in spec.items() if k not in ("timeWindows", "indicator", "objectives")}
    head = Read(doc, notes=[f"apiVersion {V1ALPHA} read as {API} (the same SLO in v1's shape)"])
    if "timeWindows" in spec:
        base["timeWindow"] = _windows(spec["timeWindows"], head)
    objectives = spec.get("objectives")
    indicator = spec.get("indicator")
    # the threshold SLI, or an empty one that v1 refuses as "neither ratioMetric nor thresholdMetric"
    threshold = mapping(indicator).get("thresholdMetric")
    as_indicator = {"metadata": {"name": f"{name or 'slo'}-threshold"},
                    "spec": {} if threshold is None else {"thresholdMetric": _metric(threshold, "thresholdMetric",
                                                                                     head)}}
    if not isinstance(objectives, list) or not all(isinstance(o, dict) for o in objectives):
        new = {**base, "indicator": as_indicator, "objectives": objectives}
        return [Read(_as(doc, {**data, "spec": new}), "", head.notes, head.blockers)]
    ratios = [i for i, o in enumerate(objectives) if "ratioMetrics" in o or "ratioMetric" in o]
    if indicator is not None or not ratios:
        if ratios:
            head.blockers.append(Blocker("invalid", "both indicator.thresholdMetric and objectives[].ratioMetrics: "
                                                    "v1alpha takes one or the other"))
        plain = [{k: v for k, v in o.items() if k not in ("ratioMetrics", "ratioMetric")} for o in objectives]
        new = {**base, "indicator": as_indicator, "objectives": plain}
        return [Read(_as(doc, {**data, "spec": new}), "", head.notes, head.blockers)]
    if len(ratios) < len(objectives):
        missing = ", ".join(str(i + 1) for i in range(len(objectives)) if i not in ratios)
        head.blockers.append(Blocker("invalid", f"objective {missing} of {len(objectives)} has no ratioMetrics and "
                                                "the SLO no indicator.thresholdMetric"))
    out = []
    for i in ratios:
        o = objectives[i]
        read = Read(doc, notes=list(head.notes), blockers=list(head.blockers))
        key = "ratioMetrics" if "ratioMetrics" in o else "ratioMetric"
        if key == "ratioMetric":
            read.notes.append("ratioMetric (v1's spelling) read as v1alpha's ratioMetrics")
        r = mapping(o[key])
        ratio: dict = {k: _metric(r[k], k, read) for k in ("good", "total") if k in r}
        if "incremental" in r:
            ratio["counter"] = r["incremental"]
        elif "counter" in r:
            ratio["counter"] = r["counter"]
        objective = {k: v for k, v in o.items() if k != key}
        slo_meta = dict(meta)
        if len(ratios) > 1:
            slo_meta["name"] = f"{name or 'slo'}-{i}"
            label = text_of(o.get("displayName"))
            read.label = f" (objective {i + 1} of {len(objectives)})"
            read.notes.append(f"objective {i + 1} of {len(objectives)}{f' ({label!r})' if label else ''} imported as "
                              f"its own SLO {slo_meta['name']!r}: a v1alpha ratio objective has its own metrics, so "
                              "it is its own SLI (Sloth names them the same way)")
        new = {**base, "objectives": [objective],
               "indicator": {"metadata": {"name": f"{slo_meta.get('name') or 'slo'}-ratio"},
                             "spec": {"ratioMetric": ratio}}}
        read.doc = _as(doc, {**data, "metadata": slo_meta, "spec": new})
        read.doc = replace(read.doc, line=doc.line_of("spec", "objectives", i)) if len(ratios) > 1 else read.doc
        out.append(read)
    return out


def _windows(windows, read: Read):
    """`timeWindows: [{count, unit, isRolling, calendar}]` as v1's `timeWindow: [{duration, ...}]`."""
    if not isinstance(windows, list):
        return windows   # v1 says what is wrong with it
    out = []
    for w in windows:
        if not isinstance(w, dict):
            out.append(w)
            continue
        unit, count = w.get("unit"), w.get("count")
        letter = UNITS.get(unit.strip().lower()) if isinstance(unit, str) else None
        if letter is None:
            read.blockers.append(Blocker("invalid", f"timeWindows unit {short(unit)} is not one of "
                                                    + ", ".join(u.title() for u in UNITS)))
        if isinstance(count, bool) or not isinstance(count, int) or count <= 0:
            read.blockers.append(Blocker("invalid", f"timeWindows count {short(count)} is not a whole number above 0"))
            letter = None
        new = {k: v for k, v in w.items() if k not in ("unit", "count")}
        if letter is not None:
            new["duration"] = f"{count}{letter}"
            read.notes.append(f"timeWindows {count} {unit} read as the duration {count}{letter}")
        out.append(new)
    return out


def _metric(metric, what: str, read: Read) -> dict:
    """v1alpha's `{source, queryType, query, metadata}` as v1's `{metricSource: {type, spec}}`."""
    m = mapping(metric)
    body: dict = {}
    if "query" in m:
        body["query"] = m["query"]
    source: dict = {"spec": body}
    if "source" in m:
        source["type"] = m["source"]
    query_type = m.get("queryType")
    prometheus = isinstance(m.get("source"), str) and m["source"].lower() in ("prometheus", "sloth")
    if prometheus and m["source"].lower() == "sloth":
        source["type"] = "Prometheus"
        read.notes.append(f"{what}: source sloth (Sloth's name for its Prometheus) read as Prometheus")
    if prometheus and isinstance(query_type, str) and query_type.lower() not in PROMQL_QUERY_TYPES:
        read.notes.append(f"{what}: queryType {short(query_type)} read as PromQL (the source is Prometheus)")
    if m.get("metadata"):
        read.blockers.append(Blocker("source", f"{what}: metadata {short(m['metadata'])} passes details to the data "
                                               "source that change what the query means; lukhas-obs runs the query "
                                               "as written"))
    return {"metricSource": source}


# ---- v2alpha ---------------------------------------------------------------------------------

def _v2alpha(doc: Doc) -> Read:
    data, kind = doc.data, doc.data.get("kind")
    read = Read(doc, notes=[f"apiVersion {data.get('apiVersion')} read as {API} (the same document in v1's "
                            "shape)"])
    spec = data.get("spec")
    if not isinstance(spec, dict):
        read.doc = _as(doc, data)
        return read
    if kind == "SLI":
        spec = _sli_spec(spec, read)
    elif kind == "SLO":
        spec = _slo_spec(spec, read)
    read.doc = _as(doc, {**data, "spec": spec})
    return read


def _slo_spec(spec: dict, read: Read) -> dict:
    new = {k: v for k, v in spec.items() if k not in ("serviceRef", "sli", "sliRef", "objectives")}
    service, ref = spec.get("service"), spec.get("serviceRef")
    if ref is not None:
        if service is not None and service != ref:
            read.notes.append(f"both service {short(service)} and serviceRef {short(ref)} given: serviceRef used")
        new["service"] = ref
    if "sli" in spec:
        new["indicator"] = _inline_sli(spec["sli"], read)
    if "sliRef" in spec:
        new["indicatorRef"] = spec["sliRef"]
    objectives = spec.get("objectives")
    if isinstance(objectives, list):
        objectives = [_objective(o, read) if isinstance(o, dict) else o for o in objectives]
    new["objectives"] = objectives
    return new


def _objective(o: dict, read: Read) -> dict:
    new = {k: v for k, v in o.items() if k not in ("sli", "sliRef", "labels", "compositeWeight")}
    if "sli" in o:
        new["indicator"] = _inline_sli(o["sli"], read)
    if "sliRef" in o:
        new["indicatorRef"] = o["sliRef"]
    if o.get("labels"):
        read.notes.append(f"objective labels {short(o['labels'])} not kept: the spec has no SLO labels for OpenSLO yet")
    return new


def _inline_sli(sli, read: Read):
    if not isinstance(sli, dict) or not isinstance(sli.get("spec"), dict):
        return sli
    return {**sli, "spec": _sli_spec(sli["spec"], read)}


def _sli_spec(spec: dict, read: Read) -> dict:
    new = dict(spec)
    if isinstance(spec.get("thresholdMetric"), dict):
        new["thresholdMetric"] = _source(spec["thresholdMetric"], "thresholdMetric", read)
    if isinstance(spec.get("ratioMetric"), dict):
        ratio = dict(spec["ratioMetric"])
        for key in METRIC_KEYS:
            if isinstance(ratio.get(key), dict):
                ratio[key] = _source(ratio[key], key, read)
        new["ratioMetric"] = ratio
    return new


def _source(metric: dict, what: str, read: Read) -> dict:
    """v2alpha's `{dataSourceRef, dataSourceSpec, spec}` as v1's `{metricSource: {metricSourceRef,
    type, spec}}`; an inline data source's connection details are not needed (lukhas-obs reads
    the Prometheus it generates)."""
    if "metricSource" in metric:
        return metric   # already v1's shape
    source: dict = {"spec": metric.get("spec")}
    if "dataSourceRef" in metric:
        source["metricSourceRef"] = metric["dataSourceRef"]
    inline = mapping(metric.get("dataSourceSpec"))
    if inline.get("type") is not None:
        source["type"] = inline["type"]
    if inline.get("connectionDetails"):
        read.notes.append(f"{what}: the inline data source's connectionDetails are not kept: lukhas-obs reads the "
                          "Prometheus it configures")
    return {"metricSource": source}
