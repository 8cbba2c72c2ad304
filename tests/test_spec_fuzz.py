"""Fuzzing the spec (hypothesis, bounded): a mutated spec is either refused as the README promises
(exit 2, every line FILE:LINE: ..., nothing written) or its output is accepted by the programs
that consume it: promtool check config and check rules, amtool check-config, and every generated
promtool unit test passes."""

from __future__ import annotations

import re
import subprocess

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import ROOT, invoke_cli, promtool_test_rules, run_cli, tool, tree_snapshot

SMALL = yaml.safe_load((ROOT / "tests" / "golden" / "small" / "spec.yaml").read_text())


def _leaves(node, path=()):
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _leaves(v, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _leaves(v, path + (i,))
    else:
        yield path


LEAVES = sorted(_leaves(SMALL), key=str)
VALUES = st.sampled_from([
    0, -1, 1, 0.5, 7, 93, 99.99, 100, 1e9, float("nan"), float("inf"), True, None, [], {},
    "0s", "1m1m", "15s1m", "5m", "2m\n", "30d", "1h30m", "7d", "28d",
    "", "a\nb", 'x"y', "{{ .Bad", "{{ $labels.service }}", "lukhas-core", "blackbox-health", "P1", "P9",
    "http_requests_total", 'rate(x[5m])[1m]', "up == 0", "friday:monday", "Mars/Olympus",
])
LINE = re.compile(r"^.+:\d+: .+")


def _set(doc, path, value):
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value


def _consumers_accept(out, tmp_path_factory):
    prom = out / "prometheus"
    checks = [[tool("promtool"), "check", "config", "prometheus.yml"]]
    rules = sorted(p.name for p in (prom / "rules").glob("*.rules.yml"))
    if rules:
        checks.append([tool("promtool"), "check", "rules", *rules])
    for args in checks:
        cwd = prom if args[2] == "config" else prom / "rules"
        r = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, f"{' '.join(args[1:4])}: {r.stdout[-1500:]}{r.stderr[-1500:]}"
    # most mutations leave the SLOs alone: their unit tests, passed once on the same documents, are not run again
    for test in sorted((prom / "rules").glob("*.test.yml")):
        r = promtool_test_rules(test, tmp_path_factory, timeout=120)
        assert r.returncode == 0, f"test rules {test.name}: {r.stdout[-1500:]}{r.stderr[-1500:]}"
    r = subprocess.run([tool("amtool"), "check-config", str(out / "alertmanager" / "alertmanager.yml")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


@settings(max_examples=50, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(mutations=st.lists(st.tuples(st.sampled_from(LEAVES), VALUES), min_size=1, max_size=2))
def test_a_mutated_spec_is_refused_properly_or_its_output_works(mutations, tmp_path_factory):
    work = tmp_path_factory.mktemp("fuzz")
    doc = yaml.safe_load(yaml.safe_dump(SMALL))
    for path, value in mutations:
        _set(doc, path, value)
    spec = work / "spec.yaml"
    spec.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True))
    out = work / "generated"
    # in process (the CLI's own code and exit codes, without a Python start per example)
    r = invoke_cli("generate", "--spec", str(spec), "--out", str(out), "--deployment-out", str(work / "deployment"))
    assert "Traceback" not in r.stderr, r.stderr
    if r.returncode == 2:
        problems = [ln for ln in r.stderr.splitlines() if ln and not ln.startswith("lukhas-obs:")]
        assert problems and all(LINE.match(ln) for ln in problems), r.stderr
        assert not out.exists() or not tree_snapshot(out)
        return
    assert r.returncode == 0, (mutations, r.stdout, r.stderr)
    _consumers_accept(out, tmp_path_factory)


def test_the_fuzzer_can_see_a_broken_output(tmp_path, tmp_path_factory):
    """The property is not vacuous: a rule file promtool refuses is caught."""
    r = run_cli("generate", "--spec", str(ROOT / "tests" / "golden" / "small" / "spec.yaml"), "--out",
                str(tmp_path / "generated"), "--deployment-out", str(tmp_path / "deployment"))
    assert r.returncode == 0, r.stderr
    bad = tmp_path / "generated" / "prometheus" / "rules" / "broken.rules.yml"
    bad.write_text("groups:\n  - name: x\n    rules:\n      - record: 'not a name'\n        expr: up\n")
    with pytest.raises(AssertionError):
        _consumers_accept(tmp_path / "generated", tmp_path_factory)


def test_a_remembered_promtool_pass_does_not_hide_a_changed_rule(tmp_path, tmp_path_factory):
    """The run-wide memory of promtool passes (conftest.promtool_test_rules) is keyed by what the
    files mean: a page threshold ten times too low fails, and is not taken for the pass before."""
    r = run_cli("generate", "--spec", str(ROOT / "tests" / "golden" / "small" / "spec.yaml"), "--out",
                str(tmp_path / "generated"), "--deployment-out", str(tmp_path / "deployment"))
    assert r.returncode == 0, r.stderr
    test = tmp_path / "generated" / "prometheus" / "rules" / "slo-checkout-errors.test.yml"
    rules = test.with_name("slo-checkout-errors.rules.yml")
    good = rules.read_text()
    assert promtool_test_rules(test, tmp_path_factory).returncode == 0
    assert good.count("} > 0.072\n") == 2
    rules.write_text(good.replace("} > 0.072\n", "} > 0.0072\n"))
    broken = promtool_test_rules(test, tmp_path_factory)
    assert broken.returncode == 1 and "FAILED" in broken.stdout + broken.stderr, broken.stdout + broken.stderr
    rules.write_text("# another header\n" + good)
    again = promtool_test_rules(test, tmp_path_factory)
    assert (again.returncode, again.stdout) == (0, "passed earlier in this run: slo-checkout-errors.test.yml\n")
