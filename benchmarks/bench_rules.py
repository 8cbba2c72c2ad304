"""Rule cost and detection time, side by side with Sloth's rules for the same SLO.

The SLO (Sloth's getting-started example): 99.9 % over 30 days, errors are
http_request_duration_seconds_count{job="myservice",code=~"(5..|429)"}.

Rule cost: one real Prometheus holds two days of history for 20 instances x 6 codes (plus as many
series of another job), and two days of each side's own recorded 5m series (the records both rule
sets read their long windows from), then evaluates both rule sets every 10 s. Reported per side:
median evaluation time per group, samples each rule reads (query stats), series produced, and the
hourly cost at each side's real group intervals (ours 30 s and 5 m, Sloth's the global 30 s).

Detection: promtool evaluates both rule sets on a burn that starts after 6 h of clean traffic and
reports when each side's page alert first fires, beside the SRE workbook's limit."""

from __future__ import annotations

import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
SLOTH = ROOT.parent / "shared" / "reference" / "sloth" / "getting-started.rules.yml"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from common import start_prometheus  # noqa: E402

from lukhas_obs.generate import render  # noqa: E402
from lukhas_obs.model import SLO_PAGE_ALERT  # noqa: E402
from lukhas_obs.spec.loader import load_spec_text  # noqa: E402

SPEC = """
apiVersion: lukhas-obs/v1
project: bench
receivers: {pager: {}}
severities:
  P1: {level: critical, receiver: pager, page: true}
  P3: {level: medium, receiver: pager}
metrics:
  http_request_duration_seconds: {type: histogram, buckets: [0.1, 0.5, 1]}
services:
  - name: myservice
    kind: application
    port: 8080
    slos:
      - name: requests-availability
        objective: 99.9
        period: 30d
        sli:
          ratio:
            errors: 'http_request_duration_seconds_count{code=~"(5..|429)"}'
            total: http_request_duration_seconds_count
        page: P1
        ticket: P3
"""
CODES = ("200", "201", "404", "429", "500", "503")
INSTANCES = 20
HISTORY = 2 * 86400
RAW_STEP = 60
REC_STEP = 30


def our_rules() -> dict:
    files = render(load_spec_text(SPEC, "bench.yaml"))
    return yaml.safe_load(files["prometheus/rules/slo-myservice-requests-availability.rules.yml"])


def history(end: int) -> str:
    lines = ["# TYPE http_request_duration_seconds histogram"]
    start = end - HISTORY
    for job in ("myservice", "other"):
        for i in range(INSTANCES):
            for code in CODES:
                rps = {"200": 5, "201": 1, "404": 0.3, "429": 0.01, "500": 0.004, "503": 0.001}[code]
                v = 0.0
                for t in range(start, end + 1, RAW_STEP):
                    lines.append(f'http_request_duration_seconds_count{{job="{job}",instance="i{i}",code="{code}"}} '
                                 f"{v:.3f} {t}")
                    v += rps * RAW_STEP
    ours = '{service="myservice",slo="requests-availability"}'
    sloth = ('{cmd="examplesgen.sh",owner="myteam",repo="myorg/myservice",sloth_id="myservice-requests-availability",'
             'sloth_service="myservice",sloth_slo="requests-availability",sloth_window="5m",tier="2"}')
    total = INSTANCES * 6.315
    errors = INSTANCES * 0.015
    for name, labels, value in (("slo:sli_errors:rate5m", ours, errors), ("slo:sli_total:rate5m", ours, total),
                                ("slo:sli_error:ratio_rate5m", sloth, errors / total)):
        lines.append(f"# TYPE {name.replace(':', '_')} gauge")
        for t in range(start, end + 1, REC_STEP):
            lines.append(f"{name}{labels} {value:.6g} {t}")
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


def get(url: str, path: str, **params):
    with urllib.request.urlopen(url + path + "?" + urllib.parse.urlencode(params), timeout=60) as r:
        return json.loads(r.read())


