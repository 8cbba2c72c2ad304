"""`slo-gate serve`: the gate as an HTTP endpoint, for the delivery controllers that run canaries.

`GET /v1/gate?mode=canary&service=lukhas-core` (POST too: Flagger's webhooks POST, and their body
is not read) evaluates the gate and answers the JSON document of `slo-gate --output json`,
written by the same code (report.to_json). The status code follows the contract of the caller:

  no `hook` (Argo Rollouts' `web` metric provider, scripts reading the JSON): 200 for every
      outcome, PASS, FAIL, INCONCLUSIVE and ERROR alike. Argo counts any non-2xx answer as a
      measurement Error, and an AnalysisRun that ends in Error aborts the Rollout: a rollback
      for what the gate calls "hold". The generated AnalysisTemplate reads `outcome` instead
      (successCondition PASS, failureCondition FAIL, anything else Inconclusive).
  `hook=confirm-rollout|confirm-traffic-increase|confirm-promotion` (Flagger): 200 on PASS only,
      412 otherwise. Flagger goes ahead on 200-202 and waits on anything else.
  `hook=rollback` (Flagger): 200 on FAIL only, 412 otherwise. Flagger rolls back on 200-202, so
      INCONCLUSIVE and ERROR (and every error answer below) never roll back.

Errors that are not an evaluation: 400 bad parameters (JSON with the reason), 404, 405, 503 when
the cap on evaluations at once and the waiting room are both full (Retry-After), 500 for a bug in
the server itself (JSON; the server stays up). A crash inside the evaluation is the gate's ERROR,
as in the CLI.

Bounded: each request has a deadline (the server's --timeout, or less with `timeout=`) that
covers waiting for a free evaluation and every query; at most `max_evaluations` run at once and
`max_waiting` wait. The spec is read once and again only when its files change (size, mtime,
inode, then content hash); a spec that no longer loads leaves the last good one in use, and the
health endpoint, a response header and the log say so."""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from urllib.parse import parse_qsl

from lukhas_obs.conventions import GATE_API_PATH
from lukhas_obs.durations import format_duration, iso
from lukhas_obs.errors import SpecError
from lukhas_obs.gate import MODES, GateReport, run_gate
from lukhas_obs.gate.client import PromClient
from lukhas_obs.gate.decide import CheckResult, Outcome
from lukhas_obs.gate.report import to_json
from lukhas_obs.model import Spec

API_PATH = GATE_API_PATH
HEALTH_PATH = "/healthz"
# Flagger's webhook types whose status-code reading fits the gate, and the outcome each says yes to.
# pre-rollout and rollout hooks count any non-2xx as a failed check (rolled back at the threshold),
# which would turn INCONCLUSIVE into a rollback: they are refused.
HOOKS = {"confirm-rollout": Outcome.PASS, "confirm-traffic-increase": Outcome.PASS,
         "confirm-promotion": Outcome.PASS, "rollback": Outcome.FAIL}
PARAMETERS = ("mode", "service", "window", "at", "since", "canary-weight", "timeout", "hook")
NOT_YET = 412            # a hook's "no": not 2xx, so Flagger holds (confirm-*) or does not roll back
MAX_FIELDS = 64
MAX_BODY = 64 * 1024     # Flagger's payload is a few hundred bytes; waitress answers 413 past this
MAX_HEADERS = 64 * 1024

log = logging.getLogger("lukhas_obs.serve")


class BadRequest(ValueError):
    def __init__(self, parameter: str | None, message: str):
        super().__init__(message)
        self.parameter = parameter


@dataclass(frozen=True)
class Defaults:
    """What a request that does not say gets: the server's own options."""
    mode: str = "smoke"
    window: str | None = None
    services: tuple[str, ...] = ()
    timeout: float = 30.0          # also the longest deadline a request may ask for


@dataclass(frozen=True)
class GateRequest:
    mode: str
    services: list[str] | None
    window: str | None
    at: float | None
    since: float | None
    canary_weight: int | None
    timeout: float
    hook: str | None


def _as_cli(parameter: str, fn: Callable, *args):
    """Run one of the CLI's own option checks, so a request and a command line are held to the
    same rules and messages; its refusal becomes a 400 naming the request parameter."""
    import click

    try:
        return fn(*args)
    except click.BadParameter as exc:
        raise BadRequest(parameter, exc.message) from None


