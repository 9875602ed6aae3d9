"""包括的相談支援事業: a consultation case at one of the six counters (D1, D2, D3, D9, D11)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any, ClassVar
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from shared.kernel.journey import DomainError, Invalid, JourneyAggregate, NotFound

#: what a consent covers as staff read it (shared/contract/events.py CONSENT_COVERS; the domain imports no contract)
_COVERS_JA = {"jusou_shien_kaigi": "重層的支援会議での情報共有", "related_agencies": "関係機関との情報共有"}


def _covers_of_wording(scope: str) -> list[str]:
    """A consent recorded before `covers` existed: it covers the 重層的支援会議 when its wording says so."""
    return ["jusou_shien_kaigi"] if "重層的支援会議" in scope else []


class Forbidden(DomainError):
    """No legal basis to show personal information (D9, D10)."""

    status = 403


class CaseAlreadyEscalated(DomainError):
    """D11: a case has one primary agency; it is escalated once until it returns."""


class PossibleDuplicate(DomainError):
    """Search before create: the person may already be known; pick them or confirm a new person."""

    def __init__(self, candidates: list[dict[str, Any]], elsewhere: int = 0) -> None:
        super().__init__(
            "同じ方が既に登録されている可能性があります。候補から選ぶか、別人として登録してください / "
            "this person may already be known: choose a candidate (person_ref) or confirm a new person"
            + ("（他の窓口にも該当する可能性のある方がいます。氏名は表示しません / another counter holds a "
               "possibly matching person）" if elsewhere else "")
        )
        self.extra: dict[str, Any] = {"candidates": candidates, "elsewhere": elsewhere}


class PersonErased(DomainError):
    """The person's information was erased (crypto-shredded): nothing more can be done with it."""


#: legal bases of an erasure (消去の根拠)
ERASURE_BASES = {"person_request": "本人の請求", "retention_expired": "保存期間満了"}

#: 相談経路 (how the consultation came in), as codes (the bus may carry the code, #16's figures)
ROUTES = {"visit": "来所", "phone": "電話", "home_visit": "訪問", "from_agency": "関係機関から",
          "from_others": "本人以外から"}
#: 相談者 (who consulted)
CONSULTED_BY = {"self": "本人", "family": "家族", "neighbour": "近隣", "agency": "関係機関"}
#: 対応終了の結果 (how intake closed a case it handled)
CLOSING_OUTCOMES = {"resolved": "解決", "handed_over": "他機関へ引継ぎ", "person_ended": "本人の意思で終了",
                    "moved": "転居", "died": "死亡", "unreachable": "連絡不能"}


def check_reception(route: str | None, consulted_by: str | None) -> None:
    """相談受付票: 相談経路 and 相談者 are known codes when given."""
    if route is not None and route not in ROUTES:
        raise Invalid("相談経路は " + "・".join(f"{k}={v}" for k, v in ROUTES.items()) + " のいずれかです / unknown route")
    if consulted_by is not None and consulted_by not in CONSULTED_BY:
        raise Invalid("相談者は " + "・".join(f"{k}={v}" for k, v in CONSULTED_BY.items())
                      + " のいずれかです / unknown consulted_by")


#: D18: a つなぎ unanswered this many days is due on 自分の担当 (its 担当者's), overdue the day after
CONNECTION_ANSWER_DAYS = 7
#: D18 D9: a case escalated without a granted consent: due this many days after the escalation (the
#: 重層的支援会議 shares nothing personal without it)
CONSENT_DAYS = 7
#: D18: how far ahead an item counts as due (as a note's 次の対応, shared/domain/casework.py DUE_SOON)
DUE_AHEAD = timedelta(days=7)
UNDER_PLAN = ("escalated", "linked", "plan_suspended")


def due_at_intake(view: dict[str, Any], connected_on: Sequence[date], escalated_on: date | None,
                  on: date) -> list[tuple[str, date, bool]]:
    """D18 (issue 15): what is due on an intake case, as (what, due date, overdue): a つなぎ unanswered for
    CONNECTION_ANSWER_DAYS days; a consent awaited (escalated, none granted) CONSENT_DAYS days after the
    escalation; the 見直し予定日 of a plan the case follows (escalated, or held in its household's plan).
    `connected_on`: the day of each connection, in order. A consent or a review is listed DUE_AHEAD before
    its day (as a note's 次の対応), a つなぎ once it is due; overdue the day after."""
    items: list[tuple[str, date, timedelta]] = []  # what, when due, how far ahead it is listed
    if view["status"] == "closed":
        return []
    for connection, day in zip(view["connections"], connected_on, strict=False):
        if connection["status"] == "pending":  # listed once it is N days unanswered, not before
            items.append((f"つなぎの回答待ち: {connection['to_agency']}",
                          day + timedelta(days=CONNECTION_ANSWER_DAYS), timedelta(0)))
    consent = view.get("consent") or {}
    if view["status"] in ("escalated", "linked") and escalated_on is not None and not consent.get("granted"):
        items.append(("本人同意の確認待ち（重層的支援会議の前に）", escalated_on + timedelta(days=CONSENT_DAYS), DUE_AHEAD))
    review = view.get("review_on")
    if review and view["status"] in ("escalated", "linked"):
        items.append(("プランの見直し予定日", date.fromisoformat(review), DUE_AHEAD))
    return [(what, due, due < on) for what, due, ahead in items if due <= on + ahead]


