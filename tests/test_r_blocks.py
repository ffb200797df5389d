"""The lectures' "In R" blocks run in R and print the lecture's numbers (tests/r_blocks.py says how).

For each notebook with cells tagged in-r, its blocks run in order in one Rscript session; any R error
fails the test, and every line ending in ``# python: EXPR`` must give, to a relative 1e-4, the numbers
``EXPR`` has in the lecture's own kernel (tests.lecture_values). The first tests check the machinery on a
made-up notebook, so that a test of the lectures that passes means something.
"""

from __future__ import annotations

import nbformat
import numpy as np
import pandas as pd
import pytest

from tests.lecture_values import NOTEBOOKS, lecture_values
from tests.r_blocks import RBlockError, form_problems, run, same_numbers, script, tagged_cells

WITH_BLOCKS = [p for p in sorted(NOTEBOOKS.glob("[0-9][0-9]-*.ipynb")) if tagged_cells(p)]


def block(code: str):
    cell = nbformat.v4.new_markdown_cell(f"<details><summary>In R</summary>\n\n```r\n{code}\n```\n\n</details>")
    cell.metadata["tags"] = ["in-r"]
    return cell


def made_up_notebook(tmp_path, *codes):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# title"), *map(block, codes)])
    path = tmp_path / "made-up.ipynb"
    nbformat.write(nb, path)
    return path


def test_checked_lines_are_recorded_and_the_rest_runs_as_written(tmp_path):
    code, checks = script(
        [
            (3, "```r\nm <- lm(chol ~ age, data = gp)\ncoef(m)  # python: fit.params\n```"),
            (5, "```r\nx <- 2  # python: two\n```"),
        ],
        tmp_path / "out.json",
    )
    assert [(c.cell, c.r, c.python) for c in checks] == [(3, "coef(m)", "fit.params"), (5, "x <- 2", "two")]
    assert "m <- lm(chol ~ age, data = gp)" in code and ".record(1, { coef(m) })" in code
    assert code.index("read.csv") < code.index("m <- lm")


def test_the_agreed_form_is_enforced():
    assert form_problems(block("1")) == []
    code = nbformat.v4.new_code_cell("1")
    assert "an in-r cell must be markdown" in form_problems(code)
    assert "an in-r cell must hold a ```r block" in form_problems(
        nbformat.v4.new_markdown_cell("<details><summary>In R</summary>\n\nno code\n\n</details>")
    )


def test_values_compare_names_ignored_and_column_by_column():
    table = pd.DataFrame({"est": [1.0, 2.0], "se": [0.1, 0.2]}, index=["a", "b"])
    assert same_numbers(np.array([1.0, 2.0, 0.1, 0.2]), table) is None  # R's unlist of a matrix
    assert same_numbers(np.array([1.0, 0.1, 2.0, 0.2]), table) is not None
    assert same_numbers(np.array([0.05]), 0.05000001) is None
    assert "R gives 2 numbers, Python 1" == same_numbers(np.array([1.0, 2.0]), 1.0)
    assert same_numbers(np.array([0.0495]), 0.0496) is not None


@pytest.mark.needs_r
def test_blocks_run_in_one_session_in_order(tmp_path):
    path = made_up_notebook(
        tmp_path, "m <- lm(chol ~ age, data = gp)", "coef(m)[['age']]  # python: slope", "nrow(gp)  # python: n"
    )
    (slope, r_slope), (n, r_n) = run(path, tmp_path)
    assert (slope.python, n.python) == ("slope", "n")
    assert r_n.tolist() == [441.0] and 0.05 < r_slope[0] < 0.052


@pytest.mark.needs_r
def test_an_r_error_names_its_cell(tmp_path):
    path = made_up_notebook(tmp_path, "x <- 1", "stop('no such model')")
    with pytest.raises(RBlockError, match=r"cell 2: no such model"):
        run(path, tmp_path)


@pytest.mark.needs_r
@pytest.mark.slow
@pytest.mark.parametrize("path", WITH_BLOCKS, ids=lambda p: p.stem)
def test_r_blocks_print_the_lectures_numbers(path, tmp_path):
    checks = run(path, tmp_path)
    if not checks:
        return
    values = lecture_values(path.stem, *sorted({c.python for c, _ in checks}))
    wrong = [
        f"cell {c.cell}: {c.r}  # python: {c.python}: {problem}"
        for c, r_value in checks
        if (problem := same_numbers(r_value, values[c.python]))
    ]
    assert not wrong, "\n".join(wrong)
