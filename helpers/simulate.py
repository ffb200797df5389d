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

__all__ = [
    "SchoolsSample",
    "simulate_schools",
    "ThreeLevelSample",
    "simulate_three_level",
    "ClusteredBinarySample",
    "simulate_clustered_binary",
]


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
    sds = dict(
        school_sd=school_sd,
        slope_sd=slope_sd,
        residual_sd=residual_sd,
        hours_between_sd=hours_between_sd,
        hours_within_sd=hours_within_sd,
    )
    _check_parameters(reals, sds, within="a school")
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
    score = (
        intercept
        + u0[j]
        + (slope + u1[j]) * (hours - hours_mean)
        + funding_effect * funding[j]
        + residual_sd * rng.standard_normal(len(school))
    )
    data = pd.DataFrame(
        {
            "school": school,
            "pupil": np.concatenate([np.arange(1, n + 1) for n in sizes]),
            "hours": hours.round(2),
            "funding": funding[j].round(3),
            "score": score.round(2),
        }
    )
    schools = pd.DataFrame(
        {
            "school": np.arange(1, n_schools + 1),
            "n": sizes,
            "hours_mean": hours_mean + between,
            "funding": funding.round(3),
            "u0": u0,
            "u1": u1,
        }
    )
    truth = dict(n_schools=n_schools, seed=seed, **reals, **sds, effect_corr=effect_corr, confounding=confounding)
    return SchoolsSample(data=data, schools=schools, truth=truth)


def _check_parameters(reals: dict, sds: dict, within: str) -> None:
    """Every parameter a finite number, every SD >= 0 and the residual SD > 0."""
    for name, value in {**reals, **sds}.items():
        _check_real(name, value)
    for name, value in sds.items():
        if value < 0:
            raise ValueError(f"{name} must be a standard deviation >= 0, got {value}")
    if sds["residual_sd"] == 0:
        raise ValueError(f"residual_sd must be > 0: pupils within {within} are never identical")


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


def _sizes(per_group, n_groups: int, name: str = "pupils_per_school", count: str = "n_schools") -> np.ndarray:
    """Group sizes from one whole number or a sequence of ``n_groups``; errors name the arguments."""
    if isinstance(per_group, (Integral, np.integer)) and not isinstance(per_group, bool):
        _check_int(name, int(per_group), minimum=2)
        return np.full(n_groups, int(per_group))
    if not isinstance(per_group, (list, tuple, np.ndarray)):
        raise TypeError(f"{name} must be a whole number or a sequence of them, got {per_group!r}")
    sizes = list(per_group)
    if len(sizes) != n_groups:
        raise ValueError(f"{name} has {len(sizes)} sizes but {count} is {n_groups}")
    for k, size in enumerate(sizes):
        _check_int(f"{name}[{k}]", size.item() if isinstance(size, np.generic) else size, minimum=2)
    return np.asarray(sizes, dtype=int)


@dataclass(frozen=True)
class ThreeLevelSample:
    """What :func:`simulate_three_level` returns.

    ``data``: one row per pupil (``school``, ``classroom``, ``pupil``, ``hours``, ``experience``,
    ``score``); ``classroom`` numbers run across schools, so each identifies one class.
    ``classes``: one row per class (``school``, ``classroom``, ``n``, ``experience``, ``u``: the
    realised class effect). ``schools``: one row per school (``school``, ``n_classes``, ``n``, ``v``:
    the realised school effect). ``truth``: the parameters the sample was drawn with.
    """

    data: pd.DataFrame
    classes: pd.DataFrame
    schools: pd.DataFrame
    truth: dict

    @property
    def variances(self) -> pd.Series:
        """The true variance at each level: school, class (within school), pupil (residual)."""
        t = self.truth
        return pd.Series(
            {"school": t["school_sd"] ** 2, "class": t["class_sd"] ** 2, "pupil": t["residual_sd"] ** 2},
            name="variance",
        )

    @property
    def icc(self) -> pd.Series:
        """The true intra-class correlations: of two pupils in one school but different classes
        (``school``), and of two pupils in the same class (``class``, which shares the school too)."""
        v = self.variances
        total = v.sum()
        return pd.Series({"school": v["school"] / total, "class": (v["school"] + v["class"]) / total}, name="icc")


