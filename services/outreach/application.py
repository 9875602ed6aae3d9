"""Outreach's use cases."""

from __future__ import annotations

from datetime import date
from typing import Any, TypedDict
from uuid import UUID, uuid4

from eventsourcing.application import ProcessingEvent

from services.outreach.domain import STAGES, Engagement, UnknownPrimaryAgency
from shared.contract.events import Envelope, MeetingDecidedV1
from shared.domain.casework_owner import CaseworkOwner, DueItem, RecordEntry
from shared.domain.plan_owner import PlanOwner
from shared.domain.wareki import JST, local_time, today_in_japan
from shared.kernel.app import handles
from shared.kernel.journey import Invalid, NotFound, acting, actor_label, recorded_by
from shared.organisation.reference import (
    AGENCY_KINDS,
    COUNTERS,
    MEETING_KIND,
    REFERRER,
    agency_code,
    referrer_code,
    referrer_name,
)


class ContactRow(TypedDict):
    """One contact in the log as the page shows it: when (Japan time, ISO text), how, and who recorded it."""

    at: str
    method: str
    reached: bool
    note: str
    stage: str
    who: str
    on: str  # 接触日 (ISO date): the day the contact took place, else the day it was recorded


class HandOverRow(TypedDict):
    """The hand-over as the page shows it (D12)."""

    at: str
    to_program: str
    reason: str
    primary_agency: str | None
    counter: str | None
    who: str


class EngagementRecord(TypedDict):
    """An engagement with its story read from its own events: the contact log, who started it and when,
    the hand-over (the worker's pages)."""

    case_id: str
    referred_by: str
    reason: str
    address: str | None
    stage: str
    contacts: list[dict[str, Any]]
    handed_over_to: str | None
    log: list[ContactRow]
    last: ContactRow | None
    started_at: str
    started_by: str
    handed: HandOverRow | None
    stage_index: int


def referrer_of(referred_by: str) -> tuple[str, str | None]:
    """紹介元 as the event carries it (issue 18): the name people read and the code of the municipality file in force
    today (none for a referrer it does not know: what staff typed stays as typed). A code the file does not know
    (`partner:nope`) is refused, naming where the codes come from."""
    value = referred_by.strip()
    code = referrer_code(value)
    kind, colon, _ = value.partition(":")
    if code is None and colon and kind in (*AGENCY_KINDS, REFERRER, MEETING_KIND):
        raise Invalid(f"紹介元のコード {value!r} は自治体ファイルにありません。開始画面の紹介元から選んでください / "
                      f"the municipality file has no referrer {value!r}: choose one the start form offers")
    return (referrer_name(code) if code == value else value), code


