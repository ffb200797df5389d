"""Lecture 13 (binary outcomes): every number it computes or states, against R.

R's numbers: tests/reference/binary_reference.json (make_binary_reference.R: glm, sandwich's vcovCL,
glm with GP indicators, survival::clogit, geepack::geeglm, glmer's profile interval of sigma_0) and
tests/reference/glmm_reference.json (glmer, nAGQ = 25 and Laplace, on the same model). What the
lecture simulates (the pairs of the incidental-parameter section) is refitted by R at test time: the
same data, R's functions. So are the numbers the prose quotes from R alone: Mancl and DeRouen's
bias-reduced SE with its t quantile, and glmer's fit with a random age slope. The cell showing statsmodels' fit with GP
indicators is not compared with the stored one (where a non-converging Newton search stops is not a result);
what the prose says about it is checked here.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, special, stats

from helpers.data import load_gp_cholesterol, sha256_of
from tests.lecture_values import lecture_text, lecture_values
from tests.r_reference import assert_states, close, random_sd
from tests.rscript import assert_same_numbers, rerun

pytestmark = pytest.mark.slow
LECTURE = "13-binary-outcomes"
TEXT = lecture_text(LECTURE).replace("−", "-")  # the prose writes minus signs as such
REFERENCE_DIR = Path(__file__).resolve().parent / "reference"
SCRIPT = REFERENCE_DIR / "make_binary_reference.R"
R = json.loads((REFERENCE_DIR / "binary_reference.json").read_text())
GLMER = json.loads((REFERENCE_DIR / "glmm_reference.json").read_text())["models"]
C = 16 * np.sqrt(3) / (15 * np.pi)  # Zeger, Liang & Albert (1988)


def values(*expressions):
    return lecture_values(LECTURE, *expressions)


def coefficients(section: dict) -> pd.DataFrame:
    return pd.DataFrame(
        {"estimate": section["estimate"], "std_error": section["std_error"]}, index=np.atleast_1d(section["term"])
    )


def glmer(model: str = "gp_agq25") -> tuple[pd.DataFrame, float]:
    """glmer's fixed effects (by term) and sigma_0."""
    ref = GLMER[model]
    return pd.DataFrame(ref["fixed"]).set_index("term"), ref["group_sd"]


def latent_icc(sd):
    return np.asarray(sd) ** 2 / (np.asarray(sd) ** 2 + np.pi**2 / 3)


