"""Submissions from a learning platform, and grades and feedback back to it: Moodle and Canvas.

The three steps (grading/README.md, "Students on laptops: Moodle or Canvas"):

1. ``nbgrader zip_collect <assignment> --LmsCollector.platform=moodle`` (or ``canvas``) takes the archive the
   platform's *Download all submissions* gives, from ``downloaded/<assignment>/archive/``, and puts each
   student's notebook at ``submitted/<platform's id>/<assignment>/<released name>``: :class:`LmsCollector`
   (set as nbgrader's collector plugin in the course's ``nbgrader_config.py``) reads the student from the
   name the platform gave the file, and undoes the platform's renaming of the notebook itself.
2. Grading as usual (autograde or ``make grade``, marking by hand, ``generate_feedback``, ``export``).
3. ``python -m grading.lms grades`` fills the grade column of the sheet the platform exports (Moodle's
   grading worksheet, Canvas's gradebook) from nbgrader's ``grades.csv``, on the platform's scale, for the
   platform's own import; ``python -m grading.lms feedback`` zips each student's feedback under the name
   the platform gave their submission, which its bulk feedback upload matches.

How each platform names a downloaded submission:

- Moodle: ``<Full name>_<participant id>_assignsubmission_file_/<file>`` (one folder per student, the
  default), or the same without the slash when the download is not in folders. Its grading worksheet
  names the student ``Participant <participant id>``.
- Canvas: ``<lastfirst>[_LATE]_<user id>_<submission id>_<file>``, where a file the student uploaded
  twice has become ``<stem>-1.<ext>``. Its gradebook export has the user id in the column ``ID``.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from nbgrader.plugins import FileNameCollectorPlugin
from traitlets import Enum

NAMES = {
    "moodle": re.compile(r"(?P<prefix>[^/]+?_(?P<student_id>\d+)_assignsubmission_file_/?)(?P<file>[^/]+)"),
    "canvas": re.compile(r"(?P<prefix>[^/_]+(?:_LATE)?_(?P<student_id>\d+)_\d+_)(?P<file>[^/]+)"),
}
# What a platform or a browser adds to a file's name when it already has one: "name-1.ipynb", "name (1).ipynb".
RENAMED = re.compile(r"(?:-\d+| \(\d+\))$")


@dataclass(frozen=True)
class Download:
    """One file of a platform's download: its path inside the download, the student and the name given."""

    path: str
    student_id: str
    prefix: str
    file: str


def parse(platform: str, path: str) -> Download | None:
    """The student and file of a downloaded file's path (relative to the download, "/"-separated)."""
    found = NAMES[platform].search(path)
    if found is None or found.end() != len(path):
        return None
    return Download(path, found["student_id"], found["prefix"], found["file"])


def released_name(file: str, released: list[str]) -> str:
    """The released notebook a submitted one stands for: the only one, or the one it names once the
    renaming is undone; its own name if none fits (nbgrader then warns, and autograde finds no notebook)."""
    if len(released) == 1:
        return released[0]
    stem, suffix = os.path.splitext(file)
    undone = RENAMED.sub("", stem) + suffix
    return undone if undone in released else file


class LmsCollector(FileNameCollectorPlugin):
    """nbgrader zip_collect's collector for Moodle's and Canvas's downloads (see the module's docstring)."""

    platform = Enum(
        list(NAMES), default_value="moodle", help="The learning platform whose download is collected: moodle or canvas."
    ).tag(config=True)

    def collect(self, submitted_file: str) -> dict | None:
        if os.path.splitext(submitted_file)[1] not in self.valid_ext:
            return None
        app = self.parent  # nbgrader's ZipCollectApp; its settings say where it extracted the download
        extracted = Path(
            app.coursedir.root,
            app.collect_directory_structure.format(
                downloaded=app.downloaded_directory,
                assignment_id=app.coursedir.assignment_id,
                collect_step=app.extracted_directory,
            ),
        )
        found = parse(self.platform, Path(submitted_file).relative_to(extracted).as_posix())
        if found is None:
            self.log.warning("%s: not named as %s names a submission; skipped", submitted_file, self.platform)
            return None
        release = Path(app.coursedir.format_path(app.coursedir.release_directory, ".", app.coursedir.assignment_id))
        released = sorted(p.relative_to(release).as_posix() for p in release.glob("*.ipynb"))
        name = released_name(found.file, released)
        if name != found.file:
            self.log.warning("%s: %s is collected as %s", found.student_id, found.file, name)
        return {"student_id": found.student_id, "file_id": name}


# --------------------------------------------------------------------------- grades


def nbgrader_scores(grades_csv: Path, assignment: str) -> dict[str, tuple[float, float]]:
    """{student id: (score, max score)} of one assignment in nbgrader's ``grades.csv``."""
    with open(grades_csv, newline="") as f:
        return {
            row["student_id"]: (float(row["score"]), float(row["max_score"]))
            for row in csv.DictReader(f)
            if row["assignment"] == assignment
        }


