"""Sloth specs as spec entries: `version: prometheus/v1` files (one or many `---` documents) and
Kubernetes `PrometheusServiceLevel` objects (`sloth.slok.dev/v1`).

Sloth's event SLIs are PromQL over `{{.window}}`: `sum(rate(errors[{{.window}}]))` over
`sum(rate(total[{{.window}}]))` becomes a ratio of the two counters, and `count - bucket{le}` over
`count` a latency SLI; other queries become an expression ratio (`errors_query`/`total_query`) and
a `raw` SLI a raw error ratio, both kept as written. Labels, annotations, alert names and disabled
alerts become the SLO's own (a label lukhas-obs sets itself is dropped with a note); plugin SLIs
block the SLO (their queries are Sloth code)."""

from __future__ import annotations

import promql_parser

from lukhas_obs.importers.common import (
    DEFAULT_PERIOD,
    Doc,
    Outcome,
    Refused,
    Result,
    counter_selector,
    expression_sli,
    latency_of,
    latency_sli,
    mapping,
    need_counter,
    normalise_name,
    number,
    parse_query,
    ratio_sli,
    raw_sli,
    read_documents,
    rule_labels,
    scoped,
    short,
    text_of,
)
from lukhas_obs.model import RESERVED_RULE_LABELS  # noqa: E402

VERSION = "prometheus/v1"
K8S_API = "sloth.slok.dev/v1"
K8S_KIND = "PrometheusServiceLevel"


def import_sloth(texts, page: str = "P1", ticket: str = "P3") -> Result:
    result = Result("Sloth")
    for doc in read_documents(texts, result):
        data = doc.data
        if "version" in data and "apiVersion" not in data:
            _group(doc, data, data.get("version") == VERSION, f"version {short(data.get('version'))}", False,
                   result, page, ticket)
        elif data.get("apiVersion") == K8S_API and data.get("kind") == K8S_KIND:
            _group(doc, mapping(data.get("spec")), True, "", True, result, page, ticket)
        elif data.get("apiVersion") == K8S_API and data.get("kind") == "AlertWindows":
            result.notes.append(f"{doc.where}: Sloth AlertWindows not imported: lukhas-obs derives its burn-rate "
                                "windows from each SLO's period (7d, 28d or 30d)")
        elif data.get("kind") == "SLO":
            out = Outcome(doc.where, f"SLO {short(mapping(data.get('metadata')).get('name'))}")
            out.block("version", f"an OpenSLO document (apiVersion {short(data.get('apiVersion'))}): use "
                                 "`lukhas-obs import openslo` (it reads OpenSLO v1, v1alpha and v2alpha)")
            result.outcomes.append(out)
        else:
            result.notes.append(f"{doc.where}: neither a Sloth prometheus/v1 spec nor a {K8S_KIND} "
                                f"(apiVersion {short(data.get('apiVersion'))}, kind {short(data.get('kind'))}); "
                                "skipped")
    return result


def _key(body: dict, snake: str, camel: str, k8s: bool):
    return body.get(camel if k8s else snake)


def _group(doc: Doc, spec: dict, supported: bool, version: str, k8s: bool, result: Result, page: str,
           ticket: str) -> None:
    service_raw = text_of(spec.get("service"))
    notes: list[str] = []
    service = normalise_name(service_raw, "service", notes) if service_raw else None
    labels = spec.get("labels")
    plugins = _key(spec, "slo_plugins", "sloPlugins", k8s)
    slos = spec.get("slos")
    path = ("spec", "slos") if k8s else ("slos",)
    if slos is not None and not isinstance(slos, list):
        result.problems.append(f"{doc.file}:{doc.line_of(*path)}: {'.'.join(path)} is {short(slos)}, not a list of "
                               "SLOs; nothing imported from this spec")
        return
    if not slos:
        result.notes.append(f"{doc.where}: a Sloth spec without SLOs; nothing to import")
        if service and supported:
            result.services.setdefault(service, "")
        return
    for i, body in enumerate(slos):
        line = doc.line_of(*path, i)
        name = mapping(body).get("name")
        out = Outcome(f"{doc.file}:{line}", f"Sloth SLO {name if isinstance(name, str) else '(no name)'}"
                      + (f" of {service_raw}" if service_raw else ""))
        result.outcomes.append(out)
        out.notes += notes
        if not supported:
            out.block("version", f"{version} is not {VERSION}")
            continue
        if service is None:
            out.block("invalid", "the spec names no service")
        out.service = service
        if plugins:
            out.notes.append(f"SLO plugins {short(plugins, 120)} not imported")
        if not isinstance(body, dict):
            out.block("invalid", f"the SLO is {short(body)}, not an object")
            continue
        _origins(out, doc, path + (i,), ("spec", "service") if k8s else ("service",), body, labels, k8s)
        _slo(body, service, k8s, out, page, ticket, labels)


