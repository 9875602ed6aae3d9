"""The services' SQLite recorders read an aggregate's events and a tracking position in one statement, without the
library's BEGIN and ROLLBACK (shared/kernel/library.py `reads_alone`, issue 19), and answer exactly as the
library's own recorders do, side by side on the same file: rows, ids, versions, orderings, errors. An upgrade of
eventsourcing that changes what its reads answer, or the statements they run, fails here."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.application import Application
from eventsourcing.persistence import InfrastructureFactory, OperationalError, StoredEvent, Tracking
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteDatastore, SQLiteProcessRecorder
from eventsourcing.utils import Environment

from shared.kernel import store
from shared.kernel.store import store_env
from shared.settings import Settings

Lean: Any = store.LeanSQLiteProcessRecorder
LeanApplication: Any = store.LeanSQLiteApplicationRecorder

#: every argument combination of `select_events` the library takes
SELECTIONS: list[dict[str, Any]] = [
    {}, {"gt": 2}, {"lte": 3}, {"gt": 1, "lte": 4}, {"desc": True}, {"desc": True, "limit": 1},
    {"limit": 2}, {"gt": 5}, {"lte": 0}, {"desc": True, "gt": 1, "lte": 4, "limit": 2},
]


def _recorders(path: Path, id_type: str = "uuid") -> tuple[Any, Any]:
    """The library's process recorder and ours, on one datastore (one file, one pool)."""
    datastore = SQLiteDatastore(str(path), originator_id_type=id_type)  # type: ignore[arg-type]
    library = SQLiteProcessRecorder(datastore)
    library.create_table()
    return library, Lean(datastore)


def _stored(originator_id: Any, versions: range) -> list[StoredEvent]:
    return [StoredEvent(originator_id=originator_id, originator_version=v, topic=f"t:{v}", state=bytes([v]) * v)
            for v in versions]


@pytest.fixture
def recorders(tmp_path: Path) -> Iterator[tuple[Any, Any, UUID]]:
    library, lean = _recorders(tmp_path / "s.db")
    aggregate = uuid4()
    library.insert_events(_stored(aggregate, range(1, 6)))
    library.insert_events(_stored(uuid4(), range(1, 3)))  # another aggregate's events, never selected
    yield library, lean, aggregate
    library.datastore.close()


def test_an_aggregates_events_read_alone_are_the_librarys_for_every_selection(
        recorders: tuple[Any, Any, UUID]) -> None:
    library, lean, aggregate = recorders
    for selection in SELECTIONS:
        for asked in (aggregate, str(aggregate), aggregate.hex):
            expected = library.select_events(asked, **selection)
            got = lean.select_events(asked, **selection)
            assert got == expected, (asked, selection)
            assert [type(e.originator_id) for e in got] == [type(e.originator_id) for e in expected]
    assert lean.select_events(uuid4()) == library.select_events(uuid4()) == []


def test_each_event_read_alone_carries_the_id_it_was_asked_for(recorders: tuple[Any, Any, UUID]) -> None:
    """Not a UUID made per row: the one asked for (equal to what the library makes from the row)."""
    library, lean, aggregate = recorders
    assert all(e.originator_id is aggregate for e in lean.select_events(aggregate))
    assert all(e.originator_id == aggregate and e.originator_id is not aggregate
               for e in library.select_events(aggregate))


def test_newer_of_answers_for_each_aggregate_what_a_select_after_its_version_finds(
        recorders: tuple[Any, Any, UUID]) -> None:
    """`newer_of` (a command's check of the kept aggregates it uses, in one statement): for each id and version, whether
    the library's `select_events(id, gt=version, limit=1)` finds an event; several at once as each alone."""
    library, lean, aggregate = recorders
    other, unknown = uuid4(), uuid4()
    library.insert_events(_stored(other, range(1, 3)))
    for asked in (aggregate, str(aggregate), aggregate.hex):
        for version in range(7):
            found = bool(library.select_events(asked, gt=version, limit=1))
            assert lean.newer_of({asked: version}) == ({asked} if found else set()), (asked, version)
    assert lean.newer_of({aggregate: 4, other: 2, unknown: 0}) == {aggregate}
    assert lean.newer_of({aggregate: 5, other: 1, unknown: 0}) == {other}


