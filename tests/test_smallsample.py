"""helpers.smallsample against R: Satterthwaite df as lmerTest computes them, Kenward-Roger as pbkrtest does.

The reference numbers live in tests/reference/smallsample_reference.json, written by
tests/reference/make_smallsample_reference.R, which also records each model's
specification; test_reference_is_current reruns the script (R is installed on CI).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

from helpers.data import load_gp_cholesterol, sha256_of
from helpers.mixed import SingularFitWarning
from helpers.smallsample import (
    SmallSampleError,
    covariance_parameters,
    kenward_roger,
    kenward_roger_vcov,
    satterthwaite,
)
from tests.rscript import assert_same_numbers, rerun

REFERENCE_DIR = Path(__file__).resolve().parent / "reference"
SCRIPT = REFERENCE_DIR / "make_smallsample_reference.R"
REFERENCE = json.loads((REFERENCE_DIR / "smallsample_reference.json").read_text())
RTOL = 1e-5  # R runs lme4 to its optimum and we polish statsmodels' fit to it: they agree to ~1e-7
P_RTOL = 1e-3  # a p-value of 1e-71 moves by t^2 times the relative error of t
COLUMNS = ["estimate", "std_error", "df", "t", "p", "ci_low", "ci_high"]


def _dataset(name: str) -> pd.DataFrame:
    root = REFERENCE_DIR.parent.parent
    return load_gp_cholesterol() if name == "gp_cholesterol" else pd.read_csv(root / REFERENCE["data"][name]["path"])


DATASETS = {name: _dataset(name) for name in REFERENCE["data"]}


def fit(spec: dict, data: pd.DataFrame | None = None, **fit_args):
    """The REML statsmodels fit of the model R fitted from ``spec``.

    statsmodels' default (L-BFGS) stops 30 log-likelihood units short on the model with
    the GP's age, whose slope variance is 1e-3 of the intercept's; Powell reaches it."""
    data = DATASETS[spec["data"]] if data is None else data
    data = data.assign(**{f"{c}_c": data[c] - data[c].mean() for c in spec["centre"]})
    model = smf.mixedlm(
        spec["fixed"],
        data,
        groups=spec["group"],
        re_formula=spec["random"],
        vc_formula={v: f"0 + C({v})" for v in spec["nested"]} or None,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit(reml=True, **({"method": ["lbfgs", "powell"]} | fit_args))


_FITS = {}


def fitted(model: str):
    if model not in _FITS:
        _FITS[model] = fit(REFERENCE["models"][model]["spec"])
    return _FITS[model]


def as_frame(table: dict) -> pd.DataFrame:
    frame = pd.DataFrame({k: v for k, v in table.items() if k != "term"}, index=table["term"])
    return frame.rename(index={"(Intercept)": "Intercept"})[COLUMNS]


def assert_close(ours, theirs, rtol=RTOL, atol=0.0):
    ours, theirs = np.asarray(ours, float), np.asarray(theirs, float)
    bad = ~np.isclose(ours, theirs, rtol=rtol, atol=atol)
    assert not bad.any(), f"ours {ours[bad]} vs R {theirs[bad]} (rtol={rtol})"


MODELS = list(REFERENCE["models"])


@pytest.mark.parametrize("dataset", REFERENCE["data"])
def test_reference_was_made_from_the_current_data(dataset):
    meta = REFERENCE["data"][dataset]
    assert sha256_of(REFERENCE_DIR.parent.parent / meta["path"]) == meta["sha256"], (
        f"{meta['path']} changed since the reference was made: rerun Rscript {SCRIPT.relative_to(Path.cwd())}"
    )


@pytest.mark.parametrize("model", MODELS)
def test_satterthwaite_matches_lmertest(model):
    ref = as_frame(REFERENCE["models"][model]["satterthwaite"])
    ours = satterthwaite(fitted(model))
    assert ours.columns.tolist() == COLUMNS and ours.index.tolist() == ref.index.tolist()
    assert_close(ours.drop(columns="p"), ref.drop(columns="p"))
    assert_close(ours["p"], ref["p"], rtol=P_RTOL)


@pytest.mark.parametrize("model", MODELS)
def test_kenward_roger_matches_pbkrtest(model):
    ref = REFERENCE["models"][model]
    ours = kenward_roger(fitted(model))
    theirs = as_frame(ref["kenward_roger"])
    assert_close(ours.drop(columns="p"), theirs.drop(columns="p"))
    assert_close(ours["p"], theirs["p"], rtol=P_RTOL)
    assert_close(ours["df"], ref["kr_ddf"])
    assert_close(kenward_roger_vcov(fitted(model)), ref["vcov_adjusted"], atol=RTOL * np.abs(ref["vcov"]).max())


@pytest.mark.parametrize("model", MODELS)
def test_polished_optimum_is_lme4s(model):
    """The df are computed at the REML optimum, which lme4 run to convergence also reaches."""
    ref = REFERENCE["models"][model]
    result = fitted(model)
    assert result.llf == pytest.approx(ref["loglik"], abs=1e-3)
    psi = covariance_parameters(result)
    assert psi.index[-1] == "Residual" and (psi.filter(like="Var(") > 0).all()
    # The unadjusted standard errors are sqrt(diag(vcov)) at the optimum: lme4's to RTOL.
    assert_close(satterthwaite(result)["std_error"], np.sqrt(np.diag(ref["vcov"])))


@pytest.mark.slow
@pytest.mark.needs_r
def test_reference_is_current(tmp_path):
    """Rerun the R script: its numbers must equal the committed ones, to rounding."""
    assert_same_numbers(rerun(SCRIPT, tmp_path), REFERENCE)


# ----------------------------------------------------------------------------- properties R need not tell us


def balanced_one_way(seed=11, groups=7, size=5, between=1.0):
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(groups), size)
    return pd.DataFrame({"y": 3 + between * rng.standard_normal(groups)[g] + rng.standard_normal(g.size), "g": g})


def test_balanced_one_way_intercept_has_groups_minus_one_df():
    """Balanced one-way layout: the mean's variance is MSB / (n K) exactly, on K - 1 df, by both methods."""
    data = balanced_one_way()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = smf.mixedlm("y ~ 1", data, groups="g").fit(reml=True)
    sat, kr = satterthwaite(result), kenward_roger(result)
    assert sat.loc["Intercept", "df"] == pytest.approx(6, rel=1e-8)
    assert kr.loc["Intercept", "df"] == pytest.approx(6, rel=1e-8)
    msb = 5 * data.groupby("g")["y"].mean().var()
    assert sat.loc["Intercept", "std_error"] == pytest.approx(np.sqrt(msb / 35), rel=1e-8)
    assert kr.loc["Intercept", "std_error"] == pytest.approx(sat.loc["Intercept", "std_error"], rel=1e-8)