def _origins(out: Outcome, doc: Doc, at: tuple, service_at: tuple, body: dict, service_labels, k8s: bool) -> None:
    """Where each part of the SLO's entry comes from in the Sloth spec (refusals point there)."""
    out.origin((), doc, *at)
    out.origin(("service",), doc, *service_at)
    for key, source in (("name", "name"), ("description", "description"), ("objective", "objective"),
                        ("sli", "sli"), ("alerts", "alerting"), ("labels", "labels")):
        out.origin((key,), doc, *at, source)
    for key in mapping(service_labels):
        if key not in mapping(body.get("labels")):
            out.origin(("labels", key), doc, *service_at[:-1], "labels", key)
    for key in mapping(body.get("labels")):
        out.origin(("labels", key), doc, *at, "labels", key)
    error, total = ("errorQuery", "totalQuery") if k8s else ("error_query", "total_query")
    for part, query in ((("latency",), ("events", error)), (("ratio", "errors"), ("events", error)),
                         (("ratio", "errors_query"), ("events", error)), (("ratio", "total"), ("events", total)),
                         (("ratio", "total_query"), ("events", total)),
                         (("raw",), ("raw", "errorRatioQuery" if k8s else "error_ratio_query"))):
        out.origin(("sli",) + part, doc, *at, "sli", *query)
    for what, snake, camel in (("page", "page_alert", "pageAlert"), ("ticket", "ticket_alert", "ticketAlert")):
        out.origin(("alerts", what), doc, *at, "alerting", camel if k8s else snake)
        out.origin(("alerts", what, "name"), doc, *at, "alerting", "name")


def _slo(body: dict, service: str | None, k8s: bool, out: Outcome, page: str, ticket: str,
         service_labels=None) -> None:
    name = text_of(body.get("name"))
    if name is None:
        out.block("invalid", "the SLO has no name")
    objective = None
    if "objective" not in body:
        out.block("invalid", "the SLO has no objective")
    else:
        objective = number(body["objective"], "objective", out)
        if objective is not None and not 0 < objective < 100:
            out.block("invalid", f"objective {objective:g} is not between 0 and 100 (exclusive): "
                                 + ("100 leaves no error budget" if objective == 100 else "Sloth's objectives are "
                                                                                          "percentages"))
            objective = None
    labels = {**rule_labels(service_labels, "service label", out), **rule_labels(body.get("labels"), "SLO label", out)}
    if body.get("plugins"):
        out.notes.append(f"SLO plugins {short(body['plugins'], 120)} not imported")
    alerts = _alerting(mapping(body.get("alerting")), k8s, out)
    sli = _sli(mapping(body.get("sli")), service, k8s, out) if service else None
    out.notes.append(f"period {DEFAULT_PERIOD}: Sloth's default (sloth generate --default-slo-period); set period "
                     "if yours differs")
    if out.blockers or sli is None or objective is None or name is None or service is None:
        return
    entry: dict = {"name": normalise_name(name, "SLO", out.notes)}
    description = text_of(body.get("description"))
    if description:
        entry["description"] = description
    entry.update({"objective": round(objective, 10), "period": DEFAULT_PERIOD, "sli": sli, "page": page,
                  "ticket": ticket})
    if labels:
        entry["labels"] = labels
    if alerts:
        entry["alerts"] = alerts
    out.entry = entry


