# Reference numbers for the lectures 01-05 (tests/test_lectures_basic.py), computed by R itself.
#
#   Rscript tests/reference/make_lectures_basic_reference.R [output.json]
#
# Each number a lecture from 01 to 05 states, or computes and interprets, as R's own functions give it:
# lm() and nlme::lmList() for the pooled, separate, group-level and fixed-effects fits, nlme::lme() for
# the random-intercept fits (REML), sandwich::vcovCL() for cluster-robust standard errors, p.adjust()
# for the multiple-testing corrections and metafor::rma() for the inverse-variance, meta-regression,
# DerSimonian-Laird and Hartung-Knapp meta-analyses. Writes tests/reference/lectures_basic.json (or the given path).
# Nothing random: a rerun on the same data gives the same numbers, which the tests check.

suppressPackageStartupMessages({
  library(nlme)
  library(sandwich)
  library(metafor)
  library(jsonlite)
})

script_arg <- grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)
here <- dirname(normalizePath(sub("^--file=", "", script_arg)))
root <- normalizePath(file.path(here, "..", ".."))
out <- commandArgs(trailingOnly = TRUE)[1]
if (is.na(out)) out <- file.path(here, "lectures_basic.json")
data_file <- file.path(root, "datasets", "gp_cholesterol.csv")
gp <- read.csv(data_file)
gps <- sort(unique(gp$doctor))
# VarCorr() gives formatted text; the variances at full precision come from getVarCov() and sigma.
icc <- function(fit) { v <- c(getVarCov(fit)[1, 1], fit$sigma^2); v[1] / sum(v) }
named <- function(x, names) setNames(as.list(unname(x)), names)

# 01 and 02: the GP means, the random-intercept model, residual clustering.
pooled <- lm(chol ~ age, data = gp)
ri <- lme(chol ~ age, random = ~ 1 | doctor, data = gp, method = "REML")
ri_sd <- c(sqrt(getVarCov(ri)[1, 1]), ri$sigma)
gp$resid <- resid(pooled)
resid_model <- lme(resid ~ 1, random = ~ 1 | doctor, data = gp, method = "REML")
age_model <- lme(age ~ 1, random = ~ 1 | doctor, data = gp, method = "REML")
m_bar <- mean(table(gp$doctor))
ages <- data.frame(age = c(min(gp$age), mean(gp$age), max(gp$age)))
band <- predict(pooled, ages, interval = "confidence")
robust_se <- sqrt(diag(vcovCL(pooled, cluster = ~ doctor, type = "HC1")))

# 03: one regression per GP.
separate <- lmList(chol ~ age | doctor, data = gp, pool = FALSE)
slope <- sapply(separate, function(f) coef(f)[["age"]])
slope_se <- sapply(separate, function(f) summary(f)$coefficients["age", "Std. Error"])
slope_ci <- t(sapply(separate, function(f) confint(f)["age", ]))
slope_p <- sapply(separate, function(f) summary(f)$coefficients["age", "Pr(>|t|)"])
residual_sd <- sapply(separate, function(f) summary(f)$sigma)
ci_width <- slope_ci[, 2] - slope_ci[, 1]
# lmList's default, pool = TRUE: one residual SD over all GPs, so other SEs and p-values (t on 441 - 24 df).
pooled_rse <- summary(lmList(chol ~ age | doctor, data = gp))
pooled_rse_df <- nrow(gp) - 2 * length(gps)
pooled_width <- diff(confint(pooled)["age", ])

