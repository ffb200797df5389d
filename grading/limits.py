"""Every limit on a grading kernel, in one place.

The sandboxed kernel manager, its unsandboxed variant and the course's autograde step
(:class:`grading.autograde.JudgedExecute`, for a notebook's time and output) read their limits from
:class:`SandboxLimits`. Its defaults are the course's; an instructor changes one in the course's
``nbgrader_config.py`` (``c.SandboxLimits.memory_mb = 8192``), and code passes a changed copy
(``SandboxLimits(config=config, memory_mb=8192)``). Nothing else holds a number for these limits; the
per-assignment cell and notebook timeouts, measured from each assignment's solution, are in the course's
``timeouts.json``.
"""

from __future__ import annotations

from traitlets import Integer
from traitlets.config import Configurable


class SandboxLimits(Configurable):
    """What one grading kernel may use; each sandbox (one kernel and everything it starts) gets these."""

    memory_mb = Integer(
        3072,
        min=64,
        help="Memory of one sandbox in MiB: the cgroup ceiling of the kernel and "
        "all its processes together, and the address space of each process "
        "(RLIMIT_AS), so that a large allocation fails with MemoryError "
        "in the cell that makes it.",
    ).tag(config=True)
    processes = Integer(
        512,
        min=8,
        help="Processes and threads of the kernel's user in one sandbox (RLIMIT_NPROC): a fork bomb stops "
        "there. The cgroup's pids.max, a few above for the sandbox's first process, is a second ceiling.",
    ).tag(config=True)
    cpu_weight = Integer(
        100,
        min=1,
        max=10000,
        help="CPU share of one sandbox, as root: the cgroup's cpu.weight (v2; v1: cpu.shares, scaled from 100 to "
        "1024), so that a kernel with many processes weighs as much as one with one, beside the others and the "
        "grader itself (100 is the system's default). Without root: not bounded (see grading/INTERNALS.md).",
    ).tag(config=True)
    cpu_seconds = Integer(
        600, min=1, help="CPU time of each process (RLIMIT_CPU): a loop that ignores interrupts is killed."
    ).tag(config=True)
    interrupt_seconds = Integer(
        15,
        min=1,
        help="How long a kernel interrupted at a cell's time limit has to answer again: one still busy after "
        "this (its code ignores interrupts) runs no other cell, and is stopped.",
    ).tag(config=True)
    wall_seconds = Integer(
        1800,
        min=1,
        help="Wall-clock life of one kernel: the sandbox kills the kernel after this long, however busy or idle.",
    ).tag(config=True)
    file_size_mb = Integer(64, min=1, help="Largest file a kernel may write (RLIMIT_FSIZE).").tag(config=True)
    tmp_mb = Integer(
        512, min=1, help="Size of the sandbox's /tmp (a tmpfs holding the kernel's working folder and home)."
    ).tag(config=True)
    shm_mb = Integer(64, min=1, help="Size of the sandbox's /dev/shm.").tag(config=True)
    socket_folder_kb = Integer(1024, min=64, help="Size of the tmpfs that holds the kernel's Unix sockets.").tag(
        config=True
    )
    output_kb = Integer(
        64,
        min=0,
        help="What a kernel writes to its standard output and error (outside "
        "Jupyter's messages) reaches the grader's log up to this size; the rest "
        "is read and dropped.",
    ).tag(config=True)
    notebook_seconds = Integer(
        600,
        min=1,
        help="Wall-clock seconds of one notebook's run, for assignments to "
        "which timeouts.json gives no notebook_timeout of their own: cells "
        "not reached by then are not run.",
    ).tag(config=True)
    notebook_output_kb = Integer(
        4096,
        min=1,
        help="Output that one notebook's cells may show (Jupyter's "
        "messages), in KiB; what comes after is dropped, with a "
        "note.",
    ).tag(config=True)

    def as_dict(self) -> dict[str, int]:
        """The limits by name (``SandboxLimits(**limits.as_dict())`` is an equal copy)."""
        return {name: getattr(self, name) for name in self.class_trait_names(config=True)}
