"""R's numbers for the tests: tests/reference/r_reference.json (written by make_reference.R), read once.

``nlme("ri_c_reml")`` is what ``nlme::lme`` run to its optimum reports for one model of the
course, ``gp("icc")`` any other section of the GP data's results. Lectures never read these at
run time; tests compare a lecture's values with them (see tests/lecture_values.py).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd

REFERENCE_FILE = Path(__file__).resolve().parent / "reference" / "r_reference.json"
REFERENCE = json.loads(REFERENCE_FILE.read_text())
# Intervals for variance parameters, coverage of the random-intercept interval (make_profile_reference.R).
PROFILE = json.loads(REFERENCE_FILE.with_name("profile_reference.json").read_text())


def gp(section: str) -> dict:
    """One section of the GP data's reference ('icc', 'lm', 'anova', 'age_effect', ...)."""
    return REFERENCE["gp_cholesterol"][section]


def nlme(model: str) -> dict:
    """``nlme::lme`` on one of the GP models, run to its optimum (tight lmeControl)."""
    return gp("lme_converged")[model]


def fixed(model: str) -> pd.DataFrame:
    """nlme's fixed-effects table of a model, indexed by R's term names."""
    table = dict(nlme(model)["fixed"])
    return pd.DataFrame(table, index=table.pop("term"))


def random_sd(model: str) -> pd.Series:
    return pd.Series(nlme(model)["random_sd"])


def ranef(model: str) -> pd.DataFrame:
    """BLUPs, one row per GP (indexed by doctor number)."""
    table = dict(nlme(model)["ranef"])
    return pd.DataFrame(table, index=pd.Index([int(g) for g in table.pop("group")], name="doctor"))


def states(text: str, value: float, fmt: str) -> bool:
    """Whether the prose states ``value`` formatted as ``fmt`` (e.g. '.3f'), as a whole number token."""
    shown = format(value, fmt)
    return re.search(rf"(?<![\d.]){re.escape(shown)}(?![\d])", text) is not None


def assert_states(text: str, *numbers_and_formats) -> None:
    """Each (number, format) pair is stated in the prose, e.g. ``assert_states(text, (0.4449, ".3f"))``."""
    for number, fmt in numbers_and_formats:
        assert states(text, number, fmt), f"the prose does not state {number:{fmt}}"


def close(ours, theirs, rtol=1e-6, atol=0.0) -> None:
    """|ours - theirs| <= atol + rtol |theirs| elementwise (atol may be an array)."""
    ours, theirs = np.asarray(ours, float), np.asarray(theirs, float)
    bad = ~np.isclose(ours, theirs, rtol=rtol, atol=atol)
    assert not bad.any(), f"ours {ours[bad]} vs R {theirs[bad]} (rtol={rtol}, atol={atol})"
