"""Outreach's HTTP door."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal
from uuid import UUID

import httpx
from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field

from services.outreach.application import OutreachApplication
from services.outreach.domain import CONTACT_METHODS, STAGES, Engagement
from shared.domain.access import OutOfScope
from shared.kernel.journey import DomainError
from shared.web.casework_api import casework_router
from shared.web.deps import Staff, Who, application, call
from shared.web.limits import Name, Text
from shared.web.paging import PAGING_HEADERS, Cursor, Limit, catalogue_order, page
from shared.web.plan_api import PlanDate, plan_router
from shared.web.policy import requires
from shared.web.ui import internal_url

App = Annotated[OutreachApplication, Depends(application(OutreachApplication))]
Reader = Who  # the signed-in staff member (shared/web/deps.py: no thread hop)
router = APIRouter(tags=["outreach"])


class StartIn(BaseModel):
    """アウトリーチ開始 (D12): the JSON body and the start form alike."""

    case_id: UUID | None = Field(default=None, title="ケース番号",
                                 description="既存のケース (intake); 空なら新しいケース (D12)")
    referred_by: Name = Field(min_length=1, max_length=200, title="紹介元",
                              description="紹介元: its code in the municipality file (partner:minsei-iin, counter:<code>, "
                              "referrer:family…: what the start form sends; the event carries it as referred_by_code), "
                              "or a name (one the file knows gets its code; other text stays as typed)")
    reason: Text = Field(min_length=1, max_length=2000, title="理由・状況")
    address: Name | None = Field(default=None, max_length=300, title="住所・所在地域",
                                 description="新しい方の住所、または分かる範囲の地域（例: 〇〇町〇丁目、〇〇駅周辺）。"
                                 "アウトリーチの記録にだけ残り、イベントには載りません")


class ContactIn(BaseModel):
    """接触の記録: the JSON body and the contact form alike (the form sends reached as 1 / 0)."""

    method: Literal[CONTACT_METHODS] = Field(title="方法", description="訪問, 手紙, 電話, メール, その他")  # type: ignore[valid-type]
    reached: bool = Field(title="会えたか")
    note: Text = Field(default="", max_length=4000, title="記録")
    stage: Literal[STAGES] = Field(title="関係の段階", description="関係の段階（会えたときは「接触」以降）")  # type: ignore[valid-type]
    on: PlanDate | None = Field(default=None, title="接触日",
                                description="接触した日: 和暦（令和8年4月1日, R8.4.1）または西暦; 今日まで; 省略時は記録した日")


class HandOverIn(BaseModel):
    """引き継ぎ (D12): the JSON body and the hand-over form alike."""

    to_program: Literal["intake", "collaboration", "participation"] = Field(title="引き継ぎ先")
    reason: Text = Field(min_length=1, max_length=2000, title="理由")
    primary_agency: Name | None = Field(default=None, max_length=200, title="主担当機関",
                                        description="主担当機関 (collaboration: required)")
    counter: Name | None = Field(default=None, max_length=50, title="受付窓口",
                                 description="受付窓口のコード (intake: required)")


class StartedOut(BaseModel):
    case_id: UUID


class ContactOut(BaseModel):
    method: str
    reached: bool
    note: str
    on: date | None = Field(default=None, description="接触日 (null: recorded before the date was kept)")


class EngagementOut(BaseModel):
    """An engagement: the relationship stage, the contacts, where it was handed over (D12)."""

    case_id: UUID
    referred_by: str
    reason: str
    address: str | None = Field(default=None, description="住所・所在地域 (null: not given, or started before it was kept)")
    stage: str = Field(description="関係の段階")
    contacts: list[ContactOut]
    handed_over_to: str | None


class ContactRecordedOut(BaseModel):
    status: Literal["recorded"]


class HandedOverOut(BaseModel):
    status: Literal["handed over"]


class CaseScopeUnknown(DomainError):
    """503: intake did not say whether the case a start names is the caller's division's to take up (D9)."""

    status = 503
    headers = {"Retry-After": "5"}


async def require_case_open_to(request: Request, case_id: UUID) -> None:
    """D9 D11: a start naming a case takes up a case intake may hold (its hand-over to a counter puts it there, whose
    division then reads the person): the caller's division must be one that reads the case at intake (its counter's,
    connected to it, escalated, at a meeting: services/intake/access.py), asked of intake with the caller's own token
    (`GET /cases/{id}/history`, whose division scope answers 403). A number intake does not hold (a new case's, chosen
    by the client) goes on as before. Refused OutOfScope (403) with intake's reason; 503 when intake cannot tell.
    Found by HB's review (session 24): a case of another division taken over, its person read, on a number typed."""
    principal = getattr(request.state, "principal", None)
    token = str(getattr(principal, "token", "") or "")
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            answer = await client.get(f"{internal_url('intake')}/cases/{case_id}/history", params={"limit": 1},
                                      headers={"Authorization": f"Bearer {token}"})
    except httpx.HTTPError:
        answer = None
    if answer is not None and answer.status_code == 200:
        return
    if answer is not None and answer.status_code == 403:
        try:
            detail = str(answer.json().get("detail") or "")
        except ValueError:
            detail = ""
        ja, _, en = detail.partition(" / ")
        ja = ja.strip().rstrip("。") or ("このケースの相談窓口の記録はあなたの課にはつながっていません。ケースを受け付けた課に、このケースの"
                                        "つなぎ（連携）を依頼してください")
        en = en.strip() or ("intake's record of it is not your division's: ask the division that received it to "
                            "connect it to yours (つなぎ)")
        raise OutOfScope(f"ケース {case_id} でアウトリーチを始められません: {ja}。新しい方なら、ケース番号を入れずに始めてください"
                         f" / cannot start outreach on case {case_id}: {en}; for a new person, start without a case "
                         "number")
    raise CaseScopeUnknown(
        f"ケース {case_id} を相談窓口（intake）が持っているか確かめられませんでした。少し待ってから送り直してください"
        f" / intake could not say whether your division may take up case {case_id}: send it again in a moment")