class OutreachApplication(PlanOwner, CaseworkOwner):
    """Starts from intake, from a meeting's connect_to, or before any escalation (D12)."""

    name = "outreach"
    service = "outreach"
    program = "outreach"

    def start(self, actor: dict[str, str], case_id: UUID | None, referred_by: str, reason: str,
              address: str | None = None) -> UUID:
        """D12: begin outreach; a new case when no one has met the person yet (`address`: 住所・所在地域, kept here).
        `referred_by`: the referrer's name, or its code in the municipality file (what the start form's select sends:
        `partner:minsei-iin`, `referrer:family`); the event carries both (issue 18)."""
        name, code = referrer_of(referred_by)
        with acting(actor):
            engagement = Engagement(case_id=case_id or uuid4(), referred_by=name, reason=reason,
                                    address=(address or "").strip() or None, referred_by_code=code)
        self.save(engagement)
        return engagement.id

    def record_contact(self, actor: dict[str, str], case_id: UUID, method: str, reached: bool, note: str, stage: str,
                       on: date | None = None) -> None:
        """A contact on the day it took place (接触日 `on`, not after today in Japan; none: the day it is recorded)."""
        engagement = self._engagement(case_id)
        with acting(actor):
            engagement.record_contact(method=method, reached=reached, note=note, stage=stage, on=on, today=today_in_japan())
        self.save(engagement)

    def hand_over(
        self, actor: dict[str, str], case_id: UUID, to_program: str, reason: str, primary_agency: str | None,
        counter: str | None = None,
    ) -> None:
        """D12: hand the person on (OutreachHandedOver); intake, collaboration or participation takes it up."""
        if counter is not None and counter not in COUNTERS:
            raise Invalid(f"窓口 {counter!r} はありません。次のいずれかです / unknown counter: " + ", ".join(COUNTERS))
        code = agency_code((primary_agency or "").strip())
        if to_program == "collaboration" and (primary_agency or "").strip() and code is None:
            raise UnknownPrimaryAgency(str(primary_agency))  # D11: a case held by no division otherwise
        engagement = self._engagement(case_id)
        with acting(actor):
            engagement.hand_over(to_program, reason, primary_agency, counter, primary_agency_code=code)
        self.save(engagement)

    def require_case(self, case_id: UUID) -> None:
        self._engagement(case_id)

    def engagement_view(self, case_id: UUID) -> dict[str, Any]:
        return self._engagement(case_id).view()

    def engagements(self) -> list[dict[str, Any]]:
        return [self.engagement_view(i) for i in self.ids_of(Engagement)]

    def has_engagement(self, case_id: UUID) -> bool:
        """Whether outreach has already started for the case (the start form says so before trying)."""
        try:
            self._engagement(case_id)
        except NotFound:
            return False
        return True

    def engagement_record(self, case_id: UUID) -> EngagementRecord:
        """The engagement as the worker's pages show it: the contact log and the hand-over, who and when
        from its own events' metadata (D12)."""
        view = self.engagement_view(case_id)
        log: list[ContactRow] = []
        started_at, started_by = "", ""
        handed: HandOverRow | None = None
        for event in self.events_of(case_id):
            at, who = local_time(event.timestamp), actor_label(recorded_by(event))
            if isinstance(event, Engagement.Started):
                started_at, started_by = at, who
            elif isinstance(event, Engagement.ContactRecorded):
                on = getattr(event, "on", None)  # contacts recorded before 接触日 was kept: their day
                log.append(ContactRow(at=at, method=event.method, reached=event.reached, note=event.note,
                                      stage=event.stage, who=who, on=on.isoformat() if on else at[:10]))
            elif isinstance(event, Engagement.HandedOver):
                handed = HandOverRow(at=at, to_program=event.to_program, reason=event.reason,
                                     primary_agency=event.primary_agency, counter=event.counter, who=who)
        return EngagementRecord(
            case_id=view["case_id"], referred_by=view["referred_by"], reason=view["reason"], address=view["address"],
            stage=view["stage"],
            contacts=view["contacts"], handed_over_to=view["handed_over_to"], log=log, last=log[-1] if log else None,
            started_at=started_at, started_by=started_by, handed=handed, stage_index=STAGES.index(view["stage"]),
        )

    def engagement_records(self, reader: Any) -> list[EngagementRecord]:
        """The engagements the reader's division may see (division scope), each as its page shows it."""
        return [self.engagement_record(UUID(e["case_id"])) for e in self.scoped(self.engagements(), reader)]

    # -- casework (issue 15): the contact log is shown in the 経過記録 as it is (merged, not copied into notes)

    def casework_cases(self) -> list[UUID]:
        return self.ids_of(Engagement)

    def casework_activities(self, case_id: UUID) -> list[RecordEntry]:
        """Each contact of the log, on the day it was recorded (the log keeps no other date)."""
        return [RecordEntry(at=e.timestamp, kind="contact", kind_ja="アウトリーチ接触", method=e.method,
                            counterpart="本人" if e.reached else "（会えず）", content=e.note,
                            agreed="", written_at=e.timestamp, written_by=actor_label(recorded_by(e)))
                for e in self.events_of(case_id) if isinstance(e, Engagement.ContactRecorded)]

    def casework_due(self, case_id: UUID, notes: list[RecordEntry], on: date) -> list[DueItem]:
        """経過記録の未記入: a contact logged after the latest note was written (or with no note at all)."""
        contacts = [e.timestamp for e in self.events_of(case_id) if isinstance(e, Engagement.ContactRecorded)]
        written = max((n.written_at for n in notes if n.written_at), default=None)
        if not contacts or (written is not None and written >= max(contacts)):
            return []
        contacted = max(contacts).astimezone(JST).date()
        return [DueItem(str(case_id), "接触後の経過記録が未記入 / no note since the last contact", contacted,
                        contacted < on)]

    @handles(MeetingDecidedV1)
    def _connected_by_meeting(self, envelope: Envelope, payload: MeetingDecidedV1,
                              processing: ProcessingEvent[UUID]) -> None:
        """A meeting connects the person to outreach: an engagement begins (then the plan follows the decision)."""
        if "outreach" not in payload.connect_to:
            return
        try:
            self._engagement(envelope.case_id)
        except NotFound:
            processing.collect_events(Engagement(
                case_id=envelope.case_id, referred_by="meeting",
                reason=f"会議の決定によるつなぎ / connected by meeting {payload.meeting_id}",
                referred_by_code=f"{MEETING_KIND}:{payload.meeting_type}",  # issue 18: which kind of meeting connected
            ))

    def _engagement(self, case_id: UUID) -> Engagement:
        engagement: Engagement = self.load(case_id, Engagement, "アウトリーチの関わり")
        return engagement


