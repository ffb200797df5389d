"""Benchmark (prints, asserts nothing): each lecture notebook's run time against the floor.

The floor is what any notebook of the course pays before its first line of teaching: a fresh kernel
that imports pandas, statsmodels and seaborn. Cells tagged ``simulation`` (Monte Carlo studies, whose
cost is chosen by their number of replications) are reported apart. All times come from this one run.
"""

from __future__ import annotations

import statistics
import time
from datetime import datetime
from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
FLOOR_CODE = "import pandas, seaborn, statsmodels.api, statsmodels.formula.api"


def run(notebook: nbformat.NotebookNode) -> float:
    """Seconds to start a kernel and execute every cell."""
    client = NotebookClient(
        notebook,
        kernel_name="python3",
        timeout=900,
        record_timing=True,
        extra_arguments=["--IPKernelApp.log_level=ERROR"],  # no transport notices
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    )
    start = time.perf_counter()
    client.execute()
    return time.perf_counter() - start


def cell_seconds(cell) -> float:
    timing = cell.get("metadata", {}).get("execution", {})
    if "iopub.execute_input" not in timing or "shell.execute_reply" not in timing:
        return 0.0
    started, ended = (
        datetime.fromisoformat(timing[k].replace("Z", "+00:00")) for k in ("iopub.execute_input", "shell.execute_reply")
    )
    return (ended - started).total_seconds()


def main() -> None:
    floor = statistics.median(
        run(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(FLOOR_CODE)])) for _ in range(3)
    )
    print(f"floor (fresh kernel importing pandas, statsmodels, seaborn): {floor:.2f} s\n")
    print(f"{'notebook':<42}{'total s':>9}{'simulation s':>14}{'rest s':>9}{'rest / floor':>14}")
    rest_total = 0.0
    paths = sorted(NOTEBOOKS.glob("[0-9][0-9]-*.ipynb"))
    for path in paths:
        notebook = nbformat.read(path, as_version=4)
        total = run(notebook)
        simulation = sum(cell_seconds(c) for c in notebook.cells if "simulation" in c.metadata.get("tags", []))
        rest = total - simulation
        rest_total += rest
        print(f"{path.name:<42}{total:>9.2f}{simulation:>14.2f}{rest:>9.2f}{rest / floor:>14.2f}")
    ratio = rest_total / (floor * len(paths))
    print(f"\nwhole sequence, simulation cells apart, vs the sum of floors: {ratio:.2f} (goal: 1.5 or less)")


if __name__ == "__main__":
    main()
