"""`lukhas-obs import ... --into FOLDER` as a new user runs it (found by the new-user audit): into a
folder that holds only its shared file, with the histogram's catalogue entry in the folder (the
bucket note names whose entry it is), and refusals that point at what the user wrote (source
file, line, key path), not at the team file lukhas-obs writes."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest
import yaml

from lukhas_obs.importers.common import team_file
from lukhas_obs.importers.openslo import import_openslo
from lukhas_obs.importers.sloth import import_sloth

from conftest import ROOT, invoke_cli

SHARED = textwrap.dedent("""\
    apiVersion: lukhas-obs/v1
    project: platform
    receivers:
      pager:
        pagerduty: {routing_key_file: /run/secrets/pd_key}
    severities:
      P1: {level: critical, receiver: pager, page: true}
      P3: {level: warning, receiver: pager}
    metrics:
      http_requests_total: {type: counter, labels: [code]}
      http_request_duration_seconds: {type: histogram, buckets: [0.1, 0.3, 1, 3]}
    """)
SHARED_HISTOGRAM_LINE = 11   # the line of http_request_duration_seconds in SHARED


W = "[{{.window}}]"
AVAILABILITY = (f"{{error_query: 'sum(rate(http_requests_total{{code=~\"5..\"}}{W}))', "
                f"total_query: 'sum(rate(http_requests_total{W}))'}}")
COUNT = f"sum(rate(http_request_duration_seconds_count{W}))"


def sloth(le: str = "0.3", service: str = "myservice") -> str:
    """A Sloth spec: an availability SLO (line 4) and a latency SLO at `le` (line 7; its
    error_query on line 11)."""
    bucket = f'sum(rate(http_request_duration_seconds_bucket{{le="{le}"}}{W}))'
    return textwrap.dedent(f"""\
        version: "prometheus/v1"
        service: "{service}"
        slos:
          - name: "availability"
            objective: 99.9
            sli: {{events: {AVAILABILITY}}}
          - name: "latency"
            objective: 99
            sli:
              events:
                error_query: {COUNT} - {bucket}
                total_query: {COUNT}
        """)


OPENSLO = textwrap.dedent("""\
    apiVersion: openslo/v1
    kind: SLO
    metadata:
      name: web-latency
    spec:
      service: web
      budgetingMethod: Occurrences
      timeWindow:
        - duration: 28d
          isRolling: true
      indicator:
        metadata: {name: web-latency-sli}
        spec:
          ratioMetric:
            counter: true
            good:
              metricSource:
                type: Prometheus
                spec:
                  query: http_request_duration_seconds_bucket{job="web", le="0.25"}
            total:
              metricSource:
                type: Prometheus
                spec:
                  query: http_request_duration_seconds_count{job="web"}
      objectives:
        - target: 0.99
    """)
OPENSLO_GOOD_QUERY_LINE = 20


def folder_with_shared_only(tmp_path: Path) -> Path:
    folder = tmp_path / "specs"
    folder.mkdir()
    (folder / "shared.yaml").write_text(SHARED)
    return folder


@pytest.mark.parametrize("into", ["folder", "shared file"])
def test_import_into_a_folder_that_holds_only_its_shared_file(tmp_path, into):
    """Audit 12: the shared file alone (no team file yet) was refused ("services: [] should be
    non-empty", exit 2), so the first import into a new folder of specs could not be made."""
    folder = folder_with_shared_only(tmp_path)
    (tmp_path / "sloth.yml").write_text(sloth())
    target = folder if into == "folder" else folder / "shared.yaml"
    r = invoke_cli("import", "sloth", str(tmp_path / "sloth.yml"), "--into", str(target),
                   "--out", str(folder / "team.yaml"))
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in folder.iterdir()) == ["shared.yaml", "team.yaml"]
    team = yaml.safe_load((folder / "team.yaml").read_text())
    assert [s["name"] for s in team["services"][0]["slos"]] == ["availability", "latency"]
    assert "metrics" not in team   # both metrics are the shared file's
    r = invoke_cli("validate", str(folder))
    assert (r.returncode, r.stdout.strip()) == (0, f"{folder.as_posix()}/: valid (1 services, 2 SLOs, 0 alerts)"), \
        r.stdout + r.stderr
    out = tmp_path / "generated"
    r = invoke_cli("generate", "--spec", str(folder), "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in (out / "prometheus/rules").glob("slo-*.rules.yml")) == [
        "slo-myservice-availability.rules.yml", "slo-myservice-latency.rules.yml"]


