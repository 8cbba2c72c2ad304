"""A one-service spec for SLO tests (receivers and severities filled in), the SLO rule and test
files it generates written to a folder, and promtool run on one of them."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from lukhas_obs.generate import render
from lukhas_obs.model import Spec

from conftest import tool


def spec_text(project: str, metrics: str, slos: str, service: str = "") -> str:
    """`metrics` and `slos` are YAML lines indented for their place (2 and 6 spaces); `service`
    adds keys to the one service `web` (4 spaces)."""
    return (f"apiVersion: lukhas-obs/v1\nproject: {project}\nreceivers: {{nobody: {{}}}}\nseverities:\n"
            "  P1: {level: critical, receiver: nobody, page: true}\n  P3: {level: medium, receiver: nobody}\n"
            f"metrics:\n{metrics}services:\n  - name: web\n    kind: application\n    port: 8080\n{service}"
            f"    slos:\n{slos}")


def write_slo_rules(spec: Spec, folder: Path) -> Path:
    for rel, body in render(spec).items():
        if rel.startswith("prometheus/rules/slo-"):
            (folder / Path(rel).name).write_text(body if isinstance(body, str) else body.decode())
    return folder


def promtool_test(folder: Path, name: str) -> subprocess.CompletedProcess:
    return subprocess.run([tool("promtool"), "test", "rules", name], cwd=folder, capture_output=True, text=True,
                          timeout=300)


def only(claim: str, test_file: Path, dest: Path) -> None:
    """`test_file` with only its scenarios whose name makes `claim`, written to `dest`."""
    doc = yaml.safe_load(test_file.read_text())
    doc["tests"] = [t for t in doc["tests"] if claim in t["name"]]
    assert doc["tests"], claim
    dest.write_text(yaml.safe_dump(doc))
