"""Checks on the built model that no schema can express: what the spec asks for must be able to
work. Two things may not map to one file, job or object name; an SLO must be able to have data;
every SLO alert must be able to fire, and none may fire below the sustainable burn rate.

Each problem is reported through `err(path, message)` at the spec line it comes from."""

from __future__ import annotations

from collections.abc import Callable

from lukhas_obs import model as m

Err = Callable[[tuple, str], None]


def check(spec: m.Spec, err: Err) -> None:
    _names(spec, err)
    _receiver_files(spec, err)
    _links(spec, err)
    _published_urls(spec, err)
    for i, svc in enumerate(spec.services):
        for j, slo in enumerate(svc.slos):
            path = ("services", i, "slos", j)
            _has_data(spec, svc, slo, path, err)
            _can_fire(slo, path, err)
            _tells_one_failed_scrape(spec, slo, path, err)
            if slo.timeslices is not None:
                _slice_fits(spec, slo, slo.timeslices, path + ("timeslices", "window"), err)


def _names(spec: m.Spec, err: Err) -> None:
    """SLO ids name files (slo-<service>-<slo>.rules.yml), rule groups, Kubernetes objects,
    Mimir namespaces and OpenSLO documents: `api` + `gateway-errors` and `api-gateway` +
    `errors` would overwrite each other. Service names are scrape job names."""
    from lukhas_obs.conventions import BLACKBOX_JOB

    seen: dict[str, tuple] = {}
    for i, svc in enumerate(spec.services):
        if svc.name == BLACKBOX_JOB:
            err(("services", i, "name"), f"{svc.name!r} is the job name of the generated health probes: "
                                         "choose another service name")
        for j, slo in enumerate(svc.slos):
            path = ("services", i, "slos", j, "name")
            first = seen.get(slo.id)
            if first is not None:
                other = spec.services[first[1]].name
                err(path, f"SLO {svc.name}/{slo.name} and SLO {other}/{spec.services[first[1]].slos[first[3]].name} "
                          f"(services[{first[1]}].slos[{first[3]}]) both become {slo.id!r}: their rule files, groups "
                          "and objects would overwrite each other; rename one")
            else:
                seen[slo.id] = path


def _links(spec: m.Spec, err: Err) -> None:
    """An alert's `runbook` is a page under links.runbook_base_url, its `dashboard` a link under
    links.grafana_url: without the base the annotation would be the bare name or `/d/<uid>`, which
    Alertmanager, PagerDuty, Slack and Grafana show as a dead link (audit 21). (A log query's
    `dashboard` places a panel, not a link: it needs no URL.)"""
    alert_lists = ((("alerts",), spec.alerts), (("logs", "alerts"), spec.logs.alerts))
    for key, base in (("runbook", spec.runbook_base_url), ("dashboard", spec.grafana_url)):
        if base:
            continue
        for where, alerts in alert_lists:
            for i, alert in enumerate(alerts):
                value = getattr(alert, key)
                if not value:
                    continue
                if key == "runbook":
                    err(where + (i, key),
                        f"{value!r} is a page under links.runbook_base_url, which the spec does not set, so the "
                        "alert's runbook_url would be no link: add links: {runbook_base_url: https://...} (in a "
                        "folder of specs, to the shared file), or leave runbook out")
                else:
                    err(where + (i, key),
                        f"the alert's dashboard_url would be /d/{value}, a link only inside Grafana: add "
                        "links: {grafana_url: https://...} (where users reach Grafana; in a folder of specs, to the "
                        "shared file), or leave dashboard out")


def _published_urls(spec: m.Spec, err: Err) -> None:
    """Prometheus and Alertmanager put their own URL in every alert they send (the alert's source,
    the notification's links). Without external_url the compose stack gives them the address it
    publishes them on; on every address (0.0.0.0, [::]) there is no such address, and the programs
    would name their container (http://<container id>:9093/), a dead link: the spec must say."""
    from lukhas_obs.conventions import every_address

    missing = [name for name, settings in (("prometheus", spec.prometheus), ("alertmanager", spec.alertmanager))
               if not settings.external_url]
    if missing and every_address(spec.stack.bind_address):
        err(("stack", "bind_address"),
            f"{spec.stack.bind_address} publishes the stack on every address, so it cannot tell where users reach "
            f"it, and alerts and notifications would link to the containers' names: set "
            f"{' and '.join(f'{name}.external_url' for name in missing)} (https://...)")


def _has_data(spec: m.Spec, svc: m.Service, slo: m.SLO, path: tuple, err: Err) -> None:
    """An SLI read from the service's own series needs the service scraped, and a metric whose
    catalogue entry lists the services that emit it must list this one."""
    sli = slo.sli
    if isinstance(sli, m.AvailabilitySLI) and sli.source == "probe":
        if not svc.health_url:
            err(path + ("sli",), f"a probe availability SLI needs a health endpoint, and {svc.name} has none")
        return
    if isinstance(sli, m.ExpressionRatioSLI | m.RawSLI):
        return  # an expression reads the series it names, from any job: nothing to check here
    if not svc.scrape:
        err(path + ("sli",), f"service {svc.name} is not scraped (scrape: false), so this SLI, read from "
                             f"job={svc.name!r}, can never have data")
        return
    match sli:
        case m.RatioSLI(total=counted) | m.LatencySLI(metric=counted) | m.ThresholdSLI(metric=counted):
            pass    # the catalogue entry the SLI counts (a histogram by its base name)
        case _:
            return
    metric = spec.metric(counted.metric)
    if metric is not None and metric.services and svc.name not in metric.services:
        err(path + ("sli",), f"metric {metric.name} is emitted by {', '.join(metric.services)} (metrics."
                             f"{metric.name}.services), not by {svc.name}: this SLI can never have data")


