"""Exact statistics of the gate (lukhas_obs/gate/stats.py): reference values, coverage and validity
properties by simulation, edge cases. In-process and fast.

The reference values were computed once with scipy 1.17.1 (the call is named above each table) and
checked against a 50-digit mpmath evaluation; scipy is not a dependency of the project."""

from __future__ import annotations

import math
import random

import pytest

from lukhas_obs.gate.stats import (
    WORSE_RHOS,
    Batch,
    beta_ppf,
    betainc,
    binom_sf,
    clopper_pearson,
    conditional_p,
    e_not_worse,
    e_worse,
    exceeds_p,
    fisher_greater,
    holm,
    log_lr,
    more_canary_requests,
)


def rel(got: float, want: float) -> float:
    return abs(got - want) / abs(want) if want else abs(got)


def binomial(rng: random.Random, n: int, p: float) -> int:
    """One Binomial(n, p) draw by inversion (random.binomialvariate needs Python 3.12)."""
    u = rng.random()
    pmf = (1.0 - p) ** n
    cdf, k = pmf, 0
    while u > cdf and k < n:
        pmf *= (n - k) / (k + 1) * p / (1.0 - p)
        k += 1
        cdf += pmf
    return k


# ---- reference values --------------------------------------------------------------------------

# scipy.special.betainc(a, b, x)
BETAINC = [
    (2, 3, 0.4, 0.5247999999999999),
    (0.5, 0.5, 0.3, 0.36901011956554536),
    (5, 996, 0.001, 0.003636878029521792),
    (4.5, 29997.2, 0.0001, 0.26009071566522196),
    (1000, 2000, 0.3, 4.0738279160507626e-05),
    (50000, 50000, 0.499, 0.26354493829704484),
    (30, 100000.0, 0.0001, 2.519982755945466e-07),
    (200000.0, 3.5, 0.99998, 0.3325824393279037),
    (0.01, 5, 0.2, 0.9978180380770353),
]


@pytest.mark.parametrize("a, b, x, want", BETAINC)
def test_betainc_reference(a, b, x, want):
    assert rel(betainc(a, b, x), want) < 1e-9


def test_betainc_edges():
    assert betainc(2, 3, 0.0) == 0.0
    assert betainc(2, 3, -1.0) == 0.0
    assert betainc(2, 3, 1.0) == 1.0
    assert betainc(2, 3, 2.0) == 1.0
    assert math.isnan(betainc(2, 3, math.nan))
    # symmetry I_x(a, b) = 1 - I_{1-x}(b, a), on both sides of the switch point
    for a, b, x in ((3.5, 7.25, 0.2), (3.5, 7.25, 0.6), (1e4, 2e4, 0.34)):
        assert abs(betainc(a, b, x) - (1 - betainc(b, a, 1 - x))) < 1e-13
    for a, b in ((0.0, 1.0), (1.0, -2.0), (math.inf, 1.0)):
        with pytest.raises(ValueError):
            betainc(a, b, 0.5)


# scipy.stats.beta.ppf(q, a, b)
BETA_PPF = [
    (0.01, 1, 50, 0.0002009865165733764),
    (0.99, 1, 50, 0.08798916064409025),
    (0.01, 15, 136, 0.050974750195645235),
    (0.99, 16, 135, 0.17132115981341245),
    (0.05, 4.5, 29997.2, 5.541895147899174e-05),
    (0.5, 2, 3, 0.3857275681323895),
    (1e-10, 0.3, 1000, 3.2375732544416565e-37),
    (0.999, 10000.0, 1000000.0, 0.010208202415247551),
    (0.01, 45, 1, 0.9027251779484575),
]


@pytest.mark.parametrize("q, a, b, want", BETA_PPF)
def test_beta_ppf_reference(q, a, b, want):
    assert rel(beta_ppf(q, a, b), want) < 1e-6


@pytest.mark.parametrize("a, b", [(0.01, 0.01), (0.02, 3.0), (3.0, 0.02), (1.0, 1.0), (0.5, 2e6), (2e6, 0.5),
                                  (1e7, 3e7), (7.3, 123456.7)])
