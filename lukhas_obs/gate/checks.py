"""The gate's checks. Each one sends PromQL built with lukhas_obs.promql (and the SLO engine's
SLI expressions), judges every series it gets back, and returns a CheckResult with evidence."""

from __future__ import annotations

import math
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field

from lukhas_obs import promql
from lukhas_obs.durations import parse_duration
from lukhas_obs.gate import stats
from lukhas_obs.gate.client import PromClient, QueryError, QueryResult
from lukhas_obs.gate.decide import CheckResult, Evidence, Outcome
from lukhas_obs.generate import slo as engine
from lukhas_obs.generate.scrape import BLACKBOX_JOB
from lukhas_obs.model import SLO, Spec
from lukhas_obs.promql import Matcher, Selector


@dataclass
class Context:
    spec: Spec
    client: PromClient
    at: float
    window: str
    services: list[str]
    canary_weight: int | None = None
    _cache: dict = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def g(self):
        return self.spec.gates

    def query(self, expr: str) -> QueryResult:
        """Each distinct query is sent once per gate run, however many checks read it: checks
        ask for every service at once (`by (job)`) and keep their own series."""
        with self._lock:
            fut = self._cache.get(expr)
            owner = fut is None
            if owner:
                fut = self._cache[expr] = Future()
        if owner:
            try:
                fut.set_result(self.client.query(expr, self.at))
            except BaseException as exc:  # noqa: BLE001 - handed to every reader of this query
                fut.set_exception(exc)
        return fut.result()


class _Failed(Exception):
    def __init__(self, result: CheckResult):
        self.result = result


def _q(ctx: Context, name: str, service: str | None, expr: str) -> QueryResult:
    try:
        return ctx.query(expr)
    except QueryError as exc:
        raise _Failed(CheckResult(name, service, Outcome.ERROR, f"query failed: {exc}", query=expr)) from None


def _only(res: QueryResult, **labels: str) -> QueryResult:
    """The part of a shared, all-services answer that belongs to one service."""
    keep = [s for s in res.samples if all(s.labels.get(k) == v for k, v in labels.items())]
    return QueryResult(res.query, res.time, keep, res.attempts, res.warnings)


def _scalar(res: QueryResult) -> float | None:
    """The single value of an aggregated query; None when there is no series."""
    if not res.samples:
        return None
    return res.samples[0].value


def _fmt(x: float | None, pct: bool | str = False) -> str:
    """pct=True: a ratio shown in percent; a string: a unit suffix (e.g. "s")."""
    if x is None:
        return "no data"
    if math.isnan(x):
        return "NaN"
    if pct is True:
        return f"{x * 100:.3g} %"
    return f"{x:.4g}{pct or ''}"


def guarded(fn):
    def wrapper(*args, **kwargs) -> CheckResult:
        try:
            return fn(*args, **kwargs)
        except _Failed as failed:
            return failed.result
    wrapper.__name__ = fn.__name__
    return wrapper


def traffic_services(ctx: Context) -> list[str]:
    req = ctx.g.requests
    metric = ctx.spec.metric(req.metric) if req else None
    declared = set(metric.services) if metric and metric.services else {
        s.name for s in ctx.spec.services if s.kind == "application"}
    return [s for s in ctx.services if s in declared]


def _ratio_slo(ctx: Context, service: str) -> SLO | None:
    return next((s for s in ctx.spec.service(service).slos if s.sli.kind == "ratio"), None)


def _latency_slo(ctx: Context, service: str) -> SLO | None:
    return next((s for s in ctx.spec.service(service).slos if s.sli.kind == "latency"
                 and s.sli.metric.metric == ctx.g.latency), None)


def _counts(ctx: Context, name: str, service: str, bad: Selector, total: Selector, window: str,
            match: dict[str, str]):
    """(bad events, all events, queries) over the window for the series whose labels include
    `match`: counts, not rates, so that the evidence says how many requests a verdict rests on.
    The queries cover every service (and track) at once and are shared between checks."""
    by = tuple(sorted(match))
    bq = promql.agg("sum", promql.increase(bad, window), by)
    tq = promql.agg("sum", promql.increase(total, window), by)
    t = _pick(_q(ctx, name, service, tq), match)
    b = _pick(_q(ctx, name, service, bq), match)
    if b is None and t is not None:
        b = 0.0  # no error series at all: no errors
    return b, t, f"{bq}\n{tq}"


