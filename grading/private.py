"""A private copy of the graded assignments whose every autograded number differs from the public course's.

``python -m grading private --seed SECRET --dest FOLDER`` (``make private SEED=... DEST=...``) writes an nbgrader
course root to FOLDER: the configuration and timeouts of this one, and each instructor notebook drawn anew from
the secret and re-executed. In every code cell (setup, solutions, tests, hidden tests alike):

- ``load_gp_cholesterol()`` becomes ``load_gp_cholesterol(resample=N)``: the twelve GPs renumbered and their
  patients bootstrapped within each GP (:func:`helpers.data.resample_gp_patients`); ``load_dietox()`` likewise
  becomes ``load_dietox(resample=N)``, a bootstrap of the pigs (:func:`helpers.data.resample_pigs`);
- every whole-number seed (a ``seed=`` argument, a name ending in ``seed``, ``default_rng(...)``) becomes another;
- the simulation settings whose value a hidden test checks as the truth (:data:`TRUTHS`) are scaled, and group
  sizes written out as a list (:data:`SIZES`) are shuffled.

The same literal of one assignment becomes the same value wherever it appears, so the hidden tests keep
computing their references from the setup's data. Each N is a SHA-256 of the secret, the assignment and what
it replaces: the released notebooks show the students their data, never the secret. A draw is kept only if the
instructor notebook passes all its tests and every value a hidden test compares (:func:`hidden_checks`) lies
outside that test's tolerance of the public course's (but the few the design fixes, :data:`SAME_IN_EVERY_COPY`);
else the assignment is drawn again.
"""

from __future__ import annotations

import argparse
import ast
import copy
import hashlib
import json
import os
import shutil
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import nbformat
import numpy as np

from grading import COURSE_ROOT
from grading.judge import hidden_lines
from grading.timeouts import run_instructor_notebook

SEED_MIN_LENGTH = 16  # a short secret could be found again from a released draw by trying every candidate
ATTEMPTS = 20
T = TypeVar("T")
# Keyword arguments of the simulations whose value a hidden test checks as the truth; each is scaled by a factor
# between these bounds. (A school SD is left alone: assignment 5's text quotes the one it simulates with.)
TRUTHS = ("residual_sd", "odds_ratio", "clinic_sd")
TRUTH_FACTORS = (0.8, 1.25)
SIZES = ("pupils_per_school", "patients_per_clinic")
# Hidden checks whose reference the design alone fixes, the same in every copy, by assignment: nlme's degrees of
# freedom for age count patients and GPs; the share of zero statistics in the exact RLRT's null distribution is
# about 0.56 for any 15 small schools, whatever their sizes or data. The other checks of their cells change.
SAME_IN_EVERY_COPY = {"random_slopes_and_comparison": {"age_df['nlme']"}, "multilevel_and_checking": {"share_zero"}}
GUIDE_MARK = "**Marking guide"
GUIDE_NOTE = (
    "*Private copy: numbers quoted in this guide are the public course's; this copy's are in the outputs of "
    "this notebook.*\n\n"
)
COPIED = ("nbgrader_config.py", "timeouts.json")
# What the recording cell (run first, dropped afterwards) keeps of every check_close call: which code cell made it
# (counted by IPython's pre_run_cell event), the line of the call in the cell, the reference and the tolerances.
RECORDER = """\
import inspect as _inspect
import numpy as _np
import helpers.checks as _checks

_private_checks, _private_cells = [], []
get_ipython().events.register("pre_run_cell", lambda info: _private_cells.append(info))


def _recording_check_close(value, reference, name, rtol=1e-3, atol=0.0, mistakes=None, _check=_checks.check_close):
    _private_checks.append({"cell": len(_private_cells) - 1, "line": _inspect.currentframe().f_back.f_lineno,
                            "name": name, "reference": _np.asarray(reference, dtype=float).tolist(),
                            "rtol": rtol, "atol": atol})
    return _check(value, reference, name, rtol=rtol, atol=atol, mistakes=mistakes)


_checks.check_close = _recording_check_close
"""
REPORTER = "print(__import__('json').dumps(_private_checks))"