def rule_cost(work: Path) -> dict:
    end = int(time.time()) // 60 * 60
    (work / "om.txt").write_text(history(end))
    subprocess.run(["promtool", "tsdb", "create-blocks-from", "openmetrics", str(work / "om.txt"), str(work / "data")],
                   check=True, capture_output=True)
    ours, sloth = our_rules(), yaml.safe_load(SLOTH.read_text())
    real_interval = {g["name"]: g.get("interval", "30s") for g in ours["groups"]}
    real_interval.update({g["name"]: "30s" for g in sloth["groups"]})
    for doc, name in ((ours, "ours.rules.yml"), (sloth, "sloth.rules.yml")):
        for g in doc["groups"]:
            g["interval"] = "10s"
        (work / name).write_text(yaml.safe_dump(doc, sort_keys=False))
    (work / "prometheus.yml").write_text("global: {evaluation_interval: 10s}\n"
                                         "rule_files: [ours.rules.yml, sloth.rules.yml]\n")
    proc, url = start_prometheus(work / "prometheus.yml", work / "data")
    try:
        samples: dict[str, list[float]] = {}
        last: dict[str, str] = {}
        deadline = time.time() + 75
        while time.time() < deadline:
            for g in get(url, "/api/v1/rules")["data"]["groups"]:
                if g.get("lastEvaluation") and g["lastEvaluation"] != last.get(g["name"]):
                    last[g["name"]] = g["lastEvaluation"]
                    samples.setdefault(g["name"], []).append(g["evaluationTime"])
            time.sleep(2)
        groups = get(url, "/api/v1/rules")["data"]["groups"]
        loaded: dict[str, int] = {}
        for g in groups:
            total = 0
            for r in g["rules"]:
                expr = r["query"]
                stats = get(url, "/api/v1/query", query=expr, stats="all")["data"]["stats"]["samples"]
                total += stats["totalQueryableSamples"]
            loaded[g["name"]] = total
    finally:
        proc.terminate()
        proc.wait(timeout=20)

    def side(prefix: str) -> dict:
        names = [g["name"] for g in groups if g["name"].startswith(prefix)]
        per_eval = {n: statistics.median(samples[n]) for n in names if samples.get(n)}
        hourly = sum(per_eval[n] * 3600 / parse_seconds(real_interval[n]) for n in per_eval)
        hourly_samples = sum(loaded[n] * 3600 / parse_seconds(real_interval[n]) for n in names)
        rules = [r for g in groups if g["name"] in names for r in g["rules"]]
        return {"groups": {n: {"median_eval_ms": round(per_eval.get(n, 0) * 1000, 3), "samples_read": loaded[n],
                               "interval": real_interval[n], "evaluations_measured": len(samples.get(n, []))}
                           for n in names},
                "series_produced": sum(1 for r in rules if r["type"] == "recording"),
                "alert_rules": sum(1 for r in rules if r["type"] == "alerting"),
                "eval_seconds_per_hour": round(hourly, 4), "samples_read_per_hour": int(hourly_samples)}

    ours_s, sloth_s = side("slo-"), side("sloth-")
    return {"lukhas_obs": ours_s, "sloth": sloth_s,
            "ratio_eval_time_per_hour": round(ours_s["eval_seconds_per_hour"] / sloth_s["eval_seconds_per_hour"], 3),
            "ratio_samples_read_per_hour": round(ours_s["samples_read_per_hour"] / sloth_s["samples_read_per_hour"], 3),
            "ratio_series_produced": round(ours_s["series_produced"] / sloth_s["series_produced"], 3)}


def parse_seconds(d: str) -> float:
    from lukhas_obs.durations import parse_duration

    return parse_duration(d)


def _fmt(seconds: float) -> str:
    from lukhas_obs.durations import format_duration

    return format_duration(seconds)


def detection(work: Path) -> list[dict]:
    ours = our_rules()
    sloth = yaml.safe_load(SLOTH.read_text())
    (work / "ours.rules.yml").write_text(yaml.safe_dump(ours, sort_keys=False))
    (work / "sloth.rules.yml").write_text(yaml.safe_dump(sloth, sort_keys=False))
    warm, rps, step, ev = 6 * 3600, 10.0, 60, 30
    rows = []
    for label, ratio, limit in (("100 % errors", 1.0, 3600 * 0.0144),
                                ("14.4x budget (+1 %)", 0.0144 * 1.01, 3600 / 1.01),
                                ("6x budget (+1 %)", 0.006 * 1.01, 21600 / 1.01)):
        burn = int(limit * 1.3) + 600
        n_warm, n_burn = warm // step, burn // step

        def series(share_warm, share_burn, n_warm=n_warm, n_burn=n_burn):
            a = share_warm * step
            b = share_burn * step
            last = a * n_warm
            return f"0+{a!r}x{n_warm} {last + b!r}+{b!r}x{n_burn - 1}"
        inputs = [
            {"series": 'http_request_duration_seconds_count{job="myservice",code="500"}',
             "values": series(0.0, rps * ratio)},
            {"series": 'http_request_duration_seconds_count{job="myservice",code="200"}',
             "values": series(rps, rps * (1 - ratio))},
        ]
        times = list(range(warm, warm + burn, ev))
        result = {"burn": label, "workbook_limit_s": round(limit, 1)}
        sides = (("lukhas_obs", "ours.rules.yml", SLO_PAGE_ALERT, None),
                 ("sloth", "sloth.rules.yml", "MyServiceHighErrorRate", 'sloth_severity="page"'))
        for side, rules, alert, pick in sides:
            test = {"rule_files": [rules], "evaluation_interval": f"{ev}s", "tests": [{
                "interval": f"{step}s", "input_series": inputs,
                "alert_rule_test": [{"eval_time": _fmt(t), "alertname": alert, "exp_alerts": []} for t in times]}]}
            (work / "detect.test.yml").write_text(yaml.safe_dump(test, sort_keys=False))
            out = subprocess.run(["promtool", "test", "rules", "detect.test.yml"], cwd=work,
                                 capture_output=True, text=True)
            text = out.stdout + out.stderr
            fired = []
            for block in text.split("alertname: ")[1:]:
                m = re.search(r"time: ([0-9hms]+),", block)
                if m and (pick is None or pick in block) and "got:[]" not in block.replace(" ", "").replace("\n", ""):
                    fired.append(parse_seconds(m.group(1)))
            result[f"{side}_detected_after_s"] = (min(fired) - warm) if fired else None
        rows.append(result)
    return rows


def main() -> dict:
    if not SLOTH.exists():
        print(json.dumps({"skipped": f"{SLOTH} not found"}))
        return {}
    work = Path(tempfile.mkdtemp(prefix="bench-rules-"))
    try:
        (work / "cost").mkdir()
        out = {"rule_cost": rule_cost(work / "cost"), "detection": detection(work)}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()
