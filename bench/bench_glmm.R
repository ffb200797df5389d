# Seconds per lme4::glmer fit of the random-intercept logistic model of high cholesterol, timed inside
# R so that R's start-up is excluded. Usage: Rscript bench/bench_glmm.R data.csv nAGQ repetitions rounds
suppressPackageStartupMessages(library(lme4))
args <- commandArgs(trailingOnly = TRUE)
data <- read.csv(args[1])
data$high <- as.integer(data$chol >= 6.2)
data$age_c <- data$age - mean(data$age)
nagq <- as.integer(args[2])
reps <- as.integer(args[3])
rounds <- as.integer(args[4])
fit <- function() glmer(high ~ age_c + (1 | doctor), data = data, family = binomial, nAGQ = nagq)
invisible(fit())  # warm-up: byte-compilation and loading happen once
best <- min(sapply(seq_len(rounds), function(i) system.time(for (j in seq_len(reps)) fit())[["elapsed"]]))
cat(sprintf("%.9f\n", best / reps))
