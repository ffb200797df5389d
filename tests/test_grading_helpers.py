"""Unit tests of the grading helpers: helpers.checks, and the grading package's nbgrader plugins
and timeouts."""

import subprocess
import sys

import nbformat
import numpy as np
import pandas as pd
import pytest
from nbformat.v4 import new_code_cell, new_output

from grading.nbgrader_plugins import DropEmptyMetadata, HideHiddenTests
from grading.timeouts import cell_seconds, timeout_for
from helpers.checks import check_close, check_frame, check_number, check_series


@pytest.mark.parametrize("value", [1, 2.5, np.float64(3.0), np.array([4.0]), pd.Series([5.0])])
def test_check_number_accepts_single_numbers_and_returns_nothing(value):
    assert check_number(value, "x") is None


@pytest.mark.parametrize(
    "value, words",
    [
        ("1", "single number"),
        (True, "single number"),
        (np.nan, "finite"),
        (np.array([1.0, 2.0]), "single number"),
        (5.0, "outside"),
    ],
)
def test_check_number_rejects_with_a_message(value, words):
    with pytest.raises(AssertionError, match=words):
        check_number(value, "x", 0, 1)


def test_check_close_names_a_known_mistake_and_never_the_reference():
    check_close(1.0005, 1.0, "x", rtol=1e-3)
    with pytest.raises(AssertionError, match="looks like a variance") as err:
        check_close(4.0, 2.0, "x", mistakes={"a variance": 4.0})
    with pytest.raises(AssertionError, match="not the expected value") as err2:
        check_close(3.0, 2.123456, "x")
    assert "2.12" not in str(err.value) + str(err2.value)
    with pytest.raises(AssertionError, match="shape"):
        check_close([1.0, 2.0], [1.0, 2.0, 3.0], "v")


def test_check_frame_and_series():
    frame = pd.DataFrame({"a": [1, 2]}, index=pd.Index([1, 2], name="g"))
    assert check_frame(frame, "f", ["a"], index=[2, 1], index_name="g") is None
    with pytest.raises(AssertionError, match="missing column"):
        check_frame(frame, "f", ["a", "b"])
    with pytest.raises(AssertionError, match="one row for each of 3"):
        check_frame(frame, "f", ["a"], index=[1, 2, 3])
    with pytest.raises(AssertionError, match="named 'doctor'"):
        check_frame(frame, "f", ["a"], index_name="doctor")
    with pytest.raises(AssertionError, match="DataFrame"):
        check_frame(frame["a"], "f", ["a"])
    assert check_series(frame["a"], "s", index=[1, 2]) is None
    with pytest.raises(AssertionError, match="numbers"):
        check_series(pd.Series(["x"]), "s")


def _test_cell(source, error=True):
    cell = new_code_cell(source)
    if error:
        cell.outputs = [
            new_output(
                "error",
                ename="AssertionError",
                evalue="x is wrong",
                traceback=["Traceback", "secret_line = 42", "AssertionError: x is wrong"],
            )
        ]
    return cell


def test_hide_hidden_tests_keeps_visible_part_and_drops_hidden_code_and_traceback():
    source = "visible_check()\n### BEGIN HIDDEN TESTS\nsecret_line = 42\n### END HIDDEN TESTS\nafter()"
    nb = nbformat.v4.new_notebook(cells=[_test_cell(source), _test_cell("plain()")])
    out, _ = HideHiddenTests().preprocess(nb, {})
    hidden, plain = out.cells
    assert "visible_check()" in hidden.source and "after()" in hidden.source
    assert "secret_line" not in hidden.source and "HIDDEN" not in hidden.source
    assert hidden.outputs[0].traceback == ["AssertionError: x is wrong"]
    assert plain.source == "plain()" and len(plain.outputs[0].traceback) == 3


def test_hide_hidden_tests_handles_a_missing_end_marker():
    nb = nbformat.v4.new_notebook(cells=[_test_cell("a()\n### BEGIN HIDDEN TESTS\nsecret_line = 1\n", error=False)])
    out, _ = HideHiddenTests().preprocess(nb, {})
    assert "secret_line" not in out.cells[0].source and out.cells[0].source.startswith("a()")


def test_drop_empty_metadata_only_touches_emptied_nbgrader_metadata():
    empty, kept = new_code_cell("x"), new_code_cell("y")
    empty.metadata["nbgrader"] = {}
    kept.metadata["nbgrader"] = {"grade_id": "q"}
    out, _ = DropEmptyMetadata().preprocess(nbformat.v4.new_notebook(cells=[empty, kept]), {})
    assert "nbgrader" not in out.cells[0].metadata and out.cells[1].metadata["nbgrader"] == {"grade_id": "q"}


def test_timeout_for_scales_the_slowest_cell_with_a_floor():
    assert timeout_for([0.5, 1.2]) == 30
    assert timeout_for([0.5, 4.2]) == 42
    assert timeout_for([], factor=3, floor=7) == 7
    assert timeout_for([2.01], factor=3, floor=1) == 7


def test_cell_seconds_reads_nbclient_timing():
    cell = new_code_cell("x")
    cell.metadata["execution"] = {
        "iopub.execute_input": "2025-01-01T10:00:00.000000Z",
        "shell.execute_reply": "2025-01-01T10:00:02.500000Z",
    }
    assert cell_seconds(nbformat.v4.new_notebook(cells=[cell, new_code_cell("y")])) == [2.5]


def test_helpers_imports_no_grading_machinery():
    """What notebooks and students' kernels import stays free of nbgrader and Jupyter's kernel plumbing."""
    code = (
        "import importlib, pkgutil, sys, helpers\n"
        "for module in pkgutil.iter_modules(helpers.__path__):\n"
        "    importlib.import_module(f'helpers.{module.name}')\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'nbgrader', 'jupyter_client', 'nbclient', 'nbconvert', 'grading'}))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]", f"helpers pulls in: {result.stdout.strip()}"