@pytest.mark.parametrize("q", [1e-12, 1e-3, 0.3, 0.5, 0.99, 1 - 1e-9])
def test_beta_ppf_inverts_betainc(q, a, b):
    x = beta_ppf(q, a, b)
    assert 0.0 <= x <= 1.0
    if 0.0 < x < 1.0 and 1e-300 < q:
        # a relative step of 1e-10 in x brackets the answer (unless the distribution is so peaked
        # that x is pinned at 0 or 1 in floating point)
        assert betainc(a, b, x * (1 - 1e-10)) <= q * (1 + 1e-9) or x * (1 - 1e-10) == x
        assert betainc(a, b, min(1.0, x * (1 + 1e-10))) >= q * (1 - 1e-9)


def test_beta_ppf_edges():
    assert beta_ppf(0.0, 2, 3) == 0.0
    assert beta_ppf(-0.5, 2, 3) == 0.0
    assert beta_ppf(1.0, 2, 3) == 1.0
    assert math.isnan(beta_ppf(math.nan, 2, 3))
    with pytest.raises(ValueError):
        beta_ppf(0.5, 0.0, 3)


# scipy.stats.binom.sf(k - 1, n, p)  (= P(X >= k))
BINOM_SF = [
    (1, 100, 0.01, 0.6339676587267705),
    (5, 100, 0.01, 0.0034323215877545207),
    (15, 150, 0.05, 0.00847620660103038),
    (4, 30000, 0.0001, 0.35276811103104866),
    (50, 1000, 0.01, 8.306371435388825e-20),
    (2, 306, 0.027202305890830482, 0.9979336619141107),
    (30, 1000000, 1e-05, 2.5094634430504815e-07),
]


@pytest.mark.parametrize("k, n, p, want", BINOM_SF)
def test_binom_sf_reference(k, n, p, want):
    assert rel(binom_sf(k, n, p), want) < 1e-9


def test_binom_sf_edges_and_rounding():
    assert binom_sf(0, 10, 0.3) == 1.0
    assert binom_sf(-2, 10, 0.3) == 1.0
    assert binom_sf(11, 10, 0.3) == 0.0
    assert binom_sf(3, 10, 0.0) == 0.0
    assert binom_sf(3, 10, 1.0) == 1.0
    assert binom_sf(10, 10, 0.5) == pytest.approx(0.5 ** 10, rel=1e-12)
    assert binom_sf(1, 10, 0.5) == pytest.approx(1 - 0.5 ** 10, rel=1e-12)
    # counts from increase() are rounded to the nearest integer: (4.4, 30000.3) -> (4, 30000)
    assert binom_sf(4.4, 30000.3, 1e-4) == binom_sf(4, 30000, 1e-4)
    assert binom_sf(4.5, 30000, 1e-4) == binom_sf(5, 30000, 1e-4)
    assert math.isnan(binom_sf(math.nan, 10, 0.5))


# lower = scipy.stats.beta.ppf(0.01, k, n - k + 1) (0 when k == 0),
# upper = scipy.stats.beta.ppf(0.99, k + 1, n - k) (1 when k == n)
CLOPPER_PEARSON_99 = [
    (0, 50, 0.0, 0.08798916064409025),
    (1, 100, 0.00010049830824166799, 0.06454273204858163),
    (15, 150, 0.050974750195645235, 0.17132115981341245),
    (45, 45, 0.9027251779484575, 1.0),
    (4, 30000, 2.744261849458455e-05, 0.0003867718281715562),
    (4.5, 30000.7, 3.4798958121683224e-05, 0.00041201922894383374),
]


@pytest.mark.parametrize("k, n, lower, upper", CLOPPER_PEARSON_99)
def test_clopper_pearson_reference(k, n, lower, upper):
    lo, hi = clopper_pearson(k, n, 0.99)
    assert rel(lo, lower) < 1e-6
    assert rel(hi, upper) < 1e-6


