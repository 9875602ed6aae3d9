"""重層的支援会議 and 支援会議: plans judged by consensus, evaluated at closure (D5, D7, D8, D9, D10)."""

from __future__ import annotations

import re
from datetime import date
from typing import TYPE_CHECKING, Any, ClassVar
from uuid import UUID, uuid5

from eventsourcing.domain import event

from shared.domain.wareki import day_ja
from shared.kernel.journey import DomainError, Invalid, JourneyAggregate

MEETING_TYPES = {"jusou_shien_kaigi": "重層的支援会議", "shien_kaigi": "支援会議"}
#: 各出席機関の意見 as given: the minutes print each exactly so (an objection never under 賛成)
POSITIONS = {"agree": "賛成", "object": "異議", "reserve": "保留", "comment": "意見"}
#: a telephone number, an e-mail address or a postal code: personal information a 事例の学び must not hold
PERSONAL = re.compile(r"\d{2,4}[-‐ー－(（]\d{2,4}[-‐ー－)）]\d{3,4}|\d{10,11}|[\w.+-]+@[\w-]+\.[\w.]+|〒?\d{3}-\d{4}")
TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
#: D5: a sitting without attendees is refused in these words (the API and the page say the same)
NO_ATTENDEES = "出席機関を1つ以上選んでください / choose the attending agencies: a meeting needs attendees (D5)"


class NotOnAgenda(DomainError):
    """Only a proposed plan (or one whose closure was requested) is judged."""


#: where a plan stands on the meeting's agenda, as the refusals name it to staff
REVIEW_STATUS_JA = {"proposed": "決定待ち", "closure_requested": "終結評価待ち", "approved": "承認済み",
                    "revision_requested": "修正依頼済み", "returned": "相談窓口へ戻し済み", "closed": "終結済み",
                    "suspended": "中断中", "continued": "継続", "resumed": "再開済み"}
#: what to do when the plan moved on meanwhile (another tab, another member of staff)
REOPEN = "画面を開き直して、いまの状態を確かめてください"


def _stands(status: str) -> str:
    return REVIEW_STATUS_JA.get(status, status)


#: D9: the meeting knows of a consent when intake's ConsentRecorded reaches it over the bus, a moment after the counter
#: recorded it; a refusal for want of consent says so, so that staff who have just recorded it wait, not record again.
ARRIVING_JA = "（窓口で記録したばかりなら、会議にまだ届いていないだけです。少し待ってから操作し直してください）"
ARRIVING_EN = " (if intake recorded it just now, the meeting has not heard it yet: try again in a moment)"


class ConsentMissing(DomainError):
    """D9: the 重層的支援会議 discusses a case only with the person's consent."""


#: D9 D10: a case with no consent covering the 重層的支援会議, taken up there (議題にする, or put on its 議事次第)
TAKE_UP_WITHOUT_CONSENT = (
    "本人同意（重層的支援会議での情報共有）がないため、重層的支援会議ではこのケースを議題にできません" + ARRIVING_JA
    + "。窓口で本人の同意を記録してから議題にするか、支援会議で検討してください（支援会議は本人同意がなくても検討できます） / "
    "no consent covering the 重層的支援会議: it cannot take up this case. Record the person's consent at intake, then "
    "take the case up, or take it to a 支援会議, which may discuss it without consent (D9, D10)" + ARRIVING_EN
)


class OpenObjection(DomainError):
    """D5: a decision is a consensus; an agency's open objection blocks it."""


class CityAbsent(DomainError):
    """「市町村・支援関係機関が参加して、合議のもとで適切性を判断する」: the city (福祉総務課) is a party to
    every 重層的支援会議 decision on a plan."""


class NotSettledHere(DomainError):
    """事例の学び: recorded after this sitting decided or evaluated the plan."""


class NotForShienKaigi(DomainError):
    """D10: only the 重層的支援会議 judges a plan's 適切性; the 支援会議 shares information."""


class ConfidentialMeeting(DomainError):
    """D10: a 支援会議's records are for its members only."""

    status = 403


class UnknownPrimaryAgency(Invalid):
    """D11: a case returned to intake names its 主担当機関, an agency of the municipality file (as intake's escalation
    and outreach's hand-over require): a name the file does not know would leave the case at the counter to an agency
    nobody is, with no division holding it."""

    def __init__(self, agency: str) -> None:
        super().__init__(f"主担当機関「{agency}」は機関の一覧にありません。相談窓口へ戻すときは、一覧から戻し先の機関を選んでください / "
                         f"unknown primary agency {agency!r}: a case returned to intake names one of the city's agencies "
                         f"(GET /reference/agencies)")