def _pick(res: QueryResult, match: dict[str, str]) -> float | None:
    for s in res.samples:
        if all(s.labels.get(k) == v for k, v in match.items()):
            return s.value
    return None


def _jobs(services: list[str]) -> Matcher:
    return Matcher("job", "=~", promql.any_of(services))


def _latency_selectors(ctx: Context, *matchers: Matcher) -> tuple[Selector, Selector]:
    """(observations within the latency threshold, all observations)."""
    thr = promql.le_matcher(ctx.g.latency_threshold)
    within = Selector(ctx.g.latency + "_bucket").plus(*matchers, thr)
    return within, Selector(ctx.g.latency + "_count").plus(*matchers)


# ---- smoke -----------------------------------------------------------------------------------

@guarded
def targets_up(ctx: Context, service: str) -> CheckResult:
    name = "targets up"
    sel = Selector("up").plus(_jobs(ctx.services))
    res = _only(_q(ctx, name, service, str(sel)), job=service)
    ev = [Evidence(s.labels, s.value) for s in res.samples]
    if not res.samples:
        return CheckResult(name, service, Outcome.FAIL, f"no scrape target for job {service!r}: the service is "
                           "declared but Prometheus has no target for it", query=str(sel), threshold="up == 1")
    if any(s.is_nan for s in res.samples):
        return CheckResult(name, service, Outcome.INCONCLUSIVE, "up is NaN: the answer is not a measurement",
                           query=str(sel), threshold="up == 1", evidence=ev)
    down = [s.labels.get("instance", "?") for s in res.samples if s.value != 1]
    ages = _only(_q(ctx, name, service, f"time() - timestamp({sel})"), job=service)
    oldest = max((s.value for s in ages.samples), default=0.0)
    if down:
        return CheckResult(name, service, Outcome.FAIL, f"{len(down)} of {len(res.samples)} targets down: "
                           f"{', '.join(sorted(down))}", query=str(sel), threshold="up == 1", evidence=ev)
    limit = parse_duration(ctx.g.max_staleness)
    if oldest > limit:
        return CheckResult(name, service, Outcome.INCONCLUSIVE, f"stale: the last scrape is {oldest:.0f}s old "
                           f"(limit {ctx.g.max_staleness})", query=str(sel), threshold=f"age <= {ctx.g.max_staleness}",
                           evidence=ev)
    return CheckResult(name, service, Outcome.PASS, f"{len(res.samples)} target(s) up, last scrape {oldest:.0f}s ago",
                       query=str(sel), threshold="up == 1", evidence=ev)


@guarded
def health_probe(ctx: Context, service: str) -> CheckResult:
    name = "health probe"
    sel = Selector("probe_success").where(job=BLACKBOX_JOB).plus(Matcher("service", "=~", promql.any_of(ctx.services)))
    res = _only(_q(ctx, name, service, str(sel)), service=service)
    ev = [Evidence(s.labels, s.value) for s in res.samples]
    if not res.samples:
        return CheckResult(name, service, Outcome.INCONCLUSIVE, "no probe result: is the blackbox exporter scraped?",
                           query=str(sel), threshold="probe_success == 1")
    if any(s.is_nan for s in res.samples):
        return CheckResult(name, service, Outcome.INCONCLUSIVE, "probe_success is NaN", query=str(sel),
                           threshold="probe_success == 1", evidence=ev)
    failed = [s.labels.get("instance", "?") for s in res.samples if s.value != 1]
    if failed:
        return CheckResult(name, service, Outcome.FAIL, f"GET {', '.join(failed)} failed", query=str(sel),
                           threshold="probe_success == 1", evidence=ev)
    return CheckResult(name, service, Outcome.PASS, "health endpoint answers 2xx", query=str(sel),
                       threshold="probe_success == 1", evidence=ev)


