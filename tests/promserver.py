"""Start a real Prometheus (or Alertmanager) on 127.0.0.1 for a test, and stop it by pid."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.parse
import urllib.request
from pathlib import Path

import yaml

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
    """Copy generated/prometheus to `dest` and point every scrape job at a local workload that
    serves /metrics/<job> and probes /health/<service> (its /probe stands in for the blackbox
    exporter); the `prometheus` job scrapes the test's Prometheus itself on `prom_port`."""
    shutil.copytree(generated / "prometheus", dest)
    cfg = yaml.safe_load((dest / "prometheus.yml").read_text())
    jobs = []
    for job in cfg["scrape_configs"]:
        if job["job_name"] == "blackbox-health":
            for sc in job["static_configs"]:
                sc["targets"] = [f"http://{exporter}/health/{sc['labels']['service']}"]
            job["relabel_configs"][-1]["replacement"] = exporter
            job["scrape_interval"] = "1s"
            job["scrape_timeout"] = "1s"
            jobs.append(job)
            continue
        if job["job_name"] == "prometheus" and prom_port:
            job["static_configs"] = [{"targets": [f"127.0.0.1:{prom_port}"]}]
        else:
            job["static_configs"] = [{"targets": [exporter]}]
            job["metrics_path"] = f"/metrics/{job['job_name']}"
        job["scrape_interval"] = "1s"
        job["scrape_timeout"] = "1s"
        jobs.append(job)
    cfg["scrape_configs"] = jobs
    # every group evaluates every second, so a short test exercises the slow (5m) groups too;
    # the rules themselves are unchanged
    for rule_file in (dest / "rules").glob("*.rules.yml"):
        rules = yaml.safe_load(rule_file.read_text())
        for group in rules["groups"]:
            group["interval"] = "1s"
        rule_file.write_text(yaml.safe_dump(rules, sort_keys=False))
    cfg["global"]["evaluation_interval"] = "1s"
    cfg.pop("alerting", None)
    (dest / "prometheus.yml").write_text(yaml.safe_dump(cfg, sort_keys=False))
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
