"""helpers.glmm against R: every number compared with what lme4::glmer reports, and each refusal.

The reference numbers live in tests/reference/glmm_reference.json, written by
tests/reference/make_glmm_reference.R (glmer run to its optimum, adaptive quadrature with
nAGQ = 25 and the Laplace approximation, on the GP data's high cholesterol, lme4's cbpp as one
row per animal, and a data set whose fit is singular); test_reference_is_current reruns that
script so the committed file cannot drift from what R computes.
"""

from __future__ import annotations

import json
import re
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula

from helpers.data import load_gp_cholesterol, sha256_of
from helpers.glmm import GlmmConvergenceError, GlmmInputError, SingularFitWarning, fit_glmer, profile_group_sd
from tests.r_reference import close
from tests.rscript import RTOL, assert_same_numbers, rerun

REFERENCE_DIR = Path(__file__).resolve().parent / "reference"
SCRIPT = REFERENCE_DIR / "make_glmm_reference.R"
REFERENCE = json.loads((REFERENCE_DIR / "glmm_reference.json").read_text())
ESTIMATE_RTOL = 1e-5  # as tests/test_mixed.py: estimates to 1e-5, what is derived from them to 1e-3
OTHER_RTOL = 1e-3
LOGLIK_ATOL = 1e-5
MODELS = list(REFERENCE["models"])


def _gp() -> pd.DataFrame:
    """The GP data with the columns make_glmm_reference.R adds, defined the same way."""
    gp = load_gp_cholesterol()
    return gp.assign(high=(gp["chol"] >= 6.2).astype(int), age_c=gp["age"] - gp["age"].mean())


DATA = {"gp_cholesterol": _gp(), **{name: pd.DataFrame(columns) for name, columns in REFERENCE["datasets"].items()}}
_FITS = {}


def fitted(model: str):
    """The model the reference names, fitted once per test session."""
    if model not in _FITS:
        spec = REFERENCE["models"][model]["spec"]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SingularFitWarning)  # test_singular_fit_is_reported_as_lme4_does
            _FITS[model] = fit_glmer(spec["formula"], DATA[spec["data"]], spec["groups"], nagq=spec["nagq"])
    return _FITS[model]


def test_reference_was_made_from_the_current_data():
    meta = REFERENCE["data"]["gp_cholesterol"]
    assert sha256_of(REFERENCE_DIR.parent.parent / meta["path"]) == meta["sha256"], (
        f"{meta['path']} changed since the reference was made: rerun Rscript {SCRIPT.name}"
    )
    assert meta["rows"] == len(DATA["gp_cholesterol"])


def test_the_gp_outcome_is_the_issues():
    """high = chol >= 6.2: 36% of patients, and one GP has none."""
    gp = DATA["gp_cholesterol"]
    assert round(gp["high"].mean(), 2) == 0.36
    assert (gp.groupby("doctor")["high"].sum() == 0).sum() == 1


@pytest.mark.parametrize("model", MODELS)
def test_fit_matches_glmer(model):
    ref, fit = REFERENCE["models"][model], fitted(model)
    fixed = ref["fixed"]
    assert len(fit.fixed) == len(fixed["term"])
    close(fit.fixed["estimate"], fixed["estimate"], ESTIMATE_RTOL)
    for column in ("std_error", "z", "p"):
        close(fit.fixed[column], fixed[column], OTHER_RTOL)
    se = np.sqrt(np.diag(ref["vcov"]))
    close(fit.vcov, ref["vcov"], OTHER_RTOL, OTHER_RTOL * np.outer(se, se))
    close(fit.group_sd, ref["group_sd"], ESTIMATE_RTOL)
    close(fit.loglik, ref["loglik"], 0, LOGLIK_ATOL)
    close([fit.aic, fit.bic], [ref["aic"], ref["bic"]], 0, 2 * LOGLIK_ATOL)
    assert (fit.nobs, fit.singular) == (ref["nobs"], ref["singular"])
    # summary()'s "Scaled residuals": Pearson residuals given the conditional modes.
    close(np.quantile(fit.pearson_residuals, [0, 0.25, 0.5, 0.75, 1]), ref["scaled_residual_quartiles"], OTHER_RTOL)


