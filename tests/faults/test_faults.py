"""Faults survived with nothing lost (issue #6): concurrent journeys while the suite is made to fail.

A short load runs in CI; `JUSOU_FAULTS_LONG=1` runs the long one (300 journeys, nats-server down
for longer than nats-py's default reconnect budget). Each run prints its table of invariants, the
faults it injected and the services' CPU while NATS was down, and saves it in test-artifacts/.

Partitioned scale-out (docs/capacity.md §6): `JUSOU_FAULTS_PARTITIONS=4` also runs each test `[partitioned]`:
intake, meeting, outreach and participation twice each with `JUSOU_PARTITIONS=4` (every replica killed in its
turn), collaboration and community once, unpartitioned (they need each source's order); the journeys divided
between the replicas. Same faults, same invariants, except that order is checked per case in the partitioned
services; on PostgreSQL the partitioned run also kills every process once. `-k partitioned` runs those alone.
"""

from __future__ import annotations

import dataclasses
import os
import uuid
from pathlib import Path

import pytest
from support.servers import PrivatePostgres

from faults.harness import NATS_DEFAULT_RECONNECT_BUDGET_S, Plan, Report, run
from faults.world import Store, World

LONG = os.environ.get("JUSOU_FAULTS_LONG") == "1"
PARTITIONS = int(os.environ.get("JUSOU_FAULTS_PARTITIONS") or 0)
MODES = [pytest.param(1, id="one-consumer"),
         pytest.param(PARTITIONS or 4, id="partitioned", marks=pytest.mark.skipif(
             PARTITIONS < 2, reason="partitioned scale-out under faults: JUSOU_FAULTS_PARTITIONS=4 (about 2 × the time)"))]
SPINNING = 0.25  # a service using a quarter of a core while it only waits for NATS is spinning

pytestmark = pytest.mark.faults

SQLITE = Plan(journeys=300, ramp_s=30, repeat=True, service_kills=3, nats_kills=3, tail_losses=2, duplicate_rounds=2,
              delay_windows=3, poison_rounds=2, outage_s=NATS_DEFAULT_RECONNECT_BUDGET_S + 15, pg_kill_every_s=0,
              gap_s=(1.0, 4.0)) if LONG else \
    Plan(journeys=40, ramp_s=16, repeat=False, service_kills=1, nats_kills=1, tail_losses=1, duplicate_rounds=1,
         delay_windows=1, poison_rounds=1, outage_s=3, pg_kill_every_s=0)
POSTGRES = Plan(journeys=300, ramp_s=30, repeat=True, service_kills=1, nats_kills=1, tail_losses=1, duplicate_rounds=1,
                delay_windows=1, poison_rounds=1, outage_s=0, pg_kill_every_s=1.0, pg_restarts=3,
                gap_s=(1.0, 3.0)) if LONG else \
    Plan(journeys=10, ramp_s=3, repeat=False, service_kills=0, nats_kills=0, tail_losses=0, duplicate_rounds=1,
         delay_windows=0, poison_rounds=1, outage_s=0, pg_kill_every_s=0.7, pg_restarts=1)

#: Partitioned, PostgreSQL's short plan also kills every process once (the leases' takeover is the point of replicas).
POSTGRES_PARTITIONED = POSTGRES if LONG else dataclasses.replace(POSTGRES, service_kills=1)


def check(report: Report, plan: Plan, artifacts: Path, world: World) -> None:
    name = f"faults-{report.store}{'-long' if LONG else ''}"
    text = report.table()
    print("\n" + text)
    (artifacts / f"{name}.txt").write_text(text)
    report.save(artifacts / f"{name}.json")
    expected = {f"SIGKILL {s}" for s in world.processes if plan.service_kills}  # every replica too
    assert expected <= set(report.faults), f"faults not injected: {expected - set(report.faults)}"
    if plan.poison_rounds:
        assert any(k.startswith("rounds of: poison") for k in report.faults)
    if plan.pg_kill_every_s:
        assert report.faults.get("PostgreSQL connections terminated", 0) > 0, "no PostgreSQL connection was killed"
    if plan.pg_restarts:
        assert report.faults.get("PostgreSQL crashed (immediate stop) and restarted") == plan.pg_restarts
    # Half the commands carried an Idempotency-Key and were simply sent again when their outcome was unknown.
    assert report.figures["commands sent with an Idempotency-Key (at random, half)"] > 0
    broken = {k: v for k, v in report.invariants.items() if v}
    assert not broken, f"invariants broken: {broken}\n{text}"
    spinning = {s: v["nats_down"] for s, v in report.cpu.items() if not s.startswith("_") and v["nats_down"] > SPINNING}
    assert not spinning, f"services spin while NATS is down (fraction of a core): {spinning}"


@pytest.mark.parametrize("partitions", MODES)
async def test_sqlite_suite_survives_faults_with_nothing_lost(tmp_path: Path, artifacts: Path, partitions: int) -> None:
    world = World(tmp_path, Store("sqlite", tmp_path / "data"), partitions)
    check(await run(world, SQLITE, artifacts), SQLITE, artifacts, world)


@pytest.mark.postgres
@pytest.mark.parametrize("partitions", MODES)
async def test_postgres_suite_survives_a_crashed_server_and_killed_connections_with_nothing_lost(
    tmp_path: Path, artifacts: Path, own_postgres: PrivatePostgres, partitions: int
) -> None:
    store = Store("postgres", tmp_path / "data", own_postgres, f"f{uuid.uuid4().hex[:8]}_")
    world = World(tmp_path, store, partitions)
    plan = POSTGRES if partitions == 1 else POSTGRES_PARTITIONED
    check(await run(world, plan, artifacts), plan, artifacts, world)
