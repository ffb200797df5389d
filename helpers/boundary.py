"""Testing a variance on the boundary of its parameter space.

``H0: sigma_u^2 = 0`` puts the parameter on the edge of what it can be, so the likelihood-ratio statistic is not
chi-square with the usual df. Three answers:

- :func:`chi2_mixture_pvalue`: the large-sample 50:50 mixture of chi-square distributions (Self and Liang 1987;
  Stram and Lee 1994);
- :func:`bootstrap_lrt`: the parametric bootstrap, data simulated from the null fit and both models refitted to
  each data set (what pbkrtest's ``PBmodcomp`` and an lme4 refit loop do);
- :func:`exact_rlrt`: the restricted LRT of one variance component against its finite-sample null distribution,
  simulated from its spectral representation (Crainiceanu and Ruppert 2004) as RLRsim's ``exactRLRT`` does;
  :func:`rlrt_statistics` gives the statistic for many responses on one design, to compare the tests' size and power.

They take statsmodels fits (``smf.mixedlm(...).fit()``, and ``smf.ols(...).fit()`` for a null model with no random
effects). Each simulation has a seed, reports its Monte Carlo standard error and shows a progress bar that a
notebook does not keep (:mod:`helpers.progress`). Every statistic comes from refits of :mod:`helpers.likelihood`'s
profile, a batch of responses at once on one design (:func:`helpers.likelihood.minimise`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from helpers.likelihood import Profile, minimise, mixedlm_design, mixedlm_of
from helpers.progress import progress_bar

__all__ = [
    "BoundaryTestError",
    "BootstrapLRT",
    "ExactRLRT",
    "chi2_mixture_pvalue",
    "lr_statistic",
    "bootstrap_lrt",
    "exact_rlrt",
    "rlrt_statistics",
]

_CHUNK = 100  # replicates optimised together (one step of the progress bar)
_ROUNDING = 1e-6  # a negative LRT statistic smaller than this is rounding of equal log-likelihoods


class BoundaryTestError(ValueError):
    """The models cannot be compared by these tests; the message says why."""


# ----------------------------------------------------------------------------- the 50:50 mixture


def chi2_mixture_pvalue(statistic: float, df: int) -> float:
    """p-value of an LRT statistic under ``0.5 chi2(df - 1) + 0.5 chi2(df)`` (chi2(0) is a point mass at 0).

    ``df`` is the number of covariance parameters the larger model adds: 1 for a
    random intercept against none, 2 for a correlated random slope against a
    random intercept (its variance and its covariance with the intercept). A statistic
    above -1e-6 is rounding of a difference of log-likelihoods and is taken as 0.
    """
    df = _check_count("df", df, 1, " (the parameters added)")
    statistic = 0.0 if -_ROUNDING < float(statistic) < 0 else float(statistic)
    if not statistic >= 0:
        raise BoundaryTestError(f"an LRT statistic is >= 0, got {statistic}")
    lower = float(statistic <= 0) if df == 1 else stats.chi2.sf(statistic, df - 1)
    return float(0.5 * lower + 0.5 * stats.chi2.sf(statistic, df))


# ----------------------------------------------------------------------------- results


@dataclass(frozen=True, repr=False)
class _SimulatedTest:
    """A statistic against its simulated null distribution T*: ``p_value`` is ``(1 + #{T* >= T}) / (n + 1)``
    (Davison and Hinkley 1997), never 0; ``mc_se`` its Monte Carlo standard error ``sqrt(p (1 - p) / n)``."""

    statistic: float
    null_statistics: np.ndarray
    seed: int

    @property
    def p_value(self) -> float:
        return float((1 + np.count_nonzero(self.null_statistics >= self.statistic)) / (len(self.null_statistics) + 1))

    @property
    def mc_se(self) -> float:
        return float(np.sqrt(self.p_value * (1 - self.p_value) / len(self.null_statistics)))

    @property
    def mixture_p_value(self) -> float:
        return chi2_mixture_pvalue(self.statistic, self.df)

    def _summary(self, name: str, first: dict, count: str) -> pd.Series:
        """The test in one column: ``first``, then the Monte Carlo error, how many simulations, and the share at 0."""
        share = float(np.mean(self.null_statistics <= 1e-8))
        rows = {**first, "MC s.e.": self.mc_se, count: len(self.null_statistics), "share of T* = 0": share}
        return pd.Series(rows, name=name, dtype=object)

    def _describe(self, test: str, label: str) -> str:
        return (
            f"{test} (seed {self.seed}): {label} = {self.statistic:.4g}, p = {self.p_value:.4g} "
            f"(MC s.e. {self.mc_se:.2g}); 50:50 mixture p = {self.mixture_p_value:.4g}"
        )


@dataclass(frozen=True, repr=False)
class BootstrapLRT(_SimulatedTest):
    """A parametric-bootstrap likelihood-ratio test (n = B replicates)."""

    df: int
    method: str
    refits: dict = field(default_factory=dict)  # how many refits a batch left unconverged

    @property
    def n_boot(self) -> int:
        return len(self.null_statistics)

    def summary(self) -> pd.Series:
        """The test in one column: statistic, df, the three p-values (the naive chi-square(df) one ignores the
        boundary), the Monte Carlo error, replicates."""
        p_values = {
            "p (chi2)": float(stats.chi2.sf(self.statistic, self.df)),
            "p (50:50 mixture)": self.mixture_p_value,
            "p (bootstrap)": self.p_value,
        }
        return self._summary(f"{self.method} LRT", {"LRT": self.statistic, "df": self.df, **p_values}, "replicates")

    def __repr__(self) -> str:
        return self._describe(f"Parametric bootstrap {self.method} LRT, {self.n_boot} replicates", "LRT")


@dataclass(frozen=True, repr=False)
class ExactRLRT(_SimulatedTest):
    """The restricted LRT of one variance component against its simulated finite-sample null distribution.

    RLRsim prints ``#{T* > T} / n`` as its p-value (``p_value_rlrsim``)."""

    variance_ratio: float  # lambda at the observed maximum, sigma_u^2 / sigma^2
    df = 1  # one variance component: not a field

    @property
    def n_sim(self) -> int:
        return len(self.null_statistics)

    @property
    def p_value_rlrsim(self) -> float:
        return float(np.mean(self.null_statistics > self.statistic)) if self.statistic > 0 else 1.0

    def summary(self) -> pd.Series:
        """The test in one column: statistic, mixture and exact p-values, Monte Carlo error, simulations."""
        first = {"RLRT": self.statistic, "p (50:50 mixture)": self.mixture_p_value, "p (exact)": self.p_value}
        return self._summary("exact RLRT", first, "simulations")

    def __repr__(self) -> str:
        return self._describe(f"Exact restricted LRT, {self.n_sim} simulations", "RLRT")


def _check_simulation(seed, name: str, count) -> tuple[int, int]:
    return _check_count("seed", seed, 0, " so that the result can be reproduced"), _check_count(name, count, 1)


def _check_count(name: str, value, minimum: int, why: str = "") -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise BoundaryTestError(f"{name} must be a whole number >= {minimum}{why}, got {value!r}")
    return int(value)


# ----------------------------------------------------------------------------- the models as designs


@dataclass(frozen=True)
class _Spec:
    """One statsmodels fit as arrays: y, X, random-effect columns Z (none for OLS), group codes."""

    y: np.ndarray
    X: np.ndarray
    Z: np.ndarray
    x_names: list[str]
    codes: np.ndarray | None = None
    reml: bool | None = None  # None for OLS, which has no REML/ML choice of its own
    llf: float | None = None  # statsmodels' log-likelihood, to check our optimum against (None for OLS)
    z_names: list[str] = field(default_factory=list)


def _spec(result, role: str) -> _Spec:
    model = getattr(result, "model", None)
    kind = type(model).__name__
    if kind == "OLS":
        y = np.asarray(model.endog, float)
        return _Spec(y, np.asarray(model.exog, float), np.empty((len(y), 0)), list(model.exog_names))
    if kind != "MixedLM":
        raise BoundaryTestError(
            f"the {role} model must be a fitted smf.mixedlm(...) (or, for no random effects, "
            f"smf.ols(...)) result, got {type(result).__name__}"
        )
    mixedlm_of(result, BoundaryTestError)
    if model.k_vc:
        raise BoundaryTestError(
            f"the {role} model has variance components (vc_formula); these tests support one "
            "grouping factor with re_formula random effects"
        )
    y, X, Z, codes, _ = mixedlm_design(model)
    x_names, z_names = list(model.exog_names), list(model.data.exog_re_names)
    return _Spec(y, X, Z, x_names, codes, bool(model.reml), float(result.llf), z_names)


def _nested(null: _Spec, alternative: _Spec) -> tuple[bool, list[int]]:
    """The method, and the alternative's Z columns reordered so that the null's come first."""
    if alternative.codes is None or alternative.Z.shape[1] == 0:
        raise BoundaryTestError("the alternative model must have random effects (a smf.mixedlm fit)")
    if null.y.shape != alternative.y.shape or not np.array_equal(null.y, alternative.y):
        raise BoundaryTestError("the two fits are not of the same response and observations")
    if null.X.shape != alternative.X.shape or not np.allclose(null.X, alternative.X, rtol=1e-12, atol=0):
        raise BoundaryTestError(
            "the two models must have the same fixed effects: these tests compare random parts "
            f"(null: {null.x_names}, alternative: {alternative.x_names})"
        )
    if null.reml is not None and null.reml != alternative.reml:
        raise BoundaryTestError("fit both models by REML (reml=True) or both by ML (reml=False)")
    if null.codes is not None and not np.array_equal(null.codes, alternative.codes):
        raise BoundaryTestError("the two models must group the observations by the same column")
    order = []
    for j in range(null.Z.shape[1]):
        same = [k for k in range(alternative.Z.shape[1]) if np.allclose(null.Z[:, j], alternative.Z[:, k])]
        if not same:
            raise BoundaryTestError(
                f"the null model's random effect {null.z_names[j]!r} is not among the "
                f"alternative's {alternative.z_names}: the models are not nested"
            )
        order.append(same[0])
    if len(order) >= alternative.Z.shape[1]:
        raise BoundaryTestError("the alternative model must have more random effects than the null")
    order += [k for k in range(alternative.Z.shape[1]) if k not in order]
    return alternative.reml, order


class _Comparison:
    """A null and an alternative model sharing X and groups, fitted to many responses at once."""

    def __init__(self, null: _Spec, alternative: _Spec):
        self.reml, order = _nested(null, alternative)
        self.specs = {"null": null, "alternative": alternative}
        self.q0 = null.Z.shape[1]
        Z = alternative.Z[:, order]
        # Unit root-mean-square columns keep the relative Cholesky factor of order one; scaling each
        # column alone keeps the null's columns the first of the alternative's, as _embed needs.
        self.scale = np.sqrt(np.mean(Z**2, axis=0))
        Z = Z / self.scale
        self.alt = Profile(alternative.X, Z, alternative.codes, self.reml)
        self.null = Profile(alternative.X, Z[:, : self.q0], alternative.codes, self.reml)
        self.refits_restarted = 0

    def _minimise(self, profile: Profile, stats: tuple, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:func:`minimise`, and again from where they stopped for the fits it left unconverged (counted)."""
        theta, dev, converged = minimise(profile, stats, starts)
        rows = np.flatnonzero(~converged)
        if rows.size:
            again, lower, _ = minimise(profile, stats, theta[rows][:, None], rows)
            better = lower < dev[rows]
            theta[rows[better]], dev[rows[better]] = again[better], lower[better]
        self.refits_restarted += int(rows.size)
        return theta, dev

    def _embed(self, theta0: np.ndarray, fill: float) -> np.ndarray:
        """The null's factor as the alternative's, with ``fill`` on the new diagonal entries."""
        L = np.zeros((len(theta0), self.alt.q, self.alt.q))
        L[:, : self.q0, : self.q0] = self.null.factor(theta0)
        new = np.arange(self.q0, self.alt.q)
        L[:, new, new] = fill
        return L[:, self.alt.rows, self.alt.cols]

    def fit(self, Y: np.ndarray, alt_start: np.ndarray | None = None) -> dict:
        """Both models fitted to each row of Y: deviances, factors and the LRT."""
        stats0 = self.null.statistics(Y)
        if self.q0:
            fills = np.where(self.null.diag, np.array([0.05, 0.2, 0.6, 1.5])[:, None], 0.0)  # (start, theta)
            theta0, dev0 = self._minimise(self.null, stats0, np.repeat(fills[None], len(Y), axis=0))
        else:
            theta0, dev0 = np.zeros((len(Y), 0)), self.null.deviance(np.zeros((len(Y), 0)), stats0, np.arange(len(Y)))
        stats1 = self.alt.statistics(Y)
        starts = [self._embed(theta0, fill) for fill in (0.05, 0.2, 0.6)]
        if alt_start is not None:
            starts.append(np.broadcast_to(alt_start, (len(Y), self.alt.d)))
        theta1, dev1 = self._minimise(self.alt, stats1, np.stack(starts, axis=1))
        # The alternative contains the null: where it is not lower (rounding), the null's point is its optimum.
        dev1 = np.minimum(dev1, self.alt.deviance(self._embed(theta0, 0.0), stats1, np.arange(len(Y))))
        lrt = np.maximum(dev0 - dev1, 0.0)
        return {"theta0": theta0, "dev0": dev0, "theta1": theta1, "dev1": dev1, "stats0": stats0, "lrt": lrt}

    def observed(self) -> dict:
        """:meth:`fit` of the data, each model's optimum checked to be at least statsmodels' (to rounding)."""
        out = self.fit(self.specs["alternative"].y[None])
        for (name, spec), dev in zip(self.specs.items(), (out["dev0"][0], out["dev1"][0])):
            if spec.llf is not None and -dev / 2 < spec.llf - 1e-6 * max(1.0, abs(spec.llf)):
                raise BoundaryTestError(
                    f"could not refit the {name} model to its statsmodels optimum "
                    f"({-dev / 2} < {spec.llf}); please report this data set"
                )
        return out


def lr_statistic(null, alternative) -> float:
    """``2 (logL_alt - logL_null)`` for two nested fits, each refitted to its verified optimum.

    The same fits as :func:`bootstrap_lrt` takes (``smf.ols`` allowed for the null); REML
    likelihoods for REML fits, where a linear model's is R's ``logLik(lm, REML = TRUE)``.
    """
    return float(_Comparison(_spec(null, "null"), _spec(alternative, "alternative")).observed()["lrt"][0])


def bootstrap_lrt(null, alternative, n_boot: int = 1000, *, seed: int, progress: bool = True) -> BootstrapLRT:
    """Parametric-bootstrap LRT of ``null`` against ``alternative`` (nested random parts, same fixed effects).

    ``null`` is a fitted ``smf.mixedlm`` (or ``smf.ols`` for no random effects) and
    ``alternative`` a ``smf.mixedlm`` fit with more random effects on the same
    grouping. Both REML (``reml=True``, the default of statsmodels) or both ML;
    the statistic is ``2 (logL_alt - logL_null)`` of that kind. ``n_boot`` data
    sets are drawn from the null fit and both models refitted to each.
    """
    seed, n_boot = _check_simulation(seed, "n_boot", n_boot)
    comparison = _Comparison(_spec(null, "null"), _spec(alternative, "alternative"))
    observed = comparison.observed()
    statistic = float(observed["lrt"][0])
    null_fit = comparison.null.estimates(observed["theta0"], observed["stats0"], np.array([0]))
    mean, sigma = null_fit["beta"] @ comparison.null.X.T, float(np.sqrt(null_fit["sigma2"][0]))
    L0 = comparison.null.factor(observed["theta0"])[0]
    rng = np.random.default_rng(seed)
    null_statistics = []
    with progress_bar(n_boot, "parametric bootstrap", enabled=progress) as bar:
        for start in range(0, n_boot, _CHUNK):
            size = min(_CHUNK, n_boot - start)
            Y = np.repeat(mean, size, axis=0)
            u = sigma * rng.standard_normal((size, comparison.null.k, comparison.q0)) @ L0.T  # none for OLS
            Y += np.einsum("nj,bnj->bn", comparison.null.Z, u[:, comparison.null.codes])
            Y += sigma * rng.standard_normal((size, comparison.null.n))
            null_statistics.append(comparison.fit(Y, alt_start=observed["theta1"][0])["lrt"])
            bar.update(size)
    null_statistics = np.concatenate(null_statistics)
    return BootstrapLRT(
        statistic=statistic,
        null_statistics=null_statistics,
        df=comparison.alt.d - comparison.null.d,
        method="REML" if comparison.reml else "ML",
        seed=seed,
        refits={"replicates": n_boot, "minimised again": comparison.refits_restarted},
    )


# ----------------------------------------------------------------------------- exact RLRT


_GRID = np.r_[0.0, np.exp(np.linspace(-10, 8, 199))]  # RLRsim's lambda grid (for mu scaled to max 1)
_SIM_CHUNK = 1000


def exact_rlrt(result, n_sim: int = 10000, *, seed: int, progress: bool = True) -> ExactRLRT:
    """Exact restricted LRT of ``H0: sigma_u^2 = 0`` for a model with one variance component.

    ``result`` is a REML ``smf.mixedlm`` fit whose random part is one variance
    component: ``re_formula="1"`` (a random intercept, the default), or one
    random effect column. The statistic is the REML log-likelihood ratio against
    the same fixed effects without it; its null distribution, which depends only
    on the design, is simulated ``n_sim`` times (sup over RLRsim's grid of
    lambda = sigma_u^2 / sigma^2).
    """
    seed, n_sim = _check_simulation(seed, "n_sim", n_sim)
    comparison, mu = _one_component(result, "exact_rlrt")
    observed = comparison.observed()
    statistic = float(observed["lrt"][0])
    dof = comparison.alt.n - comparison.alt.p
    rng = np.random.default_rng(seed)
    scaled = mu / mu.max()
    log1p_grid = np.log1p(np.outer(_GRID, scaled)).sum(axis=1)
    shrink = 1 / (1 + np.outer(_GRID, scaled))  # (grid, r)
    null = []
    with progress_bar(n_sim, "exact RLRT null distribution", enabled=progress) as bar:
        for start in range(0, n_sim, _SIM_CHUNK):
            size = min(_SIM_CHUNK, n_sim - start)
            w2 = rng.standard_normal((size, len(mu))) ** 2
            chi_rest = rng.chisquare(dof - len(mu), size) if dof > len(mu) else np.zeros(size)
            total = w2.sum(axis=1) + chi_rest
            shrunk = w2 @ shrink.T + chi_rest[:, None]  # (size, grid)
            values = dof * np.log(total[:, None] / shrunk) - log1p_grid[None]
            null.append(np.maximum(values.max(axis=1), 0.0))
            bar.update(size)
    null = np.concatenate(null)
    return ExactRLRT(
        statistic=statistic,
        null_statistics=null,
        seed=seed,
        variance_ratio=float((observed["theta1"][0, 0] / comparison.scale[0]) ** 2) if statistic > 0 else 0.0,
    )


def rlrt_statistics(result, responses) -> np.ndarray:
    """The restricted LRT of ``H0: sigma_u^2 = 0`` for each row of ``responses``, on the design of ``result``.

    ``result`` is a REML fit that :func:`exact_rlrt` accepts; ``responses`` holds one response vector
    per row (for example data simulated from a chosen truth), its observations in the fit's order.
    The null distribution depends only on the design, so one ``exact_rlrt(result)`` serves every row:
    this is how the tests' rejection rates (size and power) are simulated for a design.
    """
    comparison, _ = _one_component(result, "rlrt_statistics")
    responses = np.asarray(responses, dtype=float)
    n = comparison.alt.n
    if responses.ndim != 2 or responses.shape[1] != n:
        raise BoundaryTestError(
            f"responses must be a 2-d array with one row per data set and {n} columns, one per "
            f"observation of the fit; got shape {responses.shape}"
        )
    if not np.isfinite(responses).all():
        raise BoundaryTestError("responses must be finite numbers")
    return comparison.fit(responses)["lrt"]


def _one_component(result, caller: str) -> tuple[_Comparison, np.ndarray]:
    """The fit against the same fixed effects without its one variance component, and the nonzero eigenvalues
    mu_s of Z'P0 Z on which the RLRT's null distribution depends (Crainiceanu and Ruppert 2004)."""
    spec = _spec(result, "tested")
    if spec.Z.shape[1] != 1:
        raise BoundaryTestError(
            f"{caller} tests a single variance component; this model has random effects "
            f"{spec.z_names}. For more, use bootstrap_lrt"
        )
    if not spec.reml:
        raise BoundaryTestError(f"{caller} is a restricted (REML) test: fit with reml=True")
    comparison = _Comparison(_Spec(spec.y, spec.X, spec.Z[:, :0], spec.x_names), spec)
    Q = np.linalg.qr(spec.X)[0]
    Z = comparison.alt.blocks  # a column per group; its scale does not matter
    singular = np.linalg.svd(Z - Q @ (Q.T @ Z), compute_uv=False)
    if not singular.max() > 1e-8 * np.linalg.norm(Z, 2):
        raise BoundaryTestError(
            "the random effect lies within the fixed effects (one group, or the grouping column also among the "
            "fixed effects), so the data cannot tell a between-group variance from the fixed effects and there "
            "is nothing to test (R's exactRLRT reports RLRT = 0, p = 1). Use data with several groups, and do "
            "not also fit the grouping column as a fixed effect"
        )
    return comparison, singular[singular > 1e-10 * singular.max()] ** 2
