"""Thin click layer: parse options, call the library, map errors to exit codes."""

from __future__ import annotations

import sys
import time
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
EXIT_GATE_ERROR = 4      # the gate's ERROR: hold, never roll back
EXIT_INTERNAL = 70       # a bug in lukhas-obs (EX_SOFTWARE), distinct from every documented outcome

EARLIEST = 946_684_800   # 2000-01-01T00:00:00Z: an instant before this is a typo, not history
FUTURE_SLACK = 300.0     # clock skew allowed between this runner and the metrics provider


class _Main(click.Group):
    """One top-level handler: an unexpected exception is never a traceback with exit 1 (which
    `slo-gate` documents as "roll back" and `generate --check` as "files differ"). In the gate it
    is ERROR (4, hold); elsewhere it is an internal error (70)."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort, SystemExit,
                KeyboardInterrupt):
            raise
        except Exception as exc:  # noqa: BLE001 - the last line of defence
            gate = ctx.invoked_subcommand == "slo-gate"
            what = "slo-gate ERROR (hold: not a measurement)" if gate else "internal error"
            click.echo(f"lukhas-obs: {what}: {type(exc).__name__}: {exc}. This is a bug in lukhas-obs; "
                       "please report it with the command line.", err=True)
            sys.exit(EXIT_GATE_ERROR if gate else EXIT_INTERNAL)


def _spec_problems(exc: SpecError) -> None:
    for p in exc.problems:
        click.echo(str(p), err=True)
    n = len(exc.problems)
    click.echo(f"lukhas-obs: {n} problem{'s' if n != 1 else ''} in the spec; nothing was written.", err=True)


@click.group(cls=_Main, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="lukhas-obs")
def main() -> None:
    """Monitoring and alerting as code for the LUKHAS platform, plus an SLO gate for deploys.

    \b
    Exit codes of every command: 0 done; 2 usage or spec error; 70 internal error (a bug:
    nothing was decided). slo-gate and generate --check add their own (see their --help).
    """


@main.command()
@click.argument("spec_arg", metavar="[SPEC]", required=False, type=click.Path(exists=True))
@click.option("--spec", "spec_path", default=DEFAULT_SPEC, show_default=True,
              type=click.Path(), help="The spec file, or a folder of team specs with one shared file.")
@click.option("--out", "out_dir", default=DEFAULT_OUT, show_default=True, type=click.Path(file_okay=False),
              help="Folder to write (replaced as a whole, atomically; a non-empty folder that generate did not "
                   "write is refused, see --force).")
@click.option("--deployment-out", "deploy_dir", default=None, show_default=f"{DEFAULT_DEPLOY}/ beside --out",
              type=click.Path(file_okay=False), help="Folder for the compose stack (its other files are kept).")
@click.option("--force", is_flag=True,
              help="Replace --out even when it holds files generate did not write (it has no "
                   ".lukhas-obs-generated marker): they are deleted.")
@click.option("--check", is_flag=True,
              help="Write nothing; exit 1 and name the files that differ from what the spec produces.")
def generate(spec_arg: str | None, spec_path: str, out_dir: str, deploy_dir: str | None, force: bool,
             check: bool) -> None:
    """Generate every monitoring artefact from the spec.

    \b
    Exit codes: 0 written (or, with --check, up to date); 1 --check found differences;
    2 the spec is invalid (every problem is listed as FILE:LINE: key.path: message), --out
    holds files of its own, or a write failed: nothing is written, both folders are unchanged.
    """
    import dataclasses
    import shlex
    from typing import NoReturn

    from lukhas_obs.generate import render, render_deployment
    from lukhas_obs.generate.writer import (
        MARKER,
        ForeignFolderError,
        diff_files,
        diff_tree,
        foreign_file,
        relative_mount,
        spec_name,
        write_outputs,
    )
    from lukhas_obs.spec import load_spec

    spec_file = _one_spec(spec_arg, spec_path)
    if deploy_dir is None:
        # beside the output folder: `--out /tmp/x` must not rewrite this checkout's deployment/
        parent = Path(out_dir).parent
        deploy_dir = DEFAULT_DEPLOY if parent == Path(".") else str(parent / DEFAULT_DEPLOY)
    try:
        spec = load_spec(spec_file)
    except SpecError as exc:
        _spec_problems(exc)
        sys.exit(EXIT_USAGE)
    # headers name the spec the same way from any working folder (writer.spec_name)
    stable = dataclasses.replace(spec, source=spec_name(spec_file, out_dir))
    try:
        files = render(stable)
        deployment = render_deployment(stable, relative_mount(out_dir, deploy_dir))
    except GenerateError as exc:
        click.echo(f"{spec.source}: {exc}; nothing was written.", err=True)
        sys.exit(EXIT_USAGE)
    if check:
        differ = [Path(out_dir, rel).as_posix() for rel in diff_tree(files, out_dir)]
        differ += [Path(deploy_dir, rel).as_posix() for rel in diff_files(deployment, deploy_dir)]
        if differ:
            again = shlex.join(["lukhas-obs", "generate", str(spec_file), "--out", str(out_dir),
                                "--deployment-out", str(deploy_dir)])
            click.echo(f"{out_dir}/ and {deploy_dir}/ do not match {spec.source}; run `{again}`. Files that "
                       "differ:", err=True)
            for rel in differ:
                click.echo(f"  {rel}", err=True)
            sys.exit(EXIT_DIFF)
        click.echo(f"{out_dir}/ and {deploy_dir}/ are up to date with {spec.source} "
                   f"({len(files) + len(deployment)} files).")
        return

    def folder(path: str) -> str:
        return path.rstrip("/") + "/"

    def refuse(message: str) -> NoReturn:
        click.echo(f"lukhas-obs: {message}; nothing was written ({folder(out_dir)} and {folder(deploy_dir)} are "
                   "unchanged).", err=True)
        sys.exit(EXIT_USAGE)

    out_abs, deploy_abs, spec_abs = (Path(p).resolve() for p in (out_dir, deploy_dir, spec_file))
    if deploy_abs == out_abs or out_abs in deploy_abs.parents:
        refuse(f"--deployment-out {deploy_dir} is inside --out {out_dir}, which generate replaces as a whole")
    try:
        if not force and (foreign := foreign_file(out_dir)) is not None:
            refuse(f"refusing to replace {folder(out_dir)}: it is not empty and generate did not write it (it holds "
                   f"{foreign.as_posix()} and no {MARKER}); --out is replaced as a whole, so choose another "
                   "folder, or pass --force to delete what it holds")
        if spec_abs == out_abs or out_abs in spec_abs.parents:
            refuse(f"the spec {spec.source} is inside --out {folder(out_dir)}, which generate replaces as a whole "
                   "(even with --force)")
        write_outputs(files, out_dir, deployment, deploy_dir, force=force)
    except ForeignFolderError as exc:  # appeared since the look above
        refuse(str(exc))
    except OSError as exc:
        refuse(f"cannot write {exc.filename if exc.filename is not None else out_dir}: {exc.strerror or exc}")
    click.echo(f"wrote {len(files)} files to {out_dir}/ and {len(deployment)} to {deploy_dir}/ from {spec.source}")


@main.command()
@click.argument("spec_arg", metavar="[SPEC]", required=False, type=click.Path(exists=True))
@click.option("--spec", "spec_path", default=DEFAULT_SPEC, show_default=True, type=click.Path())
def validate(spec_arg: str | None, spec_path: str) -> None:
    """Check a spec (file or folder) without writing anything. Exit 0 when valid, 2 with every
    problem otherwise."""
    from lukhas_obs.spec import load_spec

    try:
        spec = load_spec(_one_spec(spec_arg, spec_path))
    except SpecError as exc:
        _spec_problems(exc)
        sys.exit(EXIT_USAGE)
    click.echo(f"{spec.source}: valid ({len(spec.services)} services, {len(spec.slos)} SLOs, "
               f"{len(spec.alerts)} alerts)")


@main.command()
@click.option("--team", is_flag=True,
              help="Print the schema of a team file of a folder of specs instead (apiVersion, team, services, "
                   "metrics, alerts; the same definitions, checked as validate checks them).")
def schema(team: bool) -> None:
    """Print the spec's JSON Schema, defaults included (for editors and CI linters)."""
    import json

    from lukhas_obs.spec.schemacheck import schema as load_schema
    from lukhas_obs.spec.schemacheck import team_schema

    click.echo(json.dumps(team_schema() if team else load_schema(), indent=2))


