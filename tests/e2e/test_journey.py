"""One case's whole journey across the running suite, over HTTP only, watched on the bus."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import nats as nats_py
import pytest
from support.auth import reader
from support.journey import EXPECTED_EVENTS, Journey
from support.poll import eventually
from support.servers import Nats, Postgres, free_port, nats_server

from jusou.runner import Suite
from shared.contract.events import parse


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def store_env(request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    if request.param == "sqlite":
        yield {"JUSOU_STORE": "sqlite"}
        return
    postgres: Postgres = request.getfixturevalue("postgres")
    prefix = f"t{uuid.uuid4().hex[:8]}_"
    yield postgres.env(prefix)
    postgres.drop_schemas(prefix)


@pytest.fixture(scope="module")
def nats(store_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Nats]:
    """A nats-server per store: both tests of a store run on one suite (each follows its own case), one start each."""
    with nats_server(tmp_path_factory.mktemp("nats")) as server:
        yield server


@pytest.fixture(scope="module")
def suite(nats: Nats, store_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Suite]:
    ports = {name: free_port() for name in ("intake", "collaboration", "meeting", "outreach", "participation", "community")}
    with Suite(tmp_path_factory.mktemp("journey") / "data", nats_url=nats.url, ports=ports, extra_env=store_env) as running:
        yield running


class BusWatcher:
    """A plain nats-py subscriber on `jusou.>`: what any new program would see."""

    def __init__(self) -> None:
        self.messages: list[Any] = []
        self.sequences: set[int] = set()

    async def handler(self, msg: Any) -> None:
        # once per stream message: a redelivery to this watcher (its ack late while the test's loop was blocked
        # starting a service) is not a second message on the bus
        if msg.metadata.sequence.stream not in self.sequences:
            self.sequences.add(msg.metadata.sequence.stream)
            self.messages.append(msg)
        await msg.ack()

    def of(self, correlation_id: str) -> list[tuple[Any, Any]]:
        parsed = [(m, parse(m.data)[0]) for m in self.messages]
        return [(m, e) for m, e in parsed if str(e.correlation_id) == correlation_id]


@pytest.fixture
async def bus(nats: Nats) -> AsyncIterator[BusWatcher]:
    watcher = BusWatcher()
    nc = await nats_py.connect(nats.url)
    js = nc.jetstream()
    from shared.messaging.bus import ensure_streams

    await ensure_streams(nc)
    await js.subscribe("jusou.>", cb=watcher.handler, ordered_consumer=False, manual_ack=True)
    yield watcher
    await nc.close()


def check_envelopes(journey: list[tuple[Any, Any]], case_id: str) -> None:
    by_id = {e.event_id: e for _, e in journey}
    last_position: dict[str, int] = {}
    for msg, e in journey:
        assert msg.headers["Nats-Msg-Id"] == str(e.event_id)
        assert msg.subject == f"jusou.{e.source}.{e.event_type}"
        assert str(e.case_id) == case_id
        assert e.schema_version == 1
        assert e.source_position > last_position.get(e.source, 0), f"{e.source} position did not rise"
        last_position[e.source] = e.source_position
        if e.actor.service:  # a policy's event names the event that caused it
            assert e.causation_id in by_id, f"{e.event_type} has no known cause"
            assert e.actor.service == e.source
        else:  # a person's command
            assert e.causation_id is None and e.actor.staff_id and e.actor.division
    assert len({e.correlation_id for _, e in journey}) == 1


async def test_whole_journey_over_http_watched_on_the_bus(suite: Suite, bus: BusWatcher) -> None:
    urls = {name: suite.url(name) for name in suite.services}
    began = time.monotonic()
    async with httpx.AsyncClient(timeout=10, headers=reader()) as client:
        case_id, _ = await Journey(urls, client).whole()
    seconds = time.monotonic() - began
    correlation = str(next(e.correlation_id for _, e in (await _settled(bus, case_id))))
    journey = bus.of(correlation)
    assert [(e.source, e.event_type) for _, e in journey] == EXPECTED_EVENTS
    check_envelopes(journey, case_id)
    started = next(e for _, e in journey if e.event_type == "ParticipationStarted")
    decided = [e for _, e in journey if e.event_type == "MeetingDecided"]
    assert started.causation_id == decided[-1].event_id
    assert [d.payload["decision"] for d in decided] == ["revision_requested", "approved"]
    print(f"\njourney over HTTP took {seconds:.2f} s; suite ready in {suite.ready_seconds:.2f} s")


async def _settled(bus: BusWatcher, case_id: str) -> list[tuple[Any, Any]]:
    async def probe() -> list[tuple[Any, Any]] | None:
        mine = [(m, e) for m, e in ((m, parse(m.data)[0]) for m in bus.messages) if str(e.case_id) == case_id]
        return mine if len(mine) >= len(EXPECTED_EVENTS) else None

    return await eventually(probe, "every event of the journey on the bus")


async def test_restart_after_sigkill_mid_journey_loses_nothing_and_applies_nothing_twice(
    suite: Suite, bus: BusWatcher
) -> None:
    urls = {name: suite.url(name) for name in suite.services}
    async with httpx.AsyncClient(timeout=10, headers=reader()) as client:
        journey = Journey(urls, client)
        suite.kill("collaboration")  # down while intake escalates
        case_id = await journey.receive_and_escalate()
        suite.start_service("collaboration")
        plan_id = await journey.draft_and_propose(case_id)
        meeting_id = await journey.convene()
        await journey.decide(meeting_id, plan_id, 1, "approved")
        suite.kill("meeting")  # right after the decision's commit: its publish may not have happened
        suite.kill("collaboration")
        suite.start_service("meeting")
        suite.start_service("collaboration")
        plan = await journey.get_when("collaboration", f"/plans/{plan_id}", lambda p: p["status"] == "approved",
                                      "the decision after both restarts")
    assert len(plan["history"]) == 1

    async def seen() -> list[Any] | None:  # collaboration may apply the decision before this watcher receives it
        events = [e for e in (parse(m.data)[0] for m in bus.messages) if str(e.case_id) == case_id]
        return events if {"CollaborationStarted", "MeetingDecided"} <= {e.event_type for e in events} else None

    mine = await eventually(seen, "the watcher to receive the case's CollaborationStarted and MeetingDecided")
    kinds = [e.event_type for e in mine]
    assert kinds.count("CollaborationStarted") == 1 and kinds.count("MeetingDecided") == 1
    assert len({e.event_id for e in mine}) == len(mine)
