"""The gate's checks. Each one sends PromQL built with lukhas_obs.promql (and the SLO engine's
SLI expressions), judges every series it gets back, and returns a CheckResult with evidence.

What a check could not measure is never a failure: no series, a stale scrape, a missing
histogram bucket or too little traffic is INCONCLUSIVE with the reason; a query that failed is
ERROR. FAIL needs a measurement, and a FAIL that rests on a statistical test carries its
p-value so that the gate can correct for the number of tests it made (decide.correct_family)."""

from __future__ import annotations

import math
import threading
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field

from lukhas_obs import calendar, promql
from lukhas_obs import conventions as conv
from lukhas_obs import model as m
from lukhas_obs.conventions import BLACKBOX_JOB
from lukhas_obs.durations import format_duration, iso, parse_duration
from lukhas_obs.gate import coverage, stats
from lukhas_obs.gate.client import PromClient, QueryError, QueryResult, Sample
from lukhas_obs.gate.decide import CheckResult, Evidence, Outcome
from lukhas_obs.model import SLO, Spec
from lukhas_obs.promql import Matcher, Selector

LOOKBACK = "1h"          # how far back a series is looked for: "stale since" vs "never", running vs newborn
STEP = 60.0              # the canary's life is read in batches of this many seconds


@dataclass
class Context:
    spec: Spec
    client: PromClient
    at: float
    window: str
    services: list[str]
    canary_weight: int | None = None
    since: float | None = None
    pool: Executor | None = None
    _cache: dict = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def g(self):
        return self.spec.gates

    @property
    def alpha(self) -> float:
        return 1.0 - self.g.confidence

    def submit(self, expr: str, start: float | None = None, step: float | None = None) -> Future:
        """Send a query (instant at `at`, or a range from `start` to `at`) unless it is already
        on its way: each distinct query goes out once per gate run, however many checks read
        it, and all of them go out at once (checks submit everything they need before they
        wait)."""
        key = (expr, start, step)
        with self._lock:
            fut = self._cache.get(key)
            if fut is not None:
                return fut
            if self.pool is None:
                fut = Future()
                self._cache[key] = fut
                try:
                    fut.set_result(self._send(expr, start, step))
                except BaseException as exc:  # noqa: BLE001 - handed to every reader of this query
                    fut.set_exception(exc)
                return fut
            fut = self._cache[key] = self.pool.submit(self._send, expr, start, step)
            return fut

    def _send(self, expr: str, start: float | None, step: float | None) -> QueryResult:
        if start is None:
            return self.client.query(expr, self.at)
        return self.client.query_range(expr, start, self.at, step or STEP)


class _Failed(Exception):
    def __init__(self, result: CheckResult):
        self.result = result


def _q(ctx: Context, name: str, service: str | None, expr: str, start: float | None = None,
       step: float | None = None) -> QueryResult:
    try:
        return ctx.submit(expr, start, step).result()
    except QueryError as exc:
        raise _Failed(CheckResult(name, service, Outcome.ERROR, f"query failed: {exc}", query=expr)) from None


def _prefetch(ctx: Context, *exprs: str) -> None:
    for expr in exprs:
        ctx.submit(expr)


def _fmt(x: float | None, pct: bool | str = False) -> str:
    """pct=True: a ratio shown in percent; a string: a unit suffix (e.g. "s")."""
    if x is None:
        return "no data"
    if math.isnan(x):
        return "NaN"
    if pct is True:   # 99.9 %, 0.05 %; a thousand percent and more in full (-99,900 %, not -9.99e+04 %)
        return f"{x * 100:,.0f} %" if abs(x) >= 10 else f"{x * 100:.3g} %"
    return f"{x:.4g}{pct or ''}"


def guarded(fn):
    """A check never raises: a query failure is ERROR, and so is a bug (never FAIL)."""
    def wrapper(ctx: Context, *args) -> CheckResult:
        try:
            return fn(ctx, *args)
        except _Failed as failed:
            return failed.result
        except Exception as exc:  # noqa: BLE001 - a crash must not become a verdict
            service = next((a if isinstance(a, str) else getattr(a, "service", None) for a in args), None)
            return CheckResult(fn.__name__.replace("_", " "), service, Outcome.ERROR,
                               f"internal error, not a measurement: {type(exc).__name__}: {exc}")
    wrapper.__name__ = fn.__name__
    return wrapper


def traffic_services(ctx: Context) -> list[str]:
    return conv.traffic_services(ctx.spec, ctx.services)


def _ratio_slo(ctx: Context, service: str) -> SLO | None:
    # an expression ratio may count anything (clients, jobs): not the requests smoke judges
    return next((s for s in ctx.spec.service(service).slos if isinstance(s.sli, m.RatioSLI)), None)


def _latency_slo(ctx: Context, service: str) -> SLO | None:
    return next((s for s in ctx.spec.service(service).slos
                 if isinstance(s.sli, m.LatencySLI) and s.sli.metric.metric == ctx.g.latency), None)


def _jobs(services: list[str]) -> Matcher:
    return Matcher("job", "=~", promql.any_of(services))


def _pick(samples: list[Sample], match: dict[str, str]) -> float | None:
    for s in samples:
        if all(s.labels.get(k) == v for k, v in match.items()):
            return s.value
    return None


@dataclass(frozen=True)
class Signal:
    """A request signal as counts: `bad` of `total`. For latency, `bad` is the bucket of fast
    requests and `bad_is_good` says so."""
    what: str
    bad: Selector
    total: Selector
    bad_is_good: bool = False


def _signals(ctx: Context) -> list[Signal]:
    g = ctx.g
    if g.requests is None or g.errors is None:
        raise _Failed(CheckResult("traffic", None, Outcome.INCONCLUSIVE, "gates.traffic.requests and .errors are not "
                                  "set in the spec: the gate cannot count requests"))
    jobs = _jobs(traffic_services(ctx))
    out = [Signal("errors", g.errors.plus(jobs), g.requests.plus(jobs))]
    if g.latency and g.latency_threshold:
        within = Selector(g.latency + "_bucket").plus(jobs, promql.le_matcher(g.latency_threshold))
        out.append(Signal(f"slower than {g.latency_threshold:g}s", within,
                          Selector(g.latency + "_count").plus(jobs), True))
    return out


