"""What the hub test does in a browser: log in to the course hub, work in the formgrader and in nbgrader's
Assignments panel of JupyterLab, and type answers into notebook cells."""

from __future__ import annotations

import re

import nbformat

from conftest import LAB_SETTINGS, local_only

ASSIGNMENTS_TIMEOUT = 300_000  # ms: fetch, submit and validate run nbgrader (validate runs the notebook)


class HubSession:
    """One person in their own browser context (own cookies), logged in to the hub at ``base``."""

    def __init__(self, browser, base: str, user: str, password: str):
        self.base, self.user = base, user
        self.context = browser.new_context(viewport={"width": 1400, "height": 1000})
        self.context.set_default_timeout(180_000)
        self.context.route("**/*", local_only)
        self.page = self.context.new_page()
        self.page.goto(f"{base}/hub/login")
        self.page.fill("#username_input", user)
        self.page.fill("#password_input", password)
        self.page.click("#login_submit")

    def url(self, path: str) -> str:
        """The address of ``path`` on this person's own server (what lab_ui.open_notebook asks for)."""
        return f"{self.base}/user/{self.user}/{path.lstrip('/')}"

    def close(self) -> None:
        self.context.close()


def lab_settings(home) -> dict:
    """The browser tests' JupyterLab settings (no news pop-up, every cell in the page), as files to put in
    a person's home: path -> text."""
    return {home / ".jupyter" / "lab" / "user-settings" / name: text for name, text in LAB_SETTINGS.items()}


# ------------------------------------------------------------------------------------------- formgrader


def formgrader_row(page, assignment: str):
    return page.locator("tr", has=page.locator("td.name", has_text=re.compile(rf"^\s*{assignment}\s*$")))


def formgrader_action(page, assignment: str, action: str, screenshot) -> str:
    """Click one of the formgrader's buttons in the assignment's row (its cell class: assign, release,
    collect, generate-feedback, release-feedback) and return the text of the dialog that reports it; fails
    if nbgrader reports an error."""
    formgrader_row(page, assignment).locator(f"td.{action} a").click()
    return reported(page, f"formgrader-{action}", screenshot)


def submission_action(page, student: str, action: str, screenshot) -> str:
    """On the formgrader's page of an assignment's submissions, click one of the buttons in ``student``'s row
    (its cell class: autograde, generate-feedback, release-feedback) and return the text of the dialog that
    reports it; fails if nbgrader reports an error."""
    student_id = page.locator("td.student-id", has_text=re.compile(rf"^\s*{student}\s*$"))
    page.locator("tr", has=student_id).locator(f"td.{action} a").click()
    return reported(page, f"formgrader-{action}-{student}", screenshot)


def reported(page, name: str, screenshot) -> str:
    """The text of the formgrader's dialog that reports an action, once it shows (``name``: its screenshot's),
    dismissed; fails if it reports an error."""
    dialog = page.locator("#success-modal, #error-modal")
    dialog.wait_for(state="visible", timeout=ASSIGNMENTS_TIMEOUT)
    screenshot(name, target=page)
    text = dialog.inner_text()
    assert dialog.get_attribute("id") == "success-modal", f"{name} failed:\n{text}"
    dialog.locator("button[data-dismiss=modal]").last.click()
    dialog.wait_for(state="detached")
    return text


# ------------------------------------------------------------------------------- the Assignments panel


def open_assignments(page) -> None:
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Nbgrader$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Assignment List$")).click()
    page.locator("#released_assignments_list").wait_for(state="visible")


def assignment_row(page, section: str, assignment: str):
    """The row of ``assignment`` in one list of the Assignments panel (released, fetched, submitted)."""
    return page.locator(
        f"#{section}_assignments_list > .list_item", has=page.locator(".item_name", has_text=assignment)
    ).first


def click_in_row(page, section: str, assignment: str, button: str, then_section: str | None = None) -> None:
    """Click a button of the assignment's row; wait until it shows in ``then_section``."""
    assignment_row(page, section, assignment).get_by_role("button", name=button).click()
    if then_section:
        assignment_row(page, then_section, assignment).wait_for(state="visible", timeout=ASSIGNMENTS_TIMEOUT)


# --------------------------------------------------------------------------------------------- answers


def answers_from_solution(source_notebook) -> dict[str, str]:
    """grade_id -> what a student who knows the model answer types into each answer cell (code or written):
    the instructor's cell without nbgrader's solution markers."""
    nb = nbformat.read(source_notebook, as_version=4)
    return {
        cell.metadata["nbgrader"]["grade_id"]: "\n".join(
            line for line in cell.source.splitlines() if line.strip() not in ("### BEGIN SOLUTION", "### END SOLUTION")
        )
        for cell in nb.cells
        if cell.metadata.get("nbgrader", {}).get("solution")
    }


def answer_cells(notebook) -> dict[str, tuple[int, str]]:
    """grade_id -> (position, cell type) of each answer cell in a fetched notebook."""
    nb = nbformat.read(notebook, as_version=4)
    return {
        cell.metadata["nbgrader"]["grade_id"]: (i, cell.cell_type)
        for i, cell in enumerate(nb.cells)
        if cell.metadata.get("nbgrader", {}).get("solution")
    }


def type_into_cell(page, panel, position: int, code: str) -> None:
    """Replace the text of the notebook's cell at ``position`` by ``code``, as a student would (a written
    answer is opened by a double click; click into the editor, select everything, type: the text is
    inserted as typed, without auto-indentation)."""
    cell = panel.locator(".jp-Notebook .jp-Cell").nth(position)
    rendered = cell.locator(".jp-MarkdownOutput")
    if rendered.count() and rendered.first.is_visible():
        rendered.first.dblclick()
    editor = cell.locator(".cm-content")
    editor.click()
    page.keyboard.press("Control+a")
    page.keyboard.insert_text(code)
    typed = editor.inner_text().replace("\u200b", "")
    assert nonblank_lines(typed) == nonblank_lines(code), f"cell {position} reads\n{typed}\ninstead of\n{code}"


def nonblank_lines(text: str) -> list[str]:
    """The lines of a cell as the page shows them (its text has blank lines doubled)."""
    return [line.rstrip() for line in text.splitlines() if line.strip()]


def save(page, panel) -> None:
    panel.locator(".jp-Notebook").first.click(position={"x": 5, "y": 5})
    page.keyboard.press("Control+s")
    page.wait_for_function("() => !document.querySelector('.jp-mod-current.jp-mod-dirty')", timeout=60_000)
