"""The generated rules run unchanged on a second, independent rule engine: VictoriaMetrics'
vmalert, evaluating them against a VictoriaMetrics server that a real Prometheus remote-writes
the synthetic workload's series to."""

from __future__ import annotations

import json
import shutil
import urllib.request

import pytest
import yaml

from lukhas_obs.demo import Webhook
from lukhas_obs.generate.yamlout import dump
from lukhas_obs.spec import load_spec

from conftest import SPEC, Process, free_port, wait_until
from promserver import Prometheus, VictoriaMetrics, local_config, start_workload

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
