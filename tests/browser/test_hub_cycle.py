"""The whole course cycle on the hub that `make hub` starts, in Chromium, every click as people make it.

The instructor releases an assignment in the formgrader; two students log in (one first runs a lecture
from the copy in their home), fetch it, answer (one with the model answers, one badly), validate and
submit in JupyterLab; the instructor collects, presses the formgrader's Autograde for each submission (the
formgrader runs it as the grader account, without root: the course's sandbox is bubblewrap's), generates
and releases the feedback; each student reads
their own feedback and cannot reach the other's. The hub runs on loopback ports only, with its own
accounts (prefix hubtest-), state, exchange and install place (where `make hub` installs the course when
the accounts cannot read the repository, as in a clone under /root), so a `make hub` of this machine is not
disturbed.
Screenshots of every step: _build/test-artifacts/browser/.
"""

from __future__ import annotations

import fcntl
import importlib.util
import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook

from conftest import ROOT
from grading.sandbox import processes_of
from hub_ui import (
    HubSession,
    answer_cells,
    answers_from_solution,
    assignment_row,
    click_in_row,
    formgrader_action,
    lab_settings,
    open_assignments,
    save,
    submission_action,
    type_into_cell,
)
from lab_ui import error_outputs, open_notebook, run_all_cells, unnumbered_code_cells
from prerequisites import missing

pytestmark = [pytest.mark.slow, pytest.mark.needs_chromium, pytest.mark.needs_root]

ASSIGNMENT = "structure_and_pooling"  # the fastest to grade
PREFIX = "hubtest-"
MACHINE_LOCK = "/run/course-hub-test.lock"
HUB_START_TIMEOUT = 1200  # s: the first `make hub` of a machine builds the servers' environment
VALIDATE_TIMEOUT = 300_000  # ms: nbgrader runs the whole notebook in a fresh kernel
BAD_ANSWER = "# I could not do this one\nanswer = None"
LECTURE = "01-why-iid-matters.ipynb"  # make hub copies the lectures into every home


