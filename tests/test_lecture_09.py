"""Lecture 09 (testing a variance component): every number it computes or states, against R.

R's numbers: tests/reference/boundary_reference.json (lme4's statistics, an lme4 loop of fresh fits,
pbkrtest's PBmodcomp, RLRsim's exactRLRT). Simulated quantities are compared within Monte Carlo
error (tests/mc_compare.py); what the prose says is read from the notebook's markdown.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
from scipy import optimize, stats

from helpers.boundary import chi2_mixture_pvalue
from tests.lecture_values import lecture_text, lecture_values
from tests.mc_compare import assert_same_distribution, assert_same_pvalue
from tests.r_reference import assert_states, close

pytestmark = pytest.mark.slow
LECTURE = "09-testing-variance-components"
TEXT = lecture_text(LECTURE)
REFERENCE = Path(__file__).resolve().parent / "reference"
R = json.loads((REFERENCE / "boundary_reference.json").read_text())["comparisons"]
LRT_ATOL = 1e-5


def values(*expressions):
    return lecture_values(LECTURE, *expressions)


def test_the_fits_reached_their_optimum():
    v = values("float(ri.llf)", "float(rs.llf)")
    close([v["float(ri.llf)"], v["float(rs.llf)"]], R["rs_vs_ri_reml"]["loglik"], 0, 1e-5)


def test_observed_statistics_and_their_mixture_pvalues():
    v = values("tests")
    table = v["tests"]
    close(table["LRT"], [R["ri_vs_none_reml"]["statistic"], R["rs_vs_ri_reml"]["statistic"]], 0, LRT_ATOL)
    intercepts, slopes = table["LRT"]
    close(table["p, chi-square"], [stats.chi2.sf(intercepts, 1), stats.chi2.sf(slopes, 2)], 1e-10)
    # The mixtures from their definition, not from the helper under test.
    close(table["p, 50:50 mixture"], [stats.chi2.sf(intercepts, 1) / 2,
                                      (stats.chi2.sf(slopes, 1) + stats.chi2.sf(slopes, 2)) / 2], 1e-10)
    assert_states(TEXT, (intercepts, ".1f"), (slopes, ".2f"), (stats.chi2.sf(slopes, 2), ".4f"),
                  (table["p, 50:50 mixture"].iloc[1], ".4f"), (table["p, 50:50 mixture"].iloc[0], ".1e"))


def test_exact_rlrt_is_rlrsims():
    v = values("exact.statistic", "exact.p_value", "exact.null_statistics")
    ref = R["ri_vs_none_reml"]["exact_rlrt"]
    close(v["exact.statistic"], ref["statistic"], 0, LRT_ATOL)
    assert_same_distribution(v["exact.null_statistics"], ref["null"])
    assert ref["p_value_rlrsim"] == 0 and v["exact.p_value"] == 1 / 10_001  # "p <= 1/10,001"
    share = np.mean(v["exact.null_statistics"] <= 1e-8)
    assert share > 0.5  # "more than the half the mixture assumes"
    assert_states(TEXT, (100 * share, ".1f"))
    # "The mixture is ... a little below [the exact CDF] at every point" of the plot.
    grid = np.linspace(0.01, 6, 200)
    exact_cdf = np.searchsorted(np.sort(v["exact.null_statistics"]), grid, side="right") / 10_000
    assert (exact_cdf >= 0.5 + 0.5 * stats.chi2.cdf(grid, 1) - 0.005).all()


def test_bootstrap_of_the_slopes_matches_an_lme4_loop():
    v = values("boot.statistic", "boot.p_value", "boot.mc_se", "boot.null_statistics", "boot.n_boot")
    ref = R["rs_vs_ri_reml"]
    close(v["boot.statistic"], ref["statistic"], 0, LRT_ATOL)
    assert v["boot.n_boot"] == 1000
    assert_same_distribution(v["boot.null_statistics"], ref["lme4_loop"])
    assert_same_pvalue(v["boot.p_value"], v["boot.mc_se"], ref["lme4_loop"]["p_value"], ref["lme4_loop"]["n"])
    exceed = int(np.sum(v["boot.null_statistics"] >= v["boot.statistic"]))
    assert "Two of the 1000" in TEXT and exceed == 2 and v["boot.p_value"] == 3 / 1001
    assert_states(TEXT, (v["boot.p_value"], ".4f"), (v["boot.mc_se"], ".4f"))


def test_critical_values():
    v = values("mixture_q", "np.quantile(boot.null_statistics, 0.95)")
    for level, q in zip([0.10, 0.05, 0.01], v["mixture_q"]):
        # 0.5 P(chi2_1 > q) + 0.5 P(chi2_2 > q) = level, solved here independently of the lecture
        expected = optimize.brentq(lambda x: 0.5 * stats.chi2.sf(x, 1) + 0.5 * stats.chi2.sf(x, 2) - level, 0.01, 60)
        close(q, expected, 1e-8)
    boot_q = v["np.quantile(boot.null_statistics, 0.95)"]
    assert_states(TEXT, (boot_q, ".2f"), (v["mixture_q"][1], ".2f"), (stats.chi2.isf(0.05, 2), ".2f"))
    assert boot_q < v["mixture_q"][1] < stats.chi2.isf(0.05, 2)  # "between the two"


def test_the_small_variance_example():
    v = values("float(small_ri.llf)", "float(small_exact.statistic)", "small_exact.p_value", "small_exact.mc_se",
               "small_boot.p_value", "small_boot.mc_se", "float(small_boot.statistic)",
               "small_ols.model.exog", "small_ols.model.endog")
    X, y = v["small_ols.model.exog"], v["small_ols.model.endog"]
    n, p = X.shape
    rss = np.sum((y - X @ np.linalg.lstsq(X, y, rcond=None)[0]) ** 2)
    ols_reml = -0.5 * ((n - p) * (np.log(2 * np.pi * rss / (n - p)) + 1) + np.linalg.slogdet(X.T @ X)[1])
    statistic = v["float(small_exact.statistic)"]
    close(statistic, 2 * (v["float(small_ri.llf)"] - ols_reml), 0, 1e-6)  # R's logLik(lm, REML = TRUE)
    close(v["float(small_boot.statistic)"], statistic, 0, 1e-8)
    naive, mixture = stats.chi2.sf(statistic, 1), stats.chi2.sf(statistic, 1) / 2
    assert naive > 0.1 and 0.05 < mixture < 0.06  # the chi-square test and the mixture above 5%
    # "5% lies more than two standard errors above it"; the bootstrap "cannot tell which side of 5%".
    assert v["small_exact.p_value"] + 2 * v["small_exact.mc_se"] < 0.05
    assert abs(v["small_boot.p_value"] - 0.05) < 2 * v["small_boot.mc_se"]
    assert_same_pvalue(v["small_boot.p_value"], v["small_boot.mc_se"], v["small_exact.p_value"], 100_000)
    assert_states(TEXT, (naive, ".3f"), (mixture, ".3f"), (v["small_exact.p_value"], ".4f"),
                  (v["small_exact.mc_se"], ".4f"), (v["small_boot.p_value"], ".3f"), (v["small_boot.mc_se"], ".3f"))
    assert "From 100,000 draws" in TEXT and len(values("small_exact.null_statistics")["small_exact.null_statistics"]) == 100_000


@pytest.mark.needs_r
def test_the_small_variance_example_is_rlrsims(tmp_path):
    """The exact RLRT of the small-variance example against RLRsim's, from a million draws, on the same sample."""
    v = values("small[['score', 'hours_c', 'school']]", "float(small_exact.statistic)", "small_exact.p_value",
               "small_exact.mc_se")
    sample, out = tmp_path / "small.csv", tmp_path / "rlrsim.json"
    v["small[['score', 'hours_c', 'school']]"].to_csv(sample, index=False)
    run = subprocess.run(["Rscript", str(REFERENCE / "exact_rlrt_of_a_sample.R"), str(sample), str(out)],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    rlrsim = json.loads(out.read_text())
    close(v["float(small_exact.statistic)"], rlrsim["statistic"], 0, LRT_ATOL)
    assert_same_pvalue(v["small_exact.p_value"], v["small_exact.mc_se"], rlrsim["p_value"], rlrsim["n_sim"])
    assert rlrsim["p_value"] < 0.05  # the conclusion the lecture draws holds for R's p-value too


def test_replicates_needed():
    assert 2 * np.sqrt(0.04 * 0.96 / 1500) < 0.0102 and 2 * np.sqrt(0.04 * 0.96 / 1400) > 0.01  # "about B = 1500"
    assert "about $B = 1500$" in TEXT


def test_exercise_solutions():
    v = values("again.p_value", "again.mc_se", "intercepts.null_statistics", "intercepts.p_value",
               "boot_ml.statistic", "boot_ml.p_value", "boot_ml.mc_se", "boot_ml.null_statistics")
    # 9.1: another seed agrees within Monte Carlo error.
    assert_same_pvalue(v["again.p_value"], v["again.mc_se"], R["rs_vs_ri_reml"]["lme4_loop"]["p_value"], 1000)
    # 9.2: the bootstrap of the intercepts draws from the exact law (the RLRT is pivotal here).
    assert v["intercepts.p_value"] == 1 / 5001
    assert_same_distribution(v["intercepts.null_statistics"], R["ri_vs_none_reml"]["exact_rlrt"]["null"])
    # 9.3: ML, against lme4's statistic and pbkrtest's PBmodcomp.
    ref = R["rs_vs_ri_ml"]
    close(v["boot_ml.statistic"], ref["statistic"], 0, LRT_ATOL)
    assert_same_distribution(v["boot_ml.null_statistics"], ref["pbmodcomp"])
    assert_same_pvalue(v["boot_ml.p_value"], v["boot_ml.mc_se"], ref["pbmodcomp"]["p_value"], ref["pbmodcomp"]["n"])
    assert chi2_mixture_pvalue(ref["statistic"], 2) == pytest.approx(0.0056, abs=5e-5)
    assert "9.41" in TEXT and "0.0056" in TEXT and "0.0091" in TEXT
