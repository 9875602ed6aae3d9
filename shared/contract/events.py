"""The public event contract (CONTRACT.md) as pydantic models.

Integration events are not domain events: these models are what travels on the `JUSOU`
stream. They tolerate unknown fields (a newer producer may add some) and are never edited
once published: a change is a new `schema_version` beside the old one.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from typing import Annotated, Any, Literal, Self
from uuid import UUID

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    model_serializer,
    model_validator,
)

STREAM = "JUSOU"
SUBJECT_PREFIX = "jusou"
DEAD_LETTER_STREAM = "JUSOU_DLQ"
DEAD_LETTER_PREFIX = "jusou-dlq"
REPLAY_STREAM = "JUSOU_REPLAY"  # dead letters sent back to the consumer that parked them (`jusou deadletters replay`)
REPLAY_PREFIX = "jusou-replay"
SERVICES = ("intake", "collaboration", "meeting", "outreach", "participation", "community")
Source = Literal["intake", "collaboration", "meeting", "outreach", "participation", "community"]
MeetingType = Literal["jusou_shien_kaigi", "shien_kaigi"]
Decision = Literal["approved", "revision_requested", "returned_to_intake"]
Program = Literal["collaboration", "outreach", "participation"]


def subject_for(source: str, event_type: str) -> str:
    """`jusou.<service>.<EventType>`, the subject an event is published on."""
    return f"{SUBJECT_PREFIX}.{source}.{event_type}"


#: The payloads' bounds (session 20): every text and list of a public payload is bounded, as the HTTP edge bounds what
#: staff type (the services' request models: names and codes up to 500 characters, free texts up to 4,000, lists up to
#: `shared/web/limits.py` MAX_ITEMS = 50), with room to spare for what a translation adds (an event the suite publishes
#: always validates). A body over them (a 919 KB CaseEscalated was taken before) is dead-lettered by its consumer with
#: the reason (`invalid payload of …: … should have at most …`), and the consumer goes on.
NAME_MAX = 1_000
TEXT_MAX = 8_000
ITEMS_MAX = 100
#: Unknown fields (a newer producer's, kept by the tolerant reader) are bounded too: at most this many on one object,
#: each at most `EXTRA_MAX` characters of JSON.
EXTRAS_MAX = 20
EXTRA_MAX = TEXT_MAX

#: a name, a code or a short single value of a payload (an agency, a counter, a division, a person_ref, an area)
Name = Annotated[str, Field(max_length=NAME_MAX)]
#: a free text of a payload (a reason, a support direction, a goal, an evaluation's course)
Text = Annotated[str, Field(max_length=TEXT_MAX)]


def _bounded_extras(extra: dict[str, Any] | None) -> None:
    """Raise ValueError when the unknown fields of one object are over `EXTRAS_MAX` or one is over `EXTRA_MAX`."""
    if not extra:
        return
    if len(extra) > EXTRAS_MAX:
        raise ValueError(f"{len(extra)} unknown fields should have at most {EXTRAS_MAX} (the contract's bound)")
    for name, value in extra.items():
        size = len(name) + (len(value) if isinstance(value, str) else len(json.dumps(value, ensure_ascii=False,
                                                                                       default=str)))
        if size > EXTRA_MAX:
            raise ValueError(f"unknown field {name[:40]!r} should have at most {EXTRA_MAX} characters (the "
                             f"contract's bound), not {size}")


class _Tolerant(BaseModel):
    """Tolerant reader: unknown fields are kept, not refused (within `EXTRAS_MAX` and `EXTRA_MAX`)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    @model_validator(mode="after")
    def _extras_bounded(self) -> Self:
        _bounded_extras(self.__pydantic_extra__)
        return self


class Actor(_Tolerant):
    """Who caused an event: a staff member (`staff_id`, `division`) or a policy (`service`)."""

    staff_id: Name | None = None
    division: Name | None = None
    service: Name | None = None


class Envelope(_Tolerant):
    """Every message body on the bus (CONTRACT.md, "The envelope")."""

    event_id: UUID
    event_type: str = Field(min_length=1, max_length=100)
    schema_version: int = Field(ge=1)
    source: Source
    source_position: int = Field(ge=1)
    case_id: UUID
    occurred_at: AwareDatetime
    correlation_id: UUID
    causation_id: UUID | None
    actor: Actor
    payload: dict[str, Any]

    @property
    def subject(self) -> str:
        return subject_for(self.source, self.event_type)


