"""Moodle and Canvas (grading/lms.py): their downloads collected by nbgrader's zip_collect, grades filled into
the sheets they export, feedback named for their bulk upload. The archives and sheets here are laid out as
the platforms lay them out (see grading/lms.py's docstring); the slow test grades such a class end to end."""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

import nbformat
import pytest

import grading_fixtures as fx
from grading import lms
from tests.test_grading import copy_course, nbgrader, notebook_of, read_nb

A = "structure_and_pooling"
NOTEBOOK = f"{A}.ipynb"


@pytest.mark.parametrize(
    "platform, path, student, prefix, file",
    [
        (
            "moodle",
            f"Ada Lovelace_104857_assignsubmission_file_/{NOTEBOOK}",
            "104857",
            "Ada Lovelace_104857_assignsubmission_file_/",
            NOTEBOOK,
        ),
        (
            "moodle",
            f"Jean-Luc O'Neil_20_assignsubmission_file_{A} (1).ipynb",
            "20",
            "Jean-Luc O'Neil_20_assignsubmission_file_",
            f"{A} (1).ipynb",
        ),
        ("canvas", f"lovelaceada_4711_991001_{NOTEBOOK}", "4711", "lovelaceada_4711_991001_", NOTEBOOK),
        (
            "canvas",
            f"babbagecharles_LATE_4712_991002_{A}-1.ipynb",
            "4712",
            "babbagecharles_LATE_4712_991002_",
            f"{A}-1.ipynb",
        ),
    ],
)
def test_the_student_and_file_are_read_from_the_platforms_names(platform, path, student, prefix, file):
    assert lms.parse(platform, path) == lms.Download(path, student, prefix, file)


@pytest.mark.parametrize(
    "platform, path",
    [
        ("moodle", NOTEBOOK),
        ("moodle", f"Ada_x_assignsubmission_file_/{NOTEBOOK}"),
        ("canvas", NOTEBOOK),
        ("canvas", f"lovelaceada_{NOTEBOOK}"),
        ("canvas", f"Ada Lovelace_104857_assignsubmission_file_/{NOTEBOOK}"),
    ],
)
def test_a_name_the_platform_does_not_give_is_not_read(platform, path):
    assert lms.parse(platform, path) is None


def test_the_platforms_renaming_is_undone():
    assert lms.released_name(f"{A}-2.ipynb", [NOTEBOOK]) == NOTEBOOK
    assert lms.released_name("my work.ipynb", [NOTEBOOK]) == NOTEBOOK  # the only notebook of the assignment
    two = ["part_a.ipynb", "part_b.ipynb"]
    assert lms.released_name("part_b-1.ipynb", two) == "part_b.ipynb"
    assert lms.released_name("part_a (3).ipynb", two) == "part_a.ipynb"
    assert lms.released_name("other.ipynb", two) == "other.ipynb"


GRADES_HEADER = (
    "assignment,duedate,timestamp,student_id,last_name,first_name,email,raw_score,"
    "late_submission_penalty,score,max_score\n"
)


def grades_csv(folder: Path, scores: dict[str, float], max_score: float = 16.0) -> Path:
    """nbgrader export's grades.csv (its columns), for the assignment and one other."""
    path = folder / "grades.csv"
    path.write_text(
        GRADES_HEADER
        + "".join(f"{A},,,{s},,,,{v},0.0,{v},{max_score}\n" for s, v in scores.items())
        + "random_intercepts,,,104857,,,,23.0,0.0,23.0,23.0\n"
    )
    return path


