"""The system under faults: a real nats-server the harness owns, the delay proxy and the six services.

The services reach NATS through `DelayProxy`; the harness talks to nats-server directly. nats-server
is killed and started again on the same port and store directory; a service is killed with SIGKILL
and started again by `jusou.runner.Suite`. The stores are read straight from SQLite or PostgreSQL
(positions and tracking records only: events are encrypted, the in-process applications decode them).

Partitioned (`partitions` = P > 1, docs/capacity.md §6): every service that may be partitioned runs twice
(`intake` and `intake-2`, one store each service, shared by its replicas) with `JUSOU_PARTITIONS=P`, and the two
that need each source's order (collaboration, community: `NEEDS_SOURCE_ORDER`) run once, unpartitioned. The
processes are named `<service>` (replica 1) and `<service>-<r>`; links between services go to replica 1.
"""

from __future__ import annotations

import glob
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nats
from nats.aio.client import Client
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from support.servers import Postgres, PrivatePostgres, free_port, wait_for_port

from faults.proxy import DelayProxy
from jusou.runner import Suite, create_streams, nats_server_binary, run_async, service_package
from shared.kernel.app import RELAY_TRACKING
from shared.messaging.partitions import NEEDS_SOURCE_ORDER

#: The harness's JetStream API calls wait this long: nats-server answers them slowly under the load.
API_TIMEOUT_S = 30.0
SERVICES = ("intake", "collaboration", "meeting", "outreach", "participation", "community")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
#: the services that may run partitioned by case (the others stop with status 2 when JUSOU_PARTITIONS > 1)
PARTITIONABLE = tuple(s for s in SERVICES if s not in NEEDS_SOURCE_ORDER)


def replica_name(service: str, replica: int) -> str:
    """The process name of a service's replica (1, 2, …): `intake`, `intake-2`."""
    return service if replica == 1 else f"{service}-{replica}"


def service_of(process: str) -> str:
    return process.split("-", 1)[0]  # service names have no dash


class Replicas(Suite):
    """`Suite` with `replicas` processes of each partitionable service, `JUSOU_PARTITIONS=partitions` in those, unset
    (1) in the others. Replica 1 of every service starts first (it makes the stores' tables), then the others."""

    def __init__(self, data_dir: Path, *, nats_url: str, partitions: int, replicas: int, extra_env: dict[str, str]) -> None:
        self.partitions = partitions
        self.replica_names = [replica_name(s, r) for r in range(2, replicas + 1) for s in PARTITIONABLE]
        ports = {name: free_port() for name in [*SERVICES, *self.replica_names]}
        super().__init__(data_dir, nats_url=nats_url, ports=ports, services=SERVICES, extra_env=extra_env)

    @property
    def names(self) -> list[str]:
        return [*self.services, *self.replica_names]

    def start(self) -> None:
        super().start()
        try:
            for name in self.replica_names:
                self._spawn(name)
            self._wait_ready(tuple(self.replica_names))
        except BaseException:
            self.stop()
            raise

    def service_env(self) -> dict[str, str]:
        env = super().service_env()
        for name in self.replica_names:  # `JUSOU_<SERVICE>_PORT` is replica 1's: links go there
            env.pop(f"JUSOU_{name.upper()}_PORT", None)
        return env

    def _spawn(self, name: str) -> None:
        running = self.processes.get(name)
        if running is not None and running.poll() is None:
            raise RuntimeError(f"{name} is already running (pid {running.pid})")
        service = service_of(name)
        env = self.service_env()
        env[f"JUSOU_{service.upper()}_PORT"] = str(self.ports[name])
        env["JUSOU_PARTITIONS"] = str(self.partitions if service in PARTITIONABLE else 1)
        self.processes[name] = self._popen(name, [sys.executable, "-m", service_package(service)], env)


