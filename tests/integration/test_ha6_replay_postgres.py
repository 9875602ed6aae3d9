"""`jusou replay` on PostgreSQL: the rebuild empties the tables, copies each part of a page in, and gives the read
models live indexing gives (issue 19, docs/capacity.md §5.20).

The rebuild's writes, not its reading, set its pace on PostgreSQL (bench/audit_replay.py --pg: 0.74 of scan + decode
in wall time at 1.06 in CPU). The clear now truncates the tables (fresh files, no dead rows for the inserts to step
over), each page of `REBUILD_BATCH` events is written in parts of `write_part`, each part's rows copied in (COPY)
with its position in one transaction, by the writer thread while the next part is decoded. Whatever the route, the
rows must be those the follower wrote, a rebuild killed half-way must leave rows and position agreeing, and a row or
a position someone else wrote meanwhile must come out as the follower's `ON CONFLICT DO NOTHING` and refusal would.
Small pages and parts make a store of a few cases many parts.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from integration.test_readmodels import consult, store
from integration.test_replay_equivalence import reference
from support.servers import Postgres

from services.intake.application import IntakeApplication
from shared.kernel import readmodel

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parents[2]
#: the column that holds the store position, per rebuilt table
POSITION = {"case_events": 1, "person_events": 1, "aggregates": 2, "quarantine": 0}


@pytest.fixture
def on_postgres(postgres: Postgres, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Postgres]:
    prefix = f"ha6_{tmp_path.name[-8:].lower()}_"
    for key, value in postgres.env(prefix).items():
        monkeypatch.setenv(key, value)
    yield postgres
    postgres.drop_schemas(prefix)


def filled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cases: int) -> IntakeApplication:
    """A store of `cases` cases (the second and later of one person), indexed live by the follower."""
    app = store(tmp_path, monkeypatch)
    person = None
    for _ in range(cases):
        case_id = consult(app, person)
        person = app.case_view(case_id)["person_ref"] if person is None else person
    app.readmodels.catch_up()
    return app


def relation_file(app: IntakeApplication, table: str) -> int:
    schema = app.readmodels.view.datastore.schema
    with app.readmodels.view.datastore.get_connection() as conn:
        return int(conn.execute("SELECT relfilenode FROM pg_class WHERE oid = %s::regclass",
                                [f'"{schema}"."jusou_{table}"']).fetchone()["relfilenode"])


def test_issue19_a_postgresql_rebuild_copies_parts_into_emptied_tables_and_gives_the_live_rows(
        on_postgres: Postgres, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = filled(tmp_path, monkeypatch, 6)
    try:
        live = app.readmodels.view.dump()
        expected, seals = reference(app)
        assert live == expected
        head = app.recorder.max_notification_id()
        files = {table: relation_file(app, table) for table in POSITION}
        monkeypatch.setattr(readmodel, "REBUILD_BATCH", 7)
        monkeypatch.setattr(app.readmodels.view, "write_part", 3)

        parts: list[int] = []
        events = app.readmodels.rebuild(progress=parts.append)

        assert events == head == sum(parts) > 14
        assert parts == [3, 3, 1] * (head // 7) + _tail(head % 7)  # pages of 7 events written as 3, 3, 1
        assert app.readmodels.view.dump() == live
        assert app.readmodels.view.seals(1, 1_000_000) == seals and app.readmodels.seal_mismatches == []
        assert app.readmodels.position() == head
        # emptied by TRUNCATE: each table a new file, no dead rows left behind for the inserts to step over
        assert all(relation_file(app, table) != files[table] for table in POSITION)
        # and what the follower adds next goes on from the rebuilt position and chain
        consult(app)
        app.readmodels.catch_up()
        assert (app.readmodels.view.dump(), app.readmodels.view.seals(1, 1_000_000)) == reference(app)
        assert app.readmodels.position() > head and app.readmodels.seal_mismatches == []
    finally:
        app.close()


def _tail(events: int) -> list[int]:
    """How a last page of `events` (< 7) events is written in parts of 3."""
    return [min(3, events - at) for at in range(0, events, 3)]


def test_issue19_a_row_written_after_the_clear_gives_the_rows_the_follower_would(
        on_postgres: Postgres, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A service still indexing while `jusou replay` runs may write rows after the clear: COPY, which has no ON
    CONFLICT, is rolled back and that part written as the follower writes it (the same rows)."""
    app = filled(tmp_path, monkeypatch, 4)
    try:
        live = app.readmodels.view.dump()
        view = app.readmodels.view
        clear = view.clear
        row = live["case_events"][0]

        def clear_then_a_row(application_name: str) -> None:
            clear(application_name)
            with view.datastore.get_connection() as conn:
                conn.execute(f'INSERT INTO "{view.datastore.schema}"."jusou_case_events" VALUES (%s, %s, %s, %s, %s)',
                             list(row))

        monkeypatch.setattr(view, "clear", clear_then_a_row)
        monkeypatch.setattr(readmodel, "REBUILD_BATCH", 5)
        monkeypatch.setattr(view, "write_part", 2)

        assert app.readmodels.rebuild() == app.recorder.max_notification_id()
        assert view.dump() == live and app.readmodels.seal_mismatches == []
    finally:
        app.close()


