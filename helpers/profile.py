"""Profile-likelihood intervals for the variance parameters of a statsmodels MixedLM fit.

statsmodels prints a Wald standard error for each random-effect variance: a symmetric interval
around a quantity whose likelihood is skewed, bounded below by zero and, with a dozen groups,
far from normal. :func:`profile_intervals` gives what R's
``confint(lmer(...), method = "profile")`` gives: for each SD of a random effect, each correlation
between random effects and the residual SD, the values whose profile likelihood lies within
``chi2_1(level) / 2`` of the maximum. For a random-intercept-only model it adds the ICC.

The likelihood is the one the fit maximised (REML or ML), :mod:`helpers.likelihood`'s, checked against
statsmodels' log-likelihood at the fit's estimates. Each parameter is
held at a value while the others are maximised over; an endpoint that the profile never
reaches before a boundary (an SD of 0, a correlation of -1 or 1) is that boundary, as lme4
reports it. (statsmodels' ``profile_re`` holds a variance *relative to* the residual variance,
so its curve is not the profile of the variance itself.)

Supported: one grouping factor, random intercepts and slopes (``re_formula``), no variance
components (``vc_formula``) and no penalties.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import optimize, stats

from helpers.likelihood import ResponseProfile, mixedlm_design, mixedlm_of

__all__ = ["ProfileError", "profile_intervals"]

# How far (in log-SD or atanh-correlation units) the search for an endpoint may go before it
# settles on the boundary: an SD of exp(-12) times its estimate is 0 to every printed digit.
_REACH = 12.0
_STEP = 0.25
_XTOL = 1e-7
_GTOL = 1e-7


class ProfileError(ValueError):
    """The fit is not one this profile supports; the message says why."""


def profile_intervals(result, level: float = 0.95) -> pd.DataFrame:
    """Profile-likelihood intervals for the variance parameters of a fitted ``smf.mixedlm`` model.

    Returns one row per parameter, named as ``VarCorr`` names them (``sd (Intercept)``,
    ``sd age_c``, ``cor (Intercept), age_c``, ``sd Residual`` and, for a random intercept alone,
    ``ICC``), with columns ``estimate``, ``ci_low``, ``ci_high``. The fit must be at the maximum
    of its likelihood (check it with :func:`helpers.mixed.check_fit`).
    """
    if not 0 < level < 1:
        raise ProfileError(f"level must lie between 0 and 1, not {level!r}")
    likelihood = _Likelihood(result)
    cutoff = stats.chi2.ppf(level, 1) / 2
    rows = {}
    for index, name in enumerate(likelihood.names):
        rows[name] = likelihood.interval(index, cutoff)
    if likelihood.intercept_only:
        rows["ICC"] = likelihood.icc_interval(cutoff)
    return pd.DataFrame.from_dict(rows, orient="index", columns=["estimate", "ci_low", "ci_high"])


class _Likelihood:
    """The log-likelihood of a MixedLM in unconstrained coordinates: log SDs, atanh correlations, log sigma."""

    def __init__(self, result):
        model = mixedlm_of(result, ProfileError)
        if model.k_vc:
            raise ProfileError("variance components (vc_formula) are not supported")
        if model.k_re == 0:
            raise ProfileError("the model has no random effects")
        self.k_re = model.k_re
        self.problem = ResponseProfile(*mixedlm_design(model)[:4], model.reml)
        cov = np.asarray(result.cov_re, dtype=float)
        sd = np.sqrt(np.diag(cov))
        if np.any(sd <= 0):
            raise ProfileError(
                "a random-effect variance is estimated as 0: the fit is on the boundary, "
                "where the profile of its SD starts at 0; drop that random effect"
            )
        corr = cov / np.outer(sd, sd)
        self.pairs = [(i, j) for i in range(self.k_re) for j in range(i)]
        re_intercept = np.all(np.asarray(model.exog_re) == 1, axis=0)
        re_names = ["(Intercept)" if ones else name for ones, name in zip(re_intercept, model.data.exog_re_names)]
        self.intercept_only = re_names == ["(Intercept)"]
        self.names = (
            [f"sd {n}" for n in re_names]
            + [f"cor {re_names[j]}, {re_names[i]}" for i, j in self.pairs]
            + ["sd Residual"]
        )
        self.kinds = ["sd"] * self.k_re + ["cor"] * len(self.pairs) + ["sd"]
        self.estimate = np.concatenate(
            [np.log(sd), [np.arctanh(corr[i, j]) for i, j in self.pairs], [0.5 * np.log(result.scale)]]
        )
        self.maximum = self.loglike(self.estimate)
        check_same_model(self.maximum, result, ProfileError)

    def natural(self, index: int, value: float) -> float:
        return np.exp(value) if self.kinds[index] == "sd" else np.tanh(value)

    def loglike(self, x: np.ndarray) -> float:
        sd, sigma2 = np.exp(x[: self.k_re]), np.exp(2 * x[-1])
        corr = np.eye(self.k_re)
        for (i, j), z in zip(self.pairs, x[self.k_re : -1]):
            corr[i, j] = corr[j, i] = np.tanh(z)
        return self._loglike(corr * np.outer(sd, sd) / sigma2, sigma2)

    def _loglike(self, relative: np.ndarray, sigma2: float | None) -> float:
        """The log-likelihood at a covariance relative to sigma^2 (sigma^2 = None: at its profile maximum)."""
        return self.problem.loglik(self.problem.theta_of(relative), sigma2)

    def interval(self, index: int, cutoff: float) -> tuple[float, float, float]:
        low, high = profile_ends(self.loglike, self.estimate, index, self.maximum - cutoff, _REACH)
        bounds = (0.0, np.inf) if self.kinds[index] == "sd" else (-1.0, 1.0)
        ends = [bound if end is None else self.natural(index, end) for end, bound in zip((low, high), bounds)]
        return (self.natural(index, self.estimate[index]), *ends)

    def icc_interval(self, cutoff: float) -> tuple[float, float, float]:
        """The ICC depends on the ratio sigma_0 / sigma alone, over which sigma^2 profiles out exactly."""
        centre = self.estimate[:1] - self.estimate[-1:]  # log(sigma_0 / sigma)
        loglike = lambda z: self._loglike(np.exp(2 * z)[None], None)  # noqa: E731
        icc = lambda z: 1 / (1 + np.exp(-2 * z))  # noqa: E731
        ends = profile_ends(loglike, centre, 0, self.maximum - cutoff, _REACH)
        return (icc(centre[0]), *(float(bound) if end is None else icc(end) for end, bound in zip(ends, (0, 1))))


def check_same_model(loglik: float, result, error: type[Exception]) -> None:
    """``error`` unless ``loglik``, the engine's log-likelihood at a fit's own estimates, is the fit's."""
    if abs(loglik - result.llf) > 1e-4 * max(1.0, abs(result.llf)):
        raise error(
            f"the likelihood at the fit's estimates ({loglik:.6f}) is not the fit's log-likelihood ({result.llf:.6f})"
        )


