"""PromClient against small fake servers on 127.0.0.1: every malformed answer, a slow or silent
server, retries, partial answers and oversized bodies end as a QueryError (the gate's ERROR,
exit 4), never as another exception, and never later than the deadline."""

from __future__ import annotations

import gzip
import json
import math
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from lukhas_obs.gate import client as client_mod
from lukhas_obs.gate.client import PromClient, QueryError

Respond = Callable[[BaseHTTPRequestHandler, int, threading.Event], None]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64

    def handle_error(self, request, client_address):
        return None  # a client that walks away mid-answer is the point of several tests


class _Fake:
    """A local HTTP server answering request number n with respond(handler, n, stopping)."""

    def __init__(self, respond: Respond):
        outer = self
        self.requests = 0
        self.stopping = threading.Event()
        lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                with lock:
                    outer.requests += 1
                    n = outer.requests
                respond(self, n, outer.stopping)

            def log_message(self, *a):
                return None  # keep the test output quiet

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.01,), daemon=True)
        self.thread.start()

    def stop(self):
        self.stopping.set()  # slow handlers give up
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def serve():
    started: list[_Fake] = []

    def start(respond: Respond) -> _Fake:
        fake = _Fake(respond)
        started.append(fake)
        return fake

    yield start
    for fake in started:
        fake.stop()


def answer(body: bytes | str, code: int = 200, ctype: str = "application/json",
           headers: dict[str, str] | None = None, delay: float = 0.0) -> Respond:
    raw = body.encode() if isinstance(body, str) else body

    def respond(h, n, stopping):
        if delay and stopping.wait(delay):
            return
        h.send_response(code)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(raw)))
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(raw)
    return respond


def in_turn(*responders: Respond) -> Respond:
    """The n-th request gets the n-th answer, the last one repeated."""
    def respond(h, n, stopping):
        responders[min(n, len(responders)) - 1](h, n, stopping)
    return respond


def ok(kind: str, result) -> str:
    return json.dumps({"status": "success", "data": {"resultType": kind, "result": result}})


def vec(*items) -> str:
    return ok("vector", list(items))


VALID_VECTOR = vec({"metric": {"job": "a"}, "value": [1700000000.5, "1"]})

# --- every malformed 200 is a QueryError that says what is wrong -----------------------------

