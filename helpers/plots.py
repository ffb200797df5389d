"""Small plotting helpers shared by the notebooks: GP labels, GP pictures, fitted lines.

Twelve colours cannot be told apart, so no picture here gives each GP its own colour.
Patients are drawn in grey; a few GPs the text talks about can be highlighted in
Okabe–Ito colours (Okabe & Ito 2008, "Color Universal Design"), each named next to its
points; fitted lines carry their GP's name at their right end.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

AGE = "age (years)"
CHOL = "cholesterol (mmol/L)"
# Okabe–Ito colours, the most distinct first (yellow left out: faint on white).
OKABE_ITO = ["#E69F00", "#0072B2", "#009E73", "#CC79A7", "#D55E00", "#56B4E9"]
BACKGROUND = "0.72"  # the grey of patients and lines not highlighted
LABEL_SIZE = 8


def dr_labels(doctor: pd.Series) -> pd.Series:
    """GP numbers as ordered labels "Dr 1", "Dr 2", … so plots keep the numeric order."""
    order = [f"Dr {k}" for k in sorted(doctor.unique())]
    return pd.Series(pd.Categorical([f"Dr {k}" for k in doctor], categories=order), index=doctor.index, name="GP")


def highlight_colours(highlight) -> dict:
    """A distinct Okabe–Ito colour for each highlighted GP number (at most six)."""
    highlight = list(highlight)
    if len(highlight) > len(OKABE_ITO):
        raise ValueError(
            f"at most {len(OKABE_ITO)} GPs can be highlighted so that each keeps its own colour; got {len(highlight)}"
        )
    if len(set(highlight)) < len(highlight):
        raise ValueError(f"a GP is named twice in highlight={highlight}")
    return {gp: OKABE_ITO[i] for i, gp in enumerate(highlight)}


def _check_gps(data: pd.DataFrame, gps) -> None:
    unknown = sorted(set(gps) - set(data["doctor"]))
    if unknown:
        raise ValueError(f"no GP {unknown} in the data; the GPs are {sorted(data['doctor'].unique())}")


def scatter_highlighting(data: pd.DataFrame, highlight=(), ax=None, x: str = "age", y: str = "chol"):
    """Every patient as a grey point; the patients of the GPs in ``highlight`` (doctor numbers) in colour,
    each GP named beside its points."""

    _check_gps(data, highlight)
    colours = highlight_colours(highlight)
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4.5), layout="constrained")
    rest = data[~data["doctor"].isin(colours)]
    ax.scatter(rest[x], rest[y], s=12, color=BACKGROUND, linewidths=0, label="other GPs")
    for gp, colour in colours.items():
        patients = data[data["doctor"] == gp]
        ax.scatter(patients[x], patients[y], s=16, color=colour, linewidths=0, zorder=3)
        oldest = patients.loc[patients[x].idxmax()]
        ax.annotate(
            f"Dr {gp}",
            (oldest[x], oldest[y]),
            xytext=(5, 0),
            textcoords="offset points",
            color=colour,
            fontsize=LABEL_SIZE + 1,
            fontweight="bold",
            va="center",
        )
    ax.set(xlabel=AGE, ylabel=CHOL)
    return ax


def facet_by_gp(data: pd.DataFrame, height: float = 2.0) -> sns.FacetGrid:
    """One panel per GP ("Dr 1" … "Dr 12"), four to a row, patients as points."""
    grid = sns.FacetGrid(data.assign(GP=dr_labels(data["doctor"])), col="GP", col_wrap=4, height=height, aspect=1.2)
    grid.map_dataframe(sns.scatterplot, x="age", y="chol", s=12, color="0.3")
    grid.set_titles("{col_name}")
    grid.set_axis_labels("", "")
    grid.figure.supxlabel(AGE)  # one label per axis for the whole grid, not one per panel
    grid.figure.supylabel(CHOL)
    return grid


def add_fit(ax, fit, x: str, xlim: tuple[float, float], color: str = "#0072B2", label: str | None = None):
    """Draw an OLS fit's line and its 95% confidence band for the mean (R's geom_smooth(method = "lm"))."""
    grid = pd.DataFrame({x: np.linspace(*xlim, 100)})
    band = fit.get_prediction(grid).summary_frame(alpha=0.05)
    ax.plot(grid[x], band["mean"], color=color, label=label)
    ax.fill_between(grid[x], band["mean_ci_lower"], band["mean_ci_upper"], color=color, alpha=0.25, linewidth=0)
    return ax


# ------------------------------------------------------------------------ fitted lines and shrinkage (notebooks 05-08)


def spread_labels(positions, min_gap: float) -> np.ndarray:
    """Label heights as near as possible to ``positions`` (same order) but at least ``min_gap`` apart.

    Labels too close together are pushed apart symmetrically about the middle of their cluster, so a
    crowded group of line ends gets a readable column of names.
    """
    positions = np.asarray(positions, dtype=float)
    order = np.argsort(positions, kind="stable")
    placed = positions[order].copy()
    clusters = [[i] for i in range(len(placed))]  # indices into placed, merged while they overlap
    centres = list(placed)
    merged = True
    while merged:
        merged = False
        for j in range(len(clusters) - 1):
            top_of_lower = centres[j] + (len(clusters[j]) - 1) * min_gap / 2
            bottom_of_upper = centres[j + 1] - (len(clusters[j + 1]) - 1) * min_gap / 2
            if bottom_of_upper - top_of_lower < min_gap - 1e-12:
                members = clusters[j] + clusters[j + 1]
                clusters[j : j + 2] = [members]
                centres[j : j + 2] = [placed[members].mean()]
                merged = True
                break
    out = np.empty_like(placed)
    for members, centre in zip(clusters, centres):
        out[members] = centre + (np.arange(len(members)) - (len(members) - 1) / 2) * min_gap
    result = np.empty_like(out)
    result[order] = out
    return result


def plot_gp_lines(data: pd.DataFrame, lines: pd.DataFrame, title: str, from_zero: bool = False, ax=None, highlight=()):
    """Patients as grey points and each GP's fitted line, named at its right end.

    ``lines`` has one row per GP (index: doctor number) and columns ``intercept`` and ``slope``.
    A line spans its GP's ages, or starts at age 0 when ``from_zero`` is true (to show where the
    lines meet). GPs in ``highlight`` (doctor numbers, at most six) are drawn in colour, the rest
    in dark grey; names too close together are spaced out and joined to their line by a thin stroke.
    """

    _check_gps(data, highlight)
    colours = highlight_colours(highlight)
    if ax is None:
        _, ax = plt.subplots(figsize=(7.5, 4.5), layout="constrained")
    ax.scatter(data["age"], data["chol"], s=10, color=BACKGROUND, alpha=0.6, linewidths=0)
    for k, patients in data.groupby("doctor"):
        ages = np.array([0 if from_zero else patients["age"].min(), patients["age"].max()])
        ax.plot(
            ages,
            lines.loc[k, "intercept"] + lines.loc[k, "slope"] * ages,
            color=colours.get(k, "0.25"),
            lw=2.2 if k in colours else 1.2,
            zorder=3 if k in colours else 2,
        )
    ax.set(xlabel=AGE, ylabel=CHOL, title=title)
    left, label_x = ax.get_xlim()
    ax.set_xlim(left, label_x + 0.12 * (label_x - left))  # room for the names inside the axes
    ax.figure.canvas.draw()  # the axes' final scale, to turn a label's height into data units
    low, high = ax.get_ylim()
    text_height = (high - low) * 1.25 * LABEL_SIZE / 72 / ax.get_window_extent().height * ax.figure.dpi
    ends = data.groupby("doctor")["age"].max()
    # Names in the order of the lines' heights at the label column, so that strokes to them seldom cross.
    at_labels = lines.loc[ends.index, "intercept"] + lines.loc[ends.index, "slope"] * label_x
    heights = spread_labels(np.clip(at_labels, low + text_height / 2, high - text_height / 2), text_height)
    heights -= max(0, heights.max() - (high - text_height / 2))  # a pushed-out column moves back inside
    for (k, end), y_label in zip(ends.items(), heights):
        colour = colours.get(k, "0.25")
        ax.annotate(
            f"Dr {k}",
            (end, lines.loc[k, "intercept"] + lines.loc[k, "slope"] * end),
            xytext=(label_x, y_label),
            textcoords="data",
            va="center",
            fontsize=LABEL_SIZE,
            color=colour,
            fontweight="bold" if k in colours else "normal",
            annotation_clip=False,
            arrowprops=dict(arrowstyle="-", color="0.6", lw=0.5, shrinkA=0, shrinkB=1),
        )
    ax.set_ylim(low, high)
    return ax


def plot_shrinkage(own: pd.Series, predicted: pd.Series, population: float, title: str, ax=None):
    """Partial pooling: each GP's estimate from its own data (open circle), an arrow to its
    random-effects prediction (filled), and the population value (dashed line).

    ``own`` and ``predicted`` are indexed by doctor number, e.g. each GP's level at one age
    from a fixed-effects fit and from a random-intercept fit. A move shorter than a dot gets no
    arrow (its head would not fit): the two dots then overlap, which says the same.
    """

    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4), layout="constrained")
    x = np.arange(len(own))
    ends = predicted.loc[own.index]
    ax.axhline(population, color="0.4", lw=1, ls="--", label="population (fixed part)")
    ax.scatter(x, own, facecolors="white", edgecolors="0.2", s=40, zorder=3, label="the GP's own data")
    ax.scatter(x, ends, color="#0072B2", s=40, zorder=4, label="prediction (BLUP)")
    values = np.r_[own, ends, population]
    shortest = 0.04 * (values.max() - values.min())
    for xi, start, end in zip(x, own, ends):
        if abs(end - start) > shortest:
            ax.annotate(
                "",
                xy=(xi, end),
                xytext=(xi, start),
                zorder=2,
                arrowprops=dict(arrowstyle="-|>", color="0.3", lw=1.2, shrinkA=4, shrinkB=4),
            )
    ax.margins(y=0.08)  # dots at the extremes stay whole
    ax.set_xticks(x, [f"Dr {k}" for k in own.index], rotation=45)
    ax.set(title=title)
    return ax
