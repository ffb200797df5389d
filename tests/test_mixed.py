"""helpers.mixed against R: every number compared with what nlme, lme4 and anova() print.

The reference numbers live in tests/reference/r_reference.json, written by
tests/reference/make_reference.R; test_reference_is_current reruns that script so
the committed file cannot drift from what R computes on the current data.
"""

from __future__ import annotations

import json
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

from helpers import mixed
from helpers.data import load_gp_cholesterol, sha256_of
from helpers.mixed import LmeConvergenceError, LmeInputError, fit_lme, icc, lrt

REFERENCE_DIR = Path(__file__).resolve().parent / "reference"
REFERENCE = json.loads((REFERENCE_DIR / "r_reference.json").read_text())
ESTIMATE_RTOL = 1e-5  # the tolerances: estimates to 1e-5, everything else to 1e-3
OTHER_RTOL = 1e-3
LOGLIK_ATOL = 1e-5  # stricter than 1e-3 relative, which would hide a wrong optimum


def _load(dataset: str) -> pd.DataFrame:
    if dataset == "gp_cholesterol":
        return load_gp_cholesterol()
    return pd.read_csv(REFERENCE_DIR / "dietox.csv")


DATA = {name: _load(name) for name in ("gp_cholesterol", "dietox")}
LME_CASES = [(d, m) for d in DATA for m in REFERENCE[d]["lme"]]
LMER_CASES = [(d, m) for d in DATA for m, r in REFERENCE[d]["lmer"].items() if r["converged"]]
ANOVA_CASES = [(d, a) for d in DATA for a in REFERENCE[d]["anova"]]

_fits: dict[tuple[str, str], mixed.LmeFit] = {}


def fitted(dataset: str, model: str) -> mixed.LmeFit:
    """fit_lme on the model the reference names, fitted once per test session."""
    if (dataset, model) not in _fits:
        spec = REFERENCE[dataset]["lme"][model]["spec"]
        _fits[dataset, model] = fit_lme(DATA[dataset], spec["fixed"], spec["random"], spec["group"], reml=spec["reml"])
    return _fits[dataset, model]


def close(ours, theirs, rtol, atol=0.0):
    """|ours - theirs| <= atol + rtol |theirs| elementwise (atol may be an array)."""
    ours, theirs = np.asarray(ours, float), np.asarray(theirs, float)
    bad = ~np.isclose(ours, theirs, rtol=rtol, atol=atol)
    assert not bad.any(), f"ours {ours[bad]} vs R {theirs[bad]} (rtol={rtol}, atol={atol})"


# ----------------------------------------------------------------------------- parity with R


@pytest.mark.parametrize("dataset", DATA)
def test_reference_was_made_from_the_current_data(dataset):
    """Checked without R too: a data file rebuilt since the reference was made fails here."""
    meta = REFERENCE["data"][dataset]
    assert sha256_of(REFERENCE_DIR.parent.parent / meta["path"]) == meta["sha256"], (
        f"{meta['path']} changed since r_reference.json was made: rerun Rscript tests/reference/make_reference.R")
    assert meta["rows"] == len(DATA[dataset])


@pytest.mark.parametrize("dataset,model", LME_CASES)
def test_fit_lme_matches_nlme(dataset, model):
    """Against nlme run to its optimum (tight lmeControl), at the issue's tolerances."""
    ref, fit = REFERENCE[dataset]["lme_converged"][model], fitted(dataset, model)
    fixed = fit.fixed.loc[ref["fixed"]["term"]]
    close(fixed["estimate"], ref["fixed"]["estimate"], ESTIMATE_RTOL)
    for ours, theirs in [("std_error", "std_error"), ("t", "t"), ("p", "p")]:
        close(fixed[ours], ref["fixed"][theirs], OTHER_RTOL)
    assert fixed["df"].tolist() == ref["fixed"]["df"]
    close(fit.vcov.loc[fixed.index, fixed.index], ref["vcov"], OTHER_RTOL)
    assert fit.random_sd.index.tolist() == list(ref["random_sd"])
    close(fit.random_sd, list(ref["random_sd"].values()), OTHER_RTOL)
    close(fit.random_corr, ref["random_corr"], OTHER_RTOL)
    close(fit.loglik, ref["loglik"], 0, LOGLIK_ATOL)
    close([fit.aic, fit.bic], [ref["aic"], ref["bic"]], 0, 2 * LOGLIK_ATOL)
    assert (fit.n_params, fit.nobs, fit.ngroups) == (ref["n_params"], ref["nobs"], ref["ngroups"])
    assert fit.converged


