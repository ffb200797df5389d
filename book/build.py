"""Build the self-study book: ``python book/build.py`` (what ``make book`` runs) writes ``_build/book/``.

The book is made from what the repository stores, without running any notebook:

1. A staging copy of the sources is laid out in ``_build/book-src/``: this folder's pages, the lecture
   notebooks (every ``notebooks/*.ipynb``, in file-name order), the exercises (every nbgrader source
   notebook ``grading/course/source/<assignment>/*.ipynb``, in assignment-number order), the data's page and
   the instructors' guide ``grading/README.md`` with its page of internals ``grading/INTERNALS.md``.
   Only the copies are changed: solution cells get a fold (myst-nb's ``hide-cell`` tag for code, a
   dropdown for text) and hidden tests are removed as ``nbgrader generate_assignment`` removes them.
   The lectures' self-study exercises (see :func:`exercise_form_problems` for their form) are folded
   the same way: their code solutions are already tagged ``hide-cell``, and each text solution's
   ``<details>`` block becomes a dropdown.
   The course map (``_course_map.md``) is written from the notebooks' titles, first paragraphs and learning
   objectives, with the syllabus and the notation of ``book/syllabus.yml`` (study hours, prerequisites, the
   table of symbols), and the codebook from ``datasets/gp_cholesterol.yml``.
2. Sphinx with myst-nb builds the HTML with warnings as errors and nitpicky references.
3. Every local ``href``/``src`` of the HTML is checked: the file must exist, and a ``#fragment`` must be an
   id in it.

A stamp (``_build/book/.inputs``) records a hash of everything the build reads; the build is skipped when
the stamp matches (``--force`` rebuilds anyway). A lock makes simultaneous builds wait for each other.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import re
import shutil
import subprocess
import sys
import textwrap
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import nbformat
import yaml
from nbgrader.preprocessors import ClearHiddenTests

ROOT = Path(__file__).resolve().parent.parent
BOOK = ROOT / "book"
OUT = ROOT / "_build" / "book"
STAMP_NAME = ".inputs"
SOLUTION_MARK = "### BEGIN SOLUTION"
SOLUTION_PROMPTS = {"code_prompt_show": "Show solution", "code_prompt_hide": "Hide solution"}
# The lectures' exercises (notebooks-common conventions): a "## Exercises" section at the end, before the
# version stamp; one "**Exercise N.m.**" cell per exercise; its solution in cells tagged "solution".
EXERCISES_HEADING = "## Exercises"
IN_R_TAG = "in-r"  # a folded "In R" block beside a model fit (tests/r_blocks.py reads the same tag)
EXERCISE = re.compile(r"\*\*Exercise (\d+)\.(\d+)\.\*\*")
SOLUTION_TAG = "solution"
CODE_SOLUTION_TAGS = {"hide-cell", SOLUTION_TAG}
TEXT_SOLUTION = re.compile(
    r"<details><summary>Solution (?P<number>\d+\.\d+)</summary>\n\n(?P<body>.*\S)\n\n</details>", re.S
)
CODEBOOK_FIELDS = ["dtype", "unit", "range", "level", "meaning", "source"]
SYLLABUS = BOOK / "syllabus.yml"
GRADING_GUIDE = [ROOT / "grading" / "README.md", ROOT / "grading" / "INTERNALS.md"]
OBJECTIVES = "**Learning objectives.**"


# --------------------------------------------------------------------------- what the book is made of


def lecture_notebooks() -> list[Path]:
    return sorted((ROOT / "notebooks").glob("*.ipynb"))


def assignment_number(path: Path) -> float:
    """The N of an exercise's "# Assignment N — ..." title (infinity when it has none)."""
    match = re.match(r"#\s*Assignment\s+(\d+)", notebook_title(nbformat.read(path, as_version=4)))
    return int(match.group(1)) if match else float("inf")


def exercise_notebooks() -> list[Path]:
    found = sorted((ROOT / "grading" / "course" / "source").glob("*/*.ipynb"))
    return sorted(found, key=lambda p: (assignment_number(p), p.parent.name, p.name))


