# RLRsim's exact restricted LRT of one random intercept, on a sample a lecture simulates.
#
#   Rscript tests/reference/exact_rlrt_of_a_sample.R sample.csv output.json
#
# sample.csv holds `score`, `hours_c` and `school` (lecture 10's small-variance example, written by
# tests/test_lecture_10.py). lme4 fits score ~ hours_c + (1 | school) by REML to its optimum and
# exactRLRT simulates the statistic's null distribution a million times, so that its p-value (Monte
# Carlo s.e. about 2e-4) is a reference for the lecture's 100,000 draws. The seed is fixed.

suppressPackageStartupMessages(library(RLRsim))

script_arg <- grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)
here <- dirname(normalizePath(sub("^--file=", "", script_arg)))
source(file.path(here, "lme4_tools.R"))
args <- commandArgs(trailingOnly = TRUE)
sample <- read.csv(args[1])

fit <- lmer(score ~ hours_c + (1 | school), data = sample, REML = TRUE, control = tight)
NSIM <- 1e6
exact <- exactRLRT(fit, nsim = NSIM, seed = 20250222)
write_reference(list(statistic = unname(exact$statistic), p_value = exact$p.value, n_sim = NSIM,
                     rlrsim = as.character(packageVersion("RLRsim"))), args[2])
