"""R's own results on the course data, so that notebooks check themselves against R.

``tests/reference/r_reference.json`` holds what ``nlme::lme``, ``anova``,
``lme4::lmer`` and ``lm`` compute for the course's models at full precision
(written by ``tests/reference/make_reference.R``). Notebooks read it through
these functions instead of typing R's numbers into a cell. The handout's printed
numbers are read by :mod:`helpers.handout`.
"""

from __future__ import annotations

import json
from functools import lru_cache

import numpy as np
import pandas as pd

from helpers.data import DATASETS_DIR

__all__ = ["nlme", "nlme_anova", "lme4", "r_lm", "compare_with_nlme"]

R_REFERENCE = DATASETS_DIR.parent / "tests" / "reference" / "r_reference.json"


@lru_cache(maxsize=1)
def _gp_reference() -> dict:
    return json.loads(R_REFERENCE.read_text())["gp_cholesterol"]


def nlme(model: str) -> dict:
    """``nlme::lme``'s results for one of the course's GP models (e.g. 'ri_reml', 'rs_ml'), as R computed them."""
    return _gp_reference()["lme"][model]


def lme4(model: str) -> dict:
    """``lme4::lmer``'s results for the same model (``converged`` and R's warning ``messages`` included)."""
    return _gp_reference()["lmer"][model]


def r_lm(model: str) -> dict:
    """``summary(lm)``'s numbers for one of the handout's four OLS models ('pooled', 'grouped', ...)."""
    return _gp_reference()["lm"][model]


def nlme_anova(comparison: str) -> pd.DataFrame:
    """``anova(m1, m2)`` as nlme printed it, e.g. for 'ri_vs_rs_reml' or 'rs_vs_rs_agedoc_ml'."""
    table = dict(_gp_reference()["anova"][comparison])
    return pd.DataFrame(table, index=table.pop("rows")).astype({"L.Ratio": float, "p-value": float})


def compare_with_nlme(fit, model: str, rtol: float = 1e-6) -> pd.DataFrame:
    """Our fit next to nlme's, number by number; raises AssertionError if any differs by more than ``rtol``.

    ``fit`` is a :class:`helpers.mixed.LmeFit`. Compared: the log-likelihood, each fixed
    effect's estimate and standard error, and each random-effect and residual SD.
    """
    ref = nlme(model)
    rows = [("logLik", fit.loglik, ref["loglik"])]
    for i, term in enumerate(ref["fixed"]["term"]):
        rows += [(f"{term} estimate", fit.fixed["estimate"].iloc[i], ref["fixed"]["estimate"][i]),
                 (f"{term} std. error", fit.fixed["std_error"].iloc[i], ref["fixed"]["std_error"][i])]
    rows += [(f"SD {term}", fit.random_sd[term], value) for term, value in ref["random_sd"].items()]
    table = pd.DataFrame(rows, columns=["quantity", "ours", "nlme"]).set_index("quantity")
    table["relative difference"] = (table["ours"] - table["nlme"]).abs() / table["nlme"].abs()
    if list(fit.fixed.index) != ref["fixed"]["term"]:
        raise AssertionError(f"fixed effects {list(fit.fixed.index)} are not nlme's {ref['fixed']['term']}")
    worst = table["relative difference"].idxmax()
    if not np.all(table["relative difference"] <= rtol):
        raise AssertionError(f"{model}: {worst} differs from nlme by {table.loc[worst, 'relative difference']:.2g} "
                             f"(relative), more than {rtol:g}")
    return table
