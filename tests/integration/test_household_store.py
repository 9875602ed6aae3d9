"""Households on real stores (issue 15, D16 D17): SQLite files and a PostgreSQL schema.

A household formed, a member added and one removed, read back after a restart (the members' 続柄 sealed with
each member's key: no plaintext in any file or row); two of its cases escalated together; a case note sealed
with the person's key, so that the person's erasure makes the note and their 続柄 unreadable."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from uuid import UUID, uuid4

import pytest
from support.municipality import ELDERLY
from support.servers import Postgres

from services.intake.application import IntakeApplication
from services.intake.keys import NOTE_ERASED
from shared.domain.casework import JST
from shared.kernel.store import pg_conninfo, store_env
from shared.settings import Settings

STAFF = {"staff_id": "s-016", "division": ELDERLY.division}


@dataclass(frozen=True)
class Reader:
    division: str = ELDERLY.division
    roles: frozenset[str] = field(default_factory=lambda: frozenset({"counselor"}))
    staff_id: str = "s-016"


def open_intake() -> IntakeApplication:
    return IntakeApplication(env=store_env(Settings.from_env("intake")))


def receive(app: IntakeApplication, name: str, phone: str) -> UUID:
    return app.receive_consultation(STAFF, ELDERLY.code, ELDERLY.division, "来所", ["高齢・介護"],
                                    {"name": name, "kana": "", "birth_date": None, "address": None, "phone": phone},
                                    None, True)


def walk(token: str) -> None:
    app = open_intake()
    try:
        mother, son = receive(app, f"柴崎 母{token}", "042-111-0001"), receive(app, f"柴崎 子{token}", "042-111-0002")
        household = app.form_household(STAFF, mother)
        son_ref = app.case_view(son)["person_ref"]
        app.add_member(STAFF, household, "child", person_ref=son_ref)
        lodger = app.add_member(STAFF, household, "other", person={
            "name": f"同居人{token}", "kana": "", "birth_date": None, "address": None, "phone": None},
            confirm_new_person=True)
        app.remove_member(STAFF, household, lodger)
        app.escalate_household(STAFF, household, [mother, son], "8050", ELDERLY.ja)
        app.write_note(STAFF, son, datetime.now(JST) - timedelta(minutes=5), "訪問", "本人",
                       f"部屋から出てこない{token}")
    finally:
        app.close()
    again = open_intake()
    try:
        assert again.household_of(son_ref) == household, "read back after a restart"
        view = again.household_view(Reader(), household)
        assert [(m["name"], m["relation"]) for m in view["members"]] == [
            (f"柴崎 母{token}", "self"), (f"柴崎 子{token}", "child")]
        assert [f["person_ref"] for f in view["former"]] == [lodger]
        assert [again.case_view(c)["status"] for c in (mother, son)] == ["escalated", "linked"]
        assert again.case_file(son).entries[0].content == f"部屋から出てこない{token}"
        again.erase_person(STAFF, UUID(son_ref), "person_request", "本人の請求")
        assert again.case_file(son).entries[0].content == NOTE_ERASED
        erased = again._household(household).members[1]
        assert erased["person_ref"] == son_ref and erased["relation"] is None, "the 続柄 erased with the member"
        shown = again.household_view(Reader(), household)["members"][1]
        assert (shown["shown"], shown["erased"], "name" in shown) == (False, True, False)
    finally:
        again.close()


def test_households_on_sqlite_read_back_sealed_and_erased(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUSOU_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("JUSOU_STORE", "sqlite")
    token = uuid4().hex[:6].upper()

    walk(token)

    for path in tmp_path.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert f"部屋から出てこない{token}".encode() not in data and b"child" not in data, path


@pytest.mark.postgres
def test_households_on_postgresql_read_back_sealed_and_erased(
        postgres: Postgres, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import psycopg

    monkeypatch.setenv("JUSOU_DATA_DIR", str(tmp_path))
    for name, value in postgres.env(f"hh_{uuid4().hex[:8]}_").items():
        monkeypatch.setenv(name, value)
    token = uuid4().hex[:6].upper()
    settings = Settings.from_env("intake")
    try:
        walk(token)
        with psycopg.connect(**pg_conninfo(settings), autocommit=True) as conn:
            tables = [t for (t,) in conn.execute(
                "SELECT table_name FROM information_schema.columns WHERE table_schema = %s AND column_name = 'state'",
                (settings.pg_schema,)).fetchall()]
            rows = [bytes(r[0]) for t in tables for r in conn.execute(
                f'SELECT state FROM "{settings.pg_schema}"."{t}"').fetchall()]
            assert rows and all(f"部屋から出てこない{token}".encode() not in r for r in rows)
    finally:
        with psycopg.connect(**pg_conninfo(settings), autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{settings.pg_schema}" CASCADE')
