"""Small, dependency-free statistics for the gate's decisions (standard library only): exact
binomial bounds and tails for smoke, Holm's correction for a family of checks, and always-valid
sequential evidence for canaries judged at every look of a rollout."""

from __future__ import annotations

import math
from dataclasses import dataclass

# ---- exact statistics (stdlib math only) -----------------------------------------------------
#
# Counts come from Prometheus increase() and may be non-integer: the Beta-based functions use them
# as real parameters, the discrete tails (binomial, hypergeometric) round them to the nearest
# integer. Everything works in logs (Loader's saddle-point form of the binomial density, the same
# one R's dbinom uses), so counts up to 1e8 and beyond neither overflow nor lose precision.

_LN_2PI = math.log(2 * math.pi)
_CF_EPS = 1e-15
_E_CAP = 1e300
_LOG_E_CAP = math.log(_E_CAP)


def _round(x: float) -> int:
    """Nearest integer, halves rounded up (deterministic, unlike banker's rounding), never below 0."""
    return max(0, math.floor(x + 0.5))


def _stirlerr(n: float) -> float:
    """log(n!) - log(sqrt(2 pi n) (n/e)^n), the error of Stirling's formula, for real n > 0."""
    if n <= 15.0:
        return math.lgamma(n + 1.0) - (n + 0.5) * math.log(n) + n - 0.5 * _LN_2PI
    nn = n * n
    s0, s1, s2, s3, s4 = 1 / 12, 1 / 360, 1 / 1260, 1 / 1680, 1 / 1188
    return (s0 - (s1 - (s2 - (s3 - s4 / nn) / nn) / nn) / nn) / n


def _bd0(x: float, m: float) -> float:
    """x log(x/m) + m - x without cancellation when x is close to m (x >= 0, m > 0)."""
    if x == 0.0:
        return m
    if abs(x - m) < 0.1 * (x + m):
        v = (x - m) / (x + m)
        s = (x - m) * v
        ej = 2.0 * x * v
        v *= v
        for j in range(1, 1000):
            ej *= v
            s1 = s + ej / (2 * j + 1)
            if s1 == s:
                return s1
            s = s1
        return s
    return x * math.log(x / m) + m - x


def _log_dbinom(x: float, y: float, p: float, q: float) -> float:
    """log of the (continuous-extended) binomial density (x+y)!/(x! y!) p^x q^y, q = 1 - p,
    x, y >= 0, 0 < p < 1: Loader's saddle-point form, accurate to a few ulps for any size. Both
    counts are passed so that a tiny one is never recovered as a difference of big ones."""
    n = x + y
    if x == 0.0:
        return -_bd0(n, n * q) - n * p if p < 0.1 else n * math.log(q)
    if y == 0.0:
        return -_bd0(n, n * p) - n * q if q < 0.1 else n * math.log(p)
    lc = _stirlerr(n) - _stirlerr(x) - _stirlerr(y) - _bd0(x, n * p) - _bd0(y, n * q)
    return lc - 0.5 * (_LN_2PI + math.log(x) + math.log(y) - math.log(n))


def _log_power_terms(a: float, b: float, x: float, y: float) -> float:
    """log(x^a y^b / B(a, b)) for a, b > 0, 0 < x < 1 and y = 1 - x (passed, not recomputed, so
    that the smaller of x, y keeps its precision)."""
    return _log_dbinom(a, b, x, y) + math.log(a) + math.log(b) - math.log(a + b)


