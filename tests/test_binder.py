"""Binder: what repo2docker reads in binder/ gives a student's environment at the tested versions.

repo2docker itself is not run (it needs Docker and the network); what it does with these files is: install
binder/requirements.txt with pip, from the repository root, for the Python of binder/runtime.txt. The tests
check each of those files, and install binder/requirements.txt as repo2docker does into a fresh virtualenv.
"""

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.student_env import check_students_environment, fresh_venv

ROOT = Path(__file__).resolve().parent.parent
BINDER = ROOT / "binder"


def requirement_lines(path: Path) -> list[str]:
    """The lines of a pip requirements file, comments and blank lines left out."""
    return [line for line in (raw.split("#")[0].strip() for raw in path.read_text().splitlines()) if line]


def test_binder_installs_the_students_group_at_the_tested_versions():
    lines = requirement_lines(BINDER / "requirements.txt")
    constraints = [(BINDER / line.removeprefix("-c").strip()).resolve() for line in lines if line.startswith("-c")]
    assert constraints == [ROOT / "requirements.txt"], lines
    assert [line for line in lines if not line.startswith("-c")] == ["-e .[student]"], lines


def test_binder_python_is_the_one_the_course_is_tested_with():
    runtime = (BINDER / "runtime.txt").read_text().strip()
    conda = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda_python = next(d for d in conda["dependencies"] if isinstance(d, str) and d.startswith("python="))
    assert runtime == "python-" + conda_python.removeprefix("python="), (runtime, conda_python)


def test_the_launch_link_opens_a_lecture_that_exists():
    links = re.findall(r"mybinder\.org/v2/gh/[^\s)]*urlpath=lab/tree/([^\s)&]+)", (ROOT / "README.md").read_text())
    assert links, "README.md gives no Binder launch link"
    for path in links:
        assert (ROOT / path).is_file(), f"the Binder link opens {path}, which is not in the repository"


@pytest.mark.slow
def test_binder_requirements_install_a_students_environment(tmp_path):
    python, env = fresh_venv(tmp_path / "fresh")
    # --no-compile: pip's bytecode changes nothing of what is installed, and nothing here imports the libraries
    # (about 40% of pip's CPU time, measured on a two-core machine)
    run = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--no-compile", "-r", "binder/requirements.txt"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
        env=env,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    found = subprocess.run(
        [str(python), "-c", "import importlib.util; print(importlib.util.find_spec('helpers').origin)"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
    )
    assert Path(found.stdout.strip()) == ROOT / "helpers" / "__init__.py", found.stdout + found.stderr
    check_students_environment(python, env)
