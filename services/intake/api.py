"""Intake's HTTP door: the command models (the JSON body and the division UI's form alike), the
answers' models (the OpenAPI shows every answer) and the routes, each one application call."""

from __future__ import annotations

import unicodedata
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from services.intake.access import may_read_case, may_see_referral
from services.intake.application import IntakeApplication
from services.intake.domain import RELATIONS, Case, Referral
from shared.contract.events import (
    CLOSING_OUTCOMES,
    CONSENT_COVERS,
    CONSULTATION_ROUTES,
    CONSULTED_BY,
    ClosingOutcome,
    ConsentCover,
    ConsultationRoute,
    ConsultedBy,
)
from shared.domain.wareki import today_in_japan
from shared.kernel.journey import NotFound
from shared.organisation.reference import COUNTERS
from shared.web.casework_api import casework_router
from shared.web.dates import ConsultationDate, WarekiBirthDate
from shared.web.deps import Staff, Who, application
from shared.web.limits import MAX_ITEMS, NAME_PATTERN, LongText, Name, Text, single_line
from shared.web.paging import PAGING_HEADERS, Cursor, Limit, catalogue_order, catalogue_page, page
from shared.web.policy import reads_every_division, requires

App = Annotated[IntakeApplication, Depends(application(IntakeApplication))]
ConnectionIndex = Annotated[int, Path(ge=0, le=10_000, description="つなぎの番号 (index of the case's connections)")]


# -- commands (the JSON body and the division UI's form alike) -------------------------------------


def visible(name: str) -> str:
    """D2: a person is received under a name staff can read: at least one letter, digit or sign, not only zero-width
    characters, spaces or combining marks (which would list the person with an empty-looking name)."""
    if not any(unicodedata.category(ch)[0] in "LNPS" for ch in name):
        raise ValueError("氏名に見える文字がありません（空白・ゼロ幅の文字・結合記号だけです）。氏名を入力してください / "
                         "the name has no visible character (only spaces, zero-width characters or combining marks)")
    return name


#: 氏名: one line, and something to read
PersonName = Annotated[Name, AfterValidator(visible)]

class PersonIn(BaseModel):
    name: PersonName = Field(min_length=1, max_length=200, title="氏名", description="氏名")
    kana: Name = Field(default="", max_length=200, title="ふりがな", description="ふりがな")
    birth_date: WarekiBirthDate | None = Field(
        default=None, title="生年月日",
        description="生年月日: 和暦 (昭和35年2月3日, S35.2.3, 平成元年) or YYYY-MM-DD / YYYY/M/D, from 1900-01-01 to "
                    "today; recorded as YYYY-MM-DD")
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
                                  description="アウトリーチからの紹介 (case_id of GET /referrals): the same case continues. "
                                              "A referral of a case intake already holds (its `person_ref` in GET "
                                              "/referrals) takes that case up again at this counter, its primary now "
                                              "(D3 D11 D12): send that person_ref, or neither person nor person_ref; "
                                              "a person's details or another person_ref is refused with 409")
    confirm_new_person: bool = Field(
        default=False, title="別人として新しく登録する",
        description="検索で見つかった候補とは別人として登録する (search before create: a match is refused with 409 and candidates otherwise)",
    )
    check_similar: bool = Field(
        default=False, title="似ている方も確認する",
        description="部分一致の候補も確認する (issue 15): same kana and birth year, same phone, same address or a similar "
                    "name is refused with 409 and candidates too (the reception form always asks for it)")
    consulted_on: ConsultationDate | None = Field(default=None, title="相談日",
                                                  description="相談日 (default: today): 和暦 or YYYY-MM-DD")
    route: ConsultationRoute | None = Field(default=None, title="相談経路", description="相談経路: " + ", ".join(
        f"{k}={v}" for k, v in CONSULTATION_ROUTES.items()))
    consulted_by: ConsultedBy | None = Field(default=None, title="相談者（どなたから）", description="相談者: " + ", ".join(
        f"{k}={v}" for k, v in CONSULTED_BY.items()))
    main_complaint: Text | None = Field(default=None, max_length=500, title="主訴",
                                        description="主訴 (personal: kept sealed in intake, never on the bus)")
    summary: Text | None = Field(default=None, max_length=4000, title="相談概要",
                                 description="相談概要 (personal: kept sealed in intake, never on the bus)")


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


