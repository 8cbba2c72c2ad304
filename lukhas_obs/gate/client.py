"""The gate's view of a Prometheus-compatible HTTP API: instant and range queries with bounded
retries, a deadline, auth headers and a custom CA.

Why not prometheus-api-client: its query helpers return only `data.result`, so the `warnings` a
Thanos or Mimir partial response carries are lost, and every failure is one exception type. The
gate must tell "the server said no" from "the server answered half", so it speaks HTTP itself.

Every failure leaves this module as a QueryError (the gate's ERROR outcome), never as another
exception: nothing in an answer is trusted until it has been checked.

The deadline covers the whole evaluation. `requests`' own timeout only bounds each socket read, so
a server that trickles its body one byte at a time would keep a query alive indefinitely. Each
attempt therefore runs in a daemon thread (one that cannot keep the process alive) while the
caller waits at most for the time left; when the deadline passes the caller walks away. If the
body was already arriving it also shuts the socket down, which ends the thread at once; before
that (connecting, reading headers) the thread ends at its own socket timeout."""

from __future__ import annotations

import contextlib
import json
import math
import queue
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import requests

MAX_RESPONSE_BYTES = 64 * 1024 * 1024   # a bigger answer is refused: a runaway query must not eat the runner
_ERROR_BODY_BYTES = 64 * 1024           # enough of a 4xx/5xx body for its message
_CHUNK = 64 * 1024
_USER_AGENT = "lukhas-obs slo-gate"


class QueryError(Exception):
    """The query could not be answered: unreachable, HTTP error, bad JSON, or a partial answer."""


@dataclass
class Sample:
    labels: dict[str, str]
    value: float                       # NaN is kept as NaN, never turned into 0
    values: list[tuple[float, float]] = field(default_factory=list)  # range queries

    @property
    def is_nan(self) -> bool:
        return math.isnan(self.value)


@dataclass
class QueryResult:
    query: str
    time: float
    samples: list[Sample]
    attempts: int
    warnings: list[str] = field(default_factory=list)


class PromClient:
    """Safe to share between threads, and between its copies (`copy.copy`, as `slo-gate serve`
    makes one per request for its own deadline): a query borrows an idle requests.Session (one
    exchange at a time each, as requests is not documented thread-safe) and gives it back, so its
    keep-alive connection serves the next query, of this evaluation or the next."""

    def __init__(self, url: str, timeout: float = 30.0, retries: int = 3, headers: dict[str, str] | None = None,
                 ca_file: str | None = None, basic_auth: tuple[str, str] | None = None):
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.retries = retries
        self._headers = {"User-Agent": _USER_AGENT, **(headers or {})}
        self._ca_file = ca_file
        self._basic_auth = basic_auth
        self._idle: queue.SimpleQueue[requests.Session] = queue.SimpleQueue()
        self.start()

    def start(self) -> None:
        """Open a new deadline: `timeout` seconds from now for every query and retry that follows."""
        self.deadline = time.monotonic() + self.timeout

    def _borrow(self) -> requests.Session:
        """An idle session, or a new one when every session is busy."""
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            pass
        session = requests.Session()
        session.headers.update(self._headers)
        if self._ca_file:
            session.verify = self._ca_file
        if self._basic_auth:
            session.auth = self._basic_auth
        return session

    def query(self, expr: str, at: float) -> QueryResult:
        samples, attempts = self._get("/api/v1/query", {"query": expr, "time": f"{at:.3f}"})
        return QueryResult(expr, at, samples, attempts)

    def query_range(self, expr: str, start: float, end: float, step: float) -> QueryResult:
        params = {"query": expr, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}"}
        samples, attempts = self._get("/api/v1/query_range", params)
        return QueryResult(expr, end, samples, attempts)

    def _get(self, path: str, params: dict[str, str]) -> tuple[list[Sample], int]:
        deadline = self.deadline
        last = f"the {self.timeout:g}s deadline passed before the query was sent"
        attempts = 0
        delay = 0.2
        while attempts <= self.retries:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            attempts += 1
            session = self._borrow()
            attempt = _Attempt(session, self.url, self.url + path, params, deadline, MAX_RESPONSE_BYTES)
            threading.Thread(target=attempt.run, name="lukhas-obs-query", daemon=True).start()
            if not attempt.done.wait(max(0.0, deadline - time.monotonic())):
                # The deadline passed mid-exchange: walk away. The attempt's thread keeps the
                # session and closes it when it ends; it never goes back to the idle ones.
                attempt.abandon()
                last = f"timed out: no complete answer from {self.url} before the deadline"
                break
            self._idle.put(session)
            kind, outcome = attempt.outcome
            if kind == "ok":
                assert isinstance(outcome, list)
                return outcome, attempts
            assert isinstance(outcome, str)
            if kind == "fail":    # the server said no, or said nonsense: asking again will not help
                raise QueryError(f"{outcome} ({_attempts(attempts)}, not retried)")
            last = outcome
            if attempts <= self.retries:
                time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
                delay *= 2
        raise QueryError(f"{last} ({_attempts(attempts)} within {self.timeout:g}s)")


