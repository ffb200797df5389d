"""Symbolic links in a student's folder, without nbgrader runs: the walk that never follows them
(grading/nofollow.py), the copy that collect makes with it, and autograde's pre-convert hook
(grading/nbgrader_plugins.py). The end-to-end runs: tests/test_grading.py (collect) and tests/test_cheats.py
(autograde and make grade)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from grading import nofollow
from grading.nbgrader_plugins import LinkRemovalFailed, remove_submitted_links
from grading.nofollow import FILE, FOLDER, LINK, OTHER

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def submission(tmp_path):
    """A folder with a notebook, a data folder, and links of every kind to a secret outside it."""
    secret = tmp_path / "secret.txt"
    secret.write_text("the grader's")
    folder = tmp_path / "submission"
    (folder / "data").mkdir(parents=True)
    (folder / "answer.ipynb").write_text("{}")
    (folder / "data" / "x.csv").write_text("x\n1\n")
    (folder / "data" / "inner_link").symlink_to(secret)
    (folder / "file_link").symlink_to(secret)
    (folder / "folder_link").symlink_to(tmp_path, target_is_directory=True)
    (folder / "dangling").symlink_to(tmp_path / "nothing")
    os.mkfifo(folder / "pipe")
    return folder, secret


def kinds(folder) -> dict[str, str]:
    return {entry.path: entry.kind for entry in nofollow.walk(folder)}


def test_the_walk_reports_links_and_special_files_and_never_follows_them(submission):
    folder, secret = submission
    assert kinds(folder) == {
        "answer.ipynb": FILE,
        "dangling": LINK,
        "data": FOLDER,
        "data/inner_link": LINK,
        "data/x.csv": FILE,
        "file_link": LINK,
        "folder_link": LINK,
        "pipe": OTHER,
    }
    assert {link.path: link.target for link in nofollow.links_in(folder)}["data/inner_link"] == str(secret)


def test_a_file_swapped_for_a_link_during_the_walk_is_a_link(submission, monkeypatch):
    """The student may swap a checked file for a link before the grader opens it: the open does not follow."""
    folder, secret = submission
    checked = os.stat

    def swap_after_checking(name, *args, **kwargs):
        seen = checked(name, *args, **kwargs)
        if name == "answer.ipynb":
            os.unlink(name, dir_fd=kwargs["dir_fd"])
            os.symlink(secret, name, dir_fd=kwargs["dir_fd"])
        return seen

    monkeypatch.setattr(nofollow.os, "stat", swap_after_checking)
    (answer,) = [entry for entry in nofollow.walk(folder) if entry.path == "answer.ipynb"]
    assert answer.kind == LINK and answer.stream is None


def test_a_folder_that_is_itself_a_link_is_not_walked(submission, tmp_path):
    (tmp_path / "linked_submission").symlink_to(submission[0], target_is_directory=True)
    with pytest.raises(NotADirectoryError):
        list(nofollow.walk(tmp_path / "linked_submission"))


def test_the_copy_leaves_out_links_and_special_files_and_names_each(submission, tmp_path):
    folder, _ = submission
    left_out = []
    nofollow.copy_without_links(folder, tmp_path / "copy", 10**6, left_out.append)
    assert kinds(tmp_path / "copy") == {"answer.ipynb": FILE, "data": FOLDER, "data/x.csv": FILE}
    assert (tmp_path / "copy" / "data" / "x.csv").read_text() == "x\n1\n"
    assert sorted(entry.path for entry in left_out) == [
        "dangling",
        "data/inner_link",
        "file_link",
        "folder_link",
        "pipe",
    ]


def test_the_copy_stops_past_its_size_limit(submission, tmp_path):
    folder, _ = submission
    (folder / "big.csv").write_bytes(b"x" * 1000)
    with pytest.raises(RuntimeError, match="more than 999 bytes"):
        nofollow.copy_without_links(folder, tmp_path / "copy", 999, lambda entry: None)


def test_the_hook_removes_every_link_and_a_linked_notebook_counts_as_missing(submission, caplog):
    folder, secret = submission
    (folder / "other.ipynb").symlink_to(secret)
    notebooks = [str(folder / "answer.ipynb"), str(folder / "other.ipynb")]
    with caplog.at_level(logging.WARNING):
        remove_submitted_links(assignment="a", student="*", notebooks=notebooks)
    assert kinds(folder) == {"answer.ipynb": FILE, "data": FOLDER, "data/x.csv": FILE, "pipe": OTHER}
    assert secret.read_text() == "the grader's" and (secret.parent / "submission").is_dir()
    assert notebooks == [str(folder / "answer.ipynb")]
    named = {record.getMessage().split(",")[0] for record in caplog.records}
    assert named == {
        f"Removed {folder / name}"
        for name in ("dangling", "data/inner_link", "file_link", "folder_link", "other.ipynb")
    }
    assert [r.levelname for r in caplog.records if "other.ipynb" in r.getMessage()] == ["ERROR"]


@pytest.mark.parametrize("linked", ["the submission folder", "the student's folder"])
def test_the_hook_fails_a_submission_whose_folder_is_a_link_and_reads_nothing_of_it(
    submission, tmp_path, linked, caplog
):
    """submitted/<student>/<assignment>, or submitted/<student>, put there by hand as a link (to a classmate's
    folder): the link goes, the notebook list is emptied (nbgrader then fails that student alone), and what it
    points to stays as it was. The whole-class run: tests/test_cheats.py."""
    folder, secret = submission
    classmate = tmp_path / "submitted" / "alice" / "a"
    classmate.parent.mkdir(parents=True)
    folder.rename(classmate)
    link, target = {
        "the submission folder": (tmp_path / "submitted" / "bob" / "a", classmate),
        "the student's folder": (tmp_path / "submitted" / "bob", classmate.parent),
    }[linked]
    link.parent.mkdir(exist_ok=True)
    link.symlink_to(target, target_is_directory=True)
    before = kinds(classmate)
    notebooks = [str(tmp_path / "submitted" / "bob" / "a" / "answer.ipynb")]
    with caplog.at_level(logging.WARNING):
        remove_submitted_links(assignment="a", student="*", notebooks=notebooks)
    assert notebooks == [] and not os.path.lexists(link)
    assert kinds(classmate) == before and secret.read_text() == "the grader's"
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        (
            "ERROR",
            f"Not graded, and the link removed: {link} is a symbolic link (to {target}), not a folder of the "
            "student's: nothing it points to is read",
        )
    ]


def test_make_grade_finds_every_submission_whose_folder_is_a_link(tmp_path):
    """make grade counts such a student (grading.parallel.students_of) and fails them with the reason before
    packing anything (grading.parallel.grade, run whole in tests/test_cheats.py)."""
    from grading import parallel

    for student in ("alice", "carol"):
        (tmp_path / "submitted" / student / "a").mkdir(parents=True)
    (tmp_path / "submitted" / "bob").mkdir()
    (tmp_path / "submitted" / "bob" / "a").symlink_to("../alice/a", target_is_directory=True)
    (tmp_path / "submitted" / "dave").symlink_to("carol", target_is_directory=True)
    assert parallel.students_of(tmp_path, "a") == ["alice", "bob", "carol", "dave"]
    linked = {s: nofollow.submission_link(tmp_path / "submitted" / s / "a") for s in ("alice", "bob", "dave")}
    assert linked["alice"] is None
    assert (linked["bob"].path, linked["bob"].target) == (str(tmp_path / "submitted" / "bob" / "a"), "../alice/a")
    assert (linked["dave"].path, linked["dave"].target) == (str(tmp_path / "submitted" / "dave"), "carol")


def test_make_grade_never_follows_a_submitted_timestamp_that_is_a_link(tmp_path):
    """Whether a student was graded since their last submission is read from timestamp.txt; one that is a link
    (here to a later time; it might lead to /dev/zero) counts as no timestamp, as it does for nbgrader once the
    autograde hook has removed it."""
    from grading import parallel

    for kind in ("submitted", "autograded"):
        (tmp_path / kind / "bob" / "a").mkdir(parents=True)
    (tmp_path / "autograded" / "bob" / "a" / "timestamp.txt").write_text("2024-01-01 00:00:00.000000 UTC")
    later = tmp_path / "later.txt"
    later.write_text("2024-06-01 00:00:00.000000 UTC")
    (tmp_path / "submitted" / "bob" / "a" / "timestamp.txt").symlink_to(later)
    assert parallel.is_graded(tmp_path, "a", "bob")
    (tmp_path / "submitted" / "bob" / "a" / "timestamp.txt").unlink()
    (tmp_path / "submitted" / "bob" / "a" / "timestamp.txt").write_text(later.read_text())
    assert not parallel.is_graded(tmp_path, "a", "bob")


def test_a_link_the_hook_cannot_remove_stops_nbgrader_before_it_reads_the_submission(submission, monkeypatch):
    """nbgrader logs an Exception from the hook and grades on: the hook's failure must get past that."""
    from nbgrader.converters import Autograde
    from nbgrader.coursedir import CourseDirectory

    folder, _ = submission

    def refuse(path, *args, **kwargs):
        raise PermissionError(f"read-only: {path}")

    monkeypatch.setattr(nofollow.os, "unlink", refuse)
    converter = Autograde(coursedir=CourseDirectory(root=str(folder.parent)), pre_convert_hook=remove_submitted_links)
    converter.notebooks = [str(folder / "answer.ipynb")]
    with pytest.raises(LinkRemovalFailed, match="cannot remove the symbolic links"):
        converter.run_pre_convert_hook()