@router.post("/engagements", status_code=201, dependencies=[requires("engagement.write")])
async def start(body: StartIn, app: App, actor: Staff, request: Request) -> StartedOut:
    """アウトリーチ開始 (D12). With `case_id`: a case your division reads at intake (escalated, connected to it…), or a
    number no program holds (a new case's, chosen by the client); a case of another division is refused 403
    `out_of_scope` (D9: ask its division for a つなぎ), 503 when intake cannot be asked."""
    if body.case_id is not None:
        await require_case_open_to(request, body.case_id)
    return StartedOut(case_id=await call(app.start, actor, body.case_id, body.referred_by, body.reason, body.address))


@router.get("/engagements", dependencies=[requires("engagement.read")], response_model=list[EngagementOut],
            responses={200: {"headers": PAGING_HEADERS}})
def engagements(app: App, who: Reader, request: Request, response: Response, limit: Limit = None,
                cursor: Cursor = None) -> list[dict[str, object]]:
    """The engagements the caller's division may see (division scope), oldest start first; paged by `limit` and
    `cursor` (a keyset: an engagement that leaves or joins the caller's scope between two pages makes no other
    one skipped or repeated)."""
    return page(app.scoped(app.engagements(), who), limit, cursor, request, response,
                catalogue_order(lambda: app.ids_of(Engagement), "case_id"))


@router.get("/engagements/{case_id}", dependencies=[requires("engagement.read")], response_model=EngagementOut)
def engagement(case_id: UUID, app: App) -> dict[str, object]:
    """アウトリーチの関わり: a case's engagement, its stage of the relationship, contacts and hand-over (D12)."""
    return app.engagement_view(case_id)


@router.post("/engagements/{case_id}/contacts", status_code=201, dependencies=[requires("engagement.write")])
def contact(case_id: UUID, body: ContactIn, app: App, actor: Staff) -> ContactRecordedOut:
    """接触の記録: a visit, letter, call or mail on the day it took place (`on`, none: today), reached or not."""
    app.record_contact(actor, case_id, body.method, body.reached, body.note, body.stage, body.on)
    return ContactRecordedOut(status="recorded")


@router.post("/engagements/{case_id}/hand-over", dependencies=[requires("engagement.write")])
def hand_over(case_id: UUID, body: HandOverIn, app: App, actor: Staff) -> HandedOverOut:
    """引き継ぎ (D12): the person handed on to intake (`counter` required), collaboration (`primary_agency`
    required, D11) or participation (OutreachHandedOver); the program named takes it up from the event."""
    app.hand_over(actor, case_id, body.to_program, body.reason, body.primary_agency, body.counter)
    return HandedOverOut(status="handed over")


router.include_router(plan_router("outreach"))
router.include_router(casework_router())
