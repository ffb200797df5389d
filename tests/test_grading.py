"""End to end: the graded assignments with stock nbgrader commands, in a temporary copy of grading/course/.

One session-scoped course is generated, filled with fixture submissions
(tests/grading_fixtures.py), autograded, given feedback and exported; the tests
then read what nbgrader produced. The exchange round trip uses its own copy.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook

from grading import judge as jd
from grading.parallel import read_tree
from grading.timeouts import notebook_timeout_for, timeout_for

import grading_fixtures as fx

REPO = Path(__file__).resolve().parent.parent
GRADING = REPO / "grading" / "course"
BIN = Path(sys.executable).parent
ASSIGNMENTS = sorted(p.name for p in (GRADING / "source").iterdir() if p.is_dir())
FAULT_ASSIGNMENT = "structure_and_pooling"  # the fastest; it also gets every faulty submission
# Seconds per cell for the fault assignment: none of timeouts.json's nor nbgrader's default (30), so that the log
# shows this one applied; several times what an honest cell of this assignment needs on a loaded machine (3.7 s
# at most while test_cheats grades five classes at once), and no more, since the infinite loop waits it out.
SMALL_TIMEOUT = 25
GENERATED = ("release", "submitted", "autograded", "feedback", "gradebook.db", "grades.csv", ".nbgrader.log")


def nbgrader(*args, cwd, env=None, check=True):
    """Run a stock nbgrader command; the environment's bin/ leads PATH (nbgrader calls `alembic`)."""
    result = subprocess.run(
        [str(BIN / "nbgrader"), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", **(env or {})},
        timeout=900,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"nbgrader {' '.join(args)} failed ({result.returncode}):\n{result.stderr[-4000:]}")
    return result


def copy_course(dest: Path) -> Path:
    shutil.copytree(GRADING, dest, ignore=shutil.ignore_patterns(*GENERATED, "__pycache__"))
    return dest


def notebook_of(course: Path, assignment: str, kind: str = "source") -> Path:
    (path,) = (course / kind / assignment).glob("*.ipynb")
    return path


def read_nb(path: Path):
    return nbformat.read(path, as_version=4)


def scores(course: Path, assignment: str) -> dict[str, dict]:
    """Per student: autograded points, and per grade cell its auto score, from the gradebook."""
    out = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for sub in gb.assignment_submissions(assignment):
            cells = {g.name: g.auto_score for nb in sub.notebooks for g in nb.grades}
            out[sub.student_id] = {"cells": cells, "score": sub.score, "max": sub.max_score}
    return out


@pytest.fixture(scope="session")
def course(tmp_path_factory):
    """Generate, submit, autograde, give feedback on and export every assignment once."""
    root = copy_course(tmp_path_factory.mktemp("course") / "grading")
    timeouts = json.loads((root / "timeouts.json").read_text())
    timeouts[FAULT_ASSIGNMENT]["timeout"] = SMALL_TIMEOUT
    (root / "timeouts.json").write_text(json.dumps(timeouts))
    runs = {"generate": {}, "autograde": {}, "feedback": {}, "expected": {}}
    for a in ASSIGNMENTS:
        runs["generate"][a] = nbgrader("generate_assignment", a, cwd=root, check=False)
        release, source = notebook_of(root, a, "release"), notebook_of(root, a)
        runs["expected"][a] = fx.write_submission(
            root / "submitted", release.name, read_nb(release), read_nb(source), a, FAULT_ASSIGNMENT
        )
    # validate never touches the gradebook, so it runs alongside the (sequential) autograding
    with ThreadPoolExecutor(max_workers=1) as pool:
        validating = pool.submit(
            lambda: [(job, nbgrader("validate", *job[1], cwd=root, check=False)) for job in validate_jobs(root)]
        )
        for a in ASSIGNMENTS:
            runs["autograde"][a] = nbgrader("autograde", a, cwd=root, check=False)
            runs["feedback"][a] = nbgrader("generate_feedback", a, cwd=root, check=False)
        runs["validate"] = validating.result()
    runs["scores"] = {a: scores(root, a) for a in ASSIGNMENTS}
    runs["export"] = nbgrader("export", cwd=root, check=False)
    return root, runs


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_generate_assignment_releases_without_solutions_or_hidden_tests(course, assignment):
    root, runs = course
    assert runs["generate"][assignment].returncode == 0, runs["generate"][assignment].stderr[-3000:]
    text = notebook_of(root, assignment, "release").read_text()
    for marker in ("BEGIN SOLUTION", "BEGIN HIDDEN TESTS", "Marking guide", "_reference"):
        assert marker not in text, f"{marker!r} leaked into the release of {assignment}"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_points_are_stated_at_the_top(assignment):
    nb = read_nb(notebook_of(GRADING, assignment))
    auto, manual = fx.auto_points(nb), fx.manual_points(nb)
    assert len(manual) >= 2 and any(c.cell_type == "code" for c in nb.cells if fx.grade_id(c) in manual), (
        "needs written answers and a graded plot"
    )
    head = nb.cells[0].source
    stated = re.search(r"\*\*Total: (\d+) points\*\* \((\d+) marked automatically, (\d+) marked by", head)
    assert stated, "the first cell must state the total points"
    assert [int(x) for x in stated.groups()] == [
        sum(auto.values()) + sum(manual.values()),
        sum(auto.values()),
        sum(manual.values()),
    ]


PASSES, FAILS_ALL = "Success! Your notebook passes all the tests.", "Success! The notebook does not pass any tests."


def validate_jobs(root):
    """(what, arguments, expected message) for the `nbgrader validate` runs, each over every assignment. (That
    every test passes on the instructor's version, test_the_instructor_notebooks_reproduce_their_stored_outputs runs
    every cell of each source, tests included, and fails on an error.)"""
    return [
        ("release --invert", ["--invert", *(str(notebook_of(root, a, "release")) for a in ASSIGNMENTS)], FAILS_ALL),
        ("partly_right", [str(notebook_of(root / "submitted" / "partly_right", a, ".")) for a in ASSIGNMENTS], PASSES),
    ]


@pytest.mark.slow
def test_every_test_fails_on_releases(course):
    """On every release each test fails (validate --invert succeeds)."""
    _, runs = course
    failures = [
        f"{what}: exit {r.returncode}\n{r.stdout[-3000:]}"
        for (what, _, want), r in runs["validate"]
        if what != "partly_right"
        and (r.returncode != 0 or r.stdout.count(want) != len(ASSIGNMENTS) or "FAILED" in r.stdout)
    ]
    assert not failures, "\n\n".join(failures)


@pytest.mark.slow
def test_partly_right_answers_pass_the_visible_tests(course):
    """Each mistake of the partly right fixtures passes the visible tests (validate, in the student's own
    kernel), so that only a hidden test can take its points (test_autograde_scores_match_each_fixture)."""
    _, runs = course
    [((_, _, want), result)] = [(job, r) for job, r in runs["validate"] if job[0] == "partly_right"]
    assert result.returncode == 0 and result.stdout.count(want) == len(ASSIGNMENTS), result.stdout[-3000:]


@pytest.mark.needs_root  # autograde runs student code in the sandbox
@pytest.mark.slow
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_autograde_scores_match_each_fixture(course, assignment):
    root, runs = course
    points = fx.auto_points(read_nb(notebook_of(GRADING, assignment)))
    got = runs["scores"][assignment]
    log = runs["autograde"][assignment].stderr
    for student, lost in runs["expected"][assignment].items():
        failed = f"There was an error processing assignment '{assignment}' for student '{student}'" in log
        if lost == fx.FAILED:
            assert failed, f"{student}: nbgrader should record a failure in its log"
            continue
        assert not failed, f"{student}: autograde failed unexpectedly:\n{log[-3000:]}"
        assert student in got, f"{student} has no submission in the gradebook"
        cells = got[student]["cells"]
        lost = set(points) if lost == fx.ALL else set(lost)
        wrong = {gid: cells.get(gid) for gid in points if (cells.get(gid) or 0) != (0 if gid in lost else points[gid])}
        assert not wrong, f"{student}: these cells scored unexpectedly {wrong}; expected to lose {sorted(lost)}"


@pytest.mark.needs_root  # autograde runs student code in the sandbox
@pytest.mark.slow
def test_the_run_survives_failures_and_keeps_earlier_grades(course):
    root, runs = course
    expected = runs["expected"][FAULT_ASSIGNMENT]
    failed = {s for s, lost in expected.items() if lost == fx.FAILED}
    assert runs["autograde"][FAULT_ASSIGNMENT].returncode != 0, "failures must make autograde exit non-zero"
    graded = set(runs["scores"][FAULT_ASSIGNMENT])
    assert set(expected) - failed <= graded
    before = scores(root, FAULT_ASSIGNMENT)
    for student in sorted(failed):  # grading a broken submission again changes nobody's grade
        assert nbgrader("autograde", FAULT_ASSIGNMENT, "--student", student, cwd=root, check=False).returncode != 0
    assert scores(root, FAULT_ASSIGNMENT) == before
    # a graded student resubmits a broken file: that autograde fails, the earlier grade stays
    path = notebook_of(root / "submitted" / "solution", FAULT_ASSIGNMENT, ".")
    good = path.read_text()
    try:
        path.write_text(good[:100])
        regrade = nbgrader("autograde", FAULT_ASSIGNMENT, "--student", "solution", "--force", cwd=root, check=False)
        assert regrade.returncode != 0 and "for student 'solution'" in regrade.stderr
    finally:
        path.write_text(good)
    assert scores(root, FAULT_ASSIGNMENT) == before
    # every other assignment is unaffected by the failures
    for a in ASSIGNMENTS:
        if a != FAULT_ASSIGNMENT:
            assert runs["autograde"][a].returncode == 0, runs["autograde"][a].stderr[-3000:]


@pytest.mark.needs_root  # autograde runs student code in the sandbox
@pytest.mark.slow
def test_timeout_and_memory_limit_show_in_the_graded_notebook(course):
    root, runs = course
    log = runs["autograde"][FAULT_ASSIGNMENT].stderr
    assert (
        f"Cell timeout {SMALL_TIMEOUT} s" in log and f"Timeout waiting for execute reply ({SMALL_TIMEOUT}s)" in log
    ), "the assignment's own cell timeout is the one applied"

    def outputs(student, gid):
        nb = read_nb(notebook_of(root / "autograded" / student, FAULT_ASSIGNMENT, "."))
        return next(c for c in nb.cells if fx.grade_id(c) == gid).outputs

    assert any(o.get("ename") == "CellTimeoutError" for o in outputs("infinite_loop", "q3_separate"))
    assert any(o.get("ename") == "MemoryError" for o in outputs("memory_hog", "q1_sizes"))
    restored = read_nb(notebook_of(root / "autograded" / "deleted_grade_cell", FAULT_ASSIGNMENT, "."))
    assert sum(fx.grade_id(c) == "q1_sizes_test" for c in restored.cells) == 1


@pytest.mark.needs_root  # autograde runs student code in the sandbox
@pytest.mark.slow
def test_feedback_hides_hidden_tests_and_reference_values(course):
    root, runs = course
    for a in ASSIGNMENTS:
        assert runs["feedback"][a].returncode == 0, runs["feedback"][a].stderr[-3000:]
        source = read_nb(notebook_of(GRADING, a))
        hidden_lines = {
            line.strip()
            for c in source.cells
            if "BEGIN HIDDEN TESTS" in c.source
            for line in c.source.split("### BEGIN HIDDEN TESTS")[1].split("\n")
            if len(line.strip()) > 25 and "END HIDDEN TESTS" not in line
        }
        assert len(hidden_lines) >= 5, f"{a}: too few hidden-test lines to search for"
        pages = list((root / "feedback").glob(f"*/{a}/*.html"))
        students = {p.parts[-3] for p in pages}
        assert {"solution", "partly_right", "untouched"} <= students, f"missing feedback for {a}"
        for page in pages:
            html = page.read_text()
            assert "HIDDEN TESTS" not in html and "_reference" not in html, page
            leaked = [line for line in hidden_lines if _html_escape(line) in html]
            assert not leaked, f"{page}: hidden test code visible: {leaked[:2]}"
        partly = next(p for p in pages if p.parts[-3] == "partly_right").read_text()
        assert "please check your method" in partly, "a failed hidden test should still say what failed"


@pytest.mark.needs_root  # autograde runs student code in the sandbox
@pytest.mark.slow
def test_feedback_names_the_wrong_working_correlation(course):
    """Assignment 6's partly right fixture fits Question 7's GEE with an exchangeable working correlation: the
    hidden test takes its points and its feedback names that mistake (issue 21 C)."""
    root, _ = course
    (page,) = (root / "feedback" / "partly_right" / "binary_outcomes").glob("*.html")
    assert "gee_rate looks like the exchangeable working correlation, not AR(1)" in page.read_text()


def test_assignment_6_question_7_accepts_every_correct_method_and_names_each_mistake():
    """Question 7's hidden test, judged as the grader judges it: statsmodels' AR(1) GEE, geepack's (another
    moment estimator of phi) and the bias-reduced SE pass; each common mistake fails under its own name.
    geepack's and nlme's numbers come from R (tests/reference/repeated_measures_reference.json, rerun by
    tests/test_lecture_14.py; its time is counted from the first weighing, which leaves the rate unchanged)."""
    import statsmodels.api as sm
    import statsmodels.formula.api as smf

    from helpers.data import load_dietox

    cells = read_nb(notebook_of(GRADING, "binary_outcomes")).cells
    setup = [c.source for c in cells if (fx.grade_id(c) or "").startswith("setup")]
    test = jd.TestCell("q7_gee_ar1_test", next(c.source for c in cells if fx.grade_id(c) == "q7_gee_ar1_test"), setup)
    r = json.loads((REPO / "tests" / "reference" / "repeated_measures_reference.json").read_text())
    dietox = load_dietox()
    model = smf.gee("Weight ~ Time", groups="Pig", data=dietox, cov_struct=sm.cov_struct.Autoregressive(grid=True))
    ours = model.fit()

    def judged(rate, se):
        return jd.judge(test, jd.Export(values={"gee_rate": rate, "gee_rate_se": se}), None)

    right = [
        (ours.params["Time"], ours.bse["Time"]),
        (r["gee_ar1"]["estimate"][1], r["gee_ar1"]["std_error"][1]),
        (ours.params["Time"], model.fit(cov_type="bias_reduced").bse["Time"]),
    ]
    for rate, se in right:
        assert judged(rate, se).passed, (rate, se)
    rate, se = ours.params["Time"], ours.bse["Time"]
    growth = r["growth"]["fixed"]
    wrong = {
        "exchangeable working correlation": (r["gee_exchangeable"]["estimate"][1], se),
        "independence working correlation": (r["gee_independence"]["estimate"][1], se),
        "mixed model with a random intercept and slope, not the GEE": (growth["estimate"][1], se),
        "naive (model-based) SE": (rate, model.fit(cov_type="naive").bse["Time"]),
        "robust SE of the exchangeable GEE": (rate, r["gee_exchangeable"]["std_error"][1]),
        "SE of the mixed model": (rate, growth["std_error"][1]),
        "SE of ordinary least squares": (rate, r["ols"]["std_error"][1]),
    }
    for named, (rate, se) in wrong.items():
        verdict = judged(rate, se)
        assert not verdict.passed and named in verdict.evalue, (named, verdict.evalue)


def _html_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


@pytest.mark.needs_root  # autograde runs student code in the sandbox
@pytest.mark.slow
def test_export_lists_every_student_of_every_assignment(course):
    root, runs = course
    assert runs["export"].returncode == 0, runs["export"].stderr[-3000:]
    with open(root / "grades.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    seen = {(r["assignment"], r["student_id"]) for r in rows}
    students = {s for a in ASSIGNMENTS for s in runs["expected"][a]}
    missing = [(a, s) for a in ASSIGNMENTS for s in students if (a, s) not in seen]
    assert not missing, f"students missing from grades.csv: {missing}"
    solution = {r["assignment"]: float(r["raw_score"]) for r in rows if r["student_id"] == "solution"}
    for a in ASSIGNMENTS:
        assert solution[a] == sum(fx.auto_points(read_nb(notebook_of(GRADING, a))).values())


@pytest.mark.needs_root  # autograde runs student code in the sandbox
@pytest.mark.slow
def test_exchange_round_trip_with_two_students(course, tmp_path):
    """release -> fetch -> submit -> collect -> autograde through a temporary exchange (run last on the course)."""
    root, _ = course
    a = FAULT_ASSIGNMENT
    exchange = tmp_path / "exchange"
    exchange.mkdir()
    exchange.chmod(0o777)
    ex = [f"--Exchange.root={exchange}"]
    nbgrader("release_assignment", a, *ex, cwd=root)
    source = read_nb(notebook_of(root, a))
    for student, answer in (("alice", "solution"), ("bob", "untouched")):
        home = tmp_path / student
        home.mkdir()
        options = ["--course", "random-effects", *ex]
        nbgrader("fetch_assignment", a, *options, cwd=home, env={"HOME": str(home)})
        path = notebook_of(home, a, ".")
        if answer == "solution":
            nbformat.write(fx.with_solutions(read_nb(path), source), path)
        nbgrader("submit", a, *options, f"--student={student}", cwd=home, env={"HOME": str(home)})
    nbgrader("collect", a, *ex, cwd=root)
    for student in ("alice", "bob"):
        assert notebook_of(root / "submitted" / student, a, ".").is_file()
    # students graded before are skipped; the fixtures that fail are tried again, so the exit is non-zero
    log = nbgrader("autograde", a, cwd=root, check=False).stderr
    assert "for student 'alice'" not in log and "for student 'bob'" not in log, log[-3000:]
    got = scores(root, a)
    full = sum(fx.auto_points(source).values())
    assert sum(v or 0 for v in got["alice"]["cells"].values()) == full
    assert sum(v or 0 for v in got["bob"]["cells"].values()) == 0


@pytest.mark.slow
def test_collect_leaves_out_symbolic_links_and_names_them(tmp_path):
    """A student replaces their notebook in the exchange by a link to the instructor's solution and adds a
    link to a file of the grader's: collect takes neither, says so, and collects an honest classmate whole.
    Stock nbgrader's collect, run on the same exchange, takes both: proof that the trick is real."""
    a = FAULT_ASSIGNMENT
    root = copy_course(tmp_path / "course")
    nbgrader("generate_assignment", a, cwd=root)
    exchange = tmp_path / "exchange"
    exchange.mkdir()
    exchange.chmod(0o777)
    ex = [f"--Exchange.root={exchange}"]
    nbgrader("release_assignment", a, *ex, cwd=root)
    solution, secret = notebook_of(root, a), tmp_path / "grader.txt"
    secret.write_text("the grader's own file")
    for student in ("alice", "mallory"):
        home = tmp_path / student
        home.mkdir()
        options = ["--course", "random-effects", *ex]
        nbgrader("fetch_assignment", a, *options, cwd=home, env={"HOME": str(home)})
        nbgrader("submit", a, *options, f"--student={student}", cwd=home, env={"HOME": str(home)})
    inbound = {s: next((exchange / "random-effects" / "inbound").glob(f"{s}+{a}+*")) for s in ("alice", "mallory")}
    (inbound["mallory"] / solution.name).unlink()
    (inbound["mallory"] / solution.name).symlink_to(solution)
    (inbound["mallory"] / "notes.txt").symlink_to(secret)
    collected = nbgrader("collect", a, *ex, cwd=root)
    for name, target in ((solution.name, solution), ("notes.txt", secret)):
        assert f"Left out of mallory's submission: {name}, a symbolic link (to {target})" in collected.stderr
    assert read_tree(root / "submitted" / "alice" / a) == read_tree(inbound["alice"])
    taken = root / "submitted" / "mallory" / a
    assert not [p for p in taken.rglob("*") if p.is_symlink()]
    assert read_tree(taken) == read_tree(inbound["mallory"])  # the regular files, without what the links hold
    assert not (taken / solution.name).exists() and not (taken / "notes.txt").exists()
    nbgrader(
        "collect",
        a,
        *ex,
        "--ExchangeFactory.collect=nbgrader.exchange.default.ExchangeCollect",
        "--CourseDirectory.submitted_directory=stock_submitted",
        cwd=root,
    )
    stock = root / "stock_submitted" / "mallory" / a
    assert (stock / solution.name).read_bytes() == solution.read_bytes()
    assert (stock / "notes.txt").read_text() == secret.read_text()


def test_timeouts_cover_every_assignment_from_measured_times():
    measured = json.loads((GRADING / "timeouts.json").read_text())
    assert set(measured) == set(ASSIGNMENTS), "run `python -m grading timeouts` after adding an assignment"
    for a, entry in measured.items():
        assert entry["timeout"] == timeout_for([entry["slowest_cell_seconds"]]), a
        assert entry["notebook_timeout"] == notebook_timeout_for(entry["total_seconds"], entry["timeout"]), a
        assert entry["slowest_cell_seconds"] <= entry["total_seconds"] + 1e-9


def test_source_notebooks_are_stored_executed_and_clean():
    for a in ASSIGNMENTS:
        nb = read_nb(notebook_of(GRADING, a))
        assert set(nb.metadata) <= {"kernelspec", "language_info"}, f"{a}: extra notebook metadata"
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert all(c.execution_count for c in code), f"{a}: store the notebook executed (Run All, then save)"
        counts = [c.execution_count for c in code]
        assert counts == sorted(counts), f"{a}: executed out of order"
        for c in code:
            assert set(c.metadata) <= {"nbgrader", "deletable", "editable", "mystnb"}, (
                f"{a}: cell metadata {set(c.metadata)}"
            )
            assert not any(o.output_type == "error" for o in c.outputs), f"{a}: stored outputs contain an error"


@pytest.mark.slow
def test_the_instructor_notebooks_reproduce_their_stored_outputs():
    """Each code cell of the instructor notebooks runs without an error and gives its stored outputs, compared as
    the lectures' are (tests/lecture_outputs.py, which the root conftest gives a child pytest)."""
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=", str(GRADING / "source")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-5000:]
    ran = sum(c.cell_type == "code" for a in ASSIGNMENTS for c in read_nb(notebook_of(GRADING, a)).cells)
    assert re.search(rf"\b{ran} passed\b", result.stdout), result.stdout[-2000:]  # not 190 for 95: each cell once
