"""Thin click layer: parse options, call the library, map errors to exit codes."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from lukhas_obs import __version__
from lukhas_obs.errors import GenerateError, SpecError

DEFAULT_SPEC = "specs/lukhas.yaml"
DEFAULT_OUT = "generated"
DEFAULT_DEPLOY = "deployment"

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
@click.argument("spec_arg", metavar="[SPEC]", required=False, type=click.Path(exists=True))
@click.option("--spec", "spec_path", default=DEFAULT_SPEC, show_default=True,
              type=click.Path(), help="The spec file, or a folder of team specs with one shared file.")
@click.option("--out", "out_dir", default=DEFAULT_OUT, show_default=True, type=click.Path(file_okay=False),
              help="Folder to write (replaced as a whole, atomically).")
@click.option("--deployment-out", "deploy_dir", default=DEFAULT_DEPLOY, show_default=True,
              type=click.Path(file_okay=False), help="Folder for the compose stack (its other files are kept).")
@click.option("--check", is_flag=True,
              help="Write nothing; exit 1 and name the files that differ from what the spec produces.")
def generate(spec_arg: str | None, spec_path: str, out_dir: str, deploy_dir: str, check: bool) -> None:
    """Generate every monitoring artefact from the spec.

    \b
    Exit codes: 0 written (or, with --check, up to date); 1 --check found differences;
    2 the spec is invalid (every problem is listed as FILE:LINE: key.path: message, and
    nothing is written).
    """
    from lukhas_obs.generate import render, render_deployment
    from lukhas_obs.generate.writer import diff_files, diff_tree, write_files, write_tree
    from lukhas_obs.spec import load_spec

    try:
        spec = load_spec(spec_arg or spec_path)
    except SpecError as exc:
        _spec_problems(exc)
        sys.exit(EXIT_USAGE)
    try:
        files = render(spec)
        deployment = render_deployment(spec)
    except GenerateError as exc:
        click.echo(f"{spec.source}: {exc}; nothing was written.", err=True)
        sys.exit(EXIT_USAGE)
    if check:
        differ = [Path(out_dir, rel).as_posix() for rel in diff_tree(files, out_dir)]
        differ += [Path(deploy_dir, rel).as_posix() for rel in diff_files(deployment, deploy_dir)]
        if differ:
            click.echo(f"{out_dir}/ and {deploy_dir}/ do not match {spec.source}; run `make generate`. "
                       "Files that differ:", err=True)
            for rel in differ:
                click.echo(f"  {rel}", err=True)
            sys.exit(EXIT_DIFF)
        click.echo(f"{out_dir}/ and {deploy_dir}/ are up to date with {spec.source} "
                   f"({len(files) + len(deployment)} files).")
        return
    write_tree(files, out_dir)
    write_files(deployment, deploy_dir)
    click.echo(f"wrote {len(files)} files to {out_dir}/ and {len(deployment)} to {deploy_dir}/ from {spec.source}")


@main.command()
@click.argument("spec_arg", metavar="[SPEC]", required=False, type=click.Path(exists=True))
@click.option("--spec", "spec_path", default=DEFAULT_SPEC, show_default=True, type=click.Path())
def validate(spec_arg: str | None, spec_path: str) -> None:
    """Check a spec (file or folder) without writing anything. Exit 0 when valid, 2 with every
    problem otherwise."""
    from lukhas_obs.spec import load_spec

    try:
        spec = load_spec(spec_arg or spec_path)
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


GATE_HELP = """Decide whether a deploy may go on, from a live Prometheus.

\b
Modes (runbook 3.1-3.3, 5.1, 7.1):
  smoke     every service has targets and all are up, /health probes pass, error ratio
            and latency within the SLO targets over the window, rule evaluation healthy
  canary    canary vs baseline (label from the spec), two-proportion test with an
            effect-size floor, minimum traffic per side; prints the next traffic weight
  rollback  runbook 5.1 triggers: >5 % errors for 3 minutes, >=50 % services down,
            p99 > 5 s for 5 minutes, DB pool exhausted, SLO fast burn (14.4x on 5m and 1h)
  budget    refuse a promotion when an SLO's error budget left is under the threshold

\b
Exit codes:
  0  PASS          every check measured and passed (canary: promote)
  1  FAIL          a check measured a failure (canary, rollback: roll back)
  2  usage or spec error
  3  INCONCLUSIVE  could not tell: no data, too little traffic, stale scrapes (hold)
  4  ERROR         Prometheus unreachable or a query failed after retries (hold)
