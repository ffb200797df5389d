"""The numbers the lecture handout prints, so a notebook can check itself against them.

They are read from datasets/handout_targets.csv, which records each printed number
with the handout line it comes from. ``handout("pooled", "estimate", "age")`` is
the string the handout shows for that number, ``"0.051262"``.
"""

from __future__ import annotations

import pandas as pd

from helpers.data import DATASETS_DIR

__all__ = ["handout", "handout_numbers"]


def _targets() -> pd.DataFrame:
    return pd.read_csv(DATASETS_DIR / "handout_targets.csv", dtype=str, keep_default_na=False)


def handout(model: str, statistic: str, term: str = "") -> str:
    """The string the handout prints for one number of one model."""
    numbers = handout_numbers(model)
    if (statistic, term) not in numbers:
        raise KeyError(f"the handout prints no {statistic!r} for model {model!r}, term {term!r}")
    return numbers[statistic, term]


def handout_numbers(model: str) -> dict[tuple[str, str], str]:
    """Every number the handout prints for ``model``, keyed by (statistic, term); spaces removed."""
    rows = _targets()[lambda t: t["model"] == model]
    if rows.empty:
        raise KeyError(f"no model {model!r} in the handout targets; known: {sorted(set(_targets()['model']))}")
    return {(r.statistic, r.term): r.printed.replace(" ", "") for r in rows.itertuples()}
