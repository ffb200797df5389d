"""helpers.rsummary against R: the handout's printed numbers and R's own printout.

Two independent checks. (1) Every number the handout prints for its four lm()
summaries (datasets/handout_targets.csv) is found, token by token, in our printout
of the same model fitted to the course data; this is also the data's reproduction
check from the student's side. (2) The whole printout equals, character by
character, what R 4.2 prints for the same fits (tests/reference/r_summary_lm.txt,
made by tests/reference/make_rsummary_reference.R), including fits that reach
other branches: few residual degrees of freedom, no intercept, a wrapped call.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf

from helpers.data import DATASETS_DIR, load_gp_cholesterol
from helpers.rsummary import r_summary, r_summary_text

REFERENCE = Path(__file__).parent / "reference" / "r_summary_lm.txt"
DATA = load_gp_cholesterol()
GROUPED = DATA.groupby("doctor").agg(chol_grouped=("chol", "mean"), age_grouped=("age", "mean"))

# name: (statsmodels formula, data, R formula or None for the same, R's name of the data)
FITS = {
    "pooled": ("chol ~ age", DATA, None, "data_chol"),
    "grouped": ("chol_grouped ~ age_grouped", GROUPED, None, "data_grouped"),
    "varying_intercept": ("chol ~ C(doctor) + age", DATA, "chol ~ as.factor(doctor) + age", "data_chol"),
    "varying_slope": ("chol ~ age:C(doctor)", DATA, "chol ~ age:as.factor(doctor)", "data_chol"),
    "few_df": ("chol ~ age", DATA.head(6).set_axis(range(1, 7)), None, "first_six"),  # R's row names 1..6
    "no_intercept": ("chol ~ age - 1", DATA, None, "data_chol"),
    "long_call": ("chol ~ age + bmi + sex + agedoc + bmi:sex + age:bmi + sex:agedoc + age:agedoc", DATA, None,
                  "data_chol"),
    "one_gp": ("chol ~ age + bmi + sex", DATA[DATA["doctor"] == 3], None, "dr3"),
}
HANDOUT_MODELS = ["pooled", "grouped", "varying_intercept", "varying_slope"]


def printout(name: str) -> str:
    formula, data, r_formula, data_name = FITS[name]
    return r_summary_text(smf.ols(formula, data).fit(), formula=r_formula, data=data_name)


def r_printouts() -> dict[str, str]:
    blocks, name = {}, None
    for line in REFERENCE.read_text(encoding="utf-8").splitlines():
        if line.startswith("#### "):
            name = line[5:]
            blocks[name] = ""
        elif name is not None:
            blocks[name] += line + "\n"
    return blocks


def parse(text: str) -> dict[tuple[str, str], str]:
    """The printed tokens of a summary, keyed like handout_targets.csv (statistic, term)."""
    lines = text.splitlines()
    found = {}
    at = lines.index("Residuals:")
    for name, value in zip(lines[at + 1].split(), lines[at + 2].split()):
        found["residual_quantile", name] = value
    for line in lines[lines.index("Coefficients:") + 2:]:
        if not line.strip() or line.startswith("---"):
            break
        term, *cells = line.split()  # the course's term names hold no spaces
        p_value = cells[3] + cells[4] if cells[3] == "<" else cells[3]
        for statistic, value in zip(["estimate", "std_error", "t_value", "p_value"], [*cells[:3], p_value]):
            found[statistic, term] = value
    patterns = {
        ("sigma", "df_residual"): r"Residual standard error: (\S+) on (\d+) degrees of freedom",
        ("r_squared", "adj_r_squared"): r"Multiple R-squared:\s+(\S+),\tAdjusted R-squared:\s+(\S+)",
        ("f_statistic", "f_df_model", "f_df_residual", "f_p_value"):
            r"F-statistic: (\S+) on (\d+) and (\d+) DF,  p-value: (.+)",
    }
    for keys, pattern in patterns.items():
        match = re.search(pattern, text)
        for key, value in zip(keys, match.groups()):
            found[key, ""] = value.replace(" ", "")
    return found


def handout_targets(model: str) -> pd.DataFrame:
    targets = pd.read_csv(DATASETS_DIR / "handout_targets.csv", dtype=str, keep_default_na=False)
    return targets[targets["model"] == model]


@pytest.mark.parametrize("model", HANDOUT_MODELS)
def test_every_printed_number_matches_the_handout(model):
    ours = parse(printout(model))
    targets = handout_targets(model)
    assert len(targets) > 20
    for row in targets.itertuples():
        key = (row.statistic, row.term)
        assert key in ours, f"{model}: {key} not printed"
        assert ours[key] == row.printed.replace(" ", ""), f"{model} {key} (handout line {row.handout_line})"
    coefficient_rows = {term for statistic, term in ours if statistic == "estimate"}
    assert coefficient_rows == set(targets.loc[targets["statistic"] == "estimate", "term"])


@pytest.mark.parametrize("name", list(FITS))
def test_printout_equals_r_character_by_character(name):
    assert printout(name) == r_printouts()[name]


def test_reference_covers_every_fit():
    assert set(r_printouts()) == set(FITS)


def test_r_summary_prints_the_text(capsys):
    r_summary(smf.ols("chol ~ age", DATA).fit(), data="data_chol")
    assert capsys.readouterr().out == printout("pooled")


def test_names_mapping_renames_terms():
    fit = smf.ols("chol ~ age", DATA).fit()
    assert "\nAge " in r_summary_text(fit, names={"age": "Age"})


@pytest.mark.filterwarnings("ignore::statsmodels.tools.sm_exceptions.SingularMatrixWarning")
@pytest.mark.parametrize("make, message", [
    (lambda: smf.wls("chol ~ age", DATA, weights=DATA["age"]).fit(), "OLS fit"),
    (lambda: smf.glm("chol ~ age", DATA).fit(), "OLS fit"),
    (lambda: smf.ols("chol ~ age", DATA), "OLS fit"),  # the model, not fitted
    (lambda: DATA, "OLS fit"),
    (lambda: smf.ols("chol ~ age", DATA).fit(cov_type="HC3"), "cov_type='HC3'"),
    (lambda: smf.ols("chol ~ age + I(2 * age)", DATA).fit(), "rank deficient"),
    (lambda: sm.OLS(DATA["chol"], sm.add_constant(DATA["age"])).fit(), "pass the R formula"),
])
def test_bad_input_is_refused_with_a_clear_error(make, message):
    with pytest.raises((TypeError, ValueError), match=re.escape(message)):
        r_summary_text(make())


def test_array_fit_prints_with_a_formula():
    fit = sm.OLS(DATA["chol"].to_numpy(), sm.add_constant(DATA["age"].to_numpy())).fit()
    text = r_summary_text(fit, formula="chol ~ age", names={"const": "(Intercept)", "x1": "age"})
    assert text.replace("data = data", "data = data_chol") == printout("pooled")
