"""slo-gate: wall time of `slo-gate --mode smoke` against a local Prometheus from a cold start,
beside the slowest single query it sends; and a canary simulation comparing the gate's test
(two-proportion z-test + effect-size floor + minimum traffic) with a fixed 1 % threshold."""

from __future__ import annotations

import json
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from common import start_prometheus  # noqa: E402
from lukhas_obs.gate.checks import Context, _compare  # noqa: E402
from lukhas_obs.gate.client import PromClient  # noqa: E402
from lukhas_obs.gate.decide import Outcome  # noqa: E402
from lukhas_obs.spec import load_spec  # noqa: E402


def smoke_timing() -> dict:
    import gatedata

    work = Path(tempfile.mkdtemp(prefix="bench-gate-"))
    (work / "om.txt").write_text(gatedata.openmetrics())
    subprocess.run(["promtool", "tsdb", "create-blocks-from", "openmetrics", str(work / "om.txt"), str(work / "data")],
                   check=True, capture_output=True)
    (work / "prometheus.yml").write_text("global: {scrape_interval: 1m}\n")
    proc, url = start_prometheus(work / "prometheus.yml", work / "data")
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
        report = run_gate(spec, "smoke", PromClient(url), at=float(at))
        queries = [q for c in report.checks for q in c.query.split("\n") if q]
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


def canary_simulation(runs: int = 1000, seed: int = 11) -> list[dict]:
    spec = load_spec(ROOT / "specs" / "lukhas.yaml")
    ctx = Context(spec=spec, client=None, at=0, window="5m", services=[])
    rng = random.Random(seed)

    def binomial(n, p):
        # normal approximation is not good enough at p=0.5 %; draw exactly
        return sum(1 for _ in range(n) if rng.random() < p)

    rows = []
    for base_ratio in (0.005, 0.01):
        for canary_n in (1000, 2000, 5000):
            base_n = canary_n * 19  # canary at 5 % of traffic
            result = {"baseline_error_ratio": base_ratio, "canary_requests": canary_n, "baseline_requests": base_n}
            for label, canary_ratio in (("healthy", base_ratio), ("regressed_2x", 2 * base_ratio)):
                gate_fail = fixed_fail = 0
                for _ in range(runs):
                    kc = binomial(canary_n, canary_ratio)
                    kb = round(base_n * base_ratio + rng.gauss(0, (base_n * base_ratio * (1 - base_ratio)) ** 0.5))
                    verdict = _compare(ctx, "sim", "svc", "errors", (kc, canary_n), (kb, base_n), "", 0.05)
                    gate_fail += verdict.outcome == Outcome.FAIL
                    fixed_fail += kc / canary_n > 0.01
                key = "false_rollbacks" if label == "healthy" else "caught"
                result[f"gate_{key}_pct"] = round(100 * gate_fail / runs, 1)
                result[f"fixed_1pct_{key}_pct"] = round(100 * fixed_fail / runs, 1)
            rows.append(result)
    return rows


def main() -> dict:
    out = {"smoke": smoke_timing(), "canary_simulation_1000_runs": canary_simulation()}
    print(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()
