"""deployment/docker-compose.observability.yml: the observability stack around the LUKHAS
services, pinned, healthchecked, started in the runbook's order (3.1), secure by default.

Configuration is mounted read-only from the output folder, by its path relative to the compose
file's folder (where compose resolves relative sources), computed from the actual `--out` and
`--deployment-out` (`../generated` for the defaults); data lives in named volumes; the admin UIs
publish on stack.bind_address (127.0.0.1 unless the spec opens them); no secret value is written
anywhere: Grafana's admin password must come from the environment, receiver and exporter secrets
are files under stack.secrets_dir."""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache
from importlib import resources
from urllib.parse import urlsplit

import yaml

from lukhas_obs.conventions import (
    ALERTMANAGER_PORT,
    ALERTMANAGER_SECRETS,
    PROMETHEUS_PORT,
    alertmanager_secret_name,
    prometheus_retention,
    published_url,
)
from lukhas_obs.errors import GenerateError
from lukhas_obs.model import ALERTMANAGER_DATA_RETENTION, Spec

GEN = "../generated"   # the output folder seen from the compose file's folder, by default
FILE = "docker-compose.observability.yml"


@lru_cache(maxsize=1)
def default_images() -> dict[str, str]:
    return yaml.safe_load(resources.files("lukhas_obs.data").joinpath("images.yaml").read_text())


def _health(test: list[str], interval: str = "10s") -> dict:
    return {"test": test, "interval": interval, "timeout": "5s", "retries": 5, "start_period": "20s"}


def _wget(url: str) -> dict:
    return _health(["CMD", "wget", "-q", "--spider", url])


def _tcp(port: int) -> dict:
    # images without wget or curl (Debian slim): bash's /dev/tcp proves the port accepts
    return _health(["CMD", "bash", "-c", f": > /dev/tcp/127.0.0.1/{port}"])


def _binary(path: str) -> dict:
    # scratch images have no shell: the best available check is that the binary runs
    return _health(["CMD", path, "--version"], interval="30s")


def _external(url: str | None, bind: str, port: int) -> list[str]:
    """--web.external-url, so links in notifications and the UI point where users reach the
    program, not at its container's hostname: the spec's URL, or else the address the stack
    publishes the port on (the loader refuses neither on every address). A URL with a path (behind
    a reverse proxy that strips it) keeps the routes at / so the healthchecks, scrapes and peers in
    the stack still reach them."""
    url = url or published_url(bind, port)
    if not url:
        return []
    path = urlsplit(url).path
    return [f"--web.external-url={url}"] + (["--web.route-prefix=/"] if path.strip("/") else [])


# Secret files, seen from the one-shot container that checks them, and the user that must read
# them: the Alertmanager and postgres_exporter images run as nobody; redis_exporter is run as it.
SECRETS_SEEN_AS = "/secrets"
SECRETS_UID = 65534
SECRETS_CHECK = (
    'rc=0; for f in "$$@"; do '
    'if [ ! -e "$$f" ]; then '
    'echo "secrets-check: $$f is missing (or its folder is not readable by uid $$(id -u))"; rc=1; '
    'elif [ ! -r "$$f" ]; then '
    'echo "secrets-check: $$f is not readable by uid $$(id -u) (chown it to that uid)"; rc=1; '
    'elif [ ! -s "$$f" ]; then echo "secrets-check: $$f is empty"; rc=1; fi; done; exit $$rc')


def receiver_secret_files(spec: Spec) -> list[str]:
    """Every file a receiver reads its secret from, as Alertmanager sees it."""
    return sorted(path for r in spec.receivers for _, path in r.secret_files())


