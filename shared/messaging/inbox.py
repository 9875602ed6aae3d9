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
store can have (above `MAX_SOURCE_POSITION`; below 1 the envelope itself refuses), and a plan
owner's event (`OWNERS_EVENTS`) whose payload names another program. A handler that finds, with
its store, that a message can never apply (the meeting: a plan another program owns, or of
another case) raises `PoisonMessage`: dead-lettered at once with its reason, not retried.

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

Runs (issue 19, docs/capacity.md §5): with `JUSOU_INBOX_BATCH` = k > 1, each consumer has up to k
messages in flight (`max_ack_pending` = k), takes what the stream holds for it (up to k at once),
and applies them in stream order through `ServiceApplication.receive_many`: their effects and one
tracking record (the run's last position) in one transaction, acked after the commit; k messages,
one commit. A poison or forged message is dead-lettered as above without stopping the run. A
handler that fails is retried here, alone, the run before it committed and acked, the messages
after it held (`in_progress`, so their ack wait does not run out), and dead-lettered after
`max_deliver` tries, as above; then the rest of the run goes on. No message is nak'ed in a run: a
nak'ed one would be overtaken by the next, and the tracking moved past it. Nor is a run applied while
an earlier message of the consumer is pending elsewhere (delivered to a process that died, or to a
pull request whose answer a lost connection took): with k in flight the server delivers the later ones
first, and the earlier one, applied after them, would be a duplicate. The deliveries' own sequence
shows when one went elsewhere; then the stream is read, and the run waits for it (`Hand`, shared/messaging/runs.py).
k > 1 needs one process per durable consumer, the single-node shape (`jusou up`): two replicas
sharing `<service>--<source>` could each hold part of a run and the later tracking would hide the
earlier part. Replicas keep the default, k = 1 (`max_ack_pending=1` serialises them).

Delivery (issue 19, docs/capacity.md §6.7): every consumer, k = 1 or runs (and each partition consumer,
shared/messaging/partitions.py), is delivered through one standing pull request (`StandingPull`,
shared/messaging/runs.py: 4k messages, at least 256, for 15 s, asked again at half used, at a 408/409/503 or a
reconnect), not a `MSG.NEXT` request per message; what a run holds is decided as before (`Hand`).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import anyio
import structlog
from faststream import AckPolicy
from faststream.nats import ConsumerConfig, JStream, NatsBroker, NatsMessage, PullSub
from nats.aio.msg import Msg
from nats.errors import ConnectionClosedError
from nats.js.api import DeliverPolicy
from nats.js.errors import NotFoundError, ServiceUnavailableError
from pydantic import BaseModel

from shared.contract.events import (
    DEAD_LETTER_PREFIX,
    DEAD_LETTER_STREAM,
    STREAM,
    SUBJECT_PREFIX,
    Envelope,
    PoisonMessage,
)
from shared.kernel.app import BatchFailed, ServiceApplication
from shared.messaging import adoption, natsheaders
from shared.messaging.natsauth import API, consumer_filter, consumer_filters, pull_inbox_prefix
from shared.messaging.reading import MAX_SOURCE_POSITION, OWNERS_EVENTS, read, refusal  # noqa: F401 - theirs here too
from shared.messaging.runs import PULL_BATCH, Hand, OneThread, StandingPull
from shared.messaging.waiting import Waiting
from shared.observe.logs import bind_event, event_fields, unbind_event
from shared.observe.tracing import consuming, trace_headers
from shared.observe.tracing import enabled as tracing_enabled

log = structlog.get_logger()
#: (the structlog configuration it was bound under: its processors, output, wrapper and context class; the logger)
_bound: tuple[tuple[Any, ...], Any] | None = None


def _lines() -> Any:
    """`log` bound once per structlog configuration, for the line each message writes (`inbox.applied`): the lazy proxy
    `log` binds a new logger (and its output logger) at every call, as `cache_logger_on_first_use=False` wants, so
    that a configuration made later (a test's, `configure_logging`'s) is followed; this follows it too, rebinding when
    the configured processors, output or wrapper are other objects (a test's `capture_logs` changes the processors' list
    in place: a logger bound before sees that as well). Issue 19: ~5 µs a message."""
    global _bound
    config = structlog.get_config()
    key = (config["processors"], config["logger_factory"], config["wrapper_class"], config["context_class"])
    if _bound is None or any(a is not b for a, b in zip(_bound[0], key, strict=True)):
        _bound = (key, log.bind())  # the key's objects held: none is freed and its id reused meanwhile
    return _bound[1]

#: A message whose consumer died unacked comes back after this long. Handlers take
#: milliseconds; a short wait lets a restarted service resume the journey quickly.
ACK_WAIT_SECONDS = 5
#: Positions applied by this process remembered per source, to tell a copy of an applied event
#: (a republish the stream's duplicate window missed) from a real event hidden behind the tracking.
REMEMBERED_POSITIONS = 4096
#: Messages in flight per consumer, applied as one transaction (`JUSOU_INBOX_BATCH`; module docstring).
BATCH_ENV = "JUSOU_INBOX_BATCH"
#: How long a consumer waits for a message before it looks around (its loop's flag, a reconnect; locally: its pull
#: request stands at the server, `StandingPull`).
FETCH_SECONDS = 2.0
#: ... while it holds messages and waits for an earlier one to be delivered again (`Inbox.accounted`).
WAIT_FETCH_SECONDS = 0.5
#: How long a run waits for messages the server said are on their way (a backlog: up to k at once).
MORE_SECONDS = 0.05
#: How long `accounted` waits for deliveries the server counted to this consumer's own pull and has not yet sent.
ARRIVING_SECONDS = 0.1


def inbox_batch(value: str | None = None) -> int:
    """`JUSOU_INBOX_BATCH` (default 1: one message in flight, the shape replicas need)."""
    text = os.environ.get(BATCH_ENV, "1") if value is None else value
    try:
        batch = int(text)
    except ValueError:
        raise SystemExit(f"{BATCH_ENV}={text!r}: a whole number of messages, 1 or more") from None
    if not 1 <= batch <= 1000:
        raise SystemExit(f"{BATCH_ENV}={batch}: between 1 and 1000 (one process per service above 1)")
    return batch


def dead_letter_subject(service: str, subject: str) -> str:
    """`jusou-dlq.<consumer>.<source>.<EventType>`."""
    return f"{DEAD_LETTER_PREFIX}.{service}.{subject.removeprefix(SUBJECT_PREFIX + '.')}"




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


def reason_header(reason: str) -> str:
    """A dead letter's reason as a NATS header: one line, at most 2,000 characters, ASCII (a header is: a forged
    envelope's `event_type` 「案件」 in "unknown event 案件 v1" read back from JetStream as U+FFFD), other characters
    escaped (`\\u6848`)."""
    return reason.replace("\n", " ").encode("ascii", "backslashreplace").decode("ascii")[:2000]


class Inbox:
    """Counts what the consumers did, for /readyz and the tests."""

    def __init__(self, app: ServiceApplication, broker: NatsBroker, max_deliver: int, batch: int | None = None) -> None:
        self.app = app
        self.broker = broker
        self.max_deliver = max_deliver
        #: messages in flight per consumer, applied in one transaction (module docstring, "Runs")
        self.batch = inbox_batch() if batch is None else batch
        #: commits the inbox made for runs of more than one message, and the messages they applied
        self.runs = 0
        self.run_messages = 0
        self.applied = 0
        self.duplicates = 0
        self.dead_lettered = 0
        #: times a consumer held a run back until an earlier message delivered elsewhere came again (`Hand`)
        self.awaited = 0
        #: per source: the message its consumer holds past `max_deliver` tries because its handler says what it needs is
        #: on its way (shared/messaging/waiting.py), and what that is (`note_waiting`; cleared when it is settled)
        self.waiting: dict[str, str] = {}
        #: source → why a message of it could not be parked (JUSOU_DLQ full: it discards new), until one is (`park`)
        self.unparked: dict[str, str] = {}
        #: per source: its consumer's messages in hand (runs, k > 1)
        self.hands: dict[str, Hand] = {}
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
        #: per source: its durable consumer's filter subject (natsauth.consumer_filter)
        self.filters: dict[str, str] = {}
        #: per source whose several event types the service reacts to: the consumer's filters, one per type
        #: (natsauth.consumer_filters: the server delivers no other type of the source)
        self.several: dict[str, list[str]] = {}
        #: the sources whose consumer has those filters (`reconcile` saw or made them: not where a NATS config from before
        #: this version refused the update, and the consumer goes on delivering every type of the source)
        self.filtered: set[str] = set()
        #: consumer name → why an existing consumer of its name was replaced rather than adopted, or could not be
        #: (shared/messaging/adoption.py): readyz `degraded` until the service restarts
        self.replaced: dict[str, str] = {}
        #: the applying of events on a worker thread of its own: with anyio's shared limiter (40 threads) a loaded
        #: service's HTTP handlers held every thread and a run waited behind them; applying takes the application's
        #: processing lock anyway, so one thread loses nothing (issue 19); not anyio's, a cheaper hand-over (`OneThread`)
        self.applying = OneThread(f"{app.service}-inbox")
        natsheaders.install()  # the broker's client parses each message's headers for less CPU (issue 19)
        for source, event_types in app.subscriptions.items():
            self._subscribe(source, frozenset(event_types))

    def _subscribe(self, source: str, event_types: frozenset[str]) -> None:
        service = self.app.service

        # Only the event types it reacts to: the server delivers nothing else (natsauth.consumer_filter: the one type's
        # subject; consumer_filters: one filter per type where they are several, `jusou.<source>.*` kept as the subscriber's
        # subject, which nats-py then does not send as the filter)
        self.filters[source] = filter_subject = consumer_filter(source, event_types)
        if several := consumer_filters(source, event_types):
            self.several[source] = several
        subscriber = self.broker.subscriber(
            filter_subject,
            stream=JStream(STREAM, declare=False),
            durable=f"{service}--{source}",
            pull_sub=PullSub(batch_size=self.batch, timeout=FETCH_SECONDS),
            inbox_prefix=pull_inbox_prefix(service),  # its NATS user may read no other inbox
            config=ConsumerConfig(
                filter_subjects=list(several),
                durable_name=f"{service}--{source}",
                deliver_policy=DeliverPolicy.ALL,
                max_ack_pending=self.batch,
                ack_wait=ACK_WAIT_SECONDS,
                max_deliver=-1,
            ),
            ack_policy=AckPolicy.MANUAL,
            title=f"{service}--{source}",
            description=f"{service} reacts to {', '.join(sorted(event_types))} from {source}",
        )

        @subscriber
        async def handle() -> None:
            # The message from FastStream's context rather than a `NatsMessage` parameter:
            # fast_depends resolves such a parameter in a worker thread, one more thread hop on
            # every event's path (bench/ --profile: `run_in_threadpool` under `CallModel.asolve`).
            await self.handle(self.broker.context.get_local("message"), event_types)

        # FastStream declares the durable consumer (when missing). Its pull loop (a `fetch` per message) is
        # replaced: first the consumer's `max_ack_pending` is set to k (an existing consumer keeps the
        # config it was created with); then its messages come through a standing pull request
        # (`StandingPull`, on a subscription of its own under the service's inbox prefix); with k = 1 each is
        # handed to FastStream's handler `cb` as FastStream's loop did; with k > 1 the loop is `pull_runs`, as
        # FastStream's would hand the k fetched messages to k concurrent handlers. The attribute is FastStream's
        # (0.7: `PullStreamSubscriber._consume_pull(cb)`, started by `_create_subscription`);
        # tests/integration/test_inbox_runs.py fails by name if it moves.
        async def consume(cb: Any) -> None:
            await self.adopt(subscriber.jetstream, source, event_types)  # only a consumer that owes it nothing
            await self.reconcile(subscriber)
            if self.batch == 1:
                await self.consume_standing(subscriber, f"{service}--{source}", STREAM, cb)
                return
            pull = self.standing_pull(subscriber.connection, f"{service}--{source}")
            await pull.start()
            try:
                await self.pull_runs(subscriber, pull, event_types, source)
            finally:
                await pull.stop()

        subscriber._consume_pull = consume  # type: ignore[method-assign]

    def stand(self, subscriber: Any, consumer: str, stream: str) -> None:
        """Deliver another FastStream pull subscriber of this broker (one message in flight, e.g. the dead letters'
        replay consumer) through a standing pull request too, its messages handed to FastStream's handler one by one."""
        async def consume(cb: Any) -> None:
            await self.consume_standing(subscriber, consumer, stream, cb)

        subscriber._consume_pull = consume

    async def consume_standing(self, subscriber: Any, consumer: str, stream: str, cb: Any) -> None:
        """FastStream's pull loop (a `fetch` per message, each handed to `cb` in a task group of its own), with the
        messages of a standing pull request, each handed to `cb` in turn."""
        pull = self.standing_pull(subscriber.connection, consumer, stream)
        await pull.start()
        try:
            while subscriber.running:
                for msg in await pull.get(FETCH_SECONDS):
                    await cb(msg)
        finally:
            await pull.stop()

    def standing_pull(self, nc: Any, consumer: str, stream: str = STREAM) -> StandingPull:
        """A consumer's standing pull request (shared/messaging/runs.py), on a subscription under the service's inbox
        prefix (its NATS user may read no other), asking for 4k messages at a time (k = `max_ack_pending` bounds what
        comes at once)."""
        prefix = pull_inbox_prefix(self.app.service).decode()
        return StandingPull(nc, stream, consumer, prefix, batch=max(PULL_BATCH, 4 * self.batch), api=API)

    async def adopt(self, js: Any, source: str, event_types: frozenset[str]) -> None:
        """Adopt the existing durable consumer `<service>--<source>` (FastStream bound to it) only if it will deliver
        everything of `source` after this service's tracking; else replace it and report it (`replaced`, readyz
        `degraded`): shared/messaging/adoption.py. One it cannot examine or replace is reported and kept."""
        name = f"{self.app.service}--{source}"
        several = self.several.get(source, [])

        def make(start_seq: int) -> Any:
            return adoption.ConsumerConfig(
                name=name, durable_name=name, filter_subject=None if several else self.filters[source],
                filter_subjects=several or None, ack_policy=adoption.AckPolicy.EXPLICIT, max_ack_pending=self.batch,
                ack_wait=ACK_WAIT_SECONDS, max_deliver=-1,
                description=f"{self.app.service} reacts to {', '.join(sorted(event_types))} from {source}",
                **adoption.start_at(start_seq))

        try:
            tracking = await anyio.to_thread.run_sync(self.app.recorder.max_tracking_id, source) or 0

            async def judge(info: Any) -> adoption.Verdict:
                return await adoption.examine(js, info, service=self.app.service, source=source,
                                              subjects=adoption.subjects_of(source, event_types), tracking=tracking,
                                              max_deliver=self.max_deliver)

            verdict = await adoption.adopt(js, name, judge, make, self.app.service)
        except Exception as exc:  # noqa: BLE001 - reported; the consumer is used as it is
            self.replaced[name] = f"{name}: not examined before it was adopted ({type(exc).__name__}: {exc})"
            log.error("inbox.consumer_not_examined", service=self.app.service, consumer=name,
                      error=f"{type(exc).__name__}: {exc}")
            return
        if verdict is not None:
            self.replaced[name] = verdict.report(self.app.service)

    async def reconcile(self, subscriber: Any) -> None:
        """Set an existing durable consumer's `max_ack_pending` to this inbox's k (JUSOU_INBOX_BATCH), and its filter to
        the event types this service reacts to (`natsauth.consumer_filter`, or one filter per type where they are several,
        `natsauth.consumer_filters`; one made before issue 19 had `jusou.<source>.*`, one made before this had it where the
        service reacts to several types): updated in place, its delivered and acked messages kept."""
        try:
            info = await subscriber.subscription.consumer_info()
            source = info.name.removeprefix(f"{self.app.service}--")
            several = self.several.get(source, [])
            wanted = None if several else self.filters.get(source, info.config.filter_subject)
            if (info.config.max_ack_pending != self.batch or (info.config.filter_subject or None) != wanted
                    or sorted(info.config.filter_subjects or ()) != several):
                config = info.config
                config.max_ack_pending = self.batch
                config.filter_subject = wanted  # a consumer made before issue 19's filters (`jusou.<source>.*`)
                config.filter_subjects = several or None
                await subscriber.jetstream.add_consumer(STREAM, config=config)
                log.info("inbox.consumer_updated", service=self.app.service, consumer=info.name, max_ack_pending=self.batch,
                         filter_subject=wanted, filter_subjects=several)
            if several:
                self.filtered.add(source)
        except Exception as exc:  # noqa: BLE001 - reported; the consumer keeps its old setting
            log.error("inbox.consumer_not_updated", service=self.app.service, error=f"{type(exc).__name__}: {exc}",
                      max_ack_pending=self.batch)

    async def pull_runs(self, subscriber: Any, pull: StandingPull, event_types: frozenset[str], source: str) -> None:
        """A consumer's loop with k > 1: fetch up to k messages, apply them as runs (`handle_run`) once the
        consumer's every earlier delivery is settled or among them (`Hand`, `accounted`).

        A run cut short by an error outside the handlers (the dead-letter stream away while NATS
        restarts) is taken up again here, its messages kept from redelivery (`in_progress`), before
        anything new is fetched: a later message must not overtake them and move the tracking past them
        (if NATS was reconnected meanwhile, they are let go and waited for as they come again).
        """
        hand = self.hands[source] = Hand(reconnects=self.reconnects())
        while subscriber.running:
            await self.after_reconnect(hand, pull)
            if not hand.ready:
                try:
                    fetched = await self.fetch_run(pull, WAIT_FETCH_SECONDS if hand.held else FETCH_SECONDS)
                except (TimeoutError, ConnectionClosedError, ServiceUnavailableError):
                    fetched = []
                except Exception as exc:  # noqa: BLE001 - the connection away: nothing fetched, nothing lost
                    log.warning("inbox.fetch_failed", service=self.app.service, error=f"{type(exc).__name__}: {exc}")
                    await asyncio.sleep(1.0)
                    continue
                if await self.after_reconnect(hand, pull):
                    continue  # fetched across a reconnect: let go with the rest
                hand.take(fetched)
                if not hand.held or not subscriber.running:
                    continue
                if not hand.ready and not await self.accounted(subscriber, hand, source, pull):
                    await hand.keep(ACK_WAIT_SECONDS / 2)
                    continue
            try:
                await self.handle_run(list(hand.held.values()), event_types)
            except Exception as exc:  # noqa: BLE001 - the rest of the run is taken up again, in order
                log.error("inbox.run_failed", service=self.app.service, error=f"{type(exc).__name__}: {exc}",
                          held=len(hand.held))
                await asyncio.sleep(1.0)
                await hand.keep(ACK_WAIT_SECONDS / 2, at_once=True)

    def reconnects(self) -> int:
        """How often this process's NATS connection was made again (`Hand.let_go`)."""
        try:
            return int(self.broker.connection.stats["reconnects"])
        except Exception:  # noqa: BLE001 - no connection yet: nothing fetched on one either
            return 0

    async def after_reconnect(self, hand: Hand, pull: StandingPull) -> bool:
        """Let go of what was fetched before a reconnect (`Hand.let_go`), what was received and not fetched
        with it (`StandingPull.renew`: a new subscription, new requests); True if there was one."""
        now = self.reconnects()
        if now == hand.reconnects:
            return False
        dropped = len(pull.queue)
        await pull.renew()
        log.info("inbox.reconnected", service=self.app.service, let_go=len(hand.held) + dropped)
        hand.let_go(now)
        return True

    async def accounted(self, subscriber: Any, hand: Hand, source: str, pull: StandingPull | None = None) -> bool:
        """Whether every message the consumer delivered and has not had settled is in `hand` (then its messages
        may be applied in stream order, and `hand` follows the deliveries from here on).

        Read from the stream when the deliveries this process saw do not follow on from what it knew (its
        start, a reconnect, a delivery it never received). Every message of the consumer's subjects from its ack
        floor to its last delivery is held here, or was settled here, with the same content, or is one this
        process does not know: acked out of order (a poison parked before an earlier message was applied; by a
        process before this one) or pending elsewhere. The server's count of pending messages tells which: what
        is held here (and was never settled here) is pending, so the rest of the count bounds what is pending
        elsewhere. A held message the stream holds otherwise, or no longer (its tail lost while NATS
        restarted), is let go unsettled.

        A delivery the server counted to this consumer's standing pull (`pull`) may still be on its way: the server
        counts it before the message reaches the connection, and with k in flight it delivers ahead of what was
        fetched. Such a delivery is no message pending elsewhere: what the pull received up to the consumer's last
        delivery is taken into `hand` first (waited for a moment, `ARRIVING_SECONDS`), so that a normal start does
        not wait for a redelivery (`inbox.awaiting_redelivery`) of what is arriving here anyway.
        """
        unknown: dict[int, bytes] = {}
        pending_here = 0
        try:
            info = await subscriber.subscription.consumer_info()
            if pull is not None:  # already waiting: what arrives is taken on the next look, without a wait
                arrived = await pull.delivered_up_to(info.delivered.consumer_seq,
                                                     0.0 if hand.waiting_since is not None else ARRIVING_SECONDS)
                if arrived:
                    hand.take(arrived)
            seq, last = info.ack_floor.stream_seq, info.delivered.stream_seq
            while seq < last:
                try:
                    msg = await subscriber.jetstream.get_msg(STREAM, seq + 1, subject=self.filters[source], next=True)
                except NotFoundError:
                    break
                if not msg.seq or msg.seq > last:
                    break
                seq, data = msg.seq, msg.data or b""
                if source in self.filtered and msg.subject not in self.several[source]:
                    continue  # read through `jusou.<source>.*`: a type its filters never deliver
                held, settled = hand.held.get(seq), hand.settled.get(seq) == hash(data)
                if held is not None and held.data == data:
                    pending_here += 0 if settled else 1  # held, never settled: pending (nothing else acks it)
                elif not settled:
                    unknown[seq] = data
        except Exception as exc:  # noqa: BLE001 - read again after the next fetch
            log.warning("inbox.stream_unread", service=self.app.service, error=f"{type(exc).__name__}: {exc}")
            return False
        stale = [s for s in hand.held if s > seq or s in unknown]
        for s in stale:  # not what the stream holds there (any more): delivered again, or published again
            del hand.held[s]
        if unknown and info.num_ack_pending > pending_here:
            if hand.waiting_since is None:
                hand.waiting_since = time.monotonic()
                self.awaited += 1
                log.warning("inbox.awaiting_redelivery", service=self.app.service, consumer=info.name,
                            pending=info.num_ack_pending, held=len(hand.held), unknown=len(unknown),
                            first_unknown=min(unknown), let_go=len(stale))
            return False
        for s, data in unknown.items():  # acked: none is pending elsewhere
            hand.remember(s, data)
        if hand.waiting_since is not None:
            log.info("inbox.redelivered", service=self.app.service, consumer=info.name, held=len(hand.held),
                     waited_s=round(time.monotonic() - hand.waiting_since, 2))
            hand.waiting_since = None
        hand.next_delivery = info.delivered.consumer_seq + 1
        return bool(hand.held)

    async def fetch_run(self, pull: StandingPull, timeout: float = FETCH_SECONDS) -> list[Msg]:
        """The messages received, as soon as there is one (up to k), and those the server said are on their way.

        Not a wait for k: with nothing waiting, the first message is a run of one at once (a quiet suite's every
        hop). The last one's `num_pending` says how many more the consumer holds now; up to k of them come on the
        standing request straight after it, and are waited for a moment (`MORE_SECONDS`).
        """
        messages = await pull.get(timeout, at_most=self.batch)
        if messages:
            more = min(self.batch - len(messages), messages[-1].metadata.num_pending or 0)
            while more > 0 and (found := await pull.more(more, MORE_SECONDS)):
                messages += found
                more -= len(found)
        return messages

    async def sort_out(self, messages: list[Msg], event_types: frozenset[str]) -> list[tuple[Msg, Envelope, BaseModel]]:
        """Settle what needs no order (other event types acked unread, poison and forged messages parked); the
        rest parsed, in stream order."""
        ready: list[tuple[Msg, Envelope, BaseModel]] = []
        for raw in sorted(messages, key=lambda m: m.metadata.sequence.stream):
            subject = raw.subject
            if subject.rsplit(".", 1)[-1] not in event_types:
                await self.finish(raw)
                continue
            try:
                envelope, payload = read(raw.data)
            except PoisonMessage as exc:
                await self.dead_letter_raw(raw, exc.reason)
                continue
            refused = refusal(subject, envelope)
            if refused is not None:
                await self.dead_letter_raw(raw, refused)
                continue
            ready.append((raw, envelope, payload))
        return ready

    async def handle_run(self, messages: list[Msg], event_types: frozenset[str]) -> None:
        """Apply fetched messages of one source in stream order, as few commits as their handlers allow."""
        unbind_event()
        ready = await self.sort_out(messages, event_types)
        attempted: set[int] = set()  # tried in a commit whose outcome this process did not learn (`note`)
        while ready:
            await self.start_from(ready[0][1].source)
            began = time.perf_counter()
            # each event's consumer span (none without tracing: no context manager a message on the inbox thread)
            contexts = ([partial(consuming, self.app.service, envelope, raw.headers) for raw, envelope, _ in ready]
                        if tracing_enabled(self.app.service) else None)
            failed: BatchFailed | None = None
            try:
                done = await self.applying.run(self.app.receive_many, [(e, p) for _, e, p in ready], contexts)
            except BatchFailed as exc:
                done, failed = exc.done, exc
            seconds = (time.perf_counter() - began) / max(len(done), 1)
            if sum(done) > 1:
                self.runs += 1
                self.run_messages += sum(done)
            for (raw, envelope, _), applied in zip(ready, done, strict=False):
                await self.settled(raw, envelope, applied, seconds, tries=self.tries(raw, attempted))
            ready = ready[len(done):]
            if failed is not None:
                # The failed commit may have been recorded all the same (a connection lost in its commit): the
                # rest of the run counts as tried once more, as a redelivery would, so a duplicate found now
                # is not taken for an event hidden behind the tracking (`note`).
                attempted.update(m.metadata.sequence.stream for m, _, _ in ready)
                raw, envelope, payload = ready.pop(0)
                await self.retry_alone(raw, envelope, payload, failed.error, held=[m for m, _, _ in ready],
                                       tries=self.tries(raw, attempted))
        unbind_event()

    @staticmethod
    def tries(raw: Msg, attempted: set[int]) -> int:
        """How often this message was tried: its deliveries, and once more if a failed commit held it."""
        return raw.metadata.num_delivered + (1 if raw.metadata.sequence.stream in attempted else 0)

    async def settled(self, raw: Msg, envelope: Envelope, applied: bool, seconds: float, tries: int) -> None:
        """Count, remember, log and ack one message whose effect (or duplicate) is recorded."""
        self.observe(envelope, "applied" if applied else "duplicate", seconds, tries)
        if applied:
            self.applied += 1
        else:
            self.duplicates += 1
        seq = raw.metadata.sequence.stream
        await self.note(envelope, seq, tries, applied)
        # the event's ids on this line as `bind_event` puts them on a consumer's lines, without binding and
        # unbinding them around it (issue 19: about 9 µs a message), through a logger bound once (`_lines`)
        _lines().info("inbox.applied" if applied else "inbox.duplicate", source_position=envelope.source_position,
                      seq=seq, tries=tries, **event_fields(envelope))
        await self.finish(raw)

    async def finish(self, raw: Msg, term: bool = False) -> None:
        """Ack (or terminate) a message. In a run only on the connection it was fetched on: after a reconnect its
        stream sequence may be another message's (a tail lost while NATS restarted), so it is left to the server,
        which delivers it again if it still holds it (a duplicate then); it counts as settled here (`Hand`)."""
        parts = raw.subject.split(".")
        hand = self.hands.get(parts[1]) if len(parts) > 1 else None
        if hand is not None:
            hand.remember(raw.metadata.sequence.stream, raw.data)
            if self.reconnects() != hand.reconnects:
                log.info("inbox.ack_withheld", service=self.app.service, seq=raw.metadata.sequence.stream)
                return
        await (raw.term() if term else raw.ack())

    async def retry_alone(self, raw: Msg, envelope: Envelope, payload: BaseModel, error: Exception,
                          held: list[Msg], tries: int) -> None:
        """A message of a run whose handler (or commit) failed: tried again here, alone, at once (a lost
        commit may have been recorded: then it is a duplicate), then after growing delays until it is
        applied or, after `max_deliver` tries in all, dead-lettered; the messages after it wait (`in_progress`)."""
        began = time.perf_counter()
        try:
            with consuming(self.app.service, envelope, raw.headers):
                applied = await self.applying.run(self.app.receive, envelope, payload)
        except Exception as exc:  # noqa: BLE001 - the dead-letter boundary, as in `handle`
            error = exc
        else:
            await self.settled(raw, envelope, applied, time.perf_counter() - began, tries=tries)
            return
        while True:
            self.observe(envelope, "failed", 0.0, tries)
            if isinstance(error, PoisonMessage):  # a handler found it can never apply (the meeting's plan owners)
                await self.dead_letter_raw(raw, error.reason)
                return
            reason = f"{type(error).__name__}: {error}"
            if tries >= self.max_deliver and not isinstance(error, Waiting):  # a Waiting's need is on its way
                await self.dead_letter_raw(raw, f"failed {tries} times; last error {reason}")
                return
            self.note_waiting(envelope.source, error, tries, reason)
            log.warning("inbox.retry", service=self.app.service, subject=raw.subject, tries=tries, error=reason)
            delay = min(0.2 * 2**min(tries, 6), 10.0)
            while delay > 0:  # keep this one's and the held ones' ack wait from running out meanwhile
                for waiting in (raw, *held):
                    await waiting.in_progress()
                await asyncio.sleep(min(delay, ACK_WAIT_SECONDS / 2))
                delay -= ACK_WAIT_SECONDS / 2
            tries += 1
            began = time.perf_counter()
            try:
                with consuming(self.app.service, envelope, raw.headers):
                    applied = await self.applying.run(self.app.receive, envelope, payload)
            except Exception as exc:  # noqa: BLE001 - the dead-letter boundary, as in `handle`
                error = exc
                continue
            await self.settled(raw, envelope, applied, time.perf_counter() - began, tries=tries)
            return

    async def handle(self, msg: NatsMessage, event_types: frozenset[str]) -> None:
        unbind_event()  # this consumer's task handles one message after another
        raw = msg.raw_message
        subject = raw.subject
        if subject.rsplit(".", 1)[-1] not in event_types:
            await msg.ack()
            return
        try:
            envelope, payload = read(raw.data)
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
                applied = await self.applying.run(self.app.receive, envelope, payload)
        except PoisonMessage as exc:  # a handler found it can never apply: parked at once with why, not retried
            self.observe(envelope, "failed", time.perf_counter() - began, raw.metadata.num_delivered)
            await self.dead_letter(msg, exc.reason)
            return
        except Exception as exc:  # noqa: BLE001 - the dead-letter boundary: every failure is retried, then parked
            tries = raw.metadata.num_delivered
            self.observe(envelope, "failed", time.perf_counter() - began, tries)
            reason = f"{type(exc).__name__}: {exc}"
            if tries >= self.max_deliver and not isinstance(exc, Waiting):  # a Waiting's need is on its way: not parked
                await self.dead_letter(msg, f"failed {tries} times; last error {reason}")
            else:
                self.note_waiting(envelope.source, exc, tries, reason)
                log.warning("inbox.retry", service=self.app.service, subject=subject, tries=tries, error=reason)
                await msg.nack(delay=min(0.2 * 2**min(tries, 6), 10.0))
            return
        self.observe(envelope, "applied" if applied else "duplicate", time.perf_counter() - began, raw.metadata.num_delivered)
        if applied:
            self.applied += 1
        else:
            self.duplicates += 1
        await self.note(envelope, raw.metadata.sequence.stream, raw.metadata.num_delivered, applied)
        log.info("inbox.applied" if applied else "inbox.duplicate", source_position=envelope.source_position,
                 seq=raw.metadata.sequence.stream, tries=raw.metadata.num_delivered)
        await msg.ack()

    async def note(self, envelope: Envelope, seq: int, tries: int, applied: bool) -> None:
        """Remember what was applied; report a duplicate that no applied event explains (module docstring).

        On its first delivery a real event is a duplicate only when the stream holds a copy of an
        event applied before (a republish its duplicate window missed). Above the tracking this
        process started from (`floor`), every applied position is remembered here: a duplicate up
        there that is no copy of one of them lies behind a tracking record that some message moved
        past it. A redelivery (tries > 1) may have been applied by another replica, before a crash or
        by a commit whose answer was lost (then a copy of it coming later is a copy: it is remembered
        too), and a position at or below the floor may predate this process: neither is reported.
        """
        source, position, event_id = envelope.source, envelope.source_position, str(envelope.event_id)
        self.waiting.pop(source, None)
        seen = self.applied_ids.setdefault(source, OrderedDict())
        if applied or tries > 1:
            if applied:
                self.last_applied[source] = (seq, position)
            seen[position] = event_id
            if len(seen) > REMEMBERED_POSITIONS:
                forgotten, _ = seen.popitem(last=False)
                self.floor[source] = max(self.floor.get(source, 0), forgotten)
            return
        if source not in self.floor or position <= self.floor[source] or seen.get(position) == event_id:
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
        return [*(b.problem(self.app.service) for _, b in sorted(self.behind.items())),
                *(problem for _, problem in sorted(self.replaced.items())),
                *(held for _, held in sorted(self.waiting.items())),  # a message held past its tries (`note_waiting`)
                *(why for _, why in sorted(getattr(self, "unparked", {}).items()))]  # a dead letter that would not fit

    def note_waiting(self, source: str, error: Exception, tries: int, reason: str) -> None:
        """A message held past its tries because its handler says its need is on its way (`Waiting`): kept for readyz
        until the consumer settles a message of `source` again (`note`, `park`)."""
        if isinstance(error, Waiting) and tries >= self.max_deliver:
            self.waiting[source] = (f"{self.app.service}--{source}: a message held after {tries} tries, waiting: "
                                    f"{reason}")

    async def dead_letter(self, msg: NatsMessage, reason: str) -> None:
        await self.park(msg.raw_message, reason)
        await msg.reject()  # terminate: it is parked in the dead-letter stream

    async def dead_letter_raw(self, raw: Msg, reason: str) -> None:
        await self.park(raw, reason)
        await self.finish(raw, term=True)  # terminate: it is parked in the dead-letter stream

    async def park(self, raw: Msg, reason: str) -> None:
        """Publish a message to the dead-letter stream with its reason (`dead_letter`, `dead_letter_raw`)."""
        if getattr(self, "waiting", None):  # (an inbox made bare by a test has none)
            self.waiting.pop(raw.subject.split(".")[1] if raw.subject.count(".") else "", None)
        headers = {
            "Jusou-Dead-Letter-Reason": reason_header(reason),
            "Jusou-Original-Subject": raw.subject,
            "Jusou-Consumer": f"{self.app.service}",
            "Nats-Msg-Id": f"{self.app.service}:{raw.metadata.sequence.stream}",
            **trace_headers(raw.headers),  # a replay later continues the case's trace
        }
        data, headers = natsheaders.within_max_payload(  # a body too large to park beside its reason is left on JUSOU
            raw.data, headers, self.broker.connection.max_payload, f"{STREAM} seq {raw.metadata.sequence.stream}")
        source = raw.subject.split(".")[1] if raw.subject.count(".") else ""
        try:
            await self.broker.publish(
                data,
                dead_letter_subject(self.app.service, raw.subject),
                headers=headers,
                stream=DEAD_LETTER_STREAM,
            )
        except Exception as exc:  # kept unacknowledged and tried again (nothing lost); readyz names it meanwhile
            if getattr(self, "unparked", None) is not None:
                self.unparked[source] = (
                    f"{self.app.service}--{source}: a message (JUSOU seq {raw.metadata.sequence.stream}) cannot be parked "
                    f"in {DEAD_LETTER_STREAM} ({type(exc).__name__}: {str(exc)[:200]}); it is kept unacknowledged and tried "
                    "again, its source held behind it: remove dead letters (`jusou deadletters discard SEQ`, one replayed or one "
                    "never to be applied; a replay removes none), or raise JUSOU_DLQ_MAX_BYTES and "
                    "run `jusou nats init --limits` / デッドレターを退避できません（JUSOU_DLQ が満杯の可能性）。"
                    "`jusou deadletters discard SEQ` で退避メッセージを削除するか（再処理しても減りません）、上限を上げてください")
            raise
        if getattr(self, "unparked", None):
            self.unparked.pop(source, None)
        self.dead_lettered += 1
        log.error("inbox.dead_lettered", service=self.app.service, subject=raw.subject, reason=reason)
