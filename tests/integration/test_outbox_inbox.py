"""The one road out and the one road in, against a real nats-server and real SQLite."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import nats as nats_py
import pytest
from faststream.nats import NatsBroker
from support.municipality import ELDERLY, LEAD_NAME
from support.poll import eventually
from support.servers import Nats

from services.collaboration.application import CollaborationApplication
from services.intake.application import IntakeApplication
from services.intake.translate import translate as intake_translate
from shared.contract.events import DEAD_LETTER_STREAM, STREAM, parse
from shared.kernel.store import store_env
from shared.messaging.bus import connect, ensure_streams
from shared.messaging.inbox import Inbox
from shared.messaging.relay import Relay
from shared.settings import Settings

STAFF = {"staff_id": "s-001", "division": ELDERLY.division}


def settings(service: str, data_dir: Path, nats_url: str) -> Settings:
    import os

    os.environ["JUSOU_DATA_DIR"] = str(data_dir)
    os.environ["NATS_URL"] = nats_url
    return Settings.from_env(service)


def escalated_case(app: IntakeApplication, reason: str = "複合的な課題") -> UUID:
    case_id = app.receive_consultation(STAFF, ELDERLY.code, ELDERLY.division, "窓口",
                                       ["高齢・介護", "ひきこもり"], {"name": "調布 花子"}, None)
    app.escalate_case(STAFF, case_id, reason, ELDERLY.ja)
    return case_id


@asynccontextmanager
async def relay_running(app: Any, translate: Any, url: str) -> AsyncIterator[Relay]:
    nc = await connect(url, "test-relay")
    await ensure_streams(nc)
    relay = Relay(app, translate, nc, poll_seconds=5.0)
    task = asyncio.create_task(relay.run())
    try:
        yield relay
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await nc.close()


@asynccontextmanager
async def inbox_running(app: Any, url: str, max_deliver: int = 3) -> AsyncIterator[Inbox]:
    nc = await connect(url, "test-streams")
    await ensure_streams(nc)
    await nc.close()
    broker = NatsBroker(url, logger=None)
    inbox = Inbox(app, broker, max_deliver)
    await broker.start()
    try:
        yield inbox
    finally:
        await broker.stop()


async def stream_messages(url: str, stream: str = STREAM) -> list[Any]:
    nc = await nats_py.connect(url)
    js = nc.jetstream()
    info = await js.stream_info(stream)
    msgs = [await js.get_msg(stream, seq) for seq in range(info.state.first_seq, info.state.last_seq + 1)] if info.state.messages else []
    await nc.close()
    return msgs


async def test_outbox_publishes_in_store_order_with_msg_id(nats: Nats, tmp_path: Path) -> None:
    intake = IntakeApplication(env=store_env(settings("intake", tmp_path, nats.url)))
    case_ids = [escalated_case(intake) for _ in range(5)]
    async with relay_running(intake, intake_translate, nats.url) as relay:
        await eventually(lambda: asyncio.sleep(0, relay.position >= 15), "relay to reach the store head")
    msgs = await stream_messages(nats.url)
    envelopes = [parse(m.data)[0] for m in msgs]
    assert [e.event_type for e in envelopes] == ["ConsultationReceived", "CaseEscalated"] * 5
    assert [e.case_id for e in envelopes[::2]] == case_ids
    positions = [e.source_position for e in envelopes]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)
    for m, e in zip(msgs, envelopes, strict=True):
        assert m.headers["Nats-Msg-Id"] == str(e.event_id)
        assert m.subject == f"jusou.intake.{e.event_type}"


async def test_outbox_wakes_on_commit_within_milliseconds(nats: Nats, tmp_path: Path) -> None:
    intake = IntakeApplication(env=store_env(settings("intake", tmp_path, nats.url)))
    async with relay_running(intake, intake_translate, nats.url) as relay:  # polls only every 5 s
        await eventually(lambda: asyncio.sleep(0, relay.position == 0 and relay._loop is not None), "relay start")
        await asyncio.to_thread(escalated_case, intake)
        await eventually(lambda: asyncio.sleep(0, relay.published == 2), "publish after commit", deadline_s=2.0)


async def test_outbox_resumes_after_restart_without_loss_or_duplicates(nats: Nats, tmp_path: Path) -> None:
    env = store_env(settings("intake", tmp_path, nats.url))
    intake = IntakeApplication(env=env)
    escalated_case(intake)
    async with relay_running(intake, intake_translate, nats.url) as relay:
        await eventually(lambda: asyncio.sleep(0, relay.position >= 3), "first publish")
    intake.close()
    # Written while no relay runs, then a new process (a new Application on the same file).
    intake = IntakeApplication(env=env)
    escalated_case(intake)
    assert intake.relay_position() == 3
    async with relay_running(intake, intake_translate, nats.url) as relay:
        await eventually(lambda: asyncio.sleep(0, relay.position >= 6), "resume")
    envelopes = [parse(m.data)[0] for m in await stream_messages(nats.url)]
    # Position 1 and 4 are the Person records, which never leave intake.
    assert [e.source_position for e in envelopes] == [2, 3, 5, 6]
    assert len({e.event_id for e in envelopes}) == len(envelopes) == 4


async def test_outbox_republish_is_deduplicated_by_msg_id(nats: Nats, tmp_path: Path) -> None:
    intake = IntakeApplication(env=store_env(settings("intake", tmp_path, nats.url)))
    escalated_case(intake)
    async with relay_running(intake, intake_translate, nats.url) as relay:
        await eventually(lambda: asyncio.sleep(0, relay.position >= 3), "publish")
        relay.position = 0  # as if the position had not been saved before a crash
        await relay.publish_pending()
    assert len(await stream_messages(nats.url)) == 2


async def test_inbox_applies_each_event_once_even_when_delivered_twice(nats: Nats, tmp_path: Path) -> None:
    intake = IntakeApplication(env=store_env(settings("intake", tmp_path, nats.url)))
    collab = CollaborationApplication(env=store_env(settings("collaboration", tmp_path, nats.url)))
    case_id = escalated_case(intake)
    async with relay_running(intake, intake_translate, nats.url) as relay:
        await eventually(lambda: asyncio.sleep(0, relay.position >= 3), "publish")
    escalation = next(m for m in await stream_messages(nats.url) if m.subject.endswith("CaseEscalated"))
    nc = await nats_py.connect(nats.url)
    # The same event again under another Nats-Msg-Id: the stream keeps it, the inbox must not apply it.
    await nc.jetstream().publish(escalation.subject, escalation.data, headers={"Nats-Msg-Id": "again"})
    await nc.close()
    async with inbox_running(collab, nats.url) as inbox:
        await eventually(lambda: asyncio.sleep(0, inbox.applied + inbox.duplicates == 2), "both deliveries")
        assert (inbox.applied, inbox.duplicates) == (1, 1)
        assert inbox.problems() == []  # a copy of an applied event is a true duplicate, nothing to report
    assert collab.case_view(case_id)["status"] == "open"
    opened = [n for n in collab.notifications() if n.topic.endswith("CollaborationCase.Opened")]
    assert len(opened) == 1


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"\xff not json", "not UTF-8 JSON"),
        (json.dumps({"hello": "world"}).encode(), "invalid envelope"),
    ],
)
async def test_inbox_sends_poison_message_to_dead_letter_and_goes_on(
    nats: Nats, tmp_path: Path, body: bytes, reason: str
) -> None:
    intake = IntakeApplication(env=store_env(settings("intake", tmp_path, nats.url)))
    collab = CollaborationApplication(env=store_env(settings("collaboration", tmp_path, nats.url)))
    nc = await connect(nats.url, "poison")
    await ensure_streams(nc)
    await nc.jetstream().publish("jusou.intake.CaseEscalated", body)
    await nc.close()
    case_id = escalated_case(intake)
    async with relay_running(intake, intake_translate, nats.url), inbox_running(collab, nats.url) as inbox:
        await eventually(lambda: asyncio.sleep(0, inbox.applied == 1), "the valid escalation after the poison")
        assert inbox.dead_lettered == 1
    assert collab.case_view(case_id)["status"] == "open"
    [dead] = await stream_messages(nats.url, DEAD_LETTER_STREAM)
    assert dead.subject == "jusou-dlq.collaboration.intake.CaseEscalated"
    assert reason in dead.headers["Jusou-Dead-Letter-Reason"]
    assert dead.data == body


class FailingCollaboration(CollaborationApplication):
    """A handler that always raises for one case: the bug is in our code, not in the message."""

    name = "collaboration"

    def policy(self, domain_event: Any, processing_event: Any) -> None:
        if getattr(domain_event.payload, "reason", "") == "boom":
            raise RuntimeError("handler bug")
        super().policy(domain_event, processing_event)


async def test_inbox_retries_a_failing_handler_then_dead_letters_it_and_goes_on(nats: Nats, tmp_path: Path) -> None:
    intake = IntakeApplication(env=store_env(settings("intake", tmp_path, nats.url)))
    collab = FailingCollaboration(env=store_env(settings("collaboration", tmp_path, nats.url)))
    escalated_case(intake, reason="boom")
    good = escalated_case(intake)
    async with relay_running(intake, intake_translate, nats.url), inbox_running(collab, nats.url, max_deliver=3) as inbox:
        await eventually(lambda: asyncio.sleep(0, inbox.applied == 1), "the next escalation after the failing one")
        assert inbox.dead_lettered == 1
    assert collab.case_view(good)["status"] == "open"
    [dead] = await stream_messages(nats.url, DEAD_LETTER_STREAM)
    assert "failed 3 times" in dead.headers["Jusou-Dead-Letter-Reason"]
    assert "handler bug" in dead.headers["Jusou-Dead-Letter-Reason"]


async def test_outbox_relay_outlives_a_store_that_fails_for_a_while(nats: Nats, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A database restart surfaces in the relay as the store's OperationalError (found by the long PostgreSQL
    fault run: the relay task ended there and the service published nothing more until restarted)."""
    from eventsourcing.persistence import OperationalError

    intake = IntakeApplication(env=store_env(settings("intake", tmp_path, nats.url)))
    escalated_case(intake)
    real = intake.recorder.select_notifications
    failures = {"left": 3}

    def failing(*args: Any, **kwargs: Any) -> Any:
        if failures["left"]:
            failures["left"] -= 1
            raise OperationalError("terminating connection due to administrator command")
        return real(*args, **kwargs)

    monkeypatch.setattr(intake.recorder, "select_notifications", failing)
    async with relay_running(intake, intake_translate, nats.url) as relay:
        await eventually(lambda: asyncio.sleep(0, relay.published == 2), "the relay to publish once the store answers")
        await asyncio.to_thread(escalated_case, intake)
        await eventually(lambda: asyncio.sleep(0, relay.published == 4), "the relay to go on publishing")
    assert failures["left"] == 0


