"""`lukhas-obs demo`: the whole loop on one machine. The generated configuration is loaded by a
real Prometheus and Alertmanager (Debian's binaries) on free loopback ports, scraping the
synthetic LUKHAS workload; the story of runbook 3.1-3.3 is played: the smoke gate passes on
healthy traffic, a bad canary is caught and the gate says roll back, an outage pages through
Alertmanager. Every process it starts is stopped, and its working folder removed, at the end or
on Ctrl-C.

To fit in a minute, the demo copy of the rules evaluates every second and `for:` durations are cut
to 5 s; scrapes run every second. Nothing else is changed: same rules, same routes, same gate."""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import yaml

from lukhas_obs.conventions import BLACKBOX_JOB
from lukhas_obs.durations import parse_duration
from lukhas_obs.generate import render
from lukhas_obs.generate.writer import write_tree
from lukhas_obs.generate.yamlout import dump
from lukhas_obs.model import Spec

FOR_IN_DEMO = "5s"


class DemoError(Exception):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def binary(*names: str) -> str:
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    raise DemoError(f"{names[0]} is not installed: run `make demo` as root (it installs Debian's prometheus and "
                    "prometheus-alertmanager), or `apt-get install prometheus prometheus-alertmanager`")


def localize_prometheus(prom_dir: Path, workload: str, prom_port: int | None = None,
                        alertmanager: str | None = None, fast_for: str | None = None) -> None:
    """Point a copy of generated/prometheus at local processes: every job scrapes the workload's
    /metrics/<job> every second, the blackbox job probes the workload's /health/<service> through
    its /probe stand-in, `prometheus` scrapes itself, every rule group evaluates every second."""
    cfg = yaml.safe_load((prom_dir / "prometheus.yml").read_text())
    for job in cfg["scrape_configs"]:
        job["scrape_interval"] = job["scrape_timeout"] = "1s"
        if job["job_name"] == BLACKBOX_JOB:
            for sc in job["static_configs"]:
                sc["targets"] = [f"http://{workload}/health/{sc['labels']['service']}"]
            job["relabel_configs"][-1]["replacement"] = workload
        elif job["job_name"] == "prometheus" and prom_port:
            job["static_configs"] = [{"targets": [f"127.0.0.1:{prom_port}"]}]
        else:
            job["static_configs"] = [{"targets": [workload]}]
            job["metrics_path"] = f"/metrics/{job['job_name']}"
    cfg["global"]["evaluation_interval"] = "1s"
    if alertmanager:
        cfg["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]}
    else:
        cfg.pop("alerting", None)
    (prom_dir / "prometheus.yml").write_text(dump(cfg))
    for rule_file in (prom_dir / "rules").glob("*.rules.yml"):
        rules = yaml.safe_load(rule_file.read_text())
        for group in rules["groups"]:
            group["interval"] = "1s"
            for rule in group["rules"]:
                if fast_for and "for" in rule:
                    rule["for"] = fast_for
        rule_file.write_text(dump(rules))


def localize_alertmanager(am_file: Path, webhook: str) -> None:
    """Keep the route tree; every receiver posts to the demo's local webhook instead."""
    cfg = yaml.safe_load(am_file.read_text())
    cfg["receivers"] = [{"name": r["name"], "webhook_configs": [{"url": f"{webhook}/{r['name']}",
                                                                   "send_resolved": False}]}
                        for r in cfg["receivers"]]
    am_file.write_text(dump(cfg))


@dataclass
class Webhook:
    """Records what Alertmanager would have sent, per receiver."""

    received: list[tuple[str, dict]] = field(default_factory=list)

    def start(self) -> str:
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                hook.received.append((self.path.strip("/"), body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Procs:
    def __init__(self, work: Path):
        self.work = work
        self.procs: list[subprocess.Popen] = []

    def start(self, name: str, args: list[str]) -> subprocess.Popen:
        log = open(self.work / f"{name}.log", "wb")
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=self.work)
        self.procs.append(proc)
        return proc

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
        for proc in reversed(self.procs):
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def _get(url: str):
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.loads(r.read())


def _wait(check, timeout: float, what: str, interval: float = 1.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except (OSError, ValueError):
            pass
        time.sleep(interval)
    raise DemoError(f"timed out after {timeout:.0f}s waiting for {what}")


def _interrupt(*_):
    """SIGTERM stops the demo the way Ctrl-C does, through the same cleanup."""
    raise KeyboardInterrupt


def run(spec: Spec, once: bool, echo=print, window: str = "20s", rps: float = 400.0,
        keep: bool = False) -> bool:
    from lukhas_obs.gate import run_gate
    from lukhas_obs.gate.client import PromClient
    from lukhas_obs.gate.decide import Outcome
    from lukhas_obs.gate.report import to_text
    from lukhas_obs_demo.workload import Workload

    prometheus_bin = binary("prometheus")
    alertmanager_bin = binary("prometheus-alertmanager", "alertmanager")
    work = Path(tempfile.mkdtemp(prefix="lukhas-obs-demo-"))
    procs = Procs(work)
    hook = Webhook()
    workload = Workload(spec, rps=rps)
    server = workload.serve(0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    address = f"127.0.0.1:{server.server_address[1]}"
    previous = signal.signal(signal.SIGTERM, _interrupt)
    steps: list[tuple[str, bool]] = []
    try:
        echo(f"working folder {work}")
        write_tree(render(spec), work / "generated")
        prom_port, am_port = free_port(), free_port()
        webhook = hook.start()
        localize_prometheus(work / "generated" / "prometheus", address, prom_port, f"127.0.0.1:{am_port}",
                            fast_for=FOR_IN_DEMO)
        localize_alertmanager(work / "generated" / "alertmanager" / "alertmanager.yml", webhook)
        procs.start("alertmanager", [alertmanager_bin,
                                     f"--config.file={work / 'generated/alertmanager/alertmanager.yml'}",
                                     f"--storage.path={work / 'am'}", f"--web.listen-address=127.0.0.1:{am_port}",
                                     "--cluster.listen-address="])
        procs.start("prometheus", [prometheus_bin, f"--config.file={work / 'generated/prometheus/prometheus.yml'}",
                                   f"--storage.tsdb.path={work / 'prom'}",
                                   f"--web.listen-address=127.0.0.1:{prom_port}"])
        prom = f"http://127.0.0.1:{prom_port}"
        echo(f"Prometheus   {prom}\nAlertmanager http://127.0.0.1:{am_port}\nworkload     http://{address}")

        def all_up():
            targets = _get(prom + "/api/v1/targets")["data"]["activeTargets"]
            return targets and all(t["health"] == "up" for t in targets)
        _wait(all_up, 60, "every scrape target up")
        settle = parse_duration(window) + 3
        echo(f"every target is up; letting {settle:.0f}s of traffic fill the gate's window...")
        time.sleep(settle)
        client = PromClient(prom, timeout=20)
        apps = [s.name for s in spec.services if s.kind == "application"]

        def gate(mode: str, want: Outcome, within: float) -> bool:
            report = None
            deadline = time.monotonic() + within
            while time.monotonic() < deadline:
                report = run_gate(spec, mode, client, window=window, services=apps)
                if report.outcome == want:
                    break
                time.sleep(2)
            assert report is not None, "within > 0, so the gate ran at least once"
            echo(to_text(report))
            return report.outcome == want

        echo("\n== 1. smoke gate on healthy traffic (runbook 3.1 phase 2): expect PASS")
        steps.append(("smoke passes on healthy traffic", gate("smoke", Outcome.PASS, 60)))

        echo("\n== 2. a bad canary: its error ratio jumps to 6 % (runbook 3.2): expect FAIL, roll back")
        workload.set_mode("canary-bad")
        time.sleep(settle / 2)
        steps.append(("canary with 6 % errors is rolled back", gate("canary", Outcome.FAIL, 60)))
        workload.set_mode("healthy")

        target = apps[0]
        echo(f"\n== 3. an outage: {target} stops answering: expect the P1 page through Alertmanager")
        workload.set_mode("outage", target)

        def paged():
            for receiver, body in hook.received:
                for alert in body.get("alerts", []):
                    if alert["labels"].get("priority") == "P1" and alert["labels"].get("service") == target:
                        return receiver, alert
            return None
        try:
            receiver, alert = _wait(paged, 90, f"a P1 notification for {target}")
            echo(f"Alertmanager sent {alert['labels']['alertname']} ({alert['labels']['severity']}, "
                 f"{alert['labels']['priority']}) to receiver '{receiver}': {alert['annotations'].get('summary')}")
            steps.append((f"{target} outage pages via {receiver}", receiver == "pagerduty"))
        except DemoError as exc:
            echo(str(exc))
            steps.append((f"{target} outage pages", False))
        firing = _get(prom + "/api/v1/alerts")["data"]["alerts"]
        echo("alerts in Prometheus now: " + (", ".join(sorted({f"{a['labels']['alertname']}[{a['state']}]"
                                                                 for a in firing})) or "none"))
        report = run_gate(spec, "rollback", client, window=window, services=apps)
        echo(to_text(report))

        echo("\n== story")
        for name, ok in steps:
            echo(f"{'ok  ' if ok else 'FAIL'} {name}")
        if not once:
            echo(f"\nOpen {prom}/alerts and http://127.0.0.1:{am_port}; Ctrl-C stops everything.")
            while True:
                time.sleep(3600)
    except KeyboardInterrupt:
        echo("\ninterrupted")
    finally:
        signal.signal(signal.SIGTERM, previous)
        procs.stop()
        server.shutdown()
        server.server_close()
        if hasattr(hook, "server"):
            hook.stop()
        if not keep:
            shutil.rmtree(work, ignore_errors=True)
        echo("stopped every process the demo started" + ("" if keep else f" and removed {work}"))
    return bool(steps) and all(ok for _, ok in steps)