@dataclass(frozen=True)
class Store:
    """Where the services keep their events: SQLite files under the data folder, or PostgreSQL schemas."""

    kind: str  # "sqlite" or "postgres"
    data_dir: Path
    pg: Postgres | None = None
    prefix: str = ""

    def env(self) -> dict[str, str]:
        if self.kind == "sqlite":
            return {"JUSOU_STORE": "sqlite"}
        assert self.pg is not None
        return self.pg.env(self.prefix)

    @contextmanager
    def _pg(self) -> Iterator[Any]:
        import psycopg

        assert self.pg is not None
        with psycopg.connect(host=self.pg.host, port=self.pg.port, user=self.pg.user, password=self.pg.password,
                             dbname=self.pg.dbname, autocommit=True, connect_timeout=5) as conn:
            yield conn

    def positions(self, service: str) -> dict[str, int]:
        """The store's head and every tracking record (the relay's and one per upstream source)."""
        if self.kind == "sqlite":
            path = self.data_dir / f"{service}.sqlite"
            with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10) as db:
                head = db.execute("SELECT MAX(rowid) FROM stored_events").fetchone()[0] or 0
                tracking = dict(db.execute("SELECT application_name, MAX(notification_id) FROM tracking GROUP BY 1"))
        else:
            schema = f"{self.prefix}{service}"
            with self._pg() as conn:
                head = conn.execute(f'SELECT MAX(notification_id) FROM "{schema}"."{service}_events"').fetchone()[0] or 0
                tracking = dict(conn.execute(
                    f'SELECT application_name, MAX(notification_id) FROM "{schema}"."{service}_tracking" GROUP BY 1'
                ).fetchall())
        return {"head": head, **{str(k): int(v) for k, v in tracking.items()}}

    def terminate_connections(self) -> tuple[int, int]:
        """pg_terminate_backend on every connection of these services; (killed, of which mid-transaction).

        Only this run's connections are touched: their last query names this run's schema prefix.
        """
        import psycopg

        killed = busy = 0
        try:
            with self._pg() as conn:
                rows = conn.execute(
                    "SELECT pid, state FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND datname = %s "
                    "AND query LIKE %s", (self.pg.dbname if self.pg else "", f'%"{self.prefix}%'),
                ).fetchall()
                for pid, state in rows:
                    if conn.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone()[0]:
                        killed += 1
                        busy += state in ("active", "idle in transaction", "idle in transaction (aborted)")
        except psycopg.OperationalError:
            pass  # the server is down (a crash and restart is under way): nothing to kill this round
        return killed, busy

    def crash_and_restart(self, down_s: float) -> None:
        if not isinstance(self.pg, PrivatePostgres):
            raise AssertionError("only a private PostgreSQL server may be crashed (others share the machine's)")  # noqa: TRY004 - a test's guard
        self.pg.crash_and_restart(down_s)

    def drop(self) -> None:
        if self.kind != "postgres":
            return
        with self._pg() as conn:
            for (schema,) in conn.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE %s",
                                          (self.prefix + "%",)).fetchall():
                conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (and its reaped children) from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15]) / CLOCK_TICKS


