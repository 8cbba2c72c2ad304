"""Dashboards: valid against Grafana's own schema, every query parses and names only metrics the
catalogue or the generated rules provide, and every query runs on a real Prometheus."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from lukhas_obs import promql
from lukhas_obs.spec import load_spec

from conftest import SHARED, SPEC, free_port, wait_until

SCHEMAS = [SHARED / "schemas" / "grafana-dashboard.jsonschema.json",
           SHARED / "schemas" / "grafana-dashboard.v11.6.x.jsonschema.json"]
VARIABLES = {"$__rate_interval": "1m", "$service": ".*", "$instance": ".*"}
UIDS = ["lukhas-overview", "lukhas-constellation", "lukhas-external-api", "lukhas-infrastructure", "lukhas-slos"]


def dashboards(generated):
    return {p.stem: json.loads(p.read_text()) for p in sorted((generated / "grafana" / "dashboards").glob("*.json"))}


def queries(dash, kind="prometheus"):
    for panel in dash["panels"]:
        for target in panel.get("targets", []):
            if target["datasource"]["type"] != kind:
                continue
            expr = target["expr"]
            for var, value in VARIABLES.items():
                expr = expr.replace(var, value)
            yield panel["title"], expr


def test_the_five_dashboards_exist_with_stable_uids(generated_lukhas):
    dash = dashboards(generated_lukhas)
    assert sorted(dash) == sorted(UIDS)
    for uid, d in dash.items():
        assert d["uid"] == uid and d["title"].startswith("LUKHAS")
        assert d["annotations"]["list"][0]["expr"] == 'ALERTS{alertstate="firing"}'
        assert d["links"][0]["tags"] == ["lukhas"]


@pytest.mark.parametrize("schema", SCHEMAS, ids=lambda p: p.name)
def test_dashboards_validate_against_grafanas_schema(generated_lukhas, schema):
    if not schema.exists():
        pytest.skip(f"{schema} is not here (shared/ is absent): Grafana's schema is read from shared/, not copied")
    import jsonschema

    validator = jsonschema.Draft7Validator(json.loads(schema.read_text()))
    for uid, dash in dashboards(generated_lukhas).items():
        errors = [f"{list(e.absolute_path)}: {e.message[:200]}" for e in validator.iter_errors(dash)]
        assert not errors, f"{uid}:\n" + "\n".join(errors[:10])


def test_every_query_parses_and_names_only_known_metrics(generated_lukhas):
    spec = load_spec(SPEC)
    recorded = {r["record"] for f in (generated_lukhas / "prometheus" / "rules").glob("*.rules.yml")
                for g in yaml.safe_load(f.read_text())["groups"] for r in g["rules"] if "record" in r}
    known = {m.name for m in spec.metrics} | recorded | {"up", "ALERTS"}
    histograms = {m.name for m in spec.metrics if m.type == "histogram"}
    problems = []
    for uid, dash in dashboards(generated_lukhas).items():
        for title, expr in queries(dash):
            promql.parse(expr)
            for name in promql.metric_names(expr):
                base = re.sub(r"_(bucket|count|sum)$", "", name)
                if name in known or base in histograms or name.startswith("process_"):
                    continue
                problems.append(f"{uid} / {title}: {name} is neither in the catalogue nor a generated record")
    assert not problems, "\n".join(problems)


def test_provisioning_references_the_uids_dashboards_use(generated_lukhas):
    ds = yaml.safe_load((generated_lukhas / "grafana/provisioning/datasources/datasources.yml").read_text())
    uids = {d["uid"] for d in ds["datasources"]}
    assert uids == {"lukhas-prometheus", "lukhas-loki", "lukhas-jaeger", "lukhas-alertmanager"}
    for dash in dashboards(generated_lukhas).values():
        for panel in dash["panels"]:
            if "datasource" in panel and panel["type"] != "row":
                assert panel["datasource"]["uid"] in uids
    providers = yaml.safe_load((generated_lukhas / "grafana/provisioning/dashboards/dashboards.yml").read_text())
    assert providers["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"


@pytest.mark.integration
def test_every_panel_query_runs_on_a_real_prometheus_and_live_ones_return_data(tmp_path, generated_lukhas):
    from promserver import Prometheus, local_config, start_workload

    workload, address = start_workload(SPEC, tmp_path / "workload.log", rps=100)
    prom = None
    try:
        port = free_port()
        prom = Prometheus(local_config(generated_lukhas, tmp_path / "prom", address, prom_port=port),
                          tmp_path / "data", port=port)
        every = [(uid, title, expr)
                 for uid, dash in dashboards(generated_lukhas).items() for title, expr in queries(dash)]
        # 70 seconds of scrapes and 1-second rule evaluations, so rates and recorded windows have data
        wait_until(lambda: prom.query('slo:sli_error:ratio_rate1h{service="lukhas-core"}'), timeout=60,
                   what="recorded SLO windows")

        def empty_ones():
            return [(uid, title, expr) for uid, title, expr in every if not prom.query(expr)]

        try:
            wait_until(lambda: not empty_ones(), timeout=60, interval=2, what="every panel query returns data")
        except AssertionError:
            missing = "\n".join(f"{u} / {t}: {e}" for u, t, e in empty_ones())
            raise AssertionError(f"panels with no data on live traffic:\n{missing}") from None
    finally:
        if prom:
            prom.stop()
        workload.stop()


def test_many_services_get_one_repeated_slo_row_not_megabytes(tmp_path):
    """Past 20 services with SLOs the SLO dashboard repeats one row over the service variable."""
    import sys

    sys.path.insert(0, str(SPEC.parent.parent / "benchmarks"))
    from common import synthetic_spec

    from lukhas_obs.generate.dashboards import slos
    from lukhas_obs.spec.loader import load_spec_text

    spec = load_spec_text(synthetic_spec(25), "many.yaml")
    dash = slos(spec)
    rows = [p for p in dash["panels"] if p["type"] == "row"]
    assert len(rows) == 1 and rows[0]["repeat"] == "service"
    assert all(p.get("repeat") == "slo" for p in dash["panels"] if p["type"] != "row")
    assert len(json.dumps(dash)) < 50_000
    assert [v["name"] for v in dash["templating"]["list"]] == ["service", "slo"]
    for _, expr in queries(dash):
        promql.parse(expr)
    schema = SCHEMAS[0]
    if schema.exists():
        import jsonschema

        assert not list(jsonschema.Draft7Validator(json.loads(schema.read_text())).iter_errors(dash))
