"""Every use of the eventsourcing library's private names, in one adapter (issue 14).

The rest of the suite goes through the library's public API (`Application.save`, `process_event`,
`policy`, recorders' `select_notifications`, `insert_tracking`, `max_tracking_id`...). What the
public API does not offer is here, each with the behaviour it relies on pinned by
tests/unit/test_library_adapter.py, so an upgrade of eventsourcing that changes one of them fails
there, by name, before it fails anywhere else. Pinned against eventsourcing 9.5. It imports only `eventsourcing.domain` (the journey's aggregates
use it: tests/unit/test_domain_purity.py holds it to the domain's own rule); recorders come as `Any`.

- `CreationHook`: aggregates add keyword arguments to their creation event (`Aggregate._create`);
  the journey's metadata goes on every `Created` event this way.
- `track_in_memory`, `forget_in_memory`, `memory_lock`: the in-memory (POPO) read-model view keeps
  its tracking position with its rows, under the recorder's own lock.
- `track_in_transaction`: a SQL read-model view writes its tracking record in its own transaction,
  beside its rows (the recorders' `_insert_tracking(cursor, tracking)`).
- `transaction`: a recorder's datastore transaction (the attribute is untyped in the library).
- `derived_commits`: the SQLite read-model connections commit without waiting for the disk.
- `warm_connections`: a SQLite pool whose connections keep their statements prepared (`_create_connection`) and
  whose idle connection returned last is handed out first (`_pool`, taken by `popleft`): a statement's page cache and
  its prepared statement are still there (issue 19).
- `without_notify`: a PostgreSQL recorder whose commits send no `NOTIFY` (`_notify_channel`): nothing
  here listens, and a `NOTIFY` serialises every committing transaction of the whole server; and whose
  `insert_events` sends the COMMIT with the insert (`_insert_events`, `_insert_stored_events`,
  `_fetch_ids_after_insert_events`): the events table's lock is not held across a round trip (issue 19).
- `tracks_as_library`: whether a PostgreSQL recorder records tracking with the library's own `_insert_tracking`
  (shared/kernel/locked_insert.py repeats its statement in SQL only then) (issue 19).
- `refuses_older_tracking`: whether a recorder's tracking row refuses a position at or below the one it holds
  (`datastore.single_row_tracking`; the in-memory recorder's `_assert_tracking_uniqueness`) (issue 19).
- `record_processed`, `commit_tracking_alone`: what the library's `process_event` does after its policy (`_record`,
  `_take_snapshots`, `notify`, `_notify`), but a tracking record alone (a delivery whose handlers recorded nothing)
  committed by a SQLite process recorder without waiting for the disk (`_insert_tracking` in a writer's transaction
  of its pool) (issue 19).
- `sqlite_of`: a pooled SQLite connection's `sqlite3.Connection`: the services' SQLite recorders read an
  aggregate's events and a tracking position in one statement, without the library's BEGIN and ROLLBACK
  (shared/kernel/lean.py `reads_alone`).
- `remembered_protocol_members`: `isinstance` against the library's runtime-checkable protocols
  (`CanMutateProtocol` for every event an aggregate is rebuilt from, `DomainEventProtocol` and
  `CollectEventsProtocol` for everything saved) looks up the protocol's members once, not on every
  call (Python 3.11 only: 3.12 keeps them itself). Done when this module is imported.
"""

from __future__ import annotations

import sqlite3
import sys
import time
import typing
from abc import ABCMeta
from collections import deque
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any

from eventsourcing.domain import Aggregate, CanMutateProtocol, CollectEventsProtocol, DomainEventProtocol


class CreationHook(Aggregate):
    """An aggregate base whose subclasses may add keyword arguments to their creation event."""

    @classmethod
    def creation_arguments(cls, kwargs: dict[str, Any]) -> dict[str, Any]:
        """The creation event's keyword arguments, as the subclass wants them (unchanged here)."""
        return kwargs

    @classmethod
    def _create(cls, event_class: Any, *, id: Any = None, **kwargs: Any) -> Any:
        return super()._create(event_class, id=id, **cls.creation_arguments(kwargs))


