"""Logs and the compose stack: every LogQL parses with Grafana's grammar, the compose file passes
the Compose schema and the security defaults, and the configurations it mounts start for real."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from lukhas_obs import promql

from conftest import ROOT, Process, free_port, tool, wait_until

LOGQL = ROOT / "tests" / "logql"


def compose_file(generated: Path) -> Path:
    return generated.parent / "deployment" / "docker-compose.observability.yml"


def logql_expressions(generated: Path) -> list[str]:
    exprs = []
    for f in (generated / "loki" / "rules").rglob("*.yml"):
        exprs += [r["expr"] for g in yaml.safe_load(f.read_text())["groups"] for r in g["rules"]]
    for f in (generated / "grafana" / "dashboards").glob("*.json"):
        for panel in json.loads(f.read_text())["panels"]:
            exprs += [t["expr"] for t in panel.get("targets", []) if t["datasource"]["type"] == "loki"]
    return exprs


@pytest.fixture(scope="module")
def logql_parser():
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        pytest.skip("node/npm are not installed: Grafana's LogQL grammar runs under node")
    if not (LOGQL / "node_modules" / "@grafana" / "lezer-logql").exists():
        r = subprocess.run([npm, "install", "--no-audit", "--no-fund", "--silent"], cwd=LOGQL,
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr

    def parse(exprs: list[str]) -> list[dict]:
        r = subprocess.run([node, "check.cjs"], cwd=LOGQL, input=json.dumps(exprs), capture_output=True,
                           text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)
    return parse


def test_every_logql_expression_parses_with_grafanas_grammar(generated_lukhas, logql_parser):
    exprs = logql_expressions(generated_lukhas)
    assert len(exprs) >= 7  # 4 runbook queries on dashboards, 1 record, 2 alerts
    bad = [r for r in logql_parser(exprs) if r["errors"]]
    assert not bad, bad


def test_the_grammar_check_can_fail(logql_parser):
    results = logql_parser(['{job="lukhas-core" |= "x"', 'rate({job="a"}[5m]', '{job="a"} |= "ok"'])
    assert [bool(r["errors"]) for r in results] == [True, True, False]


def test_log_alerts_route_like_prometheus_alerts(generated_lukhas):
    rules = yaml.safe_load((generated_lukhas / "loki/rules/fake/lukhas.rules.yml").read_text())["groups"][0]["rules"]
    alerts = [r for r in rules if "alert" in r]
    assert {a["alert"] for a in alerts} == {"LUKHASErrorLogBurst", "LUKHASAuthFailureBurst"}
    for a in alerts:
        assert set(a["labels"]) == {"severity", "priority", "service"}
        assert {"summary", "runbook_url", "dashboard_url"} <= set(a["annotations"])
    r = subprocess.run([tool("amtool"), "config", "routes", "test",
                        f"--config.file={generated_lukhas / 'alertmanager/alertmanager.yml'}",
                        "--verify.receivers=oncall", "priority=P2", "service=lukhas-identity"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout


def test_promtail_labels_streams_with_the_service_name_as_job(generated_lukhas):
    cfg = yaml.safe_load((generated_lukhas / "promtail/promtail.yml").read_text())
    relabel = cfg["scrape_configs"][0]["relabel_configs"]
    job = next(r for r in relabel if r.get("target_label") == "job")
    assert job["source_labels"] == ["__meta_docker_container_name"] and job["regex"] == "/(.*)"
    loki = yaml.safe_load((generated_lukhas / "loki/loki.yml").read_text())
    assert loki["limits_config"]["retention_period"] == "30d" and loki["compactor"]["retention_enabled"]


def test_queries_page_holds_the_four_runbook_queries(generated_lukhas):
    page = (generated_lukhas / "loki/queries.md").read_text()
    for needle in ('|= "error" | json', '|= "auth_failure"', "duration > 1s", '|= "openai" |= "error"'):
        assert needle in page


def test_compose_validates_against_the_compose_schema(generated_lukhas):
    exe = Path(sys.executable).parent / "check-jsonschema"
    r = subprocess.run([str(exe), "--builtin-schema", "vendor.compose-spec", str(compose_file(generated_lukhas))],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr


def test_compose_validates_with_docker_compose_where_installed(generated_lukhas):
    exe = shutil.which("docker-compose")
    if not exe:
        pytest.skip("Debian's docker-compose is not installed (the Compose schema test runs regardless)")
    env = {"GRAFANA_PASSWORD": "x", "REDIS_PASSWORD": "x", "PATH": "/usr/bin:/bin"}
    r = subprocess.run([exe, "-f", str(compose_file(generated_lukhas)), "config", "-q"], capture_output=True,
                       text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr


def test_compose_is_secure_by_default(generated_lukhas):
    path = compose_file(generated_lukhas)
    text = path.read_text()
    doc = yaml.safe_load(text)
    admin = {"prometheus": 9090, "alertmanager": 9093, "grafana": 3000, "jaeger": 16686}
    for name, svc in doc["services"].items():
        image = svc["image"]
        assert ":" in image.split("/")[-1] and not image.endswith(":latest"), f"{name}: {image} is not pinned"
        assert "healthcheck" in svc, name
        for port in svc.get("ports", []):
            assert port.startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"
        for dep in (svc.get("depends_on") or {}).values():
            assert dep == {"condition": "service_healthy"}
        for vol in svc.get("volumes", []):
            src, dst, *mode = vol.split(":")
            if src.startswith("../generated/"):
                assert mode == ["ro"], f"{name}: {vol} is not read-only"
                assert (path.parent / src).exists(), f"{name} mounts {src}, which generate does not write"
    for name, port in admin.items():
        assert doc["services"][name]["ports"] == [f"127.0.0.1:{port}:{port}"]
    grafana = doc["services"]["grafana"]["environment"]
    assert grafana["GF_SECURITY_ADMIN_PASSWORD"].startswith("${GRAFANA_PASSWORD:?")
    assert grafana["GF_AUTH_ANONYMOUS_ENABLED"] == "false"
    for key, value in (k_v for svc in doc["services"].values() for k_v in (svc.get("environment") or {}).items()):
        if any(word in key for word in ("PASSWORD", "TOKEN", "SECRET", "KEY")):
            assert value.startswith("${") or key.endswith("_FILE"), f"{key} holds a literal value"
    # the runbook's start order: prometheus after the exporters, grafana after prometheus, loki, promtail
    order = {"prometheus": "alertmanager", "grafana": "prometheus", "loki": "grafana", "promtail": "loki"}
    for svc, before in order.items():
        assert before in doc["services"][svc]["depends_on"]


def _loopback(host: str) -> bool:
    import ipaddress

    host = host.lower().rstrip(".")
    if host in ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback") or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


def _probes(prometheus_yml: dict) -> list[tuple[str, str]]:
    job = next(j for j in prometheus_yml["scrape_configs"] if j["job_name"] == "blackbox-health")
    return [(sc["labels"]["service"], t) for sc in job["static_configs"] for t in sc["targets"]]


def test_blackbox_probes_reach_services_by_their_network_name(generated_lukhas):
    """The blackbox exporter runs in its own container: `localhost` there is the exporter itself,
    so a loopback probe target fails on every deploy (issue 13). Every target names the service's
    host on the stack's network, and a service of the compose stack by its compose service name."""
    from urllib.parse import urlsplit

    probes = _probes(yaml.safe_load((generated_lukhas / "prometheus/prometheus.yml").read_text()))
    stack = yaml.safe_load(compose_file(generated_lukhas).read_text())["services"]
    assert len(probes) >= 9
    for service, url in probes:
        host = urlsplit(url).hostname or ""
        assert not _loopback(host), f"{service}: the blackbox exporter would probe itself at {url}"
        if service in stack:
            assert host == service, f"{service}: {url} is not the compose service's name on the network"
    assert ("prometheus", "http://prometheus:9090/-/healthy") in probes


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "127.0.1.1", "0.0.0.0", "LOCALHOST",
                                  "localhost.localdomain", "ip6-localhost"])
