"""A trial JupyterHub for the course on this machine: `make hub` runs this file as root, from the folder the
servers run from (the repository, or the copy install.py beside this file keeps where every account can
read it).

It makes what the hub configuration (jupyterhub_config.py, beside this file) expects, then starts JupyterHub:
local Unix accounts (one instructor, a few students, and the grader account that owns the course root and
runs the formgrader as a hub service), a trial password per account, the nbgrader exchange shared by all of
them, a copy of the nbgrader course for the grader and of the lecture notebooks for each person. What exists
already is kept (accounts, passwords, the instructor's course, students' notebooks): running it again loses
nothing. Every setting has a default and can be changed with an environment variable (see Settings).
"""

from __future__ import annotations

import fnmatch
import json
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
LECTURES = REPO / "notebooks"
VENV_BIN = Path(sys.executable).parent
# make hub installs the proxy into the environment the hub runs from.
PROXY = Path(sys.prefix) / "proxy" / "node_modules" / ".bin" / "configurable-http-proxy"


@dataclass(frozen=True)
class Settings:
    """Where the hub keeps its state, its ports and its accounts.

    COURSE_HUB_STATE      the hub's own files (database, cookie secret, trial passwords): _build/hub
    COURSE_HUB_IP         the address it listens on: 127.0.0.1 (this machine only); 0.0.0.0 for a class
    COURSE_HUB_PORT       its public port, 8000; the three ports above it serve the proxy's API, the hub
                          itself and the formgrader
    COURSE_HUB_EXCHANGE   nbgrader's exchange, shared by every account: /srv/nbgrader/exchange
    COURSE_HUB_COURSE     the course root copied for the grader on first start: grading/course
    COURSE_HUB_INSTALL    where the servers' files and environment are installed when other accounts cannot
                          read the repository (install.py): /opt/random-effects-course
    COURSE_HUB_PREFIX     put before every account name ("" : instructor, student1, ...)
    COURSE_HUB_STUDENTS   how many student accounts: 3
    """

    state: Path = field(default_factory=lambda: Path(os.environ.get("COURSE_HUB_STATE", REPO / "_build" / "hub")))
    ip: str = field(default_factory=lambda: os.environ.get("COURSE_HUB_IP", "127.0.0.1"))
    port: int = field(default_factory=lambda: int(os.environ.get("COURSE_HUB_PORT", "8000")))
    exchange: Path = field(
        default_factory=lambda: Path(os.environ.get("COURSE_HUB_EXCHANGE", "/srv/nbgrader/exchange"))
    )
    course_template: Path = field(
        default_factory=lambda: Path(os.environ.get("COURSE_HUB_COURSE", REPO / "grading" / "course"))
    )
    install: Path = field(
        default_factory=lambda: Path(os.environ.get("COURSE_HUB_INSTALL", "/opt/random-effects-course"))
    )
    prefix: str = field(default_factory=lambda: os.environ.get("COURSE_HUB_PREFIX", ""))
    student_count: int = field(default_factory=lambda: int(os.environ.get("COURSE_HUB_STUDENTS", "3")))

    @property
    def instructor(self) -> str:
        return f"{self.prefix}instructor"

    @property
    def students(self) -> list[str]:
        return [f"{self.prefix}student{i}" for i in range(1, self.student_count + 1)]

    @property
    def course_id(self) -> str:
        """The course's id, read from its own nbgrader_config.py: the formgrader service must be named so."""
        from traitlets.config.loader import PyFileConfigLoader

        config = PyFileConfigLoader("nbgrader_config.py", path=str(self.course_template)).load_config()
        return config.CourseDirectory.course_id

    @property
    def grader(self) -> str:
        return f"{self.prefix}grader-{self.course_id}"

    @property
    def people(self) -> list[str]:
        """The accounts that log in (the grader account never does: the hub starts its server as a service)."""
        return [self.instructor, *self.students]

    def home(self, user: str) -> Path:
        return Path(pwd.getpwnam(user).pw_dir)

    @property
    def course_root(self) -> Path:
        return self.home(self.grader) / "course"

    @property
    def passwords_file(self) -> Path:
        return self.state / "trial-passwords.json"

    def url(self, path: str = "") -> str:
        host = "127.0.0.1" if self.ip in ("0.0.0.0", "") else self.ip
        return f"http://{host}:{self.port}/{path.lstrip('/')}"

    def formgrader_path(self) -> str:
        return f"services/{self.course_id}/formgrader"


def run(*argv: str) -> None:
    subprocess.run(argv, check=True)


def ensure_account(user: str) -> None:
    """A local Unix account with a home only its owner may enter."""
    try:
        pwd.getpwnam(user)
    except KeyError:
        run("useradd", "--create-home", "--user-group", "--shell", "/bin/bash", user)
    pw = pwd.getpwnam(user)
    os.chmod(pw.pw_dir, 0o700)


