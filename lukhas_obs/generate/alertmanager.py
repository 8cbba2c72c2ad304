"""alertmanager.yml: a route tree by priority, business hours for the priorities that wait for
them, an inhibit rule so a critical alert silences lower ones for the same service, and every
secret referenced by file."""

from __future__ import annotations

from lukhas_obs.model import PagerDuty, Receiver, Severity, Slack, Spec, Webhook
from lukhas_obs.promql import quote

BUSINESS_HOURS = "business-hours"


def _matcher(name: str, op: str, value: str) -> str:
    return f"{name}{op}{quote(value)}"


def _timing(sev: Severity) -> dict:
    return {"group_wait": sev.group_wait, "group_interval": sev.group_interval,
            "repeat_interval": sev.repeat_interval}


# PagerDuty's Events API v2 knows four severities; the spec's levels map onto them (without a
# mapping Alertmanager sends every event as `error`, a P1 page included).
PAGERDUTY_SEVERITY = {"critical": "critical", "high": "error", "error": "error", "medium": "warning",
                      "warning": "warning", "low": "info", "info": "info"}


def _pagerduty_severity(levels: list[str]) -> str:
    """A template choosing the PagerDuty severity from the alerts' `severity` label; a level
    PagerDuty has no word for (or a group without one common level) goes out as `error`."""
    known = [lv for lv in levels if lv in PAGERDUTY_SEVERITY]
    if not known:
        return "error"
    branches = "{{ else if ".join(f'eq .CommonLabels.severity {quote(lv)} }}}}{PAGERDUTY_SEVERITY[lv]}'
                                  for lv in known)
    return "{{ if " + branches + "{{ else }}error{{ end }}"


def _link(annotation: str) -> str:
    # an alert without the annotation still gets a working link: Alertmanager's own page
    return f"{{{{ with .CommonAnnotations.{annotation} }}}}{{{{ . }}}}{{{{ else }}}}{{{{ .ExternalURL }}}}{{{{ end }}}}"


def _receiver(r: Receiver, levels: list[str]) -> dict:
    out: dict = {"name": r.name}
    match r.notifier:
        case PagerDuty(routing_key_file=key_file, url=url):
            out["pagerduty_configs"] = [_pagerduty(key_file, url, levels)]
        case Slack(api_url_file=url_file, channel=channel):
            out["slack_configs"] = [_slack(url_file, channel)]
        case Webhook(url_file=url_file, url=url):
            # `url` (the demo's local webhook) or `url_file` (a secret); Debian's Alertmanager 0.25 knows only `url`
            where = {"url": url} if url else {"url_file": url_file}
            out["webhook_configs"] = [{**where, "send_resolved": True}]
    return out


def _pagerduty(key_file: str, url: str | None, levels: list[str]) -> dict:
    cfg = {"routing_key_file": key_file, "send_resolved": True,
               "description": "{{ .CommonLabels.priority }} {{ .CommonLabels.alertname }}: "
                              "{{ .CommonAnnotations.summary }}",
               "severity": _pagerduty_severity(levels),
               "links": [{"href": _link("runbook_url"), "text": "Runbook"},
                         {"href": _link("dashboard_url"), "text": "Dashboard"}]}
    if url:
        cfg["url"] = url
    return cfg


def _slack(url_file: str, channel: str) -> dict:
    return {
            "api_url_file": url_file, "channel": channel, "send_resolved": True,
            # the service only when the group has one (an alert on no service's series ended in "()"), and
            # under each alert's summary only the lines whose annotation the alert has (one without a
            # runbook_url printed "Runbook: " and nothing after it)
            "title": '[{{ .Status | toUpper }}] {{ .CommonLabels.priority }} {{ .CommonLabels.alertname }}'
                     '{{ with .CommonLabels.service }} ({{ . }}){{ end }}',
            "text": ("{{ range .Alerts }}{{ .Annotations.summary }}\n"
                     "{{ with .Annotations.description }}{{ . }}\n{{ end }}"
                     "{{ with .Annotations.runbook_url }}Runbook: {{ . }}\n{{ end }}"
                     "{{ with .Annotations.dashboard_url }}Dashboard: {{ . }}\n{{ end }}"
                     "{{ end }}"),
            "actions": [{"type": "button", "text": "Runbook", "url": _link("runbook_url")},
                        {"type": "button", "text": "Dashboard", "url": _link("dashboard_url")}],
        }


def alertmanager_config(spec: Spec) -> dict:
    am = spec.alertmanager
    severities = sorted(spec.severities, key=lambda s: s.priority)
    # Without a default, an alert that names no priority goes to the first severity that notifies
    # without paging, so nothing is silently dropped and nobody is woken for it.
    default = (spec.severity(am.default_priority) if am.default_priority
               else next((s for s in severities if not s.page), severities[0]))
    routes = []
    for sev in severities:
        route = {"receiver": sev.receiver, "matchers": [_matcher("priority", "=", sev.priority)], **_timing(sev)}
        if sev.business_hours_only:
            route["active_time_intervals"] = [BUSINESS_HOURS]
        routes.append(route)
    out: dict = {"global": {"resolve_timeout": am.resolve_timeout}}
    if am.business_hours:
        bh = am.business_hours
        out["time_intervals"] = [{"name": BUSINESS_HOURS, "time_intervals": [{
            "weekdays": list(bh.weekdays),
            "times": [{"start_time": a, "end_time": b} for a, b in bh.times],
            "location": bh.location}]}]
    out["route"] = {"receiver": default.receiver, "group_by": list(am.group_by), **_timing(default),
                    "routes": routes}
    # A critical alert silences lower severities for the same service (and the same SLO, when
    # both have one): the page already says everything the ticket would.
    levels = [s.level for s in severities]
    top = levels[0]
    lower = sorted({lv for lv in levels if lv != top})
    if lower:
        out["inhibit_rules"] = [{
            "source_matchers": [_matcher("severity", "=", top)],
            "target_matchers": [_matcher("severity", "=~", "|".join(lower))],
            "equal": ["service"],
        }]
    out["receivers"] = [_receiver(r, levels) for r in spec.receivers]
    return out
