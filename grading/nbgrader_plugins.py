"""The course's additions to stock nbgrader, loaded by ``grading/course/nbgrader_config.py``.

- :class:`DropEmptyMetadata`: lets a submission with a duplicated nbgrader cell be graded.
- :class:`HideHiddenTests`: a feedback preprocessor that removes hidden-test source and
  tracebacks from the HTML a student receives.
- :class:`CollectWithoutLinks`: collect, copying a submission without following a symbolic link.
- :func:`remove_submitted_links`: autograde's pre-convert hook, which deletes a submission's symbolic links
  before anything of it is read.

The autograde step itself is :class:`grading.autograde.JudgedExecute`. Nothing here changes how nbgrader
stores grades: every command stays a stock ``nbgrader`` command run in ``grading/course/``.
"""

from __future__ import annotations

import os
import pwd
import re
import tempfile

from nbgrader.exchange.default import ExchangeCollect
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Unicode
from traitlets.log import get_logger

from grading.judge import HIDDEN_BEGIN, HIDDEN_END
from grading.nofollow import LINK, copy_without_links, linked_submission_reason, remove_links, submission_link


class DropEmptyMetadata(NbGraderPreprocessor):
    """Delete the empty ``nbgrader`` metadata that DeduplicateIds leaves on a duplicated cell.

    nbgrader 0.9.6's ``OverwriteCells.add_missing_cells`` raises ``KeyError: 'grade_id'``
    on such a cell, failing the whole notebook; without the key the copy is an ordinary cell.
    """

    def preprocess_cell(self, cell, resources, index):
        if cell.get("metadata", {}).get("nbgrader", None) == {}:
            del cell.metadata["nbgrader"]
        return cell, resources


class HideHiddenTests(NbGraderPreprocessor):
    """Feedback must not reveal hidden tests: drop their source and their tracebacks.

    A cell holding hidden tests keeps the code before ``### BEGIN HIDDEN TESTS``
    (the visible tests), followed by a note; an error in it keeps only its name and
    message, which the course's tests write without reference values.
    """

    note = Unicode("# (hidden tests ran here; their code is not shown)").tag(config=True)

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code" or not _has_hidden_tests(cell.source):
            return cell, resources
        cell.source = _strip_hidden(cell.source, self.note)
        for output in cell.get("outputs", []):
            if output.output_type == "error":
                output.traceback = [f"{output.ename}: {output.evalue}"]
        return cell, resources


def _has_hidden_tests(source: str) -> bool:
    return HIDDEN_BEGIN in source


def _strip_hidden(source: str, note: str) -> str:
    pattern = re.compile(
        rf"^[ \t]*{re.escape(HIDDEN_BEGIN)}.*?(^[ \t]*{re.escape(HIDDEN_END)}[^\n]*\n?|\Z)", re.S | re.M
    )
    return pattern.sub(note + "\n", source).rstrip() + "\n"