GATE_HELP = """Decide whether a deploy may go on, from a live Prometheus.

\b
Modes (runbook 3.1-3.3, 5.1, 7.1):
  smoke     every service's targets up and fresh, /health probes pass, error and latency
            ratios against the SLO targets with exact bounds over the window (FAIL when
            surely above; PASS when surely within gates.smoke.tolerance x), rules healthy
  canary    canary vs baseline over the canary's whole life (--since, or found from its
            series): always-valid sequential tests, Holm-corrected, so any number of looks
            rolls back an unchanged canary at most 1 - confidence of the time per rollout;
            canary targets up; share of traffic vs --canary-weight; next weight on PASS
  rollback  runbook 5.1 triggers: >5 % errors for 3 minutes, >=50 % services down (an up
            series at 0; no data is not down), p99 > 5 s for 5 minutes, DB pool exhausted
            (when the spec names the pool gauges), fast burn of every request SLO (14.4x on 5m
            and 1h)
  budget    refuse a promotion when any series of an SLO's error budget is under the
            threshold; hold while the SLI's data covers less of the SLO's period than
            gates.budget.min_coverage (90 %)

\b
Exit codes:
  0  PASS          every check measured and passed (canary: promote)
  1  FAIL          a check measured a failure (canary, rollback: roll back)
  2  usage or spec error (nothing was queried)
  3  INCONCLUSIVE  could not tell: no data, too little traffic or history, stale
                   scrapes (hold)
  4  ERROR         Prometheus unreachable, a query failed after retries, a malformed
                   answer, or a bug in the gate (hold; never 1)
When checks disagree the worst wins: FAIL, then ERROR, then INCONCLUSIVE, then PASS.
"""


