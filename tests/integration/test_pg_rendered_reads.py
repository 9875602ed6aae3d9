"""The services' PostgreSQL recorders read an aggregate's events and a tracking position with statements rendered
once (shared/kernel/lean.py `rendered_reads`, issue 19), and answer exactly as the library's own recorder does on
the same tables: rows, ids, versions, orderings; a lost connection is retried as the library retries it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from eventsourcing.persistence import OperationalError, StoredEvent, Tracking
from eventsourcing.postgres import PostgresProcessRecorder
from support.servers import Postgres

from shared.kernel.store import store_env
from shared.settings import Settings

pytestmark = pytest.mark.postgres

SELECTIONS: list[dict[str, Any]] = [
    {}, {"gt": 2}, {"lte": 3}, {"gt": 1, "lte": 4}, {"desc": True}, {"desc": True, "limit": 1},
    {"limit": 2}, {"gt": 5}, {"lte": 0}, {"desc": True, "gt": 1, "lte": 4, "limit": 2},
]


@pytest.fixture
def recorders(postgres: Postgres, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, Any]]:
    """The service's process recorder and the library's own on the same tables and pool."""
    from eventsourcing.persistence import InfrastructureFactory
    from eventsourcing.utils import Environment

    prefix = f"rr_{uuid4().hex[:8]}_"
    monkeypatch.setenv("JUSOU_DATA_DIR", str(tmp_path))
    for name, value in postgres.env(prefix).items():
        monkeypatch.setenv(name, value)
    factory = InfrastructureFactory.construct(Environment("T", store_env(Settings.from_env("collaboration"))))
    ours = factory.process_recorder()
    library = PostgresProcessRecorder(ours.datastore, events_table_name=ours.events_table_name,
                                      tracking_table_name=ours.tracking_table_name)
    try:
        yield library, ours
    finally:
        factory.close()
        postgres.drop_schemas(prefix)


def test_the_services_postgres_recorder_renders_its_reads_once(recorders: tuple[Any, Any]) -> None:
    _, ours = recorders
    assert type(ours).__name__ == "QuietPostgresProcessRecorder" and isinstance(ours, PostgresProcessRecorder)
    assert type(ours).select_events is not PostgresProcessRecorder.select_events


def test_an_aggregates_events_are_the_librarys_for_every_selection(recorders: tuple[Any, Any]) -> None:
    library, ours = recorders
    aggregate = uuid4()
    library.insert_events([StoredEvent(originator_id=aggregate, originator_version=v, topic=f"t:{v}",
                                       state=bytes([v]) * v) for v in range(1, 6)])
    library.insert_events([StoredEvent(originator_id=uuid4(), originator_version=1, topic="t", state=b"x")])
    for _ in range(2):  # rendered on the first read of each form, kept for the second
        for selection in SELECTIONS:
            assert ours.select_events(aggregate, **selection) == library.select_events(aggregate, **selection), selection
    forms = [key for key in ours.__dict__["_jusou_rendered"] if key[0] == "select_events"]
    assert len(forms) == len({(("gt" in s), ("lte" in s), not s.get("desc", False), ("limit" in s))
                              for s in SELECTIONS})
    assert ours.select_events(uuid4()) == library.select_events(uuid4()) == []


def test_newer_of_answers_for_each_aggregate_what_a_select_after_its_version_finds(recorders: tuple[Any, Any]) -> None:
    """`newer_of` (a command's check of the kept aggregates it uses, in one round trip): for each id and version,
    whether the library's `select_events(id, gt=version, limit=1)` finds an event; several at once as each alone."""
    library, ours = recorders
    aggregate, other, unknown = uuid4(), uuid4(), uuid4()
    library.insert_events([StoredEvent(originator_id=aggregate, originator_version=v, topic="t", state=b"x")
                           for v in range(1, 6)])
    library.insert_events([StoredEvent(originator_id=other, originator_version=v, topic="t", state=b"x")
                           for v in range(1, 3)])
    for version in range(7):
        found = bool(library.select_events(aggregate, gt=version, limit=1))
        assert ours.newer_of({aggregate: version}) == ({aggregate} if found else set()), version
    assert ours.newer_of({aggregate: 4, other: 2, unknown: 0}) == {aggregate}
    assert ours.newer_of({aggregate: 5, other: 1, unknown: 0}) == {other}
    assert ours.newer_of({aggregate: 0, other: 0, unknown: 0}) == {aggregate, other}  # (rendered once for three)


def test_a_tracking_position_is_the_librarys(recorders: tuple[Any, Any]) -> None:
    library, ours = recorders
    assert ours.max_tracking_id("src") is library.max_tracking_id("src") is None
    assert ours.has_tracking_id("src", 1) is library.has_tracking_id("src", 1) is False
    library.insert_tracking(Tracking(application_name="src", notification_id=7))
    assert ours.max_tracking_id("src") == library.max_tracking_id("src") == 7
    for position in (None, 1, 7, 8):
        assert ours.has_tracking_id("src", position) is library.has_tracking_id("src", position)


def test_a_read_whose_connection_is_lost_is_tried_again(recorders: tuple[Any, Any],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """As the library's reads: 10 tries, 0.2 s apart (no wait here), on a lost connection."""
    import eventsourcing.utils

    _, ours = recorders
    monkeypatch.setattr(eventsourcing.utils, "sleep", lambda _seconds: None)
    datastore, calls = ours.datastore, {"n": 0}
    real = type(datastore).get_connection

    def losing(self: Any) -> Any:
        calls["n"] += 1
        if calls["n"] <= 2:
            raise OperationalError("server closed the connection unexpectedly")
        return real(self)

    monkeypatch.setattr(type(datastore), "get_connection", losing)
    assert ours.max_tracking_id("src") is None and calls["n"] == 3
    calls["n"] = 0
    assert ours.select_events(uuid4()) == [] and calls["n"] == 3
