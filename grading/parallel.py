"""Grade a whole class on dask.distributed: ``make grade A=<assignment>`` (see grading/README.md).

    python -m grading grade ASSIGNMENT [--course DIR] [--workers N] [--scheduler ADDRESS] [--force]

Each submission is one dask task. The task carries everything its grading needs, as plain data: the
assignment (the course's configuration files, ``source/<assignment>/`` and a gradebook holding only that
assignment's definition, as bytes) and the submission (the student's files as bytes, their timestamp, and
the gradebook rows they already have; of the student's symbolic links only their names, see
:func:`put_back_links`). A worker writes these into a private course root of its own,
runs nbgrader's own autograde and generate_feedback (``nbgrader.apps.NbGraderAPI``) with the course's
configuration there, and sends back plain data: the student's gradebook rows, the autograded folder, the
feedback folder and nbgrader's log. No folder is shared: a worker may run on any machine that has the
course environment. The instructor's process alone writes the course, one student at a time, in this
order: gradebook rows (through ``nbgrader.api.Gradebook``), feedback/, autograded/. The autograded folder
comes last and marks the student done, so a run that is killed and started again grades only who is left;
like ``nbgrader autograde`` it grades again a student whose submission is newer, or everyone with
``--force``. A worker that dies takes no grade with it: the scheduler gives its task to another worker.

Without ``--scheduler`` the work runs on an embedded local cluster: one worker process per core, one
thread each, reached only with TLS credentials made for the run, its files in a folder of the grader's
(:func:`client_for` says why).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import fcntl
import hashlib
import logging
import os
import re
import shutil
import sqlite3
import stat
import sys
import tempfile
import threading
import traceback
import warnings
from dataclasses import dataclass
from pathlib import Path

from grading import COURSE_ROOT
from grading.autograde import sandbox_refusal
from grading.nofollow import FILE, linked_submission_reason, links_in, submission_link, walk

REPO = Path(__file__).resolve().parent.parent
WORK = ".grade"  # in the course root: <course>/.grade/<assignment>/{lock,logs/}
RUNTIME = ("release", "submitted", "autograded", "feedback", "gradebook.db", "grades.csv", ".nbgrader.log", WORK)
GRADE_FIELDS = ("auto_score", "manual_score", "extra_credit", "needs_manual_grade")
COMMENT_FIELDS = ("auto_comment", "manual_comment")
STUDENT_FIELDS = ("first_name", "last_name", "email", "lms_user_id")
SUBMIT_TRIES = 3  # how often a student's task is submitted again after dask cancels it


def db_url(course: Path) -> str:
    return f"sqlite:///{course / 'gradebook.db'}"


# ----------------------------------------------------------------------------- what a task carries


@dataclass(frozen=True)
class Assignment:
    """What grading any submission of one assignment needs: relative path -> bytes of the course's
    configuration and the assignment's source folder, and the bytes of a gradebook that defines the
    assignment and holds no student."""

    name: str
    files: dict[str, bytes]
    gradebook: bytes

    @property
    def key(self) -> str:
        digest = hashlib.sha256(self.gradebook)
        for path in sorted(self.files):
            digest.update(path.encode() + b"\0" + self.files[path] + b"\0")
        return digest.hexdigest()[:16]


@dataclass(frozen=True)
class Submission:
    """One student's submission: their files (relative path -> bytes, ``timestamp.txt`` included), the
    relative paths of their symbolic links, and the gradebook rows they have already (None: never graded)."""

    student: str
    files: dict[str, bytes]
    links: tuple[str, ...]
    rows: dict | None


def read_tree(folder: Path, skip=lambda rel: False) -> dict[str, bytes]:
    """Every regular file under ``folder`` by relative path, read without following a symbolic link (root
    must not follow a student's link to a file of the grader's): links are left out."""
    return {entry.path: entry.stream.read() for entry in walk(folder) if entry.kind == FILE and not skip(entry.path)}


def new_path_in(folder: Path, rel: str) -> Path:
    """``folder / rel`` with its parent folders made, refusing a path that would leave ``folder``."""
    path = (folder / rel).resolve()
    if rel.startswith("/") or folder.resolve() not in path.parents:
        raise ValueError(f"refusing to write {rel!r} outside {folder}")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def write_tree(folder: Path, files: dict[str, bytes]) -> None:
    """Write ``files`` under ``folder``, refusing any path that would leave it."""
    for rel, data in files.items():
        new_path_in(folder, rel).write_bytes(data)


def put_back_links(folder: Path, links: tuple[str, ...]) -> None:
    """Make each of ``links`` under ``folder`` a symbolic link to /dev/null. The worker then holds the
    submission as the course does, and the course's autograde hook names and removes each link as in a
    serial run (a linked notebook counts as missing there too); what the student's link pointed to never
    travels, and /dev/null holds nothing, should anything follow it."""
    for rel in links:
        new_path_in(folder, rel).symlink_to(os.devnull)


def pack_assignment(course: Path, assignment: str) -> Assignment:
    """The course material a worker needs for ``assignment``: the files at the top of the course root
    (``nbgrader_config.py`` and what it reads), ``source/<assignment>/``, and a copy of the gradebook
    stripped of every other assignment and of every student (through nbgrader's own API)."""
    from nbgrader.api import Gradebook

    def wanted(rel: str) -> bool:
        top = rel.split("/", 1)[0]
        return (rel == top and top not in RUNTIME) or rel.startswith(f"source/{assignment}/")

    files = read_tree(course, skip=lambda rel: not wanted(rel) or "__pycache__" in rel)
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "gradebook.db"
        snapshot(course / "gradebook.db", db)
        with Gradebook(f"sqlite:///{db}") as gb:
            for other in [a.name for a in gb.assignments if a.name != assignment]:
                gb.remove_assignment(other)
            for student in [s.id for s in gb.students]:
                gb.remove_student(student)
        with sqlite3.connect(db) as con:
            con.execute("VACUUM")
        return Assignment(assignment, files, db.read_bytes())


def pack_submission(course: Path, assignment: str, student: str) -> Submission:
    from nbgrader.api import Gradebook, MissingEntry

    folder = course / "submitted" / student / assignment
    with Gradebook(db_url(course)) as gb:
        try:
            rows = submission_rows(gb, assignment, student)
        except MissingEntry:
            rows = None
    links = tuple(link.path for link in links_in(folder))
    return Submission(student, read_tree(folder), links, rows)


def snapshot(db: Path, copy_to: Path) -> None:
    """A consistent copy of a SQLite database (the backup API), safe while others read it."""
    with sqlite3.connect(db) as src, sqlite3.connect(copy_to) as dst:
        src.backup(dst)


# ----------------------------------------------------------------------------- gradebook rows as plain data


def submission_rows(gb, assignment: str, student: str) -> dict:
    """One student's rows for ``assignment``: who they are, the submission, and per notebook its flags,
    grades and comments (MissingEntry if they have no submission)."""
    sub = gb.find_submission(assignment, student)
    return {
        "student": {f: getattr(sub.student, f) for f in STUDENT_FIELDS},
        "timestamp": sub.timestamp,
        "extension": sub.extension,
        "notebooks": {
            nb.name: {
                "flagged": nb.flagged,
                "late_submission_penalty": nb.late_submission_penalty,
                "grades": {g.name: {f: getattr(g, f) for f in GRADE_FIELDS} for g in nb.grades},
                "comments": {c.name: {f: getattr(c, f) for f in COMMENT_FIELDS} for c in nb.comments},
            }
            for nb in sub.notebooks
        },
    }


@contextlib.contextmanager
def half_made_rows_unannounced():
    """Without SQLAlchemy's warning that nbgrader's add_submission flushes a half-made row (once per student,
    in the instructor's terminal, about nbgrader's own code)."""
    from sqlalchemy.exc import SAWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SAWarning)
        yield


