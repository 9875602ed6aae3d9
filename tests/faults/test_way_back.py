"""The way back from partitions on the real suite (docs/capacity.md §6.3, `jusou partitions back`): journeys run
partitioned (P = 4, two replicas of each partitionable service), then an unpartitioned replica started beside the
partitioned store is refused (status 2), every replica stopped, `jusou partitions back SERVICE` run for each, the
suite started again unpartitioned on the same stores and NATS, and more journeys run: every journey ends as the
fault-free one did, no effect applied twice, order kept (per case while partitioned). Runs with the partitioned
fault harness (`JUSOU_FAULTS_PARTITIONS=4`); SQLite.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from faults import invariants as inv
from faults.harness import quiesce
from faults.journeys import KINDS, REPLICA, Driver, Record
from faults.journeys import run as run_journey
from faults.world import PARTITIONABLE, SERVICES, Store, World
from jusou.runner import Suite, SuiteFailed

PARTITIONS = int(os.environ.get("JUSOU_FAULTS_PARTITIONS") or 0)

pytestmark = [pytest.mark.faults, pytest.mark.skipif(
    PARTITIONS < 2, reason="partitioned scale-out: JUSOU_FAULTS_PARTITIONS=4 (with the partitioned fault harness)")]


async def journeys(driver: Driver, first: int, replicas: int) -> list[Record]:
    async def one(kind: str, index: int, replica: int) -> Record:
        REPLICA.set(replica)  # this task's requests go to that replica
        return await run_journey(driver, Record(kind, index))

    found = await asyncio.gather(*(one(kind, first + 10 * r + i, r) for r in range(replicas) for i, kind in enumerate(KINDS)))
    assert not [r.failure for r in found if r.failure]
    return list(found)


async def test_the_way_back_to_unpartitioned_applies_nothing_twice_and_loses_nothing(tmp_path: Path) -> None:
    store = Store("sqlite", tmp_path / "data")
    world = World(tmp_path, store, PARTITIONS)
    await asyncio.to_thread(world.start)
    nc = await world.connect()
    try:
        async with httpx.AsyncClient(timeout=15.0) as client:
            gate = asyncio.Event()
            gate.set()
            driver = Driver(world.urls(), client, gate, deadline_s=60)
            before = await journeys(driver, 0, replicas=2)
            await quiesce(nc, driver, 60)
            baseline = {r.kind: inv.fingerprint(await inv.histories(driver, r.case_id or "")) for r in before[:len(KINDS)]}
            await asyncio.to_thread(world.suite.stop)

            # Unpartitioned beside the partitioned store, before the way back: refused, with what to do.
            stray = Suite(store.data_dir, nats_url=world.proxy.url, ports=dict(world.suite.ports), services=("intake",),
                          extra_env=store.env())
            with pytest.raises(SuiteFailed, match="exited with code"):
                await asyncio.to_thread(stray.start)
            said = stray.log_path("intake").read_text(errors="replace").rsplit("partitions.left", 1)[-1]
            assert "meeting#p" in said and "jusou partitions back intake" in said, said[-3000:]

            env = {**os.environ, **store.env(), "JUSOU_DATA_DIR": str(store.data_dir), "NATS_URL": world.nats_url}
            env.pop("JUSOU_PARTITIONS", None)
            for service in PARTITIONABLE:
                done = await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "jusou.cli", "partitions", "back",
                                                                 service], env=env, capture_output=True, text=True,
                                               timeout=120, check=False)
                assert done.returncode == 0, done.stdout + done.stderr
                assert "unpartitioned tracking set to" in done.stdout and f"deleted {service}--" in done.stdout, done.stdout
            js = nc.jetstream()
            names = {info.name for info in await js.consumers_info("JUSOU")}
            assert not {n for n in names if re.search(r"--p[0-9]+$", n)}, names  # the partition consumers are gone

            world.suite = Suite(store.data_dir, nats_url=world.proxy.url,
                                ports={s: world.suite.ports[s] for s in SERVICES}, extra_env=store.env())
            world.partitions = 1
            await asyncio.to_thread(world.suite.start)
            driver.urls = {s: urls[:1] for s, urls in driver.urls.items()}
            after = await journeys(driver, 100, replicas=1)
            await quiesce(nc, driver, 60)
            records = before + after
            rows = {r.case_id: await inv.histories(driver, r.case_id or "") for r in records}
            comparison = inv.compare(records, {c: inv.fingerprint(h) for c, h in rows.items() if c}, baseline)
            assert comparison.differs == []
    finally:
        await nc.close()
        await asyncio.to_thread(world.stop)
    scan = await asyncio.to_thread(inv.scan_stores, store)
    assert inv.duplicate_effects(scan) == []
    order, _ = inv.order_violations(scan, per_case=set(PARTITIONABLE))
    assert order == []
