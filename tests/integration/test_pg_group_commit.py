"""A service's PostgreSQL saves that arrive while one of its transactions is in flight share the next (issue 19).

The events table's lock (commit order = position order) is held until the commit's WAL flush, so a service's commits
were serial through the disk: at ~10 ms a flush, at most ~100 a second. Saves are now grouped (shared/kernel/
group_commit.py): one transaction, one lock, one flush for all the saves waiting, each save handed its own
notification ids; a conflict is still its own save's, and a lost connection is every save's to try again, with
nothing committed in part. On a real PostgreSQL, with the services' own recorder (store_env), the transaction in
flight held at the table's lock by another connection until every save is waiting: no timing.

Transactions are counted by the server: `xmin`, the id of the transaction that inserted a row."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest
from eventsourcing.persistence import InfrastructureFactory, IntegrityError, StoredEvent
from support.servers import Postgres

from shared.kernel.group_commit import group_of, waiting
from shared.kernel.store import pg_conninfo, store_env
from shared.settings import Settings

pytestmark = pytest.mark.postgres
TOPIC = "tests.integration.test_pg_group_commit:Happened"


@pytest.fixture(params=["process", "application"])
def recorder(request: pytest.FixtureRequest, postgres: Postgres, tmp_path: Path,
             monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The services' recorder (a process application's, and a plain application's) on a schema of its own."""
    prefix = f"gc_{uuid4().hex[:8]}_"
    monkeypatch.setenv("JUSOU_DATA_DIR", str(tmp_path))
    for name, value in postgres.env(prefix).items():
        monkeypatch.setenv(name, value)
    factory: Any = InfrastructureFactory.construct(store_env(Settings.from_env("intake")) | {"CREATE_TABLE": "y"})
    made = factory.process_recorder() if request.param == "process" else factory.application_recorder()
    try:
        yield made
    finally:
        factory.close()
        postgres.drop_schemas(prefix)


def connect() -> psycopg.Connection[Any]:
    return psycopg.connect(**pg_conninfo(Settings.from_env("intake")))


def table(recorder: Any) -> str:
    return f'"{recorder.datastore.schema}"."{recorder.events_table_name}"'


def until(probe: Callable[[], Any], what: str, deadline_s: float = 30.0) -> Any:
    """`probe()` once it is truthy (polled); fail naming `what` after the deadline."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.01)
    raise AssertionError(f"timed out after {deadline_s} s waiting for {what}")


def lock_waiters(recorder: Any) -> list[int]:
    """The backends waiting for the events table's lock."""
    with connect() as conn:
        rows = conn.execute("SELECT l.pid FROM pg_locks l WHERE l.relation = %s::regclass AND NOT l.granted",
                            (table(recorder),)).fetchall()
    return [int(pid) for (pid,) in rows]


class Saving(threading.Thread):
    """A caller saving `events` as a service's command does (no tracking record), keeping its answer or error."""

    def __init__(self, recorder: Any, events: list[StoredEvent]) -> None:
        super().__init__(daemon=True)
        self.recorder, self.events = recorder, events
        self.ids: list[int] | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.ids = list(self.recorder.insert_events(self.events, tracking=None))
        except BaseException as error:  # noqa: BLE001  # the test reads it
            self.error = error


def events_of(aggregate: UUID, count: int = 1, state: bytes = b"state") -> list[StoredEvent]:
    return [StoredEvent(originator_id=aggregate, originator_version=v, topic=TOPIC, state=state + bytes([v]))
            for v in range(1, count + 1)]


@contextmanager
def held(recorder: Any) -> Iterator[psycopg.Connection[Any]]:
    """Another connection holding the events table's lock until it commits (or the block ends: a failed test leaves
    no lock behind for the schema's drop to wait on)."""
    with connect() as conn:
        conn.execute(f"LOCK TABLE {table(recorder)} IN EXCLUSIVE MODE")
        yield conn


def queued(recorder: Any, first: Saving, then: list[Saving]) -> None:
    """`first` in flight (its transaction waits for the lock), then each of `then` waiting for the next transaction,
    in this order."""
    first.start()
    until(lambda: lock_waiters(recorder), "the first save's transaction to wait for the table's lock")
    for k, saving in enumerate(then, start=1):
        saving.start()
        until(lambda k=k: waiting(recorder) == k, f"{k} saves waiting for the next transaction")


def stored(recorder: Any) -> list[tuple[int, UUID, int, bytes, int]]:
    """(notification id, aggregate, version, state, inserting transaction) of every stored event, in id order."""
    with connect() as conn:
        rows = conn.execute(f"SELECT notification_id, originator_id, originator_version, state, xmin::text::bigint "
                            f"FROM {table(recorder)} ORDER BY notification_id").fetchall()
    return [(int(n), UUID(str(a)), int(v), bytes(s), int(x)) for n, a, v, s, x in rows]


def joined(*savings: Saving) -> None:
    for saving in savings:
        saving.join(60)
        assert not saving.is_alive(), "a save never returned"


