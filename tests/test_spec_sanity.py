"""What validates must work: specs whose output would overwrite itself, never have data or never
page are refused at their line (exit 2, nothing written); the period-scaled alert windows of an
accepted spec pass their own promtool tests."""

from __future__ import annotations

import re

import pytest

from conftest import ROOT, promtool_test_rules, run_cli, tree_snapshot

SMALL = (ROOT / "tests" / "golden" / "small" / "spec.yaml").read_text()

SLO_EXTRA = '''      - name: gateway-errors
        objective: 99.5
        sli:
          ratio:
            errors: 'http_requests_total{code=~"5.."}'
            total: http_requests_total
        page: P1
        ticket: P3
'''
API_GATEWAY = ("  - name: checkout-gateway\n    kind: application\n    port: 9001\n    slos:\n"
               + SLO_EXTRA.replace("name: gateway-errors", "name: errors"))

CASES = [
    # name, mutation of the small spec, line, path and phrase the message must hold
    ("two SLOs, one file", lambda s: s.replace("  - name: db\n", API_GATEWAY + "  - name: db\n").replace(
        "      - name: latency\n", SLO_EXTRA + "      - name: latency\n"),
     "services[1].slos[0].name", "both become 'checkout-gateway-errors'"),
    ("a service named like the probe job", lambda s: s.replace("  - name: db\n", "  - name: blackbox-health\n"),
     "services[1].name", "job name of the generated health probes"),
    ("objective 93 %", lambda s: s.replace("objective: 99.5", "objective: 93"), "services[0].slos[0].objective",
     "cannot happen; objectives must be above 93.06 %"),
    ("objective 80 % (crashed generate)", lambda s: s.replace("objective: 99.5", "objective: 80"),
     "services[0].slos[0].objective", "cannot happen"),
    ("SLO on an unscraped service", lambda s: s.replace("    health: /healthz\n", "    health: /healthz\n"
                                                           "    scrape: false\n"),
     "services[0].slos[0].sli", "is not scraped"),
    ("SLO on a metric the service does not emit", lambda s: s.replace("    labels: [code]\n",
                                                                      "    labels: [code]\n    services: [db]\n"),
     "services[0].slos[0].sli", "emitted by db"),
    ("two receiver files, one mounted name", lambda s: s.replace(
        "  quiet: {}\n",
        "  quiet: {}\n  chat:\n    slack: {api_url_file: /etc/alertmanager/extra/pd_key, channel: \"#x\"}\n"),
     "receivers.pager.pagerduty.routing_key_file", "/run/secrets/pd_key and /etc/alertmanager/extra/pd_key (receiver "
     "chat) would both be mounted from <secrets_dir>/alertmanager/pd_key"),
]


@pytest.mark.parametrize("name,mutate,path,phrase", CASES, ids=[c[0] for c in CASES])
def test_a_spec_that_cannot_work_is_refused_at_its_line(name, mutate, path, phrase, tmp_path):
    spec = tmp_path / "spec.yaml"
    text = mutate(SMALL)
    assert text != SMALL, "the mutation did not apply"
    spec.write_text(text)
    out = tmp_path / "generated"
    out.mkdir()
    (out / "keep.txt").write_text("a hand edit")
    before = tree_snapshot(out)
    r = run_cli("generate", "--spec", str(spec), "--out", str(out), "--deployment-out", str(tmp_path / "dep"))
    assert r.returncode == 2, r.stdout + r.stderr
    assert "Traceback" not in r.stderr
    line = next((ln for ln in r.stderr.splitlines() if phrase in ln), None)
    assert line is not None, r.stderr
    assert re.match(rf"{re.escape(str(spec))}:\d+: {re.escape(path)}: ", line), line   # file, line, key path
    assert tree_snapshot(out) == before


def test_the_small_specs_7d_and_28d_slos_pass_their_own_promtool_tests(tmp_path, tmp_path_factory):
    spec = tmp_path / "spec.yaml"
    spec.write_text(SMALL)
    out = tmp_path / "generated"
    r = run_cli("generate", "--spec", str(spec), "--out", str(out), "--deployment-out", str(tmp_path / "dep"))
    assert r.returncode == 0, r.stderr
    tests = sorted((out / "prometheus" / "rules").glob("slo-*.test.yml"))
    assert [t.name for t in tests] == ["slo-checkout-errors.test.yml", "slo-checkout-latency.test.yml"]
    for t in tests:
        res = promtool_test_rules(t, tmp_path_factory)
        assert res.returncode == 0, res.stdout + res.stderr