# ---- payloads, version 1 -------------------------------------------------------------

#: Issue 18: events carry the municipality file's codes beside the names people read (shared/organisation). An
#: agency's code says which table of the file it is in: `division:<code>`, `counter:<code>`, `program:<code>` or
#: `partner:<code>` (a code is unique within its table only). A name the file did not know when the event was
#: recorded has no code (null). The names stay: a consumer that reads names keeps working.
AGENCY_CODE = ("the agency's code in the municipality file: division:<code>, counter:<code>, program:<code> or "
               "partner:<code>; null for a name the file did not know (added in place, issue 18)")
AREA_CODE = ("the 地区's code in the municipality file ([[areas]] code: a 日常生活圏域・福祉圏域, or the whole city); null "
             "or absent when the area is not one the file knows (free text finer than a 地区) (added in place, issue 18)")
FORUM_CODE = ("the forum's code in the municipality file: forum:<code> of [[forums]] (the 推進会議 among them, when the "
              "council decided the initiative); an agency's code (program:<code>…) when the forum named is an agency of the "
              "file, as initiatives recorded before [[forums]] carry; absent for a forum the file did not know (added in "
              "place, issue 18)")
REFERRER_CODE = ("who referred the person, as a code of the municipality file: an agency (division:<code>, counter:<code>, "
                 "program:<code>, partner:<code>), a referral source that is not an agency (referrer:<code>, [[referral_sources]]) "
                 "or the kind of meeting whose decision connected the person (meeting_kind:jusou_shien_kaigi or "
                 "meeting_kind:shien_kaigi); absent for a referrer the file did not know (added in place, issue 18)")
CONCERN_CODES = ("the concern fields' codes in the municipality file ([[concern_fields]] code), in the order of "
                 "`concerns`; null for a name the file did not know (added in place, issue 18)")


ConsultationRoute = Literal["visit", "phone", "home_visit", "from_agency", "from_others"]
#: 相談経路 (issue 15): how a consultation came in, as codes (the city's figures, #16)
CONSULTATION_ROUTES: dict[str, str] = {"visit": "来所", "phone": "電話", "home_visit": "訪問",
                                       "from_agency": "関係機関から", "from_others": "本人以外から"}
ConsultedBy = Literal["self", "family", "neighbour", "agency"]
#: 相談者 (issue 15): who consulted, as codes
CONSULTED_BY: dict[str, str] = {"self": "本人", "family": "家族", "neighbour": "近隣", "agency": "関係機関"}


class ConsultationReceivedV1(_Tolerant):
    """D1 D2: a consultation received at one of the six counters (相談受付).

    `route` and `consulted_by` (added in place, issue 15; absent from events recorded before) are the
    相談経路 and who consulted as codes (CONSULTATION_ROUTES, CONSULTED_BY); the reception's texts (主訴,
    相談概要) and the 相談日 never travel.

    `concern_codes` and `primary_agency_code` (added in place, issue 18; absent from events recorded before) are
    the codes of the municipality file (CONCERN_CODES, AGENCY_CODE) beside the names people read."""

    counter: Name
    division: Name
    channel: Name
    concerns: list[Name] = Field(max_length=ITEMS_MAX)
    person_ref: Name
    primary_agency: Name | None = None
    route: ConsultationRoute | None = None
    consulted_by: ConsultedBy | None = None
    concern_codes: list[Name | None] | None = Field(default=None, max_length=ITEMS_MAX, description=CONCERN_CODES)
    primary_agency_code: Name | None = Field(default=None, description=AGENCY_CODE)


ConsentCover = Literal["jusou_shien_kaigi", "related_agencies"]
#: What a consent covers (D9), read by the programs: sharing at the 重層的支援会議, or with the agencies
#: the case is connected or escalated to. A consent to one is not a consent to the other.
CONSENT_COVERS: dict[str, str] = {
    "jusou_shien_kaigi": "重層的支援会議での情報共有",
    "related_agencies": "関係機関（つなぎ先・プランの役割機関）との情報共有",
}


