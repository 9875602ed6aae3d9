"""The 監査 document and page (D15) tell a program that refused the reader (403: their division may not read it) apart
from one that is down (outside review): 「応答のない事業」 (`missing`) only for what did not answer, the refusals under
`withheld`, as a case's 経過 does since 2c78c1f; a program with no record of the case (404) is neither.
Runs on the shared suite; each test makes its own case."""

from __future__ import annotations

import asyncio
import time
from typing import Any
from uuid import uuid4

import httpx
import pytest
from support.auth import reader, staff_headers, token
from support.municipality import DISABILITY, ELDERLY, concern
from support.servers import free_port

from jusou.runner import Suite
from shared.web.audit_api import gather, gather_apart
from shared.web.ui import PROGRAM_LABELS

SERVICES = ("intake", "collaboration", "meeting", "outreach", "participation", "community")
COUNSELOR = staff_headers("kouki-012", ELDERLY.division, "counselor")
SUPERVISOR = ("kouki-kanri-001", ELDERLY.division, "supervisor")  # 管理職 of the elderly counter: audit.read


@pytest.fixture(scope="module")
def http(shared_suite: Suite) -> Any:
    with httpx.Client(timeout=30, trust_env=False) as client:
        yield client


def escalated_case(client: httpx.Client, intake: str, collaboration: str) -> str:
    received = client.post(f"{intake}/consultations", headers=COUNSELOR, json={
        "counter": ELDERLY.code, "channel": "窓口", "concerns": [concern("elderly-care"), concern("hikikomori")],
        "person": {"name": f"審査 監査{uuid4().hex[:6]}"}, "confirm_new_person": True})
    assert received.status_code == 201, received.text
    case_id: str = received.json()["case_id"]
    escalated = client.post(f"{intake}/cases/{case_id}/escalate", headers=COUNSELOR,
                            json={"reason": "8050世帯で複合課題", "primary_agency": ELDERLY.ja})
    assert escalated.status_code == 200, escalated.text
    deadline = time.monotonic() + 30  # collaboration opens the case from the bus: its answer to a reader changes then
    while client.get(f"{collaboration}/cases/{case_id}", headers=reader()).status_code != 200:
        assert time.monotonic() < deadline, "collaboration did not open the escalated case"
        time.sleep(0.1)
    return case_id


def test_d15_the_audit_names_a_program_that_refused_the_reader_apart_from_one_not_answering(
        shared_suite: Suite, http: httpx.Client) -> None:
    case_id = escalated_case(http, shared_suite.url("intake"), shared_suite.url("collaboration"))
    supervisor = staff_headers(*SUPERVISOR)

    def refusing() -> set[str]:
        return {s for s in SERVICES
                if http.get(f"{shared_suite.url(s)}/cases/{case_id}/history", headers=supervisor).status_code == 403}

    for _ in range(20):  # the programs that learn of the case from the bus may answer otherwise a moment later
        before = refusing()
        document = http.get(f"{shared_suite.url('intake')}/audit/cases/{case_id}", headers=supervisor).json()
        if refusing() == before:
            break
        time.sleep(0.5)
    assert before, "some program refuses the elderly counter's supervisor this case (the premise)"

    assert document["missing"] == []
    assert set(document["withheld"]) == before
    page = http.get(f"{shared_suite.url('intake')}/ui/audit/cases/{case_id}", headers=supervisor)
    assert page.status_code == 200, page.text[:300]
    assert "応答のない事業" not in page.text
    withheld = page.text.split('id="withheld">', 1)[1].split("</p>", 1)[0]  # its own line, muted, not in red
    assert "所属課の範囲外" in withheld
    assert all(PROGRAM_LABELS[s] in withheld for s in refusing())


def test_d15_gathering_tells_an_outage_from_a_refusal_and_from_no_record(shared_suite: Suite) -> None:
    """An unreachable program is `missing`; one that refuses the caller `withheld`; one with no such record (404)
    neither. 保存年限's `gather` still counts all three as unknown (a person is judged on every program's records)."""
    intake = shared_suite.url("intake")
    with httpx.Client(timeout=30, trust_env=False) as client:
        case_id = escalated_case(client, intake, shared_suite.url("collaboration"))
    other = token("shogai-kanri-001", DISABILITY.division, "supervisor")
    urls = {"intake": intake, "collaboration": f"http://127.0.0.1:{free_port()}"}  # nothing listens there

    found = asyncio.run(gather_apart(f"/cases/{case_id}/history", urls, other))
    absent = asyncio.run(gather_apart(f"/cases/{uuid4()}/unknown", {"intake": intake}, other))
    unknown = asyncio.run(gather(f"/cases/{case_id}/history", urls, other))

    assert (found.rows, found.missing, found.withheld) == ([], ["collaboration"], ["intake"])
    assert absent.absent == ["intake"] and absent.missing == [] and absent.withheld == []
    assert unknown == ([], ["intake", "collaboration"])


def test_d15_the_audit_documents_withheld_in_its_openapi(shared_suite: Suite, http: httpx.Client) -> None:
    schema = http.get(f"{shared_suite.url('meeting')}/openapi.json").json()["components"]["schemas"]["AuditDocumentOut"]
    assert "withheld" in schema["properties"] and "応答のない事業" in schema["properties"]["missing"]["description"]
