"""promtool unit tests for every SLO, written beside its rules and run by `promtool test rules`.

Each scenario starts from hours of healthy traffic and asserts what an on-call engineer cares
about: a total outage pages within the time the burn-rate maths predicts; a burn just below the
page threshold does not page; a slow burn opens a ticket and does not page; healthy traffic and
no traffic stay silent; a short spike that spends well under 2 % of the budget does not page;
an SLI with no series raises the absent alert; min_events keeps a low-traffic service quiet, and
min_samples a young Prometheus's one failed scrape."""

from __future__ import annotations

import math
import re
import textwrap
from functools import lru_cache

from lukhas_obs import calendar, promql
from lukhas_obs import conventions as conv
from lukhas_obs.durations import format_duration, iso, parse_duration
from lukhas_obs.errors import GenerateError
from lukhas_obs.generate import slo as engine
from lukhas_obs.model import (
    EVENT_SLIS,
    SLO,
    AvailabilitySLI,
    ExpressionRatioSLI,
    LatencySLI,
    RatioSLI,
    RawSLI,
    Spec,
    ThresholdSLI,
    Timeslices,
)
from lukhas_obs.promql import Selector

RPS = 10.0                 # healthy traffic, requests per second
HEALTHY_BURN = 0.1         # healthy services spend a tenth of their budget
WARMUP = 3600              # seconds of healthy traffic before anything happens
SPIKE_BUDGET_SHARE = 0.005 # a short spike spends 0.5 % of the period's budget
SAMPLE_VALUES = ("500", "503", "error", "failure", "fail", "false", "0", "1", "true", "slow", "x")
OTHER_VALUES = ("200", "ok", "success", "true", "1", "0", "good", "fast", "y")


class TestGenerationError(GenerateError):
    """No label value could be found for a scenario: exit 2 naming the matcher, not a crash."""


# ---- label sets that satisfy the SLI's selectors -------------------------------------------

def _matches(m: promql.Matcher, value: str) -> bool:
    if m.op == "=":
        return value == m.value
    if m.op == "!=":
        return value != m.value
    hit = re.fullmatch(m.value, value) is not None
    return hit if m.op == "=~" else not hit


def _candidates(m: promql.Matcher):
    if m.op == "=":
        yield m.value
        return
    example = regex_example(m.value)
    derived = re.sub(r"[\^$()?:]", "", m.value.split("|")[0]).replace(".", "0").replace("\\", "")
    yield from ((example,) if example is not None else ()) + (derived, *SAMPLE_VALUES, *OTHER_VALUES)


@lru_cache(maxsize=1024)
def regex_example(pattern: str) -> str | None:
    """A short string the whole of `pattern` matches (`5..` -> "500", `[5]{3}` -> "555",
    `a|b` -> "a"), read from Python's own regex parse tree; None when there is none to build."""
    from re import _parser  # type: ignore[attr-defined]  # stable since 3.11, the parser re uses

    try:
        tree = _parser.parse(pattern)
    except (re.error, RecursionError, OverflowError):
        return None

    def char_in(items) -> str | None:
        negate = any(op is _parser.NEGATE for op, _ in items)
        allowed = set()
        for op, arg in items:
            if op is _parser.LITERAL:
                allowed.add(chr(arg))
            elif op is _parser.RANGE:
                allowed.update(chr(c) for c in range(arg[0], min(arg[1], arg[0] + 64) + 1))
            elif op is _parser.CATEGORY:
                allowed.update({"CATEGORY_DIGIT": "0", "CATEGORY_WORD": "a", "CATEGORY_SPACE": " "}.get(str(arg), ""))
        if not negate:
            return min(allowed) if allowed else None
        return next((c for c in "0a_A-x9" if c not in allowed), None)

    def build(nodes) -> str | None:
        out = []
        for op, arg in nodes:
            if op is _parser.LITERAL:
                piece: str | None = chr(arg)
            elif op is _parser.NOT_LITERAL:
                piece = "a" if chr(arg) != "a" else "b"
            elif op is _parser.ANY:
                piece = "0"
            elif op is _parser.IN:
                piece = char_in(arg)
            elif op in (_parser.MAX_REPEAT, _parser.MIN_REPEAT, getattr(_parser, "POSSESSIVE_REPEAT", None)):
                low, _high, sub = arg
                one = build(sub)
                piece = None if one is None else one * min(low, 64)
            elif op is _parser.SUBPATTERN:
                piece = build(arg[-1])
            elif op is _parser.BRANCH:
                piece = next((b for b in (build(branch) for branch in arg[1]) if b is not None), None)
            elif op is _parser.AT:
                piece = ""
            else:
                return None
            if piece is None:
                return None
            out.append(piece)
        return "".join(out)

    found = build(tree)
    return found if found is not None and re.fullmatch(pattern, found) else None


