"""The SLO engine: burn-rate maths, exact budgets, and every generated promtool test passing."""

from __future__ import annotations

import re
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest
import yaml

from lukhas_obs import conventions as conv
from lukhas_obs.generate import slo as engine
from lukhas_obs.generate.slotests import regex_example
from lukhas_obs.model import EVENT_SLIS
from lukhas_obs.spec import load_spec

from conftest import ROOT, run_cli, tool

SPEC = load_spec(ROOT / "specs" / "lukhas.yaml")
SMALL = ROOT / "tests" / "golden" / "small" / "spec.yaml"


def slo(service: str, name: str):
    return next(s for s in SPEC.slos if s.service == service and s.name == name)


def test_burn_rate_factors_follow_the_sre_workbook_for_30_days():
    core = slo("lukhas-core", "availability")
    page = [(w.short, w.long, w.factor) for w in conv.burn_windows(core, "page")]
    ticket = [(w.short, w.long, w.factor) for w in conv.burn_windows(core, "ticket")]
    assert page == [("5m", "1h", 14.4), ("30m", "6h", 6.0)]
    assert ticket == [("2h", "1d", 3.0), ("6h", "3d", 1.0)]


@pytest.mark.parametrize("period,page,ticket", [
    ("28d", [("5m", "56m"), ("28m", "5h36m")], [("1h52m", "22h24m"), ("5h36m", "2d19h12m")]),
    ("7d", [("5m", "14m"), ("7m", "1h24m")], [("28m", "5h36m"), ("1h24m", "16h48m")]),
])
def test_windows_scale_with_the_period_and_no_alert_fires_below_1x(period, page, ticket):
    """A fixed 30-day table over 7 days would open tickets at 0.7x and 0.23x the sustainable burn;
    scaled windows keep every alert's meaning (the same share of the budget) and factor."""
    from dataclasses import replace

    s = replace(slo("lukhas-core", "availability"), period=period)
    assert [(w.short, w.long) for w in conv.burn_windows(s, "page")] == page
    assert [(w.short, w.long) for w in conv.burn_windows(s, "ticket")] == ticket
    factors = [w.factor for kind in ("page", "ticket") for w in conv.burn_windows(s, kind)]
    assert factors == pytest.approx([14.4, 6, 3, 1])


def test_detection_time_matches_the_workbook():
    core = slo("lukhas-core", "availability")
    assert engine.detection_seconds(core, 1.0) == pytest.approx(51.84)           # 100 % errors
    assert engine.detection_seconds(core, 14.4 * 0.001 * 1.0001) == pytest.approx(3600, rel=1e-3)
    assert engine.detection_seconds(core, 0.005) is None                         # 0.5 % never pages


def test_period_budget_is_a_ratio_of_counts_not_an_average_of_ratios(generated_lukhas):
    rules = yaml.safe_load((generated_lukhas / "prometheus/rules/slo-lukhas-core-availability.rules.yml").read_text())
    by_name = {r.get("record"): r for g in rules["groups"] for r in g["rules"] if "record" in r}
    period = by_name["slo:sli_error:ratio_rate30d"]["expr"]
    sel = '{service="lukhas-core", slo="availability"}'
    assert period == (f"(sum_over_time(slo:sli_errors:rate5m{sel}[30d]))\n/\n"
                      f"(sum_over_time(slo:sli_total:rate5m{sel}[30d]))")
    assert "avg_over_time" not in yaml.safe_dump(rules)
    for w in ("5m", "30m", "1h", "2h", "6h", "1d", "3d", "30d"):
        assert f"slo:sli_error:ratio_rate{w}" in by_name
    for name in ("slo:objective:ratio", "slo:error_budget:remaining_ratio", "slo:error_budget:burn_rate1h"):
        assert name in by_name
    intervals = {g["name"]: g["interval"] for g in rules["groups"]}
    assert intervals == {"slo-lukhas-core-availability": "30s", "slo-lukhas-core-availability-long": "5m"}