class PrivateCopyError(RuntimeError):
    """No private copy could be made (the message says why)."""


def derive(secret: str, *labels: object) -> int:
    """A seed (31 bits) for ``labels``, from the secret: a SHA-256, so a released seed does not give the secret."""
    digest = hashlib.sha256("\0".join([secret, *map(str, labels)]).encode()).digest()
    return int.from_bytes(digest[:4], "big") >> 1


@dataclass
class Draw:
    """The values that replace the public ones in one assignment, for one attempt."""

    secret: str
    assignment: str
    attempt: int

    def seed(self, literal: int) -> int:
        return derive(self.secret, self.assignment, self.attempt, "seed", literal)

    def patients(self) -> int:
        return derive(self.secret, self.assignment, self.attempt, "patients")

    def pigs(self) -> int:
        return derive(self.secret, self.assignment, self.attempt, "pigs")

    def truth(self, name: str, literal: float) -> float:
        low, high = TRUTH_FACTORS
        share = derive(self.secret, self.assignment, self.attempt, name, literal) / 2**31
        return round(literal * low * (high / low) ** share, 2)

    def sizes(self, literal: list[int]) -> list[int]:
        rng = np.random.default_rng(derive(self.secret, self.assignment, self.attempt, "sizes", literal))
        return [int(size) for size in rng.permutation(literal)]


# ----------------------------------------------------------------------------- rewriting


def rewrite_code(source: str, draw: Draw) -> str:
    """``source`` with the GP data resampled, the seeds and the truths replaced (see the module's docstring)."""
    tree = ast.parse(source)
    edits = []  # (node, replacement text)
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
            if name == "load_gp_cholesterol" and not node.args and not node.keywords:
                edits.append((node, f"load_gp_cholesterol(resample={draw.patients()})"))
            if name == "load_dietox" and not node.args and not node.keywords:
                edits.append((node, f"load_dietox(resample={draw.pigs()})"))
            if name == "default_rng" and len(node.args) == 1 and _whole(node.args[0]):
                edits.append((node.args[0], str(draw.seed(node.args[0].value))))
            for keyword in node.keywords:
                if keyword.arg == "seed" and _whole(keyword.value):
                    edits.append((keyword.value, str(draw.seed(keyword.value.value))))
                elif keyword.arg in TRUTHS and _number(keyword.value):
                    edits.append((keyword.value, repr(draw.truth(keyword.arg, keyword.value.value))))
                elif (
                    keyword.arg in SIZES
                    and isinstance(keyword.value, ast.List)
                    and all(map(_whole, keyword.value.elts))
                ):
                    edits.append((keyword.value, str(draw.sizes([e.value for e in keyword.value.elts]))))
        elif isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
            pairs = (
                zip(target.elts, value.elts, strict=False)
                if isinstance(target, ast.Tuple) and isinstance(value, ast.Tuple)
                else [(target, value)]
            )
            for name, constant in pairs:
                if isinstance(name, ast.Name) and name.id.endswith("seed") and _whole(constant):
                    edits.append((constant, str(draw.seed(constant.value))))
    return _apply(source, edits)


