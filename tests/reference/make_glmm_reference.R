# Reference numbers for tests/test_glmm.py: random-intercept logistic models fitted by lme4::glmer.
#
#   Rscript tests/reference/make_glmm_reference.R [output.json]
#
# Each model is fitted by maximum likelihood with adaptive Gauss-Hermite quadrature (nAGQ = 25) or
# the Laplace approximation (nAGQ = 1), run to its optimum: glmer's default stopping rule leaves
# the Laplace fit of the GP model 1e-3 (relative) short in its estimates, so the optimizer and the
# inner PIRLS iterations get tight tolerances. The data of the models that are not the GP data
# are written into the JSON (lme4's cbpp as one row per animal, and a small data set whose groups
# are identical, so that sigma_0 is estimated as 0). Nothing random and no dates.

script_arg <- grep("^--file=", commandArgs(trailingOnly = FALSE), value = TRUE)
here <- dirname(normalizePath(sub("^--file=", "", script_arg)))
source(file.path(here, "lme4_tools.R"))
out <- output_path("glmm_reference.json")

tight_glmer <- glmerControl(optimizer = "nloptwrap", tolPwrss = 1e-12, optCtrl = tight$optCtrl)

gp_path <- file.path(root, "datasets", "gp_cholesterol.csv")
gp <- read.csv(gp_path)
gp$high <- as.integer(gp$chol >= 6.2)  # 240 mg/dL, "high" in NCEP ATP III
gp$age_c <- gp$age - mean(gp$age)

# cbpp: new serological cases of contagious bovine pleuropneumonia by herd and period, one row per animal.
data(cbpp, package = "lme4")
animals <- rep(seq_len(nrow(cbpp)), cbpp$size)
cbpp_rows <- data.frame(herd = as.integer(cbpp$herd[animals]), period = as.integer(cbpp$period[animals]),
                        case = unlist(mapply(function(cases, size) rep(1:0, c(cases, size - cases)),
                                             cbpp$incidence, cbpp$size)))

# Eight groups with the same ten rows: no between-group variation at all, a singular fit.
identical_groups <- data.frame(group = rep(1:8, each = 10), x = rep(seq(-1, 1, length.out = 10), 8),
                               y = rep(c(0, 1, 0, 0, 1, 1, 0, 1, 1, 1), 8))

datasets <- list(gp_cholesterol = gp, cbpp = cbpp_rows, identical_groups = identical_groups)

# r_formula is what glmer fits; formula is the same model as the Python test writes it.
spec <- function(data, r_formula, formula, groups, nagq)
  list(data = data, r_formula = r_formula, formula = formula, groups = groups, nagq = nagq)

specs <- list(
  gp_agq25 = spec("gp_cholesterol", "high ~ age_c", "high ~ age_c", "doctor", 25),
  gp_laplace = spec("gp_cholesterol", "high ~ age_c", "high ~ age_c", "doctor", 1),
  cbpp_agq25 = spec("cbpp", "case ~ factor(period)", "case ~ C(period)", "herd", 25),
  cbpp_laplace = spec("cbpp", "case ~ factor(period)", "case ~ C(period)", "herd", 1),
  identical_groups = spec("identical_groups", "y ~ x", "y ~ x", "group", 25)
)

# A singular fit stops wherever the optimizer reaches sigma_0 ~ 1e-10, which differs between machines;
# what depends on sigma_0 alone (sigma_0, the modes and their SDs) is then written as lme4 means it: 0.
boundary_zero <- function(x, fit) if (isSingular(fit)) 0 * x else x

numbers <- function(s) {
  fit <- glmer(as.formula(paste0(s$r_formula, " + (1 | ", s$groups, ")")), data = datasets[[s$data]],
               family = binomial, nAGQ = s$nagq, control = tight_glmer)
  coefs <- summary(fit)$coefficients
  wald <- confint(fit, method = "Wald", parm = "beta_")
  modes <- ranef(fit, condVar = TRUE)[[s$groups]]
  messages <- fit@optinfo$conv$lme4$messages
  list(
    spec = s,
    singular = isSingular(fit),
    lme4_messages = if (is.null(messages)) list() else messages,
    fixed = list(term = rownames(coefs), estimate = unname(coefs[, "Estimate"]),
                 std_error = unname(coefs[, "Std. Error"]), z = unname(coefs[, "z value"]),
                 p = unname(coefs[, "Pr(>|z|)"]), ci_low = unname(wald[, 1]), ci_high = unname(wald[, 2])),
    vcov = unname(as.matrix(vcov(fit))),
    group_sd = boundary_zero(unname(getME(fit, "theta")), fit),
    loglik = as.numeric(logLik(fit)),
    aic = AIC(fit),
    bic = BIC(fit),
    nobs = nobs(fit),
    scaled_residual_quartiles = unname(quantile(residuals(fit, type = "pearson", scaled = TRUE))),
    ranef = list(group = rownames(modes), mode = boundary_zero(modes[, 1], fit),
                 cond_sd = boundary_zero(sqrt(c(attr(modes, "postVar"))), fit))
  )
}

reference <- list(
  generated_by = "tests/reference/make_glmm_reference.R",
  versions = list(R = R.version.string, lme4 = as.character(packageVersion("lme4"))),
  data = list(gp_cholesterol = list(path = "datasets/gp_cholesterol.csv", sha256 = sha256(gp_path), rows = nrow(gp))),
  datasets = lapply(list(cbpp = cbpp_rows, identical_groups = identical_groups), as.list),
  models = lapply(specs, numbers)
)
write_reference(reference, out)