@pytest.mark.parametrize("dataset,model", [c for c in LME_CASES if c[1] != "rs_shifted_reml"])
def test_fit_lme_agrees_with_nlme_called_as_in_the_lecture(dataset, model):
    """Against nlme's default stopping rule: never a lower log-likelihood, the rest to 1e-3."""
    ref, fit = REFERENCE[dataset]["lme"][model], fitted(dataset, model)
    assert fit.loglik > ref["loglik"] - 1e-11 * abs(ref["loglik"])  # rounding only
    close(fit.loglik, ref["loglik"], 0, LOGLIK_ATOL)
    fixed = fit.fixed.loc[ref["fixed"]["term"]]
    se = np.array(ref["fixed"]["std_error"])
    close(fixed["estimate"], ref["fixed"]["estimate"], OTHER_RTOL, OTHER_RTOL * se)
    close(fixed["std_error"], se, OTHER_RTOL)
    assert fixed["df"].tolist() == ref["fixed"]["df"]
    close(fit.random_sd, list(ref["random_sd"].values()), OTHER_RTOL)
    close(fit.random_corr, ref["random_corr"], OTHER_RTOL)


def test_nlme_called_as_in_the_lecture_misses_the_optimum_of_a_shifted_covariate():
    """age * 10 + 1000 is the same model as age; nlme's defaults stop far below its optimum."""
    lecture = REFERENCE["gp_cholesterol"]["lme"]["rs_shifted_reml"]["loglik"]
    converged = REFERENCE["gp_cholesterol"]["lme_converged"]["rs_shifted_reml"]["loglik"]
    ours, unshifted = fitted("gp_cholesterol", "rs_shifted_reml"), fitted("gp_cholesterol", "rs_reml")
    assert ours.loglik - lecture > 1
    close(ours.loglik, converged, 0, LOGLIK_ATOL)
    close(ours.loglik, unshifted.loglik - np.log(10), 0, 1e-8)  # REML logLik moves by -log|det T|


@pytest.mark.parametrize("dataset,model", LME_CASES)
def test_blups_and_fitted_values_match_nlme(dataset, model):
    ref, fit = REFERENCE[dataset]["lme_converged"][model], fitted(dataset, model)
    assert [str(g) for g in fit.ranef.index] == ref["ranef"]["group"]
    for term in fit.ranef:
        theirs = np.asarray(ref["ranef"][term])
        close(fit.ranef[term], theirs, OTHER_RTOL, OTHER_RTOL * np.abs(theirs).max())
    close(fit.fitted, ref["fitted"], ESTIMATE_RTOL)
    close(fit.residuals + fit.fitted, DATA[dataset][ref["spec"]["fixed"].split("~")[0].strip()], 1e-12)


@pytest.mark.parametrize("dataset,model", LMER_CASES)
def test_fit_lme_matches_lmer_where_lmer_converges(dataset, model):
    ref, fit = REFERENCE[dataset]["lmer"][model], fitted(dataset, model)
    close(fit.fixed.loc[ref["fixed"]["term"], "estimate"], ref["fixed"]["estimate"], ESTIMATE_RTOL)
    # lme4's vcov, like nlme's vcov(), lacks summary.lme's ML adjustment.
    close(np.sqrt(np.diag(fit.vcov.loc[ref["fixed"]["term"], ref["fixed"]["term"]])), ref["fixed"]["std_error"],
          OTHER_RTOL)
    close(fit.random_sd, list(ref["random_sd"].values()), OTHER_RTOL)
    close(fit.loglik, ref["loglik"], 0, LOGLIK_ATOL)


