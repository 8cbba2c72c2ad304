"""`lukhas-obs demo --once`: the whole loop with real Prometheus and Alertmanager, and nothing left
running afterwards."""

from __future__ import annotations

import os
import re

import pytest

from conftest import run_cli

pytestmark = pytest.mark.integration


def processes_mentioning(text: str) -> list[str]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                cmd = fh.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmd:
            found.append(f"{pid}: {cmd}")
    return found


def test_demo_once_plays_the_story_and_cleans_up():
    r = run_cli("demo", "--once", timeout=300)
    out = r.stdout
    assert r.returncode == 0, out[-4000:] + r.stderr[-2000:]
    lines = out.splitlines()
    story = lines.index("== story")
    assert lines[story + 1:story + 4] == ["ok   smoke passes on healthy traffic",
                                          "ok   canary with 6 % errors is rolled back",
                                          "ok   lukhas-core outage pages via pagerduty"], out[-4000:]
    assert [ln for ln in lines if re.fullmatch(r"slo-gate canary: FAIL \(roll back\) at \S+Z, window \S+, "
                                                 r"http://127\.0\.0\.1:\d+", ln)], out[-4000:]
    assert ("Alertmanager sent LUKHASServiceDown (critical, P1) to receiver 'pagerduty': LUKHAS service lukhas-core"
            " is down") in lines, out[-4000:]
    work = re.search(r"working folder (\S+)", out).group(1)
    assert not os.path.exists(work), "the demo left its working folder behind"
    assert processes_mentioning(work) == [], "the demo left processes running"
