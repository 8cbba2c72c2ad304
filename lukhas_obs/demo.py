"""`lukhas-obs demo`: the whole loop on one machine. The generated configuration is loaded by a
real Prometheus and Alertmanager (Debian's binaries) on free loopback ports, scraping the
synthetic LUKHAS workload; the story of runbook 3.1-3.3 is played: the smoke gate passes on
healthy traffic, a bad canary is caught and the gate says roll back, an outage pages through
Alertmanager. Every process it starts is stopped, and its working folder removed, at the end or
on Ctrl-C.

To fit in a minute, the demo generates from the spec with its timers divided by 15 (`fast_timers`:
1 s scrapes, 2 s evaluations, `for: 1m` is 4 s) and its targets on this machine (`on_loopback`):
the generated files are used as generated. Same rules, same routes, same gate."""

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
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from lukhas_obs import model as m
from lukhas_obs.durations import format_duration, parse_duration
from lukhas_obs.generate import render
from lukhas_obs.generate.writer import write_tree
from lukhas_obs.model import Alert, Receiver, Service, Spec


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


# The demo and the tests' live stacks run the spec with every timer divided by this: 15 s scrapes
# become 1 s, 30 s evaluations 2 s, the SLOs' 5-minute `-long` groups 20 s, `for: 1m` 4 s.
FAST = 15


def fast_timers(spec: Spec, factor: float = FAST) -> Spec:
    """The spec with every timer that sets how soon something is seen divided by `factor` (whole
    seconds, at least 1 s): Prometheus' scrape interval and timeout, its evaluation intervals
    (also the SLO groups' and their `-long` groups'), every alert's `for:` (Prometheus' and
    Loki's, and the SLO absent alerts' slo_absent_for), and per severity Alertmanager's
    group_wait, group_interval and repeat_interval (and its resolve_timeout). Everything else is
    the spec's: the same rules with the same PromQL and range windows (5m, 1h, 30d: what is
    measured, not how often), the same routes and receivers. Dividing them all by one factor
    keeps their proportions: an alert still needs as many evaluations and scrapes to fire as in
    production, a `-long` group still runs 10 times less often than its SLO group. Not scaled:
    the gate's settings (its windows are queries, not timers; the demo passes its own --window)."""
    def faster(duration: str) -> str:
        return format_duration(max(1, round(parse_duration(duration) / factor)))

    p = spec.prometheus
    interval = faster(p.scrape_interval)
    prometheus = replace(p, scrape_interval=interval,
                         scrape_timeout=format_duration(min(parse_duration(faster(p.scrape_timeout)),
                                                            parse_duration(interval))),
                         evaluation_interval=faster(p.evaluation_interval),
                         slo_evaluation_interval=faster(p.slo_evaluation_interval),
                         slo_long_evaluation_interval=faster(p.slo_long_evaluation_interval),
                         slo_absent_for=faster(p.slo_absent_for))
    severities = tuple(replace(s, group_wait=faster(s.group_wait), group_interval=faster(s.group_interval),
                               repeat_interval=faster(s.repeat_interval)) for s in spec.severities)

    def alerts(rules: tuple[Alert, ...]) -> tuple[Alert, ...]:
        return tuple(replace(a, for_=faster(a.for_)) if a.for_ else a for a in rules)

    return replace(spec, prometheus=prometheus, severities=severities, alerts=alerts(spec.alerts),
                   alertmanager=replace(spec.alertmanager, resolve_timeout=faster(spec.alertmanager.resolve_timeout)),
                   logs=replace(spec.logs, alerts=alerts(spec.logs.alerts)))


def on_loopback(spec: Spec, workload: str, alertmanager: str, prometheus: str | None = None,
                webhook: str | None = None) -> Spec:
    """The spec pointed at processes on this machine. Every scraped service (and exporter) is the
    synthetic workload at `workload` (host:port), which serves each one's metrics at
    /metrics/<service> and its health at /health/<service>; the blackbox exporter is the
    workload's /probe stand-in. `prometheus` (host:port): where the `prometheus` job scrapes
    Prometheus itself (else the workload plays it too). `alertmanager` (host:port): where
    Prometheus and Loki send alerts. `webhook` (a URL): every receiver posts Alertmanager's webhook JSON to
    <webhook>/<receiver> instead of paging anyone. Routes, rules and names are unchanged."""
    host, port = workload.rsplit(":", 1)

    def local(svc: Service) -> Service:
        path = f"/metrics/{svc.name}"
        if svc.name == "prometheus" and prometheus:
            own_host, own_port = prometheus.rsplit(":", 1)
            out = replace(svc, host=own_host, port=int(own_port), metrics_port=None, metrics_path="/metrics")
        elif svc.exporter:
            out = replace(svc, exporter=replace(svc.exporter, host=host, port=int(port), metrics_path=path))
        else:
            out = replace(svc, host=host, port=int(port), metrics_port=None, metrics_path=path)
        return replace(out, health=f"/health/{svc.name}") if svc.health else out

    receivers = spec.receivers if webhook is None else tuple(
        Receiver(r.name, m.Webhook(url=f"{webhook}/{r.name}")) for r in spec.receivers)
    return replace(spec, services=tuple(local(s) for s in spec.services), receivers=receivers,
                   prometheus=replace(spec.prometheus, blackbox_exporter=workload,
                                      alertmanagers=(alertmanager,)))


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
        prom_port, am_port = free_port(), free_port()
        local = on_loopback(fast_timers(spec), address, f"127.0.0.1:{am_port}", prometheus=f"127.0.0.1:{prom_port}",
                            webhook=hook.start())
        write_tree(render(local), work / "generated")
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
