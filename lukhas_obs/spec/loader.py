"""Load a spec: YAML (safe, with lines, yamlsource.py) -> JSON Schema (schemacheck.py) -> the model
(build.py: conversion and meaning checks; sanity.py: cross-references on the model).

Every problem is collected and reported at once as FILE:LINE: key.path: message."""

from __future__ import annotations

from pathlib import Path

from lukhas_obs import model as m
from lukhas_obs.errors import Problem, SpecError, render_path
from lukhas_obs.spec.build import ModelBuilder
from lukhas_obs.spec.schemacheck import TEAM_KEYS, problem_at, schema_problems, spec_keys
from lukhas_obs.spec.yamlsource import LineMap, Sources, parse_yaml


def load_spec(path: str | Path, leave_out: Path | None = None, *, services_optional: bool = False) -> m.Spec:
    """A spec file, or a folder of them (see load_spec_dir; `leave_out`: a file of the folder to
    read as if it were not there, such as the team file an import is about to replace).
    `services_optional`: a spec without services is read (its model has none), as the shared file
    a folder starts with before an import writes its first team file; validate still needs one."""
    p = Path(path)
    if p.is_dir():
        return load_spec_dir(p, leave_out, services_optional=services_optional)
    name = display_name(p)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError([Problem(name, 1, "", "no such file")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError([Problem(name, 1, "", f"cannot read the spec: {exc}")]) from None
    return load_spec_text(text, name, services_optional=services_optional)


def load_spec_dir(folder: Path, leave_out: Path | None = None, *, services_optional: bool = False) -> m.Spec:
    """A folder of spec files: exactly one holds the shared definitions (the file with
    `severities`, plus receivers, Alertmanager, Prometheus and gate settings and the common
    metric catalogue); every other file is a team's, holding `services`, and may add `metrics`
    and `alerts`: each is checked against the team-file schema (schemacheck.team_schema(), what
    `lukhas-obs schema --team` prints), at its own lines. Names must not collide across files;
    errors name both files. Files are merged in name order, so the output is deterministic."""
    display = display_name(folder).rstrip("/") + "/"
    files = _spec_files(folder, leave_out)
    if not files:
        raise SpecError([Problem(display, 1, "", "no .yaml spec files in this folder")])
    parsed, problems = [], []
    for f in files:
        name = display_name(f)
        try:
            data, lines = parse_yaml(f.read_text(encoding="utf-8"), name)
        except SpecError as exc:
            problems += exc.problems
            continue
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(Problem(name, 1, "", f"cannot read the spec: {exc}"))
            continue
        if not isinstance(data, dict):
            problems.append(Problem(name, 1, "", "a spec file holds a mapping"))
            continue
        parsed.append((name, data, lines))
    if problems:
        raise SpecError(problems)
    bases = [p for p in parsed if "severities" in p[1]]
    if len(bases) != 1:
        found = ", ".join(p[0] for p in bases) or "none"
        raise SpecError([Problem(display, 1, "", "exactly one file must hold the shared definitions "
                                                 f"(severities, receivers, ...); found {found}")])
    base_name, base, base_lines = bases[0]
    merged = {**base, "services": list(base.get("services") or []), "alerts": list(base.get("alerts") or []),
              "metrics": dict(base.get("metrics") or {})}
    sources = Sources.single(base_name, base_lines)
    owners: dict[tuple[str, str], tuple[str, int]] = {}

    def claim(kind: str, key, name: str, lines: LineMap, path: tuple) -> None:
        if not isinstance(key, str):
            return
        if (kind, key) in owners:
            owner, line = owners[(kind, key)]
            where = f"{owner}:{line}"
            problems.append(Problem(name, lines.line(path), render_path(path),
                                    f"{kind[:-1]} {key!r} is already defined in {where}"))
        else:
            owners[(kind, key)] = (name, lines.line(path))

    for kind in ("services", "alerts"):
        for j, item in enumerate(merged[kind]):
            claim(kind, isinstance(item, dict) and item.get("name"), base_name, base_lines, (kind, j, "name"))
    for key in merged["metrics"]:
        claim("metrics", key, base_name, base_lines, ("metrics", key))
    for name, data, lines in parsed:
        if name == base_name:
            continue
        # a key of the shared file is said to be one; any other unknown key (a typo) is the schema's
        shared = sorted(key for key in set(data) - set(TEAM_KEYS) if key in spec_keys())
        for key in shared:
            problems.append(Problem(name, lines.line((key,)), key,
                                    f"a team file holds only {', '.join(TEAM_KEYS)}; "
                                    f"{key} belongs in the shared file {base_name}"))
        shape = schema_problems({k: v for k, v in data.items() if k not in shared}, Sources.single(name, lines),
                                "team")
        if shape:
            problems += shape
            continue
        for kind in ("services", "alerts"):
            for j, item in enumerate(data.get(kind) or []):
                claim(kind, isinstance(item, dict) and item.get("name"), name, lines, (kind, j, "name"))
                sources.add((kind, len(merged[kind])), name, lines, (kind, j))
                merged[kind].append(item)
        for key, body in (data.get("metrics") or {}).items():
            claim("metrics", key, name, lines, ("metrics", key))
            sources.add(("metrics", key), name, lines, ("metrics", key))
            merged["metrics"].setdefault(key, body)
    if problems:
        raise SpecError(problems)
    if not merged["services"] and not services_optional:
        raise SpecError([Problem(base_name, 1, "", f"no file of {display} declares services: add a team file with "
                                                   "`services:` beside the shared file (or list them in it)")])
    if not merged["alerts"]:
        merged.pop("alerts")
    return _validated(merged, sources, display, services_optional)


def _spec_files(folder: Path, leave_out: Path | None) -> list[Path]:
    skip = leave_out.resolve() if leave_out is not None else None
    return sorted(f for f in folder.iterdir()
                  if f.is_file() and f.suffix in (".yaml", ".yml") and f.resolve() != skip)


def metric_origins(path: str | Path, leave_out: Path | None = None) -> dict[str, str]:
    """`FILE:LINE` where each catalogue metric of a spec (file or folder, as load_spec reads it)
    is declared: which file of a folder holds an entry is not in the model."""
    p = Path(path)
    out: dict[str, str] = {}
    for f in _spec_files(p, leave_out) if p.is_dir() else [p]:
        name = display_name(f)
        try:
            data, lines = parse_yaml(f.read_text(encoding="utf-8"), name)
        except (SpecError, OSError, UnicodeDecodeError):
            continue
        metrics = data.get("metrics") if isinstance(data, dict) else None
        for key in metrics if isinstance(metrics, dict) else ():
            out.setdefault(key, f"{name}:{lines.line(('metrics', key))}")
    return out


def display_name(p: Path) -> str:
    """The spec's path relative to the working folder when it lies inside it (stable in headers)."""
    try:
        return p.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return p.as_posix()


def load_spec_text(text: str, filename: str, *, services_optional: bool = False) -> m.Spec:
    data, lines = parse_yaml(text, filename)
    sources = Sources.single(filename, lines)
    if isinstance(data, dict) and "team" in data and "severities" not in data:
        # a folder's team file on its own: its missing shared keys are not the problem
        raise SpecError([problem_at(sources, ("team",), "this is a team file of a folder of specs: it holds "
                                                        "services, not the shared severities and receivers; "
                                                        "validate the folder that holds it with its shared file")])
    return _validated(data, sources, filename, services_optional)


def _validated(data, sources: Sources, display: str, services_optional: bool = False) -> m.Spec:
    no_services = services_optional and isinstance(data, dict) and data.get("services", []) == []
    if no_services:
        data = {**data, "services": []}
    problems = schema_problems(data, sources)
    if no_services:   # the empty list's only possible schema problem is its minItems
        problems = [p for p in problems if p.path != "services"]
    if problems:
        raise SpecError(problems)
    builder = ModelBuilder(data, sources, display)
    spec = builder.build()
    if builder.problems:
        raise SpecError(builder.problems)
    return spec


