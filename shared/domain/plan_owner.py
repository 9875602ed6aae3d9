"""The application side of a program that writes plans (D4, D6, D7): its plan use cases and how its plans
follow the meeting. Collaboration, outreach and participation's applications are PlanOwners; their plan
routes are shared/web/plan_api.py's `plan_router`."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from datetime import date
from typing import Any
from uuid import UUID

from eventsourcing.application import ProcessingEvent
from eventsourcing.persistence import IntegrityError

from shared.contract.events import (
    Envelope,
    MeetingDecidedV1,
    PlanClosedV1,
    PlanContinuedV1,
    PlanResumedV1,
    PlanSuspendedV1,
    PoisonMessage,
)
from shared.domain.open_plan import OpenPlan, open_plan_id
from shared.domain.plan import ENDED, OpenPlanExists, Plan
from shared.kernel.app import ServiceApplication, handles
from shared.kernel.journey import Invalid, NotFound, acting
from shared.organisation.reference import agency_code, unknown_agencies


def with_agency_codes(roles: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each role with its agency's code from the municipality file in force beside the name (issue 18: events carry
    codes); a name the file does not know keeps no code (require_known_agencies refuses it first)."""
    coded = []
    for role in roles:
        code = agency_code(str(role.get("agency") or "").strip())
        coded.append({k: v for k, v in role.items() if k != "agency_code"} | ({"agency_code": code} if code else {}))
    return coded


def require_known_agencies(roles: list[dict[str, Any]]) -> None:
    """D4: every role names an agency the city knows (shared/organisation/reference.py)."""
    unknown = unknown_agencies([str(r.get("agency", "")).strip() for r in roles if r.get("agency")])
    if unknown:
        raise Invalid(
            f"登録されていない機関です: {'、'.join(unknown)}。役割の機関は一覧から選んでください / "
            "unknown agency: choose one from GET /reference/agencies"
        )