def _parse_time(value: str | None, what: str = "--at") -> float | None:
    """Unix seconds or RFC 3339 with an explicit offset, between 2000 and a few minutes from now."""
    if value is None:
        return None
    import math
    from datetime import datetime

    try:
        t = float(value)
    except ValueError:
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise click.BadParameter(f"{value!r} is neither unix seconds nor RFC 3339 "
                                     "(e.g. 2026-11-30T12:00:00Z)", param_hint=what) from None
        if parsed.tzinfo is None:
            raise click.BadParameter(f"{value!r} has no UTC offset: add Z or +HH:MM (a time without one would be "
                                     "read in this runner's local zone)", param_hint=what) from None
        t = parsed.timestamp()
    if not math.isfinite(t):
        raise click.BadParameter(f"{value!r} is not a finite time", param_hint=what)
    if t > 1e11:
        raise click.BadParameter(f"{value!r} is in the year 5138 or later: milliseconds? The gate takes unix "
                                 "seconds", param_hint=what)
    now = time.time()
    if t < EARLIEST:
        raise click.BadParameter(f"{value!r} is before 2000-01-01", param_hint=what)
    if t > now + FUTURE_SLACK:
        raise click.BadParameter(f"{value!r} is {t - now:.0f}s in the future: nothing can have been measured "
                                 "there", param_hint=what)
    return t


def _one_spec(spec_arg: str | None, spec_path: str) -> str:
    """SPEC or --spec: both at once is a usage error (one would be silently ignored)."""
    ctx = click.get_current_context()
    if spec_arg is not None and ctx.get_parameter_source("spec_path") == click.core.ParameterSource.COMMANDLINE:
        raise click.UsageError(f"give the spec once: as SPEC ({spec_arg}) or as --spec ({spec_path}), not both")
    return spec_arg or spec_path


def _duration(value: str, what: str) -> float:
    from lukhas_obs.durations import parse_duration

    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=what) from None
    if seconds <= 0:
        raise click.BadParameter(f"{value!r} must be longer than 0s", param_hint=what)
    return seconds


MIN_TIMEOUT = 1.0   # a deadline shorter than one round trip and a query can only ever end in ERROR


def _timeout(value: str, what: str) -> float:
    seconds = _duration(value, what)
    if seconds < MIN_TIMEOUT:
        raise click.BadParameter(f"{value!r} is too short to query Prometheus and judge; at least 1s",
                                 param_hint=what)
    return seconds


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
        click.option("--retries", type=click.IntRange(0, 20), default=3, show_default=True,
                     help="Retries per query on 5xx/timeouts."),
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
    from urllib.parse import urlsplit

    from lukhas_obs.gate.client import PromClient
    from lukhas_obs.spec import load_spec

    url = urlsplit(prometheus_url)
    if url.scheme not in ("http", "https") or not url.hostname:
        raise click.BadParameter(f"{prometheus_url!r} is not an http(s) URL with a host", param_hint="--prometheus-url")

    try:
        spec = load_spec(spec_path)
    except SpecError as exc:
        _spec_problems(exc)
        sys.exit(EXIT_USAGE)
    if window is not None:
        _duration(window, "--window")
    deadline = _timeout(timeout, "--timeout")
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
    return spec, client, list(dict.fromkeys(services)) or None  # --service twice is one service


