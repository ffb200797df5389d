"""What some tests need from outside Python (R, Chromium, root), and what happens when it is missing.

On a developer's machine a test whose prerequisite is missing skips and says why. On CI (the environment
variable CI set) nothing may skip: .ci/run installs every prerequisite, so a missing one is a failure.
A test declares its need with a marker (``needs_r``, ``needs_chromium``, ``needs_root``), which
``check_prerequisites`` reads before the test runs; ``mark_whole_folders`` marks what is slow or needs a
program by where it lives. tests/conftest.py calls both.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

BROWSER_TESTS = Path(__file__).resolve().parent / "browser"


def missing(reason: str):
    """Skip the current test, saying why; on CI, fail it instead."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so this test may not skip)", pytrace=False)
    pytest.skip(reason)


def chromium_executable() -> str | None:
    return shutil.which("chromium") or next(
        (p for p in ("/usr/bin/chromium", "/usr/bin/chromium-browser") if os.access(p, os.X_OK)), None
    )


# marker: (is the prerequisite here?, what to say when it is not)
PREREQUISITES = {
    "needs_r": (
        lambda: shutil.which("Rscript") is not None,
        "Rscript is not installed (Debian: r-base-core r-cran-nlme r-cran-lme4 r-cran-jsonlite, as in .ci/run)",
    ),
    "needs_chromium": (
        lambda: chromium_executable() is not None,
        "no Chromium installed (Debian: apt-get install chromium)",
    ),
    "needs_root": (lambda: os.geteuid() == 0, "the grading sandbox needs root (it makes users and namespaces)"),
}


def mark_whole_folders(items) -> None:
    for item in items:
        path = Path(item.path)
        if path.suffix == ".ipynb":  # a cell of a notebook, which runs whole in a kernel
            item.add_marker(pytest.mark.slow)
        elif BROWSER_TESTS in path.parents:  # each starts JupyterLab and drives Chromium
            item.add_marker(pytest.mark.slow)
            item.add_marker(pytest.mark.needs_chromium)


def check_prerequisites(item) -> None:
    for marker, (present, reason) in PREREQUISITES.items():
        if item.get_closest_marker(marker) and not present():
            missing(reason)
