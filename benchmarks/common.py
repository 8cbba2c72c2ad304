"""Helpers shared by the benchmarks: medians of repeated runs, and synthetic specs."""

from __future__ import annotations

import statistics
import time

import yaml


def median_seconds(fn, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def synthetic_spec(services: int) -> str:
    """A spec with `services` application services, each with an availability and a latency SLO
    and a scrape target, sharing one metric catalogue and four severities."""
    base = yaml.safe_load(open("specs/lukhas.yaml").read())
    base.pop("alerts", None)
    base.pop("gates", None)
    svcs = []
    for i in range(services):
        svcs.append({
            "name": f"svc-{i:04d}", "kind": "application", "host": f"svc-{i:04d}", "port": 8000 + (i % 1000),
            "health": "/health",
            "slos": [
                {"name": "availability", "objective": 99.9,
                 "sli": {"ratio": {"errors": 'lukhas_http_requests_total{status=~"5.."}',
                                   "total": "lukhas_http_requests_total"}}, "page": "P1", "ticket": "P3"},
                {"name": "latency", "objective": 99,
                 "sli": {"latency": {"metric": "lukhas_http_request_duration_seconds", "threshold": 0.25}},
                 "page": "P2", "ticket": "P3"},
            ],
        })
    for m in base["metrics"].values():
        m.pop("services", None)
    base["services"] = svcs
    return yaml.safe_dump(base, sort_keys=False)
