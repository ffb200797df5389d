"""The course's additions to stock nbgrader, loaded by ``grading/nbgrader_config.py``.

- :class:`CourseExecute`: nbgrader's ``Execute`` with a per-cell timeout chosen per
  assignment (``grading/timeouts.json``) and kernels started by
  :class:`LimitedKernelManager`.
- :class:`LimitedKernelManager`: starts :mod:`helpers.limited_kernel`, an IPython kernel
  with a memory ceiling that ignores statsmodels' ``ConvergenceWarning``.
- :class:`DropEmptyMetadata`: lets a submission with a duplicated nbgrader cell be graded.
- :class:`HideHiddenTests`: a feedback preprocessor that removes hidden-test source and
  tracebacks from the HTML a student receives.
- :func:`measure_timeouts`: runs every instructor notebook, times its cells and writes
  ``grading/timeouts.json``; ``python -m helpers.grading timeouts`` from the repo root.

Nothing here changes how nbgrader stores grades: every command stays a stock
``nbgrader`` command run in ``grading/``.
"""

from __future__ import annotations

import argparse
import json
import math
import re
from datetime import datetime
from pathlib import Path

import nbformat
from jupyter_client.manager import AsyncKernelManager
from nbgrader.preprocessors import Execute, NbGraderPreprocessor
from traitlets import Dict, Integer, Unicode

COURSE_ROOT = Path(__file__).resolve().parent.parent / "grading"
TIMEOUTS_FILE = "timeouts.json"
HIDDEN_BEGIN, HIDDEN_END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"


class LimitedKernelManager(AsyncKernelManager):
    """Launches ``python -m helpers.limited_kernel`` in place of ``python -m ipykernel_launcher``."""

    memory_limit_mb = Integer(3072, help="Address-space ceiling of a grading kernel in MiB (0: none).").tag(
        config=True)

    def format_kernel_cmd(self, extra_arguments=None):
        cmd = super().format_kernel_cmd(extra_arguments)
        for i in range(len(cmd) - 1):
            if cmd[i] == "-m" and cmd[i + 1] == "ipykernel_launcher":
                return [*cmd[:i + 1], "helpers.limited_kernel", "--memory-mb", str(self.memory_limit_mb),
                        *cmd[i + 2:]]
        raise RuntimeError(f"LimitedKernelManager only wraps Python kernels started with "
                           f"'-m ipykernel_launcher'; this kernel's command is {cmd}")


class CourseExecute(Execute):
    """nbgrader's Execute with a per-assignment cell timeout and limited kernels."""

    timeouts = Dict(help="Per-cell timeout in seconds for each assignment id; others use Execute.timeout.").tag(
        config=True)

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("kernel_manager_class", LimitedKernelManager)
        super().__init__(*args, **kwargs)

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


# ----------------------------------------------------------------------------- timeouts


def cell_seconds(nb: nbformat.NotebookNode) -> list[float]:
    """Wall time of each executed code cell, from the timing nbclient records in cell metadata."""
    out = []
    for cell in nb.cells:
        timing = cell.get("metadata", {}).get("execution", {})
        start, end = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
        if cell.cell_type == "code" and start and end:
            out.append((_time(end) - _time(start)).total_seconds())
    return out


def _time(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def timeout_for(seconds: list[float], factor: float = 10.0, floor: int = 30) -> int:
    """A cell timeout: ``factor`` times the slowest cell of the solution, at least ``floor`` seconds."""
    return max(floor, math.ceil(factor * max(seconds, default=0.0)))


def measure_timeouts(course_root: Path = COURSE_ROOT, factor: float = 10.0, floor: int = 30) -> dict:
    """Run every notebook in ``source/<assignment>/`` and return per-assignment timings and timeouts."""
    from nbclient import NotebookClient

    result = {}
    for folder in sorted(p for p in (Path(course_root) / "source").iterdir() if p.is_dir()):
        slowest, total = 0.0, 0.0
        for path in sorted(folder.glob("*.ipynb")):
            nb = nbformat.read(path, as_version=4)
            NotebookClient(nb, timeout=600, resources={"metadata": {"path": str(folder)}},
                           record_timing=True).execute()
            seconds = cell_seconds(nb)
            slowest, total = max(slowest, *seconds), total + sum(seconds)
        result[folder.name] = {"timeout": timeout_for([slowest], factor, floor),
                               "slowest_cell_seconds": round(slowest, 2), "total_seconds": round(total, 2)}
    return result


def read_timeouts(course_root: Path = COURSE_ROOT) -> dict[str, int]:
    """``{assignment: timeout}`` from ``timeouts.json`` (empty when the file is missing)."""
    path = Path(course_root) / TIMEOUTS_FILE
    if not path.is_file():
        return {}
    return {name: int(entry["timeout"]) for name, entry in json.loads(path.read_text()).items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m helpers.grading", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    timeouts = sub.add_parser("timeouts", help="time the instructor notebooks and write timeouts.json")
    timeouts.add_argument("--course", type=Path, default=COURSE_ROOT)
    timeouts.add_argument("--factor", type=float, default=10.0)
    timeouts.add_argument("--floor", type=int, default=30)
    args = parser.parse_args(argv)
    measured = measure_timeouts(args.course, args.factor, args.floor)
    (args.course / TIMEOUTS_FILE).write_text(json.dumps(measured, indent=2) + "\n")
    for name, entry in measured.items():
        print(f"{name}: slowest cell {entry['slowest_cell_seconds']} s -> timeout {entry['timeout']} s")


if __name__ == "__main__":
    main()