def run_r(code: str, folder: Path, timeout: int = 900) -> dict:
    """Run R code (with lme4, geepack and survival loaded) that leaves a list `result`; return it."""
    out = folder / "result.json"
    script = folder / "script.R"
    script.write_text(
        "suppressPackageStartupMessages({ library(lme4); library(geepack); library(survival) })\n"
        f"{code}\njsonlite::write_json(result, {json.dumps(str(out))}, digits = NA, auto_unbox = TRUE)\n"
    )
    done = subprocess.run(
        ["Rscript", "--vanilla", str(script)], cwd=folder, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(out.read_text())


def test_reference_was_made_from_the_current_data():
    root = REFERENCE_DIR.parent.parent
    assert sha256_of(root / R["data"]["path"]) == R["data"]["sha256"], f"rerun Rscript {SCRIPT.name}"
    assert GLMER["gp_agq25"]["spec"]["formula"] == "high ~ age_c"


def test_the_outcome():
    cases = values("cases")["cases"]
    assert cases.index.tolist() == R["cases"]["doctor"]
    assert cases["patients"].tolist() == R["cases"]["patients"] and cases["high"].tolist() == R["cases"]["high"]
    high = dict(zip(R["cases"]["doctor"], R["cases"]["high"]))
    assert (high[2], high[11], high[12]) == (34, 3, 0)  # "34 of 36 patients at Dr 2, three at Dr 11, none at Dr 12"
    assert "34 of 36 patients at Dr 2, three at Dr 11, and none at all at Dr 12" in TEXT


def test_pooled_logistic_regression_and_its_cluster_robust_se():
    v = values("pooled.params", "pooled.bse", "robust.params", "robust.bse", "ses")
    ref = coefficients(R["pooled"])
    close(v["pooled.params"], ref["estimate"], 1e-6)
    close(v["pooled.bse"], ref["std_error"], 1e-5)
    close(v["robust.params"], ref["estimate"], 1e-6)
    close(v["robust.bse"], R["pooled"]["cluster_se_hc1"], 1e-5)  # statsmodels' default: G/(G-1) (N-1)/(N-K)
    ratio = np.array(R["pooled"]["cluster_se_hc1"]) / ref["std_error"].to_numpy()
    close(v["ses"]["ratio"], ratio, 1e-5)
    b0, b1 = ref["estimate"]
    assert ratio[0] > 4  # "more than four times larger"
    assert_states(
        TEXT,
        (b1, ".4f"),
        (ref.loc["age_c", "std_error"], ".4f"),
        (np.exp(10 * b1), ".2f"),
        (b0, ".3f"),
        (np.exp(b0), ".2f"),
        (special.expit(b0), ".2f"),
        (R["pooled"]["cluster_se_hc1"][1], ".4f"),
        (ratio[1], ".1f"),
    )


def test_gp_indicators_and_separation():
    v = values(
        "indicators.params",
        "indicators.bse",
        "bool(indicators.mle_retvals['converged'])",
        "indicators.mle_retvals['iterations']",
    )
    ref = coefficients(R["indicators"])
    close(v["indicators.params"]["age_c"], ref.loc["age_c", "estimate"], 1e-5)
    close(v["indicators.bse"]["age_c"], ref.loc["age_c", "std_error"], 1e-4)
    # GPs 1-11 are estimable and agree with R; GP 12 is not, and neither program says so by its numbers alone.
    close(v["indicators.params"].iloc[:11], ref["estimate"].iloc[:11], 1e-4)
    python_12, r_12 = v["indicators.params"]["C(doctor)[T.12]"], ref.loc["factor(doctor)12"]
    assert python_12 < -20 and v["indicators.bse"]["C(doctor)[T.12]"] > 1000
    assert not v["bool(indicators.mle_retvals['converged'])"] and v["indicators.mle_retvals['iterations']"] == 35
    assert R["indicators"]["converged"] and r_12["estimate"] < -20 and r_12["std_error"] > 100
    assert_states(
        TEXT,
        (r_12["estimate"], ".1f"),
        (r_12["std_error"], ".0f"),
        (round(python_12), ".0f"),
        (ref.loc["age_c", "estimate"], ".3f"),
        (R["pooled"]["estimate"][1], ".3f"),
    )
    assert "-27" in TEXT and "18,000" in TEXT and abs(v["indicators.bse"]["C(doctor)[T.12]"] - 18000) < 500


def test_conditional_logistic_regression_is_clogits():
    v = values("conditional.params", "conditional.bse")
    close(v["conditional.params"], R["conditional"]["estimate"], 1e-5)
    close(v["conditional.bse"], R["conditional"]["std_error"], 1e-4)
    excess = R["indicators"]["estimate"][-1] / R["conditional"]["estimate"] - 1
    assert_states(
        TEXT, (R["conditional"]["estimate"], ".3f"), (R["conditional"]["std_error"], ".3f"), (100 * excess, ".0f")
    )


@pytest.mark.needs_r
def test_the_pairs_simulation_refitted_by_r(tmp_path):
    """R's glm with pair indicators and clogit, on the lecture's simulated pairs."""
    v = values(
        "pairs",
        "informative",
        "pair_indicators.params['x']",
        "pair_indicators.bse['x']",
        "pair_conditional.params['x']",
        "pair_conditional.bse['x']",
    )
    v["pairs"].to_csv(tmp_path / "pairs.csv", index=False)
    v["informative"].to_csv(tmp_path / "informative.csv", index=False)
    r = run_r(
        """
pairs <- read.csv("pairs.csv"); informative <- read.csv("informative.csv")
fe <- summary(glm(y ~ factor(gp) + x, family = binomial, data = informative,
                  control = glm.control(epsilon = 1e-14, maxit = 100)))$coefficients["x", 1:2]
cl <- summary(clogit(y ~ x + strata(gp), data = pairs))$coefficients["x", c("coef", "se(coef)")]
result <- list(fe = unname(fe), cl = unname(cl), informative = length(unique(informative$gp)))""",
        tmp_path,
    )
    close([v["pair_indicators.params['x']"], v["pair_indicators.bse['x']"]], r["fe"], 1e-5)
    close([v["pair_conditional.params['x']"], v["pair_conditional.bse['x']"]], r["cl"], 1e-5)
    close(r["fe"][0], 2 * r["cl"][0], 1e-6)  # "exactly twice the conditional one"
    assert abs(r["cl"][0] - 1) < r["cl"][1]  # "within its SE of the true slope"
    assert_states(TEXT, (r["cl"][0], ".3f"), (r["cl"][1], ".3f"), (r["fe"][0], ".3f"))
    assert r["informative"] == v["informative"]["gp"].nunique()


@pytest.mark.needs_r
def test_gee_is_geeglms(tmp_path):
    """geeglm's exchangeable fit, and geeglm given statsmodels' working correlation (the one difference)."""
    v = values("gee.params", "gee.bse", "float(gee.model.cov_struct.dep_params)")
    ref = coefficients(R["gee"])
    # geepack's moment estimator of the working correlation has other degrees of freedom than statsmodels':
    close(v["float(gee.model.cov_struct.dep_params)"], R["gee"]["working_correlation"], 1e-2)
    close(v["gee.params"], ref["estimate"], 1e-3)
    close(v["gee.bse"], ref["std_error"], 1e-3)
    # given the same working correlation, geeglm gives statsmodels' estimates and robust SEs.
    alpha = v["float(gee.model.cov_struct.dep_params)"]
    r = run_r(
        f"""
gp <- read.csv({json.dumps(str(REFERENCE_DIR.parent.parent / R["data"]["path"]))})
gp$high <- as.integer(gp$chol >= 6.2); gp$age_c <- gp$age - mean(gp$age)
working <- matrix({alpha!r}, 39, 39); diag(working) <- 1
zcor <- fixed2Zcor(working, id = gp$doctor, waves = ave(gp$doctor, gp$doctor, FUN = seq_along))
fit <- geeglm(high ~ age_c, id = doctor, family = binomial, corstr = "fixed", zcor = zcor, scale.fix = TRUE, data = gp)
result <- list(estimate = unname(coef(fit)), std_error = unname(summary(fit)$coefficients[, "Std.err"]))""",
        tmp_path,
    )
    close(v["gee.params"], r["estimate"], 1e-5)
    close(v["gee.bse"], r["std_error"], 1e-5)
    b1 = v["gee.params"]["age_c"]
    assert_states(
        TEXT,
        (b1, ".4f"),
        (v["gee.bse"]["age_c"], ".4f"),
        (np.exp(10 * b1), ".2f"),
        (alpha, ".3f"),
        (R["gee"]["working_correlation"], ".3f"),
        (R["pooled"]["estimate"][1], ".4f"),
    )


# Mancl and DeRouen's (2001) bias-reduced sandwich, written out from its definition, at statsmodels' working
# correlation and estimates: each GP's residuals r_k are replaced by (I - H_kk)^{-1} r_k,
# H_kk = D_k B^{-1} D_k' V_k^{-1}.
MANCL_DEROUEN_R = """
gp <- read.csv({path})
gp$high <- as.integer(gp$chol >= 6.2); gp$age_c <- gp$age - mean(gp$age)
alpha <- {alpha!r}; beta <- c({b0!r}, {b1!r})
X <- model.matrix(~ age_c, gp)
mu <- plogis(drop(X %*% beta)); a <- mu * (1 - mu); r <- gp$high - mu
clusters <- lapply(split(seq_len(nrow(gp)), gp$doctor), function(rows) {{
  working <- matrix(alpha, length(rows), length(rows)); diag(working) <- 1
  list(D = X[rows, ] * a[rows], Vinv = solve(sqrt(a[rows]) * t(sqrt(a[rows]) * working)), r = r[rows])
}})
bread <- solve(Reduce(`+`, lapply(clusters, function(k) t(k$D) %*% k$Vinv %*% k$D)))
meat <- function(adjust) Reduce(`+`, lapply(clusters, function(k) {{
  e <- if (adjust) solve(diag(length(k$r)) - k$D %*% bread %*% t(k$D) %*% k$Vinv, k$r) else k$r
  s <- t(k$D) %*% k$Vinv %*% e
  s %*% t(s)
}}))
result <- list(robust = unname(sqrt(diag(bread %*% meat(FALSE) %*% bread))),
               bias_reduced = unname(sqrt(diag(bread %*% meat(TRUE) %*% bread))),
               z = qnorm(0.975), t_10 = qt(0.975, df = length(clusters) - length(beta)))"""


@pytest.fixture(scope="module")
def mancl_derouen_in_r(tmp_path_factory):
    v = values("float(gee.model.cov_struct.dep_params)", "gee.params")
    b0, b1 = (float(b) for b in v["gee.params"])
    return run_r(
        MANCL_DEROUEN_R.format(
            path=json.dumps(str(REFERENCE_DIR.parent.parent / R["data"]["path"])),
            alpha=v["float(gee.model.cov_struct.dep_params)"],
            b0=b0,
            b1=b1,
        ),
        tmp_path_factory.mktemp("mancl_derouen"),
    )


@pytest.mark.needs_r
def test_gee_bias_reduced_se_is_mancl_derouens(mancl_derouen_in_r):
    v = values("gee_ses", "gee_se_age", "gee.bse")
    close(v["gee.bse"], mancl_derouen_in_r["robust"], 1e-5)  # the same sandwich, without the correction
    close(v["gee_ses"]["bias-reduced SE"], mancl_derouen_in_r["bias_reduced"], 1e-5)
    close(v["gee_se_age"], mancl_derouen_in_r["bias_reduced"][1], 1e-5)
    robust, reduced = mancl_derouen_in_r["robust"][1], mancl_derouen_in_r["bias_reduced"][1]
    assert 0.08 < reduced / robust - 1 < 0.12  # "about a tenth too small"
    assert_states(TEXT, (reduced, ".4f"), (reduced / robust, ".2f"), (robust, ".4f"))


@pytest.mark.needs_r
def test_gee_intervals_small_sample(mancl_derouen_in_r):
    """GEE's odds ratio for ten years: z and t (12 GPs less 2 coefficients) quantiles on the bias-reduced SE."""
    v = values("gee_intervals", "gee.params")
    b1, se = v["gee.params"]["age_c"], mancl_derouen_in_r["bias_reduced"][1]
    quantiles = np.array([mancl_derouen_in_r["z"], mancl_derouen_in_r["t_10"]])
    close(v["gee_intervals"]["quantile"], quantiles, 1e-10)
    expected = np.exp(10 * (b1 + np.outer(quantiles, [-1, 1]) * se))
    close(v["gee_intervals"][["ci_low", "ci_high"]], expected, 1e-5)
    assert expected[1, 0] < expected[0, 0] and expected[1, 1] > expected[0, 1]  # "widens"
    assert_states(TEXT, (quantiles[1], ".3f"), *[(x, ".2f") for x in expected.ravel()])


@pytest.mark.needs_r
def test_a_random_age_slope_widens_the_interval(tmp_path):
    """What the lecture says of glmer(high ~ age_c + (age_c | doctor)), its In R block: it converges, and the
    age slope's SE is larger than the random-intercept model's."""
    r = run_r(
        f"""
gp <- read.csv({json.dumps(str(REFERENCE_DIR.parent.parent / R["data"]["path"]))})
gp$high <- as.integer(gp$chol >= 6.2); gp$age_c <- gp$age - mean(gp$age)
exact_laplace <- glmerControl(tolPwrss = 1e-12)
slopes <- glmer(high ~ age_c + (1 + age_c | doctor), data = gp, family = binomial, control = exact_laplace)
one_slope <- glmer(high ~ age_c + (1 | doctor), data = gp, family = binomial, control = exact_laplace)
vc <- as.data.frame(VarCorr(slopes))
b <- fixef(slopes)[["age_c"]]; se <- sqrt(vcov(slopes)["age_c", "age_c"])
lrt <- 2 * as.numeric(logLik(slopes) - logLik(one_slope))
result <- list(estimate = b, se = se, sd_1 = vc$sdcor[2], rho = vc$sdcor[3],
               profile = unname(suppressWarnings(confint(slopes, parm = c(".sig02", ".sig03"), method = "profile",
                                                         quiet = TRUE))),
               odds_ratio = exp(10 * (b + c(0, -1, 1) * qnorm(0.975) * se)), lrt = lrt,
               odds_ratio_t = exp(10 * (b + c(-1, 1) * qt(0.975, df = 12 - 2) * se)),
               p_mixture = 0.5 * pchisq(lrt, 1, lower.tail = FALSE) + 0.5 * pchisq(lrt, 2, lower.tail = FALSE),
               singular = isSingular(slopes), messages = length(slopes@optinfo$conv$lme4$messages))""",
        tmp_path,
    )
    assert not r["singular"] and r["messages"] == 0
    fixed, _ = glmer()
    ratio = r["se"] / fixed.loc["age_c", "std_error"]
    profile = np.array(r["profile"])  # rows rho and sigma_1, columns the ends, as R's matrix
    assert profile[0].tolist() == [-1, 1]  # "its profile interval is the whole range from -1 to 1"
    r["profile_sd_1"] = profile[1]
    assert ratio > 1 and r["profile_sd_1"][0] == 0 and r["p_mixture"] > 0.5
    assert_states(
        TEXT,
        (r["estimate"], ".3f"),
        (r["se"], ".4f"),
        (100 * (ratio - 1), ".0f"),
        (r["sd_1"], ".3f"),
        (r["profile_sd_1"][1], ".3f"),
        (r["rho"], ".2f"),
        (r["lrt"], ".2f"),
        (r["p_mixture"], ".2f"),
        (10 * r["profile_sd_1"][1], ".2f"),
        (np.exp(10 * r["profile_sd_1"][1]), ".1f"),
        *[(x, ".2f") for x in r["odds_ratio"]],
        *[(x, ".2f") for x in r["odds_ratio_t"]],
    )
    assert 2.5 < r["odds_ratio"][2] / r["odds_ratio"][1] < 3.5  # "known only to within a factor of about three"


def test_the_random_intercept_model_is_glmers():
    v = values("ri.fixed", "ri.group_sd")
    fixed, sd = glmer()
    close(v["ri.fixed"]["estimate"], fixed["estimate"], 1e-5)
    close(v["ri.fixed"]["std_error"], fixed["std_error"], 1e-3)
    close(v["ri.group_sd"], sd, 1e-5)
    b1 = fixed.loc["age_c", "estimate"]
    assert_states(
        TEXT,
        (b1, ".4f"),
        (fixed.loc["age_c", "std_error"], ".4f"),
        (10 * b1, ".3f"),
        (np.exp(10 * b1), ".2f"),
        (sd, ".2f"),
        (np.exp(sd), ".1f"),
        (b1, ".3f"),
    )


def averaged_probability(x, b0, b1, sd):
    """The GLMM's population-averaged probability at centred age x, by adaptive numerical integration."""

    def integrand(z):
        return special.expit(b0 + b1 * x + sd * z) * stats.norm.pdf(z)

    return integrate.quad(integrand, -np.inf, np.inf, epsabs=1e-12, epsrel=1e-12)[0]


def test_attenuation_approximate_and_exact():
    v = values(
        "float(c)", "float(attenuation)", "float(averaged_slope)", "population_averaged(np.array([-20.0, 0.0, 15.0]))"
    )
    fixed, sd = glmer()
    b0, b1 = fixed["estimate"]
    factor = 1 / np.sqrt(1 + C**2 * sd**2)
    close([v["float(c)"], v["float(attenuation)"]], [C, factor], 1e-5)
    close(
        v["population_averaged(np.array([-20.0, 0.0, 15.0]))"],
        [averaged_probability(x, b0, b1, sd) for x in (-20.0, 0.0, 15.0)],
        1e-5,
    )
    ages = load_gp_cholesterol()["age"]
    x = (ages - ages.mean()).to_numpy()
    exact = np.polyfit(x, special.logit([averaged_probability(xi, b0, b1, sd) for xi in x]), 1)[0]
    close(v["float(averaged_slope)"], exact, 1e-4)
    gee_slope, gee_se = R["gee"]["estimate"][1], R["gee"]["std_error"][1]
    assert abs(b1 * factor - gee_slope) < 0.2 * gee_se  # "within a fifth of an SE of GEE's"
    assert round(100 * abs(b1 * factor / exact - 1), 1) == 1.5  # "off by only 1.5 %"
    assert_states(
        TEXT,
        (C, ".3f"),
        (factor, ".3f"),
        (b1 * factor, ".4f"),
        (exact, ".4f"),
        (gee_slope, ".4f"),
        (R["conditional"]["estimate"], ".3f"),
        (gee_slope, ".3f"),
    )


def test_which_question_each_answers():
    fixed, _ = glmer()
    conditional, marginal = np.exp(10 * fixed.loc["age_c", "estimate"]), np.exp(10 * R["gee"]["estimate"][1])
    assert marginal < conditional / 2  # "less than half the GP-specific one"
    assert_states(TEXT, (conditional, ".2f"), (marginal, ".2f"))


def test_latent_icc_and_its_profile_interval():
    v = values("float(ri.icc)", "sd_interval", "icc_interval")
    _, sd = glmer()
    close(v["float(ri.icc)"], latent_icc(sd), 1e-5)
    # glmer's confint interpolates a spline through its profile; ours finds the ends by root-finding.
    profile = np.array(R["glmer_profile_sd"])
    close(v["sd_interval"], profile, 1e-4)
    close(v["icc_interval"], latent_icc(v["sd_interval"]), 1e-12)
    icc_06 = random_sd("ri_c_reml").iloc[0] ** 2 / (random_sd("ri_c_reml") ** 2).sum()
    assert latent_icc(profile[0]) < icc_06 < latent_icc(profile[1])  # "the 0.55 of notebook 6 lies inside it"
    assert profile[1] - sd > 1.5 * (sd - profile[0])  # "reaching much further above ... than below"
    assert_states(
        TEXT,
        (latent_icc(sd), ".3f"),
        (100 * latent_icc(sd), ".0f"),
        *[(x, ".2f") for x in profile],
        *[(x, ".3f") for x in v["icc_interval"]],
        *[(x, ".2f") for x in latent_icc(profile)],
        (icc_06, ".2f"),
    )


@pytest.mark.needs_r
def test_exercise_solutions(mancl_derouen_in_r):
    v = values(
        "odds_ratios_10",
        "float(laplace.group_sd)",
        "laplace.fixed",
        "mor_interval",
        "float(median_odds_ratio(ri.group_sd))",
    )
    fixed, sd = glmer()
    b1, se1 = fixed.loc["age_c", ["estimate", "std_error"]]
    gee_b1, gee_se = R["gee"]["estimate"][1], mancl_derouen_in_r["bias_reduced"][1]  # as the lecture's interval
    t_10 = mancl_derouen_in_r["t_10"]
    gp_specific = [b1, b1 - 1.96 * se1, b1 + 1.96 * se1]
    expected = np.exp(10 * np.array([gp_specific, [gee_b1, gee_b1 - t_10 * gee_se, gee_b1 + t_10 * gee_se]]))
    close(v["odds_ratios_10"], expected, 2e-3)  # GEE: geepack's working correlation differs in its 3rd digit
    assert_states(TEXT, *[(x, ".2f") for x in expected.ravel()])
    laplace_fixed, laplace_sd = glmer("gp_laplace")
    close(v["laplace.fixed"]["estimate"], laplace_fixed["estimate"], 1e-5)
    close(v["float(laplace.group_sd)"], laplace_sd, 1e-5)
    assert_states(TEXT, (laplace_sd, ".3f"), (sd, ".3f"), (100 * (1 - laplace_sd / sd), ".1f"))
    assert round(laplace_fixed.loc["age_c", "estimate"], 4) == round(b1, 4)  # "the slopes agree to four decimals"

    def mor(s):
        return np.exp(np.sqrt(2) * np.asarray(s) * stats.norm.ppf(0.75))

    close(v["float(median_odds_ratio(ri.group_sd))"], mor(sd), 1e-5)
    close(v["mor_interval"], mor(R["glmer_profile_sd"]), 1e-3)
    assert mor(sd) > np.exp(10 * b1)  # "more than the point estimate for ten years of age"
    assert_states(TEXT, (mor(sd), ".1f"), *[(x, ".1f") for x in v["mor_interval"]])


@pytest.mark.needs_r
def test_reference_is_current(tmp_path):
    """Rerun the R script: its numbers must equal the committed ones, to rounding."""
    assert_same_numbers(rerun(SCRIPT, tmp_path), R)
