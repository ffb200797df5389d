"""make grade (grading/parallel.py) and its sandbox (grading/sandbox.py), in temporary copies of grading/course/.

The sandbox needs root (it makes users and namespaces), as CI has. Classes are small: every submission
costs a kernel. Serial stock nbgrader is the reference for the scores.
"""

from __future__ import annotations

import csv
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook

import grading_fixtures as fx
from grading import parallel, sandbox
from test_grading import copy_course, nbgrader, notebook_of, read_nb

REPO = Path(__file__).resolve().parent.parent



pytestmark = pytest.mark.needs_root  # elsewhere these tests skip, saying so; on CI they fail instead


A = "structure_and_pooling"  # the fastest assignment
SLOT = 0


# ----------------------------------------------------------------------------- the sandbox alone


@pytest.fixture
def slot():
    """A sandbox slot of this test's own, as a grading worker claims one."""
    number, lock = sandbox.claim_slot()
    yield number
    os.close(lock)


def in_sandbox(code: str, slot: int, cwd: Path, course: Path, memory_mb=1024, cpu_seconds=60, processes=32):
    hide, keep = parallel.sandbox_paths(course)
    sandbox.prepare(slot)
    argv = sandbox.wrapper(slot, hide, keep, memory_mb, cpu_seconds, processes) + [sys.executable, "-c", code]
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=300)


def uptime() -> float:
    return float(Path("/proc/uptime").read_text().split()[0])


def leftovers(slots, started_before: float) -> list[int]:
    """Processes of the sandbox users of ``slots`` that started before ``started_before`` (seconds since boot):
    what a run left alive, not what a later run on the machine (which may reuse a slot) started."""
    uids = {pwd.getpwnam(sandbox.user_name(s)).pw_uid for s in slots}
    tick, alive = os.sysconf("SC_CLK_TCK"), []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            started = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[19]) / tick
            if proc.stat().st_uid in uids and started < started_before:
                alive.append(int(proc.name))
        except (OSError, ValueError):
            continue
    return alive


def slots_of(course: Path) -> set[int]:
    """The slots the workers of a run on ``course`` held (their logs are named after them)."""
    return {int(p.stem.split("-")[1]) for p in course.glob(f"{parallel.WORK}/{A}/logs/worker-*.log")}


@pytest.fixture
def fake_course(tmp_path):
    """A course root with a secret in source/, a gradebook, and a notebook folder to run in."""
    course = tmp_path / "course"
    (course / "source" / "a").mkdir(parents=True)
    (course / "source" / "a" / "a.ipynb").write_text("HIDDEN TESTS")
    (course / "gradebook.db").write_bytes(b"grades")
    work = course / "autograded" / "s" / "a"
    work.mkdir(parents=True)
    (work / "a.ipynb").write_text("HIDDEN TESTS")
    (work / "data.csv").write_text("x\n1\n")
    return course, work


PROBE = """
import json, os, socket, sys
def attempt(f):
    try:
        f()
        return "done"
    except Exception as e:
        return type(e).__name__
course, port = {course!r}, {port}
print(json.dumps({{
    "uid": os.getuid(),
    "read source": attempt(lambda: open(course + "/source/a/a.ipynb").read()),
    "write gradebook": attempt(lambda: open(course + "/gradebook.db", "ab").write(b"x")),
    "write environment": attempt(lambda: open(os.path.join(sys.prefix, "planted"), "w")),
    "connect to the grader": attempt(lambda: socket.create_connection(("127.0.0.1", port), timeout=5)),
    "repository": sorted(os.listdir({repo!r})),
    "folder": sorted(os.listdir(".")),
    "processes": [p for p in os.listdir("/proc") if p.isdigit()],
    "data": attempt(lambda: __import__("helpers.data").data.load_gp_cholesterol()),
}}))
"""