def simulate_three_level(
    n_schools: int = 25,
    *,
    seed: int,
    classes_per_school: tuple[int, int] = (1, 5),
    pupils_per_class: tuple[int, int] = (3, 30),
    intercept: float = 60.0,
    slope: float = 2.0,
    experience_effect: float = 0.3,
    school_sd: float = 4.0,
    class_sd: float = 3.0,
    residual_sd: float = 8.0,
    hours_mean: float = 6.0,
    hours_sd: float = 2.0,
) -> ThreeLevelSample:
    """Draw pupils' test scores within classes within schools, unbalanced at both levels.

    The model, for pupil i of class j in school k:

        score_ijk = intercept + slope * (hours_ijk - hours_mean) + experience_effect * experience_jk
                    + v_k + u_jk + e_ijk

    with ``v_k ~ N(0, school_sd^2)``, ``u_jk ~ N(0, class_sd^2)``, ``e_ijk ~ N(0, residual_sd^2)``,
    ``hours ~ N(hours_mean, hours_sd^2)`` and the class teacher's years of ``experience`` uniform
    on 1..30. Each school has a number of classes drawn uniformly from ``classes_per_school``
    (inclusive) and each class a number of pupils from ``pupils_per_class``, so that small
    classes and schools, whose predicted effects shrink most, sit beside large ones.

    ``seed`` is required: the same arguments and seed always give the same sample.

    >>> sample = simulate_three_level(n_schools=4, seed=1)
    >>> sample.data.groupby("school")["classroom"].nunique().tolist() == sample.schools["n_classes"].tolist()
    True
    """
    _check_int("seed", seed, minimum=0)
    _check_int("n_schools", n_schools, minimum=2)
    for name, bounds in (("classes_per_school", classes_per_school), ("pupils_per_class", pupils_per_class)):
        if not (isinstance(bounds, tuple) and len(bounds) == 2):
            raise TypeError(f"{name} must be a (smallest, largest) tuple of whole numbers, got {bounds!r}")
        _check_int(f"{name}[0]", bounds[0], minimum=1)
        _check_int(f"{name}[1]", bounds[1], minimum=bounds[0])
    reals = dict(intercept=intercept, slope=slope, experience_effect=experience_effect, hours_mean=hours_mean)
    sds = dict(school_sd=school_sd, class_sd=class_sd, residual_sd=residual_sd, hours_sd=hours_sd)
    _check_parameters(reals, sds, within="a class")

    rng = np.random.default_rng(seed)
    n_classes = rng.integers(classes_per_school[0], classes_per_school[1] + 1, size=n_schools)
    sizes = rng.integers(pupils_per_class[0], pupils_per_class[1] + 1, size=n_classes.sum())
    v = school_sd * rng.standard_normal(n_schools)
    u = class_sd * rng.standard_normal(n_classes.sum())
    experience = rng.integers(1, 31, size=n_classes.sum())
    class_school = np.repeat(np.arange(n_schools), n_classes)
    pupil_class = np.repeat(np.arange(n_classes.sum()), sizes)
    hours = hours_mean + hours_sd * rng.standard_normal(sizes.sum())
    score = (
        intercept
        + slope * (hours - hours_mean)
        + experience_effect * experience[pupil_class]
        + v[class_school[pupil_class]]
        + u[pupil_class]
        + residual_sd * rng.standard_normal(sizes.sum())
    )
    data = pd.DataFrame(
        {
            "school": class_school[pupil_class] + 1,
            "classroom": pupil_class + 1,
            "pupil": np.concatenate([np.arange(1, n + 1) for n in sizes]),
            "hours": hours.round(2),
            "experience": experience[pupil_class],
            "score": score.round(2),
        }
    )
    classes = pd.DataFrame(
        {
            "school": class_school + 1,
            "classroom": np.arange(1, n_classes.sum() + 1),
            "n": sizes,
            "experience": experience,
            "u": u,
        }
    )
    schools = pd.DataFrame(
        {
            "school": np.arange(1, n_schools + 1),
            "n_classes": n_classes,
            "n": np.bincount(class_school, weights=sizes).astype(int),
            "v": v,
        }
    )
    truth = dict(
        n_schools=n_schools,
        seed=seed,
        classes_per_school=classes_per_school,
        pupils_per_class=pupils_per_class,
        **reals,
        **sds,
    )
    return ThreeLevelSample(data=data, classes=classes, schools=schools, truth=truth)


