"""Collaboration's use cases (多機関協働事業)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Required, TypedDict
from uuid import UUID

from eventsourcing.application import ProcessingEvent

from services.collaboration.domain import CollaborationCase
from shared.contract.events import (
    ESCALATION_REASONS,
    CaseConnectionAnsweredV1,
    CaseEscalatedV2,
    CaseReturnedToIntakeV1,
    Envelope,
    OutreachHandedOverV1,
)
from shared.domain.casework_owner import CaseworkOwner
from shared.domain.plan import Plan
from shared.domain.plan_owner import PlanOwner
from shared.domain.wareki import JST
from shared.kernel.app import handles
from shared.kernel.journey import NotFound


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
    plans: list[dict[str, Any]]
    latest: dict[str, Any] | None


class CollaborationApplication(PlanOwner, CaseworkOwner):
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
        self.load(case_id, CollaborationCase, "多機関協働のケース")

    def _open(self, case_id: UUID, reason: str, concerns: list[str], primary_agency: str,
              processing: ProcessingEvent[UUID]) -> None:
        try:
            case: CollaborationCase = self.load(case_id, CollaborationCase, "多機関協働のケース")
        except NotFound:
            case = CollaborationCase(case_id=case_id, reason=reason, concerns=concerns, primary_agency=primary_agency)
        else:
            case.reopen(reason, concerns, primary_agency)  # escalated again after a return to intake
        processing.collect_events(case)

    def require_case(self, case_id: UUID) -> None:
        """D4 D11: collaboration holds the case (escalated here, not returned to intake since)."""
        case: CollaborationCase = self.load(case_id, CollaborationCase, "多機関協働のケース")
        case.require_held()

    def case_view(self, case_id: UUID) -> dict[str, Any]:
        case: CollaborationCase = self.load(case_id, CollaborationCase, "多機関協働のケース")
        return case.view()

    def cases(self) -> list[dict[str, Any]]:
        return [self.case_view(i) for i in self.ids_of(CollaborationCase)]

    def plans(self, case_id: UUID | None = None) -> list[dict[str, Any]]:
        """This program's plans (of one case, when given), oldest first."""
        views = [self.plan_view(plan_id) for plan_id in self.ids_of(Plan)]
        return [v for v in views if case_id is None or v["case_id"] == str(case_id)]

    def case_rows(self, reader: Any) -> list[CaseRow]:
        """The escalated cases the reader's division may see (division scope), each with its plans."""
        plans: dict[str, list[dict[str, Any]]] = {}
        for plan in self.plans():
            plans.setdefault(plan["case_id"], []).append(plan)
        rows: list[CaseRow] = []
        for case in self.scoped(self.cases(), reader):
            own = plans.get(case["case_id"], [])
            rows.append(CaseRow(case_id=case["case_id"], reason=case["reason"], concerns=case["concerns"],
                                primary_agency=case["primary_agency"], status=case["status"], plans=own,
                                latest=own[-1] if own else None))
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
            raise NotFound(f"プランが見つかりません / プラン not found: {plan_id}")
        return steps

    @handles(CaseEscalatedV2)
    def _escalated(self, envelope: Envelope, payload: CaseEscalatedV2, processing: ProcessingEvent[UUID]) -> None:
        """D4: an escalated case opens here (v1 events arrive raised to v2)."""
        self._open(envelope.case_id, escalation_reason(payload), payload.concerns, payload.primary_agency, processing)

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
        """D12: outreach hands a person on before (or instead of) any escalation at intake."""
        if payload.to_program == "collaboration":
            self._open(envelope.case_id, payload.reason, [], payload.primary_agency or "", processing)


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
    actor = (getattr(event, "meta", None) or {}).get("actor") or {}
    return str(actor.get("staff_id") or (f"自動（{actor['service']}）" if actor.get("service") else ""))
