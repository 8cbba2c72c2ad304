"""lukhas-obs: monitoring and alerting as code, plus an SLO gate for deploy pipelines."""

__version__ = "0.1.0"
