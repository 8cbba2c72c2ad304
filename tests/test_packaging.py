"""What the installed product is: the lukhas_obs package, and the dependencies its code imports.
The synthetic workload (lukhas_obs_demo/, with prometheus-client) is the demo's and the tests',
kept in the checkout. Read with setuptools' own reader of pyproject.toml, as a build would."""

from __future__ import annotations

import ast
import functools
import re
import sys
import warnings
from importlib.metadata import packages_distributions

from conftest import ROOT, run_cli

PRODUCT = ROOT / "lukhas_obs"
# where the product may name the demo package: the `demo` command (guarded) and the demo itself
DEMO_USERS = {"cli.py", "demo.py"}


def _configuration() -> dict:
    from setuptools.config.pyprojecttoml import read_configuration

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return read_configuration(ROOT / "pyproject.toml", expand=True)


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


@functools.cache
def _imports() -> dict[str, set[str]]:
    """Top-level module name -> the product files importing it (absolute imports only)."""
    found: dict[str, set[str]] = {}
    for path in PRODUCT.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                found.setdefault(name.split(".")[0], set()).add(path.relative_to(PRODUCT).as_posix())
    return found


def test_the_product_packages_are_lukhas_obs_only():
    packages = _configuration()["tool"]["setuptools"]["packages"]
    assert "lukhas_obs" in packages and "lukhas_obs.generate" in packages
    assert [p for p in packages if p != "lukhas_obs" and not p.startswith("lukhas_obs.")] == []


def test_every_dependency_is_imported_by_the_product_and_every_import_declared():
    config = _configuration()["project"]
    declared = {_name(r) for r in config["dependencies"]}
    optional = {_name(r) for r in config["optional-dependencies"]["report"]}
    owners = packages_distributions()
    imported: dict[str, set[str]] = {}
    for module, files in _imports().items():
        if module in sys.stdlib_module_names or module in ("lukhas_obs", "lukhas_obs_demo"):
            continue
        for dist in owners.get(module, [module]):
            imported.setdefault(dist.lower().replace("_", "-"), set()).update(files)
    undeclared = {d: sorted(f) for d, f in imported.items() if d not in declared | optional}
    assert undeclared == {}, "imported by the product but not a dependency in pyproject.toml"
    assert sorted(declared - set(imported)) == [], "declared but never imported by the product"
    assert "prometheus-client" not in declared


def test_only_the_demo_names_the_demo_package():
    assert _imports().get("lukhas_obs_demo", set()) <= DEMO_USERS


def test_an_installed_product_without_the_checkout_says_the_demo_needs_it(tmp_path):
    """Outside the checkout lukhas_obs_demo is not importable (as for an installed wheel): the
    demo command says why, exit 2, no traceback."""
    r = run_cli("demo", "--once", "--spec", str(ROOT / "specs" / "lukhas.yaml"), cwd=tmp_path,
                env={"PYTHONPATH": ""})
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stderr.splitlines() == [
        "lukhas-obs demo: the demo runs from a lukhas-obs checkout, with its test dependencies: its synthetic"
        " workload (lukhas_obs_demo/) is not part of the installed product (No module named 'lukhas_obs_demo');"
        " run `make demo` in the checkout"]
    assert "Traceback" not in r.stderr and r.stdout == ""
