"""A broken spec is refused with exit 2, a message naming file, line and key path, no
traceback, and nothing under the output folder changes."""

from __future__ import annotations

import shutil

import pytest

from conftest import ROOT, run_cli, tree_snapshot

BASE = (ROOT / "tests" / "golden" / "small" / "spec.yaml").read_text()


def mutate(old: str, new: str) -> str:
    assert BASE.count(old) == 1, f"mutation anchor {old!r} must occur once in the base spec"
    return BASE.replace(old, new)


# (id, spec text, the key path the message must name, a snippet of the line it must point at,
#  a phrase the message must contain)
CASES = [
    ("yaml-syntax", mutate("  scrape_interval: 30s", "  scrape_interval: [30s"), "", "evaluation_interval",
     "YAML syntax error"),
    ("yaml-tab", mutate("project: shop", "project:\tshop: x"), "", "project:", "YAML syntax error"),
    ("duplicate-key", mutate("environment: staging", "environment: staging\nenvironment: prod"),
     "environment", "environment: prod", "duplicate key"),
    ("wrong-api-version", mutate("lukhas-obs/v1", "lukhas-obs/v9"), "apiVersion", "apiVersion", "not supported"),
    ("missing-services", BASE[: BASE.index("services:")], "", "apiVersion", "'services' is required"),
    ("unknown-top-key", mutate("environment: staging", "environment: staging\nenviroment: x"),
     "enviroment", "enviroment: x", "unknown key"),
    ("unknown-slo-key", mutate("        period: 7d", "        period: 7d\n        objectve: 99"),
     "services[0].slos[0].objectve", "objectve: 99", "unknown key"),
    ("port-type", mutate("    port: 9000", "    port: nine"), "services[0].port", "port: nine", "not of type"),
    ("port-range", mutate("    port: 9000", "    port: 70000"), "services[0].port", "port: 70000", "above 65535"),
    ("objective-above-100", mutate("        objective: 99.5", "        objective: 101"),
     "services[0].slos[0].objective", "objective: 101", "101 is above 100"),
    ("objective-100", mutate("        objective: 99.5", "        objective: 100"),
     "services[0].slos[0].objective", "objective: 100", "no error budget"),
    ("objective-zero", mutate("        objective: 99.5", "        objective: 0"),
     "services[0].slos[0].objective", "objective: 0", "below"),
    ("bad-period", mutate("        period: 7d", "        period: 14d"), "services[0].slos[0].period",
     "period: 14d", "is not one of"),
    ("bad-duration", mutate("  scrape_interval: 30s", "  scrape_interval: 30 seconds"),
     "prometheus.scrape_interval", "scrape_interval", "does not match"),
    ("undefined-severity",
     mutate("        ticket: P3\n      - name: latency", "        ticket: P7\n      - name: latency"),
     "services[0].slos[0].ticket", "ticket: P7", "'P7' is not defined"),
    ("undefined-receiver", mutate("receiver: quiet", "receiver: loud"), "severities.P3.receiver",
     "P3:", "'loud' is not defined"),
    ("undefined-service-in-alert", mutate("services: [checkout]", "services: [checkuot]"),
     "alerts[0].target_down.services[0]", "checkuot", "'checkuot' is not defined"),
    ("undefined-metric", mutate("total: http_requests_total", "total: http_request_total"),
     "services[0].slos[0].sli.ratio.total", "http_request_total", "not in the metrics catalogue"),
    ("bad-promql",
     mutate("errors: 'http_requests_total{code=~\"5..\"}'", "errors: 'http_requests_total{code=~\"5..\"'"),
     "services[0].slos[0].sli.ratio.errors", "errors:", "invalid PromQL"),
    ("bad-promql-expr",
     mutate('    target_down: {services: [checkout]}', '    expr: "sum(rate(http_requests_total[5m]) > "'),
     "alerts[0].expr", "expr:", "invalid PromQL"),
    ("selector-is-function", mutate("total: http_requests_total", "total: rate(http_requests_total[5m])"),
     "services[0].slos[0].sli.ratio.total", "total: rate", "plain series selector"),
    ("duplicate-service", mutate("  - name: db", "  - name: checkout"), "services[1].name",
     "- name: checkout\n    kind: database"[:15], "duplicate service name"),
    ("duplicate-slo", mutate("      - name: latency", "      - name: errors"), "services[0].slos[1].name",
     "- name: errors", "duplicate SLO name"),
    ("port-clash", mutate("exporter: {host: db-exporter, port: 9187}", "exporter: {host: checkout, port: 9000}"),
     "services[1].exporter.port", "exporter:", "already used"),
    ("latency-off-bucket", mutate("threshold: 0.3", "threshold: 0.25"),
     "services[0].slos[1].sli.latency.threshold", "threshold: 0.25", "not a bucket boundary"),
    ("latency-not-histogram",
     mutate("metric: http_request_duration_seconds, threshold", "metric: http_requests_total, threshold"),
     "services[0].slos[1].sli.latency.metric", "latency:", "needs a histogram"),
    ("two-sli-kinds", mutate("          latency: {metric", "          availability: {}\n          latency: {metric"),
     "services[0].slos[1].sli", "sli:", "exactly one kind"),
    ("counter-name", mutate("  http_requests_total:\n    type: counter", "  http_requests:\n    type: counter"),
     "metrics.http_requests", "http_requests:", "ends in _total"),
    ("secret-inline", mutate("routing_key_file: /run/secrets/pd_key", "routing_key: abc123"),
     "receivers.pager.pagerduty.routing_key", "routing_key: abc123", "unknown key"),
    ("alert-two-kinds",
     mutate("    target_down: {services: [checkout]}", "    target_down: {services: [checkout]}\n    expr: up == 0"),
     "alerts[0]", "- name: CheckoutDown", "exactly one of"),
    ("empty", "", "", "", "empty"),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_broken_spec_is_refused_with_a_pointed_message(case, tmp_path):
    name, text, path, line_snippet, phrase = case
    spec = tmp_path / "spec.yaml"
    spec.write_text(text)
    out = tmp_path / "generated"
    shutil.copytree(ROOT / "tests" / "golden" / "small" / "expected", out)
    before = tree_snapshot(out)

    r = run_cli("generate", "--spec", str(spec), "--out", str(out), "--deployment-out", str(tmp_path / "dep"),
                cwd=tmp_path)

    assert r.returncode == 2, r.stdout + r.stderr
    assert "Traceback" not in r.stderr
    first = [ln for ln in r.stderr.splitlines() if ln.startswith("spec.yaml:")]
    assert first, r.stderr
    matching = [ln for ln in first if phrase in ln and (not path or f": {path}: " in ln)]
    assert matching, f"no line names {path!r} with {phrase!r}:\n{r.stderr}"
    if line_snippet:
        lineno = int(matching[0].split(":")[1])
        want = [i + 1 for i, ln in enumerate(text.splitlines()) if line_snippet.splitlines()[0] in ln]
        assert lineno in want, f"line {lineno} is not one of {want} ({line_snippet!r}):\n{r.stderr}"
    assert "nothing was written" in r.stderr
    assert tree_snapshot(out) == before
    assert not (tmp_path / "dep").exists()


def test_every_problem_is_reported_not_only_the_first(tmp_path):
    text = mutate("        objective: 99.5", "        objective: 101").replace("port: 9000", "port: nine")
    spec = tmp_path / "spec.yaml"
    spec.write_text(text)
    r = run_cli("validate", "--spec", str(spec), cwd=tmp_path)
    assert r.returncode == 2
    assert "services[0].port" in r.stderr and "services[0].slos[0].objective" in r.stderr
    assert "2 problems" in r.stderr


def test_missing_spec_file(tmp_path):
    r = run_cli("generate", "--spec", "nope.yaml", "--out", str(tmp_path / "g"),
                "--deployment-out", str(tmp_path / "d"), cwd=tmp_path)
    assert r.returncode == 2 and "nope.yaml:1: no such file" in r.stderr
    assert not (tmp_path / "g").exists()


def test_yaml_is_read_with_the_safe_loader(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(BASE.replace("project: shop", "project: !!python/object/apply:os.system ['echo pwned']"))
    r = run_cli("validate", "--spec", str(spec), cwd=tmp_path)
    assert r.returncode == 2 and "pwned" not in r.stdout
    assert "spec.yaml:3:" in r.stderr


def test_the_shipped_schema_is_a_valid_json_schema():
    import jsonschema

    from lukhas_obs.spec.loader import schema

    jsonschema.Draft202012Validator.check_schema(schema())