def _attempts(n: int) -> str:
    return f"after {n} attempt{'s' if n != 1 else ''}"


class _Attempt:
    """One HTTP exchange, run in a daemon thread. `outcome` is ("ok", samples), ("retry", why)
    for what may pass (5xx, 429, connection trouble, a garbled body) or ("fail", why)."""

    def __init__(self, session: requests.Session, base: str, url: str, params: dict[str, str],
                 deadline: float, cap: int):
        self.session = session
        self.base = base
        self.url = url
        self.params = params
        self.deadline = deadline
        self.cap = cap
        self.done = threading.Event()
        self.outcome: tuple[str, list[Sample] | str] = ("retry", "no answer")
        self._lock = threading.Lock()
        self._abandoned = False
        self._raw: Any = None

    def run(self) -> None:
        try:
            self.outcome = self._exchange()
        except BaseException as exc:  # noqa: BLE001 - nothing may escape a thread unreported
            self.outcome = ("retry", f"{type(exc).__name__}: {_short(str(exc))}")
        finally:
            if self._abandoned:
                self.session.close()   # nobody else holds this session any more
            self.done.set()

    def abandon(self) -> None:
        """Stop waiting: shut the socket down so a blocked read in the thread returns at once.
        Closing the response from here could block on its reader's lock, shutdown() does not."""
        with self._lock:
            self._abandoned = True
            raw = self._raw
        if raw is None:
            return   # still connecting or reading headers: the thread checks the flag afterwards
        with contextlib.suppress(Exception):   # older urllib3, or the connection is already released
            raw.shutdown()   # urllib3 >= 2.3
            return
        with contextlib.suppress(Exception):   # best effort: the thread also ends at its own read timeout
            sock = getattr(getattr(raw, "connection", None), "sock", None)
            if sock is not None:
                socket.socket.shutdown(sock, socket.SHUT_RDWR)

    def _exchange(self) -> tuple[str, list[Sample] | str]:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            return "retry", f"timed out waiting for {self.base}"
        try:
            resp = self.session.get(self.url, params=self.params, timeout=(remaining, remaining), stream=True)
        except requests.Timeout:
            return "retry", f"timed out waiting for {self.base}"
        except (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema,
                requests.exceptions.InvalidSchema, requests.exceptions.InvalidHeader) as exc:
            return "fail", f"cannot query {self.base}: {_short(str(exc))}"
        except requests.ConnectionError as exc:
            return "retry", f"cannot connect to {self.base}: {_why(exc)}"
        except requests.RequestException as exc:
            return "retry", f"{type(exc).__name__}: {_short(str(exc))}"
        try:
            with self._lock:
                self._raw = resp.raw
                if self._abandoned:
                    return "retry", f"timed out waiting for {self.base}"
            code = resp.status_code
            ok = 200 <= code < 300
            if ok and _declared_length(resp) > self.cap:
                return "fail", _too_large(self.cap)
            try:
                body = self._read(resp.raw, self.cap if ok else _ERROR_BODY_BYTES, truncate=not ok)
            except _TooLargeError:
                return "fail", _too_large(self.cap)
            except _LateError:
                return "retry", f"timed out waiting for {self.base}"
            except Exception as exc:  # noqa: BLE001 - urllib3/http.client/ssl errors mid-body
                if _is_timeout(exc):
                    return "retry", f"timed out reading the answer from {self.base}"
                return "retry", f"the answer was cut off ({type(exc).__name__}: {_short(str(exc))})"
            if code == 429 or code >= 500:
                return "retry", _api_error(code, body)
            if not ok:   # a bad query, bad credentials, a wrong tenant, a redirect nobody followed
                return "fail", _api_error(code, body)
            try:
                doc = json.loads(body, parse_constant=_no_constant)
            except (ValueError, RecursionError) as exc:
                return "retry", f"the answer is not JSON ({_short(str(exc))}): {_preview(body)}"
            try:
                return "ok", _parse(doc, range_query=self.url.endswith("query_range"))
            except QueryError as exc:
                return "fail", str(exc)
            except RecursionError:
                return "fail", "malformed answer: nested too deeply"
        finally:
            resp.close()   # after a complete read the connection is already back in the pool

    def _read(self, raw: Any, limit: int, truncate: bool) -> bytearray:
        """The (decoded) body, in chunks that each return as soon as any data has arrived, so
        that the deadline and an abandon() are noticed between them."""
        read1 = getattr(raw, "read1", None)
        buf = bytearray()
        while True:
            if self._abandoned or time.monotonic() >= self.deadline:
                raise _LateError
            chunk = read1(_CHUNK, decode_content=True) if read1 else raw.read(_CHUNK, decode_content=True)
            if not chunk:
                return buf   # json.loads takes a bytearray: no 64 MiB copy
            buf += chunk
            if len(buf) > limit:
                if truncate:
                    return buf[:limit]
                raise _TooLargeError


