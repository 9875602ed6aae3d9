"""The meeting's HTTP door."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.meeting.application import MeetingApplication
from services.meeting.domain import NO_ATTENDEES, CaseLearning, Meeting, PlanReview
from shared.domain.areas import AREA_CODE_PATTERN
from shared.web.answers import answer, json_of
from shared.web.deps import Staff, Who, application
from shared.web.if_match import etag_header, etag_of, held_to, if_match_header, precondition_failed
from shared.web.limits import MAX_ITEMS, Name, NearDate, ShortName, Text
from shared.web.paging import PAGING_HEADERS, Cursor, Limit, catalogue_order, page
from shared.web.policy import requires

App = Annotated[MeetingApplication, Depends(application(MeetingApplication))]
Reader = Who  # the signed-in staff member (shared/web/deps.py: no thread hop)
router = APIRouter(tags=["meeting"])

#: said when a gap's form is sent with a field left empty (the page's words, the API's too)
GAP_FIELDS = {"case_id": "ケース", "need": "不足している資源", "area": "地域", "description": "内容"}


# -- commands (the JSON body and the division UI's form alike) -------------------------------------


class PersonIn(BaseModel):
    """出席者: a person present, by name and agency (staff's personal information: kept in the meeting's store)."""

    name: ShortName = Field(title="氏名", description="出席者の氏名")
    agency: ShortName = Field(title="所属機関", description="出席機関のいずれか")


class SittingIn(BaseModel):
    """開催の記録: time, place, the people present, the chair (議長) and the recorder (記録者)."""

    starts_at: str = Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$", title="開始時刻", description="HH:MM")
    ends_at: str = Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$", title="終了時刻", description="HH:MM")
    place: ShortName = Field(title="開催場所")
    present: list[PersonIn] = Field(min_length=1, max_length=MAX_ITEMS, title="出席者", description="氏名と所属機関")
    chair: ShortName = Field(title="議長", description="出席者の氏名")
    recorder: ShortName = Field(title="記録者", description="出席者の氏名")


class MeetingIn(BaseModel):
    """開催 (D5, D10): a sitting of the 重層的支援会議 or the 支援会議 with its attendees; with its time, place,
    people present, chair and recorder (`sitting`) and the plans on its agenda in order (`agenda`) when known."""

    meeting_type: Literal["jusou_shien_kaigi", "shien_kaigi"] = Field(title="会議の種類",
                                                                      description="重層的支援会議 / 支援会議")
    held_on: NearDate = Field(title="開催日", description="開催日 (within 5 years of today)")
    attendees: list[ShortName] = Field(min_length=1, max_length=MAX_ITEMS, title="出席機関", description="出席機関")
    sitting: SittingIn | None = Field(default=None, title="開催の記録", description="時刻・場所・出席者・議長・記録者")
    agenda: list[UUID] = Field(default_factory=list, max_length=MAX_ITEMS, title="議事次第",
                               description="議題にするプラン (plan ids, in order)")

    @model_validator(mode="before")
    @classmethod
    def _attended(cls, data: Any) -> Any:
        """D5: a sitting has attendees; a form with none ticked says so in the page's words."""
        if isinstance(data, dict) and not data.get("attendees"):
            raise ValueError(NO_ATTENDEES)
        return data


class PositionIn(BaseModel):
    """One attending agency's position as given: 賛成, 異議 (with its reason), 保留, 意見 (with its text)."""

    agency: Name = Field(min_length=1, max_length=200, title="機関")
    position: Literal["agree", "object", "reserve", "comment"] = Field(
        title="意見", description="賛成 agree / 異議 object (blocks approval only) / 保留 reserve / 意見 comment")
    reason: Text = Field(default="", max_length=2000, title="異議の理由・意見の内容")


