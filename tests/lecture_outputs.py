"""Every notebook given to pytest (``make test``: those under notebooks/) is a test file whose items are its
code cells, "Cell 0", "Cell 1", ... as nbval named them: a cell passes if it ran without an error and its
outputs are the stored ones.

The cells run once per session, in the run that tests/lecture_values.py keeps for the tests that ask for a
lecture's values (:func:`tests.lecture_values.run_lecture`): whichever comes first, the comparison or a
test, starts it. Outputs are compared as nbval 0.11 compares them (``--nbval``): per stream (stdout, stderr)
and per MIME type in the order they came, images, metadata and execution counts apart, after the
substitutions of tests/nbval_sanitize.cfg; a cell tagged ``nbval-ignore-output`` must only run without
an error. A failure names the cell and shows its source and, for each output that differs, what the
notebook stores beside what the run gave.

The root conftest.py registers this module, so ``pytest notebooks/06-random-intercepts.ipynb`` works too.
"""

from __future__ import annotations

import difflib
import re
from collections import defaultdict
from pathlib import Path

import nbformat
import pytest

from tests.lecture_values import run_lecture

SANITIZE = Path(__file__).resolve().parent / "nbval_sanitize.cfg"
NOT_COMPARED = {"image/png", "image/jpeg", "application/vnd.jupyter.widget-view+json"}
IGNORE_OUTPUT = "nbval-ignore-output"


def substitutions(text: str) -> list[tuple[str, str]]:
    """The (regex, replacement) pairs of a sanitize file: a ``regex:`` line followed by a ``replace:`` line."""
    return re.findall(r"^regex: (.*)\n^replace: (.*)$", text, flags=re.MULTILINE)


def sanitized(text: str, rules: list[tuple[str, str]]) -> str:
    for pattern, replacement in rules:
        text = re.sub(pattern, replacement, text)
    return text


def comparable(outputs: list, rules: list[tuple[str, str]]) -> dict[str, list[str]]:
    """Outputs as ``{stream name or MIME type or ename/evalue: [values, in order]}``: streams of one name
    joined (carriage returns and backspaces applied, as a terminal shows them), images left out."""
    streams: dict[str, str] = {}
    found: dict[str, list] = defaultdict(list)
    for output in outputs:
        if output.get("output_type") == "stream":
            streams[output["name"]] = streams.get(output["name"], "") + output["text"]
        elif output.get("output_type") == "error":
            found["ename"].append(output["ename"])
            found["evalue"].append(output["evalue"])
        else:
            for kind, value in output.get("data", {}).items():
                if kind not in NOT_COMPARED:
                    found[kind].append(value if isinstance(value, str) else repr(value))
    for name, text in streams.items():
        found[name].append(_as_shown(text))
    return {kind: [sanitized(v, rules) for v in values] for kind, values in found.items()}


def _as_shown(text: str) -> str:
    while (shorter := re.sub(r"[^\n]\x08", "", text)) != text:
        text = shorter
    return re.sub(r"^.*\r(?=[^\n])", "", text, flags=re.MULTILINE)


def differences(stored: list, got: list, rules: list[tuple[str, str]]) -> list[str]:
    """What differs between the stored outputs and those of the run, for a reader; empty if nothing."""
    want, have = comparable(stored, rules), comparable(got, rules)
    report = []
    for kind in sorted(set(want) | set(have)):
        expected, actual = want.get(kind, []), have.get(kind, [])
        if not expected:
            report.append(f"an output the notebook does not store: {kind}\n{_indent(chr(10).join(actual))}")
        elif not actual:
            report.append(f"a stored output the run did not give: {kind}\n{_indent(chr(10).join(expected))}")
        elif len(expected) != len(actual):
            report.append(f"{len(expected)} stored outputs of {kind}, the run gave {len(actual)}")
        else:
            for number, (old, new) in enumerate(zip(expected, actual), 1):
                if old != new:
                    diff = difflib.unified_diff(old.splitlines(), new.splitlines(), "stored", "this run", lineterm="")
                    report.append(
                        f"{kind} (output {number} of {len(expected)}) differs:\n{_indent(chr(10).join(diff))}"
                    )
    return report


def _indent(text: str) -> str:
    return "\n".join(f"    {line}" for line in text.splitlines())


class CellFailure(Exception):
    """A cell raised, or its outputs are not the stored ones."""


class LectureNotebook(pytest.File):
    def collect(self):
        notebook = nbformat.read(self.path, as_version=4)
        code = [(index, cell) for index, cell in enumerate(notebook.cells) if cell.cell_type == "code"]
        for number, (index, cell) in enumerate(code):
            yield LectureCell.from_parent(self, name=f"Cell {number}", index=index, cell=cell)


class LectureCell(pytest.Item):
    def __init__(self, *, index: int, cell, **kwargs):
        super().__init__(**kwargs)
        self.index, self.cell = index, cell

    def runtest(self) -> None:
        lecture = run_lecture(self.path)
        run = lecture.runs.get(self.index)
        if run is None:
            raise CellFailure(f"not run: {lecture.failure} and stopped the kernel")
        if run.error:
            raise CellFailure(f"the cell raised {run.error}\n\n{_strip_colours(run.traceback)}")
        if IGNORE_OUTPUT in self.cell.metadata.get("tags", []):
            return
        if self.cell.execution_count is None:
            if self.cell.outputs:
                raise CellFailure("the notebook stores outputs for a cell it did not run")
            return
        report = differences(self.cell.outputs, run.outputs, substitutions(SANITIZE.read_text()))
        if report:
            raise CellFailure("outputs differ from the stored ones:\n" + "\n".join(report))

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, CellFailure):
            number = self.name.removeprefix("Cell ")
            return (
                f"{self.path.name}, code cell {number} (cell {self.index} of the notebook):\n"
                f"{_indent(self.cell.source)}\n\n{excinfo.value}"
            )
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self):
        return self.path, None, f"{self.path.name}::{self.name}"


def _strip_colours(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def pytest_collect_file(file_path: Path, parent):
    if file_path.suffix == ".ipynb" and ".ipynb_checkpoints" not in file_path.parts:
        return LectureNotebook.from_parent(parent, path=file_path)
    return None