@pytest.mark.parametrize("model", MODELS)
def test_conditional_modes_match_ranef(model):
    """ranef(fit, condVar = TRUE): each group's conditional mode of u_0k and its conditional SD."""
    ref, fit = REFERENCE["models"][model], fitted(model)
    ranef = ref["ranef"]
    assert fit.ranef.index.astype(str).tolist() == ranef["group"]
    assert fit.ngroups == len(ranef["group"])
    # A mode near 0 is judged against the largest.
    close(fit.ranef["mode"], ranef["mode"], ESTIMATE_RTOL, ESTIMATE_RTOL * np.abs(ranef["mode"]).max())
    close(fit.ranef["cond_sd"], ranef["cond_sd"], OTHER_RTOL)


@pytest.mark.parametrize("model", MODELS)
def test_odds_ratios_are_glmers_wald_intervals(model):
    ref, fit = REFERENCE["models"][model], fitted(model)
    odds = fit.odds_ratios()
    close(odds["odds_ratio"], np.exp(ref["fixed"]["estimate"]), ESTIMATE_RTOL)
    close(
        odds[["ci_low", "ci_high"]],
        np.exp(np.column_stack([ref["fixed"]["ci_low"], ref["fixed"]["ci_high"]])),
        OTHER_RTOL,
    )
    assert (fit.odds_ratios(0.99)["ci_low"] < odds["ci_low"]).all()
    with pytest.raises(GlmmInputError, match="level"):
        fit.odds_ratios(95)


def test_latent_scale_icc():
    sd = REFERENCE["models"]["gp_agq25"]["group_sd"]
    close(fitted("gp_agq25").icc, sd**2 / (sd**2 + np.pi**2 / 3), ESTIMATE_RTOL)


def test_quadrature_and_laplace_differ_as_in_r():
    """Both R references are matched, and they differ by far more than the tolerance: nagq is used."""
    agq, laplace = REFERENCE["models"]["gp_agq25"], REFERENCE["models"]["gp_laplace"]
    assert abs(agq["loglik"] - laplace["loglik"]) > 1000 * LOGLIK_ATOL
    assert fitted("gp_agq25").nagq == 25 and fitted("gp_laplace").nagq == 1


def test_summary_is_laid_out_as_glmers():
    text = fitted("gp_agq25").summary()
    assert text.startswith(
        "Generalized linear mixed model fit by maximum likelihood (Adaptive\n"
        "  Gauss-Hermite Quadrature, nAGQ = 25) [glmerMod]\n Family: binomial  ( logit )\n"
        "Formula: high ~ age_c + (1 | doctor)\n"
    )
    ref = REFERENCE["models"]["gp_agq25"]
    assert f"{ref['aic']:.1f}" in text and f"{ref['loglik']:.1f}" in text
    assert "Number of obs: 441, groups:  doctor, 12" in text
    assert f" doctor (Intercept) {ref['group_sd'] ** 2:.4g}    {ref['group_sd']:.4g}" in text
    estimate, se = ref["fixed"]["estimate"][1], ref["fixed"]["std_error"][1]
    assert f"age_c        {estimate:.5f}    {se:.5f}   {ref['fixed']['z'][1]:.3f}" in text
    assert "boundary (singular) fit" not in text and repr(fitted("gp_agq25")) == text


def test_singular_fit_is_reported_as_lme4_does():
    spec = REFERENCE["models"]["identical_groups"]["spec"]
    with pytest.warns(SingularFitWarning, match="boundary \\(singular\\) fit"):
        fit = fit_glmer(spec["formula"], DATA[spec["data"]], spec["groups"], nagq=spec["nagq"])
    assert fit.singular and fit.group_sd == 0 and (fit.ranef == 0).all().all()
    assert "boundary (singular) fit" in fit.summary()


# ----------------------------------------------------------------------------- properties R need not tell us