def test_a_folder_without_services_is_still_not_a_valid_spec(tmp_path):
    """What import reads is not what validate accepts: a folder of specs needs a service."""
    folder = folder_with_shared_only(tmp_path)
    r = invoke_cli("validate", str(folder))
    assert r.returncode == 2
    assert r.stderr.splitlines()[0] == (f"{folder.as_posix()}/shared.yaml:1: no file of {folder.as_posix()}/ declares "
                                        "services: add a team file with `services:` beside the shared file (or list "
                                        "them in it)")


def notes_of(stderr: str, slo: str) -> list[str]:
    """The notes the CLI printed under one imported SLO."""
    lines = stderr.splitlines()
    start = next(i for i, line in enumerate(lines) if line.endswith(f"imported as {slo}"))
    notes = []
    for line in lines[start + 1:]:
        if not line.startswith("  note: "):
            break
        notes.append(line[len("  note: "):])
    return notes


def bucket_notes(notes: list[str]) -> list[str]:
    return [n for n in notes if n.startswith("histogram ")]


def test_the_bucket_note_names_the_catalogue_entry_of_the_folder_imported_into(tmp_path):
    """Audit 14: with --into, the note said "the catalogue entry lists only that bucket boundary:
    add the others" although the team file writes no entry and the folder's entry has them all."""
    folder = folder_with_shared_only(tmp_path)
    (tmp_path / "sloth.yml").write_text(sloth("0.3"))
    r = invoke_cli("import", "sloth", str(tmp_path / "sloth.yml"), "--into", str(folder),
                   "--out", str(folder / "team.yaml"))
    assert r.returncode == 0, r.stderr
    shared = f"{folder.as_posix()}/shared.yaml:{SHARED_HISTOGRAM_LINE}"
    assert bucket_notes(notes_of(r.stderr, "myservice/latency")) == [
        f"histogram http_request_duration_seconds: the catalogue entry at {shared} has the bucket boundary 0.3 (the "
        "team file does not declare it again)"]
    # the team file's header says the same
    assert (f"#   - histogram http_request_duration_seconds: the catalogue entry at {shared} has the bucket boundary "
            "0.3 (the team file does not declare it again)") in (folder / "team.yaml").read_text().splitlines()


def test_the_bucket_note_names_the_team_file_of_the_folder_that_declares_the_histogram(tmp_path):
    """The entry may be another team's (a folder's catalogue is merged from every file)."""
    folder = tmp_path / "teams"
    shutil.copytree(ROOT / "tests/specs/teams", folder)
    search = folder / "search.yaml"
    search.write_text(search.read_text().replace("services:", "metrics:\n  rpc_duration_seconds: "
                                                                "{type: histogram, buckets: [0.5, 2]}\nservices:", 1))
    line = search.read_text().splitlines().index("  rpc_duration_seconds: {type: histogram, buckets: [0.5, 2]}") + 1
    doc = sloth("0.5", service="rpc").replace("http_request_duration_seconds", "rpc_duration_seconds")
    (tmp_path / "sloth.yml").write_text(doc)
    r = invoke_cli("import", "sloth", str(tmp_path / "sloth.yml"), "--into", str(folder),
                   "--out", str(folder / "rpc.yaml"))
    assert r.returncode == 0, r.stderr
    assert bucket_notes(notes_of(r.stderr, "rpc/latency")) == [
        f"histogram rpc_duration_seconds: the catalogue entry at {folder.as_posix()}/search.yaml:{line} has the bucket "
        "boundary 0.5 (the team file does not declare it again)"]
    assert invoke_cli("validate", str(folder)).returncode == 0


def test_without_into_the_bucket_note_lists_the_boundaries_the_team_file_declares():
    """The team file's own entry holds every boundary the imported SLOs read, and the note says
    which (it said "only that bucket boundary" with two SLOs at two)."""
    result = import_sloth([("a.yml", sloth("0.25"), None),
                           ("b.yml", sloth("0.5", service="other").replace('"latency"', '"slow"'), None)])
    team = team_file(result, "sloth", base=None, port=8080, team=None, priorities={"P1", "P3"}, base_metrics={})
    assert team.slos == 4 and not team.unplaced
    assert yaml.safe_load(team.text)["metrics"]["http_request_duration_seconds"]["buckets"] == [0.25, 0.5]
    expected = ("histogram http_request_duration_seconds: the team file's catalogue entry lists only the bucket "
                "boundaries the imported SLOs read (0.25, 0.5): add the others your service exposes")
    assert [bucket_notes(o.notes) for o in result.imported] == [[], [expected], [], [expected]]