def test_clopper_pearson_edges():
    assert clopper_pearson(0, 0, 0.99) == (0.0, 1.0)
    assert clopper_pearson(3, -1, 0.99) == (0.0, 1.0)
    assert clopper_pearson(60, 50, 0.99) == clopper_pearson(50, 50, 0.99)  # k clamped to n
    assert clopper_pearson(-1, 50, 0.99) == clopper_pearson(0, 50, 0.99)
    assert clopper_pearson(50, 50, 0.99)[1] == 1.0
    lo95, hi95 = clopper_pearson(15, 150, 0.95)
    lo99, hi99 = clopper_pearson(15, 150, 0.99)
    assert lo99 < lo95 < 0.1 < hi95 < hi99
    assert all(math.isnan(v) for v in clopper_pearson(math.nan, 10, 0.99))


# scipy.stats.binom.sf(round(kc) - 1, round(kc + kb), nc / (nc + nb))
CONDITIONAL_P = [
    (2, 302, 4, 10800, 0.010318615284866621),
    (10, 1000, 10, 1000, 0.5880985260009766),
    (3.4, 500.2, 20.6, 9500.9, 0.11601955085584187),
    (7, 100, 0, 100, 0.0078125),
]

# scipy.stats.fisher_exact([[kc, nc - kc], [kb, nb - kb]], alternative="greater").pvalue
FISHER_GREATER = [
    (2, 302, 4, 10800, 0.010290161444811834),
    (10, 1000, 10, 1000, 0.5885422383037667),
    (5, 50, 1, 50, 0.10220079251549678),
    (45, 45, 0, 45, 9.631367008821951e-27),
    (30, 2000, 200, 38000, 1.6633817637276871e-06),
]


@pytest.mark.parametrize("kc, nc, kb, nb, want", CONDITIONAL_P)
def test_conditional_p_reference(kc, nc, kb, nb, want):
    assert rel(conditional_p(kc, nc, kb, nb), want) < 1e-9


@pytest.mark.parametrize("kc, nc, kb, nb, want", FISHER_GREATER)
def test_fisher_greater_reference(kc, nc, kb, nb, want):
    assert rel(fisher_greater(kc, nc, kb, nb), want) < 1e-9


def test_conditional_and_fisher_edges():
    assert conditional_p(0, 100, 0, 1000) == 1.0  # no bad events at all
    assert conditional_p(0, 100, 5, 1000) == 1.0  # P(X >= 0)
    assert conditional_p(3, 0, 5, 1000) == 1.0  # no canary traffic
    assert conditional_p(3, 100, 5, 0) == 1.0  # no baseline traffic
    assert fisher_greater(0, 100, 5, 1000) == 1.0
    assert fisher_greater(3, 0, 5, 1000) == 1.0
    assert fisher_greater(3, 100, 0, 0) == 1.0
    assert math.isnan(conditional_p(math.nan, 100, 5, 1000))
    assert math.isnan(fisher_greater(1, 100, math.nan, 1000))
    # with a baseline much larger than the canary the two tests agree closely
    assert conditional_p(12, 1000, 500, 100000) == pytest.approx(fisher_greater(12, 1000, 500, 100000), rel=0.05)


# ---- exceeds_p and Clopper-Pearson make the same decision --------------------------------------

def test_exceeds_p_matches_clopper_pearson_lower_bound():
    cases = [(k, n, target, alpha) for k in (0, 1, 2, 5, 10, 40) for n in (50, 1000, 30000)
             for target in (0.001, 0.01, 0.05) for alpha in (0.01, 0.05) if k <= n]
    decided_fail = 0
    for k, n, target, alpha in cases:
        fail_by_p = exceeds_p(k, n, target) < alpha
        fail_by_bound = clopper_pearson(k, n, 1 - alpha)[0] > target
        assert fail_by_p == fail_by_bound, (k, n, target, alpha)
        decided_fail += fail_by_p
    assert 0 < decided_fail < len(cases)  # the table exercises both outcomes


