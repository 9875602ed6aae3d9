"""The event store of one service, chosen by settings: SQLite file or PostgreSQL schema."""

from __future__ import annotations

import functools
import random
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from eventsourcing.persistence import IntegrityError, InterfaceError, OperationalError

from shared.kernel.group_commit import grouped_commits
from shared.kernel.lean import reads_alone, rendered_reads
from shared.kernel.library import without_notify
from shared.kernel.locked_insert import in_one_statement, locked_in_server
from shared.settings import Settings

_QUIET: dict[str, type] = {}
#: two tenants' runtimes open their stores on two threads at once: each made the class, and the library's topic cache
#: refused the second ("Refusing to cache LeanSQLiteProcessRecorder … is already registered"; intake exited 3 in a
#: rehearsal's two-tenant suite): made once, under this lock
_MAKING = threading.Lock()
_RECORDERS = ("QuietPostgresProcessRecorder", "QuietPostgresApplicationRecorder",
              "QuietAlonePostgresProcessRecorder", "QuietAlonePostgresApplicationRecorder",
              "LeanSQLiteProcessRecorder", "LeanSQLiteApplicationRecorder")


def __getattr__(name: str) -> type:
    """The services' recorders (the topics in `store_env`), made on first use (a SQLite service does not import
    eventsourcing.postgres):

    - `QuietPostgresProcessRecorder`, `QuietPostgresApplicationRecorder`: the library's PostgreSQL recorders without
      the `NOTIFY` in every insert, which nothing here listens to and which serialises every commit of the server
      behind one lock (shared/kernel/library.py `without_notify`), whose reads of an aggregate's events and of a
      tracking position render their statements once (shared/kernel/lean.py `rendered_reads`), and whose saves
      that arrive while one of theirs commits share the next transaction (shared/kernel/group_commit.py
      `grouped_commits`: one table lock and one WAL flush for the group, each save its own ids or its own error),
      each group sent as one statement that takes the lock, inserts and commits in the server
      (shared/kernel/locked_insert.py: no wait for this process under the lock);
    - `QuietAlonePostgresProcessRecorder`, `QuietAlonePostgresApplicationRecorder`: the same, each save committed
      alone, in the pipelined statements of `without_notify` (`JUSOU_PG_GROUP_COMMIT=false`);
    - `LeanSQLiteProcessRecorder`, `LeanSQLiteApplicationRecorder`: the library's SQLite recorders whose
      one-statement reads (an aggregate's events, a tracking position) send no `BEGIN` and `ROLLBACK` around the
      statement (shared/kernel/lean.py `reads_alone`)."""
    if name not in _RECORDERS:
        raise AttributeError(name)
    if name in _QUIET:
        return _QUIET[name]
    with _MAKING:
        return _QUIET[name] if name in _QUIET else _made(name)


def _made(name: str) -> type:
    """One of the services' recorders (`__getattr__`), made and kept (under `_MAKING`)."""
    if name not in _QUIET:
        if name.startswith("QuietAlone"):
            from eventsourcing import postgres

            made = rendered_reads(without_notify(getattr(postgres, name.removeprefix("QuietAlone")), retrying_own_commit))
        elif name.startswith("Quiet"):
            from eventsourcing import postgres

            made = locked_in_server(rendered_reads(without_notify(getattr(postgres, name.removeprefix("Quiet")),
                                                                  retrying_grouped)))
        else:
            from eventsourcing import sqlite

            made = reads_alone(getattr(sqlite, name.removeprefix("Lean")))
        made.__module__, made.__qualname__, made.__name__ = __name__, name, name
        _QUIET[name] = made
    return _QUIET[name]


#: the library's retry of an insert whose connection was lost (eventsourcing.postgres: 10 tries, 0.2 s apart)
INSERT_TRIES = 10
INSERT_WAIT_SECONDS = 0.2


