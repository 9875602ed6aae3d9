"""`python -m bench.partition_deliveries`: NATS deliveries per journey, partitioned or not (issue 19).

Counts, it does not time: the suite of the fault harness (tests/faults/world.py: with `--partitions` P > 1, intake,
meeting, outreach and participation twice each with `JUSOU_PARTITIONS=P`, collaboration and community once) runs
`--rounds` journeys of each kind of tests/faults/journeys.py with no fault, waits until every consumer and relay has
nothing left, and reads from nats-server what it put on `JUSOU` and what it delivered to each service's durable
consumers (`delivered.consumer_seq`: every delivery, a redelivery too). Per journey: messages, deliveries, and the
deliveries per service. The load of the machine changes only the redeliveries (an ack later than its 5 s wait).

Run it in two trees to compare (docs/capacity.md §6.5):

    .venv/bin/python -m bench.partition_deliveries [--partitions 4] [--rounds 2] [--store sqlite] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for extra in (str(ROOT / "tests"), str(ROOT)):
    if extra not in sys.path:
        sys.path.insert(0, extra)


async def measure(partitions: int, rounds: int, store_kind: str) -> dict[str, Any]:
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
        per_service: Counter[str] = Counter()
        per_consumer: dict[str, int] = {}
        for info in await js.consumers_info(STREAM):
            if "--" not in info.name:
                continue
            delivered = info.delivered.consumer_seq if info.delivered is not None else 0
            per_consumer[info.name] = delivered
            per_service[info.name.split("--")[0]] += delivered
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
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--partitions", type=int, default=4, help="JUSOU_PARTITIONS of the partitionable services")
    parser.add_argument("--rounds", type=int, default=2, help="journeys of each kind")
    parser.add_argument("--store", default="sqlite")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = asyncio.run(measure(args.partitions, args.rounds, args.store))
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
        return
    print(f"P={result['partitions']}, {result['journeys']} journeys: {result['messages_per_journey']} messages and "
          f"{result['deliveries_per_journey']} deliveries per journey")
    for service, n in result["per_service"].items():
        print(f"  {service:14} {n}")


if __name__ == "__main__":
    main()