def _betacf(a: float, b: float, x: float, y: float) -> float:
    """The continued fraction of I_x(a, b) (Numerical Recipes' betacf, A&S 26.5.8), evaluated in
    the form of DiDonato & Morris (TOMS 708 bfrac): it works with lambda = (a+b)y - b instead of
    1 - x, so x close to 1 with a large (a huge count) keeps full precision, where betacf loses
    eps/(1-x). Returns r with I_x(a, b) = x^a y^b / B(a, b) * r; converges quickly for
    x <= (a+1)/(a+b+2), in O(sqrt(max(a, b))) terms at worst."""
    lam = (a + b) * y - b if a > b else a - (a + b) * x
    c = lam + 1.0
    c0 = b / a
    c1 = 1.0 / a + 1.0
    yp1 = y + 1.0
    n, p, s = 0.0, 1.0, a + 1.0
    an, bn, anp1, bnp1 = 0.0, 1.0, 1.0, c / c1
    r = c1 / c
    for _ in range(1000 + int(20 * math.sqrt(max(a, b)))):
        n += 1.0
        t = n / a
        w = n * (b - n) * x
        e = a / s
        alpha = p * (p + c0) * e * e * (w * x)
        e = (t + 1.0) / (c1 + t + t)
        beta = n + w / s + e * (c + n * yp1)
        p = t + 1.0
        s += 2.0
        an, anp1 = anp1, alpha * an + beta * anp1
        bn, bnp1 = bnp1, alpha * bn + beta * bnp1
        r0, r = r, anp1 / bnp1
        if abs(r - r0) <= _CF_EPS * r:
            break
        an, bn, anp1, bnp1 = an / bnp1, bn / bnp1, r, 1.0  # rescale
    return r


def _check_ab(a: float, b: float) -> None:
    if not (a > 0 and b > 0 and math.isfinite(a) and math.isfinite(b)):
        raise ValueError(f"Beta parameters must be positive and finite, got a={a!r}, b={b!r}")


def betainc(a: float, b: float, x: float) -> float:
    """Regularized incomplete beta I_x(a, b) for real a, b > 0 (x <= 0 -> 0, x >= 1 -> 1), to about
    1e-11 relative for a, b up to 1e8; lower tails (x below the mean) keep that relative precision
    however small they are."""
    _check_ab(a, b)
    if math.isnan(x):
        return math.nan
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    y = 1.0 - x
    if x <= (a + 1.0) / (a + b + 2.0):
        return math.exp(_log_power_terms(a, b, x, y)) * _betacf(a, b, x, y)
    return 1.0 - math.exp(_log_power_terms(b, a, y, x)) * _betacf(b, a, y, x)


def _beta_pdf(a: float, b: float, x: float) -> float:
    if x <= 0.0 or x >= 1.0:
        return 0.0
    log_pdf = _log_power_terms(a, b, x, 1.0 - x) - math.log(x) - math.log1p(-x)
    return math.inf if log_pdf > 700.0 else math.exp(log_pdf)


def _beta_ppf_guess(q: float, a: float, b: float) -> float:
    """Starting point of Numerical Recipes' invbetai: a normal approximation when a, b >= 1,
    else the power-law behaviour of the nearer tail."""
    if a >= 1.0 and b >= 1.0:
        pp = q if q < 0.5 else 1.0 - q
        t = math.sqrt(-2.0 * math.log(pp))
        z = (2.30753 + t * 0.27061) / (1.0 + t * (0.99229 + t * 0.04481)) - t
        if q < 0.5:
            z = -z
        al = (z * z - 3.0) / 6.0
        h = 2.0 / (1.0 / (2.0 * a - 1.0) + 1.0 / (2.0 * b - 1.0))
        w = z * math.sqrt(al + h) / h - (1.0 / (2.0 * b - 1.0) - 1.0 / (2.0 * a - 1.0)) * (
            al + 5.0 / 6.0 - 2.0 / (3.0 * h))
        return a / (a + b * math.exp(min(2.0 * w, 700.0)))
    lna, lnb = math.log(a / (a + b)), math.log(b / (a + b))
    t = math.exp(a * lna) / a
    u = math.exp(b * lnb) / b
    w = t + u
    if q < t / w:
        return math.exp((math.log(a * w) + math.log(q)) / a)
    return 1.0 - math.exp((math.log(b * w) + math.log1p(-q)) / b)