def retrying_own_commit(insert_events: Callable[..., Any]) -> Callable[..., Any]:
    """The library's retry of a PostgreSQL insert whose connection was lost (`InterfaceError`, `OperationalError`:
    10 tries, 0.2 s apart), which also knows its own commit when it meets it.

    A connection can be lost after the server committed the insert and before its answer came back. The library's
    retry then inserts the same events again and meets its own rows: a unique violation, raised as `IntegrityError`,
    which reads as an optimistic conflict. The command would be answered 409 for something it did record, and the
    service's retry of conflicts (shared/web/retry.py) would run it again on the fresh record and record its effect a
    second time (the fault harness, tests/faults, killing PostgreSQL's connections every 0.7 s, found consent recorded
    twice). So on a try after a lost connection a unique violation is checked against what is stored: when every event
    of the insert is there with the very bytes this process sent (AES-GCM with a random nonce: no other writer makes
    the same bytes), it was this insert's commit, and its notification ids are the answer; anything else is the
    conflict it says. Test: tests/integration/test_pg_own_commit.py."""

    @functools.wraps(insert_events)
    def insert(self: Any, stored_events: Sequence[Any], **kwargs: Any) -> Any:
        lost = 0
        while True:
            try:
                return insert_events(self, stored_events, **kwargs)
            except IntegrityError:
                if lost and stored_events:
                    ids = committed_before(self, stored_events)
                    if ids is not None:
                        return ids
                raise
            except (InterfaceError, OperationalError):
                lost += 1
                if lost >= INSERT_TRIES:
                    raise
                time.sleep(INSERT_WAIT_SECONDS * (1 + 0.1 * (random.random() - 0.5)))  # the library's jitter

    return insert


def retrying_grouped(insert_events: Callable[..., Any]) -> Callable[..., Any]:
    """The services' PostgreSQL insert: committed in groups (shared/kernel/group_commit.py), each group (a save without
    a tracking record) in one statement that locks, inserts and commits in the server (shared/kernel/locked_insert.py),
    each caller's save tried again by its own `retrying_own_commit`."""
    return retrying_own_commit(grouped_commits(in_one_statement(insert_events)))


def committed_before(recorder: Any, stored_events: Sequence[Any]) -> list[int] | None:
    """The notification ids of `stored_events` when each is stored with exactly its bytes (an earlier try of the same
    insert committed), else None."""
    from psycopg.sql import SQL, Identifier

    statement = SQL("SELECT state, notification_id FROM {schema}.{table} "
                    "WHERE originator_id = %s AND originator_version = %s").format(
        schema=Identifier(recorder.datastore.schema), table=Identifier(recorder.events_table_name))
    ids: list[int] = []
    with recorder.datastore.get_connection() as conn, conn.cursor() as curs:
        for event in stored_events:
            curs.execute(statement, (event.originator_id, event.originator_version), prepare=True)
            row = curs.fetchone()
            if row is None or bytes(row["state"]) != bytes(event.state):
                return None
            ids.append(int(row["notification_id"]))
    return ids


def store_env(settings: Settings) -> dict[str, str]:
    """The complete eventsourcing environment for a service: never inherited by accident.

    Events are encrypted at rest with AES-GCM (personal information lives in intake's store).
    """
    env = {
        # the library's AES-GCM (the same stored layout), its key schedule made once (shared/kernel/lean.py)
        "CIPHER_TOPIC": "shared.kernel.lean:KeptKeyAESCipher",
        "CIPHER_KEY": settings.cipher_key,
        "COMPRESSOR_TOPIC": "eventsourcing.compressor:ZlibCompressor",
        # the library's JSON transcoding, written and parsed by orjson (shared/kernel/lean.py)
        "TRANSCODER_TOPIC": "shared.kernel.lean:OrjsonTranscoder",
    }
    if settings.store == "sqlite":
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        env |= {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": str(settings.data_dir / f"{settings.service}.sqlite"),
            "SQLITE_LOCK_TIMEOUT": "10",
            # a service's reads of its events and tracking without BEGIN/ROLLBACK (issue 19); a plain `Application`
            # on the same env (jusou verify, tools) likewise
            "PROCESS_RECORDER_TOPIC": f"{__name__}:LeanSQLiteProcessRecorder",
            "APPLICATION_RECORDER_TOPIC": f"{__name__}:LeanSQLiteApplicationRecorder",
        }
    else:
        ensure_pg_schema(settings)
        alone = "" if settings.pg_group_commit else "Alone"
        env |= {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": settings.pg_dbname,
            "POSTGRES_HOST": settings.pg_host,
            "POSTGRES_PORT": str(settings.pg_port),
            "POSTGRES_USER": settings.pg_user,
            "POSTGRES_PASSWORD": settings.pg_password,
            "POSTGRES_SCHEMA": settings.pg_schema,
            "POSTGRES_LOCK_TIMEOUT": "10",
            "POSTGRES_CONNECT_TIMEOUT": "5",  # the library's default, 30 s per try, holds a command for minutes
            "POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT": "30",
            "POSTGRES_POOL_SIZE": str(settings.pg_pool_size),
            # a service is a process application (`ServiceApplication`); a plain `Application` on the same env
            # (jusou verify, tools) gets the application recorder: both without NOTIFY
            # (each save committed alone with JUSOU_PG_GROUP_COMMIT=false: shared/kernel/group_commit.py)
            "PROCESS_RECORDER_TOPIC": f"{__name__}:Quiet{alone}PostgresProcessRecorder",
            "APPLICATION_RECORDER_TOPIC": f"{__name__}:Quiet{alone}PostgresApplicationRecorder",
        }
    return env


