"""Profile-likelihood intervals for the variances of nested random intercepts (pupils in classes in schools).

A Wald interval for a variance, estimate ± 1.96 SE, is symmetric around a quantity whose likelihood is skewed
and bounded below by 0; with 25 schools it can reach below 0. :func:`nested_profile_intervals` gives what R's
``confint(lmer(y ~ x + (1 | school) + (1 | school:class)), method = "profile")`` gives for the SDs: the values
whose profile (REML) log-likelihood lies within ``chi2_1(level) / 2`` of its maximum, every other variance
maximised over. It adds the two intra-class correlations, profiled the same way.

The fit is ``smf.mixedlm(..., groups=<top level>, re_formula="1", vc_formula={<name>: "0 + C(<unit>)"})``,
a random intercept per top-level group and one variance component whose units nest in it. The log-likelihood
is :mod:`helpers.likelihood`'s, checked against the fit's.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import special, stats

from helpers.likelihood import (
    NOT_CONVERGED,
    LmeConvergenceError,
    ResponseProfile,
    mixedlm_design,
    mixedlm_of,
    optimise,
)
from helpers.profile import check_same_model, profile_ends

__all__ = ["NestedProfileError", "nested_profile_intervals"]

# How far (in log-variance or logit units) the search for an endpoint goes before it settles on the boundary.
_REACH = 24.0


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
        model = mixedlm_of(result, NestedProfileError)
        names = list(model.exog_vc.names) if model.k_vc else []
        if model.k_re != 1 or not np.all(np.asarray(model.exog_re) == 1) or len(names) != 1:
            raise NestedProfileError(
                'the model must have a random intercept per group (re_formula="1") and one '
                "variance component for the units nested in the groups (vc_formula)"
            )
        y, X, Z, codes, components = mixedlm_design(model)
        units = Z[:, 1:]
        if not np.isin(units, (0.0, 1.0)).all() or not np.all(units.sum(axis=1) == 1):
            raise NestedProfileError(
                'each observation must belong to exactly one unit of the variance component (vc_formula "0 + C(unit)")'
            )
        # Its random intercept's column is all ones, which the profile keeps as it is: theta = sqrt(v / sigma^2).
        self.problem = ResponseProfile(y, X, Z, codes, model.reml, components)
        estimate = np.array([result.cov_re.iloc[0, 0], float(np.asarray(result.vcomp)[0]), result.scale])
        if np.any(estimate <= 0):
            raise NestedProfileError("a variance is estimated as 0: the fit is on the boundary; drop that level")
        at_fit = self.loglike(estimate)
        check_same_model(at_fit, result, NestedProfileError)
        # statsmodels stops a little short of the optimum; the profile is measured from the optimum itself
        try:
            theta = optimise(self.problem)
        except LmeConvergenceError as err:
            raise NestedProfileError(f"the optimum of the likelihood could not be verified: {err}") from err
        self.estimate = self.problem.covariances(theta)  # (group, unit, residual)
        self.maximum = self.problem.loglik(theta)
        if self.maximum - at_fit > NOT_CONVERGED:
            raise NestedProfileError(
                f"the fit is {self.maximum - at_fit:.3g} below the optimum of its likelihood: "
                "it did not converge. Refit it (another .fit(method=...)) and try again"
            )

    def loglike(self, v: np.ndarray) -> float:
        """The log-likelihood at variances v = (group, unit, residual)."""
        return self.problem.loglik(np.sqrt(v[:2] / v[2]), sigma2=v[2])

    def interval(self, coordinates, index: int, cutoff: float) -> tuple[float, float, float]:
        centre = _to_coordinates(coordinates, self.estimate)
        loglike = lambda x: self.loglike(coordinates(x))  # noqa: E731
        ends = profile_ends(loglike, centre, index, self.maximum - cutoff, _REACH)
        # where the profile never drops far enough: the boundary of the parameter
        bounds = (0.0, np.inf) if coordinates is _variances else (0.0, 1.0)
        ends = [bound if end is None else _report(coordinates, end) for end, bound in zip(ends, bounds)]
        return (_report(coordinates, centre[index]), *ends)
