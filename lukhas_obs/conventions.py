"""The conventions every part of lukhas-obs shares: the names of jobs, records and alerts, the
burn-rate windows of an SLO, and the SLI maths (which series count as errors and as all, over a
window). The generators write rules from these, the gate and the dashboards read the same series
back, the OpenSLO export describes them: one definition each.

Record names follow `level:metric:operations`; every series carries `service` and `slo` labels.

  slo:sli_errors:rate5m / slo:sli_total:rate5m   event SLIs (ratio, latency): per-second rates
  slo:sli_errors:count  / slo:sli_total:count    time SLIs (availability, threshold): per-evaluation
                                                 counts of bad and all targets or samples
  slo:sli_error:ratio_rate<W>                    error ratio over window W, for every alert window
                                                 and for the SLO period (a raw SLI records only
                                                 these: its expression per window, see query_windows)
  slo:sli_slice:bad                              timeslice SLOs: 1 when the last slice's error ratio
                                                 broke the slice target, 0 when not, no sample when
                                                 the slice had no data; every ratio_rate<W> is then
                                                 the share of bad slices in W
  slo:sli_error:ratio_period                     a calendar SLO's error ratio over its period so far
                                                 (this week, month or quarter in its time zone)
  slo:calendar_period:phase, <5m record>_period   which period an evaluation falls in (a number the
                                                 two periods before do not share, calendar.phase),
                                                 and the 5m records again with it as a `phase` label
  slo:objective:ratio, slo:error_budget:remaining_ratio, slo:error_budget:burn_rate1h"""

from __future__ import annotations

import ipaddress
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import yaml

from lukhas_obs import calendar, promql
from lukhas_obs.durations import format_duration, parse_duration
from lukhas_obs.model import (
    EVENT_SLIS,
    SAMPLE_SLIS,
    SLO,
    AvailabilitySLI,
    ExpressionRatioSLI,
    LatencySLI,
    PrometheusSettings,
    RatioSLI,
    RawSLI,
    Spec,
    ThresholdSLI,
    Timeslices,
)
from lukhas_obs.promql import Selector

BLACKBOX_JOB = "blackbox-health"   # the scrape job of the health probes; its series carry `service`

ERRORS_RATE = "slo:sli_errors:rate5m"
TOTAL_RATE = "slo:sli_total:rate5m"
ERRORS_COUNT = "slo:sli_errors:count"
TOTAL_COUNT = "slo:sli_total:count"
OBJECTIVE = "slo:objective:ratio"
BUDGET_REMAINING = "slo:error_budget:remaining_ratio"
BURN_RATE = "slo:error_budget:burn_rate1h"
SLICE_BAD = "slo:sli_slice:bad"
PERIOD_RATIO = "slo:sli_error:ratio_period"   # a calendar SLO's period so far
PERIOD_PHASE = "slo:calendar_period:phase"    # which period an evaluation falls in (calendar.phase)
ALERT_ABSENT = "SLOMetricsAbsent"


MIN_RETENTION = 30 * 86400   # the stack keeps at least 30 days of samples (the runbook's)


def prometheus_retention(spec: Spec) -> str:
    """How long the stack's Prometheus keeps samples: 30 days, or what the longest SLO reads back
    (its rolling period, or a calendar period's lookback: 93d for a quarter), whichever is longer;
    with less, a quarter's budget would silently be measured over 30 days."""
    needed = [parse_duration(calendar.LOOKBACK[s.calendar.unit]) if s.calendar else s.period_seconds
              for s in spec.slos]
    return format_duration(max([MIN_RETENTION, *needed]))


GATE_API_PATH = "/v1/gate"   # where `slo-gate serve` answers, and the generated Argo/Flagger objects ask


def traffic_services(spec: Spec, services: list[str]) -> list[str]:
    """Those of `services` that carry the gate's request traffic: the ones the request counter's
    catalogue entry lists, or every application service when it lists none."""
    req = spec.gates.requests
    metric = spec.metric(req.metric) if req else None
    declared = set(metric.services) if metric and metric.services else {
        s.name for s in spec.services if s.kind == "application"}
    return [s for s in services if s in declared]


