"""`python -m bench.partitions`: partitioned scale-out with a slow handler, 1 vs 2 vs 4 replicas on P = 8 (issue 19).

A stand-in service (`SlowProbe`, the shared classes: `ServiceApplication`, `@handles`, the partitioned inbox of
shared/messaging/partitions.py) applies intake's `ConsentRecorded`, sleeping `--slow-ms` in its handler, on one
SQLite store shared by its replicas, each replica a process of its own (`python -m bench.partitions replica`).
Per replica count: a fresh nats-server and store; the replicas started and their leases balanced (each holding
about P/n partitions); then `--events` events of `--cases` cases published at once (interleaved, so the source's
order is not any case's); events per second from the publish to the last one applied; every case's events
checked applied once each, in order. Then, with a handler that does not sleep, one replica on P = 1 against
P = 8 (the same classes): the cost of the P deliveries per event that unchanged subjects need, as the replica's
CPU per event. The machine is shared: the ratios are the result (docs/capacity.md §6).

    .venv/bin/python -m bench.partitions [--events 480] [--slow-ms 20] [--replicas 1,2,4] [--partitions 8]
                                         [--store sqlite|postgres] [--rounds 3] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import math
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

ROOT = Path(__file__).resolve().parents[1]
for extra in (str(ROOT / "tests"), str(ROOT)):
    if extra not in sys.path:
        sys.path.insert(0, extra)

from eventsourcing.application import AggregateNotFoundError, ProcessingEvent
from eventsourcing.domain import Aggregate, event

from shared.contract.events import Actor, ConsentRecordedV1, Envelope, envelope_json
from shared.kernel.app import ServiceApplication, handles

SERVICE = "probe"


class Trail(Aggregate):
    """The events of one case as the replicas applied them: their positions in order, and which replica."""

    @staticmethod
    def create_id(case_id: UUID, **_: Any) -> UUID:
        return case_id

    @event("Started")
    def __init__(self, case_id: UUID) -> None:
        self.positions: list[int] = []
        self.replicas: list[str] = []

    @event("Noted")
    def note(self, position: int, replica: str) -> None:
        self.positions.append(position)
        self.replicas.append(replica)


class SlowProbe(ServiceApplication):
    """A stand-in service: one `Trail` per case, noting each `ConsentRecorded` from intake, `slow_seconds` per event."""

    name = "probe"
    service = SERVICE
    slow_seconds = 0.0
    replica = ""

    @handles(ConsentRecordedV1)
    def _consented(self, envelope: Envelope, payload: ConsentRecordedV1, processing: ProcessingEvent[UUID]) -> None:
        if self.slow_seconds:
            time.sleep(self.slow_seconds)
        try:
            trail: Trail = self.repository.get(envelope.case_id)
        except AggregateNotFoundError:
            trail = Trail(case_id=envelope.case_id)
        trail.note(position=envelope.source_position, replica=self.replica)
        processing.collect_events(trail)


def probe_env(data_dir: Path, schema: str = "") -> dict[str, str]:
    """The store every replica shares, without a read-model thread: SQLite in `data_dir`, or with `schema` that
    PostgreSQL schema of the bench's database (bench/raw.py `pg_conninfo`: 127.0.0.1:5432, database `test`)."""
    if schema:
        from bench.raw import pg_conninfo

        info = pg_conninfo()
        return {"PERSISTENCE_MODULE": "eventsourcing.postgres", "POSTGRES_DBNAME": info["dbname"],
                "POSTGRES_HOST": info["host"], "POSTGRES_PORT": str(info["port"]), "POSTGRES_USER": info["user"],
                "POSTGRES_PASSWORD": info["password"], "POSTGRES_SCHEMA": schema, "POSTGRES_LOCK_TIMEOUT": "10",
                "POSTGRES_POOL_SIZE": "2", "JUSOU_READMODELS_FOLLOW": "0"}
    data_dir.mkdir(parents=True, exist_ok=True)
    return {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(data_dir / "probe.sqlite"),
            "SQLITE_LOCK_TIMEOUT": "10", "JUSOU_READMODELS_FOLLOW": "0"}


def pg_schema(schema: str, drop: bool = False) -> None:
    import psycopg
    from psycopg import sql

    from bench.raw import pg_conninfo

    with psycopg.connect(**pg_conninfo(), autocommit=True) as conn:
        statement = "DROP SCHEMA IF EXISTS {} CASCADE" if drop else "CREATE SCHEMA IF NOT EXISTS {}"
        conn.execute(sql.SQL(statement).format(sql.Identifier(schema)))


