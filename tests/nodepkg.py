"""Run a check written against an npm package (a grammar, a validator built from a CRD) under node:
the folder's pinned packages are installed from its lockfile the first time, then the script reads
JSON on stdin and answers JSON on stdout."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest


def node_checker(folder: Path, script: str, marker: str, what: str):
    """A function that sends its argument to `node script` in `folder` and returns the parsed
    answer; skips when node/npm are absent. `marker` is a path under node_modules that shows the
    packages are installed."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        pytest.skip(f"node/npm are not installed: {what} runs under node")
    if not (folder / "node_modules" / marker).exists():
        r = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--silent"], cwd=folder, capture_output=True,
                           text=True, timeout=300)
        assert r.returncode == 0, r.stderr

    def run(payload):
        r = subprocess.run([node, script], cwd=folder, input=json.dumps(payload), capture_output=True, text=True,
                           timeout=60)
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)
    return run
