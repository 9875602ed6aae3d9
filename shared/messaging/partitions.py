"""Partitioned consumption: replicas of a service divide each source's events by case (issue 19, docs/capacity.md §6).

Off by default: with `JUSOU_PARTITIONS` unset or 1 a service runs the inbox of shared/messaging/inbox.py,
one durable consumer per source shared by its replicas. With P > 1 (`inbox_for`):

- **Partition.** An event belongs to partition `crc32(case_id.bytes) mod P` (`partition_of`; CRC-32 as zlib
  and every language compute it, the case id's 16 bytes): all events of a case are in one partition.
- **Consumers.** Per source and partition one durable pull consumer `<service>--<source>--p<k>`, with the
  filter of the unpartitioned consumer (`natsauth.consumer_filter`: `jusou.<source>.<EventType>` where the
  service takes one type of the source, else `jusou.<source>.*`; an existing consumer made with another is
  given it when its partition is taken, `refilter`), one message in flight (`max_ack_pending=1`). Subjects
  and messages are unchanged (CONTRACT.md: the event type is the subject's last token), so each partition
  consumer is delivered every event of its source that its filter names: one of another partition is acked
  at once, its case id read from the body without decoding the envelope (`case_of`). That is the price of
  unchanged subjects: P deliveries per event the service takes (and per event of a source's other types where
  it takes several). An event of its own is applied as the inbox applies one, through
  `ServiceApplication.receive` with the tracking record `<source>#p<k>`.
- **Order.** Each case's events are applied in `source_position` order (one partition, one message in
  flight); events of two cases in different partitions in either order. `source_position` rises within a
  partition, so "highest position applied" per partition is still the tracking.
- **Ownership.** The replicas divide the P partitions with leases in the NATS KV bucket
  `jusou-partitions-<service>` (`Leases`): key `p<k>` names its owner, `m.<replica>` is a replica's
  heartbeat. The bucket's `max_age` is the lease time L (`JUSOU_PARTITION_LEASE_SECONDS`, 15 s; the
  bucket's, once made, wins); every R = L/4 a replica puts its heartbeat, renews its leases with
  update-at-revision, counts the live replicas n and takes free partitions with create-if-absent up to
  ceil(P/n), releasing any above that (its consumer stopped first, then the key deleted at its revision).
  A lease not renewed for L - R stops its consumer (the server forgets the key L after the last renewal
  reached it, never sooner): a replica cut off stops before another can take its partitions, and a
  killed replica's partitions are taken by the others about L + R after its last renewal.
- **Correctness does not rest on the leases.** Two replicas pulling one partition consumer (a lease lost
  and taken while the old owner still finishes a message) are served one message at a time by the server
  (`max_ack_pending=1`), and the tracking record commits with the effect: at least once delivered, exactly
  once applied, per-case order kept. Leases divide the work; for that reason runs (`JUSOU_INBOX_BATCH` > 1)
  are not used here.
- **From unpartitioned to partitioned.** A partition consumer made for the first time starts after the
  unpartitioned consumer `<service>--<source>`'s acknowledged floor (`DeliverPolicy.BY_START_SEQUENCE`), and
  every event at or below the unpartitioned tracking `<source>` (frozen once no unpartitioned replica
  runs) is a duplicate here: nothing is applied twice. Partition consumers are not started while an
  unpartitioned consumer of the service is still pulling (a replica not yet restarted): the switch needs
  every replica restarted with the setting. The way back (`jusou partitions back SERVICE`, jusou/partitions_cmd.py,
  then `JUSOU_PARTITIONS` unset) and a change of P are in docs/capacity.md §6; a replica whose P differs from its
  existing partition consumers' (their `metadata`) consumes nothing and says why (readyz `degraded`). An
  unpartitioned replica started on a store whose partitions are ahead of its unpartitioned tracking
  (`partitions_ahead`) stops with status 2 and says why.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import re
import secrets
import socket
import sys
import time
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import anyio
import structlog
from eventsourcing.persistence import Tracking
from faststream.nats import NatsBroker
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.errors import ConnectionClosedError, NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StorageType
from nats.js.errors import (
    APIError,
    BucketNotFoundError,
    KeyNotFoundError,
    KeyWrongLastSequenceError,
    NotFoundError,
    ServiceUnavailableError,
)
from nats.js.kv import KeyValue

from shared.contract.events import STREAM, PoisonMessage
from shared.kernel.app import ServiceApplication
from shared.messaging import adoption
from shared.messaging.inbox import ACK_WAIT_SECONDS, FETCH_SECONDS, Inbox, read, refusal
from shared.messaging.natsauth import (  # the names and rights live beside the other NATS rights (no import cycle)
    API,  # noqa: F401 - re-exported
    MAX_PARTITIONS,
    bucket_name,
    consumer_filter,
    consumer_name,
    consumer_subjects,  # noqa: F401 - re-exported
    partition_consumers,  # noqa: F401 - re-exported
    partition_permissions,  # noqa: F401 - re-exported
    pull_inbox_prefix,
)
from shared.messaging.runs import StandingPull
from shared.messaging.waiting import Waiting
from shared.observe.logs import bind_event, unbind_event
from shared.observe.tracing import consuming
from shared.settings import current

log = structlog.get_logger()

PARTITIONS_ENV = "JUSOU_PARTITIONS"
LEASE_ENV = "JUSOU_PARTITION_LEASE_SECONDS"
DEFAULT_LEASE_SECONDS = 15.0
#: A NATS request of the lease loop gives up after this share of the renew interval (the watchdog then decides).
REQUEST_SHARE = 0.5
CASE_FIELD = b'"case_id":"'
LAYOUT = "jusou_partitions"  # consumer metadata: the P it was made for
#: An unpartitioned consumer delivered nothing for this long, with no pull waiting, has no replica left (its ack wait × 2).
UNPARTITIONED_QUIET = 2 * ACK_WAIT_SECONDS


def partitions_setting(value: str | None = None) -> int:
    """`JUSOU_PARTITIONS`: partitions per source (1, the default: the unpartitioned inbox; shared/settings.py)."""
    if value is None:
        return current().partitions
    text = value
    if not text.strip():
        return 1
    try:
        partitions = int(text)
    except ValueError:
        raise SystemExit(f"{PARTITIONS_ENV}={text!r}: a whole number of partitions, 1 (off) to {MAX_PARTITIONS}") from None
    if not 1 <= partitions <= MAX_PARTITIONS:
        raise SystemExit(f"{PARTITIONS_ENV}={partitions}: between 1 (off) and {MAX_PARTITIONS}")
    return partitions


def lease_setting(value: str | None = None) -> float:
    """`JUSOU_PARTITION_LEASE_SECONDS`: how long a partition's lease outlives its owner's last renewal (shared/settings.py)."""
    if value is None:
        return current().partition_lease_seconds
    text = value
    if not text.strip():
        return DEFAULT_LEASE_SECONDS
    try:
        seconds = float(text)
    except ValueError:
        raise SystemExit(f"{LEASE_ENV}={text!r}: seconds, 1 or more") from None
    if not 1.0 <= seconds <= 600.0:
        raise SystemExit(f"{LEASE_ENV}={seconds}: between 1 and 600 seconds")
    return seconds


#: Services whose handlers rely on another case's events applied first (per-source order), so they must not be
#: partitioned by case as they stand: collaboration's household rule (D16) needs the other case's escalation from
#: intake first (else a second case and plan for one household); community's regional issues count gaps across cases.
NEEDS_SOURCE_ORDER = {
    "collaboration": "世帯の規則（D16）が他のケースの送致を先に適用することに依っています / its household rule (D16) "
                     "relies on another case's escalation being applied first",
    "community": "地域の課題がケースをまたいで数えられます / its regional issues count gaps across cases",
}


def inbox_for(app: ServiceApplication, broker: NatsBroker, max_deliver: int) -> Inbox:
    """The service's inbox: today's (`JUSOU_PARTITIONS` unset or 1), or a `PartitionedInbox` (then started with `run`).
    A service that needs per-source order (NEEDS_SOURCE_ORDER) stops with status 2 rather than partition; so does an
    unpartitioned one whose store's partitions applied events its unpartitioned tracking has not (`partitions_ahead`)."""
    partitions = partitions_setting()
    if partitions == 1:
        ahead = partitions_ahead(app)
        if ahead:
            print(f"JUSOU_PARTITIONS=1: {app.service} の記録には、パーティションごとの追跡位置が分割なしの追跡位置より先に"
                  f"進んでいるものがあります（{', '.join(ahead[:4])}）。分割なしで受信すると、パーティションが反映した出来事を"
                  f"もう一度反映します。ほかのレプリカと同じ JUSOU_PARTITIONS で起動するか、すべてのレプリカを止めて "
                  f"`jusou partitions back {app.service}` を実行してから起動してください / {app.service}: its partitions "
                  f"applied events its unpartitioned tracking has not ({', '.join(ahead[:4])}); consuming unpartitioned "
                  f"would apply them again. Start it with the JUSOU_PARTITIONS of its other replicas, or stop every "
                  f"replica and run `jusou partitions back {app.service}` first (docs/capacity.md §6.3)", file=sys.stderr)
            raise SystemExit(2)
        return Inbox(app, broker, max_deliver)
    why = NEEDS_SOURCE_ORDER.get(getattr(app, "service", ""))
    if why:
        print(f"JUSOU_PARTITIONS={partitions}: {app.service} はケースごとに分けて受信できません。{why}。"
              f"このサービスは JUSOU_PARTITIONS=1 で動かしてください / {app.service} cannot be partitioned by case: "
              "run it with JUSOU_PARTITIONS=1", file=sys.stderr)
        raise SystemExit(2)
    return PartitionedInbox(app, broker, max_deliver, partitions, lease_setting())


