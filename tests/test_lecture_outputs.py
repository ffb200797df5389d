"""tests/lecture_outputs.py: each code cell of a notebook is a test that its run matches the stored outputs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat

from tests.lecture_outputs import SANITIZE, differences, substitutions

REPO = Path(__file__).resolve().parent.parent
RULES = substitutions(SANITIZE.read_text())


def stream(text, name="stdout"):
    return nbformat.v4.new_output("stream", name=name, text=text)


def result(plain, **more):
    return nbformat.v4.new_output("execute_result", data={"text/plain": plain, **more}, execution_count=1)


def test_outputs_equal_after_the_sanitize_file_pass():
    stored = [stream("fitted <object at 0x7f3a2b1c9d90>\n"), result("1.5", **{"image/png": "AAAA"})]
    run = [stream("fitted <object at "), stream("0x55d2c4e1a2b0>\n"), result("1.5", **{"image/png": "BBBB"})]
    assert differences(stored, run, RULES) == []


def test_a_changed_number_an_extra_stream_and_a_missing_output_are_each_named():
    stored = [stream("estimate 1.234\n"), result("0.5")]
    report = differences(stored, [stream("estimate 1.237\n"), stream("a warning\n", "stderr")], RULES)
    assert len(report) == 3, report
    changed = next(r for r in report if r.startswith("stdout"))
    assert "-estimate 1.234" in changed and "+estimate 1.237" in changed
    assert any(r.startswith("an output the notebook does not store: stderr") and "a warning" in r for r in report)
    assert any(r.startswith("a stored output the run did not give: text/plain") for r in report)


def test_a_progress_bar_is_compared_as_a_terminal_shows_it():
    assert differences([stream("done\n")], [stream("10%\r50%\rdone\n")], RULES) == []


def test_a_notebook_is_a_file_of_cell_tests_with_useful_failures(tmp_path):
    cells = [
        nbformat.v4.new_code_cell("print(2 + 2)", execution_count=1, outputs=[stream("4\n")]),
        nbformat.v4.new_code_cell("print(2 + 3)", execution_count=2, outputs=[stream("4\n")]),
        nbformat.v4.new_code_cell(
            "print('anything')",
            execution_count=3,
            outputs=[stream("other\n")],
            metadata={"tags": ["nbval-ignore-output"]},
        ),
        nbformat.v4.new_code_cell("raise ValueError('bad data')", execution_count=4),
        nbformat.v4.new_code_cell("x = 1", execution_count=5),
    ]
    path = tmp_path / "toy.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=cells), path)
    got = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "tests.lecture_outputs",
            "-o",
            "addopts=",
            "-q",
            "-p",
            "no:cacheprovider",
            f"--rootdir={tmp_path}",
            str(path),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    out = got.stdout
    assert "2 failed, 3 passed" in out, out[-3000:]
    assert "toy.ipynb, code cell 1 (cell 1 of the notebook)" in out and "-4" in out and "+5" in out, out[-3000:]
    assert "the cell raised ValueError: bad data" in out and "raise ValueError('bad data')" in out, out[-3000:]
