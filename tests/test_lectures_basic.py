"""Lectures 01-05: every number they state, checked against R or the handout.

Reference values come from R (tests/reference/lectures_basic.json, written by
tests/reference/make_lectures_basic_reference.R with lm, nlme, sandwich, p.adjust and metafor; the test
that reruns it needs R) or from the handout (datasets/handout_targets.csv). A lecture's values are read
from its own kernel by tests.lecture_values, after the lecture has run top to bottom; what a sentence of
the lecture says is read from the notebook's markdown and compared with the value it describes.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import nbformat
import numpy as np
import pytest

from helpers.handout import handout_numbers
from helpers.rsummary import printed_numbers
from tests.lecture_values import NOTEBOOKS, lecture_text, lecture_values
from tests.r_reference import PROFILE, gp as r_reference_of_gp

ROOT = Path(__file__).resolve().parent.parent
REFERENCE_SCRIPT = ROOT / "tests" / "reference" / "make_lectures_basic_reference.R"
R = json.loads((ROOT / "tests" / "reference" / "lectures_basic.json").read_text())
NUMBER_WORDS = {2: "two", 3: "three", 5: "five", 7: "seven", 9: "nine", 10: "ten", 12: "twelve"}
L01, L02, L03, L04, L05 = (
    "01-why-iid-matters",
    "02-pooled-analysis",
    "03-separate-analyses",
    "04-group-level-and-ivw",
    "05-fixed-effects",
)


def close(ours, reference, rtol=1e-8, atol=0.0):
    np.testing.assert_allclose(np.asarray(ours, dtype=float), np.asarray(reference, dtype=float), rtol=rtol, atol=atol)


def notebook(lecture: str):
    return nbformat.read(NOTEBOOKS / f"{lecture}.ipynb", as_version=4)


def text_of(lecture: str) -> str:
    """All the lecture's prose, whitespace collapsed."""
    return " ".join(lecture_text(lecture).split())


def says(lecture: str, *phrases: str) -> None:
    text = text_of(lecture)
    missing = [p for p in phrases if p not in text]
    assert not missing, f"{lecture} no longer says {missing}: update the sentence or the test"


def printed_by(lecture: str, call: str) -> str:
    """The stored standard output of the code cell containing ``call``."""
    (cell,) = [c for c in notebook(lecture).cells if c.cell_type == "code" and call in c.source]
    return "".join(o.text for o in cell.outputs if o.output_type == "stream" and o.name == "stdout")


# --------------------------------------------------------------------------- the reference itself


def test_reference_was_made_from_the_current_data():
    import hashlib

    digest = hashlib.sha256((ROOT / R["data"]["path"]).read_bytes()).hexdigest()
    assert digest == R["data"]["sha256"], f"rerun Rscript {REFERENCE_SCRIPT.relative_to(ROOT)}"


