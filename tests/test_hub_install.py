"""`make hub`'s install step (grading/hub/install.py): whether other accounts can read the repository, and the
copy it keeps for the hub's servers when they cannot. The whole hub, from a clone anywhere, is
tests/browser/test_hub_cycle.py."""

from __future__ import annotations

import importlib.util
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HUB = ROOT / "grading" / "hub"


def load(name: str, module_name: str):
    spec = importlib.util.spec_from_file_location(module_name, HUB / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # install.py imports course_hub by that name, as make hub runs it
    spec.loader.exec_module(module)
    return module


load("course_hub", "course_hub")
install = load("install", "course_hub_install")


@pytest.fixture
def world():
    """A folder every account may enter (tmp_path is not: pytest makes its root for its own user only)."""
    folder = Path(tempfile.mkdtemp(prefix="hub-install-test-"))
    os.chmod(folder, 0o755)
    yield folder
    shutil.rmtree(folder)


def make_tree(root: Path, files: dict[str, str], executable=()) -> list[str]:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
        os.chmod(root / name, 0o755 if name in executable else 0o644)
    for folder in install.folders_of(list(files)):
        os.chmod(root / folder, 0o755)
    return sorted(files)


FILES = {
    "Makefile": "hub-serve:\n",
    "helpers/__init__.py": "",
    "helpers/data.py": "x = 1\n",
    "bin/start": "#!/bin/sh\n",
}


def test_a_repository_readable_by_all_is_served_from_where_it_is(world):
    files = make_tree(world / "repo", FILES)
    assert install.unreadable(world / "repo", files) is None


def test_a_folder_above_the_repository_that_others_may_not_enter_is_named(world):
    files = make_tree(world / "root" / "repo", FILES)
    os.chmod(world / "root", 0o700)  # as /root is
    why = install.unreadable(world / "root" / "repo", files)
    assert why and f"may not enter {world / 'root'} " in why and "drwx------" in why


@pytest.mark.parametrize("name, mode", [("helpers/data.py", 0o600), ("helpers", 0o711), (".", 0o750)])
def test_a_file_or_folder_others_may_not_read_is_named(world, name, mode):
    files = make_tree(world / "repo", FILES)
    os.chmod(world / "repo" / name, mode)
    why = install.unreadable(world / "repo", files)
    assert why and f"may not read {(world / 'repo' / name)} " in why, why


def test_the_copy_is_readable_by_all_and_follows_the_repository(world):
    repo, place = world / "root" / "repo", world / "install"
    files = make_tree(repo, FILES, executable={"bin/start"})
    os.chmod(world / "root", 0o700)
    os.close(install.claim(place))
    assert install.install(repo, files, place) == (4, 0, 0)
    assert install.unreadable(place, files) is None
    assert {name: (place / name).read_text() for name in files} == FILES
    assert stat.S_IMODE(os.stat(place / "bin/start").st_mode) == 0o755
    assert stat.S_IMODE(os.stat(place / "helpers/data.py").st_mode) == 0o644
    (place / ".venv-hub").mkdir()  # what make builds there is not the repository's, and is kept
    (place / ".venv-hub" / ".installed").touch()
    unchanged = os.stat(place / "Makefile").st_mtime_ns

    (repo / "helpers/data.py").write_text("x = 2\n")
    (repo / "bin/start").unlink()
    (repo / "README.md").write_text("new\n")
    files = sorted({*files, "README.md"} - {"bin/start"})
    assert install.install(repo, files, place) == (1, 1, 1)
    assert (place / "helpers/data.py").read_text() == "x = 2\n" and (place / "README.md").is_file()
    assert not (place / "bin").exists(), "the folder the removed file leaves empty is removed too"
    assert (place / ".venv-hub" / ".installed").is_file()
    assert os.stat(place / "Makefile").st_mtime_ns == unchanged, "an unchanged file is left as it is"
    assert install.install(repo, files, place) == (0, 0, 0)


def test_a_folder_with_files_of_its_own_is_not_installed_into(world):
    (world / "opt").mkdir()
    (world / "opt" / "other-software").write_text("")
    files = make_tree(world / "repo", FILES)
    with pytest.raises(SystemExit, match="not an install of the course"):
        install.install(world / "repo", files, world / "opt")
    assert sorted(os.listdir(world / "opt")) == ["other-software"]


def test_the_place_must_be_reachable_and_is_held_by_one_hub(world):
    os.chmod(world, 0o700)
    with pytest.raises(SystemExit, match="may not enter"):
        install.claim(world / "install")
    os.chmod(world, 0o755)
    held = install.claim(world / "install")
    try:
        with pytest.raises(SystemExit, match="a hub is running from"):
            install.claim(world / "install")
    finally:
        os.close(held)
    os.close(install.claim(world / "install"))


def test_the_repository_files_are_what_git_keeps_without_the_course_root():
    files = install.repository_files(ROOT, leave_out=ROOT / "grading" / "course")
    assert {
        "Makefile",
        "pyproject.toml",
        "requirements.txt",
        "helpers/__init__.py",
        "datasets/gp_cholesterol.csv",
        "grading/hub/jupyterhub_config.py",
        "grading/hub/jupyter/nbgrader_config.py",
    } <= set(files)
    assert not [name for name in files if name.startswith(("grading/course/", ".venv", "_build/"))]
    assert (ROOT / "grading/course/nbgrader_config.py").is_file()
    if (ROOT / ".git").exists() and shutil.which("git"):  # a copy without git is walked: the same files
        walked = sorted(name for name in install.walked_files(ROOT) if not name.startswith("grading/course/"))
        assert walked == files


def test_folders_holding_the_solutions_are_closed_to_other_accounts(world):
    repo = world / "repo"
    make_tree(
        repo, {**FILES, "grading/course/source/a/a.ipynb": "{}", "_build/book/a.html": "", ".git/objects/pack": ""}
    )
    course, solutions = repo / "grading" / "course", install.solution_folders(repo, repo / "grading" / "course")
    assert solutions == [course, repo / ".git", repo / "_build"]
    assert all(install.reachable_by_others(folder) for folder in solutions)
    assert install.keep_solutions_private(solutions) == solutions
    assert not any(install.reachable_by_others(folder) for folder in solutions)
    assert stat.S_IMODE(os.stat(course).st_mode) == 0o750, "the owner and group keep their rights"
    assert install.unreadable(repo, ["Makefile", "helpers/data.py"]) is None, "what the servers read stays readable"
    assert install.keep_solutions_private(solutions) == [], "nothing to change the second time"


def test_a_course_root_others_cannot_reach_is_left_as_it_is(world):
    repo = world / "root" / "repo"
    make_tree(repo, {**FILES, "grading/course/nbgrader_config.py": ""})
    os.chmod(world / "root", 0o700)  # as /root is
    course = repo / "grading" / "course"
    assert not install.reachable_by_others(course)
    assert install.keep_solutions_private([course]) == []
    assert stat.S_IMODE(os.stat(course).st_mode) == 0o755


def test_a_worktrees_history_is_the_main_clones(tmp_path):
    if not shutil.which("git"):
        pytest.skip("no git")
    main, worktree = tmp_path / "main", tmp_path / "wt"
    run = dict(check=True, capture_output=True)
    subprocess.run(["git", "init", "-q", str(main)], **run)
    subprocess.run(
        [
            "git",
            "-C",
            str(main),
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            "x",
        ],
        **run,
    )
    subprocess.run(["git", "-C", str(main), "worktree", "add", "-q", str(worktree)], **run)
    assert install.git_history(worktree) == main / ".git"
    assert install.git_history(main) == main / ".git"
