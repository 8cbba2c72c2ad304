"""The data behind the report's plots: each check's own queries, read as range queries over
the judged window and some time before it, and the check's thresholds from the spec.

This stage runs only for `--html`, after the verdict, with its own deadline. It never changes
a verdict: whatever goes wrong (a query fails, Prometheus is gone, a bug) becomes the reason a
plot is missing, written where the plot would be.

What each check's plot shows (the check's measurement, read over time):
- smoke error ratio, latency: the window's bad share as the window slides (its last point is the
  check's measurement) against the SLO's allowed ratio and the PASS line (tolerance x), with the
  window's exact bounds at the evaluation instant;
- canary error ratio, latency: canary and baseline ratios over the canary's life (cumulative,
  as judged), the canary's exact bounds as a band, and the FAIL and PASS thresholds, which move
  with the baseline;
- canary traffic share: the canary's share of requests against --canary-weight and its band;
- rollback's sustained checks: the per-minute points against the limit, with the judged minutes
  and a run above the limit marked; services down, db pool, fast burn: against their limits;
- budget: the budget left over the SLO's period against the minimum;
- targets, probes: up (1) or down (0) per target."""

from __future__ import annotations

import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from lukhas_obs import calendar
from lukhas_obs import conventions as conv
from lukhas_obs.durations import format_duration, iso, parse_duration
from lukhas_obs.gate import MAX_QUERIES_AT_ONCE, stats
from lukhas_obs.gate import checks as gc
from lukhas_obs.gate.client import PromClient, QueryError, Sample
from lukhas_obs.gate.decide import CheckResult
from lukhas_obs.gate.links import span as link_span
from lukhas_obs.gate.links import split_queries
from lukhas_obs.model import SLO, Spec

MAX_POINTS = 240          # per series: enough for a smooth line, cheap to draw
MAX_PLOTS_AT_ONCE = 16    # plots only wait for their queries

Points = list[tuple[float, float]]


@dataclass
class Line:
    """A series over time. `band`: (t, low, high) drawn around it. `kind`: how it is drawn."""
    label: str
    points: Points
    kind: str = "value"       # value, canary, baseline, run (a sustained run above a limit), up
    band: list[tuple[float, float, float]] = field(default_factory=list)
    band_label: str = ""


@dataclass
class Level:
    """A threshold: constant (`value`) or moving with time (`points`)."""
    label: str
    value: float | None = None
    points: Points = field(default_factory=list)
    kind: str = "limit"       # limit (FAIL beyond it), pass (PASS within it), target


@dataclass
class Span:
    """A shaded stretch of time (the judged window) or of values (an allowed band)."""
    label: str
    start: float
    end: float
    axis: str = "x"           # x: time, y: values


@dataclass
class Bar:
    """One measurement with its bounds, at an instant."""
    label: str
    t: float
    value: float
    low: float
    high: float


@dataclass
class Plot:
    title: str
    caption: str = ""
    unit: str = ""            # %, s, up or "" (a count)
    start: float = 0.0
    end: float = 0.0
    lines: list[Line] = field(default_factory=list)
    levels: list[Level] = field(default_factory=list)
    spans: list[Span] = field(default_factory=list)
    bars: list[Bar] = field(default_factory=list)
    marks: list[tuple[float, str]] = field(default_factory=list)   # vertical lines: (t, label)
    step: float = 0.0         # seconds between points: a longer gap is drawn as a gap, not a line
    error: str = ""           # why there is no plot; the plot is drawn only when this is empty

    def values(self) -> list[float]:
        out = [v for line in self.lines for _, v in line.points]
        out += [lv.value for lv in self.levels if lv.value is not None]
        out += [v for lv in self.levels for _, v in lv.points]
        return [v for v in out if math.isfinite(v)]


# ---- pure helpers (tested in-process) ---------------------------------------------------------

def grid(at: float, seconds: float, minimum_step: float = 15.0) -> tuple[float, float]:
    """(start, step) of a range query that ends exactly at `at`, covers `seconds` and has at most
    MAX_POINTS points: the step is a whole multiple of `minimum_step` (a check's own STEP, so the
    points fall on the instants the check judged)."""
    step = minimum_step * max(1, math.ceil(seconds / MAX_POINTS / minimum_step))
    return at - math.floor(seconds / step) * step, step


