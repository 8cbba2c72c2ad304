"""Dashboards: valid against Grafana's own schema, every query parses and names only metrics the
catalogue or the generated rules provide, and every query runs on a real Prometheus."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from lukhas_obs import promql
from lukhas_obs.spec import load_spec

from conftest import SPEC, free_port, shared_schemas, wait_until

# Grafana's dashboard schema, current and 11.6.x (grafana-foundation-sdk), under ../shared/schemas/
SCHEMAS = ["grafana-dashboard.jsonschema.json", "grafana-dashboard.v11.6.x.jsonschema.json"]
UIDS = ["lukhas-overview", "lukhas-constellation", "lukhas-external-api", "lukhas-infrastructure", "lukhas-slos"]

# Grafana's variable syntax (variableRegex in public/app/features/variables/utils.ts): $var,
# [[var]] and [[var:format]] (deprecated), ${var}, ${var.field}, ${var:format}.
GRAFANA_VARIABLE = re.compile(r"\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?:\.([^:^\}]+))?(?::([^\}]+))?\}")
# Grafana's own variables the dashboards use, with what Grafana would put there for a 15 s scrape
# interval (the datasource's timeInterval) and the dashboards' 6 h range.
BUILTINS = {"__rate_interval": "1m", "__interval": "15s", "__range": "6h"}
# the `label_values` forms of Grafana's Prometheus variable queries
LABEL_VALUES = re.compile(r"^label_values\((?:(.+),\s*)?([a-zA-Z_$][a-zA-Z0-9_]*)\)\s*$")
ALL = "$__all"
MAX_VALUES = 5  # values tried per variable, in the variable's sort order (the spec has 5 applications)


def dashboards(generated):
    return {p.stem: json.loads(p.read_text()) for p in sorted((generated / "grafana" / "dashboards").glob("*.json"))}


def references(text: str) -> list[str]:
    """The variable names a string refers to, in Grafana's syntax."""
    return [m.group(1) or m.group(2) or m.group(4) for m in GRAFANA_VARIABLE.finditer(text)]


def interpolate(text: str, values: dict[str, str], strict: bool = True) -> str:
    """Grafana's template replacement: `values` maps a variable to its already formatted text."""

    def one(m: re.Match) -> str:
        name, fmt = m.group(1) or m.group(2) or m.group(4), m.group(3) or m.group(6)
        assert fmt is None and not m.group(5), f"{m.group(0)}: formats and fields are not modelled by this test"
        if name in values:
            return values[name]
        if name in BUILTINS:
            return BUILTINS[name]
        assert not strict, f"{m.group(0)} in {text!r} names no variable the dashboard defines"
        return m.group(0)  # Grafana leaves an unknown variable as it is

    return GRAFANA_VARIABLE.sub(one, text)


def defined(dash) -> set[str]:
    return {v["name"] for v in dash["templating"]["list"]}


def queries(dash, kind="prometheus"):
    """(panel title, query as written) for every target of a datasource kind."""
    for panel in dash["panels"]:
        for target in panel.get("targets", []):
            if target["datasource"]["type"] == kind:
                yield panel["title"], target["expr"]


def any_values(dash, kind="prometheus"):
    """Every query with each variable the dashboard defines matching anything, for the static checks."""
    every = {name: ".*" for name in defined(dash)}
    for title, expr in queries(dash, kind):
        yield title, interpolate(expr, every, strict=False)


def test_the_five_dashboards_exist_with_stable_uids(generated_lukhas):
    dash = dashboards(generated_lukhas)
    assert sorted(dash) == sorted(UIDS)
    for uid, d in dash.items():
        assert d["uid"] == uid and d["title"].startswith("LUKHAS")
        assert d["annotations"]["list"][0]["expr"] == 'ALERTS{alertstate="firing"}'
        assert d["links"][0]["tags"] == ["lukhas"]


