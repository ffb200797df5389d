"""The files handed to a Kubernetes hub's administrators (grading/hub/kubernetes/), checked offline: every
manifest against the Kubernetes JSON schemas that kubernetes-validate ships (strict: an unknown or misspelt
field fails), and the Zero to JupyterHub values against the keys the README there documents (the chart's own
schema ships in no package, so the values' types and the chart's defaults are not checked here)."""

import re
import shutil
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
KUBERNETES = ROOT / "grading" / "hub" / "kubernetes"
MANIFESTS = sorted(p.name for p in KUBERNETES.glob("*.yaml") if p.name != "config.yaml")
# The oldest Kubernetes release still maintained when these files were written: what a university runs.
KUBERNETES_VERSION = "1.31"


def resources(path: Path) -> list[dict]:
    return [document for document in yaml.safe_load_all(path.read_text()) if document]


def validate_manifest(path: Path) -> None:
    for resource in resources(path):
        kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)


def test_the_folder_holds_the_manifests_the_readme_describes():
    assert MANIFESTS == ["course-pvc.yaml", "exchange-pvc.yaml", "grade-job.yaml"]
    readme = (KUBERNETES / "README.md").read_text()
    for name in [*MANIFESTS, "config.yaml", "Dockerfile"]:
        assert f"`{name}`" in readme, f"README.md does not describe {name}"


@pytest.mark.parametrize("name", MANIFESTS)
def test_manifest_validates_against_the_kubernetes_schemas(name):
    validate_manifest(KUBERNETES / name)


@pytest.mark.parametrize(
    "name, breakage",
    [
        ("grade-job.yaml", ("backoffLimit: 0", "backoffLimit: never")),  # a word where an integer belongs
        ("grade-job.yaml", ("      containers:", "      initContainers:")),  # the pod's required containers missing
        ("grade-job.yaml", ("privileged: true", "privilegd: true")),  # a misspelt field
        ("exchange-pvc.yaml", ("storage: 5Gi", "storage: [5Gi]")),  # a list where a quantity belongs
    ],
)
def test_a_broken_manifest_fails(tmp_path, name, breakage):
    broken = tmp_path / name
    shutil.copy(KUBERNETES / name, broken)
    old, new = breakage
    assert old in broken.read_text()
    broken.write_text(broken.read_text().replace(old, new))
    with pytest.raises(kubernetes_validate.ValidationError):
        validate_manifest(broken)


def test_the_exchange_is_shared_read_write_and_the_job_mounts_the_course_root():
    claims = {
        r["metadata"]["name"]: r
        for n in MANIFESTS
        for r in resources(KUBERNETES / n)
        if r["kind"] == "PersistentVolumeClaim"
    }
    assert claims["nbgrader-exchange"]["spec"]["accessModes"] == ["ReadWriteMany"]
    job = resources(KUBERNETES / "grade-job.yaml")[0]["spec"]["template"]["spec"]
    volumes = {v["name"]: v["persistentVolumeClaim"]["claimName"] for v in job["volumes"]}
    assert set(volumes.values()) == {"course-root"} and "course-root" in claims
    container = job["containers"][0]
    assert any(m["mountPath"] == "/srv/course" for m in container["volumeMounts"])
    assert "make grade" in container["args"][0] and "COURSE=/srv/course" in container["args"][0]
    assert container["securityContext"]["privileged"] is True
    syntax = subprocess.run(["sh", "-n"], input=container["args"][0], capture_output=True, text=True)
    assert syntax.returncode == 0, syntax.stderr


# ------------------------------------------------------------------------- the Zero to JupyterHub values
def documented_keys() -> set[str]:
    """The dotted keys of config.yaml that README.md lists in its table ("`singleuser.image.name`", ...)."""
    readme = (KUBERNETES / "README.md").read_text()
    return set(re.findall(r"^\| `((?:hub|singleuser)\.[A-Za-z_.]+)`", readme, re.MULTILINE))


def leaf_keys(values: dict, documented: set[str], prefix: str = "") -> set[str]:
    """Dotted keys down to the chart's own settings: below a documented key (a list, a dict of the user's
    names such as extraEnv) nothing is the chart's."""
    found = set()
    for key, value in values.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and dotted not in documented:
            found |= leaf_keys(value, documented, dotted + ".")
        else:
            found.add(dotted)
    return found


def values(path: Path = KUBERNETES / "config.yaml") -> dict:
    return yaml.safe_load(path.read_text())


def test_the_values_set_exactly_the_keys_the_readme_documents():
    assert leaf_keys(values(), documented_keys()) == documented_keys()


@pytest.mark.parametrize("old, new", [("  extraEnv:", "  extraEnvironment:"), ("    capacity:", "    size:")])
def test_a_misspelt_or_undocumented_value_key_fails(tmp_path, old, new):
    broken = tmp_path / "config.yaml"
    assert old in (KUBERNETES / "config.yaml").read_text()
    broken.write_text((KUBERNETES / "config.yaml").read_text().replace(old, new))
    assert leaf_keys(values(broken), documented_keys()) != documented_keys()


def test_the_values_mount_the_exchange_where_nbgrader_looks_for_it():
    single = values()["singleuser"]
    (mount,) = single["storage"]["extraVolumeMounts"]
    (volume,) = single["storage"]["extraVolumes"]
    assert volume["persistentVolumeClaim"]["claimName"] == "nbgrader-exchange" == mount["name"] == volume["name"]
    assert single["extraEnv"]["COURSE_HUB_EXCHANGE"] == mount["mountPath"]
    for profile in single["profileList"]:
        assert profile["kubespawner_override"]["environment"]["COURSE_HUB_EXCHANGE"] == mount["mountPath"]


def test_only_the_instructor_profile_reaches_the_course_root_and_the_formgrader():
    single, hub = values()["singleuser"], values()["hub"]
    profiles = {p["slug"]: p["kubespawner_override"] for p in single["profileList"]}
    assert set(profiles) == {"student", "instructor"}
    assert profiles["student"]["environment"]["JUPYTER_CONFIG_PATH"] == "/etc/jupyter-people"
    assert "JUPYTER_CONFIG_PATH" not in profiles["instructor"]["environment"]
    assert profiles["instructor"]["working_dir"] == "/srv/course"
    (code,) = hub["extraConfig"].values()
    compile(code, "hub.extraConfig", "exec")  # the chart runs it in the hub: it must at least be Python
    (group,) = hub["config"]["JupyterHub"]["load_groups"]
    assert f'FORMGRADE_GROUP = "{group}"' in code and 'claim_name="course-root"' in code


def test_the_dockerfile_copies_no_solution_and_installs_the_hub_group():
    dockerfile = (KUBERNETES / "Dockerfile").read_text()
    copied = re.findall(r"^COPY (.+) \S+$", dockerfile, re.MULTILINE)
    sources = [source for line in copied for source in line.split()]
    # nothing of grading/course/, nor a whole folder that holds it
    assert not [s for s in sources if s.startswith("grading/course") or s in {".", "./", "grading", "grading/"}]
    assert '-c requirements.txt -e ".[hub]"' in dockerfile
    for path in ["grading/hub/jupyter/", "grading/hub/jupyter-people/", *[s for s in sources if "*" not in s]]:
        assert (ROOT / path).exists(), f"the Dockerfile copies {path}, which does not exist"
