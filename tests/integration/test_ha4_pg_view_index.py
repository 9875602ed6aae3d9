"""The read models' write on PostgreSQL in one statement (issue 19, docs/capacity.md §5.18).

Each page the read models index (the follower's, and a view read's catch-up) was a transaction of its own statements:
`BEGIN`, `SET LOCAL synchronous_commit TO OFF`, an insert per table with rows (case index, aggregate catalogue, seals,
...), the tracking upsert, `COMMIT`: 7–8 statements, ~3.4 pages a journey (bench/pg_journey.py). It is now one
statement (`jusou_index_views`, shared/kernel/readmodel.py): the same inserts and the library's tracking upsert with
its refusal, one transaction. On a real PostgreSQL, with the services' view (`open_view`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import psycopg
import pytest
from eventsourcing.persistence import IntegrityError, Tracking
from support.servers import Postgres

from shared.kernel.readmodel import IndexBatch, open_view
from shared.kernel.store import store_env
from shared.settings import Settings

pytestmark = pytest.mark.postgres


@pytest.fixture
def views(postgres: Postgres, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, Any]]:
    """Two views on two schemas of their own: the services' (one statement), and one that writes its statements one
    by one (as before), to compare."""
    made = []
    prefixes = [f"vi_{uuid4().hex[:8]}_", f"vj_{uuid4().hex[:8]}_"]
    monkeypatch.setenv("JUSOU_DATA_DIR", str(tmp_path))
    for prefix in prefixes:
        for name, value in postgres.env(prefix).items():
            monkeypatch.setenv(name, value)
        made.append(open_view(store_env(Settings.from_env("collaboration")) | {"CREATE_TABLE": "y"}))
    made[1]._indexed = None  # the statements one by one
    try:
        yield made[0], made[1]
    finally:
        for view in made:
            view.datastore.close()
        for prefix in prefixes:
            postgres.drop_schemas(prefix)


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What the test's connections send: each statement executed, each transaction block (its BEGIN and COMMIT)."""
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


def page(first: int, case_id: str, person: bool = False, quarantined: bool = False) -> IndexBatch:
    aggregate = str(uuid4())
    batch = IndexBatch(case_rows=[(case_id, first, aggregate, 1, "2026-12-07T13:00:00+00:00"),
                                  (case_id, first + 1, aggregate, 2, "2026-12-07T13:00:01+00:00")],
                       aggregate_rows=[("services.collaboration.domain:Plan", aggregate, first)],
                       seal_rows=[(first, "a" * 64), (first + 1, "b" * 64)])
    if person:
        batch.person_rows.append((str(uuid4()), first))
    if quarantined:
        batch.quarantine_rows.append((first + 1, aggregate, "x:Y.Z", "ValueError: unreadable"))
    return batch


def test_a_page_of_the_read_models_is_written_in_one_statement(views: tuple[Any, Any], sent: list[str]) -> None:
    view, _ = views
    view.max_tracking_id("jusou-readmodels")  # (the pool's first connection made)
    sent.clear()

    view.index(page(1, "case-1"), Tracking(application_name="jusou-readmodels", notification_id=2))

    assert len(sent) == 1, sent  # was BEGIN, SET LOCAL, 3 inserts, the tracking's, COMMIT
    assert view.max_tracking_id("jusou-readmodels") == 2
    assert view.positions_of_case("case-1") == [1, 2]


def test_the_rows_are_those_the_statements_one_by_one_write(views: tuple[Any, Any]) -> None:
    one_statement, one_by_one = views
    pages = [(page(1, "case-1", person=True), 2), (page(3, "case-2", quarantined=True), 4), (IndexBatch(), 5),
             (page(6, "case-1"), 7)]
    for view in views:
        for batch, position in pages:
            view.index(batch, Tracking(application_name="jusou-readmodels", notification_id=position))

    assert one_statement.dump() == one_by_one.dump()
    assert one_statement.seals(1, 100) == one_by_one.seals(1, 100) and len(one_statement.seals(1, 100)) == 6
    assert one_statement.max_tracking_id("jusou-readmodels") == one_by_one.max_tracking_id("jusou-readmodels") == 7


@pytest.mark.parametrize("which", [0, 1], ids=["one statement", "one by one"])
def test_a_page_another_replica_indexed_first_is_refused_and_writes_nothing(views: tuple[Any, Any], which: int) -> None:
    view = views[which]
    view.index(page(1, "case-1"), Tracking(application_name="jusou-readmodels", notification_id=4))

    with pytest.raises(IntegrityError, match="Failed to record tracking for jusou-readmodels 2"):
        view.index(page(1, "case-9", person=True), Tracking(application_name="jusou-readmodels", notification_id=2))

    assert view.positions_of_case("case-9") == []  # nothing of the refused page
    assert view.dump()["person_events"] == []
    assert view.max_tracking_id("jusou-readmodels") == 4
