"""Compose and Kubernetes make the streams with the operator's step before any service starts (the operator review,
session 21): the first service to start made them with its own NATS user. docker-compose.yml runs `nats-init`
(`jusou nats init` as jusou-operator) and every service waits for it to complete; deploy/k8s runs the Job nats-init
with the operator's password, and every service's pod waits in an init container, as its own user, until they are
there. Only the step gets the operator's password."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from shared.messaging import natsauth
from shared.settings import PORTS

ROOT = Path(__file__).resolve().parents[2]
SERVICES = sorted(PORTS)
OPERATOR_PASSWORD = "JUSOU_NATS_OPERATOR_PASSWORD"


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    services: dict[str, Any] = loaded["services"]
    return services


def k8s(name: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all((ROOT / "deploy/k8s" / name).read_text(encoding="utf-8")) if doc]


def test_compose_runs_the_operators_init_once_and_every_service_waits_for_it_to_complete() -> None:
    services = compose()
    init = services["nats-init"]
    assert init["command"] == ["jusou.cli", "nats", "init"] and init["image"] == services["intake"]["image"]
    assert init["environment"]["NATS_USER"] == natsauth.OPERATOR
    assert init["environment"]["NATS_PASSWORD"].startswith("${" + OPERATOR_PASSWORD + ":?")
    assert init["depends_on"] == {"nats": {"condition": "service_healthy"}}
    assert init.get("restart") == "no" and "build" not in init  # a one-shot, not one of the six built services
    for name in SERVICES:
        assert services[name]["depends_on"]["nats-init"] == {"condition": "service_completed_successfully"}, name
        assert OPERATOR_PASSWORD not in str(services[name]["environment"]), name


def env_of(container: dict[str, Any]) -> dict[str, str]:
    found = {}
    for entry in container.get("env", []):
        ref = (entry.get("valueFrom") or {}).get("secretKeyRef")
        found[entry["name"]] = f"secret:{ref['key']}" if ref else str(entry["value"])
    return found


def test_kubernetes_runs_the_job_as_the_operator_and_it_is_in_the_kustomization() -> None:
    [job] = k8s("nats-init.yaml")
    assert job["kind"] == "Job" and job["metadata"]["namespace"] == "jusou"
    [container] = job["spec"]["template"]["spec"]["containers"]
    assert container["args"] == ["jusou.cli", "nats", "init"]
    assert env_of(container) == {"NATS_USER": natsauth.OPERATOR, "NATS_PASSWORD": f"secret:{OPERATOR_PASSWORD}"}
    assert {"configMapRef": {"name": "jusou-settings"}} in container["envFrom"]  # NATS_URL, JUSOU_STREAM_REPLICAS
    kustomization = yaml.safe_load((ROOT / "deploy/k8s/kustomization.yaml").read_text(encoding="utf-8"))
    assert "nats-init.yaml" in kustomization["resources"]


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_pod_waits_for_the_streams_as_its_own_user(service: str) -> None:
    [deployment] = [doc for doc in k8s(f"{service}.yaml") if doc["kind"] == "Deployment"]
    spec = deployment["spec"]["template"]["spec"]
    [wait] = spec["initContainers"]
    assert wait["args"][:4] == ["jusou.cli", "nats", "init", "--wait"] and float(wait["args"][4]) > 0
    assert wait["image"] == spec["containers"][0]["image"]
    assert env_of(wait) == {"NATS_USER": service, "NATS_PASSWORD": f"secret:JUSOU_NATS_{service.upper()}_PASSWORD"}
    for container in (wait, *spec["containers"]):
        assert OPERATOR_PASSWORD not in str(container), container["name"]


def test_the_cluster_compose_runs_the_init_with_three_copies_before_every_replica() -> None:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "deploy/cluster/compose.yaml").read_text(encoding="utf-8"))
    services = loaded["services"]
    init = services["nats-init"]
    assert init["command"] == ["jusou.cli", "nats", "init"] and init["environment"]["JUSOU_STREAM_REPLICAS"] == "3"
    assert init["environment"]["NATS_USER"] == natsauth.OPERATOR and "build" not in init
    assert set(init["environment"]["NATS_URL"].split(",")) == {f"nats://nats-{n}:4222" for n in (1, 2, 3)}
    replicas = [spec for spec in services.values() if str(spec.get("command", [""])[0]).startswith("services.")]
    assert len(replicas) == 2 * len(SERVICES)
    for spec in replicas:
        assert spec["depends_on"]["nats-init"] == {"condition": "service_completed_successfully"}
        assert OPERATOR_PASSWORD not in str(spec["environment"])
