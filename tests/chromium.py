"""Debian's headless chromium, driven over the DevTools protocol on a pipe
(`--remote-debugging-pipe`: JSON messages separated by NUL bytes, read by chromium from fd 3 and
written to fd 4). No port, no extra dependency, and the test sees what a reader's browser does:
every request it makes, every console message, the rendered page and a screenshot of it."""

from __future__ import annotations

import base64
import fcntl
import json
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--mute-audio"]
WIDTH = 1200


def executable() -> str:
    exe = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
    if not exe:
        pytest.skip("chromium is not installed (scripts/ensure-tools.sh installs Debian's chromium as root)")
    return exe


def _high(fd: int) -> int:
    high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return high


class DevToolsError(Exception):
    pass


class Browser:
    """One headless chromium with a fresh profile, stopped by close() (by its process id)."""

    def __init__(self, profile: Path, timeout: float = 20.0):
        self.timeout = timeout
        exe = executable()
        to_child_r, self._out = os.pipe()
        self._in, from_child_w = os.pipe()
        # above fd 10, so that the shell's `3<&r 4>&w` cannot overwrite one end with the other
        to_child_r, from_child_w = _high(to_child_r), _high(from_child_w)
        self.proc = subprocess.Popen(
            ["bash", "-c", f'exec "$0" "$@" 3<&{to_child_r} 4>&{from_child_w}', exe, *FLAGS,
             f"--user-data-dir={profile}", "--remote-debugging-pipe", "about:blank"],
            pass_fds=(to_child_r, from_child_w), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_child_r)
        os.close(from_child_w)
        self._next = 0
        self._replies: dict[int, dict] = {}
        self.events: list[dict] = []
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        buf = b""
        while True:
            try:
                chunk = os.read(self._in, 1 << 16)
            except OSError:
                chunk = b""
            if not chunk:
                with self._cond:
                    self._cond.notify_all()
                return
            buf += chunk
            *messages, buf = buf.split(b"\0")
            with self._cond:
                for raw in messages:
                    msg = json.loads(raw)
                    if "id" in msg:
                        self._replies[msg["id"]] = msg
                    else:
                        self.events.append(msg)
                self._cond.notify_all()

    def send(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        with self._cond:
            self._next += 1
            mid = self._next
        msg: dict = {"id": mid, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._out, json.dumps(msg).encode() + b"\0")
        with self._cond:
            if not self._cond.wait_for(lambda: mid in self._replies or self.proc.poll() is not None, self.timeout):
                raise DevToolsError(f"no answer to {method} within {self.timeout}s")
            reply = self._replies.pop(mid, None)
        if reply is None:
            raise DevToolsError(f"chromium exited (code {self.proc.poll()}) before answering {method}")
        if "error" in reply:
            raise DevToolsError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    def wait_for(self, method: str, session: str, after: int) -> dict:
        def found():
            return next((e for e in self.events[after:] if e.get("method") == method
                         and e.get("sessionId") == session), None)
        with self._cond:
            event = self._cond.wait_for(found, self.timeout)
        if event is None:
            raise DevToolsError(f"no {method} within {self.timeout}s")
        return event

    def open(self, url: str, height: int = 900) -> Page:
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Runtime", "Log", "Network", "Page"):
            self.send(f"{domain}.enable", session=session)
        self.send("Emulation.setDeviceMetricsOverride",
                  {"width": WIDTH, "height": height, "deviceScaleFactor": 1, "mobile": False}, session)
        mark = len(self.events)
        self.send("Page.navigate", {"url": url}, session)
        self.wait_for("Page.loadEventFired", session, mark)
        return Page(self, session, mark)

    def close(self) -> None:
        try:
            if self.proc.poll() is None:
                self.send("Browser.close")
        except (DevToolsError, OSError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        os.close(self._out)
        self._reader.join(timeout=5)
        os.close(self._in)


class Page:
    def __init__(self, browser: Browser, session: str, mark: int):
        self.browser, self.session, self.mark = browser, session, mark

    def _events(self) -> list[dict]:
        with self.browser._cond:
            return [e for e in self.browser.events[self.mark:] if e.get("sessionId") == self.session]

    def evaluate(self, expression: str, await_promise: bool = False):
        out = self.browser.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                     "awaitPromise": await_promise}, self.session)
        if "exceptionDetails" in out:
            raise DevToolsError(f"{expression[:60]}...: {out['exceptionDetails']}")
        return out["result"].get("value")

    def requests(self) -> list[str]:
        """Every URL the page asked for, the page itself included."""
        return [e["params"]["request"]["url"] for e in self._events() if e["method"] == "Network.requestWillBeSent"]

    def errors(self) -> list[str]:
        """Console errors, uncaught exceptions and the browser's own error log entries (a refused
        load, a CSP violation)."""
        time.sleep(0.2)   # log entries of the load arrive just after it
        out = []
        for e in self._events():
            p = e.get("params", {})
            if e["method"] == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                out.append(" ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", [])))
            elif e["method"] == "Runtime.exceptionThrown":
                out.append(str(p.get("exceptionDetails", {}).get("text")))
            elif e["method"] == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
                out.append(p["entry"].get("text", ""))
        return out

    def screenshot(self, path: Path, height: int) -> None:
        shot = self.browser.send("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": WIDTH, "height": height, "scale": 1}}, self.session)
        path.write_bytes(base64.b64decode(shot["data"]))
