"""Inbox: the one road in (STYLE 7), as FastStream JetStream subscribers.

One durable pull consumer per upstream source (`<service>--<source>`), one message in flight
(`max_ack_pending=1`), so each upstream's events arrive in `source_position` order, as the
tracking records need. The effect and its tracking record commit together; the message is
acked after the commit. A handler failure is nak'ed with a growing delay and, after
`max_deliver` tries, published to the dead-letter stream with its reason and terminated. A
message that can never be processed (not JSON, unknown type, invalid payload) goes to the
dead-letter stream at once. Nothing is dropped silently.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import anyio
import structlog
from faststream import AckPolicy
from faststream.nats import ConsumerConfig, JStream, NatsBroker, NatsMessage, PullSub
from nats.js.api import DeliverPolicy

from shared.app import ServiceApplication
from shared.contracts import DEAD_LETTER_PREFIX, DEAD_LETTER_STREAM, STREAM, SUBJECT_PREFIX, PoisonMessage, parse
from shared.logs import bind_event, unbind_event
from shared.tracing import consuming, trace_headers

log = structlog.get_logger()

#: A message whose consumer died unacked comes back after this long. Handlers take
#: milliseconds; a short wait lets a restarted service resume the journey quickly.
ACK_WAIT_SECONDS = 5


def dead_letter_subject(service: str, subject: str) -> str:
    """`jusou-dlq.<consumer>.<source>.<EventType>`."""
    return f"{DEAD_LETTER_PREFIX}.{service}.{subject.removeprefix(SUBJECT_PREFIX + '.')}"


class Inbox:
    """Counts what the consumers did, for /readyz and the tests."""

    def __init__(self, app: ServiceApplication, broker: NatsBroker, max_deliver: int) -> None:
        self.app = app
        self.broker = broker
        self.max_deliver = max_deliver
        self.applied = 0
        self.duplicates = 0
        self.dead_lettered = 0
        #: after each try of an event: (envelope, outcome, seconds, tries[, via]); /metrics sets it (shared/metrics.py)
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
        bind_event(envelope)  # every line until the next message: case_id, event_id, correlation_id
        began = time.perf_counter()
        try:
            with consuming(self.app.service, envelope, raw.headers):  # its effects carry this span on
                applied = await anyio.to_thread.run_sync(self.app.receive, envelope, payload)
        except Exception as exc:  # the dead-letter boundary: every failure is retried, then parked
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
        log.info("inbox.applied" if applied else "inbox.duplicate", source_position=envelope.source_position)
        await msg.ack()

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
