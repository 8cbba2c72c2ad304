"""Rewrite the README's CLI sections from the real --help (run after changing the CLI):
    .venv/bin/python scripts/readme_cli.py
The test suite fails when the README and --help disagree."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = {"cli-gate": [["slo-gate"], ["slo-gate", "backtest"]],
          "cli-serve": [["slo-gate", "serve"]],
          "cli-all": [[], ["generate"], ["validate"], ["schema"], ["demo"], ["export", "openslo"],
                      ["import", "openslo"], ["import", "sloth"]]}


def help_text(command: list[str]) -> str:
    out = subprocess.run([sys.executable, "-m", "lukhas_obs", *command, "--help"], capture_output=True, text=True,
                         check=True, env={"COLUMNS": "80", "PATH": "/usr/bin:/bin"})
    return out.stdout.rstrip()


def render(commands: list[list[str]]) -> str:
    parts = []
    for cmd in commands:
        parts.append("```\n$ lukhas-obs " + " ".join(cmd + ["--help"]) + "\n" + help_text(cmd) + "\n```")
    return "\n\n".join(parts)


def main() -> None:
    text = README.read_text()
    for name, commands in BLOCKS.items():
        pattern = re.compile(rf"(<!-- {name}:begin -->\n).*?(<!-- {name}:end -->)", re.S)
        if not pattern.search(text):
            sys.exit(f"README.md has no <!-- {name}:begin --> ... <!-- {name}:end --> block")
        text = pattern.sub(lambda m, commands=commands: m.group(1) + render(commands) + "\n" + m.group(2), text)
    README.write_text(text)


if __name__ == "__main__":
    main()
