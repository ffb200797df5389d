"""helpers on data sets that ship with R, against R's own numbers (issue 22).

tests/reference/make_r_datasets_reference.R exports the data sets (sleepstudy, Dyestuff2,
IGF, Orthodont and subsets of them) as CSV files and writes what nlme, lme4, lmerTest,
pbkrtest and RLRsim report on them; it runs once per test session, into a temporary
folder, so every number compared here comes from that run and none is stored.
"""

from __future__ import annotations

import json
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

from helpers.boundary import BoundaryTestError, exact_rlrt
from helpers.diagnostics import predicted_effects
from tests.r_reference import close

SCRIPT = Path(__file__).resolve().parent / "reference" / "make_r_datasets_reference.R"
ESTIMATE_RTOL = 1e-5  # tests/test_mixed.py's tolerances
OTHER_RTOL = 1e-3

pytestmark = pytest.mark.needs_r


@pytest.fixture(scope="module")
def r_run(tmp_path_factory):
    """The folder of the R run: its data sets as CSV and reference.json."""
    folder = tmp_path_factory.mktemp("r_datasets")
    run = subprocess.run(["Rscript", str(SCRIPT), str(folder)], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    return folder


@pytest.fixture(scope="module")
def r_numbers(r_run):
    return json.loads((r_run / "reference.json").read_text())


def read(r_run, name: str) -> pd.DataFrame:
    return pd.read_csv(r_run / f"{name}.csv")


def mixedlm(formula, data, group, re_formula=None, reml=True, **fit_kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return smf.mixedlm(formula, data, groups=group, re_formula=re_formula).fit(reml=reml, **fit_kwargs)


# ----------------------------------------------------------------------------- silent wrong numbers


@pytest.mark.parametrize(("case", "data", "formula"), [
    ("single_group", "sleepstudy_308", "Reaction ~ Days"),
    ("confounded", "sleepstudy", "Reaction ~ Days + C(Subject)")])
def test_exact_rlrt_refuses_a_variance_it_cannot_test(r_run, r_numbers, case, data, formula):
    """R's exactRLRT finds nothing to test here (RLRT 0, p 1); we say why rather than give a p-value."""
    assert r_numbers["exact_rlrt"][case] == {"statistic": 0, "p_value": 1}
    fit = mixedlm(formula, read(r_run, data), "Subject")
    with pytest.raises(BoundaryTestError, match="one group, or the grouping column also among the fixed effects"):
        exact_rlrt(fit, 100, seed=1, progress=False)


@pytest.mark.parametrize(("case", "re_formula"), [("sleepstudy_rs", "~ Days"), ("sleepstudy_slope_only", "~ 0 + Days")])
def test_predicted_effects_are_lme4s_conditional_modes(r_run, r_numbers, case, re_formula):
    """BLUPs and conditional SDs at the verified optimum, labelled by their terms (lme4: ranef(condVar = TRUE))."""
    ref = r_numbers[case]["ranef"]
    effects = predicted_effects(mixedlm("Reaction ~ Days", read(r_run, "sleepstudy"), "Subject", re_formula))
    assert list(dict.fromkeys(effects["term"])) == ["Intercept" if t == "(Intercept)" else t for t in ref]
    for term, numbers in ref.items():
        ours = effects[effects["term"] == ("Intercept" if term == "(Intercept)" else term)]
        assert [str(g) for g in ours["group"]] == numbers["group"]
        close(ours["estimate"], numbers["estimate"], ESTIMATE_RTOL, atol=ESTIMATE_RTOL * np.abs(numbers["estimate"]).max())
        close(ours["cond_sd"], numbers["cond_sd"], ESTIMATE_RTOL)
