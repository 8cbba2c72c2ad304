"""Start a real Prometheus (or Alertmanager) on 127.0.0.1 for a test, and stop it by pid."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from conftest import ROOT, SPEC, Process, free_port, tool, wait_until


class Prometheus:
    def __init__(self, config_dir: Path, data_dir: Path, extra: list[str] | None = None, port: int | None = None):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        data_dir.mkdir(parents=True, exist_ok=True)
        self.proc = Process([
            tool("prometheus"), f"--config.file={config_dir / 'prometheus.yml'}",
            f"--storage.tsdb.path={data_dir}", f"--web.listen-address=127.0.0.1:{self.port}",
            "--storage.tsdb.retention.time=100y", "--web.enable-lifecycle", *(extra or []),
        ], data_dir.parent / f"prometheus-{self.port}.log", cwd=config_dir)
        try:
            wait_until(lambda: self.get("/-/ready", raw=True), timeout=30, what="Prometheus ready")
        except AssertionError:
            self.stop()
            raise

    def get(self, path: str, raw: bool = False, **params):
        url = self.url + path + ("?" + urllib.parse.urlencode(params) if params else "")
        with urllib.request.urlopen(url, timeout=10) as resp:
            body = resp.read()
        return body if raw else json.loads(body)

    def query(self, expr: str, time: float | None = None) -> list:
        params = {"query": expr}
        if time is not None:
            params["time"] = str(time)
        out = self.get("/api/v1/query", **params)
        assert out["status"] == "success", out
        return out["data"]["result"]

    def stop(self) -> None:
        self.proc.stop()


# fast_timers' factor that puts every timer of the LUKHAS spec at its 1 s floor (10m `for:` at 2 s):
# scrapes, evaluations and the SLOs' `-long` groups every second
AT_THE_FLOOR = 300


# promtool cuts backfilled history into 2h blocks unless told otherwise (a hidden flag of
# `create-blocks-from`): 30 days of an SLO's records would be 360 blocks, some 80 s of fsyncs
# to write and as many directories to open; at most 31 days a block (Prometheus' own largest
# compaction), the same samples are a handful of blocks. Queries read the same values either way.
MAX_BLOCK = "--max-block-duration=744h"


def create_blocks(openmetrics_file: Path, dest: Path, timeout: float = 120) -> None:
    """promtool's TSDB blocks of an OpenMetrics file."""
    r = subprocess.run([tool("promtool"), "tsdb", "create-blocks-from", "openmetrics", MAX_BLOCK, "-q",
                        str(openmetrics_file), str(dest)], capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, r.stderr


def backfilled(folder: Path, openmetrics: str) -> Prometheus:
    """A Prometheus over `openmetrics` (text ending in `# EOF`), backfilled into `folder`/d with
    promtool; queries with `time=` inside it return exact values. Stop it."""
    data = folder / "om.txt"
    data.write_text(openmetrics)
    create_blocks(data, folder / "d")
    (folder / "prometheus.yml").write_text("global: {scrape_interval: 1m}\n")
    return Prometheus(folder, folder / "d")


def local_config(dest: Path, exporter: str, prom_port: int | None = None) -> Path:
    """The LUKHAS spec's Prometheus configuration, generated into `dest` from the spec with fast
    timers pointed at the local workload (lukhas_obs.demo.fast_timers and on_loopback, as the demo
    runs it), used as generated. These tests want data, not timing: every timer at its floor."""
    from lukhas_obs.demo import fast_timers, on_loopback
    from lukhas_obs.generate import render
    from lukhas_obs.generate.writer import write_tree
    from lukhas_obs.spec import load_spec

    # no Alertmanager: alerts go to a free loopback port, where nothing listens
    local = on_loopback(fast_timers(load_spec(SPEC), AT_THE_FLOOR), exporter, f"127.0.0.1:{free_port()}",
                        prometheus=f"127.0.0.1:{prom_port}" if prom_port else None)
    files = render(local)
    write_tree({path.removeprefix("prometheus/"): text for path, text in files.items()
                if path.startswith("prometheus/")}, dest)
    return dest


def once_per_run(tmp_path_factory, name: str, build) -> Path:
    """A folder `build(folder)` fills once per test run, shared by every xdist worker: the first
    to ask builds it under a lock, the others wait for it and read it (never write into it)."""
    base = tmp_path_factory.getbasetemp()
    root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base  # the run's, not the user's
    folder, done = root / f"shared-{name}", root / f"shared-{name}.done"
    with open(root / f"shared-{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            build(folder)
            done.touch()
    return folder


def gate_history(tmp_path_factory) -> Path:
    """Every scenario of gatedata, each in its own day: `om.txt` (OpenMetrics) and `blocks`
    (promtool's TSDB blocks of it), built once per run (some 30 s of CPU)."""
    import gatedata

    def build(folder: Path) -> None:
        (folder / "om.txt").write_text(gatedata.openmetrics())
        create_blocks(folder / "om.txt", folder / "blocks", timeout=600)

    return once_per_run(tmp_path_factory, "gate-history", build)


def history_prometheus(tmp_path_factory, name: str) -> Prometheus:
    """A real Prometheus of its own (a copy of the blocks: Prometheus locks its data folder)
    serving gate_history; the caller stops it."""
    root = tmp_path_factory.mktemp(name)
    shutil.copytree(gate_history(tmp_path_factory) / "blocks", root / "data")
    (root / "cfg").mkdir()
    (root / "cfg" / "prometheus.yml").write_text("global: {scrape_interval: 1m}\n")
    return Prometheus(root / "cfg", root / "data")


def start_workload(spec: Path, log: Path, mode: str = "healthy", rps: float = 50):
    import sys

    port = free_port()
    # from the checkout's root, where lukhas_obs_demo (not installed with the product) is importable
    proc = Process([sys.executable, "-m", "lukhas_obs_demo.workload", "--spec", str(spec), "--port", str(port),
                    "--rps", str(rps), "--mode", mode], log, cwd=ROOT)
    try:
        wait_until(lambda: urllib.request.urlopen(f"http://127.0.0.1:{port}/health/x", timeout=2).status == 200,
                   timeout=20, what="workload listening")
    except AssertionError:
        proc.stop()
        raise
    return proc, f"127.0.0.1:{port}"


class VictoriaMetrics:
    """A single-node VictoriaMetrics on 127.0.0.1 holding the same history as the Prometheus
    tests (imported through its Prometheus text import), stopped by pid."""

    def __init__(self, root: Path, openmetrics: str | None = None):
        exe = shutil.which("victoria-metrics")
        if not exe:
            pytest.skip("victoria-metrics is not installed (make test installs it as root)")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # Prometheus looks back 5 minutes for an instant query; VictoriaMetrics derives its own
        # staleness from the sample interval unless told: same history, same semantics.
        self.proc = Process([exe, f"-storageDataPath={root / 'vm'}", f"-httpListenAddr=127.0.0.1:{self.port}",
                             "-retentionPeriod=100y", "-search.latencyOffset=0s",
                             "-search.maxStalenessInterval=5m", "-search.disableCache"], root / "vm.log")
        try:
            wait_until(lambda: urllib.request.urlopen(self.url + "/health", timeout=2).status == 200, timeout=30,
                       what="VictoriaMetrics up")
        except AssertionError:
            self.proc.stop()
            raise
        if openmetrics:
            self.load(openmetrics)

    def load(self, openmetrics: str) -> None:
        lines = []
        for line in openmetrics.splitlines():
            if not line or line.startswith("#"):
                continue
            series, value, ts = line.rsplit(" ", 2)
            lines.append(f"{series} {value} {int(ts) * 1000}")
        body = ("\n".join(lines) + "\n").encode()
        req = urllib.request.Request(self.url + "/api/v1/import/prometheus", data=body, method="POST")
        with urllib.request.urlopen(req, timeout=120) as resp:
            assert resp.status in (200, 204)
        with urllib.request.urlopen(self.url + "/internal/force_flush", timeout=30) as resp:
            assert resp.status == 200  # imported samples are searchable from here on

    def query(self, expr: str) -> list:
        with urllib.request.urlopen(self.url + "/api/v1/query?" + urllib.parse.urlencode({"query": expr}),
                                    timeout=10) as r:
            return json.loads(r.read())["data"]["result"]

    def stop(self):
        self.proc.stop()
