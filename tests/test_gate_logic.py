"""The gate's decisions in-process: the smoke and canary rules on tables of counts, Holm's
correction, the documents it writes, the top-level handler, and a property test that nothing
the metrics provider can answer makes the gate roll back without a measurement."""

from __future__ import annotations

import json
import math
import re
import xml.etree.ElementTree as ET

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from lukhas_obs import cli
from lukhas_obs.gate import GateReport, run_gate, stats
from lukhas_obs.gate.checks import judge_canary, judge_ratio
from lukhas_obs.gate.client import QueryError, QueryResult, Sample
from lukhas_obs.gate.decide import CheckResult, Evidence, Outcome, correct_family
from lukhas_obs.gate.report import to_json, to_junit
from lukhas_obs.spec import load_spec

from conftest import SPEC


def smoke(bad, total, target=0.001, min_requests=50):
    return judge_ratio("error ratio", "svc", bad, total, target, "errors", 0.99, 2.0, min_requests, "5m")


@pytest.mark.parametrize("bad,total,outcome", [
    (15, 30_000, Outcome.PASS),          # 0.05 % of a busy window: surely within 2x 0.1 %
    (1, 100, Outcome.INCONCLUSIVE),      # 1 % of 100: cannot tell from 0.1 % (Wilson FAILed this 9.5 % of the time)
    (0, 50, Outcome.INCONCLUSIVE),       # 50 requests cannot show 0.1 % is met
    (15, 150, Outcome.FAIL),             # 10 %: decisive below min_requests
    (45, 45, Outcome.FAIL),
    (3, 1_000, Outcome.INCONCLUSIVE),    # 0.3 %: neither surely above 0.1 % nor surely within 0.2 %
    (60, 30_000, Outcome.FAIL),          # 0.2 % of 30,000: surely above
    (120, 30_000, Outcome.FAIL),         # 0.4 %
    (0, 0, Outcome.INCONCLUSIVE),
    (None, 100, Outcome.INCONCLUSIVE),
    (math.nan, 100, Outcome.INCONCLUSIVE),
    (1, math.inf, Outcome.INCONCLUSIVE),
])
def test_smoke_three_way_rule(bad, total, outcome):
    assert smoke(bad, total).outcome == outcome


def test_smoke_fail_means_the_exact_lower_bound_is_above_the_target():
    for bad, total in ((3, 300), (4, 300), (5, 300), (6, 300), (10, 1000)):
        low, _ = stats.clopper_pearson(bad, total, 0.99)
        assert (smoke(bad, total).outcome == Outcome.FAIL) == (low > 0.001), (bad, total, low)


def test_min_requests_holds_a_pass_never_a_fail():
    assert smoke(0, 3000, min_requests=5000).outcome == Outcome.INCONCLUSIVE
    assert smoke(0, 3000, min_requests=50).outcome == Outcome.PASS
    assert smoke(30, 60, min_requests=5000).outcome == Outcome.FAIL


def _life(minutes, canary_ratio, baseline_ratio=0.01, rps=100, share=0.05):
    n = rps * 60
    return [stats.Batch(n * share * canary_ratio, n * share, n * (1 - share) * baseline_ratio, n * (1 - share))
            for _ in range(minutes)]


def canary(batches, **kw):
    args = dict(confidence=0.99, rule_out=2.0, min_relative=1.25, min_absolute=0.002, min_requests=200)
    args.update(kw)
    return judge_canary("canary error ratio", "svc", "errors", batches, **args)


LOOKS = r"; worse: p=\S+ \(valid at any number of looks; one look, exact: \S+\); evidence against x2 worse: \S+ " \
        r"\(decides at 100\): "


@pytest.mark.parametrize("batches,outcome,reason", [
    # same ratio, 9,000 canary requests
    (_life(30, 0.01), Outcome.PASS, r"errors: canary 1 % of 9000, baseline 1 % of 171000" + LOOKS
     + "no material regression"),
    # 5x
    (_life(30, 0.05), Outcome.FAIL, r"errors: canary 5 % of 9000, baseline 1 % of 171000" + LOOKS + "canary is worse"),
    # 600 requests: hold, and say how many more
    (_life(2, 0.01), Outcome.INCONCLUSIVE, r"errors: canary 1 % of 600, baseline 1 % of 11400" + LOOKS
     + "hold, about 1,275 more canary requests at these ratios"),
    ([], Outcome.INCONCLUSIVE, "no track='canary' traffic"),
    # +5 %: not material
    (_life(30, 0.0105, 0.01), Outcome.PASS, r"errors: canary 1\.05 % of 9000, baseline 1 % of 171000" + LOOKS
     + "no material regression"),
])
def test_canary_rule(batches, outcome, reason):
    result = canary(batches)
    assert result.outcome == outcome, result.reason
    assert re.fullmatch(reason, result.reason), result.reason


