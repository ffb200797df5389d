"""Small plotting helpers shared by the notebooks: GP labels, colours, fitted lines.

Twelve GPs need twelve styles that stay distinct for colour-blind readers, and no
twelve-colour palette does that on its own, so each GP gets one of six Okabe–Ito
colours (Okabe & Ito 2008, "Color Universal Design") and one of two marker shapes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import seaborn as sns

AGE = "age (years)"
CHOL = "cholesterol (mmol/L)"
OKABE_ITO = ["#E69F00", "#56B4E9", "#009E73", "#0072B2", "#D55E00", "#CC79A7"]  # yellow left out: faint on white
MARKERS = ["o", "^"]


def dr_labels(doctor: pd.Series) -> pd.Series:
    """GP numbers as ordered labels "Dr 1", "Dr 2", … so plots keep the numeric order."""
    order = [f"Dr {k}" for k in sorted(doctor.unique())]
    return pd.Series(pd.Categorical([f"Dr {k}" for k in doctor], categories=order), index=doctor.index, name="GP")


def gp_styles(labels) -> tuple[dict, dict]:
    """(colour, marker) dictionaries keyed by GP label, the pair unique for up to 12 GPs."""
    labels = list(labels)
    colours = {lab: OKABE_ITO[i % len(OKABE_ITO)] for i, lab in enumerate(labels)}
    markers = {lab: MARKERS[(i // len(OKABE_ITO)) % len(MARKERS)] for i, lab in enumerate(labels)}
    return colours, markers


def scatter_by_gp(data: pd.DataFrame, ax=None, x: str = "age", y: str = "chol"):
    """Patients as points, colour and shape by GP, legend outside the axes."""
    gp = dr_labels(data["doctor"])
    colours, markers = gp_styles(gp.cat.categories)
    ax = sns.scatterplot(x=data[x], y=data[y], hue=gp, style=gp, palette=colours, markers=markers, ax=ax)
    sns.move_legend(ax, "upper left", bbox_to_anchor=(1.01, 1), ncols=2, title="GP", frameon=False)
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


# ----------------------------------------------------------------------------- fitted lines and shrinkage (notebooks 05-07)

LINESTYLES = ["-", "--"]  # the second six GPs reuse the first six colours, so their lines are dashed


def gp_line_styles(labels) -> dict:
    """(colour, marker, line style) keyed by GP label: gp_styles plus a dashed line for GPs 7-12."""
    colours, markers = gp_styles(labels)
    return {lab: (colours[lab], markers[lab], LINESTYLES[(i // len(OKABE_ITO)) % len(LINESTYLES)])
            for i, lab in enumerate(labels)}


def plot_gp_lines(data: pd.DataFrame, lines: pd.DataFrame, title: str, from_zero: bool = False, ax=None):
    """Patients as points and each GP's fitted line, in the GP's colour, marker and line style.

    ``lines`` has one row per GP (index: doctor number) and columns ``intercept`` and
    ``slope``. A line spans its GP's ages, or starts at age 0 when ``from_zero`` is true
    (to show where the lines meet).
    """
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    if ax is None:
        _, ax = plt.subplots(figsize=(7.5, 4.5), layout="constrained")
    styles = gp_line_styles(dr_labels(data["doctor"]).cat.categories)
    handles = []
    for k, patients in data.groupby("doctor"):
        colour, marker, dash = styles[f"Dr {k}"]
        ages = np.array([0 if from_zero else patients["age"].min(), patients["age"].max()])
        ax.scatter(patients["age"], patients["chol"], s=12, alpha=0.45, color=colour, marker=marker, linewidths=0)
        ax.plot(ages, lines.loc[k, "intercept"] + lines.loc[k, "slope"] * ages, color=colour, ls=dash, lw=1.6)
        handles.append(Line2D([], [], color=colour, marker=marker, ls=dash, label=f"Dr {k}"))
    ax.set(xlabel=AGE, ylabel=CHOL, title=title)
    ax.legend(handles=handles, ncols=2, fontsize=8, title="GP", frameon=False, loc="upper left",
              bbox_to_anchor=(1.01, 1))
    return ax


def plot_shrinkage(own: pd.Series, predicted: pd.Series, population: float, title: str, ax=None):
    """Partial pooling: each GP's own estimate (open circle), an arrow to its random-effects
    prediction (filled), and the population value (dashed line).

    ``own`` and ``predicted`` are indexed by doctor number, e.g. each GP's level at one age
    from a fixed-effects fit and from a random-intercept fit.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4), layout="constrained")
    x = np.arange(len(own))
    ax.axhline(population, color="0.4", lw=1, ls="--", label="population (fixed part)")
    ax.scatter(x, own, facecolors="white", edgecolors="0.2", s=40, zorder=3, label="fixed effect (own data)")
    ax.scatter(x, predicted.loc[own.index], color="#0072B2", s=40, zorder=4, label="random effect (BLUP)")
    for xi, start, end in zip(x, own, predicted.loc[own.index]):
        ax.annotate("", xy=(xi, end), xytext=(xi, start), arrowprops=dict(arrowstyle="->", color="0.3", lw=1))
    ax.set_xticks(x, [f"Dr {k}" for k in own.index], rotation=45)
    ax.set(title=title)
    return ax
