"""What every lecture's stored notebook must be: one clean run, teaching only, a version stamp at the end."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat


def assert_teaching_not_verification(path: Path) -> None:
    """Execution counts 1, 2, 3, ...; no assert cells, no reads of tests/, no stderr or errors stored;
    clean metadata; the last code cell stamps the versions of python, numpy, pandas and statsmodels."""
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert [c.execution_count for c in code] == list(range(1, len(code) + 1)), "not one clean top-to-bottom run"
    for cell in code:
        assert not re.search(r"^\s*assert\b", cell.source, re.M), f"an assert cell: {cell.source[:80]!r}"
        assert "tests/" not in cell.source, f"a lecture reads test data: {cell.source[:80]!r}"
        for output in cell.outputs:
            assert not (output.output_type == "stream" and output.name == "stderr"), \
                f"stderr stored in a student's view: {cell.source[:80]!r}"
            assert output.output_type != "error", f"an error stored: {cell.source[:80]!r}"
    assert set(nb.metadata) == {"kernelspec", "language_info"}
    assert all(name in code[-1].source for name in ("python", "numpy", "pandas", "statsmodels")), "no version stamp"
