# Reference numbers for tests/test_profile.py and lectures 06-08: intervals for the variance parameters
# and what the random-intercept interval for the age effect is worth when slopes vary.
#
#   Rscript tests/reference/make_profile_reference.R [output.json]
#
# - confint_ml: lme4's confint(method = "profile") of the random-intercept and random-slope models.
#   lme4 profiles the ML deviance whether the fit is REML or ML (confint of the REML fits gives the
#   same numbers, which this script checks), so these are the ML profile intervals.
# - reml_profile: the REML profile intervals the lectures print, from the REML log-likelihood written
#   out below (checked against logLik(lmer) at the REML estimates), maximised by optim and cut by
#   uniroot at qchisq(0.95, 1) / 2 below the maximum; the ICC of the random-intercept model through
#   lme4's own REML deviance function of theta = sigma_0 / sigma, over which sigma profiles out.
# - null_icc: the same for the model with no covariate (lecture 06's unconditional ICC).
# - ri_under_rs: the random-intercept model's slope is a linear estimator, (X'W X)^-1 X'W y with W
#   its fitted inverse covariance; under the fitted random-slope model its true SD is the sandwich
#   sqrt(a' V a), and its 95% interval (t on 428 df) covers the true slope with probability
#   P(|T_428| < q SE / SD) if SE stays near its observed value: the coverage lecture 08 simulates.
# - within_between_slopes: lecture 07's within-between model with a random slope on the within part,
#   its fixed effects with Kenward-Roger's standard errors and df (lmerTest, pbkrtest).
# Nothing random and no dates: a rerun on the same data writes the same numbers.

script_arg <- grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)
here <- dirname(normalizePath(sub("^--file=", "", script_arg)))
source(file.path(here, "lme4_tools.R"))
out <- output_path("profile_reference.json")

path <- file.path(root, "datasets", "gp_cholesterol.csv")
gp <- read.csv(path)
gp$age_c <- gp$age - mean(gp$age)
cut <- qchisq(0.95, 1) / 2

fits <- list(ri = chol ~ age_c + (1 | doctor), rs = chol ~ age_c + (1 + age_c | doctor))

# lme4's rows, named as profile_intervals names them.
lme4_rows <- function(ci) {
  names <- c("sd_(Intercept)|doctor" = "sd (Intercept)", "sd_age_c|doctor" = "sd age_c",
             "cor_age_c.(Intercept)|doctor" = "cor (Intercept), age_c", "sigma" = "sd Residual")
  keep <- rownames(ci) %in% names(names)
  setNames(lapply(which(keep), function(i) unname(ci[i, ])), names[rownames(ci)[keep]])
}
confint_ml <- lapply(fits, function(f) {
  ml <- lmer(f, data = gp, REML = FALSE, control = tight)
  reml <- lmer(f, data = gp, REML = TRUE, control = tight)
  a <- withCallingHandlers(confint(ml, method = "profile", oldNames = FALSE, parm = "theta_"),
                           warning = function(w) { message("confint: ", conditionMessage(w)); invokeRestart("muffleWarning") })
  b <- suppressWarnings(confint(reml, method = "profile", oldNames = FALSE, parm = "theta_"))
  stopifnot(max(abs(a - b)) < 1e-6)
  lme4_rows(a)
})

# The REML log-likelihood of the model with random effects on the columns `z` of each GP, at
# (log SDs, atanh correlation, log sigma).
X <- model.matrix(~ age_c, gp)
groups <- split(seq_len(nrow(gp)), gp$doctor)
reml_loglik <- function(par, z) {
  q <- length(z)
  sd <- exp(par[seq_len(q)])
  sigma2 <- exp(2 * par[length(par)])
  corr <- diag(q)
  if (q == 2) corr[1, 2] <- corr[2, 1] <- tanh(par[3])
  psi <- corr * outer(sd, sd)
  xvx <- 0; xvy <- 0; yvy <- 0; logdet <- 0
  for (rows in groups) {
    Z <- X[rows, z, drop = FALSE]
    V <- Z %*% psi %*% t(Z) + sigma2 * diag(length(rows))
    ch <- tryCatch(chol(V), error = function(e) NULL)
    if (is.null(ch)) return(-1e300)  # sigma^2 underflowed: far outside the interval
    logdet <- logdet + 2 * sum(log(diag(ch)))
    Xs <- backsolve(ch, X[rows, ], transpose = TRUE)
    ys <- backsolve(ch, gp$chol[rows], transpose = TRUE)
    xvx <- xvx + crossprod(Xs); xvy <- xvy + crossprod(Xs, ys); yvy <- yvy + sum(ys^2)
  }
  quadratic <- yvy - drop(crossprod(xvy, solve(xvx, xvy)))
  n <- nrow(X); p <- ncol(X)
  -((n - p) * log(2 * pi) + logdet + determinant(xvx)$modulus + quadratic) / 2
}