def memory_lock(recorder: Any) -> AbstractContextManager[Any]:
    """The in-memory recorder's own lock (its tracking and our rows change together under it)."""
    lock: AbstractContextManager[Any] = recorder._database_lock
    return lock


def track_in_memory(recorder: Any, tracking: Any) -> None:
    """Record a tracking position in an in-memory recorder, refusing a duplicate (IntegrityError);
    call it holding `memory_lock`."""
    recorder._assert_tracking_uniqueness(tracking)
    recorder._insert_tracking(tracking)


def forget_in_memory(recorder: Any, application_name: str) -> None:
    """Forget an in-memory recorder's tracking of `application_name` (it keeps only the highest id)."""
    recorder._max_tracking_ids.pop(application_name, None)


def track_in_transaction(recorder: Any, cursor: Any, tracking: Any) -> None:
    """Record a tracking position with a SQL recorder, in the transaction of `cursor`."""
    recorder._insert_tracking(cursor, tracking)


def transaction(recorder: Any, commit: bool) -> AbstractContextManager[Any]:
    """A SQL recorder's datastore transaction (SQLite or PostgreSQL); yields a cursor."""
    opened: AbstractContextManager[Any] = recorder.datastore.transaction(commit=commit)
    return opened


def derived_commits(pool: Any) -> None:
    """The views' SQLite connections commit without waiting for the disk (`synchronous=NORMAL`).

    Safe because the view is derived data whose position commits with its rows: in WAL mode a
    NORMAL commit is atomic and survives a crash of the service; only a crash of the machine may
    lose the last few commits, rows and position together, and the follower then indexes those
    events again from the store, whose own commits stay synchronous (FULL). Seals are re-made the
    same way, from the stored bytes. So a command costs one fsync (the store's), not two: under the
    bench's load the views' commits took as long as the commands' own (`python -m bench --profile`).
    PostgreSQL views do the same per transaction (`synchronous_commit` off, readmodel `_derived`).
    """
    create: Callable[[], Any] = pool._create_connection

    def create_connection() -> Any:
        connection = create()
        connection._sqlite_conn.execute("PRAGMA synchronous=NORMAL")
        return connection

    pool._create_connection = create_connection


#: statements each pooled SQLite connection keeps prepared: the sqlite3 module's own default (the library passes
#: `cached_statements=True`, which the module reads as 1: one statement kept)
KEPT_STATEMENTS = 128


class _LatestFirst(deque[Any]):
    """A pool's idle connections, the one returned last handed out first: the library takes `popleft` (here the
    deque's own `pop`, in C: no Python call per connection handed out)."""

    popleft = deque.pop


