"""Every lecture as a student reads it: one clean run, teaching only, a short version stamp at the end.

These tests read the stored notebooks (tests/lecture_outputs.py re-runs them; tests/test_lecture_*.py check their
numbers):

- the code cells ran once, top to bottom, in one kernel (execution counts 1, 2, 3, ...), without an error;
- nothing of the course's own verification shows: no assert cells, no reads of tests/, no stderr (warnings,
  progress bars), no carriage-return remains of a progress bar, no numpy scalar reprs such as
  ``np.float64(0.5)`` where a number was meant;
- clean metadata: the notebook has only its kernelspec and language_info, a cell only its tags, jupyter
  display settings and myst-nb's settings (a figure's alt text; no execution timings: run with
  ``--ExecutePreprocessor.record_timing=False``);
- a cell tagged in-r is a folded "In R" block in the agreed form (tests/r_blocks.py; tests/test_r_blocks.py
  runs its code);
- the title cell names the lecture's place in the sequence ("notebook 6 of 14"), and every
  "notebook N" it cites exists;
- the last cell is a short code cell printing the versions of python, numpy, pandas and statsmodels;
- no table is so wide that pandas wraps it into blocks of columns, and no paragraph of prose runs on
  (one idea per paragraph: at most PARAGRAPH_WORDS words, list items and tables apart).
"""

from __future__ import annotations

import re

import nbformat
import pytest

from tests.lecture_values import NOTEBOOKS
from tests.r_blocks import TAG as IN_R, form_problems

LECTURES = sorted(NOTEBOOKS.glob("[0-9][0-9]-*.ipynb"))
LAST = int(LECTURES[-1].name[:2])  # the number of lectures, once they are numbered 1, 2, ... without a gap
NOTEBOOK_KEYS = {"kernelspec", "language_info"}
CELL_KEYS = {"tags", "jupyter", "mystnb"}
STAMPED = ("python", "numpy", "pandas", "statsmodels")
STAMP_LINES = 5
PARAGRAPH_WORDS = 120


def read(path):
    return nbformat.read(path, as_version=4)


def code_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


def output_texts(cell):
    for output in cell.outputs:
        if output.output_type == "stream":
            yield output.text
        elif output.output_type in ("execute_result", "display_data"):
            yield output.get("data", {}).get("text/plain", "")


def where(cell) -> str:
    return repr(cell.source[:80])


def test_the_lectures_are_numbered_one_to_fourteen():
    assert [int(p.name[:2]) for p in LECTURES] == list(range(1, 15))


@pytest.mark.parametrize("path", LECTURES, ids=lambda p: p.stem)
def test_one_clean_run_top_to_bottom(path):
    code = code_cells(read(path))
    assert [c.execution_count for c in code] == list(range(1, len(code) + 1)), "not one clean top-to-bottom run"
    for cell in code:
        assert not any(o.output_type == "error" for o in cell.outputs), f"an error stored: {where(cell)}"


@pytest.mark.parametrize("path", LECTURES, ids=lambda p: p.stem)
def test_no_verification_or_noise_in_a_students_view(path):
    for cell in code_cells(read(path)):
        assert not re.search(r"^\s*assert\b", cell.source, re.M), f"an assert cell: {where(cell)}"
        assert not re.search(r"\btests/|\b(from|import)\s+tests\b", cell.source), (
            f"a lecture reads the tests' data: {where(cell)}"
        )
        assert not any(o.output_type == "stream" and o.name == "stderr" for o in cell.outputs), (
            f"stderr (a warning or a progress bar) stored in a student's view: {where(cell)}"
        )
        for text in output_texts(cell):
            assert "\r" not in text, f"a progress bar's remains: {where(cell)}"
            assert not re.search(r"\bnp\.(float|int)\d+\(", text), f"a numpy scalar's repr printed: {where(cell)}"


@pytest.mark.parametrize("path", LECTURES, ids=lambda p: p.stem)
def test_metadata_is_clean(path):
    nb = read(path)
    assert set(nb.metadata) == NOTEBOOK_KEYS
    for cell in nb.cells:
        extra = set(cell.metadata) - CELL_KEYS
        assert not extra, f"cell metadata {sorted(extra)} (execution timings?) in {cell.source[:60]!r}"


@pytest.mark.parametrize("path", LECTURES, ids=lambda p: p.stem)
def test_in_r_blocks_are_in_the_agreed_form(path):
    for cell in read(path).cells:
        if IN_R in cell.metadata.get("tags", []):
            assert not form_problems(cell), f"{form_problems(cell)}: {where(cell)}"


@pytest.mark.parametrize("path", LECTURES, ids=lambda p: p.stem)
def test_the_title_and_cross_references_name_real_lectures(path):
    nb = read(path)
    number = int(path.name[:2])
    assert f"notebook {number} of {LAST}" in nb.cells[0].source
    prose = " ".join(c.source for c in nb.cells if c.cell_type == "markdown")
    cited = {int(n) for n in re.findall(r"[Nn]otebooks? (\d+)", prose)}
    cited |= {int(n) for n in re.findall(r"[Nn]otebooks \d+(?:–|-| to | and )(\d+)", prose)}
    assert cited <= set(range(1, LAST + 1)), f"cites notebooks {sorted(cited)}"


@pytest.mark.parametrize("path", LECTURES, ids=lambda p: p.stem)
def test_a_short_version_stamp_ends_the_lecture(path):
    last = read(path).cells[-1]
    assert last.cell_type == "code", "the last cell is not the version stamp"
    assert all(name in last.source for name in STAMPED), "no version stamp at the end"
    assert len(last.source.splitlines()) <= STAMP_LINES, "the version stamp is not short"
    printed = "".join(output_texts(last))
    assert all(name in printed for name in STAMPED), "the stamp prints no versions"


@pytest.mark.parametrize("path", LECTURES, ids=lambda p: p.stem)
def test_no_table_wraps_into_blocks(path):
    for cell in code_cells(read(path)):
        for text in output_texts(cell):
            # when the columns do not fit, pandas ends the lines of every block but the last with a backslash
            assert not re.search(r" \\$", text, re.M), f"a table wraps into blocks of columns: {where(cell)}"


def paragraphs(markdown: str):
    """The prose paragraphs of a markdown cell, each list item on its own, tables and display maths left out."""
    for block in re.split(r"\n\s*\n", markdown):
        for item in re.split(r"\n(?=\s*(?:[-*]|\d+\.) )", block):
            if not item.lstrip().startswith(("|", "$$")):
                yield item


@pytest.mark.parametrize("path", LECTURES, ids=lambda p: p.stem)
def test_no_paragraph_runs_on(path):
    for cell in read(path).cells:
        if cell.cell_type == "markdown":
            for paragraph in paragraphs(cell.source):
                words = len(paragraph.split())
                assert words <= PARAGRAPH_WORDS, f"a paragraph of {words} words: {paragraph[:80]!r}"