@pytest.mark.needs_r
def test_reference_is_what_r_computes_now(tmp_path):
    out = tmp_path / "fresh.json"
    run = subprocess.run(["Rscript", str(REFERENCE_SCRIPT), str(out)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    fresh = json.loads(out.read_text())
    for section in R:
        if section in ("data", "versions"):
            assert fresh[section].keys() == R[section].keys()
            continue
        for key, value in R[section].items():
            close(
                fresh[section][key] if not isinstance(value, dict) else list(fresh[section][key].values()),
                value if not isinstance(value, dict) else list(value.values()),
                rtol=1e-9,
            )


# --------------------------------------------------------------------------- 01: why iid matters


@pytest.mark.slow
def test_01_gp_summaries_and_the_truth_are_r_s():
    v = lecture_values(L01, "gp_means", "between_sd", "beta", "sigma_0", "sigma", "counts", "icc_interval")
    means, ri = R["gp_means"], R["random_intercept"]
    close(v["gp_means"]["mean"], means["mean"])
    close(v["gp_means"]["std"], means["sd"])
    close(v["between_sd"], np.std(means["mean"], ddof=1))
    assert list(v["counts"]) == means["n"]
    close(v["beta"], ri["beta"], rtol=1e-5)
    close([v["sigma_0"], v["sigma"]], [ri["sigma_u"], ri["sigma"]], rtol=1e-4)
    says(
        L01,
        f"an SD of {np.std(means['mean'], ddof=1):.2f} mmol/L",
        f"(typical SD {np.median(means['sd']):.2f} mmol/L)",
        f"they span {max(means['mean']) - min(means['mean']):.2f} mmol/L",
        f"$\\sigma_0$ = {ri['sigma_u']:.3f} mmol/L",
        f"$\\sigma$ = {ri['sigma']:.3f} mmol/L",
        f"the ICC is {ri['icc']:.3f}",
    )
    icc_estimate, icc_low, icc_high = PROFILE["reml_profile"]["ri"]["ICC"]  # lme4's REML profile
    close(v["icc_interval"], [icc_estimate, icc_low, icc_high], rtol=1e-4)
    says(L01, f"runs from {icc_low:.2f} to {icc_high:.2f}", f"(95% profile interval {icc_low:.2f} to {icc_high:.2f})")
    assert "\\tau" not in text_of(L01), "tau is the meta-analysis' between-GP SD of slopes (notebook 4), not sigma_0"
    assert "\\sigma_u" not in text_of(L01) and "u_k " not in text_of(L01), "the agreed notation is u_{0k}, sigma_0"


def random_slope_age_effect() -> tuple[float, float]:
    """SE and Kenward-Roger df of the age effect in the random-slope model (lmerTest + pbkrtest, notebook 8)."""
    kr = r_reference_of_gp("small_sample")["rs_c_reml"]["kenward_roger"]
    i = kr["term"].index("age_c")
    return kr["std_error"][i], kr["df"][i]


@pytest.mark.parametrize("lecture", [L01, L02, L04])
def test_the_random_intercept_se_is_qualified_by_the_random_slope_one(lecture):
    se, df = random_slope_age_effect()
    says(lecture, f"{se:.4f} (Kenward–Roger, about {df:.1f} df)", "Notebook 8 shows that")
    assert 1.8 < se / R["random_intercept"]["se_beta"] < 2.2, "the text says twice as large / about double"


@pytest.mark.slow
def test_01_simulation_shows_what_the_text_says():
    v = lecture_values(L01, "rates", "se_check", "N_REPS")
    rates, n = v["rates"], v["N_REPS"]
    pooled, mixed = rates.loc["pooled OLS"], rates.loc["mixed model"]
    assert pooled["covers"] < 0.95 - 3 * pooled["covers_mcse"]
    assert abs(mixed["covers"] - 0.95) < 2 * mixed["covers_mcse"]
    assert pooled["rejects"] > 0.5 and abs(mixed["rejects"] - 0.05) < 2 * mixed["rejects_mcse"]
    close(rates["covers_mcse"], np.sqrt(rates["covers"] * (1 - rates["covers"]) / n))
    assert v["se_check"].loc["pooled OLS", "ratio"] > 1.15 > v["se_check"].loc["mixed model", "ratio"]
    sd_mcse = 1 / np.sqrt(2 * (n - 1))  # relative Monte Carlo SE of an SD from n normal replications
    assert v["se_check"].loc["pooled OLS", "ratio"] > 1 + 3 * sd_mcse
    assert (abs(v["se_check"].loc[["mixed model", "group-level"], "ratio"] - 1) < sd_mcse).all()
    says(
        L01,
        f"in only {100 * pooled['covers']:.1f}% of the 200 data sets",
        f"significant in {100 * pooled['rejects']:.1f}% of data sets",
        f"The mixed model ({100 * mixed['rejects']:.1f}%, MCSE {100 * mixed['rejects_mcse']:.1f}%)",
        f"{v['se_check'].loc['pooled OLS', 'ratio']:.2f} times as much",
        f"uncertain by about {100 * sd_mcse:.0f}%",
    )


# --------------------------------------------------------------------------- 02: the pooled analysis


def test_02_pooled_printout_is_the_handouts_number_for_number():
    assert printed_numbers(printed_by(L02, "r_summary(pooled")) == handout_numbers("pooled")


CLUSTERED_OVER_NAIVE_SE = "clustered.bse['agedoc'] / naive.bse['agedoc']"


@pytest.mark.slow
def test_02_band_residual_clustering_and_robust_ses_are_r_s():
    v = lecture_values(
        L02,
        "pooled.conf_int()",
        "band",
        "medians",
        "icc(resid_model)",
        "anova_p",
        "icc(age_model)",
        "m_bar",
        "deff",
        "robust.bse",
        CLUSTERED_OVER_NAIVE_SE,
    )
    pooled, clustering = R["pooled"], R["residual_clustering"]
    close(v["pooled.conf_int()"][0], list(pooled["ci_low"].values()))
    close(v["pooled.conf_int()"][1], list(pooled["ci_high"].values()))
    close(v["band"]["mean"], pooled["band_mean"])
    close(v["band"]["mean_ci_lower"], pooled["band_low"])
    close(v["band"]["mean_ci_upper"], pooled["band_high"])
    close(v["medians"], clustering["median"])
    close(v["icc(resid_model)"], clustering["icc_resid"], rtol=1e-4)  # statsmodels' optimum, to its stopping rule
    close(v["icc(age_model)"], clustering["icc_age"], rtol=1e-4)
    close(v["anova_p"], clustering["f_test_p"], rtol=1e-6)
    close(v["m_bar"], clustering["m_bar"])
    close(v["deff"], clustering["design_effect"], rtol=1e-4)
    close(v["robust.bse"], list(pooled["cluster_robust_se"].values()))
    ratio = v["robust.bse"]["age"] / pooled["std_error"]["age"]
    says(
        L02,
        f"The cluster-robust standard error of the slope is {pooled['cluster_robust_se']['age']:.5f}, "
        f"{ratio:.2f} times the naive {pooled['std_error']['age']:.5f}",
        f"More than half ({clustering['icc_resid']:.3f})",
        f"(ICC {clustering['icc_age']:.3f})",
        f"factor {np.sqrt(clustering['design_effect']):.2f}",
        f"cluster-robust standard errors ({pooled['cluster_robust_se']['age']:.4f}, factor {ratio:.2f})",
        f"with an SE of {R['random_intercept']['se_beta']:.4f}, smaller still",
        f"By a factor of {v[CLUSTERED_OVER_NAIVE_SE]:.2f}",
    )
    assert R["random_intercept"]["se_beta"] < pooled["std_error"]["age"] < pooled["cluster_robust_se"]["age"]


# --------------------------------------------------------------------------- 03: separate analyses


@pytest.mark.slow
def test_03_per_gp_slopes_are_lmlists():
    v = lecture_values(L03, "slopes", "width_ratio", "gp_pvalues(data_chol)")
    slopes, ref = v["slopes"], R["separate"]
    assert list(slopes.index) == ref["doctor"] and list(slopes["n"]) == R["gp_means"]["n"]
    for ours, theirs in [
        ("slope", "slope"),
        ("std_error", "std_error"),
        ("lower", "ci_low"),
        ("upper", "ci_high"),
        ("p", "p"),
    ]:
        close(slopes[ours], ref[theirs])
    close(v["width_ratio"], ref["width_ratio"])
    close(v["gp_pvalues(data_chol)"], ref["p"])  # scipy's linregress is the same t test
    low, high = slopes["slope"].idxmin(), slopes["slope"].idxmax()
    says(
        L03,
        f"from {slopes['slope'].min():.4f} (Dr {low}) to {slopes['slope'].max():.4f} (Dr {high})",
        f"{NUMBER_WORDS[(slopes['lower'] > 0).sum()].capitalize()} intervals lie above zero",
        f"{v['width_ratio'].min():.2f} to {v['width_ratio'].max():.2f} times as wide as the pooled interval "
        f"(median {v['width_ratio'].median():.2f})",
    )


def test_03_says_what_lmlists_default_prints():
    ref = R["separate"]
    assert ref["pooled_rse_df"] == 417
    # the same slopes with one residual SD for all GPs: each SE scaled by pooled SD / the GP's own SD
    close(ref["pooled_rse_std_error"], ref["pooled_rse"] * np.array(ref["std_error"]) / np.array(ref["residual_sd"]))
    says(
        L03,
        f"on 441 − 24 = {ref['pooled_rse_df']} degrees of freedom",
        f"for Dr 8 it prints p = {ref['pooled_rse_p'][7]:.3f} where Dr 8's own fit gives p = {ref['p'][7]:.3f}",
        "pool = FALSE",
    )


@pytest.mark.slow
def test_03_pooled_variance_p_values_are_lmlists_default():
    v = lecture_values(L03, "pooled_df", "pooled_p")
    assert v["pooled_df"] == R["separate"]["pooled_rse_df"]
    close(v["pooled_p"], R["separate"]["pooled_rse_p"], rtol=1e-6)


@pytest.mark.slow
def test_03_corrections_reject_what_p_adjust_rejects():
    v = lecture_values(L03, "tests", "bh")
    tests, ref = v["tests"], R["separate"]
    np.testing.assert_array_equal(tests["unadjusted"], np.array(ref["p"]) < 0.05)
    np.testing.assert_array_equal(tests["Bonferroni"], np.array(ref["bonferroni"]) < 0.05)
    np.testing.assert_array_equal(tests["Holm"], np.array(ref["holm"]) < 0.05)
    np.testing.assert_array_equal(v["bh"], np.array(ref["fdr_bh"]) < 0.05)
    counts = [int(np.sum(np.array(ref[k]) < 0.05)) for k in ("p", "bonferroni", "holm")]
    assert counts == [10, 9, 10]
    says(
        L03,
        "Ten of the twelve slopes are significant at 5% without correction, nine with Bonferroni's and ten with Holm's",
        "Bonferroni loses Dr 11 (p = 0.012)",
    )


@pytest.mark.slow
def test_03_family_wise_error_rate_is_what_the_formula_says():
    fwer = lecture_values(L03, "fwer")["fwer"]
    n = 500
    unadjusted, bonferroni = fwer.iloc[0], fwer.iloc[1]
    assert abs(unadjusted - (1 - 0.95**12)) < 3 * np.sqrt(0.46 * 0.54 / n)
    assert bonferroni < 0.05 + 2 * np.sqrt(0.05 * 0.95 / n)
    says(L03, f"in {100 * unadjusted:.1f}% of the shuffled data sets", f"the rate fell to {100 * bonferroni:.1f}%")


@pytest.mark.slow
def test_03_exercise_solutions_are_right():
    v = lecture_values(L03, "by_formula", "slopes['std_error']")
    close(v["by_formula"], R["separate"]["std_error"])
    residual_sd = np.array(R["separate"]["residual_sd"])
    says(
        L03,
        f"Dr 2's residual SD, {residual_sd[1]:.2f} mmol/L, is like the other GPs' "
        f"({residual_sd.min():.2f} to {residual_sd.max():.2f})",
        f"(SD {R['gp_means']['age_sd'][1]:.1f} years)",
    )


# --------------------------------------------------------------------------- 04: group level, IVW, meta-analysis


def test_04_group_level_printout_is_the_handouts_number_for_number():
    assert printed_numbers(printed_by(L04, "r_summary(grouped")) == handout_numbers("grouped")


@pytest.mark.slow
def test_04_ivw_wls_and_dersimonian_laird_are_metafor_s():
    v = lecture_values(
        L04,
        "ivw",
        "ivw_se",
        "by_se",
        "by_matrix",
        "wls.params['Intercept']",
        "wls.bse['Intercept']",
        "wls.scale",
        "wls_known.bse['Intercept']",
        "slopes['weight'] / slopes['weight'].sum()",
        "meta.mean_effect_re",
        "meta.sd_eff_w_re",
        "meta.tau2",
        "meta.q",
        "meta.i2",
        "meta.summary_frame().loc['random effect', ['ci_low', 'ci_upp']]",
        "q",
        "tau2",
        "re",
    )
    ivw, dl = R["ivw"], R["dersimonian_laird"]
    for name in ("ivw", "by_matrix", "wls.params['Intercept']"):
        close(v[name], ivw["estimate"])
    for name in ("ivw_se", "wls_known.bse['Intercept']"):
        close(v[name], ivw["std_error"])
    close(v["by_se"], ivw["by_se"])
    close(v["wls.bse['Intercept']"], ivw["wls_default_se"])
    close(v["wls.scale"], ivw["wls_scale"])
    close(v["wls.scale"], dl["q"] / dl["q_df"])  # the scale is Q / (K - 1)
    close(v["slopes['weight'] / slopes['weight'].sum()"], ivw["weight_share"])
    for ours, theirs in [
        ("meta.mean_effect_re", "estimate"),
        ("meta.sd_eff_w_re", "std_error"),
        ("meta.tau2", "tau2"),
        ("meta.q", "q"),
        ("meta.i2", "i2"),
        ("q", "q"),
        ("tau2", "tau2"),
        ("re", "estimate"),
    ]:
        close(v[ours], dl[theirs])
    close(v["meta.summary_frame().loc['random effect', ['ci_low', 'ci_upp']]"], [dl["ci_low"], dl["ci_high"]])
    says(
        L04,
        f"The IVW slope is {ivw['estimate']:.4f} mmol/L per year with standard error {ivw['std_error']:.4f}",
        f"$Q$ = {dl['q']:.2f} on 11 df",
        f"$\\tau$ = {np.sqrt(dl['tau2']):.3f} mmol/L per year",
        f"$I^2$ = {dl['i2']:.3f}",
        f"The DerSimonian–Laird interval, {dl['ci_low']:.3f} to {dl['ci_high']:.3f}",
        f"The estimated scale {ivw['wls_scale']:.2f}",
        f"$\\sqrt{{4.2}} \\approx {np.sqrt(ivw['wls_scale']):.2f}$",
    )


@pytest.mark.slow
def test_04_simulation_truth_is_nlme_s_and_power_is_low():
    v = lecture_values(L04, "beta", "sigma_0", "sigma", "power", "grouped.params", "grouped.bse")
    ri = R["random_intercept"]
    close(v["beta"], ri["beta"], rtol=1e-5)
    close([v["sigma_0"], v["sigma"]], [ri["sigma_u"], ri["sigma"]], rtol=1e-4)
    close(v["grouped.params"], list(R["grouped"]["estimate"].values()))
    close(v["grouped.bse"], list(R["grouped"]["std_error"].values()))
    assert v["power"] < 0.2  # a slope about 16 mixed-model standard errors from zero, rarely detected
    se, _ = random_slope_age_effect()
    says(
        L04,
        f"Only {100 * v['power']:.1f}% of the simulated sets",
        f"about {0.05 / se:.0f} standard errors from zero",
        f"puts 0.05 some {0.05 / ri['se_beta']:.0f} standard errors from zero",
    )


@pytest.mark.slow
def test_04_hartung_knapp_interval_is_metafor_s_knha():
    v = lecture_values(L04, "meta.sd_eff_w_re_hksj", "hksj_low", "hksj_high", "meta.mean_effect_re")
    hk, dl = R["hartung_knapp"], R["dersimonian_laird"]  # rma(..., method = "DL", test = "knha")
    close(v["meta.mean_effect_re"], hk["estimate"])
    close([v["meta.sd_eff_w_re_hksj"], v["hksj_low"], v["hksj_high"]], [hk["std_error"], hk["ci_low"], hk["ci_high"]])
    assert hk["ci_high"] - hk["ci_low"] > dl["ci_high"] - dl["ci_low"]
    says(
        L04,
        f"The HKSJ interval, {hk['ci_low']:.3f} to {hk['ci_high']:.3f}, is a little wider",
        f"for the mean slope ({hk['ci_low']:.3f} to {hk['ci_high']:.3f})",
        f"$t$ distribution on $K - 1 = {hk['df']}$ df",
    )
    assert "honest one" not in text_of(L04)


@pytest.mark.slow
def test_04_tau_and_i2_intervals_are_metafor_s_q_profile():
    v = lecture_values(L04, "[np.sqrt(tau2_low), np.sqrt(tau2_high), i2_low, i2_high]")  # metafor: confint(dl)
    tau_low, tau_high, i2_low, i2_high = v["[np.sqrt(tau2_low), np.sqrt(tau2_high), i2_low, i2_high]"]
    says(
        L04,
        f"its 95% Q-profile interval, {tau_low:.3f} to {tau_high:.3f},",
        f"$I^2$ = {R['dersimonian_laird']['i2']:.3f} ({i2_low:.2f} to {i2_high:.2f})",
    )


@pytest.mark.slow
def test_04_group_level_claim_is_shown_false_both_ways():
    v = lecture_values(L04, "claim_power", "between_only", "power")
    flat_within = v["between_only"]["GP slopes significant"].mean()
    assert v["claim_power"] > 0.5 and flat_within < 1.5  # significant between GPs, null within every GP
    assert v["power"] < 0.2  # and the reverse: similar significant slopes in every GP, little power
    mcse = np.sqrt(v["claim_power"] * (1 - v["claim_power"]) / 500)
    says(
        L04,
        f"significant in {100 * v['claim_power']:.1f}% of 500 data sets (MCSE {100 * mcse:.1f}%)",
        f"{flat_within:.2f} of the twelve GPs",
    )


@pytest.mark.slow
def test_04_meta_regression_with_heterogeneity_is_metafor_s_dl():
    v = lecture_values(
        L04,
        "tau2_resid",
        "heterogeneous.params['agedoc']",
        "heterogeneous.bse['agedoc']",
        "heterogeneous.pvalues['agedoc']",
    )
    dl, reml = R["meta_regression_dl"], R["meta_regression_reml"]  # rma(..., mods = ~ agedoc, method = "DL"/"REML")
    close(
        [
            v["tau2_resid"],
            v["heterogeneous.params['agedoc']"],
            v["heterogeneous.bse['agedoc']"],
            v["heterogeneous.pvalues['agedoc']"],
        ],
        [dl["tau2"], dl["estimate"], dl["std_error"], dl["p"]],
        rtol=1e-7,
    )
    says(
        L04,
        f"$\\hat\\tau^2$ = {dl['tau2']:.5f}",
        f"SE {dl['std_error']:.4f} and p = {dl['p']:.3f}",
        f"(REML's $\\tau^2$ gives p = {reml['p']:.3f})",
        "`agedoc` is simulated",
    )
    assert "flatter" not in text_of(L04)


@pytest.mark.slow
def test_04_exercise_solutions_are_right():
    v = lecture_values(
        L04,
        "meta_regression.params",
        "meta_regression.bse",
        "meta_regression.pvalues",
        "meta_regression.conf_int()",
        "low",
        "high",
        "by_size.params['age_grouped']",
    )
    meta = R["meta_regression"]  # metafor's rma(slope, SE^2, mods = ~ agedoc, method = "FE")
    close(v["meta_regression.params"], list(meta["estimate"].values()))
    close(v["meta_regression.bse"], list(meta["std_error"].values()))
    close(v["meta_regression.pvalues"], list(meta["p"].values()), rtol=1e-6)
    close(v["meta_regression.conf_int()"][0], list(meta["ci_low"].values()))
    close(v["meta_regression.conf_int()"][1], list(meta["ci_high"].values()))
    says(
        L04,
        f"${meta['estimate']['agedoc']:.4f}$ mmol/L per year of age",
        f"(95% interval ${meta['ci_low']['agedoc']:.4f}$ to ${meta['ci_high']['agedoc']:.4f}$, "
        f"p = {meta['p']['agedoc']:.3f})",
    )
    dl = R["dersimonian_laird"]
    close(
        [v["low"], v["high"]],
        [dl["estimate"] - 1.96 * np.sqrt(dl["tau2"]), dl["estimate"] + 1.96 * np.sqrt(dl["tau2"])],
    )
    assert abs(v["by_size.params['age_grouped']"] - R["grouped"]["estimate"]["age_grouped"]) < 0.002


# --------------------------------------------------------------------------- 05: fixed effects


@pytest.mark.parametrize(
    "model, call", [("varying_intercept", "r_summary(varying_intercept"), ("varying_slope", "r_summary(varying_slope")]
)
def test_05_printouts_are_the_handouts_number_for_number(model, call):
    assert printed_numbers(printed_by(L05, call)) == handout_numbers(model)


@pytest.mark.slow
def test_05_gp_lines_and_the_saturated_model_are_r_s():
    v = lecture_values(
        L05,
        "lines_vi",
        "lines_vs",
        "both",
        "separate",
        "with_agedoc.fittedvalues",
        "varying_intercept.fittedvalues",
        "agedoc_on_gp.rsquared",
        "no_intercept.params",
    )
    fe = R["fixed_effects"]
    close(v["lines_vi"]["intercept"], fe["vi_intercepts_12"])
    close(v["lines_vs"]["slope"], fe["vs_slopes_12"])
    close(v["both"]["intercept"], v["separate"]["intercept"], rtol=0, atol=1e-10)
    close(v["both"]["slope"], R["separate"]["slope"], rtol=1e-8)
    assert (fe["both_rank"], fe["both_columns"]) == (24, 24)
    assert fe["with_agedoc_na"]  # R: agedoc is NA next to the GP intercepts
    close(v["with_agedoc.fittedvalues"], v["varying_intercept.fittedvalues"], rtol=0, atol=1e-9)
    close(v["agedoc_on_gp.rsquared"], 1.0, rtol=1e-12)
    close(v["no_intercept.params"].iloc[:12], fe["vi_intercepts_12"])
    slopes = v["lines_vs"]["slope"]
    intercepts = v["lines_vi"]["intercept"]
    says(
        L05,
        f"they range from {slopes.min():.3f} (Dr {slopes.idxmin()}) to {slopes.max():.3f} (Dr {slopes.idxmax()})",
        f"Dr {intercepts.idxmax()}'s line lies highest and Dr {intercepts.idxmin()}'s lowest",
    )


@pytest.mark.slow
def test_05_incidental_parameters_standard_errors_are_r_s():
    growing = lecture_values(L05, "growing")["growing"]
    fe = R["fixed_effects"]
    assert list(growing.index) == fe["growing_k"]
    close(growing["SE of beta"], fe["growing_se_beta"])
    close(growing["SE of alpha_1"], fe["growing_se_alpha_1"])
    close(growing["sigma / sqrt(n_1)"], fe["growing_floor"])
    assert np.all(np.diff(fe["growing_se_beta"]) < 0) and np.all(
        np.array(fe["growing_se_alpha_1"]) > fe["growing_floor"]
    )
    says(
        L05,
        f"per year of age (SE {fe['growing_se_beta'][-1]:.4f})",
        f"({fe['growing_se_beta'][0]:.4f} with two GPs, {fe['growing_se_beta'][-1]:.4f} with twelve)",
        f"falls from {fe['growing_se_alpha_1'][0]:.2f} to {fe['growing_se_alpha_1'][-1]:.2f}",
        f"\\sigma/\\sqrt{{n_1}} \\approx {fe['growing_floor'][-1]:.3f}$ mmol/L",
    )


@pytest.mark.slow
def test_05_neyman_scott_ml_variance_is_inconsistent():
    v = lecture_values(L05, "neyman_scott", "ml_scale", "varying_intercept.scale")
    table = v["neyman_scott"]
    largest = table.index.max()
    # with pairs, sigma^2_ML -> sigma^2 / 2 = 0.5; its sampling SD is about sqrt(0.5 / K) (K chi^2_1 terms of 1/4)
    assert abs(table.loc[largest, "ML: RSS / N"] - 0.5) < 4 * np.sqrt(0.5 / largest)
    assert abs(table.loc[largest, "RSS / (N - K)"] - 1.0) < 4 * np.sqrt(2 / largest)
    close(table["ML: RSS / N"], table["RSS / (N - K)"] / 2)
    close(v["ml_scale"] / v["varying_intercept.scale"], 428 / 441)
    says(L05, "$428/441$", f"{100 * 428 / 441:.0f}% of the unbiased one", "Neyman and Scott (1948")
    assert "never gets more precise" not in text_of(L05)


@pytest.mark.slow
def test_05_centred_levels_barely_move():
    out = printed_by(L05, "# Solution to exercise 5.2")
    move = float(re.search(r"level at age 60: ([\d.]+)", out).group(1))
    intercepts_12 = np.array(R["fixed_effects"]["vi_intercepts_12"][:11])
    intercepts_11 = np.array(R["fixed_effects"]["vi_intercepts_11"])
    delta = R["fixed_effects"]["vi_slope_12"] - R["fixed_effects"]["vi_slope_11"]
    at_60 = np.abs(
        (intercepts_12 + 60 * R["fixed_effects"]["vi_slope_12"])
        - (intercepts_11 + 60 * R["fixed_effects"]["vi_slope_11"])
    )
    close(move, at_60.max(), rtol=0, atol=5e-5)
    assert at_60.max() < 0.1 * np.abs(intercepts_12 - intercepts_11).min() and delta < 0
    says(
        L05,
        f"{R['fixed_effects']['vi_slope_11']:.4f} with GPs 1–11 and {R['fixed_effects']['vi_slope_12']:.4f} "
        "with all twelve",
        f"by at most {at_60.max():.4f} mmol/L",
    )
