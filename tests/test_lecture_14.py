"""Lecture 14 (repeated measures): every number it computes or states, against nlme and geepack.

R's numbers: tests/reference/repeated_measures_reference.json (make_repeated_measures_reference.R: nlme's
growth curve, time counted from the first weighing and from Time = 0, with and without corAR1, the AR(1)
correlation alone, their intervals() and anova(); lme4's profile intervals of the ML growth curve; geepack's
GEE under independence, exchangeable and AR(1) working correlations, on all pigs and on those weighed every
week).
geepack and statsmodels estimate the AR(1) working parameter by different moment formulas, so their AR(1)
fits differ a little; test_the_ar1_gee_is_geepacks_at_statsmodels_phi reruns geepack at statsmodels' phi,
where the two must agree exactly.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from scipy import stats

from helpers.profile import profile_intervals

from tests.lecture_values import lecture_text, lecture_values
from tests.r_reference import assert_states, close
from tests.rscript import assert_same_numbers, rerun

pytestmark = pytest.mark.slow
LECTURE = "14-repeated-measures"
TEXT = lecture_text(LECTURE)
REFERENCE_DIR = Path(__file__).resolve().parent / "reference"
SCRIPT = REFERENCE_DIR / "make_repeated_measures_reference.R"
R = json.loads((REFERENCE_DIR / "repeated_measures_reference.json").read_text())
DIETOX = pd.read_csv(REFERENCE_DIR / "dietox.csv")


def values(*expressions):
    return lecture_values(LECTURE, *expressions)


def slope(model: dict, what: str = "estimate") -> float:
    fixed = model["fixed"]
    return fixed[what][fixed["term"].index("week")]


def test_the_data():
    v = values("len(dietox)", "int(dietox['Pig'].nunique())", "weighings['size'].value_counts().to_dict()")
    sizes = DIETOX.groupby("Pig").size()
    assert v["len(dietox)"] == len(DIETOX) == 861 and v["int(dietox['Pig'].nunique())"] == 72
    assert v["weighings['size'].value_counts().to_dict()"] == sizes.value_counts().to_dict() == {12: 69, 11: 3}
    # "three pigs that miss only the last week": their series are weeks 1 to 11
    for pig in sizes[sizes < 12].index:
        assert DIETOX.loc[DIETOX["Pig"] == pig, "Time"].tolist() == list(range(1, 12))


def test_the_growth_curve_is_nlmes():
    v = values(
        "nlme_summary(growth).fixed",
        "nlme_summary(growth).random_sd",
        "float(nlme_summary(growth).random_corr.iloc[0, 1])",
        "float(growth.llf)",
        "bool(growth.converged)",
    )
    ref = R["growth"]
    table = v["nlme_summary(growth).fixed"]
    close(table["estimate"], ref["fixed"]["estimate"], 1e-5)
    close(table["std_error"], ref["fixed"]["std_error"], 1e-4)
    assert table["df"].tolist() == ref["fixed"]["df"]
    close(v["nlme_summary(growth).random_sd"], list(ref["random_sd"].values()), 1e-4)
    close(v["float(nlme_summary(growth).random_corr.iloc[0, 1])"], ref["random_corr"], 1e-3)
    close(v["float(growth.llf)"], ref["loglik"], 0, 1e-5)
    sd = ref["random_sd"]
    rate, se = slope(ref), slope(ref, "std_error")
    assert_states(
        TEXT,
        (rate, ".2f"),
        (se, ".3f"),
        (sd["week"], ".2f"),
        (sd["(Intercept)"], ".1f"),
        (sd["Residual"], ".1f"),
        (ref["random_corr"], ".2f"),
        (ref["fixed"]["estimate"][0], ".1f"),
        (rate - 1.96 * sd["week"], ".1f"),
        (rate + 1.96 * sd["week"], ".1f"),
    )


def test_the_time_origin():
    """Counted from Time = 0 the fit is the same model: only sigma_0 and rho change (nlme, both origins)."""
    origins = values("origins")["origins"]
    for row, ref in zip(origins.index, (R["growth"], R["from_week0"])):
        rate, sd = ref["fixed"]["estimate"][1], list(ref["random_sd"].values())
        close(origins.loc[row], [ref["loglik"], rate, *sd, ref["random_corr"]], 1e-4, 1e-5)
    old, new = R["from_week0"], R["growth"]
    close(old["loglik"], new["loglik"], 1e-9)
    close(list(old["random_sd"].values())[1:], list(new["random_sd"].values())[1:], 1e-5)
    assert_states(TEXT, (old["random_sd"]["(Intercept)"], ".1f"), (old["random_corr"], ".2f"))


def test_the_profile_intervals_of_the_growth_curve():
    """The helper's profile on this model matches lme4's (ML: what lme4 profiles); the lecture's REML
    intervals agree with nlme's Wald intervals to the digits the prose says they do."""
    data = DIETOX.assign(week=DIETOX["Time"] - 1)
    ml = smf.mixedlm("Weight ~ week", data, groups="Pig", re_formula="~ week").fit(
        reml=False, method="nm", maxiter=5000
    )
    ours = profile_intervals(ml)
    lme4 = R["growth_ml_profile"]
    rows = {
        "sd_(Intercept)|Pig": "sd (Intercept)",
        "cor_week.(Intercept)|Pig": "cor (Intercept), week",
        "sd_week|Pig": "sd week",
        "sigma": "sd Residual",
    }
    for term, low, high in zip(lme4["term"], lme4["lower"], lme4["upper"]):
        close(ours.loc[rows[term], ["ci_low", "ci_high"]].to_numpy(float), [low, high], 1e-4, 1e-4)
    lecture = values("growth_intervals")["growth_intervals"]
    wald = R["growth_intervals"]
    for name, ref, fmt in [
        ("sd (Intercept)", "sd((Intercept))", ".1f"),
        ("sd week", "sd(week)", ".2f"),
        ("cor (Intercept), week", "cor((Intercept),week)", ".2f"),
    ]:
        close(lecture.loc[name, "estimate"], wald[ref]["estimate"], 1e-4, 1e-5)
        # "close to the profile intervals, a little shorter at the top"
        assert abs(lecture.loc[name, "ci_low"] - wald[ref]["lower"]) < 0.03 * lecture.loc[name, "estimate"]
        assert 0 < lecture.loc[name, "ci_high"] - wald[ref]["upper"] < 0.02 * lecture.loc[name, "estimate"]
        assert_states(
            TEXT,
            *[
                (abs(x), fmt)
                for x in (
                    lecture.loc[name, "ci_low"],
                    lecture.loc[name, "ci_high"],
                    wald[ref]["lower"],
                    wald[ref]["upper"],
                )
            ],
        )
    # "an interval of about +-18% around 0.65"
    sd_week = lecture.loc["sd week"]
    assert_states(TEXT, (100 * (sd_week["ci_high"] - sd_week["ci_low"]) / 2 / sd_week["estimate"], ".0f"))


