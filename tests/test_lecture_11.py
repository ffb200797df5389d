"""Lecture 11 (three-level models): every number it computes or states, against lme4 and lmerTest.

R's numbers: tests/reference/three_level_reference.json (lme4 on the lecture's sample,
tests/reference/three_level.csv) and the three_level model of smallsample_reference.json
(lmerTest's Satterthwaite df). What the prose says is read from the notebook's markdown.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from helpers.simulate import simulate_three_level
from tests.lecture_values import lecture_text, lecture_values
from tests.r_reference import assert_states, close

pytestmark = pytest.mark.slow
LECTURE = "11-three-level-models"
TEXT = lecture_text(LECTURE)
REFERENCE_DIR = Path(__file__).resolve().parent / "reference"
LME4 = json.loads((REFERENCE_DIR / "three_level_reference.json").read_text())["models"]
LMERTEST = json.loads((REFERENCE_DIR / "smallsample_reference.json").read_text())["models"]["three_level"]
CSV = pd.read_csv(REFERENCE_DIR / "three_level.csv")
PROFILE = json.loads((REFERENCE_DIR / "nested_profile_reference.json").read_text())
RTOL = 1e-4


def values(*expressions):
    return lecture_values(LECTURE, *expressions)


def r_variances(model: str) -> pd.Series:
    v = LME4[model]["variances"]
    return pd.Series({"school": v.get("school", 0.0), "class": v.get("school:classroom", 0.0), "pupil": v["Residual"]})


def test_the_lecture_fits_the_sample_r_fitted():
    v = values("pupils[['school', 'classroom', 'pupil', 'hours', 'experience', 'score']]")
    pd.testing.assert_frame_equal(v["pupils[['school', 'classroom', 'pupil', 'hours', 'experience', 'score']]"], CSV)
    assert "25 schools" in TEXT and "87 classes and 1499 pupils" in TEXT
    sample = simulate_three_level(seed=4)
    counts = sample.schools["n_classes"].value_counts()
    assert (counts[1], counts[5]) == (3, 9) and sample.classes["n"].median() == 17
    assert sample.classes["n"].agg(["min", "max"]).tolist() == [3, 30]


def test_true_variance_shares_and_iccs():
    sample = simulate_three_level(seed=4)
    shares = sample.variances / sample.variances.sum()
    assert_states(TEXT, *((100 * s, ".1f") for s in shares))
    assert_states(TEXT, (sample.icc["school"], ".3f"), (sample.icc["class"], ".3f"))


def test_each_levels_variance_is_lme4s():
    v = values("variances", "icc")
    ref = r_variances("three_level")
    close(v["variances"]["estimate"], ref, RTOL)
    close(v["variances"]["truth"], [16, 9, 64])
    total = ref.sum()
    close(v["icc"]["estimate"], [ref["school"] / total, (ref["school"] + ref["class"]) / total], RTOL)
    assert_states(
        TEXT,
        (ref["school"], ".1f"),
        (ref["class"], ".1f"),
        (ref["pupil"], ".1f"),
        (ref["school"] / total, ".3f"),
        ((ref["school"] + ref["class"]) / total, ".3f"),
    )


def test_profile_intervals_as_the_prose_reads_them():
    table = values("intervals")["intervals"]
    truth = simulate_three_level(seed=4)
    sds = np.sqrt(truth.variances.to_numpy())
    true_values = np.r_[sds, truth.icc.to_numpy()]
    # "Every interval contains its truth."
    assert ((table["ci_low"] < true_values) & (true_values < table["ci_high"])).all()
    assert (table["ci_low"] < table["estimate"]).all() and (table["estimate"] < table["ci_high"]).all()
    width = table["ci_high"] - table["ci_low"]
    assert width["sd school"] > width["sd class"] > width["sd Residual"]  # "each narrower than the one above it"
    above, below = table["ci_high"] - table["estimate"], table["estimate"] - table["ci_low"]
    assert (above.iloc[:2] > below.iloc[:2]).all()  # "the first two reach further above the estimate"
    assert table.loc["sd school", "ci_high"] / table.loc["sd school", "ci_low"] > 2  # "more than twice the lower"
    assert_states(TEXT, *[(end, ".2f") for end in table[["ci_low", "ci_high"]].to_numpy().ravel()])


def test_profile_intervals_are_rs():
    """The lecture's REML profile intervals against the REML profile computed in R, and R's own confint
    (tests/reference/nested_profile_reference.json; test_three_level checks that R still writes it)."""
    table = values("intervals")["intervals"]
    rows = {
        "sd school": "sd_school",
        "sd class": "sd_class",
        "sd Residual": "sigma",
        "ICC school": "icc_school",
        "ICC class": "icc_class",
    }
    for ours, theirs in rows.items():
        close(table.loc[ours].to_numpy(), [PROFILE["reml"][theirs][k] for k in ("estimate", "ci_low", "ci_high")], RTOL)
    assert_states(
        TEXT, (PROFILE["ml"]["ci_low"][0], ".2f"), (PROFILE["ml"]["ci_high"][0], ".2f")
    )  # "school SD 2.64 to 5.50"


def test_fixed_effects_and_satterthwaite_df_are_lmertests():
    v = values("fixed")
    ref = pd.DataFrame(
        {k: LMERTEST["satterthwaite"][k] for k in ("estimate", "std_error", "df", "t")},
        index=["Intercept", "hours_c", "experience_c"],
    )
    close(v["fixed"][ref.columns], ref, 1e-5)
    df = ref["df"]
    assert_states(
        TEXT,
        (df["hours_c"], ".0f"),
        (df["experience_c"], ".0f"),
        (df["Intercept"], ".0f"),
        (ref.loc["hours_c", "estimate"], ".2f"),
        (ref.loc["experience_c", "estimate"], ".3f"),
        (ref.loc["experience_c", "std_error"], ".3f"),
    )
    # "one standard error above its true value": (0.346 - 0.3) / 0.045
    assert round((ref.loc["experience_c", "estimate"] - 0.3) / ref.loc["experience_c", "std_error"]) == 1


def test_ignoring_a_level():
    v = values("errors", "statistic_classes")
    names = {"three levels": "three_level", "schools only": "ignoring_classes", "classes only": "ignoring_schools"}
    for column, model in names.items():
        close(v["errors"][column], LME4[model]["fixed"]["std_error"], 1e-5)
    se = {
        model: dict(zip(["Intercept", "hours", "experience"], LME4[model]["fixed"]["std_error"]))
        for model in names.values()
    }
    drop = 1 - se["ignoring_classes"]["experience"] / se["three_level"]["experience"]
    assert_states(
        TEXT,
        (se["three_level"]["experience"], ".4f"),
        (se["ignoring_classes"]["experience"], ".4f"),
        (100 * drop, ".0f"),
        (se["three_level"]["Intercept"], ".3f"),
        (se["ignoring_schools"]["Intercept"], ".3f"),
    )
    absorbed = r_variances("ignoring_classes")
    assert_states(TEXT, (absorbed["school"], ".1f"), (absorbed["pupil"], ".1f"))
    statistic = 2 * (LME4["three_level"]["loglik"] - LME4["ignoring_classes"]["loglik"])
    close(v["statistic_classes"], statistic, 0, 1e-4)
    assert_states(TEXT, (statistic, ".1f"), (stats.chi2.sf(statistic, 1) / 2, ".1e"))


def test_class_effects_and_their_shrinkage():
    v = values("classes", "sigma2_c", "sigma2")
    classes = v["classes"]
    ref = LME4["three_level"]["effects"]
    close(classes["estimate"], ref["school:classroom"]["estimate"], RTOL, 1e-6)
    # The identity the picture shows: each class's prediction is its own mean times lambda(n).
    lam = v["sigma2_c"] / (v["sigma2_c"] + v["sigma2"] / classes["n"])
    close(classes["estimate"], lam * classes["own mean"], 1e-5, 1e-7)  # lambda from the polished optimum
    assert round(100 * v["sigma2_c"] / (v["sigma2_c"] + v["sigma2"] / 3), -1) == 30  # "about 30%"
    assert round(100 * v["sigma2_c"] / (v["sigma2_c"] + v["sigma2"] / 30), -1) == 80  # "about 80%"
    truth = simulate_three_level(seed=4).classes.set_index("classroom")["u"]
    close(classes["truth"], truth)


def test_predictions_beat_own_means_with_rs_numbers():
    """The lecture's RMSEs, recomputed from lme4's fixed effects and predicted effects."""
    ref = LME4["three_level"]
    data = CSV.assign(
        hours_c=CSV["hours"] - CSV["hours"].mean(), experience_c=CSV["experience"] - CSV["experience"].mean()
    )
    beta = ref["fixed"]["estimate"]
    school = pd.Series(ref["effects"]["school"]["estimate"], index=[int(s) for s in ref["effects"]["school"]["level"]])
    residual = (
        data["score"]
        - beta[0]
        - beta[1] * data["hours_c"]
        - beta[2] * data["experience_c"]
        - school.reindex(data["school"]).to_numpy()
    )
    own = residual.groupby(data["classroom"]).mean()
    predicted = pd.Series(
        ref["effects"]["school:classroom"]["estimate"],
        index=[int(level.split(":")[1]) for level in ref["effects"]["school:classroom"]["level"]],
    )
    truth = simulate_three_level(seed=4).classes.set_index("classroom")["u"]
    rmse_own, rmse_predicted = (np.sqrt(np.mean((x.sort_index() - truth) ** 2)) for x in (own, predicted))
    assert rmse_predicted < rmse_own
    assert_states(TEXT, (rmse_own, ".2f"), (rmse_predicted, ".2f"))


def test_exercise_solutions():
    v = values(
        "pd.Series({seed: class_icc(seed) for seed in range(1, 6)})",
        "float(statistic_schools)",
        "classes.loc[[classes['estimate'].idxmax(), classes['own mean'].idxmax()]]",
    )
    iccs = v["pd.Series({seed: class_icc(seed) for seed in range(1, 6)})"]
    ref = r_variances("three_level")
    close(iccs[4], (ref["school"] + ref["class"]) / ref.sum(), RTOL)  # seed 4 is the lecture's sample
    assert iccs.between(0.2, 0.36).all() and abs(iccs.mean() - 0.281) < 0.03
    assert_states(TEXT, *((x, ".3f") for x in iccs))
    # 10.2: the school variance, from lme4's log-likelihoods.
    statistic = 2 * (LME4["three_level"]["loglik"] - LME4["ignoring_schools"]["loglik"])
    close(v["float(statistic_schools)"], statistic, 0, 1e-4)
    assert_states(TEXT, (statistic, ".1f"), (stats.chi2.sf(statistic, 1) / 2, ".1e"))
    # 10.3: the classes with the largest predicted effect and the largest own mean.
    table = v["classes.loc[[classes['estimate'].idxmax(), classes['own mean'].idxmax()]]"]
    predicted = dict(
        zip(
            LME4["three_level"]["effects"]["school:classroom"]["level"],
            LME4["three_level"]["effects"]["school:classroom"]["estimate"],
        )
    )
    assert max(predicted, key=predicted.get) == "2:5" and table.index.tolist() == [5, 61]
    assert table["n"].tolist() == [30, 8]
    assert_states(
        TEXT,
        (table["estimate"].iloc[0], ".2f"),
        (table["own mean"].iloc[0], ".2f"),
        (table["own mean"].iloc[1], ".2f"),
        (table["estimate"].iloc[1], ".2f"),
        (table["truth"].iloc[1], ".2f"),
    )
