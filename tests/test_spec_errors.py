"""A broken spec is refused with exit 2, a message naming file, line and key path, no
traceback, and nothing under the output folder changes."""

from __future__ import annotations

import re
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from lukhas_obs.durations import parse_duration
from lukhas_obs.errors import SpecError

from conftest import ROOT, run_cli, tree_snapshot

BASE = (ROOT / "tests" / "golden" / "small" / "spec.yaml").read_text()


def mutate(old: str, new: str) -> str:
    assert BASE.count(old) == 1, f"mutation anchor {old!r} must occur once in the base spec"
    return BASE.replace(old, new)


def alert_expr(expr: str) -> str:
    """The base spec with its alert's target_down replaced by a raw expr (YAML single-quoted)."""
    return mutate("    target_down: {services: [checkout]}", "    expr: '" + expr.replace("'", "''") + "'")


def summary(text: str) -> str:
    """The base spec with its alert's summary replaced (YAML single-quoted)."""
    return mutate('    summary: "checkout is down"', "    summary: '" + text.replace("'", "''") + "'")


def exporter(flow: str) -> str:
    """The base spec with its database's exporter replaced by this flow mapping."""
    return mutate("    exporter: {host: db-exporter, port: 9187}", "    exporter: " + flow)


# A LogQL alert (for the Loki ruler) on the base spec, to which a key of the alert may be added.
LOG_ALERT = ("logs:\n  alerts:\n    - name: CheckoutErrorLogs\n      priority: P3\n"
             "      expr: 'sum(rate({job=\"checkout\"} |= \"error\" [5m])) > 1'\n      summary: checkout logs errors\n")


# A billion laughs: nine levels of nine aliases, 9**9 strings once expanded.
ALIAS_BOMB = 'x-lol:\n  a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"  {chr(98 + i)}: &{chr(98 + i)} [" + ",".join([f"*{chr(97 + i)}"] * 9) + "]\n" for i in range(8))


