"""The values a lecture notebook computes, for tests to check against R or the handout.

    from tests.lecture_values import lecture_values
    v = lecture_values("06-random-intercepts", "ri.fe_params", "icc_adjusted")
    v["ri.fe_params"]      # a pandas Series, as the notebook computed it

A notebook runs once per test session (:func:`run_lecture`): all its cells, top to bottom, in a
fresh kernel of the current Python environment (``sys.executable``), with the notebook's folder
as working directory; each cell's outputs are kept, for tests/lecture_outputs.py to compare with
the stored ones. That kernel stays alive for the rest of the session, so however many tests ask
about a notebook, and whether they or the output comparison come first, it runs once; later calls
only evaluate their expressions in it. Kernels are shut down when the session's process exits.

Each argument is a Python expression evaluated in the notebook's namespace after its last
cell. The results must be plain values: None, bool, int, float, str, lists, tuples and
dicts of them, numpy scalars and arrays, pandas Index, Series and DataFrame. Anything else
(a statsmodels results object, a figure) raises TypeError: ask for the numbers instead,
e.g. ``"ri.llf"`` or ``"ri.cov_re"``, so that a test states what it checks.

A cell that raises, an expression that raises or a notebook that does not exist raises
:class:`LectureError` naming the notebook and the cell or expression.

:func:`lecture_text` is the notebook's prose (its markdown cells), for tests that check the
numbers a sentence states.
"""

from __future__ import annotations

import atexit
import pickle
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

__all__ = ["CellRun", "LectureError", "lecture_text", "lecture_values", "run_lecture", "NOTEBOOKS"]

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
CELL_TIMEOUT = 900  # seconds; the slowest lecture cell takes well under a minute on this machine
_PLAIN_SCALARS = (type(None), bool, int, float, str, np.generic)


class LectureError(RuntimeError):
    """A lecture could not be run, or an expression could not be evaluated in it."""


