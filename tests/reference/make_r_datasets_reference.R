# R's own data sets and R's numbers on them, for tests/test_r_datasets.py (issue 22).
#
#   Rscript tests/reference/make_r_datasets_reference.R OUTPUT_FOLDER
#
# Writes each data set as OUTPUT_FOLDER/<name>.csv and R's results as
# OUTPUT_FOLDER/reference.json. Every model is fitted to the data as read back from
# its CSV (read.csv, so a factor such as Orthodont's Sex becomes text, as pandas reads
# it), so Python and R fit the same numbers. The test runs this script each time:
# nothing of R's data sets or numbers is committed. Nothing random but exactRLRT,
# which does not simulate when its statistic is 0.

suppressPackageStartupMessages({
  library(nlme)
  library(lmerTest)
  library(pbkrtest)
  library(RLRsim)
})

script_arg <- grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)
here <- dirname(normalizePath(sub("^--file=", "", script_arg)))
source(file.path(here, "lme4_tools.R"))
folder <- commandArgs(trailingOnly = TRUE)[1]
stopifnot(!is.na(folder), dir.exists(folder))

set.seed(22)  # which 50 rows of sleepstudy are dropped
sleep <- as.data.frame(lme4::sleepstudy)
sleep$Subject <- as.character(sleep$Subject)
orthodont <- as.data.frame(nlme::Orthodont)
datasets <- list(
  sleepstudy = sleep,
  sleepstudy_308 = sleep[sleep$Subject == "308", ],
  # Subject 308 keeps one observation: a group of one, which lme and lmer accept.
  sleepstudy_single_row = sleep[sleep$Subject != "308" | sleep$Days == 0, ],
  dyestuff2 = as.data.frame(lme4::Dyestuff2),
  igf = as.data.frame(nlme::IGF)[, c("Lot", "age", "conc")],
  orthodont = data.frame(distance = orthodont$distance, age = orthodont$age,
                         Subject = as.character(orthodont$Subject), Sex = as.character(orthodont$Sex)),
  sleepstudy_dropped = sleep[-sort(sample.int(nrow(sleep), 50)), ],
  rail = data.frame(travel = nlme::Rail$travel, Rail = as.integer(as.character(nlme::Rail$Rail))),
  orange = data.frame(circumference = Orange$circumference, age = Orange$age, Tree = as.character(Orange$Tree)),
  ergostool = data.frame(effort = nlme::ergoStool$effort, Type = as.character(nlme::ergoStool$Type),
                         Subject = as.character(nlme::ergoStool$Subject)),
  oats = data.frame(yield = nlme::Oats$yield, nitro = nlme::Oats$nitro, Block = as.character(nlme::Oats$Block))
)
for (name in names(datasets)) write.csv(datasets[[name]], file.path(folder, paste0(name, ".csv")), row.names = FALSE)
data <- lapply(setNames(names(datasets), names(datasets)),
               function(name) read.csv(file.path(folder, paste0(name, ".csv"))))

# What summary(lmer) reports, with lme4 run to its optimum.
lmer_numbers <- function(fit) {
  vc <- as.data.frame(VarCorr(fit))
  list(fixed = as.list(fixef(fit)), std_error = as.list(sqrt(diag(as.matrix(vcov(fit))))),
       sd = vc$sdcor[is.na(vc$var2)], sd_names = ifelse(is.na(vc$var1[is.na(vc$var2)]), "Residual",
                                                        vc$var1[is.na(vc$var2)]),
       corr = vc$sdcor[!is.na(vc$var2) & vc$grp != "Residual"],
       loglik = as.numeric(logLik(fit)), singular = isSingular(fit))
}

# ranef(condVar = TRUE): each group's BLUPs and their conditional SDs, one list per term.
conditional_modes <- function(fit) {
  re <- ranef(fit, condVar = TRUE)[[1]]
  var <- attr(re, "postVar")
  lapply(setNames(seq_along(re), names(re)), function(j)
    list(group = rownames(re), estimate = re[[j]], cond_sd = sqrt(var[j, j, ])))
}

rlrt <- function(fit) {
  test <- exactRLRT(fit, nsim = 1000, seed = 1)
  list(statistic = unname(test$statistic), p_value = test$p.value)
}

