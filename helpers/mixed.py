"""Linear mixed models reported the way R's ``nlme::lme`` reports them.

statsmodels' ``MixedLM`` can stop at a wrong optimum on this course's data
(uncentred covariates), reports variances divided by the residual variance, has
no AIC/BIC under REML, no likelihood-ratio table and no nlme degrees of freedom.
:func:`fit_lme` fits in a centred and scaled parametrisation, maps every number
back exactly, proves the optimum (gradient, Hessian, independent optimizers,
statsmodels' own log-likelihood at the same point) and raises
:class:`LmeConvergenceError` rather than return an unverified answer.
:func:`lrt` is ``anova(m1, m2)``, :func:`icc` the intra-class correlation.

Only one grouping level and an unstructured random-effects covariance
(nlme's default ``pdLogChol``) are supported.
"""

from __future__ import annotations

import ast
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import patsy
from scipy import optimize, stats
from statsmodels.regression.mixed_linear_model import MixedLM, MixedLMParams

__all__ = ["LmeFit", "LmeInputError", "LmeConvergenceError", "fit_lme", "lrt", "icc"]


class LmeInputError(ValueError):
    """The data or formulas cannot define the model; the message names the problem."""


class LmeConvergenceError(RuntimeError):
    """The optimum could not be verified, so no result is returned."""


@dataclass(frozen=True, repr=False)
class LmeFit:
    """A fitted model; fields named after what ``summary(lme)``, ``ranef``, ``fitted`` print."""

    fixed: pd.DataFrame  # estimate, std_error, df, t, p (summary(fit)$tTable)
    random_sd: pd.Series  # random-effect SDs and 'Residual' (VarCorr)
    random_corr: pd.DataFrame  # correlations of the random effects
    vcov: pd.DataFrame  # vcov(fit): under ML without summary's N / (N - p) adjustment
    ranef: pd.DataFrame  # BLUPs, one row per group (ranef(fit))
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
    checks: dict = field(default_factory=dict)  # how the optimum was verified
    converged: bool = True  # a fit that could not be verified raises instead

    @property
    def coef(self) -> pd.DataFrame:
        """Each group's own coefficients, fixed plus random, like ``coef(fit)``."""
        out = pd.DataFrame({t: np.full(self.ngroups, v) for t, v in self.fixed["estimate"].items()},
                           index=self.ranef.index)
        for term in self.ranef:
            out[term] = out.get(term, 0.0) + self.ranef[term]
        return out

    def summary(self) -> str:
        """Text laid out like R's ``print(summary(fit))``."""
        fixed, random, group = self.formula
        sd = self.random_sd
        lines = [f"Linear mixed-effects model fit by {'REML' if self.reml else 'maximum likelihood'}",
                 _table(pd.DataFrame({"AIC": [self.aic], "BIC": [self.bic], "logLik": [self.loglik]}), index=False),
                 "", "Random effects:", f" Formula: {random} | {group}"]
        if len(sd) > 2:
            lines.append(" Structure: General positive-definite, Log-Cholesky parametrization")
        block = pd.DataFrame({"StdDev": sd.map(lambda v: f"{v:.7g}")})
        corr = self.random_corr
        for j, term in enumerate(corr.columns[:-1]):
            block[_abbrev(term)] = [f"{corr.iloc[i, j]:.3f}" if j < i < len(corr) else "" for i in range(len(sd))]
        lines += [_table(block), "", f"Fixed effects:  {fixed}"]
        tab = self.fixed.rename(columns={"estimate": "Value", "std_error": "Std.Error", "df": "DF",
                                         "t": "t-value", "p": "p-value"})
        lines += [_table(tab.astype({"DF": int}))]
        if len(self.vcov) > 1:
            se = np.sqrt(np.diag(self.vcov))
            corr = pd.DataFrame(self.vcov.to_numpy() / np.outer(se, se), index=self.vcov.index,
                                columns=[_abbrev(c) for c in self.vcov.columns])
            lower = corr.where(np.tril(np.ones(corr.shape, bool), -1)).iloc[1:, :-1]
            lines += [" Correlation: ", lower.to_string(float_format=lambda v: f"{v:.3f}", na_rep="")]
        lines.append("")
        std_resid = self.residuals / sd["Residual"]
        quant = pd.DataFrame([np.quantile(std_resid, [0, 0.25, 0.5, 0.75, 1])], columns=["Min", "Q1", "Med", "Q3", "Max"])
        lines += ["Standardized Within-Group Residuals:", _table(quant, index=False), "",
                  f"Number of Observations: {self.nobs}", f"Number of Groups: {self.ngroups}"]
        return "\n".join(lines)

    __repr__ = summary