class DecisionIn(BaseModel):
    """合議による決定 (D5, D9): the JSON body and the decision form alike (the form sends one position per
    attendee as position-N / reason-N, read into `positions`)."""

    plan_id: UUID = Field(title="議題のプラン")
    decision: Literal["approved", "revision_requested", "returned_to_intake"] = Field(title="決定")
    reasons: Text = Field(min_length=1, max_length=4000, title="決定の理由", description="理由")
    positions: list[PositionIn] = Field(default_factory=list, max_length=MAX_ITEMS, title="各出席機関の意見",
                                        description="各出席機関の意見 (D5): every attendee's position as given; "
                                                    "an objection blocks approval only")
    all_agree: bool = Field(default=False, title="全員賛成",
                            description="全員賛成: records 賛成 for every attendee in one step (send no positions)")
    connect_to: list[Literal["outreach", "participation"]] = Field(default_factory=list, max_length=2,
                                                                   title="あわせてつなぐ")
    primary_agency: Name | None = Field(default=None, max_length=200, title="主担当機関",
                                        description="returned_to_intake: 主担当")


class GoalResultIn(BaseModel):
    goal: Text = Field(min_length=1, max_length=2000, title="目標", description="プランの目標")
    result: Literal["achieved", "partly_achieved", "not_achieved"] = Field(title="達成度",
                                                                           description="達成 / 一部達成 / 未達成")
    note: Text = Field(default="", max_length=4000, title="経過・所見", description="経過")

    @model_validator(mode="before")
    @classmethod
    def _rated(cls, data: Any) -> Any:
        """D7: each goal is rated; an unrated one is named (the form sends its row without a result)."""
        if isinstance(data, dict) and not data.get("result"):
            raise ValueError(f"目標ごとに達成度を選んでください: {data.get('goal', '')} / rate every goal (D7)")
        return data


class EvaluationIn(BaseModel):
    """終結評価 (D7): the JSON body and the evaluation form alike (the form sends goal, result-N, note-N
    per goal, read into `goal_results`)."""

    plan_id: UUID = Field(title="議題のプラン")
    outcome: Literal["closed", "suspended", "continued"] = Field(title="評価の結果", description="終結 / 中断 / 継続")
    course: Text = Field(min_length=1, max_length=4000, title="支援の経過", description="支援の経過")
    result: Text = Field(min_length=1, max_length=4000, title="支援の成果", description="支援の成果")
    reason: Text = Field(default="", max_length=2000, title="中断の理由")
    next_review_on: NearDate | None = Field(default=None, title="次回の見直し日",
                                            description="次回の見直し日 (within 5 years of today)")
    goal_results: list[GoalResultIn] = Field(max_length=MAX_ITEMS, title="目標ごとの評価",
                                             description="目標ごとの評価 (D7): one per goal of the plan")


class ResumeIn(BaseModel):
    """再開 (D7 D9): the 重層的支援会議 resumes a suspended plan once consent was given again; the JSON body
    and the resumption form alike."""

    plan_id: UUID = Field(title="中断中のプラン")
    reason: Text = Field(min_length=1, max_length=2000, title="再開の理由",
                         description="再開の理由 (the reason of the suspension is gone)")


class GapIn(BaseModel):
    """地域の課題 (D8): the JSON body and the gap form alike."""

    case_id: UUID = Field(title="ケース")
    need: Name = Field(min_length=1, max_length=200, title="不足している資源")
    area: Name = Field(default="", max_length=200, title="地域",
                       description="地域（自由記述: 〇〇町など）; 地区を選んだときは空でも可（地区の名前）")
    description: Text = Field(min_length=1, max_length=4000, title="内容")
    area_code: str | None = Field(default=None, pattern=AREA_CODE_PATTERN, title="地区",
                                  description="地区のコード（自治体ファイルの [[areas]]）: ResourceGapIdentified の area_code。"
                                  "省略時は地域の名前がファイルの地区ならそのコード")

    @model_validator(mode="before")
    @classmethod
    def _complete(cls, data: Any) -> Any:
        """Every field is needed; a form sent with some left empty names them."""
        if isinstance(data, dict):
            empty = [title for name, title in GAP_FIELDS.items()
                     if not data.get(name) and not (name == "area" and data.get("area_code"))]  # a 地区 names the area
            if empty:
                raise ValueError(f"ケース・不足している資源・地域・内容をすべて入力してください（未入力: {'、'.join(empty)}）"
                                 " / fill in every field")
        return data


