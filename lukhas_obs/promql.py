"""The one place that writes PromQL: label-safe selectors and the few builders that rules,
alerts, tests, dashboards and the gate share.

Label values that come from a spec are always written through `quote()`, so a value holding a
quote, a backslash or a newline can never break out of its selector."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

import promql_parser

LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_OPS = {"Equal": "=", "NotEqual": "!=", "Re": "=~", "NotRe": "!~"}
_RE2_SPECIAL = re.compile(r"([\\.+*?()|\[\]{}^$])")


class PromQLError(ValueError):
    """An expression that does not parse, or is not what the caller needs."""


def quote(value: str) -> str:
    """A PromQL double-quoted string literal for any Python string."""
    escaped = (value.replace("\\", "\\\\").replace('"', '\\"')
               .replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t"))
    return f'"{escaped}"'


def regex_escape(value: str) -> str:
    """Escape RE2 metacharacters so `value` matches itself literally in `=~`."""
    return _RE2_SPECIAL.sub(r"\\\1", value)


def any_of(values) -> str:
    """A regex matching exactly one of `values` (sorted, for stable output)."""
    return "|".join(regex_escape(v) for v in sorted(set(values)))


@dataclass(frozen=True)
class Matcher:
    name: str
    op: str
    value: str

    def __post_init__(self) -> None:
        if not LABEL_NAME.match(self.name):
            raise PromQLError(f"{self.name!r} is not a valid label name")
        if self.op not in ("=", "!=", "=~", "!~"):
            raise PromQLError(f"{self.op!r} is not a label matcher operator")

    def render(self) -> str:
        return f"{self.name}{self.op}{quote(self.value)}"


@dataclass(frozen=True)
class Selector:
    metric: str
    matchers: tuple[Matcher, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if not METRIC_NAME.match(self.metric):
            raise PromQLError(f"{self.metric!r} is not a valid metric name")

    def where(self, **labels: str) -> Selector:
        """This selector plus equality matchers; an existing matcher on the same label wins."""
        return _where(self, tuple(sorted(labels.items())))

    def plus(self, *matchers: Matcher) -> Selector:
        return Selector(self.metric, self.matchers + tuple(matchers))

    def renamed(self, metric: str) -> Selector:
        return Selector(metric, self.matchers)

    def labels_equal(self) -> dict[str, str]:
        return {m.name: m.value for m in self.matchers if m.op == "="}

    def render(self) -> str:
        text = self.__dict__.get("_text")  # rendered once per selector (see _where)
        if text is None:
            text = self.metric + "{" + ", ".join(m.render() for m in self.matchers) + "}" if self.matchers \
                else self.metric
            object.__setattr__(self, "_text", text)
        return text

    def __str__(self) -> str:
        return self.render()


# Rules, tests and dashboards scope the same selectors to the same service and SLO over and over
# (a dozen times per SLO): each combination is built, validated and rendered once.
@lru_cache(maxsize=8192)
def _where(sel: Selector, labels: tuple[tuple[str, str], ...]) -> Selector:
    have = {m.name for m in sel.matchers}
    extra = tuple(Matcher(k, "=", v) for k, v in labels if k not in have)
    return Selector(sel.metric, sel.matchers + extra)


def parse(expr: str):
    """Parse PromQL in-process; raises PromQLError with the parser's message. promql_parser
    panics (pyo3's PanicException, a BaseException) on some numbers, e.g. x[1.5e300]: that is a
    refusal as well, never a crash."""
    try:
        return promql_parser.parse(expr)
    except ValueError as exc:
        raise PromQLError(str(exc)) from None
    except BaseException as exc:
        if type(exc).__name__ != "PanicException":
            raise
        raise PromQLError(str(exc)) from None


def parse_selector(text: str) -> Selector:
    """A plain instant-vector selector with a metric name, e.g. `m{status=~"5.."}`."""
    node = parse(text)
    if not isinstance(node, promql_parser.VectorSelector):
        raise PromQLError("must be a plain series selector such as metric{label=\"value\"}, "
                          "not a function or an operation")
    return selector_of(node)


def selector_of(node) -> Selector:
    """A parsed plain selector (promql_parser.VectorSelector) as a Selector."""
    if not node.name:
        raise PromQLError("the selector must name a metric")
    if node.offset is not None or node.at is not None:
        raise PromQLError("offset and @ are not allowed here")
    if getattr(node.matchers, "or_matchers", None):
        raise PromQLError("'or' inside a selector is not supported here")
    matchers = tuple(Matcher(m.name, _OPS[str(m.op).split(".")[-1]], m.value)
                     for m in node.matchers.matchers if m.name != "__name__")
    return Selector(node.name, matchers)


def metric_names(expr: str) -> set[str]:
    """Every metric name an expression selects."""
    names: set[str] = set()

    def visit(node, *_):
        if isinstance(node, promql_parser.VectorSelector) and node.name:
            names.add(node.name)
        elif isinstance(node, promql_parser.MatrixSelector):
            vs = node.vector_selector
            if vs.name:
                names.add(vs.name)
        return True

    promql_parser.walk(parse(expr), visit)
    return names


@lru_cache(maxsize=4096)
def number(value: float) -> str:
    """A float as PromQL writes it, without float noise (0.001 not 0.0010000000000000009)."""
    text = repr(float(round(value, 12)))
    return text[:-2] if text.endswith(".0") else text


# ---- builders: the shapes used across rules, dashboards and the gate ---------------------

def rate(sel: Selector | str, window: str) -> str:
    return f"rate({sel}[{window}])"


def increase(sel: Selector | str, window: str) -> str:
    return f"increase({sel}[{window}])"


def count_steps(sel: Selector | str, window: str, step: str) -> str:
    """How many of the instants a `step` apart within `window` (a subquery, aligned to multiples
    of `step`) find a sample of `sel`, each looking back as far as the engine's lookback delta."""
    return f"count_over_time({sel}[{window}:{step}])"


def events(sel: Selector, window: str, by: tuple[str, ...] | list[str], lookback: str) -> str:
    """How many events a counter counted over `window`, summed `by` labels, the same on
    Prometheus and VictoriaMetrics:
    - `increase()` for the series seen in the `lookback` before the window opened (a scrape gap
      inside that hour does not make a running counter new);
    - the last value of each series born inside the window (a counter starts at 0, so that value
      is all it counted): Prometheus' `increase()` alone reads a series born at 1 and never
      incremented as 0 errors, so the first errors of a fresh canary would be invisible;
    - but plain `increase()` for everything while Prometheus itself holds no `up` from before the
      window (freshly started, or --at before its history): then a counter's first value is its
      whole lifetime, not what it counted in the window."""
    existed = f"last_over_time({sel}[{lookback}] offset {window})"
    history = f"count(last_over_time(up[{lookback}] offset {window})) > 0"
    inner = (f"({increase(sel, window)} and {existed})\nor\n"
             f"((last_over_time({sel}[{window}]) unless {existed}) and on () ({history}))\nor\n"
             f"(({increase(sel, window)} unless {existed}) unless on () ({history}))")
    return agg("sum", inner, by)


def agg(op: str, expr: str, by: tuple[str, ...] | list[str] = ()) -> str:
    for name in by:
        if not LABEL_NAME.match(name):
            raise PromQLError(f"{name!r} is not a valid label name")
    return f"{op} by ({', '.join(by)}) ({expr})" if by else f"{op}({expr})"


def ratio(numerator: str, denominator: str) -> str:
    return f"({numerator})\n/\n({denominator})"


def histogram_quantile(q: float, bucket_sel: Selector, window: str, by: tuple[str, ...] = ()) -> str:
    return f"histogram_quantile({number(q)}, {agg('sum', rate(bucket_sel, window), ('le',) + tuple(by))})"


def le_matcher(bound: float) -> Matcher:
    """A matcher for the `le` bucket whose boundary is `bound`, whichever way the client library
    printed it ("1" from Go, "1.0" from Python; "0.25" from both)."""
    text = number(bound)
    forms = {text}
    if "." not in text and "e" not in text:
        forms.add(text + ".0")
    if len(forms) == 1:
        return Matcher("le", "=", text)
    return Matcher("le", "=~", any_of(forms))


# ---- expression SLIs: Sloth's {{.window}} placeholder ------------------------------------

WINDOW = re.compile(r"\{\{\s*\.window\s*\}\}")
WINDOW_PLACEHOLDER = "{{.window}}"


def at_window(template: str, window: str) -> str:
    """An expression SLI's PromQL with `{{.window}}` replaced by `window` (as Sloth does)."""
    return WINDOW.sub(window, template)


def _unparen(node):
    while isinstance(node, promql_parser.ParenExpr):
        node = node.expr
    return node


# `or vector(0)` (or `or on() vector(0)`) at the end of an expression: a fallback that keeps it
# from ever being empty
_FALLBACK = re.compile(r"\s+or\s+(?:on\s*\(\s*\)\s*)?vector\s*\(\s*[-+]?[0-9.]+(?:e[-+]?[0-9]+)?\s*\)\s*\Z",
                       re.IGNORECASE)


def without_fallback(expr: str) -> str:
    """`expr` without its trailing `or vector(N)` fallbacks (in any enclosing parentheses): the
    part that is empty when the series it reads are absent, which is what an absent() alert can
    watch. `expr` itself, unchanged, when it has none (or does not parse)."""
    text = expr.strip()
    while True:
        found = _FALLBACK.search(text)
        if found is not None and _parses(text[: found.start()]):
            text = text[: found.start()].rstrip()
            continue
        inner = text[1:-1].strip()
        if _FALLBACK.search(inner) and _parses(text) and isinstance(parse(text), promql_parser.ParenExpr):
            text = inner
            continue
        return expr if text == expr.strip() else text


def _parses(text: str) -> bool:
    try:
        parse(text)
        return True
    except PromQLError:
        return False


def reads_series(node) -> bool:
    """Whether a parsed expression selects any series (a constant such as vector(0) does not)."""
    found = False

    def visit(n, *_):
        nonlocal found
        found = found or isinstance(n, promql_parser.VectorSelector | promql_parser.MatrixSelector)
        return not found

    promql_parser.walk(node, visit)
    return found


def constant_fallback(node) -> bool:
    """Whether a parsed expression has an `or` with an arm that reads no series (`X or
    vector(0)`): such an expression is never empty, so absent() of it never fires."""
    found = False

    def visit(n, *_):
        nonlocal found
        if (isinstance(n, promql_parser.BinaryExpr) and str(n.op) == "or"
                and not (reads_series(n.lhs) and reads_series(n.rhs))):
            found = True
        return not found

    promql_parser.walk(node, visit)
    return found


def summed_rate(node) -> Selector | None:
    """S when `node` is `sum(rate(S[w]))` or `sum(increase(S[w]))` (in parentheses, or followed
    by `or vector(0)`), a count of events whose value input series can set; None otherwise."""
    node = _unparen(node)
    if isinstance(node, promql_parser.BinaryExpr) and str(node.op) == "or":
        right = _unparen(node.rhs)
        if not (isinstance(right, promql_parser.Call) and right.func.name == "vector"):
            return None
        node = _unparen(node.lhs)
    if not (isinstance(node, promql_parser.AggregateExpr) and str(node.op) == "sum" and node.modifier is None):
        return None
    call = _unparen(node.expr)
    if not (isinstance(call, promql_parser.Call) and call.func.name in ("rate", "increase") and len(call.args) == 1
            and isinstance(call.args[0], promql_parser.MatrixSelector)):
        return None
    try:
        return selector_of(call.args[0].vector_selector)
    except PromQLError:
        return None


def ratio_parts(node) -> tuple[object, object, bool] | None:
    """(numerator, denominator, complement) of `A / B` or `1 - (A / B)`; None otherwise."""
    node = _unparen(node)
    complement = False
    if (isinstance(node, promql_parser.BinaryExpr) and str(node.op) == "-"
            and isinstance(_unparen(node.lhs), promql_parser.NumberLiteral) and _unparen(node.lhs).val == 1):
        node, complement = _unparen(node.rhs), True
    if isinstance(node, promql_parser.BinaryExpr) and str(node.op) == "/" and node.modifier is None:
        return node.lhs, node.rhs, complement
    return None