def gitignored(course: Path):
    """shutil.copytree's ignore function for what the course's .gitignore keeps out of git (students' work,
    grades, logs): a new course root starts without any of it."""
    ignore_file = course / ".gitignore"
    patterns = (
        [
            line.strip().rstrip("/")
            for line in ignore_file.read_text().splitlines()
            if line.strip() and not line.startswith("#")
        ]
        if ignore_file.is_file()
        else []
    )
    patterns += ["__pycache__", ".ipynb_checkpoints"]

    def ignore(_folder, names):
        return {name for name in names if any(fnmatch.fnmatch(name, p) for p in patterns)}

    return ignore


def copy_once(source: Path, dest: Path, owner: str, ignore=None) -> bool:
    """Copy a folder for a user unless it is there already (then it is theirs, and kept). True if copied."""
    if dest.exists():
        return False
    shutil.copytree(source, dest, ignore=ignore)
    pw = pwd.getpwnam(owner)
    for folder, dirs, files in os.walk(dest):
        for name in [folder, *(os.path.join(folder, n) for n in dirs + files)]:
            os.chown(name, pw.pw_uid, pw.pw_gid)
    return True


def ensure_exchange(exchange: Path) -> None:
    """The exchange: every account may create its folders in it, none may delete another's (sticky bit)."""
    exchange.mkdir(parents=True, exist_ok=True)
    os.chmod(exchange, 0o1777)


def trial_passwords(settings: Settings) -> dict[str, str]:
    """One random trial password per account, made once and kept in a file only root may read."""
    path = settings.passwords_file
    known = json.loads(path.read_text()) if path.is_file() else {}
    passwords = {user: known.get(user) or secrets.token_urlsafe(9) for user in settings.people}
    if passwords != known:
        path.touch(mode=0o600)
        path.write_text(json.dumps(passwords, indent=1))
    os.chmod(path, 0o600)
    return passwords


def check_reachable(user: str) -> None:
    """The servers run as the accounts, from this folder's environment: each must be able to use it."""
    probe = subprocess.run(
        ["runuser", "-u", user, "--", str(VENV_BIN / "python"), "-c", "import helpers, nbgrader, jupyterhub"],
        capture_output=True,
        text=True,
        cwd="/",
    )
    if probe.returncode != 0:
        sys.exit(
            f"make hub: account {user} cannot use the course environment {VENV_BIN.parent}:\n"
            f"{probe.stderr.strip()[-800:]}\nEvery account runs its server from there, so the environment "
            f"and every folder above it must be readable by all, and made by an interpreter they may run "
            f"(HUB_PYTHON); `make hub` (not `make hub-serve`) installs the course where they can read it."
        )


def prepare(settings: Settings) -> dict[str, str]:
    if os.geteuid() != 0:
        sys.exit("make hub must run as root: it makes local accounts and starts each person's server as them")
    if not PROXY.exists():
        sys.exit(f"make hub: the proxy is not installed ({PROXY}); `make hub` installs it with npm")
    settings.state.mkdir(parents=True, exist_ok=True)
    os.chmod(settings.state, 0o700)
    for user in [settings.grader, *settings.people]:
        ensure_account(user)
    ensure_exchange(settings.exchange)
    if not copy_once(
        settings.course_template, settings.course_root, settings.grader, ignore=gitignored(settings.course_template)
    ):
        print(f"Keeping the grader's course root as it is: {settings.course_root}")
    for user in settings.people:
        copy_once(LECTURES, settings.home(user) / "lectures", user, ignore=gitignored(LECTURES))
    check_reachable(settings.students[0] if settings.students else settings.instructor)
    return trial_passwords(settings)


def announce(settings: Settings, passwords: dict[str, str]) -> None:
    width = max(map(len, passwords))
    print(f"\nThe course hub: {settings.url()}  (trial passwords; stop it with Ctrl-C)\n")
    for user, password in passwords.items():
        role = "instructor (hub admin, formgrader)" if user == settings.instructor else "student"
        print(f"  {user:<{width}}  {password}  {role}")
    print(f"\nFormgrader (instructor): {settings.url(settings.formgrader_path())}")
    print(f"Course root (grader account {settings.grader}): {settings.course_root}")
    print(f"Exchange: {settings.exchange}   Passwords: {settings.passwords_file}\n", flush=True)


def main() -> None:
    settings = Settings()
    passwords = prepare(settings)
    announce(settings, passwords)
    config = HERE / "jupyterhub_config.py"
    os.chdir(settings.state)
    # JupyterHub starts its services before it takes over SIGINT, and stops one with SIGINT, waiting 30 s before
    # SIGTERM. An interrupt ignored by whatever started make hub (a script's background job, say) would be
    # ignored by the formgrader too, and every stop of the hub would wait those 30 s out.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    os.execv(VENV_BIN / "jupyterhub", [str(VENV_BIN / "jupyterhub"), "-f", str(config)])


if __name__ == "__main__":
    main()
