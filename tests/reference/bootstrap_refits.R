# The parametric bootstrap of a likelihood-ratio test as an lme4 loop: data drawn from the
# null fit, both models fitted afresh to each data set. Sourced by make_boundary_reference.R
# (the reference null distributions) and bench/bench_bootstrap.R (its timing).
#
# Fresh lmer() fits, not refit(): in lme4 1.1-31, refit(fit, newresp) of a REML fit reports a
# REML criterion shifted by an amount that depends on the response (by about 0.7 on the GP
# data), which biases every REML comparison with a linear model; ML refits are unaffected.
suppressPackageStartupMessages(library(lme4))

# 2 (logLik(large) - logLik(small)), floored at 0, for each column of `responses`, which
# replace the response column of `data`. `small` may be an lm (no random effects), whose
# REML log-likelihood logLik(lm, REML = TRUE) is on lmer's scale.
bootstrap_lrt_r <- function(small, large, data, responses, control = lmerControl()) {
  quiet <- function(expr) suppressMessages(suppressWarnings(expr))
  reml <- isREML(large)
  response <- all.vars(formula(large))[1]
  loglik <- function(model, d) {
    if (inherits(model, "lm")) return(as.numeric(logLik(lm(formula(model), data = d), REML = reml)))
    as.numeric(logLik(quiet(lmer(formula(model), data = d, REML = reml, control = control))))
  }
  vapply(responses, function(y) {
    d <- data
    d[[response]] <- y
    max(0, 2 * (loglik(large, d) - loglik(small, d)))
  }, numeric(1))
}

# Responses simulated from the null fit: simulate() for lmer, a normal draw for lm.
null_responses <- function(small, nsim, seed) {
  if (!inherits(small, "lm")) return(simulate(small, nsim = nsim, seed = seed))
  set.seed(seed)
  sigma_hat <- sqrt(sum(residuals(small)^2) / df.residual(small))
  as.data.frame(replicate(nsim, fitted(small) + rnorm(length(fitted(small)), sd = sigma_hat)))
}
