"""`python -m bench.locked_insert`: a command's PostgreSQL save pipelined (BEGIN, SET LOCAL, LOCK TABLE, INSERT,
COMMIT, each flushed as executed) against one statement that locks, inserts and commits in the server
(shared/kernel/locked_insert.py), alternating in one process (issue 19).

Both through the services' own recorder (store_env: AES, zlib, no NOTIFY, grouped commits); the pipelined mode is the
same recorder with its one-statement function switched off. `--savers` threads each save a new aggregate's `--events`
events in a loop for `--seconds` a trial, with `--spinners` GIL-burning threads beside (a busy service's loop and
workers). Per trial: saves and events per second, the save's p50 and p99, the server's transactions (`xmin`), and
CPU per save: this process's (only without spinners) and the PostgreSQL server's: every process of the cluster whose
postmaster's pid is given (`--postmaster`, read from its postmaster.pid: use a cluster of your own, nobody else's
backends in it), from /proc.

    JUSOU_PG_PORT=5499 python -m bench.locked_insert --postmaster $(head -1 /tmp/ha/pg/data/postmaster.pid)

`--callgrind N`: instead, this process's instructions per save (valgrind's callgrind, counted over N serial saves of
each mode after N warm-up saves, each mode in a process of its own under valgrind: repeatable whatever the load).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

TICK = 1 / os.sysconf("SC_CLK_TCK")


def server_cpu(postmaster: int) -> float:
    """CPU seconds (user + system) of the postmaster's children alive now, and its own."""
    total = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(entry) == postmaster or int(fields[1]) == postmaster:
            total += (int(fields[11]) + int(fields[12])) * TICK
    return total


def trial(counter: Any, recorder: Any, args: argparse.Namespace) -> dict[str, Any]:
    from eventsourcing.persistence import StoredEvent

    stop = threading.Event()
    times: list[float] = []
    lock = threading.Lock()
    errors: list[str] = []

    def save() -> None:
        mine: list[float] = []
        while not stop.is_set():
            aggregate = uuid.uuid4()
            batch = [StoredEvent(originator_id=aggregate, originator_version=v, topic="bench:Happened",
                                 state=os.urandom(400)) for v in range(1, args.events + 1)]
            began = time.perf_counter()
            try:
                recorder.insert_events(batch, **tracked(args.tracking))
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
    threads = [threading.Thread(target=save, daemon=True) for _ in range(args.savers)]
    threads += [threading.Thread(target=spin, daemon=True) for _ in range(args.spinners)]
    cpu0, server0, began = time.process_time(), server_cpu(args.postmaster), time.perf_counter()
    for thread in threads:
        thread.start()
    time.sleep(args.seconds)
    stop.set()
    for thread in threads:
        thread.join(60)
    took = time.perf_counter() - began
    cpu, server = time.process_time() - cpu0, server_cpu(args.postmaster) - server0
    stored, transactions = counter.execute(f"SELECT count(*), count(DISTINCT xmin::text) FROM {table} "
                                           f"WHERE notification_id > %s", (start_id,)).fetchone()
    ms = sorted(t * 1000 for t in times)
    saves = max(1, len(ms))
    return {"saves_per_s": round(len(ms) / took, 1), "events_per_s": round(stored / took, 1),
            "tx_per_s": round(transactions / took, 1), "save_ms_p50": round(statistics.median(ms), 2) if ms else None,
            "save_ms_p99": round(ms[int(len(ms) * 0.99)], 2) if ms else None,
            "client_cpu_us_per_save": round(1e6 * cpu / saves) if not args.spinners else None,
            "server_cpu_us_per_save": round(1e6 * server / saves), "errors": len(errors)}


_POSITION = iter(range(1, 1 << 62))
_POSITION_LOCK = threading.Lock()


def tracked(tracking: bool) -> dict[str, Any]:
    """A delivery's keyword (`tracking`, the next position of one upstream) under `--tracking`, else none."""
    if not tracking:
        return {}
    from eventsourcing.persistence import Tracking

    with _POSITION_LOCK:
        return {"tracking": Tracking(application_name="bench-upstream", notification_id=next(_POSITION))}


def counted_saves(recorder: Any, saves: int, events: int, tracking: bool = False) -> None:
    """`saves` serial saves (a command's: a new aggregate's `events` events), callgrind counting them only."""
    from eventsourcing.persistence import StoredEvent

    def batches() -> list[list[Any]]:
        made = []
        for _ in range(saves):
            aggregate = uuid.uuid4()
            made.append([StoredEvent(originator_id=aggregate, originator_version=v, topic="bench:Happened",
                                     state=os.urandom(400)) for v in range(1, events + 1)])
        return made

    for batch in batches():  # warm: connections made, statements prepared
        recorder.insert_events(batch, **tracked(tracking))
    measured = batches()
    subprocess.run(["callgrind_control", "-i", "on", str(os.getpid())], check=True, capture_output=True, timeout=120)
    for batch in measured:
        recorder.insert_events(batch, **tracked(tracking))
    subprocess.run(["callgrind_control", "-i", "off", str(os.getpid())], check=True, capture_output=True, timeout=120)


