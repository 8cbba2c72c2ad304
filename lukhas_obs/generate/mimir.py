"""Rules laid out for distributed rulers: one Mimir/Cortex ruler namespace per service (the
SLO groups) plus one for the project's own alerts, in mimirtool's file format
(`mimirtool rules load generated/mimir/*.yml`). Thanos Ruler reads the plain rule files under
generated/prometheus/rules/ unchanged.

Limits: Mimir rejects a group of more than 20 rules and a tenant with more than 70 groups by
default; the spec's `ruler:` may raise them to match the cluster. Exceeding them is an error
here, not at load time in production."""

from __future__ import annotations

from lukhas_obs.errors import GenerateError
from lukhas_obs.model import RulerSettings, Spec


def namespaces(spec: Spec, rule_files: dict[str, dict]) -> dict[str, dict]:
    """rule_files: the generated rule documents by file stem (alerts, slo-<service>-<slo>)."""
    r = spec.ruler or RulerSettings()
    by_ns: dict[str, list[dict]] = {}
    owners = {f"slo-{s.id}": s.service for s in spec.slos}
    for stem, doc in sorted(rule_files.items()):
        ns = owners.get(stem, spec.project)
        for group in doc["groups"]:
            group = dict(group)
            if r.source_tenants:
                group["source_tenants"] = list(r.source_tenants)
            if len(group["rules"]) > r.max_rules_per_group:
                raise GenerateError(f"rule group {group['name']} has {len(group['rules'])} rules; the ruler accepts "
                                    f"{r.max_rules_per_group} (ruler.max_rules_per_group)")
            by_ns.setdefault(ns, []).append(group)
    total = sum(len(g) for g in by_ns.values())
    if total > r.max_groups_per_tenant:
        raise GenerateError(f"{total} rule groups for one tenant; the ruler accepts {r.max_groups_per_tenant} "
                            "(ruler.max_groups_per_tenant)")
    return {ns: {"namespace": ns, "groups": groups} for ns, groups in by_ns.items()}
