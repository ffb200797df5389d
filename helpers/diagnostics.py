"""Checking a fitted mixed model: residuals, normal QQ plots, and the GPs' league table with its uncertainty.

For a statsmodels ``MixedLMResults`` (``smf.mixedlm(...).fit()``):

- :func:`predicted_effects`: each group's predicted random effects (BLUPs) with their
  conditional standard deviations and prediction intervals, the numbers of lme4's
  ``ranef(fit, condVar = TRUE)``; also the class effects of a nested variance component;
- :func:`residual_plots`: conditional residuals against fitted values and covariates;
- :func:`qq_plots`: normal QQ plots of the residuals and of the predicted effects;
- :func:`caterpillar_plot`: the predicted effects in order with their intervals, the
  "league table" of groups;
- :func:`rank_intervals`: how uncertain each group's place in that table is, by drawing
  the effects from their conditional distribution (fixed seed).

The conditional variance is ``Var(u_k | y)`` at the estimated parameters, as lme4
reports it: it ignores the uncertainty of the fixed effects and of the variances.
"""

from __future__ import annotations

import re

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy import stats

from helpers.mixed import nlme_summary

__all__ = ["predicted_effects", "residual_plots", "qq_plots", "caterpillar_plot", "rank_intervals"]

_COLUMNS = ["group", "term", "unit", "estimate", "cond_sd", "lower", "upper"]
_VC_LABEL = re.compile(r"^(?P<name>.+)\[C\((?P=name)\)\[(?P<level>.+)\]\]$")


def _check_result(result):
    model = getattr(result, "model", None)
    if type(model).__name__ != "MixedLM" or not hasattr(result, "random_effects_cov"):
        raise TypeError(f"expected a fitted statsmodels MixedLM (smf.mixedlm(...).fit()), got {type(result).__name__}")
    return model


def predicted_effects(result, level: float = 0.95) -> pd.DataFrame:
    """One row per predicted random effect: ``group``, ``term``, ``unit``, ``estimate``, ``cond_sd``, ``lower``,
    ``upper``.

    ``term`` is ``Intercept`` for a random intercept, the covariate's name for a
    random slope, or a variance component's name (e.g. ``classroom``); ``unit`` is
    what the effect belongs to: the group, or the variance component's level within
    it. ``lower``/``upper`` are ``estimate -/+ z * cond_sd`` (a ``level`` prediction
    interval for the effect, given the estimated parameters).

    For random effects given by ``re_formula`` the numbers are those at the verified
    optimum of :func:`helpers.mixed.nlme_summary` (a fit that stopped short of an interior
    optimum is refused, as :func:`helpers.mixed.check_fit` refuses it); with variance components
    (``vc_formula``), which that check does not cover, they are statsmodels' own.
    """
    model = _check_result(result)
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, got {level}")
    z = stats.norm.ppf((1 + level) / 2)
    rows = []
    if not model.k_vc:
        report = nlme_summary(result)
        for (group, term), value in report.ranef.stack().items():
            rows.append(
                (
                    group,
                    "Intercept" if term == "(Intercept)" else term,
                    group,
                    value,
                    report.ranef_cond_sd.loc[group, term],
                )
            )
    else:
        intercept = [
            name for name, column in zip(model.data.exog_re_names, np.asarray(model.exog_re).T) if np.all(column == 1)
        ]
        for group in model.group_labels:
            means, cov = result.random_effects[group], result.random_effects_cov[group]
            for name, value in means.items():
                match = _VC_LABEL.match(str(name))
                if match:
                    term, unit = match["name"], _label(match["level"])
                else:
                    term, unit = ("Intercept" if name in intercept else str(name)), group
                rows.append((group, term, unit, float(value), float(np.sqrt(max(cov.loc[name, name], 0.0)))))
    table = pd.DataFrame(rows, columns=_COLUMNS[:5])
    return table.assign(lower=table["estimate"] - z * table["cond_sd"], upper=table["estimate"] + z * table["cond_sd"])


def _label(text: str):
    """A variance component's level as the data had it: a number if it reads as one."""
    try:
        number = float(text)
    except ValueError:
        return text
    return int(number) if number.is_integer() else number


def _one_term(effects: pd.DataFrame, term: str | None) -> tuple[pd.DataFrame, str]:
    terms = list(dict.fromkeys(effects["term"]))
    term = terms[0] if term is None else term
    if term not in terms:
        raise ValueError(f"no random effect {term!r}; the model has {terms}")
    return effects[effects["term"] == term], term


def caterpillar_plot(
    result, term: str | None = None, level: float = 0.95, unit_name: str = "", ax=None, xlabel: str | None = None
):
    """The predicted effects of one ``term`` in increasing order, each with its prediction interval.

    Each row is labelled ``f"{unit_name}{unit}"`` (e.g. ``unit_name="Dr "``). The dotted
    line at zero is the average group. Returns the Axes.
    """
    chosen, term = _one_term(predicted_effects(result, level), term)
    chosen = chosen.sort_values("estimate")
    if ax is None:
        _, ax = plt.subplots(figsize=(6, max(2.5, 0.28 * len(chosen) + 1)))
    rows = np.arange(len(chosen))
    ax.hlines(rows, chosen["lower"], chosen["upper"], color="#0072B2", lw=2)
    ax.plot(chosen["estimate"], rows, "o", color="black", ms=4)
    ax.axvline(0, color="grey", ls=":", lw=1)
    ax.set_yticks(rows, [f"{unit_name}{u}" for u in chosen["unit"]])
    ax.set_xlabel(xlabel or f"predicted {term} effect with {level:.0%} prediction interval")
    return ax


