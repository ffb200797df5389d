# Reference numbers for tests/test_smallsample.py: Satterthwaite df from lmerTest and
# Kenward-Roger df and adjusted covariance from pbkrtest, computed by R itself.
#
#   Rscript tests/reference/make_smallsample_reference.R [output.json]
#
# Each model is fitted by lme4::lmer (REML) run to its optimum (tight optimizer
# tolerances: the default stopping rule leaves variances ~1e-4 short, which moves
# the df by as much). Its specification is written next to its numbers, so the
# Python test fits exactly the model R fitted. Nothing random and no dates: a rerun
# on the same data writes the same numbers.

suppressPackageStartupMessages({
  library(lmerTest)
  library(pbkrtest)
})

script_arg <- grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)
here <- dirname(normalizePath(sub("^--file=", "", script_arg)))
source(file.path(here, "lme4_tools.R"))
out <- output_path("smallsample_reference.json")

# A model as the Python test builds it: fixed formula, random formula and group (one
# level, correlated effects), optional variance components nested in it, centred columns.
spec <- function(data, fixed, random, group, centre = character(), nested = character())
  list(data = data, fixed = fixed, random = random, group = group, centre = I(centre), nested = I(nested))

lmer_formula <- function(s) {
  terms <- c(s$fixed, paste0("(", sub("~", "", s$random), " | ", s$group, ")"),
             sprintf("(1 | %s:%s)", s$group, s$nested))
  as.formula(paste(terms, collapse = " + "))
}

prepare <- function(data, s) {
  for (column in s$centre) data[[paste0(column, "_c")]] <- data[[column]] - mean(data[[column]])
  data
}

coefficient_table <- function(fit, ddf) {
  tab <- summary(fit, ddf = ddf)$coefficients
  half <- qt(0.975, tab[, "df"]) * tab[, "Std. Error"]
  list(term = rownames(tab), estimate = unname(tab[, "Estimate"]), std_error = unname(tab[, "Std. Error"]),
       df = unname(tab[, "df"]), t = unname(tab[, "t value"]), p = unname(tab[, "Pr(>|t|)"]),
       ci_low = unname(tab[, "Estimate"] - half), ci_high = unname(tab[, "Estimate"] + half))
}

numbers <- function(s, datasets) {
  data <- prepare(datasets[[s$data]], s)
  fit <- lmer(lmer_formula(s), data = data, REML = TRUE, control = tight)
  messages <- fit@optinfo$conv$lme4$messages
  p <- length(fixef(fit))
  list(
    spec = s,
    lme4_messages = if (is.null(messages)) list() else messages,
    loglik = as.numeric(logLik(fit)),
    satterthwaite = coefficient_table(fit, "Satterthwaite"),
    kenward_roger = coefficient_table(fit, "Kenward-Roger"),
    vcov = unname(as.matrix(vcov(fit))),
    vcov_adjusted = unname(as.matrix(vcovAdj(fit))),
    # pbkrtest's own df for each coefficient, as its F test of that coefficient alone.
    kr_ddf = sapply(seq_len(p), function(j) get_Lb_ddf(fit, diag(p)[j, , drop = FALSE]))
  )
}

paths <- list(gp_cholesterol = file.path(root, "datasets", "gp_cholesterol.csv"),
              dietox = file.path(here, "dietox.csv"),
              three_level = file.path(here, "three_level.csv"))
datasets <- lapply(paths, read.csv)

specs <- list(
  gp_ri = spec("gp_cholesterol", "chol ~ age_c", "~ 1", "doctor", centre = "age"),
  gp_rs = spec("gp_cholesterol", "chol ~ age_c", "~ 1 + age_c", "doctor", centre = "age"),
  # A GP-level covariate, whose df should be about the number of GPs.
  gp_rs_agedoc = spec("gp_cholesterol", "chol ~ age_c + agedoc_c", "~ 1 + age_c", "doctor",
                      centre = c("age", "agedoc")),
  dietox_ri = spec("dietox", "Weight ~ Time", "~ 1", "Pig"),
  dietox_rs = spec("dietox", "Weight ~ Time_c", "~ 1 + Time_c", "Pig", centre = "Time"),
  # Pupils in classes in schools (lecture 11): a class-level covariate, classes as a variance component.
  three_level = spec("three_level", "score ~ hours_c + experience_c", "~ 1", "school",
                     centre = c("hours", "experience"), nested = "classroom")
)

reference <- list(
  generated_by = "tests/reference/make_smallsample_reference.R",
  versions = list(R = R.version.string, lme4 = as.character(packageVersion("lme4")),
                  lmerTest = as.character(packageVersion("lmerTest")),
                  pbkrtest = as.character(packageVersion("pbkrtest"))),
  data = lapply(names(paths), function(name) list(path = sub(paste0(root, "/"), "", paths[[name]], fixed = TRUE),
                                                  sha256 = sha256(paths[[name]]), rows = nrow(datasets[[name]]))),
  models = lapply(specs, numbers, datasets = datasets)
)
names(reference$data) <- names(paths)
write_reference(reference, out)
