"""`make bench`: run every benchmark and keep the figures in benchmarks/results/ (one JSON per run).

Measurements, not tests: nothing here passes or fails on speed. Reviewed figures from one run are
quoted in benchmarks/RESULTS.md."""

from __future__ import annotations

import json
import platform
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import bench_calendar  # noqa: E402
import bench_decisions  # noqa: E402
import bench_gate  # noqa: E402
import bench_generate  # noqa: E402
import bench_import  # noqa: E402
import bench_rules  # noqa: E402
import bench_serve  # noqa: E402


def main() -> None:
    results = {"machine": {"python": platform.python_version(), "platform": platform.platform(),
                           "cpus": __import__("os").cpu_count()},
               "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    for name, mod in (("generate", bench_generate), ("rules_vs_sloth", bench_rules), ("gate", bench_gate),
                      ("decisions", bench_decisions), ("import_corpus", bench_import), ("serve", bench_serve),
                      ("calendar_budget", bench_calendar)):
        print(f"== {name}", flush=True)
        results[name] = mod.main()
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    path = out / f"bench-{time.strftime('%Y%m%dT%H%M%S')}.json"
    path.write_text(json.dumps(results, indent=2))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
