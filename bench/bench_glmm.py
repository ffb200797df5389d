"""Benchmark: the random-intercept logistic model of high cholesterol (chol >= 6.2), against lme4::glmer.

Times, per fit of ``high ~ age_c`` with a random intercept per GP (441 patients / 12 GPs), with
adaptive quadrature (nAGQ = 25) and the Laplace approximation (nAGQ = 1):

- ``helpers.glmm.fit_glmer`` (its time includes the standard errors, the conditional modes and
  the checks of the maximum);
- ``lme4::glmer`` at its default settings, timed inside R (bench/bench_glmm.R) so that R's
  start-up is excluded.

Every side reports the best of a few rounds of repeated fits; ratios to glmer are printed from
this one run. Asserts nothing. Run: ``.venv/bin/python bench/bench_glmm.py``.
"""

from __future__ import annotations

from bench_mixed import REPS, ROUNDS, per_fit, r_per_fit

from helpers.data import GP_CHOLESTEROL_CSV, load_gp_cholesterol
from helpers.glmm import fit_glmer


def main() -> None:
    data = load_gp_cholesterol()
    data = data.assign(high=(data["chol"] >= 6.2).astype(int), age_c=data["age"] - data["age"].mean())
    print("random-intercept logistic model, high ~ age_c, 441 patients / 12 GPs (seconds per fit)")
    for nagq in (25, 1):
        ours = per_fit(lambda: fit_glmer("high ~ age_c", data, "doctor", nagq=nagq))
        glmer = r_per_fit("bench_glmm.R", GP_CHOLESTEROL_CSV, nagq, REPS, ROUNDS)
        ratio = "" if glmer is None else f"   {ours / glmer:6.1f} x glmer"
        print(f"  helpers.glmm.fit_glmer, nagq={nagq:<2d}   {ours * 1e3:8.1f} ms{ratio}")
        print(
            f"  lme4::glmer, nAGQ={nagq:<2d}             "
            + ("(Rscript not found)" if glmer is None else f"{glmer * 1e3:8.1f} ms")
        )


if __name__ == "__main__":
    main()
