"""Shared fixtures: run the CLI as a user would, find the real tools, start real servers."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lukhas_obs.demo import free_port  # noqa: F401 - one free-port helper for product and tests

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "specs" / "lukhas.yaml"
SHARED = ROOT.parent / "shared"

# Third-party schemas that no package on the registries the project installs from (PyPI, npm,
# Debian) carries, by the top folder or file under ../shared/schemas/: the tests read them from the
# workspace (sources in its SOURCES.md; never copied into the repository) and skip, saying which and
# why, in a clone that has no ../shared/. Where a registry package carries a validator for the same
# objects, that check runs in every clone and is named here.
UNPACKAGED_SCHEMAS = {
    "grafana-dashboard": "no registry package carries Grafana's dashboard JSON schema (grafana-foundation-sdk's "
                         "jsonschema/): @grafana/schema and @grafana/grafana-foundation-sdk on npm and "
                         "grafana-foundation-sdk on PyPI ship TypeScript or Python types and builders, no schema "
                         "and no validator",
    "openslo-v1": "no registry package carries the OpenSLO v1 JSON schemas (removed upstream in 2024; OpenSLO's own "
                  "validators, oslo and the go-sdk, are Go modules); the go-sdk's rules are checked in every clone "
                  "(test_export_passes_the_go_sdk_rules)",
    "prometheus-operator": "no registry package carries the operator's CRD files; the same objects are checked in "
                           "every clone with node by test_every_object_validates_with_the_operators_models_package "
                           "(npm @kubernetes-models/prometheus-operator 6.0.0, validators compiled from the CRDs)",
    "argo-rollouts": "no registry package carries Argo Rollouts' CRD files: npm @kubernetes-models/argo-rollouts "
                     "2.0.0 validates the AnalysisTemplates in every clone with node "
                     "(test_analysis_templates_validate_with_argo_rollouts_models) but accepts unknown fields, "
                     "which this strict check refuses",
    "flagger": "no registry package carries Flagger's CRD or a model of its Canary (none on npm, PyPI or Debian)",
}


def shared_schemas(*relpaths: str) -> list[Path]:
    """The paths of third-party schemas under ../shared/schemas/ (each under a key of
    UNPACKAGED_SCHEMAS); skips, naming the absent ones with the reason no registry package can stand
    in for them, where this clone has no ../shared/."""
    paths = [SHARED / "schemas" / relpath for relpath in relpaths]
    absent: dict[str, list[str]] = {}
    for relpath, path in zip(relpaths, paths, strict=True):
        if not path.exists():
            keys = [k for k in UNPACKAGED_SCHEMAS if relpath.split("/")[0].startswith(k)]
            assert len(keys) == 1, f"{relpath}: say in UNPACKAGED_SCHEMAS why no registry package carries it"
            key = keys[0]
            absent.setdefault(key, []).append(f"../shared/schemas/{relpath}")
    if absent:
        # a skip raised while a test runs is reported at this line: name the test (a fixture's skip is
        # reported at its test already)
        test = os.environ.get("PYTEST_CURRENT_TEST", "")
        where = test.removesuffix(" (call)") + ": " if test.endswith(" (call)") else ""
        reasons = "; ".join(f"{', '.join(names)} absent: {UNPACKAGED_SCHEMAS[key]}" for key, names in absent.items())
        pytest.skip(f"{where}{reasons} (a clone outside the workspace has no ../shared/)")
    return paths


def pytest_addoption(parser):
    parser.addoption("--update-golden", action="store_true",
                     help="rewrite tests/golden/*/expected from the current generator (then read the diff)")


def pytest_collection_modifyitems(config, items):
    """The long end-to-end stack run goes first, so that with several workers (`make test` runs
    pytest -n) it overlaps the rest of the suite instead of ending it."""
    items.sort(key=lambda item: item.get_closest_marker("stack") is None)


def run_cli(*args: str, cwd: Path | str = ROOT, timeout: float = 120, env: dict | None = None):
    """Run `python -m lukhas_obs ARGS` in a subprocess, as a pipeline would."""
    return subprocess.run([sys.executable, "-m", "lukhas_obs", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **(env or {})})


def invoke_cli(*args: str) -> subprocess.CompletedProcess:
    """The CLI in this process (Click's test runner): the same parsing, output and exit code as
    run_cli without starting Python once more, for tables of cases; a traceback that escapes is
    put on stderr as the interpreter would print it. Use run_cli where the process itself is the
    contract (signals, the environment, a crash's exit status)."""
    import traceback

    from click.testing import CliRunner

    from lukhas_obs.cli import main

    r = CliRunner().invoke(main, list(args))
    stderr = r.stderr
    if r.exception is not None and r.exc_info is not None and not isinstance(r.exception, SystemExit):
        stderr += "".join(traceback.format_exception(*r.exc_info))
    return subprocess.CompletedProcess(["lukhas-obs", *args], r.exit_code, r.stdout, stderr)


def tool(name: str) -> str:
    path = shutil.which(name)
    if not path:
        pytest.fail(f"{name} is not installed: run `make test`, which installs it (or see README)")
    return path


def promtool_test_rules(test_file: Path, tmp_path_factory, timeout: float = 300) -> subprocess.CompletedProcess:
    """`promtool test rules` on one generated unit-test file, run in its folder. A pass is
    remembered for the rest of the test run (by every xdist worker) under the meaning of the
    files it read: the test file and the rule files it names, as parsed YAML (so the header
    comment naming the spec's path does not count). promtool is deterministic, so the same
    documents pass again; a failure is never remembered, and runs each time to show its output."""
    import hashlib
    import json

    import yaml

    doc = yaml.safe_load(test_file.read_text())
    rules = [yaml.safe_load((test_file.parent / name).read_text()) for name in doc.get("rule_files") or []]
    key = hashlib.sha256(json.dumps([doc, rules], sort_keys=True, default=str).encode()).hexdigest()
    base = tmp_path_factory.getbasetemp()
    passed = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "promtool-passed"
    passed.mkdir(exist_ok=True)
    args = [tool("promtool"), "test", "rules", test_file.name]
    if (passed / key).exists():
        return subprocess.CompletedProcess(args, 0, f"passed earlier in this run: {test_file.name}\n", "")
    r = subprocess.run(args, cwd=test_file.parent, capture_output=True, text=True, timeout=timeout)
    if r.returncode == 0:
        (passed / key).touch()
    return r


def tree_snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


class Process:
    """A server started by a test, stopped by the same test by process id."""

    def __init__(self, args: list[str], log: Path, cwd: Path | None = None):
        self.log = log
        self._fh = open(log, "wb")
        self.proc = subprocess.Popen(args, stdout=self._fh, stderr=subprocess.STDOUT, cwd=cwd)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._fh.close()

    def output(self) -> str:
        self._fh.flush()
        return self.log.read_text(errors="replace")[-4000:]


def wait_until(check, timeout: float = 30, interval: float = 0.2, what: str = "condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except Exception as exc:  # the server may not be listening yet
            last = exc
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last error: {last})")


@pytest.fixture(scope="session")
def generated_lukhas(tmp_path_factory) -> Path:
    """The LUKHAS spec generated into a fresh folder (never the committed generated/)."""
    out = tmp_path_factory.mktemp("gen") / "generated"
    r = run_cli("generate", "--spec", str(SPEC), "--out", str(out), "--deployment-out", str(out.parent / "deployment"))
    assert r.returncode == 0, r.stderr
    return out