def test_a_text_id_store_reads_alone_as_the_library(tmp_path: Path) -> None:
    library, lean = _recorders(tmp_path / "t.db", id_type="text")
    library.insert_events(_stored("case-7", range(1, 4)))
    for selection in SELECTIONS:
        assert lean.select_events("case-7", **selection) == library.select_events("case-7", **selection)
    assert all(type(e.originator_id) is str for e in lean.select_events("case-7"))


def test_tracking_and_head_read_alone_are_the_librarys(recorders: tuple[Any, Any, UUID]) -> None:
    library, lean, _ = recorders
    assert lean.max_tracking_id("src") is library.max_tracking_id("src") is None
    assert lean.has_tracking_id("src", 1) is library.has_tracking_id("src", 1) is False
    library.insert_tracking(Tracking(application_name="src", notification_id=7))
    for position in (None, 1, 7, 8):
        assert lean.has_tracking_id("src", position) is library.has_tracking_id("src", position)
    assert lean.max_tracking_id("src") == library.max_tracking_id("src") == 7
    assert lean.max_notification_id() == library.max_notification_id() == 7


def test_an_empty_store_head_reads_alone_as_the_library(tmp_path: Path) -> None:
    library, lean = _recorders(tmp_path / "e.db")
    assert lean.max_notification_id() is library.max_notification_id() is None


def _statements(recorder: Any, read: Any) -> list[str]:
    """The statements the recorder's connections ran during `read()`."""
    ran: list[str] = []
    pool = recorder.datastore.pool
    conns = [pool.get_connection(is_writer=False) for _ in range(3)]
    for conn in conns:
        conn._sqlite_conn.set_trace_callback(ran.append)
    for conn in conns:
        pool.put_connection(conn)
    read()
    for conn in conns:
        conn._sqlite_conn.set_trace_callback(None)
    return [" ".join(s.split()) for s in ran]


def test_a_read_alone_runs_its_one_statement_without_begin_or_rollback(recorders: tuple[Any, Any, UUID]) -> None:
    library, lean, aggregate = recorders
    for read in (lambda r: r.select_events(aggregate), lambda r: r.max_tracking_id("src"),
                 lambda r: r.has_tracking_id("src", 3), lambda r: r.max_notification_id()):
        theirs = _statements(library, lambda read=read: read(library))  # type: ignore[misc]
        ours = _statements(lean, lambda read=read: read(lean))  # type: ignore[misc]
        assert theirs[0] == "BEGIN" and theirs[-1] == "ROLLBACK" and len(theirs) == 3, theirs
        assert ours == theirs[1:-1]  # the library's own statement, alone


def test_a_commit_of_events_is_one_insert_alone_and_with_tracking_the_librarys_transaction(
        recorders: tuple[Any, Any, UUID]) -> None:
    """A command's save: one INSERT without BEGIN and COMMIT (a lone statement in autocommit is its own transaction),
    the library's statement for one event, one statement of several rows for more (the library runs one INSERT an
    event); an event with its tracking record (an inbox run), the library's own transaction."""
    library, lean, _ = recorders
    theirs = _statements(library, lambda: library.insert_events(_stored(uuid4(), range(1, 2))))
    ours = _statements(lean, lambda: lean.insert_events(_stored(uuid4(), range(1, 2))))
    assert theirs[0] == "BEGIN" and theirs[-1] == "COMMIT" and len(theirs) == 3, theirs
    assert [s.split("VALUES")[0] for s in ours] == [theirs[1].split("VALUES")[0]]  # the library's INSERT, alone
    theirs = _statements(library, lambda: library.insert_events(_stored(uuid4(), range(1, 4))))
    ours = _statements(lean, lambda: lean.insert_events(_stored(uuid4(), range(1, 4))))
    assert theirs[0] == "BEGIN" and len(theirs) == 5 and len(ours) == 1, (theirs, ours)
    assert ours[0].startswith(theirs[1].split("VALUES")[0]) and ours[0].count("X'") + ours[0].count("x'") == 3
    tracking, tracked = Tracking(application_name="src", notification_id=9), _stored(uuid4(), range(1, 2))
    assert _statements(lean, lambda: lean.insert_events(tracked, tracking=tracking))[0] == "BEGIN"
    assert lean.max_tracking_id("src") == 9