def counter_divisions(first: str, taken_up: Sequence[dict[str, Any]]) -> frozenset[str]:
    """D9 D11: the division of the counter that first received a case and of each counter that took it up again from an
    outreach referral (Case.take_up_referral: each entry keeps its division, from its event, also when the case is
    rebuilt from events recorded before the entry kept it)."""
    return frozenset({first, *(str(entry["division"]) for entry in taken_up if entry.get("division"))})


class CaseStillUnderPlan(DomainError):
    """対応終了 is refused while the case is escalated and its plan is active: the plan ends it (終結)."""


#: 対応終了 of a case taken up again at a counter while the plan it was escalated under is in force (D7 D11 D12)
TAKEN_UP_UNDER_PLAN = (
    "このケースは窓口で受け直しましたが、多機関協働事業へつないだときのプランがまだ実施中です。対応終了の前に、"
    "多機関協働の担当にプランの終結の依頼を頼み、重層的支援会議で終結（または中断・相談窓口へ戻す）を決めてもらってください"
    " / the case was taken up again at this counter, but the plan of collaboration it was escalated under is still in "
    "force: ask collaboration to request the plan's closure, which the meeting decides (D7), then close the case here")
#: the programs whose plan a case escalated at intake is under (older plan events name no program)
_ESCALATION_PLAN = (None, "collaboration")


class CaseAlreadyClosed(DomainError):
    """対応終了 was recorded already: the case is closed."""


class UnknownPrimaryAgency(Invalid):
    """D11: the 主担当機関 a case is escalated with is an agency of the municipality file, whose division then holds
    the case; a name it does not know would leave the case to no division (and the plan's role refused, D4)."""

    def __init__(self, agency: str) -> None:
        super().__init__(f"主担当機関「{agency}」は機関の一覧にありません。一覧から選んでください / "
                         f"unknown primary agency {agency!r}: choose one of the city's agencies (GET /reference/agencies)")


class Person(Aggregate):
    """相談者: personal information, kept only in intake's (encrypted) store."""

    #: never part of an audit's state view; reading it is a disclosure (PersonDisclosed)
    personal = True
    #: fields of its events stored sealed with the person's own key: erasure deletes the key
    personal_fields = ("name", "kana", "birth_date", "address", "phone")
    ERASED = "消去済み / erased"

    if TYPE_CHECKING:  # the event classes @event generates (fields: the method's parameters)
        Registered: ClassVar[type[Any]]
        Erased: ClassVar[type[Any]]
        Shown: ClassVar[type[Any]]

    @event("Registered")
    def __init__(self, name: str, kana: str, birth_date: str | None, address: str | None, phone: str | None) -> None:
        self.name, self.kana, self.birth_date, self.address, self.phone = name, kana, birth_date, address, phone
        self.erased: dict[str, str] | None = None

    def erase(self, staff_id: str, division: str, basis: str, reason: str) -> None:
        """消去: the person's information becomes unreadable for good; the record of the erasure stays."""
        if self.erased:
            raise PersonErased("この相談者の個人情報は既に消去されています / this person's information was already erased")
        if basis not in ERASURE_BASES:
            raise Invalid("消去の根拠は " + ", ".join(f"{k} ({v})" for k, v in ERASURE_BASES.items())
                          + " のいずれかです / unknown legal basis for an erasure")
        if not reason.strip():
            raise Invalid("消去の理由を入力してください / give the reason for the erasure")
        self._erased(person_ref=str(self.id), staff_id=staff_id, division=division, basis=basis, reason=reason)

    @event("Erased")
    def _erased(self, person_ref: str, staff_id: str, division: str, basis: str, reason: str) -> None:
        self.name, self.kana, self.birth_date, self.address, self.phone = self.ERASED, "", None, None, None
        self.erased = {"staff_id": staff_id, "division": division, "basis": basis, "reason": reason}

    def show(self, staff_id: str, division: str, purpose: str) -> None:
        """Reading personal information is itself recorded: this person was shown to a staff member as
        a candidate of a search before create (受付時の重複確認)."""
        if self.erased:
            raise PersonErased("この相談者の個人情報は消去されています / this person's information was erased")
        self._shown(person_ref=str(self.id), staff_id=staff_id, division=division, purpose=purpose)

    @event("Shown")
    def _shown(self, person_ref: str, staff_id: str, division: str, purpose: str) -> None:
        self.times_shown = getattr(self, "times_shown", 0) + 1


class Reception(Aggregate):
    """相談受付票の記述: 主訴 and 相談概要 of one case. Personal: kept in intake's store only, sealed with the
    person's key (erased with them), never on the bus nor in an audit's state view."""

    personal = True
    personal_fields = ("main_complaint", "summary")

    if TYPE_CHECKING:
        Recorded: ClassVar[type[Any]]
        RecordedAgain: ClassVar[type[Any]]

    @event("Recorded")
    def __init__(self, case_id: UUID, person_ref: str, main_complaint: str, summary: str) -> None:
        self.case_id, self.person_ref = case_id, person_ref
        self.main_complaint, self.summary = main_complaint, summary

    @staticmethod
    def create_id(case_id: UUID, **_: Any) -> UUID:
        return Reception.id_for(case_id)

    def record_again(self, main_complaint: str, summary: str) -> None:
        """D12: 主訴 and 相談概要 as the counter heard them when it took the case up again from an outreach
        referral (Case.take_up_referral); the earlier ones stay in the events (D15), sealed as these are."""
        self._recorded_again(person_ref=self.person_ref, main_complaint=main_complaint, summary=summary)

    @event("RecordedAgain")
    def _recorded_again(self, person_ref: str, main_complaint: str, summary: str) -> None:
        self.main_complaint, self.summary = main_complaint, summary

    @staticmethod
    def id_for(case_id: UUID) -> UUID:
        return uuid5(case_id, "reception")