# 04: group means, inverse-variance weighting, DerSimonian-Laird.
means <- aggregate(cbind(chol, age) ~ doctor, data = gp, FUN = mean)
grouped <- lm(chol ~ age, data = means)
fe <- rma(yi = slope, vi = slope_se^2, method = "FE")
dl <- rma(yi = slope, vi = slope_se^2, method = "DL")
wls <- lm(slope ~ 1, weights = 1 / slope_se^2)
# Exercise 4.1: the slopes regressed on the GP's own age, weights 1 / SE^2 taken as known (a k x p design).
agedoc <- unname(tapply(gp$agedoc, gp$doctor, mean))
meta_regression <- rma(yi = slope, vi = slope_se^2, mods = ~ agedoc, method = "FE")
# The same with between-GP heterogeneity in the slopes (residual tau^2 by DerSimonian-Laird or REML).
meta_regression_re <- lapply(c(dl = "DL", reml = "REML"), function(m) rma(yi = slope, vi = slope_se^2, mods = ~ agedoc, method = m))
heterogeneous <- function(fit) list(estimate = fit$b[["agedoc", 1]], std_error = fit$se[2], p = fit$pval[2], tau2 = fit$tau2)
hartung_knapp <- rma(yi = slope, vi = slope_se^2, method = "DL", test = "knha")

# 05: the fixed-effects fits on GPs 1-11 and on all 12.
vi_12 <- lm(chol ~ factor(doctor) + age, data = gp)
vi_11 <- lm(chol ~ factor(doctor) + age, data = subset(gp, doctor <= 11))
vs_12 <- lm(chol ~ age:factor(doctor), data = gp)
vs_11 <- lm(chol ~ age:factor(doctor), data = subset(gp, doctor <= 11))
gp_intercepts <- function(fit, k) {
  b <- coef(fit)
  c(b[["(Intercept)"]], b[["(Intercept)"]] + b[paste0("factor(doctor)", 2:k)])
}
gp_slopes <- function(fit, k) unname(coef(fit)[paste0("age:factor(doctor)", 1:k)])
both <- lm(chol ~ factor(doctor) * age, data = gp)
growing_k <- c(2, 3, 4, 6, 8, 10, 12)
growing <- t(sapply(growing_k, function(k) {
  fit <- lm(chol ~ factor(doctor) + age, data = subset(gp, doctor <= k))
  se <- sqrt(diag(vcov(fit)))
  c(se_beta = se[["age"]], se_alpha_1 = se[["(Intercept)"]], floor = summary(fit)$sigma / sqrt(sum(gp$doctor == 1)))
}))

