"""A service's PostgreSQL save never leaves its events table locked while the server waits for the service (issue 19).

The events table's `LOCK TABLE … IN EXCLUSIVE MODE` (commit order = notification-id order) serialises a service's
saves. Sent as the library sends it (BEGIN, SET LOCAL, LOCK TABLE, INSERT, COMMIT, each flushed as it is executed),
the server took the lock and then waited for the rest from the service, whose thread, on a full machine, first waited
for a core and the GIL: every other save of the service queued behind a lock held by nobody working. A save without
a tracking record is now one statement (shared/kernel/locked_insert.py): lock, insert and commit in the server.

How it is seen, without timing: after each statement the service's connection sends (`Cursor.execute` returns), the
save's thread stops; the test waits until the server has done all it was sent (the backend waits for its client) and
asks `pg_locks` whether that backend holds the events table's lock. On a real PostgreSQL, with the services' own
recorders (store_env)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import psycopg
import pytest
from eventsourcing.persistence import InfrastructureFactory, IntegrityError, StoredEvent, Tracking
from support.servers import Postgres

from shared.kernel.store import pg_conninfo, store_env
from shared.settings import Settings

pytestmark = pytest.mark.postgres
TOPIC = "tests.integration.test_ha3_pg_locked_insert:Happened"


@pytest.fixture(params=["process", "application"])
def recorder(request: pytest.FixtureRequest, postgres: Postgres, tmp_path: Path,
             monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The services' recorder (a process application's, and a plain application's) on a schema of its own."""
    prefix = f"li_{uuid4().hex[:8]}_"
    monkeypatch.setenv("JUSOU_DATA_DIR", str(tmp_path))
    for name, value in postgres.env(prefix).items():
        monkeypatch.setenv(name, value)
    factory: Any = InfrastructureFactory.construct(store_env(Settings.from_env("intake")) | {"CREATE_TABLE": "y"})
    made = factory.process_recorder() if request.param == "process" else factory.application_recorder()
    try:
        yield made
    finally:
        factory.close()
        postgres.drop_schemas(prefix)


def connect() -> psycopg.Connection[Any]:
    return psycopg.connect(**pg_conninfo(Settings.from_env("intake")), autocommit=True)


def until(probe: Callable[[], Any], what: str, deadline_s: float = 30.0) -> Any:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.005)
    raise AssertionError(f"timed out after {deadline_s} s waiting for {what}")


def events(n: int) -> list[StoredEvent]:
    originator = uuid4()
    return [StoredEvent(originator_id=originator, originator_version=v, topic=TOPIC, state=f"s{v}".encode())
            for v in range(1, n + 1)]


class LockWatch:
    """After every statement a connection of `recorder` sends, waits until its backend has done what it was sent and
    notes whether it then holds the events table's lock, waiting for the client."""

    def __init__(self, recorder: Any, observer: psycopg.Connection[Any]) -> None:
        self.recorder, self.observer = recorder, observer
        self.table = f'"{recorder.datastore.schema}"."{recorder.events_table_name}"'
        self.statements: list[str] = []
        self.held_after: list[str] = []

    def after(self, cursor: Any, query: Any) -> None:
        pid = cursor.connection.info.backend_pid
        text = query.as_string(cursor.connection) if hasattr(query, "as_string") else str(query)
        if self.recorder.events_table_name not in text and "jusou_insert_" not in text:
            return  # another statement of the test's own
        self.statements.append(" ".join(text.split())[:60])

        def waiting_for_client() -> tuple[str, bool] | None:
            row = self.observer.execute(
                "SELECT state, wait_event, EXISTS (SELECT 1 FROM pg_locks l WHERE l.pid = a.pid AND l.granted "
                "AND l.relation = %s::regclass AND l.mode = 'ExclusiveLock') FROM pg_stat_activity a WHERE a.pid = %s",
                (self.table, pid)).fetchone()
            if row is None:
                return None
            state, wait_event, locked = row
            if state in ("idle", "idle in transaction") or wait_event == "ClientRead":
                return (state, bool(locked))
            return None

        state, locked = until(waiting_for_client, f"the backend {pid} to wait for its client")
        if locked:
            self.held_after.append(f"{self.statements[-1]} ({state})")