sleep_rs <- lmer(Reaction ~ Days + (Days | Subject), data$sleepstudy, REML = TRUE, control = tight)
slope_only <- lmer(Reaction ~ Days + (0 + Days | Subject), data$sleepstudy, REML = TRUE, control = tight)
dyestuff2 <- lmer(Yield ~ 1 + (1 | Batch), data$dyestuff2, REML = TRUE, control = tight)
igf <- lmer(conc ~ age + (age | Lot), data$igf, REML = TRUE, control = tight)
single_row <- lme(Reaction ~ Days, random = ~ 1 | Subject, data = data$sleepstudy_single_row, method = "REML",
                  control = lmeControl(tolerance = 1e-10, msTol = 1e-12))
text_covariate <- lme(distance ~ age + Sex, random = ~ 1 | Subject, data = data$orthodont, method = "REML",
                      control = lmeControl(tolerance = 1e-10, msTol = 1e-12))
lme_numbers <- function(fit) list(
  fixed = as.list(fixef(fit)), std_error = as.list(sqrt(diag(vcov(fit)))),
  sd = as.numeric(VarCorr(fit)[, "StdDev"]), loglik = as.numeric(logLik(fit)))

# lm printouts that reach the branches of print.summary.lm the issue names.
sleep_308 <- data$sleepstudy_308
sleep_308$noise <- seq_len(nrow(sleep_308)) %% 3
few_with_missing <- head(data$sleepstudy, 7)
few_with_missing$Reaction[3] <- NA
orthodont <- data$orthodont
lm_fits <- list(
  pvalue_below_1e3 = lm(Reaction ~ Days + noise, data = sleep_308),
  text_factor = lm(distance ~ age + Sex, data = orthodont),
  few_with_missing = lm(Reaction ~ Days, data = few_with_missing)
)

# One grouping factor per model, as helpers fits them: (data, fixed, random, group), by REML and ML.
parity_models <- list(
  sleepstudy_dropped = list("sleepstudy_dropped", "Reaction ~ Days", "~ Days", "Subject"),
  orthodont = list("orthodont", "distance ~ age", "~ age", "Subject"),
  rail = list("rail", "travel ~ 1", "~ 1", "Rail"),
  orange = list("orange", "circumference ~ age", "~ 1", "Tree"),
  ergostool = list("ergostool", "effort ~ Type", "~ 1", "Subject"),
  oats = list("oats", "yield ~ nitro", "~ 1", "Block"))
parity <- lapply(parity_models, function(m) {
  formula <- as.formula(paste0(m[[2]], " + (", sub("~", "", m[[3]]), " | ", m[[4]], ")"))
  fits <- lapply(c(REML = TRUE, ML = FALSE), function(reml) lmer_numbers(
    lmer(formula, data[[m[[1]]]], REML = reml, control = tight)))
  c(list(data = m[[1]], fixed_formula = m[[2]], random = m[[3]], group = m[[4]]), fits)
})

reference <- list(
  generated_by = "tests/reference/make_r_datasets_reference.R",
  versions = list(R = R.version.string, lme4 = as.character(packageVersion("lme4")),
                  nlme = as.character(packageVersion("nlme")), RLRsim = as.character(packageVersion("RLRsim"))),
  exact_rlrt = list(
    single_group = rlrt(lme(Reaction ~ Days, random = ~ 1 | Subject, data = data$sleepstudy_308)),
    confounded = rlrt(lme(Reaction ~ Days + factor(Subject), random = ~ 1 | Subject, data = data$sleepstudy))),
  sleepstudy_rs = c(lmer_numbers(sleep_rs), list(ranef = conditional_modes(sleep_rs))),
  sleepstudy_slope_only = c(lmer_numbers(slope_only), list(ranef = conditional_modes(slope_only))),
  dyestuff2 = c(lmer_numbers(dyestuff2), list(
    satterthwaite_df = unname(summary(dyestuff2, ddf = "Satterthwaite")$coefficients[, "df"]),
    kenward_roger_df = unname(summary(dyestuff2, ddf = "Kenward-Roger")$coefficients[, "df"]))),
  igf = c(lmer_numbers(igf), list(
    satterthwaite_df = unname(summary(igf, ddf = "Satterthwaite")$coefficients[, "df"]),
    kenward_roger_df = unname(summary(igf, ddf = "Kenward-Roger")$coefficients[, "df"]),
    kenward_roger_se = unname(summary(igf, ddf = "Kenward-Roger")$coefficients[, "Std. Error"]))),
  single_row = lme_numbers(single_row),
  text_covariate = lme_numbers(text_covariate),
  parity = parity,
  lm_printouts = lapply(lm_fits, function(fit) paste(capture.output(print(summary(fit))), collapse = "\n"))
)
write_reference(reference, file.path(folder, "reference.json"))
