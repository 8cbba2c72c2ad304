"""The budget's data coverage in-process: counting steps into a coverage, its words, which
coverage series belongs to which budget series, the budget decision over both, and the reports
that carry it. The same against a real Prometheus: tests/test_budget_coverage.py."""

from __future__ import annotations

import json
import math

import pytest

from lukhas_obs.gate import GateReport
from lukhas_obs.gate import html as page
from lukhas_obs.gate.checks import _judge_budget
from lukhas_obs.gate.client import Sample
from lukhas_obs.gate.coverage import Coverage, count_for, percent, span, step_for
from lukhas_obs.gate.decide import CheckResult, Outcome
from lukhas_obs.gate.report import to_json, to_text
from lukhas_obs.spec import load_spec

from conftest import SPEC

DAY = 86_400
MONTH = 30 * DAY


@pytest.mark.parametrize("seconds,text", [
    (0, "0 min"), (59, "0 min"), (240, "4 min"), (3600, "1 h"), (12 * 3600, "12 h"), (23 * 3600 + 300, "23 h 5 min"),
    (DAY, "1 d"), (2 * DAY + 3 * 3600 + 1800, "2 d 3 h"), (28 * DAY + 600, "28 d"), (MONTH, "30 d"),
])
def test_span_in_words(seconds, text):
    assert span(seconds) == text


@pytest.mark.parametrize("ratio,text", [
    (0.0, "0 %"), (0.0004, "< 1 %"), (0.0099, "< 1 %"), (0.01, "1 %"), (0.0708, "7 %"), (0.29, "29 %"),
    (0.9, "90 %"), (0.999, "99 %"), (1.0, "100 %"),
])
def test_coverage_percent_rounds_down(ratio, text):
    assert percent(ratio) == text


@pytest.mark.parametrize("count,period,covered", [
    (8641, MONTH, MONTH),              # Prometheus 2.42 at an instant on the 5m grid: both edges counted
    (8640, MONTH, MONTH),              # VictoriaMetrics, or an instant off the grid
    (865, MONTH, 3 * DAY),             # 3 days from a sample on the grid: 865 steps bridge 864
    (8639, MONTH, MONTH - 600),        # one step missing: under a full period, never rounded up to it
    (1, MONTH, 0),                     # one step with a sample bridges no time
    (0, MONTH, 0),
    (math.nan, MONTH, 0),
    (145, 12 * 3600, 12 * 3600),       # a calendar period 12 h old
    (3, 180, 180),                     # 3 minutes old: counted every minute
])
def test_coverage_from_counted_steps(count, period, covered):
    c = Coverage.from_steps(count, period, step_for(period), 0.9)
    assert (c.covered, c.period) == (covered, period)


@pytest.mark.parametrize("count,text,some", [
    (0, "data covers 0 min of 30 d (0 %)", False),
    # a Prometheus minutes old: one 5m instant has the record, which is data, if under a step of it
    (1, "data covers less than 5 min of 30 d (0 %)", True),
    (2, "data covers 5 min of 30 d (< 1 %)", True),
])
def test_data_at_one_instant_is_less_than_a_step_not_nothing(count, text, some):
    c = Coverage.from_steps(count, MONTH, step_for(MONTH), 0.9)
    assert (c.text(), c.some) == (text, some)


def test_steps_are_5m_from_an_hour_and_1m_below():
    assert [step_for(s) for s in (60, 3599, 3600, MONTH)] == [60, 60, 300, 300]


@pytest.mark.parametrize("covered,minimum,enough", [
    (27 * DAY, 0.9, True), (27 * DAY - 300, 0.9, False), (0, 0.0, True), (3 * DAY, 0.1, True), (MONTH, 1.0, True),
])
def test_enough_means_at_least_the_minimum(covered, minimum, enough):
    assert Coverage(covered, MONTH, minimum).enough is enough


SVC = {"service": "api", "slo": "availability"}


@pytest.mark.parametrize("labels,counts,expected", [
    # the rules give the budget and the coverage record the same labels
    ({"__name__": "b", **SVC}, [({**SVC}, 8641.0)], 8641.0),
    # two clusters: each budget series its own
    ({**SVC, "cluster": "us"}, [({**SVC, "cluster": "eu"}, 8641.0), ({**SVC, "cluster": "us"}, 865.0)], 865.0),
    # a budget series with a label the coverage series lacks: the coverage series still belongs
    ({**SVC, "cluster": "us"}, [(SVC, 8641.0)], 8641.0),
    # a budget measured in the gate (a calendar SLO's short window) has no labels: the least
    ({}, [({**SVC, "cluster": "eu"}, 8641.0), ({**SVC, "cluster": "us"}, 865.0)], 865.0),
    # no coverage series, or only another SLO's: no data
    (SVC, [], 0.0),
    (SVC, [({"service": "api", "slo": "latency"}, 8641.0)], 0.0),
])
def test_each_budget_series_reads_its_own_coverage(labels, counts, expected):
    assert count_for(labels, [Sample(lb, v) for lb, v in counts]) == expected


FULL = Coverage(MONTH, MONTH, 0.9)
THREE_DAYS = Coverage(3 * DAY, MONTH, 0.9)
NONE = Coverage(0, MONTH, 0.9)


def judge(*series: tuple[dict, float, Coverage]):
    spec = load_spec(SPEC)
    slo = next(s for s in spec.slos if s.service == "lukhas-core" and s.name == "availability")
    samples = [Sample({"__name__": "slo:error_budget:remaining_ratio", **SVC, **lb}, v) for lb, v, _ in series]
    return _judge_budget("error budget availability", slo, samples, "q", "t", 0.25, "", [c for _, _, c in series])