class PlanReview(JourneyAggregate):
    """議題: a plan as the meeting knows it, from PlanProposed and PlanClosureRequested."""

    if TYPE_CHECKING:  # the event classes @event generates (fields: the method's parameters)
        Listed: ClassVar[type[Any]]
        Relisted: ClassVar[type[Any]]
        ClosureListed: ClassVar[type[Any]]
        Settled: ClassVar[type[Any]]
        HouseholdNoted: ClassVar[type[Any]]

    @event("Listed")
    def __init__(self, case_id: UUID, plan_id: UUID, program: str, revision: int, summary: dict[str, Any]) -> None:
        self.case_id, self.plan_id, self.program = case_id, plan_id, program
        self.revision, self.summary = revision, summary
        self.status = "proposed"
        self.progress = ""

    @staticmethod
    def create_id(plan_id: UUID, **_: Any) -> UUID:
        return plan_id

    def relist(self, revision: int, summary: dict[str, Any]) -> None:
        if revision > self.revision:
            self._relisted(revision=revision, summary=summary)

    @event("Relisted")
    def _relisted(self, revision: int, summary: dict[str, Any]) -> None:
        self.revision, self.summary, self.status = revision, summary, "proposed"

    def list_for_closure(self, progress: str) -> None:
        if self.status != "closure_requested":
            self._closure_listed(progress=progress, listed_from=self.status)

    @event("ClosureListed")
    def _closure_listed(self, progress: str, listed_from: str | None = None) -> None:
        """`listed_from`: where the plan stood when its closure was asked (D7: a suspended one is ended or left
        suspended, not continued); None on listings recorded before."""
        self.status, self.progress = "closure_requested", progress
        self.closure_from = listed_from

    @event("Settled")
    def settle(self, status: str) -> None:
        self.status = status

    @property
    def related_case_ids(self) -> list[str]:
        """D9 D16: the household's other cases held in this plan with its case (escalated together: `HeldCase`), as
        they stood when the plan was listed; each person's consent is asked at the 重層的支援会議. [] for a case
        escalated alone (and for plans listed before the meeting kept them)."""
        return list(self.__dict__.get("_related_case_ids", []))

    def note_household(self, related_case_ids: list[str]) -> None:
        """D9 D16: the cases held in the plan with its case, from the escalation the meeting heard; unchanged, nothing
        is recorded."""
        if list(related_case_ids) != self.related_case_ids:
            self._household_noted(related_case_ids=list(related_case_ids))

    @event("HouseholdNoted")
    def _household_noted(self, related_case_ids: list[str]) -> None:
        self.__dict__["_related_case_ids"] = list(related_case_ids)

    def view(self) -> dict[str, Any]:
        """The agenda's row; a closure asked while the plan was suspended says so (`closure_from`: D7, the evaluation
        form offers 終結 and 中断 only there, as `Meeting.evaluate` refuses 継続)."""
        asked_from = getattr(self, "closure_from", None) if self.status == "closure_requested" else None
        return {"plan_id": str(self.plan_id), "case_id": str(self.case_id), "program": self.program,
                "revision": self.revision, "status": self.status, "progress": self.progress,
                **({"closure_from": asked_from} if asked_from == "suspended" else {}),
                **{k: list(v) if isinstance(v, list) else v for k, v in self.summary.items()}}  # (a read's: copies)


class Consent(JourneyAggregate):
    """本人同意 of a case as the meeting last heard it from intake (D9)."""

    if TYPE_CHECKING:  # the event classes @event generates (fields: the method's parameters)
        Heard: ClassVar[type[Any]]
        Changed: ClassVar[type[Any]]

    @event("Heard")
    def __init__(self, case_id: UUID, granted: bool, scope: str, covers: list[str] | None = None) -> None:
        self.case_id, self.granted, self.scope, self.covers = case_id, granted, scope, covers

    @staticmethod
    def create_id(case_id: UUID, **_: Any) -> UUID:
        return case_id

    @event("Changed")
    def change(self, granted: bool, scope: str, covers: list[str] | None = None) -> None:
        self.granted, self.scope, self.covers = granted, scope, covers

    def covers_meeting(self) -> bool:
        """D9: granted, and its scope covers sharing at the 重層的支援会議 (not any consent will do)."""
        covers = getattr(self, "covers", None)
        if covers is None:  # recorded before `covers` existed: read from its wording
            return bool(self.granted) and "重層的支援会議" in (self.scope or "")
        return bool(self.granted) and "jusou_shien_kaigi" in covers


