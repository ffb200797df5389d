"""What statsmodels' MixedLM lacks, on its own results: nlme's report, anova(), the ICC, a verified optimum.

Fit with statsmodels, ``rs = smf.mixedlm("chol ~ age_c", gp, groups="doctor", re_formula="~ age_c").fit()``, then
:func:`check_fit` ``(rs)`` verifies that the fit reached the maximum of its likelihood, which statsmodels does not
always do even when it says ``converged``; :func:`nlme_summary` ``(rs)`` reports it as ``summary(lme)`` does;
:func:`lrt` is nlme's ``anova(fit0, fit1)`` and :func:`icc` the intra-class correlation. All stand on
:mod:`helpers.likelihood`'s verified optimum, which raises :class:`LmeConvergenceError` rather than return an
unverified answer. A boundary (singular) fit, a variance of 0 or a correlation of -1 or +1, is reported as lme4
reports it, with a :class:`SingularFitWarning`, also when statsmodels' optimiser stopped short of it (which
:func:`check_fit` still refuses: statsmodels' own numbers are then not the optimum).

Only one grouping level and an unstructured random-effects covariance (nlme's default ``pdLogChol``, statsmodels'
``re_formula``) are supported.
"""

from __future__ import annotations

import warnings
import weakref
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.regression.mixed_linear_model import MixedLMResults

from helpers.likelihood import (
    SINGULAR,
    LmeConvergenceError,
    ResponseProfile,
    mixedlm_design,
    mixedlm_of,
    optimise,
)
from helpers.rsummary import r_term

__all__ = [
    "FitCheck",
    "LmeFit",
    "LmeInputError",
    "LmeConvergenceError",
    "SingularFitWarning",
    "check_fit",
    "icc",
    "lrt",
    "nlme_summary",
]


class LmeInputError(ValueError):
    """The fit, or the fits given together, cannot be reported or compared as asked; the message says why."""


@dataclass(frozen=True, repr=False)
class LmeFit:
    """A fitted model; fields named after what ``summary(lme)``, ``ranef``, ``fitted`` print."""

    fixed: pd.DataFrame  # estimate, std_error, df, t, p (summary(fit)$tTable)
    random_sd: pd.Series  # random-effect SDs and 'Residual' (VarCorr)
    random_corr: pd.DataFrame  # correlations of the random effects
    vcov: pd.DataFrame  # vcov(fit): under ML without summary's N / (N - p) adjustment
    ranef: pd.DataFrame  # BLUPs, one row per group (ranef(fit))
    ranef_cond_sd: pd.DataFrame  # their conditional SDs given the estimates (lme4's ranef(fit, condVar = TRUE))
    fitted: pd.Series  # X beta + Z b, random effects included (fitted(fit))
    residuals: pd.Series  # response - fitted (resid(fit))
    loglik: float
    aic: float
    bic: float
    n_params: int  # attr(logLik(fit), "df")
    nobs: int
    ngroups: int
    reml: bool
    formula: tuple[str, str, str]  # fixed, random, group
    singular: str = ""  # what makes the fit singular, in words (lme4's boundary note); "" for an inner optimum

    def summary(self) -> str:
        """Text laid out like R's ``print(summary(fit))``."""
        fixed, random, group = self.formula
        sd = self.random_sd
        lines = [
            f"Linear mixed-effects model fit by {'REML' if self.reml else 'maximum likelihood'}",
            _table(pd.DataFrame({"AIC": [self.aic], "BIC": [self.bic], "logLik": [self.loglik]}), index=False),
            "",
            "Random effects:",
            f" Formula: {random} | {group}",
        ]
        if len(sd) > 2:
            lines.append(" Structure: General positive-definite, Log-Cholesky parametrization")
        block = pd.DataFrame({"StdDev": sd.map(lambda v: f"{v:.7g}")})
        corr = self.random_corr
        for j, term in enumerate(corr.columns[:-1]):
            block[_abbrev(term)] = [f"{corr.iloc[i, j]:.3f}" if j < i < len(corr) else "" for i in range(len(sd))]
        lines += [_table(block), "", f"Fixed effects:  {fixed}"]
        tab = self.fixed.rename(
            columns={"estimate": "Value", "std_error": "Std.Error", "df": "DF", "t": "t-value", "p": "p-value"}
        )
        lines += [_table(tab.astype({"DF": int}))]
        if len(self.vcov) > 1:
            se = np.sqrt(np.diag(self.vcov))
            corr = pd.DataFrame(
                self.vcov.to_numpy() / np.outer(se, se),
                index=self.vcov.index,
                columns=[_abbrev(c) for c in self.vcov.columns],
            )
            lower = corr.where(np.tril(np.ones(corr.shape, bool), -1)).iloc[1:, :-1]
            lines += [" Correlation: ", lower.to_string(float_format=lambda v: f"{v:.3f}", na_rep="")]
        lines.append("")
        std_resid = self.residuals / sd["Residual"]
        quant = pd.DataFrame(
            [np.quantile(std_resid, [0, 0.25, 0.5, 0.75, 1])], columns=["Min", "Q1", "Med", "Q3", "Max"]
        )
        lines += [
            "Standardized Within-Group Residuals:",
            _table(quant, index=False),
            "",
            f"Number of Observations: {self.nobs}",
            f"Number of Groups: {self.ngroups}",
        ]
        if self.singular:  # lme4's note; nlme prints none
            lines.append(f"boundary (singular) fit: {self.singular}")
        return "\n".join(lines)

    __repr__ = summary


