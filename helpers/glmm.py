"""A random-intercept logistic model fitted by maximum likelihood, as ``lme4::glmer`` fits it.

statsmodels has no maximum-likelihood GLMM (its ``BinomialBayesMixedGLM`` is Bayesian). The model is

    logit P(y_ik = 1 | u_0k) = x_ik' beta + u_0k,    u_0k ~ N(0, sigma_0^2) independently,

for patient i of GP k. Its likelihood holds one integral per group over u_0k = sigma_0 z_k,
z_k ~ N(0, 1), computed by adaptive Gauss-Hermite quadrature (Liu & Pierce 1994; Pinheiro & Bates
1995): each group's integrand is centred at its mode and scaled by its curvature there, then
integrated with ``nagq`` Gauss-Hermite nodes; ``nagq=1`` is the Laplace approximation. This is
glmer's ``nAGQ`` (its default, like ours, is 1). The integrals of all groups are evaluated at once.

``fit_glmer("high ~ age_c", gp, groups="doctor", nagq=25)`` is
``glmer(high ~ age_c + (1 | doctor), data = gp, family = binomial, nAGQ = 25)``. The design
matrix comes from statsmodels' formula tools (patsy or formulaic, as statsmodels is set).
Standard errors come from the Hessian of the log-likelihood in (beta, sigma_0), as glmer's
``vcov`` computes them; the conditional modes of u_0k and their conditional SDs are glmer's
``ranef(fit, condVar = TRUE)``. A fit whose sigma_0 is estimated as 0 is reported as lme4
reports a singular fit. Rows with missing values are refused, not dropped (see :func:`fit_glmer`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import statsmodels.api as sm
from numpy.polynomial.hermite import hermgauss
from scipy import optimize, special, stats
from statsmodels.formula import handle_formula_data
from statsmodels.tools.numdiff import approx_fprime, approx_hess3

from helpers.likelihood import SINGULAR
from helpers.mixed import SingularFitWarning
from helpers.rsummary import LEGEND, format_pval, format_r

__all__ = ["GlmmFit", "GlmmInputError", "GlmmConvergenceError", "SingularFitWarning", "fit_glmer", "profile_group_sd"]

LATENT_VARIANCE = np.pi**2 / 3  # variance of the standard logistic distribution
_GRADIENT_TOL = 1e-4  # largest |d loglik / d parameter| accepted, relative to the Hessian's scale


class GlmmInputError(ValueError):
    """The data, formula or settings cannot define the model; the message names the problem."""


class GlmmConvergenceError(RuntimeError):
    """The maximum of the likelihood could not be verified, so no result is returned."""


@dataclass(frozen=True, repr=False)
class GlmmFit:
    """A fitted random-intercept logistic model; fields named after what ``summary(glmer)`` prints."""

    fixed: pd.DataFrame  # estimate, std_error, z, p (summary(fit)$coefficients)
    vcov: pd.DataFrame  # vcov(fit)
    group_sd: float  # sigma_0, the SD of u_0k on the latent (log-odds) scale
    ranef: pd.DataFrame  # mode and cond_sd of u_0k, one row per group (ranef(fit, condVar = TRUE))
    loglik: float
    nobs: int
    ngroups: int
    nagq: int
    formula: str
    groups: str
    singular: bool  # isSingular(fit): sigma_0 below SINGULAR (lme4's tolerance), reported as 0
    pearson_residuals: pd.Series = field(repr=False)  # residuals(fit, "pearson"), u_0k at its mode
    checks: dict = field(default_factory=dict)  # how the maximum was verified
    converged: bool = True  # a fit that could not be verified raises instead

    @property
    def n_params(self) -> int:
        return len(self.fixed) + 1

    @property
    def aic(self) -> float:
        return -2 * self.loglik + 2 * self.n_params

    @property
    def bic(self) -> float:
        return -2 * self.loglik + np.log(self.nobs) * self.n_params

    @property
    def icc(self) -> float:
        """Intra-class correlation on the latent scale: sigma_0^2 / (sigma_0^2 + pi^2 / 3)."""
        return self.group_sd**2 / (self.group_sd**2 + LATENT_VARIANCE)

    def odds_ratios(self, level: float = 0.95) -> pd.DataFrame:
        """exp(beta) with Wald intervals exp(beta -/+ z se): ``exp(confint(fit, method = "Wald"))``.

        Conditional (GP-specific) odds ratios: they compare two patients of the same GP."""
        if not 0 < level < 1:
            raise GlmmInputError(f"level must be between 0 and 1, got {level}")
        half = stats.norm.ppf((1 + level) / 2) * self.fixed["std_error"]
        est = self.fixed["estimate"]
        return pd.DataFrame({"odds_ratio": np.exp(est), "ci_low": np.exp(est - half), "ci_high": np.exp(est + half)})

    def summary(self) -> str:
        """Text laid out like R's ``print(summary(glmer(...)))``."""
        method = (
            "Laplace\n  Approximation"
            if self.nagq == 1
            else f"Adaptive\n  Gauss-Hermite Quadrature, nAGQ = {self.nagq}"
        )
        fit_stats = [f"{v:.1f}" for v in (self.aic, self.bic, self.loglik, -2 * self.loglik)]
        fit_stats.append(str(self.nobs - self.n_params))
        quartiles = np.quantile(self.pearson_residuals, [0, 0.25, 0.5, 0.75, 1])
        intercept = "(Intercept)"
        terms = [intercept if t == "Intercept" else t for t in self.fixed.index]
        variance = [[self.groups, intercept, f"{self.group_sd**2:.4g}", f"{self.group_sd:.4g}"]]
        lines = [
            f"Generalized linear mixed model fit by maximum likelihood ({method}) [glmerMod]",
            " Family: binomial  ( logit )",
            f"Formula: {self.formula} + (1 | {self.groups})",
            "",
            _columns(["AIC", "BIC", "logLik", "deviance", "df.resid"], [fit_stats], width=8),
            "",
            "Scaled residuals: ",
            _columns(["Min", "1Q", "Median", "3Q", "Max"], [format_r(quartiles, 4)]),
            "",
            "Random effects:",
            _columns(["Groups", "Name", "Variance", "Std.Dev."], variance, [""], str.ljust),
            f"Number of obs: {self.nobs}, groups:  {self.groups}, {self.ngroups}",
            "",
            "Fixed effects:",
        ]
        lines += _coefficients(self.fixed, terms)
        if len(terms) > 1:
            se = np.sqrt(np.diag(self.vcov))
            corr = self.vcov.to_numpy() / np.outer(se, se)
            short = ["(Intr)" if t == intercept else t[:6] for t in terms]
            rows = [[f"{corr[i, j]:.3f}" if j < i else "" for j in range(len(terms) - 1)] for i in range(1, len(terms))]
            lines += ["", "Correlation of Fixed Effects:", _columns(short[:-1], rows, terms[1:])]
        if self.singular:
            lines += ["", "boundary (singular) fit: sigma_0 is estimated as 0 (see help('isSingular') in R)"]
        return "\n".join(lines)

    __repr__ = summary