def _alerting(alerting: dict, k8s: bool, out: Outcome) -> dict:
    """Sloth's alerting block as the spec's `alerts`: the name (Sloth gives the page and the ticket
    alert one name and tells them apart by a label; the spec needs two), labels and annotations
    on both, each alert's own, and a disabled alert."""
    alerts: dict[str, dict] = {"page": {}, "ticket": {}}
    name = alerting.get("name")
    if isinstance(name, str) and name:
        alerts["page"]["name"], alerts["ticket"]["name"] = name, f"{name}Ticket"
        out.notes.append(f"alert name {name!r}: the page alert is {name}, the ticket alert {name}Ticket (Sloth names "
                         "both alike and tells them apart by sloth_severity)")
    common = {key: rule_labels(alerting.get(key), f"alert {key[:-1]}", out, RESERVED_RULE_LABELS if key == "labels"
                           else frozenset()) for key in ("labels", "annotations")}
    for snake, camel, what in (("page_alert", "pageAlert", "page"), ("ticket_alert", "ticketAlert", "ticket")):
        alert = mapping(_key(alerting, snake, camel, k8s))
        for key in ("labels", "annotations"):
            own = rule_labels(alert.get(key), f"{what} alert {key[:-1]}", out,
                          RESERVED_RULE_LABELS if key == "labels" else frozenset())
            if common[key] or own:
                alerts[what][key] = {**common[key], **own}
        if alert.get("disable") is True:
            alerts[what]["disable"] = True
            unused = [k for k in ("name", "labels", "annotations") if k in alerts[what]]
            if unused:
                out.notes.append(f"the {what} alert is disabled ({snake if not k8s else camel}.disable: true): its "
                                 f"{' and '.join(unused)} {'is' if len(unused) == 1 else 'are'} kept in the spec but "
                                 "reach no rule (nothing is generated for a disabled alert)")
    return {what: body for what, body in alerts.items() if body}


def _sli(sli: dict, service: str, k8s: bool, out: Outcome) -> dict | None:
    kinds = [k for k in ("events", "raw", "plugin") if sli.get(k) is not None]
    if len(kinds) != 1:
        out.block("invalid", "the SLI has " + ("none of events, raw, plugin" if not kinds else
                                               f"{' and '.join(kinds)}: give exactly one"))
        return None
    if kinds[0] == "plugin":
        plugin = mapping(sli["plugin"])
        out.block("plugin", f"SLI plugin {short(plugin.get('id'))}: its queries are written by Sloth plugin code")
        return None
    if kinds[0] == "raw":
        query = text_of(_key(mapping(sli["raw"]), "error_ratio_query", "errorRatioQuery", k8s))
        if query is None:
            out.block("invalid", "a raw SLI needs an error ratio query")
            return None
        return raw_sli(query, out)
    events = mapping(sli["events"])
    error_q = text_of(_key(events, "error_query", "errorQuery", k8s))
    total_q = text_of(_key(events, "total_query", "totalQuery", k8s))
    if error_q is None or total_q is None:
        out.block("invalid", "an events SLI needs both an error and a total query")
        return None
    try:
        error_node = parse_query(error_q, out, "error query")
        total_node = parse_query(total_q, out, "total query")
    except Refused as exc:
        out.blockers.append(exc.blocker)
        return None
    latency = _latency(error_node, total_node, error_q, total_q, service, out)
    if latency is not None:
        return latency
    selectors = []
    quiet = Outcome(out.where, out.label)
    for node, query, what in ((error_node, error_q, "error query"), (total_node, total_q, "total query")):
        try:
            selectors.append(counter_selector(node, query, quiet, what))
        except Refused as exc:
            quiet.blockers.append(exc.blocker)
    if quiet.blockers and all(b.kind == "expression" for b in quiet.blockers) and not out.blockers:
        return expression_sli({"errors_query": error_q, "total_query": total_q}, out)
    out.notes += quiet.notes
    out.blockers += quiet.blockers
    if len(selectors) != 2 or out.blockers:
        for sel in selectors:
            need_counter(sel, out, "query")  # its reasons too, all at once
        return None
    return ratio_sli(selectors[0], None, selectors[1], service, out)


def _latency(error_node, total_node, error_q: str, total_q: str, service: str, out: Outcome) -> dict | None:
    """`count - bucket{le="T"}` over `count` (Sloth's latency example): the share of requests
    slower than T, the spec's latency SLI."""
    node = error_node
    while isinstance(node, promql_parser.ParenExpr):
        node = node.expr
    if not (isinstance(node, promql_parser.BinaryExpr) and str(node.op) == "-" and node.modifier is None):
        return None
    quiet = Outcome(out.where, out.label)
    try:
        count = counter_selector(node.lhs, error_q, quiet, "error query")
        bucket = counter_selector(node.rhs, error_q, quiet, "error query")
        total = counter_selector(total_node, total_q, quiet, "total query")
    except Refused:
        return None
    if count != total:
        return None
    if latency_of(bucket, total) is None:
        return None
    out.notes += quiet.notes
    good, total = scoped(bucket, service, out, "good"), scoped(total, service, out, "total")
    return latency_sli(good, total, out, f"count minus {good} over count")
