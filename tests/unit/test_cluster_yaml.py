"""ray_cluster.yaml and its cloud variant: valid for Ray's own config code, and what BEDS needs.

No SSH and no `ray up`: the configs go through the same `prepare_config` + `validate_config`
that `ray up` runs first, and the start commands run in bash against a stand-in `ray`.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from ray._private.label_utils import parse_node_labels_from_yaml_file
from ray.autoscaler._private.util import prepare_config, validate_config

from beds_actors.ipl.placement import ANY_ROLE, ROLE_LABEL

ROLES = {"appServer", "admin", "segundo", "tercero"}
ROOT = Path(__file__).resolve().parents[2]
ON_PREM = ROOT / "ray_cluster.yaml"
CLOUD = ROOT / "cluster" / "ray_cluster.cloud.yaml"
LABELS = ROOT / "cluster" / "labels"
# The stand-in prints what BEDS relies on: the auth mode it was started with and its args.
FAKE_RAY = '#!/bin/sh\necho "auth=$RAY_AUTH_MODE args=$*"\n'


def prepared(path: Path) -> dict[str, Any]:
    """The config as `ray up` sees it after filling defaults; raises if Ray rejects it."""
    config = prepare_config(yaml.safe_load(path.read_text()))
    validate_config(config)
    return config


def start_lines(config: dict[str, Any], key: str) -> list[str]:
    """The commands of `key` that start Ray (not `ray stop`)."""
    return [c for c in config[key] if "/ray start " in c]


@pytest.mark.parametrize("path", [ON_PREM, CLOUD], ids=["on-prem", "cloud"])
def test_ray_accepts_the_config(path: Path) -> None:
    config = prepared(path)
    for key in ("head_start_ray_commands", "worker_start_ray_commands"):
        lines = start_lines(config, key)
        assert len(lines) == 1, (path.name, key, config[key])
        assert "RAY_AUTH_MODE=token" in lines[0], (path.name, key)
    assert "--dashboard-host=127.0.0.1" in start_lines(config, "head_start_ray_commands")[0]
    assert any("bootstrap.sh --no-services" in c for c in config["setup_commands"])
    assert "~/beds" in config["file_mounts"]
    assert ".venv" in config["rsync_exclude"] and "config/env_*.toml" in config["rsync_exclude"]


def test_on_prem_runs_every_listed_worker() -> None:
    raw = yaml.safe_load(ON_PREM.read_text())
    assert raw["provider"]["type"] == "local"
    workers = raw["provider"]["worker_ips"]
    assert workers and raw["max_workers"] == len(workers)
    (node_type,) = prepared(ON_PREM)["available_node_types"].values()
    assert node_type["min_workers"] == node_type["max_workers"] == len(workers)


def test_on_prem_start_commands_carry_the_hosts_labels_file() -> None:
    config = prepared(ON_PREM)
    for key in ("head_start_ray_commands", "worker_start_ray_commands"):
        assert '--labels-file="$BEDS_LABELS"' in start_lines(config, key)[0], key


def test_cloud_has_one_node_type_per_role_labelled_with_it() -> None:
    config = prepared(CLOUD)
    types = config["available_node_types"]
    assert set(types) == ROLES
    for name, node_type in types.items():
        assert node_type["labels"] == {ROLE_LABEL: name}, name
    assert config["head_node_type"] == "appServer"
    workers = [t for name, t in types.items() if name != "appServer"]
    assert all(t["min_workers"] >= 1 and t["max_workers"] >= t["min_workers"] for t in workers)


def test_every_shipped_labels_file_is_valid_for_ray_start() -> None:
    files = sorted(LABELS.glob("*.yaml"))
    assert files, f"no labels file under {LABELS}"
    for path in files:
        labels = parse_node_labels_from_yaml_file(str(path))
        assert labels.get(ROLE_LABEL) in ROLES | {ANY_ROLE}, path


def _run_start(command: str, home: Path, host: str) -> subprocess.CompletedProcess[str]:
    """Run one start command in bash with HOME=home, a stand-in ray and a fixed hostname."""
    bin_dir = home / "beds" / ".venv" / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    (bin_dir / "ray").write_text(FAKE_RAY)
    (bin_dir / "ray").chmod(0o755)
    shim = home / "shim"
    shim.mkdir(exist_ok=True)
    (shim / "hostname").write_text(f"#!/bin/sh\necho {host}\n")
    (shim / "hostname").chmod(0o755)
    env = {"HOME": str(home), "PATH": f"{shim}:/usr/bin:/bin", "RAY_HEAD_IP": "127.0.0.1"}
    return subprocess.run(
        ["bash", "-c", command], env=env, capture_output=True, text=True, timeout=10
    )


@pytest.mark.parametrize("key", ["head_start_ray_commands", "worker_start_ray_commands"])
def test_start_command_passes_this_hosts_labels_file_and_token_mode(
    tmp_path: Path, key: str
) -> None:
    command = start_lines(prepared(ON_PREM), key)[0]
    missing = _run_start(command, tmp_path, "node7")
    assert missing.returncode == 1
    assert "no role for this host: write" in missing.stderr
    assert "cluster/labels/node7.yaml" in missing.stderr

    labels = tmp_path / "beds" / "cluster" / "labels"
    labels.mkdir(parents=True)
    (labels / "node7.yaml").write_text("role: segundo\n")
    done = _run_start(command, tmp_path, "node7")
    assert done.returncode == 0, done.stderr
    assert "auth=token" in done.stdout
    assert f"--labels-file={labels / 'node7.yaml'}" in done.stdout