# (id, spec text, the key path the message must name, a snippet of the line it must point at,
#  a phrase the message must contain)
CASES = [
    ("yaml-syntax", mutate("  scrape_interval: 30s", "  scrape_interval: [30s"), "", "evaluation_interval",
     "YAML syntax error"),
    ("yaml-tab", mutate("project: shop", "project:\tshop: x"), "", "project:", "YAML syntax error"),
    ("duplicate-key", mutate("environment: staging", "environment: staging\nenvironment: prod"),
     "environment", "environment: prod", "duplicate key"),
    ("wrong-api-version", mutate("lukhas-obs/v1", "lukhas-obs/v9"), "apiVersion", "apiVersion", "not supported"),
    ("missing-services", BASE[: BASE.index("services:")], "", "apiVersion", "'services' is required"),
    ("unknown-top-key", mutate("environment: staging", "environment: staging\nenviroment: x"),
     "enviroment", "enviroment: x", "unknown key"),
    ("unknown-slo-key", mutate("        period: 7d", "        period: 7d\n        objectve: 99"),
     "services[0].slos[0].objectve", "objectve: 99", "unknown key"),
    ("port-type", mutate("    port: 9000", "    port: nine"), "services[0].port", "port: nine", "not of type"),
    ("port-range", mutate("    port: 9000", "    port: 70000"), "services[0].port", "port: 70000", "above 65535"),
    ("objective-above-100", mutate("        objective: 99.5", "        objective: 101"),
     "services[0].slos[0].objective", "objective: 101", "101 is above 100"),
    ("objective-100", mutate("        objective: 99.5", "        objective: 100"),
     "services[0].slos[0].objective", "objective: 100", "no error budget"),
    ("objective-zero", mutate("        objective: 99.5", "        objective: 0"),
     "services[0].slos[0].objective", "objective: 0", "below"),
    ("bad-period", mutate("        period: 7d", "        period: 4d"), "services[0].slos[0].period",
     "period: 4d", "outside the periods whose burn-rate windows make sense"),
    ("bad-duration", mutate("  scrape_interval: 30s", "  scrape_interval: 30 seconds"),
     "prometheus.scrape_interval", "scrape_interval", "does not match"),
    ("undefined-severity",
     mutate("        ticket: P3\n      - name: latency", "        ticket: P7\n      - name: latency"),
     "services[0].slos[0].ticket", "ticket: P7", "'P7' is not defined"),
    ("undefined-receiver", mutate("receiver: quiet", "receiver: loud"), "severities.P3.receiver",
     "P3:", "'loud' is not defined"),
    ("undefined-service-in-alert", mutate("services: [checkout]", "services: [checkuot]"),
     "alerts[0].target_down.services[0]", "checkuot", "'checkuot' is not defined"),
    ("undefined-metric", mutate("total: http_requests_total", "total: http_request_total"),
     "services[0].slos[0].sli.ratio.total", "http_request_total", "not in the metrics catalogue"),
    ("bad-promql",
     mutate("errors: 'http_requests_total{code=~\"5..\"}'", "errors: 'http_requests_total{code=~\"5..\"'"),
     "services[0].slos[0].sli.ratio.errors", "errors:", "invalid PromQL"),
    ("bad-promql-expr",
     mutate('    target_down: {services: [checkout]}', '    expr: "sum(rate(http_requests_total[5m]) > "'),
     "alerts[0].expr", "expr:", "invalid PromQL"),
    ("selector-is-function", mutate("total: http_requests_total", "total: rate(http_requests_total[5m])"),
     "services[0].slos[0].sli.ratio.total", "total: rate", "plain series selector"),
    ("duplicate-service", mutate("  - name: db", "  - name: checkout"), "services[1].name",
     "- name: checkout\n    kind: database"[:15], "duplicate service name"),
    ("duplicate-slo", mutate("      - name: latency", "      - name: errors"), "services[0].slos[1].name",
     "- name: errors", "duplicate SLO name"),
    ("port-clash", mutate("exporter: {host: db-exporter, port: 9187}", "exporter: {host: checkout, port: 9000}"),
     "services[1].exporter.port", "exporter:", "already used"),
    ("latency-off-bucket", mutate("threshold: 0.3", "threshold: 0.25"),
     "services[0].slos[1].sli.latency.threshold", "threshold: 0.25", "not a bucket boundary"),
    ("latency-not-histogram",
     mutate("metric: http_request_duration_seconds, threshold", "metric: http_requests_total, threshold"),
     "services[0].slos[1].sli.latency.metric", "latency:", "needs a histogram"),
    ("two-sli-kinds", mutate("          latency: {metric", "          availability: {}\n          latency: {metric"),
     "services[0].slos[1].sli", "sli:", "exactly one kind"),
    ("counter-name", mutate("  http_requests_total:\n    type: counter", "  http_requests:\n    type: counter"),
     "metrics.http_requests", "http_requests:", "ends in _total"),
    ("secret-inline", mutate("routing_key_file: /run/secrets/pd_key", "routing_key: abc123"),
     "receivers.pager.pagerduty.routing_key", "routing_key: abc123", "unknown key"),
    ("alert-two-kinds",
     mutate("    target_down: {services: [checkout]}", "    target_down: {services: [checkout]}\n    expr: up == 0"),
     "alerts[0]", "- name: CheckoutDown", "exactly one of"),
    ("empty", "", "", "", "empty"),
    # a. durations follow Prometheus' grammar: units from the largest down, each at most once
    ("duration-units-reversed", mutate("  scrape_interval: 30s", "  scrape_interval: 15s1m"),
     "prometheus.scrape_interval", "scrape_interval: 15s1m", "does not match"),
    ("duration-units-reversed-2", mutate("  evaluation_interval: 30s", "  evaluation_interval: 30s1m"),
     "prometheus.evaluation_interval", "evaluation_interval: 30s1m", "units from the largest to the smallest"),
    ("duration-unit-twice", mutate("group_wait: 10s", "group_wait: 1m1m"), "severities.P1.group_wait", "P1:",
     "does not match"),
    ("duration-hours-after-minutes", mutate("repeat_interval: 1h", "repeat_interval: 1m1h"),
     "severities.P1.repeat_interval", "P1:", "does not match"),
    ("duration-minutes-twice", mutate("    for: 1m", "    for: 5m5m"), "alerts[0].for", "for: 5m5m", "does not match"),
    ("duration-trailing-newline", mutate("    for: 1m", '    for: "2m\\n"'), "alerts[0].for", "for: \"2m",
     "line break"),
    ("duration-out-of-range", mutate("    for: 1m", "    for: 300y"), "alerts[0].for", "for: 300y", "out of range"),
    # b. zero where the programs need a positive duration (an alert's `for: 0s` stays allowed)
    ("zero-scrape-interval", mutate("  scrape_interval: 30s", "  scrape_interval: 0s"),
     "prometheus.scrape_interval", "scrape_interval: 0s", "must be longer than 0s"),
    ("zero-evaluation-interval", mutate("  evaluation_interval: 30s", "  evaluation_interval: 0m"),
     "prometheus.evaluation_interval", "evaluation_interval: 0m", "must be longer than 0s"),
    ("zero-scrape-timeout", mutate("  evaluation_interval: 30s", "  evaluation_interval: 30s\n  scrape_timeout: 0s"),
     "prometheus.scrape_timeout", "scrape_timeout: 0s", "must be longer than 0s"),
    ("scrape-timeout-above-interval",
     mutate("  evaluation_interval: 30s", "  evaluation_interval: 30s\n  scrape_timeout: 45s"),
     "prometheus.scrape_timeout", "scrape_timeout: 45s", "longer than scrape_interval 30s"),
    ("zero-repeat-interval", mutate("repeat_interval: 1h", "repeat_interval: 0s"), "severities.P1.repeat_interval",
     "P1:", "Alertmanager refuses a zero repeat_interval"),
    ("repeat-beyond-alertmanager-retention", mutate("repeat_interval: 1h", "repeat_interval: 7d"),
     "severities.P1.repeat_interval", "P1:", "longer than Alertmanager's data retention (120h"),
    ("loki-recording-rule", BASE + "logs:\n  records:\n    - {record: 'job:errors:rate5m', "
     "expr: 'sum by (job) (rate({job=\"checkout\"} |= \"error\" [5m]))'}\n", "logs.records", "records:",
     "Loki recording rules are not generated"),
    ("zero-group-interval", mutate("receiver: quiet}", "receiver: quiet, group_interval: 0h}"),
     "severities.P3.group_interval", "P3:", "Alertmanager refuses a zero group_interval"),
    ("zero-gate-window", BASE + "gates:\n  window: 0s\n", "gates.window", "window: 0s", "must be longer than 0s"),
    ("zero-gate-staleness", BASE + "gates:\n  max_staleness: 0s\n", "gates.max_staleness", "max_staleness: 0s",
     "must be longer than 0s"),
    ("zero-alert-window", mutate("    target_down: {services: [checkout]}",
                                 "    rate: {metric: http_requests_total, above: 1, window: 0s}"),
     "alerts[0].rate.window", "rate:", "must be longer than 0s"),
    ("zero-log-retention", BASE + "logs:\n  retention: 0d\n", "logs.retention", "retention: 0d", "keep forever"),
    # c. Alertmanager's time intervals and grouping
    ("unknown-time-zone", BASE + "alertmanager:\n  business_hours:\n    location: Europe/Atlantis\n"
                                 "    weekdays: [monday:friday]\n    times: [{start: '09:00', end: '17:00'}]\n",
     "alertmanager.business_hours.location", "location: Europe/Atlantis", "unknown time zone"),
    ("weekday-range-backwards", BASE + "alertmanager:\n  business_hours:\n    location: Europe/Berlin\n"
                                       "    weekdays: [friday:monday]\n    times: [{start: '09:00', end: '17:00'}]\n",
     "alertmanager.business_hours.weekdays[0]", "weekdays: [friday:monday]",
     "write friday:saturday and sunday:monday"),
    ("weekday-range-to-sunday", BASE + "alertmanager:\n  business_hours:\n    weekdays:\n      - monday:sunday\n"
                                       "    times: [{start: '09:00', end: '17:00'}]\n",
     "alertmanager.business_hours.weekdays[0]", "- monday:sunday", "ends before it starts"),
    ("time-range-backwards", BASE + "alertmanager:\n  business_hours:\n    weekdays: [monday:friday]\n"
                                    "    times:\n      - {start: '17:00', end: '09:00'}\n",
     "alertmanager.business_hours.times[0]", "start: '17:00'", "across midnight"),
    ("time-range-empty", BASE + "alertmanager:\n  business_hours:\n    weekdays: [monday:friday]\n"
                                "    times:\n      - {start: '09:00', end: '09:00'}\n",
     "alertmanager.business_hours.times[0]", "start: '09:00'", "is not before end"),
    ("group-by-twice", BASE + "alertmanager:\n  group_by:\n    - alertname\n    - priority\n    - alertname\n",
     "alertmanager.group_by[2]", "    - alertname", "listed twice"),
    # d. annotation templates Prometheus would refuse (and with them the whole rule file)
    ("template-unclosed", summary("down: {{ $labels.job"), "alerts[0].summary", "summary:", "unclosed action"),
    ("template-half-closed", summary("{{ $labels.job } is down"), "alerts[0].summary", "summary:",
     'unexpected "}" in operand'),
    ("template-unknown-function", summary("{{ $value | humanizePercentag }} fail"), "alerts[0].summary", "summary:",
     'function "humanizePercentag" not defined'),
    ("template-undefined-variable",
     mutate('    summary: "checkout is down"', '    summary: "checkout is down"\n    description: "{{ $lables.job }}"'),
     "alerts[0].description", "description:", 'undefined variable "$lables"'),
    ("template-unterminated-string", summary('{{ printf "%.2f $value }}'), "alerts[0].summary", "summary:",
     "unterminated quoted string"),
    ("template-bad-escape", summary('{{ reReplaceAll "\\d+" "" $labels.instance }}'), "alerts[0].summary", "summary:",
     "backslash escape"),
    ("template-stray-end", summary("down{{ end }}"), "alerts[0].summary", "summary:", "unexpected {{end}}"),
    ("template-unclosed-if", summary("{{ if gt $value 1.0 }}very {{ end }}slow {{ if $labels.job }}down"),
     "alerts[0].summary", "summary:", "unexpected EOF"),
    ("template-in-log-alert", BASE + "logs:\n  alerts:\n    - name: Errors\n      priority: P3\n"
                                     "      expr: 'rate({job=\"checkout\"}[5m]) > 1'\n"
                                     "      summary: '{{ $labels.job }} {{ else }}'\n",
     "logs.alerts[0].summary", "summary: '{{", "unexpected {{else}}"),
    # e. an alert's expr must be an instant vector the pinned Prometheus knows
    ("expr-range-of-range", alert_expr("rate(http_requests_total[5m])[1m]"), "alerts[0].expr", "expr:",
     "invalid PromQL"),
    ("expr-range-vector", alert_expr("http_requests_total[5m]"), "alerts[0].expr", "expr:", "gives a range vector"),
    ("expr-subquery", alert_expr("rate(http_requests_total[5m])[30m:1m]"), "alerts[0].expr", "expr:",
     "gives a range vector"),
    ("expr-string", alert_expr('"checkout is down"'), "alerts[0].expr", "expr:", "gives a string"),
    ("expr-scalar", alert_expr("1"), "alerts[0].expr", "expr:", "gives a scalar"),
    ("expr-scalar-function", alert_expr("scalar(sum(http_requests_total)) > bool 1"), "alerts[0].expr", "expr:",
     "gives a scalar"),
    ("expr-limitk", alert_expr("limitk(2, http_requests_total) > 0"), "alerts[0].expr", "expr:",
     "aggregation limitk() does not exist in Prometheus v2.53.2, the version the stack pins"),
    ("expr-limit-ratio", alert_expr("limit_ratio(0.5, http_requests_total) > 0"), "alerts[0].expr", "expr:",
     "limit_ratio() does not exist in Prometheus v2.53.2"),
    ("expr-info", alert_expr("info(http_requests_total) > 0"), "alerts[0].expr", "expr:",
     "function info() does not exist in Prometheus v2.53.2"),
    ("expr-double-exponential-smoothing",
     alert_expr("double_exponential_smoothing(http_requests_total[1h], 0.5, 0.5) > 0"), "alerts[0].expr", "expr:",
     "double_exponential_smoothing() does not exist in Prometheus v2.53.2"),
    ("expr-sort-by-label", alert_expr('sort_by_label(http_requests_total, "code") > 0'), "alerts[0].expr", "expr:",
     "sort_by_label() is experimental in Prometheus v2.53.2"),
    ("expr-sort-by-label-desc", alert_expr('sort_by_label_desc(http_requests_total, "code") > 0'), "alerts[0].expr",
     "expr:", "v2.53.2"),
    ("expr-unitless-range", alert_expr("rate(http_requests_total[300]) > 0"), "alerts[0].expr", "expr:",
     "duration '300' needs a unit"),
    ("expr-unitless-offset", alert_expr("http_requests_total offset 1.5 > 0"), "alerts[0].expr", "expr:",
     "duration '1.5' needs a unit"),
    ("expr-huge-range", alert_expr("rate(http_requests_total[1.5e300]) > 0"), "alerts[0].expr", "expr:",
     "duration '1.5e300' needs a unit"),
    ("expr-range-units-twice", alert_expr("rate(http_requests_total[5m5m]) > 0"), "alerts[0].expr", "expr:",
     "in a range or offset: '5m5m' is not a duration"),
    # f. integers are integers, and names are one line of visible text
    ("port-float", mutate("    port: 9000", "    port: 9000.0"), "services[0].port", "port: 9000.0",
     "9000.0 is not of type 'integer'"),
    ("min-events-float", mutate("        period: 7d", "        period: 7d\n        min_events: 100.0"),
     "services[0].slos[0].min_events", "min_events: 100.0", "not of type 'integer'"),
    ("service-name-newline", mutate("  - name: db", '  - name: "db\\n"'), "services[1].name", '- name: "db',
     "line break"),
    ("slo-name-control-character", mutate("      - name: latency", '      - name: "latency\\a"'),
     "services[0].slos[1].name", "- name: \"latency", "control character U+0007"),
    ("alert-name-tab", mutate("  - name: CheckoutDown", '  - name: "CheckoutDown\\t"'), "alerts[0].name",
     "- name: \"CheckoutDown", "control character U+0009"),
    ("receiver-name-newline", mutate("  quiet: {}", '  "quiet\\n": {}'), "receivers", "receivers:",
     "the key 'quiet\\n' contains a line break"),
    ("metric-name-newline", mutate("  http_request_duration_seconds:\n", '  "http_request_duration_seconds\\n":\n'),
     "metrics", "metrics:", "line break"),
    ("label-value-newline",
     mutate("environment: staging", 'environment: staging\nkubernetes: {labels: {team: "a\\nb"}}'),
     "kubernetes.labels.team", "kubernetes:", "line break"),
    # g. YAML aliases within a budget
    ("yaml-alias-bomb", BASE + ALIAS_BOMB, "", "f: &f", "more than 100000 YAML nodes"),
    ("yaml-alias-cycle", BASE + "x-loop: &loop [1, *loop]\n", "x-loop[1]", "x-loop:",
     "refers to the node that contains"),
    ("yaml-alias-cycle-mapping", BASE + "x-loop: &loop\n  again: *loop\n", "x-loop.again", "  again: *loop",
     "refers to the node that contains"),
    ("yaml-many-aliases", BASE + "x-one: &one 1\nx-many: [" + ", ".join(["*one"] * 101) + "]\n", "x-many[100]",
     "x-many:", "more than 100 YAML alias uses"),
    ("yaml-too-deep", BASE + "x-deep: " + "[" * 80 + "]" * 80 + "\n", "", "x-deep:", "nests deeper than 64"),
    # h. every number has a finite range
    ("gate-min-requests-range", BASE + "gates:\n  min_requests: 10000000000\n", "gates.min_requests",
     "min_requests:", "is above 1000000000"),
    ("threshold-range", mutate("          latency: {metric: http_request_duration_seconds, threshold: 0.3}",
                               "          threshold: {metric: http_requests_total, min: -1.0e+16}"),
     "services[0].slos[1].sli.threshold.min", "threshold:", "is below -1000000000000000"),
    ("rate-above-range", mutate("    target_down: {services: [checkout]}",
                                "    rate: {metric: http_requests_total, above: 1.0e+20}"),
     "alerts[0].rate.above", "rate:", "is above 1000000000000000"),
    ("p99-range", BASE + "gates:\n  rollback:\n    p99_seconds: 86400\n", "gates.rollback.p99_seconds",
     "p99_seconds:", "is above 3600"),
    ("exporter-up-not-in-catalogue",
     exporter("{type: postgres, host: db-exporter, port: 9187, target: 'postgresql://shop@db:5432/shop'}"),
     "services[1].exporter.type", "exporter:", "'pg_up' (1 while the exporter reaches db) is not in the metrics"),
    ("exporter-up-is-a-counter", exporter("{host: db-exporter, port: 9187, up: http_requests_total}"),
     "services[1].exporter.up", "exporter:", "is a counter; an exporter's up metric is a gauge"),
    ("exporter-target-password", exporter("{type: redis, host: db-exporter, port: 9187, "
                                          "target: 'redis://:hunter2@db:6379'}"),
     "services[1].exporter.target", "exporter:", "holds a password: secrets never go in the spec"),
    ("exporter-needs-target", exporter("{type: nginx, host: db-exporter, port: 9187}"),
     "services[1].exporter", "exporter:", "a nginx exporter needs the target it reads"),
    ("exporter-target-scheme", exporter("{type: nginx, host: db-exporter, port: 9187, target: 'db:8080/status'}"),
     "services[1].exporter.target", "exporter:", "is not a http or https:// URL with a host"),
    ("exporter-target-query-password", exporter("{type: postgres, host: db-exporter, port: 9187, target: "
                                                "'postgresql://shop@db:5432/shop?sslmode=disable&password=x'}"),
     "services[1].exporter.target", "exporter:", "holds a password"),
    ("exporter-target-port", exporter("{type: redis, host: db-exporter, port: 9187, target: 'redis://db:abc'}"),
     "services[1].exporter.target", "exporter:", "has no valid port"),
    ("exporter-target-without-type", exporter("{host: db-exporter, port: 9187, target: 'redis://db:6379'}"),
     "services[1].exporter.target", "exporter:", "give the exporter's type"),
    ("reserved-rule-label", mutate("        objective: 99.5", "        objective: 99.5\n        labels: {__team: x}"),
     "services[0].slos[0].labels", "labels:", "'__team' is a name starting with __, which Prometheus reserves"),
    # 30 s evaluations: over 7 days the page's long window is 14m, 28 samples of a target, and one
    # failed scrape is 3.57 % of them, above 14.4 x 0.1 % (1 - 30 s / (14m x 14.4) = 99.75 % is the most)
    ("one-failed-scrape-pages", mutate("""        objective: 99.5
        period: 7d
        sli:
          ratio:
            errors: 'http_requests_total{code=~"5.."}'
            total: http_requests_total
""", "        objective: 99.9\n        period: 7d\n        sli: {availability: {}}\n"),
     "services[0].slos[0].objective", "objective: 99.9",
     "one failed scrape counts in 1 of them: 3.57 %, above the alert's threshold of 14.4 x 0.1 % = 1.44 %, so one "
     "failed scrape would read as the budget burning. At these intervals objectives must be below 99.75 %; or "
     "scrape and evaluate the SLOs every 12s or less"),
    # i. a runbook page needs the base URL it is a page of (audit 21: `runbook_url: checkout-down` is no link)
    ("runbook-without-base", mutate('    summary: "checkout is down"',
                                    '    summary: "checkout is down"\n    runbook: checkout-down'),
     "alerts[0].runbook", "runbook: checkout-down",
     "'checkout-down' is a page under links.runbook_base_url, which the spec does not set, so the alert's "
     "runbook_url would be no link: add links: {runbook_base_url: https://...}"),
    ("log-runbook-without-base", BASE + LOG_ALERT + "      runbook: payments/errors\n", "logs.alerts[0].runbook",
     "runbook: payments/errors", "'payments/errors' is a page under links.runbook_base_url, which the spec does "
                                 "not set"),
    ("runbook-base-with-fragment", BASE + "links:\n  runbook_base_url: https://wiki.example/ops#runbooks\n",
     "links.runbook_base_url", "runbook_base_url:", "'https://wiki.example/ops#runbooks' has a query or fragment"),
    ("prometheus-url-with-query", mutate("  evaluation_interval: 30s",
                                         "  evaluation_interval: 30s\n  external_url: https://p.example/?x=1"),
     "prometheus.external_url", "external_url:", "'https://p.example/?x=1' has a query or fragment: Prometheus adds "
                                                 "its own pages (/graph, /alerts) after it"),
    ("alertmanager-url-with-fragment", BASE + "alertmanager:\n  external_url: https://am.example/#x\n",
     "alertmanager.external_url", "external_url:", "'https://am.example/#x' has a query or fragment: Alertmanager"),
    ("runbook-base-with-query", BASE + "links:\n  runbook_base_url: https://wiki.example/view?page=\n",
     "links.runbook_base_url", "runbook_base_url:", "'https://wiki.example/view?page=' has a query or fragment"),
]


