"""The services' PostgreSQL store spends no statement it does not need (issue 19), on a real PostgreSQL.

- Its commits send no `NOTIFY`: nothing in the suite listens, and PostgreSQL holds one lock for the whole server
  from a notifying transaction's commit until it is on disk, so every service's commits waited for the others'
  fsyncs one by one (shared/kernel/library.py `without_notify`). Each commit is still synchronous and still takes the
  events table's lock that keeps positions in commit order; the COMMIT is sent with the insert (the lock is not held
  across a round trip to the service), and a conflict (an aggregate's version, a tracking position) still records
  nothing.
- The relay reads its saved position with the events past it, in one statement on each wake, not one more
  round trip per commit (shared/kernel/store.py `saved_and_pending`); a relay still starts past what another
  replica saved (tests/scaleout/test_shared_store.py)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest
from eventsourcing.postgres import PostgresProcessRecorder
from support.municipality import ELDERLY
from support.poll import eventually
from support.servers import Nats, Postgres

from services.intake.application import IntakeApplication
from services.intake.translate import translate as intake_translate
from shared.contract.events import STREAM
from shared.kernel.store import pg_conninfo, store_env
from shared.messaging.bus import connect, ensure_streams
from shared.messaging.relay import Relay
from shared.settings import Settings

pytestmark = pytest.mark.postgres
STAFF = {"staff_id": "s-001", "division": ELDERLY.division}


def escalated_case(app: IntakeApplication) -> UUID:
    case_id = app.receive_consultation(STAFF, ELDERLY.code, ELDERLY.division, "窓口", ["高齢・介護"], {"name": "調布 花子"},
                                       None)
    app.escalate_case(STAFF, case_id, "複合的な課題", ELDERLY.ja)
    return case_id


@pytest.fixture
def intake(postgres: Postgres, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[IntakeApplication]:
    prefix = f"rt_{uuid4().hex[:8]}_"
    monkeypatch.setenv("JUSOU_DATA_DIR", str(tmp_path))
    for name, value in postgres.env(prefix).items():
        monkeypatch.setenv(name, value)
    app = IntakeApplication(env=store_env(Settings.from_env("intake")) | {"JUSOU_READMODELS_FOLLOW": "0"})
    try:
        yield app
    finally:
        app.close()
        postgres.drop_schemas(prefix)


def notified(app: IntakeApplication, commit: Any) -> list[str]:
    """The channels notified while `commit` runs, heard on a connection listening to the events table's channel."""
    recorder = app.recorder
    with psycopg.connect(**pg_conninfo(Settings.from_env("intake")), autocommit=True) as listener:
        listener.execute(f'LISTEN "{recorder.channel_name}"')
        commit()
        return [n.channel for n in listener.notifies(timeout=1.0)]


def test_the_services_commits_send_no_notify_and_keep_the_table_lock(intake: IntakeApplication) -> None:
    assert isinstance(intake.recorder, PostgresProcessRecorder)
    assert type(intake.recorder).__name__ == "QuietPostgresProcessRecorder"
    statements: list[str] = []
    for lock in intake.recorder.lock_table_statements:  # the commit-order lock is still taken
        statements.append(lock.as_string(None))
    assert any("LOCK TABLE" in s and "EXCLUSIVE MODE" in s for s in statements)
    assert notified(intake, lambda: escalated_case(intake)) == []
    # the library's own recorder on the same table notifies: the listener above would have heard it
    plain = PostgresProcessRecorder(intake.recorder.datastore, events_table_name=intake.recorder.events_table_name,
                                    tracking_table_name=intake.recorder.tracking_table_name)
    intake.recorder = plain  # type: ignore[misc]
    intake.events.recorder = plain
    assert set(notified(intake, lambda: escalated_case(intake))) == {intake.recorder.channel_name}


