"""The parts of make grade (grading/parallel.py) that need no kernel, no cluster and no root: what a task
carries on and off a worker, the reason a failure is named with, and the command's refusals."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from grading import parallel


def test_a_tree_travels_as_bytes_without_its_links(tmp_path):
    sent = tmp_path / "submission"
    (sent / "data").mkdir(parents=True)
    (sent / "answer.ipynb").write_bytes(b"{}")
    (sent / "data" / "x.csv").write_bytes(b"x\n1\n")
    (tmp_path / "secret").write_text("the grader's")
    (sent / "link").symlink_to(tmp_path / "secret")
    (sent / "folder_link").symlink_to(tmp_path, target_is_directory=True)
    files = parallel.read_tree(sent)
    assert files == {"answer.ipynb": b"{}", "data/x.csv": b"x\n1\n"}
    parallel.write_tree(tmp_path / "received", files)
    assert parallel.read_tree(tmp_path / "received") == files


def test_a_submission_carries_its_links_by_name_only_and_the_worker_gets_links_to_nothing(tmp_path, alembic_on_path):
    """So that the course's autograde hook names and removes them on the worker as in a serial run."""
    folder = tmp_path / "course" / "submitted" / "s1" / "a"
    (folder / "data").mkdir(parents=True)
    (folder / "answer.ipynb").write_bytes(b"{}")
    (folder / "notes.txt").symlink_to("/etc/shadow")
    (folder / "data" / "classmates").symlink_to(tmp_path, target_is_directory=True)
    submission = parallel.pack_submission(tmp_path / "course", "a", "s1")
    assert submission.files == {"answer.ipynb": b"{}"}
    assert submission.links == ("data/classmates", "notes.txt")
    received = tmp_path / "worker" / "submitted" / "s1" / "a"
    parallel.write_tree(received, submission.files)
    parallel.put_back_links(received, submission.links)
    assert {p.relative_to(received).as_posix(): os.readlink(p) for p in received.rglob("*") if p.is_symlink()} == {
        "data/classmates": os.devnull,
        "notes.txt": os.devnull,
    }


@pytest.mark.parametrize("path", ["../escaped", "/etc/escaped", "data/../../escaped"])
def test_writing_a_tree_refuses_paths_that_leave_it(tmp_path, path):
    with pytest.raises(ValueError, match="outside"):
        parallel.write_tree(tmp_path / "course", {path: b"x"})
    assert not (tmp_path / "escaped").exists()


@pytest.mark.parametrize(
    "log, said",
    [
        (
            "[INFO] Converting\n[ERROR] No notebooks found, did you forget to run 'nbgrader generate_assignment'?\n"
            "[ERROR] There was an error processing assignment: /tmp/x\n[ERROR] Traceback (most recent call last):\n"
            "[ERROR] Please see the the above traceback for details",
            "No notebooks found, did you forget to run 'nbgrader generate_assignment'?",
        ),
        (
            "[ERROR] There was an error processing assignment: /tmp/x\n[ERROR] Traceback (most recent call last):\n"
            "    json.decoder.JSONDecodeError: Expecting property name\n"
            "    nbformat.reader.NotJSONError: Notebook does not appear to be JSON: '{nope'\n"
            "[ERROR] Please see the the above traceback for details",
            "NotJSONError: Notebook does not appear to be JSON: '{nope'",
        ),
        (
            "KilledWorker: attempted to run task grade-a-s1 on 3 different workers",
            "KilledWorker: attempted to run task grade-a-s1 on 3 different workers",
        ),
        ("", "no log"),
    ],
)
def test_a_failure_is_named_with_its_most_specific_error(log, said):
    assert parallel.reason(log) == said


def run_grade(*args):
    return subprocess.run(
        [sys.executable, "-m", "grading", "grade", *args], capture_output=True, text=True, timeout=300
    )


def test_grading_without_a_generated_assignment_says_what_to_do(tmp_path):
    run = run_grade("random_intercepts", "--course", str(tmp_path), "--no-sandbox")
    assert run.returncode != 0
    assert "run `nbgrader generate_assignment random_intercepts`" in run.stderr
    assert not (tmp_path / "gradebook.db").exists(), "nothing is written into a course that is not one"


@pytest.mark.parametrize(
    "configuration", ["", "c.Autograde.autograde_preprocessors = ['nbgrader.preprocessors.Execute']\n"]
)
def test_a_course_that_autogrades_without_the_judge_is_refused(tmp_path, alembic_on_path, configuration):
    from nbgrader.api import Gradebook

    if configuration:
        (tmp_path / "nbgrader_config.py").write_text(configuration)
    with Gradebook(f"sqlite:///{tmp_path / 'gradebook.db'}") as gb:
        gb.add_assignment("random_intercepts")
    run = run_grade("random_intercepts", "--course", str(tmp_path), "--no-sandbox")
    assert run.returncode != 0 and "make grade grades only with it" in run.stderr, run.stderr[-2000:]
    assert not (tmp_path / "grades.csv").exists()


@pytest.mark.parametrize(
    "args, said",
    [
        (["--workers", "0"], "--workers needs a positive number"),
        (["--workers", "2", "--scheduler", "tcp://x:8786"], "not allowed with"),
    ],
)
def test_bad_options_are_refused(tmp_path, args, said):
    run = run_grade("random_intercepts", "--course", str(tmp_path), "--no-sandbox", *args)
    assert run.returncode != 0 and said in run.stderr