def pointed(text: str, path: str, line_snippet: str, phrase: str, lines: list[str]) -> str | None:
    """What is wrong with the problem lines `lines` (FILE:LINE: key.path: message, as the CLI
    prints them) for a spec `text` expected to be refused: None when one names the file, `path`
    and `phrase`, at a line holding `line_snippet`."""
    first = [ln for ln in lines if ln.startswith("spec.yaml:")]
    if not first:
        return "no line names spec.yaml"
    # the key path right after FILE:LINE, not anywhere in the line (the message may quote another path)
    at = re.compile(rf"spec\.yaml:\d+: {re.escape(path)}: " if path else r"spec\.yaml:\d+: ")
    matching = [ln for ln in first if (m := at.match(ln)) and phrase in ln[m.end():]]
    if not matching:
        return f"no line names {path!r} with {phrase!r}"
    if line_snippet:
        lineno = int(matching[0].split(":")[1])
        want = [i + 1 for i, ln in enumerate(text.splitlines()) if line_snippet.splitlines()[0] in ln]
        if lineno not in want:
            return f"line {lineno} is not one of {want} ({line_snippet!r})"
    return None


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_broken_spec_is_refused_with_a_pointed_message(case):
    """In process (the loader is pure): every problem the CLI would print, one per line."""
    from lukhas_obs.spec.loader import load_spec_text

    name, text, path, line_snippet, phrase = case
    with pytest.raises(SpecError) as refused:
        load_spec_text(text, "spec.yaml")
    lines = [str(p) for p in refused.value.problems]
    assert pointed(text, path, line_snippet, phrase, lines) is None, "\n".join(lines)


