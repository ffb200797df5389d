"""The course's grading machinery, apart from what notebooks import (that is :mod:`helpers`).

- ``grading/course/``: the nbgrader course root (configuration, assignments, timeouts); course material only.
- :mod:`grading.nbgrader_plugins`: the nbgrader preprocessors and kernel manager that the course's
  ``nbgrader_config.py`` names.
- :mod:`grading.limited_kernel`: an IPython kernel with a memory ceiling, for grading without the sandbox.
- :mod:`grading.timeouts`: per-assignment cell timeouts, measured from the instructor notebooks.
- :mod:`grading.sandbox`, :mod:`grading.parallel`: the grading sandbox and the whole-class engine.

Command line: ``python -m grading --help``.
"""

from pathlib import Path

COURSE_ROOT = Path(__file__).resolve().parent / "course"
