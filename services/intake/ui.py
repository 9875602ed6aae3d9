"""Intake counter staff's pages (包括的相談支援): their counter's consultations, reception with
search before create, consent, つなぎ, escalation, cases returned to them, referrals from outreach."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast
from uuid import UUID

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel

from services.intake.access import answering_division, case_writers, may_read_case
from services.intake.api import (
    AnswerIn,
    ConnectIn,
    ConsentIn,
    ConsultationIn,
    ErasureIn,
    EscalateIn,
    PersonIn,
)
from services.intake.application import IntakeApplication
from services.intake.domain import ERASURE_BASES, PossibleDuplicate
from shared.contract.events import CONSENT_COVERS
from shared.domain.reference import CONCERN_FIELDS, COUNTERS
from shared.kernel.journey import DomainError, Invalid
from shared.web.http import DIVISION_TITLES, principal, runtime_of
from shared.web.limits import check_form
from shared.web.policy import (
    allowed,
    reads_every_division,
    requires,
)
from shared.web.ui import UI, actor_of, csv_response, redirect, staff_from_cookie


def _app(request: Request) -> IntakeApplication:
    """This service's application, typed (the runtime holds it as the base class)."""
    return cast(IntakeApplication, runtime_of(request).app)


ui = UI("intake", DIVISION_TITLES["intake"], Path(__file__).parent / "templates")
router = APIRouter(include_in_schema=False)
CHANNELS = ("窓口", "電話", "訪問", "メール", "その他")
STATUS_JA = {"open": "対応中", "escalated": "多機関協働へ", "returned": "会議から戻り"}


def _default_counter(staff: dict[str, str] | None) -> str:
    if staff:
        for counter in COUNTERS.values():
            if counter.division == staff["division"]:
                return counter.code
    return next(iter(COUNTERS))


async def _cases(request: Request, counter: str) -> list[dict[str, Any]]:
    if counter not in COUNTERS:  # a hand-made address: a 4xx, not a KeyError
        raise Invalid("その窓口はありません。窓口一覧 (/reference/counters) から選んでください / "
                      "unknown counter: choose one of /reference/counters")
    app = _app(request)
    cases = await anyio.to_thread.run_sync(app.cases)
    who = principal(request)
    return [c for c in cases if c["counter"] == counter and may_read_case(who, c)]  # division scope


@router.get("/ui/", response_class=HTMLResponse, dependencies=[requires("intake.case.read")])
async def home(request: Request, counter: str | None = None) -> Response:
    staff = staff_from_cookie(request)
    if staff is None:
        return redirect("/ui/login?next=/ui/")
    counter = counter if counter in COUNTERS else _default_counter(staff)
    who = principal(request)  # division scope: a referral is for its counter's division
    referrals = [r for r in await anyio.to_thread.run_sync(_app(request).referrals) if r["counter"] == counter
                 and (reads_every_division(who) or COUNTERS[counter].division == who.division)]
    return ui.render(request, "intake_home.html", f"{COUNTERS[counter].ja}の相談", counter=COUNTERS[counter],
                     counters=list(COUNTERS.values()), cases=await _cases(request, counter), status_ja=STATUS_JA,
                     referrals=referrals)


@router.get("/ui/cases-table", response_class=HTMLResponse, dependencies=[requires("intake.case.read")])
async def cases_table(request: Request, counter: str) -> Response:
    """The live part of the list: reloaded whenever the store changes."""
    return ui.render(request, "intake_cases_table.html", "", cases=await _cases(request, counter), status_ja=STATUS_JA)


@router.get("/ui/cases.csv", dependencies=[requires("intake.case.read")])
async def cases_csv(request: Request, counter: str) -> Response:
    cases = await _cases(request, counter)
    return csv_response(f"相談一覧_{COUNTERS[counter].ja}.csv",
                        ["ケース番号", "窓口", "経路", "相談内容", "状態", "主担当", "同意"],
                        [[c["case_id"], COUNTERS[c["counter"]].ja, c["channel"], "・".join(c["concerns"]),
                          STATUS_JA.get(c["status"], c["status"]), c["primary"],
                          "" if c["consent"] is None else ("あり" if c["consent"]["granted"] else "撤回")] for c in cases])


def _own_counters(staff: dict[str, Any]) -> list[Any]:
    """D2 (issue 13): a counselor receives consultations at their own division's counters only."""
    return [c for c in COUNTERS.values() if c.division == staff.get("division")]


