"""`make hub`'s first step: put what the hub's servers run from where every account can read it, then start
the hub from there (`make hub-serve` in that folder).

Every person's server, and the formgrader, runs as that person's Unix account, from the Python environment
`make hub` builds (`helpers` and `grading` installed from a checkout of the course, so `helpers` finds the
data beside it) and with the hub's settings folders in grading/hub/. If every account can read this
repository (each folder above it lets other accounts in, each of its folders and files lets them read), the
hub runs from the repository itself. If not (a clone under /root, which only root may enter), the
repository's files are installed, readable by all, in a place of the hub's own (COURSE_HUB_INSTALL, see
course_hub.Settings) and the hub runs from there. Each run brings that copy up to date: new, changed and
removed files, unchanged ones left as they are so that make rebuilds the environment there only when
requirements.txt or pyproject.toml changed. Not installed: what git ignores (environments, build output,
students' work) and the course root, which holds the instructor's solutions; root copies it for the grader
account from the repository itself.

The solutions are kept from the students either way: if other accounts could reach a folder that holds them
(the course root, git's history, the build output with the self-study book), only its owner may enter it
from then on (its "other" permissions are taken away, and make hub says so).

Runs with the interpreter the servers' environment is made by (HUB_PYTHON), so it uses the standard library
only.
"""

from __future__ import annotations

import fcntl
import filecmp
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path, PurePosixPath

from course_hub import REPO, Settings, gitignored

MANIFEST = ".course-hub-files"  # in the install place: what the last run installed there, one path a line
LOCK = ".course-hub-running"  # in the install place: held by the hub that runs from it


