"""The generated stack, end to end, run unchanged (issue 13, "Show it").

The generated Prometheus, Alertmanager and blackbox configurations run with Debian's programs,
with the compose file's own command lines, environments and mounts, at the compose file's
container paths, under the compose hostnames (each its own loopback address in a private network
namespace), in front of the real exporters, PostgreSQL, Redis, nginx and the five LUKHAS services
(the synthetic workload); PagerDuty and Slack are an HTTPS sink under their own hostnames (see
tests/stackns/README.md). Then, as an operator would check it:

1. healthy: every scrape target up, every probe succeeding, every exporter reaching its server,
   nothing pending, firing or sent, no panel red;
2. every panel of every dashboard returns data for every value of its variables (resolved as
   Grafana resolves them, with tests/test_dashboards.py's resolver);
3. PostgreSQL, Redis, nginx and one LUKHAS service stopped at once: each one's alert (found in the
   generated rules) fires, reaches the receiver the generated routes give it, with links that work,
   a panel shows it red, and nothing is said about what still runs.

What differs from production: the timers. The files are generated (and then run unchanged) from
the LUKHAS spec with every timer divided by 15 (`lukhas_obs.demo.fast_timers`, the demo's own):
3 s scrapes instead of 15 s (the one timer not divided by 15: a 1 s or 2 s scrape deadline fails now
and then on a loaded 2-core runner), 2 s evaluations instead of 30 s, the SLOs' `-long` groups every 20 s
instead of 5 minutes, `for: 1m/2m` as 4 s/8 s, group_wait 10 s/30 s as 1 s/2 s. Why this proves
the same: every rule, route, receiver, target, link, label and PromQL range window is the spec's
own (the output differs in timer values only: tests/test_fast_timers.py), and one factor for all
timers keeps their proportions, so an alert needs as many evaluations (and each evaluation sees as many new
scrapes) as in production before it fires, and the test's waits are derived from the generated
timers, not written in it. What is not scaled: PromQL range windows (a rate over 5m fills 15 times
slower relative to `for:` than in production), which leaves this test's proofs alone: the outage
alerts read `up` and the exporters' backend-up gauges, no window, and the panels only need data.
The production timers themselves are checked where their values matter: promtool unit tests of
every SLO file (tests/test_slo.py), `amtool` routing and the golden files. About a minute instead
of six. Marked `stack`."""

from __future__ import annotations

import json
import math
import re
import secrets
import subprocess
import time
import urllib.parse
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import promql_parser
import pytest
import yaml

from lukhas_obs import promql
from lukhas_obs.demo import fast_timers
from lukhas_obs.durations import parse_duration
from lukhas_obs.generate import render, render_deployment
from lukhas_obs.generate.writer import relative_mount, write_outputs
from lukhas_obs.spec import load_spec

from conftest import SPEC, tool
from stackns.client import LivePrometheus, StackNamespace, why_no_namespace, write_secrets
from stackns.plan import Stack
from test_dashboards import dashboards, interpolate, queries, variable_settings

pytestmark = [pytest.mark.stack]

MODEL = load_spec(SPEC)
# what the stack runs: the spec with its timers divided by FAST, but scrapes every 3 s with a 3 s
# timeout (not 1 s): a 1 s (and, beside the whole suite, a 2 s) deadline on a loaded 2-core runner
# fails a scrape now and then, and in a Prometheus a minute old one failed scrape is a large share
# of every SLO window
FAST_MODEL = replace(fast_timers(MODEL), prometheus=replace(fast_timers(MODEL).prometheus, scrape_interval="3s",
                                                            scrape_timeout="3s"))
APPS = [s.name for s in MODEL.services if s.kind == "application"]
# what is stopped at once: every service the spec reads through an exporter (the server behind
# it stops, the exporter stays), and one LUKHAS service, chosen when the outage starts (below)
APPLICATION = "application"
STOPPED = [s.name for s in MODEL.services if s.exporter] + [APPLICATION]
DEADLINE = 900  # seconds: the namespace ends itself then, whatever happens here


