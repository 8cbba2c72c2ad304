"""Read YAML safely and remember the line of every key path, for pointed error messages."""

from __future__ import annotations

import gc
from contextlib import contextmanager

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

    def nearest(self, path: tuple) -> tuple:
        """`path`, or its nearest ancestor that is in the file (a path of a document rewritten
        into another shape may not be)."""
        path = tuple(path)
        while path and path not in self._key_lines and path not in self._lines:
            path = path[:-1]
        return path

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


# Budgets for what one spec may expand to. YAML aliases share a node, so a few lines can stand
# for billions of nodes ("billion laughs") and an alias inside its own anchor for an infinite
# structure; a real spec uses a handful of aliases, a few thousand nodes and a nesting depth
# below ten.
MAX_ALIASES = 100
MAX_NODES = 100_000
MAX_DEPTH = 64


def parse_yaml(text: str, filename: str) -> tuple[object, LineMap]:
    """Parse one YAML document with the safe loader. Duplicate keys are errors (PyYAML would
    silently keep the last one). Aliases are expanded within the budgets above: past them, or
    for an alias inside its own anchor, the spec is refused at the line of the alias."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)(text)
    with _collector_paused():
        try:
            node = _syntax(filename, loader.get_single_node)
            if node is None:
                raise SpecError([Problem(filename, 1, "", "the spec is empty")])
            return _Builder(loader, filename).document(node)
        finally:
            loader.dispose()


@contextmanager
def _collector_paused():
    """Python's cycle collector off while a spec is composed: the 120,000 nodes and marks of a
    1,000-service spec are all alive until it is built, and each collection while they grow
    walks them all again (a third of parsing). Back on after, unless something else had it off."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def parse_yaml_documents(text: str, filename: str) -> list[tuple[object, LineMap, int]]:
    """Every document of a YAML stream (`---` separated), each as (data, lines, first line),
    read as parse_yaml reads one; the alias and node budgets hold for the whole stream. Empty
    documents are left out. A syntax error anywhere refuses the whole file at its line."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)(text)
    builder = _Builder(loader, filename)
    out = []
    try:
        while _syntax(filename, loader.check_node):
            node = _syntax(filename, loader.get_node)
            if node is None or (isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null"):
                continue
            data, lines = builder.document(node)
            out.append((data, lines, node.start_mark.line + 1))
    finally:
        loader.dispose()
    return out


def _syntax(filename: str, step):
    """`step()` of the loader, with its syntax errors as problems at their line."""
    try:
        return step()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        msg = " ".join(filter(None, [exc.context, exc.problem])) or "invalid YAML"
        raise SpecError([Problem(filename, line, "", f"YAML syntax error: {msg}")]) from None
    except yaml.YAMLError as exc:
        raise SpecError([Problem(filename, 1, "", f"YAML error: {exc}")]) from None


class _Builder:
    """Builds plain data from composed nodes, recording the line of every key path, within the
    alias and node budgets (shared by every document one builder builds)."""

    def __init__(self, loader, filename: str) -> None:
        self.loader = loader
        self.filename = filename
        self.count = {"nodes": 0, "aliases": 0}

    def document(self, node: yaml.Node) -> tuple[object, LineMap]:
        loader, filename, count = self.loader, self.filename, self.count
        lines = LineMap()
        problems: list[Problem] = []
        seen: set[int] = set()     # nodes built once already: reaching one again is an alias use
        active: set[int] = set()   # nodes being built now: reaching one of them is a cycle

        def refuse(line: int, path: tuple, message: str) -> SpecError:
            return SpecError([Problem(filename, line, render_path(path), message)])

        def build(n: yaml.Node, path: tuple, where: int, expanding: bool) -> object:
            """`where` is the line of the spec text being built: inside an alias's expansion
            the nodes' own marks point at the anchor, not at the alias being expanded."""
            if id(n) in active:
                raise refuse(where, path, "a YAML alias refers to the node that contains it: "
                                          "the structure would be infinite")
            if id(n) in seen and not expanding:
                expanding = True
                count["aliases"] += 1
                if count["aliases"] > MAX_ALIASES:
                    raise refuse(where, path, f"more than {MAX_ALIASES} YAML alias uses; a spec needs "
                                              "far fewer (an alias bomb?)")
            count["nodes"] += 1
            if count["nodes"] > MAX_NODES:
                raise refuse(where, path, f"the spec expands to more than {MAX_NODES} YAML nodes "
                                          "(aliases of aliases: an alias bomb?)")
            if len(path) > MAX_DEPTH:
                raise refuse(where, path[:8], f"the spec nests deeper than {MAX_DEPTH} levels")
            if not expanding:
                where = n.start_mark.line + 1
            seen.add(id(n))
            lines.record(path, where)
            if isinstance(n, (yaml.MappingNode, yaml.SequenceNode)):
                active.add(id(n))
                try:
                    return build_collection(n, path, where, expanding)
                finally:
                    active.discard(id(n))
            return loader.construct_object(n)

        def build_collection(n: yaml.Node, path: tuple, where: int, expanding: bool) -> object:
            if isinstance(n, yaml.SequenceNode):
                return [build(item, path + (i,), where, expanding) for i, item in enumerate(n.value)]
            out: dict = {}
            for key_node, value_node in n.value:
                key_line = where if expanding else key_node.start_mark.line + 1
                if not isinstance(key_node, yaml.ScalarNode):
                    problems.append(Problem(filename, key_line, render_path(path), "keys must be plain scalars"))
                    continue
                key = loader.construct_object(key_node)
                if not isinstance(key, str):
                    key = str(key)
                child = path + (key,)
                if key in out:
                    problems.append(Problem(filename, key_line, render_path(child), "duplicate key"))
                    continue
                alias = expanding or id(value_node) in seen
                out[key] = build(value_node, child, key_line, expanding)
                lines.record(child, key_line if alias else value_node.start_mark.line + 1, key_line)
            return out

        try:
            data = build(node, (), 1, False)
        except yaml.constructor.ConstructorError as exc:
            mark = exc.problem_mark
            raise SpecError([Problem(filename, (mark.line + 1) if mark else 1, "",
                                     f"YAML error: {exc.problem}")]) from None
        finally:
            # the two closures refer to each other: a cycle that kept the loader, and through
            # it every node, alive until the next full collection
            build = build_collection = None  # type: ignore[assignment]
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
