"""The meeting's use cases (重層的支援会議・支援会議)."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import UUID

from eventsourcing.application import ProcessingEvent
from eventsourcing.persistence import IntegrityError, Tracking

from services.meeting.domain import (
    HELD_PROGRAMS,
    OPENED_BY,
    STARTED_BY,
    CaseLearning,
    ConfidentialMeeting,
    Consent,
    HeldCase,
    Meeting,
    PlanReview,
    consent_given_again,
    held_id,
    holder_of,
)
from services.meeting.listing import Rows
from shared.contract.events import (
    CaseEscalatedV2,
    ConsentRecordedV1,
    Envelope,
    OutreachHandedOverV1,
    OutreachStartedV1,
    ParticipationStartedV1,
    PlanClosureRequestedV1,
    PlanProposedV1,
    PoisonMessage,
)
from shared.domain.areas import area_of
from shared.domain.kept_reads import KeptReads
from shared.kernel.app import handles
from shared.kernel.journey import Invalid, NotFound, acting, actor_label, recorded_by
from shared.messaging.partitions import tracking_name
from shared.messaging.waiting import Waiting
from shared.organisation.reference import (
    DIVISIONS,
    agency_code,
    concern_fields,
    lead_division,
    member_divisions,
    unknown_agencies,
)
from shared.settings import current

#: what a non-member sees of a 支援会議's record (D10: its content stays with its members)
WITHHELD = "（支援会議の記録: 構成員のみ / withheld: 支援会議 members only）"

#: the tracking record saying the held cases were read once from the stream (services/meeting/held_cases.py): its
#: position is the JUSOU sequence read to. Absent: a store made before the meeting kept which cases outreach and
#: participation hold, not caught up yet (a first plan for a case not known held then waits, `HeldCasesNotYetRead`)
HELD_CASES_READ = "meeting-held-cases-read"
#: the same for the cases collaboration holds (intake's CaseEscalated, outreach's OutreachHandedOver to collaboration):
#: its own record, as a store caught up for outreach and participation (HELD_CASES_READ) never read those
ESCALATIONS_READ = "meeting-escalations-read"
#: each program's mark: its cases were read once from the stream (or the store was made knowing them)
READ_MARKS = {"outreach": HELD_CASES_READ, "participation": HELD_CASES_READ, "collaboration": ESCALATIONS_READ}
#: how long a first plan from collaboration for a case not yet heard opened is retried before it is refused: its case
#: opens on another source's event (intake's, outreach's), delivered by another consumer, which may come a little
#: after the plan (the meeting's intake consumer behind); retried while that consumer still moves (`_opening_awaited`)
OPENING_GRACE_SECONDS = 2.0
#: how many such plans are remembered waiting at once (the oldest forgotten: it waits again from its next delivery)
WAITING_PLANS = 10_000

SETTLED = {"approved": "approved", "revision_requested": "revision_requested", "returned_to_intake": "returned"}
ON_THE_AGENDA = ("proposed", "closure_requested")


class HeldCasesNotYetRead(RuntimeError):
    """A first plan from outreach, participation or collaboration for a case the meeting has not heard it hold, while
    the store's one-off read of the events that make it hold a case (services/meeting/held_cases.py) has not finished:
    not refused, retried by the inbox (nak with a growing delay) until the read has."""


class OpeningNotYetHeard(RuntimeError):
    """D4: a first plan from collaboration for a case the meeting has not (yet) heard escalated or handed over to it:
    that event comes from intake or outreach on another consumer, which may deliver it after the plan. Where the server
    can be asked (services/meeting/openings.py), retried exactly while such an event from before the plan is unsettled
    on the meeting's consumer (`OpeningOnItsWay`) and refused at once otherwise; else (the timed rule) retried by the
    inbox (nak with a growing delay) for `OPENING_GRACE_SECONDS` and while those consumers still apply events; then
    refused (`PoisonMessage`), or parked after the inbox's tries, to be replayed once the case is heard."""


class OpeningOnItsWay(OpeningNotYetHeard, Waiting):
    """D4: the server says the plan's case's opening event, from before the plan, is not yet settled by the meeting's
    consumer of its source: the plan waits for it, however long (`Waiting`: not parked for its tries)."""


@dataclass(frozen=True)
class MeetingRow:
    """One sitting in the list of meetings: what anyone may know of it (type, date, attendees, how many
    decisions and evaluations), never its minutes (D10)."""

    meeting_id: str
    meeting_type: str
    held_on: str
    attendees: tuple[str, ...]
    decisions: int
    evaluations: int


@dataclass(frozen=True)
class Sitting:
    """What a sitting's record is read by (D10): its type and attendees, its `Convened` event's, which no later
    event changes (services/meeting/domain.py `Meeting`)."""

    meeting_type: str
    attendees: tuple[str, ...]


