"""`python -m bench.partition_deliveries`: NATS deliveries per journey, partitioned or not (issue 19).

Counts, it does not time: the suite of the fault harness (tests/faults/world.py: with `--partitions` P > 1, intake,
meeting, outreach and participation twice each with `JUSOU_PARTITIONS=P`, collaboration and community once) runs
`--rounds` journeys of each kind of tests/faults/journeys.py with no fault, waits until every consumer and relay has
nothing left, and reads from nats-server what it put on `JUSOU` and what it delivered to each service's durable
consumers (`delivered.consumer_seq`: every delivery, a redelivery too). Per journey: messages, deliveries, and the
deliveries per service. The load of the machine changes only the redeliveries (an ack later than its 5 s wait).
With `--storm K`: then every message on the stream published again K times under new message ids (as the fault
harness's "every message twice"), and what the server delivered of those copies, per copy, and how long until every
consumer had nothing pending (that one a time, noisy on a shared machine).

Run it in two trees to compare (docs/capacity.md §6.5):

    .venv/bin/python -m bench.partition_deliveries [--partitions 4] [--rounds 2] [--storm 0] [--store sqlite] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for extra in (str(ROOT / "tests"), str(ROOT)):
    if extra not in sys.path:
        sys.path.insert(0, extra)


async def delivered(js: Any) -> dict[str, int]:
    """Per durable consumer of a service on `JUSOU`: every delivery the server made to it."""
    from shared.contract.events import STREAM

    return {info.name: info.delivered.consumer_seq if info.delivered is not None else 0
            for info in await js.consumers_info(STREAM) if "--" in info.name}


async def storm(nc: Any, times: int) -> int:
    """Every message on `JUSOU` published again `times` times, each copy under a new Nats-Msg-Id; returns the copies."""
    import uuid

    from faults.world import API_TIMEOUT_S, read_stream

    from shared.contract.events import STREAM

    js = nc.jetstream(timeout=API_TIMEOUT_S)
    state = (await js.stream_info(STREAM)).state
    messages = await read_stream(nc, STREAM, "jusou.>", state.first_seq, state.last_seq)
    copies = 0
    for _ in range(times):
        acks = [await js.publish_async(m.subject, m.data, stream=STREAM, headers={"Nats-Msg-Id": f"storm-{uuid.uuid4()}"})
                for m in messages]
        copies += sum(1 for ack in await asyncio.gather(*acks) if not ack.duplicate)
    return copies


async def measure(partitions: int, rounds: int, store_kind: str, storm_times: int = 0) -> dict[str, Any]:
    import httpx
    from faults.harness import quiesce
    from faults.journeys import KINDS, Driver, Record
    from faults.journeys import run as run_journey
    from faults.world import API_TIMEOUT_S, Store, World

    from shared.contract.events import STREAM

    if store_kind != "sqlite":
        raise SystemExit("--store sqlite only (the counts do not depend on the store)")
    root = Path(tempfile.mkdtemp(prefix="jusou-deliveries-"))
    world = World(root, Store("sqlite", root / "data"), partitions)
    try:
        await asyncio.to_thread(world.start)
        nc = await world.connect()
        gate = asyncio.Event()
        gate.set()
        async with httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=5.0)) as client:
            driver = Driver(world.urls(), client, gate, deadline_s=180.0, poll_s=0.5)
            records = [Record(kind, i) for i, kind in enumerate(list(KINDS) * rounds)]
            done = await asyncio.gather(*(run_journey(driver, r) for r in records))
            failed = [r.failure for r in done if r.failure]
            if failed:
                raise SystemExit(f"journeys failed: {failed[:3]}")
            await quiesce(nc, driver, 180.0)
            js = nc.jetstream(timeout=API_TIMEOUT_S)
            messages = (await js.stream_info(STREAM)).state.messages
            per_consumer = await delivered(js)
            per_service: Counter[str] = Counter()
            for name, n in per_consumer.items():
                per_service[name.split("--")[0]] += n
            stormed: dict[str, Any] = {}
            if storm_times:
                copies = await storm(nc, storm_times)
                began = time.monotonic()
                await quiesce(nc, driver, 600.0)
                settled = time.monotonic() - began
                after = await delivered(js)
                extra = sum(after.values()) - sum(per_consumer.values())
                stormed = {"copies": copies, "deliveries": extra, "deliveries_per_copy": round(extra / max(copies, 1), 2),
                           "settled_s": round(settled, 1)}
        await nc.close()
    finally:
        await asyncio.to_thread(world.stop)
        shutil.rmtree(root, ignore_errors=True)
    journeys = len(records)
    return {
        "partitions": partitions,
        "journeys": journeys,
        "messages_per_journey": round(messages / journeys, 2),
        "deliveries_per_journey": round(sum(per_consumer.values()) / journeys, 2),
        "per_service": {s: round(n / journeys, 2) for s, n in sorted(per_service.items())},
        "per_consumer": dict(sorted(per_consumer.items())),
        **({"storm": stormed} if stormed else {}),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--partitions", type=int, default=4, help="JUSOU_PARTITIONS of the partitionable services")
    parser.add_argument("--rounds", type=int, default=2, help="journeys of each kind")
    parser.add_argument("--storm", type=int, default=0, help="then every message published again this many times")
    parser.add_argument("--store", default="sqlite")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = asyncio.run(measure(args.partitions, args.rounds, args.store, args.storm))
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
        return
    print(f"P={result['partitions']}, {result['journeys']} journeys: {result['messages_per_journey']} messages and "
          f"{result['deliveries_per_journey']} deliveries per journey")
    for service, n in result["per_service"].items():
        print(f"  {service:14} {n}")
    if "storm" in result:
        s = result["storm"]
        print(f"storm: {s['copies']} copies, {s['deliveries']} deliveries ({s['deliveries_per_copy']} per copy), "
              f"every consumer back to nothing pending in {s['settled_s']} s")


if __name__ == "__main__":
    main()
