"""The first process of a grading kernel's sandbox, and the launcher of an unsandboxed grading kernel.

:mod:`grading.sandbox` runs this file (``python -I``, standard library only: it starts fast and trusts
nothing installed) before the kernel's own command, with what to do in the environment variable
:data:`SPEC_VARIABLE` (JSON; it is not passed on). Sandboxed (the spec names a user), it is the first
process of fresh namespaces and runs as root:

1. it reads the connection file and the files the kernel is given (regular files only, no symbolic link
   on the way), while every path still means what it means on the host;
2. it joins the slot's cgroups, so that the kernel and all it starts share one memory and process ceiling;
3. it makes a new root on a tmpfs holding only what a kernel needs, the host's folders mounted read-only
   (:func:`new_root`), and moves into it with ``pivot_root``: the host's other files are not hidden there,
   they do not exist;
4. it starts the kernel as the slot's user under rlimits, with its standard output and error going to a
   pipe that this process reads and forwards, up to a cap, to its own standard error, and waits, reaping
   orphans, until the kernel ends or its wall-clock time is up.

For a grader without root (the spec names a ``proc_link``), it reads the connection file and the files in
the same way, as the grader, and runs the kernel in bubblewrap's sandbox (:class:`Bubblewrap`), forwarding
its output up to the cap and killing it at the end of its wall-clock time as in step 4.

Unsandboxed (no user in the spec: self-study), it does what needs no privileges: a fresh
working folder with only the given files, the same rlimits but the per-user process count, the output cap,
the wall clock, and every process the kernel leaves behind killed when it ends.
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import signal
import stat
import sys
import threading
import time

SPEC_VARIABLE = "GRADING_SANDBOX_SPEC"
WORKDIR, HOME = "/tmp/work", "/tmp/home"  # in the new root
NEW_ROOT_MB = 4  # the tmpfs of the new root: folders, mount points and the few files written in /etc
DEVICES = ("null", "zero", "full", "random", "urandom")
ENV_KEPT = ("PATH", "LANG", "LC_", "TZ", "OPENBLAS_", "OMP_", "MKL_", "NBGRADER_", "PYTHONHASHSEED")
MiB = 2**20

_libc = ctypes.CDLL(None, use_errno=True)
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT, MS_BIND, MS_REC = 1, 2, 4, 8, 32, 4096, 16384
MNT_DETACH = 2
PR_SET_CHILD_SUBREAPER = 36
NICE = 10  # a sandboxed kernel's CPU priority below the grader's, which must keep up with it
SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "riscv64": 41, "ppc64le": 203, "s390x": 217}


class SandboxError(RuntimeError):
    """The sandbox cannot be made as asked; the kernel does not start."""


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def mount(source: str, target: str, fstype: str | None = None, flags: int = 0, data: str | None = None) -> None:
    _check(
        _libc.mount(
            source.encode(),
            target.encode(),
            fstype.encode() if fstype else None,
            ctypes.c_ulong(flags),
            data.encode() if data else None,
        ),
        f"mount {source} on {target}",
    )


def tmpfs(target: str, size_kb: int, mode: str, extra: str = "", flags: int = MS_NOSUID | MS_NODEV) -> None:
    mount("tmpfs", target, "tmpfs", flags, f"size={size_kb}k,mode={mode}" + (f",{extra}" if extra else ""))


def bind_read_only(source: str, target: str) -> None:
    mount(source, target, None, MS_BIND)
    mount("none", target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV)


def umount(target: str) -> None:
    """Detach the mount on ``target`` (at once; it goes when no longer used)."""
    _check(_libc.umount2(target.encode(), MNT_DETACH), f"umount {target}")


def pivot_root(new_root: str) -> None:
    """Make ``new_root`` the root of this mount namespace and drop the old root from it altogether."""
    os.chdir(new_root)
    number = SYS_PIVOT_ROOT.get(os.uname().machine)
    if number is None:  # the util-linux command does the same on any architecture
        import subprocess

        subprocess.run(["pivot_root", ".", "."], check=True)
    else:
        _check(_libc.syscall(number, b".", b"."), "pivot_root")
    umount(".")  # the old root, which pivot_root stacked on the new one
    os.chdir("/")


# ----------------------------------------------------------------------------- reading what the kernel gets


def read_regular(path: str, cap: int) -> bytes:
    """The bytes of the regular file ``path`` (absolute), refusing a symbolic link anywhere on the way:
    root must not read, for a student, a file that a link in the student's folder points to."""
    parts = [p for p in path.split("/") if p]
    if not path.startswith("/") or not parts or ".." in parts:
        raise SandboxError(f"not an absolute path without '..': {path!r}")
    folder = os.open("/", os.O_RDONLY | os.O_DIRECTORY)
    try:
        for part in parts[:-1]:
            inner = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=folder)
            os.close(folder)
            folder = inner
        fd = os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=folder)
    except OSError as e:
        raise SandboxError(f"{path}: not a regular file reached without symbolic links ({e.strerror})") from None
    finally:
        os.close(folder)
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(f.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise SandboxError(f"{path}: not a regular file")
        if info.st_size > cap:
            raise SandboxError(f"{path}: larger than the file size limit ({cap // MiB} MiB)")
        return f.read(cap + 1)[:cap]


def readable(files: list[tuple[str, str]], cap: int) -> list[tuple[str, bytes]]:
    """(name, bytes) of each (source, name) in ``files`` that :func:`read_regular` accepts; the others are left
    out, with a note on standard error."""
    out = []
    for source, name in files:
        try:
            out.append((name, read_regular(source, cap)))
        except SandboxError as e:
            print(f"grading sandbox: left out of the kernel's folder: {e}", file=sys.stderr)
    return out


def write_tree(base: str, files: list[tuple[str, bytes]], owner: tuple[int, int] | None) -> None:
    """Write ``files`` (relative name, bytes) under ``base``, folders included, owned by ``owner``."""
    for name, data in files:
        path = os.path.join(base, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
    if owner:
        for folder, dirs, names in os.walk(base):
            for path in [folder, *(os.path.join(folder, n) for n in dirs + names)]:
                os.lchown(path, *owner)


def startup_file(ignore_warnings: list[str]) -> tuple[str, bytes]:
    """An IPython startup file that ignores the warning classes ``ignore_warnings`` (dotted names), binding no
    name in the student's namespace."""
    lines = ["import warnings as _grading_warnings"]
    for dotted in ignore_warnings:
        module, name = dotted.rsplit(".", 1)
        lines += [
            "try:",
            f"    _grading_warnings.filterwarnings('ignore', category=getattr(__import__("
            f"{module!r}, fromlist=[{name!r}]), {name!r}))",
            "except (ImportError, AttributeError):",
            "    pass",
        ]
    lines.append("del _grading_warnings")
    return ".ipython/profile_default/startup/00-grading.py", ("\n".join(lines) + "\n").encode()


# ----------------------------------------------------------------------------- the sandbox's view


def new_root(root: str, spec: dict, user: tuple[str, int, int]) -> None:
    """Make on ``root`` (a fresh tmpfs) the whole file system the kernel will see.

    - ``spec["keep"]``: host folders and files, mounted read-only at their own paths (a symbolic link such
      as /bin -> usr/bin is copied as a link); everything else of the host is absent;
    - ``spec["cover"]``: folders inside kept ones shown empty (e.g. a course root inside a kept folder);
    - ``spec["socket_folder"]``: the slot's socket tmpfs, the only host folder the kernel may write to;
    - /etc/passwd and /etc/group naming root and the sandbox user only; /dev with a few devices; a /proc of
      the new pid namespace; a fresh /tmp and /dev/shm of the sizes in ``spec["limits"]``.
    """
    limits = spec["limits"]
    # The fresh /tmp and /dev/shm first: a kept folder inside them (a clone under /tmp, its .venv) is then
    # mounted on top, where the kernel sees it, rather than hidden below.
    for path, size_mb in (("/dev/shm", limits["shm_mb"]), ("/tmp", limits["tmp_mb"])):
        os.makedirs(root + path)
        tmpfs(root + path, size_mb * 1024, "1777")
    for path in spec["keep"]:
        inside = root + path
        if os.path.islink(path):
            os.makedirs(os.path.dirname(inside), exist_ok=True)
            os.symlink(os.readlink(path), inside)
            continue
        if os.path.isdir(path):
            os.makedirs(inside, exist_ok=True)
        elif os.path.isfile(path):
            os.makedirs(os.path.dirname(inside), exist_ok=True)
            open(inside, "w").close()
        else:
            continue
        bind_read_only(path, inside)
    for path in spec["cover"]:
        if os.path.isdir(root + path):
            tmpfs(root + path, 4, "755", flags=MS_NOSUID | MS_NODEV | MS_RDONLY)
    name, uid, gid = user
    os.makedirs(root + "/etc", exist_ok=True)
    with open(root + "/etc/passwd", "w") as f:
        f.write(f"root:x:0:0:root:/root:/usr/sbin/nologin\n{name}:x:{uid}:{gid}::{HOME}:/usr/sbin/nologin\n")
    with open(root + "/etc/group", "w") as f:
        f.write(f"root:x:0:\n{name}:x:{gid}:\n")
    os.makedirs(root + "/dev", exist_ok=True)
    for device in DEVICES:
        open(root + "/dev/" + device, "w").close()
        mount("/dev/" + device, root + "/dev/" + device, None, MS_BIND)
    for link, target in (
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ):
        os.symlink(target, root + "/dev/" + link)
    os.makedirs(root + "/proc")
    mount("proc", root + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    sockets = spec["socket_folder"]
    os.makedirs(root + sockets)
    mount(sockets, root + sockets, None, MS_BIND)
    mount("none", root, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)


class Bubblewrap:
    """The bubblewrap (``bwrap``) command that makes a kernel's sandbox for a grader without root, and the
    descriptors it reads: the kernel's files, and where it says which process holds the sandbox.

    bubblewrap makes new user, mount, pid, network, ipc, uts and cgroup namespaces, the same view of the files
    as :func:`new_root` (the host's folders in ``spec["keep"]`` read-only, the others absent, ``spec["cover"]``
    shown empty, a read-only root), a fresh /tmp, /dev/shm and socket folder of the limits' sizes, and writes
    the kernel's files (read here, on the host, by :func:`readable`) into /tmp. The kernel runs in a session of
    its own and dies with this process; its process count is an rlimit counted inside its user namespace
    (``prlimit --nproc``, util-linux). The grader reaches the kernel's sockets through ``spec["proc_link"]``, a
    link made here to the sandbox's root as its first process sees it (``/proc/PID/root``).
    """

    def __init__(self, spec: dict, work: list[tuple[str, bytes]], home: list[tuple[str, bytes]], command: list[str]):
        limits = spec["limits"]
        uid, gid = os.getuid(), os.getgid()
        name = spec["user_name"]
        self.proc_link = spec["proc_link"]
        self._data: list[int] = []  # descriptors, in the order the command names them (from 3 on)
        self._info_read, info_write = os.pipe()
        args = ["bwrap", "--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent", "--new-session"]
        args += ["--size", str(limits["tmp_mb"] * MiB), "--perms", "1777", "--tmpfs", "/tmp"]
        for path in spec["keep"]:
            if os.path.islink(path):
                args += ["--symlink", os.readlink(path), path]
            elif os.path.exists(path):
                args += ["--ro-bind", path, path]
        for path in spec["cover"]:
            args += ["--perms", "0755", "--size", str(4096), "--tmpfs", path, "--remount-ro", path]
        passwd = f"root:x:0:0:root:/root:/usr/sbin/nologin\n{name}:x:{uid}:{gid}::{HOME}:/usr/sbin/nologin\n"
        args += ["--ro-bind-data", self._file(passwd.encode()), "/etc/passwd"]
        args += ["--ro-bind-data", self._file(f"root:x:0:\n{name}:x:{gid}:\n".encode()), "/etc/group"]
        args += ["--dev", "/dev", "--size", str(limits["shm_mb"] * MiB), "--perms", "1777", "--tmpfs", "/dev/shm"]
        args += ["--proc", "/proc"]
        args += ["--size", str(limits["socket_folder_kb"] * 1024), "--perms", "0700"]
        args += ["--tmpfs", spec["socket_folder"]]
        for folder, files, perms in ((WORKDIR, work, "0755"), (HOME, home, "0700")):
            args += ["--perms", perms, "--dir", folder]
            for relative, data in files:
                path = os.path.join(folder, relative)
                for parent in reversed(_parents(path, folder)):
                    args += ["--dir", parent]
                args += ["--perms", "0644", "--file", self._file(data), path]
        args += ["--remount-ro", "/", "--chdir", WORKDIR, "--clearenv"]
        for key, value in kernel_env(spec, HOME).items():
            args += ["--setenv", key, value]
        self._data.append(info_write)
        args += ["--info-fd", str(2 + len(self._data)), "--"]
        nproc = limits["processes"]
        self.command = [*args, "prlimit", f"--nproc={nproc}:{nproc}", "--", *command]

    def _file(self, data: bytes) -> str:
        """The descriptor number, in the command, of a file holding ``data``."""
        fd = os.memfd_create("grading-sandbox-file")
        os.write(fd, data)
        os.lseek(fd, 0, os.SEEK_SET)
        self._data.append(fd)
        return str(2 + len(self._data))

    def keep_descriptors(self) -> None:
        """In the child that runs bubblewrap: the descriptors at the numbers the command names, no other."""
        high = [os.dup2(fd, 1000 + i) for i, fd in enumerate(self._data)]
        for i, fd in enumerate(high):
            os.dup2(fd, 3 + i)
        os.closerange(3 + len(high), 65536)

    def started(self) -> None:
        """In this process once bubblewrap runs: the link to the sandbox's root, once bubblewrap says where."""
        for fd in self._data:
            os.close(fd)
        with os.fdopen(self._info_read) as info:
            text = info.read()  # bubblewrap closes its end once it has written (or failed)
        if text:
            os.symlink(f"/proc/{json.loads(text)['child-pid']}/root", self.proc_link)


def _parents(path: str, top: str) -> list[str]:
    """The folders between ``top`` (excluded) and ``path`` (excluded), innermost first."""
    out, parent = [], os.path.dirname(path)
    while parent != top and parent.startswith(top + "/"):
        out.append(parent)
        parent = os.path.dirname(parent)
    return out


def join_cgroups(folders: list[str]) -> None:
    """Move this process (and so all it will start) into the slot's cgroups."""
    for folder in folders:
        with open(os.path.join(folder, "cgroup.procs"), "w") as f:
            f.write("0")


# ----------------------------------------------------------------------------- running the kernel


def set_limits(limits: dict, sandboxed: bool) -> None:
    """Rlimits of the kernel process (inherited by what it starts); the sandbox user cannot raise them."""
    chosen = [
        (resource.RLIMIT_AS, limits["memory_mb"] * MiB, 0),
        (resource.RLIMIT_CPU, limits["cpu_seconds"], 5),
        (resource.RLIMIT_FSIZE, limits["file_size_mb"] * MiB, 0),
        (resource.RLIMIT_CORE, 0, 0),
    ]
    if sandboxed:  # a per-user count: unsandboxed, it would count the user's other programs too
        chosen.append((resource.RLIMIT_NPROC, limits["processes"], 0))
    for what, value, grace in chosen:
        _, hard = resource.getrlimit(what)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
            grace = min(grace, hard - value)
        resource.setrlimit(what, (value, value + grace))
    with open("/proc/self/oom_score_adj", "w") as f:  # the out-of-memory killer takes grading kernels first
        f.write("1000")


def forward(pipe: int, cap: int) -> None:
    """Copy what comes through ``pipe`` to standard error up to ``cap`` bytes; read and drop the rest."""
    sent = 0
    while chunk := os.read(pipe, 1 << 16):
        if sent < cap:
            part = chunk[: cap - sent]
            sent += len(part)
            try:
                os.write(2, part)
                if sent == cap:
                    os.write(2, f"\ngrading sandbox: kernel output beyond {cap // 1024} KiB dropped\n".encode())
            except OSError:  # nobody reads any more: keep draining, so that the kernel never blocks
                sent = cap


def run(
    command: list[str],
    env: dict,
    workdir: str,
    limits: dict,
    user: tuple[str, int, int] | None,
    bubblewrap: Bubblewrap | None = None,
) -> int:
    """Start ``command`` (as ``user`` if given, or in ``bubblewrap``'s sandbox) and wait for it; return its exit
    code as a shell would."""
    read_end, write_end = os.pipe()
    kernel = os.fork()
    if kernel == 0:
        try:
            null = os.open("/dev/null", os.O_RDONLY)
            os.dup2(null, 0)
            os.dup2(write_end, 1)
            os.dup2(write_end, 2)
            if bubblewrap:
                bubblewrap.keep_descriptors()
                # its own process group: jupyter_client's signals to the kernel's group reach this process
                # only (bubblewrap would die of a SIGINT, and the sandbox with it)
                os.setpgid(0, 0)
                os.nice(NICE)
            else:
                os.closerange(3, 65536)
            set_limits(limits, sandboxed=user is not None)
            os.chdir(workdir)
            if user:
                name, uid, gid = user
                command = [
                    "setpriv",
                    f"--reuid={uid}",
                    f"--regid={gid}",
                    "--clear-groups",
                    "--no-new-privs",
                    "--inh-caps=-all",
                    "--",
                    *command,
                ]
            os.execvpe(command[0], command, env)
        except BaseException as e:  # noqa: BLE001 (the forked child reports any failure, then exits)
            os.write(2, f"grading sandbox: cannot start {command[0]}: {e}\n".encode())
        finally:
            os._exit(127)
    os.close(write_end)
    if bubblewrap:
        bubblewrap.started()
    forwarder = threading.Thread(target=forward, args=(read_end, limits["output_kb"] * 1024), daemon=True)
    forwarder.start()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # interrupts are for the kernel (same process group)
    signal.signal(signal.SIGTERM, lambda *_: os.kill(kernel, signal.SIGTERM))
    out_of_time = []

    def wall_clock(*_):
        out_of_time.append(True)
        os.kill(kernel, signal.SIGKILL)

    signal.signal(signal.SIGALRM, wall_clock)
    signal.alarm(limits["wall_seconds"])
    # Orphans come here (sandboxed, this is the first process of the pid namespace; unsandboxed, a subreaper):
    # reaped until the kernel ends, killed after it.
    while True:
        pid, status = os.wait()
        if pid == kernel:
            break
    signal.alarm(0)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # the kernel is gone: nothing to pass a SIGTERM on to
    # The last of the kernel's output may still be in the pipe: once no process is left to write to it, pass
    # all of it on (a slow reader would otherwise lose it when this process ends).
    kill_descendants()
    forwarder.join()
    code = os.waitstatus_to_exitcode(status)
    if out_of_time:
        print(
            f"grading sandbox: {command[0]} killed after {limits['wall_seconds']} s of wall-clock time", file=sys.stderr
        )
    elif code < 0 and -code not in (signal.SIGTERM, signal.SIGINT):  # e.g. SIGXCPU: out of CPU time
        print(f"grading sandbox: {command[0]} killed by {signal.Signals(-code).name}", file=sys.stderr)
    return 128 - code if code < 0 else code


def kill_descendants() -> None:
    """Kill, until none is left, the processes whose parent is this one (the kernel's orphans)."""
    me = str(os.getpid())
    for _ in range(1000):
        children = []
        for entry in os.listdir("/proc"):
            try:
                with open(f"/proc/{entry}/stat") as f:
                    if f.read().rsplit(")", 1)[1].split()[1] == me:
                        children.append(int(entry))
            except (OSError, IndexError):  # gone, or not a process
                continue
        if not children:
            return
        for pid in children:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        while True:
            try:
                if os.waitpid(-1, os.WNOHANG) == (0, 0):
                    break
            except ChildProcessError:
                break
        time.sleep(0.01)


def kernel_env(spec: dict, home: str) -> dict:
    """The kernel's environment: the grader's locale, path and thread settings, nothing else of it."""
    user = spec["user"] or spec.get("user_name")
    env = {k: v for k, v in os.environ.items() if k.startswith(ENV_KEPT)} if user else dict(os.environ)
    # PYTHONSAFEPATH: the working folder is not on sys.path, so no module planted there is imported;
    # JPY_PARENT_PID=1: no parent polling (this process lives as long as the kernel).
    env.update(PYTHONSAFEPATH="1", IPYTHONDIR=os.path.join(home, ".ipython"), JPY_PARENT_PID="1")
    if user:
        env.update(HOME=home, TMPDIR="/tmp", USER=user, LOGNAME=user)
    return env


def main(argv: list[str]) -> int:
    spec = json.loads(os.environ.pop(SPEC_VARIABLE))
    command = argv[1:] if argv[:1] == ["--"] else argv
    limits, cap = spec["limits"], spec["limits"]["file_size_mb"] * MiB
    connection = command.index("-f") + 1 if "-f" in command else None  # the grader's connection file
    secrets = read_regular(os.path.abspath(command[connection]), cap) if connection else b""
    work, home = readable(spec["files"], cap), readable(spec["home_files"], cap)
    home.append(startup_file(spec["ignore_warnings"]))
    if spec.get("proc_link"):
        if connection:
            settings = json.loads(secrets)
            settings["ip"] = os.path.join(spec["socket_folder"], "kernel")  # the grader's path, seen inside
            home.append(("connection.json", json.dumps(settings).encode()))
            command[connection] = os.path.join(HOME, "connection.json")
        print(f"grading sandbox: {os.path.basename(command[0])} runs in bubblewrap", file=sys.stderr)
        bubblewrap = Bubblewrap(spec, work, home, command)
        return run(bubblewrap.command, dict(os.environ), "/", limits, None, bubblewrap)
    if spec["user"]:
        import pwd

        entry = pwd.getpwnam(spec["user"])
        user = (spec["user"], entry.pw_uid, entry.pw_gid)
        print(f"grading sandbox: {os.path.basename(command[0])} runs as {spec['user']}", file=sys.stderr)
        join_cgroups(spec["cgroups"])
        tmpfs(spec["stage"], NEW_ROOT_MB * 1024, "755")
        new_root(spec["stage"], spec, user)
        pivot_root(spec["stage"])
        workdir, homedir, scratch = WORKDIR, HOME, None
        if connection:
            home.append(("connection.json", secrets))
            command[connection] = os.path.join(HOME, "connection.json")
    else:
        import tempfile

        user, scratch = None, tempfile.mkdtemp(prefix="grading-kernel-")
        workdir, homedir = os.path.join(scratch, "work"), os.path.join(scratch, "home")
        _libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    os.makedirs(workdir)
    os.makedirs(homedir)
    write_tree(workdir, work, user[1:] if user else None)
    write_tree(homedir, home, user[1:] if user else None)
    os.chmod(homedir, 0o700)
    try:
        return run(command, kernel_env(spec, homedir), workdir, limits, user)
    finally:
        if scratch:
            import shutil

            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except (SandboxError, OSError) as e:
        print(f"grading sandbox: {e}", file=sys.stderr)
        sys.exit(70)
