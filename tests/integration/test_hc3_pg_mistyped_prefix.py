"""On PostgreSQL, a read-only command given a mistyped JUSOU_PG_SCHEMA_PREFIX made six empty schemas (and a cipher.key
in a data folder of that name) and `jusou audit verify` went on to report every event of JUSOU as unknown (the
operator review, session 21): it is now refused naming the schema and what to check, status 2, and nothing is made."""

from __future__ import annotations

import asyncio
from pathlib import Path
from uuid import uuid4

import nats as nats_py
import psycopg
import pytest
from support.servers import Nats, Postgres

from jusou.cli import main
from jusou.runner import create_streams, run_async


def schemas(postgres: Postgres, prefix: str) -> list[str]:
    with psycopg.connect(host=postgres.host, port=postgres.port, user=postgres.user, password=postgres.password,
                         dbname=postgres.dbname) as conn:
        return [row[0] for row in conn.execute("SELECT nspname FROM pg_namespace WHERE starts_with(nspname, %s)",
                                               (prefix,))]


@pytest.mark.parametrize("command", [["audit", "verify"], ["retention"]])
def test_a_read_only_command_with_a_mistyped_schema_prefix_is_refused_and_makes_no_schema(
        postgres: Postgres, nats: Nats, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str], command: list[str]) -> None:
    prefix = f"hc3typo{uuid4().hex[:6]}_"
    run_async(create_streams(nats.url))

    async def one_event() -> None:
        nc = await nats_py.connect(nats.url)
        try:
            await nc.jetstream().publish("jusou.intake.CaseOpened", b"{}", headers={"Nats-Msg-Id": "one"})
        finally:
            await nc.close()

    asyncio.run(one_event())
    for name, value in {**postgres.env(prefix), "NATS_URL": nats.url, "JUSOU_DATA_DIR": str(tmp_path / "dta")}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("JUSOU_CIPHER_KEY", raising=False)
    try:
        assert main(command) == 2
        err = capsys.readouterr().err
        assert f"{prefix}intake" in err and "JUSOU_PG_SCHEMA_PREFIX" in err and "Traceback" not in err, err
        assert schemas(postgres, prefix) == [] and not (tmp_path / "dta").exists()
    finally:
        postgres.drop_schemas(prefix)