@pytest.mark.parametrize("series,outcome,reason", [
    ([({}, 0.8, FULL)], Outcome.PASS, "80 % of the budget left; data covers 30 d of 30 d (100 %)"),
    ([({}, 0.1, FULL)], Outcome.FAIL, "10 % of the budget left; data covers 30 d of 30 d (100 %)"),
    ([({}, -0.5, FULL)], Outcome.FAIL, "overspent: -50 % of the budget left; data covers 30 d of 30 d (100 %)"),
    # too little data: neither a pass nor a failure, whatever the budget record says
    ([({}, 0.98, THREE_DAYS)], Outcome.INCONCLUSIVE,
     "data covers 3 d of 30 d (10 %), under the 90 % needed to judge the budget: 98 % of the budget left over that "
     "data, not a verdict"),
    ([({}, -3.0, THREE_DAYS)], Outcome.INCONCLUSIVE,
     "data covers 3 d of 30 d (10 %), under the 90 % needed to judge the budget: -300 % of the budget left over that "
     "data, not a verdict"),
    ([({}, 1.0, Coverage.from_steps(1, MONTH, 300, 0.9))], Outcome.INCONCLUSIVE,
     "data covers less than 5 min of 30 d (0 %), under the 90 % needed to judge the budget: 100 % of the budget "
     "left over that data, not a verdict"),
    ([({}, 0.5, NONE)], Outcome.INCONCLUSIVE,
     "data covers 0 min of 30 d (0 %), under the 90 % needed to judge the budget: 50 % of the budget left by the "
     "budget record, with no SLI data under it, not a verdict"),
    # a measured failure in one series is not hidden by too little data in another
    ([({"cluster": "eu"}, 0.9, THREE_DAYS), ({"cluster": "us"}, 0.05, FULL)], Outcome.FAIL,
     "5 % of the budget left in {cluster=us} (1 of 2 series below); data covers 30 d of 30 d (100 %)"),
    # one series thin, the other passing: hold, naming the thin one
    ([({"cluster": "eu"}, 0.9, FULL), ({"cluster": "us"}, 0.9, THREE_DAYS)], Outcome.INCONCLUSIVE,
     "data covers 3 d of 30 d (10 %) in {cluster=us}, under the 90 % needed to judge the budget: 90 % of the budget "
     "left over that data, not a verdict"),
    ([({"cluster": "eu"}, 0.9, FULL), ({"cluster": "us"}, 0.6, Coverage(28 * DAY, MONTH, 0.9))], Outcome.PASS,
     "60 % of the budget left (least of 2 series); data covers 28 d of 30 d (93 %)"),
    ([({"cluster": "eu"}, math.nan, FULL), ({"cluster": "us"}, 0.6, FULL)], Outcome.INCONCLUSIVE,
     "a series of the budget record is NaN; data covers 30 d of 30 d (100 %)"),
])
def test_budget_decision_over_budget_and_coverage(series, outcome, reason):
    result = judge(*series)
    assert (result.outcome, result.reason) == (outcome, reason)
    assert [e.note for e in result.evidence] == [c.text() for _, _, c in series]


def test_the_check_carries_the_coverage_of_the_series_its_reason_names():
    assert judge(({"cluster": "eu"}, 0.9, FULL), ({"cluster": "us"}, 0.9, THREE_DAYS)).coverage == THREE_DAYS
    assert judge(({"cluster": "eu"}, 0.9, THREE_DAYS), ({"cluster": "us"}, 0.05, FULL)).coverage == FULL
    assert judge(({"cluster": "eu"}, 0.9, FULL), ({"cluster": "us"}, 0.6, Coverage(28 * DAY, MONTH, 0.9))).coverage \
        == Coverage(28 * DAY, MONTH, 0.9)


def _budget_report(check: CheckResult) -> GateReport:
    return GateReport("budget", check.outcome, 1_767_225_600, "5m", "http://prometheus:9090", [check])


def test_json_has_coverage_for_budget_checks_only():
    held = judge(({}, 0.98, THREE_DAYS))
    doc = json.loads(to_json(_budget_report(held)))
    assert doc["checks"][0]["coverage"] == {"covered_seconds": 3 * DAY, "period_seconds": MONTH, "ratio": 0.1,
                                            "min_ratio": 0.9, "enough": False,
                                            "text": "data covers 3 d of 30 d (10 %)"}
    other = CheckResult("error ratio", "lukhas-core", Outcome.PASS, "fine", query="q")
    assert "coverage" not in json.loads(to_json(_budget_report(other)))["checks"][0]


def test_text_and_html_say_the_coverage():
    held = judge(({}, 0.98, THREE_DAYS))
    text = to_text(_budget_report(held), link_url=None).splitlines()
    assert text[3] == ("INCONCLUSIVE  lukhas-core  error budget availability  data covers 3 d of 30 d (10 %), under "
                       "the 90 % needed to judge the budget: 98 % of the budget left over that data, not a verdict")
    html = page.render(_budget_report(held), {})
    assert ("<p class=\"threshold coverage\">Data: the SLI's data covers 3 d of 30 d (10 %), under the 90 % the "
            "budget needs.</p>") in html
    passed = page.render(_budget_report(judge(({}, 0.8, FULL))), {})
    assert "<p class=\"threshold coverage\">Data: the SLI's data covers 30 d of 30 d (100 %).</p>" in passed