def series(samples: list[Sample], **match: str) -> dict[float, float]:
    """The one series of `samples` whose labels include `match` as {t: value}, or {} (several are
    summed: a check that reads one service reads all of its series)."""
    out: dict[float, float] = {}
    for s in samples:
        if all(s.labels.get(k) == v for k, v in match.items()):
            for t, v in s.values:
                out[t] = out.get(t, 0.0) + v
    return out


def ratio_points(bad: dict[float, float], total: dict[float, float], bad_is_good: bool = False) -> Points:
    """bad/total at every instant with traffic; with `bad_is_good`, `bad` counts the good events.
    An instant with no `bad` series counts no bad events (as the checks do)."""
    out = []
    for t in sorted(total):
        n = total[t]
        if not (n > 0 and math.isfinite(n)):
            continue
        k = bad.get(t, math.nan if bad_is_good else 0.0)
        if bad_is_good:
            k = n - k
        if math.isfinite(k):
            out.append((t, min(max(k, 0.0), n) / n))
    return out


def cumulative(bad: dict[float, float], total: dict[float, float], since: float, bad_is_good: bool = False
               ) -> list[tuple[float, float, float]]:
    """(t, bad so far, total so far) after `since`, from per-step counts: the canary's life as the
    canary checks sum it."""
    out, k, n = [], 0.0, 0.0
    for t in sorted(total):
        if t <= since:
            continue
        nt = total[t]
        kt = bad.get(t, math.nan if bad_is_good else 0.0)
        if bad_is_good:
            kt = nt - kt
        if not (math.isfinite(nt) and math.isfinite(kt)):
            continue
        n += max(nt, 0.0)
        k += min(max(kt, 0.0), max(nt, 0.0))
        out.append((t, k, n))
    return out


def trailing_run(points: Points, above: float) -> Points:
    """The points at the end of `points` that are all above `above` (NaN breaks a run)."""
    run: Points = []
    for t, v in reversed(points):
        if not (math.isfinite(v) and v > above):
            break
        run.append((t, v))
    return run[::-1]


def with_gaps(points: Points, step: float) -> Points:
    """`points` with a NaN wherever more than 1.5 steps pass without one: a line across a gap
    would draw values nobody measured."""
    out: Points = []
    for t, v in points:
        if out and step > 0 and t - out[-1][0] > 1.5 * step:
            out.append(((t + out[-1][0]) / 2, math.nan))
        out.append((t, v))
    return out


def _finite(values: dict[float, float] | Points) -> Points:
    items = values.items() if isinstance(values, dict) else values
    return [(t, v) for t, v in sorted(items) if math.isfinite(v)]


# ---- the stage ---------------------------------------------------------------------------------

class _NoPlot(Exception):
    """Why a check gets no plot (not a failure of the stage)."""


@dataclass
class _Stage:
    ctx: gc.Context
    canary_weight: int | None

    @property
    def at(self) -> float:
        return self.ctx.at

    @property
    def window(self) -> float:
        return parse_duration(self.ctx.window)

    def range(self, expr: str, start: float, step: float) -> list[Sample]:
        return self.ctx.submit(expr, start, step).result().samples

    def exprs(self, check: CheckResult, count: int) -> list[str]:
        exprs = split_queries(check.query)
        if len(exprs) < count:
            raise _NoPlot("the check sent no query to read over time" if not exprs else
                          f"the check's query is not the {count} expressions this plot reads")
        return exprs

    def base(self, title: str, caption: str, unit: str, seconds: float | None = None,
             minimum_step: float = 15.0) -> tuple[Plot, float, float]:
        seconds = seconds or link_span(self.ctx.window, self.at)
        start, step = grid(self.at, seconds, minimum_step)
        plot = Plot(title, caption, unit, start, self.at,
                    spans=[Span(f"judged window ({self.ctx.window})", self.at - self.window, self.at)], step=step)
        return plot, start, step


