"""The course's grading machinery, apart from what notebooks import (that is :mod:`helpers`).

- ``grading/course/``: the nbgrader course root (configuration, assignments, timeouts); course material only.
- :mod:`grading.nbgrader_plugins`: the nbgrader preprocessors, collect and autograde hook that the course's
  ``nbgrader_config.py`` names; :mod:`grading.nofollow`: a student's folder read without following a link.
- :mod:`grading.autograde`: the autograde step (student code in the sandbox, tests outside it), with
  :mod:`grading.judge` (the tests run on the student's answers) and :mod:`grading.plain` (the answers' format).
- :mod:`grading.sandbox` (with :mod:`grading.sandbox_init`): the kernel managers and provisioners that run student
  code for grading, sandboxed or not; :mod:`grading.limits`: every limit on them, in one place.
- :mod:`grading.timeouts`: per-assignment cell timeouts, measured from the instructor notebooks.
- :mod:`grading.private`: a private copy of the course whose every autograded number differs from this one's.
- :mod:`grading.parallel`: the whole-class engine.

Command line: ``python -m grading --help``.
"""

from pathlib import Path

COURSE_ROOT = Path(__file__).resolve().parent / "course"
