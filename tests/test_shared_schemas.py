"""The schemas the tests read from the workspace's ../shared/schemas/ because no registry package
carries them: where a clone has no ../shared/, the skip names each absent file and the reason, and a
schema nobody explained is an error, not a silent skip."""

from __future__ import annotations

import pytest

import conftest
from conftest import UNPACKAGED_SCHEMAS, shared_schemas


def test_present_schemas_are_returned_in_order(tmp_path, monkeypatch):
    monkeypatch.setattr(conftest, "SHARED", tmp_path)
    for name in ("flagger/crd.yaml", "grafana-dashboard.jsonschema.json"):
        (tmp_path / "schemas" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "schemas" / name).write_text("{}")
    assert shared_schemas("grafana-dashboard.jsonschema.json", "flagger/crd.yaml") == [
        tmp_path / "schemas" / "grafana-dashboard.jsonschema.json", tmp_path / "schemas" / "flagger" / "crd.yaml"]


def test_the_skip_names_the_test_and_each_absent_file_with_its_reason(tmp_path, monkeypatch):
    monkeypatch.setattr(conftest, "SHARED", tmp_path)
    monkeypatch.setenv("PYTEST_CURRENT_TEST", "tests/test_x.py::test_y[z] (call)")
    with pytest.raises(pytest.skip.Exception) as skipped:
        shared_schemas("argo-rollouts/analysis-template-crd.yaml", "flagger/crd.yaml",
                       "grafana-dashboard.jsonschema.json", "grafana-dashboard.v11.6.x.jsonschema.json")
    assert str(skipped.value) == (
        "tests/test_x.py::test_y[z]: "
        f"../shared/schemas/argo-rollouts/analysis-template-crd.yaml absent: {UNPACKAGED_SCHEMAS['argo-rollouts']}; "
        f"../shared/schemas/flagger/crd.yaml absent: {UNPACKAGED_SCHEMAS['flagger']}; "
        "../shared/schemas/grafana-dashboard.jsonschema.json, "
        f"../shared/schemas/grafana-dashboard.v11.6.x.jsonschema.json absent: {UNPACKAGED_SCHEMAS['grafana-dashboard']}"
        " (a clone outside the workspace has no ../shared/)")


def test_a_schema_without_a_reason_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setattr(conftest, "SHARED", tmp_path)
    with pytest.raises(AssertionError, match="compose-spec.json: say in UNPACKAGED_SCHEMAS why"):
        shared_schemas("compose-spec.json")
