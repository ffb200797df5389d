"""A progress bar for long computations that leaves nothing behind in a notebook.

A student running a bootstrap wants to see it move; a stored notebook (and the test
that compares outputs) must not keep a bar's stderr lines, whose timings change
on every run. :func:`progress_bar` draws a tqdm bar on stderr while the work runs
and, inside a Jupyter kernel, clears the cell's output when the work ends, so the
stored cell holds only what comes after (call it in a cell of its own: earlier
output of the same cell is cleared too). Outside Jupyter the bar stays, as usual.

A rerun that ignores clear-output messages (as nbval's did) would still see the
bar's stderr: the lectures tag such a cell ``nbval-ignore-output`` (it stores nothing
to compare) and show its result in the next cell.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from tqdm import tqdm

__all__ = ["progress_bar"]


def _in_jupyter_kernel() -> bool:
    shell = sys.modules.get("IPython")
    if shell is None:
        return False
    ipython = shell.get_ipython()
    return ipython is not None and hasattr(ipython, "kernel")


@contextmanager
def progress_bar(total: int, desc: str, enabled: bool = True) -> Iterator[tqdm]:
    """``with progress_bar(1000, "bootstrap") as bar: ... bar.update(100)``; nothing is drawn if not enabled."""
    bar = tqdm(
        total=total,
        desc=desc,
        unit="replicate",
        file=sys.stderr,
        disable=not enabled,
        bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}]",
    )
    try:
        yield bar
    finally:
        bar.close()
        if enabled and _in_jupyter_kernel():
            from IPython.display import clear_output  # noqa: PLC0415  (IPython is present in a kernel)

            clear_output()
