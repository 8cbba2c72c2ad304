"""Decisions of the gate's statistical checks, for the SHIPPED configuration (specs/lukhas.yaml):

A. canary false rollbacks of an unchanged canary over a whole stepped rollout (looked at every minute),
B. power against one service whose canary doubles its error ratio,
C. smoke's single-look ratio rule against the rule it replaced,

each beside the rules it replaced ("before issue 11": fixed 5-minute window, z-test with Yates + effect-size
floor, or Wilson lower bound above the SLO allowance, no multiplicity correction; and a fixed 1 % threshold),
on the same simulated data. Measurements, not tests: nothing here passes or fails."""

from __future__ import annotations

import json
import math
import random
import statistics
import sys
import time
from pathlib import Path
from statistics import NormalDist

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lukhas_obs.gate import stats  # noqa: E402
from lukhas_obs.gate.checks import judge_canary, judge_ratio  # noqa: E402
from lukhas_obs.gate.decide import Outcome, correct_family  # noqa: E402
from lukhas_obs.spec import load_spec  # noqa: E402

# ---- the rule before issue 11, kept here as the baseline it is measured against -------------

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
    """One-sided two-proportion z-test with Yates' continuity correction (the old canary test)."""
    if n_canary <= 0 or n_base <= 0:
        return 1.0
    p1, p2 = k_canary / n_canary, k_base / n_base
    pooled = (k_canary + k_base) / (n_canary + n_base)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n_canary + 1 / n_base))
    if se == 0:
        return 0.0 if p1 > p2 else 1.0
    z = (p1 - p2 - 0.5 * (1 / n_canary + 1 / n_base)) / se
    return 0.5 * math.erfc(z / math.sqrt(2))

SPEC = load_spec(ROOT / "specs" / "lukhas.yaml")
G = SPEC.gates
ALPHA = 1.0 - G.confidence
SERVICES = [s.name for s in SPEC.services if s.kind == "application"]
SIGNALS = ("errors", f"slower than {G.latency_threshold:g}s")
FAMILY = len(SERVICES) * len(SIGNALS)  # canary mode: errors and latency per service
ALLOWANCE = (0.001, 0.01)  # the old rule's absolute SLO allowance: errors (99.9 %), latency (99 % within 0.25 s)
SLOW_RATIO = 0.002
MINUTES_PER_STEP = 5
LOOKS = MINUTES_PER_STEP * len(G.steps)
OLD_WINDOW = 5  # batches (minutes) in the old rule's fixed window
Z_OLD = z_for(G.confidence)
CANARY_AT_5000 = 5000
# run counts, chosen for about 3 minutes on 2 cores
RUNS_A = 8000  # rollouts per row: a 95 % interval of about +-0.1 pp around 0.2 %
RUNS_B = 2500
SCREEN_CHECK_RUNS = 10  # per row, the first rollouts: every look also decided by judge_canary + correct_family
_screen_mismatch: list[int] = []


class Draw:
    """Seeded draws: binomials exact (inversion) unless n p (1-p) > 50, then a rounded normal;
    Poisson arrivals exact below a mean of 50, normal above."""

    def __init__(self, seed: int):
        self.rng = random.Random(seed)

    def binomial(self, n: int, p: float) -> int:
        if n <= 0 or p <= 0.0:
            return 0
        var = n * p * (1.0 - p)
        if var > 50.0:
            return min(n, max(0, round(self.rng.gauss(n * p, math.sqrt(var)))))
        r = p / (1.0 - p)
        pmf = math.exp(n * math.log1p(-p))
        cdf, k, u = pmf, 0, self.rng.random()
        while u > cdf and k < n:
            pmf *= (n - k) / (k + 1) * r
            k += 1
            cdf += pmf
        return k

    def poisson(self, lam: float) -> int:
        if lam <= 0.0:
            return 0
        if lam > 50.0:
            return max(0, round(self.rng.gauss(lam, math.sqrt(lam))))
        pmf = math.exp(-lam)
        cdf, k, u = pmf, 0, self.rng.random()
        while u > cdf:
            k += 1
            pmf *= lam / k
            cdf += pmf
        return k