def beta_ppf(q: float, a: float, b: float) -> float:
    """Inverse of betainc in x: the x in [0, 1] with I_x(a, b) = q, to 1e-12 relative. A Newton
    iteration kept inside a shrinking bracket (bisecting, in log scale near 0, whenever Newton
    leaves the bracket or stalls), so it always converges."""
    _check_ab(a, b)
    if math.isnan(q):
        return math.nan
    if q <= 0.0:
        return 0.0
    if q >= 1.0:
        return 1.0
    lo, hi = 0.0, 1.0
    x = _beta_ppf_guess(q, a, b)
    if not (0.0 < x < 1.0):
        x = a / (a + b)
    dx_old = 1.0
    for _ in range(2000):
        f = betainc(a, b, x) - q
        if f == 0.0:
            return x
        if f < 0.0:
            lo = x
        else:
            hi = x
        if hi - lo <= 1e-13 * hi:
            return 0.5 * (lo + hi)
        d = _beta_pdf(a, b, x)
        step = f / d if d > 0.0 and math.isfinite(d) else math.inf
        x_new = x - step
        if not (lo < x_new < hi) or abs(step) > 0.5 * abs(dx_old):
            if lo > 0.0 and hi <= 2.0 * lo:
                x_new = 0.5 * (lo + hi)
            else:  # geometric midpoint: finds answers like 1e-200 in a few dozen steps
                x_new = math.sqrt(max(lo, 5e-324)) * math.sqrt(hi)
                if not (lo < x_new < hi):
                    x_new = 0.5 * (lo + hi)
        elif abs(step) <= 1e-15 * x_new:
            return x_new
        dx_old = x - x_new
        if x_new == x:
            return x
        x = x_new
    return x