@pytest.mark.parametrize("starts_in", ["the course root", "elsewhere"])
def test_every_formgrader_of_the_hub_collects_without_following_links(starts_in, tmp_path, monkeypatch):
    """The hub's formgrader service starts in the course root and reads the course's nbgrader_config.py after
    the hub's (grading/hub/jupyter/); one started elsewhere (say, as TLJH or Zero to JupyterHub run it) reads
    the hub's alone."""
    from nbgrader.apps.baseapp import NbGrader
    from nbgrader.exchange import ExchangeFactory

    from grading.nbgrader_plugins import CollectWithoutLinks

    monkeypatch.chdir(REPO / "grading" / "course" if starts_in == "the course root" else tmp_path)
    monkeypatch.setenv("JUPYTER_CONFIG_PATH", str(REPO / "grading" / "hub" / "jupyter"))
    monkeypatch.setenv("COURSE_HUB_EXCHANGE", str(tmp_path))
    app = NbGrader()
    app.load_config_file()
    assert ExchangeFactory(config=app.config).collect is CollectWithoutLinks


def test_collect_takes_nothing_of_a_submission_that_is_itself_a_link(submission, tmp_path, caplog):
    """A student may put a link to any folder into the exchange's inbound folder, named as a submission."""
    from nbgrader.auth import Authenticator
    from nbgrader.coursedir import CourseDirectory

    from grading.nbgrader_plugins import CollectWithoutLinks

    inbound = tmp_path / "mallory+a+2024-01-01 00:00:00.000000 UTC+x"
    inbound.symlink_to(submission[0], target_is_directory=True)
    collect = CollectWithoutLinks(
        coursedir=CourseDirectory(root=str(tmp_path / "course")), authenticator=Authenticator()
    )
    with caplog.at_level(logging.WARNING):
        collect.do_copy(str(inbound), str(tmp_path / "course" / "submitted" / "mallory" / "a"))
    assert not (tmp_path / "course").exists()
    assert "Not collected: mallory's submission" in caplog.text


