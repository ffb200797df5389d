"""Comparing simulated null distributions and p-values with R's, within Monte Carlo error.

R's null distributions are kept as a few quantiles, the share of zeros and p-values
(tests/reference/boundary_reference.json). At each of R's quantiles the share of our
sample below it must be R's probability within ``Z_MAX`` standard errors of the
difference of two independent empirical CDFs.
"""

from __future__ import annotations

import numpy as np

Z_MAX = 4.0  # Monte Carlo agreement: within four standard errors


def assert_same_distribution(ours: np.ndarray, theirs: dict) -> None:
    """Our sample against R's summary (``n``, ``share_zero``, ``probs``, ``quantiles``)."""
    n1, n2 = len(ours), theirs["n"]
    zero = np.mean(ours <= 1e-8)
    se = np.sqrt(max(zero * (1 - zero), theirs["share_zero"] * (1 - theirs["share_zero"]), 1 / n1) * (1 / n1 + 1 / n2))
    assert abs(zero - theirs["share_zero"]) < Z_MAX * se, f"share of zeros {zero} vs R's {theirs['share_zero']}"
    for prob, quantile in zip(theirs["probs"], theirs["quantiles"]):
        if quantile <= 1e-8:  # inside R's atom at zero, already compared
            continue
        below = np.mean(ours <= quantile)
        se = np.sqrt(prob * (1 - prob) * (1 / n1 + 1 / n2))
        assert abs(below - prob) < Z_MAX * se, f"{below:.3f} of ours lie below R's {prob:.2f} quantile {quantile:.4g}"


def assert_same_pvalue(p_ours: float, se_ours: float, p_theirs: float, n_theirs: int) -> None:
    se = np.sqrt(se_ours**2 + p_theirs * (1 - p_theirs) / n_theirs)
    assert abs(p_ours - p_theirs) < Z_MAX * max(se, 1 / n_theirs), (p_ours, p_theirs)