@main.group("slo-gate", help=GATE_HELP, invoke_without_command=True)
@_gate_options
@click.option("--at", "at", default=None, help="Evaluate as of this instant (RFC 3339 with offset, or unix seconds).")
@click.option("--since", "since", default=None,
              help="Canary: when the canary started (default: found from its series within gates.canary.max_age). "
                   "Give every look of one rollout the same value.")
@click.option("--canary-weight", type=click.IntRange(0, 100), default=None,
              help="Current canary traffic weight in percent (checks the canary's share of requests).")
@click.option("--output", type=click.Choice(["text", "json", "markdown"]), default="text", show_default=True,
              help="markdown: for a CI step summary ($GITHUB_STEP_SUMMARY, a merge request note).")
@click.option("--junit", "junit", type=click.Path(dir_okay=False), default=None,
              help="Also write one JUnit test case per check to this file.")
@click.option("--html", "html", type=click.Path(dir_okay=False), default=None,
              help="Also write a self-contained HTML report with a plot of each check's evidence (its data is "
                   "fetched after the verdict and never changes it).")
@click.option("--link-url", envvar="LUKHAS_PROMETHEUS_LINK_URL", default=None,
              help="Base URL of the Prometheus UI for the link of every check (env LUKHAS_PROMETHEUS_LINK_URL; "
                   "default: --prometheus-url without credentials).")
@click.pass_context
def slo_gate(ctx, mode, window, spec_path, prometheus_url, services, timeout, retries, bearer_token_file, ca_file,
             basic_auth_file, tenant, at, since, canary_weight, output, junit, html, link_url):
    if ctx.invoked_subcommand is not None:
        # `slo-gate --spec team.yaml serve` would serve the default spec: options go after the subcommand
        given = [p.opts[0] for p in ctx.command.params
                 if p.name and ctx.get_parameter_source(p.name) == click.core.ParameterSource.COMMANDLINE]
        if given:
            raise click.UsageError(f"{', '.join(given)} given before `{ctx.invoked_subcommand}`: put the options "
                                   f"after it (`slo-gate {ctx.invoked_subcommand} {given[0]} ...`)")
        return
    from lukhas_obs.gate import GateReport, run_gate
    from lukhas_obs.gate.decide import CheckResult, Outcome
    from lukhas_obs.gate.links import LinkError, link_base
    from lukhas_obs.gate.report import to_json, to_junit, to_markdown, to_text

    if link_url is not None:
        try:
            link_base(link_url)
        except LinkError as exc:
            raise click.BadParameter(str(exc), param_hint="--link-url") from None
    when = _parse_time(at)
    start = _parse_time(since, "--since")
    if start is not None and start >= (when if when is not None else time.time()):
        raise click.BadParameter("--since must be before the evaluation instant", param_hint="--since")
    spec, client, selected = _gate_setup(spec_path, window, services, prometheus_url, timeout, retries,
                                         bearer_token_file, ca_file, basic_auth_file, tenant)
    try:
        report = run_gate(spec, mode, client, at=when, window=window, services=selected,
                          canary_weight=canary_weight, since=start)
    except Exception as exc:  # noqa: BLE001 - a crash is reported as ERROR (hold), never as a verdict
        report = GateReport(mode, Outcome.ERROR, when or time.time(), window or spec.gates.window, client.url, [
            CheckResult("gate", None, Outcome.ERROR, f"internal error, nothing was decided: "
                        f"{type(exc).__name__}: {exc}")])
    click.echo({"json": to_json, "markdown": to_markdown}.get(output, to_text)(report, link_url))
    if junit:
        try:
            Path(junit).write_text(to_junit(report, link_url), encoding="utf-8")
        except OSError as exc:   # like --html: the verdict is printed and stands
            click.echo(f"lukhas-obs: could not write the JUnit report {junit}: {exc.strerror or exc} "
                       "(the verdict stands)", err=True)
    if html:
        from lukhas_obs.gate.html import write_report

        problem = write_report(html, report, spec, client, selected, canary_weight, link_url)
        if problem:
            click.echo(f"lukhas-obs: {problem} (the verdict stands)", err=True)
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
    t0, t1, dt = _parse_time(start, "--from"), _parse_time(end, "--to"), _duration(step, "--step")
    assert t0 is not None and t1 is not None  # both options are required
    if t1 < t0:
        raise click.BadParameter("--to is before --from", param_hint="--to")
    if (t1 - t0) / dt > 10_000:
        raise click.BadParameter("more than 10,000 evaluations; use a larger --step", param_hint="--step")
    result = run_backtest(spec, mode, client, t0, t1, dt, window=window, services=selected)
    click.echo(to_json(result) if output == "json" else to_text(result))
    sys.exit(result.outcome.exit_code)