def collect(spec: Spec, report, client: PromClient, services: list[str] | None = None,
            canary_weight: int | None = None) -> dict[int, Plot]:
    """A Plot for every check of `report` (by id() of the check). Never raises."""
    client.start()   # a deadline of its own: the verdict's queries are done
    with ThreadPoolExecutor(max_workers=MAX_QUERIES_AT_ONCE) as queries:
        ctx = gc.Context(spec=spec, client=client, at=report.at, window=report.window,
                         services=services or [s.name for s in spec.services], canary_weight=canary_weight,
                         since=report.since, pool=queries)
        stage = _Stage(ctx, canary_weight)
        with ThreadPoolExecutor(max_workers=max(1, min(len(report.checks), MAX_PLOTS_AT_ONCE))) as pool:
            plots = list(pool.map(lambda c: plot_for(stage, c), report.checks))
    return {id(c): p for c, p in zip(report.checks, plots, strict=True)}


def plot_for(stage: _Stage, check: CheckResult) -> Plot:
    builder = builder_for(check.name)
    title = f"{check.service + ': ' if check.service else ''}{check.name}"
    if builder is None:
        return Plot(title, error="no plot for this check")
    try:
        plot = builder(stage, check)
    except _NoPlot as why:
        return Plot(title, error=str(why))
    except QueryError as exc:
        return Plot(title, error=f"the plot's data could not be fetched: {exc}")
    except Exception as exc:  # noqa: BLE001 - a plot never takes the report down with it
        return Plot(title, error=f"the plot could not be made: {type(exc).__name__}: {exc}")
    plot.title = title
    if not plot.error and not any(line.points for line in plot.lines):
        plot.error = "no data in the plotted range: nothing to draw"
    return plot


def builder_for(name: str) -> Callable[[_Stage, CheckResult], Plot] | None:
    if name in BUILDERS:
        return BUILDERS[name]
    for prefix, builder in PREFIXED.items():
        if name.startswith(prefix):
            return builder
    return None


# ---- smoke -------------------------------------------------------------------------------------

def _smoke_ratio(stage: _Stage, check: CheckResult) -> Plot:
    ctx, g = stage.ctx, stage.ctx.g
    service = check.service or ""
    latency = check.name == "latency"
    slo = (gc._latency_slo if latency else gc._ratio_slo)(ctx, service)
    target = slo.error_budget if slo else 0.01
    what = f"slower than {g.latency_threshold:g}s" if latency else "that failed"
    plot, start, step = stage.base(check.name, (
        f"The share of {check.service}'s requests {what}, over the last {ctx.window} as the window slides: its "
        f"last point is what the gate judged. The bar is that window's exact {g.confidence:.0%} bounds: FAIL "
        f"when the whole bar is above the SLO line, PASS when it is below the dotted line."), "%")
    bq, tq = stage.exprs(check, 2)[:2]
    bad, total = stage.range(bq, start, step), stage.range(tq, start, step)
    plot.lines.append(Line(f"{'slow' if latency else 'failed'}, over {ctx.window}",
                           ratio_points(series(bad, job=service), series(total, job=service), latency)))
    plot.levels += [Level(f"SLO allows {target * 100:.3g} %", target, kind="limit"),
                    Level(f"PASS needs the upper bound under {target * g.smoke_tolerance * 100:.3g} %",
                          target * g.smoke_tolerance, kind="pass")]
    counts = {e.labels.get("kind"): e.value for e in check.evidence}
    k, n = counts.get("bad"), counts.get("total")
    if k is not None and n is not None and math.isfinite(k) and math.isfinite(n) and n > 0:
        low, high = stats.clopper_pearson(min(k, n), n, g.confidence)
        plot.bars.append(Bar(f"judged: {k:.0f} of {n:.0f}, {g.confidence:.0%} bounds", stage.at, min(k, n) / n,
                             low, high))
    return plot