class Live:
    """The running stack, as the tests see it."""

    def __init__(self, ns: StackNamespace, stack: Stack, secret_values: dict[Path, str]):
        self.ns = ns
        self.stack = stack
        self.secrets = secret_values
        self.prom = LivePrometheus(ns, "http://prometheus:9090")
        self.am = "http://alertmanager:9093"
        self.dashboards = dashboards(stack.generated)
        self.rules = [r for f in sorted((stack.generated / "prometheus" / "rules").glob("*.rules.yml"))
                      for g in yaml.safe_load(f.read_text())["groups"] for r in g["rules"]]
        self.alerting = [r for r in self.rules if "alert" in r]
        self.interval = parse_duration(stack.prometheus["global"]["scrape_interval"])
        self.evaluation = parse_duration(stack.prometheus["global"]["evaluation_interval"])
        self.started = time.monotonic()

    def flag(self, service: str, name: str) -> str:
        return next(a.split("=", 1)[1] for a in self.stack.services[service].get("command", [])
                    if a.startswith(f"--{name}="))

    def receiver_of(self, post: dict) -> str | None:
        """Which receiver sent a post the sink recorded, by the secret it carries."""
        for path, (_, reader) in self.stack.secret_files().items():
            receiver, kind = reader.split(".")[:2]
            value = self.secrets[path]
            if kind == "pagerduty_configs" and isinstance(post["body"], dict) \
                    and post["body"].get("routing_key") == value:
                return receiver
            if kind == "slack_configs" and post["path"] == urllib.parse.urlsplit(value).path:
                return receiver
        return None


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    reason = why_no_namespace()
    if reason:
        pytest.skip(reason)
    root = tmp_path_factory.mktemp("stack")
    generated, deployment = root / "generated", root / "deployment"
    write_outputs(render(FAST_MODEL), generated, render_deployment(FAST_MODEL, relative_mount(generated, deployment)),
                  deployment)
    stack = Stack(generated, deployment)
    secret_values = write_secrets(stack)
    env = {name: secrets.token_hex(12) for name in stack.variables()}  # what the operator exports
    (root / "work").mkdir()
    begun = time.monotonic()
    ns = StackNamespace(stack.generated, stack.deployment, SPEC, root / "work", env, deadline=DEADLINE)
    try:
        ns.wait_ready()
        ready = time.monotonic()
        yield Live(ns, stack, secret_values)
        print(f"\nstack: ready after {ready - begun:.1f}s, tests took {time.monotonic() - ready:.0f}s")
    finally:
        ns.close()


def poll(check, timeout: float, interval: float = 2.0):
    """Call `check` until it returns a falsy list of problems or time runs out; the last problems."""
    deadline = time.monotonic() + timeout
    problems = check()
    while problems and time.monotonic() < deadline:
        time.sleep(interval)
        problems = check()
    return problems


# -- 1. healthy ----------------------------------------------------------------------------------

def backend_up_metrics() -> dict[str, str]:
    """An exporter's "is the server behind me up" gauge, from the catalogue: `<x>_up` of the one
    service whose exporter serves it."""
    return {m.name: m.services[0] for m in MODEL.metrics
            if m.name.endswith("_up") and len(m.services) == 1 and MODEL.service(m.services[0]).exporter}


def health_problems(live: Live) -> list[str]:
    targets = live.prom.get("/api/v1/targets")["data"]["activeTargets"]
    problems = [f"target {t['labels']['job']} {t['scrapeUrl']}: {t['health']} {t['lastError']}"
                for t in targets if t["health"] != "up"]
    configured = len(live.stack.scrape_targets()) + len(live.stack.probes())
    if len(targets) != configured:
        problems.append(f"{len(targets)} active targets, {configured} configured")
    probes = {s["metric"]["service"]: s["value"][1] for s in live.prom.query('probe_success{job="blackbox-health"}')}
    for service, url in live.stack.probes():
        if probes.get(service) != "1":
            problems.append(f"probe of {service} ({url}): probe_success {probes.get(service)}")
    for metric, service in backend_up_metrics().items():
        values = [s["value"][1] for s in live.prom.query(metric)]
        if values != ["1"]:
            problems.append(f"{metric} ({service}'s exporter reaching it): {values}")
    return problems


def test_every_target_is_up_every_probe_succeeds_every_exporter_reaches_its_server(live):
    assert backend_up_metrics() == {"pg_up": "postgres", "redis_up": "redis", "nginx_up": "lukhas-gateway"}
    problems = poll(lambda: health_problems(live), timeout=2 * live.interval + 30)
    assert not problems, "\n".join(problems) + "\n" + live.ns.logs()


