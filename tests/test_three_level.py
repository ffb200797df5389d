"""Pupils in classes in schools: helpers.simulate.simulate_three_level, and statsmodels' fits of it against lme4.

R's numbers live in tests/reference/three_level_reference.json, written by
tests/reference/make_three_level_reference.R from tests/reference/three_level.csv
(the sample of lecture 11, exported by tests/reference/export_three_level.py); its profile-likelihood intervals
in tests/reference/nested_profile_reference.json, written by tests/reference/make_nested_profile_reference.R.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

from helpers.data import sha256_of
from helpers.diagnostics import predicted_effects
from helpers.nested import NestedProfileError, nested_profile_intervals
from helpers.simulate import simulate_three_level
from helpers.smallsample import satterthwaite
from tests.rscript import assert_same_numbers, rerun

REFERENCE_DIR = Path(__file__).resolve().parent / "reference"
SCRIPT = REFERENCE_DIR / "make_three_level_reference.R"
REFERENCE = json.loads((REFERENCE_DIR / "three_level_reference.json").read_text())
MODELS = REFERENCE["models"]
ESTIMATE_RTOL, OTHER_RTOL = 1e-5, 1e-4
BSE_RTOL = 5e-3

PUPILS = pd.read_csv(REFERENCE_DIR / "three_level.csv").assign(
    hours_c=lambda d: d["hours"] - d["hours"].mean(), experience_c=lambda d: d["experience"] - d["experience"].mean()
)
FIXED = "score ~ hours_c + experience_c"


def fit_statsmodels(name: str, data: pd.DataFrame = PUPILS):
    """The statsmodels call for each of R's three models, with an optimizer that reaches the
    optimum: on this sample statsmodels' default stops 1 log-likelihood unit short of it for the
    variance-components model while reporting convergence, and L-BFGS alone drives a single
    random intercept to zero (log-likelihood inf), so each model gets the one that works."""
    if name == "three_level":
        model = smf.mixedlm(FIXED, data, groups="school", re_formula="1", vc_formula={"classroom": "0 + C(classroom)"})
    else:
        model = smf.mixedlm(FIXED, data, groups="school" if name == "ignoring_classes" else "classroom")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit(reml=True, **({"method": "lbfgs"} if name == "three_level" else {}))


FITS = {name: fit_statsmodels(name) for name in MODELS}


def test_reference_csv_is_lecture_samples_and_current():
    from reference.export_three_level import three_level_csv_text  # noqa: PLC0415  (tests/ is on sys.path)

    assert (REFERENCE_DIR / "three_level.csv").read_text() == three_level_csv_text()
    meta = REFERENCE["data"]
    assert sha256_of(REFERENCE_DIR.parent.parent / meta["path"]) == meta["sha256"]


def variances(name: str, result) -> dict:
    """Each level's variance, named as lme4's VarCorr names it."""
    out = {"Residual": result.scale}
    between = result.cov_re.iloc[0, 0]
    if name == "three_level":
        out.update({"school": between, "school:classroom": result.vcomp[0]})
    else:
        out["school" if name == "ignoring_classes" else "school:classroom"] = between
    return out


@pytest.mark.parametrize("name", MODELS)
def test_statsmodels_fit_matches_lme4(name):
    ref, result = MODELS[name], FITS[name]
    assert ref["lme4_messages"] == []
    assert result.llf == pytest.approx(ref["loglik"], abs=1e-5)
    np.testing.assert_allclose(result.fe_params, ref["fixed"]["estimate"], rtol=ESTIMATE_RTOL)
    # lme4's standard errors are sqrt(diag((X'V^-1 X)^-1)), which helpers.smallsample reports;
    # statsmodels' bse_fe invert its joint Hessian of all parameters, which differs by ~0.2%
    # when classes are a variance component.
    np.testing.assert_allclose(satterthwaite(result)["std_error"], ref["fixed"]["std_error"], rtol=ESTIMATE_RTOL)
    np.testing.assert_allclose(result.bse_fe, ref["fixed"]["std_error"], rtol=BSE_RTOL)
    ours = variances(name, result)
    assert ours.keys() == ref["variances"].keys()
    for level, value in ref["variances"].items():
        assert ours[level] == pytest.approx(value, rel=OTHER_RTOL), level


def test_predicted_school_and_class_effects_match_lme4():
    effects = predicted_effects(FITS["three_level"])
    ref = MODELS["three_level"]["effects"]
    schools = effects[effects["term"] == "Intercept"]
    assert [str(u) for u in schools["unit"]] == ref["school"]["level"]
    np.testing.assert_allclose(schools["estimate"], ref["school"]["estimate"], rtol=OTHER_RTOL, atol=1e-6)
    np.testing.assert_allclose(schools["cond_sd"] ** 2, ref["school"]["cond_var"], rtol=OTHER_RTOL)
    classes = effects[effects["term"] == "classroom"]
    assert [f"{g}:{u}" for g, u in zip(classes["group"], classes["unit"])] == ref["school:classroom"]["level"]
    np.testing.assert_allclose(classes["estimate"], ref["school:classroom"]["estimate"], rtol=OTHER_RTOL, atol=1e-6)
    np.testing.assert_allclose(classes["cond_sd"] ** 2, ref["school:classroom"]["cond_var"], rtol=OTHER_RTOL)


def test_ignoring_the_middle_level_understates_the_class_level_standard_error():
    """What lecture 11 shows, as R computes it: the teacher's experience varies between classes,
    so without class effects its SE is too small (as if each pupil were a separate class)."""
    se = {name: dict(zip(m["fixed"]["term"], m["fixed"]["std_error"])) for name, m in MODELS.items()}
    assert se["ignoring_classes"]["experience_c"] < 0.7 * se["three_level"]["experience_c"]
    assert se["ignoring_classes"]["hours_c"] == pytest.approx(se["three_level"]["hours_c"], rel=0.1)


@pytest.mark.slow
@pytest.mark.needs_r
def test_reference_is_current(tmp_path):
    """Rerun the R script: its numbers must equal the committed ones, to rounding."""
    assert_same_numbers(rerun(SCRIPT, tmp_path), REFERENCE)


# ----------------------------------------------------------------------------- the simulator


def test_same_seed_same_sample_and_another_seed_differs():
    a, b = simulate_three_level(seed=3), simulate_three_level(seed=3)
    pd.testing.assert_frame_equal(a.data, b.data)
    assert not simulate_three_level(seed=5).data["score"].equals(a.data["score"])


def test_structure_is_nested_and_unbalanced():
    s = simulate_three_level(n_schools=30, seed=8, classes_per_school=(1, 4), pupils_per_class=(2, 25))
    d = s.data
    assert list(d.columns) == ["school", "classroom", "pupil", "hours", "experience", "score"]
    assert (d.groupby("classroom")["school"].nunique() == 1).all()  # each class in one school
    assert (d.groupby("classroom")["experience"].nunique() == 1).all()  # a class-level covariate
    per_school = d.groupby("school")["classroom"].nunique()
    assert per_school.between(1, 4).all() and per_school.nunique() > 1
    sizes = d.groupby("classroom").size()
    assert sizes.between(2, 25).all() and sizes.max() >= 4 * sizes.min()
    assert s.classes["n"].tolist() == sizes.tolist()
    assert s.schools["n"].tolist() == d.groupby("school").size().tolist()
    assert s.schools["n_classes"].tolist() == per_school.tolist()


def test_scores_follow_the_model_with_the_realised_effects():
    s = simulate_three_level(n_schools=60, seed=2)
    d, t = s.data, s.truth
    u = s.classes.set_index("classroom")["u"].reindex(d["classroom"]).to_numpy()
    v = s.schools.set_index("school")["v"].reindex(d["school"]).to_numpy()
    mean = t["intercept"] + t["slope"] * (d["hours"] - t["hours_mean"]) + t["experience_effect"] * d["experience"]
    residual = d["score"] - mean - u - v
    assert residual.std() == pytest.approx(t["residual_sd"], rel=0.05)
    assert abs(residual.mean()) < 4 * t["residual_sd"] / np.sqrt(len(d))
    assert np.std(s.classes["u"]) == pytest.approx(t["class_sd"], rel=0.15)
    assert np.std(s.schools["v"]) == pytest.approx(t["school_sd"], rel=0.3)


def test_true_variances_and_iccs():
    s = simulate_three_level(seed=1, school_sd=2.0, class_sd=1.0, residual_sd=4.0)
    assert s.variances.to_dict() == {"school": 4.0, "class": 1.0, "pupil": 16.0}
    assert s.icc["school"] == pytest.approx(4 / 21) and s.icc["class"] == pytest.approx(5 / 21)


@pytest.mark.slow
def test_a_large_sample_recovers_each_levels_variance():
    s = simulate_three_level(n_schools=150, seed=11, school_sd=4.0, class_sd=3.0, residual_sd=8.0)
    data = s.data.assign(
        hours_c=lambda d: d["hours"] - d["hours"].mean(),
        experience_c=lambda d: d["experience"] - d["experience"].mean(),
    )
    result = fit_statsmodels("three_level", data)
    assert result.cov_re.iloc[0, 0] == pytest.approx(16, rel=0.3)
    assert result.vcomp[0] == pytest.approx(9, rel=0.3)
    assert result.scale == pytest.approx(64, rel=0.05)
    assert result.fe_params["experience_c"] == pytest.approx(0.3, abs=4 * result.bse_fe["experience_c"])


@pytest.mark.parametrize(
    "kwargs,error,message",
    [
        ({"seed": None}, TypeError, "seed"),
        ({"seed": 1, "n_schools": 1}, ValueError, "n_schools"),
        ({"seed": 1, "classes_per_school": (3, 2)}, ValueError, r"classes_per_school\[1\]"),
        ({"seed": 1, "pupils_per_class": [2, 5]}, TypeError, "tuple"),
        ({"seed": 1, "class_sd": -1.0}, ValueError, "class_sd"),
        ({"seed": 1, "residual_sd": 0.0}, ValueError, "residual_sd"),
        ({"seed": 1, "slope": float("nan")}, ValueError, "slope"),
    ],
)
def test_bad_arguments_are_named(kwargs, error, message):
    with pytest.raises(error, match=message):
        simulate_three_level(**kwargs)


# ----------------------------------------------------------------------------- profile-likelihood intervals

PROFILE_NAMES = ("school", "class")
# R's profile intervals (lecture 11 reads them too), written by PROFILE_SCRIPT from tests/reference/three_level.csv.
PROFILE_SCRIPT = REFERENCE_DIR / "make_nested_profile_reference.R"
PROFILE_REFERENCE = json.loads((REFERENCE_DIR / "nested_profile_reference.json").read_text())


def test_profile_intervals_are_lme4s_and_a_direct_reml_profiles():
    """ML: lme4's confint(method = "profile"); REML (what lecture 11 prints): the REML likelihood written out
    in R from V school by school and profiled there, for the three SDs and the two ICCs."""
    r = PROFILE_REFERENCE
    three = smf.mixedlm(FIXED, PUPILS, groups="school", re_formula="1", vc_formula={"classroom": "0 + C(classroom)"})
    ml = nested_profile_intervals(three.fit(reml=False, method="lbfgs"), names=PROFILE_NAMES)
    sds = ["sd school", "sd class", "sd Residual"]
    np.testing.assert_allclose(ml.loc[sds, "ci_low"], r["ml"]["ci_low"], rtol=1e-4)
    np.testing.assert_allclose(ml.loc[sds, "ci_high"], r["ml"]["ci_high"], rtol=1e-4)
    reml = nested_profile_intervals(FITS["three_level"], names=PROFILE_NAMES)
    assert reml.loc["sd school", "estimate"] == pytest.approx(r["reml"]["sd_school"]["estimate"], rel=1e-5)
    names = zip(sds + ["ICC school", "ICC class"], ["sd_school", "sd_class", "sigma", "icc_school", "icc_class"])
    for ours, theirs in names:
        expected = [r["reml"][theirs][k] for k in ("estimate", "ci_low", "ci_high")]
        np.testing.assert_allclose(reml.loc[ours].to_numpy(), expected, rtol=1e-4, err_msg=ours)


@pytest.mark.slow
@pytest.mark.needs_r
def test_the_profile_reference_is_current(tmp_path):
    assert_same_numbers(rerun(PROFILE_SCRIPT, tmp_path), PROFILE_REFERENCE)


def test_profile_intervals_refuse_other_models_and_levels():
    with pytest.raises(NestedProfileError, match="variance component"):
        nested_profile_intervals(FITS["ignoring_classes"])
    with pytest.raises(NestedProfileError, match="level"):
        nested_profile_intervals(FITS["three_level"], level=95)
    with pytest.raises(NestedProfileError, match="MixedLM"):
        nested_profile_intervals(smf.ols(FIXED, PUPILS).fit())


@pytest.mark.slow
def test_profile_intervals_are_asymmetric():
    """The intervals of the SDs are asymmetric, longer above the estimate than below, as a Wald interval is not."""
    table = nested_profile_intervals(FITS["three_level"], names=PROFILE_NAMES)
    low, high = table["estimate"] - table["ci_low"], table["ci_high"] - table["estimate"]
    sds = ["sd school", "sd class"]
    assert (low > 0).all() and (high > 0).all() and (high.loc[sds] > low.loc[sds]).all()
