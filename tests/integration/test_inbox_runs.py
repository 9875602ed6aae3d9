"""Runs (issue 19): a consumer with k messages in flight applies them in one transaction, exactly once, in order.

Against a real nats-server and real SQLite; shared/messaging/inbox.py ("Runs") and
`ServiceApplication.receive_many` (shared/kernel/app.py).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from uuid import UUID

import nats as nats_py
import pytest
from eventsourcing.persistence import OperationalError
from faststream.nats import NatsBroker
from faststream.nats.subscriber.usecases.stream_pull_subscriber import PullStreamSubscriber
from pydantic import BaseModel
from support.poll import eventually
from support.servers import Nats
from test_outbox_inbox import STAFF, escalated_case, relay_running, settings

from services.collaboration.application import CollaborationApplication
from services.intake.application import IntakeApplication
from services.intake.translate import translate as intake_translate
from services.meeting.application import MeetingApplication
from shared.contract.events import STREAM, Envelope, envelope_json, parse
from shared.kernel.app import BatchFailed
from shared.kernel.store import store_env
from shared.messaging import inbox as inbox_module
from shared.messaging.bus import connect, ensure_streams
from shared.messaging.inbox import Inbox
from shared.messaging.runs import Hand, StandingPull

#: a hang (seen once at load 20+, cause not found) fails here, named, instead of holding CI to its limit
pytestmark = pytest.mark.timeout(300)


class CountingCollaboration(CollaborationApplication):
    """Counts the library's `process_event` calls: one per transaction of the inbox."""

    name = "collaboration"
    commits = 0
    fail_once: set[str] = set()

    lose_commit_once = False

    def receive_many(self, received: Any, contexts: Any = None) -> list[bool]:
        done = super().receive_many(received, contexts)
        if type(self).lose_commit_once and len(received) > 1:
            type(self).lose_commit_once = False  # recorded, but the connection is lost before the answer
            raise BatchFailed([], OperationalError("server closed the connection unexpectedly"))
        return done

    def process_event(self, domain_event: Any, tracking: Any) -> None:
        type(self).commits += 1
        super().process_event(domain_event, tracking)

    def policy(self, domain_event: Any, processing_event: Any) -> None:
        reason = getattr(getattr(domain_event, "payload", None), "reason", "")
        if reason in self.fail_once:
            self.fail_once.discard(reason)
            raise RuntimeError("handler bug, once")
        super().policy(domain_event, processing_event)


async def run_inbox(app: Any, url: str, batch: int, until: Any, what: str) -> Inbox:
    nc = await connect(url, "test-streams")
    await ensure_streams(nc)
    await nc.close()
    broker = NatsBroker(url, logger=None)
    inbox = Inbox(app, broker, max_deliver=3, batch=batch)
    await broker.start()
    try:
        async def probe() -> Any:
            found = until(inbox)
            return (await found) if asyncio.iscoroutine(found) else found

        await eventually(probe, what)
    finally:
        await broker.stop()
    return inbox


def received(app: Any, translate: Any, positions: range | None = None) -> list[tuple[Envelope, BaseModel]]:
    """The store's integration events as a consumer receives them (through their JSON)."""
    found = []
    for notification in app.notifications():
        envelope = translate(app.domain_event(notification), notification.id)
        if envelope is not None:
            found.append(parse(envelope_json(envelope)))
    return found