reference <- list(
  data = list(path = "datasets/gp_cholesterol.csv", sha256 = sub(" .*", "", system2("sha256sum", shQuote(data_file), stdout = TRUE))),
  versions = list(R = paste(R.version$major, R.version$minor, sep = "."), nlme = as.character(packageVersion("nlme")),
                  sandwich = as.character(packageVersion("sandwich")), metafor = as.character(packageVersion("metafor"))),
  gp_means = list(doctor = gps, mean = unname(tapply(gp$chol, gp$doctor, mean)), sd = unname(tapply(gp$chol, gp$doctor, sd)),
                  age_sd = unname(tapply(gp$age, gp$doctor, sd)), n = unname(as.vector(table(gp$doctor)))),
  random_intercept = list(beta0 = fixef(ri)[["(Intercept)"]], beta = fixef(ri)[["age"]],
                          se_beta = summary(ri)$tTable["age", "Std.Error"], sigma_u = ri_sd[1], sigma = ri_sd[2], icc = icc(ri)),
  pooled = list(estimate = named(coef(pooled), c("Intercept", "age")), std_error = named(sqrt(diag(vcov(pooled))), c("Intercept", "age")),
                ci_low = named(confint(pooled)[, 1], c("Intercept", "age")), ci_high = named(confint(pooled)[, 2], c("Intercept", "age")),
                band_age = ages$age, band_mean = unname(band[, "fit"]), band_low = unname(band[, "lwr"]), band_high = unname(band[, "upr"]),
                cluster_robust_se = named(robust_se, c("Intercept", "age"))),
  residual_clustering = list(median = unname(tapply(gp$resid, gp$doctor, median)), icc_resid = icc(resid_model), icc_age = icc(age_model),
                             f_test_p = anova(lm(resid ~ factor(doctor), data = gp))[["Pr(>F)"]][1], m_bar = m_bar,
                             design_effect = 1 + (m_bar - 1) * icc(age_model) * icc(resid_model)),
  separate = list(doctor = gps, slope = unname(slope), std_error = unname(slope_se), ci_low = unname(slope_ci[, 1]),
                  ci_high = unname(slope_ci[, 2]), p = unname(slope_p), residual_sd = unname(residual_sd),
                  width_ratio = unname(ci_width / pooled_width), bonferroni = unname(p.adjust(slope_p, "bonferroni")),
                  holm = unname(p.adjust(slope_p, "holm")), fdr_bh = unname(p.adjust(slope_p, "BH")),
                  pooled_rse_std_error = unname(pooled_rse$coefficients[, "Std. Error", "age"]),
                  pooled_rse_p = unname(pooled_rse$coefficients[, "Pr(>|t|)", "age"]), pooled_rse_df = pooled_rse_df,
                  pooled_rse = pooled_rse$RSE),
  grouped = list(estimate = named(coef(grouped), c("Intercept", "age_grouped")),
                 std_error = named(sqrt(diag(vcov(grouped))), c("Intercept", "age_grouped")),
                 p = summary(grouped)$coefficients["age", "Pr(>|t|)"], mean_chol = means$chol, mean_age = means$age),
  ivw = list(estimate = as.numeric(fe$b), std_error = fe$se, weight_share = unname((1 / slope_se^2) / sum(1 / slope_se^2)),
             by_se = sum(slope / slope_se) / sum(1 / slope_se), wls_default_se = summary(wls)$coefficients[1, "Std. Error"],
             wls_scale = summary(wls)$sigma^2),
  meta_regression = list(estimate = named(meta_regression$b[, 1], c("Intercept", "agedoc")),
                         std_error = named(meta_regression$se, c("Intercept", "agedoc")),
                         p = named(meta_regression$pval, c("Intercept", "agedoc")),
                         ci_low = named(meta_regression$ci.lb, c("Intercept", "agedoc")),
                         ci_high = named(meta_regression$ci.ub, c("Intercept", "agedoc"))),
  meta_regression_dl = heterogeneous(meta_regression_re$dl),
  meta_regression_reml = heterogeneous(meta_regression_re$reml),
  hartung_knapp = list(estimate = as.numeric(hartung_knapp$b), std_error = hartung_knapp$se, ci_low = hartung_knapp$ci.lb,
                       ci_high = hartung_knapp$ci.ub, df = hartung_knapp$k - 1),
  dersimonian_laird = list(estimate = as.numeric(dl$b), std_error = dl$se, ci_low = dl$ci.lb, ci_high = dl$ci.ub,
                           tau2 = dl$tau2, q = dl$QE, q_df = dl$k - 1, i2 = dl$I2 / 100),
  fixed_effects = list(vi_intercepts_12 = unname(gp_intercepts(vi_12, 12)), vi_intercepts_11 = unname(gp_intercepts(vi_11, 11)),
                       vi_slope_12 = coef(vi_12)[["age"]], vi_slope_11 = coef(vi_11)[["age"]],
                       vs_intercept_12 = coef(vs_12)[["(Intercept)"]], vs_intercept_11 = coef(vs_11)[["(Intercept)"]],
                       vs_slopes_12 = gp_slopes(vs_12, 12), vs_slopes_11 = gp_slopes(vs_11, 11),
                       growing_k = growing_k, growing_se_beta = unname(growing[, "se_beta"]),
                       growing_se_alpha_1 = unname(growing[, "se_alpha_1"]), growing_floor = unname(growing[, "floor"]),
                       both_rank = both$rank, both_columns = length(coef(both)),
                       with_agedoc_na = is.na(coef(lm(chol ~ factor(doctor) + age + agedoc, data = gp))[["agedoc"]]))
)
writeLines(toJSON(reference, auto_unbox = TRUE, digits = NA, pretty = TRUE), out)
