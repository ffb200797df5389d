"""The environment the course is tested with: one set of pins, the packages an install needs, and the
nbgrader extension in JupyterLab."""

import ast
import re
import subprocess
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
import yaml

import prerequisites

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(lines):
    found = {}
    for line in lines:
        line = line.split("#")[0].strip()
        if line:
            name, version = re.fullmatch(r"([A-Za-z0-9_.\-]+)==([^\s]+)", line).groups()
            found[canonical(name)] = version
    return found


def test_environment_yml_pins_what_requirements_txt_pins():
    required = pins((ROOT / "requirements.txt").read_text().splitlines())
    conda = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in conda["dependencies"] if isinstance(d, dict))
    assert pins(pip_section) == required


def test_pre_commit_runs_the_pinned_ruff():
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    (ruff,) = [repo for repo in config["repos"] if repo["repo"].endswith("/ruff-pre-commit")]
    pinned = pins((ROOT / "requirements.txt").read_text().splitlines())["ruff"]
    assert ruff["rev"] == f"v{pinned}", (
        f".pre-commit-config.yaml runs ruff {ruff['rev']}, requirements.txt pins {pinned}"
    )
    assert {hook["id"] for hook in ruff["hooks"]} == {"ruff-check", "ruff-format"}


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


def imported_top_level_modules(package: Path) -> dict[str, str]:
    """{module: first file importing it} for every absolute import in the package, nested ones included.
    Only the package's own modules count: setuptools installs no sub-folder that pyproject does not list
    as a package (grading/course/, grading/hub/)."""
    found = {}
    for path in sorted(package.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module]
            else:
                continue
            for name in names:
                found.setdefault(name.split(".")[0], str(path.relative_to(ROOT)))
    return found


def requirement_name(requirement: str) -> str:
    return canonical(re.match(r"[A-Za-z0-9_.\-]+", requirement).group())


def dependency_group(group: str = "") -> set[str]:
    """The distributions ``pip install ".[group]"`` asks for ("": the core), the groups it names expanded."""
    project = PYPROJECT["project"]
    found = {requirement_name(r) for r in project["dependencies"]}
    for requirement in project["optional-dependencies"].get(group, []) if group else []:
        named = re.fullmatch(re.escape(project["name"]) + r"\[([a-z]+)\]", requirement)
        found |= dependency_group(named.group(1)) if named else {requirement_name(requirement)}
    return found


# What each installed package needs: `helpers` (what the lectures import) must come with the core alone.
PACKAGE_GROUPS = {"helpers": "", "grading": "instructor"}


def test_pyproject_declares_every_distribution_its_packages_import():
    """A fresh ``pip install .`` (``.[instructor]`` for grading) must bring everything the installed packages
    import, lazily or not."""
    own = set(PYPROJECT["tool"]["setuptools"]["packages"])
    assert own == set(PACKAGE_GROUPS), "say in PACKAGE_GROUPS which dependency group each package needs"
    distributions, undeclared = packages_distributions(), []
    for package in own:
        for module, where in imported_top_level_modules(ROOT / package.replace(".", "/")).items():
            if module in sys.stdlib_module_names or module in own or module == "__future__":
                continue
            assert module in distributions, f"{where} imports {module}, which no installed distribution provides"
            if not {canonical(d) for d in distributions[module]} & dependency_group(PACKAGE_GROUPS[package]):
                undeclared.append(f"{where} imports {module} ({', '.join(distributions[module])})")
    assert not undeclared, "pyproject.toml's dependency groups lack:\n" + "\n".join(undeclared)


def test_every_declared_dependency_is_pinned():
    pinned = pins((ROOT / "requirements.txt").read_text().splitlines())
    declared = dependency_group("dev")
    assert declared <= set(pinned), declared - set(pinned)


def test_every_pin_is_a_group_member_or_what_one_needs():
    """requirements.txt, the constraints of every group's install, pins what the groups ask for and what
    those need (statsmodels' formulaic, nbgrader's notebook): nothing else, so no pin is forgotten there."""
    from importlib.metadata import requires

    declared = dependency_group("dev")
    needed = {requirement_name(r) for name in declared for r in requires(name) or [] if "extra ==" not in r}
    stray = set(pins((ROOT / "requirements.txt").read_text().splitlines())) - declared - needed
    assert not stray, f"requirements.txt pins {sorted(stray)}, which no dependency group of pyproject.toml needs"


def test_the_groups_build_on_each_other_from_the_students_up():
    groups = ["student", "instructor", "hub", "dev"]
    assert set(PYPROJECT["project"]["optional-dependencies"]) == set(groups)
    for smaller, larger in zip(groups, groups[1:]):
        assert dependency_group(smaller) < dependency_group(larger), (smaller, larger)
    assert {"nbgrader", "dask", "jupyterhub", "pytest"}.isdisjoint(dependency_group("student"))


