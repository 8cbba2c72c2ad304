"""The spec's SLI and alert bodies become one model type each, holding only what that kind needs
(in-process, table-driven: the loader's pure part)."""

from __future__ import annotations

import pytest

from lukhas_obs import model as m
from lukhas_obs.generate.alerts import alert_expr
from lukhas_obs.promql import Selector, parse_selector
from lukhas_obs.spec.loader import load_spec_text

from slospec import spec_text

HEAD = spec_text("types", "  http_requests_total: {type: counter, labels: [code]}\n"
                         "  http_request_duration_seconds: {type: histogram, buckets: [0.1, 0.5, 1]}\n"
                         "  queue_depth: {type: gauge}\n",
                 "      - name: s\n        objective: 99\n        page: P1\n        ticket: P3\n        sli: %s\n",
                 service="    health: /health\n")

W = "{{.window}}"
SLI_CASES = [
    ("ratio-errors", "{ratio: {errors: 'http_requests_total{code=~\"5..\"}', total: http_requests_total}}",
     m.RatioSLI(total=Selector("http_requests_total"),
                counted=parse_selector('http_requests_total{code=~"5.."}'), good=False)),
    ("ratio-good", "{ratio: {good: 'http_requests_total{code=\"200\"}', total: http_requests_total}}",
     m.RatioSLI(total=Selector("http_requests_total"),
                counted=parse_selector('http_requests_total{code="200"}'), good=True)),
    ("expression-good", f"{{ratio: {{good_query: 'sum(rate(http_requests_total{{code=\"200\"}}[{W}]))', "
     f"total_query: 'sum(rate(http_requests_total[{W}]))'}}}}",
     m.ExpressionRatioSLI(total_query=f"sum(rate(http_requests_total[{W}]))",
                          counted_query=f'sum(rate(http_requests_total{{code="200"}}[{W}]))', good=True)),
    ("latency", "{latency: {metric: http_request_duration_seconds, threshold: 0.5}}",
     m.LatencySLI(metric=Selector("http_request_duration_seconds"), threshold=0.5)),
    ("availability-probe", "{availability: {source: probe}}", m.AvailabilitySLI(source="probe")),
    ("availability-default", "{availability: {}}", m.AvailabilitySLI(source="up")),
    ("threshold-max", "{threshold: {metric: queue_depth, max: 100}}",
     m.ThresholdSLI(metric=Selector("queue_depth"), min=None, max=100.0)),
    ("raw", f"{{raw: {{error_ratio: '1 - avg_over_time(up{{job=\"web\"}}[{W}])'}}}}",
     m.RawSLI(error_ratio_query=f'1 - avg_over_time(up{{job="web"}}[{W}])')),
]


@pytest.mark.parametrize(("body", "expected"), [c[1:] for c in SLI_CASES], ids=[c[0] for c in SLI_CASES])
def test_each_sli_kind_is_its_own_type(body, expected):
    spec = load_spec_text(HEAD % body, "types.yaml")
    assert spec.slos[0].sli == expected


ALERT_HEAD = (HEAD % "{availability: {}}") + """alerts:
  - name: A
    priority: P3
    summary: s
"""
ALERT_CASES = [
    ("expr", "    expr: 'vector(1) > 0'", m.ExprCondition("vector(1) > 0"), "vector(1) > 0"),
    ("target_down", "    target_down: {services: [web]}", m.TargetDown(("web",)), 'up{job="web"} == 0'),
    ("error_ratio", "    error_ratio: {errors: 'http_requests_total{code=~\"5..\"}', total: http_requests_total, "
                    "above: 0.05, window: 10m}",
     m.ErrorRatio(parse_selector('http_requests_total{code=~"5.."}'), Selector("http_requests_total"), 0.05, "10m"),
     '(sum by (job) (rate(http_requests_total{code=~"5.."}[10m])))\n/\n(sum by (job) (rate(http_requests_total[10m])))'
     "\n> 0.05"),
    ("quantile", "    quantile: {metric: http_request_duration_seconds, quantile: 0.99, above: 1}",
     m.QuantileAbove(Selector("http_request_duration_seconds_bucket"), 0.99, 1.0, "5m"),
     "histogram_quantile(0.99, sum by (le, job) (rate(http_request_duration_seconds_bucket[5m]))) > 1"),
    ("rate", "    rate: {metric: http_requests_total, above: 100}",
     m.RateAbove(Selector("http_requests_total"), 100.0, "5m"),
     "sum by (job) (rate(http_requests_total[5m])) > 100"),
]


