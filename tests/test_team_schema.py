"""`lukhas-obs schema --team`: the JSON Schema of a team file of a folder of specs, for editors.
It is cut from the spec's schema (the same definitions, defaults included), and the loader checks
team files against it, so what an editor accepts is what `validate` accepts (audit 10)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import jsonschema
import pytest
import yaml

from lukhas_obs.errors import SpecError
from lukhas_obs.spec.defaults import FIELDS, property_schema
from lukhas_obs.spec.loader import load_spec_dir
from lukhas_obs.spec.schemacheck import TEAM_KEYS, schema, team_schema

from conftest import ROOT, invoke_cli

TEAMS = ROOT / "tests" / "specs" / "teams"


def editor():
    """What an editor or CI linter runs: plain jsonschema, none of the loader's own extensions."""
    return jsonschema.Draft202012Validator(team_schema())


def spec_files() -> list[Path]:
    return sorted(p for root in (ROOT / "specs", ROOT / "tests" / "specs") for p in root.rglob("*.y*ml"))


def team_files() -> list[Path]:
    """The team files under specs/ and tests/specs, found as the loader finds them: in a folder
    whose one file with `severities` is the shared file, every other file."""
    out = []
    for folder in sorted({p.parent for p in spec_files()}):
        docs = {p: yaml.safe_load(p.read_text()) for p in folder.iterdir() if p.suffix in (".yaml", ".yml")}
        if len(docs) > 1 and sum("severities" in d for d in docs.values()) == 1:
            out += [p for p, d in docs.items() if "severities" not in d]
    return sorted(out)


def test_the_team_schema_is_a_valid_json_schema():
    jsonschema.Draft202012Validator.check_schema(team_schema())


def test_every_team_file_of_the_repository_validates():
    found = team_files()
    assert [p.relative_to(ROOT).as_posix() for p in found] == ["tests/specs/teams/payments.yaml",
                                                              "tests/specs/teams/search.yaml"]
    for path in found:
        doc = yaml.safe_load(path.read_text())
        errors = [f"{list(e.absolute_path)}: {e.message}" for e in editor().iter_errors(doc)]
        assert errors == [], path


def test_a_whole_spec_or_a_shared_file_is_not_a_team_file():
    """Every file with `severities` (a shared file, or a spec of its own) is refused for exactly
    the keys a team file may not hold, and for nothing else."""
    wholes = [p for p in spec_files() if p not in team_files()]
    assert [p.relative_to(ROOT).as_posix() for p in wholes] == ["specs/lukhas.yaml", "tests/specs/calendar.yaml",
                                                               "tests/specs/teams/shared.yaml"]
    for path in wholes:
        doc = yaml.safe_load(path.read_text())
        [error] = editor().iter_errors(doc)
        assert (error.validator, list(error.absolute_path)) == ("additionalProperties", []), path
        assert set(re.findall(r"'([^']+)'", error.message)) == set(doc) - set(TEAM_KEYS) >= {"severities"}, path


def test_the_team_schema_carries_the_specs_defaults():
    """Cut from schema(), so every default under services, metrics and alerts is the spec's."""
    spec, team = schema(), team_schema()
    paths = [p for p in FIELDS if p[0] in TEAM_KEYS]
    assert {p: property_schema(team, p)["default"] for p in paths} == \
        {p: property_schema(spec, p)["default"] for p in paths}
    assert property_schema(team, ("services", "*", "metrics_path"))["default"] == "/metrics"
    assert property_schema(team, ("alerts", "*", "error_ratio", "window"))["default"] == "5m"


def test_the_cli_prints_the_team_schema():
    r = invoke_cli("schema", "--team")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == team_schema()
    assert json.loads(r.stdout)["$id"] == "https://lukhas.ai/schemas/lukhas-obs/v1/team.json"


PAYMENTS = (TEAMS / "payments.yaml").read_text()
SERVICE_KEYS = ", ".join(sorted(team_schema()["properties"]["services"]["items"]["properties"]))


def payments(old: str, new: str) -> str:
    assert PAYMENTS.count(old) == 1, f"mutation anchor {old!r} must occur once in payments.yaml"
    return PAYMENTS.replace(old, new)


def line_of(text: str, snippet: str) -> int:
    [line] = [i + 1 for i, ln in enumerate(text.splitlines()) if snippet in ln]
    return line


