"""What makes generation fast (issue 14) must not change an answer: the spec's indexes, the
parsed durations, the burn windows and alerts computed once per SLO, the YAML writer's memory of
how to write a string, and the SLO files rendered on every core. Speed itself is measured in
benchmarks/bench_generate.py, not here."""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import re

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from lukhas_obs import conventions as conv
from lukhas_obs.durations import parse_duration
from lukhas_obs.generate import pipeline, render
from lukhas_obs.generate import slo as engine
from lukhas_obs.generate.yamlout import dump
from lukhas_obs.model import Service, Severity, Spec
from lukhas_obs.promql import PromQLError, Selector
from lukhas_obs.spec import load_spec

from conftest import ROOT

SPEC = load_spec(ROOT / "specs" / "lukhas.yaml")


def test_lookups_answer_for_every_name_and_refuse_unknown_ones():
    for svc in SPEC.services:
        assert SPEC.service(svc.name) is svc
    for sev in SPEC.severities:
        assert SPEC.severity(sev.priority) is sev
    for metric in SPEC.metrics:
        assert SPEC.metric(metric.name) is metric
    with pytest.raises(KeyError):
        SPEC.service("no-such-service")
    with pytest.raises(KeyError):
        SPEC.severity("P9")
    assert SPEC.metric("no_such_metric") is None


def test_an_index_never_outlives_its_spec():
    """A spec derived with dataclasses.replace (the demo does) answers from its own services and
    SLOs, not from the index its original built."""
    core = SPEC.service("lukhas-core")
    assert len(SPEC.slos) == sum(len(s.slos) for s in SPEC.services) == 8  # the original's index and SLOs are built
    renamed = dataclasses.replace(core, name="lukhas-renamed", slos=())
    derived = dataclasses.replace(SPEC, services=(renamed,))
    assert derived.service("lukhas-renamed") is renamed
    assert derived.slos == ()
    with pytest.raises(KeyError):
        derived.service("lukhas-core")
    assert SPEC.service("lukhas-core") is core


def test_the_first_of_two_equal_names_wins_as_a_search_would():
    first, second = Service("a", "application", "h1"), Service("a", "application", "h2")
    spec = Spec(source="x", project="p", services=(first, second),
                severities=(Severity("P1", "critical", "r1"), Severity("P1", "high", "r2")))
    assert spec.service("a") is first
    assert spec.severity("P1").level == "critical"


@pytest.mark.parametrize("value", [None, 30, ["5m"], {"m": 5}, "", "5m5m", "1h1d"])
def test_a_duration_is_refused_every_time_whatever_its_type(value):
    """Parsed durations are remembered; refusals are not, and an unhashable value is a refusal
    (ValueError), not the cache's TypeError."""
    for _ in range(2):
        with pytest.raises(ValueError):
            parse_duration(value)


def test_changing_a_returned_window_list_changes_nothing_after():
    core = next(s for s in SPEC.slos if s.service == "lukhas-core" and s.name == "availability")
    windows = conv.burn_windows(core, "page")
    windows.clear()
    conv.all_windows(core).append("1y")
    assert [(w.short, w.long) for w in conv.burn_windows(core, "page")] == [("5m", "1h"), ("30m", "6h")]
    assert "1y" not in conv.all_windows(core)


def test_an_slo_changed_right_after_its_alerts_were_built_gets_its_own():
    """The alerts are remembered for the last SLOs asked (rule file, then test file): a changed
    SLO, or a changed spec, is a different object and gets freshly built alerts."""
    core = next(s for s in SPEC.slos if s.service == "lukhas-core" and s.name == "availability")
    before = engine.slo_alerts(SPEC, core)
    before.clear()  # the caller's list: the remembered one is untouched
    again = engine.slo_alerts(SPEC, core)
    assert [a["alert"] for a in again] == ["SLOFastBurn", "SLOSlowBurn", "SLOMetricsAbsent"]
    tighter = dataclasses.replace(core, objective=99.99)
    def thresholds(slo):   # the page alert's four comparisons: 14.4x and 6x the error budget, short and long
        return re.findall(r"> (\S+)$", engine.slo_alerts(SPEC, slo)[0]["expr"], re.M)

    assert thresholds(core) == ["0.0144", "0.0144", "0.006", "0.006"]
    assert thresholds(tighter) == ["0.00144", "0.00144", "0.0006", "0.0006"]
    elsewhere = dataclasses.replace(SPEC, runbook_base_url="https://elsewhere.example/rb")
    url = engine.slo_alerts(elsewhere, core)[0]["annotations"]["runbook_url"]
    assert url == "https://elsewhere.example/rb/slo-lukhas-core-availability"


def test_scoped_selectors_are_built_for_each_label_set():
    base = Selector("m")
    assert base.where(job="a").render() == 'm{job="a"}'
    assert base.where(job="b").render() == 'm{job="b"}'
    assert base.where(job="a", code="5").render() == 'm{code="5", job="a"}'
    assert base.where(job="a").where(job="b").render() == 'm{job="a"}'  # an existing matcher wins
    for _ in range(2):
        with pytest.raises(PromQLError):
            base.where(**{"bad-name": "x"})


_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                     st.text(alphabet="ab0 :#'\"-\n\t|>{}[]", max_size=8))
_docs = st.recursive(_scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(st.text("kx-", max_size=3), inner, max_size=3)),
                     max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.lists(_docs, min_size=1, max_size=3),
                 st.dictionaries(st.text("ab", max_size=3), _docs, min_size=1, max_size=3)))
def test_the_yaml_writer_round_trips_nested_lists_and_mappings(doc):
    """Lists of lists, of mappings and of empty ones: every line carries its own `- ` prefixes."""
    assert yaml.safe_load(dump(doc)) == doc


@pytest.mark.skipif((os.cpu_count() or 1) < 2 or "fork" not in multiprocessing.get_all_start_methods(),
                    reason="SLO files are rendered on several cores only where there are several and fork exists")
def test_slo_files_rendered_on_every_core_are_the_files_rendered_on_one(monkeypatch):
    monkeypatch.setattr(pipeline, "PARALLEL_FROM", 10**9)
    serial = render(SPEC)
    monkeypatch.setattr(pipeline, "PARALLEL_FROM", 2)
    calls = []
    real = pipeline._slo_files
    monkeypatch.setattr(pipeline, "_slo_files",
                        lambda spec, slos, keep: calls.append(len(slos)) or real(spec, slos, keep))
    parallel = render(SPEC)
    assert calls == []  # the workers did it, not this process
    assert parallel == serial
    assert sum(p.endswith(".test.yml") for p in parallel) == len(SPEC.slos)


def test_reading_a_spec_leaves_the_cycle_collector_as_it_found_it():
    """The collector is paused while a spec is composed, and back on after, also when the spec
    is refused; left off when the caller had it off."""
    import gc

    from lukhas_obs.errors import SpecError
    from lukhas_obs.spec.yamlsource import parse_yaml

    assert gc.isenabled()
    parse_yaml("a: 1\n", "ok.yaml")
    assert gc.isenabled()
    with pytest.raises(SpecError):
        parse_yaml("a: [1\n", "broken.yaml")
    assert gc.isenabled()
    gc.disable()
    try:
        parse_yaml("a: 1\n", "ok.yaml")
        assert not gc.isenabled()
    finally:
        gc.enable()
