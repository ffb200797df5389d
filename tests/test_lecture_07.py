"""Lecture 07 (within and between): its fits against R, its tests against R, its simulation against the truth.

R's numbers: tests/reference/r_reference.json (make_reference.R: lm for the fixed-effects and
group-level slopes, nlme for the within-between, Mundlak and random-intercept models, anova() for
the likelihood-ratio Mundlak test, and the Hausman statistic from lm and lme). The simulation has a
known truth (within-GP slope 0.05), and what the lecture says about each estimator is checked
against it, within Monte Carlo error.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from helpers.simulate import simulate_schools
from tests.lecture_values import lecture_text, lecture_values
from tests.r_reference import PROFILE, assert_states, close, fixed, gp, nlme

pytestmark = pytest.mark.slow
LECTURE = "07-within-and-between"
TEXT = lecture_text(LECTURE)


def values(*expressions):
    return lecture_values(LECTURE, *expressions)


def test_within_and_between_slopes_are_the_fixed_effects_and_group_level_ones():
    v = values(
        "float(gp_constants.params['age'])",
        "float(within_slope)",
        "float(group_level.params['age'])",
        "float(group_level.bse['age'])",
        "nlme_summary(within_between).fixed",
        "float(weighted.params['age'])",
    )
    fe = gp("lm")["varying_intercept"]["coefficients"]
    between = gp("lm")["grouped"]["coefficients"]
    close([v["float(gp_constants.params['age'])"], v["float(within_slope)"]], [fe["estimate"][-1]] * 2, 1e-9)
    close(
        [v["float(group_level.params['age'])"], v["float(group_level.bse['age'])"]],
        [between["estimate"][-1], between["std_error"][-1]],
        1e-9,
    )
    ref = fixed("wb_reml")
    table = v["nlme_summary(within_between).fixed"]
    close(table[["estimate", "std_error", "t", "p"]], ref[["estimate", "std_error", "t", "p"]], 1e-4)
    assert table["df"].tolist() == ref["df"].tolist() == [428, 428, 10]
    close(ref.loc["age_within", "estimate"], fe["estimate"][-1], 1e-9)  # within = fixed effects, in R too
    close(v["float(weighted.params['age'])"], ref.loc["age_gp_c", "estimate"], 1e-5)
    assert abs(ref.loc["age_gp_c", "estimate"] - between["estimate"][-1]) > 1e-6  # close, not equal
    assert_states(
        TEXT,
        (fe["estimate"][-1], ".6f"),
        (between["estimate"][-1], ".3f"),
        (between["std_error"][-1], ".3f"),
        (ref.loc["age_gp_c", "estimate"], ".4f"),
    )


def test_the_random_intercept_slope_combines_them():
    v = values("float(ri.fe_params['age_c'])", "float(combined)", "precision.to_numpy()")
    ri, wb = fixed("ri_c_reml"), fixed("wb_reml")
    close(v["float(ri.fe_params['age_c'])"], ri.loc["age_c", "estimate"], 1e-5)
    precision = 1 / wb.loc[["age_within", "age_gp_c"], "std_error"].to_numpy() ** 2
    close(v["precision.to_numpy()"], precision, 1e-4)
    combined = precision @ wb.loc[["age_within", "age_gp_c"], "estimate"].to_numpy() / precision.sum()
    close(v["float(combined)"], combined, 1e-6)
    assert round(combined, 5) == round(ri.loc["age_c", "estimate"], 5)
    assert round(precision[0] / precision[1], -2) == 700
    assert_states(TEXT, (ri.loc["age_c", "estimate"], ".5f"))


def test_the_mundlak_test():
    v = values(
        "nlme_summary(mundlak).fixed", "lrt(ri_ml, mundlak_ml)", "float(mundlak.llf)", "float(within_between.llf)"
    )
    ref = fixed("mundlak_reml")
    table = v["nlme_summary(mundlak).fixed"]
    close(table[["estimate", "std_error", "t", "p"]], ref[["estimate", "std_error", "t", "p"]], 1e-4)
    assert table.loc["age_gp_c", "df"] == 10
    within_between = fixed("wb_reml")["estimate"]
    close(ref.loc["age_gp_c", "estimate"], within_between["age_gp_c"] - within_between["age_within"], 1e-6)
    close(v["float(mundlak.llf)"], v["float(within_between.llf)"], 1e-9)  # the same model, rewritten
    close(nlme("mundlak_reml")["loglik"], nlme("wb_reml")["loglik"], 1e-9)
    anova = gp("anova")["ri_c_vs_mundlak_ml"]
    table = v["lrt(ri_ml, mundlak_ml)"]
    close(table[["AIC", "BIC", "logLik"]].to_numpy().T, [anova["AIC"], anova["BIC"], anova["logLik"]], 0, 1e-4)
    close([table["L.Ratio"].iloc[1], table["p-value"].iloc[1]], [anova["L.Ratio"][1], anova["p-value"][1]], 1e-4)
    assert_states(
        TEXT,
        (ref.loc["age_gp_c", "estimate"], ".3f"),
        (ref.loc["age_gp_c", "std_error"], ".3f"),
        (ref.loc["age_gp_c", "t"], ".2f"),
        (ref.loc["age_gp_c", "p"], ".2f"),
        (anova["L.Ratio"][1], ".2f"),
        (anova["p-value"][1], ".2f"),
    )


def test_the_hausman_test():
    v = values("float(difference)", "float(variance)", "float(hausman)")
    ref = gp("hausman")
    close(v["float(difference)"], ref["difference"], 1e-3)
    close(v["float(variance)"], ref["variance_fe"] - ref["variance_re"], 1e-3)
    close(v["float(hausman)"], ref["statistic"], 1e-3)
    assert_states(TEXT, (ref["statistic"], ".2f"), (ref["p"], ".2f"), (abs(ref["difference"]), ".5f"))


def test_the_simulation_shows_what_the_prose_says():
    v = values("runs", "N_REPS", "TRUE_SLOPE")
    runs, reps, truth = v["runs"], v["N_REPS"], v["TRUE_SLOPE"]
    assert truth == 0.05 and reps == 100
    summary = runs.groupby(["world", "estimator"])["slope"].agg(["mean", "std", "size"])
    assert (summary["size"] == reps).all()
    bias = summary["mean"] - truth
    error = summary["std"] / np.sqrt(reps)
    z = bias / error
    large, small = "37 patients per GP", "3 patients per GP"
    for world in (large, small):
        assert abs(z[world, "fixed effects"]) < 2  # unbiased
        for biased in ("pooled OLS", "group-level", "random intercept"):
            assert z[world, biased] > 2.5  # pulled upwards by the confounder
    assert bias[small, "random intercept"] > 4 * bias[large, "random intercept"]
    assert summary.loc[(small, "fixed effects"), "std"] > 3 * summary.loc[(large, "fixed effects"), "std"]
    assert_states(
        TEXT,
        (bias[large, "random intercept"], ".4f"),
        (bias[small, "random intercept"], ".4f"),
        (bias[large, "pooled OLS"], "+.3f"),
        (bias[large, "group-level"], "+.3f"),
        (100 * bias[large, "random intercept"] / truth, ".0f"),
        (100 * bias[small, "random intercept"] / truth, ".0f"),
        (error[small, "fixed effects"], ".4f"),
    )
    assert f"${bias[small, 'fixed effects']:.4f} \\pm {error[small, 'fixed effects']:.4f}$" in TEXT


def test_the_simulated_world_has_the_truth_it_claims():
    """The lecture's worlds are simulate_schools with the parameters its prose states; over many draws their
    GP effects correlate 0.7 with the GPs' mean ages, and the GP mean ages have SD 6 years."""
    arguments = dict(
        n_schools=12,
        intercept=5.97,
        slope=0.05,
        school_sd=0.63,
        residual_sd=0.58,
        hours_mean=61.8,
        hours_between_sd=6.0,
        hours_within_sd=9.0,
        confounding=0.7,
    )
    v = values("gp_world(37, seed=5)")
    expected = simulate_schools(pupils_per_school=37, seed=5, **arguments).data
    pd.testing.assert_frame_equal(
        v["gp_world(37, seed=5)"], expected.rename(columns={"school": "doctor", "hours": "age", "score": "chol"})
    )
    draws = [simulate_schools(pupils_per_school=37, seed=seed, **arguments).schools for seed in range(300)]
    u0 = np.concatenate([d["u0"] for d in draws])
    mean_age = np.concatenate([d["hours_mean"] for d in draws])
    assert abs(np.corrcoef(u0, mean_age)[0, 1] - 0.7) < 0.03
    assert abs(mean_age.std() - 6.0) < 0.2
    assert_states(TEXT, (0.7, ".1f"))


