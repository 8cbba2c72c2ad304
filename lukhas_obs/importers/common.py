"""What every importer shares: reading files as people publish them, taking PromQL apart into the
selectors the spec holds, and writing a team file that `lukhas-obs validate` accepts as is.

An importer turns each SLO it finds into an `Outcome`: a spec entry with the notes that say what
was assumed or changed, or every reason (`Blocker`) it cannot be imported, all at once. Nothing
read from a file is trusted to have the expected shape: a wrong shape is a blocker or a problem,
never a traceback."""

from __future__ import annotations

import dataclasses
import json
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import promql_parser

from lukhas_obs import promql
from lukhas_obs.durations import format_duration, parse_duration
from lukhas_obs.errors import Problem, SpecError, render_path
from lukhas_obs.generate.yamlout import dump
from lukhas_obs.model import RESERVED_RULE_LABELS, SLO_PERIOD_RANGE
from lukhas_obs.promql import PromQLError, Selector
from lukhas_obs.spec.yamlsource import LineMap, parse_yaml_documents

API_VERSION = "lukhas-obs/v1"
DEFAULT_PERIOD = "30d"
SUFFIXES = (".yaml", ".yml", ".json")
NAME = re.compile(r"^[a-z][a-z0-9-]{0,62}\Z")   # the spec's names (schema.json $defs.name)
BUILTIN_PREFIXES = ("scrape_", "probe_", "prometheus_", "alertmanager_", "process_", "go_")
BUILTIN_NAMES = {"up", "ALERTS", "ALERTS_FOR_STATE"}

# Why an SLO is not imported: a stable key per kind (the bench and the README count by it), and
# whether the spec would need a new feature for it.
BLOCKERS = {
    "calendar": "a calendar window other than a week, month or quarter, or an unknown time zone",
    "timeslices": "OpenSLO RatioTimeslices (an average of per-slice ratios), or a timeSliceWindow of a month, "
                  "quarter or year (no fixed length); Timeslices over fixed slices is imported",
    "expression": "a PromQL expression the spec cannot hold (a threshold query that is no instant vector), or "
                  "another template",
    "period": "a period outside 5d to 90d, or not whole minutes",
    "raw": "a raw error-ratio query without one range to read as each window",
    "gauge-ratio": "ratio of gauges, counter: false (spec feature)",
    "counter-name": "a counter without the _total suffix (the catalogue's naming rule)",
    "source": "not a Prometheus source",
    "version": "not OpenSLO v1 (or v1alpha, v2alpha read as v1) or Sloth prometheus/v1",
    "objectives": "more than one objective",
    "plugin": "a Sloth SLI plugin",
    "reference": "a reference that no given file resolves",
    "invalid": "malformed: a required field missing or of the wrong kind",
    "spec": "refused by the spec's checks",
}


@dataclass(frozen=True)
class Blocker:
    kind: str
    text: str

    def __str__(self) -> str:
        return self.text


class Refused(Exception):
    """One reason an SLO cannot be imported, raised where it is found."""

    def __init__(self, kind: str, text: str):
        super().__init__(text)
        self.blocker = Blocker(kind, text)


@dataclass
class MetricNeed:
    """A catalogue entry the imported SLIs need."""
    type: str                      # counter, gauge, histogram, summary
    buckets: set[float] = field(default_factory=set)
    labels: set[str] = field(default_factory=set)

    def merge(self, other: MetricNeed) -> None:
        if {self.type, other.type} == {"histogram", "summary"}:
            self.type = "histogram"
        self.buckets |= other.buckets
        self.labels |= other.labels


@dataclass
class Outcome:
    """One SLO document (or Sloth SLO) and what became of it."""
    where: str                     # file:line
    label: str                     # e.g. "SLO web-availability"
    service: str | None = None     # the spec's service name (normalised)
    entry: dict | None = None      # the spec's SLO entry
    blockers: list[Blocker] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    metrics: dict[str, MetricNeed] = field(default_factory=dict)
    # Where the user wrote what became each part of `entry`: entry key path -> (document, key path
    # in it); the longest prefix of a path answers (`locate`). "service" stands for the service.
    origins: dict[tuple, tuple[Doc, tuple]] = field(default_factory=dict)

    @property
    def imported(self) -> bool:
        return self.entry is not None and not self.blockers

    def origin(self, entry_path: tuple, doc: Doc, *source_path) -> None:
        self.origins[entry_path] = (doc, tuple(source_path))

    def locate(self, entry_path: tuple) -> str:
        """`file:line: key.path` of what the user wrote that became `entry_path` of the SLO's
        entry (the nearest part recorded), or the SLO's own `file:line` when nothing is."""
        for n in range(len(entry_path), -1, -1):
            found = self.origins.get(tuple(entry_path[:n]))
            if found is not None:
                doc, path = found
                full = doc.lines.nearest(doc.prefix + path)
                return f"{doc.file}:{doc.lines.line(full)}: {render_path(full) or '(the document)'}"
        return self.where

    def block(self, kind: str, text: str) -> None:
        self.blockers.append(Blocker(kind, text))

    def need(self, name: str, need: MetricNeed) -> None:
        if name in self.metrics:
            self.metrics[name].merge(need)
        else:
            self.metrics[name] = need