@pytest.mark.parametrize("schema", SCHEMAS)
def test_dashboards_validate_against_grafanas_schema(generated_lukhas, schema):
    import jsonschema

    path, = shared_schemas(schema)
    validator = jsonschema.Draft7Validator(json.loads(path.read_text()))
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
        for title, expr in any_values(dash):
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


def test_every_variable_a_dashboard_uses_is_one_it_defines(generated_lukhas):
    """A query naming a variable the dashboard does not define reaches Prometheus as `$service`
    and matches nothing, for good. Checked in queries, panel titles, links and row repeats."""
    problems = []
    for uid, dash in dashboards(generated_lukhas).items():
        known = defined(dash) | set(BUILTINS)
        texts = [(f"variable {v['name']}", v["query"]) for v in dash["templating"]["list"]]
        for panel in dash["panels"]:
            texts += [(panel["title"], panel["title"])]
            texts += [(panel["title"], t["expr"]) for t in panel.get("targets", [])]
            texts += [(panel["title"], link.get(k, "")) for link in panel.get("links", []) for k in ("title", "url")]
            if "repeat" in panel:
                texts.append((panel["title"], "$" + panel["repeat"]))
        problems += [f"{uid} / {where}: ${name} in {text}" for where, text in texts
                     for name in references(text) if name not in known]
    assert not problems, "undefined variables:\n" + "\n".join(problems)


@pytest.mark.parametrize("where", ["query", "title"])
@pytest.mark.parametrize("ref", ["$region", "${region}", "[[region]]", "${region:regex}"])
def test_generate_refuses_a_panel_naming_an_undefined_variable(monkeypatch, where, ref):
    from lukhas_obs.errors import GenerateError
    from lukhas_obs.generate import dashboards as gen

    build = gen.build

    def with_a_stray_variable(spec, d):
        dash = build(spec, d)
        if d.uid != "lukhas-external-api":
            return dash
        panel = next(p for p in dash["panels"] if p.get("targets"))
        if where == "query":
            panel["targets"][0]["expr"] = panel["targets"][0]["expr"].replace("[$__rate_interval]",
                                                                            f'{{region=~"{ref}"}}[$__rate_interval]', 1)
        else:
            panel["title"] += f" in {ref}"
        return dash

    monkeypatch.setattr(gen, "build", with_a_stray_variable)
    with pytest.raises(GenerateError) as err:
        gen.dashboards(load_spec(SPEC))
    panel, use = ("openai requests by status", "query A") if where == "query" else \
        (f"openai requests by status in {ref}", "the title")
    assert str(err.value) == (f"dashboard lukhas-external-api: panel '{panel}': {use} uses $region, which the"
                              " dashboard does not define (its variables: none); Grafana would send it to the"
                              " datasource as written and the panel would never show data")


def test_grafanas_own_variables_and_defined_ones_pass_the_check():
    from lukhas_obs.generate import dashboards as gen

    spec = load_spec(SPEC)
    dash = gen.build(spec, next(d for d in spec.dashboards if d.uid == "lukhas-overview"))
    panel = next(p for p in dash["panels"] if p.get("targets"))
    panel["title"] += " ($service, ${instance}, [[service]], over $__range)"
    panel["targets"][0]["expr"] += " * 0 + scalar(count_over_time(vector(1)[$__range:$__interval]))"
    gen.check_variables(dash)  # no error


def _regex_escape(value: str) -> str:
    """Grafana's prometheusSpecialRegexEscape: a value of a multi-value or include-All variable,
    escaped for RE2 inside a PromQL string (backslashes doubled again for the string)."""
    return re.sub(r"[$^*{}\[\]+?.()|]", lambda m: "\\\\" + m.group(0), value.replace("\\", "\\\\\\\\"))


def _plain_escape(value: str) -> str:
    """Grafana's prometheusRegularEscape, for a single-value variable."""
    return value.replace("\\", "\\\\").replace("'", "\\\\'")