def _up(stage: _Stage, check: CheckResult, match: dict[str, str], what: str, instances: set[str] | None = None
        ) -> Plot:
    plot, start, step = stage.base(check.name, f"{what}: 1 is up, 0 is down, at each scrape.", "up")
    expr = stage.exprs(check, 1)[0]
    for s in stage.range(expr, start, step):
        if all(s.labels.get(k) == v for k, v in match.items()):
            inst = s.labels.get("instance", "?")
            if instances is None or inst in instances:
                plot.lines.append(Line(inst, _finite(s.values), kind="up"))
    plot.lines.sort(key=lambda line: line.label)
    return plot


def _targets_up(stage: _Stage, check: CheckResult) -> Plot:
    return _up(stage, check, {"job": check.service or ""}, f"Each scrape target of {check.service}")


def _health_probe(stage: _Stage, check: CheckResult) -> Plot:
    return _up(stage, check, {"service": check.service or ""}, f"The blackbox probe of {check.service}'s health "
                                                                 "endpoint")


def _rule_evaluation(stage: _Stage, check: CheckResult) -> Plot:
    plot, start, step = stage.base(check.name, f"Rule evaluations that failed in the last {stage.ctx.window}, "
                                   "as the window slides: any failure is a FAIL.", "")
    expr = stage.exprs(check, 1)[0]
    plot.lines.append(Line(f"failures over {stage.ctx.window}", _finite(series(stage.range(expr, start, step)))))
    plot.levels.append(Level("0 failures allowed", 0.0))
    return plot


# ---- canary ------------------------------------------------------------------------------------

def _canary_signal(stage: _Stage, check: CheckResult) -> Plot:
    ctx, g = stage.ctx, stage.ctx.g
    service = check.service or ""
    latency = check.name == "canary latency"
    starts = gc.canary_starts(ctx, check.name)
    if service not in starts:
        raise _NoPlot(f"no {g.canary_label}={g.canary_value!r} series for {service}: no canary to draw")
    since = starts[service]
    start, step = gc._canary_range(ctx, starts)
    bq, tq = stage.exprs(check, 2)[:2]
    bad, total = stage.range(bq, start, step), stage.range(tq, start, step)
    life = max(stage.at - since, step)
    what = f"slower than {g.latency_threshold:g}s" if latency else "that failed"
    plot = Plot(check.name, (
        f"The share of requests {what} on the canary and on the baseline since the canary started ({iso(since)}), "
        f"summed over its life as the gate judges it. The band is the canary's exact {g.confidence:.0%} bounds "
        f"at each instant (for the eye: the decision is the always-valid test in the reason). FAIL needs the "
        f"canary to be significantly worse and above the red line; PASS needs the green line ruled out."), "%",
        since - life * 0.1, stage.at, marks=[(since, "canary started")], step=step)
    side: dict[str, list[tuple[float, float, float]]] = {}
    for track in (g.canary_value, g.baseline_value):
        match = {"job": service, g.canary_label: track}
        side[track] = cumulative(series(bad, **match), series(total, **match), since, latency)
    canary, baseline = side[g.canary_value], side[g.baseline_value]
    band = []
    for t, k, n in canary:
        if n > 0:
            low, high = stats.clopper_pearson(k, n, g.confidence)
            band.append((t, low, high))
    plot.lines.append(Line(f"baseline ({g.canary_label}={g.baseline_value})",
                           [(t, k / n) for t, k, n in baseline if n > 0], "baseline"))
    plot.lines.append(Line(f"canary ({g.canary_label}={g.canary_value})", [(t, k / n) for t, k, n in canary if n > 0],
                           "canary", band, f"canary, {g.confidence:.0%} bounds"))
    rb = [(t, k / n) for t, k, n in baseline if n > 0]
    plot.levels += [
        Level(f"FAIL above: x{g.min_relative_increase:g} and +{g.min_absolute_increase * 100:g} pp over the baseline",
              points=[(t, max(r * g.min_relative_increase, r + g.min_absolute_increase)) for t, r in rb]),
        Level(f"PASS once ruled out: x{g.rule_out:g} and +{g.min_absolute_increase * 100:g} pp",
              points=[(t, max(r * g.rule_out, r + g.min_absolute_increase)) for t, r in rb], kind="pass")]
    return plot