class AgendaIn(BaseModel):
    """議事次第: a plan (one the meeting was sent) or a case put on the sitting's agenda, after the others."""

    plan_id: UUID | None = Field(default=None, title="プラン")
    case_id: UUID | None = Field(default=None, title="ケース番号")


class LearningIn(BaseModel):
    """事例の学び (ノウハウの持ち帰り): in general terms, no personal information (no name, phone, address)."""

    plan_id: UUID = Field(title="プラン", description="この会議で決定または終結評価をしたプラン")
    situation: Text = Field(min_length=1, max_length=2000, title="状況（一般化して）",
                            description="the situation in general terms: no name, phone, address")
    worked: Text = Field(min_length=1, max_length=2000, title="有効だった支援", description="what worked")
    agencies: list[ShortName] = Field(default_factory=list, max_length=MAX_ITEMS, title="関わった機関")
    resources: list[ShortName] = Field(default_factory=list, max_length=MAX_ITEMS, title="活用した資源")
    concerns: list[ShortName] = Field(min_length=1, max_length=MAX_ITEMS, title="相談の分野",
                                      description="concern field codes (GET /reference/concerns)")


class TakeUpIn(BaseModel):
    """議題にする (D10)."""

    case_id: UUID = Field(title="ケース番号", description="議題にするケース (the case's id, the same in every program)")


# -- answers --------------------------------------------------------------------------------------


class AgendaItemOut(BaseModel):
    """議題: a plan as the meeting knows it, with the plan's summary as proposed (support_direction, goals, roles)."""

    model_config = ConfigDict(extra="allow")

    plan_id: UUID
    case_id: UUID
    program: str
    revision: int
    status: str = Field(description="proposed / closure_requested (on the agenda); approved, revision_requested, "
                                    "returned, closed, suspended, continued, resumed (settled)")
    progress: str = Field(description="経過 (with a closure request)")


class ConsentOut(BaseModel):
    """本人同意 as the meeting last heard it (D9); `given` only once one was heard."""

    case_id: UUID
    granted: bool = Field(description="the consent covers the 重層的支援会議")
    given: bool | None = Field(default=None, description="consent was given (whatever it covers)")
    scope: str | None
    covers: list[str]
    heard: bool


class ConvenedOut(BaseModel):
    meeting_id: UUID


class TakenUpOut(BaseModel):
    meeting_id: UUID
    case_id: UUID
    cases: list[str] = Field(description="every case the sitting took up")


class MinuteOut(BaseModel):
    """One entry of the minutes: its kind and what the kind records."""

    model_config = ConfigDict(extra="allow")

    kind: Literal["decision", "returned_to_intake", "evaluation", "resumption", "resource_gap"]


class PersonOut(BaseModel):
    name: str
    agency: str


class SittingOut(BaseModel):
    """開催の記録 (shown to those who may read the sitting's record; never on the bus)."""

    starts_at: str
    ends_at: str
    place: str
    present: list[PersonOut]
    chair: str
    recorder: str


class AgendaEntryOut(BaseModel):
    kind: Literal["plan", "case"]
    ref: UUID = Field(description="the plan's or the case's id")
    case_id: UUID


class MeetingOut(BaseModel):
    """会議録: the sitting and its minutes (a 支援会議's only for its members, D10)."""

    meeting_id: UUID
    meeting_type: str
    held_on: date
    attendees: list[str]
    minutes: list[MinuteOut]
    cases: list[str]
    confidential: bool
    sitting: SittingOut | None = None
    agenda: list[AgendaEntryOut] = []


