"""slo-gate serve under load: requests per second and latency percentiles of `GET /v1/gate` from 50
concurrent callers on loopback, against a real Prometheus holding the test history, beside one
caller alone. Bounded: a fixed number of requests per caller and a wall-clock cap; the server and
Prometheus listen on 127.0.0.1 and are stopped by pid at the end.

The mix is what controllers send: canary questions about one service each (an AnalysisRun or a
Flagger hook per service), every one a full gate evaluation (nothing is cached)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from common import history_prometheus  # noqa: E402

CALLERS = 50
PER_CALLER = 10          # 500 requests under load
ALONE = 50               # requests from one caller, for the unloaded latency
CAP_SECONDS = 180.0      # the load stops here whatever is left


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def _start_server(prom_url: str, work: Path) -> tuple[subprocess.Popen, str]:
    from lukhas_obs.demo import free_port

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = open(work / "serve.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "lukhas_obs", "slo-gate", "serve", "--prometheus-url", prom_url,
                             "--port", str(port)], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    for _ in range(100):
        try:
            if requests.get(url + "/healthz", timeout=2).status_code == 200:
                return proc, url
        except requests.RequestException:
            time.sleep(0.1)
    proc.terminate()
    raise RuntimeError("slo-gate serve did not start")


def _load(url: str, at: int, callers: int, per_caller: int) -> dict:
    import gatedata

    latencies: list[float] = []
    problems: dict[str, int] = {}
    lock = threading.Lock()
    stop_at = time.monotonic() + CAP_SECONDS
    start = threading.Barrier(callers)

    def caller(i: int) -> None:
        session = requests.Session()
        start.wait()
        for j in range(per_caller):
            if time.monotonic() > stop_at:
                break
            service = gatedata.APPS[(i + j) % len(gatedata.APPS)]
            t = time.perf_counter()
            try:
                r = session.get(url + "/v1/gate", params={"mode": "canary", "service": service, "at": str(at)},
                                timeout=60)
                outcome = r.json().get("outcome") if r.status_code == 200 else None
                what = None if r.status_code == 200 and outcome == "PASS" else f"HTTP {r.status_code} {outcome}"
            except requests.RequestException as exc:
                what = type(exc).__name__
            elapsed = time.perf_counter() - t
            with lock:
                latencies.append(elapsed)
                if what:
                    problems[what] = problems.get(what, 0) + 1

    threads = [threading.Thread(target=caller, args=(i,)) for i in range(callers)]
    t0 = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    wall = time.perf_counter() - t0
    return {"callers": callers, "requests": len(latencies), "seconds": round(wall, 2),
            "requests_per_second": round(len(latencies) / wall, 1),
            "p50_s": round(_percentile(latencies, 0.50), 3), "p90_s": round(_percentile(latencies, 0.90), 3),
            "p99_s": round(_percentile(latencies, 0.99), 3), "max_s": round(max(latencies), 3),
            "errors": sum(problems.values()), "error_kinds": problems}


def serve_load() -> dict:
    import gatedata

    work, prom, prom_url = history_prometheus("bench-serve-")
    server = None
    try:
        server, url = _start_server(prom_url, work)
        at = gatedata.end_of("healthy")
        alone = _load(url, at, 1, ALONE)
        loaded = _load(url, at, CALLERS, PER_CALLER)
        health = requests.get(url + "/healthz", timeout=5).json()
    finally:
        for proc in (server, prom):
            if proc is not None:
                proc.terminate()
                proc.wait(timeout=20)
        shutil.rmtree(work, ignore_errors=True)
    return {"one_caller": alone, "concurrent": loaded, "server": health["evaluations"]}


def main() -> dict:
    out = {"serve": serve_load()}
    print(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()
