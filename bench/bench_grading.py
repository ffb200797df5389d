"""Benchmark: grading a class with ``make grade`` (grading/parallel.py) against serial stock nbgrader.

Makes a class of CLASS_SIZE submissions (``--students N`` for another size) of the fastest assignment from the
test fixtures (right, partly right and untouched answers, in turn) and grades four copies of it in the same
run: with ``nbgrader autograde``, ``generate_feedback`` and ``export``, one after the other, first stock
(nbgrader's own Execute: the notebook and its tests in one unsandboxed kernel), then with the course's
configuration (the judged, sandboxed autograde that ``make grade`` runs too); with ``python -m grading grade``
on its embedded local cluster (one worker per core); and with the same command through a `dask scheduler` and
two `dask worker` processes on localhost, each in an empty folder of its own (started before the clock runs,
as a standing cluster would be). Checks that all four give the same scores and prints, each line as soon as
it is measured, students per minute, the CPU time each side used, the floor of one fresh kernel importing
pandas, statsmodels and seaborn, and nbgrader's fixed cost per call. Asserts nothing. Run as root, or as a
user where bubblewrap can make the sandbox: ``make bench`` (or ``.venv/bin/python -m bench.bench_grading``
from the repository root).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from bench.cpu import busy_seconds
from grading import COURSE_ROOT
from grading.autograde import sandbox_refusal
from grading.parallel import RUNTIME, db_url
from tests import grading_fixtures as fx
from tests.localhost_dask import ENV, LocalhostCluster

ROOT = Path(__file__).resolve().parent.parent
ASSIGNMENT = "structure_and_pooling"
CLASS_SIZE = 40
BIN = Path(sys.executable).parent
# Appended to a copy of the course's nbgrader configuration: stock nbgrader, whose own Execute runs the student's
# notebook and its tests in one unsandboxed kernel (the course's other autograde steps stay).
STOCK_STEPS = (
    "from nbgrader.preprocessors import Execute\n"
    "c.Autograde.autograde_preprocessors = [Execute, *c.Autograde.autograde_preprocessors[1:]]\n"
    "c.Execute.timeout = 30\n"
)


def timed(*command: str, cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=cwd, env=ENV, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def make_class(tmp: Path, students: int) -> Path:
    """A generated course with ``students`` submissions."""
    course = tmp / "course"
    shutil.copytree(COURSE_ROOT, course, ignore=shutil.ignore_patterns(*RUNTIME, "__pycache__"))
    subprocess.run(
        [str(BIN / "nbgrader"), "generate_assignment", ASSIGNMENT], cwd=course, env=ENV, check=True, capture_output=True
    )
    (release,) = (course / "release" / ASSIGNMENT).glob("*.ipynb")
    rel, src = nbformat.read(release, as_version=4), nbformat.read(course / "source" / ASSIGNMENT / release.name, 4)
    variants = [fx.with_solutions(rel, src), fx.partly_right(rel, src, ASSIGNMENT)[0], rel]
    for i in range(students):
        folder = course / "submitted" / f"student{i:03d}" / ASSIGNMENT
        folder.mkdir(parents=True)
        nbformat.write(variants[i % len(variants)], folder / release.name)
    return course


def scores(course: Path) -> dict:
    from nbgrader.api import Gradebook

    with Gradebook(db_url(course)) as gb:
        return {
            (s.student_id, g.name): g.auto_score
            for s in gb.assignment_submissions(ASSIGNMENT)
            for nb in s.notebooks
            for g in nb.grades
        }


def kernel_floor(rounds: int = 3) -> float:
    """Seconds for one fresh kernel to start and import pandas, statsmodels and seaborn (median)."""
    from jupyter_client.manager import start_new_kernel

    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        km, kc = start_new_kernel(kernel_name="python3", stderr=subprocess.DEVNULL)
        kc.execute_interactive("import pandas, statsmodels.formula.api, seaborn", timeout=300)
        times.append(time.perf_counter() - start)
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    return statistics.median(times)


def measured(step):
    """Run ``step()``; return its wall seconds, the machine's busy CPU seconds meanwhile, and the load after."""
    cpu = busy_seconds()
    seconds = step()
    return seconds, busy_seconds() - cpu, os.getloadavg()[0]


