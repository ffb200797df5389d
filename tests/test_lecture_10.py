"""Lecture 10 (testing a variance component): every number it computes or states, against R.

R's numbers: tests/reference/boundary_reference.json (lme4's statistics, an lme4 loop of fresh fits,
pbkrtest's PBmodcomp, RLRsim's exactRLRT) and rlrt_power_reference.json (size and power on the small-variance
design, simulated with lme4 and RLRsim). Simulated quantities are compared within Monte Carlo
error (tests/mc_compare.py); what the prose says is read from the notebook's markdown.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from scipy import optimize, stats

from helpers.boundary import chi2_mixture_pvalue, rlrt_statistics
from helpers.data import sha256_of
from tests.lecture_values import lecture_text, lecture_values
from tests.mc_compare import assert_same_distribution, assert_same_pvalue
from tests.r_reference import assert_states, close
from tests.rscript import assert_same_numbers, rerun

pytestmark = pytest.mark.slow
LECTURE = "10-testing-variance-components"
TEXT = lecture_text(LECTURE)
REFERENCE = Path(__file__).resolve().parent / "reference"
R = json.loads((REFERENCE / "boundary_reference.json").read_text())["comparisons"]
POWER_SCRIPT = REFERENCE / "make_rlrt_power_reference.R"
POWER = json.loads(POWER_SCRIPT.with_name("rlrt_power_reference.json").read_text())
POWER_RERUN = 12  # data sets of each SD, the twelve given ones among them
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
    close(
        table["p, 50:50 mixture"],
        [stats.chi2.sf(intercepts, 1) / 2, (stats.chi2.sf(slopes, 1) + stats.chi2.sf(slopes, 2)) / 2],
        1e-10,
    )
    assert_states(
        TEXT,
        (intercepts, ".1f"),
        (slopes, ".2f"),
        (stats.chi2.sf(slopes, 2), ".4f"),
        (table["p, 50:50 mixture"].iloc[1], ".4f"),
        (table["p, 50:50 mixture"].iloc[0], ".1e"),
    )


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


def test_the_mixture_is_conservative_for_the_slopes():
    v = values("mixture_size", "mixture_size_mcse", "boot.null_statistics", "mixture_q")
    null = v["boot.null_statistics"]
    size = np.mean(null >= v["mixture_q"][1])
    mcse = np.sqrt(size * (1 - size) / len(null))
    close([v["mixture_size"], v["mixture_size_mcse"]], [size, mcse], 1e-12)
    assert (0.05 - size) / mcse > 2  # "still a little conservative", beyond Monte Carlo error
    # lme4's refit loop agrees: its 95% point lies below the mixture's 5% point too
    assert R["rs_vs_ri_reml"]["lme4_loop"]["quantiles"][6] < v["mixture_q"][1]
    assert R["rs_vs_ri_reml"]["lme4_loop"]["probs"][6] == 0.95
    assert_states(TEXT, (100 * size, ".1f"), (100 * mcse, ".1f"), ((0.05 - size) / mcse, ".1f"))


def test_the_small_variance_example():
    v = values(
        "float(small_ri.llf)",
        "float(small_exact.statistic)",
        "small_exact.p_value",
        "small_exact.mc_se",
        "small_boot.p_value",
        "small_boot.mc_se",
        "float(small_boot.statistic)",
        "small_ols.model.exog",
        "small_ols.model.endog",
    )
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
    assert_states(
        TEXT,
        (naive, ".3f"),
        (mixture, ".3f"),
        (v["small_exact.p_value"], ".4f"),
        (v["small_exact.mc_se"], ".4f"),
        (v["small_boot.p_value"], ".3f"),
        (v["small_boot.mc_se"], ".3f"),
    )
    assert (
        "From 100,000 draws" in TEXT
        and len(values("small_exact.null_statistics")["small_exact.null_statistics"]) == 100_000
    )


def test_the_small_variance_example_is_the_course_copy_r_reads():
    """The lecture's In R block reads tests/reference/small_schools.csv: it must be the sample the lecture draws."""
    from reference.export_small_schools import small_schools_csv_text  # noqa: PLC0415  (tests/ is on sys.path)

    assert (REFERENCE / "small_schools.csv").read_text() == small_schools_csv_text()
    columns = "small[['school', 'pupil', 'hours', 'funding', 'score']]"
    copy = pd.read_csv(REFERENCE / "small_schools.csv")
    pd.testing.assert_frame_equal(values(columns)[columns], copy, check_dtype=False, rtol=1e-12)