@slo_gate.command("serve")
@_gate_options
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (loopback; use 0.0.0.0 inside a container).")
@click.option("--port", type=click.IntRange(0, 65535), default=9099, show_default=True)
@click.option("--max-evaluations", type=click.IntRange(1, 256), default=8, show_default=True,
              help="Gate evaluations running at once.")
@click.option("--max-waiting", type=click.IntRange(0, 1024), default=64, show_default=True,
              help="Requests that may wait for a free evaluation, each at most half its deadline; past that "
                   "the answer is 503 with Retry-After.")
def serve(mode, window, spec_path, prometheus_url, services, timeout, retries, bearer_token_file, ca_file,
          basic_auth_file, tenant, host, port, max_evaluations, max_waiting):
    """Answer gate requests over HTTP: Argo Rollouts' web metrics and Flagger's webhooks.

    \b
    GET or POST /v1/gate?mode=canary&service=lukhas-core[&service=...][&window=5m][&at=...]
        [&since=...][&canary-weight=5][&timeout=20s][&hook=confirm-promotion|rollback|...]
    answers the JSON of `slo-gate --output json`. Status: 200 for every outcome without
    `hook` (read `outcome`); with a Flagger hook, 200 means yes (confirm-*: PASS; rollback:
    FAIL) and 412 no. 400 bad parameters, 503 busy (Retry-After), 500 a bug. GET /healthz.
    --mode, --window and --service are the defaults of requests that do not say; --timeout is
    each request's deadline (waiting included). The spec is read again when its files change;
    one that no longer loads leaves the last good one in use (see /healthz).
    Exit codes: 0 stopped by SIGINT/SIGTERM; 2 a bad spec or option, or the address is taken.
    """
    import logging

    from lukhas_obs.gate.serve import Defaults, GateApp, Limiter, SpecHolder, start
    from lukhas_obs.spec import load_spec

    spec, client, selected = _gate_setup(spec_path, window, services, prometheus_url, timeout, retries,
                                         bearer_token_file, ca_file, basic_auth_file, tenant)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s")
    defaults = Defaults(mode=mode, window=window, services=tuple(selected or ()),
                        timeout=_timeout(timeout, "--timeout"))
    app = GateApp(SpecHolder(spec_path, spec, load_spec), client, defaults, Limiter(max_evaluations, max_waiting))
    try:
        start(app, host, port, echo=lambda line: click.echo(line, err=True))
    except (OSError, ValueError) as exc:   # taken, or not an address waitress can bind (256.1.1.1, no such name)
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        click.echo(f"lukhas-obs slo-gate serve: cannot listen on {host}:{port}: {why}", err=True)
        sys.exit(EXIT_USAGE)