class MeetingApplication(KeptReads):
    """Puts proposed plans on the agenda, decides by consensus, evaluates at closure."""

    name = "meeting"
    service = "meeting"

    def __init__(self, env: dict[str, str] | None = None) -> None:
        super().__init__(env)
        #: the lists' rows, made again only when their aggregate changes (services/meeting/listing.py)
        self.rows = Rows(self.recorder)
        #: each sitting's type and attendees, read once (issue 19: the division scope of every read of a sitting
        #: loaded the meeting, which the route then loaded again); they never change, so nothing is ever stale
        self._sittings: dict[UUID, Sitting] = {}
        #: the marks of `READ_MARKS` found in the store (the held cases read from the stream); once found they stay
        self._marks_read: set[str] = set()
        #: a first collaboration plan for a case not yet heard opened: its event id → (when first seen, the meeting's
        #: intake and outreach tracking then), while it is retried (`_opening_awaited`)
        self._waiting: OrderedDict[UUID, tuple[float, tuple[int | None, ...]]] = OrderedDict()
        self.opening_grace = OPENING_GRACE_SECONDS
        #: asks the server whether a collaboration case's opening is still on its way to this meeting (program, the
        #: opening events' (source, type), case) → True / False / None: can't tell (services/meeting/openings.py
        #: `OpeningProbe`, set by the service once its NATS connection is open; None: the timed rule alone)
        self.opening_probe: Callable[[str, list[tuple[str, str]], UUID], object | None] | None = None
        self.clock = time.monotonic
        #: (program, case) of start events the one-off read found on the stream, before they are all recorded: a first
        #: plan for one of them is listed at once (the read takes ~0.5 ms a start event, recording them several times that)
        self._announced_on_stream: set[tuple[str, UUID]] = set()

    def convene(self, actor: dict[str, str], meeting_type: str, held_on: date, attendees: list[str],
                sitting: dict[str, Any] | None = None, agenda: list[UUID] | None = None) -> UUID:
        """D5 D10: open a sitting of the 重層的支援会議 or the 支援会議; with its time, place and people (開催)
        and the plans put on its agenda, in order, when given."""
        unknown = unknown_agencies(attendees)
        if unknown:
            raise Invalid(f"登録されていない機関です: {', '.join(unknown)} / unknown attendee (GET /reference/agencies)")
        with acting(actor):
            meeting = Meeting.convene(meeting_type, held_on, attendees)
            if sitting is not None:
                meeting.record_sitting(**sitting)
            for plan_id in agenda or []:
                meeting.put_on_agenda("plan", plan_id, self.listed(plan_id).case_id)
        self.save(meeting)
        # its type and attendees as recorded (the `Convened` event's, which no later event changes): the division
        # scope of the sitting's first read needs no read of it (issue 19)
        self._sittings[meeting.id] = Sitting(meeting.meeting_type, tuple(meeting.attendees))
        return meeting.id

    @staticmethod
    def city() -> str:
        """The city's division as it attends: the one that runs the 重層 secretariat (as the municipality file names it; e.g. Chofu's 福祉総務課), a party
        to every 重層的支援会議 decision on a plan."""
        return DIVISIONS[lead_division()].ja

    def record_sitting(self, actor: dict[str, str], meeting_id: UUID, sitting: dict[str, Any]) -> dict[str, Any]:
        """開催: the sitting's date and time, place, the people present, chair and recorder (kept here only)."""
        meeting = self._meeting(meeting_id)
        with acting(actor):
            meeting.record_sitting(**sitting)
        self.save(meeting)
        return dict(meeting.sitting)

    def put_on_agenda(self, actor: dict[str, str], meeting_id: UUID, plan_id: UUID | None = None,
                      case_id: UUID | None = None) -> list[dict[str, str]]:
        """議事次第: put a plan (one the meeting was sent) or a case on the sitting's agenda, after the others.
        A case put on it is taken up too (D10: the basis of a 支援会議 disclosure; D9: at a 重層的支援会議 only with
        the person's consent, as `take_up`)."""
        if (plan_id is None) == (case_id is None):
            raise Invalid("議題にするプランかケースのどちらか1つを指定してください / give a plan or a case")
        meeting = self._meeting(meeting_id)
        with acting(actor):
            if plan_id is not None:
                meeting.put_on_agenda("plan", plan_id, self.listed(plan_id).case_id)
            else:
                assert case_id is not None
                meeting.take_up(case_id, list(self.members(meeting)), self._consent_asked(meeting, case_id))
                meeting.put_on_agenda("case", case_id, case_id)
        self.save(meeting)
        return list(meeting.agenda)

    def record_learning(
        self, actor: dict[str, str], meeting_id: UUID, plan_id: UUID, situation: str, worked: str,
        agencies: list[str], resources: list[str], concerns: list[str],
    ) -> UUID:
        """事例の学び (ノウハウの持ち帰り): after this sitting decided or evaluated the plan; no personal information."""
        unknown = [c for c in concerns if c not in concern_fields()]  # the fields that exist today
        if unknown:
            raise Invalid(f"相談の分野が不明です: {', '.join(unknown)} / unknown concern field (GET /reference/concerns)")
        strangers = unknown_agencies(agencies)
        if strangers:
            raise Invalid(f"登録されていない機関です: {', '.join(strangers)} / unknown agency")
        meeting: Meeting = self.read(meeting_id, Meeting, "会議")  # read, never changed: the learning is recorded
        review = self.listed(plan_id)
        with acting(actor):
            learning = CaseLearning.record(meeting, review, situation, worked, agencies, resources, concerns)
        self.save(learning)
        return learning.id

    def learnings(self, concern: str | None = None, words: str = "") -> list[dict[str, Any]]:
        """事例集: every 事例の学び, newest first; by concern field and words in it when given (no personal info)."""
        rows = self.rows.of("learning", self.ids_of(CaseLearning), self._learning)
        found = [dict(r) for r in rows if (not concern or concern in r["concerns"])
                 and all(w in " ".join([r["situation"], r["worked"], *r["resources"], *r["agencies"]])
                         for w in words.split())]
        return sorted(found, key=lambda r: r["recorded_at"], reverse=True)

    def takeaways(self, division: str | None = None, agency: str | None = None) -> list[dict[str, Any]]:
        """持ち帰り: the learnings each attending agency received (by agency, or all its division's agencies)."""
        return [r for r in self.learnings() if (agency is not None and agency in r["shared_with"])
                or (agency is None and division is not None and division in member_divisions(r["shared_with"]))]

    def _learning(self, learning_id: UUID) -> dict[str, Any]:
        learning: CaseLearning = self.read(learning_id, CaseLearning, "事例の学び")  # (its view copies its lists)
        return learning.view()

    def decide(
        self, actor: dict[str, str], meeting_id: UUID, plan_id: UUID, decision: str, reasons: str,
        positions: list[dict[str, str]], connect_to: list[str], primary_agency: str | None, all_agree: bool = False,
    ) -> None:
        """D5: decide a proposed plan, every attendee's position as given (MeetingDecided, CaseReturnedToIntake);
        「全員賛成」 (`all_agree`) records every attendee's 賛成 in one step. The sitting, the plan and the case's
        consent as kept are checked in one statement (`checked_together`). The 主担当機関 is taken without the spaces
        around it (half or full width), as intake's escalation and outreach's hand-over take it."""
        primary_agency = (primary_agency or "").strip() or None
        with self.checked_together(meeting_id, plan_id, self.kept_case_of(plan_id)):
            self._decide(actor, meeting_id, plan_id, decision, reasons, positions, connect_to, primary_agency,
                         all_agree)

    def _decide(
        self, actor: dict[str, str], meeting_id: UUID, plan_id: UUID, decision: str, reasons: str,
        positions: list[dict[str, str]], connect_to: list[str], primary_agency: str | None, all_agree: bool,
    ) -> None:
        meeting = self._meeting(meeting_id)
        review = self.review(plan_id)
        if all_agree:
            if positions:
                raise Invalid("「全員賛成」のときは各機関の意見を送らないでください / all_agree records every position itself")
            positions = [{"agency": a, "position": "agree", "reason": ""} for a in meeting.attendees]
        with acting(actor):
            meeting.take_up(review.case_id, list(self.members(meeting)))
            named = [*meeting.attendees, *([primary_agency] if primary_agency else [])]
            meeting.decide(review, decision, reasons, positions, connect_to,
                           self._consent_asked(meeting, review.case_id), primary_agency, city=self.city(),
                           codes={name: agency_code(name) for name in named},  # issue 18
                           without_consent=self._held_without_consent(meeting, review))
            review.settle(SETTLED[decision])
        self.save(meeting, review)

    def evaluate(
        self, actor: dict[str, str], meeting_id: UUID, plan_id: UUID, outcome: str, course: str, result: str,
        reason: str, next_review_on: date | None, goal_results: list[dict[str, str]],
    ) -> None:
        """D7: closure evaluation: PlanClosed, PlanSuspended or PlanContinued (the sitting, the plan and the consent
        checked in one statement, as a decision's)."""
        with self.checked_together(meeting_id, plan_id, self.kept_case_of(plan_id)):
            meeting = self._meeting(meeting_id)
            review = self.review(plan_id)
            with acting(actor):
                meeting.take_up(review.case_id, list(self.members(meeting)))
                meeting.evaluate(review, outcome, course, result, reason, next_review_on, goal_results,
                                 self._consent_asked(meeting, review.case_id), city=self.city(),
                                 without_consent=self._held_without_consent(meeting, review))
                review.settle(outcome)
            self.save(meeting, review)

    def resume(self, actor: dict[str, str], meeting_id: UUID, plan_id: UUID, reason: str) -> None:
        """D7 D9: resume a suspended plan at the 重層的支援会議 once consent was given again (PlanResumed); the
        sitting, the plan and the consent checked in one statement, as a decision's."""
        with self.checked_together(meeting_id, plan_id, self.kept_case_of(plan_id)):
            meeting = self._meeting(meeting_id)
            review = self.review(plan_id)
            with acting(actor):
                meeting.take_up(review.case_id, list(self.members(meeting)))
                consent = self.consent_of(review.case_id) if meeting.meeting_type == "jusou_shien_kaigi" else None
                meeting.resume(review, reason, consent, city=self.city(),  # (a 支援会議 refuses a resumption before D9)
                               without_consent=self._held_without_consent(meeting, review))
                review.settle("resumed")
            self.save(meeting, review)

    def _consent_asked(self, meeting: Meeting, case_id: UUID) -> bool:
        """D9 as a decision or an evaluation at this sitting asks it: the consent is read for a 重層的支援会議 only (a
        支援会議's needs none, D10: `Meeting.decide`/`evaluate` never look at it there), so a 支援会議's command reads
        no consent (issue 19)."""
        return self.consent_granted(case_id) if meeting.meeting_type == "jusou_shien_kaigi" else False

    def _held_without_consent(self, meeting: Meeting, review: PlanReview) -> list[str]:
        """D9 D16: at a 重層的支援会議, the cases held in the plan with its own (a household's, escalated together, kept
        on the plan when it was listed) whose person's consent does not cover it; none read at a 支援会議 (D10: it
        needs none), nor for a plan of one case (nothing more is read: issue 19)."""
        if meeting.meeting_type != "jusou_shien_kaigi":
            return []
        return [case for case in review.related_case_ids if not self.consent_granted(UUID(case))]

    def _household_held(self, program: str, case_id: UUID) -> list[str]:
        """D9 D16: the household's other cases escalated with this case (its `HeldCase`), for a plan of collaboration,
        which holds them in one plan; [] otherwise."""
        if program != "collaboration":
            return []
        try:
            held: HeldCase = self.read(held_id(program, case_id), HeldCase, "担当している事業")
        except NotFound:
            return []
        return held.related_case_ids

    def consent_of(self, case_id: UUID) -> Consent | None:
        """D9: the case's consent as the meeting last heard it (read, never changed: intake's events change it)."""
        try:
            consent: Consent = self.read(case_id, Consent, "同意")
        except NotFound:
            return None
        return consent

    def take_up(self, actor: dict[str, str], meeting_id: UUID, case_id: UUID) -> dict[str, Any]:
        """議題にする (D10): the sitting takes up a case, with or without a plan. For a 支援会議 this is
        what lets its members read the person's information at intake (MeetingCaseTakenUp). D9: a 重層的支援会議 takes up
        only a case whose person's consent covers it (ConsentMissing, nothing recorded); a 支援会議 any case (D10)."""
        with self.checked_together(meeting_id, case_id):
            meeting = self._meeting(meeting_id)
            with acting(actor):
                meeting.take_up(case_id, list(self.members(meeting)), self._consent_asked(meeting, case_id))
            self.save(meeting)
        return {"meeting_id": str(meeting_id), "case_id": str(case_id), "cases": list(meeting.cases)}

    @staticmethod
    def members(meeting: Meeting | MeetingRow | Sitting) -> frozenset[str]:
        """The city's divisions that sat in the meeting, as codes (an agency counts for its division)."""
        return member_divisions(list(meeting.attendees))

    def is_member(self, meeting: Meeting | MeetingRow | Sitting, division: str | None) -> bool:
        return division is not None and division in self.members(meeting)

    def meeting_readers(self, meeting_id: UUID) -> frozenset[str] | None:
        """Division scope of a sitting's record: its members; for a 重層的支援会議 also the city's
        secretariat (福祉総務課 convenes it). None when there is no such meeting (the route answers 404)."""
        try:
            meeting = self._sitting(meeting_id)
        except NotFound:
            return None
        if meeting.meeting_type == "shien_kaigi":
            return None  # D10: meeting_view refuses a non-member, saying why (守秘義務)
        return self.members(meeting) | {lead_division()}

    def case_of_plan(self, plan_id: UUID) -> UUID | None:
        try:
            return UUID(str(self.listed(plan_id).case_id))
        except NotFound:
            return None

    def redact(self, rows: list[dict[str, Any]], division: str | None) -> list[dict[str, Any]]:
        """D10: a 支援会議's events show their kind, time and case to a non-member, never their content
        (reasons, positions, evaluations); the members see them whole."""
        shown = []
        for row in rows:
            sitting = row["aggregate_id"] if row.get("event", "").startswith("Meeting.") else (
                row["fields"].get("meeting_id") if row.get("event", "").startswith("CaseLearning.") else None)
            if sitting is not None and self._confidential_to(UUID(str(sitting)), division):
                keep = {k: row["fields"][k] for k in ("meeting_type", "plan_id", "case_id", "decision", "outcome")
                        if k in row["fields"]}
                row = {**row, "fields": {**keep, "withheld": WITHHELD}}
            shown.append(row)
        return shown

    def _confidential_to(self, meeting_id: UUID, division: str | None) -> bool:
        try:
            meeting = self._sitting(meeting_id)
        except NotFound:
            return False
        return meeting.meeting_type == "shien_kaigi" and not self.is_member(meeting, division)

    def state_as_of(self, case_id: UUID, moment: Any = None, division: str | None = None) -> list[dict[str, Any]]:
        """The meeting's state of a case: each sitting shows only this case's minutes, and a 支援会議's
        only to its members (D10)."""
        states = super().state_as_of(case_id, moment)
        for state in states:
            if state["kind"] == "CaseLearning" and self._confidential_to(UUID(state["state"]["meeting_id"]), division):
                state["state"] = {"meeting_type": "shien_kaigi", "withheld": WITHHELD}  # D10: tied to this case
            if state["kind"] != "Meeting":
                continue
            view = state["state"]
            mine = [m for m in view.get("minutes", []) if m.get("case_id") in (None, str(case_id))
                    and (m.get("plan_id") is None or m.get("plan_id") in self._plans_of(case_id))]
            view["minutes"] = mine
            view["cases"] = [c for c in view.get("cases", []) if c == str(case_id)]
            view["agenda"] = [i for i in view.get("agenda", []) if i.get("case_id") == str(case_id)]
            view.pop("sitting", None)  # the names of the people present are the sitting's, not the case's
            if self._confidential_to(UUID(state["aggregate_id"]), division):
                view["minutes"] = [{"kind": m.get("kind"), "withheld": WITHHELD} for m in mine]
        return states

    def _plans_of(self, case_id: UUID) -> set[str]:
        return {item["plan_id"] for item in self._reviews() if item["case_id"] == str(case_id)}

    def identify_gap(self, actor: dict[str, str], meeting_id: UUID, case_id: UUID, need: str, area: str, description: str,
                     area_code: str | None = None) -> None:
        """D8: record a missing local resource (ResourceGapIdentified), with the 地区 chosen (`area_code`) or, without
        one, the code of the area written when the municipality file knows it (issue 18)."""
        place, code = area_of(area, area_code)
        meeting = self._meeting(meeting_id)
        with acting(actor):
            meeting.identify_gap(case_id=case_id, need=need, area=place, description=description, area_code=code)
        self.save(meeting)

    def consent_view(self, case_id: UUID) -> dict[str, Any]:
        """D9: the consent the meeting last heard of for a case."""
        return _consent_view(case_id, self.consent_of(case_id))

    @staticmethod
    def consent_view_of(case_id: UUID, consent: Consent | None) -> dict[str, Any]:
        """D9: `consent_view` of a consent already read (`consent_of`; None: none heard yet)."""
        return _consent_view(case_id, consent)

    def consent_granted(self, case_id: UUID) -> bool:
        """D9: a consent that covers the 重層的支援会議 (a consent to something else does not)."""
        try:
            consent: Consent = self.read(case_id, Consent, "同意")
        except NotFound:
            return False
        return consent.covers_meeting()

    def review(self, plan_id: UUID) -> PlanReview:
        """A plan the meeting was sent, to change (a decision, an evaluation, a relisting): the caller's own copy."""
        review: PlanReview = self.load(plan_id, PlanReview, "議題のプラン")
        return review

    def listed(self, plan_id: UUID) -> PlanReview:
        """A plan the meeting was sent, to read (its agenda row, its case): the kept one when kept, no copy (issue 19).
        Call none of its commands."""
        review: PlanReview = self.read(plan_id, PlanReview, "議題のプラン")
        return review

    def agenda(self) -> list[dict[str, Any]]:
        """議題: the plans awaiting a decision or a closure evaluation, oldest listing first."""
        return [dict(item) for item in self._reviews() if item["status"] in ON_THE_AGENDA]

    def agenda_with_consent(self) -> list[dict[str, Any]]:
        """The agenda with each case's consent as the meeting last heard it (D9: the pages show it)."""
        agenda = self.agenda()
        consents = self.rows.of("consent", [UUID(item["case_id"]) for item in agenda], self.consent_view)
        return [{**item, "consent": dict(consent)} for item, consent in zip(agenda, consents, strict=True)]

    def suspended(self) -> list[dict[str, Any]]:
        """中断中のプラン (D7): each with its case's consent and whether it was given again after the
        suspension (D9: only then may the 重層的支援会議 resume it)."""
        rows = []
        for item in self._reviews():
            if item["status"] != "suspended":
                continue
            review, consent = self.listed(UUID(item["plan_id"])), self.consent_of(UUID(item["case_id"]))
            rows.append({**item, "consent": _consent_view(UUID(item["case_id"]), consent),
                         "consent_again": consent_given_again(review, consent)})  # (the consent read once)
        return rows

    def _reviews(self) -> list[dict[str, Any]]:
        """Every plan the meeting was sent, as its agenda row (kept: services/meeting/listing.py)."""
        return self.rows.of("review", self.ids_of(PlanReview), lambda plan_id: self.listed(plan_id).view())

    def meetings(self) -> list[MeetingRow]:
        """Every sitting, newest date first (kept: each is rebuilt only when it records something new)."""
        rows = self.rows.of("meeting", self.ids_of(Meeting), self._meeting_row)
        return sorted(rows, key=lambda row: row.held_on, reverse=True)

    def _sitting(self, meeting_id: UUID) -> Sitting:
        """One sitting's type and attendees, for the division scope of its record (D10): read from the meeting once,
        then kept (they never change; the store only grows, so a sitting once found is never gone)."""
        found = self._sittings.get(meeting_id)
        if found is None:
            meeting: Meeting = self.read(meeting_id, Meeting, "会議")
            found = self._sittings[meeting_id] = Sitting(meeting.meeting_type, tuple(meeting.attendees))
        return found

    def _meeting_row(self, meeting_id: UUID) -> MeetingRow:
        meeting: Meeting = self.read(meeting_id, Meeting, "会議")
        return MeetingRow(meeting_id=str(meeting_id), meeting_type=meeting.meeting_type,
                          held_on=meeting.held_on.isoformat(), attendees=tuple(meeting.attendees),
                          decisions=sum(1 for m in meeting.minutes if m["kind"] == "decision"),
                          evaluations=sum(1 for m in meeting.minutes if m["kind"] == "evaluation"))

    def minutes(self, meeting_id: UUID) -> list[dict[str, Any]]:
        """会議録 as the meeting page shows it, from the meeting's own events: when (`at`, the event's
        time), who recorded it (its actor), what was decided or evaluated and why. The caller checks
        that the reader may see the meeting (meeting_view, D10)."""
        rows: list[dict[str, Any]] = []
        for event in self.events_of(meeting_id):
            entry = _minute(event)
            if entry is not None:
                rows.append({"at": event.timestamp, "who": _who(event), **entry})
        return rows

    def meeting_view(self, actor: dict[str, str], meeting_id: UUID) -> dict[str, Any]:
        """Minutes; a 支援会議's are confidential and shown only to its members (D10). Read, not loaded: no copy of a
        kept meeting (its view copies what it hands out)."""
        return self.minutes_view(self.meeting_as_read(actor, meeting_id))

    def meeting_as_read(self, actor: dict[str, str], meeting_id: UUID) -> Meeting:
        """The meeting as the store holds it now, once the reader may see it (D10: a 支援会議's only its members):
        read, never to be changed. GET /meetings/{id} takes its ETag and its body from this one read (issue 19)."""
        meeting: Meeting = self.read(meeting_id, Meeting, "会議")
        if meeting.meeting_type == "shien_kaigi" and not self.is_member(meeting, actor.get("division")):
            raise ConfidentialMeeting(
                "支援会議の記録は守秘義務のある構成員のみ閲覧できます / "
                "the 支援会議's records are shown only to its members (D10)"
            )
        return meeting

    @staticmethod
    def minutes_view(meeting: Meeting) -> dict[str, Any]:
        """A meeting's view as GET /meetings/{id} answers it (its view copies what it hands out)."""
        return {**meeting.view(), "confidential": meeting.meeting_type == "shien_kaigi"}

    @handles(ConsentRecordedV1)
    def _consent(self, envelope: Envelope, payload: ConsentRecordedV1, processing: ProcessingEvent[UUID]) -> None:
        """D9: the meeting keeps the case's consent as intake recorded it (what it covers, codes)."""
        covers = sorted(payload.covered())
        try:
            consent: Consent = self.load(envelope.case_id, Consent, "同意")
            consent.change(granted=payload.granted, scope=payload.scope, covers=covers)
        except NotFound:
            consent = Consent(case_id=envelope.case_id, granted=payload.granted, scope=payload.scope, covers=covers)
        processing.collect_events(consent)

    @handles(PlanProposedV1)
    def _proposed(self, envelope: Envelope, payload: PlanProposedV1, processing: ProcessingEvent[UUID]) -> None:
        """D5: a proposed plan (or its next revision) is listed for the meeting."""
        summary = {"support_direction": payload.support_direction, "goals": payload.goals,
                   "roles": [r.model_dump() for r in payload.roles]}
        for name in ("starts_on", "review_on"):  # the plan period, when its owner sent one
            if getattr(payload, name, None) is not None:
                summary[name] = getattr(payload, name).isoformat()
        _owner_sent(envelope, payload.program, payload.plan_id)
        try:
            review = self.review(payload.plan_id)
        except NotFound:
            self._require_held(envelope, payload.plan_id)
            review = PlanReview(case_id=envelope.case_id, plan_id=payload.plan_id, program=payload.program,
                                revision=payload.revision, summary=summary)
        else:
            _same_plan(envelope, review)
            review.relist(payload.revision, summary)
        review.note_household(self._household_held(payload.program, envelope.case_id))  # D9 D16
        processing.collect_events(review)

    @handles(OutreachStartedV1)
    def _outreach_started(self, envelope: Envelope, payload: OutreachStartedV1,
                          processing: ProcessingEvent[UUID]) -> None:
        """D6 D12: outreach holds the case from its start: its first plan for the case may be listed."""
        self._announced(envelope, processing)

    @handles(ParticipationStartedV1)
    def _participation_started(self, envelope: Envelope, payload: ParticipationStartedV1,
                               processing: ProcessingEvent[UUID]) -> None:
        """D6 D13: participation holds the case from its start: its first plan for the case may be listed."""
        self._announced(envelope, processing)

    @handles(CaseEscalatedV2)
    def _escalated(self, envelope: Envelope, payload: CaseEscalatedV2, processing: ProcessingEvent[UUID]) -> None:
        """D4: collaboration holds an escalated case (v1 events arrive raised to v2; a household's related cases are
        held with the escalated case, whose plan is theirs: collaboration drafts none on a related case). D9 D16: the
        cases escalated with it are kept with the case (each person's consent is asked at the 重層的支援会議), as the
        latest escalation names them (escalated alone again: none)."""
        self._announced(envelope, processing, "collaboration")
        related = [str(c) for c in payload.related_case_ids or []] if payload.household_ref is not None else []
        held = processing.aggregates.get(held_id("collaboration", envelope.case_id))  # announced just now
        if not isinstance(held, HeldCase):
            if not related and not self.holds("collaboration", envelope.case_id):
                return
            held = self.load(held_id("collaboration", envelope.case_id), HeldCase, "担当している事業")
        with acting({"service": self.service}, caused_by=envelope.event_id):
            held.hear_household(related)
        processing.collect_events(held)

    @handles(OutreachHandedOverV1)
    def _handed_over(self, envelope: Envelope, payload: OutreachHandedOverV1, processing: ProcessingEvent[UUID]) -> None:
        """D4 D12: outreach's hand-over to collaboration opens the case there: its first plan may be listed."""
        if payload.to_program == "collaboration":
            self._announced(envelope, processing, "collaboration")

    def _announced(self, envelope: Envelope, processing: ProcessingEvent[UUID], program: str | None = None) -> None:
        """Record that `program` (the event's source when not given) holds the case (once). Acted by the meeting's
        policy alone: the event's divisions are not added to who may read the meeting's record of the case (its plans'
        roles and its sittings say that, as before)."""
        program = program or envelope.source
        if self.holds(program, envelope.case_id):
            return
        with acting({"service": self.service}, caused_by=envelope.event_id):
            processing.collect_events(HeldCase(program=program, case_id=envelope.case_id, via="event",
                                               source_position=envelope.source_position))

    def holds(self, program: str, case_id: UUID) -> bool:
        """Whether the meeting heard `program` announce it holds the case (its start event)."""
        return next(iter(self.events.get(held_id(program, case_id), limit=1)), None) is not None

    def _require_held(self, envelope: Envelope, plan_id: UUID) -> None:
        """D4 D6: a first plan from outreach or participation is listed only for a case that program announced it holds
        (OutreachStarted, ParticipationStarted: each comes before the program's plans for the case, on the same
        consumer, so a real plan never finds it missing); one from collaboration only for a case intake escalated or
        outreach handed over to it (CaseEscalated, OutreachHandedOver: other sources, other consumers, so a real plan
        may come first: it waits exactly while the server says its case's opening, from before it, is unsettled on the
        meeting's consumer, `OpeningOnItsWay`, services/meeting/openings.py; is refused at once when it says none is;
        and is retried a while by the timed rule when it cannot tell, `OpeningNotYetHeard`). Found by the review: with
        one of their NATS passwords a plan could be proposed for any case, and the divisions its roles name then read
        that case's records here."""
        program = envelope.source
        if (program not in HELD_PROGRAMS or (program, envelope.case_id) in self._announced_on_stream
                or self.holds(program, envelope.case_id)):
            self._waiting.pop(envelope.event_id, None)
            return
        if not self.held_cases_read(program):
            raise HeldCasesNotYetRead(
                f"{envelope.event_type} from {program} for case {envelope.case_id}: the meeting has not yet read "
                f"which cases {program} holds (services/meeting/held_cases.py): tried again"
            )
        if program in OPENED_BY:
            openers = [(source, event_type) for source, event_type, _ in OPENED_BY[program]]
            on_its_way = self.opening_probe(program, openers, envelope.case_id) if self.opening_probe else None
            if on_its_way:
                raise OpeningOnItsWay(
                    f"{envelope.event_type} from {program} for case {envelope.case_id} waits for its case's opening: "
                    f"{on_its_way}: tried again"
                )
            if on_its_way is False and self.holds(program, envelope.case_id):  # applied since the store was read
                self._waiting.pop(envelope.event_id, None)
                return
            if on_its_way is None and self._opening_awaited(envelope):
                raise OpeningNotYetHeard(
                    f"{envelope.event_type} from {program} for case {envelope.case_id}: the meeting has not heard the "
                    f"case opened there ({' or '.join(t for _, t in openers)}) yet: tried again"
                )
        self._waiting.pop(envelope.event_id, None)
        heard = STARTED_BY.get(program) or OPENED_BY[program][0][1]
        raise PoisonMessage(
            f"{envelope.event_type} from {program} for case {envelope.case_id} proposes plan {plan_id} for a case "
            f"{program} never announced holding (no {heard} for it): {_opened_by(program)}a program proposes plans "
            f"only for its own cases ({'D4 D6' if program in OPENED_BY else 'D6'}): not applied"
        )  # (in English, as every reason: a header; shared/messaging/reasons.py gives its Japanese)

    def _opening_awaited(self, envelope: Envelope) -> bool:
        """Whether a first collaboration plan for a case not heard opened is still retried: for `opening_grace` seconds
        from its first delivery here, and while the meeting's consumers of the opening events' sources applied
        something since (a backlog: the case's escalation may be in it). Refused after: nothing came meanwhile."""
        now, moved = self.clock(), self._opening_positions()
        first = self._waiting.get(envelope.event_id)
        if first is None:
            self._waiting[envelope.event_id] = (now, moved)
            while len(self._waiting) > WAITING_PLANS:
                self._waiting.popitem(last=False)
            return True
        if now - first[0] < self.opening_grace or moved != first[1]:
            if moved != first[1]:
                self._waiting[envelope.event_id] = (now, moved)  # still moving: wait a grace from here
            return True
        return False

    def _opening_positions(self) -> tuple[int | None, ...]:
        """The meeting's tracking of each source whose events open a collaboration case (intake, outreach): its
        consumer's `<source>`, and with JUSOU_PARTITIONS > 1 each partition consumer's `<source>#p<k>` too (as
        shared/messaging/partitions.py `trackings` reads them), so a backlog on any of them counts as moving."""
        partitions = current().partitions
        sources = sorted({source for openers in OPENED_BY.values() for source, _, _ in openers})
        names = [name for source in sources
                 for name in (source, *(tracking_name(source, k) for k in range(partitions if partitions > 1 else 0)))]
        return tuple(self.recorder.max_tracking_id(name) for name in names)

    def held_cases_read(self, program: str | None = None) -> bool:
        """Whether this store knows every case `program` (every plan owner when None) holds (`READ_MARKS`): a store
        made with this version hears each such event on its consumers; one made before was caught up once."""
        marks = {READ_MARKS[program]} if program is not None else set(READ_MARKS.values())
        for mark in marks - self._marks_read:
            if self.recorder.max_tracking_id(mark) is not None:
                self._marks_read.add(mark)
        return marks <= self._marks_read

    def unread_programs(self) -> list[str]:
        """The plan owners whose held cases this store has not read from the stream yet (`held_cases_read`)."""
        return [program for program in HELD_PROGRAMS if not self.held_cases_read(program)]

    def heard_on_stream(self, announced: Iterable[Envelope]) -> None:
        """The events the one-off read found (`catch_up_held_cases` records them next): known at once."""
        for envelope in announced:
            program = holder_of(envelope.source, envelope.event_type, envelope.payload)
            if program is not None:
                self._announced_on_stream.add((program, envelope.case_id))

    def catch_up_held_cases(self, announced: Iterable[Envelope], read_to: int | None) -> int:
        """Record the cases outreach and participation announced in these start events, and those intake escalated
        or outreach handed over to collaboration (read from the stream's start, services/meeting/held_cases.py),
        without a tracking record of their source: the consumer's tracking may be past them already, and the events
        still to come are its own. Then, when `read_to` is given (the JUSOU sequence read to: the whole stream), every
        mark not yet in the store is recorded (`READ_MARKS`: the read covered their events). Returns how many cases
        were new. Runs beside the inbox: under its lock, and a case recorded meanwhile elsewhere is skipped."""
        recorded = 0
        batch: list[tuple[str, Envelope]] = []
        for envelope in announced:
            program = holder_of(envelope.source, envelope.event_type, envelope.payload)
            if program is None:
                continue
            batch.append((program, envelope))
            if len(batch) >= 200:
                recorded += self._hold(batch)
                batch = []
        recorded += self._hold(batch)
        if read_to is not None and not self.held_cases_read():
            for mark in sorted(set(READ_MARKS.values()) - self._marks_read):
                if self.recorder.max_tracking_id(mark) is not None:
                    continue
                try:
                    self.recorder.insert_tracking(Tracking(application_name=mark, notification_id=max(read_to, 1)))
                except IntegrityError:
                    pass  # another replica marked it first
            self._marks_read.update(READ_MARKS.values())
            self._announced_on_stream.clear()  # all recorded: the store answers
        return recorded

    def plans_never_held(self) -> list[dict[str, str]]:
        """The plans outreach, participation or collaboration put on the list for a case it never held (listed before
        the meeting checked: forged with its NATS password, or a test's): for the operator to review and correct with
        the meeting's commands (services/meeting/held_cases.py logs them once the held cases are read)."""
        found = []
        for plan_id in self.ids_of(PlanReview):
            review = self.listed(plan_id)
            if review.program in HELD_PROGRAMS and not self.holds(review.program, review.case_id):
                found.append({"plan_id": str(plan_id), "program": review.program, "case_id": str(review.case_id)})
        return found

    def _hold(self, held: list[tuple[str, Envelope]]) -> int:
        with self.processing_lock:
            new = {held_id(p, e.case_id): (p, e) for p, e in held if not self.holds(p, e.case_id)}
            if not new:
                return 0
            try:
                self.save(*(self._caught_up(p, e) for p, e in new.values()))
                return len(new)
            except IntegrityError:  # one recorded meanwhile by another replica: each alone, made again
                count = 0
                for program, envelope in new.values():
                    try:
                        self.save(self._caught_up(program, envelope))
                        count += 1
                    except IntegrityError:
                        pass
                return count

    def _caught_up(self, program: str, envelope: Envelope) -> HeldCase:
        with acting({"service": self.service}, caused_by=envelope.event_id):
            held = HeldCase(program=program, case_id=envelope.case_id, via="catch_up",
                            source_position=envelope.source_position)
            if envelope.event_type == "CaseEscalated" and envelope.payload.get("household_ref"):  # D9 D16
                held.hear_household([str(c) for c in envelope.payload.get("related_case_ids") or []])
            return held

    @handles(PlanClosureRequestedV1)
    def _closure_requested(self, envelope: Envelope, payload: PlanClosureRequestedV1,
                           processing: ProcessingEvent[UUID]) -> None:
        """D7: a plan's owner asks for its evaluation: it is listed for closure."""
        _owner_sent(envelope, payload.program, payload.plan_id)
        review = self.review(payload.plan_id)
        _same_plan(envelope, review)
        review.list_for_closure(payload.progress)
        processing.collect_events(review)

    def _meeting(self, meeting_id: UUID) -> Meeting:
        meeting: Meeting = self.load(meeting_id, Meeting, "会議")
        return meeting


