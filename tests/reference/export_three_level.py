"""Write tests/reference/three_level.csv: the pupils-in-classes-in-schools sample of lecture 11.

``helpers.simulate.simulate_three_level(seed=THREE_LEVEL_SEED)`` draws it; R reads this CSV
(make_three_level_reference.R, make_smallsample_reference.R), so both sides fit the same
numbers, and a test checks that lecture 11 draws exactly this sample.
Run: ``.venv/bin/python tests/reference/export_three_level.py``.
"""

from pathlib import Path

from helpers.simulate import simulate_three_level

THREE_LEVEL_SEED = 4
TARGET = Path(__file__).with_name("three_level.csv")


def three_level_csv_text() -> str:
    return simulate_three_level(seed=THREE_LEVEL_SEED).data.to_csv(index=False, lineterminator="\n")


if __name__ == "__main__":
    TARGET.write_text(three_level_csv_text())
    print(f"wrote {TARGET}")