ALERTMANAGER_SECRETS = "/etc/alertmanager/secrets"   # where the stack mounts <secrets_dir>/alertmanager

# Ports the compose stack publishes on stack.bind_address (and the programs listen on).
PROMETHEUS_PORT = 9090
ALERTMANAGER_PORT = 9093


def every_address(bind_address: str) -> bool:
    """Whether the stack publishes on every address (0.0.0.0, [::]): then the host's own name,
    which users type, is not in the spec."""
    return ipaddress.ip_address(bind_address.strip("[]")).is_unspecified


def published_url(bind_address: str, port: int) -> str | None:
    """Where a user reaches a port the compose stack publishes: http://<bind_address>:<port>
    (127.0.0.1 and [::1]: on the stack's own host, or through an SSH tunnel to the same port).
    None when it publishes on every address."""
    return None if every_address(bind_address) else f"http://{bind_address}:{port}"


def alertmanager_secret_name(path: str) -> str:
    """The file under <secrets_dir>/alertmanager/ that the stack mounts at a receiver's `*_file`
    path: the path below /etc/alertmanager/secrets, or a file's name when it lies elsewhere."""
    prefix = ALERTMANAGER_SECRETS + "/"
    return path.removeprefix(prefix) if path.startswith(prefix) else path.rsplit("/", 1)[-1]


def ratio_name(window: str) -> str:
    return f"slo:sli_error:ratio_rate{window}"


@dataclass(frozen=True)
class BurnWindow:
    short: str
    long: str
    budget_consumed: float
    factor: float

    def threshold(self, slo: SLO) -> float:
        return round(self.factor * slo.error_budget, 12)


@lru_cache(maxsize=1)
def _table() -> dict:
    return yaml.safe_load(resources.files("lukhas_obs.data").joinpath("burn_rates.yaml").read_text())


def _scaled(window: str, scale: float, floor: float = 0.0) -> str:
    """A window of the table scaled to the SLO's period, in whole minutes, at least `floor` s."""
    seconds = max(round(parse_duration(window) * scale / 60) * 60, floor, 60)
    return format_duration(seconds)


def burn_windows(slo: SLO, kind: str) -> list[BurnWindow]:
    """The table's windows scaled to the SLO's period (the table is for 30 days), so that each
    alert still means "this share of the budget is gone" and its factor stays 14.4, 6, 3 or 1
    (Pyrra scales the same way; Sloth keeps a table per period). Short windows stay >= 5m so a
    rate() has samples. A fixed window table would, over 7 days, open tickets at 0.7x and 0.23x
    the sustainable burn: alerts for a budget that is not being overspent."""
    return list(_burn_windows(slo.period_seconds, kind))


# The windows depend on the SLO's period only, and every rule, test and panel of an SLO reads
# them: computed once per period and kind (a spec has a handful of periods).
@lru_cache(maxsize=256)
def _burn_windows(period_seconds: float, kind: str) -> tuple[BurnWindow, ...]:
    t = _table()
    scale = period_seconds / parse_duration(t["base_period"])
    period_h = period_seconds / 3600
    out = []
    for w in t[kind]:
        short = _scaled(w["short"], scale, parse_duration(t["min_short"]))
        long = _scaled(w["long"], scale)
        factor = round(w["budget_consumed"] * period_h / (parse_duration(long) / 3600), 6)
        out.append(BurnWindow(short, long, w["budget_consumed"], factor))
    return tuple(out)


def failed_scrape_weight(p: PrometheusSettings) -> int:
    """How many SLO evaluations count one failed scrape of a time-based SLI: its sample (`up` 0, a
    gauge out of bounds) stays the target's latest for a scrape interval, and every evaluation in
    that time counts it once more."""
    return math.ceil(parse_duration(p.scrape_interval) / parse_duration(p.slo_evaluation_interval))


