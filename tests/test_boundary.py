"""helpers.boundary against R: the observed statistics, and null distributions within Monte Carlo error.

R's numbers live in tests/reference/boundary_reference.json, written by
tests/reference/make_boundary_reference.R (an lme4 loop of fresh fits, pbkrtest's
PBmodcomp and RLRsim's exactRLRT, all with fixed seeds); test_reference_is_current
reruns it. Null distributions are compared with R's within Monte Carlo error
(tests/mc_compare.py).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import nbformat
import numpy as np
import pytest
import statsmodels.formula.api as smf
from nbclient import NotebookClient
from scipy import stats
from statsmodels.regression.mixed_linear_model import MixedLM, MixedLMParams

from helpers import boundary
from helpers.boundary import (
    BoundaryTestError,
    bootstrap_lrt,
    chi2_mixture_pvalue,
    exact_rlrt,
    lr_statistic,
    rlrt_statistics,
)
from helpers.data import load_gp_cholesterol, sha256_of
from helpers.progress import progress_bar
from tests.mc_compare import assert_same_distribution, assert_same_pvalue
from tests.rscript import assert_same_numbers, rerun

REFERENCE_DIR = Path(__file__).resolve().parent / "reference"
SCRIPT = REFERENCE_DIR / "make_boundary_reference.R"
REFERENCE = json.loads((REFERENCE_DIR / "boundary_reference.json").read_text())
COMPARISONS = REFERENCE["comparisons"]
LRT_ATOL = 1e-5  # lme4 run to its optimum and our refits agree to ~1e-7 in the log-likelihood

GP = load_gp_cholesterol().assign(age_c=lambda d: d["age"] - d["age"].mean())


def fit(formula: str, re_formula: str | None, reml: bool, data=GP):
    """statsmodels' best fit over several optimizers: each of them alone stops short, or drives a
    variance to zero with an infinite log-likelihood, on some of the data sets here."""
    if re_formula is None:
        return smf.ols(formula, data).fit()
    model = smf.mixedlm(formula, data, groups="doctor", re_formula=re_formula)
    fits = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for method in (None, "lbfgs", "powell"):
            result = model.fit(reml=reml, **({} if method is None else {"method": method}))
            if np.isfinite(result.llf):
                fits.append(result)
    return max(fits, key=lambda r: r.llf)


MODELS = {
    reml: {
        "none": fit("chol ~ age_c", None, reml),
        "ri": fit("chol ~ age_c", "1", reml),
        "rs": fit("chol ~ age_c", "~ age_c", reml),
    }
    for reml in (True, False)
}
PAIRS = {"rs_vs_ri": ("ri", "rs"), "ri_vs_none": ("none", "ri")}
_RUNS = {}


def bootstrap(name: str, n_boot: int = 1000, seed: int = 20250221):
    pair, method = name.rsplit("_", 1)
    reml = method == "reml"
    key = (name, n_boot, seed)
    if key not in _RUNS:
        null, alternative = (MODELS[reml][m] for m in PAIRS[pair])
        _RUNS[key] = bootstrap_lrt(null, alternative, n_boot, seed=seed, progress=False)
    return _RUNS[key]


def exact(n_sim: int = 10000, seed: int = 20250224):
    key = ("exact", n_sim, seed)
    if key not in _RUNS:
        _RUNS[key] = exact_rlrt(MODELS[True]["ri"], n_sim, seed=seed, progress=False)
    return _RUNS[key]


# ----------------------------------------------------------------------------- against R


def test_reference_was_made_from_the_current_data():
    meta = REFERENCE["data"]["gp_cholesterol"]
    assert sha256_of(REFERENCE_DIR.parent.parent / meta["path"]) == meta["sha256"]


@pytest.mark.parametrize("name", COMPARISONS)
def test_observed_statistic_equals_lme4s(name):
    ours = bootstrap(name, n_boot=1)
    assert ours.statistic == pytest.approx(COMPARISONS[name]["statistic"], abs=LRT_ATOL)
    pair, method = name.rsplit("_", 1)
    assert lr_statistic(*(MODELS[method == "reml"][m] for m in PAIRS[pair])) == ours.statistic
    assert ours.method == name.rsplit("_", 1)[1].upper()
    assert ours.df == (2 if name.startswith("rs") else 1)


def test_observed_rlrt_equals_rlrsims():
    ref = COMPARISONS["ri_vs_none_reml"]["exact_rlrt"]
    assert exact().statistic == pytest.approx(ref["statistic"], abs=LRT_ATOL)
    assert exact().p_value_rlrsim == ref["p_value_rlrsim"]
    assert exact().variance_ratio == pytest.approx(ref["variance_ratio"], rel=1e-4)  # lme4's sigma_0^2 / sigma^2


@pytest.mark.slow
@pytest.mark.parametrize("name", ["rs_vs_ri_reml", "ri_vs_none_reml"])
def test_bootstrap_null_distribution_matches_lme4_loop(name):
    ours, theirs = bootstrap(name), COMPARISONS[name]["lme4_loop"]
    assert_same_distribution(ours.null_statistics, theirs)
    assert_same_pvalue(ours.p_value, ours.mc_se, theirs["p_value"], theirs["n"])


@pytest.mark.slow
def test_ml_bootstrap_matches_pbmodcomp():
    ours, theirs = bootstrap("rs_vs_ri_ml"), COMPARISONS["rs_vs_ri_ml"]["pbmodcomp"]
    assert_same_distribution(ours.null_statistics, theirs)
    assert_same_pvalue(ours.p_value, ours.mc_se, theirs["p_value"], theirs["n"])


def test_exact_null_distribution_matches_rlrtsim():
    theirs = COMPARISONS["ri_vs_none_reml"]["exact_rlrt"]["null"]
    assert_same_distribution(exact().null_statistics, theirs)


@pytest.mark.slow
def test_exact_and_bootstrap_agree_where_the_rlrt_is_pivotal():
    """With one variance component the REML LRT's null distribution is free of beta and sigma:
    the bootstrap from the fitted null and the spectral simulation draw from the same law."""
    sample = exact().null_statistics
    summary = {
        "n": len(sample),
        "share_zero": float(np.mean(sample <= 1e-8)),
        "probs": [0.6, 0.75, 0.9, 0.95],
        "quantiles": np.quantile(sample, [0.6, 0.75, 0.9, 0.95]).tolist(),
    }
    assert_same_distribution(bootstrap("ri_vs_none_reml").null_statistics, summary)


@pytest.mark.slow
@pytest.mark.needs_r
def test_reference_is_current(tmp_path):
    """Rerun the R script: its numbers must equal the committed ones, to rounding."""
    assert_same_numbers(rerun(SCRIPT, tmp_path, timeout=3600), REFERENCE)


# ----------------------------------------------------------------------------- the refits are optima


def _statsmodels_loglik(y, reml, L, scale):
    """statsmodels' own log-likelihood of the alternative (random slope) model at our estimate."""
    alternative = MODELS[reml]["rs"].model
    model = MixedLM(y, alternative.exog, groups=alternative.groups, exog_re=alternative.exog_re)
    relative = (L @ L.T) / np.outer(scale, scale)
    params = MixedLMParams.from_components(fe_params=np.zeros(model.k_fe), cov_re=relative)
    model.reml, model.cov_pen, model.fe_pen, model._cov_sing = reml, None, None, 0
    return float(model.loglike(params, profile_fe=True))