MALFORMED = [
    # id, body, a phrase the message must contain
    ("list", "[]", "must be a JSON object"),
    ("null", "null", "must be a JSON object"),
    ("string", '"hello"', "must be a JSON object"),
    ("number", "42", "must be a JSON object"),
    ("no-status", json.dumps({"data": {"resultType": "vector", "result": []}}), "status must be"),
    ("odd-status", json.dumps({"status": "maybe", "data": {}}), "status must be"),
    ("status-error", json.dumps({"status": "error", "errorType": "bad_data", "error": "parse error at char 3"}),
     "bad_data: parse error at char 3"),
    ("no-data", json.dumps({"status": "success"}), "data must be an object"),
    ("data-list", json.dumps({"status": "success", "data": []}), "data must be an object"),
    ("data-string", json.dumps({"status": "success", "data": "x"}), "data must be an object"),
    ("no-result", json.dumps({"status": "success", "data": {"resultType": "vector"}}), "data.result is missing"),
    ("no-result-type", json.dumps({"status": "success", "data": {"result": []}}), "None is not one of vector"),
    ("unknown-result-type", ok("table", []), "'table' is not one of vector"),
    ("result-object", ok("vector", {}), "data.result must be a list"),
    ("result-string", ok("matrix", "x"), "data.result must be a list"),
    ("item-number", vec(1), r"data.result\[0\] must be an object"),
    ("item-list", vec([1, "1"]), r"data.result\[0\] must be an object"),
    ("no-value", vec({"metric": {}}), "has no 'value'"),
    ("native-histogram", vec({"metric": {}, "histogram": [1, {"count": "1"}]}), "native histogram"),
    ("value-string", vec({"metric": {}, "value": "1"}), "must be a \\[timestamp"),
    ("value-short", vec({"metric": {}, "value": [1]}), "must be a \\[timestamp"),
    ("value-long", vec({"metric": {}, "value": [1, "1", 2]}), "must be a \\[timestamp"),
    ("value-object", vec({"metric": {}, "value": {"t": 1}}), "must be a \\[timestamp"),
    ("timestamp-word", vec({"metric": {}, "value": ["now", "1"]}), "timestamp that is not a number"),
    ("timestamp-null", vec({"metric": {}, "value": [None, "1"]}), "timestamp that is not a number"),
    ("timestamp-bool", vec({"metric": {}, "value": [True, "1"]}), "timestamp that is not a number"),
    ("timestamp-nan", vec({"metric": {}, "value": ["NaN", "1"]}), "timestamp that is not a number"),
    ("timestamp-huge-int", '{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":['
     + "9" * 400 + ',"1"]}]}}', "timestamp that is not a number"),
    ("sample-word", vec({"metric": {}, "value": [1, "abc"]}), "sample value that is not a number: 'abc'"),
    ("sample-empty", vec({"metric": {}, "value": [1, ""]}), "sample value that is not a number"),
    ("sample-null", vec({"metric": {}, "value": [1, None]}), "sample value that is not a number"),
    ("sample-bool", vec({"metric": {}, "value": [1, False]}), "sample value that is not a number"),
    ("sample-list", vec({"metric": {}, "value": [1, ["1"]]}), "sample value that is not a number"),
    ("sample-underscore", vec({"metric": {}, "value": [1, "1_000"]}), "sample value that is not a number"),
    ("sample-spaces", vec({"metric": {}, "value": [1, " 1 "]}), "sample value that is not a number"),
    ("sample-hex", vec({"metric": {}, "value": [1, "0x10"]}), "sample value that is not a number"),
    ("metric-list", vec({"metric": [], "value": [1, "1"]}), r"data.result\[0\].metric must be an object"),
    ("metric-null", vec({"metric": None, "value": [1, "1"]}), "metric must be an object"),
    ("label-number", vec({"metric": {"job": 1}, "value": [1, "1"]}), "metric.job must be a string"),
    ("label-null", vec({"metric": {"job": None}, "value": [1, "1"]}), "metric.job must be a string"),
    ("second-item-bad", vec({"metric": {}, "value": [1, "1"]}, {"metric": {"job": "b"}, "value": [1, "x"]}),
     r"data.result\[1\].value"),
    ("duplicate-series", vec({"metric": {"job": "a"}, "value": [1, "1"]}, {"metric": {"job": "a"}, "value": [1, "0"]}),
     "repeats the label set"),
    ("overflowing-value", vec({"metric": {}, "value": [1, "1e999"]}), "sample value that is not a number"),
    ("matrix-to-an-instant-query", ok("matrix", [{"metric": {}, "values": [[1, "1"]]}]),
     "not what an instant query answers"),
    ("matrix-no-values", ok("matrix", [{"metric": {}}]), "has no 'values'"),
    ("matrix-value-not-values", ok("matrix", [{"metric": {}, "value": [1, "1"]}]), "has no 'values'"),
    ("matrix-values-object", ok("matrix", [{"metric": {}, "values": {}}]), "values must be a list"),
    ("matrix-pair-short", ok("matrix", [{"metric": {}, "values": [[1, "1"], [2]]}]), r"values\[1\] must be a"),
    ("matrix-pair-flat", ok("matrix", [{"metric": {}, "values": [1, "1"]}]), r"values\[0\] must be a"),
    ("matrix-pair-word", ok("matrix", [{"metric": {}, "values": [[1, "1"], [2, "two"]]}]),
     r"values\[1\] has a sample value"),
    ("matrix-pair-timestamp", ok("matrix", [{"metric": {}, "values": [["x", "1"]]}]), "timestamp"),
    ("scalar-string", ok("scalar", "1"), r"data.result \(scalar\) must be a"),
    ("scalar-short", ok("scalar", [1]), r"data.result \(scalar\) must be a"),
    ("scalar-null", ok("scalar", None), r"data.result \(scalar\) must be a"),
    ("scalar-word", ok("scalar", [1, "x"]), "sample value that is not a number"),
    ("string-short", ok("string", ["x"]), r"data.result \(string\) must be a"),
    ("string-not-number", ok("string", [1, "hello"]), "sample value that is not a number: 'hello'"),
    ("warnings-string", json.dumps({"status": "success", "warnings": "careful", "data": {}}),
     "warnings must be a list"),
    ("warnings-numbers", json.dumps({"status": "success", "warnings": [1], "data": {}}), "warnings must be a list"),
    ("html", "<html><body>Bad gateway</body></html>", "not JSON"),
    ("empty-body", "", "not JSON"),
    ("truncated", '{"status":"success","data":{"resultTy', "not JSON"),
    ("nan-literal", '{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[NaN,"1"]}]}}',
     "not JSON"),
    ("not-utf8", b"\xff\xfe\x00{", "not JSON"),
    ("deeply-nested", "[" * 200_000 + "]" * 200_000, "not JSON"),
]


