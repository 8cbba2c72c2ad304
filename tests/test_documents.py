"""Documents serialised once: the Kubernetes and Mimir layouts carry the very rule documents and
dashboard JSON of the plain files (built from them, never read back from rendered YAML), and every
emitted PromQL expression is parsed at generate time, so a bad one is a generate error naming its
rule, not a promtool surprise later. In-process: these are pure functions."""

from __future__ import annotations

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lukhas_obs import cli
from lukhas_obs.errors import GenerateError
from lukhas_obs.generate import dashboards, pipeline, render, slo
from lukhas_obs.generate.promqlcheck import PromQLCheck, grafana_interpolated
from lukhas_obs.promql import PromQLError, parse
from lukhas_obs.spec import load_spec

from conftest import SPEC


@pytest.fixture(scope="module")
def lukhas():
    spec = load_spec(SPEC)
    assert spec.kubernetes is not None and spec.ruler is not None, "the LUKHAS spec asks for both layouts"
    return spec, render(spec)


def test_the_layouts_hold_the_plain_files_rules_and_dashboards(lukhas):
    spec, files = lukhas
    plain = {path.split("/")[-1].removesuffix(".rules.yml"): yaml.safe_load(text) for path, text in files.items()
             if path.startswith("prometheus/rules/") and path.endswith(".rules.yml")}
    assert set(plain) == {"alerts"} | {f"slo-{s.id}" for s in spec.slos}
    for stem, doc in plain.items():
        assert yaml.safe_load(files[f"kubernetes/prometheusrule-{stem}.yaml"])["spec"] == doc, stem
    mimir_groups = [group for path, text in files.items() if path.startswith("mimir/")
                    for group in yaml.safe_load(text)["groups"]]
    assert sorted(mimir_groups, key=lambda g: g["name"]) == \
        sorted((g for doc in plain.values() for g in doc["groups"]), key=lambda g: g["name"])
    boards = {path.split("/")[-1].removesuffix(".json"): text for path, text in files.items()
              if path.startswith("grafana/dashboards/")}
    assert sorted(boards) == sorted(d.uid for d in spec.dashboards) and len(boards) == 5
    for uid, text in boards.items():
        data = yaml.safe_load(files[f"kubernetes/configmap-dashboard-{uid}.yaml"])["data"]
        assert data == {f"{uid}.json": text}


def test_rendering_reads_no_rendered_output_back(lukhas, monkeypatch):
    """The layouts came from re-parsing the rendered rule files with yaml.safe_load; now nothing
    generate renders is parsed again (the bundled data files are read once, before this run)."""
    spec, files = lukhas

    def refuse(*_args, **_kw):
        raise AssertionError("render parsed YAML")

    monkeypatch.setattr(yaml, "safe_load", refuse)
    monkeypatch.setattr(yaml, "load", refuse)
    assert render(spec) == files


def test_the_per_slo_workers_give_the_same_files_and_layouts(lukhas, monkeypatch):
    """The parallel path (past PARALLEL_FROM SLOs) returns rule documents for the layouts too."""
    spec, files = lukhas
    monkeypatch.setattr(pipeline, "PARALLEL_FROM", 1)
    monkeypatch.setattr(pipeline.os, "cpu_count", lambda: 2)
    assert render(spec) == files


# ---- PromQL parsed at generate time ------------------------------------------------------------

ACCEPTED = [
    'sum(rate(lukhas_http_requests_total{job="lukhas-core", status=~"5.."}[5m]))',
    'rate(x{code=~"[5]{3}"}[5m])',
    '{__name__=~"lukhas_.*"}',                # no metric name: a non-empty matcher is enough
    "x{a=`raw`} + on() y{b='single'}",
    "x # a comment with a quote ' and a \" \n + y",
    "label_replace(up, 'dst', '$1', 'src', '(.*)')",
    'x{a="quote \\" and backslash \\\\ inside"}',
    "sum_over_time(x[1h:5m] offset 1d)",
]
REFUSED = [
    ('x{a=~"("}', "illegal regex for ("),                   # a literal that is no regular expression
    ('x{a="\\q"}', "unknown escape sequence 'q'"),          # an escape Go's strconv refuses
    ("sum(rate(x[5m])", "unclosed left parenthesis"),
    ("rate(x[1m1h])", "not a valid duration string: 1m1h"),  # a duration out of order
    ('rate("x"[5m])', "ranges only allowed for vector selectors"),  # a string where a selector belongs
    ("x{a=\"b}", 'unterminated quoted string "'),            # an unterminated string
    ("x +", "invalid promql query"),
]


@pytest.mark.parametrize("expr", ACCEPTED)
def test_the_check_accepts_what_prometheus_parses(expr):
    parse(expr)   # the real parser agrees
    assert PromQLCheck().problem(expr) is None