class ConsentRecordedV1(_Tolerant):
    """D9: consent (本人同意) given or withdrawn (`granted` = false).

    `scope` is the consent's wording; `covers` (added in place, optional for old events) says what it
    covers as codes (CONSENT_COVERS). An event without `covers` is read from its wording: it covers the
    重層的支援会議 only when the wording names it."""

    scope: Name
    granted: bool
    method: Name
    covers: list[ConsentCover] | None = Field(default=None, max_length=ITEMS_MAX)

    def covered(self) -> frozenset[str]:
        if self.covers is not None:
            return frozenset(self.covers)
        return frozenset({"jusou_shien_kaigi"}) if "重層的支援会議" in self.scope else frozenset()


class CaseConnectedV1(_Tolerant):
    """D3: the case is connected to another agency (つなぎ). `to_agency_code` added in place (issue 18)."""

    to_agency: Name
    reason: Text
    to_agency_code: Name | None = Field(default=None, description=AGENCY_CODE)


class CaseConnectionAnsweredV1(_Tolerant):
    """D3 D11: the agency a case was connected to accepts it (and becomes primary) or declines.
    `to_agency_code` added in place (issue 18)."""

    to_agency: Name
    accepted: bool
    reason: Text
    to_agency_code: Name | None = Field(default=None, description=AGENCY_CODE)


class CaseEscalatedV1(_Tolerant):
    """D3 D11: a complex or compound case escalated to collaboration (多機関協働)."""

    reason: Text
    concerns: list[Name] = Field(max_length=ITEMS_MAX)
    primary_agency: Name
    household_ref: UUID | None = None  # D16 (added in place, issue 15): the household's pseudonymous ref
    related_case_ids: list[UUID] | None = Field(default=None, max_length=ITEMS_MAX)  # D16 (added in place): the household's other cases, one plan
    concern_codes: list[Name | None] | None = Field(default=None, max_length=ITEMS_MAX, description=CONCERN_CODES)  # issue 18, in place
    primary_agency_code: Name | None = Field(default=None, description=AGENCY_CODE)  # issue 18, in place


#: CaseEscalated v2 `reason_code`: why a case needs 多機関協働, with its Japanese label.
#: `unclassified` only ever comes from upcasting a v1 event, which had free text alone.
ESCALATION_REASONS: dict[str, str] = {
    "compound": "複合化",  # several fields' problems at once (介護 and 困窮 and …)
    "complex": "複雑化",  # problems entangled, to be untangled together
    "beyond_single_agency": "単独の支援機関では対応困難",
    "unclassified": "未分類",
}
EscalationReason = Literal["compound", "complex", "beyond_single_agency", "unclassified"]


class CaseEscalatedV2(_Tolerant):
    """D3 D11: v2 of CaseEscalated; v1's free-text `reason` split into a code and the text (upcast from v1)."""

    reason_code: EscalationReason = Field(
        description="; ".join(f"{code}: {label}" for code, label in ESCALATION_REASONS.items())
    )
    reason_text: Text
    concerns: list[Name] = Field(max_length=ITEMS_MAX)
    primary_agency: Name
    # Household escalation (added in place, issue 15; absent from events recorded before): the
    # household's pseudonymous ref (a random UUID intake gives the 世帯, never a person's id or name)
    # and the ids of the household's other cases escalated together, so collaboration holds them as one plan.
    household_ref: UUID | None = None
    related_case_ids: list[UUID] | None = Field(default=None, max_length=ITEMS_MAX)
    # The municipality file's codes beside the names (added in place, issue 18; absent from events recorded before)
    concern_codes: list[Name | None] | None = Field(default=None, max_length=ITEMS_MAX, description=CONCERN_CODES)
    primary_agency_code: Name | None = Field(default=None, description=AGENCY_CODE)


class CollaborationStartedV1(_Tolerant):
    """D3 D11: collaboration (多機関協働) opened its case on an escalation; the primary agency stays.
    `primary_agency_code` added in place (issue 18)."""

    reason: Text
    primary_agency: Name
    primary_agency_code: Name | None = Field(default=None, description=AGENCY_CODE)


