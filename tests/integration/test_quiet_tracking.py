"""A delivery whose handlers record nothing commits its tracking record alone, and on SQLite without waiting for the
disk (`synchronous=NORMAL` for that one transaction: shared/kernel/library.py `commit_tracking_alone` says why that
loses nothing). It was most of such a delivery's cost (issue 19, docs/capacity.md §5.11: 250-300 µs of the kernel's
CPU and 2-6 ms of wall time for its fsync). A commit with effects still waits for the disk (FULL), the connection
goes back to the pool with the store's own setting whatever happens, and the tracking is what it was. Real SQLite
files (the statements each connection runs, traced). On PostgreSQL the same with `synchronous_commit` off for that
one transaction (what the transaction says it is, asked inside it)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import eventsourcing.sqlite
import pytest
from eventsourcing.persistence import IntegrityError, Tracking
from support.deliveries import decided
from support.servers import Postgres

from services.outreach.application import OutreachApplication
from shared.kernel.library import commit_tracking_alone
from shared.kernel.store import store_env
from shared.settings import Settings


@pytest.fixture
def traced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Outreach on a SQLite file, every statement of its store's connections noted as (connection, statement)."""
    statements: list[tuple[int, str]] = []
    connect = sqlite3.connect

    def traced_connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        connection = connect(*args, **kwargs)
        connection.set_trace_callback(lambda statement, c=id(connection): statements.append((c, statement)))
        return connection

    monkeypatch.setattr(eventsourcing.sqlite.sqlite3, "connect", traced_connect)
    monkeypatch.setenv("JUSOU_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("JUSOU_STORE", "sqlite")
    monkeypatch.setenv("JUSOU_READMODELS_FOLLOW", "0")
    app = OutreachApplication(env=store_env(Settings.from_env("outreach")))
    app.statements = statements
    yield app
    app.close()


def synchronous_at_commits(statements: list[tuple[int, str]]) -> list[tuple[str, str]]:
    """For each COMMIT of a transaction that wrote a tracking record: (its connection's synchronous setting then,
    what it wrote: "tracking" alone or "events" with it)."""
    setting: dict[int, str] = {}
    wrote: dict[int, set[str]] = {}
    found = []
    for connection, statement in statements:
        text = statement.strip().upper()
        if text.startswith("PRAGMA SYNCHRONOUS="):
            value = text.split("=", 1)[1].rstrip(";")
            setting[connection] = {"1": "NORMAL", "2": "FULL", "0": "OFF", "3": "EXTRA"}.get(value, value)
        elif text == "BEGIN":
            wrote[connection] = set()
        elif text.startswith("INSERT INTO TRACKING") or "INTO TRACKING" in text:
            wrote.setdefault(connection, set()).add("tracking")
        elif text.startswith("INSERT INTO STORED_EVENTS") or "INTO STORED_EVENTS" in text:
            wrote.setdefault(connection, set()).add("events")
        elif text == "COMMIT" and "tracking" in wrote.get(connection, set()):
            found.append((setting.get(connection, "FULL"),  # SQLite's default in WAL mode, the store's
                          "events" if "events" in wrote[connection] else "tracking"))
    return found


def settings_of_pool(app: Any) -> set[int]:
    pool = app.recorder.datastore.pool
    return {int(connection._sqlite_conn.execute("PRAGMA synchronous").fetchone()[0]) for connection in pool._pool}


@pytest.mark.parametrize("many", [False, True], ids=["receive", "receive_many"])
def test_a_tracking_record_alone_commits_without_waiting_for_the_disk_and_effects_still_wait(traced: Any,
                                                                                            many: bool) -> None:
    quiet, connecting = decided(1, connect_to=[]), decided(2, connect_to=["outreach"])  # D12: the second starts one
    traced.statements.clear()

    for delivery in (quiet, connecting):
        assert (traced.receive_many([delivery]) == [True]) if many else traced.receive(*delivery) is True

    assert synchronous_at_commits(traced.statements) == [("NORMAL", "tracking"), ("FULL", "events")]
    assert traced.recorder.max_tracking_id("meeting") == 2
    assert settings_of_pool(traced) == {2}  # every pooled connection back at FULL, the store's own
    assert traced.receive(*quiet) is False  # a redelivery of the quiet one: a duplicate, as before


def test_a_tracking_record_alone_that_fails_leaves_the_connection_as_it_was(traced: Any) -> None:
    assert commit_tracking_alone(traced.recorder, Tracking(application_name="meeting", notification_id=5)) is True
    with pytest.raises(IntegrityError):  # not above the tracking: refused, as the library's insert refuses it
        commit_tracking_alone(traced.recorder, Tracking(application_name="meeting", notification_id=5))
    assert traced.recorder.max_tracking_id("meeting") == 5
    assert settings_of_pool(traced) == {2}


def test_a_recorder_that_is_not_sqlite_is_left_to_the_library() -> None:
    app = OutreachApplication()  # in memory (POPO)
    try:
        assert commit_tracking_alone(app.recorder, Tracking(application_name="meeting", notification_id=1)) is False
        assert app.recorder.max_tracking_id("meeting") is None  # nothing recorded: the caller records it
        assert app.receive(*decided(1, connect_to=[])) is True
        assert app.recorder.max_tracking_id("meeting") == 1
    finally:
        app.close()


@pytest.fixture
def outreach_pg(postgres: Postgres, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    prefix = f"qt_{uuid4().hex[:8]}_"
    monkeypatch.setenv("JUSOU_DATA_DIR", str(tmp_path))
    for name, value in postgres.env(prefix).items():
        monkeypatch.setenv(name, value)
    app = OutreachApplication(env=store_env(Settings.from_env("outreach")) | {"JUSOU_READMODELS_FOLLOW": "0"})
    asked: list[str] = []
    insert = app.recorder._insert_tracking

    def noted(cursor: Any, tracking: Tracking) -> None:  # what the transaction writing the tracking says it is
        cursor.execute("SHOW synchronous_commit")
        asked.append(str(cursor.fetchone()["synchronous_commit"]))
        insert(cursor, tracking)

    app.recorder._insert_tracking = noted
    app.asked = asked
    try:
        yield app
    finally:
        app.close()
        postgres.drop_schemas(prefix)


@pytest.mark.postgres
@pytest.mark.parametrize("many", [False, True], ids=["receive", "receive_many"])
def test_on_postgres_a_tracking_record_alone_commits_without_waiting_and_effects_still_wait(outreach_pg: Any,
                                                                                           many: bool) -> None:
    quiet, connecting = decided(1, connect_to=[]), decided(2, connect_to=["outreach"])

    for delivery in (quiet, connecting):
        assert (outreach_pg.receive_many([delivery]) == [True]) if many else outreach_pg.receive(*delivery) is True

    assert outreach_pg.asked == ["off", "on"]
    assert outreach_pg.recorder.max_tracking_id("meeting") == 2
    with pytest.raises(IntegrityError):  # not above the tracking: refused, recording nothing
        commit_tracking_alone(outreach_pg.recorder, Tracking(application_name="meeting", notification_id=2))
    assert outreach_pg.recorder.max_tracking_id("meeting") == 2
    assert outreach_pg.receive(*quiet) is False  # a redelivery: a duplicate
