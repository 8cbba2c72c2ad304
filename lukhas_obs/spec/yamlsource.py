"""Read YAML safely and remember the line of every key path, for pointed error messages."""

from __future__ import annotations

import yaml

from lukhas_obs.errors import Problem, SpecError, render_path


class LineMap:
    """Maps key paths (tuples of str/int) to 1-based line numbers in the source file."""

    def __init__(self) -> None:
        self._lines: dict[tuple, int] = {}
        self._key_lines: dict[tuple, int] = {}

    def record(self, path: tuple, line: int, key_line: int | None = None) -> None:
        self._lines[path] = line
        if key_line is not None:
            self._key_lines[path] = key_line

    def line(self, path: tuple) -> int:
        """The line of `path`, or of its nearest ancestor that exists (a missing key is reported
        where its parent mapping starts)."""
        path = tuple(path)
        while path:
            if path in self._key_lines:
                return self._key_lines[path]
            if path in self._lines:
                return self._lines[path]
            path = path[:-1]
        return self._lines.get((), 1)


def parse_yaml(text: str, filename: str) -> tuple[object, LineMap]:
    """Parse one YAML document with the safe loader. Duplicate keys are errors (PyYAML would
    silently keep the last one)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)(text)
    lines = LineMap()
    problems: list[Problem] = []
    try:
        try:
            node = loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = mark.line + 1 if mark else 1
            msg = " ".join(filter(None, [exc.context, exc.problem])) or "invalid YAML"
            raise SpecError([Problem(filename, line, "", f"YAML syntax error: {msg}")]) from None
        except yaml.YAMLError as exc:
            raise SpecError([Problem(filename, 1, "", f"YAML error: {exc}")]) from None
        if node is None:
            raise SpecError([Problem(filename, 1, "", "the spec is empty")])

        def build(n: yaml.Node, path: tuple) -> object:
            lines.record(path, n.start_mark.line + 1)
            if isinstance(n, yaml.MappingNode):
                out: dict = {}
                for key_node, value_node in n.value:
                    if not isinstance(key_node, yaml.ScalarNode):
                        problems.append(Problem(filename, key_node.start_mark.line + 1,
                                                render_path(path), "keys must be plain scalars"))
                        continue
                    key = loader.construct_object(key_node)
                    if not isinstance(key, str):
                        key = str(key)
                    child = path + (key,)
                    if key in out:
                        problems.append(Problem(filename, key_node.start_mark.line + 1,
                                                render_path(child), "duplicate key"))
                        continue
                    out[key] = build(value_node, child)
                    lines.record(child, value_node.start_mark.line + 1, key_node.start_mark.line + 1)
                return out
            if isinstance(n, yaml.SequenceNode):
                return [build(item, path + (i,)) for i, item in enumerate(n.value)]
            return loader.construct_object(n)

        try:
            data = build(node, ())
        except yaml.constructor.ConstructorError as exc:
            mark = exc.problem_mark
            raise SpecError([Problem(filename, (mark.line + 1) if mark else 1, "",
                                     f"YAML error: {exc.problem}")]) from None
    finally:
        loader.dispose()
    if problems:
        raise SpecError(problems)
    return data, lines



class Sources:
    """Where each part of a (possibly merged) spec came from: a path in the merged document is
    located in the file, and at the line, that holds it."""

    def __init__(self) -> None:
        self._parts: list[tuple[tuple, str, LineMap, tuple]] = []

    @classmethod
    def single(cls, filename: str, lines: LineMap) -> Sources:
        out = cls()
        out.add((), filename, lines, ())
        return out

    def add(self, merged_prefix: tuple, filename: str, lines: LineMap, original_prefix: tuple) -> None:
        self._parts.append((tuple(merged_prefix), filename, lines, tuple(original_prefix)))

    def locate(self, path: tuple) -> tuple[str, int, tuple]:
        """(file, line, the path as written in that file)."""
        path = tuple(path)
        best = max((p for p in self._parts if path[: len(p[0])] == p[0]), key=lambda p: len(p[0]))
        prefix, filename, lines, original = best
        local = original + path[len(prefix):]
        return filename, lines.line(local), local
