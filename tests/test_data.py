"""The GP cholesterol reconstruction: the handout's numbers, the manifest, the loader's errors, determinism.

Each number the handout prints about the GP data (datasets/handout_targets.csv, with its handout line) is a
test of its own: statsmodels fits the handout's model to our file, and the result, printed the way R prints
it, must read the same.
"""

import csv
import importlib.util
import os
import platform
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
import yaml

from helpers.data import (
    GP_CHOLESTEROL_CSV,
    GP_CHOLESTEROL_MANIFEST,
    DataValidationError,
    load_gp_cholesterol,
    sha256_of,
)

ROOT = Path(__file__).resolve().parent.parent
TARGETS = list(csv.DictReader((ROOT / "datasets" / "handout_targets.csv").open()))
QUANTILES = {"Min": 0.0, "1Q": 0.25, "Median": 0.5, "3Q": 0.75, "Max": 1.0}


def r_term(name: str) -> str:
    """statsmodels' term name in R's spelling."""
    name = name.replace("Intercept", "(Intercept)")
    name = re.sub(r"C\(doctor\)\[T\.(\d+)\]", r"as.factor(doctor)\1", name)
    return re.sub(r"C\(doctor\)\[(\d+)\]", r"as.factor(doctor)\1", name)


@pytest.fixture(scope="module")
def gp():
    return load_gp_cholesterol()


@pytest.fixture(scope="module")
def fits(gp):
    grouped = gp.groupby("doctor").agg(chol_grouped=("chol", "mean"), age_grouped=("age", "mean"))
    return {
        "pooled": smf.ols("chol ~ age", gp).fit(),
        "grouped": smf.ols("chol_grouped ~ age_grouped", grouped).fit(),
        "varying_intercept": smf.ols("chol ~ C(doctor) + age", gp).fit(),
        "varying_slope": smf.ols("chol ~ age:C(doctor)", gp).fit(),
    }


def ours(fit, statistic: str, term: str) -> float:
    """The value of one printed statistic, computed by statsmodels."""
    by_term = {
        "estimate": fit.params,
        "std_error": fit.bse,
        "t_value": fit.tvalues,
        "p_value": fit.pvalues,
    }
    if statistic in by_term:
        return by_term[statistic].rename(index=r_term)[term]
    if statistic == "residual_quantile":
        return float(np.quantile(fit.resid, QUANTILES[term]))  # numpy's default is R's type 7
    return {
        "sigma": np.sqrt(fit.scale),
        "df_residual": fit.df_resid,
        "r_squared": fit.rsquared,
        "adj_r_squared": fit.rsquared_adj,
        "f_statistic": fit.fvalue,
        "f_df_model": fit.df_model,
        "f_df_residual": fit.df_resid,
        "f_p_value": fit.f_pvalue,
    }[statistic]


def prints_as(value: float, printed: str, statistic: str) -> bool:
    """Whether R's summary.lm would print ``value`` as ``printed``.

    Estimates, standard errors, t values and residual quantiles are printed to a fixed number of
    decimals; p values to 3 significant digits (4 for the F test) or as "<bound"; sigma, R² and F to
    4 significant digits with trailing zeros dropped ("0.65" is 0.6500).
    """
    if printed.startswith("<"):
        return value < float(printed[1:])
    if statistic in ("estimate", "std_error", "t_value", "residual_quantile"):
        decimals = len(printed.split(".")[1]) if "." in printed else 0
        return f"{value:.{decimals}f}" == printed
    if statistic in ("df_residual", "f_df_model", "f_df_residual", "n"):
        return int(round(value)) == int(printed) and abs(value - round(value)) < 1e-9
    significant = {"p_value": 3, "f_p_value": 4}.get(statistic, 4)
    return float(f"{value:.{significant}g}") == float(printed)


MODEL_TARGETS = [t for t in TARGETS if t["model"] not in ("table", "head")]