#: the namespace of `HeldCase` ids: one per (program, case), derivable from the two alone
HELD_NAMESPACE = UUID("3c1b7e52-9d0a-4f6e-8b21-5a7d4e0c9f63")
#: the programs whose cases the meeting learns from their own start events (D6): outreach's OutreachStarted (D12) and
#: participation's ParticipationStarted (D13)
STARTED_BY = {"outreach": "OutreachStarted", "participation": "ParticipationStarted"}
#: the program whose cases open on other programs' events (D4 D12), sent with their credentials, which its own cannot
#: forge: collaboration holds a case from intake's CaseEscalated (any version; a household's plan is on the escalated
#: case, collaboration drafts none on its related cases) or outreach's OutreachHandedOver naming it (`to_program`).
#: Each entry: (source, event type, the payload field that must name the program, or None)
OPENED_BY: dict[str, tuple[tuple[str, str, str | None], ...]] = {
    "collaboration": (("intake", "CaseEscalated", None), ("outreach", "OutreachHandedOver", "to_program")),
}
#: every plan owner whose first plan for a case the meeting lists only for a case it holds (D4 D6)
HELD_PROGRAMS = (*STARTED_BY, *OPENED_BY)


def holder_of(source: str, event_type: str, payload: dict[str, Any]) -> str | None:
    """The program that holds the event's case from this event on (`STARTED_BY`, `OPENED_BY`); None for any other."""
    if STARTED_BY.get(source) == event_type:
        return source
    for program, openers in OPENED_BY.items():
        for opener_source, opener_type, naming in openers:
            if (source, event_type) == (opener_source, opener_type) and (naming is None or payload.get(naming) == program):
                return program
    return None


def held_events(programs: Any) -> list[tuple[str, str]]:
    """(source, event type) of every event that makes one of `programs` hold a case."""
    found = [(program, STARTED_BY[program]) for program in programs if program in STARTED_BY]
    return found + [(source, event_type) for program in programs for source, event_type, _ in OPENED_BY.get(program, ())]


class HeldCase(JourneyAggregate):
    """D4 D6 D12 D13: a case a plan-owning program holds, as the meeting heard it on the bus (its own start event, or
    for collaboration intake's escalation or outreach's hand-over): a first plan from that program for the case is
    listed only then. `via` says how it was heard: `event` (its consumer) or `catch_up` (read once from the stream for
    a store made before the meeting kept these); `source_position` is the heard event's, in its source's order."""

    if TYPE_CHECKING:
        Announced: ClassVar[type[Any]]
        HouseholdHeard: ClassVar[type[Any]]

    @event("Announced")
    def __init__(self, program: str, case_id: UUID, via: str, source_position: int) -> None:
        self.program, self.case_id, self.via, self.source_position = program, case_id, via, source_position

    @staticmethod
    def create_id(program: str, case_id: UUID, **_: Any) -> UUID:
        return held_id(program, case_id)

    @property
    def related_case_ids(self) -> list[str]:
        """D9 D16: the household's other cases intake escalated with this one (CaseEscalated's `related_case_ids`), held
        in its one plan: the 重層的支援会議 discusses each, so each person's consent is asked. [] for a case escalated
        alone (and for one heard before the meeting kept them)."""
        return list(self.__dict__.get("_related_case_ids", []))

    def hear_household(self, related_case_ids: list[str]) -> None:
        """D9 D16: the cases escalated with this one, as the latest escalation named them (none: escalated alone);
        unchanged, nothing is recorded."""
        related = list(dict.fromkeys(c for c in related_case_ids if c != str(self.case_id)))
        if related != self.related_case_ids:
            self._household_heard(related_case_ids=related)

    @event("HouseholdHeard")
    def _household_heard(self, related_case_ids: list[str]) -> None:
        self.__dict__["_related_case_ids"] = list(related_case_ids)

    def view(self) -> dict[str, Any]:
        return {"program": self.program, "case_id": str(self.case_id), "via": self.via,
                "source_position": self.source_position}


def held_id(program: str, case_id: UUID) -> UUID:
    """The id of the `HeldCase` of `program` for `case_id`."""
    return uuid5(HELD_NAMESPACE, f"{program}:{case_id}")


def consent_given_again(review: PlanReview, consent: Consent | None) -> bool:
    """D7 D9: a suspended plan's case has a consent covering the 重層的支援会議 recorded after the suspension
    (while a review is suspended its last change is the suspension)."""
    return (review.status == "suspended" and consent is not None and consent.covers_meeting()
            and consent.modified_on > review.modified_on)