def min_samples(p: PrometheusSettings, slo: SLO, w: BurnWindow) -> int | None:
    """The fewest (target, evaluation) samples a time-based SLI's long window must hold before its
    alert may fire: enough that one failed scrape is no more than the threshold. A Prometheus that
    started minutes ago holds a few dozen samples in every window, and one failed scrape among them
    reads as a fast burn; min_events is the same guard for request SLIs. At steady state the window
    holds more (spec/sanity.py refuses an SLO whose window never would). None: the SLO counts
    events, or slices (a slice is judged by its own target)."""
    if not isinstance(slo.sli, SAMPLE_SLIS) or slo.timeslices is not None:
        return None
    return samples_for(failed_scrape_weight(p), w.threshold(slo))


def samples_for(weight: int, threshold: float) -> int:
    """The fewest samples in which `weight` bad ones are not above `threshold`."""
    return math.floor(weight / threshold) + 1


def is_raw(window: str) -> bool:
    """Windows up to `raw_up_to` are computed from raw series every evaluation (fast, exact
    detection); longer ones are summed from the recorded 5m rates in the slower group."""
    return parse_duration(window) <= parse_duration(_table()["raw_up_to"])


def alert_windows(slo: SLO) -> list[str]:
    """Every window a page or ticket alert reads, shortest first."""
    return list(_alert_windows(slo.period_seconds))


@lru_cache(maxsize=256)
def _alert_windows(period_seconds: float) -> tuple[str, ...]:
    ws = {w for kind in ("page", "ticket") for b in _burn_windows(period_seconds, kind) for w in (b.short, b.long)}
    return tuple(sorted(ws, key=parse_duration))


def all_windows(slo: SLO) -> list[str]:
    """The windows recorded for an SLO: the alert windows, 5m, 1h (the burn-rate record) and the
    SLO period (a calendar SLO's period is PERIOD_RATIO instead, see period_ratio)."""
    return list(_all_windows(slo.period_seconds, None if slo.calendar else slo.period))


@lru_cache(maxsize=256)
def _all_windows(period_seconds: float, period: str | None) -> tuple[str, ...]:
    fixed = {"5m", "1h"} | ({period} if period else set())
    return tuple(sorted(set(_alert_windows(period_seconds)) | fixed, key=parse_duration))


def budget_ratio_record(slo: SLO) -> str:
    """The record holding the error ratio the budget is measured against."""
    return PERIOD_RATIO if slo.calendar else ratio_name(slo.period)


def coverage_record(slo: SLO) -> str:
    """The 5m record whose samples say the SLI was measured at that time: the total of an event
    or time SLI (present at 0 when nothing happened, absent when its series are), or a raw SLI's
    5m ratio. A timeslice SLO has the same 5m records as its occurrence form."""
    if isinstance(slo.sli, RawSLI):
        return ratio_name("5m")
    return TOTAL_RATE if isinstance(slo.sli, EVENT_SLIS) else TOTAL_COUNT


def coverage_query(slo: SLO, window: str, step: str) -> str:
    """How many instants a `step` apart within `window` find a sample of the SLO's coverage
    record, per series: the gate's measure of how much of a budget's period has data."""
    return promql.count_steps(record_sel(coverage_record(slo), slo), window, step)


def slo_labels(slo: SLO) -> dict:
    return {"service": slo.service, "slo": slo.name}


def record_sel(name: str, slo: SLO) -> Selector:
    return Selector(name).where(**slo_labels(slo))


# ---- SLI expressions -----------------------------------------------------------------------

def _scoped(sel: Selector, slo: SLO) -> Selector:
    """The service's own series: job is the service name (see generate/scrape.py)."""
    return sel.where(job=slo.service)


def query_windows(slo: SLO) -> list[str]:
    """The windows an expression SLI's PromQL is recorded at, {{.window}} replaced by each (as
    Sloth does): an expression ratio at 5m and the windows up to `raw_up_to` (longer ones sum
    the 5m results, which is exact for expressions that count events: rate, increase,
    sum_over_time, count_over_time); a raw error ratio at every window but the period (a ratio
    cannot be summed: the period is the average of its 5m values over time, as Sloth's is)."""
    if slo.timeslices is not None:
        return [slo.timeslices.window]
    if isinstance(slo.sli, RawSLI):
        return [w for w in all_windows(slo) if w != slo.period]
    return [w for w in all_windows(slo) if is_raw(w)]


