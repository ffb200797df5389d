"""The suite's two pytest-xdist workers run each group of tests whole (tests/workers.py)."""

from __future__ import annotations

import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

from xdist.scheduler import LoadScopeScheduling

from tests.workers import LECTURES, group_of, order_by_group

ROOT = Path(__file__).resolve().parent.parent
READS_A_LECTURE = re.compile(r"\b(lecture_values|run_lecture|lecture_text)\(")
# What a test reads of a sandbox slot's user: its processes, its name or a slot by number.
SLOT_USER = re.compile(r"processes_of\(|user_name\(|slot_number=|sandboxed\([A-Z0-9_]+[,)]")


def matching(pattern: re.Pattern) -> list[Path]:
    """The test files (this one aside) whose text matches ``pattern``."""
    tests = [p for p in sorted((ROOT / "tests").glob("test_*.py")) if p.name != Path(__file__).name]
    files = [p for p in tests if pattern.search(p.read_text())]
    assert files, f"no test file matches {pattern.pattern}: the pattern is stale"
    return files


def outside(group: str, pattern: re.Pattern) -> list[str]:
    """The test files whose text matches ``pattern`` and whose tests are not in ``group``."""
    files = matching(pattern)
    return [p.name for p in files if group_of(f"tests/{p.name}::test") != group]


def test_every_file_that_reads_a_lecture_is_in_the_lectures_group():
    elsewhere = outside(LECTURES, READS_A_LECTURE)
    assert not elsewhere, f"these would run the lectures again on the other worker: {elsewhere}"


def test_the_tests_that_look_at_a_slots_user_use_a_slot_of_their_own():
    """The grading test files run side by side, their kernels in the lowest free sandbox slots: a test that
    counted what the user of such a slot runs could count a kernel of the other worker's."""
    readers = matching(SLOT_USER)
    assert [p.name for p in readers] == ["test_sandbox.py"], "another test file reads a slot's user"
    uses = [line.strip() for line in readers[0].read_text().splitlines() if SLOT_USER.search(line)]
    elsewhere = [
        use
        for use in uses
        if not re.search(r"OWN_SLOT|own_slot_user\(\)|os\.getuid\(\)|def sandboxed|slot_number=slot_number", use)
    ]
    assert not elsewhere, f"these read a slot that graders beside them may claim: {elsewhere}"


def test_the_scheduler_still_overrides_xdists_private_split_scope():
    """tests/workers.py overrides LoadScopeScheduling._split_scope (pytest-xdist 3.8.0): if it is renamed, the
    override is never called and the groups fall apart silently."""
    assert callable(getattr(LoadScopeScheduling, "_split_scope", None)), "pytest-xdist renamed _split_scope"


class FakeItem:
    def __init__(self, nodeid: str, slow: bool = False):
        self.nodeid, self.slow = nodeid, slow

    def get_closest_marker(self, name: str):
        return name == "slow" and self.slow or None


def test_the_longest_groups_are_handed_out_first_then_the_slowest():
    items = [
        FakeItem("tests/test_data.py::a"),
        FakeItem("tests/test_book.py::a", slow=True),
        FakeItem("tests/browser/test_hub_cycle.py::a"),
        FakeItem("tests/test_private_variant.py::a"),
        FakeItem("notebooks/01-why-iid-matters.ipynb::Cell 0"),
        FakeItem("tests/test_grading.py::a"),
        FakeItem("tests/test_book.py::b", slow=True),
        FakeItem("tests/test_cheats.py::a"),
    ]
    order_by_group(items)
    assert [item.nodeid.split("::")[0] for item in items] == [
        "tests/test_cheats.py",
        "tests/test_grading.py",
        "notebooks/01-why-iid-matters.ipynb",
        "tests/test_private_variant.py",
        "tests/browser/test_hub_cycle.py",
        "tests/test_book.py",
        "tests/test_book.py",
        "tests/test_data.py",
    ]


def test_each_group_runs_on_one_worker():
    """Two files of the lectures group and two groups of one file each, run by two workers as make test runs
    them: each group's tests all on one worker."""
    files = [
        "tests/test_lecture_hygiene.py",
        "tests/test_lecture_outputs.py",
        "tests/test_links.py",
        "tests/test_kubernetes.py",
    ]
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "2", "-v", "-p", "no:cacheprovider", *files],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout[-3000:]
    workers = defaultdict(set)
    for worker, nodeid in re.findall(r"^\[(gw\d+)\] .*?(?:PASSED|FAILED|SKIPPED) (\S+)", run.stdout, re.MULTILINE):
        workers[group_of(nodeid)].add(worker)
    assert set(workers) == {LECTURES, "tests/test_links.py", "tests/test_kubernetes.py"}, run.stdout[-3000:]
    assert all(len(ran_on) == 1 for ran_on in workers.values()), dict(workers)
