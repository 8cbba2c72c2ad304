"""The validated internal model. Generators and the gate see only this, never raw YAML."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import ClassVar, TypeVar

from lukhas_obs.durations import parse_duration
from lukhas_obs.promql import Matcher, Selector

# The generated compose stack runs Alertmanager with this --data.retention (its own default): a
# notification log entry older than this is gone, so a longer repeat_interval would repeat every
# retention period anyway, and Alertmanager warns about it at every start. The spec refuses one.
ALERTMANAGER_DATA_RETENTION = "120h"


@dataclass(frozen=True)
class Severity:
    priority: str              # P1..P4
    level: str                 # the `severity` label value: critical, high, ...
    receiver: str
    page: bool = False
    description: str = ""
    notify_within: str | None = None
    group_wait: str = "30s"
    group_interval: str = "5m"
    repeat_interval: str = "4h"
    business_hours_only: bool = False


# ---- receivers: one notifier type per kind --------------------------------------------------

@dataclass(frozen=True)
class PagerDuty:
    kind: ClassVar[str] = "pagerduty"
    routing_key_file: str
    url: str | None = None     # another Events API endpoint (a proxy, a test sink)


@dataclass(frozen=True)
class Slack:
    kind: ClassVar[str] = "slack"
    api_url_file: str
    channel: str


@dataclass(frozen=True)
class Webhook:
    kind: ClassVar[str] = "webhook"
    url_file: str | None = None   # the spec's: a secret
    url: str | None = None        # the demo's local sink only (Debian's Alertmanager 0.25 has no url_file)


Notifier = PagerDuty | Slack | Webhook


@dataclass(frozen=True)
class Receiver:
    name: str
    notifier: Notifier | None = None   # None: recorded in Alertmanager, sent nowhere

    def secret_files(self) -> tuple[tuple[str, str], ...]:
        """(key, path) of every file the notifier reads a secret from, as Alertmanager sees it."""
        match self.notifier:
            case PagerDuty(routing_key_file=path):
                return (("routing_key_file", path),)
            case Slack(api_url_file=path):
                return (("api_url_file", path),)
            case Webhook(url_file=str(path)):
                return (("url_file", path),)
        return ()


@dataclass(frozen=True)
class BusinessHours:
    weekdays: tuple[str, ...]
    times: tuple[tuple[str, str], ...]
    location: str = "UTC"


@dataclass(frozen=True)
class Metric:
    name: str
    type: str
    help: str = ""
    unit: str = ""
    labels: tuple[str, ...] = ()
    buckets: tuple[float, ...] = ()
    services: tuple[str, ...] = ()


# ---- SLIs: one type per kind, consumed with `match` -------------------------------------------

@dataclass(frozen=True)
class RatioSLI:
    """errors (or good events, `good`) over total: counters, as selectors; rates are taken."""
    kind: ClassVar[str] = "ratio"
    total: Selector
    counted: Selector          # the errors; the good events when `good`
    good: bool = False


@dataclass(frozen=True)
class ExpressionRatioSLI:
    """A ratio given as two PromQL expressions with Sloth's {{.window}} placeholder, used verbatim
    with the window substituted: errors (or good, `good`) over total."""
    kind: ClassVar[str] = "ratio"
    total_query: str
    counted_query: str
    good: bool = False


@dataclass(frozen=True)
class LatencySLI:
    """The share of `metric` observations above `threshold` (one of its histogram's buckets)."""
    kind: ClassVar[str] = "latency"
    metric: Selector
    threshold: float


@dataclass(frozen=True)
class AvailabilitySLI:
    """The share of scrapes (`up`) or health probes (`probe_success`) that failed."""
    kind: ClassVar[str] = "availability"
    source: str = "up"         # up | probe


@dataclass(frozen=True)
class ThresholdSLI:
    """The share of gauge samples outside [min, max]; at least one bound (the loader checks)."""
    kind: ClassVar[str] = "threshold"
    metric: Selector
    min: float | None = None
    max: float | None = None


@dataclass(frozen=True)
class RawSLI:
    """A PromQL expression with {{.window}} that gives the error ratio itself (Sloth's `raw`)."""
    kind: ClassVar[str] = "raw"
    error_ratio_query: str


SLI = RatioSLI | ExpressionRatioSLI | LatencySLI | AvailabilitySLI | ThresholdSLI | RawSLI

# Counting events (requests), rather than samples over time.
EVENT_SLIS = (RatioSLI, ExpressionRatioSLI, LatencySLI)
# Counting samples over time: at each SLO evaluation, which targets (or gauge series) are bad.
SAMPLE_SLIS = (AvailabilitySLI, ThresholdSLI)


# An SLO period whose burn-rate windows all make sense: from 5 days every window keeps a long
# window at least twice its short one (short windows stay >= 5m for rate()); to 90 days the
# ticket's long window (9 days) stays something a rule can sum and promtool can replay.
SLO_PERIOD_RANGE = (5 * 86400, 90 * 86400)

# Labels every generated rule sets itself (and `le`, `quantile`, which mean something else): a
# spec's own rule labels cannot take them.
RESERVED_RULE_LABELS = frozenset({"service", "slo", "severity", "priority", "alertname", "le", "quantile", "phase"})

# The burn-rate alerts' names when the spec gives none.
SLO_PAGE_ALERT = "SLOFastBurn"
SLO_TICKET_ALERT = "SLOSlowBurn"

# An SLO's period, and the window of an error_ratio, quantile or rate alert, when the spec gives none.
SLO_DEFAULT_PERIOD = "30d"
ALERT_DEFAULT_WINDOW = "5m"


# A calendar period's nominal length: its burn-rate windows are scaled from it, as a rolling
# period's are from its duration (a month's paging does not change in February).
CALENDAR_UNITS = {"week": "7d", "month": "30d", "quarter": "90d"}


@dataclass(frozen=True)
class Calendar:
    """A calendar-aligned period: the budget is spent from the start of the current ISO week
    (Monday 00:00), month or quarter in `timezone` (IANA), and starts afresh at the next."""
    unit: str                  # week | month | quarter
    timezone: str = "UTC"

    @property
    def nominal(self) -> str:
        return CALENDAR_UNITS[self.unit]

    def __str__(self) -> str:
        return f"calendar {self.unit} ({self.timezone})"


@dataclass(frozen=True)
class SLOAlert:
    """One of an SLO's two burn-rate alerts, as the spec adjusts it."""
    name: str
    enabled: bool = True
    labels: tuple[tuple[str, str], ...] = ()
    annotations: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Timeslices:
    """Timeslice budgeting: the objective counts good slices of `window`, a slice being good when
    its SLI's good share is at least `target` (a ratio, 0.99); a slice without data is not counted."""
    window: str
    target: float

    @property
    def bad_above(self) -> float:
        """The error ratio above which a slice is bad."""
        return round(1.0 - self.target, 12)


@dataclass(frozen=True)
class SLO:
    service: str
    name: str
    objective: float           # percent, e.g. 99.9
    period: str                # rolling: the period; calendar: the unit's nominal length (30d for a month)
    page: str
    ticket: str
    sli: SLI
    min_events: int | None = None
    timeslices: Timeslices | None = None          # None: occurrences (events or samples) are budgeted
    description: str = ""
    labels: tuple[tuple[str, str], ...] = ()        # on every rule of the SLO
    annotations: tuple[tuple[str, str], ...] = ()   # on every alert of the SLO
    page_alert: SLOAlert = SLOAlert(SLO_PAGE_ALERT)
    ticket_alert: SLOAlert = SLOAlert(SLO_TICKET_ALERT)
    calendar: Calendar | None = None                # None: a rolling period

    @property
    def period_text(self) -> str:
        """The period in words: `30d`, or `calendar month (Europe/Berlin)`."""
        return str(self.calendar) if self.calendar else self.period

    @property
    def target(self) -> float:
        return self.objective / 100.0

    @property
    def error_budget(self) -> float:
        """Allowed error ratio, e.g. 0.001 for 99.9 %."""
        return round(1.0 - self.target, 12)

    @property
    def id(self) -> str:
        return f"{self.service}-{self.name}"

    @property
    def period_seconds(self) -> float:
        return parse_duration(self.period)


# The exporters the stack knows how to run, and the metric each sets to 0 when it cannot reach
# the thing it exports (its own `up` stays 1: the exporter answered).
EXPORTER_BACKEND_UP = {"postgres": "pg_up", "redis": "redis_up", "nginx": "nginx_up"}


@dataclass(frozen=True)
class Exporter:
    host: str
    port: int
    metrics_path: str = "/metrics"
    type: str | None = None    # one of EXPORTER_BACKEND_UP: the compose stack runs it
    up: str | None = None      # 1 while the exporter reaches the service behind it
    target: str | None = None  # what it reads: a stub_status URL, a DSN, a Redis address


@dataclass(frozen=True)
class Service:
    name: str
    kind: str
    host: str
    port: int | None = None
    description: str = ""
    health: str | None = None
    metrics_path: str = "/metrics"
    metrics_port: int | None = None
    scrape: bool = True
    exporter: Exporter | None = None
    slos: tuple[SLO, ...] = ()

    @property
    def scrape_address(self) -> str | None:
        if not self.scrape:
            return None
        if self.exporter:
            return f"{self.exporter.host}:{self.exporter.port}"
        port = self.metrics_port or self.port
        return f"{self.host}:{port}" if port else None

    def down_selectors(self) -> tuple[Selector, ...]:
        """What is 0 when the service is down: its target's `up`, and for an exporter the metric
        saying the service behind it is unreachable (the exporter's own `up` stays 1 then)."""
        job = (Matcher("job", "=", self.name),)
        return (Selector("up", job),) + ((Selector(self.exporter.up, job),) if self.exporter and self.exporter.up
                                         else ())

    @property
    def scrape_path(self) -> str:
        return self.exporter.metrics_path if self.exporter else self.metrics_path

    @property
    def network_host(self) -> str:
        """The name other containers reach the service by. A loopback `host` (`localhost`,
        127.0.0.0/8, ::1, 0.0.0.0) is right for Prometheus scraping itself inside its own
        container, but from anywhere else it is the caller itself: then the service's name,
        which is its compose service name on the stack's network."""
        import ipaddress

        host = self.host.lower().rstrip(".")
        if host in ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback") or \
                host.endswith(".localhost"):
            return self.name
        try:
            address = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            return self.host
        return self.name if address.is_loopback or address.is_unspecified else self.host

    @property
    def health_url(self) -> str | None:
        """What the blackbox exporter probes, from its own container: never a loopback host."""
        if not self.health or not self.port:
            return None
        return f"http://{self.network_host}:{self.port}{self.health}"


# ---- hand-declared alerts: one condition type per kind --------------------------------------

@dataclass(frozen=True)
class ExprCondition:
    """A PromQL (or, for the Loki ruler, LogQL) expression used as written."""
    expr: str


@dataclass(frozen=True)
class TargetDown:
    """The services' targets are down, or the service behind an exporter is (Service.down_selectors)."""
    services: tuple[str, ...]


@dataclass(frozen=True)
class ErrorRatio:
    errors: Selector
    total: Selector
    above: float
    window: str = ALERT_DEFAULT_WINDOW


@dataclass(frozen=True)
class QuantileAbove:
    buckets: Selector          # the histogram's `_bucket` series
    quantile: float
    above: float
    window: str = ALERT_DEFAULT_WINDOW


@dataclass(frozen=True)
class RateAbove:
    counter: Selector
    above: float
    window: str = ALERT_DEFAULT_WINDOW


AlertCondition = ExprCondition | TargetDown | ErrorRatio | QuantileAbove | RateAbove


@dataclass(frozen=True)
class Alert:
    name: str
    priority: str
    summary: str
    condition: AlertCondition
    for_: str | None = None
    description: str = ""
    service: str | None = None
    service_label: str | None = None
    runbook: str | None = None
    dashboard: str | None = None


@dataclass(frozen=True)
class PrometheusSettings:
    scrape_interval: str = "15s"
    scrape_timeout: str = "10s"
    evaluation_interval: str = "30s"
    slo_evaluation_interval: str = "30s"
    slo_long_evaluation_interval: str = "5m"
    slo_absent_for: str = "10m"             # how long an SLI has no series before SLOMetricsAbsent fires
    external_labels: tuple[tuple[str, str], ...] = ()
    blackbox_exporter: str = "blackbox-exporter:9115"
    alertmanagers: tuple[str, ...] = ("alertmanager:9093",)
    external_url: str | None = None        # --web.external-url: links in alerts and the UI


@dataclass(frozen=True)
class AlertmanagerSettings:
    resolve_timeout: str = "5m"
    default_priority: str | None = None
    group_by: tuple[str, ...] = ("alertname", "service", "slo")
    business_hours: BusinessHours | None = None
    external_url: str | None = None        # --web.external-url: links in notifications


@dataclass(frozen=True)
class LogQuery:
    name: str
    title: str
    expr: str                  # LogQL
    description: str = ""
    dashboard: str | None = None


@dataclass(frozen=True)
class LogsSettings:
    retention: str = "30d"
    queries: tuple[LogQuery, ...] = ()
    alerts: tuple[Alert, ...] = ()          # LogQL conditions, for the Loki ruler


# ---- dashboards (spec `dashboards:`, runbook 4.2) ----------------------------------------

@dataclass(frozen=True)
class MetricSeries:
    """A catalogue metric (or one every Prometheus has, such as process_*), shown as `show`:
    rate or increase of a counter, quantiles of a histogram, or sum/avg/max/min of a gauge,
    aggregated `by` labels."""
    metric: str
    show: str                                  # rate | increase | quantiles | sum | avg | max | min
    by: tuple[str, ...] = ()
    quantiles: tuple[float, ...] = (0.5, 0.95, 0.99)
    range: str = "1h"                          # increase's window
    legend: str | None = None                  # None: the `by` labels, or the metric's name


@dataclass(frozen=True)
class RoleSeries:
    """A role of `gates.traffic`, filtered by the dashboard's service and instance variables."""
    role: str                                  # requests | errors | error_ratio | latency | pool


@dataclass(frozen=True)
class HealthSeries:
    """Whether targets are scraped: the application services', or every target's (a service
    behind an exporter counted by the exporter's "backend up" metric)."""
    scope: str                                 # applications | targets


@dataclass(frozen=True)
class ExprSeries:
    """PromQL as written (parsed and checked against the catalogue when the spec loads)."""
    expr: str
    legend: str = ""


Series = MetricSeries | RoleSeries | HealthSeries | ExprSeries


@dataclass(frozen=True)
class Threshold:
    value: float
    color: str


@dataclass(frozen=True)
class Panel:
    title: str
    series: tuple[Series, ...]
    kind: str = "timeseries"                   # timeseries | stat | gauge | table
    unit: str | None = None                    # Grafana's unit id; None: from the series
    description: str = ""
    thresholds: tuple[Threshold, ...] = ()
    base_color: str = "green"                  # below the first threshold
    width: int = 12                            # of Grafana's 24 columns
    height: int = 8


@dataclass(frozen=True)
class PanelRow:
    title: str
    panels: tuple[Panel, ...]


@dataclass(frozen=True)
class REDRows:
    """One row per service: targets up, request rate, error ratio, latency (RED), derived from
    the gate's traffic roles, the service's SLIs and its catalogue metrics. None: every
    application service."""
    services: tuple[str, ...] | None = None


@dataclass(frozen=True)
class SLORows:
    """One row per service with SLOs: objective, SLI, budget left, alerts firing, burn rates.
    None: every service with SLOs."""
    services: tuple[str, ...] | None = None


Row = PanelRow | REDRows | SLORows
DASHBOARD_VARIABLES = ("service", "instance")


@dataclass(frozen=True)
class Dashboard:
    uid: str
    title: str
    rows: tuple[Row, ...]
    description: str = ""
    variables: tuple[str, ...] = ()            # of DASHBOARD_VARIABLES


@dataclass(frozen=True)
class StackSettings:
    bind_address: str = "127.0.0.1"
    secrets_dir: str = "./secrets"
    images: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class KubernetesSettings:
    namespace: str = "monitoring"
    labels: tuple[tuple[str, str], ...] = ()
    dashboard_label: str = "grafana_dashboard"
    metrics_port_name: str = "metrics"


@dataclass(frozen=True)
class RulerSettings:
    """Mimir's defaults, the tightest of the distributed rulers (Cortex and Thanos set none)."""

    source_tenants: tuple[str, ...] = ()
    max_rules_per_group: int = 20
    max_groups_per_tenant: int = 70


@dataclass(frozen=True)
class GateSettings:
    """What `slo-gate` reads and the thresholds it applies (spec `gates:`; runbook 3.2, 3.3, 5.1)."""

    window: str = "5m"
    min_requests: int = 50
    max_staleness: str = "2m"
    requests: Selector | None = None
    errors: Selector | None = None
    latency: str | None = None
    latency_threshold: float | None = None
    pool_in_use: str | None = None
    pool_max: str | None = None
    canary_label: str = "track"
    canary_value: str = "canary"
    baseline_value: str = "baseline"
    canary_min_requests: int = 200
    confidence: float = 0.99
    min_relative_increase: float = 1.25
    min_absolute_increase: float = 0.002
    rule_out: float = 2.0             # a canary PASSes once "this many times worse" is ruled out
    canary_max_age: str = "6h"        # how far back to look for the canary's start
    smoke_tolerance: float = 2.0      # smoke PASSes when the upper bound is <= tolerance x target
    steps: tuple[int, ...] = (5, 10, 25, 50, 100)
    rollback_error_ratio: float = 0.05
    rollback_error_for: str = "3m"
    services_down_ratio: float = 0.5
    p99_seconds: float = 5.0
    p99_for: str = "5m"
    pool_saturation: float = 1.0
    budget_min_remaining: float = 0.25
    budget_min_coverage: float = 0.9   # share of the budget's period the SLI's data must cover
    # `slo-gate serve` as Argo Rollouts and Flagger reach it, and how they ask (gates.serve,
    # gates.canary.analysis): read by the generated AnalysisTemplates and Canaries only
    serve_url: str | None = None
    serve_timeout: str = "20s"
    analysis_interval: str = "1m"
    analysis_count: int = 10
    analysis_failure_limit: int = 0
    analysis_inconclusive_limit: int | None = None   # None: count - 1

    @property
    def inconclusive_limit(self) -> int:
        """INCONCLUSIVE looks tolerated in a step: by default all but the last of `count`."""
        limit = self.analysis_inconclusive_limit
        return self.analysis_count - 1 if limit is None else limit


@dataclass(frozen=True)
class Spec:
    source: str                # the spec's path as the user named it, for headers and errors
    project: str
    environment: str = "production"
    network: str | None = None
    runbook_base_url: str = ""
    grafana_url: str = ""
    prometheus: PrometheusSettings = field(default_factory=PrometheusSettings)
    alertmanager: AlertmanagerSettings = field(default_factory=AlertmanagerSettings)
    receivers: tuple[Receiver, ...] = ()
    severities: tuple[Severity, ...] = ()
    metrics: tuple[Metric, ...] = ()
    services: tuple[Service, ...] = ()
    alerts: tuple[Alert, ...] = ()
    gates: GateSettings = field(default_factory=GateSettings)
    logs: LogsSettings = field(default_factory=LogsSettings)
    stack: StackSettings = field(default_factory=StackSettings)
    kubernetes: KubernetesSettings | None = None
    ruler: RulerSettings | None = None
    dashboards: tuple[Dashboard, ...] = ()     # the spec's, or the derived defaults

    # Generators look these up inside loops over every SLO: indexed once per Spec (the model is
    # frozen, so an index never goes stale; dataclasses.replace builds a new Spec, with new ones).
    @cached_property
    def _severity_index(self) -> dict[str, Severity]:
        return _first_by(self.severities, lambda s: s.priority)

    @cached_property
    def _metric_index(self) -> dict[str, Metric]:
        return _first_by(self.metrics, lambda m: m.name)

    @cached_property
    def _service_index(self) -> dict[str, Service]:
        return _first_by(self.services, lambda s: s.name)

    def severity(self, priority: str) -> Severity:
        return self._severity_index[priority]

    def metric(self, name: str) -> Metric | None:
        return self._metric_index.get(name)

    def service(self, name: str) -> Service:
        return self._service_index[name]

    @cached_property
    def slos(self) -> tuple[SLO, ...]:
        return tuple(slo for svc in self.services for slo in svc.slos)

    def runbook_url(self, page: str) -> str | None:
        """The runbook page's URL: `page` (an alert's `runbook`, or the name it defaults to) is a path
        under links.runbook_base_url. None without a base: a bare path is no link (Alertmanager,
        PagerDuty and Grafana would show it as a dead one); the loader refuses a `runbook` the spec
        names when there is no base, and an alert whose runbook is only the default gets no link."""
        if not self.runbook_base_url:
            return None
        return f"{self.runbook_base_url.rstrip('/')}/{page}"

    def dashboard_url(self, dashboard: str) -> str | None:
        """The dashboard's URL: `dashboard` (a uid, perhaps with its query, `shop-slos?var-service=x`)
        under links.grafana_url. None without it: `/d/<uid>` is a link only inside Grafana, a dead one
        in Alertmanager, PagerDuty and Slack; as with runbooks, the loader refuses an alert's
        `dashboard` when there is no Grafana URL, and an SLO's alerts get no link."""
        if not self.grafana_url:
            return None
        return f"{self.grafana_url.rstrip('/')}/d/{dashboard}"


_T = TypeVar("_T")


def _first_by(items: Iterable[_T], key: Callable[[_T], str]) -> dict[str, _T]:
    """Items by key, the first of equal keys winning (as a search from the start would)."""
    out: dict[str, _T] = {}
    for item in items:
        out.setdefault(key(item), item)
    return out
