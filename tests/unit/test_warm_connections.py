"""A service's SQLite pools keep each connection's statements prepared and hand out the connection returned last first
(shared/kernel/library.py `warm_connections`, issue 19): the store's (the services' recorders of `store_env`) and the
read models' (`open_view`), each connection otherwise as the library makes it."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.persistence import InfrastructureFactory
from eventsourcing.sqlite import SQLiteDatastore
from eventsourcing.utils import Environment

from shared.kernel.library import KEPT_STATEMENTS, derived_commits, sqlite_of, warm_connections
from shared.kernel.readmodel import open_view
from shared.kernel.store import store_env
from shared.settings import Settings

STATEMENTS = ("SELECT 1", "SELECT 2", "SELECT 3")


def _store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("JUSOU_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("JUSOU_STORE", "sqlite")
    env = store_env(Settings.from_env("meeting"))
    return InfrastructureFactory.construct(Environment("T", env)).process_recorder()


def _kept(pool: Any) -> list[str]:
    """The statements a connection of `pool` holds prepared after running three different ones."""
    connection = pool.get_connection(is_writer=False)
    try:
        raw = sqlite_of(connection)
        for statement in STATEMENTS:
            raw.execute(statement).fetchall()
        return sorted(row[0] for row in raw.execute("SELECT sql FROM sqlite_stmt").fetchall() if row[0] in STATEMENTS)
    finally:
        pool.put_connection(connection)


def test_the_stores_connections_keep_their_statements_prepared(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = _store(tmp_path, monkeypatch)

    assert _kept(recorder.datastore.pool) == sorted(STATEMENTS)
    # the library's own pool keeps one (`cached_statements=True`): what this changes
    library = SQLiteDatastore(str(tmp_path / "library.sqlite"))  # (held: the datastore closes its pool when dropped)
    assert _kept(library.pool) == []


def test_the_stores_connections_are_the_librarys_otherwise(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = _store(tmp_path, monkeypatch)
    pool = recorder.datastore.pool
    datastore = SQLiteDatastore(pool.db_name, lock_timeout=pool.lock_timeout)
    library = datastore.pool
    ours, theirs = pool.get_connection(is_writer=True), library.get_connection(is_writer=True)
    try:
        a, b = sqlite_of(ours), sqlite_of(theirs)
        assert (a.isolation_level, a.row_factory) == (b.isolation_level, b.row_factory) == (None, sqlite3.Row)
        for pragma in ("busy_timeout", "journal_mode", "synchronous", "database_list"):
            assert [tuple(r) for r in a.execute(f"PRAGMA {pragma}")] == [tuple(r) for r in b.execute(f"PRAGMA {pragma}")]
        assert a.execute("PRAGMA busy_timeout").fetchone()[0] == 10_000  # SQLITE_LOCK_TIMEOUT of store_env
        seen: list[Any] = []
        thread = threading.Thread(target=lambda: seen.append(a.execute("SELECT 1").fetchone()[0]))  # any thread
        thread.start()
        thread.join()
        assert seen == [1]
    finally:
        pool.put_connection(ours)
        library.put_connection(theirs)


def test_the_connection_returned_last_is_handed_out_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = _store(tmp_path, monkeypatch)
    pool = recorder.datastore.pool
    datastore = SQLiteDatastore(str(tmp_path / "library.sqlite"))
    library = datastore.pool
    for each, expected in ((pool, "newest"), (library, "oldest")):
        first, second = each.get_connection(is_writer=False), each.get_connection(is_writer=False)
        each.put_connection(first)
        each.put_connection(second)
        again = each.get_connection(is_writer=False)
        each.put_connection(again)
        assert ("newest" if again is second else "oldest" if again is first else "another") == expected
    # a commit's writer goes back on top: the next read runs on it, its page cache kept by its own commit
    writer = pool.get_connection(is_writer=True)
    sqlite_of(writer).execute("CREATE TABLE IF NOT EXISTS t (a)")
    pool.put_connection(writer)
    reader = pool.get_connection(is_writer=False)
    pool.put_connection(reader)
    assert reader is writer


def test_the_views_connections_are_warm_and_commit_without_waiting_for_the_disk(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp_path / "meeting.sqlite")}
    view = open_view(env)
    pool = view.datastore.pool  # type: ignore[attr-defined]

    assert _kept(pool) == sorted(STATEMENTS)
    connection = pool.get_connection(is_writer=True)
    try:
        assert sqlite_of(connection).execute("PRAGMA synchronous").fetchone()[0] == 1  # derived_commits' NORMAL
    finally:
        pool.put_connection(connection)


def test_warm_connections_comes_first_and_once(tmp_path: Path) -> None:
    datastore = SQLiteDatastore(str(tmp_path / "x.sqlite"))
    pool = datastore.pool
    derived_commits(pool)
    with pytest.raises(RuntimeError, match="warm_connections first"):
        warm_connections(pool)

    datastore = SQLiteDatastore(str(tmp_path / "y.sqlite"))
    pool = datastore.pool
    warm_connections(pool)
    create = pool._create_connection
    warm_connections(pool)
    assert pool._create_connection is create  # idempotent: not wrapped twice
    assert KEPT_STATEMENTS > 1


def test_an_in_memory_database_keeps_the_librarys_one_connection(tmp_path: Path) -> None:
    datastore = SQLiteDatastore("file:warm?mode=memory&cache=shared")
    pool = datastore.pool
    warm_connections(pool)
    writer = pool.get_connection(is_writer=True)
    sqlite_of(writer).execute("CREATE TABLE t (a)")
    sqlite_of(writer).execute("INSERT INTO t VALUES (1)")
    pool.put_connection(writer)
    reader = pool.get_connection(is_writer=False)
    try:
        assert [tuple(row) for row in sqlite_of(reader).execute("SELECT a FROM t")] == [(1,)]
    finally:
        pool.put_connection(reader)