@pytest.mark.needs_r
def test_the_small_variance_example_is_rlrsims(tmp_path):
    """The exact RLRT of the small-variance example against RLRsim's, from a million draws, on the same sample."""
    v = values(
        "small[['score', 'hours_c', 'school']]",
        "float(small_exact.statistic)",
        "small_exact.p_value",
        "small_exact.mc_se",
    )
    sample, out = tmp_path / "small.csv", tmp_path / "rlrsim.json"
    v["small[['score', 'hours_c', 'school']]"].to_csv(sample, index=False)
    run = subprocess.run(
        ["Rscript", str(REFERENCE / "exact_rlrt_of_a_sample.R"), str(sample), str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr
    rlrsim = json.loads(out.read_text())
    close(v["float(small_exact.statistic)"], rlrsim["statistic"], 0, LRT_ATOL)
    assert_same_pvalue(v["small_exact.p_value"], v["small_exact.mc_se"], rlrsim["p_value"], rlrsim["n_sim"])
    assert rlrsim["p_value"] < 0.05  # the conclusion the lecture draws holds for R's p-value too


def test_size_and_power_over_many_samples():
    """The rejection rates of section 5 and what the prose says of them."""
    v = values("table", "float(gain)", "n_data", "simulated[0.0]", "simulated[2.0]", "critical")
    table, gain = v["table"], v["float(gain)"]
    assert v["n_data"] == 2000 and len(v["simulated[0.0]"]) == len(v["simulated[2.0]"]) == 2000
    close(v["critical"].iloc[:2], [stats.chi2.isf(0.05, 1), stats.chi2.isf(0.10, 1)], 1e-10)
    # The same statistic under three critical values: nested rejections, the gain a difference of powers.
    assert (table["critical value"].diff().iloc[1:] < 0).all() and table["power"].is_monotonic_increasing
    close(gain, table.loc["exact RLRT", "power"] - table.loc["chi-square(1)", "power"], 0, 1e-12)
    size, power = table["size"], table["power"]
    se = np.sqrt(0.05 * 0.95 / 2000)
    assert size["chi-square(1)"] < 0.05 - 4 * se and abs(size["exact RLRT"] - 0.05) < 2 * se  # "about 2% instead of 5%"
    assert round(100 * size["chi-square(1)"]) == 2 and round(100 * gain) == 10
    assert power["exact RLRT"] < 0.3 and 1 / 8 < power["chi-square(1)"] < 1 / 6  # "a quarter", "one in seven"
    assert_states(TEXT, (100 * power["chi-square(1)"], ".0f"), (100 * power["exact RLRT"], ".0f"))


def test_the_power_reference_was_made_from_the_course_copy():
    meta = POWER["data"]["small_schools"]
    assert sha256_of(REFERENCE.parent.parent / meta["path"]) == meta["sha256"]


def test_rlrt_statistics_are_lme4s():
    """helpers' restricted LRT of many response vectors at once is lme4's, on twelve of R's data sets."""
    column = "small[['hours_c', 'school']]"
    given = np.array(POWER["given"])
    small = values(column)[column].assign(score=given[0])
    fit = smf.mixedlm("score ~ hours_c", small, groups="school").fit(reml=True, method="powell")
    close(rlrt_statistics(fit, given), POWER["statistics"]["school_sd_2"][: len(given)], 0, LRT_ATOL)


def test_size_and_power_are_lme4s_and_rlrsims():
    """An independent lme4 and RLRsim simulation on the same design finds the same rejection rates within Monte
    Carlo error, and R's exact critical value cuts the lecture's null distribution at 5%."""
    v = values("table", "small_exact.null_statistics")
    share_above = np.mean(v["small_exact.null_statistics"] > POWER["critical"]["exact"])
    assert abs(share_above - 0.05) < 4 * np.sqrt(0.05 * 0.95 * (1 / POWER["n_sim"] + 1 / 100_000))
    table = v["table"]
    for ours, theirs in [("chi-square(1)", "chi_square"), ("50:50 mixture", "mixture"), ("exact RLRT", "exact")]:
        for column, sd in [("size", "school_sd_0"), ("power", "school_sd_2")]:
            assert_same_pvalue(
                table.loc[ours, column],
                table.loc[ours, f"{column} MC s.e."],
                POWER["rejection"][sd][theirs],
                POWER["n_data"],
            )


@pytest.mark.needs_r
def test_the_power_reference_is_current(tmp_path):
    """The whole R simulation takes minutes; rerun, its first data sets (each SD draws from its own seed) and
    the exact critical value must be the committed ones."""
    fresh = rerun(POWER_SCRIPT, tmp_path, str(POWER_RERUN))
    assert fresh["n_data"] == POWER_RERUN
    for sd, statistics in fresh["statistics"].items():
        close(statistics, POWER["statistics"][sd][:POWER_RERUN], 0, LRT_ATOL)
    committed = {key: POWER[key] for key in ("data", "critical", "n_sim", "given")}
    assert_same_numbers({key: fresh[key] for key in committed}, committed)


def test_replicates_needed():
    assert 2 * np.sqrt(0.04 * 0.96 / 1500) < 0.0102 and 2 * np.sqrt(0.04 * 0.96 / 1400) > 0.01  # "about B = 1500"
    assert "about $B = 1500$" in TEXT


def test_exercise_solutions():
    v = values(
        "again.p_value",
        "again.mc_se",
        "intercepts.null_statistics",
        "intercepts.p_value",
        "boot_ml.statistic",
        "boot_ml.p_value",
        "boot_ml.mc_se",
        "boot_ml.null_statistics",
    )
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
