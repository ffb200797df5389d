"""Profile-likelihood intervals for the variance parameters of a statsmodels MixedLM fit.

statsmodels prints a Wald standard error for each random-effect variance: a symmetric interval
around a quantity whose likelihood is skewed, bounded below by zero and, with a dozen groups,
far from normal. :func:`profile_intervals` gives what R's
``confint(lmer(...), method = "profile")`` gives: for each SD of a random effect, each correlation
between random effects and the residual SD, the values whose profile likelihood lies within
``chi2_1(level) / 2`` of the maximum. For a random-intercept-only model it adds the ICC.

The likelihood is the one the fit maximised (REML or ML), computed from each group's
cross-products and checked against statsmodels' log-likelihood at the fit's estimates. Each parameter is
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

__all__ = ["ProfileError", "profile_intervals"]

# How far (in log-SD or atanh-correlation units) the search for an endpoint may go before it
# settles on the boundary: an SD of exp(-12) times its estimate is 0 to every printed digit.
_REACH = 12.0
_STEP = 0.25
_XTOL = 1e-6


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
        model = getattr(result, "model", None)
        if type(model).__name__ != "MixedLM" or not hasattr(result, "cov_re"):
            raise ProfileError(
                f"expected a fitted statsmodels MixedLM (smf.mixedlm(...).fit()), got {type(result).__name__}"
            )
        if model.k_vc or getattr(result, "cov_pen", None) is not None or model.fe_pen is not None:
            raise ProfileError("variance components (vc_formula) and penalised fits are not supported")
        if model.k_re == 0:
            raise ProfileError("the model has no random effects")
        self.k_re, self.reml = model.k_re, model.reml
        self.dof = model.n_totobs - (model.k_fe if model.reml else 0)
        # Each GP's cross-products, all the likelihood needs: Z'Z, Z'[X y] and [X y]'[X y].
        z = model.exog_re_li
        xy = [np.column_stack([x, y]) for x, y in zip(model.exog_li, model.endog_li)]
        self.ztz = np.array([zk.T @ zk for zk in z])
        self.zt_xy = np.array([zk.T @ xyk for zk, xyk in zip(z, xy)])
        self.xy_xy = sum(xyk.T @ xyk for xyk in xy)
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
        if abs(self.maximum - result.llf) > 1e-4 * max(1.0, abs(result.llf)):
            raise ProfileError(
                f"the likelihood at the fit's estimates ({self.maximum:.6f}) is not the fit's "
                f"log-likelihood ({result.llf:.6f})"
            )

    def natural(self, index: int, value: float) -> float:
        return np.exp(value) if self.kinds[index] == "sd" else np.tanh(value)

    def loglike(self, x: np.ndarray) -> float:
        sd, sigma2 = np.exp(x[: self.k_re]), np.exp(2 * x[-1])
        corr = np.eye(self.k_re)
        for (i, j), z in zip(self.pairs, x[self.k_re : -1]):
            corr[i, j] = corr[j, i] = np.tanh(z)
        return self._loglike(corr * np.outer(sd, sd) / sigma2, sigma2)

    def _loglike(self, relative: np.ndarray, sigma2: float | None) -> float:
        """The log-likelihood at a covariance relative to sigma^2 (sigma^2 = None: at its profile maximum).

        With H_k = I + Z_k Psi Z_k' (V_k = sigma^2 H_k), Woodbury's identity writes every term
        through each GP's cross-products: H_k^-1 = I - Z_k (I + Psi Z_k'Z_k)^-1 Psi Z_k'.
        """
        inner = np.eye(self.k_re) + relative @ self.ztz
        sign, logdet = np.linalg.slogdet(inner)
        if np.any(sign <= 0):
            return -np.inf
        shrink = np.linalg.solve(inner, np.broadcast_to(relative, inner.shape))  # (I + Psi Z'Z)^-1 Psi
        zt_xy = self.zt_xy
        cross = self.xy_xy - np.einsum("gqa,gqr,grb->ab", zt_xy, shrink, zt_xy)  # [X y]' H^-1 [X y]
        xhx, xhy, yhy = cross[:-1, :-1], cross[:-1, -1], cross[-1, -1]
        quadratic = yhy - xhy @ np.linalg.solve(xhx, xhy)
        if sigma2 is None:
            sigma2 = quadratic / self.dof
        value = self.dof * np.log(2 * np.pi * sigma2) + logdet.sum() + quadratic / sigma2
        if self.reml:
            value += np.linalg.slogdet(xhx)[1]
        return -value / 2

    def _profile(self, index: int, value: float, start: np.ndarray) -> tuple[float, np.ndarray]:
        """The maximum of the log-likelihood with coordinate ``index`` held at ``value``."""
        free = np.arange(len(self.estimate)) != index

        def negative(y):
            x = start.copy()
            x[free] = y
            x[index] = value
            return -self.loglike(x)

        found = optimize.minimize(negative, start[free], method="BFGS", options={"gtol": 1e-6})
        x = start.copy()
        x[free], x[index] = found.x, value
        return -found.fun, x

    def interval(self, index: int, cutoff: float) -> tuple[float, float, float]:
        ends = [self._endpoint(index, cutoff, direction) for direction in (-1, 1)]
        return (self.natural(index, self.estimate[index]), *ends)

    def _endpoint(self, index: int, cutoff: float, direction: int) -> float:
        centre, start = self.estimate[index], self.estimate.copy()
        drop = lambda value: self.maximum - self._profile(index, value, start)[0] - cutoff  # noqa: E731
        inner, step = centre, _STEP
        while abs(inner - centre) < _REACH:
            outer = inner + direction * step
            profiled, start = self._profile(index, outer, start)
            if profiled < self.maximum - cutoff:
                root = optimize.brentq(drop, min(inner, outer), max(inner, outer), xtol=_XTOL)
                return self.natural(index, root)
            inner, step = outer, step * 1.5
        return 0.0 if self.kinds[index] == "sd" else float(direction)

    def icc_interval(self, cutoff: float) -> tuple[float, float, float]:
        """The ICC depends on the ratio sigma_0 / sigma alone, over which sigma^2 profiles out exactly."""
        ratio = lambda z: np.array([[np.exp(2 * z)]])  # noqa: E731  (sigma_0^2 / sigma^2 at log-ratio z)
        icc = lambda z: 1 / (1 + np.exp(-2 * z))  # noqa: E731
        centre = self.estimate[0] - self.estimate[-1]
        drop = lambda z: self.maximum - self._loglike(ratio(z), None) - cutoff  # noqa: E731
        ends = []
        for direction in (-1, 1):
            inner, step, end = centre, _STEP, float(direction > 0)
            while abs(inner - centre) < _REACH:
                outer = inner + direction * step
                if drop(outer) > 0:
                    end = icc(optimize.brentq(drop, min(inner, outer), max(inner, outer), xtol=_XTOL))
                    break
                inner, step = outer, step * 1.5
            ends.append(end)
        return (icc(centre), *ends)
