"""The environment the course is tested with: one set of pins, and the nbgrader extension in JupyterLab."""

import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def pins(lines):
    found = {}
    for line in lines:
        line = line.split("#")[0].strip()
        if line:
            name, version = re.fullmatch(r"([A-Za-z0-9_.\-]+)==([^\s]+)", line).groups()
            found[name.lower().replace("_", "-")] = version
    return found


def test_environment_yml_pins_what_requirements_txt_pins():
    required = pins((ROOT / "requirements.txt").read_text().splitlines())
    conda = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in conda["dependencies"] if isinstance(d, dict))
    assert pins(pip_section) == required


def test_installed_versions_are_the_pinned_ones():
    from importlib.metadata import version

    for name, pinned in pins((ROOT / "requirements.txt").read_text().splitlines()).items():
        assert version(name) == pinned, f"{name} {version(name)} is installed, {pinned} is pinned"


def test_nbgrader_extension_is_enabled_in_jupyterlab():
    listing = subprocess.run(
        [sys.executable, "-m", "jupyter", "labextension", "list"], capture_output=True, text=True, check=True
    )
    text = re.sub(r"\x1b\[[0-9;]*m", "", listing.stdout + listing.stderr)  # drop colour codes
    line = next((line for line in text.splitlines() if "@jupyter/nbgrader" in line), None)
    assert line is not None, f"the nbgrader lab extension is not installed:\n{text}"
    assert "enabled" in line and "OK" in line, f"the nbgrader lab extension is not usable: {line.strip()}"
    assert "incompatible" not in text.lower(), text
