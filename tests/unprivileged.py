"""A grader without root, for the tests that grade as one: an account made for the test (by root, with
``useradd``, removed after it) and a way to run a command as that account.

The account must reach this Python, which may lie where other users cannot (pyenv under /root, say). The
command runs in a private mount namespace where the first folder on the way to the Python installation that
others may not enter is replaced by an open one holding just that installation; nothing else of the machine
changes. Then ``setpriv`` (util-linux) drops to the account, with no capability left: a grader as any
instructor without root is.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shlex
import stat
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

from grading.sandbox import clear


@contextlib.contextmanager
def grader_account():
    """The name of a new account without privileges, removed (with its processes) afterwards."""
    name = f"grader-{uuid.uuid4().hex[:8]}"
    subprocess.run(
        ["useradd", "--user-group", "--no-create-home", "--home-dir", "/nonexistent", "--shell", "/bin/sh", name],
        check=True,
    )
    try:
        yield name
    finally:
        uid = pwd.getpwnam(name).pw_uid
        clear(uid, [])  # whatever a test left running as the account, by process id
        subprocess.run(["userdel", name], check=True)


def closed_ancestor(path: Path) -> Path | None:
    """The outermost folder above ``path`` that other users may not enter (None if all are open)."""
    for folder in reversed(path.parents):
        if not os.stat(folder).st_mode & stat.S_IXOTH:
            return folder
    return None


def as_grader(account: str, argv: list[str], cwd: Path, env: dict | None = None, **kw) -> subprocess.CompletedProcess:
    """Run ``argv`` as ``account`` in ``cwd`` (see the module's description); ``kw`` go to ``subprocess.run``."""
    installation = Path(os.path.realpath(sys.base_prefix))
    steps = []
    closed = closed_ancestor(installation)
    if closed is not None:
        stage = "/run/grader-python-" + uuid.uuid4().hex[:8]
        steps = [
            f"mkdir {stage}",
            f"mount --bind {shlex.quote(str(installation))} {stage}",
            f"mount -t tmpfs -o mode=755,size=1m tmpfs {shlex.quote(str(closed))}",
            f"mkdir -p {shlex.quote(str(installation))}",
            f"mount --move {stage} {shlex.quote(str(installation))}",
            f"rmdir {stage}",
        ]
    user = pwd.getpwnam(account)
    drop = ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups", "--"]
    script = " && ".join([*steps, 'exec "$@"'])
    home = {"HOME": str(cwd), "USER": account, "LOGNAME": account}
    return subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script, "sh", *drop, *argv],
        cwd=cwd,
        env={**(os.environ if env is None else env), **home},
        **kw,
    )


def folder_for(account: str) -> Path:
    """A new folder of ``account``'s under the temporary folder (not pytest's, which other runs of pytest on
    the machine close to root again); the caller removes it."""
    folder = Path(tempfile.mkdtemp(prefix=f"{account}-"))
    folder.chmod(0o755)
    hand_to(account, folder)
    return folder


def hand_to(account: str, path: Path) -> None:
    """Make ``path`` and everything under it the account's."""
    subprocess.run(["chown", "-R", f"{account}:{account}", str(path)], check=True)
