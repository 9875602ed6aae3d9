"""Collaboration's use cases (多機関協働事業)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Required, TypedDict
from uuid import UUID, uuid4, uuid5

from eventsourcing.application import ProcessingEvent

from services.collaboration.domain import (
    GAP_NAMESPACE,
    CollaborationCase,
    CouncilSitting,
    HouseholdLink,
    ResourceGap,
    StrandInvalid,
    gap_id_of,
    hold_sitting,
    household_link_id,
)
from shared.contract.events import (
    ESCALATION_REASONS,
    CaseConnectionAnsweredV1,
    CaseEscalatedV2,
    CaseReturnedToIntakeV1,
    Envelope,
    MeetingDecidedV1,
    OutreachHandedOverV1,
    ResourceGapIdentifiedV1,
    ResourceShortageReportedV1,
)
from shared.domain.areas import area_of
from shared.domain.casework_owner import CaseworkOwner
from shared.domain.kept_reads import KeptReads
from shared.domain.plan import Plan
from shared.domain.plan_owner import PlanOwner
from shared.domain.wareki import JST
from shared.kernel.app import handles
from shared.kernel.journey import NotFound, acting, actor_label, recorded_by
from shared.organisation.reference import DIVISIONS, agencies, agency_code, area_code, concern_field, day_of


class PlanStep(TypedDict, total=False):
    """One step of a plan's story, read from its own events: when (Japan time, ISO text), who, which event
    (`kind`), and what the event says (D4, D5, D7)."""

    at: Required[str]
    who: Required[str]
    kind: Required[str]
    revision: int  # Proposed
    meeting_id: str  # DecisionRecorded, Evaluated
    meeting_type: str
    decision: str
    reasons: str
    progress: str  # ClosureRequested
    outcome: str  # Evaluated
    evaluation: dict[str, Any]
    next_review_on: str | None
    since: str  # Accompanied (伴走支援)
    on: str  # CheckedIn
    how: str
    note: str


class CaseRow(TypedDict):
    """An escalated case with its plans, oldest first (the coordinator's list)."""

    case_id: str
    reason: str
    concerns: list[str]
    primary_agency: str
    status: str
    opened_at: str
    plans: list[dict[str, Any]]
    latest: dict[str, Any] | None
    related_case_ids: list[str]  # D16: the household's other cases held with it (世帯で連携)


class CollaborationApplication(KeptReads, PlanOwner, CaseworkOwner):
    """Opens a case on CaseEscalated, writes its plan, follows the meeting (D4)."""

    name = "collaboration"
    service = "collaboration"
    program = "collaboration"

    def casework_cases(self) -> list[UUID]:
        """担当者・支援経過記録 (issue 15): every case escalated or handed over to collaboration."""
        return self.ids_of(CollaborationCase)

    def casework_require_case(self, case_id: UUID) -> None:
        """The case exists here (NotFound otherwise). Not `require_case`: a case returned to intake keeps
        its 担当 and 経過記録 readable (and a closing note writable) though no plan is made for it."""
        self.read(case_id, CollaborationCase, "多機関協働のケース")

    def _open(self, case_id: UUID, reason: str, concerns: list[str], primary_agency: str) -> CollaborationCase:
        try:
            case: CollaborationCase = self.load(case_id, CollaborationCase, "多機関協働のケース")
        except NotFound:
            case = CollaborationCase(case_id=case_id, reason=reason, concerns=concerns, primary_agency=primary_agency,
                                     primary_agency_code=agency_code(primary_agency))
        else:
            case.reopen(reason, concerns, primary_agency)  # escalated again after a return to intake
        return case

    def holding_case(self, case_id: UUID) -> UUID | None:
        """D16: the collaboration case holding this intake case as one of its household's related cases (None when
        no household escalation named it)."""
        try:
            link: HouseholdLink = self.read(household_link_id(case_id), HouseholdLink, "世帯の関連ケース")
        except NotFound:
            return None
        return UUID(str(link.case_id))

    def _holds(self, case_id: UUID) -> bool:
        """D11: the case is open here (not returned to intake since)."""
        case: CollaborationCase = self.read(case_id, CollaborationCase, "多機関協働のケース")
        return bool(case.status != "returned")

    def _held_open(self, case_id: UUID) -> bool:
        """The case is open here (escalated or handed over, not returned to intake since)."""
        try:
            return self._holds(case_id)
        except NotFound:
            return False

    def _hold_household(self, case: CollaborationCase, household_ref: UUID, related_case_ids: list[UUID],
                        processing: ProcessingEvent[UUID]) -> None:
        """D16: the case holds the household's other cases (one plan); each related case is linked to it, so a
        later escalation of one of them is recognised."""
        case_id = UUID(str(case.case_id))
        case.hold_household(household_ref, related_case_ids)
        processing.collect_events(case)
        for related in dict.fromkeys(r for r in related_case_ids if r != case_id):
            if self.holding_case(related) is None:
                processing.collect_events(HouseholdLink(related_case_id=related, case_id=case_id,
                                                        household_ref=household_ref))

    def require_case(self, case_id: UUID) -> None:
        """D4 D11: collaboration holds the case (escalated here, not returned to intake since)."""
        case: CollaborationCase = self.read(case_id, CollaborationCase, "多機関協働のケース")
        case.require_held()

    def case_view(self, case_id: UUID) -> dict[str, Any]:
        case: CollaborationCase = self.read(case_id, CollaborationCase, "多機関協働のケース")
        return case.view()

    def cases(self) -> list[dict[str, Any]]:
        return [self.case_view(i) for i in self.ids_of(CollaborationCase)]

    def plans(self, case_id: UUID | None = None) -> list[dict[str, Any]]:
        """This program's plans (of one case, when given: only that case's are loaded), oldest first."""
        if case_id is None:
            return [self.plan_view(plan_id) for plan_id in self.ids_of(Plan)]
        views = [self.plan_view(plan_id) for plan_id in self.ids_of_case(Plan, case_id)]
        return [v for v in views if v["case_id"] == str(case_id)]

    def case_rows(self, reader: Any) -> list[CaseRow]:
        """The escalated cases the reader's division may see (division scope), each with its plans."""
        plans: dict[str, list[dict[str, Any]]] = {}
        for plan in self.plans():
            plans.setdefault(plan["case_id"], []).append(plan)
        rows: list[CaseRow] = []
        for case in self.scoped(self.cases(), reader):
            own = plans.get(case["case_id"], [])
            rows.append(CaseRow(case_id=case["case_id"], reason=case["reason"], concerns=case["concerns"],
                                primary_agency=case["primary_agency"], status=case["status"],
                                opened_at=case["opened_at"], plans=own,
                                latest=own[-1] if own else None, related_case_ids=case["related_case_ids"]))
        return rows

    def plan_steps(self, plan_id: UUID) -> list[PlanStep]:
        """The plan's story from its own events' metadata: who drafted, revised, proposed it and when; what
        the meeting decided and how it evaluated the plan (D4, D5, D7)."""
        steps: list[PlanStep] = []
        for event in self.events_of(plan_id):
            step = PlanStep(at=local_time(event.timestamp), who=actor_name(event), kind=type(event).__name__)
            if isinstance(event, Plan.Proposed):
                step["revision"] = event.revision
            elif isinstance(event, Plan.DecisionRecorded):
                step["meeting_id"], step["meeting_type"] = str(event.meeting_id), event.meeting_type
                step["decision"], step["reasons"] = event.decision, event.reasons
            elif isinstance(event, Plan.ClosureRequested):
                step["progress"] = event.progress
            elif isinstance(event, Plan.Evaluated):
                step["meeting_id"], step["outcome"] = str(event.meeting_id), event.outcome
                step["evaluation"] = event.evaluation or {}
                step["next_review_on"] = event.next_review_on.isoformat() if event.next_review_on else None
            elif isinstance(event, Plan.Resumed):
                step["meeting_id"], step["meeting_type"] = str(event.meeting_id), event.meeting_type
                step["reasons"] = event.reason
            elif isinstance(event, Plan.Accompanied):
                step["since"] = event.since.isoformat()
            elif isinstance(event, Plan.CheckedIn):
                step["on"], step["how"], step["note"] = event.on.isoformat(), event.how, event.note
            elif not isinstance(event, (Plan.Drafted, Plan.Revised)):
                continue
            steps.append(step)
        if not steps:  # every plan begins Drafted: these are no plan's events
            raise NotFound(f"プランが見つかりません / plan not found: {plan_id}")
        return steps

    # -- 課題の解きほぐし (D4) ------------------------------------------------------------------------------

    def _checked_strand(self, concern: str, agency: str) -> str:
        """The concern field's Japanese name (D2's list); the agency one of the city's (or not named yet)."""
        field = concern_field(concern.strip())
        if field is None:
            raise StrandInvalid(f"課題の分野「{concern}」は一覧にありません。一覧から選んでください / unknown concern field")
        if agency and agency not in agencies():
            raise StrandInvalid(f"担当機関「{agency}」は一覧にありません。一覧から選んでください / unknown agency")
        return field.ja

    def add_strand(self, actor: dict[str, str], case_id: UUID, concern: str, description: str, agency: str,
                   status: str = "todo") -> UUID:
        """D4: record one of the household's issues (課題) as a strand of its own, before the plan."""
        return UUID(self.strand_added(actor, case_id, concern, description, agency, status)["strand_id"])

    def strand_added(self, actor: dict[str, str], case_id: UUID, concern: str, description: str, agency: str,
                     status: str = "todo") -> dict[str, Any]:
        """`add_strand`, answering the strand as saved (the route's answer, without reading the case again: issue 19)."""
        concern = self._checked_strand(concern, agency)
        case: CollaborationCase = self.load(case_id, CollaborationCase, "多機関協働のケース")
        strand_id = uuid4()
        with acting(actor):
            case.add_strand(strand_id, concern, description.strip(), agency, status)
        self.save(case)
        return case.strand(strand_id)

    def change_strand(self, actor: dict[str, str], case_id: UUID, strand_id: UUID, concern: str, description: str,
                      agency: str, status: str) -> dict[str, Any]:
        """D4: name a strand's agency, move its status on, reword it; the strand as saved (the route's answer)."""
        concern = self._checked_strand(concern, agency)
        case: CollaborationCase = self.load(case_id, CollaborationCase, "多機関協働のケース")
        with acting(actor):
            case.change_strand(strand_id, concern, description.strip(), agency, status)
        self.save(case)
        return case.strand(strand_id)

    def strand_view(self, case_id: UUID, strand_id: UUID) -> dict[str, Any]:
        case: CollaborationCase = self.read(case_id, CollaborationCase, "多機関協働のケース")
        return case.strand(strand_id)

    def roles_from_strands(self, case_id: UUID) -> list[dict[str, Any]]:
        """D4: the plan's roles as the strands propose them: one role per agency (in the order first named),
        its responsibility the strands it works (分野: 内容), resolved strands left out."""
        case: CollaborationCase = self.read(case_id, CollaborationCase, "多機関協働のケース")
        roles: dict[str, list[str]] = {}
        for strand in case.view()["strands"]:
            if strand["agency"] and strand["status"] != "resolved":
                what = f"{strand['concern']}: {strand['description']}" if strand["description"] else strand["concern"]
                roles.setdefault(strand["agency"], []).append(what)
        return [{"agency": agency, "responsibility": "／".join(works)[:500], "contact": None}
                for agency, works in roles.items()]

    def require_proposable(self, case_id: UUID) -> None:
        """D4: a plan goes to the meeting once every open strand of its case names its agency; D11: for a case
        collaboration still holds. The case read once (issue 19: a proposal loaded it twice, and its plan twice)."""
        case: CollaborationCase = self.read(case_id, CollaborationCase, "多機関協働のケース")
        case.require_strands_assigned()
        case.require_held()

    # -- 推進会議 (D8) --------------------------------------------------------------------------------------

    def gaps(self, status: str | None = None) -> list[dict[str, Any]]:
        """The resource gaps brought to the council, oldest first (of one status when given)."""
        views = [self.gap_view(i) for i in self.ids_of(ResourceGap)]
        return [v for v in views if status is None or v["status"] == status]

    def gap_view(self, gap_id: UUID) -> dict[str, Any]:
        gap: ResourceGap = self.read(gap_id, ResourceGap, "資源の不足（推進会議の課題）")
        return gap.view()

    def refer_gap(self, actor: dict[str, str], need: str, area: str, description: str,
                  area_code: str | None = None) -> UUID:
        """D8: `gap_referred`'s gap id."""
        return UUID(self.gap_referred(actor, need, area, description, area_code)["gap_id"])

    def gap_referred(self, actor: dict[str, str], need: str, area: str, description: str,
                     area_code: str | None = None) -> dict[str, Any]:
        """D8: a gap a 地域福祉コーディネーター found in the community, brought to the council by hand, with the 地区
        chosen (`area_code`; the area may then be left empty: the 地区's name) or, without one, the code of the area
        written when the municipality file knows it (issue 18). Neither area nor 地区: the gap has no area."""
        if not need.strip():
            raise StrandInvalid("不足している資源（ニーズ）を入力してください / the need")
        place, code = area_of(area, area_code) if area.strip() or area_code else ("", None)
        gap_id = uuid4()
        with acting(actor):
            gap = ResourceGap(gap_id=gap_id, case_id=uuid5(GAP_NAMESPACE, f"case:{gap_id}"), need=need.strip(),
                              area=place, description=description.strip(), source="coordinator",
                              origin_event_id=None, area_code=code)
        self.save(gap)
        return gap.view()  # as saved: the route's answer (issue 19)

    def sittings(self) -> list[dict[str, Any]]:
        """The council's sittings, newest first."""
        views = [self.sitting_view(i) for i in self.ids_of(CouncilSitting)]
        return sorted(views, key=lambda v: v["held_on"], reverse=True)

    def sitting_view(self, sitting_id: UUID) -> dict[str, Any]:
        sitting: CouncilSitting = self.read(sitting_id, CouncilSitting, "推進会議の開催")
        return sitting.view()

    def hold_sitting(self, actor: dict[str, str], held_on: date | None, attendees: list[str], note: str = "") -> UUID:
        """D8: `sitting_held`'s sitting id."""
        return UUID(self.sitting_held(actor, held_on, attendees, note)["sitting_id"])

    def sitting_held(self, actor: dict[str, str], held_on: date | None, attendees: list[str],
                     note: str = "") -> dict[str, Any]:
        """D8: a sitting of the 推進会議 (its date and the agencies attending), as saved (the route's answer)."""
        unknown = [a for a in attendees if a and a not in agencies()]
        if unknown:
            raise StrandInvalid(f"出席機関「{'、'.join(unknown)}」は一覧にありません / unknown agency")
        sitting_id = uuid4()
        with acting(actor):
            sitting = hold_sitting(sitting_id, held_on, attendees, note.strip())
        self.save(sitting)
        return sitting.view()

    def take_up_gap(self, actor: dict[str, str], sitting_id: UUID, gap_id: UUID) -> dict[str, Any]:
        """D8: put a gap on a sitting's agenda; the sitting as saved (the route's answer)."""
        sitting: CouncilSitting = self.load(sitting_id, CouncilSitting, "推進会議の開催")
        gap: ResourceGap = self.load(gap_id, ResourceGap, "資源の不足（推進会議の課題）")
        with acting(actor):
            gap.take_up(sitting_id)
            sitting.take_up(gap_id)
        self.save(gap, sitting)
        return sitting.view()

    def decide_gap(self, actor: dict[str, str], sitting_id: UUID, gap_id: UUID, decision: str, division: str = "",
                   summary: str = "") -> dict[str, Any]:
        """D8: what the council decides on a gap on its agenda: an initiative, a request to a division
        (依頼先 + 内容), or 継続審議 (the gap awaits the next sitting); the gap as saved (the route's answer)."""
        if division and division not in DIVISIONS:
            raise StrandInvalid(f"依頼先の課「{division}」は一覧にありません / unknown division")
        sitting: CouncilSitting = self.load(sitting_id, CouncilSitting, "推進会議の開催")
        gap: ResourceGap = self.load(gap_id, ResourceGap, "資源の不足（推進会議の課題）")
        division = division if decision == "request" else ""
        with acting(actor):
            gap.decide(sitting_id, decision, division, summary.strip())
            sitting.decide(gap_id, decision, division, summary.strip())
        self.save(gap, sitting)
        return gap.view()

    @handles(ResourceGapIdentifiedV1, ResourceShortageReportedV1)
    def _gap_reported(self, envelope: Envelope, payload: ResourceGapIdentifiedV1 | ResourceShortageReportedV1,
                      processing: ProcessingEvent[UUID]) -> None:
        """D8: a gap the 重層的支援会議 named, or a shortage participation met, awaits the 推進会議; its 地区's code
        as the event carried it, else the area's in the municipality file in force on the event's day (issue 18)."""
        gap_id = gap_id_of(envelope.event_id)
        try:
            self.load(gap_id, ResourceGap, "資源の不足")
        except NotFound:
            processing.collect_events(ResourceGap(
                gap_id=gap_id, case_id=envelope.case_id, need=payload.need, area=payload.area,
                description=payload.description, source=envelope.source, origin_event_id=envelope.event_id,
                area_code=payload.area_code or area_code(payload.area, day_of(envelope.occurred_at))))

    @handles(CaseEscalatedV2)
    def _escalated(self, envelope: Envelope, payload: CaseEscalatedV2, processing: ProcessingEvent[UUID]) -> None:
        """D4: an escalated case opens here (v1 events arrive raised to v2). D16: a household's cases escalated
        together open ONE case holding the others (`related_case_ids`); a later escalation of one of those
        related cases is recognised and ignored: the household already has its case and its one plan here (once
        that case was returned to intake, a related case escalated on its own opens its own case)."""
        holder = self.holding_case(envelope.case_id)
        if holder is not None and holder != envelope.case_id and self._holds(holder):
            return  # held as a related case of the household's case `holder` (idempotent: nothing recorded)
        case = self._open(envelope.case_id, escalation_reason(payload), payload.concerns, payload.primary_agency)
        if payload.household_ref is not None and payload.related_case_ids:
            self._hold_household(case, payload.household_ref, payload.related_case_ids, processing)
        else:
            processing.collect_events(case)

    @handles(CaseConnectionAnsweredV1)
    def _connection_answered(self, envelope: Envelope, payload: CaseConnectionAnsweredV1,
                             processing: ProcessingEvent[UUID]) -> None:
        """D11: an accepted つなぎ makes its agency the primary one here too."""
        if not payload.accepted:
            return
        try:
            case: CollaborationCase = self.load(envelope.case_id, CollaborationCase, "多機関協働のケース")
        except NotFound:
            return  # not escalated: intake alone knows the case
        case.follow_primary(payload.to_agency)
        processing.collect_events(case)

    @handles(MeetingDecidedV1)
    def _returned_by_decision(self, envelope: Envelope, payload: MeetingDecidedV1,
                              processing: ProcessingEvent[UUID]) -> None:
        """D4 D11: the meeting's decision to return a plan's case to intake returns the case here in the same commit as
        the plan's decision (PlanOwner.react_to_meeting), its primary agency as it stands until CaseReturnedToIntake
        names one (`_returned`). The two are separate messages: between them, the plan ended and the case still held,
        a new plan could be drafted for a case the meeting had just returned (seen in the README walk-through's test
        under load: 201 where 409 case_not_held was due)."""
        if payload.decision != "returned_to_intake" or payload.program not in (None, self.program):
            return
        try:
            plan: Plan = self.load(payload.plan_id, Plan, "プラン")
            case: CollaborationCase = self.load(envelope.case_id, CollaborationCase, "多機関協働のケース")
        except NotFound:
            return  # another program's plan, or a case collaboration never held
        if plan.case_id != envelope.case_id:
            return  # refused with its reason by react_to_meeting
        case.return_by_decision(payload.meeting_id)
        processing.collect_events(case)

    @handles(CaseReturnedToIntakeV1)
    def _returned(self, envelope: Envelope, payload: CaseReturnedToIntakeV1, processing: ProcessingEvent[UUID]) -> None:
        """D11 across programs: a case the meeting returned to intake is shown returned here, with the primary
        agency named now (one primary agency, everywhere the same)."""
        try:
            case: CollaborationCase = self.load(envelope.case_id, CollaborationCase, "多機関協働のケース")
        except NotFound:
            return  # outreach's or participation's case: collaboration never held it
        case.return_to_intake(payload.primary_agency, payload.meeting_id)
        processing.collect_events(case)

    @handles(OutreachHandedOverV1)
    def _handed_over(self, envelope: Envelope, payload: OutreachHandedOverV1, processing: ProcessingEvent[UUID]) -> None:
        """D12: outreach hands a person on before (or instead of) any escalation at intake. A case held open here
        is here already: the hand-over changes nothing of it (D11: its reason and its one primary agency, and with
        it the divisions that read it, are not outreach's to rewrite; with outreach's NATS credentials they were)."""
        if payload.to_program == "collaboration" and not self._held_open(envelope.case_id):
            processing.collect_events(self._open(envelope.case_id, payload.reason, [], payload.primary_agency or ""))


def escalation_reason(escalated: CaseEscalatedV2) -> str:
    """The case's reason as collaboration shows it: v2's label and text; a v1 event's text unchanged."""
    if escalated.reason_code == "unclassified":
        return escalated.reason_text
    return f"【{ESCALATION_REASONS[escalated.reason_code]}】{escalated.reason_text}"


def local_time(moment: datetime) -> str:
    """An event's moment as staff read it: Japan time, ISO text (for the `wareki` filter and hh:mm)."""
    return moment.astimezone(JST).isoformat(timespec="minutes")


def actor_name(event: Any) -> str:
    """Who recorded an event (its metadata): the staff member, or the service that acted on its own."""
    return actor_label(recorded_by(event))
