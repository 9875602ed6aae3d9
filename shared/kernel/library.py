"""Every use of the eventsourcing library's private names, in one adapter (issue 14).

The rest of the suite goes through the library's public API (`Application.save`, `process_event`,
`policy`, recorders' `select_notifications`, `insert_tracking`, `max_tracking_id`...). What the
public API does not offer is here, each with the behaviour it relies on pinned by
tests/unit/test_library_adapter.py, so an upgrade of eventsourcing that changes one of them fails
there, by name, before it fails anywhere else. Pinned against eventsourcing 9.5. It imports only `eventsourcing.domain` (the journey's aggregates
use it: tests/unit/test_domain_purity.py holds it to the domain's own rule); recorders come as `Any`.

- `CreationHook`: aggregates add keyword arguments to their creation event (`Aggregate._create`);
  the journey's metadata goes on every `Created` event this way.
- `track_in_memory`, `forget_in_memory`, `memory_lock`: the in-memory (POPO) read-model view keeps
  its tracking position with its rows, under the recorder's own lock.
- `track_in_transaction`: a SQL read-model view writes its tracking record in its own transaction,
  beside its rows (the recorders' `_insert_tracking(cursor, tracking)`).
- `transaction`: a recorder's datastore transaction (the attribute is untyped in the library).
- `derived_commits`: the SQLite read-model connections commit without waiting for the disk.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from eventsourcing.domain import Aggregate


class CreationHook(Aggregate):
    """An aggregate base whose subclasses may add keyword arguments to their creation event."""

    @classmethod
    def creation_arguments(cls, kwargs: dict[str, Any]) -> dict[str, Any]:
        """The creation event's keyword arguments, as the subclass wants them (unchanged here)."""
        return kwargs

    @classmethod
    def _create(cls, event_class: Any, *, id: Any = None, **kwargs: Any) -> Any:
        return super()._create(event_class, id=id, **cls.creation_arguments(kwargs))


def memory_lock(recorder: Any) -> AbstractContextManager[Any]:
    """The in-memory recorder's own lock (its tracking and our rows change together under it)."""
    lock: AbstractContextManager[Any] = recorder._database_lock
    return lock


def track_in_memory(recorder: Any, tracking: Any) -> None:
    """Record a tracking position in an in-memory recorder, refusing a duplicate (IntegrityError);
    call it holding `memory_lock`."""
    recorder._assert_tracking_uniqueness(tracking)
    recorder._insert_tracking(tracking)


def forget_in_memory(recorder: Any, application_name: str) -> None:
    """Forget an in-memory recorder's tracking of `application_name` (it keeps only the highest id)."""
    recorder._max_tracking_ids.pop(application_name, None)


def track_in_transaction(recorder: Any, cursor: Any, tracking: Any) -> None:
    """Record a tracking position with a SQL recorder, in the transaction of `cursor`."""
    recorder._insert_tracking(cursor, tracking)


def transaction(recorder: Any, commit: bool) -> AbstractContextManager[Any]:
    """A SQL recorder's datastore transaction (SQLite or PostgreSQL); yields a cursor."""
    opened: AbstractContextManager[Any] = recorder.datastore.transaction(commit=commit)
    return opened


def derived_commits(pool: Any) -> None:
    """The views' SQLite connections commit without waiting for the disk (`synchronous=NORMAL`).

    Safe because the view is derived data whose position commits with its rows: in WAL mode a
    NORMAL commit is atomic and survives a crash of the service; only a crash of the machine may
    lose the last few commits, rows and position together, and the follower then indexes those
    events again from the store, whose own commits stay synchronous (FULL). Seals are re-made the
    same way, from the stored bytes. So a command costs one fsync (the store's), not two: under the
    bench's load the views' commits took as long as the commands' own (`python -m bench --profile`).
    PostgreSQL views do the same per transaction (`synchronous_commit` off, readmodel `_derived`).
    """
    create: Callable[[], Any] = pool._create_connection

    def create_connection() -> Any:
        connection = create()
        connection._sqlite_conn.execute("PRAGMA synchronous=NORMAL")
        return connection

    pool._create_connection = create_connection
