"""helpers on data sets that ship with R, against R's own numbers (issue 22).

tests/reference/make_r_datasets_reference.R exports the data sets (sleepstudy, Dyestuff2,
IGF, Orthodont and subsets of them) as CSV files and writes what nlme, lme4, lmerTest,
pbkrtest and RLRsim report on them; it runs once per test session, into a temporary
folder, so every number compared here comes from that run and none is stored.
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

from helpers.boundary import BoundaryTestError, exact_rlrt
from helpers.diagnostics import predicted_effects
from helpers.mixed import LmeConvergenceError, LmeInputError, SingularFitWarning, check_fit, lrt, nlme_summary
from helpers.rsummary import r_summary_text
from helpers.smallsample import kenward_roger, satterthwaite
from tests.r_reference import close

SCRIPT = Path(__file__).resolve().parent / "reference" / "make_r_datasets_reference.R"
ESTIMATE_RTOL = 1e-5  # tests/test_mixed.py's tolerances
OTHER_RTOL = 1e-3

pytestmark = pytest.mark.needs_r


@pytest.fixture(scope="module")
def r_run(tmp_path_factory):
    """The folder of the R run: its data sets as CSV and reference.json."""
    folder = tmp_path_factory.mktemp("r_datasets")
    run = subprocess.run(["Rscript", str(SCRIPT), str(folder)], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    return folder


@pytest.fixture(scope="module")
def r_numbers(r_run):
    return json.loads((r_run / "reference.json").read_text())


def read(r_run, name: str) -> pd.DataFrame:
    return pd.read_csv(r_run / f"{name}.csv")


def mixedlm(formula, data, group, re_formula=None, reml=True, **fit_kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return smf.mixedlm(formula, data, groups=group, re_formula=re_formula).fit(reml=reml, **fit_kwargs)


# ----------------------------------------------------------------------------- silent wrong numbers


@pytest.mark.parametrize(
    ("case", "data", "formula"),
    [
        ("single_group", "sleepstudy_308", "Reaction ~ Days"),
        ("confounded", "sleepstudy", "Reaction ~ Days + C(Subject)"),
    ],
)
def test_exact_rlrt_refuses_a_variance_it_cannot_test(r_run, r_numbers, case, data, formula):
    """R's exactRLRT finds nothing to test here (RLRT 0, p 1); we say why rather than give a p-value."""
    assert r_numbers["exact_rlrt"][case] == {"statistic": 0, "p_value": 1}
    fit = mixedlm(formula, read(r_run, data), "Subject")
    with pytest.raises(BoundaryTestError, match="one group, or the grouping column also among the fixed effects"):
        exact_rlrt(fit, 100, seed=1, progress=False)


@pytest.mark.parametrize(("case", "re_formula"), [("sleepstudy_rs", "~ Days"), ("sleepstudy_slope_only", "~ 0 + Days")])
def test_predicted_effects_are_lme4s_conditional_modes(r_run, r_numbers, case, re_formula):
    """BLUPs and conditional SDs at the verified optimum, labelled by their terms (lme4: ranef(condVar = TRUE))."""
    ref = r_numbers[case]["ranef"]
    effects = predicted_effects(mixedlm("Reaction ~ Days", read(r_run, "sleepstudy"), "Subject", re_formula))
    assert list(dict.fromkeys(effects["term"])) == ["Intercept" if t == "(Intercept)" else t for t in ref]
    for term, numbers in ref.items():
        ours = effects[effects["term"] == ("Intercept" if term == "(Intercept)" else term)]
        assert [str(g) for g in ours["group"]] == numbers["group"]
        close(
            ours["estimate"], numbers["estimate"], ESTIMATE_RTOL, atol=ESTIMATE_RTOL * np.abs(numbers["estimate"]).max()
        )
        close(ours["cond_sd"], numbers["cond_sd"], ESTIMATE_RTOL)


# ----------------------------------------------------------------------------- where R answers


def assert_lmer_numbers(report, ref, loglik=True):
    """An LmeFit against summary(lmer): fixed effects, standard errors, SDs, correlation, log-likelihood."""
    close(report.fixed["estimate"], list(ref["fixed"].values()), ESTIMATE_RTOL)
    assert list(report.fixed.index) == list(ref["fixed"])
    close(report.fixed["std_error"], list(ref["std_error"].values()), OTHER_RTOL)
    sd = report.random_sd[ref["sd_names"]]
    close(sd, ref["sd"], OTHER_RTOL, atol=1e-6 * ref["sd"][-1])  # a zero SD is zero to 1e-6 of sigma
    if ref["corr"]:
        close(report.random_corr.iloc[1, 0], ref["corr"], OTHER_RTOL)
    if loglik:
        close(report.loglik, ref["loglik"], 0, 1e-5)
    assert bool(report.singular) == ref["singular"]


