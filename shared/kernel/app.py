"""The base Application of every service: its use cases, its inbox and its commit signal.

One Application per service (STYLE 4). It records with a process recorder so that the effect
of an integration event and the tracking record of that event commit in one transaction
(the inbox); a redelivered or duplicated event is recognised by its (source, source_position)
and changes nothing.
"""

from __future__ import annotations

import json
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from copy import deepcopy
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import partial
from typing import Any, ClassVar, TypeVar, cast
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, LRUCache, ProcessingEvent, Repository, project_aggregate
from eventsourcing.domain import Aggregate, DomainEvent
from eventsourcing.persistence import (
    EventStore,
    IntegrityError,
    JSONTranscoder,
    Notification,
    Recording,
    StoredEvent,
    Tracking,
    Transcoding,
)
from eventsourcing.projection import EventSourcedProjection
from pydantic import BaseModel

from shared.contract.events import PRODUCERS, Envelope, event_type_of, latest_version, upcast
from shared.kernel import expected
from shared.kernel.idempotency import AlreadyRecorded, IdempotentRequest, marked
from shared.kernel.journey import NotFound, acting, event_id_of
from shared.kernel.library import record_processed, refuses_older_tracking
from shared.kernel.readmodel import ReadModels, open_view
from shared.organisation.reference import organisation, today
from shared.organisation.scope import PROGRAM_DIVISIONS, divisions_named, visible
from shared.settings import Environment

RELAY_TRACKING = "jusou-relay"


class DateAsISO(Transcoding):
    """Stores `datetime.date` values (meeting dates, review dates) as ISO strings."""

    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


def divisions_upstream(envelope: Envelope, payload: BaseModel) -> list[str]:
    """The divisions an integration event names, sorted: its actor's and those in its payload (division scope).
    Worked out only when a handler records an event (`acting` takes it as a callable): most deliveries record
    none (issue 19: ~0.1 ms a delivery). Remembered per organisation in force (the tenant's own, a reloaded file's:
    another object), day and what `divisions_named` reads of the event (`_named_upstream`): its look-ups of each
    agency's division were ~7 % of a recording delivery's inbox thread (issue 19)."""
    fields = payload.model_dump(mode="json", include=_READ_FIELDS)
    return _named_upstream(envelope.actor.model_dump().get("division"), fields)


#: What `divisions_named` reads of a row's `fields` (shared/organisation/scope.py): the cache's key is made of these.
_READ_FIELDS = {"division", "primary_agency", "to_agency", "attendees", "roles", "member_divisions"}
_named: dict[tuple[Any, ...], tuple[object, tuple[str, ...]]] = {}
_NAMED_AT_MOST = 4096


def _named_upstream(actor_division: Any, fields: dict[str, Any]) -> list[str]:
    """`sorted(divisions_named(...))` of an event's actor's division and fields, remembered (at most 4096 answers,
    then forgotten all at once) under the organisation object in force and today's date: a reloaded or another
    tenant's municipality file is another object, never served this one's answers (each answer holds its
    organisation, so its `id` is not reused while remembered). The answer is worked out from the key's values only (a
    row made of them), so it cannot depend on anything the key leaves out."""
    org = organisation()
    roles = fields.get("roles") or ()
    read = (actor_division, fields.get("division"), fields.get("primary_agency"), fields.get("to_agency"),
            tuple(fields.get("attendees") or ()), tuple(r.get("agency") for r in roles if isinstance(r, dict)),
            tuple(fields.get("member_divisions") or ()))
    key = (id(org), today(), read)
    try:
        found, kept = _named.get(key), True
    except TypeError:  # a value that cannot be a key (not what the contract's payloads carry): not remembered
        found, kept = None, False
    if found is not None and found[0] is org:
        return list(found[1])
    row = {"actor": {"division": read[0]},
           "fields": {"division": read[1], "primary_agency": read[2], "to_agency": read[3], "attendees": list(read[4]),
                      "roles": [{"agency": agency} for agency in read[5]], "member_divisions": list(read[6])}}
    answer = tuple(sorted(divisions_named(row)))
    if kept:
        if len(_named) >= _NAMED_AT_MOST:
            _named.clear()
        _named[key] = (org, answer)
    return list(answer)


@dataclass(frozen=True)
class Received:
    """An integration event as the inbox hands it to the library's `process_event` (its `domain_event`)."""

    envelope: Envelope
    payload: BaseModel

    @property
    def originator_id(self) -> UUID:
        """The library's domain-event protocol: the case the upstream event is about."""
        return self.envelope.case_id

    @property
    def originator_version(self) -> int:
        """The library's domain-event protocol: the upstream event's position in its source's store."""
        return self.envelope.source_position


@dataclass(frozen=True)
class Collected:
    """Several received events' effects, each already collected by the policy, recorded as one (`receive_many`)."""

    processed: tuple[ProcessingEvent[UUID], ...]
    last: Received  # the run's last received event (the library's domain-event protocol, as `Received`)

    @property
    def originator_id(self) -> UUID:
        return self.last.originator_id

    @property
    def originator_version(self) -> int:
        return self.last.originator_version


@dataclass
class BatchFailed(Exception):
    """`receive_many` stopped at `received[len(done)]`: what came before it is recorded (`done`: applied or duplicate)."""

    done: list[bool]
    error: Exception

    def __str__(self) -> str:
        return f"{type(self.error).__name__}: {self.error}"