def forged(source: str, event_type: str, position: int, payload: dict[str, Any]) -> bytes:
    return json.dumps({
        "event_id": str(uuid4()), "event_type": event_type, "schema_version": 1, "source": source,
        "source_position": position, "case_id": str(uuid4()), "occurred_at": "2026-12-01T09:00:00+00:00",
        "correlation_id": str(uuid4()), "causation_id": None, "actor": {"service": source}, "payload": payload,
    }).encode()


ESCALATION = {"reason": "forged", "concerns": ["ひきこもり"], "primary_agency": ELDERLY.ja}


async def test_trust_inbox_dead_letters_an_envelope_that_disagrees_with_its_subject(nats: Nats, tmp_path: Path) -> None:
    intake = IntakeApplication(env=store_env(settings("intake", tmp_path, nats.url)))
    collab = CollaborationApplication(env=store_env(settings("collaboration", tmp_path, nats.url)))
    body = forged("meeting", "MeetingDecided", 1_000_000, {
        "meeting_id": str(uuid4()), "meeting_type": "jusou_shien_kaigi", "plan_id": str(uuid4()),
        "decision": "approved", "attendees": [LEAD_NAME], "reasons": "forged"})
    nc = await connect(nats.url, "forger")
    await ensure_streams(nc)
    await nc.jetstream().publish("jusou.intake.CaseEscalated", body)
    await nc.close()
    case_id = escalated_case(intake)
    async with relay_running(intake, intake_translate, nats.url), inbox_running(collab, nats.url) as inbox:
        await eventually(lambda: asyncio.sleep(0, inbox.applied == 1), "the real escalation after the forged one")
        assert inbox.dead_lettered == 1
    assert collab.case_view(case_id)["status"] == "open"
    assert collab.recorder.max_tracking_id("meeting") is None
    [dead] = await stream_messages(nats.url, DEAD_LETTER_STREAM)
    assert dead.data == body
    assert "the subject is the authority" in dead.headers["Jusou-Dead-Letter-Reason"]


