"""Personal information is encrypted at rest and never on the bus (issue 6).

A person with an unusual name, kana, phone and address is received at a counter and shown to
staff; then those strings, in UTF-8 and the other encodings Japanese text is commonly stored
in (UTF-16, Shift_JIS, EUC-JP, ISO-2022-JP, JSON `\\uXXXX` escapes), are looked for in every
file of the data folder (SQLite stores and their WAL, read-model files, the nats-server's
JetStream files, the logs) and every SQLite cell decompressed (compression alone would hide
the text from a byte scan), in every row of the services' PostgreSQL schemas, and in every
message of the `JUSOU`, `JUSOU_DLQ` and `JUSOU_REPLAY` streams. Each scan also looks for the case id, which is
meant to be there in the clear: a scan that cannot find it proves nothing.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
import zlib
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import pytest
from support.auth import reader
from support.municipality import ELDERLY
from support.servers import Postgres

from jusou.runner import Suite
from security.conftest import COUNTER_STAFF, SERVICES, distinct_free_ports
from security.seed import wait_for
from shared.contract.events import DEAD_LETTER_STREAM, REPLAY_STREAM, STREAM
from shared.messaging.bus import connect

ENCODINGS = ("utf-8", "utf-16-le", "utf-16-be", "cp932", "euc_jp", "iso2022_jp")


def unusual_person() -> dict[str, str]:
    token = uuid.uuid4().hex[:6].upper()
    digits = str(uuid.uuid4().int)[:8]
    return {"name": f"轟 鶇鵺{token}", "kana": f"とどろき つぐみぬえ{token}", "birth_date": "1951-07-07",
            "phone": f"090-{digits[:4]}-{digits[4:]}", "address": f"調布市深大寺元町九丁目{token}番地"}


def needles(person: dict[str, str]) -> dict[str, set[bytes]]:
    """What to look for: each field (and its distinctive parts) in every encoding it could be stored in."""
    found: dict[str, set[bytes]] = {}
    for field in ("name", "kana", "phone", "address"):
        value = person[field]
        parts = {value, *(p for p in value.split() if len(p) >= 3)}
        if field == "phone":
            parts.add(value.replace("-", ""))
        forms: set[bytes] = set()
        for part in parts:
            for encoding in ENCODINGS:
                try:
                    forms.add(part.encode(encoding))
                except UnicodeEncodeError:
                    pass
            forms.add(json.dumps(part).strip('"').encode())  # JSON with ensure_ascii: \u8f5f…
        found[field] = forms
    return found


def leaks(blob: bytes, wanted: dict[str, set[bytes]]) -> list[str]:
    return [field for field, forms in wanted.items() if any(form in blob for form in forms)]


def record_person(urls: dict[str, str], person: dict[str, str]) -> str:
    """Receive the person at a counter, record consent, escalate, show the person to staff; wait for the bus."""
    with httpx.Client(timeout=15, trust_env=False) as http:
        made = http.post(urls["intake"] + "/consultations", headers=COUNTER_STAFF, json={
            "counter": ELDERLY.code, "channel": "電話", "concerns": ["高齢・介護", "家計・債務"],
            "person": person, "confirm_new_person": True})
        assert made.status_code == 201, made.text
        case_id: str = made.json()["case_id"]
        for path, body in ((f"/cases/{case_id}/consent", {"scope": "関係機関との情報共有", "granted": True, "method": "書面"}),
                           (f"/cases/{case_id}/escalate", {"reason": "複合", "primary_agency": ELDERLY.ja})):
            assert http.post(urls["intake"] + path, json=body, headers=COUNTER_STAFF).status_code == 200
        shown = http.get(urls["intake"] + f"/cases/{case_id}/person", params={"basis": "own_counter"},
                         headers=COUNTER_STAFF)
        assert shown.status_code == 200 and shown.json()["name"] == person["name"], shown.text
        found = http.get(urls["intake"] + "/persons/search", params={"kana": person["kana"], "phone": person["phone"]},
                         headers=COUNTER_STAFF)
        assert found.status_code == 200 and found.json(), found.text
        wait_for(lambda: http.get(urls["collaboration"] + f"/cases/{case_id}", headers=reader()).status_code == 200,
                 "collaboration to open the case from the bus")

        def relays_done() -> bool:
            states = [http.get(url + "/readyz").json() for url in urls.values()]
            return all(s["relay_position"] == s["store_position"] for s in states)

        wait_for(relays_done, "every relay to publish what its store holds")
    return case_id


def readable(value: bytes) -> bytes:
    """The value and, if it is zlib data, what it decompresses to: compression alone is not encryption."""
    try:
        return value + b"\n" + zlib.decompress(value)
    except zlib.error:
        return value


def sqlite_cells(path: Path) -> list[bytes]:
    """Every cell of every table of a SQLite database (read-only), as bytes."""
    cells: list[bytes] = []
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)) as db:
        for (table,) in db.execute("select name from sqlite_master where type = 'table'").fetchall():
            for row in db.execute(f'select * from "{table}"').fetchall():
                cells += [readable(v) if isinstance(v, bytes) else str(v).encode() for v in row]
    return cells


def scan_files(root: Path, wanted: dict[str, set[bytes]]) -> tuple[dict[str, list[str]], int]:
    """Leaks per file under `root` (stores, WAL, read models, JetStream, logs), also inside each SQLite
    database's decompressed cells; how many files were read."""
    found: dict[str, list[str]] = {}
    files = []
    for path in (p for p in root.rglob("*") if p.is_file()):
        try:
            data = path.read_bytes()
        except FileNotFoundError:  # a running server's temporary file, renamed over its own since (nats-server's
            continue  # consumer state, o.dat.tmp → o.dat: the file it became is read too)
        files.append(path)
        hits = leaks(data, wanted)
        if path.suffix == ".sqlite":
            hits += [field for cell in sqlite_cells(path) for field in leaks(cell, wanted)]
        if hits:
            found[str(path.relative_to(root))] = sorted(set(hits))
    return found, len(files)


