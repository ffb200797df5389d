"""``python -m grading``: the course's grading commands (``python -m grading --help``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from grading import COURSE_ROOT, parallel, private


def timeouts(args: argparse.Namespace) -> int:
    from grading.timeouts import write_timeouts

    for name, entry in write_timeouts(args.course, args.factor, args.floor).items():
        print(f"{name}: slowest cell {entry['slowest_cell_seconds']} s -> timeout {entry['timeout']} s")
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m grading", description="The course's grading commands.")
    sub = top.add_subparsers(dest="command", required=True)
    t = sub.add_parser("timeouts", help="time the instructor notebooks and write the course's timeouts.json")
    t.add_argument("--course", type=Path, default=COURSE_ROOT, help="nbgrader course root")
    t.add_argument("--factor", type=float, default=10.0, help="timeout = factor x the slowest cell")
    t.add_argument("--floor", type=int, default=30, help="the smallest timeout, seconds")
    t.set_defaults(run=timeouts)
    g = sub.add_parser(
        "grade",
        help="autograde a whole class on dask (sandboxed), with feedback and grades.csv",
        description="Autograde every submission of ASSIGNMENT on a local dask cluster or on the "
        "workers of a dask scheduler; see grading/README.md, make grade.",
    )
    parallel.add_arguments(g)
    g.set_defaults(run=parallel.run)
    p = sub.add_parser(
        "private",
        help="a private copy of the course whose every autograded number differs from the public one",
        description="Write a private nbgrader course root to DEST: the assignments drawn anew from the secret "
        "SEED (resampled GP patients, other seeds and truths) and their instructor notebooks re-executed; "
        "see grading/README.md, make private.",
    )
    private.add_arguments(p)
    p.set_defaults(run=private.run)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
