"""Inbox: the one road in (STYLE 7), as FastStream JetStream subscribers.

One durable pull consumer per upstream source (`<service>--<source>`), one message in flight
(`max_ack_pending=1`), so each upstream's events arrive in `source_position` order, as the
tracking records need. The effect and its tracking record commit together; the message is
acked after the commit. A handler failure is nak'ed with a growing delay and, after
`max_deliver` tries, published to the dead-letter stream with its reason and terminated. A
message that can never be processed (not JSON, unknown type, invalid payload) goes to the
dead-letter stream at once. Nothing is dropped silently.

The subject is the authority (CONTRACT.md, "The bus"): the NATS server lets each service publish
only `jusou.<itself>.>`, so the subject, not the body, says who sent a message. One whose
envelope names another `source` or `event_type` than its subject `jusou.<source>.<EventType>`
is dead-lettered with the reason and never applied (`refusal`); so is a `source_position` no
store can have (above `MAX_SOURCE_POSITION`; below 1 the envelope itself refuses).

A message that agrees with its subject but claims a far position (a source's password stolen,
`source_position: 1000000`) cannot be told from a real one here: its source alone knows what it
recorded. Applied, it moves the tracking record (one row per source, the highest position) past
every real event still to come, and those are then acked as duplicates. That is made visible:
- here, each event skipped as a duplicate although it came after the message that set the
  tracking and is not one this process applied (`BehindTracking`): real events of a source come
  in rising positions, so one of the two is not the source's (readyz `degraded`, /metrics
  `jusou_consumer_skipped_behind_tracking_total`);
- at the source, its relay reports a message on its own subjects that its store never recorded
  (shared/messaging/relay.py, `foreign`);
- `jusou status` compares every consumer's tracking (readyz `tracking`) with its source's store
  head, as `jusou audit verify` does (`jusou.verify.tracking_beyond`), and fails.
How an operator recovers is in README, "Operating".
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import anyio
import structlog
from faststream import AckPolicy
from faststream.nats import ConsumerConfig, JStream, NatsBroker, NatsMessage, PullSub
from nats.js.api import DeliverPolicy

from shared.contract.events import (
    DEAD_LETTER_PREFIX,
    DEAD_LETTER_STREAM,
    STREAM,
    SUBJECT_PREFIX,
    Envelope,
    PoisonMessage,
    parse,
)
from shared.kernel.app import ServiceApplication
from shared.messaging.natsauth import pull_inbox_prefix
from shared.observe.logs import bind_event, unbind_event
from shared.observe.tracing import consuming, trace_headers

log = structlog.get_logger()

#: A message whose consumer died unacked comes back after this long. Handlers take
#: milliseconds; a short wait lets a restarted service resume the journey quickly.
ACK_WAIT_SECONDS = 5
#: No store reaches this position (a notification id; 10 000 events a second for 28 000 years), and
#: beyond it a JSON reader may round the number. PostgreSQL and SQLite would take up to 2**63 − 1.
MAX_SOURCE_POSITION = 2**53 - 1
#: Positions applied by this process remembered per source, to tell a copy of an applied event
#: (a republish the stream's duplicate window missed) from a real event hidden behind the tracking.
REMEMBERED_POSITIONS = 4096


def dead_letter_subject(service: str, subject: str) -> str:
    """`jusou-dlq.<consumer>.<source>.<EventType>`."""
    return f"{DEAD_LETTER_PREFIX}.{service}.{subject.removeprefix(SUBJECT_PREFIX + '.')}"


def refusal(subject: str, envelope: Envelope) -> str | None:
    """Why a parsed message must not be applied, whatever its body says; None when it may be.

    `subject` is where it was published, `jusou.<source>.<EventType>` (for a replay, the original
    subject): the NATS server let only `<source>` publish there, so the envelope must agree with it.
    """
    prefix, _, rest = subject.partition(".")
    source, _, event_type = rest.partition(".")
    if prefix != SUBJECT_PREFIX or not source or not event_type or "." in event_type:
        return f"subject {subject} is not jusou.<source>.<EventType>: the subject names who sent a message"
    if envelope.source != source or envelope.event_type != event_type:
        return (f"envelope says source {envelope.source}, event_type {envelope.event_type}, but it was published "
                f"on subject {subject} (source {source}, event type {event_type}); the subject is the authority "
                f"(only {source} may publish there): not applied")
    if envelope.source_position > MAX_SOURCE_POSITION:
        return (f"source_position {envelope.source_position} is beyond any store (at most {MAX_SOURCE_POSITION}): "
                f"not a position {source} can have recorded")
    return None


@dataclass
class BehindTracking:
    """Real events of a source skipped as duplicates behind a tracking position some message moved past them."""

    source: str
    tracking: int  # the tracking record's position
    set_by_seq: int | None  # the JUSOU stream sequence of the message that set it (None: not in this process)
    skipped: int = 0
    last_seq: int = 0
    last_position: int = 0

    def problem(self, service: str) -> str:
        by = f" (set by JUSOU seq {self.set_by_seq})" if self.set_by_seq else ""
        return (f"{service}--{self.source}: tracking {self.tracking}{by} is ahead of "
                f"{self.skipped} later message(s) from {self.source} skipped as duplicates (last: seq {self.last_seq}, "
                f"position {self.last_position}); {self.source} may never have recorded position {self.tracking} "
                f"(README, Operating: a consumer's tracking beyond its source)")


class Inbox:
    """Counts what the consumers did, for /readyz and the tests."""

    def __init__(self, app: ServiceApplication, broker: NatsBroker, max_deliver: int) -> None:
        self.app = app
        self.broker = broker
        self.max_deliver = max_deliver
        self.applied = 0
        self.duplicates = 0
        self.dead_lettered = 0
        #: per source: (JUSOU sequence, position) of the last message this process applied
        self.last_applied: dict[str, tuple[int, int]] = {}
        #: per source: position → event_id of the events this process applied (the last REMEMBERED_POSITIONS)
        self.applied_ids: dict[str, OrderedDict[int, str]] = {}
        #: per source: the tracking when this process first met it (raised as `applied_ids` forgets)
        self.floor: dict[str, int] = {}
        #: per source: real events skipped behind the tracking (see the module's docstring)
        self.behind: dict[str, BehindTracking] = {}
        #: after each try of an event: (envelope, outcome, seconds, tries[, via]); /metrics sets it (shared/web/metrics.py)
        self.observe: Callable[..., None] = lambda *args: None
        for source, event_types in app.subscriptions.items():
            self._subscribe(source, frozenset(event_types))

    def _subscribe(self, source: str, event_types: frozenset[str]) -> None:
        service = self.app.service

        @self.broker.subscriber(
            f"{SUBJECT_PREFIX}.{source}.*",
            stream=JStream(STREAM, declare=False),
            durable=f"{service}--{source}",
            pull_sub=PullSub(batch_size=1, timeout=2.0),
            inbox_prefix=pull_inbox_prefix(service),  # its NATS user may read no other inbox
            config=ConsumerConfig(
                durable_name=f"{service}--{source}",
                deliver_policy=DeliverPolicy.ALL,
                max_ack_pending=1,
                ack_wait=ACK_WAIT_SECONDS,
                max_deliver=-1,
            ),
            ack_policy=AckPolicy.MANUAL,
            title=f"{service}--{source}",
            description=f"{service} reacts to {', '.join(sorted(event_types))} from {source}",
        )
        async def handle() -> None:
            # The message from FastStream's context rather than a `NatsMessage` parameter:
            # fast_depends resolves such a parameter in a worker thread, one more thread hop on
            # every event's path (bench/ --profile: `run_in_threadpool` under `CallModel.asolve`).
            await self.handle(self.broker.context.get_local("message"), event_types)

    async def handle(self, msg: NatsMessage, event_types: frozenset[str]) -> None:
        unbind_event()  # this consumer's task handles one message after another
        raw = msg.raw_message
        subject = raw.subject
        if subject.rsplit(".", 1)[-1] not in event_types:
            await msg.ack()
            return
        try:
            envelope, payload = parse(raw.data)
        except PoisonMessage as exc:
            await self.dead_letter(msg, exc.reason)
            return
        refused = refusal(subject, envelope)
        if refused is not None:
            await self.dead_letter(msg, refused)
            return
        await self.start_from(envelope.source)
        bind_event(envelope)  # every line until the next message: case_id, event_id, correlation_id
        began = time.perf_counter()
        try:
            with consuming(self.app.service, envelope, raw.headers):  # its effects carry this span on
                applied = await anyio.to_thread.run_sync(self.app.receive, envelope, payload)
        except Exception as exc:  # noqa: BLE001 - the dead-letter boundary: every failure is retried, then parked
            tries = raw.metadata.num_delivered
            self.observe(envelope, "failed", time.perf_counter() - began, tries)
            reason = f"{type(exc).__name__}: {exc}"
            if tries >= self.max_deliver:
                await self.dead_letter(msg, f"failed {tries} times; last error {reason}")
            else:
                log.warning("inbox.retry", service=self.app.service, subject=subject, tries=tries, error=reason)
                await msg.nack(delay=min(0.2 * 2**tries, 10.0))
            return
        self.observe(envelope, "applied" if applied else "duplicate", time.perf_counter() - began, raw.metadata.num_delivered)
        if applied:
            self.applied += 1
        else:
            self.duplicates += 1
        await self.note(envelope, raw.metadata.sequence.stream, raw.metadata.num_delivered, applied)
        log.info("inbox.applied" if applied else "inbox.duplicate", source_position=envelope.source_position)
        await msg.ack()

    async def note(self, envelope: Envelope, seq: int, tries: int, applied: bool) -> None:
        """Remember what was applied; report a duplicate that no applied event explains (module docstring).

        On its first delivery a real event is a duplicate only when the stream holds a copy of an
        event applied before (a republish its duplicate window missed). Above the tracking this
        process started from (`floor`), every applied position is remembered here: a duplicate up
        there that is no copy of one of them lies behind a tracking record that some message moved
        past it. A redelivery (tries > 1) may have been applied by another replica or before a
        crash, and a position at or below the floor may predate this process: neither is reported.
        """
        source, position, event_id = envelope.source, envelope.source_position, str(envelope.event_id)
        seen = self.applied_ids.setdefault(source, OrderedDict())
        if applied:
            self.last_applied[source] = (seq, position)
            seen[position] = event_id
            if len(seen) > REMEMBERED_POSITIONS:
                forgotten, _ = seen.popitem(last=False)
                self.floor[source] = max(self.floor.get(source, 0), forgotten)
            return
        if tries > 1 or source not in self.floor or position <= self.floor[source] or seen.get(position) == event_id:
            return
        try:
            tracking = await anyio.to_thread.run_sync(self.app.recorder.max_tracking_id, source) or 0
        except Exception:  # noqa: BLE001 - reported all the same, with the last position applied here
            tracking = self.last_applied.get(source, (0, 0))[1]
        set_by = self.last_applied.get(source)
        behind = self.behind.get(source)
        if behind is None or behind.tracking != tracking:
            behind = self.behind[source] = BehindTracking(
                source, tracking=tracking, set_by_seq=set_by[0] if set_by and set_by[1] == tracking else None)
        behind.skipped += 1
        behind.last_seq, behind.last_position = seq, position
        log.error("inbox.behind_tracking", service=self.app.service, problem=behind.problem(self.app.service))

    async def start_from(self, source: str) -> None:
        """Read the source's tracking once per process, before its first event here (see `note`)."""
        if source not in self.floor:
            try:
                tracked: int | None = await anyio.to_thread.run_sync(self.app.recorder.max_tracking_id, source)
                self.floor[source] = tracked or 0
            except Exception as exc:  # noqa: BLE001 - the store away: `receive` meets it too; read it next time
                log.warning("inbox.floor_unread", service=self.app.service, source=source, error=str(exc))

    def problems(self) -> list[str]:
        """What readyz reports as `degraded` for the consumers (empty when all is well)."""
        return [b.problem(self.app.service) for _, b in sorted(self.behind.items())]

    async def dead_letter(self, msg: NatsMessage, reason: str) -> None:
        raw = msg.raw_message
        headers = {
            "Jusou-Dead-Letter-Reason": reason.replace("\n", " ")[:2000],
            "Jusou-Original-Subject": raw.subject,
            "Jusou-Consumer": f"{self.app.service}",
            "Nats-Msg-Id": f"{self.app.service}:{raw.metadata.sequence.stream}",
            **trace_headers(raw.headers),  # a replay later continues the case's trace
        }
        await self.broker.publish(
            raw.data,
            dead_letter_subject(self.app.service, raw.subject),
            headers=headers,
            stream=DEAD_LETTER_STREAM,
        )
        self.dead_lettered += 1
        log.error("inbox.dead_lettered", service=self.app.service, subject=raw.subject, reason=reason)
        await msg.reject()  # terminate: it is parked in the dead-letter stream
