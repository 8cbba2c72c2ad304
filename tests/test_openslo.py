"""OpenSLO v1: export validates against the OpenSLO schemas; import of the export gives back the
same SLOs; what the spec cannot say is reported, not dropped."""

from __future__ import annotations

import json

import pytest
import yaml

from lukhas_obs.openslo import _Loader, import_docs
from lukhas_obs.spec import load_spec

from conftest import SHARED, SPEC, run_cli

SCHEMAS = SHARED / "schemas" / "openslo-v1"


@pytest.fixture(scope="module")
def openslo_validator():
    if not SCHEMAS.exists():
        pytest.skip(f"{SCHEMAS} is not here (shared/ is absent): the OpenSLO schemas are read from shared/")
    import jsonschema
    from referencing import Registry, Resource

    resources = []
    for path in sorted(SCHEMAS.rglob("*.json")):
        doc = json.loads(path.read_text())
        resources.append((doc["$id"], Resource.from_contents(doc)))
    registry = Registry().with_resources(resources)
    root = json.loads((SCHEMAS / "openslo.schema.json").read_text())
    return jsonschema.Draft7Validator(root, registry=registry)


def exported() -> list[dict]:
    r = run_cli("export", "openslo", "--spec", str(SPEC))
    assert r.returncode == 0, r.stderr
    return [d for d in yaml.load_all(r.stdout, Loader=_Loader) if d]


def test_export_validates_against_the_openslo_schemas(openslo_validator):
    docs = exported()
    assert sum(d["kind"] == "SLO" for d in docs) == 8 and sum(d["kind"] == "Service" for d in docs) == 5
    for doc in docs:
        errors = [e.message[:200] for e in openslo_validator.iter_errors(doc)]
        assert not errors, f"{doc['metadata']['name']}: {errors}"


def test_the_openslo_check_can_fail(openslo_validator):
    doc = exported()[1]
    doc["spec"]["objectives"][0]["target"] = 99.9  # a percentage where OpenSLO wants a ratio
    assert list(openslo_validator.iter_errors(doc))


def test_import_of_the_export_gives_back_the_same_slos(tmp_path):
    spec = load_spec(SPEC)
    f = tmp_path / "slos.yaml"
    r = run_cli("export", "openslo", "--spec", str(SPEC), "--out", str(f))
    assert r.returncode == 0
    r = run_cli("import", "openslo", str(f))
    assert r.returncode == 0, r.stderr
    imported = yaml.safe_load(r.stdout)["services"]
    # splice the imported SLOs into the spec in place of the originals, load it, compare models
    original = yaml.safe_load(SPEC.read_text())
    by_name = {s["name"]: s for s in original["services"]}
    for svc in by_name.values():
        svc.pop("slos", None)
    for svc in imported:
        by_name[svc["name"]]["slos"] = svc["slos"]
    spliced = tmp_path / "spliced.yaml"
    spliced.write_text(yaml.safe_dump(original, sort_keys=False))
    again = load_spec(spliced)
    supported = [s for s in spec.slos if s.sli.kind in ("ratio", "latency", "threshold")]
    got = {s.id: s for s in again.slos}
    for s in supported:
        assert got[s.id].sli == s.sli and got[s.id].objective == s.objective and got[s.id].period == s.period
        assert (got[s.id].page, got[s.id].ticket, got[s.id].min_events) == (s.page, s.ticket, s.min_events)


UNSUPPORTED = """
apiVersion: openslo/v1
kind: SLO
metadata: {name: calendar-slo}
spec:
  service: web
  indicator:
    metadata: {name: x}
    spec:
      ratioMetric:
        counter: true
        bad: {metricSource: {type: Prometheus, spec: {query: 'http_requests_total{code=~"5.."}'}}}
        total: {metricSource: {type: Prometheus, spec: {query: http_requests_total}}}
  timeWindow:
    - duration: 1M
      calendar: {startTime: 2022-01-01 00:00:00, timeZone: Europe/London}
  budgetingMethod: Occurrences
  objectives: [{target: 0.99}]
---
apiVersion: openslo/v1
kind: SLO
metadata: {name: slices}
spec:
  service: web
  indicatorRef: web-sli
  timeWindow: [{duration: 28d, isRolling: true}]
  budgetingMethod: Timeslices
  objectives: [{target: 0.99, timeSliceTarget: 0.9, timeSliceWindow: 1m}]
---
apiVersion: openslo/v1
kind: SLO
metadata: {name: datadog}
spec:
  service: web
  indicator:
    metadata: {name: y}
    spec:
      ratioMetric:
        counter: true
        good: {metricSource: {type: Datadog, spec: {query: 'sum:requests.ok{*}'}}}
        total: {metricSource: {type: Datadog, spec: {query: 'sum:requests{*}'}}}
  timeWindow: [{duration: 7d, isRolling: true}]
  budgetingMethod: Occurrences
  objectives: [{target: 0.995}]
---
apiVersion: openslo/v1
kind: SLO
metadata: {name: summed}
spec:
  service: web
  indicator:
    metadata: {name: z}
    spec:
      ratioMetric:
        counter: true
        bad: {metricSource: {type: Prometheus, spec: {query: 'sum(rate(http_requests_total{code=~"5.."}[5m]))'}}}
        total: {metricSource: {type: Prometheus, spec: {query: http_requests_total}}}
  timeWindow: [{duration: 7d, isRolling: true}]
  budgetingMethod: Occurrences
  objectives: [{target: 0.99}]
---
apiVersion: openslo/v1
kind: SLO
metadata: {name: web-errors}
spec:
  service: web
  indicator:
    metadata: {name: w}
    spec:
      ratioMetric:
        counter: true
        bad: {metricSource: {type: Prometheus, spec: {query: 'http_requests_total{code=~"5.."}'}}}
        total: {metricSource: {type: Prometheus, spec: {query: http_requests_total}}}
  timeWindow: [{duration: 28d, isRolling: true}]
  budgetingMethod: Occurrences
  objectives: [{target: 0.995}]
  alertPolicies: [page-on-burn]
"""


def test_what_the_spec_cannot_say_is_reported(tmp_path):
    result = import_docs([("in.yaml", UNSUPPORTED)])
    notes = "\n".join(result.notes)
    assert "calendar window" in notes and "2022-01-01 00:00:00" in notes  # the timestamp stays a string
    assert "Timeslices" in notes
    assert "'Datadog' is not Prometheus" in notes
    assert "not a plain counter selector" in notes
    assert "alertPolicies are not imported" in notes
    assert [s["name"] for s in result.services["web"]] == ["errors"]
    assert result.services["web"][0]["objective"] == 99.5 and result.services["web"][0]["period"] == "28d"


def test_import_of_nothing_usable_exits_1(tmp_path):
    f = tmp_path / "in.yaml"
    f.write_text(UNSUPPORTED.split("---")[0])
    r = run_cli("import", "openslo", str(f))
    assert r.returncode == 1 and "calendar window" in r.stderr