class CollectWithoutLinks(ExchangeCollect):
    """nbgrader's collect, copying each submission without following a symbolic link.

    The student's inbound folder in the exchange is theirs, and stock collect copies it with
    ``shutil.copytree``, which follows links with the grader's rights: a notebook replaced by a link to
    ``source/`` would be collected, and graded, as the student's; a link to ``/etc/shadow`` would be copied
    into the course. Here the submission is first copied into a private staging folder by
    :func:`grading.nofollow.copy_without_links`, which leaves out every link and special file, naming each
    with the student in the log; nbgrader's own copy (its ignore, include and size rules, group permissions)
    then runs on that copy. A submission that is itself a link is not collected at all.

    The inbound folder is writable by every student, so a link there may be named as anyone's submission,
    with any timestamp. A student's real submissions are therefore chosen before any link in their name, and
    a student who has only links keeps what was collected for them before (stock collect with ``--update``
    removes it before copying).

    nbgrader has no public hook for which submission of a student is collected: this uses its private
    ``_sort_by_timestamp``, ``_path_to_record`` and ``src_records``, each checked by a test
    (tests/test_environment.py) that fails the day nbgrader changes them.
    """

    def _sort_by_timestamp(self, records):
        newest_first = super()._sort_by_timestamp(records)
        return sorted(newest_first, key=self._is_link)  # stable: the folders, newest first, then the links

    def _is_link(self, record) -> bool:
        return os.path.islink(os.path.join(self.inbound_path, record["filename"]))

    def copy_files(self):
        for record in [record for record in self.src_records if self._is_link(record)]:
            path = os.path.join(self.inbound_path, record["filename"])
            self.log.warning(
                "Not collected: %s, in %s's name, is a symbolic link (to %s) made by %s; what was "
                "collected for them before stays",
                path,
                record["username"],
                os.readlink(path),
                _owner(path),
            )
            self.src_records.remove(record)
        super().copy_files()

    def do_copy(self, src, dest, log=None):
        student = self._path_to_record(src)["username"]
        if os.path.islink(src):
            self.log.warning(
                "Not collected: %s's submission %s is a symbolic link (to %s), not a folder of theirs",
                student,
                src,
                os.readlink(src),
            )
            return

        def left_out(entry):
            what = f"a symbolic link (to {entry.target})" if entry.kind == LINK else "not a regular file"
            self.log.warning("Left out of %s's submission: %s, %s", student, entry.path, what)

        with tempfile.TemporaryDirectory(prefix="collect-") as staging:
            copy = os.path.join(staging, "submission")
            copy_without_links(src, copy, 1000 * self.coursedir.max_dir_size, left_out)
            super().do_copy(copy, dest, log)


def _owner(path: str) -> str:
    uid = os.lstat(path).st_uid
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"user {uid}"


class LinkRemovalFailed(BaseException):
    """A submission's symbolic link could not be removed before grading.

    A BaseException, not an Exception: nbgrader logs an Exception raised by the pre-convert hook (at info
    level) and grades on, which would follow the link; this stops the run before that submission is read.
    """


def remove_submitted_links(assignment, student, notebooks):
    """Autograde's ``pre_convert_hook``: delete every symbolic link of the submission about to be graded.

    Stock autograde copies a submission's other files with ``shutil.copy`` and reads its notebooks by path,
    with the grader's rights: a link to ``/dev/zero`` would fill the disk, one to ``/etc/shadow`` or to a
    classmate's notebook would be copied into autograded/ and the feedback, and a notebook that links to the
    solution would be graded as the student's. A link holds nothing the student wrote, so it goes, named in
    the log. A linked notebook counts as missing: it leaves ``notebooks``, the list nbgrader then grades.

    A submission folder that is itself a link (or a student folder that is one) holds nothing of the student's
    either: the link goes and ``notebooks`` is emptied, so nbgrader records that student's grading as failed
    ("No notebooks found") and grades the rest of the class.

    nbgrader passes the ids it was given (``*`` for a whole class), not the submission's; every notebook in
    ``notebooks`` lies in the submission's folder, so that is where the folder comes from.
    """
    folder = os.path.dirname(notebooks[0])
    log = get_logger()
    linked = submission_link(folder)
    try:
        if linked is None:
            removed = remove_links(folder)
        else:
            os.unlink(linked.path)
    except OSError as error:
        raise LinkRemovalFailed(
            f"cannot remove the symbolic links of {folder} ({error}): grading it would follow them"
        ) from error
    if linked is not None:
        notebooks.clear()
        log.error("Not graded, and the link removed: %s", linked_submission_reason(linked))
        return
    for link in removed:
        path = os.path.join(folder, link.path)
        if path in notebooks:
            notebooks.remove(path)
            log.error(
                "Removed %s, a symbolic link (to %s): not the student's own notebook, so it counts as missing",
                path,
                link.target,
            )
        else:
            log.warning("Removed %s, a symbolic link (to %s): nothing the student wrote", path, link.target)
