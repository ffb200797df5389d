"""helpers.diagnostics: predicted effects and conditional variances against lme4, and the plots' content.

R's numbers live in tests/reference/diagnostics_reference.json, written by
tests/reference/make_diagnostics_reference.R (lme4's ranef(condVar = TRUE)).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import statsmodels.formula.api as smf  # noqa: E402

from helpers.data import load_gp_cholesterol, sha256_of  # noqa: E402
from helpers.diagnostics import caterpillar_plot, predicted_effects, qq_plots, rank_intervals, residual_plots  # noqa: E402
from tests.rscript import assert_same_numbers, rerun  # noqa: E402

REFERENCE_DIR = Path(__file__).resolve().parent / "reference"
SCRIPT = REFERENCE_DIR / "make_diagnostics_reference.R"
REFERENCE = json.loads((REFERENCE_DIR / "diagnostics_reference.json").read_text())
RTOL = 1e-4  # statsmodels' optimum is within ~1e-5 of lme4's run to convergence

GP = load_gp_cholesterol().assign(age_c=lambda d: d["age"] - d["age"].mean())
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    FITS = {
        "ri": smf.mixedlm("chol ~ age_c", GP, groups="doctor").fit(reml=True),
        "rs": smf.mixedlm("chol ~ age_c", GP, groups="doctor", re_formula="~ age_c").fit(
            reml=True, method=["lbfgs", "powell"]
        ),
    }


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_reference_was_made_from_the_current_data():
    meta = REFERENCE["data"]
    assert sha256_of(REFERENCE_DIR.parent.parent / meta["path"]) == meta["sha256"]


@pytest.mark.parametrize("model", ["ri", "rs"])
def test_predicted_effects_and_conditional_variances_match_lme4(model):
    ref, result = REFERENCE["models"][model], FITS[model]
    effects = predicted_effects(result)
    assert result.llf == pytest.approx(ref["loglik"], abs=1e-5)
    terms = ["Intercept" if t == "(Intercept)" else t for t in ref["terms"]]
    assert list(dict.fromkeys(effects["term"])) == terms
    for j, (term, r_term) in enumerate(zip(terms, ref["terms"])):
        chosen = effects[effects["term"] == term]
        assert [str(u) for u in chosen["unit"]] == ref["group"]
        theirs = np.asarray(ref["ranef"][r_term])
        np.testing.assert_allclose(chosen["estimate"], theirs, rtol=RTOL, atol=RTOL * np.abs(theirs).max())
        variances = [cov[j][j] for cov in ref["cond_cov"]]
        np.testing.assert_allclose(chosen["cond_sd"] ** 2, variances, rtol=RTOL)
    # Conditional covariances between a GP's intercept and slope, as lme4's postVar holds them.
    if model == "rs":
        for k, group in enumerate(result.model.group_labels):
            np.testing.assert_allclose(
                result.random_effects_cov[group].to_numpy(), ref["cond_cov"][k], rtol=1e-3, atol=1e-9
            )


def test_residuals_and_fitted_values_match_lme4():
    ref = REFERENCE["models"]["rs"]
    np.testing.assert_allclose(FITS["rs"].fittedvalues, ref["fitted"], rtol=1e-5)
    np.testing.assert_allclose(FITS["rs"].resid, ref["residuals"], atol=1e-4)


def test_prediction_interval_is_estimate_plus_minus_z_sd():
    effects = predicted_effects(FITS["ri"], level=0.9)
    np.testing.assert_allclose(effects["upper"] - effects["estimate"], 1.6448536269514722 * effects["cond_sd"])
    np.testing.assert_allclose(effects["estimate"] - effects["lower"], effects["upper"] - effects["estimate"])
    with pytest.raises(ValueError, match="level"):
        predicted_effects(FITS["ri"], level=1.5)


def test_caterpillar_plot_orders_and_labels_the_gps():
    ax = caterpillar_plot(FITS["ri"], unit_name="Dr ")
    effects = predicted_effects(FITS["ri"]).sort_values("estimate")
    assert [t.get_text() for t in ax.get_yticklabels()] == [f"Dr {u}" for u in effects["unit"]]
    segments = ax.collections[0].get_segments()
    np.testing.assert_allclose([s[0][0] for s in segments], effects["lower"])
    np.testing.assert_allclose([s[1][0] for s in segments], effects["upper"])
    with pytest.raises(ValueError, match="no random effect 'bmi'"):
        caterpillar_plot(FITS["rs"], term="bmi")


def test_rank_intervals_are_reproducible_and_contain_the_estimates_rank():
    a, b = rank_intervals(FITS["ri"], seed=3), rank_intervals(FITS["ri"], seed=3)
    assert a.equals(b)
    assert a["rank"].tolist() == list(range(1, 13))  # sorted by estimate
    assert ((a["rank_low"] <= a["rank"]) & (a["rank"] <= a["rank_high"])).all()
    assert a["rank_low"].between(1, 12).all() and a["rank_high"].between(1, 12).all()
    # Close GPs have wide rank intervals; the intervals are not all single places.
    assert (a["rank_high"] - a["rank_low"]).max() >= 2
    slopes = rank_intervals(FITS["rs"], term="age_c", seed=3)
    assert (slopes["rank_high"] - slopes["rank_low"]).mean() > (a["rank_high"] - a["rank_low"]).mean()
    with pytest.raises(ValueError, match="seed"):
        rank_intervals(FITS["ri"], seed=-1)


def test_residual_plots_show_the_conditional_residuals():
    fig = residual_plots(FITS["rs"], ["age", "bmi"])
    axes = fig.axes
    assert [a.get_xlabel() for a in axes] == ["fitted values", "age", "bmi"]
    for ax, x in zip(axes, [FITS["rs"].fittedvalues, GP["age"], GP["bmi"]]):
        points = ax.collections[0].get_offsets()
        np.testing.assert_allclose(points[:, 0], x)
        np.testing.assert_allclose(points[:, 1], FITS["rs"].resid)
    with pytest.raises(ValueError, match="unknown covariates"):
        residual_plots(FITS["rs"], ["height"])


def test_qq_plots_have_one_panel_per_random_term_and_standardised_points():
    fig = qq_plots(FITS["rs"])
    assert len(fig.axes) == 3
    assert "n = 441" in fig.axes[0].get_title() and "n = 12" in fig.axes[1].get_title()
    values = fig.axes[1].lines[0].get_ydata()
    assert np.all(np.diff(values) >= 0) and abs(values.mean()) < 1e-12
    with pytest.raises(ValueError, match="no random effect"):
        qq_plots(FITS["rs"], terms=["bmi"])


def test_other_results_are_refused():
    with pytest.raises(TypeError, match="MixedLM"):
        predicted_effects(smf.ols("chol ~ age", GP).fit())


@pytest.mark.slow
@pytest.mark.needs_r
def test_reference_is_current(tmp_path):
    """Rerun the R script: its numbers must equal the committed ones, to rounding."""
    assert_same_numbers(rerun(SCRIPT, tmp_path), REFERENCE)
