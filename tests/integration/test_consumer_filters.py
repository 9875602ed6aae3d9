"""Consumers filtered to what a service reacts to (issue 19): the server delivers nothing else.

A service's durable consumer of a source whose events it reacts to one type of names that type
(intake's of collaboration: `jusou.collaboration.PlanProposed`), so the other types of the source are never delivered,
parsed and acked unread; one that reacts to several keeps `jusou.<source>.*` as its subject and names each type in
its `filter_subjects` (shared/messaging/natsauth.py `consumer_filter`, `consumer_filters`). Against a real nats-server
and real SQLite: intake's relay publishes two cases' events, meeting's inbox (CaseEscalated and ConsentRecorded from
intake) applies the consent and the escalations, and the consumer's own counts show what the server delivered.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nats as nats_py
import pytest
from faststream.nats import NatsBroker
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from support.poll import eventually
from support.servers import Nats
from test_outbox_inbox import STAFF, escalated_case, relay_running, settings

from services.intake.application import IntakeApplication
from services.intake.translate import translate as intake_translate
from services.meeting.application import MeetingApplication
from services.meeting.domain import Consent
from shared.contract.events import STREAM
from shared.kernel.store import store_env
from shared.messaging.bus import connect, ensure_streams
from shared.messaging.inbox import Inbox
from shared.messaging.natsauth import consumer_filter, durable_consumers


def test_a_consumer_names_the_one_type_it_reacts_to_and_keeps_every_type_for_several() -> None:
    assert consumer_filter("intake", ["ConsentRecorded"]) == "jusou.intake.ConsentRecorded"
    assert consumer_filter("intake", ["CaseEscalated", "CaseConnectionAnswered"]) == "jusou.intake.*"
    assert consumer_filter("intake", ["CaseEscalated", "CaseEscalated"]) == "jusou.intake.CaseEscalated"
    consumers = durable_consumers("meeting", MeetingApplication.subscriptions)
    assert consumers["meeting--intake"] == (STREAM, "jusou.intake.*")  # CaseEscalated, ConsentRecorded (D4 D9)
    assert consumers["meeting--collaboration"] == (STREAM, "jusou.collaboration.*")  # PlanProposed, PlanClosureRequested
    assert durable_consumers("intake", IntakeApplication.subscriptions)["intake--collaboration"] == (
        STREAM, "jusou.collaboration.PlanProposed")


async def consumer(url: str, name: str) -> Any:
    nc = await nats_py.connect(url)
    try:
        return await nc.jetstream().consumer_info(STREAM, name)
    finally:
        await nc.close()


async def meeting_inbox_until(meeting: MeetingApplication, url: str, done: Any, what: str) -> None:
    nc = await connect(url, "test-streams")
    await ensure_streams(nc)
    await nc.close()
    broker = NatsBroker(url, logger=None)
    Inbox(meeting, broker, max_deliver=3, batch=16)
    await broker.start()
    try:
        await eventually(done, what)
    finally:
        await broker.stop()


@pytest.mark.parametrize("made_before", [False, True], ids=["new consumer", "consumer made before the filters"])
async def test_the_server_delivers_a_consumer_only_the_type_it_reacts_to(nats: Nats, tmp_path: Path,
                                                                        made_before: bool) -> None:
    intake = IntakeApplication(env=store_env(settings("intake", tmp_path, nats.url)))
    meeting = MeetingApplication(env=store_env(settings("meeting", tmp_path, nats.url)))
    case_id = escalated_case(intake)  # ConsultationReceived, CaseEscalated: not meeting's
    intake.record_consent(STAFF, case_id, "重層的支援会議での共有", True, "書面")
    escalated_case(intake)
    async with relay_running(intake, intake_translate, nats.url) as relay:
        async def published() -> bool:
            return relay.published >= 5

        await eventually(published, "intake's five events on the stream")
    if made_before:  # as every consumer was made until issue 19: every type of the source
        nc = await nats_py.connect(nats.url)
        await nc.jetstream().add_consumer(STREAM, ConsumerConfig(
            name="meeting--intake", durable_name="meeting--intake", filter_subject="jusou.intake.*",
            deliver_policy=DeliverPolicy.ALL, ack_policy=AckPolicy.EXPLICIT, max_ack_pending=1, max_deliver=-1))
        await nc.close()

    async def consent_applied() -> bool:
        info = await consumer(nats.url, "meeting--intake")
        return info.num_pending == 0 and info.num_ack_pending == 0 and info.delivered.consumer_seq >= 3

    await meeting_inbox_until(meeting, nats.url, consent_applied, "meeting to take intake's consent and escalations")
    info = await consumer(nats.url, "meeting--intake")
    # the meeting takes two types of intake's (D4: the escalations, for collaboration's plans; D9: the consent)
    assert info.config.filter_subject is None
    assert info.config.filter_subjects == ["jusou.intake.CaseEscalated", "jusou.intake.ConsentRecorded"]
    assert info.delivered.consumer_seq == 3, "the consent and the two escalations: the ConsultationReceived never"
    consent: Any = meeting.load(case_id, Consent, "同意")
    assert consent.scope == "重層的支援会議での共有"