def report(label: str, students: int, run: tuple, same: bool) -> None:
    seconds, cpu, after = run
    print(
        f"  {label:<44}{seconds:8.1f}{60 * students / seconds:14.1f}{cpu:8.1f}  {after:10.1f}  "
        f"{'yes' if same else 'NO'}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--students", type=int, default=CLASS_SIZE, help="size of the class (default %(default)s)")
    n = parser.parse_args().students
    refusal = sandbox_refusal()
    if refusal:
        print(f"bench_grading: skipped, no grading sandbox here: {refusal}")
        return
    cores = os.cpu_count() or 1
    grade = [sys.executable, "-m", "grading", "grade", ASSIGNMENT, "--course"]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        course = make_class(tmp, n)
        copies = {name: tmp / name for name in ("stock", "serial", "local", "localhost")}
        for copy in copies.values():
            shutil.copytree(course, copy)
        with open(copies["stock"] / "nbgrader_config.py", "a") as config:
            config.write(STOCK_STEPS)
        nbgrader = str(BIN / "nbgrader")
        print(
            f"grading {n} submissions of {ASSIGNMENT} on {cores} cores "
            f"(load average {os.getloadavg()[0]:.1f} at the start)"
        )
        print(f"  {'':44}{'seconds':>8}{'students/min':>14}{'CPU s':>8}  load after  same scores", flush=True)
        serial, reference = {}, None
        for name, label in (
            ("stock", "serial stock nbgrader (autograde, feedback, export)"),
            ("serial", "serial nbgrader, the course's configuration"),
        ):
            serial[name] = measured(
                lambda name=name: sum(
                    timed(nbgrader, *args, cwd=copies[name])
                    for args in (["autograde", ASSIGNMENT], ["generate_feedback", ASSIGNMENT], ["export"])
                )
            )
            got = scores(copies[name])
            reference = reference or got
            report(label, n, serial[name], bool(got) and got == reference)
        local = measured(lambda: timed(*grade, str(copies["local"]), cwd=ROOT))
        report(f"make grade, local cluster ({cores} workers)", n, local, scores(copies["local"]) == reference)
        with LocalhostCluster(tmp / "dask", workers=2) as cluster:
            localhost = measured(
                lambda: timed(*grade, str(copies["localhost"]), "--scheduler", cluster.address, cwd=ROOT)
            )
        report("make grade, 2 dask workers on localhost", n, localhost, scores(copies["localhost"]) == reference)
        print(
            "  (CPU s: the machine's busy CPU time during the run, every process counted: the run's on a quiet"
            " machine, the standing cluster's workers included)"
        )
        print(f"  two localhost workers vs serial stock nbgrader: {serial['stock'][0] / localhost[0]:.2f}")
        print(
            f"  local cluster vs serial nbgrader with the course's configuration: {serial['serial'][0] / local[0]:.2f}"
        )
        print(f"parallel vs serial stock nbgrader: {serial['stock'][0] / local[0]:.2f}", flush=True)
        startup = statistics.median(
            timed(nbgrader, "autograde", ASSIGNMENT, "--student", "student000", cwd=copies["serial"]) for _ in range(3)
        )  # graded already: start, skip
    floor = kernel_floor()
    print(
        f"  floor: fresh kernel + pandas, statsmodels, seaborn {floor:.2f} s (÷ {cores} cores: {floor / cores:.2f});"
        f" nbgrader's fixed cost per call {startup:.2f} s (make grade pays it once per worker)"
    )


if __name__ == "__main__":
    main()
