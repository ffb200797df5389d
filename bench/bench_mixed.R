# Seconds per nlme::lme fit of the random-slope model on centred age, timed inside R so that
# R's start-up is excluded. Usage: Rscript bench/bench_mixed.R data.csv repetitions rounds
suppressPackageStartupMessages(library(nlme))
args <- commandArgs(trailingOnly = TRUE)
data <- read.csv(args[1])
data$age_c <- data$age - mean(data$age)
reps <- as.integer(args[2])
rounds <- as.integer(args[3])
fit <- function() lme(chol ~ age_c, random = ~ 1 + age_c | doctor, data = data)
invisible(fit())  # warm-up: byte-compilation and loading happen once
best <- min(sapply(seq_len(rounds), function(i) system.time(for (j in seq_len(reps)) fit())[["elapsed"]]))
cat(sprintf("%.9f\n", best / reps))
