"""Lecture 08 (random slopes): every number it computes or states, against R.

R's numbers: tests/reference/r_reference.json (nlme run to its optimum, lme4, lmerTest and pbkrtest df,
anova()) and profile_reference.json (profile-likelihood intervals, the coverage R predicts).
The cells showing statsmodels' failed fit on raw age are not compared with the stored ones (where a failing optimiser
stops differs between CPUs); what the prose says about them is checked here.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from helpers.data import load_gp_cholesterol
from tests.lecture_values import lecture_text, lecture_values
from tests.r_reference import PROFILE, assert_states, close, fixed, gp, nlme, random_sd, ranef

pytestmark = pytest.mark.slow
LECTURE = "08-random-slopes"
TEXT = lecture_text(LECTURE)
DATA = load_gp_cholesterol()


def values(*expressions):
    return lecture_values(LECTURE, *expressions)


def t_interval(estimate, se, df):
    half = stats.t.ppf(0.975, df) * se
    return [estimate - half, estimate + half]


def test_the_random_slope_fit_is_nlmes():
    v = values(
        "nlme_summary(rs).fixed",
        "nlme_summary(rs).random_sd",
        "nlme_summary(rs).random_corr.iloc[0, 1]",
        "bool(rs.converged)",
        "float(rs.llf)",
        "[fixed['age_c'] - 1.96 * sd['age_c'], fixed['age_c'] + 1.96 * sd['age_c']]",
    )
    ref = fixed("rs_c_reml")
    close(v["nlme_summary(rs).fixed"][["estimate", "std_error", "t"]], ref[["estimate", "std_error", "t"]], 1e-5)
    assert v["nlme_summary(rs).fixed"]["df"].tolist() == [428, 428]
    close(v["nlme_summary(rs).random_sd"], random_sd("rs_c_reml"), 1e-4)
    rho = nlme("rs_c_reml")["random_corr"][0][1]
    close(v["nlme_summary(rs).random_corr.iloc[0, 1]"], rho, 1e-3)
    assert v["bool(rs.converged)"]
    close(v["float(rs.llf)"], nlme("rs_c_reml")["loglik"], 0, 1e-5)
    slope, sd = ref.loc["age_c", "estimate"], random_sd("rs_c_reml")["age_c"]
    close(
        v["[fixed['age_c'] - 1.96 * sd['age_c'], fixed['age_c'] + 1.96 * sd['age_c']]"],
        [slope - 1.96 * sd, slope + 1.96 * sd],
        1e-4,
    )
    assert (slope + 1.96 * sd) / (slope - 1.96 * sd) > 5  # "varies more than fivefold"
    assert_states(TEXT, (slope, ".4f"), (sd, ".4f"), (rho, ".2f"))


def test_the_gp_effects_and_the_reading_at_a_centred_age():
    v = values("effects", "below.to_numpy()")
    u = ranef("rs_c_reml")
    close(v["effects"]["level at 61.8 (u_0k)"], u["(Intercept)"], 1e-3, 1e-4)
    close(v["effects"]["slope deviation (u_1k)"], u["age_c"], 1e-3, 1e-5)
    slopes = fixed("rs_c_reml").loc["age_c", "estimate"] + u["age_c"]
    assert slopes.idxmin() == 8 and list(slopes.nlargest(2).index) == [7, 4]
    ages = DATA.loc[DATA["doctor"] == 8, "age"].agg(["min", "max"]).to_numpy()
    below = u.loc[8, "(Intercept)"] + u.loc[8, "age_c"] * (ages - DATA["age"].mean())
    close(v["below.to_numpy()"], below, 1e-3)
    assert below[1] < -1 and abs(below[0]) < 0.2  # "close to the average GP", "more than 1 mmol/L below"
    assert_states(
        TEXT,
        (slopes[8], ".3f"),
        (-u.loc[8, "(Intercept)"], ".2f"),
        (slopes[7], ".3f"),
        (slopes[4], ".3f"),
        (-u.loc[7, "(Intercept)"], ".2f"),
        (u.loc[4, "(Intercept)"], ".2f"),
    )
    # Read at age 0, the same lines: nlme's fit of the same model on raw age.
    rho_at_0 = nlme("rs_reml")["random_corr"][0][1]
    close(values("float(rho_at_0)")["float(rho_at_0)"], rho_at_0, 1e-3)
    assert rho_at_0 < -0.8  # "a strongly negative correlation"
    assert_states(TEXT, (rho_at_0, ".2f"))


def test_the_trap_of_raw_age():
    v = values("bool(rs_raw.converged)", "float(rs_raw.llf)", "float(rs_raw.bse_fe['age'])")
    assert not v["bool(rs_raw.converged)"]
    assert nlme("rs_reml")["loglik"] - v["float(rs_raw.llf)"] > 10  # "tens of units"
    assert v["float(rs_raw.bse_fe['age'])"] > 5 * fixed("rs_reml").loc["age", "std_error"]  # "many times too large"
    # lme4 on raw age reports a failure too, but stops far closer to the maximum.
    lmer = gp("lmer")["rs_reml"]
    assert not lmer["converged"] and nlme("rs_reml")["loglik"] - lmer["loglik"] < 1


def test_the_data_facts_the_prose_uses():
    ages = DATA["age"]
    # The average age, and the youngest patient's (age 0 lies that many years below).
    assert_states(TEXT, (ages.mean(), ".1f"), (ages.min(), ".0f"))


def test_small_sample_degrees_of_freedom_against_lmertest_and_pbkrtest():
    v = values("rules")
    rules = v["rules"]
    reference = gp("small_sample")["rs_c_reml"]
    i = reference["satterthwaite"]["term"].index("age_c")
    nlme_row = fixed("rs_c_reml").loc["age_c"]
    nlme_interval = t_interval(nlme_row["estimate"], nlme_row["std_error"], 428)
    expected = {"nlme's rule": [nlme_row["std_error"], 428, *nlme_interval]}
    for name, key in [("Satterthwaite", "satterthwaite"), ("Kenward-Roger", "kenward_roger")]:
        r = reference[key]
        expected[name] = [r["std_error"][i], r["df"][i], *t_interval(r["estimate"][i], r["std_error"][i], r["df"][i])]
    expected = pd.DataFrame(expected, index=["std_error", "df", "ci_low", "ci_high"]).T
    close(rules, expected, 1e-3)
    widths = expected["ci_high"] - expected["ci_low"]
    wider = (widths / widths["nlme's rule"] - 1) * 100
    assert_states(
        TEXT,
        (expected.loc["Satterthwaite", "df"], ".1f"),
        (expected.loc["Kenward-Roger", "df"], ".1f"),
        *[(expected.loc[row, col], ".4f") for row in expected.index for col in ("ci_low", "ci_high")],
        (wider["Satterthwaite"], ".0f"),
        (wider["Kenward-Roger"], ".0f"),
    )


def test_the_slope_test_is_nlmes_anova():
    v = values("slopes_test", "p_mixture")
    table, slopes = v["slopes_test"], gp("anova")["ri_c_vs_rs_c_reml"]
    close(table[["AIC", "BIC", "logLik"]].to_numpy().T, [slopes["AIC"], slopes["BIC"], slopes["logLik"]], 0, 1e-4)
    close(table["L.Ratio"].iloc[1], slopes["L.Ratio"][1], 1e-4)
    close(table["p-value"].iloc[1], slopes["p-value"][1], 1e-4)
    lr = slopes["L.Ratio"][1]
    mixture = 0.5 * stats.chi2.sf(lr, 1) + 0.5 * stats.chi2.sf(lr, 2)
    close(v["p_mixture"], mixture, 1e-4)
    assert_states(
        TEXT,
        (slopes["logLik"][1] - slopes["logLik"][0], ".2f"),
        (lr, ".2f"),
        (slopes["p-value"][1], ".4f"),
        (mixture, ".4f"),
        (slopes["AIC"][1], ".1f"),
        (slopes["AIC"][0], ".1f"),
        (slopes["BIC"][1], ".1f"),
        (slopes["BIC"][0], ".1f"),
        (np.log(441 - 2), ".2f"),
    )


def test_exercise_solutions():
    v = values("share_negative", "nlme_summary(rs_decades).random_sd", "nlme_summary(rs_decades).fixed")
    ref, sd = fixed("rs_c_reml"), random_sd("rs_c_reml")
    close(v["nlme_summary(rs_decades).random_sd"], [sd.iloc[0], 10 * sd.iloc[1], sd.iloc[2]], 1e-4)
    close(
        v["nlme_summary(rs_decades).fixed"][["estimate", "std_error"]],
        ref[["estimate", "std_error"]].to_numpy() * np.array([[1], [10]]),
        1e-5,
    )
    negative = stats.norm.cdf(0, ref.loc["age_c", "estimate"], sd["age_c"])
    close(v["share_negative"], negative, 1e-3)
    kr = gp("small_sample")["rs_c_reml"]["kenward_roger"]
    assert_states(
        TEXT,
        (10 * ref.loc["age_c", "estimate"], ".3f"),
        (10 * ref.loc["age_c", "std_error"], ".3f"),
        (10 * sd["age_c"], ".3f"),
        ((10 * sd["age_c"]) ** 2, ".3f"),
        (100 * negative, ".1f"),
        (ref.loc["age_c", "estimate"] / sd["age_c"], ".1f"),
        (kr["t"][1], ".2f"),
        (kr["df"][1], ".1f"),
    )
    assert kr["p"][1] / fixed("rs_c_reml").loc["age_c", "p"] > 1e9  # "billions of times larger"


def test_variance_parameters_get_profile_intervals_against_r():
    table = values("variance_ci")["variance_ci"]
    reference = PROFILE["reml_profile"]["rs"]
    for name, (_, low, high) in reference.items():
        close(table.loc[name, ["ci_low", "ci_high"]], [low, high], 1e-4)
    (sd1_low, sd1_high), (rho_low, rho_high) = reference["sd age_c"][1:], reference["cor (Intercept), age_c"][1:]
    assert rho_low < -0.5 and rho_high > 0.5  # "spans most of the range from -1 to 1"
    assert 3.5 < sd1_high / sd1_low < 4.5  # "to within a factor of four"
    assert_states(TEXT, (sd1_low, ".4f"), (sd1_high, ".4f"), (-rho_low, ".2f"), (rho_high, ".2f"))
    for low, estimate, high in [
        (row[1], row[0], row[2]) for row in reference.values() if row is not reference["cor (Intercept), age_c"]
    ]:
        assert high - estimate > estimate - low  # "longer above the estimate than below"


def test_the_random_intercept_interval_covers_as_r_predicts():
    """The simulated coverage against R's: under the fitted random-slope model the random-intercept slope is linear
    in y with SD sqrt(a'Va) (make_profile_reference.R), so its interval covers with a probability R computes."""
    v = values("coverage", "N_SIM", "sum(run['singular'] for run in runs)", "spread")
    coverage, n, spread = v["coverage"], v["N_SIM"], v["spread"]
    predicted = PROFILE["ri_under_rs"]
    ri, rs = coverage.loc["random intercept"], coverage.loc["random slope"]
    assert abs(ri["coverage"] - predicted["coverage"]) < 3 * ri["mc_se"]
    assert abs(rs["coverage"] - 0.95) < 3 * max(rs["mc_se"], np.sqrt(0.95 * 0.05 / n))
    close(coverage["mc_se"], np.sqrt(coverage["coverage"] * (1 - coverage["coverage"]) / n), 1e-9)
    assert 0 < v["sum(run['singular'] for run in runs)"] < 0.1 * n  # "in a few simulated data sets"
    assert f"in {round(n * ri['coverage'])} of {n} data sets" in TEXT and f"in {round(n * rs['coverage'])} (" in TEXT
    simulated = spread.loc["random intercept"]
    assert abs(simulated["sd"] - predicted["ri_slope_true_sd"]) < 3 * simulated["mc_se"]
    close(spread["mc_se"], spread["sd"] / np.sqrt(2 * (n - 1)), 1e-9)
    close(simulated["model_se"], predicted["ri_slope_se"], 1e-4)
    assert_states(
        TEXT,
        (ri["mc_se"], ".3f"),
        (rs["mc_se"], ".3f"),
        (simulated["sd"], ".4f"),
        (simulated["mc_se"], ".4f"),
        (spread.loc["random slope", "sd"], ".4f"),
        (predicted["ri_slope_se"], ".4f"),
        (spread.loc["random slope", "model_se"], ".4f"),
    )
    assert round(simulated["sd"] / predicted["ri_slope_se"]) == 2  # "about twice its standard error"


def test_the_recommended_age_effect_is_the_random_slope_one():
    kr = gp("small_sample")["rs_c_reml"]["kenward_roger"]
    i = kr["term"].index("age_c")
    low, high = t_interval(kr["estimate"][i], kr["std_error"][i], kr["df"][i])
    assert f"0.050 mmol/L per year, 95 % CI {low:.3f} to {high:.3f} (Kenward–Roger, {kr['df'][i]:.1f} df)" in TEXT
