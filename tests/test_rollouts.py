"""Argo Rollouts AnalysisTemplates and Flagger Canaries generated from the spec: validated against
the controllers' own schemas (Argo Rollouts through the pinned npm package
@kubernetes-models/argo-rollouts, whose validators are built from Argo's API types; both, where
../shared/schemas/ is here, against the CRDs with Kubernetes' strict field validation, which no
package carries for Flagger), each check shown able to fail; their URLs are questions the endpoint
accepts; the spec keys they read are checked with FILE:LINE errors."""

from __future__ import annotations

import copy
import functools
from urllib.parse import urlsplit

import pytest
import yaml

from lukhas_obs.durations import parse_duration
from lukhas_obs.gate.serve import Defaults, parse_request
from lukhas_obs.generate import rollouts
from lukhas_obs.spec import load_spec

from conftest import ROOT, SPEC, run_cli, shared_schemas
from nodepkg import node_checker

PACKAGE = ROOT / "tests" / "kubernetes-models"
APPS = ["lukhas-consciousness", "lukhas-core", "lukhas-governance", "lukhas-identity", "lukhas-memory"]


def on_disk(generated, folder: str) -> dict[str, dict]:
    return {p.name: yaml.safe_load(p.read_text()) for p in sorted((generated / folder).glob("*.yaml"))}


@pytest.fixture(scope="module")
def templates(generated_lukhas) -> list[dict]:
    objs = list(on_disk(generated_lukhas, "argo-rollouts").values())
    assert [o["metadata"]["name"] for o in objs] == [f"slo-gate-{s}" for s in APPS]
    return objs


@pytest.fixture(scope="module")
def canaries(generated_lukhas) -> list[dict]:
    objs = list(on_disk(generated_lukhas, "flagger").values())
    assert [(o["apiVersion"], o["kind"], o["metadata"]["name"]) for o in objs] == [
        ("flagger.app/v1beta1", "Canary", app) for app in APPS]
    return objs


@pytest.fixture(scope="module")
def argo_models():
    check = node_checker(PACKAGE, "check.mjs", "@kubernetes-models/argo-rollouts", "Argo Rollouts' models")

    def validate(objs: list[dict]) -> list[list[str]]:
        return [o["errors"] for o in check(objs)]
    return validate


def test_analysis_templates_validate_with_argo_rollouts_models(templates, argo_models):
    assert argo_models(templates) == [[] for _ in templates]


def test_the_argo_models_refuse_a_broken_template(templates, argo_models):
    no_provider = copy.deepcopy(templates[0])
    del no_provider["spec"]["metrics"][0]["provider"]
    text_timeout = copy.deepcopy(templates[0])
    text_timeout["spec"]["metrics"][0]["provider"]["web"]["timeoutSeconds"] = "20"
    errors = argo_models([no_provider, text_timeout])
    assert errors == [["/spec/metrics/0 must have required property provider"],
                      ["/spec/metrics/0/provider/web/timeoutSeconds must be integer"]], errors


def crd_schemas() -> tuple[dict, dict]:
    """The AnalysisTemplate's schema in Argo Rollouts' CRD and the Canary's in Flagger's, from
    ../shared/schemas/ (sources in its SOURCES.md)."""
    argo, flagger = shared_schemas("argo-rollouts/analysis-template-crd.yaml", "flagger/crd.yaml")
    return _crd(argo, "AnalysisTemplate"), _crd(flagger, "Canary")


@functools.cache
def _crd(path, kind: str) -> dict:
    crd = next(d for d in yaml.safe_load_all(path.read_text()) if d and d["spec"]["names"]["kind"] == kind)
    version = next(v for v in crd["spec"]["versions"] if v.get("served") and v.get("storage"))
    return version["schema"]["openAPIV3Schema"]


