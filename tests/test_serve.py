"""`slo-gate serve`: the HTTP endpoint Argo Rollouts and Flagger call. Against a real Prometheus
holding known history (a few gatedata scenarios, backfilled with promtool), through the real
server (waitress, started as a user starts it); a fake Prometheus that hangs for the concurrency
cap and the deadline, which cannot be made otherwise. Pure logic (parameters, the status-code
contract, the limiter, spec reloads, the WSGI routing) in-process, table-driven."""

from __future__ import annotations

import io
import json
import re
import shutil
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from unittest import mock
from urllib.parse import urlsplit

import pytest
import requests

from lukhas_obs.gate import serve
from lukhas_obs.gate.decide import Outcome
from lukhas_obs.gate.serve import BadRequest, Defaults, GateApp, Limiter, SpecHolder, parse_request, status_for
from lukhas_obs.spec import load_spec

import gatedata
from conftest import ROOT, SPEC, Process, free_port, run_cli, wait_until
from promserver import history_prometheus

pytestmark = pytest.mark.integration

SCENARIOS = ("healthy", "sustained-6pct", "canary-2x", "canary-thin")
APPS = list(gatedata.APPS)


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    """One real Prometheus holding gatedata's scenarios (each in its own day; the blocks are
    shared with tests/test_gate.py), and the end of each scenario these tests read."""
    prom = history_prometheus(tmp_path_factory, "serve-history")
    try:
        yield prom, {name: gatedata.end_of(name) for name in SCENARIOS}
    finally:
        prom.stop()


class Server:
    """`lukhas-obs slo-gate serve` on a free loopback port, stopped by pid."""

    def __init__(self, log: Path, prometheus: str, *extra: str, spec: Path = SPEC):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = Process([sys.executable, "-m", "lukhas_obs", "slo-gate", "serve", "--spec", str(spec),
                             "--prometheus-url", prometheus, "--port", str(self.port), *extra], log, cwd=ROOT)
        try:
            wait_until(lambda: requests.get(self.url + "/healthz", timeout=2).status_code == 200, timeout=20,
                       what="slo-gate serve listening")
        except AssertionError:
            self.proc.stop()
            raise AssertionError(self.proc.output()) from None

    def gate(self, method: str = "GET", body: bytes | None = None, **params) -> requests.Response:
        return requests.request(method, self.url + "/v1/gate", params=params, data=body, timeout=30)

    def stop(self) -> None:
        self.proc.stop()


@pytest.fixture(scope="module")
def server(history, tmp_path_factory):
    prom, _ = history
    srv = Server(tmp_path_factory.mktemp("serve") / "serve.log", prom.url)
    try:
        yield srv
    finally:
        srv.stop()


# scenario, mode, services, outcome
CASES = [
    ("healthy", "canary", APPS, "PASS"),
    ("canary-2x", "canary", APPS, "FAIL"),
    ("canary-thin", "canary", APPS, "INCONCLUSIVE"),
    ("sustained-6pct", "rollback", [], "FAIL"),
]


@pytest.mark.parametrize("scenario,mode,services,outcome", CASES[:3], ids=[c[3] for c in CASES[:3]])
def test_the_endpoint_answers_the_clis_json_document(history, server, scenario, mode, services, outcome):
    prom, ends = history
    at = str(ends[scenario])
    r = server.gate(mode=mode, service=services, at=at)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == "application/json" and r.headers["X-Gate-Outcome"] == outcome
    cli = run_cli("slo-gate", "--mode", mode, "--spec", str(SPEC), "--prometheus-url", prom.url, "--at", at,
                  *[a for s in services for a in ("--service", s)], "--output", "json")
    assert cli.returncode == Outcome(outcome).exit_code, cli.stdout + cli.stderr
    assert r.json() == json.loads(cli.stdout)


# Flagger reads the status code (pkg/controller/webhook.go: 200-202 is yes, anything else no):
# confirm-promotion goes ahead on PASS only, rollback rolls back on FAIL only.
HOOK_CASES = [(scenario, mode, services, outcome, hook, code)
              for scenario, mode, services, outcome in CASES
              for hook, code in (("confirm-promotion", 200 if outcome == "PASS" else 412),
                                 ("rollback", 200 if outcome == "FAIL" else 412))]