class Meeting(JourneyAggregate):
    """会議: one sitting of a meeting type with its attendees; its decisions and evaluations."""

    if TYPE_CHECKING:  # the event classes @event generates (fields: the method's parameters)
        Convened: ClassVar[type[Any]]
        CaseTakenUp: ClassVar[type[Any]]
        Decided: ClassVar[type[Any]]
        ReturnedToIntake: ClassVar[type[Any]]
        Evaluated: ClassVar[type[Any]]
        Resumed: ClassVar[type[Any]]
        GapIdentified: ClassVar[type[Any]]

    @event("Convened")
    def __init__(self, meeting_type: str, held_on: date, attendees: list[str]) -> None:
        self.meeting_type, self.held_on, self.attendees = meeting_type, held_on, attendees
        self.minutes: list[dict[str, Any]] = []
        self.cases: list[str] = []

    def take_up(self, case_id: UUID, member_divisions: list[str], consent_granted: bool | None = None) -> None:
        """議題にする: the sitting takes up a case (D10: the basis of a 支援会議 disclosure); once per case.

        D9: a 重層的支援会議 discusses a case only with the person's consent: `consent_granted` (whether a consent
        covering the 重層的支援会議 was heard) is given where the take-up is the command itself (議題にする, a case
        put on the 議事次第) and refused when False there; None where a decision, an evaluation or a resumption takes
        its plan's case up (each checks the consent itself, with its own message). A 支援会議 needs none (D10)."""
        if self.meeting_type == "jusou_shien_kaigi" and consent_granted is False:
            raise ConsentMissing(TAKE_UP_WITHOUT_CONSENT)
        if str(case_id) not in getattr(self, "cases", []):
            self._taken_up(case_id=case_id, meeting_type=self.meeting_type, held_on=self.held_on,
                           member_divisions=sorted(member_divisions))

    @event("CaseTakenUp")
    def _taken_up(self, case_id: UUID, meeting_type: str, held_on: date, member_divisions: list[str]) -> None:
        self.cases = [*getattr(self, "cases", []), str(case_id)]

    @classmethod
    def convene(cls, meeting_type: str, held_on: date, attendees: list[str]) -> Meeting:
        if meeting_type not in MEETING_TYPES:
            raise Invalid(f"会議の種類は {', '.join(MEETING_TYPES)} のいずれかです / unknown meeting type {meeting_type}")
        if not attendees:
            raise Invalid(NO_ATTENDEES)
        return cls(meeting_type=meeting_type, held_on=held_on, attendees=list(attendees))

    def decide(
        self, review: PlanReview, decision: str, reasons: str, positions: list[dict[str, str]],
        connect_to: list[str], consent_granted: bool, primary_agency: str | None, city: str | None = None,
        codes: dict[str, str | None] | None = None, without_consent: list[str] | None = None,
    ) -> None:
        """D5: a decision on a proposed plan, every attendee's position as given (an objection blocks approval
        only); D9: consent at the 重層的支援会議 (`without_consent`: the cases held in the plan with its case, a
        household's, whose person's consent does not cover it, D16); the city (`city`, 福祉総務課) a party to it.
        `codes`: the agencies' codes in the municipality file (issue 18: the attendees' and the primary agency's), by
        name."""
        if review.status != "proposed":
            raise NotOnAgenda(f"このプランは審議できる状態ではありません（{_stands(review.status)}）。{REOPEN} / "
                              f"the plan is not awaiting a decision ({review.status}): reload the page")
        self._city_attends(city)
        if self.meeting_type == "shien_kaigi" and decision == "approved":
            raise NotForShienKaigi(
                "支援会議はプランの適切性を判断しません（承認は重層的支援会議で、本人同意を得て行います）。"
                "支援会議では修正依頼または包括的相談支援への差戻しを記録できます / the 支援会議 does not approve "
                "plans: only the 重層的支援会議 (with consent) judges a plan; here a revision request or a return "
                "to intake may be recorded (D10)"
            )
        if self.meeting_type == "jusou_shien_kaigi" and not consent_granted:
            raise ConsentMissing(
                "本人同意がないため重層的支援会議では扱えません" + ARRIVING_JA + "。支援会議で検討してください / "
                "no consent: the 重層的支援会議 cannot discuss this case; use the 支援会議 (D9, D10)" + ARRIVING_EN
            )
        self._household_consents(without_consent)
        by_agency = {p.get("agency"): p for p in positions}
        if len(by_agency) != len(positions):  # a second position of an agency must not hide its objection
            twice = sorted({str(p.get("agency")) for p in positions if [q.get("agency") for q in positions].count(p.get("agency")) > 1})
            raise Invalid(f"同じ機関の意見が2つあります: {', '.join(twice)}。1機関に1つの意見を記録してください / "
                          "one position per attending agency")
        strangers = [a for a in by_agency if a not in self.attendees]
        if strangers:
            raise Invalid(f"出席機関ではありません: {', '.join(map(str, strangers))} / not an attendee")
        missing = [a for a in self.attendees if a not in by_agency]
        if missing:
            raise Invalid(
                f"合議には全出席機関の意見が必要です。未記録: {', '.join(missing)} / "
                "a consensus records every attending agency's position (D5)"
            )
        for agency, position in by_agency.items():
            given, text = position.get("position"), str(position.get("reason", "")).strip()
            if given not in POSITIONS:
                raise Invalid(f"{agency}の意見は賛成・異議・保留・意見のいずれかです / a position is agree, object, "
                              "reserve or comment")
            if given == "object" and not text:
                raise Invalid(f"{agency}の異議には理由が必要です / an objection needs a reason")
            if given == "comment" and not text:
                raise Invalid(f"{agency}の意見の内容を入力してください / a comment needs its text")
        objections = [f"{agency}（{p.get('reason')}）" for agency, p in by_agency.items() if p.get("position") == "object"]
        if decision == "approved" and objections:
            raise OpenObjection(
                f"異議が残っているため承認できません: {'、'.join(objections)}。協議を続けるか、修正依頼・相談窓口へ戻すを"
                "記録してください / an objection is open: the plan cannot be approved until it is resolved; a revision "
                "request or a return to intake may be recorded (D5)"
            )
        if decision == "returned_to_intake" and not primary_agency:
            raise Invalid("主担当機関を入力してください / name the primary agency the case returns to (D11)")
        if decision == "returned_to_intake" and codes is not None and primary_agency and not codes.get(primary_agency):
            raise UnknownPrimaryAgency(primary_agency)
        self._decided(
            meeting_type=self.meeting_type, attendees=self.attendees, case_id=review.case_id, plan_id=review.plan_id, program=review.program, revision=review.revision,
            decision=decision, reasons=reasons, positions=positions, connect_to=connect_to,
            attendee_codes=[codes.get(a) for a in self.attendees] if codes else None,
        )
        if decision == "returned_to_intake":
            self._returned_to_intake(case_id=review.case_id, primary_agency=primary_agency, reason=reasons,
                                     meeting_type=self.meeting_type,
                                     primary_agency_code=(codes or {}).get(primary_agency or ""))

    @event("Decided")
    def _decided(
        self, meeting_type: str, attendees: list[str], case_id: UUID, plan_id: UUID, program: str, revision: int, decision: str, reasons: str,
        positions: list[dict[str, str]], connect_to: list[str], attendee_codes: list[str | None] | None = None,
    ) -> None:
        self.minutes.append({"kind": "decision", "plan_id": str(plan_id), "revision": revision, "decision": decision,
                             "reasons": reasons, "positions": positions, "connect_to": connect_to})

    @event("ReturnedToIntake")
    def _returned_to_intake(self, case_id: UUID, primary_agency: str | None, reason: str,
                            meeting_type: str | None = None, primary_agency_code: str | None = None) -> None:
        self.minutes.append({"kind": "returned_to_intake", "case_id": str(case_id)})

    def evaluate(
        self, review: PlanReview, outcome: str, course: str, result: str, reason: str, next_review_on: date | None,
        goal_results: list[dict[str, str]], consent_granted: bool = False, city: str | None = None,
        without_consent: list[str] | None = None,
    ) -> None:
        """D7: evaluate a plan at closure, goal by goal: closed (終結), suspended (中断) or continued.

        D9: at the 重層的支援会議 the person's consent is needed for the evaluation too (and, for a household's plan,
        each person's whose case is held in it: `without_consent`, D16)."""
        if review.status != "closure_requested":
            raise NotOnAgenda(f"終結の依頼がないプランは評価できません（{_stands(review.status)}）。{REOPEN} / "
                              f"no closure was requested ({review.status}): reload the page")
        self._city_attends(city)
        if self.meeting_type == "jusou_shien_kaigi" and not consent_granted:
            raise ConsentMissing(
                "本人同意がない（撤回された）ため重層的支援会議では評価できません。支援会議で評価してください / "
                "no consent (or it was withdrawn): the 重層的支援会議 cannot evaluate this case; use the 支援会議 (D9, D10)"
            )
        self._household_consents(without_consent)
        goals = list(review.summary.get("goals", []))
        evaluated = [g.get("goal") for g in goal_results]
        if sorted(map(str, evaluated)) != sorted(goals):
            raise Invalid(
                "目標ごとに経過と成果を評価してください。プランの目標: " + " / ".join(goals)
                + " / evaluate each of the plan's goals once (D7)"
            )
        if outcome == "suspended" and not reason:
            raise Invalid("中断の理由を入力してください / a suspension needs a reason")
        if outcome == "continued" and getattr(review, "closure_from", None) == "suspended":
            raise NotOnAgenda(
                "中断中のプランは「継続」にできません。評価は「終結」か「中断」のままです。支援を再び始めるときは、本人同意を"
                "あらためて得て、重層的支援会議で「再開」してください / a suspended plan brought to closure is ended or left "
                "suspended, not continued: it comes back in force only by its resumption at the 重層的支援会議, once "
                "the person's consent was given again (D7, D9)"
            )
        if outcome == "continued" and next_review_on is None:
            raise Invalid("次回の見直し日を入力してください / continuing needs a next review date")
        if outcome == "continued" and next_review_on is not None and next_review_on <= self.held_on:
            raise Invalid(f"次回の見直し日 {day_ja(next_review_on)} は、この会議の開催日 {day_ja(self.held_on)} より後の日にしてください"
                          f"（継続は新しい見直し日で続けます） / the next review date comes after this sitting's date "
                          f"({self.held_on.isoformat()}): a plan continues with a new review date (D7)")
        self._evaluated(
            case_id=review.case_id, plan_id=review.plan_id, program=review.program, outcome=outcome,
            evaluation={"course": course, "outcome": result, "goals": goal_results}, reason=reason,
            next_review_on=next_review_on, meeting_type=self.meeting_type,
        )

    @event("Evaluated")
    def _evaluated(
        self, case_id: UUID, plan_id: UUID, program: str, outcome: str, evaluation: dict[str, Any], reason: str,
        next_review_on: date | None, meeting_type: str | None = None,
    ) -> None:
        self.minutes.append({"kind": "evaluation", "plan_id": str(plan_id), "outcome": outcome, "evaluation": evaluation,
                             "reason": reason, "next_review_on": next_review_on.isoformat() if next_review_on else None})

    def resume(self, review: PlanReview, reason: str, consent: Consent | None, city: str | None = None,
               without_consent: list[str] | None = None) -> None:
        """D7 D9 D10: resume a suspended plan (中断 → 再開) by its own act. A plan in force is the
        重層的支援会議's to judge, so it resumes there, and only once the person's consent to share there
        was given again: intake recorded it after the suspension (the consent the meeting holds is newer
        than the suspension, the review's last change) and it covers the 重層的支援会議."""
        if review.status != "suspended":
            raise NotOnAgenda(f"中断中のプランではないため再開できません（{_stands(review.status)}）。{REOPEN} / "
                              f"only a suspended plan resumes ({review.status}): reload the page")
        if self.meeting_type != "jusou_shien_kaigi":
            raise NotForShienKaigi(
                "プランの再開は重層的支援会議で、本人同意を得て行います。支援会議では再開できません / "
                "a plan resumes at the 重層的支援会議 with consent, not at the 支援会議"
            )
        self._city_attends(city)
        if consent is None or not consent.covers_meeting():
            raise ConsentMissing(
                "本人同意（重層的支援会議での情報共有）がないため再開できません" + ARRIVING_JA + "。窓口で同意を記録してから再開してください / "
                "no consent covering the 重層的支援会議: record it at intake, then resume" + ARRIVING_EN
            )
        if not consent_given_again(review, consent):
            raise ConsentMissing(
                "中断の後に本人同意があらためて記録されていません" + ARRIVING_JA + "。窓口で本人の同意を確かめて記録してから再開してください / "
                "consent was not given again after the suspension: record it at intake, then resume" + ARRIVING_EN
            )
        self._household_consents(without_consent)
        if not reason.strip():
            raise Invalid("再開の理由（中断の理由が解消したこと）を入力してください / say why the plan resumes")
        self._resumed(case_id=review.case_id, plan_id=review.plan_id, program=review.program, reason=reason.strip(),
                      meeting_type=self.meeting_type)

    @event("Resumed")
    def _resumed(self, case_id: UUID, plan_id: UUID, program: str, reason: str, meeting_type: str) -> None:
        self.minutes.append({"kind": "resumption", "plan_id": str(plan_id), "reason": reason})

    @event("GapIdentified")
    def identify_gap(self, case_id: UUID, need: str, area: str, description: str, area_code: str | None = None) -> None:
        """D8: a need with no local resource becomes a regional issue (地域の課題). `area_code`: the 地区's code in the
        municipality file (issue 18; none on gaps recorded before, or for an area the file does not know)."""
        self.minutes.append({"kind": "resource_gap", "need": need, "area": area})

    def _household_consents(self, without_consent: list[str] | None) -> None:
        """D9 D16: a household's plan holds its other members' cases too (escalated with its case), each discussed at the
        重層的支援会議: each person's consent is needed there (intake lists it awaited on each such case, D18)."""
        if self.meeting_type == "jusou_shien_kaigi" and without_consent:
            cases = "、".join(c[:8] for c in without_consent)
            raise ConsentMissing(
                f"世帯で一緒につないだケース（{cases}）の本人同意（重層的支援会議での情報共有）がないため、重層的支援会議では扱えません"
                + ARRIVING_JA + "。それぞれの窓口で本人同意を記録するか、支援会議で検討してください / no consent covering the "
                f"重層的支援会議 for the household's case(s) held in this plan ({', '.join(without_consent)}): record each "
                "person's consent at intake, or use the 支援会議 (D9, D10, D16)" + ARRIVING_EN
            )

    def _city_attends(self, city: str | None) -> None:
        """「市町村・支援関係機関が参加して、合議のもとで適切性を判断する」: a 重層的支援会議 decides on a plan only
        with the city (福祉総務課) among its attendees; the 支援会議 is not bound by it."""
        if self.meeting_type == "jusou_shien_kaigi" and city and city not in self.attendees:
            raise CityAbsent(
                f"{city}（市）が出席していないため、重層的支援会議としてプランの決定・評価はできません。"
                f"{city}が出席する重層的支援会議を開催して決定してください / the city ({city}) must attend: a "
                "重層的支援会議 decides on a plan only with the city present"
            )

    def record_sitting(self, starts_at: str, ends_at: str, place: str, present: list[dict[str, str]], chair: str,
                       recorder: str) -> None:
        """開催: the sitting's time, place, the people present (name and agency), its chair (議長) and recorder
        (記録者). The names are staff's personal information: kept in this store, never on the bus."""
        if not (TIME.match(starts_at) and TIME.match(ends_at)):
            raise Invalid("開始・終了の時刻を HH:MM で入力してください / start and end as HH:MM")
        if ends_at <= starts_at:
            raise Invalid(f"終了時刻（{ends_at}）は開始時刻（{starts_at}）より後にしてください / the end comes after the start")
        if not place.strip():
            raise Invalid("開催場所を入力してください / name the place")
        people = [{"name": str(p.get("name", "")).strip(), "agency": str(p.get("agency", "")).strip()} for p in present]
        if not people or any(not p["name"] or not p["agency"] for p in people):
            raise Invalid("出席者を氏名と所属機関で1人以上入力してください / name the people present, each with their agency")
        strangers = sorted({p["agency"] for p in people if p["agency"] not in self.attendees})
        if strangers:
            raise Invalid(f"出席機関ではない所属です: {'、'.join(strangers)}（出席機関: {'、'.join(self.attendees)}）/ "
                          "each person present belongs to an attending agency")
        names = [p["name"] for p in people]
        for role, name in (("議長", chair.strip()), ("記録者", recorder.strip())):
            if name not in names:
                raise Invalid(f"{role}は出席者から選んでください（{name or '未入力'}）/ the {'chair' if role == '議長' else 'recorder'} "
                              "is one of the people present")
        sitting: dict[str, Any] = {"starts_at": starts_at, "ends_at": ends_at, "place": place.strip(), "present": people,
                                   "chair": chair.strip(), "recorder": recorder.strip()}
        if sitting != getattr(self, "sitting", None):
            self._sitting_recorded(starts_at=starts_at, ends_at=ends_at, place=place.strip(), present=people,
                                   chair=chair.strip(), recorder=recorder.strip())

    @event("SittingRecorded")
    def _sitting_recorded(self, starts_at: str, ends_at: str, place: str, present: list[dict[str, str]], chair: str,
                          recorder: str) -> None:
        self.sitting = {"starts_at": starts_at, "ends_at": ends_at, "place": place, "present": present,
                        "chair": chair, "recorder": recorder}

    def put_on_agenda(self, kind: str, ref: UUID, case_id: UUID) -> None:
        """議事次第: a plan or a case put on this sitting's agenda, in the order given; once each."""
        if kind not in ("plan", "case"):
            raise Invalid("議題はプランかケースです / the agenda holds plans and cases")
        if str(ref) not in [item["ref"] for item in getattr(self, "agenda", [])]:
            self._put_on_agenda(kind=kind, ref=str(ref), case_id=case_id)

    @event("PutOnAgenda")
    def _put_on_agenda(self, kind: str, ref: str, case_id: UUID) -> None:
        self.agenda = [*getattr(self, "agenda", []), {"kind": kind, "ref": ref, "case_id": str(case_id)}]

    def settled(self, plan_id: UUID) -> bool:
        """This sitting decided on or evaluated the plan (a 事例の学び may follow)."""
        return any(m.get("plan_id") == str(plan_id) and m["kind"] in ("decision", "evaluation") for m in self.minutes)

    def view(self) -> dict[str, Any]:
        return {"meeting_id": str(self.id), "meeting_type": self.meeting_type, "held_on": self.held_on.isoformat(),
                "attendees": list(self.attendees), "minutes": list(self.minutes), "cases": list(getattr(self, "cases", [])),
                "sitting": getattr(self, "sitting", None), "agenda": list(getattr(self, "agenda", []))}


