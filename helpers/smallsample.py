"""Small-sample degrees of freedom for the fixed effects of a linear mixed model.

statsmodels reports z-tests for a ``MixedLM`` fit, and nlme counts residual degrees of freedom by its grouping rule;
neither says how few GPs an estimate really rests on. :func:`satterthwaite` (as R's lmerTest computes it) and
:func:`kenward_roger` (as pbkrtest computes it, with its adjusted covariance of the fixed effects) take a REML
``MixedLMResults`` from ``smf.mixedlm`` and return one row per fixed effect: estimate, std_error, df, t, p, ci_low,
ci_high.

Both work in the covariance parameters psi of the marginal model ``V = sum_j psi_j dV/dpsi_j`` (random-effect
variances and covariances, variance components, residual variance), which is linear in psi:

- Satterthwaite: ``df = 2 (c' Phi c)^2 / (g' I^-1 g)``, with ``Phi`` the covariance of the fixed effects,
  ``g = d(c' Phi c)/d phi`` and ``I`` the observed REML information of phi = (theta, sigma^2), lme4's Cholesky
  parametrisation, in which lmerTest differentiates numerically.
- Kenward-Roger (1997): ``Phi`` inflated for the estimation of psi and the df from the expected REML information
  (their equations with no second derivatives of V, which is linear).

Supported: random intercepts, correlated random intercepts and slopes, and variance components (``vc_formula``,
e.g. classes nested in schools). The fit must be REML and at its optimum: :class:`SmallSampleError` says why not
otherwise.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import stats

from helpers.likelihood import (
    NOT_CONVERGED,
    LmeConvergenceError,
    Moments,
    ResponseProfile,
    mixedlm_design,
    mixedlm_of,
    optimise,
    semidefinite_cholesky,
)
from helpers.mixed import SingularFitWarning

__all__ = ["SmallSampleError", "satterthwaite", "kenward_roger", "kenward_roger_vcov", "covariance_parameters"]

# A variance below this share of the residual variance is on the boundary of the
# parameter space, where neither approximation is defined.
_BOUNDARY = 1e-6


class SmallSampleError(ValueError):
    """The fit cannot be given small-sample df; the message says why and what to do."""


def covariance_parameters(result) -> pd.Series:
    """The covariance parameters psi the df are computed in, with their estimates.

    Random-effect variances and covariances (``cov_re``), variance components
    (``vcomp``) and the residual variance, all on the data's scale.
    """
    moments, names, _ = _moments(result)
    return pd.Series(moments.values, index=names, name="estimate")


def satterthwaite(result, level: float = 0.95) -> pd.DataFrame:
    """Satterthwaite denominator df for each fixed effect, as ``summary(lmerTest::lmer(...))``.

    ``result`` is a REML fit of ``smf.mixedlm(...)``. The standard errors are the
    model's own; only the df (and so t's p-value and the interval) change. A variance
    estimated as 0 (a boundary fit, with a warning) takes no part, as in lmerTest; at a
    correlation of -1 or +1 (also with a warning) the df are lmerTest's, from the curvature
    in lme4's Cholesky factor, where that boundary is an inner point.
    """
    m, names, fe_names = _moments(result)
    # lmerTest differentiates in lme4's Cholesky factor, in which Phi is flat at a variance of 0:
    # such a variance drops out.
    free = _free(names, m.values)
    hessian, jacobian = _cholesky_coordinates(m)
    info_inv = _inverse(hessian[np.ix_(free, free)], "observed")
    return _table(fe_names, m.beta, np.sqrt(np.diag(m.phi)), _df(m, info_inv, jacobian[:, free]), level)


def kenward_roger(result, level: float = 0.95) -> pd.DataFrame:
    """Kenward-Roger df and adjusted standard errors, as ``pbkrtest::vcovAdj`` and ``get_Lb_ddf``.

    ``result`` is a REML fit of ``smf.mixedlm(...)``. ``std_error`` is from the
    adjusted covariance :func:`kenward_roger_vcov`; t, p and the interval use it
    with the KR df, as ``summary(lmer, ddf = "Kenward-Roger")`` in lmerTest. A variance
    estimated as 0 (a boundary fit, with a warning) stays in, as in pbkrtest.
    """
    m, _, fe_names = _moments(result)
    w = _inverse(m.expected, "expected")
    # For one coefficient (a contrast of one row, l = 1) Kenward and Roger's A1 and A2 are equal, A, so that
    # their g = -1, rho = (1 - A / 2) / (1 - 2 A) and df = 4 + 3 / (rho - 1) = 2 / A: Satterthwaite's df in
    # the expected information, with Phi unadjusted.
    df = _df(m, w, np.eye(len(w)))
    return _table(fe_names, m.beta, np.sqrt(np.diag(_kr_vcov(m, w))), df, level)


def kenward_roger_vcov(result) -> pd.DataFrame:
    """The Kenward-Roger adjusted covariance of the fixed effects (``pbkrtest::vcovAdj``)."""
    m, _, fe_names = _moments(result)
    return pd.DataFrame(_kr_vcov(m, _inverse(m.expected, "expected")), index=fe_names, columns=fe_names)


# ----------------------------------------------------------------------------- the two approximations


def _cholesky_coordinates(m: Moments) -> tuple[np.ndarray, np.ndarray]:
    """The Hessian of -log L_R in lmerTest's coordinates (theta, sigma^2), theta the Cholesky factor of the
    random effects' covariance relative to sigma^2, and the Jacobian d psi / d (theta, sigma^2).

    -d2 log L / d phi2 = J' I J - sum_k score_k d2 psi_k / d phi2, with I the observed information in psi.
    Inside the parameter space the score is 0 and this is I in other coordinates. At a correlation of
    -1 or +1 it is not: there the likelihood is stationary in theta (lme4's optimum) but not in psi."""
    d = len(m.values) - 1
    s = m.values[-1]
    i, j = m.places
    D = np.zeros((i.max(initial=-1) + 1,) * 2)
    D[i, j] = D[j, i] = m.values[:-1] / s
    L = semidefinite_cholesky(D)
    ii, ji, jj = (np.equal.outer(u, v).astype(float) for u, v in ((i, i), (j, i), (j, j)))
    jacobian = np.zeros((d + 1, d + 1))
    # psi_k = s (L L')_{i_k j_k}, theta_a = L_{i_a j_a}, residual = s
    jacobian[:d, :d] = s * (ii * L[np.ix_(j, j)] + ji * L[np.ix_(i, j)])
    jacobian[:d, d], jacobian[d, d] = D[i, j], 1.0
    second = np.zeros((d, d + 1, d + 1))
    second[:, :d, :d] = s * jj[None] * (ii[:, :, None] * ji[:, None, :] + ji[:, :, None] * ii[:, None, :])
    second[:, :d, d] = second[:, d, :d] = jacobian[:d, :d] / s
    hessian = jacobian.T @ m.observed @ jacobian - np.einsum("k,kab->ab", m.score[:d], second)
    return (hessian + hessian.T) / 2, jacobian


def _kr_vcov(m: Moments, w: np.ndarray) -> np.ndarray:
    """Phi + 2 Phi [sum_ij W_ij (Q_ij - B_i Phi B_j)] Phi, with W the inverse expected information."""
    inner = np.einsum("ij,ijab->ab", w, m.q - np.einsum("iab,bc,jcd->ijad", m.b, m.phi, m.b))
    inner = (inner + inner.T) / 2
    return m.phi + 2 * m.phi @ inner @ m.phi


def _df(m: Moments, cov: np.ndarray, jacobian: np.ndarray) -> np.ndarray:
    """Satterthwaite's df of each fixed effect, 2 Phi_jj^2 / Var(Phi_jj), the variance by the delta method in
    parameters of covariance ``cov`` and d psi / d them ``jacobian``: d Phi_jj / d psi_i = -(Phi B_i Phi)_jj,
    whose sign cancels."""
    grad = np.einsum("ja,iab,bj->ji", m.phi, m.b, m.phi) @ jacobian
    return 2 * np.diag(m.phi) ** 2 / np.einsum("ji,ik,jk->j", grad, cov, grad)


def _table(names, beta, se, df, level) -> pd.DataFrame:
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, got {level}")
    t = beta / se
    half = stats.t.ppf((1 + level) / 2, df) * se
    return pd.DataFrame(
        {
            "estimate": beta,
            "std_error": se,
            "df": df,
            "t": t,
            "p": 2 * stats.t.sf(np.abs(t), df),
            "ci_low": beta - half,
            "ci_high": beta + half,
        },
        index=pd.Index(names),
    )


def _inverse(info: np.ndarray, kind: str) -> np.ndarray:
    eigenvalues = np.linalg.eigvalsh(info)
    if not eigenvalues.min() > 1e-10 * max(1.0, eigenvalues.max()):
        raise SmallSampleError(
            f"the {kind} information of the covariance parameters is singular: the model "
            "cannot estimate all its variances from these data; simplify its random part"
        )
    return np.linalg.inv(info)


# ----------------------------------------------------------------------------- the model's pieces


def _moments(result) -> tuple[Moments, list[str], list[str]]:
    """The moments at the REML optimum, which the engine (helpers.likelihood) reaches and verifies, and the names of
    the covariance parameters and of the fixed effects.

    statsmodels stops its optimizer while a variance can still be ~1e-4 (relative) from the optimum, which moves the
    df by as much; R's lmerTest and pbkrtest, run to convergence, agree with the verified optimum."""
    model = mixedlm_of(result, SmallSampleError)
    if not model.reml:
        raise SmallSampleError("small-sample df are defined for REML fits: refit with .fit(reml=True)")
    if model.k_fe == 0:
        raise SmallSampleError("the model has no fixed effects to test")
    y, X, Z, codes, components = mixedlm_design(model)
    problem = ResponseProfile(y, X, Z, codes, True, components)
    try:
        theta = optimise(problem)
    except LmeConvergenceError as err:
        raise SmallSampleError(f"the REML optimum could not be reached: {err}") from err
    # psi's names: random-effect variances and covariances, variance components, the residual variance
    re_names = list(model.data.exog_re_names) if model.k_re else []
    names = [
        f"Var({re_names[i]})" if i == j else f"Cov({re_names[j]}, {re_names[i]})"
        for i in range(model.k_re)
        for j in range(i + 1)
    ]
    names += [f"Var({n})" for n in model.exog_vc.names] + ["Residual"]
    values = problem.covariances(theta)
    free = _free(names, values, _BOUNDARY * values[-1])
    m, loglik = problem.moments(np.where(free, values, 0.0))
    # A variance held at 0 must carry no covariance; the fit is then a boundary (singular) one, reported with a
    # warning as lme4 reports it, as is one whose random effects are perfectly correlated.
    zero = [name for name, f in zip(names, free) if not f]
    tied = [n for n in zero if any(c.startswith("Cov(") and n[4:-1] in c[4:-1].split(", ") for c in names)]
    if tied:
        raise SmallSampleError(
            f"{', '.join(tied)} is estimated as (nearly) zero while correlated with "
            "another random effect: these df are not defined there; drop that random effect"
        )
    correlated = free.all() and problem.singular(theta)
    if correlated or zero:
        why = (
            "the random effects are perfectly correlated (a correlation of -1 or +1), so the data hold less "
            "variation between groups than the random part describes"
            if correlated
            else f"{', '.join(zero)} is estimated as 0, so the data hold no variation of that kind beyond the residual"
        )
        message = f"boundary (singular) fit: {why}; the df are those of the fit on the boundary"
        warnings.warn(message, SingularFitWarning, stacklevel=3)
    gain = loglik - result.llf
    if gain > NOT_CONVERGED:
        raise SmallSampleError(
            f"the fit is {gain:.3g} below the REML optimum of its log-likelihood: it did not "
            "converge. Centre (and scale) the covariates and refit, or try another "
            ".fit(method=...)"
        )
    return m, names, list(model.exog_names[: model.k_fe])


def _free(names, values, zero: float = 0.0) -> np.ndarray:
    """Which covariance parameters are free: all but the variances at (or below) ``zero``."""
    return np.array([not (name.startswith("Var") and v <= zero) for name, v in zip(names, values)])
