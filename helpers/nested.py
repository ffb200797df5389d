"""Profile-likelihood intervals for the variances of nested random intercepts (pupils in classes in schools).

A Wald interval for a variance, estimate ± 1.96 SE, is symmetric around a quantity whose likelihood is skewed
and bounded below by 0; with 25 schools it can reach below 0. :func:`nested_profile_intervals` gives what R's
``confint(lmer(y ~ x + (1 | school) + (1 | school:class)), method = "profile")`` gives for the SDs: the values
whose profile (REML) log-likelihood lies within ``chi2_1(level) / 2`` of its maximum, every other variance
maximised over. It adds the two intra-class correlations, profiled the same way.

The fit is ``smf.mixedlm(..., groups=<top level>, re_formula="1", vc_formula={<name>: "0 + C(<unit>)"})``,
a random intercept per top-level group and one variance component whose units nest in it. The REML
log-likelihood is computed from each unit's sums (nested compound symmetry: each unit's block of V is
inverted in closed form, each group's by Sherman-Morrison) and checked against the fit's.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import optimize, special, stats
from scipy.sparse import issparse

__all__ = ["NestedProfileError", "nested_profile_intervals"]

# How far (in log-variance or logit units) the search for an endpoint goes before it settles on the boundary.
_REACH = 24.0
_STEP = 0.25
_XTOL = 1e-7
_MAX_GAIN = 1e-2  # a fit further than this below the optimum did not converge


class NestedProfileError(ValueError):
    """The fit is not one this profile supports; the message says why."""


def nested_profile_intervals(result, level: float = 0.95, names: tuple[str, str] = ("group", "unit")) -> pd.DataFrame:
    """Profile-likelihood intervals for a fitted model of nested random intercepts (REML or ML).

    One row per parameter, ``sd <group>``, ``sd <unit>``, ``sd Residual``, ``ICC <group>`` (two
    observations of one group, different units) and ``ICC <unit>`` (two of one unit), with the
    levels named by ``names``, and columns ``estimate``, ``ci_low``, ``ci_high``. The fit must be at
    its optimum (see :func:`helpers.smallsample.covariance_parameters`).
    """
    if not 0 < level < 1:
        raise NestedProfileError(f"level must lie between 0 and 1, not {level!r}")
    likelihood = _NestedLikelihood(result)
    cutoff = stats.chi2.ppf(level, 1) / 2
    group, unit = names
    rows = {}
    for name, coordinates in [
        (f"sd {group}", _variances),
        (f"sd {unit}", _variances),
        ("sd Residual", _variances),
        (f"ICC {group}", _group_icc),
        (f"ICC {unit}", _unit_icc),
    ]:
        index = {f"sd {group}": 0, f"sd {unit}": 1, "sd Residual": 2}.get(name, 0)
        rows[name] = likelihood.interval(coordinates, index, cutoff)
    return pd.DataFrame.from_dict(rows, orient="index", columns=["estimate", "ci_low", "ci_high"])


# Each parametrisation maps unconstrained coordinates to the variances (group, unit, residual) and names how
# its first coordinate is reported. The profiled coordinate is held while the other two are maximised over.


def _variances(x):
    """Log variances; reported as SDs."""
    return np.exp(x)


def _group_icc(x):
    """logit ICC_group, logit of the unit's share of the rest, log total."""
    icc, share, total = special.expit(x[0]), special.expit(x[1]), np.exp(x[2])
    return np.array([icc * total, share * (1 - icc) * total, (1 - share) * (1 - icc) * total])


def _unit_icc(x):
    """logit ICC_unit (group + unit over total), logit of the group's share of that, log total."""
    icc, share, total = special.expit(x[0]), special.expit(x[1]), np.exp(x[2])
    return np.array([share * icc * total, (1 - share) * icc * total, (1 - icc) * total])


def _to_coordinates(coordinates, v):
    if coordinates is _variances:
        return np.log(v)
    total = v.sum()
    if coordinates is _group_icc:
        return np.array([special.logit(v[0] / total), special.logit(v[1] / (v[1] + v[2])), np.log(total)])
    return np.array([special.logit((v[0] + v[1]) / total), special.logit(v[0] / (v[0] + v[1])), np.log(total)])


def _report(coordinates, value: float) -> float:
    return float(np.sqrt(np.exp(value))) if coordinates is _variances else float(special.expit(value))