@dataclass
class _Reads:
    """What the handler of one received event read while a batch held unrecorded effects (`receive_many`)."""

    aggregates: set[UUID] = field(default_factory=set)
    views: bool = False


class NotedEventStore(EventStore[UUID]):
    """The library's event store, noting which aggregates a handler reads during `receive_many`, and handing each
    commit's recordings to `recorded` (`ServiceApplication.on_recorded`)."""

    def __init__(self, *args: Any, noting: threading.local,
                 recorded: Callable[[list[Recording[UUID]]], None] = lambda _recordings: None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.noting = noting
        self.recorded = recorded

    def put(self, domain_events: Sequence[Any], **kwargs: Any) -> list[Recording[UUID]]:
        recordings = super().put(domain_events, **kwargs)  # committed
        self.recorded(recordings)
        return recordings

    def get(self, originator_id: UUID, **kwargs: Any) -> Any:
        reads: _Reads | None = getattr(self.noting, "reads", None)
        if reads is not None:
            reads.aggregates.add(originator_id)
        return super().get(originator_id, **kwargs)


AGGREGATE_CACHE = "JUSOU_AGGREGATE_CACHE"


def aggregate_cache_size(env: Any) -> int:
    """`JUSOU_AGGREGATE_CACHE` from the application's environment (the process's, then the one it was given)."""
    field_info = Environment.model_fields["aggregate_cache"]
    value = str(env.get(AGGREGATE_CACHE) or "").strip()
    if not value:
        return int(field_info.default)
    try:
        size = int(value)
    except ValueError:
        size = -1
    if not 0 <= size <= 1_000_000:
        raise ValueError(f"{AGGREGATE_CACHE}={value!r}: 0 から 1000000 までの整数 / an integer from 0 to 1000000")
    return size


class KeptAggregates(Repository[UUID]):
    """The library's repository, keeping up to `size` decoded aggregates (issue 19): a load of a kept aggregate
    reads and decodes only the events recorded after its version (the library's fast-forward, always on: another
    replica's or process's events count at once), where a load otherwise selects, decrypts, decompresses and
    replays every event of the aggregate.

    Unlike the library's own cache, a kept aggregate is never changed: a fast-forward that finds new events
    applies them to a copy, which is kept instead (copy on write), under the aggregate's lock. So a read that
    changes nothing (`deepcopy_from_cache=False`, `ServiceApplication.read`) may be given the kept aggregate itself,
    with no copy, while another thread fast-forwards; a command (the default) is given a copy, which it may change:
    a refused save leaves nothing of its events in what is kept. A failed fast-forward keeps what was kept, and
    only what `keeps` allows is kept (the application's `keeps_decoded`: never an aggregate with personal
    information, which an erasure must reach in every process at once; each load of one decodes it again). `hits`
    and `misses` count for tests and the bench. A load of a past version (`version=`) is the library's, never kept.
    An aggregate's events only grow, and no store is replaced under a running service (`jusou restore` puts a backup
    on an empty folder, and the services start on it), so what is kept is always a prefix of the store's events."""

    #: a command's load that finds the aggregate not kept keeps it (and copies it) from this version on, and one that
    #: finds it this many events behind brings what is kept forward; less, decoding those events again costs less
    #: than a second copy (bench/aggregate_cache.py, docs/capacity.md). A read keeps it and brings it forward always.
    COPIED_FROM = 3

    def __init__(self, event_store: EventStore[UUID], *, size: int, keeps: Callable[[Any], bool],
                 snapshot_store: EventStore[UUID] | None = None) -> None:
        super().__init__(event_store, snapshot_store=snapshot_store, cache_maxsize=None)
        self.kept: LRUCache[UUID, Any] = LRUCache(maxsize=size)
        self.keeps = keeps
        self.hits = 0
        self.misses = 0
        self._locks: dict[UUID, tuple[threading.Lock, int]] = {}  # aggregate → its lock, and how many use it
        self._locks_lock = threading.Lock()

    @contextmanager
    def _locked(self, aggregate_id: UUID) -> Iterator[None]:
        """The aggregate's own lock, held while it is decoded, fast-forwarded or copied (loads of others go on)."""
        with self._locks_lock:
            lock, users = self._locks.get(aggregate_id) or (threading.Lock(), 0)
            self._locks[aggregate_id] = (lock, users + 1)
        try:
            with lock:
                yield
        finally:
            with self._locks_lock:
                lock, users = self._locks[aggregate_id]
                if users == 1:
                    del self._locks[aggregate_id]
                else:
                    self._locks[aggregate_id] = (lock, users - 1)

    def get(self, aggregate_id: UUID, *, version: int | None = None, projector_func: Any = project_aggregate,
            fastforward_skipping: bool = False, deepcopy_from_cache: bool = True) -> Any:
        if version is not None:
            return super().get(aggregate_id, version=version, projector_func=projector_func)
        with self._locked(aggregate_id):
            try:
                aggregate = self.kept.get(aggregate_id)
            except KeyError:
                self.misses += 1
                aggregate = super().get(aggregate_id, projector_func=projector_func)  # decoded (the library's, none kept)
                if not self.keeps(aggregate) or (deepcopy_from_cache and aggregate.version < self.COPIED_FROM):
                    return aggregate  # (a young aggregate a command loads: its copy would cost more than it saves)
            else:
                self.hits += 1
                if getattr(aggregate, "pending_events", None):  # a reader changed it (it must not): decode anew
                    aggregate = super().get(aggregate_id, projector_func=projector_func)
                else:
                    new_events = list(self.event_store.get(originator_id=aggregate_id, gt=aggregate.version))
                    if new_events and deepcopy_from_cache and len(new_events) < self.COPIED_FROM:
                        # a command, a few events behind: its own copy, brought forward; what is kept stays as it
                        # was (the next load decodes these few again), rather than a second copy to keep
                        return projector_func(deepcopy(aggregate), new_events)
                    if new_events:
                        aggregate = projector_func(deepcopy(aggregate), new_events)
                        if aggregate is None:  # (an aggregate is never deleted: as the library)
                            raise AggregateNotFoundError(aggregate_id)
            self.kept.put(aggregate_id, aggregate)
            return deepcopy(aggregate) if deepcopy_from_cache else aggregate

    def forget(self, aggregate_id: UUID) -> None:
        """Let go of a kept aggregate (nothing if none is kept)."""
        try:
            self.kept.get(aggregate_id, evict=True)
        except KeyError:
            pass

    def clear(self) -> None:
        for aggregate_id in list(self.kept.cache):
            self.forget(aggregate_id)


HandlerMethod = Callable[[Any, Envelope, Any, ProcessingEvent[UUID]], None]
F = TypeVar("F", bound=Callable[..., None])
_HANDLES = "__jusou_handles__"


@dataclass(frozen=True)
class Handler:
    """One policy handler: the method, and the sources it takes the event from."""

    method: HandlerMethod
    sources: frozenset[str]


def handles(*models: type[BaseModel], sources: tuple[str, ...] | None = None) -> Callable[[F], F]:
    """Declare a policy handler (STYLE: the inbox's policy, dispatched by event type)::

        @handles(MeetingDecidedV1)
        def _connected_by_meeting(self, envelope, payload: MeetingDecidedV1, processing) -> None: ...

    The method collects its new events on `processing`. The service subscribes to each event type
    from the services that publish it (`shared.contract.events.PRODUCERS`), or only from `sources`.
    A model must be its type's newest version: older versions arrive raised to it (`upcast`)."""
    for model in models:
        event_type, version = event_type_of(model)
        if version != latest_version(event_type):
            raise TypeError(f"handle {event_type} v{latest_version(event_type)}: v{version} arrives upcast")
        unknown = set(sources or ()) - set(PRODUCERS[event_type])
        if unknown:
            raise TypeError(f"{event_type} is not published by {sorted(unknown)} (PRODUCERS)")

    def mark(method: F) -> F:
        setattr(method, _HANDLES, (models, sources))
        return method

    return mark


def handlers_of(cls: type) -> dict[type[BaseModel], tuple[Handler, ...]]:
    """The `@handles` methods of a class and its bases, most derived first; an overriding method
    replaces its base's (and handles only what it declares itself)."""
    table: dict[type[BaseModel], list[Handler]] = {}
    seen: set[str] = set()
    for klass in cls.__mro__:
        for name, attribute in vars(klass).items():
            if name in seen:
                continue
            seen.add(name)
            declared = getattr(attribute, _HANDLES, None)
            if declared is None:
                continue
            models, sources = declared
            for model in models:
                event_type, _ = event_type_of(model)
                table.setdefault(model, []).append(
                    Handler(attribute, frozenset(sources or PRODUCERS[event_type])))
    return {model: tuple(found) for model, found in table.items()}


def subscriptions_of_handlers(handlers: dict[type[BaseModel], tuple[Handler, ...]]) -> dict[str, tuple[str, ...]]:
    """source → the event types this service takes from it: its durable consumers (shared/messaging/inbox.py)."""
    found: dict[str, set[str]] = {}
    for model, declared in handlers.items():
        event_type, _ = event_type_of(model)
        for handler in declared:
            for source in handler.sources:
                found.setdefault(source, set()).add(event_type)
    return {source: tuple(sorted(types)) for source, types in sorted(found.items())}


@dataclass(frozen=True)
class _Scoped:
    """What `CaseScopeCache` keeps of one case: the positions read, the divisions they name, and as of which
    organisation file and day (division_of and successors are read as of today)."""

    positions: tuple[int, ...]
    named: frozenset[str]
    epoch: tuple[int, date]


class CaseScopeCache:
    """The divisions each case's events name (`ServiceApplication.case_divisions`), decoding each event once.

    Correct across processes and replicas: every call reads the case's positions from the case index (caught up
    to the store's head, every replica's events included) and decodes those beyond the ones kept. The store only
    grows and a case's new events index after its old ones, so what is kept is a prefix of the positions; when it
    is not (a read model rebuilt, a store replaced) or the organisation file or the day changed, the case is read
    again from its first event. So it never names a division the case's events do not name, and names one
    as soon as the case index holds the event that names it. At most `size` cases are kept (least recent out)."""

    def __init__(self, size: int = 10_000) -> None:
        self.size = size
        self._kept: OrderedDict[UUID, _Scoped] = OrderedDict()
        self._lock = threading.Lock()
        self.decoded = 0  # events decoded, for tests and the bench

    def named(self, app: ServiceApplication, case_id: UUID) -> frozenset[str]:
        positions = app.case_positions(case_id)
        epoch = (id(organisation()), today())
        with self._lock:
            kept = self._kept.get(case_id)
        start = 0
        named: frozenset[str] = frozenset()
        if kept is not None and kept.epoch == epoch and tuple(positions[:len(kept.positions)]) == kept.positions:
            if len(positions) == len(kept.positions):
                with self._lock:
                    if case_id in self._kept:
                        self._kept.move_to_end(case_id)
                return kept.named
            start, named = len(kept.positions), kept.named
        found = set(named)
        for row in app.rows_at(positions[start:]):
            found |= divisions_named(row)
        self.decoded += len(positions) - start
        scoped = _Scoped(tuple(positions), frozenset(found), epoch)
        with self._lock:
            current = self._kept.get(case_id)
            if current is None or len(current.positions) <= len(scoped.positions) or current.epoch != epoch:
                self._kept[case_id] = scoped
                self._kept.move_to_end(case_id)
            while len(self._kept) > self.size:
                self._kept.popitem(last=False)
        return scoped.named

    def clear(self) -> None:
        with self._lock:
            self._kept.clear()


def not_found(what: str, kind: type, aggregate_id: object) -> NotFound:
    """A record that is not in the store: `what` is its name as staff say it (相談者, プラン…), the English half names it
    by its kind in words (Person → person, CollaborationCase → collaboration case), never by the Japanese word."""
    english = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", kind.__name__).lower()
    return NotFound(f"{what}が見つかりません / {english} not found: {aggregate_id}")


class ServiceApplication(EventSourcedProjection[UUID]):
    """A Jusou service's event store and use cases."""

    service: ClassVar[str]
    #: event payload type → the handlers declared for it with `@handles` (most derived class first)
    handlers: ClassVar[dict[type[BaseModel], tuple[Handler, ...]]] = {}
    #: upstream source → event types this service reacts to (its durable consumers), derived from `handlers`
    subscriptions: ClassVar[dict[str, tuple[str, ...]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "subscriptions" in vars(cls):
            raise TypeError(f"{cls.__name__}: subscriptions are derived from the @handles handlers; do not list them")
        cls.handlers = handlers_of(cls)
        cls.subscriptions = subscriptions_of_handlers(cls.handlers)

    def __init__(self, env: dict[str, str] | None = None) -> None:
        self._noting = threading.local()  # `receive_many`: what the current handler reads (before the event store exists)
        self._recorded_listeners: list[Callable[[list[Recording[UUID]]], None]] = []  # `on_recorded`
        self._case_scope = CaseScopeCache()  # `case_divisions`: each case's events decoded once
        #: tracking name → the highest position this process knows the store's tracking holds (`receive`, issue 19)
        self._tracked: dict[str, int] = {}
        super().__init__(env)
        self._commit_listeners: list[Callable[[], None]] = []
        self.readmodels = ReadModels(open_view(self.env), self)
        self.on_recorded(self._readmodels_recorded)
        if self.env.get("PERSISTENCE_MODULE", "eventsourcing.popo") != "eventsourcing.popo" and self.env.get(
            "JUSOU_READMODELS_FOLLOW", "1"
        ) == "1":
            self.readmodels.start()

    def close(self) -> None:
        self.readmodels.stop()
        view_store = getattr(self.readmodels.view, "datastore", None)
        if view_store is not None:
            view_store.close()
        super().close()

    def construct_event_store(self) -> EventStore[UUID]:
        return NotedEventStore(mapper=self.mapper, recorder=self.recorder, noting=self._noting, recorded=self._recorded)

    def construct_repository(self) -> Repository[UUID]:
        """The library's repository, keeping `JUSOU_AGGREGATE_CACHE` decoded aggregates (`KeptAggregates`), or the
        library's own without any (0). The library's AGGREGATE_CACHE_* variables are not read: its cache without
        fast-forward would be wrong with replicas, and it would keep aggregates with personal information."""
        size = aggregate_cache_size(self.env)
        if size == 0:
            return Repository(event_store=self.events, snapshot_store=self.snapshots)
        return KeptAggregates(self.events, size=size, keeps=self.keeps_decoded, snapshot_store=self.snapshots)

    def keeps_decoded(self, aggregate: Any) -> bool:
        """Whether a decoded aggregate may be kept between loads (`KeptAggregates`): not one with personal
        information (`personal = True`, or one whose events the mapper seals with a person's key, intake's
        `PersonalMapper.seals`). Such an aggregate, decoded, holds what a person's key opened; erasure deletes the
        key, and a kept copy in this or another replica's process (which the erasure does not reach, and which an
        erasure's event does not reach either when it is recorded on another aggregate) would still show it.
        Nor a command's Idempotency-Key record: read once for its answer, then only on a retry, it would push
        cases out."""
        if getattr(aggregate, "personal", False) or isinstance(aggregate, IdempotentRequest):
            return False
        seals = getattr(self.mapper, "seals", None)
        return not (callable(seals) and seals(aggregate))

    def _readmodels_recorded(self, recordings: list[Recording[UUID]]) -> None:
        """The read models' follower is woken by a commit that recorded events, not by one that recorded only a
        tracking record (a delivery whose handlers did nothing: most of outreach's and participation's): the log it
        follows did not grow (issue 19: a wake and a round of the follower for nothing)."""
        if recordings:
            self.readmodels.wake()

    def noted_views(self) -> None:
        """A handler reads the read models or the notification log: under `receive_many`, it must see the
        batch's earlier effects recorded first (the read models follow the store)."""
        reads: _Reads | None = getattr(self._noting, "reads", None)
        if reads is not None:
            reads.views = True

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(DateAsISO())

    # -- commits -------------------------------------------------------------------------

    def save(self, *objs: Any, **kwargs: Any) -> list[Recording[UUID]]:
        """Save; a command sent with an `Idempotency-Key` saves its record in the same transaction
        (shared/kernel/idempotency.py): a duplicate sent at the same time fails here and records nothing. An aggregate
        a request holds to the version its client read (`If-Match`, shared/kernel/expected.py) is refused here unless
        it was loaded at that version."""
        expected.check(objs)
        request = marked()
        if request is None or request.request_id is None:
            recordings = super().save(*objs, **kwargs)
            self._committed()
            return recordings
        recorded = [str(o.id) for o in objs if isinstance(o, Aggregate)]
        record = IdempotentRequest(request_id=request.request_id, route=request.route,
                                   fingerprint=request.fingerprint, recorded=recorded)
        try:
            recordings = super().save(*objs, record, **kwargs)
        except IntegrityError:
            if self.idempotent_record(request.request_id) is not None:
                raise AlreadyRecorded(request.request_id, request.fingerprint) from None
            raise
        request.saved = True
        self._committed()
        return recordings

    def idempotent_record(self, request_id: UUID) -> IdempotentRequest | None:
        """The command received with this (hashed, scoped) key, if one was recorded."""
        try:
            record: Aggregate = self.repository.get(request_id)
        except AggregateNotFoundError:
            return None
        return record if isinstance(record, IdempotentRequest) else None

    def finish_recorded(self, recorded: list[UUID]) -> None:
        """A command recorded these aggregates and then lost its answer (it may have stopped before its
        work outside the store): a retry with its key finishes that work here. Nothing by default."""

    def answer_request(self, request_id: UUID, status: int, content_type: str, location: str, body: str) -> None:
        """Keep the answer of a command received with a key, for its retries."""
        record = self.idempotent_record(request_id)
        if record is None or record.answer is not None:
            return
        record.give_answer(status, content_type, location, body)
        try:
            self.save(record)
        except IntegrityError:
            pass  # answered at the same moment by another replica: one answer is kept


    def on_recorded(self, listener: Callable[[list[Recording[UUID]]], None]) -> None:
        """Call `listener` with each commit's recordings (the committing thread, after the commit, before the
        `on_commit` listeners): the relay takes what this process recorded without reading it back. Called by the
        event store's `put` (`NotedEventStore`), which every save and `process_event` commits through: the
        library's `_notify` would do, but a private name is the adapter's alone (shared/kernel/library.py)."""
        self._recorded_listeners.append(listener)

    def off_recorded(self, listener: Callable[[list[Recording[UUID]]], None]) -> None:
        if listener in self._recorded_listeners:
            self._recorded_listeners.remove(listener)

    def _recorded(self, recordings: list[Recording[UUID]]) -> None:
        for listener in list(self._recorded_listeners):
            listener(recordings)

    def on_commit(self, listener: Callable[[], None]) -> None:
        """Call `listener` after every commit, one that recorded only a tracking record too (a page's live updates).
        The relay and the read models wake on `on_recorded` instead, for commits that recorded events."""
        self._commit_listeners.append(listener)

    def off_commit(self, listener: Callable[[], None]) -> None:
        if listener in self._commit_listeners:
            self._commit_listeners.remove(listener)

    def _committed(self) -> None:
        for listener in list(self._commit_listeners):
            listener()

    # -- reading -------------------------------------------------------------------------

    def events_of(self, aggregate_id: UUID) -> Iterator[DomainEvent]:
        """An aggregate's stored events, oldest first (the library types them as a protocol without `timestamp`)."""
        return cast("Iterator[DomainEvent]", self.repository.event_store.get(aggregate_id))

    def domain_event(self, record: StoredEvent) -> DomainEvent:
        """A stored event (or notification) as its domain event, typed as the library's DomainEvent."""
        return cast(DomainEvent, self.mapper.to_domain_event(record))

    def load(self, aggregate_id: UUID, kind: type[Aggregate], what: str) -> Any:
        """Get an aggregate of the given kind or raise NotFound naming what was looked for: the caller's own copy,
        which a command changes and saves."""
        return self._got(aggregate_id, kind, what, copy=True)

    def read(self, aggregate_id: UUID, kind: type[Aggregate], what: str) -> Any:
        """As `load`, for a read that changes nothing: the kept aggregate itself when one is kept (`KeptAggregates`),
        without the copy a command needs (issue 19). Call no command method on it, and change none of its values nor
        of what its methods return (a `view()` that hands out its lists): they are every later reader's."""
        return self._got(aggregate_id, kind, what, copy=False)

    def _got(self, aggregate_id: UUID, kind: type[Aggregate], what: str, copy: bool) -> Any:
        try:
            aggregate: Any = self.repository.get(aggregate_id, deepcopy_from_cache=copy)
        except AggregateNotFoundError as exc:
            raise not_found(what, kind, aggregate_id) from exc
        if not isinstance(aggregate, kind):
            raise not_found(what, kind, aggregate_id)
        return aggregate

    def notifications(self, start: int = 1, limit: int = 500) -> Iterator[Notification]:
        """Every stored event from `start`, in store order."""
        self.noted_views()
        while True:
            batch = self.recorder.select_notifications(start=start, limit=limit)
            yield from batch
            if len(batch) < limit:
                return
            start = batch[-1].id + 1

    def ids_of(self, kind: type[Aggregate]) -> list[UUID]:
        """Ids of every aggregate of `kind`, oldest first (from the aggregate catalogue read model)."""
        self.readmodels.catch_up()
        return [UUID(i) for i in self.readmodels.view.ids_of_kind(f"{kind.__module__}:{kind.__qualname__}")]

    def ids_of_case(self, kind: type[Aggregate], case_id: UUID) -> list[UUID]:
        """Ids of the aggregates of `kind` that recorded an event of the case, oldest first (the aggregate catalogue
        and the case index read models): a case's plans without loading every plan of the program (issue 19)."""
        self.readmodels.catch_up()
        view = self.readmodels.view
        mine = set(view.case_aggregates(str(case_id)))
        return [UUID(i) for i in view.ids_of_kind(f"{kind.__module__}:{kind.__qualname__}") if i in mine]

    def notifications_at(self, positions: list[int]) -> Iterator[Notification]:
        """The stored events at these positions (ascending), reading runs of consecutive positions at once."""
        i = 0
        while i < len(positions):
            j = i
            while j + 1 < len(positions) and positions[j + 1] == positions[j] + 1:
                j += 1
            yield from self.recorder.select_notifications(start=positions[i], limit=j - i + 1, stop=positions[j])
            i = j + 1

    def case_positions(self, case_id: UUID) -> list[int]:
        """Store positions of the case's events (from the case index read model)."""
        self.readmodels.catch_up()
        return self.readmodels.view.positions_of_case(str(case_id))

    def history(self, case_id: UUID) -> list[dict[str, Any]]:
        """D15: every event this service recorded for the case, in store order, with who and why."""
        return self.rows_at(self.case_positions(case_id))

    def case_divisions(self, case_id: UUID) -> frozenset[str]:
        """The divisions that may read this program's record of the case (division scope, issue 13):
        the divisions that run the program, and every division the case's events here name: who acted
        (and whose act upstream caused a policy's event), its primary agency, the agencies it was
        connected to or given a role in a plan, and the members of the meetings that took it up.
        Agencies are compared by their division's code (shared/organisation/reference.py division_of).

        The case's events are decoded once (issue 19): `_case_scope` keeps, per case, the positions read and the
        divisions they name, and decodes only the positions the case index holds beyond them, read each time
        from the store's read models (so another replica's event counts at once)."""
        return PROGRAM_DIVISIONS.get(self.service, frozenset()) | self._case_scope.named(self, case_id)

    def reads_every_case(self, division: str | None) -> bool:
        """Whether `case_divisions` names `division` for every case, without reading one: a division that runs the
        program, while `case_divisions` is this class's (an override, intake's, may name fewer)."""
        return (type(self).case_divisions is ServiceApplication.case_divisions
                and division in PROGRAM_DIVISIONS.get(self.service, frozenset()))

    def case_of_plan(self, plan_id: UUID) -> UUID | None:
        """The case a plan is for (a plan's division scope is its case's); None when this service
        has no such plan (the plan owners and the meeting answer it)."""
        return None

    def person_readers(self, person_ref: UUID) -> frozenset[str] | None:
        """Division scope of a person's records; None when this service keeps none (intake answers it)."""
        return None

    def meeting_readers(self, meeting_id: UUID) -> frozenset[str] | None:
        """Division scope of a meeting's record; None when this service keeps none (the meeting answers it)."""
        return None

    def scoped(self, rows: list[dict[str, Any]], reader: Any) -> list[dict[str, Any]]:
        """A list's rows (each with a `case_id`) that `reader` (a Principal) may see: division scope."""
        if reader is None:
            return []
        return visible(reader.division, reader.roles, rows, self.case_divisions, self.service)

    def redact(self, rows: list[dict[str, Any]], division: str | None) -> list[dict[str, Any]]:
        """History rows as `division` may see them (the meeting withholds a 支援会議's content, D10)."""
        return rows

    def person_rows(self, person_ref: UUID) -> list[dict[str, Any]]:
        """Every event naming the person (from the person index read model): intake's disclosures."""
        self.readmodels.catch_up()
        return self.rows_at(self.readmodels.view.positions_of_person(str(person_ref)))

    def state_as_of(self, case_id: UUID, moment: datetime | None = None, division: str | None = None) -> list[dict[str, Any]]:
        """D15 audit: this program's view of the case as it stood at `moment` (now when None).

        Each aggregate that recorded something for the case is rebuilt from its own events up to
        the last version recorded by then (`repository.get(id, version=…)`). A person's record
        (personal information) is never part of it: disclosures are audited separately.
        """
        self.readmodels.catch_up()
        states = []
        for aggregate_id in self.readmodels.view.case_aggregates(str(case_id)):
            uid = UUID(aggregate_id)
            version: int | None = None
            if moment is not None:
                recorded = [e.originator_version for e in self.recorder.select_events(uid)
                            if self.domain_event(e).timestamp <= moment]
                if not recorded:
                    continue
                version = max(recorded)
            aggregate: Any = self.repository.get(uid, version=version)
            if getattr(aggregate, "personal", False):
                continue
            shown = aggregate.view() if callable(getattr(aggregate, "view", None)) else {
                k: v for k, v in vars(aggregate).items() if not k.startswith("_")}
            states.append({
                "service": self.service,
                "aggregate_id": aggregate_id,
                "kind": type(aggregate).__qualname__,
                "version": aggregate.version,
                "recorded_at": aggregate.modified_on.isoformat(),
                "state": json.loads(json.dumps(shown, default=str, ensure_ascii=False)),
            })
        return states

    def rows_at(self, positions: list[int]) -> list[dict[str, Any]]:
        rows = []
        for notification in self.notifications_at(positions):
            event = self.domain_event(notification)
            meta = getattr(event, "meta", None) or {}
            fields = {k: v for k, v in vars(event).items()
                      if k not in ("meta", "originator_id", "originator_version", "timestamp", "originator_topic")}
            rows.append({
                "service": self.service,
                "position": notification.id,
                "occurred_at": event.timestamp.isoformat(),
                "event": notification.topic.rsplit(":", 1)[-1],
                "case_id": meta.get("case_id"),
                "aggregate_id": str(notification.originator_id),
                "event_id": str(event_id_of(self.service, notification.originator_id, notification.originator_version)),
                "actor": meta.get("actor"),
                "caused_by": meta.get("caused_by"),
                **({"upstream_divisions": meta["upstream_divisions"]} if meta.get("upstream_divisions") else {}),
                "fields": json.loads(json.dumps(fields, default=str, ensure_ascii=False)),
            })
        return rows

    # -- relay position --------------------------------------------------------------------

    def relay_position(self) -> int:
        return self.recorder.max_tracking_id(RELAY_TRACKING) or 0

    def save_relay_position(self, position: int) -> None:
        """Save the relay's published position. The tracking row refuses one at or below what it holds (an
        `IntegrityError`: another replica's relay saved as far first), so the store is not asked first (issue 19),
        but where it would not refuse (the library's legacy multi-row tracking table)."""
        if not refuses_older_tracking(self.recorder) and position <= self.relay_position():
            return
        try:
            self.recorder.insert_tracking(Tracking(application_name=RELAY_TRACKING, notification_id=position))
        except IntegrityError:
            pass  # another replica's relay saved this very position (or a later one) first: it is saved

    # -- inbox -----------------------------------------------------------------------------

    def receive(self, envelope: Envelope, payload: BaseModel, tracking: str | None = None) -> bool:
        """Apply an integration event exactly once; False when it was already applied.

        The library's own processing path: `process_event` calls `policy` (the handlers declared with
        `@handles`), records the new events and the tracking record in one transaction, and notifies.
        `tracking` names the tracking record instead of the source: a replayed dead letter has its
        own (shared/messaging/deadletters.py), as the source's record may already be past its position.

        Exactly once is the tracking record's: its row refuses a position at or below the one recorded, in the
        transaction of the effects (`IntegrityError`, nothing of them stored). So the store is not asked before each
        delivery (`_tracked`, issue 19: one statement a delivery); what this process last knew recorded answers a
        copy it applied or read before, and the refusal or a read after a failure answers the rest: a position
        recorded meanwhile by another process (a replica; before a crash) is a duplicate whatever its handlers say.
        """
        name = tracking or envelope.source
        position = envelope.source_position
        with self.processing_lock:
            known, fresh = self._tracking_of(name)
            if known >= position:
                return False
            self._noting.recording = False
            with acting({"service": self.service}, caused_by=envelope.event_id,
                        upstream_divisions=partial(divisions_upstream, envelope, payload)):
                try:
                    self.process_event(Received(envelope, payload),
                                       Tracking(application_name=name, notification_id=position))
                    self._committed()
                except IntegrityError:
                    # Recorded first by another process (a replica), or by this one before a crash: a duplicate.
                    # Anything else is a real conflict.
                    if self._tracking_read(name) >= position:
                        return False
                    raise
                except Exception:
                    # A handler that failed (nothing recorded) on a position another process recorded since this one
                    # last asked: a duplicate, as the store would have said before the handler ran.
                    if not fresh and not getattr(self._noting, "recording", True) and self._tracking_read(
                            name, quietly=True) >= position:
                        return False
                    raise
                finally:
                    self._noting.recording = False
            self._tracked_up_to(name, position)
            return True

    def _tracking_of(self, name: str) -> tuple[int, bool]:
        """The highest position of `name` this process knows the store's tracking holds (it only grows), and whether
        it was read now: read once per name and process, and at every delivery where the store would not refuse an
        older position (the library's legacy multi-row tracking table)."""
        tracked: dict[str, int] | None = getattr(self, "_tracked", None)
        if tracked is not None and name in tracked and refuses_older_tracking(self.recorder):
            return tracked[name], False
        return self._tracking_read(name), True

    def _tracking_read(self, name: str, quietly: bool = False) -> int:
        """The store's tracking of `name` (0: none), remembered (`_tracking_of`); with `quietly`, -1 when the store
        cannot answer (the caller raises its own error)."""
        try:
            found = self.recorder.max_tracking_id(name) or 0
        except Exception:
            if quietly:
                return -1
            raise
        self._tracked_up_to(name, found)
        return found

    def _tracked_up_to(self, name: str, position: int) -> None:
        """Remember that the store's tracking of `name` holds `position` (committed, or read)."""
        tracked: dict[str, int] | None = getattr(self, "_tracked", None)
        if tracked is None:  # (an application made bare by a test)
            tracked = {}
            self._tracked = tracked
        if position > tracked.get(name, 0) or name not in tracked:
            tracked[name] = position

    def receive_many(
        self,
        received: Sequence[tuple[Envelope, BaseModel]],
        contexts: Sequence[Callable[[], AbstractContextManager[Any]]] | None = None,
    ) -> list[bool]:
        """Apply a run of one source's integration events, in order, exactly once, in as few transactions as
        their handlers allow; for each, True when applied, False when it was already (as `receive`).

        Each event's handlers run into their own `ProcessingEvent` (the library's `policy`), under its
        own `acting` (caused_by) and `contexts[i]` (its trace span). Their new events are recorded
        together with one tracking record, the run's last position, through the library's
        `process_event`: one commit for the run. The tracking is the source's highest position (the
        library's `has_tracking_id`), so a redelivery of any of them after the commit is a duplicate,
        and a crash before it records none of them.

        A handler must see the effects of the events before it. It does when it reads nothing they
        wrote; otherwise what is collected so far is recorded first and its handlers run again on the
        recorded state: when it loads an aggregate (the event store) that an earlier event of the run
        changed or created, reads the read models or the notification log, or is about the same case as
        an earlier event of the run.

        A handler's failure (or the commit's) raises `BatchFailed` with the outcomes of the events before it,
        recorded; the caller retries the failing one alone (`receive`) and then the rest.
        """
        outcomes: list[bool | None] = [None] * len(received)
        pending: list[tuple[int, ProcessingEvent[UUID]]] = []  # (index in `received`, its collected effects)
        touched: set[UUID] = set()  # aggregates the pending effects create or change
        cases: set[UUID] = set()

        def record() -> None:
            if pending:
                last = pending[-1][1].tracking
                assert last is not None
                self.process_event(Collected(tuple(p for _, p in pending), Received(*received[pending[-1][0]])), last)
                self._tracked_up_to(last.application_name, last.notification_id)
                for index, _ in pending:
                    outcomes[index] = True
                pending.clear()
                touched.clear()
                cases.clear()
                self._committed()

        source = received[0][0].source if received else ""
        alone = len(received) == 1  # a run of one: its own tracking row refuses it if recorded (`receive`)
        with self.processing_lock:
            try:
                highest, fresh = self._tracking_of(source) if received else (0, True)
                if received and not fresh and not alone:
                    highest, fresh = self._tracking_read(source), True  # the run's middle is not checked by the row
                self._noting.recording = False
                i = 0
                while i < len(received):
                    envelope, payload = received[i]
                    if envelope.source_position <= highest:
                        outcomes[i] = False
                        i += 1
                        continue
                    processing = ProcessingEvent[UUID](
                        tracking=Tracking(application_name=envelope.source, notification_id=envelope.source_position))
                    reads = _Reads()
                    self._noting.reads = reads if pending else None
                    try:
                        context = contexts[i] if contexts is not None else nullcontext
                        with context(), acting({"service": self.service}, caused_by=envelope.event_id,
                                                upstream_divisions=partial(divisions_upstream, envelope, payload)):
                            self.policy(Received(envelope, payload), processing)
                    except Exception:
                        self._noting.reads = None
                        record()  # what came before the failing one
                        raise
                    finally:
                        self._noting.reads = None
                    if pending and (reads.views or reads.aggregates & touched or envelope.case_id in cases):
                        record()
                        continue  # this one again, on the recorded state
                    pending.append((i, processing))
                    touched.update(processing.aggregates, (e.originator_id for e in processing.events))
                    cases.add(envelope.case_id)
                    highest = envelope.source_position
                    i += 1
                record()
            except Exception as exc:
                if (alone and not fresh and outcomes[0] is None
                        and (isinstance(exc, IntegrityError) or not getattr(self._noting, "recording", True))
                        and self._tracking_read(source, quietly=True) >= received[0][0].source_position):
                    return [False]  # recorded meanwhile by another process: a duplicate (as `receive`)
                done: list[bool] = []
                for outcome in outcomes:
                    if outcome is None:
                        break
                    done.append(outcome)
                raise BatchFailed(done, exc) from exc
        return [bool(outcome) for outcome in outcomes]

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        """The library's `process_event` (the policy collects the effects, then they are recorded with the tracking
        record, snapshots taken, listeners told), step for step, but for effects that are none: a tracking record
        alone (a delivery whose handlers recorded nothing) is committed on SQLite without waiting for the disk
        (shared/kernel/library.py `record_processed`, `commit_tracking_alone`, which says why that loses nothing)."""
        processing_event = ProcessingEvent[UUID](tracking=tracking)
        self.policy(domain_event, processing_event)
        self._noting.recording = True  # past the handlers: a failure now is the commit's (`receive`)
        record_processed(self, processing_event)

    def policy(self, domain_event: Any, processing_event: ProcessingEvent[UUID]) -> None:
        """The library's policy hook, dispatched by event type: the event raised to its newest version
        (`upcast`), then each handler declared for that type and its source, most derived class first."""
        if isinstance(domain_event, Collected):  # `receive_many`: the handlers ran already, one event at a time
            for processed in domain_event.processed:
                processing_event.events.extend(processed.events)
                processing_event.aggregates.update(processed.aggregates)
                processing_event.saved_kwargs.update(processed.saved_kwargs)
            return
        if not isinstance(domain_event, Received):
            raise TypeError(f"the inbox hands the policy a Received, not {type(domain_event).__name__}")
        envelope, payload = upcast(domain_event.envelope, domain_event.payload)
        for handler in self.handlers.get(type(payload), ()):
            if envelope.source in handler.sources:
                handler.method(self, envelope, payload, processing_event)
