"""Hooks for every folder pytest is given, notebooks/ included: each notebook's code cells are tests
(tests/lecture_outputs.py). The suite's other hooks are in tests/conftest.py."""

import os

# One BLAS thread per process, set before anything loads numpy, so that the xdist workers, the kernels and
# the graders they start inherit it. The suite keeps both cores busy with processes of its own: an OpenBLAS
# pool of two threads in each would wait on threads the other processes hold (measured: a lecture notebook beside
# two busy processes took 1.6 times as long with two threads as with one; alone, the same with either). Numbers
# agree under either count to rounding (tests/test_data.py rebuilds the data's very bytes under both).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

pytest_plugins = ["tests.lecture_outputs"]
