"""`jusou replay` gives the read models the library's own reading gives (issue 19).

The replay reads the log as plain rows, decrypts without the library's per-call set-up and writes a
page on a second thread while it decodes the next. Whatever it saves, the rows must be those that the
library's `select_notifications`, its cipher and compressor and orjson give, event by event: the case
index, the person index, the aggregate catalogue, the quarantine (with the library's own words for a
damaged record) and the seal chain. Pages of 3 events make the rebuild many pages, each but the last
written beside the next one's decoding.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import orjson
import pytest
from eventsourcing.persistence import StoredEvent
from integration.test_readmodels import consult, store, write_unreadable
from support.servers import Postgres

from services.intake.application import IntakeApplication
from shared.kernel import readmodel
from shared.kernel.readmodel import GENESIS, kind_of, plain, seal
from shared.settings import Settings


def reference(app: IntakeApplication) -> tuple[dict[str, list[tuple[Any, ...]]], list[tuple[int, str]]]:
    """The read models' rows and the seal chain as the library reads the store (the code before issue 19)."""
    mapper = app.mapper
    cases, people, kinds, quarantine, seals = [], [], [], [], []
    chain = GENESIS
    for n in app.recorder.select_notifications(start=1, limit=1_000_000):
        try:
            data = mapper.compressor.decompress(mapper.cipher.decrypt(n.state))
            state = orjson.loads(data)
            case_id = (state.get("meta") or {}).get("case_id")
            case_row = None
            if case_id:
                case_row = (str(case_id), n.id, str(n.originator_id), n.originator_version, str(plain(state["timestamp"])))
            person_ref = plain(state.get("person_ref"))
        except Exception as exc:  # noqa: BLE001 - as the read models: any reason quarantines
            quarantine.append((n.id, str(n.originator_id), n.topic, f"{type(exc).__name__}: {exc}"[:500]))
        else:
            if case_row:
                cases.append(case_row)
            if person_ref:
                people.append((str(person_ref), n.id))
        if n.originator_version == 1:
            kinds.append((kind_of(n.topic), str(n.originator_id), n.id))
        chain = seal(chain, n)
        seals.append((n.id, chain))
    return {"case_events": sorted(cases), "person_events": sorted(people), "aggregates": sorted(kinds),
            "quarantine": sorted(quarantine)}, seals


def damage(app: IntakeApplication) -> list[int]:
    """Records the read models must quarantine: a number orjson refuses, a changed ciphertext, a cut one."""
    positions = [write_unreadable(app)]
    first = next(iter(app.recorder.select_notifications(start=1, limit=1)))
    changed = bytes([first.state[0], first.state[1] ^ 1]) + first.state[2:]  # the nonce changed: the tag fails
    for state in (changed, first.state[:20]):
        app.recorder.insert_events([StoredEvent(originator_id=first.originator_id, originator_version=100 + len(state),
                                                topic=first.topic, state=state)])
        positions.append(int(app.recorder.max_notification_id() or 0))
    return positions


def rebuilt_equals_reference(app: IntakeApplication, monkeypatch: pytest.MonkeyPatch) -> None:
    app.readmodels.catch_up()
    followed = app.readmodels.view.dump()
    expected, seals = reference(app)
    assert followed == expected  # followed live, 500 a page

    monkeypatch.setattr(readmodel, "REBUILD_BATCH", 3)
    pages: list[int] = []
    events = app.readmodels.rebuild(progress=pages.append)

    assert events == len(seals) and sum(pages) == events and len(pages) == -(-events // 3)
    assert app.readmodels.view.dump() == expected
    assert app.readmodels.view.seals(1, 1_000_000) == seals and app.readmodels.seal_mismatches == []
    reasons = [q[3] for q in expected["quarantine"]]
    assert reasons[0].startswith("JSONDecodeError: number") and reasons[1:] == [
        "ValueError: Invalid cipher tag", "ValueError: Damaged cipher text: invalid tag length"], reasons

    # a stored event changed after it was sealed: found, whether it opens a page (4) or not (8)
    recorder = app.recorder
    postgres = recorder.datastore.__class__.__module__ == "eventsourcing.postgres"
    table = f'"{recorder.datastore.schema}".{recorder.events_table_name}' if postgres else recorder.events_table_name
    key = "notification_id" if postgres else "rowid"
    with recorder.datastore.transaction(commit=True) as c:
        for position in (4, 8):
            c.execute(f"UPDATE {table} SET state = (SELECT state FROM {table} WHERE {key} = 2) WHERE {key} = {position}")
    app.readmodels.rebuild()
    assert app.readmodels.seal_mismatches == [4, 8]


def test_issue19_replay_on_sqlite_gives_the_rows_the_library_reads(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    app = store(tmp_path, monkeypatch)
    try:
        person = None
        for _ in range(4):
            case_id = consult(app, person)
            person = app.case_view(case_id)["person_ref"]
        consult(app)
        damage(app)
        # an aggregate id stored in capitals: the library reads it as UUID(...), and so must the replay
        db = sqlite3.connect(tmp_path / "intake.sqlite")
        with db:
            db.execute("UPDATE stored_events SET originator_id = upper(originator_id) WHERE rowid = 1")
        [(stored,)] = db.execute("SELECT originator_id FROM stored_events WHERE rowid = 1").fetchall()
        db.close()
        assert len(stored) == 32 and stored.isupper()

        rebuilt_equals_reference(app, monkeypatch)
    finally:
        app.close()


@pytest.mark.postgres
def test_issue19_replay_on_postgresql_gives_the_rows_the_library_reads(postgres: Postgres, tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import psycopg

    from shared.kernel.store import pg_conninfo

    for key, value in postgres.env(f"rq_{tmp_path.name[-8:].lower()}_").items():
        monkeypatch.setenv(key, value)
    app = store(tmp_path, monkeypatch)
    try:
        person = None
        for _ in range(3):
            case_id = consult(app, person)
            person = app.case_view(case_id)["person_ref"]
        damage(app)
        consult(app)
        rebuilt_equals_reference(app, monkeypatch)
    finally:
        app.close()
        settings = Settings.from_env("intake")
        with psycopg.connect(**pg_conninfo(settings), autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{settings.pg_schema}" CASCADE')
