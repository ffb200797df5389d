"""Lecture 06 (random intercepts): every number it computes or states, against R.

R's numbers come from tests/reference/r_reference.json (make_reference.R: nlme run to its
optimum on the same models, centred age, the first-three-patients subsample and GPs 1-11) and
tests/reference/profile_reference.json (make_profile_reference.R: REML profile intervals, the ICCs').
"""

from __future__ import annotations

import numpy as np
import pytest

from helpers.data import load_gp_cholesterol
from tests.lecture_values import lecture_text, lecture_values
from tests.r_reference import PROFILE, assert_states, close, fixed, gp, nlme, random_sd, ranef

pytestmark = pytest.mark.slow
LECTURE = "06-random-intercepts"
TEXT = lecture_text(LECTURE)
AGE_MEAN = load_gp_cholesterol()["age"].mean()


def values(*expressions):
    return lecture_values(LECTURE, *expressions)


def test_the_random_intercept_fit_is_nlmes():
    v = values(
        "nlme_summary(ri).fixed",
        "nlme_summary(ri).random_sd",
        "float(ri.llf)",
        "[nlme_summary(ri).aic, nlme_summary(ri).bic]",
        "ri.fe_params.to_numpy()",
        "[float(ri.cov_re.iloc[0, 0]), float(ri.scale)]",
    )
    ref = fixed("ri_c_reml")
    close(v["nlme_summary(ri).fixed"][["estimate", "std_error", "t"]], ref[["estimate", "std_error", "t"]], 1e-5)
    assert v["nlme_summary(ri).fixed"]["df"].tolist() == ref["df"].tolist() == [428, 428]
    close(v["nlme_summary(ri).random_sd"], random_sd("ri_c_reml"), 1e-5)
    close(v["float(ri.llf)"], nlme("ri_c_reml")["loglik"], 0, 1e-5)
    close(v["[nlme_summary(ri).aic, nlme_summary(ri).bic]"], [nlme("ri_c_reml")["aic"], nlme("ri_c_reml")["bic"]], 1e-7)
    # statsmodels' own estimates, which the summary and the prose read, to its stopping rule.
    close(v["ri.fe_params.to_numpy()"], ref["estimate"], 1e-5)
    close(v["[float(ri.cov_re.iloc[0, 0]), float(ri.scale)]"], random_sd("ri_c_reml") ** 2, 1e-3)
    sd = random_sd("ri_c_reml")
    assert_states(
        TEXT,
        (ref.loc["age_c", "estimate"], ".3f"),
        (ref.loc["age_c", "std_error"], ".3f"),
        (sd.iloc[0] ** 2, ".3f"),
        (sd.iloc[1] ** 2, ".3f"),
        (sd.iloc[0], ".3f"),
        (sd.iloc[1], ".3f"),
    )


def test_the_data_facts_the_prose_uses():
    ages = load_gp_cholesterol()["age"]
    # The average age, and the youngest patient's (age 0 lies that many years below).
    assert_states(TEXT, (ages.mean(), ".1f"), (ages.min(), ".0f"))


def test_reml_against_ml():
    v = values("reml_vs_ml")
    table = v["reml_vs_ml"]
    close(table["ML"], [*fixed("ri_c_ml")["estimate"], *random_sd("ri_c_ml")], 1e-5)
    close(table["REML"], [*fixed("ri_c_reml")["estimate"], *random_sd("ri_c_reml")], 1e-5)
    shrink = 1 - random_sd("ri_c_ml").iloc[0] / random_sd("ri_c_reml").iloc[0]
    assert round(100 * shrink) == 4 and "4 % smaller" in TEXT


def test_iccs_and_the_design_effect():
    v = values("icc(ri)", "icc(ri_ml)", "icc(null)", "design_effect", "nlme_summary(null).random_sd")
    icc = gp("icc")
    close([v["icc(ri)"], v["icc(ri_ml)"], v["icc(null)"]], [icc["ri_reml"], icc["ri_ml"], icc["ri_null_reml"]], 1e-5)
    close(v["nlme_summary(null).random_sd"], random_sd("ri_null_reml"), 1e-5)
    n_bar = nlme("ri_null_reml")["nobs"] / nlme("ri_null_reml")["ngroups"]
    design_effect = 1 + (n_bar - 1) * icc["ri_null_reml"]
    adjusted = 1 + (n_bar - 1) * icc["ri_reml"]
    close(v["design_effect"], design_effect, 1e-5)
    assert_states(
        TEXT,
        (icc["ri_null_reml"], ".3f"),
        (design_effect, ".1f"),
        (441 / design_effect, ".0f"),
        (adjusted, ".1f"),
        (441 / adjusted, ".0f"),
        (icc["ri_reml"], ".2f"),
        (random_sd("ri_null_reml").iloc[0], ".3f"),
        (random_sd("ri_null_reml").iloc[1], ".3f"),
    )


