# Reference numbers for tests/test_boundary.py: tests of a variance on the boundary, by R.
#
#   Rscript tests/reference/make_boundary_reference.R [output.json]
#
# On the GP data (centred age): the observed REML likelihood-ratio statistics of a
# random slope against a random intercept and of a random intercept against none (lme4
# run to its optimum); their parametric-bootstrap null distributions from an lme4 loop
# of fresh fits (tests/reference/bootstrap_refits.R) and, by ML, from pbkrtest's
# PBmodcomp (whose ML refits are sound); and RLRsim's exactRLRT for the random
# intercept. Null distributions are written as quantiles, the share of zeros and
# p-values: the Python test compares its own simulations with them within Monte Carlo
# error. Seeds are fixed, so a rerun writes the same numbers (to rounding).

suppressPackageStartupMessages({
  library(pbkrtest)
  library(RLRsim)
})

script_arg <- grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)
here <- dirname(normalizePath(sub("^--file=", "", script_arg)))
source(file.path(here, "lme4_tools.R"))
out <- output_path("boundary_reference.json")
source(file.path(here, "bootstrap_refits.R"))

NSIM <- 1000
PROBS <- c(0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99)

null_summary <- function(sample, observed) list(
  n = length(sample), probs = PROBS, quantiles = unname(quantile(sample, PROBS, type = 8)),
  share_zero = mean(sample <= 1e-8),
  # (1 + #{T* >= T}) / (B + 1), the p-value helpers.boundary reports, and #{T* > T} / B.
  p_value = (1 + sum(sample >= observed)) / (length(sample) + 1), p_value_plain = mean(sample > observed))

gp_path <- file.path(root, "datasets", "gp_cholesterol.csv")
gp <- read.csv(gp_path)
gp$age_c <- gp$age - mean(gp$age)

fit <- function(formula, reml) lmer(formula, data = gp, REML = reml, control = tight)
ols <- lm(chol ~ age_c, data = gp)
comparisons <- list()
for (method in c("REML", "ML")) {
  reml <- method == "REML"
  ri <- fit(chol ~ age_c + (1 | doctor), reml)
  rs <- fit(chol ~ age_c + (1 + age_c | doctor), reml)
  lrt_rs <- 2 * (as.numeric(logLik(rs)) - as.numeric(logLik(ri)))
  lrt_ri <- 2 * (as.numeric(logLik(ri)) - as.numeric(logLik(ols, REML = reml)))
  comparisons[[paste0("rs_vs_ri_", tolower(method))]] <- list(
    statistic = lrt_rs, loglik = c(null = as.numeric(logLik(ri)), alternative = as.numeric(logLik(rs))))
  comparisons[[paste0("ri_vs_none_", tolower(method))]] <- list(
    statistic = lrt_ri, loglik = c(null = as.numeric(logLik(ols, REML = reml)), alternative = as.numeric(logLik(ri))))
  if (reml) {
    comparisons$rs_vs_ri_reml$lme4_loop <- null_summary(
      bootstrap_lrt_r(ri, rs, gp, null_responses(ri, NSIM, seed = 20250221), tight), lrt_rs)
    comparisons$ri_vs_none_reml$lme4_loop <- null_summary(
      bootstrap_lrt_r(ols, ri, gp, null_responses(ols, NSIM, seed = 20250222), tight), lrt_ri)
  } else {
    pb <- PBmodcomp(rs, ri, nsim = NSIM, seed = 20250223)
    comparisons$rs_vs_ri_ml$pbmodcomp <- c(null_summary(as.numeric(pb$ref), lrt_rs),
                                            list(p_value_pbkrtest = pb$test["PBtest", "p.value"]))
  }
}

ri_reml <- fit(chol ~ age_c + (1 | doctor), TRUE)
exact <- exactRLRT(ri_reml, nsim = 10000, seed = 20250224)
design <- RLRsim:::extract.lmerModDesign(ri_reml)
comparisons$ri_vs_none_reml$exact_rlrt <- list(
  statistic = unname(exact$statistic), p_value_rlrsim = exact$p.value,
  variance_ratio = as.numeric(VarCorr(ri_reml)$doctor) / sigma(ri_reml)^2,  # lambda = sigma_0^2 / sigma^2 at the fit
  null = null_summary(RLRTSim(design$X, design$Z, qr(design$X), sqrt.Sigma = diag(ncol(design$Z)),
                              seed = 20250224, nsim = 10000), unname(exact$statistic)))

reference <- list(
  generated_by = "tests/reference/make_boundary_reference.R",
  versions = list(R = R.version.string, lme4 = as.character(packageVersion("lme4")),
                  pbkrtest = as.character(packageVersion("pbkrtest")),
                  RLRsim = as.character(packageVersion("RLRsim"))),
  data = list(gp_cholesterol = list(path = "datasets/gp_cholesterol.csv", sha256 = sha256(gp_path), rows = nrow(gp))),
  comparisons = comparisons
)
write_reference(reference, out)