@pytest.mark.parametrize("body,phrase", [c[1:] for c in MALFORMED], ids=[c[0] for c in MALFORMED])
def test_a_malformed_answer_is_a_query_error(serve, body, phrase):
    fake = serve(answer(body))
    with pytest.raises(QueryError, match=phrase) as err:
        PromClient(fake.url, timeout=5, retries=0).query("up", 1700000000)
    # a garbled body may be a proxy's hiccup and is retried within the deadline; a wrong shape is not
    tail = " (after 1 attempt within 5s)" if phrase == "not JSON" else " (after 1 attempt, not retried)"
    assert str(err.value).endswith(tail) and str(err.value).count("(after ") == 1, str(err.value)


def test_shape_errors_are_not_retried_but_garbled_bodies_are(serve):
    shape = serve(answer(vec({"metric": {}, "value": [1, "abc"]})))
    with pytest.raises(QueryError, match="not retried"):
        PromClient(shape.url, timeout=5, retries=2).query("up", 1)
    assert shape.requests == 1
    garbled = serve(in_turn(answer("<html>proxy hiccup</html>"), answer(VALID_VECTOR)))
    res = PromClient(garbled.url, timeout=5, retries=2).query("up", 1)
    assert res.attempts == 2 and res.samples[0].value == 1.0


def test_a_malformed_range_answer_is_a_query_error(serve):
    fake = serve(answer(ok("matrix", [{"metric": {}, "values": [[1, "1"], "x"]}])))
    with pytest.raises(QueryError, match=r"values\[1\]"):
        PromClient(fake.url, timeout=5, retries=0).query_range("up", 0, 60, 15)


# --- valid answers parse ---------------------------------------------------------------------

def test_vector_values_keep_nan_and_infinities(serve):
    body = vec({"metric": {"job": "a"}, "value": [1700000000.5, "1"]},
               {"metric": {"job": "b"}, "value": [1700000000, "NaN"]},
               {"metric": {"job": "c"}, "value": [1700000000, "+Inf"]},
               {"metric": {"job": "d"}, "value": [1700000000, "-Inf"]},
               {"metric": {"job": "e"}, "value": [1700000000, "1.5e-3"]},
               {"metric": {"job": "f"}, "value": [1700000000, "-0.25"]},
               {"value": [1700000000, 7]})  # no metric at all: no labels
    # a wrong Content-Type does not matter when the body is JSON
    fake = serve(answer(body, ctype="text/plain; charset=utf-8"))
    res = PromClient(fake.url, timeout=5).query("up", 1700000000)
    assert res.attempts == 1 and res.warnings == [] and res.query == "up" and res.time == 1700000000
    got = [s.value for s in res.samples]
    assert got[0] == 1.0 and math.isnan(got[1]) and res.samples[1].is_nan
    assert got[2] == math.inf and got[3] == -math.inf
    assert got[4] == pytest.approx(0.0015) and got[5] == -0.25 and got[6] == 7.0
    assert [s.labels for s in res.samples][:2] == [{"job": "a"}, {"job": "b"}]
    assert res.samples[6].labels == {}


