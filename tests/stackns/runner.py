"""The stack, inside `unshare --mount --net --pid --fork --kill-child` as root (tests/stackns/README.md).

Builds a private root (an overlay of / on a tmpfs, so nothing outside changes), bind-mounts the
generated files and the secrets at the container paths the compose file mounts them at and an
/etc/hosts giving every compose hostname its own loopback address, chroots into it and starts:
PostgreSQL, Redis and nginx (stub_status) behind the exporters; the five LUKHAS services played by
the synthetic workload; stand-ins for the images Debian does not package; Debian's programs for
every other compose service with the compose file's own command line and environment, in its
depends_on order, as the images' user; and an HTTPS sink playing PagerDuty's events API and
Slack's webhooks (the names resolve here, its certificate is trusted here only).

It answers the test on a socket the test opened on the host's loopback (inherited as a file
descriptor): /state, /fetch?url= (a GET from inside the namespace), /sink, POST /stop,
POST /shutdown. It is PID 1 of its namespace: when it exits, for any reason, the kernel ends every
process it started; it exits at its deadline or when the test's end of its stdin closes."""

from __future__ import annotations

import argparse
import glob
import json
import os
import pwd
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import traceback
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from lukhas_obs.spec import load_spec
from lukhas_obs_demo.workload import Workload

from stackns.plan import NOBODY, PAGERDUTY_EVENTS, SLACK_HOST, Stack

PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def sh(*args: str, **kw) -> subprocess.CompletedProcess:
    r = subprocess.run(list(args), capture_output=True, text=True, timeout=120, **kw)
    if r.returncode:
        raise RuntimeError(f"{' '.join(args)}: exit {r.returncode}: {r.stderr.strip()[-2000:]}")
    return r


