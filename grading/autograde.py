"""The course's autograde step: :class:`JudgedExecute`, in place of nbgrader's ``Execute``.

The course's ``nbgrader_config.py`` puts it first in ``c.Autograde.autograde_preprocessors``, so plain
``nbgrader autograde`` and ``make grade`` judge alike (grading/README.md, "How answers are judged"):

1. the *student pass*: the submitted notebook runs in a sandboxed kernel, every autograded test cell
   replaced by an export of its answers (:func:`grading.judge.export_snippet`); the test code never
   reaches that kernel. Each cell gets the assignment's timeout, the whole notebook a wall-clock limit;
   output beyond a cap is dropped;
2. the *judge*: each test cell, from the gradebook, runs in this process on the decoded answers
   (:func:`grading.judge.judge`); its outputs in the autograded notebook are the judge's verdict, which
   nbgrader's SaveAutoGrades then scores as usual.

Credit-bearing grading needs the sandbox: root makes it, any other user has it where bubblewrap can make
unprivileged user namespaces. Where no sandbox can be had this refuses, naming why, unless ``self_study`` is
set (then the notebooks run unsandboxed, with a warning).
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
import time

import nbformat
from jupyter_core.utils import run_sync
from nbclient.client import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat import NotebookNode
from nbgrader.api import Gradebook
from nbgrader.preprocessors import Execute
from traitlets import Bool, Dict, Instance, default

from grading import judge as jd
from grading import plain
from grading.limits import SandboxLimits

NOTEBOOK_TIMEOUT_NOTE = "the notebook ran past its time limit ({} s): this cell and the ones after it were not run"
KERNEL_LOST_NOTE = "the kernel stopped ({}): this cell and the ones after it were not run"
IGNORED_INTERRUPT_NOTE = (
    "the kernel ignored the interrupt at a cell's time limit (still busy {} s later) and was stopped: this cell and "
    "the ones after it were not run"
)


class GradingRefused(RuntimeError):
    """Credit-bearing grading without the sandbox."""


def sandbox_refusal() -> str | None:
    """Why the grading sandbox cannot be had here (None if it can): root makes it; any other user needs
    bubblewrap and unprivileged user namespaces (:func:`grading.sandbox.bubblewrap_refusal`)."""
    from grading.sandbox import bubblewrap_refusal

    return None if os.geteuid() == 0 else bubblewrap_refusal()


def kernel_manager_class(sandboxed: bool) -> type:
    """The kernel manager of the student pass: in the grading sandbox, or without it (self-study)."""
    from grading.sandbox import SandboxedKernelManager, UnsandboxedKernelManager

    return SandboxedKernelManager if sandboxed else UnsandboxedKernelManager


class JudgedExecute(Execute):
    """nbgrader's Execute, with the test cells judged outside the student's kernel."""

    timeouts = Dict(
        help="Per assignment id: {'timeout': seconds per cell, 'notebook_timeout': seconds per "
        "notebook} (grading.timeouts.read_timeouts); others get Execute.timeout and "
        "SandboxLimits.notebook_seconds."
    ).tag(config=True)
    limits = Instance(
        SandboxLimits, help="The limits (those of the configuration by default); the kernel managers read the same."
    )
    self_study = Bool(
        False,
        help="Grade without the sandbox (and so without root): the notebooks' code runs "
        "with the grader's rights. Only for grading one's own work.",
    ).tag(config=True)

    @default("limits")
    def _default_limits(self) -> SandboxLimits:
        return SandboxLimits(parent=self)

    @default("shutdown_kernel")
    def _default_shutdown_kernel(self) -> str:
        # once the verdicts are in, the kernel holds nothing the grade needs, and its atexit hooks are the
        # student's code: stop it at once (a graceful stop idles the grader half a second per student)
        return "immediate"

    def preprocess(self, nb: NotebookNode, resources=None, km=None):
        sandboxed = self._sandboxed()
        # a fresh client for this notebook, as nbconvert's ExecutePreprocessor.preprocess makes one (the guard:
        # tests/test_environment.py); it re-reads the configuration, so the timeouts are set after it
        NotebookClient.__init__(self, nb, km)
        cell_timeout, notebook_timeout = self._timeouts(resources)
        self.kernel_manager_class = kernel_manager_class(sandboxed)
        self.raise_on_iopub_timeout = False
        # a cell at its time limit comes back to _student_pass, which interrupts the kernel and waits only
        # SandboxLimits.interrupt_seconds for it; nbclient would wait the cell's whole limit again for its output,
        # and a kernel that ignores interrupts would then hold a core until the notebook's time limit
        self.interrupt_on_timeout = False
        self.resources = resources
        info = resources["nbgrader"]
        tests = dict(plan(self.nb, resources, course_order(self.config, info["assignment"], info["notebook"])))
        self._course_files = course_files(self.config, info["assignment"])
        self._output_bytes, self._dropped, self._exports, self._exported = 0, set(), set(tests), set()
        with self.setup_kernel():
            info = self.wait_for_reply(self.kc.kernel_info())
            self.nb.metadata["language_info"] = info["content"]["language_info"]
            folder, own_folder = self._calls_folder()
            try:
                originals = {}
                for index, test in tests.items():
                    cell = self.nb.cells[index]
                    originals[index], cell.source = (
                        cell.source,
                        jd.export_snippet(test.answers, self.km.seen_by_kernel(jd.serve_path(folder, index))),
                    )
                stopped, reason = self._student_pass(resources, cell_timeout, notebook_timeout)
                for index, test in tests.items():
                    cell = self.nb.cells[index]
                    cell.source = originals[index]
                    if stopped is not None and index >= stopped:
                        verdict = jd.Verdict(False, "AssertionError", f"not graded: {reason}")
                    else:
                        export = jd.read_export(cell.outputs, test.answers)
                        calls = jd.Calls(jd.serve_path(folder, index), cell_timeout, self.km.kernel_uid)
                        verdict = jd.judge(test, export, calls)
                    cell.outputs = [] if verdict.passed else [error_output(verdict.ename, verdict.evalue)]
                    self.log.info("%s: %s", test.grade_id, "passed" if verdict.passed else verdict.ename)
            finally:
                if own_folder:
                    shutil.rmtree(folder, ignore_errors=True)
        self.set_widgets_metadata()
        return self.nb, self.resources

    def create_kernel_manager(self):
        """The kernel's working folder gets the assignment's own files (data from ``source/``), never what a
        student put beside the notebook; its limits are this step's."""
        km = super().create_kernel_manager()
        km.files, km.limits = self._course_files, self.limits
        return km

    def _sandboxed(self) -> bool:
        if self.self_study:
            self.log.warning("SELF-STUDY GRADING: the notebooks' code runs unsandboxed, with your rights")
            return False
        refusal = sandbox_refusal()
        if refusal:
            raise GradingRefused(
                f"autograding needs the grading sandbox, and {refusal}. For self-study only (the code you grade "
                "runs with your rights), add --JudgedExecute.self_study=True; see grading/README.md"
            )
        return True

    def _timeouts(self, resources) -> tuple[int, int]:
        own = self.timeouts.get((resources or {}).get("nbgrader", {}).get("assignment"), {})
        cell = int(own.get("timeout", self.timeout))
        notebook = int(own.get("notebook_timeout", self.limits.notebook_seconds))
        self.log.info("Cell timeout %s s, notebook time limit %s s", cell, notebook)
        return cell, notebook

    def _calls_folder(self) -> tuple[str, bool]:
        """Where frozen copies of the kernel answer calls: beside its sockets (which the sandbox lets it and the
        grader reach), or a private folder of the grader's for a kernel that has no socket folder."""
        if self.km.transport == "ipc":
            return os.path.dirname(self.km.ip), False
        return tempfile.mkdtemp(prefix="grading-calls-"), True

    def _student_pass(self, resources, cell_timeout: int, notebook_timeout: int) -> tuple[int | None, str]:
        """Run every cell under the limits; return where and why the pass stopped early (or None, "")."""
        deadline = time.monotonic() + notebook_timeout
        for index, cell in enumerate(self.nb.cells):
            left = deadline - time.monotonic()
            if left <= 0:
                return self._stop(index, NOTEBOOK_TIMEOUT_NOTE.format(notebook_timeout))
            # outputs may trail the reply on a busy machine: wait for them as long as for the reply, and
            # never give up on the notebook for that (nbgrader's Execute would end the student's grading)
            self.timeout = self.iopub_timeout = max(1, min(cell_timeout, math.ceil(left)))
            try:
                self.preprocess_cell(cell, resources, index)
            except CellTimeoutError:
                cell.outputs.append(NotebookNode(output_type="error", **self.error_on_timeout))
                if not self._stopped_when_interrupted(deadline):
                    return self._stop(index + 1, IGNORED_INTERRUPT_NOTE.format(self.timeout))
            except DeadKernelError as error:
                self.log.warning("Student pass stopped at cell %s: %r", index, error)
                return self._stop(index, KERNEL_LOST_NOTE.format("it died"))
            except Exception:  # noqa: BLE001 (a kernel can send signed messages that jupyter_client cannot read)
                self.log.warning("Student pass stopped at cell %s", index, exc_info=True)
                return self._stop(index, KERNEL_LOST_NOTE.format("it sent what the grader cannot read"))
        return None, ""

    def _stopped_when_interrupted(self, deadline: float) -> bool:
        """Interrupt the kernel, and say whether it answers within SandboxLimits.interrupt_seconds (and the
        notebook's time): a kernel that does not has a cell still running, and would run no other."""
        run_sync(self.km.interrupt_kernel)()
        self.timeout = max(1, min(self.limits.interrupt_seconds, math.ceil(deadline - time.monotonic())))
        self.interrupt_on_timeout = True  # so that wait_for_reply gives None at its limit (interrupting again)
        try:
            return self.wait_for_reply(self.kc.kernel_info()) is not None
        finally:
            self.interrupt_on_timeout = False

    def _stop(self, index: int, note: str) -> tuple[int, str]:
        """Say so in the first student cell not run (test cells get their verdict)."""
        for later in range(index, len(self.nb.cells)):
            if self.nb.cells[later].cell_type == "code" and later not in self._exports:
                self.nb.cells[later].outputs.append(error_output("NotRun", note))
                break
        return index, note

    def output(self, outs, msg, display_id, cell_index):
        """Keep a test cell's first export whole (up to the format's cap); drop the rest of the notebook's output
        beyond the limit."""
        content = msg.get("content", {})
        if (
            cell_index in self._exports
            and cell_index not in self._exported
            and isinstance(content.get("data"), dict)
            and plain.MIME in content["data"]
            and _size(content) <= plain.MAX_CHARS
        ):
            self._exported.add(cell_index)
            return super().output(outs, msg, display_id, cell_index)
        self._output_bytes += _size(content)
        limit_kb = self.limits.notebook_output_kb
        if self._output_bytes > limit_kb * 1024:
            if cell_index not in self._dropped:
                self._dropped.add(cell_index)
                outs.append(
                    NotebookNode(
                        output_type="stream",
                        name="stdout",
                        text=f"[output beyond {limit_kb} KiB dropped by the grader]\n",
                    )
                )
            return None
        return super().output(outs, msg, display_id, cell_index)


