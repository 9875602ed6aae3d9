"""D11 D12 on the bus: outreach's own NATS credentials cannot rewrite a case collaboration holds open (HB's review).

Outreach's user may publish only on `jusou.outreach.>`, and an OutreachHandedOver there names a case. Collaboration
took one to collaboration as `_open` does an escalation: a case it already held open was "reopened" with the
hand-over's reason and primary agency, so outreach's credentials replaced the reason intake escalated with and the
case's one primary agency (D11: it changes by an accepted つなぎ or the meeting's return), and with it the divisions
whose staff may read the case (their agency named primary: shared/organisation/scope.py). A hand-over of a case
collaboration holds open now changes nothing there (it is here already); one collaboration never held, or returned to
intake, opens or reopens it as before."""

from __future__ import annotations

from uuid import UUID, uuid4

from support.municipality import ELDERLY, HARDSHIP

from services.collaboration.application import CollaborationApplication
from unit.builders import Upstream, in_memory

REASON = "8050: 母の介護と本人のひきこもり"


def escalated(app: CollaborationApplication) -> UUID:
    case_id = uuid4()
    assert app.receive(*Upstream("intake").emit("CaseEscalated", {
        "reason": REASON, "concerns": ["高齢・介護"], "primary_agency": ELDERLY.ja}, case_id))
    return case_id


def handed_over(app: CollaborationApplication, case_id: UUID, agency: str = HARDSHIP.ja) -> None:
    app.receive(*Upstream("outreach").emit("OutreachHandedOver", {
        "to_program": "collaboration", "reason": "乗っ取り", "primary_agency": agency}, case_id))


def test_d11_outreachs_hand_over_does_not_rewrite_a_case_collaboration_holds_open() -> None:
    app = in_memory(CollaborationApplication)
    case_id = escalated(app)
    divisions = app.case_divisions(case_id)
    assert HARDSHIP.division not in divisions, "the test needs a division the case does not name"

    handed_over(app, case_id)

    case = app.case_view(case_id)
    assert (case["status"], case["primary_agency"]) == ("open", ELDERLY.ja), case
    assert REASON in case["reason"] and "乗っ取り" not in case["reason"], case["reason"]
    assert app.case_divisions(case_id) == divisions  # no division given the case by outreach's message


def test_d12_outreachs_hand_over_of_its_own_case_opens_it_at_collaboration() -> None:
    app = in_memory(CollaborationApplication)
    case_id = uuid4()  # a person outreach met before any counter (D12)
    handed_over(app, case_id, ELDERLY.ja)
    case = app.case_view(case_id)
    assert (case["status"], case["primary_agency"], case["reason"]) == ("open", ELDERLY.ja, "乗っ取り"), case
