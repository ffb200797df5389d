"""helpers.likelihood, the engine under helpers.mixed, helpers.boundary and helpers.smallsample: its gradient
and its two forms of the likelihood agree. (R's numbers reach it through tests/test_mixed.py,
test_boundary.py, test_smallsample.py and test_r_datasets.py.)"""

from __future__ import annotations

import numpy as np
import pytest

from helpers.likelihood import Profile, marginal_loglik
from tests.r_reference import close


@pytest.fixture
def design():
    rng = np.random.default_rng(0)
    n = 60
    X = np.column_stack([np.ones(n), rng.normal(size=n), rng.normal(size=n)])
    codes = np.repeat(np.arange(6), 10)
    Y = X @ [1.0, 0.5, -0.3] + rng.normal(size=(3, 6))[:, codes] + rng.normal(size=(3, n))
    return X, X[:, :2], codes, Y


@pytest.mark.parametrize("reml", [True, False])
def test_analytic_gradient_matches_finite_differences(design, reml):
    X, Z, codes, Y = design
    profile = Profile(X, Z, codes, reml)
    stats, idx = profile.statistics(Y), np.arange(len(Y))
    theta = np.array([[0.2, -0.3, -0.5], [1.0, 0.0, 0.4], [0.5, 0.7, 0.0]])  # the last on the boundary
    h = 1e-6
    numeric = np.column_stack([(profile.deviance(theta + e, stats, idx) - profile.deviance(theta - e, stats, idx))
                               / (2 * h) for e in np.eye(3) * h])
    close(profile.deviance(theta, stats, idx, gradient=True)[1], numeric, 1e-5, atol=1e-6)


@pytest.mark.parametrize("reml", [True, False])
def test_profiled_and_marginal_likelihoods_agree(design, reml):
    """Two implementations: per-group sums through (I + G D)^-1, and each group's V factorised."""
    X, Z, codes, Y = design
    profile = Profile(X, Z, codes, reml)
    for theta in ([0.2, -0.3, -0.5], [0.5, 0.7, 0.0]):
        theta = np.array(theta)
        profiled = -profile.deviance(theta[None], profile.statistics(Y[:1]), np.zeros(1, dtype=int))[0] / 2
        close(marginal_loglik(profile, theta, Y[0]), profiled, 1e-10)


def test_no_random_effects_is_the_linear_model(design):
    X, _, codes, Y = design
    profile = Profile(X, X[:, :0], codes, reml=False)
    dev = profile.deviance(np.zeros((len(Y), 0)), profile.statistics(Y), np.arange(len(Y)))
    rss = [np.sum((y - X @ np.linalg.lstsq(X, y, rcond=None)[0]) ** 2) for y in Y]
    n = len(X)
    close(dev, n * (1 + np.log(2 * np.pi * np.array(rss) / n)), 1e-12)
