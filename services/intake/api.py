"""Intake's HTTP door."""

from __future__ import annotations

from typing import Annotated, Any, Literal, cast
from uuid import UUID

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, Field

from services.intake.access import may_read_case
from services.intake.application import IntakeApplication
from shared.contract.events import CONSENT_COVERS, ConsentCover
from shared.domain.reference import COUNTERS
from shared.kernel.journey import Invalid
from shared.web.http import call, principal, runtime_of, staff
from shared.web.limits import MAX_ITEMS, BirthDate, LongText, Name, Text
from shared.web.policy import reads_every_division, requires


def _app(request: Request) -> IntakeApplication:
    """This service's application, typed (the runtime holds it as the base class)."""
    return cast(IntakeApplication, runtime_of(request).app)


Staff = Annotated[dict[str, str], Depends(staff)]
ConnectionIndex = Annotated[int, Path(ge=0, le=10_000, description="つなぎの番号 (index of the case's connections)")]


class PersonIn(BaseModel):
    name: Name = Field(min_length=1, max_length=200, description="氏名")
    kana: Name = Field(default="", max_length=200, description="ふりがな")
    birth_date: BirthDate | None = Field(default=None, description="生年月日 YYYY-MM-DD, from 1900-01-01 to today")
    address: Name | None = Field(default=None, max_length=500, description="住所")
    phone: Name | None = Field(default=None, max_length=50, description="電話")


class ConsultationIn(BaseModel):
    counter: Name = Field(min_length=1, max_length=100, description="受付窓口のコード (D2): " + ", ".join(
        f"{c.code}={c.ja}" for c in COUNTERS.values()))
    channel: Name = Field(min_length=1, max_length=50, description="窓口, 電話, 訪問, メール…")
    concerns: list[LongText] = Field(min_length=1, max_length=MAX_ITEMS, description="相談内容の分野 (D2)")
    person: PersonIn | None = Field(default=None, description="相談者 (new person)")
    person_ref: Name | None = Field(default=None, max_length=100, description="既知の相談者 (known person)")
    referral: UUID | None = Field(default=None, description="アウトリーチからの紹介 (case_id of GET /referrals): the same case continues")
    confirm_new_person: bool = Field(
        default=False,
        description="検索で見つかった候補とは別人として登録する (search before create: a match is refused with 409 and candidates otherwise)",
    )


class ConsentIn(BaseModel):
    scope: Name = Field(min_length=1, max_length=200, description="同意の範囲（本人に説明した文言）")
    granted: bool = Field(description="true: 同意, false: 撤回")
    method: Name = Field(min_length=1, max_length=100, description="書面, 口頭…")
    covers: list[ConsentCover] | None = Field(
        default=None, max_length=MAX_ITEMS,
        description="同意が及ぶ範囲 (D9): " + ", ".join(f"{k}={v}" for k, v in CONSENT_COVERS.items())
        + ". Omitted: read from the wording of `scope` (「重層的支援会議」, 「関係機関」); a granted consent that covers "
        "neither is refused with 422. A consent to the 重層的支援会議 is not a consent to share with every agency.",
    )


class ErasureIn(BaseModel):
    basis: Literal["person_request", "retention_expired"] = Field(
        description="消去の根拠: person_request=本人の請求, retention_expired=保存期間満了")
    reason: Text = Field(min_length=1, max_length=2000, description="理由（個人情報は書かないでください / no personal information）")


class ConnectIn(BaseModel):
    to_agency: Name = Field(min_length=1, max_length=200)
    reason: Text = Field(min_length=1, max_length=2000)


class EscalateIn(BaseModel):
    reason: Text = Field(min_length=1, max_length=2000, description="複雑化・複合化の理由")
    primary_agency: Name = Field(min_length=1, max_length=200, description="主担当機関 (D11)")


router = APIRouter(tags=["intake"])


@router.post("/consultations", status_code=201, dependencies=[requires("consultation.receive")])
async def receive(body: ConsultationIn, request: Request, actor: Staff) -> dict[str, str]:
    """相談受付: receive a consultation at any counter (D1, D2)."""
    if (body.person is None) == (body.person_ref is None):
        raise Invalid("相談者 (person) か既知の相談者 (person_ref) のどちらか一方を指定してください / give either person or person_ref")
    counter = COUNTERS.get(body.counter)
    if counter is None:
        raise Invalid(f"窓口 {body.counter!r} はありません。次のいずれかです / unknown counter; one of: " + ", ".join(COUNTERS))
    app = _app(request)
    case_id = await call(
        app.receive_consultation, actor, counter.code, counter.division, body.channel, body.concerns,
        body.person.model_dump() if body.person else None, body.person_ref, body.confirm_new_person,
        body.referral,
    )
    return {"case_id": str(case_id)}


class AnswerIn(BaseModel):
    accepted: bool = Field(description="true: 受け入れ (accepts and becomes primary), false: 辞退")
    reason: Text = Field(default="", max_length=2000, description="理由 (required when declining)")


