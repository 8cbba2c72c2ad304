"""spec -> files, one module per target (scrape, alerts, alertmanager, slo, slotests, dashboards,
loki, compose, kubernetes, mimir, rollouts); pipeline.py decides which files exist. The names
and SLI maths they share with the gate live in lukhas_obs.conventions, so the gate imports no
generator."""

from __future__ import annotations

from lukhas_obs.generate.pipeline import render, render_deployment

__all__ = ["render", "render_deployment"]
