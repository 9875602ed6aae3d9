"""Outbox relay: the one road out (STYLE 7).

Publishes a service's recorded events to the `JUSOU` stream from its event store, in store
order, with `Nats-Msg-Id` = `event_id`. Its position is kept in the store itself (a tracking
record) and saved after the stream acknowledged, so a restart resumes where it stopped; an
event published again after a crash is the same message (deterministic `event_id`) and the
stream drops it. The relay is woken by every commit that records events, and polls as a fallback for commits made
by another process (a second replica on PostgreSQL).

Only this service may publish on `jusou.<service>.>` (a NATS user per service), and only its
relay does. A message there that its store never recorded (another `event_id` at the position it
claims, or no envelope at all) was put there by someone holding the service's NATS password: the
relay reports it (`foreign`: readyz `degraded`, /metrics `jusou_relay_foreign_messages_total`).
It looks whenever the stream holds more on these subjects than it chained its publishes onto: when
a publish is refused for it (`Nats-Expected-Last-Subject-Sequence`) and, while idle, with one
`get_last_msg` (a JetStream API request and its reply): first a poll after its last publish, then
twice as long after each look that found nothing, up to `LOOK_BACKOFF` polls (issue 19: six relays
looked once a second each, idle or busy). A publish the stream appended right after what the relay
chained onto shows that nothing came between, as a look would: while it publishes, it does not look.
So a foreign message is noticed at the relay's next publish (refused, then looked at), or while it is
idle within `LOOK_BACKOFF` polls (32 s by default; it was 1 s). A consumer's tracking moved by such a message is reported by the consumer
and by `jusou status` (shared/messaging/inbox.py).

What this very process commits is handed to the relay by the commit itself (`recorded`, through the
application's `on_recorded`, after the commit): the relay publishes it without reading it back from the
store, decrypting and decoding it (issue 19). The hand-off is used only from the next position on and as long
as its positions follow on one from another; anything else (another process's commit on a shared store, a
PostgreSQL sequence's gap, what was committed before the relay started, a rewind after the stream lost its tail)
is read from the store as before, so what is published, and in which order, does not depend on it.

On PostgreSQL the relay reads the store on a connection of its own (`own_recorder`), not one of the application's
pool, and saves its position beside its publishing (`_save_in_background`): under load the pool's connections are all
held by commands waiting for the events table's lock, and the relay, waiting behind them, published nothing meanwhile
(issue 19, docs/capacity.md).

Each message is also a CloudEvent in binary content mode (issue 17; docs/integrating.md §2): the
`ce-*` headers of `cloudevents_headers` beside the body, which stays the envelope, so CloudEvents
tooling reads the stream as it is and nothing changes for the envelope's readers.
"""

from __future__ import annotations

import asyncio
import copy
import functools
import json
import re
import sys
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import anyio
import structlog
from eventsourcing.utils import resolve_topic
from nats.aio.client import Client
from nats.errors import Error as NatsError
from nats.js.api import RawStreamMsg
from nats.js.client import JetStreamContext
from nats.js.errors import APIError, NotFoundError

from shared.contract.events import STREAM, SUBJECT_PREFIX, Envelope, envelope_json
from shared.kernel.app import RELAY_TRACKING, ServiceApplication
from shared.kernel.journey import event_id_of
from shared.kernel.store import saved_and_pending
from shared.messaging.inbox import MAX_SOURCE_POSITION
from shared.observe.logs import bind_event, event_fields, unbind_event
from shared.observe.tracing import PublishSpan

log = structlog.get_logger()

WRONG_LAST_SEQUENCE = 10071  # JetStream's error code: the expected last subject sequence did not match

Translate = Callable[[Any, int], Envelope | None]

#: CloudEvents (binary content mode, the NATS protocol binding): the envelope's JSON Schema, which the
#: message body (the CloudEvent's `data`) follows: `$id` of shared/contract/schemas/Envelope.json.
ENVELOPE_SCHEMA_ID = "urn:jusou:schema:Envelope"
BATCH = 256
#: The position is saved at most this often, caught up or not (bench/: each save is a commit on the
#: store, an fsync the service's commands queue behind; saved whenever caught up, it was one more
#: fsync per command under a steady load). Saved too when the relay stops.
SAVE_EVERY_SECONDS = 0.5
STOP_SAVE_SECONDS = 3.0  # a store that does not answer must not hold up the service's stop


FOREIGN_KEPT = 20  # the last foreign messages shown on readyz (all are counted)
LOOK_BATCH = 256  # messages on our subjects checked per look
LOOK_BACK = 1000  # messages looked back through for the relay's newest (`newest_on_stream`, `_newest_under_copies`)
#: Idle, the looks for foreign messages back off to one every this many polls (module docstring).
LOOK_BACKOFF = 32
#: Events of this process's commits held for the relay (`Relay.recorded`); beyond, the oldest are read from the store.
HANDED_KEPT = 4 * BATCH


@dataclass(frozen=True)
class Foreign:
    """A message on this service's subjects that its store never recorded."""

    seq: int
    subject: str
    why: str


class MessageIdHeld(NatsError):
    """The stream dropped an event as a duplicate of a message that is not that event (someone holding the service's
    NATS password published first with the event's `Nats-Msg-Id`): it is published again once the stream's duplicate
    window is past, never taken for published."""