def _judge_ratio(ctx: Context, name: str, service: str, bad, total, query: str, limit: float,
                 what: str, min_requests: int) -> CheckResult:
    threshold = f"{what} <= {_fmt(limit, True)}"
    if total is None:
        return CheckResult(name, service, Outcome.INCONCLUSIVE, "no data: the request counter has no series",
                           query=query, threshold=threshold)
    if math.isnan(total) or bad is None or math.isnan(bad):
        return CheckResult(name, service, Outcome.INCONCLUSIVE, "the query returned NaN", query=query, threshold=threshold)
    ev = [Evidence({"kind": "bad"}, bad), Evidence({"kind": "total"}, total)]
    if total < min_requests:
        return CheckResult(name, service, Outcome.INCONCLUSIVE, f"too little traffic: {total:.0f} requests in "
                           f"{ctx.window} (need {min_requests})", query=query, threshold=threshold, evidence=ev)
    ratio = bad / total
    low, _ = stats.wilson(bad, total, stats.z_for(ctx.g.confidence))
    detail = f"{what} {_fmt(ratio, True)} of {total:.0f} requests"
    if ratio <= limit:
        return CheckResult(name, service, Outcome.PASS, detail, query=query, threshold=threshold, evidence=ev)
    if low > limit:
        return CheckResult(name, service, Outcome.FAIL, f"{detail}, above the target even at its lower confidence "
                           f"bound {_fmt(low, True)}", query=query, threshold=threshold, evidence=ev)
    return CheckResult(name, service, Outcome.INCONCLUSIVE, f"{detail}: above the target, but too few requests to be "
                       f"sure (lower bound {_fmt(low, True)})", query=query, threshold=threshold, evidence=ev)


@guarded
def error_ratio(ctx: Context, service: str) -> CheckResult:
    name = "error ratio"
    slo = _ratio_slo(ctx, service)
    limit = slo.error_budget if slo else 0.01
    jobs = _jobs(traffic_services(ctx))
    bad, total, query = _counts(ctx, name, service, ctx.g.errors.plus(jobs), ctx.g.requests.plus(jobs),
                                ctx.window, {"job": service})
    return _judge_ratio(ctx, name, service, bad, total, query, limit, "errors", ctx.g.min_requests)


@guarded
def latency(ctx: Context, service: str) -> CheckResult:
    name = "latency"
    slo = _latency_slo(ctx, service)
    limit = slo.error_budget if slo else 0.01
    fast, count = _latency_selectors(ctx, _jobs(traffic_services(ctx)))
    good, total, query = _counts(ctx, name, service, fast, count, ctx.window, {"job": service})
    slow = None if good is None or total is None else total - good
    what = f"slower than {ctx.g.latency_threshold:g}s"
    return _judge_ratio(ctx, name, service, slow, total, query, limit, what, ctx.g.min_requests)


@guarded
def monitoring_healthy(ctx: Context) -> CheckResult:
    name = "rule evaluation"
    expr = promql.agg("sum", promql.increase(Selector("prometheus_rule_evaluation_failures_total"), ctx.window))
    value = _scalar(_q(ctx, name, None, expr))
    if value is None or math.isnan(value):
        return CheckResult(name, None, Outcome.INCONCLUSIVE, "Prometheus does not scrape itself: rule health unknown",
                           query=expr, threshold="0 failures")
    if value > 0:
        return CheckResult(name, None, Outcome.FAIL, f"{value:.0f} rule evaluations failed in {ctx.window}",
                           query=expr, threshold="0 failures", evidence=[Evidence({}, value)])
    return CheckResult(name, None, Outcome.PASS, "no rule evaluation failed", query=expr, threshold="0 failures",
                       evidence=[Evidence({}, value)])


# ---- canary ----------------------------------------------------------------------------------