def test_blups_and_the_shrinkage_formula():
    v = values("blups", "by_gp", "{n: shrinkage_factor(n) for n in [1, 2, 3, 5, 10, 36]}")
    u = ranef("ri_c_reml")["(Intercept)"]
    close(v["blups"], u, 1e-3, 1e-4)
    var_u, var_e = random_sd("ri_c_reml") ** 2
    shrinkage = {n: var_u / (var_u + var_e / n) for n in (1, 2, 3, 5, 10, 36, 39)}
    close(v["by_gp"]["shrinkage"], [shrinkage[n] for n in v["by_gp"]["n"]], 1e-4)
    factors = v["{n: shrinkage_factor(n) for n in [1, 2, 3, 5, 10, 36]}"]
    close(list(factors.values()), [shrinkage[n] for n in factors], 1e-4)
    assert np.isclose(shrinkage[1], gp("icc")["ri_reml"])
    assert_states(TEXT, (shrinkage[36], ".3f"), (shrinkage[39], ".3f"), (u[2], ".2f"), (-u[12], ".2f"))


def test_shrinkage_with_three_patients_per_gp():
    v = values("first3_lambda", "sorted(set(moved.round(3)))", "len(first3)")
    var_u, var_e = random_sd("ri_c_first3_reml") ** 2
    factor = var_u / (var_u + var_e / 3)
    assert v["len(first3)"] == nlme("ri_c_first3_reml")["nobs"] == 36
    close(v["first3_lambda"], factor, 1e-3)
    assert v["sorted(set(moved.round(3)))"] == [round(1 - factor, 3)]
    assert_states(TEXT, (factor, ".2f"), (100 * (1 - factor), ".0f"))


def test_adding_gp_12():
    v = values(
        "float(ri_11.fe_params['age_c'])",
        "at_61.to_numpy()",
        "at_0.to_numpy()",
        "[centre - 1.96 * spread, centre + 1.96 * spread]",
        "float(ri.fe_params['Intercept'] + blups[12])",
    )
    all12, first11 = fixed("ri_c_reml"), fixed("ri_c_gp1to11_reml")
    close(v["float(ri_11.fe_params['age_c'])"], first11.loc["age_c", "estimate"], 1e-5)
    levels_12 = all12.loc["(Intercept)", "estimate"] + ranef("ri_c_reml")["(Intercept)"].loc[1:11]
    levels_11 = first11.loc["(Intercept)", "estimate"] + ranef("ri_c_gp1to11_reml")["(Intercept)"]
    close(v["at_61.to_numpy()"], levels_12 - levels_11, 0, 2e-4)
    slope_change = all12.loc["age_c", "estimate"] - first11.loc["age_c", "estimate"]
    # At age 0 each level moves by the change at 61.8 minus the slope change times the mean age.
    close(v["at_0.to_numpy()"], levels_12 - levels_11 - slope_change * AGE_MEAN, 0, 2e-4)
    sd_11 = random_sd("ri_c_gp1to11_reml").iloc[0]
    centre = first11.loc["(Intercept)", "estimate"]
    close(v["[centre - 1.96 * spread, centre + 1.96 * spread]"], [centre - 1.96 * sd_11, centre + 1.96 * sd_11], 1e-4)
    close(
        v["float(ri.fe_params['Intercept'] + blups[12])"],
        all12.loc["(Intercept)", "estimate"] + ranef("ri_c_reml")["(Intercept)"][12],
        1e-4,
    )
    assert_states(
        TEXT,
        (first11.loc["age_c", "estimate"], ".4f"),
        (all12.loc["age_c", "estimate"], ".4f"),
        (np.abs(levels_12 - levels_11).max(), ".3f"),
        (-slope_change * AGE_MEAN, ".2f"),
    )