#: A relay failing to publish for this long (an error other than the bus's, which readyz reports as unreachable) is
#: named in readyz `degraded`: a store it cannot read (another cipher key) failed for ever behind a "ready" before.
FAILING_REPORTED_AFTER_SECONDS = 10.0

class Relay:
    def __init__(self, app: ServiceApplication, translate: Translate, nc: Client, poll_seconds: float) -> None:
        self.app = app
        self.translate = translate
        self.nc = nc
        self.js = nc.jetstream()
        self.poll_seconds = poll_seconds
        self.position = 0
        self.published = 0
        self._rewound_until = 0  # after a rewind, republish up to here before following the saved position
        self._saved, self._saved_at = 0, time.monotonic()  # what this relay last saved, and when
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._checked = -1  # the connection's reconnect count when the stream was last looked at
        self._chain: int | None = None  # stream sequence of the last message on our subjects (None: look)
        self._looked: int | None = None  # stream sequence on our subjects checked up to (None: not started)
        self._looked_at = 0.0
        self._proven_at = 0.0  # when a publish last showed nothing foreign came before it (as a look would)
        self._look_polls = 1  # polls between idle looks: doubled after each look that found nothing new
        self.foreign: list[Foreign] = []  # messages on our subjects the store never recorded (the last FOREIGN_KEPT)
        self.ended: str | None = None  # the relay's task ended other than by a stop (readyz degraded: never silent)
        #: when its publishing began failing with an error other than the bus's (a store it cannot read: another
        #: JUSOU_CIPHER_KEY than the store's), and the error; None while it publishes (`problems`)
        self.failing_since: float | None = None
        self.failing_error = ""
        self.out_of_reach: str | None = None  # its newest event not found within LOOK_BACK (`_go_on_from_saved`)
        self.foreign_count = 0
        self._held_reported: set[int] = set()  # stream sequences reported for holding one of our events' ids
        self._position_read_at = float("-inf")  # when `pending` last read the saved position (SQLite)
        # PostgreSQL: the relay reads the store on a connection of its own, never one of the application's pool
        # (`own_recorder`), and the saved position with the events past it in one statement (shared/kernel/store.py)
        self._recorder, self._pool_back = own_recorder(app.recorder)
        self._saved_and_pending = saved_and_pending(self._recorder or app.recorder, RELAY_TRACKING)
        #: PostgreSQL: the save of the published position in flight, beside the publishing (`_save_in_background`),
        #: on a worker thread of its own too
        self._saving: asyncio.Task[None] | None = None
        self._save_thread = anyio.CapacityLimiter(1)
        # The relay's store reads on a worker thread of their own: with anyio's shared limiter (40 threads) they
        # queued behind the HTTP handlers of a loaded service, and the stream waited for them (issue 19)
        self._thread = anyio.CapacityLimiter(1)
        #: position → domain event (None: private) of this process's commits not yet published (`recorded`)
        self._handed: dict[int, Any] = {}
        self._handed_lock = threading.Lock()
        self.handed_over = 0  # events taken from the hand-off rather than read from the store
        #: the last round published what was handed over and nothing else is: `_follow` waits for a commit or the
        #: poll rather than read the store, and a wake for a due save reads nothing either (a commit of this process
        #: wakes it with its events handed over; another process's commit is found by the poll, as before)
        self._caught_up = False
        self._store_read_at = float("-inf")  # when the store was last read for events (the poll for others' commits)

    def wake(self) -> None:
        """Thread-safe: called by the application after each commit."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        on_recorded = getattr(self.app, "on_recorded", None)  # shared/kernel/app.py: each commit's recordings
        if on_recorded is not None:
            on_recorded(self.recorded)  # and woken by it, for a commit that recorded events (`recorded`)
        else:
            self.app.on_commit(self.wake)
        self.position = await self._from_store(self.app.relay_position)
        try:
            await self._follow()
        finally:
            try:
                await self._save_on_stop()
            finally:
                self.close()

    def close(self) -> None:
        """Let go of the relay's own PostgreSQL connection (`own_recorder`; none on SQLite), in the background: a
        stopping service does not wait for it."""
        if self._recorder is not None:
            threading.Thread(target=self._recorder.datastore.close, name="relay-store-close", daemon=True).start()
            self._pool_back()  # the application's pool may open as many connections as before the relay
            self._recorder = None

    async def _follow(self) -> None:
        backoff = 0.1
        task = asyncio.current_task()
        while True:
            if task is not None and task.cancelling():
                # Asked to stop, and still here: an await swallowed the cancellation (on Python 3.11 `wait_for`, which
                # nats-py's requests use, returns its result when it is cancelled as the answer arrives). Stop now,
                # not never (tests/integration/test_relay_stops.py).
                raise asyncio.CancelledError
            self._wake.clear()
            try:
                if self._chain is None or self._checked != self.nc.stats["reconnects"]:
                    reconnects = self.nc.stats["reconnects"]
                    await self.follow_stream()
                    self._checked = reconnects
                moved = await self.publish_pending()
                backoff = 0.1
                self.failing_since = None
            except (TimeoutError, NatsError, ConnectionError, OSError) as exc:
                log.warning("relay.publish_failed", service=self.app.service, error=str(exc), retry_in=backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            except Exception as exc:  # noqa: BLE001 - the store away (a database restart) or worse: never die
                log.error("relay.failed", service=self.app.service, error=f"{type(exc).__name__}: {exc}",
                          retry_in=backoff)
                if self.failing_since is None:
                    self.failing_since = time.monotonic()
                self.failing_error = f"{type(exc).__name__}: {exc}"[:300]
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            if not moved or self._caught_up:  # nothing more to read, or all that was handed over is published
                try:
                    await self.look_for_foreign()
                except (TimeoutError, NatsError, ConnectionError, OSError) as exc:
                    log.warning("relay.look_failed", service=self.app.service, error=str(exc))
                except Exception as exc:  # noqa: BLE001 - the store away while looking (it reads event ids): never die
                    log.error("relay.look_failed", service=self.app.service, error=f"{type(exc).__name__}: {exc}")
                # asyncio.timeout, not wait_for: on Python 3.11 a wait_for whose event is set as the task is cancelled
                # returns instead of raising, the cancellation lost, and the relay ran on for ever after its service
                # asked it to stop (a commit's wake racing the stop; tests/integration/test_relay_stops.py)
                try:
                    async with asyncio.timeout(self._idle_seconds()):
                        await self._wake.wait()
                except TimeoutError:
                    pass

    async def _from_store(self, read: Callable[[], int]) -> int:
        """A value from the store, waiting for it to answer (the relay starts with the service)."""
        delay = 0.5
        while True:
            try:
                return await anyio.to_thread.run_sync(read)
            except Exception as exc:  # noqa: BLE001 - as in _follow: wait for the store, do not die
                log.error("relay.failed", service=self.app.service, error=f"{type(exc).__name__}: {exc}",
                          retry_in=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    @property
    def saved_position(self) -> int:
        """The position this relay last saved in the store (the published position is saved at most
        every SAVE_EVERY_SECONDS)."""
        return self._saved

    def _idle_seconds(self) -> float:
        """How long to wait for a commit: until the next poll, or until an unsaved position is due."""
        if self.position <= self._saved or (self._saving is not None and not self._saving.done()):
            return self.poll_seconds  # (a save in flight wakes the relay when it ends: `_save_in_background`)
        return min(self.poll_seconds, max(0.0, self._saved_at + SAVE_EVERY_SECONDS - time.monotonic()))

    async def _save_on_stop(self) -> None:
        """Save what was published since the last save, within a few seconds: the service is stopping."""
        with anyio.CancelScope(shield=True), anyio.move_on_after(STOP_SAVE_SECONDS):
            if self._saving is not None:  # a save in flight (PostgreSQL): its end first, then what it did not save
                await asyncio.wait([self._saving])
            if self.position <= self._saved:
                return
            try:
                await anyio.to_thread.run_sync(self.app.save_relay_position, self.position, abandon_on_cancel=True)
            except Exception as exc:  # noqa: BLE001 - unsaved is safe: the next start republishes, the stream drops it
                log.warning("relay.save_failed", service=self.app.service, error=f"{type(exc).__name__}: {exc}")

    async def follow_stream(self) -> None:
        """Go on from the newest of our events the stream holds (at start, after a reconnect, and
        when the stream refused a publish). nats-server acknowledges before it writes to disk, so
        its crash can drop the stream's tail after this relay saved its position past it: the store
        is the source of truth, and what the stream lost is published again, in store order.

        Each publish is appended only if the last message on `jusou.<service>.>` is still the one
        this relay chained onto (`Nats-Expected-Last-Subject-Sequence`): a publish that reaches a
        restarted server after its tail was lost is refused instead of landing out of order, and
        the consumers, which need each source's events in rising order, never see a gap filled late.
        """
        if self._looked is not None:  # not the start: what is on our subjects that we did not chain onto?
            await self.look_for_foreign(at_once=True)
        found = await newest_on_stream(self.js, self.app.service, self._event_id_at)
        if found is None:  # more than LOOK_BACK messages of the stream since our newest, on top of it ours: foreign
            found = await self._go_on_from_saved()
        else:
            self.out_of_reach = None
        self._chain, held = found
        if self._looked is None or self._looked > self._chain:  # the start, or the stream lost its tail
            self._looked = self._chain  # what came before this start is `jusou audit verify`'s to check
        if held < self.position:
            held = await self._newest_under_copies(held)
        if held < self.position:
            log.warning("relay.stream_lost_tail", service=self.app.service, saved=self.position, on_stream=held)
            self._rewound_until = self.position
            self.position = held
        elif held > self.position:  # published before a crash, not yet saved: already there
            self.position = held

    async def _go_on_from_saved(self) -> tuple[int, int]:
        """The newest of our events is not within `LOOK_BACK` messages under the last one on our subjects: more than
        that many messages there that our store never recorded (someone holding this service's NATS password published
        them: the review from outside, 1,050 on `jusou.intake.Junk`), or a stream that lost its tail under as many.
        Raising here stopped the relay for good, silently (readyz said ready, nothing of the service reached anyone):
        it goes on from its saved position instead, chained onto the last message on our subjects, and says so
        (readyz degraded, `out_of_reach`) until a look finds its newest again. An event published after the last save
        (within SAVE_EVERY_SECONDS of a crash) may be published again: the stream drops it within its duplicate window,
        a consumer's tracking after it; `jusou audit verify` lists what the stream holds twice or lost."""
        last = (await self.js.get_last_msg(STREAM, f"{SUBJECT_PREFIX}.{self.app.service}.>")).seq or 0
        self.out_of_reach = (
            f"{self.app.service}'s relay did not find its newest event within the last {LOOK_BACK} messages of "
            f"{STREAM} under seq {last} (messages on jusou.{self.app.service}.> its store never recorded? someone holds "
            f"its NATS password; README, Operating): it goes on from its saved position {self.position}; run jusou "
            "audit verify (--repair takes foreign messages off the stream)")
        log.error("relay.newest_out_of_reach", service=self.app.service, last_seq=last, position=self.position)
        return last, self.position

    async def _newest_under_copies(self, held: int) -> int:
        """The newest message of ours on the stream claims `held`, below what this relay published: a lost tail, or a
        copy of an older message of ours put on top of the stream (someone holding this service's NATS password; an
        exact copy, its `Nats-Msg-Id` its own, passes every other check once the stream's duplicate window is past),
        which made the relay republish every event after it. Rare, so the look goes back `LOOK_BACK` messages for one
        of ours claiming more: found, the tail is there (its position is returned), and each message of ours above it
        whose event is on the stream twice in the look is reported as foreign (a message `jusou audit verify
        --repair` put back is there once: it is no copy). Else `held`: the tail was lost."""
        prefix = f"{SUBJECT_PREFIX}.{self.app.service}."
        ours: list[tuple[int, int, str, str]] = []  # (seq, position, event_id, subject), newest first
        seq = self._chain or 0
        for _ in range(LOOK_BACK):
            if seq < 1:
                break
            try:
                msg = await self.js.get_msg(STREAM, seq)
            except NotFoundError:
                msg = RawStreamMsg()
            seq -= 1
            if not (msg.subject or "").startswith(prefix):
                continue
            try:
                body = json.loads(msg.data or b"")
                position, event_id = body["source_position"], body["event_id"]
            except (ValueError, TypeError, KeyError, RecursionError):
                continue
            if (isinstance(position, int) and (msg.headers or {}).get("Nats-Msg-Id") == event_id
                    and await self._event_id_at(position) == event_id):
                ours.append((msg.seq or 0, position, str(event_id), msg.subject or ""))
        best = max(ours, key=lambda o: o[1], default=None)
        if best is None or best[1] <= held:
            return held
        counted = Counter(event_id for _, _, event_id, _ in ours)
        for at, position, event_id, subject in ours:
            if at > best[0] and counted[event_id] > 1 and at not in self._held_reported:
                self._held_reported.add(at)
                self._report_foreign(Foreign(at, subject, (
                    f"a copy of {self.app.service}'s event at position {position} (event_id {event_id}), which the "
                    f"stream holds already, put after its newest event (position {best[1]})")))
        return best[1]

    async def look_for_foreign(self, at_once: bool = False) -> None:
        """Report the messages on our subjects, past what this relay has seen, that our store never recorded.

        Idle: the last sequence on our subjects against what this relay chained onto (another replica's publishes
        are ours too: the store has them), a poll after the last look or the last publish that showed the same
        (`_proven_at`), then twice as long after each look that found nothing new, up to `LOOK_BACKOFF` polls.
        """
        if self._looked is None:
            return
        since = time.monotonic() - max(self._looked_at, self._proven_at)
        if not at_once and since < self.poll_seconds * self._look_polls:
            return
        self._looked_at = time.monotonic()
        subjects = f"{SUBJECT_PREFIX}.{self.app.service}.>"
        try:
            last = (await self.js.get_last_msg(STREAM, subjects)).seq or 0
        except NotFoundError:
            self._look_polls = min(2 * self._look_polls, LOOK_BACKOFF)
            return
        if self._looked >= last:  # nothing new on our subjects: look again later
            self._look_polls = min(2 * self._look_polls, LOOK_BACKOFF)
            return
        self._look_polls = 1  # something came on our subjects that this relay did not chain onto
        for _ in range(LOOK_BATCH):  # the rest at the next look (another replica may publish many)
            if self._looked >= last:
                return
            try:
                msg = await self.js.get_msg(STREAM, self._looked + 1, subject=subjects, next=True)
            except NotFoundError:
                self._looked = last
                return
            if not msg.seq or msg.seq > last:
                self._looked = last
                return
            why = await self._not_ours(msg)
            if why is not None:
                self._report_foreign(Foreign(msg.seq, msg.subject or "", why))
            self._looked = msg.seq

    async def _not_ours(self, msg: RawStreamMsg) -> str | None:
        """Why a message on our subjects is not one our store recorded (None: it is ours)."""
        try:
            body = json.loads(msg.data or b"")
            position, event_id = body["source_position"], body["event_id"]
        except (ValueError, TypeError, KeyError, RecursionError):
            return "not an envelope"
        if not isinstance(position, int) or position < 1 or position > MAX_SOURCE_POSITION:
            return f"claims source_position {position!r}, which no store has"
        held = (msg.headers or {}).get("Nats-Msg-Id")
        if held != event_id:  # the relay always sends its event's id: a copy carrying another holds that id
            return (f"carries Nats-Msg-Id {held!r}, not its event_id {event_id} (a copy of position {position} holding "
                    "another event's id, which the stream then drops as a duplicate)")
        if body.get("source") == self.app.service and await self._event_id_at(position) == event_id:
            return None
        return (f"claims source {body.get('source')!r}, event_type {body.get('event_type')!r}, position {position}, "
                f"event_id {event_id}: not what {self.app.service} recorded there")

    async def _duplicate_is_ours(self, seq: int, envelope: Envelope, body: bytes) -> None:
        """The stream answered that it holds this event already, at `seq`: go on only if that message is this very
        event (the envelope's bytes are deterministic, as `jusou audit verify`'s *altered* relies on). `event_id`, and so
        `Nats-Msg-Id`, is predictable (uuid5 of service, aggregate and version): someone holding this service's NATS
        password can publish first with the id of an event still to come, and the stream then drops the event itself.
        That message is reported as foreign and the event held (`MessageIdHeld`: retried, published once the stream's
        duplicate window is past), never taken for published."""
        try:
            held = await self.js.get_msg(STREAM, seq)
        except NotFoundError:
            held = RawStreamMsg()
        if held.data == body:
            return
        if seq not in self._held_reported:
            self._held_reported.add(seq)
            self._report_foreign(Foreign(seq, held.subject or "", (
                f"holds the Nats-Msg-Id {envelope.event_id} of {self.app.service}'s {envelope.event_type} at position "
                f"{envelope.source_position}, so the stream dropped that event as a duplicate: it is published once the "
                "stream's duplicate window is past")))
        self._chain = None
        raise MessageIdHeld(f"the stream holds {envelope.event_id} at seq {seq} for another message")

    def _report_foreign(self, found: Foreign) -> None:
        self.foreign_count += 1
        self.foreign = [*self.foreign[-(FOREIGN_KEPT - 1):], found]
        log.error("relay.foreign_message", service=self.app.service, seq=found.seq, subject=found.subject,
                  problem=found.why)

    def problems(self) -> list[str]:
        """What readyz reports as `degraded` for the relay (empty when all is well)."""
        if self.ended:
            return [f"{self.app.service}'s relay stopped and publishes nothing more: {self.ended} (restart the service)"]
        reach = [self.out_of_reach] if self.out_of_reach else []
        since = getattr(self, "failing_since", None)
        if since is not None and time.monotonic() - since >= FAILING_REPORTED_AFTER_SECONDS:
            reach.append(f"{self.app.service}'s relay has failed to publish for {time.monotonic() - since:.0f} s, retrying: "
                         f"{self.failing_error} (a store it cannot read, e.g. another JUSOU_CIPHER_KEY than the store's? "
                         "The log's relay.failed lines say more)")
        if not self.foreign:
            return reach
        shown = "; ".join(f"seq {f.seq} {f.subject}: {f.why}" for f in self.foreign)
        return [*reach, (f"{self.foreign_count} message(s) on jusou.{self.app.service}.> that {self.app.service}'s store never "
                 f"recorded (someone holds its NATS password; README, Operating): {shown}")]

    def _expect(self) -> dict[str, str]:
        return {"Nats-Expected-Last-Subject-Sequence": str(self._chain or 0),
                "Nats-Expected-Last-Subject-Sequence-Subject": f"{SUBJECT_PREFIX}.{self.app.service}.>"}

    async def _event_id_at(self, position: int) -> str | None:
        """The `event_id` of the event this relay publishes from `position` (a message claiming it may be forged):
        None when the store holds nothing there, or an event it never publishes (most positions: a person shown on a
        basis, notes kept in the service), whose id is as predictable as any (uuid5 of service, aggregate, version)."""
        recorder = self._recorder or self.app.recorder
        found = await anyio.to_thread.run_sync(
            lambda: recorder.select_notifications(start=position, limit=1, stop=position), limiter=self._thread)
        public = getattr(self.translate, "public_classes", None)
        if not found or (public is not None and resolve_topic(found[0].topic) not in public):
            return None
        return str(event_id_of(self.app.service, found[0].originator_id, found[0].originator_version))

    def recorded(self, recordings: Sequence[Any]) -> None:
        """Thread-safe: called by the application with each commit's recordings (`on_recorded`), in the committing
        thread, after the commit: what this process recorded is handed to the relay as it was recorded, so the relay
        does not read back, decrypt and decode it (`_take_handed`), and the relay is woken. Private events are kept
        as None: only their position counts. A commit that recorded no event wakes nothing: a commit outside the
        event store's `put` (none in the services) would be found by the poll, as another process's is."""
        if not recordings:
            # a commit of a tracking record alone (a delivery whose handlers recorded nothing: most of a consumer's):
            # nothing to publish, no wake (issue 19: each woke the relay, which read the store on a worker thread)
            return
        public = getattr(self.translate, "public_classes", None)
        with self._handed_lock:
            handed = self._handed
            for recording in recordings:
                event = recording.domain_event
                handed[recording.notification.id] = event if public is None or type(event) in public else None
            while len(handed) > HANDED_KEPT:  # the relay far behind (NATS away): the oldest are read from the store
                del handed[next(iter(handed))]
        self.wake()

    def _take_handed(self) -> list[tuple[int, Any]]:
        """The events this process recorded from the next position on, as long as they follow on one from another
        (at most BATCH); empty when the next position was not handed over here: a commit of another process (a
        replica on PostgreSQL), one made before the relay started, a PostgreSQL sequence's gap, a commit whose
        outcome its process did not learn, or a rewind after the stream lost its tail. Then the store is read, as
        it always was. Handed-over events are committed (the hand-off comes after the commit), and contiguous from
        the next position, so publishing them is publishing what the store holds there, in its order."""
        self._caught_up = False
        if self.position < self._rewound_until:
            return []
        taken: list[tuple[int, Any]] = []
        with self._handed_lock:
            handed = self._handed
            if not handed:
                return taken
            position = self.position + 1
            while len(taken) < BATCH and position in handed:
                taken.append((position, handed.pop(position)))
                position += 1
            if not taken:  # handed over after the relay had read past them from the store
                for stale in [p for p in handed if p <= self.position]:
                    del handed[stale]
            self._caught_up = bool(taken) and len(taken) < BATCH and not handed
        return taken

    async def publish_pending(self) -> int:
        """Publish what the store holds beyond the saved position; return how many were read (handed over by this
        process's commits, `recorded`, or else read from the store)."""
        unbind_event()

        jumped = [False]

        def pending() -> Sequence[Any]:
            # Replicas of a service share its store, and each runs a relay: start past what any of
            # them saved, so this one does not publish again what another published long ago (the
            # stream's duplicate window is 2 minutes). Both may still publish the same recent
            # events; `Nats-Msg-Id` keeps one. Each relay publishes in store order and goes on only
            # once the stream acknowledged the previous event, so the stream keeps the store's order.
            # On PostgreSQL, where replicas share a store, on every wake, in the same statement as the events
            # (issue 19: it was one more round trip per commit).
            if self.position >= self._rewound_until and self._saved_and_pending is not None:
                saved, found = self._saved_and_pending(self.position, BATCH)
                if saved > self.position:
                    self.position, jumped[0] = saved, True
                    return []
                return found
            # On SQLite at most once per poll: no one else moves it in the supported shapes, and should a second
            # process run a relay on the same file (the partitioned replicas share one), what both publish within a
            # poll is dropped by the stream (`Nats-Msg-Id`, a 2-minute window).
            if self.position >= self._rewound_until and time.monotonic() - self._position_read_at >= self.poll_seconds:
                saved = self.app.relay_position()
                self._position_read_at = time.monotonic()
                if saved > self.position:
                    self.position, jumped[0] = saved, True
                    return []
            return (self._recorder or self.app.recorder).select_notifications(start=self.position + 1, limit=BATCH)

        was_caught_up = self._caught_up
        handed = self._take_handed()
        items: Sequence[tuple[int, Any]]
        if handed:
            items = handed  # (position, the domain event or None for a private one), as this process recorded them
        elif was_caught_up and not self._handed and time.monotonic() - self._store_read_at < self.poll_seconds:
            items = []  # all this process committed is out, and the poll for others' commits is not due (a save is)
            self._caught_up = True
        else:
            notifications = await anyio.to_thread.run_sync(pending, limiter=self._thread)
            if jumped[0]:
                # Another relay on this store (a replica) saved a position past this one's: what it published is
                # taken as on the stream only once the stream shows it. Its tail may have been lost since (NATS
                # killed): then back to what the stream holds, the gap published again in order (`follow_stream`),
                # not stepped over by this relay's next event chained onto what came before the gap (a relay
                # rewinding over the gap would then find that later event, take the gap for published, and the
                # events in it would never reach the stream: the partitioned fault harness, intake@107).
                jumped[0] = False
                await self.follow_stream()
                notifications = await anyio.to_thread.run_sync(pending, limiter=self._thread)
                if jumped[0]:  # moved again meanwhile: looked at before anything is published (`_follow`)
                    self._chain = None
                    notifications = []
            self._store_read_at = time.monotonic()
            items = [(notification.id, notification) for notification in notifications]
        public = getattr(self.translate, "public_classes", None)  # shared/kernel/translate.py: what may leave
        for position, item in items:
            if item is None:
                continue  # handed over private: never published
            if not handed:
                if public is not None and resolve_topic(item.topic) not in public:
                    continue  # never published: not decrypted nor decoded (most stored events stay in the service)
                event = self.app.mapper.to_domain_event(item)
            else:
                event = item
            envelope = self.translate(event, position)
            if envelope is not None:
                try:
                    span = PublishSpan(self.app.service, envelope, event)  # continues the trace stored with the event
                    body = envelope_json(envelope)
                    ack = await self.js.publish(
                        envelope.subject,
                        body,
                        stream=STREAM,
                        headers={"Nats-Msg-Id": str(envelope.event_id), **cloudevents_headers(envelope), **span.headers,
                                 **self._expect()},
                        timeout=5,
                    )
                    if ack.duplicate:  # rare (a republish after a crash, a replica): is what the stream kept ours?
                        await self._duplicate_is_ours(ack.seq, envelope, body)
                except BaseException as exc:
                    # the event's ids on relay.publish_failed (bound only when a publish fails: issue 19, about 9 µs
                    # a message; the line of a publish carries them itself)
                    bind_event(envelope)
                    if isinstance(exc, APIError) and exc.err_code == WRONG_LAST_SEQUENCE:
                        self._chain = None  # the stream is not where this relay left it
                    raise
                span.end()
                if not ack.duplicate:
                    if self._looked is not None and self._looked >= (self._chain or 0):
                        self._looked = ack.seq  # appended right after what we chained onto: nothing between
                        self._proven_at, self._look_polls = time.monotonic(), 1  # as good as a look
                    self._chain = ack.seq
                self.published += 1
                log.info("relay.published", position=position, **event_fields(envelope))
        if items:
            self.position = items[-1][0]
        if handed:
            self.handed_over += len(items)
        # Saved once the stream acknowledged, at most every SAVE_EVERY_SECONDS (`run` comes back
        # when a save is due). A crash republishes what was acknowledged since: the same messages
        # (`Nats-Msg-Id`), which the stream drops, and which the consumers' tracking would skip.
        if self.position > self._saved and time.monotonic() - self._saved_at >= SAVE_EVERY_SECONDS:
            if self._recorder is None:  # SQLite: saved here, on the relay's thread, before it goes on
                await anyio.to_thread.run_sync(self.app.save_relay_position, self.position, limiter=self._thread)
                self._saved, self._saved_at = self.position, time.monotonic()
            elif self._saving is None or self._saving.done():
                self._saved_at = time.monotonic()  # (the next try, should this one fail, a SAVE_EVERY_SECONDS on)
                self._saving = asyncio.create_task(self._save_in_background(self.position))
        return len(items)

    async def _save_in_background(self, position: int) -> None:
        """PostgreSQL: save the published `position` (the application's `save_relay_position`, its connection from the
        application's pool) while the relay goes on publishing. Under load every connection of that pool may be taken
        by commands waiting for the events table's lock; a save awaited there held up every publish behind it
        (issue 19: 60-230 ms every SAVE_EVERY_SECONDS, docs/capacity.md). One save at a time; one that fails is tried
        again with a later position; the stop waits for it (`_save_on_stop`)."""
        try:
            await anyio.to_thread.run_sync(self.app.save_relay_position, position, abandon_on_cancel=True,
                                           limiter=self._save_thread)
        except Exception as exc:  # noqa: BLE001 - unsaved is safe: the next save (or start) covers it
            log.warning("relay.save_failed", service=self.app.service, error=f"{type(exc).__name__}: {exc}")
        else:
            self._saved = max(self._saved, position)
        if self.position > self._saved:
            self._wake.set()  # the next save is due a SAVE_EVERY_SECONDS after this one began (`_idle_seconds`)