def _counts(ctx: Context, name: str, service: str, sig: Signal, match: dict[str, str]):
    """(bad events, all events, query) over the window for the series whose labels include
    `match`: counts, not rates, so that the evidence says how many requests a verdict rests on.
    `bad` is None when it cannot be known (a latency histogram without the threshold's bucket)."""
    by = tuple(sorted(match))
    bq, tq = promql.events(sig.bad, ctx.window, by, LOOKBACK), promql.events(sig.total, ctx.window, by, LOOKBACK)
    _prefetch(ctx, bq, tq)
    t = _pick(_q(ctx, name, service, tq).samples, match)
    b = _pick(_q(ctx, name, service, bq).samples, match)
    if sig.bad_is_good:
        b = None if b is None or t is None else max(t - b, 0.0)
    elif b is None and t is not None:
        b = 0.0  # no error series at all: no errors
    return b, t, f"{bq}\n{tq}"


def _no_bucket(ctx: Context) -> str:
    return (f"no {ctx.g.latency}_bucket series with le={promql.number(ctx.g.latency_threshold)}: the histogram "
            "does not have the threshold as a bucket boundary, so how many requests were slow is unknown")


# ---- targets: up, stale or never seen --------------------------------------------------------

@dataclass(frozen=True)
class Target:
    labels: dict[str, str]
    value: float          # the last value within LOOKBACK
    age: float            # seconds since that sample


def _targets(ctx: Context, name: str, service: str | None, sel: Selector) -> tuple[list[Target], bool]:
    """Every series of `sel` seen in the last LOOKBACK with its last value and age, and whether
    Prometheus holds any `up` series at all (an empty answer from an empty TSDB, a wrong tenant
    or an instant in the future is not an outage)."""
    last = f"last_over_time({sel}[{LOOKBACK}])"
    # exact for a sample within the lookback delta (a target first scraped after the last whole
    # minute has no point in the one-minute subquery); the subquery reaches back LOOKBACK
    age = f"time() - timestamp({sel}) or time() - max_over_time(timestamp({sel})[{LOOKBACK}:1m])"
    anything = f"count(last_over_time(up[{LOOKBACK}]))"
    _prefetch(ctx, last, age, anything)
    ages = {_key(s.labels): s.value for s in _q(ctx, name, service, age).samples}
    out = [Target({k: v for k, v in s.labels.items() if k != "__name__"}, s.value,
                  ages.get(_key(s.labels), math.inf)) for s in _q(ctx, name, service, last).samples]
    known = any(s.value > 0 for s in _q(ctx, name, service, anything).samples)  # NaN is not a count
    return out, known


def _key(labels: dict[str, str]) -> tuple:
    return tuple(sorted((k, v) for k, v in labels.items() if k != "__name__"))


def _stale_text(ctx: Context, stale: list[Target], what: str = "instance") -> str:
    worst = max(stale, key=lambda t: t.age)
    return (f"stale: {len(stale)} series not scraped within {ctx.g.max_staleness}; {worst.labels.get(what, '?')} "
            f"last at {iso(ctx.at - worst.age)} ({worst.age:.0f}s before {iso(ctx.at)})")


def _judge_targets(ctx: Context, name: str, service: str, targets: list[Target], known: bool, missing: str,
                   query: str, threshold: str, what: str = "instance") -> CheckResult:
    ev = [Evidence(t.labels, t.value, f"last sample {t.age:.0f}s before") for t in targets]
    if not targets:
        if not known:
            return CheckResult(name, service, Outcome.INCONCLUSIVE, f"no data: Prometheus holds no up series at all in "
                               f"the last {LOOKBACK} (empty, a wrong URL or tenant, or --at outside its history)",
                               query=query, threshold=threshold)
        return CheckResult(name, service, Outcome.FAIL, missing, query=query, threshold=threshold)
    if any(math.isnan(t.age) for t in targets):
        # neither fresh nor stale: without this the target fell out of both lists and passed
        return CheckResult(name, service, Outcome.INCONCLUSIVE, "the age of the last scrape is NaN, not a time: the "
                           "answer is not a measurement of up or down", query=query, threshold=threshold, evidence=ev)
    limit = parse_duration(ctx.g.max_staleness)
    fresh = [t for t in targets if t.age <= limit]
    stale = [t for t in targets if t.age > limit]
    odd = [t for t in fresh if t.value not in (0.0, 1.0)]
    if odd:
        return CheckResult(name, service, Outcome.INCONCLUSIVE, f"the value is {odd[0].value!r}, neither 0 nor 1: the "
                           "answer is not a measurement of up or down", query=query, threshold=threshold, evidence=ev)
    down = sorted(t.labels.get(what, "?") for t in fresh if t.value == 0)
    if down:
        return CheckResult(name, service, Outcome.FAIL, f"{len(down)} of {len(targets)} down at the last scrape: "
                           f"{', '.join(down)}", query=query, threshold=threshold, evidence=ev)
    if stale:
        return CheckResult(name, service, Outcome.INCONCLUSIVE, _stale_text(ctx, stale, what), query=query,
                           threshold=f"last scrape within {ctx.g.max_staleness}", evidence=ev)
    oldest = max(t.age for t in targets)
    return CheckResult(name, service, Outcome.PASS, f"{len(targets)} up, last scrape {oldest:.0f}s ago",
                       query=query, threshold=threshold, evidence=ev)


# ---- smoke -----------------------------------------------------------------------------------

@guarded
def targets_up(ctx: Context, service: str) -> CheckResult:
    name = "targets up"
    sel = Selector("up").plus(_jobs(ctx.services))
    targets, known = _targets(ctx, name, service, sel)
    mine = [t for t in targets if t.labels.get("job") == service]
    missing = (f"no scrape target for job {service!r} in the last {LOOKBACK}: the service is declared, but "
               "Prometheus has not scraped it")
    return _judge_targets(ctx, name, service, mine, known, missing, str(sel), "up == 1")


@guarded
def health_probe(ctx: Context, service: str) -> CheckResult:
    name = "health probe"
    sel = Selector("probe_success").where(job=BLACKBOX_JOB).plus(Matcher("service", "=~", promql.any_of(ctx.services)))
    targets, known = _targets(ctx, name, service, sel)
    mine = [t for t in targets if t.labels.get("service") == service]
    if not mine:
        return CheckResult(name, service, Outcome.INCONCLUSIVE, f"no probe result in the last {LOOKBACK}: is the "
                           "blackbox exporter scraped?", query=str(sel), threshold="probe_success == 1")
    result = _judge_targets(ctx, name, service, mine, known, "", str(sel), "probe_success == 1")
    if result.outcome == Outcome.FAIL:
        failed = sorted(t.labels.get("instance", "?") for t in mine if t.value != 1)
        result.reason = f"GET {', '.join(failed)} failed"
    elif result.outcome == Outcome.PASS:
        result.reason = "health endpoint answers 2xx"
    return result


