"""Rerunning an R reference script and comparing what it writes now with the committed JSON.

The committed numbers are what the Python tests compare with; a rerun on CI (R installed by
.ci/run) must give the same numbers to rounding, or the reference is stale. Floating-point
results may differ in the last digits between machines (BLAS), hence a tolerance, not equality.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

RTOL, ATOL = 1e-6, 1e-10


def rerun(script: Path, folder: Path, *args: str, timeout: int = 600) -> dict:
    """Run ``Rscript script out.json *args`` and return what it wrote."""
    out = folder / "fresh.json"
    run = subprocess.run(["Rscript", str(script), str(out), *args], capture_output=True, text=True, timeout=timeout)
    assert run.returncode == 0, run.stderr
    return json.loads(out.read_text())


def assert_same_numbers(fresh, committed, path: str = "", rtol_of: Callable[[str], float] = lambda path: RTOL) -> None:
    """Equal structure, equal strings, numbers within ATOL or the relative tolerance ``rtol_of`` gives a number's
    path (RTOL unless a test knows a number to be less reproducible); R's and packages' versions are not
    compared."""
    if isinstance(committed, dict):
        keys = committed.keys() - {"versions"}
        assert fresh.keys() - {"versions"} == keys, path
        for key in sorted(keys):
            assert_same_numbers(fresh[key], committed[key], f"{path}.{key}", rtol_of)
    elif isinstance(committed, list):
        assert isinstance(fresh, list) and len(fresh) == len(committed), path
        for i, (a, b) in enumerate(zip(fresh, committed)):
            assert_same_numbers(a, b, f"{path}[{i}]", rtol_of)
    elif isinstance(committed, (int, float)) and not isinstance(committed, bool):
        assert fresh == pytest.approx(committed, rel=rtol_of(path), abs=ATOL), path
    else:
        assert fresh == committed, path
