"""多機関協働事業: a case escalated from intake, untangled into a plan (D3, D4, D11)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar
from uuid import UUID

from eventsourcing.domain import event

from shared.kernel.journey import DomainError, JourneyAggregate


class CaseNotHeld(DomainError):
    """D11: a case the meeting returned to intake is not collaboration's to plan for until it is escalated again."""


class CollaborationCase(JourneyAggregate):
    """多機関協働のケース: opened when intake escalates; the primary agency stays in its field (D11)."""

    if TYPE_CHECKING:  # the event classes @event generates (fields: the method's parameters)
        Opened: ClassVar[type[Any]]
        Reopened: ClassVar[type[Any]]
        PrimaryChanged: ClassVar[type[Any]]
        ReturnedToIntake: ClassVar[type[Any]]

    @event("Opened")
    def __init__(self, case_id: UUID, reason: str, concerns: list[str], primary_agency: str) -> None:
        self.case_id = case_id
        self.reason, self.concerns, self.primary_agency = reason, concerns, primary_agency
        self.status = "open"

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
        """D5 D11 across programs: the meeting returned the case to intake; collaboration no longer holds it
        open, and the agency named is its one primary agency here too (窓口へ戻した)."""
        if self.status != "returned" or primary_agency != self.primary_agency:
            self._returned_to_intake(primary_agency=primary_agency or self.primary_agency, meeting_id=meeting_id)

    @event("ReturnedToIntake")
    def _returned_to_intake(self, primary_agency: str, meeting_id: UUID) -> None:
        self.primary_agency, self.status = primary_agency, "returned"

    def require_held(self) -> None:
        """D11: collaboration plans only for a case it holds (not one returned to intake)."""
        if self.status == "returned":
            raise CaseNotHeld(
                f"このケースは相談窓口へ戻されています（主担当: {self.primary_agency}）。多機関協働ではプランを作成・提出できません。"
                "再び複雑化・複合化したときは窓口からつないでもらいます / the case was returned to intake: collaboration "
                "plans for it again only once it is escalated again"
            )

    def view(self) -> dict[str, Any]:
        return {"case_id": str(self.case_id), "reason": self.reason, "concerns": self.concerns,
                "primary_agency": self.primary_agency, "status": self.status}