def write_rows(gb, assignment: str, student: str, rows: dict) -> None:
    """Make ``student``'s rows for ``assignment`` equal ``rows``, updating rows, never adding a second
    submission; a student not yet in the gradebook is added with their names."""
    from nbgrader.api import MissingEntry

    try:
        gb.find_student(student)
    except MissingEntry:
        gb.add_student(student, **rows["student"])
    with half_made_rows_unannounced():
        gb.update_or_create_submission(assignment, student, timestamp=rows["timestamp"], extension=rows["extension"])
    for name, notebook in rows["notebooks"].items():
        into = gb.find_submission_notebook(name, assignment, student)
        into.flagged, into.late_submission_penalty = notebook["flagged"], notebook["late_submission_penalty"]
        for kind, find in (("grades", gb.find_grade), ("comments", gb.find_comment)):
            for cell, fields in notebook[kind].items():
                row = find(cell, name, assignment, student)
                for field, value in fields.items():
                    setattr(row, field, value)
    gb.db.commit()


# ----------------------------------------------------------------------------- on a worker

_worker: dict = {}  # per worker process: its private folder and prepared assignments
_one_at_a_time = threading.Lock()  # a worker process grades one submission at a time, whatever its threads


def grade_submission(assignment: Assignment, submission: Submission, sandbox: bool) -> dict:
    """Grade one submission in a private course root of this worker; return plain data (see :func:`grade`)."""
    with _one_at_a_time:
        try:
            return _grade_here(assignment, submission, sandbox)
        except Exception:  # noqa: BLE001 (a submission nbgrader cannot even start on fails alone)
            return {
                "student": submission.student,
                "success": False,
                "rows": None,
                "autograded": None,
                "feedback": None,
                "log": traceback.format_exc(),
            }


