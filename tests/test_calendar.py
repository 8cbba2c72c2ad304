"""Calendar-aligned error budgets (issue #16): `period: {calendar: week|month|quarter, timezone}`.
Refused at its line with an unknown zone or unit; the rules' phase expression agrees with
zoneinfo on a real Prometheus at period starts, daylight saving months included; the generated
promtool scenario (the budget starts afresh at the period start in the zone) passes, and fails
when the rules do not reset; the gate measures the budget since the period start; OpenSLO
calendar windows import and export."""

from __future__ import annotations

import subprocess
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from lukhas_obs import calendar
from lukhas_obs import conventions as conv
from lukhas_obs.errors import SpecError
from lukhas_obs.gate import run_gate
from lukhas_obs.gate.client import PromClient
from lukhas_obs.generate import render
from lukhas_obs.importers.openslo import import_openslo
from lukhas_obs.model import Calendar
from lukhas_obs.openslo import export_text
from lukhas_obs.spec.loader import load_spec, load_spec_text

from conftest import tool
from promserver import Prometheus, backfilled

SPEC = Path(__file__).parent / "specs" / "calendar.yaml"


@pytest.fixture(scope="module")
def spec():
    return load_spec(SPEC)


def _utc(*args) -> float:
    return datetime(*args, tzinfo=UTC).timestamp()


def test_calendar_periods_load_with_nominal_burn_windows(spec):
    slos = {s.name: s for s in spec.slos}
    assert slos["monthly"].calendar == Calendar("month", "America/New_York")
    assert slos["quarterly-up"].calendar == Calendar("quarter", "America/Sao_Paulo")
    assert [s.period for s in spec.slos] == ["30d", "7d", "90d"]
    # the paging stays multi-window burn-rate, scaled from the nominal length as a rolling 30d is
    rolling = load_spec_text(SPEC.read_text().replace("{calendar: month, timezone: America/New_York}", "30d"),
                             "rolling.yaml")
    assert conv.burn_windows(slos["monthly"], "page") == conv.burn_windows(rolling.slos[0], "page")
    default = load_spec_text(SPEC.read_text().replace(", timezone: America/New_York", ""), "utc.yaml")
    assert default.slos[0].calendar == Calendar("month", "UTC")


@pytest.mark.parametrize("period, message", [
    ("{calendar: month, timezone: Mars/Olympus}",
     "period.timezone: 'Mars/Olympus' is not an IANA time zone"),
    ("{calendar: month, timezone: /etc/passwd}", "period.timezone: '/etc/passwd' is not an IANA time zone"),
    ("{calendar: month, timezone: localtime}", "period.timezone: 'localtime' is not an IANA time zone"),
    ("{calendar: month, timezone: Factory}", "period.timezone: 'Factory' is not an IANA time zone"),
    ("{calendar: month, timezone: EST5EDT}", "period.timezone: 'EST5EDT' is a legacy zone name"),
    ("{calendar: fortnight}", "period"),
    ("{calendar: month, zone: UTC}", "period"),
])
def test_an_unknown_zone_or_unit_is_refused_at_its_line(period, message):
    text = SPEC.read_text().replace("{calendar: month, timezone: America/New_York}", period)
    line = next(i for i, t in enumerate(text.splitlines(), 1) if period in t)
    with pytest.raises(SpecError) as err:
        load_spec_text(text, "cal.yaml")
    assert any(p.startswith(f"cal.yaml:{line}:") and message in p for p in map(str, err.value.problems)), \
        err.value.problems


def test_offset_table_holds_the_daylight_saving_changes():
    base, changes = calendar.offsets("Europe/Berlin")
    assert base == 3600
    assert (_utc(2026, 3, 29, 1), 7200) in [(float(t), o) for t, o in changes]
    assert (_utc(2026, 10, 25, 1), 3600) in [(float(t), o) for t, o in changes]
    assert calendar.offsets("UTC") == (0, ())
    assert calendar.offsets("Asia/Kathmandu") == (20700, ())


