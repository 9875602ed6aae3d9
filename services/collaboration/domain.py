"""多機関協働事業: a case escalated from intake, untangled into strands (課題の解きほぐし) and a plan (D3, D4,
D11); the 推進会議 (its name is the municipality file's council forum), the forum where the resource gaps the 重層的支援会議 only names are taken up (D8)."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any, ClassVar
from uuid import UUID, uuid5

from eventsourcing.domain import event

from shared.kernel.journey import DomainError, Invalid, JourneyAggregate, NotFound


class CaseNotHeld(DomainError):
    """D11: a case the meeting returned to intake is not collaboration's to plan for until it is escalated again."""


class StrandWithoutAgency(DomainError):
    """D4 (課題の解きほぐし): every strand still open names the agency working it before the plan goes to the meeting."""


class StrandInvalid(Invalid):
    """D4: a strand names its concern field and one of the statuses 未着手・対応中・解消."""


#: 課題の状態 (D4): not started, being worked, resolved
STRAND_STATUSES = ("todo", "working", "resolved")


class CollaborationCase(JourneyAggregate):
    """多機関協働のケース: opened when intake escalates; the primary agency stays in its field (D11)."""

    if TYPE_CHECKING:  # the event classes @event generates (fields: the method's parameters)
        Opened: ClassVar[type[Any]]
        Reopened: ClassVar[type[Any]]
        PrimaryChanged: ClassVar[type[Any]]
        ReturnedToIntake: ClassVar[type[Any]]
        ReturnConfirmed: ClassVar[type[Any]]
        StrandAdded: ClassVar[type[Any]]
        StrandChanged: ClassVar[type[Any]]
        HouseholdHeld: ClassVar[type[Any]]

    @event("Opened")
    def __init__(self, case_id: UUID, reason: str, concerns: list[str], primary_agency: str,
                 primary_agency_code: str | None = None) -> None:  # the code: issue 18 (absent before)
        self.case_id = case_id
        self.reason, self.concerns, self.primary_agency = reason, concerns, primary_agency
        self.status = "open"
        self.strands: list[dict[str, Any]] = []

    @staticmethod
    def create_id(case_id: UUID, **_: Any) -> UUID:
        return case_id

    def reopen(self, reason: str, concerns: list[str], primary_agency: str) -> None:
        """D3 D11: escalated again after a return to intake; the primary named now is the primary."""
        self._reopened(reason=reason, concerns=concerns or self.concerns, primary_agency=primary_agency or self.primary_agency)

    @event("Reopened")
    def _reopened(self, reason: str, concerns: list[str], primary_agency: str) -> None:
        self.reason, self.concerns, self.primary_agency, self.status = reason, concerns, primary_agency, "open"

    def follow_primary(self, primary_agency: str) -> None:
        """D11: intake's connection was accepted; the accepting agency is now primary here too."""
        if primary_agency != self.primary_agency:
            self._primary_changed(primary_agency=primary_agency)

    @event("PrimaryChanged")
    def _primary_changed(self, primary_agency: str) -> None:
        self.primary_agency = primary_agency

    def return_to_intake(self, primary_agency: str, meeting_id: UUID) -> None:
        """D5 D11 across programs: the meeting returned the case to intake (CaseReturnedToIntake); collaboration no
        longer holds it open, and the agency named is its one primary agency here too (窓口へ戻した).

        When this case was already returned by that meeting's decision (`return_by_decision`), this message is the
        decision's own CaseReturnedToIntake, arriving after it: it names the primary agency (applied while the case is
        still returned) and returns nothing again. Intake may have escalated the case again in between (the meeting's
        relay held up, intake's not): the late confirmation must not return the re-escalated case a second time
        (the fault harness, one journey in about a hundred: `CollaborationCase.ReturnedToIntake +1`)."""
        if str(meeting_id) in self.awaiting_return_from:
            self._return_confirmed(meeting_id=meeting_id, primary_agency=primary_agency)
        elif self.status != "returned" or primary_agency != self.primary_agency:
            self._returned_to_intake(primary_agency=primary_agency or self.primary_agency, meeting_id=meeting_id)

    def return_by_decision(self, meeting_id: UUID) -> None:
        """D4 D11: the meeting decided to return this case's plan to intake (MeetingDecided returned_to_intake): the
        case is returned here in the plan's own commit, its primary agency as it stands until the decision's
        CaseReturnedToIntake names one (`return_to_intake`). Already returned: nothing is recorded."""
        if self.status != "returned":
            self._returned_to_intake(primary_agency=self.primary_agency, meeting_id=meeting_id, by_decision=True)

    @event("ReturnedToIntake")
    def _returned_to_intake(self, primary_agency: str, meeting_id: UUID, by_decision: bool = False) -> None:
        self.primary_agency, self.status = primary_agency, "returned"
        if by_decision:  # absent from returns recorded before: those await nothing
            self.awaiting_return_from = [*self.awaiting_return_from, str(meeting_id)]

    @event("ReturnConfirmed")
    def _return_confirmed(self, meeting_id: UUID, primary_agency: str) -> None:
        awaiting = self.awaiting_return_from
        awaiting.remove(str(meeting_id))  # one: the same sitting may have returned the case twice (two plans)
        self.awaiting_return_from = awaiting
        if self.status == "returned" and primary_agency:
            self.primary_agency = primary_agency

    @property
    def awaiting_return_from(self) -> list[str]:
        """The meetings whose decision returned this case here and whose CaseReturnedToIntake has not arrived yet."""
        return list(self.__dict__.get("_awaiting_return_from", []))

    @awaiting_return_from.setter
    def awaiting_return_from(self, value: list[str]) -> None:
        self.__dict__["_awaiting_return_from"] = list(value)

    # -- 世帯 (D16): a household's cases escalated together, held here as one case and one plan ----------------

    def hold_household(self, household_ref: UUID, related_case_ids: list[UUID]) -> None:
        """D16: intake escalated the household's cases together (CaseEscalated's `household_ref` and
        `related_case_ids`): this case holds them all, and its plan covers the household. Unchanged, nothing
        is recorded (a redelivery, a re-escalation naming the same cases)."""
        related = list(dict.fromkeys(str(r) for r in related_case_ids if r != self.case_id))
        if (str(household_ref), related) != (self.household_ref, self.related_case_ids):
            self._household_held(household_ref=str(household_ref), related_case_ids=related)

    @event("HouseholdHeld")
    def _household_held(self, household_ref: str, related_case_ids: list[str]) -> None:
        self.household_ref, self.related_case_ids = household_ref, related_case_ids

    @property
    def household_ref(self) -> str | None:
        """The household's pseudonymous ref (a random id intake gave the 世帯), None for a case escalated alone
        (and for every case recorded before issue 15)."""
        return self.__dict__.get("_household_ref")

    @household_ref.setter
    def household_ref(self, value: str | None) -> None:
        self.__dict__["_household_ref"] = value

    @property
    def related_case_ids(self) -> list[str]:
        """The household's other intake cases this case holds (ids, oldest escalation's list first)."""
        return list(self.__dict__.get("_related_case_ids", []))

    @related_case_ids.setter
    def related_case_ids(self, value: list[str]) -> None:
        self.__dict__["_related_case_ids"] = list(value)

    def require_held(self) -> None:
        """D11: collaboration plans only for a case it holds (not one returned to intake)."""
        if self.status == "returned":
            raise CaseNotHeld(
                f"このケースは相談窓口へ戻されています（主担当: {self.primary_agency}）。多機関協働ではプランを作成・提出できません。"
                "再び複雑化・複合化したときは窓口からつないでもらいます / the case was returned to intake: collaboration "
                "plans for it again only once it is escalated again"
            )

    # -- 課題の解きほぐし (D4): the household's issues as separate strands, before the plan --------------------

    def add_strand(self, strand_id: UUID, concern: str, description: str, agency: str, status: str) -> None:
        """D4: one issue of the household (課題): its concern field, what it is, the agency working it (may be
        named later) and its status."""
        self.require_held()
        _strand(concern, status)
        self._strand_added(strand_id=strand_id, concern=concern, description=description, agency=agency, status=status)

    @event("StrandAdded")
    def _strand_added(self, strand_id: UUID, concern: str, description: str, agency: str, status: str) -> None:
        self.strands = [*getattr(self, "strands", []),
                        {"strand_id": str(strand_id), "concern": concern, "description": description,
                         "agency": agency, "status": status}]

    def change_strand(self, strand_id: UUID, concern: str, description: str, agency: str, status: str) -> None:
        """D4: a strand rewritten (its agency named, its status moved on); unchanged, nothing is recorded."""
        self.require_held()
        _strand(concern, status)
        found = self.strand(strand_id)
        if (found["concern"], found["description"], found["agency"], found["status"]) != (concern, description, agency, status):
            self._strand_changed(strand_id=strand_id, concern=concern, description=description, agency=agency,
                                 status=status)

    @event("StrandChanged")
    def _strand_changed(self, strand_id: UUID, concern: str, description: str, agency: str, status: str) -> None:
        self.strands = [{**s, "concern": concern, "description": description, "agency": agency, "status": status}
                        if s["strand_id"] == str(strand_id) else s for s in self.strands]

    def strand(self, strand_id: UUID) -> dict[str, Any]:
        for found in getattr(self, "strands", []):
            if found["strand_id"] == str(strand_id):
                return dict(found)
        raise NotFound(f"課題が見つかりません / strand not found: {strand_id}")

    def require_strands_assigned(self) -> None:
        """D4: a plan goes to the meeting only once every open strand (not 解消) names the agency working it:
        the plan's roles come from the strands."""
        unassigned = [s for s in getattr(self, "strands", []) if not s["agency"] and s["status"] != "resolved"]
        if unassigned:
            names = "、".join(f"「{s['concern']}: {s['description'][:20]}」" if s["description"] else f"「{s['concern']}」"
                             for s in unassigned)
            raise StrandWithoutAgency(
                f"担当機関が決まっていない課題があります（{names}）。課題ごとに担当機関を入力してから会議へ提出してください"
                f" / {len(unassigned)} strand(s) name no agency yet: name the agency working each before proposing the plan"
            )

    def view(self) -> dict[str, Any]:
        return {"case_id": str(self.case_id), "reason": self.reason, "concerns": list(self.concerns),
                "primary_agency": self.primary_agency, "status": self.status,
                "opened_at": self.created_on.isoformat(), "strands": [dict(s) for s in getattr(self, "strands", [])],
                "household_ref": self.household_ref, "related_case_ids": self.related_case_ids}


