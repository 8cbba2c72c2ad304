"""A time-based SLI (availability, threshold) in a young Prometheus: one failed scrape among the
few samples its windows hold must not page (min_samples), and an SLO whose window can never hold
enough samples to tell one failed scrape from a burn is refused (tests/test_spec_errors.py)."""

from __future__ import annotations

import re
import subprocess
from dataclasses import replace

import pytest
import yaml

from lukhas_obs import conventions as conv
from lukhas_obs.spec.loader import load_spec_text

from conftest import ROOT, run_cli, tool

SMALL = (ROOT / "tests" / "golden" / "small" / "spec.yaml").read_text()
ERRORS_SLO = """        objective: 99.5
        period: 7d
        sli:
          ratio:
            errors: 'http_requests_total{code=~"5.."}'
            total: http_requests_total
"""


def small_with(sli: str, objective: str = "99.9", period: str = "30d") -> str:
    """The small spec whose first SLO (checkout/errors) is a time-based SLI."""
    assert SMALL.count(ERRORS_SLO) == 1 and SMALL.count("\nmetrics:\n") == 1
    return (SMALL.replace(ERRORS_SLO, f"        objective: {objective}\n        period: {period}\n        sli: {sli}\n")
            .replace("\nmetrics:\n", "\nmetrics:\n  queue_depth: {type: gauge}\n"))


@pytest.mark.parametrize("sli, objective, scrape, evaluation, page_long, weight, needed", [
    # one failed scrape, seen by one 30 s evaluation, must stay at or under 14.4 x 0.1 %: 1/70 < 1.44 %
    ("{availability: {}}", "99.9", "15s", "30s", "1h", 1, 70),
    ("{availability: {}}", "99.9", "30s", "30s", "1h", 1, 70),
    # a 60 s scrape is the latest sample for two 30 s evaluations: 2/28 < 14.4 x 0.5 % (at 99.9 %
    # the 120 samples of 1h could never hold the 139 needed: refused, see test_spec_errors)
    ("{availability: {}}", "99.5", "60s", "30s", "1h", 2, 28),
    ("{availability: {}}", "99", "15s", "30s", "1h", 1, 7),
    ("{threshold: {metric: queue_depth, max: 100}}", "99.9", "30s", "30s", "1h", 1, 70),
])
def test_min_samples_is_what_keeps_one_failed_scrape_under_the_threshold(sli, objective, scrape, evaluation,
                                                                          page_long, weight, needed):
    text = small_with(sli, objective).replace("  scrape_interval: 30s", f"  scrape_interval: {scrape}\n"
                                              f"  slo_evaluation_interval: {evaluation}")
    spec = load_spec_text(text, "spec.yaml")
    slo = spec.slos[0]
    fastest = max(conv.burn_windows(slo, "page"), key=lambda w: w.factor)
    assert (fastest.long, conv.failed_scrape_weight(spec.prometheus)) == (page_long, weight)
    assert conv.min_samples(spec.prometheus, slo, fastest) == needed
    # the guard is the least count at which one failed scrape is not above the threshold
    threshold = fastest.threshold(slo)
    assert weight / needed <= threshold < weight / (needed - 1)


def test_request_slis_and_timeslices_have_no_min_samples():
    spec = load_spec_text(SMALL, "spec.yaml")
    for slo in spec.slos:   # a ratio and a latency SLI: min_events is theirs
        assert [conv.min_samples(spec.prometheus, slo, w) for w in conv.burn_windows(slo, "page")] == [None, None]
    sliced = load_spec_text(small_with("{availability: {}}"), "spec.yaml").slos[0]
    from lukhas_obs.model import Timeslices
    sliced = replace(sliced, timeslices=Timeslices(window="5m", target=0.9))
    assert conv.min_samples(spec.prometheus, sliced, conv.burn_windows(sliced, "page")[0]) is None


def _generate(tmp_path, text: str):
    (tmp_path / "spec.yaml").write_text(text)
    out = tmp_path / "generated"
    r = run_cli("generate", "--spec", str(tmp_path / "spec.yaml"), "--out", str(out),
                "--deployment-out", str(tmp_path / "deployment"))
    assert r.returncode == 0, r.stderr
    return out / "prometheus" / "rules"


def _promtool(path) -> subprocess.CompletedProcess:
    return subprocess.run([tool("promtool"), "test", "rules", path.name], cwd=path.parent, capture_output=True,
                          text=True, timeout=300)


