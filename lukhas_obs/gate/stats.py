"""Small, dependency-free statistics for comparing error ratios."""

from __future__ import annotations

import math
from statistics import NormalDist


def z_for(confidence: float) -> float:
    """One-sided z for a confidence level (0.99 -> 2.326)."""
    return NormalDist().inv_cdf(confidence)


def wilson(k: float, n: float, z: float) -> tuple[float, float]:
    """Wilson score interval for k successes in n trials."""
    if n <= 0:
        return 0.0, 1.0
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def worse_p_value(k_canary: float, n_canary: float, k_base: float, n_base: float) -> float:
    """One-sided p-value of a two-proportion z-test that the canary's ratio is higher, with
    Yates' continuity correction: error counts in a 5-minute canary window are small (a handful
    of 5xx), where the plain normal approximation rolls back more healthy canaries than its
    nominal level (1.7 % instead of 1 % at 2,000 canary requests, measured in
    benchmarks/bench_gate.py)."""
    if n_canary <= 0 or n_base <= 0:
        return 1.0
    p1, p2 = k_canary / n_canary, k_base / n_base
    pooled = (k_canary + k_base) / (n_canary + n_base)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n_canary + 1 / n_base))
    if se == 0:
        return 0.0 if p1 > p2 else 1.0
    z = (p1 - p2 - 0.5 * (1 / n_canary + 1 / n_base)) / se
    return 0.5 * math.erfc(z / math.sqrt(2))
