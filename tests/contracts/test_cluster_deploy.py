"""deploy/cluster/ (the scale-out shape, issue 7) agrees with the code.

The NATS configs are what `jusou cluster config` renders; the compose file runs three NATS nodes
in one cluster, PostgreSQL and two replicas of every service; the Kubernetes overlay (rendered
here as kustomize renders it: the base deploy/k8s/, `replicas`, strategic-merge patches) runs a
NATS StatefulSet of three with routes between its pods and two replicas per Deployment. Every
port, variable and probe path is checked against shared/settings.py, jusou/cluster.py and the
services' FastAPI routes; the files are only read (no Docker engine, no cluster needed).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import importlib
import importlib.resources
import json
import re
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml

from jusou import cluster
from shared.messaging import natsauth
from shared.messaging.bus import servers
from shared.settings import PORTS, SETTINGS, AuthSettings, Settings, current

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy" / "cluster"
COMPOSE = DEPLOY / "compose.yaml"
OVERLAY = DEPLOY / "k8s"
SERVICES = sorted(PORTS)
NATS_CLIENT_PORT = 4222  # nats-server's default client port (the images run it unchanged)
READY, ALIVE = "/readyz", "/healthz"
NATS_PASSWORDS = {user: natsauth.password_variable(user) for user in (natsauth.OPERATOR, natsauth.INTEGRATOR, *SERVICES)}
HOST_ENV = {"JUSOU_CIPHER_KEY": base64.b64encode(bytes(range(32))).decode(), "JUSOU_PG_PASSWORD": "pw"}
HOST_ENV |= {name: hashlib.sha256(name.encode()).hexdigest()[:48] for name in NATS_PASSWORDS.values()}
EVENTSOURCING_MAX_OVERFLOW = 10  # eventsourcing's POSTGRES_MAX_OVERFLOW default: connections beyond the pool
READ_MODEL_POOL = 2  # shared/kernel/readmodel.py opens its view with POSTGRES_POOL_SIZE 2


@cache
def known_settings() -> frozenset[str]:
    names: set[str] = set()
    for setting in SETTINGS:
        if "<SERVICE>" in setting.name:
            names |= {setting.name.replace("<SERVICE>", s.upper()) for s in PORTS}
        else:
            names.add(setting.name)
    return frozenset(names)


def served_get_paths(name: str) -> set[str]:
    api = importlib.import_module(f"services.{name}.main").api
    return {r.path for r in api.routes if "GET" in (getattr(r, "methods", None) or ()) and "{" not in r.path}


def settings_with(env: dict[str, str], service: str, monkeypatch: pytest.MonkeyPatch) -> Settings:
    for variable in known_settings():
        monkeypatch.delenv(variable, raising=False)
    for variable, value in env.items():
        monkeypatch.setenv(variable, value)
    return Settings.from_env(service)


def flag(words: list[str], *names: str) -> str:
    found = [words[i + 1] for i, word in enumerate(words[:-1]) if word in names]
    assert found, f"none of {names} in {words}"
    return found[-1]


# --- the NATS configs -----------------------------------------------------------------------------


def test_the_checked_in_nats_configs_are_what_jusou_cluster_config_renders() -> None:
    rendered = cluster.default_configs()
    assert sorted(p.name for p in DEPLOY.glob("nats-*.conf")) == sorted(rendered)
    for name, text in rendered.items():
        assert (DEPLOY / name).read_text(encoding="utf-8") == text, f"run `jusou cluster config` ({name})"


def test_each_node_has_its_own_name_ports_and_store_and_routes_to_the_other_two() -> None:
    texts = [(DEPLOY / f"nats-{n}.conf").read_text(encoding="utf-8") for n in range(1, cluster.NODES + 1)]

    def value(text: str, pattern: str) -> list[str]:
        return re.findall(pattern, text, re.MULTILINE)

    names = [value(t, r"^server_name: (\S+)$")[0] for t in texts]
    clients = [value(t, r"^listen: 127\.0\.0\.1:(\d+)$")[0] for t in texts]
    monitors = [value(t, r"^http: 127\.0\.0\.1:(\d+)$")[0] for t in texts]
    stores = [value(t, r'^\s+store_dir: "([^"]+)"$')[0] for t in texts]
    routes_listen = [value(t, r"^\s+listen: 127\.0\.0\.1:(\d+)$")[0] for t in texts]
    assert len({*names}) == len({*stores}) == len({*clients, *monitors, *routes_listen}) / 3 == cluster.NODES
    assert [int(c) for c in clients] == [n.client for n in cluster.DEFAULT_NODES]
    for n, text in enumerate(texts):
        assert value(text, r"^\s+name: (\S+)$") == [cluster.CLUSTER_NAME]
        routes = value(text, r"^\s+nats-route://127\.0\.0\.1:(\d+)$")
        assert sorted(routes) == sorted(r for i, r in enumerate(routes_listen) if i != n)
        assert "jetstream" in text and "include" not in text  # the users are added by `jusou cluster up` only


def test_cluster_up_adds_the_suites_nats_users_to_the_same_config(tmp_path: Path) -> None:
    nodes = cluster.DEFAULT_NODES
    written = cluster.NatsCluster(tmp_path, nodes).write_configs()
    for n, path in enumerate(written, 1):
        text = path.read_text(encoding="utf-8")
        assert text.startswith(cluster.node_config(n, nodes, str(tmp_path / "cluster" / f"nats-{n}")))
        include = re.findall(r'^include "([^"]+)"$', text, re.MULTILINE)
        assert len(include) == 1 and json.loads((path.parent / include[0]).read_text())["authorization"]["users"]


# --- compose ------------------------------------------------------------------------------------

_INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::\?[^}]*)?\}")


def _resolve(node: Any) -> Any:
    if isinstance(node, str):
        assert "$" not in _INTERPOLATION.sub("", node), f"unexpected interpolation in {node!r}"
        return _INTERPOLATION.sub(lambda m: HOST_ENV[m.group("name")], node)
    if isinstance(node, dict):
        return {key: _resolve(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_resolve(value) for value in node]
    return node


@cache
def compose() -> dict[str, Any]:
    return _resolve(yaml.safe_load(COMPOSE.read_text(encoding="utf-8")))


def compose_services() -> dict[str, dict[str, Any]]:
    return compose()["services"]


def nats_services() -> dict[str, dict[str, Any]]:
    return {name: spec for name, spec in compose_services().items() if str(spec.get("image", "")).startswith("nats:")}


def replicas_of(service: str) -> dict[str, dict[str, Any]]:
    return {name: spec for name, spec in compose_services().items() if spec.get("command") == [f"services.{service}"]}


def test_compose_file_is_valid_against_the_compose_specification() -> None:
    import jsonschema

    vendor = importlib.resources.files("check_jsonschema.builtin_schemas.vendor")
    schema = json.loads((vendor / "compose-spec.json").read_text(encoding="utf-8"))
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(compose())]
    assert not errors, "\n".join(errors)
    broken = copy.deepcopy(compose())
    broken["services"]["intake-1"]["depends_on"]["nats-1"]["condition"] = "healthy"
    assert not validator.is_valid(broken)


def test_compose_runs_three_nats_nodes_routing_to_each_other_with_jetstream_on_volumes() -> None:
    nodes = nats_services()
    assert len(nodes) == cluster.NODES
    top = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    images = {spec["image"] for spec in nodes.values()}
    assert images == {s["image"] for s in top["services"].values() if str(s.get("image", "")).startswith("nats:")}
    commands = {name: [str(w) for w in spec["command"]] for name, spec in nodes.items()}
    cluster_ports = {name: urlparse(flag(words, "--cluster")).port for name, words in commands.items()}
    assert {flag(words, "--cluster_name") for words in commands.values()} == {cluster.CLUSTER_NAME}
    assert len({flag(words, "--server_name") for words in commands.values()}) == cluster.NODES
    volumes = set(compose()["volumes"])
    for name, words in commands.items():
        assert "-js" in words
        routes = {(urlparse(r).hostname, urlparse(r).port) for r in flag(words, "--routes").split(",")}
        assert routes == {(other, cluster_ports[other]) for other in nodes if other != name}
        store = flag(words, "-sd")
        assert {v.split(":")[1]: v.split(":")[0] for v in nodes[name]["volumes"]}[store] in volumes
        url = urlparse(re.findall(r"https?://\S+", " ".join(nodes[name]["healthcheck"]["test"]))[0])
        assert url.port == int(flag(words, "-m")) and url.path == "/healthz"


@pytest.mark.parametrize("service", SERVICES)
def test_compose_runs_two_replicas_of_each_service_reachable_by_its_name(
    service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    replicas = replicas_of(service)
    assert len(replicas) == cluster.REPLICAS
    published = []
    for spec in replicas.values():
        settings = settings_with(spec["environment"], service, monkeypatch)
        [mapping] = spec["ports"]
        host, container = (int(p) for p in mapping.split(":"))
        assert container == settings.port == PORTS[service]
        published.append(host)
        assert spec["networks"]["default"]["aliases"] == [service], "the service's name reaches either replica"
        url = urlparse(re.findall(r"https?://[^\s'\"]+", " ".join(spec["healthcheck"]["test"]))[0])
        assert url.port == settings.port and url.path == READY and READY in served_get_paths(service)
        assert set(spec["environment"]) <= known_settings(), sorted(set(spec["environment"]) - known_settings())
        assert set(spec["depends_on"]) == {*nats_services(), "postgres", "nats-init"}
        assert all(d["condition"] == "service_healthy" for name, d in spec["depends_on"].items() if name != "nats-init")
        assert spec["depends_on"]["nats-init"] == {"condition": "service_completed_successfully"}
    # replica r on the contract port + 100 × (r − 1), as `jusou cluster up` lays them out
    assert sorted(published) == [PORTS[service] + cluster.REPLICA_PORT_STEP * r for r in range(cluster.REPLICAS)]


@pytest.mark.parametrize("service", SERVICES)
def test_compose_replicas_reach_every_nats_node_and_make_streams_of_three(
    service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for spec in replicas_of(service).values():
        settings = settings_with(spec["environment"], service, monkeypatch)
        urls = [urlparse(u) for u in servers(settings.nats_url)]
        assert {(u.hostname, u.port) for u in urls} == {(n, NATS_CLIENT_PORT) for n in nats_services()}
        assert settings.stream_replicas == cluster.NODES == cluster.STREAM_REPLICAS
        assert settings.store == "postgres" and settings.pg_host == "postgres"
        assert len(base64.b64decode(settings.cipher_key, validate=True)) == 32


def test_postgres_accepts_the_connections_of_every_replica(monkeypatch: pytest.MonkeyPatch) -> None:
    postgres = compose_services()["postgres"]
    max_connections = int(flag([str(w) for w in postgres["command"]], "-c").split("=")[1])
    processes = [(s, spec) for s in SERVICES for spec in replicas_of(s).values()]
    needed = 0
    for service, spec in processes:
        pool = settings_with(spec["environment"], service, monkeypatch).pg_pool_size
        needed += pool + EVENTSOURCING_MAX_OVERFLOW // 2 + READ_MODEL_POOL  # open pools, half the overflow in use
    assert needed <= max_connections, (needed, max_connections)


def test_every_nats_node_runs_with_the_users_mounted_read_only_and_every_nats_password() -> None:
    raw = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))["services"]
    for name, spec in nats_services().items():
        words = [str(w) for w in spec["command"]]
        config = flag(words, "-c", "--config")
        mounts = {volume.split(":")[1]: volume.split(":") for volume in spec["volumes"]}
        source, _, *options = mounts[config]
        assert (COMPOSE.parent / source).resolve() == natsauth.DEPLOY_CONFIG and options == ["ro"], name
        assert raw[name]["environment"] == {
            v: f"${{{v}:?set {v} in .env to a hex password (template deploy/env.example)}}"
            for v in NATS_PASSWORDS.values()
        }


@pytest.mark.parametrize("service", SERVICES)
def test_every_replica_reaches_every_other_service_by_its_name_and_contract_port(
    service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`JUSOU_<SERVICE>_INTERNAL_URL` names each service by the alias both its replicas answer to, on its port."""
    for spec in replicas_of(service).values():
        settings_with(spec["environment"], service, monkeypatch)
        env = current()  # the environment the replica's settings were read from
        for other in SERVICES:
            url = urlparse(env.internal_url_of(other))
            assert (url.scheme, url.hostname, url.port, url.path) == ("http", other, PORTS[other], ""), (
                other, env.internal_url_of(other))
            assert all(s["networks"]["default"]["aliases"] == [other] for s in replicas_of(other).values())