@pytest.mark.parametrize("scenario,mode,services,outcome,hook,code", HOOK_CASES,
                         ids=[f"{c[3]}-{c[1]}-{c[4]}" for c in HOOK_CASES])
def test_flagger_webhooks_read_yes_and_no_from_the_status_code(history, server, scenario, mode, services, outcome,
                                                                hook, code):
    _, ends = history
    payload = json.dumps({"name": "lukhas-core", "namespace": "lukhas", "phase": "Progressing",
                          "checksum": "85d557f47b", "metadata": {}}).encode()
    r = server.gate("POST", payload, mode=mode, service=services, at=str(ends[scenario]), hook=hook)
    assert r.status_code == code, r.text
    assert r.json()["outcome"] == outcome and r.headers["X-Gate-Outcome"] == outcome


def _argo_phase(metric: dict, status: int, body: bytes) -> str:
    """Argo Rollouts' reading of one `web` measurement, transcribed from its source
    (metricproviders/webmetric/webmetric.go, utils/evaluate/evaluate.go): a non-2xx answer is an
    Error; the jsonPath value is `result`; a true failureCondition wins; neither is Inconclusive.
    Only the condition form the generator writes, `result == "..."`, is interpreted."""
    if not 200 <= status < 300:
        return "Error"
    assert metric["provider"]["web"]["jsonPath"] == "{$.outcome}"
    result = json.loads(body)["outcome"]

    def holds(condition: str) -> bool:
        m = re.fullmatch(r'result == "([A-Z]+)"', condition)
        assert m, condition
        return result == m.group(1)

    if holds(metric["failureCondition"]):
        return "Failed"
    return "Successful" if holds(metric["successCondition"]) else "Inconclusive"


@pytest.mark.parametrize("scenario,phase", [("healthy", "Successful"), ("canary-2x", "Failed"),
                                            ("canary-thin", "Inconclusive")])
def test_the_generated_analysis_template_maps_outcomes_onto_argos_phases(history, server, scenario, phase):
    from lukhas_obs.generate import rollouts

    _, ends = history
    spec = load_spec(SPEC)
    metric = rollouts.analysis_template(spec, "lukhas-core")["spec"]["metrics"][0]
    asked = urlsplit(metric["provider"]["web"]["url"])
    url = f"{server.url}{asked.path}?{asked.query}&at={ends[scenario]}"   # the template's question, at a known instant
    r = requests.get(url, timeout=metric["provider"]["web"]["timeoutSeconds"])
    assert _argo_phase(metric, r.status_code, r.content) == phase, r.text


def test_bad_parameters_answer_400_with_the_reason(server):
    for params, parameter, error in [
        ({"mode": "sideways"}, "mode", "'sideways' is not one of smoke, canary, rollback, budget"),
        ({"mode": "canary", "service": "lukhas-nope"}, "service", "not in specs/lukhas.yaml: lukhas-nope"),
        ({"window": "5 minutes"}, "window", "'5 minutes' is not a duration such as 30s, 5m, 1h or 30d (units from"
                                            " largest to smallest, each at most once: y w d h m s ms)"),
        ({"at": "yesterday"}, "at", "'yesterday' is neither unix seconds nor RFC 3339 (e.g. 2026-11-30T12:00:00Z)"),
        ({"canary-weight": "150"}, "canary-weight", "'150' is not a whole percentage from 0 to 100"),
        ({"hook": "rollout", "mode": "canary"}, "hook", f"'rollout' {NOT_A_HOOK}"),
        ({"timeout": "5m"}, "timeout", "5m is longer than this server allows (30s, its --timeout)"),
        ({"servce": "lukhas-core"}, "servce", "unknown parameter 'servce'; the gate takes mode, service, window, at,"
                                              " since, canary-weight, timeout, hook"),
    ]:
        r = server.gate(**params)
        assert r.status_code == 400, (params, r.text)
        doc = r.json()
        assert (doc["parameter"], doc["error"]) == (parameter, error), doc