def worker_folder() -> Path:
    """This process's private folder: the dask worker's own local directory, or a temporary one."""
    if "folder" not in _worker:
        try:
            from distributed import get_worker

            parent = get_worker().local_directory
        except ValueError:  # not in a dask worker (called directly)
            parent = None
        folder = Path(tempfile.mkdtemp(prefix="grading-", dir=parent))
        os.chmod(folder, 0o700)
        _worker["folder"] = folder
    return _worker["folder"]


def prepared(assignment: Assignment):
    """This worker's copy of the assignment's material and its loaded configuration, made once per process."""
    from traitlets.config.loader import PyFileConfigLoader

    cache = _worker.setdefault("assignments", {})
    if assignment.key not in cache:
        template = worker_folder() / "assignments" / assignment.key
        write_tree(template, assignment.files)
        (template / "gradebook.db").write_bytes(assignment.gradebook)
        config = PyFileConfigLoader("nbgrader_config.py", path=str(template)).load_config()
        cache[assignment.key] = template, config
    return cache[assignment.key]


def _grade_here(assignment: Assignment, submission: Submission, sandbox: bool) -> dict:
    from nbgrader.api import Gradebook, MissingEntry
    from nbgrader.apps import NbGraderAPI

    name, student = assignment.name, submission.student
    template, config = prepared(assignment)
    root = worker_folder() / "courses" / f"{assignment.key}-{student}"
    shutil.rmtree(root, ignore_errors=True)
    shutil.copytree(template, root)
    write_tree(root / "submitted" / student / name, submission.files)
    put_back_links(root / "submitted" / student / name, submission.links)
    if submission.rows is not None:
        with Gradebook(db_url(root)) as gb:
            write_rows(gb, name, student, submission.rows)
    config = copy.deepcopy(config)
    config.CourseDirectory.root = str(root)
    config.JudgedExecute.self_study = not sandbox  # the course's autograde step does the rest
    try:
        api = NbGraderAPI(config=config)
        with half_made_rows_unannounced():
            results = [api.autograde(name, student)]
        if results[0]["success"]:
            results.append(api.generate_feedback(name, student))
        with Gradebook(db_url(root)) as gb:
            try:
                rows = submission_rows(gb, name, student)
            except MissingEntry:  # failed before nbgrader wrote a row
                rows = None
        success = all(r["success"] for r in results)
        folders = {
            kind: read_tree(root / kind / student / name) if success else None for kind in ("autograded", "feedback")
        }
        return {
            "student": student,
            "success": success,
            "rows": rows,
            **folders,
            "log": "\n".join(r.get("log", "") + r.get("error", "") for r in results),
        }
    finally:
        shutil.rmtree(root, ignore_errors=True)


# ----------------------------------------------------------------------------- in the instructor's process