When checks disagree the worst wins: FAIL, then ERROR, then INCONCLUSIVE, then PASS.
"""


def _parse_time(value: str | None) -> float | None:
    if value is None:
        return None
    from datetime import datetime

    try:
        return float(value)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise click.BadParameter(f"{value!r} is neither unix seconds nor RFC 3339") from None


def _duration(value: str, what: str) -> float:
    from lukhas_obs.durations import parse_duration

    try:
        return parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=what) from None


def _gate_options(fn):
    """Options every gate command shares: what to read, from where, how patiently."""
    decorators = [
        click.option("--mode", type=click.Choice(["smoke", "canary", "rollback", "budget"]), default="smoke",
                     show_default=True),
        click.option("--window", default=None, help="Window to judge, e.g. 5m (default: gates.window in the spec)."),
        click.option("--spec", "spec_path", default=DEFAULT_SPEC, show_default=True, type=click.Path()),
        click.option("--prometheus-url", envvar="LUKHAS_PROMETHEUS_URL", default="http://127.0.0.1:9090",
                     show_default=True, help="Any Prometheus-compatible query API (env LUKHAS_PROMETHEUS_URL)."),
        click.option("--service", "services", multiple=True, help="Only these services (repeatable; default: all)."),
        click.option("--timeout", default="30s", show_default=True,
                     help="Deadline for all queries of one evaluation, retries included."),
        click.option("--retries", type=int, default=3, show_default=True, help="Retries per query on 5xx/timeouts."),
        click.option("--bearer-token-file", type=click.Path(exists=True, dir_okay=False), default=None,
                     help="Send Authorization: Bearer <the file's content>."),
        click.option("--ca-file", type=click.Path(exists=True, dir_okay=False), default=None,
                     help="Verify the server's TLS certificate against this CA bundle."),
        click.option("--basic-auth-file", type=click.Path(exists=True, dir_okay=False), default=None,
                     help="HTTP basic auth from a file holding user:password."),
        click.option("--tenant", default=None, help="Sent as X-Scope-OrgID (Mimir, Cortex, Loki-style tenancy)."),
    ]
    for decorate in reversed(decorators):
        fn = decorate(fn)
    return fn


def _gate_setup(spec_path, window, services, prometheus_url, timeout, retries, bearer_token_file, ca_file,
                basic_auth_file, tenant):
    """(spec, client, services) for a gate command, or exit 2 with the reason."""
    from lukhas_obs.gate.client import PromClient
    from lukhas_obs.spec import load_spec

    try:
        spec = load_spec(spec_path)
    except SpecError as exc:
        _spec_problems(exc)
        sys.exit(EXIT_USAGE)
    if window is not None:
        _duration(window, "--window")
    deadline = _duration(timeout, "--timeout")
    unknown = [s for s in services if s not in {x.name for x in spec.services}]
    if unknown:
        raise click.BadParameter(f"not in {spec.source}: {', '.join(unknown)}", param_hint="--service")
    headers = {}
    if bearer_token_file:
        headers["Authorization"] = "Bearer " + Path(bearer_token_file).read_text().strip()
    if tenant:
        headers["X-Scope-OrgID"] = tenant
    basic = None
    if basic_auth_file:
        user, sep, password = Path(basic_auth_file).read_text().strip().partition(":")
        if not sep:
            raise click.BadParameter("the file must hold user:password", param_hint="--basic-auth-file")
        basic = (user, password)
    client = PromClient(prometheus_url, timeout=deadline, retries=retries, headers=headers, ca_file=ca_file,
                        basic_auth=basic)
    return spec, client, list(services) or None


@main.group("slo-gate", help=GATE_HELP, invoke_without_command=True)
@_gate_options
@click.option("--at", "at", default=None, help="Evaluate as of this instant (RFC 3339 or unix seconds).")
@click.option("--canary-weight", type=int, default=None, help="Current canary traffic weight in percent.")
@click.option("--output", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--junit", "junit", type=click.Path(dir_okay=False), default=None,
              help="Also write one JUnit test case per check to this file.")
@click.pass_context
def slo_gate(ctx, mode, window, spec_path, prometheus_url, services, timeout, retries, bearer_token_file, ca_file,
             basic_auth_file, tenant, at, canary_weight, output, junit):
    if ctx.invoked_subcommand is not None:
        return
    from lukhas_obs.gate import run_gate
    from lukhas_obs.gate.report import to_json, to_junit, to_text

    spec, client, selected = _gate_setup(spec_path, window, services, prometheus_url, timeout, retries,
                                         bearer_token_file, ca_file, basic_auth_file, tenant)
    report = run_gate(spec, mode, client, at=_parse_time(at), window=window, services=selected,
                      canary_weight=canary_weight)
    click.echo(to_json(report) if output == "json" else to_text(report))
    if junit:
        Path(junit).write_text(to_junit(report), encoding="utf-8")
    sys.exit(report.outcome.exit_code)


@slo_gate.command("backtest")
@_gate_options
@click.option("--from", "start", required=True, help="First instant (RFC 3339 or unix seconds).")
@click.option("--to", "end", required=True, help="Last instant (RFC 3339 or unix seconds).")
@click.option("--step", default="10m", show_default=True, help="Time between evaluations.")
@click.option("--output", type=click.Choice(["text", "json"]), default="text", show_default=True)
def backtest(mode, window, spec_path, prometheus_url, services, timeout, retries, bearer_token_file, ca_file,
             basic_auth_file, tenant, start, end, step, output):
    """Replay the gate over a period of history and report when it would have failed.

    \b
    Every step is a full gate evaluation `--at` that instant. Exit codes as for slo-gate, for the
    worst point: 1 when the gate would have failed at least once.
    """
    from lukhas_obs.gate.backtest import run_backtest, to_json, to_text

    spec, client, selected = _gate_setup(spec_path, window, services, prometheus_url, timeout, retries,
                                         bearer_token_file, ca_file, basic_auth_file, tenant)
    t0, t1, dt = _parse_time(start), _parse_time(end), _duration(step, "--step")
    if t1 < t0:
        raise click.BadParameter("--to is before --from", param_hint="--to")
    if (t1 - t0) / dt > 10_000:
        raise click.BadParameter("more than 10,000 evaluations; use a larger --step", param_hint="--step")
    result = run_backtest(spec, mode, client, t0, t1, dt, window=window, services=selected)
    click.echo(to_json(result) if output == "json" else to_text(result))
    sys.exit(result.outcome.exit_code)


@main.command()
@click.option("--spec", "spec_path", default=DEFAULT_SPEC, show_default=True, type=click.Path(dir_okay=False))
@click.option("--once", is_flag=True, help="Play the story and exit: 0 when every step behaved as expected.")
@click.option("--window", default="20s", show_default=True, help="The gate's window during the demo.")
def demo(spec_path: str, once: bool, window: str) -> None:
    """Run the whole loop on this machine: a real Prometheus and Alertmanager load the generated
    configuration over a synthetic LUKHAS workload, and the gate decides live (smoke passes, a bad
    canary is rolled back, an outage pages). Needs Debian's prometheus and
    prometheus-alertmanager; everything listens on 127.0.0.1 and is stopped at the end or on Ctrl-C."""
    from lukhas_obs.demo import DemoError, run
    from lukhas_obs.spec import load_spec

    try:
        spec = load_spec(spec_path)
    except SpecError as exc:
        _spec_problems(exc)
        sys.exit(EXIT_USAGE)
    _duration(window, "--window")
    try:
        ok = run(spec, once=once, echo=lambda line: click.echo(line), window=window)
    except DemoError as exc:
        click.echo(f"lukhas-obs demo: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    sys.exit(0 if ok else 1)


@main.group("export")
def export_group() -> None:
    """Write the spec in another format."""


@export_group.command("openslo")
@click.option("--spec", "spec_path", default=DEFAULT_SPEC, show_default=True, type=click.Path(dir_okay=False))
@click.option("--out", "out_file", default="-", show_default=True, type=click.Path(dir_okay=False, allow_dash=True))
def export_openslo(spec_path: str, out_file: str) -> None:
    """The spec's SLOs as OpenSLO v1 Service and SLO documents (SLIs inline, Prometheus sources)."""
    from lukhas_obs.openslo import export_text
    from lukhas_obs.spec import load_spec

    try:
        spec = load_spec(spec_path)
    except SpecError as exc:
        _spec_problems(exc)
        sys.exit(EXIT_USAGE)
    text = export_text(spec)
    if out_file == "-":
        click.echo(text, nl=False)
    else:
        Path(out_file).write_text(text, encoding="utf-8")


