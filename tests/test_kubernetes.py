"""Kubernetes output: every object validates against the Prometheus Operator's schemas (in every
clone with the pinned npm models package compiled from its CRDs; where ../shared/ is present, also
against the CRD files themselves, which no registry package carries), and the rules inside
PrometheusRules pass promtool."""

from __future__ import annotations

import json
import subprocess

import pytest
import yaml

from lukhas_obs.spec import load_spec

from conftest import ROOT, SPEC, shared_schemas, tool
from nodepkg import node_checker

LUKHAS = load_spec(SPEC)
KINDS = {"PrometheusRule": "monitoring.coreos.com_prometheusrules.yaml",
         "ServiceMonitor": "monitoring.coreos.com_servicemonitors.yaml",
         "Probe": "monitoring.coreos.com_probes.yaml"}


INTERVAL_PATTERN = ('"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?'
                    '(([0-9]+)ms)?)$"')


def objects(generated):
    return {p.name: yaml.safe_load(p.read_text()) for p in sorted((generated / "kubernetes").glob("*.yaml"))}


def crd_spec_schemas() -> dict[str, dict]:
    """Each kind's `spec` schema in the operator's CRDs (../shared/schemas/prometheus-operator/, v0.93)."""
    paths = shared_schemas(*(f"prometheus-operator/{name}" for name in KINDS.values()))
    out = {}
    for kind, path in zip(KINDS, paths, strict=True):
        crd = yaml.safe_load(path.read_text())
        version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1")
        out[kind] = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
    return out


def test_every_operator_object_is_placed_as_the_spec_says(generated_lukhas):
    objs = [o for o in objects(generated_lukhas).values() if o["kind"] in KINDS]
    assert {o["kind"] for o in objs} == set(KINDS)
    assert {(o["apiVersion"], o["metadata"]["namespace"], o["metadata"]["labels"]["release"]) for o in objs} == {
        ("monitoring.coreos.com/v1", "lukhas", "kube-prometheus-stack")}


def test_every_object_validates_against_the_operators_crd(generated_lukhas):
    import jsonschema

    schemas = crd_spec_schemas()
    seen = set()
    for name, obj in objects(generated_lukhas).items():
        if obj["kind"] not in KINDS:
            continue
        seen.add(obj["kind"])
        errors = [f"{list(e.absolute_path)}: {e.message[:200]}"
                  for e in jsonschema.Draft7Validator(schemas[obj["kind"]]).iter_errors(obj["spec"])]
        assert not errors, f"{name}:\n" + "\n".join(errors)
    assert seen == set(KINDS)


@pytest.fixture(scope="module")
def operator_models():
    """The npm package @kubernetes-models/prometheus-operator (pinned, lockfile): validators
    compiled from the operator's CRDs, so a clone without shared/ checks the objects too."""
    return node_checker(ROOT / "tests" / "kubernetes-models", "check.mjs",
                        "@kubernetes-models/prometheus-operator", "the Prometheus Operator's models")


def test_every_object_validates_with_the_operators_models_package(generated_lukhas, operator_models):
    objs = [obj for obj in objects(generated_lukhas).values() if obj["kind"] in KINDS]
    assert {o["kind"] for o in objs} == set(KINDS)
    bad = [(o["metadata"]["name"], r["errors"]) for o, r in zip(objs, operator_models(objs), strict=True)
           if r["errors"]]
    assert not bad, bad


def test_the_models_package_check_can_fail(operator_models):
    bad = {"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor", "metadata": {"name": "x"},
           "spec": {"endpoints": [{"port": 8080, "interval": "often"}]}}   # port must be a name; no selector
    (result,) = operator_models([bad])
    assert sorted(result["errors"]) == ["/spec must have required property selector",
                                        "/spec/endpoints/0/interval must match pattern " + INTERVAL_PATTERN,
                                        "/spec/endpoints/0/port must be string"], result


def test_the_crd_check_can_fail():
    import jsonschema

    bad = {"endpoints": [{"port": 8080, "interval": "often"}]}  # port must be a name; no selector
    errors = jsonschema.Draft7Validator(crd_spec_schemas()["ServiceMonitor"]).iter_errors(bad)
    assert sorted((list(e.absolute_path), e.validator) for e in errors) == [
        ([], "required"), (["endpoints", 0, "interval"], "pattern"), (["endpoints", 0, "port"], "type")]


