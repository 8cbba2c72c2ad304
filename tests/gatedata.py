"""Known history for the gate tests: OpenMetrics text that `promtool tsdb create-blocks-from
openmetrics` turns into a TSDB. Every scenario lives in its own day, so one Prometheus holds all
of them and each test evaluates the gate `--at` the end of its scenario."""

from __future__ import annotations

from dataclasses import dataclass, field

T0 = 1_767_225_600          # 2026-01-01T00:00:00Z
DAY = 86_400
STEP = 30                   # seconds between samples
LENGTH = 70 * 60            # each scenario holds 70 minutes of history
APPS = ("lukhas-core", "lukhas-identity", "lukhas-memory", "lukhas-consciousness", "lukhas-governance")
OTHERS = ("lukhas-gateway", "postgres", "redis", "jaeger", "prometheus", "alertmanager", "grafana", "loki")
HEALTH = APPS + ("jaeger", "prometheus", "alertmanager", "grafana", "loki")
BUCKETS = (0.1, 0.25, 1.0, 5.0, 10.0)
# The SLOs whose budget record the scenarios write (the rules' output, not re-derived here)...
BUDGET_SLOS = (("lukhas-core", "availability"), ("lukhas-core", "latency"), ("lukhas-identity", "availability"))
# ...and their 5m total record every 5 minutes, without a break, from 30 days (their period)
# before the first scenario to the end of the last: the rules have run all along, so the gate
# finds the budget's whole period covered (gate.coverage). Written whatever the scenario does.
COVERAGE_STEP = 300
PERIOD = 30 * DAY


@dataclass
class Effect:
    """From `start` to `end` seconds before the scenario's end, set `what` for `service`/`track`."""
    what: str                    # rps, errors, slow, slowish, down, pool, stop, absent, unlabelled
    value: float
    service: str | None = None   # None: every app
    track: str | None = None     # None: both tracks
    start: float = LENGTH + STEP   # default: from the first sample on
    end: float = 0


@dataclass
class Scenario:
    name: str
    effects: list[Effect] = field(default_factory=list)
    budget_left: float = 0.8
    budget_clusters: dict[str, float] | None = None   # budget left per `cluster` label, instead of one series
    buckets: tuple[float, ...] = BUCKETS

    def value(self, what: str, default: float, service: str, track: str | None, before_end: float) -> float:
        out = default
        for e in self.effects:
            if e.what == what and e.service in (None, service) and e.track in (None, track) \
                    and e.end <= before_end < e.start:
                out = e.value
        return out


SCENARIOS = [
    Scenario("healthy"),
    Scenario("service-down", [Effect("down", 1, "lukhas-memory", start=600),
                              Effect("rps", 0, "lukhas-memory", start=600)]),
    Scenario("error-spike-2m", [Effect("errors", 0.20, "lukhas-core", start=270, end=150)]),
    Scenario("sustained-6pct", [Effect("errors", 0.06, "lukhas-core", start=600)]),
    Scenario("canary-2x", [Effect("errors", 0.01, "lukhas-core", "baseline"),
                           Effect("errors", 0.02, "lukhas-core", "canary")]),
    Scenario("canary-thin", [Effect("rps", 0.1, None, "canary")]),
    Scenario("latency-regression", [Effect("slow", 0.30, "lukhas-core", start=600)]),
    Scenario("stale", [Effect("stop", 1, start=240)]),
    Scenario("budget-spent", budget_left=0.1),
    Scenario("pool-exhausted", [Effect("pool", 1.0, "lukhas-identity", start=600)]),
    Scenario("no-traffic", [Effect("rps", 0, "lukhas-core")]),
    Scenario("fast-burn", [Effect("errors", 0.04, "lukhas-core", start=1500)]),
    # issue 11: what the gate must not mistake for an outage, a pass or a failure
    Scenario("empty", [Effect("stop", 1)]),
    Scenario("stopped-10m", [Effect("stop", 1, start=600)]),
    # a canary started 4 minutes ago: every canary series is born inside the window
    Scenario("canary-fresh", [Effect("absent", 1, track="canary", end=240),
                              Effect("errors", 0.03, "lukhas-core", "canary")]),
    Scenario("canary-fresh-healthy", [Effect("absent", 1, track="canary", end=240)]),
    Scenario("canary-born-40s", [Effect("absent", 1, track="canary", end=40)]),
    Scenario("canary-down-3m", [Effect("down", 1, "lukhas-core", "canary", start=180)]),
    Scenario("canary-routing", [Effect("rps", 50, None, "canary"), Effect("rps", 50, None, "baseline")]),
    Scenario("budget-two-clusters", budget_clusters={"eu": 0.9, "us": 0.05}),
    Scenario("no-threshold-bucket", [Effect("slow", 0.02, "lukhas-core")], buckets=(0.1, 1.0, 5.0, 10.0)),
    # 30 % of lukhas-core's requests take 0.25-1 s: 30x its latency budget, p99 still under 5 s
    Scenario("latency-fast-burn", [Effect("slowish", 0.30, "lukhas-core")]),
    # lukhas-core was not scraped from 11 to 4 minutes before the end, after an hour at 0.5 %
    # errors: the window's events are those after the gap, not the counters' whole lives
    Scenario("scrape-gap", [Effect("errors", 0.005, "lukhas-core", end=660),
                            Effect("stop", 1, "lukhas-core", start=660, end=240)]),
    # the stable pods carry no track label: nothing to compare the canary with
    Scenario("unlabelled-baseline", [Effect("unlabelled", 1, None, "baseline")]),
]