def test_a_zero_variance_is_reported_as_lme4_reports_it(r_run, r_numbers):
    """Dyestuff2: the between-batch variance is estimated as 0; the fit is reported, with a warning, and so
    are lmerTest's and pbkrtest's df."""
    ref = r_numbers["dyestuff2"]
    assert ref["singular"] and ref["sd"][0] == 0
    data = read(r_run, "dyestuff2")
    fit = mixedlm("Yield ~ 1", data, "Batch")
    with pytest.warns(
        SingularFitWarning,
        match=r"boundary \(singular\) fit: the variance of the random "
        r"\(Intercept\) is estimated as 0",
    ) as warned:
        report = nlme_summary(fit)
    check_fit(fit)
    assert not any("stopped" in str(w.message) for w in warned)  # statsmodels reached this boundary
    assert_lmer_numbers(report, ref)
    assert str(report).endswith("boundary (singular) fit: the variance of the random (Intercept) is estimated as 0")
    with pytest.warns(SingularFitWarning, match=r"Var\(Batch\) is estimated as 0"):
        sat, kr = satterthwaite(fit), kenward_roger(fit)
    close(sat["df"], ref["satterthwaite_df"], OTHER_RTOL)  # lmerTest's numerical Hessian: 29 to 1e-10
    close(kr["df"], ref["kenward_roger_df"], OTHER_RTOL)
    close(sat["std_error"], list(ref["std_error"].values()), OTHER_RTOL)


def test_a_correlation_of_minus_one_is_reported_as_lme4_reports_it(r_run, r_numbers):
    """IGF: lme4 reaches a correlation of -1, which statsmodels' optimisers approach without reaching (its
    default stops about 0.6 below it in log-likelihood). nlme_summary reports lme4's numbers with a warning
    that statsmodels' own estimates stopped short; check_fit refuses those and says nlme_summary reports the
    maximum. Only that statsmodels stops short is relied on, not where: the report is the verified maximum."""
    ref = r_numbers["igf"]
    assert ref["singular"] and ref["corr"] == -1
    data = read(r_run, "igf")
    fit = mixedlm("conc ~ age", data, "Lot", "~ age")
    with pytest.raises(
        LmeConvergenceError,
        match=r"boundary \(singular\) fit \(the random effects are perfectly correlated: age and \(Intercept\) "
        r"\(-1\)\), which statsmodels' optimisers approach without reaching: nlme_summary reports that maximum "
        "as lme4 does",
    ) as refusal:
        check_fit(fit)
    # check_fit's refusal reported no numbers, so the warning comes with nlme_summary's.
    with pytest.warns(SingularFitWarning, match=r"perfectly correlated: age and \(Intercept\) \(-1\)") as warned:
        report = nlme_summary(fit)
    assert_lmer_numbers(report, ref)
    shortfall = report.loglik - fit.llf
    assert shortfall > 1e-6, "statsmodels' default now reaches this maximum: the shortfall is untested"
    assert str(refusal.value).startswith(f"statsmodels stopped {shortfall:.2g} below the maximum")
    [message] = [str(w.message) for w in warned if w.category is SingularFitWarning]
    assert message.endswith(
        f"statsmodels' own estimates in the fitted result (its fe_params, cov_re, llf) stopped {shortfall:.2g} "
        "short of this maximum in log-likelihood: they are not the fit and should not be reported"
    )
    # lrt builds on the same report; a random intercept alone has the same fixed effects, so REML compares them.
    table = lrt(mixedlm("conc ~ age", data, "Lot"), fit)
    assert table["logLik"].iloc[1] == report.loglik


def test_small_sample_df_at_a_correlation_of_minus_one(r_run, r_numbers):
    """IGF: Kenward-Roger's df and standard errors are pbkrtest's, and Satterthwaite's df lmerTest's, at lme4's
    boundary fit, with the singular-fit warning. statsmodels' Nelder-Mead reaches that optimum to 1e-5."""
    ref = r_numbers["igf"]
    fit = mixedlm("conc ~ age", read(r_run, "igf"), "Lot", "~ age", method="nm", maxiter=5000)
    assert fit.llf == pytest.approx(ref["loglik"], abs=1e-3)
    with pytest.warns(SingularFitWarning, match="perfectly correlated"):
        kr = kenward_roger(fit)
    close(kr["df"], ref["kenward_roger_df"], ESTIMATE_RTOL)
    close(kr["std_error"], ref["kenward_roger_se"], ESTIMATE_RTOL)
    with pytest.warns(SingularFitWarning, match="perfectly correlated"):
        sat = satterthwaite(fit)
    close(sat["df"], ref["satterthwaite_df"], ESTIMATE_RTOL)  # lmerTest differentiates numerically: 2e-8 here
    close(sat["std_error"], list(ref["std_error"].values()), OTHER_RTOL)