def judge_ratio(name: str, service: str, bad: float | None, total: float | None, target: float, what: str,
                confidence: float, tolerance: float, min_requests: int, window: str, query: str = "",
                missing: str = "no data: the request counter has no series") -> CheckResult:
    """Smoke's three-way rule on `bad` of `total` against an allowed ratio `target`, with exact
    (Clopper-Pearson) bounds: FAIL when even the lower bound is above the target (the p-value
    goes through Holm's correction), PASS when the upper bound is within `tolerance` x target
    and there were at least `min_requests`, INCONCLUSIVE otherwise. Little traffic can hold a
    PASS, never a FAIL: 15 errors in 150 requests are decisive."""
    allowed = target * tolerance
    threshold = (f"{what}: FAIL when the {confidence:.0%} lower bound is above {_fmt(target, True)}; PASS when the "
                 f"upper bound is at most {_fmt(allowed, True)} ({tolerance:g}x) with >= {min_requests} requests")
    if total is None:
        return CheckResult(name, service, Outcome.INCONCLUSIVE, missing, query=query, threshold=threshold)
    if bad is None:
        return CheckResult(name, service, Outcome.INCONCLUSIVE, missing, query=query, threshold=threshold)
    if math.isnan(total) or math.isnan(bad) or math.isinf(total) or math.isinf(bad):
        return CheckResult(name, service, Outcome.INCONCLUSIVE, "the query returned NaN or infinity", query=query,
                           threshold=threshold)
    ev = [Evidence({"kind": "bad"}, bad), Evidence({"kind": "total"}, total)]
    if total <= 0:
        return CheckResult(name, service, Outcome.INCONCLUSIVE, f"no traffic in {window}", query=query,
                           threshold=threshold, evidence=ev)
    bad = min(bad, total)
    low, high = stats.clopper_pearson(bad, total, confidence)
    p = stats.exceeds_p(bad, total, target)
    detail = (f"{what} {_fmt(bad / total, True)} ({bad:.0f} of {total:.0f} requests in {window}; "
              f"{confidence:.0%} bounds {_fmt(low, True)}-{_fmt(high, True)})")
    hold = f"{detail}: not enough requests to tell it from the target {_fmt(target, True)}"
    if low > target:
        return CheckResult(name, service, Outcome.FAIL, f"{detail}: above the target {_fmt(target, True)}",
                           query=query, threshold=threshold, evidence=ev, p_value=p,
                           unconfirmed=(Outcome.INCONCLUSIVE, hold))
    if high <= allowed and total >= min_requests:
        return CheckResult(name, service, Outcome.PASS, detail, query=query, threshold=threshold, evidence=ev,
                           p_value=p)
    if total < min_requests:
        hold = f"{detail}: too little traffic to pass (need {min_requests} requests)"
    return CheckResult(name, service, Outcome.INCONCLUSIVE, hold, query=query, threshold=threshold, evidence=ev,
                       p_value=p)


def _smoke_ratio(ctx: Context, name: str, service: str, sig: Signal, slo: SLO | None) -> CheckResult:
    bad, total, query = _counts(ctx, name, service, sig, {"job": service})
    missing = _no_bucket(ctx) if sig.bad_is_good and total is not None else "no data: the request counter has no series"
    g = ctx.g
    return judge_ratio(name, service, bad, total, slo.error_budget if slo else 0.01, sig.what, g.confidence,
                       g.smoke_tolerance, g.min_requests, ctx.window, query, missing)


@guarded
def error_ratio(ctx: Context, service: str) -> CheckResult:
    return _smoke_ratio(ctx, "error ratio", service, _signals(ctx)[0], _ratio_slo(ctx, service))


@guarded
def latency(ctx: Context, service: str) -> CheckResult:
    return _smoke_ratio(ctx, "latency", service, _signals(ctx)[1], _latency_slo(ctx, service))


@guarded
def monitoring_healthy(ctx: Context) -> CheckResult:
    name = "rule evaluation"
    expr = promql.agg("sum", promql.increase(Selector("prometheus_rule_evaluation_failures_total"), ctx.window))
    res = _q(ctx, name, None, expr)
    value = res.samples[0].value if res.samples else None
    if value is None or math.isnan(value):
        return CheckResult(name, None, Outcome.INCONCLUSIVE, "Prometheus does not scrape itself: rule health unknown",
                           query=expr, threshold="0 failures")
    if value > 0:
        return CheckResult(name, None, Outcome.FAIL, f"{value:.0f} rule evaluations failed in {ctx.window}",
                           query=expr, threshold="0 failures", evidence=[Evidence({}, value)])
    return CheckResult(name, None, Outcome.PASS, "no rule evaluation failed", query=expr, threshold="0 failures",
                       evidence=[Evidence({}, value)])


# ---- canary ----------------------------------------------------------------------------------

def _track(ctx: Context, value: str) -> Matcher:
    return Matcher(ctx.g.canary_label, "=", value)


def canary_starts(ctx: Context, name: str) -> dict[str, float]:
    """When the current canary of each service started: `--since`, or the first minute of the
    latest unbroken run of its request series within gates.canary.max_age. Worked out once per
    gate run, however many canary checks ask."""
    with ctx._lock:
        known = ctx._cache.get("canary starts")
    if known is None:
        known = _canary_starts(ctx, name)
        with ctx._lock:
            ctx._cache["canary starts"] = known
    return known


def _canary_starts(ctx: Context, name: str) -> dict[str, float]:
    apps = traffic_services(ctx)
    if ctx.since is not None:
        return {s: ctx.since for s in apps}
    sel = ctx.g.requests.plus(_jobs(apps), _track(ctx, ctx.g.canary_value))
    expr = promql.agg("count", str(sel), ("job",))
    start = math.floor((ctx.at - parse_duration(ctx.g.canary_max_age)) / STEP) * STEP
    res = _q(ctx, name, None, expr, start=start, step=STEP)
    out = {}
    for s in res.samples:
        times = sorted(t for t, v in s.values if not math.isnan(v))
        if not times:
            continue
        first = times[-1]
        for t in reversed(times[:-1]):
            if first - t > STEP * 1.5:
                break
            first = t
        out[s.labels.get("job", "")] = first - STEP
    return out