def test_every_replica_reads_the_one_development_issuer_from_one_shared_named_volume(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """As in docker-compose.yml, one auth folder (the development issuer's key and accounts) for every replica of every
    service: without a volume each container's /data was its own (the image's anonymous VOLUME), so each of the twelve
    made its own issuer, a token signed by intake-1 was refused by intake-2 behind the same name and by every other
    service, and `docker compose exec intake-1 jusou staff add` added the account to intake-1 only."""
    data_dir = re.search(r"JUSOU_DATA_DIR=(\S+)", (ROOT / "deploy" / "Dockerfile").read_text(encoding="utf-8"))
    assert data_dir, "the image names its data folder"
    named = set(compose().get("volumes") or {})
    where: dict[str, tuple[str, Path]] = {}
    for service in SERVICES:
        for name, spec in replicas_of(service).items():
            settings_with({"JUSOU_DATA_DIR": data_dir[1], **spec["environment"]}, service, monkeypatch)
            auth_dir = AuthSettings.from_env().folder
            mounts = {}
            for volume in spec.get("volumes", []):
                source, target = ((volume["source"], volume["target"]) if isinstance(volume, dict)
                                  else tuple(volume.split(":")[:2]))
                mounts[Path(target)] = source
            holding = [target for target in mounts if target == auth_dir or target in auth_dir.parents]
            assert holding, f"{name}: its auth folder {auth_dir} is on no volume: {mounts}"
            target = max(holding, key=lambda path: len(path.parts))  # the innermost mount holds it
            assert mounts[target] in named, f"{name}: {target} is not on a named volume: {mounts}"
            where[name] = (mounts[target], auth_dir.relative_to(target))
    assert len(where) == len(SERVICES) * cluster.REPLICAS
    assert len(set(where.values())) == 1, f"the replicas read different auth folders: {where}"


@pytest.mark.parametrize("service", SERVICES)
def test_every_replica_connects_as_its_services_nats_user_with_only_its_password(
    service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = next(iter(nats_services().values()))["environment"]
    others = {HOST_ENV[v] for user, v in NATS_PASSWORDS.items() if user != service}
    for spec in replicas_of(service).values():
        settings = settings_with(spec["environment"], service, monkeypatch)
        assert settings.nats_user == service
        assert settings.nats_password == server[NATS_PASSWORDS[service]] == HOST_ENV[NATS_PASSWORDS[service]]
        assert not others & set(spec["environment"].values()), "a replica got another user's NATS password"


# --- Kubernetes: the overlay, rendered ----------------------------------------------------------

MERGE_KEYS = {"containers": "name", "env": "name", "volumes": "name", "volumeMounts": "mountPath"}


def merge(base: Any, patch: Any, field: str = "") -> Any:
    """A strategic merge patch as kustomize applies it, for the fields the overlay patches."""
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for key, value in patch.items():
            out[key] = merge(base[key], value, key) if key in base else value
        return out
    if isinstance(base, list) and isinstance(patch, list) and field in (*MERGE_KEYS, "ports"):
        def key_of(item: dict[str, Any]) -> Any:
            return item.get(MERGE_KEYS.get(field, "")) if field != "ports" else item.get("containerPort", item.get("port"))

        out_list = list(base)
        for item in patch:
            index = next((i for i, old in enumerate(out_list) if key_of(old) == key_of(item)), None)
            if index is None:
                out_list.append(item)
            else:
                out_list[index] = merge(out_list[index], item, field)
        return out_list
    return patch


def documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]


def kustomize(folder: Path) -> list[dict[str, Any]]:
    config = yaml.safe_load((folder / "kustomization.yaml").read_text(encoding="utf-8"))
    assert set(config) <= {"apiVersion", "kind", "resources", "replicas", "patches"}, sorted(config)
    objects: list[dict[str, Any]] = []
    for resource in config.get("resources", []):
        path = (folder / resource).resolve()
        objects += kustomize(path) if path.is_dir() else documents(path)
    for replicas in config.get("replicas", []):
        [target] = [o for o in objects if o["metadata"]["name"] == replicas["name"] and "replicas" in o.get("spec", {})]
        target["spec"]["replicas"] = replicas["count"]
    for patch in config.get("patches", []):
        for document in documents(folder / patch["path"]):
            [index] = [i for i, o in enumerate(objects) if (o["kind"], o["metadata"]["name"]) ==
                       (document["kind"], document["metadata"]["name"])]
            objects[index] = merge(objects[index], document)
    return objects


@cache
def rendered() -> tuple[dict[str, Any], ...]:
    return tuple(kustomize(OVERLAY))


def objects(kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in rendered() if o["kind"] == kind}


def container(workload: dict[str, Any]) -> dict[str, Any]:
    [only] = workload["spec"]["template"]["spec"]["containers"]
    return dict(only)


def port_number(spec: dict[str, Any], port: int | str) -> int:
    if isinstance(port, int):
        return port
    return int({p.get("name"): p["containerPort"] for p in spec["ports"]}[port])


def secret_keys(spec: dict[str, Any]) -> dict[str, str]:
    """The container's variables taken one by one from the Secret: variable → the Secret's key."""
    found = {}
    for entry in spec.get("env", []):
        ref = (entry.get("valueFrom") or {}).get("secretKeyRef")
        if ref:
            assert ref["name"] == "jusou-secrets" and ref["key"] in HOST_ENV, ref
            found[entry["name"]] = ref["key"]
    return found


def pod_env(name: str) -> dict[str, str]:
    spec = container(objects("Deployment")[name])
    env: dict[str, str] = {}
    for source in spec.get("envFrom", []):
        if "configMapRef" in source:
            env |= {k: str(v) for k, v in objects("ConfigMap")[source["configMapRef"]["name"]]["data"].items()}
        assert "secretRef" not in source, "envFrom the Secret would hand every pod every NATS password"
    env |= {entry["name"]: str(entry["value"]) for entry in spec.get("env", []) if "value" in entry}
    env |= {variable: HOST_ENV[key] for variable, key in secret_keys(spec).items()}  # the real Secret: by hand
    return env


def test_the_rendered_overlay_is_valid_kubernetes(monkeypatch: pytest.MonkeyPatch) -> None:
    import kubernetes_validate
    from kubernetes_validate import utils
    from kubernetes_validate.utils import latest_version

    monkeypatch.setattr(utils, "schema_contents", cache(utils.schema_contents))
    errors = []
    for version in ("1.28", latest_version()):
        for document in rendered():
            try:
                kubernetes_validate.validate(document, version, strict=True)
            except kubernetes_validate.ValidationError as error:
                errors.append(f"{document['kind']}/{document['metadata']['name']} (k8s {version}): {error.message}")
    assert not errors, "\n".join(errors)
    broken = copy.deepcopy(objects("StatefulSet")["nats"])
    broken["spec"]["podManagmentPolicy"] = broken["spec"].pop("podManagementPolicy")  # misspelt: rejected
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, latest_version(), strict=True)


