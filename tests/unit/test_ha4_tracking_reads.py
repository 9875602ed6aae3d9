"""The inbox's duplicate check without a statement per delivery (issue 19, docs/capacity.md §5.18).

A consumer asked the store for its tracking (`SELECT MAX(notification_id)`) before every delivery: 24–28 statements
a journey on PostgreSQL (session 21), the largest class after the aggregate reads. The tracking row itself refuses a
position at or below the one it holds, in the transaction of the effects (the library's single-row upsert), so the
store is asked once per source and process; what this process knows recorded answers a copy of what it applied, and
the refusal (or a read after a handler's failure) answers a position another process recorded meanwhile. These tests
run two services on one SQLite file, as two replicas on one store.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from support.deliveries import decided

from services.outreach.application import OutreachApplication
from services.outreach.domain import Engagement

LEAN = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "PROCESS_RECORDER_TOPIC": "shared.kernel.store:LeanSQLiteProcessRecorder",
        "JUSOU_READMODELS_FOLLOW": "0"}


def outreach(path: Path, **env: str) -> Any:
    app: Any = OutreachApplication({**LEAN, "SQLITE_DBNAME": str(path), **env})
    reads: list[str] = []
    read = app.recorder.max_tracking_id

    def counted(name: str) -> int | None:
        reads.append(name)
        return read(name)

    app.recorder.max_tracking_id = counted
    app.tracking_reads = reads
    return app


@pytest.fixture
def pair(tmp_path: Path) -> Any:
    one, other = outreach(tmp_path / "outreach.sqlite"), outreach(tmp_path / "outreach.sqlite")
    yield one, other
    one.close()
    other.close()


def apply(app: Any, delivery: Any, many: bool) -> bool:
    return bool(app.receive_many([delivery]) == [True] if many else app.receive(*delivery))


def started(app: Any, case_id: Any) -> list[Any]:
    return [e for e in app.events_of(case_id) if isinstance(e, Engagement.Started)]


@pytest.mark.parametrize("many", [False, True], ids=["receive", "receive_many"])
def test_a_consumer_asks_the_store_for_its_tracking_once_not_before_every_delivery(pair: Any, many: bool) -> None:
    one, _ = pair
    cases = [uuid4() for _ in range(5)]
    for position, case_id in enumerate(cases, start=1):
        assert apply(one, decided(position, connect_to=["outreach"], case_id=case_id), many)
    assert one.tracking_reads == ["meeting"]  # was one a delivery: ["meeting"] * 5
    assert one.recorder.max_tracking_id("meeting") == 5
    assert all(len(started(one, case_id)) == 1 for case_id in cases)


@pytest.mark.parametrize("many", [False, True], ids=["receive", "receive_many"])
def test_a_copy_of_a_delivery_applied_here_is_a_duplicate_without_asking_the_store(pair: Any, many: bool) -> None:
    one, _ = pair
    deliveries = [decided(position, connect_to=["outreach"]) for position in (1, 2, 3)]
    for delivery in deliveries:
        assert apply(one, delivery, many)
    one.tracking_reads.clear()

    again = one.receive_many([deliveries[1]]) if many else one.receive(*deliveries[1])

    assert again == ([False] if many else False)
    assert one.tracking_reads == []
    assert len(started(one, deliveries[1][0].case_id)) == 1


@pytest.mark.parametrize("many", [False, True], ids=["receive", "receive_many"])
def test_a_position_another_replica_recorded_meanwhile_is_a_duplicate_and_records_nothing(pair: Any, many: bool) -> None:
    one, other = pair
    assert apply(one, decided(1, connect_to=["outreach"]), many)  # `one` knows position 1
    second = decided(2, connect_to=["outreach"])
    assert other.receive(*second)  # the other replica applied position 2 (its ack lost: delivered again to `one`)

    again = one.receive_many([second]) if many else one.receive(*second)

    assert again == ([False] if many else False)
    assert len(started(one, second[0].case_id)) == 1  # the effect once, not twice
    assert one.recorder.max_tracking_id("meeting") == 2
    third = decided(3, connect_to=["outreach"])
    assert apply(one, third, many)  # and the next goes on
    assert len(started(one, third[0].case_id)) == 1


@pytest.mark.parametrize("many", [False, True], ids=["receive", "receive_many"])
def test_a_handler_failing_on_a_position_recorded_elsewhere_is_a_duplicate_not_a_failure(
        pair: Any, many: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    one, other = pair
    assert apply(one, decided(1, connect_to=[]), many)
    second = decided(2, connect_to=["outreach"])
    assert other.receive(*second)

    def failing(domain_event: Any, processing_event: Any) -> None:
        raise RuntimeError("the state moved on: this handler refuses what it already did")

    monkeypatch.setattr(one, "policy", failing)
    again = one.receive_many([second]) if many else one.receive(*second)

    assert again == ([False] if many else False)  # acked as a duplicate, as the read before the handler said
    third = decided(3, connect_to=["outreach"])
    with pytest.raises(Exception, match="refuses what it already did"):  # a real failure is still one
        one.receive_many([third]) if many else one.receive(*third)
    assert one.recorder.max_tracking_id("meeting") == 2


def test_a_run_of_several_still_asks_the_store_once_for_its_middle(pair: Any) -> None:
    """A run's one tracking row (its last position) cannot refuse its middle: the run asks the store once."""
    one, other = pair
    assert one.receive(*decided(1, connect_to=[]))
    second, third = decided(2, connect_to=["outreach"]), decided(3, connect_to=["outreach"])
    assert other.receive(*second)
    one.tracking_reads.clear()

    assert one.receive_many([second, third]) == [False, True]

    assert one.tracking_reads == ["meeting"]
    assert len(started(one, second[0].case_id)) == 1
    assert len(started(one, third[0].case_id)) == 1


def test_a_legacy_multi_row_tracking_table_is_asked_before_every_delivery(tmp_path: Path) -> None:
    """Its key refuses only the same position, not an older one: the store is asked every time, as before."""
    app = outreach(tmp_path / "legacy.sqlite", SINGLE_ROW_TRACKING="f")
    try:
        for position in (1, 2, 3):
            assert app.receive(*decided(position, connect_to=[]))
        assert app.tracking_reads == ["meeting"] * 3
        assert app.receive(*decided(2, connect_to=[])) is False
    finally:
        app.close()


def test_the_relay_saves_its_position_without_asking_the_store_first(pair: Any) -> None:
    one, other = pair
    one.save_relay_position(5)
    other.save_relay_position(7)  # another replica's relay, further
    one.save_relay_position(6)  # refused by the row: 7 is saved
    one.save_relay_position(7)

    assert one.tracking_reads == []  # was one a save
    assert one.relay_position() == 7
    one.save_relay_position(9)
    assert other.relay_position() == 9
