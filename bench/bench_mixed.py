"""Benchmark: fit_lme against nlme::lme (and plain statsmodels) on the random-slope model.

Prints seconds per fit and the ratio to nlme; asserts nothing. The goal is fit_lme
within 2x of nlme. R is timed inside R (bench/bench_mixed.R) so its start-up is
excluded; every side reports the best of a few rounds of repeated fits.
Run: ``make bench`` (or ``.venv/bin/python bench/bench_mixed.py``).
"""

from __future__ import annotations

import shutil
import subprocess
import time
import warnings
from pathlib import Path

import statsmodels.formula.api as smf

from helpers.data import GP_CHOLESTEROL_CSV, load_gp_cholesterol
from helpers.mixed import fit_lme

ROOT = Path(__file__).resolve().parent.parent

REPS, ROUNDS = 20, 3


def per_fit(fit) -> float:
    fit()
    best = float("inf")
    for _ in range(ROUNDS):
        start = time.perf_counter()
        for _ in range(REPS):
            fit()
        best = min(best, time.perf_counter() - start)
    return best / REPS


def nlme_per_fit() -> float | None:
    if shutil.which("Rscript") is None:
        return None
    run = subprocess.run(["Rscript", str(ROOT / "bench" / "bench_mixed.R"), str(GP_CHOLESTEROL_CSV), str(REPS),
                          str(ROUNDS)], capture_output=True, text=True, check=True)
    return float(run.stdout.split()[-1])


def main() -> None:
    data = load_gp_cholesterol()
    ours = per_fit(lambda: fit_lme(data, "chol ~ age", "~ 1 + age", "doctor"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain = per_fit(lambda: smf.mixedlm("chol ~ age", data, groups="doctor", re_formula="~age").fit())
    nlme = nlme_per_fit()
    print("random intercept and slope, chol ~ age, REML, 441 patients / 12 GPs (seconds per fit)")
    print(f"  helpers.mixed.fit_lme           {ours * 1e3:8.2f} ms")
    print(f"  statsmodels mixedlm().fit()     {plain * 1e3:8.2f} ms  (does not reach nlme's optimum)")
    if nlme is None:
        print("  nlme::lme                       (Rscript not found)")
        return
    print(f"  nlme::lme                       {nlme * 1e3:8.2f} ms")
    print(f"  ratio fit_lme / nlme            {ours / nlme:8.2f}   (goal: at most 2)")


if __name__ == "__main__":
    main()
