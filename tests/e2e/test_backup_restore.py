"""Backup and restore (issue 17), as docs/operations.md tells an operator to do it.

A suite runs and records; `jusou backup` copies it while it runs; the suite, its NATS and the whole
`JUSOU` stream are thrown away; `jusou restore` puts the backup on an empty data folder; the suite
starts on it with a new, empty NATS; every relay publishes its store again in store order; and
`jusou audit verify` finds every store and the stream in agreement. `jusou retention` then reads the
restored record (保存年限) and erases a person past the period. A backup refuses a folder that
is not empty, and a restore refuses a non-empty data folder and a backup whose bytes were changed.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from support.auth import AUTH_DIR, reader, token
from support.journey import Journey
from support.municipality import ELDERLY
from support.poll import eventually
from support.servers import Postgres, free_port, nats_server

from jusou.backup import Refused, backup, restore, store_positions
from jusou.runner import Suite
from shared import settings
from shared.contract.events import STREAM

SERVICES = ("intake", "collaboration", "meeting", "outreach", "participation", "community")


def jusou(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """The `jusou` command as a new process, as an operator runs it."""
    return subprocess.run([str(Path(sys.executable).parent / "jusou"), *args], env=env, capture_output=True,
                          text=True, timeout=120, check=False)


def suite_env(suite: Suite, **changes: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JUSOU_")}
    env |= {"JUSOU_DATA_DIR": str(suite.data_dir), "NATS_URL": suite.nats_url, "JUSOU_STORE": "sqlite",
            "JUSOU_AUTH_DIR": str(AUTH_DIR), "COLUMNS": "160"}
    env |= {f"JUSOU_{n.upper()}_PORT": str(urlsplit(suite.url(n)).port) for n in suite.services}
    return env | changes


async def settled(client: httpx.AsyncClient, suite: Suite) -> dict[str, dict[str, Any]]:
    """Every relay has published all its store holds and saved that position (what verify reads)."""
    async def probe() -> dict[str, dict[str, Any]] | None:
        ready = {name: (await client.get(suite.url(name) + "/readyz")).json() for name in suite.services}
        if all(r["relay_saved_position"] == r["relay_position"] == r["store_position"] for r in ready.values()):
            return ready
        return None

    return await eventually(probe, "every relay to publish its whole store", deadline_s=60)


async def stream_subjects(url: str) -> list[tuple[str, int]]:
    """(source, source_position) of every message on JUSOU, in stream order."""
    import nats

    nc = await nats.connect(url)  # the tests' NATS has no users
    try:
        js = nc.jetstream()
        info = await js.stream_info(STREAM)
        found = []
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            body = json.loads((await js.get_msg(STREAM, seq)).data)
            found.append((body["source"], body["source_position"]))
        return found
    finally:
        await nc.close()


def in_env(env: dict[str, str], monkeypatch: pytest.MonkeyPatch, work: Any) -> Any:
    """A backup or restore in this process (the commands' own functions: no process start) under `env`."""
    with monkeypatch.context() as patched:
        for name in [n for n in os.environ if n.startswith("JUSOU_")]:
            patched.delenv(name)
        for name, value in env.items():
            patched.setenv(name, value)
        return work(settings.current())


def refusal(env: dict[str, str], monkeypatch: pytest.MonkeyPatch, work: Any) -> str:
    with pytest.raises(Refused) as refused:
        in_env(env, monkeypatch, work)
    return str(refused.value)


async def journey_case(client: httpx.AsyncClient, suite: Suite, case_id: str) -> dict[str, Any]:
    async def closed() -> dict[str, Any] | None:
        found: dict[str, Any] = (await client.get(suite.url("intake") + f"/cases/{case_id}")).json()
        return found if found.get("status") == "plan_closed" else None

    return await eventually(closed, "intake to hold the case as closed by its plan")


async def retention(env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                    *args: str) -> Any:
    """`jusou retention` in this process (its parser and handler, in a thread), its JSON output."""
    from jusou.cli import parser

    parsed = parser().parse_args(["retention", *args])
    capsys.readouterr()
    code = await asyncio.to_thread(in_env, env, monkeypatch, lambda _: parsed.handler(parsed))
    out, err = capsys.readouterr()
    assert code == 0, out + err
    return json.loads(out)


async def test_backup_of_a_running_suite_restores_rebuilds_the_stream_and_verifies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    backup_dir = tmp_path / "backup"
    with nats_server(tmp_path / "nats-before") as first, \
            Suite(tmp_path / "data", nats_url=first.url, ports={n: free_port() for n in SERVICES}) as suite:
        async with httpx.AsyncClient(timeout=10, headers=reader()) as client:
            journey = Journey({name: suite.url(name) for name in SERVICES}, client)
            case_id, plan_id = await journey.whole()
            before = await settled(client, suite)
            env = suite_env(suite)
            assert "空ではありません" in refusal(env, monkeypatch, lambda e: backup(tmp_path / "data", e))
            done = jusou(env, "backup", str(backup_dir), "--json")  # the suite runs on
            assert done.returncode == 0, done.stderr
            manifest = json.loads(done.stdout)
            later = await journey.receive_and_escalate()  # recorded after the backup: not in it
            assert "空ではありません" in refusal(env, monkeypatch, lambda e: backup(backup_dir, e))
    assert manifest["positions"] == {name: before[name]["store_position"] for name in SERVICES}
    assert {"cipher.key", "intake.keys.sqlite", "auth/signing-key.pem"} <= set(manifest["files"])
    assert oct((backup_dir / "intake.sqlite").stat().st_mode & 0o777) == "0o600"

    # The stream and NATS's data are gone with the first server; the data folder is left as it was.
    restored = tmp_path / "restored"
    restore_env = suite_env(suite, JUSOU_DATA_DIR=str(restored))
    del restore_env["JUSOU_AUTH_DIR"]  # the auth folder comes back inside the data folder
    in_use = restore_env | {"JUSOU_DATA_DIR": str(tmp_path / "data")}
    assert "空のデータフォルダ" in refusal(in_use, monkeypatch, lambda e: restore(backup_dir, e))
    damaged = tmp_path / "damaged"
    shutil.copytree(backup_dir, damaged)
    with (damaged / "meeting.sqlite").open("r+b") as file:
        file.seek(200)
        file.write(b"\x00\x01")
    assert "meeting.sqlite" in refusal(restore_env, monkeypatch, lambda e: restore(damaged, e))
    assert not restored.exists()
    done = jusou(restore_env, "restore", str(backup_dir))
    assert done.returncode == 0, done.stderr
    assert store_positions(restored) == manifest["positions"]
    assert (restored / "cipher.key").read_bytes() == (tmp_path / "data" / "cipher.key").read_bytes()

    with nats_server(tmp_path / "nats-after") as second, \
            Suite(restored, nats_url=second.url, ports={n: free_port() for n in SERVICES},
                  extra_env={"JUSOU_AUTH_DIR": str(restored / "auth")}) as suite:
        async with httpx.AsyncClient(timeout=10, headers=reader()) as client:  # tokens of the restored signing key
            after = await settled(client, suite)
            assert {name: after[name]["store_position"] for name in SERVICES} == manifest["positions"]
            on_stream = await stream_subjects(second.url)
            for name in SERVICES:  # each relay republished its own events in store order
                own = [position for source, position in on_stream if source == name]
                assert own == sorted(own) and len(own) == len(set(own)), (name, own)
            assert {source for source, _ in on_stream} >= {"intake", "collaboration", "meeting"}
            plan = (await client.get(suite.url("collaboration") + f"/plans/{plan_id}")).json()
            assert plan["status"] == "closed" and plan["case_id"] == case_id
            person_ref = (await journey_case(client, suite, case_id))["person_ref"]
            missing = await client.get(suite.url("intake") + f"/cases/{later}")
            assert missing.status_code == 404, missing.text
        verified = jusou(suite_env(suite, JUSOU_AUTH_DIR=str(restored / "auth")), "audit", "verify", "--json")
        assert verified.returncode == 0, verified.stdout + verified.stderr
        result = json.loads(verified.stdout)
        assert result["ok"] is True
        for report in result["reports"]:
            assert report["integration_events"] == report["on_stream"] and report["problems"] == 0, report
        assert sum(r["on_stream"] for r in result["reports"]) == len(on_stream)

        # 保存年限 on the restored record: nothing is past 5 years today; with periods of 0 years the case
        # closed by its plan's 終結 and its person are, and --erase erases the person (crypto-shredding).
        env = suite_env(suite, JUSOU_AUTH_DIR=str(restored / "auth"))
        listed = await retention(env, monkeypatch, capsys, "--json")
        assert listed["past"] == [] and set(listed["years"].values()) == {5} and {"case", "person"} <= set(listed["years"])
        (restored / "retention.toml").write_text("[retention]\ncase = 0\nperson = 0\n")
        listed = await retention(env, monkeypatch, capsys, "--json")
        assert [(r["kind"], r["ref"]) for r in listed["past"]] == [("case", case_id), ("person", person_ref)]
        erased = await retention(env | {"JUSOU_TOKEN": token("kanri-001", ELDERLY.division, "supervisor")},
                                 monkeypatch, capsys, "--erase", "--json")
        assert erased["past"][1]["erasure"].startswith("消去しました"), erased
        assert [r["kind"] for r in (await retention(env, monkeypatch, capsys, "--json"))["past"]] == ["case"]


@pytest.mark.postgres
async def test_a_postgresql_suite_is_dumped_and_restored_into_an_empty_database(
    tmp_path: Path, postgres: Postgres, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same on PostgreSQL, for intake alone: pg_dump of its schema while it runs, pg_restore into a
    database without it (warning that the old NATS still holds a JUSOU stream), and the relay rebuilding
    intake's part of the stream on a new one."""
    prefix = f"bk{uuid.uuid4().hex[:6]}_"
    pg = postgres.env(prefix)
    backup_dir, restored = tmp_path / "backup", tmp_path / "restored"
    try:
        with nats_server(tmp_path / "nats-before") as first:
            with Suite(tmp_path / "data", nats_url=first.url, ports={"intake": free_port()}, services=("intake",),
                       extra_env=pg) as suite:
                async with httpx.AsyncClient(timeout=10, headers=reader()) as client:
                    case_id = await Journey({"intake": suite.url("intake")}, client).receive_and_escalate()
                    before = await settled(client, suite)
                    env = suite_env(suite, **pg)
                    manifest = in_env(env, monkeypatch, lambda e: backup(backup_dir, e))
            assert manifest["store"] == "postgres" and manifest["schemas"] == [f"{prefix}intake"]
            assert {"postgres.dump", "cipher.key", "auth/signing-key.pem"} <= set(manifest["files"])
            restore_env = env | {"JUSOU_DATA_DIR": str(restored), "JUSOU_AUTH_DIR": str(restored / "auth")}
            assert "空のデータベース" in refusal(restore_env, monkeypatch, lambda e: restore(backup_dir, e))
            postgres.drop_schemas(prefix)  # the database lost
            from jusou.cli import parser

            parsed = parser().parse_args(["restore", str(backup_dir)])
            capsys.readouterr()
            assert await asyncio.to_thread(in_env, restore_env, monkeypatch, lambda _: parsed.handler(parsed)) == 0
            said = capsys.readouterr().err
            assert "JUSOU ストリームにはまだ" in said and "nats stream rm JUSOU" in said, said  # the old NATS is up

        with nats_server(tmp_path / "nats-after") as second, \
                Suite(restored, nats_url=second.url, ports={"intake": free_port()}, services=("intake",),
                      extra_env={**pg, "JUSOU_AUTH_DIR": str(restored / "auth")}) as suite:
            async with httpx.AsyncClient(timeout=10, headers=reader()) as client:
                after = await settled(client, suite)
                assert after["intake"]["store_position"] == before["intake"]["store_position"] > 0
                case = await client.get(suite.url("intake") + f"/cases/{case_id}")
                assert case.status_code == 200, case.text
            verified = jusou(suite_env(suite, **pg, JUSOU_AUTH_DIR=str(restored / "auth")),
                             "audit", "verify", "--json", "--service", "intake")
            assert verified.returncode == 0, verified.stdout + verified.stderr
            [report] = json.loads(verified.stdout)["reports"]
            assert report["integration_events"] == report["on_stream"] >= 3 and report["problems"] == 0, report
    finally:
        postgres.drop_schemas(prefix)