@pytest.mark.parametrize(
    "target", MODEL_TARGETS, ids=[f"{t['model']}-{t['statistic']}-{t['term']}" for t in MODEL_TARGETS]
)
def test_every_printed_number_of_the_handout_is_reproduced(fits, target):
    value = ours(fits[target["model"]], target["statistic"], target["term"])
    assert prints_as(value, target["printed"], target["statistic"]), (
        f"handout line {target['handout_line']}: {target['model']} {target['statistic']} {target['term']} "
        f"prints {target['printed']}, ours is {value!r} (off by {value - float(target['printed'].lstrip('<')):.3g})"
    )


def test_group_sizes_are_the_handouts(gp):
    printed = {int(t["term"]): int(t["printed"]) for t in TARGETS if t["model"] == "table"}
    assert gp["doctor"].value_counts().sort_index().to_dict() == printed


def test_first_six_rows_are_the_handouts_head(gp):
    head = {}
    for t in TARGETS:
        if t["model"] == "head":
            head.setdefault(int(t["term"]) - 1, {})[t["statistic"]] = t["printed"]
    for row, printed in head.items():
        for column, text in printed.items():
            value = gp.loc[row, column]
            # a tibble prints 3 significant digits
            assert float(f"{value:.3g}") == float(text), f"row {row + 1} {column}: {value} does not print as {text}"


def test_the_count_of_reproduced_numbers_is_what_the_docs_claim():
    documented = (ROOT / "datasets" / "gp_cholesterol.md").read_text()
    numbers = len([t for t in TARGETS if t["model"] not in ("table", "head")])
    assert f"{numbers} printed numbers" in documented


# ---------------------------------------------------------------- realism
def test_rows_are_plausible_and_distinct(gp):
    assert not gp.duplicated().any()
    assert gp["age"].between(18, 95).all() and gp["chol"].between(2.5, 11).all()
    assert np.allclose(gp["chol"] * 100, np.round(gp["chol"] * 100))
    assert gp["sex"].isin([0, 1]).all()
    assert gp.groupby("doctor")["agedoc"].nunique().eq(1).all()


def test_no_gp_has_odd_residuals(fits, gp):
    """A student plotting varying-intercept residuals per GP should see similar spreads, centred on zero."""
    residuals = fits["varying_intercept"].resid.groupby(gp["doctor"])
    assert residuals.std().between(0.35, 0.85).all(), residuals.std()
    assert residuals.mean().abs().max() < 1e-9  # each GP's intercept absorbs its mean


# ---------------------------------------------------------------- manifest
def test_manifest_describes_the_file(gp):
    manifest = yaml.safe_load(GP_CHOLESTEROL_MANIFEST.read_text())
    assert manifest["sha256"] == sha256_of(GP_CHOLESTEROL_CSV)
    assert manifest["rows"] == len(gp) and manifest["groups"] == gp["doctor"].nunique()
    assert list(manifest["columns"]) == list(gp.columns)
    for name, column in manifest["columns"].items():
        assert str(gp[name].dtype) == column["dtype"]
        low, high = column["range"]
        assert low <= gp[name].min() and gp[name].max() <= high, name
        assert column["level"] in ("patient", "GP", "grouping") and column["meaning"]
    assert "reconstruction" in manifest["description"]


# ---------------------------------------------------------------- the loader's errors
@pytest.fixture
def copy_of_data(tmp_path):
    """A writable copy of the data and manifest, and a function that rewrites the CSV and re-signs it."""
    csv_path, manifest_path = tmp_path / "gp.csv", tmp_path / "gp.yml"
    shutil.copy(GP_CHOLESTEROL_CSV, csv_path)
    shutil.copy(GP_CHOLESTEROL_MANIFEST, manifest_path)

    def rewrite(text: str, sign: bool = True):
        csv_path.write_text(text)
        if sign:  # so that the check under test, not the checksum, is what fails
            manifest = yaml.safe_load(manifest_path.read_text())
            manifest["sha256"] = sha256_of(csv_path)
            manifest_path.write_text(yaml.safe_dump(manifest, sort_keys=False, allow_unicode=True))

    return csv_path, manifest_path, rewrite


