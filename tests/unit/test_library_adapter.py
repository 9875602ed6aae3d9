"""What shared/kernel/library.py relies on in eventsourcing's private names, pinned (issue 14).

An upgrade of the library that renames or changes one of them fails here, by name. Each test uses a
real recorder of the kind the suite runs on (in memory, SQLite, PostgreSQL where it answers), and
no other module of the suite may touch the library's private names (the last test looks).
"""

from __future__ import annotations

import ast
import os
from pathlib import Path
from uuid import uuid4

import psycopg
import pytest
from eventsourcing.persistence import InfrastructureFactory, IntegrityError, StoredEvent, Tracking
from eventsourcing.popo import POPOFactory
from eventsourcing.utils import Environment

from shared.kernel.journey import JourneyAggregate, acting, journey_id
from shared.kernel.library import (
    derived_commits,
    forget_in_memory,
    insert_in_one_transaction,
    memory_lock,
    track_in_memory,
    track_in_transaction,
    transaction,
)
from shared.kernel.readmodel import POPOReadModelView

ROOT = Path(__file__).resolve().parents[2]
ADAPTER = ROOT / "shared" / "kernel" / "library.py"


def test_a_creation_hook_puts_the_journey_on_every_created_event() -> None:
    class Thing(JourneyAggregate):
        def __init__(self, case_id: str) -> None:
            self.case_id = case_id

    case_id = str(uuid4())
    with acting({"staff_id": "s1", "division": "welfare-general"}):
        thing = Thing(case_id=case_id)
    [created] = thing.collect_events()
    assert created.meta["case_id"] == case_id  # type: ignore[attr-defined]
    assert created.meta["correlation_id"] == str(journey_id(case_id))  # type: ignore[attr-defined]


def test_in_memory_tracking_refuses_a_duplicate_and_can_be_forgotten() -> None:
    view = POPOFactory(Environment("T", {})).tracking_recorder(POPOReadModelView)
    with memory_lock(view):
        track_in_memory(view, Tracking(application_name="src", notification_id=3))
    assert view.max_tracking_id("src") == 3
    with pytest.raises(IntegrityError), memory_lock(view):
        track_in_memory(view, Tracking(application_name="src", notification_id=3))
    forget_in_memory(view, "src")
    assert view.max_tracking_id("src") is None


def test_sqlite_tracking_commits_with_the_transaction_and_views_commit_without_fsync(tmp_path: Path) -> None:
    env = Environment("T", {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp_path / "v.db")})
    factory = InfrastructureFactory.construct(env)
    derived_commits(factory.datastore.pool)  # type: ignore[attr-defined]
    recorder = factory.tracking_recorder()
    with transaction(recorder, commit=True) as cursor:
        track_in_transaction(recorder, cursor, Tracking(application_name="src", notification_id=5))
    assert recorder.max_tracking_id("src") == 5
    with pytest.raises(RuntimeError), transaction(recorder, commit=True) as cursor:
        track_in_transaction(recorder, cursor, Tracking(application_name="src", notification_id=6))
        raise RuntimeError("rolled back")
    assert recorder.max_tracking_id("src") == 5
    with transaction(recorder, commit=False) as cursor:
        cursor.execute("PRAGMA synchronous")
        assert cursor.fetchone()[0] == 1  # NORMAL: the view's commit waits for no fsync


def test_record_processed_does_what_the_library_process_event_does_after_its_policy() -> None:
    """`record_processed` repeats the library's `process_event` after its policy: its steps, in its order."""
    import inspect
    import textwrap

    from eventsourcing.projection import EventSourcedProjection

    source = textwrap.dedent(inspect.getsource(EventSourcedProjection.process_event))
    calls = [node.func.attr for node in ast.walk(ast.parse(source))
             if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
             and isinstance(node.func.value, ast.Name) and node.func.value.id == "self"]
    assert calls == ["policy", "_record", "_take_snapshots", "notify", "_notify"]


def _postgres_or_skip() -> None:
    """Skip where no PostgreSQL answers, unless JUSOU_REQUIRE_POSTGRES=1 (CI): there the test fails instead."""
    if os.environ.get("JUSOU_REQUIRE_POSTGRES") != "1":
        try:
            psycopg.connect("host=127.0.0.1 port=5432 dbname=test user=postgres", connect_timeout=2).close()
        except psycopg.OperationalError:
            pytest.skip("no PostgreSQL at 127.0.0.1:5432 (CI sets JUSOU_REQUIRE_POSTGRES=1 and starts it)")