def end_of(name: str) -> int:
    i = [s.name for s in SCENARIOS].index(name)
    return T0 + i * DAY + LENGTH


def _labels(**kv) -> str:
    return "{" + ",".join(f'{k}="{v}"' for k, v in kv.items()) + "}"


def openmetrics(names: tuple[str, ...] | None = None) -> str:
    """The history of every scenario, or only of those in `names` (each still in its own day)."""
    families: dict[str, tuple[str, list[str]]] = {}

    def add(family: str, kind: str, line: str):
        families.setdefault(family, (kind, []))[1].append(line)

    for i, sc in enumerate(SCENARIOS):
        if names is not None and sc.name not in names:
            continue
        start = T0 + i * DAY
        times = list(range(start, start + LENGTH + 1, STEP))
        counters: dict[str, float] = {}

        def bump(key: str, inc: float, counters: dict[str, float] = counters) -> float:
            counters[key] = counters.get(key, 0.0) + inc
            return counters[key]

        for t in times:
            before_end = start + LENGTH - t
            for svc in APPS + OTHERS:
                if sc.value("stop", 0, svc, None, before_end):
                    continue
                inst = f"{svc}:80"
                down = sc.value("down", 0, svc, "baseline", before_end)
                add("up", "gauge", f"up{_labels(job=svc, instance=inst)} {0 if down else 1} {t}")
                if svc in HEALTH:
                    probe = _labels(job="blackbox-health", service=svc, instance=f"http://{svc}/health")
                    add("probe_success", "gauge", f"probe_success{probe} {0 if down else 1} {t}")
                if svc not in APPS:
                    continue
                if svc == "lukhas-identity":
                    n = 20 * STEP  # authentications: all within 25 ms
                    auth = bump("auth", n)
                    for b in (0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1.0, "+Inf"):
                        v = auth if b == "+Inf" or b >= 0.025 else 0.0
                        add("lukhas_identity_auth_duration_seconds", "histogram",
                            f"lukhas_identity_auth_duration_seconds_bucket{_labels(job=svc, instance=inst, le=str(b))} "
                            f"{v:.6f} {t}")
                    add("lukhas_identity_auth_duration_seconds", "histogram",
                        f"lukhas_identity_auth_duration_seconds_count{_labels(job=svc, instance=inst)} {auth:.6f} {t}")
                for track, share in (("baseline", 0.95), ("canary", 0.05)):
                    if sc.value("absent", 0, svc, track, before_end):
                        continue  # this track's pods do not exist yet: no series at all
                    tinst = inst if track == "baseline" else f"{svc}-canary:80"
                    if track == "canary":
                        cdown = sc.value("down", 0, svc, track, before_end)
                        add("up", "gauge", f"up{_labels(job=svc, instance=tinst)} {0 if cdown else 1} {t}")
                        if cdown:
                            continue  # a target that is down serves nothing and is not scraped
                    rps = sc.value("rps", 100 * share, svc, track, before_end)
                    err = sc.value("errors", 0.0005, svc, track, before_end)
                    slow = sc.value("slow", 0.002, svc, track, before_end)
                    slowish = sc.value("slowish", 0.0, svc, track, before_end)
                    n = rps * STEP
                    lab = dict(job=svc, instance=tinst, track=track)
                    if sc.value("unlabelled", 0, svc, track, before_end):
                        del lab["track"]
                    e = bump(f"{svc}{track}500", n * err)
                    ok = bump(f"{svc}{track}200", n * (1 - err))
                    add("lukhas_http_requests", "counter",
                        f"lukhas_http_requests_total{_labels(**lab, status='500')} {e:.6f} {t}")
                    add("lukhas_http_requests", "counter",
                        f"lukhas_http_requests_total{_labels(**lab, status='200')} {ok:.6f} {t}")
                    fast = bump(f"{svc}{track}fast", n * (1 - slow - slowish))
                    mid = bump(f"{svc}{track}mid", n * slowish)
                    slowc = bump(f"{svc}{track}slow", n * slow)
                    for b in sc.buckets:
                        # fast requests take < 0.1 s, slowish 0.25-1 s, slow 5-10 s
                        v = fast + (mid if b >= 1 else 0) + (slowc if b >= 10 else 0)
                        add("lukhas_http_request_duration_seconds", "histogram",
                            f"lukhas_http_request_duration_seconds_bucket{_labels(**lab, le=repr(b))} {v:.6f} {t}")
                    add("lukhas_http_request_duration_seconds", "histogram",
                        f"lukhas_http_request_duration_seconds_bucket{_labels(**lab, le='+Inf')} "
                        f"{fast + mid + slowc:.6f} {t}")
                    add("lukhas_http_request_duration_seconds", "histogram",
                        f"lukhas_http_request_duration_seconds_count{_labels(**lab)} {fast + mid + slowc:.6f} {t}")
                if svc != "lukhas-consciousness":
                    pool = sc.value("pool", 0.2, svc, None, before_end)
                    add("lukhas_db_pool_connections_in_use", "gauge",
                        f"lukhas_db_pool_connections_in_use{_labels(job=svc, instance=inst)} {50 * pool} {t}")
                    add("lukhas_db_pool_connections_max", "gauge",
                        f"lukhas_db_pool_connections_max{_labels(job=svc, instance=inst)} 50 {t}")
            if not sc.value("stop", 0, "prometheus", None, before_end):
                add("prometheus_rule_evaluation_failures", "counter",
                    f"prometheus_rule_evaluation_failures_total{_labels(job='prometheus', rule_group='x')} 0 {t}")
                for svc, slo in BUDGET_SLOS:
                    for cluster, left in (sc.budget_clusters or {"": sc.budget_left}).items():
                        labels = dict(service=svc, slo=slo, **({"cluster": cluster} if cluster else {}))
                        add("slo:error_budget:remaining_ratio", "gauge",
                            f"slo:error_budget:remaining_ratio{_labels(**labels)} {left} {t}")
    included = [i for i, sc in enumerate(SCENARIOS) if names is None or sc.name in names]
    if included:
        for svc, slo in BUDGET_SLOS:
            for t in range(T0 + included[0] * DAY - PERIOD, T0 + included[-1] * DAY + LENGTH + 1, COVERAGE_STEP):
                add("slo:sli_total:rate5m", "gauge", f"slo:sli_total:rate5m{_labels(service=svc, slo=slo)} 100 {t}")
    out = []
    for family, (kind, lines) in families.items():
        out.append(f"# TYPE {family} {kind}")
        # OpenMetrics wants each series' samples together and in time order
        by_series: dict[str, list[str]] = {}
        for line in lines:
            by_series.setdefault(line.rsplit(" ", 2)[0], []).append(line)
        for series in by_series.values():
            out.extend(series)
    out.append("# EOF")
    return "\n".join(out) + "\n"
