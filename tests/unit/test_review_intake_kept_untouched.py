"""Review (HE, issue 19 seventh pass): intake keeps its cases (9548370, f3f6520: `KeptReads`, a read is given the kept
case itself, a command a copy of it). Whatever a request does through intake's routes -- JSON reads and commands, the
case page, the lists, the person shown on a basis, the answer route that reads after its command, the inbox's
handlers -- a case once kept is never changed afterwards: every reader may hold it while other threads work. Each
object put into the keep is snapshotted when it is put and compared at the end."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any
from uuid import UUID

import pytest
from fastapi.testclient import TestClient
from support.auth import staff_headers
from support.municipality import ELDERLY

from services.intake.application import IntakeApplication
from unit.builders import COUNTER_STAFF, IN_MEMORY, PERSON, Upstream
from unit.test_intake_kept_cases import the_journeys_inbox

COUNSELOR = staff_headers(COUNTER_STAFF["staff_id"], ELDERLY.division, "counselor")
SUPERVISOR = staff_headers("shunin-001", ELDERLY.division, "counselor", "supervisor")


@pytest.fixture
def served() -> Iterator[tuple[TestClient, IntakeApplication, list[tuple[Any, dict[str, Any]]]]]:
    from services.intake.main import api

    app = IntakeApplication(env=dict(IN_MEMORY))
    assert app.reads_kept is not None
    kept: list[tuple[Any, dict[str, Any]]] = []
    put = app.reads_kept.put

    def snapshotted(key: Any, value: Any) -> Any:
        kept.append((value, copy.deepcopy(vars(value))))
        return put(key, value)

    app.reads_kept.put = snapshotted  # type: ignore[method-assign]
    api.state.runtime = SimpleNamespace(app=app)  # no lifespan (no bus): the application only
    try:
        yield TestClient(api), app, kept
    finally:
        del api.state.runtime
        app.close()


def test_d2_d9_d10_no_route_changes_a_case_once_it_is_kept(
        served: tuple[TestClient, IntakeApplication, list[tuple[Any, dict[str, Any]]]]) -> None:
    client, app, kept = served
    case_id = app.receive_consultation(COUNTER_STAFF, ELDERLY.code, ELDERLY.division, "窓口",
                                       ["高齢・介護", "ひきこもり"], dict(PERSON), None, True)
    base = f"/cases/{case_id}"
    answers = [
        client.get(base, headers=COUNSELOR),
        client.post(f"{base}/connect", json={"to_agency": ELDERLY.ja, "reason": "介護の相談"}, headers=COUNSELOR),
        client.get(base, headers=COUNSELOR),
        client.post(f"{base}/connections/0/answer", json={"accepted": False, "reason": "体制がない"},
                    headers=COUNSELOR),
        client.post(f"{base}/consent", json={"scope": "重層的支援会議での情報共有", "granted": True, "method": "書面"},
                    headers=COUNSELOR),
        client.get(f"{base}/person?basis=own_counter", headers=COUNSELOR),
        client.get(f"/ui/cases/{case_id}", headers=COUNSELOR),
        client.get("/cases", headers=COUNSELOR),
        client.get(f"/ui/cases-table?counter={ELDERLY.code}", headers=COUNSELOR),
        client.get(f"/ui/cases.csv?counter={ELDERLY.code}", headers=COUNSELOR),
        client.post(f"{base}/escalate", json={"reason": "複合", "primary_agency": ELDERLY.ja}, headers=COUNSELOR),
        client.get(base, headers=SUPERVISOR),
        client.get(f"/ui/cases/{case_id}", headers=SUPERVISOR),
    ]
    assert [a.status_code for a in answers] == [200] * len(answers), [a.text[:200] for a in answers if a.status_code != 200]
    assert answers[0].status_code == 200 and answers[-2].json()["status"] == "escalated", answers[-2].text

    the_journeys_inbox(app, case_id, Upstream("meeting"), Upstream("collaboration"))
    after = [client.get(base, headers=COUNSELOR), client.get(f"/ui/cases/{case_id}", headers=COUNSELOR),
             client.get(f"{base}/person?basis=own_counter", headers=COUNSELOR), client.get(f"/ui/cases.csv?counter={ELDERLY.code}", headers=COUNSELOR)]
    assert [a.status_code for a in after] == [200] * len(after)
    assert after[0].json()["status"] == "plan_closed"

    assert len(kept) >= 5
    changed = [(type(value).__name__, value.version, sorted(k for k in before if vars(value).get(k) != before[k]))
               for value, before in kept if vars(value) != before]
    assert changed == [], "a kept case changed after it was kept"
    assert UUID(after[0].json()["case_id"]) == case_id