def own_recorder(recorder: Any) -> tuple[Any, Callable[[], None]]:
    """For a PostgreSQL recorder: the same recorder (its statements, schema and tables) on a datastore of the relay's
    own, one connection, so that the relay's reads of the store (the events past its position, an event's id) never
    wait for a connection of the application's pool; None for another store (SQLite: no pool), and for a pool of one
    connection at most (the relay then uses it, as before). With it, what gives the application's pool its connection
    back (`Relay.close`): the relay's connection is taken out of the pool's maximum (and of its minimum when they are
    the same), so that a process never holds more connections than before (the server's `max_connections`).

    Under load the pool's connections (`JUSOU_PG_POOL_SIZE`, and the library's overflow: 15 by default) are all held by
    commands, most of them waiting for the events table's lock, which serialises a service's commits, each through its
    WAL flush; the relay's read waited behind them (issue 19: 26-200 ms a read, on a third of its rounds when the
    stream was behind; docs/capacity.md). One connection more per service, opened as the relay is made (in the
    background) and closed as it stops (`Relay.close`)."""
    postgres = sys.modules.get("eventsourcing.postgres")
    if postgres is None or not isinstance(recorder, postgres.PostgresRecorder):
        return None, lambda: None
    theirs = recorder.datastore
    pool = theirs.pool
    least, most = pool.min_size, pool.max_size
    if most <= 1:
        return None, lambda: None
    pool.resize(min(least, most - 1), most - 1)
    given = pool.kwargs
    datastore = postgres.PostgresDatastore(
        dbname=given["dbname"], host=given["host"], port=given["port"], user=given["user"], password=given["password"],
        connect_timeout=pool.timeout, idle_in_transaction_session_timeout=theirs.idle_in_transaction_session_timeout,
        pool_size=1, max_overflow=0, conn_max_age=pool.max_lifetime, pre_ping=theirs.pre_ping,
        lock_timeout=theirs.lock_timeout, schema=theirs.schema, get_password_func=pool.get_password_func,
        single_row_tracking=theirs.single_row_tracking, originator_id_type=theirs.originator_id_type,
        enable_db_functions=theirs.enable_db_functions)
    datastore.db_type_names = theirs.db_type_names  # the composite types, registered on its connections as on theirs
    datastore.psycopg_type_adapters = theirs.psycopg_type_adapters
    datastore.pool.open(wait=False)  # connecting in the background now: the relay's first read does not wait for it
    mine = copy.copy(recorder)
    mine.datastore = datastore
    return mine, functools.partial(pool.resize, least, most)


