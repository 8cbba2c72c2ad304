"""Generated configuration is accepted by the programs that consume it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from lukhas_obs.spec import load_spec

from conftest import ROOT, SPEC, run_cli, tool, tree_snapshot

LUKHAS = load_spec(SPEC)
# alerts.rules.yml for the spec's alerts, then one file per SLO
RULE_FILES = ["alerts.rules.yml", *sorted(f"slo-{s.id}.rules.yml" for s in LUKHAS.slos)]
PRIORITY_RECEIVERS = {"P1": "pagerduty", "P2": "oncall", "P3": "business-hours", "P4": "log-only"}


def sh(*args, cwd=None):
    return subprocess.run(list(args), capture_output=True, text=True, cwd=cwd, timeout=120)


def test_promtool_accepts_the_prometheus_config(generated_lukhas):
    r = sh(tool("promtool"), "check", "config", "prometheus.yml", cwd=generated_lukhas / "prometheus")
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"  SUCCESS: {len(RULE_FILES)} rule files found" in r.stdout.splitlines(), r.stdout


def test_promtool_accepts_every_rule_file(generated_lukhas):
    files = sorted((generated_lukhas / "prometheus" / "rules").glob("*.rules.yml"))
    assert [f.name for f in files] == RULE_FILES
    r = sh(tool("promtool"), "check", "rules", *map(str, files))
    assert r.returncode == 0, r.stdout + r.stderr


def test_amtool_accepts_the_alertmanager_config(generated_lukhas):
    r = sh(tool("amtool"), "check-config", str(generated_lukhas / "alertmanager" / "alertmanager.yml"))
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize("priority,receiver", sorted(PRIORITY_RECEIVERS.items()))
def test_each_priority_reaches_its_receiver(generated_lukhas, priority, receiver):
    cfg = str(generated_lukhas / "alertmanager" / "alertmanager.yml")
    r = sh(tool("amtool"), "config", "routes", "test", f"--config.file={cfg}",
           f"--verify.receivers={receiver}", f"priority={priority}", "service=lukhas-core", "alertname=X")
    assert r.returncode == 0, r.stdout + r.stderr
    wrong = next(v for v in PRIORITY_RECEIVERS.values() if v != receiver)
    r = sh(tool("amtool"), "config", "routes", "test", f"--config.file={cfg}",
           f"--verify.receivers={wrong}", f"priority={priority}")
    assert r.returncode != 0


def test_alert_without_priority_reaches_on_call_not_nowhere(generated_lukhas):
    cfg = str(generated_lukhas / "alertmanager" / "alertmanager.yml")
    r = sh(tool("amtool"), "config", "routes", "test", f"--config.file={cfg}", "--verify.receivers=oncall",
           "alertname=Unlabelled")
    assert r.returncode == 0, r.stdout


def test_p3_is_muted_outside_business_hours_and_critical_inhibits_lower(generated_lukhas):
    am = yaml.safe_load((generated_lukhas / "alertmanager" / "alertmanager.yml").read_text())
    p3 = next(r for r in am["route"]["routes"] if r["matchers"] == ['priority="P3"'])
    assert p3["active_time_intervals"] == ["business-hours"]
    interval = am["time_intervals"][0]["time_intervals"][0]
    assert interval["weekdays"] == ["monday:friday"]
    assert interval["times"] == [{"start_time": "09:00", "end_time": "17:00"}]
    inhibit = am["inhibit_rules"][0]
    assert inhibit["source_matchers"] == ['severity="critical"'] and inhibit["equal"] == ["service"]
    lower = sorted(s.level for s in LUKHAS.severities if s.level != "critical")
    assert lower == ["high", "low", "medium"]
    assert inhibit["target_matchers"] == [f'severity=~"{"|".join(lower)}"']


def test_no_secret_is_inlined_in_alertmanager(generated_lukhas):
    am = yaml.safe_load((generated_lukhas / "alertmanager" / "alertmanager.yml").read_text())
    files = {}
    for receiver in am["receivers"]:
        for key, configs in receiver.items():
            if key == "name":
                continue
            for cfg in configs:
                for secret in ("routing_key", "service_key", "api_url", "url"):
                    assert secret not in cfg, f"{receiver['name']} inlines {secret}"
                files[receiver["name"], key] = {k: v for k, v in cfg.items() if k.endswith("_file")}
    secrets = "/etc/alertmanager/secrets/"
    assert files == {
        ("business-hours", "slack_configs"): {"api_url_file": secrets + "slack_alerts_url"},
        ("oncall", "slack_configs"): {"api_url_file": secrets + "slack_oncall_url"},
        ("pagerduty", "pagerduty_configs"): {"routing_key_file": secrets + "pagerduty_routing_key"},
    }


def test_scrape_jobs_are_named_after_services_with_probes_for_every_health_endpoint(generated_lukhas):
    prom = yaml.safe_load((generated_lukhas / "prometheus" / "prometheus.yml").read_text())
    jobs = {j["job_name"]: j for j in prom["scrape_configs"]}
    for name in ("lukhas-core", "lukhas-identity", "lukhas-memory", "lukhas-consciousness",
                 "lukhas-governance", "postgres", "redis", "lukhas-gateway", "prometheus", "alertmanager"):
        assert name in jobs
    assert jobs["lukhas-core"]["static_configs"][0]["targets"] == ["lukhas-core:8080"]
    assert jobs["postgres"]["static_configs"][0]["targets"] == ["postgres-exporter:9187"]
    probed = {sc["labels"]["service"]: sc["targets"][0] for sc in jobs["blackbox-health"]["static_configs"]}
    for port, name in zip(range(8080, 8085), ("lukhas-core", "lukhas-identity", "lukhas-memory",
                                              "lukhas-consciousness", "lukhas-governance"), strict=True):
        assert probed[name] == f"http://{name}:{port}/health"
    assert prom["rule_files"] == ["rules/*.rules.yml"]


def test_runbook_alerts_are_corrected_and_labelled(generated_lukhas):
    groups = yaml.safe_load((generated_lukhas / "prometheus" / "rules" / "alerts.rules.yml").read_text())["groups"]
    rules = {r["alert"]: r for g in groups for r in g["rules"]}
    high = rules["LUKHASHighErrorRate"]
    assert high["expr"] == ('(sum by (job) (rate(lukhas_http_requests_total{status=~"5.."}[5m])))\n/\n'
                            '(sum by (job) (rate(lukhas_http_requests_total[5m])))\n> 0.01')  # a ratio, not a rate
    assert rules["LUKHASIdentityDegraded"]["expr"] == (  # histogram buckets, not a summary quantile
        "histogram_quantile(0.99, sum by (le, job) (rate(lukhas_identity_auth_duration_seconds_bucket[5m]))) > 0.2")
    for rule in rules.values():
        assert set(rule["labels"]) >= {"severity", "priority"}
        assert set(rule["annotations"]) >= {"summary", "runbook_url"}
    assert rules["LUKHASServiceDown"]["labels"]["severity"] == "critical"
    assert rules["LUKHASServiceDown"]["labels"]["priority"] == "P1"
    assert rules["LUKHASOpenAIRateLimiting"]["labels"]["priority"] == "P4"


def test_every_file_has_the_do_not_edit_header(generated_lukhas):
    paths = sorted(generated_lukhas.rglob("*.yml"))
    names = {p.relative_to(generated_lukhas).as_posix() for p in paths}
    assert names >= {"prometheus/prometheus.yml", "alertmanager/alertmanager.yml",
                     *(f"prometheus/rules/{f}" for f in RULE_FILES)}, names
    for path in paths:
        assert path.read_text().startswith("# Generated by lukhas-obs from specs/lukhas.yaml. DO NOT EDIT.")


def test_generate_is_deterministic(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    assert run_cli("generate", "--spec", str(SPEC), "--out", str(a / "generated"),
                   "--deployment-out", str(a / "deployment")).returncode == 0
    assert run_cli("generate", "--spec", str(SPEC), "--out", str(b / "generated"),
                   "--deployment-out", str(b / "deployment")).returncode == 0
    assert tree_snapshot(a) == tree_snapshot(b)


def test_check_catches_a_hand_edit_and_a_stray_file(tmp_path):
    out = tmp_path / "generated"
    dep = ["--deployment-out", str(tmp_path / "deployment")]
    assert run_cli("generate", "--spec", str(SPEC), "--out", str(out), *dep).returncode == 0
    r = run_cli("generate", "--spec", str(SPEC), "--out", str(out), "--check", *dep)
    assert r.returncode == 0, r.stderr
    am = out / "alertmanager" / "alertmanager.yml"
    am.write_text(am.read_text().replace("repeat_interval: 1h", "repeat_interval: 2h"))
    (out / "prometheus" / "rules" / "mine.rules.yml").write_text("groups: []\n")
    compose = tmp_path / "deployment" / "docker-compose.observability.yml"
    compose.write_text(compose.read_text().replace("127.0.0.1:3000:3000", "0.0.0.0:3000:3000"))
    r = run_cli("generate", "--spec", str(SPEC), "--out", str(out), "--check", *dep)
    assert r.returncode == 1
    assert r.stderr.splitlines() == [
        f"{out}/ and {tmp_path / 'deployment'}/ do not match specs/lukhas.yaml;"
        f" run `lukhas-obs generate {SPEC} --out {out} --deployment-out {tmp_path / 'deployment'}`. Files that differ:",
        f"  {am}", f"  {out / 'prometheus' / 'rules' / 'mine.rules.yml'}", f"  {compose}"]


def test_committed_output_matches_the_spec():
    r = run_cli("generate", "--check")
    assert r.returncode == 0, r.stderr


def test_a_failed_write_leaves_the_output_untouched(tmp_path, monkeypatch):
    from lukhas_obs.generate import writer

    out = tmp_path / "generated"
    writer.write_tree({"a.yml": "one\n"}, out)
    before = tree_snapshot(out)
    calls = {"n": 0}
    real = Path.write_text

    def failing(self, *a, **k):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError("disk full")
        return real(self, *a, **k)

    monkeypatch.setattr(Path, "write_text", failing)
    with pytest.raises(OSError):
        writer.write_tree({"a.yml": "two\n", "b.yml": "three\n"}, out)
    monkeypatch.undo()
    assert tree_snapshot(out) == before
    assert [p.name for p in tmp_path.iterdir()] == ["generated"]  # no temporary folder left


def test_every_command_has_help_text():
    from lukhas_obs.cli import main

    assert sorted(main.commands) == ["demo", "export", "generate", "import", "schema", "slo-gate", "validate"]
    for name, cmd in main.commands.items():   # a first paragraph of whole sentences, for `--help`'s list
        first = " ".join((cmd.help or "").split("\n\n")[0].split())
        assert len(first) > 20 and first.endswith("."), (name, first)


def test_yaml_writer_round_trips_every_generated_file(generated_lukhas):
    """Our own emitter writes what a YAML reader reads back, value for value."""
    from lukhas_obs.generate.yamlout import dump

    paths = sorted(generated_lukhas.rglob("*.yml"))
    assert {f"prometheus/rules/{f}" for f in RULE_FILES} <= {p.relative_to(generated_lukhas).as_posix() for p in paths}
    for path in paths:
        text = path.read_text()
        head, _, _ = text.partition("\n")
        assert dump(yaml.safe_load(text), head) == text, path


@pytest.mark.parametrize("value", ["09:00", "yes", "no", "on", "1e3", "0x1F", "2026-01-01", "+Inf", ".inf", "-1",
                                   "a: b", "#x", "x #y", "", " lead", "trail ", "tab\tin", "quote\"s", "back\\slash",
                                   "multi\nline", "ends\n", "ΛID", "null", "~", "[x]", "{y}", "*star", "&amp", "!bang",
                                   "1:30", "a:b", "it's", "(x)", "$v", "a  #b", "x:", "- item", "? q", "%tag", "@at",
                                   "`tick", "a,b", "True", "NO", "0o17", "1_000", ".5", "5.", "1e-3", "-.inf"])
def test_yaml_writer_quotes_whatever_a_reader_could_misread(value):
    from lukhas_obs.generate.yamlout import dump

    doc = {"k": value, "list": [value], "nested": {"v": value}}
    assert yaml.safe_load(dump(doc)) == doc


@pytest.mark.parametrize("command", [[], ["generate"], ["validate"], ["schema"], ["slo-gate"], ["demo"],
                                     ["export", "openslo"], ["import", "openslo"], ["slo-gate", "backtest"]])
def test_readme_documents_the_real_help(command):
    """The README's CLI sections are the real --help (scripts/readme_cli.py rewrites them)."""
    r = run_cli(*command, "--help")
    assert r.returncode == 0
    readme = (ROOT / "README.md").read_text()
    assert r.stdout.strip() in readme, f"README lacks the current `{' '.join(command)} --help`"


