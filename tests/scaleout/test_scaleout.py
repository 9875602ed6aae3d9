"""Scale-out (issue 7): a 3-node NATS JetStream cluster, PostgreSQL, two replicas of every service.

Concurrent journeys (tests/support/journey.py) go through a load balancer that spreads them over
both replicas of each service. Under that load the first test SIGKILLs the NATS node leading the
`JUSOU` stream and later starts it again; the second SIGKILLs one replica of every service. Both
then count, per case, the events on the stream (each `Nats-Msg-Id` once, exactly the expected
events) and in every store (exactly the events a fault-free journey leaves, no cause applied
twice, each source's events applied in its order), and find no dead letter.

Figures (journeys, kills, duplicates the inbox caught, duration) are printed and saved in
test-artifacts/scaleout-*.json; nothing here is timed against a limit.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from nats.aio.client import Client
from support.auth import reader
from support.journey import EXPECTED_EVENTS, Journey
from support.poll import eventually

from jusou.cluster import ScaleOut
from scaleout.balancer import Balancer
from scaleout.checks import (
    SERVICES,
    dead_letters,
    inbox_counts,
    order_violations,
    scan_histories,
    scan_stream,
    settle,
)
from shared.contract.events import STREAM
from shared.messaging.bus import connect

pytestmark = pytest.mark.postgres

COMMANDS_PER_JOURNEY = 12  # POST/PUT in Journey.whole
JOURNEYS = int(os.environ.get("JUSOU_SCALEOUT_JOURNEYS", "10"))  # per test; more for a longer run
STAGGER_S = 0.15  # between journey starts: a steady load rather than one burst


@dataclass
class Load:
    cases: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    faults: list[str] = field(default_factory=list)
    seconds: float = 0.0


@pytest.fixture(scope="module")
async def bus(scale: ScaleOut) -> AsyncIterator[Client]:
    nc = await connect(scale.cluster.url, "scaleout-test", *scale.cluster.operator())
    yield nc
    await nc.close()


@pytest.fixture(scope="module")
async def balancer(scale: ScaleOut) -> AsyncIterator[Balancer]:
    transport = Balancer({s: scale.urls(s) for s in SERVICES})
    yield transport
    await transport.aclose()


@pytest.fixture(scope="module")
async def client(balancer: Balancer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=balancer, timeout=30, headers=reader()) as http:  # polls read as an auditor
        yield http


@pytest.fixture(scope="module")
async def baseline(scale: ScaleOut, bus: Client, client: httpx.AsyncClient, balancer: Balancer
                   ) -> dict[str, Counter[str]]:
    """One journey alone: the events each store holds for a case (events per case)."""
    case_id, _ = await Journey(balancer.urls(), client).whole()
    await settle(bus, client, {s: scale.urls(s) for s in SERVICES})
    scan = await scan_histories(client, balancer.urls(), [case_id])
    return scan.per_case[case_id]


async def drive(balancer: Balancer, client: httpx.AsyncClient, journeys: int,
                at: list[tuple[float, Callable[[], Awaitable[str]]]]) -> Load:
    """Run `journeys` concurrent journeys; run each action once that fraction of their commands was answered."""
    load = Load()
    start_commands = balancer.commands
    total = journeys * COMMANDS_PER_JOURNEY

    async def one(index: int) -> None:
        await asyncio.sleep(index * STAGGER_S)
        try:
            case_id, _ = await Journey(balancer.urls(), client).whole()
            load.cases.append(case_id)
        except Exception as exc:  # noqa: BLE001 - a failed journey is counted and reported, not raised here
            load.failures.append(f"journey {index}: {type(exc).__name__}: {exc}")

    async def faults() -> None:
        for fraction, action in sorted(at, key=lambda a: a[0]):
            while balancer.commands - start_commands < fraction * total:
                await asyncio.sleep(0.02)
            load.faults.append(f"{await action()} after {balancer.commands - start_commands}/{total} commands")

    began = time.monotonic()
    injector = asyncio.create_task(faults())
    await asyncio.gather(*(one(i) for i in range(journeys)))
    load.seconds = time.monotonic() - began
    await asyncio.wait_for(injector, timeout=60)  # every fault was injected while journeys ran
    return load


async def verify(scale: ScaleOut, bus: Client, client: httpx.AsyncClient, balancer: Balancer, load: Load,
                 baseline: dict[str, Counter[str]]) -> dict[str, Any]:
    """Everything each journey should have left, exactly once; the figures of the run."""
    assert not load.failures, "\n".join(load.failures)
    await settle(bus, client, {s: scale.urls(s) for s in SERVICES})
    stream = await scan_stream(bus)
    stores = await scan_histories(client, balancer.urls(), load.cases)
    expected = Counter(EXPECTED_EVENTS)
    wrong_stream = {c: dict(stream.per_case.get(c, Counter()) - expected) | {
        f"missing {k}": v for k, v in (expected - stream.per_case.get(c, Counter())).items()}
        for c in load.cases if stream.per_case.get(c) != expected}
    wrong_store = {c: {s: (dict(stores.per_case[c][s] - baseline[s]), dict(baseline[s] - stores.per_case[c][s]))
                       for s in SERVICES if stores.per_case[c][s] != baseline[s]}
                   for c in load.cases if stores.per_case[c] != baseline}
    order = order_violations(stores.effects, stream.source_of)
    parked = await dead_letters(bus)
    assert not stream.copies, f"events on the stream more than once: {stream.copies[:10]}"
    assert not stream.header_mismatch, f"Nats-Msg-Id is not the event_id at seqs {stream.header_mismatch[:10]}"
    assert not wrong_stream, f"cases whose events on the stream differ (extra / missing): {wrong_stream}"
    assert not stores.doubled, f"an event applied twice: {stores.doubled[:10]}"
    assert not wrong_store, f"cases whose stored events differ from a fault-free journey (extra, missing): {wrong_store}"
    assert not stream.order and not order, f"out of order: stream {stream.order[:5]}, stores {order[:5]}"
    assert parked == 0, f"{parked} messages were dead-lettered"
    counts = await inbox_counts(client, {s: scale.urls(s) for s in SERVICES})
    spread = {s: [balancer.served[u] for u in scale.urls(s)] for s in SERVICES}
    assert all(min(n) > 0 for n in spread.values()), f"a replica served nothing: {spread}"
    return {
        "journeys": len(load.cases),
        "seconds": round(load.seconds, 1),
        "journeys_per_second": round(len(load.cases) / load.seconds, 2),
        "faults": load.faults,
        "stream_messages": stream.messages,
        "stored_events_per_case": sum(sum(c.values()) for c in baseline.values()),
        "stream_events_per_case": len(EXPECTED_EVENTS),
        "inbox_applied_live_replicas": counts["applied"],
        "inbox_duplicates_caught": counts["duplicates"],
        "requests_per_replica": spread,
        "refused_and_rerouted": balancer.refused,
    }


def report(name: str, figures: dict[str, Any], artifacts: Path) -> None:
    text = json.dumps(figures, indent=2, ensure_ascii=False)
    print(f"\n{name}: {text}")
    (artifacts / f"{name}.json").write_text(text + "\n", encoding="utf-8")


def leader_node(info: Any) -> int:
    return int(str(info.cluster.leader).rsplit("-n", 1)[1])


async def test_a_nats_node_killed_under_load_loses_nothing_and_catches_up_when_back(
    scale: ScaleOut, bus: Client, client: httpx.AsyncClient, balancer: Balancer,
    baseline: dict[str, Counter[str]], artifacts: Path,
) -> None:
    killed: list[int] = []

    async def kill_leader() -> str:
        node = leader_node(await bus.jetstream().stream_info(STREAM))  # the node leading JUSOU: the hard case
        await asyncio.to_thread(scale.cluster.kill_node, node)
        killed.append(node)
        return f"SIGKILL nats-{node} (leader of {STREAM})"

    async def restart() -> str:
        await asyncio.to_thread(scale.cluster.start_node, killed[0])
        return f"restarted nats-{killed[0]}"

    load = await drive(balancer, client, JOURNEYS, [(0.25, kill_leader), (0.7, restart)])
    result = await verify(scale, bus, client, balancer, load, baseline)
    assert len(scale.cluster.running()) == 3

    leader = (await bus.jetstream().stream_info(STREAM)).state

    async def caught_up() -> dict[str, Any] | None:
        state = await asyncio.to_thread(scale.cluster.stream_state, killed[0], STREAM)
        return state if state and state["last_seq"] == leader.last_seq and state["messages"] == leader.messages else None

    state = await eventually(caught_up, f"nats-{killed[0]} to hold the whole {STREAM} stream again", 30)
    result["restarted_node_stream_messages"] = state["messages"]
    report("scaleout-nats-node", result, artifacts)


async def test_a_killed_replica_of_every_service_leaves_the_other_to_carry_on(
    scale: ScaleOut, bus: Client, client: httpx.AsyncClient, balancer: Balancer,
    baseline: dict[str, Counter[str]], artifacts: Path,
) -> None:
    def killer(service: str) -> Callable[[], Awaitable[str]]:
        async def kill() -> str:
            await balancer.take_out(scale.url(service, 1))  # as a failing readiness probe would, then the crash
            await asyncio.to_thread(scale.kill, service, 1)
            return f"SIGKILL {service}-1"
        return kill

    schedule = [(0.15 + 0.1 * i, killer(service)) for i, service in enumerate(SERVICES)]
    load = await drive(balancer, client, JOURNEYS, schedule)
    assert {s for s, r in scale.processes} == set(SERVICES) and all(r == 2 for _, r in scale.processes)
    report("scaleout-replicas", await verify(scale, bus, client, balancer, load, baseline), artifacts)