def students_of(course: Path, assignment: str) -> list[str]:
    """Who submitted ``assignment``, sorted: a folder, or a symbolic link in its place (see :func:`grade`)."""
    return sorted(p.parent.name for p in course.glob(f"submitted/*/{assignment}") if p.is_dir() or p.is_symlink())


def is_graded(course: Path, assignment: str, student: str) -> bool:
    """nbgrader's rule: autograded, and not from an older submission than the one in submitted/."""
    from nbgrader.coursedir import CourseDirectory

    done = course / "autograded" / student / assignment
    if not done.is_dir():
        return False
    stamp = CourseDirectory(root=str(course)).get_existing_timestamp
    submitted = course / "submitted" / student / assignment
    # a timestamp.txt that is a link is not followed (it might lead to /dev/zero): the autograde hook removes it,
    # so nbgrader finds no timestamp there either
    new = stamp(str(submitted)) if is_regular_file(submitted / "timestamp.txt") else None
    old = stamp(str(done))
    return new is None or old is None or new <= old


def is_regular_file(path: Path) -> bool:
    """``path`` is a regular file itself, not a symbolic link to one."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except FileNotFoundError:
        return False


def adopt(course: Path, assignment: str, result: dict) -> None:
    """Write one worker's result into the course: gradebook rows, then feedback/, then autograded/ (which
    marks the student done). A failed grading changes nothing of an earlier grade; a student failing the
    first time gets the rows nbgrader wrote, as a serial run leaves them."""
    from nbgrader.api import Gradebook, MissingEntry

    student = result["student"]
    with Gradebook(db_url(course)) as gb:
        if result["rows"] is not None:
            try:
                earlier = gb.find_submission(assignment, student) is not None
            except MissingEntry:
                earlier = False
            if result["success"] or not earlier:
                write_rows(gb, assignment, student, result["rows"])
    if result["success"]:
        for kind in ("feedback", "autograded"):
            here = course / kind / student / assignment
            incoming = here.with_name(f".{assignment}.incoming")
            shutil.rmtree(incoming, ignore_errors=True)
            write_tree(incoming, result[kind])
            shutil.rmtree(here, ignore_errors=True)
            incoming.rename(here)


def export_csv(course: Path) -> Path:
    """nbgrader's CSV export of the whole gradebook to ``course/grades.csv`` (what ``nbgrader export`` writes)."""
    from nbgrader.api import Gradebook
    from nbgrader.plugins import CsvExportPlugin

    path = course / "grades.csv"
    with Gradebook(db_url(course)) as gb:
        CsvExportPlugin(to=str(path)).export(gb)
    return path


GENERIC_ERRORS = ("There was an error processing", "Traceback", "Please see the")  # nbgrader's frame lines
EXCEPTION_LINE = re.compile(r"^(?:[\w.]+\.)?(\w+(?:Error|Exception|Exit|Worker)): (.*)$")


def reason(log: str) -> str:
    """Why a grading failed, from nbgrader's log (or a traceback): its first specific error line, else the
    last exception named in it, else its last line."""
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    errors = [line.removeprefix("[ERROR] ") for line in lines if line.startswith("[ERROR]")]
    specific = [line for line in errors if not line.startswith(GENERIC_ERRORS)]
    raised = [f"{m[1]}: {m[2]}" for m in map(EXCEPTION_LINE.match, lines) if m and not m[2].startswith(GENERIC_ERRORS)]
    return (specific or raised[-1:] or lines[-1:] or ["no log"])[0]


def carried(material):
    """The task whose result is ``material``: data that the scheduler can make again on any worker."""
    return material


# Left at dask's defaults, each process of a local cluster of two wakes every 10 to 500 ms to profile its task,
# check its event loop, sample its memory and record system metrics for a dashboard this cluster does not serve:
# a tenth of a core, idle (measured), taken from the kernels being graded. Five times less with these.
QUIET_CLUSTER = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "1s",
    "distributed.admin.system-monitor.interval": "5s",
    "distributed.worker.memory.monitor-interval": "1s",
}