def test_boolean_response_and_formulaic_give_the_same_fit():
    gp = DATA["gp_cholesterol"]
    reference = fitted("gp_laplace")
    as_bool = fit_glmer("high ~ age_c", gp.assign(high=gp["high"] == 1), "doctor")
    expression = fit_glmer("I(chol >= 6.2) ~ age_c", gp, "doctor")
    engine = statsmodels.formula.options.formula_engine
    try:
        statsmodels.formula.options.formula_engine = "formulaic"
        by_formulaic = fit_glmer("high ~ age_c", gp.assign(high=gp["high"] == 1), "doctor")
    finally:
        statsmodels.formula.options.formula_engine = engine
    for fit in (as_bool, expression, by_formulaic):
        close(fit.fixed["estimate"], reference.fixed["estimate"], 1e-7)
        close(fit.loglik, reference.loglik, 0, 1e-9)


def test_row_order_and_units_do_not_matter():
    gp = DATA["gp_cholesterol"]
    shuffled = gp.sample(frac=1, random_state=21).assign(age_decades=lambda d: d["age_c"] / 10)
    fit = fit_glmer("high ~ age_decades", shuffled, "doctor", nagq=25)
    reference = fitted("gp_agq25")
    close(fit.fixed["estimate"], reference.fixed["estimate"] * [1, 10], 1e-6)
    close(fit.fixed["std_error"], reference.fixed["std_error"] * [1, 10], 1e-5)
    close(fit.ranef, reference.ranef, 1e-6, 1e-6)
    close(fit.pearson_residuals.loc[gp.index], reference.pearson_residuals, 1e-6, 1e-9)


def _refusal_cases():
    gp = DATA["gp_cholesterol"]
    with_gap = gp.astype({"age_c": float, "doctor": float})
    with_gap.loc[[3, 40], "age_c"] = np.nan
    no_group = gp.astype({"doctor": float})
    no_group.loc[7, "doctor"] = np.nan
    return {
        "no events": (("high ~ age_c", gp.assign(high=0), "doctor"), {}, "no events"),
        "only events": (("high ~ age_c", gp.assign(high=1), "doctor"), {}, "only events"),
        "one group": (("high ~ age_c", gp.assign(doctor=1), "doctor"), {}, "single group"),
        "not 0/1": (("chol ~ age_c", gp, "doctor"), {}, "must be 0/1"),
        "text response": (
            ("level ~ age_c", gp.assign(level=np.where(gp["high"], "high", "normal")), "doctor"),
            {},
            "one 0/1 or boolean column",
        ),
        "missing covariate": (("high ~ age_c", with_gap, "doctor"), {}, r"2 row\(s\) have missing values.*\[3, 40\]"),
        "missing group": (("high ~ age_c", no_group, "doctor"), {}, r"1 row\(s\) have missing values.*\[7\]"),
        "nagq 0": (("high ~ age_c", gp, "doctor"), {"nagq": 0}, "nagq"),
        "nagq fraction": (("high ~ age_c", gp, "doctor"), {"nagq": 2.5}, "nagq"),
        "nagq True": (("high ~ age_c", gp, "doctor"), {"nagq": True}, "nagq"),
        "unknown group": (("high ~ age_c", gp, "gp"), {}, "unknown grouping column"),
        "one-sided": (("~ age_c", gp, "doctor"), {}, "two-sided"),
        "not a frame": (("high ~ age_c", gp.to_dict("list"), "doctor"), {}, "DataFrame"),
        "unknown column": (("high ~ age_x", gp, "doctor"), {}, "cannot build the model"),
        "collinear": (("high ~ age_c + twice", gp.assign(twice=2 * gp["age_c"]), "doctor"), {}, "linearly dependent"),
    }


REFUSALS = _refusal_cases()


@pytest.mark.parametrize("case", REFUSALS)
def test_what_cannot_be_fitted_is_refused(case):
    args, kwargs, message = REFUSALS[case]
    with pytest.raises(GlmmInputError, match=message):
        fit_glmer(*args, **kwargs)