def warm_connections(pool: Any) -> None:
    """A SQLite pool (store or views) whose connections find what they need still warm (issue 19).

    What a single-row select cost in a service (100-180 µs of thread CPU against 5 µs in one warm thread) was mostly
    two things the library's pool throws away (timed per statement in every service of the journey bench,
    docs/capacity.md §5.12):
    - **the prepared statement**: the library opens its connections with `cached_statements=True`, which the sqlite3
      module reads as a cache of one statement, so a connection prepares again every statement that is not the one
      it ran last (about half of a service's reads: parse, plan, schema lookup). Here each connection is opened with
      the module's own default, `KEPT_STATEMENTS`, the library's other arguments the same (the database, `uri`,
      `check_same_thread=False`, its `isolation_level` and busy timeout, its row factory): the library's connection
      is made first (its WAL set-up) and replaced by this one; an in-memory database (one connection's) is left as
      the library made it.
    - **the page cache**: in WAL mode a commit by one connection makes every other connection of the file drop its
      whole page cache at its next read, which then reads its B-tree's pages again (the committing connection keeps
      its own). The library's pool hands out the connection idle longest (`popleft`, returned with `append`), so the
      five connections took turns and every commit cost each of them that read again: 54-67 % of the reads found
      their cache dropped. Here the idle connection returned last is handed out first: the next statement after a
      commit usually runs on the connection that made it, and the others rest (6-10 % of reads dropped).
    Nothing else changes: the same connections, transactions, limits, locks and order of waiting threads.
    Apply it before anything else wraps the pool's `_create_connection` (`derived_commits`); it refuses otherwise.
    Idempotent. Pinned by tests/unit/test_warm_connections.py."""
    if getattr(pool, "_jusou_warm", False):
        return
    if "_create_connection" in vars(pool):
        raise RuntimeError("warm_connections first: the pool's connections are already made by another wrapper")
    with pool._put_condition:
        pool._pool = _LatestFirst(pool._pool)
    pool._jusou_warm = True
    if pool.is_sqlite_memory_mode:
        return
    create: Callable[[], Any] = pool._create_connection

    def create_connection() -> Any:
        connection = create()
        made = connection._sqlite_conn
        waits = made.execute("PRAGMA busy_timeout").fetchone()[0] / 1000
        kept = sqlite3.connect(pool.db_name, uri=True, check_same_thread=False, isolation_level=made.isolation_level,
                               cached_statements=KEPT_STATEMENTS, timeout=waits)
        kept.row_factory = made.row_factory
        made.close()
        connection._sqlite_conn = kept
        return connection

    pool._create_connection = create_connection


def without_notify(recorder_class: type, retrying: Callable[[Any], Any] = lambda f: f) -> type:
    """A subclass of a PostgreSQL recorder (application or process) whose inserts send no `NOTIFY` and whose
    commit goes with the insert, in one round trip.

    - No `NOTIFY` (`_notify_channel`): the library's recorders send `NOTIFY <table>` in every insert, for its
      LISTEN-based subscriptions; nothing in the suite listens (the relay and the read models are woken in the
      process on every commit, and poll for other processes' commits). PostgreSQL takes, for a transaction that
      sent a `NOTIFY`, a lock held until its commit is on disk, one lock for the whole server (`PreCommit_Notify`:
      the queue keeps commit order): every committing transaction of every service waited for the others' fsyncs
      one by one, none grouped. Measured (six writers, one table each, `LOCK TABLE` and one insert per
      transaction, synchronous commits, 2026-12-05, load 6): 750-900 commits/s with the `NOTIFY`, 1,500-2,450
      without; commit p50 5.3-7.0 → 1.9-2.9 ms.
    - `insert_events`: the library's sends the table lock and the insert, waits for their results (to raise a
      conflict as an IntegrityError there), then sends COMMIT: the events table's lock, which serialises the
      service's commits, was held across a round trip to this process, which under load waits for a core and the
      GIL before it sends the COMMIT. Here the COMMIT follows the insert in the same pipeline: a conflict still
      comes back as psycopg's IntegrityError (a `UniqueViolation`) when the pipeline is synced, before anything is
      committed, and the connection is left idle; the notification ids are read from the insert's result after it.
      A process recorder's tracking row is still written (and checked) first, as in the library.
    Each commit stays synchronous and still takes the table lock that keeps commit order = position order
    (`_lock_table`). `retrying` wraps `insert_events` (the library's retry of a lost connection).
    """

    def _notify_channel(self: Any, curs: Any) -> None:
        """No `NOTIFY`: see `without_notify`."""

    def insert_events(self: Any, stored_events: Any, **kwargs: Any) -> Any:
        """The library's insert (tracking, lock, events), committed in the same round trip: see `without_notify`."""
        found: Any = None
        with self.datastore.get_connection() as conn:
            with conn.pipeline(), conn.transaction():  # COMMIT (or ROLLBACK) and one sync at the exit
                with conn.cursor() as curs:
                    self._insert_events(curs, stored_events, **kwargs)  # a process recorder's tracking, checked
                if len(stored_events) > 0:
                    found = conn.cursor()
                    self._insert_stored_events(found, stored_events, **kwargs)  # lock, (no NOTIFY), insert
            if found is None:
                return None
            return self._fetch_ids_after_insert_events(found, stored_events, **kwargs)

    quiet = type(f"Quiet{recorder_class.__name__}", (recorder_class,), {
        "_notify_channel": _notify_channel, "insert_events": retrying(insert_events),
        "__doc__": f"{recorder_class.__name__} without NOTIFY, committed with its insert (without_notify)."})
    return quiet


