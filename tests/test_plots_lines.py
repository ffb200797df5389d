"""helpers.plots, the additions for notebooks 05-07: GP lines and the shrinkage picture."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from helpers.data import load_gp_cholesterol  # noqa: E402
from helpers.plots import dr_labels, gp_line_styles, gp_styles, plot_gp_lines, plot_shrinkage  # noqa: E402

DATA = load_gp_cholesterol()
LINES = pd.DataFrame({"intercept": np.arange(12) * 0.1 + 3, "slope": 0.05}, index=pd.Index(range(1, 13), name="doctor"))


def test_line_styles_extend_the_point_styles_and_stay_distinct():
    labels = dr_labels(DATA["doctor"]).cat.categories
    styles, (colours, markers) = gp_line_styles(labels), gp_styles(labels)
    assert all(styles[k][:2] == (colours[k], markers[k]) for k in labels)
    assert len({(c, ls) for c, _, ls in styles.values()}) == 12  # lines alone are told apart


def test_gp_lines_span_each_gps_ages_or_start_at_zero():
    ax = plot_gp_lines(DATA, LINES, "t")
    first = DATA[DATA["doctor"] == 1]["age"]
    assert list(ax.lines[0].get_xdata()) == [first.min(), first.max()]
    assert np.allclose(ax.lines[0].get_ydata(), 3 + 0.05 * np.array([first.min(), first.max()]))
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("age (years)", "cholesterol (mmol/L)")
    ax = plot_gp_lines(DATA, LINES, "t", from_zero=True)
    assert all(line.get_xdata()[0] == 0 for line in ax.lines)
    plt.close("all")


def test_shrinkage_arrows_go_from_own_estimate_to_prediction():
    own = pd.Series([5.0, 7.0], index=[3, 1])
    predicted = pd.Series([6.8, 5.2], index=[1, 3])  # other order: matched by GP, not position
    ax = plot_shrinkage(own, predicted, population=6.0, title="t")
    arrows = [a for a in ax.texts]
    assert [(a.xyann[1], a.xy[1]) for a in arrows] == [(5.0, 5.2), (7.0, 6.8)]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["Dr 3", "Dr 1"]
    plt.close("all")
