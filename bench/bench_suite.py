"""Benchmark (prints, asserts nothing): the test suite's wall time, quick subset and whole.

Runs in this checkout, with its environment, as ``make test`` does but without pytest's cache:
``pytest -m "not slow"`` and then ``pytest``, one after the other in the same run (for a fresh clone's
figure, run it in a fresh clone after ``make``: the environment's editable install points at the checkout
that made it, so a copy elsewhere would test two trees at once). Prints each run's minutes against its
target (issue 23: 3 and 15 minutes on a two-core machine), the machine's CPU time during it (bench/cpu.py), the
load average around it, the tests that failed and the files that took longest. ``--quick`` runs the quick
subset alone.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

from bench.cpu import busy_seconds

ROOT = Path(__file__).resolve().parent.parent
RUNS = [("pytest -m 'not slow'", ["-m", "not slow"], 3), ("pytest (make test)", [], 15)]
SHOWN_FILES = 12


def seconds_by_file(report: Path) -> dict[str, float]:
    """Seconds per test file (a notebook counts as one) from a JUnit XML report (xunit1: it names the file):
    setup, call and teardown."""
    totals: dict[str, float] = defaultdict(float)
    for case in ET.parse(report).iter("testcase"):
        totals[case.get("file", "?")] += float(case.get("time", 0))
    return totals


def run(label: str, options: list[str], target_minutes: float, report: Path) -> None:
    load, cpu, start = os.getloadavg()[0], busy_seconds(), time.perf_counter()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            f"--junitxml={report}",
            "-o",
            "junit_family=xunit1",
            *options,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    minutes = (time.perf_counter() - start) / 60
    summary = (result.stdout.strip().splitlines() or ["no output"])[-1]
    print(
        f"{label:<22}{minutes:8.1f} min  target {target_minutes} min ({minutes / target_minutes:.2f} of it)  "
        f"CPU {(busy_seconds() - cpu) / 60:.1f} min  load {load:.1f} -> {os.getloadavg()[0]:.1f}  [{summary}]",
        flush=True,
    )
    for line in result.stdout.splitlines():
        if line.startswith(("FAILED", "ERROR")):
            print(f"    {line}")
    if report.is_file():
        slowest = sorted(seconds_by_file(report).items(), key=lambda item: -item[1])[:SHOWN_FILES]
        for name, seconds in slowest:
            print(f"    {seconds:8.1f} s  {name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="run only the quick subset")
    quick = parser.parse_args().quick
    changed = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True).stdout
    print(f"the suite in {ROOT} ({os.cpu_count()} cores; {len(changed.splitlines())} files differ from HEAD)")
    with tempfile.TemporaryDirectory() as tmp:
        for number, (label, options, target) in enumerate(RUNS[:1] if quick else RUNS):
            run(label, options, target, Path(tmp) / f"report-{number}.xml")


if __name__ == "__main__":
    main()
