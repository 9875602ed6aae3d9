"""The tenants file (issue 18, shared/tenancy.py) and the NATS accounts it makes (shared/messaging/natsauth.py), without
a suite: refusals that name the line, each tenant's own folder, schemas, key, issuer and account; and a real
nats-server running the generated accounts, where one tenant's users see nothing of another's."""

from __future__ import annotations

import asyncio
import json
import secrets
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any
from uuid import UUID

import nats
import nats.errors
import psycopg
import pytest
from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import MapperDeserialisationError
from psycopg import sql
from support.servers import free_port, wait_for_port

from jusou.runner import nats_server_binary, subscriptions
from shared import tenancy
from shared.kernel.store import pg_conninfo, store_env
from shared.messaging import natsauth
from shared.messaging.bus import connect, ensure_streams
from shared.settings import AuthSettings, Settings

TWO = """\
[[tenants]]
id = "kou"
name = "甲市"
data_dir = "kou"

[[tenants]]
id = "otsu"
name = "乙市"
data_dir = "otsu"
municipality_file = "kakushi.toml"
pg_schema_prefix = "otsu_"
[tenants.oidc]
issuer = "https://idp.example.jp/realms/otsu/"
jwks_url = "https://idp.example.jp/realms/otsu/certs"
"""


def written(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "tenants.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_tenants_file_gives_each_tenant_its_own_folder_schemas_key_and_issuer(tmp_path: Path) -> None:
    found = tenancy.load(written(tmp_path, TWO))
    kou, otsu = found["kou"], found["otsu"]
    assert kou.data_path == (tmp_path / "kou").resolve() and otsu.municipality_file == str(tmp_path / "kakushi.toml")
    assert (kou.schema_prefix, otsu.schema_prefix) == ("jusou_kou_", "otsu_")
    base = Settings(service="intake", data_dir=tmp_path, store="sqlite", pg_host="", pg_port=5432, pg_user="",
                    pg_password="", pg_dbname="db", pg_schema_prefix="jusou_", nats_url="nats://x:4222", host="",
                    port=8101, cipher_key="shared", max_deliver=5, relay_poll_seconds=1.0)
    one, other = tenancy.service_settings(base, kou), tenancy.service_settings(base, otsu)
    assert (one.data_dir, one.pg_schema) == (kou.data_path, "jusou_kou_intake")
    assert other.pg_schema == "otsu_intake"
    assert one.cipher_key != other.cipher_key != "shared"  # each made once in its own folder
    auth = AuthSettings(issuer="", jwks_url="", audience="jusou", staff_claim="sub", division_claim="division",
                        roles_claim="roles", folder=tmp_path / "auth")
    assert tenancy.auth_settings(auth, kou).development and tenancy.auth_settings(auth, kou).folder == kou.data_path / "auth"
    assert tenancy.auth_settings(auth, otsu).issuer == "https://idp.example.jp/realms/otsu"


@pytest.mark.parametrize(("text", "said"), [
    (TWO.replace('id = "otsu"', 'id = "kou"'), "two tenants share id 'kou'"),
    (TWO.replace('id = "otsu"', 'id = "Otsu!"'), "7行目 [[tenants]] #2 (Otsu!) id"),
    (TWO.replace('data_dir = "otsu"\n', ""), "[[tenants]] #2 (otsu)"),
    (TWO.replace('name = "甲市"', 'nmae = "甲市"'), "3行目 [[tenants]] #1 (kou) nmae"),
    ("[[tenants]]\nid = 'a'\ndata_dir = 'x'\n[[tenants]]\nid = 'b'\ndata_dir = 'x'\n", "two tenants share data_dir"),
])
def test_a_bad_tenants_file_is_refused_naming_the_line_and_tenant(tmp_path: Path, text: str, said: str) -> None:
    with pytest.raises(tenancy.TenantsFileError) as refused:
        tenancy.load(written(tmp_path, text))
    assert said in str(refused.value), str(refused.value)
    assert "tenants.toml" in str(refused.value)


def test_check_command_says_the_tenants_or_what_is_wrong(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = written(tmp_path, TWO.replace('municipality_file = "kakushi.toml"\n', ""))
    assert tenancy.main([str(path)]) == 0
    assert "kou: 甲市" in capsys.readouterr().out
    assert tenancy.main([str(written(tmp_path, "tenants = 1\n"))]) == 2


def test_the_acting_tenant_reads_its_own_municipality_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from shared.organisation.municipality import DATA

    path = written(tmp_path, TWO.replace("kakushi.toml", str(DATA / "kakushi.toml")))
    monkeypatch.setenv(tenancy.VARIABLE, str(path))
    assert tenancy.current_organisation() is None  # no tenant acting: the deployment's
    with tenancy.acting_for("otsu"):
        organisation = tenancy.current_organisation()
        assert organisation is not None and organisation.about.ja == "架空市"
    with tenancy.acting_for("kou"):
        assert tenancy.current_organisation() is None  # its file is the deployment's


def test_nats_accounts_seal_one_tenant_off_from_another(tmp_path: Path) -> None:
    """`jusou up --tenants`' server config on a real nats-server: each account has its own JUSOU stream and users;
    what one publishes the other's operator neither receives nor finds in its stream, and a user of one account
    cannot sign in with another's password."""
    tenants = list(tenancy.load(written(tmp_path, TWO)).values())
    config = natsauth.server_config(tmp_path, subscriptions(), tenants)
    accounts = json.loads(config.read_text(encoding="utf-8"))["accounts"]
    assert sorted(accounts) == ["TENANT_KOU", "TENANT_OTSU"]
    assert {u["user"] for u in accounts["TENANT_KOU"]["users"]} >= {"intake@kou", "jusou-operator@kou", "integrator@kou"}
    intake = next(u for u in accounts["TENANT_OTSU"]["users"] if u["user"] == "intake@otsu")
    assert intake["permissions"] == natsauth.permissions("intake", subscriptions()["intake"])  # as on one tenant
    assert natsauth.inbox_prefix("intake@otsu") == natsauth.inbox_prefix("intake") == "_INBOX_intake"
    port = free_port()
    server = subprocess.Popen([nats_server_binary(), "-a", "127.0.0.1", "-p", str(port), "-js", "-sd",
                               str(tmp_path / "js"), "-c", str(config)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        wait_for_port("127.0.0.1", port)
        asyncio.run(_sealed(f"nats://127.0.0.1:{port}", tenants))
    finally:
        server.terminate()
        server.wait()


async def _sealed(url: str, tenants: list[tenancy.Tenant]) -> None:
    kou, otsu = tenants
    logins = {t.id: natsauth.credentials_at(t.credentials_path) for t in tenants}
    ours = await connect(url, "kou-operator", kou.nats_user(natsauth.OPERATOR), logins["kou"][natsauth.OPERATOR])
    theirs = await connect(url, "otsu-operator", otsu.nats_user(natsauth.OPERATOR), logins["otsu"][natsauth.OPERATOR])
    try:
        await ensure_streams(ours, 1)
        await ensure_streams(theirs, 1)
        heard: list[str] = []

        async def hear(msg: object) -> None:
            heard.append(getattr(msg, "subject", ""))

        await theirs.subscribe("jusou.>", cb=hear)
        await theirs.flush()
        intake = await connect(url, "kou-intake", kou.nats_user("intake"), logins["kou"]["intake"])
        await intake.jetstream().publish("jusou.intake.ConsultationReceived", b"{}")
        await intake.close()
        assert (await ours.jetstream().stream_info("JUSOU")).state.messages == 1
        await theirs.flush()
        assert heard == []
        assert (await theirs.jetstream().stream_info("JUSOU")).state.messages == 0
        with pytest.raises(nats.errors.Error, match="Authorization"):  # 甲市's password is no 乙市 user's
            await nats.connect(url, user=otsu.nats_user("intake"), password=logins["kou"]["intake"],
                               allow_reconnect=False, max_reconnect_attempts=0, connect_timeout=5)
    finally:
        await ours.close()
        await theirs.close()


class Note(Aggregate):
    """Something recorded in a tenant's store."""


def test_each_tenants_store_is_schemas_of_its_own_on_postgresql_with_its_own_key(tmp_path: Path, postgres: Any) -> None:
    run = secrets.token_hex(3)
    path = written(tmp_path, f'[[tenants]]\nid = "kou"\ndata_dir = "kou"\npg_schema_prefix = "t{run}_kou_"\n\n'
                             f'[[tenants]]\nid = "otsu"\ndata_dir = "otsu"\npg_schema_prefix = "t{run}_otsu_"\n')
    tenants = tenancy.load(path)
    base = Settings(service="intake", data_dir=tmp_path, store="postgres", pg_host=postgres.host, pg_port=postgres.port,
                    pg_user=postgres.user, pg_password=postgres.password, pg_dbname=postgres.dbname,
                    pg_schema_prefix="jusou_", nats_url="", host="", port=8101, cipher_key="", max_deliver=5,
                    relay_poll_seconds=1.0, pg_pool_size=1)
    settings = {t: tenancy.service_settings(base, tenant) for t, tenant in tenants.items()}
    apps = {t: Application[UUID](env=store_env(s)) for t, s in settings.items()}
    try:
        note = Note()
        apps["kou"].save(note)
        assert apps["kou"].repository.get(note.id).id == note.id
        assert not apps["otsu"].recorder.max_notification_id()
        with pytest.raises(AggregateNotFoundError):
            apps["otsu"].repository.get(note.id)
        # 乙市's key on 甲市's schema reads nothing of it
        stolen = Application[UUID](env=store_env(replace(settings["kou"], cipher_key=settings["otsu"].cipher_key)))
        with pytest.raises(MapperDeserialisationError, match="cipher tag"):  # AES-GCM: not its key
            stolen.repository.get(note.id)
        stolen.close()
    finally:
        for app in apps.values():
            app.close()
        with psycopg.connect(**pg_conninfo(base), autocommit=True) as conn:
            for one in settings.values():
                conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(one.pg_schema)))