def _labels_for(sel: Selector, base: dict[str, str], also: Selector | None = None) -> dict[str, str]:
    """Labels for a series that `sel` (and `also`, when given) selects."""
    labels = dict(base)
    for m in sel.matchers + (also.matchers if also else ()):
        if m.name in labels and _matches(m, labels[m.name]):
            continue
        for value in _candidates(m):
            ok = _matches(m, value) and all(_matches(o, value) for o in sel.matchers + (also.matchers if also else ())
                                            if o.name == m.name)
            if ok:
                labels[m.name] = value
                break
        else:
            raise TestGenerationError(f"cannot find a value of {m.name} that {m.render()} selects")
    return labels


def _labels_not(sel: Selector, labels: dict[str, str], total: Selector) -> dict[str, str]:
    """`labels` changed so that `sel` no longer selects the series but `total` still does."""
    for m in sel.matchers:
        for value in OTHER_VALUES + SAMPLE_VALUES:
            trial = {**labels, m.name: value}
            if not _matches(m, value) and all(_matches(o, trial.get(o.name, "")) for o in total.matchers):
                return trial
    raise TestGenerationError(f"cannot build a series that {total} selects and {sel} does not")


def _series(metric: str, labels: dict[str, str]) -> str:
    return _series_text(metric, tuple(labels.items()))


@lru_cache(maxsize=4096)
def _series_text(metric: str, labels: tuple[tuple[str, str], ...]) -> str:
    """Every scenario of an SLO feeds the same series: each written once."""
    return Selector(metric).where(**dict(labels)).render()


# ---- value sequences -----------------------------------------------------------------------

class Phase:
    def __init__(self, seconds: float, error_ratio: float, rps: float = RPS):
        self.seconds, self.error_ratio, self.rps = seconds, error_ratio, rps


def _counter(phases: list[Phase], step: float, share) -> str:
    """A counter's values, one per input step: `share(phase)` is its per-second increase."""
    return _counter_text(tuple((int(round(ph.seconds / step)), round(share(ph) * step, 9)) for ph in phases))


@lru_cache(maxsize=4096)
def _counter_text(steps: tuple[tuple[int, float], ...]) -> str:
    """The values of a counter growing by `inc` at each of `n` steps, per (n, inc) phase. SLOs
    with the same objective and scrape interval share these, scenario for scenario."""
    parts, cur = ["0"], 0.0
    for n, inc in steps:
        if n <= 0:
            continue
        text, cur = _segment(cur, inc, n)
        parts.append(text)
    return " ".join(parts)


@lru_cache(maxsize=4096)
def _segment(cur: float, inc: float, n: int) -> tuple[str, float]:
    """n values after `cur`, `inc` apart, and the last of them as promtool will compute it.

    promtool expands `a+bxn` by repeated float addition, so the value where one phase ends is
    computed the same way here; starting the next phase from a rounder number could make the
    counter dip by 1e-11, which Prometheus reads as a counter reset."""
    start = cur + inc
    last = start
    for _ in range(n - 1):
        last += inc
    return f"{start!r}+{inc!r}x{n - 1}", last


def _gauge(phases: list[Phase], step: float, value) -> str:
    parts = []
    for i, ph in enumerate(phases):
        n = int(round(ph.seconds / step)) + (1 if i == 0 else 0)
        if n > 0:
            parts.append(f"{promql.number(value(ph))}+0x{n - 1}")
    return " ".join(parts)