_TO_ENCODE = re.compile(r'[^!#$&-~]')  # all but printable ASCII, and `"` and `%`


def _header_value(text: str) -> str:
    """A CloudEvents attribute as a NATS header value: space, `"`, `%` and all but printable ASCII
    percent-encoded as UTF-8 (the NATS protocol binding, 3.1.3.2)."""
    return _TO_ENCODE.sub(lambda found: "".join(f"%{b:02X}" for b in found.group().encode()), text)


def cloudevents_headers(envelope: Envelope) -> dict[str, str]:
    """The envelope as a CloudEvent's attributes, one to one, as `ce-*` headers (binary content mode).

    id = event_id; source = /jusou/<source>; type = jusou.<event_type>.v<schema_version>; time =
    occurred_at; subject = case_id; data = the body (the envelope, JSON, following `dataschema`);
    the extensions sourceposition, correlationid and causationid (absent for a first cause). `actor` and
    `payload` are in the data only.

    What depends on the event's type only is encoded once per type (`_type_headers`); ids (UUIDs) and the
    position (an int) are printable ASCII without `"` or `%`, never encoded; the time is encoded only if
    it needs it (it never does in UTC). The same headers, in the same order, as `_cloudevents_headers_plainly`
    (tests/unit/test_bus_header_cost.py)."""
    source, kind = _type_headers(envelope.source, envelope.event_type, envelope.schema_version)
    time_ = envelope.occurred_at.isoformat().replace("+00:00", "Z")
    headers = {"content-type": "application/json", "ce-specversion": "1.0", "ce-id": str(envelope.event_id),
               "ce-source": source, "ce-type": kind,
               "ce-time": _header_value(time_) if _TO_ENCODE.search(time_) else time_,
               "ce-subject": str(envelope.case_id), "ce-datacontenttype": "application/json",
               "ce-dataschema": _DATASCHEMA, "ce-sourceposition": str(envelope.source_position),
               "ce-correlationid": str(envelope.correlation_id)}
    if envelope.causation_id is not None:
        headers["ce-causationid"] = str(envelope.causation_id)
    return headers


