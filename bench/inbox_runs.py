"""`python bench/inbox_runs.py`: one consumer draining a backlog, one message per transaction against runs of k (issue 19).

The lever of docs/capacity.md §5, measured alone and so less at the mercy of a shared machine than
the whole suite: intake records N escalated cases and its relay puts them on a real nats-server;
then collaboration's inbox (shared/messaging/inbox.py, in this process, a fresh store and a fresh
durable consumer each round) applies the N `CaseEscalated`, first with `JUSOU_INBOX_BATCH=1`, then
with k, alternately, `--rounds` times each. Per message: this process's CPU (every thread: the
inbox, the store, the nats client), commits (`process_event` calls) and wall time; medians, and the
ratio of k to 1 of the same run. `--store postgres` uses 127.0.0.1:5432, database `test` (as the
bench's raw baselines).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for extra in (str(ROOT / "tests"), str(ROOT)):
    if extra not in sys.path:
        sys.path.insert(0, extra)

STAFF = {"staff_id": "s-001", "division": "elderly-support"}


async def publish_backlog(intake: Any, url: str) -> int:
    from services.intake.translate import translate
    from shared.messaging.bus import connect, ensure_streams
    from shared.messaging.relay import Relay

    nc = await connect(url, "bench-relay")
    try:
        await ensure_streams(nc)
        relay = Relay(intake, translate, nc, poll_seconds=30.0)
        await relay.follow_stream()
        while await relay.publish_pending():
            pass
        return relay.published
    finally:
        await nc.close()


async def drain(app: Any, url: str, batch: int, expected: int) -> dict[str, float]:
    import nats as nats_py
    from faststream.nats import NatsBroker

    from shared.contract.events import STREAM
    from shared.messaging.inbox import Inbox

    nc = await nats_py.connect(url)
    with contextlib.suppress(nats_py.js.errors.NotFoundError):  # the previous round's: start from the first message
        await nc.jetstream().delete_consumer(STREAM, f"{app.service}--intake")
    await nc.close()
    commits = {"n": 0}
    process_event = app.process_event

    def counted(*args: Any, **kwargs: Any) -> Any:
        commits["n"] += 1
        return process_event(*args, **kwargs)

    app.process_event = counted
    broker = NatsBroker(url, logger=None)
    inbox = Inbox(app, broker, max_deliver=3, batch=batch)
    began, cpu = time.perf_counter(), time.process_time()
    await broker.start()
    try:
        while inbox.applied + inbox.duplicates < expected:
            await asyncio.sleep(0.005)
        wall, used = time.perf_counter() - began, time.process_time() - cpu
    finally:
        await broker.stop()
        del app.process_event
    return {"messages": expected, "wall_s": wall, "cpu_ms_per_message": 1000 * used / expected,
            "commits_per_message": commits["n"] / expected, "messages_per_s": expected / wall,
            "applied": inbox.applied, "duplicates": inbox.duplicates}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from support.servers import nats_server

    from bench.load import drop_pg_schemas, env_for_store
    from services.collaboration.application import CollaborationApplication
    from services.intake.application import IntakeApplication
    from shared.kernel.store import store_env
    from shared.settings import Settings

    with tempfile.TemporaryDirectory(prefix="jusou-bench-runs-") as folder:
        base = Path(folder)
        with nats_server(base / "nats") as nats:
            env = env_for_store(args.store, base / "data") | {"NATS_URL": nats.url}
            os.environ.update(env)
            intake = IntakeApplication(env=store_env(Settings.from_env("intake")))
            for _ in range(args.messages):
                case_id = intake.receive_consultation(STAFF, "houkatsu", "elderly-support", "窓口", ["高齢・介護"],
                                                      {"name": "調布 花子"}, None)
                intake.escalate_case(STAFF, case_id, "複合的な課題", "地域包括支援センター")
            await publish_backlog(intake, nats.url)
            rounds: dict[int, list[dict[str, float]]] = {1: [], args.batch: []}
            try:
                for number in range(args.rounds):
                    for k in (1, args.batch):
                        os.environ["JUSOU_DATA_DIR"] = str(base / f"collab-{k}-{number}")
                        if args.store == "postgres":
                            os.environ["JUSOU_PG_SCHEMA_PREFIX"] = f"{env['JUSOU_PG_SCHEMA_PREFIX']}{k}_{number}_"
                        collab = CollaborationApplication(env=store_env(Settings.from_env("collaboration")))
                        try:
                            rounds[k].append(await drain(collab, nats.url, k, args.messages))
                        finally:
                            collab.close()
                        print(f"round {number + 1} k={k}: {rounds[k][-1]}", file=sys.stderr)
            finally:
                intake.close()
                if args.store == "postgres":
                    drop_pg_schemas(env["JUSOU_PG_SCHEMA_PREFIX"], ("intake",))
                    for number in range(args.rounds):
                        for k in (1, args.batch):
                            drop_pg_schemas(f"{env['JUSOU_PG_SCHEMA_PREFIX']}{k}_{number}_", ("collaboration",))
    medians = {k: {name: round(statistics.median(r[name] for r in found), 3) for name in found[0]}
               for k, found in rounds.items()}
    one, many = medians[1], medians[args.batch]
    return {"store": args.store, "messages": args.messages, "batch": args.batch, "rounds": args.rounds,
            "load_before": args.load_before, "load_after": [round(x, 1) for x in os.getloadavg()],
            "k=1": one, f"k={args.batch}": many,
            "ratio": {"cpu_per_message": round(many["cpu_ms_per_message"] / one["cpu_ms_per_message"], 3),
                      "commits_per_message": round(many["commits_per_message"] / one["commits_per_message"], 3),
                      "messages_per_s": round(many["messages_per_s"] / one["messages_per_s"], 2)}}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python bench/inbox_runs.py", description=__doc__.split("\n")[0])
    parser.add_argument("--store", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--messages", type=int, default=400, help="escalations in the backlog")
    parser.add_argument("--batch", type=int, default=16, help="k: messages per run")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    args.load_before = [round(x, 1) for x in os.getloadavg()]
    print(json.dumps(asyncio.run(run(args)), indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