class Role(_Tolerant):
    """D4: one agency's part in a plan (役割分担). `agency_code` (added in place, issue 18) is left out of the
    JSON when absent, so a role recorded before it is published as it was."""

    agency: Name
    responsibility: Text
    contact: Name | None = None
    agency_code: Name | None = Field(default=None, description=AGENCY_CODE)

    @model_serializer(mode="wrap")
    def _without_absent_code(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        dumped: dict[str, Any] = handler(self)
        if dumped.get("agency_code", "") is None:
            del dumped["agency_code"]
        return dumped


class PlanProposedV1(_Tolerant):
    """D4 D6: a plan (プラン) proposed to the meeting by its owning program."""

    plan_id: UUID
    program: Program
    revision: int = Field(ge=1)
    support_direction: Text
    goals: list[Text] = Field(max_length=ITEMS_MAX)
    roles: list[Role] = Field(max_length=ITEMS_MAX)
    starts_on: date | None = None  # plan period (added in place): 開始日
    review_on: date | None = None  # plan period (added in place): 見直し予定日


class PlanClosureRequestedV1(_Tolerant):
    """D7: the plan owner asks the meeting to evaluate and end a plan."""

    plan_id: UUID
    program: Program | None = None
    progress: Text


class OutreachStartedV1(_Tolerant):
    """D12: outreach (アウトリーチ) begins for a case, possibly before any escalation. `referred_by` is the referrer's
    name as people read it (`meeting` for a meeting's decision); `referred_by_code` (added in place, issue 18) its code."""

    referred_by: Name
    reason: Text
    referred_by_code: Name | None = Field(default=None, description=REFERRER_CODE)


class OutreachHandedOverV1(_Tolerant):
    """D12: outreach hands the person on to intake, collaboration or participation."""

    to_program: Literal["intake", "collaboration", "participation"]
    reason: Text
    primary_agency: Name | None = None
    counter: Name | None = None  # to intake: the counter that will receive the person
    primary_agency_code: Name | None = Field(default=None, description=AGENCY_CODE)  # issue 18, in place


class ParticipationStartedV1(_Tolerant):
    """D13: participation support (参加支援) begins, usually from a meeting's connect_to. `referred_by` is `outreach` or
    `meeting:<meeting_id>`; `referred_by_code` (added in place, issue 18) is `program:outreach` or
    `meeting_kind:<meeting_type>` (REFERRER_CODE). `needs` are the staff's words (free text)."""

    referred_by: Name
    needs: list[Text] = Field(default=[], max_length=ITEMS_MAX)
    referred_by_code: Name | None = Field(default=None, description=REFERRER_CODE)


class ResourceMatchedV1(_Tolerant):
    """D13: a local resource matched to the person (居場所, 就労, 住居…). `provider_code` (added in place, issue 18): the
    provider's agency code when it is an agency of the municipality file (an NPO of its own name has none)."""

    resource_kind: Name
    resource_id: Name
    provider: Name | None = None
    provider_code: Name | None = Field(default=None, description=AGENCY_CODE)


class ResourceShortageReportedV1(_Tolerant):
    """D8 D13: participation found no resource for a need. `need` and `description` are the staff's words (free
    text); `area_code` (added in place, issue 18) the 地区 of the municipality file the area is."""

    need: Name
    area: Name
    description: Text
    area_code: Name | None = Field(default=None, description=AREA_CODE)


class MeetingDecidedV1(_Tolerant):
    """D5 D10: a consensus decision (合議) on a plan, by one of the two meeting types.

    A 支援会議's reasons never travel (CONTRACT "Confidential content never travels"): its
    `reasons` is empty on the bus; the minutes stay with the meeting service and its members."""

    meeting_id: UUID
    meeting_type: MeetingType
    plan_id: UUID
    decision: Decision
    attendees: list[Name] = Field(max_length=ITEMS_MAX)
    reasons: Text
    connect_to: list[Literal["outreach", "participation"]] = Field(default=[], max_length=ITEMS_MAX)
    program: Program | None = None
    revision: int | None = None
    #: the attendees' codes, in the same order (added in place, issue 18; absent from events recorded before)
    attendee_codes: list[Name | None] | None = Field(default=None, max_length=ITEMS_MAX, description=AGENCY_CODE)


class MeetingCaseTakenUpV1(_Tolerant):
    """D10 D9: a sitting took up the case (議題にした). It names which divisions of the city sat as its
    members (codes), never what was said: intake reads a 支援会議 basis of disclosure from it.
    """

    meeting_id: UUID
    meeting_type: MeetingType
    held_on: date
    member_divisions: list[Name] = Field(max_length=ITEMS_MAX)


class CaseReturnedToIntakeV1(_Tolerant):
    """D5 D11: the meeting returns the case to intake as its primary agency (主担当)."""

    meeting_id: UUID
    primary_agency: Name
    reason: Text
    primary_agency_code: Name | None = Field(default=None, description=AGENCY_CODE)  # issue 18, in place


ClosingOutcome = Literal["resolved", "handed_over", "person_ended", "moved", "died", "unreachable"]
#: 対応終了の結果 (issue 15)
CLOSING_OUTCOMES: dict[str, str] = {"resolved": "解決", "handed_over": "他機関へ引継ぎ", "person_ended": "本人の意思で終了",
                                    "moved": "転居", "died": "死亡", "unreachable": "連絡不能"}


class IntakeCaseClosedV1(_Tolerant):
    """対応終了 (issue 15): intake closed a case it handled itself (never escalated, returned from the
    meeting, or received from an outreach referral), with an outcome as a code (CLOSING_OUTCOMES). The
    staff member's note stays in intake."""

    outcome: ClosingOutcome = Field(description="; ".join(f"{code}: {label}" for code, label in CLOSING_OUTCOMES.items()))


class GoalResult(_Tolerant):
    """D7: how one goal of the plan went."""

    goal: Text
    result: Literal["achieved", "partly_achieved", "not_achieved"]
    note: Text = ""


class Evaluation(_Tolerant):
    """D7: the course and outcome of support (評価), goal by goal."""

    course: Text
    outcome: Text
    goals: list[GoalResult] = Field(default=[], max_length=ITEMS_MAX)


class PlanClosedV1(_Tolerant):
    """D7: the meeting ends the plan (終結)."""

    plan_id: UUID
    meeting_id: UUID
    evaluation: Evaluation
    program: Program | None = None
    meeting_type: MeetingType | None = None  # which kind of meeting evaluated (a 支援会議 sends no content)


class PlanSuspendedV1(_Tolerant):
    """D7: the meeting suspends the plan (中断); it can be resumed later."""

    plan_id: UUID
    meeting_id: UUID
    evaluation: Evaluation
    reason: Text
    program: Program | None = None
    meeting_type: MeetingType | None = None  # which kind of meeting evaluated (a 支援会議 sends no content)


class PlanContinuedV1(_Tolerant):
    """D7: the meeting continues the plan with a new review date."""

    plan_id: UUID
    meeting_id: UUID
    evaluation: Evaluation
    next_review_on: date
    program: Program | None = None
    meeting_type: MeetingType | None = None  # which kind of meeting evaluated (a 支援会議 sends no content)


class PlanResumedV1(_Tolerant):
    """D7 D9: the 重層的支援会議 resumes a suspended plan (中断 → 再開) once the person's consent to share
    at the 重層的支援会議 is given again; the plan is active again for everyone who follows it."""

    plan_id: UUID
    meeting_id: UUID
    meeting_type: MeetingType
    reason: Text
    program: Program | None = None


class ResourceGapIdentifiedV1(_Tolerant):
    """D8: a need with no local resource, recorded as a regional issue (地域の課題). `area_code` added in place (issue 18)."""

    need: Name
    area: Name
    description: Text
    area_code: Name | None = Field(default=None, description=AREA_CODE)


class RegionalIssueOpenedV1(_Tolerant):
    """D8: community (地域づくり) takes up a resource gap or shortage."""

    issue_id: UUID
    need: Name
    area: Name
    origin_event_id: UUID
    area_code: Name | None = Field(default=None, description=AREA_CODE)  # issue 18, in place: the gap's or shortage's


class InitiativeStartedV1(_Tolerant):
    """D8: an initiative takes a regional issue up in a forum of its own (資源開発の協議の場). `forum` names a 協議の場 as
    people read it (one of the municipality file's [[forums]], or a forum written freely); `forum_code` (added in place,
    issue 18) is its code when it is one (FORUM_CODE)."""

    issue_id: UUID
    forum: Name
    summary: Text
    forum_code: Name | None = Field(default=None, description=FORUM_CODE)


class ResourceDevelopedV1(_Tolerant):
    """D8 D13: community registered a new local resource; participation's catalogue learns of it from this alone.

    `kind` is a code of `shared.organisation.reference.RESOURCE_KINDS` (ibasho, shuro, jukyo, other). The resource's
    name travels as `resource_name`: no payload field is called `name` (that is a person's, never on the bus).
    """

    resource_id: UUID
    kind: Name
    resource_name: Name
    provider: Name
    area: Name
    capacity: int | None = None
    issue_id: UUID | None = None
    #: the provider's and the area's codes in the municipality file (added in place, issue 18; absent when not one)
    provider_code: Name | None = Field(default=None, description=AGENCY_CODE)
    area_code: Name | None = Field(default=None, description=AREA_CODE)


class PlacementStartedV1(_Tolerant):
    """D13: the person starts at a matched resource (参加の開始)."""

    resource_id: Name
    started_on: date


class PlacementReviewedV1(_Tolerant):
    """D13: how a placement went: settled (定着), ongoing (継続中), interrupted (中断) or ended (終了)."""

    resource_id: Name
    outcome: Name
    note: Text = ""


class PromotionCouncilDecidedV1(_Tolerant):
    """D8: the 推進会議 (the municipality's council for the 重層的支援体制; its name is the municipality file's) decided on
    a resource gap it took up (「社会資源の開発は別に協議の場を設ける」):
    start an initiative, ask a division (依頼先), or keep it under discussion (継続審議). Codes and general text only."""

    sitting_id: UUID
    gap_id: UUID
    origin_event_id: UUID | None = None  # the ResourceGapIdentified / ResourceShortageReported event it answers
    need: Name
    area: Name
    decision: Literal["initiative", "request", "deferred"]
    division: Name | None = None  # 依頼先: a division code, for a request
    summary: Text = ""  # the initiative or the request's content (no personal information)
    area_code: Name | None = Field(default=None, description=AREA_CODE)  # issue 18, in place: the gap's 地区


#: Optional fields added to a published version in place (tolerant readers ignore them): when a
#: translation leaves one out, it is left out of the payload too, so an event recorded before the field
#: existed is published byte for byte as it was (`jusou audit verify` compares the bytes).
ADDED_IN_PLACE = frozenset({"covers", "meeting_type", "starts_on", "review_on", "route", "consulted_by",
                            "household_ref", "related_case_ids", "concern_codes", "primary_agency_code",
                            "to_agency_code", "attendee_codes", "referred_by_code", "provider_code", "area_code",
                            "forum_code"})



def codes_of(event: Any, *names: str) -> dict[str, Any]:
    """The code fields (issue 18, added in place) a recorded domain event has, for a translation: a field the event
    does not have (recorded before) or has empty is left out, so the event is published as it was."""
    return {name: value for name in names if (value := getattr(event, name, None))}


REGISTRY: dict[tuple[str, int], type[BaseModel]] = {
    ("ConsultationReceived", 1): ConsultationReceivedV1,
    ("ConsentRecorded", 1): ConsentRecordedV1,
    ("CaseConnected", 1): CaseConnectedV1,
    ("CaseConnectionAnswered", 1): CaseConnectionAnsweredV1,
    ("CaseEscalated", 1): CaseEscalatedV1,
    ("CaseEscalated", 2): CaseEscalatedV2,
    ("CollaborationStarted", 1): CollaborationStartedV1,
    ("PlanProposed", 1): PlanProposedV1,
    ("PlanClosureRequested", 1): PlanClosureRequestedV1,
    ("OutreachStarted", 1): OutreachStartedV1,
    ("OutreachHandedOver", 1): OutreachHandedOverV1,
    ("ParticipationStarted", 1): ParticipationStartedV1,
    ("ResourceMatched", 1): ResourceMatchedV1,
    ("ResourceShortageReported", 1): ResourceShortageReportedV1,
    ("MeetingDecided", 1): MeetingDecidedV1,
    ("CaseReturnedToIntake", 1): CaseReturnedToIntakeV1,
    ("IntakeCaseClosed", 1): IntakeCaseClosedV1,
    ("MeetingCaseTakenUp", 1): MeetingCaseTakenUpV1,
    ("PlanClosed", 1): PlanClosedV1,
    ("PlanSuspended", 1): PlanSuspendedV1,
    ("PlanContinued", 1): PlanContinuedV1,
    ("PlanResumed", 1): PlanResumedV1,
    ("ResourceGapIdentified", 1): ResourceGapIdentifiedV1,
    ("RegionalIssueOpened", 1): RegionalIssueOpenedV1,
    ("InitiativeStarted", 1): InitiativeStartedV1,
    ("ResourceDeveloped", 1): ResourceDevelopedV1,
    ("PlacementStarted", 1): PlacementStartedV1,
    ("PlacementReviewed", 1): PlacementReviewedV1,
    ("PromotionCouncilDecided", 1): PromotionCouncilDecidedV1,
}


#: Which services publish each event type on `jusou.<source>.<EventType>` (CONTRACT.md; each service's
#: relay, its `translate.py`, holds to it). A consumer subscribes to an event type from these sources.
PRODUCERS: dict[str, tuple[str, ...]] = {
    "ConsultationReceived": ("intake",),
    "ConsentRecorded": ("intake",),
    "CaseConnected": ("intake",),
    "CaseConnectionAnswered": ("intake",),
    "CaseEscalated": ("intake",),
    "IntakeCaseClosed": ("intake",),
    "CollaborationStarted": ("collaboration",),
    "PlanProposed": ("collaboration", "outreach", "participation"),
    "PlanClosureRequested": ("collaboration", "outreach", "participation"),
    "OutreachStarted": ("outreach",),
    "OutreachHandedOver": ("outreach",),
    "ParticipationStarted": ("participation",),
    "ResourceMatched": ("participation",),
    "ResourceShortageReported": ("participation",),
    "PlacementStarted": ("participation",),
    "PlacementReviewed": ("participation",),
    "MeetingDecided": ("meeting",),
    "CaseReturnedToIntake": ("meeting",),
    "MeetingCaseTakenUp": ("meeting",),
    "PlanClosed": ("meeting",),
    "PlanSuspended": ("meeting",),
    "PlanContinued": ("meeting",),
    "PlanResumed": ("meeting",),
    "ResourceGapIdentified": ("meeting",),
    "RegionalIssueOpened": ("community",),
    "InitiativeStarted": ("community",),
    "ResourceDeveloped": ("community",),
    "PromotionCouncilDecided": ("collaboration",),
}


def event_type_of(model: type[BaseModel]) -> tuple[str, int]:
    """The (event_type, schema_version) a payload model is registered as."""
    for key, registered in REGISTRY.items():
        if registered is model:
            return key
    raise LookupError(f"{model.__name__} is not an event of the contract")


class PoisonMessage(ValueError):
    """A message that can never be processed: it goes to the dead-letter subject with `reason`."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def parse(body: bytes) -> tuple[Envelope, BaseModel]:
    """Decode and validate one message body; raise PoisonMessage saying what is wrong.

    The envelope is read by pydantic's own JSON parser first (one step, about 7 µs against 25 for `json.loads` and
    validating the result: issue 19); a body it refuses (not JSON, not an envelope, or a lone surrogate that
    `json.loads` would take) is read again the plain way, which takes it or says what is wrong as it always did.
    Both give the same envelope for every body both take (tests/unit/test_parse_fast.py)."""
    try:
        envelope = Envelope.model_validate_json(body)
    except ValidationError:
        envelope = _envelope_plainly(body)
    model = REGISTRY.get((envelope.event_type, envelope.schema_version))
    if model is None:
        raise PoisonMessage(
            f"unknown event {envelope.event_type} v{envelope.schema_version}"
        )
    try:
        payload = model.model_validate(envelope.payload)
    except ValidationError as exc:
        raise PoisonMessage(
            f"invalid payload of {envelope.event_type} v{envelope.schema_version}: {_errors(exc)}"
        ) from exc
    return envelope, payload


def _envelope_plainly(body: bytes) -> Envelope:
    """The envelope read with `json.loads`, then validated: `parse`'s reasons for a body that is not one."""
    try:
        raw = json.loads(body.decode("utf-8"))
    except (ValueError, RecursionError) as exc:  # not UTF-8, not JSON, a number over 4300 digits, nested too deep
        raise PoisonMessage(f"body is not UTF-8 JSON: {type(exc).__name__}: {exc}") from exc
    try:
        return Envelope.model_validate(raw)
    except ValidationError as exc:
        raise PoisonMessage(f"invalid envelope: {_errors(exc)}") from exc


