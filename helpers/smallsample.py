"""Small-sample degrees of freedom for the fixed effects of a linear mixed model.

statsmodels reports z-tests for a ``MixedLM`` fit, and nlme counts residual
degrees of freedom by its grouping rule; neither says how few GPs an estimate
really rests on. :func:`satterthwaite` (as R's lmerTest computes it) and
:func:`kenward_roger` (as pbkrtest computes it, with its adjusted covariance of
the fixed effects) take a REML ``MixedLMResults`` from ``smf.mixedlm`` and return
one row per fixed effect: estimate, std_error, df, t, p, ci_low, ci_high.

Both work in the covariance parameters psi of the marginal model
``V = sum_j psi_j dV/dpsi_j`` (random-effect variances and covariances, variance
components, residual variance), which is linear in psi:

- Satterthwaite: ``df = 2 (c' Phi c)^2 / (g' I^-1 g)``, with ``Phi`` the covariance
  of the fixed effects, ``g = d(c' Phi c)/d psi`` and ``I`` the observed REML
  information of psi (the curvature lmerTest differentiates numerically; at the
  optimum it is the same in any parametrisation).
- Kenward-Roger (1997): ``Phi`` inflated for the estimation of psi and the
  df from the expected REML information (their equations with no second
  derivatives of V, which is linear).

Supported: random intercepts, correlated random intercepts and slopes, and
variance components (``vc_formula``, e.g. classes nested in schools). The fit
must be REML and at its optimum: :class:`SmallSampleError` says why not otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse, stats

__all__ = ["SmallSampleError", "satterthwaite", "kenward_roger", "kenward_roger_vcov", "covariance_parameters"]

# Newton steps from the fit to the REML optimum: stop when the decrement s' I^-1 s (about
# twice the log-likelihood still to gain) is below _CONVERGED; refuse a fit more than
# _MAX_GAIN below the optimum, which did not converge and should be refitted.
_NEWTON_STEPS = 50
_CONVERGED = 1e-16
_MAX_GAIN = 1e-2
# A variance below this share of the residual variance is on the boundary of the
# parameter space, where neither approximation is defined.
_BOUNDARY = 1e-6
_COLUMNS = ["estimate", "std_error", "df", "t", "p", "ci_low", "ci_high"]


class SmallSampleError(ValueError):
    """The fit cannot be given small-sample df; the message says why and what to do."""


@dataclass(frozen=True)
class _Moments:
    """What both approximations need, summed over the independent groups."""

    names: list[str]  # the covariance parameters psi
    values: np.ndarray
    fe_names: list[str]
    beta: np.ndarray
    phi: np.ndarray  # (X' V^-1 X)^-1, the covariance of beta
    b: np.ndarray  # B_i = X' V^-1 V_i V^-1 X, so that d Phi / d psi_i = Phi B_i Phi
    q: np.ndarray  # Q_ij = X' V^-1 V_i V^-1 V_j V^-1 X
    expected: np.ndarray  # expected REML information of psi
    observed: np.ndarray  # observed REML information of psi
    score: np.ndarray  # gradient of the REML log-likelihood in psi


def covariance_parameters(result) -> pd.Series:
    """The covariance parameters psi the df are computed in, with their estimates.

    Random-effect variances and covariances (``cov_re``), variance components
    (``vcomp``) and the residual variance, all on the data's scale.
    """
    moments = _moments(result)
    return pd.Series(moments.values, index=moments.names, name="estimate")


def satterthwaite(result, level: float = 0.95) -> pd.DataFrame:
    """Satterthwaite denominator df for each fixed effect, as ``summary(lmerTest::lmer(...))``.

    ``result`` is a REML fit of ``smf.mixedlm(...)``. The standard errors are the
    model's own; only the df (and so t's p-value and the interval) change.
    """
    m = _moments(result)
    info_inv = _inverse(m.observed, "observed")
    var = np.diag(m.phi)
    grad = np.einsum("ja,iab,bj->ji", m.phi, m.b, m.phi)  # d Phi_jj / d psi_i, one row per coefficient
    df = 2 * var**2 / np.einsum("ji,ik,jk->j", grad, info_inv, grad)
    return _table(m.fe_names, m.beta, np.sqrt(var), df, level)


def kenward_roger(result, level: float = 0.95) -> pd.DataFrame:
    """Kenward-Roger df and adjusted standard errors, as ``pbkrtest::vcovAdj`` and ``get_Lb_ddf``.

    ``result`` is a REML fit of ``smf.mixedlm(...)``. ``std_error`` is from the
    adjusted covariance :func:`kenward_roger_vcov`; t, p and the interval use it
    with the KR df, as ``summary(lmer, ddf = "Kenward-Roger")`` in lmerTest.
    """
    m = _moments(result)
    adjusted = _kr_vcov(m)
    w = _inverse(m.expected, "expected")
    df = np.array([_kr_ddf(np.eye(len(m.beta))[[j]], m.phi, m.b, w) for j in range(len(m.beta))])
    return _table(m.fe_names, m.beta, np.sqrt(np.diag(adjusted)), df, level)


def kenward_roger_vcov(result) -> pd.DataFrame:
    """The Kenward-Roger adjusted covariance of the fixed effects (``pbkrtest::vcovAdj``)."""
    m = _moments(result)
    return pd.DataFrame(_kr_vcov(m), index=m.fe_names, columns=m.fe_names)



# ----------------------------------------------------------------------------- the two approximations


def _kr_vcov(m: _Moments) -> np.ndarray:
    """Phi + 2 Phi [sum_ij W_ij (Q_ij - B_i Phi B_j)] Phi, with W the inverse expected information."""
    w = _inverse(m.expected, "expected")
    inner = np.einsum("ij,ijab->ab", w, m.q - np.einsum("iab,bc,jcd->ijad", m.b, m.phi, m.b))
    inner = (inner + inner.T) / 2
    return m.phi + 2 * m.phi @ inner @ m.phi


def _kr_ddf(contrast: np.ndarray, phi: np.ndarray, b: np.ndarray, w: np.ndarray) -> float:
    """Kenward and Roger's denominator df of the F test of ``contrast @ beta = 0`` (l rows)."""
    l = contrast.shape[0]  # noqa: E741 (Kenward and Roger's notation)
    theta = contrast.T @ np.linalg.solve(contrast @ phi @ contrast.T, contrast)
    # u_i = Theta Phi P_i Phi with P_i = -B_i; the signs cancel in A1 and A2.
    u = np.einsum("ab,bc,icd,de->iae", theta, phi, b, phi)
    traces = np.einsum("iaa->i", u)
    a1 = traces @ w @ traces
    a2 = np.einsum("ij,iab,jba->", w, u, u)
    big_b = (a1 + 6 * a2) / (2 * l)
    g = ((l + 1) * a1 - (l + 4) * a2) / ((l + 2) * a2)
    denom = 3 * l + 2 * (1 - g)
    c1, c2, c3 = g / denom, (l - g) / denom, (l + 2 - g) / denom
    e_star = 1 / (1 - a2 / l)
    v_star = (2 / l) * (1 + c1 * big_b) / ((1 - c2 * big_b) ** 2 * (1 - c3 * big_b))
    rho = v_star / (2 * e_star**2)
    return 4 + (l + 2) / (l * rho - 1)


