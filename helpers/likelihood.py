"""The one likelihood under :mod:`helpers.mixed`, :mod:`helpers.boundary`, :mod:`helpers.smallsample`,
:mod:`helpers.profile` and :mod:`helpers.nested`.

The model is ``y = X beta + Z_g u_g + e`` with one grouping factor g, ``u_g ~ N(0, sigma^2 D)`` and
``e ~ N(0, sigma^2 I)``. :class:`Profile` gives ``-2 log L`` (REML or ML) profiled over beta and
sigma^2 (or at a given sigma^2), and its gradient, in theta: the lower triangle, row by row, of the Cholesky factor L of
``D = L L'`` (lme4's parametrisation, in which a boundary fit, a variance of 0 or a correlation of
-1 or +1, is an ordinary point with a zero on the diagonal of L). Variance components nested in g
(statsmodels' vc_formula, e.g. classes within a school) are further columns of Z_g with a diagonal
block of D each, ``s_c I``, whose theta is sqrt(s_c). Many responses are handled at
once: each enters only through its sums ``X'y``, ``Z_g'y_g`` and ``y'y``, so a bootstrap reuses the
design. X is standardised inside (centred, unit-SD columns), which the estimates map back exactly;
Z is used as given, so a caller chooses its scale and maps D back itself.

Everything comes from per-group cross-products ``G_g = Z_g'Z_g`` and ``B_g = Z_g'[X y]`` through
``H_g = (I + G_g D)^-1``: with ``F_g = H_g B_g``, ``[X y]'V^-1[X y] = [X y]'[X y] - sum B_g' D F_g``
(V relative to sigma^2), whose differential ``-sum F_g' dD F_g`` gives the gradient.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse


def standardiser(M: np.ndarray) -> np.ndarray:
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


def mixedlm_of(result, error: type[Exception]):
    """The model of a fitted statsmodels MixedLM; ``error`` for anything else, or a penalised or constrained fit."""
    model = getattr(result, "model", None)
    if type(model).__name__ != "MixedLM" or not hasattr(result, "cov_re"):
        raise error(f"expected a fitted statsmodels MixedLM (smf.mixedlm(...).fit()), got {type(result).__name__}")
    if any(
        getattr(x, name, None) is not None for x, name in ((result, "cov_pen"), (model, "fe_pen"), (result, "freepat"))
    ):
        raise error("penalised or constrained (free=...) fits are not supported")
    return model


def mixedlm_design(model) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[int]]:
    """A statsmodels MixedLM as the engine takes it: y, X, Z, group codes and the components' column counts.

    Z holds the random-effect columns (re_formula), then each variance component's (vc_formula): a group's own
    in the first of them, zero beyond."""
    mats = [
        [z.toarray() if sparse.issparse(z) else np.asarray(z, float) for z in per_group]
        for per_group in model.exog_vc.mats
    ]
    components = [max(z.shape[1] for z in per_group) for per_group in mats]
    Z = np.zeros((model.nobs, model.k_re + sum(components)))
    if model.k_re:
        Z[:, : model.k_re] = model.exog_re
    first = model.k_re + np.cumsum([0, *components])
    codes = np.empty(model.nobs, dtype=int)  # each observation's group, numbered in group_labels' order
    for g, label in enumerate(model.group_labels):
        codes[model.row_indices[label]] = g
        for c, per_group in enumerate(mats):
            Z[np.ix_(model.row_indices[label], first[c] + np.arange(per_group[g].shape[1]))] = per_group[g]
    return np.asarray(model.endog, float), np.asarray(model.exog, float), Z, codes, components


class Profile:
    """The profiled deviance of y = X beta + Z_g u_g + e for a stack of responses; see the module."""

    def __init__(self, X: np.ndarray, Z: np.ndarray, codes: np.ndarray, reml: bool, components=()):
        """``components``: the numbers of columns of variance components (statsmodels' vc_formula) at the end
        of Z, each with one variance s_c, so that D = blockdiag(L_re L_re', s_1 I, s_2 I, ...)."""
        self.X, self.Z, self.codes, self.reml = X, Z, codes, reml
        self.n, self.p = X.shape
        self.q = Z.shape[1]
        self.k = int(codes.max()) + 1
        self.nu = self.n - self.p if reml else self.n
        self.T = standardiser(X)
        # The REML deviance holds log|X'V^-1 X|, which X -> X T shifts by 2 log|det T|.
        self.shift = -2 * np.linalg.slogdet(self.T)[1] if reml else 0.0
        self.Xs = X @ self.T
        self.XtX = self.Xs.T @ self.Xs
        # Z as an n x (groups * q) block matrix turns Y @ blocks into every Z_g'y_g, and gives Z_g'Z_g and Z_g'X.
        self.blocks = (np.eye(self.k)[codes][:, :, None] * Z[:, None, :]).reshape(self.n, self.k * self.q)
        self.G = (self.blocks.T @ Z).reshape(self.k, self.q, self.q)
        self.ZtX = (self.blocks.T @ self.Xs).reshape(self.k, self.q, self.p)
        q_re = self.q - sum(components)
        first = q_re + np.cumsum([0, *components])[:-1].astype(int)
        # theta's entries: L_re's lower triangle, then each component's sqrt(s_c), placed on its whole block.
        rows, cols = np.tril_indices(q_re)
        self.rows, self.cols = np.r_[rows, first], np.r_[cols, first]
        self.diag = self.rows == self.cols
        self.d = len(self.rows)
        owner = np.r_[np.arange(len(rows)), np.repeat(np.arange(len(rows), self.d), components)]
        self.places = np.r_[rows, np.arange(q_re, self.q)], np.r_[cols, np.arange(q_re, self.q)]
        self.spread = np.eye(self.d)[owner]  # theta @ spread.T: the entries of L at places

    def covariance_derivatives(self, z: np.ndarray) -> np.ndarray:
        """dV/dpsi of one group, whose rows of Z (or of Z on another scale) are z, for psi = (sigma^2 D at
        theta's places, sigma^2): z E z' for E = dD/dpsi, 1 at psi's places in L and their mirror images."""
        E = np.zeros((self.d, self.q, self.q))
        E[:, self.places[0], self.places[1]] = E[:, self.places[1], self.places[0]] = self.spread.T
        return np.concatenate([z @ E @ z.T, np.eye(len(z))[None]])

    def statistics(self, Y: np.ndarray) -> tuple:
        """The sums of a (m, n) array of responses that the likelihood needs."""
        return Y @ self.Xs, (Y @ self.blocks).reshape(len(Y), self.k, self.q), np.einsum("bn,bn->b", Y, Y)

    def factor(self, theta: np.ndarray) -> np.ndarray:
        L = np.zeros((*theta.shape[:-1], self.q, self.q))
        L[..., self.places[0], self.places[1]] = theta @ self.spread.T
        return L

    def _parts(self, theta, stats, idx):
        xty, zty, yty = (s[idx] for s in stats)
        m, p = len(idx), self.p
        L = self.factor(theta)
        D = L @ np.swapaxes(L, -1, -2)
        H, logdet = _inverse_and_logdet(np.eye(self.q) + self.G[None] @ D[:, None])
        B = np.concatenate([np.broadcast_to(self.ZtX, (m, *self.ZtX.shape)), zty[..., None]], axis=-1)
        F = H @ B
        W = np.empty((m, p + 1, p + 1))
        W[:, :p, :p], W[:, :p, p], W[:, p, :p], W[:, p, p] = self.XtX, xty, xty, yty
        M = W - np.einsum("mgia,mgib->mab", B, D[:, None] @ F)
        beta = np.linalg.solve(M[:, :p, :p], M[:, :p, p][..., None])[..., 0]
        rss = M[:, p, p] - np.einsum("mp,mp->m", M[:, p, :p], beta)  # (y - X beta)' V^-1 (y - X beta)
        return L, D, H, F, M, beta, rss, logdet

    def deviance(self, theta: np.ndarray, stats: tuple, idx: np.ndarray, gradient: bool = False, sigma2=None):
        """-2 log L at theta (m, d) for the responses idx (m,); with gradient=True also d/dtheta (m, d).

        With ``sigma2`` ((m,) or scalar), -2 log L at that residual variance, not profiled over it (no gradient)."""
        with np.errstate(all="ignore"):
            try:
                L, D, H, F, M, beta, rss, logdet = self._parts(theta, stats, idx)
            except np.linalg.LinAlgError:
                infinite = np.full(len(idx), np.inf)
                return (infinite, np.zeros_like(theta)) if gradient else infinite
            p, nu = self.p, self.nu
            if sigma2 is None:
                dev = nu * (1 + np.log(2 * np.pi * rss / nu)) + logdet
            else:
                dev = nu * np.log(2 * np.pi * sigma2) + rss / sigma2 + logdet
            if self.reml:
                dev = dev + np.linalg.slogdet(M[:, :p, :p])[1] + self.shift
            dev = np.where(np.isfinite(dev), dev, np.inf)
            if not gradient:
                return dev
            r = (F @ np.append(-beta, np.ones((len(idx), 1)), axis=1)[:, None, :, None])[..., 0]  # H_g Z_g'(y - X b)
            # d dev = tr(Gamma dD); then dD = dL L' + L dL' gives d dev / dL = 2 sym(Gamma) L.
            gamma = np.einsum("mgij,gjk->mik", H, self.G) - (nu / rss)[:, None, None] * np.einsum("mgi,mgj->mij", r, r)
            if self.reml:
                FX = F[..., :p]
                gamma -= np.einsum("mgia,mab,mgjb->mij", FX, np.linalg.inv(M[:, :p, :p]), FX)
            dL = (gamma + np.swapaxes(gamma, -1, -2)) @ L
            return dev, dL[:, self.places[0], self.places[1]] @ self.spread

    def estimates(self, theta: np.ndarray, stats: tuple, idx: np.ndarray) -> dict:
        """At theta (m, d): beta and its covariance on X's scale, sigma^2, D, the BLUPs D H_g Z_g'(y_g - X_g beta)
        and their covariances given beta relative to sigma^2, (D^-1 + G_g)^-1 = D H_g."""
        L, D, H, F, M, beta, rss, _ = self._parts(theta, stats, idx)
        sigma2 = rss / self.nu
        r = (F @ np.append(-beta, np.ones((len(idx), 1)), axis=1)[:, None, :, None])[..., 0]
        cov = sigma2[:, None, None] * (self.T @ np.linalg.inv(M[:, : self.p, : self.p]) @ self.T.T)
        return {
            "beta": beta @ self.T.T,
            "cov_beta": cov,
            "sigma2": sigma2,
            "D": D,
            "blup": np.einsum("mgi,mji->mgj", r, D),
            "cond_cov": D[:, None] @ H,
        }


@dataclass(frozen=True)
class Moments:
    """What Satterthwaite and Kenward-Roger need (helpers.smallsample), summed over the independent groups."""

    values: np.ndarray  # the covariance parameters psi
    beta: np.ndarray
    phi: np.ndarray  # (X' V^-1 X)^-1, the covariance of beta
    b: np.ndarray  # B_i = X' V^-1 V_i V^-1 X, so that d Phi / d psi_i = Phi B_i Phi
    q: np.ndarray  # Q_ij = X' V^-1 V_i V^-1 V_j V^-1 X
    expected: np.ndarray  # expected REML information of psi
    observed: np.ndarray  # observed REML information of psi
    score: np.ndarray  # gradient of the REML log-likelihood in psi
    places: np.ndarray  # (row, col) of each covariance but the residual in D = L L' (and theta in L)


# ----------------------------------------------------------------------------- one response, verified


class LmeConvergenceError(RuntimeError):
    """The optimum could not be verified, so no result is returned."""


SINGULAR = 1e-4  # lme4's isSingular tolerance on the diagonal of the relative Cholesky factor
_BOUNDARY = (
    " The optimum is on the boundary of the parameter space (a random-effect variance estimated as 0, "
    "or a correlation of -1 or +1: a boundary (singular) fit)."
)


class ResponseProfile:
    """The engine's profile of one response, on unit-SD random-effect columns Zc = Z S (centred too when
    there is an intercept), where the likelihood surface is well scaled; Psi = S Psi_c S' maps back exactly.
    Variance components' columns (the last ``sum(components)``) are kept as they are."""

    def __init__(self, y, X, Z, codes, reml, components=()):
        self.y, self.X, self.Z, self.codes, self.reml = y, X, Z, codes, reml
        self.S = np.eye(Z.shape[1])
        q_re = Z.shape[1] - sum(components)
        self.S[:q_re, :q_re] = standardiser(Z[:, :q_re])
        self.engine = Profile(X, Z @ self.S, codes, reml, components)
        self.stats = self.engine.statistics(y[None])

    def deviance(self, theta, gradient=False, sigma2=None):
        out = self.engine.deviance(theta[None], self.stats, _ONE, gradient, sigma2)
        return (float(out[0][0]), out[1][0]) if gradient else float(out[0])

    def loglik(self, theta, sigma2=None) -> float:
        """At theta, profiled over sigma^2 or at ``sigma2``."""
        return -self.deviance(theta, sigma2=sigma2) / 2

    def estimates(self, theta) -> dict:
        return {name: value[0] for name, value in self.engine.estimates(theta[None], self.stats, _ONE).items()}

    def covariances(self, theta) -> np.ndarray:
        """psi at theta: the random effects' covariances at theta's places on Z's own scale, then sigma^2."""
        est = self.estimates(theta)
        relative = self.S @ est["D"] @ self.S.T
        return est["sigma2"] * np.r_[relative[self.engine.rows, self.engine.cols], 1.0]

    def moments(self, psi: np.ndarray) -> tuple[Moments, float]:
        """Moments and the log-likelihood (REML, or ML) at the covariance parameters psi (:meth:`covariances`'
        order and scale).

        The marginal form of the likelihood, each group's V = sum_i psi_i dV/dpsi_i (linear in psi) factorised
        directly: also the referee that verifies :class:`Profile`'s optimum (see :func:`optimise`)."""
        p, k = self.X.shape[1], len(psi)
        # One pass over the groups sums A'V^-1 A, A'V^-1 V_i V^-1 A and A'V^-1 V_i V^-1 V_j V^-1 A for A = [X y]:
        # their X blocks are Phi^-1, B_i and Q_ij, and c = (-beta, 1), with A c = r, turns them into r'V^-1 r
        # and the quadratic forms in r of the score and the observed information.
        A = np.column_stack([self.X, self.y])
        a, b, q = np.zeros((p + 1, p + 1)), np.zeros((k, p + 1, p + 1)), np.zeros((k, k, p + 1, p + 1))
        traces, products, logdet = np.zeros(k), np.zeros((k, k)), 0.0
        for rows in (self.codes == g for g in range(self.engine.k)):
            dv = self.engine.covariance_derivatives(self.Z[rows])
            v = np.einsum("i,iab->ab", psi, dv)
            v_inv = np.linalg.inv(v)
            logdet += np.linalg.slogdet(v)[1]
            va = v_inv @ A[rows]
            dva = dv @ va  # V_i V^-1 A
            e = v_inv @ dv  # V^-1 V_i
            a += A[rows].T @ va
            b += va.T @ dva
            q += np.einsum("ina,jnb->ijab", dva, v_inv @ dva)
            traces += np.einsum("iaa->i", e)
            products += np.einsum("iab,jba->ij", e, e)
        phi = np.linalg.inv(a[:p, :p])
        beta = phi @ a[:p, p]
        c = np.append(-beta, 1.0)
        n = len(self.y)
        constant = np.linalg.slogdet(a[:p, :p])[1] + (n - p) * np.log(2 * np.pi) if self.reml else n * np.log(2 * np.pi)
        loglik = -0.5 * (logdet + c @ a @ c + constant)
        bx, qx = b[:, :p, :p], q[:, :, :p, :p]
        xr = np.einsum("a,iab->ib", c, b[:, :, :p])  # X'V^-1 V_i V^-1 r
        expected = 0.5 * (
            products - 2 * np.einsum("ab,ijba->ij", phi, qx) + np.einsum("ab,ibc,cd,jda->ij", phi, bx, phi, bx)
        )
        observed = np.einsum("a,ijab,b->ij", c, q, c) - xr @ phi @ xr.T - expected
        return Moments(
            values=psi,
            beta=beta,
            phi=phi,
            b=bx,
            q=qx,
            expected=(expected + expected.T) / 2,
            observed=(observed + observed.T) / 2,
            score=-0.5 * (traces - np.einsum("ab,iba->i", phi, bx) - np.einsum("a,iab,b->i", c, b, c)),
            places=np.unique(np.r_[self.engine.rows, self.engine.cols], return_inverse=True)[1].reshape(2, -1),
        ), loglik

    def singular(self, theta) -> bool:
        """lme4's isSingular: a diagonal entry of the relative Cholesky factor below SINGULAR."""
        return bool(np.abs(theta[self.engine.diag]).min() < SINGULAR)

    def theta_of(self, relative_cov: np.ndarray) -> np.ndarray:
        """theta of a random-effects covariance given relative to sigma^2, on the original scale."""
        S_inv = np.linalg.inv(self.S)
        return semidefinite_cholesky(S_inv @ relative_cov @ S_inv.T)[self.engine.rows, self.engine.cols]


_ONE = np.zeros(1, dtype=int)  # the index of the single response in the engine's stack


def semidefinite_cholesky(M: np.ndarray) -> np.ndarray:
    """Lower-triangular L with L L' = M for a positive semidefinite M: a zero pivot gives a zero column."""
    L = np.zeros_like(M)
    for j in range(len(M)):
        pivot = M[j, j] - L[j, :j] @ L[j, :j]
        if pivot > 1e-12 * max(1.0, np.abs(M).max()):
            L[j, j] = np.sqrt(pivot)
            L[j + 1 :, j] = (M[j + 1 :, j] - L[j + 1 :, :j] @ L[j, :j]) / L[j, j]
    return L


_AGREE = 1e-5  # largest log-likelihood difference between fits that agree
NOT_CONVERGED = 1e-2  # a statsmodels fit this far below the verified maximum log-likelihood did not converge
_GRAD = 1e-3  # largest |d deviance / d theta| accepted at the optimum


def optimise(problem: ResponseProfile) -> np.ndarray:
    """Minimise the deviance from three starts, polish, and verify the optimum."""
    # theta = 0 (no random effects) is a stationary point by symmetry, so no start is there.
    fills = (1.0, 0.3, 3.0)
    starts = np.where(problem.engine.diag, np.array(fills)[:, None], 0.0)[:, None]  # (fit, one start, theta)
    with np.errstate(all="ignore"):
        ends, devs, _ = minimise(problem.engine, problem.stats, starts, _ONE.repeat(3))
        # A few more steps from the best, to a far smaller gradient: cheap, and they settle the last digits.
        theta = minimise(problem.engine, problem.stats, ends[devs.argmin()][None, None], _ONE, 4, 1e-9)[0][0]
        grad, hess = (x[0] for x in _derivatives(problem.engine, problem.stats, theta[None], _ONE))
    best = problem.deviance(theta)
    if not np.isfinite(best):
        raise LmeConvergenceError("the log-likelihood could not be evaluated at any optimizer's answer")
    min_eigenvalue = float(np.linalg.eigvalsh(hess).min()) if np.isfinite(hess).all() else np.nan
    if not min_eigenvalue > 1e-8 * max(1.0, np.abs(np.diag(hess)).max()):
        hint = _BOUNDARY if problem.singular(theta) else ""
        raise LmeConvergenceError(
            f"could not verify the optimum: the Hessian of the deviance is not positive "
            f"definite (smallest eigenvalue {min_eigenvalue:.3g}).{hint}"
        )
    max_abs_gradient = float(np.abs(grad).max())
    if max_abs_gradient > _GRAD:
        raise LmeConvergenceError(f"could not verify the optimum: gradient {max_abs_gradient:.3g} exceeds {_GRAD}")
    if np.count_nonzero((devs - best) / 2 < _AGREE) < 2:
        loglik_by_start = {f"from {fill:g}": -float(dev) / 2 for fill, dev in zip(fills, devs)}
        raise LmeConvergenceError(
            f"could not verify the optimum: the fits from different starts disagree on the log-likelihood "
            f"({loglik_by_start})"
        )
    independent = problem.moments(problem.covariances(theta))[1]
    if not abs(independent + best / 2) < 1e-6 * max(1.0, abs(best)):
        raise LmeConvergenceError(
            f"the log-likelihood from the marginal covariances, {independent}, disagrees "
            f"with the profiled one, {-best / 2}, at the optimum; please report this data set"
        )
    return theta


_STEP = 1e-5  # of the central differences of the gradient that give the Hessian
_MAX_NEWTON = 200
_TOL_DECREASE = 1e-9  # deviance change accepted as converged
_TOL_GRADIENT = 1e-4  # largest |d deviance / d theta| accepted as converged


def minimise(
    profile: Profile, stats: tuple, starts: np.ndarray, idx=None, steps=None, gradient_tolerance=_TOL_GRADIENT
):
    """Minimise the deviance of each of a stack of fits from the best of its starting points.

    ``starts`` is (B, s, d); ``idx`` (B,) the response of each fit (default: fit b is response b); at most ``steps``
    Newton steps (default ``_MAX_NEWTON``), converged at a gradient below ``gradient_tolerance``. Returns
    theta (B, d), deviance (B,) and a converged flag (B,). Damped Newton, all fits at once: the analytic
    gradient, the Hessian from its central differences shifted to be positive definite, the shift grown
    when a step fails to lower the deviance."""
    n_fit, n_start, d = starts.shape
    idx = np.arange(n_fit) if idx is None else np.asarray(idx)
    first = profile.deviance(starts.reshape(-1, d), stats, np.repeat(idx, n_start)).reshape(n_fit, n_start)
    theta = starts[np.arange(n_fit), first.argmin(axis=1)].copy()
    dev = first.min(axis=1)
    damping = np.full(n_fit, 1e-6)
    converged = np.zeros(n_fit, bool)
    for _ in range(steps or _MAX_NEWTON):
        active = np.flatnonzero(~converged)
        if not active.size:
            break
        x, f0 = theta[active], dev[active]
        grad, hess = _derivatives(profile, stats, x, idx[active])
        lowest = np.linalg.eigvalsh(hess)[:, 0]
        shift = np.maximum(0.0, -lowest) + damping[active] * np.maximum(1.0, np.abs(hess).max(axis=(1, 2)))
        step = -np.linalg.solve(hess + shift[:, None, None] * np.eye(d), grad[..., None])[..., 0]
        trial = x + step
        f_trial = profile.deviance(trial, stats, idx[active])
        better = f_trial <= f0 + 1e-12 * np.abs(f0)
        decrease = np.where(better, f0 - f_trial, 0.0)
        theta[active[better]] = trial[better]
        dev[active[better]] = f_trial[better]
        damping[active] = np.where(better, np.maximum(damping[active] / 10, 1e-12), damping[active] * 10)
        small_gradient = np.abs(grad).max(axis=1) < gradient_tolerance
        converged[active] = better & (decrease < _TOL_DECREASE) & small_gradient
        # A step that cannot lower the deviance however damped is at the bottom up to rounding.
        converged[active] |= (~better) & (damping[active] > 1e8) & small_gradient
    return theta, dev, converged


def _derivatives(profile: Profile, stats: tuple, theta: np.ndarray, idx: np.ndarray):
    """The gradient of the deviance at theta (m, d) and its Hessian, central differences of the gradient."""
    m, d = theta.shape
    offsets = np.concatenate([_STEP * np.eye(d), -_STEP * np.eye(d)])
    grad = profile.deviance(theta, stats, idx, gradient=True)[1]
    points = (theta[:, None, :] + offsets[None]).reshape(-1, d)
    moved = profile.deviance(points, stats, np.repeat(idx, 2 * d), gradient=True)[1]
    moved = moved.reshape(m, 2, d, d)  # (fit, +/-, direction, gradient)
    hess = (moved[:, 0] - moved[:, 1]) / (2 * _STEP)
    return grad, (hess + np.swapaxes(hess, 1, 2)) / 2


def _inverse_and_logdet(M: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inverses of a stack (m, k, q, q) of positive definite matrices, and the sum over k of log det."""
    if M.shape[-1] == 1:
        return 1 / M, np.log(M[..., 0, 0]).sum(axis=1)
    if M.shape[-1] == 2:  # closed form: numpy's batched inverse costs more than the arithmetic
        a, b, c, d = M[..., 0, 0], M[..., 0, 1], M[..., 1, 0], M[..., 1, 1]
        det = a * d - b * c
        inv = np.stack([np.stack([d, -b], axis=-1), np.stack([-c, a], axis=-1)], axis=-2) / det[..., None, None]
        return inv, np.log(det).sum(axis=1)
    return np.linalg.inv(M), np.linalg.slogdet(M)[1].sum(axis=1)
