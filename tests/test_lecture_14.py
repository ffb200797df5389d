"""Lecture 14 (repeated measures): every number it computes or states, against nlme and geepack.

R's numbers: tests/reference/repeated_measures_reference.json (make_repeated_measures_reference.R: nlme's
growth curve with and without corAR1, geepack's GEE with AR(1) and exchangeable working correlations).
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
from scipy import stats

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
    return fixed[what][fixed["term"].index("Time")]


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
        (sd["Time"], ".2f"),
        (sd["(Intercept)"], ".1f"),
        (sd["Residual"], ".1f"),
        (ref["random_corr"], ".1f"),
        (rate - 1.96 * sd["Time"], ".1f"),
        (rate + 1.96 * sd["Time"], ".1f"),
    )


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
    shared = {"rate": ".2f", "se": ".3f", "sd_time": ".2f"}
    numbers = [{"rate": slope(f), "se": slope(f, "std_error"), "sd_time": f["random_sd"]["Time"]} for f in fits]
    for key, fmt in shared.items():
        assert len({format(n[key], fmt) for n in numbers}) == 1, f"optimisers disagree on {key} at {fmt}"
        assert_states(TEXT, (numbers[0][key], fmt))
    phis = [f["phi"] for f in fits]
    assert_states(TEXT, (R["ar1"]["phi"], ".2f"), (min(phis), ".2f"), (max(phis), ".2f"))
    logliks = [f["loglik"] for f in fits]
    assert max(logliks) - min(logliks) < 0.2  # "within 0.2 of this one"
    assert all(f["random_corr"] > 0.96 for f in fits) and R["ar1"]["random_corr"] < max(f["random_corr"] for f in fits)
    assert_states(TEXT, (R["ar1"]["random_corr"], ".2f"), (-R["growth"]["loglik"], ".1f"))
    # "rises by about 170 ... a likelihood-ratio statistic of 341 on 1 degree of freedom", for every optimiser
    assert {round((ll - R["growth"]["loglik"]) / 10) * 10 for ll in logliks} == {170}
    assert {format(2 * (ll - R["growth"]["loglik"]), ".0f") for ll in logliks} == {format(R["anova"]["l_ratio"], ".0f")}
    assert_states(TEXT, (R["anova"]["l_ratio"], ".0f"))
    # "6.77 kg a week (SE 0.083, 95% interval 6.61 to 6.93)", whichever optimiser
    for bound in (-1.96, 1.96):
        assert len({format(slope(f) + bound * slope(f, "std_error"), ".2f") for f in fits}) == 1
        assert_states(TEXT, (slope(R["ar1"]) + bound * slope(R["ar1"], "std_error"), ".2f"))
    assert R["anova"]["p"] < 1e-70


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
zcor <- fixed2Zcor(phi^abs(outer(1:12, 1:12, "-")), id = dietox$Pig, waves = dietox$Time)
gee <- geeglm(Weight ~ Time, id = Pig, waves = Time, data = dietox, corstr = "fixed", zcor = zcor)
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


def test_the_growth_rates_side_by_side():
    v = values("rates")
    rates = v["rates"]
    gee = values("gee_ar1.params['Time']", "gee_ar1.bse['Time']")
    expected = pd.DataFrame(
        {
            "OLS, weighings independent": [R["ols"]["estimate"][1], R["ols"]["std_error"][1]],
            "random intercept and slope": [slope(R["growth"]), slope(R["growth"], "std_error")],
            "GEE, exchangeable": [R["gee_exchangeable"]["estimate"][1], R["gee_exchangeable"]["std_error"][1]],
            "GEE, AR(1)": [gee["gee_ar1.params['Time']"], gee["gee_ar1.bse['Time']"]],
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
    v = values("intercept_only.bse_fe['Time']", "float(intercept_only.llf)")
    ref = R["intercept_only"]
    close(v["intercept_only.bse_fe['Time']"], slope(ref, "std_error"), 1e-4)
    close(v["float(intercept_only.llf)"], ref["loglik"], 0, 1e-4)
    assert_states(TEXT, (slope(ref, "std_error"), ".3f"), (-ref["loglik"], ".1f"))
    model = values("model_based.bse['Time']", "gee_ar1.bse['Time']")
    assert_states(TEXT, (100 * (1 - model["model_based.bse['Time']"] / model["gee_ar1.bse['Time']"]), ".0f"))
    phi = values("float(gee_ar1.cov_struct.dep_params)")["float(gee_ar1.cov_struct.dep_params)"]
    assert_states(TEXT, *[(phi**weeks, ".2f") for weeks in (1, 4, 11)])


@pytest.mark.needs_r
def test_reference_is_current(tmp_path):
    """Rerun the R script: its numbers must equal the committed ones, to rounding."""
    assert_same_numbers(rerun(SCRIPT, tmp_path), R)
