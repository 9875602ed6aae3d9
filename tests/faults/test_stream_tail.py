"""nats-server acknowledges a publish before it syncs it to disk: a crash of its machine can drop the
stream's tail after the relay saved its position past it. The store is the source of truth: the
relay goes back to the last of its events the stream still holds and publishes the rest again."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest
from nats.js.errors import APIError
from support.municipality import ELDERLY
from support.poll import eventually

from faults.invariants import settings_for
from faults.world import Store, World
from services.intake.application import IntakeApplication
from services.intake.translate import translate
from shared.contract.events import STREAM, parse
from shared.kernel.store import store_env
from shared.messaging.relay import Relay, newest_on_stream

pytestmark = pytest.mark.faults

STAFF = {"staff_id": "s-001", "division": ELDERLY.division}


def escalated_case(app: IntakeApplication) -> None:
    case_id = app.receive_consultation(STAFF, ELDERLY.code, ELDERLY.division, "窓口", ["高齢・介護", "ひきこもり"],
                                       {"name": "調布 花子"}, None)
    app.escalate_case(STAFF, case_id, "複合的な課題", ELDERLY.ja)


async def positions_on_stream(js: object) -> list[int]:
    state = (await js.stream_info(STREAM)).state  # type: ignore[attr-defined]
    found = []
    for seq in range(state.first_seq, state.last_seq + 1) if state.messages else ():
        found.append(parse((await js.get_msg(STREAM, seq)).data)[0].source_position)  # type: ignore[attr-defined]
    return found


async def test_relay_publishes_again_what_the_stream_lost_from_its_tail(tmp_path: Path) -> None:
    world = World(tmp_path, Store("sqlite", tmp_path / "data"))
    await asyncio.to_thread(world.start_nats)
    intake = IntakeApplication(env=store_env(settings_for("intake", world.store)))
    nc = await world.connect()
    relay = Relay(intake, translate, nc, poll_seconds=0.2)
    task = asyncio.create_task(relay.run())
    try:
        for _ in range(10):
            escalated_case(intake)  # positions 1..30; the Person records (1, 4, …) stay private
        await eventually(lambda: asyncio.sleep(0, relay.position >= 30 and intake.relay_position() >= 30), "publish")
        published = await positions_on_stream(nc.jetstream())
        assert len(published) == 20
        await asyncio.to_thread(world.kill_nats)  # SIGKILL
        await asyncio.to_thread(world.lose_stream_tail, 0.3)
        await asyncio.to_thread(world.start_nats)
        kept = (await nc.jetstream().stream_info(STREAM)).state.messages
        assert kept < 20, "the tail was not lost: the test proves nothing"
        await eventually(lambda: _same(nc, published), "the lost tail published again", deadline_s=15)
        assert (await newest_on_stream(nc.jetstream(), "intake"))[1] == 30
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await nc.close()
        intake.close()
        world.kill_nats(signal.SIGTERM)


async def _same(nc: object, published: list[int]) -> bool:
    return await positions_on_stream(nc.jetstream()) == published  # type: ignore[attr-defined]



async def test_a_publish_that_would_land_after_a_lost_tail_is_refused_and_the_gap_filled_in_order(
    tmp_path: Path,
) -> None:
    """A publish sent before the relay noticed the loss (nats-py resends what it buffered across a
    reconnect) must not land beyond the gap: consumers would then skip the gap's events as old."""
    world = World(tmp_path, Store("sqlite", tmp_path / "data"))
    await asyncio.to_thread(world.start_nats)
    intake = IntakeApplication(env=store_env(settings_for("intake", world.store)))
    nc = await world.connect()
    relay = Relay(intake, translate, nc, poll_seconds=0.2)
    try:
        for _ in range(10):
            escalated_case(intake)
        await relay.follow_stream()
        await relay.publish_pending()
        assert relay.position == 30
        await asyncio.to_thread(world.kill_nats)
        await asyncio.to_thread(world.lose_stream_tail, 0.3)
        await asyncio.to_thread(world.start_nats)
        await eventually(lambda: asyncio.sleep(0, nc.is_connected), "the relay's connection back")
        escalated_case(intake)  # positions 31..33, published as if nothing had happened
        with pytest.raises(APIError):
            await relay.publish_pending()
        assert max(await positions_on_stream(nc.jetstream())) < 30, "a publish landed beyond the gap"
        await relay.follow_stream()
        await relay.publish_pending()
        positions = await positions_on_stream(nc.jetstream())
        assert positions == sorted(positions) and positions[-1] == 33
        assert len(positions) == 22  # each public event once: 11 cases × (received, escalated)
    finally:
        await nc.close()
        intake.close()
        world.kill_nats(signal.SIGTERM)