async def stream_messages(suite: Suite) -> list[bytes]:
    """Every message of JUSOU, JUSOU_DLQ and JUSOU_REPLAY (headers and data), read one by one by sequence."""
    nc = await connect(suite.nats_url, "encryption-test", *suite.nats_operator())
    try:
        js = nc.jetstream()
        blobs = []
        for stream in (STREAM, DEAD_LETTER_STREAM, REPLAY_STREAM):
            state = (await js.stream_info(stream)).state
            for seq in range(state.first_seq, state.last_seq + 1) if state.messages else ():
                msg = await js.get_msg(stream, seq)
                blobs.append(json.dumps(msg.headers or {}, ensure_ascii=False).encode() + b"\n" + (msg.data or b""))
        return blobs
    finally:
        await nc.close()


async def check_nothing_personal_at_rest(suite: Suite, data_dir: Path) -> dict[str, Any]:
    urls = {name: suite.url(name) for name in SERVICES}
    person = unusual_person()
    case_id = record_person(urls, person)
    wanted = needles(person)
    control = {"case_id": {case_id.encode()}}  # in the clear by design: the scans must find it

    leaked_files, read = scan_files(data_dir, wanted)
    messages = await stream_messages(suite)

    assert read > 0 and scan_files(data_dir, control)[0], "the file scan found not even the case id"
    assert any(leaks(m, control) for m in messages), "the stream scan found not even the case id"
    assert leaked_files == {}, f"personal information found in files: {leaked_files}"
    leaked_messages = [m[:300] for m in messages if leaks(m, wanted)]
    assert leaked_messages == [], f"personal information found on the bus: {leaked_messages}"
    return {"person": person, "case_id": case_id, "wanted": wanted, "control": control}


async def test_no_personal_information_in_sqlite_files_logs_or_streams(own_suite: Suite) -> None:
    await check_nothing_personal_at_rest(own_suite, own_suite.data_dir)


@pytest.fixture
def postgres_suite(postgres: Postgres, tmp_path: Path) -> Iterator[tuple[Suite, Postgres, str]]:
    prefix = f"enc{uuid.uuid4().hex[:8]}_"
    *service_ports, nats_port = distinct_free_ports(len(SERVICES) + 1)
    try:
        with Suite(tmp_path / "data", nats_port=nats_port, ports=dict(zip(SERVICES, service_ports, strict=True)),
                   extra_env=postgres.env(prefix)) as running:
            yield running, postgres, prefix
    finally:
        postgres.drop_schemas(prefix)


def table_rows(postgres: Postgres, prefix: str) -> dict[str, list[bytes]]:
    """Every row of every table in the services' schemas, each value as the bytes PostgreSQL holds."""
    import psycopg
    from psycopg import sql

    rows: dict[str, list[bytes]] = {}
    with psycopg.connect(host=postgres.host, port=postgres.port, user=postgres.user, password=postgres.password,
                         dbname=postgres.dbname) as conn:
        tables = conn.execute("select table_schema, table_name from information_schema.tables "
                              "where table_schema like %s", (prefix + "%",)).fetchall()
        for schema, table in tables:
            query = sql.SQL("select * from {}.{}").format(sql.Identifier(schema), sql.Identifier(table))
            rows[f"{schema}.{table}"] = [
                b"|".join(readable(bytes(v)) if isinstance(v, bytes | memoryview) else str(v).encode() for v in row)
                for row in conn.execute(query).fetchall()
            ]
    return rows


@pytest.mark.postgres
async def test_no_personal_information_in_postgresql_tables_logs_or_streams(
        postgres_suite: tuple[Suite, Postgres, str]) -> None:
    suite, postgres, prefix = postgres_suite

    found = await check_nothing_personal_at_rest(suite, suite.data_dir)
    rows = table_rows(postgres, prefix)

    assert {t.split(".")[0] for t in rows} == {prefix + s for s in SERVICES}, sorted(rows)
    assert any(leaks(r, found["control"]) for table in rows.values() for r in table), \
        "the table scan found not even the case id"
    leaked = {table: len([r for r in table_rows_ if leaks(r, found["wanted"])]) for table, table_rows_ in rows.items()}
    assert not any(leaked.values()), f"personal information found in PostgreSQL rows: {leaked}"
    stored = sum(len(r) for r in rows.values())
    assert stored > 0