def _canary_range(ctx: Context, starts: dict[str, float]) -> tuple[float, float]:
    """(start, step) of the range queries that read the canary's life in batches: anchored at the
    earliest start, so every look of a pipeline reads the same batches plus the new ones."""
    first = min(starts.values())
    # Prometheus answers at most 11,000 points a series: past 10,000 minutes, start later on the
    # same grid (a week-old canary is judged on its last week)
    skip = max(0, math.ceil((ctx.at - first) / STEP) - 10_000)
    return first + (skip + 1) * STEP, STEP


def _batches(ctx: Context, name: str, service: str, sig: Signal, starts: dict[str, float]):
    """The canary's life so far as stats.Batch per step, or a CheckResult saying why not."""
    g = ctx.g
    since = starts[service]
    start, step = _canary_range(ctx, starts)
    by = ("job", g.canary_label)
    bq = promql.events(sig.bad, format_duration(step), by, LOOKBACK)
    tq = promql.events(sig.total, format_duration(step), by, LOOKBACK)
    ctx.submit(bq, start, step)
    ctx.submit(tq, start, step)
    series: dict[tuple[str, str], dict[float, float]] = {}
    for kind, q in (("bad", bq), ("total", tq)):
        for s in _q(ctx, name, service, q, start, step).samples:
            if s.labels.get("job") == service:
                series[(kind, s.labels.get(g.canary_label, ""))] = {t: v for t, v in s.values if t > since}
    query = f"{bq}\n{tq}"
    ct, bt = series.get(("total", g.canary_value), {}), series.get(("total", g.baseline_value), {})
    cb, bb = series.get(("bad", g.canary_value), {}), series.get(("bad", g.baseline_value), {})
    if sig.bad_is_good and ct and not cb:
        raise _Failed(CheckResult(name, service, Outcome.INCONCLUSIVE, _no_bucket(ctx), query=query))
    if ct and not bt:
        raise _Failed(CheckResult(name, service, Outcome.INCONCLUSIVE, f"no {g.canary_label}={g.baseline_value!r} "
                                  f"series for {service}: the canary has nothing to compare with (is the stable "
                                  f"track labelled {g.canary_label}={g.baseline_value!r}?)", query=query))
    served = [t for t, n in ct.items() if n > 0]
    if served and ctx.at - max(served) > max(parse_duration(g.max_staleness), 2 * step):
        raise _Failed(CheckResult(name, service, Outcome.INCONCLUSIVE, f"the canary has served no request since "
                                  f"{iso(max(served))}: its series stopped", query=query))
    out = []
    for t in sorted(set(ct) & set(bt)):
        vals = [ct[t], bt[t], cb.get(t, 0.0 if not sig.bad_is_good else math.nan),
                bb.get(t, 0.0 if not sig.bad_is_good else math.nan)]
        if any(math.isnan(v) or math.isinf(v) for v in vals):
            continue
        nc, nb, kc, kb = vals
        if sig.bad_is_good:
            kc, kb = nc - kc, nb - kb
        out.append(stats.Batch(max(min(kc, nc), 0.0), max(nc, 0.0), max(min(kb, nb), 0.0), max(nb, 0.0)))
    return out, query


def judge_canary(name: str, service: str, what: str, batches: list, confidence: float, rule_out: float,
                 min_relative: float, min_absolute: float, min_requests: int, since: float | None = None,
                 labels: tuple[str, str, str] = ("track", "canary", "baseline"), query: str = "",
                 family: int = 1) -> CheckResult:
    """Canary against baseline over the canary's whole life, with always-valid statistics:
    any number of looks keeps the rates below.

    FAIL: the mixture likelihood ratio of "canary worse" against "no worse" (stats.e_worse) gives
    p = 1/e; the gate FAILs when p survives Holm's correction at 1 - confidence over every test of
    the evaluation and the observed regression is material (x min_relative and +min_absolute).
    An unchanged canary is rolled back with probability at most 1 - confidence per rollout.
    PASS: the evidence against "the canary is rule_out x worse, or worse by min_absolute" reaches
    1/(1 - confidence) (stats.e_not_worse) with min_requests on each side: such a canary is
    promoted with probability at most 1 - confidence. Otherwise: hold, and say how much more
    canary traffic a decision needs at the ratios seen so far (for a FAIL, the evidence Holm asks
    of the strongest of `family` tests)."""
    label, canary, baseline = labels
    kc = sum(b.canary_bad for b in batches)
    nc = sum(b.canary_total for b in batches)
    kb = sum(b.baseline_bad for b in batches)
    nb = sum(b.baseline_total for b in batches)
    alpha = 1.0 - confidence
    threshold = (f"FAIL when canary worse than baseline at {confidence:.0%} (always-valid, Holm-corrected) and by at "
                 f"least x{min_relative:g} and +{min_absolute * 100:g} pp; PASS when 'x{rule_out:g} and "
                 f"+{min_absolute * 100:g} pp worse' is ruled out at {confidence:.0%}, >= {min_requests} requests "
                 "a side")
    ev = [Evidence({label: canary, "kind": "bad"}, kc), Evidence({label: canary, "kind": "total"}, nc),
          Evidence({label: baseline, "kind": "bad"}, kb), Evidence({label: baseline, "kind": "total"}, nb)]
    life = f" since {iso(since)}" if since is not None else ""
    for side, n in ((canary, nc), (baseline, nb)):
        if n <= 0:
            return CheckResult(name, service, Outcome.INCONCLUSIVE, f"no {label}={side!r} traffic{life}", query=query,
                               threshold=threshold, evidence=ev)
    rc, rb = kc / nc, kb / nb
    e_bad = stats.e_worse(batches)
    p = min(1.0, 1.0 / e_bad) if e_bad > 0 else 1.0
    e_ok = stats.e_not_worse(batches, rule_out, rb + min_absolute)
    exact = stats.conditional_p(kc, nc, kb, nb)
    detail = (f"{what}: canary {_fmt(rc, True)} of {nc:.0f}, baseline {_fmt(rb, True)} of {nb:.0f}{life}; "
              f"worse: p={p:.2g} (valid at any number of looks; one look, exact: {exact:.2g}); "
              f"evidence against x{rule_out:g} worse: {e_ok:.3g} (decides at {1 / alpha:.0f})")
    material = rc >= rb * min_relative and rc - rb >= min_absolute
    enough = nc >= min_requests and nb >= min_requests
    if e_ok >= 1.0 / alpha and enough:
        fallback = (Outcome.PASS, f"{detail}: no material regression")
    else:
        more = stats.more_canary_requests(batches, rule_out, rb + min_absolute, alpha / max(family, 1), alpha)
        need = max(min_requests - nc, 0.0)
        if more is not None:
            need = max(need, more)
            wait = f"about {need:,.0f} more canary requests at these ratios"
        else:
            wait = "no decision in sight at these ratios: the canary is between no worse and materially worse"
        fallback = (Outcome.INCONCLUSIVE, f"{detail}: hold, {wait}")
    if p < alpha and material:
        return CheckResult(name, service, Outcome.FAIL, f"{detail}: canary is worse", query=query, threshold=threshold,
                           evidence=ev, p_value=p, unconfirmed=fallback)
    if p < alpha:
        fallback = (fallback[0], f"{fallback[1]} (worse, but by less than x{min_relative:g} or +{min_absolute * 100:g} "
                                 "pp: not material)")
    return CheckResult(name, service, fallback[0], fallback[1], query=query, threshold=threshold, evidence=ev,
                       p_value=p)