def parse_request(query: str, spec: Spec, defaults: Defaults) -> GateRequest:
    """The query string of a gate request, checked as the CLI checks its options. BadRequest
    names the parameter and says why."""
    from lukhas_obs.cli import _duration, _parse_time, _timeout

    try:
        pairs = parse_qsl(query, keep_blank_values=True, max_num_fields=MAX_FIELDS, errors="strict")
    except ValueError as exc:   # too many fields, bad percent-encoding
        raise BadRequest(None, f"unreadable query string: {exc}") from None
    values: dict[str, list[str]] = {}
    for key, value in pairs:
        if key not in PARAMETERS:
            raise BadRequest(key, f"unknown parameter {key!r}; the gate takes {', '.join(PARAMETERS)}")
        if not value.strip():
            raise BadRequest(key, "is empty")
        values.setdefault(key, []).append(value)
    for key, given in values.items():
        if key != "service" and len(given) > 1:
            raise BadRequest(key, "is given more than once")

    def one(key: str) -> str | None:
        return values[key][0] if key in values else None

    mode = one("mode") or defaults.mode
    if mode not in MODES:
        raise BadRequest("mode", f"{mode!r} is not one of {', '.join(MODES)}")
    services = list(dict.fromkeys(values.get("service", []))) or list(defaults.services)
    unknown = [s for s in services if s not in {x.name for x in spec.services}]
    if unknown:
        raise BadRequest("service", f"not in {spec.source}: {', '.join(unknown)}")
    window = one("window") or defaults.window
    if window is not None:
        _as_cli("window", _duration, window, "window")
    at = _as_cli("at", _parse_time, one("at"), "at")
    since = _as_cli("since", _parse_time, one("since"), "since")
    if since is not None and since >= (at if at is not None else time.time()):
        raise BadRequest("since", "must be before the evaluation instant")
    weight = one("canary-weight")
    if weight is not None and not (weight.isascii() and weight.isdigit() and int(weight) <= 100):
        raise BadRequest("canary-weight", f"{weight!r} is not a whole percentage from 0 to 100")
    timeout = defaults.timeout
    if (asked := one("timeout")) is not None:
        timeout = _as_cli("timeout", _timeout, asked, "timeout")
        if timeout > defaults.timeout:
            raise BadRequest("timeout", f"{asked} is longer than this server allows "
                                        f"({format_duration(defaults.timeout)}, its --timeout)")
    hook = one("hook")
    if hook is not None and hook not in HOOKS:
        raise BadRequest("hook", f"{hook!r} is not one of {', '.join(HOOKS)} (Flagger's pre-rollout and rollout "
                                 "hooks count any answer but 2xx as a failed check, so an INCONCLUSIVE would roll "
                                 "back: ask the gate from confirm-* and rollback hooks)")
    if hook == "confirm-traffic-increase" and mode == "canary":
        raise BadRequest("hook", "Flagger calls confirm-traffic-increase before the first step as well, when the "
                                 "canary has had no traffic: the canary gate could only answer INCONCLUSIVE and the "
                                 "weight would stay at 0; use confirm-promotion and rollback")
    return GateRequest(mode, services or None, window, at, since, None if weight is None else int(weight), timeout,
                       hook)


def status_for(outcome: Outcome, hook: str | None) -> int:
    """The status code of an evaluated request: the contract table in the module docstring."""
    if hook is None:
        return 200
    return 200 if outcome == HOOKS[hook] else NOT_YET


def crash_report(mode: str, at: float | None, window: str | None, spec: Spec, url: str,
                 exc: BaseException) -> GateReport:
    """What an exception inside an evaluation becomes: the gate's ERROR (hold), never a verdict."""
    return GateReport(mode, Outcome.ERROR, at or time.time(), window or spec.gates.window, url, [
        CheckResult("gate", None, Outcome.ERROR, f"internal error, nothing was decided: {type(exc).__name__}: {exc}")])