class LearningOut(BaseModel):
    """事例の学び as the 事例集 shows it to every counter (no personal information, no case)."""

    learning_id: UUID
    meeting_id: UUID
    meeting_type: str
    held_on: date
    situation: str
    worked: str
    agencies: list[str]
    resources: list[str]
    concerns: list[str]
    shared_with: list[str] = Field(description="持ち帰り: the attending agencies that received it")
    recorded_at: str


class LearningRecordedOut(BaseModel):
    learning_id: UUID


class DecidedOut(BaseModel):
    plan_id: UUID
    decision: str


class EvaluatedOut(BaseModel):
    plan_id: UUID
    outcome: str


class ResumedOut(BaseModel):
    plan_id: UUID
    status: Literal["resumed"]


class RecordedOut(BaseModel):
    status: Literal["recorded"]


# -- routes ---------------------------------------------------------------------------------------


@router.get("/agenda", dependencies=[requires("meeting.agenda.read")], responses={200: {"headers": PAGING_HEADERS}})
def agenda(app: App, who: Reader, request: Request, response: Response, limit: Limit = None,
           cursor: Cursor = None) -> list[AgendaItemOut]:
    """議題: plans awaiting a decision or a closure evaluation, oldest first; paged by `limit` and `cursor` (a keyset:
    a plan decided meanwhile leaves the agenda and makes no other plan skipped)."""
    rows = page(app.scoped(app.agenda(), who), limit, cursor, request, response,
                catalogue_order(lambda: app.ids_of(PlanReview), "plan_id"))
    return [AgendaItemOut.model_validate(item) for item in rows]


@router.get("/agenda/{plan_id}", dependencies=[requires("meeting.agenda.read")], response_model=AgendaItemOut)
def agenda_item(plan_id: UUID, app: App) -> Response:
    """議題のプラン: one plan the meeting was sent (its row of `GET /agenda`), by the plan's id."""
    review = app.listed(plan_id)  # (kept: its answer made once for it, shared/web/answers.py)
    return answer(review, "agenda_item", lambda: AgendaItemOut.model_validate(review.view()))


@router.get("/consents/{case_id}", dependencies=[requires("meeting.consents.read")], response_model=ConsentOut,
            response_model_exclude_unset=True)
def consent(case_id: UUID, app: App) -> Response:
    """本人同意の有無 (D9): whether the 重層的支援会議 may discuss the case."""
    heard = app.consent_of(case_id)
    if heard is None:  # none heard yet: nothing kept to make it for
        return Response(json_of(ConsentOut.model_validate(app.consent_view_of(case_id, None)), exclude_unset=True),
                        media_type="application/json")
    return answer(heard, "consent", lambda: ConsentOut.model_validate(app.consent_view_of(case_id, heard)),
                  exclude_unset=True)


@router.post("/meetings", status_code=201, dependencies=[requires("meeting.convene")])
def convene(body: MeetingIn, app: App, actor: Staff) -> ConvenedOut:
    """開催: convene a sitting; with `sitting` (time, place, people present, chair, recorder) and `agenda`."""
    sitting = body.sitting.model_dump() if body.sitting else None
    return ConvenedOut(meeting_id=app.convene(actor, body.meeting_type, body.held_on, body.attendees, sitting,
                                              list(body.agenda)))


@router.put("/meetings/{meeting_id}/sitting", dependencies=[requires("meeting.convene")],
            responses=precondition_failed())
def record_sitting(meeting_id: UUID, body: SittingIn, app: App, actor: Staff,
                   if_match: Annotated[str | None, if_match_header("GET /meetings/{meeting_id}")] = None
                   ) -> SittingOut:
    """開催の記録: time, place, the people present (name and agency), chair and recorder. Each person's agency
    is an attending agency; chair and recorder are people present. Kept in the meeting's store, never on the bus.
    With `If-Match` (the ETag of GET /meetings/{meeting_id}), only if the meeting is still the version read (412
    otherwise, nothing recorded); without it, as before: the record replaces whatever was recorded since."""
    with held_to(if_match, lambda: app.read(meeting_id, Meeting, "会議"), "会議の記録", "meeting", f"/meetings/{meeting_id}"):
        return SittingOut.model_validate(app.record_sitting(actor, meeting_id, body.model_dump()))