def fit_lme(data: pd.DataFrame, fixed: str, random: str, group: str, reml: bool = True) -> LmeFit:
    """Fit a linear mixed model; mirrors ``nlme::lme(fixed, random = random | group, data, method)``.

    ``fit_lme(d, "chol ~ age", "~ 1 + age", "doctor")`` is
    ``lme(chol ~ age, random = ~ 1 + age | doctor, data = d)``; ``reml=False`` is
    ``method = "ML"``. Raises :class:`LmeInputError` for bad input and
    :class:`LmeConvergenceError` when the optimum cannot be verified.
    """
    if not isinstance(reml, (bool, np.bool_)):
        raise LmeInputError(f"reml must be True (REML) or False (ML), not {reml!r}")
    y, X, Z, codes, labels = _design(data, fixed, random, group)
    # The optimizer works on centred, unit-SD columns Xc = X T and Zc = Z S, where the
    # likelihood surface is well scaled; beta = T beta_c, Psi = S Psi_c S' exactly.
    T, S = _standardiser(X.to_numpy()), _standardiser(Z.to_numpy())
    problem = _Profile(y, X.to_numpy() @ T, Z.to_numpy() @ S, codes, reml)
    # The REML likelihood holds -log|X'V^-1 X| / 2, which X -> X T shifts by -log|det T|.
    shift = np.linalg.slogdet(T)[1] if reml else 0.0
    theta, checks = _optimise(problem, loglik_shift=shift)
    loglik = -problem.deviance(theta) / 2 + shift
    beta_c, cov_c, sigma2, rel_cov_c, blup_c = problem.estimates(theta)
    beta, cov, psi = T @ beta_c, T @ cov_c @ T.T, sigma2 * (S @ rel_cov_c @ S.T)
    n, p = X.shape
    n_params = p + psi.shape[0] * (psi.shape[0] + 1) // 2 + 1
    xnames, znames = list(X.columns), list(Z.columns)

    # summary.lme (adjustSigma = TRUE) widens ML standard errors by sqrt(N / (N - p)); vcov() does not.
    se = np.sqrt(np.diag(cov) * (1.0 if reml else n / (n - p)))
    df = _nlme_df(X.to_numpy(), codes)
    t = beta / se
    fixed_tab = pd.DataFrame({"estimate": beta, "std_error": se, "df": df, "t": t,
                              "p": 2 * stats.t.sf(np.abs(t), df)}, index=xnames)
    sd = np.sqrt(np.diag(psi))
    ranef = pd.DataFrame(blup_c @ S.T, index=pd.Index(labels, name=group), columns=znames)
    fitted = pd.Series(X.to_numpy() @ beta + np.einsum("ij,ij->i", Z.to_numpy(), ranef.to_numpy()[codes]),
                       index=X.index, name="fitted")
    return LmeFit(
        fixed=fixed_tab,
        random_sd=pd.Series(np.append(sd, np.sqrt(sigma2)), index=[*znames, "Residual"], name="sd"),
        random_corr=pd.DataFrame(psi / np.outer(sd, sd), index=znames, columns=znames),
        vcov=pd.DataFrame(cov, index=xnames, columns=xnames),
        ranef=ranef, fitted=fitted, residuals=(y - fitted).rename("residuals"), loglik=loglik,
        aic=-2 * loglik + 2 * n_params,
        # nlme counts N - p observations for a REML likelihood.
        bic=-2 * loglik + np.log(n - p if reml else n) * n_params,
        n_params=n_params, nobs=n, ngroups=len(labels), reml=reml,
        formula=(fixed.strip(), random.strip(), group), checks=checks,
    )


