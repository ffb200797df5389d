# Reference numbers for lecture 10's size and power table (tests/test_lecture_10.py), by lme4 and RLRsim.
#
#   Rscript tests/reference/make_rlrt_power_reference.R [output.json [n_data]]
#
# The design is lecture 10's small-variance sample, tests/reference/small_schools.csv, with hours centred as
# the lecture's In R block centres them. For a school SD of 0 and of 2 the script draws n_data (default 2000)
# sets of scores, 60 + 2 hours_c + school effect + pupil noise (SD 8), computes the restricted LRT of each with
# lme4 (REML lmer against logLik(lm, REML = TRUE)) and counts how often each test rejects at 5%: the
# chi-square(1) test, the 50:50 mixture and the exact RLRT, whose critical value comes from one
# RLRsim::RLRTSim null distribution for the design. It writes every statistic, and the first twelve data sets
# of SD 2, on which the Python test computes the same statistics.
#
# Each SD draws from its own seed, so a run with a smaller n_data draws the first data sets of the full run:
# the test reruns a few (the full run takes minutes) and compares them with these.

suppressPackageStartupMessages(library(RLRsim))

script_arg <- grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)
here <- dirname(normalizePath(sub("^--file=", "", script_arg)))
source(file.path(here, "lme4_tools.R"))
out <- output_path("rlrt_power_reference.json")
n_data_arg <- commandArgs(trailingOnly = TRUE)[2]
N_DATA <- if (is.na(n_data_arg)) 2000 else as.integer(n_data_arg)
N_SIM <- 1e5
N_GIVEN <- 12

design_path <- file.path(here, "small_schools.csv")
design <- read.csv(design_path)
design$hours_c <- design$hours - mean(design$hours)
school <- as.integer(factor(design$school))

rlrt <- function(score) {
  data <- design
  data$score <- score  # the drawn scores in place of the sample's own
  mixed <- suppressWarnings(suppressMessages(
    lmer(score ~ hours_c + (1 | school), data = data, REML = TRUE, control = tight)))
  max(0, 2 * (as.numeric(logLik(mixed)) - as.numeric(logLik(lm(score ~ hours_c, data = data), REML = TRUE))))
}

X <- model.matrix(~ hours_c, design)
Z <- model.matrix(~ 0 + factor(school), design)
null <- RLRTSim(X, Z, qr(X), sqrt.Sigma = diag(ncol(Z)), nsim = N_SIM, seed = 20250225)
critical <- c(chi_square = qchisq(0.95, 1), mixture = qchisq(0.90, 1), exact = unname(quantile(null, 0.95)))

SDS <- c(school_sd_0 = 0, school_sd_2 = 2)
scores <- lapply(seq_along(SDS), function(i) {
  set.seed(20250226 + i)
  replicate(N_DATA, {
    effects <- rnorm(max(school), sd = SDS[[i]])
    60 + 2 * design$hours_c + effects[school] + rnorm(nrow(design), sd = 8)
  }, simplify = FALSE)
})
names(scores) <- names(SDS)
statistics <- lapply(scores, function(sets) vapply(sets, rlrt, numeric(1)))
rejection <- lapply(statistics, function(s) as.list(sapply(critical, function(q) mean(s > q))))

write_reference(list(
  data = list(small_schools = list(path = "tests/reference/small_schools.csv", sha256 = sha256(design_path))),
  critical = as.list(critical), n_data = N_DATA, n_sim = N_SIM, rejection = rejection,
  statistics = statistics, given = scores$school_sd_2[seq_len(min(N_GIVEN, N_DATA))],
  versions = list(R = R.version.string, lme4 = as.character(packageVersion("lme4")),
                  RLRsim = as.character(packageVersion("RLRsim")))), out)
