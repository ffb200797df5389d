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