@pytest.mark.parametrize(("expr", "said"), REFUSED)
def test_the_check_refuses_what_prometheus_refuses(expr, said):
    with pytest.raises(PromQLError):
        parse(expr)
    assert PromQLCheck().problem(expr) == said


def test_a_shape_seen_before_still_has_its_literals_checked():
    check = PromQLCheck()
    assert check.problem('x{a=~"ok"}') is None
    assert check.problem('x{a=~"("}') is not None     # same shape, a bad regex
    assert check.problem('x{a=~"\\\\("}') is None     # same shape, an escaped bracket


def _rule_expressions():
    spec = load_spec(SPEC)
    return [rule["expr"] for s in spec.slos for group in slo.slo_rule_file(spec, s)["groups"]
            for rule in group["rules"]] + ACCEPTED + [e for e, _ in REFUSED]


EXPRESSIONS = _rule_expressions()


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(EXPRESSIONS), st.integers(0, 10_000), st.sampled_from(list('"\'`#{}()[]=~!\\ ,5mx\n')),
       st.booleans())
def test_checking_by_shape_and_literal_agrees_with_parsing_the_whole(expr, at, char, insert):
    """The check parses each shape and each literal once; its verdict is the parser's on the
    whole expression, also for expressions broken by one character."""
    at %= len(expr) + 1
    mutated = expr[:at] + char + expr[at + (0 if insert else 1):]
    try:
        parse(mutated)
        whole = True
    except PromQLError:
        whole = False
    assert (PromQLCheck().problem(mutated) is None) == whole, mutated


def test_grafana_variables_are_interpolated_before_parsing():
    expr = ('sum by (job) (rate(lukhas_http_requests_total{job=~"$service", instance=~"${instance:regex}"}'
            "[$__rate_interval])) / ${__range_s} + count_over_time(up[$__range]) + [[legacy]]")
    assert PromQLCheck().problem(grafana_interpolated(expr)) is None


BROKEN = "lukhas-core-availability"


BROKEN_MESSAGE = ("prometheus/rules/slo-{broken}.rules.yml: group slo-{broken}: record {record}: the generated PromQL"
                  " does not parse (unexpected right parenthesis ')'): 'sum(rate(lukhas_http_requests_total"
                  '{{status=~"5..", job="lukhas-core"}}[5m])) or vector(0) )\'')


def _break_one_record(monkeypatch) -> str:
    """A generator bug: the first rule of one SLO gets a stray bracket. Returns that rule's name."""
    build = slo.slo_rule_file

    def broken(spec, s):
        doc = build(spec, s)
        if s.id == BROKEN:
            doc["groups"][0]["rules"][0]["expr"] += " )"
        return doc

    spec = load_spec(SPEC)
    first = build(spec, next(s for s in spec.slos if s.id == BROKEN))["groups"][0]["rules"][0]
    monkeypatch.setattr(slo, "slo_rule_file", broken)
    return first["record"]


def test_a_bad_rule_expression_is_a_generate_error_naming_the_rule(monkeypatch):
    record = _break_one_record(monkeypatch)
    with pytest.raises(GenerateError) as err:
        render(load_spec(SPEC))
    assert str(err.value) == BROKEN_MESSAGE.format(broken=BROKEN, record=record)


def test_generate_exits_2_and_writes_nothing_on_a_bad_expression(monkeypatch, tmp_path):
    record = _break_one_record(monkeypatch)
    out, deploy = tmp_path / "generated", tmp_path / "deployment"
    r = CliRunner().invoke(cli.main, ["generate", "--spec", str(SPEC), "--out", str(out),
                                      "--deployment-out", str(deploy)])
    assert r.exit_code == 2, r.output
    said = BROKEN_MESSAGE.format(broken=BROKEN, record=record)
    assert r.output == f"specs/lukhas.yaml: {said}; nothing was written.\n"
    assert "Traceback" not in r.output
    assert not out.exists() and not deploy.exists()


def test_a_bad_panel_query_is_a_generate_error_naming_the_panel(monkeypatch):
    build = dashboards.build

    def broken(spec, d):
        dash = build(spec, d)
        if d.uid == "lukhas-overview":
            panel = next(p for p in dash["panels"] if p.get("targets"))
            panel["targets"][0]["expr"] = "sum(" + panel["targets"][0]["expr"]
        return dash

    monkeypatch.setattr(dashboards, "build", broken)
    with pytest.raises(GenerateError) as err:
        render(load_spec(SPEC))
    assert str(err.value) == (
        "dashboard lukhas-overview: panel 'Service health': query A: the generated PromQL does not parse (unclosed"
        ' left parenthesis): \'sum(min by (job) (up{job=~"lukhas-consciousness|lukhas-core|lukhas-governance|'
        'lukhas-identity|lukhas-memory"})\'')
