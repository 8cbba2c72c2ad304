"""Start a real Prometheus (or Alertmanager) on 127.0.0.1 for a test, and stop it by pid."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.parse
import urllib.request
from pathlib import Path

from conftest import Process, free_port, tool, wait_until


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


def local_config(generated: Path, dest: Path, exporter: str, prom_port: int | None = None) -> Path:
    """Copy generated/prometheus to `dest`, pointed at the local workload (see lukhas_obs.demo)."""
    from lukhas_obs.demo import localize_prometheus

    shutil.copytree(generated / "prometheus", dest)
    localize_prometheus(dest, exporter, prom_port)
    return dest


def start_workload(spec: Path, log: Path, mode: str = "healthy", rps: float = 50):
    import sys

    port = free_port()
    proc = Process([sys.executable, "-m", "lukhas_obs.workload", "--spec", str(spec), "--port", str(port),
                    "--rps", str(rps), "--mode", mode], log)
    try:
        wait_until(lambda: urllib.request.urlopen(f"http://127.0.0.1:{port}/health/x", timeout=2).status == 200,
                   timeout=20, what="workload listening")
    except AssertionError:
        proc.stop()
        raise
    return proc, f"127.0.0.1:{port}"