def test_a_commit_of_more_events_than_one_statement_takes_is_the_librarys_transaction(
        recorders: tuple[Any, Any, UUID]) -> None:
    """At most `_ROWS_AT_ONCE` events in one statement (under any SQLite's limit of bound parameters); more, the
    library's transaction, ids in order as the library's (review HE: tests/unit/test_review_lean_inserts.py)."""
    from shared.kernel.lean import _ROWS_AT_ONCE

    _, lean, _ = recorders
    at_once = _statements(lean, lambda: lean.insert_events(_stored(uuid4(), range(1, _ROWS_AT_ONCE + 1))))
    assert len(at_once) == 1
    more, ids = _stored(uuid4(), range(1, _ROWS_AT_ONCE + 2)), []
    ran = _statements(lean, lambda: ids.extend(lean.insert_events(more)))
    assert ran[0] == "BEGIN" and ran[-1] == "COMMIT" and len(ran) == _ROWS_AT_ONCE + 3
    assert ids == sorted(ids) and len(set(ids)) == len(more) and 4 * _ROWS_AT_ONCE <= 999


def test_a_commit_of_events_alone_answers_and_refuses_as_the_librarys(recorders: tuple[Any, Any, UUID]) -> None:
    """Each event's notification id is its row's, in the order given (as the library's), they are read back as the
    library reads them, and a version already recorded is refused with the library's IntegrityError, recording
    nothing of the others given with it."""
    from eventsourcing.persistence import IntegrityError

    library, lean, aggregate = recorders
    new, other = uuid4(), uuid4()
    [position] = lean.insert_events(_stored(new, range(1, 2)))
    assert position == library.max_notification_id()
    assert lean.select_events(new) == library.select_events(new) == _stored(new, range(1, 2))
    mixed = [*_stored(other, range(1, 3)), *_stored(new, range(2, 4))]
    positions = lean.insert_events(mixed)
    assert positions == list(range(position + 1, position + 5))
    by_position = {n.id: (n.originator_id, n.originator_version) for n in library.select_notifications(position + 1, 4)}
    assert [by_position[p] for p in positions] == [(e.originator_id, e.originator_version) for e in mixed]
    before = library.max_notification_id()
    for taken in (_stored(new, range(1, 2)), [*_stored(uuid4(), range(1, 3)), *_stored(aggregate, range(5, 6))]):
        with pytest.raises(IntegrityError):
            lean.insert_events(taken)
    assert library.max_notification_id() == before and len(library.select_events(aggregate)) == 5
    [following] = lean.insert_events(_stored(new, range(4, 5)))
    assert following == before + 1 and [e.originator_version for e in library.select_events(new)] == [1, 2, 3, 4]


def test_a_read_alone_leaves_no_snapshot_open_on_its_connection(recorders: tuple[Any, Any, UUID],
                                                                tmp_path: Path) -> None:
    """Every pooled connection sees a commit made after its last read (the statement was stepped to its end)."""
    _, lean, aggregate = recorders
    other = sqlite3.connect(str(tmp_path / "s.db"), isolation_level=None)
    try:
        for version in range(6, 10):
            lean.max_tracking_id("src")
            assert len(lean.select_events(aggregate)) == version - 1
            other.execute("INSERT INTO stored_events VALUES (?, ?, ?, ?)", (aggregate.hex, version, "t", b"x"))
            other.execute("INSERT INTO tracking VALUES (?, ?) ON CONFLICT (application_name) DO UPDATE "
                          "SET notification_id = excluded.notification_id", ("src", version))
            assert len(lean.select_events(aggregate)) == version
            assert lean.max_tracking_id("src") == version
    finally:
        other.close()


def test_a_read_alone_raises_what_the_library_raises(tmp_path: Path) -> None:
    datastore = SQLiteDatastore(str(tmp_path / "none.db"))
    library, lean = SQLiteProcessRecorder(datastore), Lean(datastore)  # no tables
    for read in (lambda r: r.select_events(uuid4()), lambda r: r.max_tracking_id("src"),
                 lambda r: r.max_notification_id()):
        with pytest.raises(OperationalError) as theirs:
            read(library)
        with pytest.raises(OperationalError) as ours:
            read(lean)
        assert type(ours.value) is type(theirs.value) and str(ours.value) == str(theirs.value)
        assert type(ours.value.__cause__) is type(theirs.value.__cause__) is sqlite3.OperationalError
    datastore.close()


