"""spec -> files. One module per target; this module only decides which files exist."""

from __future__ import annotations

from lukhas_obs.generate import alertmanager, alerts, scrape, slo, slotests
from lukhas_obs.generate.writer import header
from lukhas_obs.generate.yamlout import dump
from lukhas_obs.model import Spec


def render(spec: Spec) -> dict[str, str]:
    """Every generated file, keyed by its path under the output folder. Pure and deterministic."""
    head = header(spec.source)
    files: dict[str, str] = {
        "prometheus/prometheus.yml": dump(scrape.prometheus_config(spec), head),
        "blackbox/blackbox.yml": dump(scrape.blackbox_config(spec), head),
        "alertmanager/alertmanager.yml": dump(alertmanager.alertmanager_config(spec), head),
    }
    rules = alerts.alert_rules(spec)
    if rules:
        files["prometheus/rules/alerts.rules.yml"] = dump(rules, head)
    for s in spec.slos:
        files[f"prometheus/rules/slo-{s.id}.rules.yml"] = dump(slo.slo_rule_file(spec, s), head)
        files[f"prometheus/rules/slo-{s.id}.test.yml"] = dump(slotests.slo_test_file(spec, s), head)
    return files