class CloseIn(BaseModel):
    """対応終了 (issue 15)."""

    outcome: ClosingOutcome = Field(title="対応終了の結果", description="結果: " + ", ".join(
        f"{k}={v}" for k, v in CLOSING_OUTCOMES.items()))
    note: Text = Field(default="", max_length=2000, title="経過のまとめ", description="経過のまとめ (stays in intake)")


class AnswerIn(BaseModel):
    accepted: bool = Field(title="受け入れ", description="true: 受け入れ (accepts and becomes primary), false: 辞退")
    reason: Text = Field(default="", max_length=2000, title="理由", description="理由 (required when declining)")


class HouseholdIn(BaseModel):
    """世帯をつくる (D16) around a case's person."""

    since: ConsultationDate | None = Field(default=None, title="世帯として把握した日",
                                           description="世帯として把握した日 (default: today): 和暦 or YYYY-MM-DD")


class MemberIn(BaseModel):
    """世帯員を加える (D16): an existing person found by the search (person_ref), or a new person."""

    relation: Literal["spouse", "child", "parent", "other"] = Field(
        title="続柄", description="世帯主（本人）との続柄: " + ", ".join(f"{k}={v}" for k, v in RELATIONS.items() if k != "self"))
    person_ref: Name | None = Field(default=None, max_length=100, title="既知の相談者",
                                    description="既知の相談者 (person_ref from GET /persons/find)")
    person: PersonIn | None = Field(default=None, title="新しい方", description="新しい方 (a new person)")
    confirm_new_person: bool = Field(default=False, title="別人として新しく登録する",
                                     description="a known match is refused with 409 and candidates otherwise")


class RemovalIn(BaseModel):
    """世帯員を外す (D16)."""

    member: Name = Field(min_length=1, max_length=100, title="外す世帯員", description="外す世帯員の person_ref")


class HouseholdEscalateIn(BaseModel):
    """世帯のケースを一つのプランへ (D16 D3): the first case is escalated carrying the others."""

    case_ids: list[UUID] = Field(min_length=2, max_length=MAX_ITEMS, title="一緒につなぐケース",
                                 description="the household's cases (2 or more); the first is escalated (CaseEscalated), "
                                             "the others are held with it (世帯で連携中)")
    reason: Text = Field(min_length=1, max_length=2000, title="理由（複雑化・複合化）", description="複雑化・複合化の理由")
    primary_agency: Name = Field(min_length=1, max_length=200, title="主担当機関", description="主担当機関 (D11)")


def receive_consultation(app: IntakeApplication, actor: dict[str, str], command: ConsultationIn) -> UUID:
    """相談受付 as the API and the reception form send it: the counter names its division (D2)."""
    counter = COUNTERS.get(command.counter)
    reception = {"consulted_on": command.consulted_on or today_in_japan().isoformat(), "route": command.route,
                 "consulted_by": command.consulted_by, "main_complaint": command.main_complaint,
                 "summary": command.summary}
    return app.receive_consultation(
        actor, command.counter, counter.division if counter else "", command.channel, command.concerns,
        command.person.model_dump() if command.person else None, command.person_ref, command.confirm_new_person,
        command.referral, reception=reception, check_similar=command.check_similar)


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


class ReturnOut(View):
    """会議から戻った理由 (D5 D11): a return of the case to intake by a meeting (CaseReturnedToIntake)."""

    meeting_id: str = Field(description="the meeting that returned the case (its sitting: `sittings`)")
    primary_agency: str = Field(description="主担当機関 the meeting named (D11)")
    reason: str = Field(description="the meeting's reason; empty for a 支援会議, whose reason stays with its members "
                                    "(D10: it never travels on the bus)")


