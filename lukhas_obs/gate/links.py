"""Links into the Prometheus UI: each check's exact queries as a `/graph` page at the evaluation
instant, so that whoever reads a verdict can open the numbers it rests on.

The parameters are those both Prometheus UIs read (the React UI of 2.x and the Mantine UI of
3.x): `g<i>.expr`, `g<i>.tab=0` (graph), `g<i>.range_input` (a Prometheus duration) and
`g<i>.end_input` / `g<i>.moment_input` (UTC, "YYYY-MM-DD HH:mm:ss"). The 2.x UI splits the query
string on `&` and `=` before it decodes, so every value is percent-encoded with nothing left
safe. A check that sends several queries gets one panel per query (g0, g1, ...)."""

from __future__ import annotations

import math
import urllib.parse
from datetime import UTC, datetime
from functools import cache

from lukhas_obs import promql
from lukhas_obs.durations import format_duration, parse_duration

MIN_SPAN = 15 * 60.0     # a graph shows at least this much before the evaluation instant
WINDOWS_BEFORE = 2       # and the judged window plus this many windows before it


class LinkError(ValueError):
    """A base URL that cannot carry links (not http(s), no host, a query or credentials)."""


def link_base(url: str, strict: bool = True) -> str:
    """The base URL for links, without a trailing slash. Credentials never go into a report:
    `strict` (a --link-url) refuses them, otherwise (the API URL) they are dropped."""
    try:
        parts = urllib.parse.urlsplit(url.strip())
        _ = parts.port   # a malformed port raises here
    except ValueError as exc:
        raise LinkError(f"{url!r} is not a URL: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise LinkError(f"{url!r} is not an http(s) URL with a host")
    if parts.query or parts.fragment:
        raise LinkError(f"{url!r} has a query or a fragment: give the UI's base URL, e.g. https://prometheus.example")
    netloc = parts.netloc.rpartition("@")[2]
    if netloc != parts.netloc and strict:
        raise LinkError(f"{url!r} carries credentials: links are written into reports, give the URL without them")
    path = urllib.parse.quote(parts.path.rstrip("/"), safe="/%-._~!$&'*+,;=:@")  # no space, <, >, ( or )
    return urllib.parse.urlunsplit((parts.scheme, netloc, path, "", ""))


def split_queries(query: str) -> list[str]:
    """A check's `query` field as the expressions it holds. Checks join several expressions
    with newlines and one expression can span lines ("(a)\\n/\\n(b)"): the split is the one in
    which every part parses, each as short as possible. Text that does not parse stays whole."""
    lines = [line for line in query.split("\n") if line.strip()]
    if not lines:
        return []

    @cache
    def parses(i: int, j: int) -> bool:
        try:
            promql.parse("\n".join(lines[i:j]))
        except promql.PromQLError:
            return False
        return True

    @cache
    def split(i: int) -> tuple[int, ...] | None:
        """End indices of a split of lines[i:], or None."""
        if i == len(lines):
            return ()
        for j in range(i + 1, len(lines) + 1):
            if parses(i, j):
                rest = split(j)
                if rest is not None:
                    return (j, *rest)
        return None

    ends = split(0)
    if ends is None:
        return ["\n".join(lines)]
    out, start = [], 0
    for end in ends:
        out.append("\n".join(lines[start:end]))
        start = end
    return out


def span(window: str, at: float, since: float | None = None) -> float:
    """Seconds of history a graph of a check shows up to `at`: the window and WINDOWS_BEFORE
    more (at least MIN_SPAN), or the canary's life since `since` plus a tenth of it."""
    try:
        w = parse_duration(window)
    except ValueError:
        w = 0.0
    out = max((WINDOWS_BEFORE + 1) * w, MIN_SPAN)
    if since is not None and at > since:
        out = max(out, (at - since) * 1.1)
    return float(math.ceil(round(out / 60.0, 6)) * 60)   # whole minutes (3600 x 1.1 is 3960.0000000000005)


def graph_url(base: str, exprs: list[str], at: float, seconds: float) -> str:
    """A /graph page with one panel per expression, ending at `at`, `seconds` long."""
    end = datetime.fromtimestamp(at, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")
    params: list[tuple[str, str]] = []
    for i, expr in enumerate(exprs):
        params += [(f"g{i}.expr", expr), (f"g{i}.tab", "0"), (f"g{i}.stacked", "0"),
                   (f"g{i}.range_input", format_duration(seconds)), (f"g{i}.end_input", end),
                   (f"g{i}.moment_input", end)]
    query = "&".join(f"{k}={urllib.parse.quote(v, safe='')}" for k, v in params)
    return f"{base}/graph?{query}"


def check_link(base: str, check, report) -> str | None:
    """The link of one check of a GateReport, or None for a check that sent no query."""
    exprs = split_queries(check.query or "")
    if not exprs:
        return None
    return graph_url(base, exprs, report.at, span(report.window, report.at, report.since))