def test_empty_vector(serve):
    fake = serve(answer(vec()))
    assert PromClient(fake.url, timeout=5).query("up", 1).samples == []


def test_matrix(serve):
    body = ok("matrix", [{"metric": {"job": "a"}, "values": [[1, "1"], [2, "NaN"], [3, "+Inf"]]},
                         {"metric": {"job": "b"}, "values": []}])
    fake = serve(answer(body))
    res = PromClient(fake.url, timeout=5).query_range("up", 0, 3, 1)
    a, b = res.samples
    assert a.labels == {"job": "a"} and a.value == math.inf
    assert a.values[0] == (1.0, 1.0) and math.isnan(a.values[1][1]) and a.values[2] == (3.0, math.inf)
    assert b.values == [] and b.is_nan
    assert res.time == 3


@pytest.mark.parametrize("kind,value,want", [("scalar", "0.5", 0.5), ("scalar", "NaN", math.nan),
                                             ("scalar", "-Inf", -math.inf), ("string", "2", 2.0)])
def test_scalar_and_numeric_string(serve, kind, value, want):
    fake = serve(answer(ok(kind, [1700000000, value])))
    (sample,) = PromClient(fake.url, timeout=5).query("1", 1).samples
    assert sample.labels == {}
    assert (math.isnan(sample.value) and math.isnan(want)) or sample.value == want


def test_gzip_and_chunked_answers(serve):
    packed = gzip.compress(VALID_VECTOR.encode())
    fake = serve(answer(packed, headers={"Content-Encoding": "gzip"}))
    assert PromClient(fake.url, timeout=5).query("up", 1).samples[0].labels == {"job": "a"}

    def chunked(h, n, stopping):
        h.protocol_version = "HTTP/1.1"
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Transfer-Encoding", "chunked")
        h.send_header("Connection", "close")
        h.end_headers()
        data = VALID_VECTOR.encode()
        for i in range(0, len(data), 7):
            part = data[i:i + 7]
            h.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
        h.wfile.write(b"0\r\n\r\n")
    fake = serve(chunked)
    assert PromClient(fake.url, timeout=5).query("up", 1).samples[0].value == 1.0


# --- the deadline covers the whole answer ----------------------------------------------------

def trickle_body(h, n, stopping):
    """Headers at once, then one byte of body every 0.3 s for 30 s."""
    h.send_response(200)
    h.send_header("Content-Type", "application/json")
    h.send_header("Content-Length", "1000")
    h.end_headers()
    end = time.monotonic() + 30
    while time.monotonic() < end and not stopping.wait(0.3):
        h.wfile.write(b" ")


def trickle_headers(h, n, stopping):
    """Even the status line and headers arrive one byte every 0.3 s."""
    for byte in b"HTTP/1.0 200 OK\r\nX-Slow: " + b"z" * 100:
        if stopping.wait(0.3):
            return
        h.wfile.write(bytes([byte]))


def silent(h, n, stopping):
    """Accepts the connection, reads the request, never answers."""
    stopping.wait(30)


@pytest.mark.parametrize("respond", [trickle_body, trickle_headers, silent], ids=["trickle-body", "trickle-headers",
                                                                                "never-answers"])
def test_the_deadline_bounds_the_whole_answer(serve, respond):
    fake = serve(respond)
    client = PromClient(fake.url, timeout=2, retries=3)
    t0 = time.monotonic()
    with pytest.raises(QueryError, match="timed out") as err:
        client.query("up", 1)
    took = time.monotonic() - t0
    assert 1.5 < took < 6, took  # about 2 s; generous for a slow shared runner
    assert "after 1 attempt within 2s" in str(err.value)