class CaseOut(View):
    """相談ケース: the case as intake records it."""

    case_id: UUID
    counter: str = Field(description="受付窓口のコード")
    division: str = Field(description="受付窓口の課")
    channel: str
    concerns: list[str] = Field(description="相談内容の分野")
    person_ref: str = Field(description="相談者の番号 (GET /cases/{case_id}/person shows the person on a legal basis)")
    primary: str = Field(description="主担当機関 (D11)")
    status: str = Field(description="open, escalated, returned, plan_closed (its plan's 終結) or closed (対応終了)")
    consulted_on: str | None = Field(default=None, description="相談日 (YYYY-MM-DD; null before issue 15)")
    route: str | None = Field(default=None, description="相談経路 (code)")
    consulted_by: str | None = Field(default=None, description="相談者 (code)")
    closure: dict[str, str] | None = Field(default=None, description="対応終了: outcome and status_before (the note "
                                           "stays with the person's information)")
    consent: ConsentOut | None
    connections: list[ConnectionOut]
    meetings: list[MeetingOutcomeOut]
    sittings: list[SittingOut]
    returns: list[ReturnOut] = Field(default=[], description="会議から戻った理由: each return to intake by a meeting, "
                                                             "in the order they came (the counter's case page shows them)")
    disclosures: int
    escalation_candidate: bool = Field(description="D3: concerns in two or more fields (複合化)")


class CandidateOut(View):
    """A person already known (search before create); showing them is recorded."""

    person_ref: str
    name: str | None
    kana: str | None
    birth_date: str | None


class SearchIn(BaseModel):
    """相談者の検索 (issue 15): any of the four, as typed (width, kana and spaces do not matter)."""

    name: Name | None = Field(default=None, max_length=200, title="氏名")
    kana: Name | None = Field(default=None, max_length=200, title="ふりがな")
    phone: Name | None = Field(default=None, max_length=50, title="電話")
    birth_date: WarekiBirthDate | None = Field(default=None, title="生年月日")


class FoundPersonOut(View):
    """A person found by the search (issue 15), with the cases of theirs the reader may read."""

    person_ref: str
    name: str | None
    kana: str | None
    birth_date: str | None
    cases: list[dict[str, str]]


class FoundOut(BaseModel):
    """相談者の検索 (issue 15): the people the reader's division may read; how many others match elsewhere."""

    people: list[FoundPersonOut]
    elsewhere: int = Field(description="他の窓口に該当する方の人数 (no name: another counter holds them)")
    too_many: int = Field(default=0, description="該当が多すぎて表示しなかった人数: more than MOST_FOUND_SHOWN (50) people "
                                                 "the caller may see matched, so none is shown nor recorded; 0 otherwise. "
                                                 "Narrow the search (a longer name, kana, birth date, phone)")


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
    person_ref: str | None = Field(default=None, description="the person of a case intake already holds (D12: receiving "
                                                             "the referral takes that case up again); null otherwise")


class RecentBasisOut(View):
    """要確認の開示 (issue 13)."""

    occurred_at: str
    case_id: UUID
    person_ref: str
    staff_id: str
    division: str
    basis: str


class HouseholdRef(BaseModel):
    """世帯 (D16): its pseudonymous ref."""

    household_ref: UUID


class MemberRef(BaseModel):
    household_ref: UUID
    person_ref: str


class MemberCaseOut(View):
    case_id: str
    counter: str
    status: str = Field(description="open, escalated, linked (世帯で連携中), plan_suspended, plan_closed, returned, closed")
    primary: str
    assignee: str | None = Field(description="担当者 (staff id)")
    writable: bool = Field(description="the caller's division may change the case (and escalate it with the household)")


class MemberOut(View):
    """A member: named with their cases for a caller with a basis (each showing recorded), else 世帯員（閲覧権限なし）."""

    person_ref: str
    head: bool
    shown: bool = Field(description="false: 世帯員（閲覧権限なし）: no name, relation nor case, only how many cases")
    erased: bool = Field(default=False, description="the member's personal information was erased (消去)")
    since: str
    case_count: int
    relation: str | None = Field(default=None, description="続柄 (spouse, child, parent, other; self: the head)")
    name: str | None = None
    kana: str | None = None
    birth_date: str | None = None
    basis: str | None = Field(default=None, description="own_counter, consent, shien_kaigi or added_here")
    cases: list[MemberCaseOut] = []


class FormerMemberOut(View):
    person_ref: str
    since: str
    until: str


class HouseholdOut(View):
    """世帯 (D16): its members now and before."""

    household_ref: str
    head_ref: str
    members: list[MemberOut]
    former: list[FormerMemberOut]


