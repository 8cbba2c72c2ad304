"""Errors that point at the user's spec: FILE:LINE: key.path: message."""

from __future__ import annotations

from dataclasses import dataclass


def render_path(path: tuple) -> str:
    """('services', 0, 'slos', 1, 'objective') -> 'services[0].slos[1].objective'."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


@dataclass(frozen=True, order=True)
class Problem:
    file: str
    line: int
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}"
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class SpecError(Exception):
    """One or more problems in a spec. Always carries every problem found, sorted by line."""

    def __init__(self, problems: list[Problem]):
        self.problems = sorted(set(problems))
        super().__init__("\n".join(str(p) for p in self.problems))


class GenerateError(Exception):
    """A generator could not produce output for a valid spec (a bug or an unsupported combination)."""