def insert_in_one_transaction(recorder: Any, trackings: Sequence[Any], stored_events: Sequence[Any]) -> Any:
    """Several saves' tracking records and events in one transaction of a PostgreSQL process recorder, committed with
    the insert in one pipeline (as `without_notify`'s insert): each tracking inserted and checked (`_insert_tracking`:
    a duplicate or an older position raises IntegrityError and nothing is committed), in the order given (the caller
    sorts them by application name, so two groups never wait for each other's tracking rows in opposite orders), then
    every event in one insert under the table lock (`_insert_stored_events`); the events' notification ids, in order
    (`_fetch_ids_after_insert_events`), or None when there are no events. For shared/kernel/group_commit.py."""
    found: Any = None
    with recorder.datastore.get_connection() as conn:
        with conn.pipeline(), conn.transaction():
            with conn.cursor() as curs:
                for tracking in trackings:
                    recorder._insert_tracking(curs, tracking)
            if stored_events:
                found = conn.cursor()
                recorder._insert_stored_events(found, stored_events)
        return None if found is None else recorder._fetch_ids_after_insert_events(found, stored_events)


def tracks_as_library(recorder: Any) -> bool:
    """Whether a PostgreSQL recorder records a tracking position with the library's own `_insert_tracking`: not replaced
    on the instance or in a subclass (an adapter's or a test's wrapper), which a statement repeating the library's SQL
    would pass by (shared/kernel/locked_insert.py)."""
    if "_insert_tracking" in vars(recorder):
        return False
    # the class that defines the method the recorder runs, found without importing eventsourcing.postgres (this module
    # is the domain's: tests/unit/test_domain_purity.py)
    owner = next((cls for cls in type(recorder).__mro__ if "_insert_tracking" in vars(cls)), None)
    return owner is not None and (owner.__module__, owner.__qualname__) == ("eventsourcing.postgres",
                                                                          "PostgresTrackingRecorder")


def refuses_older_tracking(recorder: Any) -> bool:
    """Whether recording a tracking position at or below the one a recorder holds for its name is refused
    (`IntegrityError`, in the transaction of the effects it goes with): the library's single-row tracking on SQLite and
    PostgreSQL (its upsert `… WHERE notification_id < new RETURNING`, "Failed to record tracking for …"), and the
    in-memory recorder (`_assert_tracking_uniqueness`). Not the legacy multi-row table (`SINGLE_ROW_TRACKING=false`),
    whose key refuses only the same position. `ServiceApplication.receive` asks the store before a delivery only
    where this is False (issue 19)."""
    datastore: Any = getattr(recorder, "datastore", None)
    if datastore is None:
        return callable(getattr(recorder, "_assert_tracking_uniqueness", None))
    return getattr(datastore, "single_row_tracking", False) is True


def record_processed(app: Any, processing_event: Any) -> None:
    """Record what an application's policy collected into `processing_event`, as the library's `process_event` does
    after calling the policy (`_record`: the events and the tracking in one commit; `_take_snapshots`; `notify`;
    `_notify`), but where it collected nothing, its tracking record alone through `commit_tracking_alone` (on SQLite:
    without waiting for the disk). The library's steps and their order are pinned by tests/unit/test_library_adapter.py."""
    if (not processing_event.events and not processing_event.aggregates and not processing_event.saved_kwargs
            and processing_event.tracking is not None and commit_tracking_alone(app.recorder, processing_event.tracking)):
        return
    recordings = app._record(processing_event)
    app._take_snapshots(processing_event)
    app.notify(processing_event.events)
    app._notify(recordings)


