"""Pupils within schools: a second grouped data set whose truth is known.

The graded exercises transfer each method from the GP data to data drawn by
:func:`simulate_schools`, so an answer cannot be copied from a lecture notebook
and an estimate can be compared with the value that generated it. The model is

    hours_ij = hours_mean + between_j + within_ij                  (pupil i, school j)
    score_ij = intercept + u0_j + (slope + u1_j) * (hours_ij - hours_mean)
               + funding_effect * funding_j + e_ij

with ``between_j ~ N(0, hours_between_sd^2)``, ``within_ij ~ N(0, hours_within_sd^2)``,
``funding_j ~ N(0, 1)`` (a school-level covariate), ``(u0_j, u1_j)`` normal with SDs
``school_sd``, ``slope_sd`` and correlation ``effect_corr``, and
``e_ij ~ N(0, residual_sd^2)``. ``confounding`` is the correlation between a
school's intercept effect ``u0_j`` and its mean hours ``between_j``: with it a
regression on school means or a pooled fit is biased, a fixed-effects fit is not.

The same arguments and ``seed`` always give the same sample (numpy's PCG64).
"""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np
import pandas as pd

__all__ = ["SchoolsSample", "simulate_schools"]


@dataclass(frozen=True)
class SchoolsSample:
    """What :func:`simulate_schools` returns.

    ``data``: one row per pupil (``school``, ``pupil``, ``hours``, ``funding``, ``score``).
    ``schools``: one row per school (``school``, ``n``, ``hours_mean``, ``funding``, ``u0``, ``u1``),
    the realised random effects. ``truth``: the parameters the sample was drawn with.
    """

    data: pd.DataFrame
    schools: pd.DataFrame
    truth: dict

    @property
    def icc(self) -> float:
        """The true intra-class correlation of a random-intercept model: school_sd^2 / (school_sd^2 + residual_sd^2)."""
        between, residual = self.truth["school_sd"] ** 2, self.truth["residual_sd"] ** 2
        return between / (between + residual)


def simulate_schools(
    n_schools: int = 20,
    pupils_per_school: int | list[int] | tuple[int, ...] | np.ndarray = 25,
    *,
    seed: int,
    intercept: float = 60.0,
    slope: float = 2.0,
    funding_effect: float = 0.0,
    school_sd: float = 5.0,
    slope_sd: float = 0.0,
    effect_corr: float = 0.0,
    residual_sd: float = 8.0,
    hours_mean: float = 6.0,
    hours_between_sd: float = 1.5,
    hours_within_sd: float = 2.0,
    confounding: float = 0.0,
) -> SchoolsSample:
    """Draw pupils' test scores and weekly homework hours within schools.

    ``pupils_per_school`` is one size for every school or a sequence of
    ``n_schools`` sizes. ``seed`` is required so that every sample is
    reproducible. Raises ``ValueError`` (or ``TypeError`` for a wrong type)
    naming the offending argument.

    >>> sample = simulate_schools(n_schools=3, pupils_per_school=[2, 3, 4], seed=1)
    >>> sample.data.groupby("school").size().tolist()
    [2, 3, 4]
    """
    _check_int("seed", seed, minimum=0)
    _check_int("n_schools", n_schools, minimum=2)
    sizes = _sizes(pupils_per_school, n_schools)
    reals = dict(intercept=intercept, slope=slope, funding_effect=funding_effect, hours_mean=hours_mean)
    sds = dict(school_sd=school_sd, slope_sd=slope_sd, residual_sd=residual_sd,
               hours_between_sd=hours_between_sd, hours_within_sd=hours_within_sd)
    for name, value in {**reals, **sds}.items():
        _check_real(name, value)
    for name, value in sds.items():
        if value < 0:
            raise ValueError(f"{name} must be a standard deviation >= 0, got {value}")
    if residual_sd == 0:
        raise ValueError("residual_sd must be > 0: pupils within a school are never identical")
    for name, value in dict(effect_corr=effect_corr, confounding=confounding).items():
        _check_real(name, value)
        if not -1 < value < 1:
            raise ValueError(f"{name} is a correlation and must lie strictly between -1 and 1, got {value}")
    if confounding and (school_sd == 0 or hours_between_sd == 0):
        raise ValueError("confounding needs school_sd > 0 and hours_between_sd > 0 (it correlates the two)")

    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n_schools, 3))
    between = hours_between_sd * z[:, 0]
    u0 = school_sd * (confounding * z[:, 0] + np.sqrt(1 - confounding**2) * z[:, 1])
    u1 = slope_sd * (effect_corr * z[:, 1] + np.sqrt(1 - effect_corr**2) * z[:, 2])
    funding = rng.standard_normal(n_schools)
    school = np.repeat(np.arange(1, n_schools + 1), sizes)
    j = school - 1
    hours = hours_mean + between[j] + hours_within_sd * rng.standard_normal(len(school))
    score = (intercept + u0[j] + (slope + u1[j]) * (hours - hours_mean) + funding_effect * funding[j]
             + residual_sd * rng.standard_normal(len(school)))
    data = pd.DataFrame({
        "school": school,
        "pupil": np.concatenate([np.arange(1, n + 1) for n in sizes]),
        "hours": hours.round(2),
        "funding": funding[j].round(3),
        "score": score.round(2),
    })
    schools = pd.DataFrame({"school": np.arange(1, n_schools + 1), "n": sizes, "hours_mean": hours_mean + between,
                            "funding": funding.round(3), "u0": u0, "u1": u1})
    truth = dict(n_schools=n_schools, seed=seed, **reals, **sds, effect_corr=effect_corr, confounding=confounding)
    return SchoolsSample(data=data, schools=schools, truth=truth)


def _check_int(name: str, value, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"{name} must be a whole number, got {value!r} ({type(value).__name__})")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")


def _check_real(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a number, got {value!r} ({type(value).__name__})")
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")


def _sizes(pupils_per_school, n_schools: int) -> np.ndarray:
    if isinstance(pupils_per_school, (Integral, np.integer)) and not isinstance(pupils_per_school, bool):
        _check_int("pupils_per_school", int(pupils_per_school), minimum=2)
        return np.full(n_schools, int(pupils_per_school))
    if not isinstance(pupils_per_school, (list, tuple, np.ndarray)):
        raise TypeError(f"pupils_per_school must be a whole number or a sequence of them, got {pupils_per_school!r}")
    sizes = list(pupils_per_school)
    if len(sizes) != n_schools:
        raise ValueError(f"pupils_per_school has {len(sizes)} sizes but n_schools is {n_schools}")
    for k, size in enumerate(sizes):
        _check_int(f"pupils_per_school[{k}]", size.item() if isinstance(size, np.generic) else size, minimum=2)
    return np.asarray(sizes, dtype=int)
