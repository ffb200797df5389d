"""Rebuild ``datasets/gp_cholesterol.csv``: our reconstruction of the lecture's GP cholesterol data.

The lecture's data (441 patients of 12 GPs) has no licence, so the course ships rows made here instead,
calibrated so that every number the handout prints about the data comes out the same. The handout's
numbers are in ``handout_targets.csv`` (with the handout line each comes from). Run ``make data``.

The method, in four steps (``gp_cholesterol.md`` explains it at length):

1. **Sufficient statistics, continuous.** The four ``lm()`` fits of the handout depend on the data only
   through each GP's n, Σage, Σchol, Σage², Σage·chol and the overall Σchol². A least-squares fit finds
   the values of those 61 sums that reproduce the printed numbers, each deviation measured in units of
   half the last printed digit.
2. **Sufficient statistics, on the lattice.** Ages are whole years and cholesterol whole hundredths of
   mmol/L, so each sum lives on an integer lattice. Σage and Σchol of each GP, the overall Σage², Σage·chol
   and Σchol² round to unique lattice points; each GP's Σage² and Σage·chol are then chosen by integer
   programming (scipy's HiGHS) so that every printed number is met with as much margin as possible, and
   so that the varying-slope model's printed residual quartiles are reachable by some row; an exact
   descent over moves between two GPs finishes what the linearised program began.
3. **Rows.** Ages are drawn per GP and adjusted to the lattice sums exactly. Each printed residual quantile
   is one order statistic (rows 1, 111, 221, 331, 441 of the sorted residuals), so one row per quantile is
   placed where its residual prints as the handout's. Cholesterol values are drawn around each GP's line,
   then moved in steps that keep every GP's sums (pairs of same-age patients, triples of ages) until each
   quantile row has the right rank and the overall Σchol² is exact.
4. **Columns the handout never summarises** (BMI beyond the first rows, sex, the GP's age) are simulated:
   plausible and documented as simulated.

Deterministic on any machine: a fixed seed, deterministic solvers, and fits computed from the sums without
BLAS or LAPACK (whose kernels differ between CPUs in the last bits), so that every discrete decision sees
the same numbers everywhere and a re-run writes a byte-identical file (``gp_cholesterol.md``).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, least_squares, milp

HERE = Path(__file__).resolve().parent
TARGETS = HERE / "handout_targets.csv"
OUTPUT = HERE / "gp_cholesterol.csv"
MANIFEST = HERE / "gp_cholesterol.yml"
SEED = 20250221
MODELS = ("pooled", "grouped", "varying_intercept", "varying_slope")
QUANTILE_RANKS = {"Min": 0, "1Q": 110, "Median": 220, "3Q": 330, "Max": 440}  # 0-based, of 441 rows
AGE_RANGE = (30, 88)
CHOL_RANGE = (300, 1000)  # hundredths of mmol/L
# R prints sigma, R² and F with 4 significant digits (print.summary.lm), so "0.65" means 0.6500.
SIGNIFICANT_4 = {"sigma", "r_squared", "adj_r_squared", "f_statistic"}


# ---------------------------------------------------------------- the handout's numbers
def read_targets() -> list[dict]:
    with TARGETS.open() as f:
        return list(csv.DictReader(f))


def half_unit(printed: str, statistic: str) -> float:
    """Half a unit in the last printed digit: how far a value may be from the printed one."""
    if statistic in SIGNIFICANT_4:
        value = abs(float(printed))
        return 0.5 * 10.0 ** (np.floor(np.log10(value)) - 3)
    decimals = printed.split(".")[1] if "." in printed else ""
    return 0.5 * 10.0 ** -len(decimals)


def group_sizes(targets: list[dict]) -> np.ndarray:
    return np.array([int(t["printed"]) for t in targets if t["model"] == "table"], dtype=float)


# ---------------------------------------------------------------- OLS from sufficient statistics
@dataclass
class Sums:
    """Each GP's n, Σx, Σy, Σx², Σxy (x = age, y = chol) and the overall Σy²."""

    n: np.ndarray
    sx: np.ndarray
    sy: np.ndarray
    sxx: np.ndarray
    sxy: np.ndarray
    syy: float


