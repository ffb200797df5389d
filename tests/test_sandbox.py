"""The grading sandbox (grading/sandbox.py, grading/sandbox_init.py): kernels that try to get out, and the
checks that they could not.

Each test starts real kernels through the kernel managers that grading uses, as root (the sandbox makes
users, namespaces and cgroups); elsewhere the tests skip, and on CI they fail instead.
"""

from __future__ import annotations

import csv
import errno
import fcntl
import json
import os
import pwd
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import nbformat
import pytest
from traitlets.config import Config

import grading_fixtures as fx
import helpers
from helpers.data import DATASETS_DIR

from grading import sandbox
from grading.limits import SandboxLimits
from grading.sandbox import SandboxedKernelManager, UnsandboxedKernelManager
from kernels import kernel
from test_grading import copy_course, nbgrader, notebook_of, read_nb

root = pytest.mark.needs_root  # elsewhere these tests skip, saying so; on CI they fail instead
MiB = 2**20
REPO = Path(sandbox.__file__).resolve().parent.parent
A = "structure_and_pooling"  # the fastest assignment
GRADE = [sys.executable, "-m", "grading", "grade"]  # what make grade runs
# The slot of the tests that look at what a slot's user runs: far above the lowest free slots that the grading
# tests on the other worker claim (tests/workers.py), so that its user runs these tests' kernels alone.
OWN_SLOT = 100


# Run in a kernel: whether it can read a file (or the exception's name) and write into a folder.
VIEW_PROBES = """def attempt(path):
    try:
        open(path).read()
        return "read"
    except Exception as e:
        return type(e).__name__
def writable(path):
    try:
        open(os.path.join(path, "planted"), "w").close()
        return True
    except OSError:
        return False
"""


def sandboxed(slot_number: int | None = None, **limits) -> SandboxedKernelManager:
    return SandboxedKernelManager(kernel_name="python3", limits=SandboxLimits(**limits), slot_number=slot_number)


@pytest.mark.parametrize("manager", [SandboxedKernelManager, UnsandboxedKernelManager])
def test_a_manager_starts_kernels_only_through_its_own_provisioner(manager):
    """Other kernel specs would name another provisioner (jupyter_client's local one: no sandbox)."""
    from jupyter_client.kernelspec import KernelSpecManager
    from traitlets import TraitError

    with pytest.raises(TraitError, match="only through its own kernel specs"):
        manager(kernel_name="python3", kernel_spec_manager=KernelSpecManager())
    other = sandbox.GradingKernelSpecs(provisioner_name="local-provisioner")
    with pytest.raises(TraitError, match="only through its own kernel specs"):
        manager(kernel_name="python3", kernel_spec_manager=other)


@pytest.fixture
def folder(tmp_path):
    """The folder nbgrader would run a submission in: the notebook and whatever the student put beside it."""
    work = tmp_path / "autograded" / "student" / "a"
    work.mkdir(parents=True)
    (work / "a.ipynb").write_text("HIDDEN TESTS")
    return work


