"""D11: random journeys never leave a case without exactly one primary agency (主担当).

Three services (intake, collaboration, meeting) run in memory and a bus delivers what each
publishes. Random commands drive one case: consent given or withdrawn (D9), connections (つなぎ)
and their answers (D3), escalation (D3), plans proposed and re-proposed (D4), and decisions of a
重層的支援会議 (D5): approval, a revision request, a return to intake naming the primary.

Beside the suite a model, written from DOMAIN.md and not from the code, says what each command
must do: succeed, or be refused with which domain error(s). A command is caught only for the
errors the model expects, and only when it expects one; any other outcome fails the test. After
every command the primary agency is the same in the model, in intake, on the bus (folded with
`shared.domain.primary.primary_after`) and in collaboration, which shows a returned case returned.

The search must really reach decisions and returns: the test counts them over all examples
and fails if approvals, revision requests, returns to intake or consent refusals never happened.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from uuid import UUID, uuid4

from hypothesis import HealthCheck, event, example, given, note, settings, target
from hypothesis import strategies as st
from support.municipality import ELDERLY, HARDSHIP, SHAKYO

from services.collaboration.application import CollaborationApplication
from services.collaboration.domain import CaseNotHeld
from services.collaboration.translate import translate as collaboration_out
from services.intake.application import IntakeApplication
from services.intake.domain import CaseAlreadyEscalated
from services.intake.translate import translate as intake_out
from services.meeting.application import MeetingApplication
from services.meeting.domain import ConsentMissing, NotOnAgenda
from services.meeting.translate import translate as meeting_out
from shared.contract.events import Envelope
from shared.domain.plan import OpenPlanExists, PlanNotEditable
from shared.domain.primary import primary_after
from shared.kernel.journey import DomainError, NotFound
from unit.builders import (
    ATTENDEES,
    COORDINATOR,
    COUNTER_STAFF,
    PERSON,
    ROLES,
    SECRETARIAT,
    deliver,
    in_memory,
    published,
)

#: The receiving counter (houkatsu) is the 地域包括支援センター of 高齢者支援室 (DOMAIN.md's table).
COUNTER_AGENCY = ELDERLY.ja
#: Agencies a case may be connected or escalated to, each with the division whose staff answer for it
#: (D11: the agency connected to answers; an outside agency's answer is recorded by the counter's division).
AGENCIES = {ELDERLY.ja: ELDERLY.division, HARDSHIP.ja: HARDSHIP.division,
            SHAKYO: ELDERLY.division}
NAMES = list(AGENCIES)
#: D9: consents a counter may record, as worded: to share at the 重層的支援会議, to share with the related
#: agencies only (not a consent for the meeting), or the withdrawal of the consent.
CONSENTS = {"consent": "重層的支援会議での情報共有", "consent_elsewhere": "関係機関との情報共有",
            "withdraw": "重層的支援会議での情報共有"}
#: D5: what a 重層的支援会議 may decide on a plan.
DECISIONS = ("approved", "revision_requested", "returned_to_intake")
#: D5 D4: the plan's owner may propose it again only after the meeting asked for a revision.
PROPOSABLE = ("revision_requested",)
EXAMPLES = max(int(os.environ.get("JUSOU_PROPERTY_EXAMPLES", "0")), 100)  # enough to reach every outcome counted below


class Suite:
    """Three services in memory, and a bus that delivers what each publishes to whoever subscribes."""

    def __init__(self) -> None:
        self.intake = in_memory(IntakeApplication)
        self.collaboration = in_memory(CollaborationApplication)
        self.meeting = in_memory(MeetingApplication)
        self.producers = {"intake": (self.intake, intake_out), "collaboration": (self.collaboration, collaboration_out),
                          "meeting": (self.meeting, meeting_out)}
        self.consumers = [self.intake, self.collaboration, self.meeting]
        self.delivered: dict[tuple[str, str], int] = {}
        self.log: list[Envelope] = []
        self.meeting_id = self.meeting.convene(SECRETARIAT, "jusou_shien_kaigi", date(2026, 11, 28), ATTENDEES)

    def pump(self) -> None:
        moved = True
        while moved:
            moved = False
            for source, (app, translate) in self.producers.items():
                for envelope in published(app, translate):
                    if envelope.event_id not in {e.event_id for e in self.log}:
                        self.log.append(envelope)
                    for consumer in self.consumers:
                        key = (consumer.service, source)
                        wanted = consumer.subscriptions.get(source, ())
                        if envelope.event_type in wanted and envelope.source_position > self.delivered.get(key, 0):
                            deliver(envelope, consumer)
                            self.delivered[key] = envelope.source_position
                            moved = True


@dataclass
class Model:
    """What DOMAIN.md says the case must hold, kept beside the suite."""

    primary: str = COUNTER_AGENCY  # D11: the receiving counter until an explicit event names another
    status: str = "open"  # open, escalated (D3), returned (D5)
    consent: bool = False  # D9: the person's consent as last recorded
    with_collaboration: bool = False  # D3: collaboration holds the case once it was escalated
    connections: list[str] = field(default_factory=list)  # agency of each connection
    answered: set[int] = field(default_factory=set)
    plans: dict[UUID, str] = field(default_factory=dict)  # plan id -> proposed, approved, revision_requested, returned


#: One command of a random journey: (kind, a number the command reads as it needs).
OPS = st.tuples(st.sampled_from(["consent", "consent_elsewhere", "withdraw", "connect", "answer", "escalate", "propose", "repropose",
                                 "decide", "decide", "decide"]),
                st.integers(0, 11))
#: How a journey may begin before its random commands: as it comes, or as a counter usually starts one
#: (consent given or not, escalated, a plan proposed), so that the meeting has something to decide.
OPENINGS = st.sampled_from([(), (("escalate", 1), ("propose", 0)),
                            (("consent", 0), ("escalate", 0), ("propose", 0)),
                            (("consent", 0), ("connect", 1), ("answer", 0), ("escalate", 2), ("propose", 0), ("propose", 0)),
                            (("consent", 0), ("escalate", 0), ("propose", 0), ("decide", 1), ("repropose", 0))])
JOURNEYS = st.builds(lambda opening, ops: [*opening, *ops], OPENINGS, st.lists(OPS, min_size=1, max_size=16))


def decision_for(model: Model, n: int) -> str:
    """The decision a `decide` command asks for (a second return of a case already back at intake included:
    intake and the bus then both take the primary it names)."""
    return DECISIONS[n % 3]


def expected_refusals(suite: Suite, model: Model, case_id: UUID, op: tuple[str, int]) -> tuple[Any, set[type[DomainError]]]:
    """The command to run for `op`, and the domain errors the rules allow it to raise (none: it must succeed)."""
    kind, n = op
    intake, collaboration, meeting = suite.intake, suite.collaboration, suite.meeting
    if kind in CONSENTS:
        return (lambda: intake.record_consent(COUNTER_STAFF, case_id, CONSENTS[kind], kind != "withdraw", "書面")), set()
    if kind == "connect":
        return (lambda: intake.connect_case(COUNTER_STAFF, case_id, NAMES[n % 3], "つなぎ")), set()
    if kind == "answer":
        index = n % (len(model.connections) + 1)  # sometimes one that does not exist
        agency = model.connections[index] if index < len(model.connections) else COUNTER_AGENCY
        answering = {"staff_id": "s2", "division": AGENCIES[agency]}
        run = (lambda: intake.answer_connection(answering, case_id, index, n % 2 == 0, "受け入れ困難"))
        if index >= len(model.connections):
            return run, {NotFound}  # D3: no such connection
        if index in model.answered:
            return run, {DomainError}  # D3: a connection is answered once
        return run, set()
    if kind == "escalate":
        run = (lambda: intake.escalate_case(COUNTER_STAFF, case_id, "複合", NAMES[n % 3]))
        return run, ({CaseAlreadyEscalated} if model.status == "escalated" else set())  # D3 D11: once until returned
    if kind == "propose":
        def propose() -> UUID:
            plan_id = collaboration.draft_plan(COORDINATOR, case_id, "方向性", ["目標"], ROLES)
            collaboration.propose_plan(COORDINATOR, plan_id)
            return plan_id
        if not model.with_collaboration:
            return propose, {NotFound}  # D4: a plan for a case collaboration holds
        if model.status == "returned":
            return propose, {CaseNotHeld}  # D11: not one returned to intake
        open_plan = any(status not in ("returned", "closed") for status in model.plans.values())
        return propose, ({OpenPlanExists} if open_plan else set())  # D4: one plan not ended per case
    plans = list(model.plans)
    plan_id = plans[n % len(plans)] if plans else uuid4()
    if kind == "repropose":
        run = (lambda: collaboration.propose_plan(COORDINATOR, plan_id))
        if plan_id not in model.plans:
            return run, {NotFound}
        if model.status == "returned":
            return run, {CaseNotHeld}  # D11: collaboration no longer holds a case returned to intake
        return run, (set() if model.plans[plan_id] in PROPOSABLE else {PlanNotEditable})
    decision = decision_for(model, n)
    run = (lambda: meeting.decide(SECRETARIAT, suite.meeting_id, plan_id, decision, "合議",
                                  [{"agency": a, "position": "agree"} for a in ATTENDEES], [], NAMES[n // 3 % 3]))
    if plan_id not in model.plans:
        return run, {NotFound}
    refusals: set[type[DomainError]] = set()
    if model.plans[plan_id] != "proposed":
        refusals.add(NotOnAgenda)  # D5: only a proposed plan is judged
    if not model.consent:
        refusals.add(ConsentMissing)  # D9: the 重層的支援会議 needs the person's consent
    return run, refusals


def accepted(model: Model, op: tuple[str, int], result: Any) -> str:
    """Move the model as DOMAIN.md says an accepted command moves the case; returns what happened."""
    kind, n = op
    if kind in CONSENTS:
        model.consent = kind == "consent"  # D9: only a consent to share at the 重層的支援会議 lets it discuss the case
    elif kind == "connect":
        model.connections.append(NAMES[n % 3])
    elif kind == "answer":
        index = n % (len(model.connections) + 1)
        model.answered.add(index)
        if n % 2 == 0:  # D3 D11: the accepting agency becomes primary
            model.primary = model.connections[index]
            return "connection accepted"
        return "connection declined"
    elif kind == "escalate":
        model.status, model.primary, model.with_collaboration = "escalated", NAMES[n % 3], True  # D11: names the primary
    elif kind == "propose":
        model.plans[result] = "proposed"
    elif kind == "repropose":
        model.plans[list(model.plans)[n % len(model.plans)]] = "proposed"
        return "plan proposed again"
    elif kind == "decide":
        plan_id, decision = list(model.plans)[n % len(model.plans)], decision_for(model, n)
        model.plans[plan_id] = {"returned_to_intake": "returned"}.get(decision, decision)
        if decision == "returned_to_intake":  # D5 D11: intake is primary again, with the agency the meeting named
            model.status, model.primary = "returned", NAMES[n // 3 % 3]
        return f"decided {decision}"
    return kind


def check(suite: Suite, model: Model, case_id: UUID) -> None:
    """D11: exactly one primary agency, the same everywhere, and the one the rules say."""
    mine = sorted((e for e in suite.log if e.case_id == case_id), key=lambda e: e.occurred_at)
    on_the_bus = primary_after(mine)
    case = suite.intake.case_view(case_id)
    assert isinstance(on_the_bus, str) and on_the_bus.strip(), "D11: a case without a primary agency"
    assert on_the_bus == model.primary, f"D11: the bus says {on_the_bus}, the rules {model.primary}"
    assert case["primary"] == model.primary, f"D11: intake says {case['primary']}, the rules {model.primary}"
    assert case["status"] == model.status, (case["status"], model.status)
    if model.with_collaboration:  # D11 across programs: collaboration names the same primary, open or returned
        shown = suite.collaboration.case_view(case_id)
        assert shown["primary_agency"] == model.primary, "D11: collaboration disagrees"
        assert shown["status"] == ("open" if model.status == "escalated" else "returned"), (shown["status"], model.status)
    for plan_id, status in model.plans.items():
        assert suite.collaboration.plan_view(plan_id)["status"] == status, "D5: the plan follows the meeting's decision"


def run_journey(ops: list[tuple[str, int]], seen: Counter[str]) -> None:
    note(f"journey: {ops}")
    suite = Suite()
    case_id = suite.intake.receive_consultation(COUNTER_STAFF, ELDERLY.code, ELDERLY.division, "窓口",
                                                ["高齢・介護", "ひきこもり"], dict(PERSON), None, True)
    suite.pump()
    model = Model()
    check(suite, model, case_id)
    decisions = 0
    for op in ops:
        command, refusals = expected_refusals(suite, model, case_id, op)
        try:
            result = command()
        except DomainError as error:
            assert type(error) in refusals, f"{op}: refused with {type(error).__name__}, the rules allow {refusals or 'no refusal'}"
            outcome = f"{op[0]} refused: {type(error).__name__}"
        else:
            assert not refusals, f"{op}: accepted, but the rules refuse it ({', '.join(r.__name__ for r in refusals)})"
            outcome = accepted(model, op, result)
            decisions += outcome.startswith("decided")
        seen[outcome] += 1
        event(outcome)
        suite.pump()
        check(suite, model, case_id)
    target(float(decisions), label="decisions in one journey")


def test_d11_every_case_has_exactly_one_primary_agency_at_any_time() -> None:
    seen: Counter[str] = Counter()

    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)
    @given(JOURNEYS)
    # Journeys that reach each counted outcome whatever the random search does (target() favours long runs
    # of revisions, which an approval ends): an approval, a return then a second return naming another
    # primary, a refusal for want of consent, an accepted connection, a plan proposed again.
    @example([("consent", 0), ("escalate", 0), ("propose", 0), ("decide", 0)])
    @example([("consent", 0), ("escalate", 0), ("propose", 0), ("propose", 0), ("decide", 2), ("decide", 5)])
    @example([("escalate", 1), ("propose", 0), ("decide", 0)])
    @example([("connect", 1), ("answer", 0), ("consent", 0), ("escalate", 2), ("propose", 0), ("decide", 1),
              ("repropose", 0), ("decide", 0)])
    def journeys(ops: list[tuple[str, int]]) -> None:
        run_journey(ops, seen)

    journeys()
    # The search must have covered what D11 is about: decisions of every kind, returns, refusals for want of consent.
    for outcome in ("decided approved", "decided revision_requested", "decided returned_to_intake",
                    "decide refused: ConsentMissing", "connection accepted", "plan proposed again"):
        assert seen[outcome] > 0, f"no example reached '{outcome}': {dict(seen)}"


def test_d11_a_second_return_to_intake_leaves_one_primary_in_intake_and_on_the_bus() -> None:
    suite = Suite()
    case_id = suite.intake.receive_consultation(COUNTER_STAFF, ELDERLY.code, ELDERLY.division, "窓口",
                                                ["高齢・介護", "ひきこもり"], dict(PERSON), None, True)
    suite.intake.record_consent(COUNTER_STAFF, case_id, CONSENTS["consent"], True, "書面")
    suite.intake.escalate_case(COUNTER_STAFF, case_id, "複合", ELDERLY.ja)
    suite.pump()
    agree = [{"agency": a, "position": "agree"} for a in ATTENDEES]
    for again, primary in enumerate((HARDSHIP.ja, SHAKYO)):  # returned, escalated again, a new plan returned again
        if again:  # (D4: one plan not ended per case, so the second plan comes after the first was returned)
            suite.intake.escalate_case(COUNTER_STAFF, case_id, "複合", ELDERLY.ja)
            suite.pump()
        plan_id = suite.collaboration.draft_plan(COORDINATOR, case_id, "方向性", ["目標"], ROLES)
        suite.collaboration.propose_plan(COORDINATOR, plan_id)
        suite.pump()
        suite.meeting.decide(SECRETARIAT, suite.meeting_id, plan_id, "returned_to_intake", "合議", agree, [], primary)
        suite.pump()
    on_the_bus = primary_after(sorted((e for e in suite.log if e.case_id == case_id), key=lambda e: e.occurred_at))
    assert on_the_bus == SHAKYO, "D5 D11: the last return names the primary"
    assert suite.intake.case_view(case_id)["primary"] == on_the_bus, "D11: intake and the bus name two primaries"


def test_d11_a_primary_agency_given_by_its_code_is_recorded_by_its_name_with_the_code() -> None:
    """A client may send the 主担当機関 as the municipality file's code (`counter:<code>`, as GET /reference/agencies
    gives it): the case and the bus carry the agency's name for people and the code beside it, never the code as a name."""
    suite = Suite()
    case_id = suite.intake.receive_consultation(COUNTER_STAFF, ELDERLY.code, ELDERLY.division, "窓口",
                                                ["高齢・介護", "ひきこもり"], dict(PERSON), None, True)
    suite.intake.escalate_case(COUNTER_STAFF, case_id, "複合", f"counter:{ELDERLY.code}")
    suite.pump()
    assert suite.intake.case_view(case_id)["primary"] == ELDERLY.ja
    [escalated] = [e for e in suite.log if e.case_id == case_id and e.event_type == "CaseEscalated"]
    payload = escalated.payload if isinstance(escalated.payload, dict) else escalated.payload.model_dump()
    assert payload["primary_agency"] == ELDERLY.ja
    assert payload["primary_agency_code"] == f"counter:{ELDERLY.code}"
