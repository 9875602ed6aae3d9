"""A consumer of several event types of one source is delivered those types only (issue 19): one filter per type
(`filter_subjects`, shared/messaging/natsauth.py `consumer_filters`), where `jusou.<source>.*` had the server deliver
every type of the source and the inbox ack the others unread (7 of a journey's 27 deliveries). A durable consumer made
before, with the one filter `jusou.<source>.*`, is updated in place when the inbox starts: what it delivered and had
acked stays acked, and what follows comes filtered.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import nats as nats_py
import pytest
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from support.poll import eventually
from support.servers import Nats
from test_inbox_runs import CountingCollaboration, run_inbox
from test_outbox_inbox import escalated_case, relay_running, settings

from services.intake.application import IntakeApplication
from services.intake.translate import translate as intake_translate
from shared.contract.events import STREAM
from shared.kernel.store import store_env
from shared.messaging.bus import connect, ensure_streams
from shared.messaging.natsauth import consumer_filters

CONSUMER = "collaboration--intake"  # collaboration reacts to CaseEscalated and CaseConnectionAnswered of intake
WANTED = ["jusou.intake.CaseConnectionAnswered", "jusou.intake.CaseEscalated"]


def test_d19_a_consumer_of_several_types_has_one_filter_per_type_and_one_type_keeps_its_one_filter() -> None:
    assert consumer_filters("intake", {"CaseEscalated", "CaseConnectionAnswered"}) == WANTED
    assert consumer_filters("intake", {"ConsentRecorded"}) == []  # natsauth.consumer_filter's one subject


@pytest.mark.parametrize("batch", [1, 8], ids=["k=1", "runs"])
async def test_d19_a_consumer_made_with_every_type_of_its_source_is_narrowed_in_place_and_delivered_only_its_types(
        nats: Nats, tmp_path: Path, batch: int) -> None:
    intake = IntakeApplication(env=store_env(settings("intake", tmp_path, nats.url)))
    collab = CountingCollaboration(env=store_env(settings("collaboration", tmp_path, nats.url)))
    nc = await connect(nats.url, "test-streams")
    await ensure_streams(nc)
    await nc.close()
    nc = await nats_py.connect(nats.url)
    try:
        js = nc.jetstream()
        # the consumer as the inbox made it before: every type of intake, one in flight
        await js.add_consumer(STREAM, ConsumerConfig(
            name=CONSUMER, durable_name=CONSUMER, filter_subject="jusou.intake.*", deliver_policy=DeliverPolicy.ALL,
            ack_policy=AckPolicy.EXPLICIT, max_ack_pending=1, ack_wait=5, max_deliver=-1))
        cases = [escalated_case(intake) for _ in range(2)]  # stream: received 1, escalated 1, received 2, escalated 2
        async with relay_running(intake, intake_translate, nats.url) as relay:
            await eventually(lambda: asyncio.sleep(0, relay.position >= 6), "all published")
        old = await js.pull_subscribe_bind(CONSUMER, STREAM)
        (first,) = await old.fetch(1, timeout=5)
        assert first.subject == "jusou.intake.ConsultationReceived"
        await first.ack_sync()  # acked unread by the process before, as the inbox did with an unwanted type
        await old.unsubscribe()

        inbox = await run_inbox(collab, nats.url, batch, lambda inbox: inbox.applied == 2, "both escalations applied")

        assert [collab.case_view(c)["status"] for c in cases] == ["open", "open"]
        info = await js.consumer_info(STREAM, CONSUMER)
        assert sorted(info.config.filter_subjects or ()) == WANTED and not info.config.filter_subject
        assert info.config.max_ack_pending == batch
        # delivered: the one before, then the two escalations; the second consultation never (before: 4 deliveries)
        assert info.delivered.consumer_seq == 3 and info.ack_floor.stream_seq == 4 and info.num_pending == 0
        assert inbox.duplicates == 0 and inbox.dead_lettered == 0 and inbox.problems() == []
    finally:
        await nc.close()