def partitions_ahead(app: ServiceApplication) -> list[str]:
    """The partition trackings `<source>#p<k>` (any k < MAX_PARTITIONS) ahead of the unpartitioned `<source>`: events
    applied partitioned that an unpartitioned inbox would apply again (partitioned replicas running beside it, or the
    way back not taken). Empty for a store never partitioned. One indexed look-up per source and k, at start only."""
    found = []
    for source in sorted(getattr(app, "subscriptions", None) or {}):
        floor = app.recorder.max_tracking_id(source) or 0
        for k in range(MAX_PARTITIONS):
            position = app.recorder.max_tracking_id(tracking_name(source, k)) or 0
            if position > floor:
                found.append(f"{tracking_name(source, k)} {position} > {source} {floor}")
    return found


# --- the partition of a message ---------------------------------------------------------------


def partition_of_case(case_id: UUID, partitions: int) -> int:
    """`crc32(case_id.bytes) mod P`: stable across processes, versions and languages (not Python's `hash`)."""
    return zlib.crc32(case_id.bytes) % partitions


def case_of(body: bytes) -> UUID | None:
    """The envelope's `case_id`, read without decoding the envelope when it is where the relay writes it (compact
    JSON, before the payload); else from the decoded JSON; None when there is none (a poison message)."""
    at = body.find(CASE_FIELD)
    if at >= 0:
        start = at + len(CASE_FIELD)
        if body[start + 36:start + 37] == b'"':
            with contextlib.suppress(ValueError, UnicodeDecodeError):
                return UUID(body[start:start + 36].decode("ascii"))
    try:
        found = json.loads(body)
        return UUID(str(found["case_id"])) if isinstance(found, dict) else None
    except (ValueError, KeyError, TypeError, RecursionError):  # UnicodeDecodeError is a ValueError
        return None


