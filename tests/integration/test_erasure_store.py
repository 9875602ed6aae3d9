"""Erasure by crypto-shredding on real stores (issue 6): SQLite files and a PostgreSQL schema.

A person with known name, kana, birth date, address and phone is received, shown and escalated,
then erased. Afterwards: the events are all still there (one more: `Person.Erased`), every read
of the person says 消去済み / erased, the search before create does not find them, the key's bytes
are in no file of the data folder (SQLite) or row of the schema (PostgreSQL), and a restart and a
rebuild of the read models from the store change none of that.
"""

from __future__ import annotations

import sqlite3
import zlib
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from uuid import UUID, uuid4

import pytest
from support.municipality import HARDSHIP
from support.servers import Postgres

from services.intake.application import IntakeApplication
from services.intake.domain import Person, PersonErased
from services.intake.keys import SQLiteKeys
from shared.domain.audit import disclosure_rows
from shared.kernel.journey import Invalid, NotFound
from shared.kernel.store import pg_conninfo, store_env
from shared.settings import Settings

STAFF = {"staff_id": "s-014", "division": HARDSHIP.division}
SUPERVISOR = {"staff_id": "kanri-001", "division": HARDSHIP.division}


def known_person() -> dict[str, str]:
    token = uuid4().hex[:6].upper()
    return {"name": f"深大寺 鶇{token}", "kana": f"じんだいじ つぐみ{token}", "birth_date": "1950-02-03",
            "address": f"調布市深大寺北町七丁目{token}", "phone": f"080-{token[:4]}-9{token[4:]}7"}


def needles(person: dict[str, str]) -> set[bytes]:
    return {person[f].encode() for f in ("name", "kana", "address", "phone")} | {
        person["phone"].replace("-", "").encode()}


def open_intake() -> IntakeApplication:
    return IntakeApplication(env=store_env(Settings.from_env("intake")))


def record(app: IntakeApplication, person: dict[str, str]) -> tuple[UUID, UUID]:
    """Receive, record consent, show the person on a legal basis and as a search candidate, escalate."""
    case_id = app.receive_consultation(STAFF, HARDSHIP.code, HARDSHIP.division, "電話", ["生活困窮", "住まい"],
                                       person, None, True)
    app.record_consent(STAFF, case_id, "関係機関との情報共有", True, "書面")
    assert app.disclose_person(STAFF, case_id, "own_counter", None)["name"] == person["name"]
    assert [p["name"] for p in app.find_people(STAFF, None, None, person["kana"], person["phone"])] == [person["name"]]
    app.escalate_case(STAFF, case_id, "複合", HARDSHIP.ja)
    return case_id, UUID(app.case_view(case_id)["person_ref"])


def assert_reads_as_erased(app: IntakeApplication, case_id: UUID, person_ref: UUID, person: dict[str, str]) -> None:
    """Every way intake reads the person: nothing of theirs, and the erasure recorded."""
    view = app.person_view(person_ref)
    assert view["name"] == Person.ERASED and view["erased"]["basis"] == "person_request"
    assert not any(view[f] for f in ("kana", "birth_date", "address", "phone"))
    assert app.disclose_person(STAFF, case_id, "own_counter", None)["name"] == Person.ERASED
    assert app.find_people(STAFF, person["name"], person["birth_date"], person["kana"], person["phone"]) == []
    registered = next(app.mapper.to_domain_event(n) for n in app.notifications()
                      if n.originator_id == person_ref and n.originator_version == 1)
    assert [getattr(registered, f) for f in Person.personal_fields] == [None] * 5, "the stored fields still decrypt"
    erasures = [r for r in disclosure_rows(app.person_rows(person_ref)) if r["action"] == "erased"]
    assert [(r["staff_id"], r["basis"]) for r in erasures] == [(SUPERVISOR["staff_id"], "person_request")]
    assert [r["event"] for r in app.history(case_id)].count("Person.Erased") == 1
    everything = repr([app.person_view(person_ref), app.history(case_id), app.person_rows(person_ref), app.cases(),
                       app.state_as_of(case_id), app.readmodels.view.dump()])
    assert not [n for n in needles(person) if n.decode() in everything]