@dataclass(frozen=True, repr=False)
class FitCheck:
    """What :func:`check_fit` found: statsmodels' log-likelihood against the verified maximum."""

    loglik: float  # result.llf
    maximum: float  # the largest log-likelihood of the model, found by the verified optimiser
    max_abs_gradient: float  # |d deviance / d theta| at statsmodels' estimates (standardised scale)

    @property
    def gap(self) -> float:
        return self.maximum - self.loglik

    def __repr__(self) -> str:
        # No digits of the gap itself: they depend on where statsmodels' optimiser stopped.
        return f"at the optimum: log-likelihood {self.loglik:.4f}, within {_GAP:g} of the verified maximum"


def check_fit(result) -> FitCheck:
    """Verify that a fitted ``smf.mixedlm(...).fit()`` reached the maximum of its likelihood.

    statsmodels can stop short of the maximum while saying ``converged`` (on uncentred covariates,
    or from its default start). The model is refitted by the verified optimiser (several starts,
    gradient and Hessian checked) and the two log-likelihoods are compared. Raises
    :class:`LmeConvergenceError`, saying what to try, when statsmodels' log-likelihood is more
    than 1e-6 below the maximum (if that maximum is a boundary fit, :func:`nlme_summary` reports
    it, as lme4 does); otherwise returns the :class:`FitCheck`.
    """
    return _verified(result, refuse_shortfall=True)[0]


def nlme_summary(result) -> LmeFit:
    """A statsmodels MixedLM fit reported as ``summary(lme)`` reports it, at the verified maximum.

    Random-effect SDs and correlations (``VarCorr``), fixed effects with nlme's standard errors
    (sigma^2 (X'V^-1 X)^-1, widened by sqrt(N / (N - p)) under ML as ``summary.lme`` does) and
    nlme's denominator df, AIC and BIC as nlme counts them (also under REML, where statsmodels
    gives nan), the BLUPs, fitted values and residuals. Terms are named as R names them:
    statsmodels' ``Intercept`` is ``(Intercept)``.

    The numbers are those at the verified maximum that :func:`check_fit` found. statsmodels'
    own estimates agree with them to its stopping rule (its log-likelihood is within 1e-6 of
    the maximum once the check passes), which on a flat likelihood can leave a variance a few
    parts in 1e5 away: enough to move a p-value of 1e-112 by a part in 1e3.

    A fit that stopped short of an interior maximum is refused, as :func:`check_fit` refuses it.
    One that stopped short of a boundary (singular) maximum, which statsmodels' optimisers approach
    without reaching, is reported at that maximum, as lme4 reports it, with a
    :class:`SingularFitWarning` saying how far short statsmodels' own estimates stopped.
    """
    return _verified(result)[1]