@pytest.fixture
def second_clone():
    """A world-readable copy of the course elsewhere on the machine (as an instructor's second clone)."""
    root = Path("/srv") / f"grading-sandbox-test-{uuid.uuid4().hex[:8]}"
    secret = root / "grading" / "course" / "source" / "a" / "a.ipynb"
    secret.parent.mkdir(parents=True)
    secret.write_text("HIDDEN TESTS of a second clone")
    for path in [root, *root.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    yield secret
    shutil.rmtree(root)


def own_slot_user() -> pwd.struct_passwd:
    return pwd.getpwnam(sandbox.user_name(OWN_SLOT))


# ----------------------------------------------------------------------------- the view of the files


@root
def test_only_the_allowlist_of_the_host_is_visible(folder, second_clone):
    km = sandboxed()
    with kernel(km, folder) as run:
        seen = run.json(f"""
import json, os, sys
{VIEW_PROBES}print(json.dumps({{
    "second clone": attempt({str(second_clone)!r}),
    "grading code of the repository": attempt({sandbox.__file__!r}),
    "shadow": attempt("/etc/shadow"),
    "root": sorted(os.listdir("/")),
    "etc": sorted(os.listdir("/etc")),
    "repository": sorted(os.listdir({str(Path(sandbox.__file__).parent.parent)!r})),
    "writable": [p for p in ["/", "/etc", "/usr", sys.prefix, "/tmp", os.getcwd()] if writable(p)],
}}))
""")
        keep = sandbox.view_paths()
    assert seen["second clone"] == seen["grading code of the repository"] == seen["shadow"] == "FileNotFoundError"
    assert set(seen["root"]) == {p.split("/")[1] for p in keep} | {"dev", "etc", "proc", "run", "tmp"}
    assert set(seen["etc"]) == {p.split("/")[2] for p in keep if p.startswith("/etc/")} | {"passwd", "group"}
    repository = Path(sandbox.__file__).parent.parent
    assert set(seen["repository"]) == {
        Path(p).relative_to(repository).parts[0] for p in keep if Path(p).is_relative_to(repository)
    }
    assert "grading" not in seen["repository"]
    assert seen["writable"] == ["/tmp", "/tmp/work"]


@root
def test_a_course_root_inside_a_visible_folder_is_covered(folder):
    km = sandboxed()
    km.cover = [str(DATASETS_DIR)]  # a kept folder, standing for a course root that lies inside one
    with kernel(km, folder) as run:
        assert run(f"import os; print(os.listdir({str(DATASETS_DIR)!r}))").strip() == "[]"


@root
def test_a_kept_folder_under_tmp_stays_visible(folder, tmp_path, monkeypatch):
    # As in a clone under /tmp: its .venv and helpers are kept folders inside the kernel's own fresh /tmp.
    kept = tmp_path / "clone"
    kept.mkdir()
    (kept / "kept.txt").write_text("seen")
    view = sandbox.view_paths
    monkeypatch.setattr(sandbox, "view_paths", lambda: [*view(), str(kept)])
    with kernel(sandboxed(), folder) as run:
        assert run(f"print(open({str(kept / 'kept.txt')!r}).read())").strip() == "seen"


@root
def test_no_network_no_host_process_no_host_socket(folder):
    with socket.create_server(("127.0.0.1", 0)) as listener:  # reachable from any process outside
        with kernel(sandboxed(), folder) as run:
            seen = run.json(f"""
import json, os, socket
def connect():
    try:
        socket.create_connection(("127.0.0.1", {listener.getsockname()[1]}), timeout=5)
        return "connected"
    except OSError as e:
        return type(e).__name__
print(json.dumps({{"connect": connect(), "processes": [p for p in os.listdir("/proc") if p.isdigit()],
                  "uid": os.getuid(), "run": os.listdir("/run/grading-sandbox")}}))
""")
    assert seen["connect"] != "connected"
    assert len(seen["processes"]) <= 3, "the sandbox's first process, the kernel and its helpers only"
    assert seen["uid"] != 0
    assert len(seen["run"]) == 1, "the slot's own socket folder only"


@pytest.mark.parametrize("manager", [pytest.param(SandboxedKernelManager, marks=root), UnsandboxedKernelManager])
def test_interrupts_reach_the_kernel(folder, manager):
    """nbclient interrupts a cell past its timeout; the kernel must then go on with the next cell."""
    km = manager(kernel_name="python3")
    with kernel(km, folder) as run:
        assert run.interrupted() == "KeyboardInterrupt"
        assert run("print(6 * 7)").strip() == "42"


def test_grading_kernels_ignore_convergence_warnings_only(folder):
    with kernel(UnsandboxedKernelManager(kernel_name="python3"), folder) as run:
        said = run(
            "import warnings\nfrom statsmodels.tools.sm_exceptions import ConvergenceWarning\n"
            "warnings.warn('convergence noise', ConvergenceWarning)\nwarnings.warn('other warning')\n"
            "print(sorted(n for n in dir() if 'grading' in n))"
        )
    assert "convergence noise" not in said and "other warning" in said
    assert "[]" in said, "the startup file binds no name in the student's namespace"


# ----------------------------------------------------------------------------- the kernel's folder


@root
def test_the_kernel_folder_holds_only_the_given_files(folder, second_clone):
    (folder / "data.csv").write_text("x\n1\n")
    (folder / "helpers.py").write_text("raise SystemExit('a planted helpers module ran')\n")
    (folder / "stolen.csv").symlink_to(second_clone)
    classmate = folder.parent.parent / "classmate" / "a"
    classmate.mkdir(parents=True)
    (classmate / "a.ipynb").write_text("a classmate's answers")
    (folder / "classmates").symlink_to(classmate.parent)
    km = sandboxed()
    km.files = ["data.csv", "helpers.py", "stolen.csv", "classmates/a/a.ipynb"]
    with kernel(km, folder) as run:
        seen = run.json("""
import json, os, sys
open("planted_module.py", "w").write("x = 1")
def imports(name):
    try:
        return __import__(name).__file__
    except ImportError as e:
        return type(e).__name__
print(json.dumps({"folder": sorted(os.listdir(".")), "helpers": imports("helpers"),
                  "planted": imports("planted_module"), "path": sys.path}))
""")
    assert seen["folder"] == ["data.csv", "helpers.py", "planted_module.py"], (
        "no notebook, no symbolic link, nothing reached through a link"
    )
    assert seen["helpers"] == helpers.__file__
    assert seen["planted"] == "ModuleNotFoundError", "the working folder is not on sys.path (PYTHONSAFEPATH)"
    assert "" not in seen["path"] and "/tmp/work" not in seen["path"]


def test_unsandboxed_kernel_folder_holds_only_the_given_files(folder):
    (folder / "data.csv").write_text("x\n1\n")
    (folder / "helpers.py").write_text("raise SystemExit('a planted helpers module ran')\n")
    km = UnsandboxedKernelManager(kernel_name="python3", files=["data.csv"])
    with kernel(km, folder) as run:
        seen = run.json("import helpers, json, os; print(json.dumps([os.listdir('.'), helpers.__file__]))")
    assert seen[0] == ["data.csv"]
    assert seen[1] != str(folder / "helpers.py")


# ----------------------------------------------------------------------------- output and files


@root
def test_output_outside_jupyter_and_large_files_are_capped(folder, capfd):
    """Kernels inherit the grader's standard output and error (a worker's log): 2 GiB written there by a
    kernel must not reach it, and a file may not grow past the file size limit."""
    km = sandboxed(output_kb=64, file_size_mb=8)
    with kernel(km, folder) as run:
        said = run(
            """
import os, sys
chunk = b"x" * 2**20
for fd in (sys.stdout._original_stdstream_copy, sys.stderr._original_stdstream_copy):
    for _ in range(1024):
        os.write(fd, chunk)
try:
    with open("big", "wb") as f:
        for _ in range(16):
            f.write(chunk)
except OSError as e:
    print(type(e).__name__, e.strerror)
print(os.path.getsize("big"))
""",
            timeout=600,
        )
    log = capfd.readouterr()
    assert len(log.out) + len(log.err) < 80 * 1024, "at most the output cap, and the note that it was reached"
    assert "kernel output beyond 64 KiB dropped" in log.err
    assert "File too large" in said and said.split()[-1] == str(8 * MiB)


@root
def test_the_socket_folder_is_a_small_tmpfs_of_its_own(folder):
    km = sandboxed(socket_folder_kb=256)
    with kernel(km, folder) as run:
        written = run.json(f"""
import json, os
written = 0
try:
    with open("{km.slot.sockets}/filler", "wb") as f:
        while True:
            f.write(b"x" * 4096)
            f.flush()
            written += 4096
except OSError as e:
    pass
print(json.dumps(written))
""")
        assert run("print('still answering')").strip() == "still answering"
    assert 0 < written <= 256 * 1024


# ----------------------------------------------------------------------------- processes and memory


@root
@pytest.mark.slow
def test_cpu_time_wall_clock_and_leftovers(folder):
    km = sandboxed(OWN_SLOT, cpu_seconds=2, wall_seconds=60)
    with kernel(km, folder) as run:
        run(
            "import os, subprocess, sys\nsubprocess.Popen([sys.executable, '-c', 'while True: pass'])\n"
            "if os.fork() == 0:\n    os.setsid()\n    import time; time.sleep(600)"
        )
        time.sleep(4)
        spinning = run(
            "import subprocess, sys\nprint(subprocess.run([sys.executable, '-c', 'while True: pass']).returncode)"
        )
    assert spinning.strip() == "-24", "SIGXCPU: killed after its CPU seconds"
    for _ in range(100):
        if not sandbox.processes_of(own_slot_user().pw_uid):
            break
        time.sleep(0.1)
    assert not sandbox.processes_of(own_slot_user().pw_uid), "nothing the kernel started outlives it"
    km = sandboxed(wall_seconds=20)
    with kernel(km, folder) as run:
        started = time.monotonic()
        while run.loop.run_until_complete(km.is_alive()) and time.monotonic() < started + 60:
            time.sleep(0.5)
        assert not run.loop.run_until_complete(km.is_alive()), "killed after its wall-clock time"


@root
def test_a_fork_bomb_leaves_nothing_that_hurts_the_next_kernel_of_its_slot(folder):
    bomb = sandboxed(OWN_SLOT, processes=64)
    with kernel(bomb, folder) as run:
        said = run(
            "import os, time\nn = 0\ntry:\n    while True:\n        if os.fork() == 0:\n"
            "            time.sleep(600)\n        n += 1\nexcept OSError:\n    print(n)"
        )
        assert 0 < int(said) < 64, "pids.max / RLIMIT_NPROC stopped it"
        (pids,) = [folder for folder, names in bomb.provisioner.slot.cgroups.items() if "pids" in names]
        refused_by_cgroup = dict(line.split() for line in (pids / "pids.events").read_text().splitlines())["max"]
    # The kernel checks the user's count before it copies the forking process, the cgroup's only after: a bomb
    # that retries for a cell's time limit must meet the first, or each retry costs milliseconds of CPU.
    assert refused_by_cgroup == "0", "the user's process count, not the cgroup's ceiling, refused the bomb"
    # What a bomb leaves while it dies, made certain: processes of the slot's user holding its whole quota.
    uid, gid = own_slot_user().pw_uid, own_slot_user().pw_gid
    left = [
        subprocess.Popen(["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "sleep", "600"])
        for _ in range(64)
    ]
    reapers = [threading.Thread(target=p.wait) for p in left]  # as a dying sandbox's first process reaps
    for reaper in reapers:
        reaper.start()
    honest = sandboxed(OWN_SLOT, processes=64)
    with kernel(honest, folder) as run:
        said = run(
            "import subprocess, threading\nthreads = [threading.Thread(target=lambda: None) for _ in "
            "range(16)]\nfor t in threads: t.start()\nprint(subprocess.run(['true']).returncode)"
        )
    assert said.strip() == "0", said
    for reaper in reapers:
        reaper.join()
    assert all(p.returncode == -9 for p in left), "the slot was emptied before the next kernel started"


@root
def test_memory_ceiling_holds_for_the_whole_sandbox(folder):
    """Each process stays under the address-space limit, together they do not fit: the cgroup stops them."""
    km = sandboxed(memory_mb=1536)
    with kernel(km, folder) as run:
        hog = run("x = bytearray(2 * 2**30)")
        said = run.json(
            """
import json, subprocess, sys
code = "import time; x = bytearray(b'1') * (500 * 2**20); print('full', flush=True); time.sleep(600)"
hogs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) for _ in range(5)]
for h in hogs:  # each says it is full, or dies first
    h.stdout.readline()
for h in hogs:
    h.terminate()
print(json.dumps([h.wait() for h in hogs]))
""",
            timeout=300,
        )
        peak = max(
            int((folder_ / name).read_text())
            for folder_ in km.slot.cgroups
            for name in ("memory.max_usage_in_bytes", "memory.peak")
            if (folder_ / name).exists()
        )
    assert "MemoryError" in hog
    assert -9 in said, "the out-of-memory killer of the cgroup ended at least one"
    assert peak <= 1536 * MiB


@root
def test_a_custom_memory_setting_reaches_the_kernel(folder):
    config = Config()
    config.SandboxLimits.memory_mb = 8192
    config.SandboxLimits.cpu_weight = 50
    for manager in (SandboxedKernelManager, UnsandboxedKernelManager):
        km = manager(kernel_name="python3", config=config)
        with kernel(km, folder) as run:
            limit = run.json("import json, resource; print(json.dumps(resource.getrlimit(resource.RLIMIT_AS)))")
            if manager is SandboxedKernelManager:
                (cgroup,) = [f for f, names in km.slot.cgroups.items() if "memory" in names]
                ceiling = next(
                    int((cgroup / n).read_text())
                    for n in ("memory.limit_in_bytes", "memory.max")
                    if (cgroup / n).exists()
                )
                assert ceiling == 8192 * MiB
                (cpu,) = [f for f, names in km.slot.cgroups.items() if "cpu" in names]
                weight = next(
                    int((cpu / n).read_text()) * (1024 if n == "cpu.weight" else 100)
                    for n in ("cpu.shares", "cpu.weight")
                    if (cpu / n).exists()
                )
                assert weight == 50 * 1024, "the CPU weight of the sandbox (v1 shares 512, v2 weight 50)"
        assert limit == [8192 * MiB, 8192 * MiB], manager.__name__


# ----------------------------------------------------------------------------- without root


LOOPBACK_UP_THEN = """
import fcntl, os, socket, struct, sys
with socket.socket() as s:  # SIOCGIFFLAGS, SIOCSIFFLAGS: the namespace's loopback up, as on any machine
    flags = struct.unpack("16sH14x", fcntl.ioctl(s, 0x8913, struct.pack("16sH14x", b"lo", 0)))[1]
    fcntl.ioctl(s, 0x8914, struct.pack("16sH14x", b"lo", flags | 1))
os.execv(sys.argv[1], sys.argv[1:])
"""


def as_unprivileged_user(
    argv: list[str], files: dict[str, Path], cwd: Path, keep=(), read_after: float = 0
) -> subprocess.CompletedProcess:
    """Run ``argv`` as a user who is not root, with ``files`` ({name: source}) in its working folder: the user
    of a sandbox slot, in a sandbox whose loopback is up (this machine's Python may live where other users
    cannot read it, and dask talks to itself over TCP). Its output is read from ``read_after`` seconds on."""
    slot = sandbox.Slot(SandboxLimits(output_kb=4096))
    try:
        spec = slot.spec(sandbox.launch_spec(slot.limits, [(str(p), n) for n, p in files.items()]), keep=list(keep))
        command = sandbox.launch_command(argv, spec)
        python = command.index(sys.executable)  # the sandbox's first process, started by unshare
        command[python:python] = [sys.executable, "-c", LOOPBACK_UP_THEN]
        env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
        with subprocess.Popen(
            command,
            cwd=cwd,
            env=sandbox.launch_env(spec, env),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        ) as process:
            time.sleep(read_after)
            try:
                out, err = process.communicate(timeout=900)
            except subprocess.TimeoutExpired:  # as subprocess.run does: not left running, nor waited for
                process.kill()
                raise
        return subprocess.CompletedProcess(command, process.returncode, out, err)
    finally:
        slot.release()


@root
def test_a_slow_reader_gets_the_last_of_the_kernels_output(tmp_path):
    """The sandbox passes on all that the kernel wrote before it ended, however slowly its output is read:
    once, the sandbox ended with the kernel's last lines still in its pipe, and make grade's closing lines
    (the grades) were lost."""
    read_end, write_end = os.pipe()
    pipe_size = fcntl.fcntl(read_end, fcntl.F_GETPIPE_SZ)
    os.close(read_end)
    os.close(write_end)
    # more than the reader's pipe holds, less than it and the sandbox's own pipe hold: the kernel ends at once
    written = "y" * (3 * pipe_size // 2) + "\nthe end\n"
    writer = [sys.executable, "-c", f"import os; os.write(1, b{written!r})"]
    run = as_unprivileged_user(writer, {}, tmp_path, read_after=3)
    assert run.returncode == 0, run.stderr[-4000:]
    assert run.stderr.endswith("\n" + written), f"{len(run.stderr)} characters came, ending {run.stderr[-20:]!r}"


@root
@pytest.mark.slow
def test_grading_without_the_sandbox_works_for_a_user_without_root(tmp_path):
    """``--no-sandbox`` as documented for self-study: a user without root grades a class (no slot, no lock in
    /run; kernels with rlimits only) and gets the scores."""
    course = copy_course(tmp_path / "course")
    nbgrader("generate_assignment", A, cwd=course)
    release, source = read_nb(notebook_of(course, A, "release")), read_nb(notebook_of(course, A))
    submitted = course / "submitted" / "me" / A / f"{A}.ipynb"
    submitted.parent.mkdir(parents=True)
    nbformat.write(fx.with_solutions(release, source), submitted)
    files = {f"course/{p.relative_to(course)}": p for p in course.rglob("*") if p.is_file()}
    grading = Path(sandbox.__file__).parent
    run = as_unprivileged_user(
        [
            "sh",
            "-c",
            f"{' '.join(GRADE)} {A} --course /tmp/work/course --no-sandbox "
            f"--workers 1 && cat /tmp/work/course/grades.csv",
        ],
        files,
        tmp_path,
        keep=[str(grading)],
    )
    assert run.returncode == 0, run.stderr[-4000:]
    (row,) = [r for r in csv.DictReader(run.stderr.splitlines()[-2:]) if r["student_id"] == "me"]
    assert float(row["raw_score"]) == sum(fx.auto_points(source).values())


@root
@pytest.mark.slow
def test_make_grades_memory_setting_reaches_the_kernel(tmp_path):
    """The course's configuration asks for 8192 MiB: the kernel that ``make grade`` runs the submission in has
    8192 MiB (once, before the settings were one, it got the 3072 MiB of another)."""
    course = copy_course(tmp_path / "course")
    nbgrader("generate_assignment", A, cwd=course)
    release, source = read_nb(notebook_of(course, A, "release")), read_nb(notebook_of(course, A))
    nb = fx.with_solutions(release, source)
    answer = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution") and c.cell_type == "code")
    answer.source = "import resource\nprint('address space', resource.getrlimit(resource.RLIMIT_AS))\n" + answer.source
    (course / "submitted" / "me" / A).mkdir(parents=True)
    nbformat.write(nb, course / "submitted" / "me" / A / f"{A}.ipynb")
    with open(course / "nbgrader_config.py", "a") as config:
        config.write("\nc.SandboxLimits.memory_mb = 8192\n")
    run = subprocess.run(
        [*GRADE, A, "--course", str(course), "--workers", "1"], capture_output=True, text=True, timeout=900
    )
    assert run.returncode == 0, run.stderr[-4000:]
    graded = read_nb(course / "autograded" / "me" / A / f"{A}.ipynb")
    said = "".join(o.get("text", "") for c in graded.cells if c.cell_type == "code" for o in c.outputs)
    assert f"address space ({8192 * MiB}, {8192 * MiB})" in said


# ----------------------------------------------------------------------------- settings and cgroups


def test_the_grading_internals_give_the_limits_defaults():
    text = (REPO / "grading" / "INTERNALS.md").read_text()
    documented = {}
    for names, values in re.findall(r"^\s*\| (`\w+`(?:, `\w+`)*) \| ([\d, ]+) \|", text, re.M):
        documented.update(zip(re.findall(r"`(\w+)`", names), map(int, values.split(","))))
    assert documented == SandboxLimits().as_dict()


def fake_proc(tmp_path: Path, cgroup: str, mounts: list[str]) -> Path:
    proc = tmp_path / "proc"
    proc.mkdir(parents=True)
    (proc / "cgroup").write_text(cgroup)
    (proc / "mountinfo").write_text("".join(f"{i} 1 0:{i} {m}\n" for i, m in enumerate(mounts, 30)))
    return proc


def test_cgroup_v1_folders_nest_under_the_graders_own(tmp_path):
    fs = tmp_path / "cgroup"
    proc = fake_proc(
        tmp_path,
        "4:memory:/outer/job\n8:pids:/\n2:cpu,cpuacct:/\n0::/\n",
        [
            f"/ {fs}/memory rw - cgroup cgroup rw,memory",
            f"/ {fs}/pids rw - cgroup cgroup rw,pids",
            f"/ {fs}/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct",
            f"/ {fs}/unified rw - cgroup2 cgroup2 rw",
        ],
    )
    assert sandbox.cgroup_bases(proc=proc) == {
        fs / "memory" / "outer" / "job": ["memory"],
        fs / "pids": ["pids"],
        fs / "cpu,cpuacct": ["cpu"],
    }
    without_cpu = fake_proc(
        tmp_path / "no-cpu",
        "4:memory:/\n8:pids:/\n0::/\n",
        [
            f"/ {fs}/memory rw - cgroup cgroup rw,memory",
            f"/ {fs}/pids rw - cgroup cgroup rw,pids",
        ],
    )
    assert sandbox.cgroup_bases(proc=without_cpu) == {fs / "memory": ["memory"], fs / "pids": ["pids"]}, (
        "the CPU weight where the system has the controller; the ceilings everywhere"
    )


def test_cgroup_v2_folder_is_the_graders_own_or_its_parent(tmp_path, monkeypatch):
    fs = tmp_path / "cgroup"
    own = fs / "user.slice" / "session.scope"
    own.mkdir(parents=True)
    (own / "cgroup.controllers").write_text("cpu memory pids\n")
    (own / "cgroup.subtree_control").write_text("\n")
    proc = fake_proc(tmp_path, "0::/user.slice/session.scope\n", [f"/ {fs} rw - cgroup2 cgroup2 rw"])
    assert sandbox.cgroup_bases(proc=proc) == {own: ["cpu", "memory", "pids"]}
    assert (own / "cgroup.subtree_control").read_text() == "+cpu +memory +pids", "delegated to the slots' cgroups"
    (own / "cgroup.subtree_control").write_text("\n")
    write = Path.write_text

    def busy(path, text, *args, **kw):  # as v2 answers for a cgroup with processes, which cannot delegate
        if path.name == "cgroup.subtree_control":
            raise OSError(errno.EBUSY, "Device or resource busy")
        return write(path, text, *args, **kw)

    monkeypatch.setattr(Path, "write_text", busy)
    assert sandbox.cgroup_bases(proc=proc) == {own.parent: ["cpu", "memory", "pids"]}
    monkeypatch.setattr(Path, "write_text", write)
    (own / "cgroup.controllers").write_text("memory pids\n")
    (own / "cgroup.subtree_control").write_text("\n")
    assert sandbox.cgroup_bases(proc=proc) == {own: ["memory", "pids"]}, "no cpu controller: no CPU weight"
    (own / "cgroup.controllers").write_text("cpu\n")
    with pytest.raises(sandbox.SandboxError, match="memory"):
        sandbox.cgroup_bases(proc=proc)


# ----------------------------------------------------------------------------- a grader without root: bubblewrap


UNPRIVILEGED_PROBE = """
import json, os, socket, sys, time
sys.path[:0] = [{tests!r}, {repo!r}]
from grading import sandbox
from grading.limits import SandboxLimits
from kernels import kernel

limits = SandboxLimits(processes=64, output_kb=64, file_size_mb=8, socket_folder_kb=256, memory_mb=1024)
km = sandbox.SandboxedKernelManager(kernel_name="python3", limits=limits, files=["data.csv", "stolen.csv"])
with kernel(km, os.getcwd()) as run:
    seen = run.json('''
import json, os, socket, sys
{view_probes}def connect():
    try:
        socket.create_connection(("127.0.0.1", {port}), timeout=5)
        return "connected"
    except OSError as e:
        return type(e).__name__
print(json.dumps({{
    "uid": os.getuid(), "folder": sorted(os.listdir(".")), "connect": connect(),
    "second clone": attempt({clone!r}), "grading code": attempt({code!r}), "shadow": attempt("/etc/shadow"),
    "root": sorted(os.listdir("/")), "processes": [p for p in os.listdir("/proc") if p.isdigit()],
    "writable": [p for p in ["/", "/etc", "/usr", sys.prefix, "/tmp", os.getcwd()] if writable(p)],
}}))
''')
    seen["memory"] = run("x = bytearray(2 * 2**30)")
    seen["file"] = run('''
import os
try:
    with open("big", "wb") as f:
        for _ in range(16):
            f.write(b"x" * 2**20)
except OSError as e:
    print(e.strerror)
''')
    seen["socket folder"] = run('''
import os
from ipykernel.kernelapp import IPKernelApp
written = 0
try:
    with open(os.path.join(os.path.dirname(IPKernelApp.instance().ip), "filler"), "wb") as f:
        while True:
            f.write(b"x" * 4096)
            f.flush()
            written += 4096
except OSError:
    print(written)
''')
    run("import os, sys\\nfor fd in (sys.stdout._original_stdstream_copy,):\\n    os.write(fd, b'y' * 2**21)")
    seen["interrupted"] = run.interrupted()
    seen["forks"] = run('''
import os, time
n = 0
try:
    while True:
        if os.fork() == 0:
            time.sleep(600)
        n += 1
except OSError:
    print(n)
''')
    seen["kernel uid"] = km.kernel_uid
for _ in range(100):
    if not sandbox.processes_of(os.getuid()) - {{os.getpid()}}:
        break
    time.sleep(0.1)
seen["left running"] = len(sandbox.processes_of(os.getuid()) - {{os.getpid()}})
print(json.dumps(seen))
"""


@root
def test_a_grader_without_root_gets_the_sandbox_from_bubblewrap(second_clone):
    """A grader account made for the test (no privilege) starts a kernel through the same kernel manager:
    bubblewrap's sandbox, with the view, limits and cleanup of the root one, and its kernel runs as that
    account, which the judge checks the kernel's sockets against."""
    from unprivileged import as_grader, folder_for, grader_account, hand_to

    with grader_account() as account, socket.create_server(("127.0.0.1", 0)) as listener:
        uid = pwd.getpwnam(account).pw_uid
        work = folder_for(account)
        (work / "data.csv").write_text("x\n1\n")
        (work / "stolen.csv").symlink_to(second_clone)
        (work / "a.ipynb").write_text("HIDDEN TESTS")
        hand_to(account, work)
        probe = UNPRIVILEGED_PROBE.format(
            view_probes=VIEW_PROBES,
            tests=str(REPO / "tests"),
            repo=str(REPO),
            port=listener.getsockname()[1],
            clone=str(second_clone),
            code=sandbox.__file__,
        )
        try:
            run = as_grader(account, [sys.executable, "-c", probe], work, capture_output=True, text=True, timeout=600)
        finally:
            shutil.rmtree(work)
    assert run.returncode == 0, run.stderr[-4000:]
    seen = json.loads(run.stdout.strip().splitlines()[-1])
    assert seen["uid"] == seen["kernel uid"] == uid
    assert seen["folder"] == ["data.csv"], "no notebook, no symbolic link"
    assert seen["connect"] != "connected"
    assert seen["second clone"] == seen["grading code"] == seen["shadow"] == "FileNotFoundError"
    keep = sandbox.view_paths()
    assert set(seen["root"]) <= {p.split("/")[1] for p in keep} | {"dev", "etc", "proc", "run", "tmp"}
    assert len(seen["processes"]) <= 3, "bubblewrap's first process, the kernel and its helpers only"
    assert seen["writable"] == ["/tmp", "/tmp/work"]
    assert "MemoryError" in seen["memory"]
    assert 0 < int(seen["forks"]) < 64, "RLIMIT_NPROC, counted in the sandbox's user namespace, stopped it"
    assert seen["file"].strip() == "File too large"
    assert 0 < int(seen["socket folder"]) <= 256 * 1024
    assert run.stderr.count("y") < 80 * 1024 and "kernel output beyond 64 KiB dropped" in run.stderr
    assert seen["interrupted"] == "KeyboardInterrupt"
    assert seen["left running"] == 0, "nothing the kernel started outlives it"
