"""Checks used by the graded exercises' test cells.

Every failure raises ``AssertionError`` with a message that names the answer
and says what is wrong, without printing the reference value, so the message
can be shown in feedback. ``mistakes`` maps a description of a common error to
the value that error would produce; an answer near one of them is told which.
"""

from __future__ import annotations

from numbers import Real

import numpy as np
import pandas as pd

__all__ = ["check_number", "check_close", "check_frame", "check_series"]


def check_number(value, name: str, low: float = -np.inf, high: float = np.inf) -> None:
    """``value`` is one finite real number (a 1-element array or a numpy scalar counts) in [low, high].

    Like every check here it returns None: nbgrader would read a number shown by a test cell as partial credit.
    """
    if isinstance(value, (pd.Series, pd.DataFrame, np.ndarray)) and np.size(value) == 1:
        value = np.asarray(value).reshape(-1)[0]
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (Real, np.number)):
        raise AssertionError(f"{name} should be a single number, not {type(value).__name__}")
    value = float(value)
    if not np.isfinite(value):
        raise AssertionError(f"{name} is {value}; it should be a finite number")
    if not low <= value <= high:
        raise AssertionError(f"{name} = {value:.6g} is outside the plausible range [{low:g}, {high:g}]")


def check_close(
    value, reference, name: str, rtol: float = 1e-3, atol: float = 0.0, mistakes: dict[str, object] | None = None
) -> None:
    """``value`` agrees with ``reference`` within ``atol + rtol * |reference|`` elementwise."""
    got = np.asarray(value, dtype=float)
    want = np.asarray(reference, dtype=float)
    if got.shape != want.shape:
        raise AssertionError(f"{name} has shape {got.shape}; it should have shape {want.shape}")
    if np.allclose(got, want, rtol=rtol, atol=atol):
        return
    for description, wrong in (mistakes or {}).items():
        wrong = np.asarray(wrong, dtype=float)
        if wrong.shape == got.shape and np.allclose(got, wrong, rtol=rtol, atol=atol):
            raise AssertionError(f"{name} looks like {description}; please check your method")
    shown = f"{float(got):.6g}" if got.ndim == 0 else "these values"
    raise AssertionError(
        f"{name} = {shown} is not the expected value "
        f"(tolerance: relative {rtol:g}, absolute {atol:g}); please check your method"
    )


def check_frame(frame, name: str, columns: list[str], index=None, index_name: str | None = None) -> None:
    """A DataFrame holding (at least) ``columns``, indexed by ``index`` (any order) if given."""
    if not isinstance(frame, pd.DataFrame):
        raise AssertionError(f"{name} should be a pandas DataFrame, not {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise AssertionError(f"{name} is missing column(s) {missing}; it has {list(frame.columns)}")
    if index is not None:
        _check_index(frame.index, index, name)
    if index_name is not None and frame.index.name != index_name:
        raise AssertionError(f"{name}'s index should be named {index_name!r}, not {frame.index.name!r}")


def check_series(series, name: str, index=None) -> None:
    """A numeric Series indexed by ``index`` (any order) if given."""
    if not isinstance(series, pd.Series):
        raise AssertionError(f"{name} should be a pandas Series, not {type(series).__name__}")
    if not pd.api.types.is_numeric_dtype(series):
        raise AssertionError(f"{name} should hold numbers, not {series.dtype}")
    if index is not None:
        _check_index(series.index, index, name)


def _check_index(found, expected, name: str) -> None:
    expected = list(expected)
    if len(found) != len(expected) or set(found.tolist()) != set(expected):
        raise AssertionError(
            f"{name} should have one row for each of {len(expected)} groups "
            f"({expected[:3]}...), it has {len(found)} rows ({list(found[:3])}...)"
        )
