"""プラン: a support plan, owned by collaboration, outreach or participation (D4, D6, D7).

Every program that writes plans uses this one aggregate in its own store; the meeting
judges them the same way whoever wrote them (D6).
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any, ClassVar
from uuid import UUID

from eventsourcing.domain import event

from shared.kernel.journey import DomainError, Invalid, JourneyAggregate

EDITABLE = ("draft", "revision_requested", "suspended")  # D7: a suspended plan resumes by a new revision


class PlanWithoutRoles(Invalid):
    """D4: a plan names at least one agency's role."""


class PlanNotEditable(DomainError):
    """A proposed or decided plan is not edited; the meeting asks for a revision first."""


def _roles(roles: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if not roles:
        raise PlanWithoutRoles("役割分担が空です。機関と役割を1つ以上入力してください / a plan needs at least one role (D4)")
    clean = []
    for i, role in enumerate(roles, 1):
        agency = str(role.get("agency") or "").strip()
        responsibility = str(role.get("responsibility") or "").strip()
        if not agency or not responsibility:
            raise PlanWithoutRoles(
                f"役割{i}: 機関名と役割の両方を入力してください / role {i} needs an agency and a responsibility (D4)"
            )
        clean.append({"agency": agency, "responsibility": responsibility, "contact": role.get("contact")})
    return clean


class Plan(JourneyAggregate):
    """プラン: support direction (支援の方向性), goals and the agencies' roles (役割分担)."""

    if TYPE_CHECKING:  # the event classes @event generates (fields: the method's parameters)
        Drafted: ClassVar[type[Any]]
        Revised: ClassVar[type[Any]]
        Proposed: ClassVar[type[Any]]
        DecisionRecorded: ClassVar[type[Any]]
        ClosureRequested: ClassVar[type[Any]]
        Evaluated: ClassVar[type[Any]]

    @event("Drafted")
    def __init__(
        self, case_id: UUID, program: str, support_direction: str, goals: list[str], roles: list[dict[str, Any]]
    ) -> None:
        self.case_id = case_id
        self.program = program
        self.support_direction = support_direction
        self.goals = goals
        self.roles = roles
        self.revision = 0
        self.status = "draft"
        self.history: list[dict[str, Any]] = []

    @classmethod
    def draft(
        cls, case_id: UUID, program: str, support_direction: str, goals: list[str], roles: list[dict[str, Any]]
    ) -> Plan:
        return cls(case_id=case_id, program=program, support_direction=support_direction, goals=list(goals), roles=_roles(roles))

    def revise(self, support_direction: str, goals: list[str], roles: list[dict[str, Any]]) -> None:
        """Rewrite the plan while it is a draft or after the meeting asked for a revision."""
        if self.status not in EDITABLE:
            raise PlanNotEditable(
                f"状態「{self.status}」のプランは修正できません / a plan that is {self.status} cannot be revised"
            )
        self._revised(support_direction=support_direction, goals=list(goals), roles=_roles(roles))

    @event("Revised")
    def _revised(self, support_direction: str, goals: list[str], roles: list[dict[str, Any]]) -> None:
        self.support_direction, self.goals, self.roles = support_direction, goals, roles

    def propose(self) -> None:
        """D4 D6: take the plan to the meeting."""
        if self.status not in EDITABLE:
            raise PlanNotEditable(
                f"状態「{self.status}」のプランは提出できません / a plan that is {self.status} cannot be proposed"
            )
        _roles(self.roles)
        self._proposed(
            revision=self.revision + 1,
            program=self.program,
            support_direction=self.support_direction,
            goals=self.goals,
            roles=self.roles,
        )

    @event("Proposed")
    def _proposed(
        self, revision: int, program: str, support_direction: str, goals: list[str], roles: list[dict[str, Any]]
    ) -> None:
        self.revision = revision
        self.status = "proposed"
        # D4: each proposed revision is kept as it was proposed
        self.revisions = [*getattr(self, "revisions", []), {
            "revision": revision, "support_direction": support_direction, "goals": goals, "roles": roles}]

    def record_decision(self, meeting_id: UUID, meeting_type: str, decision: str, reasons: str, revision: int) -> None:
        """D5: the meeting's decision on this plan reached its owner."""
        if self.status != "proposed" or revision != self.revision:
            return  # a decision on an older revision changes nothing
        self._decision_recorded(meeting_id=meeting_id, meeting_type=meeting_type, decision=decision, reasons=reasons)

    @event("DecisionRecorded")
    def _decision_recorded(self, meeting_id: UUID, meeting_type: str, decision: str, reasons: str) -> None:
        self.status = {"approved": "approved", "revision_requested": "revision_requested"}.get(decision, "returned")
        self.history.append({"meeting_id": str(meeting_id), "decision": decision, "reasons": reasons})

    def request_closure(self, progress: str) -> None:
        """D7: the owner asks the meeting to evaluate and end the plan."""
        if self.status not in ("approved", "continued", "suspended"):
            raise DomainError(
                f"承認されていないプラン（{self.status}）は終結を依頼できません / only an approved plan can be closed"
            )
        if not progress.strip():
            raise Invalid("経過を入力してください / describe the progress so far")
        self._closure_requested(progress=progress, program=self.program)

    @event("ClosureRequested")
    def _closure_requested(self, progress: str, program: str) -> None:
        self.status = "closure_requested"

    def record_evaluation(self, outcome: str, meeting_id: UUID, evaluation: dict[str, str], next_review_on: date | None) -> None:
        """D7: the meeting's evaluation reached the owner: closed, suspended or continued."""
        if self.status != "closure_requested":
            return
        self._evaluated(outcome=outcome, meeting_id=meeting_id, evaluation=evaluation, next_review_on=next_review_on)

    @event("Evaluated")
    def _evaluated(self, outcome: str, meeting_id: UUID, evaluation: dict[str, str], next_review_on: date | None) -> None:
        self.status = outcome
        self.history.append({"meeting_id": str(meeting_id), "evaluation": evaluation, "outcome": outcome})

    def view(self) -> dict[str, Any]:
        return {
            "plan_id": str(self.id),
            "case_id": str(self.case_id),
            "program": self.program,
            "status": self.status,
            "revision": self.revision,
            "support_direction": self.support_direction,
            "goals": self.goals,
            "roles": self.roles,
            "history": self.history,
            "revisions": getattr(self, "revisions", []),
        }


PLAN_RULES = {
    Plan.Proposed: lambda e: (
        "PlanProposed",
        {
            "plan_id": e.originator_id,
            "program": e.program,
            "revision": e.revision,
            "support_direction": e.support_direction,
            "goals": e.goals,
            "roles": e.roles,
        },
    ),
    Plan.ClosureRequested: lambda e: (
        "PlanClosureRequested",
        {"plan_id": e.originator_id, "program": e.program, "progress": e.progress},
    ),
}