def _case_escalated_v1_to_v2(v1: BaseModel) -> BaseModel:
    if not isinstance(v1, CaseEscalatedV1):
        raise TypeError(f"CaseEscalated v1 upcaster got {type(v1).__name__}")
    extra = {k: v for k, v in (v1.model_extra or {}).items() if k not in CaseEscalatedV2.model_fields}
    codes = {k: getattr(v1, k) for k in ("concern_codes", "primary_agency_code") if getattr(v1, k) is not None}
    return CaseEscalatedV2(reason_code="unclassified", reason_text=v1.reason, concerns=v1.concerns,
                           primary_agency=v1.primary_agency, household_ref=v1.household_ref,
                           related_case_ids=v1.related_case_ids, **codes, **extra)


#: (event_type, version) → the step that raises a payload of that version to the next one.
UPCASTERS: dict[tuple[str, int], Callable[[BaseModel], BaseModel]] = {
    ("CaseEscalated", 1): _case_escalated_v1_to_v2,
}


def latest_version(event_type: str) -> int:
    """The newest schema_version of an event type in the registry."""
    return max(version for (name, version) in REGISTRY if name == event_type)


def upcast(envelope: Envelope, payload: BaseModel) -> tuple[Envelope, BaseModel]:
    """Raise a parsed event to the newest version of its type, one step at a time (v1 → v2 → …).

    For consumers that want to handle only the latest version; `parse` itself returns what was
    published. The event stays the same event: `event_id`, `source_position` and the rest of the
    envelope are unchanged, only `schema_version` and `payload` move on.
    """
    while (step := UPCASTERS.get((envelope.event_type, envelope.schema_version))) is not None:
        payload = step(payload)
        envelope = envelope.model_copy(update={
            "schema_version": envelope.schema_version + 1, "payload": payload.model_dump(mode="json"),
        })
    return envelope, payload


