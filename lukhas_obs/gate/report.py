"""The gate's verdict for people (a table), for programs (JSON), for CI (JUnit XML) and for a CI
step summary (GitHub-flavoured markdown). Every format carries a link per check into the
Prometheus UI (gate.links): `link_url` is the UI's base URL, by default the API URL the gate
queried (without credentials)."""

from __future__ import annotations

import json
import math
import re
from xml.etree import ElementTree as ET

from lukhas_obs.durations import iso
from lukhas_obs.gate.decide import SEVERITY, Outcome
from lukhas_obs.gate.links import LinkError, check_link, link_base

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


def ordered(checks):
    """Checks as people read them: FAIL, then ERROR, INCONCLUSIVE, PASS; by service and name."""
    return sorted(checks, key=lambda c: (SEVERITY.index(c.outcome), c.service or "-", c.name))


def api_url(report) -> str:
    """The URL the gate queried, as every output shows it: without credentials."""
    try:
        return link_base(report.url, strict=False)
    except LinkError:
        return report.url if "@" not in report.url else "(a URL that is not http(s))"


def links(report, link_url: str | None = None) -> dict[int, str]:
    """Each check's link (by id() of the check), for those that sent a query. A --link-url is
    checked by the CLI; the API URL is used without its credentials; no usable base, no links."""
    try:
        base = link_base(link_url) if link_url else link_base(report.url, strict=False)
    except LinkError:
        return {}
    out = {}
    for c in report.checks:
        link = check_link(base, c, report)
        if link:
            out[id(c)] = link
    return out


def _coverage(cover) -> dict | None:
    """A budget check's data coverage of its period (of the series its reason names), or None."""
    if cover is None:
        return None
    return {"covered_seconds": cover.covered, "period_seconds": cover.period, "ratio": round(cover.ratio, 6),
            "min_ratio": cover.minimum, "enough": cover.enough, "text": cover.text()}


def to_dict(report, link_url: str | None = None) -> dict:
    link = links(report, link_url)
    return {
        "version": JSON_SCHEMA_VERSION,
        "mode": report.mode,
        "outcome": report.outcome.value,
        "exit_code": report.outcome.exit_code,
        "action": action(report.mode, report.outcome),
        "evaluated_at": iso(report.at),
        "window": report.window,
        "prometheus": api_url(report),
        "next_weight": report.next_weight,
        "canary_since": iso(report.since) if report.since is not None else None,
        "checks": [{
            "name": c.name, "service": c.service, "outcome": c.outcome.value, "reason": c.reason,
            "query": c.query, "threshold": c.threshold, "link": link.get(id(c)),
            "p_value": _num(c.p_value),
            "coverage": _coverage(c.coverage),
            "evidence": [{"labels": e.labels, "value": _num(e.value), "value_text": _num_text(e.value),
                          "note": e.note or None}
                         for e in c.evidence],
        } for c in report.checks],
    }


def to_json(report, link_url: str | None = None) -> str:
    def clean(obj):
        if isinstance(obj, dict):
            return {k: clean(v) for k, v in obj.items() if v is not None}
        if isinstance(obj, list):
            return [clean(v) for v in obj]
        return obj
    return json.dumps(clean(to_dict(report, link_url)), indent=2, sort_keys=False, allow_nan=False)


def headline(report) -> str:
    """The verdict and what to do, in words."""
    return f"slo-gate {report.mode}: {report.outcome.value} ({action(report.mode, report.outcome)})"


def to_text(report, link_url: str | None = None) -> str:
    checks = ordered(report.checks)
    rows = [(c.outcome.value, c.service or "-", c.name, c.reason) for c in checks]
    widths = [max([len(r[i]) for r in rows] + [len(h)]) for i, h in enumerate(("RESULT", "SERVICE", "CHECK"))]
    lines = [f"{headline(report)} at {iso(report.at)}, window {report.window}, {api_url(report)}"]
    if report.next_weight is not None and report.outcome == Outcome.PASS:
        lines.append(f"next canary weight: {report.next_weight} %")
    lines.append("")
    lines.append(f"{'RESULT':<{widths[0]}}  {'SERVICE':<{widths[1]}}  {'CHECK':<{widths[2]}}  REASON")
    for r in rows:
        lines.append(f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:<{widths[2]}}  {r[3]}")
    link = links(report, link_url)
    if link:
        lines += ["", f"Prometheus, each check's queries up to {iso(report.at)}:"]
        for c, r in zip(checks, rows, strict=True):
            if id(c) in link:
                lines.append(f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:<{widths[2]}}  {link[id(c)]}")
    return "\n".join(lines)