def lag_correlations(residuals: np.ndarray) -> pd.Series:
    """Correlation of a pig's residuals h weeks apart, all pigs' pairs pooled, from R's residuals."""
    frame = DIETOX[["Pig", "Time"]].assign(r=residuals).set_index(["Pig", "Time"])["r"]
    out = {}
    for h in range(1, 9):
        later = frame.copy()
        later.index = pd.MultiIndex.from_arrays([later.index.get_level_values(0), later.index.get_level_values(1) - h])
        both = pd.concat([frame, later], axis=1, join="inner").dropna()
        out[h] = np.corrcoef(both.iloc[:, 0], both.iloc[:, 1])[0, 1]
    return pd.Series(out)


def test_the_residual_autocorrelation_by_lag():
    v = values("by_lag")
    expected = lag_correlations(np.array(R["growth"]["residuals"]))
    close(v["by_lag"].to_numpy(), expected.to_numpy(), 1e-3, 1e-4)
    # "at longer lags the correlation turns negative, reaching -0.55 at five weeks"
    assert (expected.loc[3:] < 0).all() and expected.idxmin() == 5
    assert_states(TEXT, (expected[1], ".2f"), (expected[2], ".2f"), (-expected.min(), ".2f"))


def test_what_the_prose_says_of_nlmes_ar1_fit():
    """statsmodels cannot fit it, so the lecture states R's numbers: those every optimiser agrees on."""
    fits = [R["ar1"], *R["ar1_other_optimisers"].values()]
    assert R["ar1"]["default_optimiser_fails"]
    assert len({format(slope(f), ".2f") for f in fits}) == 1, "optimisers disagree on the rate"
    assert_states(TEXT, (slope(R["ar1"]), ".2f"))
    # "SE ... 0.083 (0.082 with other optimisers)", "sigma_1 = 0.52 (0.51 with other optimisers)"
    for numbers, fmt in (
        ([slope(f, "std_error") for f in fits], ".3f"),
        ([f["random_sd"]["week"] for f in fits], ".2f"),
    ):
        assert_states(TEXT, (numbers[0], fmt), (min(numbers), fmt), (max(numbers), fmt))
        assert len({format(n, fmt) for n in numbers}) == 2
    phis = [f["phi"] for f in fits]
    assert_states(TEXT, (R["ar1"]["phi"], ".2f"), (min(phis), ".2f"), (max(phis), ".2f"))
    logliks = [f["loglik"] for f in fits]
    # "up to 0.23 higher than this one"
    assert logliks[0] == min(logliks) and max(logliks) - logliks[0] < 0.3
    assert_states(TEXT, (max(logliks) - logliks[0], ".2f"))
    assert all(f["random_corr"] > 0.96 for f in fits) and R["ar1"]["random_corr"] < max(f["random_corr"] for f in fits)
    others = R["ar1_other_optimisers"]
    assert_states(
        TEXT,
        (R["ar1"]["random_corr"], ".2f"),
        (-R["growth"]["loglik"], ".1f"),
        (others["nelder_mead"]["random_corr"], ".3f"),
        (others["l_bfgs_b"]["random_corr"], ".4f"),
    )
    # the lines "pass through one point, sigma_0 / sigma_1 weeks before the first weighing (about 5 weeks here)"
    assert {format(f["random_sd"]["(Intercept)"] / f["random_sd"]["week"], ".0f") for f in fits} == {"5"}
    # "rises by about 170 ... a likelihood-ratio statistic of 341 on 1 degree of freedom", for every optimiser
    assert {round((ll - R["growth"]["loglik"]) / 10) * 10 for ll in logliks} == {170}
    assert {format(2 * (ll - R["growth"]["loglik"]), ".0f") for ll in logliks} == {format(R["anova"]["l_ratio"], ".0f")}
    assert_states(TEXT, (R["anova"]["l_ratio"], ".0f"))
    # "6.77 kg a week (SE 0.083, 95% interval 6.61 to 6.93)", whichever optimiser
    for bound in (-1.96, 1.96):
        assert len({format(slope(f) + bound * slope(f, "std_error"), ".2f") for f in fits}) == 1
        assert_states(TEXT, (slope(R["ar1"]) + bound * slope(R["ar1"], "std_error"), ".2f"))
    assert R["anova"]["p"] < 1e-70