def _table(names, beta, se, df, level) -> pd.DataFrame:
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, got {level}")
    t = beta / se
    half = stats.t.ppf((1 + level) / 2, df) * se
    return pd.DataFrame({"estimate": beta, "std_error": se, "df": df, "t": t, "p": 2 * stats.t.sf(np.abs(t), df),
                         "ci_low": beta - half, "ci_high": beta + half}, index=pd.Index(names), columns=_COLUMNS)


def _inverse(info: np.ndarray, kind: str) -> np.ndarray:
    eigenvalues = np.linalg.eigvalsh(info)
    if not eigenvalues.min() > 1e-10 * max(1.0, eigenvalues.max()):
        raise SmallSampleError(f"the {kind} information of the covariance parameters is singular: the model "
                               "cannot estimate all its variances from these data; simplify its random part")
    return np.linalg.inv(info)


# ----------------------------------------------------------------------------- the model's pieces


def _moments(result) -> _Moments:
    """The moments at the REML optimum, reached from the fit's estimate by Newton steps in psi.

    statsmodels stops its optimizer while a variance can still be ~1e-4 (relative) from
    the optimum, which moves the df by as much; R's lmerTest and pbkrtest, run to
    convergence, agree with the polished optimum."""
    model = _check_result(result)
    names, values, derivatives = _parameters(result)
    design = [(model.exog_li[g], model.endog_li[g], derivatives[g]) for g in range(model.n_groups)]
    m, loglik = _moments_at(values, design)
    for _ in range(_NEWTON_STEPS):
        try:
            step = np.linalg.solve(m.observed, m.score)
        except np.linalg.LinAlgError:
            step = np.full_like(m.score, np.nan)
        if not (np.isfinite(step).all() and m.score @ step > 0):
            step = np.linalg.solve(m.expected, m.score)  # Fisher scoring where the surface is not concave
        if abs(m.score @ step) < _CONVERGED:
            break
        for _halving in range(30):
            trial = m.values + step
            if _variances_positive(names, trial):
                new, new_loglik = _moments_at(trial, design)
                if new_loglik >= loglik - 1e-10 * abs(loglik):
                    m, loglik = new, new_loglik
                    break
            step = step / 2
        else:
            raise SmallSampleError("the REML optimum could not be reached from this fit; refit it "
                                   "(centred covariates, another method=...) and try again")
    else:
        raise SmallSampleError("the REML optimum could not be reached from this fit within "
                               f"{_NEWTON_STEPS} Newton steps; refit it and try again")
    _check_boundary(names, m.values, m.values[-1])
    gain = loglik - result.llf
    if gain > _MAX_GAIN:
        raise SmallSampleError(f"the fit is {gain:.3g} below the REML optimum of its log-likelihood: it did not "
                               "converge. Centre (and scale) the covariates and refit, or try another "
                               ".fit(method=...)")
    return _Moments(**{**m.__dict__, "names": names, "fe_names": list(model.exog_names[: model.k_fe])})


