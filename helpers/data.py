"""The course's data: the one module that knows where the data files live.

Every notebook, exercise and test loads the GP cholesterol data through
:func:`load_gp_cholesterol`, which checks the file against its manifest
(``datasets/gp_cholesterol.yml``) before handing back a typed DataFrame.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import statsmodels
import yaml

# The repository keeps the data beside the package; the students' wheel (`make student`) carries it inside.
_PACKAGE_DIR = Path(__file__).resolve().parent
_INSIDE = _PACKAGE_DIR / "datasets"
DATASETS_DIR = _INSIDE if _INSIDE.is_dir() else _PACKAGE_DIR.parent / "datasets"
GP_CHOLESTEROL_CSV = DATASETS_DIR / "gp_cholesterol.csv"
GP_CHOLESTEROL_MANIFEST = DATASETS_DIR / "gp_cholesterol.yml"
# statsmodels ships the pig data only with its own tests (it has no statsmodels.datasets.dietox);
# tests/test_mixed.py::test_dietox_copy_matches_statsmodels fails the day this file moves.
DIETOX_CSV = Path(statsmodels.__file__).parent / "regression" / "tests" / "results" / "dietox.csv"


class DataValidationError(ValueError):
    """The data file does not match its manifest; the message names the problem."""


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def read_manifest(manifest: Path = GP_CHOLESTEROL_MANIFEST) -> dict:
    """The manifest as a dict (columns in file order)."""
    manifest = Path(manifest)
    if not manifest.is_file():
        raise DataValidationError(f"manifest not found: {manifest}")
    return yaml.safe_load(manifest.read_text())


def load_gp_cholesterol(
    path: Path | str = GP_CHOLESTEROL_CSV, manifest: Path | str = GP_CHOLESTEROL_MANIFEST, resample: int | None = None
) -> pd.DataFrame:
    """Load the GP cholesterol data (441 patients of 12 GPs), checked against its manifest.

    The R equivalent is ``read.csv("datasets/gp_cholesterol.csv")``. Raises
    :class:`DataValidationError` for a missing file, missing or extra columns,
    non-numeric or missing values, values outside the documented ranges, a GP whose
    ``agedoc`` varies, a wrong row count or a checksum that differs from the manifest.

    ``resample`` (a seed; a private copy of the graded assignments passes one) gives instead
    :func:`resample_gp_patients` of the checked data.
    """
    path, spec = Path(path), read_manifest(Path(manifest))
    if not path.is_file():
        raise DataValidationError(f"data file not found: {path} (run `make data` to rebuild it)")
    columns = spec["columns"]
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    _check_columns(list(raw.columns), list(columns), path)
    frame = pd.DataFrame({name: _parse_column(raw[name], name, col, path) for name, col in columns.items()})
    if len(frame) != spec["rows"]:
        raise DataValidationError(f"{path.name}: {len(frame)} rows, the manifest says {spec['rows']}")
    _check_group_constant(frame, group="doctor", column="agedoc", path=path)
    digest = sha256_of(path)
    if digest != spec["sha256"]:
        raise DataValidationError(
            f"{path.name}: checksum {digest[:12]}… differs from the manifest's {spec['sha256'][:12]}…; "
            "the file was edited or damaged (run `make data` to rebuild it)"
        )
    return frame if resample is None else resample_gp_patients(frame, resample)


def resample_gp_patients(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    """The same twelve GPs, numbered anew at random, each with as many patients drawn with replacement from
    its own (a bootstrap within GPs): sizes, GP-level variables and what holds for every patient of a GP
    (a GP without a patient of high cholesterol has none) are kept; every estimate changes. Rows in order of
    the new numbers, index 0, 1, ...
    """
    rng = np.random.default_rng(seed)
    doctors = np.sort(frame["doctor"].unique())
    renumbered = dict(zip(doctors, rng.permutation(doctors), strict=True))
    parts = [
        part.iloc[rng.integers(0, len(part), len(part))].assign(doctor=renumbered[doctor])
        for doctor, part in frame.groupby("doctor")
    ]
    return pd.concat(parts).sort_values("doctor", kind="stable").reset_index(drop=True)


def _check_columns(found: list[str], expected: list[str], path: Path) -> None:
    missing = [c for c in expected if c not in found]
    extra = [c for c in found if c not in expected]
    if missing or extra:
        parts = [f"missing column(s) {missing}" if missing else "", f"unexpected column(s) {extra}" if extra else ""]
        raise DataValidationError(f"{path.name}: " + "; ".join(p for p in parts if p))
    if found != expected:
        raise DataValidationError(f"{path.name}: columns {found} are not in the manifest's order {expected}")


def _parse_column(values: pd.Series, name: str, spec: dict, path: Path) -> pd.Series:
    blank = values.str.strip().isin(["", "NA", "NaN", "nan"])
    if blank.any():
        rows = (np.flatnonzero(blank) + 2).tolist()[:5]
        raise DataValidationError(f"{path.name}: missing value in column '{name}' (file line {rows})")
    numbers = pd.to_numeric(values, errors="coerce")
    if numbers.isna().any():
        bad = values[numbers.isna()].iloc[0]
        line = int(np.flatnonzero(numbers.isna())[0]) + 2
        raise DataValidationError(f"{path.name}: non-numeric value {bad!r} in column '{name}' (file line {line})")
    if spec["dtype"] == "int64":
        if not np.all(numbers == np.round(numbers)):
            raise DataValidationError(f"{path.name}: column '{name}' must hold whole numbers")
        numbers = numbers.astype("int64")
    low, high = spec["range"]
    outside = (numbers < low) | (numbers > high)
    if outside.any():
        raise DataValidationError(
            f"{path.name}: column '{name}' has {numbers[outside].iloc[0]} outside its range [{low}, {high}]"
        )
    return numbers.rename(name)


def _check_group_constant(frame: pd.DataFrame, group: str, column: str, path: Path) -> None:
    distinct = frame.groupby(group)[column].nunique()
    varying = distinct[distinct > 1].index.tolist()
    if varying:
        raise DataValidationError(f"{path.name}: '{column}' is a GP-level variable but varies within {group} {varying}")


def load_dietox(resample: int | None = None) -> pd.DataFrame:
    """statsmodels' copy of the dietox data: 72 pigs weighed weekly (Weight in kg, Time in weeks 1 to 12).

    Sorted by pig and week, without the file's row-number column. The R equivalent is ``read.csv`` of
    the same file (tests/reference/dietox.csv is a copy of it). ``resample`` (a seed; a private copy of the
    graded assignments passes one) gives instead :func:`resample_pigs` of it.
    """
    frame = pd.read_csv(DIETOX_CSV, index_col=0).sort_values(["Pig", "Time"]).reset_index(drop=True)
    return frame if resample is None else resample_pigs(frame, resample)


def resample_pigs(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    """As many pigs, drawn with replacement with all their weighings (a bootstrap of pigs); a pig drawn twice
    counts as two pigs, so the draws take the original pigs' numbers in turn. Sorted by pig and week."""
    rng = np.random.default_rng(seed)
    pigs = np.sort(frame["Pig"].unique())
    drawn = rng.choice(pigs, size=len(pigs), replace=True)
    by_pig = dict(tuple(frame.groupby("Pig")))
    parts = [by_pig[pig].assign(Pig=number) for pig, number in zip(drawn, pigs, strict=True)]
    return pd.concat(parts).sort_values(["Pig", "Time"], kind="stable").reset_index(drop=True)
