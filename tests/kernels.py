"""A kernel started through a kernel manager, and a way to run code in it: for the sandbox's tests
(tests/test_sandbox.py), also when a grader without root runs them (tests/unprivileged.py)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from pathlib import Path


class Kernel:
    """A started kernel of ``manager`` and a way to run code in it (text of its outputs, errors as
    ``Name: message``)."""

    def __init__(self, manager, cwd: Path, loop):
        self.km, self.loop = manager, loop
        loop.run_until_complete(manager.start_kernel(cwd=str(cwd)))
        self.kc = manager.client()
        self.kc.start_channels()
        loop.run_until_complete(self.kc.wait_for_ready(timeout=120))

    def __call__(self, code: str, timeout: float = 120) -> str:
        texts = []

        def collect(msg):
            content = msg["content"]
            if msg["msg_type"] == "stream":
                texts.append(content["text"])
            elif msg["msg_type"] == "error":
                texts.append(f"{content['ename']}: {content['evalue']}")
            elif msg["msg_type"] in ("execute_result", "display_data"):
                texts.append(content["data"].get("text/plain", ""))

        reply = self.loop.run_until_complete(self.kc.execute_interactive(code, timeout=timeout, output_hook=collect))
        assert reply["content"]["status"] != "aborted", f"the kernel aborted the cell, unrun:\n{code}"
        return "".join(texts)

    def interrupted(self) -> str:
        """The error that ends a cell running forever once the kernel is interrupted, as nbclient does a cell
        past its timeout."""
        # Not stopping on its error, as nbclient runs a cell whose errors are allowed: otherwise ipykernel aborts
        # every request that reaches it before it posts itself the end of aborting, and on a loaded machine the
        # next cell could be one of them.
        cell = self.kc.execute("import time\nwhile True: time.sleep(0.1)", stop_on_error=False)
        time.sleep(2)
        self.loop.run_until_complete(self.km.interrupt_kernel())
        while (reply := self.loop.run_until_complete(self.kc.get_shell_msg(timeout=30)))["parent_header"].get(
            "msg_id"
        ) != cell:
            pass
        return reply["content"]["ename"]

    def json(self, code: str, **kw):
        """The value of the JSON that ``code`` prints last."""
        out = self(code, **kw)
        return json.loads(out.strip().splitlines()[-1])


@contextlib.contextmanager
def kernel(manager, cwd: Path):
    loop = asyncio.new_event_loop()
    k = None
    try:
        k = Kernel(manager, cwd, loop)
        yield k
    finally:
        if k is not None:
            k.kc.stop_channels()
        if manager.has_kernel:
            loop.run_until_complete(manager.shutdown_kernel(now=True))
        loop.run_until_complete(manager.cleanup_resources())
        loop.close()