def test_separation_is_refused():
    """A covariate that separates events from non-events has no finite maximum."""
    gp = DATA["gp_cholesterol"]
    with pytest.raises(GlmmConvergenceError, match="separate"):
        fit_glmer("high ~ chol", gp, "doctor")


# glmer's deviance function of (theta, beta), at nAGQ = 25: its minimum over beta with sigma_0 = theta held at each
# of our ends must lie chi2_1(0.95) above the overall minimum (what defines the ends), and confint's spline
# interpolation of lme4's own profile must give nearly the same ends.
PROFILE_R = """
suppressPackageStartupMessages(library(lme4))
gp <- read.csv({path})
gp$high <- as.integer(gp$chol >= 6.2); gp$age_c <- gp$age - mean(gp$age)
fit <- glmer(high ~ age_c + (1 | doctor), data = gp, family = binomial, nAGQ = 25)
deviance_of <- update(fit, devFunOnly = TRUE)
nelder_mead <- list(reltol = 1e-15, maxit = 5000)  # BFGS's trial steps can leave the range PIRLS handles
profiled <- function(sd) optim(fixef(fit), function(beta) deviance_of(c(sd, beta)), control = nelder_mead)$value
best <- optim(c(getME(fit, "theta"), fixef(fit)), deviance_of, control = nelder_mead)$value
jsonlite::write_json(list(rise = sapply(c({low!r}, {high!r}), profiled) - best, cutoff = qchisq(0.95, 1),
                          confint = unname(confint(fit, parm = "theta_", method = "profile", quiet = TRUE)[1, ])),
                     {out}, digits = NA)
"""


@pytest.mark.slow
@pytest.mark.needs_r
def test_profile_interval_of_sigma_0_is_glmers(tmp_path):
    gp = DATA["gp_cholesterol"]
    low, high = (float(end) for end in profile_group_sd(fitted("gp_agq25"), gp))
    script, out = tmp_path / "profile.R", tmp_path / "profile.json"
    path = REFERENCE_DIR.parent.parent / REFERENCE["data"]["gp_cholesterol"]["path"]
    script.write_text(PROFILE_R.format(path=json.dumps(str(path)), low=low, high=high, out=json.dumps(str(out))))
    run = subprocess.run(["Rscript", "--vanilla", str(script)], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    r = json.loads(out.read_text())
    close(r["rise"], [r["cutoff"][0]] * 2, 1e-4)
    close([low, high], r["confint"], 1e-4)
    narrower = profile_group_sd(fitted("gp_agq25"), gp, level=0.5)
    assert low < narrower[0] < fitted("gp_agq25").group_sd < narrower[1] < high


def test_profile_interval_refuses_other_data_and_levels():
    fit, gp = fitted("gp_agq25"), DATA["gp_cholesterol"]
    with pytest.raises(GlmmInputError, match="not the data the model was fitted to"):
        profile_group_sd(fit, gp.iloc[:-40])
    with pytest.raises(GlmmInputError, match="level must be between 0 and 1"):
        profile_group_sd(fit, gp, level=95)


# glmer's optimum is found to its optimiser's tolerance, and where it stops in the last digits depends on the
# CPU's floating point (same R and lme4 on two machines: estimates 2e-7, conditional modes 2e-6 apart), and more
# so what glmer derives from the Hessian it takes by finite differences there (covariance 1e-4, p-values 4e-4,
# relatively). A rerun is compared at the precision the tests above compare this module's numbers at.
FROM_THE_HESSIAN = re.compile(r"\.(vcov|std_error|z|p|ci_low|ci_high)(\[|$)")


def rerun_rtol(path: str) -> float:
    if not path.startswith(".models."):
        return RTOL
    return OTHER_RTOL if FROM_THE_HESSIAN.search(path) else ESTIMATE_RTOL


@pytest.mark.slow
@pytest.mark.needs_r
def test_reference_is_current(tmp_path):
    """Rerun the R script: its numbers must equal the committed ones, to the precision they are compared at."""
    assert_same_numbers(rerun(SCRIPT, tmp_path), REFERENCE, rtol_of=rerun_rtol)