def test_query_range_has_the_same_deadline(serve):
    fake = serve(trickle_body)
    t0 = time.monotonic()
    with pytest.raises(QueryError, match="timed out"):
        PromClient(fake.url, timeout=1).query_range("up", 0, 60, 15)
    assert time.monotonic() - t0 < 5


def test_start_opens_a_new_deadline(serve):
    slow = serve(silent)
    client = PromClient(slow.url, timeout=1, retries=0)
    with pytest.raises(QueryError, match="timed out"):
        client.query("up", 1)
    client.url = serve(answer(VALID_VECTOR)).url
    with pytest.raises(QueryError, match="deadline passed before the query was sent"):
        client.query("up", 1)
    client.start()
    assert client.query("up", 1).samples[0].value == 1.0


def test_a_hung_server_does_not_keep_the_process_alive(serve):
    fake = serve(silent)
    code = ("import sys\nfrom lukhas_obs.gate.client import PromClient, QueryError\n"
            "try:\n    PromClient(sys.argv[1], timeout=1, retries=0).query('up', 1)\n"
            "except QueryError as exc:\n    print('ERROR', exc)\n")
    t0 = time.monotonic()
    r = subprocess.run([sys.executable, "-c", code, fake.url], capture_output=True, text=True, timeout=30,
                       check=False)
    assert r.returncode == 0, r.stderr
    assert r.stdout == (f"ERROR timed out: no complete answer from {fake.url} before the deadline"
                        " (after 1 attempt within 1s)\n"), r.stdout + r.stderr
    assert time.monotonic() - t0 < 10  # interpreter start-up included


def test_unreachable_server_is_retried_within_the_deadline():
    client = PromClient("http://127.0.0.1:1", timeout=3, retries=2)
    with pytest.raises(QueryError, match=r"cannot connect to http://127.0.0.1:1: .*after 3 attempts"):
        client.query("up", 1)


def test_an_invalid_url_is_not_retried():
    with pytest.raises(QueryError, match="not retried"):
        PromClient("localhost:9090", timeout=3, retries=2).query("up", 1)


# --- retries -----------------------------------------------------------------------------------

ERR500 = answer('{"status":"error","errorType":"internal","error":"boom"}', code=500)


def test_500_then_200_is_retried(serve):
    fake = serve(in_turn(ERR500, answer(VALID_VECTOR)))
    res = PromClient(fake.url, timeout=5, retries=3).query("up", 1)
    assert res.attempts == 2 and fake.requests == 2 and res.samples[0].value == 1.0


def test_429_is_retried(serve):
    fake = serve(in_turn(answer("slow down", code=429, ctype="text/plain"), answer(VALID_VECTOR)))
    assert PromClient(fake.url, timeout=5, retries=3).query("up", 1).attempts == 2


def test_500_every_time_gives_up_and_says_how_often_it_tried(serve):
    fake = serve(ERR500)
    with pytest.raises(QueryError, match=r"HTTP 500: internal boom \(after 3 attempts within 5s\)"):
        PromClient(fake.url, timeout=5, retries=2).query("up", 1)
    assert fake.requests == 3


@pytest.mark.parametrize("code,body,phrase", [
    (401, '{"status":"error","errorType":"unauthorized","error":"no"}', "HTTP 401: unauthorized no"),
    (400, '{"status":"error","errorType":"bad_data","error":"parse error"}', "HTTP 400: bad_data parse error"),
    (403, "<html>forbidden</html>", "HTTP 403: <html>forbidden</html>"),
    (404, "", "HTTP 404"),
])
def test_other_4xx_are_not_retried(serve, code, body, phrase):
    fake = serve(answer(body, code=code))
    with pytest.raises(QueryError, match=phrase) as err:
        PromClient(fake.url, timeout=5, retries=3).query("up", 1)
    assert fake.requests == 1
    assert "after 1 attempt, not retried" in str(err.value)