async def test_the_relay_reads_its_saved_position_with_the_events_one_statement_per_wake(
        intake: IntakeApplication, nats: Nats) -> None:
    calls: dict[str, int] = {"relay_position": 0, "reads": 0}
    saving = threading.local()  # a save's own check of the saved position (every SAVE_EVERY_SECONDS) is no read

    def counting(name: str, read: Any) -> Any:
        def counted(*args: Any, **kwargs: Any) -> Any:
            if not getattr(saving, "now", False):
                calls[name] += 1
            return read(*args, **kwargs)
        return counted

    def saved_apart(save: Any) -> Any:
        def save_position(*args: Any, **kwargs: Any) -> Any:
            saving.now = True
            try:
                return save(*args, **kwargs)
            finally:
                saving.now = False
        return save_position

    intake.relay_position = counting("relay_position", intake.relay_position)  # type: ignore[method-assign]
    intake.save_relay_position = saved_apart(intake.save_relay_position)  # type: ignore[method-assign]
    # as for another replica's commits: this process's own are handed to the relay by the commit (`on_recorded`,
    # tests/integration/test_relay_hand_off.py), read here from the store on each wake; without the hand-off the relay
    # wakes on every commit (`on_commit`), as over an application that hands nothing over
    intake.on_recorded = None  # type: ignore[assignment]
    nc = await connect(nats.url, "test-relay-pg")
    await ensure_streams(nc)
    relay = Relay(intake, intake_translate, nc, poll_seconds=30.0)  # no poll within the test: commits wake it
    assert relay._saved_and_pending is not None
    relay._saved_and_pending = counting("reads", relay._saved_and_pending)  # type: ignore[method-assign]
    task = asyncio.create_task(relay.run())
    try:
        await eventually(lambda: asyncio.sleep(0, relay._loop is not None), "the relay to start")
        started = -1
        for _ in range(5):
            await asyncio.to_thread(escalated_case, intake)  # each commit wakes the relay
            head = intake.recorder.max_notification_id()
            await eventually(lambda head=head: asyncio.sleep(0, relay.position == head), "the relay to publish it")
            if started < 0:  # the relay's start read the saved position (again, should its first try have failed)
                started, reads = calls["relay_position"], calls["reads"]
        info = await nc.jetstream().stream_info(STREAM)
        assert relay.published == info.state.messages == 10  # each case: received, escalated
        # at the start (`run`) only; every wake after it reads the saved position and the events in one statement
        assert started >= 1 and calls["relay_position"] == started and calls["reads"] >= reads + 4, (started, calls)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await nc.close()


def test_a_commit_sent_with_its_insert_still_refuses_a_conflict_and_records_nothing_of_it(intake: IntakeApplication) -> None:
    from eventsourcing.persistence import IntegrityError, StoredEvent, Tracking

    recorder = intake.recorder
    originator = uuid4()

    def stored(version: int) -> StoredEvent:
        return StoredEvent(originator_id=originator, originator_version=version, topic="t:E", state=b"{}")

    head = recorder.max_notification_id() or 0
    assert recorder.insert_events([stored(1), stored(2)]) == [head + 1, head + 2]  # the positions, read after the commit
    assert recorder.max_notification_id() == head + 2
    assert recorder.insert_events([stored(3)]) == [head + 3]

    # an aggregate's version recorded already (two commands on one aggregate): refused, nothing of the batch recorded
    with pytest.raises(IntegrityError):
        recorder.insert_events([stored(4), stored(2)])
    assert [n.originator_version for n in recorder.select_notifications(start=head + 1, limit=10)] == [1, 2, 3]
    # a tracking position at or below the recorded one (a duplicate delivery): refused, its events not recorded
    recorder.insert_events([stored(4)], tracking=Tracking(application_name="src", notification_id=5))
    with pytest.raises(IntegrityError):
        recorder.insert_events([stored(5)], tracking=Tracking(application_name="src", notification_id=5))
    assert recorder.max_tracking_id("src") == 5
    assert [n.originator_version for n in recorder.select_notifications(start=head + 1, limit=10)] == [1, 2, 3, 4]
    # the pool's connections came back idle: the next insert goes through (a refused insert used up its positions)
    assert (recorder.insert_events([stored(5)]) or [0])[0] > head + 4
    assert [n.originator_version for n in recorder.select_notifications(start=head + 1, limit=10)] == [1, 2, 3, 4, 5]


def test_intake_key_store_reads_and_writes_each_in_one_statement_without_a_transaction_around_it(
        intake: IntakeApplication) -> None:
    from services.intake.keys import PostgresKeys

    keys = PostgresKeys(b"k" * 32, intake.recorder.datastore)

    def no_transaction(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("BEGIN … COMMIT: three round trips for one statement")

    keys.datastore.transaction = no_transaction  # type: ignore[method-assign]
    person = uuid4()
    key = keys.create(person)
    assert keys.get(person) == key
    keys.delete(person)
    assert keys.get(person) is None