def sweep(live: Live) -> tuple[list[tuple[str, str]], list[str], int]:
    """Every panel query for every selection of its dashboard's variables: (where, query) of the
    ones with no data, the ones whose value is NaN (Grafana shows "NaN"), and how many ran."""
    now = time.time()
    empty, nan, ran = [], [], 0
    for uid, dash in live.dashboards.items():
        settings, no_values = variable_settings(live.prom, dash, now - 6 * 3600, now)
        empty += [(problem, "") for problem in no_values]
        for described, chosen in settings:
            for title, expr in queries(dash):
                query = interpolate(expr, chosen)
                result = live.prom.query(query)
                ran += 1
                where = f"{uid} / {title} [{described or 'no variables'}]: {query}"
                if not result:
                    empty.append((where, query))
                elif any(math.isnan(float(s["value"][1])) for s in result):
                    nan.append(where)
    return empty, nan, ran


def unevaluated_records(live: Live, since: float = 0.0) -> set[str]:
    """Records of the rule groups Prometheus has not evaluated since `since` (a Unix time; 0: not
    yet at all). A fresh Prometheus evaluates a group first at the group's slot, up to one interval
    after it starts: for the SLOs' 5-minute `-long` groups (objective, budget left, 1d and 3d
    windows) up to 5 minutes, and a first evaluation before the 5m records exist records nothing."""
    groups = live.prom.get("/api/v1/rules")["data"]["groups"]
    return {r["name"] for g in groups if unix_time(g["lastEvaluation"]) < since for r in g["rules"]
            if r["type"] == "recording"}


def unix_time(rfc3339: str) -> float:
    """Prometheus' RFC 3339 times (nanoseconds; year 1 for never)."""
    m = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?Z$", rfc3339)
    assert m, rfc3339
    whole = datetime.fromisoformat(m.group(1)).replace(tzinfo=UTC).timestamp()
    return whole + float(m.group(2) or 0)


def awaiting(query: str, unevaluated: set[str]) -> bool:
    return bool(query) and bool(promql.metric_names(query) & unevaluated)


@pytest.fixture(scope="module")
def panels(live):
    """The sweep once every panel has data but those reading a record whose group has not had its
    first evaluation yet: these are `awaiting`, checked again during the outage (below)."""
    result: dict = {}

    def check():
        started = time.monotonic()
        empty, result["nan"], result["ran"] = sweep(live)
        unevaluated = unevaluated_records(live, since=result["inputs"])
        result["awaiting"] = {q: where for where, q in empty if awaiting(q, unevaluated)}
        result["empty"] = [where for where, q in empty if not awaiting(q, unevaluated)]
        result["seconds"] = time.monotonic() - started
        return result["empty"]

    assert not poll(lambda: health_problems(live), timeout=2 * live.interval + 30), "not healthy"
    # from here on every 5m record of the 30 s groups exists: two scrapes and an evaluation later
    result["inputs"] = time.time() + 2 * live.interval + live.evaluation
    poll(check, timeout=4 * live.evaluation + 2 * live.interval, interval=5)
    print(f"\npanels: {result['ran']} queries in {result['seconds']:.1f}s, "
          f"{time.monotonic() - live.started:.0f}s after the stack was ready; "
          f"{len(result['awaiting'])} await their rule group's first evaluation; NaN: {result['nan']}")
    return result


def test_every_panel_returns_data_for_every_value_of_its_variables(live, panels):
    assert not panels["empty"], "panels with no data on the live stack:\n" + "\n".join(panels["empty"])
    every_query = sum(1 for dash in live.dashboards.values() for _ in queries(dash))
    assert panels["ran"] >= every_query, (panels["ran"], every_query)


def test_the_panel_check_can_fail(live, panels):
    dash = {"uid": "x", "templating": {"list": []}, "panels": [
        {"title": "t", "targets": [{"datasource": {"type": "prometheus"}, "expr": "up"},
                                   {"datasource": {"type": "prometheus"}, "expr": "lukhas_no_such_metric"}]}]}
    live.dashboards["x"] = dash
    try:
        empty, _, ran = sweep(live)
    finally:
        del live.dashboards["x"]
    assert [w for w, _ in empty if w.startswith("x /")] == ["x / t [no variables]: lukhas_no_such_metric"]
    assert awaiting("slo:objective:ratio", {"slo:objective:ratio"}) and not awaiting("up", {"slo:objective:ratio"})