def get(url: str, timeout: float = 5) -> tuple[int, bytes, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read(), r.headers.get("Content-Type", "")
    except urllib.error.HTTPError as e:
        return e.code, e.read(), e.headers.get("Content-Type", "")


def wait(check, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception as exc:  # not listening yet
            last = exc
        time.sleep(0.2)
    raise RuntimeError(f"timed out after {timeout:.0f}s waiting for {what} ({last})")


class Server(ThreadingHTTPServer):
    daemon_threads = True


def serve(address: tuple[str, int], handler, context: ssl.SSLContext | None = None) -> Server:
    server = Server(address, handler)
    if context:
        server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class Runner:
    def __init__(self, args):
        self.args = args
        self.work = Path(args.work)
        self.logs = self.work / "logs"
        self.logs.mkdir(exist_ok=True)
        self.stack = Stack(Path(args.generated), Path(args.deployment))
        self.env = json.loads(Path(args.env).read_text())   # what the operator exported for compose
        self.addresses = self.stack.addresses(self.env)
        self.spec = load_spec(args.spec)
        self.procs: dict[str, subprocess.Popen] = {}
        self.servers: dict[str, list[Server]] = {}
        self.stopped: dict[str, float] = {}
        self.sink: list[dict] = []
        self.state = {"ready": False, "error": None, "addresses": self.addresses, "started": []}
        self.lock = threading.Lock()

    # -- the namespace ---------------------------------------------------------------------
    def build_root(self) -> Path:
        sh("ip", "link", "set", "lo", "up")
        ns = self.work / "ns"
        ns.mkdir()
        sh("mount", "-t", "tmpfs", "-o", "mode=755", "lukhas-stack", str(ns))
        upper, scratch, root = ns / "upper", ns / "scratch", ns / "root"
        for d in (upper, scratch, root):
            d.mkdir()
        sh("mount", "-t", "overlay", "overlay", "-o", f"lowerdir=/,upperdir={upper},workdir={scratch}", str(root))
        sh("mount", "-t", "proc", "proc", str(root / "proc"))
        for sub in ("dev", "sys"):
            sh("mount", "--rbind", f"/{sub}", str(root / sub))
        sh("mount", "--bind", str(self.work), str(root / self.work.relative_to("/")))
        hosts = self.work / "hosts"
        hosts.write_text("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n" +
                         "".join(f"{ip}\t{name}\n" for name, ip in sorted(self.addresses.items())))
        self.bind(root, hosts, "/etc/hosts", read_only=True)
        for name in self.stack.start_order():
            if not self.stack.program(name) and not self.stack.one_shot(name):
                continue
            for m in self.stack.mounts(name):
                if m.source is None:  # a named volume: empty, owned by the image's user
                    source = root / "var/lib/lukhas-stack-volumes" / m.volume
                    source.mkdir(parents=True, exist_ok=True)
                    os.chown(source, NOBODY, NOBODY)
                    self.bind(root, source, m.target, m.read_only)
                else:
                    self.bind(root, m.source, m.target, m.read_only)
        self.trust_sink_certificate(root)
        return root

    def bind(self, root: Path, source: Path, target: str, read_only: bool) -> None:
        dest = root / target.lstrip("/")
        if source.is_dir():
            dest.mkdir(parents=True, exist_ok=True)
        else:
            dest.parent.mkdir(parents=True, exist_ok=True)
            if not dest.exists():
                dest.touch()
        sh("mount", "--bind", str(source), str(dest))
        if read_only:
            sh("mount", "-o", "remount,bind,ro", str(dest))

    def trust_sink_certificate(self, root: Path) -> None:
        """A certificate for PagerDuty's and Slack's hostnames, added to the namespace's system
        trust store (Go reads /etc/ssl/certs/ca-certificates.crt): Alertmanager runs unchanged."""
        names = [urlsplit(PAGERDUTY_EVENTS).hostname, SLACK_HOST]
        self.cert, self.key = root / "etc/lukhas-stack-sink.crt", root / "etc/lukhas-stack-sink.key"
        sh("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=lukhas-stack-sink",
           "-addext", "subjectAltName=" + ",".join(f"DNS:{n}" for n in names),
           "-keyout", str(self.key), "-out", str(self.cert))
        bundle = root / "etc/ssl/certs/ca-certificates.crt"
        bundle.parent.mkdir(parents=True, exist_ok=True)
        with open(bundle, "a") as fh:
            fh.write("\n" + self.cert.read_text())
        self.cert, self.key = Path("/") / self.cert.relative_to(root), Path("/") / self.key.relative_to(root)

    # -- processes ---------------------------------------------------------------------------
    def start(self, name: str, argv: list[str], user: int | str | None = None, env: dict | None = None,
              cwd: str | None = None) -> subprocess.Popen:
        log = open(self.logs / f"{name}.log", "ab")
        uid = gid = None
        if user is not None:
            entry = pwd.getpwnam(user) if isinstance(user, str) else None
            uid, gid = (entry.pw_uid, entry.pw_gid) if entry else (user, user)
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env={"PATH": PATH, **(env or {})}, cwd=cwd or "/", user=uid, group=gid,
                                extra_groups=[] if uid is not None else None)
        log.close()
        self.procs[name] = proc
        self.state["started"].append(name)
        return proc

    def alive(self, name: str) -> bool:
        proc = self.procs[name]
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode}: "
                               + (self.logs / f"{name}.log").read_text(errors="replace")[-1500:])
        return True

    def start_postgresql(self, host: str, port: int, database: str, user: str, password: str) -> None:
        bindir = sorted(glob.glob("/usr/lib/postgresql/*/bin"))[-1]
        data, sock = Path("/var/lib/lukhas-stack-postgres"), Path("/run/lukhas-stack-postgres")
        for d in (data, sock):
            d.mkdir(parents=True)
            os.chown(d, pwd.getpwnam("postgres").pw_uid, pwd.getpwnam("postgres").pw_gid)
        pg = pwd.getpwnam("postgres")
        sh(f"{bindir}/initdb", "-D", str(data), "-U", "postgres", "--auth-local=trust", "--auth-host=scram-sha-256",
           "-E", "UTF8", "--no-sync", user=pg.pw_uid, group=pg.pw_gid, cwd="/")
        self.start("postgresql", [f"{bindir}/postgres", "-D", str(data), "-c", f"port={port}",
                                  "-c", f"listen_addresses={self.addresses[host]}",
                                  "-c", f"unix_socket_directories={sock}", "-c", "fsync=off"], user="postgres")
        psql = [f"{bindir}/psql", "-h", str(sock), "-p", str(port), "-U", "postgres", "-v", "ON_ERROR_STOP=1"]
        wait(lambda: self.alive("postgresql") and subprocess.run(psql + ["-c", "select 1"], capture_output=True,
                                                                  user=pg.pw_uid).returncode == 0, 30, "PostgreSQL")
        sh(*psql, "-c", f"CREATE ROLE {user} LOGIN PASSWORD '{password}' IN ROLE pg_monitor",
           "-c", f"CREATE DATABASE {database} OWNER {user}", user=pg.pw_uid)

    def start_redis(self, host: str, port: int, password: str) -> None:
        Path("/var/lib/lukhas-stack-redis").mkdir()
        os.chown("/var/lib/lukhas-stack-redis", pwd.getpwnam("redis").pw_uid, pwd.getpwnam("redis").pw_gid)
        self.start("redis", ["redis-server", "--bind", self.addresses[host], "--port", str(port), "--requirepass",
                             password, "--save", "", "--appendonly", "no", "--dir", "/var/lib/lukhas-stack-redis"],
                   user="redis")
        wait(lambda: self.alive("redis") and socket.create_connection((self.addresses[host], port), 1), 20, "Redis")
        threading.Thread(target=self.redis_clients, args=(self.addresses[host], port, password), daemon=True).start()

    def redis_clients(self, address: str, port: int, password: str) -> None:
        """The application's lookups, a few a second (a hit and a miss): a production Redis is not
        idle, and its hit-rate panel is empty, not NaN, only while nothing asks. Stops with Redis."""
        auth = f"*2\r\n$4\r\nAUTH\r\n${len(password)}\r\n{password}\r\n".encode()
        ask = b"*3\r\n$3\r\nSET\r\n$3\r\nhit\r\n$1\r\n1\r\n*2\r\n$3\r\nGET\r\n$3\r\nhit\r\n" \
              b"*2\r\n$3\r\nGET\r\n$4\r\nmiss\r\n"
        try:
            with socket.create_connection((address, port), 2) as conn:
                conn.sendall(auth)
                for _ in range(2000):   # bounded: 2,000 rounds of 0.5 s, beyond the namespace's deadline
                    conn.sendall(ask)
                    conn.recv(4096)
                    time.sleep(0.5)
        except OSError:
            pass   # Redis stopped (the outage) or the namespace is ending

    def start_nginx(self, host: str, port: int, path: str) -> None:
        conf = Path("/etc/lukhas-stack-nginx.conf")
        conf.write_text(f"""daemon off;
pid /run/lukhas-stack-nginx.pid;
error_log stderr notice;
worker_processes 1;
events {{ worker_connections 64; }}
http {{
  access_log off;
  server {{
    listen {self.addresses[host]}:{port};
    location = {path} {{ stub_status; }}
  }}
}}
""")
        self.start("nginx", ["nginx", "-c", str(conf), "-e", "stderr"])
        url = f"http://{self.addresses[host]}:{port}{path}"
        wait(lambda: self.alive("nginx") and get(url)[0] == 200, 20, "nginx stub_status")

    def start_backends(self) -> None:
        secrets = {path: path.read_text() for path in self.stack.secret_files()}
        for exporter, (kind, host, port, path) in self.stack.backends(self.env).items():
            env = self.stack.environment(exporter, self.env)

            def secret(var: str, env=env, exporter=exporter) -> str:
                if var in env:
                    return env[var]
                file = self.stack.host_path(exporter, env[var + "_FILE"])
                assert file is not None, f"{exporter}: {var}_FILE is not mounted"
                return secrets[file]

            if kind == "postgresql":
                self.start_postgresql(host, port, path.strip("/"), secret("DATA_SOURCE_USER"),
                                      secret("DATA_SOURCE_PASS"))
            elif kind == "redis":
                flags = dict(str(a).lstrip("-").split("=", 1) for a in self.stack.command(exporter, self.env)
                             if "=" in str(a))
                if "redis.password-file" in flags:   # a JSON map of address to password
                    file = self.stack.host_path(exporter, flags["redis.password-file"])
                    assert file is not None, f"{exporter}: its password file is not mounted"
                    password = json.loads(secrets[file])[flags["redis.addr"]]
                else:
                    password = secret("REDIS_PASSWORD")
                self.start_redis(host, port, password)
            else:
                self.start_nginx(host, port, path)

    def start_applications(self) -> None:
        """The LUKHAS services, one server each at the address Prometheus scrapes, answering
        /metrics and the health path its probe GETs, played by the synthetic workload."""
        workload = Workload(self.spec, rps=self.args.rps)
        handler = workload.serve(0)
        base = self.handler = handler.RequestHandlerClass  # its reply() serves the stand-ins and the sink too
        handler.server_close()
        health = {svc: urlsplit(url).path for svc, url in self.stack.probes()}
        apps = {s.name for s in self.spec.services if s.kind == "application"}
        for job, target, metrics_path in self.stack.scrape_targets():
            if job not in apps:
                continue
            host, port = target.rsplit(":", 1)
            routes = {metrics_path: f"/metrics/{job}", health.get(job, "/health"): f"/health/{job}"}

            class One(base):
                def do_GET(self, routes=routes):  # noqa: N802
                    if self.path not in routes:
                        return self.reply(404, b"not found\n")
                    self.path = routes[self.path]
                    return super().do_GET()

            self.servers[job] = [serve((self.addresses[host], int(port)), One)]

    def start_stand_ins(self) -> None:
        """Grafana, Loki and Jaeger have no Debian package: a stand-in answers 200 on exactly the
        paths Prometheus scrapes (with this process's own process_* metrics) and probes."""
        for name in self.stack.stand_ins():
            aliases = {name, self.stack.services[name].get("container_name", name)}
            paths: dict[int, dict[str, bool]] = {}
            for _, target, path in self.stack.scrape_targets():
                host, port = target.rsplit(":", 1)
                if host in aliases:
                    paths.setdefault(int(port), {})[path] = True
            for _, url in self.stack.probes():
                u = urlsplit(url)
                if u.hostname in aliases:
                    paths.setdefault(u.port or 80, {}).setdefault(u.path or "/", False)
            for port, routes in paths.items():
                class StandIn(self.handler):
                    def do_GET(self, routes=routes):  # noqa: N802
                        path = self.path.split("?")[0]
                        if path not in routes:
                            return self.reply(404, b"not found\n")
                        if routes[path]:
                            return self.reply(200, generate_latest(REGISTRY), CONTENT_TYPE_LATEST)
                        return self.reply(200, b"ok\n")

                self.servers.setdefault(name, []).append(serve((self.addresses[name], port), StandIn))

    def start_sink(self) -> None:
        """PagerDuty's events API and Slack's incoming webhooks, over HTTPS, recording each post."""
        runner = self

        class Sink(self.handler):
            def do_POST(self):  # noqa: N802
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = raw.decode(errors="replace")
                host = self.headers.get("Host", "")
                with runner.lock:
                    runner.sink.append({"host": host, "path": self.path, "body": body, "at": time.time()})
                if host.startswith(urlsplit(PAGERDUTY_EVENTS).hostname or ""):
                    return self.reply(202, b'{"status":"success","message":"Event processed"}', "application/json")
                return self.reply(200, b"ok")

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(self.cert), str(self.key))
        port = urlsplit(PAGERDUTY_EVENTS).port or 443
        for host in sorted({urlsplit(PAGERDUTY_EVENTS).hostname or "", SLACK_HOST}):
            self.servers.setdefault("sink", []).append(serve((self.addresses[host], port), Sink, context))

    def start_programs(self) -> None:
        """Every compose service Debian packages, in depends_on order, each once its
        dependencies pass their healthcheck (`condition: service_healthy`)."""
        for name in self.stack.start_order():
            one_shot = self.stack.one_shot(name)
            if one_shot:   # `condition: service_completed_successfully`: it must exit 0 first
                proc = self.start(name, one_shot, user=NOBODY)
                if proc.wait(timeout=30) != 0:
                    raise RuntimeError(f"{name} exited with {proc.returncode}: "
                                       + (self.logs / f"{name}.log").read_text(errors="replace")[-1500:])
                continue
            program = self.stack.program(name)
            if not program:
                continue
            self.start(name, [program, *self.stack.command(name, self.env)], user=NOBODY,
                       env=self.stack.environment(name, self.env))
            url = self.stack.healthcheck_url(name)
            if url:
                wait(lambda url=url, name=name: self.alive(name) and get(url)[0] == 200, 60, f"{name} healthy")
            else:  # the image's check only runs the binary with --version: it must still be running
                time.sleep(0.5)
                self.alive(name)

    # -- stopping ----------------------------------------------------------------------------
    def stop_one(self, name: str) -> None:
        """Stop a component the way `docker stop` does (SIGTERM; PostgreSQL's fast shutdown): a
        LUKHAS service, a service the spec reads through an exporter (the server behind the
        exporter), or a compose service."""
        svc = next((s for s in self.spec.services if s.name == name), None)
        backends = self.stack.backends(self.env)
        if svc is not None and svc.exporter is not None and svc.exporter.host in backends:
            name = backends[svc.exporter.host][0]
        if name in self.servers:
            for server in self.servers.pop(name):
                server.shutdown()
                server.server_close()
        elif name in self.procs:
            proc = self.procs[name]
            proc.send_signal(signal.SIGINT if name == "postgresql" else signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        else:
            raise KeyError(f"no component named {name}")
        self.stopped[svc.name if svc else name] = time.time()

    def stop_all(self) -> None:
        for servers in self.servers.values():
            for server in servers:
                server.shutdown()
                server.server_close()
        for proc in reversed(list(self.procs.values())):
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()

    # -- the test's side -------------------------------------------------------------------
    def control(self, fd: int) -> Server:
        runner = self

        class Control(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                u = urlsplit(self.path)
                q = parse_qs(u.query)
                if u.path == "/state":
                    return self.json(200, {**runner.state, "stopped": runner.stopped, "now": time.time()})
                if u.path == "/sink":
                    with runner.lock:
                        return self.json(200, list(runner.sink))
                if u.path == "/fetch":
                    try:
                        code, body, ctype = get(q["url"][0], timeout=20)
                    except OSError as exc:
                        return self.json(502, {"error": str(exc)})
                    return self.reply(code, body, ctype)
                return self.json(404, {"error": self.path})

            def do_POST(self):  # noqa: N802
                u = urlsplit(self.path)
                names = parse_qs(u.query).get("name", [])
                if u.path == "/stop":
                    errors: dict[str, str] = {}

                    def one(n):
                        try:
                            runner.stop_one(n)
                        except Exception as exc:
                            errors[n] = repr(exc)
                    threads = [threading.Thread(target=one, args=(n,)) for n in names]
                    for t in threads:
                        t.start()
                    for t in threads:
                        t.join()
                    return self.json(500 if errors else 200, {"stopped": names, "errors": errors})
                if u.path == "/shutdown":
                    self.json(200, {"shutting_down": True})
                    threading.Thread(target=lambda: os.kill(os.getpid(), signal.SIGTERM), daemon=True).start()
                    return None
                return self.json(404, {"error": self.path})

            def json(self, code, obj):
                return self.reply(code, json.dumps(obj).encode(), "application/json")

            def reply(self, code, body, ctype):
                self.send_response(code)
                self.send_header("Content-Type", ctype or "application/octet-stream")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        server = Server(("127.0.0.1", 0), Control, bind_and_activate=False)
        server.socket.close()
        server.socket = socket.socket(fileno=fd)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server

    def run(self) -> None:
        self.control(self.args.control_fd)   # answers /state while everything starts
        try:
            root = self.build_root()
            os.chroot(root)
            os.chdir("/")
            self.start_backends()
            self.start_applications()
            self.start_sink()
            self.start_stand_ins()
            self.start_programs()
            self.state["ready"] = True
        except Exception:
            self.state["error"] = traceback.format_exc()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--generated", required=True)
    ap.add_argument("--deployment", required=True)
    ap.add_argument("--spec", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--env", required=True, help="JSON file: the variables compose reads from the environment")
    ap.add_argument("--control-fd", type=int, required=True)
    ap.add_argument("--deadline", type=float, default=600, help="seconds; everything stops then")
    ap.add_argument("--rps", type=float, default=100)
    args = ap.parse_args()
    done = threading.Event()
    # PID 1 of its namespace gets no default signal handling: say what SIGTERM does
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
    runner = Runner(args)
    threading.Thread(target=runner.run, daemon=True).start()
    done.wait(args.deadline)
    runner.stop_all()
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
