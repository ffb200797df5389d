"""Binder: what repo2docker reads in binder/ gives the tested environment, and postBuild installs helpers.

repo2docker itself is not run (it needs Docker and the network); what it does with these files is: install
binder/requirements.txt with pip for the Python of binder/runtime.txt, then run binder/postBuild from the
repository root. The tests check each of those files, and run postBuild in a fresh virtualenv.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
BINDER = ROOT / "binder"


def requirement_lines(path: Path) -> list[str]:
    """The requirements a pip requirements file stands for, following its -r includes as pip does."""
    lines = []
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line.startswith("-r"):
            lines += requirement_lines((path.parent / line[2:].strip()).resolve())
        elif line:
            lines.append(line)
    return lines


def test_binder_installs_exactly_the_pinned_requirements():
    assert requirement_lines(BINDER / "requirements.txt") == requirement_lines(ROOT / "requirements.txt")


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
def test_post_build_installs_helpers_into_a_fresh_environment(tmp_path):
    post_build = BINDER / "postBuild"
    assert os.access(post_build, os.X_OK), "repo2docker runs postBuild only if it is executable"
    env_dir = tmp_path / "fresh"
    subprocess.run([sys.executable, "-m", "venv", str(env_dir)], check=True)
    path = f"{env_dir / 'bin'}{os.pathsep}{os.environ['PATH']}"
    run = subprocess.run([str(post_build)], cwd=ROOT, capture_output=True, text=True, timeout=600,
                         env=dict(os.environ, PATH=path, VIRTUAL_ENV=str(env_dir)))
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    found = subprocess.run([str(env_dir / "bin" / "python"), "-c",
                            "import importlib.util; print(importlib.util.find_spec('helpers').origin)"],
                           capture_output=True, text=True, cwd=tmp_path)
    assert Path(found.stdout.strip()) == ROOT / "helpers" / "__init__.py", found.stdout + found.stderr