@dataclass
class Doc:
    file: str
    line: int
    data: dict
    lines: LineMap
    prefix: tuple = ()             # the path of this object inside its YAML document

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"

    def line_of(self, *path) -> int:
        return self.lines.line(self.prefix + tuple(path))


@dataclass
class Result:
    """What one import produced: every SLO's outcome, the services the files declare, problems
    with the input (unreadable files, YAML errors, documents that are not objects) and notes on
    documents that were read but hold nothing to import."""
    kind: str                                       # "OpenSLO" or "Sloth"
    files: list[str] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)
    services: dict[str, str] = field(default_factory=dict)   # declared service -> description
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def imported(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.imported]

    @property
    def refused(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.imported]


# ---- reading ---------------------------------------------------------------------------------

def expand_paths(paths) -> list[Path]:
    """Files as given, and the YAML/JSON files inside any folder given, in name order."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out += sorted(f for f in p.rglob("*") if f.is_file() and f.suffix in SUFFIXES)
        else:
            out.append(p)
    return out


def read_files(paths) -> list[tuple[str, str | None, str | None]]:
    """(name, text, error) for each file: a file that cannot be read is an error, not a crash."""
    out: list[tuple[str, str | None, str | None]] = []
    for p in expand_paths(paths):
        try:
            out.append((p.as_posix(), p.read_text(encoding="utf-8"), None))
        except UnicodeDecodeError:
            out.append((p.as_posix(), None, f"{p.as_posix()}:1: not UTF-8 text"))
        except OSError as exc:
            out.append((p.as_posix(), None, f"{p.as_posix()}:1: cannot read: {exc.strerror or exc}"))
    return out


def read_documents(texts, result: Result) -> list[Doc]:
    """Every object in the files: each YAML document of a stream, and each item of a document
    that is a list of objects (what the OpenSLO go-sdk, oslo and Nobl9 write). A file that does
    not parse, and a document or item that is not an object, is a problem naming file:line; the
    other files and documents are still read."""
    docs: list[Doc] = []
    for name, text, error in texts:
        result.files.append(name)
        if error is not None:
            result.problems.append(error)
            continue
        try:
            documents = parse_yaml_documents(text, name)
        except SpecError as exc:
            result.problems += [str(p) for p in exc.problems]
            continue
        if not documents:
            result.notes.append(f"{name}:1: holds no YAML document")
        for data, lines, first in documents:
            items = list(enumerate(data)) if isinstance(data, list) else [(None, data)]
            for i, item in items:
                prefix = () if i is None else (i,)
                line = lines.line(prefix) if prefix else first
                if isinstance(item, dict):
                    docs.append(Doc(name, line, item, lines, prefix))
                else:
                    what = "a list" if isinstance(item, list) else f"the {type(item).__name__} {short(item)}"
                    result.problems.append(f"{name}:{line}: {what} where an object (apiVersion, kind, ...) "
                                           "was expected")
    return docs


def short(value, limit: int = 60) -> str:
    """A value from a file, quoted and cut for a one-line message."""
    if isinstance(value, str):
        text = re.sub(r"\s+", " ", value).strip()
        return repr(text if len(text) <= limit else text[: limit - 3] + "...")
    text = json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def mapping(value) -> dict:
    return value if isinstance(value, dict) else {}


def text_of(value) -> str | None:
    """A string field, or None when it is absent or not a string."""
    return value if isinstance(value, str) and value.strip() else None


# ---- values ----------------------------------------------------------------------------------

def number(value, what: str, out: Outcome) -> float | None:
    """A number, also when it was written as a string (with a note); None (and a blocker) when it
    is neither."""
    if isinstance(value, bool) or value is None:
        out.block("invalid", f"{what} is {short(value)}, not a number")
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            parsed = float(value.strip().rstrip("%"))
        except ValueError:
            out.block("invalid", f"{what} {short(value)} is not a number")
            return None
        out.notes.append(f"{what} was the string {value!r}; read as {parsed:g}")
        return parsed
    out.block("invalid", f"{what} is {short(value)}, not a number")
    return None


_SHORTHAND = re.compile(r"^([0-9]+)([a-zA-Z]+)\Z")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_CALENDAR_UNITS = {"M": "month", "Q": "quarter", "Y": "year", "y": "year"}


def period_of(duration, out: Outcome, rolling_default: str = DEFAULT_PERIOD) -> str | None:
    """A rolling window's duration as the spec's period, compared as durations (1w is 7d, 4w is
    28d, 720h is 30d), with a note when it was written differently; a blocker otherwise."""
    low, high = (format_duration(s) for s in SLO_PERIOD_RANGE)
    if duration is None:
        out.notes.append(f"no window duration: the default period {rolling_default}")
        return rolling_default
    text = str(duration).strip()
    m = _SHORTHAND.match(text)
    if m and m.group(2) in _CALENDAR_UNITS:
        unit = _CALENDAR_UNITS[m.group(2)] + ("s" if m.group(1) != "1" else "")
        out.block("period", f"a rolling window of {text} ({m.group(1)} {unit}, of varying length) is not a "
                            f"fixed period ({low} to {high})")
        return None
    try:
        seconds = parse_duration(text)
    except ValueError:
        out.block("invalid", f"window duration {short(duration)} is not a duration")
        return None
    if seconds % 60 or not SLO_PERIOD_RANGE[0] <= seconds <= SLO_PERIOD_RANGE[1]:
        out.block("period", f"a window of {text} is not a period the spec takes (whole minutes, {low} to {high})")
        return None
    period = format_duration(seconds)
    if period != text:
        out.notes.append(f"window {text} read as the period {period}")
    return period


_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


def rule_labels(raw, what: str, out: Outcome, reserved: frozenset = RESERVED_RULE_LABELS) -> dict[str, str]:
    """Labels or annotations as the spec takes them; a name lukhas-obs sets itself, or one
    Prometheus would refuse, is dropped with a note; a list of values is joined with commas."""
    kept: dict[str, str] = {}
    for key, value in mapping(raw).items():
        if key in reserved:
            out.notes.append(f"{what} {key}={short(value)} dropped: lukhas-obs sets {key} itself (routing follows the "
                             "page/ticket priority)")
        elif not isinstance(key, str) or not _LABEL_NAME.match(key) or key.startswith("__"):
            out.notes.append(f"{what} {short(key)} dropped: not a Prometheus label name")
        elif isinstance(value, list) and not value:
            out.notes.append(f"{what} {key}: an empty list dropped (a Prometheus label with an empty value is no "
                             "label)")
        elif isinstance(value, list) and all(isinstance(v, str) for v in value):
            kept[key] = ",".join(value)
            if len(value) > 1:
                out.notes.append(f"{what} {key}: its values {short(value)} joined as {kept[key]!r} (a rule label "
                                 f"holds one string); {_back_as_list(value)}")
            else:   # one item: export cannot tell it from a plain string
                out.notes.append(f"{what} {key}: the list {short(value)} read as the value {kept[key]!r} (a rule "
                                 "label holds one string); export openslo writes it back as a string, not a list")
        else:
            kept[key] = value if isinstance(value, str) else json.dumps(value)
    return kept


def _back_as_list(items: list[str]) -> str:
    """Whether `export openslo` writes a joined list back as the same list (openslo_label)."""
    from lukhas_obs.openslo import label_value

    if any("," in v for v in items):
        return "export openslo cannot write it back as this list: an item holds a comma"
    bad = [v for v in items if not label_value(v)]
    if bad:
        return (f"export openslo cannot write it back: {short(bad[0])} is not an OpenSLO label value (letters, "
                "digits, '.', '_', '-', at most 63)")
    return "export openslo writes it back as this list"


def normalise_name(raw: str, what: str, notes: list[str]) -> str:
    """A name as the spec takes it (lower case letters, digits and dashes, starting with a
    letter, at most 63 characters), with a note when it changed."""
    name = re.sub(r"[^a-z0-9-]+", "-", raw.strip().lower())
    name = re.sub(r"-{2,}", "-", name).strip("-")
    if not name or not name[0].isalpha():
        name = "x-" + name if name else "unnamed"
    if len(name) > 63:
        name = name[:63].rstrip("-")
    if name != raw:
        notes.append(f"{what} {raw!r} renamed {name!r} (the spec's names are lower-case letters, digits and "
                     "dashes, starting with a letter, at most 63 characters)")
    return name


# ---- PromQL ----------------------------------------------------------------------------------

def parse_query(query: str, out: Outcome, what: str):
    """A query parsed in-process; Sloth's `{{.window}}` stands for each window (5m here)."""
    text = promql.at_window(query, "5m")
    if "{{" in text:
        raise Refused("expression", f"{what} {short(query)} holds a template other than {{{{.window}}}}")
    try:
        return promql.parse(text)
    except PromQLError as exc:
        raise Refused("invalid", f"{what} {short(query)} is not valid PromQL: {exc}") from None