def source_folder(config, assignment: str) -> str:
    """The course's ``source/<assignment>/`` folder."""
    from nbgrader.coursedir import CourseDirectory

    directory = CourseDirectory(config=config)
    return directory.format_path(directory.source_directory, ".", assignment)


def course_files(config, assignment: str) -> list[str]:
    """The files of ``source/<assignment>/`` other than notebooks (which nbgrader copies beside each
    submission), relative to that folder: regular files, reached without symbolic links."""
    folder = source_folder(config, assignment)
    found = []
    for here, folders, files in os.walk(folder):
        folders[:] = [f for f in folders if not os.path.islink(os.path.join(here, f)) and f != ".ipynb_checkpoints"]
        found += [
            os.path.relpath(os.path.join(here, f), folder)
            for f in files
            if not f.endswith(".ipynb") and not os.path.islink(os.path.join(here, f))
        ]
    return sorted(found)


def _size(content) -> int:
    """Characters of a message's content (a measure of what keeping it costs; the kernel makes it)."""
    return len(str(content))


def error_output(ename: str, evalue: str) -> NotebookNode:
    return NotebookNode(output_type="error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])


def plan(nb: NotebookNode, resources: dict, course_order: list[str]) -> list[tuple[int, jd.TestCell]]:
    """(index in ``nb``, test cell) of every autograded test cell, with source and setup from the gradebook.

    Setup before a test cell: the read-only code cells of the gradebook that stand before it in
    ``course_order``, the grade ids of the course's own notebook (:func:`course_order`). Where a submission
    puts, moves or deletes cells changes neither, and a cell counts by its grade id only if the gradebook
    knows that id, so nothing a student writes or labels becomes setup or a test.
    """
    info = resources["nbgrader"]
    with Gradebook(info["db_url"]) as gb:
        notebook = gb.find_notebook(info["notebook"], info["assignment"])
        sources = {c.name: (c.source, c.cell_type, c.locked) for c in notebook.source_cells}
        graded = {c.name for c in notebook.grade_cells}
        solutions = {c.name for c in notebook.solution_cells}
    setup, tests = [], {}
    for grade_id in course_order:
        if grade_id not in sources or grade_id in solutions or grade_id in tests:
            continue
        source, kind, locked = sources[grade_id]
        if kind != "code" or not locked:
            continue
        if grade_id in graded:
            tests[grade_id] = jd.TestCell(grade_id, source, list(setup))
        else:
            setup.append(source)
    found = {}
    for index, cell in enumerate(nb.cells):
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if cell.cell_type == "code" and grade_id in tests and grade_id not in found:
            found[grade_id] = (index, tests[grade_id])
    return sorted(found.values(), key=lambda pair: pair[0])


def course_order(config, assignment: str, notebook: str) -> list[str]:
    """The grade ids of the cells of the course's own notebook (``source/<assignment>/<notebook>.ipynb``), in
    its order."""
    path = os.path.join(source_folder(config, assignment), f"{notebook}.ipynb")
    try:
        cells = nbformat.read(path, as_version=4).cells
    except FileNotFoundError:
        raise jd.SetupError(
            f"the course's notebook {path} is missing: the grader takes the order of its cells from it"
        ) from None
    marks = [c.get("metadata", {}).get("nbgrader", {}) for c in cells]
    return [mark["grade_id"] for mark in marks if "grade_id" in mark]
