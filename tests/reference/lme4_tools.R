# What the lme4 reference scripts of tests/test_smallsample.py, test_boundary.py, test_three_level.py
# and test_diagnostics.py share. Each sets `here` (its own folder) and then sources this file.
suppressPackageStartupMessages({
  library(lme4)
  library(jsonlite)
})

root <- normalizePath(file.path(here, "..", ".."))

sha256 <- function(path) sub(" .*", "", system2("sha256sum", shQuote(path), stdout = TRUE))

# lme4 run to its optimum: its default stopping rule leaves variances ~1e-4 (relative) short,
# which moves standard errors and df by as much.
tight <- lmerControl(optimizer = "nloptwrap",
                     optCtrl = list(xtol_abs = 1e-12, ftol_abs = 1e-14, xtol_rel = 1e-12, ftol_rel = 1e-15,
                                    maxeval = 1e5))

# The JSON file to write: the script's first argument, or `default_name` next to the script.
output_path <- function(default_name) {
  out <- commandArgs(trailingOnly = TRUE)[1]
  if (is.na(out)) file.path(here, default_name) else out
}

write_reference <- function(reference, out) {
  writeLines(toJSON(reference, digits = I(15), auto_unbox = TRUE, pretty = TRUE, na = "null", null = "null"), out)
}