def _exporter(service, secrets: str) -> tuple[dict, list[str]]:
    """The compose service of an exporter the spec names by type, and the secret files it reads
    (as the secrets check sees them). Its target comes from the spec, its password from a file."""
    e = service.exporter
    assert e is not None and e.target is not None and e.type is not None
    # compose interpolates `$` in every value: a literal one from the spec is written `$$`
    e = replace(e, target=e.target.replace("$", "$$"))
    url = urlsplit(e.target)
    if e.type == "postgres":
        secret = f"{service.name}_password"
        location = url.netloc.rpartition("@")[2] + url.path + (f"?{url.query}" if url.query else "")
        return {"environment": {"DATA_SOURCE_URI": location, "DATA_SOURCE_USER": url.username,
                                "DATA_SOURCE_PASS_FILE": f"/run/secrets/{secret}"},
                "volumes": [f"{secrets}/{secret}:/run/secrets/{secret}:ro"], "expose": [str(e.port)],
                "healthcheck": _wget(f"http://localhost:{e.port}/metrics")}, [f"{SECRETS_SEEN_AS}/{secret}"]
    if e.type == "redis":
        # redis_exporter reads passwords from a JSON map of address to password
        secret = f"{service.name}_passwords.json"
        return {"command": [f"--redis.addr={e.target}", f"--redis.password-file=/run/secrets/{secret}",
                            f"--web.listen-address=:{e.port}"],
                "user": f"{SECRETS_UID}:{SECRETS_UID}",
                "volumes": [f"{secrets}/{secret}:/run/secrets/{secret}:ro"], "expose": [str(e.port)],
                "healthcheck": _binary("/redis_exporter")}, [f"{SECRETS_SEEN_AS}/{secret}"]
    return {"command": [f"--nginx.scrape-uri={e.target}", f"--web.listen-address=:{e.port}"],
            "expose": [str(e.port)], "healthcheck": _binary("/usr/bin/nginx-prometheus-exporter")}, []


def _after(*names: str) -> dict:
    return {n: {"condition": "service_healthy"} for n in names}