def _whole(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and type(node.value) is int


def _number(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and type(node.value) in (int, float)


def _apply(source: str, edits: list) -> str:
    """``source`` with each node's text replaced (ast gives columns in UTF-8 bytes)."""
    lines = source.splitlines(keepends=True)
    starts = np.cumsum([0, *(len(line) for line in lines)])

    def offset(line: int, column: int) -> int:
        return int(starts[line - 1]) + len(lines[line - 1].encode()[:column].decode())

    out = source
    spans = sorted(((offset(n.lineno, n.col_offset), offset(n.end_lineno, n.end_col_offset), t) for n, t in edits))
    for start, end, text in reversed(spans):
        out = out[:start] + text + out[end:]
    return out


def rewrite_notebook(nb: nbformat.NotebookNode, draw: Draw) -> nbformat.NotebookNode:
    """A copy of an instructor notebook drawn anew, outputs to be made again, marking guides with their note."""
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.source = rewrite_code(cell.source, draw)
        elif GUIDE_MARK in cell.source:
            cell.source = cell.source.replace(GUIDE_MARK, GUIDE_NOTE + GUIDE_MARK, 1)
    return nb


# ----------------------------------------------------------------------------- running and comparing


def execute(nb: nbformat.NotebookNode, folder: Path) -> tuple[nbformat.NotebookNode, dict[str, list[dict]]]:
    """Run an instructor notebook (any failing cell raises); return it as executed and its hidden checks."""
    ran = copy.deepcopy(nb)
    ran.cells = [nbformat.v4.new_code_cell(RECORDER), *ran.cells, nbformat.v4.new_code_cell(REPORTER)]
    run_instructor_notebook(ran, folder)
    recorded = json.loads(ran.cells[-1].outputs[0]["text"])
    ran.cells = ran.cells[1:-1]
    code = [cell for cell in ran.cells if cell.cell_type == "code"]
    for cell in code:
        cell.execution_count -= 1  # the recording cell was the first
        for output in cell.outputs:
            if "execution_count" in output:
                output["execution_count"] -= 1
    return ran, hidden_checks(recorded, code)


def hidden_checks(recorded: list[dict], code: list) -> dict[str, list[dict]]:
    """The check_close calls made from the hidden part of each test cell (``code``: the notebook's code cells, in
    order), by grade id, in order."""
    checks: dict[str, list[dict]] = {}
    for entry in recorded:
        cell = code[entry["cell"]]
        if entry["line"] in hidden_lines(cell.source):
            checks.setdefault(cell.metadata["nbgrader"]["grade_id"], []).append(entry)
    return checks


def shared_values(
    checks: dict[str, list[dict]], others: dict[str, list[dict]], same: frozenset = frozenset()
) -> list[str]:
    """The hidden checks of which one reference would pass the other's check (with either's tolerance), but for
    the names in ``same``."""
    shared = []
    for grade_id, entries in checks.items():
        theirs = others.get(grade_id, [])
        if len(theirs) != len(entries):
            raise PrivateCopyError(f"{grade_id}: {len(entries)} hidden checks here, {len(theirs)} in the other")
        for mine, other in zip(entries, theirs, strict=True):
            want, got = np.asarray(mine["reference"]), np.asarray(other["reference"])
            close = want.shape == got.shape and any(
                np.allclose(got, want, rtol=check["rtol"], atol=check["atol"]) for check in (mine, other)
            )
            if close and mine["name"] not in same:
                shared.append(f"{grade_id}: {mine['name']}")
    return shared


def notebook_of(course: Path, assignment: str) -> Path:
    (path,) = (course / "source" / assignment).glob("*.ipynb")
    return path


def assignments(course: Path) -> list[str]:
    return sorted(p.name for p in (course / "source").iterdir() if p.is_dir())


def refuse(secret: str, dest: Path) -> None:
    """Raise :class:`PrivateCopyError` for a secret too short to stay secret or a folder already in use."""
    if len(secret) < SEED_MIN_LENGTH:
        raise PrivateCopyError(
            f"the seed must have at least {SEED_MIN_LENGTH} characters (a short one can be found again from the "
            f"released data); make one with: python -c 'import secrets; print(secrets.token_hex(16))'"
        )
    if Path(dest).exists() and any(Path(dest).iterdir()):
        raise PrivateCopyError(f"{dest} exists and is not empty: give a new folder")


def course_checks(course: Path) -> dict[str, dict]:
    """The hidden checks of every instructor notebook of a course root, by assignment."""

    def checks(assignment: str) -> dict:
        path = notebook_of(course, assignment)
        return execute(nbformat.read(path, as_version=4), path.parent)[1]

    return each_assignment(checks, assignments(course))


def each_assignment(work: Callable[[str], T], names: list[str]) -> dict[str, T]:
    """``work(name)`` for each assignment, as many at once as the machine has cores (each runs its notebooks in
    kernels of its own); an error of any is raised."""
    with ThreadPoolExecutor(max_workers=max(1, min(len(names), os.cpu_count() or 1))) as pool:
        return dict(zip(names, pool.map(work, names), strict=True))


def make_private(
    secret: str,
    dest: Path,
    course: Path = COURSE_ROOT,
    public: dict[str, dict] | None = None,
    avoid: list[dict[str, dict]] = (),
    log: Callable[[str], None] = lambda line: None,
) -> dict[str, dict]:
    """Write the private course root ``dest``. Returns per assignment the attempt kept, its hidden checks and the
    public course's (``public``: those of an earlier call, not computed again). No value may be shared with the
    public course nor with the copies whose :func:`course_checks` are in ``avoid`` (a former term's copy, whose
    answers may be about). ``log`` hears of every draw."""
    refuse(secret, dest)
    dest = Path(dest)
    public = dict(public or {})

    def draw(assignment: str) -> dict:
        path = notebook_of(course, assignment)
        nb = nbformat.read(path, as_version=4)
        theirs = public[assignment] if assignment in public else execute(nb, path.parent)[1]
        others = [theirs, *(earlier[assignment] for earlier in avoid if assignment in earlier)]
        attempt, kept, checks = _draw_assignment(secret, assignment, nb, others, path.parent, log)
        return {"attempt": attempt, "checks": checks, "public": theirs, "notebook": kept}

    result = each_assignment(draw, assignments(course))
    dest.mkdir(parents=True, exist_ok=True)
    for name in COPIED:
        shutil.copy2(course / name, dest / name)
    for assignment, drawn in result.items():
        (dest / "source" / assignment).mkdir(parents=True)
        nbformat.write(drawn.pop("notebook"), dest / "source" / assignment / notebook_of(course, assignment).name)
    return result


def _draw_assignment(secret: str, assignment: str, public, others: list[dict], folder: Path, log) -> tuple:
    problems = []
    for attempt in range(ATTEMPTS):
        nb = rewrite_notebook(public, Draw(secret, assignment, attempt))
        try:
            ran, checks = execute(nb, folder)
        except Exception as error:  # noqa: BLE001 (a draw the solution fails on is drawn again)
            problems.append(
                f"draw {attempt}: the solution fails on it ({getattr(error, 'ename', type(error).__name__)})"
            )
            log(f"{assignment}: {problems[-1]}; drawing again")
            continue
        same = SAME_IN_EVERY_COPY.get(assignment, frozenset())
        shared = sorted({name for other in others for name in shared_values(checks, other, same)})
        if not shared:
            return attempt, ran, checks
        problems.append(f"draw {attempt}: as in the public course or a copy to avoid: {', '.join(shared)}")
        log(f"{assignment}: {problems[-1]}; drawing again")
    raise PrivateCopyError(
        f"{assignment}: no draw in {ATTEMPTS} attempts changed every number:\n" + "\n".join(problems)
    )


# ----------------------------------------------------------------------------- command line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", required=True, help=f"the secret (at least {SEED_MIN_LENGTH} characters)")
    parser.add_argument("--dest", type=Path, required=True, help="a new folder for the private course root")
    parser.add_argument("--course", type=Path, default=COURSE_ROOT, help="the public course root")
    parser.add_argument(
        "--avoid",
        type=Path,
        action="append",
        default=[],
        help="an earlier private course root (e.g. last term's) whose values this copy must not share; repeatable",
    )


def run(args: argparse.Namespace) -> int:
    try:
        refuse(args.seed, args.dest)
        avoid = [course_checks(earlier) for earlier in args.avoid]
        kept = make_private(
            args.seed, args.dest, args.course, avoid=avoid, log=lambda line: print(line, file=sys.stderr)
        )
    except PrivateCopyError as error:
        raise SystemExit(f"python -m grading private: {error}") from None
    others = "the public course or the copies avoided" if args.avoid else "the public course"
    for assignment, result in kept.items():
        count = sum(len(entries) for entries in result["checks"].values())
        print(f"{assignment}: draw {result['attempt']}, {count} hidden checks, none as in {others}")
    print(f"private course root: {args.dest} (grade there: make grade COURSE={args.dest} A=...)")
    return 0
