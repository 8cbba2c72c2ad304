"""prometheus.yml: one scrape job per service (job name = service name), blackbox probes of
every health endpoint, rule files and Alertmanager."""

from __future__ import annotations

from lukhas_obs.conventions import BLACKBOX_JOB
from lukhas_obs.model import Spec

BLACKBOX_MODULE = "http_2xx"
RULE_GLOB = "rules/*.rules.yml"


def prometheus_config(spec: Spec) -> dict:
    p = spec.prometheus
    external = {"project": spec.project, "environment": spec.environment, **dict(p.external_labels)}
    jobs: list[dict[str, object]] = []
    for svc in spec.services:
        if not svc.scrape_address:
            continue
        job: dict[str, object] = {"job_name": svc.name}
        if svc.scrape_path != "/metrics":
            job["metrics_path"] = svc.scrape_path
        job["static_configs"] = [{"targets": [svc.scrape_address]}]
        jobs.append(job)
    probes = [svc for svc in spec.services if svc.health_url]
    if probes:
        jobs.append({
            "job_name": BLACKBOX_JOB,
            "metrics_path": "/probe",
            "params": {"module": [BLACKBOX_MODULE]},
            "static_configs": [{"targets": [svc.health_url], "labels": {"service": svc.name}} for svc in probes],
            "relabel_configs": [
                {"source_labels": ["__address__"], "target_label": "__param_target"},
                {"source_labels": ["__param_target"], "target_label": "instance"},
                {"target_label": "__address__", "replacement": p.blackbox_exporter},
            ],
        })
    return {
        "global": {
            "scrape_interval": p.scrape_interval,
            "scrape_timeout": p.scrape_timeout,
            "evaluation_interval": p.evaluation_interval,
            "external_labels": dict(sorted(external.items())),
        },
        "rule_files": [RULE_GLOB],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": list(p.alertmanagers)}]}]},
        "scrape_configs": jobs,
    }


def blackbox_config(spec: Spec) -> dict:
    return {
        "modules": {
            BLACKBOX_MODULE: {
                "prober": "http",
                "timeout": "5s",
                "http": {
                    "method": "GET",
                    "valid_status_codes": [],  # empty means any 2xx
                    "preferred_ip_protocol": "ip4",
                    "follow_redirects": True,
                    "fail_if_not_ssl": False,
                },
            }
        }
    }