def client_for(scheduler: str | None, workers: int | None):
    """A dask client: of the scheduler at ``scheduler``, or of an embedded local cluster of ``workers``
    processes (one per core by default) with one thread each."""
    import dask
    from distributed import Client, LocalCluster

    if scheduler:
        try:
            client = Client(scheduler, timeout=60)
        except OSError as error:
            raise SystemExit(f"cannot reach the dask scheduler at {scheduler}: {error}") from None
        attached = len(client.nthreads())
        print(
            f"grading on the {attached} workers of {scheduler} (more may join)"
            if attached
            else f"no worker is attached to {scheduler} yet: waiting for one",
            flush=True,
        )
        return client
    n = workers or os.cpu_count() or 1
    # On a hub's machine every student is a local user. The cluster speaks TLS with credentials made for this
    # run alone, so no other client can join it (a client runs code as the grader); it serves no web page (its
    # task names are the students'); and its workers keep their files in a folder of the grader's alone, not in
    # the shared /tmp/dask-scratch-space, which another user could have made and could rename things in.
    scratch = tempfile.mkdtemp(prefix="grading-dask-")
    routes = {"distributed.scheduler.http.routes": [], "distributed.worker.http.routes": []}
    try:
        with dask.config.set({**routes, **QUIET_CLUSTER}):
            cluster = LocalCluster(
                n_workers=n,
                threads_per_worker=1,
                processes=True,
                security=True,
                dashboard_address=None,
                scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},  # no clash with another run's default port
                local_directory=scratch,
                silence_logs=logging.ERROR,
            )
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    client = Client(cluster)
    client.local_cluster = cluster, scratch  # closed and removed with the client (close_client)
    print(f"grading on a local cluster of {n} workers", flush=True)
    return client


def close_client(client) -> None:
    """Close ``client`` (from :func:`client_for`), and its local cluster and the cluster's folder if it has one."""
    client.close()
    if hasattr(client, "local_cluster"):
        cluster, scratch = client.local_cluster
        cluster.close()
        shutil.rmtree(scratch, ignore_errors=True)


def require_judged_autograde(course: Path) -> None:
    """What make grade promises (student code in the sandbox, tests judged outside it) is JudgedExecute's work:
    refuse a course whose configuration autogrades otherwise."""
    from traitlets.config.loader import PyFileConfigLoader
    from traitlets.utils.importstring import import_item

    from grading.autograde import JudgedExecute

    config = course / "nbgrader_config.py"
    steps = []
    if config.is_file():
        steps = (
            PyFileConfigLoader(config.name, path=str(course)).load_config().Autograde.get("autograde_preprocessors", [])
        )
    first = steps[0] if steps else None
    if isinstance(first, str):  # nbgrader accepts a class's dotted name too
        first = import_item(first)
    if not (isinstance(first, type) and issubclass(first, JudgedExecute)):
        raise SystemExit(
            f"{config} does not make JudgedExecute the first autograde step "
            f"(c.Autograde.autograde_preprocessors), and make grade grades only with it: see "
            f"grading/README.md"
        )


