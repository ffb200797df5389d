"""The private copy (``python -m grading private``): every autograded number differs, every solution still scores.

The quick tests check the pieces (the resample of the GP data, the rewriting of a cell, the refusals); the slow
ones make a private copy of the course and a second, of one assignment, that avoids the first's values (with two
secrets), compare the values their hidden tests check with each other and with the public course's, and grade
the first copy's solutions end to end with stock nbgrader (self-study switch: the sandbox is not what is tested
here). Every cell of each copy, hidden tests included, ran without error on the solutions when the copy was made
(make_private fails otherwise).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import nbformat
import numpy as np
import pytest

from grading import COURSE_ROOT, private
from grading.__main__ import main
from grading.judge import HIDDEN_BEGIN
from helpers.data import load_dietox, load_gp_cholesterol

import grading_fixtures as fx
from test_grading import nbgrader, scores

REPO = Path(__file__).resolve().parent.parent
# The first secret's copy draws two of its assignments again (a value as in the public course): the redraw is
# exercised, and each draw costs a run of the notebook, so a secret that needs ten is slower for nothing.
SECRETS = ("first-private-copy-4567", "second-private-copy-4567")
ASSIGNMENTS = private.assignments(COURSE_ROOT)
SECOND_COPY = "structure_and_pooling"  # the fastest assignment: the second copy's


# ----------------------------------------------------------------------------- the pieces


def test_the_resample_keeps_the_twelve_gps_and_what_holds_within_each():
    public = load_gp_cholesterol()
    drawn = load_gp_cholesterol(resample=11)
    assert list(drawn.index) == list(range(len(public))) and list(drawn.columns) == list(public.columns)
    assert sorted(drawn.groupby("doctor").size()) == sorted(public.groupby("doctor").size())
    assert drawn["doctor"].is_monotonic_increasing
    assert (drawn.groupby("doctor")["agedoc"].nunique() == 1).all()
    # each new GP's patients are patients of one public GP, with that GP's agedoc
    rows = public.drop(columns="doctor").apply(tuple, axis=1)
    source = dict(zip(rows, public["doctor"], strict=True))
    for _, part in drawn.groupby("doctor"):
        (old,) = {source[row] for row in part.drop(columns="doctor").apply(tuple, axis=1)}
        assert len(part) == (public["doctor"] == old).sum()
    # a GP without a patient of high cholesterol keeps none (assignment 6 rests on it)
    high = public["chol"] >= 6.2
    assert sorted(drawn.groupby("doctor")["chol"].max() >= 6.2) == sorted(public.groupby("doctor")["chol"].max() >= 6.2)
    assert high.any()
    assert load_gp_cholesterol(resample=11).equals(drawn)
    assert not load_gp_cholesterol(resample=12).equals(drawn)
    assert not np.allclose(drawn.groupby("doctor")["chol"].mean(), public.groupby("doctor")["chol"].mean())


def test_the_pig_resample_keeps_each_pigs_weighings_and_counts_a_pig_drawn_twice_twice():
    public = load_dietox()
    drawn = load_dietox(resample=11)
    assert list(drawn.columns) == list(public.columns) and len(drawn["Pig"].unique()) == 72
    assert sorted(drawn["Pig"].unique()) == sorted(public["Pig"].unique())
    weighings = {pig: part.drop(columns="Pig").reset_index(drop=True) for pig, part in public.groupby("Pig")}
    sources = []
    for _, part in drawn.groupby("Pig"):
        (source,) = [
            pig for pig, rows in weighings.items() if rows.equals(part.drop(columns="Pig").reset_index(drop=True))
        ]
        sources.append(source)
    assert len(set(sources)) < 72  # drawn with replacement
    assert load_dietox(resample=11).equals(drawn) and not load_dietox(resample=12).equals(drawn)


CELL = """\
gp = load_gp_cholesterol()  # GP data — as shipped
pigs = load_dietox()
few = simulate_schools(n_schools=3, pupils_per_school=[4, 6, 9], seed=702, residual_sd=8.0, school_sd=2.5)
_rng = np.random.default_rng(31)
_n, _seed = 50, 77
"""


def test_a_cell_is_rewritten_in_place_and_the_same_literal_gets_the_same_value():
    draw = private.Draw("s" * 16, "an_assignment", 0)
    out = private.rewrite_code(CELL, draw)
    lines = out.splitlines()
    assert lines[0] == f"gp = load_gp_cholesterol(resample={draw.patients()})  # GP data — as shipped"
    assert lines[1] == f"pigs = load_dietox(resample={draw.pigs()})"
    lines = lines[:1] + lines[2:]
    assert lines[1] == (
        f"few = simulate_schools(n_schools=3, pupils_per_school={draw.sizes([4, 6, 9])}, seed={draw.seed(702)}, "
        f"residual_sd={draw.truth('residual_sd', 8.0)!r}, school_sd=2.5)"
    )
    assert lines[2] == f"_rng = np.random.default_rng({draw.seed(31)})"
    assert lines[3] == f"_n, _seed = 50, {draw.seed(77)}"
    assert sorted(draw.sizes([4, 6, 9])) == [4, 6, 9]
    assert 0.8 * 8.0 - 0.01 <= draw.truth("residual_sd", 8.0) <= 1.25 * 8.0 + 0.01
    assert private.rewrite_code(CELL, private.Draw("s" * 16, "an_assignment", 0)) == out  # a function of the draw
    assert private.rewrite_code(CELL, private.Draw("s" * 16, "an_assignment", 1)) != out
    assert private.rewrite_code(CELL, private.Draw("t" * 16, "an_assignment", 0)) != out


def test_a_short_secret_and_a_used_folder_are_refused(tmp_path):
    with pytest.raises(SystemExit, match="at least 16 characters"):
        main(["private", "--seed", "1234", "--dest", str(tmp_path / "new")])
    assert not (tmp_path / "new").exists()
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "gradebook.db").write_text("")
    with pytest.raises(SystemExit, match="not empty"):
        main(["private", "--seed", SECRETS[0], "--dest", str(tmp_path / "used"), "--avoid", str(tmp_path / "none")])
    with pytest.raises(private.PrivateCopyError, match="not empty"):
        private.make_private(SECRETS[0], tmp_path / "used")


def test_make_private_passes_any_secret_whole_and_never_echoes_it(tmp_path):
    """The README's command with a secret of exactly the shortest length that holds quotes, a backtick and
    spaces: it reaches the refusal of the used folder (not the length check, nor a shell's error), and make's
    echo of the command does not show it."""
    secret = 'it\'s `16` "chr"!'
    assert len(secret) == private.SEED_MIN_LENGTH
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "gradebook.db").write_text("")
    make = ["make", "-o", ".venv/.installed", "private", f"SEED={secret}", f"DEST={tmp_path / 'used'}"]
    run = subprocess.run(make, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert run.returncode != 0 and "not empty: give a new folder" in run.stderr, run.stderr[-3000:]
    assert secret not in run.stdout + run.stderr


# ----------------------------------------------------------------------------- two private copies


@pytest.fixture(scope="module")
def copies(tmp_path_factory):
    """Two private copies of the course, by secret: (course root, what make_private returned). The first is of the
    whole course; the second, of SECOND_COPY alone, avoids the first, as a new term's copy avoids the last (two
    independent copies may share a value by chance: a residual SD within its 1% tolerance, say). Avoiding is the
    same code for every assignment; one shows it."""
    first, second = (tmp_path_factory.mktemp("private") / "course" for _ in SECRETS)
    made = {SECRETS[0]: (first, private.make_private(SECRETS[0], first))}
    drawn = made[SECRETS[0]][1][SECOND_COPY]
    public = tmp_path_factory.mktemp("public") / "course"
    for name in private.COPIED:
        (public / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(COURSE_ROOT / name, public / name)
    shutil.copytree(COURSE_ROOT / "source" / SECOND_COPY, public / "source" / SECOND_COPY)
    made[SECRETS[1]] = (
        second,
        private.make_private(
            SECRETS[1],
            second,
            course=public,
            public={SECOND_COPY: drawn["public"]},
            avoid=[{SECOND_COPY: drawn["checks"]}],
        ),
    )
    return made


@pytest.mark.slow
def test_every_hidden_test_checks_numbers_that_neither_the_public_course_nor_another_copy_has(copies):
    (_, first), (_, second) = copies.values()
    assert list(second) == [SECOND_COPY]
    assert any(drawn["attempt"] > 0 for drawn in first.values()), "no draw was drawn again: choose another secret"
    for assignment in ASSIGNMENTS:
        source = nbformat.read(private.notebook_of(COURSE_ROOT, assignment), as_version=4)
        hidden = {fx.grade_id(c) for c in source.cells if c.cell_type == "code" and HIDDEN_BEGIN in c.source}
        public = first[assignment]["public"]
        assert set(public) == hidden, f"{assignment}: hidden tests without a check_close: {hidden - set(public)}"
        same = private.SAME_IN_EVERY_COPY.get(assignment, frozenset())
        assert same <= {entry["name"] for entries in public.values() for entry in entries}
        assert not private.shared_values(first[assignment]["checks"], public, same), f"first copy: {assignment}"
    checks, same = second[SECOND_COPY]["checks"], private.SAME_IN_EVERY_COPY.get(SECOND_COPY, frozenset())
    assert not private.shared_values(checks, first[SECOND_COPY]["public"], same), "second copy"
    assert not private.shared_values(checks, first[SECOND_COPY]["checks"], same), "second copy"
    assert not private.shared_values(first[SECOND_COPY]["checks"], checks, same), "first copy"


@pytest.mark.slow
def test_the_secret_is_nowhere_in_a_copy_and_its_guides_say_where_its_numbers_are(copies):
    for secret, (dest, _) in copies.items():
        texts = [path.read_text() for path in dest.rglob("*") if path.is_file()]
        assert texts and not any(secret in text for text in texts)
        for assignment in private.assignments(dest):
            nb = nbformat.read(private.notebook_of(dest, assignment), as_version=4)
            guides = [c.source for c in nb.cells if private.GUIDE_MARK in c.source]
            assert guides and all(private.GUIDE_NOTE in guide for guide in guides)
            assert [c.execution_count for c in nb.cells if c.cell_type == "code"] == list(
                range(1, 1 + sum(c.cell_type == "code" for c in nb.cells))
            )


@pytest.fixture(scope="module")
def graded(copies, tmp_path_factory):
    """The first copy released and its solutions autograded by stock nbgrader (self-study switch): its course
    root."""
    root = shutil.copytree(copies[SECRETS[0]][0], tmp_path_factory.mktemp("graded") / "course")
    for assignment in ASSIGNMENTS:
        nbgrader("generate_assignment", assignment, cwd=root)
        (released,) = (root / "release" / assignment).glob("*.ipynb")
        source = nbformat.read(private.notebook_of(root, assignment), as_version=4)
        fx.write_submission(
            root / "submitted", released.name, nbformat.read(released, as_version=4), source, assignment, None
        )
        for student in ("untouched", "partly_right"):
            shutil.rmtree(root / "submitted" / student)
        nbgrader("autograde", assignment, "--JudgedExecute.self_study=True", cwd=root)
    return root


@pytest.mark.slow
def test_the_first_copys_solutions_earn_full_marks_graded_end_to_end(graded):
    root, secret = graded, SECRETS[0]
    for assignment in ASSIGNMENTS:
        (released,) = (root / "release" / assignment).glob("*.ipynb")
        assert secret not in released.read_text()
        points = fx.auto_points(nbformat.read(private.notebook_of(root, assignment), as_version=4))
        cells = scores(root, assignment)["solution"]["cells"]
        assert points and {cell: cells.get(cell) for cell in points} == points, assignment