def test_a_significant_but_immaterial_regression_is_not_a_failure():
    # 5x, but from 0.01 % to 0.05 % (+0.04 pp, under the +0.2 pp floor) on a busy canary
    result = canary(_life(60, 0.0005, 0.0001, rps=10_000))
    assert result.p_value is not None and result.p_value < 0.01
    assert result.outcome == Outcome.PASS
    assert result.reason.endswith(": no material regression (worse, but by less than x1.25 or +0.2 pp: not material)")


def test_the_canary_is_judged_against_the_baseline_not_the_slo():
    # a platform-wide 0.5 % incident: an identical canary is not rolled back
    result = canary(_life(30, 0.005, 0.005))
    assert result.outcome == Outcome.PASS, result.reason
    assert re.fullmatch(r"errors: canary 0\.5 % of 9000, baseline 0\.5 % of 171000" + LOOKS + "no material regression",
                        result.reason), result.reason


def _statistical(outcome, p):
    return CheckResult("c", "s", outcome, "r", p_value=p, unconfirmed=(Outcome.INCONCLUSIVE, "held"))


def test_holm_keeps_a_fail_only_when_it_survives_the_family():
    checks = [_statistical(Outcome.FAIL, 0.004), _statistical(Outcome.PASS, 0.5), _statistical(Outcome.PASS, 0.9)]
    out = correct_family(checks, 0.01)  # Holm: the smallest p must be below 0.01 / 3
    assert out[0].outcome == Outcome.INCONCLUSIVE
    assert out[0].reason == "held (p=0.004 is not significant after Holm's correction over 3 tests at 0.01)"
    out = correct_family([_statistical(Outcome.FAIL, 0.003)] + checks[1:], 0.01)
    assert out[0].outcome == Outcome.FAIL
    assert out[0].reason == "r (significant after Holm's correction over 3 tests at 0.01)"
    plain = CheckResult("targets up", "s", Outcome.FAIL, "down")  # a measured failure without a test stays
    assert correct_family([plain], 0.01)[0].outcome == Outcome.FAIL


def _report(reason="r", value=math.inf):
    check = CheckResult("c", "svc", Outcome.ERROR, reason, evidence=[Evidence({"job": "a"}, value),
                                                                     Evidence({}, -math.inf), Evidence({}, math.nan)])
    return GateReport("smoke", Outcome.ERROR, 1_767_225_600, "5m", "http://x", [check])


def test_json_has_no_infinity_or_nan():
    doc = json.loads(to_json(_report()), parse_constant=lambda c: pytest.fail(f"{c} in JSON"))
    texts = [e.get("value_text") for e in doc["checks"][0]["evidence"]]
    assert texts == ["+Inf", "-Inf", "NaN"]


def test_junit_survives_control_characters():
    xml = to_junit(_report(reason="boom\x00\x1b[31m\x07 from the server"))
    root = ET.fromstring(xml)
    # the control characters shown as escapes, the rest as sent
    assert root.find("testcase/error").get("message") == "boom\\x00\\x1b[31m\\x07 from the server"


def test_an_unexpected_exception_in_the_gate_is_error_4_not_1(monkeypatch):
    def boom(*a, **k):
        raise ZeroDivisionError("a bug")
    monkeypatch.setattr("lukhas_obs.gate.run_gate", boom)
    r = CliRunner().invoke(cli.main, ["slo-gate", "--spec", str(SPEC), "--output", "json"])
    assert r.exit_code == 4, r.output
    doc = json.loads(r.stdout)
    assert doc["outcome"] == "ERROR"
    assert [(c["name"], c["outcome"], c["reason"]) for c in doc["checks"]] == [
        ("gate", "ERROR", "internal error, nothing was decided: ZeroDivisionError: a bug")]


def test_an_unexpected_exception_elsewhere_is_internal_error_70(monkeypatch):
    def boom(*a, **k):
        raise KeyError("a bug")
    monkeypatch.setattr("lukhas_obs.spec.load_spec", boom)
    r = CliRunner().invoke(cli.main, ["validate", str(SPEC)])
    assert r.exit_code == 70, r.output
    assert r.stderr == ("lukhas-obs: internal error: KeyError: 'a bug'. This is a bug in lukhas-obs; please report it"
                        " with the command line.\n")