#: 続柄 (D16): a member's relation to the household's head (本人 is the head alone)
RELATIONS = {"self": "本人", "spouse": "配偶者", "child": "子", "parent": "親", "other": "その他"}


class AlreadyInAHousehold(DomainError):
    """D16: a person belongs to one household at a time (leave the other first)."""


class NotAMember(DomainError):
    """D16: the person is not a member of this household now."""

    status = 404


class HeadStays(DomainError):
    """D16: the head (本人) does not leave the household; form another from a member's case instead."""


class Household(JourneyAggregate):
    """世帯 (D16): persons of intake's records living together, each with their 続柄 to the head (本人).

    Its id is the household's pseudonymous ref (a random UUID: no person's id or name), the only thing of it
    that may travel on the bus (CaseEscalated's `household_ref`). Membership changes over time: a member who
    left stays as a former member with the dates. Personal: a member's 続柄 is stored sealed with that
    member's key (erased with them); the household is never part of an audit's state view."""

    personal = True
    personal_fields = ("relation",)

    if TYPE_CHECKING:  # the event classes @event generates (fields: the method's parameters)
        Formed: ClassVar[type[Any]]
        MemberAdded: ClassVar[type[Any]]
        MemberRemoved: ClassVar[type[Any]]

    @classmethod
    def form(cls, head_ref: str, on: str, division: str, current_household: UUID | None) -> Household:
        """D16: a household formed around a case's person (its head, 本人), who belongs to no other now."""
        if current_household is not None:
            raise AlreadyInAHousehold("この方は既に別の世帯に属しています。その世帯を開くか、先にその世帯から外してください / "
                                      "this person already belongs to a household: open it, or remove them from it first")
        return cls(head_ref=head_ref, on=on, division=division)

    @event("Formed")
    def __init__(self, head_ref: str, on: str, division: str) -> None:
        self.head_ref = head_ref
        self.members: list[dict[str, Any]] = [{"person_ref": head_ref, "relation": "self", "since": on,
                                               "division": division}]
        self.former: list[dict[str, Any]] = []

    def add_member(self, person_ref: str, relation: str, on: str, division: str,
                   current_household: UUID | None) -> None:
        """D16: a person joins with their 続柄 to the head; one household at a time; 本人 is the head alone.
        `division`: the adding staff member's (their basis for a member who has no case of their own)."""
        if relation not in RELATIONS or relation == "self":
            raise Invalid("続柄は " + "・".join(f"{k}={v}" for k, v in RELATIONS.items() if k != "self")
                          + " のいずれかです（本人は世帯主のみ）/ relation to the head: spouse, child, parent or other")
        if any(m["person_ref"] == person_ref for m in self.members):
            raise AlreadyInAHousehold("この方は既にこの世帯の世帯員です / this person is already a member")
        if current_household is not None and current_household != self.id:
            raise AlreadyInAHousehold("この方は別の世帯に属しています。先にその世帯から外してください / "
                                      "this person belongs to another household: remove them from it first")
        self._member_added(person_ref=person_ref, relation=relation, on=on, division=division)

    @event("MemberAdded")
    def _member_added(self, person_ref: str, relation: str | None, on: str, division: str) -> None:
        self.members.append({"person_ref": person_ref, "relation": relation, "since": on, "division": division})

    def remove_member(self, person_ref: str, on: str) -> None:
        """D16: a member leaves (転出・別世帯へ); kept as a former member. The head does not leave."""
        if person_ref == self.head_ref:
            raise HeadStays("世帯主（本人）は世帯から外せません / the head does not leave the household")
        if all(m["person_ref"] != person_ref for m in self.members):
            raise NotAMember("この方はこの世帯の世帯員ではありません / not a member of this household")
        self._member_removed(person_ref=person_ref, on=on)

    @event("MemberRemoved")
    def _member_removed(self, person_ref: str, on: str) -> None:
        gone = next(m for m in self.members if m["person_ref"] == person_ref)
        self.members = [m for m in self.members if m["person_ref"] != person_ref]
        self.former.append({**gone, "until": on})

    def is_member(self, person_ref: str) -> bool:
        return any(m["person_ref"] == person_ref for m in self.members)


class Referral(JourneyAggregate):
    """紹介: outreach hands a person to a counter (D12); the counter receives them on the same case."""

    if TYPE_CHECKING:  # the event classes @event generates (fields: the method's parameters)
        Referred: ClassVar[type[Any]]
        ReferralReceived: ClassVar[type[Any]]

    @event("Referred")
    def __init__(self, case_id: UUID, counter: str, reason: str) -> None:
        self.case_id, self.counter, self.reason = case_id, counter, reason
        self.status = "waiting"

    @staticmethod
    def create_id(case_id: UUID, **_: Any) -> UUID:
        return Referral.id_for(case_id)

    @staticmethod
    def id_for(case_id: UUID) -> UUID:
        """The case itself will have the case id; its referral gets one derived from it."""
        return uuid5(case_id, "referral")

    def receive(self, counter: str) -> None:
        if self.status != "waiting":
            raise DomainError("この紹介は既に受け付けています / this referral was already received")
        if counter != self.counter:
            raise Invalid(f"この紹介は別の窓口（{self.counter}）宛てです。その窓口の「紹介を受けた方」から受け付けてください / "
                          f"this referral is for counter {self.counter}: receive it from that counter's list of referrals")
        self._received()

    @event("ReferralReceived")
    def _received(self) -> None:
        self.status = "received"

    def view(self) -> dict[str, Any]:
        return {"case_id": str(self.case_id), "counter": self.counter, "reason": self.reason, "status": self.status}


