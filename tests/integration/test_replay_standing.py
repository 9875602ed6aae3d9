"""The dead letters' replay consumer (`<service>--replay`, shared/messaging/deadletters.py) is delivered through a
standing pull request, as the inbox's consumers are (issue 19, docs/capacity.md §5.7.2): FastStream's loop asked for
one message every 2 s, answered `408` when none came (each service idle: a request and an answer every 2 s). A
replay is still applied, once, with its own tracking record. Real SQLite, a real nats-server."""

from __future__ import annotations

import asyncio
from pathlib import Path

from faststream.nats import NatsBroker
from support.poll import eventually
from support.servers import Nats
from test_inbox_standing import requests_counted
from test_outbox_inbox import ESCALATION, forged, settings

from services.collaboration.application import CollaborationApplication
from shared.contract.events import REPLAY_STREAM
from shared.kernel.store import store_env
from shared.messaging.bus import connect, ensure_streams
from shared.messaging.deadletters import ORIGINAL_SUBJECT, REPLAY_OF, replay_consumer, replay_subject, subscribe_replays
from shared.messaging.inbox import Inbox


async def test_the_replay_consumer_stands_idle_on_one_request_and_still_applies_a_replay(nats: Nats,
                                                                                         tmp_path: Path) -> None:
    collab = CollaborationApplication(env=store_env(settings("collaboration", tmp_path, nats.url)))
    nc = await connect(nats.url, "test-streams")
    await ensure_streams(nc)
    spy, counted = await requests_counted(nats.url)
    broker = NatsBroker(nats.url, logger=None)
    inbox = Inbox(collab, broker, max_deliver=3, batch=1)
    subscribe_replays(inbox)
    await broker.start()
    try:
        await asyncio.sleep(5.0)
        # fetching, 2-3 requests in 5 s (one per 2 s); standing, the one it started with
        assert counted.get(replay_consumer("collaboration"), 0) == 1, counted

        body = forged("intake", "CaseEscalated", 7, ESCALATION)
        original = "jusou.intake.CaseEscalated"
        await nc.jetstream().publish(replay_subject("collaboration", original), body, stream=REPLAY_STREAM,
                                     headers={REPLAY_OF: "1", ORIGINAL_SUBJECT: original})
        await eventually(lambda: asyncio.sleep(0, inbox.applied == 1), "the replay applied")
        assert collab.recorder.max_tracking_id("replay:intake:7") == 7
        assert counted.get(replay_consumer("collaboration"), 0) == 1, counted
    finally:
        await broker.stop()
        await spy.close()
        await nc.close()
        collab.close()