@pytest.mark.parametrize("sli", ["{availability: {}}", "{availability: {source: probe}}"])
def test_a_young_prometheus_does_not_page_on_one_failed_scrape_and_pages_on_an_outage(tmp_path, sli):
    """promtool replays the generated scenarios: one failed scrape 2 minutes after the start is
    silent, and an outage from the 5th minute pages exactly when the 1h window holds 70 samples
    (35 minutes: 69 evaluations after the first); the same scenarios fail against the rules
    without the guard, so they test it."""
    rules = _generate(tmp_path, small_with(sli))
    test_file = rules / "slo-checkout-errors.test.yml"
    names = [t["name"] for t in yaml.safe_load(test_file.read_text())["tests"]]
    young = [n for n in names if "Prometheus" in n]
    assert young == ["in a Prometheus 2m old, one failed scrape does not page",
                     "an outage in a Prometheus 5m old pages once the 1h window holds 70 samples (34m30s)"]
    r = _promtool(test_file)
    assert r.returncode == 0, r.stdout + r.stderr
    if "probe" in sli:
        return   # the guard is the same; once without it is enough

    rule_file = rules / "slo-checkout-errors.rules.yml"
    text = rule_file.read_text()
    guard = re.compile(r"\n *and\n *sum_over_time\(slo:sli_total:count\{[^}]*\}\[\w+\]\) >= \d+")
    assert len(guard.findall(text)) == 4   # each pair of the page and of the ticket alert
    rule_file.write_text(guard.sub("", text))
    # only the two scenarios about a young Prometheus, against the rules without the guard
    document = yaml.safe_load(test_file.read_text())
    document["tests"] = [t for t in document["tests"] if t["name"] in young]
    test_file.write_text(yaml.safe_dump(document, sort_keys=False))
    r = _promtool(test_file)
    assert r.returncode == 1
    failed = list(dict.fromkeys(re.findall(r"name: (.*),\n", r.stdout + r.stderr)))
    assert failed == young, r.stdout + r.stderr


def test_a_spike_of_bad_samples_is_seen_by_the_sli_and_does_not_page(tmp_path):
    """The spike scenario of a time-based SLI: its bad samples start on an evaluation (one between
    two evaluations is never counted, and the scenario would prove nothing), the SLI counts them
    (a promtool expression test), and its share of the budget is what they count: at 99.9 % over
    30 days the budget is 2,592 s, less than 0.5 % of it is one 30 s evaluation, so one bad
    evaluation, 1.2 %. Against rules whose page reads the 5m window alone, the scenario fails."""
    text = small_with("{availability: {}}").replace("  scrape_interval: 30s", "  scrape_interval: 15s")
    rules = _generate(tmp_path, text)
    test_file = rules / "slo-checkout-errors.test.yml"
    document = yaml.safe_load(test_file.read_text())
    spike = [t for t in document["tests"] if "spike" in t["name"]]
    assert [t["name"] for t in spike] == [
        "6h of healthy traffic stays silent; a 15s spike at 100% errors, 1.2 % of the budget (1 bad evaluation), "
        "does not page; an hour later a total outage pages within 52s (burn-rate maths) plus evaluation"]
    assert [(t["expr"], t["exp_samples"][0]["value"]) for t in spike[0]["promql_expr_test"]] == [
        ('sum_over_time(slo:sli_errors:count{service="checkout", slo="errors"}[1h])', 1)]
    document["tests"] = spike
    test_file.write_text(yaml.safe_dump(document, sort_keys=False))
    r = _promtool(test_file)
    assert r.returncode == 0, r.stdout + r.stderr

    rule_file = rules / "slo-checkout-errors.rules.yml"
    text = rule_file.read_text()
    assert text.count("slo:sli_error:ratio_rate1h{") == 2   # the page's pair and the burn-rate record
    guard = re.compile(r"\n *and\n *sum_over_time\(slo:sli_total:count\{[^}]*\}\[\w+\]\) >= \d+")
    rule_file.write_text(guard.sub("", text.replace("slo:sli_error:ratio_rate1h{", "slo:sli_error:ratio_rate5m{")))
    r = _promtool(test_file)
    assert r.returncode == 1 and "spike" in r.stdout + r.stderr, r.stdout + r.stderr
