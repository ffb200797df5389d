"""The course's additions to stock nbgrader, loaded by ``grading/course/nbgrader_config.py``.

- :class:`CourseExecute`: nbgrader's ``Execute`` with a per-cell timeout chosen per
  assignment (``course/timeouts.json``, :mod:`grading.timeouts`) and kernels started by
  :mod:`grading.sandbox`'s kernel managers (sandboxed, or with rlimits only), under
  :class:`grading.limits.SandboxLimits`.
- :class:`DropEmptyMetadata`: lets a submission with a duplicated nbgrader cell be graded.
- :class:`HideHiddenTests`: a feedback preprocessor that removes hidden-test source and
  tracebacks from the HTML a student receives.

Nothing here changes how nbgrader stores grades: every command stays a stock
``nbgrader`` command run in ``grading/course/``.
"""

from __future__ import annotations

import re

from nbgrader.preprocessors import Execute, NbGraderPreprocessor
from traitlets import Bool, Dict, Unicode

from grading.sandbox import SandboxedKernelManager, UnsandboxedKernelManager

HIDDEN_BEGIN, HIDDEN_END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"


class CourseExecute(Execute):
    """nbgrader's Execute with a per-assignment cell timeout and the grading kernels of :mod:`grading.sandbox`."""

    timeouts = Dict(help="Per-cell timeout in seconds for each assignment id; others use Execute.timeout.").tag(
        config=True)
    sandbox = Bool(False, help="Start kernels in the grading sandbox (root only); otherwise with the limits "
                               "that rlimits can give and no isolation.").tag(config=True)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)  # nbgrader's Execute passes its own kernel manager class
        self.kernel_manager_class = SandboxedKernelManager if self.sandbox else UnsandboxedKernelManager

    def preprocess(self, nb, resources=None, km=None):
        assignment = (resources or {}).get("nbgrader", {}).get("assignment")
        if assignment in self.timeouts:
            self.timeout = int(self.timeouts[assignment])
            self.log.info("Cell timeout for %s: %s s", assignment, self.timeout)
        return super().preprocess(nb, resources, km=km)


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
    pattern = re.compile(rf"^[ \t]*{re.escape(HIDDEN_BEGIN)}.*?(^[ \t]*{re.escape(HIDDEN_END)}[^\n]*\n?|\Z)",
                         re.S | re.M)
    return pattern.sub(note + "\n", source).rstrip() + "\n"
