"""docker-compose.yml and deploy/Dockerfile agree with the code.

Everything expected here is derived from the code (`shared.settings.PORTS`, `SETTINGS`,
`Settings.from_env`, the `services` package, pyproject.toml); the deployment files are only
read, never run (there may be no Docker engine). Facts about third-party images are named once
below.
"""

from __future__ import annotations

import base64
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

import pytest
import yaml

from shared.settings import PORTS, SETTINGS, Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"

# Facts about the third-party images, not about this project.
NATS_IMAGE, NATS_CLIENT_PORT = "nats", 4222  # nats-server's default client port (-p changes it)
POSTGRES_IMAGE, POSTGRES_PORT = "postgres", 5432
POSTGRES_DEFAULT_USER = "postgres"  # the image's POSTGRES_USER when unset; POSTGRES_DB defaults to it

# What a user would put in the host environment (compose interpolates it): a valid cipher key.
HOST_ENV = {"JUSOU_CIPHER_KEY": base64.b64encode(bytes(range(32))).decode()}

SERVICES = sorted(PORTS)
HEALTH_PATHS = ("/readyz", "/healthz")
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


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
    assert url.path in HEALTH_PATHS


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


def test_cipher_key_is_required_not_committed() -> None:
    with pytest.raises(MissingVariable, match="JUSOU_CIPHER_KEY"):
        _resolve(raw_compose(), {})  # without it `docker compose` refuses to start


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


def test_dockerfile_is_multi_stage_and_the_final_stage_copies_from_the_builder() -> None:
    assert len(stages()) >= 2
    names = {shlex.split(stage[0].args)[-1].lower() for stage in stages()[:-1] if " as " in stage[0].args.lower()}
    copies_from = {
        re.match(r"--from=(\S+)", i.args).group(1).lower()  # type: ignore[union-attr]
        for i in final_stage()
        if i.keyword == "COPY" and i.args.startswith("--from=")
    }
    assert copies_from & names, "the final stage should copy the built environment from an earlier stage"


def test_dockerfile_runs_as_a_non_root_user() -> None:
    user = last(final_stage(), "USER")
    assert user is not None, "no USER: the container would run as root"
    assert user.args.split(":")[0] not in ("root", "0")


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
    for local in (".git", ".venv", "data", "test-artifacts", "shared/__pycache__/settings.cpython-311.pyc"):
        assert dockerignored(local, lines), f"{local} would be sent to the Docker daemon"
    for source in copy_sources():
        root = build_context() / source
        files = [root] if root.is_file() else [p for p in root.rglob("*") if p.is_file()]
        files = [file for file in files if "__pycache__" not in file.parts]  # caches are meant to stay out
        for file in files:
            relative = file.relative_to(build_context()).as_posix()
            assert not dockerignored(relative, lines), f"{relative} is needed by the image but ignored"
