"""A contact that reached the person was recorded with the relationship still at 「未接触」 (HD's review, session 22, on a
jusou up: the contact form's 関係の段階（記録後） offers the engagement's stage, 未接触 on a new one, and an outreach
worker who ticked 会えた・話せた and pressed 接触を記録 kept a log row 「会えた … 未接触」, a relationship that never began
beside a meeting that took place). Now such a contact is refused (422) saying to choose 「接触」 or later, nothing
recorded; an attempt that did not reach the person may leave the stage at 未接触, and any later stage takes a reached
contact as before (D12)."""

from __future__ import annotations

from collections.abc import Iterator
from uuid import uuid4

import pytest
from support.municipality import LEAD

from services.outreach.application import OutreachApplication
from services.outreach.domain import STAGES, Engagement
from shared.kernel.journey import Invalid, acting
from shared.web.limits import halves
from unit.builders import in_memory

WORKER = {"staff_id": "outreach-007", "division": LEAD}


@pytest.fixture(autouse=True)
def worker_acting() -> Iterator[None]:
    with acting(WORKER):
        yield


def test_d12_a_contact_that_reached_the_person_cannot_leave_the_relationship_at_not_contacted() -> None:
    engagement = Engagement(case_id=uuid4(), referred_by="民生委員", reason="長期のひきこもり")
    with pytest.raises(Invalid) as refused:
        engagement.record_contact("訪問", True, "玄関先で会えた", "未接触")
    japanese, english = halves(str(refused.value))
    assert japanese == "会えた・話せた接触のあとの関係の段階は「未接触」にできません。「接触」以降を選んでください"
    assert "未接触" not in english and english.endswith("choose that stage")
    assert engagement.contacts == [] and engagement.stage == "未接触"


@pytest.mark.parametrize("reached, stage", [(False, "未接触"), *[(True, s) for s in STAGES[1:]], (False, "接触")])
def test_d12_other_contacts_are_recorded_as_before(reached: bool, stage: str) -> None:
    engagement = Engagement(case_id=uuid4(), referred_by="民生委員", reason="長期のひきこもり")
    engagement.record_contact("訪問", reached, "", stage)
    assert engagement.stage == stage and len(engagement.contacts) == 1


def test_the_application_records_nothing_on_the_refusal() -> None:
    app = in_memory(OutreachApplication)
    try:
        case_id = app.start(WORKER, None, referred_by="民生委員・児童委員", reason="長期のひきこもり")
        before = len(list(app.notifications()))
        with pytest.raises(Invalid):
            app.record_contact(WORKER, case_id, "訪問", True, "会えた", "未接触")
        assert len(list(app.notifications())) == before
        app.record_contact(WORKER, case_id, "訪問", True, "会えた", "接触")
        assert len(list(app.notifications())) == before + 1
    finally:
        app.close()
