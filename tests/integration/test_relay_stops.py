"""The relay stops when its service stops, even when a commit wakes it at that very moment.

On Python 3.11 `asyncio.wait_for` returns the awaited result instead of raising when the task is cancelled in the
same turn of the loop as the awaited event is set (the cancellation is lost; CPython gh-86296, rewritten in 3.12). The
relay waited for its next commit with `wait_for(self._wake.wait(), …)`: a commit's wake racing the service's stop left
the relay running for ever and the stop waiting on it (seen as a test that hung for 20 minutes in CI). It now waits
under `asyncio.timeout`, which delivers the cancellation.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from support.poll import eventually
from support.servers import Nats
from test_outbox_inbox import escalated_case, settings

from services.intake.application import IntakeApplication
from services.intake.translate import translate as intake_translate
from shared.kernel.store import store_env
from shared.messaging.bus import connect, ensure_streams
from shared.messaging.relay import Relay

pytestmark = pytest.mark.timeout(120)


async def test_a_relay_woken_by_a_commit_as_its_service_stops_still_stops(nats: Nats, tmp_path: Path) -> None:
    intake = IntakeApplication(env=store_env(settings("intake", tmp_path, nats.url)))
    escalated_case(intake)
    nc = await connect(nats.url, "test-relay")
    try:
        await ensure_streams(nc)
        for round_ in range(5):
            relay = Relay(intake, intake_translate, nc, poll_seconds=5.0)
            task = asyncio.create_task(relay.run())

            async def idle(relay: Relay = relay) -> bool:  # all published, and waiting for the next commit
                await asyncio.sleep(0.05)
                return relay.position >= (intake.recorder.max_notification_id() or 0) and bool(relay._wake._waiters)

            await eventually(idle, f"round {round_}: the relay idle, waiting for a commit")
            relay._wake.set()  # a commit's wake (Relay.wake sets it from the loop) …
            task.cancel()  # … in the same turn as the service's stop
            done, _ = await asyncio.wait({task}, timeout=10)
            assert task in done, f"round {round_}: the relay ran on after it was cancelled (the cancellation was lost)"
            assert task.cancelled()
    finally:
        await nc.close()


async def test_a_relay_stops_though_an_await_inside_it_swallowed_the_cancellation(nats: Nats, tmp_path: Path) -> None:
    """nats-py's requests (a publish's ack, the look at the stream's tail) wait with `wait_for` too: a cancellation
    one of them swallows must not keep the relay running; it stops at its next turn."""
    intake = IntakeApplication(env=store_env(settings("intake", tmp_path, nats.url)))
    escalated_case(intake)
    nc = await connect(nats.url, "test-relay")
    try:
        await ensure_streams(nc)
        relay = Relay(intake, intake_translate, nc, poll_seconds=0.2)
        swallowed = asyncio.Event()
        looked = relay.look_for_foreign

        async def swallowing_look(at_once: bool = False) -> None:
            if relay.position and not swallowed.is_set():  # all published: the idle look, as a request's answer comes
                asyncio.current_task().cancel()  # type: ignore[union-attr]  # the service's stop …
                try:
                    await asyncio.sleep(0)
                except asyncio.CancelledError:
                    swallowed.set()  # … taken by an await that returns instead (3.11's wait_for)
            await looked(at_once)

        relay.look_for_foreign = swallowing_look  # type: ignore[method-assign]
        task = asyncio.create_task(relay.run())
        done, _ = await asyncio.wait({task}, timeout=10)
        assert swallowed.is_set(), "the look never ran"
        assert task in done and task.cancelled(), "the relay ran on after its cancellation was swallowed"
    finally:
        await nc.close()