def load_course_hub():
    spec = importlib.util.spec_from_file_location("course_hub", ROOT / "grading" / "hub" / "course_hub.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def free_port_block(count: int = 4) -> int:
    """A port P with P..P+count-1 all free on loopback (the hub uses four consecutive ports)."""
    for _ in range(200):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = probe.getsockname()[1]
        if base + count < 65536 and all(_free(base + i) for i in range(count)):
            return base
    raise RuntimeError("no block of free ports")


def _free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def make_hub_course() -> Path:
    """The course root `make hub` copies for the grader (read from the target's command, as make runs it)."""
    dry_run = subprocess.run(
        ["make", "-s", "-n", "--no-print-directory", "hub"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    found = re.search(r"COURSE_HUB_COURSE=(\S+)", dry_run)
    assert found, f"make -n hub passes no COURSE_HUB_COURSE:\n{dry_run}"
    return Path(found.group(1))


def remove_accounts(names) -> None:
    for name in names:
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        for pid in processes_of(pwd.getpwnam(name).pw_uid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        subprocess.run(["userdel", "--remove", name], capture_output=True)
        subprocess.run(["groupdel", name], capture_output=True)


class RunningHub:
    def __init__(self, settings, process, log: Path):
        self.settings, self.process, self.log = settings, process, log
        self.base = settings.url().rstrip("/")
        self.passwords = json.loads(settings.passwords_file.read_text())

    def formgrader(self, view: str = "manage_assignments") -> str:
        return self.settings.url(f"{self.settings.formgrader_path()}/{view}")


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    for program in ("npm", "useradd", "runuser"):
        if shutil.which(program) is None:
            missing(f"the hub test needs {program} (Debian: see .ci/run)")
    course_hub = load_course_hub()
    # One run of this test at a time on a machine: it owns the hubtest- accounts (and kills what they run).
    with open(MACHINE_LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        state = tmp_path_factory.mktemp("hub-state")
        shared = Path(tempfile.mkdtemp(prefix="course-hub-test-"))  # under /tmp: every account may enter it
        os.chmod(shared, 0o755)
        settings = course_hub.Settings(
            state=state,
            ip="127.0.0.1",
            port=free_port_block(),
            exchange=shared / "exchange",
            course_template=make_hub_course(),
            install=shared / "install",
            prefix=PREFIX,
            student_count=2,
        )
        accounts = [settings.grader, *settings.people]
        remove_accounts(accounts)  # left by an interrupted run
        try:
            process, log = start_make_hub(settings)
            try:
                wait_for_hub(settings, process, log)
                for person in settings.people:  # the browser tests' JupyterLab settings, in each home
                    write_as(person, lab_settings(settings.home(person)), settings.home(person))
                yield RunningHub(settings, process, log)
            finally:
                stop(process, settings)
        finally:
            remove_accounts(accounts)
            shutil.rmtree(shared, ignore_errors=True)


def start_make_hub(settings):
    """`make hub` with these settings, in the background; its output goes to a log in the hub's state."""
    env = dict(
        os.environ,
        COURSE_HUB_STATE=str(settings.state),
        COURSE_HUB_IP=settings.ip,
        COURSE_HUB_PORT=str(settings.port),
        COURSE_HUB_EXCHANGE=str(settings.exchange),
        COURSE_HUB_INSTALL=str(settings.install),
        COURSE_HUB_PREFIX=settings.prefix,
        COURSE_HUB_STUDENTS=str(settings.student_count),
    )
    log = settings.state / "make-hub.log"
    with open(log, "w") as out:
        process = subprocess.Popen(
            # started with interrupts ignored, as a script's background job is: the hub must still stop its
            # formgrader with one (test_the_formgrader_stops_on_an_interrupt)
            ["sh", "-c", 'trap "" INT; exec make --no-print-directory hub'],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    return process, log


def write_as(user: str, files: dict[Path, str], home: Path) -> None:
    """Write files into a user's home, the user owning them and every folder made for them."""
    owner = pwd.getpwnam(user)
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        for part in [path, *path.relative_to(home).parents]:
            os.chown(home / part, owner.pw_uid, owner.pw_gid)


def wait_for_hub(settings, process, log: Path) -> None:
    """Until the hub answers and the formgrader service is up (it redirects to the hub's login)."""
    deadline = time.monotonic() + HUB_START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"make hub exited ({process.returncode}):\n{log.read_text()[-6000:]}")
        try:
            with urllib.request.urlopen(settings.url(f"services/{settings.course_id}/"), timeout=5) as answer:
                if "/hub/login" in answer.url:
                    return
        except OSError:
            pass
        time.sleep(1)
    raise RuntimeError(f"the hub did not come up within {HUB_START_TIMEOUT} s:\n{log.read_text()[-6000:]}")


def stop(process, settings) -> None:
    """Stop the hub as Ctrl-C would (it stops the servers and the proxy), then anything left of it."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=180)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    pid_file = settings.state / "jupyterhub-proxy.pid"
    if pid_file.is_file():
        try:
            os.kill(int(pid_file.read_text()), signal.SIGTERM)
        except (ProcessLookupError, ValueError):
            pass


def run_as(user: str, *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(["runuser", "-u", user, "--", *argv], capture_output=True, text=True, cwd="/")


def run_a_lecture(session: HubSession, screenshot) -> None:
    """The first lecture, from the copy in the student's home, runs top to bottom in their own kernel."""
    page = session.page
    page.wait_for_url(re.compile(rf".*/user/{session.user}/lab.*"))
    open_notebook(page, session, f"lectures/{LECTURE}")
    run_all_cells(page)
    screenshot(f"{session.user}-lecture", target=page)
    assert not error_outputs(page), error_outputs(page)[0][-2000:]
    assert not unnumbered_code_cells(page), "some cells of the lecture did not run"


def work_and_submit(session: HubSession, hub: RunningHub, answers: dict[str, str], screenshot, expect: str):
    """Fetch the assignment, type the answers, save, validate (expect: "success" or "failed"), submit."""
    page, name = session.page, session.user
    page.wait_for_url(re.compile(rf".*/user/{name}/lab.*"))
    open_assignments(page)
    click_in_row(page, "released", ASSIGNMENT, "Fetch", then_section="fetched")
    screenshot(f"{name}-fetched", target=page)
    notebook = f"{ASSIGNMENT}/{ASSIGNMENT}.ipynb"
    cells = answer_cells(hub.settings.home(name) / notebook)
    assert set(answers) <= set(cells), (cells, answers)
    panel = open_notebook(page, session, notebook)
    for grade_id, text in answers.items():
        type_into_cell(page, panel, cells[grade_id][0], text)
    save(page, panel)
    screenshot(f"{name}-answered", target=page)
    panel.locator(".validate-button").click()
    message = page.locator(".jp-Dialog #validation-message")
    message.wait_for(state="visible", timeout=VALIDATE_TIMEOUT)
    screenshot(f"{name}-validated", target=page)
    assert f"validation-{expect}" in (message.get_attribute("class") or ""), message.inner_text()
    page.locator(".jp-Dialog").get_by_role("button", name="Ok").click()
    page.locator(".jp-Dialog").wait_for(state="detached")
    open_assignments(page)
    click_in_row(page, "fetched", ASSIGNMENT, "Submit", then_section="submitted")
    screenshot(f"{name}-submitted", target=page)


def read_feedback(session: HubSession, screenshot) -> str:
    """Fetch the feedback in the Assignments panel, follow its "view feedback" link to the folder, open the
    report from the file browser, and return its text."""
    page = session.page
    open_assignments(page)
    row = assignment_row(page, "submitted", ASSIGNMENT)
    row.get_by_role("button", name="Fetch Feedback").click()
    link = row.locator("a", has_text="view feedback")
    link.wait_for(state="visible", timeout=120_000)
    screenshot(f"{session.user}-feedback-fetched", target=page)
    link.click()
    page.locator(".jp-DirListing-item", has_text=f"{ASSIGNMENT}.html").dblclick()
    tab = page.locator("#jp-main-dock-panel .lm-TabBar-tab.lm-mod-current", has_text=f"{ASSIGNMENT}.html")
    tab.wait_for()
    report = page.frame_locator(f"[id='{tab.get_attribute('data-id')}'] iframe").locator("body")
    report.get_by_text(re.compile(r"Score:")).first.wait_for()
    screenshot(f"{session.user}-feedback", target=page)
    return report.inner_text()


def ignores_interrupts(pid: int) -> bool:
    """Whether SIGINT is ignored by the process (its bit in SigIgn of /proc/PID/status)."""
    (ignored,) = [
        line.split()[1] for line in Path(f"/proc/{pid}/status").read_text().splitlines() if line.startswith("SigIgn:")
    ]
    return bool(int(ignored, 16) >> (signal.SIGINT - 1) & 1)


def test_the_formgrader_stops_on_an_interrupt(hub):
    """JupyterHub stops its services with SIGINT, and sends SIGTERM only 30 s later: the formgrader, started before
    the hub takes over SIGINT, must not have inherited it ignored from whatever started make hub."""
    (formgrader,) = [
        pid
        for pid in processes_of(pwd.getpwnam(hub.settings.grader).pw_uid)
        if "jupyterhub-singleuser" in Path(f"/proc/{pid}/cmdline").read_text()
    ]
    assert not ignores_interrupts(formgrader)


def test_release_work_submit_grade_feedback_on_the_hub(hub, browser, page, screenshot):
    settings, course = hub.settings, hub.settings.course_root
    good, bad = settings.students
    source = settings.course_template / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    solution = answers_from_solution(source)  # every answer, written ones too
    code_answers = [grade_id for grade_id, (_, kind) in answer_cells(source).items() if kind == "code"]

    # The instructor logs in and releases the assignment from the formgrader (a hub service).
    instructor = page
    instructor.goto(f"{hub.base}/hub/login")
    instructor.fill("#username_input", settings.instructor)
    instructor.fill("#password_input", hub.passwords[settings.instructor])
    instructor.click("#login_submit")
    instructor.wait_for_url(re.compile(r".*/user/.*/lab.*"))
    instructor.goto(hub.formgrader())
    screenshot("instructor-formgrader", target=instructor)
    formgrader_action(instructor, ASSIGNMENT, "assign", screenshot)
    formgrader_action(instructor, ASSIGNMENT, "release", screenshot)

    # Two students: one runs a lecture, then types the model answers; the other writes nothing useful in the
    # code answers.
    students = {name: HubSession(browser, hub.base, name, hub.passwords[name]) for name in (good, bad)}
    run_a_lecture(students[good], screenshot)
    work_and_submit(students[good], hub, solution, screenshot, expect="success")
    work_and_submit(students[bad], hub, dict.fromkeys(code_answers, BAD_ANSWER), screenshot, expect="failed")

    # The instructor collects and presses Autograde for each submission: nbgrader's own button, which the
    # formgrader runs as the grader account (not root), in the course's sandbox (bubblewrap's).
    instructor.goto(hub.formgrader())
    formgrader_action(instructor, ASSIGNMENT, "collect", screenshot)
    instructor.goto(hub.formgrader(f"manage_submissions/{ASSIGNMENT}"))
    for student in (good, bad):  # a success: autograde refuses to grade for credit outside the sandbox
        submission_action(instructor, student, "autograde", screenshot)
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        scores = {s.student_id: s.score for s in gradebook.assignment_submissions(ASSIGNMENT)}
    autograded_points = autograded_maximum(source)
    assert scores == {good: autograded_points, bad: 0}, scores

    instructor.goto(hub.formgrader(f"manage_submissions/{ASSIGNMENT}"))
    instructor.locator("td", has_text=good).first.wait_for()
    screenshot("instructor-graded", target=instructor)
    instructor.goto(hub.formgrader())
    formgrader_action(instructor, ASSIGNMENT, "generate-feedback", screenshot)
    formgrader_action(instructor, ASSIGNMENT, "release-feedback", screenshot)

    # Each student reads their own feedback, with their own score.
    texts = {name: read_feedback(session, screenshot) for name, session in students.items()}
    for name, points in ((good, autograded_points), (bad, 0)):  # the report's heading: notebook (Score: x / max)
        assert f"{ASSIGNMENT} (Score: {float(points)} / " in texts[name], texts[name][:2000]

    # ... and cannot reach the other's: not through the hub, not on the machine.
    good_feedback = feedback_files(settings.home(good))
    assert good_feedback, "the good student has no feedback file"
    relative = good_feedback[0].relative_to(settings.home(good))
    intruder = students[bad].page
    answer = intruder.goto(f"{hub.base}/user/{good}/files/{relative}")
    screenshot(f"{bad}-tries-{good}s-feedback", target=intruder)
    assert answer.status == 403 and "Score" not in intruder.content(), (answer.status, intruder.url)
    for path in (good_feedback[0], settings.exchange / settings.course_id / "feedback"):
        probe = run_as(bad, "ls", "-l", str(path))
        assert probe.returncode != 0 and "Permission denied" in probe.stderr, (path, probe.stdout)
    own = feedback_files(settings.home(bad))
    assert len(own) == 1 and "Score" in own[0].read_text() and good not in own[0].read_text()
    for session in students.values():
        session.close()


def feedback_files(home: Path) -> list[Path]:
    """The feedback reports fetched into a student's home (not JupyterLab's checkpoint copies of them)."""
    return sorted(p for p in (home / ASSIGNMENT / "feedback").rglob("*.html") if ".ipynb_checkpoints" not in p.parts)


def autograded_maximum(source_notebook) -> float:
    """The points of the assignment's autograded test cells (what a perfect answer scores before manual
    grading), from the instructor's notebook."""
    nb = nbformat.read(source_notebook, as_version=4)
    return sum(
        cell.metadata["nbgrader"].get("points", 0)
        for cell in nb.cells
        if cell.metadata.get("nbgrader", {}).get("grade") and not cell.metadata["nbgrader"].get("solution")
    )