def counters(slo: SLO) -> RatioSLI | None:
    """The counters a ratio SLI, or an expression SLI, is a ratio of, as the selector SLI it equals.
    An expression qualifies when each of its queries is `sum(rate(S[{{.window}}]))` (or
    increase(), or with `or vector(0)`), and a raw error ratio when it is `E / T` or `1 - (G / T)`
    of those: input series of S then set the SLI to a known error ratio. None for any other
    expression: no input can be built whose error ratio is known without evaluating it."""
    def summed(template: str) -> Selector | None:
        return promql.summed_rate(promql.parse(promql.at_window(template, "5m")))

    match slo.sli:
        case RatioSLI() as sli:
            return sli
        case RawSLI(error_ratio_query=query):
            found = promql.ratio_parts(promql.parse(promql.at_window(query, "5m")))
            if found is None:
                return None
            num, den = promql.summed_rate(found[0]), promql.summed_rate(found[1])
            return None if num is None or den is None else RatioSLI(total=den, counted=num, good=found[2])
        case ExpressionRatioSLI(total_query=total_query, counted_query=counted_query, good=good):
            total, counted = summed(total_query), summed(counted_query)
            return None if total is None or counted is None else RatioSLI(total=total, counted=counted, good=good)
    return None


def undriven(slo: SLO) -> str | None:
    """Why the SLO's burn-rate alerts have no scenarios (None: they have)."""
    if not isinstance(slo.sli, ExpressionRatioSLI | RawSLI) or counters(slo) is not None:
        return None
    shape = "E / T or 1 - (G / T)" if isinstance(slo.sli, RawSLI) else "one"
    return (f"Not scenario-tested: the page and ticket alerts of {slo.service}/{slo.name}. Its SLI expression is not "
            f"{shape} of sum(rate(S[{{{{.window}}}}])) (or increase()) of plain selectors, so no input series can be "
            "built whose error ratio is known without evaluating the expression itself. Only the absent alert is "
            "tested here; `promtool check rules` checks the rules.")


def header_note(slo: SLO) -> str:
    """Lines for the test file's header saying what it does not test ("" when it tests all)."""
    notes = [n for n in (undriven(slo), _slice_note(slo)) if n]
    return "".join("\n" + "\n".join("# " + line for line in textwrap.wrap(n, 96)) for n in notes)


def _slice_note(slo: SLO) -> str | None:
    if slo.timeslices is None:
        return None
    return (f"Timeslices: promtool evaluates every rule group at this file's evaluation_interval, so here the "
            f"{slo.timeslices.window} slice record is sampled at that interval (overlapping slices); Prometheus "
            f"samples it once a slice. The scenarios use phases of constant error ratio, in which every slice is "
            "alike, so the share of bad slices is the same either way.")


def input_series(spec: Spec, slo: SLO, phases: list[Phase], step: float) -> list[dict]:
    sli = slo.sli
    job = {"job": slo.service}
    if isinstance(sli, RatioSLI | ExpressionRatioSLI | RawSLI):
        parts = counters(slo)
        assert parts is not None, "scenarios only for SLIs whose counters are known"
        total, err_sel, bad_is_selected = parts.total, parts.counted, not parts.good
        same_metric = err_sel.metric == total.metric
        sel_labels = _labels_for(err_sel, job, total if same_metric else None)
        if same_metric:
            other = _labels_not(err_sel, sel_labels, total)
            bad, fine = (sel_labels, other) if bad_is_selected else (other, sel_labels)
            return [
                {"series": _series(total.metric, bad),
                 "values": _counter(phases, step, lambda p: p.rps * p.error_ratio)},
                {"series": _series(total.metric, fine),
                 "values": _counter(phases, step, lambda p: p.rps * (1 - p.error_ratio))},
            ]
        total_labels = _labels_for(total, job)
        part = (lambda p: p.rps * p.error_ratio) if bad_is_selected else (lambda p: p.rps * (1 - p.error_ratio))
        return [
            {"series": _series(total.metric, total_labels), "values": _counter(phases, step, lambda p: p.rps)},
            {"series": _series(err_sel.metric, sel_labels), "values": _counter(phases, step, part)},
        ]
    if isinstance(sli, LatencySLI):
        base = _labels_for(sli.metric, job)
        name = sli.metric.metric
        histogram = spec.metric(name)
        assert histogram is not None, "the loader requires a latency SLI's metric to be in the catalogue"
        out = []
        for b in list(histogram.buckets) + [math.inf]:
            le = "+Inf" if b == math.inf else promql.number(b)
            if b < sli.threshold:
                share = lambda p: 0.0  # noqa: E731 - fast requests land on the threshold's bucket
            elif b == sli.threshold:
                share = lambda p: p.rps * (1 - p.error_ratio)  # noqa: E731
            else:
                share = lambda p: p.rps  # noqa: E731 - slow ones land just above it
            out.append({"series": _series(f"{name}_bucket", {**base, "le": le}),
                        "values": _counter(phases, step, share)})
        out.append({"series": _series(f"{name}_count", base), "values": _counter(phases, step, lambda p: p.rps)})
        return out
    sel = conv.total_selector(slo)
    labels = {**sel.labels_equal(), "instance": f"{slo.service}:1"}
    if isinstance(sli, AvailabilitySLI):
        return [{"series": _series(sel.metric, labels),
                 "values": _gauge(phases, step, lambda p: 0 if p.error_ratio >= 0.5 else 1)}]
    assert isinstance(sli, ThresholdSLI), f"no scenarios for a {sli.kind} SLI"
    good_value, bad_value = _threshold_values(sli.min, sli.max)
    labels = _labels_for(sli.metric, labels)
    return [{"series": _series(sel.metric, labels),
             "values": _gauge(phases, step, lambda p: bad_value if p.error_ratio >= 0.5 else good_value)}]