def test_rules_inside_prometheusrules_pass_promtool(generated_lukhas, tmp_path):
    files = []
    for name, obj in objects(generated_lukhas).items():
        if obj["kind"] == "PrometheusRule":
            f = tmp_path / f"{name}.rules.yml"
            f.write_text(yaml.safe_dump(obj["spec"]))
            files.append(name)
    # the spec's alerts, then one per SLO
    assert files == sorted(["prometheusrule-alerts.yaml", *(f"prometheusrule-slo-{s.id}.yaml" for s in LUKHAS.slos)])
    files = [str(tmp_path / f"{name}.rules.yml") for name in files]
    r = subprocess.run([tool("promtool"), "check", "rules", *files], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_dashboards_ship_as_configmaps_for_the_grafana_sidecar(generated_lukhas):
    maps = [o for o in objects(generated_lukhas).values() if o["kind"] == "ConfigMap"]
    assert sorted(key for cm in maps for key in cm["data"]) == sorted(f"{d.uid}.json" for d in LUKHAS.dashboards)
    assert len(maps) == len(LUKHAS.dashboards) == 5
    for cm in maps:
        assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
        (key, text), = cm["data"].items()
        assert json.loads(text)["uid"] == key.removesuffix(".json")


def test_probes_keep_the_blackbox_job_name_the_rules_select(generated_lukhas):
    probes = [o for o in objects(generated_lukhas).values() if o["kind"] == "Probe"]
    prom = yaml.safe_load((generated_lukhas / "prometheus" / "prometheus.yml").read_text())
    blackbox = next(j for j in prom["scrape_configs"] if j["job_name"] == "blackbox-health")
    # every health endpoint Prometheus probes outside a cluster, but Prometheus probing itself
    want = sorted((sc["labels"]["service"], sc["targets"]) for sc in blackbox["static_configs"]
                  if sc["labels"]["service"] != "prometheus")
    assert len(want) == len([s for s in LUKHAS.services if s.health_url]) - 1 > 0
    targets = [p["spec"]["targets"]["staticConfig"] for p in probes]
    assert sorted((t["labels"]["service"], t["static"]) for t in targets) == want
    assert [p["spec"]["jobName"] for p in probes] == ["blackbox-health"] * len(want)


def test_mimir_namespaces_hold_every_group_once_within_the_default_limits(generated_lukhas, tmp_path):
    plain = sorted(g["name"] for f in (generated_lukhas / "prometheus/rules").glob("*.rules.yml")
                   for g in yaml.safe_load(f.read_text())["groups"])
    namespaces = {p.stem: yaml.safe_load(p.read_text()) for p in (generated_lukhas / "mimir").glob("*.yml")}
    assert set(namespaces) == {"lukhas", "lukhas-core", "lukhas-identity", "lukhas-memory", "lukhas-consciousness",
                               "lukhas-governance"}
    groups = [g for doc in namespaces.values() for g in doc["groups"]]
    assert sorted(g["name"] for g in groups) == plain
    limits = LUKHAS.ruler
    assert limits is not None and (limits.max_rules_per_group, limits.max_groups_per_tenant) == (20, 70)
    assert len(groups) == 1 + 2 * len(LUKHAS.slos)   # the alerts' group, then each SLO's short and long group
    assert max(len(g["rules"]) for g in groups) <= limits.max_rules_per_group
    assert len(groups) <= limits.max_groups_per_tenant
    for ns, doc in namespaces.items():
        assert doc["namespace"] == ns
        f = tmp_path / f"{ns}.yml"
        f.write_text(yaml.safe_dump({"groups": doc["groups"]}))
        r = subprocess.run([tool("promtool"), "check", "rules", str(f)], capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr


def test_a_ruler_limit_breach_is_refused_before_anything_is_written(tmp_path):
    from conftest import ROOT, run_cli

    spec = tmp_path / "spec.yaml"
    spec.write_text((ROOT / "specs/lukhas.yaml").read_text().replace("ruler: {}", "ruler: {max_rules_per_group: 8}"))
    r = run_cli("generate", "--spec", str(spec), "--out", str(tmp_path / "g"), "--deployment-out", str(tmp_path / "d"),
                cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert r.stderr.splitlines() == ["spec.yaml: rule group lukhas-alerts has 10 rules; the ruler accepts 8"
                                     " (ruler.max_rules_per_group); nothing was written."]
    assert not (tmp_path / "g").exists() and not (tmp_path / "d").exists()
