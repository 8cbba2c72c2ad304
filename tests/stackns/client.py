"""The test's side of the namespace: start the runner as PID 1 of a new mount, network and PID
namespace, talk to it over a socket on the host's loopback, stop it by pid."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from stackns.plan import DEBIAN, NOBODY, SLACK_HOST, Stack

TESTS = Path(__file__).resolve().parent.parent
# Debian's programs the stack runs, beside the compose file's (DEBIAN): the servers behind the
# exporters, and what builds the namespace.
SERVERS = ["redis-server", "nginx", "openssl", "unshare", "ip", "mount"]


def missing_programs() -> list[str]:
    need = [p for p in [*DEBIAN.values(), *SERVERS] if not shutil.which(p)]
    if not list(Path("/usr/lib/postgresql").glob("*/bin/postgres")):
        need.append("postgresql")
    return need


def why_no_namespace() -> str | None:
    """None when this machine can run the stack test, else the reason it cannot."""
    if os.geteuid() != 0:
        return "the stack test builds a private network, mount and PID namespace: that needs root (CI runs as root)"
    need = missing_programs()
    if need:
        return f"not installed: {', '.join(need)} (scripts/ensure-tools.sh installs them as root)"
    r = subprocess.run(["unshare", "--mount", "--net", "--pid", "--fork", "--", "true"], capture_output=True,
                       text=True, timeout=30)
    if r.returncode:
        return f"namespaces are not allowed here: unshare says {r.stderr.strip()}"
    return None


def write_secrets(stack: Stack) -> dict[Path, str]:
    """The secrets as deployment/README.md says to create them (`mkdir -p`, one `printf %s` per
    file, Redis' password as a JSON map of address to password, then `chown -R 65534:65534` and
    `chmod -R u=rwX,go=`). The values are made up; the Slack URLs name their receiver so the
    sink can tell them apart."""
    out: dict[Path, str] = {}
    old = os.umask(0o022)
    try:
        for path, (service, reader) in sorted(stack.secret_files().items()):
            receiver, kind, key = (reader.split(".") + ["", ""])[:3]
            if kind == "slack_configs":
                value = f"https://{SLACK_HOST}/services/T0LUKHAS/B0{receiver}/{secrets.token_hex(12)}"
            elif kind == "pagerduty_configs":
                value = secrets.token_hex(16)
            elif reader == "redis.password-file":
                address = next(f.split("=", 1)[1] for f in stack.services[service]["command"]
                               if str(f).startswith("--redis.addr="))
                value = json.dumps({address: secrets.token_hex(12)})
            else:
                value = secrets.token_hex(12)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(value)
            out[path] = value
        root = stack.deployment / "secrets"
        if root.exists():
            for p in [root, *root.rglob("*")]:
                os.chown(p, NOBODY, NOBODY)
                p.chmod(0o700 if p.is_dir() else 0o600)
    finally:
        os.umask(old)
    return out


class StackNamespace:
    def __init__(self, generated: Path, deployment: Path, spec: Path, work: Path, env: dict[str, str],
                 deadline: float = 600):
        self.work = work
        self.log = work / "runner.log"
        (work / "env.json").write_text(json.dumps(env))
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        self.url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        argv = ["unshare", "--mount", "--net", "--pid", "--fork", "--kill-child", "--",
                sys.executable, "-m", "stackns.runner", "--generated", str(generated), "--deployment", str(deployment),
                "--spec", str(spec), "--work", str(work), "--env", str(work / "env.json"),
                "--control-fd", str(listener.fileno()), "--deadline", str(deadline)]
        path = os.pathsep.join((str(TESTS), str(TESTS.parent)))   # stackns, and the checkout's lukhas_obs_demo
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT,
                                         pass_fds=[listener.fileno()], cwd=TESTS,
                                         env={**os.environ, "PYTHONPATH": path})
        listener.close()

    # -- talking to it -----------------------------------------------------------------------
    def request(self, path: str, method: str = "GET", timeout: float = 30, **params) -> tuple[int, bytes]:
        query = urllib.parse.urlencode(params, doseq=True)
        req = urllib.request.Request(self.url + path + ("?" + query if query else ""), method=method,
                                     data=b"" if method == "POST" else None)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def json(self, path: str, method: str = "GET", **params):
        code, body = self.request(path, method, **params)
        return json.loads(body)

    def fetch(self, url: str) -> tuple[int, bytes]:
        """GET a URL from inside the namespace (names resolve as the stack's do)."""
        return self.request("/fetch", url=url)

    def state(self) -> dict:
        return self.json("/state")

    def sink(self) -> list[dict]:
        return self.json("/sink")

    def stop(self, *names: str) -> dict:
        return self.json("/stop", "POST", name=list(names))

    def logs(self) -> str:
        out = [self.log.read_text(errors="replace")[-3000:]]
        for f in sorted((self.work / "logs").glob("*.log")):
            out.append(f"--- {f.name}\n" + f.read_text(errors="replace")[-1500:])
        return "\n".join(out)

    def wait_ready(self, timeout: float = 120) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the namespace runner exited with {self.proc.returncode}:\n{self.logs()}")
            try:
                state = self.state()
            except OSError:
                time.sleep(0.2)
                continue
            if state["error"]:
                raise RuntimeError(f"the stack did not start:\n{state['error']}\n{self.logs()}")
            if state["ready"]:
                return state
            time.sleep(0.3)
        raise RuntimeError(f"the stack was not ready after {timeout}s:\n{self.logs()}")

    def close(self) -> None:
        """Ask the runner to stop everything; past 30 s kill it by pid (--kill-child then ends
        the runner, and the kernel every process of its PID namespace)."""
        if self.proc.poll() is None:
            try:
                self.request("/shutdown", "POST", timeout=5)
            except OSError:
                pass
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if self.proc.stdin:
            self.proc.stdin.close()


class LivePrometheus:
    """The namespace's Prometheus through the runner, with the interface the dashboard helpers of
    tests/test_dashboards.py use (get, query)."""

    def __init__(self, ns: StackNamespace, base: str):
        self.ns = ns
        self.base = base

    def get(self, path: str, raw: bool = False, **params):
        url = self.base + path + ("?" + urllib.parse.urlencode(params) if params else "")
        code, body = self.ns.fetch(url)
        if raw:
            return body
        return json.loads(body)

    def query(self, expr: str) -> list:
        out = self.get("/api/v1/query", query=expr)
        assert out["status"] == "success", out
        return out["data"]["result"]
