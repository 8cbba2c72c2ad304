"""The gate's view of a Prometheus-compatible HTTP API: instant and range queries with bounded
retries, a deadline, auth headers and a custom CA.

Why not prometheus-api-client: its query helpers return only `data.result`, so the `warnings` a
Thanos or Mimir partial response carries are lost, and every failure is one exception type. The
gate must tell "the server said no" from "the server answered half", so it speaks HTTP itself."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import requests


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
    def __init__(self, url: str, timeout: float = 30.0, retries: int = 3, headers: dict | None = None,
                 ca_file: str | None = None, basic_auth: tuple[str, str] | None = None):
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.retries = retries
        self.session = requests.Session()
        self.session.headers.update(headers or {})
        self.session.headers.setdefault("User-Agent", "lukhas-obs slo-gate")
        if ca_file:
            self.session.verify = ca_file
        if basic_auth:
            self.session.auth = basic_auth
        self.start()

    def start(self) -> None:
        """Open a new deadline: `timeout` seconds from now for every query and retry that follows."""
        self.deadline = time.monotonic() + self.timeout

    def _get(self, path: str, params: dict) -> tuple[dict, int]:
        last = f"the {self.timeout:g}s deadline passed before the query was sent"
        attempts = 0
        delay = 0.2
        while attempts <= self.retries:
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                break
            attempts += 1
            try:
                resp = self.session.get(self.url + path, params=params, timeout=min(remaining, max(1.0, remaining)))
                if 400 <= resp.status_code < 500 and resp.status_code != 429:
                    # a bad query, bad credentials, a wrong tenant: retrying will not help
                    raise QueryError(_api_error(resp))
                if resp.status_code >= 500 or resp.status_code == 429:
                    last = _api_error(resp)
                else:
                    resp.raise_for_status()
                    body = resp.json()
                    if body.get("status") != "success":
                        raise QueryError(f"{body.get('errorType', 'error')}: {body.get('error', 'unknown')}")
                    return body, attempts
            except QueryError:
                raise
            except requests.Timeout:
                last = "timed out"
            except requests.ConnectionError as exc:
                last = f"cannot connect to {self.url} ({type(exc).__name__})"
            except (requests.RequestException, ValueError) as exc:
                last = f"{type(exc).__name__}: {exc}"
            if attempts <= self.retries:
                time.sleep(min(delay, max(0.0, self.deadline - time.monotonic())))
                delay *= 2
        raise QueryError(f"{last} (after {attempts} attempt{'s' if attempts != 1 else ''} within {self.timeout:g}s)")

    def query(self, expr: str, at: float) -> QueryResult:
        body, attempts = self._get("/api/v1/query", {"query": expr, "time": f"{at:.3f}"})
        return QueryResult(expr, at, _samples(body, expr), attempts, _warnings(body))

    def query_range(self, expr: str, start: float, end: float, step: float) -> QueryResult:
        body, attempts = self._get("/api/v1/query_range",
                                   {"query": expr, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}"})
        return QueryResult(expr, end, _samples(body, expr), attempts, _warnings(body))


def _api_error(resp) -> str:
    try:
        body = resp.json()
        return f"HTTP {resp.status_code}: {body.get('errorType', '')} {body.get('error', '')}".strip()
    except ValueError:
        return f"HTTP {resp.status_code}: {resp.text[:200].strip()}"


def _warnings(body: dict) -> list[str]:
    warnings = list(body.get("warnings") or [])
    if warnings:
        # Thanos/Mimir partial responses and query-limit notices: the numbers are incomplete.
        raise QueryError("partial response: " + "; ".join(warnings))
    return warnings


def _value(v) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


def _samples(body: dict, expr: str) -> list[Sample]:
    data = body.get("data") or {}
    kind = data.get("resultType")
    result = data.get("result")
    if kind == "scalar":
        return [Sample({}, _value(result[1]))]
    if kind not in ("vector", "matrix") or not isinstance(result, list):
        raise QueryError(f"unexpected result type {kind!r} for {expr}")
    out = []
    for item in result:
        labels = dict(item.get("metric") or {})
        if kind == "vector":
            out.append(Sample(labels, _value(item["value"][1])))
        else:
            values = [(float(t), _value(v)) for t, v in item.get("values", [])]
            out.append(Sample(labels, values[-1][1] if values else math.nan, values))
    return out