_DATASCHEMA = ENVELOPE_SCHEMA_ID  # printable ASCII (a test checks it needs no encoding)


@functools.lru_cache(maxsize=512)
def _type_headers(source: str, event_type: str, schema_version: int) -> tuple[str, str]:
    """`ce-source` and `ce-type` of an event type, encoded (cloudevents_headers)."""
    return _header_value(f"/jusou/{source}"), _header_value(f"jusou.{event_type}.v{schema_version}")


def _cloudevents_headers_plainly(envelope: Envelope) -> dict[str, str]:
    """`cloudevents_headers` as first written, every attribute encoded on every call: what the tests compare it with."""
    attributes = {
        "specversion": "1.0",
        "id": str(envelope.event_id),
        "source": f"/jusou/{envelope.source}",
        "type": f"jusou.{envelope.event_type}.v{envelope.schema_version}",
        "time": envelope.occurred_at.isoformat().replace("+00:00", "Z"),
        "subject": str(envelope.case_id),
        "datacontenttype": "application/json",
        "dataschema": ENVELOPE_SCHEMA_ID,
        "sourceposition": str(envelope.source_position),
        "correlationid": str(envelope.correlation_id),
    }
    if envelope.causation_id is not None:
        attributes["causationid"] = str(envelope.causation_id)
    return {"content-type": "application/json", **{f"ce-{name}": _header_value(value) for name, value in attributes.items()}}


