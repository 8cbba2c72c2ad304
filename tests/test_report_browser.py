"""The HTML report as a reader's browser shows it: the gate runs against a real Prometheus holding
known history (backfilled with promtool, as in test_gate.py), writes `--html`, and Debian's
headless chromium opens the file: no request but the file itself, no console error, every plot
drawn with data in it, the verdict's colour at the top, and the links open the check's queries in
Prometheus' own UI. FAIL and PASS screenshots are written to $LUKHAS_SCREENSHOTS (the README's
come from there: `LUKHAS_SCREENSHOTS=docs pytest tests/test_report_browser.py`)."""

from __future__ import annotations

import json
import os
import re
import threading
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner

from lukhas_obs import cli

import gatedata
from chromium import Browser, executable
from conftest import SPEC, free_port
from promserver import Prometheus, create_blocks

pytestmark = pytest.mark.integration

SCENARIOS = ("healthy", "canary-2x", "sustained-6pct", "budget-spent")
CORE = ["--service", "lukhas-core"]
# name: scenario, mode, extra args, exit code
REPORTS = {
    "canary-fail": ("canary-2x", "canary", CORE + ["--canary-weight", "5"], 1),
    "canary-pass": ("healthy", "canary", CORE + ["--canary-weight", "5", "--since", "2026-01-01T00:40:00Z"], 0),
    "rollback-fail": ("sustained-6pct", "rollback", [], 1),
    "smoke-pass": ("healthy", "smoke", CORE + ["--service", "lukhas-identity"], 0),
    "budget-fail": ("budget-spent", "budget", CORE, 1),
}
VERDICT_COLOURS = {"FAIL": (0xB4, 0x23, 0x18), "PASS": (0x1A, 0x7F, 0x37)}   # header.FAIL / header.PASS in the CSS


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    """One real Prometheus with the scenarios these reports read."""
    root = tmp_path_factory.mktemp("report")
    data = root / "om.txt"
    data.write_text(gatedata.openmetrics(SCENARIOS))
    create_blocks(data, root / "data")
    (root / "cfg").mkdir()
    (root / "cfg" / "prometheus.yml").write_text("global: {scrape_interval: 1m}\n")
    prom = Prometheus(root / "cfg", root / "data")
    try:
        yield prom
    finally:
        prom.stop()


def gate(url: str, scenario: str, mode: str, *extra: str):
    return CliRunner().invoke(cli.main, ["slo-gate", "--mode", mode, "--spec", str(SPEC), "--prometheus-url", url,
                                         "--timeout", "20s", "--at", str(gatedata.end_of(scenario)), *extra])


@pytest.fixture(scope="module")
def reports(history, tmp_path_factory):
    out = tmp_path_factory.mktemp("html")
    pages = {}
    for name, (scenario, mode, extra, code) in REPORTS.items():
        page = out / f"{name}.html"
        r = gate(history.url, scenario, mode, *extra, "--output", "json", "--html", str(page))
        assert r.exit_code == code, r.output
        assert r.stderr == "", r.stderr
        pages[name] = (page, json.loads(r.stdout))
    return pages


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    executable()
    b = Browser(tmp_path_factory.mktemp("chromium-profile"))
    try:
        yield b
    finally:
        b.close()


PLOTS = """[...document.querySelectorAll('section.check')].map(section => {
  const svg = section.querySelector('figure.plot svg');
  if (!svg) return {name: section.id, plot: null, missing: (section.querySelector('.noplot') || {}).textContent};
  const box = svg.getBoundingClientRect();
  const drawn = [...svg.querySelectorAll('[id*="data-"]')].filter(e => {
    const r = e.getBBox(); return r.width > 0 || r.height > 0; }).length;
  return {name: section.id, plot: [Math.round(box.width), Math.round(box.height)], drawn: drawn};
})"""


