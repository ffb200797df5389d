"""A dask.distributed cluster of real processes on localhost, for the tests and the benchmark of make grade.

`dask scheduler` and one `dask worker` process per worker (one process, one thread each), each started in an
empty working folder of its own, as on a machine that has the course environment and nothing of the course.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from distributed import Client

BIN = Path(sys.executable).parent
ENV = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}


class LocalhostCluster:
    """Start with ``LocalhostCluster(folder, workers)``; ``address`` is the scheduler's; ``close()`` stops all."""

    def __init__(self, folder: Path, workers: int = 2):
        self.folder, self.processes = folder, {}
        folder.mkdir(parents=True, exist_ok=True)
        address_file = folder / "scheduler.json"
        self.start(
            "scheduler",
            "scheduler",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--dashboard-address",
            ":0",
            "--scheduler-file",
            str(address_file),
        )
        for _ in range(3000):
            if address_file.is_file() and address_file.stat().st_size:
                break
            if self.processes["scheduler"].poll() is not None:
                raise RuntimeError(f"dask scheduler ended: {(folder / 'scheduler.log').read_text()[-2000:]}")
            time.sleep(0.1)
        self.address = json.loads(address_file.read_text())["address"]
        self.workers = [f"worker{k}" for k in range(1, workers + 1)]
        for name in self.workers:
            self.start(
                name,
                "worker",
                self.address,
                "--name",
                name,
                "--nworkers",
                "1",
                "--nthreads",
                "1",
                "--local-directory",
                str(self.home(name) / "scratch"),
                "--no-dashboard",
            )
        with self.client() as client:
            client.wait_for_workers(workers, timeout=600)

    def home(self, name: str) -> Path:
        """The working folder of process ``name``."""
        return self.folder / name

    def start(self, name: str, *command: str) -> None:
        self.home(name).mkdir(exist_ok=True)
        with open(self.folder / f"{name}.log", "wb") as log:
            self.processes[name] = subprocess.Popen(
                [str(BIN / "dask"), *command],
                cwd=self.home(name),
                env=ENV,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )

    def client(self) -> Client:
        return Client(self.address, timeout=60)

    def kill(self, name: str) -> None:
        """SIGKILL a worker with its nanny and everything it started."""
        os.killpg(self.processes[name].pid, signal.SIGKILL)
        self.processes[name].wait()

    def close(self) -> None:
        for name in reversed(list(self.processes)):
            if self.processes[name].poll() is None:
                os.killpg(self.processes[name].pid, signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