@pytest.mark.parametrize("reml", [True, False])
def test_every_refit_is_statsmodels_optimum_or_better(reml):
    """Replicates drawn as the bootstrap draws them: our refits of both models never fall below
    statsmodels' optimum, and statsmodels' likelihood is the deviance we minimise."""
    comparison = boundary._Comparison(
        boundary._spec(MODELS[reml]["ri"], "null"), boundary._spec(MODELS[reml]["rs"], "alternative")
    )
    rng = np.random.default_rng(5)
    ri = MODELS[reml]["ri"]
    u = np.sqrt(ri.cov_re.iloc[0, 0]) * rng.standard_normal((8, 12))
    Y = ri.model.exog @ ri.fe_params.to_numpy() + u[:, comparison.null.codes]
    Y += np.sqrt(ri.scale) * rng.standard_normal(Y.shape)
    fits = comparison.fit(Y)
    for r, y in enumerate(Y):
        data = GP.assign(chol=y)
        for name, dev in (("ri", fits["dev0"][r]), ("rs", fits["dev1"][r])):
            theirs = fit("chol ~ age_c", "1" if name == "ri" else "~ age_c", reml, data).llf
            assert -dev / 2 >= theirs - 1e-6, (r, name, -dev / 2, theirs)
        # The deviance we minimise is statsmodels' likelihood: compare them near our optimum (moved off
        # a singular covariance, which statsmodels cannot evaluate).
        theta = fits["theta1"][r] + 0.05 * (comparison.alt.rows == comparison.alt.cols)
        ours = -comparison.alt.deviance(theta[None], comparison.alt.statistics(y[None]), np.array([0]))[0] / 2
        L = comparison.alt.factor(theta)
        assert _statsmodels_loglik(y, reml, L, comparison.scale) == pytest.approx(ours, abs=1e-8)
    assert comparison.refits_restarted == 0