async def newest_on_stream(
    js: JetStreamContext, service: str, event_id_at: Callable[[int], Awaitable[str | None]] | None = None,
    look_back: int = 1000,
) -> tuple[int, int] | None:
    """(stream sequence of the last message on `jusou.<service>.>`, `source_position` of the newest of
    the relay's own events there): (0, 0) on an empty stream, None if not found within `look_back`
    messages. Only the relay publishes there; a message that is not its envelope (a poison message)
    or whose `event_id` the store does not have at that position, or whose `Nats-Msg-Id` is not its `event_id` (the
    relay always sends that pair: another is a copy holding another event's id), is stepped over."""
    try:
        msg = await js.get_last_msg(STREAM, f"{SUBJECT_PREFIX}.{service}.>")
    except NotFoundError:
        return 0, 0
    last = seq = msg.seq or 0
    for _ in range(look_back):
        if (msg.subject or "").startswith(f"{SUBJECT_PREFIX}.{service}."):
            try:
                body = json.loads(msg.data or b"")
                position = body["source_position"] if body["source"] == service else None
            except (ValueError, TypeError, KeyError, RecursionError):
                position = None
            if (isinstance(position, int) and (msg.headers or {}).get("Nats-Msg-Id") == body.get("event_id")
                    and (event_id_at is None or await event_id_at(position) == body.get("event_id"))):
                return last, position
        seq -= 1
        if seq < 1:
            return last, 0
        try:
            msg = await js.get_msg(STREAM, seq)
        except NotFoundError:
            msg = RawStreamMsg()
    return None