class SpecHolder:
    """The spec, loaded once and again only when its files change. A spec that no longer loads
    leaves the last good one in use; `problem` says why until a good one is read."""

    def __init__(self, path: str, spec: Spec, loader: Callable[[str], Spec]):
        self.path = path
        self._loader = loader
        self._lock = threading.Lock()
        self._stamp = self._stat()
        self._racy = _recent(self._stamp)
        self._digest = self._hash()
        self._state: tuple[Spec, str | None] = (spec, None)
        self.loaded_at = time.time()
        self.reloads = 0

    def _files(self) -> list[Path]:
        """The spec file, or a folder and every file in it (a team file added, removed or changed)."""
        p = Path(self.path)
        if p.is_dir():
            return [p, *sorted(f for f in p.iterdir() if f.is_file())]
        return [p]

    def _stat(self) -> tuple:
        out: list[tuple] = []
        for f in self._files():
            try:
                st = f.stat()
            except OSError:
                out.append((str(f), None))
                continue
            out.append((str(f), st.st_mtime_ns, st.st_ctime_ns, st.st_size, st.st_ino))
        return tuple(out)

    def _hash(self) -> str:
        digest = hashlib.sha256()
        for f in self._files():
            digest.update(str(f).encode() + b"\0")
            if f.is_file():
                try:
                    digest.update(f.read_bytes())
                except OSError as exc:
                    digest.update(f"unreadable: {exc}".encode())
        return digest.hexdigest()

    def current(self) -> tuple[Spec, str | None]:
        """(the spec to use, why it is not the file's current content or None). A stat of the
        files per call; a read when they changed, or while their times are too recent to tell
        two writes apart (timestamps are coarse: two writes of the same size within one tick
        look alike); a load only when the content changed."""
        stamp = self._stat()
        if stamp != self._stamp or self._racy:
            with self._lock:
                if stamp != self._stamp or self._racy:
                    self._reload(stamp)
        return self._state

    def _reload(self, stamp: tuple) -> None:
        self._stamp = stamp
        self._racy = _recent(stamp)
        digest = self._hash()
        if digest == self._digest:
            return   # touched, not changed
        self._digest = digest   # a broken spec is tried once per change, not once per request
        good = self._state[0]
        try:
            spec = self._loader(self.path)
        except SpecError as exc:
            first = exc.problems[0] if exc.problems else "no details"
            problem = (f"{self.path} changed and no longer loads ({len(exc.problems)} problem"
                       f"{'s' if len(exc.problems) != 1 else ''}, first: {first}); answering with the spec "
                       f"loaded at {iso(self.loaded_at)}")
            log.error("%s", problem)
            for p in exc.problems:
                log.error("  %s", p)
            self._state = (good, problem)
            return
        except Exception as exc:  # noqa: BLE001 - a loader bug must not stop the server either
            problem = (f"{self.path} changed and loading it failed ({type(exc).__name__}: {exc}); answering with "
                       f"the spec loaded at {iso(self.loaded_at)}")
            log.exception("%s", problem)
            self._state = (good, problem)
            return
        self._state = (spec, None)
        self.loaded_at = time.time()
        self.reloads += 1
        log.info("reloaded %s (%d services, %d SLOs)", self.path, len(spec.services), len(spec.slos))


RACY_NS = 2 * 10**9


def _recent(stamp: tuple) -> bool:
    """A file changed less than RACY_NS ago (by its mtime or ctime)."""
    now = time.time_ns()
    return any(len(entry) > 2 and max(entry[1], entry[2]) > now - RACY_NS for entry in stamp)


class Limiter:
    """At most `running` evaluations at once and `waiting` requests waiting for one; a request
    waits at most the time it is given."""

    def __init__(self, running: int, waiting: int):
        self.max_running = running
        self.max_waiting = waiting
        self.running = 0
        self.waiting = 0
        self._cond = threading.Condition()
        self._mean = 1.0   # seconds an evaluation takes, smoothed: what Retry-After says

    def acquire(self, wait: float) -> bool:
        with self._cond:
            if self.running < self.max_running:
                self.running += 1
                return True
            if self.waiting >= self.max_waiting or wait <= 0:
                return False
            self.waiting += 1
            try:
                end = time.monotonic() + wait
                while self.running >= self.max_running:
                    left = end - time.monotonic()
                    if left <= 0:
                        return False
                    self._cond.wait(left)
                self.running += 1
                return True
            finally:
                self.waiting -= 1

    def release(self, seconds: float) -> None:
        with self._cond:
            self.running -= 1
            self._mean = 0.8 * self._mean + 0.2 * seconds
            self._cond.notify()

    def retry_after(self) -> int:
        """Seconds until a slot is likely free: the time of an evaluation, rounded up."""
        return max(1, math.ceil(self._mean))


def _json(doc: dict) -> bytes:
    return json.dumps(doc, indent=2).encode()