def _canary_signal(ctx: Context, name: str, service: str, sig: Signal) -> CheckResult:
    g = ctx.g
    starts = canary_starts(ctx, name)
    if service not in starts:
        return CheckResult(name, service, Outcome.INCONCLUSIVE, f"no {g.canary_label}={g.canary_value!r} series for "
                           f"{service} in the last {g.canary_max_age} (a canary counts from its first whole "
                           "minute): is the canary deployed and labelled?")
    batches, query = _batches(ctx, name, service, sig, starts)
    return judge_canary(name, service, sig.what, batches, g.confidence, g.rule_out, g.min_relative_increase,
                        g.min_absolute_increase, g.canary_min_requests, starts[service],
                        (g.canary_label, g.canary_value, g.baseline_value), query,
                        family=len(traffic_services(ctx)) * len(_signals(ctx)))


@guarded
def canary_errors(ctx: Context, service: str) -> CheckResult:
    return _canary_signal(ctx, "canary error ratio", service, _signals(ctx)[0])


@guarded
def canary_latency(ctx: Context, service: str) -> CheckResult:
    return _canary_signal(ctx, "canary latency", service, _signals(ctx)[1])


@guarded
def canary_targets(ctx: Context, service: str) -> CheckResult:
    """The canary's own targets: up and fresh. Canary targets are the (job, instance) pairs that
    reported canary requests during the canary's life."""
    name = "canary targets up"
    g = ctx.g
    starts = canary_starts(ctx, name)
    if service not in starts:
        return CheckResult(name, service, Outcome.INCONCLUSIVE, f"no {g.canary_label}={g.canary_value!r} series for "
                           f"{service} in the last {g.canary_max_age} (a canary counts from its first whole "
                           "minute)")
    life = format_duration(max(ctx.at - min(starts.values()), 1.0))
    sel = g.requests.plus(_jobs(traffic_services(ctx)), _track(ctx, g.canary_value))
    expr = promql.agg("count", f"last_over_time({sel}[{life}])", ("job", "instance"))
    up = Selector("up").plus(_jobs(ctx.services))
    _prefetch(ctx, expr)
    targets, known = _targets(ctx, name, service, up)
    canaries = {s.labels.get("instance") for s in _q(ctx, name, service, expr).samples
                if s.labels.get("job") == service}
    mine = [t for t in targets if t.labels.get("job") == service and t.labels.get("instance") in canaries]
    if not mine:  # nothing to measure is not a failure
        return CheckResult(name, service, Outcome.INCONCLUSIVE, f"no up series in the last {LOOKBACK} for the "
                           f"canary's instances ({', '.join(sorted(str(c) for c in canaries)) or 'none found'})",
                           query=f"{up}\n{expr}", threshold="up == 1")
    return _judge_targets(ctx, name, service, mine, known, "", f"{up}\n{expr}", "up == 1")


@guarded
def canary_share(ctx: Context, service: str) -> CheckResult:
    """The canary's share of requests over the window against --canary-weight: a routing error
    (every user on the canary, or none) is otherwise invisible."""
    name = "canary traffic share"
    g = ctx.g
    weight = (ctx.canary_weight or 0) / 100
    sig = _signals(ctx)[0]
    by = ("job", g.canary_label)
    expr = promql.events(sig.total, ctx.window, by, LOOKBACK)
    every = promql.events(sig.total, ctx.window, ("job",), LOOKBACK)
    _prefetch(ctx, expr, every)
    nc = _pick(_q(ctx, name, service, expr).samples, {"job": service, g.canary_label: g.canary_value}) or 0.0
    total = _pick(_q(ctx, name, service, every).samples, {"job": service}) or 0.0
    query = f"{expr}\n{every}"
    threshold = f"share of all the service's requests within x0.5-x2 of {weight:.0%} (or within 2 pp)"
    ev = [Evidence({g.canary_label: g.canary_value}, nc), Evidence({"job": service}, total)]
    if math.isnan(nc + total) or total < g.min_requests:
        return CheckResult(name, service, Outcome.INCONCLUSIVE, f"too little traffic in {ctx.window} to measure the "
                           f"canary's share ({total:.0f} requests)", query=query, threshold=threshold, evidence=ev)
    share = min(nc / total, 1.0)
    detail = (f"the canary served {share:.1%} of the service's {total:.0f} requests in {ctx.window}; "
              f"--canary-weight is {weight:.0%}")
    if share > max(2 * weight, weight + 0.02):
        return CheckResult(name, service, Outcome.FAIL, f"{detail}: routing error, more users on the canary than "
                           "intended", query=query, threshold=threshold, evidence=ev)
    if share < min(weight / 2, weight - 0.02):
        return CheckResult(name, service, Outcome.INCONCLUSIVE, f"{detail}: the canary gets less traffic than "
                           "intended, so its verdict rests on too little", query=query, threshold=threshold,
                           evidence=ev)
    return CheckResult(name, service, Outcome.PASS, detail, query=query, threshold=threshold, evidence=ev)


def next_weight(ctx: Context) -> int | None:
    steps = ctx.g.steps
    if ctx.canary_weight is None:
        return steps[0]
    return next((s for s in steps if s > ctx.canary_weight), None)


