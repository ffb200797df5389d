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

import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf

from helpers.data import load_gp_cholesterol
from helpers.handout import handout, handout_numbers
from helpers.rsummary import printed_numbers, r_summary, r_summary_text

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
    "long_call": (
        "chol ~ age + bmi + sex + agedoc + bmi:sex + age:bmi + sex:agedoc + age:agedoc",
        DATA,
        None,
        "data_chol",
    ),
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


@pytest.mark.parametrize("model", HANDOUT_MODELS)
def test_every_printed_number_matches_the_handout(model):
    ours, targets = printed_numbers(printout(model)), handout_numbers(model)
    assert len(targets) > 20
    for key, printed in targets.items():
        assert key in ours, f"{model}: {key} not printed"
        assert ours[key] == printed, f"{model} {key}: we print {ours[key]}, the handout {printed}"
    assert set(ours) == set(targets)  # nothing printed that the handout lacks


@pytest.mark.parametrize("name", list(FITS))
def test_printout_equals_r_character_by_character(name):
    assert printout(name) == r_printouts()[name]


def test_reference_covers_every_fit():
    assert set(r_printouts()) == set(FITS)


def test_r_summary_prints_the_text(capsys):
    r_summary(smf.ols("chol ~ age", DATA).fit(), data="data_chol")
    assert capsys.readouterr().out == printout("pooled")


def test_handout_lookup():
    assert handout("pooled", "estimate", "age") == "0.051262"  # the handout's line 111, as the CSV records it
    with pytest.raises(KeyError, match="prints no"):
        handout("pooled", "estimate", "bmi")
    with pytest.raises(KeyError, match="known"):
        handout_numbers("no_such_model")


def test_names_mapping_renames_terms():
    fit = smf.ols("chol ~ age", DATA).fit()
    assert "\nAge " in r_summary_text(fit, names={"age": "Age"})


@pytest.mark.filterwarnings("ignore::statsmodels.tools.sm_exceptions.SingularMatrixWarning")
@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: smf.wls("chol ~ age", DATA, weights=DATA["age"]).fit(), "OLS fit"),
        (lambda: smf.glm("chol ~ age", DATA).fit(), "OLS fit"),
        (lambda: smf.ols("chol ~ age", DATA), "OLS fit"),  # the model, not fitted
        (lambda: DATA, "OLS fit"),
        (lambda: smf.ols("chol ~ age", DATA).fit(cov_type="HC3"), "cov_type='HC3'"),
        (lambda: smf.ols("chol ~ age + I(2 * age)", DATA).fit(), "rank deficient"),
        (lambda: sm.OLS(DATA["chol"], sm.add_constant(DATA["age"])).fit(), "pass the R formula"),
    ],
)
def test_bad_input_is_refused_with_a_clear_error(make, message):
    with pytest.raises((TypeError, ValueError), match=re.escape(message)):
        r_summary_text(make())


def test_array_fit_prints_with_a_formula():
    fit = sm.OLS(DATA["chol"].to_numpy(), sm.add_constant(DATA["age"].to_numpy())).fit()
    text = r_summary_text(fit, formula="chol ~ age", names={"const": "(Intercept)", "x1": "age"})
    assert text.replace("data = data", "data = data_chol") == printout("pooled")