def absent_expr(slo: SLO) -> str:
    """What the absent alert watches: the total series, or an expression SLI's total (or raw
    ratio) expression at 5m, without a trailing `or vector(0)` (which would keep it from ever
    being absent; the loader refuses such a fallback anywhere else)."""
    match slo.sli:
        case ExpressionRatioSLI(total_query=template) | RawSLI(error_ratio_query=template):
            return promql.without_fallback(promql.at_window(template, "5m"))
    return str(total_selector(slo))


def total_selector(slo: SLO) -> Selector:
    """The series whose absence means the SLI cannot be measured."""
    match slo.sli:
        case RatioSLI(total=total):
            return _scoped(total, slo)
        case AvailabilitySLI(source="probe"):
            return Selector("probe_success").where(job=BLACKBOX_JOB, service=slo.service)
        case AvailabilitySLI():
            return Selector("up").where(job=slo.service)
        case LatencySLI(metric=metric):
            return _scoped(metric.renamed(metric.metric + "_count"), slo)
        case ThresholdSLI(metric=metric):
            return _scoped(metric, slo)
    raise TypeError(f"a {slo.sli.kind} SLI written as an expression has no total selector")


def event_rates(slo: SLO, window: str) -> tuple[str, str]:
    """(errors per second, total per second) over `window`, for ratio and latency SLIs."""
    sli = slo.sli
    if isinstance(sli, ExpressionRatioSLI):
        total = promql.at_window(sli.total_query, window)
        counted = promql.at_window(sli.counted_query, window)
        if sli.good:
            return f"({total}) - (({counted}) or vector(0))", total
        return f"({counted}) or vector(0)", total
    total = promql.agg("sum", promql.rate(total_selector(slo), window))
    if isinstance(sli, RatioSLI):
        counted = promql.agg("sum", promql.rate(_scoped(sli.counted, slo), window))
        return (f"{total} - ({counted} or vector(0))" if sli.good else f"{counted} or vector(0)"), total
    good = promql.agg("sum", promql.rate(good_bucket(slo), window))
    return f"{total} - ({good} or vector(0))", total


def good_bucket(slo: SLO) -> Selector:
    """A latency SLI's bucket at its threshold: the requests that were fast enough."""
    sli = slo.sli
    if not isinstance(sli, LatencySLI):
        raise TypeError(f"a {sli.kind} SLI has no latency bucket")
    return _scoped(sli.metric.renamed(sli.metric.metric + "_bucket"), slo).plus(promql.le_matcher(sli.threshold))


def sample_counts(slo: SLO) -> tuple[str, str]:
    """(bad, all) targets or samples right now, for availability and threshold SLIs."""
    sli = slo.sli
    sel = total_selector(slo)
    if isinstance(sli, ThresholdSLI):
        parts = []
        if sli.min is not None:
            parts.append(f"{sel} < {promql.number(sli.min)}")
        if sli.max is not None:
            parts.append(f"{sel} > {promql.number(sli.max)}")
        bad = " or ".join(f"({p})" for p in parts) if len(parts) > 1 else parts[0]
    else:
        bad = f"{sel} == 0"
    return f"count({bad}) or vector(0)", f"count({sel})"


def _summed_ratio(errors: str, total: str, slo: SLO, window: str) -> str:
    return promql.ratio(f"sum_over_time({record_sel(errors, slo)}[{window}])",
                        f"sum_over_time({record_sel(total, slo)}[{window}])")


def slice_bad(slo: SLO) -> str:
    """Timeslice SLOs: 1 when the last slice's error ratio is above what the slice target allows,
    0 when not; no sample when the slice had no data (no traffic: 0/0), so it does not count."""
    assert slo.timeslices is not None, "slice_bad is for timeslice SLOs"
    return slice_indicator(occurrence_ratio(slo, slo.timeslices.window), slo.timeslices)


def slice_indicator(ratio: str, slices: Timeslices) -> str:
    """1 when the error ratio `ratio` (over one slice) breaks the slice target, 0 when not, and
    nothing when it is NaN (0/0: no traffic) or absent."""
    return f"(\n{ratio}\n) > bool {promql.number(slices.bad_above)}\nand\n(\n{ratio}\n) >= 0"