def on_scale(score: float, max_score: float, scale: float | None) -> str:
    """The score on the platform's scale (its maximum for the assignment), two decimals as both import."""
    value = score if scale is None or max_score == 0 else score / max_score * scale
    return f"{value:.2f}"


def fill_moodle(rows: list[dict], scores: dict, column: str | None) -> int:
    """Moodle's grading worksheet: "Grade" of each "Participant <id>" row, on its "Maximum Grade"."""
    filled = 0
    for row in rows:
        match = re.fullmatch(r"Participant (\d+)", row.get("Identifier", ""))
        if match and match[1] in scores:
            maximum = float(row["Maximum Grade"]) if row.get("Maximum Grade") else None
            row[column or "Grade"] = on_scale(*scores[match[1]], maximum)
            filled += 1
    return filled


def fill_canvas(rows: list[dict], scores: dict, column: str) -> int:
    """Canvas's gradebook export: the assignment's column for each student "ID", on its "Points Possible"."""
    possible = next((row for row in rows if row.get("Student", "").strip() == "Points Possible"), None)
    maximum = float(possible[column]) if possible and possible.get(column) else None
    filled = 0
    for row in rows:
        if row.get("ID") in scores:
            row[column] = on_scale(*scores[row["ID"]], maximum)
            filled += 1
    return filled


def canvas_column(header: list[str], assignment: str, column: str | None) -> str:
    """The gradebook's column of the assignment: the one given, or the only one naming the assignment."""
    if column is not None:
        if column not in header:
            raise SystemExit(f"the gradebook has no column {column!r}; its columns: {header}")
        return column
    words = assignment.replace("_", " ").lower()
    candidates = [h for h in header if assignment.lower() in h.lower() or words in h.lower()]
    if len(candidates) != 1:
        raise SystemExit(f"say which column holds {assignment} with --column (columns naming it: {candidates})")
    return candidates[0]


def fill_sheet(
    platform: str, sheet: Path, grades_csv: Path, assignment: str, out: Path, column: str | None = None
) -> int:
    """Write ``out``: the platform's exported sheet with the assignment's grades filled in; the number filled."""
    text = sheet.read_text(encoding="utf-8-sig")  # both platforms may write a byte-order mark
    reader = csv.DictReader(io.StringIO(text))
    header, rows = list(reader.fieldnames or []), list(reader)
    scores = nbgrader_scores(grades_csv, assignment)
    if platform == "moodle":
        if "Identifier" not in header:
            raise SystemExit(f"{sheet} is not Moodle's grading worksheet (no column 'Identifier')")
        filled = fill_moodle(rows, scores, column)
    else:
        filled = fill_canvas(rows, scores, canvas_column(header, assignment, column))
    with open(out, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)
    return filled


# --------------------------------------------------------------------------- feedback


def downloads(platform: str, extracted: Path) -> dict[str, Download]:
    """{student id: their notebook in the platform's download}."""
    found = {}
    for path in sorted(extracted.rglob("*.ipynb")):
        download = parse(platform, path.relative_to(extracted).as_posix())
        if download is not None:
            found[download.student_id] = download
    return found


def feedback_archive(platform: str, course: Path, assignment: str, out: Path) -> list[str]:
    """Zip each student's feedback (``feedback/<id>/<assignment>/*.html``) under the name the platform gave
    their submission, the notebook's suffix made ``.html``; returns the names written."""
    extracted = course / "downloaded" / assignment / "extracted"
    students = downloads(platform, extracted)
    names = []
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zipped:
        for student_id, download in sorted(students.items()):
            for html in sorted((course / "feedback" / student_id / assignment).glob("*.html")):
                name = str(PurePosixPath(download.prefix + PurePosixPath(download.file).stem + html.suffix))
                zipped.write(html, name)
                names.append(name)
    return names


def main(argv: list[str] | None = None) -> None:
    top = argparse.ArgumentParser(prog="python -m grading.lms", description=__doc__.splitlines()[0])
    sub = top.add_subparsers(dest="command", required=True)
    for name, text in (
        ("grades", "fill the platform's exported grade sheet from nbgrader's grades.csv"),
        ("feedback", "zip the feedback under the names the platform's bulk upload matches"),
    ):
        p = sub.add_parser(name, help=text, description=text)
        p.add_argument("assignment")
        p.add_argument("--platform", choices=list(NAMES), required=True)
        p.add_argument("--course", type=Path, default=Path("."), help="the nbgrader course root (default: here)")
        p.add_argument("--out", type=Path, required=True, help="the file to write")
        if name == "grades":
            p.add_argument("--sheet", type=Path, required=True, help="the sheet exported from the platform")
            p.add_argument("--column", help="the sheet's column for this assignment (Canvas: when not found)")
    args = top.parse_args(argv)
    if args.command == "grades":
        filled = fill_sheet(
            args.platform, args.sheet, args.course / "grades.csv", args.assignment, args.out, args.column
        )
        print(f"{args.out}: {filled} grades filled in")
    else:
        names = feedback_archive(args.platform, args.course, args.assignment, args.out)
        print(f"{args.out}: feedback of {len(names)} students")


if __name__ == "__main__":
    main()