def _threshold_values(low: float | None, high: float | None) -> tuple[float, float]:
    """A gauge value inside [low, high] (5 % clear of the bound, like a 10 Hz tick rate over a
    9.5 Hz floor) and one well outside it."""
    if low is not None and high is not None:
        return (low + high) / 2, low - (abs(low) * 0.5 or 1)
    if low is not None:
        return low + (abs(low) * 0.05 or 0.5), low - (abs(low) * 0.5 or 1)
    assert high is not None, "the loader requires min, max or both for a threshold SLI"
    return high - (abs(high) * 0.05 or 0.5), high + (abs(high) * 0.5 or 1)


# ---- expected alerts -----------------------------------------------------------------------

def _expectations(spec: Spec, slo: SLO) -> dict[str, dict]:
    """What each of the SLO's alerts looks like when it fires, straight from the rule generator."""
    out = {}
    for rule in engine.slo_alerts(spec, slo):
        labels = dict(rule["labels"])
        # absent(sel) keeps its = labels
        if rule["alert"] == conv.ALERT_ABSENT and not isinstance(slo.sli, ExpressionRatioSLI | RawSLI):
            labels = {**conv.total_selector(slo).labels_equal(), **labels}
        out[rule["alert"]] = {"exp_labels": labels, "exp_annotations": rule["annotations"]}
    return out


def _check(at: float, name: str, firing: bool, expected: dict[str, dict]) -> dict:
    return {"eval_time": format_duration(at), "alertname": name,
            "exp_alerts": [expected[name]] if firing and name in expected else []}


def _ceil_to(seconds: float, step: float) -> float:
    return math.ceil(seconds / step) * step


