# Reference numbers for tests/test_mixed.py, computed by R itself.
#
#   Rscript tests/reference/make_reference.R [output.json]
#
# Fits the lecture's models to datasets/gp_cholesterol.csv with nlme::lme (as the
# lecture calls it, and run to convergence) and lme4::lmer (REML and ML), anova()
# tables, the ICC and the four OLS models of the first half (stats::lm), plus the
# same mixed models on the dietox pig data
# (tests/reference/dietox.csv). For lectures 06-09 also: Satterthwaite and Kenward-Roger
# df (lmerTest, pbkrtest), the meta-analyses of the twelve GP slopes (metafor), the
# cluster-robust pooled slope (sandwich) and the Hausman statistic of lecture 07. Writes every number, the R and package versions and
# the data files' SHA-256 to tests/reference/r_reference.json (or the given path).
# Nothing random and no dates: a rerun on the same data writes the same bytes,
# which test_mixed.py checks, so the committed reference cannot go stale.

suppressPackageStartupMessages({
  library(nlme)
  library(lme4)
  library(lmerTest)
  library(metafor)
  library(sandwich)
  library(jsonlite)
})

script_arg <- grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)
here <- dirname(normalizePath(sub("^--file=", "", script_arg)))
root <- normalizePath(file.path(here, "..", ".."))
out <- commandArgs(trailingOnly = TRUE)[1]
if (is.na(out)) out <- file.path(here, "r_reference.json")

sha256 <- function(path) sub(" .*", "", system2("sha256sum", shQuote(path), stdout = TRUE))

# A data frame as named columns, its row names kept as `rows`.
columns <- function(df) c(list(rows = rownames(df)), lapply(as.list(df), function(x) if (is.factor(x)) as.character(x) else x))

# nlme's default stopping rule leaves the random-slope fits of this data about 3e-7 below
# the top of the REML surface, which moves some estimates by ~1e-4 of themselves. The
# same call with these tolerances reaches the optimum, for comparisons at 1e-5.
converged <- lmeControl(maxIter = 1000, msMaxIter = 1000, msMaxEval = 2000, niterEM = 100,
                        tolerance = 1e-12, msTol = 1e-14)

# The rows a spec names (all, or those where its `subset` expression holds).
rows_of <- function(spec, data) if (is.null(spec$subset)) data else data[eval(parse(text = spec$subset), data), ]

lme_numbers <- function(spec, data, control = lmeControl()) {
  data <- rows_of(spec, data)
  fit <- lme(as.formula(spec$fixed), random = as.formula(paste(spec$random, "|", spec$group)),
             data = data, method = if (spec$reml) "REML" else "ML", control = control)
  tt <- summary(fit)$tTable
  psi <- getVarCov(fit)
  ll <- logLik(fit)
  re <- ranef(fit)
  list(
    spec = spec,
    # I(): a model with one fixed effect still gets arrays, not scalars, in the JSON.
    fixed = list(term = I(rownames(tt)), estimate = I(tt[, "Value"]), std_error = I(tt[, "Std.Error"]),
                 df = I(tt[, "DF"]), t = I(tt[, "t-value"]), p = I(tt[, "p-value"])),
    vcov = unname(vcov(fit)),  # under ML without summary()'s N / (N - p) widening of the SEs
    random_sd = as.list(c(setNames(sqrt(diag(psi)), colnames(psi)), Residual = fit$sigma)),
    random_corr = unname(cov2cor(unclass(psi)[seq_len(nrow(psi)), seq_len(ncol(psi)), drop = FALSE])),
    loglik = as.numeric(ll), n_params = attr(ll, "df"), aic = AIC(fit), bic = BIC(fit),
    nobs = fit$dims$N, ngroups = unname(fit$dims$ngrps[1]),
    ranef = c(list(group = rownames(re)), as.list(re)),
    fitted = unname(fitted(fit)),
    fit = fit
  )
}

lmer_numbers <- function(spec, data) {
  formula <- as.formula(paste(spec$fixed, "+ (", sub("~", "", spec$random), "|", spec$group, ")"))
  messages <- character()
  fit <- withCallingHandlers(lme4::lmer(formula, data = rows_of(spec, data), REML = spec$reml),
                             warning = function(w) {
                               messages <<- c(messages, conditionMessage(w))
                               invokeRestart("muffleWarning")
                             })
  messages <- unique(c(messages, fit@optinfo$conv$lme4$messages))
  vc <- VarCorr(fit)[[1]]
  ll <- logLik(fit)
  list(
    spec = spec, converged = length(messages) == 0, messages = messages,
    fixed = list(term = I(names(fixef(fit))), estimate = I(unname(fixef(fit))),
                 std_error = I(unname(sqrt(diag(as.matrix(vcov(fit))))))),
    random_sd = as.list(c(attr(vc, "stddev"), Residual = sigma(fit))),
    random_corr = unname(attr(vc, "correlation")),
    loglik = as.numeric(ll), n_params = attr(ll, "df")
  )
}

