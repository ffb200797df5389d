# Seconds for a parametric bootstrap of the random-slope-vs-intercept LRT on the GP data, timed
# inside R so that R's start-up is excluded, by two routes: the lme4 loop of fresh REML fits
# (tests/reference/bootstrap_refits.R) and pbkrtest's PBmodcomp (ML refits).
# Usage: Rscript bench/bench_bootstrap.R data.csv replicates
suppressPackageStartupMessages(library(pbkrtest))
script_arg <- grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)
here <- dirname(normalizePath(sub("^--file=", "", script_arg)))
source(file.path(here, "..", "tests", "reference", "bootstrap_refits.R"))
args <- commandArgs(trailingOnly = TRUE)
gp <- read.csv(args[1])
gp$age_c <- gp$age - mean(gp$age)
nsim <- as.integer(args[2])
ri <- lmer(chol ~ age_c + (1 | doctor), data = gp)
rs <- lmer(chol ~ age_c + (1 + age_c | doctor), data = gp)
loop <- system.time(bootstrap_lrt_r(ri, rs, gp, null_responses(ri, nsim, seed = 1)))[["elapsed"]]
ri_ml <- update(ri, REML = FALSE)
rs_ml <- update(rs, REML = FALSE)
pb <- system.time(suppressWarnings(suppressMessages(PBmodcomp(rs_ml, ri_ml, nsim = nsim, seed = 1))))[["elapsed"]]
cat(sprintf("%.6f %.6f\n", loop, pb))
