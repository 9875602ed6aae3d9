"""The meeting's use cases (重層的支援会議・支援会議)."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

from eventsourcing.application import ProcessingEvent
from pydantic import BaseModel

from services.meeting.domain import ConfidentialMeeting, Consent, Meeting, PlanReview
from shared.app import ServiceApplication
from shared.contracts import ConsentRecordedV1, Envelope, PlanClosureRequestedV1, PlanProposedV1
from shared.journey import Invalid, NotFound, acting
from shared.reference import DIVISIONS, unknown_agencies

PLAN_EVENTS = ("PlanProposed", "PlanClosureRequested")
SETTLED = {"approved": "approved", "revision_requested": "revision_requested", "returned_to_intake": "returned"}


class MeetingApplication(ServiceApplication):
    """Puts proposed plans on the agenda, decides by consensus, evaluates at closure."""

    name = "meeting"
    service = "meeting"
    subscriptions = {
        "intake": ("ConsentRecorded",),
        "collaboration": PLAN_EVENTS,
        "outreach": PLAN_EVENTS,
        "participation": PLAN_EVENTS,
    }

    def convene(self, actor: dict[str, str], meeting_type: str, held_on: date, attendees: list[str]) -> UUID:
        """D5 D10: open a sitting of the 重層的支援会議 or the 支援会議."""
        unknown = unknown_agencies(attendees)
        if unknown:
            raise Invalid(f"登録されていない機関です: {', '.join(unknown)} / unknown attendee (GET /reference/agencies)")
        with acting(actor):
            meeting = Meeting.convene(meeting_type, held_on, attendees)
        self.save(meeting)
        return meeting.id

    def decide(
        self, actor: dict[str, str], meeting_id: UUID, plan_id: UUID, decision: str, reasons: str,
        positions: list[dict[str, str]], connect_to: list[str], primary_agency: str | None,
    ) -> None:
        """D5: decide a proposed plan by consensus (MeetingDecided, CaseReturnedToIntake)."""
        meeting = self._meeting(meeting_id)
        review = self.review(plan_id)
        with acting(actor):
            meeting.decide(review, decision, reasons, positions, connect_to,
                           self.consent_granted(review.case_id), primary_agency)
            review.settle(SETTLED[decision])
        self.save(meeting, review)

    def evaluate(
        self, actor: dict[str, str], meeting_id: UUID, plan_id: UUID, outcome: str, course: str, result: str,
        reason: str, next_review_on: date | None, goal_results: list[dict[str, str]],
    ) -> None:
        """D7: closure evaluation: PlanClosed, PlanSuspended or PlanContinued."""
        meeting = self._meeting(meeting_id)
        review = self.review(plan_id)
        with acting(actor):
            meeting.evaluate(review, outcome, course, result, reason, next_review_on, goal_results)
            review.settle(outcome)
        self.save(meeting, review)

    def identify_gap(self, actor: dict[str, str], meeting_id: UUID, case_id: UUID, need: str, area: str, description: str) -> None:
        """D8: record a missing local resource (ResourceGapIdentified)."""
        meeting = self._meeting(meeting_id)
        with acting(actor):
            meeting.identify_gap(case_id=case_id, need=need, area=area, description=description)
        self.save(meeting)

    def consent_view(self, case_id: UUID) -> dict[str, Any]:
        """D9: the consent the meeting last heard of for a case."""
        try:
            consent: Consent = self.load(case_id, Consent, "同意")
        except NotFound:
            return {"case_id": str(case_id), "granted": False, "scope": None, "heard": False}
        return {"case_id": str(case_id), "granted": consent.granted, "scope": consent.scope, "heard": True}

    def consent_granted(self, case_id: UUID) -> bool:
        try:
            consent: Consent = self.load(case_id, Consent, "同意")
        except NotFound:
            return False
        return bool(consent.granted)

    def review(self, plan_id: UUID) -> PlanReview:
        review: PlanReview = self.load(plan_id, PlanReview, "議題のプラン")
        return review

    def agenda(self) -> list[dict[str, Any]]:
        reviews = [self.review(i) for i in self.ids_of(PlanReview)]
        return [r.view() for r in reviews if r.status in ("proposed", "closure_requested")]

    def meeting_view(self, actor: dict[str, str], meeting_id: UUID) -> dict[str, Any]:
        """Minutes; a 支援会議's are confidential and shown only to its members (D10)."""
        meeting = self._meeting(meeting_id)
        if meeting.meeting_type == "shien_kaigi":
            division = DIVISIONS.get(actor["division"])
            if division is None or division.ja not in meeting.attendees:
                raise ConfidentialMeeting(
                    "支援会議の記録は守秘義務のある構成員のみ閲覧できます / "
                    "the 支援会議's records are shown only to its members (D10)"
                )
        return {**meeting.view(), "confidential": meeting.meeting_type == "shien_kaigi"}  # type: ignore[no-any-return]

    def react(self, envelope: Envelope, payload: BaseModel, processing: ProcessingEvent[UUID]) -> None:
        if isinstance(payload, ConsentRecordedV1):
            try:
                consent: Consent = self.load(envelope.case_id, Consent, "同意")
                consent.change(granted=payload.granted, scope=payload.scope)
            except NotFound:
                consent = Consent(case_id=envelope.case_id, granted=payload.granted, scope=payload.scope)
            processing.collect_events(consent)
        elif isinstance(payload, PlanProposedV1):
            summary = {"support_direction": payload.support_direction, "goals": payload.goals,
                       "roles": [r.model_dump() for r in payload.roles]}
            try:
                review = self.review(payload.plan_id)
                review.relist(payload.revision, summary)
            except NotFound:
                review = PlanReview(case_id=envelope.case_id, plan_id=payload.plan_id, program=payload.program,
                                    revision=payload.revision, summary=summary)
            processing.collect_events(review)
        elif isinstance(payload, PlanClosureRequestedV1):
            review = self.review(payload.plan_id)
            review.list_for_closure(payload.progress)
            processing.collect_events(review)

    def _meeting(self, meeting_id: UUID) -> Meeting:
        meeting: Meeting = self.load(meeting_id, Meeting, "会議")
        return meeting