def partition_of(body: bytes, partitions: int) -> int:
    """A message's partition, a function of its bytes alone (the same in every replica); 0 for one without a case
    id, so that exactly one partition consumer dead-letters it."""
    case = case_of(body)
    return 0 if case is None else partition_of_case(case, partitions)


# --- names and rights -------------------------------------------------------------------------


def tracking_name(source: str, partition: int) -> str:
    return f"{source}#p{partition}"


# --- leases -----------------------------------------------------------------------------------


def replica_id() -> str:
    """This process among the service's replicas: host, pid and a random part (a restarted pod keeps host and pid)."""
    host = re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname())[:40]
    return f"{host}-{os.getpid()}-{secrets.token_hex(3)}"


NATS_TROUBLE = (asyncio.TimeoutError, NatsTimeoutError, ConnectionClosedError, NoRespondersError,
                ServiceUnavailableError, APIError)


def stop_if_asked(task: asyncio.Task[Any] | None) -> None:
    """Raise the cancellation a loop's task was asked for and an await inside it swallowed: nats-py's requests wait
    with `wait_for`, which on Python 3.11 returns its answer when cancelled as the answer arrives (CPython gh-86296),
    and a loop that goes on after that runs for ever while its service waits for it to stop."""
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


class Leases:
    """This replica's share of the P partitions, held in the KV bucket (the module's docstring, "Ownership").

    `take(k)` and `drop(k)` start and stop the partition's consumers; `drop` returns once they stopped."""

    def __init__(self, js: JetStreamContext, kv: KeyValue, bucket: str, partitions: int, me: str, lease_seconds: float,
                 take: Callable[[int], Awaitable[None]], drop: Callable[[int], Awaitable[None]],
                 ready: Callable[[], Awaitable[bool]] | None = None) -> None:
        self.js, self.kv, self.bucket = js, kv, bucket
        self.partitions = partitions
        self.me = me
        self.lease = lease_seconds
        self.renew_every = lease_seconds / 4  # the lease outlives three missed renewals
        self.take, self.drop = take, drop
        self.ready = ready
        self.held: dict[int, int] = {}  # partition → the lease key's revision this replica wrote last
        self.renewed: dict[int, float] = {}  # partition → when the last successful renewal was sent (monotonic)
        self.members = 1

    def key(self, partition: int) -> str:
        return f"p{partition}"

    @property
    def member_key(self) -> str:
        return f"m.{self.me}"

    async def call(self, request: Awaitable[Any]) -> Any:
        # asyncio.timeout, not wait_for: on Python 3.11 a wait_for cancelled in the same turn as its answer arrives
        # returns the answer and loses the cancellation (CPython gh-86296; tests/unit/test_leases_stop.py)
        async with asyncio.timeout(self.renew_every * REQUEST_SHARE):
            return await request

    async def run(self) -> None:
        """Heartbeat, renew, rebalance every R; stop a partition whose lease was not renewed for L - R."""
        task = asyncio.current_task()
        try:
            while True:
                began = time.monotonic()
                try:
                    await self.step()
                except NATS_TROUBLE as exc:
                    log.warning("partitions.lease_step_failed", replica=self.me, error=f"{type(exc).__name__}: {exc}")
                while (left := self.renew_every - (time.monotonic() - began)) > 0:
                    stop_if_asked(task)
                    await self.watchdog()
                    await asyncio.sleep(min(left, self.renew_every / 4))
                stop_if_asked(task)
                await self.watchdog()
        finally:
            await asyncio.shield(self.leave())

    async def watchdog(self) -> None:
        """Stop each partition whose lease may expire within R: another replica may take it after L."""
        now = time.monotonic()
        for partition in [k for k in self.held if now - self.renewed[k] > self.lease - self.renew_every]:
            log.error("partitions.lease_lost", replica=self.me, partition=partition,
                      seconds_since_renewal=round(now - self.renewed[partition], 2))
            await self.lose(partition)

    async def lose(self, partition: int) -> None:
        self.held.pop(partition, None)
        self.renewed.pop(partition, None)
        await self.drop(partition)

    async def step(self) -> None:
        await self.call(self.kv.put(self.member_key, self.me.encode()))
        for partition, revision in list(self.held.items()):
            sent = time.monotonic()
            try:
                self.held[partition] = await self.call(self.kv.update(self.key(partition), self.me.encode(), last=revision))
                self.renewed[partition] = sent
            except KeyWrongLastSequenceError:
                if await self.owner(partition) == self.me:  # renewed, but the answer was lost: take up its revision
                    self.held[partition] = (await self.call(self.kv.get(self.key(partition)))).revision
                    continue
                log.error("partitions.lease_taken", replica=self.me, partition=partition)  # expired, taken: stop now
                await self.lose(partition)
        self.members = len(await self.live_members())
        target = math.ceil(self.partitions / max(self.members, 1))
        for partition in sorted(self.held, reverse=True)[:max(len(self.held) - target, 0)]:
            await self.release(partition)
        if len(self.held) >= target or (self.ready is not None and not await self.ready()):
            return
        start = zlib.crc32(self.me.encode()) % self.partitions  # replicas try partitions in different orders
        for partition in [(start + i) % self.partitions for i in range(self.partitions)]:
            if len(self.held) >= target:
                break
            if partition in self.held or await self.owner(partition) is not None:
                continue
            sent = time.monotonic()
            try:
                revision = await self.call(self.kv.create(self.key(partition), self.me.encode()))
            except KeyWrongLastSequenceError:
                continue  # another replica took it first
            self.held[partition], self.renewed[partition] = revision, sent
            log.info("partitions.taken", replica=self.me, partition=partition, members=self.members, target=target)
            try:
                await self.take(partition)
            except Exception as exc:  # noqa: BLE001 - its consumers could not start: the partition back to the others
                log.error("partitions.take_failed", replica=self.me, partition=partition, error=f"{type(exc).__name__}: {exc}")
                await self.release(partition)

    async def owner(self, partition: int) -> str | None:
        try:
            entry = await self.call(self.kv.get(self.key(partition)))
        except KeyNotFoundError:
            return None
        return bytes(entry.value or b"").decode() or None

    async def live_members(self) -> list[str]:
        """The replicas whose heartbeat has not expired (keys `m.<replica>`, not deleted)."""
        info = await self.call(self.js.stream_info(f"KV_{self.bucket}", subjects_filter=f"$KV.{self.bucket}.m.>"))
        found = []
        for subject in sorted(info.state.subjects or {}):
            key = subject.removeprefix(f"$KV.{self.bucket}.")
            with contextlib.suppress(KeyNotFoundError):
                await self.call(self.kv.get(key))
                found.append(key.removeprefix("m."))
        return found or [self.me]

    async def release(self, partition: int) -> None:
        """Give a partition back: its consumers stopped first, then the key deleted at this replica's revision."""
        revision = self.held.pop(partition)
        self.renewed.pop(partition, None)
        await self.drop(partition)
        with contextlib.suppress(KeyWrongLastSequenceError, *NATS_TROUBLE):
            await self.call(self.kv.delete(self.key(partition), last=revision))
        log.info("partitions.released", replica=self.me, partition=partition, members=self.members)

    async def leave(self) -> None:
        """A clean stop: every consumer stopped, then every partition released at once (the others need not wait for
        the lease) and the heartbeat gone, within one renew interval (NATS may be away: then the leases expire)."""
        held = dict(self.held)
        self.held.clear()
        self.renewed.clear()
        for partition in sorted(held):
            await self.drop(partition)

        async def forget() -> None:
            for partition, revision in sorted(held.items()):
                with contextlib.suppress(KeyWrongLastSequenceError):
                    await self.kv.delete(self.key(partition), last=revision)
            await self.kv.delete(self.member_key)

        with contextlib.suppress(*NATS_TROUBLE):
            async with asyncio.timeout(self.renew_every):
                await forget()
        log.info("partitions.left", replica=self.me, released=sorted(held))