def test_the_services_and_tools_sqlite_stores_read_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUSOU_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("JUSOU_STORE", "sqlite")
    env = store_env(Settings.from_env("collaboration"))
    factory = InfrastructureFactory.construct(Environment("T", env))
    process, application = factory.process_recorder(), factory.application_recorder()
    assert isinstance(process, SQLiteProcessRecorder) and type(process) is Lean
    assert isinstance(application, SQLiteApplicationRecorder) and type(application) is LeanApplication
    factory.close()
    app = Application(env=env)  # a tool's plain application on a service's store
    try:
        assert type(app.recorder) is LeanApplication
    finally:
        app.close()


def test_an_application_on_recorders_read_alone_saves_and_loads_as_on_the_librarys(tmp_path: Path) -> None:
    """The same aggregate, saved and loaded through both, conflicts refused alike."""
    from eventsourcing.domain import Aggregate, event
    from eventsourcing.persistence import IntegrityError

    class Dog(Aggregate):
        @event("Registered")
        def __init__(self, name: str) -> None:
            self.name, self.tricks = name, []

        @event("TrickAdded")
        def add_trick(self, trick: str) -> None:
            self.tricks.append(trick)

    states = []
    for topic in (None, "shared.kernel.store:LeanSQLiteApplicationRecorder"):
        env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp_path / f"{topic is None}.db"),
               **({"APPLICATION_RECORDER_TOPIC": topic} if topic else {})}
        app = Application(env=env)
        dog = Dog("ポチ")
        for trick in ("お手", "おかわり", "伏せ"):
            dog.add_trick(trick)
        app.save(dog)
        stale = app.repository.get(dog.id)
        loaded = app.repository.get(dog.id)
        loaded.add_trick("待て")
        app.save(loaded)
        stale.add_trick("回れ")
        with pytest.raises(IntegrityError):
            app.save(stale)
        again = app.repository.get(dog.id)
        states.append((again.version, again.name, again.tricks, app.repository.get(dog.id, version=2).tricks,
                       [e.originator_version for e in app.events.get(dog.id, gt=1, lte=4, desc=True, limit=2)]))
        assert (type(app.recorder) is LeanApplication) == (topic is not None)
        app.close()
    assert states[0] == states[1] == (5, "ポチ", ["お手", "おかわり", "伏せ", "待て"], ["お手"], [4, 3])


def test_a_read_models_sqlite_view_reads_alone_as_through_the_librarys_transaction(tmp_path: Path) -> None:
    """shared/kernel/readmodel.py's SQLite view: its selects and its tracking position, one statement each, the
    same rows as the library's `transaction(commit=False)` gives (the view's base `_select`)."""
    from shared.kernel.library import transaction
    from shared.kernel.readmodel import ReadModelView, open_view

    view: Any = open_view({"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp_path / "s.sqlite")})
    try:
        assert view.max_tracking_id("jusou-readmodels") is None
        with transaction(view, commit=True) as c:
            for case, position in (("case-1", 3), ("case-1", 1), ("case-2", 2)):
                c.execute("INSERT INTO case_events VALUES (?, ?, ?, ?, ?)", (case, position, "a", 1, "2026-12-06"))
        view.insert_tracking(Tracking(application_name="jusou-readmodels", notification_id=3))
        sql = "SELECT position FROM case_events WHERE case_id = ? ORDER BY position"
        with transaction(view, commit=False) as c:
            cursor = view._plain(c)
            cursor.execute(sql, ["case-1"])
            expected = cursor.fetchall()
        ran: list[str] = []
        pool = view.datastore.pool
        conns = [pool.get_connection(is_writer=False) for _ in range(3)]
        for conn in conns:
            conn._sqlite_conn.set_trace_callback(ran.append)
            pool.put_connection(conn)
        got = view._select(sql, ["case-1"])
        tracked = view.max_tracking_id("jusou-readmodels")
        for conn in conns:
            conn._sqlite_conn.set_trace_callback(None)
        assert got == expected == [(1,), (3,)] and type(got[0]) is tuple
        assert view.positions_of_case("case-1") == [1, 3]
        assert tracked == 3 == _library_max_tracking_id(view)
        assert [s.split()[0] for s in ran] == ["SELECT", "SELECT"]  # no BEGIN, no ROLLBACK
        assert isinstance(view, ReadModelView)
    finally:
        view.datastore.close()


def _library_max_tracking_id(view: Any) -> Any:
    """The library's own `max_tracking_id` (BEGIN, SELECT, ROLLBACK), on the same view."""
    from eventsourcing.sqlite import SQLiteTrackingRecorder

    return SQLiteTrackingRecorder.max_tracking_id(view, "jusou-readmodels")