def test_exercise_solutions():
    v = values("design_effect_20", "gps_needed")
    icc = gp("icc")["ri_null_reml"]
    close(v["design_effect_20"], 1 + 19 * icc, 1e-5)
    close(v["gps_needed"], 441 * (1 + 19 * icc) / 20, 1e-5)
    var_u, var_e = random_sd("ri_c_reml") ** 2
    for n, predicted in [(4, "0.66"), (36, "0.78")]:
        assert f"{var_u / (var_u + var_e / n) * 0.8:.2f}" == predicted and predicted in TEXT
    factor_4 = var_u / (var_u + var_e / 4)
    sd_4, sd_36 = (np.sqrt(var_u / (var_u + var_e / n) * var_e / n) for n in (4, 36))  # SD of u_0k given the data
    assert_states(TEXT, (sd_4, ".3f"), (sd_36, ".3f"))
    assert_states(TEXT, (0.8 * factor_4 - 1.96 * sd_4, ".2f"), (0.8 * factor_4 + 1.96 * sd_4, ".1f"))
    assert_states(TEXT, (1 + 19 * icc, ".2f"), (np.ceil(441 * (1 + 19 * icc) / 20), ".0f"))


def test_the_unconditional_icc_interval_and_what_it_does_to_the_design_effect():
    v = values("null_icc", "design_effects", "gps_range")
    icc, low, high = PROFILE["null_icc"]
    close(v["null_icc"], [icc, low, high], 1e-4)
    n_bar = nlme("ri_null_reml")["nobs"] / nlme("ri_null_reml")["ngroups"]
    effects = 1 + (n_bar - 1) * np.array([low, high])
    close(v["design_effects"].iloc[1:], effects, 1e-4)
    gps = np.ceil(441 * (1 + 19 * np.array([low, high])) / 20)
    close(v["gps_range"], gps)
    assert_states(
        TEXT,
        (low, ".2f"),
        (high, ".2f"),
        (effects[0], ".1f"),
        (effects[1], ".1f"),
        (441 / effects[0], ".0f"),
        (441 / effects[1], ".0f"),
        (gps[0], ".0f"),
        (gps[1], ".0f"),
    )


def test_the_blups_conditional_sds():
    """The SD of u_0k given the data, at R's estimates: sqrt(lambda_k sigma^2 / n_k)."""
    v = values("blup_sd", "by_gp")
    var_u, var_e = random_sd("ri_c_reml") ** 2
    n = v["by_gp"]["n"]
    conditional_sd = np.sqrt(var_u / (var_u + var_e / n) * var_e / n)
    close(v["blup_sd"], conditional_sd, 1e-3)
    assert_states(TEXT, (conditional_sd[2], ".2f"), (conditional_sd[12], ".2f"))


def test_variance_parameters_get_profile_intervals_against_r():
    """The REML profile intervals of tests/reference/profile_reference.json (make_profile_reference.R), and the
    Wald interval of statsmodels' doctor Var that the prose shows reaching below zero."""
    v = values("variance_ci", "[float(ri.cov_re.iloc[0, 0]), float(ri.bse_re.iloc[0])]")
    reference = PROFILE["reml_profile"]["ri"]
    table = v["variance_ci"]
    for name, (_, low, high) in reference.items():
        close(table.loc[name, ["ci_low", "ci_high"]], [low, high], 1e-4)
    (sd_low, sd_high), (res_low, res_high) = reference["sd (Intercept)"][1:], reference["sd Residual"][1:]
    icc_low, icc_high = reference["ICC"][1:]
    assert_states(
        TEXT,
        (sd_low, ".2f"),
        (sd_high, ".2f"),
        (res_low, ".3f"),
        (res_high, ".3f"),
        (icc_low, ".2f"),
        (icc_high, ".2f"),
    )
    variance, se = v["[float(ri.cov_re.iloc[0, 0]), float(ri.bse_re.iloc[0])]"]
    close(variance, random_sd("ri_c_reml")["(Intercept)"] ** 2, 1e-3)
    wald = variance + np.array([-1.96, 1.96]) * se
    assert wald[0] < 0  # "it includes negative variances"
    assert_states(TEXT, (variance, ".3f"), (se, ".3f"), (-wald[0], ".2f"), (wald[1], ".2f"))