def test_the_pointed_message_check_can_fail():
    text = mutate("    port: 9000", "    port: 70000")
    good = "spec.yaml:{}: services[0].port: 70000 is above 65535"
    line = next(i + 1 for i, ln in enumerate(text.splitlines()) if "port: 70000" in ln)
    assert pointed(text, "services[0].port", "port: 70000", "above 65535", [good.format(line)]) is None
    assert pointed(text, "services[0].port", "port: 70000", "above 65535", [good.format(line + 1)]) == \
        f"line {line + 1} is not one of [{line}] ('port: 70000')"
    assert pointed(text, "services[1].port", "", "above 65535", [good.format(line)]) == \
        "no line names 'services[1].port' with 'above 65535'"
    assert pointed(text, "", "", "x", ["other.yaml:1: x"]) == "no line names spec.yaml"


# End to end through the CLI, a few of the cases above: exit 2, the pointed message on stderr, no
# traceback, and nothing under the output folders changes. One per stage of loading: YAML,
# schema, cross-reference, PromQL, an empty file.
CLI_CASES = ["yaml-syntax", "port-range", "undefined-metric", "expr-limitk", "empty"]


@pytest.mark.parametrize("case", [c for c in CASES if c[0] in CLI_CASES],
                         ids=[c[0] for c in CASES if c[0] in CLI_CASES])
