"""Per-assignment time limits, measured from the instructor notebooks (``course/timeouts.json``).

``python -m grading timeouts`` runs every notebook in ``source/<assignment>/``, times its cells and writes
the file: for each assignment a limit per cell (``timeout``) and one for a whole notebook
(``notebook_timeout``). The course's ``nbgrader_config.py`` reads it with :func:`read_timeouts`.
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from pathlib import Path

import nbformat

from grading import COURSE_ROOT

TIMEOUTS_FILE = "timeouts.json"


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


def notebook_timeout_for(total_seconds: float, cell_timeout: int, factor: float = 10.0) -> int:
    """A notebook's wall-clock limit: ``factor`` times the solution's total, and room for four cells that run
    into their timeout (a few runaway cells still leave the rest of the notebook graded)."""
    return max(4 * cell_timeout, math.ceil(factor * total_seconds))


def run_instructor_notebook(nb: nbformat.NotebookNode, folder: Path, record_timing: bool = False) -> None:
    """Execute ``nb`` in place, in ``folder``; any failing cell raises. The kernel's own log stays below errors:
    its notice that a local kernel talks over TCP unencrypted would otherwise fill the instructor's terminal."""
    from nbclient import NotebookClient

    NotebookClient(
        nb,
        timeout=600,
        record_timing=record_timing,
        resources={"metadata": {"path": str(folder)}},
        extra_arguments=["--IPKernelApp.log_level=ERROR"],
    ).execute()


def measure_timeouts(course_root: Path = COURSE_ROOT, factor: float = 10.0, floor: int = 30) -> dict:
    """Run every notebook in ``source/<assignment>/`` and return per-assignment timings and timeouts."""
    result = {}
    for folder in sorted(p for p in (Path(course_root) / "source").iterdir() if p.is_dir()):
        slowest, total = 0.0, 0.0
        for path in sorted(folder.glob("*.ipynb")):
            nb = nbformat.read(path, as_version=4)
            run_instructor_notebook(nb, folder, record_timing=True)
            seconds = cell_seconds(nb)
            slowest, total = max(slowest, *seconds), total + sum(seconds)
        timeout = timeout_for([slowest], factor, floor)
        result[folder.name] = {
            "timeout": timeout,
            "notebook_timeout": notebook_timeout_for(total, timeout, factor),
            "slowest_cell_seconds": round(slowest, 2),
            "total_seconds": round(total, 2),
        }
    return result


def read_timeouts(course_root: Path = COURSE_ROOT) -> dict[str, dict[str, int]]:
    """``{assignment: {"timeout": s, "notebook_timeout": s}}`` from ``timeouts.json`` (empty when the file is
    missing)."""
    path = Path(course_root) / TIMEOUTS_FILE
    if not path.is_file():
        return {}
    return {
        name: {key: int(entry[key]) for key in ("timeout", "notebook_timeout")}
        for name, entry in json.loads(path.read_text()).items()
    }


def write_timeouts(course_root: Path, factor: float, floor: int) -> dict:
    """Measure and write ``timeouts.json``; return what was written."""
    measured = measure_timeouts(course_root, factor, floor)
    (Path(course_root) / TIMEOUTS_FILE).write_text(json.dumps(measured, indent=2) + "\n")
    return measured