def _moments_at(values: np.ndarray, design) -> tuple[_Moments, float]:
    """Moments and the REML log-likelihood at psi = values."""
    p, k = design[0][0].shape[1], len(values)
    a, b, q = np.zeros((p, p)), np.zeros((k, p, p)), np.zeros((k, k, p, p))
    traces, products = np.zeros(k), np.zeros((k, k))
    # With w = V^-1 r: the quadratic forms r'V^-1 V_i V^-1 r (in the score) and, for the
    # observed information, w'V_i V^-1 V_j w and X'V^-1 V_i w.
    quad, cross, xv_dw = np.zeros(k), np.zeros((k, k)), np.zeros((k, p))
    xty, logdet, n = np.zeros(p), 0.0, 0
    per_group = []
    for x, y, dv in design:
        v = np.einsum("i,iab->ab", values, dv)
        v_inv = np.linalg.inv(v)
        logdet += np.linalg.slogdet(v)[1]
        n += len(y)
        xv = v_inv @ x  # V^-1 X
        a += x.T @ xv
        xty += xv.T @ y
        per_group.append((x, y, v_inv, xv, dv))
    phi = np.linalg.inv(a)
    beta = phi @ xty
    rss = 0.0
    for x, y, v_inv, xv, dv in per_group:
        e = np.einsum("ab,ibc->iac", v_inv, dv)  # V^-1 V_i
        dxv = np.einsum("iab,bc->iac", dv, xv)  # V_i V^-1 X
        b += np.einsum("ab,ibc->iac", xv.T, dxv)
        q += np.einsum("iab,jbc->ijac", np.einsum("ab,ibc->iac", xv.T, e.transpose(0, 2, 1)), dxv)
        traces += np.einsum("iaa->i", e)
        products += np.einsum("iab,jba->ij", e, e)
        r = y - x @ beta
        w = v_inv @ r
        rss += r @ w
        dw = np.einsum("iab,b->ia", dv, w)  # V_i w
        quad += dw @ w
        cross += dw @ v_inv @ dw.T
        xv_dw += dw @ xv
    loglik = -0.5 * (logdet + np.linalg.slogdet(a)[1] + rss + (n - p) * np.log(2 * np.pi))
    tr_pv = traces - np.einsum("ab,iba->i", phi, b)
    expected = 0.5 * (products - 2 * np.einsum("ab,ijba->ij", phi, q)
                      + np.einsum("ab,ibc,cd,jda->ij", phi, b, phi, b))
    observed = (cross - xv_dw @ phi @ xv_dw.T) - expected
    moments = _Moments(names=[], values=values, fe_names=[], beta=beta, phi=phi, b=b, q=q,
                       expected=(expected + expected.T) / 2, observed=(observed + observed.T) / 2,
                       score=-0.5 * (tr_pv - quad))
    return moments, loglik


