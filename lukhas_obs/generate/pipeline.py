"""Which files exist: every target module rendered into one dict of path -> text."""

from __future__ import annotations

import multiprocessing
import os

from lukhas_obs.generate import (
    alertmanager,
    alerts,
    compose,
    dashboards,
    kubernetes,
    loki,
    mimir,
    rollouts,
    scrape,
    slo,
    slotests,
)
from lukhas_obs.generate.writer import header
from lukhas_obs.generate.yamlout import dump
from lukhas_obs.model import SLO, Spec

# Past this many SLOs the per-SLO files are rendered on every core (the output is the same).
PARALLEL_FROM = 100


def _slo_files(spec: Spec, slos: tuple[SLO, ...]) -> dict[str, str]:
    head = header(spec.source)
    files = {}
    for s in slos:
        files[f"prometheus/rules/slo-{s.id}.rules.yml"] = dump(slo.slo_rule_file(spec, s), head)
        files[f"prometheus/rules/slo-{s.id}.test.yml"] = dump(slotests.slo_test_file(spec, s),
                                                              head + slotests.header_note(s))
    return files


def _slo_files_parallel(spec: Spec) -> dict[str, str]:
    workers = min(os.cpu_count() or 1, 8)
    slos = spec.slos
    if workers < 2 or len(slos) < PARALLEL_FROM or "fork" not in multiprocessing.get_all_start_methods():
        return _slo_files(spec, slos)
    # The workers are forked with the spec in memory (a fork pickles no initargs): a task is two
    # numbers, not a pickled copy of a 1,000-service spec.
    with multiprocessing.get_context("fork").Pool(workers, initializer=_adopt, initargs=(spec,)) as pool:
        parts = pool.starmap(_share, [(i, workers) for i in range(workers)])
    return {k: v for part in parts for k, v in part.items()}


_adopted: Spec | None = None   # set in forked workers only


def _adopt(spec: Spec) -> None:
    global _adopted
    _adopted = spec


def _share(part: int, parts: int) -> dict[str, str]:
    """Every `parts`-th SLO file of the adopted spec, from the `part`-th on."""
    assert _adopted is not None, "_share runs in a worker the pool started with _adopt"
    return _slo_files(_adopted, _adopted.slos[part::parts])


def render(spec: Spec) -> dict[str, str]:
    """Every generated file, keyed by its path under the output folder. Pure and deterministic."""
    head = header(spec.source)
    files: dict[str, str] = {
        "prometheus/prometheus.yml": dump(scrape.prometheus_config(spec), head),
        "blackbox/blackbox.yml": dump(scrape.blackbox_config(spec), head),
        "alertmanager/alertmanager.yml": dump(alertmanager.alertmanager_config(spec), head),
    }
    rules = alerts.alert_rules(spec)
    if rules:
        files["prometheus/rules/alerts.rules.yml"] = dump(rules, head)
    files["loki/loki.yml"] = dump(loki.loki_config(spec), head)
    files["promtail/promtail.yml"] = dump(loki.promtail_config(spec), head)
    if spec.logs.queries:
        files["loki/queries.md"] = loki.queries_page(spec)
    log_rules = loki.ruler_rules(spec)
    if log_rules:
        files[f"loki/rules/{loki.TENANT}/{spec.project}.rules.yml"] = dump(log_rules, head)
    for uid, dash in dashboards.dashboards(spec).items():
        files[f"grafana/dashboards/{uid}.json"] = dashboards.to_json(dash)
    for rel, doc in dashboards.provisioning(spec).items():
        files[f"grafana/provisioning/{rel}"] = dump(doc, head)
    files.update(_slo_files_parallel(spec))
    if spec.kubernetes is not None or spec.ruler is not None:
        files.update(_other_layouts(spec, files, head))
    files.update({path: dump(obj, head) for path, obj in rollouts.objects(spec).items()})
    return dict(sorted(files.items()))


def _other_layouts(spec: Spec, files: dict[str, str], head: str) -> dict[str, str]:
    """The same rules and dashboards, packaged for the Prometheus Operator and for Mimir/Cortex
    rulers. They are read back from the rendered files, so every layout carries the same bytes'
    meaning and the per-SLO rendering stays in one (parallel) place."""
    import yaml

    safe = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's: the Python one was 40 % of render
    rule_files = {path.split("/")[-1].removesuffix(".rules.yml"): yaml.load(text, Loader=safe)
                  for path, text in files.items()
                  if path.startswith("prometheus/rules/") and path.endswith(".rules.yml")}
    out = {}
    if spec.kubernetes is not None:
        boards = {path.split("/")[-1].removesuffix(".json"): text
                  for path, text in files.items() if path.startswith("grafana/dashboards/")}
        out.update({f"kubernetes/{name}": dump(obj, head)
                    for name, obj in kubernetes.objects(spec, rule_files, boards).items()})
    if spec.ruler is not None:
        out.update({f"mimir/{ns}.yml": dump(doc, head) for ns, doc in mimir.namespaces(spec, rule_files).items()})
    return out


def render_deployment(spec: Spec, generated: str = compose.GEN) -> dict[str, str]:
    """Files for deployment/ (beside its hand-written README), keyed by name. `generated` is the
    output folder as the compose file's folder sees it (writer.relative_mount)."""
    return {compose.FILE: dump(compose.compose(spec, generated), header(spec.source))}