@router.get("/ui/consultations/new", response_class=HTMLResponse, dependencies=[requires("consultation.receive")])
async def new_consultation(request: Request, counter: str | None = None, referral: str | None = None) -> Response:
    staff = staff_from_cookie(request)
    if staff is None:
        return redirect("/ui/login?next=/ui/consultations/new")
    return ui.render(request, "intake_new.html", "相談受付 / new consultation", counters=_own_counters(staff),
                     counter=counter if counter in COUNTERS else _default_counter(staff), channels=CHANNELS,
                     concerns=list(CONCERN_FIELDS.values()), form={}, candidates=None, referral=referral)


@router.post("/ui/consultations", response_class=HTMLResponse, dependencies=[requires("consultation.receive")])
async def receive(request: Request) -> Response:
    staff = staff_from_cookie(request)
    if staff is None:
        return redirect("/ui/login?next=/ui/consultations/new")
    form = await request.form()
    counter = str(form.get("counter", ""))
    person_ref = str(form.get("person_ref") or "") or None
    person = None if person_ref else {k: (str(form.get(k) or "").strip() or None) for k in
                                      ("name", "kana", "birth_date", "address", "phone")}
    if person:
        person["kana"] = person["kana"] or ""
    referral = str(form.get("referral") or "") or None
    app = _app(request)
    actor = actor_of(staff)
    known = COUNTERS.get(counter)
    try:
        if person:  # the API's bounds: lengths, no control characters, a birth date from 1900 to today
            person.update({k: v for k, v in check_form(PersonIn, person).items() if v is not None})
        check_form(ConsultationIn, {"channel": str(form.get("channel", "")), "referral": referral})
        case_id = await anyio.to_thread.run_sync(lambda: app.receive_consultation(
            actor, counter, known.division if known else "", str(form.get("channel", "")),
            [str(c) for c in form.getlist("concerns")], person, person_ref, form.get("confirm_new_person") == "1",
            UUID(referral) if referral else None))
    except PossibleDuplicate as duplicate:
        return ui.render(request, "intake_new.html", "相談受付 / new consultation", status_code=409,
                         counters=_own_counters(staff), counter=counter, channels=CHANNELS,
                         concerns=list(CONCERN_FIELDS.values()), form=form, referral=referral,
                         candidates=duplicate.extra["candidates"])
    except DomainError as refused:
        return ui.render(request, "intake_new.html", "相談受付 / new consultation", status_code=refused.status,
                         counters=_own_counters(staff), counter=counter, channels=CHANNELS,
                         concerns=list(CONCERN_FIELDS.values()), form=form, candidates=None, referral=referral,
                         error=str(refused))
    return redirect(f"/ui/cases/{case_id}", ok="相談を受け付けました / consultation received")


@router.get("/ui/cases/{case_id}", response_class=HTMLResponse, dependencies=[requires("intake.case.read")])
async def case_page(request: Request, case_id: UUID) -> Response:
    app = _app(request)
    case = await anyio.to_thread.run_sync(app.case_view, case_id)
    erased = await anyio.to_thread.run_sync(app.person_erasure, UUID(case["person_ref"]))
    return ui.render(request, "intake_case.html", "相談ケース / case", case=case, counter=COUNTERS[case["counter"]],
                     status_ja=STATUS_JA, erased=erased, erasure_bases=ERASURE_BASES,
                     may_erase=allowed(principal(request), "person.erase"),
                     writable=principal(request).division in case_writers(case),  # division scope of writes
                     answers=[answering_division(case, i) == principal(request).division  # D11: theirs to answer
                              for i in range(len(case["connections"]))])


@router.post("/ui/persons/{person_ref}/erasure", dependencies=[requires("person.erase")])
async def erase_person(request: Request, person_ref: UUID) -> Response:
    """消去 from a case page of the person (a supervisor's action, shared/web/policy.py)."""
    form = {k: str(v).strip() for k, v in (await request.form()).items()}
    try:
        back = f"/ui/cases/{UUID(form.get('case_id', ''))}"  # the page it was sent from
    except ValueError:
        back = "/ui/"
    if not form.get("basis") or not form.get("reason"):
        return redirect(back, ng="根拠と理由を入力してください / give the legal basis and the reason")
    actor = principal(request).actor
    try:
        check_form(ErasureIn, {"reason": form["reason"]})
        await anyio.to_thread.run_sync(
            lambda: _app(request).erase_person(actor, person_ref, form["basis"], form["reason"]))
    except DomainError as refused:
        return redirect(back, ng=str(refused))
    return redirect(back, ok="相談者の個人情報を消去しました / the person's information was erased")


