# The size and power of three tests of a school variance on one design, simulated with lme4 and RLRsim.
#
#   Rscript tests/reference/rlrt_power.R sample.csv responses.csv output.json
#
# sample.csv holds `hours_c` and `school` (lecture 10's small-variance example, written by
# tests/test_lecture_10.py); responses.csv holds response vectors, one per column, whose restricted
# LRT lme4 computes exactly (to check helpers.boundary.rlrt_statistics). Independently of Python, the
# script then draws its own scores on the same design, 60 + 2 hours_c + school effect + pupil noise
# (SD 8), for a school SD of 0 and of 2, computes the restricted LRT of each data set with lme4
# (REML lmer against logLik(lm, REML = TRUE)), and counts how often each test rejects at 5%: the
# chi-square(1) test, the 50:50 mixture and the exact RLRT, whose critical value comes from one
# RLRsim::RLRTSim null distribution for the design. Seeds are fixed.

suppressPackageStartupMessages(library(RLRsim))

script_arg <- grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)
here <- dirname(normalizePath(sub("^--file=", "", script_arg)))
source(file.path(here, "lme4_tools.R"))
args <- commandArgs(trailingOnly = TRUE)
design <- read.csv(args[1])
responses <- as.matrix(read.csv(args[2]))

rlrt <- function(score) {
  data <- transform(design, score = score)
  mixed <- suppressWarnings(suppressMessages(lmer(score ~ hours_c + (1 | school), data = data, REML = TRUE, control = tight)))
  max(0, 2 * (as.numeric(logLik(mixed)) - as.numeric(logLik(lm(score ~ hours_c, data = data), REML = TRUE))))
}

given <- apply(responses, 2, rlrt)

N_DATA <- 2000
NSIM <- 1e5
X <- model.matrix(~ hours_c, design)
Z <- model.matrix(~ 0 + factor(school), design)
null <- RLRTSim(X, Z, qr(X), sqrt.Sigma = diag(ncol(Z)), nsim = NSIM, seed = 20250225)
critical <- c(chi_square = qchisq(0.95, 1), mixture = qchisq(0.90, 1), exact = unname(quantile(null, 0.95)))

set.seed(20250226)
school <- as.integer(factor(design$school))
rejection <- lapply(c(0, 2), function(school_sd) {
  statistics <- replicate(N_DATA, {
    effects <- rnorm(max(school), sd = school_sd)
    rlrt(60 + 2 * design$hours_c + effects[school] + rnorm(nrow(design), sd = 8))
  })
  as.list(sapply(critical, function(q) mean(statistics > q)))
})
names(rejection) <- c("school_sd_0", "school_sd_2")

write_reference(list(given = given, critical = as.list(critical), n_data = N_DATA, n_sim = NSIM,
                     rejection = rejection, lme4 = as.character(packageVersion("lme4")),
                     rlrsim = as.character(packageVersion("RLRsim"))), args[3])