def binom_sf(k: float, n: float, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p), exact (k and n rounded to the nearest integer); small upper
    tails keep their full relative precision."""
    if math.isnan(k) or math.isnan(n) or math.isnan(p):
        return math.nan
    ki, ni = _round(k), _round(n)
    if ki <= 0:
        return 1.0
    if ki > ni:
        return 0.0
    if p <= 0.0:
        return 0.0
    if p >= 1.0:
        return 1.0
    return betainc(ki, ni - ki + 1, p)


def clopper_pearson(k: float, n: float, confidence: float) -> tuple[float, float]:
    """One-sided exact Clopper-Pearson bounds (lower, upper) for a ratio seen as k bad of n: each
    bound on its own holds with probability >= confidence (a two-sided interval at 2*confidence-1).
    Real k, n are used directly as Beta parameters (k clamped to [0, n]); NaN in, NaN out."""
    if math.isnan(k) or math.isnan(n):
        return math.nan, math.nan
    if not n > 0:
        return 0.0, 1.0
    k = min(max(k, 0.0), n)
    lower = 0.0 if k <= 0 else beta_ppf(1.0 - confidence, k, n - k + 1.0)
    upper = 1.0 if k >= n else beta_ppf(confidence, k + 1.0, n - k)
    return lower, upper


def exceeds_p(k: float, n: float, target: float) -> float:
    """Exact one-sided p-value of H0 "the true ratio is <= target" after k bad of n: the binomial
    upper tail P(X >= k) = I_target(k, n - k + 1), taken with the real-valued counts that
    increase() gives (for whole counts it is binom_sf). So exceeds_p < alpha exactly when the
    Clopper-Pearson lower bound at 1 - alpha is above target, whole counts or not."""
    if any(math.isnan(v) for v in (k, n, target)):
        return math.nan
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    return betainc(k, n - k + 1.0, min(max(target, 0.0), 1.0))


def conditional_p(kc: float, nc: float, kb: float, nb: float) -> float:
    """Exact one-sided p-value that the canary's bad ratio is higher than the baseline's, conditional
    on the total number of bad events (each is the canary's with probability nc/(nc+nb) under H0);
    valid at any sample size. 1.0 when there is nothing to compare."""
    if math.isnan(kc) or math.isnan(nc) or math.isnan(kb) or math.isnan(nb):
        return math.nan
    if not (nc > 0 and nb > 0):
        return 1.0
    kc, kb = max(kc, 0.0), max(kb, 0.0)
    if _round(kc + kb) <= 0:
        return 1.0
    return binom_sf(kc, kc + kb, nc / (nc + nb))


def fisher_greater(kc: float, nc: float, kb: float, nb: float) -> float:
    """Fisher's exact one-sided p-value (canary worse): the hypergeometric upper tail of the canary's
    bad count given both margins, counts rounded to integers, computed in logs."""
    if math.isnan(kc) or math.isnan(nc) or math.isnan(kb) or math.isnan(nb):
        return math.nan
    nci, nbi = _round(nc), _round(nb)
    kci, kbi = min(_round(kc), nci), min(_round(kb), nbi)
    if nci <= 0 or nbi <= 0:
        return 1.0
    total, bad = nci + nbi, kci + kbi
    hi = min(bad, nci)
    lo = max(0, nci - (total - bad))
    if kci <= lo:
        return 1.0
    if kci > hi:  # cannot happen with consistent counts; kept for safety
        return 0.0
    p = nci / total
    q = nbi / total

    def log_pmf(x: int) -> float:  # R's dhyper: dbinom(x; bad) dbinom(nc - x; good) / dbinom(nc; total)
        return (_log_dbinom(x, bad - x, p, q) + _log_dbinom(nci - x, total - bad - nci + x, p, q)
                - _log_dbinom(nci, nbi, p, q))

    def ratio(x: int) -> float:  # pmf(x + 1) / pmf(x)
        return (bad - x) * (nci - x) / ((x + 1) * (total - bad - nci + x + 1))

    mode = math.floor((nci + 1) * (bad + 1) / (total + 2))
    if kci > mode:  # sum the upper tail, terms decreasing
        term, s, x = 1.0, 1.0, kci
        while x < hi:
            term *= ratio(x)
            x += 1
            s += term
            if term < 1e-17 * s:
                break
        return min(1.0, math.exp(log_pmf(kci)) * s)
    # upper tail holds most of the mass: 1 - lower tail, terms decreasing from kc-1 down
    term, s, x = 1.0, 1.0, kci - 1
    while x > lo:
        term /= ratio(x - 1)
        x -= 1
        s += term
        if term < 1e-17 * s:
            break
    return min(1.0, max(0.0, 1.0 - math.exp(log_pmf(kci - 1)) * s))


def holm(pvalues: list[float], alpha: float) -> list[bool]:
    """Holm's step-down procedure: True where a hypothesis is rejected, in input order; controls
    the family-wise error rate at alpha under any dependence. NaN p-values count in m but are
    never rejected."""
    m = len(pvalues)
    order = sorted((i for i in range(m) if not math.isnan(pvalues[i])), key=lambda i: pvalues[i])
    rejected = [False] * m
    for rank, i in enumerate(order):
        p = pvalues[i]
        if p > alpha / (m - rank):
            break
        rejected[i] = True
    return rejected


# ---- sequential (always-valid) canary statistics ---------------------------------------------
#
# Given the K bad events of a batch, each is the canary's with probability rho*s/(rho*s + 1 - s),
# s = the canary's share of the traffic, rho = canary ratio / baseline ratio. Products of the
# resulting likelihood ratios over batches are (super)martingales under the null, so by Ville's
# inequality P(ever >= 1/alpha) <= alpha however often the gate looks.

@dataclass(frozen=True)
class Batch:
    """Counts of one look at a canary (increase() over the look's window, may be non-integer)."""

    canary_bad: float
    canary_total: float
    baseline_bad: float
    baseline_total: float


WORSE_RHOS = (1.5, 2.0, 3.0, 5.0, 10.0)


def _logsumexp(xs: list[float]) -> float:
    m = max(xs)
    if m == -math.inf:
        return -math.inf
    return m + math.log(sum(math.exp(v - m) for v in xs))


def log_lr(batches: list[Batch], rho: float, rho0: float) -> float:
    """Log likelihood ratio of relative risk rho against rho0, conditional on each batch's bad events;
    batches without traffic on either side are skipped. Under rho0 its exp is a martingale."""
    if not (rho > 0 and rho0 > 0):
        raise ValueError(f"relative risks must be positive, got rho={rho!r}, rho0={rho0!r}")
    log_ratio = math.log(rho / rho0)
    total = 0.0
    for bt in batches:
        if not (bt.canary_total > 0 and bt.baseline_total > 0):
            continue
        s = bt.canary_total / (bt.canary_total + bt.baseline_total)
        kc = max(bt.canary_bad, 0.0)
        big_k = kc + max(bt.baseline_bad, 0.0)
        total += kc * log_ratio - big_k * (math.log1p(s * (rho - 1.0)) - math.log1p(s * (rho0 - 1.0)))
    return total


def _capped_exp(log_e: float) -> float:
    return _E_CAP if log_e >= _LOG_E_CAP else math.exp(log_e)


def _log_e_worse(batches: list[Batch]) -> float:
    return _logsumexp([log_lr(batches, rho, 1.0) for rho in WORSE_RHOS]) - math.log(len(WORSE_RHOS))


def e_worse(batches: list[Batch]) -> float:
    """E-value against "the canary is not worse" (rho <= 1): a mixture of likelihood-ratio
    martingales over WORSE_RHOS, so P(it ever reaches 1/alpha) <= alpha under any number of looks.
    Capped at 1e300; the always-valid p-value is min(1, 1/e)."""
    return _capped_exp(_log_e_worse(batches))


def _log_e_not_worse(batches: list[Batch], rule_out: float, floor_ratio: float) -> float:
    log_e1 = log_lr(batches, 1.0, rule_out)
    p1 = floor_ratio
    log_e2 = -math.inf
    if 0.0 < p1 < 1.0:
        nc = sum(max(bt.canary_total, 0.0) for bt in batches)
        kc = min(sum(max(bt.canary_bad, 0.0) for bt in batches), nc)
        log_e2 = _logsumexp([kc * math.log(alt / p1) + (nc - kc) * (math.log1p(-alt) - math.log1p(-p1))
                             for alt in (p1 / 10, p1 / 4, p1 / 2)]) - math.log(3)
    return _logsumexp([log_e1, log_e2]) - math.log(2)


def e_not_worse(batches: list[Batch], rule_out: float, floor_ratio: float) -> float:
    """E-value against "the canary is materially worse": the mean of one against rho >= rule_out and
    one against "the canary's own bad ratio >= floor_ratio" (0 when floor_ratio is not in (0, 1)).
    Both are supermartingales under that null, so P(it ever reaches 1/beta) <= beta. Capped at 1e300."""
    return _capped_exp(_log_e_not_worse(batches, rule_out, floor_ratio))


def more_canary_requests(batches: list[Batch], rule_out: float, floor_ratio: float, alpha: float,
                         beta: float) -> float | None:
    """Estimated number of further canary requests until e_worse >= 1/alpha or e_not_worse >= 1/beta,
    if traffic keeps the ratios and canary share observed so far: 0 if a threshold is already crossed,
    None without canary traffic or if no decision comes within 1000 times the current canary traffic."""
    nc = sum(max(bt.canary_total, 0.0) for bt in batches)
    if not nc > 0:
        return None
    need_worse, need_not_worse = math.log(1.0 / alpha), math.log(1.0 / beta)

    def decided(extra: list[Batch]) -> bool:
        bs = list(batches) + extra
        return (_log_e_worse(bs) >= need_worse
                or _log_e_not_worse(bs, rule_out, floor_ratio) >= need_not_worse)

    if decided([]):
        return 0.0
    kc = sum(max(bt.canary_bad, 0.0) for bt in batches)
    kb = sum(max(bt.baseline_bad, 0.0) for bt in batches)
    nb = sum(max(bt.baseline_total, 0.0) for bt in batches)

    def decided_after(f: float) -> bool:
        return decided([Batch(f * kc, f * nc, f * kb, f * nb)])

    max_f = 1000.0
    lo, f = 0.0, 1.0 / 1024
    while not decided_after(f):
        if f >= max_f:
            return None
        lo, f = f, min(2.0 * f, max_f)
    hi = f
    for _ in range(200):
        if (hi - lo) * nc < 0.5:
            break
        mid = 0.5 * (lo + hi)
        if decided_after(mid):
            hi = mid
        else:
            lo = mid
    return float(math.ceil(hi * nc - 1e-9))
