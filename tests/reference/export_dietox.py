"""Write tests/reference/dietox.csv from the copy of the dietox data that ships inside statsmodels.

The pig growth data (Weight by Time for 72 pigs) is what statsmodels' own MixedLM
examples fit; R reads this CSV in make_reference.R, so both sides see the same numbers.
Run: ``.venv/bin/python tests/reference/export_dietox.py``.
"""

from pathlib import Path

import pandas as pd

from helpers.data import DIETOX_CSV as BUNDLED

TARGET = Path(__file__).with_name("dietox.csv")


def dietox_csv_text() -> str:
    """The bundled data without its row-number column, missing values written as NA."""
    frame = pd.read_csv(BUNDLED, index_col=0)
    return frame.to_csv(index=False, na_rep="NA", lineterminator="\n")


if __name__ == "__main__":
    TARGET.write_text(dietox_csv_text())
    print(f"wrote {TARGET}")