def test_the_cli_refuses_a_broken_spec_and_writes_nothing(case, tmp_path):
    name, text, path, line_snippet, phrase = case
    spec = tmp_path / "spec.yaml"
    spec.write_text(text)
    out = tmp_path / "generated"
    shutil.copytree(ROOT / "tests" / "golden" / "small" / "expected", out)
    before = tree_snapshot(out)

    r = run_cli("generate", "--spec", str(spec), "--out", str(out), "--deployment-out", str(tmp_path / "dep"),
                cwd=tmp_path)

    assert r.returncode == 2, r.stdout + r.stderr
    assert "Traceback" not in r.stderr
    assert pointed(text, path, line_snippet, phrase, r.stderr.splitlines()) is None, r.stderr
    assert r.stderr.splitlines()[-1].endswith("in the spec; nothing was written."), r.stderr
    assert tree_snapshot(out) == before
    assert not (tmp_path / "dep").exists()


def test_every_problem_is_reported_not_only_the_first():
    from lukhas_obs.spec.loader import load_spec_text

    text = mutate("        objective: 99.5", "        objective: 101").replace("port: 9000", "port: nine")
    with pytest.raises(SpecError) as refused:
        load_spec_text(text, "spec.yaml")
    assert [p.path for p in refused.value.problems] == ["services[0].port", "services[0].slos[0].objective"]


def test_the_cli_counts_the_problems_it_prints(tmp_path):
    text = mutate("        objective: 99.5", "        objective: 101").replace("port: 9000", "port: nine")
    spec = tmp_path / "spec.yaml"
    spec.write_text(text)
    r = run_cli("validate", "--spec", str(spec), cwd=tmp_path)
    assert r.returncode == 2
    lines = r.stderr.splitlines()
    assert [ln.split(": ")[1] for ln in lines[:-1]] == ["services[0].port", "services[0].slos[0].objective"]
    assert lines[-1] == "lukhas-obs: 2 problems in the spec; nothing was written."


NOTHING_WRITTEN = "lukhas-obs: 1 problem in the spec; nothing was written."


def test_missing_spec_file(tmp_path):
    r = run_cli("generate", "--spec", "nope.yaml", "--out", str(tmp_path / "g"),
                "--deployment-out", str(tmp_path / "d"), cwd=tmp_path)
    assert r.returncode == 2
    assert r.stderr.splitlines() == ["nope.yaml:1: no such file", NOTHING_WRITTEN]
    assert not (tmp_path / "g").exists()


def test_yaml_is_read_with_the_safe_loader(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(BASE.replace("project: shop", "project: !!python/object/apply:os.system ['echo pwned']"))
    r = run_cli("validate", "--spec", str(spec), cwd=tmp_path)
    assert r.returncode == 2 and "pwned" not in r.stdout
    assert r.stderr.splitlines() == ["spec.yaml:3: project: ['echo pwned'] is not of type 'string'",
                                     NOTHING_WRITTEN]


def test_the_shipped_schema_is_a_valid_json_schema():
    import jsonschema

    from lukhas_obs.spec.schemacheck import schema

    jsonschema.Draft202012Validator.check_schema(schema())


def _validate_bounded(spec: Path, memory_bytes: int = 512 * 2**20) -> subprocess.CompletedProcess:
    """`validate` in a process that may not grow past `memory_bytes` of address space, and must
    end within 30 s (an expanded bomb would need gigabytes, and minutes to build them)."""
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))

    return subprocess.run([sys.executable, "-m", "lukhas_obs", "validate", "--spec", str(spec)], cwd=spec.parent,
                          capture_output=True, text=True, timeout=30, preexec_fn=limit)


