"""Any sequence of commands leaves a meeting (会議) and its agenda valid (D5, D7, D8, D9, D10, D11).

Invariants of a meeting, from DOMAIN.md:
- D10: its type (重層的支援会議 or 支援会議) and its attendees never change; it has attendees (D5);
- D5: a decision judges a proposed plan; it records every attendee's position as given (賛成, 異議 with its
  reason, 保留, 意見 with its text), and an objection blocks approval only (issue 16);
- D9: the 重層的支援会議 decides and evaluates only on a case whose person consented; the 支援会議 needs
  no consent but never approves a plan (D10: only the 重層的支援会議 judges its 適切性);
- D5 D11: a return to intake names the primary agency and is recorded beside the decision;
- D7: an evaluation follows a closure request and evaluates each goal of the plan once; a
  suspension says why, a continuation names its next review date;
- D8: a resource gap is recorded as a regional issue in the minutes.
An agenda item (議題) only moves to a newer revision. Refused commands change nothing, and each
aggregate is rebuilt equal from its stored events (dates included).
"""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.municipality import ELDERLY

from services.meeting.application import SETTLED, MeetingApplication
from services.meeting.domain import MEETING_TYPES, Consent, Meeting, PlanReview
from shared.kernel.journey import Invalid, acting
from unit.aggregate_laws import PROPERTIES, Subject
from unit.builders import ATTENDEES, SECRETARIAT, in_memory

APP = in_memory(MeetingApplication)
#: The oracle, from DOMAIN.md and not from services/meeting: the two meetings D10 names, and the three decisions
#: D5 names on a proposed plan, with the status each leaves its agenda item in.
MEETINGS = {"jusou_shien_kaigi": "重層的支援会議", "shien_kaigi": "支援会議"}
DECISIONS = {"approved": "approved", "revision_requested": "revision_requested", "returned_to_intake": "returned"}
GOALS = ["月1回の訪問", "居場所に通う"]
POSITION = st.fixed_dictionaries({
    "agency": st.sampled_from([*ATTENDEES, "出席していない機関"]),
    "position": st.sampled_from(["agree", "agree", "object", "reserve", "comment"]),
    "reason": st.sampled_from(["", "資源が足りない"]),
})

COMMANDS = st.one_of(
    st.tuples(st.just("decide"), st.sampled_from(list(DECISIONS)), st.booleans(), st.booleans(),
              st.one_of(st.just([{"agency": a, "position": "agree", "reason": ""} for a in ATTENDEES]),
                        st.lists(POSITION, max_size=4)), st.booleans()),
    st.tuples(st.just("evaluate"), st.sampled_from(["closed", "suspended", "continued"]),
              st.one_of(st.just(GOALS), st.lists(st.sampled_from([*GOALS, "ほかの目標"]), max_size=3)), st.booleans(),
              st.booleans(), st.booleans()),
    st.tuples(st.just("gap"), st.sampled_from(["居場所", "就労"])),
    st.tuples(st.just("relist"), st.integers(0, 3)),
    st.tuples(st.just("closure"),),
)


def consensus(meeting: Meeting, positions: list[dict[str, str]], decision: str) -> bool:
    """D5: every attendee has one position, nobody else does, an objection or a comment says what, and nobody
    objects to an approval (an objection blocks approval only)."""
    agencies = [p["agency"] for p in positions]
    said = all(p.get("reason", "").strip() for p in positions if p["position"] in ("object", "comment"))
    return (sorted(agencies) == sorted(meeting.attendees) and said
            and (decision != "approved" or all(p["position"] != "object" for p in positions)))


def check(meeting: Meeting, fixed: tuple[Any, ...], consents: list[bool], review: PlanReview, revision: int) -> None:
    assert (meeting.meeting_type, tuple(meeting.attendees), meeting.held_on) == fixed, "D10: a meeting's identity"
    assert meeting.meeting_type in MEETINGS and meeting.attendees, "D5 D10"
    decisions = [m for m in meeting.minutes if m["kind"] == "decision"]
    for minute in decisions:
        assert consensus(meeting, minute["positions"], minute["decision"]), "D5: a decision without consensus"
    if meeting.meeting_type == "jusou_shien_kaigi":
        assert all(consents), "D9: the 重層的支援会議 decided without consent"
    for i, minute in enumerate(meeting.minutes):
        if minute["kind"] == "decision" and minute["decision"] == "returned_to_intake":
            assert meeting.minutes[i + 1]["kind"] == "returned_to_intake", "D5 D11: the return is recorded"
        if minute["kind"] == "evaluation":
            evaluated = [g["goal"] for g in minute["evaluation"]["goals"]]
            assert sorted(evaluated) == sorted(GOALS), "D7: each goal evaluated once"
            assert minute["outcome"] != "suspended" or minute["reason"], "D7: a suspension says why"
            assert minute["outcome"] != "continued" or minute["next_review_on"], "D7: a continuation has a date"
    assert review.revision == revision, "an agenda item only moves to a newer revision"


