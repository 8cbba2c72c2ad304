"""Thin click layer: parse options, call the library, map errors to exit codes."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from lukhas_obs import __version__
from lukhas_obs.errors import SpecError

DEFAULT_SPEC = "specs/lukhas.yaml"
DEFAULT_OUT = "generated"

EXIT_OK = 0
EXIT_DIFF = 1
EXIT_USAGE = 2


def _spec_problems(exc: SpecError) -> None:
    for p in exc.problems:
        click.echo(str(p), err=True)
    n = len(exc.problems)
    click.echo(f"lukhas-obs: {n} problem{'s' if n != 1 else ''} in the spec; nothing was written.", err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="lukhas-obs")
def main() -> None:
    """Monitoring and alerting as code for the LUKHAS platform, plus an SLO gate for deploys."""


@main.command()
@click.option("--spec", "spec_path", default=DEFAULT_SPEC, show_default=True,
              type=click.Path(dir_okay=False), help="The spec to generate from.")
@click.option("--out", "out_dir", default=DEFAULT_OUT, show_default=True, type=click.Path(file_okay=False),
              help="Folder to write (replaced as a whole, atomically).")
@click.option("--check", is_flag=True,
              help="Write nothing; exit 1 and name the files that differ from what the spec produces.")
def generate(spec_path: str, out_dir: str, check: bool) -> None:
    """Generate every monitoring artefact from the spec.

    \b
    Exit codes: 0 written (or, with --check, up to date); 1 --check found differences;
    2 the spec is invalid (every problem is listed as FILE:LINE: key.path: message, and
    nothing is written).
    """
    from lukhas_obs.generate import render
    from lukhas_obs.generate.writer import diff_tree, write_tree
    from lukhas_obs.spec import load_spec

    try:
        spec = load_spec(spec_path)
    except SpecError as exc:
        _spec_problems(exc)
        sys.exit(EXIT_USAGE)
    files = render(spec)
    if check:
        differ = diff_tree(files, out_dir)
        if differ:
            click.echo(f"{out_dir}/ does not match {spec.source}; run `make generate`. Files that differ:", err=True)
            for rel in differ:
                click.echo(f"  {Path(out_dir, rel).as_posix()}", err=True)
            sys.exit(EXIT_DIFF)
        click.echo(f"{out_dir}/ is up to date with {spec.source} ({len(files)} files).")
        return
    write_tree(files, out_dir)
    click.echo(f"wrote {len(files)} files to {out_dir}/ from {spec.source}")


@main.command()
@click.option("--spec", "spec_path", default=DEFAULT_SPEC, show_default=True, type=click.Path(dir_okay=False))
def validate(spec_path: str) -> None:
    """Check a spec without writing anything. Exit 0 when valid, 2 with every problem otherwise."""
    from lukhas_obs.spec import load_spec

    try:
        spec = load_spec(spec_path)
    except SpecError as exc:
        _spec_problems(exc)
        sys.exit(EXIT_USAGE)
    click.echo(f"{spec.source}: valid ({len(spec.services)} services, {len(spec.slos)} SLOs, "
               f"{len(spec.alerts)} alerts)")


@main.command()
def schema() -> None:
    """Print the spec's JSON Schema (for editors and CI linters)."""
    from lukhas_obs.spec.loader import schema as load_schema
    import json

    click.echo(json.dumps(load_schema(), indent=2))
