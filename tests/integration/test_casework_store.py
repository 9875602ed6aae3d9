"""支援経過記録 on real stores (issue 15): a note is encrypted at rest in its program's own store (SQLite and
PostgreSQL), and 担当者, the 経過記録 and 自分の担当 read back from the store and its read models."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from eventsourcing.persistence import MapperDeserialisationError
from support.municipality import LEAD
from support.servers import Postgres

from services.outreach.application import OutreachApplication
from shared.domain.casework import JST
from shared.kernel.store import pg_conninfo, store_env
from shared.settings import Settings
from shared.web.auth import Principal

WORKER = {"staff_id": "outreach-007", "division": LEAD}
READER = Principal("outreach-007", LEAD, frozenset({"outreach_worker"}))
SECRET = "母の年金を本人が管理している"


def write_case(app: OutreachApplication) -> object:
    case_id = app.start(WORKER, None, "民生委員", "長期のひきこもり")
    app.assign(WORKER, case_id, "main", "outreach-007")
    app.write_note(WORKER, case_id, datetime.now(JST) - timedelta(days=4), "訪問", "本人と母", SECRET, "月1回訪問",
                   "家計の相談につなぐ", (datetime.now(JST) - timedelta(days=1)).date())
    return case_id


def check_read_back(app: OutreachApplication, case_id: object) -> None:
    record = app.case_file(case_id)  # type: ignore[arg-type]
    assert record.main == "outreach-007" and [e.content for e in record.entries] == [SECRET]
    work = app.my_work("outreach-007", READER)
    assert [c.case_id for c in work.cases] == [str(case_id)] and [i.overdue for i in work.items] == [True]


@pytest.fixture
def sqlite_outreach(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[OutreachApplication]:
    monkeypatch.setenv("JUSOU_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("JUSOU_STORE", "sqlite")
    app = OutreachApplication(env=store_env(Settings.from_env("outreach")))
    yield app
    app.close()


def test_casework_a_note_is_encrypted_at_rest_on_sqlite(sqlite_outreach: OutreachApplication, tmp_path: Path) -> None:
    case_id = write_case(sqlite_outreach)

    raw = b"".join(p.read_bytes() for p in tmp_path.glob("outreach.sqlite*"))
    assert raw and SECRET.encode() not in raw and "本人と母".encode() not in raw
    check_read_back(sqlite_outreach, case_id)
    wrong_key = {**store_env(Settings.from_env("outreach")), "CIPHER_KEY": "A" * 43 + "=",
                 "JUSOU_READMODELS_FOLLOW": "0"}
    other = OutreachApplication(env=wrong_key)
    try:
        with pytest.raises(MapperDeserialisationError):
            other.case_file(case_id)  # type: ignore[arg-type]
    finally:
        other.close()


@pytest.mark.postgres
def test_casework_a_note_on_postgresql(postgres: Postgres, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import psycopg

    prefix = f"cw_{tmp_path.name[-8:].lower()}_"
    for key, value in postgres.env(prefix).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("JUSOU_DATA_DIR", str(tmp_path))
    settings = Settings.from_env("outreach")
    app = OutreachApplication(env=store_env(settings))
    try:
        case_id = write_case(app)
        check_read_back(app, case_id)
        with psycopg.connect(**pg_conninfo(settings), autocommit=True) as conn:
            tables = [t for (t,) in conn.execute(
                "select table_name from information_schema.tables where table_schema = %s", (settings.pg_schema,))]
            stored = b"".join(
                bytes(v) for t in tables for row in conn.execute(f'select * from "{settings.pg_schema}"."{t}"')
                for v in row if isinstance(v, bytes | memoryview))
        assert stored and SECRET.encode() not in stored and "本人と母".encode() not in stored
    finally:
        app.close()
        postgres.drop_schemas(prefix)