def stored_key(app: IntakeApplication, person_ref: UUID) -> set[bytes]:
    """The person's key as it is kept (wrapped with the master key) and as it is used."""
    key = app.keys.get(person_ref)
    assert key is not None and len(key) == 32
    if isinstance(app.keys, SQLiteKeys):
        with closing(sqlite3.connect(app.keys.path)) as db:
            [(wrapped,)] = db.execute("select wrapped from person_keys where person_ref = ?", (str(person_ref),))
    else:
        settings = Settings.from_env("intake")
        import psycopg

        with psycopg.connect(**pg_conninfo(settings)) as conn:
            [(wrapped,)] = conn.execute(f'select wrapped from "{settings.pg_schema}".jusou_person_keys '
                                        "where person_ref = %s", (str(person_ref),)).fetchall()
    return {key, bytes(wrapped)}


def erase_and_check(app: IntakeApplication, person: dict[str, str]) -> tuple[UUID, UUID, set[bytes], int]:
    """Record, erase, check; (case, person, the person's key as kept and used, events in the store now)."""
    case_id, person_ref = record(app, person)
    key = stored_key(app, person_ref)
    history_before = app.history(case_id)
    stored_before = len(list(app.notifications()))

    erased = app.erase_person(SUPERVISOR, person_ref, "person_request", "本人からの削除請求（窓口で受付）")

    assert erased["name"] == Person.ERASED and app.keys.get(person_ref) is None
    assert len(list(app.notifications())) == stored_before + 1, "the events stay, one more records the erasure"
    history = app.history(case_id)
    assert [r["event"] for r in history] == [r["event"] for r in history_before] + ["Person.Erased"]
    assert history[:-1] == history_before, "the non-personal history of the case is unchanged"
    assert history[-1]["actor"]["staff_id"] == SUPERVISOR["staff_id"]
    with pytest.raises(PersonErased) as again:
        app.erase_person(SUPERVISOR, person_ref, "person_request", "二度目")
    assert again.value.status == 409 and "既に消去" in str(again.value)
    with pytest.raises(PersonErased):
        app.receive_consultation(STAFF, HARDSHIP.code, HARDSHIP.division, "窓口", ["生活困窮"], None,
                                 str(person_ref))
    assert_reads_as_erased(app, case_id, person_ref, person)
    return case_id, person_ref, key, len(list(app.notifications()))


def files_holding(root: Path, blobs: set[bytes]) -> list[str]:
    """Files under `root` (and the decompressed cells of each SQLite database) that hold any of `blobs`."""
    found = []
    for path in (p for p in root.rglob("*") if p.is_file()):
        data = path.read_bytes()
        if path.suffix == ".sqlite":
            with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
                for (table,) in db.execute("select name from sqlite_master where type = 'table'").fetchall():
                    for row in db.execute(f'select * from "{table}"'):
                        for cell in row:
                            if isinstance(cell, bytes):
                                try:
                                    data += zlib.decompress(cell)
                                except zlib.error:
                                    pass
        if any(blob in data for blob in blobs):
            found.append(path.name)
    return found


