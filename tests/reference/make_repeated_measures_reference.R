# Reference numbers for tests/test_lecture_14.py: lecture 14's models of the dietox pig data in R.
#
#   Rscript tests/reference/make_repeated_measures_reference.R [output.json]
#
# tests/reference/dietox.csv (statsmodels' copy, tests/reference/export_dietox.py). Time is counted from
# the first weighing, week = Time - 1, as the lecture does. nlme's growth curve (random intercept and slope
# on week, REML) without and with an AR(1) residual correlation (corAR1), the same curve with time counted
# from Time = 0, nlme's intervals() of both, the AR(1) correlation alone (gls), their anova() and AIC, the
# random-intercept-only model and OLS; lme4's profile intervals of the ML growth curve; geepack's GEE under
# independence, exchangeable and AR(1) working correlations (robust SEs, working parameters) and the same on
# the pigs weighed every week, with their mean weekly gains; the same GEEs with a mean for each week. Nothing
# random.

script_arg <- grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)
here <- dirname(normalizePath(sub("^--file=", "", script_arg)))
source(file.path(here, "lme4_tools.R"))
suppressPackageStartupMessages({ library(nlme); library(geepack) })
out <- output_path("repeated_measures_reference.json")

dietox <- read.csv(file.path(here, "dietox.csv"))
dietox$week <- dietox$Time - 1
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

growth <- lme(Weight ~ week, random = ~ week | Pig, data = dietox, control = to_optimum)
from_week0 <- lme(Weight ~ Time, random = ~ Time | Pig, data = dietox, control = to_optimum)

# nlme's approximate intervals: Wald intervals on the log-SD and atanh-correlation scales.
interval_numbers <- function(fit) {
  ci <- intervals(fit, which = "var-cov")
  rows <- c(lapply(split(ci$reStruct$Pig, seq_len(nrow(ci$reStruct$Pig))), unlist), list(unname(ci$sigma)))
  names(rows) <- c(rownames(ci$reStruct$Pig), "sigma")
  if (!is.null(ci$corStruct)) rows$phi <- unname(ci$corStruct[1, ])
  lapply(rows, function(r) list(lower = unname(r[1]), estimate = unname(r[2]), upper = unname(r[3])))
}
# lme4's profile intervals of the ML fit: what helpers.profile.profile_intervals of an ML fit must give.
ml_profile <- local({
  ml <- lmer(Weight ~ week + (week | Pig), data = dietox, REML = FALSE, control = tight)
  ci <- suppressWarnings(confint(ml, method = "profile", oldNames = FALSE, parm = "theta_"))
  list(term = rownames(ci), lower = unname(ci[, 1]), upper = unname(ci[, 2]))
})
# nlme's default optimiser (nlminb) stops with an error on the AR(1) model; the lecture uses optim.
default_fails <- inherits(try(lme(Weight ~ week, random = ~ week | Pig, correlation = corAR1(form = ~ week | Pig),
                                  data = dietox), silent = TRUE), "try-error")
# The AR(1) fit is close to singular (the random intercept and slope correlate ~0.97): its likelihood
# is flat, and optim's methods stop at slightly different points. The lecture states only what they
# share; "bfgs" is the lecture's call.
ar1_by <- function(method) {
  fit <- lme(Weight ~ week, random = ~ week | Pig, correlation = corAR1(form = ~ week | Pig), data = dietox,
             control = lmeControl(opt = "optim", optimMethod = method, msMaxIter = 5000, msMaxEval = 20000))
  c(lme_numbers(fit)[c("fixed", "random_sd", "random_corr", "loglik")],
    list(phi = unname(coef(fit$modelStruct$corStruct, unconstrained = FALSE))))
}
ar1 <- lme(Weight ~ week, random = ~ week | Pig, correlation = corAR1(form = ~ week | Pig), data = dietox,
           control = lmeControl(opt = "optim"))
ar1_alone <- gls(Weight ~ week, correlation = corAR1(form = ~ week | Pig), data = dietox)
comparison <- anova(growth, ar1)
against_alone <- anova(ar1_alone, ar1)
intercept_only <- lme(Weight ~ week, random = ~ 1 | Pig, data = dietox, control = to_optimum)
ols <- summary(lm(Weight ~ week, data = dietox))$coefficients

complete <- dietox[ave(dietox$week, dietox$Pig, FUN = length) == 12, ]
gee_numbers <- function(corstr, data = dietox) {
  fit <- geeglm(Weight ~ week, id = Pig, waves = week, data = data, corstr = corstr)
  s <- summary(fit)
  list(estimate = unname(coef(fit)), std_error = unname(s$coefficients[, "Std.err"]),
       alpha = unname(s$corr[1, "Estimate"]), scale = unname(s$dispersion[1, "Estimate"]))
}

reference <- list(
  versions = list(R = R.version.string, nlme = as.character(packageVersion("nlme")),
                  geepack = as.character(packageVersion("geepack"))),
  data_sha256 = sha256(file.path(here, "dietox.csv")),
  growth = lme_numbers(growth),
  from_week0 = lme_numbers(from_week0)[c("fixed", "random_sd", "random_corr", "loglik")],
  growth_intervals = interval_numbers(growth),
  growth_ml_profile = ml_profile,
  ar1 = c(lme_numbers(ar1), list(phi = unname(coef(ar1$modelStruct$corStruct, unconstrained = FALSE)),
                                 default_optimiser_fails = default_fails)),
  ar1_other_optimisers = list(nelder_mead = ar1_by("Nelder-Mead"), l_bfgs_b = ar1_by("L-BFGS-B")),
  ar1_intervals = interval_numbers(ar1),
  ar1_alone = list(loglik = as.numeric(logLik(ar1_alone)),
                   phi = unname(coef(ar1_alone$modelStruct$corStruct, unconstrained = FALSE))),
  anova = list(l_ratio = comparison$L.Ratio[2], p = comparison$`p-value`[2], aic = comparison$AIC,
               l_ratio_alone = against_alone$L.Ratio[2], aic_alone = against_alone$AIC[1]),
  intercept_only = lme_numbers(intercept_only)[c("fixed", "random_sd", "loglik")],
  ols = list(estimate = unname(ols[, 1]), std_error = unname(ols[, 2])),
  gee_ar1 = gee_numbers("ar1"),
  gee_exchangeable = gee_numbers("exchangeable"),
  gee_independence = gee_numbers("independence"),
  complete_pigs = list(n = length(unique(complete$Pig)), ar1 = gee_numbers("ar1", complete),
                       exchangeable = gee_numbers("exchangeable", complete),
                       independence = gee_numbers("independence", complete)),
  complete_weekly_gain = unname(diff(tapply(complete$Weight, complete$week, mean))),
  weekly_means = lapply(c(independence = "independence", exchangeable = "exchangeable", ar1 = "ar1"), function(corstr)
    unname(coef(geeglm(Weight ~ factor(week) - 1, id = Pig, waves = week, data = dietox, corstr = corstr)))))
write_reference(reference, out)