@pytest.mark.parametrize("dataset,comparison", ANOVA_CASES)
def test_lrt_matches_anova(dataset, comparison):
    ref = REFERENCE[dataset]["anova"][comparison]
    table = lrt(*(fitted(dataset, m) for m in ref["rows"]), names=ref["rows"])
    assert table.columns.tolist() == [c for c in ref if c != "rows"]
    assert table.index.tolist() == ref["rows"]
    assert table["Model"].tolist() == ref["Model"] and table["df"].tolist() == ref["df"]
    assert table["Test"].tolist() == ref["Test"]
    close(table[["AIC", "BIC", "logLik"]].to_numpy().T, [ref["AIC"], ref["BIC"], ref["logLik"]], 0, 2 * LOGLIK_ATOL)
    assert np.isnan(table["L.Ratio"].iloc[0]) and np.isnan(table["p-value"].iloc[0])
    close(table["L.Ratio"].iloc[1:], ref["L.Ratio"][1:], OTHER_RTOL)
    close(table["p-value"].iloc[1:], ref["p-value"][1:], OTHER_RTOL)


@pytest.mark.parametrize("model", ["ri_reml", "ri_ml"])
def test_icc_matches_r(model):
    close(icc(fitted("gp_cholesterol", model)), REFERENCE["gp_cholesterol"]["icc"][model], OTHER_RTOL)


OLS_FORMULAS = {"pooled": "chol ~ age", "grouped": "chol_grouped ~ age_grouped",
                "varying_intercept": "chol ~ C(doctor) + age", "varying_slope": "chol ~ age:C(doctor)"}


@pytest.mark.parametrize("model", OLS_FORMULAS)
def test_statsmodels_ols_matches_lm_for_the_first_half(model):
    ref, gp = REFERENCE["gp_cholesterol"]["lm"][model], DATA["gp_cholesterol"]
    if model == "grouped":
        gp = gp.groupby("doctor")[["chol", "age"]].mean().add_suffix("_grouped")
    fit = smf.ols(OLS_FORMULAS[model], gp).fit()
    coef = ref["coefficients"]
    assert len(fit.params) == len(coef["term"])  # same columns, in R's order
    close(fit.params, coef["estimate"], ESTIMATE_RTOL)
    close([fit.bse, fit.tvalues, fit.pvalues], [coef["std_error"], coef["t"], coef["p"]], OTHER_RTOL)
    close([np.sqrt(fit.scale), fit.df_resid, fit.rsquared, fit.rsquared_adj, fit.fvalue, fit.df_model, fit.f_pvalue],
          [ref[k] for k in ("sigma", "df_residual", "r_squared", "adj_r_squared", "f_statistic", "f_df_model",
                            "f_p_value")], OTHER_RTOL)
    close(np.quantile(fit.resid, [0, 0.25, 0.5, 0.75, 1]), list(ref["residual_quantiles"].values()), OTHER_RTOL, 1e-12)