def _compare(ctx: Context, name: str, service: str, kind: str, canary, baseline, query, absolute_limit):
    g = ctx.g
    threshold = (f"canary not worse than baseline at {g.confidence:.0%} confidence and by more than "
                 f"x{g.min_relative_increase:g} and +{g.min_absolute_increase * 100:g} pp; absolute <= "
                 f"{_fmt(absolute_limit, True)}")
    (kc, nc), (kb, nb) = canary, baseline
    ev = [Evidence({g.canary_label: g.canary_value, "kind": "bad"}, kc),
          Evidence({g.canary_label: g.canary_value, "kind": "total"}, nc),
          Evidence({g.canary_label: g.baseline_value, "kind": "bad"}, kb),
          Evidence({g.canary_label: g.baseline_value, "kind": "total"}, nb)]
    for label, n in ((g.canary_value, nc), (g.baseline_value, nb)):
        if n is None or math.isnan(n):
            return CheckResult(name, service, Outcome.INCONCLUSIVE, f"no data for {g.canary_label}={label!r}",
                               query=query, threshold=threshold, evidence=ev)
        if n < g.canary_min_requests:
            return CheckResult(name, service, Outcome.INCONCLUSIVE, f"too little traffic: {n:.0f} {label} requests "
                               f"in {ctx.window} (need {g.canary_min_requests})", query=query, threshold=threshold,
                               evidence=ev)
    kc, kb = kc or 0.0, kb or 0.0
    rc, rb = kc / nc, kb / nb
    p = stats.worse_p_value(kc, nc, kb, nb)
    low, _ = stats.wilson(kc, nc, stats.z_for(g.confidence))
    detail = f"{kind}: canary {_fmt(rc, True)} of {nc:.0f}, baseline {_fmt(rb, True)} of {nb:.0f}, p={p:.2g}"
    significant = p < 1 - g.confidence
    material = rc >= rb * g.min_relative_increase and rc - rb >= g.min_absolute_increase
    if significant and material:
        return CheckResult(name, service, Outcome.FAIL, f"{detail}: canary is worse", query=query,
                           threshold=threshold, evidence=ev)
    if low > absolute_limit:
        return CheckResult(name, service, Outcome.FAIL, f"{detail}: canary misses the SLO target "
                           f"({_fmt(absolute_limit, True)}) even at its lower bound {_fmt(low, True)}",
                           query=query, threshold=threshold, evidence=ev)
    note = "" if not significant else " (significant but below the effect-size floor)"
    return CheckResult(name, service, Outcome.PASS, f"{detail}: no material regression{note}", query=query,
                       threshold=threshold, evidence=ev)


def _canary_sides(ctx: Context, name: str, service: str, bad: Selector, total: Selector, bad_is_good: bool):
    g = ctx.g
    sides, queries = [], []
    for value in (g.canary_value, g.baseline_value):
        b, t, q = _counts(ctx, name, service, bad, total, ctx.window, {"job": service, g.canary_label: value})
        if bad_is_good and b is not None and t is not None:
            b = t - b
        sides.append((b, t))
        queries.append(q)
    return sides, "\n".join(dict.fromkeys("\n".join(queries).split("\n")))


@guarded
def canary_errors(ctx: Context, service: str) -> CheckResult:
    name = "canary error ratio"
    g = ctx.g
    jobs = _jobs(traffic_services(ctx))
    sides, query = _canary_sides(ctx, name, service, g.errors.plus(jobs), g.requests.plus(jobs), False)
    slo = _ratio_slo(ctx, service)
    return _compare(ctx, name, service, "errors", sides[0], sides[1], query, slo.error_budget if slo else 0.01)


@guarded
def canary_latency(ctx: Context, service: str) -> CheckResult:
    name = "canary latency"
    g = ctx.g
    fast, count = _latency_selectors(ctx, _jobs(traffic_services(ctx)))
    sides, query = _canary_sides(ctx, name, service, fast, count, True)
    slo = _latency_slo(ctx, service)
    return _compare(ctx, name, service, f"slower than {g.latency_threshold:g}s", sides[0], sides[1], query,
                    slo.error_budget if slo else 0.01)


def next_weight(ctx: Context) -> int | None:
    steps = ctx.g.steps
    if ctx.canary_weight is None:
        return steps[0]
    return next((s for s in steps if s > ctx.canary_weight), None)


# ---- rollback --------------------------------------------------------------------------------

