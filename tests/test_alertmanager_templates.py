"""The notification templates of the generated alertmanager.yml, rendered by Debian's amtool
(`amtool template render`, Alertmanager's own template engine and functions) exactly as generated:
a Slack message says a runbook or a dashboard only for an alert that has one, and the PagerDuty
links and Slack buttons always lead somewhere."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import tool

EXTERNAL = "https://alertmanager.lukhas.ai"
RUNBOOK = "https://runbooks.lukhas.ai/ga/service-down"
DASHBOARD = "https://grafana.lukhas.ai/d/lukhas-overview"


def _alert(name: str, labels: dict, annotations: dict) -> dict:
    return {"status": "firing", "labels": {"alertname": name, **labels}, "annotations": annotations,
            "startsAt": "2026-12-06T15:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "https://prometheus.lukhas.ai/graph", "fingerprint": name}


def _data(alerts: list[dict], common_labels: dict, common_annotations: dict) -> dict:
    """Alertmanager's template data for one notification (template.Data, as JSON)."""
    return {"receiver": "oncall", "status": "firing", "alerts": alerts, "groupLabels": common_labels,
            "commonLabels": common_labels, "commonAnnotations": common_annotations, "externalURL": EXTERNAL}


def render(text: str, data: dict, tmp_path: Path) -> str:
    """`text` rendered by amtool against `data`, as Alertmanager renders a receiver's field."""
    (tmp_path / "none.tmpl").write_text("")
    (tmp_path / "data.json").write_text(json.dumps(data))
    r = subprocess.run([tool("amtool"), "template", "render", f"--template.glob={tmp_path / 'none.tmpl'}",
                        f"--template.text={text}", f"--template.data={tmp_path / 'data.json'}"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return r.stdout


@pytest.fixture(scope="module")
def receivers(generated_lukhas) -> dict:
    cfg = yaml.safe_load((generated_lukhas / "alertmanager/alertmanager.yml").read_text())
    return {r["name"]: r for r in cfg["receivers"]}


FULL = {"summary": "core is down", "description": "No scrape answered for 1m.", "runbook_url": RUNBOOK,
        "dashboard_url": DASHBOARD}
# (id, each alert's annotations, the Slack text expected: a line for each annotation the alert has)
SLACK_TEXTS = [
    ("every annotation", [FULL],
     f"core is down\nNo scrape answered for 1m.\nRunbook: {RUNBOOK}\nDashboard: {DASHBOARD}\n"),
    ("summary only", [{"summary": "core is down"}], "core is down\n"),
    ("no runbook", [{"summary": "core is down", "dashboard_url": DASHBOARD}],
     f"core is down\nDashboard: {DASHBOARD}\n"),
    ("no dashboard", [{"summary": "core is down", "runbook_url": RUNBOOK}], f"core is down\nRunbook: {RUNBOOK}\n"),
    ("no description", [{"summary": "core is down", "runbook_url": RUNBOOK, "dashboard_url": DASHBOARD}],
     f"core is down\nRunbook: {RUNBOOK}\nDashboard: {DASHBOARD}\n"),
    ("two alerts, one with links", [FULL, {"summary": "memory is down"}],
     f"core is down\nNo scrape answered for 1m.\nRunbook: {RUNBOOK}\nDashboard: {DASHBOARD}\nmemory is down\n"),
]


@pytest.mark.parametrize("annotations, want", [c[1:] for c in SLACK_TEXTS], ids=[c[0] for c in SLACK_TEXTS])
def test_a_slack_message_has_a_line_only_for_what_the_alert_has(annotations, want, receivers, tmp_path):
    """An alert without a runbook_url (no links.runbook_base_url, or a hand-written rule) printed
    `Runbook: ` with nothing after it; the same for a dashboard and a blank line for a description."""
    alerts = [_alert(f"A{i}", {"service": "lukhas-core"}, a) for i, a in enumerate(annotations)]
    data = _data(alerts, {"service": "lukhas-core"}, {})
    slack = [r["slack_configs"][0] for r in receivers.values() if "slack_configs" in r]
    assert sorted(r["name"] for r in receivers.values() if "slack_configs" in r) == ["business-hours", "oncall"]
    for config in slack:
        assert render(config["text"], data, tmp_path) == want


@pytest.mark.parametrize("labels, want", [
    ({"priority": "P2", "alertname": "LUKHASHighErrorRate", "service": "lukhas-core"},
     "[FIRING] P2 LUKHASHighErrorRate (lukhas-core)"),
    ({"priority": "P2", "alertname": "PostgresDown"}, "[FIRING] P2 PostgresDown"),
], ids=["with a service", "without one"])
def test_a_slack_title_names_the_service_only_when_there_is_one(labels, want, receivers, tmp_path):
    data = _data([_alert(labels["alertname"], labels, {"summary": "x"})], labels, {"summary": "x"})
    assert render(receivers["oncall"]["slack_configs"][0]["title"], data, tmp_path) == want


@pytest.mark.parametrize("common, runbook, dashboard", [
    ({"runbook_url": RUNBOOK, "dashboard_url": DASHBOARD}, RUNBOOK, DASHBOARD),
    ({"dashboard_url": DASHBOARD}, EXTERNAL, DASHBOARD),
    ({}, EXTERNAL, EXTERNAL),
], ids=["both", "no runbook", "neither"])
def test_pagerduty_links_and_slack_buttons_fall_back_to_alertmanager(common, runbook, dashboard, receivers,
                                                                      tmp_path):
    """A link PagerDuty or Slack shows is never empty: without the annotation it is Alertmanager's
    own page, at the spec's external URL."""
    labels = {"alertname": "LUKHASServiceDown", "service": "lukhas-core"}
    data = _data([_alert("LUKHASServiceDown", labels, {"summary": "down", **common})], labels, common)
    pd = receivers["pagerduty"]["pagerduty_configs"][0]
    assert [(render(link["href"], data, tmp_path), link["text"]) for link in pd["links"]] == [
        (runbook, "Runbook"), (dashboard, "Dashboard")]
    buttons = receivers["oncall"]["slack_configs"][0]["actions"]
    assert [(render(b["url"], data, tmp_path), b["text"]) for b in buttons] == [
        (runbook, "Runbook"), (dashboard, "Dashboard")]