@pytest.mark.parametrize("k, n, target, fail", [
    (1, 50, 0.001, False),    # p = 0.049 > 0.01
    (2, 50, 0.001, True),     # p = 0.0012 < 0.01
    (5, 100, 0.01, True),     # p = 0.0034
    (4, 30000, 1e-4, False),  # p = 0.35
    (15, 150, 0.05, True),    # p = 0.0085
])
def test_exceeds_p_table(k, n, target, fail):
    assert (exceeds_p(k, n, target) < 0.01) is fail
    assert (clopper_pearson(k, n, 0.99)[0] > target) is fail


# ---- Holm --------------------------------------------------------------------------------------

NAN = math.nan


@pytest.mark.parametrize("pvalues, alpha, want", [
    ([], 0.05, []),
    ([0.04], 0.05, [True]),
    ([1.0], 0.05, [False]),
    # sorted 0.005 <= .05/4, 0.01 <= .05/3, 0.03 > .05/2: stop
    ([0.01, 0.04, 0.03, 0.005], 0.05, [True, False, False, True]),
    ([0.01, 0.01, 0.01], 0.05, [True, True, True]),   # ties: .01 <= .05/3, then .05/2, .05
    ([0.02, 0.02, 0.02], 0.05, [False, False, False]),  # ties: .02 > .05/3 stops at once
    ([0.02, 0.02], 0.05, [True, True]),              # .02 <= .05/2, .02 <= .05
    ([0.025, 0.05], 0.05, [True, True]),             # equality rejects
    ([NAN, 0.01, 0.02], 0.05, [False, True, True]),  # .01 <= .05/3, .02 <= .05/2, NaN never
    ([NAN, 0.03], 0.05, [False, False]),             # NaN counts in m: .03 > .05/2
    ([NAN, NAN], 0.05, [False, False]),
])
def test_holm(pvalues, alpha, want):
    assert holm(pvalues, alpha) == want


# ---- properties by simulation ------------------------------------------------------------------

@pytest.mark.parametrize("n", [30, 300])
@pytest.mark.parametrize("p", [0.01, 0.05, 0.2])
def test_clopper_pearson_lower_bound_coverage(p, n):
    confidence, draws = 0.99, 2000
    rng = random.Random(1000 * n + int(p * 100))
    lower: dict[int, float] = {}  # one bound per distinct count
    misses = 0
    for _ in range(draws):
        k = binomial(rng, n, p)
        if k not in lower:
            lower[k] = clopper_pearson(k, n, confidence)[0]
        misses += lower[k] > p
    sigma = math.sqrt(0.01 * 0.99 / draws)
    assert misses / draws <= 0.01 + 3 * sigma
    # exactly: the bound is monotone in k, so it misses p from the smallest k whose bound exceeds p
    k_star = next(k for k in range(n + 2) if k > n or clopper_pearson(k, n, confidence)[0] > p)
    assert binom_sf(k_star, n, p) <= 1 - confidence


def _batch(kc: float, nc: float, kb: float, nb: float) -> Batch:
    return Batch(canary_bad=kc, canary_total=nc, baseline_bad=kb, baseline_total=nb)


@pytest.mark.parametrize("rho, big_k, share", [(1.0, 5, 0.05), (1.0, 40, 0.3), (0.5, 20, 0.1), (1.0, 200, 0.01)])
def test_e_worse_expectation_under_h0_is_at_most_one(rho, big_k, share):
    """Exact expectation over one batch: given K bad events the canary's count is
    Binomial(K, pi), pi = rho s / (rho s + 1 - s); E[e] = 1 at rho = 1, < 1 below."""
    pi = rho * share / (rho * share + 1 - share)
    nc, nb = share * 10000, (1 - share) * 10000
    mean = sum(math.comb(big_k, k) * pi ** k * (1 - pi) ** (big_k - k) * e_worse([_batch(k, nc, big_k - k, nb)])
               for k in range(big_k + 1))
    assert mean <= 1 + 1e-9
    if rho == 1.0:
        assert mean == pytest.approx(1.0, rel=1e-9)


