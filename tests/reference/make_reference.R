# Reference numbers for tests/test_mixed.py, computed by R itself.
#
#   Rscript tests/reference/make_reference.R [output.json]
#
# Fits the lecture's models to datasets/gp_cholesterol.csv with nlme::lme (as the
# lecture calls it, and run to convergence) and lme4::lmer (REML and ML), anova()
# tables, the ICC and the four OLS models of the first half (stats::lm), plus the
# same mixed models on the dietox pig data
# (tests/reference/dietox.csv). Writes every number, the R and package versions and
# the data files' SHA-256 to tests/reference/r_reference.json (or the given path).
# Nothing random and no dates: a rerun on the same data writes the same bytes,
# which test_mixed.py checks, so the committed reference cannot go stale.

suppressPackageStartupMessages({
  library(nlme)
  library(lme4)
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

lme_numbers <- function(spec, data, control = lmeControl()) {
  fit <- lme(as.formula(spec$fixed), random = as.formula(paste(spec$random, "|", spec$group)),
             data = data, method = if (spec$reml) "REML" else "ML", control = control)
  tt <- summary(fit)$tTable
  psi <- getVarCov(fit)
  ll <- logLik(fit)
  re <- ranef(fit)
  list(
    spec = spec,
    fixed = list(term = rownames(tt), estimate = tt[, "Value"], std_error = tt[, "Std.Error"],
                 df = tt[, "DF"], t = tt[, "t-value"], p = tt[, "p-value"]),
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
  fit <- withCallingHandlers(lmer(formula, data = data, REML = spec$reml),
                             warning = function(w) {
                               messages <<- c(messages, conditionMessage(w))
                               invokeRestart("muffleWarning")
                             })
  messages <- unique(c(messages, fit@optinfo$conv$lme4$messages))
  vc <- VarCorr(fit)[[1]]
  ll <- logLik(fit)
  list(
    spec = spec, converged = length(messages) == 0, messages = messages,
    fixed = list(term = names(fixef(fit)), estimate = unname(fixef(fit)),
                 std_error = unname(sqrt(diag(as.matrix(vcov(fit)))))),
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

spec <- function(fixed, random, group, reml) list(fixed = fixed, random = random, group = group, reml = reml)

# ---- GP cholesterol: the lecture's models
gp_path <- file.path(root, "datasets", "gp_cholesterol.csv")
gp <- read.csv(gp_path)
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
  ri_no_intercept_reml = spec("chol ~ 0 + age + agedoc", "~ 1", "doctor", TRUE)
)
gp_result <- mixed_models(gp, gp_specs, list(
  ri_vs_rs_reml = c("ri_reml", "rs_reml"),          # same fixed effects: REML comparison is valid
  rs_vs_rs_agedoc_ml = c("rs_ml", "rs_agedoc_ml")   # fixed effects differ: ML fits
))
icc_of <- function(f) {
  v <- f$random_sd[["(Intercept)"]]^2
  v / (v + f$random_sd[["Residual"]]^2)
}
gp_result$icc <- list(ri_reml = icc_of(gp_result$lme$ri_reml), ri_ml = icc_of(gp_result$lme$ri_ml))

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
dietox_result <- mixed_models(dietox, list(
  ri_reml = spec("Weight ~ Time", "~ 1", "Pig", TRUE),
  rs_reml = spec("Weight ~ Time", "~ 1 + Time", "Pig", TRUE),
  rs_ml = spec("Weight ~ Time", "~ 1 + Time", "Pig", FALSE)
), list(ri_vs_rs_reml = c("ri_reml", "rs_reml")))

reference <- list(
  generated_by = "tests/reference/make_reference.R",
  versions = list(R = R.version.string, nlme = as.character(packageVersion("nlme")),
                  lme4 = as.character(packageVersion("lme4")), jsonlite = as.character(packageVersion("jsonlite"))),
  data = list(gp_cholesterol = list(path = "datasets/gp_cholesterol.csv", sha256 = sha256(gp_path), rows = nrow(gp)),
              dietox = list(path = "tests/reference/dietox.csv", sha256 = sha256(dietox_path), rows = nrow(dietox))),
  gp_cholesterol = gp_result,
  dietox = dietox_result
)
writeLines(toJSON(reference, digits = I(15), auto_unbox = TRUE, pretty = TRUE, na = "null", null = "null"), out)
