"""The report's pure parts in-process: links into Prometheus (read back the way its UIs read
them), the markdown step summary (read back by a CommonMark parser with GitHub's tables), links in
text, JSON and JUnit, the HTML page's escaping and its fallbacks, and the arithmetic behind the
plots. The page in a real browser against a real Prometheus: test_report_browser.py."""

from __future__ import annotations

import json
import math
import urllib.parse
import xml.etree.ElementTree as ET

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from lukhas_obs import cli, promql
from lukhas_obs.gate import GateReport, run_gate
from lukhas_obs.gate import evidence as ev
from lukhas_obs.gate import html as page
from lukhas_obs.gate.client import Sample
from lukhas_obs.gate.decide import CheckResult, Evidence, Outcome, combine
from lukhas_obs.gate.links import LinkError, graph_url, link_base, span, split_queries
from lukhas_obs.gate.report import to_json, to_junit, to_markdown, to_text

from conftest import SPEC
from test_gate_logic import ANYTHING, SPEC_MODEL, _Answers

AT = 1_767_575_400.0   # 2026-01-05T01:10:00Z
EVENTS = promql.events(promql.Selector("m", (promql.Matcher("job", "=~", "a|b"),)), "5m", ("job",), "1h")
RATIO = promql.ratio('sum(rate(m{status=~"5.."}[1m]))', "sum(rate(m[1m]))")


@pytest.mark.parametrize("query,parts", [
    ("", []),
    ("up", ["up"]),
    ('up{job="a"}\nprobe_success', ['up{job="a"}', "probe_success"]),
    (RATIO, [RATIO]),                                   # one expression on three lines
    (f"{EVENTS}\n{EVENTS}", [EVENTS, EVENTS]),          # two expressions of five lines each
    (f"{RATIO}\n{RATIO}\nup", [RATIO, RATIO, "up"]),
    ("not ) promql", ["not ) promql"]),                # kept whole rather than lost
])
def test_a_checks_query_splits_into_the_expressions_it_holds(query, parts):
    assert split_queries(query) == parts


def _read_like_prometheus_2(url: str) -> dict[str, str]:
    """What the 2.x UI does: split on & and on the first =, '+' is a space, then decode."""
    out = {}
    for param in urllib.parse.urlsplit(url).query.split("&"):
        key, val = param.split("=")[:2]
        out[key] = urllib.parse.unquote(val.replace("+", " "))
    return out


NASTY = 'sum by (job) (rate(m{path="/a?b=1&c=2", q=~"x+y|#z%20"}[5m]))\n/ 2'


def test_a_link_carries_any_query_exactly_to_both_prometheus_uis():
    url = graph_url("https://prom.example/sub", [NASTY, "up"], AT, 900)
    assert url.startswith("https://prom.example/sub/graph?g0.expr=")
    classic = _read_like_prometheus_2(url)
    mantine = {k: v[0] for k, v in urllib.parse.parse_qs(urllib.parse.urlsplit(url).query).items()}
    for params in (classic, mantine):
        assert params["g0.expr"] == NASTY and params["g1.expr"] == "up"
        assert params["g0.tab"] == "0" and params["g0.range_input"] == "15m"
        assert params["g0.end_input"] == params["g0.moment_input"] == "2026-01-05 01:10:00"


@pytest.mark.parametrize("window,since,seconds", [
    ("5m", None, 900),            # at least 15 minutes
    ("10m", None, 1800),          # the window and two more
    ("1h", None, 3 * 3600),
    ("5m", AT - 3600, 3960),      # a canary's life and a tenth
    ("bogus", None, 900),
])
def test_the_span_of_a_link(window, since, seconds):
    assert span(window, AT, since) == seconds


@pytest.mark.parametrize("url,strict,base", [
    ("http://prom:9090", True, "http://prom:9090"),
    ("https://prom.example/prometheus/", True, "https://prom.example/prometheus"),
    ("http://user:secret@prom:9090/", False, "http://prom:9090"),      # the API URL: credentials dropped
    ("http://user:secret@prom:9090/", True, LinkError),                # --link-url: refused
    ("ftp://prom", True, LinkError),
    ("prom:9090", True, LinkError),
    ("http://prom/?x=1", True, LinkError),
    ("http://prom:bad", True, LinkError),
    ("http://prom/a b(c)", True, "http://prom/a%20b%28c%29"),         # safe inside a markdown link
])
def test_the_base_of_links(url, strict, base):
    if base is LinkError:
        with pytest.raises(LinkError):
            link_base(url, strict)
    else:
        assert link_base(url, strict) == base