# ----------------------------------------------------------------------------- the mixture, seeds, errors


def test_mixture_pvalues():
    assert chi2_mixture_pvalue(0.0, 1) == 1.0
    assert chi2_mixture_pvalue(3.0, 1) == pytest.approx(0.5 * stats.chi2.sf(3.0, 1))
    assert chi2_mixture_pvalue(3.0, 2) == pytest.approx(0.5 * stats.chi2.sf(3.0, 1) + 0.5 * stats.chi2.sf(3.0, 2))
    assert chi2_mixture_pvalue(0.0, 2) == 1.0
    # Halving the naive p-value is the mixture for one added variance, and only then.
    assert chi2_mixture_pvalue(5.0, 1) == pytest.approx(stats.chi2.sf(5.0, 1) / 2)
    assert chi2_mixture_pvalue(5.0, 2) > stats.chi2.sf(5.0, 2) / 2
    for bad in (0, 1.5, True):
        with pytest.raises(BoundaryTestError, match="df"):
            chi2_mixture_pvalue(1.0, bad)
    with pytest.raises(BoundaryTestError, match=">= 0"):
        chi2_mixture_pvalue(-1.0, 1)
    # 2 * (llf1 - llf0) of fits at the same optimum is 0 to rounding; a real negative still stops.
    assert chi2_mixture_pvalue(-1e-12, 1) == chi2_mixture_pvalue(-1e-12, 2) == 1.0
    with pytest.raises(BoundaryTestError, match=">= 0"):
        chi2_mixture_pvalue(-1e-4, 1)


def test_same_seed_same_replicates_and_another_seed_differs():
    a, b = (
        bootstrap("rs_vs_ri_reml", 150, seed=3),
        bootstrap_lrt(MODELS[True]["ri"], MODELS[True]["rs"], 150, seed=3, progress=False),
    )
    np.testing.assert_array_equal(a.null_statistics, b.null_statistics)
    assert not np.array_equal(a.null_statistics, bootstrap("rs_vs_ri_reml", 150, seed=4).null_statistics)
    assert a.n_boot == 150 and a.seed == 3
    e1, e2 = exact(500, seed=1), exact_rlrt(MODELS[True]["ri"], 500, seed=1, progress=False)
    np.testing.assert_array_equal(e1.null_statistics, e2.null_statistics)


def test_pvalue_and_its_monte_carlo_error():
    run = bootstrap("rs_vs_ri_reml", 150, seed=3)
    extreme = np.count_nonzero(run.null_statistics >= run.statistic)
    assert run.p_value == (1 + extreme) / 151
    assert run.mc_se == pytest.approx(np.sqrt(run.p_value * (1 - run.p_value) / 150))
    assert "MC s.e." in repr(run) and run.summary()["p (bootstrap)"] == run.p_value