def saved_and_pending(recorder: Any, tracking_name: str) -> Callable[[int, int], tuple[int, Sequence[Any]]] | None:
    """For a PostgreSQL recorder: a read of (the position saved under `tracking_name`, the next `limit` stored events
    past the greater of it and `position`) in one statement, one round trip; None for another store.

    The relay's read on each wake (shared/messaging/relay.py): replicas of a service share a PostgreSQL store and
    each starts past what any of them saved, which was one more statement (`max_tracking_id`) per wake, a round
    trip per commit under load (issue 19). One snapshot for both: the events are read as of the saved position."""
    postgres = sys.modules.get("eventsourcing.postgres")
    if postgres is None or not isinstance(recorder, postgres.PostgresProcessRecorder):
        return None
    from eventsourcing.persistence import Notification
    from eventsourcing.utils import retry
    from psycopg.sql import SQL, Identifier

    statement = SQL(
        "SELECT t.saved, e.notification_id, e.originator_id, e.originator_version, e.topic, e.state "
        "FROM (SELECT COALESCE(MAX(notification_id), 0) AS saved FROM {schema}.{tracking} WHERE application_name = %s) t "
        "LEFT JOIN LATERAL (SELECT * FROM {schema}.{events} WHERE notification_id > GREATEST(%s, t.saved) "
        "ORDER BY notification_id LIMIT %s) e ON true"
    ).format(schema=Identifier(recorder.datastore.schema), tracking=Identifier(recorder.tracking_table_name),
             events=Identifier(recorder.events_table_name))

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)  # as the library's own reads
    def read(position: int, limit: int) -> tuple[int, Sequence[Any]]:
        with recorder.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(statement, (tracking_name, position, limit), prepare=True)
            rows = curs.fetchall()
        saved = int(rows[0]["saved"]) if rows else 0
        return saved, [Notification(id=row["notification_id"], originator_id=row["originator_id"],
                                    originator_version=row["originator_version"], topic=row["topic"],
                                    state=bytes(row["state"]))
                       for row in rows if row["notification_id"] is not None]

    reader: Callable[[int, int], tuple[int, Sequence[Any]]] = read
    return reader


#: What a store that cannot be reached raises: the library's errors, and psycopg's from our own connections.
STORE_UNREACHABLE: tuple[type[Exception], ...] = (OperationalError, InterfaceError, psycopg.OperationalError)


@contextmanager
def creating(settings: Settings) -> Iterator[None]:
    """Hold while opening the store: replicas of a service starting together on a new PostgreSQL
    schema would race to create it and its tables (`CREATE … IF NOT EXISTS` is not safe when run
    concurrently: a duplicate key in pg_type), so they do it one at a time, under an advisory lock."""
    if settings.store != "postgres":
        yield
        return
    import psycopg

    with psycopg.connect(**pg_conninfo(settings), autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(hashtext(%s))", (f"jusou-create:{settings.pg_schema}",))
        yield  # closing the connection releases the lock


def ensure_pg_schema(settings: Settings) -> None:
    """eventsourcing needs the schema to exist before it creates its tables."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(**pg_conninfo(settings), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(settings.pg_schema)))


def pg_conninfo(settings: Settings) -> dict[str, Any]:
    return {
        "host": settings.pg_host,
        "port": settings.pg_port,
        "user": settings.pg_user,
        "password": settings.pg_password,
        "dbname": settings.pg_dbname,
        "connect_timeout": 5,
    }
