"""A PostgreSQL save in one statement: the events table's lock taken, the events inserted and committed in the server,
with no wait for this process in between (issue 19).

The library's insert (and the services' `without_notify`, which sends the COMMIT in the same pipeline) sends a save as
five statements: `BEGIN`, `SET LOCAL lock_timeout`, `LOCK TABLE … IN EXCLUSIVE MODE`, the `INSERT`, `COMMIT`. psycopg
flushes each to the server as it is executed, and between them this process builds the insert's parameters and runs
psycopg's Python: the server has taken the lock and then waits for the client, holding it, for as long as the thread
waits for a core and the GIL. Sampled on the suite under load (bench/queues.py --store postgres, pg_stat_activity
every 10 ms, 2026-12-07): the services' backends sat `active: Client:ClientRead` after their `LOCK TABLE` or `idle in
transaction` after their `INSERT`, the lock held, about as often as they waited for the WAL's flush, while the
service's other saves queued at the lock (`Lock:relation`). Each statement is also a message for the backend to wake
up for and answer: ~224 statements a journey, ~100 µs of the server's CPU each.

Here a save without a tracking record (a command's: shared/kernel/group_commit.py's groups) is one statement on an
autocommit connection: `SELECT … FROM <schema>.jusou_insert_<events table>(events)`, a function made with the
recorder's tables (`CREATE OR REPLACE` on each start, inside the schema's creation lock: shared/kernel/store.py
`creating`) that sets the lock timeout, takes the same `LOCK TABLE … IN EXCLUSIVE MODE`, inserts with the library's
own `INSERT … SELECT … FROM unnest(…) RETURNING notification_id` and returns the ids in order; the statement's
implicit transaction commits (synchronously) when it ends, before the answer is sent. So:
- **commit order = notification-id order** holds as before: the same table lock, taken before the insert draws its
  ids and released after the commit's flush; a reader tailing the log never passes a gap filled later;
- the lock is held only while the server works: no round trip, no client thread, inside it;
- a conflict (a version taken: `unique_violation`) aborts the statement's transaction, nothing stored, and comes back
  as the library's `IntegrityError` (the datastore's translation of psycopg's errors); a lock wait past the timeout
  and a lost connection as `OperationalError` / `InterfaceError`, as before (shared/kernel/store.py's retry);
- a save with a tracking record and events (a delivery's effect) is one statement too, through a second function
  (`jusou_insert_tracked_<events table>`) that first records the tracking position with the library's own
  single-row statement (`ON CONFLICT … DO UPDATE … WHERE` the recorded position is lower) and refuses, as the library
  does, with `IntegrityError` ("Failed to record tracking for …": a `unique_violation`) when it recorded nothing (a
  duplicate or an older position), then locks and inserts as above; one transaction, nothing committed in part;
- a tracking record alone (shared/kernel/library.py `commit_tracking_alone`: a delivery whose handlers recorded
  nothing, its commit not waiting for the WAL's flush; and the library's `insert_tracking`: the relay's saved position,
  the meeting's marks) is one statement too (`track_alone`, the function `jusou_track_<events table>`: the same upsert
  and refusal), where it was `BEGIN`, (`SET LOCAL synchronous_commit TO OFF`,) `INSERT`, `COMMIT` (issue 19, §5.18);
- a save with any other keyword, the library's legacy multi-row tracking, and a recorder whose `_insert_tracking` was
  replaced (the function would pass the replacement by) go the pipelined way (`without_notify`), as before.
Tests: tests/integration/test_ha3_pg_locked_insert.py."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

from shared.kernel.library import tracks_as_library

Insert = Callable[..., Any]


def locked_in_server(recorder_class: type) -> type:
    """A subclass of a services' PostgreSQL recorder (application or process) whose tables come with the one-statement
    insert function, and which records that it has it (`_jusou_locked_insert`: the statement to send)."""
    from psycopg.sql import SQL, Identifier

    base_init: Any = getattr(recorder_class, "__init__")  # noqa: B009  # (mypy: an instance's __init__)

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        base_init(self, *args, **kwargs)
        schema, table = self.datastore.schema, self.events_table_name
        function = f"jusou_insert_{table}"
        self.check_identifier_length(function)
        self.sql_create_statements.append(SQL(
            "CREATE OR REPLACE FUNCTION {schema}.{function}(events {schema}.{event}[]) "
            "RETURNS SETOF bigint LANGUAGE plpgsql AS $BODY$ "
            "BEGIN "
            "SET LOCAL lock_timeout = '{lock_timeout}s'; "
            "LOCK TABLE {schema}.{table} IN EXCLUSIVE MODE; "
            "RETURN QUERY INSERT INTO {schema}.{table} AS t (originator_id, originator_version, topic, state) "
            "SELECT originator_id, originator_version, topic, state FROM unnest(events) RETURNING notification_id; "
            "END; $BODY$").format(
            schema=Identifier(schema), function=Identifier(function), event=Identifier(self.stored_event_type_name),
            table=Identifier(table), lock_timeout=SQL(str(int(self.datastore.lock_timeout)))))
        self._jusou_locked_insert = SQL(
            "SELECT n FROM {schema}.{function}(%s::{schema}.{event}[]) AS n").format(
            schema=Identifier(schema), function=Identifier(function), event=Identifier(self.stored_event_type_name))
        tracking = getattr(self, "tracking_table_name", None)
        if tracking is None or not self.datastore.single_row_tracking:
            return  # an application recorder (no tracking), or the library's legacy multi-row tracking: pipelined
        tracked = f"jusou_insert_tracked_{table}"
        self.check_identifier_length(tracked)
        self.sql_create_statements.append(SQL(
            "CREATE OR REPLACE FUNCTION {schema}.{function}(events {schema}.{event}[], tracked_name text, "
            "tracked_position bigint) RETURNS SETOF bigint LANGUAGE plpgsql AS $BODY$ "
            "DECLARE recorded bigint; "
            "BEGIN "
            # the library's single-row tracking statement, and its refusal (IntegrityError) when nothing was recorded
            "INSERT INTO {schema}.{tracking} VALUES (tracked_name, tracked_position) "
            "ON CONFLICT (application_name) DO UPDATE SET notification_id = tracked_position "
            "WHERE {schema}.{tracking}.notification_id < tracked_position RETURNING notification_id INTO recorded; "
            "IF recorded IS NULL THEN "
            "RAISE unique_violation USING MESSAGE = format('Failed to record tracking for %s %s', tracked_name, "
            "tracked_position); "
            "END IF; "
            "SET LOCAL lock_timeout = '{lock_timeout}s'; "
            "LOCK TABLE {schema}.{table} IN EXCLUSIVE MODE; "
            "RETURN QUERY INSERT INTO {schema}.{table} AS t (originator_id, originator_version, topic, state) "
            "SELECT originator_id, originator_version, topic, state FROM unnest(events) RETURNING notification_id; "
            "END; $BODY$").format(
            schema=Identifier(schema), function=Identifier(tracked), event=Identifier(self.stored_event_type_name),
            tracking=Identifier(tracking), table=Identifier(table),
            lock_timeout=SQL(str(int(self.datastore.lock_timeout)))))
        self._jusou_tracked_insert = SQL(
            "SELECT n FROM {schema}.{function}(%s::{schema}.{event}[], %s, %s) AS n").format(
            schema=Identifier(schema), function=Identifier(tracked), event=Identifier(self.stored_event_type_name))
        alone = f"jusou_track_{table}"
        self.check_identifier_length(alone)
        self.sql_create_statements.append(SQL(
            "CREATE OR REPLACE FUNCTION {schema}.{function}(tracked_name text, tracked_position bigint, "
            "synchronous boolean) RETURNS bigint LANGUAGE plpgsql AS $BODY$ "
            "DECLARE recorded bigint; "
            "BEGIN "
            # this transaction's commit does not wait for the WAL's flush (`commit_tracking_alone`: a delivery whose
            # handlers recorded nothing), as `SET LOCAL synchronous_commit TO OFF` before it did
            "IF NOT synchronous THEN PERFORM set_config('synchronous_commit', 'off', true); END IF; "
            "INSERT INTO {schema}.{tracking} VALUES (tracked_name, tracked_position) "
            "ON CONFLICT (application_name) DO UPDATE SET notification_id = tracked_position "
            "WHERE {schema}.{tracking}.notification_id < tracked_position RETURNING notification_id INTO recorded; "
            "IF recorded IS NULL THEN "
            "RAISE unique_violation USING MESSAGE = format('Failed to record tracking for %s %s', tracked_name, "
            "tracked_position); "
            "END IF; "
            "RETURN recorded; "
            "END; $BODY$").format(schema=Identifier(schema), function=Identifier(alone), tracking=Identifier(tracking)))
        self._jusou_track_alone = SQL("SELECT {schema}.{function}(%s, %s, %s) AS n").format(
            schema=Identifier(schema), function=Identifier(alone))

    base_insert_tracking: Any = getattr(recorder_class, "insert_tracking", None)
    members: dict[str, Any] = {
        "__init__": __init__, "__doc__": f"{recorder_class.__doc__} Saves without tracking in one statement "
                                         "(shared/kernel/locked_insert.py).",
        "jusou_track_alone": track_alone}  # (shared/kernel/library.py `commit_tracking_alone` asks for it by name)
    if base_insert_tracking is not None:
        def insert_tracking(self: Any, tracking: Any) -> None:
            """The library's `insert_tracking` (a tracking record alone, its commit synchronous: the relay's saved
            position, the meeting's marks), in one statement when the recorder has the function (`track_alone`)."""
            if not track_alone(self, tracking, synchronous=True):
                base_insert_tracking(self, tracking)

        members["insert_tracking"] = insert_tracking
    made = type(recorder_class.__name__, (recorder_class,), members)
    return made