def test_nats_is_a_statefulset_of_three_routing_to_each_pod_by_its_stable_name() -> None:
    nats = objects("StatefulSet")["nats"]
    spec = container(nats)
    args = [str(a) for a in spec["args"]]
    replicas = nats["spec"]["replicas"]
    assert replicas == cluster.NODES and nats["spec"]["podManagementPolicy"] == "Parallel"
    headless = objects("Service")[nats["spec"]["serviceName"]]
    assert headless["spec"]["clusterIP"] == "None" and headless["spec"]["publishNotReadyAddresses"] is True
    cluster_port = urlparse(flag(args, "--cluster")).port
    assert port_number(spec, "cluster") == cluster_port
    assert cluster_port in {port_number(spec, p["targetPort"]) for p in headless["spec"]["ports"]}
    routes = [urlparse(r) for r in flag(args, "--routes").split(",")]
    expected = {f"{nats['metadata']['name']}-{i}.{headless['metadata']['name']}" for i in range(replicas)}
    assert {r.hostname for r in routes} == expected and {r.port for r in routes} == {cluster_port}
    assert flag(args, "--server_name") == "$(POD_NAME)"
    fields = {e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"]
              for e in spec["env"] if "fieldRef" in e.get("valueFrom", {})}
    assert fields == {"POD_NAME": "metadata.name"}
    assert "-js" in args and flag(args, "--cluster_name") == cluster.CLUSTER_NAME