def test_no_panel_shows_nan(live, panels):
    assert not panels["nan"], "panels showing NaN:\n" + "\n".join(panels["nan"])


def color(panel: dict, value: float) -> str:
    """The colour Grafana gives a value: the last threshold step at or below it."""
    steps = panel.get("fieldConfig", {}).get("defaults", {}).get("thresholds", {}).get("steps", [])
    chosen = ""
    for step in steps:
        if step.get("value") is None or value >= step["value"]:
            chosen = step["color"]
    return chosen


def red_panels(live: Live) -> list[tuple[str, str, dict, float]]:
    """(dashboard, panel, series labels, value) of every stat panel series shown red, with each
    variable set to All (or its first value)."""
    now = time.time()
    out = []
    for uid, dash in live.dashboards.items():
        settings, _ = variable_settings(live.prom, dash, now - 6 * 3600, now)
        chosen = next((c for d, c in settings if d and all(p.endswith("=All") for p in d.split(", "))),
                      settings[0][1])
        for panel in dash["panels"]:
            if panel["type"] not in ("stat", "gauge"):
                continue
            for target in panel.get("targets", []):
                for series in live.prom.query(interpolate(target["expr"], chosen)):
                    value = float(series["value"][1])
                    if color(panel, value) == "red":
                        out.append((uid, panel["title"], series["metric"], value))
    return out


def test_the_colour_check_can_fail():
    panel = {"fieldConfig": {"defaults": {"thresholds": {"steps": [{"value": None, "color": "red"},
                                                                   {"value": 1, "color": "green"}]}}}}
    assert (color(panel, 0), color(panel, 1), color(panel, 0.99)) == ("red", "green", "red")


def firing_or_pending(live: Live) -> list[dict]:
    return live.prom.get("/api/v1/alerts")["data"]["alerts"]


def test_a_healthy_stack_is_silent_and_green(live, panels):
    """Nothing pending, firing or sent, and no panel red, once every rule has evaluated on data.
    A rule evaluated in the moment before its target's first scrape may be pending; its next
    evaluation (the SLO groups run every 30 s) clears it, so pending is given two evaluations."""
    deadline = time.monotonic() + 65
    while True:
        alerts = [f"{a['labels']['alertname']} {a['labels'].get('service', '')} {a['state']}"
                  for a in firing_or_pending(live)]
        if not alerts or any("firing" in a for a in alerts) or time.monotonic() > deadline:
            break
        time.sleep(5)
    red = [f"{uid} / {title} {labels}: {value}" for uid, title, labels, value in red_panels(live)]
    sent = live.ns.sink()
    assert not alerts and not red and not sent, (f"alerts: {alerts}\nred panels: {red}\nsent: {sent}\n"
                                                 + scrape_history(live))


def scrape_history(live: Live) -> str:
    """What every scrape since the start did, for a failure message: the targets that failed a
    scrape, and the slowest scrapes against the timeout."""
    since = f"{max(60, int(time.monotonic() - live.started) + 60)}s"
    failed = [f"{s['metric'].get('job')} {s['metric'].get('instance')}: {s['value'][1]} failed"
              for s in live.prom.query(f"count_over_time((up == 0)[{since}:])")]
    slow = [f"{s['metric'].get('job')} {s['metric'].get('instance')}: {float(s['value'][1]):.2f}s"
            for s in live.prom.query(f"topk(5, max_over_time(scrape_duration_seconds[{since}]))")]
    return f"failed scrapes (subquery at the evaluation interval): {failed}\nslowest scrapes: {slow}"


# -- 3. outage -----------------------------------------------------------------------------------

def selectors(expr: str) -> list[tuple[str, dict[str, tuple[str, str]]]]:
    """(metric, {label: (op, value)}) of every series selector of an expression."""
    out = []

    def visit(node, *_):
        vs = node.vector_selector if isinstance(node, promql_parser.MatrixSelector) else node
        if isinstance(vs, promql_parser.VectorSelector):
            out.append((vs.name or "", {m.name: (str(m.op).split(".")[-1], m.value) for m in vs.matchers.matchers}))
        return True

    promql_parser.walk(promql.parse(expr), visit)
    return out