def track_alone(recorder: Any, tracking: Any, synchronous: bool) -> bool:
    """A tracking record alone, recorded and committed in one statement on an autocommit connection (the function
    `jusou_track_<events table>`: the library's single-row upsert and its refusal, `IntegrityError` "Failed to record
    tracking for …" when it recorded nothing; with `synchronous` False its commit does not wait for the WAL's flush),
    where the library sends `BEGIN`, (`SET LOCAL synchronous_commit TO OFF`,) the `INSERT` and `COMMIT`: 4 statements
    to 1 (issue 19, docs/capacity.md §5.18). A lost connection is tried again as the library's `insert_tracking` is
    (10 tries, 0.2 s apart: the row's refusal answers a try whose commit went through, as for the library's own).
    False, recording nothing, when the recorder has no such function (the legacy multi-row tracking, an application
    recorder) or records tracking other than the library's way (`tracks_as_library`): the caller records it."""
    statement = getattr(recorder, "_jusou_track_alone", None)
    if statement is None or not tracks_as_library(recorder):
        return False
    from eventsourcing.persistence import InterfaceError, OperationalError
    from eventsourcing.utils import retry

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)  # as the library's `insert_tracking`
    def record() -> None:
        with recorder.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(statement, (tracking.application_name, tracking.notification_id, synchronous), prepare=True)
            curs.fetchall()

    record()
    return True


def in_one_statement(insert: Insert) -> Insert:
    """A recorder's `insert_events` whose saves of events, with or without a tracking record, go in one statement (see
    above) when the recorder has the function (`locked_in_server`); any other save through `insert`."""

    @functools.wraps(insert)
    def insert_events(self: Any, stored_events: Sequence[Any], **kwargs: Any) -> Any:
        others = {key: value for key, value in kwargs.items() if value is not None}
        tracking = others.pop("tracking", None)
        statement = getattr(self, "_jusou_locked_insert" if tracking is None else "_jusou_tracked_insert", None)
        if statement is None or not stored_events or others or (tracking is not None and not tracks_as_library(self)):
            return insert(self, stored_events, **kwargs)
        with self.datastore.get_connection() as conn, conn.cursor() as curs:  # (the types' adapters registered)
            events = [self.construct_pg_stored_event(e.originator_id, e.originator_version, e.topic, e.state)
                      for e in stored_events]  # built before anything is sent: no Python under the lock
            params = (events,) if tracking is None else (events, tracking.application_name, tracking.notification_id)
            curs.execute(statement, params, prepare=True)
            ids = [row["n"] for row in curs.fetchall()]
        return ids

    return insert_events