def grade(
    course: Path,
    assignment: str,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    force: bool = False,
    sandbox: bool = True,
) -> dict[str, str]:
    """Autograde, give feedback and export grades.csv; return the students whose grading failed, with why."""
    from concurrent.futures import CancelledError

    from distributed import as_completed
    from nbgrader.api import Gradebook, MissingEntry
    from tqdm import tqdm

    course = course.resolve()
    try:
        if not (course / "gradebook.db").is_file():
            raise MissingEntry()
        with Gradebook(db_url(course)) as gb:
            gb.find_assignment(assignment)
    except MissingEntry:
        raise SystemExit(
            f"{assignment} is not in the gradebook of {course}: run `nbgrader generate_assignment "
            f"{assignment}` there first"
        ) from None
    require_judged_autograde(course)
    work = course / WORK / assignment
    (work / "logs").mkdir(parents=True, exist_ok=True)
    os.chmod(course / WORK, 0o700)
    lock = open(work / "lock", "w")  # noqa: SIM115 (held until the process ends)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise SystemExit(f"another run is grading {assignment} in {course}") from None
    students = students_of(course, assignment)
    # a submission whose folder is a link (to a classmate's, say) is nobody's to grade: it fails here, unread
    failed = {
        student: linked_submission_reason(link)
        for student in students
        if (link := submission_link(course / "submitted" / student / assignment))
    }
    for student, why in failed.items():
        (work / "logs" / f"{student}.log").write_text(f"Not graded: {why}\n")
    todo = [s for s in students if s not in failed and (force or not is_graded(course, assignment, s))]
    done = len(students) - len(todo) - len(failed)
    print(
        f"{assignment}: {len(students)} submissions, {done} already graded"
        + (f", {len(failed)} not folders" if failed else ""),
        flush=True,
    )
    client = client_for(scheduler, workers) if todo else None
    bar = tqdm(total=len(students), initial=len(students) - len(todo), unit="student", desc=assignment)
    if client:
        try:
            packed, material = pack_assignment(course, assignment), None
            waiting, running, whose, tries = list(reversed(todo)), as_completed(), {}, {}

            def submit_next(student=None):
                nonlocal material
                if material is None or material.cancelled():
                    # a task, not scattered data: should the worker holding it die, the scheduler makes it again
                    material = client.submit(carried, packed, pure=False)
                student = student or waiting.pop()
                tries[student] = tries.get(student, 0) + 1
                future = client.submit(
                    grade_submission,
                    material,
                    pack_submission(course, assignment, student),
                    sandbox,
                    key=f"grade-{assignment}-{student}-{os.getpid()}-{tries[student]}",
                    pure=False,
                )
                whose[future.key] = student
                running.add(future)

            while waiting and running.count() < max(2, 2 * sum(client.nthreads().values())):
                submit_next()
            for future in running:
                student = whose.pop(future.key)
                try:
                    result = future.result()
                except CancelledError:  # the scheduler dropped the task (say, it lost what the task needed)
                    if tries[student] < SUBMIT_TRIES:
                        submit_next(student)
                        continue
                    result = {
                        "student": student,
                        "success": False,
                        "rows": None,
                        "log": f"CancelledError: dask cancelled the grading {SUBMIT_TRIES} times",
                    }
                except Exception as error:  # noqa: BLE001 (e.g. KilledWorker: the task killed every worker it ran on)
                    result = {
                        "student": student,
                        "success": False,
                        "rows": None,
                        "log": f"{type(error).__name__}: {error}",
                    }
                adopt(course, assignment, result)
                (work / "logs" / f"{result['student']}.log").write_text(result["log"])
                if not result["success"]:
                    failed[result["student"]] = reason(result["log"])
                bar.update()
                if waiting:
                    submit_next()
        finally:
            close_client(client)
    bar.close()
    export_csv(course)
    return dict(sorted(failed.items()))


# ----------------------------------------------------------------------------- command line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``python -m grading grade``."""
    parser.add_argument("assignment")
    parser.add_argument("--course", type=Path, default=COURSE_ROOT, help="nbgrader course root (default: %(default)s)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, help="processes of the local cluster (default: one per core)")
    where.add_argument(
        "--scheduler", metavar="ADDRESS", help="grade on the workers of this dask scheduler (e.g. tcp://host:8786)"
    )
    parser.add_argument("--force", action="store_true", help="grade again students already graded")
    parser.add_argument(
        "--no-sandbox",
        action="store_true",
        help="run kernels without isolation (self-study only)",
    )


def run(args: argparse.Namespace) -> int:
    if args.workers is not None and args.workers < 1:
        raise SystemExit("--workers needs a positive number")
    refusal = None if args.no_sandbox or args.scheduler else sandbox_refusal()
    if refusal:
        raise SystemExit(f"no grading sandbox here: {refusal}; --no-sandbox grades without it (self-study only)")
    course = args.course.resolve()
    try:
        failed = grade(
            course,
            args.assignment,
            workers=args.workers,
            scheduler=args.scheduler,
            force=args.force,
            sandbox=not args.no_sandbox,
        )
    except KeyboardInterrupt:
        print("\ninterrupted: run the same command again to grade the rest", file=sys.stderr)
        return 130
    print(f"grades: {course / 'grades.csv'}; feedback: {course / 'feedback'}")
    if failed:
        print(
            f"grading failed for {len(failed)} (logs in {course / WORK / args.assignment / 'logs'}):", file=sys.stderr
        )
        for student, why in failed.items():
            print(f"  {student}: {why}", file=sys.stderr)
    return 1 if failed else 0