def test_sandbox_hides_the_course_blocks_writes_and_network(fake_course, slot):
    course, work = fake_course
    with socket.create_server(("127.0.0.1", 0)) as listener:  # reachable from any process outside
        code = PROBE.format(course=str(course), port=listener.getsockname()[1], repo=str(REPO))
        run = in_sandbox(code, slot, work, course)
    assert run.returncode == 0, run.stderr[-3000:]
    seen = json.loads(run.stdout.strip().splitlines()[-1])
    assert seen["uid"] != 0
    assert seen["read source"] == "FileNotFoundError" and seen["write gradebook"] == "FileNotFoundError"
    assert seen["write environment"] in ("OSError", "PermissionError")  # read-only mount
    assert seen["connect to the grader"] != "done"
    kept = {p.name for p in parallel.sandbox_paths(course)[1] if p.parent == REPO}
    assert set(seen["repository"]) == kept, "only the environment, helpers and datasets of the repo are visible"
    assert seen["folder"] == ["data.csv"], "the kernel's folder is a copy without notebooks"
    assert len(seen["processes"]) <= 3, "no process of the host is visible"
    assert seen["data"] == "done"
    assert (course / "gradebook.db").read_bytes() == b"grades"


def test_sandbox_limits_cpu_memory_and_processes(fake_course, slot):
    course, work = fake_course
    spin = in_sandbox("while True: pass", slot, work, course, cpu_seconds=1)
    assert spin.returncode != 0 and "SIGXCPU" in spin.stderr
    hog = in_sandbox("x = bytearray(2**31)", slot, work, course, memory_mb=1024)
    assert "MemoryError" in hog.stderr
    forks = in_sandbox("import os, time\nn = 0\ntry:\n    while True:\n        if os.fork() == 0:\n"
                       "            time.sleep(600)\n        n += 1\nexcept OSError:\n    print(n)", slot, work,
                       course, processes=16)
    assert forks.returncode == 0, forks.stderr[-2000:]
    assert 0 < int(forks.stdout) < 16


def test_sandbox_leaves_no_process_behind(fake_course, slot):
    course, work = fake_course
    code = "import os, time\nif os.fork() == 0:\n    os.setsid()\n    time.sleep(600)\nprint('left a sleeper')"
    run = in_sandbox(code, slot, work, course)
    assert "left a sleeper" in run.stdout
    assert not leftovers([slot], uptime())


# ----------------------------------------------------------------------------- whole classes


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """A course with A generated (stock nbgrader) and no submission yet."""
    root = copy_course(tmp_path_factory.mktemp("generated") / "grading")
    nbgrader("generate_assignment", A, cwd=root)
    return root


def notebooks(root: Path):
    return read_nb(notebook_of(root, A, "release")), read_nb(notebook_of(root, A))


def benign(root: Path) -> dict:
    release, source = notebooks(root)
    return {"solution": fx.with_solutions(release, source), "untouched": release,
            "partly_right": fx.partly_right(release, source, A)[0]}


def new_course(generated: Path, dest: Path, submissions: dict) -> Path:
    shutil.copytree(generated, dest)
    name = notebook_of(generated, A, "release").name
    for student, nb in submissions.items():
        (dest / "submitted" / student / A).mkdir(parents=True)
        nbformat.write(nb, dest / "submitted" / student / A / name)
    return dest


def grade(root: Path, *extra: str):
    return subprocess.run([sys.executable, "-m", "grading.parallel", "grade", A, "--course", str(root), *extra],
                          cwd=REPO, capture_output=True, text=True, timeout=1800)


def grades(root: Path, students) -> dict:
    """Every graded cell of ``students``: scores, whether it needs a person, and the comment."""
    out = {}
    with Gradebook(parallel.db_url(root)) as gb:
        for sub in gb.assignment_submissions(A):
            if sub.student_id in students:
                for nb in sub.notebooks:
                    for g in nb.grades:
                        out[sub.student_id, nb.name, g.name] = (g.auto_score, g.manual_score, g.needs_manual_grade)
                    for c in nb.comments:
                        out[sub.student_id, nb.name, c.name, "comment"] = (c.auto_comment, c.manual_comment)
    return out


def csv_rows(root: Path) -> list[dict]:
    with open(root / "grades.csv", newline="") as f:
        return [r for r in csv.DictReader(f) if r["assignment"] == A]


