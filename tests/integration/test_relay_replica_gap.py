"""Two relays on one store (replicas of a service: the partitioned shape, on SQLite too) and a stream that lost its
tail: a relay that finds the position another relay saved past its own takes it as published only once the stream
shows it; else it goes back to what the stream holds and publishes the gap again, in order. Before, it stepped over
the gap and chained its next event onto what came before it; the other relay, rewinding to fill the gap, then found
that later event on the stream, took the gap for published, and its events never reached the stream (the
partitioned fault harness, 2026-12-06: `in a store, not on the stream: intake@107`). Real SQLite, a real nats-server.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from nats.js.errors import NotFoundError
from support.poll import eventually
from support.servers import Nats
from test_outbox_inbox import escalated_case

from services.intake.application import IntakeApplication
from services.intake.translate import translate as intake_translate
from shared.contract.events import STREAM
from shared.kernel.store import store_env
from shared.messaging.bus import STREAMS, connect, ensure_streams
from shared.messaging.relay import Relay
from shared.settings import Settings

DUPLICATES_FORGOTTEN = 0.3  # seconds


async def intake_on_stream(js: Any) -> list[tuple[int, int]]:
    """(stream sequence, source_position) of intake's messages on the stream, in stream order."""
    info = await js.stream_info(STREAM)
    found = []
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        try:
            msg = await js.get_msg(STREAM, seq)
        except NotFoundError:
            continue  # deleted: lost from the tail
        if (msg.subject or "").startswith("jusou.intake."):
            found.append((seq, json.loads(msg.data or b"")["source_position"]))
    return found


async def test_a_relay_finding_a_replicas_saved_position_past_its_own_publishes_what_the_stream_lost_not_over_it(
        tmp_path: Path, nats: Nats, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUSOU_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("JUSOU_STORE", "sqlite")
    first = IntakeApplication(env=store_env(Settings.from_env("intake")))
    second = IntakeApplication(env=store_env(Settings.from_env("intake")))  # a replica on the same store
    nc = await connect(nats.url, "test-relays")
    js = nc.jetstream()
    # the stream's duplicate window short: a lost tail takes the ids of what it lost with it (the server rebuilds its
    # window from what it holds), which deleting the messages here does not; past it, a publish again is stored again
    await js.add_stream(dataclasses.replace(STREAMS[0], duplicate_window=DUPLICATES_FORGOTTEN))
    await ensure_streams(nc)
    # the second replica's relay reads the store (and the saved position) only when this test says so
    behind = Relay(second, intake_translate, nc, poll_seconds=3600.0)
    behind_task = asyncio.create_task(behind.run())
    ahead_task = None
    try:
        await asyncio.to_thread(escalated_case, second)
        await eventually(lambda: asyncio.sleep(0, behind.published == 2), "the second replica's case published")
        ahead = Relay(first, intake_translate, nc, poll_seconds=3600.0)
        ahead_task = asyncio.create_task(ahead.run())
        await asyncio.to_thread(escalated_case, first)
        await eventually(lambda: asyncio.sleep(0, ahead.published == 2), "the first replica's case published")
        ahead_task.cancel()  # the first replica stops: it saves what it published
        await asyncio.gather(ahead_task, return_exceptions=True)
        saved = first.relay_position()
        assert saved > behind.position

        # NATS lost the stream's tail: the first replica's two events
        published = await intake_on_stream(js)
        lost = [seq for seq, position in published if position > behind.position]
        assert len(lost) == 2
        for seq in lost:
            await js.delete_msg(STREAM, seq)
        await asyncio.sleep(2 * DUPLICATES_FORGOTTEN)

        behind.poll_seconds = 0.05  # its poll: the store's saved position, past its own
        behind.wake()
        await asyncio.to_thread(escalated_case, second)  # and a new case of its own
        stored = [n.id for n in second.recorder.select_notifications(start=1, limit=100)]
        await eventually(lambda: asyncio.sleep(0, behind.position == max(stored)), "the relay caught up")
        await asyncio.sleep(0.3)

        on_stream = await intake_on_stream(js)
        positions = [position for _, position in on_stream]
        assert positions == sorted(positions), on_stream  # in the store's order
        # every public event of the store on the stream: the two lost ones published again, before the new case's
        assert sorted({p for _, p in published}) == sorted({p for p in positions if p <= saved}), on_stream
    finally:
        for task in (behind_task, ahead_task):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        await nc.close()
        first.close()
        second.close()