class ForeignBucket(RuntimeError):
    """A lease bucket whose stream takes more than its own keys: made by someone else, not used."""


async def lease_bucket(js: JetStreamContext, service: str, lease_seconds: float, replicas: int = 1) -> KeyValue:
    """The service's lease bucket, made if missing (`max_age` = the lease; an existing bucket keeps its own). One whose
    stream takes other subjects than its keys, or copies another stream (`mirror`, `sources`), is refused
    (ForeignBucket): a service's NATS user may create it, and the subjects travel in the request's body, so whoever
    held that password could have made it capture the operator's replies (session 20, HD and HA)."""
    name = bucket_name(service)
    try:
        kv = await js.key_value(name)
    except BucketNotFoundError:
        try:
            kv = await js.create_key_value(
                bucket=name, ttl=lease_seconds, history=1, storage=StorageType.FILE, replicas=replicas, direct=True,
                description=f"{service}: leases of its partitions (shared/messaging/partitions.py)")
        except APIError:  # another replica made it first
            kv = await js.key_value(name)
    await check_bucket(js, name)
    return kv


async def check_bucket(js: JetStreamContext, name: str) -> None:
    """Raise ForeignBucket unless the bucket's stream takes exactly its own keys `$KV.<bucket>.>`."""
    config = (await js.stream_info(f"KV_{name}")).config
    wanted = [f"$KV.{name}.>"]
    if list(config.subjects or []) != wanted or config.mirror or config.sources:
        taken = [*(config.subjects or []), *([f"mirror {config.mirror.name}"] if config.mirror else []),
                 *(f"sources {s.name}" for s in config.sources or [])]
        problem = (f"リース用バケット KV_{name} が {', '.join(taken)} を受け取ります（{wanted[0]} だけのはず）。"
                   f"別の誰かが作ったもので、使いません。NATS の運用者が削除してから起動してください / the lease bucket "
                   f"KV_{name} takes {', '.join(taken)}, not {wanted[0]} alone: made by someone else, not used. The NATS "
                   f"operator deletes it (`nats stream rm KV_{name}`), then the service makes its own")
        log.error("partitions.foreign_bucket", bucket=name, subjects=config.subjects, problem=problem)
        raise ForeignBucket(problem)