@pytest.mark.parametrize("extra, line, phrase", [
    (ALIAS_BOMB, "f: &f", r"x-lol\.f(\[\d+\])*: the spec expands to more than 100000 YAML nodes \(aliases of aliases:"
                          r" an alias bomb\?\)"),
    ("x-loop: &loop\n  - 1\n  - *loop\n", "x-loop: &loop",
     r"x-loop\[1\]: a YAML alias refers to the node that contains it: the structure would be infinite"),
], ids=["billion-laughs", "self-reference"])
def test_yaml_alias_bombs_are_refused_in_bounded_memory(extra, line, phrase, tmp_path):
    text = BASE + extra
    spec = tmp_path / "spec.yaml"
    spec.write_text(text)
    r = _validate_bounded(spec)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "Traceback" not in r.stderr and "MemoryError" not in r.stderr and "RecursionError" not in r.stderr
    want = next(i + 1 for i, ln in enumerate(text.splitlines()) if line in ln)
    lines = r.stderr.splitlines()
    assert len(lines) == 2 and re.fullmatch(f"spec\\.yaml:{want}: {phrase}", lines[0]), r.stderr
    assert lines[1] == NOTHING_WRITTEN


# Mutations of the base spec that Prometheus and Alertmanager accept: they must stay valid.
ACCEPTED = [
    ("alert-for-zero", mutate("    for: 1m", "    for: 0s")),
    ("group-wait-zero", mutate("group_wait: 10s", "group_wait: 0s")),
    ("duration-all-units", mutate("    for: 1m", "    for: 1y2w3d4h5m6s7ms")),
    ("duration-292-years", mutate("    for: 1m", "    for: 292y")),
    ("business-hours", BASE + "alertmanager:\n  group_by: [alertname, priority]\n  business_hours:\n"
                              "    location: Europe/Berlin\n    weekdays: [monday:friday, saturday, sunday:sunday]\n"
                              "    times: [{start: '09:00', end: '17:30'}, {start: '18:00', end: '24:00'}]\n"),
    ("templates", mutate('    summary: "checkout is down"',
                         "    summary: '{{ $labels.job }} is down ({{ $value | humanizePercentage }})'\n"
                         "    description: '{{ if gt $value 0.5 }}most{{ else if gt $value 0.1 }}some{{ else }}few"
                         "{{ end }} of {{ reReplaceAll `:\\d+$` \"\" $labels.instance }} {{/* note */}}"
                         "{{ range $k, $v := $labels }}{{ $k }}={{ $v }} {{ end }}{{- \"}}\" -}}'")),
    ("expr-vector", alert_expr('sum by (code) (rate(http_requests_total{code=~"5.."}[5m] offset -1m)) > 1')),
    ("expr-vector-function", alert_expr("absent(up) or vector(1) > bool 0")),
    ("expr-subquery-in-function", alert_expr("max_over_time(rate(http_requests_total[5m])[30m:1m]) > 1")),
    ("expr-prometheus-2-functions", alert_expr(
        "histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket[5m]))) > "
        "scalar(clamp_max(predict_linear(http_requests_total[1h], 3600), 1))")),
    ("short-scrape-interval", mutate("  scrape_interval: 30s", "  scrape_interval: 5s")),
    ("repeat-at-alertmanager-retention", mutate("repeat_interval: 1h", "repeat_interval: 5d")),
]


@pytest.mark.parametrize("case", ACCEPTED, ids=[c[0] for c in ACCEPTED])
def test_what_the_programs_accept_stays_valid(case):
    from lukhas_obs.spec.loader import load_spec_text

    spec = load_spec_text(case[1], "spec.yaml")
    if case[0] == "short-scrape-interval":  # the default timeout shortens to the interval, as in Prometheus
        assert spec.prometheus.scrape_timeout == "5s"


def test_a_prometheus_3_pin_allows_its_functions_but_not_experimental_ones():
    from lukhas_obs.spec.loader import load_spec_text

    pin = "stack:\n  images:\n    prometheus: prom/prometheus:v3.1.0\n"
    load_spec_text(alert_expr("rate(http_requests_total[300]) > 0") + pin, "spec.yaml")
    with pytest.raises(SpecError, match=r"'1\.5e300' is out of range"):
        load_spec_text(alert_expr("rate(http_requests_total[1.5e300]) > 0") + pin, "spec.yaml")
    with pytest.raises(SpecError, match=r"limitk\(\) is experimental in Prometheus v3\.1\.0"):
        load_spec_text(alert_expr("limitk(2, http_requests_total) > 0") + pin, "spec.yaml")


@pytest.mark.parametrize("text, seconds", [
    ("1ms", 0.001), ("30s", 30), ("1h30m", 5400), ("1y2w3d4h5m6s7ms", 31536000 + 2 * 604800 + 3 * 86400 + 14706.007),
    ("0s", 0), ("292y", 292 * 31536000),
])
def test_durations_follow_prometheus_grammar(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "0", "15s1m", "30s1m", "1m1m", "1m1h", "5m5m", "2m\n", " 5m", "5m ", "1.5h",
                                  "-5m", "5M", "1h 30m", "5", "ms", "1ms1s", "293y", 30])
def test_durations_prometheus_refuses_are_refused(text):
    with pytest.raises(ValueError):
        parse_duration(text)