async def test_trust_relay_reports_a_message_on_its_subjects_its_store_never_recorded(nats: Nats, tmp_path: Path) -> None:
    intake = IntakeApplication(env=store_env(settings("intake", tmp_path, nats.url)))
    escalated_case(intake)
    async with relay_running(intake, intake_translate, nats.url) as relay:
        relay.poll_seconds = 0.1
        await eventually(lambda: asyncio.sleep(0, relay.published == 2), "the real events published")
        nc = await connect(nats.url, "forger")
        ack = await nc.jetstream().publish("jusou.intake.CaseEscalated", forged("intake", "CaseEscalated", 1_000_000,
                                                                                ESCALATION))
        await nc.close()
        [problem] = await eventually(lambda: asyncio.sleep(0, relay.problems()), "the relay to notice it")
        assert f"seq {ack.seq}" in problem and "1000000" in problem
        await asyncio.to_thread(escalated_case, intake)  # and it goes on publishing after it
        await eventually(lambda: asyncio.sleep(0, relay.published == 4), "the next events published")
    assert relay.foreign_count == 1


async def test_trust_inbox_reports_real_events_skipped_behind_a_forged_tracking(nats: Nats, tmp_path: Path) -> None:
    intake = IntakeApplication(env=store_env(settings("intake", tmp_path, nats.url)))
    collab = CollaborationApplication(env=store_env(settings("collaboration", tmp_path, nats.url)))
    escalated_case(intake)
    async with relay_running(intake, intake_translate, nats.url) as relay, inbox_running(collab, nats.url) as inbox:
        await eventually(lambda: asyncio.sleep(0, inbox.applied == 1), "the first real escalation")
        assert inbox.problems() == []
        nc = await connect(nats.url, "forger")
        await nc.jetstream().publish("jusou.intake.CaseEscalated", forged("intake", "CaseEscalated", 1_000_000,
                                                                          ESCALATION))
        await nc.close()
        await eventually(lambda: asyncio.sleep(0, inbox.applied == 2), "the forged escalation")
        hidden = await asyncio.to_thread(escalated_case, intake)
        await eventually(lambda: asyncio.sleep(0, inbox.duplicates == 1), "the real escalation taken for a duplicate")
        # the inbox counts the duplicate before it notes the problem (an await later): wait for the note itself
        await eventually(lambda: asyncio.sleep(0, inbox.problems()), "the skipped real escalation reported")
        [problem] = inbox.problems()
        assert problem.startswith("collaboration--intake: tracking 1000000")
        assert relay.published == 4
    with pytest.raises(Exception, match="not found"):
        collab.case_view(hidden)
