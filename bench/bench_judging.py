"""Benchmark: what judging outside the student's kernel costs, per submission, against nbgrader's own Execute.

Grades one class of CLASS_SIZE submissions of ASSIGNMENT (right, partly right and untouched, in turn) with
plain ``nbgrader autograde`` three ways, in one run, each twice in the order A B C C B A (so that a drift
of the machine's load hits all alike):

- ``stock``: nbgrader's ``Execute``, unsandboxed (stock nbgrader);
- ``sandboxed``: nbgrader's ``Execute`` in the course's sandboxed kernels (the test code runs in the kernel);
- ``judged``: the course's configuration (``JudgedExecute``: sandboxed student pass, tests judged outside).

Prints the load, wall and CPU seconds per submission (kernels included; the CPU split between nbgrader's own
process, where the judge works, and the kernels), what a fresh sandboxed kernel
that reruns the student's cells up to the last test of a function answer would cost (the alternative to
the frozen copy the judge calls), the ratio judged / sandboxed (the cost of judging alone), and last the
throughput that judged autograde keeps of stock nbgrader's (stock seconds per submission / judged
seconds; the course's budget is no less than 0.75). Checks that the three give the same scores. Asserts
nothing. Run as root or as an ordinary user where bubblewrap can make the sandbox: ``make bench``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from bench.bench_grading import ASSIGNMENT, STOCK_STEPS, make_class, scores
from bench.cpu import busy_seconds
from grading.autograde import sandbox_refusal

CLASS_SIZE = 6
BIN = Path(sys.executable).parent
ENV = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
EXECUTE = {
    "stock": "",
    "sandboxed": "from grading.autograde import kernel_manager_class\n"
    "c.Execute.kernel_manager_class = kernel_manager_class(True)\n",
}


# Runs the script named by its second argument and writes its own CPU seconds (not its children's: the
# kernels) to the file named by its first, at exit.
OWN_CPU = (
    "import atexit, resource, runpy, sys\n"
    "report = sys.argv.pop(1)\n"
    "def save():\n"
    "    used = resource.getrusage(resource.RUSAGE_SELF)\n"
    "    open(report, 'w').write(repr(used.ru_utime + used.ru_stime))\n"
    "atexit.register(save)\n"
    "sys.argv = sys.argv[1:]\n"
    "runpy.run_path(sys.argv[0], run_name='__main__')\n"
)


def grade(course: Path) -> tuple[float, float, float]:
    """Wall and CPU seconds of ``nbgrader autograde --force`` of the whole class, kernels included, and the
    CPU seconds of nbgrader's own process (where the judge works)."""
    report = course / "own-cpu.txt"
    wall, cpu = time.perf_counter(), busy_seconds()
    subprocess.run(
        [sys.executable, "-c", OWN_CPU, str(report), str(BIN / "nbgrader"), "autograde", ASSIGNMENT, "--force"],
        cwd=course,
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
    )
    return time.perf_counter() - wall, busy_seconds() - cpu, float(report.read_text())


def fresh_kernel_floor(course: Path, rounds: int = 3) -> tuple[float, float]:
    """Wall and CPU seconds of a fresh sandboxed kernel running the solution's own cells up to the last test
    cell that calls a function answer (median of ``rounds``)."""
    from nbclient import NotebookClient

    from traitlets.config import Config

    from grading.autograde import course_order, kernel_manager_class, plan

    (path,) = (course / "submitted" / "student000" / ASSIGNMENT).glob("*.ipynb")
    nb = nbformat.read(path, 4)
    resources = {
        "nbgrader": {"db_url": f"sqlite:///{course / 'gradebook.db'}", "notebook": path.stem, "assignment": ASSIGNMENT}
    }
    config = Config()
    config.CourseDirectory.root = str(course)
    tests = plan(nb, resources, course_order(config, ASSIGNMENT, path.stem))
    functions = [i for i, t in tests if any(n in {"separate_fits", "pooled_se_check"} for n in t.answers)]
    test_cells = {i for i, _ in tests}
    nb.cells = [c for i, c in enumerate(nb.cells) if i < max(functions) and i not in test_cells]
    times = []
    for _ in range(rounds):
        wall, cpu = time.perf_counter(), busy_seconds()
        client = NotebookClient(
            nb,
            timeout=120,
            kernel_manager_class=kernel_manager_class(True),
            resources={"metadata": {"path": str(path.parent)}},
        )
        client.execute()
        times.append((time.perf_counter() - wall, busy_seconds() - cpu))
    return sorted(times)[len(times) // 2]


def main() -> None:
    refusal = sandbox_refusal()
    if refusal:
        print(f"bench_judging: skipped, no grading sandbox here: {refusal}")
        return
    with tempfile.TemporaryDirectory() as tmp:
        base = make_class(Path(tmp), CLASS_SIZE)
        courses = {}
        for name in ("stock", "sandboxed", "judged"):
            courses[name] = Path(tmp) / name
            shutil.copytree(base, courses[name])
            if name != "judged":
                with open(courses[name] / "nbgrader_config.py", "a") as config:
                    config.write(STOCK_STEPS + EXECUTE[name])
        runs = {name: [] for name in courses}
        print(f"bench_judging: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the start", flush=True)
        for name in [*courses, *reversed(courses)]:
            runs[name].append(grade(courses[name]))
            print(
                f"  ({name}: {runs[name][-1][0]:.1f} s wall, {runs[name][-1][1]:.1f} s CPU, load average "
                f"{os.getloadavg()[0]:.1f} after)",
                flush=True,
            )
            os.remove(courses[name] / "own-cpu.txt")
        got = {name: scores(course) for name, course in courses.items()}
        same = got["stock"] == got["sandboxed"] == got["judged"] and len(got["judged"]) > 0
        floor = fresh_kernel_floor(courses["judged"])
    n = CLASS_SIZE
    print(f"autograde of {n} submissions of {ASSIGNMENT}, each way twice (seconds per submission)")
    per = {name: [sum(values) / len(r) / n for values in zip(*r)] for name, r in runs.items()}
    for name, (wall, cpu, own) in per.items():
        print(
            f"  {name:<10} wall {wall:6.2f}   CPU {cpu:6.2f} (nbgrader's own process {own:5.2f}, kernels "
            f"{cpu - own:5.2f})"
        )
    print(f"  same scores all three ways: {'yes' if same else 'NO'}")
    print(
        f"  a fresh sandboxed kernel rerunning the cells up to the last function test: wall {floor[0]:.2f}, "
        f"CPU {floor[1]:.2f} per submission"
    )
    print(
        f"  judged vs sandboxed Execute, CPU per submission: {per['judged'][1] / per['sandboxed'][1]:.2f}; "
        f"wall: {per['judged'][0] / per['sandboxed'][0]:.2f}"
    )
    print(
        f"judged throughput vs stock Execute (submissions per second; the budget is 0.75): wall "
        f"{per['stock'][0] / per['judged'][0]:.2f}, CPU {per['stock'][1] / per['judged'][1]:.2f}"
    )


if __name__ == "__main__":
    main()
