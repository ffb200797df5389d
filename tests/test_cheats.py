"""Cheating students (tests/cheat_fixtures.py) graded beside honest classmates, with the course's configuration.

Plain ``nbgrader autograde`` and the course's engine (``python -m grading grade``, what ``make grade`` runs),
each run by root and by a grader without root (tests/unprivileged.py; bubblewrap's sandbox), grade one class
each of the fastest assignment: two honest fixtures of tests/grading_fixtures.py and one blank submission per
trick (a trick on the judge alone is in one of the four classes, in turn; one on a kernel's limits alone, in the
course's engine's two: see cheats_of). Every trick must score 0 and leave a row; no output or feedback may show
a hidden test, a reference value or a classmate's answer; no symbolic link of a submission may be followed into
autograded/ or feedback/; nothing outside the sandbox may change; the honest classmates must score what stock
nbgrader gives them. Stock nbgrader (its own Execute, the tests in the student's kernel, links followed) grades
the honest students and the harmless tricks too, to show that each trick is a real one there.
"""

from __future__ import annotations

import hashlib
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

import cheat_fixtures as cf
import grading_fixtures as fx
from grading import judge as jd
from grading.autograde import IGNORED_INTERRUPT_NOTE
from grading.limits import SandboxLimits
from test_grading import copy_course, nbgrader, notebook_of, read_nb, scores
from unprivileged import as_grader, folder_for, grader_account, hand_to

pytestmark = [pytest.mark.slow, pytest.mark.needs_root]

A = "structure_and_pooling"
REPO = Path(__file__).resolve().parent.parent
# Ten times what the honest classmates (here and under stock nbgrader) need with every class grading at once:
# their slowest cell took 3.7 s, a whole notebook 10 s. No more: the tricks that sleep until a limit (the endless
# loop, the fork bomb) hold their grader that long.
CELL_TIMEOUT, NOTEBOOK_TIMEOUT = 40, 100
STOCK_CONFIG = (
    "from nbgrader.preprocessors import Execute\n"
    "c.Autograde.autograde_preprocessors = [Execute, *c.Autograde.autograde_preprocessors[1:]]\n"
    f"c.Execute.timeout = {CELL_TIMEOUT}\n"
    "c.Autograde.pre_convert_hook = None\n"
)
# No file a grading run writes comes near this; a grader that followed a link to /dev/zero stops here
# (EFBIG: Python ignores SIGXFSZ) rather than fill the test machine's disk.
FILE_SIZE_CEILING = 256 * 2**20


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    root = copy_course(tmp_path_factory.mktemp("cheats") / "course")
    limits = json.loads((root / "timeouts.json").read_text())
    limits[A].update(timeout=CELL_TIMEOUT, notebook_timeout=NOTEBOOK_TIMEOUT)
    (root / "timeouts.json").write_text(json.dumps(limits))
    nbgrader("generate_assignment", A, cwd=root)
    return root


def honest(root: Path) -> dict:
    """The honest classmates: the model answers, and answers with mistakes. (Every trick is a blank submission,
    so an untouched release would add nothing.)"""
    release, source = read_nb(notebook_of(root, A, "release")), read_nb(notebook_of(root, A))
    return {"solution": fx.with_solutions(release, source), "partly_right": fx.partly_right(release, source, A)[0]}


def make_class(generated: Path, root: Path, cheats: list[cf.Cheat]) -> dict:
    """A copy of the generated course with the honest students and ``cheats``; return the cheats' places."""
    shutil.copytree(generated, root)
    name = notebook_of(generated, A, "release").name
    places = {
        "course": root,
        "gradebook": root / "gradebook.db",
        "victim": root / "submitted" / "solution" / A / name,
        "canary": root.parent / f"{root.name}-canary.txt",
        "second_copy": generated,
        "repository": REPO,
        "solution": notebook_of(root, A),
        "notebook": name,
    }
    places["canary"].write_text("the grader's own file")
    places["answers"] = " = ".join(answer_names(read_nb(notebook_of(root, A))))
    release = read_nb(notebook_of(root, A, "release"))
    students = {**honest(root), **{c.name: cf.cheating(release, c, places) for c in cheats}}
    for student, nb in students.items():
        folder = root / "submitted" / student / A
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / name)
    for cheat in cheats:
        cf.write_files(root / "submitted" / cheat.name / A, cheat, places)
    return places


