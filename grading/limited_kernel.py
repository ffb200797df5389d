"""An IPython kernel with a memory ceiling and without statsmodels' convergence chatter.

nbgrader starts this instead of ``python -m ipykernel_launcher`` when the course's
``nbgrader_config.py`` sets ``ExecutePreprocessor.kernel_manager_class`` to
:class:`grading.nbgrader_plugins.LimitedKernelManager`; run by hand it is

    python -m grading.limited_kernel --memory-mb 3072 -f CONNECTION_FILE

The ceiling is ``RLIMIT_AS`` (address space, POSIX only): a submission that
allocates beyond it gets a ``MemoryError`` in the offending cell, and the
rest of the notebook, and every other student's, is graded as usual.
"""

from __future__ import annotations

import sys
import warnings


def apply_limits(memory_mb: int | None) -> None:
    """Cap this process's address space at ``memory_mb`` MiB (None or 0: leave it)."""
    if not memory_mb:
        return
    import resource

    limit = int(memory_mb) * 2**20
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def quiet_convergence_warnings() -> None:
    """Ignore statsmodels' ConvergenceWarning: noise in graded output, not a student's error."""
    from statsmodels.tools.sm_exceptions import ConvergenceWarning

    warnings.filterwarnings("ignore", category=ConvergenceWarning)


def main(argv: list[str]) -> None:
    memory_mb = None
    if argv[:1] == ["--memory-mb"]:
        if len(argv) < 2 or not argv[1].isdigit():
            sys.exit("grading.limited_kernel: --memory-mb needs a whole number of MiB")
        memory_mb, argv = int(argv[1]), argv[2:]
    quiet_convergence_warnings()
    apply_limits(memory_mb)
    from ipykernel.kernelapp import launch_new_instance

    sys.argv = ["ipykernel_launcher", *argv]
    launch_new_instance()


if __name__ == "__main__":
    main(sys.argv[1:])