_RANGE_OR_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`'
                              r"|\[\s*([0-9][0-9a-zA-Z]*)\s*(:[^\]]*)?\]")


def windowed(query: str, out: Outcome, what: str, kind: str = "expression") -> str:
    """An OpenSLO query (no window placeholder: its ranges are fixed) as an expression SLI's
    template: when every range and subquery range has one duration D, each becomes
    {{.window}}, with a note (the spec records the SLI at every burn-rate window); otherwise a
    blocker. A query that already has {{.window}} is kept."""
    if promql.WINDOW.search(query):
        return query
    found: set[str] = set()

    def swap(m: re.Match) -> str:
        if m.group(1) is None:
            return m.group(0)
        found.add(m.group(1))
        return f"[{promql.WINDOW_PLACEHOLDER}{m.group(2) or ''}]"

    text = _RANGE_OR_QUOTED.sub(swap, query)
    if len(found) != 1:
        raise Refused(kind, f"{what} {short(query)} has " + (
            "no range ([5m]) to read each burn-rate window over" if not found else
            f"ranges of different durations ({', '.join(sorted(found))}): which one is the SLI's window is unknown"))
    out.notes.append(f"{what}: its range [{found.pop()}] read as each burn-rate window ({{{{.window}}}}, as in Sloth)")
    return text


def expression_needs(query: str, out: Outcome, what: str) -> None:
    """The catalogue entries an expression SLI needs: a metric read by rate(), increase() or
    a histogram's series is a counter (the catalogue's naming rule applies), any other a gauge."""
    counted: set[str] = set()

    def selectors(n, *_):
        if isinstance(n, promql_parser.MatrixSelector) and n.vector_selector.name:
            counted.add(n.vector_selector.name)
        return True

    def visit(n, *_):
        if isinstance(n, promql_parser.Call) and n.func.name in ("rate", "increase", "irate", "resets"):
            promql_parser.walk(n, selectors)
        return True

    node = parse_query(query, out, what)
    promql_parser.walk(node, visit)
    for name in sorted(promql.metric_names(promql.at_window(query, "5m"))):
        if name in counted or name.endswith(("_total", "_count", "_bucket", "_sum")):
            need_counter(Selector(name), out, what)
        else:
            need_gauge(Selector(name), out)


def _unparen(node):
    while isinstance(node, promql_parser.ParenExpr):
        node = node.expr
    return node


def _modifier(node) -> str:
    mod = node.modifier
    return "" if mod is None else str(mod).strip()


def counter_selector(node, query: str, out: Outcome, what: str) -> Selector:
    """The counter selector inside `sel`, `sum(sel)`, `rate(sel[w])`, `sum(rate(sel[w]))` or
    `sum by (...) (...)`: the spec sums each SLI's counters per service over its own windows, so
    these are the same SLI; a dropped `by`/`without` is noted. Anything else is an expression
    the spec cannot hold yet."""
    node = _unparen(node)
    if isinstance(node, promql_parser.AggregateExpr) and str(node.op) == "sum" and node.param is None:
        if _modifier(node):
            out.notes.append(f"{what}: `sum {_modifier(node)}` dropped: lukhas-obs sums the SLI over the whole "
                             "service, so the per-label series are not kept")
        node = _unparen(node.expr)
    if isinstance(node, promql_parser.Call) and node.func.name in ("rate", "increase") and len(node.args) == 1:
        arg = node.args[0]
        if isinstance(arg, promql_parser.MatrixSelector):
            node = arg.vector_selector
    return gauge_selector(node, query, what, "a counter selector (optionally inside sum() and rate())")


def gauge_selector(node, query: str, what: str, wanted: str = "a gauge selector") -> Selector:
    """The plain selector `node` is, or the reason it cannot be one."""
    node = _unparen(node)
    if isinstance(node, promql_parser.VectorSelector):
        try:
            return promql.selector_of(node)
        except PromQLError as exc:
            raise Refused("expression", f"{what} {short(query)}: {exc}") from None
    raise Refused("expression", f"{what} {short(query)} is a PromQL expression, not {wanted}")


def _builtin(name: str) -> bool:
    return name in BUILTIN_NAMES or name.startswith(BUILTIN_PREFIXES) or ":" in name


def scoped(sel: Selector, service: str, out: Outcome, what: str) -> Selector:
    """The selector as the spec writes it. lukhas-obs reads every SLI from the service's own scrape
    job (`job="<service>"`, generate/scrape.py): a `job` matcher equal to that is implied and
    dropped; a selector without `job` is re-scoped to it, and a note says so."""
    job = [m for m in sel.matchers if m.name == "job"]
    if not job:
        out.notes.append(f"{what} {sel} has no job matcher: lukhas-obs reads it from the service's own scrape job, "
                         f"job=\"{service}\" (the original counted every job's series); add job=... to the selector "
                         "if the series come from another job")
        return sel
    if len(job) == 1 and job[0].op == "=" and job[0].value == service:
        return Selector(sel.metric, tuple(m for m in sel.matchers if m.name != "job"))
    out.notes.append(f"{what} {sel} keeps its job matcher, which is not the service's own scrape job "
                     f"job=\"{service}\": its series have data only if Prometheus scrapes that job too")
    return sel


def need_counter(sel: Selector, out: Outcome, what: str, buckets: tuple[float, ...] = ()) -> None:
    """The catalogue entry a counter selector needs: `_total` is a counter; `_count`, `_sum` and
    `_bucket` are series of a histogram (when its bucket is known) or a summary."""
    name = sel.metric
    labels = {m.name for m in sel.matchers if m.name not in ("job", "le")}
    if _builtin(name):
        return
    if name.endswith("_total"):
        out.need(name, MetricNeed("counter", labels=labels))
        return
    for suffix in ("_bucket", "_count", "_sum"):
        if name.endswith(suffix):
            base = name[: -len(suffix)]
            if buckets:
                out.need(base, MetricNeed("histogram", set(buckets), labels))
            else:
                out.need(base, MetricNeed("summary", labels=labels))
            return
    out.block("counter-name", f"{what} counts {name}, a counter without the _total suffix: the catalogue takes "
                              "counters named ..._total (Prometheus' convention); record it under such a name")


def need_gauge(sel: Selector, out: Outcome) -> None:
    if not _builtin(sel.metric):
        out.need(sel.metric, MetricNeed("gauge", labels={m.name for m in sel.matchers if m.name != "job"}))


def le_value(sel: Selector) -> float | None:
    le = [m for m in sel.matchers if m.name == "le"]
    if len(le) != 1 or le[0].op != "=":
        return None
    try:
        return float(le[0].value)
    except ValueError:
        return None


def latency_of(good: Selector, total: Selector) -> dict | None:
    """`X_bucket{le="T", m}` over `X_count{m}` is the spec's latency SLI on histogram X at T."""
    if not (good.metric.endswith("_bucket") and total.metric.endswith("_count")):
        return None
    base = good.metric[: -len("_bucket")]
    threshold = le_value(good)
    rest = tuple(m for m in good.matchers if m.name != "le")
    if threshold is None or threshold <= 0 or total.metric != base + "_count" or set(rest) != set(total.matchers):
        return None
    out: dict = {"metric": base, "threshold": threshold}
    if rest:
        out["selector"] = Selector(base, rest).render()[len(base):]
    return out


def latency_sli(good: Selector, total: Selector, out: Outcome, what: str) -> dict | None:
    """The latency SLI `good` over `total` are (latency_of), with the histogram it needs and a note."""
    latency = latency_of(good, total)
    if latency is None:
        return None
    out.need(latency["metric"], MetricNeed("histogram", {latency["threshold"]},
                                           {m.name for m in total.matchers if m.name != "job"}))
    # what the catalogue holds for the histogram is said by team_file, which knows whose catalogue it is
    out.notes.append(f"{what} read as a latency SLI: requests within {promql.number(latency['threshold'])} of "
                     f"histogram {latency['metric']}")
    return {"latency": latency}


def ratio_sli(errors: Selector | None, good: Selector | None, total: Selector, service: str,
              out: Outcome) -> dict:
    """The spec's SLI for counters: latency when good/total are a histogram's bucket and count,
    a ratio otherwise; the catalogue entries they need are recorded on `out`."""
    if good is not None:
        good, total = scoped(good, service, out, "good"), scoped(total, service, out, "total")
        latency = latency_sli(good, total, out, f"{good} over {total}")
        if latency is not None:
            return latency
        le = le_value(good)
        need_counter(good, out, "good", (le,) if le else ())
        need_counter(total, out, "total")
        return {"ratio": {"good": good.render(), "total": total.render()}}
    assert errors is not None, "a ratio has errors or good"
    errors, total = scoped(errors, service, out, "errors"), scoped(total, service, out, "total")
    need_counter(errors, out, "errors")
    need_counter(total, out, "total")
    return {"ratio": {"errors": errors.render(), "total": total.render()}}


def expression_sli(queries: dict[str, str], out: Outcome) -> dict | None:
    """An expression ratio (`errors_query` or `good_query`, and `total_query`), kept as written:
    its selectors are not re-scoped to the service's job, and it needs no selector shape."""
    try:
        for key, query in queries.items():
            expression_needs(query, out, key)
    except Refused as exc:
        out.blockers.append(exc.blocker)
        return None
    out.notes.append("read as an expression ratio (sli.ratio." + "/".join(queries) + "), kept as written: its "
                     "selectors keep their own job matchers (none is added)")
    return {"ratio": dict(queries)}


# A threshold SLI's bad samples: the objective's op says what is good, exactly (a strict op stays
# strict, unlike the selector form, whose bounds are inclusive)
BAD_SAMPLES = {"gt": "<=", "gte": "<", "lt": ">=", "lte": ">"}


def threshold_sli(query: str, node, op: str, bound: float, out: Outcome) -> dict | None:
    """A threshold SLI whose metric is a PromQL expression (go-sdk's `sum(min_over_time(lag[2m]))`):
    the spec's threshold SLI counts the gauge's samples outside its bounds at every evaluation;
    the same count, as an expression ratio, is the samples of the expression (through a
    subquery at the rule evaluation interval) where it fails `op bound`, over all its samples.
    Refused: an expression that is not an instant vector, that reads no series, or that has a
    {{.window}} (a threshold compares each sample, it has no SLI window)."""
    from lukhas_obs.spec.expressions import value_type

    what = f"thresholdMetric {short(query)}"
    if promql.WINDOW.search(query):
        raise Refused("expression", f"{what} holds {{{{.window}}}}: a threshold compares each sample with the "
                                    "objective's value, so the query has no SLI window to take")
    kind = value_type(node)
    if kind != "vector":
        raise Refused("expression", f"{what} gives a {_VALUE_TYPES.get(kind, kind)}, not an instant vector of samples "
                                    "to compare with the objective's value")
    if not promql.metric_names(query):
        raise Refused("expression", f"{what} reads no series: there are no samples to count")
    text, at = query.strip(), promql.number(bound)
    window = f"[{promql.WINDOW_PLACEHOLDER}:]"
    queries = {"errors_query": f"sum_over_time((count(({text}) {BAD_SAMPLES[op]} {at})){window})",
               "total_query": f"sum_over_time((count({text})){window})"}
    out.notes.append(f"{what} is an expression, not a gauge selector: read as an expression ratio counting its "
                     f"samples at each rule evaluation (a subquery), those {BAD_SAMPLES[op]} {at} failing op {op} "
                     f"{at}, as the spec's threshold SLI counts a gauge's samples")
    return expression_sli(queries, out)


_VALUE_TYPES = {"matrix": "range vector", "scalar": "scalar", "string": "string"}


def raw_sli(query: str, out: Outcome) -> dict | None:
    """A raw error-ratio SLI (`sli.raw.error_ratio`), kept as written."""
    try:
        expression_needs(query, out, "error ratio query")
    except Refused as exc:
        out.blockers.append(exc.blocker)
        return None
    out.notes.append("read as a raw error ratio (sli.raw.error_ratio), kept as written: its selectors keep their own "
                     "job matchers, and its budget over the period is the average of its 5m ratio over time (no "
                     "counts to weigh by traffic)")
    return {"raw": {"error_ratio": query}}


def objective_percent(target: float, out: Outcome, what: str = "target") -> float | None:
    """A target ratio (0-1) as the spec's percentage, without float noise."""
    if not 0 < target < 1:
        out.block("invalid", f"{what} {target:g} is not between 0 and 1 (exclusive)")
        return None
    return round(target * 100, 10)


# ---- the team file ---------------------------------------------------------------------------

SHARED_FOR_CHECK = """apiVersion: lukhas-obs/v1
project: import-check
receivers: {nobody: {}}
severities:
"""


@dataclass(frozen=True)
class CatalogueEntry:
    """A metric the spec an import joins (--into) already declares: the team file does not declare
    it again, and an imported latency SLI must sit on one of its bucket boundaries."""
    type: str
    buckets: tuple[float, ...]
    where: str                     # FILE:LINE of its declaration


def catalogue(spec, origins: dict[str, str]) -> dict[str, CatalogueEntry]:
    """The catalogue of a loaded spec (model.Spec), with where each entry is declared
    (spec.loader.metric_origins)."""
    return {m.name: CatalogueEntry(m.type, m.buckets, origins.get(m.name, spec.source)) for m in spec.metrics}


@dataclass
class TeamFile:
    text: str
    services: int
    slos: int
    unplaced: list[str] = field(default_factory=list)   # validation problems no SLO explains (a bug)


def _clean(text: str) -> str:
    return re.sub(r"[\x00-\x1f\x7f\u0085\u2028\u2029]+", " ", text)


def _document(result: Result, port: int, team: str | None, known_metrics: set[str]) -> dict:
    services: dict[str, dict] = {}
    metrics: dict[str, MetricNeed] = {}
    users: dict[str, list[str]] = {}
    for o in result.imported:
        assert o.service is not None and o.entry is not None, "an imported SLO has both"
        svc = services.setdefault(o.service, {"name": o.service, "kind": "application"})
        if result.services.get(o.service) and "description" not in svc:
            svc["description"] = result.services[o.service]
        svc.setdefault("port", port)
        svc.setdefault("slos", []).append(o.entry)
        for name, need in o.metrics.items():
            if name in metrics:
                metrics[name].merge(need)
            else:
                metrics[name] = MetricNeed(need.type, set(need.buckets), set(need.labels))
            if o.service not in users.setdefault(name, []):
                users[name].append(o.service)
    for name, description in result.services.items():
        if name not in services:
            svc = {"name": name, "kind": "application", "scrape": False}
            if description:
                svc["description"] = description
            services[name] = svc
    doc: dict = {"apiVersion": API_VERSION}
    if team:
        doc["team"] = team
    catalogue = {}
    for name in sorted(set(metrics) - known_metrics):
        need = metrics[name]
        body: dict = {"type": need.type}
        if need.labels:
            body["labels"] = sorted(need.labels)
        if need.type == "histogram":
            body["buckets"] = sorted(need.buckets)
        body["services"] = sorted(users[name])
        catalogue[name] = body
    if catalogue:
        doc["metrics"] = catalogue
    doc["services"] = list(services.values())
    return doc


def _header(result: Result, tool: str, port: int) -> str:
    lines = [f"# Imported by `lukhas-obs import {tool}` from {', '.join(result.files) or 'no file'}.",
             "# A team file: put it in a folder of specs beside the shared file (lukhas-obs validate FOLDER).",
             f"# Every service with SLOs is scraped on port {port} (a placeholder unless you chose it: set the",
             "# port your service serves /metrics on); services without SLOs are listed with scrape: false."]
    for o in result.outcomes:
        if o.imported and o.notes:
            lines.append(f"# {o.service}/{o.entry['name'] if o.entry else '?'} ({o.where}, {o.label}):")
            lines += [f"#   - {_clean(n)}" for n in o.notes]
    for o in result.refused:
        lines.append(f"# not imported: {o.label} ({o.where}):")
        lines += [f"#   - {_clean(str(b))}" for b in o.blockers]
    return "\n".join(lines)


_SLO_PATH = re.compile(r"^services\[(\d+)\]\.slos\[(\d+)\]")
_SERVICE_PATH = re.compile(r"^services\[(\d+)\]")
_METRIC_PATH = re.compile(r"^metrics\.([A-Za-z0-9_:]+)")


def team_file(result: Result, tool: str, *, base: Path | None, port: int, team: str | None,
              priorities: set[str], base_metrics: dict[str, CatalogueEntry],
              replaces: Path | None = None) -> TeamFile:
    """The imported SLOs as a team file, checked the way `lukhas-obs validate` checks it: in a
    folder beside `base` (a spec file or folder holding the shared definitions; a minimal shared
    file when None; `replaces`: a file of that folder the team file will replace, left out;
    `base_metrics`: its catalogue). An SLO the spec's checks refuse moves to the refused list with
    the checks' own message at what the user wrote, until what is left validates."""
    _boundaries(result, base_metrics)
    out = _settled(result, tool, base=base, port=port, team=team, priorities=priorities, base_metrics=base_metrics,
                   replaces=replaces)
    if out.slos and not out.unplaced and _catalogue_notes(result, base_metrics):   # the header holds them too
        text = dump(_document(result, port, team, set(base_metrics)), _header(result, tool, port))
        out = TeamFile(text, out.services, out.slos, out.unplaced)
    return out


def _boundaries(result: Result, base_metrics: dict[str, CatalogueEntry]) -> None:
    """An imported latency SLI on a histogram of the joined spec's catalogue must sit on one of its
    bucket boundaries: refused otherwise, naming where that catalogue entry is declared."""
    for o in result.imported:
        assert o.entry is not None, "imported SLOs have an entry"
        latency = o.entry["sli"].get("latency")
        known = base_metrics.get(latency["metric"]) if latency else None
        if latency is None or known is None or known.type != "histogram" or latency["threshold"] in known.buckets:
            continue
        at, bounds = promql.number(latency["threshold"]), ", ".join(map(promql.number, known.buckets))
        o.block("spec", f"{o.locate(('sli', 'latency'))}: histogram {latency['metric']}, declared at {known.where}, "
                        f"has no bucket boundary at {at} (its boundaries: {bounds}); "
                        f"a latency SLI is exact only on a boundary: add {at} to its buckets there, or choose a "
                        "threshold on a boundary")


def _catalogue_notes(result: Result, base_metrics: dict[str, CatalogueEntry]) -> bool:
    """A note on each imported SLO that reads a histogram's buckets, saying whose catalogue entry
    holds them: the joined spec's (where), or the team file's own, which lists only the boundaries
    the imported SLOs read. True when a note was added."""
    written: dict[str, set[float]] = {}
    for o in result.imported:
        for name, need in o.metrics.items():
            if need.type == "histogram" and name not in base_metrics:
                written.setdefault(name, set()).update(need.buckets)
    added = False
    for o in result.imported:
        for name, need in sorted(o.metrics.items()):
            if need.type != "histogram" or not need.buckets:
                continue
            own = ", ".join(map(promql.number, sorted(need.buckets)))
            known = base_metrics.get(name)
            if known is None:
                listed = ", ".join(map(promql.number, sorted(written[name])))
                o.notes.append(f"histogram {name}: the team file's catalogue entry lists only the bucket boundaries "
                               f"the imported SLOs read ({listed}): add the others your service exposes")
            elif known.type == "histogram" and need.buckets <= set(known.buckets):
                o.notes.append(f"histogram {name}: the catalogue entry at {known.where} has the bucket boundary "
                               f"{own} (the team file does not declare it again)")
            else:
                o.notes.append(f"histogram {name}: the catalogue entry at {known.where} is a {known.type}"
                               + (f" without the bucket boundary {own}" if known.type == "histogram" else "")
                               + f": the series {name}_bucket{{le=...}} has data only if the service exposes it")
            added = True
    return added


def _settled(result: Result, tool: str, *, base: Path | None, port: int, team: str | None,
             priorities: set[str], base_metrics: dict[str, CatalogueEntry], replaces: Path | None) -> TeamFile:
    from lukhas_obs.spec.loader import load_spec_dir

    unplaced: list[str] = []
    for _ in range(20):
        doc = _document(result, port, team, set(base_metrics))
        text = dump(doc, _header(result, tool, port))
        if not result.imported:
            return TeamFile(text, 0, 0)
        with tempfile.TemporaryDirectory(prefix="lukhas-obs-import-") as tmp:
            folder = Path(tmp)
            copies: dict[Path, Path] = {}   # the checked copy -> the user's file
            if base is None:
                body = "".join(f"  {p}: {{level: l{p[1]}, receiver: nobody}}\n" for p in sorted(priorities))
                (folder / "shared.yaml").write_text(SHARED_FOR_CHECK + body, encoding="utf-8")
            elif base.is_dir():
                skip = replaces.resolve() if replaces is not None else None
                for f in sorted(base.iterdir()):
                    if f.is_file() and f.suffix in (".yaml", ".yml") and f.resolve() != skip:
                        (folder / f.name).write_bytes(f.read_bytes())
                        copies[folder / f.name] = f
            else:
                (folder / "shared.yaml").write_bytes(base.read_bytes())
                copies[folder / "shared.yaml"] = base
            name = "zz-imported.yaml"
            (folder / name).write_text(text, encoding="utf-8")
            try:
                load_spec_dir(folder)
            except SpecError as exc:
                problems = [_in_users_files(p, copies) for p in exc.problems]
            else:
                problems = []
        if not problems:
            return TeamFile(text, len(doc["services"]), len(result.imported))
        placed = False
        for p in problems:
            path = p.path if p.file.endswith(name) else ""
            hits = _explained_by(path, doc, result)
            for o, part, checked in hits:
                # the user's input first (file, line, key path), then which check of the spec refused it
                o.block("spec", f"{o.locate(part)}: {p.message} (the spec's check of {checked})")
                placed = True
            listed = _listed_service(path, doc, result)
            if not hits and listed is not None:
                # a Service document with no imported SLO (e.g. one the spec already holds): not written
                result.services.pop(listed)
                result.notes.append(f"service {listed} (a Service document) not written: {p.message}")
                placed = True
            elif not hits:
                unplaced.append(f"{Path(p.file).name}:{p.line}: {p.path}: {p.message}" if p.path
                                else f"{Path(p.file).name}:{p.line}: {p.message}")
        if not placed:
            return TeamFile(text, len(doc["services"]), len(result.imported), unplaced)
        unplaced = []
    raise AssertionError("the team file did not settle")  # each round refuses at least one SLO


def _in_users_files(problem: Problem, copies: dict[Path, Path]) -> Problem:
    """A problem found in the checked copy of the --into folder, naming the user's files (an
    "already defined in FILE:LINE" named the temporary copy)."""
    from lukhas_obs.spec.loader import display_name

    file, message = problem.file, problem.message
    for copy, real in copies.items():
        for shown in {display_name(copy), copy.as_posix()}:
            file = display_name(real) if file == shown else file
            message = message.replace(shown, display_name(real))
    return dataclasses.replace(problem, file=file, message=message)


def _listed_service(path: str, doc: dict, result: Result) -> str | None:
    """The service a problem at `path` is about, when it is only listed (from a Service
    document) and has no imported SLO."""
    m = _SERVICE_PATH.match(path)
    if not m or int(m[1]) >= len(doc["services"]):
        return None
    name = doc["services"][int(m[1])]["name"]
    return name if name in result.services and not any(o.service == name for o in result.imported) else None


def _explained_by(path: str, doc: dict, result: Result) -> list[tuple[Outcome, tuple, str]]:
    """The imported SLOs a validation problem at `path` (in the team file) belongs to, each with
    the part of its entry the problem is about (for `Outcome.locate`) and the spec key checked."""
    services = doc["services"]
    m = _SLO_PATH.match(path)
    if m and int(m[1]) < len(services):
        slos = services[int(m[1])].get("slos", [])
        if int(m[2]) < len(slos):
            entry = slos[int(m[2])]
            rest = _parts(path[m.end():])
            return [(o, rest, render_path(rest) or "the SLO") for o in result.imported if o.entry is entry]
    m = _SERVICE_PATH.match(path)
    if m and int(m[1]) < len(services):
        name = services[int(m[1])]["name"]
        checked = "the service" + (f"'s {render_path(_parts(path[m.end():]))}" if path[m.end():] else "")
        return [(o, ("service",), checked) for o in result.imported if o.service == name]
    m = _METRIC_PATH.match(path)
    if m:
        return [(o, ("sli",), f"the catalogue entry {path}") for o in result.imported if m[1] in o.metrics]
    return []


_PART = re.compile(r"\.?([^.\[\]]+)|\[(\d+)\]")


def _parts(rendered: str) -> tuple:
    """'.sli.latency.threshold' or '.labels[0]' as a key path tuple."""
    return tuple(int(i) if i else key for key, i in _PART.findall(rendered))
