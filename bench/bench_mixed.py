"""Benchmark: the random-slope model fitted as the lectures fit it, against nlme::lme.

Times, per fit of ``chol ~ age_c`` with a random intercept and slope (REML, 441 patients / 12 GPs):

- statsmodels ``smf.mixedlm(...).fit()`` alone;
- the same followed by the helpers a lecture calls, ``check_fit`` and ``nlme_summary``
  (which refit with the verified optimiser to prove the optimum);
- ``nlme::lme``, timed inside R (bench/bench_mixed.R) so that R's start-up is excluded.

Every side reports the best of a few rounds of repeated fits; ratios to nlme are printed from
this one run. Asserts nothing. Run: ``make bench`` (or ``.venv/bin/python bench/bench_mixed.py``).
"""

from __future__ import annotations

import shutil
import subprocess
import time
import warnings
from pathlib import Path

import statsmodels.formula.api as smf

from helpers.data import GP_CHOLESTEROL_CSV, load_gp_cholesterol
from helpers.mixed import check_fit, nlme_summary

ROOT = Path(__file__).resolve().parent.parent

REPS, ROUNDS = 10, 3


def per_fit(fit) -> float:
    fit()
    best = float("inf")
    for _ in range(ROUNDS):
        start = time.perf_counter()
        for _ in range(REPS):
            fit()
        best = min(best, time.perf_counter() - start)
    return best / REPS


def r_per_fit(script: str, *arguments) -> float | None:
    """Seconds per fit that an R script of bench/ reports as its last word (None without Rscript)."""
    if shutil.which("Rscript") is None:
        return None
    run = subprocess.run(
        ["Rscript", str(ROOT / "bench" / script), *map(str, arguments)], capture_output=True, text=True, check=True
    )
    return float(run.stdout.split()[-1])


def main() -> None:
    data = load_gp_cholesterol()
    data["age_c"] = data["age"] - data["age"].mean()

    def statsmodels_fit():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # its boundary heuristic on the slope variance
            return smf.mixedlm("chol ~ age_c", data, groups="doctor", re_formula="~ age_c").fit()

    def with_helpers():
        result = statsmodels_fit()
        check_fit(result)
        return nlme_summary(result)

    timings = {
        "statsmodels mixedlm().fit()": per_fit(statsmodels_fit),
        "  + check_fit + nlme_summary": per_fit(with_helpers),
    }
    nlme = r_per_fit("bench_mixed.R", GP_CHOLESTEROL_CSV, REPS, ROUNDS)
    print("random intercept and slope, chol ~ age_c, REML, 441 patients / 12 GPs (seconds per fit)")
    for name, seconds in timings.items():
        ratio = "" if nlme is None else f"   {seconds / nlme:6.1f} x nlme"
        print(f"  {name:32s} {seconds * 1e3:8.1f} ms{ratio}")
    print("  nlme::lme                        " + ("(Rscript not found)" if nlme is None else f"{nlme * 1e3:8.1f} ms"))


if __name__ == "__main__":
    main()