def test_a_threshold_off_the_folders_buckets_is_refused_at_the_users_query(tmp_path):
    """Audit 14 and 15: the refusal named the team file's `services[0].slos[1].sli.latency.threshold`
    and not whose catalogue lacks the boundary; it now names the Sloth file's line and key, and
    the file that declares the histogram."""
    folder = folder_with_shared_only(tmp_path)
    src = tmp_path / "sloth.yml"
    src.write_text(sloth("0.25"))
    r = invoke_cli("import", "sloth", str(src), "--into", str(folder), "--out", str(folder / "team.yaml"))
    assert r.returncode == 0, r.stderr
    lines = r.stderr.splitlines()
    at = lines.index(f"{src.as_posix()}:7: Sloth SLO latency of myservice: not imported:")
    assert lines[at + 1] == (
        f"  - {src.as_posix()}:11: slos[1].sli.events.error_query: histogram http_request_duration_seconds, declared "
        f"at {folder.as_posix()}/shared.yaml:{SHARED_HISTOGRAM_LINE}, has no bucket boundary at 0.25 (its "
        "boundaries: 0.1, 0.3, 1, 3); a latency SLI is exact only on a boundary: add 0.25 to its buckets there, or "
        "choose a threshold on a boundary")
    assert invoke_cli("validate", str(folder)).returncode == 0   # the other SLO was written


def test_an_openslo_refusal_points_at_the_query_in_the_slo_document(tmp_path):
    folder = folder_with_shared_only(tmp_path)
    result = import_openslo([("web.yaml", OPENSLO, None)])
    team = team_file(result, "openslo", base=folder, port=8080, team=None, priorities={"P1", "P3"},
                     base_metrics=_catalogue(folder))
    assert team.slos == 0
    assert [str(b) for b in result.outcomes[0].blockers] == [
        f"web.yaml:{OPENSLO_GOOD_QUERY_LINE}: spec.indicator.spec.ratioMetric.good.metricSource.spec.query: histogram "
        f"http_request_duration_seconds, declared at {folder.as_posix()}/shared.yaml:{SHARED_HISTOGRAM_LINE}, has no "
        "bucket boundary at 0.25 (its boundaries: 0.1, 0.3, 1, 3); a latency SLI is exact only on a boundary: add "
        "0.25 to its buckets there, or choose a threshold on a boundary"]


def _catalogue(folder: Path):
    from lukhas_obs.importers.common import catalogue
    from lukhas_obs.spec import load_spec
    from lukhas_obs.spec.loader import metric_origins

    return catalogue(load_spec(folder, services_optional=True), metric_origins(folder))


SLICES = OPENSLO.replace("Occurrences", "Timeslices").replace('le="0.25"', 'le="0.3"').replace(
    "    - target: 0.99\n", "    - target: 0.99\n      timeSliceTarget: 0.95\n      timeSliceWindow: 7h\n")


@pytest.mark.parametrize("source,tool,expected", [
    # a check of the SLO entry: the key the user wrote it at
    (SLICES, "openslo",
     "{src}:29: spec.objectives[0].timeSliceWindow: a 7h slice is longer than the shortest burn-rate window (5m), "
     "which would then judge less than one slice (the spec's check of timeslices.window)"),
    # a check of the service: the service's key; the file it collides with is the user's, not a temporary copy
    (sloth(service="checkout"), "sloth",
     "{src}:2: service: service 'checkout' is already defined in {folder}/payments.yaml:6 (the spec's check of the "
     "service's name)"),
    # a priority the folder has no severity for, from the SLO's own annotation
    (OPENSLO.replace("  name: web-latency\n", "  name: web-latency\n  annotations: {obs.lukhas.ai/page: P2}\n", 1)
     .replace('le="0.25"', 'le="0.3"'), "openslo",
     "{src}:5: metadata.annotations.obs.lukhas.ai/page: page priority P2 is not a severity of {folder}"),
], ids=["slo", "service", "priority"])
def test_a_refusal_by_the_specs_checks_names_the_source_file_line_and_key(tmp_path, source, tool, expected):
    """Audit 15: a refusal said `the spec refuses it: services[0].slos[0].timeslices.window: ...`,
    a path in the team file the user never wrote (and "already defined in /tmp/lukhas-obs-import-...")."""
    folder = tmp_path / "teams"
    shutil.copytree(ROOT / "tests/specs/teams", folder)
    src = tmp_path / "in.yaml"
    src.write_text(source)
    r = invoke_cli("import", tool, str(src), "--into", str(folder))
    assert r.returncode == 1, r.stderr   # nothing imported
    refusals = sorted({line[4:] for line in r.stderr.splitlines() if line.startswith("  - ")})
    assert refusals == [expected.format(src=src.as_posix(), folder=folder.as_posix())]
