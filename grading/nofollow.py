"""A student's folder read without following any symbolic link.

Any name in a submission may be a symbolic link to something of the grader's (the instructor's solution,
``/etc/shadow``, ``/dev/zero``), and in the exchange the folder stays the student's while the grader reads
it, so a checked file can be swapped for a link a moment later. :func:`walk` therefore opens every folder
and file by descriptor, relative to the folder already open and with ``O_NOFOLLOW``: a link is reported and
never followed, whenever it appears; only regular files are opened for reading.

Used by collect (:class:`grading.nbgrader_plugins.CollectWithoutLinks`), by autograde's pre-convert hook
(:func:`grading.nbgrader_plugins.remove_submitted_links`) and by ``make grade`` (:mod:`grading.parallel`).
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

FILE, FOLDER, LINK, OTHER = "file", "folder", "link", "other"
# O_NONBLOCK: a regular file swapped for a named pipe after the check must not hang the grader on open
_OPEN = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_CHUNK = 2**20


@dataclass(frozen=True)
class Entry:
    """One name under the folder walked: ``path`` relative to it ("/"-separated), its ``kind`` (FILE,
    FOLDER, LINK, or OTHER: a pipe, socket or device, never opened), for a FILE its ``stream`` (open only
    while the walk is at it) and for a LINK its ``target`` (read, not followed)."""

    path: str
    kind: str
    stream: BinaryIO | None = None
    target: str = ""


def walk(folder) -> Iterator[Entry]:
    """Every entry under ``folder``, sorted by name, each folder before its contents. ``folder`` itself
    must not be a symbolic link (NotADirectoryError)."""
    top = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        yield from _walk_open(top, "")
    finally:
        os.close(top)


def _walk_open(folder_fd: int, prefix: str) -> Iterator[Entry]:
    for name in sorted(os.listdir(folder_fd)):
        path = prefix + name
        try:
            seen = os.stat(name, dir_fd=folder_fd, follow_symlinks=False)
        except FileNotFoundError:  # removed since the listing
            continue
        if stat.S_ISLNK(seen.st_mode):
            yield Entry(path, LINK, target=_target(name, folder_fd))
            continue
        if not (stat.S_ISREG(seen.st_mode) or stat.S_ISDIR(seen.st_mode)):
            yield Entry(path, OTHER)
            continue
        try:
            fd = os.open(name, _OPEN, dir_fd=folder_fd)
        except FileNotFoundError:
            continue
        except OSError as error:
            if error.errno != errno.ELOOP:
                raise
            yield Entry(path, LINK, target=_target(name, folder_fd))  # swapped for a link since the check
            continue
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            try:
                yield Entry(path, FOLDER)
                yield from _walk_open(fd, path + "/")
            finally:
                os.close(fd)
        elif stat.S_ISREG(mode):
            with open(fd, "rb") as stream:
                yield Entry(path, FILE, stream=stream)
        else:
            os.close(fd)
            yield Entry(path, OTHER)


def _target(name: str, folder_fd: int) -> str:
    try:
        return os.readlink(name, dir_fd=folder_fd)
    except OSError:  # gone or changed again since
        return ""


def links_in(folder) -> list[Entry]:
    """The symbolic links under ``folder`` (in real folders only: a folder link is one entry)."""
    return [entry for entry in walk(folder) if entry.kind == LINK]


def submission_link(folder) -> Entry | None:
    """The symbolic link in the place of a student's submission folder ``submitted/<student>/<assignment>``: that
    folder itself, else the student's folder above it (the outer one if both are links). Its ``path`` is the
    link's path, its ``target`` read, not followed. None if both are real folders."""
    student = os.path.dirname(os.path.normpath(folder))
    for path in (student, os.fspath(folder)):
        if os.path.islink(path):
            return Entry(path, LINK, target=os.readlink(path))
    return None


def linked_submission_reason(link: Entry) -> str:
    """Why a submission whose folder is ``link`` (of :func:`submission_link`) is not graded, for either grader's log."""
    return (
        f"{link.path} is a symbolic link (to {link.target}), not a folder of the student's: nothing it points "
        "to is read"
    )


def remove_links(folder) -> list[Entry]:
    """Delete every symbolic link under ``folder`` (the link, never what it points to); return them.
    Only for the grader's own folders: the path is looked up again to delete it."""
    links = links_in(folder)
    for link in links:
        os.unlink(os.path.join(folder, link.path))
    return links


def copy_without_links(source, destination, max_bytes: int, left_out: Callable[[Entry], None]) -> None:
    """Copy the folders and regular files under ``source`` into the new folder ``destination``; each link
    and special file is left out and passed to ``left_out``. More than ``max_bytes`` of files in all raise
    RuntimeError (what is copied so far stays, for the caller to remove)."""
    os.mkdir(destination)
    copied = 0
    for entry in walk(source):
        here = os.path.join(destination, entry.path)
        if entry.kind == FOLDER:
            os.mkdir(here)
        elif entry.kind == FILE:
            with open(here, "xb") as out:
                while chunk := entry.stream.read(_CHUNK):
                    copied += len(chunk)
                    if copied > max_bytes:
                        raise RuntimeError(f"{source} holds more than {max_bytes} bytes")
                    out.write(chunk)
        else:
            left_out(entry)
