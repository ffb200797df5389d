# Reference numbers for lecture 13 (binary outcomes; tests/test_lecture_13.py), computed by R itself.
#
#   Rscript tests/reference/make_binary_reference.R [output.json]
#
# High cholesterol (chol >= 6.2 mmol/L) against centred age on the GP data: the pooled logistic
# regression (glm) with sandwich's cluster-robust SE, the logistic regression with GP indicators (glm;
# GP 12 has no case), conditional logistic regression (survival::clogit), GEE with an exchangeable
# working correlation (geepack::geeglm) and the profile
# interval of sigma_0 of the random-intercept model (glmer, nAGQ = 25; its estimates are in
# glmm_reference.json). Writes tests/reference/binary_reference.json (or the given path). Nothing random.

script_arg <- grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)
here <- dirname(normalizePath(sub("^--file=", "", script_arg)))
source(file.path(here, "lme4_tools.R"))
suppressPackageStartupMessages({
  library(sandwich)
  library(geepack)
  library(survival)
})
out <- output_path("binary_reference.json")

gp_path <- file.path(root, "datasets", "gp_cholesterol.csv")
gp <- read.csv(gp_path)
gp$high <- as.integer(gp$chol >= 6.2)  # 240 mg/dL, "high" in NCEP ATP III
gp$age_c <- gp$age - mean(gp$age)
gp <- gp[order(gp$doctor), ]  # geeglm needs each GP's rows together

coefficients <- function(table, estimate = "Estimate", se = "Std. Error")
  list(term = rownames(table), estimate = unname(table[, estimate]), std_error = unname(table[, se]))

# glm's default stopping rule leaves the SEs ~1e-4 (relative) short: they come from the weights of the last
# iteration but one. The model with GP indicators keeps the default, to show what a reader of R sees.
pooled <- glm(high ~ age_c, family = binomial, data = gp, control = glm.control(epsilon = 1e-14, maxit = 100))
# Two weights of the clusters' scores: G / (G - 1) alone (HC0, vcovCL's default for a glm), and also
# (N - 1) / (N - K) (HC1, Stata's and statsmodels' default).
cluster_se <- function(type) unname(sqrt(diag(vcovCL(pooled, cluster = ~ doctor, type = type))))

indicators <- glm(high ~ factor(doctor) + age_c, family = binomial, data = gp)
conditional <- clogit(high ~ age_c + strata(doctor), data = gp)
gee <- geeglm(high ~ age_c, id = doctor, family = binomial, corstr = "exchangeable", data = gp)
ri <- glmer(high ~ age_c + (1 | doctor), family = binomial, data = gp, nAGQ = 25,
            control = glmerControl(optimizer = "nloptwrap", tolPwrss = 1e-12, optCtrl = tight$optCtrl))
profile_sd <- confint(ri, parm = "theta_", method = "profile", quiet = TRUE)

reference <- list(
  generated_by = "tests/reference/make_binary_reference.R",
  versions = list(R = R.version.string, geepack = as.character(packageVersion("geepack")),
                  sandwich = as.character(packageVersion("sandwich")),
                  survival = as.character(packageVersion("survival")), lme4 = as.character(packageVersion("lme4"))),
  data = list(path = "datasets/gp_cholesterol.csv", sha256 = sha256(gp_path), rows = nrow(gp)),
  cases = list(doctor = sort(unique(gp$doctor)), patients = as.vector(table(gp$doctor)),
               high = as.vector(tapply(gp$high, gp$doctor, sum))),
  pooled = c(coefficients(summary(pooled)$coefficients),
             list(cluster_se_hc0 = cluster_se("HC0"), cluster_se_hc1 = cluster_se("HC1"))),
  indicators = c(coefficients(summary(indicators)$coefficients),
                 list(converged = indicators$converged, iterations = indicators$iter)),
  conditional = coefficients(summary(conditional)$coefficients, "coef", "se(coef)"),
  gee = c(coefficients(summary(gee)$coefficients, "Estimate", "Std.err"),
          list(working_correlation = unname(gee$geese$alpha))),
  glmer_profile_sd = unname(profile_sd[1, ])
)
write_reference(reference, out)