def repository_files(repo: Path, leave_out: Path) -> list[str]:
    """The repository's files (paths relative to it) apart from the folder ``leave_out``: what git tracks
    or would track, not what it ignores. A copy that is not a git clone is walked instead, with each
    .gitignore applied below its folder."""
    if (repo / ".git").exists() and shutil.which("git"):
        # safe.directory: root lists the files of a clone that another account may own
        listing = subprocess.run(
            [
                "git",
                "-c",
                f"safe.directory={repo}",
                "-C",
                str(repo),
                "ls-files",
                "-z",
                "--cached",
                "--others",
                "--exclude-standard",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        found = [name for name in listing.split("\0") if name and (repo / name).is_file()]
    else:
        found = walked_files(repo)
    try:
        skipped = leave_out.resolve().relative_to(repo).as_posix() + "/"
    except ValueError:  # the course root is elsewhere: nothing to leave out
        return sorted(found)
    return sorted(name for name in found if not name.startswith(skipped))


def walked_files(repo: Path) -> list[str]:
    found = []

    def visit(folder: Path, ignores: list) -> None:
        if (folder / ".gitignore").is_file():
            ignores = [*ignores, gitignored(folder)]
        names = sorted(os.listdir(folder))
        skipped = {".git"}.union(*(ignore(folder, names) for ignore in ignores))
        for name in names:
            path = folder / name
            if name in skipped:
                continue
            if path.is_dir() and not path.is_symlink():
                visit(path, ignores)
            elif path.is_file():
                found.append(path.relative_to(repo).as_posix())

    visit(repo, [])
    return found


def folders_of(files: list[str]) -> set[str]:
    """Every folder that holds one of ``files`` (relative paths), "." included."""
    return {"."} | {parent.as_posix() for name in files for parent in PurePosixPath(name).parents}


def unreadable(root: Path, files: list[str]) -> str | None:
    """Why other accounts cannot read ``files`` under ``root``, or None if they can, from the permissions
    that every account has (the "other" bits): each folder above ``root`` must let them in, each folder
    of the files let them list and enter it, each file let them read it."""
    for folder in root.parents:
        if not os.stat(folder).st_mode & stat.S_IXOTH:
            return f"other accounts may not enter {folder} (mode {stat.filemode(os.stat(folder).st_mode)})"
    needs = [(root / folder, stat.S_IROTH | stat.S_IXOTH) for folder in sorted(folders_of(files))]
    for path, bits in needs + [(root / name, stat.S_IROTH) for name in files]:
        mode = os.stat(path).st_mode
        if mode & bits != bits:
            return f"other accounts may not read {path} (mode {stat.filemode(mode)})"
    return None


def git_history(repo: Path) -> Path | None:
    """The folder of a clone's git objects (a worktree's `.git` is a file naming the main clone's)."""
    if (repo / ".git").is_dir():
        return repo / ".git"
    if not (repo / ".git").exists() or not shutil.which("git"):
        return None
    common = subprocess.run(
        [
            "git",
            "-c",
            f"safe.directory={repo}",
            "-C",
            str(repo),
            "rev-parse",
            "--path-format=absolute",
            "--git-common-dir",
        ],
        capture_output=True,
        text=True,
    )
    return Path(common.stdout.strip()) if common.returncode == 0 else None


def solution_folders(repo: Path, course: Path) -> list[Path]:
    """The folders that hold the solutions or copies of them: the course root (its source/), git's history
    and the build output (the self-study book shows every solution)."""
    return [folder for folder in (course, git_history(repo), repo / "_build") if folder is not None and folder.is_dir()]


def reachable_by_others(folder: Path) -> bool:
    """Whether other accounts may enter ``folder`` (each folder above it and the folder itself let them in):
    then they can read any file of it whose name they know or can list."""
    return all(os.stat(f).st_mode & stat.S_IXOTH for f in [folder, *folder.parents])


def keep_solutions_private(folders: list[Path]) -> list[Path]:
    """Take the "other" permissions from each of ``folders`` that other accounts could reach; the ones changed."""
    changed = [folder for folder in folders if reachable_by_others(folder)]
    for folder in changed:
        os.chmod(folder, stat.S_IMODE(os.stat(folder).st_mode) & ~0o007)
    return changed


def claim(place: Path) -> int:
    """Make the install place, readable by all, and hold it for as long as this process and what it becomes
    (make, then the hub) run: another `make hub` must not change the files under a running hub. Returns the
    lock's descriptor."""
    place.mkdir(parents=True, exist_ok=True)
    os.chmod(place, 0o755)
    why = unreadable(place, [])
    if why:
        sys.exit(
            f"make hub: the install place COURSE_HUB_INSTALL={place} is no better: {why}. Choose a folder "
            "that every account may enter (under /opt or /srv)."
        )
    lock = os.open(place / LOCK, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        sys.exit(f"make hub: a hub is running from {place}; stop it first, or set another COURSE_HUB_INSTALL")
    os.set_inheritable(lock, True)  # kept through exec, by make and then by the hub
    return lock


def install(repo: Path, files: list[str], place: Path) -> tuple[int, int, int]:
    """Copy ``files`` of ``repo`` into ``place``, readable by all, and remove what an earlier run installed
    that the repository no longer has; a file already there and unchanged is not touched (make sees no
    change). Returns the numbers of files added, changed and removed."""
    manifest = place / MANIFEST
    before = set(manifest.read_text().splitlines()) if manifest.is_file() else set()
    if not before and set(os.listdir(place)) - {LOCK}:
        sys.exit(
            f"make hub: {place} holds files that are not an install of the course's; empty it or set "
            "another COURSE_HUB_INSTALL"
        )
    added = changed = 0
    for name in files:
        source, target = repo / name, place / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.is_file():
            added += 1
            shutil.copyfile(source, target)
        elif not filecmp.cmp(source, target, shallow=False):
            changed += 1
            shutil.copyfile(source, target)
        os.chmod(target, 0o755 if os.stat(source).st_mode & stat.S_IXUSR else 0o644)
    for folder in folders_of(files):
        os.chmod(place / folder, 0o755)
    gone = sorted(before - set(files))
    for name in gone:
        (place / name).unlink(missing_ok=True)
        for folder in (place / name).parents:  # the folders it leaves empty
            if folder == place or any(folder.iterdir()):
                break
            folder.rmdir()
    manifest.write_text("".join(f"{name}\n" for name in files))
    os.chmod(manifest, 0o644)
    return added, changed, len(gone)


def main() -> None:
    settings = Settings()
    os.umask(0o022)  # what make builds for the servers (their environment, the proxy) must be readable by all
    files = repository_files(REPO, leave_out=settings.course_template)
    for folder in keep_solutions_private(solution_folders(REPO, settings.course_template)):
        print(
            f"make hub: every account could reach {folder}, which holds the solutions; now only its owner may "
            f"enter it (the students' servers need nothing of it; `chmod o+rx {folder}` would undo this)"
        )
    why = unreadable(REPO, files)
    if why is None:
        place = REPO
        print(f"make hub: every account can read {REPO}; the servers run from it")
    else:
        place = settings.install
        print(f"make hub: {why}, so the servers run from the course installed in {place} (COURSE_HUB_INSTALL)")
        claim(place)
        added, changed, removed = install(REPO, files, place)
        print(f"make hub: {place} brought up to date: {added} files added, {changed} changed, {removed} removed")
    # The hub started there keeps its state and takes the course root from here.
    env = dict(os.environ, COURSE_HUB_STATE=str(settings.state), COURSE_HUB_COURSE=str(settings.course_template))
    make = ["make", "--no-print-directory", "-C", str(place), "hub-serve", f"HUB_PYTHON={sys.executable}"]
    sys.stdout.flush()
    os.execvpe(make[0], make, env)


if __name__ == "__main__":
    main()