HOUSEHOLD_NAMESPACE = UUID("2b7e0d55-8f3c-4a61-b1d2-5c9e7a4f0e31")


def household_link_id(related_case_id: UUID) -> UUID:
    """The link that says which collaboration case holds a household member's intake case."""
    return uuid5(HOUSEHOLD_NAMESPACE, str(related_case_id))


class HouseholdLink(JourneyAggregate):
    """D16: one of a household's other cases, held by the collaboration case its household was escalated
    with (`case_id`, whose journey the link belongs to). A later escalation of the related case itself is
    recognised by it and not opened as a second case (the household has one plan)."""

    if TYPE_CHECKING:
        Linked: ClassVar[type[Any]]

    @event("Linked")
    def __init__(self, related_case_id: UUID, case_id: UUID, household_ref: UUID) -> None:
        self.related_case_id, self.case_id, self.household_ref = related_case_id, case_id, household_ref

    @staticmethod
    def create_id(related_case_id: UUID, **_: Any) -> UUID:
        return household_link_id(related_case_id)


def _strand(concern: str, status: str) -> None:
    if not concern.strip():
        raise StrandInvalid("課題の分野を選んでください / choose the strand's concern field")
    if status not in STRAND_STATUSES:
        raise StrandInvalid("状態は 未着手・対応中・解消 のいずれかです / status is one of todo, working, resolved")


