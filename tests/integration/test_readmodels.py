"""Read models on real stores (SQLite files with the production cipher, and PostgreSQL):
followed live, rebuilt equal, sealed against tampering."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

import pytest
from support.municipality import ELDERLY
from support.servers import Postgres
from unit.builders import COUNTER_STAFF, PERSON

from services.intake.application import IntakeApplication
from services.intake.domain import Case
from shared.kernel.app import ServiceApplication
from shared.kernel.readmodel import plain
from shared.kernel.store import store_env
from shared.settings import Settings


def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, follow: str = "0") -> IntakeApplication:
    monkeypatch.setenv("JUSOU_DATA_DIR", str(tmp_path))
    return IntakeApplication(env=store_env(Settings.from_env("intake")) | {"JUSOU_READMODELS_FOLLOW": follow})


def consult(app: IntakeApplication, person_ref: str | None = None) -> UUID:
    case_id = app.receive_consultation(COUNTER_STAFF, ELDERLY.code, ELDERLY.division, "電話", ["高齢・介護"],
                                       None if person_ref else dict(PERSON), person_ref)
    app.record_consent(COUNTER_STAFF, case_id, "重層的支援会議での情報共有", True, "書面")
    app.disclose_person(COUNTER_STAFF, case_id, "own_counter", None)
    return case_id


@pytest.fixture
def intake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[IntakeApplication]:
    app = store(tmp_path, monkeypatch)
    yield app
    app.close()


def test_d15_the_case_index_gives_exactly_the_case_events_a_full_scan_finds(intake: IntakeApplication) -> None:
    cases = [consult(intake) for _ in range(5)]
    for case_id in cases:
        by_scan = [n.id for n in intake.notifications()
                   if (getattr(intake.mapper.to_domain_event(n), "meta", None) or {}).get("case_id") == str(case_id)]
        assert intake.case_positions(case_id) == by_scan and len(by_scan) == 3
        assert [r["event"] for r in intake.history(case_id)] == ["Case.Received", "Case.ConsentRecorded",
                                                                  "Case.PersonDisclosed"]
    assert intake.ids_of(Case) == cases


def test_the_index_reads_stored_events_as_the_domain_events_say(intake: IntakeApplication) -> None:
    """The index peeks at decrypted JSON instead of rebuilding events; both must agree."""
    consult(intake)
    for notification in intake.notifications():
        event = intake.mapper.to_domain_event(notification)
        peeked = intake.readmodels.peek(notification)
        assert plain(peeked["timestamp"]) == event.timestamp.isoformat()
        assert (peeked.get("meta") or {}).get("case_id") == (getattr(event, "meta", None) or {}).get("case_id")
        assert plain(peeked.get("person_ref")) == getattr(event, "person_ref", None)


def test_d15_rebuilt_read_models_equal_the_ones_followed_live(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    live = store(tmp_path, monkeypatch, follow="1")  # the follower thread indexes as commits happen
    try:
        person = None
        for _ in range(4):
            case_id = consult(live, person)
            person = live.case_view(case_id)["person_ref"]
        live.readmodels.catch_up()
        followed = live.readmodels.view.dump()
        assert len(followed["case_events"]) == 12 and len(followed["person_events"]) >= 4
        events = live.readmodels.rebuild()
        assert events == live.recorder.max_notification_id()
        assert live.readmodels.view.dump() == followed
        assert live.readmodels.seal_mismatches == []
    finally:
        live.close()


def test_d10_disclosures_are_found_by_person(intake: IntakeApplication) -> None:
    first = consult(intake)
    person = intake.case_view(first)["person_ref"]
    second = consult(intake, person)
    rows = [r for r in intake.person_rows(UUID(person)) if r["event"] == "Case.PersonDisclosed"]
    assert [r["case_id"] for r in rows] == [str(first), str(second)]


def test_d15_a_changed_stored_event_breaks_the_seal_chain(tmp_path: Path, intake: IntakeApplication) -> None:
    consult(intake)
    consult(intake)
    intake.readmodels.catch_up()
    db = sqlite3.connect(tmp_path / "intake.sqlite")
    positions = [r[0] for r in db.execute("SELECT rowid FROM stored_events WHERE topic LIKE '%Case.Received'")]
    states = [r[0] for r in db.execute("SELECT state FROM stored_events WHERE topic LIKE '%Case.Received'")]
    with db:
        db.execute("UPDATE stored_events SET state = ? WHERE rowid = ?", (states[1], positions[0]))
    db.close()
    intake.readmodels.rebuild()
    assert intake.readmodels.seal_mismatches == [positions[0]]


@pytest.mark.postgres
def test_d15_read_models_on_postgresql(postgres: Postgres, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import psycopg

    for key, value in postgres.env(f"rm_{tmp_path.name[-8:].lower()}_").items():
        monkeypatch.setenv(key, value)
    app = store(tmp_path, monkeypatch)
    try:
        cases = [consult(app) for _ in range(3)]
        bad = write_unreadable(app)  # issue 13 item 6: quarantined on PostgreSQL too
        assert [len(app.history(c)) for c in cases] == [3, 3, 3] and app.ids_of(Case) == cases
        assert [q["position"] for q in app.readmodels.quarantined()] == [bad]
        followed = app.readmodels.view.dump()
        app.readmodels.rebuild()
        assert app.readmodels.view.dump() == followed and app.readmodels.seal_mismatches == []
    finally:
        app.close()
        settings = Settings.from_env("intake")
        from shared.kernel.store import pg_conninfo

        with psycopg.connect(**pg_conninfo(settings), autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{settings.pg_schema}" CASCADE')


# -- issue 13 item 6: a record the read models cannot read is quarantined, never a stop ----------

HUGE = int("9" * 401)  # what POST /resources once accepted as a capacity; orjson refuses it


def write_unreadable(app: ServiceApplication, *, originator_id: UUID | None = None, version: int = 1,
                     like: str = "Case.Received", field: str = "capacity") -> int:
    """Write straight into the store a record the read models cannot read: a copy of the first event of
    type `like` with a 401-digit number as `field`, encrypted as the service would. Its store position."""
    import json
    from uuid import uuid4

    from eventsourcing.persistence import StoredEvent

    first = next(n for n in app.notifications() if n.topic.endswith(like))
    fields = app.readmodels.peek(first) | {field: HUGE}
    data = json.dumps(fields).encode()
    if app.mapper.compressor is not None:
        data = app.mapper.compressor.compress(data)
    if app.mapper.cipher is not None:
        data = app.mapper.cipher.encrypt(data)
    app.recorder.insert_events([StoredEvent(originator_id=originator_id or uuid4(), originator_version=version,
                                            topic=first.topic, state=data)])
    return int(app.recorder.max_notification_id() or 0)


def test_issue6_an_unreadable_record_is_quarantined_and_the_read_models_go_on(intake: IntakeApplication) -> None:
    before = consult(intake)
    bad = write_unreadable(intake)
    after = consult(intake)

    assert intake.readmodels.catch_up() > 0  # no exception: the records after it are indexed too
    assert intake.ids_of(Case) == [before, after]  # the lists leave the unreadable aggregate out
    assert [len(intake.history(c)) for c in (before, after)] == [3, 3]
    [quarantined] = intake.readmodels.quarantined()
    assert quarantined["position"] == bad and quarantined["topic"].endswith("Case.Received")
    assert quarantined["reason"].startswith("JSONDecodeError: number"), quarantined  # why, as orjson said it
    assert intake.readmodels.position() == intake.recorder.max_notification_id()


def test_issue6_an_aggregate_with_an_unreadable_later_record_is_left_out_of_the_lists(
        intake: IntakeApplication) -> None:
    kept, spoiled = consult(intake), consult(intake)
    bad = write_unreadable(intake, originator_id=spoiled, version=4)

    assert intake.ids_of(Case) == [kept]
    assert intake.state_as_of(kept) and not intake.state_as_of(spoiled)
    assert [q["position"] for q in intake.readmodels.quarantined()] == [bad]


def test_issue6_a_rebuild_quarantines_the_same_records_and_seals_them(intake: IntakeApplication) -> None:
    consult(intake)
    write_unreadable(intake)
    consult(intake)
    intake.readmodels.catch_up()
    followed = intake.readmodels.view.dump()

    intake.readmodels.rebuild()

    assert intake.readmodels.view.dump() == followed and len(followed["quarantine"]) == 1
    assert intake.readmodels.seal_mismatches == []
    assert [p for p, _ in intake.readmodels.view.seals(1, 100)] == list(range(1, intake.recorder.max_notification_id() + 1))
