"""slo-gate against a real Prometheus holding known history (backfilled with promtool), a live
Prometheus scraping a real exporter, a stopped Prometheus, and fake servers for the faults that
cannot be made otherwise (HTTP 500, a hang, NaN)."""

from __future__ import annotations

import json
import re
import threading
import time
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from lukhas_obs.spec import load_spec

import gatedata
from conftest import SPEC, free_port, invoke_cli, run_cli, wait_until
from promserver import Prometheus, VictoriaMetrics, gate_history, history_prometheus, local_config, start_workload

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    """One real Prometheus serving every scenario of gatedata, each in its own day."""
    prom = history_prometheus(tmp_path_factory, "gate")
    try:
        yield prom
    finally:
        prom.stop()


def gate(prom_url: str, mode: str, scenario: str | None = None, *extra: str):
    """`lukhas-obs slo-gate` on a real Prometheus (or VictoriaMetrics), in process: the tables
    below run it some 70 times (test_prometheus_stopped_is_error_exit_4 runs it as a process)."""
    args = ["slo-gate", "--mode", mode, "--spec", str(SPEC), "--prometheus-url", prom_url, "--timeout", "20s", *extra]
    if scenario:
        args += ["--at", str(gatedata.end_of(scenario))]
    return invoke_cli(*args)


APPS = [a for s in gatedata.APPS for a in ("--service", s)]
CORE = ["--service", "lukhas-core"]

def row(result: str, service: str, check: str, reason: str, *, pattern: bool = False):
    """A row the table must hold: result, service and check exactly, the reason exactly (or,
    where the statistics make it long, as a pattern it must match in full)."""
    return (result, service, check, reason if pattern else re.escape(reason))


P = "PASS"
F = "FAIL"
INC = "INCONCLUSIVE"
CANARY_STATS = r"errors: canary {c}, baseline {b} since \S+Z; worse: p=\S+ \(valid at any number of looks; .*\): "
STALE = "stale: {n} series not scraped within 2m; {what} last at {last} ({ago}s before {at})"
NO_BASELINE = ("no track='baseline' series for lukhas-core: the canary has nothing to compare with"
               " (is the stable track labelled track='baseline'?)")
ROUTING = ("the canary served 50.0% of the service's 30000 requests in 5m; --canary-weight is {w}%: routing error,"
           " more users on the canary than intended")
NO_BUCKET = ("no lukhas_http_request_duration_seconds_bucket series with le=0.25: the histogram does not have the"
             " threshold as a bucket boundary, so how many requests were slow is unknown")

