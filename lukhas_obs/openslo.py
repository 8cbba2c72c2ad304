"""OpenSLO v1 in and out.

export: every SLO of a spec as an OpenSLO `Service` and `SLO` (with its SLI inline), Prometheus
queries as the metric sources, the page/ticket priorities kept as annotations.
import:  OpenSLO `Service`/`SLO`/`SLI` documents (ratio and threshold metrics, rolling windows,
Prometheus sources) as spec `services:` entries. Whatever OpenSLO says that the spec cannot
(calendar windows, timeslices, non-Prometheus sources, queries that are not plain selectors, alert
policies) is reported, never silently dropped."""

from __future__ import annotations

from dataclasses import dataclass, field

import yaml

from lukhas_obs import promql
from lukhas_obs.generate import slo as engine
from lukhas_obs.generate.yamlout import dump
from lukhas_obs.model import SLO, Spec
from lukhas_obs.promql import PromQLError, Selector

API = "openslo/v1"
ANNOTATION = "obs.lukhas.ai"  # OpenSLO annotation keys carry a DNS prefix, as in Kubernetes
PERIODS = {"7d", "28d", "30d"}


def _source(query: str) -> dict:
    return {"metricSource": {"type": "Prometheus", "spec": {"query": query}}}


def indicator(slo: SLO) -> tuple[dict, dict]:
    """(indicator spec, objective) for one SLO."""
    sli = slo.sli
    objective = {"displayName": slo.name, "target": slo.target}
    total = str(engine.total_selector(slo))
    if sli.kind == "ratio":
        if sli.errors is not None:
            ratio = {"counter": True, "bad": _source(str(sli.errors.where(job=slo.service))), "total": _source(total)}
        else:
            assert sli.good is not None, "the loader requires errors or good for a ratio SLI"
            ratio = {"counter": True, "good": _source(str(sli.good.where(job=slo.service))), "total": _source(total)}
        return {"ratioMetric": ratio}, objective
    if sli.kind == "latency":
        assert sli.metric is not None and sli.threshold is not None, "the loader requires both for a latency SLI"
        good = sli.metric.renamed(sli.metric.metric + "_bucket").where(job=slo.service).plus(
            promql.Matcher("le", "=", promql.number(sli.threshold)))
        return {"ratioMetric": {"counter": True, "good": _source(str(good)), "total": _source(total)}}, objective
    if sli.kind == "availability":
        sel = engine.total_selector(slo)
        return {"ratioMetric": {"counter": False, "good": _source(f"sum({sel})"),
                                "total": _source(f"count({sel})")}}, objective
    objective = {**objective, "op": "gte" if sli.min is not None else "lte",
                 "value": sli.min if sli.min is not None else sli.max}
    return {"thresholdMetric": _source(total)}, objective


def export(spec: Spec) -> list[dict]:
    docs: list[dict] = []
    for svc in spec.services:
        if not svc.slos:
            continue
        docs.append({"apiVersion": API, "kind": "Service",
                     "metadata": {"name": svc.name, "displayName": svc.name},
                     "spec": {"description": svc.description or f"{svc.name} ({spec.project})"}})
        for s in svc.slos:
            ind, objective = indicator(s)
            annotations = {f"{ANNOTATION}/page": s.page, f"{ANNOTATION}/ticket": s.ticket}
            if s.min_events:
                annotations[f"{ANNOTATION}/min-events"] = str(s.min_events)
            if s.sli.kind == "threshold" and s.sli.min is not None and s.sli.max is not None:
                annotations[f"{ANNOTATION}/max"] = promql.number(s.sli.max)  # OpenSLO holds one bound
            docs.append({
                "apiVersion": API, "kind": "SLO",
                "metadata": {"name": s.id, "displayName": f"{s.service} {s.name}", "annotations": annotations},
                "spec": {
                    **({"description": s.description} if s.description else {}),
                    "service": s.service,
                    "indicator": {"metadata": {"name": f"{s.id}-sli"}, "spec": ind},
                    "timeWindow": [{"duration": s.period, "isRolling": True}],
                    "budgetingMethod": "Occurrences",
                    "objectives": [objective],
                },
            })
    return docs


def export_text(spec: Spec) -> str:
    return "".join(dump(d, "---") for d in export(spec))


# ---- import ----------------------------------------------------------------------------------

class _Loader(yaml.SafeLoader):
    """Safe, and keeps YAML timestamps (calendar startTime) as the strings they were."""


_Loader.yaml_implicit_resolvers = {k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:timestamp"]
                                   for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}


