"""SLO engine: per SLO, SLI recording rules, error budget and burn-rate records, and
multi-window multi-burn-rate alerts.

Record names and what each holds: lukhas_obs/conventions.py (the gate reads the same series).

Exact budgets: windows longer than 6h and the SLO period are computed as
sum_over_time(errors) / sum_over_time(total) over the recorded 5m series: a ratio of counts,
weighted by traffic, never an average of short-window ratios (which under-counts a burst that
happens when traffic is high). Windows up to 6h are computed from raw series so that paging is
as fast as the burn-rate maths allows.

Groups: `<id>` at the spec's slo_evaluation_interval (30s) holds the SLI records, the short
windows and the alerts, so an alert sees the records of the same evaluation; `<id>-long` at
slo_long_evaluation_interval (5m) holds 1d, 3d and the period, which move by a fraction of a
percent per 5 minutes and would otherwise re-read up to 30 days of samples every 30s."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from lukhas_obs import calendar, promql
from lukhas_obs.conventions import (
    ALERT_ABSENT,
    BUDGET_REMAINING,
    BURN_RATE,
    ERRORS_COUNT,
    ERRORS_RATE,
    OBJECTIVE,
    PERIOD_PHASE,
    PERIOD_RATIO,
    SLICE_BAD,
    TOTAL_COUNT,
    TOTAL_RATE,
    BurnWindow,
    absent_expr,
    all_windows,
    budget_ratio_record,
    burn_windows,
    event_rates,
    is_raw,
    min_samples,
    period_ratio,
    period_tagged,
    ratio_name,
    record_sel,
    sample_counts,
    slice_bad,
    slo_labels,
    total_selector,
    window_ratio,
)
from lukhas_obs.durations import parse_duration
from lukhas_obs.generate.alerts import alert_labels, rule_annotations
from lukhas_obs.model import (
    EVENT_SLIS,
    SLO,
    AvailabilitySLI,
    ExpressionRatioSLI,
    LatencySLI,
    RatioSLI,
    RawSLI,
    SLORows,
    Spec,
    ThresholdSLI,
)
from lukhas_obs.spec.dashboards import slo_owners

# ---- rules ---------------------------------------------------------------------------------

def _record(name: str, expr: str, slo: SLO) -> dict:
    return {"record": name, "expr": expr, "labels": {**slo_labels(slo), **dict(slo.labels)}}


def burn_condition(spec: Spec, slo: SLO, windows: list[BurnWindow]) -> str:
    clauses = []
    for w in windows:
        t = promql.number(w.threshold(slo))
        clause = (f"{record_sel(ratio_name(w.short), slo)} > {t}\nand\n"
                  f"{record_sel(ratio_name(w.long), slo)} > {t}")
        if slo.min_events and isinstance(slo.sli, EVENT_SLIS):
            events = promql.agg("sum", promql.increase(total_selector(slo), w.long))
            clause += f"\nand on ()\n{events} >= {slo.min_events}"
        samples = min_samples(spec.prometheus, slo, w)
        if samples is not None:   # the same labels as the ratios: a plain `and`
            # over the long window itself: a window counted in evaluations would be a timer, and the
            # fast timers of the demo and the stack test would then change a PromQL range too
            clause += f"\nand\nsum_over_time({record_sel(TOTAL_COUNT, slo)}[{w.long}]) >= {samples}"
        clauses.append(f"(\n{clause}\n)")
    return "\nor\n".join(clauses)


def _human_period(seconds: float) -> str:
    hours = seconds / 3600
    if hours >= 48:
        return f"{hours / 24:.0f} days"
    if hours >= 2:
        return f"{hours:.0f} hours"
    return f"{seconds / 60:.0f} minutes"


def budget_unit(slo: SLO) -> str:
    """What the error budget is a share of, in words."""
    if slo.timeslices is not None:
        return f"{slo.timeslices.window} time slices"
    match slo.sli:
        case ExpressionRatioSLI():
            return "events"
        case RawSLI():
            return "the SLI's error ratio"
        case RatioSLI() | LatencySLI():
            return "requests"
    return "time"


def alert_annotations(spec: Spec, slo: SLO, kind: str) -> dict:
    windows = burn_windows(slo, kind)
    pairs = " or ".join(f"{w.factor:g}x over {w.short} and {w.long}" for w in windows)
    fastest = max(windows, key=lambda w: w.factor)
    exhaust = _human_period(slo.period_seconds / fastest.factor)
    spent = min(w.budget_consumed for w in windows)
    what = f"{slo.service} {slo.name} SLO ({promql.number(slo.objective)} % over {slo.period_text})"
    if kind == "page":
        summary = f"{what}: error budget burning fast"
        description = (f"Errors are spending the {slo.period_text} error budget "
                       f"({promql.number(slo.error_budget * 100)} % of {budget_unit(slo)}) at {pairs} the "
                       "sustainable rate. "
                       f"At {fastest.factor:g}x the whole budget is gone in about {exhaust}; "
                       f"at least {spent * 100:g} % of it is gone already. Act now.")
    else:
        summary = f"{what}: error budget burning slowly"
        description = (f"Errors are spending the {slo.period_text} error budget at {pairs} the sustainable rate: "
                       f"at least {spent * 100:g} % of the budget is gone and at this pace the rest follows within "
                       f"about {exhaust}. Plan a fix this week.")
    return rule_annotations(spec, summary, description, f"slo-{slo.service}-{slo.name}",
                            slo_dashboard(spec, slo))


def slo_dashboard(spec: Spec, slo: SLO) -> str | None:
    """The dashboard an SLO's alerts link to: the first of the spec's dashboards with an SLO row
    for its service (the derived `<project>-slos` when the spec declares none), with the service
    chosen; None when no dashboard shows it (no link rather than one to nothing)."""
    for d in spec.dashboards:
        if any(isinstance(row, SLORows) and any(s.name == slo.service for s in slo_owners(spec.services, row.services))
               for row in d.rows):
            return f"{d.uid}?var-service={slo.service}"
    return None


def absent_annotations(spec: Spec, slo: SLO) -> dict:
    what = ("The SLI expression returns no series" if isinstance(slo.sli, ExpressionRatioSLI | RawSLI)
            else f"No series match {total_selector(slo)}")
    return rule_annotations(spec, f"{slo.service} {slo.name} SLO cannot be measured",
                            f"{what}: the SLI has no data, so its burn-rate alerts cannot fire. "
                            "Check the scrape target and the metric name.",
                            f"slo-{slo.service}-{slo.name}", slo_dashboard(spec, slo))




def _recent(fn: Callable[[Spec, SLO], list[dict]]) -> Callable[[Spec, SLO], list[dict]]:
    """`fn` remembered for the last few (spec, SLO) pairs: an SLO's rule file and its promtool
    test file (which expects exactly these alerts) are built one after the other. Matched by
    identity while holding both objects, so a reused id() can never hit; a new list each time,
    its rule dicts shared (they are read, never changed)."""
    recent: list[tuple[Spec, SLO, list[dict]]] = []

    @wraps(fn)
    def remembered(spec: Spec, slo: SLO) -> list[dict]:
        for seen_spec, seen_slo, rules in recent:
            if seen_spec is spec and seen_slo is slo:
                return list(rules)
        rules = fn(spec, slo)
        recent[:] = [(spec, slo, rules), *recent[:3]]
        return list(rules)
    return remembered


@_recent
def slo_alerts(spec: Spec, slo: SLO) -> list[dict]:
    """The page and ticket burn-rate alerts (unless the spec disables one) and the absent alert;
    the spec's labels and annotations added, the SLO's own first, then the alert's."""
    out = []
    for kind, alert, prio in (("page", slo.page_alert, slo.page), ("ticket", slo.ticket_alert, slo.ticket)):
        if alert.enabled:
            out.append({"alert": alert.name, "expr": burn_condition(spec, slo, burn_windows(slo, kind)),
                        "labels": {**alert_labels(spec, prio, slo.service, slo=slo.name), **dict(slo.labels),
                                   **dict(alert.labels)},
                        "annotations": {**alert_annotations(spec, slo, kind), **dict(slo.annotations),
                                        **dict(alert.annotations)}})
    out.append({"alert": ALERT_ABSENT, "expr": f"absent({absent_expr(slo)})",
                "for": spec.prometheus.slo_absent_for,
                "labels": {**alert_labels(spec, slo.ticket, slo.service, slo=slo.name), **dict(slo.labels)},
                "annotations": {**absent_annotations(spec, slo), **dict(slo.annotations)}})
    return out


