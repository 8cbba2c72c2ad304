"""`slo-gate --html FILE`: one self-contained page (no script, no fetch: everything inline and a
Content-Security-Policy that forbids loading anything) with the verdict and the action in
words at the top and, for every check, failing checks first, its evidence as a plot.

The page comes from a Jinja2 template with autoescape on: label values, reasons and error texts
come from outside. The plots are static SVG drawn by matplotlib (its SVG backend escapes every
text it writes; each plot's element ids get a prefix of their own so that several can live in
one document). matplotlib is an optional dependency (`pip install 'lukhas-obs[report]'`):
without it the page is still written, and says where each plot would be why it is not."""

from __future__ import annotations

import io
import math
import re
import textwrap
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from lukhas_obs import __version__
from lukhas_obs.durations import iso
from lukhas_obs.gate.decide import SEVERITY, Outcome
from lukhas_obs.gate.evidence import Plot, collect, with_gaps
from lukhas_obs.gate.report import action, api_url, headline, links, ordered

NO_MATPLOTLIB = "plots need matplotlib, which is not installed: pip install 'lukhas-obs[report]'"
COLOURS = {"canary": "#e66101", "baseline": "#5e3c99", "limit": "#b2182b", "pass": "#1a9850",
           "target": "#444444", "run": "#b2182b", "window": "#999999"}
CYCLE = ("#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#17becf", "#7f7f7f", "#bcbd22", "#e377c2")


def _environment() -> Environment:
    return Environment(loader=PackageLoader("lukhas_obs.gate", "templates"), autoescape=True,
                       undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def _when(t: float):
    return datetime.fromtimestamp(t, tz=UTC)


def _prefix_ids(svg: str, prefix: str) -> str:
    """The SVG element from matplotlib's document, every id (and every reference to one) given
    `prefix`: matplotlib names its groups figure_1, axes_1, ... in every file."""
    svg = svg[svg.index("<svg"):]
    svg = re.sub(r'\bid="([^"]+)"', lambda m: f'id="{prefix}{m.group(1)}"', svg)
    svg = re.sub(r"url\(#([^)]+)\)", lambda m: f"url(#{prefix}{m.group(1)})", svg)
    return re.sub(r'href="#([^"]+)"', lambda m: f'href="#{prefix}{m.group(1)}"', svg)


def svg(plot: Plot, prefix: str) -> str:
    """The plot as an inline SVG element. Raises ImportError without matplotlib."""
    import matplotlib
    from matplotlib import dates as mdates
    from matplotlib import ticker
    from matplotlib.figure import Figure

    rc: Any = {"svg.fonttype": "none", "svg.hashsalt": prefix, "font.size": 8, "axes.spines.top": False,
          "axes.spines.right": False, "legend.fontsize": 7, "legend.frameon": False}
    with matplotlib.rc_context(rc):
        fig = Figure(figsize=(8.6, 2.7))
        ax = fig.add_subplot()
        # fixed margins, legend on the right: a layout engine would double the drawing time
        fig.subplots_adjust(left=0.075, right=0.655, top=0.95, bottom=0.17)
        data = 0

        def mark(artist):
            nonlocal data
            for a in artist if isinstance(artist, (list, tuple)) else [artist]:
                a.set_gid(f"data-{data}")
                data += 1

        for span in plot.spans:
            if span.axis == "x":
                ax.axvspan(_when(span.start), _when(span.end), color=COLOURS["window"], alpha=0.15, lw=0,
                           label=span.label)
            else:
                ax.axhspan(span.start, span.end, color=COLOURS["pass"], alpha=0.12, lw=0, label=span.label)
        cycle = iter(CYCLE * 4)
        for line in plot.lines:
            if not line.points:
                continue
            points = with_gaps(line.points, plot.step)
            xs = [_when(t) for t, _ in points]
            ys = [v for _, v in points]
            few = len(line.points) < 25
            if line.kind == "run":
                mark(ax.plot(xs, ys, color=COLOURS["run"], lw=4, alpha=0.55, marker="o", ms=5, label=line.label))
                continue
            colour = COLOURS.get(line.kind) or next(cycle)
            if line.band:
                mark(ax.fill_between([_when(t) for t, _, _ in line.band], [lo for _, lo, _ in line.band],
                                     [hi for _, _, hi in line.band], color=colour, alpha=0.18, lw=0,
                                     label=line.band_label))
            mark(ax.plot(xs, ys, color=colour, lw=1.6, marker="o" if few else None, ms=3, label=line.label,
                         drawstyle="steps-post" if line.kind == "up" else "default"))
        for level in plot.levels:
            colour = COLOURS[level.kind]
            ls = {"limit": "--", "pass": ":", "target": "-."}[level.kind]
            if level.value is not None:
                ax.axhline(level.value, color=colour, ls=ls, lw=1.3, label=level.label)
            elif level.points:
                ax.plot([_when(t) for t, _ in level.points], [v for _, v in level.points], color=colour, ls=ls,
                        lw=1.3, label=level.label)
        for bar in plot.bars:
            mark(ax.errorbar([_when(bar.t)], [bar.value], yerr=[[bar.value - bar.low], [bar.high - bar.value]],
                             fmt="D", color="black", ms=4, capsize=4, lw=1.4, label=bar.label).lines[0])
        for t, text in plot.marks:
            ax.axvline(_when(t), color=COLOURS["target"], ls=":", lw=1)
            ax.annotate(text, (_when(t), 1.0), xycoords=("data", "axes fraction"), xytext=(3, -10),
                        textcoords="offset points", fontsize=7, color=COLOURS["target"])
        _axes(ax, plot, mdates, ticker)
        handles, labels = ax.get_legend_handles_labels()
        if handles:
            ax.legend(handles, [textwrap.fill(label, 44) for label in labels], loc="upper left",
                      bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)
        out = io.StringIO()
        fig.savefig(out, format="svg", metadata={"Date": None})
    return _prefix_ids(out.getvalue(), prefix)


def _axes(ax, plot: Plot, mdates, ticker) -> None:
    width = max(plot.end - plot.start, 60.0)
    ax.set_xlim(_when(plot.start), _when(plot.end + width * 0.02))
    locator = mdates.AutoDateLocator(tz=UTC)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(
        locator, tz=UTC, offset_formats=["UTC", "%Y UTC", "%Y-%m UTC", "%Y-%m-%d UTC", "%Y-%m-%d UTC",
                                         "%Y-%m-%d %H:%M UTC"]))
    ax.grid(True, color="#dddddd", lw=0.6)
    if plot.unit == "up":
        ax.set_ylim(-0.1, 1.15)
        ax.set_yticks([0, 1], ["down", "up"])
        return
    values = plot.values() + [b.high for b in plot.bars] + [s.end for s in plot.spans if s.axis == "y"]
    values += [line.band[-1][2] for line in plot.lines if line.band]   # early in a canary's life it is wide
    top = max([v for v in values if math.isfinite(v)] + [0.0])
    bottom = min([v for v in values if math.isfinite(v)] + [0.0])
    top = top * 1.2 if top > 0 else 1.0
    ax.set_ylim(bottom - (top - bottom) * 0.03, top)   # a line at 0 stays clear of the axis
    if plot.unit == "%":
        ax.yaxis.set_major_formatter(ticker.PercentFormatter(1.0))
    elif plot.unit == "s":
        ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}s"))