def read_rows(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_moodles_worksheet_gets_the_grades_on_its_scale(tmp_path):
    sheet = tmp_path / "Grades-Course-Assignment 1.csv"
    sheet.write_text(
        '\ufeffIdentifier,"Full name","Email address",Status,Grade,"Maximum Grade",'
        '"Grade can be changed","Last modified (submission)","Last modified (grade)",'
        '"Feedback comments"\n'
        '"Participant 104857","Ada Lovelace",ada@example.org,"Submitted for grading",,100.00,Yes,'
        '"Monday, 7 December 2026, 9:00 AM",-,\n'
        '"Participant 20","Jean-Luc O\'Neil",jl@example.org,"No submission",,100.00,Yes,-,-,\n',
        encoding="utf-8",
    )
    out = tmp_path / "filled.csv"
    assert lms.fill_sheet("moodle", sheet, grades_csv(tmp_path, {"104857": 12.0}), A, out) == 1
    rows = read_rows(out)
    assert [r["Grade"] for r in rows] == ["75.00", ""]  # 12 of 16 is 75 of 100; no submission: left blank
    assert [r["Identifier"] for r in rows] == ["Participant 104857", "Participant 20"]
    assert list(rows[0]) == next(csv.reader(io.StringIO(sheet.read_text(encoding="utf-8-sig"))))


def test_canvass_gradebook_gets_the_grades_in_the_assignments_column(tmp_path):
    column = "Assignment 1: structure and pooling (88123)"
    sheet = tmp_path / "2026-12-07T0900_Grades-STATS_501.csv"
    sheet.write_text(
        f"Student,ID,SIS User ID,SIS Login ID,Section,{column},Quiz 1 (88124)\n"
        "    Points Possible,,,,,32.00,10.00\n"
        '"Lovelace, Ada",4711,s1,ada,STATS 501,,8.00\n'
        '"Babbage, Charles",4712,s2,charles,STATS 501,,7.00\n'
        '"Student, Test",4799,,,STATS 501,,\n'
    )
    out = tmp_path / "import.csv"
    assert lms.fill_sheet("canvas", sheet, grades_csv(tmp_path, {"4711": 16.0, "4712": 4.0}), A, out) == 2
    rows = read_rows(out)
    assert [r[column] for r in rows] == ["32.00", "32.00", "8.00", ""]  # on Canvas's 32 points
    assert [r["Quiz 1 (88124)"] for r in rows] == ["10.00", "8.00", "7.00", ""], "other columns untouched"
    with pytest.raises(SystemExit, match="--column"):
        lms.fill_sheet("canvas", sheet, tmp_path / "grades.csv", "random_intercepts", out)
    assert (
        lms.fill_sheet("canvas", sheet, tmp_path / "grades.csv", "random_intercepts", out, column="Quiz 1 (88124)") == 0
    )


def test_a_sheet_of_the_other_platform_is_refused(tmp_path):
    sheet = tmp_path / "canvas.csv"
    sheet.write_text("Student,ID,SIS User ID,SIS Login ID,Section\n")
    with pytest.raises(SystemExit, match="not Moodle's grading worksheet"):
        lms.fill_sheet("moodle", sheet, grades_csv(tmp_path, {}), A, tmp_path / "out.csv")


# --------------------------------------------------------------------------- a class, end to end

STUDENTS = {  # platform: [(path in the download, student id), ...]: renamed, late and in folders
    "moodle": [
        (f"Ada Lovelace_104857_assignsubmission_file_/{NOTEBOOK}", "104857"),
        (f"Jean-Luc O'Neil_20_assignsubmission_file_/{A} (1).ipynb", "20"),
    ],
    "canvas": [
        (f"lovelaceada_4711_991001_{NOTEBOOK}", "4711"),
        (f"babbagecharles_LATE_4712_991002_{A}-1.ipynb", "4712"),
    ],
}


@pytest.mark.slow
@pytest.mark.parametrize("platform", list(STUDENTS))
def test_a_class_from_the_platforms_download_to_its_imports(platform, tmp_path, alembic_on_path):
    root = copy_course(tmp_path / "course")
    nbgrader("generate_assignment", A, cwd=root)
    release, source = read_nb(notebook_of(root, A, "release")), read_nb(notebook_of(root, A))
    archive = root / "downloaded" / A / "archive"
    archive.mkdir(parents=True)
    work = {"solution": fx.with_solutions(release, source), "untouched": release}
    with zipfile.ZipFile(archive / f"{platform}-download.zip", "w") as zipped:
        for (path, _), nb in zip(STUDENTS[platform], work.values()):
            zipped.writestr(path, nbformat.writes(nb))
        zipped.writestr("index.html", "")  # what else a download may hold is left out

    nbgrader("zip_collect", A, f"--LmsCollector.platform={platform}", cwd=root)
    for (_, student), nb in zip(STUDENTS[platform], work.values()):
        collected = root / "submitted" / student / A / NOTEBOOK
        assert read_nb(collected) == nb, f"{student}'s notebook is not where autograde looks"

    nbgrader("autograde", A, "--JudgedExecute.self_study=True", cwd=root)  # no sandbox: root is not needed here
    nbgrader("generate_feedback", A, cwd=root)
    nbgrader("export", cwd=root)
    scores = lms.nbgrader_scores(root / "grades.csv", A)
    (_, solution), (_, untouched) = STUDENTS[platform]
    auto = sum(fx.auto_points(source).values())
    assert scores[solution][0] == auto and scores[untouched][0] == 0

    out = tmp_path / "feedback.zip"
    names = lms.feedback_archive(platform, root, A, out)
    wanted = [path.removesuffix(".ipynb") + ".html" for path, _ in STUDENTS[platform]]
    assert sorted(names) == sorted(wanted)
    with zipfile.ZipFile(out) as zipped:
        assert sorted(zipped.namelist()) == sorted(wanted)
        assert all(b"<html" in zipped.read(name).lower() for name in wanted)
