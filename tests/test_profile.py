"""helpers.profile against R: REML profile intervals (tests/reference/make_profile_reference.R, which writes
the REML log-likelihood out and checks it against lme4's) and lme4's confint(method = "profile"), which
profiles the ML deviance: our profile of the ML fits must give its numbers."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import statsmodels.formula.api as smf

from helpers.data import load_gp_cholesterol
from helpers.profile import ProfileError, profile_intervals
from tests.r_reference import PROFILE as REFERENCE
from tests.rscript import assert_same_numbers, rerun

SCRIPT = Path(__file__).resolve().parent / "reference" / "make_profile_reference.R"

RE_FORMULAS = {"ri": None, "rs": "~ age_c"}


def fit(model: str, reml: bool = True):
    gp = load_gp_cholesterol().assign(age_c=lambda d: d["age"] - d["age"].mean())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # statsmodels' retries and its boundary rule of thumb
        return smf.mixedlm("chol ~ age_c", gp, groups="doctor", re_formula=RE_FORMULAS[model]).fit(
            reml=reml, method="lbfgs"
        )


@pytest.mark.parametrize("model", ["ri", "rs"])
def test_reml_profile_intervals_are_rs(model):
    ours = profile_intervals(fit(model))
    reference = REFERENCE["reml_profile"][model]
    assert list(ours.index) == list(reference)
    for name, (estimate, low, high) in reference.items():
        np.testing.assert_allclose(
            ours.loc[name, ["ci_low", "ci_high"]].to_numpy(dtype=float), [low, high], rtol=2e-5, err_msg=name
        )
        # the estimate is the fit's: statsmodels stops a few parts in 1e4 short on the flat correlation
        np.testing.assert_allclose(ours.loc[name, "estimate"], estimate, rtol=1e-3, err_msg=name)


@pytest.mark.parametrize("model", ["ri", "rs"])
def test_ml_profile_intervals_are_lme4s_confint(model):
    """lme4 interpolates its profile by splines, hence 1e-3; for the correlation it warns that the spline
    fails and falls back to linear interpolation, which is off by some 0.005 (R's own REML profile above
    agrees with ours to 1e-7)."""
    ours = profile_intervals(fit(model, reml=False))
    for name, (low, high) in REFERENCE["confint_ml"][model].items():
        atol = 0.01 if name.startswith("cor") else 0
        np.testing.assert_allclose(
            ours.loc[name, ["ci_low", "ci_high"]].to_numpy(dtype=float), [low, high], rtol=1e-3, atol=atol, err_msg=name
        )


def test_intervals_are_not_wald_intervals():
    """The point of profiling: the interval of a variance is skewed, and never reaches below zero."""
    ours = profile_intervals(fit("ri"))
    estimate, low, high = ours.loc["sd (Intercept)"]
    assert 0 < low < estimate < high and (high - estimate) > 1.5 * (estimate - low)


def test_refuses_what_it_cannot_profile():
    with pytest.raises(ProfileError, match="level"):
        profile_intervals(fit("ri"), level=95)
    with pytest.raises(ProfileError, match="MixedLM"):
        profile_intervals(smf.ols("chol ~ age", load_gp_cholesterol()).fit())


@pytest.mark.slow
@pytest.mark.needs_r
def test_reference_is_current(tmp_path):
    """Rerun the R script: its numbers must equal the committed ones, to rounding."""
    assert_same_numbers(rerun(SCRIPT, tmp_path), REFERENCE)