def profile_ends(loglike, centre: np.ndarray, index: int, threshold: float, reach: float) -> list[float | None]:
    """Where the profile of coordinate ``index`` of ``loglike`` (every other coordinate maximised over) falls to
    ``threshold``, below and above ``centre[index]``: None where it does not within ``reach`` of it.

    The search steps outward, each step half as long again as the last, and brackets the crossing for brentq."""
    ends = []
    for direction in (-1, 1):
        start, inner, step, end = centre.copy(), centre[index], _STEP, None
        while abs(inner - centre[index]) < reach:
            outer = inner + direction * step
            profiled, start = _maximise(loglike, index, outer, start)
            if profiled < threshold:
                held = start.copy()
                drop = lambda t: threshold - _maximise(loglike, index, t, held)[0]  # noqa: E731
                end = optimize.brentq(drop, min(inner, outer), max(inner, outer), xtol=_XTOL)
                break
            inner, step = outer, step * 1.5
        ends.append(end)
    return ends


def _maximise(loglike, index: int, value: float, start: np.ndarray) -> tuple[float, np.ndarray]:
    """The maximum of ``loglike`` with coordinate ``index`` held at ``value``, and where it is."""
    x = start.copy()
    x[index] = value
    free = np.arange(len(x)) != index
    if not free.any():
        return loglike(x), x

    def negative(y):
        x[free] = y
        return -loglike(x)

    found = optimize.minimize(negative, start[free], method="BFGS", options={"gtol": _GTOL})
    x[free] = found.x
    return -found.fun, x
