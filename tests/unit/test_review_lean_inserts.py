"""Review (HE, issue 19 seventh pass): 19b89db saves several events with nothing else to record in one `INSERT` of
several rows (shared/kernel/lean.py `reads_alone.insert_events`), four bound parameters a row. SQLite refuses a
statement with more parameters than its `SQLITE_LIMIT_VARIABLE_NUMBER` (32,766 by default since 3.32; 250,000 in
Debian's build): a save the library records (one `INSERT` an event in one transaction) must not be refused for its
size by the lean recorder."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any
from uuid import uuid4

from eventsourcing.persistence import StoredEvent
from eventsourcing.sqlite import SQLiteDatastore, SQLiteProcessRecorder

from shared.kernel import store

Lean: Any = store.LeanSQLiteProcessRecorder


def _variable_limit() -> int:
    connection = sqlite3.connect(":memory:")
    try:
        return int(connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER))
    finally:
        connection.close()


def test_a_save_of_more_events_than_one_statement_may_bind_is_recorded_as_the_library_records_it(
        tmp_path: Path) -> None:
    datastore = SQLiteDatastore(str(tmp_path / "s.db"))
    try:
        library = SQLiteProcessRecorder(datastore)
        library.create_table()
        lean = Lean(datastore)
        many = _variable_limit() // 4 + 1  # one row more than one statement of four parameters a row may bind
        aggregate = uuid4()
        events = [StoredEvent(originator_id=aggregate, originator_version=v, topic="t", state=b"x")
                  for v in range(1, many + 1)]

        ids = lean.insert_events(events)  # the library: one INSERT an event, one transaction

        assert ids is not None and len(ids) == many and list(ids) == sorted(ids)
        assert len(library.select_events(aggregate)) == many
    finally:
        datastore.close()