def commit_tracking_alone(recorder: Any, tracking: Any) -> bool:
    """Commit a tracking record alone without waiting for the disk: with a SQLite recorder `synchronous=NORMAL` for
    this one transaction (the connection's own setting, FULL for the store, is put back before the connection goes
    back to the pool, or the connection is closed); with PostgreSQL's, `synchronous_commit` off for it
    (`_postgres_tracking_alone`); False, recording nothing, for any other recorder (in memory: the caller records it
    the library's way).

    A tracking record alone is what a delivery whose handlers recorded nothing commits: three of outreach's and two
    of participation's three deliveries a journey. Its fsync was most of that delivery's cost: 250-300 µs of CPU (the
    kernel's) and 2-6 ms of wall time holding the store's writer and the inbox's processing lock, for a row that says
    "nothing to do here up to position P" (issue 19, docs/capacity.md §5.11). What it risks: in WAL mode a NORMAL
    commit is atomic and survives the service's crash (kill -9: the fault harness's kind); only the machine's crash
    can lose it, and then only with every commit after it (the WAL is written in order, and the next commit that
    waits for the disk, any command or effect, makes it durable too). The delivery is then tracked one position
    lower than it was acked: nothing it caused is lost (it caused nothing), the next delivery's tracking moves past it
    (the tracking is the highest position), and should the stream deliver it again (its ack lost in the same crash:
    nats-server syncs its files every 2 minutes) it is applied again on the same state and records nothing again.
    A tracking record committed with effects (events) waits for the disk as before.
    This holds because a handler is pure over the store and the payload (the review of §5.11.5): a handler with an
    effect outside the store (a mail, an HTTP call) and no event must not rely on its tracking being durable; and a
    handler reading the municipality's file may, after a restart on an edited file, record once on such a redelivery
    what it did not record the first time (late and once, never twice)."""
    datastore: Any = getattr(recorder, "datastore", None)
    if _one_of(datastore, "eventsourcing.postgres", "PostgresDatastore"):
        _postgres_tracking_alone(recorder, datastore, tracking)
        return True
    if not _one_of(datastore, "eventsourcing.sqlite", "SQLiteDatastore"):
        return False
    with datastore.get_connection(commit=True) as connection:  # the pool's writer, as the library's insert takes it
        raw = sqlite_of(connection)
        setting = int(raw.execute("PRAGMA synchronous").fetchone()[0])
        if setting > 1:
            raw.execute("PRAGMA synchronous=NORMAL")
        try:
            with connection.transaction(commit=True) as cursor:  # BEGIN, the row, COMMIT; errors as the library's
                recorder._insert_tracking(cursor, tracking)
        finally:
            if setting > 1:
                try:
                    raw.execute(f"PRAGMA synchronous={setting}")
                except BaseException:
                    connection.close()  # never back in the pool without its own setting: the store's commits wait
                    raise
    return True


def _one_of(datastore: Any, module: str, name: str) -> bool:
    """Whether `datastore` is (a subclass of) the library's class `module.name` (this module imports no recorder)."""
    return datastore is not None and any(c.__name__ == name and c.__module__ == module for c in type(datastore).__mro__)


#: as the library's `insert_tracking` on PostgreSQL (eventsourcing.postgres: 10 tries, 0.2 s apart)
TRACKING_TRIES = 10
TRACKING_WAIT_SECONDS = 0.2