def test_incompatible_models_are_refused():
    gp_bmi = fit("chol ~ age_c + bmi", "~ age_c", True)
    with pytest.raises(BoundaryTestError, match="same fixed effects"):
        bootstrap_lrt(MODELS[True]["ri"], gp_bmi, 10, seed=1, progress=False)
    with pytest.raises(BoundaryTestError, match="REML"):
        bootstrap_lrt(MODELS[False]["ri"], MODELS[True]["rs"], 10, seed=1, progress=False)
    with pytest.raises(BoundaryTestError, match="not nested"):
        bootstrap_lrt(MODELS[True]["rs"], MODELS[True]["ri"], 10, seed=1, progress=False)
    with pytest.raises(BoundaryTestError, match="more random effects"):
        bootstrap_lrt(MODELS[True]["ri"], MODELS[True]["ri"], 10, seed=1, progress=False)
    with pytest.raises(BoundaryTestError, match="seed"):
        bootstrap_lrt(MODELS[True]["ri"], MODELS[True]["rs"], 10, seed=None, progress=False)
    with pytest.raises(BoundaryTestError, match="n_boot"):
        bootstrap_lrt(MODELS[True]["ri"], MODELS[True]["rs"], 0, seed=1, progress=False)
    with pytest.raises(BoundaryTestError, match="single variance component"):
        exact_rlrt(MODELS[True]["rs"], 10, seed=1, progress=False)
    with pytest.raises(BoundaryTestError, match="reml=True"):
        exact_rlrt(MODELS[False]["ri"], 10, seed=1, progress=False)
    with pytest.raises(BoundaryTestError, match="single variance component"):
        rlrt_statistics(MODELS[True]["rs"], GP[["chol"]].T)
    with pytest.raises(BoundaryTestError, match="441 columns"):
        rlrt_statistics(MODELS[True]["ri"], GP["chol"])
    with pytest.raises(BoundaryTestError, match="finite"):
        rlrt_statistics(MODELS[True]["ri"], np.full((1, len(GP)), np.nan))


def test_rlrt_statistics_are_the_exact_tests_and_lr_statistics():
    """On the fit's own response, the exact RLRT's statistic; on other responses, lr_statistic of fresh fits."""
    ri = MODELS[True]["ri"]
    assert rlrt_statistics(ri, GP[["chol"]].T)[0] == pytest.approx(exact().statistic, abs=1e-10)
    rng = np.random.default_rng(8)
    codes = GP["doctor"].astype("category").cat.codes.to_numpy()
    Y = 5.8 + 0.02 * GP["age_c"].to_numpy() + np.array([[0.0], [0.05], [0.5]]) * rng.standard_normal((3, 12))[:, codes]
    Y += 0.6 * rng.standard_normal(Y.shape)
    refits = [
        lr_statistic(
            fit("chol ~ age_c", None, True, GP.assign(chol=y)), fit("chol ~ age_c", "1", True, GP.assign(chol=y))
        )
        for y in Y
    ]
    assert rlrt_statistics(ri, Y) == pytest.approx(refits, abs=LRT_ATOL)


# ----------------------------------------------------------------------------- the progress bar


def test_progress_bar_draws_on_stderr_outside_jupyter_and_nothing_when_disabled(capsys):
    with progress_bar(4, "work") as bar:
        bar.update(4)
    assert "work" in capsys.readouterr().err
    with progress_bar(4, "quiet", enabled=False) as bar:
        bar.update(4)
    assert capsys.readouterr().err == ""


@pytest.mark.slow
def test_progress_bar_leaves_nothing_in_a_notebook():
    notebook = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell(
                "from helpers.progress import progress_bar\n"
                "print('before')\n"
                "with progress_bar(50, 'work') as bar:\n"
                "    for _ in range(50):\n"
                "        bar.update(1)\n"
                "print('after')"
            )
        ]
    )
    NotebookClient(notebook, timeout=120, kernel_name="python3").execute()
    outputs = notebook.cells[0].outputs
    assert [(o["output_type"], o.get("name"), o.get("text")) for o in outputs] == [("stream", "stdout", "after\n")]