async def make_lease_buckets(js: JetStreamContext, services: list[str], lease_seconds: float, replicas: int = 1) -> None:
    """The operator makes every service's lease bucket before any service starts (`jusou up`, `jusou cluster up`, with
    JUSOU_PARTITIONS > 1), as it makes the streams: a service's user then finds it and cannot make one of its own
    choosing (a create of an existing stream with other settings is refused; STREAM.UPDATE is not granted)."""
    for service in services:
        await lease_bucket(js, service, lease_seconds, replicas)


# --- the consumers ----------------------------------------------------------------------------


class ConsumerNotMade(Exception):
    """A partition consumer the stream's consumer limit keeps from being made (`adoption.not_made` says why)."""


class LayoutChanged(Exception):
    """A partition consumer made for another P: the partitions of the past are not these."""


@dataclass
class Tracked:
    """What `Inbox.note` and `Inbox.start_from` read of an envelope, with the tracking record's name as `source`:
    their memory (floor, positions applied, events behind the tracking) is kept per tracking record."""

    source: str
    source_position: int
    event_id: UUID


class PartitionConsumer:
    """One partition of one source: its durable consumer, one message at a time through a standing pull request
    (`StandingPull`, shared/messaging/runs.py) until stopped: `stop` unsubscribes, and the server drops the request."""

    def __init__(self, inbox: PartitionedInbox, js: JetStreamContext, source: str, partition: int,
                 event_types: frozenset[str]) -> None:
        self.inbox, self.js = inbox, js
        self.source, self.partition, self.event_types = source, partition, event_types
        self.name = consumer_name(inbox.app.service, source, partition)
        self.tracking = tracking_name(source, partition)
        self.running = False
        self.busy = False
        self.task: asyncio.Task[None] | None = None
        self.pull: StandingPull | None = None

    async def start(self) -> None:
        await self.inbox.ensure_consumer(self.js, self.source, self.partition)
        self.pull = self.inbox.standing_pull(self.inbox.nc, self.name)
        await self.pull.start()
        self.running = True
        self.task = asyncio.create_task(self.loop(), name=self.name)

    async def stop(self) -> None:
        """Return once the message in hand (if any) is settled; a wait for one is cancelled. Then the pull request is
        given up (its subscription gone: the server drops it), before the lease is (`Leases.release`)."""
        self.running = False
        if self.task is not None:
            if not self.busy:
                self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
        if self.pull is not None:
            await self.pull.stop()

    async def loop(self) -> None:
        assert self.pull is not None
        while self.running:
            try:
                messages = await self.pull.get(FETCH_SECONDS, at_most=1)
            except Exception as exc:  # noqa: BLE001 - a bug rather: nothing received, nothing lost
                log.warning("partitions.fetch_failed", consumer=self.name, error=f"{type(exc).__name__}: {exc}")
                await asyncio.sleep(1.0)
                continue
            self.busy = True
            try:
                for raw in messages:
                    await self.inbox.handle_partitioned(raw, self)
            except Exception as exc:  # noqa: BLE001 - not acked: redelivered after the ack wait, in order
                log.error("partitions.handle_failed", consumer=self.name, error=f"{type(exc).__name__}: {exc}")
                await asyncio.sleep(1.0)
            finally:
                self.busy = False


