"""Logs and the compose stack: every LogQL parses with Grafana's grammar, the compose file passes
the Compose schema and the security defaults, and the configurations it mounts start for real."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

from lukhas_obs import promql
from lukhas_obs.spec import load_spec

from conftest import ROOT, SPEC, Process, free_port, tool, wait_until
from nodepkg import node_checker

LOGQL = ROOT / "tests" / "logql"
SPEC_TEXT = SPEC.read_text()
LUKHAS = load_spec(SPEC)


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
    return node_checker(LOGQL, "check.cjs", "@grafana/lezer-logql", "Grafana's LogQL grammar")


def test_every_logql_expression_parses_with_grafanas_grammar(generated_lukhas, logql_parser):
    exprs = logql_expressions(generated_lukhas)
    # the spec's log queries shown on a dashboard, and its log alerts
    want = [q.expr for q in LUKHAS.logs.queries if q.dashboard] + [a.condition.expr for a in LUKHAS.logs.alerts]
    assert sorted(exprs) == sorted(want) and len(want) == 6
    bad = [r for r in logql_parser(exprs) if r["errors"]]
    assert not bad, bad


STREAM_SELECTOR = re.compile(r'\{\s*((?:[A-Za-z_]\w*\s*(?:=~|!~|!=|=)\s*"(?:[^"\\]|\\.)*"\s*,?\s*)+)\}')
MATCHER = re.compile(r'([A-Za-z_]\w*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"')


def selects(selector: str, labels: dict[str, str]) -> bool:
    """Whether a LogQL stream selector selects a stream with these labels (regexes anchored, as
    in Loki; a label the stream lacks is the empty string)."""
    for name, op, raw in MATCHER.findall(selector):
        value, want = labels.get(name, ""), json.loads(f'"{raw}"')
        hit = {"=": value == want, "!=": value != want, "=~": re.fullmatch(want, value) is not None,
               "!~": re.fullmatch(want, value) is None}[op]
        if not hit:
            return False
    return True


def log_selectors(generated: Path) -> list[str]:
    page = (generated / "loki" / "queries.md").read_text()
    exprs = logql_expressions(generated) + re.findall(r"```logql\n(.*?)\n```", page, re.S)
    return [m.group(0) for e in exprs for m in STREAM_SELECTOR.finditer(e)]


def test_no_log_selector_matches_a_monitoring_container(generated_lukhas):
    """Promtail sets job = the container name, and the monitoring stack's containers are named
    lukhas-* too: the runbook's {job=~"lukhas-.+"} paged Prometheus' and Loki's own error lines as
    service="lukhas-prometheus" (issue 13). Every selector names application services only."""
    stack = yaml.safe_load(compose_file(generated_lukhas).read_text())["services"]
    monitoring = set(stack) | {svc["container_name"] for svc in stack.values()}
    assert {"lukhas-prometheus", "lukhas-loki", "lukhas-grafana", "prometheus"} <= monitoring
    selectors = log_selectors(generated_lukhas)
    # one stream selector in each expression of the dashboards and rules, and in each query of queries.md
    assert len(selectors) == len(logql_expressions(generated_lukhas)) + len(LUKHAS.logs.queries) == 10
    for selector in selectors:
        assert "job" in {name for name, _, _ in MATCHER.findall(selector)}, f"{selector} selects every container"
        wrong = sorted(n for n in monitoring if selects(selector, {"job": n}))
        assert not wrong, f"{selector} selects the monitoring containers {wrong}"
    burst = next(s for s in selectors if "lukhas-memory" in s)
    assert all(selects(burst, {"job": s}) for s in ("lukhas-core", "lukhas-identity", "lukhas-memory",
                                                       "lukhas-consciousness", "lukhas-governance"))


def test_the_selector_check_can_fail():
    assert selects('{job=~"lukhas-.+"}', {"job": "lukhas-prometheus"})
    assert not selects('{job=~"lukhas-core|lukhas-memory"}', {"job": "lukhas-prometheus"})
    assert not selects('{job="lukhas-core", level!="debug"}', {"job": "lukhas-core", "level": "debug"})
    assert STREAM_SELECTOR.findall('{job="a"} | line_format "{{.x}}"') == ['job="a"']


def test_loki_gets_no_recording_rule_it_would_discard(generated_lukhas):
    """The generated Loki ruler does not remote-write, so a recording rule would be evaluated and
    thrown away (issue 13): none is generated, and the spec refuses logs.records."""
    loki = yaml.safe_load((generated_lukhas / "loki/loki.yml").read_text())
    assert "remote_write" not in loki["ruler"]
    rules = [r for f in (generated_lukhas / "loki" / "rules").rglob("*.yml")
             for g in yaml.safe_load(f.read_text())["groups"] for r in g["rules"]]
    assert sorted(r.get("alert", r.get("record")) for r in rules) == sorted(a.name for a in LUKHAS.logs.alerts)
    assert all("alert" in r and "record" not in r for r in rules)
    prom = yaml.safe_load(compose_file(generated_lukhas).read_text())["services"]["prometheus"]["command"]
    assert "--web.enable-remote-write-receiver" not in prom


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


def _secrets_check(compose: dict, secrets: Path) -> subprocess.CompletedProcess:
    """Run the stack's secrets-check entrypoint as its image does: as the user the compose file
    names, with `$$` read as `$` (compose's interpolation) and the secrets folder at its mount
    point (a path prefix here, since this runs without a container)."""
    body = compose["services"]["secrets-check"]
    uid, gid = body["user"].split(":")
    mount = next(v.split(":")[1] for v in body["volumes"])
    shell, flag, script, *args = body["entrypoint"]
    args = [a.replace(mount, str(secrets), 1) for a in args]
    return subprocess.run(["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", shell, flag,
                           script.replace("$$", "$"), *args], capture_output=True, text=True, timeout=30)


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"), reason="needs root and setpriv to act as "
                    "the image's user")
def test_the_stack_refuses_to_start_without_a_readable_secret(generated_lukhas):
    compose = yaml.safe_load(compose_file(generated_lukhas).read_text())
    check = compose["services"]["secrets-check"]
    # everything that reads a secret waits for the check to succeed
    for name, body in compose["services"].items():
        if any("/secrets" in v or "/run/secrets/" in v for v in body.get("volumes", [])) and name != "secrets-check":
            assert body["depends_on"]["secrets-check"] == {"condition": "service_completed_successfully"}, name
    files = list(check["entrypoint"][4:])
    assert sorted(Path(f).name for f in files) == ["pagerduty_routing_key", "postgres_password", "redis_passwords.json",
                                                  "slack_alerts_url", "slack_oncall_url"]
    # pytest's tmp_path sits in a folder only root may enter; the image's user needs a path it can walk
    with tempfile.TemporaryDirectory(dir="/tmp") as folder:
        Path(folder).chmod(0o755)
        _refuses_without_a_readable_secret(compose, files, Path(folder) / "secrets")


def _refuses_without_a_readable_secret(compose: dict, files: list[str], secrets: Path) -> None:
    secrets.mkdir(mode=0o755)

    def write_all(mode: int = 0o644) -> None:
        for f in files:
            path = secrets / f.removeprefix("/secrets/")
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
            path.write_text("s3cret")
            path.chmod(mode)

    write_all()
    ok = _secrets_check(compose, secrets)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    (secrets / "alertmanager" / "pagerduty_routing_key").unlink()
    (secrets / "postgres_password").chmod(0o600)        # created under umask 077, owned by root
    (secrets / "redis_passwords.json").write_text("")
    bad = _secrets_check(compose, secrets)
    assert bad.returncode == 1
    # the three broken secrets, each said once; the readable ones not at all
    assert bad.stdout.splitlines() == [
        f"secrets-check: {secrets}/alertmanager/pagerduty_routing_key is missing (or its folder is not readable by"
        " uid 65534)",
        f"secrets-check: {secrets}/postgres_password is not readable by uid 65534 (chown it to that uid)",
        f"secrets-check: {secrets}/redis_passwords.json is empty"], bad.stdout


def test_compose_is_secure_by_default(generated_lukhas):
    path = compose_file(generated_lukhas)
    text = path.read_text()
    doc = yaml.safe_load(text)
    admin = {"prometheus": 9090, "alertmanager": 9093, "grafana": 3000, "jaeger": 16686}
    for name, svc in doc["services"].items():
        image = svc["image"]
        assert ":" in image.split("/")[-1] and not image.endswith(":latest"), f"{name}: {image} is not pinned"
        one_shot = svc["restart"] == "no"
        assert one_shot or "healthcheck" in svc, name
        for port in svc.get("ports", []):
            assert port.startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"
        for dep_name, dep in (svc.get("depends_on") or {}).items():
            ran = doc["services"][dep_name]["restart"] == "no"
            assert dep == {"condition": "service_completed_successfully" if ran else "service_healthy"}
        for vol in svc.get("volumes", []):
            src, dst, *mode = vol.split(":")
            if "secrets" in src:
                assert mode == ["ro"], f"{name}: {vol} is not read-only"
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
    assert len(probes) == len([s for s in LUKHAS.services if s.health_url]) == 10
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
        written = [g["name"] for f in sorted((generated_lukhas / "prometheus/rules").glob("*.rules.yml"))
                   for g in yaml.safe_load(f.read_text())["groups"]]
        assert len(written) == 1 + 2 * len(LUKHAS.slos)   # the alerts' group, each SLO's short and long group
        assert sorted(g["name"] for g in groups) == sorted(written)
        with urllib.request.urlopen(f"http://127.0.0.1:{am_port}/api/v2/status", timeout=5) as r:
            status = json.loads(r.read())
        loaded = yaml.safe_load(status["config"]["original"])
        am_written = yaml.safe_load((generated_lukhas / "alertmanager/alertmanager.yml").read_text())
        assert [x["name"] for x in loaded["receivers"]] == [x["name"] for x in am_written["receivers"]]
        assert "pagerduty" in [x["name"] for x in loaded["receivers"]]
        assert prom.proc.poll() is None and am.proc.poll() is None
    finally:
        prom.stop()
        am.stop()


RETENTION_WARNING = "repeat_interval is greater than the data retention period"


def _alertmanager_log(tmp_path: Path, config: Path, command: list[str]) -> str:
    """Start Debian's Alertmanager with the compose file's own command line (only the config and
    storage paths and the listen addresses differ) and return its log once it is ready."""
    tmp_path.mkdir(exist_ok=True)
    port = free_port()
    keep = [a for a in command if not a.startswith(("--config.file=", "--storage.path=", "--web.listen-address=",
                                                     "--cluster.listen-address="))]
    am_bin = shutil.which("prometheus-alertmanager") or tool("alertmanager")
    am = Process([am_bin, f"--config.file={config}", f"--storage.path={tmp_path / 'am'}",
                  f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=", *keep],
                 tmp_path / "am.log")
    try:
        import urllib.request

        def ready():
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=2) as r:
                return r.status == 200

        wait_until(ready, timeout=30, what="Alertmanager ready")
        assert am.proc.poll() is None
        return am.output()
    finally:
        am.stop()


def test_alertmanager_starts_without_a_repeat_interval_beyond_its_retention(tmp_path, generated_lukhas):
    """P4's 7d repeat_interval was longer than the retention the stack runs Alertmanager with
    (120h), so it warned at every start (issue 13): the spec refuses that now."""
    command = yaml.safe_load(compose_file(generated_lukhas).read_text())["services"]["alertmanager"]["command"]
    assert "--data.retention=120h" in command
    config = generated_lukhas / "alertmanager/alertmanager.yml"
    log = _alertmanager_log(tmp_path / "ok", config, command)
    assert "Completed loading of configuration file" in log, log
    assert RETENTION_WARNING not in log, log
    # the check can fail: the old 7d, as the stack runs Alertmanager, is warned about
    (tmp_path / "old").mkdir()
    old = tmp_path / "old" / "alertmanager.yml"
    old.write_text(config.read_text().replace("repeat_interval: 5d", "repeat_interval: 7d"))
    assert RETENTION_WARNING in _alertmanager_log(tmp_path / "old", old, command)


def test_pages_carry_the_level_links_and_external_url(tmp_path, generated_lukhas):
    """Debian's Alertmanager, with the generated receivers and the compose command line, sends a P1
    to a local PagerDuty sink: PagerDuty severity `critical` (it was `error`), the runbook and
    dashboard as links, and client_url at the spec's external URL, not the container's hostname;
    and P2s to on-call's Slack with the runbook and dashboard as buttons, and a line for each only
    when the alert has it."""
    import http.server
    import threading
    import urllib.request

    events: list[dict] = []
    slack: list[dict] = []

    class Sink(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            (slack if self.path == "/slack" else events).append(body)
            self.send_response(202)
            self.end_headers()
            self.wfile.write(b'{"status":"success"}')

        def log_message(self, *args):
            pass

    sink = http.server.HTTPServer(("127.0.0.1", 0), Sink)
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    key = tmp_path / "routing_key"
    key.write_text("0123456789abcdef0123456789abcdef")
    cfg = yaml.safe_load((generated_lukhas / "alertmanager/alertmanager.yml").read_text())
    pd = next(r for r in cfg["receivers"] if r["name"] == "pagerduty")["pagerduty_configs"][0]
    pd.update(routing_key_file=str(key), url=f"http://127.0.0.1:{sink.server_port}/v2/enqueue")
    hook = tmp_path / "slack_url"
    hook.write_text(f"http://127.0.0.1:{sink.server_port}/slack")
    next(r for r in cfg["receivers"] if r["name"] == "oncall")["slack_configs"][0]["api_url_file"] = str(hook)
    for route in cfg["route"]["routes"]:
        route["group_wait"] = "1s"
    config = tmp_path / "alertmanager.yml"
    config.write_text(yaml.safe_dump(cfg))
    stack = yaml.safe_load(compose_file(generated_lukhas).read_text())["services"]
    command = stack["alertmanager"]["command"]
    assert "--web.external-url=https://alertmanager.lukhas.ai" in command
    assert "--web.external-url=https://prometheus.lukhas.ai" in stack["prometheus"]["command"]
    port = free_port()
    keep = [a for a in command if a.startswith("--web.") or a.startswith("--data.")]
    am_bin = shutil.which("prometheus-alertmanager") or tool("alertmanager")
    am = Process([am_bin, f"--config.file={config}", f"--storage.path={tmp_path / 'am'}",
                  f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=", *keep], tmp_path / "am.log")
    try:
        def ready():
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=2) as r:
                return r.status == 200

        wait_until(ready, timeout=30, what="Alertmanager ready")
        alert = [{"labels": {"alertname": "LUKHASServiceDown", "priority": "P1", "severity": "critical",
                             "service": "lukhas-core"},
                  "annotations": {"summary": "down", "runbook_url": "https://runbooks.lukhas.ai/ga#service-down",
                                  "dashboard_url": "https://grafana.lukhas.ai/d/lukhas-overview"}},
                 {"labels": {"alertname": "LUKHASHighErrorRate", "priority": "P2", "severity": "high",
                             "service": "lukhas-memory"},   # not lukhas-core: the P1 would inhibit it
                  "annotations": {"summary": "errors", "runbook_url": "https://runbooks.lukhas.ai/ga#high-error-rate",
                                  "dashboard_url": "https://grafana.lukhas.ai/d/lukhas-overview"}},
                 {"labels": {"alertname": "LUKHASHighErrorRate", "priority": "P2", "severity": "high",
                             "service": "lukhas-identity"},   # a rule without runbook or dashboard
                  "annotations": {"summary": "identity errors"}}]
        req = urllib.request.Request(f"http://127.0.0.1:{port}/api/v2/alerts", data=json.dumps(alert).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
        urllib.request.urlopen(req, timeout=5).close()
        wait_until(lambda: events and len(slack) == 2, timeout=30, what="the PagerDuty event and the Slack messages")
    finally:
        am.stop()
        sink.shutdown()
    event = events[0]
    assert event["payload"]["severity"] == "critical", event
    assert event["client_url"].startswith("https://alertmanager.lukhas.ai/"), event
    assert {(link["href"], link["text"]) for link in event["links"]} == {
        ("https://runbooks.lukhas.ai/ga#service-down", "Runbook"),
        ("https://grafana.lukhas.ai/d/lukhas-overview", "Dashboard")}, event
    by_title = {m["attachments"][0]["title"]: m["attachments"][0] for m in slack}
    assert sorted(by_title) == ["[FIRING] P2 LUKHASHighErrorRate (lukhas-identity)",
                                "[FIRING] P2 LUKHASHighErrorRate (lukhas-memory)"]
    attachment = by_title["[FIRING] P2 LUKHASHighErrorRate (lukhas-memory)"]
    assert [(a["type"], a["text"], a["url"]) for a in attachment["actions"]] == [
        ("button", "Runbook", "https://runbooks.lukhas.ai/ga#high-error-rate"),
        ("button", "Dashboard", "https://grafana.lukhas.ai/d/lukhas-overview")], attachment
    assert attachment["text"] == ("errors\nRunbook: https://runbooks.lukhas.ai/ga#high-error-rate\n"
                                  "Dashboard: https://grafana.lukhas.ai/d/lukhas-overview\n")
    # no annotation, no line (it was "Runbook: " and "Dashboard: " with nothing after them); the
    # buttons lead to Alertmanager's own page
    bare = by_title["[FIRING] P2 LUKHASHighErrorRate (lukhas-identity)"]
    assert bare["text"] == "identity errors\n", bare
    assert [(a["text"], a["url"]) for a in bare["actions"]] == [
        ("Runbook", "https://alertmanager.lukhas.ai"), ("Dashboard", "https://alertmanager.lukhas.ai")], bare


@pytest.mark.parametrize("url, flags", [
    ("https://am.example", ["--web.external-url=https://am.example"]),
    ("https://ops.example/alertmanager/", ["--web.external-url=https://ops.example/alertmanager/",
                                           "--web.route-prefix=/"]),
])
def test_external_urls_reach_the_command_lines(url, flags):
    """A path behind a reverse proxy keeps the routes at /, where the healthchecks, the scrapes
    and the stack's peers look for them."""
    from lukhas_obs.generate.compose import compose
    from lukhas_obs.spec.loader import load_spec_text

    text = (ROOT / "specs" / "lukhas.yaml").read_text()
    old = "  external_url: https://alertmanager.lukhas.ai"
    assert old in text
    doc = compose(load_spec_text(text.replace(old, f"  external_url: {url}"), "lukhas.yaml"))
    command = doc["services"]["alertmanager"]["command"]
    assert [a for a in command if a.startswith("--web.")] == flags


SMALL = (ROOT / "tests" / "golden" / "small" / "spec.yaml").read_text()
PROM_URL = "  evaluation_interval: 30s\n  external_url: https://prom.example\n"
AM_URL = "alertmanager:\n  external_url: https://am.example\n"


# (id, the small spec's additions, Prometheus' --web.* flags, Alertmanager's)
PUBLISHED = [
    ("loopback by default", "", ["--web.external-url=http://127.0.0.1:9090"],
     ["--web.external-url=http://127.0.0.1:9093"]),
    ("an address of the host", "stack: {bind_address: 10.0.0.5}\n", ["--web.external-url=http://10.0.0.5:9090"],
     ["--web.external-url=http://10.0.0.5:9093"]),
    ("IPv6 loopback", "stack: {bind_address: '[::1]'}\n", ["--web.external-url=http://[::1]:9090"],
     ["--web.external-url=http://[::1]:9093"]),
    ("the spec's URLs win", AM_URL, ["--web.external-url=https://prom.example"],
     ["--web.external-url=https://am.example"]),
    ("every address with the spec's URLs", AM_URL + "stack: {bind_address: 0.0.0.0}\n",
     ["--web.external-url=https://prom.example"], ["--web.external-url=https://am.example"]),
]


@pytest.mark.parametrize("extra, prometheus, alertmanager", [c[1:] for c in PUBLISHED], ids=[c[0] for c in PUBLISHED])
def test_without_an_external_url_the_stack_links_where_it_publishes(extra, prometheus, alertmanager):
    """Without --web.external-url, Prometheus (the alerts' source link) and Alertmanager (its links
    in Slack and PagerDuty) name their container, http://<container id>:9093/, a dead link: the
    stack gives them the address it publishes them on (0.0.0.0 without URLs is refused at load)."""
    from lukhas_obs.generate.compose import compose
    from lukhas_obs.spec.loader import load_spec_text

    text = SMALL + extra
    if "https://am.example" in extra:
        text = text.replace("  evaluation_interval: 30s\n", PROM_URL)
    services = compose(load_spec_text(text, "small.yaml"))["services"]
    assert [a for a in services["prometheus"]["command"] if a.startswith("--web.")] == prometheus
    assert [a for a in services["alertmanager"]["command"] if a.startswith("--web.")] == alertmanager


def test_pagerduty_severity_follows_the_spec_level(generated_lukhas):
    cfg = yaml.safe_load((generated_lukhas / "alertmanager/alertmanager.yml").read_text())
    pd = next(r for r in cfg["receivers"] if r["name"] == "pagerduty")["pagerduty_configs"][0]
    for level, word in (("critical", "critical"), ("high", "error"), ("medium", "warning"), ("low", "info")):
        assert f'eq .CommonLabels.severity "{level}" }}}}{word}{{{{' in pd["severity"]


def test_log_alert_expressions_are_not_promql():
    """A cross-check that LogQL did not leak into the Prometheus rules (and vice versa)."""
    with pytest.raises(promql.PromQLError):
        promql.parse('sum(rate({job="a"} |= "error" [5m]))')


def test_a_dollar_in_an_exporter_target_reaches_the_exporter_not_compose_interpolation():
    from lukhas_obs.generate.compose import compose
    from lukhas_obs.spec.loader import load_spec_text

    text = SPEC_TEXT.replace('target: "redis://redis:6379"', 'target: "redis://redis:6379/${HOME}"')
    assert text != SPEC_TEXT
    doc = compose(load_spec_text(text, "lukhas.yaml"))
    assert "--redis.addr=redis://redis:6379/$${HOME}" in doc["services"]["redis-exporter"]["command"]