reml_profile <- function(f, z, names) {
  fit <- lmer(f, data = gp, REML = TRUE, control = tight)
  vc <- as.data.frame(VarCorr(fit))
  sds <- vc$sdcor[is.na(vc$var2)]
  cors <- vc$sdcor[!is.na(vc$var2) & vc$grp != "Residual"]
  start <- c(log(sds[-length(sds)]), atanh(cors), log(sds[length(sds)]))
  top <- optim(start, reml_loglik, z = z, method = "BFGS", control = list(fnscale = -1, reltol = 1e-14))
  stopifnot(abs(top$value - as.numeric(logLik(fit))) < 1e-5)
  profile_at <- function(i, value, from) {
    if (length(from) == 1) return(reml_loglik(replace(top$par, i, value), z))
    g <- function(other) reml_loglik(append(other, value, after = i - 1), z)
    optim(from, g, method = "BFGS", control = list(fnscale = -1, reltol = 1e-14))$value
  }
  natural <- function(i, x) if (names[i] == "cor (Intercept), age_c") tanh(x) else exp(x)
  rows <- lapply(seq_along(top$par), function(i) {
    from <- top$par[-i]
    drop <- function(x) top$value - profile_at(i, x, from) - cut
    ends <- sapply(c(-1, 1), function(direction) {
      reach <- if (names[i] == "cor (Intercept), age_c") 6 else 3
      if (drop(top$par[i] + direction * reach) < 0) return(if (names[i] == "cor (Intercept), age_c") direction else 0)
      natural(i, uniroot(drop, sort(top$par[i] + c(0, direction * reach)), tol = 1e-10)$root)
    })
    c(natural(i, top$par[i]), ends)
  })
  setNames(rows, names)
}

reml <- list(
  ri = reml_profile(fits$ri, "(Intercept)", c("sd (Intercept)", "sd Residual")),
  rs = reml_profile(fits$rs, c("(Intercept)", "age_c"),
                    c("sd (Intercept)", "sd age_c", "cor (Intercept), age_c", "sd Residual")))

# The ICC: lme4's REML deviance as a function of theta = sigma_0 / sigma (sigma profiled out).
icc_profile <- function(formula) {
  deviance <- lmer(formula, data = gp, REML = TRUE, devFunOnly = TRUE)
  theta_hat <- optimize(deviance, c(0, 10), tol = 1e-12)
  icc_of <- function(theta) theta^2 / (1 + theta^2)
  icc_end <- function(range) uniroot(function(t) deviance(t) - theta_hat$objective - 2 * cut, range, tol = 1e-12)$root
  icc_of(c(theta_hat$minimum, icc_end(c(1e-8, theta_hat$minimum)), icc_end(c(theta_hat$minimum, 100))))
}
reml$ri[["ICC"]] <- icc_profile(fits$ri)
# Lecture 06's unconditional ICC (no covariate), which its design effect uses.
null_icc <- icc_profile(chol ~ 1 + (1 | doctor))

# The random-intercept slope under the fitted random-slope model.
ri <- lmer(fits$ri, data = gp, REML = TRUE, control = tight)
rs <- lmer(fits$rs, data = gp, REML = TRUE, control = tight)
block_cov <- function(fit, z) {
  vc <- VarCorr(fit)$doctor
  lapply(groups, function(rows) {
    Z <- X[rows, z, drop = FALSE]
    Z %*% vc %*% t(Z) + sigma(fit)^2 * diag(length(rows))
  })
}
V_ri <- block_cov(ri, "(Intercept)")
V_rs <- block_cov(rs, c("(Intercept)", "age_c"))
xwx <- Reduce(`+`, Map(function(rows, v) crossprod(X[rows, ], solve(v, X[rows, ])), groups, V_ri))
slope_row <- solve(xwx)[2, ]
true_var <- Reduce(`+`, Map(function(rows, v, w) {
  a <- drop(X[rows, ] %*% slope_row)
  wa <- solve(w, a)
  drop(crossprod(wa, v %*% wa))
}, groups, V_rs, V_ri))
ri_se <- sqrt(vcov(ri)[2, 2])
ri_under_rs <- list(ri_slope_se = ri_se, ri_slope_true_sd = sqrt(true_var),
                    coverage = 1 - 2 * pt(-qt(0.975, 428) * ri_se / sqrt(true_var), 428))

# Lecture 07: the within part with a random slope.
suppressPackageStartupMessages({ library(lmerTest); library(pbkrtest) })
gp$age_gp <- ave(gp$age, gp$doctor)
gp$age_gp_c <- gp$age_gp - mean(gp$age)
gp$age_within <- gp$age - gp$age_gp
wb <- lmerTest::lmer(chol ~ age_within + age_gp_c + (1 + age_within | doctor), data = gp, control = tight)
kr <- summary(wb, ddf = "Kenward-Roger")$coefficients
within_between_slopes <- list(term = rownames(kr), estimate = unname(kr[, "Estimate"]),
                              std_error = unname(kr[, "Std. Error"]), df = unname(kr[, "df"]))

reference <- list(
  generated_by = "tests/reference/make_profile_reference.R",
  versions = list(R = R.version.string, lme4 = as.character(packageVersion("lme4"))),
  data = list(path = "datasets/gp_cholesterol.csv", sha256 = sha256(path), rows = nrow(gp)),
  level = 0.95,
  confint_ml = confint_ml,
  reml_profile = reml,
  null_icc = null_icc,
  ri_under_rs = ri_under_rs,
  within_between_slopes = within_between_slopes
)
write_reference(reference, out)