def answer_names(source_nb) -> list[str]:
    """Every name the notebook's tests read of the student's work."""
    setup, names = set(), set()
    for cell in source_nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" and meta.get("locked") and not meta.get("grade"):
            setup |= jd.bound_names(cell.source)
        elif cell.cell_type == "code" and meta.get("grade") and not meta.get("solution"):
            names |= set(jd.answer_names(cell.source, setup))
    return sorted(names)


def digest(*paths: Path) -> str:
    """One hash of the files under ``paths`` (names and contents)."""
    h = hashlib.sha256()
    for path in paths:
        for file in sorted([path] if path.is_file() else path.rglob("*")):
            if file.is_file() and not file.is_symlink():
                h.update(str(file).encode() + file.read_bytes())
    return h.hexdigest()


def protected(root: Path, places: dict) -> dict:
    return {
        "source": digest(root / "source"),
        "release": digest(root / "release"),
        "victim": digest(places["victim"]),
        "canary": digest(places["canary"]),
        "configuration": digest(root / "nbgrader_config.py"),
        "second copy": digest(places["second_copy"] / "source"),
    }


ENGINE = "python -m grading grade"  # the course's own, what make grade runs
GRADERS = ["nbgrader autograde", ENGINE]
# The same, run by an account without root (made for the test): the sandbox is bubblewrap's.
WITHOUT_ROOT = " (grader without root)"
JUDGES = [*GRADERS, *(g + WITHOUT_ROOT for g in GRADERS)]


def cheats_of(grader: str) -> list[cf.Cheat]:
    """The tricks in ``grader``'s class: every trick on the files or the grader's process; those on a kernel's
    limits alone (cf.ON_THE_LIMITS) if ``grader`` is the course's engine, which meets them with two kernels at once;
    and one in four of those on the judge alone (cf.ON_THE_JUDGE), in turn. A trick on the judge attacks the same
    code under every grader and sandbox, one on the limits the same sandbox under either grader: grading it more
    often would only repeat its test."""
    mine = cf.ON_THE_JUDGE[JUDGES.index(grader) :: len(JUDGES)]
    return [
        c
        for c in cf.CHEATS
        if (c.name not in cf.ON_THE_JUDGE or c.name in mine)
        and (c.name not in cf.ON_THE_LIMITS or grader.startswith(ENGINE))
    ]


def submitted_a_notebook(grader: str) -> list[str]:
    return [c.name for c in cheats_of(grader) if c.name not in cf.COUNTS_AS_MISSING]


JUDGED_TRICKS = [(grader, c.name) for grader in JUDGES for c in cheats_of(grader)]
BIN = Path(sys.executable).parent


