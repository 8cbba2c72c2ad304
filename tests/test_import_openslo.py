"""`import openslo` on OpenSLO files in the shapes people publish (go-sdk and oslo lists, Nobl9's
keys, multi-document streams, references across files): each SLO is imported with a note for
every assumption, or refused with every reason at once; the team file validates as is; a bad
file is reported at its line and never sinks the others. The documents are written here in the
shapes observed in the public repositories (benchmarks/import_corpus.py lists them)."""

from __future__ import annotations

import shutil
import textwrap

import pytest
import yaml

from lukhas_obs.importers.common import catalogue, team_file
from lukhas_obs.importers.openslo import import_openslo
from lukhas_obs.model import Timeslices
from lukhas_obs.spec import load_spec
from lukhas_obs.spec.loader import metric_origins

from conftest import ROOT, run_cli

TEAMS = ROOT / "tests" / "specs" / "teams"


def slo(name="web-errors", service="web", window="timeWindow: [{duration: 28d, isRolling: true}]",
        budgeting="budgetingMethod: Occurrences", objective="objectives: [{target: 0.995}]",
        indicator=None, extra="") -> str:
    indicator = indicator or """indicator:
    metadata: {name: w}
    spec:
      ratioMetric:
        counter: true
        bad: {metricSource: {type: Prometheus, spec: {query: 'http_requests_total{job="web", code=~"5.."}'}}}
        total: {metricSource: {type: Prometheus, spec: {query: 'http_requests_total{job="web"}'}}}"""
    return textwrap.dedent(f"""\
        apiVersion: openslo/v1
        kind: SLO
        metadata: {{name: {name}}}
        spec:
          service: {service}
          {window}
          {budgeting}
          {objective}
          {textwrap.indent(indicator, "          ").lstrip()}
          {extra}
        """)


def ratio(bad: str = "", good: str = "", total: str = 'http_requests_total{job="web"}', kind="Prometheus",
          counter="counter: true") -> str:
    parts = [f"      {counter}"] if counter else []
    if bad:
        parts.append(f"      bad: {{metricSource: {{type: {kind}, spec: {{query: '{bad}'}}}}}}")
    if good:
        parts.append(f"      good: {{metricSource: {{type: {kind}, spec: {{query: '{good}'}}}}}}")
    parts.append(f"      total: {{metricSource: {{type: {kind}, spec: {{query: '{total}'}}}}}}")
    return "indicator:\n  metadata: {name: i}\n  spec:\n    ratioMetric:\n" + "\n".join(parts)


def run(*texts: str):
    result = import_openslo([(f"f{i}.yaml", t, None) for i, t in enumerate(texts)])
    team = team_file(result, "openslo", base=None, port=8080, team=None, priorities={"P1", "P3"},
                     base_metrics={})
    assert not team.unplaced, team.unplaced
    return result, team


def notes_of(result) -> str:
    return "\n".join(n for o in result.outcomes for n in o.notes)