def lrt(*fits: LmeFit, names: list[str] | None = None) -> pd.DataFrame:
    """Compare nested fits like ``anova(m1, m2, ...)`` in nlme: AIC, BIC, logLik and the LR test.

    Each row is tested against the row before it. REML fits with different fixed
    effects are refused: their REML likelihoods are of different data projections.
    """
    if len(fits) < 2:
        raise LmeInputError("lrt needs at least two fits to compare")
    if len({f.reml for f in fits}) > 1:
        raise LmeInputError("lrt: all fits must use the same method; refit them all with reml=False (ML)")
    if len({(f.nobs, f.formula[0].split("~")[0].strip()) for f in fits}) > 1:
        raise LmeInputError("lrt: the fits do not share the same response and observations")
    if fits[0].reml and len({frozenset(f.fixed.index) for f in fits}) > 1:
        raise LmeInputError(
            "lrt: REML fits with different fixed effects cannot be compared, because each REML "
            "likelihood is of a different linear transformation of the data; refit every model by "
            "maximum likelihood, fit_lme(..., reml=False), and compare those fits")
    n_params = np.array([f.n_params for f in fits])
    loglik = np.array([f.loglik for f in fits])
    # Like nlme, no test between neighbours with the same number of parameters.
    ddf = np.r_[0, np.abs(np.diff(n_params))]
    ratio = np.where(ddf > 0, np.r_[0, 2 * np.abs(np.diff(loglik))], np.nan)
    return pd.DataFrame(
        {"Model": np.arange(1, len(fits) + 1), "df": n_params, "AIC": [f.aic for f in fits],
         "BIC": [f.bic for f in fits], "logLik": loglik,
         "Test": ["" if k == 0 else f"{i} vs {i + 1}" for i, k in enumerate(ddf)],
         "L.Ratio": ratio, "p-value": stats.chi2.sf(ratio, np.maximum(ddf, 1))},
        index=names or [f"fit{i}" for i in range(1, len(fits) + 1)])


def icc(fit: LmeFit) -> float:
    """Intra-class correlation of a random-intercept fit, from ``VarCorr(fit)``:
    ``sd_(Intercept)^2 / (sd_(Intercept)^2 + sd_Residual^2)``."""
    terms = list(fit.random_sd.index[:-1])
    if terms != ["(Intercept)"]:
        raise LmeInputError(f"icc needs a random-intercept-only fit (random='~ 1'); this fit has random terms "
                            f"{terms}, whose share of variance changes with the covariates")
    between, residual = fit.random_sd.iloc[0] ** 2, fit.random_sd.iloc[1] ** 2
    return float(between / (between + residual))


# ----------------------------------------------------------------------------- design


def _design(data, fixed, random, group):
    if not isinstance(data, pd.DataFrame):
        raise LmeInputError(f"data must be a pandas DataFrame, not {type(data).__name__}")
    if "|" in random:
        raise LmeInputError(f"give the grouping column as group=..., and random without '|' (got {random!r})")
    if "~" not in fixed or not fixed.split("~")[0].strip():
        raise LmeInputError(f"fixed must be a two-sided formula such as 'chol ~ age' (got {fixed!r})")
    used = _variables(fixed) + _variables(random)
    for name in dict.fromkeys([*used, group]):
        if name not in data.columns:
            raise LmeInputError(f"unknown column {name!r}; the data has {list(data.columns)}")
    for name in dict.fromkeys([*used, group]):
        if data[name].isna().any():
            rows = data.index[data[name].isna()].tolist()[:5]
            raise LmeInputError(f"column {name!r} has missing values (rows {rows}); nlme would stop too (na.fail)")
    for name in dict.fromkeys(used):
        if not pd.api.types.is_numeric_dtype(data[name]):
            raise LmeInputError(f"column {name!r} is not numeric (dtype {data[name].dtype}); "
                                "encode it as numbers first")
    sizes = data[group].value_counts()
    if (sizes < 2).any():
        raise LmeInputError(f"group(s) {sorted(sizes.index[sizes < 2].tolist())} of {group!r} have a single row; "
                            "each group needs at least two observations")
    env = patsy.EvalEnvironment([{"np": np}])
    try:
        y, X = patsy.dmatrices(fixed, data, eval_env=env, NA_action="raise", return_type="dataframe")
        Z = patsy.dmatrix(random, data, eval_env=env, NA_action="raise", return_type="dataframe")
    except patsy.PatsyError as err:
        raise LmeInputError(f"cannot build the model from the formulas: {err}") from err
    if y.shape[1] != 1:
        raise LmeInputError(f"the response of {fixed!r} must be a single numeric column")
    X, Z = (_in_r_order(M).rename(columns={"Intercept": "(Intercept)"}) for M in (X, Z))
    if Z.shape[1] == 0:
        raise LmeInputError(f"random={random!r} has no random effects")
    if np.linalg.matrix_rank(X.to_numpy() @ _standardiser(X.to_numpy())) < X.shape[1]:
        raise LmeInputError(f"the fixed-effects columns {list(X.columns)} are linearly dependent")
    codes, labels = pd.factorize(data[group], sort=True)
    return y.iloc[:, 0].to_numpy(float), X, Z, codes, np.asarray(labels)