def _canary_share(stage: _Stage, check: CheckResult) -> Plot:
    g = stage.ctx.g
    weight = (stage.canary_weight or 0) / 100
    plot, start, step = stage.base(check.name, (
        f"The canary's share of {check.service}'s requests over the last {stage.ctx.window}, as the window slides, "
        f"against --canary-weight {weight:.0%}: above the band is a routing error (FAIL), below it too little "
        "traffic to judge (hold)."), "%")
    by_track, every = stage.exprs(check, 2)[:2]
    canary = series(stage.range(by_track, start, step), job=check.service or "", **{g.canary_label: g.canary_value})
    total = series(stage.range(every, start, step), job=check.service or "")
    plot.lines.append(Line("canary share", ratio_points(canary, total)))
    plot.levels.append(Level(f"--canary-weight {weight:.0%}", weight, kind="target"))
    plot.spans.append(Span("intended share", max(min(weight / 2, weight - 0.02), 0.0),
                           min(max(2 * weight, weight + 0.02), 1.0), axis="y"))
    return plot


def _canary_targets(stage: _Stage, check: CheckResult) -> Plot:
    instances = {e.labels.get("instance", "") for e in check.evidence} or None
    return _up(stage, check, {"job": check.service or ""}, f"The canary's scrape targets of {check.service}", instances)


# ---- rollback ----------------------------------------------------------------------------------