def scenarios(spec: Spec, slo: SLO) -> list[dict]:
    # Counters are sampled once a minute (rate() does not care, and the long scenarios run 4x
    # faster); samples of time-based SLIs keep the real scrape interval, because one bad sample
    # weighs in proportion to how many samples there are.
    events = isinstance(slo.sli, EVENT_SLIS + (RawSLI,))   # raw: only when driven by counters
    slices = slo.timeslices
    step = parse_duration(spec.prometheus.scrape_interval)
    if events and slices is None:   # a slice's rate() needs the real scrape interval
        step = max(step, 60.0)
    evaluation = parse_duration(spec.prometheus.slo_evaluation_interval)
    budget = slo.error_budget
    # healthy: a tenth of the budget's error ratio, or of what a slice may hold
    healthy = HEALTHY_BURN * (budget if slices is None else slices.bad_above) if events else 0.0
    page, ticket, absent = slo.page_alert.name, slo.ticket_alert.name, conv.ALERT_ABSENT
    expected = _expectations(spec, slo)
    out = []

    def add(name: str, phases: list[Phase], checks: list[dict], extra_series=None, exprs=None):
        # a disabled alert has no rule to test; a scenario about nothing else goes with it
        checks = [c for c in checks if c["alertname"] in expected]
        if not checks:
            return
        series = extra_series if extra_series is not None else input_series(spec, slo, phases, step)
        out.append({"name": name, "interval": format_duration(step), "input_series": series,
                    "alert_rule_test": checks, **({"promql_expr_test": exprs} if exprs else {})})

    absent_for = parse_duration(spec.prometheus.slo_absent_for)
    absent_checks = [_check(absent_for + 300, absent, True, expected), _check(absent_for + 300, page, False, expected)]
    unrelated = [{"series": 'unrelated_metric{job="other"}', "values": "1+0x100"}]
    if undriven(slo):
        add("an SLI with no series raises the absent alert, and nothing else", [], absent_checks, unrelated)
        return out

    # The outage starts after hours of healthy traffic, at least a full longest page window, so
    # that the fastest pair (5m/1h) is what pages, as in a Prometheus that has been running for a
    # while. The healthy hours are checked silent on the way, and (but for timeslice SLOs) a short
    # spike an hour before the outage must not page: one history for three claims, since promtool's
    # cost grows with the square of a scenario's length (every long window re-reads all of it).
    detect = engine.detection_seconds(slo, 1.0)
    assert detect is not None, f"a total outage never meets {slo.id}'s page condition"
    history = max(3 * 3600, max(parse_duration(w.long) for w in conv.burn_windows(slo, "page")))
    if slices is not None:   # plus the slice that has to go bad first
        detect += parse_duration(slices.window)
    fires_by = _ceil_to(detect + evaluation + step, evaluation)   # a sample, then the evaluation that sees it
    pages = f"a total outage pages within {format_duration(_ceil_to(detect, 1))} (burn-rate maths) plus evaluation"
    calm = f"{format_duration(history)} of healthy traffic stays silent"
    quiet = [_check(history, n, False, expected) for n in (page, ticket, absent)]
    outage = Phase(fires_by + 600, 1.0)

    if slices is not None:
        add(f"{calm}; then {pages}", [Phase(history, healthy), outage],
            quiet + [_check(history + fires_by, page, True, expected)])
        _slice_scenarios(slo, slices, events, (healthy, history, evaluation), add, absent_checks, expected)
        return out + calendar_scenarios(spec, slo, step)

    if events:   # errors worth SPIKE_BUDGET_SHARE of the period's budget, in as few input steps as possible
        spike_errors = SPIKE_BUDGET_SHARE * budget * slo.period_seconds * RPS
        spike_steps = max(1, math.ceil(spike_errors / (RPS * step)))
        spike, spike_ratio = spike_steps * step, min(1.0, spike_errors / (RPS * step * spike_steps))
        lead, seen = history, None
        share = spike_ratio * RPS * spike / (budget * slo.period_seconds * RPS)
    else:        # bad samples from an evaluation on: the evaluations that see them are what counts
        spike_ratio, (lead, spike, seen) = 1.0, _sample_spike(slo, history, step, evaluation)
        share = seen * evaluation / (budget * slo.period_seconds)
    start = lead if events else lead + step   # the first bad sample, or the counters' first step
    after = start + spike + 3600   # the outage starts an hour after the spike
    # after a longest page window of healthy history: in a younger Prometheus the spike is a
    # larger share of what the long windows hold (and would page at long periods)
    # the hour summed holds the whole spike: the SLI counted every bad evaluation
    seen_test = None if seen is None else [
        _expr_test(slo, f"sum_over_time({conv.record_sel(conv.ERRORS_COUNT, slo)}[1h])", start + spike + 300, seen)]
    counted = "" if seen is None else f" ({seen} bad evaluation{'s' if seen > 1 else ''})"
    add(f"{calm}; a {format_duration(spike)} spike at {spike_ratio:.0%} errors, {share * 100:.2g} % of the budget"
        f"{counted}, does not page; an hour later {pages}",
        [Phase(lead, healthy), Phase(spike, spike_ratio), Phase(3600, healthy), outage],
        quiet + [_check(start + spike + t, page, False, expected) for t in (evaluation, 300, 1800, 3600)]
        + [_check(after + fires_by, page, True, expected)], exprs=seen_test)

    add("an SLI with no series raises the absent alert, and nothing else", [], absent_checks, unrelated)
    out += calendar_scenarios(spec, slo, step)

    if not events:
        _young_scenarios(spec, slo, step, add, expected)
        return out

    lowest_page = min(w.factor for w in conv.burn_windows(slo, "page"))
    below = 0.9 * lowest_page
    # from the first sample: no healthy history to dilute the burn, the windows hold nothing else
    add(f"a burn at {below:g}x the budget rate, just below the page threshold, does not page",
        [Phase(6.5 * 3600, below * budget)],
        [_check(h * 3600, page, False, expected) for h in (1, 3, 6.5)])

    slow = 0.6 * lowest_page
    add(f"a slow burn at {slow:g}x opens a ticket and does not page",
        [Phase(3 * 3600, slow * budget)],
        [_check(3 * 3600, ticket, True, expected), _check(3 * 3600, page, False, expected)])

    add("no traffic stays silent", [Phase(3 * 3600, 0.0, rps=0.0)],
        [_check(3 * 3600, n, False, expected) for n in (page, ticket, absent)])

    if slo.min_events:
        low_rps = slo.min_events / (4 * 3600)
        add(f"with min_events {slo.min_events}, a handful of failed requests does not page",
            [Phase(WARMUP, healthy, rps=low_rps), Phase(3600, 1.0, rps=low_rps)],
            [_check(WARMUP + t, page, False, expected) for t in (600, 1800, 3600)])
    return out


