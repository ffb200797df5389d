"""helpers.plots, the GP-lines and shrinkage pictures (notebooks 05-08): lines named at their ends, no overlap."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.colors import to_hex  # noqa: E402
from matplotlib.text import Text  # noqa: E402

from helpers.data import load_gp_cholesterol  # noqa: E402
from helpers.plots import highlight_colours, plot_gp_lines, plot_shrinkage, spread_labels  # noqa: E402

DATA = load_gp_cholesterol()
# Crowded on purpose: twelve parallel lines 0.01 mmol/L apart, whose names must still not overlap.
LINES = pd.DataFrame(
    {"intercept": np.arange(12) * 0.01 + 3, "slope": 0.05}, index=pd.Index(range(1, 13), name="doctor")
)


def test_spread_labels_keeps_order_and_gap_and_moves_only_the_crowded():
    heights = spread_labels([5.0, 1.0, 1.05, 3.0, 1.1], min_gap=0.2)
    assert heights[0] == 5.0 and heights[3] == 3.0  # alone: not moved
    crowded = heights[[1, 2, 4]]
    assert np.all(np.diff(crowded) >= 0.2 - 1e-12)  # same order, one gap apart
    assert np.isclose(crowded.mean(), np.mean([1.0, 1.05, 1.1]))  # centred where they were


def test_gp_lines_span_each_gps_ages_or_start_at_zero():
    ax = plot_gp_lines(DATA, LINES, "t")
    first = DATA[DATA["doctor"] == 1]["age"]
    assert list(ax.lines[0].get_xdata()) == [first.min(), first.max()]
    assert np.allclose(ax.lines[0].get_ydata(), 3 + 0.05 * np.array([first.min(), first.max()]))
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("age (years)", "cholesterol (mmol/L)")
    ax = plot_gp_lines(DATA, LINES, "t", from_zero=True)
    assert all(line.get_xdata()[0] == 0 for line in ax.lines)
    plt.close("all")


def test_every_line_is_named_at_its_end_and_no_two_names_overlap():
    ax = plot_gp_lines(DATA, LINES, "t", highlight=[4, 9])
    names = {t.get_text(): t for t in ax.texts}
    assert set(names) == {f"Dr {k}" for k in range(1, 13)}
    ends = DATA.groupby("doctor")["age"].max()
    for k, end in ends.items():
        assert np.allclose(names[f"Dr {k}"].xy, (end, 3 + 0.01 * (k - 1) + 0.05 * end))  # the stroke starts at the end
    ax.figure.canvas.draw()
    boxes = sorted(
        (Text.get_window_extent(t) for t in names.values()), key=lambda box: box.y0
    )  # the name, not its stroke
    assert all(upper.y0 >= lower.y1 - 0.5 for lower, upper in zip(boxes, boxes[1:]))
    axes_box = ax.get_window_extent()
    assert all(axes_box.x0 <= box.x0 and box.x1 <= axes_box.x1 + 1 for box in boxes)  # inside the axes
    colours = highlight_colours([4, 9])
    assert (
        to_hex(ax.lines[3].get_color()) == colours[4].lower()
        and to_hex(names["Dr 9"].get_color()) == colours[9].lower()
    )
    assert to_hex(ax.lines[0].get_color()) not in {c.lower() for c in colours.values()}
    with pytest.raises(ValueError, match="no GP"):
        plot_gp_lines(DATA, LINES, "t", highlight=[0])
    plt.close("all")


def test_shrinkage_arrows_go_from_own_estimate_to_prediction():
    own = pd.Series([5.0, 7.0], index=[3, 1])
    predicted = pd.Series([6.8, 5.2], index=[1, 3])  # other order: matched by GP, not position
    ax = plot_shrinkage(own, predicted, population=6.0, title="t")
    arrows = [a for a in ax.texts]
    assert [(a.xyann[1], a.xy[1]) for a in arrows] == [(5.0, 5.2), (7.0, 6.8)]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["Dr 3", "Dr 1"]
    plt.close("all")
