"""A tracking record alone in one statement on PostgreSQL (issue 19, docs/capacity.md §5.18).

A delivery whose handlers record nothing commits its tracking record alone (shared/kernel/library.py
`commit_tracking_alone`: 4–5 a journey), and the relay saves its published position (`insert_tracking`, every half
second while it publishes). Each was a transaction of its own statements: `BEGIN`, `SET LOCAL synchronous_commit TO
OFF` (the delivery's), the upsert, `COMMIT`. Each statement is a message for the server to wake up for and answer
(~100 µs of its CPU, docs/capacity.md §5.17.1). With the services' recorder the row is now recorded and committed by
one statement (shared/kernel/locked_insert.py `track_alone`), refused as the library refuses it. On a real
PostgreSQL, with the services' own process recorder (store_env)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import psycopg
import pytest
from eventsourcing.persistence import InfrastructureFactory, IntegrityError, Tracking
from support.servers import Postgres

from shared.kernel.library import commit_tracking_alone
from shared.kernel.store import pg_conninfo, store_env
from shared.settings import Settings

pytestmark = pytest.mark.postgres


@pytest.fixture
def recorder(postgres: Postgres, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The services' process recorder on a schema of its own."""
    prefix = f"ta_{uuid4().hex[:8]}_"
    monkeypatch.setenv("JUSOU_DATA_DIR", str(tmp_path))
    for name, value in postgres.env(prefix).items():
        monkeypatch.setenv(name, value)
    factory: Any = InfrastructureFactory.construct(store_env(Settings.from_env("outreach")) | {"CREATE_TABLE": "y"})
    made = factory.process_recorder()
    try:
        yield made
    finally:
        factory.close()
        postgres.drop_schemas(prefix)


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What the test's connections send: each statement executed, and each transaction block opened (its `BEGIN` and
    its `COMMIT` are two statements more)."""
    found: list[str] = []
    execute, transaction = psycopg.Cursor.execute, psycopg.Connection.transaction

    def counted_execute(self: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
        text = query.as_string(self.connection) if hasattr(query, "as_string") else str(query)
        found.append(" ".join(text.split())[:50])
        return execute(self, query, *args, **kwargs)

    def counted_transaction(self: Any, *args: Any, **kwargs: Any) -> Any:
        found.extend(["BEGIN", "COMMIT"])
        return transaction(self, *args, **kwargs)

    monkeypatch.setattr(psycopg.Cursor, "execute", counted_execute)
    monkeypatch.setattr(psycopg.Connection, "transaction", counted_transaction)
    return found


def tracked(recorder: Any, name: str) -> int | None:
    with psycopg.connect(**pg_conninfo(Settings.from_env("outreach")), autocommit=True) as conn:
        row = conn.execute(f'SELECT notification_id FROM "{recorder.datastore.schema}"."{recorder.tracking_table_name}" '
                           "WHERE application_name = %s", (name,)).fetchone()
    return None if row is None else int(row[0])


def test_a_delivery_that_records_nothing_commits_its_tracking_in_one_statement(recorder: Any, sent: list[str]) -> None:
    recorder.max_tracking_id("meeting")  # (the pool's first connection made)
    sent.clear()

    assert commit_tracking_alone(recorder, Tracking(application_name="meeting", notification_id=3)) is True

    assert len(sent) == 1, sent  # was BEGIN, SET LOCAL synchronous_commit TO OFF, INSERT … ON CONFLICT, COMMIT
    assert "jusou_track_" in sent[0]
    assert tracked(recorder, "meeting") == 3


def test_the_relays_saved_position_is_recorded_in_one_statement(recorder: Any, sent: list[str]) -> None:
    recorder.max_tracking_id("jusou-relay")
    sent.clear()

    recorder.insert_tracking(Tracking(application_name="jusou-relay", notification_id=40))

    assert len(sent) == 1, sent  # was BEGIN, INSERT … ON CONFLICT, COMMIT
    assert tracked(recorder, "jusou-relay") == 40


@pytest.mark.parametrize("alone", [True, False], ids=["commit_tracking_alone", "insert_tracking"])
def test_a_position_at_or_below_the_recorded_one_is_refused_as_the_library_refuses_it(recorder: Any, alone: bool) -> None:
    def record(position: int, name: str = "meeting") -> None:
        tracking = Tracking(application_name=name, notification_id=position)
        if alone:
            commit_tracking_alone(recorder, tracking)
        else:
            recorder.insert_tracking(tracking)

    record(5)
    record(2, name="intake")
    for position in (5, 4):
        with pytest.raises(IntegrityError, match=f"Failed to record tracking for meeting {position}"):
            record(position)
    assert tracked(recorder, "meeting") == 5 and tracked(recorder, "intake") == 2  # nothing changed
    record(6)
    assert recorder.max_tracking_id("meeting") == 6
    assert recorder.has_tracking_id("meeting", 6) and not recorder.has_tracking_id("meeting", 7)