def to_junit(report, link_url: str | None = None) -> str:
    link = links(report, link_url)
    suite = ET.Element("testsuite", name=f"slo-gate {report.mode}", tests=str(len(report.checks)),
                       failures=str(sum(c.outcome == Outcome.FAIL for c in report.checks)),
                       errors=str(sum(c.outcome == Outcome.ERROR for c in report.checks)),
                       skipped=str(sum(c.outcome == Outcome.INCONCLUSIVE for c in report.checks)),
                       timestamp=iso(report.at))
    for c in report.checks:
        classname = _xml_text(f"slo-gate.{report.mode}.{c.service or 'platform'}")
        case = ET.SubElement(suite, "testcase", classname=classname, name=_xml_text(c.name))
        reason = _xml_text(c.reason)
        seen = f"\nprometheus: {link[id(c)]}" if id(c) in link else ""
        detail = _xml_text(f"{c.reason}\nthreshold: {c.threshold}{seen}\nquery:\n{c.query}")
        if c.outcome == Outcome.FAIL:
            ET.SubElement(case, "failure", message=reason).text = detail
        elif c.outcome == Outcome.ERROR:
            ET.SubElement(case, "error", message=reason).text = detail
        elif c.outcome == Outcome.INCONCLUSIVE:
            ET.SubElement(case, "skipped", message=f"INCONCLUSIVE: {reason}")
        ET.SubElement(case, "system-out").text = detail
    return ET.tostring(suite, encoding="unicode")


MARKS = {Outcome.PASS: "✅", Outcome.FAIL: "❌", Outcome.INCONCLUSIVE: "⏸️", Outcome.ERROR: "⚠️"}
_MD_ACTIVE = re.compile(r"([\\`*_\[\]<>|~!#])")


def _md(text: str) -> str:
    """Text for a GitHub-flavoured markdown table cell: one line, control characters shown as
    \\xNN, `&` as an entity and markdown's punctuation backslash-escaped, so that a `|` in a
    label value cannot end the cell and no value can become a link, an image or HTML."""
    text = " ".join(_xml_text(str(text)).split())
    return _MD_ACTIVE.sub(r"\\\1", text.replace("&", "&amp;"))


def to_markdown(report, link_url: str | None = None) -> str:
    """For a CI step summary ($GITHUB_STEP_SUMMARY, a merge request note): the verdict and the
    action first, then the checks that did not pass, then the passing ones folded away."""
    link = links(report, link_url)
    checks = ordered(report.checks)
    lines = [f"### {MARKS[report.outcome]} {_md(headline(report))}", "",
             f"Evaluated at {iso(report.at)} over the last {_md(report.window)}, against {_md(api_url(report))} "
             f"(exit code {report.outcome.exit_code})."]
    if report.next_weight is not None and report.outcome == Outcome.PASS:
        lines.append(f"Next canary weight: **{report.next_weight} %**.")

    def table(rows) -> list[str]:
        out = ["| Result | Service | Check | Reason | Prometheus |", "|---|---|---|---|---|"]
        for c in rows:
            graph = f"[graph]({link[id(c)]})" if id(c) in link else ""
            out.append(f"| {MARKS[c.outcome]} {c.outcome.value} | {_md(c.service or '-')} | {_md(c.name)} | "
                       f"{_md(c.reason)} | {graph} |")
        return out

    failing = [c for c in checks if c.outcome != Outcome.PASS]
    passing = [c for c in checks if c.outcome == Outcome.PASS]
    if failing:
        lines += ["", *table(failing)]
    if passing and failing:
        n = len(passing)
        lines += ["", f"<details><summary>{n} check{'s' if n != 1 else ''} passed</summary>", "", *table(passing),
                  "", "</details>"]
    elif passing:
        lines += ["", *table(passing)]
    if not checks:
        lines += ["", "No check ran."]
    return "\n".join(lines) + "\n"