def _case_form(action: str) -> None:
    """A form of the case page: its own route, so the policy names its action (the answer to a
    connection is `connection.answer`, the agency connected to's; the others `intake.case.write`)."""

    async def post(request: Request, case_id: UUID) -> Response:
        return await case_action(request, case_id, action)

    needs = "connection.answer" if action == "answer" else "intake.case.write"
    router.post(f"/ui/cases/{{case_id}}/{action}", name=f"case_{action}", dependencies=[requires(needs)])(post)


for _action in ("consent", "connect", "escalate", "answer"):
    _case_form(_action)


def _covers(form: Any) -> list[str] | None:
    """The consent form's 範囲 checkboxes (D9): only the known codes; none ticked reads the wording."""
    ticked = [str(v) for v in form.getlist("covers") if str(v) in CONSENT_COVERS]
    return ticked or None


async def case_action(request: Request, case_id: UUID, action: str) -> Response:
    """Consent, つなぎ, an answer to a connection, or escalation, from the case page."""
    staff = staff_from_cookie(request)
    if staff is None:
        return redirect(f"/ui/login?next=/ui/cases/{case_id}")
    actor = actor_of(staff)
    form = await request.form()
    app = _app(request)
    text = {k: str(v).strip() for k, v in form.items()}
    index = text.get("index", "0")
    if action == "answer" and not (index.isascii() and index.isdigit() and len(index) <= 5):
        raise Invalid("つなぎの番号 (index) は 0 以上の整数です。ケースの画面から回答してください / "
                      "index must be a whole number: answer from the case page")
    calls = {
        "consent": (lambda: app.record_consent(actor, case_id, text.get("scope", ""), text.get("granted") == "1",
                                               text.get("method", ""), _covers(form)),
                    "同意を記録しました / consent recorded"),
        "connect": (lambda: app.connect_case(actor, case_id, text.get("to_agency", ""), text.get("reason", "")),
                    "つなぎを記録しました / connected"),
        "answer": (lambda: app.answer_connection(actor, case_id, int(index), text.get("accepted") == "1",
                                                 text.get("reason", "")), "回答を記録しました / answer recorded"),
        "escalate": (lambda: app.escalate_case(actor, case_id, text.get("reason", ""), text.get("primary_agency", "")),
                     "多機関協働事業へつなぎました / escalated"),
    }
    call, done = calls[action]
    if any(not text.get(k) for k in {"consent": ("scope", "method"), "connect": ("to_agency", "reason"),
                                      "escalate": ("reason", "primary_agency"), "answer": ()}[action]):
        return redirect(f"/ui/cases/{case_id}", ng="必須項目を入力してください / fill in the required fields")
    try:
        forms: dict[str, type[BaseModel]] = {"consent": ConsentIn, "connect": ConnectIn, "escalate": EscalateIn,
                                             "answer": AnswerIn}
        check_form(forms[action],
                   {k: text.get(k, "") for k in ("scope", "method", "to_agency", "reason", "primary_agency")})
        await anyio.to_thread.run_sync(call)
    except DomainError as refused:
        return redirect(f"/ui/cases/{case_id}", ng=str(refused))
    return redirect(f"/ui/cases/{case_id}", ok=done)


@router.get("/ui/audit/recent-basis", response_class=HTMLResponse, dependencies=[requires("audit.disclosures")])
async def recent_basis_page(request: Request) -> Response:
    """要確認の開示 (issue 13): showings on an own-counter basis the reader had just created."""
    who = principal(request)
    division = None if reads_every_division(who) else who.division
    rows = await anyio.to_thread.run_sync(_app(request).recent_basis_disclosures, division)
    return ui.render(request, "intake_recent_basis.html", "要確認の開示 / disclosures to check", rows=rows)


@router.get("/ui/trend", response_class=HTMLResponse, dependencies=[requires("trend.read")])
async def trend_page(request: Request) -> Response:
    """D14: the trend report as a chart (server-drawn SVG) and a table."""
    rows = await anyio.to_thread.run_sync(_app(request).trend)
    top = max([max(r["consultations"], r["escalations"], r["meeting_cases"]) for r in rows] or [1]) or 1
    return ui.render(request, "intake_trend.html", "傾向 / trend (D14)", rows=rows, top=top)


@router.get("/ui/trend.csv", dependencies=[requires("trend.read")])
async def trend_csv(request: Request) -> Response:
    rows = await anyio.to_thread.run_sync(_app(request).trend)
    return csv_response("傾向.csv", ["期間", "窓口", "相談", "つなぎ", "多機関協働へ", "会議で扱ったケース"],
                        [[r["period_ja"], r["counter_ja"], r["consultations"], r["connections"], r["escalations"],
                          r["meeting_cases"]] for r in rows])