@router.post("/meetings/{meeting_id}/agenda", status_code=201, dependencies=[requires("meeting.convene")])
def put_on_agenda(meeting_id: UUID, body: AgendaIn, app: App, actor: Staff) -> list[AgendaEntryOut]:
    """議事次第: put a plan or a case on the sitting's agenda (in order; a case is taken up, D10). A case at a
    重層的支援会議 is refused (409 `consent_missing`, nothing recorded) without the person's consent covering it (D9):
    record it at intake first, or take the case to a 支援会議."""
    return [AgendaEntryOut.model_validate(item)
            for item in app.put_on_agenda(actor, meeting_id, body.plan_id, body.case_id)]


@router.post("/meetings/{meeting_id}/learnings", status_code=201, dependencies=[requires("meeting.decide")])
def record_learning(meeting_id: UUID, body: LearningIn, app: App, actor: Staff) -> LearningRecordedOut:
    """事例の学び: after this sitting decided or evaluated the plan; refused (422) with a phone number, an e-mail
    address or a postal code in it. Each attending agency receives it (GET /learnings/takeaways)."""
    return LearningRecordedOut(learning_id=app.record_learning(
        actor, meeting_id, body.plan_id, body.situation, body.worked, list(body.agencies), list(body.resources),
        list(body.concerns)))


#: the longest `q` of the 事例集's search: each word is looked for in every learning, and 6,000 words of one character
#: (「の の の …」, a 60 KB address) took 1.6 s of a worker thread over 80 learnings (HB's review, session 24)
LEARNING_WORDS_MAX = 200


@router.get("/learnings", dependencies=[requires("meeting.read")], responses={200: {"headers": PAGING_HEADERS}})
def learnings(app: App, request: Request, response: Response,
              concern: Annotated[str | None, Query(max_length=100, description=(
                  "相談内容の分野のコード（GET /reference/concerns） / a concern field's code (GET /reference/concerns)"))] = None,
              q: Annotated[str, Query(max_length=LEARNING_WORDS_MAX, description=(
                  f"語（空白で区切るとすべてを含む学び。{LEARNING_WORDS_MAX} 文字まで） / words: the learnings holding every one, "
                  f"separated by spaces (at most {LEARNING_WORDS_MAX} characters)"))] = "",
              limit: Limit = None, cursor: Cursor = None) -> list[LearningOut]:
    """事例集: every counter's staff search the learnings by concern field (code) and words, newest first; paged by
    `limit` and `cursor` (a keyset: a learning recorded since the first page comes before it, and shifts nothing)."""
    rows = page(app.learnings(concern, q), limit, cursor, request, response, _newest_learnings(app))
    return [LearningOut.model_validate(r) for r in rows]


@router.get("/learnings/takeaways", dependencies=[requires("meeting.read")],
            responses={200: {"headers": PAGING_HEADERS}})
def takeaways(app: App, who: Reader, request: Request, response: Response,
              agency: Annotated[str | None, Query(max_length=200, description=(
                  "出席した機関の名前（省略: 読み手の課の機関すべて） / an attending agency's name (none: every agency of "
                  "the reader's division)"))] = None,
              limit: Limit = None, cursor: Cursor = None) -> list[LearningOut]:
    """持ち帰り: the learnings an attending agency received (`agency`), or, without it, those of every agency
    of the reader's division; newest first, paged by `limit` and `cursor` as `/learnings`."""
    rows = page(app.takeaways(who.division, agency), limit, cursor, request, response, _newest_learnings(app))
    return [LearningOut.model_validate(r) for r in rows]