def _postgres_tracking_alone(recorder: Any, datastore: Any, tracking: Any) -> None:
    """`commit_tracking_alone` on PostgreSQL: the tracking record in a transaction whose commit does not wait for the
    WAL's flush (`SET LOCAL synchronous_commit TO OFF`, this transaction only), sent in one pipeline with its COMMIT
    as the services' inserts are (`without_notify`); a lost connection tried again as the library's `insert_tracking`
    is. The same argument as on SQLite: the server's crash (the fault harness's `pg_ctl stop -m immediate`) can lose
    it only with every commit after it on the whole server (a commit that waits flushes the WAL up to itself, this
    one's record included), so the store's state is the one the delivery first ran on."""
    one_statement = getattr(recorder, "jusou_track_alone", None)  # shared/kernel/locked_insert.py (issue 19)
    if one_statement is not None and one_statement(tracking, synchronous=False):
        return
    for attempt in range(1, TRACKING_TRIES + 1):
        try:
            with datastore.get_connection() as conn, conn.pipeline(), conn.transaction(), conn.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
                recorder._insert_tracking(cursor, tracking)
            return
        except Exception as exc:  # the library's InterfaceError, OperationalError: a lost connection (by name: see above)
            lost = type(exc).__name__ in ("InterfaceError", "OperationalError") and \
                type(exc).__module__ == "eventsourcing.persistence"
            if not lost or attempt == TRACKING_TRIES:
                raise
            time.sleep(TRACKING_WAIT_SECONDS)


def sqlite_of(connection: Any) -> Any:
    """A pooled SQLite connection's own `sqlite3.Connection` (the library's `SQLiteConnection._sqlite_conn`)."""
    return connection._sqlite_conn


def inserts_as_library(recorder: Any, library_class: type) -> bool:
    """Whether a recorder inserts its events as the library's `library_class` does (its `_insert_events` is that
    class's own, not a subclass's): what shared/kernel/lean.py `reads_alone.insert_events` replaces only then."""
    own: Any = library_class
    return type(recorder)._insert_events is own._insert_events


#: Each protocol's members (name, whether the protocol's member is callable), and whether all are methods.
_MEMBERS: dict[type, tuple[tuple[tuple[str, bool], ...], bool]] = {}


class _RememberedMembers(type(DomainEventProtocol)):  # type: ignore[misc]  # typing's _ProtocolMeta
    """Python 3.11's `_ProtocolMeta.__instancecheck__`, step for step, with the protocol's members read once.

    3.11 collects a protocol's members (`typing._get_protocol_attrs`: a walk over its classes' dicts) once or
    twice on every `isinstance`: 30-60 µs, about 6 times per command and once per event an aggregate is
    rebuilt from (bench/commands.py --cprofile intake). The steps and their order are the original's: a
    protocol of methods only first asks `issubclass`; then every member must be on the instance (a method
    not set to None); else `ABCMeta`'s own check (registered and real subclasses)."""

    def __instancecheck__(cls, instance: Any) -> bool:
        known = _MEMBERS.get(cls)
        if known is None:  # a subclass of one of them: typing's own check
            return bool(super().__instancecheck__(instance))
        members, methods_only = known
        if methods_only and issubclass(instance.__class__, cls):
            return True
        if all(hasattr(instance, name) and (not method or getattr(instance, name) is not None)
               for name, method in members):
            return True
        return bool(ABCMeta.__instancecheck__(cls, instance))


def remembered_protocol_members() -> None:
    """Make `isinstance` against the library's three runtime-checkable protocols read their members once."""
    if sys.version_info >= (3, 12):  # 3.12 keeps a protocol's members itself (`__protocol_attrs__`)
        return
    for protocol in (CanMutateProtocol, DomainEventProtocol, CollectEventsProtocol):
        if protocol in _MEMBERS:
            continue
        names = sorted(typing._get_protocol_attrs(protocol))  # type: ignore[attr-defined]
        members = tuple((name, callable(getattr(protocol, name, None))) for name in names)
        _MEMBERS[protocol] = (members, all(method for _, method in members))
        protocol.__class__ = _RememberedMembers  # type: ignore[method-assign]  # its metaclass, for this check


remembered_protocol_members()