def _can_fire(slo: m.SLO, path: tuple, err: Err) -> None:
    """Every burn-rate window needs a threshold an error ratio can exceed (below 100 %), and none
    may fire while the budget is spent no faster than it lasts the period (factor >= 1)."""
    from lukhas_obs import conventions as conv

    windows = [(kind, w) for kind in ("page", "ticket") for w in conv.burn_windows(slo, kind)]
    for kind, w in windows:
        if w.factor < 1:
            err(path + ("period",), f"the {kind} alert over {w.short}/{w.long} would fire at {w.factor:g}x the "
                                    "sustainable burn rate, while the budget is not being overspent")
    unreachable = [(kind, w) for kind, w in windows if w.threshold(slo) >= 1]
    if unreachable:
        kind, w = max(unreachable, key=lambda kw: kw[1].factor)
        lowest = (1 - 1 / w.factor) * 100
        err(path + ("objective",), f"an objective of {slo.objective:g} % leaves a {slo.error_budget * 100:g} % error "
                                   f"budget: the {kind} alert over {w.short}/{w.long} needs more than {w.factor:g} x "
                                   f"{slo.error_budget * 100:g} % = {w.threshold(slo) * 100:g} % errors, which cannot "
                                   f"happen; objectives must be above {lowest:.4g} %")


def _slice_fits(spec: m.Spec, slo: m.SLO, slices: m.Timeslices, path: tuple, err: Err) -> None:
    """A slice holds enough samples for rate() (4 scrapes) and for the sample counts recorded at
    each SLO evaluation (2), and the shortest burn-rate window holds at least one slice."""
    from lukhas_obs import conventions as conv
    from lukhas_obs.durations import format_duration, parse_duration

    seconds = parse_duration(slices.window)
    p = spec.prometheus
    scrape, evaluation = parse_duration(p.scrape_interval), parse_duration(p.slo_evaluation_interval)
    shortest = min(conv.alert_windows(slo), key=parse_duration)
    if seconds % 60:
        err(path, f"{slices.window} is not a whole number of minutes (OpenSLO's timeSliceWindow, and the tools that "
                  "read it, count slices in minutes)")
    elif seconds < 4 * scrape or seconds < 2 * evaluation:
        err(path, f"a {slices.window} slice holds too few samples: it must be at least 4 scrape intervals "
                  f"({format_duration(4 * scrape)}) and 2 SLO evaluation intervals ({format_duration(2 * evaluation)})")
    elif seconds > parse_duration(shortest):
        err(path, f"a {slices.window} slice is longer than the shortest burn-rate window ({shortest}), which would "
                  "then judge less than one slice")


def _tells_one_failed_scrape(spec: m.Spec, slo: m.SLO, path: tuple, err: Err) -> None:
    """A time-based SLI counts one target's state at each SLO evaluation: a long burn-rate window
    holds window / slo_evaluation_interval samples of a target, and one failed scrape (for a
    threshold SLI, one sample out of bounds) counts in failed_scrape_weight of them. When that is
    above the alert's threshold, one bad sample is indistinguishable from a burn, and the alert's
    min_samples guard is more than the window can hold, so for a single target the alert could
    never fire. The message gives the highest objective (rounded down) and the interval that would
    do: scraping and evaluating every `every` s, one bad sample stays at or under the threshold."""
    import math

    from lukhas_obs import conventions as conv
    from lukhas_obs.durations import format_duration, parse_duration

    p = spec.prometheus
    evaluation = parse_duration(p.slo_evaluation_interval)
    weight = conv.failed_scrape_weight(p)
    one = "one sample out of bounds" if isinstance(slo.sli, m.ThresholdSLI) else "one failed scrape"
    for kind in ("page", "ticket"):
        for w in conv.burn_windows(slo, kind):
            needed = conv.min_samples(p, slo, w)
            held = int(parse_duration(w.long) // evaluation)
            if needed is None or needed <= held:
                continue
            below = math.floor((1 - weight * evaluation / (parse_duration(w.long) * w.factor)) * 10000) / 100
            # scraped and evaluated alike, one bad sample weighs one: the window must hold samples_for(1, t)
            every = format_duration(max(1, math.floor(parse_duration(w.long) / conv.samples_for(1, w.threshold(slo)))))
            err(path + ("objective",),
                f"with SLO evaluations every {p.slo_evaluation_interval} and scrapes every {p.scrape_interval}, "
                f"the {kind} alert's {w.long} window holds {held} samples of a target and {one} counts in "
                f"{weight} of them: {weight / held * 100:.3g} %, above the alert's threshold of {w.factor:g} x "
                f"{slo.error_budget * 100:g} % = {w.threshold(slo) * 100:.3g} %, so {one} would read as the budget "
                f"burning. At these intervals objectives must be below {below:g} %; or scrape and evaluate the SLOs "
                f"every {every} or less (prometheus.scrape_interval, prometheus.slo_evaluation_interval)")
            return


def _receiver_files(spec: m.Spec, err: Err) -> None:
    """The stack mounts each receiver secret file from <secrets_dir>/alertmanager/<name>: two paths
    that come to one name would read one secret (a Slack URL sent to PagerDuty as a key)."""
    from lukhas_obs.conventions import alertmanager_secret_name

    seen: dict[str, tuple[str, str]] = {}
    for r in spec.receivers:
        for key, path in r.secret_files():
            name = alertmanager_secret_name(path)
            first = seen.setdefault(name, (r.name, path))
            if first[1] != path:
                kind = r.notifier.kind if r.notifier else ""
                err(("receivers", r.name, kind, key), f"{path} and {first[1]} (receiver {first[0]}) would both be "
                                                      f"mounted from <secrets_dir>/alertmanager/{name}: give one "
                                                      "another file name")
