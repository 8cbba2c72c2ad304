"""The generated rules run unchanged on a second, independent rule engine: VictoriaMetrics'
vmalert, evaluating them against a VictoriaMetrics server that a real Prometheus remote-writes
the synthetic workload's series to."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from lukhas_obs import calendar
from lukhas_obs import conventions as conv
from lukhas_obs.demo import Webhook
from lukhas_obs.generate import render
from lukhas_obs.generate.yamlout import dump
from lukhas_obs.spec import load_spec

from conftest import ROOT, SPEC, Process, free_port, wait_until
from promserver import Prometheus, VictoriaMetrics, local_config, start_workload
from test_calendar import _expected_phase

pytestmark = pytest.mark.integration


def test_rules_evaluate_on_vmalert(tmp_path, generated_lukhas):
    exe = shutil.which("vmalert")
    if not exe:
        pytest.skip("vmalert (Debian victoria-metrics) is not installed")
    vm = VictoriaMetrics(tmp_path)
    workload, address = start_workload(SPEC, tmp_path / "workload.log", rps=100)
    hook, prom, vmalert = Webhook(), None, None
    try:
        cfg = local_config(tmp_path / "prom", address)
        doc = yaml.safe_load((cfg / "prometheus.yml").read_text())
        doc["rule_files"] = []  # only vmalert evaluates the rules here
        doc["remote_write"] = [{"url": f"{vm.url}/api/v1/write", "queue_config": {"batch_send_deadline": "1s"}}]
        (cfg / "prometheus.yml").write_text(dump(doc))
        prom = Prometheus(cfg, tmp_path / "data")
        port = free_port()
        vmalert = Process([exe, f"-rule={cfg / 'rules'}/*.rules.yml", f"-datasource.url={vm.url}",
                           f"-remoteWrite.url={vm.url}", f"-notifier.url={hook.start()}",
                           f"-httpListenAddr=127.0.0.1:{port}", "-evaluationInterval=1s"], tmp_path / "vmalert.log")

        def groups():
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/rules", timeout=5) as r:
                return json.loads(r.read())["data"]["groups"]

        loaded = wait_until(groups, timeout=30, what="vmalert serving its groups")
        expected = {g["name"] for f in (generated_lukhas / "prometheus" / "rules").glob("*.rules.yml")
                    for g in yaml.safe_load(f.read_text())["groups"]}
        assert {g["name"] for g in loaded} == expected
        spec = load_spec(SPEC)

        def every_slo_recorded():
            return all(vm.query(f'slo:sli_error:ratio_rate5m{{service="{s.service}", slo="{s.name}"}}')
                       for s in spec.slos)

        wait_until(every_slo_recorded, timeout=90, interval=2,
                   what="vmalert's records for every SLO in VictoriaMetrics")
        errors = [f"{g['name']}/{r['name']}: {r['lastError']}"
                  for g in groups() for r in g["rules"] if r.get("lastError")]
        assert not errors, "\n".join(errors)
        # records built on records (the period's budget reads the 5m counts) arrive too
        wait_until(lambda: vm.query('slo:error_budget:remaining_ratio{service="lukhas-core", slo="availability"}'),
                   timeout=60, interval=2, what="the budget record, computed from recorded counts")
    finally:
        if vmalert:
            vmalert.stop()
        if prom:
            prom.stop()
        workload.stop()
        vm.stop()
        if hasattr(hook, "server"):
            hook.stop()


# ---- calendar-aligned budgets on vmalert -------------------------------------------------------

CALENDAR = ROOT / "tests" / "specs" / "calendar.yaml"
# An instant inside a period of each SLO of tests/specs/calendar.yaml whose start the replay spans:
# New York's November 2025 (EDT; summer time ends the next day), Berlin's first week of winter
# time (the offset changed the day before) and São Paulo's Q4 2025 (no daylight saving).
INSIDE = {"monthly": "2025-11-01T12:00:00Z", "weekly-latency": "2025-10-27T12:00:00Z",
          "quarterly-up": "2025-10-01T12:00:00Z"}
EVAL, LONG = 30, 300     # the calendar spec's evaluation intervals (fast and -long groups)
HALF = 1800              # the replay runs from half an hour before the period start to half an hour after
SWITCH = 600             # the service got better 10 minutes before the start (5m windows: pure from start - 5m)
DOWN = (600, 900)        # and the availability SLO's target was down from start + 10m to start + 15m


def _ts(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp())


def _iso(t: int) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _up(start: int, t: int) -> int:
    """The availability SLO's `up`: every other 30 s down until the switch, down in DOWN after the start."""
    if t < start - SWITCH:
        return (t // 30) % 2
    return 0 if DOWN[0] <= t - start < DOWN[1] else 1


def _history(name: str, start: int) -> list[str]:
    """Samples every 10 s (every 15 s for `up`) of what the SLO reads, as OpenMetrics lines:
    half the requests failed (or were slow) until SWITCH before the start, 0.5 % after."""
    out, bad, good = [], 0, 0
    step = 15 if name == "quarterly-up" else 10
    for t in range(start - HALF - 600, start + HALF + 1, step):
        if name == "monthly":
            out += [f'http_requests_total{{job="web",code="500"}} {bad} {t}',
                    f'http_requests_total{{job="web",code="200"}} {good} {t}']
        elif name == "weekly-latency":
            out += [f'http_request_duration_seconds_bucket{{job="web",le="{le}"}} {n} {t}'
                    for le, n in (("0.1", good), ("0.3", good), ("1", good + bad), ("3", good + bad),
                                  ("+Inf", good + bad))]
            out.append(f'http_request_duration_seconds_count{{job="web"}} {good + bad} {t}')
        else:
            out.append(f'up{{job="web"}} {_up(start, t)} {t}')
        bad, good = (bad + 100, good + 100) if t < start - SWITCH else (bad + 1, good + 199)
    return out


def _expected_ratio(slo, start: int, at: int) -> float | None:
    """The error ratio since the period holding `at` started (zoneinfo), from the data above and
    the SLO's 30 s evaluations; None where a 5m rate window holds the switch (a rate's value there
    is the engine's own business, not the calendar's)."""
    begin = max(calendar.period_start(slo.calendar, at), start - HALF)   # the replay's first evaluation
    evals = range(int(begin), at + 1, EVAL)
    if slo.name == "quarterly-up":   # count(up == 0) / count(up) per evaluation
        return sum(1 - _up(start, t) for t in evals) / len(evals)
    if any(start - SWITCH <= t < start - SWITCH + 300 for t in evals):
        return None
    return sum(0.5 if t < start - SWITCH else 0.005 for t in evals) / len(evals)


def _calendar_stages(rules: Path, slo) -> list[dict]:
    """The SLO's generated rule file cut to the rules its calendar budget is built from (the 5m
    inputs, the phase, the tagged copies, the period ratio and the budget; each rule and group as
    generated), in stages: a rule's stage follows the stages of the records it reads. vmalert's
    replay writes a rule's results asynchronously, so a rule replayed right after one it reads may
    not see them (-replay.rulesDelay is a guess at that time, paid after every rule); stage by
    stage, with VictoriaMetrics flushed in between, nothing is guessed."""
    tagged = [name for name, _ in conv.period_tagged(slo)]
    keep = {*tagged, *(n.removesuffix("_period") for n in tagged), conv.PERIOD_PHASE, conv.PERIOD_RATIO,
            conv.BUDGET_REMAINING}
    doc = yaml.safe_load((rules / f"slo-{slo.service}-{slo.name}.rules.yml").read_text())
    found = [(g, r) for g in doc["groups"] for r in g["rules"] if r.get("record") in keep]
    assert sorted(r["record"] for _, r in found) == sorted(keep), found
    stage: dict[str, int] = {}
    for _, rule in found:     # the generator writes a record before the rules that read it
        reads = [n for n in stage if re.search(re.escape(n) + r"(?![\w:])", rule["expr"])]
        stage[rule["record"]] = 1 + max((stage[n] for n in reads), default=-1)
    return [{"groups": [{**g, "rules": [r for g2, r in found if g2 is g and stage[r["record"]] == k]}
                        for g in doc["groups"] if any(g2 is g and stage[r["record"]] == k for g2, r in found)]}
            for k in range(max(stage.values()) + 1)]


def _export(vm: VictoriaMetrics, selector: str, start: int, end: int) -> dict[tuple, dict[int, float]]:
    """Raw samples (as written, not a query's interpolation): {(sorted labels): {unix s: value}}."""
    q = urllib.parse.urlencode({"match[]": selector, "start": start, "end": end})
    with urllib.request.urlopen(f"{vm.url}/api/v1/export?{q}", timeout=30) as r:
        lines = [json.loads(line) for line in r.read().decode().splitlines() if line]
    return {tuple(sorted(x["metric"].items())):
            {ts // 1000: v for ts, v in zip(x["timestamps"], x["values"], strict=True)} for x in lines}


def test_calendar_budgets_on_vmalert_match_zoneinfo(tmp_path):
    """The calendar spec's generated rules load on vmalert and, replayed by vmalert (-replay.timeFrom/-timeTo) over
    imported history that spans each SLO's period start on VictoriaMetrics: the phase of every
    30 s evaluation, the tag of every copied 5m record, and the period's error ratio and budget at
    every 5 minutes are what zoneinfo says (the same expectations Prometheus meets in
    test_calendar.py): the old period's before the start, the new one's from the start on."""
    exe = shutil.which("vmalert")
    if not exe:
        pytest.skip("vmalert (Debian victoria-metrics) is not installed")
    spec = load_spec(CALENDAR)
    rules = tmp_path / "rules"
    rules.mkdir()
    for path, text in render(spec).items():
        if path.startswith("prometheus/rules/"):
            (rules / Path(path).name).write_text(text)
    slos = {s.name: s for s in spec.slos}
    assert set(slos) == set(INSIDE)
    # every generated rule (alerts too) parses as MetricsQL
    check = subprocess.run([exe, "-dryRun", f"-rule={rules}/*.rules.yml"], capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stderr[-3000:]
    starts = {name: int(calendar.period_start(slos[name].calendar, _ts(at))) for name, at in INSIDE.items()}
    assert [_iso(starts[n]) for n in INSIDE] == ["2025-11-01T04:00:00Z", "2025-10-26T23:00:00Z",
                                                 "2025-10-01T03:00:00Z"]
    vm = VictoriaMetrics(tmp_path, "\n".join(line for name, start in starts.items() for line in _history(name, start)))
    try:
        stages = {name: _calendar_stages(rules, slos[name]) for name in starts}
        # the 5m inputs and the phase, the tagged copies, the period ratio, the budget
        assert {name: len(s) for name, s in stages.items()} == {name: 4 for name in starts}

        def replay(name: str, k: int) -> None:
            # -datasource.queryStep=0s: each group steps at its own interval (vmalert 1.79's default
            # of 5m would record the 30 s group every 5 minutes)
            (tmp_path / f"{name}-{k}.yml").write_text(dump(stages[name][k]))
            run = subprocess.run([exe, f"-rule={tmp_path / f'{name}-{k}.yml'}", f"-datasource.url={vm.url}",
                                  f"-remoteWrite.url={vm.url}", f"-replay.timeFrom={_iso(starts[name] - HALF)}",
                                  f"-replay.timeTo={_iso(starts[name] + HALF)}", "-replay.disableProgressBar",
                                  "-datasource.queryStep=0s", "-replay.rulesDelay=0s",
                                  "-remoteWrite.flushInterval=100ms", "-replay.maxDatapointsPerQuery=10000"],
                                 capture_output=True, text=True, timeout=120)
            assert run.returncode == 0 and "replay finished" in run.stderr, (name, k, run.stderr[-3000:])

        with ThreadPoolExecutor(len(starts)) as pool:
            for k in range(4):
                list(pool.map(replay, starts, [k] * len(starts)))
                urllib.request.urlopen(vm.url + "/internal/force_flush", timeout=30).close()
        problems = []
        for name, start in starts.items():
            slo, first, last = slos[name], starts[name] - HALF, starts[name] + HALF
            where = f'{{service="web", slo="{name}"}}'
            evals = range(first, last + 1, EVAL)
            (phase,) = _export(vm, conv.PERIOD_PHASE + where, first, last).values()
            want = {t: float(_expected_phase(slo.calendar, t)) for t in evals}
            wrong = [f"{_iso(t)} {phase.get(t)} (zoneinfo: {p:g})" for t, p in want.items() if phase.get(t) != p]
            if wrong or len(phase) != len(want):
                problems.append(f"{name}: {len(phase)} phase samples for {len(want)} evaluations; wrong: {wrong[:4]}")
            for record, _ in conv.period_tagged(slo):
                tags = {t: dict(labels)["phase"] for labels, samples in _export(vm, record + where, first, last).items()
                        for t in samples}
                if tags != {t: str(int(p)) for t, p in want.items()}:
                    problems.append(f"{name}: {record} tags {sorted(tags.items())[:3]}... ({len(tags)} samples)")
            (ratio,) = _export(vm, conv.PERIOD_RATIO + where, first, last).values()
            (left,) = _export(vm, conv.BUDGET_REMAINING + where, first, last).values()
            assert sorted(ratio) == sorted(left) == list(range(first, last + 1, LONG)), (name, sorted(ratio))
            budget = slo.error_budget
            for at in ratio:
                expected = _expected_ratio(slo, start, at)
                if expected is None:
                    continue
                if ratio[at] != pytest.approx(expected, rel=1e-9) or \
                        left[at] != pytest.approx(1 - expected / budget, rel=1e-9, abs=1e-12):
                    problems.append(f"{name} at {_iso(at)}: ratio {ratio[at]} budget left {left[at]}, "
                                    f"zoneinfo says {expected} and {1 - expected / budget}")
        assert not problems, "\n".join(problems)
    finally:
        vm.stop()