def simulate(draw: Draw, rps: float, p_base: float, canary_error_x: float = 1.0) -> list[list[stats.Batch]]:
    """One rollout: per check (service x signal, in that order) its 25 one-minute batches. The canary's
    weight follows gates.canary.steps, 5 minutes a step; service 0's canary errors at canary_error_x x."""
    checks: list[list[stats.Batch]] = [[] for _ in range(FAMILY)]
    for minute in range(LOOKS):
        w = G.steps[minute // MINUTES_PER_STEP] / 100
        for si in range(len(SERVICES)):
            nc, nb = draw.poisson(rps * 60 * w), draw.poisson(rps * 60 * (1 - w))
            pc = p_base * (canary_error_x if si == 0 else 1.0)
            checks[2 * si].append(stats.Batch(draw.binomial(nc, pc), nc, draw.binomial(nb, p_base), nb))
            checks[2 * si + 1].append(stats.Batch(draw.binomial(nc, SLOW_RATIO), nc,
                                                  draw.binomial(nb, SLOW_RATIO), nb))
    return checks


def new_rule_exact(checks: list[list[stats.Batch]], look: int) -> bool:
    """The shipped rule at one look: judge_canary over each check's life so far, Holm over the family."""
    results = [judge_canary("canary", SERVICES[i // 2], SIGNALS[i % 2], batches[:look], G.confidence, G.rule_out,
                            G.min_relative_increase, G.min_absolute_increase, G.canary_min_requests)
               for i, batches in enumerate(checks)]
    return any(c.outcome == Outcome.FAIL for c in correct_family(results, ALPHA))


def new_rule(checks: list[list[stats.Batch]], stop_at_first: bool = False) -> list[bool]:
    """FAIL or not at each look. The e-values are summed batch by batch (stats.log_lr is a sum over
    batches) to screen the looks: a look where Holm, given a small margin, would reject a material check
    is decided by new_rule_exact (judge_canary + correct_family), every other look cannot FAIL. The
    screen is checked against new_rule_exact at every look of some rollouts (see 'screen_check')."""
    log_rhos = math.log(len(stats.WORSE_RHOS))
    cum = [[0.0] * len(stats.WORSE_RHOS) for _ in checks]
    sums = [[0.0, 0.0, 0.0, 0.0] for _ in checks]
    out = []
    slack = 1.0 + 1e-6
    for look in range(1, LOOKS + 1):
        ps, material = [], []
        for i, batches in enumerate(checks):
            b = batches[look - 1]
            c = cum[i]
            for j, rho in enumerate(stats.WORSE_RHOS):
                c[j] += stats.log_lr([b], rho, 1.0)
            s = sums[i]
            s[0] += b.canary_bad
            s[1] += b.canary_total
            s[2] += b.baseline_bad
            s[3] += b.baseline_total
            m = max(c)
            log_e = m + math.log(sum(math.exp(v - m) for v in c)) - log_rhos
            ps.append(1.0 if log_e <= 0 else math.exp(-log_e) / slack)
            mat = False
            if s[1] > 0 and s[3] > 0:
                rc, rb = s[0] / s[1], s[2] / s[3]
                mat = rc >= rb * G.min_relative_increase * (1 - 1e-9) and rc - rb >= G.min_absolute_increase - 1e-12
            material.append(mat)
        candidate = any(r and m for r, m in zip(stats.holm(ps, ALPHA), material, strict=True))
        out.append(candidate and new_rule_exact(checks, look))
        if stop_at_first and out[-1]:
            return out + [False] * (LOOKS - look)  # rolled back: later looks are not needed
    return out


def old_rules(checks: list[list[stats.Batch]]) -> dict[str, list[bool]]:
    """The rules replaced, per look over the last OLD_WINDOW batches: before issue 11 (both parts, and its
    relative test alone), and the fixed 1 % error threshold."""
    out = {"before_issue_11": [], "before_issue_11_relative_part_only": [], "fixed_1pct": []}
    for look in range(1, LOOKS + 1):
        lo = max(0, look - OLD_WINDOW)
        any_fail = rel_fail = fixed = False
        for i, batches in enumerate(checks):
            window = batches[lo:look]
            kc = sum(b.canary_bad for b in window)
            nc = sum(b.canary_total for b in window)
            kb = sum(b.baseline_bad for b in window)
            nb = sum(b.baseline_total for b in window)
            if nc < G.canary_min_requests:
                continue
            if i % 2 == 0 and kc / nc > 0.01:
                fixed = True
            if nb < G.canary_min_requests:
                continue
            rc, rb = kc / nc, kb / nb
            material = rc >= rb * G.min_relative_increase and rc - rb >= G.min_absolute_increase
            if material and worse_p_value(kc, nc, kb, nb) < ALPHA:
                rel_fail = any_fail = True
            elif wilson(kc, nc, Z_OLD)[0] > ALLOWANCE[i % 2]:
                any_fail = True
        out["before_issue_11"].append(any_fail)
        out["before_issue_11_relative_part_only"].append(rel_fail)
        out["fixed_1pct"].append(fixed)
    return out


def all_rules(checks: list[list[stats.Batch]], stop_at_first: bool = False) -> dict[str, list[bool]]:
    return {"new_shipped": new_rule(checks, stop_at_first), **old_rules(checks)}


def cp95(k: int, n: int) -> list[float]:
    lo, hi = stats.clopper_pearson(k, n, 0.975)
    return [round(100 * lo, 2), round(100 * hi, 2)]


def pct(k: int, n: int) -> float:
    return round(100 * k / n, 2)


def sig(x: float) -> float:
    return float(f"{x:.3g}")


def false_rollbacks(rows: list[tuple[float, float]], runs: int, seed: int) -> tuple[list[dict], int]:
    out, screen_looks = [], 0
    for r, (p_base, rps) in enumerate(rows):
        draw = Draw(seed + r)
        rolled: dict[str, int] = {}
        looks_failed: dict[str, int] = {}
        first_fail_steps: dict[str, list[int]] = {}
        for run in range(runs):
            checks = simulate(draw, rps, p_base)
            decided = all_rules(checks)
            if run < SCREEN_CHECK_RUNS:
                screen_looks += screen_check(checks, decided["new_shipped"])
            for rule, fails in decided.items():
                looks_failed[rule] = looks_failed.get(rule, 0) + sum(fails)
                hit = any(fails)
                rolled[rule] = rolled.get(rule, 0) + hit
                steps = first_fail_steps.setdefault(rule, [0] * len(G.steps))
                if hit:
                    steps[fails.index(True) // MINUTES_PER_STEP] += 1
        row = {"baseline_error_ratio": p_base, "req_per_s_per_service": rps, "rollouts": runs}
        for rule in rolled:
            row[rule] = {
                "per_rollout_pct": pct(rolled[rule], runs), "per_rollout_cp95_pct": cp95(rolled[rule], runs),
                "per_look_pct": pct(looks_failed[rule], runs * LOOKS),
                "per_look_cp95_pct": cp95(looks_failed[rule], runs * LOOKS),
                "first_rollback_by_step": dict(zip((f"{s}%" for s in G.steps), first_fail_steps[rule], strict=True))}
        out.append(row)
    return out, screen_looks


def power(rows: list[float], runs: int, seed: int, rps: float = 100.0) -> tuple[list[dict], int]:
    out, screen_looks = [], 0
    for r, p_base in enumerate(rows):
        draw = Draw(seed + r)
        at_rollback: dict[str, list[float]] = {}
        for run in range(runs):
            checks = simulate(draw, rps, p_base, canary_error_x=2.0)
            served, n = [], 0.0
            for b in checks[0]:
                n += b.canary_total
                served.append(n)
            decided = all_rules(checks, stop_at_first=True)
            if run < SCREEN_CHECK_RUNS:
                screen_looks += screen_check(checks, decided["new_shipped"], stop_at_first=True)
            for rule, fails in decided.items():
                at_rollback.setdefault(rule, [])
                if any(fails):
                    at_rollback[rule].append(served[fails.index(True)])
        row = {"baseline_error_ratio": p_base, "canary_error_ratio_of_one_service": 2 * p_base,
               "req_per_s_per_service": rps, "rollouts": runs}
        for rule, ns in at_rollback.items():
            early = sum(1 for x in ns if x <= CANARY_AT_5000)
            row[rule] = {"rolled_back_by_5000_canary_requests_pct": pct(early, runs),
                         "by_5000_cp95_pct": cp95(early, runs),
                         "rolled_back_by_end_pct": pct(len(ns), runs), "by_end_cp95_pct": cp95(len(ns), runs),
                         "median_canary_requests_at_rollback": statistics.median(ns) if ns else None}
        out.append(row)
    return out, screen_looks


def screen_check(checks: list[list[stats.Batch]], screened: list[bool], stop_at_first: bool = False) -> int:
    """The screened decision against judge_canary + correct_family at every look (up to the first
    rollback with stop_at_first); returns the number of looks checked."""
    for look in range(1, LOOKS + 1):
        exact = new_rule_exact(checks, look)
        if exact != screened[look - 1]:
            _screen_mismatch.append(look)
        if stop_at_first and exact:
            return look
    return LOOKS


def smoke() -> list[dict]:
    """Exact probabilities: both rules are monotone in the bad count, so each outcome is a binomial tail."""
    target = 0.001
    rows = []
    for n in (100, 1000, 10000, 30000):
        new_fail = new_pass = old_fail = old_pass = None  # smallest k that FAILs, largest k that PASSes
        k = 0
        while new_fail is None or old_fail is None:
            r = judge_ratio("error ratio", "svc", k, n, target, "errors", G.confidence, G.smoke_tolerance,
                            G.min_requests, "5m")
            if r.outcome == Outcome.PASS:
                assert new_pass == k - 1 or (new_pass is None and k == 0), (n, k)
                new_pass = k
            if r.outcome == Outcome.FAIL and new_fail is None:
                new_fail = k
            assert new_fail is None or r.outcome == Outcome.FAIL, (n, k, r.outcome)
            if n >= G.min_requests and k / n <= target:
                old_pass = k
            if old_fail is None and n >= G.min_requests and wilson(k, n, Z_OLD)[0] > target:
                old_fail = k
            k += 1

        def p_le(kmax: int | None, p: float, n: int = n) -> float:  # P(X <= kmax), small tails kept exact
            if kmax is None:
                return 0.0
            return 1.0 if kmax >= n else stats.betainc(n - kmax, kmax + 1, 1.0 - p)

        row = {"n": n, "target": target,
               "new_fail_from_k": new_fail, "new_pass_up_to_k": new_pass,
               "old_fail_from_k": old_fail, "old_pass_up_to_k": old_pass}
        for rule, kf, kp in (("new_shipped", new_fail, new_pass), ("old_wilson", old_fail, old_pass)):
            row[rule] = {"P_fail_at_target_pct": sig(100 * stats.binom_sf(kf, n, target)),
                         "P_pass_at_5x_target_pct": sig(100 * p_le(kp, 5 * target)),
                         "P_pass_at_half_target_pct": sig(100 * p_le(kp, target / 2))}
        rows.append(row)
    return rows


def main() -> dict:
    t_all = time.perf_counter()
    config = {"spec": "specs/lukhas.yaml", "confidence": G.confidence, "alpha": round(ALPHA, 6),
              "rule_out": G.rule_out, "min_relative_increase": G.min_relative_increase,
              "min_absolute_increase": G.min_absolute_increase, "canary_min_requests": G.canary_min_requests,
              "steps": list(G.steps), "minutes_per_step": MINUTES_PER_STEP, "looks_per_rollout": LOOKS,
              "services": len(SERVICES), "tests_per_evaluation": FAMILY,
              "canary_requests_per_service_at_end_of_each_step_at_100_req_s": [
                  round(sum(6000 * G.steps[m // MINUTES_PER_STEP] / 100 for m in range(MINUTES_PER_STEP * (i + 1))))
                  for i in range(len(G.steps))], "slow_ratio": SLOW_RATIO,
              "smoke_tolerance": G.smoke_tolerance, "min_requests": G.min_requests,
              "old_rule_slo_allowance": {"errors": ALLOWANCE[0], "latency": ALLOWANCE[1]}}
    out: dict = {"config": config}
    timing = {}

    t = time.perf_counter()
    rows, looks_a = false_rollbacks([(0.001, 100.0), (0.005, 100.0), (0.01, 100.0), (0.005, 20.0)], RUNS_A, 2011)
    timing["A_false_rollbacks_s"] = round(time.perf_counter() - t, 1)
    print(f"A false rollbacks: {timing['A_false_rollbacks_s']} s", flush=True)
    out["A_false_rollbacks_unchanged_canary"] = {
        "note": ("per_look counts every one of the 25 looks of every rollout separately, each judged on the data so "
                 "far as if the rollout had gone on (looks of one rollout are correlated, so its interval is "
                 "optimistic); per_rollout: rolled back at any look. Intervals: 95 % Clopper-Pearson. Goal for the "
                 "new rule: <= 1 % per rollout. At the 100 % step the baseline serves nothing: its batches carry no "
                 "evidence for the new rule, and the old rules need 200 baseline requests in their window."),
        "rows": rows}

    t = time.perf_counter()
    rows, looks_b = power([0.005, 0.01, 0.001], RUNS_B, 3011)
    timing["B_power_s"] = round(time.perf_counter() - t, 1)
    print(f"B power: {timing['B_power_s']} s", flush=True)
    out["B_power_one_service_2x_errors"] = {
        "note": ("service 0's canary errors at 2x its baseline, every other ratio unchanged, 100 req/s per service. "
                 "'by 5000 canary requests': rolled back at a look where that service's canary had served at most "
                 "5,000 requests (at 100 req/s: the look at minute 10, 4,500 requests; minute 11 has 6,000). The "
                 "median of that service's canary requests at the rollback is over the rolled-back rollouts only. "
                 "Goal for the new rule: >= 95 % by 5,000."),
        "rows": rows}

    t = time.perf_counter()
    out["C_smoke_single_look"] = {
        "note": ("exact binomial probabilities, one check at one look: Holm's correction over the smoke family is NOT "
                 "applied here (it would only lower P(FAIL)). new: judge_ratio (Clopper-Pearson, tolerance "
                 f"{G.smoke_tolerance:g}x, >= {G.min_requests} requests to PASS); old: FAIL when the Wilson lower "
                 "bound is above the target, PASS when the ratio is <= the target. k: errors of n."),
        "rows": smoke()}
    timing["C_smoke_s"] = round(time.perf_counter() - t, 1)
    print(f"C smoke: {timing['C_smoke_s']} s", flush=True)

    out["screen_check"] = {"looks_checked_against_judge_canary": looks_a + looks_b,
                           "mismatches": len(_screen_mismatch)}
    timing["total_s"] = round(time.perf_counter() - t_all, 1)
    out["wall_time"] = timing
    print(json.dumps(out, indent=2))
    return out

if __name__ == "__main__":
    main()
