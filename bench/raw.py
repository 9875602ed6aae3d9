"""The raw baselines, measured in the same run as the suite's figures.

- NATS: nats-py JetStream publish with ack (one at a time, as the relay does, and pipelined),
  consume with ack from a durable pull consumer (one message per fetch, as the inbox does, and in
  batches), and publish → receive latency at a steady rate through such a consumer;
- the eventsourcing recorder: one stored event per transaction (the store write that every event
  needs at least once), the same through an Application's `save` (AES-GCM + zlib, as the services
  store), and the notification-log scan, on SQLite and on PostgreSQL when it answers;
- the import floor: what a bare Python process costs in RSS and start-up time once it has
  imported the libraries a service is made of.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from uuid import uuid4

from bench.stats import pct, rate, rss_of

PAYLOAD = json.dumps({  # about the size of one integration event's envelope
    "schema_version": 1, "event_id": str(uuid4()), "event_type": "CaseEscalated", "source": "intake",
    "source_position": 12345, "case_id": str(uuid4()), "correlation_id": str(uuid4()),
    "occurred_at": "2026-11-28T10:00:00+00:00",
    "payload": {"reason_code": "multiple", "reason_text": "母の介護と本人のひきこもり、家計の課題が重なる",
                "concerns": ["高齢・介護", "ひきこもり", "家計・債務"], "primary_agency": "地域包括支援センター"},
}, ensure_ascii=False).encode()


# -- NATS ------------------------------------------------------------------------------------------


async def nats_figures(url: str, n: int, seconds: float, latency_seconds: float, latency_rate: float) -> dict[str, Any]:
    """Each throughput figure: up to `n` messages or `seconds`, whichever comes first."""
    import nats
    from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StreamConfig

    nc = await nats.connect(url)
    js = nc.jetstream()
    await js.add_stream(StreamConfig(name="RAW", subjects=["raw.>"], duplicate_window=120.0))

    started = time.perf_counter()
    sent = 0
    while sent < n and time.perf_counter() - started < seconds:
        await js.publish("raw.seq", PAYLOAD, headers={"Nats-Msg-Id": f"seq-{sent}"}, timeout=5)
        sent += 1
    publish_seq = rate(sent, time.perf_counter() - started)
    n = sent  # the pipelined publish and the consumers handle as many

    started = time.perf_counter()
    pending = [await js.publish_async("raw.async", PAYLOAD, headers={"Nats-Msg-Id": f"async-{i}"}) for i in range(n)]
    await asyncio.gather(*pending)
    publish_async = rate(n, time.perf_counter() - started)

    async def consume(name: str, subject: str, batch: int) -> float:
        sub = await js.pull_subscribe(subject, durable=name, config=ConsumerConfig(
            durable_name=name, deliver_policy=DeliverPolicy.ALL, ack_policy=AckPolicy.EXPLICIT,
            max_ack_pending=batch, ack_wait=5))
        got = 0
        began = time.perf_counter()
        while got < n:
            for msg in await sub.fetch(batch, timeout=5):
                await msg.ack()
                got += 1
        seconds = time.perf_counter() - began
        await sub.unsubscribe()
        return rate(got, seconds)

    consume_one = await consume("raw-one", "raw.seq", 1)  # the inbox's shape: one in flight
    consume_batch = await consume("raw-batch", "raw.async", 100)

    # publish → receive → ack, at a steady rate, through a one-in-flight pull consumer
    sub = await js.pull_subscribe("raw.lat", durable="raw-lat", config=ConsumerConfig(
        durable_name="raw-lat", deliver_policy=DeliverPolicy.NEW, ack_policy=AckPolicy.EXPLICIT,
        max_ack_pending=1, ack_wait=5))
    total = max(20, int(latency_seconds * latency_rate))
    latencies: list[float] = []

    async def receive() -> None:
        while len(latencies) < total:
            try:
                msgs = await sub.fetch(1, timeout=2)
            except nats.errors.TimeoutError:
                continue
            for msg in msgs:
                latencies.append(time.perf_counter() - float(msg.headers["Sent"]))
                await msg.ack()

    receiver = asyncio.create_task(receive())
    began = time.perf_counter()
    for i in range(total):
        await asyncio.sleep(max(0.0, began + i / latency_rate - time.perf_counter()))
        await js.publish("raw.lat", PAYLOAD, headers={"Nats-Msg-Id": f"lat-{i}", "Sent": repr(time.perf_counter())})
    await asyncio.wait_for(receiver, timeout=30)
    await js.delete_stream("RAW")
    await nc.close()
    return {
        "publish_ack_msgs_per_s": round(publish_seq),
        "publish_async_msgs_per_s": round(publish_async),
        "consume_ack_one_msgs_per_s": round(consume_one),
        "consume_ack_batch_msgs_per_s": round(consume_batch),
        "latency_rate_msgs_per_s": latency_rate,
        "latency_ms_p50": round(pct(latencies, 0.5) * 1000, 3),
        "latency_ms_p99": round(pct(latencies, 0.99) * 1000, 3),
        "messages": n,
    }


# -- the eventsourcing recorder -----------------------------------------------------------------


RUN = 8  # events per transaction for `insert_runs_events_per_s`


def recorder_figures(env: dict[str, str], n: int, seconds: float) -> dict[str, Any]:
    """Single-event inserts, saves through the mapper (each up to `n` or `seconds`, whichever comes
    first), and the notification-log scan, on one store."""
    from eventsourcing.application import Application
    from eventsourcing.persistence import StoredEvent

    from services.intake.domain import Case
    from shared.kernel.journey import acting

    class Raw(Application):
        name = "rawbench"

    app = Raw(env=env)
    try:
        with acting({"staff_id": "bench", "division": "elderly-support"}):
            sample = Case(case_id=uuid4(), counter="houkatsu", division="elderly-support", channel="窓口",
                          concerns=["高齢・介護"], person_ref=str(uuid4()), primary_agency="地域包括支援センター")
        stored = app.mapper.to_stored_event(sample.collect_events()[0])
        recorder = app.recorder
        started = time.perf_counter()
        inserted = 0
        while inserted < n and time.perf_counter() - started < seconds:
            recorder.insert_events([StoredEvent(originator_id=uuid4(), originator_version=1,
                                                topic=stored.topic, state=stored.state)])
            inserted += 1
        insert = rate(inserted, time.perf_counter() - started)

        # The ceiling of an inbox applying a run of one source's messages in one transaction (issue 19,
        # docs/capacity.md §5): RUN events per commit (a consumer's tracking row would be one more insert).
        started = time.perf_counter()
        in_runs = 0
        while in_runs < n and time.perf_counter() - started < seconds:
            recorder.insert_events([StoredEvent(originator_id=uuid4(), originator_version=1, topic=stored.topic,
                                                state=stored.state) for _ in range(RUN)])
            in_runs += RUN
        runs = rate(in_runs, time.perf_counter() - started)

        saves = 0
        started = time.perf_counter()
        with acting({"staff_id": "bench", "division": "elderly-support"}):
            while saves < n and time.perf_counter() - started < seconds:
                app.save(Case(case_id=uuid4(), counter="houkatsu", division="elderly-support", channel="窓口",
                              concerns=["高齢・介護"], person_ref=str(uuid4()), primary_agency="地域包括支援センター"))
                saves += 1
        save = rate(saves, time.perf_counter() - started)
        missing = n - inserted - in_runs - saves
        while missing > 0:  # the scan reads at least n events; in chunks (one huge psycopg pipeline can stall)
            chunk = min(missing, 500)
            recorder.insert_events([StoredEvent(originator_id=uuid4(), originator_version=1, topic=stored.topic,
                                                state=stored.state) for _ in range(chunk)])
            missing -= chunk

        scanned = 0
        started = time.perf_counter()
        start = 1
        while True:
            batch = recorder.select_notifications(start=start, limit=1000)
            scanned += len(batch)
            if len(batch) < 1000:
                break
            start = batch[-1].id + 1
        scan = rate(scanned, time.perf_counter() - started)
        return {
            "insert_one_event_per_s": round(insert),
            "insert_runs_events_per_s": round(runs),
            "run_events": RUN,
            "save_one_aggregate_per_s": round(save),
            "scan_events_per_s": round(scan),
            "inserted": inserted,
            "saved": saves,
            "scanned": scanned,
            "state_bytes": len(stored.state),
        }
    finally:
        app.close()


def store_env_for(backend: str, folder: Path, cipher_key: str, schema: str) -> dict[str, str]:
    env = {"CIPHER_TOPIC": "eventsourcing.cryptography:AESCipher", "CIPHER_KEY": cipher_key,
           "COMPRESSOR_TOPIC": "eventsourcing.compressor:ZlibCompressor"}
    if backend == "sqlite":
        return env | {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(folder / "raw.sqlite"),
                      "SQLITE_LOCK_TIMEOUT": "10"}
    return env | {"PERSISTENCE_MODULE": "eventsourcing.postgres", "POSTGRES_DBNAME": pg_conninfo()["dbname"],
                  "POSTGRES_HOST": pg_conninfo()["host"], "POSTGRES_PORT": str(pg_conninfo()["port"]),
                  "POSTGRES_USER": pg_conninfo()["user"], "POSTGRES_PASSWORD": pg_conninfo()["password"],
                  "POSTGRES_SCHEMA": schema}


def pg_conninfo() -> dict[str, Any]:
    return {"host": os.environ.get("JUSOU_PG_HOST", "127.0.0.1"), "port": int(os.environ.get("JUSOU_PG_PORT", "5432")),
            "user": os.environ.get("JUSOU_PG_USER", "postgres"), "password": os.environ.get("JUSOU_PG_PASSWORD", ""),
            "dbname": os.environ.get("JUSOU_PG_DBNAME", "test"), "connect_timeout": 3}


def postgres_answers() -> str | None:
    """None when PostgreSQL answers, else why not."""
    try:
        import psycopg

        with psycopg.connect(**pg_conninfo()):
            return None
    except Exception as exc:  # noqa: BLE001 - any failure to connect means "measure without it"
        return f"{type(exc).__name__}: {str(exc).strip()[:120]}"


def recorder_all(n: int, seconds: float, use_pg: bool) -> dict[str, Any]:
    import base64
    import secrets

    key = base64.b64encode(secrets.token_bytes(32)).decode()
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="jusou-bench-raw-") as folder:
        out["disk"] = fsync_figures(Path(folder), n, seconds)
        out["sqlite"] = recorder_figures(store_env_for("sqlite", Path(folder), key, ""), n, seconds)
    why = postgres_answers() if use_pg else "not asked (--no-pg)"
    if why is not None:
        out["postgres"] = {"skipped": why}
        return out
    import psycopg
    from psycopg import sql

    schema = f"bench_raw_{uuid4().hex[:8]}"
    with psycopg.connect(**pg_conninfo(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    try:
        out["postgres"] = recorder_figures(store_env_for("postgres", Path("."), key, schema), n, seconds)
    finally:
        with psycopg.connect(**pg_conninfo(), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
    return out


# -- the disk -----------------------------------------------------------------------------------


def fsync_figures(folder: Path, n: int, seconds: float) -> dict[str, Any]:
    """Write 4 KiB and fsync, up to `n` times or `seconds`: the floor under every durable commit
    (SQLite in WAL mode syncs its log on each commit)."""
    path = folder / "fsync.bin"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    took: list[float] = []
    try:
        began = time.perf_counter()
        while len(took) < n and time.perf_counter() - began < seconds:
            os.write(fd, b"x" * 4096)
            started = time.perf_counter()
            os.fsync(fd)
            took.append(time.perf_counter() - started)
    finally:
        os.close(fd)
        path.unlink()
    return {"fsyncs": len(took), "fsync_ms_p50": round(pct(took, 0.5) * 1000, 3),
            "fsync_ms_p99": round(pct(took, 0.99) * 1000, 3), "fsyncs_per_s": round(rate(len(took), sum(took)))}


# -- the import floor ---------------------------------------------------------------------------

FLOOR = ("import time, sys; t = time.perf_counter(); "
         "import fastapi, uvicorn, pydantic, structlog, nats, faststream.nats, eventsourcing.application, "
         "eventsourcing.sqlite, eventsourcing.cryptography; "
         "print(time.perf_counter() - t, flush=True); sys.stdin.read()")


def import_floor(processes: int = 6) -> dict[str, Any]:
    """Six bare Python processes started at once, importing what a service is made of: their
    start-up time (to all imported) and RSS are the floor under the suite's."""
    began = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, "-c", FLOOR], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True) for _ in range(processes)]
    try:
        for proc in procs:
            assert proc.stdout is not None
            proc.stdout.readline()
        seconds = time.perf_counter() - began
        rss = [rss_of(proc.pid) for proc in procs]
    finally:
        for proc in procs:
            proc.communicate("", timeout=10)
    return {"processes": processes, "seconds_all_imported": round(seconds, 2),
            "rss_mb_each": round(sum(rss) / len(rss), 1), "rss_mb_all": round(sum(rss), 1)}