def _matplotlib_version() -> str | None:
    try:
        import matplotlib
    except ImportError:
        return None
    return str(matplotlib.__version__)


def render(report, plots: dict[int, Plot], link_url: str | None = None) -> str:
    """The page. `plots` maps id() of a check to its Plot (evidence.collect)."""
    have_matplotlib = _matplotlib_version() is not None
    link = links(report, link_url)
    rows = []
    for i, c in enumerate(ordered(report.checks)):
        plot = plots.get(id(c)) or Plot(c.name, error="the plot data was not fetched")
        drawing, error = None, plot.error
        if not error and not have_matplotlib:
            error = NO_MATPLOTLIB
        if not error:
            try:
                drawing = Markup(svg(plot, f"p{i}-"))   # matplotlib's own SVG (it escapes its texts)
            except Exception as exc:  # noqa: BLE001 - a plot never takes the page down with it
                error = f"the plot could not be drawn: {type(exc).__name__}: {exc}"
        rows.append({"check": c, "anchor": f"check-{i + 1}", "svg": drawing, "error": error,
                     "caption": plot.caption, "link": link.get(id(c)),
                     "evidence": [(", ".join(f"{k}={v}" for k, v in sorted(e.labels.items())), _value(e.value), e.note)
                                  for e in c.evidence]})
    counts = [(o.value, sum(c.outcome == o for c in report.checks)) for o in SEVERITY]
    return _environment().get_template("report.html.j2").render(
        report=report, headline=headline(report), action=action(report.mode, report.outcome),
        outcome=report.outcome.value, exit_code=report.outcome.exit_code, at=iso(report.at),
        since=iso(report.since) if report.since is not None else None,
        next_weight=report.next_weight if report.outcome == Outcome.PASS else None,
        counts=[(o, n) for o, n in counts if n], rows=rows, version=__version__,
        matplotlib=_matplotlib_version(), prometheus=api_url(report))


def _value(v: float | None) -> str:
    if v is None:
        return "no data"
    return f"{v:.6g}"


def write_report(path: str | Path, report, spec, client, services: list[str] | None = None,
                 canary_weight: int | None = None, link_url: str | None = None) -> str | None:
    """Fetch the plot data (after the verdict, with a deadline of its own), render the page and
    write it. Returns None, or what went wrong: never raises, and never touches the
    verdict."""
    try:
        try:
            plots = collect(spec, report, client, services, canary_weight)
        except Exception as exc:  # noqa: BLE001 - no plot data is a page that says so, not a crash
            why = f"the plot data could not be fetched: {type(exc).__name__}: {exc}"
            plots = {id(c): Plot(c.name, error=why) for c in report.checks}
        Path(path).write_text(render(report, plots, link_url), encoding="utf-8")
    except OSError as exc:
        return f"could not write the HTML report {path}: {exc.strerror or exc}"
    except Exception as exc:  # noqa: BLE001 - the verdict is already out; say what failed
        return f"could not make the HTML report {path}: {type(exc).__name__}: {exc}"
    return None
