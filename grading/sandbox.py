"""Kernels for grading: :class:`SandboxedKernelManager` and :class:`UnsandboxedKernelManager`.

Both are jupyter_client kernel managers (``AsyncKernelManager``), so nbgrader and nbclient use them as
they are: ``c.Execute.kernel_manager_class`` in ``nbgrader_config.py``, or
``SandboxedKernelManager(config=config)`` in code. Their limits are :class:`grading.limits.SandboxLimits`
(``c.SandboxLimits.memory_mb = 8192``). The kernel always runs ``python -m ipykernel_launcher`` of this
environment, whatever kernel a notebook names, in a working folder that holds only :attr:`files`.

The sandbox has two makers, one view of the files and one set of limits (grading/INTERNALS.md, "The
sandbox", says why two and what each does not stop).

**As root**, a sandboxed kernel starts in a *slot* that its manager claims (:class:`Slot`): a lock in
:data:`RUN_DIR`, held until the kernel is shut down, so that two kernels running at once, even of two
grading runs, never share a slot. A slot has

- a system user of its own (``grading-sandbox-N``, made with ``useradd`` on first use);
- a cgroup (v1 memory, pids and cpu controllers, or v2) holding the memory and process ceilings and the
  CPU weight (where the system has the cpu controller) of the kernel and everything it starts; before a
  kernel starts, every process of the slot's user or in its cgroup, such as a fork bomb's leftovers, is
  killed and waited for;
- a socket folder ``/run/grading-sandbox/N``: a small tmpfs owned by the slot's user, where the kernel
  binds its Unix sockets (jupyter_client's ``ipc`` transport; the sandbox has no network at all).

The kernel's command line starts with ``setpriv --pdeathsig KILL unshare --net --mount --pid --ipc --uts``
(util-linux): new namespaces that die with the grader, whose first process is
:mod:`grading.sandbox_init`. That makes the view of the files (a new root with only what a kernel needs,
read-only), drops to the slot's user and runs the kernel.

**Without root**, :mod:`grading.sandbox_init` reads the kernel's files and starts it in bubblewrap
(:class:`grading.sandbox_init.Bubblewrap`), where the system allows unprivileged user namespaces
(:func:`bubblewrap_refusal` says why not, naming the setting, where it does not). The kernel runs as the
grader's own user in namespaces of its own; the grader reaches its sockets, in a small tmpfs of the
sandbox's, through ``/proc/PID/root`` of the sandbox's first process.
"""

from __future__ import annotations

import errno
import fcntl
import glob
import itertools
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from jupyter_client.provisioning import LocalProvisioner
from traitlets import Instance, Integer, List, TraitError, Unicode, default, validate

from grading import sandbox_init
from grading.limits import SandboxLimits
from grading.sandbox_init import SandboxError

RUN_DIR = Path("/run/grading-sandbox")  # slot locks and socket folders; seen by grader and kernel alike
STAGE = RUN_DIR / "stage"  # where each sandbox, in its own mount namespace, builds its new root
INIT = Path(sandbox_init.__file__).resolve()
SOCKETS_INSIDE = "/run/grading-sandbox"  # without root: the kernel's socket folder, as the kernel sees it
# Without root, a kernel setting that forbids unprivileged user namespaces: (name, the value that forbids
# them, what to do); read under SYSCTL, which a test may point at a folder of its own.
SYSCTL = Path(os.environ.get("GRADING_SANDBOX_SYSCTL", "/proc/sys"))
USERNS_SETTINGS = (
    ("kernel.unprivileged_userns_clone", "0", "Debian: sysctl kernel.unprivileged_userns_clone=1"),
    ("user.max_user_namespaces", "0", "sysctl user.max_user_namespaces=15000"),
    (
        "kernel.apparmor_restrict_unprivileged_userns",
        "1",
        "Ubuntu 24.04 and later: an AppArmor profile allowing bwrap user namespaces, or "
        "sysctl kernel.apparmor_restrict_unprivileged_userns=0",
    ),
)
CLEAR_SECONDS = 60  # how long a slot's leftover processes may take to die before the slot is refused
# The cgroup's process ceiling is this far above the user's (RLIMIT_NPROC), which counts only the kernel's user:
# room for the sandbox's first process and its threads, so that a fork past the limit is refused by the user's
# count, which the kernel checks before copying the process. The cgroup's ceiling refuses only after the copy
# (4 ms for a kernel-sized process): a fork bomb that retries would hold a core of the grading machine.
FIRST_PROCESS_TASKS = 8
# What a kernel sees of the host besides the Python environment and the course's helpers and data:
# the system's programs and libraries, and the few files of /etc that they read.
SYSTEM_PATHS = (
    "/usr",
    "/bin",
    "/sbin",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/localtime",
    "/etc/timezone",
    "/etc/nsswitch.conf",
    "/etc/hosts",
    "/etc/alternatives",
    "/etc/fonts",
    "/etc/mime.types",
    "/etc/ssl",
    "/etc/python3*",
)


