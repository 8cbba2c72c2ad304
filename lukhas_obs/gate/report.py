"""The gate's verdict for people (a table), for programs (JSON) and for CI (JUnit XML)."""

from __future__ import annotations

import json
import math
import re
from xml.etree import ElementTree as ET

from lukhas_obs.durations import iso
from lukhas_obs.gate.decide import Outcome

JSON_SCHEMA_VERSION = 1
MODE_ACTIONS = {
    "smoke": {Outcome.PASS: "go on", Outcome.FAIL: "stop: the deploy is unhealthy"},
    "canary": {Outcome.PASS: "promote", Outcome.FAIL: "roll back", Outcome.INCONCLUSIVE: "hold"},
    "rollback": {Outcome.PASS: "keep", Outcome.FAIL: "roll back now"},
    "budget": {Outcome.PASS: "promotion allowed", Outcome.FAIL: "refuse the promotion: budget spent"},
}


def action(mode: str, outcome: Outcome) -> str:
    default = {Outcome.INCONCLUSIVE: "hold: could not measure", Outcome.ERROR: "hold: the metrics provider failed"}
    return MODE_ACTIONS.get(mode, {}).get(outcome) or default.get(outcome, outcome.value.lower())


def _num(v):
    """A JSON number, or None (dropped) when the value is not one: JSON has no NaN or Infinity."""
    return v if isinstance(v, (int, float)) and math.isfinite(v) else None


def _num_text(v) -> str | None:
    """How a value that JSON cannot hold was read: "NaN", "+Inf" or "-Inf"."""
    if isinstance(v, float) and not math.isfinite(v):
        return "NaN" if math.isnan(v) else ("+Inf" if v > 0 else "-Inf")
    return None


_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def _xml_text(text: str) -> str:
    """Text that XML 1.0 can carry: control characters (from an error body, a label value) are
    shown as \\xNN instead of making the JUnit file unparseable."""
    return _XML_INVALID.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def to_dict(report) -> dict:
    return {
        "version": JSON_SCHEMA_VERSION,
        "mode": report.mode,
        "outcome": report.outcome.value,
        "exit_code": report.outcome.exit_code,
        "action": action(report.mode, report.outcome),
        "evaluated_at": iso(report.at),
        "window": report.window,
        "prometheus": report.url,
        "next_weight": report.next_weight,
        "canary_since": iso(report.since) if report.since is not None else None,
        "checks": [{
            "name": c.name, "service": c.service, "outcome": c.outcome.value, "reason": c.reason,
            "query": c.query, "threshold": c.threshold,
            "p_value": _num(c.p_value),
            "evidence": [{"labels": e.labels, "value": _num(e.value), "value_text": _num_text(e.value),
                          "note": e.note or None}
                         for e in c.evidence],
        } for c in report.checks],
    }


def to_json(report) -> str:
    def clean(obj):
        if isinstance(obj, dict):
            return {k: clean(v) for k, v in obj.items() if v is not None}
        if isinstance(obj, list):
            return [clean(v) for v in obj]
        return obj
    return json.dumps(clean(to_dict(report)), indent=2, sort_keys=False, allow_nan=False)


def to_text(report) -> str:
    rows = [(c.outcome.value, c.service or "-", c.name, c.reason) for c in report.checks]
    widths = [max([len(r[i]) for r in rows] + [len(h)]) for i, h in enumerate(("RESULT", "SERVICE", "CHECK"))]
    lines = [f"slo-gate {report.mode}: {report.outcome.value} ({action(report.mode, report.outcome)})"
             f" at {iso(report.at)}, window {report.window}, {report.url}"]
    if report.next_weight is not None and report.outcome == Outcome.PASS:
        lines.append(f"next canary weight: {report.next_weight} %")
    lines.append("")
    lines.append(f"{'RESULT':<{widths[0]}}  {'SERVICE':<{widths[1]}}  {'CHECK':<{widths[2]}}  REASON")
    order = {Outcome.FAIL: 0, Outcome.ERROR: 1, Outcome.INCONCLUSIVE: 2, Outcome.PASS: 3}
    for r in sorted(rows, key=lambda r: (order[Outcome(r[0])], r[1], r[2])):
        lines.append(f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:<{widths[2]}}  {r[3]}")
    return "\n".join(lines)


def to_junit(report) -> str:
    suite = ET.Element("testsuite", name=f"slo-gate {report.mode}", tests=str(len(report.checks)),
                       failures=str(sum(c.outcome == Outcome.FAIL for c in report.checks)),
                       errors=str(sum(c.outcome == Outcome.ERROR for c in report.checks)),
                       skipped=str(sum(c.outcome == Outcome.INCONCLUSIVE for c in report.checks)),
                       timestamp=iso(report.at))
    for c in report.checks:
        classname = _xml_text(f"slo-gate.{report.mode}.{c.service or 'platform'}")
        case = ET.SubElement(suite, "testcase", classname=classname, name=_xml_text(c.name))
        reason = _xml_text(c.reason)
        detail = _xml_text(f"{c.reason}\nthreshold: {c.threshold}\nquery:\n{c.query}")
        if c.outcome == Outcome.FAIL:
            ET.SubElement(case, "failure", message=reason).text = detail
        elif c.outcome == Outcome.ERROR:
            ET.SubElement(case, "error", message=reason).text = detail
        elif c.outcome == Outcome.INCONCLUSIVE:
            ET.SubElement(case, "skipped", message=f"INCONCLUSIVE: {reason}")
        ET.SubElement(case, "system-out").text = detail
    return ET.tostring(suite, encoding="unicode")
