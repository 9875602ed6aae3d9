"""The event store of one service, chosen by settings: SQLite file or PostgreSQL schema."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from eventsourcing.persistence import InterfaceError, OperationalError

from shared.kernel.library import without_notify
from shared.settings import Settings

_QUIET: dict[str, type] = {}


def __getattr__(name: str) -> type:
    """`QuietPostgresProcessRecorder`, `QuietPostgresApplicationRecorder`: the services' PostgreSQL recorders (the
    topics in `store_env`), the library's without the `NOTIFY` in every insert, which nothing here listens to and
    which serialises every commit of the server behind one lock (shared/kernel/library.py `without_notify`). Made
    on first use: a SQLite service does not import eventsourcing.postgres."""
    if name not in ("QuietPostgresProcessRecorder", "QuietPostgresApplicationRecorder"):
        raise AttributeError(name)
    if name not in _QUIET:
        from eventsourcing import postgres
        from eventsourcing.utils import retry

        quiet = without_notify(getattr(postgres, name.removeprefix("Quiet")),
                               retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2))
        quiet.__module__, quiet.__qualname__ = __name__, name
        _QUIET[name] = quiet
    return _QUIET[name]


def store_env(settings: Settings) -> dict[str, str]:
    """The complete eventsourcing environment for a service: never inherited by accident.

    Events are encrypted at rest with AES-GCM (personal information lives in intake's store).
    """
    env = {
        "CIPHER_TOPIC": "eventsourcing.cryptography:AESCipher",
        "CIPHER_KEY": settings.cipher_key,
        "COMPRESSOR_TOPIC": "eventsourcing.compressor:ZlibCompressor",
    }
    if settings.store == "sqlite":
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        env |= {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": str(settings.data_dir / f"{settings.service}.sqlite"),
            "SQLITE_LOCK_TIMEOUT": "10",
        }
    else:
        ensure_pg_schema(settings)
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
            "PROCESS_RECORDER_TOPIC": f"{__name__}:QuietPostgresProcessRecorder",
            "APPLICATION_RECORDER_TOPIC": f"{__name__}:QuietPostgresApplicationRecorder",
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