def _owner_sent(envelope: Envelope, program: str | None, plan_id: UUID) -> None:
    """D4 D6: only a plan's owning program proposes it or asks for its closure, on its own subject (the NATS server
    lets only `<source>` publish on `jusou.<source>.…`): a payload naming another program is refused, dead-lettered
    with this reason (found by the integrator's review: outreach's credentials could list a plan as collaboration's)."""
    if program is not None and program != envelope.source:
        raise PoisonMessage(
            f"{envelope.event_type} from {envelope.source} names plan {plan_id} as {program}'s: a program sends only "
            f"its own plans (the subject is the authority): not applied"
        )


def _opened_by(program: str) -> str:
    """What opens `program`'s cases, for a refusal's reason (nothing for a program that starts its own)."""
    openers = [f"{source}'s {event_type}" + (f" to {program}" if naming else "")
               for source, event_type, naming in OPENED_BY.get(program, ())]
    return f"{program}'s cases open on {' or '.join(openers)}; " if openers else ""


def _same_plan(envelope: Envelope, review: PlanReview) -> None:
    """A plan already on the meeting's list stays its owner's and its case's: a message from another program, or
    about another case, naming it is refused (dead-lettered with this reason) and changes nothing."""
    if review.program != envelope.source:
        raise PoisonMessage(
            f"{envelope.event_type} from {envelope.source} names plan {review.id}, which {review.program} proposed: "
            f"only its owner may relist it or ask for its closure: not applied"
        )
    if review.case_id != envelope.case_id:
        raise PoisonMessage(
            f"{envelope.event_type} for case {envelope.case_id} names plan {review.id} of case {review.case_id}: "
            f"a plan belongs to one case: not applied"
        )