def test_saves_waiting_behind_a_commit_share_one_transaction_each_given_its_own_ids(recorder: Any) -> None:
    first = Saving(recorder, events_of(uuid4(), 2))
    others = [Saving(recorder, events_of(uuid4(), 1 + k % 3)) for k in range(7)]
    with held(recorder) as blocker:
        queued(recorder, first, others)
        blocker.commit()
    joined(first, *others)

    assert [s.error for s in (first, *others)] == [None] * 8
    rows = stored(recorder)
    total = sum(len(s.events) for s in (first, *others))
    assert len(rows) == total  # every event recorded once
    assert len({(a, v) for _, a, v, _, _ in rows}) == total
    transactions = [x for _, _, _, _, x in rows]
    assert len(set(transactions)) == 2  # the first alone, then the seven waiting in one (were eight)
    # positions in commit order, no gap a reader could pass: the first's block, then the group's
    ids = [n for n, _, _, _, _ in rows]
    assert ids == list(range(ids[0], ids[0] + total))
    assert transactions == [transactions[0]] * 2 + [transactions[2]] * (total - 2)
    # each caller's ids are its own events', in its order; the group's in the order the saves came
    by_event = {(a, v): n for n, a, v, _, _ in rows}
    for saving in (first, *others):
        assert saving.ids == [by_event[(e.originator_id, e.originator_version)] for e in saving.events]
    assert [s.ids[0] for s in others if s.ids] == sorted(s.ids[0] for s in others if s.ids)


def test_two_saves_of_one_version_in_a_group_the_later_alone_refused(recorder: Any) -> None:
    contested = uuid4()
    first = Saving(recorder, events_of(uuid4()))
    earlier = Saving(recorder, events_of(contested, state=b"earlier"))
    later = Saving(recorder, events_of(contested, state=b"later"))
    beside = Saving(recorder, events_of(uuid4(), 2))
    with held(recorder) as blocker:
        queued(recorder, first, [earlier, later, beside])
        blocker.commit()
    joined(first, earlier, later, beside)

    assert isinstance(later.error, IntegrityError)  # the conflict is the later save's, and its alone
    assert (first.error, earlier.error, beside.error) == (None, None, None)
    rows = stored(recorder)
    assert [(a, s) for _, a, _, s, _ in rows if a == contested] == [(contested, b"earlier\x01")]
    assert len(rows) == 4  # nothing of the refused save
    by_event = {(a, v): n for n, a, v, _, _ in rows}
    for saving in (first, earlier, beside):
        assert saving.ids == [by_event[(e.originator_id, e.originator_version)] for e in saving.events]
    ids = [n for n, _, _, _, _ in rows]
    assert ids == sorted(ids) and first.ids and earlier.ids and beside.ids
    assert first.ids[0] < earlier.ids[0] < beside.ids[0]  # committed in the order the saves came


def test_a_group_whose_connection_is_lost_commits_nothing_and_each_save_tries_again(recorder: Any) -> None:
    first = Saving(recorder, events_of(uuid4()))
    group = [Saving(recorder, events_of(uuid4(), 2)) for _ in range(3)]
    with held(recorder) as blocker:
        queued(recorder, first, group)
        [alone] = lock_waiters(recorder)
        with connect() as admin:  # the first's transaction lost: then the group's, waiting for the lock in its turn
            admin.execute("SELECT pg_terminate_backend(%s)", (alone,))
            grouped = until(lambda: [pid for pid in lock_waiters(recorder) if pid != alone],
                            "the group's transaction to wait for the table's lock")
            admin.execute("SELECT pg_terminate_backend(%s)", (grouped[0],))
            until(lambda: grouped[0] not in lock_waiters(recorder), "the group's connection gone")
        assert stored(recorder) == []  # nothing committed in part (the table's lock is still held: nothing at all)
        blocker.commit()
    joined(first, *group)

    assert [s.error for s in (first, *group)] == [None] * 4  # each save's retry committed it
    rows = stored(recorder)
    assert len(rows) == 7  # once each
    by_event = {(a, v): n for n, a, v, _, _ in rows}
    for saving in (first, *group):
        assert saving.ids == [by_event[(e.originator_id, e.originator_version)] for e in saving.events]
    assert group_of(recorder).saves >= 4 + 4  # every save of the lost group tried again (and the first)


@pytest.mark.parametrize("recorder", ["process"], indirect=True)  # an application recorder records no tracking
def test_a_save_with_a_tracking_record_is_committed_alone(recorder: Any) -> None:
    from eventsourcing.persistence import Tracking

    recorder.insert_events(events_of(uuid4()), tracking=Tracking(application_name="upstream", notification_id=1))
    assert group_of(recorder).saves == 0
    assert recorder.max_tracking_id("upstream") == 1


def test_with_group_commit_off_each_save_commits_alone_waiting_in_the_server(
        postgres: Postgres, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`JUSOU_PG_GROUP_COMMIT=false` (the way back, docs/capacity.md §5.13): each save its own transaction, as before."""
    prefix = f"gc_{uuid4().hex[:8]}_"
    monkeypatch.setenv("JUSOU_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("JUSOU_PG_GROUP_COMMIT", "false")
    for name, value in postgres.env(prefix).items():
        monkeypatch.setenv(name, value)
    factory: Any = InfrastructureFactory.construct(store_env(Settings.from_env("intake")) | {"CREATE_TABLE": "y"})
    try:
        recorder = factory.application_recorder()
        assert type(recorder).__name__ == "QuietAlonePostgresApplicationRecorder"
        savings = [Saving(recorder, events_of(uuid4(), 2)) for _ in range(3)]
        with held(recorder) as blocker:
            for k, saving in enumerate(savings, start=1):
                saving.start()  # each waits for the table's lock in the server, on a connection of its own
                until(lambda k=k: len(lock_waiters(recorder)) == k, f"{k} saves waiting for the table's lock")
            assert waiting(recorder) == 0
            blocker.commit()
        joined(*savings)
        assert [s.error for s in savings] == [None] * 3
        rows = stored(recorder)
        assert len(rows) == 6 and len({x for _, _, _, _, x in rows}) == 3  # a transaction each
    finally:
        factory.close()
        postgres.drop_schemas(prefix)
