"""Two replicas of a service on one PostgreSQL schema: what each part of the code does about the other.

Each test opens the same service twice in this process (two Applications on one schema, as two
replicas are) and makes the race happen on purpose, deterministically: both replicas read a
position before either saved it; a redelivered event both let past the inbox's check.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from support.municipality import ELDERLY
from support.poll import eventually
from support.servers import Nats, Postgres

from scaleout.conftest import drop_schemas
from services.collaboration.application import CollaborationApplication
from services.intake.application import IntakeApplication
from services.intake.translate import translate as intake_translate
from shared.contract.events import STREAM, envelope_json, parse
from shared.kernel.app import ServiceApplication
from shared.kernel.store import creating, store_env
from shared.messaging.bus import connect, ensure_streams
from shared.messaging.relay import Relay
from shared.settings import Settings

pytestmark = pytest.mark.postgres

STAFF = {"staff_id": "s-001", "division": ELDERLY.division}
PERSON = {"name": "調布 花子", "kana": "ちょうふ はなこ", "birth_date": "1950-04-01"}


@pytest.fixture
def replica_settings(postgres: Postgres, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                     ) -> Iterator[Callable[[str], Settings]]:
    prefix = f"ss{uuid.uuid4().hex[:8]}_"
    for name, value in {**postgres.env(prefix), "JUSOU_DATA_DIR": str(tmp_path), "JUSOU_PG_POOL_SIZE": "1"}.items():
        monkeypatch.setenv(name, value)
    try:
        yield Settings.from_env
    finally:
        drop_schemas(postgres, prefix)


def open_replicas(kind: type[ServiceApplication], settings: Settings, count: int = 2) -> list[Any]:
    """`count` replicas opening the store at the same moment (as `jusou cluster up` starts them)."""
    barrier = threading.Barrier(count)
    opened: list[Any] = []
    errors: list[BaseException] = []

    def start() -> None:
        barrier.wait()
        try:
            with creating(settings):
                opened.append(kind(env=store_env(settings)))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for app in opened if errors else ():
        app.close()
    assert not errors, f"a replica could not open the store: {errors[0]!r}"
    return opened


def escalated_case(intake: IntakeApplication) -> uuid.UUID:
    case_id = intake.receive_consultation(STAFF, ELDERLY.code, ELDERLY.division, "窓口", ["高齢・介護"], PERSON, None)
    intake.escalate_case(STAFF, case_id, "複合的な課題", ELDERLY.ja)
    return case_id


def test_replicas_starting_together_on_a_new_schema_create_it_once(replica_settings: Callable[[str], Settings]) -> None:
    replicas = open_replicas(IntakeApplication, replica_settings("intake"), count=3)
    try:
        case_id = escalated_case(replicas[0])
        assert [r.case_view(case_id)["status"] for r in replicas] == [replicas[0].case_view(case_id)["status"]] * 3
    finally:
        for replica in replicas:
            replica.close()


async def test_two_relays_on_one_store_publish_each_event_once_and_a_lagging_one_skips_what_was_saved(
    replica_settings: Callable[[str], Settings], nats: Nats
) -> None:
    first, second = open_replicas(IntakeApplication, replica_settings("intake"))
    nc = await connect(nats.url, "test-relays")
    js = nc.jetstream()
    await ensure_streams(nc)
    # Each relay polls only every minute: it runs when its own replica commits or when woken here.
    ahead = Relay(first, intake_translate, nc, poll_seconds=60)
    behind = Relay(second, intake_translate, nc, poll_seconds=60)
    saves: list[int] = []
    save = second.save_relay_position

    def saving(position: int) -> None:
        save(position)  # raises if a second save of one position were an error
        saves.append(position)

    second.save_relay_position = saving  # type: ignore[method-assign]
    attempts: list[str] = []
    publish = behind.js.publish

    async def counted(subject: str, *args: Any, **kwargs: Any) -> Any:
        attempts.append(subject)
        return await publish(subject, *args, **kwargs)

    behind.js.publish = counted  # type: ignore[method-assign]
    tasks = [asyncio.create_task(relay.run()) for relay in (behind, ahead)]
    try:
        # each relay's first round (its read of the empty store) done before anything is committed: under load
        # `behind`'s first read could come after the commits below and publish some of them itself
        await eventually(lambda: asyncio.sleep(0, all(r._loop is not None and r._store_read_at > float("-inf")
                                                      for r in (behind, ahead))), "relays")
        for _ in range(3):
            await asyncio.to_thread(escalated_case, first)  # wakes `ahead` only
        head = first.recorder.max_notification_id()
        await eventually(lambda: asyncio.to_thread(lambda: second.relay_position() == head), "the saved position")
        assert ahead.published == 6 and behind.published == 0 and behind.position == 0  # `behind` still at 0

        # Woken now, the lagging relay starts past what the other saved: it does not even try to
        # publish those events again (the stream would refuse them, but each refusal costs a retry).
        behind.wake()
        await eventually(lambda: asyncio.sleep(0, behind.position == head), "the lagging relay to move on")
        assert behind.published == 0 and attempts == []

        # Both read the saved position before either saved the next one, and both try to publish
        # the new events: each publish names the stream's last message it follows
        # (`Nats-Expected-Last-Subject-Sequence`), so the second copy is refused, the lagging relay
        # finds the stream ahead of it and moves on; saving the position the other saved is no error.
        second.off_commit(behind.wake)
        second.off_recorded(behind.recorded)  # nor handed what `second` records: it reads the store (as set below)
        await asyncio.to_thread(escalated_case, second)
        new_head = second.recorder.max_notification_id()
        second.relay_position = lambda: head  # type: ignore[method-assign]  # as `behind` read it
        # on PostgreSQL the relay reads the saved position with the events, in one statement (issue 19): as read then
        behind._saved_and_pending = lambda position, limit: (  # type: ignore[method-assign]
            head, second.recorder.select_notifications(start=position + 1, limit=limit))
        ahead._store_read_at = float("-inf")  # its poll is due: another replica's commits are found by the poll
        ahead.wake()
        await eventually(lambda: asyncio.to_thread(lambda: first.relay_position() == new_head), "`ahead` to save")
        behind.wake()
        await eventually(lambda: asyncio.sleep(0, saves[-1] == new_head or tasks[0].done()), "`behind` to save")
        assert not tasks[0].done(), tasks[0].exception()
        # what `behind` saved rises and ends where `ahead` saved (no error); whether it also saved `head` on the way
        # depends on when its save was due (SAVE_EVERY_SECONDS), which a loaded machine moves: [9, 12], [12], [11, 12]
        assert saves[-1] == new_head and saves == sorted(set(saves)) and saves[0] >= head, saves
        # whichever publishes a new event first has it; the other's copy is refused (its expected last sequence):
        # each event once (ahead's 6 and 2 more between them; a loaded machine lets `behind` win some)
        assert behind.published + ahead.published == 8 and ahead.published >= 6, (behind.published, ahead.published)
        info = await js.stream_info(STREAM)
        assert info.state.messages == 8
        msgs = [await js.get_msg(STREAM, seq) for seq in range(1, 9)]
        positions = [parse(m.data or b"")[0].source_position for m in msgs]
        assert positions == sorted(positions) and len(set(positions)) == 8
    finally:
        for relay in (behind, ahead):
            relay.wake()  # out of its 60-s wait before the cancel
        await asyncio.sleep(0.1)
        for task in tasks:
            task.cancel()
        await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), timeout=10)
        await nc.close()
        first.close()
        second.close()


def test_an_event_both_replicas_let_past_the_inbox_check_is_applied_once(
    replica_settings: Callable[[str], Settings]
) -> None:
    intake = IntakeApplication(env=store_env(replica_settings("intake")))
    one, other = open_replicas(CollaborationApplication, replica_settings("collaboration"))
    try:
        case_id = escalated_case(intake)
        escalated = next(n for n in intake.notifications() if n.topic.endswith("Case.Escalated"))
        envelope = intake_translate(intake.mapper.to_domain_event(escalated), escalated.id)
        assert envelope is not None
        envelope, payload = parse(envelope_json(envelope))
        checked = other.recorder.has_tracking_id

        def stale_check(name: str, position: int) -> bool:
            # The redelivery reached `other` while `one` was still committing: its check saw nothing.
            other.recorder.has_tracking_id = checked  # type: ignore[method-assign]
            return False

        assert one.receive(envelope, payload) is True
        applied = [n.id for n in one.notifications()]
        assert applied
        other.recorder.has_tracking_id = stale_check  # type: ignore[method-assign]
        assert other.receive(envelope, payload) is False  # the tracking record's uniqueness caught it
        assert [n.id for n in other.notifications()] == applied  # nothing recorded the second time
        assert [r["event"] for r in other.history(case_id)] == [r["event"] for r in one.history(case_id)]
    finally:
        intake.close()
        one.close()
        other.close()


def test_read_models_and_the_people_index_follow_the_shared_store_in_each_replica(
    replica_settings: Callable[[str], Settings]
) -> None:
    first, second = open_replicas(IntakeApplication, replica_settings("intake"))
    try:
        made = [escalated_case(first if i % 2 else second) for i in range(6)]  # both write, both index
        for replica in (first, second):
            assert [view["case_id"] for view in replica.cases()] == [str(c) for c in made]
            found = replica.find_people(STAFF, PERSON["name"], PERSON["birth_date"], None, None)
            assert len(found) == 6  # a person registered at either replica is found at both
        # Both followers indexed the one store into the one view, racing: the view must be what one
        # follower alone builds from scratch, its seal chain unbroken.
        for replica in (first, second):
            replica.readmodels.stop()
            replica.readmodels.catch_up()
        assert first.readmodels.position() == first.recorder.max_notification_id()
        raced = first.readmodels.view.dump()
        sealed = first.readmodels.view.seals(1, 10_000)
        assert [p for p, _ in sealed] == [n.id for n in first.notifications()]
        first.readmodels.rebuild()
        assert first.readmodels.view.dump() == raced and raced["case_events"]
        assert first.readmodels.seal_mismatches == second.readmodels.seal_mismatches == []
    finally:
        first.close()
        second.close()
