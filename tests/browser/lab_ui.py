"""What the browser tests do in JupyterLab: open a notebook, run it, read its outputs and dialogs."""

from __future__ import annotations

import re
import uuid

RUN_TIMEOUT = 600_000  # ms for Run All Cells: a simulation on a busy two-core machine
ERROR_OUTPUTS = (
    '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"], '
    '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.error"]'
)

# True once no code cell waits or runs ("[*]") and either every code cell shows its execution count or
# some output is an error (Run All stops at the first failing cell).
RUN_FINISHED = """(errorSelector) => {
    const prompts = [...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputArea-prompt')]
        .map(p => p.textContent.trim());
    if (prompts.length === 0 || prompts.some(p => p.includes('*'))) return false;
    const failed = [...document.querySelectorAll(errorSelector)].some(o => o.textContent.includes('Traceback'));
    return failed || prompts.every(p => /\\[\\d+\\]/.test(p));
}"""


KERNEL_IDLE = """() => {
    const text = document.querySelector('#jp-main-statusbar')?.innerText ?? '';
    return /\\| Idle\\b/.test(text) && !/No Kernel/.test(text);
}"""


def open_notebook(page, server, path: str):
    """Open a notebook in JupyterLab, wait until its kernel is idle and return its panel (a locator).

    Each call uses a workspace of its own, so that no tab of an earlier call is restored beside it."""
    page.goto(server.url(f"lab/workspaces/{uuid.uuid4().hex}/tree/{path}"))
    tab = page.locator("#jp-main-dock-panel .lm-TabBar-tab.lm-mod-current", has_text=path.rsplit("/", 1)[-1])
    tab.wait_for(timeout=120_000)
    panel = page.locator(f"[id='{tab.get_attribute('data-id')}']")
    panel.locator(".jp-Notebook .jp-Cell").first.wait_for(state="visible", timeout=120_000)
    wait_for_idle_kernel(page)
    return panel


def wait_for_idle_kernel(page, timeout: int = 120_000) -> None:
    """Wait until the status bar shows the current notebook's kernel started and idle. (The toolbar's
    execution indicator reads "idle" before any kernel is there, and Run All then runs nothing.)"""
    page.wait_for_function(KERNEL_IDLE, timeout=timeout, polling=250)


def menu(page, top: str, item: str) -> None:
    """Click a menu-bar entry, then one of its items (exact labels)."""
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(rf"^{re.escape(top)}$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(rf"^{re.escape(item)}$")).click()


def run_all_cells(page) -> None:
    menu(page, "Run", "Run All Cells")
    page.wait_for_function(RUN_FINISHED, arg=ERROR_OUTPUTS, timeout=RUN_TIMEOUT, polling=500)
    wait_for_idle_kernel(page)


def error_outputs(page) -> list[str]:
    return [text for text in page.locator(ERROR_OUTPUTS).all_inner_texts() if "Traceback" in text]


def unnumbered_code_cells(page) -> list[str]:
    prompts = page.locator(".jp-Notebook .jp-CodeCell .jp-InputArea-prompt").all_inner_texts()
    return [p for p in prompts if not re.search(r"\[\d+\]", p)]