def test_a_loopback_host_is_scraped_as_written_but_probed_by_service_name(host):
    """`host: localhost` is right for Prometheus scraping itself inside its own container, never
    for a probe sent from the blackbox exporter's: the probe goes to the service's name."""
    from lukhas_obs.generate.scrape import prometheus_config
    from lukhas_obs.spec.loader import load_spec_text

    text = (ROOT / "specs" / "lukhas.yaml").read_text()
    assert "    host: localhost\n" in text
    spec = load_spec_text(text.replace("    host: localhost\n", f"    host: {host}\n"), "lukhas.yaml")
    cfg = prometheus_config(spec)
    probes = dict(_probes(cfg))
    assert probes["prometheus"] == "http://prometheus:9090/-/healthy"
    assert not any(_loopback(url.split("/")[2].rsplit(":", 1)[0]) for url in probes.values())
    scrape = next(j for j in cfg["scrape_configs"] if j["job_name"] == "prometheus")
    assert scrape["static_configs"] == [{"targets": [f"{host}:9090"]}]


def test_generated_configs_start_as_the_stack_mounts_them(tmp_path, generated_lukhas):
    """Prometheus and Alertmanager run with the very files compose mounts (only the listen
    addresses differ: loopback and free ports)."""
    prom_port, am_port = free_port(), free_port()
    prom = Process([tool("prometheus"), f"--config.file={generated_lukhas / 'prometheus/prometheus.yml'}",
                    f"--storage.tsdb.path={tmp_path / 'prom'}", f"--web.listen-address=127.0.0.1:{prom_port}"],
                   tmp_path / "prom.log")
    am_bin = shutil.which("prometheus-alertmanager") or tool("alertmanager")
    am = Process([am_bin, f"--config.file={generated_lukhas / 'alertmanager/alertmanager.yml'}",
                  f"--storage.path={tmp_path / 'am'}", f"--web.listen-address=127.0.0.1:{am_port}",
                  "--cluster.listen-address="], tmp_path / "am.log")
    try:
        import urllib.request

        def ok(url):
            with urllib.request.urlopen(url, timeout=2) as r:
                return r.status == 200

        wait_until(lambda: ok(f"http://127.0.0.1:{prom_port}/-/ready"), timeout=30, what="Prometheus ready")
        wait_until(lambda: ok(f"http://127.0.0.1:{am_port}/-/ready"), timeout=30, what="Alertmanager ready")
        with urllib.request.urlopen(f"http://127.0.0.1:{prom_port}/api/v1/rules", timeout=5) as r:
            groups = json.loads(r.read())["data"]["groups"]
        assert len(groups) >= 9
        with urllib.request.urlopen(f"http://127.0.0.1:{am_port}/api/v2/status", timeout=5) as r:
            status = json.loads(r.read())
        assert "pagerduty" in status["config"]["original"]
        assert prom.proc.poll() is None and am.proc.poll() is None
    finally:
        prom.stop()
        am.stop()


def test_log_alert_expressions_are_not_promql():
    """A cross-check that LogQL did not leak into the Prometheus rules (and vice versa)."""
    with pytest.raises(promql.PromQLError):
        promql.parse('sum(rate({job="a"} |= "error" [5m]))')
