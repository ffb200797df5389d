"""Fixtures of the real-browser tests: Debian's Chromium driven by Playwright, JupyterLab servers started as
`make lab` starts them, and a folder of screenshots that the end of the test run names.

Without Chromium the tests skip, saying so; on CI (the CI environment variable set) they fail instead.
Playwright's own browser downloads are never used: the browser is /usr/bin/chromium (or `chromium` on PATH).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from prerequisites import chromium_executable, missing

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "_build" / "test-artifacts" / "browser"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
# JupyterLab settings for the test servers: no news or update checks, and every cell in the page (no
# virtual scrolling), so that the whole notebook can be inspected.
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": '{"fetchNews": "false", '
    '"checkForUpdates": false}',
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": '{"windowingMode": "none"}',
}
SERVER_START_TIMEOUT = 180  # s; a busy two-core machine can be slow to import JupyterLab's extensions


# Per module, not per session: Playwright's sync API keeps an asyncio loop running on the main thread while
# it is open, and later tests that run their own loop (tests/test_sandbox.py) would find it running.
@pytest.fixture(scope="module")
def browser():
    executable = chromium_executable()
    if executable is None:
        missing("no Chromium installed (Debian: apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("Playwright is not installed (it is pinned in requirements.txt)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def local_only(route):
    """Let the page reach this machine only (the servers under test); any other request fails at once."""
    host = route.request.url.split("/")[2].split(":")[0] if "://" in route.request.url else ""
    if route.request.url.startswith(("data:", "blob:")) or host in ("127.0.0.1", "localhost"):
        route.continue_()
    else:
        route.abort()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(60_000)
    context.route("**/*", local_only)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    if ARTIFACTS.exists():
        shutil.rmtree(ARTIFACTS)
    ARTIFACTS.mkdir(parents=True)
    return ARTIFACTS


@pytest.fixture
def screenshot(page, artifacts, request):
    """screenshot("step") saves the page as <test name>-<n>-<step>.png in the artefacts folder."""
    count = [0]

    def take(step: str, target=None) -> Path:
        count[0] += 1
        path = artifacts / f"{request.node.name}-{count[0]}-{step}.png"
        (target or page).screenshot(path=str(path))
        return path

    return take


def pytest_terminal_summary(terminalreporter):
    shots = sorted(ARTIFACTS.glob("*.png")) if ARTIFACTS.is_dir() else []
    if shots:
        terminalreporter.write_sep("-", "browser test screenshots")
        terminalreporter.write_line(f"{len(shots)} screenshots in {ARTIFACTS}")


def venv_environment(**extra: str) -> dict[str, str]:
    """This environment with the virtualenv's bin first on PATH (nbgrader calls its tools, alembic, by name)."""
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    return dict(os.environ, PATH=path, **extra)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_lab_command() -> list[str]:
    """The command `make lab` runs (read from the Makefile with make -n), with an absolute jupyter path."""
    dry_run = subprocess.run(
        ["make", "-s", "-n", "--no-print-directory", "lab", "JUPYTER_PORT=0"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    line = next((line for line in dry_run.splitlines() if re.search(r"jupyter\S* lab\b", line)), None)
    assert line is not None, f"make -n lab prints no jupyter lab command:\n{dry_run}"
    argv = shlex.split(line)
    argv[0] = str((ROOT / argv[0]).resolve()) if not os.path.isabs(argv[0]) else argv[0]
    return argv


class LabServer:
    """A JupyterLab server started with `make lab`'s command and flags, on a free port, with a known token."""

    def __init__(self, notebook_dir: Path, cwd: Path, state: Path):
        self.port, self.token = free_port(), "browser-test-" + os.urandom(8).hex()
        argv = []
        for arg in make_lab_command():
            if arg.startswith("--notebook-dir="):
                arg = f"--notebook-dir={notebook_dir}"
            elif arg.startswith("--port="):
                arg = f"--port={self.port}"
            argv.append(arg)
        assert f"--notebook-dir={notebook_dir}" in argv and f"--port={self.port}" in argv, argv
        argv += ["--no-browser", "--ip=127.0.0.1", f"--IdentityProvider.token={self.token}"]
        settings = state / "lab-settings"
        for name, text in LAB_SETTINGS.items():
            (settings / name).parent.mkdir(parents=True, exist_ok=True)
            (settings / name).write_text(text)
        env = venv_environment(
            JUPYTER_CONFIG_DIR=str(state / "config"),
            JUPYTER_RUNTIME_DIR=str(state / "runtime"),
            JUPYTERLAB_SETTINGS_DIR=str(settings),
            JUPYTERLAB_WORKSPACES_DIR=str(state / "workspaces"),
        )
        self.log = state / "server.log"
        self.command = shlex.join(argv)
        with open(self.log, "w") as log:
            self.process = subprocess.Popen(
                argv, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        self.wait_until_up()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path.lstrip('/')}?token={self.token}"

    def wait_until_up(self) -> None:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"JupyterLab exited ({self.process.returncode}):\n{self.log.read_text()}")
            try:
                with urllib.request.urlopen(self.url("api/status"), timeout=5) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"JupyterLab did not answer within {SERVER_START_TIMEOUT} s:\n{self.log.read_text()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture
def start_lab(tmp_path_factory):
    """start_lab(notebook_dir, cwd) -> a running LabServer; stopped at the end of the test."""
    servers = []

    def start(notebook_dir: Path, cwd: Path) -> LabServer:
        server = LabServer(notebook_dir, cwd, tmp_path_factory.mktemp("lab-state"))
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
