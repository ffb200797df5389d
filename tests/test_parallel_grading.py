"""make grade (grading/parallel.py) on dask.distributed, with real processes, in temporary copies of grading/course/.

The sandbox alone is tested in tests/test_sandbox.py; here, grading through it on dask workers.

A `dask scheduler` and two `dask worker` processes run on localhost, each worker in an empty folder of its
own that holds nothing of the course; classes are graded through them and through the embedded local
cluster. Serial stock nbgrader is the reference for every score. The sandbox needs root (it makes users
and namespaces), as CI has. Classes are small: every submission costs a kernel.
"""

from __future__ import annotations

import csv
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook

import grading_fixtures as fx
from grading import parallel
from localhost_dask import ENV, LocalhostCluster
from test_grading import copy_course, nbgrader, notebook_of, read_nb

REPO = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.needs_root  # elsewhere these tests skip, saying so; on CI they fail instead


A = "structure_and_pooling"  # the fastest assignment


# ----------------------------------------------------------------------------- classes


def graded_here(cluster: LocalhostCluster, worker: str) -> bool:
    """Whether ``worker`` graded anything (its private folder is made at its first task)."""
    return any(cluster.home(worker).glob("scratch/**/grading-*"))


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with LocalhostCluster(tmp_path_factory.mktemp("dask")) as running:
        yield running


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
    return {
        "solution": fx.with_solutions(release, source),
        "untouched": release,
        "partly_right": fx.partly_right(release, source, A)[0],
    }


def submit(course: Path, student: str, nb, timestamp: str | None = None) -> None:
    """Put ``nb`` (a notebook, or raw text for a broken file) where `nbgrader collect` would."""
    folder = course / "submitted" / student / A
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / notebook_of(course, A, "release").name
    path.write_text(nb) if isinstance(nb, str) else nbformat.write(nb, path)
    if timestamp:
        (folder / "timestamp.txt").write_text(timestamp)


def new_course(generated: Path, dest: Path, submissions: dict) -> Path:
    shutil.copytree(generated, dest)
    for student, nb in submissions.items():
        submit(dest, student, nb)
    return dest


def grade(root: Path, *extra: str):
    return subprocess.run(
        [sys.executable, "-m", "grading", "grade", A, "--course", str(root), *extra],
        cwd=REPO,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=1800,
    )


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


def submissions_in_gradebook(root: Path) -> list[str]:
    with Gradebook(parallel.db_url(root)) as gb:
        return sorted(s.student_id for s in gb.assignment_submissions(A))


def csv_rows(root: Path) -> list[dict]:
    with open(root / "grades.csv", newline="") as f:
        return [r for r in csv.DictReader(f) if r["assignment"] == A]


def attacks(workers: list[Path]) -> dict[str, str]:
    """Code a student puts before a right answer; each prints what it managed. The workers' folders hold
    every private course root (with the assignment's source and gradebook) that a worker grades in."""
    folders = [str(w) for w in workers]
    return {
        "gradebook_writer": f"""
import glob, sqlite3
for db in ["../../../gradebook.db"] + [p for w in {folders!r} for p in glob.glob(w + "/**/gradebook.db",
                                                                                     recursive=True)]:
    try:
        with sqlite3.connect(db) as con:
            con.execute("UPDATE grade SET auto_score = 99")
        print("ATTACK WORKED: rewrote", db)
    except Exception as e:
        print("blocked:", type(e).__name__)
""",
        "source_reader": f"""
import glob
for pattern in ["{REPO}/grading/course/source/*/*.ipynb", "*.ipynb", "../../../source/*/*.ipynb"] + \\
        [w + "/**/source/*/*.ipynb" for w in {folders!r}]:
    for path in glob.glob(pattern, recursive=True):
        print(open(path).read())
print("blocked: nothing to read")
""",
    }