@dataclass
class Imported:
    services: dict[str, list[dict]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_yaml(self) -> str:
        doc = {"services": [{"name": name, "kind": "application", "slos": slos}
                            for name, slos in self.services.items()]}
        return dump(doc, "# Imported from OpenSLO by lukhas-obs: merge into your spec's services.")


def _query(node: dict | None) -> str:
    src = (node or {}).get("metricSource") or {}
    if src.get("type", "Prometheus").lower() != "prometheus":
        raise ValueError(f"metric source type {src.get('type')!r} is not Prometheus")
    query = (src.get("spec") or {}).get("query")
    if query is None:
        raise ValueError("a Prometheus metric source has no query")
    return query


def _selector(query: str, service: str) -> Selector:
    try:
        sel = promql.parse_selector(query)
    except PromQLError as exc:
        raise ValueError(f"query {query!r} is not a plain counter selector ({exc})") from None
    # our engine scopes every SLI to job=<service>; keep only the other matchers
    return Selector(sel.metric, tuple(m for m in sel.matchers if not (m.name == "job" and m.value == service)))


def _sli(spec_ind: dict, service: str, objective: dict, annotations: dict) -> dict:
    if "ratioMetric" in spec_ind:
        r = spec_ind["ratioMetric"]
        if not r.get("counter", False):
            raise ValueError("ratioMetric with counter: false (gauges of good/total) has no lukhas-obs equivalent")
        total = _selector(_query(r.get("total")), service)
        if "good" in r:
            good = _selector(_query(r["good"]), service)
            le = next((m for m in good.matchers if m.name == "le" and m.op == "="), None)
            if le and good.metric.endswith("_bucket") and total.metric == good.metric[:-7] + "_count":
                base = good.metric[:-7]
                rest = Selector(base, tuple(m for m in good.matchers if m.name != "le"))
                out = {"metric": base, "threshold": float(le.value)}
                if rest.matchers:
                    out["selector"] = rest.render()[len(base):]
                return {"latency": out}
            return {"ratio": {"good": good.render(), "total": total.render()}}
        return {"ratio": {"errors": _selector(_query(r.get("bad")), service).render(), "total": total.render()}}
    if "thresholdMetric" in spec_ind:
        sel = _selector(_query(spec_ind["thresholdMetric"]), service)
        op, value = objective.get("op"), objective.get("value")
        if op in ("gte", "gt"):
            out = {"metric": sel.render(), "min": value}
            if f"{ANNOTATION}/max" in annotations:
                out["max"] = float(annotations[f"{ANNOTATION}/max"])
            return {"threshold": out}
        if op in ("lte", "lt"):
            return {"threshold": {"metric": sel.render(), "max": value}}
        raise ValueError("a thresholdMetric objective needs op and value")
    raise ValueError("the indicator has neither ratioMetric nor thresholdMetric")


def import_docs(texts: list[tuple[str, str]], page: str = "P1", ticket: str = "P3") -> Imported:
    out = Imported()
    docs: list[tuple[str, int, dict]] = []
    for name, text in texts:
        for i, doc in enumerate(yaml.load_all(text, Loader=_Loader)):
            if doc:
                docs.append((name, i, doc))
    slis = {d["metadata"]["name"]: d["spec"] for _, _, d in docs if d.get("kind") == "SLI"}
    for fname, i, doc in docs:
        where = f"{fname} document {i + 1}"
        kind = doc.get("kind")
        if doc.get("apiVersion") != API:
            out.notes.append(f"{where}: apiVersion {doc.get('apiVersion')!r} is not {API}; skipped")
            continue
        if kind in ("Service", "SLI"):
            if kind == "Service":
                out.services.setdefault(doc["metadata"]["name"], [])
            continue
        if kind != "SLO":
            out.notes.append(f"{where}: {kind} is not imported (lukhas-obs derives alerting from severities)")
            continue
        spec, meta = doc.get("spec") or {}, doc.get("metadata") or {}
        name = meta.get("name", "?")
        service = spec.get("service")
        annotations = meta.get("annotations") or {}
        try:
            if service is None:
                raise ValueError("the SLO names no service")
            windows = spec.get("timeWindow") or [{"duration": "30d", "isRolling": True}]
            w = windows[0]
            if not w.get("isRolling", False):
                raise ValueError(f"calendar window {w.get('calendar')} is not supported (rolling windows only)")
            if w["duration"] not in PERIODS:
                raise ValueError(f"window {w['duration']} is not one of {', '.join(sorted(PERIODS))}")
            if spec.get("budgetingMethod") != "Occurrences":
                raise ValueError(f"budgetingMethod {spec.get('budgetingMethod')} is not supported (Occurrences only)")
            objectives = spec.get("objectives") or []
            if len(objectives) != 1:
                raise ValueError(f"{len(objectives)} objectives; lukhas-obs takes one per SLO")
            ind = (spec.get("indicator") or {}).get("spec") or slis.get(spec.get("indicatorRef", ""))
            if ind is None:
                raise ValueError(f"indicator {spec.get('indicatorRef')!r} is not among the documents")
            sli = _sli(ind, service, objectives[0], annotations)
            if spec.get("alertPolicies"):
                out.notes.append(f"{where}: alertPolicies are not imported; burn-rate alerts come from page/ticket")
        except (ValueError, KeyError, TypeError) as exc:
            out.notes.append(f"{where} (SLO {name}): not imported: {exc}")
            continue
        prefix = f"{service}-"
        entry = {"name": name[len(prefix):] if name.startswith(prefix) else name,
                 "objective": round(objectives[0]["target"] * 100, 10), "period": w["duration"], "sli": sli,
                 "page": annotations.get(f"{ANNOTATION}/page", page),
                 "ticket": annotations.get(f"{ANNOTATION}/ticket", ticket)}
        if spec.get("description"):
            entry["description"] = spec["description"]
        if f"{ANNOTATION}/min-events" in annotations:
            entry["min_events"] = int(annotations[f"{ANNOTATION}/min-events"])
        out.services.setdefault(service, []).append(entry)
    return out
