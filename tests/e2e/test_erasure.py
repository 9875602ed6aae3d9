"""Erasure over the running suite (issue 6): a supervisor erases a person through intake's API.

Before: the person's name, kana, phone and address are readable on a legal basis. After: they are
in no response of intake's API, no page, no CSV, no audit and no file of the data folder, nor is
their key; `Person.Erased` is in the disclosures audit (API, CSV, `jusou audit disclosures`) and in
the case's journey, and every other event of the journey is still there.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import sys
import uuid
from contextlib import closing
from pathlib import Path
from urllib.parse import urlsplit

from support.auth import reader, staff_headers, token
from support.journey import COUNTER_STAFF, Journey
from support.municipality import ELDERLY

from jusou.runner import Suite

SUPERVISOR = staff_headers("kanri-001", ELDERLY.division, "supervisor")
READER = reader()


def known_person() -> dict[str, str]:
    token = uuid.uuid4().hex[:6].upper()
    return {"name": f"仙川 鶲{token}", "kana": f"せんがわ ひたき{token}", "birth_date": "1949-12-24",
            "phone": f"070-{token[:4]}-8{token[4:]}1", "address": f"調布市仙川町四丁目{token}"}


def needles(person: dict[str, str]) -> list[str]:
    return [person[f] for f in ("name", "kana", "phone", "address")] + [person["phone"].replace("-", "")]


async def jusou(suite: Suite, *args: str, token: str = "") -> tuple[int, str]:
    env = dict(os.environ) | {f"JUSOU_{n.upper()}_PORT": str(urlsplit(suite.url(n)).port) for n in suite.services}
    env["JUSOU_TOKEN"] = token  # empty: the operator's own (an auditor's) token
    process = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "jusou"), *args, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    return process.returncode or 0, out.decode() + err.decode()


async def journey_events(journey: Journey, case_id: str) -> list[dict[str, object]]:
    response = await journey.http.get(journey.urls["intake"] + f"/audit/cases/{case_id}", headers=READER)
    assert response.status_code == 200, response.text
    document = response.json()
    assert document["missing"] == []
    return document["events"]  # type: ignore[no-any-return]


async def test_erasure_leaves_the_person_unreadable_everywhere_and_the_journey_complete(
        journey: Journey, running_suite: Suite) -> None:
    person = known_person()
    made = await journey.post("intake", "/consultations", {
        "counter": ELDERLY.code, "channel": "窓口", "concerns": ["高齢・介護", "家計・債務"], "person": person,
        "confirm_new_person": True}, COUNTER_STAFF)
    case_id = made["case_id"]
    await journey.post("intake", f"/cases/{case_id}/escalate", {"reason": "複合", "primary_agency": ELDERLY.ja},
                       COUNTER_STAFF)
    await journey.get_when("collaboration", f"/cases/{case_id}", lambda c: True, "collaboration to open the case")
    intake = journey.urls["intake"]
    shown = await journey.http.get(intake + f"/cases/{case_id}/person", params={"basis": "own_counter"},
                                   headers=COUNTER_STAFF)
    assert shown.json()["name"] == person["name"]
    person_ref = shown.json()["person_ref"]
    before = await journey_events(journey, case_id)
    keys = running_suite.data_dir / "intake.keys.sqlite"
    with closing(sqlite3.connect(keys)) as db:
        [(wrapped,)] = db.execute("select wrapped from person_keys where person_ref = ?", (person_ref,)).fetchall()

    refused = await journey.http.post(intake + f"/persons/{person_ref}/erasure", headers=COUNTER_STAFF,
                                      json={"basis": "person_request", "reason": "本人の申出"})
    assert refused.status_code == 403, "a counselor may not erase (person.erase is a supervisor's)"
    erased = await journey.post("intake", f"/persons/{person_ref}/erasure",
                                {"basis": "person_request", "reason": "本人から削除の請求（窓口）"}, SUPERVISOR)
    assert erased["name"] == "消去済み / erased" and erased["erased"]["staff_id"] == "kanri-001"
    again = await journey.http.post(intake + f"/persons/{person_ref}/erasure", headers=SUPERVISOR,
                                    json={"basis": "person_request", "reason": "二度目"})
    assert again.status_code == 409 and "既に消去" in again.json()["detail"]
    unknown = await journey.http.post(intake + f"/persons/{uuid.uuid4()}/erasure", headers=SUPERVISOR,
                                      json={"basis": "person_request", "reason": "不明"})
    assert unknown.status_code == 404 and "相談者" in unknown.json()["detail"]

    after = await journey_events(journey, case_id)
    assert [e["event_id"] for e in after if e["event"] != "Person.Erased"] == [e["event_id"] for e in before]
    [erasure] = [e for e in after if e["event"] == "Person.Erased"]
    assert erasure["service"] == "intake" and erasure["actor"]["staff_id"] == "kanri-001"  # type: ignore[index]
    assert len(after) == len(before) + 1

    reads = {
        "person": (intake + f"/cases/{case_id}/person?basis=own_counter", COUNTER_STAFF),
        "search": (intake + f"/persons/search?kana={person['kana']}&phone={person['phone']}", COUNTER_STAFF),
        "search by name": (intake + f"/persons/search?name={person['name']}&birth_date={person['birth_date']}",
                           COUNTER_STAFF),
        "cases": (intake + "/cases", READER),
        "case": (intake + f"/cases/{case_id}", READER),
        "history": (intake + f"/cases/{case_id}/history", READER),
        "state": (intake + f"/cases/{case_id}/state", READER),
        "audit": (intake + f"/audit/cases/{case_id}", READER),
        "audit csv": (intake + f"/audit/cases/{case_id}?format=csv", READER),
        "audit text": (intake + f"/audit/cases/{case_id}?format=text", READER),
        "disclosures": (intake + f"/audit/people/{person_ref}/disclosures", READER),
        "disclosures csv": (intake + f"/audit/people/{person_ref}/disclosures?format=csv", READER),
        "disclosures text": (intake + f"/audit/people/{person_ref}/disclosures?format=text", READER),
        "case page": (intake + f"/ui/cases/{case_id}", READER),
        "cases csv": (intake + f"/ui/cases.csv?counter={ELDERLY.code}", READER),
        "timeline page": (intake + f"/ui/cases/{case_id}/timeline", READER),
        "audit page": (intake + f"/ui/audit/cases/{case_id}", READER),
        "disclosures page": (intake + f"/ui/audit/people/{person_ref}", READER),
        "log page": (intake + "/ui/log", READER),
    }
    bodies = {}
    for what, (url, headers) in reads.items():
        response = await journey.http.get(url, headers=headers)
        assert response.status_code == 200, f"{what}: {response.status_code} {response.text[:300]}"
        bodies[what] = response.text
    leaked = {what: [n for n in needles(person) if n in body] for what, body in bodies.items()}
    assert not any(leaked.values()), f"the erased person's information is still shown: {leaked}"
    assert str(case_id) in bodies["cases"], "the reads found not even the case"
    assert json.loads(bodies["person"])["name"] == "消去済み / erased"
    assert bodies["search"] == "[]" and bodies["search by name"] == "[]"
    assert "消去済み" in bodies["case page"] and "消去済み" in bodies["disclosures page"]
    assert "Person.Erased" in bodies["audit text"] and "個人情報を消去" in bodies["audit text"]
    for page in ("timeline page", "audit page"):
        assert "個人情報の消去 根拠: 本人の請求" in bodies[page], page
    assert ",erased" in bodies["disclosures csv"] and "本人の請求" in bodies["disclosures csv"]
    assert "ERASED" in bodies["disclosures text"]
    # D9 D10: a read of the erased person shows nothing of theirs, so it records no showing: the erasure stays the
    # disclosure report's last line (README, Audit), though "person" above read them again on a valid basis
    rows = (await journey.http.get(intake + f"/audit/people/{person_ref}/disclosures", headers=READER)).json()
    assert [r["action"] for r in rows][-1] == "erased" and [r["action"] for r in rows].count("erased") == 1, rows
    assert [r for r in rows if r["action"] == "shown"], "the showing before the erasure is in the report"
    refused = await journey.http.get(intake + f"/cases/{case_id}/person", params={"basis": "consent"},
                                     headers=COUNTER_STAFF)
    assert refused.status_code in (400, 403), "an erased person's read is still checked for its legal basis"

    code, out = await jusou(running_suite, "audit", "disclosures", person_ref)
    assert code == 0 and "ERASED" in out and "本人の請求" in out, out
    assert not [n for n in needles(person) if n in out]

    files = [p for p in running_suite.data_dir.rglob("*") if p.is_file()]
    holding_key = [p.name for p in files if bytes(wrapped) in read_if_there(p)]
    assert files and holding_key == [], f"the erased person's key is still in {holding_key}"


async def test_erasure_by_the_jusou_command_needs_a_supervisors_token(journey: Journey, running_suite: Suite) -> None:
    made = await journey.post("intake", "/consultations", {
        "counter": ELDERLY.code, "channel": "電話", "concerns": ["高齢・介護"], "person": known_person(),
        "confirm_new_person": True}, COUNTER_STAFF)
    case = await journey.get_when("intake", f"/cases/{made['case_id']}", lambda c: True, "the case")
    person_ref = str(case["person_ref"])
    erase = ("erase", person_ref, "--basis", "retention_expired", "--reason", "保存期間満了")

    code, out = await jusou(running_suite, *erase)
    assert code == 1 and "403" in out and "person.erase" in out, out
    code, out = await jusou(running_suite, *erase, token=token("kanri-003", ELDERLY.division, "supervisor"))
    assert code == 0 and "kanri-003" in out, out
    code, out = await jusou(running_suite, *erase, token=token("kanri-003", ELDERLY.division, "supervisor"))
    assert code == 1 and "409" in out and "既に消去" in out, out
    code, out = await jusou(running_suite, "audit", "disclosures", person_ref)
    assert "ERASED" in out and "保存期間満了" in out, out


def read_if_there(path: Path) -> bytes:
    """A file's bytes; none for a running server's temporary file renamed over its own since it was listed
    (nats-server's consumer state, o.dat.tmp → o.dat: the file it became is read too)."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return b""
