"""Benchmark: helpers.boundary.bootstrap_lrt against R on the same machine in the same run.

The parametric bootstrap of the random-slope-vs-random-intercept LRT on the GP data
(centred age), 1000 replicates (``BOOTSTRAP_REPLICATES=n`` to change): ours by REML
and by ML, R's lme4 loop of fresh REML fits and pbkrtest's ``PBmodcomp`` (ML). Each
side is timed once, wall clock, inside its own process (R's start-up excluded). Prints
seconds and the ratio R / ours; asserts nothing.
Run: ``make bench`` (or ``.venv/bin/python bench/bench_bootstrap.py``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import warnings
from pathlib import Path

import statsmodels.formula.api as smf

from helpers.boundary import bootstrap_lrt
from helpers.data import GP_CHOLESTEROL_CSV, load_gp_cholesterol

ROOT = Path(__file__).resolve().parent.parent

REPLICATES = int(os.environ.get("BOOTSTRAP_REPLICATES", "1000"))


def ours(reml: bool) -> float:
    gp = load_gp_cholesterol().assign(age_c=lambda d: d["age"] - d["age"].mean())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ri = smf.mixedlm("chol ~ age_c", gp, groups="doctor").fit(reml=reml)
        rs = smf.mixedlm("chol ~ age_c", gp, groups="doctor", re_formula="~ age_c").fit(
            reml=reml, method=["lbfgs", "powell"]
        )
    start = time.perf_counter()
    bootstrap_lrt(ri, rs, REPLICATES, seed=1, progress=False)
    return time.perf_counter() - start


def r_seconds() -> tuple[float, float] | None:
    if shutil.which("Rscript") is None:
        return None
    run = subprocess.run(
        ["Rscript", str(ROOT / "bench" / "bench_bootstrap.R"), str(GP_CHOLESTEROL_CSV), str(REPLICATES)],
        capture_output=True,
        text=True,
        check=True,
    )
    loop, pbmodcomp = map(float, run.stdout.split())
    return loop, pbmodcomp


def main() -> None:
    reml, ml = ours(True), ours(False)
    print(
        f"parametric bootstrap, random slope vs random intercept, GP data, {REPLICATES} replicates "
        f"(seconds, wall clock, {os.cpu_count()} cores)"
    )
    print(f"  helpers.boundary.bootstrap_lrt, REML  {reml:8.2f} s")
    print(f"  helpers.boundary.bootstrap_lrt, ML    {ml:8.2f} s")
    r = r_seconds()
    if r is None:
        print("  R                                     (Rscript not found)")
        return
    loop, pbmodcomp = r
    print(f"  R lme4 loop of fresh fits, REML       {loop:8.2f} s")
    print(f"  R pbkrtest::PBmodcomp, ML             {pbmodcomp:8.2f} s")
    print(f"  ratio R / ours, REML                  {loop / reml:8.1f}   (goal: above 1)")
    print(f"  ratio R / ours, ML (PBmodcomp)        {pbmodcomp / ml:8.1f}   (goal: above 1)")


if __name__ == "__main__":
    main()