@main.command()
@click.option("--spec", "spec_path", default=DEFAULT_SPEC, show_default=True, type=click.Path(dir_okay=False))
@click.option("--once", is_flag=True, help="Play the story and exit: 0 when every step behaved as expected.")
@click.option("--window", default="20s", show_default=True, help="The gate's window during the demo.")
def demo(spec_path: str, once: bool, window: str) -> None:
    """Run the whole loop on this machine: a real Prometheus and Alertmanager load the generated
    configuration over a synthetic LUKHAS workload, and the gate decides live (smoke passes, a bad
    canary is rolled back, an outage pages). Needs Debian's prometheus and
    prometheus-alertmanager, and a lukhas-obs checkout: the synthetic workload (lukhas_obs_demo/)
    is not part of the installed product. Everything listens on 127.0.0.1 and is stopped at the end
    or on Ctrl-C."""
    from lukhas_obs.demo import DemoError, run
    from lukhas_obs.spec import load_spec

    try:
        import lukhas_obs_demo.workload  # noqa: F401 - the demo's, beside lukhas_obs/ in a checkout
    except ImportError as exc:
        click.echo(f"lukhas-obs demo: the demo runs from a lukhas-obs checkout, with its test dependencies: its "
                   f"synthetic workload (lukhas_obs_demo/) is not part of the installed product ({exc}); run "
                   "`make demo` in the checkout", err=True)
        sys.exit(EXIT_USAGE)
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
@click.argument("spec_arg", metavar="[SPEC]", required=False, type=click.Path(exists=True))
@click.option("--spec", "spec_path", default=DEFAULT_SPEC, show_default=True, type=click.Path(),
              help="The spec file, or a folder of team specs with one shared file.")
@click.option("--out", "out_file", default="-", show_default=True, type=click.Path(dir_okay=False, allow_dash=True))
def export_openslo(spec_arg: str | None, spec_path: str, out_file: str) -> None:
    """The spec's SLOs as OpenSLO v1 Service and SLO documents (SLIs inline, Prometheus sources),
    checked against the OpenSLO go-sdk's rules (names, lengths, enums). What had to be shortened to
    fit them is listed on stderr."""
    from lukhas_obs.openslo import export_text
    from lukhas_obs.spec import load_spec

    try:
        spec = load_spec(_one_spec(spec_arg, spec_path))
    except SpecError as exc:
        _spec_problems(exc)
        sys.exit(EXIT_USAGE)
    notes: list[str] = []
    text = export_text(spec, notes)
    for note in notes:
        click.echo(f"note: {note}", err=True)
    if out_file == "-":
        click.echo(text, nl=False)
    else:
        Path(out_file).write_text(text, encoding="utf-8")


@main.group("import")
def import_group() -> None:
    """Read SLOs written in another format."""


IMPORT_EXIT = """
\b
Exit codes: 0 imported (notes may follow); 1 every file was read and no SLO could be imported;
2 a file could not be read or parsed, or holds something that is not an object (the others are
still imported and written; each problem is named FILE:LINE), or a bad option.
"""


def _import_options(fn):
    decorators = [
        click.argument("files", nargs=-1, required=True, type=click.Path(exists=True)),
        click.option("--into", "into", type=click.Path(exists=True), default=None,
                     help="The spec (file, or folder of team specs) the team file joins: its metrics are not "
                          "declared again, its severities are checked, and the result is validated with it. A "
                          "folder may hold only its shared file (the first team file is the import's)."),
        click.option("--team", default=None, help="The team file's `team:` name."),
        click.option("--port", type=click.IntRange(1, 65535), default=8080, show_default=True,
                     help="Port each imported service is scraped on (a placeholder: set the real one)."),
        click.option("--page", default="P1", show_default=True, help="Page priority for SLOs that do not say."),
        click.option("--ticket", default="P3", show_default=True, help="Ticket priority for SLOs that do not say."),
        click.option("--out", "out_file", default="-", show_default=True,
                     type=click.Path(dir_okay=False, allow_dash=True), help="The team file to write."),
    ]
    for decorate in reversed(decorators):
        fn = decorate(fn)
    return fn


