"""Benchmark: what the grading sandbox costs a kernel.

Starts, in turn and ROUNDS times over, a kernel with jupyter_client's stock kernel manager, with
``grading.sandbox.UnsandboxedKernelManager`` and with ``SandboxedKernelManager`` (as root, the slot's sandbox;
otherwise bubblewrap's: run it both ways to compare the two); each kernel runs
the imports and data loading of an assignment's first cell and is shut down. Prints the median wall time of
each and its ratio to the stock kernel, measured in this one run (the machine is shared: compare ratios,
not seconds). Asserts nothing. ``make bench``, or ``.venv/bin/python bench/bench_sandbox.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time

from jupyter_client.manager import AsyncKernelManager

from grading.sandbox import SandboxedKernelManager, UnsandboxedKernelManager

SETUP = (
    "import pandas as pd\nimport statsmodels.formula.api as smf\nimport seaborn as sns\n"
    "from helpers.data import load_gp_cholesterol\ngp = load_gp_cholesterol()"
)


async def one_kernel(manager: type, folder: str) -> float:
    """Seconds from asking for a kernel to its having run SETUP and shut down."""
    km = manager(kernel_name="python3")
    started = time.perf_counter()
    await km.start_kernel(cwd=folder)
    kc = km.client()
    kc.start_channels()
    try:
        await kc.wait_for_ready(timeout=300)
        reply = await kc.execute_interactive(SETUP, timeout=300, output_hook=lambda msg: None)
        if reply["content"]["status"] != "ok":
            raise RuntimeError(f"{manager.__name__}: {reply['content'].get('evalue')}")
    finally:
        kc.stop_channels()
        await km.shutdown_kernel()
        await km.cleanup_resources()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    rounds = parser.parse_args().rounds
    managers = [AsyncKernelManager, UnsandboxedKernelManager, SandboxedKernelManager]
    maker = "unshare and a slot user, as root" if os.geteuid() == 0 else "bubblewrap, without root"
    print(f"the sandbox: {maker}")
    seconds = {m: [] for m in managers}
    with tempfile.TemporaryDirectory() as folder:
        for manager in managers:  # a first kernel of each warms the page cache and matplotlib's font cache
            asyncio.run(one_kernel(manager, folder))
        for _ in range(rounds):
            for manager in managers:
                seconds[manager].append(asyncio.run(one_kernel(manager, folder)))
    stock = statistics.median(seconds[AsyncKernelManager])
    print(
        f"kernel start, course imports and shutdown; medians of {rounds} in turn (load average "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores):"
    )
    for manager, times in seconds.items():
        median = statistics.median(times)
        print(f"  {manager.__name__}: {median:.2f} s, {median / stock:.2f} x stock")


if __name__ == "__main__":
    main()
