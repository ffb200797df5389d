"""nbgrader's Validate button in JupyterLab: a fresh release fails its tests, the instructor's solution passes."""

import shutil
import subprocess

import pytest

from conftest import ROOT, venv_environment
from lab_ui import open_notebook

VALIDATE_TIMEOUT = 300_000  # ms: nbgrader runs the whole notebook in a new kernel


@pytest.fixture
def course_copy(tmp_path):
    """A copy of the nbgrader course root with one assignment released into it by
    `nbgrader generate_assignment`, as an instructor releases it (nothing of grading/course/ itself is touched)."""
    sources = sorted((ROOT / "grading" / "course" / "source").glob("*/*.ipynb"))
    if not sources:
        pytest.fail("grading/course/source/ holds no assignment")
    assignment = sources[0].parent.name
    course = tmp_path / "grading"
    shutil.copytree(
        ROOT / "grading" / "course",
        course,
        ignore=shutil.ignore_patterns(
            "release", "submitted", "autograded", "feedback", "gradebook.db", "*.log", ".ipynb_checkpoints"
        ),
    )
    result = subprocess.run(
        ["nbgrader", "generate_assignment", assignment, "--force"],
        cwd=course,
        capture_output=True,
        text=True,
        env=venv_environment(),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    released = course / "release" / assignment / sources[0].name
    assert released.is_file(), f"generate_assignment made no {released}"
    return course, f"release/{assignment}/{released.name}", f"source/{assignment}/{released.name}"


def validate(page, server, path, screenshot, name):
    """Open a notebook, click the toolbar's Validate button and return the result dialog's message."""
    button = open_notebook(page, server, path).locator(".validate-button")
    button.wait_for(state="visible")
    screenshot(f"{name}-opened")
    button.click()
    message = page.locator(".jp-Dialog #validation-message")
    message.wait_for(state="visible", timeout=VALIDATE_TIMEOUT)
    screenshot(f"{name}-validated")
    classes = message.get_attribute("class") or ""
    text = message.inner_text()
    page.locator(".jp-Dialog").get_by_role("button", name="Ok").click()
    page.locator(".jp-Dialog").wait_for(state="detached")
    return classes, text


def test_validate_fails_on_the_release_and_passes_on_the_solution(page, start_lab, course_copy, screenshot):
    course, release, source = course_copy
    lab = start_lab(course, cwd=course)

    classes, text = validate(page, lab, release, screenshot, "release")
    assert "validation-failed" in classes, f"the untouched release should fail its tests; the dialog said:\n{text}"
    assert "NotImplementedError" in text, text

    classes, text = validate(page, lab, source, screenshot, "solution")
    assert "validation-success" in classes, f"the instructor's solution should pass; the dialog said:\n{text}"
    assert "passes all the tests" in text, text