def compose(spec: Spec, generated: str = GEN) -> dict:
    """The compose document; `generated` is the output folder relative to the compose file's
    folder (or absolute)."""
    if ":" in generated or not generated.startswith((".", "/")):
        raise GenerateError(f"the output folder's path from the compose file, {generated!r}, cannot be a "
                            "compose bind-mount source (it must start with . or / and hold no ':')")
    gen = generated.rstrip("/") if generated != "/" else ""
    images = {**default_images(), **dict(spec.stack.images)}
    bind = spec.stack.bind_address
    secrets = spec.stack.secrets_dir
    network = spec.network or f"{spec.project}-network"
    services: dict[str, dict] = {}

    def svc(name: str, body: dict) -> None:
        body = {"image": images[name], "container_name": f"{spec.project}-{name}", **body}
        body.setdefault("restart", "unless-stopped")
        if "network_mode" not in body:
            body["networks"] = [network]
        body.setdefault("read_only", False)
        if not body["read_only"]:
            body.pop("read_only")
        services[name] = body

    # runbook 3.1: postgres, redis, jaeger, the LUKHAS services and the gateway come first (the
    # application's own compose file); then prometheus, grafana, loki + promtail.
    svc("jaeger", {"environment": {"COLLECTOR_OTLP_ENABLED": "true"},
                   "ports": [f"{bind}:16686:16686"], "expose": ["4317", "4318", "14269"],
                   "healthcheck": _wget("http://localhost:14269/")})
    svc("blackbox-exporter", {"command": ["--config.file=/etc/blackbox_exporter/config.yml"],
                              "volumes": [f"{gen}/blackbox/blackbox.yml:/etc/blackbox_exporter/config.yml:ro"],
                              "expose": ["9115"], "healthcheck": _wget("http://localhost:9115/-/healthy")})
    checked: list[str] = []   # secret files the stack refuses to start without
    exporters = []
    for service in spec.services:
        if service.exporter and service.exporter.type:
            body, needs = _exporter(service, secrets)
            svc(service.exporter.host, {**body, "image": images[f"{service.exporter.type}-exporter"]})
            exporters.append(service.exporter.host)
            checked += needs
    svc("alertmanager", {"command": ["--config.file=/etc/alertmanager/alertmanager.yml", "--storage.path=/alertmanager",
                                     f"--data.retention={ALERTMANAGER_DATA_RETENTION}", "--cluster.listen-address=",
                                     *_external(spec.alertmanager.external_url, bind, ALERTMANAGER_PORT)],
                         "volumes": [f"{gen}/alertmanager/alertmanager.yml:/etc/alertmanager/alertmanager.yml:ro",
                                     f"{secrets}/alertmanager:/etc/alertmanager/secrets:ro",
                                     "alertmanager-data:/alertmanager"],
                         "ports": [f"{bind}:9093:9093"], "healthcheck": _wget("http://localhost:9093/-/healthy")})
    for path in receiver_secret_files(spec):
        # a receiver's file outside the mounted folder is mounted by itself, from the same folder
        name = alertmanager_secret_name(path)
        if not path.startswith(ALERTMANAGER_SECRETS + "/"):
            services["alertmanager"]["volumes"].insert(-1, f"{secrets}/alertmanager/{name}:{path}:ro")
        checked.append(f"{SECRETS_SEEN_AS}/alertmanager/{name}")
    svc("prometheus", {"command": ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus",
                                   f"--storage.tsdb.retention.time={prometheus_retention(spec)}",
                                   *_external(spec.prometheus.external_url, bind, PROMETHEUS_PORT)],
                       "volumes": [f"{gen}/prometheus:/etc/prometheus:ro", "prometheus-data:/prometheus"],
                       "ports": [f"{bind}:9090:9090"], "healthcheck": _wget("http://localhost:9090/-/healthy"),
                       "depends_on": _after("alertmanager", "blackbox-exporter", *exporters, "jaeger")})
    grafana_env = {
        "GF_SECURITY_ADMIN_USER": "admin",
        "GF_SECURITY_ADMIN_PASSWORD": "${GRAFANA_PASSWORD:?set GRAFANA_PASSWORD (runbook 1.2); there is no default}",
        "GF_AUTH_ANONYMOUS_ENABLED": "false", "GF_USERS_ALLOW_SIGN_UP": "false",
        "GF_ANALYTICS_REPORTING_ENABLED": "false", "GF_ANALYTICS_CHECK_FOR_UPDATES": "false",
    }
    if spec.grafana_url:
        grafana_env["GF_SERVER_ROOT_URL"] = spec.grafana_url
    svc("grafana", {"environment": grafana_env,
                    "volumes": [f"{gen}/grafana/provisioning:/etc/grafana/provisioning:ro",
                                f"{gen}/grafana/dashboards:/var/lib/grafana/dashboards:ro",
                                "grafana-data:/var/lib/grafana"],
                    "ports": [f"{bind}:3000:3000"], "healthcheck": _wget("http://localhost:3000/api/health"),
                    "depends_on": _after("prometheus")})
    svc("loki", {"command": ["-config.file=/etc/loki/loki.yml"],
                 "volumes": [f"{gen}/loki/loki.yml:/etc/loki/loki.yml:ro", f"{gen}/loki/rules:/etc/loki/rules:ro",
                             "loki-data:/loki"],
                 "expose": ["3100"], "healthcheck": _wget("http://localhost:3100/ready"),
                 "depends_on": _after("grafana")})
    svc("promtail", {"command": ["-config.file=/etc/promtail/config.yml"],
                     "volumes": [f"{gen}/promtail/promtail.yml:/etc/promtail/config.yml:ro",
                                 "/var/run/docker.sock:/var/run/docker.sock:ro",
                                 "promtail-positions:/var/lib/promtail"],
                     "expose": ["9080"], "healthcheck": _tcp(9080), "depends_on": _after("loki")})
    if checked:
        # One-shot: every secret file exists, is not empty and is readable by the user the images
        # run as. Alertmanager would start healthy without one and lose every page at send time.
        svc("secrets-check", {
            "user": f"{SECRETS_UID}:{SECRETS_UID}", "read_only": True, "network_mode": "none", "restart": "no",
            "volumes": [f"{secrets}:{SECRETS_SEEN_AS}:ro"],
            "entrypoint": ["sh", "-c", SECRETS_CHECK, "secrets-check", *sorted(set(checked))]})
        for name in ("alertmanager", *exporters):
            if any(v.startswith(f"{secrets}/") for v in services[name].get("volumes", [])):
                services[name]["depends_on"] = {"secrets-check": {"condition": "service_completed_successfully"}}
    # No top-level `name:` (Debian's docker-compose 1.29 refuses it): the README starts the stack
    # with `-p <project>-observability`.
    return {
        "services": services,
        "networks": {network: {"external": True, "name": network}},
        "volumes": {v: {} for v in ("alertmanager-data", "grafana-data", "loki-data", "prometheus-data",
                                    "promtail-positions")},
    }
