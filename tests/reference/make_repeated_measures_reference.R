# Reference numbers for tests/test_lecture_14.py: lecture 14's models of the dietox pig data in R.
#
#   Rscript tests/reference/make_repeated_measures_reference.R [output.json]
#
# tests/reference/dietox.csv (statsmodels' copy, tests/reference/export_dietox.py). nlme's growth
# curve (random intercept and slope on Time, REML) without and with an AR(1) residual correlation
# (corAR1), their anova(), the random-intercept-only model and OLS; geepack's GEE with AR(1) and
# exchangeable working correlations (robust SEs, working parameters). Nothing random.

script_arg <- grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)
here <- dirname(normalizePath(sub("^--file=", "", script_arg)))
source(file.path(here, "lme4_tools.R"))
suppressPackageStartupMessages({ library(nlme); library(geepack) })
out <- output_path("repeated_measures_reference.json")

dietox <- read.csv(file.path(here, "dietox.csv"))
to_optimum <- lmeControl(maxIter = 1000, msMaxIter = 1000, msMaxEval = 2000, niterEM = 100,
                         tolerance = 1e-12, msTol = 1e-14)

lme_numbers <- function(fit) {
  table <- summary(fit)$tTable
  covariance <- getVarCov(fit)
  sds <- c(sqrt(diag(covariance)), Residual = fit$sigma)
  list(fixed = list(term = rownames(table), estimate = unname(table[, "Value"]),
                    std_error = unname(table[, "Std.Error"]), df = unname(table[, "DF"])),
       random_sd = as.list(sds),
       random_corr = if (ncol(covariance) > 1) cov2cor(covariance)[1, 2] else NULL,
       loglik = as.numeric(logLik(fit)),
       residuals = unname(residuals(fit, level = 1)))
}

growth <- lme(Weight ~ Time, random = ~ Time | Pig, data = dietox, control = to_optimum)
# nlme's default optimiser (nlminb) stops with an error on the AR(1) model; the lecture uses optim.
default_fails <- inherits(try(lme(Weight ~ Time, random = ~ Time | Pig, correlation = corAR1(form = ~ Time | Pig),
                                  data = dietox), silent = TRUE), "try-error")
# The AR(1) fit is close to singular (the random intercept and slope correlate ~0.97): its likelihood
# is flat, and optim's methods stop at slightly different points. The lecture states only what they
# share; "bfgs" is the lecture's call.
ar1_by <- function(method) {
  fit <- lme(Weight ~ Time, random = ~ Time | Pig, correlation = corAR1(form = ~ Time | Pig), data = dietox,
             control = lmeControl(opt = "optim", optimMethod = method, msMaxIter = 5000, msMaxEval = 20000))
  c(lme_numbers(fit)[c("fixed", "random_sd", "random_corr", "loglik")],
    list(phi = unname(coef(fit$modelStruct$corStruct, unconstrained = FALSE))))
}
ar1 <- lme(Weight ~ Time, random = ~ Time | Pig, correlation = corAR1(form = ~ Time | Pig), data = dietox,
           control = lmeControl(opt = "optim"))
comparison <- anova(growth, ar1)
intercept_only <- lme(Weight ~ Time, random = ~ 1 | Pig, data = dietox, control = to_optimum)
ols <- summary(lm(Weight ~ Time, data = dietox))$coefficients

gee_numbers <- function(corstr) {
  fit <- geeglm(Weight ~ Time, id = Pig, waves = Time, data = dietox, corstr = corstr)
  s <- summary(fit)
  list(estimate = unname(coef(fit)), std_error = unname(s$coefficients[, "Std.err"]),
       alpha = unname(s$corr[1, "Estimate"]), scale = unname(s$dispersion[1, "Estimate"]))
}

reference <- list(
  versions = list(R = R.version.string, nlme = as.character(packageVersion("nlme")),
                  geepack = as.character(packageVersion("geepack"))),
  data_sha256 = sha256(file.path(here, "dietox.csv")),
  growth = lme_numbers(growth),
  ar1 = c(lme_numbers(ar1), list(phi = unname(coef(ar1$modelStruct$corStruct, unconstrained = FALSE)),
                                 default_optimiser_fails = default_fails)),
  ar1_other_optimisers = list(nelder_mead = ar1_by("Nelder-Mead"), l_bfgs_b = ar1_by("L-BFGS-B")),
  anova = list(l_ratio = comparison$L.Ratio[2], p = comparison$`p-value`[2]),
  intercept_only = lme_numbers(intercept_only)[c("fixed", "random_sd", "loglik")],
  ols = list(estimate = unname(ols[, 1]), std_error = unname(ols[, 2])),
  gee_ar1 = gee_numbers("ar1"),
  gee_exchangeable = gee_numbers("exchangeable"))
write_reference(reference, out)
