"""Grade a whole class fast and safely: ``make grade A=<assignment>`` (see grading/README.md).

    python -m grading.parallel grade ASSIGNMENT [--course grading/course] [--workers N] [--part K/M] [--force]
    python -m grading.parallel merge ASSIGNMENT OTHER_COURSE... [--course grading/course]

``grade`` autogrades every submission of ASSIGNMENT in a shard of its own: a small course root holding a
copy of the gradebook, that one submission and the assignment's data files. A pool of workers (one per
core by default), each a long-lived process that pays nbgrader's start-up once, runs nbgrader's own
autograde and generate_feedback (``nbgrader.apps.NbGraderAPI``) on one shard after another, with every
kernel in the sandbox of :mod:`grading.sandbox`. The main process alone writes the course: it merges each
finished shard's gradebook rows through ``nbgrader.api.Gradebook``, then moves in its feedback/ and
autograded/ folders; the autograded folder comes last and marks the student done, so a run that is
killed and started again grades only who is left (like ``nbgrader autograde``, it grades again a
student whose submission is newer, or everyone with ``--force``). Last, grades.csv is exported.

``merge`` brings into the course what ``grade --part`` graded in copies of it on other machines.
"""

from __future__ import annotations

import argparse
import copy
import fcntl
import multiprocessing
import os
import shutil
import sqlite3
import sys
import traceback
import warnings
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from grading import COURSE_ROOT
from grading import sandbox as sb
from grading.sandbox import without

REPO = Path(__file__).resolve().parent.parent
WORK = ".parallel"  # inside the course root: <course>/.parallel/<assignment>/{template.db,shards,logs}
GRADE_FIELDS = ("auto_score", "manual_score", "extra_credit", "needs_manual_grade")
COMMENT_FIELDS = ("auto_comment", "manual_comment")


def db_url(course: Path) -> str:
    return f"sqlite:///{course / 'gradebook.db'}"


# ----------------------------------------------------------------------------- merging gradebooks


def merge_submission(src, dst, assignment: str, student: str) -> None:
    """Copy one graded submission from Gradebook ``src`` into Gradebook ``dst`` (rows updated, never added twice)."""
    from nbgrader.api import MissingEntry

    sub = src.find_submission(assignment, student)
    try:
        dst.find_student(student)
    except MissingEntry:
        who = sub.student
        dst.add_student(student, first_name=who.first_name, last_name=who.last_name, email=who.email,
                        lms_user_id=who.lms_user_id)
    dst.update_or_create_submission(assignment, student, timestamp=sub.timestamp, extension=sub.extension)
    for nb in sub.notebooks:
        into = dst.find_submission_notebook(nb.name, assignment, student)
        into.flagged, into.late_submission_penalty = nb.flagged, nb.late_submission_penalty
        for grade in nb.grades:
            _copy(grade, dst.find_grade(grade.name, nb.name, assignment, student), GRADE_FIELDS)
        for comment in nb.comments:
            _copy(comment, dst.find_comment(comment.name, nb.name, assignment, student), COMMENT_FIELDS)
    dst.db.commit()


def _copy(src, dst, fields) -> None:
    for field in fields:
        setattr(dst, field, getattr(src, field))


def adopt(src: Path, course: Path, assignment: str, student: str, move: bool) -> None:
    """Bring ``student``'s grading from course root ``src`` into ``course``: gradebook rows, feedback, autograded.

    The autograded folder comes last: its presence means the student is done. A student whose grading failed
    keeps the gradebook rows nbgrader wrote (as a serial run does) and loses any old autograded folder.
    """
    from nbgrader.api import Gradebook
    from sqlalchemy.exc import SAWarning

    with Gradebook(db_url(src)) as s, Gradebook(db_url(course)) as d, warnings.catch_warnings():
        warnings.simplefilter("ignore", SAWarning)  # nbgrader's add_submission flushes a half-made row
        merge_submission(s, d, assignment, student)
    for kind in ("feedback", "autograded"):
        there, here = src / kind / student / assignment, course / kind / student / assignment
        if kind == "autograded" or there.is_dir():
            shutil.rmtree(here, ignore_errors=True)
        if there.is_dir():
            here.parent.mkdir(parents=True, exist_ok=True)
            (shutil.move if move else shutil.copytree)(there, here)


def export_csv(course: Path) -> Path:
    """nbgrader's CSV export of the whole gradebook to ``course/grades.csv`` (what ``nbgrader export`` writes)."""
    from nbgrader.api import Gradebook
    from nbgrader.plugins import CsvExportPlugin

    path = course / "grades.csv"
    with Gradebook(db_url(course)) as gb:
        CsvExportPlugin(to=str(path)).export(gb)
    return path


# ----------------------------------------------------------------------------- workers


