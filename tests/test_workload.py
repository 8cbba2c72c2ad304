"""The synthetic workload the demo and the tests run: its healthy mode is healthy by every SLO of
the LUKHAS spec (the demo's healthy phase must not page), its bad modes are bad."""

from __future__ import annotations

import pytest

from lukhas_obs.model import AvailabilitySLI, LatencySLI, RatioSLI, ThresholdSLI
from lukhas_obs.spec.loader import load_spec
from lukhas_obs_demo.workload import Workload

from conftest import SPEC

SAMPLES = 20_000


def _bad_share(workload: Workload, slo) -> float:
    match slo.sli:
        case RatioSLI():
            return workload.error_ratio(slo.service, "baseline")
        case LatencySLI(threshold=threshold):
            return sum(workload.latency(slo.service) > threshold for _ in range(SAMPLES)) / SAMPLES
        case ThresholdSLI(metric=metric, min=low, max=high):
            value = workload.gauge_value(metric.metric)
            inside = (low is None or value >= low) and (high is None or value <= high)
            return 0.0 if inside else 1.0
        case AvailabilitySLI():
            return 0.0 if not workload.down(slo.service) else 1.0
    raise AssertionError(f"the LUKHAS spec has no {slo.sli.kind} SLI")


SLOS = load_spec(SPEC).slos


@pytest.mark.parametrize("slo", SLOS, ids=[f"{s.service}/{s.name}" for s in SLOS])
def test_healthy_mode_spends_under_a_quarter_of_every_budget(slo):
    budget = 1 - slo.target
    assert _bad_share(Workload(load_spec(SPEC), seed=11), slo) <= budget / 4


def test_degraded_mode_breaks_the_targets_latency_and_error_slos():
    workload = Workload(load_spec(SPEC), seed=11)
    workload.set_mode("degraded")
    broken = [s for s in SLOS if s.service == workload.target and isinstance(s.sli, RatioSLI | LatencySLI)]
    assert workload.target == "lukhas-core"   # the spec's first application service
    assert [s.name for s in broken] == ["availability", "latency"]
    for slo in broken:
        assert _bad_share(workload, slo) > 10 * (1 - slo.target)
