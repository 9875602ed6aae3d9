"""D4: one open plan per case and program, serialised in the event store.

A program keeps at most one plan not ended per case (shared/domain/plan_owner.py `draft_plan`). Checking the plans
already recorded before saving a new one leaves a gap: two drafts at the same instant (two tabs, two coordinators, two
replicas) both find none open and both save. So each new plan also takes the case's `OpenPlan` record of its program
(one aggregate per (program, case), its id derived from the two), in the same `save()` as the plan: the record is
created with the first plan and moved on (`Taken` again) by each later one, so two drafts made from the same state
both write the same version of it and the store's optimistic concurrency refuses the second (an `IntegrityError`,
answered as `OpenPlanExists`, 409 open_plan_exists, naming the plan that won).

A store made before this record existed has none for its cases: the plans already open there count (the plan check
reads them, as before), and the record is made by the next plan drafted for the case. The record says which plan
took the case last; whether it is still open is that plan's own status (ended: 終結, or returned to intake).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar
from uuid import UUID, uuid5

from eventsourcing.domain import event

from shared.kernel.journey import JourneyAggregate

OPEN_PLAN_NAMESPACE = UUID("8f0d3c6a-2b47-4e19-9a5e-71c4d2b0e8a3")


def open_plan_id(program: str, case_id: UUID) -> UUID:
    """The id of the `OpenPlan` record of `program` for `case_id`."""
    return uuid5(OPEN_PLAN_NAMESPACE, f"{program}:{case_id}")


class OpenPlan(JourneyAggregate):
    """D4: the plan of a program that last took a case (the one that may still be open), saved with each new plan."""

    if TYPE_CHECKING:
        Taken: ClassVar[type[Any]]
        TakenAgain: ClassVar[type[Any]]

    @event("Taken")
    def __init__(self, program: str, case_id: UUID, plan_id: UUID) -> None:
        self.program, self.case_id, self.plan_id = program, case_id, plan_id

    @staticmethod
    def create_id(program: str, case_id: UUID, **_: Any) -> UUID:
        return open_plan_id(program, case_id)

    @event("TakenAgain")
    def take(self, plan_id: UUID) -> None:
        """A new plan for the case, the one before it ended."""
        self.plan_id = plan_id

    def view(self) -> dict[str, Any]:
        return {"program": self.program, "case_id": str(self.case_id), "plan_id": str(self.plan_id)}