@PROPERTIES
@given(meeting_type=st.sampled_from(list(MEETINGS)), ops=st.lists(COMMANDS, max_size=14))
def test_d5_d7_d8_d9_d10_any_commands_leave_a_meeting_valid(meeting_type: str, ops: list[tuple[Any, ...]]) -> None:
    meeting_subject = Subject(APP, lambda: Meeting.convene(meeting_type, date(2026, 12, 3), ATTENDEES), SECRETARIAT)
    case_id, plan_id = uuid4(), uuid4()
    review_subject = Subject(APP, lambda: PlanReview(case_id=case_id, plan_id=plan_id, program="collaboration",
                                                     revision=1, summary={"goals": GOALS}), SECRETARIAT)
    meeting, review = meeting_subject.aggregate, review_subject.aggregate
    fixed = (meeting.meeting_type, tuple(meeting.attendees), meeting.held_on)
    revision, consents = 1, []
    for op in ops:
        kind, status = op[0], review.status
        if kind == "decide":
            _, decision, consented, names_primary, positions, with_reasons = op
            reasons = "合議" if with_reasons else ""
            # D9: the 重層的支援会議 only with consent; D10: the 支援会議 never approves (適切性 is not its to judge)
            lawful = (status == "proposed" and (consented if meeting_type == "jusou_shien_kaigi" else decision != "approved")
                      and consensus(meeting, positions, decision) and (decision != "returned_to_intake" or names_primary))
            decided = meeting_subject.apply(lambda m: m.decide(
                review, decision, reasons, positions, [], consented,  # noqa: B023 - applied at once
                ELDERLY.ja if names_primary else None))  # noqa: B023
            assert decided == lawful, (decided, status, consented, positions)
            if decided:
                consents.append(consented)
                assert review_subject.apply(lambda r: r.settle(DECISIONS[decision]))  # noqa: B023
        elif kind == "evaluate":
            _, outcome, goals, with_reason, with_date, consented = op
            results = [{"goal": g, "result": "achieved"} for g in goals]
            lawful = (status == "closure_requested" and sorted(goals) == sorted(GOALS)
                      and (meeting_type == "shien_kaigi" or consented)  # D9: evaluating needs the consent too
                      and (outcome != "suspended" or with_reason) and (outcome != "continued" or with_date))
            evaluated = meeting_subject.apply(lambda m: m.evaluate(
                review, outcome, "訪問12回", "目標達成", "転居" if with_reason else "",  # noqa: B023
                date(2027, 4, 1) if with_date else None, results, consented))  # noqa: B023
            assert evaluated == lawful, (evaluated, status, goals)
            if evaluated:
                assert review_subject.apply(lambda r: r.settle(outcome))  # noqa: B023
        elif kind == "gap":
            assert meeting_subject.apply(lambda m: m.identify_gap(case_id, op[1], "深大寺", "不足"))  # noqa: B023
        elif kind == "relist":
            assert review_subject.apply(lambda r: r.relist(op[1], {"goals": GOALS}))  # noqa: B023
            if op[1] > revision:
                revision = op[1]
                assert review.status == "proposed"
        elif kind == "closure":
            assert review_subject.apply(lambda r: r.list_for_closure("経過"))
            assert review.status == "closure_requested"
        check(meeting, fixed, consents, review, revision)
    check(meeting_subject.rebuilt(), fixed, consents, review_subject.rebuilt(), revision)


def test_d5_d10_the_meeting_knows_the_two_meetings_and_the_three_decisions_domain_names() -> None:
    assert MEETING_TYPES == MEETINGS
    assert set(SETTLED) == set(DECISIONS)


@pytest.mark.parametrize(("meeting_type", "attendees"), [("kaigi", ATTENDEES), ("shien_kaigi", [])])
def test_d5_d10_a_meeting_needs_a_known_type_and_attendees(meeting_type: str, attendees: list[str]) -> None:
    with acting(SECRETARIAT), pytest.raises(Invalid):
        Meeting.convene(meeting_type, date(2026, 12, 3), attendees)


@PROPERTIES
@given(heard=st.lists(st.booleans(), max_size=6))
def test_d9_the_meeting_keeps_the_last_consent_it_heard(heard: list[bool]) -> None:
    subject = Subject(APP, lambda: Consent(case_id=uuid4(), granted=False, scope="情報共有"), SECRETARIAT)
    for granted in heard:
        assert subject.apply(lambda c: c.change(granted, "情報共有"))  # noqa: B023 - applied at once
    assert subject.rebuilt().granted == (heard[-1] if heard else False)
