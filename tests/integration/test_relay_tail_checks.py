"""The relay's looks for foreign messages on its subjects cost a JetStream API request and its reply each (issue 19,
docs/capacity.md §5.9.2: six relays looked once a second each, idle or busy). A publish the stream appended right
after what the relay chained onto shows what a look would, so a publishing relay does not look; an idle one looks a
poll after its last publish, then twice as long after each look that found nothing, up to `LOOK_BACKOFF` polls; a
foreign message is still found while idle (within that) and at once by the next publish. Real SQLite, nats-server."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path
from typing import Any

import pytest
from support.poll import eventually
from support.servers import Nats
from test_outbox_inbox import ESCALATION, escalated_case, forged

from services.intake.application import IntakeApplication
from services.intake.translate import translate as intake_translate
from shared.kernel.store import store_env
from shared.messaging.bus import connect, ensure_streams
from shared.messaging.relay import LOOK_BACKOFF, Relay
from shared.settings import Settings

POLL = 0.05
PER_CASE = 2  # a case received, consented to and escalated: two public events (the consent, the escalation)


def looks_counted(relay: Relay) -> list[float]:
    """The times the relay asked the stream for the last message on its subjects (a look)."""
    looks: list[float] = []
    original = relay.js.get_last_msg

    async def counted(*args: Any, **kwargs: Any) -> Any:
        looks.append(asyncio.get_running_loop().time())
        return await original(*args, **kwargs)

    relay.js.get_last_msg = counted  # type: ignore[method-assign]
    return looks


async def started(tmp_path: Path, nats: Nats, monkeypatch: pytest.MonkeyPatch) -> tuple[IntakeApplication, Relay, Any]:
    monkeypatch.setenv("JUSOU_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("JUSOU_STORE", "sqlite")
    intake = IntakeApplication(env=store_env(Settings.from_env("intake")))
    nc = await connect(nats.url, "test-relay")
    await ensure_streams(nc)
    return intake, Relay(intake, intake_translate, nc, poll_seconds=POLL), nc


async def test_an_idle_relay_looks_less_and_less_often(tmp_path: Path, nats: Nats, monkeypatch: pytest.MonkeyPatch) -> None:
    intake, relay, nc = await started(tmp_path, nats, monkeypatch)
    looks = looks_counted(relay)
    task = asyncio.create_task(relay.run())
    try:
        await asyncio.to_thread(escalated_case, intake)
        await eventually(lambda: asyncio.sleep(0, relay.published == PER_CASE), "the case's events published")
        began = asyncio.get_running_loop().time()
        await asyncio.sleep(40 * POLL)
        idle = [t for t in looks if t >= began]
        # once a poll, it was 40 looks; backing off (1, 2, 4, 8, 16 polls after the last publish) about 5
        assert 2 <= len(idle) <= 8, idle
        gaps = [b - a for a, b in itertools.pairwise(idle)]
        assert gaps[-1] > 2 * gaps[0], gaps  # each twice the one before (give or take a poll's wake, a loaded machine)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await nc.close()
        intake.close()


async def test_a_publishing_relay_does_not_look(tmp_path: Path, nats: Nats, monkeypatch: pytest.MonkeyPatch) -> None:
    intake, relay, nc = await started(tmp_path, nats, monkeypatch)
    relay.poll_seconds = 1.0  # longer than a command takes on a loaded machine
    looks = looks_counted(relay)
    task = asyncio.create_task(relay.run())
    try:
        await asyncio.to_thread(escalated_case, intake)
        await eventually(lambda: asyncio.sleep(0, relay.published == PER_CASE), "the first case's events published")
        began = asyncio.get_running_loop().time()
        for i in range(12):  # a case every 0.3 s: its publishes show the tail, as a look would
            await asyncio.to_thread(escalated_case, intake)
            await eventually(lambda i=i: asyncio.sleep(0, relay.published == PER_CASE * (i + 2)), "the events published")
            await asyncio.sleep(0.3)
        busy = [t for t in looks if t >= began]
        assert len(busy) <= 1, busy  # once a poll, it was a look a second (4 or more here)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await nc.close()
        intake.close()


async def test_a_backed_off_relay_still_finds_a_foreign_message_while_idle_and_at_its_next_publish(
        tmp_path: Path, nats: Nats, monkeypatch: pytest.MonkeyPatch) -> None:
    intake, relay, nc = await started(tmp_path, nats, monkeypatch)
    task = asyncio.create_task(relay.run())
    try:
        await asyncio.to_thread(escalated_case, intake)
        await eventually(lambda: asyncio.sleep(0, relay.published == PER_CASE), "the case's events published")
        await asyncio.sleep(40 * POLL)  # backed off
        ack = await nc.jetstream().publish("jusou.intake.CaseEscalated", forged("intake", "CaseEscalated", 1_000_000,
                                                                                ESCALATION))
        # idle: within the longest gap between looks (and this test's margin for a loaded machine)
        [problem] = await eventually(lambda: asyncio.sleep(0, relay.problems()), "the idle relay to notice it",
                                     deadline_s=LOOK_BACKOFF * POLL + 10)
        assert f"seq {ack.seq}" in problem

        await asyncio.sleep(40 * POLL)  # backed off again; another one, then a publish: found at once
        second = await nc.jetstream().publish("jusou.intake.CaseEscalated", forged("intake", "CaseEscalated", 1_000_001,
                                                                                   ESCALATION))
        relay.poll_seconds = 60.0  # no idle look within the test: only the publish can find it
        await asyncio.to_thread(escalated_case, intake)
        await eventually(lambda: asyncio.sleep(0, relay.published == 2 * PER_CASE), "the next events published after it")
        assert relay.foreign_count == 2 and f"seq {second.seq}" in relay.problems()[0]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await nc.close()
        intake.close()