def _report(reason="r", service="svc", outcome=Outcome.FAIL, url="http://user:pw@127.0.0.1:9090", **kw):
    checks = [
        CheckResult("error ratio", service, outcome, reason, query=RATIO, threshold="< 1 %",
                    evidence=[Evidence({"kind": "bad"}, 3.0), Evidence({"kind": "total"}, 100.0)]),
        CheckResult("targets up", "other", Outcome.PASS, "2 up", query='up{job=~"other"}'),
        CheckResult("gate", None, Outcome.INCONCLUSIVE, "no query at all"),
    ]
    return GateReport("smoke", combine(c.outcome for c in checks), AT, "5m", url, checks, **kw)


def test_json_has_a_link_per_check_that_sent_a_query_and_no_credentials():
    doc = json.loads(to_json(_report()))
    links = [c.get("link") for c in doc["checks"]]
    assert links[0].startswith("http://127.0.0.1:9090/graph?g0.expr=") and links[2] is None
    assert links[1].startswith("http://127.0.0.1:9090/graph?g0.expr=")
    assert "pw" not in links[0] and "user" not in links[0]
    assert _read_like_prometheus_2(links[0])["g0.expr"] == RATIO
    assert _read_like_prometheus_2(links[1])["g0.expr"] == 'up{job=~"other"}'
    moved = json.loads(to_json(_report(), "https://prom.example"))
    assert moved["checks"][0]["link"] == links[0].replace("http://127.0.0.1:9090/", "https://prom.example/")


def test_text_lists_the_links_below_the_table_failing_first():
    text = to_text(_report())
    table, _, links = text.partition("Prometheus, each check's queries up to 2026-01-05T01:10:00Z:")
    assert table.splitlines()[2:6] == ["RESULT        SERVICE  CHECK        REASON",
                                       "FAIL          svc      error ratio  r",
                                       "INCONCLUSIVE  -        gate         no query at all",
                                       "PASS          other    targets up   2 up"]
    rows = links.strip().splitlines()
    assert [r.split()[0] for r in rows] == ["FAIL", "PASS"]      # the check without a query has no link
    assert rows[0].endswith(json.loads(to_json(_report()))["checks"][0]["link"])


def test_junit_carries_the_link_in_the_failure_and_in_system_out():
    root = ET.fromstring(to_junit(_report(), "https://prom.example"))
    case = root.find("testcase")
    link = json.loads(to_json(_report(), "https://prom.example"))["checks"][0]["link"]
    assert link.startswith("https://prom.example/graph?g0.expr=")
    for text in (case.find("failure").text, case.find("system-out").text):
        assert text.splitlines()[:3] == ["r", "threshold: < 1 %", f"prometheus: {link}"], text


MD = MarkdownIt("commonmark").enable("table")


def _tables(markdown: str) -> list[list[list[str]]]:
    """Every table as rows of cell texts (header row included), as a GFM renderer sees them."""
    tables, rows, row = [], None, None
    for tok in MD.parse(markdown):
        if tok.type == "table_open":
            rows = []
        elif tok.type == "tr_open":
            row = []
        elif tok.type == "inline" and row is not None:
            row.append(tok)
        elif tok.type == "tr_close":
            rows.append(row)
            row = None
        elif tok.type == "table_close":
            tables.append(rows)
    return tables


@pytest.mark.parametrize("reason", [
    "plain",
    "a | b | c",                                         # a pipe must not end the cell
    "<script>alert(1)</script> <img src=x onerror=y>",   # no HTML from a label value
    "[click](javascript:alert(1)) ![i](http://x/i.png)",  # no link, no image
    "**bold** `code` _x_ ~~y~~ # h \\ back\\|slash",
    "two\nlines\r\nand\x00\x1b[31mcontrol",
    "&amp; &lt; entities",
])
def test_markdown_is_a_valid_table_whatever_the_values(reason):
    md = to_markdown(_report(reason=reason, service=reason))
    tables = _tables(md)
    assert len(tables) == 2                  # the checks that did not pass, then the passing ones folded
    head, *rows = tables[0]
    assert [c.content for c in head] == ["Result", "Service", "Check", "Reason", "Prometheus"]
    assert len(rows) == 2 and all(len(r) == 5 for r in rows)
    fail = rows[0]
    assert fail[0].content == "❌ FAIL"
    shown = " ".join(reason.replace("\x00", "\\x00").replace("\x1b", "\\x1b").split())
    for cell in (fail[1], fail[3]):
        kinds = {t.type for t in cell.children}
        assert kinds <= {"text", "softbreak"}, kinds            # text only: no html, link, image, emphasis
        assert "".join(t.content for t in cell.children) == (shown if cell is fail[1] else f"{shown}")
    links = [t for t in fail[4].children if t.type == "link_open"]
    assert len(links) == 1 and links[0].attrs["href"].startswith("http://127.0.0.1:9090/graph?g0.expr=")
    assert md.index("❌ FAIL") < md.index("<details>") < md.index("✅ PASS")


