"""helpers.simulate: reproducible, shaped as documented, recovers its truth, refuses bad input."""

import re

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

from helpers.glmm import fit_glmer
from helpers.mixed import icc, nlme_summary
from helpers.simulate import simulate_clustered_binary, simulate_schools


def test_same_seed_same_sample_and_different_seed_differs():
    a, b = simulate_schools(seed=7), simulate_schools(seed=7)
    pd.testing.assert_frame_equal(a.data, b.data)
    assert not simulate_schools(seed=8).data["score"].equals(a.data["score"])


def test_shape_sizes_and_school_level_columns():
    sizes = [3, 5, 2, 7]
    s = simulate_schools(n_schools=4, pupils_per_school=sizes, seed=0)
    assert list(s.data.columns) == ["school", "pupil", "hours", "funding", "score"]
    assert s.data.groupby("school").size().tolist() == sizes
    assert s.schools["n"].tolist() == sizes
    assert (s.data.groupby("school")["funding"].nunique() == 1).all()
    assert s.data.groupby("school")["pupil"].max().tolist() == sizes
    assert s.truth["n_schools"] == 4 and s.truth["seed"] == 0


def test_large_sample_recovers_the_generating_parameters():
    s = simulate_schools(
        n_schools=300, pupils_per_school=40, seed=3, slope=1.5, funding_effect=2.0, school_sd=4.0, residual_sd=6.0
    )
    fit = nlme_summary(smf.mixedlm("score ~ hours + funding", s.data, groups="school").fit())
    est = fit.fixed["estimate"]
    se = fit.fixed["std_error"]
    assert abs(est["hours"] - 1.5) < 4 * se["hours"]
    assert abs(est["funding"] - 2.0) < 4 * se["funding"]
    assert fit.random_sd["(Intercept)"] == pytest.approx(4.0, rel=0.15)
    assert fit.random_sd["Residual"] == pytest.approx(6.0, rel=0.05)
    assert icc(fit) == pytest.approx(s.icc, abs=0.05)
    # the realised effects are the ones in the data: removing them leaves pure noise
    u0 = s.schools.set_index("school")["u0"]
    resid = (
        s.data["score"]
        - 60
        - u0.loc[s.data["school"]].to_numpy()
        - 1.5 * (s.data["hours"] - 6)
        - 2.0 * s.data["funding"]
    )
    assert resid.std() == pytest.approx(6.0, rel=0.05)


def test_slope_variation_and_confounding_have_their_effect():
    s = simulate_schools(n_schools=400, pupils_per_school=10, seed=4, slope_sd=1.0, confounding=0.8)
    assert s.schools["u1"].std() == pytest.approx(1.0, rel=0.15)
    corr = np.corrcoef(s.schools["u0"], s.schools["hours_mean"])[0, 1]
    assert corr == pytest.approx(0.8, abs=0.08)
    none = simulate_schools(n_schools=400, pupils_per_school=10, seed=4)
    assert (none.schools["u1"] == 0).all()
    assert abs(np.corrcoef(none.schools["u0"], none.schools["hours_mean"])[0, 1]) < 0.15


@pytest.mark.parametrize(
    "kwargs, error, words",
    [
        (dict(), TypeError, "seed"),
        (dict(seed=-1), ValueError, "seed"),
        (dict(seed=1.5), TypeError, "seed"),
        (dict(seed=1, n_schools=1), ValueError, "n_schools"),
        (dict(seed=1, pupils_per_school=1), ValueError, "pupils_per_school"),
        (dict(seed=1, n_schools=3, pupils_per_school=[4, 4]), ValueError, "3"),
        (dict(seed=1, n_schools=2, pupils_per_school=[4, 2.5]), TypeError, "pupils_per_school[1]"),
        (dict(seed=1, pupils_per_school="25"), TypeError, "pupils_per_school"),
        (dict(seed=1, school_sd=-1), ValueError, "school_sd"),
        (dict(seed=1, residual_sd=0), ValueError, "residual_sd"),
        (dict(seed=1, slope=float("nan")), ValueError, "slope"),
        (dict(seed=1, slope="2"), TypeError, "slope"),
        (dict(seed=1, effect_corr=1.0), ValueError, "effect_corr"),
        (dict(seed=1, confounding=0.5, hours_between_sd=0), ValueError, "confounding"),
    ],
)
def test_bad_input_is_refused_with_a_message_naming_it(kwargs, error, words):
    with pytest.raises(error, match=re.escape(words)):
        simulate_schools(**kwargs)


def test_clustered_binary_is_reproducible_and_recovers_its_conditional_odds_ratio():
    small = dict(n_clinics=3, patients_per_clinic=[4, 5, 6], seed=5)
    assert simulate_clustered_binary(**small).data.equals(simulate_clustered_binary(**small).data)
    assert simulate_clustered_binary(**small).data.groupby("clinic").size().tolist() == [4, 5, 6]
    # 400 clinics of 50: the ML estimates lie within a few standard errors of the truth
    sample = simulate_clustered_binary(n_clinics=400, patients_per_clinic=50, seed=11, odds_ratio=2.5, clinic_sd=1.2)
    fit = fit_glmer("event ~ treated", sample.data, groups="clinic", nagq=5)
    log_or, se = fit.fixed.loc["treated", ["estimate", "std_error"]]
    assert abs(log_or - np.log(2.5)) < 3 * se
    assert abs(fit.group_sd - 1.2) < 0.15
    assert sample.clinics["u0"].std() == pytest.approx(1.2, rel=0.15)


@pytest.mark.parametrize(
    "kwargs, error, words",
    [
        (dict(seed=1, n_clinics=1), ValueError, "n_clinics"),
        (dict(seed=1, n_clinics=2, patients_per_clinic=[4, 2.5]), TypeError, "patients_per_clinic[1]"),
        (dict(seed=1, odds_ratio=0), ValueError, "odds_ratio"),
        (dict(seed=1, clinic_sd=-1), ValueError, "clinic_sd"),
        (dict(seed=1, treated_share=1), ValueError, "treated_share"),
        (dict(seed=1, intercept=float("inf")), ValueError, "intercept"),
    ],
)
def test_clustered_binary_refuses_bad_input_naming_it(kwargs, error, words):
    with pytest.raises(error, match=re.escape(words)):
        simulate_clustered_binary(**kwargs)