class _TooLargeError(Exception):
    pass


class _LateError(Exception):
    pass


def _declared_length(resp: requests.Response) -> int:
    try:
        return int(resp.headers.get("Content-Length", "-1"))
    except ValueError:
        return -1


def _too_large(cap: int) -> str:
    return f"the answer is larger than {cap / 2**20:g} MiB: refused (narrow the query)"


def _is_timeout(exc: BaseException) -> bool:
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, (TimeoutError, requests.Timeout)) or "timed out" in str(cur).lower():
            return True
        cur = cur.__cause__ or cur.__context__
    return False


def _why(exc: BaseException) -> str:
    """The root cause of a connection failure ("Connection refused"), not urllib3's wrapper text."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, OSError) and cur.strerror:
            return _short(cur.strerror)
        nxt = getattr(cur, "reason", None)
        if not isinstance(nxt, BaseException):
            nxt = cur.args[0] if cur.args and isinstance(cur.args[0], BaseException) else None
        cur = nxt or cur.__cause__ or cur.__context__
    return type(exc).__name__


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "..."


def _preview(body: bytes | bytearray) -> str:
    return repr(_short(body[:400].decode("utf-8", "replace"), 80)) if body else "an empty body"


def _show(value: object) -> str:
    return _short(repr(value), 60)


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not JSON")


def _api_error(code: int, body: bytes | bytearray) -> str:
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError):
        doc = None
    if isinstance(doc, dict) and isinstance(doc.get("error"), str):
        kind = doc.get("errorType")
        return _short(f"HTTP {code}: {kind if isinstance(kind, str) else ''} {doc['error']}")
    text = _short(body[:400].decode("utf-8", "replace"))
    return f"HTTP {code}: {text}" if text else f"HTTP {code}"


# --- the answer, checked -----------------------------------------------------------------------

_NUMBER = re.compile(r"[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|inf|infinity|nan)", re.IGNORECASE)


def _bad(where: str, what: str) -> QueryError:
    return QueryError(f"malformed answer: {where} {what}")


def _parse(doc: object, range_query: bool = False) -> list[Sample]:
    if not isinstance(doc, dict):
        raise _bad("the body", f"must be a JSON object, got {_show(doc)}")
    status = doc.get("status")
    if status == "error":
        kind, error = doc.get("errorType", "error"), doc.get("error", "unknown")
        raise QueryError(_short(f"{kind}: {error}"))
    if status != "success":
        raise _bad("status", f"must be \"success\" or \"error\", got {_show(status)}")
    warnings = doc.get("warnings", [])
    if not isinstance(warnings, list) or not all(isinstance(w, str) for w in warnings):
        raise _bad("warnings", f"must be a list of strings, got {_show(warnings)}")
    if warnings:
        # Thanos/Mimir partial responses and query-limit notices: the numbers are incomplete.
        raise QueryError(_short("partial response: " + "; ".join(warnings), 500))
    data = doc.get("data")
    if not isinstance(data, dict):
        raise _bad("data", f"must be an object, got {_show(data)}")
    kind = data.get("resultType")
    if "result" not in data:
        raise _bad("data.result", "is missing")
    result = data["result"]
    if kind in ("scalar", "string"):
        return [Sample({}, _pair(result, f"data.result ({kind})")[1])]
    if kind not in ("vector", "matrix"):
        raise _bad("data.resultType", f"{_show(kind)} is not one of vector, matrix, scalar, string")
    if not isinstance(result, list):
        raise _bad("data.result", f"must be a list for a {kind}, got {_show(result)}")
    out = []
    seen: set[tuple] = set()
    for i, item in enumerate(result):
        where = f"data.result[{i}]"
        if not isinstance(item, dict):
            raise _bad(where, f"must be an object, got {_show(item)}")
        labels = _labels(item.get("metric", {}), where + ".metric")
        key_labels = tuple(sorted(labels.items()))
        if key_labels in seen:
            raise _bad(where + ".metric", "repeats the label set of an earlier series: one series, two answers")
        seen.add(key_labels)
        key = "value" if kind == "vector" else "values"
        if key not in item:
            native = "histogram" if kind == "vector" else "histograms"
            why = " (native histogram samples are not supported)" if native in item else ""
            raise _bad(where, f"has no {key!r}{why}")
        if kind == "vector":
            out.append(Sample(labels, _pair(item["value"], where + ".value")[1]))
        else:
            pairs = item["values"]
            if not isinstance(pairs, list):
                raise _bad(where + ".values", f"must be a list, got {_show(pairs)}")
            values = [_pair(p, f"{where}.values[{j}]") for j, p in enumerate(pairs)]
            out.append(Sample(labels, values[-1][1] if values else math.nan, values))
    if (kind == "matrix") != range_query:
        raise _bad("data.resultType", f"{kind} is not what a{' range' if range_query else 'n instant'} query "
                                      "answers")
    return out


def _labels(metric: object, where: str) -> dict[str, str]:
    if not isinstance(metric, dict):
        raise _bad(where, f"must be an object, got {_show(metric)}")
    for name, value in metric.items():
        if not isinstance(value, str):
            raise _bad(f"{where}.{name}", f"must be a string, got {_show(value)}")
    # a lone surrogate (invalid UTF-16 in the JSON) cannot be printed or written: show it as '?'
    return {_printable(k): _printable(v) for k, v in metric.items()}


def _printable(text: str) -> str:
    return text.encode("utf-8", "replace").decode("utf-8")


def _pair(pair: object, where: str) -> tuple[float, float]:
    if not isinstance(pair, list) or len(pair) != 2:
        raise _bad(where, f"must be a [timestamp, \"value\"] pair, got {_show(pair)}")
    return _timestamp(pair[0], where), _value(pair[1], where)


def _timestamp(t: object, where: str) -> float:
    out = _number(t)
    if out is None or not math.isfinite(out):
        raise _bad(where, f"has a timestamp that is not a number: {_show(t)}")
    return out


def _value(v: object, where: str) -> float:
    """Prometheus sends sample values as strings: "1", "1e-3", "NaN", "+Inf", "-Inf"."""
    out = _number(v)
    if out is None:
        raise _bad(where, f"has a sample value that is not a number: {_show(v)}")
    return out


def _number(v: object) -> float | None:
    if isinstance(v, bool):
        return None
    try:
        if isinstance(v, (int, float)):
            return float(v)
        if isinstance(v, str) and _NUMBER.fullmatch(v):
            out = float(v)
            if math.isinf(out) and "inf" not in v.lower():
                return None  # "1e999": a finite notation that overflows is not a value Prometheus sends
            return out
    except OverflowError:   # an integer beyond float range
        return None
    return None