def personal_in(text: str) -> list[str]:
    """What in a text looks like a person's contact (a phone number, an e-mail address, a postal code)."""
    return PERSONAL.findall(text)


class CaseLearning(JourneyAggregate):
    """事例の学び (ノウハウの持ち帰り): what a sitting learned from a plan it decided or closed, in general terms and
    without personal information; each attending agency takes it home, every counter finds it by concern."""

    if TYPE_CHECKING:  # the event classes @event generates (fields: the method's parameters)
        Recorded: ClassVar[type[Any]]

    @event("Recorded")
    def __init__(self, meeting_id: UUID, meeting_type: str, held_on: date, plan_id: UUID, case_id: UUID,
                 situation: str, worked: str, agencies: list[str], resources: list[str], concerns: list[str],
                 shared_with: list[str]) -> None:
        self.meeting_id, self.meeting_type, self.held_on = meeting_id, meeting_type, held_on
        self.plan_id, self.case_id = plan_id, case_id
        self.situation, self.worked, self.agencies, self.resources = situation, worked, agencies, resources
        self.concerns, self.shared_with = concerns, shared_with

    @classmethod
    def record(cls, meeting: Meeting, review: PlanReview, situation: str, worked: str, agencies: list[str],
               resources: list[str], concerns: list[str]) -> CaseLearning:
        """After a decision or a closure evaluation at this sitting; general terms, no contact details."""
        if not meeting.settled(review.plan_id):
            raise NotSettledHere("事例の学びは、この会議で決定または終結評価をしたプランについて記録します / record what "
                                 "was learned from a plan this sitting decided on or evaluated")
        if not situation.strip() or not worked.strip():
            raise Invalid("状況（一般化した内容）と有効だった支援を入力してください / describe the situation and what worked")
        if not concerns:
            raise Invalid("相談の分野を1つ以上選んでください（事例集の検索に使います）/ choose at least one concern field")
        found = [hit for text in (situation, worked, *agencies, *resources) for hit in personal_in(text)]
        if found:
            raise Invalid(f"個人を特定できる情報（{'、'.join(found)}）は事例の学びに書けません。一般化して書き直してください / "
                          "no personal information (phone numbers, e-mail addresses, postal codes) in a learning")
        return cls(meeting_id=meeting.id, meeting_type=meeting.meeting_type, held_on=meeting.held_on,
                   plan_id=review.plan_id, case_id=review.case_id, situation=situation.strip(), worked=worked.strip(),
                   agencies=list(dict.fromkeys(agencies)), resources=[r.strip() for r in resources if r.strip()],
                   concerns=list(dict.fromkeys(concerns)), shared_with=list(meeting.attendees))

    def view(self) -> dict[str, Any]:
        return {"learning_id": str(self.id), "meeting_id": str(self.meeting_id), "meeting_type": self.meeting_type,
                "held_on": self.held_on.isoformat(), "plan_id": str(self.plan_id), "situation": self.situation,
                "worked": self.worked, "agencies": list(self.agencies), "resources": list(self.resources),
                "concerns": list(self.concerns), "shared_with": list(self.shared_with),
                "recorded_at": self.created_on.isoformat()}