def _newest_learnings(app: MeetingApplication) -> Any:
    """The 事例集's order as a keyset: newest recorded first, then the store's order."""
    return catalogue_order(lambda: app.ids_of(CaseLearning), "learning_id", newest_first_by="recorded_at")


@router.post("/meetings/{meeting_id}/cases", status_code=201, dependencies=[requires("meeting.convene")])
def take_up(meeting_id: UUID, body: TakeUpIn, app: App, actor: Staff) -> TakenUpOut:
    """議題にする (D10): the sitting takes up a case, with or without a plan. At a 支援会議 this lets the
    member divisions read the person's information at intake (basis `shien_kaigi` with this meeting_id);
    deciding or evaluating a plan at a sitting takes its case up too. Published as MeetingCaseTakenUp
    (the member divisions' codes, never the minutes). D9: a 重層的支援会議 refuses (409 `consent_missing`, nothing
    recorded) a case whose person's consent does not cover it: record it at intake first, or take the case to a
    支援会議, which needs none (D10)."""
    return TakenUpOut.model_validate(app.take_up(actor, meeting_id, body.case_id))


@router.get("/meetings/{meeting_id}", dependencies=[requires("meeting.read")],
            responses=etag_header("PUT /meetings/{meeting_id}/sitting"))
def meeting(meeting_id: UUID, app: App, actor: Staff, response: Response) -> MeetingOut:
    """会議録 (minutes); a 支援会議's only for its members (D10). Its `ETag` is the meeting's version."""
    found = app.meeting_as_read(actor, meeting_id)  # once: the tag and the body of the same version (two reads before)
    response.headers["ETag"] = etag_of(found.version)
    return MeetingOut.model_validate(app.minutes_view(found))


@router.post("/meetings/{meeting_id}/decisions", status_code=201, dependencies=[requires("meeting.decide")])
def decide(meeting_id: UUID, body: DecisionIn, app: App, actor: Staff) -> DecidedOut:
    """合議による決定 (D5, D9): every attendee's position as given; an objection blocks approval only (409), a
    revision request or a return to intake may be recorded while an agency objects; at a 重層的支援会議 the city
    (福祉総務課) must attend (409). `all_agree` records 全員賛成 in one step."""
    app.decide(actor, meeting_id, body.plan_id, body.decision, body.reasons, [p.model_dump() for p in body.positions],
               list(body.connect_to), body.primary_agency, body.all_agree)
    return DecidedOut(plan_id=body.plan_id, decision=body.decision)


@router.post("/meetings/{meeting_id}/evaluations", status_code=201, dependencies=[requires("meeting.evaluate")])
def evaluate(meeting_id: UUID, body: EvaluationIn, app: App, actor: Staff) -> EvaluatedOut:
    """終結評価 (D7)."""
    app.evaluate(actor, meeting_id, body.plan_id, body.outcome, body.course, body.result, body.reason,
                 body.next_review_on, [g.model_dump() for g in body.goal_results])
    return EvaluatedOut(plan_id=body.plan_id, outcome=body.outcome)


@router.post("/meetings/{meeting_id}/resumptions", status_code=201, dependencies=[requires("meeting.decide")])
def resume(meeting_id: UUID, body: ResumeIn, app: App, actor: Staff) -> ResumedOut:
    """再開 (D7 D9): resume a suspended plan at the 重層的支援会議; refused (409) without consent given
    again after the suspension (PlanResumed)."""
    app.resume(actor, meeting_id, body.plan_id, body.reason)
    return ResumedOut(plan_id=body.plan_id, status="resumed")


@router.post("/meetings/{meeting_id}/resource-gaps", status_code=201, dependencies=[requires("meeting.gap")])
def gap(meeting_id: UUID, body: GapIn, app: App, actor: Staff) -> RecordedOut:
    """地域の課題 (D8)."""
    app.identify_gap(actor, meeting_id, body.case_id, body.need, body.area, body.description, body.area_code)
    return RecordedOut(status="recorded")