def test_df_do_not_depend_on_the_units_of_a_covariate():
    spec = REFERENCE["models"]["gp_rs"]["spec"]
    decades = DATASETS["gp_cholesterol"].assign(age=lambda d: d["age"] / 10)
    for method in (satterthwaite, kenward_roger):
        years, tens = method(fitted("gp_rs")), method(fit(spec, decades))
        assert_close(tens["df"], years["df"], rtol=1e-6)
        assert_close(tens["std_error"], years["std_error"] * [1, 10], rtol=1e-6)
        assert_close(tens["p"], years["p"], rtol=1e-5)


def test_interval_has_the_requested_level():
    result = fitted("gp_rs")
    wide, narrow = satterthwaite(result, level=0.99), satterthwaite(result, level=0.5)
    assert ((wide["ci_high"] - wide["ci_low"]) > (narrow["ci_high"] - narrow["ci_low"])).all()
    with pytest.raises(ValueError, match="level"):
        satterthwaite(result, level=95)


def test_a_fit_stopped_early_is_polished_to_the_same_df():
    spec = REFERENCE["models"]["gp_rs"]["spec"]
    early = fit(spec, method="nm", maxiter=100)
    assert early.llf < fitted("gp_rs").llf - 1e-5
    assert_close(satterthwaite(early), satterthwaite(fitted("gp_rs")), rtol=1e-6)


def test_a_fit_far_from_the_optimum_is_refused():
    spec = REFERENCE["models"]["gp_rs"]["spec"]
    early = fit(spec, method="bfgs", maxiter=1)
    assert early.llf < fitted("gp_rs").llf - 1e-2
    with pytest.raises(SmallSampleError, match="below the REML optimum"):
        satterthwaite(early)


def test_ml_fits_are_refused():
    data = balanced_one_way()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = smf.mixedlm("y ~ 1", data, groups="g").fit(reml=False)
    with pytest.raises(SmallSampleError, match="reml=True"):
        kenward_roger(result)


def test_other_results_are_refused():
    ols = smf.ols("chol ~ age", DATASETS["gp_cholesterol"]).fit()
    with pytest.raises(SmallSampleError, match="MixedLM"):
        satterthwaite(ols)


def test_a_variance_on_the_boundary_is_held_at_zero_with_a_warning():
    """Balanced one-way layout whose between-group variance is estimated as 0: V = sigma^2 I. Satterthwaite
    (lmerTest) drops the zero variance: N - 1 df; Kenward-Roger (pbkrtest) keeps it: groups - 1 df."""
    data = balanced_one_way(between=0.0, seed=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = smf.mixedlm("y ~ 1", data, groups="g").fit(reml=True)
    assert result.cov_re.iloc[0, 0] < 1e-6
    with pytest.warns(SingularFitWarning, match=r"boundary \(singular\) fit: Var\(g\) is estimated as 0"):
        sat = satterthwaite(result)
    assert sat.loc["Intercept", "df"] == pytest.approx(len(data) - 1, rel=1e-8)
    assert sat.loc["Intercept", "std_error"] == pytest.approx(data["y"].std(ddof=1) / np.sqrt(len(data)), rel=1e-6)
    with pytest.warns(SingularFitWarning):
        assert kenward_roger(result).loc["Intercept", "df"] == pytest.approx(data["g"].nunique() - 1, rel=1e-8)
