"""Any sequence of commands leaves an outreach engagement (関わり) valid (D11, D12).

Invariants, from DOMAIN.md:
- D12: its stage is one of the relationship's stages; every contact attempt is kept, in order;
- D12: it hands the person on once (to intake, collaboration or participation), and never again;
- D11: a hand-over to collaboration names the primary agency; one to intake names the counter.
Refused commands change nothing, and the engagement is rebuilt equal from its stored events.
"""

from __future__ import annotations

import copy
from datetime import date, timedelta
from typing import Any
from uuid import uuid4

from hypothesis import given
from hypothesis import strategies as st
from support.municipality import ELDERLY, LEAD

from services.outreach.api import ContactIn, StartIn
from services.outreach.application import OutreachApplication
from services.outreach.domain import CONTACT_METHODS, STAGES, Engagement
from services.outreach.translate import translate
from shared.domain.wareki import today_in_japan
from shared.kernel.journey import Invalid
from shared.web.limits import form_model
from unit.aggregate_laws import PROPERTIES, Subject
from unit.builders import in_memory

APP = in_memory(OutreachApplication)
MAYBE_NAMED = st.sampled_from([None, "", " ", ELDERLY.ja])

COMMANDS = st.one_of(
    st.tuples(st.just("contact"), st.sampled_from(CONTACT_METHODS), st.booleans(), st.text(max_size=8),
              st.sampled_from(STAGES)),
    st.tuples(st.just("hand_over"), st.sampled_from(["intake", "collaboration", "participation"]), MAYBE_NAMED,
              st.sampled_from([None, "", " ", ELDERLY.code])),
)


def named(value: str | None) -> bool:
    return bool((value or "").strip())


@PROPERTIES
@given(ops=st.lists(COMMANDS, max_size=12))
def test_d11_d12_any_commands_leave_an_engagement_valid(ops: list[tuple[Any, ...]]) -> None:
    subject = Subject(APP, lambda: Engagement(case_id=uuid4(), referred_by="民生委員", reason="長期のひきこもり"))
    engagement = subject.aggregate
    contacts: list[tuple[Any, ...]] = []
    handed: str | None = None
    for op in ops:
        if op[0] == "contact":
            _, method, reached, note, stage = op
            lawful = not (reached and stage == STAGES[0])  # a contact that reached the person is past 未接触
            done = subject.apply(lambda e: e.record_contact(method, reached, note, stage))  # noqa: B023
            assert done == lawful, (reached, stage)
            contacts += [(method, reached, note)] if done else []
        else:
            _, to_program, primary, counter = op
            lawful = handed is None and (to_program != "collaboration" or named(primary)) and (
                to_program != "intake" or named(counter))
            done = subject.apply(lambda e: e.hand_over(to_program, "つなぎ", primary, counter))  # noqa: B023
            assert done == lawful, (to_program, primary, counter, handed)
            handed = to_program if done else handed
        assert engagement.stage in STAGES, "D12: a known stage of the relationship"
        assert [(c["method"], c["reached"], c["note"]) for c in engagement.contacts] == contacts, "D12: every contact"
        assert engagement.handed_over_to == handed, "D12: handed on once"
    assert subject.rebuilt().handed_over_to == handed


def test_d12_a_contact_is_kept_on_the_day_it_took_place_typed_in_wareki_never_a_future_day() -> None:
    """接触日 (issue 15): typed as staff write it (和暦 or Western), kept with the contact, refused after today."""
    typed = form_model(ContactIn, {"method": "訪問", "reached": "1", "stage": "接触", "on": "R8.11.3"})
    assert typed.on == date(2026, 11, 3)
    assert form_model(ContactIn, {"method": "訪問", "reached": "0", "stage": "接触", "on": ""}).on is None
    actor = {"staff_id": "outreach-007", "division": LEAD}
    case_id = APP.start(actor, None, "民生委員", "訪問を拒む")
    APP.record_contact(actor, case_id, "訪問", True, "玄関で話せた", "接触", typed.on)
    APP.record_contact(actor, case_id, "手紙", False, "", "接触")
    log = APP.engagement_record(case_id)["log"]
    assert [c["on"] for c in log] == ["2026-11-03", log[1]["at"][:10]]
    try:
        APP.record_contact(actor, case_id, "電話", True, "", "接触", today_in_japan() + timedelta(days=1))
    except Invalid as refused:
        assert "今日より後" in str(refused)
    else:
        raise AssertionError("a contact dated after today was accepted")
    assert len(APP.engagement_record(case_id)["log"]) == 2


def test_d12_a_new_persons_address_stays_in_outreachs_store_and_older_starts_still_load() -> None:
    """住所・所在地域 (issue 15): typed on the start form, kept and shown by outreach, never on the bus."""
    typed = form_model(StartIn, {"referred_by": "民生委員", "reason": "長期のひきこもり", "address": "調布市国領町"})
    actor = {"staff_id": "outreach-007", "division": LEAD}
    case_id = APP.start(actor, None, typed.referred_by, typed.reason, typed.address)
    assert APP.engagement_record(case_id)["address"] == "調布市国領町"
    started = next(iter(APP.events_of(case_id)))
    envelope = translate(started, 1)
    assert envelope is not None and "国領" not in envelope.model_dump_json(), "no address on the bus"
    older = copy.copy(started)
    older.__dict__.pop("address")  # an engagement started before the address was kept
    assert older.mutate(None).view()["address"] is None
    assert APP.engagement_view(APP.start(actor, None, "家族", "心配", form_model(
        StartIn, {"referred_by": "家族", "reason": "心配", "address": ""}).address))["address"] is None