def _sustained(ctx: Context, name: str, expr: str, duration: str, above: float, unit_pct: bool | str) -> CheckResult:
    span = parse_duration(duration)
    step = 60.0
    points = int(span // step)
    start = ctx.at - (points - 1) * step
    threshold = f"> {_fmt(above, unit_pct)} at each of {points} consecutive minutes"
    try:
        res = ctx.client.query_range(expr, start, ctx.at, step)
    except QueryError as exc:
        return CheckResult(name, None, Outcome.ERROR, f"query failed: {exc}", query=expr, threshold=threshold)
    if not res.samples:
        return CheckResult(name, None, Outcome.INCONCLUSIVE, "no data in the window", query=expr, threshold=threshold)
    ev, failing, thin = [], [], []
    for s in res.samples:
        vals = [v for _, v in s.values if not math.isnan(v)]
        ev.append(Evidence(s.labels, s.value, " ".join(_fmt(v, unit_pct) for _, v in s.values)))
        if len(vals) < points:
            thin.append(s.labels.get("job", str(s.labels)))
        elif all(v > above for v in vals):
            failing.append(s.labels.get("job", str(s.labels)))
    if failing:
        return CheckResult(name, None, Outcome.FAIL, f"{', '.join(sorted(failing))}: above {_fmt(above, unit_pct)} for "
                           f"{duration}", query=expr, threshold=threshold, evidence=ev, attempts=res.attempts)
    if len(thin) == len(res.samples):
        return CheckResult(name, None, Outcome.INCONCLUSIVE, f"fewer than {points} points for every series",
                           query=expr, threshold=threshold, evidence=ev)
    return CheckResult(name, None, Outcome.PASS, f"no service above {_fmt(above, unit_pct)} for {duration}",
                       query=expr, threshold=threshold, evidence=ev, attempts=res.attempts)


@guarded
def sustained_errors(ctx: Context) -> CheckResult:
    g = ctx.g
    errors = g.errors.plus(_jobs(traffic_services(ctx)))
    total = g.requests.plus(_jobs(traffic_services(ctx)))
    expr = promql.ratio(promql.agg("sum", promql.rate(errors, "1m"), ("job",)),
                        promql.agg("sum", promql.rate(total, "1m"), ("job",)))
    return _sustained(ctx, "error ratio sustained", expr, g.rollback_error_for, g.rollback_error_ratio, True)


@guarded
def sustained_latency(ctx: Context) -> CheckResult:
    g = ctx.g
    sel = Selector(g.latency + "_bucket").plus(_jobs(traffic_services(ctx)))
    expr = promql.histogram_quantile(0.99, sel, "1m", ("job",))
    return _sustained(ctx, "p99 latency sustained", expr, g.p99_for, g.p99_seconds, "s")


@guarded
def services_down(ctx: Context) -> CheckResult:
    name = "services down"
    apps = traffic_services(ctx)
    sel = Selector("up").plus(_jobs(traffic_services(ctx)))
    res = _q(ctx, name, None, str(sel))
    up_by_job: dict[str, list[float]] = {}
    for s in res.samples:
        up_by_job.setdefault(s.labels.get("job", ""), []).append(s.value)
    down = [a for a in apps if not any(v == 1 for v in up_by_job.get(a, []))]
    share = len(down) / len(apps) if apps else 0.0
    threshold = f"< {ctx.g.services_down_ratio:.0%} of {len(apps)} services down"
    ev = [Evidence(s.labels, s.value) for s in res.samples]
    if apps and share >= ctx.g.services_down_ratio:
        return CheckResult(name, None, Outcome.FAIL, f"{len(down)} of {len(apps)} services down: {', '.join(down)}",
                           query=str(sel), threshold=threshold, evidence=ev)
    return CheckResult(name, None, Outcome.PASS, f"{len(down)} of {len(apps)} services down"
                       + (f" ({', '.join(down)})" if down else ""), query=str(sel), threshold=threshold, evidence=ev)


@guarded
def pool_exhausted(ctx: Context) -> CheckResult:
    name = "db pool"
    g = ctx.g
    if not (g.pool_in_use and g.pool_max):
        return CheckResult(name, None, Outcome.INCONCLUSIVE, "no pool metrics in gates.traffic")
    expr = f"max by (job) ({Selector(g.pool_in_use)} / {Selector(g.pool_max)})"
    res = _q(ctx, name, None, expr)
    threshold = f"< {g.pool_saturation:.0%} of the pool in use"
    if not res.samples:
        return CheckResult(name, None, Outcome.INCONCLUSIVE, "no pool metrics reported", query=expr, threshold=threshold)
    ev = [Evidence(s.labels, s.value) for s in res.samples]
    full = [s.labels.get("job", "?") for s in res.samples if not s.is_nan and s.value >= g.pool_saturation]
    if full:
        return CheckResult(name, None, Outcome.FAIL, f"connection pool exhausted: {', '.join(sorted(full))}",
                           query=expr, threshold=threshold, evidence=ev)
    return CheckResult(name, None, Outcome.PASS, f"peak pool use {_fmt(max(s.value for s in res.samples), True)}",
                       query=expr, threshold=threshold, evidence=ev)


@guarded
def fast_burn(ctx: Context, slo: SLO) -> CheckResult:
    """The SLO's fastest page condition, from raw series (the gate must not depend on the
    generated recording rules being loaded). Request-based SLIs only."""
    name = f"fast burn {slo.name}"
    first = engine.burn_windows(slo, "page")[0]
    limit = first.threshold(slo)
    threshold = f"error ratio <= {_fmt(limit, True)} ({first.factor:g}x budget) on {first.short} or {first.long}"
    ev, ratios, queries = [], {}, []
    for w in (first.short, first.long):
        expr = promql.ratio(*engine.event_rates(slo, w))
        queries.append(expr)
        ratios[w] = _scalar(_q(ctx, name, slo.service, expr))
        ev.append(Evidence({"window": w}, ratios[w]))
    query = "\n".join(queries)
    if any(v is None or math.isnan(v) for v in ratios.values()):
        return CheckResult(name, slo.service, Outcome.INCONCLUSIVE, "no data for the SLI", query=query,
                           threshold=threshold, evidence=ev)
    if all(v > limit for v in ratios.values()):
        return CheckResult(name, slo.service, Outcome.FAIL, f"burning the error budget at "
                           f"{ratios[first.long] / slo.error_budget:.1f}x over {first.long}", query=query,
                           threshold=threshold, evidence=ev)
    return CheckResult(name, slo.service, Outcome.PASS, f"burn rate {ratios[first.long] / slo.error_budget:.2g}x "
                       f"over {first.long}", query=query, threshold=threshold, evidence=ev)


# ---- budget ----------------------------------------------------------------------------------

@guarded
def budget_left(ctx: Context, slo: SLO) -> CheckResult:
    name = f"error budget {slo.name}"
    sel = engine.record_sel(engine.BUDGET_REMAINING, slo)
    res = _q(ctx, name, slo.service, str(sel))
    limit = ctx.g.budget_min_remaining
    threshold = f">= {limit:.0%} of the {slo.period} budget left"
    value = _scalar(res)
    if value is None or math.isnan(value):
        return CheckResult(name, slo.service, Outcome.INCONCLUSIVE, f"no {engine.BUDGET_REMAINING} series: are the "
                           "generated SLO rules loaded?", query=str(sel), threshold=threshold)
    ev = [Evidence(s.labels, s.value) for s in res.samples]
    if value < limit:
        return CheckResult(name, slo.service, Outcome.FAIL, f"{_fmt(max(value, 0), True)} of the budget left "
                           f"(overspent)" if value < 0 else f"{_fmt(value, True)} of the budget left",
                           query=str(sel), threshold=threshold, evidence=ev)
    return CheckResult(name, slo.service, Outcome.PASS, f"{_fmt(value, True)} of the budget left", query=str(sel),
                       threshold=threshold, evidence=ev)


def plan(ctx: Context, mode: str) -> list:
    """The checks of a mode, as zero-argument callables (run concurrently by the gate)."""
    apps = traffic_services(ctx)
    slos = [s for s in ctx.spec.slos if s.service in ctx.services]
    jobs: list = []
    if mode == "smoke":
        for svc in ctx.services:
            if ctx.spec.service(svc).scrape:
                jobs.append(lambda s=svc: targets_up(ctx, s))
            if ctx.spec.service(svc).health_url:
                jobs.append(lambda s=svc: health_probe(ctx, s))
        for svc in apps:
            jobs.append(lambda s=svc: error_ratio(ctx, s))
            if ctx.g.latency and ctx.g.latency_threshold:
                jobs.append(lambda s=svc: latency(ctx, s))
        jobs.append(lambda: monitoring_healthy(ctx))
    elif mode == "canary":
        for svc in apps:
            jobs.append(lambda s=svc: canary_errors(ctx, s))
            if ctx.g.latency and ctx.g.latency_threshold:
                jobs.append(lambda s=svc: canary_latency(ctx, s))
    elif mode == "rollback":
        jobs += [lambda: sustained_errors(ctx), lambda: services_down(ctx), lambda: pool_exhausted(ctx)]
        if ctx.g.latency:
            jobs.append(lambda: sustained_latency(ctx))
        jobs += [lambda s=slo: fast_burn(ctx, s) for slo in slos if slo.sli.kind == "ratio"]
    elif mode == "budget":
        jobs += [lambda s=slo: budget_left(ctx, s) for slo in slos]
    else:
        raise ValueError(mode)
    return jobs