class HouseholdEscalated(BaseModel):
    case_id: UUID = Field(description="the case escalated (CaseEscalated with household_ref and related_case_ids)")
    related_case_ids: list[UUID] = Field(description="the household's cases held with it (世帯で連携中)")
    household_ref: UUID
    status: str


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


#: the 200 answer's headers of a paged list (issue 17, shared/web/paging.py)
PAGED: dict[int | str, dict[str, Any]] = {200: {"headers": PAGING_HEADERS}}


#: a search's name or kana, and its phone: the bound on the text itself, so that a refusal counts characters (with
#: the bound on `Name | None`, pydantic said "at most 50 items": the review from outside)
_Name = Annotated[str, Field(max_length=200), AfterValidator(single_line), Field(json_schema_extra={"pattern": NAME_PATTERN})]
_Phone = Annotated[str, Field(max_length=50), AfterValidator(single_line), Field(json_schema_extra={"pattern": NAME_PATTERN})]
NameQuery = Annotated[_Name | None, Query(description="氏名またはその一部（全角半角・旧字体・空白は区別しません） / the name "
                                                      "or a part of it (width, old character forms and spaces ignored)")]
KanaQuery = Annotated[_Name | None, Query(description="ふりがなまたはその一部（ひらがな・カタカナは区別しません） / the kana "
                                                      "reading or a part of it (hiragana and katakana alike)")]
PhoneQuery = Annotated[_Phone | None, Query(description="電話番号の末尾 4 桁以上（ハイフンは無視します） / the phone number's "
                                                        "last 4 digits or more (hyphens ignored)")]
#: search before create (`/persons/search`): the same person, by name and birth date, or by kana and phone
SameName = Annotated[_Name | None, Query(description="氏名（生年月日と組で、同じ氏名の方） / the name: with birth_date, "
                                                     "people of that very name")]
SameKana = Annotated[_Name | None, Query(description="ふりがな（電話番号と組で） / the kana reading: with phone, people of "
                                                     "that very reading and number")]
SamePhone = Annotated[_Phone | None, Query(description="電話番号（ふりがなと組で） / the phone number: with kana")]


@router.get("/persons/search", response_model=list[CandidateOut], dependencies=[requires("person.search")],
            responses=PAGED)
def search(
    app: App, actor: Staff, request: Request, response: Response,
    name: SameName = None,
    birth_date: Annotated[WarekiBirthDate | None, Query(description="和暦 or YYYY-MM-DD")] = None,
    kana: SameKana = None, phone: SamePhone = None,
    limit: Limit = None, cursor: Cursor = None,
) -> list[dict[str, Any]]:
    """相談者の検索 (search before create): same name and birth date, or same kana and phone; by person_ref.

    Staff only; every candidate shown is recorded as a reading of personal information (audit disclosures):
    paged by `limit` and `cursor` (a keyset), only the page's candidates are shown, so only they are recorded."""
    return app.search_people(actor, name, birth_date, kana, phone,
                             lambda found: page(found, limit, cursor, request, response, _by_person_ref))


@router.get("/persons/find", response_model=FoundOut, dependencies=[requires("person.search")])
def find(
    app: App, who: Who, name: NameQuery = None, kana: KanaQuery = None, phone: PhoneQuery = None,
    birth_date: Annotated[WarekiBirthDate | None, Query(description="和暦 or YYYY-MM-DD")] = None,
) -> dict[str, Any]:
    """相談者の検索 (issue 15): any of name, kana, phone, birth date; width-, kana- and space-insensitive.

    Only the people whose cases the caller's division may read are named (each showing recorded as a
    disclosure: Person.Shown, purpose search); the others are counted (`elsewhere`), never named."""
    return app.find_anyone(who, name, kana, phone, birth_date)


@router.post("/persons/{person_ref}/erasure", response_model=PersonOut, dependencies=[requires("person.erase")])
def erase(person_ref: UUID, body: ErasureIn, app: App, actor: Staff) -> dict[str, Any]:
    """個人情報の消去 (crypto-shredding): the person's key is deleted; the events stay and read as erased.

    Recorded as `Person.Erased` (who, when, basis, reason) in the disclosures audit and every case journey
    of the person. A second erasure is refused with 409."""
    return app.erase_person(actor, person_ref, body.basis, body.reason)