anova_numbers <- function(a, b) {
  tab <- as.data.frame(anova(a$fit, b$fit))
  tab$call <- NULL
  tab$Test <- as.character(tab$Test)
  rownames(tab) <- c(a$name, b$name)
  columns(tab)
}

lm_numbers <- function(fit) {
  s <- summary(fit)
  cf <- s$coefficients
  f <- s$fstatistic
  q <- quantile(residuals(fit))
  list(
    call = deparse(formula(fit)),
    coefficients = list(term = rownames(cf), estimate = cf[, 1], std_error = cf[, 2], t = cf[, 3], p = cf[, 4]),
    sigma = s$sigma, df_residual = fit$df.residual, r_squared = s$r.squared, adj_r_squared = s$adj.r.squared,
    f_statistic = unname(f["value"]), f_df_model = unname(f["numdf"]), f_df_residual = unname(f["dendf"]),
    f_p_value = unname(pf(f["value"], f["numdf"], f["dendf"], lower.tail = FALSE)),
    residual_quantiles = setNames(as.list(unname(q)), c("Min", "1Q", "Median", "3Q", "Max"))
  )
}

# `lme`: the calls as the lecture makes them (default control); `lme_converged`: the same
# calls run to the optimum; `lmer`: lme4, with whether it reported convergence.
mixed_models <- function(data, specs, comparisons) {
  fits <- lapply(names(specs), function(name) c(list(name = name), lme_numbers(specs[[name]], data)))
  names(fits) <- names(specs)
  list(
    lme = lapply(fits, function(f) f[setdiff(names(f), c("fit", "name", "fitted"))]),
    lme_converged = lapply(specs, function(s) {
      f <- lme_numbers(s, data, converged)
      f[names(f) != "fit"]
    }),
    lmer = lapply(specs, lmer_numbers, data = data),
    anova = lapply(comparisons, function(pair) anova_numbers(fits[[pair[1]]], fits[[pair[2]]]))
  )
}

# `lecture`: a model a lecture fits with statsmodels (smf.mixedlm on centred covariates), whose
# fit tests/test_mixed.py checks through helpers.mixed.nlme_summary; `subset`: an R (and pandas
# query) expression selecting the rows fitted.
spec <- function(fixed, random, group, reml, lecture = FALSE, subset = NULL) {
  s <- list(fixed = fixed, random = random, group = group, reml = reml)
  if (lecture) s$lecture <- TRUE
  if (!is.null(subset)) s$subset <- subset
  s
}

