"""A real Prometheus loads the generated configuration and rules and scrapes a real exporter."""

from __future__ import annotations

import pytest

from conftest import SPEC, wait_until
from promserver import Prometheus, local_config, start_workload

pytestmark = pytest.mark.integration


@pytest.fixture
def live(tmp_path, generated_lukhas):
    workload, address = start_workload(SPEC, tmp_path / "workload.log")
    prom = None
    try:
        cfg = local_config(tmp_path / "prom", address)
        prom = Prometheus(cfg, tmp_path / "data")
        yield prom
    finally:
        if prom:
            prom.stop()
        workload.stop()


def test_every_rule_group_loads_and_every_target_is_up(live, generated_lukhas):
    import yaml

    written = [g for f in (generated_lukhas / "prometheus" / "rules").glob("*.rules.yml")
               for g in yaml.safe_load(f.read_text())["groups"]]
    expected_groups = {g["name"] for g in written}
    expected_rules = sum(len(g["rules"]) for g in written)
    assert len(expected_groups) > 0 and expected_rules > 0
    groups = live.get("/api/v1/rules")["data"]["groups"]
    assert {g["name"] for g in groups} == expected_groups

    def all_up():
        targets = live.get("/api/v1/targets")["data"]["activeTargets"]
        return targets and all(t["health"] == "up" for t in targets) and targets

    targets = wait_until(all_up, timeout=90, what="every target up")  # generous: a loaded CI machine
    jobs = {t["labels"]["job"] for t in targets}
    assert {"lukhas-core", "lukhas-identity", "lukhas-memory", "lukhas-consciousness", "lukhas-governance"} <= jobs
    # the runbook's own query keeps working: job is the service name
    wait_until(lambda: live.query('up{job="lukhas-core"} == 1'), timeout=20, what='up{job="lukhas-core"}')

    def evaluated_without_errors():
        groups = live.get("/api/v1/rules")["data"]["groups"]
        rules = [r for g in groups for r in g["rules"]]
        assert len(rules) == expected_rules, (len(rules), expected_rules)   # every rule loaded, so `all` judges them
        return all(r["health"] == "ok" for r in rules) and all(r.get("lastEvaluation", "0001").startswith("20")
                                                               for r in rules)

    wait_until(evaluated_without_errors, timeout=90, what="every rule evaluated with health ok")
