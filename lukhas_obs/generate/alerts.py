"""The spec's hand-declared alerts (runbook 4.3, corrected) as a Prometheus rule group."""

from __future__ import annotations

from lukhas_obs import promql
from lukhas_obs.model import Alert, Spec
from lukhas_obs.promql import Matcher, Selector


def alert_expr(alert: Alert) -> str:
    kind = alert.kind
    if kind in ("expr", "logql"):
        return alert.param("expr")
    if kind == "target_down":
        # the targets' `up`, one selector for all; then each exporter's "service behind me is up"
        services = alert.param("services")
        up = Selector("up", (Matcher("job", "=~", promql.any_of(services)),) if len(services) > 1
                      else (Matcher("job", "=", services[0]),))
        backends = [sel for sel in alert.param("down") if sel.metric != "up"]
        return " or ".join(f"{sel} == 0" for sel in (up, *backends))
    window = alert.param("window")
    if kind == "error_ratio":
        ratio = promql.ratio(promql.agg("sum", promql.rate(alert.param("errors"), window), ("job",)),
                             promql.agg("sum", promql.rate(alert.param("total"), window), ("job",)))
        return f"{ratio}\n> {promql.number(alert.param('above'))}"
    if kind == "quantile":
        q = promql.histogram_quantile(alert.param("quantile"), alert.param("selector"), window, ("job",))
        return f"{q} > {promql.number(alert.param('above'))}"
    if kind == "rate":
        r = promql.agg("sum", promql.rate(alert.param("selector"), window), ("job",))
        return f"{r} > {promql.number(alert.param('above'))}"
    raise AssertionError(kind)


def alert_labels(spec: Spec, priority: str, service: str | None, **extra: str) -> dict:
    labels = {"severity": spec.severity(priority).level, "priority": priority}
    if service:
        labels["service"] = service
    labels.update(extra)
    return labels


def rule_annotations(spec: Spec, summary: str, description: str, runbook: str | None, dashboard: str | None) -> dict:
    out = {"summary": summary}
    if description:
        out["description"] = description
    if runbook:
        out["runbook_url"] = spec.runbook_url(runbook)
    if dashboard:
        out["dashboard_url"] = spec.dashboard_url(dashboard)
    return out


def rule(spec: Spec, alert: Alert) -> dict:
    if alert.service:
        service = alert.service
    elif alert.service_label:
        service = "{{ $labels." + alert.service_label + " }}"
    elif alert.kind in ("target_down", "error_ratio", "quantile", "rate"):
        service = "{{ $labels.job }}"  # these aggregate by job, and job is the service's name
    else:
        service = None
    out: dict[str, object] = {"alert": alert.name, "expr": alert_expr(alert)}
    if alert.for_:
        out["for"] = alert.for_
    out["labels"] = alert_labels(spec, alert.priority, service)
    out["annotations"] = rule_annotations(spec, alert.summary, alert.description,
                                          alert.runbook or alert.name.lower(), alert.dashboard)
    return out


def alert_rules(spec: Spec) -> dict | None:
    if not spec.alerts:
        return None
    return {"groups": [{"name": f"{spec.project}-alerts", "rules": [rule(spec, a) for a in spec.alerts]}]}