@pytest.mark.parametrize(("body", "condition", "expr"), [c[1:] for c in ALERT_CASES], ids=[c[0] for c in ALERT_CASES])
def test_each_alert_kind_is_its_own_condition(body, condition, expr):
    spec = load_spec_text(ALERT_HEAD + body + "\n", "types.yaml")
    assert spec.alerts[0].condition == condition
    assert alert_expr(spec, condition) == expr


def test_the_loaders_stages_stand_alone():
    """Schema problems come from the schema check alone; the model builder, given a document the
    schema accepts, converts it and says what only meaning can (here: a severity's receiver that
    does not exist), each without the other."""
    from lukhas_obs.spec.build import ModelBuilder
    from lukhas_obs.spec.schemacheck import schema_problems
    from lukhas_obs.spec.yamlsource import Sources, parse_yaml

    def stages(text: str):
        data, lines = parse_yaml(text, "s.yaml")
        sources = Sources.single("s.yaml", lines)
        return data, sources, [str(p) for p in schema_problems(data, sources)]

    data, sources, problems = stages(HEAD % "{availability: {}}")
    assert problems == []
    builder = ModelBuilder(data, sources, "s.yaml")
    assert builder.build().slos[0].sli == m.AvailabilitySLI() and builder.problems == []

    text = (HEAD % "{availability: {}}").replace("objective: 99", "objective: 101")
    _, _, problems = stages(text)
    line = text.splitlines().index("        objective: 101") + 1
    assert problems == [f"s.yaml:{line}: services[0].slos[0].objective: 101 is above 100"]

    data, sources, problems = stages((HEAD % "{availability: {}}").replace("receiver: nobody, page",
                                                                            "receiver: nope, page"))
    assert problems == []
    builder = ModelBuilder(data, sources, "s.yaml")
    builder.build()
    assert [str(p) for p in builder.problems] == [
        "s.yaml:5: severities.P1.receiver: receiver 'nope' is not defined under receivers"]


RECEIVER_CASES = [
    ("pagerduty", "{pagerduty: {routing_key_file: /run/secrets/pd}}", m.PagerDuty("/run/secrets/pd"),
     (("routing_key_file", "/run/secrets/pd"),)),
    ("slack", "{slack: {api_url_file: /run/secrets/slack, channel: '#ops'}}", m.Slack("/run/secrets/slack", "#ops"),
     (("api_url_file", "/run/secrets/slack"),)),
    ("webhook", "{webhook: {url_file: /run/secrets/hook}}", m.Webhook(url_file="/run/secrets/hook"),
     (("url_file", "/run/secrets/hook"),)),
    ("none", "{}", None, ()),
]


@pytest.mark.parametrize(("body", "notifier", "secrets"), [c[1:] for c in RECEIVER_CASES],
                         ids=[c[0] for c in RECEIVER_CASES])
def test_each_receiver_kind_is_its_own_notifier_type(body, notifier, secrets):
    spec = load_spec_text((HEAD % "{availability: {}}").replace("receivers: {nobody: {}}",
                                                                f"receivers: {{nobody: {body}}}"), "types.yaml")
    [receiver] = spec.receivers
    assert receiver.notifier == notifier and receiver.secret_files() == secrets


def test_a_team_file_on_its_own_is_said_to_be_one():
    """`validate team.yaml` said 'project' and 'severities' were required and 'team' unknown:
    true of a whole spec, beside the point for a team file (new-user audit)."""
    from lukhas_obs.errors import SpecError

    text = "apiVersion: lukhas-obs/v1\nteam: web\nservices:\n  - {name: web, kind: application, port: 8080}\n"
    with pytest.raises(SpecError) as err:
        load_spec_text(text, "web.yaml")
    assert [str(p) for p in err.value.problems] == [
        "web.yaml:2: team: this is a team file of a folder of specs: it holds services, not the shared severities "
        "and receivers; validate the folder that holds it with its shared file"]


@pytest.mark.parametrize(("ratio", "text"), [(0.8, "80 %"), (0.0005, "0.05 %"), (-3.0, "-300 %"),
                                             (-999.0, "-99,900 %"), (12.5, "1,250 %")])
def test_budget_percentages_read_as_numbers(ratio, text):
    """-999.0 of the budget left read "-9.99e+04 %" (new-user audit)."""
    from lukhas_obs.gate.checks import _fmt

    assert _fmt(ratio, True) == text