@pytest.fixture(scope="module")
def serial_and_cluster(generated, cluster, tmp_path_factory):
    """The benign class graded by stock nbgrader, serially; the same class plus attackers and a broken file
    through the scheduler and its two workers."""
    tmp = tmp_path_factory.mktemp("classes")
    serial = new_course(generated, tmp / "serial", benign(generated))
    for command in (["autograde", A], ["generate_feedback", A], ["export"]):
        nbgrader(*command, cwd=serial)
    cheats = {}
    release, source = notebooks(generated)
    for student, code in attacks([cluster.home(w) for w in cluster.workers]).items():
        cheats[student] = nb = fx.with_solutions(release, source)
        cell = next(c for c in nb.cells if fx.grade_id(c) == "q1_sizes")
        cell.source = code + "\n" + cell.source
    course = new_course(generated, tmp / "cluster", {**benign(generated), **cheats, "broken": "{not json"})
    run = grade(course, "--scheduler", cluster.address)
    return serial, course, run


@pytest.mark.slow
def test_scheduler_workers_grade_as_serial_nbgrader(serial_and_cluster, cluster):
    serial, course, run = serial_and_cluster
    assert run.returncode == 1, run.stderr[-4000:]
    assert "grading failed for 1" in run.stderr and "\n  broken: " in run.stderr, run.stderr[-4000:]
    students = set(benign(serial))
    assert grades(course, students) == grades(serial, students)
    assert len(grades(serial, students)) > 3 * 10
    mine = [r for r in csv_rows(course) if r["student_id"] in students]
    assert sorted(mine, key=lambda r: r["student_id"]) == sorted(csv_rows(serial), key=lambda r: r["student_id"])
    for student in students:
        assert (course / "feedback" / student / A / f"{A}.html").is_file()
        assert (course / "autograded" / student / A / f"{A}.ipynb").is_file()
    assert all(graded_here(cluster, w) for w in cluster.workers), "both workers graded"
    for worker in cluster.workers:  # what a worker keeps between tasks is the assignment, never a student's
        assert not list(cluster.home(worker).glob("scratch/**/submitted/*"))


@pytest.mark.slow
def test_a_broken_submission_is_recorded_as_nbgrader_records_it(serial_and_cluster):
    _, course, _ = serial_and_cluster
    (row,) = [r for r in csv_rows(course) if r["student_id"] == "broken"]
    assert float(row["raw_score"]) == 0
    assert not (course / "autograded" / "broken").exists()
    assert (course / parallel.WORK / A / "logs" / "broken.log").read_text()


def cell_output(root: Path, student: str, gid: str) -> str:
    nb = read_nb(notebook_of(root / "autograded" / student, A, "."))
    cell = next(c for c in nb.cells if fx.grade_id(c) == gid)
    return "".join(o.get("text", "") + o.get("evalue", "") for o in cell.outputs)


@pytest.mark.slow
@pytest.mark.parametrize("student", ["gradebook_writer", "source_reader"])
def test_an_attack_on_a_worker_fails_alone(serial_and_cluster, student):
    serial, course, _ = serial_and_cluster
    said = cell_output(course, student, "q1_sizes")
    assert "blocked" in said and "ATTACK WORKED" not in said, said
    assert "HIDDEN TESTS" not in said and "_reference" not in said
    solution = grades(serial, {"solution"})
    assert {k[1:]: v for k, v in grades(course, {student}).items()} == {k[1:]: v for k, v in solution.items()}, (
        "the attacker scores what the right answers score, nothing more"
    )