@router.get("/reports/trend", response_model=list[TrendRowOut], dependencies=[requires("trend.read")], responses=PAGED)
def trend(app: App, request: Request, response: Response, limit: Limit = None, cursor: Cursor = None) -> list[dict[str, Any]]:
    """D14 傾向: per counter and fiscal quarter, consultations, つなぎ, escalations and meeting cases; by fiscal year,
    quarter and counter, paged by `limit` and `cursor` (a keyset: a counter's first consultation in a quarter
    already walked past shifts nothing)."""
    return page(app.trend(), limit, cursor, request, response, _by_period)


@router.get("/referrals", response_model=list[ReferralOut], dependencies=[requires("referral.read")], responses=PAGED)
def referrals(app: App, who: Who, request: Request, response: Response, limit: Limit = None,
              cursor: Cursor = None) -> list[dict[str, Any]]:
    """アウトリーチからの紹介 (D12): waiting to be received at their counter (those of the caller's division), oldest
    first; paged by `limit` and `cursor` (a keyset: a referral received between two pages skips nothing)."""
    order = catalogue_order(lambda: app.ids_of(Referral), "referral_id")
    return page([r for r in app.referrals() if may_see_referral(who, r)], limit, cursor, request, response,
                lambda r: order({"referral_id": Referral.id_for(UUID(str(r["case_id"])))}))


@router.get("/cases", response_model=list[CaseOut], dependencies=[requires("intake.case.read")], responses=PAGED)
def cases(app: App, who: Who, request: Request, response: Response, limit: Limit = None,
          cursor: Cursor = None) -> list[dict[str, Any]]:
    """The cases the caller's division may read (services/intake/access.py case_readers), oldest first; paged by
    `limit` and `cursor` (a keyset: a case that becomes readable between two pages shifts nothing). A page reads
    only its own cases (and the next one), not every case of the year."""
    if limit is None and not cursor:
        return [c for c in app.cases() if may_read_case(who, c)]

    def readable(case_id: UUID) -> dict[str, Any] | None:
        view = app.case_view(case_id)
        return view if may_read_case(who, view) else None

    return catalogue_page(app.ids_of(Case), limit, cursor, request, response, readable, "case_id")


@router.get("/cases/{case_id}", response_model=CaseOut, dependencies=[requires("intake.case.read")])
def case(case_id: UUID, app: App) -> dict[str, Any]:
    """相談ケース: its counter, status, concerns, primary agency, consent and closure, no personal information (the
    person: `GET /cases/{case_id}/person` with a basis, D9 D10)."""
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


@router.post("/cases/{case_id}/closure", response_model=CaseChanged, dependencies=[requires("intake.case.write")])
def close(case_id: UUID, body: CloseIn, app: App, actor: Staff) -> dict[str, str]:
    """対応終了 (issue 15): close a case intake handled itself, with an outcome; 409 while its plan is active, also on a
    case a counter took up again from outreach's referral while the plan it was escalated under is in force (D7: the
    meeting ends the plan first)."""
    app.close_case(actor, case_id, body.outcome, body.note)
    return {"case_id": str(case_id), "status": "closed"}


@router.get("/cases/{case_id}/person", response_model=PersonOut, dependencies=[requires("person.read")])
def person(
    case_id: UUID, app: App, actor: Staff,
    basis: Literal["own_counter", "consent", "shien_kaigi"] = Query(description="閲覧の根拠 (D9, D10)"),
    meeting_id: UUID | None = Query(default=None, description="basis=shien_kaigi: the 支援会議"),
) -> dict[str, Any]:
    """相談者の個人情報: shown on a legal basis, and every showing is recorded (D9, D10)."""
    return app.disclose_person(actor, case_id, basis, meeting_id)


@router.get("/audit/disclosures/recent-basis", response_model=list[RecentBasisOut],
            dependencies=[requires("audit.disclosures")], responses=PAGED)