def fit_glmer(formula: str, data: pd.DataFrame, groups: str, nagq: int = 1) -> GlmmFit:
    """Fit ``glmer(<formula> + (1 | <groups>), data, family = binomial, nAGQ = nagq)`` by maximum likelihood.

    ``formula`` is two-sided, its response 0/1 or boolean; ``groups`` names the grouping column;
    ``nagq`` is the number of adaptive Gauss-Hermite nodes (1: Laplace, glmer's default; 25 is
    accurate to many digits). Raises :class:`GlmmInputError` for what cannot be fitted: no events
    or only events, a single group, a response that is not 0/1, ``nagq < 1``, and rows with missing
    values in the columns the model uses. These are refused rather than dropped as glmer does
    (``na.omit``), so that no patient leaves the analysis unnoticed: drop them with
    ``data.dropna(subset=[...])`` and the fit is glmer's. Raises :class:`GlmmConvergenceError`
    when the maximum cannot be verified (e.g. a covariate that separates events from non-events),
    and warns :class:`SingularFitWarning` when sigma_0 is estimated as 0.
    """
    if isinstance(nagq, bool) or not isinstance(nagq, (int, np.integer)) or nagq < 1:
        raise GlmmInputError(f"nagq must be a whole number of quadrature nodes >= 1 (1 = Laplace), not {nagq!r}")
    y, X, codes, labels = _design(formula, data, groups)
    problem = _Likelihood(y, X.to_numpy(), codes, int(nagq))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # statsmodels' separation warning: the GLMM check below judges
        pooled = sm.GLM(y, X.to_numpy(), family=sm.families.Binomial()).fit()
    params, checks = _maximise(problem, np.append(pooled.params, 1.0))
    singular = abs(params[-1]) < SINGULAR
    if singular:
        # At sigma_0 = 0 the model is the pooled logistic regression, whose quadrature is exact.
        params = np.append(pooled.params, 0.0)
        warnings.warn(
            f"boundary (singular) fit: sigma_0 is estimated as 0 (below {SINGULAR:g}); the model "
            "reduces to the pooled logistic regression",
            SingularFitWarning,
            stacklevel=2,
        )
    hessian = approx_hess3(params, problem.negative_loglik)
    # sigma_0 = 0 is a symmetry point of the likelihood (it depends on sigma_0^2), where the
    # cross-derivatives with beta vanish: the beta block alone gives beta's covariance.
    block = hessian[:-1, :-1] if singular else hessian
    checks["min_hessian_eigenvalue"] = float(np.linalg.eigvalsh(block).min())
    if not checks["min_hessian_eigenvalue"] > 1e-8 * np.abs(np.diag(block)).max():
        raise GlmmConvergenceError(
            f"could not verify the maximum: the Hessian of the log-likelihood is not negative definite "
            f"(eigenvalue {checks['min_hessian_eigenvalue']:.3g}); a covariate may separate events from "
            "non-events, or a fixed effect may be confounded with the groups"
        )
    cov = np.linalg.inv(block)[: X.shape[1], : X.shape[1]]
    beta, sigma = params[:-1], abs(params[-1])
    se = np.sqrt(np.diag(cov))
    mode, cond_sd, mu = problem.conditional(params)
    return GlmmFit(
        fixed=pd.DataFrame(
            {"estimate": beta, "std_error": se, "z": beta / se, "p": 2 * stats.norm.sf(np.abs(beta / se))},
            index=X.columns,
        ),
        vcov=pd.DataFrame(cov, index=X.columns, columns=X.columns),
        group_sd=float(sigma),
        ranef=pd.DataFrame({"mode": mode, "cond_sd": cond_sd}, index=pd.Index(labels, name=groups)),
        loglik=float(-problem.negative_loglik(params)),
        nobs=len(y),
        ngroups=len(labels),
        nagq=int(nagq),
        formula=formula.strip(),
        groups=groups,
        singular=bool(singular),
        pearson_residuals=pd.Series((y - mu) / np.sqrt(mu * (1 - mu)), index=X.index, name="pearson"),
        checks=checks,
    )