# ---- rollback --------------------------------------------------------------------------------

def _sustained(ctx: Context, name: str, expr: str, duration: str, above: float, unit_pct: bool | str) -> CheckResult:
    span = parse_duration(duration)
    points = max(int(span // STEP), 1)
    start = ctx.at - (points - 1) * STEP
    threshold = f"> {_fmt(above, unit_pct)} at each of {points} consecutive minutes"
    res = _q(ctx, name, None, expr, start=start, step=STEP)
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
    sig = _signals(ctx)[0]
    expr = promql.ratio(promql.agg("sum", promql.rate(sig.bad, "1m"), ("job",)),
                        promql.agg("sum", promql.rate(sig.total, "1m"), ("job",)))
    return _sustained(ctx, "error ratio sustained", expr, g.rollback_error_for, g.rollback_error_ratio, True)


@guarded
def sustained_latency(ctx: Context) -> CheckResult:
    g = ctx.g
    sel = Selector(g.latency + "_bucket").plus(_jobs(traffic_services(ctx)))
    expr = promql.histogram_quantile(0.99, sel, "1m", ("job",))
    return _sustained(ctx, "p99 latency sustained", expr, g.p99_for, g.p99_seconds, "s")


@guarded
def services_down(ctx: Context) -> CheckResult:
    """Down means an `up` series at 0 at the last scrape. A service with no fresh `up` series is
    unknown, not down: an empty TSDB, a tenant typo or stopped scraping must never roll back."""
    name = "services down"
    apps = traffic_services(ctx)
    sel = Selector("up").plus(_jobs(ctx.services))
    targets, known = _targets(ctx, name, None, sel)
    limit = parse_duration(ctx.g.max_staleness)
    down: list[str] = []
    unknown: list[str] = []
    for app in apps:
        fresh = [t for t in targets if t.labels.get("job") == app and t.age <= limit and t.value in (0.0, 1.0)]
        if any(t.value == 1 for t in fresh):
            continue
        (down if fresh else unknown).append(app)
    ratio = ctx.g.services_down_ratio
    threshold = f"< {ratio:.0%} of {len(apps)} services down"
    ev = [Evidence(t.labels, t.value, f"last sample {t.age:.0f}s before") for t in targets
          if t.labels.get("job") in apps]
    tail = ""
    if unknown:
        stale = [t for t in targets if t.labels.get("job") in unknown]
        why = _stale_text(ctx, stale, "job") if stale else f"no up series in the last {LOOKBACK}"
        tail = f"; unknown: {', '.join(unknown)} ({why})"
    text = f"{len(down)} of {len(apps)} services down" + (f": {', '.join(down)}" if down else "") + tail
    if apps and len(down) / len(apps) >= ratio:
        return CheckResult(name, None, Outcome.FAIL, text, query=str(sel), threshold=threshold, evidence=ev)
    if apps and (len(down) + len(unknown)) / len(apps) >= ratio:
        if not known:
            text = f"no data: Prometheus holds no up series at all in the last {LOOKBACK}"
        return CheckResult(name, None, Outcome.INCONCLUSIVE, text, query=str(sel), threshold=threshold, evidence=ev)
    return CheckResult(name, None, Outcome.PASS, text, query=str(sel), threshold=threshold, evidence=ev)


@guarded
def pool_exhausted(ctx: Context) -> CheckResult:
    name = "db pool"
    g = ctx.g
    assert g.pool_in_use and g.pool_max, "planned only when the spec names both pool gauges"
    expr = f"max by (job) ({Selector(g.pool_in_use)} / {Selector(g.pool_max)})"
    res = _q(ctx, name, None, expr)
    threshold = f"< {g.pool_saturation:.0%} of the pool in use"
    measured = [s for s in res.samples if not s.is_nan]
    if not measured:
        return CheckResult(name, None, Outcome.INCONCLUSIVE, "no pool metrics reported", query=expr,
                           threshold=threshold)
    ev = [Evidence(s.labels, s.value) for s in res.samples]
    full = [s.labels.get("job", "?") for s in measured if s.value >= g.pool_saturation]
    if full:
        return CheckResult(name, None, Outcome.FAIL, f"connection pool exhausted: {', '.join(sorted(full))}",
                           query=expr, threshold=threshold, evidence=ev)
    return CheckResult(name, None, Outcome.PASS, f"peak pool use {_fmt(max(s.value for s in measured), True)}",
                       query=expr, threshold=threshold, evidence=ev)


def _one(res: QueryResult) -> float | None:
    """The value of an aggregated query with no `by`: None when there is no series."""
    return res.samples[0].value if res.samples else None


@guarded
def fast_burn(ctx: Context, slo: SLO) -> CheckResult:
    """The SLO's fastest page condition, from raw series (the gate must not depend on the
    generated recording rules being loaded). Every request-based SLI: ratio and latency, and a raw
    error ratio (its expression at both windows)."""
    name = f"fast burn {slo.name}"
    first = conv.burn_windows(slo, "page")[0]
    what = "error ratio" if slo.timeslices is None else f"share of bad {slo.timeslices.window} slices"
    threshold = (f"{what} <= {_fmt(first.threshold(slo), True)} ({first.factor:g}x budget) on {first.short} "
                 f"or {first.long}")
    if slo.timeslices is not None:
        return _slice_burn(ctx, slo, name, first, threshold)
    if isinstance(slo.sli, m.RawSLI):
        raw = {w: promql.at_window(slo.sli.error_ratio_query, w) for w in (first.short, first.long)}
        _prefetch(ctx, *raw.values())
        measured = {w: _one(_q(ctx, name, slo.service, q)) for w, q in raw.items()}
        return _burn_outcome(slo, name, first, measured, "\n".join(raw.values()), threshold)
    exprs = {w: conv.event_rates(slo, w) for w in (first.short, first.long)}
    _prefetch(ctx, *[e for pair in exprs.values() for e in pair])
    ratios: dict[str, float | None] = {}
    for w, (bad_q, total_q) in exprs.items():
        _need_threshold_bucket(ctx, name, slo, w, threshold)
        total, bad = _one(_q(ctx, name, slo.service, total_q)), _one(_q(ctx, name, slo.service, bad_q))
        # no requests at all is measured: nothing burns the budget in that window (an outage
        # shows in services down); no series, or a NaN/infinite total, is not measured
        ratios[w] = None if total is None or bad is None or not math.isfinite(total) else \
            (bad / total if total > 0 else 0.0)
    query = "\n".join(f"({b}) / ({t})" for b, t in exprs.values())
    return _burn_outcome(slo, name, first, ratios, query, threshold)


def _slice_burn(ctx: Context, slo: SLO, name: str, first: conv.BurnWindow, threshold: str) -> CheckResult:
    """A timeslice SLO's fast burn from raw series: the share of bad slices in each window, the
    slices rebuilt by a subquery one slice apart (the same slices the generated rules record)."""
    slices = slo.timeslices
    assert slices is not None, "for timeslice SLOs"
    if isinstance(slo.sli, m.RawSLI):
        ratio = promql.at_window(slo.sli.error_ratio_query, slices.window)
    else:
        ratio = promql.ratio(*conv.event_rates(slo, slices.window))
        _need_threshold_bucket(ctx, name, slo, first.long, threshold)
    indicator = conv.slice_indicator(ratio, slices)
    shares = {w: f"avg_over_time((\n{indicator}\n)[{w}:{slices.window}])" for w in (first.short, first.long)}
    _prefetch(ctx, *shares.values())
    measured = {w: _one(_q(ctx, name, slo.service, q)) for w, q in shares.items()}
    return _burn_outcome(slo, name, first, measured, "\n".join(shares.values()), threshold)


def _need_threshold_bucket(ctx: Context, name: str, slo: SLO, window: str, threshold: str) -> None:
    """A latency SLI whose histogram has requests but no bucket at the SLO's threshold: how many
    were slow is unknown (INCONCLUSIVE), never every request slow. Nothing for other SLIs. The
    total is the same query event_rates sends, so it is asked once."""
    if not isinstance(slo.sli, m.LatencySLI):
        return
    bucket = promql.agg("sum", promql.rate(conv.good_bucket(slo), window))
    total = promql.agg("sum", promql.rate(conv.total_selector(slo), window))
    _prefetch(ctx, bucket, total)
    if _one(_q(ctx, name, slo.service, total)) is not None and _one(_q(ctx, name, slo.service, bucket)) is None:
        raise _Failed(CheckResult(name, slo.service, Outcome.INCONCLUSIVE, "no bucket at the SLO's threshold "
                                  f"(le={promql.number(slo.sli.threshold)}): how many requests were slow is "
                                  "unknown", query=bucket, threshold=threshold))


def _burn_outcome(slo: SLO, name: str, first: conv.BurnWindow, ratios: dict, query: str,
                  threshold: str) -> CheckResult:
    """FAIL when the error ratio exceeds the fastest page threshold on both windows."""
    limit = first.threshold(slo)
    ev = [Evidence({"window": w}, v) for w, v in ratios.items()]
    values = list(ratios.values())
    if any(v is None or math.isnan(v) for v in values):
        return CheckResult(name, slo.service, Outcome.INCONCLUSIVE, "no data for the SLI", query=query,
                           threshold=threshold, evidence=ev)
    long_ratio = ratios[first.long] or 0.0
    if all(v is not None and v > limit for v in values):
        return CheckResult(name, slo.service, Outcome.FAIL, f"burning the error budget at "
                           f"{long_ratio / slo.error_budget:.1f}x over {first.long}", query=query,
                           threshold=threshold, evidence=ev)
    return CheckResult(name, slo.service, Outcome.PASS, f"burn rate {long_ratio / slo.error_budget:.2g}x "
                       f"over {first.long}", query=query, threshold=threshold, evidence=ev)


# ---- budget ----------------------------------------------------------------------------------

@guarded
def budget_left(ctx: Context, slo: SLO) -> CheckResult:
    """Every series of the SLO's budget record is judged (two clusters, an HA pair): the least
    budget left decides, and only where the SLI's data covers enough of the period
    (gates.budget.min_coverage; gate.coverage). A calendar SLO's budget is measured here, since
    its period's start."""
    name = f"error budget {slo.name}"
    limit = ctx.g.budget_min_remaining
    if slo.calendar:
        return _calendar_budget(ctx, slo, name, limit)
    sel = conv.record_sel(conv.BUDGET_REMAINING, slo)
    step = coverage.step_for(slo.period_seconds)
    covered = conv.coverage_query(slo, slo.period, format_duration(step))
    _prefetch(ctx, str(sel), covered)
    res = _q(ctx, name, slo.service, str(sel))
    threshold = (f">= {limit:.0%} of the {slo.period} budget left, in every series, with data over "
                 f">= {ctx.g.budget_min_coverage:.0%} of the period")
    if not [s for s in res.samples if not math.isnan(s.value)]:
        return CheckResult(name, slo.service, Outcome.INCONCLUSIVE, f"no {conv.BUDGET_REMAINING} series: are the "
                           "generated SLO rules loaded?", query=str(sel), threshold=threshold,
                           evidence=[Evidence(s.labels, s.value) for s in res.samples])
    counts = _q(ctx, name, slo.service, covered).samples
    return _judge_budget(name, slo, res.samples, f"{sel}\n{covered}", threshold, limit, "",
                         _coverages(ctx, res.samples, counts, slo.period_seconds, step))


def _coverages(ctx: Context, samples: list[Sample], counts: list[Sample], period: float,
               step: float) -> list[coverage.Coverage]:
    """Each budget series' coverage, from the coverage query's counts (gate.coverage)."""
    return [coverage.Coverage.from_steps(coverage.count_for(s.labels, counts), period, step,
                                         ctx.g.budget_min_coverage) for s in samples]


def _calendar_budget(ctx: Context, slo: SLO, name: str, limit: float) -> CheckResult:
    """The budget left since the calendar period started in the SLO's zone (zoneinfo, exact): the
    error ratio over now - start, from the same series the rules read, and the data's coverage
    of now - start."""
    cal = slo.calendar
    assert cal is not None, "a calendar SLO"
    start = calendar.period_start(cal, ctx.at)
    elapsed = int(ctx.at - start)
    period = f"{calendar.period_name(cal, ctx.at)}, {cal.timezone}, {calendar.elapsed_text(elapsed)} so far"
    threshold = (f">= {limit:.0%} of the {cal.unit}'s budget left ({period}), in every series, with data over "
                 f">= {ctx.g.budget_min_coverage:.0%} of the period so far")
    if elapsed < 60:
        return CheckResult(name, slo.service, Outcome.INCONCLUSIVE, f"{period}: the period started {elapsed} s "
                           "ago, nothing to measure yet", threshold=threshold)
    seconds = elapsed - elapsed % 60
    window = format_duration(seconds)
    expr = conv.window_ratio(slo, window)
    step = coverage.step_for(seconds)
    covered = conv.coverage_query(slo, window, format_duration(step))
    events = (promql.agg("sum", promql.increase(conv.total_selector(slo), window))
              if slo.min_events and isinstance(slo.sli, m.RatioSLI | m.LatencySLI) else None)
    _prefetch(ctx, expr, covered, *([events] if events else []))
    res = _q(ctx, name, slo.service, expr)
    if events:
        seen = _one(_q(ctx, name, slo.service, events)) or 0.0
        if seen < (slo.min_events or 0):
            return CheckResult(name, slo.service, Outcome.INCONCLUSIVE, f"{period}: {seen:.0f} requests so far, "
                               f"fewer than min_events {slo.min_events}", query=events, threshold=threshold)
    measured = [Sample(s.labels, 1 - s.value / slo.error_budget) for s in res.samples]
    if not [s for s in measured if not math.isnan(s.value)]:
        return CheckResult(name, slo.service, Outcome.INCONCLUSIVE, f"{period}: no data for the SLI in the period "
                           "so far", query=expr, threshold=threshold,
                           evidence=[Evidence(s.labels, s.value) for s in measured])
    counts = _q(ctx, name, slo.service, covered).samples
    return _judge_budget(name, slo, measured, f"{expr}\n{covered}", threshold, limit, f"{period}: ",
                         _coverages(ctx, measured, counts, seconds, step))


def _judge_budget(name: str, slo: SLO, samples: list[Sample], query: str, threshold: str, limit: float,
                  prefix: str, covers: list[coverage.Coverage]) -> CheckResult:
    """FAIL when a series with enough data has less budget left than `limit`; INCONCLUSIVE when a
    series is NaN or its data covers too little of the period (whatever its budget says: a
    budget over two days of a 30-day period is not the period's, either way); else PASS."""
    ev = [Evidence(s.labels, s.value, c.text()) for s, c in zip(samples, covers, strict=True)]
    least = min(covers, key=lambda c: c.ratio)

    def where(s: Sample) -> str:
        extra = {k: v for k, v in s.labels.items() if k not in ("__name__", "service", "slo")}
        return "{" + ", ".join(f"{k}={v}" for k, v in sorted(extra.items())) + "}" if extra else ""

    def result(outcome: Outcome, reason: str, cover: coverage.Coverage) -> CheckResult:
        return CheckResult(name, slo.service, outcome, prefix + reason, query=query, threshold=threshold,
                           evidence=ev, coverage=cover)

    judged = [(s, c) for s, c in zip(samples, covers, strict=True) if c.enough and not math.isnan(s.value)]
    low = [(s, c) for s, c in judged if s.value < limit]
    if low:
        worst, cover = min(low, key=lambda sc: sc[0].value)
        spent = "overspent: " if worst.value < 0 else ""
        also = f" ({len(low)} of {len(samples)} series below)" if len(samples) > 1 else ""
        return result(Outcome.FAIL, f"{spent}{_fmt(worst.value, True)} of the budget left"
                      f"{' in ' + where(worst) if where(worst) else ''}{also}; {cover.text()}", cover)
    thin = [(s, c) for s, c in zip(samples, covers, strict=True) if not c.enough]
    if thin:
        s, cover = min(thin, key=lambda sc: sc[1].ratio)
        left = "NaN" if math.isnan(s.value) else _fmt(s.value, True)
        basis = "over that data" if cover.some else "by the budget record, with no SLI data under it"
        return result(Outcome.INCONCLUSIVE, f"{cover.text()}{' in ' + where(s) if where(s) else ''}, under the "
                      f"{cover.minimum * 100:g} % needed to judge the budget: {left} of the budget left {basis}, "
                      "not a verdict", cover)
    if len(judged) < len(samples):
        return result(Outcome.INCONCLUSIVE, f"a series of the budget record is NaN; {least.text()}", least)
    lowest = min(s.value for s, _ in judged)
    return result(Outcome.PASS, f"{_fmt(lowest, True)} of the budget left"
                  + (f" (least of {len(judged)} series)" if len(judged) > 1 else "") + f"; {least.text()}", least)


def plan(ctx: Context, mode: str) -> list:
    """The checks of a mode, as zero-argument callables (run concurrently by the gate)."""
    apps = traffic_services(ctx)
    slos = [s for s in ctx.spec.slos if s.service in ctx.services]
    latency_on = bool(ctx.g.latency and ctx.g.latency_threshold)
    jobs: list = []
    if mode == "smoke":
        for svc in ctx.services:
            if ctx.spec.service(svc).scrape:
                jobs.append(lambda s=svc: targets_up(ctx, s))
            if ctx.spec.service(svc).health_url:
                jobs.append(lambda s=svc: health_probe(ctx, s))
        for svc in apps:
            jobs.append(lambda s=svc: error_ratio(ctx, s))
            if latency_on:
                jobs.append(lambda s=svc: latency(ctx, s))
        jobs.append(lambda: monitoring_healthy(ctx))
    elif mode == "canary":
        for svc in apps:
            jobs.append(lambda s=svc: canary_targets(ctx, s))
            if ctx.canary_weight is not None:
                jobs.append(lambda s=svc: canary_share(ctx, s))
            jobs.append(lambda s=svc: canary_errors(ctx, s))
            if latency_on:
                jobs.append(lambda s=svc: canary_latency(ctx, s))
    elif mode == "rollback":
        jobs += [lambda: sustained_errors(ctx), lambda: services_down(ctx)]
        if ctx.g.pool_in_use and ctx.g.pool_max:   # optional: a spec without pool gauges has no pool check
            jobs.append(lambda: pool_exhausted(ctx))
        if ctx.g.latency:
            jobs.append(lambda: sustained_latency(ctx))
        jobs += [lambda s=slo: fast_burn(ctx, s) for slo in slos
                 if isinstance(slo.sli, m.RatioSLI | m.ExpressionRatioSLI | m.LatencySLI | m.RawSLI)]
    elif mode == "budget":
        jobs += [lambda s=slo: budget_left(ctx, s) for slo in slos]
    else:
        raise ValueError(mode)
    return jobs