def rank_intervals(
    result, term: str | None = None, n_draws: int = 4000, *, seed: int, level: float = 0.95
) -> pd.DataFrame:
    """Each unit's rank (1 = lowest effect) with a ``level`` interval, from draws of the effects.

    The effects of one ``term`` are drawn ``n_draws`` times from their conditional
    normal distributions (independent across groups, given the estimated parameters)
    and ranked in each draw. Columns: ``estimate``, ``rank`` (of the estimate),
    ``median_rank``, ``rank_low``, ``rank_high``; indexed by unit, in the order of the estimates.
    """
    chosen, _ = _one_term(predicted_effects(result), term)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a whole number >= 0, got {seed!r}")
    rng = np.random.default_rng(seed)
    draws = chosen["estimate"].to_numpy() + chosen["cond_sd"].to_numpy() * rng.standard_normal((n_draws, len(chosen)))
    ranks = draws.argsort(axis=1).argsort(axis=1) + 1
    tail = (1 - level) / 2
    out = pd.DataFrame(
        {
            "estimate": chosen["estimate"].to_numpy(),
            "rank": chosen["estimate"].rank(method="min").astype(int).to_numpy(),
            "median_rank": np.median(ranks, axis=0),
            "rank_low": np.quantile(ranks, tail, axis=0, method="inverted_cdf"),
            "rank_high": np.quantile(ranks, 1 - tail, axis=0, method="inverted_cdf"),
        },
        index=pd.Index(chosen["unit"].to_numpy(), name="unit"),
    )
    return out.sort_values("estimate")


def residual_plots(result, covariates: list[str] = (), lowess: bool = True):
    """Conditional residuals (y minus fixed and predicted random part) against fitted values and each covariate.

    A horizontal band around zero with no trend is what the model assumes; a LOWESS
    curve (``lowess=True``) makes a trend visible. Returns the Figure.
    """
    model = _check_result(result)
    data = model.data.frame
    missing = [c for c in covariates if c not in data.columns]
    if missing:
        raise ValueError(f"unknown covariates {missing}; the model's data has {list(data.columns)}")
    panels = [("fitted values", np.asarray(result.fittedvalues))] + [(c, data[c].to_numpy(float)) for c in covariates]
    resid = np.asarray(result.resid)
    fig, axes = plt.subplots(1, len(panels), figsize=(3.6 * len(panels), 3.2), sharey=True, squeeze=False)
    for ax, (label, x) in zip(axes[0], panels):
        ax.scatter(x, resid, s=8, alpha=0.5, color="#0072B2", edgecolor="none")
        ax.axhline(0, color="grey", lw=1)
        if lowess:
            from statsmodels.nonparametric.smoothers_lowess import lowess as smooth  # noqa: PLC0415

            curve = smooth(resid, x, frac=0.6)
            ax.plot(curve[:, 0], curve[:, 1], color="#D55E00", lw=2)
        ax.set_xlabel(label)
    axes[0, 0].set_ylabel("residual")
    fig.tight_layout()
    return fig


def qq_plots(result, terms: list[str] | None = None):
    """Normal QQ plots: the residuals, and the predicted effects of each random term.

    Points are standardised (divided by their SD) and drawn against standard normal
    quantiles with the identity line; with few groups, expect wobble. Returns the Figure.
    """
    effects = predicted_effects(result)
    terms = list(dict.fromkeys(effects["term"])) if terms is None else list(terms)
    for term in terms:
        _one_term(effects, term)
    samples = [("residuals", np.asarray(result.resid))] + [
        (f"predicted {t} effects", effects.loc[effects["term"] == t, "estimate"].to_numpy()) for t in terms
    ]
    fig, axes = plt.subplots(1, len(samples), figsize=(3.4 * len(samples), 3.2), squeeze=False)
    for ax, (title, values) in zip(axes[0], samples):
        standardised = np.sort((values - values.mean()) / values.std(ddof=1))
        theoretical = stats.norm.ppf((np.arange(1, len(values) + 1) - 0.5) / len(values))
        ax.plot(theoretical, standardised, "o", ms=3 if len(values) > 50 else 5, color="#0072B2")
        limit = np.abs(np.r_[theoretical, standardised]).max() * 1.05
        ax.plot([-limit, limit], [-limit, limit], color="grey", lw=1)
        ax.set_title(f"{title} (n = {len(values)})", fontsize=10)
        ax.set_xlabel("normal quantile")
    axes[0, 0].set_ylabel("standardised value")
    fig.tight_layout()
    return fig