def _on_grid(at: float, step: float, evaluation: float) -> float:
    """The first sample time (a multiple of `step`) at or after `at` that an evaluation falls on,
    so that the evaluation counts the sample (one between two evaluations is never counted)."""
    t = _ceil_to(at, step)
    while t % evaluation and t < at + step * evaluation:
        t += step
    return t


def _sample_spike(slo: SLO, history: float, step: float, evaluation: float) -> tuple[float, float, int]:
    """A time-based SLI's spike: (healthy lead, spike length, evaluations that see it). The first
    bad sample lands on an evaluation at or after `history` (one between two evaluations is never
    counted), and there are as few bad samples as make about SPIKE_BUDGET_SHARE of the budget in
    evaluations, at least one: evaluation t counts the latest sample at or before it."""
    wanted = max(1, math.floor(SPIKE_BUDGET_SHARE * slo.error_budget * slo.period_seconds / evaluation))
    first = _on_grid(history, step, evaluation)
    samples = math.floor((wanted - 1) * evaluation / step) + 1
    seen = math.ceil(samples * step / evaluation)
    return first - step, samples * step, seen


def _expr_test(slo: SLO, expr: str, at: float, value: float) -> dict:
    """A promtool expression test: at `at`, `expr` gives one sample, with the SLO's record labels
    and `value`."""
    labels = {**conv.slo_labels(slo), **dict(slo.labels)}
    return {"expr": expr, "eval_time": format_duration(at),
            "exp_samples": [{"labels": "{" + ", ".join(f"{k}={promql.quote(v)}" for k, v in sorted(labels.items()))
                             + "}", "value": value}]}


def _young_scenarios(spec: Spec, slo: SLO, step: float, add, expected: dict[str, dict]) -> None:
    """A time-based SLI in a Prometheus minutes old: one failed scrape is a large share of the few
    samples every window holds, and does not page (min_samples); an outage pages once the fastest
    pair's long window holds min_samples samples, to the evaluation."""
    fastest = max(conv.burn_windows(slo, "page"), key=lambda w: w.factor)
    needed = conv.min_samples(spec.prometheus, slo, fastest)
    if needed is None:
        return
    page = slo.page_alert.name
    evaluation = parse_duration(spec.prometheus.slo_evaluation_interval)
    failed = _on_grid(120, step, evaluation)   # two minutes or more after the start
    add(f"in a Prometheus {format_duration(failed)} old, one failed scrape does not page",
        [Phase(failed - step, 0.0), Phase(step, 1.0), Phase(3600, 0.0)],
        [_check(failed + t, page, False, expected) for t in (0, evaluation, 300)])
    # the guard is met at the evaluation holding the needed-th sample (the first is at 0); an
    # outage from 5 minutes on has by then filled both windows of the fastest pair past its threshold
    met = (needed - 1) * evaluation
    if met >= 1200:
        add(f"an outage in a Prometheus 5m old pages once the {fastest.long} window holds {needed} samples "
            f"({format_duration(met)})",
            [Phase(300, 0.0), Phase(met + 600, 1.0)],
            [_check(met - evaluation, page, False, expected), _check(met, page, True, expected)])