def test_one_group_cannot_estimate_a_between_group_variance(r_run):
    fit = mixedlm("Reaction ~ Days", read(r_run, "sleepstudy_308"), "Subject")
    with pytest.raises(LmeInputError, match="one group cannot estimate a between-group variance"):
        check_fit(fit)


@pytest.mark.parametrize(
    ("case", "data", "fixed"),
    [
        ("single_row", "sleepstudy_single_row", "Reaction ~ Days"),
        ("text_covariate", "orthodont", "distance ~ age + Sex"),
    ],
)
def test_nlme_summary_takes_groups_of_one_row_and_text_covariates(r_run, r_numbers, case, data, fixed):
    """As nlme::lme does: a subject with one observation, and Orthodont's Sex as text (R's term SexMale)."""
    ref = r_numbers[case]
    frame = read(r_run, data)
    group = "Subject"
    assert frame[group].value_counts().min() == (1 if case == "single_row" else 4)
    report = nlme_summary(mixedlm(fixed, frame, group))
    # patsy puts a text factor's columns before numeric ones, R after: terms are matched by R's names.
    assert sorted(report.fixed.index) == sorted(ref["fixed"])
    fixed_effects = report.fixed.loc[list(ref["fixed"])]
    close(fixed_effects["estimate"], list(ref["fixed"].values()), ESTIMATE_RTOL)
    close(fixed_effects["std_error"], list(ref["std_error"].values()), OTHER_RTOL)
    close(report.random_sd, ref["sd"], OTHER_RTOL)  # nlme prints the SDs to 7 digits
    close(report.loglik, ref["loglik"], 0, 1e-5)


# ----------------------------------------------------------------------------- R's print format


def test_r_summary_prints_rs_text(r_run, r_numbers):
    """format.pval's digits with a p-value in [1e-4, 1e-3), text factors (SexMale, in R's order), residuals
    labelled by R's row names, and the line on rows deleted as missing: character by character."""
    sleep_308 = read(r_run, "sleepstudy_308").reset_index(drop=True)
    sleep_308["noise"] = (np.arange(len(sleep_308)) + 1) % 3
    few_with_missing = read(r_run, "sleepstudy").head(7)
    few_with_missing.loc[2, "Reaction"] = np.nan
    fits = {
        "pvalue_below_1e3": (smf.ols("Reaction ~ Days + noise", sleep_308), "sleep_308"),
        "text_factor": (smf.ols("distance ~ age + Sex", read(r_run, "orthodont")), "orthodont"),
        "few_with_missing": (smf.ols("Reaction ~ Days", few_with_missing), "few_with_missing"),
    }
    for name, (model, data_name) in fits.items():
        assert r_summary_text(model.fit(), data=data_name) == r_numbers["lm_printouts"][name] + "\n", name


# ----------------------------------------------------------------------------- parity on R's data sets

PARITY = ["sleepstudy_dropped", "orthodont", "rail", "orange", "ergostool", "oats"]


@pytest.mark.parametrize("reml", [True, False], ids=["REML", "ML"])
@pytest.mark.parametrize("case", PARITY)
def test_nlme_summary_is_lme4_on_rs_data_sets(r_run, r_numbers, case, reml):
    """sleepstudy less 50 rows, Orthodont, Rail, Orange (age uncentred), ergoStool (a text factor), Oats."""
    spec = r_numbers["parity"][case]
    ref = spec["REML" if reml else "ML"]
    data, fixed = read(r_run, spec["data"]), spec["fixed_formula"]
    if fixed.startswith("yield "):  # a Python keyword, which patsy reads only quoted
        fixed = fixed.replace("yield", "Q('yield')")
    re_formula = None if spec["random"].strip() == "~ 1" else spec["random"]
    report = nlme_summary(mixedlm(fixed, data, spec["group"], re_formula, reml=reml))
    # lme4's vcov is not widened under ML as summary.lme's standard errors are: compare vcov.
    report_se = np.sqrt(np.diag(report.vcov))
    assert list(report.fixed.index) == list(ref["fixed"])
    close(report.fixed["estimate"], list(ref["fixed"].values()), ESTIMATE_RTOL)
    close(report_se, list(ref["std_error"].values()), OTHER_RTOL)
    close(report.random_sd[ref["sd_names"]], ref["sd"], OTHER_RTOL)
    if ref["corr"]:
        close(report.random_corr.iloc[1, 0], ref["corr"], OTHER_RTOL)
    close(report.loglik, ref["loglik"], 0, 1e-5)
    assert not report.singular and not ref["singular"]
