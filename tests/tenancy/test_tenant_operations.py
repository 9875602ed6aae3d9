"""The operator's commands on a deployment of many municipalities (issue 18, jusou/tenant.py): each names its tenant
with `--tenant ID` and reads or changes that tenant's records alone; none named, or one the tenants file does not
have, is refused with status 2 naming the tenants.

On the package's suite (tests/tenancy/conftest.py: 甲市 `kou` and 乙市 `otsu` with a seeded journey each, and `hei` on
another municipality file). The records these tests change are their own, in `hei` (a consultation received and
closed, its person erased): the isolation tests count 甲市's and 乙市's. The commands run in this process (`jusou`'s
`main`), as an operator would run them on the deployment's host.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from support.auth import ROLE_STAFF
from support.municipality import concern, counter_for

from jusou.cli import demo_staff_of_tenants
from jusou.cli import main as jusou
from jusou.runner import Suite, subscriptions_of
from shared import tenancy
from shared.contract.events import DEAD_LETTER_PREFIX, DEAD_LETTER_STREAM, REPLAY_STREAM, STREAM, SUBJECT_PREFIX
from shared.messaging import natsauth
from shared.messaging.bus import connect
from shared.messaging.deadletters import CONSUMER, ORIGINAL_SUBJECT, REASON
from shared.organisation.reference import counter_division, in_force, lead_division
from shared.web.auth import Accounts
from shared.web.policy import ROLES
from tenancy.two_tenants import HEI, KOU, OTHER_FILE, OTSU, SERVICES, bearer, headers_as, tenant_token

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def run(suite: Suite, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Run:
    """`jusou ARGS…` in this process, against the suite (its tenants file, ports, NATS): (status, stdout, stderr)."""
    for key, value in suite.service_env().items():
        if key.startswith(("JUSOU_", "NATS_")) and key != "JUSOU_TEST_FAIL_FILE":
            monkeypatch.setenv(key, value)
    monkeypatch.setenv("COLUMNS", "160")
    return command(monkeypatch, capsys)


def command(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Run:
    def run(*args: str, token: str = "") -> tuple[int, str, str]:
        if token:
            monkeypatch.setenv("JUSOU_TOKEN", token)
        else:
            monkeypatch.delenv("JUSOU_TOKEN", raising=False)
        capsys.readouterr()
        try:
            code = jusou(list(args))
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else 1
        out, err = capsys.readouterr()
        return code, out, err

    return run


def hei_staff(suite: Suite, action: str, at_counter: bool = False) -> dict[str, str]:
    """A staff member of `hei` (its own municipality file's divisions) whose role may take `action`: in the lead
    division, or (`at_counter`, and a counselor always) in the division of the counter `hei_case` receives at."""
    role = next(r for r in ROLE_STAFF if action in ROLES[r].actions)
    with in_force(OTHER_FILE):
        division = counter_for("elderly-care").division if at_counter or role == "counselor" else lead_division()
    return bearer(tenant_token(suite, HEI, f"hei-ops-{role}", division, role))


@pytest.fixture(scope="module")
def hei_case(suite: Suite, seeded: dict[str, dict[str, Any]]) -> dict[str, str]:
    """A consultation of `hei`, received and closed (対応終了): a case record and a person the commands find."""
    with in_force(OTHER_FILE):
        counter, field = counter_for("elderly-care"), concern("elderly-care")
    counselor = hei_staff(suite, "consultation.receive")
    intake = suite.url("intake")
    received = httpx.post(intake + "/consultations", headers=counselor, timeout=30, json={
        "counter": counter.code, "channel": "窓口", "concerns": [field],
        "person": {"name": "丙野 運用", "kana": "へいの うんよう", "birth_date": "1971-05-06"}, "confirm_new_person": True})
    assert received.status_code == 201, received.text
    case_id = received.json()["case_id"]
    closed = httpx.post(intake + f"/cases/{case_id}/closure", headers=counselor, timeout=30, json={"outcome": "resolved"})
    assert closed.status_code == 200, closed.text
    case = httpx.get(intake + f"/cases/{case_id}", headers=hei_staff(suite, "intake.case.read"), timeout=30)
    assert case.status_code == 200, case.text
    return {"case_id": case_id, "person_ref": case.json()["person_ref"]}


def positions(suite: Suite, tenant: str) -> dict[str, int]:
    """Each service's store head in `tenant`, as its /readyz says."""
    found = {}
    for service in SERVICES:
        body = httpx.get(suite.url(service) + "/readyz", timeout=30).json()
        found[service] = body["tenants"][tenant]["store_position"]
    return found


def account(suite: Suite, tenant: str, work: Callable[[Any], Any]) -> Any:
    """`work(jetstream)` as the operator of `tenant`'s NATS account."""

    async def go() -> Any:
        nc = await connect(suite.nats_url, f"tenant-ops-test-{tenant}", *suite.tenant_operator(tenant))
        try:
            return await work(nc.jetstream())
        finally:
            await nc.close()

    return asyncio.run(go())


def stream_count(suite: Suite, tenant: str, stream: str = STREAM) -> int:
    async def count(js: Any) -> int:
        return int((await js.stream_info(stream)).state.messages)

    return int(account(suite, tenant, count))


# --- refused without a tenant, or with one not served -------------------------------------------------------

NOBODY = "00000000-0000-0000-0000-000000000000"  # a person_ref (a UUID, as jusou checks it before anything else)
TENANT_COMMANDS = [
    ["status"], ["deadletters", "list"], ["deadletters", "show", "1"], ["deadletters", "replay", "1"],
    ["tracking", "rewind", "collaboration", "intake", "--dry-run"], ["history", "00000000-0000-0000-0000-000000000000"],
    ["audit", "journey", "00000000-0000-0000-0000-000000000000"], ["audit", "disclosures", NOBODY], ["audit", "verify"],
    ["erase", NOBODY, "--basis", "person_request", "--reason", "r"], ["replay", "intake"], ["report"], ["retention"],
    ["backup", "/nonexistent/backup"], ["restore", "/nonexistent/backup"], ["nats", "credentials"],
]


@pytest.fixture
def two_tenants_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Run:
    """A tenants file of 甲市 and 乙市 in force (nothing running: a refusal needs none); the command runner."""
    (tmp_path / "tenants.toml").write_text('[[tenants]]\nid = "kou"\nname = "甲市"\ndata_dir = "kou"\n\n'
                                           '[[tenants]]\nid = "otsu"\nname = "乙市"\ndata_dir = "otsu"\n', encoding="utf-8")
    monkeypatch.setenv(tenancy.VARIABLE, str(tmp_path / "tenants.toml"))
    monkeypatch.setenv("JUSOU_DATA_DIR", str(tmp_path / "data"))
    return command(monkeypatch, capsys)


@pytest.mark.parametrize("args", TENANT_COMMANDS, ids=lambda a: " ".join(a[:2]))
def test_a_command_on_a_deployment_of_many_municipalities_without_a_tenant_or_with_an_unknown_one_is_refused(
    two_tenants_file: Run, args: list[str], tmp_path: Path
) -> None:
    code, out, err = two_tenants_file(*args)
    assert code == 2, (out, err)
    assert "--tenant" in err and "kou (甲市)" in err and "otsu (乙市)" in err, err
    code, out, err = two_tenants_file(*args, "--tenant", "tei")
    assert code == 2, (out, err)
    assert "'tei'" in err and "kou (甲市)" in err, err
    assert not (tmp_path / "kou").exists() and not (tmp_path / "data").exists()  # nothing made on the way to refusing


def test_without_a_tenants_file_tenant_is_refused_and_the_commands_act_as_before(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv(tenancy.VARIABLE, raising=False)
    monkeypatch.setenv("JUSOU_DATA_DIR", str(tmp_path))
    natsauth.credentials(tmp_path)
    run = command(monkeypatch, capsys)
    code, out, err = run("nats", "credentials", "--tenant", KOU)
    assert code == 2 and tenancy.VARIABLE in err, err
    code, out, err = run("nats", "credentials")
    assert code == 0 and "NATS_USER=integrator\n" in out, (out, err)
    assert tenancy.OPERATOR == natsauth.OPERATOR  # a tenant command's NATS user (shared/tenancy.py cannot import it)


def test_a_token_of_another_tenant_is_refused_before_any_service_is_asked(suite: Suite, run: Run) -> None:
    kou_supervisor = headers_as(suite, KOU, "person.erase")["Authorization"].removeprefix("Bearer ")
    code, _, err = run("erase", NOBODY, "--basis", "person_request", "--reason", "r", "--tenant", HEI,
                       token=kou_supervisor)
    assert code == 2 and "'kou'" in err and "'hei'" in err, err


# --- each command reads or changes the named tenant's records alone -----------------------------------------


def test_status_shows_the_named_tenants_positions_and_nats_account_alone(
    suite: Suite, hei_case: dict[str, str], run: Run
) -> None:
    code, out, err = run("status", "--json", "--tenant", HEI)
    found = json.loads(out)
    assert found["down"] == [] and found["missing_consumers"] == [], (code, err, out[:2000])
    heads, theirs = positions(suite, HEI), positions(suite, KOU)
    assert {name: row["store_position"] for name, row in found["services"].items()} == heads
    assert heads != theirs
    assert found["nats"]["streams"][STREAM]["messages"] == stream_count(suite, HEI) != stream_count(suite, KOU)


def test_audit_verify_proves_the_named_tenants_stores_against_its_own_stream(
    suite: Suite, hei_case: dict[str, str], run: Run
) -> None:
    code, out, err = run("audit", "verify", "--json", "--tenant", HEI)
    found = json.loads(out)
    assert code == 0 and found["ok"], (err, out[:3000])
    assert {r["service"]: r["store_events"] for r in found["reports"]} == positions(suite, HEI)
    _, out, err = run("audit", "verify", "--json", "--service", "intake", "--tenant", KOU)
    kou = json.loads(out)["reports"][0]
    assert kou["store_events"] == positions(suite, KOU)["intake"] != positions(suite, HEI)["intake"]


def test_history_and_the_audit_read_the_named_tenants_case_alone(
    suite: Suite, hei_case: dict[str, str], run: Run
) -> None:
    case_id = hei_case["case_id"]
    code, out, err = run("history", case_id, "--json", "--tenant", HEI)
    assert code == 0, err
    rows = json.loads(out)
    assert [r["event"] for r in rows if r["service"] == "intake"][:1] == ["Case.Received"], rows
    assert all(r["case_id"] == case_id for r in rows if "case_id" in r)
    code, out, err = run("history", case_id, "--json", "--tenant", KOU)  # 甲市's token: no such case there
    assert code == 0 and json.loads(out) == [], out
    code, out, _ = run("audit", "journey", case_id, "--format", "json", "--tenant", OTSU)
    assert code == 1 and json.loads(out)["events"] == []


def test_retention_lists_the_named_tenants_records_past_their_period_alone(
    suite: Suite, hei_case: dict[str, str], run: Run
) -> None:
    code, out, err = run("retention", "--as-of", "2100-04-01", "--json", "--tenant", HEI)
    assert code == 0, err
    found = json.loads(out)
    assert found["unread"] == []
    refs = {(row["kind"], row["ref"]) for row in found["past"]}
    assert ("person", hei_case["person_ref"]) in refs, found["past"]
    assert any(hei_case["case_id"] in ref for kind, ref in refs if kind == "case"), found["past"]
    code, out, err = run("retention", "--as-of", "2100-04-01", "--json", "--tenant", KOU)
    assert code == 0, err
    assert hei_case["person_ref"] not in out and hei_case["case_id"] not in out


def test_erase_erases_the_person_in_the_named_tenant_alone(
    suite: Suite, seeded: dict[str, dict[str, Any]], hei_case: dict[str, str], run: Run
) -> None:
    person_ref = hei_case["person_ref"]
    kou_supervisor = headers_as(suite, KOU, "person.erase")["Authorization"].removeprefix("Bearer ")
    code, _, err = run("erase", person_ref, "--basis", "person_request", "--reason", "本人の請求", "--tenant", KOU,
                       token=kou_supervisor)
    assert code == 1 and "404" in err, err  # 甲市's intake knows no such person
    case = f"{suite.url('intake')}/cases/{hei_case['case_id']}/person?basis=own_counter"
    assert httpx.get(case, headers=hei_staff(suite, "person.read", at_counter=True), timeout=30).json()["erased"] is None
    hei_supervisor = hei_staff(suite, "person.erase", at_counter=True)["Authorization"].removeprefix("Bearer ")
    code, out, err = run("erase", person_ref, "--basis", "person_request", "--reason", "本人の請求", "--tenant", HEI,
                         token=hei_supervisor)
    assert code == 0 and person_ref in out, (out, err)
    answer = httpx.get(case, headers=hei_staff(suite, "person.read", at_counter=True), timeout=30)
    assert answer.status_code == 200 and answer.json()["erased"] is not None, answer.text
    code, out, _ = run("audit", "disclosures", person_ref, "--format", "json", "--tenant", HEI)
    assert code == 0 and "person_request" in out, out
    kept = httpx.get(f"{suite.url('intake')}/cases/{seeded[OTSU]['case_id']}/person?basis=own_counter",
                     headers=headers_as(suite, OTSU, "person.read"), timeout=30)
    assert kept.status_code == 200 and kept.json()["erased"] is None, kept.text


def test_report_gives_the_named_tenants_figures(suite: Suite, hei_case: dict[str, str], run: Run) -> None:
    code, out, err = run("report", "--format", "json", "--fy", "2026", "--tenant", HEI)
    assert code == 0, err

    def figures(headers: dict[str, str]) -> Any:
        answer = httpx.get(suite.url("intake") + "/figures?fy=2026&format=json", headers=headers, timeout=60)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def steady(document: Any) -> Any:  # what the same figures share whenever they are read
        return {k: v for k, v in document.items() if "generated" not in k and k not in ("as_of", "at")}

    ours = steady(json.loads(out))
    assert ours == steady(figures(hei_staff(suite, "figures.read")))
    assert ours != steady(figures(headers_as(suite, KOU, "figures.read")))


def test_replay_rebuilds_the_named_tenants_read_models_from_its_store(
    suite: Suite, hei_case: dict[str, str], run: Run
) -> None:
    code, out, err = run("replay", "intake", "--json", "--tenant", HEI)
    assert code == 0, err
    [rebuilt] = json.loads(out)
    assert rebuilt["events"] == positions(suite, HEI)["intake"] != positions(suite, KOU)["intake"]


def test_dead_letters_are_listed_and_replayed_in_the_named_tenants_account_alone(
    suite: Suite, seeded: dict[str, dict[str, Any]], run: Run
) -> None:
    """A message parked for collaboration in each tenant's JUSOU_DLQ, as the inbox parks one (reason, original subject,
    consumer): in 甲市 a copy of one of its intake events, in 乙市 an unreadable body. Each tenant's list shows its own;
    the replay in 甲市 goes to 甲市's collaboration, which processes it (an intake event it has nothing to do with), and
    乙市's dead letter and replay stream stay as they were."""
    ignored = set(subscriptions_of("collaboration")["intake"])

    async def an_intake_event(js: Any) -> Any:  # of 甲市's stream, of a type collaboration does not react to
        info = await js.stream_info(STREAM)
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            msg = await js.get_msg(STREAM, seq)
            if msg.subject.startswith(f"{SUBJECT_PREFIX}.intake.") and msg.subject.rsplit(".", 1)[1] not in ignored:
                return msg
        raise AssertionError("甲市's stream holds no intake event collaboration ignores")

    def park(tenant: str, subject: str, body: bytes) -> int:
        async def publish(js: Any) -> int:
            ack = await js.publish(f"{DEAD_LETTER_PREFIX}.collaboration.{subject.removeprefix(SUBJECT_PREFIX + '.')}",
                                   body, stream=DEAD_LETTER_STREAM, headers={
                                       REASON: f"parked in {tenant} (tenant-ops test)", CONSUMER: "collaboration",
                                       ORIGINAL_SUBJECT: subject, "Nats-Msg-Id": f"collaboration:{event.seq}"})
            return int(ack.seq)

        return int(account(suite, tenant, publish))

    event = account(suite, KOU, an_intake_event)
    kou_seq = park(KOU, event.subject, event.data)
    otsu_seq = park(OTSU, event.subject, b"{not an envelope")
    code, out, err = run("deadletters", "list", "--json", "--tenant", KOU)
    assert code == 0, err
    assert "parked in kou" in out and "parked in otsu" not in out
    code, out, _ = run("deadletters", "show", str(kou_seq), "--json", "--tenant", KOU)
    assert code == 0 and json.loads(out)["message"]["event_id"] == json.loads(event.data)["event_id"]
    otsu_before = {stream: stream_count(suite, OTSU, stream) for stream in (DEAD_LETTER_STREAM, REPLAY_STREAM)}
    kou_replays = stream_count(suite, KOU, REPLAY_STREAM)
    code, out, err = run("deadletters", "replay", str(kou_seq), "--wait", "20", "--tenant", KOU)
    assert code == 0 and "has processed it" in out, (out, err)  # 甲市's collaboration
    assert stream_count(suite, KOU, REPLAY_STREAM) == kou_replays + 1
    assert {stream: stream_count(suite, OTSU, stream) for stream in otsu_before} == otsu_before
    code, out, _ = run("deadletters", "list", "--json", "--tenant", OTSU)
    theirs = [d for d in json.loads(out) if d["seq"] == otsu_seq]
    assert [d["status"] for d in theirs] == ["parked"] and "parked in kou" not in out


def test_nats_credentials_are_the_named_tenants_users(suite: Suite, run: Run) -> None:
    code, out, err = run("nats", "credentials", "--tenant", HEI)
    assert code == 0, err
    user, password = suite.tenant_login(HEI, natsauth.INTEGRATOR)
    assert f"export NATS_USER={user}\n" in out and user == f"integrator@{HEI}" and password in out


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def restored_onto(tmp_path: Path, suite: Suite, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Path]]:
    """Another tenants file for the same tenants: `hei` and `kou` on new empty folders, `otsu` on its own (the suite
    keeps running on its file; a restore here touches none of its folders but what this file names)."""
    tenants = {t.id: t for t in suite.tenants}
    folders = {HEI: tmp_path / "new-hei", KOU: tmp_path / "new-kou", OTSU: tenants[OTSU].data_path}
    (tmp_path / "restore.toml").write_text("".join(
        f'[[tenants]]\nid = "{tid}"\ndata_dir = "{folder}"\n'
        + (f'municipality_file = "{tenants[tid].municipality_file}"\n' if tenants[tid].municipality_file else "") + "\n"
        for tid, folder in folders.items()), encoding="utf-8")
    monkeypatch.setenv(tenancy.VARIABLE, str(tmp_path / "restore.toml"))
    yield folders


def test_a_tenants_backup_holds_its_own_stores_and_keys_and_restores_onto_that_tenant_alone(
    suite: Suite, hei_case: dict[str, str], run: Run, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    tenants = {t.id: t for t in suite.tenants}
    code, out, err = run("backup", str(tmp_path / "hei-backup"), "--json", "--tenant", HEI)
    assert code == 0, err
    manifest = json.loads(out)
    assert manifest["tenant"] == HEI and manifest["data_dir"] == str(tenants[HEI].data_path)
    assert manifest["positions"] == positions(suite, HEI)
    assert manifest["files"]["cipher.key"] == digest(tenants[HEI].data_path / "cipher.key")
    assert manifest["files"]["cipher.key"] != digest(tenants[KOU].data_path / "cipher.key")
    assert manifest["files"]["auth/signing-key.pem"] == digest(tenants[HEI].data_path / "auth" / "signing-key.pem")
    assert json.loads((tmp_path / "hei-backup" / natsauth.CREDENTIALS_FILE).read_text()) == json.loads(
        tenants[HEI].credentials_path.read_text())

    folders = request.getfixturevalue("restored_onto")
    otsu_before = sorted(p.name for p in folders[OTSU].iterdir())
    code, _, err = run("restore", str(tmp_path / "hei-backup"), "--tenant", KOU)
    assert code == 2 and "--from-tenant hei" in err, err  # hei's records, key and staff are not kou's
    assert not folders[KOU].exists()
    code, out, err = run("restore", str(tmp_path / "hei-backup"), "--tenant", HEI)
    assert code == 0, err
    assert digest(folders[HEI] / "cipher.key") == digest(tenants[HEI].data_path / "cipher.key")
    assert {p.name for p in folders[HEI].glob("*.sqlite")} == {p.name for p in tenants[HEI].data_path.glob("*.sqlite")}
    assert sorted(p.name for p in folders[OTSU].iterdir()) == otsu_before
    code, out, err = run("restore", str(tmp_path / "hei-backup"), "--tenant", KOU, "--from-tenant", HEI)
    assert code == 0 and "hei" in err, err  # stated: a tenant renamed, municipalities merged
    assert digest(folders[KOU] / "cipher.key") == digest(tenants[HEI].data_path / "cipher.key")


def test_demo_staff_gives_each_tenant_its_own_accounts_in_its_own_divisions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`jusou up --tenants FILE --demo-staff`: each tenant's issuer folder gets one account per role, in its own
    municipality's divisions; a tenant signing in at its IdP gets none."""
    (tmp_path / "tenants.toml").write_text(
        f'[[tenants]]\nid = "kou"\ndata_dir = "kou"\n\n[[tenants]]\nid = "hei"\ndata_dir = "hei"\n'
        f'municipality_file = "{OTHER_FILE}"\n\n[[tenants]]\nid = "tei"\ndata_dir = "tei"\n'
        '[tenants.oidc]\nissuer = "https://idp.example.jp/realms/tei"\njwks_url = "https://idp.example.jp/jwks"\n',
        encoding="utf-8")
    monkeypatch.setenv(tenancy.VARIABLE, str(tmp_path / "tenants.toml"))
    monkeypatch.setattr("shared.web.auth.hash_password", lambda password: f"test:{password}")  # 20 scrypts: 6 s
    demo_staff_of_tenants(tenancy.configured())
    printed = capsys.readouterr().out
    kou, hei = (Accounts(tmp_path / name / "auth").all() for name in (KOU, HEI))
    assert set(kou) == set(hei) and "demo-counselor" in kou
    assert kou["demo-counselor"]["division"] == counter_division()
    with in_force(OTHER_FILE):
        assert hei["demo-counselor"]["division"] == counter_division() != kou["demo-counselor"]["division"]
        assert hei["demo-supervisor"]["division"] == lead_division()
    assert not (tmp_path / "tei" / "auth").exists() and "tenant tei" in printed
    assert printed.count("demo-counselor") == 2