@router.post("/cases/{case_id}/connections/{index}/answer", dependencies=[requires("connection.answer")])
async def answer(case_id: UUID, index: ConnectionIndex, body: AnswerIn, request: Request, actor: Staff) -> dict[str, Any]:
    """つなぎ先の回答 (D3, D11)."""
    app = _app(request)
    await call(app.answer_connection, actor, case_id, index, body.accepted, body.reason)
    return await call(app.case_view, case_id)


@router.get("/persons/search", dependencies=[requires("person.search")])
async def search(
    request: Request, actor: Staff, name: Annotated[Name | None, Query(max_length=200)] = None,
    birth_date: Annotated[BirthDate | None, Query(description="YYYY-MM-DD")] = None,
    kana: Annotated[Name | None, Query(max_length=200)] = None, phone: Annotated[Name | None, Query(max_length=50)] = None,
) -> list[dict[str, Any]]:
    """相談者の検索 (search before create): same name and birth date, or same kana and phone.

    Staff only; every candidate shown is recorded as a reading of personal information (audit disclosures)."""
    if not ((name and birth_date) or (kana and phone)):
        raise Invalid("氏名と生年月日、またはふりがなと電話番号で検索してください / search by name and birth date, or kana and phone")
    return await call(_app(request).find_people, actor, name, birth_date, kana, phone)


@router.post("/persons/{person_ref}/erasure", dependencies=[requires("person.erase")])
async def erase(person_ref: UUID, body: ErasureIn, request: Request, actor: Staff) -> dict[str, Any]:
    """個人情報の消去 (crypto-shredding): the person's key is deleted; the events stay and read as erased.

    Recorded as `Person.Erased` (who, when, basis, reason) in the disclosures audit and every case journey
    of the person. A second erasure is refused with 409."""
    return await call(_app(request).erase_person, actor, person_ref, body.basis, body.reason)


@router.get("/reports/trend", dependencies=[requires("trend.read")])
async def trend(request: Request) -> list[dict[str, Any]]:
    """D14 傾向: per counter and fiscal quarter, consultations, つなぎ, escalations and meeting cases."""
    return await call(_app(request).trend)


@router.get("/referrals", dependencies=[requires("referral.read")])
async def referrals(request: Request) -> list[dict[str, Any]]:
    """アウトリーチからの紹介 (D12): waiting to be received at their counter (those of the caller's division)."""
    who = principal(request)
    return [r for r in await call(_app(request).referrals)
            if reads_every_division(who) or COUNTERS[r["counter"]].division == who.division]


@router.get("/cases", dependencies=[requires("intake.case.read")])
async def cases(request: Request) -> list[dict[str, Any]]:
    """The cases the caller's division may read (services/intake/access.py case_readers)."""
    who = principal(request)
    return [c for c in await call(_app(request).cases) if may_read_case(who, c)]


@router.get("/cases/{case_id}", dependencies=[requires("intake.case.read")])
async def case(case_id: UUID, request: Request) -> dict[str, Any]:
    return await call(_app(request).case_view, case_id)


@router.post("/cases/{case_id}/consent", dependencies=[requires("intake.case.write")])
async def consent(case_id: UUID, body: ConsentIn, request: Request, actor: Staff) -> dict[str, str]:
    """本人同意の記録 (D9)."""
    await call(_app(request).record_consent, actor, case_id, body.scope, body.granted, body.method,
               body.covers)
    return {"case_id": str(case_id), "status": "consent recorded"}


@router.post("/cases/{case_id}/connect", dependencies=[requires("intake.case.write")])
async def connect(case_id: UUID, body: ConnectIn, request: Request, actor: Staff) -> dict[str, str]:
    """つなぎ (D3)."""
    await call(_app(request).connect_case, actor, case_id, body.to_agency, body.reason)
    return {"case_id": str(case_id), "status": "connected"}


@router.post("/cases/{case_id}/escalate", dependencies=[requires("intake.case.write")])
async def escalate(case_id: UUID, body: EscalateIn, request: Request, actor: Staff) -> dict[str, str]:
    """多機関協働事業へ (D3)."""
    await call(_app(request).escalate_case, actor, case_id, body.reason, body.primary_agency)
    return {"case_id": str(case_id), "status": "escalated"}


@router.get("/cases/{case_id}/person", dependencies=[requires("person.read")])
async def person(
    case_id: UUID, request: Request, actor: Staff,
    basis: Literal["own_counter", "consent", "shien_kaigi"] = Query(description="閲覧の根拠 (D9, D10)"),
    meeting_id: UUID | None = Query(default=None, description="basis=shien_kaigi: the 支援会議"),
) -> dict[str, Any]:
    """相談者の個人情報: shown on a legal basis, and every showing is recorded (D9, D10)."""
    return await call(_app(request).disclose_person, actor, case_id, basis, meeting_id)


@router.get("/audit/disclosures/recent-basis", dependencies=[requires("audit.disclosures")])
async def recent_basis(request: Request) -> list[dict[str, Any]]:
    """要確認の開示 (issue 13): personal information shown on an own-counter basis that the reader had
    created shortly before (within 24 h: a search, a new case at their counter for a person already known,
    then the person's record). Legitimate for a real second consultation; listed for supervisors to check.
    A supervisor sees their division's staff; an auditor every division."""
    who = principal(request)
    division = None if reads_every_division(who) else who.division
    return await call(_app(request).recent_basis_disclosures, division)
