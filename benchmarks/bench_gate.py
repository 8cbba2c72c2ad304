"""slo-gate: wall time of `slo-gate --mode smoke` against a local Prometheus from a cold start,
beside the slowest single query it sends. (The decision rules' error rates are measured in
bench_decisions.py.)"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from common import history_prometheus  # noqa: E402

from lukhas_obs.gate.client import PromClient  # noqa: E402
from lukhas_obs.spec import load_spec  # noqa: E402


class _Recording(PromClient):
    """A client that remembers every instant query it was asked to send."""

    def __init__(self, url: str):
        super().__init__(url)
        self.sent: set[str] = set()

    def query(self, expr, at):
        self.sent.add(expr)
        return super().query(expr, at)


def smoke_timing() -> dict:
    import gatedata

    work, proc, url = history_prometheus("bench-gate-")
    try:
        at = str(gatedata.end_of("healthy"))
        cli = [sys.executable, "-m", "lukhas_obs", "slo-gate", "--mode", "smoke", "--prometheus-url", url, "--at", at]
        cold = []
        for _ in range(5):
            t = time.perf_counter()
            r = subprocess.run(cli, capture_output=True, text=True, cwd=ROOT)
            cold.append(time.perf_counter() - t)
            assert r.returncode == 0, r.stdout
        startup = []
        for _ in range(5):
            t = time.perf_counter()
            subprocess.run([sys.executable, "-c", "import lukhas_obs.cli, lukhas_obs.gate, requests"], cwd=ROOT)
            startup.append(time.perf_counter() - t)
        # every query the smoke gate sends, each timed alone
        from lukhas_obs.gate import run_gate

        spec = load_spec(ROOT / "specs" / "lukhas.yaml")
        recorder = _Recording(url)
        report = run_gate(spec, "smoke", recorder, at=float(at))
        queries = sorted(recorder.sent)
        slowest = 0.0
        for q in sorted(set(queries)):
            per = []
            for _ in range(3):
                t = time.perf_counter()
                PromClient(url).query(q, float(at))
                per.append(time.perf_counter() - t)
            slowest = max(slowest, statistics.median(per))
        in_process = []
        for _ in range(5):
            t = time.perf_counter()
            run_gate(spec, "smoke", PromClient(url), at=float(at))
            in_process.append(time.perf_counter() - t)
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        shutil.rmtree(work, ignore_errors=True)
    return {"checks": len(report.checks), "queries": len(set(queries)),
            "cold_cli_median_s": round(statistics.median(cold), 3),
            "python_startup_and_imports_median_s": round(statistics.median(startup), 3),
            "in_process_gate_median_s": round(statistics.median(in_process), 3),
            "slowest_single_query_s": round(slowest, 4),
            "ratio_in_process_to_slowest_query": round(statistics.median(in_process) / slowest, 1)}


def main() -> dict:
    out = {"smoke": smoke_timing()}
    print(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()