class World:
    """nats-server + proxy + the suite, with the controls the faults need."""

    def __init__(self, root: Path, store: Store, partitions: int = 1, replicas: int = 2) -> None:
        self.root = root
        self.store = store
        self.partitions = partitions
        self.nats_port = free_port()
        self.nats_dir = root / "nats"
        self.proxy = DelayProxy(free_port(), self.nats_port)
        self.nats: subprocess.Popen[bytes] | None = None
        self.suite: Suite = Replicas(store.data_dir, nats_url=self.proxy.url, partitions=partitions, replicas=replicas,
                                     extra_env=store.env()) if partitions > 1 else \
            Suite(store.data_dir, nats_url=self.proxy.url, ports={s: free_port() for s in SERVICES}, extra_env=store.env())

    @property
    def nats_url(self) -> str:
        return f"nats://127.0.0.1:{self.nats_port}"

    @property
    def mode(self) -> str:
        """`sqlite`, `postgres`, `sqlite-partitioned`…: the name of the run's artifacts."""
        return self.store.kind + ("-partitioned" if self.partitions > 1 else "")

    @property
    def processes(self) -> list[str]:
        """Every service process: `intake`, …, then the further replicas (`intake-2`, …)."""
        return self.suite.names if isinstance(self.suite, Replicas) else list(SERVICES)

    def replicas_of(self, service: str) -> list[str]:
        return [p for p in self.processes if service_of(p) == service]

    def partitioned(self, service: str) -> bool:
        return self.partitions > 1 and service in PARTITIONABLE

    def urls(self) -> dict[str, list[str]]:
        """Each service's processes' URLs, replica 1 first."""
        return {s: [self.suite.url(p) for p in self.replicas_of(s)] for s in SERVICES}

    def start(self) -> None:
        self.start_nats()
        self.proxy.start()
        self.suite.start()

    def stop(self) -> None:
        """Idempotent: the services, the proxy, nats-server."""
        try:
            self.suite.stop()
        finally:
            self.proxy.stop()
            self.kill_nats(signal.SIGTERM)

    def start_nats(self) -> None:
        self.nats_dir.mkdir(parents=True, exist_ok=True)
        log = (self.root / "nats.log").open("ab")
        self.nats = subprocess.Popen(
            [nats_server_binary(), "-a", "127.0.0.1", "-p", str(self.nats_port), "-js", "-sd", str(self.nats_dir)],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        log.close()
        wait_for_port("127.0.0.1", self.nats_port)
        run_async(create_streams(self.nats_url))

    def kill_nats(self, signum: int = signal.SIGKILL) -> None:
        if self.nats is None:
            return
        process, self.nats = self.nats, None
        process.send_signal(signum)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def lose_stream_tail(self, fraction: float = 0.0, nbytes: int = 0) -> int:
        """With nats-server stopped: cut the end off the stream's last block (`fraction` of it, or
        `nbytes`), as a power cut does to writes it acknowledged but had not synced. Returns the
        bytes dropped."""
        assert self.nats is None, "stop nats-server first"
        stream = self.nats_dir / "jetstream" / "$G" / "streams" / "JUSOU" / "msgs"
        blocks = sorted(glob.glob(str(stream / "*.blk")), key=lambda p: int(Path(p).stem))
        if not blocks:
            return 0
        last = blocks[-1]
        size = os.path.getsize(last)
        drop = min(size, nbytes or int(size * fraction))
        os.truncate(last, size - drop)
        for index in glob.glob(str(stream / "index.db")):
            os.remove(index)  # the stream state snapshot would otherwise describe the lost messages
        return drop

    def service_pids(self) -> dict[str, int]:
        return {name: p.pid for name, p in self.suite.processes.items() if p.poll() is None}

    async def connect(self) -> Client:
        async def quiet(_: Exception) -> None:  # the harness breaks NATS on purpose
            return None

        return await nats.connect(self.nats_url, name="faults-harness", max_reconnect_attempts=-1,
                                  reconnect_time_wait=0.5, error_cb=quiet)


@dataclass(frozen=True)
class StreamMsg:
    seq: int
    subject: str
    data: bytes
    msg_id: str


async def read_stream(nc: Client, stream: str, subjects: str, first: int, last: int) -> list[StreamMsg]:
    """Messages `first`..`last` of a stream, through one ephemeral consumer (one API call, not one per
    message: nats-server answers API calls slowly while the suite keeps it busy)."""
    if last < first:
        return []
    js = nc.jetstream(timeout=API_TIMEOUT_S)
    sub = await js.pull_subscribe(subjects, stream=stream, config=ConsumerConfig(
        deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=first, ack_policy=AckPolicy.NONE,
        inactive_threshold=30.0, max_waiting=1))
    found: list[StreamMsg] = []
    try:
        while not found or found[-1].seq < last:
            try:
                batch = await sub.fetch(512, timeout=2)
            except nats.errors.TimeoutError:
                break  # nothing more: the rest was deleted or never written
            for msg in batch:
                seq = msg.metadata.sequence.stream
                if seq <= last:
                    found.append(StreamMsg(seq, msg.subject, msg.data, (msg.headers or {}).get("Nats-Msg-Id", "")))
    finally:
        with suppress(Exception):
            await sub.unsubscribe()
    return found


RELAY = RELAY_TRACKING
