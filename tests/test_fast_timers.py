"""The LUKHAS spec with fast timers (`lukhas_obs.demo.fast_timers`), which the demo and the
end-to-end stack test run instead of production's 15 s scrapes and 5-minute SLO groups: what it
generates differs from production's output in timer values only, each the production value
divided by the same factor; and the spec pointed at local processes (`on_loopback`) keeps every
job, probe, route and receiver name. In-process: no server is needed to see what was generated."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import yaml

from lukhas_obs.demo import FAST, fast_timers, on_loopback
from lukhas_obs.durations import parse_duration
from lukhas_obs.generate import render, render_deployment
from lukhas_obs.spec import load_spec

from conftest import SPEC

MODEL = load_spec(SPEC)


def run_files(model) -> dict[str, str]:
    """What the stack test and the demo run: every generated file and the compose file, but the
    promtool unit tests (written for the timers they test: not run there) and the Kubernetes
    and Mimir layouts (the same rules, packaged for other deployments)."""
    return {path: text for path, text in {**render(model), **render_deployment(model)}.items()
            if not path.endswith(".test.yml") and not path.startswith(("kubernetes/", "mimir/"))}


PRODUCTION = run_files(MODEL)
# the keys whose values are timers: Prometheus' scrape and evaluation intervals (global and per
# group), alert `for:`, Alertmanager's per-route timers and resolve_timeout
TIMERS = {"scrape_interval", "scrape_timeout", "evaluation_interval", "interval", "for", "group_wait",
          "group_interval", "repeat_interval", "resolve_timeout", "timeInterval"}


def differences(a, b, where: str = "") -> list[tuple[str, object, object]]:
    """(path, a's value, b's value) of every leaf where two parsed documents differ."""
    if isinstance(a, dict) and isinstance(b, dict) and a.keys() == b.keys():
        return [d for k in a for d in differences(a[k], b[k], f"{where}/{k}")]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True)) for d in differences(x, y, f"{where}[{i}]")]
    return [] if a == b else [(where, a, b)]


def parsed(path: str, text: str):
    if path.endswith(".json"):
        return json.loads(text)
    if path.endswith((".yml", ".yaml")):
        return yaml.safe_load(text)
    return text


def changed(model) -> list[tuple[str, str, object, object]]:
    """(file, path, production value, value from `model`) of every difference in the output."""
    files = run_files(model)
    assert files.keys() == PRODUCTION.keys()
    return [(f, *d) for f in sorted(files) for d in differences(parsed(f, PRODUCTION[f]), parsed(f, files[f]))]


def not_scaled(found: list[tuple[str, str, object, object]], factor: float) -> list[str]:
    """The differences that are not a timer divided by `factor` (whole seconds, at least 1 s)."""
    bad = []
    for file, path, before, after in found:
        key = path.rsplit("/", 1)[-1]
        if key not in TIMERS:
            bad.append(f"{file} {path}: {before!r} -> {after!r} is not a timer")
        elif parse_duration(after) != max(1, round(parse_duration(before) / factor)) and \
                not (key == "scrape_timeout" and after == "1s"):
            bad.append(f"{file} {path}: {before!r} -> {after!r} is not divided by {factor}")
    return bad


def test_fast_timers_change_only_timers_each_divided_by_the_same_factor():
    found = changed(fast_timers(MODEL))
    assert not_scaled(found, FAST) == []
    keys = {(path.rsplit("/", 1)[-1], before, after) for _, path, before, after in found}
    # what the stack test's docstring promises: the spec's 15 s, 30 s, 5m, for 1m and 2m, group_wait 10 s
    assert {("scrape_interval", "15s", "1s"), ("evaluation_interval", "30s", "2s"), ("interval", "5m", "20s"),
            ("for", "1m", "4s"), ("for", "2m", "8s"), ("group_wait", "10s", "1s")} <= keys
    # every `for:` is scaled: the spec's alerts' and each SLO's absent alert (slo_absent_for)
    assert len([p for _, p, *_ in found if p.endswith("/for")]) == \
        len([a for a in MODEL.alerts + MODEL.logs.alerts if a.for_]) + len(MODEL.slos)
    assert ("for", "10m", "40s") in keys


def test_the_comparison_catches_a_change_that_is_not_a_timer():
    other = replace(MODEL, runbook_base_url=MODEL.runbook_base_url + "x")
    bad = not_scaled(changed(fast_timers(other)), FAST)
    # every alert's runbook link moved, and nothing else was taken for a timer
    assert {b.split(": ")[0].rsplit("/", 1)[-1] for b in bad} == {"runbook_url"}
    assert len(bad) == sum(1 for _, path, *_ in changed(other) if path.endswith("/runbook_url")) > 0
    wrong = replace(fast_timers(MODEL), prometheus=replace(fast_timers(MODEL).prometheus, scrape_interval="3s"))
    assert [b for b in not_scaled(changed(wrong), FAST) if "scrape_interval" in b] == \
        ["prometheus/prometheus.yml /global/scrape_interval: '15s' -> '3s' is not divided by 15"]


@pytest.mark.parametrize("factor", [1, 600])
def test_any_factor_keeps_the_scrape_timeout_within_the_interval(factor):
    p = fast_timers(MODEL, factor).prometheus
    assert parse_duration(p.scrape_timeout) <= parse_duration(p.scrape_interval)
    assert not_scaled(changed(fast_timers(MODEL, factor)), factor) == []


def test_on_loopback_points_every_job_at_local_processes_and_keeps_the_names():
    local = on_loopback(MODEL, "127.0.0.1:5000", "127.0.0.1:9093", prometheus="127.0.0.1:9999",
                        webhook="http://127.0.0.1:7000")
    files = render(local)  # (no compose file: these hosts are not compose services)
    prom, before = (yaml.safe_load(f["prometheus/prometheus.yml"]) for f in (files, PRODUCTION))
    assert [j["job_name"] for j in prom["scrape_configs"]] == [j["job_name"] for j in before["scrape_configs"]]
    targets = {j["job_name"]: (t, j.get("metrics_path", "/metrics"))
               for j in prom["scrape_configs"] for sc in j["static_configs"] for t in sc["targets"]
               if j["job_name"] != "blackbox-health"}
    expected = {s.name: ("127.0.0.1:5000", f"/metrics/{s.name}") for s in MODEL.services if s.scrape_address}
    expected["prometheus"] = ("127.0.0.1:9999", "/metrics")
    assert targets == expected
    probe = next(j for j in prom["scrape_configs"] if j["job_name"] == "blackbox-health")
    assert probe["relabel_configs"][-1]["replacement"] == "127.0.0.1:5000"
    assert {sc["labels"]["service"]: sc["targets"][0].split("/", 3)[3] for sc in probe["static_configs"]} == \
        {s.name: f"health/{s.name}" for s in MODEL.services if s.health_url}
    assert prom["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == ["127.0.0.1:9093"]
    am, am_before = (yaml.safe_load(f["alertmanager/alertmanager.yml"]) for f in (files, PRODUCTION))
    assert am["route"] == am_before["route"]
    assert {r["name"]: r["webhook_configs"][0]["url"] for r in am["receivers"]} == \
        {r.name: f"http://127.0.0.1:7000/{r.name}" for r in MODEL.receivers}
    # the rules are production's (the dashboards' health links name no host: same too)
    rules = [p for p in PRODUCTION if p.startswith("prometheus/rules/")]
    assert rules and [p for p in rules if files[p] != PRODUCTION[p]] == []