def lrt(*fits, names: list[str] | None = None) -> pd.DataFrame:
    """Compare nested fits like ``anova(m1, m2, ...)`` in nlme: AIC, BIC, logLik and the LR test.

    ``fits`` are statsmodels MixedLM results (each reported by :func:`nlme_summary` first) or
    :class:`LmeFit`. Each row is tested against the row before it. REML fits with different
    fixed effects are refused: their REML likelihoods are of different data projections.
    """
    if len(fits) < 2:
        raise LmeInputError("lrt needs at least two fits to compare")
    fits = [_as_report(f) for f in fits]
    if len({f.reml for f in fits}) > 1:
        raise LmeInputError("lrt: all fits must use the same method; refit them all with reml=False (ML)")
    if len({(f.nobs, f.formula[0].split("~")[0].strip()) for f in fits}) > 1:
        raise LmeInputError("lrt: the fits do not share the same response and observations")
    if fits[0].reml and len({frozenset(f.fixed.index) for f in fits}) > 1:
        raise LmeInputError(
            "lrt: REML fits with different fixed effects cannot be compared, because each REML "
            "likelihood is of a different linear transformation of the data; refit every model by "
            "maximum likelihood (.fit(reml=False)) and compare those fits"
        )
    n_params = np.array([f.n_params for f in fits])
    loglik = np.array([f.loglik for f in fits])
    # Like nlme, no test between neighbours with the same number of parameters.
    ddf = np.r_[0, np.abs(np.diff(n_params))]
    ratio = np.where(ddf > 0, np.r_[0, 2 * np.abs(np.diff(loglik))], np.nan)
    return pd.DataFrame(
        {
            "Model": np.arange(1, len(fits) + 1),
            "df": n_params,
            "AIC": [f.aic for f in fits],
            "BIC": [f.bic for f in fits],
            "logLik": loglik,
            "Test": ["" if k == 0 else f"{i} vs {i + 1}" for i, k in enumerate(ddf)],
            "L.Ratio": ratio,
            "p-value": stats.chi2.sf(ratio, np.maximum(ddf, 1)),
        },
        index=names or [f"fit{i}" for i in range(1, len(fits) + 1)],
    )


def icc(fit) -> float:
    """Intra-class correlation of a random-intercept fit (statsmodels result or :class:`LmeFit`):
    ``sd_(Intercept)^2 / (sd_(Intercept)^2 + sd_Residual^2)``, as from ``VarCorr(fit)``."""
    fit = _as_report(fit)
    terms = list(fit.random_sd.index[:-1])
    if terms != ["(Intercept)"]:
        raise LmeInputError(
            f"icc needs a random-intercept-only fit (random='~ 1'); this fit has random terms "
            f"{terms}, whose share of variance changes with the covariates"
        )
    between, residual = fit.random_sd.iloc[0] ** 2, fit.random_sd.iloc[1] ** 2
    return float(between / (between + residual))


# ----------------------------------------------------------------------------- reports


def _singularity(sd, corr, names, sigma) -> str:
    """What makes a singular fit (lme4's isSingular) singular, in words."""
    zero = [n for n, v in zip(names, sd) if v < SINGULAR * sigma]
    if zero:
        return f"the variance of the random {', '.join(zero)} is estimated as 0"
    pairs = [
        f"{names[i]} and {names[j]} ({corr[i, j]:+.0f})"
        for i in range(len(names))
        for j in range(i)
        if abs(corr[i, j]) > 1 - 1e-3
    ]
    return (
        "the random effects are perfectly correlated: " + ", ".join(pairs)
        if pairs
        else "the covariance matrix of the random effects is singular"
    )


class SingularFitWarning(UserWarning):
    """The fit is on the boundary of its parameter space (lme4: "boundary (singular) fit")."""


