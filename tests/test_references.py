"""helpers.references: R's reference numbers as the notebooks read them, and the nlme comparison."""

import numpy as np
import pytest

from helpers.data import load_gp_cholesterol
from helpers.mixed import fit_lme, lrt
from helpers.references import compare_with_nlme, lme4, nlme, nlme_anova, r_lm

DATA = load_gp_cholesterol()


def test_compare_with_nlme_lists_every_number_and_passes_for_the_same_model():
    table = compare_with_nlme(fit_lme(DATA, "chol ~ age", "~ 1", "doctor"), "ri_reml")
    assert list(table.index) == ["logLik", "(Intercept) estimate", "(Intercept) std. error", "age estimate",
                                 "age std. error", "SD (Intercept)", "SD Residual"]
    assert (table["relative difference"] < 1e-6).all()


def test_compare_with_nlme_fails_for_another_model():
    ml_fit = fit_lme(DATA, "chol ~ age", "~ 1", "doctor", reml=False)
    with pytest.raises(AssertionError, match="differs from nlme"):
        compare_with_nlme(ml_fit, "ri_reml")
    with pytest.raises(AssertionError, match="fixed effects"):
        compare_with_nlme(fit_lme(DATA, "chol ~ age + agedoc", "~ 1 + age", "doctor"), "rs_reml", rtol=1e-3)


def test_anova_reference_has_lrt_layout():
    ri = fit_lme(DATA, "chol ~ age", "~ 1", "doctor")
    rs = fit_lme(DATA, "chol ~ age", "~ 1 + age", "doctor")
    ours, ref = lrt(ri, rs, names=["ri_reml", "rs_reml"]), nlme_anova("ri_vs_rs_reml")
    assert list(ref.index) == list(ours.index) and np.isnan(ref["L.Ratio"].iloc[0])
    assert np.isclose(ours["L.Ratio"].iloc[1], ref["L.Ratio"].iloc[1], rtol=1e-5)


def test_other_sections_are_reachable():
    assert lme4("rs_reml")["converged"] is False
    assert r_lm("pooled")["coefficients"]["term"] == ["(Intercept)", "age"]
    assert nlme("rs_agedoc_reml")["fixed"]["df"] == [428, 428, 10]
