"""The event store of one service, chosen by settings: SQLite file or PostgreSQL schema."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from eventsourcing.persistence import InterfaceError, OperationalError

from shared.settings import Settings


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
        }
    return env


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