# (id, payments.yaml as mutated, what plain jsonschema says (key path, message), what `validate`
#  says of the folder ([line snippet, key path, message] for teams/payments.yaml))
REFUSED = [
    ("typo-top-level", payments("services:", "servces:"),
     ([], "Additional properties are not allowed ('servces' was unexpected)"),
     ("servces:", "servces", "unknown key (allowed here: alerts, apiVersion, metrics, services, team)")),
    ("typo-in-a-service", payments("    port: 9001", "    prot: 9001"),
     (["services", 1], "Additional properties are not allowed ('prot' was unexpected)"),
     ("prot: 9001", "services[1].prot", f"unknown key (allowed here: {SERVICE_KEYS})")),
    ("typo-in-an-alert", payments("    for: 15m", "    fro: 15m"),
     (["alerts", 0], "Additional properties are not allowed ('fro' was unexpected)"),
     ("fro: 15m", "alerts[0].fro", "unknown key (allowed here: dashboard, description, error_ratio, expr, for, "
                                   "name, priority, quantile, rate, runbook, service, service_label, summary, "
                                   "target_down)")),
    ("team-not-text", payments("team: payments", "team: 42"),
     (["team"], "42 is not of type 'string'"), ("team: 42", "team", "42 is not of type 'string'")),
    ("wrong-api-version", payments("apiVersion: lukhas-obs/v1", "apiVersion: lukhas-obs/v2"),
     (["apiVersion"], "'lukhas-obs/v1' was expected"),
     ("apiVersion:", "apiVersion", "'lukhas-obs/v2' is not supported; expected 'lukhas-obs/v1'")),
    ("no-api-version", payments("apiVersion: lukhas-obs/v1\n", ""),
     ([], "'apiVersion' is a required property"), ("team: payments", "", "'apiVersion' is required")),
    ("services-not-a-list", payments("services:\n  - name: checkout", "services:\n  x:\n  - name: checkout")
     .replace("\n  - name: ledger", "\n  y:\n  - name: ledger"),
     (["services"], None), ("services:", "services", "is not of type 'array'")),
    ("a-shared-key", payments("team: payments\n", "team: payments\nreceivers: {}\n"),
     ([], "Additional properties are not allowed ('receivers' was unexpected)"),
     ("receivers:", "receivers", "a team file holds only apiVersion, team, services, metrics, alerts; receivers "
                                 "belongs in the shared file teams/shared.yaml")),
]


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shutil.copytree(TEAMS, tmp_path / "teams")
    return tmp_path / "teams"


@pytest.mark.parametrize("case", REFUSED, ids=[c[0] for c in REFUSED])
def test_an_editor_and_validate_refuse_the_same_team_file(case, folder):
    _, text, (path, message), (snippet, key_path, problem) = case
    errors = list(editor().iter_errors(yaml.safe_load(text)))
    assert [list(e.absolute_path) for e in errors] == [path]
    if message is not None:
        assert errors[0].message == message
    (folder / "payments.yaml").write_text(text)
    with pytest.raises(SpecError) as refused:
        load_spec_dir(folder)
    lines = [str(p) for p in refused.value.problems]
    where = f"teams/payments.yaml:{line_of(text, snippet)}: " + (f"{key_path}: " if key_path else "")
    if message is None:   # jsonschema's message quotes the whole value: say only its end
        assert len(lines) == 1 and lines[0].startswith(where) and lines[0].endswith(problem), lines
    else:
        assert lines == [where + problem]


# Team files both accept: the loader never needed services in every team file.
ACCEPTED = [
    ("no-team-name", payments("team: payments\n", "")),
    ("only-metrics",
     "apiVersion: lukhas-obs/v1\nteam: payments\nmetrics:\n  payments_settled_total: {type: counter}\n"),
    ("empty-services", "apiVersion: lukhas-obs/v1\nservices: []\n"),
]


@pytest.mark.parametrize("text", [c[1] for c in ACCEPTED], ids=[c[0] for c in ACCEPTED])
def test_an_editor_and_validate_accept_the_same_team_file(text, folder):
    assert list(editor().iter_errors(yaml.safe_load(text))) == []
    (folder / "payments.yaml").write_text(text)
    spec = load_spec_dir(folder)
    names = {s.name for s in spec.services}
    assert names == {"gateway", "search-api"} | ({"checkout", "ledger"} if "checkout" in text else set())
