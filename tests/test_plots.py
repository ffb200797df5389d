"""helpers.plots: GP labels in numeric order, twelve distinct styles, the band R's geom_smooth draws."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import statsmodels.formula.api as smf  # noqa: E402

from helpers.data import load_gp_cholesterol  # noqa: E402
from helpers.plots import OKABE_ITO, add_fit, dr_labels, facet_by_gp, gp_styles, scatter_by_gp  # noqa: E402

DATA = load_gp_cholesterol()


def test_labels_keep_numeric_order():
    labels = dr_labels(DATA["doctor"])
    assert list(labels.cat.categories) == [f"Dr {k}" for k in range(1, 13)]  # not Dr 1, Dr 10, Dr 11, ...
    assert (labels.astype(str) == "Dr " + DATA["doctor"].astype(str)).all()


def test_twelve_gps_get_twelve_distinct_styles_from_the_safe_colours():
    colours, markers = gp_styles(dr_labels(DATA["doctor"]).cat.categories)
    assert len({(colours[k], markers[k]) for k in colours}) == 12
    assert set(colours.values()) <= set(OKABE_ITO)


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


def test_gp_plots_label_axes_with_units():
    ax = scatter_by_gp(DATA)
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("age (years)", "cholesterol (mmol/L)")
    grid = facet_by_gp(DATA)
    assert len(grid.axes) == 12 and grid.axes[0].get_title() == "Dr 1"
    assert (grid.figure.get_supxlabel(), grid.figure.get_supylabel()) == ("age (years)", "cholesterol (mmol/L)")
    plt.close("all")
