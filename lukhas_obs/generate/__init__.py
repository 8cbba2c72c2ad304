"""spec -> files, one module per target (scrape, alerts, alertmanager, slo, slotests, dashboards,
loki, compose, kubernetes, mimir); pipeline.py decides which files exist.

`render` and `render_deployment` are loaded on first use, so that importing one generator (the
gate reads the SLO engine's expressions) does not import them all."""

from __future__ import annotations


def __getattr__(name: str):
    if name in ("render", "render_deployment"):
        from lukhas_obs.generate import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