def unknown_fields(schema: dict, obj, where: str = "") -> list[str]:
    """Fields the schema does not declare: what `kubectl apply` refuses under strict field
    validation, and what the API server would otherwise drop without a word (a misspelt
    consecutiveSuccessLimit would silently change the analysis)."""
    out = []
    open_ended = schema.get("x-kubernetes-preserve-unknown-fields")
    if isinstance(obj, dict) and schema.get("type") == "object" and not open_ended:
        props = schema.get("properties")
        extra = schema.get("additionalProperties")
        for key, value in obj.items():
            if props is not None and key in props:
                out += unknown_fields(props[key], value, f"{where}.{key}")
            elif isinstance(extra, dict):
                out += unknown_fields(extra, value, f"{where}.{key}")
            elif props is not None and where != ".metadata":
                out.append(f"{where}.{key}")
    elif isinstance(obj, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(obj):
            out += unknown_fields(schema["items"], item, f"{where}[{i}]")
    return out


def crd_problems(schema: dict, obj: dict) -> list[str]:
    import jsonschema

    problems = [f"{'.'.join(map(str, e.absolute_path))}: {e.message[:200]}"
                for e in jsonschema.Draft7Validator(schema).iter_errors(obj)]
    return problems + [f"{path}: not in the schema" for path in unknown_fields(schema, obj)]


def test_every_object_passes_the_controllers_crds_strictly(templates, canaries):
    argo, flagger = crd_schemas()
    for obj in templates:
        assert crd_problems(argo, obj) == [], obj["metadata"]["name"]
    for obj in canaries:
        assert crd_problems(flagger, obj) == [], obj["metadata"]["name"]


def test_the_crd_checks_refuse_broken_objects(templates, canaries):
    argo, flagger = crd_schemas()
    typo = copy.deepcopy(templates[0])
    typo["spec"]["metrics"][0]["consecutiveSucessLimit"] = typo["spec"]["metrics"][0].pop("consecutiveSuccessLimit")
    assert crd_problems(argo, typo) == [".spec.metrics[0].consecutiveSucessLimit: not in the schema"]
    hook = copy.deepcopy(canaries[0])
    hook["spec"]["analysis"]["webhooks"][0]["type"] = "confirm-promote"
    hook["spec"]["analysis"]["webhooks"][1]["timeout"] = "20"
    del hook["spec"]["targetRef"]["kind"]
    problems = crd_problems(flagger, hook)
    assert problems == [
        "spec.targetRef: 'kind' is a required property",
        "spec.analysis.webhooks.0.type: 'confirm-promote' is not one of ['', 'confirm-rollout', 'pre-rollout',"
        " 'rollout', 'confirm-promotion', 'post-rollout', 'event', 'rollback', 'confirm-traffic-increase']",
        "spec.analysis.webhooks.1.timeout: '20' does not match '^[0-9]+(m|s)'"], problems


def test_each_url_is_a_question_the_endpoint_accepts(templates, canaries):
    spec = load_spec(SPEC)
    timeout = parse_duration(spec.gates.serve_timeout)
    seen = []
    for obj in templates:
        web = obj["spec"]["metrics"][0]["provider"]["web"]
        assert web["timeoutSeconds"] == timeout and web["jsonPath"] == "{$.outcome}"
        seen.append((obj["metadata"]["name"].removeprefix("slo-gate-"), web["url"], None))
    for obj in canaries:
        hooks = obj["spec"]["analysis"]["webhooks"]
        assert {h["type"] for h in hooks} == {"confirm-promotion", "rollback"}
        seen += [(obj["metadata"]["name"], h["url"], h["type"]) for h in hooks]
        assert all(parse_duration(h["timeout"]) == timeout for h in hooks)
    for service, url, hook in seen:
        parts = urlsplit(url)
        assert f"{parts.scheme}://{parts.netloc}" == spec.gates.serve_url and parts.path == "/v1/gate"
        # the server runs with its default --timeout (30s) or the caller's; the gate answers first
        req = parse_request(parts.query, spec, Defaults(timeout=timeout))
        assert (req.mode, req.services, req.hook) == ("canary", [service], hook)
        assert req.timeout == timeout - rollouts.MARGIN


def test_the_analysis_follows_the_spec(templates, canaries):
    metric = templates[0]["spec"]["metrics"][0]
    assert (metric["interval"], metric["count"], metric["failureLimit"], metric["inconclusiveLimit"],
            metric["consecutiveSuccessLimit"]) == ("1m", 10, 0, 9, 1)
    assert canaries[0]["spec"]["analysis"]["threshold"] == 1
    assert (metric["successCondition"], metric["failureCondition"]) == ('result == "PASS"', 'result == "FAIL"')
    core = next(c for c in canaries if c["metadata"]["name"] == "lukhas-core")
    assert core["spec"]["analysis"]["stepWeights"] == [5, 10, 25, 50]    # 100 % is the promotion
    assert core["spec"]["service"] == {"port": 8080} and core["spec"]["targetRef"]["name"] == "lukhas-core"


def _spec_with(tmp_path, text: str):
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC.read_text().replace(
        "    analysis: {interval: 1m, count: 10, failure_limit: 0}\n", text))
    return spec