def profile_group_sd(fit: GlmmFit, data: pd.DataFrame, level: float = 0.95) -> np.ndarray:
    """The profile-likelihood interval of sigma_0: ``confint(fit, parm = "theta_", method = "profile")``.

    The interval holds every sigma_0 whose log-likelihood, maximised over beta, lies within
    chi2_1(level) / 2 of the maximum; its ends are found by root-finding (glmer's ``confint``
    interpolates a spline through its profile, so its ends may differ in the fourth digit). It starts
    at 0 when sigma_0 = 0 lies within. ``data`` must be the data ``fit`` was fitted to: the function
    refits nothing else, and raises :class:`GlmmInputError` if the likelihood at ``fit``'s estimates
    is not ``fit``'s. A monotone function of sigma_0 (the latent ICC, the median odds ratio) has as
    its interval the function of these ends.
    """
    if not 0 < level < 1:
        raise GlmmInputError(f"level must be between 0 and 1, got {level}")
    y, X, codes, _ = _design(fit.formula, data, fit.groups)
    problem = _Likelihood(y, X.to_numpy(), codes, fit.nagq)
    beta = fit.fixed["estimate"].to_numpy()
    if not np.isclose(-problem.negative_loglik(np.append(beta, fit.group_sd)), fit.loglik, rtol=1e-8, atol=1e-8):
        raise GlmmInputError("data is not the data the model was fitted to: the log-likelihood differs")
    cutoff = fit.loglik - stats.chi2.ppf(level, 1) / 2

    def above_cutoff(sd):
        """How far the profile log-likelihood at sigma_0 = sd lies above the interval's cutoff."""

        def negative(b):
            return problem.negative_loglik(np.append(b, sd))

        result = optimize.minimize(
            negative,
            beta,
            jac=lambda b: approx_fprime(b, negative, centered=True),
            method="BFGS",
            options={"gtol": 1e-8},
        )
        return -result.fun - cutoff

    lower = 0.0 if above_cutoff(0.0) >= 0 else optimize.brentq(above_cutoff, 0.0, fit.group_sd, xtol=1e-10)
    upper = max(2 * fit.group_sd, 1.0)
    for _ in range(30):
        if above_cutoff(upper) < 0:
            break
        upper *= 2
    else:
        raise GlmmConvergenceError(f"the profile of sigma_0 stays above the cutoff up to {upper:.3g}")
    return np.array([lower, optimize.brentq(above_cutoff, fit.group_sd, upper, xtol=1e-10)])


# ----------------------------------------------------------------------------- design


