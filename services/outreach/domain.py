"""アウトリーチ等を通じた継続的支援事業: reaching people who cannot come forward (D12)."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any, ClassVar
from uuid import UUID

from eventsourcing.domain import event

from shared.domain.wareki import day_ja
from shared.kernel.journey import DomainError, Invalid, JourneyAggregate

#: D12: the programs outreach hands a person on to, as staff name them (the hand-over form, its refusals)
HAND_OVER_TO = {"intake": "包括的相談支援（相談窓口）", "collaboration": "多機関協働", "participation": "参加支援"}

STAGES = ("未接触", "接触", "関係形成", "信頼関係", "つなぎ準備")
CONTACT_METHODS = ("訪問", "手紙", "電話", "メール", "その他")


class UnknownPrimaryAgency(Invalid):
    """D11: a person handed over to 多機関協働 goes with a 主担当機関 of the municipality file, whose division then holds
    the case; a name it does not know would leave the case to no division."""

    def __init__(self, agency: str) -> None:
        super().__init__(f"主担当機関「{agency}」は機関の一覧にありません。一覧から選んでください / "
                         f"unknown primary agency {agency!r}: choose one of the city's agencies (GET /reference/agencies)")


class Engagement(JourneyAggregate):
    """関わり: contact attempts, the growth of the relationship, and the hand-over (D12)."""

    if TYPE_CHECKING:  # the event classes @event generates (fields: the method's parameters)
        Started: ClassVar[type[Any]]
        ContactRecorded: ClassVar[type[Any]]
        HandedOver: ClassVar[type[Any]]

    @event("Started")
    def __init__(self, case_id: UUID, referred_by: str, reason: str, address: str | None = None,
                 referred_by_code: str | None = None) -> None:
        """`address`: 住所または所在の地域 of a new person (kept in outreach's own store, never on the bus;
        engagements started before it was kept have none). `referred_by_code`: the referrer's code in the
        municipality file (issue 18; none for a referrer it does not know, and on engagements started before)."""
        self.case_id, self.referred_by, self.reason = case_id, referred_by, reason
        self.address, self.referred_by_code = address, referred_by_code
        self.contacts: list[dict[str, Any]] = []
        self.stage = STAGES[0]
        self.handed_over_to: str | None = None

    @staticmethod
    def create_id(case_id: UUID, **_: Any) -> UUID:
        return case_id

    def record_contact(self, method: str, reached: bool, note: str, stage: str, on: date | None = None,
                       today: date | None = None) -> None:
        """A contact (or an attempt) on the day it took place (接触日, `on`; not after `today`)."""
        if on is not None and today is not None and on > today:
            raise Invalid(f"接触日 {day_ja(on)} は今日より後です。接触した日を入力してください / the contact date is in the future")
        if reached and stage == STAGES[0]:
            raise Invalid(f"会えた・話せた接触のあとの関係の段階は「{STAGES[0]}」にできません。「{STAGES[1]}」以降を選んでください"
                          " / a contact that reached the person leaves the relationship at its second stage or later: "
                          "choose that stage")
        self._contact_recorded(method=method, reached=reached, note=note, stage=stage, on=on)

    @event("ContactRecorded")
    def _contact_recorded(self, method: str, reached: bool, note: str, stage: str, on: date | None = None) -> None:
        self.contacts.append({"method": method, "reached": reached, "note": note, "on": on.isoformat() if on else None})
        self.stage = stage

    def hand_over(self, to_program: str, reason: str, primary_agency: str | None, counter: str | None = None,
                  primary_agency_code: str | None = None) -> None:
        """D12: hand the person on to intake, collaboration or participation. `primary_agency_code`: the agency's
        code in the municipality file (issue 18)."""
        if self.handed_over_to:
            raise DomainError(f"既に{HAND_OVER_TO.get(self.handed_over_to, '別の事業')}へ引き継いでいます / already handed over")
        if to_program == "collaboration" and not (primary_agency or "").strip():
            raise Invalid("多機関協働へ引き継ぐときは主担当機関を入力してください / name the primary agency (D11)")
        if to_program == "intake" and not (counter or "").strip():
            raise Invalid("包括的相談支援へ引き継ぐときは受付窓口を選んでください / name the counter that receives the person")
        self._handed_over(to_program=to_program, reason=reason, primary_agency=primary_agency, counter=counter,
                          primary_agency_code=primary_agency_code)

    @event("HandedOver")
    def _handed_over(self, to_program: str, reason: str, primary_agency: str | None, counter: str | None = None,
                     primary_agency_code: str | None = None) -> None:
        self.handed_over_to = to_program

    def view(self) -> dict[str, Any]:
        return {"case_id": str(self.case_id), "referred_by": self.referred_by, "reason": self.reason,
                "address": getattr(self, "address", None), "stage": self.stage, "contacts": self.contacts, "handed_over_to": self.handed_over_to}