def attacks(course: Path) -> dict[str, str]:
    """Code a student puts before a right answer; each prints what it managed."""
    shard = f"{course}/{parallel.WORK}/{A}"
    victim = f"{course}/submitted/solution/{A}/{A}.ipynb"
    return {
        "gradebook_writer": f"""
import sqlite3
for db in ["{course}/gradebook.db", "{shard}/template.db", "../../../gradebook.db"]:
    try:
        with sqlite3.connect(db) as con:
            con.execute("UPDATE grade SET auto_score = 99")
        print("ATTACK WORKED: rewrote", db)
    except Exception as e:
        print("blocked:", type(e).__name__)
""",
        "source_reader": f"""
import glob
for pattern in ["{course}/source/*/*.ipynb", "{REPO}/grading/course/source/*/*.ipynb", "*.ipynb", "../../../source/*/*.ipynb"]:
    for path in glob.glob(pattern):
        print(open(path).read())
print("blocked: nothing to read")
""",
        "classmate_writer": f"""
for path in ["{victim}", "{shard}/shards/solution/submitted/solution/{A}/{A}.ipynb",
             "{course}/autograded/solution/{A}/{A}.ipynb"]:
    try:
        open(path, "w").write("{{}}")
        print("ATTACK WORKED: overwrote", path)
    except Exception as e:
        print("blocked:", type(e).__name__)
""",
        "fork_bomb": """
import os, time
while True:
    if os.fork() == 0:
        time.sleep(3600)
""",
    }


def malicious(generated: Path, course: Path) -> dict:
    release, source = notebooks(generated)
    out = {}
    for student, code in attacks(course).items():
        nb = fx.with_solutions(release, source)
        cell = next(c for c in nb.cells if fx.grade_id(c) == "q1_sizes")
        cell.source = code + "\n" + cell.source
        out[student] = nb
    return out


@pytest.fixture(scope="module")
def serial_and_parallel(generated, tmp_path_factory):
    """The benign class graded by stock nbgrader, serially; the same class plus attackers by make grade."""
    tmp = tmp_path_factory.mktemp("classes")
    serial = new_course(generated, tmp / "serial", benign(generated))
    for command in (["autograde", A], ["generate_feedback", A], ["export"]):
        nbgrader(*command, cwd=serial)
    par = new_course(generated, tmp / "parallel", {**benign(generated), **malicious(generated, tmp / "parallel")})
    victim = (par / "submitted" / "solution" / A / f"{A}.ipynb").read_bytes()
    run = grade(par, "--workers", "2", "--processes", "64")
    return serial, par, run, victim, uptime()


@pytest.mark.slow
def test_parallel_scores_equal_serial_nbgrader(serial_and_parallel):
    serial, par, run, *_ = serial_and_parallel
    assert run.returncode == 1 and "grading failed for fork_bomb:" in run.stderr, run.stderr[-4000:]
    students = set(benign(serial))
    assert grades(par, students) == grades(serial, students)
    assert len(grades(serial, students)) > 3 * 10
    mine = [r for r in csv_rows(par) if r["student_id"] in students]
    assert sorted(mine, key=lambda r: r["student_id"]) == sorted(csv_rows(serial), key=lambda r: r["student_id"])
    for student in students:
        assert (par / "feedback" / student / A / f"{A}.html").is_file()


def cell_output(root: Path, student: str, gid: str) -> str:
    nb = read_nb(notebook_of(root / "autograded" / student, A, "."))
    cell = next(c for c in nb.cells if fx.grade_id(c) == gid)
    return "".join(o.get("text", "") + o.get("evalue", "") for o in cell.outputs)


@pytest.mark.slow
@pytest.mark.parametrize("student", ["gradebook_writer", "source_reader", "classmate_writer"])
def test_each_attack_fails_alone(serial_and_parallel, student):
    serial, par, run, victim, _ = serial_and_parallel
    said = cell_output(par, student, "q1_sizes")
    assert "blocked" in said and "ATTACK WORKED" not in said, said
    assert "HIDDEN TESTS" not in said and "_reference" not in said
    rows = [r for r in csv_rows(par) if r["student_id"] == student]
    assert len(rows) == 1, "the attacker's own score row is recorded"
    solution = grades(serial, {"solution"})
    assert {k[1:]: v for k, v in grades(par, {student}).items()} == {k[1:]: v for k, v in solution.items()}, \
        "the attacker scores what the right answers score, nothing more"
    assert (par / "submitted" / "solution" / A / f"{A}.ipynb").read_bytes() == victim