def test_health_and_unknown_paths_and_methods(server):
    health = requests.get(server.url + "/healthz", timeout=5)
    doc = health.json()
    assert health.status_code == 200 and doc["status"] == "ok"
    assert doc["spec"]["services"] == len(load_spec(SPEC).services) == 13
    assert doc["evaluations"]["max_running"] == 8 and "problem" not in doc["spec"]
    missing = requests.get(server.url + "/v2/gate", timeout=5)
    assert missing.status_code == 404 and "/v1/gate" in missing.json()["error"]
    put = requests.put(server.url + "/v1/gate", timeout=5)
    assert put.status_code == 405 and put.headers["Allow"] == "GET, POST"


class HangingPrometheus:
    """Answers every query with an empty vector, but only once released (or after 20 s)."""

    def __init__(self):
        self.release = threading.Event()
        self.asked = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                outer.asked.set()
                outer.release.wait(20)
                kind = "matrix" if "query_range" in self.path else "vector"
                body = json.dumps({"status": "success", "data": {"resultType": kind, "result": []}}).encode()
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass   # the gate walked away at its deadline

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self):
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def test_a_full_server_answers_503_with_retry_after_and_a_deadline_bounds_each_request(tmp_path):
    hanging = HangingPrometheus()
    srv = Server(tmp_path / "serve.log", hanging.url, "--max-evaluations", "1", "--max-waiting", "0",
                 "--retries", "0")
    try:
        first: dict = {}
        worker = threading.Thread(target=lambda: first.update(r=srv.gate(mode="rollback", timeout="2s")))
        worker.start()
        assert hanging.asked.wait(10), srv.proc.output()
        busy = srv.gate(mode="rollback")
        assert busy.status_code == 503, busy.text
        assert int(busy.headers["Retry-After"]) >= 1 and busy.json()["error"].startswith("busy")
        assert requests.get(srv.url + "/healthz", timeout=5).json()["evaluations"]["running"] == 1
        worker.join(30)
        # the first request's deadline (2s) passed with Prometheus still silent: ERROR (hold), not a hang
        r = first["r"]
        assert r.status_code == 200 and r.json()["outcome"] == "ERROR", r.text
        checks = r.json()["checks"]
        # the client's read timeout or the request's deadline, whichever a query meets first (or the deadline had
        # passed before a queued query went out)
        url = re.escape(hanging.url)
        timed_out = (rf"query failed: (timed out: no complete answer from {url} before the deadline|timed out waiting"
                     rf" for {url}|the 2s deadline passed before the query was sent) \(after \d+ attempts? within 2s\)")
        assert [c["outcome"] for c in checks] == ["ERROR"] * len(checks) and checks, checks
        assert [c["reason"] for c in checks if not re.fullmatch(timed_out, c["reason"])] == [], checks
        hanging.release.set()
        after = srv.gate(mode="rollback", hook="rollback")   # the slot is free again; no data never rolls back
        assert after.status_code == 412 and after.json()["outcome"] == "INCONCLUSIVE", after.text
    finally:
        srv.stop()
        hanging.stop()


def test_the_spec_is_reloaded_when_it_changes_and_a_broken_one_keeps_the_last_good(history, tmp_path):
    prom, ends = history
    spec = tmp_path / "lukhas.yaml"
    original = SPEC.read_text()
    spec.write_text(original)
    srv = Server(tmp_path / "serve.log", prom.url, spec=spec)
    at = str(ends["healthy"])

    def ask() -> requests.Response:
        return srv.gate(mode="rollback", at=at)

    def health() -> dict:
        return requests.get(srv.url + "/healthz", timeout=5).json()

    try:
        assert ask().json()["window"] == "5m"
        ask()
        assert health()["spec"]["reloads"] == 0          # read once, not per request
        spec.write_text(original)                         # rewritten with the same bytes: not loaded again
        ask()
        assert health()["spec"]["reloads"] == 0
        spec.write_text(original.replace("gates:\n  window: 5m", "gates:\n  window: 7m"))
        r = ask()
        assert r.json()["window"] == "7m" and "X-Lukhas-Spec-Warning" not in r.headers
        assert health()["spec"]["reloads"] == 1
        spec.write_text(original.replace("gates:\n  window: 5m", "gates:\n  window: soon"))
        r = ask()
        assert r.status_code == 200 and r.json()["window"] == "7m"   # the last good spec answers
        warning = r.headers["X-Lukhas-Spec-Warning"]
        assert "no longer loads" in warning and re.search(r"lukhas\.yaml:\d+: gates\.window", warning), warning
        doc = health()
        assert doc["status"] == "degraded" and "gates.window" in doc["spec"]["problem"]
        spec.write_text(original)
        r = ask()
        assert r.json()["window"] == "5m" and "X-Lukhas-Spec-Warning" not in r.headers
        assert health()["status"] == "ok" and health()["spec"]["reloads"] == 2
        assert "no longer loads" in srv.proc.output()    # and the log said so
    finally:
        srv.stop()