# (id, documents, kinds of blockers expected (empty: imported), words expected in notes or reasons)
CASES = [
    ("plain stream", [slo() + "---\n" + slo(name="web-other")], [], ["service prefix is implied"]),
    ("a top-level list, as go-sdk and oslo write", ["- " + textwrap.indent(slo(), "  ").lstrip()], [], []),
    ("targetPercent", [slo(objective="objectives: [{targetPercent: 99.5}]")], [], []),
    ("a target given as a string", [slo(objective="objectives: [{target: '0.995'}]")], [],
     ["was the string '0.995'"]),
    ("1w is 7d", [slo(window="timeWindow: [{duration: 1w, isRolling: true}]")], [],
     ["window 1w read as the period 7d"]),
    ("4w is 28d", [slo(window="timeWindow: [{duration: 4w, isRolling: true}]")], [], ["4w read as the period 28d"]),
    ("no window: the default period, said", [slo(window="")], [], ["default period, 30d"]),
    ("no budgeting method: assumed, said", [slo(budgeting="")], [], ["Occurrences (counting good and bad"]),
    ("a query without job is re-scoped, said",
     [slo(indicator=ratio(bad='http_requests_total{code=~"5.."}', total="http_requests_total"))], [],
     ['has no job matcher: lukhas-obs reads it from the service\'s own scrape job, job="web"']),
    ("another job is kept, said", [slo(indicator=ratio(bad='http_requests_total{job="edge", code="500"}',
                                                        total='http_requests_total{job="edge"}'))], [],
     ['keeps its job matcher']),
    ("good chosen over bad, said", [slo(indicator=ratio(bad='http_requests_total{job="web", code="500"}',
                                                         good='http_requests_total{job="web", code="200"}'))], [],
     ["both good and bad given: good used"]),
    ("sum by and rate are taken apart, the dimension said",
     [slo(indicator=ratio(bad='sum by (code) (rate(http_requests_total{job="web", code="500"}[5m]))',
                          total='sum(http_requests_total{job="web"})'))], [], ["`sum by (code)` dropped"]),
    ("a bucket over its count is a latency SLI",
     [slo(indicator=ratio(good='http_request_duration_seconds_bucket{job="web", le="0.25"}',
                          total='http_request_duration_seconds_count{job="web"}'))], [], ["read as a latency SLI"]),
    ("availability from sum(up) over count(up)",
     [slo(indicator=ratio(good='sum(up{job="web"})', total='count(up{job="web"})', counter="counter: false"))], [],
     ["availability SLI"]),
    ("a strict lt is made inclusive, said",
     [slo(objective="objectives: [{target: 0.99, op: lt, value: 200}]",
          indicator="indicator:\n  metadata: {name: t}\n  spec:\n    thresholdMetric:\n      metricSource: "
                    "{type: Prometheus, spec: {query: 'queue_depth{job=\"web\"}'}}")], [],
     ["op lt 200 made inclusive"]),
    ("names are normalised, said", [slo(name="Web_Errors", service="Web.API")], [], ["renamed 'web-api'"]),
    ("Nobl9's promql key", [slo(indicator=ratio(bad="x").replace(
        "query: 'x'", "promql: 'http_requests_total{job=\"web\", code=\"500\"}'"))], [],
     ["under promql (Nobl9's key)"]),
    ("every reason at once",
     [slo(window="timeWindow: [{duration: 1w, isRolling: false, calendar: {startTime: 2022-01-01 12:00:00, "
                 "timeZone: America/New_York}}]", budgeting="budgetingMethod: RatioTimeslices",
          objective="objectives: [{target: 0.99, timeSliceTarget: 0.9, timeSliceWindow: 1m}, {target: 0.9}]",
          indicator=ratio(good="sum(http_requests{code=\"200\"}) / 2", total="http_requests"))],
     ["timeslices", "objectives", "expression", "counter-name"], ["calendar startTime 2022-01-01 12:00:00 moved"]),
    ("a Datadog source is not Prometheus", [slo(indicator=ratio(good="sum:requests.ok{*}", total="sum:requests{*}",
                                                                kind="Datadog"))], ["source"],
     ["source type Datadog is not Prometheus"]),
    ("two weeks is the period 14d", [slo(window="timeWindow: [{duration: 2w, isRolling: true}]")], [],
     ["window 2w read as the period 14d"]),
    ("a year is no period of the spec", [slo(window="timeWindow: [{duration: 52w, isRolling: true}]")], ["period"],
     ["5d to 90d"]),
    ("a rolling month neither", [slo(window="timeWindow: [{duration: 1M, isRolling: true}]")], ["period"], ["month"]),
    ("a gauge ratio", [slo(indicator=ratio(good="ok_now", total="all_now", counter="counter: false"))],
     ["gauge-ratio"], []),
    ("a raw ratio", [slo(indicator="indicator:\n  metadata: {name: r}\n  spec:\n    ratioMetric:\n"
                                   "      rawType: success\n"
                                   "      raw: {metricSource: {type: Prometheus, spec: {query: 'x'}}}")], ["raw"],
     ["no range ([5m])"]),
    ("a raw ratio over a range", [slo(indicator="indicator:\n  metadata: {name: r}\n  spec:\n    ratioMetric:\n"
                                   "      rawType: success\n      raw: {metricSource: {type: Prometheus, spec: "
                                   "{query: 'sum(rate(ok_total[5m])) / sum(rate(all_total[5m]))'}}}")], [],
     ["range [5m] read as each burn-rate window", "1 - (the query)"]),
    ("an unresolved indicatorRef", [slo(indicator="indicatorRef: nowhere")], ["reference"], ["names no SLI document"]),
    ("a v1 indicator under apiVersion openslo/v1alpha", [slo().replace("openslo/v1", "openslo/v1alpha")],
     ["invalid"], ["in v1alpha: indicator.thresholdMetric or objectives[].ratioMetrics"]),
    ("an apiVersion no OpenSLO release has", [slo().replace("openslo/v1", "openslo/v3")], ["version"], []),
    ("no service, no target", [slo(service="", objective="objectives: [{}]")], ["invalid"],
     []),
    ("an objective whose alerts could never fire is refused by the spec's checks",
     [slo(objective="objectives: [{target: 0.5}]")], ["spec"], ["cannot happen", "objectives must be above"]),
]


