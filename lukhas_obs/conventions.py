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
  slo:objective:ratio, slo:error_budget:remaining_ratio, slo:error_budget:burn_rate1h"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import yaml

from lukhas_obs import promql
from lukhas_obs.durations import format_duration, parse_duration
from lukhas_obs.model import SLO
from lukhas_obs.promql import Selector

BLACKBOX_JOB = "blackbox-health"   # the scrape job of the health probes; its series carry `service`

ERRORS_RATE = "slo:sli_errors:rate5m"
TOTAL_RATE = "slo:sli_total:rate5m"
ERRORS_COUNT = "slo:sli_errors:count"
TOTAL_COUNT = "slo:sli_total:count"
OBJECTIVE = "slo:objective:ratio"
BUDGET_REMAINING = "slo:error_budget:remaining_ratio"
BURN_RATE = "slo:error_budget:burn_rate1h"
ALERT_ABSENT = "SLOMetricsAbsent"


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
    SLO period."""
    return list(_all_windows(slo.period_seconds, slo.period))


@lru_cache(maxsize=256)
def _all_windows(period_seconds: float, period: str) -> tuple[str, ...]:
    return tuple(sorted(set(_alert_windows(period_seconds)) | {"5m", "1h", period}, key=parse_duration))


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
    if slo.sli.kind == "raw":
        return [w for w in all_windows(slo) if w != slo.period]
    return [w for w in all_windows(slo) if is_raw(w)]


def absent_expr(slo: SLO) -> str:
    """What the absent alert watches: the total series, or an expression SLI's total (or raw
    ratio) expression at 5m."""
    sli = slo.sli
    template = sli.total_query or sli.error_ratio_query
    return promql.at_window(template, "5m") if template else str(total_selector(slo))


def total_selector(slo: SLO) -> Selector:
    """The series whose absence means the SLI cannot be measured."""
    sli = slo.sli
    if sli.kind == "ratio":
        assert sli.total is not None, "the loader requires total for a ratio SLI"
        return _scoped(sli.total, slo)
    if sli.kind == "availability":
        if sli.source == "probe":
            return Selector("probe_success").where(job=BLACKBOX_JOB, service=slo.service)
        return Selector("up").where(job=slo.service)
    assert sli.metric is not None, "the loader requires metric for latency and threshold SLIs"
    if sli.kind == "latency":
        return _scoped(sli.metric.renamed(sli.metric.metric + "_count"), slo)
    return _scoped(sli.metric, slo)


def event_rates(slo: SLO, window: str) -> tuple[str, str]:
    """(errors per second, total per second) over `window`, for ratio and latency SLIs."""
    sli = slo.sli
    if sli.total_query is not None:
        total = promql.at_window(sli.total_query, window)
        if sli.errors_query is not None:
            return f"({promql.at_window(sli.errors_query, window)}) or vector(0)", total
        assert sli.good_query is not None, "the loader requires errors_query or good_query"
        return f"({total}) - (({promql.at_window(sli.good_query, window)}) or vector(0))", total
    total = promql.agg("sum", promql.rate(total_selector(slo), window))
    if sli.kind == "ratio":
        if sli.errors is not None:
            errors = f"{promql.agg('sum', promql.rate(_scoped(sli.errors, slo), window))} or vector(0)"
        else:
            assert sli.good is not None, "the loader requires errors or good for a ratio SLI"
            good = promql.agg("sum", promql.rate(_scoped(sli.good, slo), window))
            errors = f"{total} - ({good} or vector(0))"
        return errors, total
    good = promql.agg("sum", promql.rate(good_bucket(slo), window))
    return f"{total} - ({good} or vector(0))", total


def good_bucket(slo: SLO) -> Selector:
    """A latency SLI's bucket at its threshold: the requests that were fast enough."""
    sli = slo.sli
    assert sli.metric is not None and sli.threshold is not None, "the loader requires both for a latency SLI"
    return _scoped(sli.metric.renamed(sli.metric.metric + "_bucket"), slo).plus(promql.le_matcher(sli.threshold))


def sample_counts(slo: SLO) -> tuple[str, str]:
    """(bad, all) targets or samples right now, for availability and threshold SLIs."""
    sli = slo.sli
    sel = total_selector(slo)
    if sli.kind == "availability":
        bad = f"{sel} == 0"
    else:
        parts = []
        if sli.min is not None:
            parts.append(f"{sel} < {promql.number(sli.min)}")
        if sli.max is not None:
            parts.append(f"{sel} > {promql.number(sli.max)}")
        bad = " or ".join(f"({p})" for p in parts) if len(parts) > 1 else parts[0]
    return f"count({bad}) or vector(0)", f"count({sel})"


def _summed_ratio(errors: str, total: str, slo: SLO, window: str) -> str:
    return promql.ratio(f"sum_over_time({record_sel(errors, slo)}[{window}])",
                        f"sum_over_time({record_sel(total, slo)}[{window}])")


def window_ratio(slo: SLO, window: str) -> str:
    raw = slo.sli.error_ratio_query
    if raw is not None:
        if window == slo.period:
            return f"avg_over_time({record_sel(ratio_name('5m'), slo)}[{window}])"
        return promql.at_window(raw, window)
    if slo.sli.event_based:
        if window == "5m":
            return f"{record_sel(ERRORS_RATE, slo)}\n/\n{record_sel(TOTAL_RATE, slo)}"
        if is_raw(window):
            return promql.ratio(*event_rates(slo, window))
        return _summed_ratio(ERRORS_RATE, TOTAL_RATE, slo, window)
    return _summed_ratio(ERRORS_COUNT, TOTAL_COUNT, slo, window)
