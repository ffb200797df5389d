"""The first lecture, run in JupyterLab in a real browser, as a student would run it."""

import shutil

import nbformat
import pytest

from conftest import ROOT
from lab_ui import error_outputs, open_notebook, run_all_cells, unnumbered_code_cells


@pytest.fixture
def notebook_copy(tmp_path):
    """A copy of notebooks/ with every output cleared, so each figure seen is drawn by this run and the
    stored outputs of the real notebooks are never touched."""
    lectures = sorted((ROOT / "notebooks").glob("*.ipynb"))
    if not lectures:
        pytest.fail("notebooks/ holds no lecture notebook")
    copy = tmp_path / "notebooks"
    shutil.copytree(ROOT / "notebooks", copy, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    for path in copy.glob("*.ipynb"):
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                cell.outputs, cell.execution_count = [], None
        nbformat.write(nb, path)
    return copy, lectures[0].name


def test_first_lecture_runs_all_cells_and_draws_figures(page, start_lab, notebook_copy, screenshot):
    notebooks, first = notebook_copy
    lab = start_lab(notebooks, cwd=notebooks.parent)
    open_notebook(page, lab, first)
    assert page.locator(".jp-Notebook .jp-OutputArea-output img").count() == 0, "outputs were not cleared"
    screenshot("opened")

    run_all_cells(page)

    errors = error_outputs(page)
    figure = page.locator(".jp-Notebook .jp-OutputArea-output img").first
    if errors:
        page.locator(".jp-OutputArea-output", has_text="Traceback").first.scroll_into_view_if_needed()
        screenshot("error")
    assert not errors, f"{first} failed in JupyterLab:\n" + "\n\n".join(errors)
    assert unnumbered_code_cells(page) == [], "some code cells did not run"
    figure.scroll_into_view_if_needed()
    assert figure.evaluate("img => img.complete && img.naturalWidth > 0"), "the figure did not load"
    screenshot("ran-all-cells")
