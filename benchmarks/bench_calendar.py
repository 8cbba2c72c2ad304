"""What a calendar budget costs Prometheus, beside the rolling one it replaces.

One real Prometheus holds 31 days of one SLO's 5m records every 30 s (as the rules write them:
the plain records, the phase record and the phase-tagged copies of a calendar month in
Europe/Berlin). At the end of that history it evaluates, as instant queries (what a rule
evaluation is), the rolling 30d period ratio and the calendar month's period ratio; reported:
median time of 20 evaluations and the samples each reads (query stats).

    python benchmarks/bench_calendar.py"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from common import median_seconds, start_prometheus  # noqa: E402

from lukhas_obs import conventions as conv  # noqa: E402
from lukhas_obs.spec.loader import load_spec_text  # noqa: E402

SPEC = (ROOT / "tests" / "specs" / "calendar.yaml").read_text()
END = datetime(2026, 11, 30, 12, tzinfo=UTC).timestamp()
DAYS = 31
STEP = 30


def _openmetrics() -> str:
    labels = 'service="web",slo="monthly"'
    zone = ZoneInfo("Europe/Berlin")
    times = range(int(END - DAYS * 86400), int(END) + 1, STEP)
    phases = {t: datetime.fromtimestamp(t, zone).month % 3 for t in times}
    out = []
    for name, value in (("slo:sli_errors:rate5m", 0.02), ("slo:sli_total:rate5m", 10.0)):
        out.append(f"# TYPE {name} gauge")
        out += [f"{name}{{{labels}}} {value} {t}" for t in times]
        out.append(f"# TYPE {name}_period gauge")
        out += [f'{name}_period{{{labels},phase="{phases[t]}"}} {value} {t}' for t in times]
    return "\n".join(out) + "\n# EOF\n"


def main() -> dict:
    rolling = load_spec_text(SPEC.replace("{calendar: month, timezone: America/New_York}", "30d"), "r.yaml").slos[0]
    monthly = load_spec_text(SPEC.replace("America/New_York", "Europe/Berlin"), "c.yaml").slos[0]
    exprs = {"rolling 30d ratio": conv.window_ratio(rolling, "30d"),
             "calendar month ratio (Europe/Berlin)": conv.period_ratio(monthly)}
    figures: dict = {}
    work = Path(tempfile.mkdtemp(prefix="bench-calendar-"))
    try:
        (work / "om.txt").write_text(_openmetrics())
        subprocess.run(["promtool", "tsdb", "create-blocks-from", "openmetrics", str(work / "om.txt"),
                        str(work / "data")], check=True, capture_output=True)
        (work / "prometheus.yml").write_text("global: {scrape_interval: 1m}\n")
        proc, url = start_prometheus(work / "prometheus.yml", work / "data")
        try:
            print(f"{DAYS} days of 30 s records, evaluated at {datetime.fromtimestamp(END, UTC):%Y-%m-%d %H:%M}Z")
            for what, expr in exprs.items():
                def query(expr=expr) -> dict:
                    params = urllib.parse.urlencode({"query": expr, "time": END, "stats": "all"})
                    with urllib.request.urlopen(f"{url}/api/v1/query?{params}", timeout=60) as resp:
                        return json.load(resp)

                query()  # warm the page cache
                body = query()
                value = body["data"]["result"][0]["value"][1]
                samples = body["data"]["stats"]["samples"]["totalQueryableSamples"]
                seconds = median_seconds(query, 20)
                print(f"{what:40} {seconds * 1000:7.1f} ms  {samples:>8} samples  ratio {float(value):.4g}")
                figures[what] = {"median_ms": round(seconds * 1000, 1), "samples": samples}
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return figures


if __name__ == "__main__":
    main()