# -- 推進会議 (D8): the forum where resource gaps are taken up ------------------------------------------------------

#: What the council decides per gap: start an initiative, ask a division (依頼先 + 内容), keep it under discussion
COUNCIL_DECISIONS = ("initiative", "request", "deferred")
#: A gap's way through the council: awaiting it (also after 継続審議), on a sitting's agenda, decided
GAP_STATUSES = ("awaiting", "on_agenda", "initiative", "request")
GAP_NAMESPACE = UUID("6f1d4c1e-3d0a-4b8e-9a57-0c6a2f3e9b10")


class GapClosed(DomainError):
    """D8: a gap the council decided on (an initiative, a request) is not taken up again."""


class NotOnAgenda(DomainError):
    """D8: the council decides only on the gaps on its sitting's agenda."""


class DecisionInvalid(Invalid):
    """D8: an initiative says what it is; a request names the division asked (依頼先) and what is asked (内容)."""


class SittingInvalid(Invalid):
    """D8: a sitting has its date and at least one attending agency."""


def gap_id_of(origin_event_id: UUID) -> UUID:
    """The gap an event reported (ResourceGapIdentified, ResourceShortageReported): one gap per event."""
    return uuid5(GAP_NAMESPACE, str(origin_event_id))


class ResourceGap(JourneyAggregate):
    """A need with no local resource awaiting the 推進会議: named by the 重層的支援会議
    (ResourceGapIdentified), reported by participation (ResourceShortageReported) or brought by a 地域福祉
    コーディネーター from the community. `case_id` is the case it came from (uuid5 of the gap's own id for one
    brought by hand): it carries the gap's events on their journey."""

    if TYPE_CHECKING:
        Reported: ClassVar[type[Any]]
        TakenUp: ClassVar[type[Any]]
        Decided: ClassVar[type[Any]]

    @event("Reported")
    def __init__(self, gap_id: UUID, case_id: UUID, need: str, area: str, description: str, source: str,
                 origin_event_id: UUID | None, area_code: str | None = None) -> None:
        """`area_code`: the 地区's code in the municipality file (issue 18; none on gaps reported before, or for an
        area the file does not know)."""
        self.gap_id, self.case_id, self.need, self.area, self.description = gap_id, case_id, need, area, description
        self.source, self.origin_event_id, self.area_code = source, origin_event_id, area_code
        self.status = "awaiting"
        self.sitting_id: UUID | None = None
        self.decisions: list[dict[str, Any]] = []

    @staticmethod
    def create_id(gap_id: UUID, **_: Any) -> UUID:
        return gap_id

    def take_up(self, sitting_id: UUID) -> None:
        """D8: put on a sitting's agenda (again after 継続審議); once decided, never again."""
        if self.status in ("initiative", "request"):
            raise GapClosed("この課題は推進会議で決定済みです（取組・依頼）。新たな不足は新しい課題として挙げてください"
                            " / the council has decided on this gap already")
        if self.status == "on_agenda" and self.sitting_id == sitting_id:
            return
        self._taken_up(sitting_id=sitting_id)

    @event("TakenUp")
    def _taken_up(self, sitting_id: UUID) -> None:
        self.status, self.sitting_id = "on_agenda", sitting_id

    def decide(self, sitting_id: UUID, decision: str, division: str, summary: str) -> None:
        if self.status != "on_agenda" or self.sitting_id != sitting_id:
            raise NotOnAgenda("この課題はこの会議の議題ではありません。先に議題にしてください"
                              " / the gap is not on this sitting's agenda: take it up first")
        _decision(decision, division, summary)
        self._decided(sitting_id=sitting_id, decision=decision, division=division, summary=summary, need=self.need,
                      area=self.area, origin_event_id=self.origin_event_id, area_code=getattr(self, "area_code", None))

    @event("Decided")
    def _decided(self, sitting_id: UUID, decision: str, division: str, summary: str, need: str, area: str,
                 origin_event_id: UUID | None, area_code: str | None = None) -> None:
        """The decision carries the gap's need, area (and its 地区's code, issue 18) and origin: what
        PromotionCouncilDecided publishes."""
        self.decisions = [*self.decisions, {"sitting_id": str(sitting_id), "decision": decision, "division": division,
                                            "summary": summary}]
        self.status = "awaiting" if decision == "deferred" else decision
        self.sitting_id = None if decision == "deferred" else sitting_id

    def view(self) -> dict[str, Any]:
        return {"gap_id": str(self.gap_id), "case_id": str(self.case_id), "need": self.need, "area": self.area,
                "description": self.description, "source": self.source,
                "origin_event_id": str(self.origin_event_id) if self.origin_event_id else None,
                "status": self.status, "sitting_id": str(self.sitting_id) if self.sitting_id else None,
                "decisions": [dict(d) for d in self.decisions]}