def callgrind(args: argparse.Namespace) -> None:
    """Each mode in a process of its own under callgrind: instructions per save (all threads)."""
    for round_ in range(args.rounds):
        for mode in (("pipelined", "one statement") if round_ % 2 == 0 else ("one statement", "pipelined")):
            folder = Path(tempfile.mkdtemp(prefix="jusou-bench-locked-cg-"))
            subprocess.run(["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={folder}/cg.out",
                            sys.executable, "-m", "bench.locked_insert", "--postmaster", str(args.postmaster),
                            "--events", str(args.events), "--only", mode, "--callgrind", str(args.callgrind)]
                           + (["--tracking"] if args.tracking else []),
                           check=True, capture_output=True, timeout=1800)
            total = 0
            for path in folder.glob("cg.out*"):
                for line in path.read_text(errors="replace").splitlines():
                    if line.startswith("totals:"):
                        total += int(line.split()[1])
                        break
            print(json.dumps({"round": round_ + 1, "mode": mode, "tracking": args.tracking, "saves": args.callgrind,
                              "instructions_per_save": round(total / args.callgrind)}), flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.locked_insert", description=__doc__.split("\n")[0])
    parser.add_argument("--postmaster", type=int, required=True, help="the cluster's postmaster pid")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--savers", type=int, default=1)
    parser.add_argument("--events", type=int, default=2)
    parser.add_argument("--spinners", type=int, default=0)
    parser.add_argument("--callgrind", type=int, default=0, metavar="N", help="instructions per save over N saves")
    parser.add_argument("--tracking", action="store_true",
                        help="each save with a tracking record (a delivery's effect; with one saver: positions rise)")
    parser.add_argument("--only", default="", help=argparse.SUPPRESS)  # a mode's process under callgrind
    args = parser.parse_args(argv)
    if args.callgrind and not args.only:
        callgrind(args)
        return
    import psycopg
    from eventsourcing.persistence import InfrastructureFactory

    from bench.raw import pg_conninfo
    from shared.kernel.store import store_env
    from shared.settings import Settings

    info = pg_conninfo()
    prefix = f"bench_locked_{os.getpid()}_"
    os.environ.update({"JUSOU_STORE": "postgres", "JUSOU_PG_HOST": info["host"], "JUSOU_PG_PORT": str(info["port"]),
                       "JUSOU_PG_USER": info["user"], "JUSOU_PG_PASSWORD": info["password"],
                       "JUSOU_PG_DBNAME": info["dbname"], "JUSOU_PG_SCHEMA_PREFIX": prefix,
                       "JUSOU_DATA_DIR": f"/tmp/jusou-bench-locked-{os.getpid()}"})
    counter = psycopg.connect(**info, autocommit=True)
    made: dict[str, tuple[Any, Any]] = {}
    for mode in ((args.only,) if args.only else ("pipelined", "one statement")):
        os.environ["JUSOU_PG_SCHEMA_PREFIX"] = prefix + mode.split()[0] + "_"
        factory: Any = InfrastructureFactory.construct(store_env(Settings.from_env("intake")) | {"CREATE_TABLE": "y"})
        recorder = factory.process_recorder()
        if mode == "pipelined":
            recorder._jusou_locked_insert = None  # the functions switched off: the pipelined insert, as before
            recorder._jusou_tracked_insert = None
        made[mode] = (factory, recorder)
    try:
        if args.only:
            counted_saves(made[args.only][1], args.callgrind, args.events, args.tracking)
            return
        for round_ in range(args.rounds):
            order = list(made) if round_ % 2 == 0 else list(made)[::-1]
            for mode in order:
                figures = trial(counter, made[mode][1], args)
                load = Path("/proc/loadavg").read_text().split()[0]
                print(json.dumps({"round": round_ + 1, "mode": mode, "tracking": args.tracking, "load": float(load),
                                  **figures}), flush=True)
    finally:
        for factory, _ in made.values():
            factory.close()
        for mode in made:
            counter.execute(f'DROP SCHEMA IF EXISTS "{prefix + mode.split()[0]}_intake" CASCADE')
        counter.close()


if __name__ == "__main__":
    main()