def open_probe(data_dir: Path, slow_seconds: float = 0.0, replica: str = "", schema: str = "") -> SlowProbe:
    if schema:  # replicas starting together: one at a time makes (or finds) the tables, as shared/kernel/store.py `creating`
        import psycopg

        from bench.raw import pg_conninfo

        with psycopg.connect(**pg_conninfo(), autocommit=True) as conn:
            conn.execute("SELECT pg_advisory_lock(hashtext(%s))", (f"jusou-create:{schema}",))
            app = SlowProbe(env=probe_env(data_dir, schema))
    else:
        app = SlowProbe(env=probe_env(data_dir, schema))
    app.slow_seconds, app.replica = slow_seconds, replica
    return app


def consents(cases: list[UUID], per_case: int, first_position: int = 1) -> list[Envelope]:
    """`per_case` ConsentRecorded of each case, interleaved (round by round), positions rising from `first_position`."""
    found = []
    position = first_position
    for round_ in range(per_case):
        for case_id in cases:
            found.append(Envelope(
                event_id=uuid4(), event_type="ConsentRecorded", schema_version=1, source="intake",
                source_position=position, case_id=case_id, occurred_at=datetime.now(UTC), correlation_id=case_id,
                causation_id=None, actor=Actor(staff_id="s-001", division="elderly-support"),
                payload={"scope": "重層的支援会議での情報共有", "granted": round_ % 2 == 0, "method": "書面"}))
            position += 1
    return found


async def publish(nc: Any, envelopes: list[Envelope]) -> None:
    """Put the envelopes on the stream in order, as intake's relay would (Nats-Msg-Id = event_id)."""
    js = nc.jetstream()
    for envelope in envelopes:
        await js.publish_async(envelope.subject, envelope_json(envelope), headers={"Nats-Msg-Id": str(envelope.event_id)})
    await js.publish_async_completed()


def trails(app: SlowProbe, cases: list[UUID]) -> dict[UUID, Trail]:
    found: dict[UUID, Trail] = {}
    for case_id in cases:
        with contextlib.suppress(AggregateNotFoundError):
            found[case_id] = app.repository.get(case_id)
    return found


def applied_count(app: SlowProbe) -> int:
    """Events the replicas recorded (a `Started` per case and a `Noted` per event applied)."""
    return int(app.recorder.max_notification_id() or 0)


def check(app: SlowProbe, envelopes: list[Envelope]) -> list[str]:
    """What is wrong with what the replicas applied: an event missing, applied twice, or a case's events out of order."""
    expected: dict[UUID, list[int]] = {}
    for envelope in envelopes:
        expected.setdefault(envelope.case_id, []).append(envelope.source_position)
    found = trails(app, list(expected))
    return [f"case {case_id}: applied {found[case_id].positions if case_id in found else []}, expected {positions}"
            for case_id, positions in expected.items()
            if case_id not in found or found[case_id].positions != positions]


# --- one replica: a process of its own -------------------------------------------------------------------


async def replica_main(args: argparse.Namespace) -> None:
    """Run one replica until SIGTERM; print what it did as one JSON line."""
    import structlog
    from faststream.nats import NatsBroker

    from shared.messaging.bus import connect
    from shared.messaging.natsauth import broker_credentials
    from shared.messaging.partitions import PartitionedInbox, replica_id

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    me = args.name or replica_id()
    app = open_probe(Path(args.data), args.slow_ms / 1000, me, args.schema)
    broker = NatsBroker(args.nats, logger=None, **broker_credentials(args.user, args.password))
    inbox = PartitionedInbox(app, broker, max_deliver=3, partitions=args.partitions, lease_seconds=args.lease, me=me)
    await broker.start()
    nc = await connect(args.nats, f"probe-{me}", args.user, args.password)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    cpu = time.process_time()
    task = asyncio.create_task(inbox.run(nc))
    await stop.wait()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    cpu = time.process_time() - cpu
    await broker.stop()
    await nc.close()
    app.close()
    print(json.dumps({"replica": me, "applied": inbox.applied, "duplicates": inbox.duplicates, "skipped": inbox.skipped,
                      "cpu_seconds": round(cpu, 3), "problems": inbox.problems()}), flush=True)


def start_replica(nats_url: str, data_dir: Path, partitions: int, lease: float, slow_ms: float, name: str,
                  user: str | None = None, password: str | None = None, schema: str = "") -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "bench.partitions", "replica", "--nats", nats_url, "--data", str(data_dir),
               "--partitions", str(partitions), "--lease", str(lease), "--slow-ms", str(slow_ms), "--name", name,
               "--schema", schema]
    if user:
        command += ["--user", user, "--password", password or ""]
    return subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'tests'}"})