def docname(path: Path) -> str:
    """Where a lecture or exercise notebook goes in the book (without suffix)."""
    if path.parent.parent.name != "source":
        return f"notebooks/{path.stem}"
    return f"exercises/{path.stem if path.stem == path.parent.name else f'{path.parent.name}-{path.stem}'}"


def inputs() -> list[Path]:
    files = [p for p in BOOK.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    files += [p for p in (ROOT / "notebooks").rglob("*") if p.is_file() and ".ipynb_checkpoints" not in p.parts]
    files += exercise_notebooks()
    files += [
        ROOT / "datasets" / "gp_cholesterol.md",
        ROOT / "datasets" / "gp_cholesterol.yml",
        *GRADING_GUIDE,
        ROOT / "requirements.txt",
    ]
    return sorted(files)


def inputs_hash() -> str:
    digest = hashlib.sha256()
    for path in inputs():
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


# --------------------------------------------------------------------------- notebook text


def first_heading_cell(nb):
    return next((c for c in nb.cells if c.cell_type == "markdown" and c.source.lstrip().startswith("#")), None)


def notebook_title(nb) -> str:
    cell = first_heading_cell(nb)
    return cell.source.lstrip().splitlines()[0] if cell else ""


def plain_title(nb, fallback: str) -> str:
    return notebook_title(nb).lstrip("#").strip() or fallback


def overview(nb, blocks: int = 2) -> str:
    """The opening of a notebook for the course map: its first paragraphs after the title, up to its
    learning objectives.

    A one-line paragraph that opens with emphasis (a subtitle) is skipped; a list counts with the paragraph
    before it.
    """
    cell = first_heading_cell(nb)
    text = cell.source.strip().split("\n", 1)[1] if cell is not None and "\n" in cell.source.strip() else ""
    taken: list[str] = []
    for paragraph in (p.strip() for p in re.split(r"\n\s*\n", text)):
        if paragraph.startswith(("#", OBJECTIVES)):  # the objectives have their own place in the map
            break
        is_list = re.match(r"([-*+]|\d+\.)\s", paragraph) is not None
        if taken and is_list:
            taken[-1] += "\n\n" + paragraph
        elif len(taken) == blocks:
            break
        elif paragraph and not re.match(r"[*_][^*_][^\n]*$", paragraph):
            taken.append(paragraph)
    return "\n\n".join(taken)


def learning_objectives(nb) -> str:
    """A lecture's "**Learning objectives.**" paragraph in its title cell, with the list that follows it."""
    cell = first_heading_cell(nb)
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", cell.source if cell is not None else "")]
    start = next((i for i, p in enumerate(paragraphs) if p.startswith(OBJECTIVES)), None)
    if start is None:
        return ""
    taken = paragraphs[start : start + 2]
    return "\n\n".join(taken if len(taken) == 2 and re.match(r"([-*+]|\d+\.)\s", taken[1]) else taken[:1])


# --------------------------------------------------------------------------- staging


def dropdown(title: str, text: str) -> str:
    """MyST for a folded admonition (sphinx-togglebutton opens it), fenced longer than any fence inside."""
    fence = ":" * max(4, 1 + max((len(m) for m in re.findall(r"^:{3,}", text, re.M)), default=0))
    return f"{fence}{{admonition}} {title}\n:class: dropdown\n\n{text}\n{fence}"


def is_solution(cell) -> bool:
    return bool(cell.metadata.get("nbgrader", {}).get("solution")) or SOLUTION_MARK in cell.source


def fold_solutions(nb) -> None:
    """Fold every solution cell and drop hidden tests, in place."""
    ClearHiddenTests().preprocess(nb, {})
    for cell in nb.cells:
        if not is_solution(cell):
            continue
        if cell.cell_type == "code":
            tags = cell.metadata.setdefault("tags", [])
            if "hide-cell" not in tags:
                tags.append("hide-cell")
            cell.metadata.setdefault("mystnb", {}).update(SOLUTION_PROMPTS)  # keeps a figure's alt text
        else:  # the delimiters would show as headings in prose
            text = re.sub(r"^### (BEGIN|END) SOLUTION[ \t]*\n?", "", cell.source, flags=re.M).strip()
            cell.source = dropdown("Solution", text)


def lecture_number(path: Path) -> int:
    """The N of a lecture file "NN-name.ipynb"."""
    match = re.match(r"(\d+)-", path.name)
    if match is None:
        raise ValueError(f"{path.name}: a lecture's file name starts with its number, e.g. 01-name.ipynb")
    return int(match.group(1))


def is_lecture_solution(cell) -> bool:
    return SOLUTION_TAG in cell.metadata.get("tags", [])


def exercise_form_problems(nb, number: int) -> list[str]:
    """What keeps lecture ``number``'s exercises from the agreed form (an empty list: none).

    The form: one markdown cell opening with "## Exercises", after the lecture's text and before the
    version stamp (the last cell, code); after it two or three exercises, each a markdown cell opening
    with "**Exercise N.m.**" (m = 1, 2, ... in order) and followed by its solution, at least one cell
    tagged "solution": code cells also tagged "hide-cell", with JupyterLab's ``source_hidden`` and
    ``outputs_hidden`` set and the first line "# Solution to exercise N.m"; markdown cells whose whole
    text is ``<details><summary>Solution N.m</summary>``, a blank line, the words, a blank line,
    ``</details>``. A solution may be followed by a folded "In R" block (a cell tagged "in-r") with its R call.
    """
    cells = nb.cells
    headings = [i for i, c in enumerate(cells) if c.cell_type == "markdown" and c.source.startswith(EXERCISES_HEADING)]
    if len(headings) != 1:
        return [f"{len(headings)} cells open with {EXERCISES_HEADING!r}; the form has exactly one"]
    start = headings[0]
    problems = []
    if not cells or cells[-1].cell_type != "code" or start > len(cells) - 3:
        problems.append("the exercises must come just before the version stamp, the last (code) cell")
    body = cells[start + 1 : -1]
    if any(is_lecture_solution(c) for c in cells[:start]):
        problems.append("a cell tagged 'solution' comes before the exercises")
    current, seen = None, []
    for cell in body:
        found = EXERCISE.match(cell.source) if cell.cell_type == "markdown" else None
        if found:
            current = f"{found.group(1)}.{found.group(2)}"
            if int(found.group(1)) != number or int(found.group(2)) != len(seen) + 1:
                problems.append(f"exercise {current} should be {number}.{len(seen) + 1}")
            seen.append([current, 0])
            continue
        if seen and seen[-1][1] and IN_R_TAG in cell.metadata.get("tags", []):
            continue  # the solution's R call, folded in its own "In R" block, after the solution it answers
        if not is_lecture_solution(cell):
            problems.append(
                f"after the exercises heading, a cell is neither an exercise nor a solution: {cell.source[:60]!r}"
            )
            continue
        if current is None:
            problems.append("a solution comes before the first exercise")
            continue
        seen[-1][1] += 1
        if cell.cell_type == "code":
            hidden = cell.metadata.get("jupyter", {})
            if not CODE_SOLUTION_TAGS <= set(cell.metadata.get("tags", [])):
                problems.append(f"a code solution of {current} lacks the tags {sorted(CODE_SOLUTION_TAGS)}")
            if not (hidden.get("source_hidden") and hidden.get("outputs_hidden")):
                problems.append(f"a code solution of {current} is not folded in JupyterLab (metadata.jupyter)")
            if cell.source.splitlines()[:1] != [f"# Solution to exercise {current}"]:
                problems.append(f"a code solution of {current} does not open with '# Solution to exercise {current}'")
        else:
            text = TEXT_SOLUTION.fullmatch(cell.source.strip())
            if text is None or text.group("number") != current:
                problems.append(
                    f"a text solution of {current} is not <details><summary>Solution {current}</summary>"
                    " ... </details> with blank lines around the words"
                )
    if not 2 <= len(seen) <= 3:
        problems.append(f"{len(seen)} exercises; the form has two or three")
    problems += [f"exercise {name} has no solution" for name, solutions in seen if not solutions]
    return problems


def fold_lecture_solutions(nb) -> None:
    """Fold a lecture's exercise solutions, in place: code behind a "Show solution" toggle, each
    ``<details>`` text as a dropdown titled "Solution N.m" (the book's look for every solution)."""
    for cell in nb.cells:
        if not is_lecture_solution(cell):
            continue
        if cell.cell_type == "code":
            cell.metadata.setdefault("mystnb", {}).update(SOLUTION_PROMPTS)  # keeps a figure's alt text
            continue
        text = TEXT_SOLUTION.fullmatch(cell.source.strip())
        if text is None:
            raise SystemExit(f"a text solution is not in the agreed <details> form:\n{cell.source}")
        cell.source = dropdown(f"Solution {text.group('number')}", text.group("body"))


def codebook_markdown(manifest: dict) -> str:
    lines = [
        "## Codebook",
        "",
        f"What `gp_cholesterol.yml` records about `{manifest['file']}`: {manifest['rows']} rows, "
        f"{manifest['groups']} groups, licence {manifest['licence']}, SHA-256 `{manifest['sha256']}`.",
        "",
        "| column | " + " | ".join(CODEBOOK_FIELDS) + " |",
        "|---" * (len(CODEBOOK_FIELDS) + 1) + "|",
    ]
    for name, column in manifest["columns"].items():
        cells = []
        for field in CODEBOOK_FIELDS:
            value = column.get(field, "")
            if isinstance(value, list):
                value = " – ".join(str(v) for v in value)
            cells.append(str(value).replace("|", r"\|"))
        lines.append(f"| `{name}` | " + " | ".join(cells) + " |")
    provenance = manifest.get("provenance", {})
    if provenance:
        lines += ["", "Provenance:", ""] + [f"- **{k.replace('_', ' ')}**: {v}" for k, v in provenance.items()]
    return "\n".join(lines) + "\n"


def hours(value: float) -> str:
    return f"{value:g} h"


def syllabus_problems(syllabus: dict, lectures: list[Path], exercises: list[Path]) -> list[str]:
    """What keeps book/syllabus.yml from covering exactly the lectures and assignments (empty: nothing)."""
    problems = []
    for kind, listed, found in (
        ("lectures", set(syllabus.get("lectures", {})), {lecture_number(p) for p in lectures}),
        ("assignments", set(syllabus.get("assignments", {})), {p.parent.name for p in exercises}),
    ):
        problems += [f"{kind}: {name} is missing from {SYLLABUS.name}" for name in sorted(found - listed, key=str)]
        problems += [
            f"{kind}: {SYLLABUS.name} lists {name}, which does not exist" for name in sorted(listed - found, key=str)
        ]
    for number, entry in syllabus.get("lectures", {}).items():
        problems += [
            f"lecture {number} builds on lecture {n}, which does not come before it"
            for n in entry.get("after", [])
            if not 1 <= n < number
        ]
    return problems


def syllabus_markdown(syllabus: dict, lectures: list[tuple[str, object]], exercises: list[tuple[str, object]]) -> str:
    """Prerequisites, then one table of study hours: each lecture (with what it builds on), each assignment."""

    def number_of(docname: str) -> int:
        return lecture_number(Path(docname))

    def assignment_of(docname: str) -> dict:
        return syllabus["assignments"][docname.split("/")[-1].split("-")[0]]

    def lecture_list(numbers) -> str:
        return ", ".join(str(n) for n in numbers) or "—"

    parts = ["### Syllabus", "", "Prerequisites:", ""] + [f"- {item}" for item in syllabus["prerequisites"]]
    parts += [
        "",
        "Study time, in hours of reading, running the code and doing the exercises (the lectures'), "
        "or of answering (the assignments'):",
        "",
        "| | Study time | Builds on lectures |",
        "|---|---|---|",
    ]
    for docname, nb in lectures:
        entry = syllabus["lectures"][number_of(docname)]
        note = " *(advanced)*" if entry.get("advanced") else ""
        parts.append(f"| {plain_title(nb, docname)}{note} | {hours(entry['hours'])} | {lecture_list(entry['after'])} |")
    for docname, nb in exercises:
        entry = assignment_of(docname)
        parts.append(f"| {plain_title(nb, docname)} | {hours(entry['hours'])} | {lecture_list(entry['lectures'])} |")
    lecture_hours = sum(syllabus["lectures"][number_of(d)]["hours"] for d, _ in lectures)
    assignment_hours = sum(assignment_of(d)["hours"] for d, _ in exercises)
    parts += ["", f"In all, {hours(lecture_hours)} of lectures and {hours(assignment_hours)} of assignments."]
    advanced = [n for n, entry in syllabus["lectures"].items() if entry.get("advanced")]
    for number in advanced:
        later = [n for n, entry in syllabus["lectures"].items() if number in entry.get("after", [])]
        practised = [plain_title(nb, d).split(" —")[0] for d, nb in exercises if number in assignment_of(d)["lectures"]]
        parts += [
            "",
            f"Lecture {number} is **advanced**: it can be left out on a first reading; "
            + (f"lectures {lecture_list(later)} build on it" if later else "no later lecture builds on it")
            + (f", and {' and '.join(practised)} practises it in part." if practised else "."),
        ]
    return "\n".join(parts) + "\n"


def notation_markdown(syllabus: dict) -> str:
    parts = [
        "### Notation",
        "",
        "Every lecture and assignment writes the models with the same symbols:",
        "",
        "| Symbol | Meaning |",
        "|---|---|",
    ]
    parts += [f"| {symbol} | {meaning} |" for symbol, meaning in syllabus["notation"]]
    parts += ["", syllabus["notation_three_levels"]]
    return "\n".join(parts) + "\n"


def course_map_markdown(lectures: list[tuple[str, object]], exercises: list[tuple[str, object]], syllabus: dict) -> str:
    """The syllabus and notation, then each lecture and exercise (title linked, its opening, a lecture's
    learning objectives) and the book's hidden toctrees."""
    parts = [syllabus_markdown(syllabus, lectures, exercises), notation_markdown(syllabus)]
    for heading, entries in (("Lectures", lectures), ("Exercises", exercises)):
        parts += [f"### {heading}", ""]
        if not entries:
            parts += ["(none yet)", ""]
        for docname, nb in entries:
            parts += [f"- **[{plain_title(nb, docname)}]({docname}.ipynb)**", ""]
            for text in (overview(nb), learning_objectives(nb)):
                if text:
                    parts += [textwrap.indent(text, "  "), ""]
        if entries:
            parts += ["```{toctree}", ":hidden:", f":caption: {heading}", ""]
            parts += [docname for docname, _ in entries] + ["```", ""]
    return "\n".join(parts)


def stage(dest: Path) -> None:
    if dest.exists():
        shutil.rmtree(dest)
    syllabus = yaml.safe_load(SYLLABUS.read_text())
    problems = syllabus_problems(syllabus, lecture_notebooks(), exercise_notebooks())
    if problems:
        raise SystemExit("book/syllabus.yml does not match the course:\n" + "\n".join(problems))
    shutil.copytree(BOOK, dest, ignore=shutil.ignore_patterns("build.py", SYLLABUS.name, "__pycache__"))
    shutil.copytree(ROOT / "notebooks", dest / "notebooks", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    lectures = []
    for path in lecture_notebooks():
        nb = nbformat.read(path, as_version=4)
        fold_lecture_solutions(nb)
        nbformat.write(nb, dest / f"{docname(path)}.ipynb")
        lectures.append((docname(path), nb))

    exercises = []
    (dest / "exercises").mkdir()
    for path in exercise_notebooks():
        nb = nbformat.read(path, as_version=4)
        fold_solutions(nb)
        nbformat.write(nb, dest / f"{docname(path)}.ipynb")
        exercises.append((docname(path), nb))

    (dest / "datasets").mkdir()
    manifest = yaml.safe_load((ROOT / "datasets" / "gp_cholesterol.yml").read_text())
    data_page = (ROOT / "datasets" / "gp_cholesterol.md").read_text().rstrip("\n")
    (dest / "datasets" / "gp_cholesterol.md").write_text(data_page + "\n\n" + codebook_markdown(manifest))
    (dest / "grading").mkdir()
    for page in GRADING_GUIDE:
        shutil.copy2(page, dest / "grading" / page.name)
    (dest / "_course_map.md").write_text(course_map_markdown(lectures, exercises, syllabus))


# --------------------------------------------------------------------------- link check


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids, self.refs = set(), []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for key in ("id", "name"):
            if attrs.get(key):
                self.ids.add(attrs[key])
        for key in ("href", "src"):
            if attrs.get(key) is not None:
                self.refs.append((tag, key, attrs[key]))


def local_link_errors(html_dir: Path) -> list[str]:
    """Every local href/src of every page under html_dir that does not resolve (file, then #id)."""
    html_dir = html_dir.resolve()
    parsed: dict[Path, _Links] = {}

    def parse(page: Path) -> _Links:
        if page not in parsed:
            parsed[page] = _Links()
            parsed[page].feed(page.read_text(encoding="utf-8"))
        return parsed[page]

    errors = []
    for page in sorted(html_dir.rglob("*.html")):
        if page.relative_to(html_dir).parts[0] == "_static":
            continue  # the theme's Jinja macro files, not pages
        for tag, attr, ref in parse(page).refs:
            url = urlsplit(ref)
            if url.scheme or url.netloc or ref.startswith(("javascript:", "data:")):
                continue  # not a local link
            target = (page.parent / unquote(url.path)).resolve() if url.path else page
            if target.is_dir():
                target = target / "index.html"
            where = f"{page.relative_to(html_dir)}: <{tag} {attr}={ref!r}>"
            if not target.is_relative_to(html_dir) or not target.is_file():
                errors.append(f"{where}: no such file")
            elif url.fragment and target.suffix == ".html" and unquote(url.fragment) not in parse(target).ids:
                errors.append(f"{where}: no id {url.fragment!r} in {target.relative_to(html_dir)}")
    return errors


# --------------------------------------------------------------------------- build


def build(out: Path = OUT) -> None:
    """A clean build (no page of a removed notebook survives), staged next to out."""
    digest = inputs_hash()
    src, doctrees = out.parent / (out.name + "-src"), out.parent / (out.name + "-doctrees")
    for folder in (out, doctrees):
        shutil.rmtree(folder, ignore_errors=True)
    stage(src)
    sphinx = subprocess.run(
        [
            sys.executable,
            "-m",
            "sphinx",
            "-b",
            "html",
            "-W",
            "--keep-going",
            "-n",
            "-q",
            "-d",
            str(doctrees),
            str(src),
            str(out),
        ]
    )
    if sphinx.returncode:
        raise SystemExit(f"Sphinx failed (warnings count as errors; see above); sources staged in {src}")
    errors = local_link_errors(out)
    if errors:
        raise SystemExit("broken local links in the book:\n" + "\n".join(errors))
    (out / STAMP_NAME).write_text(json.dumps({"inputs": digest}) + "\n")


def up_to_date(out: Path = OUT) -> bool:
    stamp = out / STAMP_NAME
    return stamp.is_file() and json.loads(stamp.read_text()).get("inputs") == inputs_hash()


def ensure_built(out: Path = OUT, force: bool = False) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out.parent / "book.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if force or not up_to_date(out):
            build(out)
            print(f"built {out.relative_to(ROOT)}/index.html")
        else:
            print(f"{out.relative_to(ROOT)}/index.html is up to date")
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="rebuild even when nothing changed")
    ensure_built(force=parser.parse_args(argv).force)


if __name__ == "__main__":
    main()
