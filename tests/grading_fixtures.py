"""Fixture submissions for the grading tests, generated from the released and instructor notebooks.

Each fixture is a function named for what the student did wrong. It takes the
released notebook and the instructor's version and returns what the student
hands in (a notebook, or raw text for a file that is not valid JSON) plus the
file name; :data:`EXPECTED` says which autograded test cells it must lose, or
that nbgrader must record a failure. Building them from the current notebooks
keeps them in step with the assignments.
"""

from __future__ import annotations

import copy
import re

import nbformat

SOLUTION_MARKERS = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[ \t]*\n?", re.M)
FAILED = "recorded failure"
ALL = "every autograded test cell"


def grade_id(cell) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def auto_points(source_nb) -> dict[str, float]:
    """Points of each autograded cell (a locked grade cell that is not a written answer)."""
    out = {}
    for cell in source_nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade") and not meta.get("solution"):
            out[meta["grade_id"]] = float(meta["points"])
    return out


def manual_points(source_nb) -> dict[str, float]:
    return {
        c.metadata.nbgrader["grade_id"]: float(c.metadata.nbgrader["points"])
        for c in source_nb.cells
        if c.metadata.get("nbgrader", {}).get("grade") and c.metadata.nbgrader.get("solution")
    }


def _cell(nb, gid):
    return next(c for c in nb.cells if grade_id(c) == gid)


def with_solutions(release_nb, source_nb):
    """The release with every answer cell filled in from the instructor's version, as a student would."""
    nb = copy.deepcopy(release_nb)
    answers = {
        grade_id(c): SOLUTION_MARKERS.sub("", c.source)
        for c in source_nb.cells
        if c.metadata.get("nbgrader", {}).get("solution")
    }
    for cell in nb.cells:
        if grade_id(cell) in answers:
            cell.source = answers[grade_id(cell)]
    return nb


def _replace(nb, gid, old, new):
    cell = _cell(nb, gid)
    if old not in cell.source:
        raise KeyError(f"fixture out of date: {old!r} not in cell {gid}")
    cell.source = cell.source.replace(old, new)