@pytest.mark.slow
def test_a_killed_worker_loses_no_grade(generated, tmp_path):
    """SIGKILL one of two workers while it grades, as soon as it holds the assignment's material (perhaps its
    only copy: scattered data died with its worker, and the class was lost): its task goes to the other
    worker, every student is graded once, and the gradebook has one submission per student."""
    release, source = notebooks(generated)
    students = {f"s{i}": fx.with_solutions(release, source) for i in range(4)}
    course = new_course(generated, tmp_path / "grading", students)
    own = LocalhostCluster(tmp_path / "dask")
    try:
        run = subprocess.Popen(
            [sys.executable, "-m", "grading", "grade", A, "--course", str(course), "--scheduler", own.address],
            cwd=REPO,
            env=ENV,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        with own.client() as client:
            victim, deadline = None, time.monotonic() + 600
            while time.monotonic() < deadline:
                names = {w: info["name"] for w, info in client.scheduler_info()["workers"].items()}
                holding = client.has_what()
                grading = [
                    w
                    for w, tasks in client.processing().items()
                    if tasks and any(not str(k).startswith("grade-") for k in holding.get(w, ()))
                ]
                if grading:
                    victim = names[grading[0]]
                    break
                time.sleep(0.05)
            assert victim, "no worker ever graded"
            own.kill(victim)
            out, err = run.communicate(timeout=1800)
    finally:
        if run.poll() is None:
            run.kill()
        own.close()
    assert run.returncode == 0, err[-4000:]
    assert submissions_in_gradebook(course) == sorted(students)
    full = sum(fx.auto_points(source).values())
    assert sorted((r["student_id"], float(r["raw_score"])) for r in csv_rows(course)) == [
        (s, full) for s in sorted(students)
    ]
    for student in students:
        assert (course / "autograded" / student / A / f"{A}.ipynb").is_file()


@pytest.mark.slow
def test_local_cluster_by_default_resumes_after_a_kill(generated, tmp_path):
    release, source = notebooks(generated)
    students = {f"s{i}": fx.with_solutions(release, source) for i in range(4)}
    root = new_course(generated, tmp_path / "grading", students)

    def finished():
        return {p.parts[-3]: p.stat() for p in root.glob(f"autograded/*/{A}/{A}.ipynb")}

    make = ["make", "-s", "-o", ".venv/.installed", "grade", f"A={A}", f"COURSE={root}"]
    run = subprocess.Popen(
        make, cwd=REPO, env=ENV, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    while not finished() and run.poll() is None:
        time.sleep(0.1)
    assert run.poll() is None, "make grade ended before the first student was graded"
    os.killpg(run.pid, signal.SIGKILL)
    run.wait()
    done = finished()
    assert 0 < len(done) < len(students), "killed after the first student, before the last"

    again = subprocess.run(make, cwd=REPO, env=ENV, capture_output=True, text=True, timeout=1800)
    assert again.returncode == 0, again.stderr[-4000:]
    assert f"{len(done)} already graded" in again.stdout
    assert f"local cluster of {os.cpu_count()} workers" in again.stdout, "one worker per core by default"
    assert "SAWarning" not in again.stderr, "nbgrader's half-made-row warning reached the instructor's terminal"
    for student, before in done.items():
        after = (root / "autograded" / student / A / f"{A}.ipynb").stat()
        assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns), f"{student} regraded"
    assert submissions_in_gradebook(root) == sorted(students)
    full = sum(fx.auto_points(source).values())
    assert sorted((r["student_id"], float(r["raw_score"])) for r in csv_rows(root)) == [
        (s, full) for s in sorted(students)
    ]


@pytest.mark.slow
def test_resubmissions_regraded_a_failed_one_keeps_the_earlier_grade(generated, tmp_path):
    release, source = notebooks(generated)
    course = tmp_path / "grading"
    shutil.copytree(generated, course)
    submit(course, "improver", release, "2030-01-01 10:00:00.000000 UTC")
    submit(course, "breaker", fx.with_solutions(release, source), "2030-01-01 10:00:00.000000 UTC")
    first = grade(course, "--workers", "2")
    assert first.returncode == 0, first.stderr[-4000:]
    before = grades(course, {"improver", "breaker"})
    kept = (course / "autograded" / "breaker" / A / f"{A}.ipynb").read_bytes()

    submit(course, "improver", fx.with_solutions(release, source), "2030-01-02 10:00:00.000000 UTC")
    submit(course, "breaker", "{not json", "2030-01-02 10:00:00.000000 UTC")
    second = grade(course, "--workers", "2")
    assert second.returncode == 1 and "\n  breaker: " in second.stderr, second.stderr[-4000:]
    assert "0 already graded" in second.stdout, "both newer submissions are graded again"
    full = sum(fx.auto_points(source).values())
    scores = {r["student_id"]: float(r["raw_score"]) for r in csv_rows(course)}
    assert scores == {"improver": full, "breaker": full}
    assert grades(course, {"breaker"}) == {k: v for k, v in before.items() if k[0] == "breaker"}
    assert (course / "autograded" / "breaker" / A / f"{A}.ipynb").read_bytes() == kept
    assert submissions_in_gradebook(course) == ["breaker", "improver"]

    submit(course, "breaker", fx.with_solutions(release, source))
    forced = grade(course, "--workers", "1", "--force")
    assert forced.returncode == 0 and "0 already graded" in forced.stdout, forced.stderr[-4000:]


# ----------------------------------------------------------------------------- the embedded cluster's doors

# A stranger's call on one of the cluster's servers: its identity, which every dask server answers.
STRANGER = """
import asyncio, sys
from distributed.core import rpc
from distributed.security import Security

address, who = sys.argv[1:]
if who == "plain TCP":
    address, args = address.replace("tls://", "tcp://"), {}
elif who == "credentials of its own":
    args = Security.temporary().get_connection_args("client")
else:
    args = Security().get_connection_args("client")

async def call():
    async with rpc(address, connection_args=args, timeout=10) as server:
        print(await server.identity())

asyncio.run(call())
"""
STRANGERS = ("no credentials", "credentials of its own", "plain TCP")


def test_no_other_local_user_can_join_the_local_cluster_or_read_its_pages_or_files():
    """A student on the hub's machine who finds make grade's ports must not reach them: a dask client, or a
    direct call to a worker or its nanny, runs code as the grader; the scheduler's pages name every task, and
    the tasks are named after the students. Nor the workers' files: they lie in a folder of the grader's."""
    import urllib.error
    import urllib.request

    client = parallel.client_for(None, 1)
    try:
        workers = client.scheduler_info()["workers"]
        doors = [client.scheduler.address, *workers, *(w["nanny"] for w in workers.values())]
        assert all(door.startswith("tls://127.0.0.1:") for door in doors), doors
        assert client.submit(sum, [20, 22]).result() == 42, "the grader's own client is let in"
        for door in doors:
            for who in STRANGERS:
                attempt = subprocess.run(
                    [sys.executable, "-c", STRANGER, door, who], capture_output=True, text=True, timeout=120
                )
                assert attempt.returncode != 0, f"a stranger with {who} was answered by {door}: {attempt.stdout}"
        cluster, scratch = client.local_cluster
        page = f"http://127.0.0.1:{cluster.scheduler.http_server.port}/info/main/workers.html"
        with pytest.raises(urllib.error.HTTPError, match="404"):
            urllib.request.urlopen(page, timeout=30)
        folder = os.stat(scratch)
        assert (folder.st_uid, stat.S_IMODE(folder.st_mode)) == (os.geteuid(), 0o700)
        places = client.run(lambda dask_worker: dask_worker.local_directory).values()
        assert all(Path(place).is_relative_to(scratch) for place in places), places
    finally:
        parallel.close_client(client)
    assert not os.path.exists(scratch)


def test_the_local_clusters_processes_wake_only_as_often_as_it_says():
    """Scheduler, nanny and worker of make grade's local cluster run dask's periodic work at QUIET_CLUSTER's
    intervals, and the worker profiles no task: at dask's defaults they took a tenth of a core from the kernels
    (bench/bench_grading.py measures the class)."""
    from dask.utils import parse_timedelta

    def wakes(server):
        return {name: pc.callback_time for name, pc in server.periodic_callbacks.items()}

    def every(setting):
        return parse_timedelta(parallel.QUIET_CLUSTER[setting], "ms") * 1000

    client = parallel.client_for(None, 1)
    try:
        cluster, _ = client.local_cluster
        (nanny,) = map(wakes, cluster.workers.values())
        (worker,) = client.run(lambda dask_worker: wakes(dask_worker)).values()
        for server in (wakes(cluster.scheduler), nanny, worker):
            assert server["tick"] == every("distributed.admin.tick.interval"), server
            assert server["monitor"] == every("distributed.admin.system-monitor.interval"), server
        assert nanny["memory_monitor"] == every("distributed.worker.memory.monitor-interval"), nanny
        assert "profile" not in worker, worker
    finally:
        parallel.close_client(client)