def grafana_text(variable: dict, chosen: list[str] | str, every: list[str]) -> str:
    """What Grafana's Prometheus datasource writes into a query for a selection (interpolateQueryExpr)."""
    if chosen == ALL:
        if variable.get("allValue"):
            return variable["allValue"]  # a custom all value goes in verbatim
        chosen = every  # otherwise All is every value, as a multi-value selection
    if not variable.get("multi") and not variable.get("includeAll"):
        return _plain_escape(chosen[0])
    escaped = [_regex_escape(v) for v in chosen]
    return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"


def test_grafana_formatting_of_variable_values():
    multi = {"multi": True, "includeAll": True, "allValue": ".*"}
    assert grafana_text(multi, ["127.0.0.1:8080"], []) == r"127\\.0\\.0\\.1:8080"
    assert grafana_text(multi, ["a", "b.c"], []) == r"(a|b\\.c)"
    assert grafana_text(multi, ALL, ["a"]) == ".*"
    assert grafana_text({"includeAll": True}, ALL, ["a", "b"]) == "(a|b)"
    assert grafana_text({}, ["it's"], []) == r"it\\'s"


def label_values(prom, query: str, start: float, end: float, sort: int) -> list[str]:
    """A `label_values` variable query as Grafana's Prometheus datasource runs it."""
    m = LABEL_VALUES.match(query)
    assert m, f"variable query {query!r} is not label_values(...): this test cannot resolve it"
    selector, label = m.groups()
    params = {"start": f"{start:.3f}", "end": f"{end:.3f}"}
    if selector:
        params["match[]"] = selector
    out = prom.get(f"/api/v1/label/{label}/values", **params)
    assert out["status"] == "success", out
    assert sort in (0, 1, 2), f"variable sort {sort} is not modelled by this test"
    return sorted(out["data"], reverse=sort == 2) if sort else list(out["data"])


def variable_settings(prom, dash, start: float, end: float):
    """Every selection the test tries, as (description, {variable: text}): each of the first
    MAX_VALUES values alone, the first two together for a multi-value variable, and All; chained
    variables are resolved with the selection of the ones before them. Also returns the variables
    whose values query found nothing."""
    settings: list[tuple[str, dict[str, str]]] = [("", {})]
    empty = []
    for var in dash["templating"]["list"]:
        assert var["type"] == "query", f"{dash['uid']}: {var['name']} is a {var['type']} variable"
        grown = []
        for described, chosen in settings:
            query = interpolate(var["query"], chosen)
            values = label_values(prom, query, start, end, var.get("sort", 0))
            if not values:
                empty.append(f"{dash['uid']}: variable {var['name']} has no values: {query}")
                continue
            options: list[list[str] | str] = [[v] for v in values[:MAX_VALUES]]
            if var.get("multi") and len(values) > 1:
                options.append(values[:2])
            if var.get("includeAll"):
                options.append(ALL)
            for option in options:
                shown = "All" if option == ALL else "+".join(option)
                grown.append(((described + ", " if described else "") + f"{var['name']}={shown}",
                              {**chosen, var["name"]: grafana_text(var, option, values)}))
        settings = grown
    return settings, empty