@dataclass(frozen=True)
class ClusteredBinarySample:
    """What :func:`simulate_clustered_binary` returns.

    ``data``: one row per patient (``clinic``, ``patient``, ``treated``, ``event``). ``clinics``: one row
    per clinic (``clinic``, ``n``, ``u0``), the realised random intercepts. ``truth``: the parameters the
    sample was drawn with.
    """

    data: pd.DataFrame
    clinics: pd.DataFrame
    truth: dict


def simulate_clustered_binary(
    n_clinics: int = 40,
    patients_per_clinic: int | list[int] | tuple[int, ...] | np.ndarray = 30,
    *,
    seed: int,
    intercept: float = -1.0,
    odds_ratio: float = 2.0,
    clinic_sd: float = 1.0,
    treated_share: float = 0.5,
) -> ClusteredBinarySample:
    """Draw a binary outcome of patients within clinics from a random-intercept logistic model.

    ``logit P(event_ij = 1 | u0_j) = intercept + log(odds_ratio) * treated_ij + u0_j`` with
    ``u0_j ~ N(0, clinic_sd^2)`` and ``treated_ij ~ Bernoulli(treated_share)``: ``odds_ratio`` is the
    conditional (clinic-specific) odds ratio, ``clinic_sd`` the SD of u0_j on the log-odds scale.
    ``seed`` is required; bad input raises ``ValueError`` or ``TypeError`` naming the argument.

    >>> simulate_clustered_binary(n_clinics=2, patients_per_clinic=[2, 3], seed=1).data["clinic"].tolist()
    [1, 1, 2, 2, 2]
    """
    _check_int("seed", seed, minimum=0)
    _check_int("n_clinics", n_clinics, minimum=2)
    sizes = _sizes(patients_per_clinic, n_clinics, "patients_per_clinic", "n_clinics")
    for name, value in dict(
        intercept=intercept, odds_ratio=odds_ratio, clinic_sd=clinic_sd, treated_share=treated_share
    ).items():
        _check_real(name, value)
    if odds_ratio <= 0:
        raise ValueError(f"odds_ratio must be > 0, got {odds_ratio}")
    if clinic_sd < 0:
        raise ValueError(f"clinic_sd must be a standard deviation >= 0, got {clinic_sd}")
    if not 0 < treated_share < 1:
        raise ValueError(f"treated_share is a proportion and must lie strictly between 0 and 1, got {treated_share}")

    rng = np.random.default_rng(seed)
    u0 = clinic_sd * rng.standard_normal(n_clinics)
    clinic = np.repeat(np.arange(1, n_clinics + 1), sizes)
    treated = (rng.random(len(clinic)) < treated_share).astype(int)
    log_odds = intercept + np.log(odds_ratio) * treated + u0[clinic - 1]
    event = (rng.random(len(clinic)) < 1 / (1 + np.exp(-log_odds))).astype(int)
    data = pd.DataFrame(
        {
            "clinic": clinic,
            "patient": np.concatenate([np.arange(1, n + 1) for n in sizes]),
            "treated": treated,
            "event": event,
        }
    )
    clinics = pd.DataFrame({"clinic": np.arange(1, n_clinics + 1), "n": sizes, "u0": u0})
    truth = dict(
        n_clinics=n_clinics,
        seed=seed,
        intercept=intercept,
        odds_ratio=odds_ratio,
        clinic_sd=clinic_sd,
        treated_share=treated_share,
    )
    return ClusteredBinarySample(data=data, clinics=clinics, truth=truth)