def _sustained(stage: _Stage, check: CheckResult) -> Plot:
    g = stage.ctx.g
    errors = check.name == "error ratio sustained"
    duration = g.rollback_error_for if errors else g.p99_for
    limit = g.rollback_error_ratio if errors else g.p99_seconds
    points = max(int(parse_duration(duration) // gc.STEP), 1)
    seconds = max(link_span(stage.ctx.window, stage.at), 4 * points * gc.STEP)
    what = "error ratio" if errors else "p99 latency"
    plot, start, step = stage.base(check.name, (
        f"Each service's {what} per minute. The gate rolls back when a service is above the limit at each of the "
        f"last {points} minutes (shaded); a run above the limit is drawn thick."), "%" if errors else "s",
        seconds, gc.STEP)
    plot.spans = [Span(f"judged: the last {points} minutes", stage.at - points * gc.STEP, stage.at)]
    expr = stage.exprs(check, 1)[0]
    for s in sorted(stage.range(expr, start, step), key=lambda s: s.labels.get("job", "")):
        pts = _finite(s.values)
        job = s.labels.get("job", "?")
        plot.lines.append(Line(job, pts))
        run = [p for p in trailing_run(pts, limit) if p[0] >= stage.at - (points - 1) * gc.STEP - 1e-6]
        if run:
            held = len(run) >= points and run[-1][0] >= stage.at - 1e-6
            plot.lines.append(Line(f"{job}: above for {len(run)} of {points} minutes"
                                   + (" (sustained)" if held else ""), run, kind="run"))
    plot.levels.append(Level(f"limit {limit * 100:g} %" if errors else f"limit {limit:g}s", limit))
    return plot


def _services_down(stage: _Stage, check: CheckResult) -> Plot:
    g = stage.ctx.g
    apps = gc.traffic_services(stage.ctx)
    plot, start, step = stage.base(check.name, (
        f"The share of the {len(apps)} application services whose every target is down (up == 0): the gate "
        f"rolls back at {g.services_down_ratio:.0%}. A service with no up series is unknown, not down."), "%")
    expr = stage.exprs(check, 1)[0]
    samples = stage.range(expr, start, step)
    ups = {app: [series([s]) for s in samples if s.labels.get("job") == app] for app in apps}
    times = sorted({t for per in ups.values() for one in per for t in one})
    pts = []
    for t in times:
        seen = [[one[t] for one in ups[app] if t in one] for app in apps]
        down = sum(1 for vals in seen if vals and all(v == 0 for v in vals))
        pts.append((t, down / len(apps) if apps else 0.0))
    plot.lines.append(Line("services down", pts))
    plot.levels.append(Level(f"roll back at {g.services_down_ratio:.0%}", g.services_down_ratio))
    return plot


def _pool(stage: _Stage, check: CheckResult) -> Plot:
    g = stage.ctx.g
    plot, start, step = stage.base(check.name, (
        f"The share of each service's database pool in use: the gate rolls back at {g.pool_saturation:.0%}."), "%")
    expr = stage.exprs(check, 1)[0]
    for s in sorted(stage.range(expr, start, step), key=lambda s: s.labels.get("job", "")):
        plot.lines.append(Line(s.labels.get("job", "?"), _finite(s.values)))
    plot.levels.append(Level(f"exhausted at {g.pool_saturation:.0%}", g.pool_saturation))
    return plot


def _slo(stage: _Stage, check: CheckResult, prefix: str) -> SLO:
    for slo in stage.ctx.spec.slos:
        if slo.service == check.service and check.name == prefix + slo.name:
            return slo
    raise _NoPlot(f"no SLO of {check.service} is named {check.name.removeprefix(prefix)!r} in the spec")


def _fast_burn(stage: _Stage, check: CheckResult) -> Plot:
    slo = _slo(stage, check, "fast burn ")
    first = conv.burn_windows(slo, "page")[0]
    limit = first.threshold(slo)
    seconds = max(link_span(stage.ctx.window, stage.at), 2 * parse_duration(first.long))
    plot, start, step = stage.base(check.name, (
        f"The {slo.name} SLO's error ratio over {first.short} and over {first.long}: the gate rolls back when both "
        f"are above {first.factor:g}x the budget ({limit:.3g}) at the evaluation instant."), "%", seconds)
    plot.spans = []
    for window, expr in zip((first.short, first.long), stage.exprs(check, 2)[:2], strict=True):
        plot.lines.append(Line(f"over {window}", _finite(series(stage.range(expr, start, step)))))
    plot.levels.append(Level(f"{first.factor:g}x the budget", limit))
    return plot


# ---- budget ------------------------------------------------------------------------------------

def _budget(stage: _Stage, check: CheckResult) -> Plot:
    slo = _slo(stage, check, "error budget ")
    g = stage.ctx.g
    period = slo.period_seconds
    over = f"over the last {slo.period}"
    expr = ""
    if slo.calendar:   # the check measured since the period start; the plot reads the rules' record
        period = max(stage.at - calendar.period_start(slo.calendar, stage.at), 60.0)
        over = f"since the {slo.calendar.unit} started in {slo.calendar.timezone}"
        expr = str(conv.record_sel(conv.BUDGET_REMAINING, slo))
    plot, start, step = stage.base(check.name, (
        f"The share of the {slo.period_text} error budget left, {over}, in every series of the "
        f"budget record: the least decides, and a promotion needs {g.budget_min_remaining:.0%}."), "%",
        period, 60.0)
    plot.spans = []
    expr = expr or stage.exprs(check, 1)[0]
    for s in stage.range(expr, start, step):
        extra = {k: v for k, v in s.labels.items() if k not in ("__name__", "service", "slo")}
        label = ", ".join(f"{k}={v}" for k, v in sorted(extra.items())) or "budget left"
        plot.lines.append(Line(label, _finite(s.values)))
    plot.lines.sort(key=lambda line: line.label)
    plot.levels.append(Level(f"minimum {g.budget_min_remaining:.0%}", g.budget_min_remaining))
    plot.caption += f" Points every {format_duration(step)}."
    if check.coverage:
        plot.caption += f" The SLI's {check.coverage.text()}."
    return plot


BUILDERS: dict[str, Callable[[_Stage, CheckResult], Plot]] = {
    "error ratio": _smoke_ratio,
    "latency": _smoke_ratio,
    "targets up": _targets_up,
    "health probe": _health_probe,
    "rule evaluation": _rule_evaluation,
    "canary error ratio": _canary_signal,
    "canary latency": _canary_signal,
    "canary traffic share": _canary_share,
    "canary targets up": _canary_targets,
    "error ratio sustained": _sustained,
    "p99 latency sustained": _sustained,
    "services down": _services_down,
    "db pool": _pool,
}
PREFIXED: dict[str, Callable[[_Stage, CheckResult], Plot]] = {
    "fast burn ": _fast_burn,
    "error budget ": _budget,
}