@pytest.fixture
def sqlite_intake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[IntakeApplication]:
    monkeypatch.setenv("JUSOU_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("JUSOU_STORE", "sqlite")
    app = open_intake()
    yield app
    app.close()


def test_erasure_on_sqlite_leaves_the_key_in_no_file_and_survives_a_restart_and_a_replay(
        sqlite_intake: IntakeApplication, tmp_path: Path) -> None:
    person = known_person()
    case_id, person_ref, key, stored = erase_and_check(sqlite_intake, person)
    keys_file = tmp_path / "intake.keys.sqlite"
    with closing(sqlite3.connect(keys_file)) as db:
        assert db.execute("select count(*) from person_keys where person_ref = ?", (str(person_ref),)).fetchone() == (0,)
        kept = db.execute("select wrapped from person_keys").fetchall()  # none: the only person is erased
    assert kept == []
    control = {str(case_id).encode()}  # in the clear by design: a scan that cannot find it proves nothing

    assert files_holding(tmp_path, control), "the scan found not even the case id"
    assert files_holding(tmp_path, key) == [], "the erased person's key is still in a file"
    assert files_holding(tmp_path, needles(person)) == []

    reopened = open_intake()  # a restart: a fresh index, read models and mapper over the same store
    try:
        assert len(list(reopened.notifications())) == stored
        assert_reads_as_erased(reopened, case_id, person_ref, person)
        live = reopened.readmodels.view.dump()
        reopened.readmodels.rebuild()  # `jusou replay intake`
        assert reopened.readmodels.view.dump() == live and reopened.readmodels.seal_mismatches == []
        assert_reads_as_erased(reopened, case_id, person_ref, person)
    finally:
        reopened.close()


def test_erasure_keeps_other_people_readable_and_refuses_what_it_cannot_do(sqlite_intake: IntakeApplication) -> None:
    kept, erased = known_person(), known_person()
    kept_case, kept_ref = record(sqlite_intake, kept)
    erase_and_check(sqlite_intake, erased)

    assert sqlite_intake.person_view(kept_ref)["name"] == kept["name"]
    assert sqlite_intake.find_people(STAFF, None, None, kept["kana"], kept["phone"])[0]["person_ref"] == str(kept_ref)
    with pytest.raises(NotFound):
        sqlite_intake.erase_person(SUPERVISOR, uuid4(), "person_request", "不明")
    with pytest.raises(NotFound):  # a case is not a person
        sqlite_intake.erase_person(SUPERVISOR, kept_case, "person_request", "ケース番号")
    with pytest.raises(Invalid):
        sqlite_intake.erase_person(SUPERVISOR, kept_ref, "because", "根拠なし")
    assert sqlite_intake.person_view(kept_ref)["erased"] is None


@pytest.fixture
def postgres_intake(postgres: Postgres, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[IntakeApplication]:
    import psycopg

    monkeypatch.setenv("JUSOU_DATA_DIR", str(tmp_path))
    for name, value in postgres.env(f"er_{uuid4().hex[:8]}_").items():
        monkeypatch.setenv(name, value)
    app = open_intake()
    try:
        yield app
    finally:
        app.close()
        settings = Settings.from_env("intake")
        with psycopg.connect(**pg_conninfo(settings), autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{settings.pg_schema}" CASCADE')


@pytest.mark.postgres
def test_erasure_on_postgresql_deletes_the_key_row_and_the_fields_stay_unreadable(
        postgres_intake: IntakeApplication) -> None:
    import psycopg

    person = known_person()
    case_id, person_ref, key, stored = erase_and_check(postgres_intake, person)
    settings = Settings.from_env("intake")
    with psycopg.connect(**pg_conninfo(settings)) as conn:
        keys = conn.execute(f'select person_ref from "{settings.pg_schema}".jusou_person_keys').fetchall()
        tables = conn.execute("select table_name from information_schema.tables where table_schema = %s",
                              (settings.pg_schema,)).fetchall()
        cells = b"".join(
            bytes(v) if isinstance(v, bytes | memoryview) else str(v).encode()
            for (table,) in tables
            for row in conn.execute(f'select * from "{settings.pg_schema}"."{table}"').fetchall() for v in row)
    assert keys == [], "the erased person's key row is still there"
    assert str(case_id).encode() in cells, "the table scan found not even the case id"
    assert not [k for k in key if k in cells]

    reopened = open_intake()  # a restart, or another replica on the same schema
    try:
        assert len(list(reopened.notifications())) == stored
        assert_reads_as_erased(reopened, case_id, person_ref, person)
        reopened.readmodels.rebuild()
        assert_reads_as_erased(reopened, case_id, person_ref, person)
    finally:
        reopened.close()