async def test_a_run_of_escalations_is_applied_once_in_fewer_commits(nats: Nats, tmp_path: Path) -> None:
    intake = IntakeApplication(env=store_env(settings("intake", tmp_path, nats.url)))
    collab = CountingCollaboration(env=store_env(settings("collaboration", tmp_path, nats.url)))
    # A consumer made with one message in flight (as before issue 19) is raised to k when the inbox starts with k.
    await run_inbox(collab, nats.url, 1, lambda inbox: consumer_exists(nats.url), "the consumer made")
    assert (await max_ack_pending(nats.url)) == 1
    case_ids = [escalated_case(intake) for _ in range(12)]
    async with relay_running(intake, intake_translate, nats.url) as relay:
        await eventually(lambda: asyncio.sleep(0, relay.position >= 36), "all published")
    CountingCollaboration.commits = 0
    inbox = await run_inbox(collab, nats.url, 8, lambda inbox: inbox.applied == 12, "twelve escalations applied")
    assert inbox.duplicates == 0 and inbox.dead_lettered == 0 and inbox.problems() == []
    assert CountingCollaboration.commits < 12 and inbox.runs >= 1
    assert [collab.case_view(c)["status"] for c in case_ids] == ["open"] * 12
    opened = [n for n in collab.notifications() if n.topic.endswith("CollaborationCase.Opened")]
    assert [n.originator_id for n in opened] == case_ids  # in the source's order
    assert collab.recorder.max_tracking_id("intake") == intake.recorder.max_tracking_id("jusou-relay")
    assert (await max_ack_pending(nats.url)) == 8


async def max_ack_pending(url: str, consumer: str = "collaboration--intake") -> int | None:
    nc = await nats_py.connect(url)
    try:
        info = await nc.jetstream().consumer_info(STREAM, consumer)
    except nats_py.js.errors.NotFoundError:
        return None
    finally:
        await nc.close()
    return info.config.max_ack_pending


async def consumer_exists(url: str) -> bool:
    return await max_ack_pending(url) is not None


async def test_a_run_delivered_again_after_its_commit_changes_nothing(nats: Nats, tmp_path: Path) -> None:
    """A crash between the run's commit and its acks: every message comes back and is a duplicate."""
    intake = IntakeApplication(env=store_env(settings("intake", tmp_path, nats.url)))
    collab = CountingCollaboration(env=store_env(settings("collaboration", tmp_path, nats.url)))
    for _ in range(5):
        escalated_case(intake)
    escalations = [r for r in received(intake, intake_translate) if r[0].event_type == "CaseEscalated"]
    assert collab.receive_many(escalations) == [True] * 5  # committed, never acked
    before = collab.recorder.max_notification_id()
    async with relay_running(intake, intake_translate, nats.url):
        inbox = await run_inbox(collab, nats.url, 8, lambda inbox: inbox.duplicates == 5, "five duplicates")
    assert inbox.applied == 0 and inbox.problems() == []
    assert collab.recorder.max_notification_id() == before


async def test_a_run_whose_commit_was_recorded_but_not_answered_is_not_taken_for_a_forged_tracking(
        nats: Nats, tmp_path: Path) -> None:
    """A connection lost in the commit: the run is recorded, the inbox learns nothing. Tried again, each message
    is a duplicate, acked, and none is reported as a real event hidden behind the tracking (`problems`), nor is a
    copy of one of them that the stream holds later (a republish its duplicate window missed)."""
    intake = IntakeApplication(env=store_env(settings("intake", tmp_path, nats.url)))
    collab = CountingCollaboration(env=store_env(settings("collaboration", tmp_path, nats.url)))
    case_ids = [escalated_case(intake) for _ in range(5)]
    async with relay_running(intake, intake_translate, nats.url) as relay:
        await eventually(lambda: asyncio.sleep(0, relay.position >= 15), "all published")
    nc = await nats_py.connect(nats.url)
    for n, (envelope, _) in enumerate(received(intake, intake_translate)):  # the fault harness's "every message twice"
        await nc.jetstream().publish(envelope.subject, envelope_json(envelope), stream=STREAM,
                                     headers={"Nats-Msg-Id": f"copy-{n}"})
    await nc.close()
    CountingCollaboration.lose_commit_once = True
    inbox = await run_inbox(collab, nats.url, 8, lambda inbox: inbox.applied + inbox.duplicates == 10, "all ten")
    assert not CountingCollaboration.lose_commit_once
    assert inbox.duplicates >= 7 and inbox.problems() == [] and inbox.dead_lettered == 0
    opened = [n.originator_id for n in collab.notifications() if n.topic.endswith("CollaborationCase.Opened")]
    assert opened == case_ids