def test_e_worse_simulated_mean_under_h0():
    rng = random.Random(7)
    values = []
    for _ in range(2000):
        batches = [_batch(binomial(rng, 400, 0.01), 400, binomial(rng, 1600, 0.01), 1600) for _ in range(3)]
        values.append(e_worse(batches))
    mean = sum(values) / len(values)
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
    assert mean <= 1 + 3 * sd / math.sqrt(len(values))


def test_e_not_worse_expectation_at_rule_out_is_at_most_one():
    """At rho = rule_out the first half of e_not_worse is an exact martingale; the second half
    (a floor at 0 here) adds nothing, so the mean is 1/2."""
    rule_out, share, big_k = 2.0, 0.1, 30
    pi = rule_out * share / (rule_out * share + 1 - share)
    mean = sum(math.comb(big_k, k) * pi ** k * (1 - pi) ** (big_k - k)
               * e_not_worse([_batch(k, 1000, big_k - k, 9000)], rule_out, 0.0) for k in range(big_k + 1))
    assert mean == pytest.approx(0.5, rel=1e-9)


def test_ville_running_max_of_e_worse_under_h0():
    """500 canary lives under H0 (equal ratios of 1 %), 30 looks of 2,000 requests with a 5 %
    canary share: the running max of e_worse reaches 100 in at most 1 % of them (+ 3 sigma)."""
    rng = random.Random(2024)
    lives, looks, threshold = 500, 30, 100.0
    log_mean = math.log(len(WORSE_RHOS))
    crossed = 0
    for life in range(lives):
        cum = [0.0] * len(WORSE_RHOS)
        batches: list[Batch] = []
        running_max = 0.0
        for _ in range(looks):
            b = _batch(binomial(rng, 100, 0.01), 100, binomial(rng, 1900, 0.01), 1900)
            batches.append(b)
            # e_worse(batches) incrementally: the log-LR is a sum over batches
            cum = [c + log_lr([b], rho, 1.0) for c, rho in zip(cum, WORSE_RHOS, strict=True)]
            top = max(cum)
            e = math.exp(top + math.log(sum(math.exp(c - top) for c in cum)) - log_mean)
            running_max = max(running_max, e)
        if life % 50 == 0:
            assert e == pytest.approx(e_worse(batches), rel=1e-12)
        crossed += running_max >= threshold
    sigma = math.sqrt(0.01 * 0.99 / lives)
    assert crossed / lives <= 0.01 + 3 * sigma


# ---- behaviour of the sequential statistics ----------------------------------------------------

def _life(mult: float, looks: int, base_ratio: float = 0.01) -> list[Batch]:
    """Expected counts: 100 canary and 1,900 baseline requests a look, canary ratio = mult x baseline."""
    return [_batch(100 * base_ratio * mult, 100, 1900 * base_ratio, 1900) for _ in range(looks)]


def test_log_lr_basics():
    life = _life(2.0, 3)
    assert log_lr(life, 1.7, 1.7) == 0.0
    assert log_lr(life, 2.0, 1.0) == pytest.approx(3 * log_lr(life[:1], 2.0, 1.0), rel=1e-12)
    assert log_lr(life + [_batch(5, 0, 3, 100), _batch(5, 100, 3, 0)], 2.0, 1.0) == log_lr(life, 2.0, 1.0)
    # one batch by hand: kc log(rho/rho0) - K log((1 + s(rho-1)) / (1 + s(rho0-1)))
    s = 100 / 2000
    want = 2 * math.log(2.0) - 21 * math.log((1 + s) / 1)
    assert log_lr(life[:1], 2.0, 1.0) == pytest.approx(want, rel=1e-12)
    with pytest.raises(ValueError):
        log_lr(life, 0.0, 1.0)


def test_e_worse_grows_with_a_worse_canary():
    values = [e_worse(_life(2.0, looks)) for looks in (1, 5, 10, 30)]
    assert values == sorted(values)
    assert values[-1] > 100
    assert e_worse(_life(1.0, 30)) < 0.1
    assert e_worse([]) == 1.0


