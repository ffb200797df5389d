"""Benchmark: grading a class with ``make grade`` (grading/parallel.py) against serial stock nbgrader.

Makes a class of CLASS_SIZE submissions of the fastest assignment from the test fixtures (right, partly
right and untouched answers, in turn), grades one copy with stock ``nbgrader autograde``,
``generate_feedback`` and ``export``, one after the other, and another copy with the parallel command
(sandboxed kernels, one worker per core), in the same run; checks that the scores agree and prints the
times, the floor of one fresh kernel importing pandas, statsmodels and seaborn, and nbgrader's fixed cost
per call. Asserts nothing. Run as root: ``make bench`` (or ``.venv/bin/python -m bench.bench_grading`` from the
repository root).
"""

from __future__ import annotations

import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from grading import COURSE_ROOT
from grading.parallel import db_url
from tests import grading_fixtures as fx

ROOT = Path(__file__).resolve().parent.parent

ASSIGNMENT = "structure_and_pooling"
CLASS_SIZE = 60
BIN = Path(sys.executable).parent
ENV = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}


def timed(*command: str, cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=cwd, env=ENV, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def cpu_seconds() -> float:
    """CPU time of the finished child processes of this benchmark, kernels included."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def make_class(tmp: Path) -> Path:
    """A generated course with CLASS_SIZE submissions."""
    course = tmp / "grading"
    shutil.copytree(COURSE_ROOT, course, ignore=shutil.ignore_patterns(
        "release", "submitted", "autograded", "feedback", "gradebook.db", "grades.csv", ".parallel", "__pycache__"))
    subprocess.run([str(BIN / "nbgrader"), "generate_assignment", ASSIGNMENT], cwd=course, env=ENV, check=True,
                   capture_output=True)
    (release,) = (course / "release" / ASSIGNMENT).glob("*.ipynb")
    rel, src = nbformat.read(release, as_version=4), nbformat.read(course / "source" / ASSIGNMENT / release.name, 4)
    variants = [fx.with_solutions(rel, src), fx.partly_right(rel, src, ASSIGNMENT)[0], rel]
    for i in range(CLASS_SIZE):
        folder = course / "submitted" / f"student{i:03d}" / ASSIGNMENT
        folder.mkdir(parents=True)
        nbformat.write(variants[i % len(variants)], folder / release.name)
    return course


def scores(course: Path) -> dict:
    from nbgrader.api import Gradebook

    with Gradebook(db_url(course)) as gb:
        return {(s.student_id, g.name): g.auto_score for s in gb.assignment_submissions(ASSIGNMENT)
                for nb in s.notebooks for g in nb.grades}


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


def main() -> None:
    if os.geteuid() != 0:
        print("bench_grading: skipped, needs root (the grading sandbox makes users and namespaces)")
        return
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as tmp:
        course = make_class(Path(tmp))
        serial, par = Path(tmp) / "serial", Path(tmp) / "parallel"
        shutil.copytree(course, serial)
        shutil.copytree(course, par)
        nbgrader = str(BIN / "nbgrader")
        load, cpu = [os.getloadavg()[0]], [cpu_seconds()]
        serial_steps = {step: timed(nbgrader, *args, cwd=serial) for step, args in (
            ("autograde", ["autograde", ASSIGNMENT]), ("generate_feedback", ["generate_feedback", ASSIGNMENT]),
            ("export", ["export"]))}
        load.append(os.getloadavg()[0])
        cpu.append(cpu_seconds())
        parallel = timed(sys.executable, "-m", "grading.parallel", "grade", ASSIGNMENT, "--course", str(par),
                         cwd=ROOT)
        load.append(os.getloadavg()[0])
        cpu.append(cpu_seconds())
        same = scores(serial) == scores(par) and len(scores(par)) > 0
        startup = statistics.median(timed(nbgrader, "autograde", ASSIGNMENT, "--student", "student000", cwd=serial)
                                    for _ in range(3))  # already graded: start, read config and db, skip
        floor = kernel_floor()
    total = sum(serial_steps.values())
    n = CLASS_SIZE
    print(f"grading {n} submissions of {ASSIGNMENT} on {cores} cores (seconds; per submission)")
    for step, seconds in serial_steps.items():
        print(f"  serial nbgrader {step:<22}{seconds:8.1f}   {seconds / n:6.2f}")
    print(f"  serial nbgrader, all three              {total:8.1f}   {total / n:6.2f}")
    print(f"  make grade ({cores} workers, sandboxed)      {parallel:8.1f}   {parallel / n:6.2f}"
          f"   same scores as serial: {'yes' if same else 'NO'}")
    serial_cpu, parallel_cpu = cpu[1] - cpu[0], cpu[2] - cpu[1]
    print(f"  CPU seconds, kernels included: serial {serial_cpu:.1f}, make grade {parallel_cpu:.1f}; cores they got:"
          f" {serial_cpu / total:.2f} and {parallel_cpu / parallel:.2f} of {cores}")
    print(f"  load average before, between and after: {', '.join(f'{x:.1f}' for x in load)}"
          f" (other jobs on a shared machine take cores from both)")
    print(f"  floor: fresh kernel + pandas, statsmodels, seaborn       {floor:6.2f}"
          f"   (÷ {cores} cores: {floor / cores:.2f})")
    print(f"  nbgrader's fixed cost per call (autograde of nothing)    {startup:6.2f}"
          f"   (make grade pays it once per worker)")
    print(f"parallel vs serial nbgrader: {total / parallel:.2f}")


if __name__ == "__main__":
    main()
