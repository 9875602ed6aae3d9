"""Any sequence of commands leaves intake's aggregates valid (D2, D3, D9, D10, D11, D12).

Invariants of a case (相談ケース), from DOMAIN.md:
- D11: it has exactly one primary agency at any time — the receiving counter until an accepted
  connection, an escalation or a return from the meeting names another;
- D2: its counter, division, channel and person never change after it is received;
- D3: a connection is pending, accepted or declined; a declined one says why; an answer is given once;
- D3 D11: it is escalated at most once until the meeting returns it;
- D9 D10: the person is shown only on a legal basis (own counter's division, a granted consent,
  a named 支援会議), and every showing is recorded.
A person (相談者) is erased at most once, on a known legal basis with a reason; once erased, their
personal fields read as erased, also when rebuilt without their key, and they are shown no more.
A referral (D12) is received once, at its own counter. Refused commands change nothing, and
every aggregate is rebuilt equal from its stored events.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

from hypothesis import given
from hypothesis import strategies as st
from support.municipality import DISABILITY, ELDERLY, HARDSHIP, LEAD

from services.intake.application import IntakeApplication
from services.intake.domain import ERASURE_BASES, Case, Person, PersonErased, Referral
from shared.organisation.reference import COUNTERS, DIVISIONS
from unit.aggregate_laws import PROPERTIES, Subject
from unit.builders import in_memory

APP = in_memory(IntakeApplication)
AGENCIES = [ELDERLY.ja, HARDSHIP.ja, DISABILITY.ja, "子ども家庭支援センターすこやか"]
TEXT = st.text(max_size=12)
AGENCY = st.sampled_from(AGENCIES)

#: what a consent may cover (D9): nothing (refused when granted), either, or both
COVERS = [[], ["jusou_shien_kaigi"], ["related_agencies"], ["jusou_shien_kaigi", "related_agencies"]]
#: the meetings of a run: a made-up id is among them until a sitting notes it (D10: verified, never trusted)
SITTINGS = [UUID(int=1), UUID(int=2), UUID(int=3)]

CASE_COMMANDS = st.one_of(
    st.tuples(st.just("consent"), TEXT, st.booleans(), TEXT, st.sampled_from(COVERS)),
    st.tuples(st.just("connect"), AGENCY, TEXT),
    st.tuples(st.just("answer"), st.integers(-1, 3), st.booleans(), st.sampled_from(["", "  ", "受け入れ困難"])),
    st.tuples(st.just("escalate"), TEXT, st.sampled_from([*AGENCIES, "", " "])),
    st.tuples(st.just("return"), AGENCY, TEXT),
    st.tuples(st.just("disclose"), st.sampled_from(["own_counter", "consent", "shien_kaigi", "gossip"]),
              st.sampled_from(list(DIVISIONS)), st.sampled_from([None, *SITTINGS]),
              st.frozensets(st.sampled_from(list(DIVISIONS)), max_size=3)),
    # D10: a sitting took the case up (MeetingCaseTakenUp), with these member divisions
    st.tuples(st.just("sitting"), st.sampled_from(SITTINGS), st.sampled_from(["jusou_shien_kaigi", "shien_kaigi"]),
              st.lists(st.sampled_from(list(DIVISIONS)), max_size=3)),
    st.tuples(st.just("note_meeting"), st.sampled_from(["jusou_shien_kaigi", "shien_kaigi"]),
              st.sampled_from(["approved", "revision_requested"])),
)


class CaseModel:
    """What the rules say the case must hold, kept beside it."""

    def __init__(self, case: Case) -> None:
        self.primary, self.status, self.consent, self.disclosures = case.primary, "open", None, 0
        self.fixed = (case.counter, case.division, case.channel, case.person_ref, case.case_id)
        self.answered: set[int] = set()
        self.covers: set[str] = set()  # what the standing consent covers (none when withdrawn)
        self.sittings: dict[UUID, tuple[str, set[str]]] = {}  # the first noting of each meeting counts

    def check(self, case: Case) -> None:
        assert isinstance(case.primary, str) and case.primary.strip(), "D11: a case without a primary agency"
        assert case.primary == self.primary, "D11: the primary agency changed without an explicit event"
        assert case.status == self.status and case.status in ("open", "escalated", "returned")
        assert (case.counter, case.division, case.channel, case.person_ref, case.case_id) == self.fixed, "D2"
        assert COUNTERS[case.counter].division == case.division, "D2: a counter belongs to one division"
        for i, connection in enumerate(case.connections):
            assert connection["status"] in ("pending", "accepted", "declined"), "D3"
            assert (connection["status"] != "pending") == (i in self.answered), "D3: answered exactly once"
            if connection["status"] == "declined":
                assert connection["answer"].strip(), "D3: a declined connection says why"
        assert getattr(case, "disclosures", 0) == self.disclosures, "D10: every showing is recorded"


def run_case_command(case: Case, model: CaseModel, subject: Subject[Case], op: tuple[Any, ...]) -> None:
    kind = op[0]
    if kind == "consent":
        _, scope, granted, method, covers = op
        recorded = subject.apply(lambda c: c.record_consent(scope=scope, granted=granted, method=method, covers=covers))
        assert recorded == (not granted or bool(covers)), "D9: a granted consent says what it covers"
        if recorded:
            model.consent, model.covers = granted, set(covers) if granted else set()
    elif kind == "connect":
        subject.apply(lambda c: c.connect(to_agency=op[1], reason=op[2]))
    elif kind == "answer":
        _, index, accepted, reason = op
        if subject.apply(lambda c: c.answer_connection(index, accepted, reason)):
            model.answered.add(index)
            if accepted:
                model.primary = case.connections[index]["to_agency"]
        else:  # D3: refused only for an unknown index, a second answer, or a decline without a reason
            assert index not in range(len(case.connections)) or index in model.answered or (
                not accepted and not reason.strip())
    elif kind == "escalate":
        _, reason, primary = op
        was = model.status
        if subject.apply(lambda c: c.escalate(reason=reason, primary_agency=primary)):
            assert was != "escalated", "D11: escalated twice without a return"
            model.status, model.primary = "escalated", primary
        else:
            assert was == "escalated" or not primary.strip()
    elif kind == "return":
        if subject.apply(lambda c: c.return_from_meeting(uuid4(), op[1], op[2])):
            model.status, model.primary = "returned", op[1]  # D11: every return names the primary
    elif kind == "disclose":
        _, basis, division, meeting_id, readers = op
        shown = subject.apply(lambda c: c.disclose_person(basis, division, meeting_id, readers=readers))
        sitting = model.sittings.get(meeting_id) if meeting_id else None
        at_jusou = any(kind == "jusou_shien_kaigi" and division in members for kind, members in model.sittings.values())
        lawful = (basis == "own_counter" and division == case.division) or (
            basis == "consent" and (("related_agencies" in model.covers and division in readers)
                                    or ("jusou_shien_kaigi" in model.covers and at_jusou))) or (
            basis == "shien_kaigi" and sitting is not None and sitting[0] == "shien_kaigi" and division in sitting[1])
        assert shown == lawful, f"D9 D10: shown={shown} on basis {basis} (consent {model.consent})"
        model.disclosures += shown
    elif kind == "sitting":
        _, meeting_id, meeting_type, members = op
        subject.apply(lambda c: c.note_sitting(meeting_id, meeting_type, "2026-12-01", members))
        model.sittings.setdefault(meeting_id, (meeting_type, set(members)))
    elif kind == "note_meeting":
        subject.apply(lambda c: c.note_meeting(uuid4(), op[1], op[2]))


@PROPERTIES
@given(counter=st.sampled_from(list(COUNTERS.values())), channel=st.sampled_from(["窓口", "電話", "訪問"]),
       ops=st.lists(CASE_COMMANDS, max_size=15))
def test_d2_d3_d9_d10_d11_any_commands_leave_a_case_valid(counter: Any, channel: str, ops: list[tuple[Any, ...]]) -> None:
    subject = Subject(APP, lambda: Case(case_id=uuid4(), counter=counter.code, division=counter.division,
                                        channel=channel, concerns=["高齢・介護"], person_ref=str(uuid4()),
                                        primary_agency=counter.ja))
    case = subject.aggregate
    model = CaseModel(case)
    for op in ops:
        run_case_command(case, model, subject, op)
        model.check(case)
    model.check(subject.rebuilt())


@PROPERTIES
@given(counter=st.sampled_from(list(COUNTERS)), tries=st.lists(st.sampled_from(list(COUNTERS)), max_size=5))
def test_d12_a_referral_is_received_once_at_its_own_counter(counter: str, tries: list[str]) -> None:
    subject = Subject(APP, lambda: Referral(case_id=uuid4(), counter=counter, reason="訪問で会えた"))
    received = 0
    for at in tries:
        accepted = subject.apply(lambda r: r.receive(at))  # noqa: B023 - applied at once
        assert accepted == (at == counter and received == 0)
        received += accepted
        assert subject.aggregate.status == ("received" if received else "waiting")
    subject.rebuilt()


@PROPERTIES
@given(shown=st.lists(st.tuples(st.sampled_from(list(DIVISIONS)), st.sampled_from(["search_before_create"])),
                      max_size=6))
def test_every_showing_of_a_person_is_recorded_and_rebuilt(shown: list[tuple[str, str]]) -> None:
    subject = Subject(APP, lambda: Person(name="調布 花子", kana="ちょうふ はなこ", birth_date="1944-05-01",
                                          address=None, phone="042-000-0000"))
    for division, purpose in shown:
        assert subject.apply(lambda p: p.show("s1", division, purpose))  # noqa: B023 - applied at once
    person: Person = subject.rebuilt()
    assert getattr(person, "times_shown", 0) == len(shown)
    assert isinstance(person.id, UUID)


PERSON_COMMANDS = st.one_of(
    st.tuples(st.just("show"), st.sampled_from(list(DIVISIONS))),
    st.tuples(st.just("erase"), st.sampled_from([*ERASURE_BASES, "gossip"]), st.sampled_from(["本人の申出", " ", ""])),
)


@PROPERTIES
@given(ops=st.lists(PERSON_COMMANDS, max_size=8))
def test_erasure_a_person_is_erased_once_and_reads_as_erased_without_their_key(ops: list[tuple[str, ...]]) -> None:
    subject = Subject(APP, lambda: Person(name="調布 花子", kana="ちょうふ はなこ", birth_date="1944-05-01",
                                          address="調布市小島町", phone="042-000-0000"))
    person: Person = subject.aggregate
    erased, shown, after = False, 0, 0
    for op in ops:
        after += erased  # once erased, every command is refused as such
        if op[0] == "show":
            assert subject.apply(lambda p: p.show("s1", op[1], "search_before_create")) == (not erased)  # noqa: B023
            shown += not erased
        else:
            _, basis, reason = op
            accepted = subject.apply(lambda p: p.erase("k1", LEAD, basis, reason))  # noqa: B023
            assert accepted == (not erased and basis in ERASURE_BASES and bool(reason.strip()))
            if accepted:
                APP.keys.delete(person.id)  # what the application does right after saving the erasure
                erased = True
        assert getattr(person, "times_shown", 0) == shown
        assert (person.erased is not None) == erased
    assert subject.refused.count(PersonErased.__name__) == after
    if erased:
        assert (person.name, person.kana, person.birth_date, person.address, person.phone) == (
            Person.ERASED, "", None, None, None)
    else:
        assert person.name == "調布 花子" and APP.keys.get(person.id) is not None
    subject.rebuilt()  # without the key once erased: the same aggregate, nothing personal in it