_GAP = 1e-6  # largest shortfall of statsmodels' log-likelihood below the verified maximum
_checked: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
# The results whose singular fit was warned of, once, with the first numbers handed out: not with _checked,
# since check_fit's refusal of a boundary maximum hands out none, and nlme_summary's report after it must warn.
_warned: weakref.WeakSet = weakref.WeakSet()


def _as_report(fit) -> LmeFit:
    return fit if isinstance(fit, LmeFit) else nlme_summary(fit)


def _verified(result, refuse_shortfall: bool = False) -> tuple[FitCheck, LmeFit]:
    """check_fit (``refuse_shortfall``) and nlme_summary of one statsmodels result, computed once; their
    docstrings say which fits each refuses."""
    mixedlm_of(result, LmeInputError)
    if result not in _checked:
        _checked[result] = _verify(result)
    check, report = _checked[result]
    singular = report.singular
    if check.gap > _GAP and (refuse_shortfall or not singular):
        raise LmeConvergenceError(
            f"statsmodels stopped {check.gap:.2g} below the maximum of the log-likelihood ({check.loglik:.2f} "
            f"against {check.maximum:.2f}, converged={bool(result.converged)}), so its estimates "
            "and standard errors are not the model's. "
            + (
                f"The maximum is a boundary (singular) fit ({singular}), which statsmodels' optimisers approach "
                "without reaching: nlme_summary reports that maximum as lme4 does, with a warning; a simpler "
                "random part avoids it."
                if singular
                else "Centre (and scale) the covariates, or refit with another optimiser, e.g. .fit(method='powell'), "
                "and check again."
            )
        )
    if singular and result not in _warned:
        _warned.add(result)
        shortfall = (
            f". statsmodels' own estimates in the fitted result (its fe_params, cov_re, llf) stopped {check.gap:.2g} "
            "short of this maximum in log-likelihood: they are not the fit and should not be reported"
            if check.gap > _GAP
            else ""
        )
        warnings.warn(
            f"boundary (singular) fit: {singular}. The data hold less between-group "
            "variation than this random part describes; the numbers are the maximum of the likelihood, "
            f"as lme4 reports them, but a simpler random part (without that term) fits as well{shortfall}",
            SingularFitWarning,
            stacklevel=3,
        )
    return check, report