def test_postgres_several_trackings_and_events_commit_in_one_transaction_or_not_at_all() -> None:
    """insert_in_one_transaction (for group commit of inboxes' saves): every tracking and event of a group at once;
    a duplicate tracking anywhere in it refuses the whole group, nothing of it stored."""
    _postgres_or_skip()
    schema = f"adapter_{uuid4().hex[:12]}"
    env = Environment("T", {
        "PERSISTENCE_MODULE": "eventsourcing.postgres", "POSTGRES_DBNAME": "test", "POSTGRES_HOST": "127.0.0.1",
        "POSTGRES_PORT": "5432", "POSTGRES_USER": "postgres", "POSTGRES_PASSWORD": "",
        "POSTGRES_SCHEMA": schema, "CREATE_TABLE": "y",
    })
    with psycopg.connect("host=127.0.0.1 port=5432 dbname=test user=postgres", autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA "{schema}"')
    factory = InfrastructureFactory.construct(env)
    recorder = factory.process_recorder()

    def event(version: int) -> StoredEvent:
        return StoredEvent(originator_id=aggregate, originator_version=version, topic="t", state=b"{}")

    aggregate = uuid4()
    try:
        ids = insert_in_one_transaction(recorder, [Tracking("a", 1), Tracking("b", 4)], [event(1), event(2)])
        assert len(ids) == 2 and ids[1] == ids[0] + 1, ids
        assert (recorder.max_tracking_id("a"), recorder.max_tracking_id("b")) == (1, 4)

        with pytest.raises(IntegrityError):
            insert_in_one_transaction(recorder, [Tracking("a", 2), Tracking("b", 4)], [event(3)])
        assert (recorder.max_tracking_id("a"), recorder.max_tracking_id("b")) == (1, 4)
        assert [e.originator_version for e in recorder.select_events(aggregate)] == [1, 2]
        assert insert_in_one_transaction(recorder, [Tracking("a", 2)], []) is None
        assert recorder.max_tracking_id("a") == 2
    finally:
        with transaction(recorder, commit=True) as cursor:
            cursor.execute(f'DROP SCHEMA "{schema}" CASCADE')
        factory.close()


def test_postgres_tracking_commits_with_the_transaction() -> None:
    _postgres_or_skip()
    env = Environment("T", {
        "PERSISTENCE_MODULE": "eventsourcing.postgres", "POSTGRES_DBNAME": "test", "POSTGRES_HOST": "127.0.0.1",
        "POSTGRES_PORT": "5432", "POSTGRES_USER": "postgres", "POSTGRES_PASSWORD": "",
        "POSTGRES_SCHEMA": f"adapter_{uuid4().hex[:12]}", "CREATE_TABLE": "y",
    })
    with psycopg.connect("host=127.0.0.1 port=5432 dbname=test user=postgres", autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA "{env["POSTGRES_SCHEMA"]}"')
    factory = InfrastructureFactory.construct(env)
    recorder = factory.tracking_recorder()
    try:
        with transaction(recorder, commit=True) as cursor:
            track_in_transaction(recorder, cursor, Tracking(application_name="src", notification_id=9))
        assert recorder.max_tracking_id("src") == 9
    finally:
        with transaction(recorder, commit=True) as cursor:
            cursor.execute(f'DROP SCHEMA "{env["POSTGRES_SCHEMA"]}" CASCADE')
        factory.close()


def _private_library_uses(path: Path) -> list[str]:
    """Attribute names with one leading underscore used on anything but self/cls/super() in `path`,
    among the names eventsourcing's classes define."""
    import eventsourcing.application
    import eventsourcing.domain
    import eventsourcing.persistence
    import eventsourcing.popo
    import eventsourcing.postgres
    import eventsourcing.sqlite

    library = {name for module in (eventsourcing.application, eventsourcing.domain, eventsourcing.persistence,
                                   eventsourcing.popo, eventsourcing.postgres, eventsourcing.sqlite)
               for cls in vars(module).values() if isinstance(cls, type)
               for name in vars(cls) if name.startswith("_") and not name.startswith("__")}
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Attribute) and node.attr in library:
            owner = node.value
            if isinstance(owner, ast.Call) and isinstance(owner.func, ast.Name) and owner.func.id == "super":
                found.append(f"super().{node.attr}")
            elif not (isinstance(owner, ast.Name) and owner.id in ("self", "cls")):
                found.append(node.attr)
            elif node.attr in {"_notify", "_create", "_insert_tracking", "_database_lock",
                               "_max_tracking_ids", "_assert_tracking_uniqueness", "_take_snapshots"}:
                found.append(f"self.{node.attr}")
    return found


def test_no_other_module_uses_the_library_private_names() -> None:
    assert _private_library_uses(ADAPTER)  # the check sees them where they are
    offenders = {str(path.relative_to(ROOT)): uses
                 for package in ("shared", "services", "jusou")
                 for path in sorted((ROOT / package).rglob("*.py")) if path != ADAPTER
                 if (uses := _private_library_uses(path))}
    assert offenders == {}