def test_markdown_opens_with_the_verdict_and_the_action():
    md = to_markdown(_report())
    first = MD.parse(md)
    assert first[0].type == "heading_open" and first[1].content == "❌ slo-gate smoke: FAIL (stop: the deploy is " \
                                                                     "unhealthy)"
    passing = to_markdown(GateReport("canary", Outcome.PASS, AT, "5m", "http://p", [
        CheckResult("canary error ratio", "svc", Outcome.PASS, "fine", query="up")], next_weight=10))
    assert passing.startswith("### ✅ slo-gate canary: PASS (promote)") and "Next canary weight: **10 %**" in passing
    assert "<details>" not in passing and len(_tables(passing)) == 1


@pytest.mark.parametrize("args,code,last", [
    (["--link-url", "ftp://x"], 2, "Error: Invalid value for --link-url: 'ftp://x' is not an http(s) URL with a host"),
    (["--link-url", "http://u:p@x"], 2, "Error: Invalid value for --link-url: 'http://u:p@x' carries credentials:"
                                        " links are written into reports, give the URL without them"),
    (["--output", "html"], 2, "Error: Invalid value for '--output': 'html' is not one of 'text', 'json', 'markdown'."),
])
def test_the_cli_refuses_bad_report_options(args, code, last):
    r = CliRunner().invoke(cli.main, ["slo-gate", "--spec", str(SPEC), *args])
    assert r.exit_code == code and r.output.splitlines()[-1] == last, r.output


EVIL = '<script>alert("x")</script>'


def test_the_page_escapes_everything_that_comes_from_outside():
    report = _report(reason=f"job {EVIL}", service=EVIL)
    report.checks[0].evidence.append(Evidence({"job": EVIL}, 1.0, EVIL))
    plots = {id(report.checks[0]): ev.Plot("t", caption=EVIL, unit="%", start=AT - 600, end=AT,
                                           lines=[ev.Line(EVIL, [(AT - 60, 0.1), (AT, 0.2)])]),
             id(report.checks[1]): ev.Plot("t", error=f"the plot's data could not be fetched: {EVIL}")}
    html = page.render(report, plots)
    assert "<script" not in html.lower()
    assert "&lt;script&gt;alert(" in html                 # shown as text, in the page and in the plot's legend
    assert html.count("<svg") == 1 and "No plot: the plot&#39;s data could not be fetched: &lt;script" in html
    assert 'http-equiv="Content-Security-Policy" content="default-src \'none\'' in html


def test_without_matplotlib_the_page_says_why_it_has_no_plots(monkeypatch):
    monkeypatch.setattr(page, "_matplotlib_version", lambda: None)
    report = _report()
    plots = {id(c): ev.Plot("t", unit="%", start=AT - 600, end=AT, lines=[ev.Line("x", [(AT, 0.1)])])
             for c in report.checks}
    html = page.render(report, plots)
    assert "<svg" not in html and html.count("pip install &#39;lukhas-obs[report]&#39;") == 3


def test_plot_ids_are_unique_in_the_page():
    import re

    plot = ev.Plot("t", unit="s", start=AT - 600, end=AT, lines=[ev.Line("x", [(AT - 60, 1.0), (AT, 2.0)])],
                   levels=[ev.Level("limit", 1.5)], bars=[ev.Bar("b", AT, 1.0, 0.5, 1.5)])
    ids = re.findall(r'\bid="([^"]+)"', page.svg(plot, "p0-") + page.svg(plot, "p1-"))
    assert ids and len(ids) == len(set(ids)) and all(i.startswith(("p0-", "p1-")) for i in ids)
    assert sum(i.startswith("p0-") for i in ids) == sum(i.startswith("p1-") for i in ids)   # the same plot twice
    refs = re.findall(r"url\(#([^)]+)\)|href=\"#([^\"]+)\"", page.svg(plot, "p0-"))
    assert refs and all((a or b) in ids for a, b in refs)   # clip paths and markers: every reference resolves


# ---- the arithmetic behind the plots ------------------------------------------------------------

@pytest.mark.parametrize("seconds,minimum,start,step", [
    (900, 15, AT - 900, 15),          # 60 points
    (3600, 15, AT - 3600, 15),        # 240 points
    (3601, 15, AT - 3600, 30),
    (30 * 86400, 60, AT - 30 * 86400, 10800),
    (600, 60, AT - 600, 60),          # rollback: on the check's minute grid
])
def test_the_grid_ends_at_the_evaluation_instant(seconds, minimum, start, step):
    assert ev.grid(AT, seconds, minimum) == (start, step)
    assert (AT - start) / step <= ev.MAX_POINTS


def _s(labels, values):
    return Sample(labels, values[-1][1] if values else math.nan, values)