# ---- GP cholesterol: the lecture's models
gp_path <- file.path(root, "datasets", "gp_cholesterol.csv")
gp <- read.csv(gp_path)
# The lectures' derived columns: centred age and GP's age (mean over patients); each GP's mean age, centred, and a patient's
# deviation from it (lecture 07); a patient's position among its GP's rows (lecture 06's subsample).
gp$age_c <- gp$age - mean(gp$age)
gp$agedoc_c <- gp$agedoc - mean(gp$agedoc)
gp$age_gp <- ave(gp$age, gp$doctor)
gp$age_gp_c <- gp$age_gp - mean(gp$age)
gp$age_within <- gp$age - gp$age_gp
gp$row_in_gp <- ave(seq_along(gp$doctor), gp$doctor, FUN = seq_along)
gp_specs <- list(
  ri_reml = spec("chol ~ age", "~ 1", "doctor", TRUE),
  rs_reml = spec("chol ~ age", "~ 1 + age", "doctor", TRUE),
  rs_agedoc_reml = spec("chol ~ age + agedoc", "~ 1 + age", "doctor", TRUE),
  ri_ml = spec("chol ~ age", "~ 1", "doctor", FALSE),
  rs_ml = spec("chol ~ age", "~ 1 + age", "doctor", FALSE),
  rs_agedoc_ml = spec("chol ~ age + agedoc", "~ 1 + age", "doctor", FALSE),
  # A shifted and scaled covariate: the same model, so the same optimum but for log(10) in the
  # REML logLik; nlme with default control stops far below it on this data.
  rs_shifted_reml = spec("chol ~ I(age * 10 + 1000)", "~ 1 + I(age * 10 + 1000)", "doctor", TRUE),
  # No intercept: nlme's degrees-of-freedom rule has a separate branch for it.
  ri_no_intercept_reml = spec("chol ~ 0 + age + agedoc", "~ 1", "doctor", TRUE),
  # The lectures' models. 06: no covariate (the unconditional ICC), random intercept by REML and
  # ML, on the first three patients of each GP, and on GPs 1-11.
  ri_null_reml = spec("chol ~ 1", "~ 1", "doctor", TRUE, lecture = TRUE),
  ri_c_reml = spec("chol ~ age_c", "~ 1", "doctor", TRUE, lecture = TRUE),
  ri_c_ml = spec("chol ~ age_c", "~ 1", "doctor", FALSE, lecture = TRUE),
  ri_c_first3_reml = spec("chol ~ age_c", "~ 1", "doctor", TRUE, lecture = TRUE, subset = "row_in_gp <= 3"),
  ri_c_gp1to11_reml = spec("chol ~ age_c", "~ 1", "doctor", TRUE, lecture = TRUE, subset = "doctor <= 11"),
  # 07: the within-between model and its Mundlak form (same fit, GP mean age's coefficient
  # becomes between minus within).
  wb_reml = spec("chol ~ age_within + age_gp_c", "~ 1", "doctor", TRUE, lecture = TRUE),
  mundlak_reml = spec("chol ~ age_c + age_gp_c", "~ 1", "doctor", TRUE, lecture = TRUE),
  mundlak_ml = spec("chol ~ age_c + age_gp_c", "~ 1", "doctor", FALSE, lecture = TRUE),
  # 08: random intercept and slope, with and without the GP's age, by REML and ML.
  rs_c_reml = spec("chol ~ age_c", "~ 1 + age_c", "doctor", TRUE, lecture = TRUE),
  rs_c_ml = spec("chol ~ age_c", "~ 1 + age_c", "doctor", FALSE, lecture = TRUE),
  rs_agedoc_c_reml = spec("chol ~ age_c + agedoc_c", "~ 1 + age_c", "doctor", TRUE, lecture = TRUE),
  rs_agedoc_c_ml = spec("chol ~ age_c + agedoc_c", "~ 1 + age_c", "doctor", FALSE, lecture = TRUE)
)
gp_result <- mixed_models(gp, gp_specs, list(
  ri_vs_rs_reml = c("ri_reml", "rs_reml"),          # same fixed effects: REML comparison is valid
  rs_vs_rs_agedoc_ml = c("rs_ml", "rs_agedoc_ml"),  # fixed effects differ: ML fits
  ri_c_vs_rs_c_reml = c("ri_c_reml", "rs_c_reml"),
  rs_c_vs_rs_agedoc_c_ml = c("rs_c_ml", "rs_agedoc_c_ml"),
  ri_c_vs_mundlak_ml = c("ri_c_ml", "mundlak_ml")   # lecture 07's likelihood-ratio Mundlak test
))
icc_of <- function(f) {
  v <- f$random_sd[["(Intercept)"]]^2
  v / (v + f$random_sd[["Residual"]]^2)
}
gp_result$icc <- list(ri_reml = icc_of(gp_result$lme$ri_reml), ri_ml = icc_of(gp_result$lme$ri_ml),
                      ri_null_reml = icc_of(gp_result$lme_converged$ri_null_reml))

# Satterthwaite and Kenward-Roger denominator df of the fixed effects (lmerTest; KR by pbkrtest,
# with its adjusted standard errors), for the random-slope models of lectures 08 and 09.
small_sample <- function(spec) {
  formula <- as.formula(paste(spec$fixed, "+ (", sub("~", "", spec$random), "|", spec$group, ")"))
  fit <- lmerTest::lmer(formula, data = gp, REML = TRUE)
  sapply(c(satterthwaite = "Satterthwaite", kenward_roger = "Kenward-Roger"), function(ddf) {
    cf <- summary(fit, ddf = ddf)$coefficients
    list(term = rownames(cf), estimate = unname(cf[, "Estimate"]), std_error = unname(cf[, "Std. Error"]),
         df = unname(cf[, "df"]), t = unname(cf[, "t value"]), p = unname(cf[, "Pr(>|t|)"]))
  }, simplify = FALSE)
}
gp_result$small_sample <- lapply(gp_specs[c("rs_c_reml", "rs_agedoc_c_reml")], small_sample)

