"""A commit that records no event (a delivery whose handlers did nothing: its tracking record alone) does not wake
the relay (issue 19, docs/capacity.md §5.11): there is nothing to publish, and each such wake had the relay read the
store on a worker thread (a consumer that publishes little, outreach or participation, read it at every delivery).
A commit that records events still wakes it at once, and what it publishes is unchanged. Real SQLite, a real
nats-server."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from support.deliveries import decided
from support.municipality import LEAD
from support.poll import eventually
from support.servers import Nats
from test_relay_hand_off import counting

from services.outreach.application import OutreachApplication
from services.outreach.translate import translate as outreach_translate
from shared.kernel.store import store_env
from shared.messaging.bus import connect, ensure_streams
from shared.messaging.relay import Relay
from shared.settings import Settings

WORKER = {"staff_id": "outreach-007", "division": LEAD}


async def test_a_tracking_record_alone_wakes_no_relay_and_an_event_does(tmp_path: Path, nats: Nats,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUSOU_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("JUSOU_STORE", "sqlite")
    monkeypatch.setenv("JUSOU_READMODELS_FOLLOW", "0")
    outreach = OutreachApplication(env=store_env(Settings.from_env("outreach")))
    nc = await connect(nats.url, "test-relay-quiet")
    await ensure_streams(nc)
    relay = Relay(outreach, outreach_translate, nc, poll_seconds=60.0)  # no poll within the test: only wakes
    wakes: list[int] = []
    original_wake = relay.wake

    def wake() -> None:
        wakes.append(1)
        original_wake()

    relay.wake = wake  # type: ignore[method-assign]
    reads: list[str] = []
    counting(outreach.recorder, "select_notifications", reads)
    task = asyncio.create_task(relay.run())
    try:
        await eventually(lambda: asyncio.sleep(0, relay._chain is not None and relay._store_read_at > 0),
                         "the relay started and read the store once")
        wakes.clear()
        reads.clear()
        for position in range(1, 6):  # MeetingDecided about collaboration's plan, connecting no one: nothing recorded
            assert await asyncio.to_thread(outreach.receive_many, [decided(position, connect_to=[])]) == [True]
        assert await asyncio.to_thread(outreach.receive, *decided(6, connect_to=[])) is True
        assert outreach.recorder.max_tracking_id("meeting") == 6
        assert wakes == []

        # an event recorded (a start: outreach's own, a private event) wakes it, and it moves past it without a read
        await asyncio.to_thread(outreach.start, WORKER, None, "民生委員", "近所の方から心配の声")
        assert wakes == [1]
        head = outreach.recorder.max_notification_id()
        await eventually(lambda: asyncio.sleep(0, relay.position == head), "the relay past the start")
        assert reads == []
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await nc.close()
        outreach.close()