def test_a_link_in_a_students_name_never_displaces_their_submission(tmp_path, alembic_on_path, caplog):
    """Every student may write into the exchange's inbound folder, so a link there may bear a classmate's name
    and a later timestamp: alice's real submission is collected all the same, and bob, who has only the
    link, keeps what was collected for him before (stock collect with --update would remove it first)."""
    from nbgrader.auth import Authenticator
    from nbgrader.coursedir import CourseDirectory

    from grading.nbgrader_plugins import CollectWithoutLinks

    inbound = tmp_path / "exchange" / "c" / "inbound"
    elsewhere = tmp_path / "mallory's folder"
    for folder in (inbound, elsewhere):
        folder.mkdir(parents=True)
    (elsewhere / "answer.ipynb").write_text("mallory's")
    alice = inbound / "alice+a+2024-01-01 00:00:00.000000 UTC+r"
    alice.mkdir()
    (alice / "answer.ipynb").write_text("alice's")
    for student in ("alice", "bob"):
        (inbound / f"{student}+a+2099-01-01 00:00:00.000000 UTC+x").symlink_to(elsewhere, target_is_directory=True)
    course = tmp_path / "course"
    (course / "submitted" / "bob" / "a").mkdir(parents=True)
    (course / "submitted" / "bob" / "a" / "answer.ipynb").write_text("bob's, collected before")
    coursedir = CourseDirectory(root=str(course), assignment_id="a", course_id="c")
    collect = CollectWithoutLinks(
        coursedir=coursedir,
        authenticator=Authenticator(),
        root=str(tmp_path / "exchange"),
        update=True,
        check_owner=False,
    )
    with caplog.at_level(logging.WARNING):
        collect.start()
    assert (course / "submitted" / "alice" / "a" / "answer.ipynb").read_text() == "alice's"
    assert (course / "submitted" / "bob" / "a" / "answer.ipynb").read_text() == "bob's, collected before"
    assert "in bob's name, is a symbolic link" in caplog.text
