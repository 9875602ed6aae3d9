"""The cases outreach, participation and collaboration hold, read once from the stream for a store made before the
meeting kept them.

The meeting lists a first plan from outreach or participation only for a case that program announced it holds
(OutreachStarted, ParticipationStarted: services/meeting/application.py `_require_held`, D6), and one from collaboration
only for a case intake escalated (CaseEscalated) or outreach handed over to it (OutreachHandedOver, to_program
collaboration; D4). Its consumers of those sources hear every such event from this version on; a store made before
never did (the consumers' filters named other events, and their tracking records are past these since). So at
start-up, for each mark not yet in the store (`READ_MARKS`: `HELD_CASES_READ` for outreach's and participation's start
events, `ESCALATIONS_READ` for collaboration's, added later, so a store caught up for the first is read again for the
second), each such event is read once from the stream's start by subject
(`$JS.API.STREAM.MSG.GET.JUSOU` with `next_by_subj`: a right the service has already, natsauth.py), recorded without a
tracking record, and the store marked. Until then a first plan for a case not known held is retried by the inbox, not
refused (`HeldCasesNotYetRead`: one that used up its tries is parked, to be replayed); after, one for a case never
announced is dead-lettered with its reason (collaboration's after a short wait, `OpeningNotYetHeard`: its case opens on
another source's event, which another consumer delivers). The events are known as soon as they are read (about
0.5 ms each on the test machine, 2,000 in 1.0 s), before they are recorded (about 2 ms each: 2,000 in 4 s).

The read runs after the consumers' filters name the start events (the inbox's `reconcile`, before its first pull): a
start event published later is delivered by its consumer, one published before is read here (both: recorded once).
Every replica of the meeting must run this version before any of them starts it (an older replica's consumer would
take a start event and ack it unread).
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import structlog
from fastapi import FastAPI
from nats.js.errors import NotFoundError

from services.meeting.application import MeetingApplication
from services.meeting.domain import HELD_PROGRAMS, held_events
from services.meeting.openings import OpeningProbe
from shared import tenancy
from shared.contract.events import STREAM, SUBJECT_PREFIX, Envelope, PoisonMessage, parse
from shared.settings import current

log = structlog.get_logger()

#: start events recorded per transaction while catching up
CHUNK = 500


def started_subjects(programs: list[str] | None = None) -> list[str]:
    """The subjects of the events that make `programs` (every plan owner when None) hold a case:
    `jusou.outreach.OutreachStarted`, ..., `jusou.intake.CaseEscalated`, `jusou.outreach.OutreachHandedOver`."""
    return [f"{SUBJECT_PREFIX}.{source}.{event_type}"
            for source, event_type in held_events(HELD_PROGRAMS if programs is None else programs)]


async def read_started(js: Any, subject: str) -> AsyncIterator[tuple[int, Envelope]]:
    """Every message on `subject` of `JUSOU`, from the first, as (stream sequence, envelope); one that is no envelope of
    its subject is passed over (its consumer parked it with its reason)."""
    seq = 1
    while True:
        try:
            found = await js.get_msg(STREAM, seq=seq, subject=subject, next=True)
        except NotFoundError:
            return
        seq = found.seq + 1
        try:
            envelope, _ = parse(found.data or b"")
        except PoisonMessage:
            continue
        if f"{SUBJECT_PREFIX}.{envelope.source}.{envelope.event_type}" == subject:
            yield found.seq, envelope


async def catch_up(app: MeetingApplication, js: Any) -> int | None:
    """Read the start events from the stream's start and record them (`catch_up_held_cases`); None when the store was
    caught up already. Returns how many cases were new."""
    unread = await anyio.to_thread.run_sync(app.unread_programs)
    if not unread:
        return None
    head = (await js.stream_info(STREAM)).state.last_seq
    announced: list[Envelope] = []
    for subject in started_subjects(unread):
        async for seq, envelope in read_started(js, subject):
            head = max(head, seq)
            announced.append(envelope)
    app.heard_on_stream(announced)  # a first plan waiting for one of these is listed from now on
    recorded = 0
    for start in range(0, len(announced), CHUNK):
        recorded += await anyio.to_thread.run_sync(app.catch_up_held_cases, announced[start:start + CHUNK], None)
    await anyio.to_thread.run_sync(app.catch_up_held_cases, [], head)
    return recorded


async def consumers_filtered(runtime: Any) -> None:
    """Wait until the inbox's consumers of intake, outreach and participation were reconciled (their filters name the
    events read here), or it is an inbox that does not say (partitioned: each partition consumer takes every type of
    its source)."""
    inbox = runtime.inbox
    filtered = getattr(inbox, "filtered", None)
    if filtered is None or hasattr(inbox, "partitions"):  # partition consumers: `jusou.<source>.*`, every type
        return
    sources = sorted({subject.split(".")[1] for subject in started_subjects()})
    delay = 0.05
    for _ in range(60):  # about a minute; then read all the same (the consumer keeps its old filter: logged)
        if all(source in filtered for source in sources):
            return
        await asyncio.sleep(delay)
        delay = min(delay * 2, 1.0)
    log.warning("meeting.held_cases_filters_unconfirmed", services=sources)


async def keep_catching_up(runtime: Any) -> None:
    """`catch_up` for one runtime (a tenant's, with a tenants file), tried again while NATS or the store is away."""
    delay = 0.5
    while True:
        try:
            await consumers_filtered(runtime)
            recorded = await catch_up(runtime.app, runtime.relay.nc.jetstream())
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - tried again; first plans for unknown cases wait meanwhile
            log.warning("meeting.held_cases_unread", error=f"{type(exc).__name__}: {exc}", retry_in_seconds=delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)
            continue
        if recorded is not None:
            log.info("meeting.held_cases_caught_up", recorded=recorded, tenant=runtime.tenant)
            for plan in await anyio.to_thread.run_sync(runtime.app.plans_never_held):
                log.warning("meeting.plan_of_a_case_never_held", tenant=runtime.tenant, **plan,
                            ja="担当を始めたことのないケースのプランが議題にあります。確認し、会議の操作で正してください",
                            problem="listed before the meeting checked who holds the case (README: a forged message)")
        return


def catching_up(api: FastAPI) -> FastAPI:
    """Start `keep_catching_up` for each runtime once the service's lifespan opened them; stop it at the end."""
    inner: Callable[[Any], Any] = api.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[Any]:
        async with inner(app) as state:
            tasks = []
            runtime = app.state.runtime
            for one in (list(runtime) if hasattr(runtime, "runtimes") else [runtime]):
                context = contextvars.copy_context()
                if one.tenant:
                    context.run(tenancy.CURRENT.set, one.tenant)
                # a first collaboration plan asks the server whether its case's opening is on its way (openings.py)
                one.app.opening_probe = OpeningProbe(asyncio.get_running_loop(), one.relay.nc.jetstream(),
                                                     one.app.service, context.run(lambda: current().partitions))
                tasks.append(asyncio.create_task(keep_catching_up(one), name="meeting-held-cases", context=context))
            try:
                yield state
            finally:
                for one in (list(runtime) if hasattr(runtime, "runtimes") else [runtime]):
                    one.app.opening_probe = None
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)

    api.router.lifespan_context = lifespan
    return api