def test_the_ar1_model_against_the_alternatives():
    """AIC of the three REML fits, and the LR statistic against the AR(1) correlation alone (nlme)."""
    fits = [R["ar1"], *R["ar1_other_optimisers"].values()]
    anova = R["anova"]
    aic_growth, aic_ar1 = anova["aic"]
    assert aic_ar1 < anova["aic_alone"] < aic_growth
    assert_states(TEXT, (anova["aic_alone"], ".0f"), (aic_ar1, ".0f"), (aic_growth, ".0f"))
    for f in fits:  # "4107": AIC = -2 loglik + 2 x 7 parameters, whichever optimiser
        assert format(-2 * f["loglik"] + 14, ".0f") == format(aic_ar1, ".0f")
    # "43 (44 with other optimisers) on 3 parameters ... even so p < 10^-8"
    ratios = [2 * (f["loglik"] - R["ar1_alone"]["loglik"]) for f in fits]
    close(ratios[0], anova["l_ratio_alone"], 1e-6)
    assert {format(r, ".0f") for r in ratios} == {"43", "44"}
    assert_states(TEXT, (min(ratios), ".0f"), (max(ratios), ".0f"))
    assert stats.chi2.sf(min(ratios), 3) < 1e-8


def test_the_intervals_of_the_ar1_model():
    ci = R["ar1_intervals"]
    assert_states(
        TEXT,
        (ci["phi"]["lower"], ".2f"),
        (ci["phi"]["upper"], ".2f"),
        (ci["sd(week)"]["lower"], ".2f"),
        (ci["sd(week)"]["upper"], ".2f"),
        (ci["sd((Intercept))"]["estimate"], ".1f"),
        (ci["sd((Intercept))"]["lower"], ".1f"),
        (ci["sd((Intercept))"]["upper"], ".1f"),
        (-ci["cor((Intercept),week)"]["lower"], ".2f"),
        (ci["cor((Intercept),week)"]["upper"], ".3f"),
    )
    assert ci["cor((Intercept),week)"]["lower"] < 0 < ci["phi"]["lower"] and ci["sd(week)"]["lower"] > 0


