"""The spec's hand-declared alerts (runbook 4.3, corrected) as a Prometheus rule group."""

from __future__ import annotations

from lukhas_obs import promql
from lukhas_obs.model import (
    Alert,
    AlertCondition,
    ErrorRatio,
    ExprCondition,
    QuantileAbove,
    RateAbove,
    Spec,
    TargetDown,
)
from lukhas_obs.promql import Matcher, Selector


def alert_expr(spec: Spec, condition: AlertCondition) -> str:
    match condition:
        case ExprCondition(expr=expr):
            return expr
        case TargetDown(services=services):
            # the targets' `up`, one selector for all; then each exporter's "service behind me is up"
            up = Selector("up", (Matcher("job", "=~", promql.any_of(services)),) if len(services) > 1
                          else (Matcher("job", "=", services[0]),))
            backends = [sel for name in services for sel in spec.service(name).down_selectors() if sel.metric != "up"]
            return " or ".join(f"{sel} == 0" for sel in (up, *backends))
        case ErrorRatio(errors=errors, total=total, above=above, window=window):
            ratio = promql.ratio(promql.agg("sum", promql.rate(errors, window), ("job",)),
                                 promql.agg("sum", promql.rate(total, window), ("job",)))
            return f"{ratio}\n> {promql.number(above)}"
        case QuantileAbove(buckets=buckets, quantile=quantile, above=above, window=window):
            q = promql.histogram_quantile(quantile, buckets, window, ("job",))
            return f"{q} > {promql.number(above)}"
        case RateAbove(counter=counter, above=above, window=window):
            r = promql.agg("sum", promql.rate(counter, window), ("job",))
            return f"{r} > {promql.number(above)}"


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
    # no annotation rather than a bare path: without links.runbook_base_url or links.grafana_url
    # the value would be a dead link wherever the alert is shown
    runbook_url = spec.runbook_url(runbook) if runbook else None
    if runbook_url:
        out["runbook_url"] = runbook_url
    dashboard_url = spec.dashboard_url(dashboard) if dashboard else None
    if dashboard_url:
        out["dashboard_url"] = dashboard_url
    return out


def rule(spec: Spec, alert: Alert) -> dict:
    if alert.service:
        service = alert.service
    elif alert.service_label:
        service = "{{ $labels." + alert.service_label + " }}"
    elif not isinstance(alert.condition, ExprCondition):
        service = "{{ $labels.job }}"  # these aggregate by job, and job is the service's name
    else:
        service = None
    out: dict[str, object] = {"alert": alert.name, "expr": alert_expr(spec, alert.condition)}
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