@pytest.mark.parametrize("service", SERVICES)
def test_every_service_runs_two_replicas_that_reach_every_nats_pod(
    service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    deployment = objects("Deployment")[service]
    assert deployment["spec"]["replicas"] == cluster.REPLICAS
    spec = container(deployment)
    for probe, path in (("readinessProbe", READY), ("livenessProbe", ALIVE)):
        assert spec[probe]["httpGet"]["path"] == path and path in served_get_paths(service)
        assert port_number(spec, spec[probe]["httpGet"]["port"]) == PORTS[service]
    env = pod_env(service)
    assert set(env) <= known_settings(), sorted(set(env) - known_settings())
    settings = settings_with(env, service, monkeypatch)
    assert settings.port == PORTS[service] and settings.stream_replicas == cluster.STREAM_REPLICAS
    nats = objects("StatefulSet")["nats"]
    pods = {f"nats-{i}.{nats['spec']['serviceName']}" for i in range(nats["spec"]["replicas"])}
    urls = [urlparse(u) for u in servers(settings.nats_url)]
    assert {u.hostname for u in urls} == pods
    assert {u.port for u in urls} == {port_number(container(nats), "client")} == {NATS_CLIENT_PORT}


def test_disruption_budgets_keep_a_nats_quorum_and_a_replica_of_each_service() -> None:
    budgets = objects("PodDisruptionBudget")
    nats = objects("StatefulSet")["nats"]
    labels = nats["spec"]["template"]["metadata"]["labels"]
    assert budgets["nats"]["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert nats["spec"]["replicas"] - budgets["nats"]["spec"]["maxUnavailable"] > nats["spec"]["replicas"] // 2
    for service in SERVICES:
        deployment = objects("Deployment")[service]
        selector = budgets[service]["spec"]["selector"]["matchLabels"]
        assert selector.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
        assert 0 < budgets[service]["spec"]["minAvailable"] < deployment["spec"]["replicas"]


def test_the_nats_pods_run_with_the_users_of_the_config_map_and_every_nats_password() -> None:
    nats = objects("StatefulSet")["nats"]
    spec = container(nats)
    config = Path(flag([str(a) for a in spec["args"]], "-c", "--config"))
    [mount] = [m for m in spec["volumeMounts"] if m["mountPath"] == str(config.parent)]
    [volume] = [v for v in nats["spec"]["template"]["spec"]["volumes"] if v["name"] == mount["name"]]
    assert mount.get("readOnly") is True and volume["configMap"]["name"] == natsauth.CONFIG_MAP_NAME
    assert objects("ConfigMap")[natsauth.CONFIG_MAP_NAME]["data"] == {
        config.name: natsauth.DEPLOY_CONFIG.read_text(encoding="utf-8")}
    assert secret_keys(spec) == {v: v for v in NATS_PASSWORDS.values()}


@pytest.mark.parametrize("service", SERVICES)
def test_every_service_pod_connects_as_its_own_nats_user_with_only_its_password(
    service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = container(objects("Deployment")[service])
    assert set(secret_keys(spec).values()) & set(NATS_PASSWORDS.values()) == {NATS_PASSWORDS[service]}
    settings = settings_with(pod_env(service), service, monkeypatch)
    assert settings.nats_user == service and settings.nats_password == HOST_ENV[NATS_PASSWORDS[service]]