def test_the_exchangeable_gee_is_geepacks():
    v = values("gee_exch.params", "gee_exch.bse", "float(gee_exch.cov_struct.dep_params)")
    ref = R["gee_exchangeable"]
    close(v["gee_exch.params"], ref["estimate"], 1e-6)
    close(v["gee_exch.bse"], ref["std_error"], 1e-4)
    # the working correlation: the two moment formulas differ in their divisors ("in the third decimal")
    close(v["float(gee_exch.cov_struct.dep_params)"], ref["alpha"], 3e-3)
    assert format(v["float(gee_exch.cov_struct.dep_params)"], ".3f") != format(ref["alpha"], ".3f")
    assert_states(TEXT, (ref["alpha"], ".2f"), (ref["estimate"][1], ".2f"), (ref["std_error"][1], ".3f"))


def test_the_ar1_gee_is_close_to_geepacks():
    """geepack's ar1 moment estimator differs from statsmodels' grid one: close, not equal."""
    v = values("gee_ar1.params", "gee_ar1.bse", "float(gee_ar1.cov_struct.dep_params)")
    ref = R["gee_ar1"]
    close(v["float(gee_ar1.cov_struct.dep_params)"], ref["alpha"], 0, 0.02)
    close(v["gee_ar1.params"], ref["estimate"], 1e-2)
    close(v["gee_ar1.bse"], ref["std_error"], 2e-2)
    assert_states(TEXT, (ref["alpha"], ".3f"), (v["float(gee_ar1.cov_struct.dep_params)"], ".3f"))


GEEPACK_AT_PHI = """
suppressPackageStartupMessages({ library(geepack); library(jsonlite) })
args <- commandArgs(trailingOnly = TRUE)
dietox <- read.csv(args[1])
phi <- as.numeric(args[2])
dietox$week <- dietox$Time - 1
# fixed2Zcor's waves index the rows of the 12 x 12 matrix: Time (1 to 12), not week (0 to 11)
zcor <- fixed2Zcor(phi^abs(outer(1:12, 1:12, "-")), id = dietox$Pig, waves = dietox$Time)
gee <- geeglm(Weight ~ week, id = Pig, waves = Time, data = dietox, corstr = "fixed", zcor = zcor)
writeLines(toJSON(list(estimate = unname(coef(gee)), robust_se = unname(summary(gee)$coefficients[, "Std.err"]),
                       model_based_se = sqrt(diag(gee$geese$vbeta.naiv))), digits = NA), args[3])
"""


