"""helpers.likelihood, the engine under helpers.mixed, helpers.boundary and helpers.smallsample: its gradient
and its two forms of the likelihood agree. (R's numbers reach it through tests/test_mixed.py,
test_boundary.py, test_smallsample.py and test_r_datasets.py.)"""

from __future__ import annotations

import numpy as np
import pytest

from helpers.likelihood import Profile, ResponseProfile
from tests.r_reference import close


def _data():
    rng = np.random.default_rng(0)
    n = 60
    X = np.column_stack([np.ones(n), rng.normal(size=n), rng.normal(size=n)])
    codes = np.repeat(np.arange(6), 10)
    Y = X @ [1.0, 0.5, -0.3] + rng.normal(size=(3, 6))[:, codes] + rng.normal(size=(3, n))
    return X, codes, Y


# A random slope; a random intercept with classes nested in the groups (a variance component of 2 or 3 classes
# a group, its columns padded with zeros to 3); and two components. theta's rows: the last on the boundary.
CLASSES = np.r_[np.tile(np.repeat([0, 1, 2], [4, 3, 3]), 3), np.tile(np.repeat([0, 1], 5), 3)]
NESTED = np.column_stack([CLASSES == c for c in range(3)]).astype(float)
MODELS = {
    "slope": (lambda X: X[:, :2], (), [[0.2, -0.3, -0.5], [1.0, 0.0, 0.4], [0.5, 0.7, 0.0]]),
    "nested": (lambda X: np.column_stack([X[:, 0], NESTED]), (3,), [[0.2, 0.8], [1.0, 0.3], [0.5, 0.0]]),
    "two components": (
        lambda X: np.column_stack([X[:, 0], NESTED, X[:, 1:2]]),
        (3, 1),
        [[0.2, 0.8, 0.3], [1.0, 0.3, 0.1], [0.5, 0.0, 0.6]],
    ),
}


@pytest.mark.parametrize("reml", [True, False])
@pytest.mark.parametrize("model", MODELS)
def test_analytic_gradient_matches_finite_differences(model, reml):
    X, codes, Y = _data()
    columns, components, theta = MODELS[model]
    profile = Profile(X, columns(X), codes, reml, components)
    stats, idx, theta = profile.statistics(Y), np.arange(len(Y)), np.array(theta)
    h = 1e-6
    numeric = np.column_stack(
        [
            (profile.deviance(theta + e, stats, idx) - profile.deviance(theta - e, stats, idx)) / (2 * h)
            for e in np.eye(theta.shape[1]) * h
        ]
    )
    close(profile.deviance(theta, stats, idx, gradient=True)[1], numeric, 1e-5, atol=1e-6)


@pytest.mark.parametrize("reml", [True, False])
@pytest.mark.parametrize("model", MODELS)
def test_profiled_and_marginal_likelihoods_agree(model, reml):
    """Two implementations: per-group sums through (I + G D)^-1, and each group's V factorised; the profiled
    likelihood, and the likelihood at a residual variance other than the profiled one."""
    X, codes, Y = _data()
    columns, components, thetas = MODELS[model]
    problem = ResponseProfile(Y[0], X, columns(X), codes, reml, components)
    for theta in thetas:
        theta = np.array(theta)
        psi = problem.covariances(theta)
        close(problem.moments(psi)[1], problem.loglik(theta), 1e-10)
        for factor in (0.5, 2.0):
            held = -problem.engine.deviance(
                theta[None], problem.stats, np.zeros(1, dtype=int), sigma2=factor * psi[-1:]
            )
            close(problem.moments(factor * psi)[1], held[0] / 2, 1e-10)


def test_no_random_effects_is_the_linear_model():
    X, codes, Y = _data()
    profile = Profile(X, X[:, :0], codes, reml=False)
    dev = profile.deviance(np.zeros((len(Y), 0)), profile.statistics(Y), np.arange(len(Y)))
    rss = [np.sum((y - X @ np.linalg.lstsq(X, y, rcond=None)[0]) ** 2) for y in Y]
    n = len(X)
    close(dev, n * (1 + np.log(2 * np.pi * np.array(rss) / n)), 1e-12)