@pytest.mark.needs_r
@pytest.mark.slow
def test_reference_is_current(tmp_path):
    """Rerun the R script: a committed reference that differs from R's output is stale."""
    out = tmp_path / "r_reference.json"
    run = subprocess.run(["Rscript", str(REFERENCE_DIR / "make_reference.R"), str(out)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    fresh = json.loads(out.read_text())
    assert fresh["data"] == REFERENCE["data"], "data changed: rerun Rscript tests/reference/make_reference.R"
    assert fresh == REFERENCE, "R's output differs from tests/reference/r_reference.json: rerun make_reference.R"


def test_dietox_copy_matches_statsmodels():
    from reference.export_dietox import dietox_csv_text  # noqa: PLC0415  (tests/ is on sys.path)

    assert (REFERENCE_DIR / "dietox.csv").read_text() == dietox_csv_text()


# ----------------------------------------------------------------------------- why the helper exists


def test_plain_statsmodels_misses_nlme_optimum_where_fit_lme_reaches_it():
    gp, ref = DATA["gp_cholesterol"], REFERENCE["gp_cholesterol"]["lme"]["rs_reml"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain = smf.mixedlm("chol ~ age", gp, groups="doctor", re_formula="~age").fit()
    assert abs(plain.llf - ref["loglik"]) > 10 * LOGLIK_ATOL
    assert np.isnan(plain.aic)  # and no AIC under REML, which fit_lme gives as nlme does
    assert abs(fitted("gp_cholesterol", "rs_reml").loglik - ref["loglik"]) < LOGLIK_ATOL


def test_plain_statsmodels_claims_convergence_at_a_wrong_optimum_for_a_shifted_covariate():
    """age + 100 is the same model (same REML logLik, slope and its SD); statsmodels says converged and is not."""
    shifted = DATA["gp_cholesterol"].assign(age=lambda d: d["age"] + 100.0)
    ref = REFERENCE["gp_cholesterol"]["lme_converged"]["rs_reml"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain = smf.mixedlm("chol ~ age", shifted, groups="doctor", re_formula="~age").fit()
    assert plain.converged and plain.llf < ref["loglik"] - 1
    fit = fit_lme(shifted, "chol ~ age", "~ 1 + age", "doctor")
    close(fit.loglik, ref["loglik"], 0, LOGLIK_ATOL)
    close(fit.random_sd[["age", "Residual"]], [ref["random_sd"]["age"], ref["random_sd"]["Residual"]], OTHER_RTOL)
    close(fit.fixed.loc["age", "estimate"], ref["fixed"]["estimate"][1], ESTIMATE_RTOL)


# ----------------------------------------------------------------------------- refusals and errors


def test_lrt_skips_the_test_between_fits_with_equal_df_as_nlme_does():
    gp = DATA["gp_cholesterol"]
    age, bmi = (fit_lme(gp, f"chol ~ {x}", "~ 1", "doctor", reml=False) for x in ("age", "bmi"))
    table = lrt(bmi, age, fitted("gp_cholesterol", "rs_ml"))
    assert table["Test"].tolist() == ["", "", "2 vs 3"]
    assert table["L.Ratio"].isna().tolist() == [True, True, False]


def test_lrt_refuses_reml_fits_with_different_fixed_effects():
    with pytest.raises(LmeInputError, match=r"reml=False"):
        lrt(fitted("gp_cholesterol", "rs_reml"), fitted("gp_cholesterol", "rs_agedoc_reml"))


def test_lrt_refuses_mixed_methods_and_single_fits():
    with pytest.raises(LmeInputError, match="same method"):
        lrt(fitted("gp_cholesterol", "rs_reml"), fitted("gp_cholesterol", "rs_ml"))
    with pytest.raises(LmeInputError, match="at least two"):
        lrt(fitted("gp_cholesterol", "rs_reml"))


def test_icc_refuses_random_slope_fit():
    with pytest.raises(LmeInputError, match="random-intercept"):
        icc(fitted("gp_cholesterol", "rs_reml"))


@pytest.fixture
def small():
    rng = np.random.default_rng(3)
    return pd.DataFrame({"y": rng.normal(size=40), "x": rng.normal(size=40), "g": np.repeat(np.arange(8), 5),
                         "label": ["a", "b"] * 20})


@pytest.mark.parametrize("kwargs,message", [
    ({"fixed": "y ~ age"}, "unknown column 'age'"),
    ({"fixed": "y ~ np.log(x2)"}, "unknown column 'x2'"),
    ({"random": "~ 1 + z"}, "unknown column 'z'"),
    ({"group": "doctor"}, "unknown column 'doctor'"),
    ({"fixed": "y ~ x + label"}, "'label' is not numeric"),
    ({"fixed": "~ x"}, "two-sided"),
    ({"random": "~ 1 | g"}, "without '|'"),
])
def test_bad_formulas_are_named(small, kwargs, message):
    args = {"fixed": "y ~ x", "random": "~ 1", "group": "g"} | kwargs
    with pytest.raises(LmeInputError, match=message):
        fit_lme(small, **args)


def test_missing_values_are_named(small):
    small.loc[3, "x"] = np.nan
    with pytest.raises(LmeInputError, match=r"column 'x' has missing values \(rows \[3\]\)"):
        fit_lme(small, "y ~ x", "~ 1", "g")


def test_missing_values_in_unused_columns_are_fine():
    fit_lme(DATA["dietox"], "Weight ~ Time", "~ 1", "Pig")
    with pytest.raises(LmeInputError, match="'Feed' has missing values"):
        fit_lme(DATA["dietox"], "Weight ~ Time + Feed", "~ 1", "Pig")


def test_group_with_one_row_is_named(small):
    small.loc[0, "g"] = 99
    with pytest.raises(LmeInputError, match=r"group\(s\) \[99\] of 'g' have a single row"):
        fit_lme(small, "y ~ x", "~ 1", "g")


def test_collinear_fixed_effects_are_refused(small):
    with pytest.raises(LmeInputError, match="linearly dependent"):
        fit_lme(small.assign(x2=lambda d: 2 * d["x"] + 1), "y ~ x + x2", "~ 1", "g")


def test_errors_are_value_errors():
    assert issubclass(LmeInputError, ValueError)


# ----------------------------------------------------------------------------- the optimum is verified


def test_boundary_optimum_raises_instead_of_answering():
    # Every group holds the same values: the between-group variance estimate is 0, on the boundary.
    data = pd.DataFrame({"y": np.tile([1.0, 2.5, 0.3, 4.1, 2.2], 6), "g": np.repeat(np.arange(6), 5)})
    with pytest.raises(LmeConvergenceError, match="boundary"):
        fit_lme(data, "y ~ 1", "~ 1", "g")


def test_disagreeing_optimizers_raise(monkeypatch):
    real = mixed.optimize.minimize

    def stop_early(fun, x0, method, **kwargs):  # each optimizer gives up after one iteration
        kwargs["options"] = {"maxiter": 1}
        return real(fun, x0, method=method, **kwargs)

    monkeypatch.setattr(mixed.optimize, "minimize", stop_early)
    monkeypatch.setattr(mixed, "_newton_polish", lambda f, x: (x, *_derivatives_at(f, x)))
    with pytest.raises(LmeConvergenceError, match="could not verify"):
        fit_lme(DATA["dietox"], "Weight ~ Time", "~ 1 + Time", "Pig")


def _derivatives_at(with_gradient, x):
    return with_gradient(x)[1], mixed._hessian(with_gradient, x)


def test_analytic_gradient_matches_finite_differences():
    rng = np.random.default_rng(0)
    n = 60
    X = np.column_stack([np.ones(n), rng.normal(size=n), rng.normal(size=n)])
    Z = X[:, :2]
    codes = np.repeat(np.arange(6), 10)
    y = X @ [1.0, 0.5, -0.3] + rng.normal(size=6)[codes] + rng.normal(size=n)
    for reml in (True, False):
        problem = mixed._Profile(y, X, Z, codes, reml)
        theta = np.array([0.2, -0.3, -0.5])
        h = 1e-6
        numeric = [(problem.deviance(theta + e) - problem.deviance(theta - e)) / (2 * h) for e in np.eye(3) * h]
        close(problem.deviance(theta, gradient=True)[1], numeric, 1e-5)


def test_nlme_df_rule_for_a_column_varying_in_some_groups_only():
    codes = np.repeat([0, 1, 2], 4)
    partly = np.array([1, 1, 1, 1, 2, 2, 2, 2, 3, 4, 3, 4.0])  # varies only within group 2
    X = np.column_stack([np.ones(12), partly, np.repeat([5.0, 6, 7], 4)])
    # partly -> within-group stratum: 12 - 3 - 1 = 8; group-level column: 3 - 1 - 1 = 1.
    assert mixed._nlme_df(X, codes).tolist() == [8, 8, 1]


def test_summary_reads_like_r():
    text = str(fitted("gp_cholesterol", "rs_agedoc_reml"))
    for expected in ["Linear mixed-effects model fit by REML", "Random effects:", " Formula: ~ 1 + age | doctor",
                     "Fixed effects:  chol ~ age + agedoc", "Number of Observations: 441", "Number of Groups: 12"]:
        assert expected in text