class Case(JourneyAggregate):
    """相談ケース: one resident's consultation and what intake did with it."""

    if TYPE_CHECKING:  # the event classes @event generates (fields: the method's parameters)
        Received: ClassVar[type[Any]]
        ConsentRecorded: ClassVar[type[Any]]
        Connected: ClassVar[type[Any]]
        ConnectionAnswered: ClassVar[type[Any]]
        Escalated: ClassVar[type[Any]]
        Returned: ClassVar[type[Any]]
        Closed: ClassVar[type[Any]]
        PlanEnded: ClassVar[type[Any]]
        PersonDisclosed: ClassVar[type[Any]]
        SittingNoted: ClassVar[type[Any]]
        MeetingNoted: ClassVar[type[Any]]
        JoinedHouseholdPlan: ClassVar[type[Any]]
        PlanSuspended: ClassVar[type[Any]]
        PlanResumed: ClassVar[type[Any]]
        ReviewNoted: ClassVar[type[Any]]
        ReferralTakenUp: ClassVar[type[Any]]
        HandedToCollaboration: ClassVar[type[Any]]
        PlanApprovedAgain: ClassVar[type[Any]]

    @event("Received")
    def __init__(
        self, case_id: UUID, counter: str, division: str, channel: str, concerns: list[str], person_ref: str,
        primary_agency: str, consulted_on: str | None = None, route: str | None = None,
        consulted_by: str | None = None, concern_codes: list[str | None] | None = None,
        primary_agency_code: str | None = None,
    ) -> None:
        self.case_id = case_id
        # issue 18: the municipality file's codes beside the names (None for a case received before)
        self.concern_codes = concern_codes
        # 相談受付票 (issue 15): 相談日 (ISO), 相談経路 and 相談者 as codes; None for a case received before
        self.consulted_on, self.route, self.consulted_by = consulted_on, route, consulted_by
        self.closure: dict[str, str] | None = None
        self.counter, self.division, self.channel = counter, division, channel
        self.concerns = concerns
        self.person_ref = person_ref
        self.primary = primary_agency  # D11: the receiving counter is primary until an explicit event
        self.status = "open"
        self.consent: dict[str, Any] | None = None
        self.connections: list[dict[str, str]] = []

    @staticmethod
    def create_id(case_id: UUID, **_: Any) -> UUID:
        return case_id

    def record_consent(self, scope: str, granted: bool, method: str, covers: Sequence[str] | None = None) -> None:
        """D9: 本人同意, given or withdrawn; `covers` says what it covers (CONSENT_COVERS codes); None reads
        it from the wording (the 重層的支援会議 when `scope` names it)."""
        if covers is None:
            covers = _covers_of_wording(scope)
        if granted and not covers:
            raise Invalid("同意の範囲（重層的支援会議での共有、関係機関との共有）を1つ以上選んでください / "
                          "say what the consent covers: jusou_shien_kaigi and/or related_agencies (D9)")
        self._consent_recorded(scope=scope, granted=granted, method=method, covers=sorted(covers or []))

    @event("ConsentRecorded")
    def _consent_recorded(self, scope: str, granted: bool, method: str, covers: list[str] | None = None) -> None:
        self.consent = {"scope": scope, "granted": granted, "method": method,
                        "covers": covers if covers is not None else _covers_of_wording(scope)}

    def connect(self, to_agency: str, reason: str, to_agency_code: str | None = None) -> None:
        """D3: つなぎ to another agency; it accepts or declines. Not once the case is closed (対応終了).
        `to_agency_code`: the agency's code in the municipality file (issue 18)."""
        if self.status == "closed":
            raise CaseAlreadyClosed("このケースは対応終了しています。つなぐには新しい相談として受け付けてください / "
                                    "the case is closed: receive a new consultation to connect the person")
        self._connected(to_agency=to_agency, reason=reason, to_agency_code=to_agency_code)

    @event("Connected")
    def _connected(self, to_agency: str, reason: str, to_agency_code: str | None = None) -> None:
        self.connections.append({"to_agency": to_agency, "reason": reason, "status": "pending", "answer": ""}
                                | ({"to_agency_code": to_agency_code} if to_agency_code else {}))

    def answer_connection(self, index: int, accepted: bool, reason: str) -> None:
        """D3 D11: the receiving agency accepts (it becomes primary) or declines, with a reason."""
        if not 0 <= index < len(self.connections):
            raise NotFound(f"つなぎ {index} はありません / no connection {index}")
        if self.connections[index]["status"] != "pending":
            raise DomainError(f"つなぎ {index} には既に回答があります / connection {index} was already answered")
        if not accepted and not reason.strip():
            raise Invalid("断る理由を入力してください / a declined connection needs a reason")
        self._connection_answered(index=index, to_agency=self.connections[index]["to_agency"], accepted=accepted, reason=reason,
                                  to_agency_code=self.connections[index].get("to_agency_code"))

    @event("ConnectionAnswered")
    def _connection_answered(self, index: int, to_agency: str, accepted: bool, reason: str,
                             to_agency_code: str | None = None) -> None:
        self.connections[index] = {**self.connections[index], "status": "accepted" if accepted else "declined", "answer": reason}
        if accepted:
            self.primary = to_agency

    def escalate(self, reason: str, primary_agency: str, household_ref: str | None = None,
                 related_case_ids: Sequence[UUID] = (), primary_agency_code: str | None = None,
                 concern_codes: list[str | None] | None = None) -> None:
        """D3: a complex or compound case goes to collaboration (多機関協働). D16: with `household_ref` and
        `related_case_ids`, it carries the household's other cases escalated with it to one plan."""
        self._check_escalable()
        if not primary_agency.strip():
            raise Invalid("主担当機関を入力してください / name the primary agency (D11)")
        related = [str(c) for c in related_case_ids]
        # issue 18: the codes beside the names, when known (an event without them reads as before)
        self._escalated(reason=reason, concerns=self.concerns, primary_agency=primary_agency,
                        household_ref=household_ref, related_case_ids=related or None,
                        primary_agency_code=primary_agency_code,
                        concern_codes=concern_codes or getattr(self, "concern_codes", None))

    def _check_escalable(self) -> None:
        if self.status == "closed":
            raise CaseAlreadyClosed("このケースは対応終了しています / the case is closed")
        if self.status in ("escalated", "plan_suspended"):
            raise CaseAlreadyEscalated(
                "このケースは既に多機関協働事業へつないでいます / the case is already escalated"
            )
        if self.status == "linked":
            raise CaseAlreadyEscalated("このケースは世帯の他のケースと一緒に多機関協働事業へつないでいます（世帯で連携中）/ "
                                       "the case is already held in its household's plan")

    @event("Escalated")
    def _escalated(self, reason: str, concerns: list[str], primary_agency: str, household_ref: str | None = None,
                   related_case_ids: list[str] | None = None, primary_agency_code: str | None = None,
                   concern_codes: list[str | None] | None = None) -> None:
        self.status = "escalated"
        self.primary = primary_agency
        self.household_plan = {"household_ref": household_ref, "lead": str(self.id),
                               "related": list(related_case_ids or [])} if household_ref else None

    def join_household_plan(self, lead_case_id: UUID, household_ref: str, primary_agency: str) -> None:
        """D16: the household's case `lead_case_id` is escalated carrying this one (one plan for the household):
        this case is held with it (「世帯で連携中」) and follows that plan, with the lead's primary agency."""
        if lead_case_id == self.id:
            raise Invalid("一緒につなぐケースは代表のケースとは別のケースです / the lead case is not joined to itself")
        self._check_escalable()
        self._joined_household_plan(lead_case_id=str(lead_case_id), household_ref=household_ref,
                                    primary_agency=primary_agency)

    @event("JoinedHouseholdPlan")
    def _joined_household_plan(self, lead_case_id: str, household_ref: str, primary_agency: str) -> None:
        self.status = "linked"
        self.primary = primary_agency
        self.household_plan = {"household_ref": household_ref, "lead": lead_case_id, "related": []}

    def note_plan_review(self, plan_id: UUID, review_on: str | None, program: str | None = None) -> None:
        """D18: the 見直し予定日 of the plan the case follows (PlanProposed's review_on, PlanContinued's next
        review); recorded when it changes. Outreach's or participation's own plan for the case (D6) has its own date,
        listed where that plan is kept: not this case's."""
        if program not in _ESCALATION_PLAN:
            return
        if review_on and review_on != getattr(self, "review_on", None):
            self._review_noted(plan_id=str(plan_id), review_on=review_on)

    @event("ReviewNoted")
    def _review_noted(self, plan_id: str, review_on: str) -> None:
        self.review_on = review_on

    def note_plan_suspended(self, plan_id: UUID, meeting_id: UUID, program: str | None = None) -> None:
        """D7: the plan the case is under was suspended (中断): the case shows 中断 (a case not under a plan:
        nothing). A case taken up again at a counter while that plan was in force stays the counter's (対応中), its
        plan no longer in force (`held_plan`: the counter may close it)."""
        if program not in _ESCALATION_PLAN:  # another program's own plan (D6): the case's plan stays in force
            return
        held = self.status == "open" and getattr(self, "held_plan", None) == "in_force"
        if self.status in ("escalated", "linked") or held:
            self._plan_suspended(plan_id=str(plan_id), meeting_id=str(meeting_id), status_before=self.status)

    @event("PlanSuspended")
    def _plan_suspended(self, plan_id: str, meeting_id: str, status_before: str = "escalated") -> None:
        if status_before not in ("escalated", "linked"):  # taken up at a counter meanwhile (held_plan)
            self.held_plan: str | None = "suspended"
            return
        self.status = "plan_suspended"
        self.suspended_from = status_before

    def note_plan_resumed(self, plan_id: UUID, meeting_id: UUID, program: str | None = None) -> None:
        """D7 (issue 15): the plan was resumed (PlanResumed): a case that showed 中断 or 終結 is under its plan
        again (支援中); a case returned or closed here records nothing. A case taken up again at a counter whose
        plan was suspended has it in force again (`held_plan`), and stays the counter's."""
        if program not in _ESCALATION_PLAN:  # another program's own plan (D6): the case's plan is as it was
            return
        held = self.status == "open" and getattr(self, "held_plan", None) == "suspended"
        if self.status in ("plan_suspended", "plan_closed") or held:
            self._plan_resumed(plan_id=str(plan_id), meeting_id=str(meeting_id))

    @event("PlanResumed")
    def _plan_resumed(self, plan_id: str, meeting_id: str) -> None:
        if self.status not in ("plan_suspended", "plan_closed"):  # taken up at a counter meanwhile (held_plan)
            self.held_plan = "in_force"
            return
        before = getattr(self, "suspended_from", None) or getattr(self, "ended_from", None)
        self.status = before if before in ("escalated", "linked") else "escalated"

    def note_plan_approved(self, plan_id: UUID, meeting_id: UUID, program: str | None = None) -> None:
        """D7: the meeting approved a plan of collaboration for the case (MeetingDecided approved) while the case showed
        its plan 中断 or 終結: a suspended plan revised and approved again, or a new plan after 終結, is in force, so the
        case is under its plan again (支援中), as after a resumption; a case taken up again at a counter whose plan was
        suspended has it in force again (`held_plan`). Any other case records nothing (a first approval included)."""
        if program not in _ESCALATION_PLAN:
            return
        held = self.status == "open" and getattr(self, "held_plan", None) == "suspended"
        if self.status in ("plan_suspended", "plan_closed") or held:
            self._plan_approved_again(plan_id=str(plan_id), meeting_id=str(meeting_id))

    @event("PlanApprovedAgain")
    def _plan_approved_again(self, plan_id: str, meeting_id: str) -> None:
        if self.status not in ("plan_suspended", "plan_closed"):  # taken up at a counter meanwhile (held_plan)
            self.held_plan = "in_force"
            return
        before = getattr(self, "suspended_from", None) or getattr(self, "ended_from", None)
        self.status = before if before in ("escalated", "linked") else "escalated"

    def note_handed_to_collaboration(self, primary_agency: str | None, reason: str) -> None:
        """D11 D12: outreach handed the person of this case to collaboration (OutreachHandedOver), which now holds it
        open with the primary agency named (a case it did not hold open: never escalated, returned to intake, its plan
        ended, or closed here): the case is under collaboration as if escalated, with that one primary agency (as the
        bus says, shared/domain/primary.py), not the counter's any more; 対応終了 waits for its plan. A case
        collaboration holds open already (escalated, held in a household's plan, its plan suspended, or taken up at a
        counter with that plan not ended) records nothing: the hand-over changes nothing there either."""
        if self.status in ("escalated", "linked", "plan_suspended"):
            return
        if self.status == "open" and getattr(self, "held_plan", None) is not None:
            return
        self._handed_to_collaboration(primary_agency=primary_agency or self.primary, reason=reason,
                                      status_before=self.status)

    @event("HandedToCollaboration")
    def _handed_to_collaboration(self, primary_agency: str, reason: str, status_before: str) -> None:
        self.status = "escalated"
        self.primary = primary_agency
        self.closure = None
        self.held_plan = None
        self.household_plan = None

    def return_from_meeting(self, meeting_id: UUID, primary_agency: str, reason: str) -> None:
        """D5 D11: the meeting returned the case; intake is primary again, with the primary it names.

        A second return (another plan of the case returned too) names the primary from then on, as the
        bus does (shared/domain/primary.py); one that changes nothing records nothing."""
        if self.status == "returned" and self.primary == primary_agency:
            return
        self._returned(meeting_id=meeting_id, primary_agency=primary_agency, reason=reason)

    @event("Returned")
    def _returned(self, meeting_id: UUID, primary_agency: str, reason: str) -> None:
        self.status = "returned"
        self.primary = primary_agency
        self.held_plan = None
        # the counter taking the case back reads why and from which meeting (its sitting, by meeting_id)
        self.returns: list[dict[str, str]] = [*getattr(self, "returns", []), {
            "meeting_id": str(meeting_id), "primary_agency": primary_agency, "reason": reason}]

    def take_up_referral(self, counter: str, division: str, channel: str, concerns: list[str], primary_agency: str,
                         primary_agency_code: str | None = None, concern_codes: list[str | None] | None = None,
                         route: str | None = None, consulted_by: str | None = None) -> None:
        """D3 D11 D12: outreach handed the person of this case, which intake already holds (escalated, then connected to
        outreach by the meeting, say), to `counter`, and the counter received them: the same case continues there.
        The receiving counter is primary (D11) and handles the case as its own again, as a case returned to intake
        is handled: it may connect, escalate or close it (対応終了, D3), whatever its status was (a case closed here
        opens again: the person is back at the counter). The case keeps the counter that first received it (its
        own-counter basis, D9); the concerns raised now join its own."""
        self._referral_taken_up(counter=counter, division=division, channel=channel, concerns=concerns,
                                person_ref=self.person_ref, primary_agency=primary_agency,
                                primary_agency_code=primary_agency_code, status_before=self.status,
                                concern_codes=concern_codes, route=route, consulted_by=consulted_by)

    @event("ReferralTakenUp")
    def _referral_taken_up(self, counter: str, division: str, channel: str, concerns: list[str], person_ref: str,
                           primary_agency: str, primary_agency_code: str | None, status_before: str,
                           concern_codes: list[str | None] | None = None, route: str | None = None,
                           consulted_by: str | None = None) -> None:
        # D7: the plan the case was escalated under stays in force (or suspended) when the counter takes it up: only
        # the meeting ends it, so 対応終了 waits for that (`close`); a second take-up keeps what the first knew
        self.held_plan = {"escalated": "in_force", "linked": "in_force", "plan_suspended": "suspended",
                          "open": getattr(self, "held_plan", None)}.get(status_before)
        self.status = "open"
        self.primary = primary_agency
        self.closure = None
        self.concerns = list(dict.fromkeys([*self.concerns, *concerns]))
        self.concern_codes = None  # read from the names from now on (IntakeApplication._concern_codes)
        self.taken_up = [*getattr(self, "taken_up", []),
                         {"counter": counter, "division": division, "status_before": status_before}]

    @property
    def counter_divisions(self) -> frozenset[str]:
        """D9: the divisions whose counter received the person for this case: the first counter's, and each counter's
        that took the case up again from an outreach referral (ReferralTakenUp: the person came to that counter, which
        heard them and holds the case as its own). Each reads the person on its own-counter basis."""
        return counter_divisions(self.division, getattr(self, "taken_up", []))

    def close(self, outcome: str, note: str) -> None:
        """対応終了: intake closes a case it handled itself (never escalated, returned from the meeting, or
        taken up from an outreach referral) with an outcome (CLOSING_OUTCOMES) and a note. Refused while the
        case is escalated and its plan active (the meeting ends it: 終結), and once closed."""
        if self.status == "closed":
            raise CaseAlreadyClosed("このケースは既に対応終了しています / the case is already closed")
        if self.status in ("escalated", "linked"):
            raise CaseStillUnderPlan(
                "このケースは多機関協働事業のプランで支援中です。対応終了はできません（プランの終結は支援会議で決めます。"
                "会議から戻るか、プランが終結してから対応終了してください）/ the case is escalated and its plan is active: "
                "it cannot be closed here until the meeting returns it or closes its plan")
        if self.status == "open" and getattr(self, "held_plan", None) == "in_force":
            raise CaseStillUnderPlan(TAKEN_UP_UNDER_PLAN)
        if outcome not in CLOSING_OUTCOMES:
            raise Invalid("対応終了の結果は " + "・".join(f"{k}={v}" for k, v in CLOSING_OUTCOMES.items())
                          + " のいずれかです / unknown outcome")
        self._closed(outcome=outcome, note=note, status_before=self.status)

    @event("Closed")
    def _closed(self, outcome: str, note: str, status_before: str) -> None:
        self.status = "closed"
        self.closure = {"outcome": outcome, "note": note, "status_before": status_before}

    def note_plan_closed(self, plan_id: UUID, meeting_id: UUID, program: str | None = None) -> None:
        """D7: the plan of an escalated case ended (終結, PlanClosed): the case shows 終結, not escalated
        (D16: a case held in its household's plan, or one whose plan was suspended, too). A case not under a
        plan (returned, or closed here) records nothing; one taken up again at a counter while that plan was in
        force or suspended stays the counter's (対応中), its plan ended (`held_plan`: the counter may close it)."""
        if program not in _ESCALATION_PLAN:  # outreach's or participation's own plan for the case (D6): not the one
            return  # the case was escalated under, which stays in force (D7: only the meeting ends it)
        held = self.status == "open" and getattr(self, "held_plan", None) is not None
        if self.status in UNDER_PLAN or held:
            self._plan_ended(plan_id=str(plan_id), meeting_id=str(meeting_id))

    @event("PlanEnded")
    def _plan_ended(self, plan_id: str, meeting_id: str) -> None:
        self.held_plan = None
        if self.status not in UNDER_PLAN:  # taken up at a counter meanwhile: the counter's case, its plan ended
            return
        self.ended_from = self.status if self.status != "plan_suspended" else getattr(self, "suspended_from", None)
        self.status = "plan_closed"

    @property
    def closing_note(self) -> str:
        """対応終了's note (staff's words, maybe personal): shown with the person, never in the case's view."""
        return str((getattr(self, "closure", None) or {}).get("note") or "")

    def lawful_basis(self, staff_division: str, readers: frozenset[str]) -> tuple[str, UUID | None] | None:
        """D9 D10: the first legal basis on which this division may be shown the person, checked as
        `disclose_person` checks it (own counter, consent that covers them, a 支援会議 they sat in); None."""
        if staff_division in self.counter_divisions:
            return "own_counter", None
        consent = self.consent or {}
        covers = set(consent.get("covers") or []) if consent.get("granted") else set()
        if ("related_agencies" in covers and staff_division in readers) or ("jusou_shien_kaigi" in covers and any(
                s["meeting_type"] == "jusou_shien_kaigi" and staff_division in s["member_divisions"]
                for s in self.sittings)):
            return "consent", None
        for sitting in self.sittings:
            if sitting["meeting_type"] == "shien_kaigi" and staff_division in sitting["member_divisions"]:
                return "shien_kaigi", UUID(sitting["meeting_id"])
        return None

    def disclose_person(self, basis: str, staff_division: str, meeting_id: UUID | None,
                        readers: frozenset[str] = frozenset(), recent_basis: bool = False, shown_in: str = "") -> None:
        """D9 D10: personal information is shown only on a verified legal basis; each showing is recorded.

        `own_counter`: staff of a division whose counter received the consultation (the first counter, or one that
        took the case up again from an outreach referral: counter_divisions);
        `consent`: the person's consent is granted and covers this reader: sharing with the related
        agencies (the case's readers, `readers`), or at the 重層的支援会議 for the divisions that sat in
        one that took the case up; `shien_kaigi`: a 支援会議 (社会福祉法第106条の6) that took this case up
        (MeetingCaseTakenUp) and in which the reader's division sat; its members share a duty of
        confidentiality. The basis is checked against what intake recorded, never taken on trust.
        `recent_basis`: the reader's own counter basis was created shortly before by the reader (marked).
        `shown_in`: the page it was shown on (issue 15: "case", "list"); "" when asked for through the API.
        """
        if basis not in ("own_counter", "consent", "shien_kaigi"):
            raise Invalid("根拠は own_counter, consent, shien_kaigi のいずれかです / unknown legal basis")
        if basis == "own_counter" and staff_division not in self.counter_divisions:
            raise Forbidden("受付した窓口の課の職員ではありません。根拠に「本人同意」か「支援会議」を選んでください / "
                            "only the receiving counter's division may read on this basis: choose the consent or a "
                            "支援会議 as the basis")
        if basis == "consent":
            covers = set((self.consent or {}).get("covers") or []) if (self.consent or {}).get("granted") else set()
            if not covers:
                raise Forbidden("本人同意がありません（または撤回されています）。受付窓口に本人同意の確認と記録を依頼するか、"
                                "ケースを取り上げた支援会議を根拠にしてください / no consent to share (D9): ask the receiving "
                                "counter to confirm and record the person's consent, or read on the basis of a 支援会議 that "
                                "took the case up (D10)")
            by_agencies = "related_agencies" in covers and staff_division in readers
            at_meeting = "jusou_shien_kaigi" in covers and any(
                s["meeting_type"] == "jusou_shien_kaigi" and staff_division in s["member_divisions"]
                for s in self.sittings)
            if not (by_agencies or at_meeting):
                raise Forbidden("本人同意の範囲にあなたの課は含まれていません（同意の範囲: "
                                + "・".join(_COVERS_JA.get(c, c) for c in sorted(covers)) + "）。範囲を広げるには受付窓口に"
                                "本人同意の記録を依頼するか、支援会議を根拠にしてください / the consent does not cover your "
                                "division (D9): ask the receiving counter to record a consent that does, or read on the "
                                "basis of a 支援会議 that took the case up (D10)")
        if basis == "shien_kaigi":
            if meeting_id is None:
                raise Invalid("支援会議の会議番号 (meeting_id) を入力してください / name the 支援会議 (D10)")
            sitting = next((s for s in self.sittings if s["meeting_id"] == str(meeting_id)), None)
            if sitting is None or sitting["meeting_type"] != "shien_kaigi":
                raise Forbidden("この会議はこのケースを取り上げた支援会議ではありません / "
                                "that meeting is not a 支援会議 that took up this case (D10)")
            if staff_division not in sitting["member_divisions"]:
                raise Forbidden("あなたの課はこの支援会議の構成員ではありません / "
                                "your division was not a member of that 支援会議 (D10)")
        self._person_disclosed(person_ref=self.person_ref, basis=basis, meeting_id=meeting_id,
                               recent_basis=recent_basis, shown_in=shown_in)

    @event("PersonDisclosed")
    def _person_disclosed(self, person_ref: str, basis: str, meeting_id: UUID | None, recent_basis: bool = False,
                          shown_in: str = "") -> None:
        self.disclosures = getattr(self, "disclosures", 0) + 1

    @property
    def sittings(self) -> list[dict[str, Any]]:
        """The sittings that took the case up (MeetingCaseTakenUp): meeting, type, member division codes."""
        return list(getattr(self, "_sittings", []))

    def note_sitting(self, meeting_id: UUID, meeting_type: str, held_on: str, member_divisions: list[str]) -> None:
        """D10: a meeting took the case up, with these divisions as members (once per meeting)."""
        if all(s["meeting_id"] != str(meeting_id) for s in self.sittings):
            self._sitting_noted(meeting_id=str(meeting_id), meeting_type=meeting_type, held_on=held_on,
                                member_divisions=sorted(member_divisions))

    @event("SittingNoted")
    def _sitting_noted(self, meeting_id: str, meeting_type: str, held_on: str, member_divisions: list[str]) -> None:
        self._sittings = [*self.sittings, {"meeting_id": meeting_id, "meeting_type": meeting_type,
                                           "held_on": held_on, "member_divisions": member_divisions}]

    @event("MeetingNoted")
    def note_meeting(self, meeting_id: UUID, meeting_type: str, decision: str) -> None:
        """D14: the case was decided at a meeting (know-how flows back to the counter)."""
        self.meetings = [*getattr(self, "meetings", []), {"meeting_id": str(meeting_id), "decision": decision}]

    def view(self) -> dict[str, Any]:
        return {
            "case_id": str(self.case_id),
            "counter": self.counter,
            "division": self.division,
            "channel": self.channel,
            "concerns": self.concerns,
            "person_ref": self.person_ref,
            "primary": self.primary,
            "status": self.status,
            "consent": self.consent,
            "connections": self.connections,
            "meetings": getattr(self, "meetings", []),
            "sittings": self.sittings,
            "disclosures": getattr(self, "disclosures", 0),
            # D3: concerns in two or more fields suggest a complex or compound case (複合化)
            "escalation_candidate": len(set(self.concerns)) >= 2
            and self.status not in ("escalated", "closed", "linked", "plan_suspended"),
            "consulted_on": getattr(self, "consulted_on", None),
            "route": getattr(self, "route", None),
            "consulted_by": getattr(self, "consulted_by", None),
            # 対応終了: the outcome; its note is shown only with a basis to see the person (closing_note)
            "closure": {k: v for k, v in closure.items() if k != "note"} if (closure := getattr(self, "closure", None))
            else None,
            # D16: the household plan this case is in (its household's pseudonymous ref, the lead case, the others)
            "household_plan": getattr(self, "household_plan", None),
            "review_on": getattr(self, "review_on", None),  # D18: the 見直し予定日 of the plan it follows
            # D5 D11: each return by the meeting (meeting_id, primary_agency, reason), oldest first
            "returns": getattr(self, "returns", []),
            # D12: the counters that took the case up again from an outreach referral, and its status before each
            "taken_up": getattr(self, "taken_up", []),
        }