def _design(formula, data, groups):
    if not isinstance(data, pd.DataFrame):
        raise GlmmInputError(f"data must be a pandas DataFrame, not {type(data).__name__}")
    if not isinstance(formula, str) or "~" not in formula or not formula.split("~")[0].strip():
        raise GlmmInputError(f"formula must be two-sided, such as 'high ~ age_c' (got {formula!r})")
    if groups not in data.columns:
        raise GlmmInputError(f"unknown grouping column {groups!r}; the data has {list(data.columns)}")
    try:
        (y, X), dropped, _ = handle_formula_data(data, None, formula, depth=0, missing="drop")
    except Exception as err:  # patsy and formulaic raise their own error types
        raise GlmmInputError(f"cannot build the model from {formula!r}: {err}") from err
    lost = data.index[np.asarray(dropped)] if dropped is not None else data.index[:0]
    lost = lost.union(data.index[data[groups].isna()])
    if len(lost):
        raise GlmmInputError(
            f"{len(lost)} row(s) have missing values in the columns the model uses (first rows: "
            f"{lost[:5].tolist()}); glmer would drop them silently (na.omit). Drop them yourself, "
            "e.g. data.dropna(subset=[...the model's columns...]), and say so"
        )
    y = _response(y, formula)
    if np.linalg.matrix_rank(X.to_numpy()) < X.shape[1]:
        raise GlmmInputError(f"the fixed-effects columns {list(X.columns)} are linearly dependent")
    codes, labels = pd.factorize(data[groups], sort=True)
    if len(labels) < 2:
        raise GlmmInputError(
            f"{groups!r} has a single group, so sigma_0 cannot be estimated; fit a logistic "
            "regression (smf.logit) instead"
        )
    return y, X, codes, np.asarray(labels)


def _response(y, formula) -> np.ndarray:
    """The response as 0/1 floats; patsy splits a boolean into [False] and [True] columns."""
    columns = [str(c) for c in y.columns]
    if len(columns) == 2 and columns[0].endswith("[False]") and columns[1].endswith("[True]"):
        y = y.iloc[:, [1]]
    if y.shape[1] != 1:
        raise GlmmInputError(f"the response of {formula!r} must be one 0/1 or boolean column, not {columns}")
    values = np.asarray(y, dtype=float).ravel()
    if not np.isin(values, (0.0, 1.0)).all():
        odd = np.unique(values[~np.isin(values, (0.0, 1.0))])[:5].tolist()
        raise GlmmInputError(f"the response of {formula!r} must be 0/1 or boolean; it has the values {odd}")
    if values.min() == values.max():
        which = "no events (every response is 0)" if values[0] == 0 else "only events (every response is 1)"
        raise GlmmInputError(f"the response of {formula!r} has {which}, so no odds can be estimated")
    return values


# ----------------------------------------------------------------------------- likelihood


class _Likelihood:
    """The adaptive Gauss-Hermite log-likelihood of (beta, theta), u_0k = theta z_k, and each group's mode.

    With h_k(z) = sum_i log p(y_ik | x_ik' beta + theta z) + log phi(z), the mode z_k is found by
    Newton's method (h_k is concave with curvature c_k = 1 + theta^2 sum_i mu_ik (1 - mu_ik) >= 1),
    and the group's likelihood is sqrt(2 / c_k) sum_q w_q exp(h_k(z_k + sqrt(2 / c_k) t_q) + t_q^2).
    The likelihood depends on theta^2 only, so theta may take either sign: sigma_0 = |theta|.
    """

    def __init__(self, y, X, codes, nagq):
        order = np.argsort(codes, kind="stable")
        self.y, self.X, self.codes = y[order], X[order], codes[order]
        self.starts = np.flatnonzero(np.r_[True, np.diff(self.codes) != 0])
        self.order = order
        self.sign = 1 - 2 * self.y  # log p(y | eta) = -log(1 + exp(sign * eta))
        self.nodes, weights = hermgauss(nagq)
        self.log_weights = np.log(weights) + self.nodes**2
        # Newton starts from the last modes found: the optimizer's next point is nearby.
        self.last_modes = np.zeros(len(self.starts))

    def _group_sum(self, values):
        return np.add.reduceat(values, self.starts, axis=0)

    def _modes(self, offset, theta):
        """Each group's mode of h_k and curvature there, by Newton steps halved while h_k falls."""
        z = self.last_modes

        def h(z):
            eta = offset + theta * z[self.codes]
            return self._group_sum(-np.logaddexp(0, self.sign * eta)) - z**2 / 2

        current = h(z)
        for _ in range(100):
            mu = special.expit(offset + theta * z[self.codes])
            curvature = 1 + theta**2 * self._group_sum(mu * (1 - mu))
            step = (theta * self._group_sum(self.y - mu) - z) / curvature
            for _ in range(30):
                candidate = h(z + step)
                worse = candidate < current - 1e-12 * np.abs(current)
                if not worse.any():
                    break
                step = np.where(worse, step / 2, step)
            z, current = z + step, candidate
            if np.abs(step).max() < 1e-10:
                break
        self.last_modes = z
        mu = special.expit(offset + theta * z[self.codes])
        return z, 1 + theta**2 * self._group_sum(mu * (1 - mu)), mu

    def negative_loglik(self, params) -> float:
        beta, theta = params[:-1], params[-1]
        offset = self.X @ beta
        z, curvature, _ = self._modes(offset, theta)
        scale = np.sqrt(2 / curvature)
        points = z[:, None] + scale[:, None] * self.nodes  # groups x nodes
        eta = offset[:, None] + theta * points[self.codes]
        h = self._group_sum(-np.logaddexp(0, self.sign[:, None] * eta)) - points**2 / 2
        per_group = special.logsumexp(h + self.log_weights, axis=1) + np.log(scale) - np.log(2 * np.pi) / 2
        return -float(per_group.sum())

    def conditional(self, params):
        """Conditional modes theta z_k and SDs |theta| / sqrt(c_k) of u_0k; mu at the modes, in data order."""
        theta = params[-1]
        z, curvature, mu = self._modes(self.X @ params[:-1], theta)
        fitted = np.empty_like(mu)
        fitted[self.order] = mu
        return theta * z, abs(theta) / np.sqrt(curvature), fitted