def group_name(slo: SLO) -> str:
    return f"slo-{slo.id}"


def slo_rule_file(spec: Spec, slo: SLO) -> dict:
    fast: list[dict] = []
    slow: list[dict] = []
    match slo.sli:
        case RatioSLI() | ExpressionRatioSLI() | LatencySLI():
            errors, total = event_rates(slo, "5m")
            fast += [_record(ERRORS_RATE, errors, slo), _record(TOTAL_RATE, total, slo)]
        case AvailabilitySLI() | ThresholdSLI():
            bad, every = sample_counts(slo)
            fast += [_record(ERRORS_COUNT, bad, slo), _record(TOTAL_COUNT, every, slo)]
        case RawSLI():
            pass  # the ratio itself, per window: no counts to record
    if slo.calendar:
        fast.append(_record(PERIOD_PHASE, calendar.phase(slo.calendar), slo))
    for w in all_windows(slo):
        (fast if is_raw(w) else slow).append(_record(ratio_name(w), window_ratio(slo, w), slo))
    if slo.calendar:   # after the 5m records: the same evaluation's values
        fast += [_record(name, expr, slo) for name, expr in period_tagged(slo)]
    fast.append(_record(BURN_RATE, f"{record_sel(ratio_name('1h'), slo)}\n/ {promql.number(slo.error_budget)}", slo))
    fast += slo_alerts(spec, slo)
    slow.append(_record(OBJECTIVE, f"vector({promql.number(slo.target)})", slo))
    if slo.calendar:
        slow.append(_record(PERIOD_RATIO, period_ratio(slo), slo))
    slow.append(_record(BUDGET_REMAINING, f"1 - {record_sel(budget_ratio_record(slo), slo)} / "
                                          f"{promql.number(slo.error_budget)}", slo))
    p = spec.prometheus
    groups = [
        {"name": group_name(slo), "interval": p.slo_evaluation_interval, "rules": fast},
        {"name": group_name(slo) + "-long", "interval": p.slo_long_evaluation_interval, "rules": slow},
    ]
    if slo.timeslices is not None:   # one sample per slice: the group runs once a slice
        groups.insert(1, {"name": group_name(slo) + "-slices", "interval": slo.timeslices.window,
                          "rules": [_record(SLICE_BAD, slice_bad(slo), slo)]})
    return {"groups": groups}


def detection_seconds(slo: SLO, error_ratio: float, kind: str = "page") -> float | None:
    """When a constant `error_ratio` starting from a clean slate first meets an alert's
    condition, by the burn-rate maths (None: never). Both windows must exceed the threshold;
    the long window is the slower one."""
    best = None
    for w in burn_windows(slo, kind):
        t = w.threshold(slo)
        if error_ratio <= t:
            continue
        seconds = parse_duration(w.long) * t / error_ratio
        best = seconds if best is None else min(best, seconds)
    return best
