"""Golden files: reviewed output of `generate` for each tests/golden/<case>/spec.yaml. The LUKHAS
spec's reviewed output is generated/ itself (test_generate: test_committed_output_matches_the_spec),
so it has no second copy here.

Regenerate with `make golden` (pytest --update-golden) and read the diff before committing."""

from __future__ import annotations

import difflib
import shutil

import pytest

from conftest import ROOT, run_cli, tree_snapshot

CASES = sorted(p.name for p in (ROOT / "tests" / "golden").iterdir() if (p / "spec.yaml").exists())


@pytest.mark.parametrize("case", CASES)
def test_generate_matches_reviewed_golden_output(case, tmp_path, request):
    folder = ROOT / "tests" / "golden" / case
    expected, expected_dep = folder / "expected", folder / "expected-deployment"
    # generated/ and deployment/ side by side, as in the repository: the compose file mounts
    # ../generated, whatever the golden folders are called
    out, dep = tmp_path / "generated", tmp_path / "deployment"
    r = run_cli("generate", "--spec", f"tests/golden/{case}/spec.yaml", "--out", str(out), "--deployment-out", str(dep))
    assert r.returncode == 0, r.stderr
    if request.config.getoption("--update-golden"):
        for src, dst in ((out, expected), (dep, expected_dep)):
            shutil.rmtree(dst, ignore_errors=True)
            shutil.copytree(src, dst)
        # nothing was compared, so nothing passed: the run says what it did instead
        pytest.skip(f"updated tests/golden/{case} from the generator: read `git diff tests/golden/{case}`")
    got = {**tree_snapshot(out), **{f"deployment/{k}": v for k, v in tree_snapshot(dep).items()}}
    want = {**tree_snapshot(expected), **{f"deployment/{k}": v for k, v in tree_snapshot(expected_dep).items()}}
    assert sorted(got) == sorted(want), "file lists differ; run `make golden` and review"
    assert "prometheus/prometheus.yml" in got and "deployment/docker-compose.observability.yml" in got   # not empty
    for rel in got:
        if got[rel] != want[rel]:
            diff = "\n".join(difflib.unified_diff(want[rel].decode().splitlines(), got[rel].decode().splitlines(),
                                                  f"expected/{rel}", f"generated/{rel}", lineterm=""))
            pytest.fail(f"{case}/{rel} differs from the reviewed golden file:\n{diff[:3000]}")


@pytest.mark.parametrize("case", CASES)
def test_every_dashboard_link_of_an_alert_names_a_generated_dashboard(case):
    """Alert links follow the spec's dashboards: the SLO alerts of a team spec named `shop` went to
    /d/lukhas-slos, which only the LUKHAS spec generates. (A golden spec without links.grafana_url
    writes no dashboard_url, so its SLO alerts are built here with one.)"""
    import re

    from lukhas_obs.generate.slo import slo_alerts
    from lukhas_obs.spec.loader import load_spec_text

    folder = ROOT / "tests" / "golden" / case
    text = (folder / "spec.yaml").read_text()
    if "grafana_url:" not in text:
        assert "\nlinks:" not in text, "add grafana_url to the spec's links section instead"
        text += "links: {grafana_url: 'https://grafana.example'}\n"
    spec = load_spec_text(text, "spec.yaml")
    base = re.escape(spec.grafana_url.rstrip("/"))
    uids = {p.stem for p in (folder / "expected" / "grafana" / "dashboards").glob("*.json")}
    rules = [r for slo in spec.slos for r in slo_alerts(spec, slo)]
    links = [re.fullmatch(base + r"/d/([^?]+)\?var-service=[a-z0-9-]+", r["annotations"].get("dashboard_url", ""))
             for r in rules]
    assert all(links), [r["annotations"].get("dashboard_url") for r in rules]
    linked = {m.group(1) for m in links if m}
    assert linked and linked <= uids, f"links to {sorted(linked - uids)}; dashboards: {sorted(uids)}"