def test_a_partial_response_is_a_query_error(serve):
    body = json.dumps({"status": "success", "warnings": ["store 10.0.0.1 unavailable"],
                       "data": {"resultType": "vector", "result": [{"metric": {}, "value": [1, "1"]}]}})
    fake = serve(answer(body))
    with pytest.raises(QueryError, match=r"partial response: store 10\.0\.0\.1 unavailable"):
        PromClient(fake.url, timeout=5, retries=3).query("up", 1)
    assert fake.requests == 1


def test_empty_warnings_are_fine(serve):
    body = json.dumps({"status": "success", "warnings": [], "data": {"resultType": "vector", "result": []}})
    assert PromClient(serve(answer(body)).url, timeout=5).query("up", 1).samples == []


# --- size cap ----------------------------------------------------------------------------------

def stream_blob(total: int, declare: bool) -> Respond:
    def respond(h, n, stopping):
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        if declare:
            h.send_header("Content-Length", str(total))
        h.end_headers()
        block = b" " * (1 << 20)
        sent = 0
        while sent < total and not stopping.is_set():
            part = block[:total - sent]
            h.wfile.write(part)
            sent += len(part)
    return respond


@pytest.mark.parametrize("declare", [True, False], ids=["content-length", "no-content-length"])
def test_a_body_over_the_cap_is_refused(serve, monkeypatch, declare):
    monkeypatch.setattr(client_mod, "MAX_RESPONSE_BYTES", 100_000)
    fake = serve(stream_blob(300_000, declare))
    with pytest.raises(QueryError, match=r"larger than .* MiB"):
        PromClient(fake.url, timeout=5, retries=3).query("up", 1)
    assert fake.requests == 1  # a runaway query is not sent again


def test_a_compressed_body_is_capped_after_decompression(serve, monkeypatch):
    monkeypatch.setattr(client_mod, "MAX_RESPONSE_BYTES", 1 << 20)
    bomb = gzip.compress(b" " * (20 << 20))  # 20 MiB of spaces in about 20 KiB
    fake = serve(answer(bomb, headers={"Content-Encoding": "gzip"}))
    with pytest.raises(QueryError, match="larger than 1 MiB"):
        PromClient(fake.url, timeout=5).query("up", 1)


def test_65_mib_is_refused_with_the_real_cap(serve):
    fake = serve(stream_blob(65 << 20, declare=False))
    with pytest.raises(QueryError, match="larger than 64 MiB"):
        PromClient(fake.url, timeout=15).query("up", 1)


# --- threads -----------------------------------------------------------------------------------

def test_concurrent_queries_run_in_parallel(serve):
    fake = serve(answer(VALID_VECTOR, delay=1.0))
    client = PromClient(fake.url, timeout=10)
    results: list = [None] * 8

    def run(i: int) -> None:
        try:
            results[i] = client.query(f"up{i}", 1)
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(8)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    took = time.monotonic() - t0
    assert all(r is not None and not isinstance(r, Exception) for r in results), results
    assert [r.query for r in results] == [f"up{i}" for i in range(8)]
    assert all(r.samples[0].labels == {"job": "a"} for r in results)
    assert fake.requests == 8
    assert took < 4, took  # 8 one-second answers one after another would take 8 s


def test_a_label_value_that_cannot_be_printed_is_made_printable(serve):
    """JSON may carry a lone surrogate ("\\ud800"): it must not crash the text report later."""
    fake = serve(answer('{"status":"success","data":{"resultType":"vector","result":'
                        '[{"metric":{"instance":"\\ud800bad"},"value":[1,"0"]}]}}'))
    (sample,) = PromClient(fake.url, timeout=5).query("up", 1).samples
    sample.labels["instance"].encode("utf-8")  # would raise UnicodeEncodeError before
    assert sample.labels == {"instance": "?bad"}