def _consent_view(case_id: UUID, consent: Consent | None) -> dict[str, Any]:
    """D9: a case's consent as the meeting shows it (None: none heard yet)."""
    if consent is None:
        return {"case_id": str(case_id), "granted": False, "scope": None, "covers": [], "heard": False}
    return {"case_id": str(case_id), "granted": consent.covers_meeting(), "given": bool(consent.granted),
            "scope": consent.scope, "covers": list(getattr(consent, "covers", None) or []), "heard": True}


def _who(event: Any) -> str:
    """Who recorded an event: the staff member, or the service whose policy did."""
    return actor_label(recorded_by(event))


def _minute(event: Any) -> dict[str, Any] | None:
    """One entry of the minutes from a meeting's event (None for the events the minutes leave out)."""
    if isinstance(event, Meeting.Decided):
        return {"kind": "decision", "case_id": str(event.case_id), "plan_id": str(event.plan_id),
                "program": event.program, "revision": event.revision, "decision": event.decision,
                "reasons": event.reasons, "positions": event.positions, "connect_to": event.connect_to}
    if isinstance(event, Meeting.ReturnedToIntake):
        return {"kind": "returned_to_intake", "case_id": str(event.case_id), "primary_agency": event.primary_agency}
    if isinstance(event, Meeting.Evaluated):
        return {"kind": "evaluation", "case_id": str(event.case_id), "plan_id": str(event.plan_id),
                "program": event.program, "outcome": event.outcome, "evaluation": event.evaluation,
                "reason": event.reason,
                "next_review_on": event.next_review_on.isoformat() if event.next_review_on else None}
    if isinstance(event, Meeting.Resumed):
        return {"kind": "resumption", "case_id": str(event.case_id), "plan_id": str(event.plan_id),
                "program": event.program, "reason": event.reason}
    if isinstance(event, Meeting.GapIdentified):
        return {"kind": "resource_gap", "case_id": str(event.case_id), "need": event.need, "area": event.area,
                "description": event.description}
    return None
