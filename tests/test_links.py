"""Symbolic links in a student's folder, without nbgrader runs: the walk that never follows them
(grading/nofollow.py)."""

from __future__ import annotations

import os

import pytest

from grading import nofollow
from grading.nofollow import FILE, FOLDER, LINK, OTHER


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
    assert kinds(folder) == {"answer.ipynb": FILE, "dangling": LINK, "data": FOLDER, "data/inner_link": LINK,
                             "data/x.csv": FILE, "file_link": LINK, "folder_link": LINK, "pipe": OTHER}
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
