"""D8 and division scope: the 推進会議's gaps are every division's work, the case a gap came from is not (HB's review).

`council.read` is every 管理職's, 監査's, coordinator's and secretariat's, whatever their division: the council
hears gaps from every case. Each gap also named the case it came from (`case_id`), so a supervisor of a division
that may not read that case learnt which case had which unmet need and where (GET /council/gaps, /council/gaps/{id},
a decision's answer). Now `case_id` is null for a reader whose division may not read the case, as the case's own
routes refuse them; the gap itself (need, area, description, status) is shown to every reader as before."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from uuid import UUID, uuid4

import pytest
from fastapi.testclient import TestClient
from support.auth import staff_headers
from support.municipality import CHILDCARE, ELDERLY, LEAD

from services.collaboration.application import CollaborationApplication
from services.collaboration.domain import gap_id_of
from unit.builders import Upstream, in_memory

GAP = {"need": "夜間の居場所", "area": "深大寺", "description": "若者が夜に過ごせる場がない"}


@pytest.fixture
def collaboration() -> Iterator[tuple[CollaborationApplication, TestClient]]:
    from services.collaboration.main import api

    app = in_memory(CollaborationApplication)
    api.state.runtime = SimpleNamespace(app=app)  # no lifespan (no bus): this application only
    try:
        yield app, TestClient(api)
    finally:
        del api.state.runtime


def gap_of_a_case(app: CollaborationApplication) -> tuple[UUID, UUID]:
    """A case escalated by the elderly counter, and the gap the 重層的支援会議 named from it."""
    case_id = uuid4()
    assert app.receive(*Upstream("intake").emit("CaseEscalated", {
        "reason": "8050", "concerns": ["高齢・介護"], "primary_agency": ELDERLY.ja}, case_id))
    envelope, payload = Upstream("meeting").emit("ResourceGapIdentified", GAP, case_id)
    assert app.receive(envelope, payload)
    return case_id, gap_id_of(envelope.event_id)


def test_scope_another_divisions_supervisor_reads_the_gap_but_not_which_case_it_came_from(
        collaboration: tuple[CollaborationApplication, TestClient]) -> None:
    app, client = collaboration
    case_id, gap_id = gap_of_a_case(app)
    outsider = staff_headers("hoiku-kacho", CHILDCARE.division, "supervisor")
    assert CHILDCARE.division not in app.case_divisions(case_id), "the test needs a division the case does not name"
    assert client.get(f"/cases/{case_id}", headers=outsider).status_code == 403  # the case's own route refuses

    one = client.get(f"/council/gaps/{gap_id}", headers=outsider)
    listed = client.get("/council/gaps", headers=outsider)

    assert one.status_code == 200 and listed.status_code == 200, (one.text, listed.text)
    rows = [g for g in listed.json() if g["gap_id"] == str(gap_id)]
    for gap in (one.json(), *rows):
        assert (gap["need"], gap["area"]) == (GAP["need"], GAP["area"]), gap  # the council's work: shown
        assert gap["case_id"] is None, gap
    assert str(case_id) not in one.text + listed.text


@pytest.mark.parametrize("reader", [("kouki-kacho", ELDERLY.division, "supervisor"),  # the case names its division
                                    ("fukushi-kacho", LEAD, "supervisor"),  # runs collaboration
                                    ("kansa-1", CHILDCARE.division, "auditor")])  # reads every division
def test_scope_a_reader_of_the_case_reads_which_case_the_gap_came_from(
        collaboration: tuple[CollaborationApplication, TestClient], reader: tuple[str, str, str]) -> None:
    app, client = collaboration
    case_id, gap_id = gap_of_a_case(app)
    gap = client.get(f"/council/gaps/{gap_id}", headers=staff_headers(*reader))
    assert gap.status_code == 200 and gap.json()["case_id"] == str(case_id), gap.text