def _check_result(result):
    model = getattr(result, "model", None)
    if type(model).__name__ != "MixedLM" or not hasattr(result, "cov_re"):
        raise SmallSampleError(f"expected a fitted statsmodels MixedLM (smf.mixedlm(...).fit()), "
                               f"got {type(result).__name__}")
    if not model.reml:
        raise SmallSampleError("small-sample df are defined for REML fits: refit with .fit(reml=True)")
    if model.k_fe == 0:
        raise SmallSampleError("the model has no fixed effects to test")
    if getattr(result, "cov_pen", None) is not None or getattr(model, "fe_pen", None) is not None:
        raise SmallSampleError("penalised fits are not supported")
    return model


def _parameters(result):
    """psi's names, its estimate, and for each group the matrices dV_g/dpsi (k x n_g x n_g)."""
    model = result.model
    cov_re, vcomp, scale = np.atleast_2d(result.cov_re), np.asarray(result.vcomp), float(result.scale)
    re_names = list(model.data.exog_re_names) if model.k_re else []
    free = getattr(result, "freepat", None)
    pairs = [(i, j) for i in range(model.k_re) for j in range(i + 1)
             if free is None or free.cov_re[i, j] != 0]
    vc_names = list(model.exog_vc.names)
    names = [f"Var({re_names[i]})" if i == j else f"Cov({re_names[j]}, {re_names[i]})" for i, j in pairs]
    names += [f"Var({n})" for n in vc_names] + ["Residual"]
    values = np.array([cov_re[i, j] for i, j in pairs] + list(vcomp) + [scale])
    _check_boundary(names, values, scale)
    derivatives = []
    for g in range(model.n_groups):
        n_g = len(model.endog_li[g])
        mats = []
        if model.k_re:
            z = model.exog_re_li[g]
            for i, j in pairs:
                outer = np.outer(z[:, i], z[:, j])
                mats.append(outer if i == j else outer + outer.T)
        for c in range(len(vc_names)):
            z = model.exog_vc.mats[c][g]
            z = z.toarray() if sparse.issparse(z) else np.asarray(z)
            mats.append(z @ z.T)
        mats.append(np.eye(n_g))
        derivatives.append(np.array(mats))
    return names, values, derivatives


def _variances_positive(names, values) -> bool:
    return all(v > 0 for name, v in zip(names, values) if not name.startswith("Cov"))


def _check_boundary(names, values, scale) -> None:
    low = [n for n, v in zip(names, values) if n.startswith("Var") and v < _BOUNDARY * scale]
    if low:
        raise SmallSampleError(f"{', '.join(low)} is estimated as (nearly) zero: the fit is on the boundary of the "
                               "parameter space, where these df are not defined; drop that random effect")