# Templates for the cross-check with promtool: valid and broken ones, each kind of Go template error.
TEMPLATES = [
    "{{ $labels.job }} is down", "{{ $value | humanizePercentage }}", "{{ $labels.job }", "{{ $labels.job",
    "{{ $value | humanizePercentag }}", "{{ $foo }}", "{{ }}", "{{ if }}x{{ end }}", "{{ if $value }}x", "{{ end }}",
    "{{ if gt $value 1.0 }}a{{ else if lt $value 0.5 }}b{{ else }}c{{ end }}", "{{ with $labels.job }}{{ . }}{{ end }}",
    "{{ with $labels.job }}{{ . }}{{ else with $value }}x{{ end }}", "{{ range $i, $e := $labels }}{{ $i }}{{ end }}",
    "{{ range $i, $e, $f := $labels }}{{ end }}", '{{ "unterminated }}', "{{ 'a' }}", "{{ 'ab' }}", '{{ "\\d" }}',
    '{{ reReplaceAll `\\d+` "" $labels.job }}', "{{/* comment */}}x", "{{/* comment */ }}x", "{{- /* c */ -}}x",
    "{{/* unclosed", "{{- $value -}}", "{{-$value}}", "{{ $value-}}", "{{ if true }}{{ $x := 1 }}{{ end }}{{ $x }}",
    "{{ $value | 3 }}", '{{ printf "%.2f" $value }}', "{{ (humanize $value }}", "{{ humanize $value) }}",
    '{{ "a".b }}', "{{ break }}", "{{ range $labels }}{{ break }}{{ end }}", '{{ define "x" }}{{ $labels }}{{ end }}',
    "{{ template x }}", '{{ block "b" . }}x{{ end }}', "{{ $value\n| humanize }}", '{{ "a\nb" }}', "{{ 1.2.3 }}",
    "{{ 0x1F }}", "{{ 1_000 }}", "{{ - }}", "{{ 1abc }}", "{{ $value | nil }}", '{{ query "up" | first | value }}',
    '{{ tmpl "x" . }}', "{{ $externalLabels.x }} {{ $externalURL }}", "{{ #x }}", "{{ é }}", "{{ := }}", "{{ : }}",
    "{{ if 1 }}{{ else }}{{ else }}{{ end }}", "{{ with . }}{{ else if . }}x{{ end }}", '}} text {{ "}}" }}',
    "{{ 'x }}", "{{ `raw", "{{ $labels.job}x }}", "text {{", "{{ .. }}", "{{ ( ) }}", '{{ "\\x41\\u00e9" }}',
    '{{ "\\400" }}', "{{ 1+2i }}", "{{ $value = 2 }}", '{{ "a" "b" }}',
]


def test_the_template_check_agrees_with_promtool(tmp_path):
    """The in-process Go template check gives the same verdict as Prometheus' own (promtool)."""
    from lukhas_obs.spec.gotemplate import template_problem

    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed")
    rules = [{"alert": f"T{i}", "expr": "up == 0", "annotations": {"summary": t}} for i, t in enumerate(TEMPLATES)]
    path = tmp_path / "rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "templates", "rules": rules}]}, allow_unicode=True))
    r = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    refused = {int(n) for n in re.findall(r'"T(\d+)": annotation', r.stdout + r.stderr)}
    assert refused and len(refused) < len(TEMPLATES), r.stdout + r.stderr
    for i, text in enumerate(TEMPLATES):
        assert (template_problem(text) is not None) == (i in refused), (text, template_problem(text))


# An alert's runbook_url annotation: a page under links.runbook_base_url, or none without that base.
# (id, links: section or "", a runbook: line for the spec's alert or "", {alert: runbook_url or None})
BASE_URL = "https://runbooks.example/shop"
RUNBOOKS = [
    ("named-page", f"links: {{runbook_base_url: {BASE_URL}}}", "checkout-down",
     {"CheckoutDown": f"{BASE_URL}/checkout-down", "CheckoutErrorLogs": f"{BASE_URL}/checkouterrorlogs",
      "SLOFastBurn": f"{BASE_URL}/slo-checkout-errors"}),
    ("base-ending-in-slash", f"links: {{runbook_base_url: {BASE_URL}/}}", "checkout-down",
     {"CheckoutDown": f"{BASE_URL}/checkout-down", "CheckoutErrorLogs": f"{BASE_URL}/checkouterrorlogs",
      "SLOFastBurn": f"{BASE_URL}/slo-checkout-errors"}),
    ("page-in-a-folder", f"links: {{runbook_base_url: {BASE_URL}}}", "payments/checkout-down",
     {"CheckoutDown": f"{BASE_URL}/payments/checkout-down", "CheckoutErrorLogs": f"{BASE_URL}/checkouterrorlogs",
      "SLOFastBurn": f"{BASE_URL}/slo-checkout-errors"}),
    ("default-page", f"links: {{runbook_base_url: {BASE_URL}}}", "",
     {"CheckoutDown": f"{BASE_URL}/checkoutdown", "CheckoutErrorLogs": f"{BASE_URL}/checkouterrorlogs",
      "SLOFastBurn": f"{BASE_URL}/slo-checkout-errors"}),
    ("no-base-no-page", "", "", {"CheckoutDown": None, "CheckoutErrorLogs": None, "SLOFastBurn": None}),
]


@pytest.mark.parametrize(("links", "page", "want"), [c[1:] for c in RUNBOOKS], ids=[c[0] for c in RUNBOOKS])
def test_runbook_urls_resolve_against_the_base(links, page, want):
    """In process: the spec's alert, a log alert and an SLO's page alert (these two on their default page)."""
    from lukhas_obs.generate.alerts import rule
    from lukhas_obs.generate.slo import slo_alerts
    from lukhas_obs.spec.loader import load_spec_text

    text = BASE if not page else mutate('    summary: "checkout is down"',
                                        f'    summary: "checkout is down"\n    runbook: {page}')
    text += LOG_ALERT + (links + "\n" if links else "")
    spec = load_spec_text(text, "spec.yaml")
    rules = [rule(spec, a) for a in (*spec.alerts, *spec.logs.alerts)]
    rules += [r for r in slo_alerts(spec, spec.slos[0]) if r["alert"] == "SLOFastBurn"]
    assert {r["alert"]: r["annotations"].get("runbook_url") for r in rules} == want