def test_alerts_carry_the_labels_alertmanager_routes_on(generated_lukhas):
    rules = yaml.safe_load((generated_lukhas / "prometheus/rules/slo-lukhas-core-availability.rules.yml").read_text())
    alerts = {r["alert"]: r for g in rules["groups"] for r in g["rules"] if "alert" in r}
    assert alerts["SLOFastBurn"]["labels"] == {"severity": "critical", "priority": "P1",
                                               "service": "lukhas-core", "slo": "availability"}
    assert alerts["SLOSlowBurn"]["labels"]["priority"] == "P3"
    assert alerts["SLOMetricsAbsent"]["expr"] == 'absent(lukhas_http_requests_total{job="lukhas-core"})'
    ann = alerts["SLOFastBurn"]["annotations"]
    assert ann["description"] == (
        "Errors are spending the 30d error budget (0.1 % of requests) at 14.4x over 5m and 1h or 6x over 30m"
        " and 6h the sustainable rate. At 14.4x the whole budget is gone in about 2 days; at least 2 % of it"
        " is gone already. Act now.")
    assert ann["runbook_url"] == "https://runbooks.lukhas.ai/ga/slo-lukhas-core-availability"
    assert ann["dashboard_url"] == "https://grafana.lukhas.ai/d/lukhas-slos?var-service=lukhas-core"


def test_min_events_guards_low_traffic_slos(generated_lukhas):
    """Each burn clause of both alerts also asks for the spec's min_events over its long window
    (`>= 50` alone would also pass with 500, or with one window unguarded)."""
    auth = slo("lukhas-identity", "auth-latency")
    assert auth.min_events == 50
    path = generated_lukhas / "prometheus/rules/slo-lukhas-identity-auth-latency.rules.yml"
    rules = yaml.safe_load(path.read_text())
    alerts = {r["alert"]: r["expr"] for g in rules["groups"] for r in g["rules"] if "alert" in r}
    guard = re.compile(r'^sum\(increase\(lukhas_identity_auth_duration_seconds_count\{job="lukhas-identity"\}'
                       r'\[(\w+)\]\)\) >= (\d+)$', re.M)
    for alert, kind in (("SLOFastBurn", "page"), ("SLOSlowBurn", "ticket")):
        want = [(w.long, str(auth.min_events)) for w in conv.burn_windows(auth, kind)]
        assert len(want) == 2 and guard.findall(alerts[alert]) == want, alerts[alert]


def test_every_slo_has_a_promtool_test_beside_its_rules(generated_lukhas):
    rules_dir = generated_lukhas / "prometheus" / "rules"
    for s in SPEC.slos:
        test = yaml.safe_load((rules_dir / f"slo-{s.id}.test.yml").read_text())
        assert test["rule_files"] == [f"slo-{s.id}.rules.yml"]
        names = " | ".join(t["name"] for t in test["tests"])
        for phrase in ("healthy traffic stays silent", "total outage pages", "does not page", "absent alert"):
            assert phrase in names, (s.id, phrase)
        if isinstance(s.sli, EVENT_SLIS):
            for phrase in ("just below the page threshold", "opens a ticket", "no traffic stays silent"):
                assert phrase in names, (s.id, phrase)


def _promtool_test(path):
    return path, subprocess.run([tool("promtool"), "test", "rules", path.name], cwd=path.parent,
                                capture_output=True, text=True, timeout=300)


def test_every_generated_promtool_test_passes(generated_lukhas):
    files = sorted((generated_lukhas / "prometheus" / "rules").glob("*.test.yml"))
    assert len(files) == len(SPEC.slos)
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(_promtool_test, files))
    failed = [f"{p.name}:\n{r.stdout[-3000:]}{r.stderr[-1000:]}" for p, r in results if r.returncode != 0]
    assert not failed, "\n".join(failed)


def test_promtool_tests_catch_a_broken_rule(generated_lukhas, tmp_path):
    """The generated tests can fail: page thresholds ten times too high are caught."""
    import shutil

    src = generated_lukhas / "prometheus" / "rules"
    for name in ("slo-lukhas-core-availability.rules.yml", "slo-lukhas-core-availability.test.yml"):
        shutil.copy(src / name, tmp_path / name)
    rules = tmp_path / "slo-lukhas-core-availability.rules.yml"
    rules.write_text(rules.read_text().replace("> 0.0144", "> 0.144").replace("> 0.006\n", "> 0.06\n"))
    _, r = _promtool_test(tmp_path / "slo-lukhas-core-availability.test.yml")
    assert r.returncode != 0 and "total outage pages" in r.stdout + r.stderr