def original_lines():
    return GP_CHOLESTEROL_CSV.read_text().splitlines()


def with_field(line: int, column: int, value: str) -> str:
    """The data file's text with one field replaced (line 0 is the header)."""
    lines = original_lines()
    fields = lines[line].split(",")
    fields[column] = value
    lines[line] = ",".join(fields)
    return "\n".join(lines) + "\n"


def test_the_copy_loads(copy_of_data):
    csv_path, manifest_path, _ = copy_of_data
    pd.testing.assert_frame_equal(load_gp_cholesterol(csv_path, manifest_path), load_gp_cholesterol())


def test_missing_file(tmp_path):
    with pytest.raises(DataValidationError, match="not found"):
        load_gp_cholesterol(tmp_path / "absent.csv")


def test_missing_column(copy_of_data):
    csv_path, manifest_path, rewrite = copy_of_data
    rewrite("\n".join(",".join(line.split(",")[:-1]) for line in original_lines()) + "\n")
    with pytest.raises(DataValidationError, match=r"missing column\(s\) \['sex'\]"):
        load_gp_cholesterol(csv_path, manifest_path)


def test_extra_column(copy_of_data):
    csv_path, manifest_path, rewrite = copy_of_data
    lines = original_lines()
    rewrite("\n".join([lines[0] + ",height"] + [line + ",170" for line in lines[1:]]) + "\n")
    with pytest.raises(DataValidationError, match=r"unexpected column\(s\) \['height'\]"):
        load_gp_cholesterol(csv_path, manifest_path)


def test_wrong_row_count(copy_of_data):
    csv_path, manifest_path, rewrite = copy_of_data
    rewrite("\n".join(original_lines()[:-1]) + "\n")
    with pytest.raises(DataValidationError, match="440 rows, the manifest says 441"):
        load_gp_cholesterol(csv_path, manifest_path)


BAD_FIELDS = {
    # name: (line, column, new value, signed, expected message)
    "wrong checksum": (10, 0, "5.55", False, "checksum"),
    "non-numeric value": (5, 2, "fifty", True, r"non-numeric value 'fifty' in column 'age' \(file line 6\)"),
    "missing value": (7, 0, "", True, "missing value in column 'chol'"),
    "GP-level variable varies within a GP": (
        3,
        4,
        "56",
        True,
        r"'agedoc' is a GP-level variable but varies within doctor \[1\]",
    ),
    "value outside its range": (9, 2, "7", True, r"column 'age' has 7 outside its range"),
}


@pytest.mark.parametrize("problem", BAD_FIELDS)
def test_a_bad_field_is_named(copy_of_data, problem):
    line, column, value, signed, message = BAD_FIELDS[problem]
    csv_path, manifest_path, rewrite = copy_of_data
    assert with_field(line, column, value) != GP_CHOLESTEROL_CSV.read_text()  # the edit changes something
    rewrite(with_field(line, column, value), sign=signed)
    with pytest.raises(DataValidationError, match=message):
        load_gp_cholesterol(csv_path, manifest_path)


