"""Build what a student installs: ``python grading/student/build.py`` (what ``make student`` runs) writes into
``_build/student/``:

- ``random_effects_course_student-<version>-py3-none-any.whl``: the package ``helpers`` with the data inside
  it (``helpers/datasets/``), requiring what a student needs: pyproject.toml's core dependencies and its
  ``student`` group;
- ``random-effects-course-student-<version>.zip``: that wheel, the lectures (``notebooks/``), the released
  assignments (``assignments/<name>/``, made by ``nbgrader generate_assignment`` from a copy of
  grading/course, so without solutions or hidden tests), ``constraints.txt`` (requirements.txt: the tested
  versions), the licences and the students' README (grading/student/README.md: how to install, on Linux, macOS or
  Windows).

Nothing of grading/course/source/ is shipped: the build refuses a file holding a solution or hidden-test
marker.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "_build" / "student"
NAME = "random-effects-course-student"
DATA_FILES = ["gp_cholesterol.csv", "gp_cholesterol.yml", "gp_cholesterol.md", "handout_targets.csv"]
LICENCES = ["LICENSE", "LICENSE-CONTENT"]
# What nbgrader's release must have removed (the markers of solutions, hidden tests and the marking guide).
LEAK_MARKERS = ("BEGIN SOLUTION", "BEGIN HIDDEN TESTS", "Marking guide", "_reference")
COURSE_GENERATED = (
    "release",
    "submitted",
    "autograded",
    "feedback",
    "gradebook.db",
    "grades.csv",
    ".nbgrader.log",
    ".grade",
    "__pycache__",
)


def project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def student_requirements(metadata: dict) -> list[str]:
    """The core dependencies and the student group (which names no other group)."""
    return metadata["dependencies"] + metadata["optional-dependencies"]["student"]


def pyproject_text(metadata: dict) -> str:
    requirements = "".join(f'    "{r}",\n' for r in student_requirements(metadata))
    return (
        f'[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n\n'
        f'[project]\nname = "{NAME}"\nversion = "{metadata["version"]}"\n'
        f'description = "{metadata["description"]}: what a student installs"\n'
        f'readme = "README.md"\nrequires-python = "{metadata["requires-python"]}"\n'
        f'license = {{ text = "{metadata["license"]["text"]}" }}\ndependencies = [\n{requirements}]\n\n'
        f'[tool.setuptools]\npackages = ["helpers"]\n\n'
        f'[tool.setuptools.package-data]\nhelpers = ["datasets/*"]\n'
    )


def build_wheel(metadata: dict, work: Path, out: Path) -> Path:
    stage = work / "wheel"
    shutil.copytree(ROOT / "helpers", stage / "helpers", ignore=shutil.ignore_patterns("__pycache__"))
    (stage / "helpers" / "datasets").mkdir()
    for name in DATA_FILES:
        shutil.copy2(ROOT / "datasets" / name, stage / "helpers" / "datasets" / name)
    shutil.copy2(ROOT / "grading" / "student" / "README.md", stage / "README.md")
    (stage / "pyproject.toml").write_text(pyproject_text(metadata))
    # The build backend of this environment, without a download: setuptools comes with every venv.
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--wheel-dir",
            str(out),
            str(stage),
        ],
        check=True,
    )
    (wheel,) = out.glob(f"{NAME.replace('-', '_')}-{metadata['version']}-*.whl")
    return wheel


def released_assignments(work: Path) -> Path:
    """``nbgrader generate_assignment`` for every assignment, in a copy of the course; its release/ folder."""
    course = work / "course"
    shutil.copytree(ROOT / "grading" / "course", course, ignore=shutil.ignore_patterns(*COURSE_GENERATED))
    bin_dir = Path(sys.executable).parent  # nbgrader runs alembic from PATH
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    for assignment in sorted(p.name for p in (course / "source").iterdir() if p.is_dir()):
        run = subprocess.run(
            [str(bin_dir / "nbgrader"), "generate_assignment", assignment],
            cwd=course,
            env=env,
            capture_output=True,
            text=True,
        )
        if run.returncode:
            raise SystemExit(f"nbgrader generate_assignment {assignment} failed:\n{run.stderr[-3000:]}")
    return course / "release"


def refuse_leaks(folder: Path) -> None:
    for path in sorted(folder.rglob("*.ipynb")):
        text = path.read_text(encoding="utf-8")
        found = [marker for marker in LEAK_MARKERS if marker in text]
        if found:
            raise SystemExit(f"{path.relative_to(folder)} holds {found}: the release would give away answers")


def build(out: Path = OUT) -> tuple[Path, Path]:
    """The wheel and the archive, in out (emptied first)."""
    metadata = project()
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    top = f"{NAME}-{metadata['version']}"
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        wheel = build_wheel(metadata, work, out)
        folder = work / top
        shutil.copytree(
            ROOT / "notebooks", folder / "notebooks", ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__")
        )
        shutil.copytree(released_assignments(work), folder / "assignments")
        refuse_leaks(folder / "assignments")
        shutil.copy2(wheel, folder / wheel.name)
        shutil.copy2(ROOT / "requirements.txt", folder / "constraints.txt")
        shutil.copy2(ROOT / "grading" / "student" / "README.md", folder / "README.md")
        for name in LICENCES:
            shutil.copy2(ROOT / name, folder / name)
        archive = out / f"{top}.zip"
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
            for path in sorted(folder.rglob("*")):
                if path.is_file():
                    zipped.write(path, path.relative_to(work).as_posix())
    return wheel, archive


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT, help="the folder to write into (emptied first)")
    args = parser.parse_args(argv)
    for path in build(args.out):
        print(path)


if __name__ == "__main__":
    main()
