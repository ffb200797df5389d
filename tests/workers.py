"""How pytest-xdist shares the suite between its two workers (pyproject.toml: ``-n 2``; ``-n 0`` for one process).

A worker runs a group of tests whole, so that what the group's tests share is made once: a test file is a group
(its module fixtures); the lecture notebooks and the test files that read a lecture's values are one group (each
lecture runs once, in the kernel tests/lecture_values.py keeps); the browser tests are one group (one Chromium).
The grading test files run side by side as make grade's workers do, claiming the lowest free sandbox slots; the
tests that look at what a slot's user runs use a slot of their own (tests/test_sandbox.py's OWN_SLOT). The groups
are handed out in order, the longest first, so that a long group does not start last while the other worker has
nothing left to do.

pytest-xdist's own groups (``--dist loadgroup``, an ``xdist_group`` mark) rename each test, which pytest 9.2 no
longer allows: 3.8.0 then groups nothing, silently. So the conftest gives xdist a scheduler of its own through
xdist's hook ``pytest_xdist_make_scheduler``: xdist's scheduler by scope, with this module's groups as the scopes.
It overrides ``LoadScopeScheduling._split_scope``, a private method; tests/test_workers.py fails the day it changes.
"""

from __future__ import annotations

from xdist.scheduler import LoadScopeScheduling

LECTURES, BROWSER = "lectures", "browser"
# The test files that read a lecture's values (tests/lecture_values.py); tests/test_workers.py checks the list.
LECTURE_READERS = ("tests/test_lecture", "tests/test_r_blocks.py")


def group_of(nodeid: str) -> str:
    """The group of a test, from its id (its path from the repository's root, then ``::`` and its name)."""
    path = nodeid.split("::")[0]
    if path.startswith("notebooks/") or path.startswith(LECTURE_READERS):
        return LECTURES
    if path.startswith("tests/browser/"):
        return BROWSER
    return path


class GroupScheduling(LoadScopeScheduling):
    """xdist's scheduler by scope, a scope being a group of :func:`group_of`."""

    def _split_scope(self, nodeid: str) -> str:
        return group_of(nodeid)


# The longest groups, longest first, as make test on a two-core machine measures them: handed out before the
# others, so that none starts when the other worker is nearly done.
LONGEST = ("tests/test_cheats.py", "tests/test_grading.py", LECTURES, "tests/test_private_variant.py", BROWSER)


def order_by_group(items: list) -> None:
    """Put the items group by group: the LONGEST groups, then those with the most slow tests (else in the order
    of collection). Each worker collects the whole suite, and the scheduler hands the groups out in this order."""
    groups: dict[str, list] = {}
    for item in items:
        groups.setdefault(group_of(item.nodeid), []).append(item)
    slow = {group: sum(bool(item.get_closest_marker("slow")) for item in members) for group, members in groups.items()}
    rank = {group: LONGEST.index(group) if group in LONGEST else len(LONGEST) for group in groups}
    order = sorted(groups, key=lambda group: (rank[group], -slow[group]))  # stable: ties keep collection order
    items[:] = [item for group in order for item in groups[group]]