def test_issue19_a_part_another_replica_indexed_first_sends_the_rebuild_back_to_the_views_position(
        on_postgres: Postgres, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Parts are written in order while the next ones are decoded: when one is refused (the view's position is past
    it), the parts queued behind it are dropped and the rebuild reads on from the view's position."""
    app = filled(tmp_path, monkeypatch, 5)
    other = store(tmp_path, monkeypatch)
    try:
        live = app.readmodels.view.dump()
        head = app.recorder.max_notification_id()
        view = app.readmodels.view
        index = view.index
        calls: list[int] = []

        def index_after_the_other(batch: Any, tracking: Any) -> None:
            calls.append(tracking.notification_id)
            if len(calls) == 2:
                other.readmodels.catch_up(limit=4)  # the other replica indexes from the cleared view, 4 a page
            index(batch, tracking)

        monkeypatch.setattr(view, "index", index_after_the_other)
        monkeypatch.setattr(readmodel, "REBUILD_BATCH", 6)
        monkeypatch.setattr(view, "write_part", 2)

        events = app.readmodels.rebuild()

        assert 0 < events < head  # the other replica indexed what is left
        assert app.readmodels.position() == head
        assert view.dump() == live and app.readmodels.seal_mismatches == []
    finally:
        other.close()
        app.close()


KILLED_REBUILD = textwrap.dedent("""
    import os, signal, sys
    from services.intake.application import IntakeApplication
    from shared.kernel import readmodel
    from shared.kernel.store import store_env
    from shared.settings import Settings

    readmodel.REBUILD_BATCH = 6
    app = IntakeApplication(env=store_env(Settings.from_env("intake")) | {"JUSOU_READMODELS_FOLLOW": "0"})
    app.readmodels.view.write_part = 2
    parts = []

    def progress(n):
        parts.append(n)
        if len(parts) == 3:  # three parts committed, perhaps more in flight: killed, no clean-up at all
            os.kill(os.getpid(), signal.SIGKILL)

    app.readmodels.rebuild(progress=progress)
    sys.exit(3)  # not killed: the test fails
""")


def test_issue19_a_postgresql_rebuild_killed_half_way_leaves_rows_and_position_agreeing_and_the_follower_finishes_it(
        on_postgres: Postgres, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = filled(tmp_path, monkeypatch, 8)
    expected, seals = reference(app)
    head = app.recorder.max_notification_id()
    app.close()
    assert head > 20

    killed = subprocess.run([sys.executable, "-c", KILLED_REBUILD], check=False, cwd=ROOT, capture_output=True,
                            text=True, env=os.environ | {"PYTHONPATH": str(ROOT)}, timeout=120)
    assert killed.returncode == -signal.SIGKILL, killed.stderr

    app = store(tmp_path, monkeypatch)
    try:
        position = app.readmodels.position()
        assert 6 <= position < head and position % 2 == 0, position  # parts of 2: three or more committed
        partial = app.readmodels.view.dump()
        assert partial == {table: [row for row in rows if row[POSITION[table]] <= position]
                           for table, rows in expected.items()}
        assert app.readmodels.view.seals(1, 1_000_000) == seals  # the seals were never cleared

        assert app.readmodels.catch_up() == head - position
        assert app.readmodels.view.dump() == expected and app.readmodels.seal_mismatches == []
    finally:
        app.close()


def test_issue19_a_postgresql_rebuild_reads_the_next_page_while_it_decodes_one(
        on_postgres: Postgres, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The wait for the server's rows of the next page (and its seals) is off the decoding thread's path: each page
    after a full one is read on the reader thread, and the rows are the live ones."""
    app = filled(tmp_path, monkeypatch, 5)
    try:
        live = app.readmodels.view.dump()
        expected, seals = reference(app)
        head = app.recorder.max_notification_id()
        read = app.readmodels._log_reader()
        readers: list[tuple[int, str]] = []

        def noted_read(start: int, limit: int) -> Any:
            import threading

            readers.append((start, threading.current_thread().name))
            return read(start, limit)

        monkeypatch.setattr(app.readmodels, "_read_log", noted_read)
        monkeypatch.setattr(readmodel, "REBUILD_BATCH", 4)

        assert app.readmodels.rebuild() == head
        assert [start for start, _ in readers] == list(range(1, head + 2 if head % 4 == 0 else head + 1, 4))
        assert readers[0][1] == "MainThread"
        assert all(name.startswith("intake-readmodels-reader") for _, name in readers[1:]), readers
        assert app.readmodels.view.dump() == live == expected
        assert app.readmodels.view.seals(1, 1_000_000) == seals and app.readmodels.seal_mismatches == []
    finally:
        app.close()