def test_yaml_writer_round_trips_random_strings():
    import random

    from lukhas_obs.generate.yamlout import dump

    rng = random.Random(5)
    alphabet = "ab01 :#'\"-?{}[],&*!|>%@`\\\n\t.+~$()_=/yYnN"
    for _ in range(3000):
        value = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
        doc = {"k": value, "l": [value, {"v": value}]}
        assert yaml.safe_load(dump(doc)) == doc, repr(value)


BACKEND_DOWN = [  # (alert, job, the exporter's "service behind me is up" metric)
    ("LUKHASPostgresDown", "postgres", "pg_up"),
    ("LUKHASRedisDown", "redis", "redis_up"),
    ("LUKHASGatewayDown", "lukhas-gateway", "nginx_up"),
]


@pytest.mark.parametrize("alert,job,backend", BACKEND_DOWN, ids=[a for a, _, _ in BACKEND_DOWN])
def test_a_service_behind_a_live_exporter_pages_when_it_is_down(tmp_path, generated_lukhas, alert, job, backend):
    """The exporter answers (its `up` is 1) while the database behind it is down: the alert fires
    after its `for`, as it does when the exporter itself is down; a healthy pair stays silent."""
    rules = generated_lukhas / "prometheus" / "rules" / "alerts.rules.yml"
    rule = next(r for g in yaml.safe_load(rules.read_text())["groups"] for r in g["rules"] if r.get("alert") == alert)
    assert rule["for"] == "1m" and rule["labels"]["service"] == job
    assert "{{" not in str(rule["annotations"])  # promtool compares them as written

    def case(up: str, backend_up: str, firing: bool) -> dict:
        fired = [{"exp_labels": {"job": job, "instance": "x:1", **rule["labels"]},
                  "exp_annotations": rule["annotations"]}]
        return {"interval": "15s", "input_series": [
            {"series": f'up{{job="{job}", instance="x:1"}}', "values": up},
            {"series": f'{backend}{{job="{job}", instance="x:1"}}', "values": backend_up}],
            "alert_rule_test": [{"eval_time": "3m", "alertname": alert, "exp_alerts": fired if firing else []}]}

    tests = {"rule_files": [str(rules)], "evaluation_interval": "15s", "tests": [
        case("1x20", "0x20", True),    # database down behind a live exporter
        case("0x20", "_x20", True),    # the exporter itself is down: no backend metric at all
        case("1x20", "1x20", False),   # both up
    ]}
    path = tmp_path / "backend.test.yml"
    path.write_text(yaml.safe_dump(tests))
    r = subprocess.run([tool("promtool"), "test", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize("command", [["validate"], ["generate", "--out", "OUT"], ["export", "openslo"]])
def test_a_spec_given_twice_is_a_usage_error(command, tmp_path):
    """SPEC and --spec at once: one of them was silently ignored (new-user audit)."""
    args = [str(tmp_path / "out") if a == "OUT" else a for a in command]
    r = run_cli(*args, "tests/golden/small/spec.yaml", "--spec", str(SPEC))
    assert r.returncode == 2, r.stdout + r.stderr
    assert "give the spec once: as SPEC (tests/golden/small/spec.yaml) or as --spec" in r.stderr
    assert not (tmp_path / "out").exists()
