"""A PostgreSQL recorder's saves from many threads, committed alone, in groups with one or two transactions in flight
(shared/kernel/group_commit.py), alternating in one process; optionally with CPU-bound threads beside (issue 19).

The suite's bench measures the whole journey, where a loaded machine decides most of the figure (docs/capacity.md
§5.13). This measures the recorder alone: `--savers` threads each saving a new aggregate's `--events` events in a loop
(a command's save, no tracking), for `--seconds` per trial, through the services' own recorder (store_env: AES, zlib,
no NOTIFY, the COMMIT in the insert's pipeline), with `--spinners` threads beside that only burn the GIL (a busy
service's loop and workers). Per trial: saves and events per second, transactions per second (counted by the server:
`xmin`), the save's p50 and p99. Modes: `alone` (the recorder's insert without grouping: JUSOU_PG_GROUP_COMMIT=false),
`1` and `2` (transactions in flight).

    python -m bench.group_commit_slots --rounds 3 --seconds 5 --savers 40 --spinners 2
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import threading
import time
import uuid
from pathlib import Path
from typing import Any

MODES = ("alone", "1", "2")


def recorder_for(prefix: str, grouped: bool) -> tuple[Any, Any]:
    from eventsourcing.persistence import InfrastructureFactory

    from bench.raw import pg_conninfo
    from shared.kernel.store import store_env
    from shared.settings import Settings

    info = pg_conninfo()
    os.environ.update({"JUSOU_STORE": "postgres", "JUSOU_PG_HOST": info["host"], "JUSOU_PG_PORT": str(info["port"]),
                       "JUSOU_PG_USER": info["user"], "JUSOU_PG_PASSWORD": info["password"],
                       "JUSOU_PG_DBNAME": info["dbname"], "JUSOU_PG_SCHEMA_PREFIX": prefix,
                       "JUSOU_PG_GROUP_COMMIT": "true" if grouped else "false",
                       "JUSOU_DATA_DIR": f"/tmp/jusou-bench-slots-{os.getpid()}"})
    factory: Any = InfrastructureFactory.construct(store_env(Settings.from_env("intake")) | {"CREATE_TABLE": "y"})
    return factory, factory.application_recorder()


def trial(counter: Any, recorder: Any, savers: int, events: int, seconds: float, spinners: int) -> dict[str, Any]:
    from eventsourcing.persistence import StoredEvent

    stop = threading.Event()
    times: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def save() -> None:
        mine: list[float] = []
        while not stop.is_set():
            aggregate = uuid.uuid4()
            batch = [StoredEvent(originator_id=aggregate, originator_version=v, topic="bench:Happened",
                                 state=os.urandom(400)) for v in range(1, events + 1)]
            began = time.perf_counter()
            try:
                recorder.insert_events(batch)
            except Exception as error:  # noqa: BLE001  # counted
                with lock:
                    errors.append(type(error).__name__)
                continue
            mine.append(time.perf_counter() - began)
        with lock:
            times.extend(mine)

    def spin() -> None:
        x = 0
        while not stop.is_set():
            for k in range(1000):
                x += k * k

    table = f'"{recorder.datastore.schema}"."{recorder.events_table_name}"'
    start_id = counter.execute(f"SELECT COALESCE(MAX(notification_id), 0) FROM {table}").fetchone()[0]
    threads = [threading.Thread(target=save, daemon=True) for _ in range(savers)]
    threads += [threading.Thread(target=spin, daemon=True) for _ in range(spinners)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join(60)
    took = time.perf_counter() - began
    stored, transactions = counter.execute(f"SELECT count(*), count(DISTINCT xmin::text) FROM {table} "
                                           f"WHERE notification_id > %s", (start_id,)).fetchone()
    ms = sorted(t * 1000 for t in times)
    return {"saves_per_s": round(len(ms) / took, 1), "events_per_s": round(stored / took, 1),
            "tx_per_s": round(transactions / took, 1), "events_per_tx": round(stored / max(transactions, 1), 2),
            "save_ms_p50": round(statistics.median(ms), 1) if ms else None,
            "save_ms_p99": round(ms[int(len(ms) * 0.99)], 1) if ms else None, "errors": len(errors)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.group_commit_slots", description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--savers", type=int, default=40)
    parser.add_argument("--events", type=int, default=2)
    parser.add_argument("--spinners", type=int, default=0)
    parser.add_argument("--modes", default=",".join(MODES))
    args = parser.parse_args(argv)
    import psycopg

    from bench.raw import pg_conninfo
    from shared.kernel.group_commit import group_of

    counter = psycopg.connect(**pg_conninfo(), autocommit=True)  # one connection of its own for the counts
    prefix = f"bench_slots_{os.getpid()}_"
    alone_factory, alone = recorder_for(prefix + "a_", grouped=False)
    grouped_factory, grouped = recorder_for(prefix + "g_", grouped=True)
    modes = [m for m in args.modes.split(",") if m]
    try:
        for round_ in range(args.rounds):
            order = modes if round_ % 2 == 0 else modes[::-1]  # alternating
            for mode in order:
                if mode != "alone":
                    group_of(grouped).slots = int(mode)
                figures = trial(counter, alone if mode == "alone" else grouped, args.savers, args.events, args.seconds,
                                args.spinners)
                load = Path("/proc/loadavg").read_text().split()[0]
                print(json.dumps({"round": round_ + 1, "mode": mode, "load": float(load), **figures}), flush=True)
    finally:
        alone_factory.close()
        grouped_factory.close()
        for schema in (prefix + "a_intake", prefix + "g_intake"):
            counter.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        counter.close()


if __name__ == "__main__":
    main()