# ---- property: no measurement, no roll back -----------------------------------------------

class _Answers:
    """A metrics provider whose answer to each distinct query is drawn once: an error, nothing,
    NaN, or (in the second property) arbitrary numbers under plausible labels."""
    url = "http://fake"

    def __init__(self, answers: list):
        self.answers = answers

    def start(self):
        return None

    def _answer(self, expr: str) -> QueryResult:
        kind, labels, value = self.answers[sum(map(ord, expr)) % len(self.answers)]
        if kind == "error":
            raise QueryError("HTTP 500: boom")
        history = [(1_767_229_140.0 + 60 * i, value) for i in range(3)]
        samples = [] if kind == "empty" else [Sample(dict(one), value, history) for one in labels]
        return QueryResult(expr, 0.0, samples, 1)

    def query(self, expr, at):
        return self._answer(expr)

    def query_range(self, expr, start, end, step):
        return self._answer(expr)


SPEC_MODEL = load_spec(SPEC)
LABELS = st.lists(st.fixed_dictionaries({
    "job": st.sampled_from(["lukhas-core", "lukhas-identity", "prometheus", "x"]),
    "instance": st.sampled_from(["lukhas-core:80", "lukhas-core-canary:80", "i"]),
    "track": st.sampled_from(["canary", "baseline"]),
    "service": st.sampled_from(["lukhas-core", "lukhas-identity"]),
    "slo": st.sampled_from(["availability", "latency"]),
}), max_size=3)
NOTHING = st.tuples(st.sampled_from(["error", "empty", "nan"]), LABELS, st.just(math.nan))
ANYTHING = st.one_of(NOTHING, st.tuples(st.just("value"), LABELS,
                                        st.floats(allow_nan=True, allow_infinity=True, width=32)))


NAN_CORE = [("nan", [{"job": "lukhas-core", "instance": "lukhas-core:80", "track": "canary", "service": "lukhas-core",
                      "slo": "availability"}], math.nan)]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(answers=st.lists(NOTHING, min_size=1, max_size=6), mode=st.sampled_from(["smoke", "canary", "rollback",
                                                                                 "budget"]))
@example(answers=NAN_CORE, mode="rollback")   # a NaN request total read as "no requests": fast burn PASS at 0x
@example(answers=NAN_CORE, mode="smoke")      # a NaN scrape age: targets up PASS
def test_without_a_measurement_the_gate_never_fails(answers, mode):
    report = run_gate(SPEC_MODEL, mode, _Answers(answers), at=1_767_229_200.0,
                      services=["lukhas-core", "lukhas-identity", "prometheus"])
    assert report.outcome != Outcome.FAIL, [(c.name, c.reason) for c in report.checks if c.outcome == Outcome.FAIL]
    # nor does it pass, nor does any check: not one of them measured anything
    assert report.outcome in (Outcome.INCONCLUSIVE, Outcome.ERROR), [(c.name, c.outcome, c.reason)
                                                                     for c in report.checks]
    assert [(c.name, c.reason) for c in report.checks if c.outcome == Outcome.PASS] == []


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(answers=st.lists(ANYTHING, min_size=1, max_size=8), mode=st.sampled_from(["smoke", "canary", "rollback",
                                                                                  "budget"]))
def test_whatever_the_provider_answers_no_check_crashes(answers, mode):
    report = run_gate(SPEC_MODEL, mode, _Answers(answers), at=1_767_229_200.0, canary_weight=5,
                      services=["lukhas-core", "lukhas-identity", "prometheus"])
    crashed = [(c.name, c.reason) for c in report.checks if "internal error" in c.reason]
    assert not crashed
    failed = [c for c in report.checks if c.outcome == Outcome.FAIL]
    assert all(c.reason for c in failed)


def test_the_gate_imports_no_generator():
    """The gate reads the records the generators write through lukhas_obs.conventions, the one
    place their names and SLI maths are defined; it never imports a generator."""
    import subprocess
    import sys

    code = ("import sys, lukhas_obs.gate.checks, lukhas_obs.gate.evidence, lukhas_obs.gate.serve; "
            "print([m for m in sys.modules if m.startswith('lukhas_obs.generate')])")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]", r.stdout
