"""A sandbox for student code during grading (Linux, run by root).

The grader (nbgrader, root) stays outside; only the kernel, which runs the student's code, goes in:

- ``unshare`` gives it new namespaces: network (no interface but a loopback that is down, so no
  network at all), mount (a private view of the files), pid (it sees no other process, and everything
  it starts dies with it), ipc and uts;
- in that view, empty tmpfs owned by root cover the course root (shards included), the repository and
  the grader's home; the Python environment, ``helpers`` and ``datasets`` are mounted back read-only; /tmp,
  /var/tmp, /dev/shm and /run/lock are fresh and small; the kernel works in a private copy of its
  notebook's folder without any notebook (nbgrader writes the hidden tests into the notebook it runs);
- ``setpriv`` then drops to an unprivileged system user of its own worker (no groups, no capabilities,
  no_new_privs), under rlimits on address space, CPU seconds, processes and core dumps.

The kernel talks to nbgrader over Unix sockets (jupyter_client's ``ipc`` transport) in a folder owned by
that user: from a new network namespace the grader's loopback TCP ports cannot be reached.

:func:`kernel_spec` writes the kernelspec a grading worker uses; the kernel command it names runs this
file, whose :func:`main` is the namespace's first process: it sets up the view, starts the kernel as
the sandbox user and waits for it. What this does and does not stop: grading/README.md.
"""

from __future__ import annotations

import argparse
import fcntl
import fnmatch
import itertools
import json
import os
import pwd
import resource
import shutil
import signal
import subprocess
import sys
from pathlib import Path

RUN_DIR = Path("/run/grading-sandbox")  # per-worker socket folders; not hidden, so grader and kernel meet there
STAGE = RUN_DIR / "stage"  # each sandbox mounts a tmpfs of its own here while it makes its view
SCRATCH = {"/tmp": 512, "/var/tmp": 16, "/dev/shm": 64, "/run/lock": 1}  # fresh tmpfs in the view, MiB
WORKDIR, HOME = "/tmp/work", "/tmp/home"  # in the view
ENV_KEPT = ("PATH", "LANG", "LC_", "TZ", "OPENBLAS_", "OMP_", "MKL_", "NBGRADER_", "PYTHONHASHSEED")


def user_name(slot: int) -> str:
    return f"grading-sandbox-{slot}"


def ensure_user(name: str) -> int:
    """The uid of system user ``name``, created (no home, no login shell, own group) if missing."""
    try:
        return pwd.getpwnam(name).pw_uid
    except KeyError:  # if another grader made it meanwhile, useradd fails and the user is there
        subprocess.run(["useradd", "--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent",
                        "--shell", "/usr/sbin/nologin", name], stderr=subprocess.DEVNULL)
        return pwd.getpwnam(name).pw_uid


def claim_slot() -> tuple[int, int]:
    """The lowest worker slot that no process on this machine holds, and the descriptor of the lock that
    holds it for this process (until closed or the process ends): concurrent graders never share a user."""
    RUN_DIR.mkdir(mode=0o711, exist_ok=True)
    for slot in itertools.count():
        lock = os.open(RUN_DIR / f"{slot}.lock", os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return slot, lock
        except BlockingIOError:
            os.close(lock)


def prepare(slot: int) -> Path:
    """Make the user and folders of ``slot`` (claimed by :func:`claim_slot`); return the folder of its kernel's
    sockets, which only that user (and root) may enter, emptied of what an earlier kernel left."""
    uid = ensure_user(user_name(slot))
    RUN_DIR.mkdir(mode=0o711, exist_ok=True)
    STAGE.mkdir(mode=0o700, exist_ok=True)
    path = RUN_DIR / str(slot)
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(mode=0o700)
    os.chown(path, uid, -1)
    return path


def wrapper(slot: int, hide: list[Path], keep: list[Path], memory_mb: int, cpu_seconds: int, processes: int,
            home_template: Path | None = None) -> list[str]:
    """The command that runs the command after it in the sandbox of worker ``slot`` (as root)."""
    argv = ["setpriv", "--pdeathsig", "KILL", "--",  # the sandbox dies with the grader
            "unshare", "--net", "--mount", "--pid", "--ipc", "--uts", "--fork", "--kill-child", "--mount-proc", "--",
            sys.executable, "-I", str(Path(__file__).resolve()), "--user", user_name(slot), "--memory-mb",
            str(memory_mb), "--cpu-seconds", str(cpu_seconds), "--processes", str(processes)]
    argv += [arg for path in hide for arg in ("--hide", str(path))]
    argv += [arg for path in keep for arg in ("--keep", str(path))]
    argv += ["--home-template", str(home_template)] if home_template else []
    return [*argv, "--"]


def kernel_spec(folder: Path, slot: int, *args, **kwargs) -> Path:
    """Write ``folder/kernels/python3/kernel.json``: the sandboxed kernel of worker ``slot`` (``wrapper``'s
    arguments). Put ``folder`` first on JUPYTER_PATH to make it the ``python3`` kernel."""
    argv = [*wrapper(slot, *args, **kwargs), sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    spec = folder / "kernels" / "python3"
    spec.mkdir(parents=True, exist_ok=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": argv, "display_name": "Python 3 (grading sandbox)", "language": "python",
        "interrupt_mode": "signal", "metadata": {"debugger": False}}, indent=1))
    return folder


# ----------------------------------------------------------------------------- inside the namespaces


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True)