# Lecture 09's picture of the age effect: the twelve GP slopes combined by inverse-variance
# weights (fixed effect) and by DerSimonian-Laird (random effects), and the pooled OLS slope with
# a cluster-robust (CR1, HC1-type) standard error and a t interval on 12 - 1 df.
by_gp <- lapply(split(gp, gp$doctor), function(d) summary(lm(chol ~ age, data = d))$coefficients["age", ])
slopes <- sapply(by_gp, `[[`, "Estimate")
slope_se <- sapply(by_gp, `[[`, "Std. Error")
meta <- function(method) {
  m <- rma(yi = slopes, sei = slope_se, method = method)
  list(estimate = as.numeric(m$beta), std_error = m$se, ci_low = m$ci.lb, ci_high = m$ci.ub, tau2 = m$tau2)
}
pooled <- lm(chol ~ age, data = gp)
cluster_se <- sqrt(vcovCL(pooled, cluster = ~ doctor, type = "HC1")["age", "age"])
clusters <- length(unique(gp$doctor))
gp_result$age_effect <- list(
  ivw = meta("FE"), dersimonian_laird = meta("DL"),
  pooled_cluster_robust = list(estimate = unname(coef(pooled)["age"]), std_error = cluster_se, df = clusters - 1,
                               ci_low = unname(coef(pooled)["age"]) - qt(0.975, clusters - 1) * cluster_se,
                               ci_high = unname(coef(pooled)["age"]) + qt(0.975, clusters - 1) * cluster_se)
)

# Lecture 07's Hausman statistic for the age slope: fixed effects (lm with GP constants)
# against the random intercept (REML), each with its own variance.
fixed_gp <- lm(chol ~ as.factor(doctor) + age, data = gp)
ri_c <- gp_result$lme_converged$ri_c_reml
ri_c_vcov <- ri_c$vcov[2, 2]
difference <- unname(coef(fixed_gp)["age"]) - as.numeric(ri_c$fixed$estimate[2])
hausman <- difference^2 / (vcov(fixed_gp)["age", "age"] - ri_c_vcov)
gp_result$hausman <- list(difference = difference, variance_fe = vcov(fixed_gp)["age", "age"],
                          variance_re = ri_c_vcov, statistic = hausman, df = 1,
                          p = pchisq(hausman, 1, lower.tail = FALSE))

grouped <- data.frame(chol_grouped = tapply(gp$chol, gp$doctor, mean), age_grouped = tapply(gp$age, gp$doctor, mean))
gp_result$lm <- list(
  pooled = lm_numbers(lm(chol ~ age, data = gp)),
  grouped = lm_numbers(lm(chol_grouped ~ age_grouped, data = grouped)),
  varying_intercept = lm_numbers(lm(chol ~ as.factor(doctor) + age, data = gp)),
  varying_slope = lm_numbers(lm(chol ~ age:as.factor(doctor), data = gp))
)

# ---- dietox: the pig data of statsmodels' MixedLM examples
dietox_path <- file.path(here, "dietox.csv")
dietox <- read.csv(dietox_path)
dietox$Time_c <- dietox$Time - mean(dietox$Time)
dietox_result <- mixed_models(dietox, list(
  ri_reml = spec("Weight ~ Time", "~ 1", "Pig", TRUE),
  rs_reml = spec("Weight ~ Time", "~ 1 + Time", "Pig", TRUE),
  rs_ml = spec("Weight ~ Time", "~ 1 + Time", "Pig", FALSE),
  ri_c_reml = spec("Weight ~ Time_c", "~ 1", "Pig", TRUE, lecture = TRUE),
  rs_c_reml = spec("Weight ~ Time_c", "~ 1 + Time_c", "Pig", TRUE, lecture = TRUE),
  rs_c_ml = spec("Weight ~ Time_c", "~ 1 + Time_c", "Pig", FALSE, lecture = TRUE)
), list(ri_vs_rs_reml = c("ri_reml", "rs_reml"), ri_c_vs_rs_c_reml = c("ri_c_reml", "rs_c_reml")))

reference <- list(
  generated_by = "tests/reference/make_reference.R",
  versions = lapply(c(R = "R", nlme = "nlme", lme4 = "lme4", lmerTest = "lmerTest", pbkrtest = "pbkrtest",
                      metafor = "metafor", sandwich = "sandwich", jsonlite = "jsonlite"),
                    function(p) if (p == "R") R.version.string else as.character(packageVersion(p))),
  data = list(gp_cholesterol = list(path = "datasets/gp_cholesterol.csv", sha256 = sha256(gp_path), rows = nrow(gp)),
              dietox = list(path = "tests/reference/dietox.csv", sha256 = sha256(dietox_path), rows = nrow(dietox))),
  gp_cholesterol = gp_result,
  dietox = dietox_result
)
writeLines(toJSON(reference, digits = I(15), auto_unbox = TRUE, pretty = TRUE, na = "null", null = "null"), out)
