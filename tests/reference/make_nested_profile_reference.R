# Profile-likelihood intervals for lecture 11's three-level model, for helpers.nested.
#
#   Rscript tests/reference/make_nested_profile_reference.R tests/reference/nested_profile_reference.json
#
# Reads tests/reference/three_level.csv (the sample of lecture 11). Two references:
# - `ml`: lme4's own confint(method = "profile") for the SDs of the ML fit. (lme4 1.1 profiles the ML
#   deviance even for a REML fit, so its intervals for a REML fit are these too.)
# - `reml`: the profile of the REML log-likelihood itself, computed here from V written out school by school
#   (independently of lme4 and of helpers.nested, and checked against lmer's REML logLik), for the three SDs
#   and the two intra-class correlations; each endpoint found by uniroot, the other parameters maximised by optim.

script_arg <- grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)
here <- dirname(normalizePath(sub("^--file=", "", script_arg)))
source(file.path(here, "lme4_tools.R"))

pupils <- read.csv(file.path(here, "three_level.csv"))
pupils$hours_c <- pupils$hours - mean(pupils$hours)
pupils$experience_c <- pupils$experience - mean(pupils$experience)
formula <- score ~ hours_c + experience_c + (1 | school) + (1 | school:classroom)
reml_fit <- lmer(formula, data = pupils, REML = TRUE, control = tight)
ml_fit <- lmer(formula, data = pupils, REML = FALSE, control = tight)
ml <- confint(ml_fit, parm = 1:3, method = "profile", oldNames = FALSE, quiet = TRUE)
ml <- ml[c("sd_(Intercept)|school", "sd_(Intercept)|school:classroom", "sigma"), ]

X <- model.matrix(~ hours_c + experience_c, pupils)
y <- pupils$score
schools <- split(seq_len(nrow(pupils)), pupils$school)

# REML log-likelihood at the variances v = (school, class, residual)
reml_loglik <- function(v) {
  p <- ncol(X)
  xvx <- matrix(0, p, p); xvy <- numeric(p); yvy <- 0; logdet <- 0
  for (rows in schools) {
    classes <- pupils$classroom[rows]
    V <- v[3] * diag(length(rows)) + v[2] * outer(classes, classes, "==") + v[1]
    R <- chol(V)
    logdet <- logdet + 2 * sum(log(diag(R)))
    xs <- backsolve(R, X[rows, , drop = FALSE], transpose = TRUE)
    ys <- backsolve(R, y[rows], transpose = TRUE)
    xvx <- xvx + crossprod(xs); xvy <- xvy + drop(crossprod(xs, ys)); yvy <- yvy + sum(ys^2)
  }
  quadratic <- yvy - sum(xvy * solve(xvx, xvy))
  -0.5 * (logdet + as.numeric(determinant(xvx)$modulus) + quadratic + (nrow(X) - p) * log(2 * pi))
}

vc <- as.data.frame(VarCorr(reml_fit))
estimate <- vc$vcov[match(c("school", "school:classroom", "Residual"), vc$grp)]
maximum <- reml_loglik(estimate)
stopifnot(abs(maximum - as.numeric(logLik(reml_fit))) < 1e-6)
cutoff <- qchisq(0.95, 1) / 2

# Parametrisations: the profiled quantity first, then two free coordinates; `to` maps them to the variances.
logistic <- function(z) 1 / (1 + exp(-z))
logit <- function(p) log(p / (1 - p))
maps <- list(
  sd_school = list(to = function(x) exp(c(x[1], x[2], x[3])), from = function(v) log(v), report = function(t) sqrt(exp(t))),
  sd_class = list(to = function(x) exp(c(x[2], x[1], x[3])), from = function(v) log(v[c(2, 1, 3)]),
                  report = function(t) sqrt(exp(t))),
  sigma = list(to = function(x) exp(c(x[2], x[3], x[1])), from = function(v) log(v[c(3, 1, 2)]),
               report = function(t) sqrt(exp(t))),
  icc_school = list(to = function(x) { a <- logistic(x[1]); s <- logistic(x[2]); t <- exp(x[3])
                                       c(a * t, s * (1 - a) * t, (1 - s) * (1 - a) * t) },
                    from = function(v) c(logit(v[1] / sum(v)), logit(v[2] / (v[2] + v[3])), log(sum(v))),
                    report = logistic),
  icc_class = list(to = function(x) { a <- logistic(x[1]); s <- logistic(x[2]); t <- exp(x[3])
                                      c(s * a * t, (1 - s) * a * t, (1 - a) * t) },
                   from = function(v) c(logit((v[1] + v[2]) / sum(v)), logit(v[1] / (v[1] + v[2])), log(sum(v))),
                   report = logistic))

profile_at <- function(map, value, start) {
  found <- optim(start, function(free) -reml_loglik(map$to(c(value, free))), method = "BFGS",
                 control = list(reltol = 1e-14, maxit = 1000))
  list(value = -found$value, free = found$par)
}

endpoint <- function(map, direction) {
  centre <- map$from(estimate)
  inner <- centre[1]; start <- centre[-1]; step <- 0.25
  repeat {
    outer <- inner + direction * step
    at <- profile_at(map, outer, start)
    if (at$value < maximum - cutoff) break
    inner <- outer; start <- at$free; step <- step * 1.5
  }
  held <- start
  root <- uniroot(function(t) maximum - profile_at(map, t, held)$value - cutoff, sort(c(inner, outer)),
                  tol = 1e-10)$root
  map$report(root)
}

reml <- lapply(maps, function(map) list(estimate = map$report(map$from(estimate)[1]),
                                        ci_low = endpoint(map, -1), ci_high = endpoint(map, 1)))

write_reference(list(ml = list(names = c("school", "class", "sigma"), ci_low = unname(ml[, 1]),
                               ci_high = unname(ml[, 2])),
                     reml = reml, reml_loglik = maximum, lme4 = as.character(packageVersion("lme4"))),
                commandArgs(trailingOnly = TRUE)[1])