def run_long(command: list[str], cwd: Path, account: str | None = None, env=None) -> subprocess.CompletedProcess:
    """A grading command over the whole class (minutes on a busy machine), with the environment's bin/ first and
    no file it writes larger than FILE_SIZE_CEILING; run by ``account`` (tests/unprivileged.py) if given, else by
    this process's user. (prlimit, not a preexec_fn: the classes are graded from threads.)"""
    command = ["prlimit", f"--fsize={FILE_SIZE_CEILING}", "--", *command]
    kw = dict(
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=4 * 3600,
        env={**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", **(env or {})},
    )
    return subprocess.run(command, **kw) if account is None else as_grader(account, command, **kw)


@pytest.fixture(scope="module")
def account():
    with grader_account() as name:
        yield name


@pytest.fixture(scope="module")
def classes(generated, tmp_path_factory, account):
    """Every class of this module graded at once, each by its own grading command: the cheats' class by each
    grader in JUDGES, the honest students and harmless tricks by stock nbgrader. The commands wait on kernels,
    time limits and sleeping tricks as much as they compute: on two cores, at once takes about half as long as
    one after another."""
    owners = {grader: account if grader.endswith(WITHOUT_ROOT) else None for grader in JUDGES}
    roots = {
        grader: (folder_for(by) if by else tmp_path_factory.mktemp("judged")) / "course"
        for grader, by in owners.items()
    }
    try:
        with ThreadPoolExecutor(max_workers=len(JUDGES) + 1) as pool:
            stock = pool.submit(grade_under_stock, generated, tmp_path_factory)
            judging = {g: pool.submit(judge_class, g, generated, roots[g], owners[g]) for g in JUDGES}
            graded = {"stock": stock.result(), **{g: job.result() for g, job in judging.items()}}
        yield graded
    finally:
        for grader, by in owners.items():
            if by is not None:
                shutil.rmtree(roots[grader].parent)


def judge_class(grader: str, generated: Path, root: Path, by: str | None):
    """The class in ``root``, graded by plain nbgrader (autograde, then generate_feedback) or by the course's
    engine, as root or by ``by``, a grader without root."""
    places = make_class(generated, root, cheats_of(grader))
    link_submissions(root)
    if by is not None:
        hand_to(by, root)
    before = protected(root, places)
    if grader.startswith("nbgrader autograde"):
        autograde, feedback = (
            run_long([str(BIN / "nbgrader"), step, A], root, by) for step in ("autograde", "generate_feedback")
        )
    else:
        autograde = feedback = run_long(
            [sys.executable, "-m", "grading", "grade", A, "--course", str(root), "--workers", "2"], root, by
        )
    return root, places, before, autograde, feedback


def grade_under_stock(generated: Path, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("stock") / "course"
    harmless = [c for c in cf.CHEATS if c.name in cf.GAINS_UNDER_STOCK + cf.LEAKS_UNDER_STOCK]
    make_class(generated, root, harmless)
    with open(root / "nbgrader_config.py", "a") as config:
        config.write(STOCK_CONFIG)
    run_long([str(BIN / "nbgrader"), "autograde", A], root)
    return root


@pytest.fixture(scope="module", params=JUDGES)
def grader(request):
    return request.param


@pytest.fixture(scope="module")
def judged(classes, grader):
    return classes[grader]


@pytest.fixture(scope="module")
def stock(classes):
    return classes["stock"]


def auto_points(root: Path) -> dict:
    return fx.auto_points(read_nb(notebook_of(root, A)))


def test_every_trick_is_judged_once_by_the_engine_under_both_sandboxes_or_by_every_judge():
    judges = {c.name: [g for g, cheat in JUDGED_TRICKS if cheat == c.name] for c in cf.CHEATS}
    assert set(cf.ON_THE_JUDGE) | set(cf.ON_THE_LIMITS) <= set(judges)
    assert not set(cf.ON_THE_JUDGE) & set(cf.ON_THE_LIMITS)
    engine = [ENGINE, ENGINE + WITHOUT_ROOT]
    for cheat, by in judges.items():
        assert (len(by) == 1) if cheat in cf.ON_THE_JUDGE else (by == (engine if cheat in cf.ON_THE_LIMITS else JUDGES))
    assert all(cf.ON_THE_JUDGE[i :: len(JUDGES)] for i in range(len(JUDGES))), "every judge faces tricks on the judge"


@pytest.mark.parametrize("grader, cheat", JUDGED_TRICKS)
def test_every_trick_scores_zero_and_keeps_its_row(classes, grader, cheat):
    root, _, _, autograde, _ = classes[grader]
    got = scores(root, A)
    assert cheat in got, f"{cheat} has no row in the gradebook:\n{autograde.stderr[-3000:]}"
    cells = {gid: got[cheat]["cells"].get(gid) for gid in auto_points(root)}
    if cheat in cf.COUNTS_AS_MISSING:  # a recorded failure: the row, and no cell graded
        assert got[cheat]["score"] == 0 and all(score is None for score in cells.values()), f"{cheat}: {got[cheat]}"
    else:
        assert all(score == 0 for score in cells.values()), f"{cheat} scored {cells}"


def test_honest_classmates_score_what_stock_nbgrader_gives_them(judged, stock):
    root = judged[0]
    mine, theirs = scores(root, A), scores(stock, A)
    for student in honest(root):
        assert mine[student] == theirs[student], student
    assert mine["solution"]["score"] == sum(auto_points(root).values())


@pytest.mark.parametrize("cheat", cf.GAINS_UNDER_STOCK)
def test_each_trick_takes_points_from_stock_nbgrader(stock, cheat):
    got = scores(stock, A)[cheat]["cells"]
    assert sum(got.get(gid) or 0 for gid in auto_points(stock)) > 0, f"{cheat} is no trick: {got}"


def test_nothing_outside_the_sandbox_changed(judged, grader):
    root, places, before, autograde, _ = judged
    assert protected(root, places) == before
    assert "Traceback" not in autograde.stdout
    filled = [*root.rglob("filler-*"), *Path("/run").glob("filler-*"), *Path("/var/tmp").glob("filler-*")]
    assert not filled, "a kernel wrote outside its sandbox"
    assert len(autograde.stdout) + len(autograde.stderr) < 8 * 2**20, "a kernel's raw output reached the log"
    name = notebook_of(root, A, "release").name
    for student in [*honest(root), *submitted_a_notebook(grader)]:
        assert (root / "submitted" / student / A / name).is_file(), f"{student}'s submission is gone"


def forbidden(root: Path) -> dict[str, list[str]]:
    """What no cheat's output or feedback may show: hidden-test lines, reference values (numbers the solution
    prints, with five significant digits), and the solution's own lines (a classmate's answers)."""
    source = read_nb(notebook_of(root, A))
    visible = read_nb(notebook_of(root, A, "release"))
    seen = {line.strip() for cell in visible.cells for line in cell.source.splitlines()}
    hidden, answers, numbers = set(), set(), set()
    for cell in source.cells:
        text = cell.source
        if "### BEGIN HIDDEN TESTS" in text:
            hidden |= {
                line.strip()
                for line in text.split("### BEGIN HIDDEN TESTS")[1].splitlines()
                if len(line.strip()) > 25 and "END HIDDEN" not in line
            }
        if cell.metadata.get("nbgrader", {}).get("solution") and cell.cell_type == "code":
            answers |= {
                line.strip()
                for line in fx.SOLUTION_MARKERS.sub("", text).splitlines()
                if len(line.strip()) > 30 and "BEGIN" not in line
            }
            for output in cell.get("outputs", []):
                shown = output.get("text", "") + json.dumps(output.get("data", {}).get("text/plain", ""))
                numbers |= {m for m in re.findall(r"\d+\.\d{4,}", shown) if len(m.replace(".", "").lstrip("0")) >= 5}
    assert len(hidden) >= 5 and len(answers) >= 5 and len(numbers) >= 5, (hidden, answers, numbers)
    hidden, answers = hidden - seen, answers - seen  # a line the release shows too is no secret
    return {
        "hidden test": sorted(hidden),
        "classmate's answer": sorted(answers),
        "reference value": sorted({significant(n, 5) for n in numbers}),
    }


def significant(number: str, digits: int) -> str:
    """The shortest prefix of ``number`` (a decimal) that holds ``digits`` significant digits."""
    seen = 0
    for end, char in enumerate(number, 1):
        seen += char.isdigit() and (seen > 0 or char != "0")
        if seen == digits:
            return number[:end]
    return number


def shown_to(root: Path, student: str) -> str:
    """Every output of the student's autograded notebook and their feedback page (if any), as text."""
    nb = read_nb(root / "autograded" / student / A / notebook_of(root, A, "release").name)
    outputs = json.dumps([c.get("outputs", []) for c in nb.cells]).replace("\\n", "\n").replace('\\"', '"')
    feedback = root / "feedback" / student / A / f"{A}.html"
    return outputs + (feedback.read_text() if feedback.is_file() else "")


@pytest.mark.parametrize("grader, cheat", [(g, c) for g, c in JUDGED_TRICKS if c not in cf.COUNTS_AS_MISSING])
def test_no_hidden_test_reference_value_or_classmate_answer_is_shown(classes, grader, cheat):
    root = classes[grader][0]
    text = shown_to(root, cheat)
    for what, items in forbidden(root).items():
        found = [item for item in items if item in text or fx_html(item) in text]
        assert not found, f"{cheat} was shown a {what}: {found[:3]}"


def test_the_leak_check_catches_what_stock_nbgrader_shows(stock):
    text = shown_to(stock, "leak_sources")
    assert any(line in text for line in forbidden(stock)["hidden test"]), "under stock nbgrader the spy prints them"


def fx_html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def test_feedback_is_written_for_every_student(judged, grader):
    root, _, _, _, feedback = judged
    missing = [
        s
        for s in [*honest(root), *submitted_a_notebook(grader)]
        if not (root / "feedback" / s / A / f"{A}.html").is_file()
    ]
    assert not missing, f"no feedback for {missing}:\n{feedback.stderr[-3000:]}"


LINKING = [c for c in cf.CHEATS if any(isinstance(content, tuple) for content in c.files.values())]


@pytest.mark.parametrize("cheat", LINKING, ids=[c.name for c in LINKING])
def test_every_link_is_named_and_nothing_it_points_to_is_graded_or_shown(judged, cheat):
    """Each of the student's links is named in the log (make grade: the student's log); no file of the
    student's autograded or feedback folder is a link, has a link's name or holds what a link points to. A
    linked notebook counts as missing: no autograded notebook, no feedback."""
    root, places, _, autograde, _ = judged
    links = cf.links_of(cheat, places)
    log = autograde.stderr + "".join(p.read_text() for p in (root / ".grade" / A / "logs").glob(f"{cheat.name}.log"))
    unnamed = [name for name in links if f"/{cheat.name}/{A}/{name}, a symbolic link" not in log]
    assert not unnamed, f"{cheat.name}: no word of {unnamed} in the log"
    folders = [root / kind / cheat.name / A for kind in ("autograded", "feedback")]
    if cheat.name in cf.COUNTS_AS_MISSING:
        assert not any(folder.exists() for folder in folders), f"{cheat.name} was graded or given feedback"
    made = [path for folder in folders for path in folder.rglob("*")]
    assert not [path for path in made if path.is_symlink()]
    assert not [name for name in links for folder in folders if os.path.lexists(folder / name)]
    contents = [Path(target).read_bytes() for target in links.values() if Path(target).is_file()]
    contents += [b"\0" * 4096] if "/dev/zero" in links.values() else []
    for path in made:
        if path.is_file():
            data = path.read_bytes()
            assert not [c for c in contents if c in data], f"{path} holds what a link of {cheat.name} points to"


# Submissions put into submitted/ by hand (say, unpacked from a learning platform's archive) whose folder is a
# symbolic link: student -> (link, what it points to). Followed, the first would be graded as the classmate
# "solution" (full marks), the second as the course's own solution.
LINKED = {
    "links_to_a_classmate": (f"submitted/links_to_a_classmate/{A}", f"../solution/{A}"),
    "student_folder_links_to_source": ("submitted/student_folder_links_to_source", "../source"),
}


def link_submissions(root: Path) -> None:
    for link, target in LINKED.values():
        (root / link).parent.mkdir(parents=True, exist_ok=True)
        (root / link).symlink_to(target, target_is_directory=True)


@pytest.mark.parametrize("student", LINKED)
def test_a_submission_that_is_a_link_fails_alone_with_its_reason_and_nothing_it_points_to_is_read(
    judged, grader, student
):
    """nbgrader's own glob and copy would follow the link; both graders fail that student (make grade: listed
    with the reason and in the student's log; plain autograde: in its log, the link removed) and grade the rest
    of the class. What the link points to is not changed (test_nothing_outside_the_sandbox_changed) and gives
    the student nothing: no score, no autograded notebook, no feedback."""
    root, _, _, autograde, _ = judged
    link, target = LINKED[student]
    reason = f"{root / link} is a symbolic link (to {target})"
    log = autograde.stderr + "".join(p.read_text() for p in (root / ".grade" / A / "logs").glob(f"{student}.log"))
    assert reason in log, f"{student}: the reason is not in the log:\n{autograde.stderr[-3000:]}"
    assert not any((root / kind / student).exists() for kind in ("autograded", "feedback")), f"{student} was graded"
    assert not scores(root, A).get(student, {}).get("score"), f"{student} scored"
    name = notebook_of(root, A, "release").name
    ungraded = [
        s for s in [*honest(root), *submitted_a_notebook(grader)] if not (root / "autograded" / s / A / name).is_file()
    ]
    assert not ungraded, f"not graded beside the linked submissions: {ungraded}"


@pytest.mark.parametrize("grader", [ENGINE, ENGINE + WITHOUT_ROOT])
def test_limits_stop_runaways_and_drop_huge_output(classes, grader):
    root = classes[grader][0]
    assert IGNORED_INTERRUPT_NOTE.format(SandboxLimits().interrupt_seconds) in shown_to(root, "endless_loop")
    assert notebook_of(root / "autograded" / "huge_output", A, ".").stat().st_size < 8 * 2**20
    assert "output beyond" in shown_to(root, "huge_output")


def test_the_self_study_switch_grades_without_the_sandbox_and_says_so(generated, stock, tmp_path):
    """``--JudgedExecute.self_study=True``: the notebooks run unsandboxed (even as root), loudly, and are judged
    as always (the refusal without root: tests/test_judge.py)."""
    root = tmp_path / "course"
    make_class(generated, root, [])
    run = run_long([str(BIN / "nbgrader"), "autograde", A, "--JudgedExecute.self_study=True"], root)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "SELF-STUDY GRADING" in run.stderr
    mine, theirs = scores(root, A), scores(stock, A)
    assert {s: mine[s] for s in honest(root)} == {s: theirs[s] for s in honest(root)}


def test_plain_autograde_refuses_where_user_namespaces_are_off_before_any_submitted_code_runs(generated, account):
    """Run for real by a grader without root on a system whose kernel forbids unprivileged user namespaces
    (simulated: the sandbox reads the kernel's settings from a stand-in for /proc/sys saying so, which
    ``GRADING_SANDBOX_SYSCTL`` names; the machine's own settings are not touched): autograde names the setting,
    runs no submitted cell and records no score (the switch that allows it: test_the_self_study_switch_...)."""
    folder = folder_for(account)
    forbidding = folder / "sysctl"
    (forbidding / "kernel").mkdir(parents=True)
    (forbidding / "kernel" / "unprivileged_userns_clone").write_text("0\n")
    root = folder / "course"
    make_class(generated, root, [])
    ran = root / "a submitted cell ran.txt"
    name = notebook_of(generated, A, "release").name
    for student in honest(root):
        path = root / "submitted" / student / A / name
        nb = read_nb(path)
        nb.cells.insert(0, nbformat.v4.new_code_cell(f"open({str(ran)!r}, 'w').write({student!r})"))
        nbformat.write(nb, path)
    hand_to(account, root)
    run = run_long(
        [str(BIN / "nbgrader"), "autograde", A], root, account, env={"GRADING_SANDBOX_SYSCTL": str(forbidding)}
    )
    assert "forbids unprivileged user namespaces (kernel.unprivileged_userns_clone = 0" in run.stderr, run.stderr[
        -3000:
    ]
    try:
        assert not ran.exists(), f"a submitted cell ran: {ran.read_text()}"
        assert not [s for s, row in scores(root, A).items() if row["score"]], "a score was recorded"
    finally:
        shutil.rmtree(folder)
