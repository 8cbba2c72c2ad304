"""Which files exist: every target builds documents, each document is serialised once, here.

The Kubernetes (PrometheusRule, dashboard ConfigMaps) and Mimir layouts are built from the same
rule documents and dashboard JSON as the plain files, never by reading rendered output back.
Every PromQL expression of a rule or a dashboard is parsed before a file is written
(promqlcheck)."""

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
from lukhas_obs.generate.promqlcheck import PromQLCheck
from lukhas_obs.generate.writer import header
from lukhas_obs.generate.yamlout import dump
from lukhas_obs.model import SLO, Spec

# Past this many SLOs the per-SLO files are rendered on every core (the output is the same).
PARALLEL_FROM = 100

RULES_DIR = "prometheus/rules"


def rule_file(stem: str) -> str:
    return f"{RULES_DIR}/{stem}.rules.yml"


def _slo_files(spec: Spec, slos: tuple[SLO, ...], keep_rules: bool) -> tuple[dict[str, str], dict[str, dict]]:
    """The per-SLO rule and promtool test files as text, and (when another layout needs them) the
    rule documents by file stem. Their PromQL is checked here, on the worker that built it."""
    head = header(spec.source)
    check = PromQLCheck()
    files, rules = {}, {}
    for s in slos:
        stem = f"slo-{s.id}"
        doc = slo.slo_rule_file(spec, s)
        check.rules(rule_file(stem), doc)
        files[rule_file(stem)] = dump(doc, head)
        files[f"{RULES_DIR}/{stem}.test.yml"] = dump(slotests.slo_test_file(spec, s), head + slotests.header_note(s))
        if keep_rules:
            rules[stem] = doc
    return files, rules


def _slo_files_parallel(spec: Spec, keep_rules: bool) -> tuple[dict[str, str], dict[str, dict]]:
    workers = min(os.cpu_count() or 1, 8)
    slos = spec.slos
    if workers < 2 or len(slos) < PARALLEL_FROM or "fork" not in multiprocessing.get_all_start_methods():
        return _slo_files(spec, slos, keep_rules)
    # The workers are forked with the spec in memory (a fork pickles no initargs): a task is
    # three numbers, not a pickled copy of a 1,000-service spec.
    with multiprocessing.get_context("fork").Pool(workers, initializer=_adopt, initargs=(spec,)) as pool:
        parts = pool.starmap(_share, [(i, workers, keep_rules) for i in range(workers)])
    return ({k: v for files, _ in parts for k, v in files.items()},
            {k: v for _, rules in parts for k, v in rules.items()})


_adopted: Spec | None = None   # set in forked workers only


def _adopt(spec: Spec) -> None:
    global _adopted
    _adopted = spec


def _share(part: int, parts: int, keep_rules: bool) -> tuple[dict[str, str], dict[str, dict]]:
    """Every `parts`-th SLO's files of the adopted spec, from the `part`-th on."""
    assert _adopted is not None, "_share runs in a worker the pool started with _adopt"
    return _slo_files(_adopted, _adopted.slos[part::parts], keep_rules)


def render(spec: Spec) -> dict[str, str]:
    """Every generated file, keyed by its path under the output folder. Pure and deterministic."""
    head = header(spec.source)
    check = PromQLCheck()
    docs: dict[str, dict] = {           # YAML documents, serialised at the end
        "prometheus/prometheus.yml": scrape.prometheus_config(spec),
        "blackbox/blackbox.yml": scrape.blackbox_config(spec),
        "alertmanager/alertmanager.yml": alertmanager.alertmanager_config(spec),
    }
    texts: dict[str, str] = {}          # files that are text already
    rule_docs: dict[str, dict] = {}     # rule file stem -> document, for the other layouts
    rules = alerts.alert_rules(spec)
    if rules:
        check.rules(rule_file("alerts"), rules)
        docs[rule_file("alerts")] = rule_docs["alerts"] = rules
    docs["loki/loki.yml"] = loki.loki_config(spec)
    docs["promtail/promtail.yml"] = loki.promtail_config(spec)
    if spec.logs.queries:
        texts["loki/queries.md"] = loki.queries_page(spec)
    log_rules = loki.ruler_rules(spec)
    if log_rules:
        docs[f"loki/rules/{loki.TENANT}/{spec.project}.rules.yml"] = log_rules
    boards: dict[str, str] = {}         # uid -> the dashboard's JSON, in its file and its ConfigMap
    for uid, dash in dashboards.dashboards(spec).items():
        check.dashboard(uid, dash)
        boards[uid] = texts[f"grafana/dashboards/{uid}.json"] = dashboards.to_json(dash)
    for rel, doc in dashboards.provisioning(spec).items():
        docs[f"grafana/provisioning/{rel}"] = doc
    slo_texts, slo_rules = _slo_files_parallel(spec, keep_rules=spec.kubernetes is not None or spec.ruler is not None)
    texts.update(slo_texts)
    rule_docs.update(slo_rules)
    if spec.kubernetes is not None:
        docs.update({f"kubernetes/{name}": obj
                     for name, obj in kubernetes.objects(spec, dict(sorted(rule_docs.items())), boards).items()})
    if spec.ruler is not None:
        docs.update({f"mimir/{ns}.yml": doc for ns, doc in mimir.namespaces(spec, rule_docs).items()})
    docs.update(rollouts.objects(spec))
    files = {path: dump(doc, head) for path, doc in docs.items()}
    files.update(texts)
    return dict(sorted(files.items()))


def render_deployment(spec: Spec, generated: str = compose.GEN) -> dict[str, str]:
    """Files for deployment/ (beside its hand-written README), keyed by name. `generated` is the
    output folder as the compose file's folder sees it (writer.relative_mount)."""
    return {compose.FILE: dump(compose.compose(spec, generated), header(spec.source))}