# An alert's dashboard_url annotation: the dashboard under links.grafana_url, or none without it
# (`/d/<uid>` is a link only inside Grafana). (id, links: section or "", a dashboard: line for the
# spec's alert and its log alert or "", {alert: dashboard_url or None})
GRAFANA = "https://grafana.example"
SLO_PAGE = "/d/shop-slos?var-service=checkout"   # an SLO's alerts: the SLO dashboard, its service chosen
DASHBOARDS = [
    ("named-dashboards", f"links: {{grafana_url: {GRAFANA}}}", "shop-services",
     {"CheckoutDown": f"{GRAFANA}/d/shop-services", "CheckoutErrorLogs": f"{GRAFANA}/d/shop-services",
      "SLOFastBurn": GRAFANA + SLO_PAGE}),
    ("base-ending-in-slash", f"links: {{grafana_url: {GRAFANA}/}}", "shop-services",
     {"CheckoutDown": f"{GRAFANA}/d/shop-services", "CheckoutErrorLogs": f"{GRAFANA}/d/shop-services",
      "SLOFastBurn": GRAFANA + SLO_PAGE}),
    ("grafana-under-a-path", "links: {grafana_url: 'https://ops.example/grafana'}", "shop-services",
     {"CheckoutDown": "https://ops.example/grafana/d/shop-services",
      "CheckoutErrorLogs": "https://ops.example/grafana/d/shop-services",
      "SLOFastBurn": "https://ops.example/grafana" + SLO_PAGE}),
    ("base-no-dashboard-named", f"links: {{grafana_url: {GRAFANA}}}", "",
     {"CheckoutDown": None, "CheckoutErrorLogs": None, "SLOFastBurn": GRAFANA + SLO_PAGE}),
    # the SLO's alerts had dashboard_url '/d/shop-slos?var-service=checkout'
    ("no-base-no-link", "", "", {"CheckoutDown": None, "CheckoutErrorLogs": None, "SLOFastBurn": None}),
]


@pytest.mark.parametrize(("links", "dashboard", "want"), [c[1:] for c in DASHBOARDS], ids=[c[0] for c in DASHBOARDS])
def test_dashboard_urls_are_links_under_grafana_or_none(links, dashboard, want):
    """In process: the spec's alert, a log alert and an SLO's page alert (which links to its SLO row)."""
    from lukhas_obs.generate.alerts import rule
    from lukhas_obs.generate.slo import slo_alerts
    from lukhas_obs.spec.loader import load_spec_text

    text = BASE if not dashboard else mutate('    summary: "checkout is down"',
                                             f'    summary: "checkout is down"\n    dashboard: {dashboard}')
    text += LOG_ALERT + (f"      dashboard: {dashboard}\n" if dashboard else "") + (links + "\n" if links else "")
    spec = load_spec_text(text, "spec.yaml")
    rules = [rule(spec, a) for a in (*spec.alerts, *spec.logs.alerts)]
    rules += [r for r in slo_alerts(spec, spec.slos[0]) if r["alert"] == "SLOFastBurn"]
    assert {r["alert"]: r["annotations"].get("dashboard_url") for r in rules} == want


def _line_of(text: str, snippet: str) -> int:
    (line,) = [i + 1 for i, ln in enumerate(text.splitlines()) if snippet in ln]
    return line


NO_GRAFANA = ("add links: {grafana_url: https://...} (where users reach Grafana; in a folder of specs, to the shared "
              "file), or leave dashboard out")
# (id, spec text, the line's snippet, key path, the whole message): every problem said, exactly
LINK_REFUSALS = [
    ("dashboard-without-grafana", mutate('    summary: "checkout is down"',
                                         '    summary: "checkout is down"\n    dashboard: shop-slos'),
     "dashboard: shop-slos", "alerts[0].dashboard",
     f"the alert's dashboard_url would be /d/shop-slos, a link only inside Grafana: {NO_GRAFANA}"),
    ("log-dashboard-without-grafana", BASE + LOG_ALERT + "      dashboard: shop-services\n",
     "dashboard: shop-services", "logs.alerts[0].dashboard",
     f"the alert's dashboard_url would be /d/shop-services, a link only inside Grafana: {NO_GRAFANA}"),
    ("grafana-url-with-query", BASE + "links:\n  grafana_url: https://grafana.example/?orgId=1\n",
     "grafana_url:", "links.grafana_url",
     "'https://grafana.example/?orgId=1' has a query or fragment: a dashboard's path (/d/<uid>) is added after a "
     "'/' and would land inside it; give the URL Grafana is served from"),
    ("grafana-url-with-fragment", BASE + "links:\n  grafana_url: https://ops.example/#grafana\n",
     "grafana_url:", "links.grafana_url",
     "'https://ops.example/#grafana' has a query or fragment: a dashboard's path (/d/<uid>) is added after a "
     "'/' and would land inside it; give the URL Grafana is served from"),
    ("every-address-no-external-urls", BASE + "stack:\n  bind_address: 0.0.0.0\n", "bind_address:",
     "stack.bind_address",
     "0.0.0.0 publishes the stack on every address, so it cannot tell where users reach it, and alerts and "
     "notifications would link to the containers' names: set prometheus.external_url and alertmanager.external_url "
     "(https://...)"),
    ("every-ipv6-address-one-external-url",
     mutate("  evaluation_interval: 30s", "  evaluation_interval: 30s\n  external_url: https://prom.example")
     + "stack:\n  bind_address: '[::]'\n", "bind_address:", "stack.bind_address",
     "[::] publishes the stack on every address, so it cannot tell where users reach it, and alerts and "
     "notifications would link to the containers' names: set alertmanager.external_url (https://...)"),
    ("bind-address-not-an-address", BASE + "stack:\n  bind_address: 127.0.1\n", "bind_address:",
     "stack.bind_address", "'127.0.1' is not an IPv4 address or a bracketed IPv6 address (compose publishes ports "
                           "on an address, not a host name)"),
    ("bind-address-a-host-name", BASE + "stack:\n  bind_address: localhost\n", "bind_address:",
     "stack.bind_address", "'localhost' is not an IPv4 address or a bracketed IPv6 address (compose publishes ports "
                           "on an address, not a host name)"),
    ("bind-address-bare-ipv6", BASE + "stack:\n  bind_address: '::1'\n", "bind_address:",
     "stack.bind_address", "'::1' is not an IPv4 address or a bracketed IPv6 address (compose publishes ports on "
                           "an address, not a host name)"),
]


@pytest.mark.parametrize(("text", "snippet", "path", "message"), [c[1:] for c in LINK_REFUSALS],
                         ids=[c[0] for c in LINK_REFUSALS])
def test_a_link_that_would_be_dead_is_refused_at_its_line(text, snippet, path, message):
    from lukhas_obs.spec.loader import load_spec_text

    with pytest.raises(SpecError) as refused:
        load_spec_text(text, "spec.yaml")
    assert [str(p) for p in refused.value.problems] == [f"spec.yaml:{_line_of(text, snippet)}: {path}: {message}"]
