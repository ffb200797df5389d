"""Lecture 12 (checking a mixed model): every number it computes or states, against lme4 and nlme.

R's numbers: tests/reference/diagnostics_reference.json (lme4's residuals, predicted effects and
ranef(condVar = TRUE)) and r_reference.json (nlme's residual SD). Claims about ranks are checked by
an independent simulation from lme4's numbers; what the prose says is read from the markdown.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from helpers.data import load_gp_cholesterol
from tests.lecture_values import lecture_text, lecture_values
from tests.r_reference import assert_states, close, random_sd

pytestmark = pytest.mark.slow
LECTURE = "12-checking-a-mixed-model"
TEXT = lecture_text(LECTURE)
LME4 = json.loads((Path(__file__).resolve().parent / "reference" / "diagnostics_reference.json").read_text())
RS = LME4["models"]["rs"]
GP = load_gp_cholesterol()
GROUPS = [int(g) for g in RS["group"]]
R_RESIDUALS = pd.Series(RS["residuals"])
R_LEVELS = pd.DataFrame(
    {"estimate": RS["ranef"]["(Intercept)"], "cond_sd": np.sqrt([c[0][0] for c in RS["cond_cov"]])}, index=GROUPS
)
R_SLOPES = pd.DataFrame(
    {"estimate": RS["ranef"]["age_c"], "cond_sd": np.sqrt([c[1][1] for c in RS["cond_cov"]])}, index=GROUPS
)


def values(*expressions):
    return lecture_values(LECTURE, *expressions)


def test_the_fit_and_its_residuals_are_lme4s():
    v = values("float(rs.llf)", "rs.resid.to_numpy()")
    close(v["float(rs.llf)"], RS["loglik"], 0, 1e-5)
    close(v["rs.resid.to_numpy()"], R_RESIDUALS, 0, 1e-4)


def test_residual_spread_by_gp():
    v = values("spread", "levene.pvalue")
    by_gp = R_RESIDUALS.groupby(GP["doctor"].to_numpy())
    close(v["spread"].to_numpy(), by_gp.std().to_numpy(), 1e-3)
    p = stats.levene(*[group for _, group in by_gp]).pvalue
    close(v["levene.pvalue"], p, 1e-3)
    sigma = random_sd("rs_c_reml")["Residual"]
    assert_states(TEXT, (by_gp.std().min(), ".3f"), (by_gp.std().max(), ".3f"), (sigma, ".3f"), (p, ".2f"))


def test_residuals_are_centred_near_zero_not_on_it_within_each_gp():
    """Shrinkage leaves part of each GP's departure in its residuals, with the sign of its predicted effect."""
    v = values("centre")
    by_gp = R_RESIDUALS.groupby(GP["doctor"].to_numpy()).mean()
    close(v["centre"].to_numpy(), by_gp.to_numpy(), 0, 1e-5)
    assert (np.sign(by_gp) == np.sign(R_LEVELS["estimate"].reindex(by_gp.index))).all()
    levels = R_LEVELS["estimate"]
    assert by_gp.idxmax() == levels.idxmax() == 2 and by_gp.idxmin() == levels.idxmin() == 12
    assert_states(TEXT, (by_gp.max(), ".3f"), (by_gp.min(), ".3f"))
    assert "centred on 0, as they must be" not in TEXT


def test_the_residuals_upper_tail():
    """'the three largest are a little larger than normality predicts'"""
    z = np.sort((R_RESIDUALS - R_RESIDUALS.mean()) / R_RESIDUALS.std())
    expected = stats.norm.ppf((np.arange(1, 442) - 0.5) / 441)
    assert (z[-3:] > expected[-3:]).all() and (z[-3:] - expected[-3:]).max() < 1