def test_series_picks_and_sums_the_matching_series():
    samples = [_s({"job": "a", "track": "canary"}, [(1, 2.0), (2, 3.0)]),
               _s({"job": "a", "track": "canary", "instance": "i2"}, [(2, 1.0)]),
               _s({"job": "b", "track": "canary"}, [(1, 9.0)])]
    assert ev.series(samples, job="a", track="canary") == {1: 2.0, 2: 4.0}
    assert ev.series(samples, job="c") == {}


@pytest.mark.parametrize("bad,total,good,points", [
    ({1: 1, 2: 0}, {1: 10, 2: 10}, False, [(1, 0.1), (2, 0.0)]),
    ({}, {1: 10}, False, [(1, 0.0)]),                          # no error series: no errors
    ({1: 9}, {1: 10, 2: 10}, True, [(1, 0.1)]),                # latency: no bucket, unknown, not 100 % slow
    ({1: 1, 2: 5}, {1: 0, 2: math.nan}, False, []),            # no traffic, NaN: no point
    ({1: 20}, {1: 10}, False, [(1, 1.0)]),                     # clamped
])
def test_ratio_points(bad, total, good, points):
    assert ev.ratio_points(bad, total, good) == points


def test_cumulative_sums_the_canary_life_after_its_start():
    assert ev.cumulative({60: 1, 120: 2, 180: 0}, {60: 10, 120: 10, 180: 10}, since=60) == [(120, 2, 10), (180, 2, 20)]
    assert ev.cumulative({120: 8}, {120: 10}, since=0, bad_is_good=True) == [(120, 2, 10)]


@pytest.mark.parametrize("values,run", [
    ([0.01, 0.06, 0.07, 0.08], [0.06, 0.07, 0.08]),
    ([0.06, 0.07, 0.01], []),
    ([0.06, math.nan, 0.07], [0.07]),
    ([0.05, 0.06], [0.06]),                 # the limit itself is not above it
    ([], []),
])
def test_the_run_above_a_limit(values, run):
    pts = [(60.0 * i, v) for i, v in enumerate(values)]
    assert [v for _, v in ev.trailing_run(pts, 0.05)] == run


@pytest.mark.parametrize("name,builder", [
    ("error ratio", "_smoke_ratio"), ("latency", "_smoke_ratio"), ("fast burn availability", "_fast_burn"),
    ("error budget latency", "_budget"), ("canary error ratio", "_canary_signal"), ("whatever", None),
])
def test_every_check_name_finds_its_plot(name, builder):
    found = ev.builder_for(name)
    assert (found.__name__ if found else None) == builder


def test_a_plot_that_fails_says_why_and_never_raises():
    class Stage:
        def __getattr__(self, name):
            raise ZeroDivisionError("a bug")

    check = CheckResult("db pool", None, Outcome.PASS, "ok", query="x")
    plot = ev.plot_for(Stage(), check)   # type: ignore[arg-type]
    assert plot.error == "the plot could not be made: ZeroDivisionError: a bug" and plot.title == "db pool"
    assert ev.plot_for(Stage(), CheckResult("new check", None, Outcome.PASS, "ok")).error == "no plot for this check"


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(answers=st.lists(ANYTHING, min_size=1, max_size=8), mode=st.sampled_from(["smoke", "canary", "rollback",
                                                                                  "budget"]))
def test_whatever_prometheus_answers_every_check_gets_a_plot_or_the_reason(answers, mode):
    services = ["lukhas-core", "lukhas-identity", "prometheus"]
    provider = _Answers(answers)
    report = run_gate(SPEC_MODEL, mode, provider, at=1_767_229_200.0, services=services, canary_weight=5)
    plots = ev.collect(SPEC_MODEL, report, provider, services, canary_weight=5)
    assert set(plots) == {id(c) for c in report.checks}
    for plot in plots.values():
        assert plot.error or any(line.points for line in plot.lines), plot


@pytest.mark.parametrize("times,step,gaps", [
    ([0, 60, 120], 60, 0),
    ([0, 60, 300, 360], 60, 1),       # three missing points: one gap
    ([0, 89, 200], 60, 1),            # 89 s is within 1.5 steps, 111 s is not
    ([0, 3600], 0, 0),                # no step known: no gap drawn
])
def test_a_line_breaks_where_no_point_was_measured(times, step, gaps):
    out = ev.with_gaps([(float(t), 1.0) for t in times], step)
    assert sum(math.isnan(v) for _, v in out) == gaps and len(out) == len(times) + gaps


@pytest.mark.parametrize("write", [to_text, to_json, to_junit, to_markdown, lambda r: page.render(r, {})])
def test_no_output_repeats_the_credentials_of_the_api_url(write):
    out = write(_report(url="https://gate:s3cret@prom.example:9090/api-root"))
    assert "s3cret" not in out and "gate:" not in out
    assert "https://prom.example:9090/api-root" in out