@pytest.mark.integration
def test_every_panel_query_returns_data_for_every_value_of_its_variables(tmp_path, generated_lukhas):
    """What an operator sees: each dashboard's variables resolved on a real Prometheus scraping
    the synthetic workload as Grafana resolves them, and every panel query, for every selection,
    returning data."""
    import time

    from promserver import Prometheus, local_config, start_workload

    workload, address = start_workload(SPEC, tmp_path / "workload.log", rps=100)
    prom = None
    try:
        port = free_port()
        prom = Prometheus(local_config(tmp_path / "prom", address, prom_port=port),
                          tmp_path / "data", port=port)
        dashes = dashboards(generated_lukhas)
        # 70 seconds of scrapes and 1-second rule evaluations, so rates and recorded windows have data
        wait_until(lambda: prom.query('slo:sli_error:ratio_rate1h{service="lukhas-core"}'), timeout=60,
                   what="recorded SLO windows")
        tried: dict[str, int] = {}

        def problems():
            now = time.time()
            found = []
            for uid, dash in dashes.items():
                settings, empty = variable_settings(prom, dash, now - 6 * 3600, now)
                found += empty
                tried[uid] = len(settings)
                for described, chosen in settings:
                    for title, expr in queries(dash):
                        query = interpolate(expr, chosen)
                        if not prom.query(query):
                            found.append(f"{uid} / {title} [{described or 'no variables'}]: {query}")
            return found

        try:
            wait_until(lambda: not problems(), timeout=60, interval=2, what="every panel query returns data")
        except AssertionError:
            raise AssertionError("panels with no data on live traffic:\n" + "\n".join(problems())) from None
        # the variables were exercised: every application, and All, on the Overview
        assert tried["lukhas-overview"] >= 10, tried
    finally:
        if prom:
            prom.stop()
        workload.stop()


def many_services_slo_dashboard() -> dict:
    """The SLO dashboard of the benchmarks' synthetic spec with 25 services."""
    import sys

    sys.path.insert(0, str(SPEC.parent.parent / "benchmarks"))
    from common import synthetic_spec

    from lukhas_obs.generate.dashboards import build
    from lukhas_obs.spec.loader import load_spec_text

    spec = load_spec_text(synthetic_spec(25), "many.yaml")
    return build(spec, next(d for d in spec.dashboards if d.uid.endswith("-slos")))


def test_many_services_get_one_repeated_slo_row_not_megabytes():
    """Past 20 services with SLOs the SLO dashboard repeats one row over the service variable."""
    dash = many_services_slo_dashboard()
    rows = [p for p in dash["panels"] if p["type"] == "row"]
    assert len(rows) == 1 and rows[0]["repeat"] == "service"
    repeated = [p.get("repeat") for p in dash["panels"] if p["type"] != "row"]
    assert repeated and repeated == ["slo"] * len(repeated)
    assert len(json.dumps(dash)) < 50_000
    assert [v["name"] for v in dash["templating"]["list"]] == ["service", "slo"]
    for _, expr in any_values(dash):
        promql.parse(expr)


def test_the_repeated_slo_row_validates_against_grafanas_schema():
    import jsonschema

    path, = shared_schemas(SCHEMAS[0])
    dash = many_services_slo_dashboard()
    assert [f"{list(e.absolute_path)}: {e.message[:200]}"
            for e in jsonschema.Draft7Validator(json.loads(path.read_text())).iter_errors(dash)] == []


