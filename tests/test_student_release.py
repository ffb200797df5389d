"""What a student installs (`make student`, grading/student/build.py): the wheel of helpers with the data inside, and
the archive with the lectures and the released assignments. Built once into a temporary folder; the slow test
installs it into a fresh virtualenv, away from the repository, and runs the first lecture there."""

import importlib.util
import io
import re
import subprocess
import zipfile
from pathlib import Path

import nbformat
import pytest

from tests.student_env import NOT_FOR_STUDENTS, check_students_environment, fresh_venv

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("student_build", ROOT / "grading" / "student" / "build.py")
student_build = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(student_build)

SOURCES = sorted((ROOT / "grading" / "course" / "source").glob("*/*.ipynb"))
GIVEN_AWAY = re.compile(r"### BEGIN (SOLUTION|HIDDEN TESTS)\n(.*?)### END \1", re.S)
FIRST_LECTURE = "notebooks/01-why-iid-matters.ipynb"

pytestmark = pytest.mark.slow  # the build releases every assignment with nbgrader


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("student")
    wheel, archive = student_build.build(out)
    unpacked = out / "unpacked"
    with zipfile.ZipFile(archive) as zipped:
        zipped.extractall(unpacked)
    (folder,) = unpacked.iterdir()
    return wheel, archive, folder


def given_away_lines() -> dict[str, str]:
    """{line: assignment} of every solution and hidden-test line that appears nowhere else in its source."""
    found = {}
    for path in SOURCES:
        cells = nbformat.read(path, as_version=4).cells
        rest = "\n".join(GIVEN_AWAY.sub("", cell.source) for cell in cells)
        for block in (b for cell in cells for b in GIVEN_AWAY.finditer(cell.source)):
            for line in block.group(2).splitlines():
                if len(line.strip()) > 12 and line.strip() not in rest:
                    found[line.strip()] = path.parent.name
    return found


def texts_inside(archive: Path) -> dict[str, str]:
    """{name: text} of every file of the archive, the wheel's files included."""
    texts = {}
    with zipfile.ZipFile(archive) as zipped:
        for name in zipped.namelist():
            data = zipped.read(name)
            if name.endswith(".whl"):
                with zipfile.ZipFile(io.BytesIO(data)) as wheel:
                    texts |= {
                        f"{name}/{inner}": wheel.read(inner).decode("utf-8", "replace") for inner in wheel.namelist()
                    }
            else:
                texts[name] = data.decode("utf-8", "replace")
    return texts


def test_the_archive_holds_the_lectures_the_released_assignments_and_the_wheel(built):
    wheel, archive, folder = built
    assert sorted(p.name for p in (folder / "notebooks").glob("*.ipynb")) == sorted(
        p.name for p in (ROOT / "notebooks").glob("*.ipynb")
    )
    assert sorted(p.relative_to(folder / "assignments") for p in (folder / "assignments").glob("*/*.ipynb")) == sorted(
        p.relative_to(ROOT / "grading" / "course" / "source") for p in SOURCES
    )
    assert (folder / wheel.name).read_bytes() == wheel.read_bytes()
    assert (folder / "constraints.txt").read_text() == (ROOT / "requirements.txt").read_text()
    for name in ("README.md", "LICENSE", "LICENSE-CONTENT"):
        assert (folder / name).is_file(), name


def test_the_wheel_is_helpers_with_the_data_and_nothing_of_grading(built):
    wheel, _, _ = built
    with zipfile.ZipFile(wheel) as zipped:
        names = zipped.namelist()
        metadata = zipped.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    packages = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert packages == {"helpers"}
    for data in student_build.DATA_FILES:
        assert f"helpers/datasets/{data}" in names
    required = {
        re.match(r"Requires-Dist: ([A-Za-z0-9_.\-]+)", line).group(1).lower()
        for line in metadata.splitlines()
        if line.startswith("Requires-Dist:")
    }
    assert {"jupyterlab", "statsmodels", "seaborn"} <= required
    assert required.isdisjoint(NOT_FOR_STUDENTS), required


def test_no_solution_or_hidden_test_is_inside(built):
    _, archive, _ = built
    texts = texts_inside(archive)
    assert not [name for name in texts if "/source/" in name or name.endswith(("gradebook.db", ".nbgrader.log"))]
    secret = given_away_lines()
    assert len(secret) > 20, "the sources' solutions should have been found"  # the check would pass vacuously
    # the lectures and helpers may share a line of code with a solution; the assignments may not
    released = {name: text for name, text in texts.items() if "/assignments/" in name}
    leaked = {
        f"{line!r} ({secret[line]}) in {name}" for name, text in released.items() for line in secret if line in text
    }
    assert not leaked, "\n".join(sorted(leaked))


def test_the_build_refuses_a_release_that_gives_answers_away(tmp_path):
    nb = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell("### BEGIN HIDDEN TESTS\nassert x == 1\n### END HIDDEN TESTS")]
    )
    (tmp_path / "a").mkdir()
    nbformat.write(nb, tmp_path / "a" / "a.ipynb")
    with pytest.raises(SystemExit, match="BEGIN HIDDEN TESTS"):
        student_build.refuse_leaks(tmp_path)


def test_a_fresh_environment_installs_it_and_runs_the_first_lecture(built, tmp_path):
    _, _, folder = built
    env_dir = tmp_path / "venv"
    python, env = fresh_venv(env_dir)
    # what grading/student/README.md tells a student to run, in the unpacked folder
    install = subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "-c",
            "constraints.txt",
            "--find-links",
            ".",
            student_build.NAME,
        ],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert install.returncode == 0, install.stderr[-4000:]
    check_students_environment(python, env)

    loaded = subprocess.run(
        [str(python), "-c", "import helpers.data as d; print(d.DATASETS_DIR); print(len(d.load_gp_cholesterol()))"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    where, rows = loaded.stdout.split()
    assert Path(where).is_relative_to(env_dir) and rows == "441", loaded.stdout + loaded.stderr

    run = subprocess.run(
        [
            str(python),
            "-c",
            "import sys, nbformat, nbclient; "
            "nb = nbformat.read(sys.argv[1], as_version=4); "
            "nbclient.NotebookClient(nb, timeout=900, kernel_name='python3', "
            "resources={'metadata': {'path': 'notebooks'}}).execute(); "
            "nbformat.write(nb, sys.argv[2])",
            FIRST_LECTURE,
            str(tmp_path / "ran.ipynb"),
        ],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert run.returncode == 0, run.stderr[-4000:]
    ran = nbformat.read(tmp_path / "ran.ipynb", as_version=4)
    stored = nbformat.read(ROOT / FIRST_LECTURE, as_version=4)
    assert [len(c.outputs) for c in ran.cells if c.cell_type == "code"] == [
        len(c.outputs) for c in stored.cells if c.cell_type == "code"
    ]
