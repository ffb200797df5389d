# Reference text for tests/test_rsummary.py: R's own print(summary(lm(...))).
#
#   Rscript tests/reference/make_rsummary_reference.R [output.txt]
#
# Fits the handout's four lm() models to datasets/gp_cholesterol.csv, plus a few fits
# that reach other branches of print.summary.lm (few residual degrees of freedom, no
# intercept, a call long enough to wrap, p-values from 1 down to < 2e-16), and writes
# each printout after a "#### <name>" line. Nothing random: a rerun writes the same bytes.

script_arg <- grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)
here <- dirname(normalizePath(sub("^--file=", "", script_arg)))
out <- commandArgs(trailingOnly = TRUE)[1]
if (is.na(out)) out <- file.path(here, "r_summary_lm.txt")

data_chol <- read.csv(file.path(here, "..", "..", "datasets", "gp_cholesterol.csv"))
data_grouped <- data.frame(chol_grouped = tapply(data_chol$chol, data_chol$doctor, mean),
                           age_grouped = tapply(data_chol$age, data_chol$doctor, mean))
first_six <- head(data_chol)
dr3 <- subset(data_chol, doctor == 3)

fits <- list(
  pooled = lm(chol ~ age, data = data_chol),
  grouped = lm(chol_grouped ~ age_grouped, data = data_grouped),
  varying_intercept = lm(chol ~ as.factor(doctor) + age, data = data_chol),
  varying_slope = lm(chol ~ age:as.factor(doctor), data = data_chol),
  few_df = lm(chol ~ age, data = first_six),
  no_intercept = lm(chol ~ age - 1, data = data_chol),
  long_call = lm(chol ~ age + bmi + sex + agedoc + bmi:sex + age:bmi + sex:agedoc + age:agedoc, data = data_chol),
  one_gp = lm(chol ~ age + bmi + sex, data = dr3)
)

lines <- unlist(lapply(names(fits), function(name)
  c(paste("####", name), capture.output(print(summary(fits[[name]]))))))
writeLines(c(paste("# Made by tests/reference/make_rsummary_reference.R with", R.version.string), lines), out)
