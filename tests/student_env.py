"""A fresh virtualenv for the tests of what students install (Binder's image, the student's archive), and
the check that what went into it is a student's environment at the tested versions."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Nothing a student installs grades, serves a hub or tests.
NOT_FOR_STUDENTS = ("nbgrader", "dask", "distributed", "jupyterhub", "pytest", "playwright", "sphinx")


def fresh_venv(folder: Path) -> tuple[Path, dict]:
    """A new virtualenv in folder: its python, and an environment that does not lead back to this one."""
    subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True)
    return folder / "bin" / "python", {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}


def check_students_environment(python: Path, env: dict) -> None:
    """The lectures' libraries and JupyterLab are there at requirements.txt's versions; grading and tests not."""
    listing = subprocess.run(
        [str(python), "-m", "pip", "list", "--format=freeze"], capture_output=True, text=True, check=True, env=env
    ).stdout.lower()
    installed = {line.split("==")[0] for line in listing.splitlines()}
    assert {"jupyterlab", "ipykernel", "statsmodels", "seaborn"} <= installed, installed
    assert installed.isdisjoint(NOT_FOR_STUDENTS), installed & set(NOT_FOR_STUDENTS)
    for line in (ROOT / "requirements.txt").read_text().lower().splitlines():
        if "==" in line and line.split("==")[0] in installed:
            assert line in listing.splitlines(), f"{line} is pinned, another version was installed"