CASES = [
    # scenario, mode, extra args, exit code, a row of the table (or a whole line) the output must hold
    ("healthy", "smoke", [], 0, row(P, "lukhas-core", "error ratio",
                                    "errors 0.05 % (15 of 30000 requests in 5m; 99% bounds 0.0249 %-0.0891 %)")),
    ("healthy", "rollback", [], 0, row(P, "-", "services down", "0 of 5 services down")),
    ("healthy", "canary", APPS, 0, "next canary weight: 5 %"),
    ("healthy", "budget", CORE, 0, row(P, "lukhas-core", "error budget availability",
                                            "80 % of the budget left; data covers 30 d of 30 d (100 %)")),
    ("service-down", "smoke", [], 1, row(F, "lukhas-memory", "targets up",
                                         "2 of 2 down at the last scrape: lukhas-memory-canary:80, lukhas-memory:80")),
    ("error-spike-2m", "rollback", [], 0, row(P, "-", "error ratio sustained", "no service above 5 % for 3m")),
    ("sustained-6pct", "rollback", [], 1, row(F, "-", "error ratio sustained", "lukhas-core: above 5 % for 3m")),
    ("canary-2x", "canary", APPS, 1, row(F, "lukhas-core", "canary error ratio", CANARY_STATS.format(
        c=r"2 % of 21000", b=r"1 % of 399000") + r"canary is worse \(significant after Holm's correction over 10"
        r" tests at 0\.01\)", pattern=True)),
    ("canary-thin", "canary", APPS, 3, row(INC, "lukhas-core", "canary error ratio", CANARY_STATS.format(
        c=r"0\.05 % of 420", b=r"0\.05 % of 399000") + r"hold, about 4,421 more canary requests at these ratios",
        pattern=True)),
    ("latency-regression", "smoke", CORE, 1, row(F, "lukhas-core", "latency",
                                                 "slower than 0.25s 30 % (9000 of 30000 requests in 5m; 99% bounds"
                                                 " 29.4 %-30.6 %): above the target 1 % (significant after Holm's"
                                                 " correction over 2 tests at 0.01)")),
    ("latency-regression", "rollback", [], 1, row(F, "-", "p99 latency sustained", "lukhas-core: above 5s for 5m")),
    ("stale", "smoke", APPS, 3, row(INC, "lukhas-core", "health probe", STALE.format(
        n=1, what="http://lukhas-core/health", last="2026-01-08T01:06:00Z", ago=240, at="2026-01-08T01:10:00Z"))),
    ("budget-spent", "budget", CORE, 1, row(F, "lukhas-core", "error budget availability",
                                                "10 % of the budget left; data covers 30 d of 30 d (100 %)")),
    ("pool-exhausted", "rollback", [], 1, row(F, "-", "db pool", "connection pool exhausted: lukhas-identity")),
    ("no-traffic", "smoke", CORE, 3, row(INC, "lukhas-core", "error ratio", "no traffic in 5m")),
    ("fast-burn", "rollback", [], 1, row(F, "lukhas-core", "fast burn availability",
                                         "burning the error budget at 17.0x over 1h")),
    # no data is not an outage: an empty TSDB (or a tenant typo), scraping stopped 10 minutes ago
    ("empty", "rollback", [], 3, row(INC, "-", "services down",
                                     "no data: Prometheus holds no up series at all in the last 1h")),
    ("empty", "smoke", [], 3, row(INC, "lukhas-core", "targets up",
                                  "no data: Prometheus holds no up series at all in the last 1h (empty, a wrong URL or"
                                  " tenant, or --at outside its history)")),
    ("empty", "canary", APPS, 3, row(INC, "lukhas-core", "canary error ratio",
                                     "no track='canary' series for lukhas-core in the last 6h (a canary counts from its"
                                     " first whole minute): is the canary deployed and labelled?")),
    ("empty", "budget", CORE, 3, row(INC, "lukhas-core", "error budget availability",
                                     "no slo:error_budget:remaining_ratio series: are the generated SLO rules"
                                     " loaded?")),
    ("stopped-10m", "rollback", [], 3, row(INC, "-", "services down",
                                           "0 of 5 services down; unknown: lukhas-core, lukhas-identity, lukhas-memory,"
                                           " lukhas-consciousness, lukhas-governance (" + STALE.format(
                                               n=10, what="lukhas-consciousness", last="2026-01-14T01:00:00Z", ago=600,
                                               at="2026-01-14T01:10:00Z") + ")")),
    ("stopped-10m", "smoke", APPS, 3, row(INC, "lukhas-core", "targets up", STALE.format(
        n=2, what="lukhas-core-canary:80", last="2026-01-14T01:00:00Z", ago=600, at="2026-01-14T01:10:00Z"))),
    ("stopped-10m", "canary", APPS, 3, row(INC, "lukhas-core", "canary targets up", STALE.format(
        n=1, what="lukhas-core-canary:80", last="2026-01-14T01:00:00Z", ago=600, at="2026-01-14T01:10:00Z"))),
    # a canary started inside the window: its error series are born inside it, and counted
    ("canary-fresh", "canary", APPS, 1, row(F, "lukhas-core", "canary error ratio", CANARY_STATS.format(
        c=r"3 % of 1200", b=r"0\.05 % of 22800") + r"canary is worse \(significant after Holm's correction over 10"
        r" tests at 0\.01\)", pattern=True)),
    ("canary-fresh-healthy", "canary", APPS, 3, row(INC, "lukhas-core", "canary error ratio", CANARY_STATS.format(
        c=r"0\.05 % of 1200", b=r"0\.05 % of 22800") + r"hold, about 3,641 more canary requests at these ratios",
        pattern=True)),
    # the canary's own health and routing
    ("canary-down-3m", "canary", APPS, 1, row(F, "lukhas-core", "canary targets up",
                                              "1 of 1 down at the last scrape: lukhas-core-canary:80")),
    ("canary-routing", "canary", APPS + ["--canary-weight", "5"], 1,
     row(F, "lukhas-core", "canary traffic share", ROUTING.format(w=5))),
    ("healthy", "canary", APPS + ["--canary-weight", "5"], 0, "next canary weight: 10 %"),
    # every series of a budget, not the first
    ("budget-two-clusters", "budget", CORE, 1, row(F, "lukhas-core", "error budget availability",
                                                   "5 % of the budget left in {cluster=us} (1 of 2 series below); "
                                                   "data covers 30 d of 30 d (100 %)")),
    # a histogram without the threshold's bucket is unknown, not 100 % slow
    ("no-threshold-bucket", "smoke", CORE, 3, row(INC, "lukhas-core", "latency", NO_BUCKET)),
    ("no-threshold-bucket", "canary", CORE, 3, row(INC, "lukhas-core", "canary latency", NO_BUCKET)),
    # the scenario's p99 fails rollback; its fast burn is unknown, not 100 % slow
    ("no-threshold-bucket", "rollback", [], 1, row(INC, "lukhas-core", "fast burn latency",
                                                   "no bucket at the SLO's threshold (le=0.25): how many requests were"
                                                   " slow is unknown")),
    # the fast burn of a latency SLO rolls back like an availability one
    ("latency-fast-burn", "rollback", [], 1, row(F, "lukhas-core", "fast burn latency",
                                                 "burning the error budget at 30.2x over 1h")),
    # found by the audit: a scrape gap is not a newborn counter; an unlabelled baseline is not a
    # routing error; --canary-weight 0 still checks the routing
    ("scrape-gap", "smoke", CORE, 0, row(P, "lukhas-core", "error ratio",
                                         "errors 0.05 % (11 of 22500 requests in 5m; 99% bounds 0.0219 %-0.097 %)")),
    ("unlabelled-baseline", "canary", APPS + ["--canary-weight", "5"], 3,
     row(INC, "lukhas-core", "canary error ratio", NO_BASELINE)),
    ("canary-routing", "canary", APPS + ["--canary-weight", "0"], 1,
     row(F, "lukhas-core", "canary traffic share", ROUTING.format(w=0))),
]

