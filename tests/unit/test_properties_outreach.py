"""Any sequence of commands leaves an outreach engagement (関わり) valid (D11, D12).

Invariants, from DOMAIN.md:
- D12: its stage is one of the relationship's stages; every contact attempt is kept, in order;
- D12: it hands the person on once (to intake, collaboration or participation), and never again;
- D11: a hand-over to collaboration names the primary agency; one to intake names the counter.
Refused commands change nothing, and the engagement is rebuilt equal from its stored events.
"""

from __future__ import annotations

from typing import Any
from uuid import uuid4

from hypothesis import given
from hypothesis import strategies as st

from services.outreach.application import OutreachApplication
from services.outreach.domain import CONTACT_METHODS, STAGES, Engagement
from unit.aggregate_laws import PROPERTIES, Subject
from unit.builders import in_memory

APP = in_memory(OutreachApplication)
MAYBE_NAMED = st.sampled_from([None, "", " ", "地域包括支援センター"])

COMMANDS = st.one_of(
    st.tuples(st.just("contact"), st.sampled_from(CONTACT_METHODS), st.booleans(), st.text(max_size=8),
              st.sampled_from(STAGES)),
    st.tuples(st.just("hand_over"), st.sampled_from(["intake", "collaboration", "participation"]), MAYBE_NAMED,
              st.sampled_from([None, "", " ", "houkatsu"])),
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
            assert subject.apply(lambda e: e.record_contact(method, reached, note, stage))  # noqa: B023
            contacts.append((method, reached, note))
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