class PlanOwner(ServiceApplication):
    """A program that writes plans and takes them to the meeting."""

    program: str

    def require_case(self, case_id: UUID) -> None:
        """Raise NotFound unless this program holds the case."""
        raise NotImplementedError

    def checked_together(self, *aggregate_ids: UUID | None) -> AbstractContextManager[None]:
        """Nothing here: each use of an aggregate reads it (a program whose reads are kept, shared/domain/kept_reads.py
        `KeptReads`, checks what it keeps of these in one statement)."""
        return nullcontext()

    def kept_case_of(self, aggregate_id: UUID) -> UUID | None:
        """None here (`KeptReads`: the case of a kept plan)."""
        return None

    def require_proposable(self, case_id: UUID) -> None:
        """D6 D11: the case of a plan going to the meeting is one this program still holds (`require_case`). A program
        with rules of its own on the case adds them here, reading the case once (collaboration: D4's strands)."""
        self.require_case(case_id)

    def case_of_plan(self, plan_id: UUID) -> UUID | None:
        """The case a plan is for (its division scope is its case's); None when there is no such plan."""
        try:
            plan: Plan = self.read(plan_id, Plan, "プラン")
        except NotFound:
            return None
        return UUID(str(plan.case_id))

    def draft_plan(
        self, actor: dict[str, str], case_id: UUID, direction: str, goals: list[str], roles: list[dict[str, Any]],
        intention: str = "", starts_on: date | None = None, review_on: date | None = None,
        members: list[dict[str, Any]] | None = None,
    ) -> UUID:
        """D4 D16: draft a plan for a case this program holds (本人の意向, period, goals per person, roles); refused
        while the case has a plan of this program not ended (OpenPlanExists: one open plan per case and program). The
        plan takes the case's `OpenPlan` record in the same commit (shared/domain/open_plan.py): of two drafts made at
        the same instant, the store refuses the second, answered as OpenPlanExists naming the first.

        Whether the case is held is asked again once its plans are found ended: the meeting's decision to return the
        case ends its plan and returns the case in one commit (MeetingDecided), which may land between the first
        question and the plans' (the README walk-through's test under CI's load: 201 where 409 case_not_held was
        due). A plan seen ended means that commit is in, so the second answer is the case as it stands after it."""
        self.require_case(case_id)
        self.require_no_open_plan(case_id)
        slot = self.open_plan_slot(case_id)
        if slot is not None:  # an earlier plan of the case, now ended (a first plan has no return to race)
            self.require_case(case_id)
        require_known_agencies(roles)
        with acting(actor):
            plan = Plan.draft(case_id, self.program, direction, goals, with_agency_codes(roles), intention, starts_on, review_on, members)
            if slot is None:
                slot = OpenPlan(program=self.program, case_id=case_id, plan_id=plan.id)
            else:
                slot.take(plan.id)
        try:
            self.save(plan, slot)
        except IntegrityError:
            taken = self.open_plan_slot(case_id, refusing=False)
            if taken is None or taken.plan_id == plan.id:
                raise
            winner: Plan = self.read(taken.plan_id, Plan, "プラン")
            raise OpenPlanExists(str(taken.plan_id), winner.status_ja) from None
        return plan.id

    def open_plan_slot(self, case_id: UUID, refusing: bool = True) -> OpenPlan | None:
        """The case's `OpenPlan` record of this program, to be taken by a new plan (None: no plan drafted since the
        record existed; the plans already recorded were checked by `require_no_open_plan`). `refusing`: raise
        OpenPlanExists when the plan that took it last has not ended."""
        try:
            slot: OpenPlan = self.load(open_plan_id(self.program, case_id), OpenPlan, "プランの作成記録")
        except NotFound:
            return None
        if refusing:
            plan: Plan = self.read(slot.plan_id, Plan, "プラン")
            if plan.status not in ENDED:
                raise OpenPlanExists(str(slot.plan_id), plan.status_ja)
        return slot

    def require_no_open_plan(self, case_id: UUID) -> None:
        """D4: the case has no plan of this program that has not ended (a second tab's 「プランを作成」, a colleague's, would
        otherwise put two plans of one case before the meeting)."""
        for plan_id in self.ids_of_case(Plan, case_id):
            plan: Plan = self.read(plan_id, Plan, "プラン")
            if plan.case_id == case_id and plan.program == self.program and plan.status not in ENDED:
                raise OpenPlanExists(str(plan_id), plan.status_ja)

    def revise_plan(
        self, actor: dict[str, str], plan_id: UUID, direction: str, goals: list[str], roles: list[dict[str, Any]],
        intention: str | None = None, starts_on: date | None = None, review_on: date | None = None,
        members: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """D4 D5 D7: rewrite a draft, a plan sent back for revision, a suspended one, or one in 伴走支援; the plan's view
        as saved (the route's answer, without loading the plan again: issue 19)."""
        plan: Plan = self.load(plan_id, Plan, "プラン")
        require_known_agencies(roles)
        with acting(actor):
            plan.revise(direction, goals, with_agency_codes(roles), intention, starts_on, review_on, members)
        self.save(plan)
        return plan.view()

    def accompany(self, actor: dict[str, str], plan_id: UUID, since: date, goals_met: list[str]) -> dict[str, Any]:
        """伴走支援 (D11): every goal met, the case stays accompanied with check-ins and no active plan; the plan's view
        as saved."""
        plan: Plan = self.load(plan_id, Plan, "プラン")
        with acting(actor):
            plan.accompany(since, goals_met)
        self.save(plan)
        return plan.view()

    def check_in(self, actor: dict[str, str], plan_id: UUID, on: date, how: str, note: str) -> dict[str, Any]:
        """伴走支援: record one periodic check-in with its date; the plan's view as saved."""
        plan: Plan = self.load(plan_id, Plan, "プラン")
        with acting(actor):
            plan.check_in(on, how, note)
        self.save(plan)
        return plan.view()

    def propose_plan(self, actor: dict[str, str], plan_id: UUID) -> int:
        """D4 D6: propose the plan to the meeting (PlanProposed), for a case this program still holds (D11): the plan
        loaded once, its case read once (`require_proposable`); the two, as kept, checked in one statement
        (`checked_together`)."""
        with self.checked_together(plan_id, self.kept_case_of(plan_id)):
            plan: Plan = self.load(plan_id, Plan, "プラン")
            self.require_proposable(UUID(str(plan.case_id)))
            with acting(actor):
                plan.propose()
            self.save(plan)
        return plan.revision

    def request_plan_closure(self, actor: dict[str, str], plan_id: UUID, progress: str) -> None:
        """D7: ask the meeting to evaluate and end the plan (PlanClosureRequested)."""
        plan: Plan = self.load(plan_id, Plan, "プラン")
        with acting(actor):
            plan.request_closure(progress)
        self.save(plan)

    def plan_read(self, plan_id: UUID) -> Plan:
        """A plan as the store holds it now, the kept one when nothing was recorded since: read, never to be changed."""
        plan: Plan = self.read(plan_id, Plan, "プラン")
        return plan

    def plan_view(self, plan_id: UUID) -> dict[str, Any]:
        """A plan as its program holds it: read (a kept plan is not copied), its lists copied for the caller."""
        plan: Plan = self.read(plan_id, Plan, "プラン")
        return {k: list(v) if isinstance(v, list) else v for k, v in plan.view().items()}

    @handles(MeetingDecidedV1, PlanClosedV1, PlanSuspendedV1, PlanContinuedV1, PlanResumedV1)
    def react_to_meeting(self, envelope: Envelope, payload: Any, processing: ProcessingEvent[UUID]) -> None:
        """The owner's plan follows the meeting's decision and evaluation, for the plan's own case only: one naming
        another case is refused (dead-lettered with the reason; intake follows the envelope's case, so it would have
        shown that other case decided or closed while this plan changed)."""
        plan_id = payload.plan_id
        if getattr(payload, "program", None) not in (None, self.program):
            return
        try:
            plan: Plan = self.load(plan_id, Plan, "プラン")
        except NotFound:  # another program's plan: nothing to follow
            return
        if plan.case_id != envelope.case_id:
            raise PoisonMessage(f"{envelope.event_type} for case {envelope.case_id} names plan {plan_id} of case "
                                f"{plan.case_id}: a plan belongs to one case: not applied")
        if isinstance(payload, MeetingDecidedV1):
            plan.record_decision(payload.meeting_id, payload.meeting_type, payload.decision, payload.reasons, payload.revision or plan.revision)
        elif isinstance(payload, PlanClosedV1):
            plan.record_evaluation("closed", payload.meeting_id, payload.evaluation.model_dump(), None)
        elif isinstance(payload, PlanSuspendedV1):
            plan.record_evaluation("suspended", payload.meeting_id, payload.evaluation.model_dump(), None)
        elif isinstance(payload, PlanContinuedV1):
            plan.record_evaluation("continued", payload.meeting_id, payload.evaluation.model_dump(), payload.next_review_on)
        elif isinstance(payload, PlanResumedV1):
            plan.record_resumption(payload.meeting_id, payload.meeting_type, payload.reason)
        processing.collect_events(plan)
