"""A folder of team specs with one shared file generates one consistent output; collisions and
misplaced keys are refused with errors that name both files."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml

from lukhas_obs.spec import load_spec

from conftest import ROOT, run_cli, tool, tree_snapshot

TEAMS = ROOT / "tests" / "specs" / "teams"


def generate(folder, tmp_path, tag="a"):
    out, dep = tmp_path / f"gen-{tag}", tmp_path / f"dep-{tag}"
    return run_cli("generate", str(folder), "--out", str(out), "--deployment-out", str(dep), cwd=tmp_path), out


def test_a_folder_of_team_specs_generates_one_consistent_output(tmp_path):
    r, out = generate(TEAMS, tmp_path)
    assert r.returncode == 0, r.stderr
    prom = yaml.safe_load((out / "prometheus/prometheus.yml").read_text())
    # every team's services, and the health probes
    assert sorted(j["job_name"] for j in prom["scrape_configs"]) == ["blackbox-health", "checkout", "gateway",
                                                                     "ledger", "search-api"]
    alerts = yaml.safe_load((out / "prometheus/rules/alerts.rules.yml").read_text())["groups"][0]["rules"]
    assert [a["alert"] for a in alerts] == ["LedgerStalled"] and alerts[0]["labels"]["service"] == "ledger"
    rules = sorted(str(p) for p in (out / "prometheus/rules").glob("*.rules.yml"))
    assert subprocess.run([tool("promtool"), "check", "rules", *rules], capture_output=True).returncode == 0
    tests = sorted((out / "prometheus/rules").glob("*.test.yml"))
    assert [t.name for t in tests] == sorted(f"slo-{s.id}.test.yml" for s in load_spec(TEAMS).slos)
    for test in tests:
        r = subprocess.run([tool("promtool"), "test", "rules", test.name], cwd=test.parent,
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr
    r2, out2 = generate(TEAMS, tmp_path, "b")
    assert tree_snapshot(out) == tree_snapshot(out2)


def copy(tmp_path):
    folder = tmp_path / "teams"
    shutil.copytree(TEAMS, folder)
    return folder


def test_a_name_defined_in_two_files_names_both(tmp_path):
    folder = copy(tmp_path)
    search = folder / "search.yaml"
    search.write_text(search.read_text().replace("name: search-api", "name: checkout"))
    r, out = generate(folder, tmp_path)
    assert r.returncode == 2
    assert r.stderr.splitlines() == [
        "teams/search.yaml:4: services[0].name: service 'checkout' is already defined in teams/payments.yaml:6",
        "lukhas-obs: 1 problem in the spec; nothing was written."]
    assert not out.exists()


def test_a_metric_defined_twice_and_a_misplaced_key_are_refused(tmp_path):
    folder = copy(tmp_path)
    search = folder / "search.yaml"
    search.write_text(search.read_text().replace("team: search\n", "team: search\nreceivers: {}\nmetrics:\n"
                                                 "  http_requests_total: {type: counter}\n"))
    r, _ = generate(folder, tmp_path)
    assert r.returncode == 2
    assert r.stderr.splitlines() == [
        "teams/search.yaml:3: receivers: a team file holds only apiVersion, team, services, metrics, alerts;"
        " receivers belongs in the shared file teams/shared.yaml",
        "teams/search.yaml:5: metrics.http_requests_total: metric 'http_requests_total' is already defined in"
        " teams/shared.yaml:13",
        "lukhas-obs: 2 problems in the spec; nothing was written."]


def test_an_error_inside_a_team_file_points_at_that_file_and_line(tmp_path):
    folder = copy(tmp_path)
    payments = folder / "payments.yaml"
    payments.write_text(payments.read_text().replace("port: 9001", "port: 99999"))
    r, _ = generate(folder, tmp_path)
    assert r.returncode == 2
    assert r.stderr.splitlines() == ["teams/payments.yaml:19: services[1].port: 99999 is above 65535",
                                     "lukhas-obs: 1 problem in the spec; nothing was written."]


def test_exactly_one_shared_file(tmp_path):
    folder = copy(tmp_path)
    (folder / "shared.yaml").unlink()
    r, _ = generate(folder, tmp_path)
    assert r.returncode == 2
    assert r.stderr.splitlines() == [
        "teams/:1: exactly one file must hold the shared definitions (severities, receivers, ...); found none",
        "lukhas-obs: 1 problem in the spec; nothing was written."]


def test_a_folder_with_only_its_shared_file_says_there_are_no_services(tmp_path):
    """Not the schema's `services: [] should be non-empty` about a key no file holds (audit)."""
    from lukhas_obs.errors import SpecError
    from lukhas_obs.spec import load_spec

    folder = copy(tmp_path)
    for team in ("payments.yaml", "search.yaml"):
        (folder / team).unlink()
    shared = yaml.safe_load((folder / "shared.yaml").read_text())
    del shared["services"]
    (folder / "shared.yaml").write_text(yaml.safe_dump(shared))
    with pytest.raises(SpecError) as refused:
        load_spec(folder)
    assert [(p.line, p.path, p.message) for p in refused.value.problems] == [
        (1, "", f"no file of {folder.as_posix()}/ declares services: add a team file with `services:` beside the "
                "shared file (or list them in it)")]
