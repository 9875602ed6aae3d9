"""D4: whether the event that opens a collaboration case may still be on its way to the meeting, read from JetStream.

A first plan from collaboration is listed only for a case intake escalated (`jusou.intake.CaseEscalated`) or outreach
handed over to it (`jusou.outreach.OutreachHandedOver`; services/meeting/domain.py `OPENED_BY`). Those come on the
meeting's other consumers, which may deliver them after the plan. A real plan's opening is on the stream before the
plan (collaboration opened the case from it, then a person drafted and proposed the plan), so the question is exact:
does the meeting's consumer of that source still hold, unsettled, a message of the opening's subject from before the
plan? Read from the server, with the meeting's own rights (natsauth.py: `CONSUMER.INFO` of its consumers,
`STREAM.MSG.GET.JUSOU`):
- the plan's position on the stream: at most the meeting's plan consumer's last delivered sequence (the plan in hand;
  with runs a few later ones too: a bound that only makes the wait longer, never wrong);
- for each opening subject, the consumer of its source (the case's partition consumer with JUSOU_PARTITIONS > 1):
  nothing left to deliver or in hand, or its ack floor past the plan's position: settled; else the subject's messages
  after the ack floor and before the plan (`next_by_subj`, one after another): one for the plan's case is on its way.
  Only the case's own opening holds the plan: the source's other traffic never does.

Settled everywhere and the case still not heard opened: no opening exists before the plan, and the plan is refused at
once with its reason (a forgery: earlier, a forged plan waited while intake's traffic kept the consumer moving, and was
parked as "failed … OpeningNotYetHeard"). One on its way: the plan waits (`OpeningNotYetHeard`, a `Waiting`), however
long its opening takes. A server that does not answer in time (`Unanswered`): the plan waits too, as a `Waiting`,
until it answers (a real plan must not be parked because the server was restarting; a forgery is refused once it
answers). A consumer whose filter does not name the subject (made before this version, not yet reconciled), or more
unsettled openings than SCANNED: None, and the meeting falls back to its timed rule (services/meeting/application.py
`_opening_awaited`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import structlog
from nats.js.errors import NotFoundError

from shared.contract.events import STREAM, SUBJECT_PREFIX
from shared.messaging.natsauth import consumer_name
from shared.messaging.partitions import case_of, partition_of_case

log = structlog.get_logger()

#: how long the inbox's thread waits for the server's answers before falling back to the timed rule
PROBE_SECONDS = 2.0
#: at most this many unsettled opening messages are read for the plan's case (about 0.3 ms each); more: the timed rule
SCANNED = 2_000


def subject_matches(pattern: str, subject: str) -> bool:
    """NATS subject matching: `*` one token, `>` the rest."""
    want, have = pattern.split("."), subject.split(".")
    for i, token in enumerate(want):
        if token == ">":
            return len(have) > i
        if i >= len(have) or (token != "*" and token != have[i]):
            return False
    return len(want) == len(have)


def durable(service: str, source: str, case_id: UUID, partitions: int) -> str:
    """The meeting's consumer of `source` that delivers the case's events (its partition's when partitioned)."""
    if partitions > 1:
        return consumer_name(service, source, partition_of_case(case_id, partitions))
    return f"{service}--{source}"


def _filters(info: Any) -> list[str]:
    config = info.config
    return list(config.filter_subjects or ([config.filter_subject] if config.filter_subject else []))


@dataclass(frozen=True)
class Awaited:
    """The opening a plan waits for: a message of `subject` for the plan's case at JUSOU sequence `seq`, not yet settled
    by the meeting's consumer `consumer` (its ack floor `floor`)."""

    consumer: str
    subject: str
    seq: int
    floor: int

    def __str__(self) -> str:
        return (f"{self.subject.rsplit('.', 1)[-1]} for its case at JUSOU sequence {self.seq}, not yet settled by "
                f"{self.consumer} (ack floor {self.floor})")


async def opening_on_its_way(js: Any, service: str, plan_source: str, openers: Iterable[tuple[str, str]],
                             case_id: UUID, partitions: int) -> Awaited | bool | None:
    """An `Awaited`: a message of an opening's subject for this case, before the plan, is not settled yet by the
    meeting's consumer of its source; False: none is; None: cannot tell (see the module). Only the case's own opening
    holds a plan: unrelated traffic of the source never does (a forged plan is refused as soon as its case's is not
    on the way, however far behind the consumer is)."""
    plan = await js.consumer_info(STREAM, durable(service, plan_source, case_id, partitions))
    upto = plan.delivered.stream_seq if plan.delivered is not None else 0
    if not upto:
        return None
    for source, event_type in openers:
        subject = f"{SUBJECT_PREFIX}.{source}.{event_type}"
        consumer = durable(service, source, case_id, partitions)
        try:
            info = await js.consumer_info(STREAM, consumer)
        except NotFoundError:
            return None  # its consumer not made yet: the opening is certainly not settled
        filters = _filters(info)
        if filters and not any(subject_matches(f, subject) for f in filters):
            return None
        if not info.num_pending and not info.num_ack_pending:
            continue  # everything delivered and settled, the opening too if there was one
        floor = info.ack_floor.stream_seq if info.ack_floor is not None else 0
        seq = floor + 1
        for _ in range(SCANNED):  # the subject's messages after the floor and before the plan: is one this case's?
            if seq >= upto:
                break
            try:
                found = await js.get_msg(STREAM, seq=seq, subject=subject, next=True)
            except NotFoundError:
                break
            if found.seq >= upto:
                break
            if case_of(found.data or b"") == case_id:
                return Awaited(consumer, subject, found.seq, floor)
            seq = found.seq + 1
        else:
            return None  # too many to read in time: the timed rule decides
    return False


@dataclass(frozen=True)
class Unanswered:
    """The server did not answer the question in time (a nats-server restarting, JetStream busy): the plan cannot be
    told a forgery, so it waits as for an opening on its way (truthy: `OpeningOnItsWay`, a `Waiting`), never refused nor
    parked for its tries. Found by the fault harness: a real plan waiting for its escalation through a nats-server
    restart had its probe time out, fell to the timed rule, and, its delivery count already past the inbox's tries,
    was parked at once as "failed 5 times; last error OpeningNotYetHeard"."""

    error: str

    def __bool__(self) -> bool:
        return True

    def __str__(self) -> str:
        return f"the server did not answer within {PROBE_SECONDS:g} s whether it is on its way ({self.error})"


class OpeningProbe:
    """`opening_on_its_way` for the meeting's handlers, which run on the inbox's own thread: the question is put to the
    service's event loop (its NATS connection) and its answer awaited there, at most `PROBE_SECONDS`. None from the
    loop's own thread (a direct call in a test); `Unanswered` when the server does not answer in time."""

    def __init__(self, loop: asyncio.AbstractEventLoop, js: Any, service: str, partitions: int) -> None:
        self.loop, self.js, self.service, self.partitions = loop, js, service, partitions
        self.asked = 0

    def __call__(self, plan_source: str, openers: Iterable[tuple[str, str]],
                 case_id: UUID) -> Awaited | Unanswered | bool | None:
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self.loop or self.loop.is_closed():
            return None
        self.asked += 1
        future = asyncio.run_coroutine_threadsafe(
            opening_on_its_way(self.js, self.service, plan_source, list(openers), case_id, self.partitions), self.loop)
        try:
            return future.result(timeout=PROBE_SECONDS)
        except Exception as exc:  # noqa: BLE001 - no answer: the plan waits (`Unanswered`)
            future.cancel()
            error = f"{type(exc).__name__}: {exc}".rstrip(": ")
            log.warning("meeting.opening_probe_failed", error=error)
            return Unanswered(error)
