"""`jusou replay` on a SQLite view: how the rebuild writes, and what a rebuild stopped half-way leaves (issue 19).

The rebuild writes on a connection of its own (a page cache for the whole view, no checkpoint between
pages, one at the end that empties the write-ahead log, the connection closed after), and the view's
rows go in as statements of many rows each, so that SQLite inserts them without taking the GIL back
row by row. Each page still commits with its tracking position: a rebuild killed half-way leaves a view
whose rows are exactly those of the events up to its position, and the follower finishes it.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from integration.test_readmodels import consult, store
from integration.test_replay_equivalence import reference

from shared.kernel import readmodel

ROOT = Path(__file__).resolve().parents[2]
#: the column that holds the store position, per rebuilt table
POSITION = {"case_events": 1, "person_events": 1, "aggregates": 2, "quarantine": 0}


def filled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cases: int) -> Any:
    app = store(tmp_path, monkeypatch)
    person = None
    for _ in range(cases):
        case_id = consult(app, person)
        person = app.case_view(case_id)["person_ref"] if person is None else person
    app.readmodels.catch_up()
    return app


def test_issue19_a_sqlite_rebuild_writes_many_rows_a_statement(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    app = filled(tmp_path, monkeypatch, 6)
    try:
        expected, seals = reference(app)
        monkeypatch.setattr(readmodel, "REBUILD_BATCH", 10)
        monkeypatch.setattr(readmodel, "VALUES_ROWS", 3)
        statements: list[str] = []
        view = app.readmodels.view
        clear = view.clear

        def traced_clear(application_name: str) -> None:  # the first write of the rebuild, on its connection
            view._rebuild_connection._sqlite_conn.set_trace_callback(statements.append)
            clear(application_name)

        monkeypatch.setattr(view, "clear", traced_clear)
        app.readmodels.rebuild()

        assert view.dump() == expected and view.seals(1, 1_000_000) == seals
        inserts = [s for s in statements if s.startswith("INSERT INTO case_events")]
        pages = -(-len(seals) // 10)
        assert len(expected["case_events"]) > 2 * pages  # enough rows that statements of 3 must be fewer than rows
        assert len(inserts) <= len(expected["case_events"]) // 3 + pages, (len(inserts), len(expected["case_events"]))
        assert all(s.count("(") >= 2 for s in inserts[:1])  # several rows in one statement
    finally:
        app.close()


def test_issue19_a_sqlite_rebuild_closes_its_connection_and_leaves_no_write_ahead_log(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = filled(tmp_path, monkeypatch, 5)
    try:
        followed = app.readmodels.view.dump()
        monkeypatch.setattr(readmodel, "REBUILD_BATCH", 4)
        view = app.readmodels.view
        used: list[sqlite3.Connection] = []
        clear = view.clear

        def noted_clear(application_name: str) -> None:
            used.append(view._rebuild_connection._sqlite_conn)
            clear(application_name)

        monkeypatch.setattr(view, "clear", noted_clear)
        events = app.readmodels.rebuild()

        assert events == app.recorder.max_notification_id() and view.dump() == followed
        assert view._rebuild_connection is None and len(used) == 1
        with pytest.raises(sqlite3.ProgrammingError):  # closed: its page cache given back
            used[0].execute("SELECT 1")
        wal = tmp_path / "intake.views.sqlite-wal"
        assert not wal.exists() or wal.stat().st_size == 0  # checkpointed once, at the end, and emptied
    finally:
        app.close()


def test_issue19_a_one_page_rebuild_writes_as_the_follower_does(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A small store's rebuild is one page: no second connection, no checkpoint of its own (nor its disk flushes)."""
    app = filled(tmp_path, monkeypatch, 3)
    try:
        followed = app.readmodels.view.dump()
        view = app.readmodels.view
        seen: list[object] = []
        clear = view.clear

        def noted_clear(application_name: str) -> None:
            seen.append(view._rebuild_connection)
            clear(application_name)

        monkeypatch.setattr(view, "clear", noted_clear)
        assert app.readmodels.rebuild() == app.recorder.max_notification_id() <= readmodel.REBUILD_BATCH
        assert seen == [None] and view.dump() == followed
    finally:
        app.close()


KILLED_REBUILD = textwrap.dedent("""
    import os, signal, sys
    from services.intake.application import IntakeApplication
    from shared.kernel import readmodel
    from shared.kernel.store import store_env
    from shared.settings import Settings

    readmodel.REBUILD_BATCH = 5
    app = IntakeApplication(env=store_env(Settings.from_env("intake")) | {"JUSOU_READMODELS_FOLLOW": "0"})
    pages = []

    def progress(n):
        pages.append(n)
        if len(pages) == 2:  # two pages committed, a third perhaps being written: killed, no clean-up at all
            os.kill(os.getpid(), signal.SIGKILL)

    app.readmodels.rebuild(progress=progress)
    sys.exit(3)  # not killed: the test fails
""")


def test_issue19_a_rebuild_killed_half_way_leaves_rows_and_position_agreeing_and_the_follower_finishes_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = filled(tmp_path, monkeypatch, 8)
    expected, seals = reference(app)
    head = app.recorder.max_notification_id()
    app.close()
    assert head > 20

    killed = subprocess.run([sys.executable, "-c", KILLED_REBUILD], check=False, cwd=ROOT, capture_output=True, text=True,
                            env=os.environ | {"PYTHONPATH": str(ROOT), "JUSOU_DATA_DIR": str(tmp_path)}, timeout=120)
    assert killed.returncode == -signal.SIGKILL, killed.stderr

    app = store(tmp_path, monkeypatch)
    try:
        position = app.readmodels.position()
        assert position in (10, 15), position  # pages of 5: two committed, perhaps the third
        partial = app.readmodels.view.dump()
        assert partial == {table: [row for row in rows if row[POSITION[table]] <= position]
                           for table, rows in expected.items()}
        assert app.readmodels.view.seals(1, 1_000_000) == seals  # the seals were never cleared

        assert app.readmodels.catch_up() == head - position
        assert app.readmodels.view.dump() == expected and app.readmodels.seal_mismatches == []
    finally:
        app.close()


def test_issue19_an_aggregate_stored_as_created_twice_keeps_its_first_position_followed_and_rebuilt(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The store tells `abc…` from `ABC…`; the library reads both as one UUID: two creations of one aggregate. The
    catalogue keeps the first (ON CONFLICT DO NOTHING), whatever order a page's rows are written in."""
    app = filled(tmp_path, monkeypatch, 2)
    try:
        db = sqlite3.connect(tmp_path / "intake.sqlite")
        with db:
            db.execute("INSERT INTO stored_events (originator_id, originator_version, topic, state) "
                       "SELECT upper(originator_id), originator_version, topic, state FROM stored_events WHERE rowid = 1")
        db.close()
        head = app.recorder.max_notification_id()
        first = next(iter(app.recorder.select_notifications(start=1, limit=1)))
        aggregate, kind = str(first.originator_id), readmodel.kind_of(first.topic)

        def catalogued() -> list[tuple[Any, ...]]:
            return [row for row in app.readmodels.view.dump()["aggregates"] if row[1] == aggregate]

        app.readmodels.catch_up()
        assert catalogued() == [(kind, aggregate, 1)]
        app.readmodels.rebuild()  # one page: both creations in one batch
        assert catalogued() == [(kind, aggregate, 1)] and head > 1
    finally:
        app.close()