def test_the_sandbox_provisioners_are_registered_and_load():
    """A kernel manager of grading.sandbox names its provisioner by entry point (pyproject.toml); one that is not
    registered (an install that predates it) stops the kernel's start, never starts it unsandboxed."""
    from importlib.metadata import entry_points

    from jupyter_client.provisioning import KernelProvisionerFactory

    from grading import sandbox

    declared = PYPROJECT["project"]["entry-points"]["jupyter_client.kernel_provisioners"]
    installed = {e.name: e for e in entry_points(group="jupyter_client.kernel_provisioners")}
    for manager, provisioner in (
        (sandbox.SandboxedKernelManager, sandbox.SandboxProvisioner),
        (sandbox.UnsandboxedKernelManager, sandbox.UnsandboxedProvisioner),
    ):
        spec = manager(kernel_name="any").kernel_spec
        name = spec.metadata["kernel_provisioner"]["provisioner_name"]
        assert name in declared, f"{manager.__name__} names {name}, which pyproject.toml does not register"
        assert name in installed, f"{name} is not installed: run `pip install --no-deps -e .` (make does)"
        assert installed[name].load() is provisioner
        assert KernelProvisionerFactory.instance().is_provisioner_available(spec)


# Private names of other packages that grading/ overrides or calls where no public hook does the same, each with
# the signature it was written against and the version that had it (requirements.txt pins it).
PRIVATE_NAMES = [
    (
        "nbgrader",
        "nbgrader.exchange.default.collect",
        "ExchangeCollect._sort_by_timestamp",
        "(self, records)",
        "grading/nbgrader_plugins.py: CollectWithoutLinks puts a student's links after their real submissions",
    ),
    (
        "nbgrader",
        "nbgrader.exchange.default.collect",
        "ExchangeCollect._path_to_record",
        "(self, path)",
        "grading/nbgrader_plugins.py: CollectWithoutLinks names the student of a submission it copies",
    ),
    (
        "nbclient",
        "nbclient.client",
        "NotebookClient.__init__",
        "(self, nb: 'NotebookNode', km: 'KernelManager | None' = None, **kw: 't.Any') -> 'None'",
        "grading/autograde.py: JudgedExecute makes itself a fresh client per notebook, as nbconvert's "
        "ExecutePreprocessor.preprocess does",
    ),
]


@pytest.mark.parametrize("package, module, name, signature, used", PRIVATE_NAMES, ids=[n[2] for n in PRIVATE_NAMES])
def test_every_private_name_used_is_as_written_against(package, module, name, signature, used):
    import importlib
    import inspect
    from importlib.metadata import version

    written_against = pins((ROOT / "requirements.txt").read_text().splitlines())[canonical(package)]
    owner, attribute = name.split(".")
    found = getattr(getattr(importlib.import_module(module), owner), attribute, None)
    assert found is not None and str(inspect.signature(found)) == signature, (
        f"{package} {version(package)} changed {module}.{name} (written against {package} {written_against}, "
        f"signature {signature}); {used}: check that code against the new {package} before grading with it"
    )


def test_collect_still_keeps_its_choice_in_src_records():
    """CollectWithoutLinks removes links from ``src_records`` (nbgrader's list of what init_src chose and
    copy_files copies): both must still use that attribute, as nbgrader 0.9.6 does."""
    import inspect
    from importlib.metadata import version

    from nbgrader.exchange.default.collect import ExchangeCollect

    for method in (ExchangeCollect.init_src, ExchangeCollect.copy_files):
        assert "self.src_records" in inspect.getsource(method), (
            f"nbgrader {version('nbgrader')}'s ExchangeCollect.{method.__name__} no longer uses src_records "
            f"(written against 0.9.6): grading/nbgrader_plugins.py's CollectWithoutLinks.copy_files must follow"
        )


# ---------------------------------------------------------------- markers and prerequisites (tests/prerequisites.py)
class FakeItem:
    def __init__(self, path, markers=()):
        self.path, self.markers = Path(path), [getattr(pytest.mark, m) for m in markers]

    def add_marker(self, marker):
        self.markers.append(marker)

    def get_closest_marker(self, name):
        return next((m for m in self.markers if m.name == name), None)


def test_notebooks_and_browser_tests_are_marked_slow():
    notebook, browser, quick = (
        FakeItem(ROOT / "notebooks" / "01-x.ipynb"),
        FakeItem(ROOT / "tests" / "browser" / "test_x.py"),
        FakeItem(__file__),
    )
    prerequisites.mark_whole_folders([notebook, browser, quick])
    assert notebook.get_closest_marker("slow") and not notebook.get_closest_marker("needs_chromium")
    assert browser.get_closest_marker("slow") and browser.get_closest_marker("needs_chromium")
    assert not quick.markers


@pytest.mark.parametrize("marker", ["needs_r", "needs_chromium", "needs_root"])
def test_a_missing_prerequisite_skips_here_and_fails_on_ci(monkeypatch, marker):
    monkeypatch.setitem(prerequisites.PREREQUISITES, marker, (lambda: False, f"no {marker}"))
    item = FakeItem(__file__, [marker])
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=f"no {marker}"):
        prerequisites.check_prerequisites(item)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=f"no {marker}.*CI is set"):
        prerequisites.check_prerequisites(item)
    prerequisites.check_prerequisites(FakeItem(__file__))  # a test without the marker runs anyway