# ---------------------------------------------------------------- determinism
@pytest.fixture(scope="module")
def reconstruction():
    """The reconstruction script as a module."""
    spec = importlib.util.spec_from_file_location(
        "reconstruct_gp_cholesterol", ROOT / "datasets" / "reconstruct_gp_cholesterol.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


def lattice_sums(module, gp: pd.DataFrame):
    """The shipped file's sums, as the script holds them (chol in mmol/L, sums of hundredths exact)."""
    by_gp = gp.assign(chol100=(gp["chol"] * 100).round().astype(int), age2=gp["age"] ** 2)
    by_gp = by_gp.assign(cross=by_gp["age"] * by_gp["chol100"]).groupby("doctor")
    return module.Sums(
        by_gp.size().to_numpy(float),
        by_gp["age"].sum().to_numpy(float),
        by_gp["chol100"].sum().to_numpy() / 100,
        by_gp["age2"].sum().to_numpy(float),
        by_gp["cross"].sum().to_numpy() / 100,
        int((by_gp.obj["chol100"] ** 2).sum()) / 1e4,
    )


def test_the_descent_settles_on_the_shipped_sums_from_the_point_other_cpus_stopped_at(reconstruction, gp):
    """The old rebuild ended, on some CPUs, one move away from the shipped sums (GP 7's Σage·chol a
    hundredth lower, GP 11's a hundredth higher). From there the exact descent of step 2 goes to the
    shipped sums, and from the shipped sums it does not move."""
    m = reconstruction
    targets = m.read_targets()
    slope_targets = [t for t in targets if t["model"] == "varying_slope"]
    provisional = m.solve_sums(targets, np.random.default_rng(m.SEED))
    fixed = [(int(r["doctor"]) - 1, int(r["age"]), int(round(r["chol"] * 100))) for r in m.head_rows(targets)]
    first = ("pooled", "varying_intercept")
    fixed += m.choose_anchors(
        provisional, m.Lines.from_sums(provisional), m.quantile_targets(targets), fixed, first, first
    )
    shipped = lattice_sums(m, gp)
    neighbour = lattice_sums(m, gp)
    neighbour.sxy = (np.round(shipped.sxy * 100) + np.eye(12)[10] - np.eye(12)[6]) / 100
    assert m._slope_score(neighbour, slope_targets, fixed) > m._slope_score(shipped, slope_targets, fixed)
    for start in (neighbour, shipped):
        settled = m._descend(start, slope_targets, fixed)
        assert np.array_equal(np.round(settled.sxy * 100), np.round(shipped.sxy * 100))
        assert np.array_equal(settled.sxx, shipped.sxx)


# Two BLAS set-ups that differ in every way that has changed a rebuild before: another kernel (SSE-only
# Nehalem against FMA Haswell; CPUs differ, and some machines set OPENBLAS_CORETYPE) and another thread count.
BLAS_SETUPS = {
    "Haswell kernels, 1 thread": {"OPENBLAS_CORETYPE": "Haswell", "OPENBLAS_NUM_THREADS": "1"},
    "Nehalem kernels, 2 threads": {"OPENBLAS_CORETYPE": "Nehalem", "OPENBLAS_NUM_THREADS": "2"},
}


@pytest.mark.slow
@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="OpenBLAS kernel names are x86's")
def test_rebuilding_writes_the_shipped_bytes_under_any_blas(tmp_path):
    """The rebuild reproduces the shipped file byte for byte whatever BLAS kernel and thread count it gets.

    Both rebuilds run at once, each in a fresh interpreter with its own environment (OpenBLAS reads it at
    start-up).
    """
    script = ROOT / "datasets" / "reconstruct_gp_cholesterol.py"
    runs = {}
    for name, setting in BLAS_SETUPS.items():
        out = tmp_path / name.split(",")[0].replace(" ", "-")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENBLAS_", "OMP_"))} | setting
        runs[name] = (
            out,
            subprocess.Popen(
                [sys.executable, str(script), "--out", str(out)],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            ),
        )
    for name, (out, run) in runs.items():
        output = run.communicate(timeout=1800)[0]
        assert run.returncode == 0, f"{name}: {output}"
        assert (out / "gp_cholesterol.csv").read_bytes() == GP_CHOLESTEROL_CSV.read_bytes(), (
            f"{name}: the rebuild differs from the shipped datasets/gp_cholesterol.csv"
        )
        assert (out / "gp_cholesterol.yml").read_bytes() == GP_CHOLESTEROL_MANIFEST.read_bytes(), name