@main.group("import")
def import_group() -> None:
    """Read SLOs written in another format."""


@import_group.command("openslo")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--page", default="P1", show_default=True, help="Page priority for SLOs that do not say.")
@click.option("--ticket", default="P3", show_default=True, help="Ticket priority for SLOs that do not say.")
@click.option("--out", "out_file", default="-", show_default=True, type=click.Path(dir_okay=False, allow_dash=True))
def import_openslo(files, page: str, ticket: str, out_file: str) -> None:
    """OpenSLO v1 Service/SLO/SLI documents as spec `services:` entries to merge into a spec.

    \b
    Everything OpenSLO can say that the spec cannot (calendar windows, timeslices, non-Prometheus
    sources, queries that are not plain selectors, alert policies) is listed on stderr.
    Exit codes: 0 imported (notes may follow); 1 nothing could be imported; 2 unreadable input.
    """
    from lukhas_obs.openslo import import_docs

    try:
        result = import_docs([(f, Path(f).read_text(encoding="utf-8")) for f in files], page=page, ticket=ticket)
    except (OSError, ValueError) as exc:  # yaml errors are ValueErrors
        click.echo(f"lukhas-obs import: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    for note in result.notes:
        click.echo(f"note: {note}", err=True)
    count = sum(len(s) for s in result.services.values())
    if not count:
        click.echo("lukhas-obs import: no SLO could be imported", err=True)
        sys.exit(1)
    text = result.to_yaml()
    if out_file == "-":
        click.echo(text, nl=False)
    else:
        Path(out_file).write_text(text, encoding="utf-8")
    click.echo(f"imported {count} SLOs for {len(result.services)} services", err=True)
