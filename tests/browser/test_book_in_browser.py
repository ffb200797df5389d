"""The self-study book in a browser: from the course map to the random-slopes lecture, its figures and math."""

import subprocess
import sys

import pytest

from conftest import ROOT, free_port

BOOK = ROOT / "_build" / "book"


@pytest.fixture(scope="module")
def book_server():
    """The book as `make book` builds it (rebuilt first when its sources changed), served over HTTP."""
    subprocess.run([sys.executable, str(ROOT / "book" / "build.py")], check=True)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(BOOK)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    yield f"http://127.0.0.1:{port}"
    server.terminate()
    server.wait(timeout=30)


def test_course_map_leads_to_the_random_slopes_lecture_with_its_figures(page, book_server, screenshot):
    lectures = sorted((ROOT / "notebooks").glob("*random-slope*.ipynb"))
    assert lectures, "notebooks/ has no random-slopes lecture (…random-slope….ipynb) yet"
    stem = lectures[0].stem

    page.goto(f"{book_server}/index.html", wait_until="domcontentloaded")
    course_map = page.locator("section#course-map")
    course_map.wait_for()
    screenshot("course-map", course_map)
    link = course_map.locator(f"a[href='notebooks/{stem}.html']")
    assert link.count() == 1, f"the course map has no single link to notebooks/{stem}.html"
    link.click()
    page.wait_for_url(f"**/notebooks/{stem}.html")
    page.locator("article h1").first.wait_for()
    screenshot("lecture")

    figures = page.locator(".cell_output img")
    assert figures.count() > 0, f"the book's page of {stem} shows no figure"
    for i in range(figures.count()):
        figure = figures.nth(i)
        figure.scroll_into_view_if_needed()
        page.wait_for_function("img => img.complete", arg=figure.element_handle())
        assert figure.evaluate("img => img.naturalWidth > 0"), f"figure {i + 1} did not load"
        if i == 0:
            screenshot("first-figure")

    if page.locator(".math").count():  # the lecture has formulas: MathJax, served with the book, typesets them
        page.locator("mjx-container").first.wait_for(state="attached")


def test_a_folded_lecture_solution_opens_with_a_click(page, book_server, screenshot):
    """The first lecture with exercises: its solutions are hidden until clicked, code and words alike."""
    lectures = [p for p in sorted((ROOT / "notebooks").glob("*.ipynb")) if '"solution"' in p.read_text()]
    assert lectures, "no lecture has exercise solutions (cells tagged 'solution')"
    page.goto(f"{book_server}/notebooks/{lectures[0].stem}.html", wait_until="load")

    code_fold = page.locator(".cell.tag_solution details.hide").first
    code = code_fold.locator(".cell_input pre")
    code_fold.scroll_into_view_if_needed()
    assert not code.is_visible(), "a code solution is shown before any click"
    screenshot("folded")
    code_fold.locator("summary").click()
    code.wait_for(state="visible")
    assert "Solution to exercise" in code.inner_text()
    screenshot("code-solution-open")

    text_fold = page.locator("div.admonition.dropdown").first
    words = text_fold.locator("p:not(.admonition-title)").first
    text_fold.scroll_into_view_if_needed()
    assert not words.is_visible(), "a text solution is shown before any click"
    text_fold.locator(".admonition-title").click()
    words.wait_for(state="visible")
    screenshot("text-solution-open")
