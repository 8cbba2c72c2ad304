"""What the stack is, read from the generated files alone (shared by the runner inside the
namespace and the test outside): the compose services with their command lines, environments and
mounts, every hostname the configuration names, and what each exporter is pointed at."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import yaml

COMPOSE = "docker-compose.observability.yml"
# Debian's program for each image the compose file runs (the image name without its tag).
DEBIAN = {
    "prom/prometheus": "prometheus",
    "prom/alertmanager": "prometheus-alertmanager",
    "prom/blackbox-exporter": "prometheus-blackbox-exporter",
    "quay.io/prometheuscommunity/postgres-exporter": "prometheus-postgres-exporter",
    "oliver006/redis_exporter": "prometheus-redis-exporter",
    "nginx/nginx-prometheus-exporter": "prometheus-nginx-exporter",
}
# One-shot services whose entrypoint runs under Debian's shell (busybox's sh in the image).
ONE_SHOT = ("busybox",)
# No Debian package: a stand-in answers what Prometheus scrapes and probes on them.
STAND_IN = ("jaegertracing/all-in-one", "grafana/grafana", "grafana/loki")
# What each exporter reads from (the application stack's own servers, not in the compose file).
BACKEND = {
    "prometheus-postgres-exporter": "postgresql",
    "prometheus-redis-exporter": "redis",
    "prometheus-nginx-exporter": "nginx",
}
# Where Alertmanager's PagerDuty notifier posts when a receiver sets no `url` (its default).
PAGERDUTY_EVENTS = "https://events.pagerduty.com/v2/enqueue"
SLACK_HOST = "hooks.slack.com"
NOBODY = 65534  # the user the prom/* and exporter images run as
_VAR = re.compile(r"\$\{(\w+)(?::?[-?][^}]*)?\}|\$(\w+)")


def image_name(image: str) -> str:
    last = image.rsplit("/", 1)[-1]
    return image[: len(image) - len(last)] + last.split(":")[0].split("@")[0]


@dataclass(frozen=True)
class Mount:
    source: Path | None      # a host path, or None for a named volume
    target: str              # the path inside the container
    read_only: bool
    volume: str = ""         # the named volume's name


class Stack:
    def __init__(self, generated: Path, deployment: Path):
        self.generated = generated
        self.deployment = deployment
        self.compose = yaml.safe_load((deployment / COMPOSE).read_text())
        self.services: dict[str, dict] = self.compose["services"]
        self.prometheus = yaml.safe_load((generated / "prometheus" / "prometheus.yml").read_text())
        self.alertmanager = yaml.safe_load((generated / "alertmanager" / "alertmanager.yml").read_text())

    # -- compose ----------------------------------------------------------------------------
    def program(self, name: str) -> str | None:
        """Debian's binary for a compose service, None for one played by a stand-in or not run."""
        return DEBIAN.get(image_name(self.services[name]["image"]))

    def one_shot(self, name: str) -> list[str] | None:
        """The argv of a one-shot service (the secrets check), as compose interpolates it."""
        if image_name(self.services[name]["image"]) not in ONE_SHOT:
            return None
        return [interpolate(str(a), {}) for a in self.services[name]["entrypoint"]]

    def stand_ins(self) -> list[str]:
        return [n for n, s in self.services.items() if image_name(s["image"]) in STAND_IN]

    def start_order(self) -> list[str]:
        """Compose services in depends_on order (as `compose up` starts them)."""
        order: list[str] = []

        def visit(name: str) -> None:
            if name in order:
                return
            for dep in self.services[name].get("depends_on") or {}:
                visit(dep)
            order.append(name)

        for name in self.services:
            visit(name)
        return order

    def command(self, name: str, env: dict[str, str]) -> list[str]:
        return [interpolate(str(a), env) for a in self.services[name].get("command") or []]

    def environment(self, name: str, env: dict[str, str]) -> dict[str, str]:
        raw = self.services[name].get("environment") or {}
        if isinstance(raw, list):
            raw = dict(item.split("=", 1) for item in raw)
        return {k: interpolate(str(v), env) for k, v in raw.items()}

    def variables(self) -> set[str]:
        """The variables compose would read from the environment (`${REDIS_PASSWORD:?...}`)."""
        text = yaml.safe_dump(self.services)
        return {m.group(1) or m.group(2) for m in _VAR.finditer(text)}

    def mounts(self, name: str) -> list[Mount]:
        named = set(self.compose.get("volumes") or {})
        out = []
        for spec in self.services[name].get("volumes") or []:
            parts = spec.split(":")
            source, target = parts[0], parts[1]
            read_only = len(parts) > 2 and "ro" in parts[2].split(",")
            if source in named:
                out.append(Mount(None, target, read_only, source))
            else:
                out.append(Mount((self.deployment / source).resolve(), target, read_only))
        return out

    def host_path(self, name: str, container_path: str) -> Path | None:
        """The host file a container path of a compose service is, through its bind mounts."""
        for m in self.mounts(name):
            if m.source is not None and (container_path == m.target or container_path.startswith(m.target + "/")):
                return m.source / container_path[len(m.target):].lstrip("/") if container_path != m.target \
                    else m.source
        return None

    def secret_files(self) -> dict[Path, tuple[str, str]]:
        """Every secret file the stack reads, as host path -> (service, what reads it): the
        receivers' `*_file` settings and the exporters' `*_FILE` variables."""
        out: dict[Path, tuple[str, str]] = {}
        for receiver in self.alertmanager.get("receivers", []):
            for kind, configs in receiver.items():
                for config in configs if isinstance(configs, list) else []:
                    for key, value in config.items():
                        if key.endswith("_file"):
                            path = self.host_path("alertmanager", value)
                            if path:
                                out[path] = ("alertmanager", f"{receiver['name']}.{kind}.{key}")
        for name in self.services:
            for key, value in (self.services[name].get("environment") or {}).items():
                if key.endswith("_FILE"):
                    path = self.host_path(name, str(value))
                    if path:
                        out[path] = (name, key)
            for flag in self.services[name].get("command") or []:   # --redis.password-file=...
                key, _, value = str(flag).lstrip("-").partition("=")
                if key.endswith("-file") and value:
                    path = self.host_path(name, value)
                    if path:
                        out[path] = (name, key)
        return out

    def healthcheck_url(self, name: str) -> str | None:
        test = (self.services[name].get("healthcheck") or {}).get("test") or []
        urls = [t for t in test if str(t).startswith("http")]
        return urls[0] if urls else None

    # -- the network ---------------------------------------------------------------------------
    def scrape_targets(self) -> list[tuple[str, str, str]]:
        """(job, host:port, path) for every scrape target but the blackbox job's."""
        out = []
        for job in self.prometheus["scrape_configs"]:
            if job.get("metrics_path") == "/probe":
                continue
            for sc in job.get("static_configs", []):
                out += [(job["job_name"], t, job.get("metrics_path", "/metrics")) for t in sc["targets"]]
        return out

    def probes(self) -> list[tuple[str, str]]:
        """(service label, URL) of every blackbox probe."""
        out = []
        for job in self.prometheus["scrape_configs"]:
            if job.get("metrics_path") == "/probe":
                for sc in job.get("static_configs", []):
                    out += [(sc.get("labels", {}).get("service", ""), t) for t in sc["targets"]]
        return out

    def backends(self, env: dict[str, str]) -> dict[str, tuple[str, str, int, str]]:
        """exporter service -> (kind, host, port, path) of the server it is told to read."""
        out = {}
        for name in self.services:
            kind = BACKEND.get(self.program(name) or "")
            if not kind:
                continue
            environment = self.environment(name, env)
            flags = dict(a.lstrip("-").split("=", 1) for a in self.command(name, env) if "=" in a)
            if kind == "postgresql":
                url = urlsplit("postgresql://" + environment["DATA_SOURCE_URI"])
            elif kind == "redis":
                url = urlsplit(environment.get("REDIS_ADDR") or flags["redis.addr"])
            else:
                url = urlsplit(flags.get("nginx.scrape-uri") or environment["SCRAPE_URI"])
            out[name] = (kind, url.hostname or "", url.port or 0, url.path)
        return out

    def hostnames(self, env: dict[str, str]) -> list[str]:
        """Every name the configuration reaches something by, each given its own loopback address
        (two servers share port 8080: lukhas-core and the gateway's stub_status)."""
        names = set(self.services) | {s.get("container_name", n) for n, s in self.services.items()}
        names |= {t.rsplit(":", 1)[0] for _, t, _ in self.scrape_targets()}
        names |= {urlsplit(u).hostname or "" for _, u in self.probes()}
        for am in self.prometheus.get("alerting", {}).get("alertmanagers", []):
            for sc in am.get("static_configs", []):
                names |= {t.rsplit(":", 1)[0] for t in sc["targets"]}
        names |= {host for _, host, _, _ in self.backends(env).values()}
        names |= {urlsplit(PAGERDUTY_EVENTS).hostname or "", SLACK_HOST}
        return sorted(n for n in names if n and n != "localhost")

    def addresses(self, env: dict[str, str]) -> dict[str, str]:
        """hostname -> its loopback address; a container's name and its service's are one host."""
        alias = {s.get("container_name", n): n for n, s in self.services.items()}
        hosts = sorted({alias.get(n, n) for n in self.hostnames(env)})
        out = {h: f"127.0.{1 + i // 250}.{1 + i % 250}" for i, h in enumerate(hosts)}
        out.update({container: out[service] for container, service in alias.items()})
        return out


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's variable substitution: ${VAR}, ${VAR:-default}, ${VAR:?error}, $VAR, $$."""
    def one(m: re.Match) -> str:
        name = m.group(1) or m.group(2)
        if name in env:
            return env[name]
        raw = m.group(0)
        if ":-" in raw or raw.startswith("${" + name + "-"):
            return raw.split("-", 1)[1].rstrip("}")
        raise KeyError(f"compose needs ${name} from the environment ({raw})")

    return _VAR.sub(one, text.replace("$$", "\0")).replace("\0", "$")