def _period_inputs(slo: SLO) -> tuple[str, ...]:
    """The 5m records a calendar SLO's period ratio is summed from."""
    if slo.timeslices is not None:   # the share of bad slices: their 1/0 record averaged
        return (SLICE_BAD,)
    if isinstance(slo.sli, RawSLI):
        return (ratio_name("5m"),)
    return (ERRORS_RATE, TOTAL_RATE) if isinstance(slo.sli, EVENT_SLIS) else (ERRORS_COUNT, TOTAL_COUNT)


def period_tagged(slo: SLO) -> list[tuple[str, str]]:
    """(record, expr): each 5m record again, with the `phase` of its evaluation as a label."""
    phase = str(record_sel(PERIOD_PHASE, slo))
    return [(f"{name}_period", calendar.tag(str(record_sel(name, slo)), phase)) for name in _period_inputs(slo)]


def period_ratio(slo: SLO) -> str:
    """A calendar SLO's error ratio since its period started in its time zone: the tagged 5m
    records of the current phase summed over calendar.LOOKBACK (a raw SLI: its 5m ratio
    averaged), as the rolling period's are."""
    cal = slo.calendar
    assert cal is not None, "only a calendar SLO has a period record"
    lookback = calendar.LOOKBACK[cal.unit]
    inputs = [f"{record_sel(name + '_period', slo)}[{lookback}]" for name in _period_inputs(slo)]
    if len(inputs) == 1:
        return calendar.current(cal, f"avg_over_time({inputs[0]})")
    return calendar.current(cal, promql.ratio(f"sum_over_time({inputs[0]})", f"sum_over_time({inputs[1]})"))


def window_ratio(slo: SLO, window: str) -> str:
    """The error ratio over `window` that the alerts and the budget read: the share of bad events
    (or samples), or for a timeslice SLO the share of bad slices."""
    if slo.timeslices is not None:
        return f"avg_over_time({record_sel(SLICE_BAD, slo)}[{window}])"
    return occurrence_ratio(slo, window)


def occurrence_ratio(slo: SLO, window: str) -> str:
    if isinstance(slo.sli, RawSLI):
        if window == slo.period:
            return f"avg_over_time({record_sel(ratio_name('5m'), slo)}[{window}])"
        return promql.at_window(slo.sli.error_ratio_query, window)
    if isinstance(slo.sli, EVENT_SLIS):
        if window == "5m":
            return f"{record_sel(ERRORS_RATE, slo)}\n/\n{record_sel(TOTAL_RATE, slo)}"
        if is_raw(window):
            return promql.ratio(*event_rates(slo, window))
        return _summed_ratio(ERRORS_RATE, TOTAL_RATE, slo, window)
    return _summed_ratio(ERRORS_COUNT, TOTAL_COUNT, slo, window)


# ---- Grafana's variables, in dashboards written by the generator or by a spec's `expr` ----
# Grafana's variable syntax (variableRegex, public/app/features/variables/utils.ts): $var,
# [[var]] and [[var:format]] (deprecated), ${var}, ${var.field}, ${var:format}.
GRAFANA_VARIABLE = re.compile(r"\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?:\.([^:^\}]+))?(?::([^\}]+))?\}")
# Grafana's global variables, defined on every dashboard (and those of data links).
GRAFANA_BUILTIN_VARIABLES = frozenset({
    "__interval", "__interval_ms", "__rate_interval", "__rate_interval_ms", "__range", "__range_s", "__range_ms",
    "__from", "__to", "__timezone", "__dashboard", "__org", "__user", "__name", "timeFilter", "__timeFilter",
    "__url_time_range", "__all_variables", "__series", "__field", "__value", "__data",
})


def grafana_variables(text: str) -> list[str]:
    """The variable names a query, title or link refers to, in Grafana's syntax."""
    return [m.group(1) or m.group(2) or m.group(4) for m in GRAFANA_VARIABLE.finditer(text)]