def recent_basis(app: App, who: Who, request: Request, response: Response, limit: Limit = None,
                 cursor: Cursor = None) -> list[dict[str, Any]]:
    """要確認の開示 (issue 13): personal information shown on an own-counter basis that the reader had
    created shortly before (within 24 h: a search, a new case at their counter for a person already known,
    then the person's record). Legitimate for a real second consultation; listed for supervisors to check.
    A supervisor sees their division's staff; an auditor every division. In the store's order, so the list only
    grows at its end: paged by `limit` and `cursor` (the position of the next row)."""
    return page(app.recent_basis_disclosures(None if reads_every_division(who) else who.division), limit, cursor,
                request, response)


def _by_person_ref(candidate: dict[str, Any]) -> tuple[str]:
    """The candidates' order (people.py find: by person_ref), unique per candidate: a keyset."""
    return (str(candidate["person_ref"]),)


def _by_period(row: dict[str, Any]) -> tuple[int, int, str]:
    """The trend's order (trend.py: fiscal year, quarter, counter), unique per row: a keyset."""
    return (int(row["fiscal_year"]), int(row["quarter"]), str(row["counter"]))


@router.post("/cases/{case_id}/household", status_code=201, response_model=HouseholdRef,
             dependencies=[requires("intake.case.write")])
def form_household(case_id: UUID, body: HouseholdIn, app: App, actor: Staff) -> dict[str, str]:
    """世帯をつくる (D16): around the person of this case (世帯主・本人); 409 when they belong to one already."""
    return {"household_ref": str(app.form_household(actor, case_id, body.since))}


@router.get("/cases/{case_id}/household", response_model=HouseholdRef, dependencies=[requires("intake.case.read")])
def household_of_case(case_id: UUID, app: App) -> dict[str, str]:
    """The household this case's person belongs to now (404: none)."""
    found = app.household_of_case(case_id)
    if found is None:
        raise NotFound("この方はまだ世帯に登録されていません / this person belongs to no household yet")
    return {"household_ref": str(found)}


@router.get("/persons/{person_ref}/household", response_model=HouseholdOut, dependencies=[requires("person.read")])
def household(person_ref: UUID, app: App, who: Who) -> dict[str, Any]:
    """世帯 (D16) of this person: each member with their cases at intake, for a caller with a basis for that member
    (each showing recorded as a disclosure); the others as 世帯員（閲覧権限なし）. 404: no household."""
    return app.household_view(who, app.household_id_of(str(person_ref)))


@router.post("/persons/{person_ref}/household/members", status_code=201, response_model=MemberRef,
             dependencies=[requires("intake.case.write")])
def add_member(person_ref: UUID, body: MemberIn, app: App, actor: Staff) -> dict[str, str]:
    """世帯員を加える (D16) to this person's household: a person the caller's division may be shown, or a new
    person (409 with candidates when they may be known already); one household at a time (409)."""
    household_id = app.household_id_of(str(person_ref))
    ref = app.add_member(actor, household_id, body.relation, body.person_ref,
                         body.person.model_dump() if body.person else None, body.confirm_new_person)
    return {"household_ref": str(household_id), "person_ref": ref}


@router.post("/persons/{person_ref}/household/removal", response_model=HouseholdRef,
             dependencies=[requires("intake.case.write")])
def remove_member(person_ref: UUID, body: RemovalIn, app: App, actor: Staff) -> dict[str, str]:
    """世帯員を外す (D16) from this person's household: kept as a former member; the head (本人) stays (409)."""
    household_id = app.household_id_of(str(person_ref))
    app.remove_member(actor, household_id, body.member)
    return {"household_ref": str(household_id)}


@router.post("/persons/{person_ref}/household/escalation", response_model=HouseholdEscalated,
             dependencies=[requires("intake.case.write")])
def escalate_household(person_ref: UUID, body: HouseholdEscalateIn, app: App, actor: Staff) -> dict[str, Any]:
    """世帯のケースを一つのプランへ (D16 D3): the first case is escalated with the household's ref and the others'
    ids (no personal data on the bus); the others show 世帯で連携中. Each must be a current member's case the
    caller's division may change; all or none."""
    return app.escalate_household(actor, app.household_id_of(str(person_ref)), body.case_ids, body.reason,
                                  body.primary_agency)


router.include_router(casework_router())  # 担当者・支援経過記録・自分の担当 (shared/web/casework_api.py)