@pytest.mark.parametrize("name", list(REPORTS))
def test_the_page_loads_alone_without_error_and_every_plot_has_data(reports, browser, name):
    page_file, doc = reports[name]
    page = browser.open(page_file.as_uri())
    assert page.requests() == [page_file.as_uri()]   # nothing from the network, not even a favicon
    assert page.errors() == []
    sections = page.evaluate(PLOTS)
    assert len(sections) == len(doc["checks"]) > 0
    for s in sections:
        assert s["plot"] is not None, s           # every check of these scenarios has its plot
        assert s["plot"][0] > 600 and s["plot"][1] > 150, s
        assert s["drawn"] >= 1, s                 # a series, a band or a bar drawn with a size
    outcomes = page.evaluate("[...document.querySelectorAll('section.check .badge')].map(b => b.textContent)")
    rank = ["FAIL", "ERROR", "INCONCLUSIVE", "PASS"]
    assert len(outcomes) == len(doc["checks"]) and outcomes == sorted(outcomes, key=rank.index)   # failing first
    title = page.evaluate("document.querySelector('header h1').textContent")
    assert title == f"{doc['outcome']}: {doc['action']}"


def test_fail_and_pass_screenshots(reports, browser, tmp_path):
    """The README's two pictures; the verdict's colour is checked on the pixels."""
    from PIL import Image

    folder = Path(os.environ.get("LUKHAS_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    for name, verdict in (("canary-fail", "FAIL"), ("canary-pass", "PASS")):
        page = browser.open(reports[name][0].as_uri(), height=1200)
        shot = folder / f"report-{verdict.lower()}.png"
        page.screenshot(shot, 1150)
        with Image.open(shot) as im:
            assert im.size == (1200, 1150)
            assert im.convert("RGB").getpixel((600, 8)) == VERDICT_COLOURS[verdict]
            assert len(im.convert("L").getcolors(1 << 16)) > 50   # a page with plots, not a blank


def test_the_checks_that_detect_requests_and_errors_can_fail(browser, tmp_path):
    bad = tmp_path / "bad.html"
    bad.write_text('<!doctype html><title>x</title><img src="http://127.0.0.1:9/x.png">'
                   "<script>console.error('boom')</script>")
    page = browser.open(bad.as_uri())
    assert "http://127.0.0.1:9/x.png" in page.requests()
    assert any("boom" in e for e in page.errors())


def test_a_script_in_a_label_value_is_text_not_code(reports, browser, tmp_path):
    """Label values, reasons and error texts come from outside: they are shown, never run."""
    from lukhas_obs.gate import GateReport
    from lukhas_obs.gate.decide import CheckResult, Evidence, Outcome
    from lukhas_obs.gate.evidence import Line, Plot
    from lukhas_obs.gate.html import render

    evil = '<script>console.error("pwned")</script><img src=x onerror="console.error(1)">'
    check = CheckResult("error ratio", evil, Outcome.FAIL, f"job {evil} failed", query='up{job="x"}',
                        threshold=evil, evidence=[Evidence({"job": evil}, 1.0, evil)])
    report = GateReport("smoke", Outcome.FAIL, gatedata.end_of("healthy"), "5m", "http://127.0.0.1:9090", [check])
    plot = Plot("x", caption=evil, unit="%", start=report.at - 600, end=report.at,
                lines=[Line(evil, [(report.at - 60, 0.1), (report.at, 0.2)])])
    page_file = tmp_path / "evil.html"
    page_file.write_text(render(report, {id(check): plot}))
    page = browser.open(page_file.as_uri())
    assert page.errors() == [] and page.requests() == [page_file.as_uri()]
    assert page.evaluate("document.querySelectorAll('script, img').length") == 0
    assert '<script>console.error("pwned")</script>' in page.evaluate("document.body.innerText")
    legend = page.evaluate("[...document.querySelectorAll('svg text')].map(t => t.textContent).join(' ')")
    assert '<script>console.error("pwned")</script>' in legend   # drawn as text in the plot's legend


def test_a_link_opens_the_checks_queries_in_prometheus(reports, history, browser):
    """The consumer of a link is Prometheus' own UI: it must show the check's exact queries."""
    _, doc = reports["canary-fail"]
    check = next(c for c in doc["checks"] if c["name"] == "canary error ratio")
    assert check["link"].startswith(history.url + "/graph?")
    page = browser.open(check["link"])
    # Debian's Prometheus serves its classic UI (textareas); upstream builds the React one (CodeMirror)
    shown = page.evaluate("""new Promise(done => { const look = () => {
        const boxes = [...document.querySelectorAll('textarea.expression_input, .cm-content')];
        const end = document.querySelector('input[placeholder="Until"], input[placeholder="End time"]');
        if (boxes.length >= 2 && end && end.value) done({queries: boxes.map(b => b.tagName === 'TEXTAREA' ? b.value
            : b.innerText), end: end.value}); else setTimeout(look, 100); }; look(); })""", await_promise=True)
    assert [" ".join(s.split()) for s in shown["queries"]] == [" ".join(q.split()) for q in
                                                                re.split(r"\n(?=sum by)", check["query"])]
    assert shown["end"].startswith("2026-01-05 01:10")   # the evaluation instant, UTC


class _NoRangeQueries:
    """A proxy in front of the real Prometheus that refuses range queries (HTTP 503): a fault of
    the plot stage alone, which a real Prometheus will not make on demand."""

    def __init__(self, upstream: str):
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                if self.path.startswith("/api/v1/query_range"):
                    status, body = 503, b'{"status":"error","errorType":"unavailable","error":"no range today"}'
                else:
                    try:
                        with urllib.request.urlopen(upstream + self.path, timeout=10) as resp:
                            status, body = resp.status, resp.read()
                    except urllib.error.HTTPError as exc:
                        status, body = exc.code, exc.read()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def test_when_the_plot_data_cannot_be_fetched_the_verdict_stands(history, tmp_path):
    proxy = _NoRangeQueries(history.url)
    try:
        args = ("healthy", "smoke", *CORE, "--retries", "0", "--timeout", "10s")
        plain = gate(proxy.url, *args)
        page = tmp_path / "report.html"
        with_html = gate(proxy.url, *args, "--html", str(page))
    finally:
        proxy.stop()
    assert plain.exit_code == with_html.exit_code == 0, plain.output   # smoke reads instant queries only
    assert with_html.stdout == plain.stdout
    html = page.read_text()
    assert "<h1>PASS: go on</h1>" in html
    assert html.count("No plot: the plot&#39;s data could not be fetched: HTTP 503") == html.count('class="check ')
    assert html.count('class="check ') == 5


def test_no_prometheus_still_writes_the_page_and_exits_4(tmp_path):
    page = tmp_path / "report.html"
    r = gate(f"http://127.0.0.1:{free_port()}", "healthy", "smoke", *CORE, "--timeout", "2s", "--retries", "0",
             "--html", str(page))
    assert r.exit_code == 4, r.output
    html = page.read_text()
    assert "<h1>ERROR: hold: the metrics provider failed</h1>" in html and "cannot connect" in html


def test_a_page_that_cannot_be_written_is_said_and_the_verdict_stands(history, tmp_path):
    r = gate(history.url, "budget-spent", "budget", *CORE, "--html", str(tmp_path / "missing" / "report.html"))
    assert r.exit_code == 1, r.output
    missing = tmp_path / "missing" / "report.html"
    assert r.stderr.splitlines() == [f"lukhas-obs: could not write the HTML report {missing}: No such file or"
                                     " directory (the verdict stands)"]
    assert r.stdout.splitlines()[0].startswith("slo-gate budget: FAIL (refuse the promotion: budget spent) at ")


def test_a_link_url_replaces_the_api_url_in_every_link(history):
    r = gate(history.url, "budget-spent", "budget", *CORE, "--output", "json",
             "--link-url", "https://prometheus.example/prom/")
    doc = json.loads(r.stdout)
    link = doc["checks"][0]["link"]
    assert link.startswith("https://prometheus.example/prom/graph?g0.expr=")
    params = urllib.parse.parse_qs(urllib.parse.urlsplit(link).query)
    # the budget record, then the count of its SLI's 5m records over the period (its coverage)
    budget, covered = doc["checks"][0]["query"].split("\n")
    assert (params["g0.expr"], params["g1.expr"]) == ([budget], [covered])