def test_exercise_solutions():
    v = values("no_confounder", "nlme_summary(world_fit).fixed", "slopes")
    no = v["no_confounder"]
    error = no.std() / np.sqrt(len(no))
    assert ((no.mean() - 0.05).abs() < 2.5 * error).all()
    assert no.std().idxmin() == "random intercept"
    sd = no.std()
    assert_states(
        TEXT,
        (sd["random intercept"], ".4f"),
        (sd["fixed effects"], ".4f"),
        (sd["random intercept"] / np.sqrt(2 * (len(no) - 1)), ".4f"),
    )
    table = v["nlme_summary(world_fit).fixed"]
    assert table.loc["age_gp_c", "p"] < 0.05 and table.loc["age_gp_c", "df"] == 10
    assert stats.t.sf(abs(table.loc["age_gp_c", "t"]), 10) * 2 == pytest.approx(table.loc["age_gp_c", "p"])
    slopes = v["slopes"]
    assert abs(slopes["random intercept"] - slopes["fixed effects"]) < 0.002


def test_the_within_part_with_a_random_slope_is_lmers():
    """Kenward-Roger for the within-between model with a random slope on the within part (make_profile_reference.R:
    lmerTest and pbkrtest)."""
    table = values("kenward_roger(wb_slopes)")["kenward_roger(wb_slopes)"]
    reference = PROFILE["within_between_slopes"]
    close(
        table[["estimate", "std_error", "df"]].to_numpy(),
        np.column_stack([reference["estimate"], reference["std_error"], reference["df"]]),
        1e-4,
    )
    i = reference["term"].index("age_within")
    low, high = table.loc["age_within", ["ci_low", "ci_high"]]
    assert_states(
        TEXT,
        (reference["estimate"][i], ".4f"),
        (reference["std_error"][i], ".4f"),
        (reference["df"][i], ".1f"),
        (low, ".3f"),
        (high, ".3f"),
    )
    ri_se = fixed("ri_c_reml").loc["age_c", "std_error"]
    assert round(reference["std_error"][i] / ri_se) == 2  # "twice the standard error"