@pytest.mark.needs_r
def test_the_ar1_gee_is_geepacks_at_statsmodels_phi(tmp_path):
    """With the working parameter fixed at statsmodels' estimate, geepack's estimates and robust SEs are
    statsmodels'. So are the model-based SEs (exercise 14.3) but for the scale: statsmodels divides the sum of
    squared residuals by n - p, geepack by n."""
    v = values("gee_ar1.params", "gee_ar1.bse", "float(gee_ar1.cov_struct.dep_params)", "model_based.bse")
    script, out = tmp_path / "at_phi.R", tmp_path / "at_phi.json"
    script.write_text(GEEPACK_AT_PHI)
    run = subprocess.run(
        [
            "Rscript",
            str(script),
            str(REFERENCE_DIR / "dietox.csv"),
            repr(v["float(gee_ar1.cov_struct.dep_params)"]),
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    r = json.loads(out.read_text())
    close(v["gee_ar1.params"], r["estimate"], 1e-6)
    close(v["gee_ar1.bse"], r["robust_se"], 1e-4)
    n, p = len(DIETOX), 2
    close(v["model_based.bse"] * np.sqrt((n - p) / n), r["model_based_se"], 1e-5)
    assert_states(TEXT, (r["estimate"][1], ".2f"), (r["robust_se"][1], ".3f"), (r["model_based_se"][1], ".3f"))


def test_why_the_gee_rates_differ():
    """Missing weeks do not explain the AR(1) GEE's lower rate; the weighting of the weekly gains does."""
    v = values("gee_rates", "gains", "float(np.average(gains, weights=middle_heavy))", "float(gains.mean())")
    rates = v["gee_rates"]
    complete = R["complete_pigs"]
    assert complete["n"] == 69
    for data, row in ((R, "all 72 pigs"), (complete, "69 pigs weighed every week")):
        independence = data["gee_independence" if data is R else "independence"]["estimate"][1]
        exchangeable = data["gee_exchangeable" if data is R else "exchangeable"]["estimate"][1]
        ar1 = data["gee_ar1" if data is R else "ar1"]["estimate"][1]
        close(rates.loc[row, ["independence", "exchangeable"]].to_numpy(float), [independence, exchangeable], 1e-6)
        close(rates.loc[row, "AR(1)"], ar1, 2e-3)
        assert format(slope(R["growth"]) - rates.loc[row, "AR(1)"], ".1f") == "0.2"  # "still about 0.2 lower"
    # with every pig weighed at the same weeks, independence and exchangeable must agree
    close(complete["independence"]["estimate"], complete["exchangeable"]["estimate"], 1e-9)
    gains = np.array(R["complete_weekly_gain"])
    close(v["gains"].to_numpy(), gains, 1e-9)
    weeks = np.arange(1, 12)
    # least squares on equally spaced weeks is the average of the gains weighted j(12 - j): an identity
    close(np.average(gains, weights=weeks * (12 - weeks)), complete["independence"]["estimate"][1], 1e-9)
    close(v["float(np.average(gains, weights=middle_heavy))"], complete["independence"]["estimate"][1], 1e-9)
    close(v["float(gains.mean())"], gains.mean(), 1e-9)
    # "6.732, close to the AR(1) fit on the same pigs (6.736)"
    ar1_complete = rates.loc["69 pigs weighed every week", "AR(1)"]
    assert abs(gains.mean() - ar1_complete) < 0.01 and abs(gains.mean() - complete["ar1"]["estimate"][1]) < 0.01
    assert_states(TEXT, (ar1_complete, ".3f"))
    # "4.3 kg in their first week, then 6 to 8 kg a week, and 5.9 in the last"
    assert_states(
        TEXT,
        (gains[0], ".1f"),
        (gains[-1], ".1f"),
        (gains.mean(), ".3f"),
        (complete["independence"]["estimate"][1], ".3f"),
    )
    assert 6 <= gains[1:-1].min() and gains[1:-1].max() <= 8.2


def test_the_growth_rates_side_by_side():
    v = values("rates")
    rates = v["rates"]
    gee = values("gee_ar1.params['week']", "gee_ar1.bse['week']")
    expected = pd.DataFrame(
        {
            "OLS, weighings independent": [R["ols"]["estimate"][1], R["ols"]["std_error"][1]],
            "random intercept and slope": [slope(R["growth"]), slope(R["growth"], "std_error")],
            "GEE, exchangeable": [R["gee_exchangeable"]["estimate"][1], R["gee_exchangeable"]["std_error"][1]],
            "GEE, AR(1)": [gee["gee_ar1.params['week']"], gee["gee_ar1.bse['week']"]],
        },
        index=["kg per week", "SE"],
    ).T
    expected["lower"] = expected["kg per week"] - 1.96 * expected["SE"]
    expected["upper"] = expected["kg per week"] + 1.96 * expected["SE"]
    close(rates, expected, 1e-4)
    assert list(rates.index) == list(expected.index)
    # "a t quantile on 71 degrees of freedom would widen them by 2%"
    assert_states(TEXT, (100 * (stats.t.ppf(0.975, 71) / 1.96 - 1), ".0f"))
    # the AR(1) GEE's rate is "lower by 0.21 kg a week, more than two and a half SEs" (of the mixed model)
    gap = slope(R["growth"]) - expected.loc["GEE, AR(1)", "kg per week"]
    assert_states(TEXT, (gap, ".2f"))
    assert 2.5 < gap / slope(R["growth"], "std_error") < 3
    # the exchangeable GEE's estimate "is close to that of the random-intercept model"
    close(R["gee_exchangeable"]["estimate"], R["intercept_only"]["fixed"]["estimate"], 1e-6)
    assert_states(
        TEXT,
        (R["ols"]["std_error"][1], ".3f"),
        *[(expected.loc[row, col], ".2f") for row in expected.index for col in ("lower", "upper")],
    )


def test_exercise_solutions():
    v = values("intercept_only.bse_fe['week']", "float(intercept_only.llf)")
    ref = R["intercept_only"]
    close(v["intercept_only.bse_fe['week']"], slope(ref, "std_error"), 1e-4)
    close(v["float(intercept_only.llf)"], ref["loglik"], 0, 1e-4)
    assert_states(TEXT, (slope(ref, "std_error"), ".3f"), (-ref["loglik"], ".1f"))
    model = values("model_based.bse['week']", "gee_ar1.bse['week']")
    assert_states(TEXT, (100 * (1 - model["model_based.bse['week']"] / model["gee_ar1.bse['week']"]), ".0f"))
    phi = values("float(gee_ar1.cov_struct.dep_params)")["float(gee_ar1.cov_struct.dep_params)"]
    assert_states(TEXT, *[(phi**weeks, ".2f") for weeks in (1, 4, 11)])


def test_the_weekly_means_agree_where_every_pig_was_weighed():
    """With a mean for each week the working correlations agree where every pig was weighed (geepack)."""
    means = values("weekly_means")["weekly_means"]
    ref = R["weekly_means"]
    close(means["independence"], ref["independence"], 1e-6)
    close(means["exchangeable"], ref["exchangeable"], 1e-6, 5e-3)  # the two programs' alphas differ a little
    close(means["AR(1)"], ref["ar1"], 1e-6, 0.02)  # so do their phis
    complete_weeks = means.iloc[:11]
    close(complete_weeks.max(axis=1) - complete_weeks.min(axis=1), 0, 0, 1e-6)
    close(complete_weeks["independence"], DIETOX.groupby("Time")["Weight"].mean().iloc[:11], 1e-9)
    spread = means.iloc[11].max() - means.iloc[11].min()
    assert_states(TEXT, (spread, ".2f"))
    assert format(spread, ".1f") == format(max(ref[k][11] for k in ref) - min(ref[k][11] for k in ref), ".1f")


@pytest.mark.needs_r
def test_reference_is_current(tmp_path):
    """Rerun the R script: its numbers must equal the committed ones, to rounding."""
    assert_same_numbers(rerun(SCRIPT, tmp_path), R)
