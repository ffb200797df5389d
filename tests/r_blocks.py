"""The "In R" blocks of the lectures: found, run in one R session per notebook, their checked lines read.

A lecture shows, beside a statsmodels call, a folded markdown cell tagged ``in-r`` holding a fenced
```` ```r ```` block with the R call that fits the same model (DEVELOPERS.md). A line of such a block that
ends in ``# python: EXPR`` claims that its R value is the Python value of ``EXPR`` in the lecture's
namespace. tests/test_r_blocks.py runs every block of a notebook, in order, in one ``Rscript`` session after
:data:`PREAMBLE` (from the repository root, as a reader would; it reads the GP data as ``gp`` and
lecture 14's pig data as ``dietox``, from the copy of statsmodels' file the tests keep), and compares each
such line's value with what :func:`tests.lecture_values.lecture_values` evaluates.

How values are compared (:func:`same_numbers`): both sides become one flat vector of numbers, names
ignored. R's value is ``unlist()``-ed (a matrix column by column); a pandas DataFrame or 2-d array on the
Python side is read column by column too, so ``summary(m)$tTable[, 1:2]`` and ``table[["est", "se"]]``
line up. Booleans count as 0/1.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
TAG = "in-r"
RTOL = 1e-4
PREAMBLE = """\
suppressPackageStartupMessages({ library(nlme); library(lme4); library(lmerTest) })
gp <- read.csv("datasets/gp_cholesterol.csv")
dietox <- read.csv("tests/reference/dietox.csv")
"""
FENCE = re.compile(r"```r\n(.*?)```", re.S)
CHECKED = re.compile(r"^(?P<r>.*?\S)\s*#\s*python:\s*(?P<python>\S.*?)\s*$")


class RBlockError(RuntimeError):
    """A block of R code failed, or a block is not in the agreed form."""


@dataclass(frozen=True)
class Check:
    """One line ``R_EXPR  # python: PYTHON_EXPR`` of a notebook's R blocks."""

    cell: int
    r: str
    python: str


def tagged_cells(notebook: Path) -> list[tuple[int, str]]:
    """``(cell index, source)`` of each cell tagged in-r, in notebook order."""
    cells = nbformat.read(notebook, as_version=4).cells
    return [(i, c.source) for i, c in enumerate(cells) if TAG in c.metadata.get("tags", [])]


def form_problems(cell) -> list[str]:
    """What is wrong with an in-r cell's form (empty when it is a folded "In R" block)."""
    problems = []
    if cell.cell_type != "markdown":
        problems.append("an in-r cell must be markdown")
    if not cell.source.lstrip().startswith("<details><summary>In R</summary>"):
        problems.append("an in-r cell must start with <details><summary>In R</summary>")
    if not cell.source.rstrip().endswith("</details>"):
        problems.append("an in-r cell must end with </details>")
    if not FENCE.search(cell.source):
        problems.append("an in-r cell must hold a ```r block")
    return problems


def r_code(source: str) -> str:
    """The R code of one in-r cell (all its ```r blocks, in order)."""
    return "".join(FENCE.findall(source))


def script(blocks: list[tuple[int, str]], out: Path) -> tuple[str, list[Check]]:
    """The R script that runs ``blocks`` in order after the preamble, and the checks it records.

    Each checked line becomes ``.record(n, R_EXPR)``; the script writes the recorded values, as JSON
    lists of numbers, to ``out``. A block that fails stops the script with an error naming its cell.
    """
    checks: list[Check] = []
    sources = []
    for cell, source in blocks:
        lines = []
        for line in r_code(source).splitlines():
            match = CHECKED.match(line)
            if match:
                checks.append(Check(cell, match["r"], match["python"]))
                line = f".record({len(checks)}, {{ {match['r']} }})"
            lines.append(line)
        sources.append((cell, "\n".join(lines) + "\n"))
    parts = [
        PREAMBLE,
        "options(warn = 1)\n.recorded <- list()\n",
        ".record <- function(n, value) { .recorded[[n]] <<- as.numeric(unlist(value)); invisible(value) }\n",
    ]
    for cell, code in sources:
        parts.append(
            f".block <- {json.dumps(code)}\n"
            f"tryCatch(eval(parse(text = .block), envir = globalenv()), error = function(e) "
            f'stop("in-r block of cell {cell}: ", conditionMessage(e), call. = FALSE))\n'
        )
    parts.append(f"writeLines(jsonlite::toJSON(.recorded, digits = NA, na = 'null'), {json.dumps(str(out))})\n")
    return "".join(parts), checks


def run(notebook: Path, folder: Path, timeout: int = 900) -> list[tuple[Check, np.ndarray]]:
    """Run a notebook's blocks in one Rscript session; each check with the value R gave it."""
    out = folder / "r_values.json"
    code, checks = script(tagged_cells(notebook), out)
    path = folder / f"{notebook.stem}.R"
    path.write_text(code)
    done = subprocess.run(
        ["Rscript", "--vanilla", str(path)], cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )
    if done.returncode != 0:
        raise RBlockError(f"{notebook.name}: R failed:\n{done.stderr[-3000:]}")
    values = json.loads(out.read_text()) if checks else []
    if len(values) != len(checks):
        raise RBlockError(f"{notebook.name}: {len(checks)} checked lines but {len(values)} values recorded")
    return [
        (check, np.array([np.nan if v is None else v for v in value], dtype=float))
        for check, value in zip(checks, values)
    ]


def flat(value) -> np.ndarray:
    """A Python value as one vector of numbers, DataFrames and 2-d arrays column by column (as R's unlist)."""
    if isinstance(value, pd.DataFrame):
        value = value.to_numpy()
    elif isinstance(value, (pd.Series, pd.Index)):
        value = value.to_numpy()
    array = np.asarray(value, dtype=float)
    return array.ravel(order="F")


def same_numbers(r_value: np.ndarray, python_value, rtol: float = RTOL) -> str | None:
    """None if the two agree number for number to ``rtol``; otherwise what differs."""
    ours = flat(python_value)
    if ours.shape != r_value.shape:
        return f"R gives {r_value.size} numbers, Python {ours.size}"
    bad = ~np.isclose(ours, r_value, rtol=rtol, atol=0.0)
    if bad.any():
        return f"R {r_value[bad]} vs Python {ours[bad]} (rtol {rtol})"
    return None
