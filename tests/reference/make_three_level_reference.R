# Reference numbers for tests/test_three_level.py: the three-level sample of lecture 11 by lme4.
#
#   Rscript tests/reference/make_three_level_reference.R [output.json]
#
# Pupils in classes in schools (tests/reference/three_level.csv, drawn by
# helpers.simulate.simulate_three_level): the model with both levels, and the two
# models that ignore one of them, by REML run to the optimum (tight optimizer
# tolerances). Written: fixed effects and standard errors, each level's variance, the
# log-likelihood, and the predicted school and class effects with their conditional
# variances (ranef(condVar = TRUE)). Nothing random: a rerun writes the same numbers.

script_arg <- grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)
here <- dirname(normalizePath(sub("^--file=", "", script_arg)))
source(file.path(here, "lme4_tools.R"))
out <- output_path("three_level_reference.json")

path <- file.path(here, "three_level.csv")
pupils <- read.csv(path)
pupils$hours_c <- pupils$hours - mean(pupils$hours)
pupils$experience_c <- pupils$experience - mean(pupils$experience)

effects <- function(fit, group) {
  re <- ranef(fit, condVar = TRUE)[[group]]
  list(level = rownames(re), estimate = unname(re[, 1]), cond_var = unname(attr(re, "postVar")[1, 1, ]))
}

numbers <- function(formula, groups) {
  fit <- lmer(formula, data = pupils, REML = TRUE, control = tight)
  vc <- as.data.frame(VarCorr(fit))
  list(
    formula = deparse(formula),
    lme4_messages = if (is.null(fit@optinfo$conv$lme4$messages)) list() else fit@optinfo$conv$lme4$messages,
    fixed = list(term = names(fixef(fit)), estimate = unname(fixef(fit)),
                 std_error = unname(sqrt(diag(as.matrix(vcov(fit)))))),
    variances = setNames(as.list(vc$vcov), vc$grp),
    loglik = as.numeric(logLik(fit)),
    effects = lapply(setNames(groups, groups), function(g) effects(fit, g))
  )
}

models <- list(
  three_level = numbers(score ~ hours_c + experience_c + (1 | school) + (1 | school:classroom),
                        c("school", "school:classroom")),
  ignoring_classes = numbers(score ~ hours_c + experience_c + (1 | school), "school"),
  ignoring_schools = numbers(score ~ hours_c + experience_c + (1 | school:classroom), "school:classroom")
)

reference <- list(
  generated_by = "tests/reference/make_three_level_reference.R",
  versions = list(R = R.version.string, lme4 = as.character(packageVersion("lme4"))),
  data = list(path = "tests/reference/three_level.csv", sha256 = sha256(path), rows = nrow(pupils)),
  models = models
)
write_reference(reference, out)