def _tmpfs(path: str, mode: str, size_mb: int) -> None:
    _mount("-t", "tmpfs", "-o", f"mode={mode},size={size_mb}m,nosuid,nodev", "tmpfs", path)


def without(*patterns: str):
    """A copytree ``ignore`` that leaves out ``patterns`` and every symbolic link (root must not follow a
    student's link to a file of the grader's)."""
    def ignore(folder, names):
        return [n for n in names if os.path.islink(os.path.join(folder, n))
                or any(fnmatch.fnmatch(n, p) for p in patterns)]
    return ignore


def private_view(hide: list[str], keep: list[str], home_template: str | None) -> None:
    """Cover ``hide`` with empty tmpfs, bring ``keep`` back read-only, and give a fresh /tmp holding
    :data:`WORKDIR`, a copy of the current folder without notebooks, and :data:`HOME`, a copy of
    ``home_template``. Only this mount namespace sees the change (unshare makes its mounts private).

    Everything is first gathered in a tmpfs on :data:`STAGE`, while every path still means what it means
    outside: the course may itself live under /tmp.
    """
    stage, tmp = str(STAGE), os.path.join(STAGE, "tmp")
    _tmpfs(stage, "700", 1)
    os.mkdir(tmp)
    _tmpfs(tmp, "1777", SCRATCH["/tmp"])
    shutil.copytree(".", tmp + WORKDIR.removeprefix("/tmp"), ignore=without("*.ipynb"))
    if home_template:
        shutil.copytree(home_template, tmp + HOME.removeprefix("/tmp"), ignore=without())
    else:
        os.mkdir(tmp + HOME.removeprefix("/tmp"))
    staged = []
    for i, path in enumerate(keep):
        staged.append((os.path.join(stage, f"keep{i}"), path))
        os.mkdir(staged[-1][0])
        _mount("--rbind", path, staged[-1][0])
    for path in sorted(set(hide), key=len):
        if os.path.isdir(path):  # a folder inside one already covered is gone
            _tmpfs(path, "755", 1)
    _mount("--move", tmp, "/tmp")
    for path, size in SCRATCH.items():
        if path != "/tmp" and os.path.isdir(path):
            _tmpfs(path, "1777", size)
    for bound, path in staged:
        os.makedirs(path, exist_ok=True)
        _mount("--move", bound, path)
        _mount("-o", "remount,bind,ro", path)
    subprocess.run(["umount", stage], check=True)


def limit(memory_mb: int, cpu_seconds: int, processes: int) -> None:
    """Rlimits that the sandbox user cannot raise; the out-of-memory killer takes sandboxed processes first."""
    for what, value, grace in ((resource.RLIMIT_AS, memory_mb * 2**20, 0), (resource.RLIMIT_CPU, cpu_seconds, 5),
                               (resource.RLIMIT_NPROC, processes, 0), (resource.RLIMIT_CORE, 0, 0)):
        resource.setrlimit(what, (value, value + grace))
    Path("/proc/self/oom_score_adj").write_text("1000")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Start a kernel in the grading sandbox (first process of "
                                                 "fresh namespaces; see kernel_spec).")
    parser.add_argument("--user", required=True)
    parser.add_argument("--hide", action="append", default=[])
    parser.add_argument("--keep", action="append", default=[])
    parser.add_argument("--home-template", help="folder copied as the kernel's home (e.g. matplotlib's font cache)")
    parser.add_argument("--memory-mb", type=int, required=True)
    parser.add_argument("--cpu-seconds", type=int, required=True)
    parser.add_argument("--processes", type=int, required=True)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    user = pwd.getpwnam(args.user)

    connection = command.index("-f") + 1 if "-f" in command else None  # a kernel's connection file: the
    secrets = Path(command[connection]).read_bytes() if connection else b""  # grader's, copied for the kernel
    private_view(args.hide, args.keep, args.home_template)
    if connection:
        command[connection] = os.path.join(HOME, "connection.json")
        Path(command[connection]).write_bytes(secrets)
    os.chmod(HOME, 0o700)
    for path in (WORKDIR, HOME):
        for folder, _, files in os.walk(path):
            for name in [folder, *(os.path.join(folder, f) for f in files)]:
                os.chown(name, user.pw_uid, user.pw_gid)
    env = {k: v for k, v in os.environ.items() if k.startswith(ENV_KEPT)}
    # JPY_PARENT_PID=1: no parent polling (the kernel's parent is this process; it lives as long as the kernel).
    env.update(HOME=HOME, TMPDIR="/tmp", USER=args.user, LOGNAME=args.user, JPY_PARENT_PID="1")
    kernel = os.fork()
    if kernel == 0:
        limit(args.memory_mb, args.cpu_seconds, args.processes)
        os.chdir(WORKDIR)
        os.execvpe("setpriv", ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups",
                               "--no-new-privs", "--inh-caps=-all", "--", *command], env)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # interrupts are for the kernel (same process group)
    # First process of the pid namespace: reap orphans until the kernel ends; then the kernel of the
    # operating system kills whatever the student's code left running.
    while True:
        pid, status = os.wait()
        if pid == kernel:
            code = os.waitstatus_to_exitcode(status)
            if code < 0:  # e.g. SIGXCPU: out of CPU time
                print(f"grading sandbox: {command[0]} killed by {signal.Signals(-code).name}", file=sys.stderr)
            return 128 - code if code < 0 else code


if __name__ == "__main__":
    sys.exit(main())