def _decision(decision: str, division: str, summary: str) -> None:
    if decision not in COUNCIL_DECISIONS:
        raise DecisionInvalid("決定は 取組の開始・課への依頼・継続審議 のいずれかです / decision is initiative, request or deferred")
    if decision == "initiative" and not summary.strip():
        raise DecisionInvalid("取組の内容を入力してください / say what the initiative is")
    if decision == "request" and (not division or not summary.strip()):
        raise DecisionInvalid("依頼先の課と依頼の内容を入力してください / name the division asked and what is asked")


def hold_sitting(sitting_id: UUID, held_on: date | None, attendees: list[str], note: str) -> CouncilSitting:
    """D8: a sitting of the 推進会議 is held on a date with the agencies attending."""
    if held_on is None:
        raise SittingInvalid("開催日を入力してください / the sitting's date")
    if not [a for a in attendees if a.strip()]:
        raise SittingInvalid("出席した機関を一つ以上選んでください / at least one attending agency")
    return CouncilSitting(sitting_id=sitting_id, case_id=sitting_id, held_on=held_on,
                          attendees=[a for a in attendees if a.strip()], note=note)


class CouncilSitting(JourneyAggregate):
    """推進会議の開催: its date, the agencies attending, the gaps on its agenda (in order) and what
    it decided on each (D8). Its events belong to no case (`case_id` is the sitting's own id)."""

    if TYPE_CHECKING:
        Held: ClassVar[type[Any]]
        GapTakenUp: ClassVar[type[Any]]
        GapDecided: ClassVar[type[Any]]

    @event("Held")
    def __init__(self, sitting_id: UUID, case_id: UUID, held_on: date, attendees: list[str], note: str) -> None:
        self.sitting_id, self.case_id, self.held_on, self.attendees, self.note = sitting_id, case_id, held_on, attendees, note
        self.agenda: list[str] = []
        self.decisions: dict[str, dict[str, Any]] = {}

    @staticmethod
    def create_id(sitting_id: UUID, **_: Any) -> UUID:
        return sitting_id

    def take_up(self, gap_id: UUID) -> None:
        if str(gap_id) not in self.agenda:
            self._gap_taken_up(gap_id=gap_id)

    @event("GapTakenUp")
    def _gap_taken_up(self, gap_id: UUID) -> None:
        self.agenda = [*self.agenda, str(gap_id)]

    def decide(self, gap_id: UUID, decision: str, division: str, summary: str) -> None:
        if str(gap_id) not in self.agenda:
            raise NotOnAgenda("この課題はこの会議の議題ではありません。先に議題にしてください"
                              " / the gap is not on this sitting's agenda: take it up first")
        _decision(decision, division, summary)
        self._gap_decided(gap_id=gap_id, decision=decision, division=division, summary=summary)

    @event("GapDecided")
    def _gap_decided(self, gap_id: UUID, decision: str, division: str, summary: str) -> None:
        self.decisions = {**self.decisions, str(gap_id): {"decision": decision, "division": division, "summary": summary}}

    def view(self) -> dict[str, Any]:
        return {"sitting_id": str(self.sitting_id), "held_on": self.held_on.isoformat(), "attendees": list(self.attendees),
                "note": self.note, "agenda": list(self.agenda),
                "decisions": {k: dict(v) for k, v in self.decisions.items()}}