def test_without_a_serve_url_or_kubernetes_nothing_is_written():
    from lukhas_obs.spec.loader import load_spec_text

    text = SPEC.read_text()
    apps = sorted(s.name for s in load_spec(SPEC).services if s.kind == "application")
    assert sorted(rollouts.objects(load_spec_text(text, "spec.yaml"))) == sorted(
        [f"argo-rollouts/analysistemplate-{a}.yaml" for a in apps] + [f"flagger/canary-{a}.yaml" for a in apps])
    assert len(apps) == 5
    no_url = text.replace("    url: http://lukhas-slo-gate.lukhas.svc:9099\n", "")
    block = "kubernetes:\n  namespace: lukhas\n  labels: {release: kube-prometheus-stack}\n" \
            "  dashboard_label: grafana_dashboard\n"
    assert no_url != text and block in text
    for variant in (no_url, text.replace(block, "")):
        assert rollouts.objects(load_spec_text(variant, "spec.yaml")) == {}


def test_analysis_settings_with_defaults(tmp_path):
    spec = load_spec(_spec_with(tmp_path, "    analysis: {count: 4, inconclusive_limit: 1}\n"))
    metric = rollouts.analysis_template(spec, "lukhas-core")["spec"]["metrics"][0]
    assert (metric["interval"], metric["count"], metric["failureLimit"], metric["inconclusiveLimit"]) == \
        ("1m", 4, 0, 1)


BAD = [
    ("    analysis: {interval: 5s}\n", "gates.canary.analysis.interval: 5s must be whole seconds from 10s"),
    ("    analysis: {interval: 1d}\n", "under 1d"),
    ("    analysis: {interval: 90500ms}\n", "must be whole seconds"),
    ("    analysis: {interval: 30s}\n", "gates.serve.timeout (20s) must be under half of "
                                      "gates.canary.analysis.interval (30s)"),
    ("    analysis: {count: 3, failure_limit: 3}\n", "failure_limit 3 is never reached in 3 looks"),
    ("    analysis: {count: 3, inconclusive_limit: 5}\n", "inconclusive_limit 5 is never reached in 3 looks"),
    ("    analysis: {count: 0}\n", "gates.canary.analysis.count: 0 is below 1"),
    ("    analysis: {every: 1m}\n", "gates.canary.analysis.every: unknown key"),
]


@pytest.mark.parametrize("text,phrase", BAD, ids=[b[0].strip() for b in BAD])
def test_bad_analysis_settings_are_refused_at_file_and_line(tmp_path, text, phrase):
    r = run_cli("validate", str(_spec_with(tmp_path, text)), cwd=tmp_path)
    assert r.returncode == 2 and phrase in r.stderr, r.stderr
    assert "spec.yaml:" in r.stderr and "Traceback" not in r.stderr


def test_a_short_serve_timeout_is_refused_at_its_line(tmp_path):
    spec = tmp_path / "spec.yaml"
    text = SPEC.read_text().replace("    timeout: 20s\n", "    timeout: 5s\n")
    spec.write_text(text)
    line = text.splitlines().index("    timeout: 5s") + 1
    r = run_cli("validate", str(spec), cwd=tmp_path)
    assert r.returncode == 2 and f"spec.yaml:{line}: gates.serve.timeout: 5s must be whole seconds from 10s" \
        in r.stderr, r.stderr