@pytest.fixture
def watch(recorder: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[LockWatch]:
    with connect() as observer:
        watching = LockWatch(recorder, observer)
        original = psycopg.Cursor.execute

        def execute(self: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
            done = original(self, query, *args, **kwargs)
            watching.after(self, query)
            return done

        monkeypatch.setattr(psycopg.Cursor, "execute", execute)
        yield watching


def test_a_commands_save_never_leaves_the_events_table_locked_while_the_server_waits_for_the_service(
        recorder: Any, watch: LockWatch) -> None:
    """Fails on the pipelined insert (e.g. 'LOCK TABLE … (idle in transaction)', 'INSERT INTO … (idle in transaction)')."""
    ids = recorder.insert_events(events(3))
    assert watch.statements, "the save sent no statement the watch could see"
    assert watch.held_after == [], f"the events table stayed locked, the server waiting for the service, after: " \
                                   f"{watch.held_after} (statements sent: {watch.statements})"
    assert len(ids) == 3 and ids == sorted(ids) and ids[-1] - ids[0] == 2


@pytest.mark.parametrize("recorder", ["process"], indirect=True)  # only a process recorder records tracking
def test_a_deliverys_effect_never_leaves_the_events_table_locked_while_the_server_waits_for_the_service(
        recorder: Any, watch: LockWatch) -> None:
    """A process recorder's save with its tracking record (a delivery's effect): the same, the tracking row recorded in
    the same transaction. Fails on the pipelined insert."""
    ids = recorder.insert_events(events(2), tracking=Tracking(application_name="upstream", notification_id=7))
    assert watch.statements, "the save sent no statement the watch could see"
    assert watch.held_after == [], f"the events table stayed locked, the server waiting for the service, after: " \
                                   f"{watch.held_after} (statements sent: {watch.statements})"
    assert len(ids) == 2 and ids[1] == ids[0] + 1
    assert recorder.max_tracking_id("upstream") == 7


def test_the_one_statement_save_keeps_the_librarys_answers(recorder: Any) -> None:
    """Ids in the save's order, consecutive across saves; a version taken already refused with the library's
    IntegrityError and nothing of that save stored; the notification log reads them in order."""
    first, second = events(2), events(3)
    a = recorder.insert_events(first)
    b = recorder.insert_events(second)
    assert a == [a[0], a[0] + 1] and b == [a[1] + 1, a[1] + 2, a[1] + 3]
    clash = [StoredEvent(originator_id=first[1].originator_id, originator_version=3, topic=TOPIC, state=b"new"),
             first[1]]  # version 2 taken: the whole save refused, its version 3 not stored either
    with pytest.raises(IntegrityError):
        recorder.insert_events(clash)
    assert [e.originator_version for e in recorder.select_events(first[0].originator_id)] == [1, 2]
    log = recorder.select_notifications(start=a[0], limit=10)
    assert [n.id for n in log] == a + b
    assert [(n.originator_id, n.originator_version) for n in log] == \
        [(e.originator_id, e.originator_version) for e in first + second]


@pytest.mark.parametrize("recorder", ["process"], indirect=True)  # only a process recorder records tracking
@pytest.mark.parametrize("position", [5, 4])
def test_a_save_with_its_tracking_record_still_checks_it_in_its_transaction(recorder: Any, position: int) -> None:
    """A delivery's effect: its tracking row checked in its transaction; the same position again (a duplicate) or a
    lower one refused with the library's IntegrityError and message, nothing of that save stored, the recorded position
    and the other upstreams' untouched; an empty save with tracking and a tracking record alone as before."""
    saved = events(1)
    first = recorder.insert_events(saved, tracking=Tracking(application_name="upstream", notification_id=5))
    recorder.insert_events(events(1), tracking=Tracking(application_name="other", notification_id=9))
    assert recorder.max_tracking_id("upstream") == 5
    again = events(2)
    with pytest.raises(IntegrityError, match=f"Failed to record tracking for upstream {position}"):
        recorder.insert_events(again, tracking=Tracking(application_name="upstream", notification_id=position))
    assert recorder.select_events(again[0].originator_id) == []
    assert (recorder.max_tracking_id("upstream"), recorder.max_tracking_id("other")) == (5, 9)
    later = recorder.insert_events(events(1), tracking=Tracking(application_name="upstream", notification_id=6))
    assert later[0] > first[0] and recorder.max_tracking_id("upstream") == 6
    recorder.insert_events([], tracking=Tracking(application_name="upstream", notification_id=8))
    assert recorder.max_tracking_id("upstream") == 8


@pytest.mark.parametrize("recorder", ["process"], indirect=True)  # only a process recorder records tracking
def test_a_recorder_whose_tracking_insert_is_replaced_keeps_the_pipelined_insert(recorder: Any, watch: LockWatch) -> None:
    """`tracks_as_library` (shared/kernel/library.py): the function repeats the library's tracking statement, so a
    recorder whose `_insert_tracking` was replaced (a wrapper) keeps the pipelined insert, the wrapper seeing the row."""
    from shared.kernel.library import tracks_as_library

    assert tracks_as_library(recorder) is True
    seen: list[int] = []
    library_insert = type(recorder)._insert_tracking

    def wrapped(cursor: Any, tracking: Tracking) -> None:
        seen.append(tracking.notification_id)
        library_insert(recorder, cursor, tracking)

    recorder._insert_tracking = wrapped
    assert tracks_as_library(recorder) is False
    recorder.insert_events(events(1), tracking=Tracking(application_name="upstream", notification_id=3))
    assert seen == [3] and recorder.max_tracking_id("upstream") == 3
    assert any(statement.startswith("LOCK TABLE") for statement in watch.statements)  # the pipelined way
