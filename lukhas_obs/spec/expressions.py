"""What the pinned Prometheus would refuse in a PromQL expression, or in a duration, that the
parser accepts: functions it lacks, durations past its limits, values of the wrong type; and which
series every Prometheus has without a catalogue entry."""

from __future__ import annotations

import functools
import math
import re
from importlib import resources

import promql_parser
import yaml

from lukhas_obs.durations import parse_duration

# Series every Prometheus has without a catalogue entry.
BUILTIN_PREFIXES = ("scrape_", "probe_", "prometheus_", "alertmanager_", "process_", "go_")
BUILTIN_NAMES = {"up", "ALERTS", "ALERTS_FOR_STATE"}
HISTOGRAM_SUFFIXES = ("_bucket", "_count", "_sum")


# ---- PromQL the pinned Prometheus would refuse -------------------------------------------------
TYPE_NAMES = {"vector": "instant vector", "matrix": "range vector", "scalar": "scalar", "string": "string"}


def value_type(node) -> str:
    """What a parsed PromQL expression evaluates to: vector, matrix, scalar or string."""
    if isinstance(node, promql_parser.VectorSelector | promql_parser.AggregateExpr):
        return "vector"
    if isinstance(node, promql_parser.MatrixSelector | promql_parser.SubqueryExpr):
        return "matrix"
    if isinstance(node, promql_parser.NumberLiteral):
        return "scalar"
    if isinstance(node, promql_parser.StringLiteral):
        return "string"
    if isinstance(node, promql_parser.ParenExpr | promql_parser.UnaryExpr):
        return value_type(node.expr)
    if isinstance(node, promql_parser.BinaryExpr):
        return "vector" if "vector" in (value_type(node.lhs), value_type(node.rhs)) else "scalar"
    if isinstance(node, promql_parser.Call):
        return str(node.func.return_type).rsplit(".", 1)[-1].lower()
    return "vector"


# Prometheus v2.53's PromQL functions (promql/parser/functions.go at v2.53.2), without the
# experimental ones, which need --enable-feature=promql-experimental-functions (the generated
# stack does not set it), and its aggregation operators (promql/parser/lex.go).
PROMETHEUS_2_FUNCTIONS = frozenset("""
    abs absent absent_over_time acos acosh asin asinh atan atanh avg_over_time ceil changes clamp clamp_max
    clamp_min cos cosh count_over_time days_in_month day_of_month day_of_week day_of_year deg delta deriv exp
    floor histogram_avg histogram_count histogram_sum histogram_stddev histogram_stdvar histogram_fraction
    histogram_quantile holt_winters hour idelta increase irate label_replace label_join last_over_time ln log10
    log2 max_over_time min_over_time minute month pi predict_linear present_over_time quantile_over_time rad
    rate resets round scalar sgn sin sinh sort sort_desc sqrt stddev_over_time stdvar_over_time sum_over_time
    tan tanh time timestamp vector year""".split())
PROMETHEUS_2_EXPERIMENTAL = frozenset({"mad_over_time", "sort_by_label", "sort_by_label_desc"})
PROMETHEUS_2_AGGREGATIONS = frozenset(
    "sum avg count min max group stddev stdvar topk bottomk count_values quantile".split())
# Experimental in Prometheus 3 (functions.go on main): refused there too, as the flag is not set.
PROMETHEUS_3_EXPERIMENTAL = frozenset("""
    double_exponential_smoothing end first_over_time histogram_quantiles info integral limitk limit_ratio
    mad_over_time range sort_by_label sort_by_label_desc start step ts_of_first_over_time ts_of_last_over_time
    ts_of_max_over_time ts_of_min_over_time""".split())
_BRACKETS = re.compile(r"\[([^\]]*)\]")
_OFFSET = re.compile(r"\boffset\s*-?\s*([0-9][0-9A-Za-z.+]*)")
_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`|#[^\n]*')


def pinned_release(version: tuple[int, int, int]) -> str:
    return f"Prometheus v{'.'.join(map(str, version))}, the version the stack pins"


_MAX_SECONDS = (2**63 - 1) / 1e9  # a Go time.Duration


def duration_problems(text: str, version: tuple[int, int, int] | None) -> list[str]:
    """The durations of ranges, subqueries and offsets, read from the text: Prometheus 2 wants
    a unit on each (the in-process parser takes a bare number as seconds, as Prometheus 3 does)
    and no version takes one past ~292 years."""
    out: list[str] = []
    bare = _QUOTED.sub(" ", text)
    found = [part.strip() for inside in _BRACKETS.findall(bare) for part in inside.split(":")]
    for duration in found + _OFFSET.findall(bare):
        if not duration:
            continue
        try:
            parse_duration(duration)
            continue
        except ValueError as exc:
            problem = str(exc)
        try:
            seconds = float(duration)
        except ValueError:
            out.append(f"in a range or offset: {problem}")
            continue
        if version is not None and version[0] < 3:
            out.append(f"duration {duration!r} needs a unit (such as 5m or 30s) in {pinned_release(version)}")
        elif not math.isfinite(seconds) or seconds > _MAX_SECONDS:
            out.append(f"duration {duration!r} is out of range (Prometheus durations end at about 292 years)")
    return sorted(set(out))


def unsupported_functions(node, version: tuple[int, int, int]) -> set[str]:
    """The functions and aggregations of a parsed expression the given Prometheus version lacks
    or has only behind a feature flag."""
    out: set[str] = set()
    pinned = pinned_release(version)
    flag = "needs --enable-feature=promql-experimental-functions, which the stack does not set"

    def visit(n, *_):
        if isinstance(n, promql_parser.Call):
            name, what = n.func.name, "function"
        elif isinstance(n, promql_parser.AggregateExpr):
            name, what = str(n.op), "aggregation"
        else:
            return True
        if name in (PROMETHEUS_2_EXPERIMENTAL if version[0] < 3 else PROMETHEUS_3_EXPERIMENTAL):
            out.add(f"{what} {name}() is experimental in {pinned}: it {flag}")
        elif version[0] < 3 and name not in PROMETHEUS_2_FUNCTIONS | PROMETHEUS_2_AGGREGATIONS:
            out.add(f"{what} {name}() does not exist in {pinned}")
        return True

    promql_parser.walk(node, visit)
    return out


@functools.lru_cache(maxsize=1)
def default_images() -> dict[str, str]:
    text = resources.files("lukhas_obs.data").joinpath("images.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text) or {}
