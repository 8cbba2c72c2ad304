"""The spec document against its JSON Schema, and the text rules no schema says (control
characters, tabs, line breaks where a value is one line): every problem at its line."""

from __future__ import annotations

import functools
import json
import math
import re
from importlib import resources

import jsonschema

from lukhas_obs.errors import Problem, render_path
from lukhas_obs.spec.defaults import with_defaults
from lukhas_obs.spec.yamlsource import Sources


def schema() -> dict:
    """The spec's JSON Schema, with every optional key's `default` taken from the model (defaults.py)."""
    text = resources.files("lukhas_obs.spec").joinpath("schema.json").read_text(encoding="utf-8")
    return with_defaults(json.loads(text))


# What a team file of a folder of specs may hold (spec/loader.py). Every key but `team` is the whole
# spec's own key, with the whole spec's definition: services, metrics and alerts are merged into the
# spec and are the same things there.
TEAM_KEYS = ("apiVersion", "team", "services", "metrics", "alerts")
TEAM_NAME = {"type": "string", "minLength": 1,
             "description": "The team this file belongs to (a label for people; lukhas-obs import --team writes it)"}


def team_schema() -> dict:
    """The JSON Schema of a team file, cut from the spec's (schema(), defaults included): its keys'
    definitions are the spec's own, not copies, so the two cannot drift; the loader checks team files
    against it. apiVersion is required (it must be the shared file's, the one version there is);
    services may be left out or empty (a team file may add only metrics or alerts: the spec as a
    whole needs a service, not each file)."""
    spec = schema()
    props = spec["properties"]
    services = {k: v for k, v in props["services"].items() if k != "minItems"}
    out = {
        "$schema": spec["$schema"],
        "$id": spec["$id"].rsplit("/", 1)[0] + "/team.json",
        "title": f"lukhas-obs team file of a folder of specs, apiVersion {props['apiVersion']['const']}",
        "description": "A file beside a folder's shared file (the one with severities): services, and "
                       "optionally metrics and alerts, merged into the spec; see `lukhas-obs schema` for the rest.",
        "type": "object",
        "additionalProperties": False,
        "required": ["apiVersion"],
        "properties": {"apiVersion": props["apiVersion"], "team": TEAM_NAME, "services": services,
                       "metrics": props["metrics"], "alerts": props["alerts"]},
    }
    out["$defs"] = {name: spec["$defs"][name] for name in sorted(_referenced_defs(out, spec["$defs"]))}
    return out


def _referenced_defs(node, defs: dict) -> set[str]:
    """The names of the `$defs` that `node` refers to, directly or through one another."""
    found: set[str] = set()
    todo = [node]
    while todo:
        item = todo.pop()
        if isinstance(item, dict):
            ref = item.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                name = ref.removeprefix("#/$defs/")
                if name not in found:
                    found.add(name)
                    todo.append(defs[name])
            todo.extend(item.values())
        elif isinstance(item, list):
            todo.extend(item)
    return found


_VALIDATORS: dict[str, jsonschema.protocols.Validator] = {}


@functools.cache
def _ecma_regex(pattern: str) -> re.Pattern:
    """A schema pattern with ECMA-262's `$` (end of the text): Python's `$` also matches before
    a final newline, which would let 'checkout\\n' pass ^[a-z][a-z0-9-]*$."""
    out, in_class, i = [], False, 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            out.append(pattern[i:i + 2])
            i += 2
            continue
        if c == "[":
            in_class = True
        elif c == "]":
            in_class = False
        out.append("\\Z" if c == "$" and not in_class else c)
        i += 1
    return re.compile("".join(out))


def _pattern(validator, pattern, instance, schema):
    if validator.is_type(instance, "string") and not _ecma_regex(pattern).search(instance):
        yield jsonschema.ValidationError(f"{instance!r} does not match {pattern!r}")


def _validator(kind: str = "spec") -> jsonschema.protocols.Validator:
    """The validator of a whole spec ("spec") or of a team file ("team"), built once."""
    if kind not in _VALIDATORS:
        # the schema itself is checked against the metaschema in the tests, not at every run:
        # that check is most of a cold `slo-gate` start.
        # An integer is an int: JSON Schema counts 8080.0 as one, but it would be written into
        # the configs as 8080.0.
        base = jsonschema.Draft202012Validator
        types = base.TYPE_CHECKER.redefine(
            "integer", lambda _checker, value: isinstance(value, int) and not isinstance(value, bool))
        cls = jsonschema.validators.extend(base, validators={"pattern": _pattern}, type_checker=types)
        _VALIDATORS[kind] = cls(team_schema() if kind == "team" else schema())
    return _VALIDATORS[kind]