def _errors(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or '(root)'}: {_message(err)}" for err in exc.errors()
    )


def _message(err: Any) -> str:
    """pydantic's message, said plainly where it is obscure: a bounded text holding a lone surrogate (which pydantic
    cannot measure) is named as such, as the inbox names one in an unbounded text (shared/messaging/inbox.py `read`)."""
    if err["type"] == "string_unicode":
        return "holds a lone surrogate, half of a UTF-16 pair: not Unicode text (CONTRACT.md: text is UTF-8)"
    return str(err["msg"])


def envelope_json(envelope: Envelope) -> bytes:
    return envelope.model_dump_json().encode("utf-8")


#: The JSON Schema dialect pydantic writes, and the `$id` of each published schema (file name without `.json`).
SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def schema_id(name: str) -> str:
    """`urn:jusou:schema:Envelope`, `urn:jusou:schema:CaseEscalated.v2`: the `$id` of a published JSON Schema
    (also the CloudEvents `dataschema` the relay sends: the Envelope's)."""
    return f"urn:jusou:schema:{name}"


def json_schemas() -> dict[str, dict[str, Any]]:
    """File name → JSON Schema, for the envelope and every (event, version) in the registry, each with `$schema` and `$id`."""
    schemas = {"Envelope.json": {"$schema": SCHEMA_DIALECT, "$id": schema_id("Envelope"), **Envelope.model_json_schema()}}
    for (event_type, version), model in sorted(REGISTRY.items()):
        name = f"{event_type}.v{version}"
        schemas[f"{name}.json"] = {"$schema": SCHEMA_DIALECT, "$id": schema_id(name), **model.model_json_schema()}
    return schemas

