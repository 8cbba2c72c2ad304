"""The user-facing spec: JSON Schema, a loader that keeps line numbers, and meaning checks."""

from lukhas_obs.spec.loader import load_spec, load_spec_text

__all__ = ["load_spec", "load_spec_text"]