@pytest.mark.parametrize("docs,blockers,words", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_shape_is_read_and_each_change_said(docs, blockers, words):
    result, team = run(*docs)
    assert not result.problems
    kinds = sorted({b.kind for o in result.outcomes for b in o.blockers})
    assert kinds == sorted(blockers), [str(b) for o in result.outcomes for b in o.blockers]
    said = notes_of(result) + "\n".join(str(b) for o in result.outcomes for b in o.blockers)
    for word in words:
        assert word in said, said
    if not blockers:
        assert team.slos == len(result.outcomes) >= 1


def test_references_resolve_across_files_and_a_non_prometheus_source_is_said():
    sli = textwrap.dedent("""\
        - apiVersion: openslo/v1
          kind: SLI
          metadata: {name: web-errors}
          spec:
            ratioMetric:
              counter: true
              bad: {metricSource: {metricSourceRef: prom, spec: {query: 'http_requests_total{job="web", code="500"}'}}}
              total: {metricSource: {metricSourceRef: prom, spec: {query: 'http_requests_total{job="web"}'}}}
        - apiVersion: openslo/v1
          kind: SLI
          metadata: {name: dd-errors}
          spec:
            ratioMetric:
              counter: true
              bad: {metricSource: {metricSourceRef: dd, spec: {query: 'http_requests_total{code="500"}'}}}
              total: {metricSource: {metricSourceRef: dd, spec: {query: http_requests_total}}}
        """)
    sources = textwrap.dedent("""\
        - {apiVersion: openslo/v1, kind: DataSource, metadata: {name: prom}, spec: {type: Prometheus}}
        - {apiVersion: openslo/v1, kind: DataSource, metadata: {name: dd}, spec: {type: Datadog}}
        """)
    result, team = run(slo(indicator="indicatorRef: web-errors") + "---\n" +
                       slo(name="dd", indicator="indicatorRef: dd-errors"), sli, sources)
    ok, dd = result.outcomes
    assert ok.imported and team.slos == 1
    assert "resolved to the SLI at f1.yaml:1" in notes_of(result) and "DataSource at f2.yaml:1" in notes_of(result)
    # a Datadog query that happens to look like a selector is still not Prometheus
    assert {b.kind for b in dd.blockers} == {"source"} and "Datadog" in str(dd.blockers[0])


NOT_AN_OBJECT = "where an object (apiVersion, kind, ...) was expected"
BAD_INPUT = [
    ("a YAML syntax error", "apiVersion: openslo/v1\nkind: [SLO\n",
     ["f0.yaml:3: YAML syntax error: while parsing a flow sequence did not find expected ',' or ']'"]),
    ("a scalar document", "just a sentence\n", [f"f0.yaml:1: the str 'just a sentence' {NOT_AN_OBJECT}"]),
    ("a list of scalars", "- 1\n- two\n", [f"f0.yaml:1: the int 1 {NOT_AN_OBJECT}",
                                            f"f0.yaml:2: the str 'two' {NOT_AN_OBJECT}"]),
    ("a duplicate key", "apiVersion: openslo/v1\nkind: SLO\nkind: SLI\n", ["f0.yaml:3: kind: duplicate key"]),
]


@pytest.mark.parametrize("text,problem", [c[1:] for c in BAD_INPUT], ids=[c[0] for c in BAD_INPUT])
def test_a_bad_file_is_reported_at_its_line_and_does_not_sink_the_others(text, problem):
    result, team = run(text, slo())
    assert result.problems == problem
    assert team.slos == 1


def test_an_identical_slo_in_two_files_is_read_once():
    result, team = run(slo(), slo())
    assert len(result.outcomes) == 1
    assert result.notes == ["f1.yaml:1: SLO web-errors is the same document as at f0.yaml:1; read once"]


def test_the_team_file_joins_a_folder_of_specs_and_validates_unchanged(tmp_path):
    folder = tmp_path / "teams"
    shutil.copytree(TEAMS, folder)
    result = import_openslo([("f.yaml", slo(service="web-api", indicator=ratio(
        bad='http_requests_total{job="web-api", code="500"}', total='http_requests_total{job="web-api"}'))
        + "---\n" + slo(name="lat", service="web-api", indicator=ratio(
            good='http_request_duration_seconds_bucket{job="web-api", le="0.3"}',
            total='http_request_duration_seconds_count{job="web-api"}')), None)])
    base = load_spec(folder)
    team = team_file(result, "openslo", base=folder, port=9300, team="web", priorities={"P1", "P3"},
                     base_metrics=catalogue(base, metric_origins(folder)))
    assert team.slos == 2 and not team.unplaced
    assert "\nmetrics:" not in team.text  # both metrics are the shared file's; declaring them again is an error
    (folder / "web.yaml").write_text(team.text)
    spec = load_spec(folder)
    assert sorted(s.id for s in spec.slos if s.service == "web-api") == ["web-api-lat", "web-api-web-errors"]


def test_a_timeslices_slo_imports_as_one_and_validates(tmp_path):
    """budgetingMethod Timeslices: the objective counts good slices of timeSliceWindow, a slice good
    when its SLI meets timeSliceTarget; the team file loads to exactly that."""
    timeslices = "budgetingMethod: Timeslices"
    folder = tmp_path / "teams"
    shutil.copytree(TEAMS, folder)
    result = import_openslo([("f.yaml", slo(
        service="web-api", budgeting=timeslices,
        objective="objectives: [{target: 0.99, timeSliceTarget: 0.95, timeSliceWindow: 1m}]",
        indicator=ratio(bad='http_requests_total{job="web-api", code="500"}',
                        total='http_requests_total{job="web-api"}')), None)])
    team = team_file(result, "openslo", base=folder, port=9300, team="web", priorities={"P1", "P3"},
                     base_metrics=catalogue(load_spec(folder), metric_origins(folder)))
    assert team.slos == 1, [str(b) for o in result.outcomes for b in o.blockers]
    assert "Timeslices: a 1m slice is good when 95 % of it is good" in notes_of(result)
    (folder / "web.yaml").write_text(team.text)
    [imported] = [s for s in load_spec(folder).slos if s.service == "web-api"]
    assert imported.timeslices == Timeslices(window="1m", target=0.95) and imported.objective == 99
    result, team = run(slo(budgeting=timeslices, objective="objectives: [{target: 0.99, timeSliceTarget: 1.5, "
                                                           "timeSliceWindow: 1m}]"))
    assert team.slos == 0 and "timeSliceTarget 1.5 is not between 0 and 1" in str(result.refused[0].blockers)


CLI_GOOD = slo()
CLI_NOTHING = slo(window="timeWindow: [{duration: 1Y, isRolling: false, calendar: {startTime: '2022-01-01 00:00:00', "
                         "timeZone: UTC}}]")


def test_cli_exit_0_writes_a_team_file_that_validate_accepts(tmp_path):
    (tmp_path / "in.yaml").write_text(CLI_GOOD)
    out = tmp_path / "specs" / "web.yaml"
    shutil.copytree(TEAMS, out.parent)
    r = run_cli("import", "openslo", str(tmp_path / "in.yaml"), "--into", str(out.parent), "--out", str(out))
    assert r.returncode == 0, r.stderr
    imported = [f"{tmp_path / 'in.yaml'}:1: SLO web-errors: imported as web/errors",
                "  note: SLO 'web-errors' named 'errors': its service prefix is implied (rule files are named"
                " slo-web-<slo>)",
                "imported 1 of 1 SLOs for 1 services from 1 files; 0 not imported"]
    assert r.stderr.splitlines() == imported
    r = run_cli("validate", str(out.parent))
    assert r.returncode == 0, r.stderr
    # the same command again replaces its own team file rather than colliding with it
    first = out.read_text()
    r = run_cli("import", "openslo", str(tmp_path / "in.yaml"), "--into", str(out.parent), "--out", str(out))
    assert r.returncode == 0 and r.stderr.splitlines() == imported, r.stderr
    assert out.read_text() == first


def test_cli_exit_1_when_nothing_can_be_imported(tmp_path):
    (tmp_path / "in.yaml").write_text(CLI_NOTHING)
    r = run_cli("import", "openslo", str(tmp_path / "in.yaml"))
    assert r.returncode == 1
    assert r.stderr.splitlines() == [
        f"{tmp_path / 'in.yaml'}:1: SLO web-errors: not imported:",
        "  - a calendar window of '1Y': the spec's calendar periods are a week, a month or a quarter (1M, 1Q, 1w,"
        " 3M, 7d)",
        "imported 0 of 1 SLOs for 0 services from 1 files; 1 not imported"]
    assert r.stdout == ""


def test_cli_exit_2_names_the_bad_file_and_still_writes_the_others(tmp_path):
    (tmp_path / "good.yaml").write_text(CLI_GOOD)
    (tmp_path / "bad.yaml").write_text("kind: SLO\n  spec: [\n")
    out = tmp_path / "team.yaml"
    r = run_cli("import", "openslo", str(tmp_path / "bad.yaml"), str(tmp_path / "good.yaml"), "--out", str(out))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.splitlines()[0] == (f"lukhas-obs import: {tmp_path / 'bad.yaml'}:2: YAML syntax error: mapping"
                                        " values are not allowed in this context")
    assert r.stderr.splitlines()[-1] == ("imported 1 of 1 SLOs for 1 services from 2 files; 0 not imported;"
                                         " 1 input problems")
    written = yaml.safe_load(out.read_text())
    assert [(s["name"], [o["name"] for o in s["slos"]]) for s in written["services"]] == [("web", ["errors"])]


CLASH = """apiVersion: openslo/v1
kind: Service
metadata: {name: lukhas-core}
spec: {description: core}
---
apiVersion: openslo/v1
kind: SLO
metadata: {name: avail}
spec:
  service: lukhas-core
  indicator:
    metadata: {name: ok}
    spec:
      ratioMetric:
        counter: true
        good: {metricSource: {type: Prometheus, spec: {query: 'http_requests_total{code!~"5.."}'}}}
        total: {metricSource: {type: Prometheus, spec: {query: 'http_requests_total'}}}
  timeWindow: [{duration: 28d, isRolling: true}]
  budgetingMethod: Occurrences
  objectives: [{target: 0.99}]
---
apiVersion: openslo/v1
kind: SLO
metadata: {name: avail}
spec:
  service: web
  indicator:
    metadata: {name: ok2}
    spec:
      ratioMetric:
        counter: true
        good: {metricSource: {type: Prometheus, spec: {query: 'web_requests_total{code!~"5.."}'}}}
        total: {metricSource: {type: Prometheus, spec: {query: 'web_requests_total'}}}
  timeWindow: [{duration: 28d, isRolling: true}]
  budgetingMethod: Occurrences
  objectives: [{target: 0.99}]
"""


def test_a_service_document_the_spec_already_holds_is_not_written_and_the_rest_imports(tmp_path):
    """A Service document for a service the --into spec defines made the team file invalid:
    exit 70 and nothing written, the good SLO lost with it."""
    src = tmp_path / "slos.yaml"
    src.write_text(CLASH)
    out = tmp_path / "team.yaml"
    r = run_cli("import", "openslo", str(src), "--into", str(ROOT / "specs"), "--out", str(out))
    assert r.returncode == 0, r.stdout + r.stderr
    team = yaml.safe_load(out.read_text())
    assert [s["name"] for s in team["services"]] == ["web"]
    assert "service lukhas-core (a Service document) not written" in r.stderr


TAKEN = "OpenSLO takes a number of minutes (5) or a duration shorthand (5m, 1h)"
# (timeSliceWindow as written in YAML, the spec's slice window (None: refused), the note or the reason)
SLICE_WINDOWS = [
    # OpenSLO v1: `timeSliceWindow: number | duration-shorthand`, a number counting minutes
    ("5", "5m", "timeSliceWindow 5 is a number: it counts minutes, a 5m slice"),
    ("1", "1m", "timeSliceWindow 1 is a number: it counts minutes, a 1m slice"),
    ("5.0", "5m", "timeSliceWindow 5.0 is a number: it counts minutes, a 5m slice"),
    ("'5'", "5m", "timeSliceWindow '5' is a number written as a string: it counts minutes, a 5m slice"),
    ("5m", "5m", None),
    ("2.5", None, "timeSliceWindow 2.5 counts minutes (2m30s), and a slice is a whole number of minutes"),
    ("0", None, f"timeSliceWindow 0 is not a positive number of minutes: {TAKEN}"),
    ("-3", None, f"timeSliceWindow -3 is not a positive number of minutes: {TAKEN}"),
    ("true", None, f"timeSliceWindow true is neither a number nor a duration: {TAKEN}"),
    ("[5]", None, f"timeSliceWindow [5] is neither a number nor a duration: {TAKEN}"),
    ("'5 minutes'", None, f"timeSliceWindow '5 minutes' is not a duration: {TAKEN}"),
    ("1M", None, "timeSliceWindow 1M: a slice of a month has no fixed length; the spec's slices are a fixed whole "
                 "number of minutes"),
]


@pytest.mark.parametrize("written,window,said", SLICE_WINDOWS, ids=[c[0] for c in SLICE_WINDOWS])
def test_a_timeslice_window_is_read_as_openslo_allows_it(written, window, said):
    """Audit 19: a numeric timeSliceWindow (OpenSLO v1: a number of minutes) was refused as 'not a
    duration'; what OpenSLO does not allow is refused saying what it takes."""
    objective = f"objectives: [{{target: 0.99, timeSliceTarget: 0.95, timeSliceWindow: {written}}}]"
    result, team = run(slo(budgeting="budgetingMethod: Timeslices", objective=objective))
    [outcome] = result.outcomes
    if window is None:
        assert (team.slos, [str(b) for b in outcome.blockers]) == (0, [said])
        return
    assert team.slos == 1, [str(b) for b in outcome.blockers]
    assert outcome.entry["timeslices"] == {"window": window, "target": 95.0}
    assert [n for n in outcome.notes if n.startswith("timeSliceWindow")] == ([said] if said else [])


SLICED = "objectives: [{{target: 0.99, timeSliceTarget: 0.95, timeSliceWindow: {}}}]"
# (budgetingMethod, timeSliceWindow, the blockers' kinds: [] when imported)
TIMESLICE_KINDS = [
    ("Timeslices", "5m", []),
    ("Timeslices", "1m", []),
    ("Timeslices", "5", []),     # a number: minutes
    ("RatioTimeslices", "5m", ["timeslices"]),
    ("Timeslices", "1M", ["timeslices"]),
    ("Timeslices", "1Q", ["timeslices"]),
    ("Timeslices", "1Y", ["timeslices"]),
]


@pytest.mark.parametrize("method, window, kinds", TIMESLICE_KINDS, ids=[f"{c[0]} {c[1]}" for c in TIMESLICE_KINDS])
def test_the_timeslices_blocker_says_what_it_blocks(method, window, kinds):
    """Timeslice budgets are a spec feature now: the `timeslices` blocker, whose text the import
    benchmark prints beside its count, is only RatioTimeslices and the varying slice windows (it
    said "spec feature: timeslice budgets")."""
    from lukhas_obs.importers.common import BLOCKERS

    result, team = run(slo(budgeting=f"budgetingMethod: {method}", objective=SLICED.format(window)))
    [outcome] = result.outcomes
    assert ([b.kind for b in outcome.blockers], team.slos) == (kinds, 0 if kinds else 1)
    assert BLOCKERS["timeslices"] == ("OpenSLO RatioTimeslices (an average of per-slice ratios), or a timeSliceWindow "
                                      "of a month, quarter or year (no fixed length); Timeslices over fixed slices "
                                      "is imported")
