"""A synthetic LUKHAS workload: serves every metric of a spec's catalogue on 127.0.0.1, one
`/metrics/<service>` path per service, plus `/health/<service>`.

Used by the integration tests (a real exporter for a real Prometheus to scrape) and by the demo
(`lukhas-obs demo`); not part of the installed product (see lukhas_obs_demo/__init__.py).
Traffic is simulated from wall-clock time, so counters grow like a real service's."""

from __future__ import annotations

import argparse
import math
import random
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from lukhas_obs.model import Spec

MODES = ("healthy", "degraded", "outage", "canary-bad")


class Workload:
    def __init__(self, spec: Spec, rps: float = 20.0, seed: int = 7):
        self.spec = spec
        self.rps = rps
        self.mode = "healthy"
        self.target = next((s.name for s in spec.services if s.kind == "application"), None)
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.registries: dict[str, CollectorRegistry] = {}
        self.instruments: dict[tuple[str, str], Counter | Histogram | Gauge] = {}
        for svc in spec.services:  # every service answers, even one with no catalogue metric
            self.registries[svc.name] = CollectorRegistry()
        for metric in spec.metrics:
            for owner in metric.services or [s.name for s in spec.services if s.kind == "application"]:
                reg = self.registries.setdefault(owner, CollectorRegistry())
                labels = list(metric.labels) + ["track"]
                name = metric.name
                inst: Counter | Histogram | Gauge
                if metric.type == "counter":
                    inst = Counter(name[: -len("_total")], metric.help or name, labels, registry=reg)
                elif metric.type == "histogram":
                    inst = Histogram(name, metric.help or name, labels, buckets=list(metric.buckets), registry=reg)
                else:
                    inst = Gauge(name, metric.help or name, labels, registry=reg)
                self.instruments[(owner, name)] = inst
        self.last = time.monotonic()

    def set_mode(self, mode: str, target: str | None = None) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}")
        with self.lock:
            self.mode = mode
            if target:
                self.target = target

    def down(self, service: str) -> bool:
        return self.mode == "outage" and service == self.target

    def error_ratio(self, service: str, track: str) -> float:
        base = 0.00015  # the runbook's RC soak test: 0.015 % errors
        if self.mode == "degraded" and service == self.target:
            return 0.08
        if self.mode == "canary-bad" and track == "canary":
            return 0.06
        return base

    def latency(self, service: str) -> float:
        slow = self.mode == "degraded" and service == self.target
        # healthy: median 20 ms, 0.06 % above 100 ms (the strictest latency SLO: 99 % within 100 ms)
        return self.rng.lognormvariate(math.log(0.4 if slow else 0.02), 0.5)

    def tick(self) -> None:
        """Advance simulated traffic to now."""
        with self.lock:
            now = time.monotonic()
            dt, self.last = now - self.last, now
            for (svc, name), inst in self.instruments.items():
                if self.down(svc):
                    continue
                metric = self.spec.metric(name)
                # rate limits and drift detections are rare events, not one per request
                rare = 0.002 if ("rate_limits" in name or "drift" in name) else 1.0
                for track, share in (("baseline", 0.95), ("canary", 0.05)):
                    n = max(0, int(round(self.rps * share * rare * dt + self.rng.random() - 0.5)))
                    self.observe(svc, metric, inst, track, n)

    def observe(self, svc, metric, inst, track, n) -> None:
        labels = {lbl: self.label_value(lbl) for lbl in metric.labels}
        if metric.type == "counter":
            if "status" in metric.labels:
                errors = sum(1 for _ in range(n) if self.rng.random() < self.error_ratio(svc, track))
                inst.labels(**{**labels, "status": "200", "track": track}).inc(n - errors)
                inst.labels(**{**labels, "status": "500", "track": track}).inc(errors)
            else:
                inst.labels(**labels, track=track).inc(n)
        elif metric.type == "histogram":
            child = inst.labels(**labels, track=track)
            for _ in range(min(n, 200)):
                child.observe(self.latency(svc))
        else:
            inst.labels(**labels, track=track).set(self.gauge_value(metric.name))

    def label_value(self, label: str) -> str:
        return {"method": "GET", "status": "200", "result": "success", "reason": "bad_password",
                "operation": "create", "datname": "lukhas"}.get(label, "x")

    def gauge_value(self, name: str) -> float:
        if "tick_rate" in name:
            return 10.0
        if name.endswith(("_up", "_active")) or name in ("lukhas_service_health", "pg_up", "redis_up", "nginx_up"):
            return 1.0
        if "max" in name:
            return 50.0
        if "in_use" in name:
            return 10.0
        return 1000.0

    def serve(self, port: int = 0) -> ThreadingHTTPServer:
        workload = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                if self.path.startswith("/probe?"):
                    return self.probe()
                parts = self.path.strip("/").split("/")
                if len(parts) == 2 and parts[0] == "metrics" and parts[1] in workload.registries:
                    if workload.down(parts[1]):
                        return self.reply(503, b"down\n")
                    workload.tick()
                    return self.reply(200, generate_latest(workload.registries[parts[1]]), CONTENT_TYPE_LATEST)
                if len(parts) == 2 and parts[0] == "health":
                    return self.reply(503 if workload.down(parts[1]) else 200, b"ok\n")
                if len(parts) == 2 and parts[0] == "mode":
                    workload.set_mode(parts[1])
                    return self.reply(200, f"{workload.mode}\n".encode())
                return self.reply(404, b"not found\n")

            def probe(self):
                """A stand-in for the blackbox exporter's http_2xx module probing a service this
                workload plays: the target's path is /health/<service>, and the probe succeeds as
                a GET of that path here would (whatever host the target names: a spec's probe
                targets name services by their network name, see Service.health_url)."""
                from urllib.parse import parse_qs, urlparse

                target = urlparse(parse_qs(urlparse(self.path).query).get("target", [""])[0])
                parts = target.path.strip("/").split("/")
                ok = int(len(parts) == 2 and parts[0] == "health" and parts[1] in workload.registries
                         and not workload.down(parts[1]))
                body = f"probe_success {ok}\n".encode()
                return self.reply(200, body, "text/plain; version=0.0.4")

            def reply(self, code, body, ctype="text/plain"):
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        return ThreadingHTTPServer(("127.0.0.1", port), Handler)


def main(argv=None) -> None:
    from lukhas_obs.spec import load_spec

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--spec", default="specs/lukhas.yaml")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--rps", type=float, default=20.0)
    ap.add_argument("--mode", default="healthy", choices=MODES)
    args = ap.parse_args(argv)
    w = Workload(load_spec(args.spec), rps=args.rps)
    w.set_mode(args.mode)
    server = w.serve(args.port)
    print(f"listening on http://127.0.0.1:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