async def test_a_failing_handler_in_a_run_is_retried_alone_and_the_rest_follow_in_order(nats: Nats,
                                                                                      tmp_path: Path) -> None:
    intake = IntakeApplication(env=store_env(settings("intake", tmp_path, nats.url)))
    collab = CountingCollaboration(env=store_env(settings("collaboration", tmp_path, nats.url)))
    CountingCollaboration.fail_once = {"once"}
    case_ids = [escalated_case(intake, reason="once" if i == 2 else "複合的な課題") for i in range(6)]
    async with relay_running(intake, intake_translate, nats.url) as relay:
        await eventually(lambda: asyncio.sleep(0, relay.position >= 18), "all published")
    inbox = await run_inbox(collab, nats.url, 8, lambda inbox: inbox.applied == 6, "all six applied")
    assert inbox.dead_lettered == 0 and not CountingCollaboration.fail_once
    opened = [n.originator_id for n in collab.notifications() if n.topic.endswith("CollaborationCase.Opened")]
    assert opened == case_ids


async def test_messages_a_dead_process_had_fetched_are_applied_before_the_later_ones(
        nats: Nats, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A process fetched a case's escalation and died (SIGKILL mid-run): the message stays pending until its ack
    wait runs out. With k in flight the server meanwhile gives the next process the later messages; applied
    first, they would move the tracking past the lost one, which then comes back as a duplicate and is acked
    unapplied (the clean-clone CI's lost plan revision and hand-over). The inbox waits for it instead."""
    monkeypatch.setattr(inbox_module, "ACK_WAIT_SECONDS", 1)  # the redelivery comes sooner; the order is the test
    intake = IntakeApplication(env=store_env(settings("intake", tmp_path, nats.url)))
    collab = CountingCollaboration(env=store_env(settings("collaboration", tmp_path, nats.url)))
    await run_inbox(collab, nats.url, 8, lambda inbox: consumer_exists(nats.url), "the consumer made")
    case_ids = [escalated_case(intake) for _ in range(4)]
    async with relay_running(intake, intake_translate, nats.url) as relay:
        await eventually(lambda: asyncio.sleep(0, relay.position >= 12), "all published")
    dead = await nats_py.connect(nats.url)
    fetched = await (await dead.jetstream().pull_subscribe_bind("collaboration--intake", STREAM)).fetch(2, timeout=2)
    await dead.close()  # never acked: the process is gone
    # collaboration's consumer is delivered intake's escalations only (its filters, natsauth.consumer_filters)
    assert [parse(m.data)[0].event_type for m in fetched] == ["CaseEscalated", "CaseEscalated"]
    inbox = await run_inbox(collab, nats.url, 8, lambda inbox: inbox.applied == 4 or inbox.duplicates, "all four")
    assert (inbox.applied, inbox.duplicates) == (4, 0), "a later escalation overtook the one the dead process held"
    assert inbox.awaited == 1 and inbox.problems() == []
    opened = [n.originator_id for n in collab.notifications() if n.topic.endswith("CollaborationCase.Opened")]
    assert opened == case_ids


def test_events_of_one_case_in_a_run_see_each_other(tmp_path: Path, nats: Nats) -> None:
    """The meeting's consent handler loads the case's consent and changes it, or creates it: the second
    ConsentRecorded of a case in the same run must find the first one's (recorded first, then run again)."""
    intake = IntakeApplication(env=store_env(settings("intake", tmp_path, nats.url)))
    meeting = MeetingApplication(env=store_env(settings("meeting", tmp_path, nats.url)))
    one = escalated_case(intake)
    other = escalated_case(intake)
    intake.record_consent(STAFF, one, "重層的支援会議での共有", True, "書面")
    intake.record_consent(STAFF, other, "重層的支援会議での共有", True, "書面")
    intake.record_consent(STAFF, one, "関係機関への提供", True, "書面")
    consents = [r for r in received(intake, intake_translate) if r[0].event_type == "ConsentRecorded"]
    assert [e.case_id for e, _ in consents] == [one, other, one]
    assert meeting.receive_many(consents) == [True, True, True]
    assert meeting.receive_many(consents) == [False, False, False]
    assert consent_scope(meeting, one) == "関係機関への提供"
    assert consent_scope(meeting, other) == "重層的支援会議での共有"


def consent_scope(meeting: MeetingApplication, case_id: UUID) -> str:
    from services.meeting.domain import Consent

    consent: Any = meeting.load(case_id, Consent, "同意")
    return str(consent.scope)


def test_faststream_still_has_the_pull_loop_the_inbox_wraps() -> None:
    """shared/messaging/inbox.py replaces `PullStreamSubscriber._consume_pull(cb)` per consumer (FastStream 0.7)."""
    import inspect

    assert list(inspect.signature(PullStreamSubscriber._consume_pull).parameters) == ["self", "cb"]


async def test_a_run_is_applied_only_when_the_stream_from_the_ack_floor_to_the_last_delivery_is_in_hand(
        nats: Nats, tmp_path: Path) -> None:
    """`Inbox.accounted`: every message of the consumer's subjects from its ack floor to its last delivery must be
    held (or settled here) with the same content, or acked: one delivered and pending elsewhere is waited for; one
    held whose content the stream holds otherwise (delivered before NATS restarted and lost its tail) is let go,
    unacked; one acked out of order (a poison parked, by a process before this one) is no reason to wait."""
    intake = IntakeApplication(env=store_env(settings("intake", tmp_path, nats.url)))
    collab = CountingCollaboration(env=store_env(settings("collaboration", tmp_path, nats.url)))
    await run_inbox(collab, nats.url, 8, lambda inbox: consumer_exists(nats.url), "the consumer made")
    for _ in range(4):  # its consumer is delivered the escalations only (stream 2, 4, 6, 8: natsauth.consumer_filters)
        escalated_case(intake)
    async with relay_running(intake, intake_translate, nats.url) as relay:
        await eventually(lambda: asyncio.sleep(0, relay.position >= 12), "all published")
    nc = await nats_py.connect(nats.url)
    try:
        js = nc.jetstream()
        subscription = await js.pull_subscribe_bind("collaboration--intake", STREAM)
        fetched = await subscription.fetch(4, timeout=2)
        assert [m.metadata.sequence.stream for m in fetched] == [2, 4, 6, 8]
        consumer = SimpleNamespace(subscription=subscription, jetstream=js)
        inbox = Inbox(collab, NatsBroker(nats.url, logger=None), max_deliver=3, batch=8)

        def hand(*messages: Any) -> Hand:
            made = Hand()
            made.take(list(messages))
            return made

        one, two, three, four = fetched
        pending_elsewhere = hand(one, two, four)
        assert not await inbox.accounted(consumer, pending_elsewhere, "intake")
        assert sorted(pending_elsewhere.held) == [2, 4, 8] and inbox.awaited == 1

        whole = hand(one, two, three, four)
        assert await inbox.accounted(consumer, whole, "intake")
        assert whole.ready and whole.next_delivery == 5

        real = four.data
        four.data = two.data  # what sequence 4 held before the tail was lost: another message now
        stale = hand(one, two, three, four)
        assert not await inbox.accounted(consumer, stale, "intake")
        assert sorted(stale.held) == [2, 4, 6]
        four.data = real

        await three.ack_sync()  # acked before the ones ahead of it were settled
        acked_out_of_order = hand(one, two, four)
        assert await inbox.accounted(consumer, acked_out_of_order, "intake")
        assert sorted(acked_out_of_order.held) == [2, 4, 8]
        assert (await js.consumer_info(STREAM, "collaboration--intake")).num_ack_pending == 3  # nothing else acked
    finally:
        await nc.close()


async def test_a_delivery_on_its_way_to_the_consumers_own_pull_is_not_waited_for_as_pending_elsewhere(
        nats: Nats, tmp_path: Path) -> None:
    """With k in flight the server delivers ahead on the standing pull, and counts a delivery (`consumer_info`'s
    `delivered`) before the message reaches the connection: `Inbox.accounted` takes what arrives on its own pull
    up to the last delivery instead of holding the run for a redelivery (`inbox.awaiting_redelivery` in normal runs).
    A message delivered to another subscription (a process that died) is still waited for."""
    intake = IntakeApplication(env=store_env(settings("intake", tmp_path, nats.url)))
    collab = CountingCollaboration(env=store_env(settings("collaboration", tmp_path, nats.url)))
    await run_inbox(collab, nats.url, 8, lambda inbox: consumer_exists(nats.url), "the consumer made")
    for _ in range(4):  # its consumer is delivered the four escalations only (natsauth.consumer_filters)
        escalated_case(intake)
    async with relay_running(intake, intake_translate, nats.url) as relay:
        await eventually(lambda: asyncio.sleep(0, relay.position >= 12), "all published")
    nc = await nats_py.connect(nats.url)
    try:
        js = nc.jetstream()
        subscription = await js.pull_subscribe_bind("collaboration--intake", STREAM)
        consumer = SimpleNamespace(subscription=subscription, jetstream=js)
        inbox = Inbox(collab, NatsBroker(nats.url, logger=None), max_deliver=3, batch=8)

        pull = StandingPull(nc, STREAM, "collaboration--intake", "_INBOX.test", batch=64)
        await pull.start()
        first = await pull.get(2, at_most=2)
        await eventually(lambda: asyncio.sleep(0, len(first) + len(pull.queue) == 4), "all four delivered to the pull")
        assert len(first) == 2
        on_the_way = list(pull.queue)  # as if the server had counted them and they were not yet here
        pull.queue.clear()
        pull.last_delivery = first[-1].metadata.sequence.consumer
        asyncio.get_running_loop().call_later(0.02, lambda: [pull._arrived(m) for m in on_the_way])

        without_the_pull = Hand()
        without_the_pull.take(first)
        assert not await inbox.accounted(consumer, without_the_pull, "intake")  # what it did before: wait
        assert inbox.awaited == 1

        hand = Hand()
        hand.take(first)
        assert await inbox.accounted(consumer, hand, "intake", pull)
        assert sorted(hand.held) == [2, 4, 6, 8] and hand.next_delivery == 5
        assert inbox.awaited == 1  # no second wait
        await pull.stop()
        for msg in [*first, *on_the_way]:
            await msg.nak()  # all four delivered again

        # one of them delivered to another subscription (a process that died): waited for
        elsewhere = await subscription.fetch(1, timeout=5)
        pull = StandingPull(nc, STREAM, "collaboration--intake", "_INBOX.test", batch=64)
        await pull.start()
        arrived = await pull.get(5, at_most=8)
        await eventually(lambda: asyncio.sleep(0, len(arrived) + len(pull.queue) == 3), "the other three delivered to the pull")
        arrived += list(pull.queue)
        pull.queue.clear()
        hand = Hand()
        hand.take(arrived)
        assert elsewhere[0].metadata.sequence.stream not in hand.held
        assert not await inbox.accounted(consumer, hand, "intake", pull)
        assert inbox.awaited == 2
        await pull.stop()
    finally:
        await nc.close()


async def test_the_relay_decodes_only_the_events_that_leave_the_service(nats: Nats, tmp_path: Path) -> None:
    """A translate function naming its public classes (`public_classes`): the relay skips the others undecoded
    (intake's Person records, decrypted with their key for nothing before issue 19), and publishes the same."""
    from services.intake.domain import Case

    intake = IntakeApplication(env=store_env(settings("intake", tmp_path, nats.url)))
    escalated_case(intake)  # a Person, Case.Received, Case.Escalated

    def translate(event: Any, position: int) -> Any:
        return intake_translate(event, position)

    translate.public_classes = frozenset({Case.Received, Case.Escalated})  # type: ignore[attr-defined]
    decoded: list[str] = []
    to_domain_event = intake.mapper.to_domain_event

    def counted(stored: Any) -> Any:
        decoded.append(stored.topic)
        return to_domain_event(stored)

    intake.mapper.to_domain_event = counted  # type: ignore[method-assign]
    async with relay_running(intake, translate, nats.url) as relay:
        await eventually(lambda: asyncio.sleep(0, relay.position >= 3), "the relay past all three")
    assert relay.published == 2
    assert [t.rsplit(".", 1)[-1] for t in decoded] == ["Received", "Escalated"]