OUTCOMES = {0: "PASS", 1: "FAIL", 3: "INCONCLUSIVE"}
ACTIONS = {("smoke", "PASS"): "go on", ("smoke", "FAIL"): "stop: the deploy is unhealthy",
           ("rollback", "PASS"): "keep", ("rollback", "FAIL"): "roll back now",
           ("canary", "PASS"): "promote", ("canary", "FAIL"): "roll back", ("canary", "INCONCLUSIVE"): "hold",
           ("budget", "PASS"): "promotion allowed", ("budget", "FAIL"): "refuse the promotion: budget spent"}


def table_rows(stdout: str) -> list[tuple[str, ...]]:
    """The RESULT/SERVICE/CHECK/REASON rows of the text report, split on its column gaps."""
    lines = stdout.splitlines()
    head = next(i for i, ln in enumerate(lines) if re.fullmatch(r"RESULT +SERVICE +CHECK +REASON", ln))
    rows = []
    for ln in lines[head + 1:]:
        if not ln:
            break
        rows.append(tuple(re.split(r" {2,}", ln, maxsplit=3)))
    return rows


@pytest.mark.parametrize("scenario,mode,extra,code,expected", CASES,
                         ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_gate_on_known_history(history, scenario, mode, extra, code, expected):
    r = gate(history.url, mode, scenario, *extra)
    assert r.returncode == code, r.stdout + r.stderr
    outcome = OUTCOMES[code]
    action = re.escape(ACTIONS.get((mode, outcome), "hold: could not measure"))
    at = datetime.fromtimestamp(gatedata.end_of(scenario), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    header = f"slo-gate {mode}: {outcome} \\({action}\\) at {at}, window 5m, {re.escape(history.url)}"
    assert re.fullmatch(header, r.stdout.splitlines()[0]), r.stdout
    if isinstance(expected, str):
        assert expected in r.stdout.splitlines(), r.stdout
    else:
        result, service, check, reason = expected
        rows = table_rows(r.stdout)
        found = [x for x in rows if x[:3] == (result, service, check) and re.fullmatch(reason, x[3])]
        assert len(found) == 1, "\n".join(map(repr, rows))
    assert "Traceback" not in r.stderr


def test_budget_without_generated_rules_is_inconclusive_never_pass(history):
    r = gate(history.url, "budget", "healthy", "--service", "lukhas-memory")
    assert r.returncode == 3, r.stdout
    assert table_rows(r.stdout) == [("INCONCLUSIVE", "lukhas-memory", "error budget availability",
                                     "no slo:error_budget:remaining_ratio series: are the generated SLO rules loaded?")]


def test_json_output_is_the_documented_structure(history, tmp_path):
    junit = tmp_path / "gate.xml"
    r = gate(history.url, "rollback", "sustained-6pct", "--output", "json", "--junit", str(junit))
    assert r.returncode == 1
    doc = json.loads(r.stdout)
    assert doc["version"] == 1 and doc["mode"] == "rollback" and doc["outcome"] == "FAIL" and doc["exit_code"] == 1
    assert doc["action"] == "roll back now"
    assert doc["evaluated_at"] == "2026-01-04T01:10:00Z"
    failing = [c for c in doc["checks"] if c["outcome"] == "FAIL"]
    assert [c["name"] for c in failing] == ["error ratio sustained"]
    check = failing[0]
    jobs = "lukhas-consciousness|lukhas-core|lukhas-governance|lukhas-identity|lukhas-memory"
    assert check["query"] == (f'(sum by (job) (rate(lukhas_http_requests_total{{status=~"5..", job=~"{jobs}"}}[1m])))'
                              f'\n/\n(sum by (job) (rate(lukhas_http_requests_total{{job=~"{jobs}"}}[1m])))')
    assert check["threshold"] == "> 5 % at each of 3 consecutive minutes"
    assert check["reason"] == "lukhas-core: above 5 % for 3m"
    core = next(e for e in check["evidence"] if e["labels"].get("job") == "lukhas-core")
    assert abs(core["value"] - 0.06) < 1e-6
    suite = ET.parse(junit).getroot()
    assert suite.get("failures") == "1" and int(suite.get("tests")) == len(doc["checks"])
    assert suite.find("testcase/failure").get("message") == "lukhas-core: above 5 % for 3m"


def test_every_series_is_judged_not_only_the_first(history):
    r = gate(history.url, "smoke", "service-down", "--output", "json")
    doc = json.loads(r.stdout)
    targets = {c["service"]: c["outcome"] for c in doc["checks"] if c["name"] == "targets up"}
    services = [s.name for s in load_spec(SPEC).services]   # every declared service is judged
    assert targets == {s: "FAIL" if s == "lukhas-memory" else "PASS" for s in services}
    assert len(targets) == 13


def test_a_declared_service_with_no_target_fails(history, tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC.read_text().replace("  - name: loki\n", "  - name: tempo\n    kind: monitoring\n"
                                             "    port: 3200\n  - name: loki\n"))
    r = run_cli("slo-gate", "--mode", "smoke", "--spec", str(spec), "--prometheus-url", history.url,
                "--at", str(gatedata.end_of("healthy")), "--service", "tempo")
    assert r.returncode == 1, r.stdout
    assert table_rows(r.stdout) == [
        ("FAIL", "tempo", "targets up", "no scrape target for job 'tempo' in the last 1h: the service is declared,"
                                        " but Prometheus has not scraped it"),
        ("PASS", "-", "rule evaluation", "no rule evaluation failed")]


def test_prometheus_stopped_is_error_exit_4(tmp_path):
    port = free_port()  # nothing listens here
    # as a process: the exit status a pipeline sees
    r = run_cli("slo-gate", "--mode", "smoke", "--spec", str(SPEC), "--prometheus-url", f"http://127.0.0.1:{port}",
                "--timeout", "3s", *CORE)
    assert r.returncode == 4, r.stdout
    reason = f"query failed: cannot connect to http://127.0.0.1:{port}: Connection refused (after 4 attempts within 3s)"
    assert table_rows(r.stdout) == [("ERROR", service, check, reason) for service, check in SMOKE_CHECKS], r.stdout


class _Fake:
    """A local HTTP server for faults a real Prometheus will not produce on demand."""

    def __init__(self, behaviour: str):
        outer = self
        self.requests = 0
        self.in_flight = self.most = 0
        self.lock = threading.Lock()
        self.arrived = threading.Condition(self.lock)

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                outer.requests += 1
                if behaviour == "500":
                    body = b'{"status":"error","errorType":"internal","error":"boom"}'
                    self.send_response(500)
                elif behaviour == "hang":
                    time.sleep(5)
                    return
                elif behaviour == "nan":
                    body = (b'{"status":"success","data":{"resultType":"vector","result":[{"metric":'
                            b'{"job":"lukhas-core","service":"lukhas-core"},"value":[1,"NaN"]}]}}')
                    self.send_response(200)
                elif behaviour == "empty":
                    body = b'{"status":"success","data":{"resultType":"vector","result":[]}}'
                    self.send_response(200)
                elif behaviour == "slow":
                    # each query is held until ten are in flight (or 10 s pass): overlapping
                    # queries all arrive however slowly a loaded machine starts the threads;
                    # queued ones never reach ten
                    with outer.arrived:
                        outer.in_flight += 1
                        outer.most = max(outer.most, outer.in_flight)
                        outer.arrived.notify_all()
                        outer.arrived.wait_for(lambda: outer.most >= 10, timeout=10)
                    time.sleep(0.2)
                    with outer.lock:
                        outer.in_flight -= 1
                    body = b'{"status":"success","data":{"resultType":"vector","result":[]}}'
                    self.send_response(200)
                elif behaviour == "list":
                    body = b'[]'
                    self.send_response(200)
                elif behaviour == "novalue":
                    body = (b'{"status":"success","data":{"resultType":"vector","result":'
                            b'[{"metric":{"job":"lukhas-core"}}]}}')
                    self.send_response(200)
                elif behaviour == "trickle":
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.end_headers()
                    for ch in b'{"status":"success","data":{"resultType":"vector","result":[]}}':
                        try:
                            self.wfile.write(bytes([ch]))
                            self.wfile.flush()
                        except OSError:
                            return
                        time.sleep(0.5)
                    return
                elif behaviour == "auth":
                    want = {"Authorization": "Bearer s3cret", "X-Scope-OrgID": "team-a"}
                    if all(self.headers.get(k) == v for k, v in want.items()):
                        body = b'{"status":"success","data":{"resultType":"vector","result":[]}}'
                        self.send_response(200)
                    else:
                        body = b'{"status":"error","errorType":"unauthorized","error":"no"}'
                        self.send_response(401)
                elif behaviour == "partial":
                    body = (b'{"status":"success","warnings":["store 10.0.0.1 unavailable"],'
                            b'"data":{"resultType":"vector","result":[{"metric":{},"value":[1,"1"]}]}}')
                    self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                return None  # keep the test output quiet

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


SMOKE_CHECKS = [("-", "rule evaluation"), ("lukhas-core", "error ratio"), ("lukhas-core", "health probe"),
                ("lukhas-core", "latency"), ("lukhas-core", "targets up")]
# a pattern: the deadline met mid-answer, the client's read timeout, or a query queued past the deadline
TIMED_OUT = re.compile(r"query failed: (timed out: no complete answer from {url} before the deadline|timed out waiting"
                       r" for {url}|the 3s deadline passed before the query was sent) \(after [01] attempts? within"
                       r" 3s\)")
NO_UP = ("no data: Prometheus holds no up series at all in the last 1h (empty, a wrong URL or tenant, or --at outside"
         " its history)")
NAN_AGE = "the age of the last scrape is NaN, not a time: the answer is not a measurement of up or down"
FAULT_ROWS = {  # smoke on lukhas-core: each check's row, in the table's order
    "500": ["ERROR", "query failed: HTTP 500: internal boom (after 3 attempts within 3s)"],
    "hang": ["ERROR", TIMED_OUT],
    "nan": [("INCONCLUSIVE", "Prometheus does not scrape itself: rule health unknown"),
            ("INCONCLUSIVE", "the query returned NaN or infinity"), ("INCONCLUSIVE", NAN_AGE),
            ("INCONCLUSIVE", "the query returned NaN or infinity"), ("INCONCLUSIVE", NAN_AGE)],
    "empty": [("INCONCLUSIVE", "Prometheus does not scrape itself: rule health unknown"),
              ("INCONCLUSIVE", "no data: the request counter has no series"),
              ("INCONCLUSIVE", "no probe result in the last 1h: is the blackbox exporter scraped?"),
              ("INCONCLUSIVE", "no data: the request counter has no series"), ("INCONCLUSIVE", NO_UP)],
    "partial": ["ERROR", "query failed: partial response: store 10.0.0.1 unavailable (after 1 attempt, not retried)"],
    "list": ["ERROR", "query failed: malformed answer: the body must be a JSON object, got [] (after 1 attempt, not"
                      " retried)"],
    "novalue": ["ERROR", "query failed: malformed answer: data.result[0] has no 'value' (after 1 attempt, not"
                         " retried)"],
    "trickle": ["ERROR", TIMED_OUT],
}


def fault_rows(behaviour: str, url: str) -> list[tuple[str, ...]]:
    """The expected rows, each reason a pattern to match in full (exact text, escaped, but TIMED_OUT)."""
    want = FAULT_ROWS[behaviour]
    if isinstance(want[0], str):             # one outcome and reason for every check
        want = [(want[0], want[1])] * len(SMOKE_CHECKS)
    return [(outcome, service, check,
             reason.pattern.replace("{url}", re.escape(url)) if isinstance(reason, re.Pattern) else re.escape(reason))
            for (service, check), (outcome, reason) in zip(SMOKE_CHECKS, want, strict=True)]


@pytest.mark.parametrize("behaviour,code", [("500", 4), ("hang", 4), ("nan", 3), ("empty", 3), ("partial", 4),
                                            ("list", 4), ("novalue", 4), ("trickle", 4)])
@pytest.mark.parametrize("mode", ["smoke", "rollback", "canary", "budget"])
def test_faults_never_pass(behaviour, code, mode):
    fake = _Fake(behaviour)
    try:
        started = time.monotonic()
        r = gate(fake.url, mode, None, "--timeout", "3s", "--retries", "2", *CORE)
        took = time.monotonic() - started
    finally:
        fake.stop()
    assert r.returncode not in (0, 1), r.stdout  # nothing measured: never PASS, never roll back
    assert "Traceback" not in r.stderr, r.stderr
    if behaviour == "trickle":
        assert took < 15, f"--timeout 3s is a deadline, the run took {took:.1f}s"
    if mode == "smoke":
        assert r.returncode == code, r.stdout
        outcome, action = ("ERROR", "hold: the metrics provider failed") if code == 4 else \
            ("INCONCLUSIVE", "hold: could not measure")
        header = rf"slo-gate smoke: {outcome} \({action}\) at \S+Z, window 5m, {re.escape(fake.url)}"
        assert re.fullmatch(header, r.stdout.splitlines()[0]), r.stdout
        rows, want = table_rows(r.stdout), fault_rows(behaviour, fake.url)
        assert [x[:3] for x in rows] == [w[:3] for w in want], r.stdout
        assert [x[3] for x, w in zip(rows, want, strict=True) if not re.fullmatch(w[3], x[3])] == [], r.stdout
    if behaviour == "500":
        assert fake.requests >= 3  # retried before giving up


def test_live_prometheus_scraping_a_real_exporter(tmp_path, generated_lukhas):
    workload, address = start_workload(SPEC, tmp_path / "workload.log", rps=400)
    prom = None
    try:
        port = free_port()
        cfg = local_config(tmp_path / "prom", address, prom_port=port)
        prom = Prometheus(cfg, tmp_path / "data", port=port)

        last = []

        def smoke():
            r = gate(prom.url, "smoke", None, "--window", "20s", *APPS)
            last[:] = [r.stdout]
            return r if r.returncode == 0 else None

        try:
            r = wait_until(smoke, timeout=60, interval=2, what="smoke gate PASS on healthy live traffic")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\nlast gate output:\n{last[0] if last else ''}") from None
        judged = {(row[1], row[2]): row[0] for row in table_rows(r.stdout)}
        for service in gatedata.APPS:   # each app's probe and targets were judged, and passed
            assert judged[service, "health probe"] == judged[service, "targets up"] == "PASS", r.stdout
        urlopen_mode(address, "outage")  # lukhas-core stops answering
        def failing():
            r = gate(prom.url, "smoke", None, "--window", "20s", *CORE)
            rows = {(row[1], row[2]): row for row in table_rows(r.stdout)} if r.returncode == 1 else {}
            probe = rows.get(("lukhas-core", "health probe"), ())
            both = (rows.get(("lukhas-core", "targets up")) == ("FAIL", "lukhas-core", "targets up",
                                                               f"1 of 1 down at the last scrape: {address}")
                    and probe[:1] == ("FAIL",)
                    and re.fullmatch(r"GET http://lukhas-core:\d+/health\S* failed", probe[3]))
            last[:] = [r.stdout]
            return r if both else None

        try:
            wait_until(failing, timeout=30, interval=1,
                       what="smoke gate FAIL naming the down target and the failed probe once lukhas-core stops")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\nlast gate output:\n{last[0] if last else ''}") from None
    finally:
        if prom:
            prom.stop()
        workload.stop()


def urlopen_mode(address: str, mode: str) -> None:
    import urllib.request

    with urllib.request.urlopen(f"http://{address}/mode/{mode}", timeout=5) as resp:
        assert resp.read().decode().strip() == mode


@pytest.fixture(scope="module")
def victoria(tmp_path_factory):
    vm = VictoriaMetrics(tmp_path_factory.mktemp("vm"), (gate_history(tmp_path_factory) / "om.txt").read_text())
    try:
        yield vm
    finally:
        vm.stop()


VM_CASES = CASES


@pytest.mark.parametrize("scenario,mode,extra,code,phrase", VM_CASES, ids=[f"{c[0]}-{c[1]}" for c in VM_CASES])
def test_same_outcomes_on_victoriametrics(victoria, scenario, mode, extra, code, phrase):
    r = gate(victoria.url, mode, scenario, *extra)
    assert r.returncode == code, r.stdout + r.stderr


def test_a_fresh_canarys_errors_are_counted_alike_on_both_engines(history, victoria):
    """Series born inside the window: Prometheus' increase() alone reads a counter born at its
    first error as 0; the gate counts it on both engines, and they agree."""
    counts = {}
    for name, url in (("prometheus", history.url), ("victoriametrics", victoria.url)):
        r = gate(url, "canary", "canary-fresh", "--output", "json", *CORE)
        doc = json.loads(r.stdout)
        check = next(c for c in doc["checks"] if c["name"] == "canary error ratio")
        counts[name] = {(e["labels"]["track"], e["labels"]["kind"]): e["value"] for e in check["evidence"]}
        assert check["outcome"] == "FAIL", check
    # 3 % of 5 req/s over the canary's 4 minutes (born at 01:06): about 36 errors of 1,200 requests
    for name, c in counts.items():
        assert 30 <= c[("canary", "bad")] <= 45 and 1100 <= c[("canary", "total")] <= 1400, (name, c)
    for key in counts["prometheus"]:
        a, b = counts["prometheus"][key], counts["victoriametrics"][key]
        assert abs(a - b) <= 0.02 * max(a, b) + 1, (key, a, b)


def test_every_distinct_query_goes_out_at_once():
    """With a provider that holds each query until ten are in flight, the gate's queries overlap
    instead of queueing behind each other (smoke on one service sends 10 distinct queries)."""
    from lukhas_obs.gate import run_gate
    from lukhas_obs.gate.client import PromClient
    from lukhas_obs.spec import load_spec

    fake = _Fake("slow")
    try:
        report = run_gate(load_spec(SPEC), "smoke", PromClient(fake.url, timeout=30), at=gatedata.T0,
                          services=["lukhas-core"])
    finally:
        fake.stop()
    assert fake.requests == 10 and fake.most == 10, (fake.requests, fake.most)
    assert report.outcome == report.outcome.INCONCLUSIVE


def test_bearer_token_and_tenant_are_sent_and_401_is_not_retried(tmp_path):
    token = tmp_path / "token"
    token.write_text("s3cret\n")
    fake = _Fake("auth")
    try:
        denied = gate(fake.url, "smoke", None, "--timeout", "3s", *CORE)
        asked = fake.requests
        allowed = gate(fake.url, "smoke", None, "--timeout", "3s", "--bearer-token-file", str(token),
                       "--tenant", "team-a", *CORE)
    finally:
        fake.stop()
    assert denied.returncode == 4, denied.stdout
    assert {row[0] for row in table_rows(denied.stdout)} == {"ERROR"}
    assert re.fullmatch(r"query failed: HTTP 401\b.*\(after 1 attempt, not retried\)", table_rows(denied.stdout)[0][3])
    assert asked <= 10  # one request per distinct query (10 for smoke on one service), no retries on 401
    assert allowed.returncode == 3, allowed.stdout   # authorised: the answer is judged
    assert ("INCONCLUSIVE", "lukhas-core", "targets up", NO_UP) in table_rows(allowed.stdout)


def test_backtest_reports_when_the_gate_would_first_have_failed(history):
    end = gatedata.end_of("sustained-6pct")
    r = run_cli("slo-gate", "backtest", "--mode", "rollback", "--spec", str(SPEC), "--prometheus-url", history.url,
                "--from", str(end - 1200), "--to", str(end), "--step", "2m", "--output", "json")
    assert r.returncode == 1, r.stdout + r.stderr
    doc = json.loads(r.stdout)
    assert len(doc["points"]) == 1200 // 120 + 1   # both ends, every 2 minutes
    # errors start 10 minutes before the end; three 1-minute points above 5 % first line up 7 minutes later
    from datetime import datetime
    first = datetime.fromisoformat(doc["first_failure"].replace("Z", "+00:00"))
    assert first == datetime.fromtimestamp(end - 360, tz=UTC)
    outcomes = [p["outcome"] for p in doc["points"]]
    assert outcomes == ["PASS"] * 7 + ["FAIL"] * 4
    text = run_cli("slo-gate", "backtest", "--mode", "rollback", "--spec", str(SPEC), "--prometheus-url",
                   history.url, "--from", str(end - 1200), "--to", str(end), "--step", "2m")
    lines = text.stdout.splitlines()
    assert lines[:2] == ["slo-gate backtest rollback from 2026-01-04T00:50:00Z to 2026-01-04T01:10:00Z every 120s:"
                         " 11 evaluations, 7 PASS, 4 FAIL", "would have failed first at 2026-01-04T01:04:00Z"]
    assert lines[-1] == "2026-01-04T01:10:00Z      FAIL          error ratio sustained: lukhas-core: above 5 % for 3m"


def test_backtest_of_a_healthy_period_never_fails(history):
    end = gatedata.end_of("healthy")
    r = run_cli("slo-gate", "backtest", "--mode", "rollback", "--spec", str(SPEC), "--prometheus-url", history.url,
                "--from", str(end - 600), "--to", str(end), "--step", "5m")
    assert r.returncode == 0, r.stdout
    assert r.stdout.splitlines()[:2] == ["slo-gate backtest rollback from 2026-01-01T01:00:00Z to 2026-01-01T01:10:00Z"
                                         " every 300s: 3 evaluations, 3 PASS", "would never have failed"]


MS = "is in the year {year} or later: milliseconds? The gate takes unix seconds"   # the year of 1e11 s
LONGER = "'0s' must be longer than 0s"


@pytest.mark.parametrize("args,said", [   # the usage error's last line, after `Error: Invalid value for `
    (["--at", "1793500000000"], "--at: '1793500000000' " + MS.format(year=5138)),
    (["--at", "nan"], "--at: 'nan' is not a finite time"),
    (["--at", "inf"], "--at: 'inf' is not a finite time"),
    (["--at", "2026-01-01T00:00:00"], "--at: '2026-01-01T00:00:00' has no UTC offset: add Z or +HH:MM (a time without"
                                      " one would be read in this runner's local zone)"),
    (["--at", "4102444800"], re.compile(r"--at: '4102444800' is \d+s in the future: nothing can have been measured"
                                        r" there")),
    (["--at", "12"], "--at: '12' is before 2000-01-01"),
    (["--window", "0s"], f"--window: {LONGER}"),
    (["--window", "5x"], "--window: '5x' is not a duration such as 30s, 5m, 1h or 30d (units from largest to"
                         " smallest, each at most once: y w d h m s ms)"),
    (["--timeout", "0s"], f"--timeout: {LONGER}"),
    (["--timeout", "500ms"], "--timeout: '500ms' is too short to query Prometheus and judge; at least 1s"),
    (["--since", "2026-01-01T00:10:00Z", "--at", "2026-01-01T00:05:00Z"],
     "--since: --since must be before the evaluation instant"),
    (["backtest", "--from", "1767225600", "--to", "1767229200", "--step", "0s"], f"--step: {LONGER}"),
    (["backtest", "--from", "1767225600", "--to", "1767229200000"], "--to: '1767229200000' " + MS.format(year=5138)),
])
def test_bad_gate_arguments_are_usage_errors_never_a_verdict(args, said):
    port = free_port()  # nothing listens: a usage error must be found before any query
    r = run_cli("slo-gate", *args[:1] if args[0] == "backtest" else (), "--spec", str(SPEC),
                "--prometheus-url", f"http://127.0.0.1:{port}", *(args[1:] if args[0] == "backtest" else args))
    assert r.returncode == 2, r.stdout + r.stderr
    last = r.stderr.splitlines()[-1].removeprefix("Error: Invalid value for ")
    if isinstance(said, re.Pattern):
        assert said.fullmatch(last), r.stderr
    else:
        assert last == said, r.stderr
    assert r.stdout == "" and "Traceback" not in r.stderr


def test_a_target_first_scraped_seconds_ago_is_up_not_stale(history):
    """The age of a target's last sample came from a one-minute subquery alone: a pod first
    scraped after the last whole minute (a new instance right after a deploy) had no age at all,
    and smoke said "stale: ... last at -inf" instead of judging it."""
    at = gatedata.end_of("canary-born-40s") - 25     # lukhas-core-canary:80 first scraped 5 s before
    r = gate(history.url, "smoke", None, "--at", str(at), "--output", "json", *CORE)
    doc = json.loads(r.stdout)
    assert "stale" not in r.stdout and "inf" not in r.stdout.replace("info", ""), r.stdout
    up = next(c for c in doc["checks"] if c["name"] == "targets up")
    assert up["outcome"] == "PASS", up
    assert up["reason"] == "2 up, last scrape 5s ago", up
    assert sorted((e["labels"]["instance"], e["value"], e["note"]) for e in up["evidence"]) == [
        ("lukhas-core-canary:80", 1.0, "last sample 5s before"), ("lukhas-core:80", 1.0, "last sample 5s before")]


@pytest.mark.parametrize("args, last", [
    (["--spec", "team.yaml", "serve", "--port", "0"],
     "Error: --spec given before `serve`: put the options after it (`slo-gate serve --spec ...`)"),
    (["serve", "--host", "256.1.1.1", "--port", "0"],
     "lukhas-obs slo-gate serve: cannot listen on 256.1.1.1:0: Invalid host/port specified."),
    (["--retries", "-1", *CORE], "Error: Invalid value for '--retries': -1 is not in the range 0<=x<=20."),
    (["--prometheus-url", "notaurl", *CORE],
     "Error: Invalid value for --prometheus-url: 'notaurl' is not an http(s) URL with a host"),
])
def test_bad_options_are_usage_errors_not_internal_errors(args, last):
    r = run_cli("slo-gate", *args, timeout=60)
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stderr.splitlines()[-1] == last, r.stderr


def test_an_unwritable_junit_file_is_said_and_the_verdict_stands(history, tmp_path):
    r = gate(history.url, "smoke", "healthy", "--junit", str(tmp_path / "no" / "such" / "x.xml"), *CORE)
    assert r.returncode == 0, r.stdout + r.stderr
    junit = tmp_path / "no" / "such" / "x.xml"
    assert r.stderr.splitlines() == [f"lukhas-obs: could not write the JUnit report {junit}: No such file or"
                                     " directory (the verdict stands)"]


def test_evaluations_reuse_their_connections_to_prometheus(history):
    """`slo-gate serve` runs evaluation after evaluation on copies of one client: the queries of
    later evaluations ride the keep-alive connections of earlier ones, so a run of evaluations
    opens at most as many connections as one evaluation has queries in flight. They opened new
    ones for every evaluation (a session per short-lived thread), which kept serve near 20
    evaluations a second. Counted by Prometheus itself (net_conntrack_listener_conn_accepted_total)."""
    import copy

    import requests

    from lukhas_obs.gate import MAX_QUERIES_AT_ONCE, run_gate
    from lukhas_obs.gate.client import PromClient
    from lukhas_obs.spec import load_spec

    spec = load_spec(SPEC)
    accepted = 'net_conntrack_listener_conn_accepted_total{listener_name="http"} '

    def connections() -> float:   # on its own connection, which the reading counts
        text = requests.get(history.url + "/metrics", timeout=10, headers={"Connection": "close"}).text
        return float(next(line for line in text.splitlines() if line.startswith(accepted)).split()[-1])

    shared = PromClient(history.url, timeout=10)
    at = gatedata.end_of("healthy")
    before = connections()
    queries = 0
    for _ in range(6):
        report = run_gate(spec, "smoke", copy.copy(shared), at=at)
        assert report.outcome.name == "PASS", [(c.name, c.outcome, c.message) for c in report.checks]
        queries += sum(1 for c in report.checks if c.query)
    opened = connections() - before - 1
    assert queries >= 6 * 10
    assert 1 <= opened <= MAX_QUERIES_AT_ONCE, f"6 evaluations of {queries} queries opened {opened:g} connections"


def test_a_spec_without_pool_gauges_has_no_pool_check(history):
    """The pool gauges are optional: without them rollback has no pool check, rather than a
    permanent INCONCLUSIVE that no deploy could ever get past (new-user audit)."""
    from dataclasses import replace

    from lukhas_obs.gate import run_gate
    from lukhas_obs.gate.client import PromClient
    from lukhas_obs.spec import load_spec

    spec = load_spec(SPEC)
    unpooled = replace(spec, gates=replace(spec.gates, pool_in_use=None, pool_max=None))
    at = gatedata.end_of("healthy")
    report = run_gate(unpooled, "rollback", PromClient(history.url, timeout=20), at=at)
    assert report.outcome.name == "PASS", [(c.name, c.outcome, c.message) for c in report.checks]
    assert "db pool" not in {c.name for c in report.checks}
    pooled = run_gate(spec, "rollback", PromClient(history.url, timeout=20), at=gatedata.end_of("pool-exhausted"))
    assert [c.outcome.name for c in pooled.checks if c.name == "db pool"] == ["FAIL"]
