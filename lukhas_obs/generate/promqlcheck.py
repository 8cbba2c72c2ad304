"""Every PromQL expression `generate` emits is parsed before anything is written: a rule or a panel
query Prometheus would refuse is a generate error naming the rule (or panel), not a promtool or
load-time surprise later.

Parsing is done by shape, so that 2,000 SLOs do not cost 32,000 parses: every string literal of
an expression is replaced by "x" (comments dropped) and each distinct shape is parsed once; each
distinct literal is parsed once on its own, inside a selector, with the matcher operator it had
(`=~`/`!~` make the parser check it as a regular expression). The lexer reads a string literal as
one token whatever surrounds it, so an expression parses exactly when its shape and each of its
literals do. Both checks go through the real parser (lukhas_obs.promql.parse)."""

from __future__ import annotations

import re

from lukhas_obs.errors import GenerateError
from lukhas_obs.generate.dashboards import _panels
from lukhas_obs.promql import PromQLError, parse

# A string literal in each of PromQL's three quotings, or a comment (to the end of the line); as
# re.split's one group, the pieces alternate code, literal, code... Scanned left to right, so a
# quote inside a comment or a # inside a string is not mistaken.
_LITERAL = re.compile(r'("[^"\\\n]*(?:\\.[^"\\\n]*)*"|\'[^\'\\\n]*(?:\\.[^\'\\\n]*)*\'|`[^`]*`|#[^\n]*)')
# Grafana's interval variables stand for a duration (or a number of seconds or milliseconds)
_GRAFANA_DURATION = re.compile(r"\$__(?:rate_interval|interval|range)\b|\$\{__(?:rate_interval|interval|range)\}")
_GRAFANA_NUMBER = re.compile(r"\$\{?__(?:rate_interval|interval|range)_(?:ms|s)\}?")
_GRAFANA_OTHER = re.compile(r"\$\{[^}]*\}|\$\w+|\[\[[^\]]*\]\]")


class PromQLCheck:
    """Parses expressions by shape and literal, remembering what it has seen (one per generate
    run; the per-SLO workers each have their own)."""

    def __init__(self) -> None:
        self.shapes: dict[str, str | None] = {}     # shape -> the parser's complaint, or None
        self.literals: dict[tuple[str, str], str | None] = {}

    def problem(self, expr: str) -> str | None:
        """The parser's complaint about `expr`, or None when Prometheus' grammar accepts it."""
        parts = _LITERAL.split(expr)
        literals = []
        for i in range(1, len(parts), 2):
            literal = parts[i]
            if literal[0] == "#":
                parts[i] = ""
                continue
            regex = parts[i - 1].rstrip().endswith(("=~", "!~"))
            literals.append(("=~" if regex else "=", literal))
            parts[i] = '"x"'
        shape = "".join(parts)
        if shape not in self.shapes:
            self.shapes[shape] = _parse(shape)
        found = self.shapes[shape]
        if found is not None:
            # say what the parser says about the expression itself (its positions are the user's)
            return _parse(expr) or found
        for key in literals:
            if key not in self.literals:
                self.literals[key] = _parse(f"x{{x{key[0]}{key[1]}}}")
            said = self.literals[key]
            if said is not None:
                return _parse(expr) or said
        return None

    def rules(self, path: str, doc: dict | None) -> None:
        """A rule file document ({groups: [{name, rules: [{record|alert, expr}]}]})."""
        for group in (doc or {}).get("groups", []):
            for rule in group.get("rules", []):
                said = self.problem(rule["expr"])
                if said is not None:
                    name = f"alert {rule['alert']}" if "alert" in rule else f"record {rule.get('record')}"
                    raise GenerateError(f"{path}: group {group['name']}: {name}: the generated PromQL does not parse "
                                        f"({said}): {rule['expr']!r}")

    def dashboard(self, uid: str, dash: dict) -> None:
        """Every Prometheus query of a dashboard (panels, collapsed rows' panels, annotations), with
        Grafana's variables given a value of their kind first (Grafana sends them interpolated)."""
        queries = [(f"panel {p.get('title', '')!r}", t) for p in _panels(dash.get("panels", []))
                   for t in p.get("targets", [])]
        queries += [(f"annotation {a.get('name', '')!r}", a) for a in dash.get("annotations", {}).get("list", [])]
        for where, target in queries:
            if (target.get("datasource") or {}).get("type") != "prometheus" or not target.get("expr"):
                continue
            said = self.problem(grafana_interpolated(target["expr"]))
            if said is not None:
                raise GenerateError(f"dashboard {uid}: {where}: query {target.get('refId', '')}: the generated PromQL "
                                    f"does not parse ({said}): {target['expr']!r}")


def grafana_interpolated(expr: str) -> str:
    """A panel query as Grafana would send it, near enough for the grammar: interval variables
    become a duration (or a number), any other variable a name."""
    expr = _GRAFANA_NUMBER.sub("300", expr)
    expr = _GRAFANA_DURATION.sub("5m", expr)
    return _GRAFANA_OTHER.sub("x", expr)


def _parse(text: str) -> str | None:
    try:
        parse(text)
    except PromQLError as exc:
        return str(exc).strip() or "invalid PromQL"
    return None
