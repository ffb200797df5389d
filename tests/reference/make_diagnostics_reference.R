# Reference numbers for tests/test_diagnostics.py: predicted random effects and their
# conditional variances, lme4's ranef(fit, condVar = TRUE), for the GP models of the lectures.
#
#   Rscript tests/reference/make_diagnostics_reference.R [output.json]
#
# Random intercept and correlated random intercept and slope on centred age, by REML run to
# the optimum (tight optimizer tolerances), plus the residuals and fitted values the
# residual plots use. Nothing random: a rerun writes the same numbers.

script_arg <- grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)
here <- dirname(normalizePath(sub("^--file=", "", script_arg)))
source(file.path(here, "lme4_tools.R"))
out <- output_path("diagnostics_reference.json")

path <- file.path(root, "datasets", "gp_cholesterol.csv")
gp <- read.csv(path)
gp$age_c <- gp$age - mean(gp$age)

numbers <- function(formula) {
  fit <- lmer(formula, data = gp, REML = TRUE, control = tight)
  re <- ranef(fit, condVar = TRUE)$doctor
  post <- attr(re, "postVar")  # q x q x groups
  list(
    formula = deparse(formula),
    group = rownames(re),
    terms = I(colnames(re)),
    ranef = lapply(as.list(re), unname),
    cond_cov = lapply(seq_len(dim(post)[3]), function(g) unname(matrix(post[, , g], nrow = dim(post)[1]))),
    fitted = unname(fitted(fit)),
    residuals = unname(residuals(fit)),
    loglik = as.numeric(logLik(fit))
  )
}

reference <- list(
  generated_by = "tests/reference/make_diagnostics_reference.R",
  versions = list(R = R.version.string, lme4 = as.character(packageVersion("lme4"))),
  data = list(path = "datasets/gp_cholesterol.csv", sha256 = sha256(path), rows = nrow(gp)),
  models = list(ri = numbers(chol ~ age_c + (1 | doctor)), rs = numbers(chol ~ age_c + (1 + age_c | doctor)))
)
write_reference(reference, out)