class PartitionedInbox(Inbox):
    """The inbox with each source split in P partitions by case (the module's docstring). Construct, then `run(nc)`."""

    def __init__(self, app: ServiceApplication, broker: NatsBroker, max_deliver: int, partitions: int,
                 lease_seconds: float = DEFAULT_LEASE_SECONDS, me: str | None = None) -> None:
        self.partitions = partitions
        self.lease_seconds = lease_seconds
        self.me = me or replica_id()
        self.sources: dict[str, frozenset[str]] = {}
        #: events of other partitions acked unread, and events of types this service does not handle
        self.skipped = 0
        self.unread = 0
        #: per source: the unpartitioned tracking `<source>` when this process first met it (see "From unpartitioned")
        self.unpartitioned: dict[str, int] = {}
        self.consumers: dict[int, list[PartitionConsumer]] = {}
        self.layout_problems: list[str] = []
        self.failure: str | None = None  # why the leases stopped, until they run again
        #: partition → (when, why) its consumers could not be made here (the stream's consumer limit); tried each round
        self.untaken: dict[int, tuple[float, str]] = {}
        self.waiting_for: list[str] = []  # unpartitioned consumers still pulled by a replica
        self.leases: Leases | None = None
        self.nc: Client | None = None  # the connection the partition consumers pull on (`run`)
        super().__init__(app, broker, max_deliver, batch=1)

    def _subscribe(self, source: str, event_types: frozenset[str]) -> None:
        """No FastStream subscriber per source: the partitions' consumers start with their leases (`run`)."""
        self.sources[source] = event_types
        self.filters[source] = consumer_filter(source, event_types)

    @property
    def held(self) -> list[int]:
        return sorted(self.consumers)

    def problems(self) -> list[str]:
        # a partition whose consumer could not be made is tried again each round (here or by another replica, which
        # may succeed): said while a try failed within the last two lease times
        recent = time.monotonic() - 2 * getattr(self, "lease_seconds", DEFAULT_LEASE_SECONDS)
        untaken = [why for _, (when, why) in sorted(getattr(self, "untaken", {}).items()) if when >= recent]
        return [*self.layout_problems, *([self.failure] if self.failure else []), *untaken, *super().problems()]

    async def run(self, nc: Client) -> None:
        """Hold leases and run the consumers of the partitions held, until cancelled (then leave them to the others).
        A failure (NATS away at start, a bug) is reported (`problems`) and the whole taken up again after a pause."""
        if not self.sources:
            return
        self.nc = nc
        js = nc.jetstream()
        while True:
            try:
                await self.hold(js)
                return  # the layout refused: nothing to hold
            except Exception as exc:  # noqa: BLE001 - reported, and the partitions held again after a pause
                self.failure = f"partition leases stopped, taken up again: {type(exc).__name__}: {exc}"
                log.error("partitions.failed", service=self.app.service, replica=self.me, error=self.failure)
                await asyncio.sleep(self.lease_seconds / 4)

    async def hold(self, js: JetStreamContext) -> None:
        kv = await lease_bucket(js, self.app.service, self.lease_seconds, current().stream_replicas)
        lease = (await js.stream_info(f"KV_{bucket_name(self.app.service)}")).config.max_age or self.lease_seconds
        if abs(lease - self.lease_seconds) > 0.01:
            log.warning("partitions.bucket_lease", service=self.app.service, bucket_lease=lease, setting=self.lease_seconds)
        if not await self.check_layout(js):
            return

        async def take(partition: int) -> None:
            started = []
            try:
                for source, event_types in sorted(self.sources.items()):
                    consumer = PartitionConsumer(self, js, source, partition, event_types)
                    await consumer.start()
                    started.append(consumer)
                self.untaken.pop(partition, None)
            except ConsumerNotMade as refused:  # reported while it lasts: the partition's events wait for nobody
                self.untaken[partition] = (time.monotonic(), str(refused))
                raise
            finally:
                self.consumers[partition] = started

        async def drop(partition: int) -> None:
            for consumer in self.consumers.pop(partition, []):
                await consumer.stop()

        self.leases = Leases(js, kv, bucket_name(self.app.service), self.partitions, self.me, lease, take, drop,
                             ready=lambda: self.unpartitioned_idle(js))
        log.info("partitions.joining", service=self.app.service, replica=self.me, partitions=self.partitions,
                 lease_seconds=lease)
        self.failure = None
        await self.leases.run()

    async def check_layout(self, js: JetStreamContext) -> bool:
        """Refuse to consume when existing partition consumers were made for another P (docs/capacity.md §6)."""
        for source in sorted(self.sources):
            for partition in range(self.partitions):
                name = consumer_name(self.app.service, source, partition)
                try:
                    info = await js.consumer_info(STREAM, name)
                except NotFoundError:
                    continue
                made_for = (info.config.metadata or {}).get(LAYOUT)
                if made_for != str(self.partitions):
                    self.layout_problems.append(
                        f"{name} was made for {made_for or '?'} partitions, this replica runs {PARTITIONS_ENV}="
                        f"{self.partitions}: not consuming (docs/capacity.md §6, changing the number of partitions)")
        for problem in self.layout_problems:
            log.error("partitions.layout_changed", service=self.app.service, problem=problem)
        return not self.layout_problems

    async def unpartitioned_idle(self, js: JetStreamContext) -> bool:
        """No replica still pulls an unpartitioned consumer of this service (a switch needs every replica restarted):
        none has a pull request waiting, none was delivered a message in the last `UNPARTITIONED_QUIET` seconds."""
        busy = []
        now = datetime.now(UTC)
        for source in sorted(self.sources):
            with contextlib.suppress(NotFoundError):
                info = await js.consumer_info(STREAM, f"{self.app.service}--{source}")
                last = info.delivered.last_active if info.delivered is not None else None
                if (info.num_waiting or 0) > 0 or (last is not None and (now - last).total_seconds() < UNPARTITIONED_QUIET):
                    busy.append(info.name)
        if busy != self.waiting_for:
            (log.warning if busy else log.info)("partitions.unpartitioned_consumers", service=self.app.service,
                                                still_pulled=busy)
        self.waiting_for = busy
        return not busy

    async def back_to_unpartitioned(self, js: JetStreamContext, wait_s: float = 10.0) -> dict[str, int]:
        """The way back (docs/capacity.md §6), with every replica stopped: per source, each partition consumer is
        brought to the same stream sequence S (the furthest any of them was delivered: a message applied whose ack
        was lost is at or below it), applying its own events up to S, and the unpartitioned tracking `<source>` is set
        to the highest position any partition applied. The unpartitioned consumer then finds every event up to S a
        duplicate and applies those after it. Returns source → the tracking set.

        Not S's own position: the message at S may be a copy of an earlier event (a duplicate publish), poison with no
        position, or deleted; the highest position applied is what the partitions' trackings say.
        Refused (RuntimeError) while a replica still holds a lease or pulls a partition consumer."""
        kv = await lease_bucket(js, self.app.service, self.lease_seconds)
        members = Leases(js, kv, bucket_name(self.app.service), self.partitions, self.me, self.lease_seconds,
                         take=self.nothing, drop=self.nothing)
        deadline = time.monotonic() + wait_s
        while (live := [m for m in await members.live_members() if m != self.me]) or await self.pulled(js):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.app.service}: replicas still running ({', '.join(live) or 'pulling'}): "
                                   "stop every replica first")
            await asyncio.sleep(0.2)
        found: dict[str, int] = {}
        for source, event_types in sorted(self.sources.items()):
            for partition in range(self.partitions):
                await self.ensure_consumer(js, source, partition)
            names = [consumer_name(self.app.service, source, k) for k in range(self.partitions)]
            delivered = [(await js.consumer_info(STREAM, name)).delivered for name in names]
            upto = max((seen.stream_seq for seen in delivered if seen is not None), default=0)
            if upto == 0:
                continue
            for partition in range(self.partitions):
                await self.drain(js, PartitionConsumer(self, js, source, partition, event_types), upto)
            tracked, *applied = await anyio.to_thread.run_sync(self.trackings, source)
            position = max(tracked, *applied)
            if position > tracked:
                await anyio.to_thread.run_sync(self.app.recorder.insert_tracking,
                                               Tracking(application_name=source, notification_id=position))
            found[source] = position
            log.info("partitions.back_to_unpartitioned", service=self.app.service, source=source, stream_seq=upto,
                     tracking=position)
        return found

    def trackings(self, source: str) -> list[int]:
        """The unpartitioned tracking `<source>`, then each partition's `<source>#p<k>` (0: none)."""
        names = [source, *(tracking_name(source, k) for k in range(self.partitions))]
        return [self.app.recorder.max_tracking_id(name) or 0 for name in names]

    async def pulled(self, js: JetStreamContext) -> list[str]:
        """The partition consumers with a pull request waiting (a replica still running)."""
        found = []
        for source in sorted(self.sources):
            for partition in range(self.partitions):
                with contextlib.suppress(NotFoundError):
                    info = await js.consumer_info(STREAM, consumer_name(self.app.service, source, partition))
                    if info.num_waiting:
                        found.append(info.name)
        return found

    async def drain(self, js: JetStreamContext, consumer: PartitionConsumer, upto: int) -> None:
        """Handle a partition consumer's messages up to stream sequence `upto`, as it would have."""
        subscription = await js.pull_subscribe_bind(durable=consumer.name, stream=STREAM,
                                                    inbox_prefix=pull_inbox_prefix(self.app.service))
        try:
            floor = (await js.consumer_info(STREAM, consumer.name)).ack_floor
            if floor is not None and floor.stream_seq >= upto:
                return
            while True:
                try:
                    messages = await subscription.fetch(batch=1, timeout=FETCH_SECONDS)
                except (TimeoutError, NatsTimeoutError):
                    info = await js.consumer_info(STREAM, consumer.name)
                    if not info.num_pending and not info.num_ack_pending:
                        return  # nothing left up to `upto` (the rest deleted from the stream)
                    continue  # the next one waits for its ack wait (delivered to a replica that stopped)
                for raw in messages:
                    seq = raw.metadata.sequence.stream
                    if seq > upto:
                        await raw.nak()
                        return
                    await self.handle_partitioned(raw, consumer)
                    if seq == upto:
                        return
        finally:
            await subscription.unsubscribe()

    @staticmethod
    async def nothing(partition: int) -> None:
        return None

    async def ensure_consumer(self, js: JetStreamContext, source: str, partition: int) -> None:
        """Make the partition consumer if missing, starting after the unpartitioned consumer's acknowledged floor."""
        name = consumer_name(self.app.service, source, partition)
        await self.unpartitioned_floor(source)
        try:
            info = await js.consumer_info(STREAM, name)
        except NotFoundError:
            info = None
        wanted = consumer_filter(source, self.sources.get(source, ()))

        def make(start: dict[str, Any]) -> ConsumerConfig:
            return ConsumerConfig(
                name=name, durable_name=name, filter_subject=wanted, ack_policy=AckPolicy.EXPLICIT,
                max_ack_pending=1, ack_wait=ACK_WAIT_SECONDS, max_deliver=-1,
                description=f"{self.app.service}: partition {partition} of {self.partitions} of {source}'s events, by case",
                metadata={LAYOUT: str(self.partitions)}, **start)

        if info is not None:
            if (info.config.metadata or {}).get(LAYOUT) != str(self.partitions):
                raise LayoutChanged(name)
            if await self.adopt_partition(js, source, partition, lambda seq: make(adoption.start_at(seq))):
                return  # replaced: made with the filter wanted
            if info.config.filter_subject != wanted:  # made before issue 19's filters (`jusou.<source>.*`): narrowed
                await self.refilter(js, info, wanted)
            return
        start: dict[str, Any] = {"deliver_policy": DeliverPolicy.ALL}
        with contextlib.suppress(NotFoundError):
            before = await js.consumer_info(STREAM, f"{self.app.service}--{source}")
            if before.ack_floor is not None and before.ack_floor.stream_seq > 0:
                start = {"deliver_policy": DeliverPolicy.BY_START_SEQUENCE, "opt_start_seq": before.ack_floor.stream_seq + 1}
        config = make(start)
        try:
            await js.add_consumer(STREAM, config=config)
        except APIError as refused:
            try:
                await js.consumer_info(STREAM, name)  # made by another replica at the same moment
            except NotFoundError:
                if adoption.limit_reached(refused):
                    raise ConsumerNotMade(adoption.not_made(
                        name, "then a replica makes it within a few seconds")) from refused
                raise refused from None  # the create's own refusal, not the "consumer not found" of looking for it
        log.info("partitions.consumer_made", consumer=name, **{k: str(v) for k, v in start.items()})

    async def adopt_partition(self, js: JetStreamContext, source: str, partition: int,
                              make: Callable[[int], ConsumerConfig]) -> bool:
        """Adopt the existing partition consumer only if it will deliver every event of its partition after the
        partition's tracking (or the unpartitioned one it started from, if higher); else replace it (`make`) and report
        it (`replaced`, readyz `degraded`): shared/messaging/adoption.py. True when it was replaced."""
        name = consumer_name(self.app.service, source, partition)
        try:
            own = await anyio.to_thread.run_sync(self.app.recorder.max_tracking_id, tracking_name(source, partition))
            tracking = max(own or 0, self.unpartitioned[source])

            async def judge(info: Any) -> adoption.Verdict:
                return await adoption.examine(
                    js, info, service=self.app.service, source=source,
                    subjects=adoption.subjects_of(source, self.sources.get(source, frozenset())), tracking=tracking,
                    max_deliver=self.max_deliver, mine=lambda body: partition_of(body, self.partitions) == partition)

            verdict = await adoption.adopt(js, name, judge, make, self.app.service)
        except Exception as exc:  # noqa: BLE001 - reported; the consumer is used as it is
            self.replaced[name] = f"{name}: not examined before it was adopted ({type(exc).__name__}: {exc})"
            log.error("inbox.consumer_not_examined", service=self.app.service, consumer=name,
                      error=f"{type(exc).__name__}: {exc}")
            return False
        if verdict is None:
            return False
        self.replaced[name] = verdict.report(self.app.service)
        return verdict.replaced

    async def refilter(self, js: JetStreamContext, info: Any, wanted: str) -> None:
        """Give an existing partition consumer the filter it would be made with now (`consumer_filter`), as
        `Inbox.reconcile` does the unpartitioned ones: its delivered and acknowledged state is kept, and from then on
        the server delivers it only the types named. Harmless if the replicas race (each sends the same config).
        A refusal is logged and the consumer kept as it is: it still acks the other types unread."""
        config = info.config
        was = config.filter_subject
        config.filter_subject = wanted
        try:
            await js.add_consumer(STREAM, config=config)
        except NATS_TROUBLE as exc:
            log.error("partitions.consumer_not_updated", consumer=info.name, filter_subject=wanted,
                      error=f"{type(exc).__name__}: {exc}")
            return
        log.info("partitions.consumer_updated", consumer=info.name, filter_subject=wanted, was=was)

    async def unpartitioned_floor(self, source: str) -> int:
        if source not in self.unpartitioned:
            tracked = await anyio.to_thread.run_sync(self.app.recorder.max_tracking_id, source)
            self.unpartitioned[source] = tracked or 0
        return self.unpartitioned[source]

    async def park_partitioned(self, raw: Msg, reason: str, consumer: PartitionConsumer) -> None:
        """Park a partition consumer's message (`dead_letter_raw`); a message it held as waiting is settled with it
        (`note_waiting` keys the partition's by its tracking name, `<source>#p<k>`)."""
        await self.dead_letter_raw(raw, reason)
        self.waiting.pop(consumer.tracking, None)

    async def handle_partitioned(self, raw: Msg, consumer: PartitionConsumer) -> None:
        """One message of a partition consumer: another partition's acked unread; its own applied as `Inbox.handle`."""
        subject = raw.subject
        if subject.rsplit(".", 1)[-1] not in consumer.event_types:
            self.unread += 1
            await raw.ack()
            return
        if partition_of(raw.data, self.partitions) != consumer.partition:
            self.skipped += 1
            await raw.ack()
            return
        unbind_event()
        try:
            envelope, payload = read(raw.data)
        except PoisonMessage as exc:
            await self.park_partitioned(raw, exc.reason, consumer)
            return
        refused = refusal(subject, envelope)
        if refused is not None:
            await self.park_partitioned(raw, refused, consumer)
            return
        tries = raw.metadata.num_delivered
        seq = raw.metadata.sequence.stream
        if envelope.source_position <= self.unpartitioned[envelope.source]:  # applied before the switch
            self.duplicates += 1
            self.observe(envelope, "duplicate", 0.0, tries)
            await raw.ack()
            return
        tracked = Tracked(consumer.tracking, envelope.source_position, envelope.event_id)
        await self.start_from(consumer.tracking)
        bind_event(envelope)
        began = time.perf_counter()
        try:
            with consuming(self.app.service, envelope, raw.headers):
                applied = await anyio.to_thread.run_sync(self.app.receive, envelope, payload, consumer.tracking)
        except PoisonMessage as exc:  # a handler found it can never apply: parked at once with why, as Inbox.handle
            self.observe(envelope, "failed", time.perf_counter() - began, tries)
            await self.park_partitioned(raw, exc.reason, consumer)
            unbind_event()
            return
        except Exception as exc:  # noqa: BLE001 - the dead-letter boundary, as in Inbox.handle
            self.observe(envelope, "failed", time.perf_counter() - began, tries)
            reason = f"{type(exc).__name__}: {exc}"
            if tries >= self.max_deliver and not isinstance(exc, Waiting):  # a Waiting's need is on its way: not parked
                await self.park_partitioned(raw, f"failed {tries} times; last error {reason}", consumer)
            else:
                self.note_waiting(consumer.tracking, exc, tries, reason)  # cleared by `note` of its next message
                log.warning("inbox.retry", service=self.app.service, subject=subject, tries=tries, error=reason)
                await raw.nak(delay=min(0.2 * 2**min(tries, 6), 10.0))
            unbind_event()
            return
        self.observe(envelope, "applied" if applied else "duplicate", time.perf_counter() - began, tries)
        if applied:
            self.applied += 1
        else:
            self.duplicates += 1
        await self.note(tracked, seq, tries, applied)  # type: ignore[arg-type]  # reads source, position, event_id
        log.info("inbox.applied" if applied else "inbox.duplicate", source_position=envelope.source_position, seq=seq,
                 tries=tries, partition=consumer.partition)
        unbind_event()
        await raw.ack()