def _expected_phase(cal: Calendar, at: float) -> int:
    local = datetime.fromtimestamp(at, ZoneInfo(cal.timezone))
    if cal.unit == "week":
        return ((local.date() - datetime(1969, 12, 29).date()).days // 7) % 3
    return local.month % 3 if cal.unit == "month" else (local.month - 1) // 3


# period starts at which the zone's UTC offset differs from the previous start's (daylight saving)
STARTS = [
    (Calendar("month", "Europe/Berlin"), _utc(2026, 3, 31, 22)),      # April, CEST; March began in CET
    (Calendar("month", "Europe/Berlin"), _utc(2026, 10, 31, 23)),     # November, CET; October began in CEST
    (Calendar("week", "America/New_York"), _utc(2026, 11, 2, 5)),     # the week after DST ended (Nov 1)
    (Calendar("week", "America/New_York"), _utc(2026, 3, 9, 4)),      # the week after DST began (Mar 8)
    (Calendar("quarter", "Australia/Sydney"), _utc(2026, 9, 30, 14)),  # Q4, AEST; DST begins Oct 4
    (Calendar("month", "Asia/Kathmandu"), _utc(2026, 11, 30, 18, 15)),  # +05:45
    (Calendar("quarter", "UTC"), _utc(2027, 1, 1)),
]


def test_the_rules_phase_turns_at_each_period_start_on_a_real_prometheus(tmp_path):
    """calendar.phase (what the rules record and compare) evaluated by Prometheus 2.42 at a
    minute before, at, and a day after period starts where daylight saving moved the offset,
    against zoneinfo; and zoneinfo's period_start is where it turns."""
    (tmp_path / "prometheus.yml").write_text("global: {scrape_interval: 1m}\n")
    prom = Prometheus(tmp_path, tmp_path / "d")
    try:
        for cal, start in STARTS:
            assert calendar.period_start(cal, start + 86400) == start, cal
            assert calendar.period_start(cal, start - 60) < start - 86400 * 6, cal
            got = {at: int(float(prom.query(calendar.phase(cal), at)[0]["value"][1]))
                   for at in (start - 60, start, start + 86400)}
            assert got == {at: _expected_phase(cal, at) for at in got}, (cal, got)
            assert got[start - 60] != got[start] == got[start + 86400], (cal, got)
    finally:
        prom.stop()


@pytest.fixture(scope="module")
def rules(spec, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("calendar-rules")
    for path, text in render(spec).items():
        if path.startswith("prometheus/rules/"):
            (out / Path(path).name).write_text(text)
    return out


def _only_calendar(test_file: Path, dest: Path, rule_file: Path | None = None) -> None:
    doc = yaml.safe_load(test_file.read_text())
    doc["tests"] = [t for t in doc["tests"] if t["name"].startswith("the budget starts afresh")]
    assert doc["tests"], test_file
    if rule_file is not None:
        doc["rule_files"] = [str(rule_file)]
    dest.write_text(yaml.safe_dump(doc))


def test_generated_reset_scenario_passes_and_fails_when_the_budget_does_not_reset(rules, tmp_path):
    """The month (New York, 05:00Z) and the quarter (Sao Paulo, 03:00Z) start hours after
    promtool's 1970-01-01T00:00Z: their files test the reset; the week (Berlin) starts days later,
    too far for promtool to replay cheaply, so it has no such scenario."""
    assert "afresh" not in (rules / "slo-web-weekly-latency.test.yml").read_text()
    names = ("monthly", "quarterly-up")
    for n in names:
        _only_calendar(rules / f"slo-web-{n}.test.yml", tmp_path / f"ok-{n}.test.yml",
                       rules / f"slo-web-{n}.rules.yml")
    # wrong rules: every evaluation tagged with the same phase, so the month never turns
    broken = yaml.safe_load((rules / "slo-web-monthly.rules.yml").read_text())
    for group in broken["groups"]:
        for rule in group["rules"]:
            if rule.get("record") == conv.PERIOD_PHASE:
                rule["expr"] = "vector(0)"
    (tmp_path / "broken.rules.yml").write_text(yaml.safe_dump(broken))
    _only_calendar(rules / "slo-web-monthly.test.yml", tmp_path / "bad.test.yml", tmp_path / "broken.rules.yml")
    runs = [["ok-monthly.test.yml", "ok-quarterly-up.test.yml"], ["bad.test.yml"]]
    with ThreadPoolExecutor(2) as pool:
        ok, bad = pool.map(lambda files: subprocess.run([tool("promtool"), "test", "rules", *files], cwd=tmp_path,
                                                        capture_output=True, text=True, timeout=300), runs)
    assert ok.returncode == 0, ok.stdout[-3000:] + ok.stderr[-3000:]
    assert bad.returncode != 0 and "== bool 1" in bad.stdout + bad.stderr, bad.stdout[-3000:]


def _records(start: float, end: float, switch: float, gap: tuple[float, float] | None = None) -> str:
    """The monthly SLO's 5m records as OpenMetrics, every 5 minutes from `start` and every minute
    from a day before `switch` (none inside `gap`): 50 % errors before `switch`, 0.2 % after."""
    labels = '{service="web",slo="monthly"}'
    times = [t for t in [*range(int(start), int(switch) - 86400, 300), *range(int(switch) - 86400, int(end) + 1, 60)]
             if not (gap and gap[0] < t < gap[1])]
    return "\n".join(["# TYPE slo:sli_errors:rate5m gauge"]
                     + [f"slo:sli_errors:rate5m{labels} {5 if t < switch else 0.02} {t}" for t in times]
                     + ["# TYPE slo:sli_total:rate5m gauge"]
                     + [f"slo:sli_total:rate5m{labels} 10 {t}" for t in times]) + "\n# EOF\n"


def test_gate_budget_counts_from_the_period_start_in_the_zone(spec, tmp_path):
    """New York's November 2026 starts at 04:00Z on 1 November (EDT; DST ends two hours later).
    Half the requests failed before, 0.2 % after: an hour before the start October is overspent;
    twelve hours after it 80 % of the budget is left, said with the period and the data's
    coverage of it; a period with no data yet is INCONCLUSIVE, never PASS; and so is one whose
    data covers too little of it (records missing from 14 h to 20 h after the start)."""
    start = _utc(2026, 11, 1, 4)
    october = _utc(2026, 10, 1, 4)
    prom = backfilled(tmp_path, _records(october, start + 86400, start, gap=(start + 14 * 3600, start + 20 * 3600)))
    try:
        def budget(at: float):
            report = run_gate(spec, "budget", PromClient(prom.url, timeout=10), at=at, services=["web"])
            return next(c for c in report.checks if c.name == "error budget monthly")

        after = budget(start + 12 * 3600)
        assert after.outcome.name == "PASS", after.reason
        assert after.reason == ("November 2026, America/New_York, 12 h 0 min so far: 80 % of the budget left; "
                                "data covers 12 h of 12 h (100 %)")
        before = budget(start - 3600)
        assert before.outcome.name == "FAIL", before.reason
        assert before.reason == ("October 2026, America/New_York, 30 d 23 h so far: overspent: -4,900 % of the budget "
                                 "left; data covers 30 d 23 h of 30 d 23 h (100 %)")
        # 16 h of the 22 h have records; the count sees the last record before the gap one 5m
        # step into it (Prometheus' lookback) and counts whole steps: 16 h 10 min, 73 %
        gapped = budget(start + 22 * 3600)
        assert gapped.outcome.name == "INCONCLUSIVE", gapped.reason
        assert gapped.reason == ("November 2026, America/New_York, 22 h 0 min so far: data covers 16 h 10 min of 22 h "
                                 "(73 %), under the 90 % needed to judge the budget: 80 % of the budget left over "
                                 "that data, not a verdict")
        empty = budget(_utc(2026, 12, 1, 7))      # December began at 05:00Z (EST): no data since
        assert empty.outcome.name == "INCONCLUSIVE", empty.reason
        assert empty.reason == ("December 2026, America/New_York, 2 h 0 min so far: no data for the SLI in the "
                                "period so far")
        # min_events counts the requests since the start (here no request counter at all)
        few = load_spec_text(SPEC.read_text().replace("        objective: 99\n", "        objective: 99\n"
                                                      "        min_events: 100\n", 1), "few.yaml")
        report = run_gate(few, "budget", PromClient(prom.url, timeout=10), at=start + 12 * 3600, services=["web"])
        held = next(c for c in report.checks if c.name == "error budget monthly")
        assert held.outcome.name == "INCONCLUSIVE", held.reason
        assert held.reason == ("November 2026, America/New_York, 12 h 0 min so far: 0 requests so far, fewer than "
                               "min_events 100")
    finally:
        prom.stop()


def test_openslo_calendar_windows_round_trip(spec):
    text = export_text(spec)
    docs = [d for d in yaml.safe_load_all(text) if d["kind"] == "SLO"]
    assert docs[0]["spec"]["timeWindow"] == [{"duration": "1M", "isRolling": False, "calendar": {
        "startTime": "2024-01-01 00:00:00", "timeZone": "America/New_York"}}]
    back = import_openslo([("export.yaml", text, None)])
    periods = [o.entry["period"] for o in back.imported]
    assert periods == [{"calendar": "month", "timezone": "America/New_York"},
                       {"calendar": "week", "timezone": "Europe/Berlin"},
                       {"calendar": "quarter", "timezone": "America/Sao_Paulo"}]


@pytest.mark.parametrize("window, outcome", [
    ({"duration": "1M", "isRolling": False, "calendar": {"startTime": "2022-01-01 12:00:00",
                                                         "timeZone": "America/New_York"}},
     "note: calendar startTime 2022-01-01 12:00:00 moved"),
    ({"duration": "3M", "isRolling": False, "calendar": {"startTime": "2022-01-01 00:00:00"}},
     "note: calendar window of 3M without a timeZone: UTC"),
    ({"duration": "1Y", "isRolling": False, "calendar": {"startTime": "2022-01-01 00:00:00", "timeZone": "UTC"}},
     "a calendar window of '1Y': the spec's calendar periods are a week, a month or a quarter"),
    ({"duration": "1M", "isRolling": False, "calendar": {"startTime": "2022-01-01 00:00:00",
                                                         "timeZone": "Europe/Atlantis"}},
     "'Europe/Atlantis' is not an IANA time zone"),
])
def test_openslo_calendar_windows_import_with_notes_or_reasons(window, outcome):
    doc = {"apiVersion": "openslo/v1", "kind": "SLO", "metadata": {"name": "avail"}, "spec": {
        "service": "web", "budgetingMethod": "Occurrences", "timeWindow": [window],
        "indicator": {"metadata": {"name": "errors"}, "spec": {"ratioMetric": {
            "counter": True,
            "bad": {"metricSource": {"type": "Prometheus", "spec": {
                "query": 'http_requests_total{job="web",code=~"5.."}'}}},
            "total": {"metricSource": {"type": "Prometheus", "spec": {"query": 'http_requests_total{job="web"}'}}}}}},
        "objectives": [{"target": 0.99}]}}
    result = import_openslo([("slo.yaml", yaml.safe_dump(doc), None)])
    (one,) = result.outcomes
    said = "\n".join([f"note: {n}" for n in one.notes] + [str(b) for b in one.blockers])
    assert outcome in said, said


def test_the_stack_keeps_samples_as_long_as_the_longest_slo_reads_back(spec):
    """A quarter's budget reads 93 days back: the compose stack's Prometheus keeps that long (it
    kept 30 days whatever the SLOs, so a quarter was silently measured over its last 30 days)."""
    from lukhas_obs.generate import render_deployment

    compose = yaml.safe_load(next(iter(render_deployment(spec).values())))
    flags = compose["services"]["prometheus"]["command"]
    retention = [f for f in flags if f.startswith("--storage.tsdb.retention.time=")]
    assert retention == ["--storage.tsdb.retention.time=93d"]   # the spec's São Paulo quarter
    lukhas = yaml.safe_load((Path(__file__).parent.parent / "deployment" /
                             "docker-compose.observability.yml").read_text())
    assert [f for f in lukhas["services"]["prometheus"]["command"] if f.startswith("--storage.tsdb.retention.time=")] \
        == ["--storage.tsdb.retention.time=30d"]