def _run_import(tool: str, files, into, team, port, page, ticket, out_file) -> None:
    import re

    from lukhas_obs.importers.common import CatalogueEntry, catalogue, read_files, team_file
    from lukhas_obs.importers.openslo import import_openslo
    from lukhas_obs.importers.sloth import import_sloth

    for option, value in (("--page", page), ("--ticket", ticket)):
        if not re.fullmatch(r"P[0-9]", value):
            raise click.BadParameter(f"{value!r} is not a priority such as P1", param_hint=option)
    base_metrics: dict[str, CatalogueEntry] = {}
    if into is not None:
        from lukhas_obs.spec import load_spec
        from lukhas_obs.spec.loader import metric_origins

        try:
            # a folder's shared file alone (no team file yet) is where a first import starts
            base = load_spec(into, leave_out=None if out_file in (None, "-") else Path(out_file),
                             services_optional=True)
        except SpecError as exc:
            _spec_problems(exc)
            sys.exit(EXIT_USAGE)
        known = {s.priority for s in base.severities}
        for option, value in (("--page", page), ("--ticket", ticket)):
            if value not in known:
                raise click.BadParameter(f"{value} is not a severity of {into} ({', '.join(sorted(known))})",
                                         param_hint=option)
        base_metrics = catalogue(base, metric_origins(into, None if out_file in (None, "-") else Path(out_file)))
    reader = import_openslo if tool == "openslo" else import_sloth
    result = reader(read_files(files), page=page, ticket=ticket)
    priorities = {page, ticket} | {o.entry[k] for o in result.imported for k in ("page", "ticket") if o.entry}
    if into is not None and (unknown := priorities - known):
        for o in result.imported:
            assert o.entry is not None, "imported SLOs have an entry"
            for k in ("page", "ticket"):
                if o.entry[k] in unknown:
                    o.block("spec", f"{o.locate((k,))}: {k} priority {o.entry[k]} is not a severity of {into}")
    out = team_file(result, tool, base=None if into is None else Path(into), port=port, team=team,
                    priorities=priorities, base_metrics=base_metrics,
                    replaces=None if out_file in (None, "-") else Path(out_file))
    for problem in result.problems:
        click.echo(f"lukhas-obs import: {problem}", err=True)
    for note in result.notes:
        click.echo(f"note: {note}", err=True)
    for o in result.outcomes:
        if o.imported:
            assert o.entry is not None, "imported SLOs have an entry"
            click.echo(f"{o.where}: {o.label}: imported as {o.service}/{o.entry['name']}", err=True)
            for note in o.notes:
                click.echo(f"  note: {note}", err=True)
        else:
            click.echo(f"{o.where}: {o.label}: not imported:", err=True)
            for b in o.blockers:
                click.echo(f"  - {b}", err=True)
    for problem in out.unplaced:
        click.echo(f"lukhas-obs import: the team file does not validate: {problem}", err=True)
    if out.slos and not out.unplaced:
        if out_file == "-":
            click.echo(out.text, nl=False)
        else:
            Path(out_file).write_text(out.text, encoding="utf-8")
    refused = len(result.refused)
    click.echo(f"imported {out.slos} of {len(result.outcomes)} SLOs for {out.services} services from "
               f"{len(result.files)} files; {refused} not imported"
               + (f"; {len(result.problems)} input problems" if result.problems else ""), err=True)
    if result.problems or out.unplaced:
        sys.exit(EXIT_USAGE if result.problems else EXIT_INTERNAL)
    if not out.slos:
        sys.exit(1)


OPENSLO_HELP = """OpenSLO v1 SLO, SLI, DataSource and Service documents (files or folders of them)
as a team file for a folder of specs, that `lukhas-obs validate` accepts as is; v1alpha and
v2alpha documents are read as v1 where the meaning is the same.

\b
Reads single documents, `---` streams and top-level lists of objects; resolves indicatorRef
and metricSourceRef across every file given. Each SLO is imported with notes on what was
assumed or changed, or refused with every reason (calendar windows other than a week, month or
quarter, RatioTimeslices, other periods, non-Prometheus sources, ...), listed on stderr. Ratio
queries that are expressions over one range (counter: false), rawType ratios and threshold
queries that are expressions become expression SLIs; each ratio objective of a v1alpha SLO
becomes its own SLO.
""" + IMPORT_EXIT


@import_group.command("openslo", help=OPENSLO_HELP)
@_import_options
def import_openslo(files, into, team, port, page, ticket, out_file) -> None:
    _run_import("openslo", files, into, team, port, page, ticket, out_file)


SLOTH_HELP = """Sloth specs (`version: prometheus/v1`) and Kubernetes PrometheusServiceLevel
objects as a team file for a folder of specs, that `lukhas-obs validate` accepts as is.

\b
Event SLIs become ratios of counters (or latency SLIs for count - bucket over count), other
event queries an expression ratio and raw SLIs a raw error ratio, both kept as written; the
period is Sloth's default, 30d. Labels, annotations, alert names and disabled alerts are kept
on the SLO (a label lukhas-obs sets itself is dropped with a note); plugin SLIs are refused.
""" + IMPORT_EXIT


@import_group.command("sloth", help=SLOTH_HELP)
@_import_options
def import_sloth(files, into, team, port, page, ticket, out_file) -> None:
    _run_import("sloth", files, into, team, port, page, ticket, out_file)