# ----------------------------------------------------------------------------- partly right, per assignment
# Per assignment: edits (answer cell, text, replacement) that make common mistakes, and the test cells
# they must lose. Each mistake passes the visible tests and is caught by a hidden one.
PARTLY_RIGHT = {
    "structure_and_pooling": (
        [
            ("q2_pooled", 'pooled_se = pooled.bse["age"]', 'pooled_se = pooled.bse["age"] ** 2'),
            ("q3_separate", '"slope_se": fit.bse[x]', '"slope_se": fit.mse_resid ** 0.5'),
            ("q5_simulation", '"sd_slope": float(np.std(slopes, ddof=1))', '"sd_slope": float(np.mean(ses))'),
            (
                "q6_multiple",
                'p_bonferroni = pd.Series(multipletests(slope_p, method="bonferroni")[1], index=separate.index)',
                "p_bonferroni = slope_p * 12",
            ),
        ],
        ["q2_pooled_se_test", "q3_separate_test", "q5_simulation_test", "q6_multiple_test"],
    ),
    "group_level_and_fixed_effects": (
        [
            ("q3_ivw", "w = 1 / s**2", "w = 1 / s"),
            ("q3_ivw", "1 / np.sqrt(np.sum(w))", "1 / np.sqrt(np.sum(w**2))"),
            (
                "q5_fixed",
                'fe_slopes = pd.Series(varying_slope.params.drop("Intercept").to_numpy()',
                'fe_slopes = pd.Series([np.polyfit(p["age"], p["chol"], 1)[0] for _, p in gp.groupby("doctor")]',
            ),
            (
                "q8_wls",
                'weights = summaries["n"] / summaries["var"]',
                'weights = np.sqrt(summaries["n"] / summaries["var"])',
            ),
        ],
        ["q3_ivw_test", "q4_ivw_gp_test", "q5_fixed_slopes_test", "q8_wls_test"],
    ),
    "random_intercepts": (
        [
            (
                "q3_factor",
                "return sd_group**2 / (sd_group**2 + sd_resid**2 / n)",
                "return sd_group / (sd_group + sd_resid / n)",
            ),
            (
                "q6_transfer",
                'school_icc_true = schools.truth["school_sd"] ** 2 / (schools.truth["school_sd"] ** 2 '
                '+ schools.truth["residual_sd"] ** 2)',
                'school_icc_true = schools.truth["school_sd"] / (schools.truth["school_sd"] '
                '+ schools.truth["residual_sd"])',
            ),
            (
                "q7_within_between",
                'within_slope, between_slope = within_between.fe_params[["age_within", "age_gp_c"]]',
                'within_slope = within_between.fe_params["age_within"]\n'
                'between_slope = smf.mixedlm("chol ~ age_c + age_gp_c", gp, groups="doctor").fit()'
                '.fe_params["age_gp_c"]',
            ),
            (
                "q8_confounded",
                'school_within_slope = smf.ols("score ~ C(school) + hours", data=pupils).fit().params["hours"]',
                'school_within_slope = smf.ols("score ~ hours", data=pupils).fit().params["hours"]',
            ),
            # the SD of the BLUPs for sd_gp: Question 2's ICC, computed from it, is lost too
            (
                "q1_fit",
                "sd_gp, sd_resid = np.sqrt(ri.cov_re.iloc[0, 0]), np.sqrt(ri.scale)",
                "sd_gp, sd_resid = pd.Series({k: e.iloc[0] for k, e in ri.random_effects.items()}).std(), "
                "np.sqrt(ri.scale)",
            ),
        ],
        [
            "q1_variance_test",
            "q2_icc_test",
            "q3_factor_test",
            "q4_shrink_test",
            "q6_transfer_test",
            "q7_within_between_test",
            "q8_confounded_test",
        ],
    ),
    "random_slopes_and_comparison": (
        [
            (
                "q3_lrt",
                "p_boundary = 0.5 * stats.chi2.sf(lrt_stat, 1) + 0.5 * stats.chi2.sf(lrt_stat, 2)",
                "p_boundary = 0.5 * stats.chi2.sf(lrt_stat, 2)",
            ),
            (
                "q5_aic",
                'aic_ml = pd.Series({"intercept": ri_ml.aic, "slope": rs_ml.aic, "agedoc": agedoc_ml.aic})',
                'aic_ml = pd.Series({"intercept": nlme_summary(ri).aic, "slope": nlme_summary(rs).aic, "agedoc": '
                'nlme_summary(smf.mixedlm("chol ~ age_c + agedoc", gp, groups="doctor").fit()).aic})',
            ),
            (
                "q8_small_sample",
                'age_ci_kr = [kr.loc["age_c", "ci_low"], kr.loc["age_c", "ci_high"]]',
                'age_ci_kr = list(kr.loc["age_c", "estimate"] + np.array([-1.96, 1.96]) '
                '* kr.loc["age_c", "std_error"])',
            ),
            (
                "q2_slope",
                "rs_corr = rs.cov_re.iloc[0, 1] / np.sqrt(rs.cov_re.iloc[0, 0] * rs.cov_re.iloc[1, 1])",
                "rs_corr = pd.DataFrame(rs.random_effects).T.corr().iloc[0, 1]",
            ),
        ],
        ["q2_slope_test", "q3_lrt_test", "q5_aic_test", "q8_small_sample_test"],
    ),
    "multilevel_and_checking": (
        [
            ("q1_lrt", "p_naive = stats.chi2.sf(lrt_stat, 1)", "p_naive = stats.chi2.sf(lrt_stat, 2)"),
            (
                "q2_simulated",
                "p_boot, p_boot_se = boot.p_value, boot.mc_se",
                "p_boot, p_boot_se = boot.p_value, boot.mc_se ** 2",
            ),
            ("q5_icc", "icc_school = var_school / total", "icc_school = var_school / (var_school + var_pupil)"),
            (
                "q7_league",
                '"cond_sd": {k: np.sqrt(cov.loc["school", "school"]) for k, cov in '
                "three_level.random_effects_cov.items()},",
                '"cond_sd": {k: np.sqrt(three_level.cov_re.iloc[0, 0]) for k in three_level.random_effects},',
            ),
        ],
        ["q1_lrt_test", "q2_simulated_test", "q5_icc_test", "q7_league_test"],
    ),
    "binary_outcomes": (
        [
            (
                "q1_pooled",
                'robust_se = pooled.params["age_c"], pooled.bse["age_c"], robust.bse["age_c"]',
                'robust_se = pooled.params["age_c"], pooled.bse["age_c"], pooled.bse["age_c"]',
            ),
            (
                "q2_gee",
                'gee_slope, gee_se = gee.params["age_c"], gee.bse["age_c"]',
                'gee_slope, gee_se = gee.params["age_c"], gee.model.fit(cov_type="naive").bse["age_c"]',
            ),
            (
                "q3_glmm",
                'ri = fit_glmer("high ~ age_c", gp, groups="doctor", nagq=25)',
                'ri = fit_glmer("high ~ age_c", gp, groups="doctor", nagq=1)',
            ),
            (
                "q4_transfer",
                'cond_or_hat = np.exp(trial_glmm.fixed.loc["treated", "estimate"])',
                'cond_or_hat = np.exp(smf.logit("event ~ treated", trial.data).fit(disp=0).params["treated"])',
            ),
            (
                "q7_gee_ar1",
                "cov_struct=sm.cov_struct.Autoregressive(grid=True)).fit()",
                "cov_struct=sm.cov_struct.Exchangeable()).fit()",
            ),
        ],
        ["q1_pooled_test", "q2_gee_test", "q3_glmm_test", "q4_transfer_test", "q7_gee_ar1_test"],
    ),
}