def stop_replica(process: subprocess.Popen[str]) -> dict[str, Any]:
    """SIGTERM, then its report (its partitions released on the way out)."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        out, _ = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        out, _ = process.communicate()
    lines = [line for line in out.splitlines() if line.startswith("{")]
    return json.loads(lines[-1]) if lines else {}


async def owners(nc: Any, partitions: int) -> dict[int, str]:
    """Partition → the replica holding its lease now."""
    from nats.js.errors import BucketNotFoundError, KeyNotFoundError

    from shared.messaging.partitions import bucket_name

    try:
        kv = await nc.jetstream().key_value(bucket_name(SERVICE))
    except BucketNotFoundError:
        return {}
    found = {}
    for k in range(partitions):
        with contextlib.suppress(KeyNotFoundError):
            found[k] = bytes((await kv.get(f"p{k}")).value or b"").decode()
    return found


async def balanced(nc: Any, partitions: int, replicas: int) -> dict[int, str] | None:
    """The owners, once every partition is held, by `replicas` replicas, none above ceil(P/n), and its consumers made."""
    from shared.contract.events import STREAM
    from shared.messaging.partitions import consumer_name

    held = await owners(nc, partitions)
    counts: dict[str, int] = {}
    for owner in held.values():
        counts[owner] = counts.get(owner, 0) + 1
    if len(held) < partitions or len(counts) != replicas or max(counts.values()) > math.ceil(partitions / replicas):
        return None
    js = nc.jetstream()
    for k in range(partitions):
        try:
            await js.consumer_info(STREAM, consumer_name(SERVICE, "intake", k))
        except Exception:  # noqa: BLE001 - not made yet
            return None
    return held


@contextlib.contextmanager
def nats_and_folder() -> Iterator[tuple[str, Path]]:
    from support.servers import local_nats

    with tempfile.TemporaryDirectory(prefix="jusou-partitions-") as folder, local_nats(Path(folder) / "nats") as nats:
        yield nats.url, Path(folder)


async def wait_for(probe: Any, what: str, seconds: float) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = await probe()
        if found:
            return found
        await asyncio.sleep(0.05)
    raise SystemExit(f"bench: no {what} after {seconds} s")


async def one_round(replicas: int, partitions: int, events: int, cases: int, slow_ms: float, lease: float,
                    store: str) -> dict[str, Any]:
    """n replicas on P partitions draining `events` published at once: events/s, and what each replica did."""
    import nats as nats_py

    from shared.messaging.bus import ensure_streams

    schema = f"bench_partitions_{os.getpid()}_{uuid4().hex[:8]}" if store == "postgres" else ""
    if schema:
        pg_schema(schema)
    with nats_and_folder() as (url, folder):
        nc = await nats_py.connect(url)
        await ensure_streams(nc)
        data = folder / "data"
        reader = open_probe(data, schema=schema)  # tables made before the replicas start
        processes = [start_replica(url, data, partitions, lease, slow_ms, f"r{i}", schema=schema) for i in range(replicas)]
        try:
            await wait_for(lambda: balanced(nc, partitions, replicas), "balanced leases", 90)
            case_ids = [uuid4() for _ in range(cases)]
            envelopes = consents(case_ids, math.ceil(events / cases))[:events]
            expected = len({e.case_id for e in envelopes}) + len(envelopes)
            began = time.perf_counter()
            await publish(nc, envelopes)
            await wait_for(lambda: asyncio.sleep(0, applied_count(reader) >= expected), "events applied", 600)
            seconds = time.perf_counter() - began
            problems = check(reader, envelopes)
        finally:
            reports = [stop_replica(p) for p in processes]
            reader.close()
            await nc.close()
            if schema:
                pg_schema(schema, drop=True)
    applied = sum(r.get("applied", 0) for r in reports)
    return {"replicas": replicas, "partitions": partitions, "events": len(envelopes), "seconds": round(seconds, 3),
            "events_per_s": round(len(envelopes) / seconds, 1), "problems": problems,
            "cpu_ms_per_event": round(1000 * sum(r.get("cpu_seconds", 0) for r in reports) / max(applied, 1), 3),
            "skipped": sum(r.get("skipped", 0) for r in reports), "per_replica": reports}


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    """`--rounds` rounds, each 1 vs 2 vs 4 replicas back to back, then the delivery cost (P = 1 against P); medians."""
    counts = [int(n) for n in args.replicas.split(",")]
    load_before = os.getloadavg()
    rounds: list[dict[str, Any]] = []
    for _ in range(args.rounds):
        scale = [await one_round(n, args.partitions, args.events, args.cases, args.slow_ms, args.lease, args.store)
                 for n in counts]
        cost = [await one_round(1, p, args.events, args.cases, 0.0, args.lease, args.store) for p in (1, args.partitions)]
        rounds.append({"scale": scale, "deliveries": cost})
    scale_rows = []
    for i, n in enumerate(counts):
        rates = [r["scale"][i]["events_per_s"] for r in rounds]
        ratios = [r["scale"][i]["events_per_s"] / r["scale"][0]["events_per_s"] for r in rounds]
        scale_rows.append({"replicas": n, "partitions": args.partitions, "events": args.events,
                           "events_per_s": statistics.median(rates), "events_per_s_all": rates,
                           "ratio": round(statistics.median(ratios), 2), "ratios_all": [round(x, 2) for x in ratios],
                           "cpu_ms_per_event": statistics.median(r["scale"][i]["cpu_ms_per_event"] for r in rounds),
                           "problems": [p for r in rounds for p in r["scale"][i]["problems"]]})
    cost_rows = [{"partitions": p, "events_per_s": statistics.median(r["deliveries"][k]["events_per_s"] for r in rounds),
                  "cpu_ms_per_event": statistics.median(r["deliveries"][k]["cpu_ms_per_event"] for r in rounds),
                  "extra_all": [round(r["deliveries"][1]["cpu_ms_per_event"] - r["deliveries"][0]["cpu_ms_per_event"], 3)
                                for r in rounds]}
                 for k, p in enumerate((1, args.partitions))]
    return {"load_before": [round(x, 1) for x in load_before], "load_after": [round(x, 1) for x in os.getloadavg()],
            "store": args.store, "slow_ms": args.slow_ms, "rounds": args.rounds, "scale": scale_rows,
            "deliveries": cost_rows, "each_round": rounds}


def show(result: dict[str, Any]) -> None:
    print(f"{result['store']}; load average {result['load_before']} → {result['load_after']}; handler "
          f"{result['slow_ms']} ms per event; medians of {result['rounds']} rounds")
    print(f"{'replicas':>8} {'P':>3} {'events':>6} {'events/s':>9} {'ratio':>6} {'CPU ms/ev':>9}  ratio each round, problems")
    for row in result["scale"]:
        print(f"{row['replicas']:>8} {row['partitions']:>3} {row['events']:>6} {row['events_per_s']:>9} "
              f"{row['ratio']:>6} {row['cpu_ms_per_event']:>9}  {row['ratios_all']}, {len(row['problems'])}")
    one, many = result["deliveries"]
    extra = statistics.median(many["extra_all"])
    print(f"P deliveries per event, handler not slowed, 1 replica: P=1 {one['events_per_s']} ev/s, "
          f"{one['cpu_ms_per_event']} ms CPU/ev; P={many['partitions']} {many['events_per_s']} ev/s, "
          f"{many['cpu_ms_per_event']} ms CPU/ev; {extra:.3f} ms more per event (each round {many['extra_all']}), "
          f"{1000 * extra / (many['partitions'] - 1):.0f} µs per delivery acked unread")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command")
    one = sub.add_parser("replica", help="one replica of the stand-in service (started by the bench and the tests)")
    one.add_argument("--nats", required=True)
    one.add_argument("--data", required=True)
    one.add_argument("--partitions", type=int, default=8)
    one.add_argument("--lease", type=float, default=2.0)
    one.add_argument("--slow-ms", type=float, default=0.0)
    one.add_argument("--name", default="")
    one.add_argument("--user")
    one.add_argument("--password")
    one.add_argument("--schema", default="", help="the PostgreSQL schema of the shared store (none: SQLite in --data)")
    parser.add_argument("--events", type=int, default=480)
    parser.add_argument("--cases", type=int, default=96)
    parser.add_argument("--slow-ms", type=float, default=20.0)
    parser.add_argument("--replicas", default="1,2,4")
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--lease", type=float, default=2.0, help="lease seconds (short: the bench balances quickly)")
    parser.add_argument("--store", choices=("sqlite", "postgres"), default="sqlite",
                        help="the replicas' shared store: a SQLite file, or PostgreSQL (127.0.0.1:5432, database `test`)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.command == "replica":
        asyncio.run(replica_main(args))
        return
    result = asyncio.run(bench(args))
    if args.json:
        print(json.dumps(result, indent=2, ensure_ascii=False))
    show(result)


if __name__ == "__main__":
    # As `bench.partitions`, not `__main__`: the stored topic of `Trail` is then the same in every process.
    from bench.partitions import main as main_of_module

    main_of_module()