@pytest.mark.parametrize("pattern", ["5..", "[5]{3}", r"5\d\d", "(5|4)..", "error|fail", "[^2]..", r"\w{2,}",
                                     "(?:50[0-4])", "[a-c]?z", ".*", "x{3,5}"])
def test_a_label_regex_gets_a_value_it_matches(pattern):
    value = regex_example(pattern)
    assert value is not None and re.fullmatch(pattern, value), value


@pytest.mark.parametrize("pattern", ["a^b", "(", "x$y"])
def test_a_regex_nothing_matches_gets_no_example(pattern):
    assert regex_example(pattern) is None


def test_any_valid_selector_regex_generates_tests_promtool_passes(tmp_path):
    """`code=~"[5]{3}"` made generate crash; it now finds "555" and the generated tests pass."""
    spec = tmp_path / "spec.yaml"
    spec.write_text(SMALL.read_text().replace("""code=~"5.." """.strip(), 'code=~"[5]{3}"'))
    assert '[5]{3}' in spec.read_text()
    out = tmp_path / "generated"
    r = run_cli("generate", "--spec", str(spec), "--out", str(out), "--deployment-out", str(tmp_path / "dep"))
    assert r.returncode == 0, r.stderr
    tests = sorted((out / "prometheus" / "rules").glob("*.test.yml"))
    assert any('"555"' in t.read_text() for t in tests)
    p = subprocess.run([tool("promtool"), "test", "rules", *map(str, tests)], capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr


def test_a_selector_no_series_can_match_is_exit_2_not_a_crash(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(SMALL.read_text().replace("""code=~"5.." """.strip(), 'code=~"a^b"'))
    r = run_cli("generate", "--spec", str(spec), "--out", str(tmp_path / "g"), "--deployment-out", str(tmp_path / "d"))
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr
    assert r.stderr.splitlines() == [
        f'{spec}: cannot find a value of code that code=~"a^b" selects; nothing was written.']


ALLOWED_DAYS = range(5, 91)


@pytest.mark.parametrize("kind", ["page", "ticket"])
def test_every_allowed_period_gets_windows_that_make_sense(kind):
    """For every whole-day period the spec accepts: short windows of at least 5m, a long window
    at least twice the short one and shorter than the period, and a factor that means the same
    share of the budget as at 30 days, never below 1x (an alert for a budget not overspent)."""
    import dataclasses

    from lukhas_obs.durations import parse_duration

    base = slo("lukhas-core", "availability")
    reference = {(w.budget_consumed, w.factor) for w in conv.burn_windows(base, kind)}
    for days in ALLOWED_DAYS:
        windows = conv.burn_windows(dataclasses.replace(base, period=f"{days}d"), kind)
        assert {(w.budget_consumed, w.factor) for w in windows} == reference, days
        for w in windows:
            short, long = parse_duration(w.short), parse_duration(w.long)
            assert 300 <= short and 2 * short <= long < days * 86400 and w.factor >= 1, (days, w)


@pytest.mark.parametrize("period, problem", [
    ("4d", "outside the periods whose burn-rate windows make sense (5d to 90d)"),
    ("91d", "outside the periods"), ("13w", "outside the periods"), ("7d30s", "not a whole number of minutes"),
    ("0d", "longer than 0s"), ("7 days", "does not match"),
])
def test_a_period_without_sensible_windows_is_refused(tmp_path, period, problem):
    from lukhas_obs.errors import SpecError
    from lukhas_obs.spec.loader import load_spec_text

    text = SMALL.read_text().replace("period: 7d", f"period: {period}")
    with pytest.raises(SpecError) as err:
        load_spec_text(text, "spec.yaml")
    assert any(problem in p.message and p.path.endswith("slos[0].period") for p in err.value.problems), err.value


def test_periods_are_compared_as_durations():
    from lukhas_obs.spec.loader import load_spec_text

    spec = load_spec_text(SMALL.read_text().replace("period: 7d", "period: 1w").replace("period: 28d", "period: 4w"),
                          "spec.yaml")
    assert [s.period for s in spec.slos] == ["7d", "28d"]


def test_the_shortest_and_longest_periods_generate_tests_promtool_passes(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(SMALL.read_text().replace("period: 7d", "period: 90d").replace("period: 28d", "period: 5d"))
    out = tmp_path / "generated"
    r = run_cli("generate", "--spec", str(spec), "--out", str(out), "--deployment-out", str(tmp_path / "dep"))
    assert r.returncode == 0, r.stderr
    tests = sorted((out / "prometheus" / "rules").glob("*.test.yml"))
    assert len(tests) == 2
    p = subprocess.run([tool("promtool"), "test", "rules", *map(str, tests)], capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr


SLOTH_KEEPS = """        labels: {team: payments, tier: "1"}
        annotations: {playbook: "https://wiki.example/checkout"}
        alerts:
          page: {name: CheckoutErrorBudgetBurn, labels: {routing_key: payments-oncall},
                 annotations: {summary: "Checkout is burning its budget"}}
          ticket: {disable: true}
"""


def _small_with(extra: str) -> str:
    anchor = "        page: P1\n        ticket: P3\n      - name: latency"
    text = SMALL.read_text()
    assert text.count(anchor) == 1
    return text.replace(anchor, "        page: P1\n        ticket: P3\n" + extra + "      - name: latency")


def test_slo_labels_annotations_alert_names_and_a_disabled_alert(tmp_path):
    """What Sloth users keep: the SLO's labels on every rule, its annotations on every alert, the
    page alert renamed with labels and annotations of its own, the ticket alert disabled; the
    generated promtool tests follow (and pass)."""
    spec = tmp_path / "spec.yaml"
    spec.write_text(_small_with(SLOTH_KEEPS))
    out = tmp_path / "generated"
    r = run_cli("generate", "--spec", str(spec), "--out", str(out), "--deployment-out", str(tmp_path / "dep"))
    assert r.returncode == 0, r.stderr
    rules = [r for g in yaml.safe_load((out / "prometheus/rules/slo-checkout-errors.rules.yml").read_text())["groups"]
             for r in g["rules"]]
    assert all(r["labels"]["team"] == "payments" and r["labels"]["tier"] == "1" for r in rules)
    alerts = {r["alert"]: r for r in rules if "alert" in r}
    assert set(alerts) == {"CheckoutErrorBudgetBurn", "SLOMetricsAbsent"}
    page = alerts["CheckoutErrorBudgetBurn"]
    assert page["labels"]["routing_key"] == "payments-oncall" and page["labels"]["priority"] == "P1"
    assert page["annotations"]["summary"] == "Checkout is burning its budget"
    assert page["annotations"]["playbook"] == "https://wiki.example/checkout"
    # the generated annotations stay beside the spec's (no runbook_url and no dashboard_url: the small
    # spec has neither a runbook base URL nor a Grafana URL)
    assert sorted(page["annotations"]) == ["description", "playbook", "summary"]
    assert alerts["SLOMetricsAbsent"]["annotations"]["playbook"] == "https://wiki.example/checkout"
    test_file = out / "prometheus/rules/slo-checkout-errors.test.yml"
    expected = {a["alertname"] for t in yaml.safe_load(test_file.read_text())["tests"]
                for a in t.get("alert_rule_test", [])}
    assert expected == {"CheckoutErrorBudgetBurn", "SLOMetricsAbsent"}
    p = subprocess.run([tool("promtool"), "test", "rules", str(test_file)], capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr


@pytest.mark.parametrize("extra, path, problem", [
    ("        labels: {severity: low}\n", "slos[0].labels.severity", "is set by lukhas-obs on every rule"),
    ("        alerts: {ticket: {name: SLOFastBurn}}\n", "slos[0].alerts.ticket.name", "are both 'SLOFastBurn'"),
    ("        alerts: {page: {name: 'fast burn'}}\n", "slos[0].alerts.page.name", "does not match"),
    ("        annotations: {x: '{{ .Broken'}\n", "slos[0].annotations.x", "not a valid Go template"),
    ("        labels: {__meta: x}\n", "slos[0].labels", "a name starting with __, which Prometheus reserves"),
])
def test_slo_alert_settings_prometheus_would_refuse_are_refused(extra, path, problem):
    from lukhas_obs.errors import SpecError
    from lukhas_obs.spec.loader import load_spec_text

    with pytest.raises(SpecError) as err:
        load_spec_text(_small_with(extra), "spec.yaml")
    assert any(p.path.endswith(path) and problem in p.message for p in err.value.problems), err.value
