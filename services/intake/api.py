"""Intake's HTTP door: the command models (the JSON body and the division UI's form alike), the
answers' models (the OpenAPI shows every answer) and the routes, each one application call."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from services.intake.access import may_read_case, may_see_referral
from services.intake.application import IntakeApplication
from shared.contract.events import CONSENT_COVERS, ConsentCover
from shared.organisation.reference import COUNTERS
from shared.web.auth import Principal
from shared.web.deps import application, principal, staff
from shared.web.limits import MAX_ITEMS, BirthDate, LongText, Name, Text
from shared.web.policy import reads_every_division, requires

App = Annotated[IntakeApplication, Depends(application(IntakeApplication))]
Staff = Annotated[dict[str, str], Depends(staff)]
Who = Annotated[Principal, Depends(principal)]
ConnectionIndex = Annotated[int, Path(ge=0, le=10_000, description="つなぎの番号 (index of the case's connections)")]


# -- commands (the JSON body and the division UI's form alike) -------------------------------------

class PersonIn(BaseModel):
    name: Name = Field(min_length=1, max_length=200, title="氏名", description="氏名")
    kana: Name = Field(default="", max_length=200, title="ふりがな", description="ふりがな")
    birth_date: BirthDate | None = Field(default=None, title="生年月日",
                                         description="生年月日 YYYY-MM-DD, from 1900-01-01 to today")
    address: Name | None = Field(default=None, max_length=500, title="住所", description="住所")
    phone: Name | None = Field(default=None, max_length=50, title="電話", description="電話")


class ConsultationIn(BaseModel):
    counter: Name = Field(min_length=1, max_length=100, title="受付窓口", description="受付窓口のコード (D2): " + ", ".join(
        f"{c.code}={c.ja}" for c in COUNTERS.values()))
    channel: Name = Field(min_length=1, max_length=50, title="経路", description="窓口, 電話, 訪問, メール…")
    concerns: list[LongText] = Field(min_length=1, max_length=MAX_ITEMS, title="相談内容の分野",
                                     description="相談内容の分野 (D2)")
    person: PersonIn | None = Field(default=None, title="相談者", description="相談者 (new person)")
    person_ref: Name | None = Field(default=None, max_length=100, title="既知の相談者",
                                    description="既知の相談者 (known person)")
    referral: UUID | None = Field(default=None, title="アウトリーチからの紹介 (referral)",
                                  description="アウトリーチからの紹介 (case_id of GET /referrals): the same case continues")
    confirm_new_person: bool = Field(
        default=False, title="別人として新しく登録する",
        description="検索で見つかった候補とは別人として登録する (search before create: a match is refused with 409 and candidates otherwise)",
    )


class ConsentIn(BaseModel):
    scope: Name = Field(min_length=1, max_length=200, title="同意の範囲", description="同意の範囲（本人に説明した文言）")
    granted: bool = Field(title="同意", description="true: 同意, false: 撤回")
    method: Name = Field(min_length=1, max_length=100, title="方法", description="書面, 口頭…")
    covers: list[ConsentCover] | None = Field(
        default=None, max_length=MAX_ITEMS, title="同意が及ぶ範囲",
        description="同意が及ぶ範囲 (D9): " + ", ".join(f"{k}={v}" for k, v in CONSENT_COVERS.items())
        + ". Omitted: read from the wording of `scope` (「重層的支援会議」, 「関係機関」); a granted consent that covers "
        "neither is refused with 422. A consent to the 重層的支援会議 is not a consent to share with every agency.",
    )


class ErasureIn(BaseModel):
    basis: Literal["person_request", "retention_expired"] = Field(
        title="消去の根拠", description="消去の根拠: person_request=本人の請求, retention_expired=保存期間満了")
    reason: Text = Field(min_length=1, max_length=2000, title="理由",
                         description="理由（個人情報は書かないでください / no personal information）")


class ConnectIn(BaseModel):
    to_agency: Name = Field(min_length=1, max_length=200, title="つなぎ先")
    reason: Text = Field(min_length=1, max_length=2000, title="理由")


class EscalateIn(BaseModel):
    reason: Text = Field(min_length=1, max_length=2000, title="理由（複雑化・複合化）", description="複雑化・複合化の理由")
    primary_agency: Name = Field(min_length=1, max_length=200, title="主担当機関", description="主担当機関 (D11)")


class AnswerIn(BaseModel):
    accepted: bool = Field(title="受け入れ", description="true: 受け入れ (accepts and becomes primary), false: 辞退")
    reason: Text = Field(default="", max_length=2000, title="理由", description="理由 (required when declining)")


def receive_consultation(app: IntakeApplication, actor: dict[str, str], command: ConsultationIn) -> UUID:
    """相談受付 as the API and the reception form send it: the counter names its division (D2)."""
    counter = COUNTERS.get(command.counter)
    return app.receive_consultation(
        actor, command.counter, counter.division if counter else "", command.channel, command.concerns,
        command.person.model_dump() if command.person else None, command.person_ref, command.confirm_new_person,
        command.referral)


# -- answers (free-form views: their known keys, and whatever else they hold) ---------------------

class View(BaseModel):
    model_config = ConfigDict(extra="allow")


class CaseRef(BaseModel):
    case_id: UUID


class CaseChanged(BaseModel):
    case_id: UUID
    status: str = Field(description="consent recorded, connected or escalated")


class ConsentOut(View):
    scope: str
    granted: bool
    method: str
    covers: list[str] = Field(description="同意が及ぶ範囲 (D9)")


class ConnectionOut(View):
    to_agency: str
    reason: str
    status: str = Field(description="pending, accepted or declined")
    answer: str = Field(description="回答の理由")


class SittingOut(View):
    meeting_id: str
    meeting_type: str
    held_on: str
    member_divisions: list[str]


class MeetingOutcomeOut(View):
    meeting_id: str
    decision: str


class CaseOut(View):
    """相談ケース: the case as intake records it."""

    case_id: UUID
    counter: str = Field(description="受付窓口のコード")
    division: str = Field(description="受付窓口の課")
    channel: str
    concerns: list[str] = Field(description="相談内容の分野")
    person_ref: str = Field(description="相談者の番号 (GET /cases/{case_id}/person shows the person on a legal basis)")
    primary: str = Field(description="主担当機関 (D11)")
    status: str = Field(description="open, escalated or returned")
    consent: ConsentOut | None
    connections: list[ConnectionOut]
    meetings: list[MeetingOutcomeOut]
    sittings: list[SittingOut]
    disclosures: int
    escalation_candidate: bool = Field(description="D3: concerns in two or more fields (複合化)")


class CandidateOut(View):
    """A person already known (search before create); showing them is recorded."""

    person_ref: str
    name: str | None
    kana: str | None
    birth_date: str | None


class PersonOut(View):
    """相談者の個人情報 (D9 D10), or how it was erased."""

    person_ref: str
    name: str | None = Field(description="氏名 (null once erased)")
    kana: str | None
    birth_date: str | None
    address: str | None
    phone: str | None
    erased: dict[str, Any] | None = Field(description="who erased the person, when and on what basis; null while kept")


class TrendRowOut(View):
    """D14: one counter in one fiscal quarter."""

    counter: str
    counter_ja: str
    fiscal_year: int
    quarter: int
    period_ja: str
    consultations: int
    connections: int
    escalations: int
    meeting_cases: int


class ReferralOut(View):
    """紹介 (D12): a person outreach handed to a counter."""

    case_id: UUID
    counter: str
    reason: str
    status: str


class RecentBasisOut(View):
    """要確認の開示 (issue 13)."""

    occurred_at: str
    case_id: UUID
    person_ref: str
    staff_id: str
    division: str
    basis: str


router = APIRouter(tags=["intake"])


@router.post("/consultations", status_code=201, response_model=CaseRef, dependencies=[requires("consultation.receive")])
def receive(body: ConsultationIn, app: App, actor: Staff) -> dict[str, str]:
    """相談受付: receive a consultation at any counter (D1, D2)."""
    return {"case_id": str(receive_consultation(app, actor, body))}


@router.post("/cases/{case_id}/connections/{index}/answer", response_model=CaseOut,
             dependencies=[requires("connection.answer")])
def answer(case_id: UUID, index: ConnectionIndex, body: AnswerIn, app: App, actor: Staff) -> dict[str, Any]:
    """つなぎ先の回答 (D3, D11)."""
    app.answer_connection(actor, case_id, index, body.accepted, body.reason)
    return app.case_view(case_id)


@router.get("/persons/search", response_model=list[CandidateOut], dependencies=[requires("person.search")])
def search(
    app: App, actor: Staff, name: Annotated[Name | None, Query(max_length=200)] = None,
    birth_date: Annotated[BirthDate | None, Query(description="YYYY-MM-DD")] = None,
    kana: Annotated[Name | None, Query(max_length=200)] = None, phone: Annotated[Name | None, Query(max_length=50)] = None,
) -> list[dict[str, Any]]:
    """相談者の検索 (search before create): same name and birth date, or same kana and phone.

    Staff only; every candidate shown is recorded as a reading of personal information (audit disclosures)."""
    return app.search_people(actor, name, birth_date, kana, phone)


@router.post("/persons/{person_ref}/erasure", response_model=PersonOut, dependencies=[requires("person.erase")])
def erase(person_ref: UUID, body: ErasureIn, app: App, actor: Staff) -> dict[str, Any]:
    """個人情報の消去 (crypto-shredding): the person's key is deleted; the events stay and read as erased.

    Recorded as `Person.Erased` (who, when, basis, reason) in the disclosures audit and every case journey
    of the person. A second erasure is refused with 409."""
    return app.erase_person(actor, person_ref, body.basis, body.reason)


@router.get("/reports/trend", response_model=list[TrendRowOut], dependencies=[requires("trend.read")])
def trend(app: App) -> list[dict[str, Any]]:
    """D14 傾向: per counter and fiscal quarter, consultations, つなぎ, escalations and meeting cases."""
    return app.trend()


@router.get("/referrals", response_model=list[ReferralOut], dependencies=[requires("referral.read")])
def referrals(app: App, who: Who) -> list[dict[str, Any]]:
    """アウトリーチからの紹介 (D12): waiting to be received at their counter (those of the caller's division)."""
    return [r for r in app.referrals() if may_see_referral(who, r)]


@router.get("/cases", response_model=list[CaseOut], dependencies=[requires("intake.case.read")])
def cases(app: App, who: Who) -> list[dict[str, Any]]:
    """The cases the caller's division may read (services/intake/access.py case_readers)."""
    return [c for c in app.cases() if may_read_case(who, c)]


@router.get("/cases/{case_id}", response_model=CaseOut, dependencies=[requires("intake.case.read")])
def case(case_id: UUID, app: App) -> dict[str, Any]:
    return app.case_view(case_id)


@router.post("/cases/{case_id}/consent", response_model=CaseChanged, dependencies=[requires("intake.case.write")])
def consent(case_id: UUID, body: ConsentIn, app: App, actor: Staff) -> dict[str, str]:
    """本人同意の記録 (D9)."""
    app.record_consent(actor, case_id, body.scope, body.granted, body.method, body.covers)
    return {"case_id": str(case_id), "status": "consent recorded"}


@router.post("/cases/{case_id}/connect", response_model=CaseChanged, dependencies=[requires("intake.case.write")])
def connect(case_id: UUID, body: ConnectIn, app: App, actor: Staff) -> dict[str, str]:
    """つなぎ (D3)."""
    app.connect_case(actor, case_id, body.to_agency, body.reason)
    return {"case_id": str(case_id), "status": "connected"}


@router.post("/cases/{case_id}/escalate", response_model=CaseChanged, dependencies=[requires("intake.case.write")])
def escalate(case_id: UUID, body: EscalateIn, app: App, actor: Staff) -> dict[str, str]:
    """多機関協働事業へ (D3)."""
    app.escalate_case(actor, case_id, body.reason, body.primary_agency)
    return {"case_id": str(case_id), "status": "escalated"}


@router.get("/cases/{case_id}/person", response_model=PersonOut, dependencies=[requires("person.read")])
def person(
    case_id: UUID, app: App, actor: Staff,
    basis: Literal["own_counter", "consent", "shien_kaigi"] = Query(description="閲覧の根拠 (D9, D10)"),
    meeting_id: UUID | None = Query(default=None, description="basis=shien_kaigi: the 支援会議"),
) -> dict[str, Any]:
    """相談者の個人情報: shown on a legal basis, and every showing is recorded (D9, D10)."""
    return app.disclose_person(actor, case_id, basis, meeting_id)


@router.get("/audit/disclosures/recent-basis", response_model=list[RecentBasisOut],
            dependencies=[requires("audit.disclosures")])
def recent_basis(app: App, who: Who) -> list[dict[str, Any]]:
    """要確認の開示 (issue 13): personal information shown on an own-counter basis that the reader had
    created shortly before (within 24 h: a search, a new case at their counter for a person already known,
    then the person's record). Legitimate for a real second consultation; listed for supervisors to check.
    A supervisor sees their division's staff; an auditor every division."""
    return app.recent_basis_disclosures(None if reads_every_division(who) else who.division)