@pytest.mark.integration
def test_repeated_slo_rows_show_a_calendar_slos_period_as_static_rows_do(tmp_path):
    """Past 20 services the SLO dashboard repeats one row (issue 14): its SLI panel shows what a
    static row shows, a calendar SLO's period so far and any other SLO's last hour (it showed the
    hour for every SLO). Run on a real Prometheus holding the records, the variables resolved
    there as Grafana resolves them (one value per repeat), against the static rows of the same
    SLOs."""
    import sys

    sys.path.insert(0, str(SPEC.parent.parent / "benchmarks"))
    from common import synthetic_spec

    from lukhas_obs import conventions as conv
    from lukhas_obs.generate.dashboards import STATIC_ROWS_UP_TO, build
    from lukhas_obs.spec.loader import load_spec_text

    from promserver import backfilled

    doc = yaml.safe_load(synthetic_spec(STATIC_ROWS_UP_TO + 1))
    doc["services"][0]["slos"][0]["period"] = {"calendar": "month", "timezone": "America/New_York"}
    doc["services"][1]["slos"][1]["period"] = {"calendar": "week", "timezone": "Europe/Berlin"}
    doc["services"][2]["slos"][0]["period"] = {"calendar": "quarter"}   # its period has no data yet
    spec = load_spec_text(yaml.safe_dump(doc), "many.yaml")
    few = load_spec_text(yaml.safe_dump({**doc, "services": doc["services"][:3]}), "few.yaml")

    def slo_dashboard(s):
        return build(s, next(d for d in s.dashboards if d.uid.endswith("-slos")))

    repeated, static = slo_dashboard(spec), slo_dashboard(few)
    assert [p.get("repeat") for p in repeated["panels"] if p["type"] == "row"] == ["service"]
    assert [p.get("repeat") for p in static["panels"] if p["type"] == "row"] == [None] * 3
    # every SLO's records: its last hour 10 % + i/1000 errors, a calendar SLO's period i/1000 + 0.1 %
    at = 1_780_000_000
    hour = {(s.service, s.name): 0.1 + i / 1000 for i, s in enumerate(spec.slos)}
    period = {(s.service, s.name): i / 1000 + 0.001 for i, s in enumerate(spec.slos) if s.calendar}
    empty = ("svc-0002", "availability")    # a calendar SLO whose period has no record yet: blank, not its hour
    phase = dict.fromkeys(period, 1)
    del period[empty]
    assert sorted(period) == [("svc-0000", "availability"), ("svc-0001", "latency")]
    lines = []
    for name, values in ((conv.OBJECTIVE, dict.fromkeys(hour, 0.99)), (conv.ratio_name("1h"), hour),
                         (conv.PERIOD_RATIO, period), (conv.PERIOD_PHASE, phase)):
        lines.append(f"# TYPE {name} gauge")
        lines += [f'{name}{{service="{svc}",slo="{slo}"}} {v} {t}'
                  for (svc, slo), v in values.items() for t in range(at - 600, at + 1, 60)]
    prom = backfilled(tmp_path, "\n".join(lines) + "\n# EOF\n")
    try:
        def sli(panel, chosen: dict[str, str]) -> tuple[str, float | None]:
            samples = prom.query(interpolate(panel["targets"][0]["expr"], chosen), at)
            assert len(samples) <= 1, samples
            return interpolate(panel["title"], chosen), float(samples[0]["value"][1]) if samples else None

        def is_sli(panel) -> bool:
            return panel["type"] == "stat" and re.fullmatch(r"\S+: SLI \(.*\)", panel["title"]) is not None

        variables = {v["name"]: v for v in repeated["templating"]["list"]}
        shown = {}   # (service, slo) -> (title, value), each copy of the repeated row and panel
        for svc in label_values(prom, variables["service"]["query"], at - 3600, at, variables["service"]["sort"]):
            chosen = {"service": grafana_text(variables["service"], [svc], [])}
            for slo in label_values(prom, interpolate(variables["slo"]["query"], chosen), at - 3600, at,
                                    variables["slo"]["sort"]):
                (panel,) = [p for p in repeated["panels"] if is_sli(p)]
                shown[svc, slo] = sli(panel, {**chosen, "slo": grafana_text(variables["slo"], [slo], [])})
        # Prometheus' 1 - x in float64 is Python's, and its JSON numbers round-trip: exact
        assert {k: v for k, (_, v) in shown.items()} == \
            {k: None if k == empty else 1 - period.get(k, h) for k, h in hour.items()}
        assert {title for title, _ in shown.values()} == {
            f"{slo}: SLI (1h; calendar SLOs: period so far)" for slo in ("availability", "latency")}
        # the static rows of the same SLOs, each row naming its service
        row, static_shown = None, {}
        for panel in static["panels"]:
            row = panel["title"] if panel["type"] == "row" else row
            if is_sli(panel):
                title, value = sli(panel, {})
                static_shown[row, title.split(":")[0]] = value
        assert static_shown == {k: v for k, (_, v) in shown.items() if k[0] in ("svc-0000", "svc-0001", "svc-0002")}
    finally:
        prom.stop()