def _verify(result: MixedLMResults) -> tuple[FitCheck, LmeFit]:
    """statsmodels' optimum checked against the verified maximum, and everything ``summary(lme)``, ``ranef``
    and ``fitted`` report there."""
    sm = result.model
    if sm.k_vc > 0 or sm.k_re == 0:
        raise LmeInputError(
            "only random effects given by re_formula are supported, not variance components (vc_formula)"
        )
    if sm.n_groups < 2:
        raise LmeInputError(
            "the data have a single group, and one group cannot estimate a between-group variance: its "
            "random effect is indistinguishable from the intercept. Fit a linear model (smf.ols) instead"
        )
    y, X, Z, codes, _ = mixedlm_design(sm)
    model = ResponseProfile(y, X, Z, codes, bool(result.reml))
    theta = optimise(model)
    loglik = model.loglik(theta)
    gradient = model.deviance(model.theta_of(np.asarray(result.cov_re_unscaled, float)), gradient=True)[1]
    check = FitCheck(loglik=float(result.llf), maximum=loglik, max_abs_gradient=float(np.abs(gradient).max()))
    if check.gap < -_GAP:
        raise LmeConvergenceError(
            f"statsmodels' log-likelihood {check.loglik} exceeds the verified maximum "
            f"{check.maximum}; please report this data set"
        )
    fixed = getattr(sm, "formula", None) or f"{sm.endog_names} ~ {' + '.join(sm.exog_names)}"
    xnames = ["(Intercept)" if np.all(x == 1) else r_term(name, fixed) for x, name in zip(X.T, sm.exog_names)]
    re_names = list(sm.data.exog_re_names)
    re_intercept = np.all(Z == 1, axis=0)
    znames = ["(Intercept)" if i else name for i, name in zip(re_intercept, re_names)]
    group = re_names[int(np.argmax(re_intercept))] if re_intercept.any() else "group"
    random = "~ " + " + ".join("1" if n == "(Intercept)" else n for n in znames)
    index = getattr(sm.data, "row_labels", None)
    S, reml = model.S, model.reml
    est = model.estimates(theta)
    beta, cov, sigma2 = est["beta"], est["cov_beta"], est["sigma2"]
    psi = sigma2 * (S @ est["D"] @ S.T)
    n, p = X.shape
    n_params = p + psi.shape[0] * (psi.shape[0] + 1) // 2 + 1
    # summary.lme (adjustSigma = TRUE) widens ML standard errors by sqrt(N / (N - p)); vcov() does not.
    se = np.sqrt(np.diag(cov) * (1.0 if reml else n / (n - p)))
    df = _nlme_df(X, codes)
    t = beta / se
    fixed_tab = pd.DataFrame(
        {"estimate": beta, "std_error": se, "df": df, "t": t, "p": 2 * stats.t.sf(np.abs(t), df)}, index=xnames
    )
    sd = np.sqrt(np.diag(psi))
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.where(np.eye(len(sd), dtype=bool), 1.0, psi / np.outer(sd, sd))
    ranef = pd.DataFrame(est["blup"] @ S.T, index=pd.Index(np.asarray(sm.group_labels), name=group), columns=znames)
    cond_var = sigma2 * np.einsum("ij,gjk,ik->gi", S, est["cond_cov"], S)
    fitted = pd.Series(
        X @ beta + np.einsum("ij,ij->i", Z, ranef.to_numpy()[codes]),
        index=index if index is not None else pd.RangeIndex(sm.nobs),
        name="fitted",
    )
    return check, LmeFit(
        fixed=fixed_tab,
        random_sd=pd.Series(np.append(sd, np.sqrt(sigma2)), index=[*znames, "Residual"], name="sd"),
        random_corr=pd.DataFrame(corr, index=znames, columns=znames),
        vcov=pd.DataFrame(cov, index=xnames, columns=xnames),
        ranef=ranef,
        ranef_cond_sd=pd.DataFrame(np.sqrt(np.maximum(cond_var, 0.0)), index=ranef.index, columns=znames),
        fitted=fitted,
        residuals=(y - fitted).rename("residuals"),
        loglik=loglik,
        aic=-2 * loglik + 2 * n_params,
        # nlme counts N - p observations for a REML likelihood.
        bic=-2 * loglik + np.log(n - p if reml else n) * n_params,
        n_params=n_params,
        nobs=n,
        ngroups=sm.n_groups,
        reml=reml,
        formula=(fixed, random, group),
        singular=_singularity(sd, corr, znames, np.sqrt(sigma2)) if model.singular(theta) else "",
    )


def _nlme_df(X: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Denominator df of each fixed coefficient by nlme's rule (one grouping level).

    A column that varies within at least one group is estimated from within-group
    contrasts: N - groups - (number of such columns). One constant within every
    group is a group-level column: groups - (their number) - 1 for the intercept.
    The intercept takes the larger of the two; nlme adds 1 to the within-group df
    when there is no intercept.
    """
    n, m = len(X), codes.max() + 1
    const = np.all(np.isclose(X, X[:1], rtol=np.sqrt(np.finfo(float).eps), atol=0), axis=0)
    if const.all():
        return np.full(X.shape[1], float(max(m, n - m)))
    lo = pd.DataFrame(X).groupby(codes).transform("min").to_numpy()
    hi = pd.DataFrame(X).groupby(codes).transform("max").to_numpy()
    inner = ~const & (hi > lo).any(axis=0)
    outer = ~const & ~inner
    between = m - outer.sum() - (1 if const.any() else 0)
    within = n - m - inner.sum() + (0 if const.any() else 1)
    return np.where(inner, within, np.where(outer, between, max(between, within))).astype(float)


# ----------------------------------------------------------------------------- printing


def _abbrev(term: str) -> str:
    return "(Intr)" if term == "(Intercept)" else term[:6]


def _table(frame: pd.DataFrame, index: bool = True) -> str:
    return frame.to_string(index=index, float_format=lambda v: f"{v:.7g}")