class _CurrentEnvironment(KernelSpecManager):
    """The only kernel on offer is this interpreter's, whatever kernelspecs are installed."""

    def get_kernel_spec(self, kernel_name):
        return KernelSpec(
            argv=[sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            display_name="current environment",
            language="python",
        )


@dataclass
class CellRun:
    """What one code cell did in the session's run: its outputs, and its error (``"ValueError: bad data"``,
    with the traceback) if it raised or was not run."""

    outputs: list = field(default_factory=list)
    error: str | None = None
    traceback: str = ""


class _LiveLecture:
    """One notebook run to its end in a kernel that is kept for later evaluations; ``runs`` holds each code
    cell's outputs by its index in the notebook, ``failure`` names the first cell that raised."""

    def __init__(self, path: Path):
        self.path = path
        self.notebook = nbformat.read(path, as_version=4)
        self.runs: dict[int, CellRun] = {}
        self.failure: str | None = None
        manager = KernelManager(kernel_spec_manager=_CurrentEnvironment(), kernel_name="current")
        # every cell runs even after one raised, so that each cell's own result is known (as nbval did)
        self.client = NotebookClient(
            self.notebook,
            km=manager,
            timeout=CELL_TIMEOUT,
            kernel_name="current",
            allow_errors=True,
            interrupt_on_timeout=True,
            coalesce_streams=True,
            resources={"metadata": {"path": str(path.parent)}},
        )
        self.client.start_new_kernel(cwd=str(path.parent))
        self.client.start_new_kernel_client()
        for index, cell in enumerate(self.notebook.cells):
            if cell.cell_type != "code":
                continue
            try:
                self.client.execute_cell(cell, index)
            except Exception as err:  # noqa: BLE001 (a dead kernel: the cells after it are not run)
                self._record(index, CellRun(list(cell.outputs), f"{type(err).__name__}: {err}"))
                break
            run = CellRun(list(cell.outputs))
            for error in (o for o in cell.outputs if o.output_type == "error"):
                run.error, run.traceback = f"{error.ename}: {error.evalue}", "\n".join(error.traceback)
            self._record(index, run)
        if self.failure:
            self.close()  # nothing can be evaluated in it

    def _record(self, index: int, run: CellRun) -> None:
        self.runs[index] = run
        if run.error and self.failure is None:
            self.failure = f"{self.path.name}: cell {index} raised {run.error}"

    def evaluate(self, expressions: tuple[str, ...]) -> dict:
        with tempfile.TemporaryDirectory() as folder:
            out = Path(folder) / "values.pickle"
            cell = nbformat.v4.new_code_cell(_EVALUATOR.format(out=str(out), exprs=list(expressions)))
            self.notebook.cells.append(cell)  # nbclient stores the executed cell at its index
            try:
                self.client.execute_cell(cell, len(self.notebook.cells) - 1)
            except Exception as err:  # noqa: BLE001 (a dead kernel, a timeout)
                raise LectureError(f"{self.path.name}: evaluating {list(expressions)} failed: {err}") from None
            finally:
                self.notebook.cells.pop()
            for error in (o for o in cell.outputs if o.output_type == "error"):
                raise LectureError(
                    f"{self.path.name}: evaluating {list(expressions)} failed: {error.ename}: {error.evalue}"
                )
            results = pickle.loads(out.read_bytes())
        values = {}
        for expression in expressions:
            ok, value = results[expression]
            if not ok:
                raise LectureError(f"{self.path.name}: {expression!r} raised {value}")
            _check_plain(value, expression)
            values[expression] = value
        return values

    def close(self) -> None:
        try:
            self.client.km.shutdown_kernel(now=True)
        except Exception:  # noqa: BLE001 (at exit a kernel that is already gone is fine)
            pass


# Runs in the lecture's kernel and leaves no name behind. Each expression is evaluated in the
# lecture's namespace; the results, or the error as text (so that the test can name the
# expression that failed), go to a pickle file the test process reads.
_EVALUATOR = """\
def _lecture_values_dump(out, expressions, namespace):
    import pickle
    results = {{}}
    for expression in expressions:
        try:
            value = eval(expression, namespace)
            pickle.dumps(value)
            results[expression] = (True, value)
        except Exception as err:
            results[expression] = (False, f"{{type(err).__name__}}: {{err}}")
    with open(out, "wb") as handle:
        pickle.dump(results, handle)
_lecture_values_dump({out!r}, {exprs!r}, globals())
del _lecture_values_dump"""

_live: dict[Path, _LiveLecture] = {}


def _path(notebook: str | Path) -> Path:
    path = Path(notebook)
    if path.suffix != ".ipynb":
        path = NOTEBOOKS / f"{notebook}.ipynb"
    path = path.resolve()
    if not path.is_file():
        known = sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb"))
        raise LectureError(f"no notebook {str(notebook)!r}; the lectures are {known}")
    return path


def lecture_text(notebook: str | Path) -> str:
    """The notebook's markdown cells, joined by blank lines."""
    cells = nbformat.read(_path(notebook), as_version=4).cells
    return "\n\n".join(c.source for c in cells if c.cell_type == "markdown")


def run_lecture(notebook: str | Path) -> _LiveLecture:
    """The session's run of the notebook (a lecture's name or a path): made at the first call."""
    path = _path(notebook)
    if path not in _live:
        _live[path] = _LiveLecture(path)
    return _live[path]


def lecture_values(notebook: str | Path, *expressions: str) -> dict:
    """``{expression: value}`` for each expression, evaluated after the notebook's last cell.

    ``notebook`` is a lecture's name without suffix ("06-random-intercepts") or a path to a
    notebook file.
    """
    if not expressions:
        raise ValueError("give at least one expression to evaluate in the notebook")
    lecture = run_lecture(notebook)
    if lecture.failure:
        raise LectureError(lecture.failure)
    return lecture.evaluate(expressions)


def _check_plain(value, expression: str) -> None:
    if isinstance(value, _PLAIN_SCALARS):
        return
    if isinstance(value, np.ndarray) and value.dtype.kind in "biufcUSM":
        return
    if isinstance(value, (pd.Series, pd.DataFrame, pd.Index)):
        return
    if isinstance(value, (list, tuple)):
        for item in value:
            _check_plain(item, expression)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            _check_plain(key, expression)
            _check_plain(item, expression)
        return
    raise TypeError(
        f"{expression!r} is a {type(value).__module__}.{type(value).__name__}, not a plain value; "
        "ask for the numbers it holds (e.g. 'fit.params', 'fit.llf')"
    )


@atexit.register
def _shutdown_all() -> None:
    for lecture in _live.values():
        lecture.close()
    _live.clear()
