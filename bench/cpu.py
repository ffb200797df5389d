"""CPU time for the benchmarks: the whole machine's (psutil, which dask.distributed brings).

A graded kernel is killed as soon as its answers are judged, and a process killed inside the sandbox's PID
namespace is reaped by no process of the run, so ``getrusage(RUSAGE_CHILDREN)`` would leave its CPU out.
The machine's busy time counts every process: on a quiet machine, the run's.
"""

from __future__ import annotations

import psutil


def busy_seconds() -> float:
    """CPU seconds that all cores of this machine have spent busy since boot: not idle, not waiting on a disk
    and not taken by the hypervisor for other machines (steal)."""
    used = psutil.cpu_times()
    return used.user + used.nice + used.system + getattr(used, "irq", 0.0) + getattr(used, "softirq", 0.0)