def user_name(slot: int) -> str:
    return f"grading-sandbox-{slot}"


def ensure_user(name: str) -> pwd.struct_passwd:
    """System user ``name``, created (no home, no login shell, own group) if missing."""
    try:
        return pwd.getpwnam(name)
    except KeyError:  # if another grader made it meanwhile, useradd fails and the user is there
        subprocess.run(
            [
                "useradd",
                "--system",
                "--user-group",
                "--no-create-home",
                "--home-dir",
                "/nonexistent",
                "--shell",
                "/usr/sbin/nologin",
                name,
            ],
            stderr=subprocess.DEVNULL,
        )
        return pwd.getpwnam(name)


# ----------------------------------------------------------------------------- cgroups


def _mountinfo(proc: Path) -> list[tuple[str, str, str, set[str]]]:
    """(root, mount point, file system type, super options) of each mount this process sees."""
    out = []
    with open(proc / "mountinfo") as f:
        for line in f:
            left, right = line.split(" - ", 1)
            fields, (fstype, _, options) = left.split(), right.split()[:3]
            point = fields[4].replace("\\040", " ")
            out.append((fields[3], point, fstype, set(options.split(","))))
    return out


def _inside(own: str, root: str) -> str:
    """The path of cgroup ``own`` relative to a hierarchy mounted from ``root``."""
    return own[len(root) :].lstrip("/") if own.startswith(root) else own.lstrip("/")


def _v2_base(own: Path, controllers: set[str]) -> Path | None:
    """The v2 cgroup under which the slots' cgroups may have ``controllers``: this process's own, if it
    delegates them (or can be made to), else its parent, which delegates them to it."""
    available = set((own / "cgroup.controllers").read_text().split())
    if not controllers <= available:
        return None
    delegated = set((own / "cgroup.subtree_control").read_text().split())
    try:
        if not controllers <= delegated:
            (own / "cgroup.subtree_control").write_text(" ".join(f"+{c}" for c in sorted(controllers)))
        return own
    except OSError:  # a cgroup with processes of its own delegates nothing (v2's no-internal-process rule)
        return own.parent


def cgroup_bases(
    controllers: tuple[str, ...] = ("memory", "pids"),
    proc: Path = Path("/proc/self"),
    optional: tuple[str, ...] = ("cpu",),
) -> dict[Path, list[str]]:
    """Where the slots' cgroups go: ``{parent folder: controllers}``, one folder per v1 hierarchy holding one of
    ``controllers`` or ``optional`` (those if there), or the v2 one. Under this process's own cgroup (so an
    outer limit still applies)."""
    own_v1, own_v2 = {}, None
    with open(proc / "cgroup") as f:
        for line in f:
            _, names, path = line.rstrip("\n").split(":", 2)
            if names:
                own_v1.update({name: path for name in names.split(",")})
            else:
                own_v2 = path
    bases: dict[Path, list[str]] = {}
    missing = {*controllers, *optional}
    for root, point, fstype, options in _mountinfo(proc):
        for name in sorted(missing & options):
            if fstype == "cgroup" and name in own_v1:
                bases.setdefault(Path(point, _inside(own_v1[name], root)), []).append(name)
                missing.discard(name)
    if missing and own_v2 is not None:
        for root, point, fstype, _ in _mountinfo(proc):
            if fstype == "cgroup2":
                own = Path(point, _inside(own_v2, root))
                available = set((own / "cgroup.controllers").read_text().split())
                wanted = {c for c in missing if c in available or c not in optional}
                base = _v2_base(own, wanted)
                if base is not None:
                    bases.setdefault(base, []).extend(sorted(wanted))
                    missing -= wanted
                break
    missing -= set(optional)
    if missing:
        raise SandboxError(
            f"the grading sandbox needs the cgroup controllers {sorted(missing)} (v1 or v2) and "
            f"cannot find them delegated to this process; see grading/README.md, 'The sandbox'"
        )
    return bases


