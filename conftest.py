"""Hooks for every folder pytest is given, notebooks/ included: each notebook's code cells are tests
(tests/lecture_outputs.py). The suite's other hooks are in tests/conftest.py."""

pytest_plugins = ["tests.lecture_outputs"]