@pytest.mark.slow
def test_a_fork_bomb_fails_alone(serial_and_parallel):
    """The bomb takes every process its sandbox user may have, so its own kernel cannot go on: the
    grading of that student fails, as nbgrader records a failure, and nobody else notices."""
    _, par, run, _, ended = serial_and_parallel
    (row,) = [r for r in csv_rows(par) if r["student_id"] == "fork_bomb"]
    assert float(row["raw_score"]) == 0
    assert not (par / "autograded" / "fork_bomb").exists()
    assert slots_of(par) and not leftovers(slots_of(par), ended), "the bomb's processes died with its kernel"


@pytest.mark.slow
def test_killed_run_resumes_without_regrading_or_duplicates(generated, tmp_path):
    release, source = notebooks(generated)
    students = {f"s{i}": fx.with_solutions(release, source) for i in range(4)}
    root = new_course(generated, tmp_path / "grading", students)

    def finished():
        return {p.parts[-3]: p.stat() for p in root.glob(f"autograded/*/{A}/{A}.ipynb")}

    make = ["make", "-s", "-o", ".venv/.installed", "grade", f"A={A}", f"COURSE={root}", "WORKERS=2"]
    run = subprocess.Popen(make, cwd=REPO, start_new_session=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    while not finished() and run.poll() is None:
        time.sleep(0.1)
    os.killpg(run.pid, signal.SIGKILL)
    run.wait()
    done, killed = finished(), uptime()
    assert 0 < len(done) < len(students), "killed after the first student, before the last"
    for _ in range(600):  # the sandboxes die with their grader
        if not leftovers(slots_of(root), killed):
            break
        time.sleep(0.1)
    assert slots_of(root) and not leftovers(slots_of(root), killed)

    again = subprocess.run(make, cwd=REPO, capture_output=True, text=True, timeout=1800)
    assert again.returncode == 0, again.stderr[-4000:]
    assert f"{len(done)} already graded" in again.stdout
    for student, before in done.items():
        after = (root / "autograded" / student / A / f"{A}.ipynb").stat()
        assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns), f"{student} regraded"
    with Gradebook(parallel.db_url(root)) as gb:
        assert sorted(s.student_id for s in gb.assignment_submissions(A)) == sorted(students)
    full = sum(fx.auto_points(source).values())
    assert sorted((r["student_id"], float(r["raw_score"])) for r in csv_rows(root)) == \
        [(s, full) for s in sorted(students)]


@pytest.mark.slow
def test_parts_graded_on_two_machines_merge_into_one_gradebook(generated, tmp_path):
    release, source = notebooks(generated)
    subs = {"solution": fx.with_solutions(release, source), "untouched": release}
    home = new_course(generated, tmp_path / "home", subs)
    machines = [tmp_path / f"machine{k}" for k in (1, 2)]
    for k, machine in enumerate(machines, 1):
        shutil.copytree(home, machine)
        run = grade(machine, "--part", f"{k}/2", "--workers", "1")
        assert run.returncode == 0, run.stderr[-4000:]
        assert len(list(machine.glob(f"autograded/*/{A}"))) == 1, "each machine grades its part only"
    for _ in range(2):  # merging again changes nothing
        merge = subprocess.run([sys.executable, "-m", "grading.parallel", "merge", A, *map(str, machines),
                                "--course", str(home)], cwd=REPO, capture_output=True, text=True, timeout=600)
        assert merge.returncode == 0, merge.stderr[-4000:]
    parts = {**grades(machines[0], {"solution", "untouched"}), **grades(machines[1], {"solution", "untouched"})}
    assert grades(home, {"solution", "untouched"}) == parts
    assert sorted(r["student_id"] for r in csv_rows(home)) == ["solution", "untouched"]
    for student in subs:
        assert (home / "autograded" / student / A).is_dir() and (home / "feedback" / student / A).is_dir()