def test_e_not_worse_grows_with_an_equal_canary():
    values = [e_not_worse(_life(1.0, looks), 2.0, 0.012) for looks in (1, 5, 10, 30)]
    assert values == sorted(values)
    assert values[-1] > 20
    assert e_not_worse(_life(3.0, 30), 2.0, 0.012) < 0.01
    # floor_ratio outside (0, 1): only the relative part counts
    assert e_not_worse(_life(1.0, 5), 2.0, 1.0) == pytest.approx(e_not_worse(_life(1.0, 5), 2.0, 0.0))
    assert e_not_worse(_life(1.0, 5), 2.0, 0.0) == pytest.approx(math.exp(log_lr(_life(1.0, 5), 1.0, 2.0)) / 2)


def test_more_canary_requests():
    alpha, beta, rule_out, floor = 0.01, 0.05, 2.0, 0.012
    assert more_canary_requests(_life(5.0, 5), rule_out, floor, alpha, beta) == 0  # already failed
    assert more_canary_requests(_life(1.0, 30), rule_out, floor, alpha, beta) == 0  # already passed
    assert more_canary_requests([], rule_out, floor, alpha, beta) is None
    assert more_canary_requests([_batch(0, 0, 5, 1000)], rule_out, floor, alpha, beta) is None
    # a 1.2x canary can neither be shown worse (alternatives from 1.5x) nor ruled out at 1.5x
    # within 1000 times its 10 requests so far
    assert more_canary_requests([_batch(0.12, 10, 1.9, 190)], 1.5, 0.012, alpha, beta) is None

    life = _life(1.0, 1)
    more = more_canary_requests(life, rule_out, floor, alpha, beta)
    assert more == 1205
    # the estimate is consistent: the extra traffic decides, one request less (nearly) does not
    def decided(extra: float) -> bool:
        f = extra / 100
        bs = life + [_batch(f * 1, f * 100, f * 19, f * 1900)]
        return e_worse(bs) >= 1 / alpha or e_not_worse(bs, rule_out, floor) >= 1 / beta
    assert decided(more)
    assert not decided(more - 2)
    # the estimate shrinks as the canary accumulates traffic
    later = more_canary_requests(_life(1.0, 5), rule_out, floor, alpha, beta)
    assert later == 805
    # a worse canary is decided the other way
    worse = more_canary_requests(_life(2.0, 1), rule_out, floor, alpha, beta)
    assert worse == 1527


# ---- huge counts -------------------------------------------------------------------------------

def test_huge_counts_are_finite():
    n = 1e8
    values = [
        betainc(1e8, 1e8, 0.5), betainc(1e6, 1e8, 0.0101), betainc(1e8, 2.5, 1 - 1e-8),
        beta_ppf(0.99, 1e6, 1e8),
        binom_sf(1e6, n, 0.01), binom_sf(1.01e6, n, 0.01),
        exceeds_p(1e6 + 3e4, n, 0.01),
        conditional_p(1e6, n, 1e6, n), fisher_greater(1.005e6, n, 1e6, n),
        e_worse([_batch(2e6, n, 1e6, n)]), e_not_worse([_batch(1e6, n, 1e6, n)], 2.0, 0.012),
        e_worse([_batch(1e6, n, 1e6, n)]), e_not_worse([_batch(3e6, n, 1e6, n)], 2.0, 0.012),
    ]
    assert all(math.isfinite(v) for v in values)
    lo, hi = clopper_pearson(1e6, n, 0.99)
    assert lo < 0.01 < hi and hi - lo < 1e-4
    assert 0.9999998 < clopper_pearson(n - 3, n, 0.99)[0] < 1.0
    assert 0.4 < conditional_p(1e6, n, 1e6, n) < 0.6
    assert 0.4 < fisher_greater(1e6, n, 1e6, n) < 0.6
    assert exceeds_p(1e6 + 3e4, n, 0.01) < 1e-100
    assert e_worse([_batch(2e6, n, 1e6, n)]) == 1e300  # capped
    assert more_canary_requests([_batch(2e6, n, 1e6, n)], 2.0, 0.012, 0.01, 0.05) == 0
    assert more_canary_requests([_batch(1, 1e3, 1e6, n)], 2.0, 0.0011, 0.01, 0.05) == 0   # ruled out already
