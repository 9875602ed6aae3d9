"""A service's PostgreSQL saves that arrive while its transactions are in flight share the next (issue 19).

The events table's lock (commit order = position order) is held until the commit's WAL flush, so a service's commits
were serial through the disk: at ~10 ms a flush, at most ~100 a second. Saves are now grouped (shared/kernel/
group_commit.py): one transaction, one lock, one flush for all the saves waiting, each save handed its own
notification ids; a conflict is still its own save's, and a lost connection is every save's to try again, with
nothing committed in part. Two transactions of a recorder are in flight at once: the next is sent while the one
before flushes, and waits at the table lock in the server. On a real PostgreSQL, with the services' own recorder (store_env), the transaction in
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


def in_flight(recorder: Any, slots: int) -> Any:
    """The recorder with `slots` transactions in flight at most (`IN_FLIGHT` in service), set before its first save."""
    group_of(recorder).slots = slots
    return recorder


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


def queued(recorder: Any, alone: list[Saving], then: list[Saving]) -> None:
    """Each of `alone` in flight (its own transaction, sent at once, waiting for the table's lock in the server: two,
    a recorder's slots), then each of `then` waiting in the process for the next transaction, in this order."""
    for k, saving in enumerate(alone, start=1):
        saving.start()
        until(lambda k=k: len(lock_waiters(recorder)) == k, f"{k} saves' transactions waiting for the table's lock")
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


def test_with_one_in_flight_the_saves_waiting_behind_it_share_the_next_each_given_its_own_ids(recorder: Any) -> None:
    in_flight(recorder, 1)
    first = Saving(recorder, events_of(uuid4(), 2))
    others = [Saving(recorder, events_of(uuid4(), 1 + k % 3)) for k in range(7)]
    with held(recorder) as blocker:
        queued(recorder, [first], others)
        blocker.commit()
    joined(first, *others)

    assert [s.error for s in (first, *others)] == [None] * 8
    rows = stored(recorder)
    total = sum(len(s.events) for s in (first, *others))
    assert len(rows) == total and len({(a, v) for _, a, v, _, _ in rows}) == total  # every event recorded once
    transactions = [x for _, _, _, _, x in rows]
    assert transactions == [transactions[0]] * 2 + [transactions[2]] * (total - 2)  # the first alone, the seven in one
    ids = [n for n, _, _, _, _ in rows]
    assert ids == list(range(ids[0], ids[0] + total))
    by_event = {(a, v): n for n, a, v, _, _ in rows}
    for saving in (first, *others):
        assert saving.ids == [by_event[(e.originator_id, e.originator_version)] for e in saving.events]


def test_saves_waiting_behind_two_transactions_in_flight_share_one_each_given_its_own_ids(recorder: Any) -> None:
    in_flight(recorder, 2)
    first, second = Saving(recorder, events_of(uuid4(), 2)), Saving(recorder, events_of(uuid4(), 3))
    others = [Saving(recorder, events_of(uuid4(), 1 + k % 3)) for k in range(6)]
    with held(recorder) as blocker:
        queued(recorder, [first, second], others)  # two in flight at the lock: the six wait in the process
        blocker.commit()
    joined(first, second, *others)

    assert [s.error for s in (first, second, *others)] == [None] * 8
    rows = stored(recorder)
    total = sum(len(s.events) for s in (first, second, *others))
    assert len(rows) == total  # every event recorded once
    assert len({(a, v) for _, a, v, _, _ in rows}) == total
    transactions = [x for _, _, _, _, x in rows]
    assert len(set(transactions)) == 3  # the two in flight alone, then the six waiting in one (were eight, then two)
    # positions in commit order, no gap a reader could pass: the first's block, the second's, then the group's
    ids = [n for n, _, _, _, _ in rows]
    assert ids == list(range(ids[0], ids[0] + total))
    assert transactions == [transactions[0]] * 2 + [transactions[2]] * 3 + [transactions[5]] * (total - 5)
    # each caller's ids are its own events', in its order; the group's in the order the saves came
    by_event = {(a, v): n for n, a, v, _, _ in rows}
    for saving in (first, second, *others):
        assert saving.ids == [by_event[(e.originator_id, e.originator_version)] for e in saving.events]
    assert [s.ids[0] for s in others if s.ids] == sorted(s.ids[0] for s in others if s.ids)
    assert (group_of(recorder).transactions, group_of(recorder).saves) == (3, 8)


@contextmanager
def stalling(recorder: Any) -> Iterator[Callable[[str], Any]]:
    """The events table made to stall, *holding the table's lock*, an insert of an event whose topic is `stall:<key>`
    until `<key>` is let go (a trigger waiting for an advisory lock this block holds): `stall(key)` takes the key and
    gives back its connection, whose close (or the block's end) lets it go."""
    schema = recorder.datastore.schema
    with connect() as admin:
        admin.execute(f"""CREATE FUNCTION "{schema}".stall() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN IF NEW.topic LIKE 'stall:%' THEN PERFORM pg_advisory_xact_lock(hashtext(NEW.topic)); END IF;
            RETURN NEW; END $$""")
        admin.execute(f'CREATE TRIGGER stall BEFORE INSERT ON {table(recorder)} FOR EACH ROW '
                      f'EXECUTE FUNCTION "{schema}".stall()')
        admin.commit()
    keys: list[psycopg.Connection[Any]] = []

    def stall(key: str) -> psycopg.Connection[Any]:
        holder = connect()
        holder.autocommit = True
        holder.execute("SELECT pg_advisory_lock(hashtext(%s))", (f"stall:{key}",))
        keys.append(holder)
        return holder

    try:
        yield stall
    finally:
        for holder in keys:
            holder.close()


def stalled_with_the_lock(recorder: Any, topic: str) -> bool:
    """Whether a transaction holding the events table's lock waits for `topic`'s advisory key."""
    with connect() as conn:
        row = conn.execute("SELECT count(*) FROM pg_locks a JOIN pg_locks t ON t.pid = a.pid "
                           "WHERE a.locktype = 'advisory' AND NOT a.granted AND a.objid::int = hashtext(%s) "
                           "AND t.relation = %s::regclass AND t.granted AND t.mode = 'ExclusiveLock'",
                           (topic, table(recorder))).fetchone()
    return bool(row and row[0])


def stalled_events(aggregate: UUID, key: str) -> list[StoredEvent]:
    return [StoredEvent(originator_id=aggregate, originator_version=1, topic=f"stall:{key}", state=b"stalled")]


def test_the_next_group_is_sent_while_the_one_before_flushes_and_waits_at_the_lock_in_the_server(
        recorder: Any) -> None:
    """Two in flight: while a transaction holds the table's lock, the next is already at the lock in the server; and
    when the one before ends, the group that waited in the process is sent while the second still holds the lock
    (with one in flight, d7a7106, the second save waited in the process and this fails at its first step)."""
    in_flight(recorder, 2)
    with stalling(recorder) as stall:
        a_key, b_key = stall("a"), stall("b")
        a = Saving(recorder, stalled_events(uuid4(), "a"))
        b = Saving(recorder, stalled_events(uuid4(), "b"))
        a.start()
        until(lambda: stalled_with_the_lock(recorder, "stall:a"), "the first save to hold the lock, stalled")
        b.start()  # sent at once: it waits for the table's lock in the server, not in the process
        until(lambda: len(lock_waiters(recorder)) == 1, "the second save's transaction at the table's lock")
        assert waiting(recorder) == 0
        group = [Saving(recorder, events_of(uuid4(), 2)) for _ in range(3)]
        for k, saving in enumerate(group, start=1):
            saving.start()
            until(lambda k=k: waiting(recorder) == k, f"{k} saves waiting in the process (both slots taken)")
        a_key.close()  # the first commits; the second takes the lock and stalls in its turn
        until(lambda: stalled_with_the_lock(recorder, "stall:b"), "the second save to hold the lock, stalled")
        # the group is sent while the second still holds the lock: it waits at the lock in the server
        until(lambda: len(lock_waiters(recorder)) == 1 and waiting(recorder) == 0,
              "the waiting saves' group sent, at the table's lock")
        a.join(60)
        assert a.ids is not None and b.ids is None and all(s.ids is None for s in group)
        assert stored(recorder)[0][1] == a.events[0].originator_id and len(stored(recorder)) == 1
        b_key.close()
        joined(b, *group)

    assert [s.error for s in (a, b, *group)] == [None] * 5
    rows = stored(recorder)
    assert len(rows) == 8
    assert len({x for *_, x in rows}) == 3  # a, b, and the group of three in one
    by_event = {(a_, v): n for n, a_, v, _, _ in rows}
    for saving in (a, b, *group):
        assert saving.ids == [by_event[(e.originator_id, e.originator_version)] for e in saving.events]
    assert a.ids and b.ids and group[0].ids and a.ids[0] < b.ids[0] < group[0].ids[0]


def test_two_saves_of_one_version_in_a_group_the_later_alone_refused(recorder: Any) -> None:
    in_flight(recorder, 2)
    contested = uuid4()
    first, second = Saving(recorder, events_of(uuid4())), Saving(recorder, events_of(uuid4()))
    earlier = Saving(recorder, events_of(contested, state=b"earlier"))
    later = Saving(recorder, events_of(contested, state=b"later"))
    beside = Saving(recorder, events_of(uuid4(), 2))
    with held(recorder) as blocker:
        queued(recorder, [first, second], [earlier, later, beside])
        blocker.commit()
    joined(first, second, earlier, later, beside)

    assert isinstance(later.error, IntegrityError)  # the conflict is the later save's, and its alone
    assert (first.error, second.error, earlier.error, beside.error) == (None, None, None, None)
    rows = stored(recorder)
    assert [(a, s) for _, a, _, s, _ in rows if a == contested] == [(contested, b"earlier\x01")]
    assert len(rows) == 5  # nothing of the refused save
    by_event = {(a, v): n for n, a, v, _, _ in rows}
    for saving in (first, second, earlier, beside):
        assert saving.ids == [by_event[(e.originator_id, e.originator_version)] for e in saving.events]
    ids = [n for n, _, _, _, _ in rows]
    assert ids == sorted(ids) and first.ids and second.ids and earlier.ids and beside.ids
    assert first.ids[0] < second.ids[0] < earlier.ids[0] < beside.ids[0]  # committed in the order the saves came


def test_a_group_whose_connection_is_lost_commits_nothing_and_each_save_tries_again(recorder: Any) -> None:
    in_flight(recorder, 2)
    first, second = Saving(recorder, events_of(uuid4())), Saving(recorder, events_of(uuid4()))
    group = [Saving(recorder, events_of(uuid4(), 2)) for _ in range(3)]
    with held(recorder) as blocker:
        queued(recorder, [first, second], group)
        alone = lock_waiters(recorder)
        assert len(alone) == 2
        with connect() as admin:  # a transaction in flight lost: its slot sends the group, which waits for the lock
            admin.execute("SELECT pg_terminate_backend(%s)", (alone[0],))
            grouped = until(lambda: [pid for pid in lock_waiters(recorder) if pid not in alone],
                            "the group's transaction to wait for the table's lock")
            admin.execute("SELECT pg_terminate_backend(%s)", (grouped[0],))
            until(lambda: grouped[0] not in lock_waiters(recorder), "the group's connection gone")
        assert stored(recorder) == []  # nothing committed in part (the table's lock is still held: nothing at all)
        blocker.commit()
    joined(first, second, *group)

    assert [s.error for s in (first, second, *group)] == [None] * 5  # each save's retry committed it
    rows = stored(recorder)
    assert len(rows) == 8  # once each
    by_event = {(a, v): n for n, a, v, _, _ in rows}
    for saving in (first, second, *group):
        assert saving.ids == [by_event[(e.originator_id, e.originator_version)] for e in saving.events]
    assert group_of(recorder).saves >= 5 + 1 + 3  # the lost one and every save of the lost group tried again


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


@pytest.mark.parametrize(("setting", "in_the_server"), [(None, 1), ("2", 2)])
def test_jusou_pg_group_in_flight_sets_a_service_store_s_transactions_in_flight(
        postgres: Postgres, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, setting: str | None,
        in_the_server: int) -> None:
    """`JUSOU_PG_GROUP_IN_FLIGHT` reaches the store a service opens (shared/web/deps.py `open_store`): with 2, two
    saves wait at the table's lock in the server and the third waits for a slot; by default one does."""
    from eventsourcing.application import Application

    from shared.web.deps import open_store

    prefix = f"gc_{uuid4().hex[:8]}_"
    monkeypatch.setenv("JUSOU_DATA_DIR", str(tmp_path))
    if setting is not None:
        monkeypatch.setenv("JUSOU_PG_GROUP_IN_FLIGHT", setting)
    for name, value in postgres.env(prefix).items():
        monkeypatch.setenv(name, value)
    app = open_store(Settings.from_env("intake"), Application)
    try:
        recorder = app.recorder
        savings = [Saving(recorder, events_of(uuid4())) for _ in range(3)]
        with held(recorder) as blocker:
            for saving in savings:
                saving.start()
            until(lambda: len(lock_waiters(recorder)) == in_the_server and waiting(recorder) == 3 - in_the_server,
                  f"{in_the_server} saves at the table's lock, the rest waiting for a slot")
            blocker.commit()
        joined(*savings)
        assert [s.error for s in savings] == [None] * 3
    finally:
        app.close()
        postgres.drop_schemas(prefix)


def test_jusou_pg_group_in_flight_out_of_range_is_refused_with_its_name(monkeypatch: pytest.MonkeyPatch) -> None:
    from shared.settings import SettingsError, current

    monkeypatch.setenv("JUSOU_PG_GROUP_IN_FLIGHT", "0")
    with pytest.raises(SettingsError, match="JUSOU_PG_GROUP_IN_FLIGHT"):
        current()