def partly_right(release_nb, source_nb, assignment):
    nb = with_solutions(release_nb, source_nb)
    edits, lost = PARTLY_RIGHT[assignment]
    for gid, old, new in edits:
        _replace(nb, gid, old, new)
    return nb, list(lost)


# ----------------------------------------------------------------------------- faults (first assignment)


def deleted_grade_cell(nb):
    """Deletes the locked test cell of Question 1: nbgrader puts it back and grades it."""
    nb.cells = [c for c in nb.cells if grade_id(c) != "q1_sizes_test"]
    return []


def duplicated_cell(nb):
    """Copies a test cell: the copy loses its grade id, the original is graded once."""
    i = next(i for i, c in enumerate(nb.cells) if grade_id(c) == "q3_separate_test")
    twin = copy.deepcopy(nb.cells[i])
    twin.id = f"{twin.id}-copy"
    nb.cells.insert(i + 1, twin)
    return []


def code_cell_to_markdown(nb):
    """Turns the answer cell of Question 2 into markdown: nbgrader turns it back into code."""
    cell = _cell(nb, "q2_pooled")
    cell.cell_type = "markdown"
    for key in ("outputs", "execution_count"):
        cell.pop(key, None)
    return []


def edited_locked_test(nb):
    """Answers Question 1 in the wrong order and guts its test: the test is restored and fails."""
    _replace(
        nb, "q1_sizes", 'gp_sizes = gp["doctor"].value_counts().sort_index()', 'gp_sizes = gp["doctor"].value_counts()'
    )
    _cell(nb, "q1_sizes_test").source = "# this test is fine\npass"
    return ["q1_sizes_test"]


def infinite_loop(nb):
    """Never finishes Question 3: the cell times out, the rest is graded (Question 6, which reads its table
    `separate`, finds no answer). It sleeps rather than spins: the cell's time limit stops either, and a spin would
    hold a core of the test machine until then."""
    _cell(nb, "q3_separate").source = "import time\n\nwhile True:\n    time.sleep(1)"
    return ["q3_separate_test", "q6_multiple_test"]


def memory_hog(nb):
    """Asks in Question 1 for 8 GiB, more than the sandbox's ceiling: the allocation fails with MemoryError, the rest
    is graded."""
    # np.empty reserves address space without touching it: the ceiling (RLIMIT_AS) refuses it at once. One request,
    # so that nothing of it is left: a loop of smaller ones leaves what it got held by the traceback IPython keeps,
    # and the room that leaves later cells depends on the kernel's own size, which varies with the machine (with one
    # BLAS thread one more chunk fitted, and the kernel died at Question 3).
    _cell(nb, "q1_sizes").source = "def hog():\n    return np.empty(2**30)\n\nhog()"
    return ["q1_sizes_test"]


def stripped_metadata(nb):
    """Removes the nbgrader metadata of every cell (e.g. copied into a new notebook)."""
    for cell in nb.cells:
        cell.metadata.pop("nbgrader", None)
    return FAILED


FAULTS = [
    deleted_grade_cell,
    duplicated_cell,
    code_cell_to_markdown,
    edited_locked_test,
    infinite_loop,
    memory_hog,
    stripped_metadata,
]
# Students whose file is not a readable notebook of the expected name.
INVALID_JSON, MISNAMED = "invalid_json", "misnamed_notebook"
# A misnamed notebook fails too: nbgrader 0.9.6 stops at "No notebooks found" before it
# would score the missing notebook zero. (The instructor renames the file and autogrades again.)
EXPECTED_FILE_FAULTS = {INVALID_JSON: FAILED, MISNAMED: FAILED}


def write_submission(folder, notebook_name, release_nb, source_nb, assignment, fault_assignment) -> dict:
    """Write every student's submission of ``assignment`` under ``folder`` (the course's submitted/).

    Returns ``{student: lost}`` where lost is a list of test cells that must score zero,
    :data:`ALL`, or :data:`FAILED`.
    """
    expected = {}

    def save(student, nb=None, name=notebook_name, text=None):
        path = folder / student / assignment / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text if text is not None else nbformat.writes(nb))

    save("solution", with_solutions(release_nb, source_nb))
    expected["solution"] = []
    save("untouched", release_nb)
    expected["untouched"] = ALL
    nb, expected["partly_right"] = partly_right(release_nb, source_nb, assignment)
    save("partly_right", nb)
    if assignment != fault_assignment:
        return expected
    for fault in FAULTS:
        nb = with_solutions(release_nb, source_nb)
        expected[fault.__name__] = fault(nb)
        save(fault.__name__, nb)
    good = nbformat.writes(with_solutions(release_nb, source_nb))
    save(INVALID_JSON, text=good[: len(good) // 2])
    save(MISNAMED, with_solutions(release_nb, source_nb), name=notebook_name.replace(".ipynb", " (1).ipynb"))
    expected.update(EXPECTED_FILE_FAULTS)
    return expected
