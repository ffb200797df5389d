"""tests/lecture_values.py: a notebook run once in a fresh kernel, its values handed to tests."""

from __future__ import annotations

import sys

import nbformat
import numpy as np
import pandas as pd
import pytest

from tests.lecture_values import LectureError, lecture_text, lecture_values
from tests.r_reference import nlme


def _notebook(folder, *sources):
    path = folder / "lecture.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources]), path)
    return path


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    folder = tmp_path_factory.mktemp("toy")
    return _notebook(
        folder,
        "import numpy as np\nimport pandas as pd\nfrom pathlib import Path",
        "with open('runs.txt', 'a') as log:\n    log.write('run\\n')",
        "total = 2 + 3\nframe = pd.DataFrame({'a': [1.5, 2.5]}, index=['x', 'y'])",
        "square = lambda v: v * v\nopaque = object()",
    )


def test_values_come_back_as_the_notebook_computed_them(toy):
    v = lecture_values(toy, "total", "frame", "frame['a'].to_numpy()", "square(total)", "{'n': total, 'k': [1, 2]}")
    assert v["total"] == 5 and v["square(total)"] == 25
    pd.testing.assert_frame_equal(v["frame"], pd.DataFrame({"a": [1.5, 2.5]}, index=["x", "y"]))
    assert isinstance(v["frame['a'].to_numpy()"], np.ndarray)
    assert v["{'n': total, 'k': [1, 2]}"] == {"n": 5, "k": [1, 2]}


def test_the_notebook_runs_once_in_its_folder_in_this_environment(toy):
    lecture_values(toy, "total")
    v = lecture_values(toy, "str(Path.cwd())", "__import__('sys').executable")
    assert v["str(Path.cwd())"] == str(toy.parent)
    assert (toy.parent / "runs.txt").read_text() == "run\n"
    assert v["__import__('sys').executable"] == sys.executable


def test_objects_that_are_not_plain_values_are_refused(toy):
    with pytest.raises(TypeError, match=r"'opaque' is a builtins.object, not a plain value"):
        lecture_values(toy, "opaque")
    with pytest.raises(LectureError, match=r"'square' raised PicklingError"):
        lecture_values(toy, "square")


def test_a_failing_expression_is_named(toy):
    with pytest.raises(LectureError, match=r"lecture.ipynb: 'missing \+ 1' raised NameError"):
        lecture_values(toy, "total", "missing + 1")


def test_a_failing_cell_is_named(tmp_path):
    path = _notebook(tmp_path, "x = 1", "raise ValueError('bad data')")
    with pytest.raises(LectureError, match=r"lecture.ipynb: cell 1 raised ValueError: bad data"):
        lecture_values(path, "x")


def test_an_unknown_lecture_is_named():
    with pytest.raises(LectureError, match=r"no notebook '99-nothing'; the lectures are \['01-why-iid-matters'"):
        lecture_values("99-nothing", "x")
    with pytest.raises(ValueError, match="at least one expression"):
        lecture_values("06-random-intercepts")


@pytest.mark.slow
def test_a_lecture_value_against_r():
    """The random-slope lecture's REML log-likelihood is nlme's (run to its optimum)."""
    v = lecture_values("08-random-slopes", "float(rs.llf)", "len(gp)")
    assert v["len(gp)"] == 441
    assert abs(v["float(rs.llf)"] - nlme("rs_c_reml")["loglik"]) < 1e-5


def test_lecture_text_is_the_prose(toy, tmp_path):
    path = tmp_path / "prose.ipynb"
    nbformat.write(
        nbformat.v4.new_notebook(
            cells=[
                nbformat.v4.new_markdown_cell("# Title"),
                nbformat.v4.new_code_cell("x = 'not prose'"),
                nbformat.v4.new_markdown_cell("Some *words*."),
            ]
        ),
        path,
    )
    assert lecture_text(path) == "# Title\n\nSome *words*."