def spec_keys() -> frozenset[str]:
    """The top-level keys of a whole spec."""
    return frozenset(_validator("spec").schema["properties"])


def problem_at(sources: Sources, path: tuple, message: str) -> Problem:
    filename, line, local = sources.locate(path)
    return Problem(filename, line, render_path(local), message)


# Where a string may span lines (or hold a tab): prose, and PromQL/LogQL (which ignore them).
MULTILINE_KEYS = frozenset({"description", "summary", "help", "title", "expr", "errors", "good", "total",
                            "errors_query", "good_query", "total_query", "error_ratio",
                            "selector", "requests", "metric"})


def _text_problem(text: str, multiline: bool) -> str | None:
    if text.isprintable():
        return None
    for c in text:
        if c in "\n\r\t" and multiline:
            continue
        if c in "\n\r":
            return (f"{text!r} contains a line break; only descriptions, summaries, help texts and "
                    "PromQL may span lines")
        if ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0:
            return f"{text!r} contains the control character U+{ord(c):04X}"
    return None


def text_problems(data) -> dict[tuple, tuple[tuple, str]]:
    """What no value of a spec may be, checked in one walk of the document:
    - names, labels and settings are one line of visible text: a newline or other control
      character in them would end up in file names, label values and configs;
    - YAML's .nan and .inf are numbers to the JSON Schema (every comparison with NaN is false),
      but no threshold, objective or ratio can be one.
    {path of the value: (path to report at, message)}; a bad key is reported at its mapping, as
    the key itself cannot be part of a one-line key path."""
    problems: dict[tuple, tuple[tuple, str]] = {}

    def walk(node, path: tuple, key) -> None:
        if isinstance(node, float) and not math.isfinite(node):
            problems[path] = (path, f"{node!r} is not a finite number")
        elif isinstance(node, str):
            msg = _text_problem(node, key in MULTILINE_KEYS)
            if msg:
                problems[path] = (path, msg)
        elif isinstance(node, dict):
            for k, value in node.items():
                msg = _text_problem(k, False) if isinstance(k, str) else None
                if msg:
                    problems[path + (k,)] = (path, f"the key {msg}")
                walk(value, path + (k,), k)
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, path + (i,), key)

    walk(data, (), None)
    return problems


def _branch_errors(errors):
    """A value that fits none of a oneOf's forms (a period: a duration, or {calendar: ...}) is
    reported by the form of its own type: '7 days' does not match a duration."""
    for err in errors:
        inner = [e for e in err.context or () if e.validator != "type"] if err.validator == "oneOf" else []
        yield from inner or [err]


def schema_problems(data, sources: Sources, kind: str = "spec") -> list[Problem]:
    """The document against the schema of a whole spec ("spec") or of a team file ("team")."""
    text = text_problems(data)
    problems = [problem_at(sources, where, msg) for where, msg in text.values()]
    for err in _branch_errors(_validator(kind).iter_errors(data)):
        path = tuple(err.absolute_path)
        msg = err.message
        if err.validator == "pattern" and (path in text or path + (err.instance,) in text):
            continue  # already said: it holds a control character
        if err.validator == "additionalProperties" and isinstance(err.instance, dict):
            allowed = set(err.schema.get("properties", {}))
            for key in sorted(set(err.instance) - allowed):
                known = ", ".join(sorted(allowed)) or "none"
                problems.append(problem_at(sources, path + (key,), f"unknown key (allowed here: {known})"))
            continue
        if err.validator == "required":
            msg = err.message.replace("is a required property", "is required")
        elif err.validator == "pattern":
            # a pattern with a $comment is shown by what it means, not as a regular expression
            msg = f"{err.instance!r} does not match {err.schema.get('$comment') or err.validator_value}"
        elif err.validator == "maximum":
            msg = f"{err.instance} is above {err.validator_value}"
        elif err.validator in ("minimum", "exclusiveMinimum"):
            or_equal = "or equal to " if err.validator == "exclusiveMinimum" else ""
            msg = f"{err.instance} is below {or_equal}{err.validator_value}"
        elif err.validator == "maxProperties" and path and path[-1] == "sli":
            msg = f"an SLI has exactly one kind, found {', '.join(sorted(err.instance))}"
        elif err.validator == "not" and isinstance(err.validator_value, dict) and "$comment" in err.validator_value:
            msg = f"{err.instance!r} is {err.validator_value['$comment']}"
        elif err.validator == "const":
            msg = f"{err.instance!r} is not supported; expected {err.validator_value!r}"
        problems.append(problem_at(sources, path, msg))
    return problems