def cgroup_limits(folder: Path, controllers: list[str], limits: SandboxLimits) -> None:
    """Write the memory and process ceilings and the CPU weight of one slot cgroup (v1 or v2 files)."""
    memory = str(limits.memory_mb * 2**20)
    v2 = (folder / "cgroup.controllers").exists()
    files = {
        "memory": [("memory.max", memory), ("memory.swap.max", "0")]
        if v2
        else [("memory.limit_in_bytes", memory), ("memory.memsw.limit_in_bytes", memory)],
        "pids": [("pids.max", str(limits.processes + FIRST_PROCESS_TASKS))],
        # v1's cpu.shares counts 1024 where v2's cpu.weight counts 100
        "cpu": [("cpu.weight", str(limits.cpu_weight))]
        if v2
        else [("cpu.shares", str(limits.cpu_weight * 1024 // 100))],
    }
    required = ("memory.max", "memory.limit_in_bytes", "pids.max", "cpu.weight", "cpu.shares")
    for name in controllers:
        for file, value in files[name]:
            if (folder / file).exists() or file in required:
                (folder / file).write_text(value)


def _cgroup_pids(folder: Path) -> set[int]:
    try:
        return {int(p) for p in (folder / "cgroup.procs").read_text().split()}
    except FileNotFoundError:
        return set()


def processes_of(uid: int) -> set[int]:
    """Every process of the machine whose owner is ``uid``."""
    found = set()
    for entry in os.listdir("/proc"):
        try:
            if entry.isdigit() and os.stat(f"/proc/{entry}").st_uid == uid:
                found.add(int(entry))
        except FileNotFoundError:
            continue
    return found


def clear(uid: int, cgroups: list[Path], seconds: float = CLEAR_SECONDS) -> None:
    """Kill every process of ``uid`` or in ``cgroups`` and wait until none is left (zombies included: they
    still count against the user's process limit)."""
    deadline = time.monotonic() + seconds
    while alive := processes_of(uid).union(*map(_cgroup_pids, cgroups)):
        if time.monotonic() > deadline:
            raise SandboxError(f"processes {sorted(alive)[:8]} of a sandbox slot survive SIGKILL")
        for pid in alive:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.01)


# ----------------------------------------------------------------------------- slots


def claim_slot(number: int | None = None) -> tuple[int, int]:
    """The lowest slot that no process on this machine holds (or slot ``number``, once it is free), and the
    descriptor of the lock that holds it for this process until closed."""
    RUN_DIR.mkdir(mode=0o711, exist_ok=True)
    for slot in itertools.count() if number is None else [number]:
        lock = os.open(RUN_DIR / f"{slot}.lock", os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | (fcntl.LOCK_NB if number is None else 0))
            return slot, lock
        except BlockingIOError:
            os.close(lock)
    raise AssertionError("unreachable")


class Slot:
    """A sandbox slot claimed by this process, made ready for one kernel (see the module's description)."""

    def __init__(self, limits: SandboxLimits, number: int | None = None):
        self.limits = limits
        self.number, self._lock = claim_slot(number)
        try:
            self.user = ensure_user(user_name(self.number))
            self.sockets = RUN_DIR / str(self.number)
            self.cgroups = {base / f"grading-sandbox-{self.number}": names for base, names in cgroup_bases().items()}
            STAGE.mkdir(mode=0o700, exist_ok=True)
            self.prepare()
        except BaseException:
            os.close(self._lock)
            raise

    def prepare(self) -> None:
        """Empty the slot: no process, a fresh socket folder, fresh cgroups with the current limits."""
        clear(self.user.pw_uid, list(self.cgroups))
        for folder, names in self.cgroups.items():
            if folder.exists():
                folder.rmdir()  # a fresh cgroup: no memory charge or event count of an earlier kernel
            folder.mkdir()
            cgroup_limits(folder, names, self.limits)
        self._unmount_sockets()
        self.sockets.mkdir(mode=0o700, exist_ok=True)
        sandbox_init.tmpfs(
            str(self.sockets),
            self.limits.socket_folder_kb,
            "700",
            f"uid={self.user.pw_uid},gid={self.user.pw_gid}",
            sandbox_init.MS_NOSUID | sandbox_init.MS_NODEV | sandbox_init.MS_NOEXEC,
        )

    def _unmount_sockets(self) -> None:
        while os.path.ismount(self.sockets):
            sandbox_init.umount(str(self.sockets))

    def spec(self, spec: dict, cover: list[str] = (), keep: list[str] = ()) -> dict:
        """``spec`` (of :func:`launch_spec`) for a sandbox in this slot: the view of :func:`view_spec`."""
        return {
            **view_spec(spec, cover, keep),
            "user": self.user.pw_name,
            "socket_folder": str(self.sockets),
            "cgroups": [str(c) for c in self.cgroups],
            "stage": str(STAGE),
        }

    def release(self) -> None:
        """Give the slot back; what the kernel left running is killed by the slot's next user."""
        if self._lock is None:
            return
        self._unmount_sockets()
        for folder in self.cgroups:
            try:
                folder.rmdir()
            except OSError as e:  # still busy with dying processes: the next prepare() waits for them
                if e.errno not in (errno.EBUSY, errno.ENOENT):
                    raise
        os.close(self._lock)
        self._lock = None


def view_spec(spec: dict, cover: list[str] = (), keep: list[str] = ()) -> dict:
    """``spec`` (of :func:`launch_spec`) with the view of a sandbox: :func:`view_paths` plus ``keep``, with
    ``cover`` (folders) shown empty if inside it, and the font cache that each kernel would make again."""
    import matplotlib
    import matplotlib.font_manager  # noqa: F401 (makes the font cache)

    seen = [*view_paths(), *keep]
    folders = [k for k in seen if not os.path.islink(k)]
    fonts = glob.glob(os.path.join(matplotlib.get_cachedir(), "fontlist-*.json"))
    return {
        **spec,
        "keep": seen,
        "cover": sorted({os.path.realpath(p) for p in cover if any(_under(os.path.realpath(p), k) for k in folders)}),
        "home_files": [
            *spec["home_files"],
            *((os.path.realpath(p), f".cache/matplotlib/{os.path.basename(p)}") for p in fonts),
        ],
    }


# ----------------------------------------------------------------------------- without root: bubblewrap


def bubblewrap_refusal(sysctl: Path | None = None) -> str | None:
    """Why a grader without root cannot have the sandbox here (None if it can): no bubblewrap, or a kernel
    setting that forbids unprivileged user namespaces (read under ``sysctl``, by default
    :data:`SYSCTL`), or bubblewrap failing to make one."""
    sysctl = SYSCTL if sysctl is None else sysctl
    if shutil.which("bwrap") is None:
        return "bubblewrap (bwrap) is not installed (Debian and Ubuntu: apt install bubblewrap)"
    for name, forbidding, fix in USERNS_SETTINGS:
        try:
            value = (sysctl / name.replace(".", "/")).read_text().strip()
        except OSError:  # this kernel has no such setting
            continue
        if value == forbidding:
            return f"this system forbids unprivileged user namespaces ({name} = {value}; {fix})"
    probe = subprocess.run(
        ["bwrap", "--unshare-all", "--die-with-parent", "--ro-bind", "/", "/", "true"],
        capture_output=True,
        text=True,
    )
    if probe.returncode != 0:
        return f"bubblewrap cannot make a sandbox here: {probe.stderr.strip()}"
    return None


def view_paths() -> list[str]:
    """What a sandboxed kernel sees of the host, read-only: :data:`SYSTEM_PATHS`, the Python installation
    and environment, the ``helpers`` package and its data sets."""
    import helpers
    from helpers.data import DATASETS_DIR

    python = [sys.base_prefix, sys.prefix, sys.base_exec_prefix, sys.exec_prefix]
    course = [Path(helpers.__file__).parent, DATASETS_DIR]
    paths = [p for pattern in SYSTEM_PATHS for p in sorted(glob.glob(pattern))]
    for folder in sorted({os.path.realpath(p) for p in (*python, *course)}, key=len):
        if not any(_under(folder, k) for k in paths if not os.path.islink(k)):
            paths.append(folder)
    return paths


def _under(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def launch_spec(limits: SandboxLimits, files: list[tuple[str, str]] = (), ignore_warnings: list[str] = ()) -> dict:
    """What :mod:`grading.sandbox_init` does for an unsandboxed kernel (a :meth:`Slot.spec` adds the sandbox):
    ``files`` are (absolute source, name in the working folder) pairs."""
    return {
        "user": None,
        "limits": limits.as_dict(),
        "files": [list(f) for f in files],
        "home_files": [],
        "ignore_warnings": list(ignore_warnings),
    }


def launch_command(argv: list[str], spec: dict) -> list[str]:
    """The command line that runs ``argv`` as ``spec`` says; its environment needs :func:`launch_env`."""
    wrapper = [
        "setpriv",
        "--pdeathsig",
        "KILL",
        "--",  # the sandbox dies with whoever started it
        "unshare",
        "--net",
        "--mount",
        "--pid",
        "--ipc",
        "--uts",
        "--fork",
        "--kill-child",
        "--",
    ]
    return [*(wrapper if spec["user"] else []), sys.executable, "-I", str(INIT), "--", *argv]


def launch_env(spec: dict, env: dict[str, str] | None = None) -> dict[str, str]:
    """``env`` (by default this process's) with ``spec`` for :mod:`grading.sandbox_init`."""
    return {**(os.environ if env is None else env), sandbox_init.SPEC_VARIABLE: json.dumps(spec)}


# ----------------------------------------------------------------------------- kernel managers


class GradingKernelSpecs(KernelSpecManager):
    """Every kernel name a notebook may give is this environment's ``python -m ipykernel_launcher``, started by
    the provisioner registered (``pyproject.toml``, group ``jupyter_client.kernel_provisioners``) as
    ``provisioner_name``."""

    provisioner_name = Unicode(help="The entry point name of the provisioner that starts the kernel.")

    def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
        return KernelSpec(
            argv=[sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            display_name=f"Python (grading: {kernel_name or 'any kernel'})",
            language="python",
            # an interrupt is a message that the kernel turns into SIGINT for itself: a signal from here
            # could not reach a kernel in a session of its own (bubblewrap's --new-session)
            interrupt_mode="message",
            metadata={"kernel_provisioner": {"provisioner_name": self.provisioner_name}},
        )


class UnsandboxedProvisioner(LocalProvisioner):
    """jupyter_client's local provisioner, with the kernel launched by :mod:`grading.sandbox_init` as its kernel
    manager (:class:`UnsandboxedKernelManager`) configures it: Unix sockets in a private folder, a working folder
    holding only the manager's ``files``, its limits. Registered as ``grading-unsandboxed``."""

    _sockets: str | None = None

    async def pre_launch(self, **kw):
        km = self.parent
        folder = self._prepare()
        # Unix sockets (jupyter_client's ipc transport), never a TCP port that any local user could reach;
        # set before the connection file is written
        km.transport, km.cache_ports, km.ip = "ipc", False, os.path.join(folder, "kernel")
        spec = self._spec(str(kw.get("cwd") or os.getcwd()))
        kw["env"] = launch_env(spec, kw.get("env"))
        kw = await super().pre_launch(**kw)
        kw["cmd"] = launch_command(kw["cmd"], spec)
        return kw

    async def cleanup(self, restart: bool = False) -> None:
        await super().cleanup(restart=restart)
        if not restart:
            self._release()

    def _prepare(self) -> str:
        """Make ready what the kernel needs before its command is formed; return its socket folder."""
        if self._sockets is None:
            self._sockets = tempfile.mkdtemp(prefix="grading-kernel-")
        return self._sockets

    def _release(self) -> None:
        """Give back what :meth:`_prepare` took."""
        if self._sockets is not None:
            shutil.rmtree(self._sockets, ignore_errors=True)
            self._sockets = None

    def _spec(self, cwd: str) -> dict:
        """What :mod:`grading.sandbox_init` is to do for a kernel started in folder ``cwd``."""
        km = self.parent
        files = [
            (name, os.path.basename(name))
            if os.path.isabs(name)
            else (os.path.join(os.path.realpath(cwd), name), os.path.normpath(name))
            for name in km.files
        ]
        return launch_spec(km.limits, files, km.ignore_warnings)

    @property
    def kernel_uid(self) -> int:
        return os.getuid()

    def seen_by_kernel(self, path: str) -> str:
        return path


class SandboxProvisioner(UnsandboxedProvisioner):
    """The provisioner of :class:`SandboxedKernelManager`: the kernel in the sandbox of a slot claimed at its
    first start (emptied again at a restart) and given back when it is shut down. Registered as
    ``grading-sandbox``."""

    slot: Slot | None = None

    def _prepare(self) -> str:
        km = self.parent
        if os.geteuid() != 0:
            refusal = bubblewrap_refusal()
            if refusal:
                raise SandboxError(f"no grading sandbox without root: {refusal}; see grading/README.md")
            folder = super()._prepare()
            if os.path.lexists(folder + "/root"):  # a restart: the link to the last sandbox
                os.unlink(folder + "/root")
            return folder + "/root" + SOCKETS_INSIDE
        if self.slot is None:
            self.slot = Slot(km.limits, km.slot_number)
        else:  # a restart: the same slot, emptied again
            self.slot.limits = km.limits
            self.slot.prepare()
        return str(self.slot.sockets)

    def _release(self) -> None:
        super()._release()
        if self.slot is not None:
            self.slot.release()
            self.slot = None

    def _spec(self, cwd: str) -> dict:
        km = self.parent
        course = (km.config.get("CourseDirectory") or {}).get("root")
        cover = [p for p in (course, cwd, str(Path.home()), *km.cover) if p]
        if self.slot is None:  # without root
            return {
                **view_spec(super()._spec(cwd), cover),
                "user_name": "grading-sandbox",
                "socket_folder": SOCKETS_INSIDE,
                "proc_link": os.path.join(self._sockets, "root"),
            }
        return self.slot.spec(super()._spec(cwd), cover)

    @property
    def kernel_uid(self) -> int:
        return os.getuid() if self.slot is None else self.slot.user.pw_uid

    def seen_by_kernel(self, path: str) -> str:
        outside = os.path.join(self._sockets or "", "root")  # without root: the link to the sandbox's root
        return path[len(outside) :] if self.slot is None and _under(path, outside) else path


class UnsandboxedKernelManager(AsyncKernelManager):
    """A grading kernel without root: a working folder holding only :attr:`files`, the cwd off ``sys.path``,
    the limits of :class:`SandboxLimits` that rlimits can give (memory per process, CPU seconds, file size),
    its output capped, its wall-clock time limited, and whatever it leaves running killed when it ends.
    No isolation: the kernel has its user's rights. For self-study, never for credit.

    The kernel is started by :class:`UnsandboxedProvisioner`, jupyter_client's public hook for how a kernel
    process starts, which this manager's kernel specs (:class:`GradingKernelSpecs`) name."""

    provisioner_name = "grading-unsandboxed"
    limits = Instance(SandboxLimits, help="The limits; by default those of the configuration.")
    files = List(
        Unicode(),
        help="Files copied into the kernel's otherwise empty working folder: absolute paths "
        "as they are, relative ones from the folder the notebook is run in. Regular "
        "files only, reached without symbolic links.",
    ).tag(config=True)
    ignore_warnings = List(
        Unicode(),
        ["statsmodels.tools.sm_exceptions.ConvergenceWarning"],
        help="Warning classes the kernel ignores (noise in graded output).",
    ).tag(config=True)

    @default("limits")
    def _default_limits(self) -> SandboxLimits:
        return SandboxLimits(parent=self)

    @default("kernel_spec_manager")
    def _default_kernel_specs(self) -> GradingKernelSpecs:
        return GradingKernelSpecs(provisioner_name=self.provisioner_name)

    @validate("kernel_spec_manager")
    def _only_grading_kernel_specs(self, proposal):
        """Any other kernel specs would start the kernel with another provisioner: outside the sandbox."""
        specs = proposal["value"]
        if not (isinstance(specs, GradingKernelSpecs) and specs.provisioner_name == self.provisioner_name):
            raise TraitError(f"{type(self).__name__} starts its kernels only through its own kernel specs")
        return specs

    @property
    def kernel_uid(self) -> int:
        """The user the kernel runs as."""
        return self.provisioner.kernel_uid

    def seen_by_kernel(self, path: str) -> str:
        """``path``, in the kernel's socket folder as the grader reaches it, as the kernel sees it."""
        return self.provisioner.seen_by_kernel(path)


class SandboxedKernelManager(UnsandboxedKernelManager):
    """A grading kernel in the sandbox of a slot it claims at start and gives back at shutdown (root only);
    started by :class:`SandboxProvisioner`."""

    provisioner_name = "grading-sandbox"
    cover = List(
        Unicode(),
        help="Folders shown empty to the kernel even if inside a folder it sees (the course "
        "root, the grader's home and the notebook's folder always are).",
    ).tag(config=True)
    slot_number = Integer(None, allow_none=True, help="Use this slot, once free, rather than the lowest free one.")

    @property
    def slot(self) -> Slot | None:
        """The slot of the running kernel (None before its first start and after its shutdown)."""
        return self.provisioner.slot if self.provisioner is not None else None
