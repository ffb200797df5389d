"""helpers.plots: GP labels in numeric order, a few GPs highlighted against grey, the band R's geom_smooth draws."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import statsmodels.formula.api as smf  # noqa: E402
from matplotlib.colors import to_hex  # noqa: E402

from helpers.data import load_gp_cholesterol  # noqa: E402
from helpers.plots import (
    BACKGROUND,
    OKABE_ITO,
    add_fit,
    dr_labels,
    facet_by_gp,
    highlight_colours,  # noqa: E402
    scatter_highlighting,
)

DATA = load_gp_cholesterol()


def test_labels_keep_numeric_order():
    labels = dr_labels(DATA["doctor"])
    assert list(labels.cat.categories) == [f"Dr {k}" for k in range(1, 13)]  # not Dr 1, Dr 10, Dr 11, ...
    assert (labels.astype(str) == "Dr " + DATA["doctor"].astype(str)).all()


def test_highlighted_gps_get_distinct_safe_colours_and_at_most_six():
    colours = highlight_colours([8, 2, 12])
    assert list(colours) == [8, 2, 12] and len(set(colours.values())) == 3
    assert set(colours.values()) <= set(OKABE_ITO)
    with pytest.raises(ValueError, match="at most 6"):
        highlight_colours(range(1, 8))
    with pytest.raises(ValueError, match="named twice"):
        highlight_colours([2, 2])


def test_scatter_greys_everyone_but_the_highlighted_gps_and_names_them():
    ax = scatter_highlighting(DATA, highlight=[2, 8])
    grey, *coloured = ax.collections
    assert len(grey.get_offsets()) == (~DATA["doctor"].isin([2, 8])).sum()
    assert to_hex(grey.get_facecolor()[0]) == to_hex(BACKGROUND)
    for gp, points in zip([2, 8], coloured):
        patients = DATA[DATA["doctor"] == gp]
        assert np.array_equal(np.asarray(points.get_offsets()), patients[["age", "chol"]].to_numpy())
        assert to_hex(points.get_facecolor()[0]) == highlight_colours([2, 8])[gp].lower()
    assert [t.get_text() for t in ax.texts] == ["Dr 2", "Dr 8"]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("age (years)", "cholesterol (mmol/L)")
    with pytest.raises(ValueError, match="no GP \\[13\\]"):
        scatter_highlighting(DATA, highlight=[13])
    plt.close("all")


def test_band_is_the_t_interval_of_the_mean():
    fit = smf.ols("chol ~ age", DATA).fit()
    fig, ax = plt.subplots()
    add_fit(ax, fit, "age", (30, 88))
    line, band = ax.lines[0], ax.collections[0].get_paths()[0].vertices
    x = np.asarray(line.get_xdata())
    assert np.allclose(line.get_ydata(), fit.params["Intercept"] + fit.params["age"] * x)
    lower, upper = fit.get_prediction(pd.DataFrame({"age": [30.0]})).conf_int(alpha=0.05)[0]
    at_30 = band[np.isclose(band[:, 0], 30.0), 1]
    assert np.isclose(at_30.min(), lower) and np.isclose(at_30.max(), upper)
    plt.close(fig)


def test_facets_are_one_panel_per_gp_with_units():
    grid = facet_by_gp(DATA)
    assert len(grid.axes) == 12 and grid.axes[0].get_title() == "Dr 1"
    assert (grid.figure.get_supxlabel(), grid.figure.get_supylabel()) == ("age (years)", "cholesterol (mmol/L)")
    plt.close("all")