def _slice_scenarios(slo: SLO, slices: Timeslices, events: bool, timing: tuple[float, float, float], add,
                     absent_checks: list[dict], expected: dict[str, dict]) -> None:
    """What sets a timeslice SLO apart: errors inside the slice target spend no budget however long
    they last (where an occurrence SLO would page), and errors just past it page like an outage."""
    page, ticket, absent = slo.page_alert.name, slo.ticket_alert.name, conv.ALERT_ABSENT
    add("an SLI with no series raises the absent alert, and nothing else", [], absent_checks,
        [{"series": 'unrelated_metric{job="other"}', "values": "1+0x100"}])
    if not events:
        return
    healthy, history, evaluation = timing
    inside, outside = 0.8 * slices.bad_above, min(1.0, 1.25 * slices.bad_above)
    add(f"{inside:.4g} errors in every slice, inside the slice target ({slices.bad_above:.4g}), spends no budget "
        "and stays silent",
        [Phase(WARMUP, healthy), Phase(6.5 * 3600, inside)],
        [_check(WARMUP + h * 3600, n, False, expected) for h in (1, 6.5) for n in (page, ticket)])
    detect = engine.detection_seconds(slo, 1.0)
    assert detect is not None, f"a slice outage never meets {slo.id}'s page condition"
    fires_by = _ceil_to(detect + parse_duration(slices.window) + 3 * evaluation, evaluation)
    add(f"{outside:.4g} errors in every slice, just past the slice target, pages",
        [Phase(history, healthy), Phase(fires_by + 600, outside)],
        [_check(history, page, False, expected), _check(history + fires_by, page, True, expected)])
    add("no traffic stays silent (slices without data do not count)", [Phase(3 * 3600, 0.0, rps=0.0)],
        [_check(3 * 3600, n, False, expected) for n in (page, ticket, absent)])


def calendar_boundary(slo: SLO) -> float | None:
    """The first start of a calendar SLO's period that promtool reaches cheaply (its tests start
    at 1970-01-01T00:00Z and evaluate every group from there): the first day's, in a zone west of
    UTC (a month or quarter starts at local midnight, hours after 00:00Z). None otherwise."""
    if slo.calendar is None:
        return None
    start = calendar.period_start(slo.calendar, 43200)
    return start if 3600 <= start <= 43200 else None


def calendar_scenarios(spec: Spec, slo: SLO, step: float) -> list[dict]:
    """The budget starts afresh at the period start in the SLO's zone: an outage that ends
    10 minutes before the boundary overspends the budget, and an hour into the new period the
    whole budget is there again."""
    boundary = calendar_boundary(slo)
    if boundary is None:
        return []
    remaining = conv.record_sel(conv.BUDGET_REMAINING, slo)
    checks = [(boundary - 900, f"{remaining} < bool 0"), (boundary + 3600, f"{remaining} == bool 1")]
    cal = slo.calendar
    assert cal is not None, "calendar_boundary is None for a rolling SLO"
    return [{
        "name": f"the budget starts afresh at the {cal.unit}'s start in {cal.timezone} "
                f"({iso(boundary)}): overspent before, whole after",
        "interval": format_duration(step),
        "input_series": input_series(spec, slo, [Phase(boundary - 600, 1.0), Phase(4800, 0.0)], step),
        "promql_expr_test": [_expr_test(slo, expr, at, 1) for at, expr in checks],
    }]


def slo_test_file(spec: Spec, slo: SLO) -> dict:
    return {
        "rule_files": [f"slo-{slo.id}.rules.yml"],
        "evaluation_interval": spec.prometheus.slo_evaluation_interval,
        "tests": scenarios(spec, slo),
    }