def test_the_league_table_is_lme4s():
    v = values("levels")
    levels = v["levels"].loc[GROUPS]
    close(levels["estimate"], R_LEVELS["estimate"], 1e-3, 1e-4)
    close(levels["cond_sd"], R_LEVELS["cond_sd"], 1e-3)
    close(levels["upper"] - levels["estimate"], 1.959963984540054 * R_LEVELS["cond_sd"], 1e-3)
    top = R_LEVELS["estimate"].sort_values()
    assert list(top.index[-2:]) == [1, 2] and top.index[0] == 12
    assert_states(
        TEXT,
        (top[2], ".2f"),
        (top[1], ".2f"),
        (-top[12], ".2f"),
        (R_LEVELS["cond_sd"].min(), ".3f"),
        (R_LEVELS["cond_sd"].max(), ".3f"),
        (1.96 * R_LEVELS["cond_sd"].mean(), ".2f"),
    )
    z = 1.959963984540054
    for gp in (2, 1):  # the prediction intervals the prose states
        assert_states(TEXT, *[(top[gp] + s * z * R_LEVELS["cond_sd"][gp], ".2f") for s in (-1, 1)])
    assert_states(TEXT, *[(-(top[12] + s * z * R_LEVELS["cond_sd"][12]), ".2f") for s in (-1, 1)])


def independent_ranks(effects: pd.DataFrame, seed: int = 99, draws: int = 20_000) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    sample = effects["estimate"].to_numpy() + effects["cond_sd"].to_numpy() * rng.standard_normal((draws, len(effects)))
    ranks = sample.argsort(axis=1).argsort(axis=1) + 1
    return pd.DataFrame(
        {
            "low": np.quantile(ranks, 0.025, axis=0),
            "high": np.quantile(ranks, 0.975, axis=0),
            "top": (ranks == len(effects)).mean(axis=0),
        },
        index=effects.index,
    )


def test_rank_intervals_say_what_the_text_says():
    v = values("level_ranks", "slope_ranks")
    lecture = v["level_ranks"]
    assert lecture.loc[2, ["rank_low", "rank_high"]].tolist() == [12, 12]
    assert lecture.loc[1, ["rank_low", "rank_high"]].tolist() == [11, 11]
    assert lecture.loc[12, ["rank_low", "rank_high"]].tolist() == [1, 2]
    assert lecture.loc[8, ["rank_low", "rank_high"]].tolist() == [1, 5]
    assert lecture.loc[[5, 3, 6, 4], "rank_low"].min() == 7 and lecture.loc[[5, 3, 6, 4], "rank_high"].max() == 10
    # An independent simulation from lme4's numbers agrees on every interval, give or take one place.
    ours = independent_ranks(R_LEVELS)
    assert (ours.loc[2, "top"] > 0.99) and (abs(ours["low"] - lecture["rank_low"].reindex(ours.index)) <= 1).all()
    assert (abs(ours["high"] - lecture["rank_high"].reindex(ours.index)) <= 1).all()
    slopes = v["slope_ranks"]
    assert slopes.index[0] == 8 and slopes.loc[8, "rank_high"] == 4
    assert (slopes.drop(index=8)["rank_high"] > 4).all()  # "only Dr 8's ... among the four lowest"
    assert (slopes["rank_high"] - slopes["rank_low"]).median() >= 7  # "almost any place"
    others = independent_ranks(R_SLOPES)
    assert others.loc[8, "high"] <= 5 and (others.drop(index=8)["high"] > 4).all()


def test_exercise_solutions():
    v = values(
        "test.pvalue",
        "float(low)",
        "float(high)",
        "float(largest)",
        "stats.spearmanr(order['predicted effect'], order['raw level'])[0]",
    )
    # 11.1, from lme4's residuals.
    sex = GP["sex"].to_numpy()
    test = stats.ttest_ind(R_RESIDUALS[sex == 1], R_RESIDUALS[sex == 0])
    close(v["test.pvalue"], test.pvalue, 1e-2)
    assert_states(TEXT, (test.pvalue, ".3f"), (test.statistic, ".2f"))
    # 11.2, by another simulation of the largest of 12 standardised normal values.
    draws = np.random.default_rng(7).standard_normal((20_000, 12))
    largest_normal = ((draws - draws.mean(axis=1, keepdims=True)) / draws.std(axis=1, ddof=1, keepdims=True)).max(
        axis=1
    )
    close([v["float(low)"], v["float(high)"]], np.quantile(largest_normal, [0.025, 0.975]), 0, 0.06)
    standardised = (R_LEVELS["estimate"] - R_LEVELS["estimate"].mean()) / R_LEVELS["estimate"].std()
    close(v["float(largest)"], standardised.max(), 1e-3)
    assert standardised.idxmax() == 2
    # 11.3: the fixed-effects levels rank the GPs as lme4's predictions do.
    assert v["stats.spearmanr(order['predicted effect'], order['raw level'])[0]"] == pytest.approx(1.0)