class GateApp:
    """The WSGI application."""

    def __init__(self, specs: SpecHolder, client: PromClient, defaults: Defaults, limiter: Limiter):
        self.specs = specs
        self.client = client
        self.defaults = defaults
        self.limiter = limiter

    def __call__(self, environ, start_response):
        started = time.monotonic()
        try:
            status, headers, body, note = self._handle(environ)
        except Exception as exc:  # noqa: BLE001 - a bug answers 500 and the server stays up
            log.exception("internal error")
            status, headers, note = 500, [], "internal error"
            body = _json({"error": f"internal error in lukhas-obs (a bug; please report it): "
                                   f"{type(exc).__name__}: {exc}"})
        reason = HTTPStatus(status).phrase
        start_response(f"{status} {reason}", [("Content-Type", "application/json"), ("Cache-Control", "no-store"),
                                              ("Content-Length", str(len(body))), *headers])
        query = environ.get("QUERY_STRING", "")
        log.info("%s %s %s%s -> %d %s (%.3fs)", environ.get("REMOTE_ADDR", "-"), environ.get("REQUEST_METHOD"),
                 environ.get("PATH_INFO", ""), f"?{query}" if query else "", status, note,
                 time.monotonic() - started)
        return [b"" if environ.get("REQUEST_METHOD") == "HEAD" else body]

    def _handle(self, environ) -> tuple[int, list[tuple[str, str]], bytes, str]:
        path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "GET")
        if path == HEALTH_PATH:
            if method not in ("GET", "HEAD"):
                return 405, [("Allow", "GET, HEAD")], _json({"error": f"{method} is not allowed here"}), ""
            return 200, [], _json(self.health()), ""
        if path != API_PATH:
            return 404, [], _json({"error": f"no such path {path!r}: the gate answers at {API_PATH}, health at "
                                            f"{HEALTH_PATH}"}), ""
        if method not in ("GET", "POST"):
            return 405, [("Allow", "GET, POST")], _json({"error": f"{method} is not allowed here"}), ""
        spec, problem = self.specs.current()
        headers = [("X-Lukhas-Spec-Warning", _header_text(problem))] if problem else []
        try:
            req = parse_request(environ.get("QUERY_STRING", ""), spec, self.defaults)
        except BadRequest as exc:
            return 400, headers, _json({"error": str(exc), "parameter": exc.parameter}), "bad request"
        t0 = time.monotonic()
        if not self.limiter.acquire(wait=req.timeout / 2):
            retry = self.limiter.retry_after()
            return 503, [*headers, ("Retry-After", str(retry))], _json({
                "error": f"busy: {self.limiter.max_running} evaluations running and {self.limiter.max_waiting} "
                         f"waiting; try again in {retry}s"}), "busy"
        try:
            report = self._evaluate(spec, req, req.timeout - (time.monotonic() - t0))
        finally:
            self.limiter.release(time.monotonic() - t0)
        status = status_for(report.outcome, req.hook)
        return status, [*headers, ("X-Gate-Outcome", report.outcome.value)], to_json(report).encode(), \
            report.outcome.value

    def _evaluate(self, spec: Spec, req: GateRequest, seconds: float) -> GateReport:
        client = copy.copy(self.client)   # its own deadline; the same settings and per-thread sessions
        client.timeout = max(round(seconds, 1), 0.1)   # what is left of the deadline after waiting
        try:
            return run_gate(spec, req.mode, client, at=req.at, window=req.window, services=req.services,
                            canary_weight=req.canary_weight, since=req.since)
        except Exception as exc:  # noqa: BLE001 - as in the CLI: a crash is ERROR (hold), never a verdict
            log.exception("the gate crashed")
            return crash_report(req.mode, req.at, req.window, spec, client.url, exc)

    def health(self) -> dict:
        spec, problem = self.specs.current()
        return {"status": "degraded" if problem else "ok",
                "spec": {"path": self.specs.path, "services": len(spec.services), "slos": len(spec.slos),
                         "loaded_at": iso(self.specs.loaded_at), "reloads": self.specs.reloads,
                         **({"problem": problem} if problem else {})},
                "prometheus": self.client.url,
                "evaluations": {"running": self.limiter.running, "waiting": self.limiter.waiting,
                                "max_running": self.limiter.max_running, "max_waiting": self.limiter.max_waiting}}


def _header_text(text: str) -> str:
    """A header value: one line of printable ASCII."""
    return " ".join(text.encode("ascii", "replace").decode().split())[:400]


def start(app: GateApp, host: str, port: int, echo: Callable[[str], None]) -> None:
    """Serve `app` with waitress until SIGINT or SIGTERM. Raises OSError when it cannot listen."""
    import signal

    from waitress.server import create_server

    limiter = app.limiter
    threads = limiter.max_running + limiter.max_waiting + 4   # and a few for health checks and quick refusals
    server = create_server(app, host=host, port=port, threads=threads, ident="lukhas-obs",
                           connection_limit=max(100, 2 * threads), max_request_body_size=MAX_BODY,
                           max_request_header_size=MAX_HEADERS, channel_timeout=60, expose_tracebacks=False,
                           clear_untrusted_proxy_headers=True)

    def stop(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    bound = getattr(server, "effective_host", host), getattr(server, "effective_port", port)
    echo(f"lukhas-obs slo-gate serve: listening on http://{_host(bound[0])}:{bound[1]}{API_PATH} "
         f"(health {HEALTH_PATH}; spec {app.specs.path}; Prometheus {app.client.url}; at most "
         f"{limiter.max_running} evaluations at once, {limiter.max_waiting} waiting)")
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
        signal.signal(signal.SIGTERM, previous)
    echo("lukhas-obs slo-gate serve: stopped")


def _host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