def load_config(course: Path):
    """The course's nbgrader_config.py, as ``nbgrader`` run in the course root reads it."""
    from traitlets.config.loader import PyFileConfigLoader

    return PyFileConfigLoader("nbgrader_config.py", path=str(course)).load_config()


_worker: dict = {}


def start_worker(course: str, work: str, limits: dict | None) -> None:
    """Pool initializer: claim a slot, load the config, send output to a log, set up the sandbox."""
    slot, _ = sb.claim_slot()  # held while this worker lives
    course, work = Path(course), Path(work)
    config = load_config(course)
    log = os.open(work / "logs" / f"worker-{slot}.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(log, 1), os.dup2(log, 2)  # kernels inherit these
    if limits is not None:
        sandboxed(config, slot, course, work, limits)
    _worker.update(config=config, course=course, work=work, slot=slot, sandbox=limits is not None)


def sandbox_paths(course: Path) -> tuple[list[Path], list[Path]]:
    """What the sandbox hides (the course, the repository, the grader's home, folders others may not
    enter) and what it brings back read-only (the Python environment, ``helpers`` and the data sets)."""
    import helpers
    from helpers.data import DATASETS_DIR

    keep = [Path(sys.prefix), Path(sys.base_prefix), Path(helpers.__file__).parent, DATASETS_DIR]
    closed = {a for p in keep for a in p.parents if not os.stat(a).st_mode & 0o001}  # e.g. /root: covered,
    hide = [p for p in {course, REPO, Path.home(), *closed} if p != Path("/")]  # what is kept is reachable
    return hide, keep


def sandboxed(config, slot: int, course: Path, work: Path, limits: dict) -> None:
    """Make the ``python3`` kernel of this worker the sandboxed one, talking over Unix sockets."""
    import matplotlib
    import matplotlib.font_manager  # noqa: F401 (makes the font cache each kernel would make again)

    home = work / f"home-{slot}"
    (home / ".cache" / "matplotlib").mkdir(parents=True, exist_ok=True)
    for fonts in Path(matplotlib.get_cachedir()).glob("fontlist-*.json"):
        shutil.copy(fonts, home / ".cache" / "matplotlib")
    spec = sb.kernel_spec(work / f"kernels-{slot}", slot, *sandbox_paths(course), home_template=home, **limits)
    os.environ["JUPYTER_PATH"] = os.pathsep.join([str(spec), os.environ.get("JUPYTER_PATH", "")])
    config.KernelManager.transport = "ipc"
    config.KernelManager.ip = str(sb.prepare(slot) / "kernel")
    config.NotebookClient.kernel_name = "python3"  # the sandboxed one, whatever the notebook asks for


def grade_one(assignment: str, student: str) -> tuple[str, bool]:
    """Autograde and give feedback to one student in a fresh shard; return (student, success)."""
    try:
        return student, shard_grade(assignment, student)
    except Exception:  # a submission nbgrader cannot even start on fails alone
        (_worker["work"] / "logs" / f"{student}.log").write_text(traceback.format_exc())
        return student, False


def shard_grade(assignment: str, student: str) -> bool:
    from nbgrader.apps import NbGraderAPI

    course, work = _worker["course"], _worker["work"]
    shard = work / "shards" / student
    shutil.rmtree(shard, ignore_errors=True)
    (shard / "source").mkdir(parents=True)
    shutil.copyfile(work / "template.db", shard / "gradebook.db")  # first: every shard has its gradebook
    shutil.copytree(course / "submitted" / student / assignment, shard / "submitted" / student / assignment,
                    ignore=without())  # no symbolic links: nbgrader (root) would copy what they point to
    shutil.copytree(course / "source" / assignment, shard / "source" / assignment,
                    ignore=without("*.ipynb"))  # the data files autograde copies in
    if _worker["sandbox"]:
        sb.prepare(_worker["slot"])  # no socket of the previous kernel stays
    config = copy.deepcopy(_worker["config"])
    config.CourseDirectory.root = str(shard)
    api = NbGraderAPI(config=config)
    results = [api.autograde(assignment, student)]
    if results[0]["success"]:
        results.append(api.generate_feedback(assignment, student))
    text = "\n".join(r.get("log", "") + r.get("error", "") for r in results)
    (work / "logs" / f"{student}.log").write_text(text)
    return all(r["success"] for r in results)


# ----------------------------------------------------------------------------- the class


def students_of(course: Path, assignment: str, part: tuple[int, int] = (1, 1)) -> list[str]:
    """Who submitted ``assignment``, sorted; with ``part=(k, m)`` every m-th of them from the k-th."""
    names = sorted(p.parent.name for p in course.glob(f"submitted/*/{assignment}") if p.is_dir())
    k, m = part
    return names[k - 1::m]


def is_graded(course: Path, assignment: str, student: str) -> bool:
    """nbgrader's rule: autograded, and not from an older submission than the one in submitted/."""
    from nbgrader.coursedir import CourseDirectory

    done = course / "autograded" / student / assignment
    if not done.is_dir():
        return False
    stamp = CourseDirectory(root=str(course)).get_existing_timestamp
    new, old = stamp(str(course / "submitted" / student / assignment)), stamp(str(done))
    return new is None or old is None or new <= old


def snapshot(db: Path, copy_to: Path) -> None:
    """A consistent copy of a SQLite database (the backup API)."""
    with sqlite3.connect(db) as src, sqlite3.connect(copy_to) as dst:
        src.backup(dst)


def grade(course: Path, assignment: str, workers: int, part=(1, 1), force=False,
          limits: dict | None = None) -> list[str]:
    """Autograde, give feedback and export; return the students whose grading failed."""
    from nbgrader.api import Gradebook, MissingEntry
    from tqdm import tqdm

    course = course.resolve()
    with Gradebook(db_url(course)) as gb:
        gb.find_assignment(assignment)  # MissingEntry: run `nbgrader generate_assignment` first
    work = course / WORK / assignment
    (work / "logs").mkdir(parents=True, exist_ok=True)
    os.chmod(course / WORK, 0o700)
    lock = open(work / "lock", "w")  # noqa: SIM115 (held until the process ends)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise SystemExit(f"another run is grading {assignment} in {course}") from None
    students = students_of(course, assignment, part)
    todo = [s for s in students if force or not is_graded(course, assignment, s)]
    shutil.rmtree(work / "shards", ignore_errors=True)  # what an interrupted run left half done
    snapshot(course / "gradebook.db", work / "template.db")
    print(f"{assignment}: {len(students)} submissions, {len(students) - len(todo)} already graded", flush=True)
    failed = []
    bar = tqdm(total=len(students), initial=len(students) - len(todo), unit="student", desc=assignment)
    if todo:
        with ProcessPoolExecutor(workers, multiprocessing.get_context("spawn"), initializer=start_worker,
                                 initargs=(str(course), str(work), limits)) as pool:
            jobs = [pool.submit(grade_one, assignment, s) for s in todo]
            for job in as_completed(jobs):
                student, ok = job.result()
                shard = work / "shards" / student
                try:
                    adopt(shard, course, assignment, student, move=True)
                except MissingEntry:  # failed before nbgrader wrote a row, as a serial run would leave it
                    if ok:
                        raise
                shutil.rmtree(shard)
                if not ok:
                    failed.append(student)
                bar.update()
    bar.close()
    export_csv(course)
    return sorted(failed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grading.parallel", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    g = sub.add_parser("grade", help="autograde, give feedback and export grades.csv for a whole class")
    g.add_argument("assignment")
    g.add_argument("--course", type=Path, default=COURSE_ROOT, help="nbgrader course root")
    g.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    g.add_argument("--part", default="1/1", help="K/M: grade every M-th student from the K-th (several machines)")
    g.add_argument("--force", action="store_true", help="grade again students already graded")
    g.add_argument("--no-sandbox", action="store_true", help="run kernels as nbgrader does (no isolation)")
    g.add_argument("--memory-mb", type=int, default=3072, help="address space of each sandboxed process")
    g.add_argument("--cpu-seconds", type=int, default=600, help="CPU time of each sandboxed process")
    g.add_argument("--processes", type=int, default=512, help="processes and threads of one sandbox")
    m = sub.add_parser("merge", help="bring in students graded (grade --part) in other copies of the course")
    m.add_argument("assignment")
    m.add_argument("others", nargs="+", type=Path, help="course roots graded elsewhere")
    m.add_argument("--course", type=Path, default=COURSE_ROOT)
    args = parser.parse_args(argv)
    course = args.course.resolve()

    if args.command == "merge":
        for other in args.others:
            for student in students_of(other.resolve(), args.assignment):
                if is_graded(other.resolve(), args.assignment, student):
                    adopt(other.resolve(), course, args.assignment, student, move=False)
        print(f"merged into {course / 'gradebook.db'}; grades: {export_csv(course)}")
        return 0

    k, m = (int(x) for x in args.part.split("/"))
    if not 1 <= k <= m:
        parser.error("--part K/M needs 1 <= K <= M")
    if not args.no_sandbox and os.geteuid() != 0:
        parser.error("the sandbox needs root (it creates users and namespaces); --no-sandbox grades without it")
    limits = None if args.no_sandbox else {"memory_mb": args.memory_mb, "cpu_seconds": args.cpu_seconds,
                                           "processes": args.processes}
    try:
        failed = grade(course, args.assignment, args.workers, (k, m), args.force, limits)
    except KeyboardInterrupt:
        print("\ninterrupted: run the same command again to grade the rest", file=sys.stderr)
        return 130
    print(f"grades: {course / 'grades.csv'}; feedback: {course / 'feedback'}")
    if failed:
        print(f"grading failed for {', '.join(failed)}: see {course / WORK / args.assignment / 'logs'}",
              file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
