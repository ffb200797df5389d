"""Hooks of the whole suite: markers by folder (the notebooks and browser tests are slow), and what a test
marked needs_r, needs_chromium or needs_root does without R, Chromium or root (tests/prerequisites.py);
fixtures that tests of several files use.

Markers are registered in pyproject.toml. ``pytest -m "not slow"`` gives a developer a quick answer;
``make test`` (and CI) runs everything.
"""

import os
import sys
from pathlib import Path

import pytest
from prerequisites import check_prerequisites, mark_whole_folders
from workers import GroupScheduling, order_by_group


def pytest_collection_modifyitems(items):
    mark_whole_folders(items)
    order_by_group(items)


def pytest_xdist_make_scheduler(config, log):
    return GroupScheduling(config, log)


def pytest_runtest_setup(item):
    check_prerequisites(item)


@pytest.fixture
def alembic_on_path(monkeypatch):
    """nbgrader's Gradebook runs the environment's `alembic`."""
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