def _solve(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``a⁻¹b`` and the diagonal of ``a⁻¹`` for a symmetric positive definite ``a``, by Gauss-Jordan.

    Elementwise operations only, never BLAS or LAPACK: their kernels differ between CPUs (and with
    OPENBLAS_CORETYPE) in the last bits, and the integer program below can turn one bit into another
    lattice point. numpy's elementwise arithmetic is IEEE, so every machine computes the same bits.
    """
    k = len(b)
    table = np.hstack([a, np.eye(k), b[:, None]])
    for i in range(k):
        table[i] /= table[i, i]
        factors = table[:, i].copy()
        factors[i] = 0.0
        table -= np.multiply.outer(factors, table[i])
    return table[:, -1], np.diag(table[:, k : 2 * k]).copy()


def _ols(xtx, xty, yy, nobs, tss) -> dict:
    beta, inverse_diagonal = _solve(xtx, xty)
    rss = yy - np.sum(beta * xty)
    df = nobs - len(beta)
    s2 = rss / df
    se = np.sqrt(inverse_diagonal * s2)
    r2 = 1 - rss / tss
    return {
        "estimate": beta,
        "std_error": se,
        "t_value": beta / se,
        "sigma": np.sqrt(s2),
        "r_squared": r2,
        "adj_r_squared": 1 - (1 - r2) * (nobs - 1) / df,
        "f_statistic": (tss - rss) / (len(beta) - 1) / s2,
    }


def fits_from_sums(s: Sums) -> dict:
    """The handout's four lm() fits, computed from the sums alone."""
    k, total = len(s.n), s.n.sum()
    tss = s.syy - s.sy.sum() ** 2 / total
    fits = {
        "pooled": _ols(
            np.array([[total, s.sx.sum()], [s.sx.sum(), s.sxx.sum()]]),
            np.array([s.sy.sum(), s.sxy.sum()]),
            s.syy,
            total,
            tss,
        )
    }
    # chol ~ as.factor(doctor) + age: intercept, doctors 2..k, age
    xtx, xty = np.zeros((k + 1, k + 1)), np.zeros(k + 1)
    xtx[0, 0], xtx[0, k], xtx[k, k] = total, s.sx.sum(), s.sxx.sum()
    xty[0], xty[k] = s.sy.sum(), s.sxy.sum()
    for g in range(1, k):
        xtx[g, g] = xtx[0, g] = s.n[g]
        xtx[g, k] = s.sx[g]
        xty[g] = s.sy[g]
    fits["varying_intercept"] = _ols(np.triu(xtx) + np.triu(xtx, 1).T, xty, s.syy, total, tss)
    # chol ~ age:as.factor(doctor): intercept, age within each doctor
    xtx, xty = np.zeros((k + 1, k + 1)), np.zeros(k + 1)
    xtx[0, 0], xty[0] = total, s.sy.sum()
    for g in range(k):
        xtx[g + 1, g + 1], xtx[0, g + 1], xty[g + 1] = s.sxx[g], s.sx[g], s.sxy[g]
    fits["varying_slope"] = _ols(np.triu(xtx) + np.triu(xtx, 1).T, xty, s.syy, total, tss)
    xbar, ybar = s.sx / s.n, s.sy / s.n
    grouped = _ols(
        np.array([[k, np.sum(xbar)], [np.sum(xbar), np.sum(xbar * xbar)]]),
        np.array([np.sum(ybar), np.sum(xbar * ybar)]),
        np.sum(ybar * ybar),
        k,
        np.sum((ybar - ybar.mean()) ** 2),
    )
    grouped["residuals"] = ybar - (grouped["estimate"][0] + grouped["estimate"][1] * xbar)
    fits["grouped"] = grouped
    return fits


def deviations(s: Sums, targets: list[dict]) -> np.ndarray:
    """Each sum-determined printed number's deviation, in half units of its last printed digit."""
    fits = fits_from_sums(s)
    plan = _sum_determined(tuple((t["model"], t["statistic"], t["term"], t["printed"]) for t in targets))
    values = [fits[model][stat] if where is None else fits[model][stat][where] for model, stat, where in plan.picks]
    if plan.quantile_probabilities:  # the grouped fit's residual quantiles, all at once
        values += list(np.quantile(fits["grouped"]["residuals"], plan.quantile_probabilities))
    return (np.array(values)[plan.order] - plan.printed) / plan.half_units


@dataclass(frozen=True)
class _Plan:
    """Where each sum-determined printed number of a list of targets is found in the fits."""

    picks: tuple  # (model, statistic, coefficient index or None)
    quantile_probabilities: tuple
    order: np.ndarray  # from picks-then-quantiles back to the targets' order
    printed: np.ndarray
    half_units: np.ndarray


@lru_cache(maxsize=None)
def _sum_determined(targets: tuple[tuple[str, str, str, str], ...]) -> _Plan:
    terms = {m: [term for model, stat, term, _ in targets if model == m and stat == "estimate"] for m in MODELS}
    picks, probabilities, position, printed, halves = [], [], [], [], []
    for model, stat, term, text in targets:
        if model not in MODELS or stat in ("p_value", "f_p_value", "df_residual", "f_df_model", "f_df_residual"):
            continue
        if stat == "residual_quantile":
            if model != "grouped":
                continue  # these depend on rows, not sums: step 3
            position.append(("quantile", len(probabilities)))
            probabilities.append(QUANTILE_RANKS[term] / 440)
        else:
            position.append(("pick", len(picks)))
            picks.append(
                (model, stat, terms[model].index(term) if stat in ("estimate", "std_error", "t_value") else None)
            )
        printed.append(float(text))
        halves.append(half_unit(text, stat))
    order = np.array([i if kind == "pick" else len(picks) + i for kind, i in position], dtype=int)
    return _Plan(tuple(picks), tuple(probabilities), order, np.array(printed), np.array(halves))


# ---------------------------------------------------------------- step 1 and 2: the sums
def solve_sums(targets: list[dict], rng: np.random.Generator) -> Sums:
    """Steps 1 and 2a-c: every sum on its lattice; each GP's Σage² and Σage·chol still provisional."""
    n = group_sizes(targets)
    k = len(n)

    def unpack(theta):
        xbar, ybar, wxx, wxy, wyy = np.split(theta, [k, 2 * k, 3 * k, 4 * k])
        return Sums(n, n * xbar, n * ybar, wxx + n * xbar**2, wxy + n * xbar * ybar, wyy[0] + np.sum(n * ybar**2))

    # Step 1: within-GP spreads and means from a rough start; the printed numbers pull them into place.
    xbar0 = rng.normal(60, 5, k)
    vi = [t for t in targets if t["model"] == "varying_intercept" and t["statistic"] == "estimate"]
    alpha = float(vi[0]["printed"]) + np.array([0.0] + [float(t["printed"]) for t in vi[1:-1]])
    ybar0 = alpha + float(vi[-1]["printed"]) * xbar0
    theta0 = np.concatenate([xbar0, ybar0, np.full(k, 3000.0), np.full(k, 150.0), [230.0]])
    fit = least_squares(
        lambda th: deviations(unpack(th), targets), theta0, x_scale=np.abs(theta0) * 1e-3 + 1e-3, max_nfev=20000
    )
    rough = unpack(fit.x)
    not_slope = [t for t in targets if t["model"] != "varying_slope"]

    # Step 2a: Σage and Σchol per GP round to whole years and hundredths.
    sx, sy = np.round(rough.sx), np.round(rough.sy * 100) / 100
    # Step 2b: the overall Σage² and Σage·chol, pinned by the pooled fit (Σage² has the parity of Σage).
    sxx_total, sxy_total = _pooled_totals(n, sx, sy, rough, targets)
    sxx = _split_total(rough.sxx, sxx_total, parity=sx)
    sxy = _split_total(rough.sxy * 100, sxy_total) / 100
    # Step 2c: Σchol², in units of 0.0001, has the parity of Σchol in hundredths (y² ≡ y mod 2).
    parity = int(round(sy.sum() * 100)) % 2

    def at(syy):
        return deviations(Sums(n, sx, sy, sxx, sxy, syy), not_slope)

    centre = int(round(least_squares(lambda v: at(v[0]), [rough.syy], x_scale=[1e-3]).x[0] * 1e4))
    syy = min(
        (c / 1e4 for c in range(centre - 60, centre + 61) if c % 2 == parity), key=lambda v: np.max(np.abs(at(v)))
    )
    return Sums(n, sx, sy, sxx, sxy, syy)


def _pooled_totals(n, sx, sy, rough: Sums, targets: list[dict]) -> tuple[int, int]:
    """The integer Σage² and Σage·chol (in hundredths) whose estimates print as the handout's.

    The pooled estimates pin the ratio of the centred sums (the slope); the varying-intercept estimates
    pin the ratio of the within-GP sums. For each Σage² near the continuous one we try the Σage·chol
    that gives the pooled slope, and keep the pair that meets both fits' estimates best.
    """
    estimates = [t for t in targets if t["model"] in ("pooled", "varying_intercept") and t["statistic"] == "estimate"]
    pooled = [t for t in estimates if t["model"] == "pooled"]
    share = np.ones(len(n)) / len(n)
    total, sx_total, sy_total = n.sum(), sx.sum(), sy.sum()
    slope = float(next(t["printed"] for t in pooled if t["term"] == "age" and t["statistic"] == "estimate"))

    def score(sxx_total, sxy_total):
        trial = Sums(n, sx, sy, sxx_total * share, sxy_total / 100 * share, rough.syy)
        return np.max(np.abs(deviations(trial, estimates)))

    options = []
    centre = int(round(rough.sxx.sum()))
    for sxx_total in range(centre - 60, centre + 61):
        if sxx_total % 2 != int(sx_total) % 2:
            continue
        sxy_guess = int(round(100 * (slope * (sxx_total - sx_total**2 / total) + sx_total * sy_total / total)))
        options += [(sxx_total, sxy_guess + d) for d in range(-3, 4)]
    return min(options, key=lambda ab: score(*ab))


def _split_total(values: np.ndarray, total: int, parity: np.ndarray | None = None) -> np.ndarray:
    """Integers near ``values`` (of the given parity) that add up to ``total``."""
    step = 1 if parity is None else 2
    base = np.zeros_like(values) if parity is None else parity % 2
    out = base + step * np.round((values - base) / step)
    surplus = int(total - out.sum())
    if surplus % step:
        raise ValueError("the total's parity does not match the parts'")
    whole, rest = divmod(abs(surplus) // step, len(values))
    out += step * np.sign(surplus) * whole
    order = np.argsort(-(values - out) * np.sign(surplus or 1))
    out[order[:rest]] += step * np.sign(surplus)
    return out


def choose_within_gp_sums(s: Sums, targets: list[dict], fixed: list[tuple]) -> Sums:
    """Step 2d: each GP's Σage² and Σage·chol.

    Only the totals are pinned exactly by the pooled fit; the split among GPs moves the varying-slope fit.
    A least-squares fit (totals kept) comes first, then integer programming on the lattice around it, then
    an exact descent from the integer program's point.
    """
    k = len(s.n)
    slope_targets = [t for t in targets if t["model"] == "varying_slope"]

    def split(p):
        return Sums(
            s.n,
            s.sx,
            s.sy,
            np.append(p[: k - 1], s.sxx.sum() - p[: k - 1].sum()),
            np.append(p[k - 1 :], s.sxy.sum() - p[k - 1 :].sum()),
            s.syy,
        )

    start = np.concatenate([s.sxx[:-1], s.sxy[:-1]])
    smooth = split(least_squares(lambda p: deviations(split(p), slope_targets), start, x_scale=np.ones(2 * k - 2)).x)
    current = Sums(
        s.n,
        s.sx,
        s.sy,
        _split_total(smooth.sxx, int(round(s.sxx.sum())), parity=s.sx),
        _split_total(smooth.sxy * 100, int(round(s.sxy.sum() * 100))) / 100,
        s.syy,
    )
    return _descend(_lattice_step(current, slope_targets, fixed), slope_targets, fixed)


def _slope_score(s: Sums, slope_targets: list[dict], fixed: list[tuple]) -> tuple[float, float]:
    """How far ``s`` is from meeting the integer program's conditions (0 when it meets them), then the
    varying-slope numbers' summed deviation: both in half units, evaluated exactly rather than
    linearised, and rounded to 1e-9 so that no comparison of scores turns on the last bits."""
    deviation = deviations(s, slope_targets)
    printed = [t["printed"] for t in slope_targets if t["statistic"] == "residual_quantile"]
    quantiles, half = [float(p) for p in printed], min(half_unit(p, "residual_quantile") for p in printed)
    line = Lines.from_sums(s).varying_slope
    fitted = line[:, :1] + line[:, 1:] * np.arange(*AGE_RANGE)  # each GP (rows) at each age (columns)
    nearest_row = [np.min(np.abs(np.round(100 * (q + fitted)) / 100 - fitted - q)) for q in quantiles]
    placed = [y100 / 100 - line[g, 0] - line[g, 1] * age for g, age, y100 in fixed]
    low, high = quantiles[0] - 0.85 * half, quantiles[-1] + 0.85 * half
    shortfall = (
        np.sum(np.maximum(0, np.abs(deviation) - 0.97))
        + sum(max(0.0, miss - 0.85 * half) for miss in nearest_row) / half
        + sum(max(0.0, low - r) + max(0.0, r - high) for r in placed) / half
    )
    return round(float(shortfall), 9), round(float(np.sum(np.abs(deviation))), 9)


def _descend(s: Sums, slope_targets: list[dict], fixed: list[tuple]) -> Sums:
    """Step 2e: from the integer program's point, the best exact improvement until there is none.

    The integer program sees a linearised fit and stops within 10% of its bound, so it returns a good
    point, not the best, and one that may miss a condition by a hair once evaluated exactly. Solving it
    again around its answer cycled between two neighbouring points, and which one the last round left
    depended on the last bits of BLAS arithmetic, so on the CPU. Here each move keeps the totals
    (Σage·chol of one GP up by a hundredth and of another down, or Σage² by 2 likewise), its score is
    computed exactly, and the best improving move (conditions first, then deviations; ties by the order
    of the moves) is taken until none improves.
    """
    k = len(s.n)
    score = _slope_score(s, slope_targets, fixed)
    while True:
        best = None
        for i in range(k):
            for j in range(k):
                for kind in ("sxx", "sxy") if i != j else ():
                    step = np.zeros(k)
                    step[i], step[j] = (2, -2) if kind == "sxx" else (1, -1)
                    trial = Sums(
                        s.n,
                        s.sx,
                        s.sy,
                        s.sxx + step * (kind == "sxx"),
                        (np.round(s.sxy * 100) + step * (kind == "sxy")) / 100,
                        s.syy,
                    )
                    value = _slope_score(trial, slope_targets, fixed)
                    if value < score and (best is None or value < best[0]):
                        best = (value, trial)
        if best is None:
            break
        score, s = best
    if score[0] > 0:
        raise RuntimeError(
            f"no lattice point near the integer program's meets its conditions ({score[0]} half units short)"
        )
    return s


def _lattice_step(s: Sums, slope_targets: list[dict], fixed: list[tuple]) -> Sums:
    """Integer programming, linearised around ``s``.

    We keep every varying-slope number within 0.97 of half its last digit, make each of its printed
    residual quantiles reachable by some row (age, chol), keep the rows already placed (``fixed``)
    within its printed extremes, and minimise the summed deviations.
    """
    k = len(s.n)
    printed_quantiles = [t["printed"] for t in slope_targets if t["statistic"] == "residual_quantile"]
    quantiles = [float(p) for p in printed_quantiles]
    half = min(half_unit(p, "residual_quantile") for p in printed_quantiles)

    def with_moves(z):
        return Sums(s.n, s.sx, s.sy, s.sxx + 2 * z[:k], s.sxy + z[k:] / 100, s.syy)

    def slope_coefficients(z):
        return fits_from_sums(with_moves(z))["varying_slope"]["estimate"]

    zero = np.zeros(2 * k)
    dev0, coef0 = deviations(with_moves(zero), slope_targets), slope_coefficients(zero)
    jac_dev = np.column_stack([deviations(with_moves(np.eye(2 * k)[j]), slope_targets) - dev0 for j in range(2 * k)])
    jac_coef = np.column_stack([slope_coefficients(np.eye(2 * k)[j]) - coef0 for j in range(2 * k)])
    candidates = [
        (q, g, age, round(100 * (target + coef0[0] + coef0[g + 1] * age)))
        for q, target in enumerate(quantiles)
        for g in range(k)
        for age in range(*AGE_RANGE)
        if abs(round(100 * (target + coef0[0] + coef0[g + 1] * age)) / 100 - coef0[0] - coef0[g + 1] * age - target)
        < 60 * half
    ]
    m, c = len(dev0), len(candidates)
    nvar = 2 * k + m + c  # moves, |deviation| bounds, candidate choices
    rows, low, high = [], [], []

    def constrain(row, lo, hi):
        rows.append(row), low.append(lo), high.append(hi)

    for i in range(m):
        for sign in (1, -1):
            row = np.zeros(nvar)
            row[: 2 * k], row[2 * k + i] = sign * jac_dev[i], -1
            constrain(row, -np.inf, -sign * dev0[i])
    for part in (slice(0, k), slice(k, 2 * k)):  # totals stay
        row = np.zeros(nvar)
        row[part] = 1
        constrain(row, 0, 0)
    for q in range(len(quantiles)):
        row = np.zeros(nvar)
        row[2 * k + m :] = [cand[0] == q for cand in candidates]
        constrain(row, 1, 1)
    for g, age, y100 in fixed:  # rows placed already must not fall outside the printed extremes
        row = np.zeros(nvar)
        row[: 2 * k] = -(jac_coef[0] + jac_coef[g + 1] * age)
        offset = y100 / 100 - coef0[0] - coef0[g + 1] * age
        constrain(row, quantiles[0] - 0.85 * half - offset, quantiles[-1] + 0.85 * half - offset)
    for j, (q, g, age, y100) in enumerate(candidates):
        gradient = -(jac_coef[0] + jac_coef[g + 1] * age)
        offset = y100 / 100 - coef0[0] - coef0[g + 1] * age - quantiles[q]
        for sign in (1, -1):
            row = np.zeros(nvar)
            row[: 2 * k], row[2 * k + m + j] = sign * gradient, 1.0
            constrain(row, -np.inf, 0.85 * half - sign * offset + 1.0)
    result = milp(
        np.concatenate([np.zeros(2 * k), np.ones(m), np.zeros(c)]),
        constraints=LinearConstraint(np.array(rows), low, high),
        integrality=np.concatenate([np.ones(2 * k), np.zeros(m), np.ones(c)]),
        bounds=Bounds(
            np.concatenate([np.full(2 * k, -300), np.zeros(m + c)]),
            np.concatenate([np.full(2 * k, 300), np.full(m, 0.97), np.ones(c)]),
        ),
        options={"mip_rel_gap": 0.1},  # a gap, not a time limit: the same answer on any machine
    )
    if result.x is None:
        raise RuntimeError(f"no lattice point meets the varying-slope numbers: {result.message}")
    return with_moves(np.round(result.x[: 2 * k]))


# ---------------------------------------------------------------- step 3: the rows
@dataclass
class Lines:
    """Fitted values of the three patient-level fits, for any GP g (0-based) and age."""

    pooled: np.ndarray
    varying_intercept: np.ndarray
    varying_slope: np.ndarray

    @classmethod
    def from_sums(cls, s: Sums) -> Lines:
        fits = fits_from_sums(s)
        b = fits["pooled"]["estimate"]
        vi = fits["varying_intercept"]["estimate"]
        vs = fits["varying_slope"]["estimate"]
        k = len(s.n)
        intercepts = vi[0] + np.concatenate([[0.0], vi[1:k]])
        return cls(
            np.array([[b[0], b[1]]] * k),
            np.column_stack([intercepts, np.full(k, vi[k])]),
            np.column_stack([np.full(k, vs[0]), vs[1:]]),
        )

    def fitted(self, model: str, doctor: np.ndarray, age: np.ndarray) -> np.ndarray:
        line = getattr(self, model)
        return line[doctor, 0] + line[doctor, 1] * age


PATIENT_MODELS = ("pooled", "varying_intercept", "varying_slope")


def quantile_targets(targets: list[dict]) -> dict:
    """{(model, rank): (printed value, half unit)} for the row-level residual quantiles."""
    return {
        (t["model"], QUANTILE_RANKS[t["term"]]): (float(t["printed"]), half_unit(t["printed"], "residual_quantile"))
        for t in targets
        if t["statistic"] == "residual_quantile" and t["model"] in PATIENT_MODELS
    }


def head_rows(targets: list[dict]) -> list[dict]:
    rows: dict[str, dict] = {}
    for t in targets:
        if t["model"] == "head":
            rows.setdefault(t["term"], {})[t["statistic"]] = float(t["printed"])
    return [rows[key] for key in sorted(rows, key=int)]


def choose_anchors(
    s: Sums, lines: Lines, quantiles: dict, fixed: list[tuple], models: tuple[str, ...], settled: tuple[str, ...]
) -> list[tuple]:
    """One row (doctor, age, chol in hundredths) per printed quantile of ``models``, whose residual prints
    as the handout's; rows already ``fixed`` serve where they print right.

    A row must also fall within the printed extremes of the fits in ``settled`` (whose lines are final).
    Among the rows that qualify we take the one whose age is nearest its GP's mean.
    """
    k = len(s.n)
    mean = s.sx / s.n
    spread = np.sqrt((s.sxx - s.sx**2 / s.n) / (s.n - 1))
    anchors = list(fixed)

    def residual(row, model):
        g, age, y100 = row
        return y100 / 100 - lines.fitted(model, np.array([g]), np.array([age]))[0]

    def prints_right(row, model, rank):
        value, half = quantiles[(model, rank)]
        return abs(residual(row, model) - value) < 0.95 * half

    def within_extremes(row):
        return all(
            quantiles[(m, 0)][0] - 0.95 * quantiles[(m, 0)][1]
            < residual(row, m)
            < quantiles[(m, 440)][0] + 0.95 * quantiles[(m, 440)][1]
            for m in settled
        )

    for rank in (0, 440, 220, 110, 330):
        for model in models:
            if any(prints_right(a, model, rank) for a in anchors):
                continue
            value, _ = quantiles[(model, rank)]
            options = []
            for g in range(k):
                for age in range(*AGE_RANGE):
                    y100 = int(round(100 * (value + lines.fitted(model, np.array([g]), np.array([age]))[0])))
                    row = (g, age, y100)
                    if (
                        CHOL_RANGE[0] <= y100 <= CHOL_RANGE[1]
                        and prints_right(row, model, rank)
                        and within_extremes(row)
                    ):
                        options.append(row)
            if not options:
                raise RuntimeError(f"no row prints the {model} residual quantile {value}")
            anchors.append(min(options, key=lambda row: (abs(row[1] - mean[row[0]]) / spread[row[0]], row)))
    return anchors[len(fixed) :]


def draw_ages(s: Sums, fixed_ages: list[list[int]], rng: np.random.Generator) -> list[np.ndarray]:
    """Whole-year ages per GP with exactly the GP's Σage and Σage² (fixed ones kept)."""
    ages = []
    for g in range(len(s.n)):
        n, keep = int(s.n[g]), list(fixed_ages[g])
        mean = s.sx[g] / n
        sd = np.sqrt((s.sxx[g] - s.sx[g] ** 2 / n) / (n - 1))
        free = np.clip(np.round(rng.normal(mean, sd, n - len(keep))), *AGE_RANGE).astype(int)
        target_sum, target_sq = int(s.sx[g]), int(s.sxx[g])
        while (gap := target_sum - (sum(keep) + free.sum())) != 0:  # Σage first, one year at a time
            i = rng.integers(len(free))
            free[i] = np.clip(free[i] + np.sign(gap), *AGE_RANGE)
        # then Σage²: a year from one patient to another keeps Σage and changes Σage² by 2(a_i - a_j + 1)
        while (gap := target_sq - (sum(a * a for a in keep) + int(np.sum(free.astype(np.int64) ** 2)))) != 0:
            i, j = rng.choice(len(free), 2, replace=False)
            change = 2 * (free[i] - free[j] + 1)
            inside = AGE_RANGE[0] <= free[j] - 1 and free[i] + 1 <= AGE_RANGE[1]
            if inside and 0 < change * np.sign(gap) <= abs(gap):
                free[i] += 1
                free[j] -= 1
        ages.append(np.concatenate([keep, free]).astype(int))
    return ages


def draw_chol(
    s: Sums,
    doctor: np.ndarray,
    age: np.ndarray,
    fixed: np.ndarray,
    chol100: np.ndarray,
    lines: Lines,
    quantiles: dict,
    rng: np.random.Generator,
) -> np.ndarray:
    """Cholesterol in hundredths around each GP's own line, with each GP's Σchol and Σage·chol exact."""
    chol100 = chol100.copy()
    within_xx = s.sxx - s.sx**2 / s.n
    within_xy = s.sxy - s.sx * s.sy / s.n
    slope = within_xy / within_xx
    total_within_yy = s.syy - np.sum(s.sy**2 / s.n)
    sigma = np.sqrt((total_within_yy - np.sum(within_xy**2 / within_xx)) / (len(age) - 2 * len(s.n)))
    centre = s.sy[doctor] / s.n[doctor] + slope[doctor] * (age - s.sx[doctor] / s.n[doctor])
    low = np.max([lines.fitted(m, doctor, age) + quantiles[(m, 0)][0] for m in PATIENT_MODELS], axis=0)
    high = np.min([lines.fitted(m, doctor, age) + quantiles[(m, 440)][0] for m in PATIENT_MODELS], axis=0)
    free = ~fixed
    noise = rng.standard_normal(len(age))
    for _ in range(100):  # redraw the few that fall outside the printed extremes
        outside = free & ((centre + sigma * noise <= low + 0.03) | (centre + sigma * noise >= high - 0.03))
        if not outside.any():
            break
        noise[outside] = rng.standard_normal(outside.sum())
    chol100[free] = np.round(100 * (centre + sigma * noise))[free]
    for g in range(len(s.n)):
        rows, kept = np.flatnonzero((doctor == g) & free), np.flatnonzero((doctor == g) & fixed)
        target_sum = int(round(s.sy[g] * 100)) - int(chol100[kept].sum())
        target_cross = int(round(s.sxy[g] * 100)) - int(np.sum(chol100[kept] * age[kept]))
        _match_two_sums(chol100, age, rows, target_sum, target_cross, rng)
    return chol100


def _match_two_sums(chol100, age, rows, target_sum, target_cross, rng) -> None:
    """Nudge chol (hundredths) of ``rows`` so that Σchol and Σage·chol hit their targets exactly."""
    gap = target_sum - int(chol100[rows].sum())
    whole, rest = divmod(abs(gap), len(rows))
    chol100[rows] += int(np.sign(gap)) * whole
    chol100[rng.permutation(rows)[:rest]] += int(np.sign(gap))
    cross_gap = target_cross - int(np.sum(chol100[rows].astype(np.int64) * age[rows]))
    while cross_gap != 0:  # +1 on one patient, -1 on another: Σchol stays, Σage·chol moves by their age gap
        i, j = rng.choice(rows, 2, replace=False)
        step = int(age[i] - age[j])
        if 0 < step * np.sign(cross_gap) <= abs(cross_gap):
            chol100[i] += 1
            chol100[j] -= 1
            cross_gap -= step


class RankSearch:
    """Moves cholesterol values in steps that keep every GP's Σchol and Σage·chol, until each printed
    residual quantile's row has its rank in all three fits and the overall Σchol² is exact.

    A step changes two patients of the same GP and age by ±d, or three patients of one GP with ages
    a, b, c by t·(c−b, a−c, b−a): both leave Σchol and Σage·chol of the GP unchanged.
    """

    def __init__(self, chol100, doctor, age, free, anchor_rows, lines, target_squares, rng):
        self.chol100, self.doctor, self.age, self.free = chol100.copy(), doctor, age, free
        self.rng, self.target_squares = rng, target_squares
        self.fitted = np.array([lines.fitted(m, doctor, age) for m in PATIENT_MODELS])
        self.checks = [(PATIENT_MODELS.index(m), rank, row) for (m, rank), row in anchor_rows.items()]
        self.by_group = {g: np.flatnonzero((doctor == g) & free) for g in np.unique(doctor)}

    def residuals(self, chol100):
        return chol100 / 100 - self.fitted

    def rank_errors(self, chol100) -> list[tuple[int, int, int, int]]:
        """(model, row, rows to move up, rows to move down) for each quantile row off its rank."""
        r, errors = self.residuals(chol100), []
        for model, rank, row in self.checks:
            value = r[model, row]
            below = int(np.sum(r[model] < value - 1e-9))
            at_or_below = int(np.sum(r[model] <= value + 1e-9))
            up, down = max(0, below - rank), max(0, rank + 1 - at_or_below)
            if up or down:
                errors.append((model, row, up, down))
        return errors

    def loss(self, chol100) -> float:
        rank_penalty = sum(up + down for _, _, up, down in self.rank_errors(chol100))
        squares = int(np.sum(chol100.astype(np.int64) ** 2))
        return 1e7 * rank_penalty + abs(squares - self.target_squares)

    def steps_with(self, i, direction):
        """Candidate steps that move patient i in the given direction (+1 up, -1 down)."""
        same = [j for j in self.by_group[self.doctor[i]] if j != i]
        for j in same:
            if self.age[j] == self.age[i]:
                yield np.array([i, j]), np.array([direction, -direction])
        near = [j for j in same if 0 < abs(int(self.age[j]) - int(self.age[i])) <= 4]
        for _ in range(12):
            if len(near) < 2:
                return
            j, k = self.rng.choice(near, 2, replace=False)
            a, b, c = int(self.age[i]), int(self.age[j]), int(self.age[k])
            if b == c:
                continue
            d = np.array([c - b, a - c, b - a])
            d //= np.gcd.reduce(np.abs(d))
            yield np.array([i, j, k]), d * direction * np.sign(d[0])

    def finish_squares(self, chol100) -> np.ndarray:
        """One same-age pair step that closes the last gap in Σchol² exactly, if one exists.

        Moving two patients by +m and −m changes Σchol² by 2m(y_i − y_j) + 2m², so the gap fixes y_i − y_j.
        """
        gap = self.target_squares - int(np.sum(chol100.astype(np.int64) ** 2))
        for m in (1, 2, 3):
            if (gap - 2 * m * m) % (2 * m):
                continue
            wanted = (gap - 2 * m * m) // (2 * m)
            for rows in self.by_group.values():
                for i in rows:
                    for j in rows[(self.age[rows] == self.age[i]) & (chol100[rows] == chol100[i] - wanted)]:
                        trial = chol100.copy()
                        trial[[i, j]] += [m, -m]
                        if i != j and self.loss(trial) == 0:
                            return trial
        return chol100

    def run(self, max_steps=200_000) -> np.ndarray:
        current = self.loss(self.chol100)
        for _ in range(max_steps):
            if current == 0:
                return self.chol100
            errors = self.rank_errors(self.chol100)
            if errors:
                model, row, up, down = errors[self.rng.integers(len(errors))]
                r = self.residuals(self.chol100)[model]
                value = r[row]
                side = (r < value) if up else (r > value)
                movable = np.flatnonzero(side & self.free)
                i = movable[np.argsort(np.abs(r[movable] - value))[self.rng.integers(min(3, len(movable)))]]
                need = int(np.floor(abs(value - r[i]) * 100)) + 1
                direction = 1 if up else -1
                proposals = [(rows, d * int(np.ceil(need / abs(d[0])))) for rows, d in self.steps_with(i, direction)]
            else:
                i = self.rng.choice(np.flatnonzero(self.free))
                proposals = list(self.steps_with(i, int(self.rng.choice([-1, 1]))))
            best = None
            for rows, d in proposals:
                trial = self.chol100.copy()
                trial[rows] += d
                if trial[rows].min() < CHOL_RANGE[0] or trial[rows].max() > CHOL_RANGE[1]:
                    continue
                value = self.loss(trial)
                if best is None or value < best[0]:
                    best = (value, trial)
            if best is not None and best[0] < current:
                current, self.chol100 = best
            if not errors and 0 < current < 2000:
                self.chol100 = self.finish_squares(self.chol100)
                current = self.loss(self.chol100)
        raise RuntimeError(f"the rank search did not converge (loss {current})")


# ---------------------------------------------------------------- step 4 and the file
def simulate_other_columns(doctor, age, head: list[dict], rng) -> dict:
    """BMI, sex and the GP's age: simulated, plausible, the handout's first rows kept."""
    k = int(doctor.max()) + 1
    sex = rng.integers(0, 2, len(age))
    log_bmi = np.log(26.3) + 0.003 * (age - 60) + 0.13 * rng.standard_normal(len(age))
    while (outside := (log_bmi < np.log(18.5)) | (log_bmi > np.log(42.0))).any():  # redraw, never clip
        log_bmi[outside] = np.log(26.3) + 0.13 * rng.standard_normal(outside.sum())
    bmi = np.round(np.exp(log_bmi), 1)
    agedoc = rng.integers(34, 66, k)
    for i, row in enumerate(head):
        sex[i], bmi[i] = int(row["sex"]), row["bmi"]
        agedoc[int(row["doctor"]) - 1] = int(row["agedoc"])
    return {"bmi": bmi, "agedoc": agedoc[doctor], "sex": sex}


def build(rng: np.random.Generator) -> list[tuple]:
    targets = read_targets()
    quantiles, head = quantile_targets(targets), head_rows(targets)
    provisional = solve_sums(targets, rng)
    fixed = [(int(r["doctor"]) - 1, int(r["age"]), int(round(r["chol"] * 100))) for r in head]
    first = ("pooled", "varying_intercept")  # their lines do not depend on the within-GP split
    fixed += choose_anchors(provisional, Lines.from_sums(provisional), quantiles, fixed, first, first)
    sums = choose_within_gp_sums(provisional, targets, fixed)
    worst = np.max(np.abs(deviations(sums, targets)))
    if worst >= 1:
        raise RuntimeError(f"the sums miss a printed number by {worst:.2f} half-units")
    lines = Lines.from_sums(sums)
    fixed += choose_anchors(sums, lines, quantiles, fixed, ("varying_slope",), PATIENT_MODELS)

    k = len(sums.n)
    ages = draw_ages(sums, [[a for g, a, _ in fixed if g == gp] for gp in range(k)], rng)
    doctor = np.concatenate([np.full(len(a), g) for g, a in enumerate(ages)])
    age = np.concatenate(ages)
    chol100, is_fixed = np.zeros(len(age), dtype=np.int64), np.zeros(len(age), dtype=bool)
    for g in range(k):
        start = np.flatnonzero(doctor == g)[0]
        for offset, (_, _, y100) in enumerate(r for r in fixed if r[0] == g):
            chol100[start + offset], is_fixed[start + offset] = y100, True
    chol100 = draw_chol(sums, doctor, age, is_fixed, chol100, lines, quantiles, rng)

    residuals = {m: chol100 / 100 - lines.fitted(m, doctor, age) for m in PATIENT_MODELS}
    anchor_rows = {
        key: next(i for i in np.flatnonzero(is_fixed) if abs(residuals[key[0]][i] - value) < half)
        for key, (value, half) in quantiles.items()
    }
    target_squares = int(round(sums.syy * 1e4))
    chol100 = RankSearch(chol100, doctor, age, ~is_fixed, anchor_rows, lines, target_squares, rng).run()

    others = simulate_other_columns(doctor, age, head, rng)
    order = np.concatenate(
        [np.arange(len(head))]
        + [rng.permutation(np.setdiff1d(np.flatnonzero(doctor == g), np.arange(len(head)))) for g in range(k)]
    )
    rows = [
        (chol100[i] / 100, doctor[i] + 1, age[i], others["bmi"][i], others["agedoc"][i], others["sex"][i])
        for i in order
    ]
    if len(set(rows)) != len(rows):
        raise RuntimeError("two rows are identical")
    return rows


def write(rows: list[tuple], folder: Path) -> str:
    """Write the CSV and its manifest (with the new checksum) into ``folder``; return the checksum."""
    lines = ["chol,doctor,age,bmi,agedoc,sex"]
    lines += [f"{chol:.2f},{doctor},{age},{bmi:.1f},{agedoc},{sex}" for chol, doctor, age, bmi, agedoc, sex in rows]
    csv_path = folder / OUTPUT.name
    csv_path.write_text("\n".join(lines) + "\n")
    digest = hashlib.sha256(csv_path.read_bytes()).hexdigest()
    manifest = MANIFEST.read_text()
    start = manifest.index("sha256: ") + len("sha256: ")
    (folder / MANIFEST.name).write_text(manifest[:start] + digest + manifest[start + 64 :])
    return digest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=HERE, help="folder to write into (default: datasets/)")
    folder = parser.parse_args().out
    folder.mkdir(parents=True, exist_ok=True)
    digest = write(build(np.random.default_rng(SEED)), folder)
    print(f"wrote {folder / OUTPUT.name} (sha256 {digest[:12]}…) and its manifest")


if __name__ == "__main__":
    main()