def selects_job(matchers: dict[str, tuple[str, str]], job: str) -> bool:
    op, value = matchers.get("job", ("", ""))
    return (op == "Equal" and value == job) or (op == "Re" and re.fullmatch(value, job) is not None)


def down_alerts(live: Live, service: str) -> list[str]:
    """The alerts the generated rules raise when `service` is down: those whose expression reads
    its scrape health (`up` of its job: job name = service name) or its exporter's
    backend-up gauge."""
    gauges = {m for m, s in backend_up_metrics().items() if s == service}
    names = []
    for rule in live.alerting:
        for metric, matchers in selectors(rule["expr"]):
            if metric in gauges or (metric == "up" and selects_job(matchers, service)):
                names.append(rule["alert"])
                break
    return names


def route(live: Live, labels: dict[str, str]) -> str:
    """The receiver the generated routing tree gives these labels (amtool, Alertmanager's own)."""
    r = subprocess.run([tool("amtool"), "config", "routes", "test",
                        f"--config.file={live.stack.generated / 'alertmanager/alertmanager.yml'}",
                        *[f"{k}={v}" for k, v in sorted(labels.items())]], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def about(post: dict) -> set[tuple[str, str]]:
    """The (alertname, service) pairs a PagerDuty or Slack post is about."""
    body = post["body"] if isinstance(post["body"], dict) else {}
    if "routing_key" in body:
        text = body.get("payload", {}).get("custom_details", {}).get("firing", "")
        pairs = set()
        for block in text.split("Labels:")[1:]:
            labels = dict(re.findall(r"^ - (\w+) = (.*)$", block.split("Annotations:")[0], re.M))
            pairs.add((labels.get("alertname", ""), labels.get("service", "")))
        return pairs
    pairs = set()
    for attachment in body.get("attachments", []):
        # "[FIRING] P2 Name (service)", or "[FIRING] P2 Name" for a group without a service
        m = re.search(r"\b(\w+)(?: \(([^)]*)\))?\s*$", attachment.get("title", ""))
        if m:
            pairs.add((m.group(1), m.group(2) or ""))
    return pairs


def choose_application(live: Live, panels: dict) -> str:
    """The LUKHAS service to stop: the first whose every panel has had its data while it ran (none
    of the awaiting queries is about it), waiting for one if need be."""
    def candidates() -> list[str]:
        recheck(live, panels, {})
        return [a for a in APPS if not any(promql.quote(a) in q for q in panels["awaiting"])]

    deadline = panels["inputs"] + slowest_group(live) + live.evaluation + 10
    while not candidates() and time.time() < deadline:
        time.sleep(3)
    found = candidates()
    assert found, f"every LUKHAS service has panels with no data yet: {sorted(panels['awaiting'].values())}"
    return found[0]


def recheck(live: Live, panels: dict, found: dict) -> None:
    """Run the awaiting queries again: one with data moves to `found` with the series it shows,
    one still empty once its records' groups have been evaluated is a panel with no data."""
    # before the queries (a group sets it after its samples)
    unevaluated = unevaluated_records(live, since=panels["inputs"])
    for query in list(panels["awaiting"]):
        result = live.prom.query(query)
        if result:
            found[query] = (panels["awaiting"].pop(query), [s["metric"] for s in result])
        elif not awaiting(query, unevaluated):
            panels["empty"].append(panels["awaiting"].pop(query))


def slowest_group(live: Live) -> float:
    return max(parse_duration(g.get("interval", live.stack.prometheus["global"]["evaluation_interval"]))
               for f in (live.stack.generated / "prometheus" / "rules").glob("*.rules.yml")
               for g in yaml.safe_load(f.read_text())["groups"])


@pytest.fixture(scope="module")
def outage(live, panels):
    """Stop the servers behind the exporters and one LUKHAS service at once; watch until every
    expected alert has reached the sink (bounded by the longest `for:` plus a scrape, two
    evaluations and the group wait), the panels awaiting their first evaluation have data, and
    every rule has evaluated once more on complete data."""
    assert not poll(lambda: health_problems(live), timeout=2 * live.interval + 30), "not healthy before the outage"
    app = choose_application(live, panels)
    red_before = {labels.get("service") or labels.get("job") for _, _, labels, _ in red_panels(live)}
    stopped = [app if s == APPLICATION else s for s in STOPPED]
    expected = {service: down_alerts(live, service) for service in stopped}
    longest = max([parse_duration(r.get("for", "0s")) for r in live.alerting
                   if r["alert"] in {a for names in expected.values() for a in names}] or [0])
    receivers = {route(live, {"alertname": r["alert"], **{k: service if "{{" in v else v
                                                         for k, v in r.get("labels", {}).items()}})
                 for service, names in expected.items() for r in live.alerting if r["alert"] in names}
    tree = live.stack.alertmanager["route"]
    group_wait = max([parse_duration(r.get("group_wait", tree.get("group_wait", "30s"))) for r in tree["routes"]
                      if r["receiver"] in receivers] or [parse_duration(tree.get("group_wait", "30s"))])
    started = time.time()
    budget = max(longest + live.interval + 2 * live.evaluation + group_wait,
                 slowest_group(live) - (time.time() - panels["inputs"]) + 2 * live.evaluation) + 20
    answer = live.ns.stop(*stopped)
    assert not answer["errors"], answer
    seen: dict = {"app": app, "stopped": stopped, "red_before": red_before - {None}, "firing": {}, "delivered": {},
                  "red": {}, "health": [], "awaited": {}, "complete": None}

    def check() -> list[str]:
        for alert in firing_or_pending(live):
            if alert["state"] == "firing":
                key = (alert["labels"]["alertname"], alert["labels"].get("service", ""))
                seen["firing"].setdefault(key, (alert, time.time() - started))
        for post in live.ns.sink():
            for key in about(post):
                seen["delivered"].setdefault(key, []).append(post)
        for uid, title, labels, value in red_panels(live):
            for service in stopped:
                if service in (labels.get("job"), labels.get("service")):
                    seen["red"].setdefault(service, (uid, title, labels, value))
        seen["health"] = health_problems(live)
        recheck(live, panels, seen["awaited"])
        if not panels["awaiting"] and seen["complete"] is None:
            seen["complete"] = time.monotonic()
        missing = [f"{name} ({service}) not delivered" for service, names in expected.items() for name in names
                   if (name, service) not in seen["delivered"]]
        if seen["complete"] is None or time.monotonic() - seen["complete"] < live.evaluation + 5:
            missing.append("rules not yet evaluated on complete data")
        return missing

    seen["missing"] = poll(check, timeout=budget, interval=3)
    seen["expected"], seen["took"], seen["budget"] = expected, time.time() - started, budget
    print(f"\noutage: stopped {stopped}; expected {expected}; watched {seen['took']:.0f}s of {budget:.0f}s; "
          + ", ".join(f"{k[0]}({k[1]}) firing after {t:.0f}s" for k, (_, t) in seen["firing"].items()))
    return seen


def test_panels_awaiting_their_first_evaluation_show_data_for_services_that_run(live, panels, outage):
    """The panels that had no data yet when the outage began (their record's group had not been
    evaluated once) have it now, and every series they show is of a service that still runs: each
    panel of every dashboard has returned data while everything it shows was running."""
    assert not panels["awaiting"], "panels still without data:\n" + "\n".join(panels["awaiting"].values())
    assert not panels["empty"], "panels with no data after their first evaluation:\n" + "\n".join(panels["empty"])
    wrong = [f"{where}: {labels}" for where, series in outage["awaited"].values() for labels in series
             if labels.get("service") not in APPS or labels.get("service") in outage["stopped"]]
    assert not wrong, "checked after the outage began, but about a stopped service:\n" + "\n".join(wrong)


def test_the_health_check_sees_every_stopped_service(live, outage):
    """The healthy check of test 1 can fail: with the servers stopped it names each of them."""
    text = "\n".join(outage["health"])
    for service in outage["stopped"]:
        gauge = [m for m, s in backend_up_metrics().items() if s == service]
        shown = gauge[0] if gauge else f"target {service} "
        assert shown in text, f"{service} is down but the health check does not say so:\n{text}"


@pytest.mark.parametrize("service", STOPPED)
def test_a_stopped_service_pages_the_right_receiver_with_working_links(live, outage, service):
    service = outage["app"] if service == APPLICATION else service
    names = outage["expected"][service]
    assert names, f"no generated alert reads {service}'s scrape health or its exporter's up gauge"
    assert not [m for m in outage["missing"] if f"({service})" in m], \
        f"{outage['missing']} after {outage['took']:.0f}s\n" + live.ns.logs()
    for name in names:
        alert, _ = outage["firing"][(name, service)]
        receiver = route(live, alert["labels"])
        posts = outage["delivered"][(name, service)]
        assert {live.receiver_of(p) for p in posts} == {receiver}, (receiver, posts)
        for post in posts:
            check_links(live, alert, post)


def check_links(live: Live, alert: dict, post: dict) -> None:
    """Runbook and dashboard links as the rule annotates them and as the spec configures them;
    Alertmanager and Prometheus links at their external URLs, each of which, followed on the live
    stack, shows the alert."""
    body = post["body"]
    annotations = alert["annotations"]
    runbook, dashboard = annotations["runbook_url"], annotations["dashboard_url"]
    assert runbook.startswith(MODEL.runbook_base_url.rstrip("/") + "/"), runbook
    grafana = live.stack.environment("grafana", {v: "x" for v in live.stack.variables()})["GF_SERVER_ROOT_URL"]
    u = urllib.parse.urlsplit(dashboard)
    assert dashboard.startswith(grafana.rstrip("/") + "/d/"), dashboard
    uid = u.path.split("/")[2]
    assert uid in live.dashboards, f"{dashboard}: no generated dashboard has uid {uid}"
    am_url, prom_url = live.flag("alertmanager", "web.external-url"), live.flag("prometheus", "web.external-url")
    if "routing_key" in body:
        assert body["event_action"] == "trigger"
        assert {(link["href"], link["text"]) for link in body["links"]} == {(runbook, "Runbook"),
                                                                           (dashboard, "Dashboard")}, body
        if alert["labels"]["severity"] == "critical":
            assert body["payload"]["severity"] == "critical", body
        am_link = body["client_url"]
        source = re.search(r"Source: (\S+)", body["payload"]["custom_details"]["firing"]).group(1)
        assert source.startswith(prom_url.rstrip("/") + "/graph?"), source
        code, _ = live.ns.fetch(source.replace(prom_url.rstrip("/"), "http://prometheus:9090", 1))
        assert code == 200, source
        expr = urllib.parse.parse_qs(urllib.parse.urlsplit(source).query)["g0.expr"][0]
        assert live.prom.query(expr), f"{source}: the alert's expression shows nothing on the live Prometheus"
    else:
        attachment = body["attachments"][0]
        assert f"Runbook: {runbook}" in attachment["text"] and f"Dashboard: {dashboard}" in attachment["text"], body
        am_link = attachment["title_link"]
    assert am_link.startswith(am_url.rstrip("/") + "/"), am_link
    code, page = live.ns.fetch(am_link.replace(am_url.rstrip("/"), live.am, 1).split("#")[0])
    assert code == 200 and b"Alertmanager" in page, am_link
    receiver = urllib.parse.parse_qs(urllib.parse.urlsplit(am_link).fragment.split("?", 1)[-1]).get("receiver")
    shown = json.loads(live.ns.fetch(f"{live.am}/api/v2/alerts?" + urllib.parse.urlencode(
        {"receiver": receiver[0] if receiver else "", "filter": f'alertname="{alert["labels"]["alertname"]}"'}))[1])
    assert {a["labels"]["alertname"] for a in shown} == {alert["labels"]["alertname"]}, \
        f"{am_link} shows no {alert['labels']['alertname']} on the live Alertmanager: {shown}"


@pytest.mark.parametrize("service", STOPPED)
def test_a_stopped_service_turns_a_panel_red(live, outage, service):
    service = outage["app"] if service == APPLICATION else service
    assert service in outage["red"], f"no stat panel shows {service} red while it is down"


def test_the_outage_raises_nothing_about_a_service_that_runs(live, outage):
    """Once every rule has evaluated on complete data, nothing fires or is sent about a service that
    still runs and was green before the outage (what was red then is test 1's finding)."""
    quiet = set(outage["stopped"]) | outage["red_before"]
    others = [f"{name} ({service})" for (name, service) in outage["firing"] if service not in quiet]
    sent = [f"{name} ({service})" for (name, service) in outage["delivered"] if service not in quiet]
    assert not others and not sent, f"firing: {others}; sent: {sent}"