def test_start_problems_are_usage_errors(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        r = run_cli("slo-gate", "serve", "--spec", str(SPEC), "--port", str(port), timeout=20)
    assert r.returncode == 2 and f"cannot listen on 127.0.0.1:{port}" in r.stderr, r.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text(SPEC.read_text().replace("gates:\n  window: 5m", "gates:\n  window: soon"))
    r = run_cli("slo-gate", "serve", "--spec", str(bad), "--port", str(free_port()), timeout=20)
    assert r.returncode == 2 and re.search(r"bad\.yaml:\d+: gates\.window", r.stderr) and "Traceback" not in r.stderr


# --- in-process: the pure parts -------------------------------------------------------------

@pytest.fixture(scope="module")
def spec():
    return load_spec(SPEC)


NOT_A_HOOK = ("is not one of confirm-rollout, confirm-traffic-increase, confirm-promotion, rollback (Flagger's"
              " pre-rollout and rollout hooks count any answer but 2xx as a failed check, so an INCONCLUSIVE would"
              " roll back: ask the gate from confirm-* and rollback hooks)")
PARSE_CASES = [
    # query, expected fields (or the refused parameter and a phrase)
    ("", {"mode": "smoke", "services": None, "timeout": 30.0, "hook": None}),
    ("mode=canary&service=lukhas-core&service=lukhas-core&service=lukhas-memory",
     {"mode": "canary", "services": ["lukhas-core", "lukhas-memory"]}),
    ("mode=canary&canary-weight=0&hook=confirm-promotion&timeout=15s",
     {"canary_weight": 0, "hook": "confirm-promotion", "timeout": 15.0}),
    ("at=1767229800&since=1767226200", {"at": 1767229800.0, "since": 1767226200.0}),
    ("at=2026-01-01T01:10:00Z&window=10m", {"at": 1767229800.0, "window": "10m"}),
    ("mode=budget&hook=confirm-rollout", {"mode": "budget", "hook": "confirm-rollout"}),
    ("mode=smoke&hook=confirm-traffic-increase", {"hook": "confirm-traffic-increase"}),
    ("mode=canary&hook=confirm-traffic-increase", ("hook", "Flagger calls confirm-traffic-increase before the first"
                                                   " step as well, when the canary has had no traffic: the canary gate"
                                                   " could only answer INCONCLUSIVE and the weight would stay at 0; use"
                                                   " confirm-promotion and rollback")),
    ("mode=canary&mode=smoke", ("mode", "is given more than once")),
    ("service=", ("service", "is empty")),
    ("at=1767229800000", ("at", "'1767229800000' is in the year 5138 or later: milliseconds? The gate takes unix"
                                " seconds")),
    ("at=2026-01-01T01:10:00", ("at", "'2026-01-01T01:10:00' has no UTC offset: add Z or +HH:MM (a time without one"
                                      " would be read in this runner's local zone)")),
    ("at=1767229800&since=1767229800", ("since", "must be before the evaluation instant")),
    ("window=0s", ("window", "'0s' must be longer than 0s")),
    ("canary-weight=-1", ("canary-weight", "'-1' is not a whole percentage from 0 to 100")),
    ("canary-weight=%EF%BC%95", ("canary-weight", "'５' is not a whole percentage from 0 to 100")),   # full-width 5
    ("timeout=31s", ("timeout", "31s is longer than this server allows (30s, its --timeout)")),
    ("timeout=1ms", ("timeout", "'1ms' is too short to query Prometheus and judge; at least 1s")),
    ("timeout=1s", {"timeout": 1.0}),
    ("hook=pre-rollout", ("hook", f"'pre-rollout' {NOT_A_HOOK}")),
    ("a=%ff", (None, "unreadable query string: 'utf-8' codec can't decode byte 0xff in position 0: invalid start"
                     " byte")),
    ("&".join("service=lukhas-core" for _ in range(65)), (None, "unreadable query string: Max number of fields"
                                                                " exceeded")),
]


@pytest.mark.parametrize("query,expected", PARSE_CASES, ids=[c[0][:40] or "empty" for c in PARSE_CASES])
def test_parameters_are_checked_like_the_clis_options(spec, query, expected):
    defaults = Defaults(timeout=30.0)
    if isinstance(expected, tuple):
        with pytest.raises(BadRequest) as err:
            parse_request(query, spec, defaults)
        assert (err.value.parameter, str(err.value)) == expected
    else:
        req = parse_request(query, spec, defaults)
        for key, value in expected.items():
            assert getattr(req, key) == value, (key, req)


def test_server_defaults_apply_to_requests_that_do_not_say(spec):
    req = parse_request("", spec, Defaults(mode="canary", window="10m", services=("lukhas-core",), timeout=9.0))
    assert (req.mode, req.window, req.services, req.timeout) == ("canary", "10m", ["lukhas-core"], 9.0)


@pytest.mark.parametrize("hook,yes", [(None, set(Outcome)), ("confirm-promotion", {Outcome.PASS}),
                                      ("confirm-rollout", {Outcome.PASS}),
                                      ("confirm-traffic-increase", {Outcome.PASS}), ("rollback", {Outcome.FAIL})])
def test_the_status_code_contract(hook, yes):
    for outcome in Outcome:
        code = status_for(outcome, hook)
        # Flagger treats 200-202 as yes and anything else as no; Argo any 2xx as a measurement
        assert (200 <= code <= 202) == (outcome in yes), (hook, outcome, code)
        assert code in (200, 412)


def test_the_limiter_caps_running_and_waiting():
    lim = Limiter(running=2, waiting=1)
    assert lim.acquire(0) and lim.acquire(0)
    assert not lim.acquire(0)                      # full, and this one will not wait
    got: list[bool] = []
    waiter = threading.Thread(target=lambda: got.append(lim.acquire(10)))
    waiter.start()
    wait_until(lambda: lim.waiting == 1, timeout=5, interval=0.01, what="a waiting request")
    assert not lim.acquire(10)                     # the waiting room (1) is full: refused at once
    lim.release(0.5)
    waiter.join(5)
    assert got == [True] and lim.running == 2 and lim.waiting == 0
    assert not lim.acquire(0.05)                   # waited its time, no slot came
    lim.release(3.0)
    lim.release(3.0)
    assert lim.running == 0 and lim.retry_after() >= 1


def test_spec_reload_logic(tmp_path, spec):
    path = tmp_path / "spec.yaml"
    text = SPEC.read_text()
    path.write_text(text)
    loads: list[str] = []

    def loader(p):
        loads.append(p)
        return load_spec(p)

    holder = SpecHolder(str(path), spec, loader)
    for _ in range(3):
        assert holder.current() == (spec, None)
    assert loads == []                                           # unchanged: never read again
    path.write_text(text.replace("window: 5m", "window: 6m", 1))
    new, problem = holder.current()
    assert problem is None and new.gates.window == "6m" and len(loads) == 1
    path.write_text("services: [")                                 # broken: the last good one stays
    kept, problem = holder.current()
    assert kept is new
    at = re.escape(str(path))
    assert re.fullmatch(f"{at} changed and no longer loads \\(1 problem, first: {at}:2:"
                        " YAML syntax error: while parsing a flow node did not find expected node content\\); answering"
                        r" with the spec loaded at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z", problem), problem
    holder.current()
    assert len(loads) == 2                                         # the same broken bytes are not read again
    path.unlink()
    kept, problem = holder.current()
    assert kept is new
    assert re.fullmatch(f"{at} changed and no longer loads \\(1 problem, first: {at}:1:"
                        r" no such file\); answering with the spec loaded at \S+Z", problem), problem
    path.write_text(text)
    assert holder.current()[1] is None and holder.reloads == 2


def test_a_change_within_one_timestamp_tick_is_still_seen(tmp_path, spec):
    path = tmp_path / "spec.yaml"
    path.write_text(SPEC.read_text())
    holder = SpecHolder(str(path), spec, load_spec)
    frozen = holder._stat()
    with mock.patch.object(holder, "_stat", return_value=frozen):    # size, times and inode all alike
        path.write_text(SPEC.read_text().replace("window: 5m", "window: 6m", 1))
        assert holder.current()[0].gates.window == "6m"                # the file is recent: its bytes are read
        assert holder.reloads == 1
    old = time.time_ns() - 10 * serve.RACY_NS
    settled = tuple((name, old, old, *rest) for name, _, _, *rest in frozen)
    with mock.patch.object(holder, "_stat", return_value=settled):
        holder.current()                                               # the stamp changed: read once
        with mock.patch.object(holder, "_hash", side_effect=AssertionError("read")):
            holder.current()
            holder.current()                                           # settled: a stat per call, no read
    assert holder.reloads == 1


def test_a_folder_spec_reloads_when_a_team_file_is_added(tmp_path):
    folder = tmp_path / "teams"
    shutil.copytree(ROOT / "tests" / "specs" / "teams", folder)
    holder = SpecHolder(str(folder), load_spec(folder), load_spec)
    (folder / "zz.yaml").write_text("apiVersion: lukhas-obs/v1\nteam: late\nservices:\n"
                                    "  - {name: latecomer, kind: application, port: 9300}\n")
    spec, problem = holder.current()
    assert problem is None and holder.reloads == 1
    assert [s.name for s in spec.services if s.name == "latecomer"] == ["latecomer"]   # added once


def _call(app: GateApp, method: str, path: str, query: str = "") -> tuple[str, dict, dict]:
    seen: dict = {}

    def start_response(status, headers):
        seen["status"], seen["headers"] = status, dict(headers)

    body = b"".join(app({"REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query,
                         "wsgi.input": io.BytesIO()}, start_response))
    return seen["status"], seen["headers"], json.loads(body) if body else {}


def test_a_bug_answers_500_json_and_a_crash_in_the_gate_is_error(spec):
    from lukhas_obs.gate.client import PromClient

    holder = SpecHolder(str(SPEC), spec, load_spec)
    app = GateApp(holder, PromClient("http://127.0.0.1:9"), Defaults(timeout=5.0), Limiter(1, 0))
    with mock.patch.object(holder, "current", side_effect=RuntimeError("boom")):
        status, headers, doc = _call(app, "GET", "/v1/gate", "mode=smoke")
    assert status == "500 Internal Server Error"
    assert doc == {"error": "internal error in lukhas-obs (a bug; please report it): RuntimeError: boom"}
    assert headers["Content-Type"] == "application/json"
    with mock.patch.object(serve, "run_gate", side_effect=ZeroDivisionError("oops")):
        status, headers, doc = _call(app, "GET", "/v1/gate", "mode=canary&hook=rollback")
    assert status.startswith("412") and doc["outcome"] == "ERROR" and doc["exit_code"] == 4
    assert [(c["name"], c["outcome"], c["reason"]) for c in doc["checks"]] == [
        ("gate", "ERROR", "internal error, nothing was decided: ZeroDivisionError: oops")]
    assert app.limiter.running == 0                               # the slot was given back
    status, _, doc = _call(app, "HEAD", "/healthz")
    assert status == "200 OK" and doc == {}


def test_the_readme_documents_the_real_serve_help():
    r = run_cli("slo-gate", "serve", "--help")
    assert r.returncode == 0 and r.stdout.strip() in (ROOT / "README.md").read_text(), \
        "README lacks the current `slo-gate serve --help`: run scripts/readme_cli.py"