class _NestedLikelihood:
    def __init__(self, result):
        model = getattr(result, "model", None)
        if type(model).__name__ != "MixedLM" or not hasattr(result, "cov_re"):
            raise NestedProfileError(
                f"expected a fitted statsmodels MixedLM (smf.mixedlm(...).fit()), got {type(result).__name__}"
            )
        names = list(model.exog_vc.names) if model.k_vc else []
        if model.k_re != 1 or not np.all(np.asarray(model.exog_re) == 1) or len(names) != 1:
            raise NestedProfileError(
                'the model must have a random intercept per group (re_formula="1") and one '
                "variance component for the units nested in the groups (vc_formula)"
            )
        if getattr(result, "cov_pen", None) is not None or model.fe_pen is not None:
            raise NestedProfileError("penalised fits are not supported")
        self.reml = model.reml
        p = model.k_fe
        self.dof = model.n_totobs - (p if model.reml else 0)
        sums = []  # per unit: n, X'1, y'1, and the unit's group
        self.xx, self.xy, self.yy = np.zeros((p, p)), np.zeros(p), 0.0
        for g in range(model.n_groups):
            x, y = model.exog_li[g], model.endog_li[g]
            z = model.exog_vc.mats[0][g]
            z = z.toarray() if issparse(z) else np.asarray(z)
            if not set(np.unique(z)) <= {0.0, 1.0} or not np.all(z.sum(axis=1) == 1):
                raise NestedProfileError(
                    "each observation must belong to exactly one unit of the variance "
                    'component (vc_formula "0 + C(unit)")'
                )
            z = z[:, z.sum(axis=0) > 0]
            self.xx += x.T @ x
            self.xy += x.T @ y
            self.yy += y @ y
            sums += [(z[:, j].sum(), z[:, j] @ x, z[:, j] @ y, g) for j in range(z.shape[1])]
        self.n_unit = np.array([s[0] for s in sums])
        self.x_unit = np.array([s[1] for s in sums])
        self.y_unit = np.array([s[2] for s in sums])
        self.group = np.array([s[3] for s in sums])
        self.n_groups = model.n_groups
        estimate = np.array([result.cov_re.iloc[0, 0], float(np.asarray(result.vcomp)[0]), result.scale])
        if np.any(estimate <= 0):
            raise NestedProfileError("a variance is estimated as 0: the fit is on the boundary; drop that level")
        at_fit = self.loglike(estimate)
        if abs(at_fit - result.llf) > 1e-4 * max(1.0, abs(result.llf)):
            raise NestedProfileError(
                f"the likelihood at the fit's estimates ({at_fit:.6f}) is not the fit's "
                f"log-likelihood ({result.llf:.6f})"
            )
        # statsmodels stops a little short of the optimum; the profile is measured from the optimum itself
        found = optimize.minimize(
            lambda x: -self.loglike(np.exp(x)), np.log(estimate), method="BFGS", options={"gtol": 1e-8}
        )
        if -found.fun - at_fit > _MAX_GAIN:
            raise NestedProfileError(
                f"the fit is {-found.fun - at_fit:.3g} below the optimum of its likelihood: "
                "it did not converge. Refit it (another .fit(method=...)) and try again"
            )
        self.estimate, self.maximum = (np.exp(found.x), -found.fun) if -found.fun > at_fit else (estimate, at_fit)

    def loglike(self, v: np.ndarray) -> float:
        """The log-likelihood at variances v = (group, unit, residual).

        A unit's block sigma^2 I + s_u^2 J has inverse (I - c J) / sigma^2 with c = s_u^2 / (sigma^2 + n s_u^2),
        so a' A^-1 b needs only a'b and the unit sums of a and b; a group adds s_g^2 11' (Sherman-Morrison).
        """
        s_g, s_u, sigma2 = v
        c = s_u / (sigma2 + self.n_unit * s_u)
        # A^-1 applied to sums: a'A^-1 b = (a'b - sum_units c (1'a)(1'b)) / sigma^2
        xax = (self.xx - np.einsum("u,ua,ub->ab", c, self.x_unit, self.x_unit)) / sigma2
        xay = (self.xy - np.einsum("u,ua,u->a", c, self.x_unit, self.y_unit)) / sigma2
        yay = (self.yy - np.sum(c * self.y_unit**2)) / sigma2
        weight = 1 - c * self.n_unit  # A^-1 1 summed over a unit, times sigma^2
        one_a_one = np.bincount(self.group, weight * self.n_unit, self.n_groups) / sigma2
        x_a_one = (
            np.array(
                [
                    np.bincount(self.group, weight * self.x_unit[:, a], self.n_groups)
                    for a in range(self.x_unit.shape[1])
                ]
            ).T
            / sigma2
        )
        y_a_one = np.bincount(self.group, weight * self.y_unit, self.n_groups) / sigma2
        d = s_g / (1 + s_g * one_a_one)
        xvx = xax - np.einsum("g,ga,gb->ab", d, x_a_one, x_a_one)
        xvy = xay - np.einsum("g,ga,g->a", d, x_a_one, y_a_one)
        yvy = yay - np.sum(d * y_a_one**2)
        logdet = (
            np.sum(self.n_unit - 1) * np.log(sigma2)
            + np.sum(np.log(sigma2 + self.n_unit * s_u))
            + np.sum(np.log1p(s_g * one_a_one))
        )
        quadratic = yvy - xvy @ np.linalg.solve(xvx, xvy)
        value = self.dof * np.log(2 * np.pi) + logdet + quadratic
        if self.reml:
            value += np.linalg.slogdet(xvx)[1]
        return -value / 2

    def _profile(self, coordinates, index: int, value: float, start: np.ndarray) -> tuple[float, np.ndarray]:
        free = np.arange(3) != index

        def negative(y):
            x = start.copy()
            x[free], x[index] = y, value
            return -self.loglike(coordinates(x))

        found = optimize.minimize(negative, start[free], method="BFGS", options={"gtol": 1e-7})
        x = start.copy()
        x[free], x[index] = found.x, value
        return -found.fun, x

    def interval(self, coordinates, index: int, cutoff: float) -> tuple[float, float, float]:
        centre = _to_coordinates(coordinates, self.estimate)
        ends = []
        for direction in (-1, 1):
            start, inner, step, end = centre.copy(), centre[index], _STEP, None
            while abs(inner - centre[index]) < _REACH:
                outer = inner + direction * step
                profiled, start = self._profile(coordinates, index, outer, start)
                if profiled < self.maximum - cutoff:
                    held = start.copy()
                    drop = lambda t: self.maximum - self._profile(coordinates, index, t, held)[0] - cutoff  # noqa: E731
                    end = _report(coordinates, optimize.brentq(drop, min(inner, outer), max(inner, outer), xtol=_XTOL))
                    break
                inner, step = outer, step * 1.5
            if end is None:  # the profile never drops far enough: the boundary of the parameter
                end = (np.inf if direction > 0 else 0.0) if coordinates is _variances else float(direction > 0)
            ends.append(end)
        return (_report(coordinates, centre[index]), *ends)