def _in_r_order(design: pd.DataFrame) -> pd.DataFrame:
    """Columns reordered as R orders terms: by interaction order, then as written."""
    slices = sorted(design.design_info.term_slices.items(), key=lambda item: len(item[0].factors))
    return design.iloc[:, [i for _, s in slices for i in range(s.start, s.stop)]]


def _variables(formula: str) -> list[str]:
    """Data columns a formula refers to (names that are not functions or modules)."""
    try:
        desc = patsy.ModelDesc.from_formula(formula)
    except patsy.PatsyError as err:
        raise LmeInputError(f"cannot read the formula {formula!r}: {err}") from err
    found = []
    for side in (desc.lhs_termlist, desc.rhs_termlist):
        for term in side:
            for factor in term.factors:
                tree = ast.parse(factor.code.strip(), mode="eval")
                skip = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
                skip |= {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
                found += [n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and id(n) not in skip]
    return found


def _standardiser(M: np.ndarray) -> np.ndarray:
    """T such that M @ T has unit-SD columns, centred too when M has a constant column."""
    T = np.eye(M.shape[1])
    spread = np.ptp(M, axis=0) > 0
    const = np.flatnonzero(~spread & (M[0] != 0))
    mean, sd = M.mean(axis=0), M.std(axis=0)
    for j in np.flatnonzero(spread):
        T[j, j] = 1 / sd[j]
        if const.size:
            T[const[0], j] = -mean[j] / sd[j] / M[0, const[0]]
    return T


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


# ----------------------------------------------------------------------------- likelihood


class _Profile:
    """-2 log-likelihood profiled over beta and sigma^2, and its gradient, in theta.

    theta is the log-Cholesky factor L of D, the random-effects covariance relative
    to sigma^2 (the idea of nlme's pdLogChol). Everything comes from per-group
    cross-products G_i = Z_i'Z_i and B_i = Z_i'[X y] through H_i = (I + G_i D)^-1, so
    an evaluation is a few batched small-matrix operations whatever the group sizes. With
    F_i = H_i B_i, [X y]'V^-1[X y] = [X y]'[X y] - sum B_i' D F_i (V relative to
    sigma^2) and its differential is -sum F_i' dD F_i, which gives the gradient.
    """

    def __init__(self, y, X, Z, codes, reml):
        self.X, self.Z, self.y, self.codes, self.reml = X, Z, y, codes, reml
        self.n, self.p = X.shape
        self.q = Z.shape[1]
        self.nu = self.n - self.p if reml else self.n
        W = np.column_stack([X, y])
        self.WtW = W.T @ W
        self.B = _group_sum(Z[:, :, None] * W[:, None, :], codes)
        self.G = _group_sum(Z[:, :, None] * Z[:, None, :], codes)
        self.rows = np.tril_indices(self.q)
        self.diag = self.rows[0] == self.rows[1]

    def factor(self, theta):
        L = np.zeros((self.q, self.q))
        L[self.rows] = np.where(self.diag, np.exp(theta), theta)
        return L

    def _parts(self, theta):
        L = self.factor(theta)
        D = L @ L.T
        IGD = np.eye(self.q) + self.G @ D
        H = np.linalg.inv(IGD)
        F = H @ self.B
        M = self.WtW - np.einsum("gia,ij,gjb->ab", self.B, D, F)
        p = self.p
        beta = np.linalg.solve(M[:p, :p], M[:p, p])
        rss = M[p, p] - M[p, :p] @ beta  # (y - X beta)' V^-1 (y - X beta)
        return L, D, H, F, M, beta, rss, np.linalg.slogdet(IGD)[1].sum()

    def deviance(self, theta, gradient=False):
        try:
            L, D, H, F, M, beta, rss, logdet = self._parts(theta)
        except np.linalg.LinAlgError:
            return (np.inf, np.zeros(len(theta))) if gradient else np.inf
        p, nu = self.p, self.nu
        dev = nu * (np.log(2 * np.pi * rss / nu) + 1) + logdet
        if self.reml:
            dev += np.linalg.slogdet(M[:p, :p])[1]
        if not gradient:
            return dev
        r = F @ np.append(-beta, 1.0)  # H_i Z_i'(y_i - X_i beta)
        # d dev = tr(Gamma dD); then dD = dL L' + L dL' gives d dev / dL = 2 sym(Gamma) L.
        gamma = np.einsum("gij,gjk->ik", H, self.G) - nu / rss * r.T @ r
        if self.reml:
            FX = F[:, :, :p]
            gamma -= np.einsum("gia,ab,gjb->ij", FX, np.linalg.inv(M[:p, :p]), FX)
        dL = (gamma + gamma.T) @ L
        return dev, np.where(self.diag, dL[self.rows] * L[self.rows], dL[self.rows])

    def estimates(self, theta):
        """beta, its covariance, sigma^2, the relative covariance D and the BLUPs D H_i Z_i'(y_i - X_i beta)."""
        L, D, H, F, M, beta, rss, _ = self._parts(theta)
        sigma2 = rss / self.nu
        blup = (F @ np.append(-beta, 1.0)) @ D
        return beta, sigma2 * np.linalg.inv(M[: self.p, : self.p]), sigma2, D, blup


def _group_sum(values: np.ndarray, codes: np.ndarray) -> np.ndarray:
    out = np.zeros((codes.max() + 1, *values.shape[1:]))
    np.add.at(out, codes, values)
    return out


# ----------------------------------------------------------------------------- optimum

_AGREE = 1e-5  # largest log-likelihood difference between optimizers that agree
_GRAD = 1e-3  # largest |d deviance / d theta| accepted at the optimum


def _optimise(problem: _Profile, loglik_shift: float) -> tuple[np.ndarray, dict]:
    """Minimise the deviance with independent optimizers, polish, and verify the optimum.

    The returned checks report log-likelihoods plus loglik_shift, i.e. on the user's scale."""
    diag = problem.diag

    def with_gradient(theta):
        return problem.deviance(theta, gradient=True)

    # Different algorithms from different starts; the third is a referee, run only
    # when the first two disagree. (L-BFGS-B is avoided: its per-iteration overhead
    # dwarfs these small problems when another process holds a core.)
    plans = [("BFGS", with_gradient, True, np.zeros(len(diag)), {"gtol": 1e-6}),
             ("SLSQP", with_gradient, True, np.where(diag, np.log(0.3), 0.0), {"ftol": 1e-13, "maxiter": 500}),
             ("Nelder-Mead", problem.deviance, None, np.where(diag, np.log(3.0), 0.0),
              {"xatol": 1e-7, "fatol": 1e-10, "maxiter": 2000 * len(diag)})]
    runs = {}
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for method, fun, jac, start, options in plans:
            runs[method] = optimize.minimize(fun, start, method=method, jac=jac, options=options)
            values = sorted(r.fun for r in runs.values())
            if len(values) >= 2 and values[1] - values[0] < 2 * _AGREE:
                break
        theta, grad, hess = _newton_polish(with_gradient, min(runs.values(), key=lambda r: r.fun).x)
    best = problem.deviance(theta)
    if not np.isfinite(best):
        raise LmeConvergenceError("the log-likelihood could not be evaluated at any optimizer's answer")
    checks = {"loglik_by_optimizer": {m: -float(r.fun) / 2 + loglik_shift for m, r in runs.items()},
              "max_abs_gradient": float(np.abs(grad).max()),
              "min_hessian_eigenvalue": float(np.linalg.eigvalsh(hess).min()) if np.isfinite(hess).all() else np.nan}
    checks["optimizers_agreeing"] = [m for m, r in runs.items() if (r.fun - best) / 2 < _AGREE]
    if not checks["min_hessian_eigenvalue"] > 1e-8 * max(1.0, np.abs(np.diag(hess)).max()):
        L = problem.factor(theta)
        hint = ("" if np.sqrt(np.diag(L @ L.T)).min() > 1e-3 else
                " A random effect's estimated variance is (nearly) zero, so the optimum is on the boundary "
                "of the parameter space; simplify the random part of the model.")
        raise LmeConvergenceError(f"could not verify the optimum: the Hessian of the deviance is not positive "
                                  f"definite (smallest eigenvalue {checks['min_hessian_eigenvalue']:.3g}).{hint}")
    if checks["max_abs_gradient"] > _GRAD:
        raise LmeConvergenceError(f"could not verify the optimum: gradient {checks['max_abs_gradient']:.3g} "
                                  f"exceeds {_GRAD}")
    if len(checks["optimizers_agreeing"]) < 2:
        raise LmeConvergenceError(f"could not verify the optimum: the optimizers disagree on the log-likelihood "
                                  f"({checks['loglik_by_optimizer']})")
    independent = _statsmodels_loglik(problem, theta)
    if not abs(independent + best / 2) < 1e-6 * max(1.0, abs(best)):
        raise LmeConvergenceError(f"statsmodels' MixedLM log-likelihood {independent} disagrees with ours "
                                  f"{-best / 2} at the optimum; please report this data set")
    checks["statsmodels_loglik"] = independent + loglik_shift
    return theta, checks


def _hessian(with_gradient, x, h=1e-5):
    """Central differences of the analytic gradient, symmetrised."""
    E = np.eye(len(x)) * h
    cols = [(with_gradient(x + e)[1] - with_gradient(x - e)[1]) / (2 * h) for e in E]
    hess = np.column_stack(cols)
    return (hess + hess.T) / 2


def _newton_polish(with_gradient, x, steps=4):
    """Newton steps from an optimizer's answer: cheap, and they settle the last digits.

    Returns the point with the gradient and Hessian there."""
    f, grad = with_gradient(x)
    hess = _hessian(with_gradient, x)
    for _ in range(steps):
        if np.abs(grad).max() < 1e-9:
            break
        try:
            candidate = x - np.linalg.solve(hess, grad)
        except np.linalg.LinAlgError:
            break
        f_new, grad_new = with_gradient(candidate)
        # Near the top f is flat to rounding, so accept a step that shrinks the gradient
        # unless f rises by more than rounding noise.
        if not (f_new <= f + 1e-12 * max(1.0, abs(f)) and np.abs(grad_new).max() < np.abs(grad).max()):
            break
        x, f, grad = candidate, f_new, grad_new
        hess = _hessian(with_gradient, x)
    return x, grad, hess


def _statsmodels_loglik(problem: _Profile, theta: np.ndarray) -> float:
    """statsmodels' MixedLM log-likelihood at our optimum: an independent implementation."""
    model = MixedLM(problem.y, problem.X, groups=problem.codes, exog_re=problem.Z)
    L = problem.factor(theta)
    params = MixedLMParams.from_components(fe_params=np.zeros(problem.p), cov_re=L @ L.T)
    # fit(do_cg=False) would do this but fails in statsmodels 0.15; set what fit() sets.
    model.reml, model.cov_pen, model.fe_pen, model._cov_sing = problem.reml, None, None, 0
    return float(model.loglike(params, profile_fe=True))


# ----------------------------------------------------------------------------- printing


def _abbrev(term: str) -> str:
    return "(Intr)" if term == "(Intercept)" else term[:6]


def _table(frame: pd.DataFrame, index: bool = True) -> str:
    return frame.to_string(index=index, float_format=lambda v: f"{v:.7g}")
