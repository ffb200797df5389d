"""Write tests/reference/small_schools.csv: the small-variance sample of lecture 10 (12 schools of 8 pupils).

``helpers.simulate.simulate_schools`` draws it with the settings below; lecture 10's "In R" block reads
this CSV, so R fits the same numbers, and a test checks that the lecture draws exactly this sample.
Run: ``.venv/bin/python tests/reference/export_small_schools.py``.
"""

from pathlib import Path

from helpers.simulate import simulate_schools

SMALL_SCHOOLS = dict(n_schools=12, pupils_per_school=8, school_sd=2.0, residual_sd=8.0, seed=10)
TARGET = Path(__file__).with_name("small_schools.csv")


def small_schools_csv_text() -> str:
    return simulate_schools(**SMALL_SCHOOLS).data.to_csv(index=False, lineterminator="\n")


if __name__ == "__main__":
    TARGET.write_text(small_schools_csv_text())
    print(f"wrote {TARGET}")
