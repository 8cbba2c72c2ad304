"""Helpers shared by the benchmarks: medians of repeated runs, and synthetic specs."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import time
import urllib.request

import yaml


def median_seconds(fn, repeat: int = 5) -> float:
    return median_times(fn, repeat)[0]


def median_times(fn, repeat: int = 5) -> tuple[float, float]:
    """Median wall seconds and median CPU seconds of `fn()`: this process's, plus the children's
    it waited for (a pool's workers). On a shared machine the wall time grows with others' load;
    the CPU time much less, so the two together say how loaded a run was."""
    walls, cpus = [], []
    for _ in range(repeat):
        c, t = _cpu(), time.perf_counter()
        fn()
        walls.append(time.perf_counter() - t)
        cpus.append(_cpu() - c)
    return statistics.median(walls), statistics.median(cpus)


def _cpu() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def synthetic_spec(services: int) -> str:
    """A spec with `services` application services, each with an availability and a latency SLO
    and a scrape target, sharing one metric catalogue and four severities."""
    base = yaml.safe_load(open("specs/lukhas.yaml").read())
    base.pop("alerts", None)
    for key in ("gates", "logs", "kubernetes", "ruler", "dashboards"):
        base.pop(key, None)
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


def synthetic_team_folder(folder, teams: int, services_per_team: int) -> None:
    """`teams` team files plus one shared file, as `lukhas-obs generate FOLDER` reads them."""
    from pathlib import Path

    whole = yaml.safe_load(synthetic_spec(teams * services_per_team))
    services = whole.pop("services")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "shared.yaml").write_text(yaml.safe_dump(whole, sort_keys=False))
    for t in range(teams):
        chunk = services[t * services_per_team:(t + 1) * services_per_team]
        (folder / f"team-{t:02d}.yaml").write_text(yaml.safe_dump(
            {"apiVersion": whole["apiVersion"], "team": f"team-{t:02d}", "services": chunk}, sort_keys=False))


def start_prometheus(config_file, data_dir) -> tuple[subprocess.Popen, str]:
    """A Prometheus on a free loopback port over `data_dir` (long retention, for backfilled
    history), ready to answer queries. The caller stops it (terminate, wait)."""
    from lukhas_obs.demo import free_port

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(["prometheus", f"--config.file={config_file}", f"--storage.tsdb.path={data_dir}",
                             f"--web.listen-address=127.0.0.1:{port}", "--storage.tsdb.retention.time=100y"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(150):
        try:
            with urllib.request.urlopen(url + "/api/v1/query?query=vector(1)", timeout=2) as r:
                if json.loads(r.read())["status"] == "success":
                    return proc, url
        except OSError:
            time.sleep(0.2)
    proc.terminate()
    raise RuntimeError("Prometheus did not become ready")


def history_prometheus(prefix: str):
    """A Prometheus over the gate tests' backfilled history (tests/gatedata.py, every scenario in
    its own day): (work folder, process, URL). The caller stops the process and removes the folder."""
    import tempfile
    from pathlib import Path

    import gatedata

    work = Path(tempfile.mkdtemp(prefix=prefix))
    (work / "om.txt").write_text(gatedata.openmetrics())
    subprocess.run(["promtool", "tsdb", "create-blocks-from", "openmetrics", str(work / "om.txt"), str(work / "data")],
                   check=True, capture_output=True)
    (work / "prometheus.yml").write_text("global: {scrape_interval: 1m}\n")
    proc, url = start_prometheus(work / "prometheus.yml", work / "data")
    return work, proc, url
