"""Prometheus Operator objects: a PrometheusRule per rule file, a ServiceMonitor per scraped
service, a Probe per health endpoint, and each dashboard as a ConfigMap carrying the label the
Grafana Helm chart's sidecar watches. Labels from the spec let a Prometheus's ruleSelector and
serviceMonitorSelector pick them up."""

from __future__ import annotations

from lukhas_obs.conventions import BLACKBOX_JOB
from lukhas_obs.generate.scrape import BLACKBOX_MODULE
from lukhas_obs.model import KubernetesSettings, Spec

API = "monitoring.coreos.com/v1"


def _settings(spec: Spec) -> KubernetesSettings:
    return spec.kubernetes or KubernetesSettings()


def _meta(spec: Spec, name: str, extra: dict | None = None) -> dict:
    k = _settings(spec)
    labels = {"app.kubernetes.io/part-of": spec.project, "app.kubernetes.io/managed-by": "lukhas-obs",
              **dict(k.labels), **(extra or {})}
    return {"name": name, "namespace": k.namespace, "labels": labels}


def prometheus_rule(spec: Spec, name: str, rules: dict) -> dict:
    return {"apiVersion": API, "kind": "PrometheusRule", "metadata": _meta(spec, name), "spec": rules}


def service_monitor(spec: Spec, svc) -> dict:
    endpoint = {"port": _settings(spec).metrics_port_name, "path": svc.scrape_path,
                "interval": spec.prometheus.scrape_interval, "scrapeTimeout": spec.prometheus.scrape_timeout}
    return {"apiVersion": API, "kind": "ServiceMonitor", "metadata": _meta(spec, svc.name),
            "spec": {"selector": {"matchLabels": {"app.kubernetes.io/name": svc.name}},
                     "endpoints": [endpoint]}}


def probe(spec: Spec, svc) -> dict:
    return {"apiVersion": API, "kind": "Probe", "metadata": _meta(spec, f"{svc.name}-health"),
            "spec": {"jobName": BLACKBOX_JOB, "module": BLACKBOX_MODULE, "interval": spec.prometheus.scrape_interval,
                     "prober": {"url": spec.prometheus.blackbox_exporter},
                     "targets": {"staticConfig": {"static": [svc.health_url], "labels": {"service": svc.name}}}}}


def dashboard_configmap(spec: Spec, uid: str, json_text: str) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": _meta(spec, f"dashboard-{uid}", {_settings(spec).dashboard_label: "1"}),
            "data": {f"{uid}.json": json_text}}


def objects(spec: Spec, rule_files: dict[str, dict], dashboards: dict[str, str]) -> dict[str, dict]:
    """File name -> object, one object per file (kubectl apply -f generated/kubernetes/)."""
    out: dict[str, dict] = {}
    for name, rules in rule_files.items():
        out[f"prometheusrule-{name}.yaml"] = prometheus_rule(spec, name, rules)
    for svc in spec.services:
        if svc.scrape_address and svc.name != "prometheus":
            out[f"servicemonitor-{svc.name}.yaml"] = service_monitor(spec, svc)
        # a loopback host (Prometheus probing itself) means nothing in a cluster
        if svc.health_url and svc.network_host == svc.host:
            out[f"probe-{svc.name}.yaml"] = probe(spec, svc)
    for uid, text in dashboards.items():
        out[f"configmap-dashboard-{uid}.yaml"] = dashboard_configmap(spec, uid, text)
    return out