def _maximise(problem: _Likelihood, start: np.ndarray) -> tuple[np.ndarray, dict]:
    """BFGS on central-difference gradients, then the gradient checked against the curvature."""
    fun = problem.negative_loglik

    def gradient(x):
        return approx_fprime(x, fun, centered=True)

    result = optimize.minimize(fun, start, jac=gradient, method="BFGS", options={"gtol": 1e-7, "maxiter": 1000})
    grad = gradient(result.x)
    # Newton-scaled gradient: how far, in its own SDs, each parameter may be from the maximum.
    scaled = np.abs(grad) * np.sqrt(np.abs(np.diag(result.hess_inv)))
    checks = {
        "optimizer": f"BFGS: {result.message}",
        "iterations": int(result.nit),
        "max_abs_gradient": float(np.abs(grad).max()),
        "max_scaled_gradient": float(scaled.max()),
    }
    if not np.isfinite(result.fun) or scaled.max() > _GRADIENT_TOL:
        raise GlmmConvergenceError(
            f"could not verify the maximum: gradient {grad} after {result.nit} BFGS "
            f"iterations ({result.message}); a covariate may separate events from "
            "non-events"
        )
    return result.x, checks


# ----------------------------------------------------------------------------- printing


def _columns(header, rows, index=None, align=str.rjust, width=0) -> str:
    """A small table, each column as wide as its widest entry (at least ``width``); row names left-aligned."""
    names = [""] + list(index) if index is not None else None
    table = [header] + rows
    widths = [max(width, *(len(r[j]) for r in table)) for j in range(len(header))]
    lines = [" ".join(align(s, w) for s, w in zip(r, widths)) for r in table]
    if names is not None:
        lines = [name.ljust(max(map(len, names))) + " " + line for name, line in zip(names, lines)]
    return "\n".join(line.rstrip() for line in lines)


def _coefficients(fixed: pd.DataFrame, terms: list[str]) -> list[str]:
    """The fixed-effects table as ``printCoefmat`` prints it (digits = 4), with significance stars."""
    both = fixed[["estimate", "std_error"]].to_numpy().T.ravel()
    decimals = max(1, 3 - int(np.floor(np.log10(np.abs(both[both != 0]).min()))))
    shown = format_r(np.round(both, decimals), 4)
    cuts = ((0.001, "***"), (0.01, "**"), (0.05, "*"), (0.1, "."), (1.0, ""))
    stars = [next(s for cut, s in cuts if v <= cut).ljust(3) for v in fixed["p"]]
    rows = [
        list(r)
        for r in zip(
            shown[: len(terms)],
            shown[len(terms) :],
            format_r(np.round(fixed["z"], 3), 4),
            format_pval(fixed["p"], 3),
            stars,
        )
    ]
    return [
        _columns(["Estimate", "Std. Error", "z value", "Pr(>|z|)", "   "], rows, terms),
        "---",
        f"Signif. codes:  {LEGEND}",
    ]
