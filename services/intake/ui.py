"""Intake counter staff's pages (包括的相談支援): their counter's consultations, reception with
search before create, consent, つなぎ, escalation, cases returned to them, referrals from outreach.

Each form is read into the API's own command model (services/intake/api.py) and sent to one use case;
the pages read the application's queries, never the store."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from uuid import UUID, uuid4

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from services.intake.access import answering_division, case_writers, may_read_case, may_see_referral
from services.intake.api import (
    AnswerIn,
    App,
    CloseIn,
    ConnectIn,
    ConsentIn,
    ConsultationIn,
    ErasureIn,
    EscalateIn,
    HouseholdEscalateIn,
    HouseholdIn,
    MemberIn,
    PersonIn,
    RemovalIn,
    SearchIn,
    Staff,
    Who,
    receive_consultation,
)
from services.intake.application import MOST_FOUND_SHOWN, IntakeApplication
from services.intake.domain import CLOSING_OUTCOMES, CONSULTED_BY, ERASURE_BASES, RELATIONS, ROUTES, PossibleDuplicate
from shared.domain.wareki import age_on, today_in_japan, wareki
from shared.kernel.journey import DomainError, Invalid, NotFound
from shared.organisation.reference import (
    CONCERN_FIELDS,
    COUNTERS,
    DIVISION_TITLES,
    agencies,
    agency_code,
    agency_name,
    counters,
)
from shared.web.auth import Principal
from shared.web.casework_api import casework_pages
from shared.web.deps import call
from shared.web.limits import form_model, form_text
from shared.web.policy import allowed, reads_every_division, requires
from shared.web.showing import records_showing, with_query
from shared.web.ui import UI, Filters, csv_response, filters_of, paged, redirect

ui = UI("intake", DIVISION_TITLES["intake"], Path(__file__).parent / "templates")


def agency_ja(agency: str | None) -> str:
    """An agency as staff read it (issue 18): a つなぎ先 or 主担当 recorded as a code of the municipality file (before
    intake recorded a code by its name) shows the agency's name; a name shows as itself."""
    if not agency:
        return ""
    return agency_name(agency) if agency_code(agency) == agency and ":" in agency else agency


ui.templates.env.filters["agency_ja"] = agency_ja
ui.templates.env.globals["most_shown"] = MOST_FOUND_SHOWN  # the search's most people shown (application.py)
router = APIRouter(include_in_schema=False)
STATUS_JA = {"open": "対応中", "escalated": "多機関協働で支援中", "linked": "世帯で連携中", "plan_suspended": "中断",
             "returned": "会議から戻り", "plan_closed": "終結", "closed": "対応終了"}
#: issue 15: a list page's view, by (staff id, view token): the cases whose person was shown (and recorded)
#: in it, so that its live reloads show them again without recording the same showing once more (and
#: without a reload recording a disclosure that changes the store that triggers the next reload)
_VIEWS: OrderedDict[tuple[str, str], set[str]] = OrderedDict()
_VIEWS_LOCK = threading.Lock()
MAX_VIEWS = 2000
NEW = "相談受付 / new consultation"


def _listed_values(value: Any) -> list[Any]:
    """A form field sent once or more (form_text gives one value as itself) as a list; none: []."""
    return value if isinstance(value, list) else [] if value in (None, "") else [value]


def _default_counter(who: Principal) -> str:
    for counter in COUNTERS.values():
        if counter.division == who.division:
            return counter.code
    return next(iter(COUNTERS))


def _own_counters(who: Principal) -> list[Any]:
    """D2 (issue 13): a counselor receives consultations at their own division's counters only."""
    return [c for c in COUNTERS.values() if c.division == who.division]


def _at_counter(case: dict[str, Any], counter: str) -> bool:
    """D12 D11: whether the case is the counter's: it received it, or it is the counter that took the case up last
    from an outreach referral (Case.take_up_referral: the counter holding it now, which handles and closes it)."""
    taken_up = case.get("taken_up") or []
    return case["counter"] == counter or bool(taken_up) and taken_up[-1]["counter"] == counter


def _cases(app: IntakeApplication, who: Principal, counter: str) -> list[dict[str, Any]]:
    """A counter's cases (_at_counter) that the reader's division may read (division scope)."""
    if counter not in COUNTERS:  # a hand-made address: a 4xx, not a KeyError
        raise Invalid("その窓口はありません。窓口一覧 (/reference/counters) から選んでください / "
                      "unknown counter: choose one of /reference/counters")
    return [c for c in app.cases() if _at_counter(c, counter) and may_read_case(who, c)]


def _with_persons(app: IntakeApplication, who: Principal, cases: list[dict[str, Any]], view: str) -> dict[str, Any]:
    """The persons of the listed cases the reader has a basis for (issue 15), recorded once per page view:
    a live reload of the same view records only the cases it had not shown yet. Roles without `person.read`
    (an auditor) see no person (shared/web/policy.py)."""
    if not allowed(who, "person.read"):
        return {}
    key = (who.staff_id, view)
    with _VIEWS_LOCK:
        recorded = frozenset(_VIEWS.get(key, set()))
    persons = app.persons_in_view(who, [UUID(c["case_id"]) for c in cases], "list", recorded=recorded)
    with _VIEWS_LOCK:
        _VIEWS[key] = set(recorded) | set(persons)
        _VIEWS.move_to_end(key)
        while len(_VIEWS) > MAX_VIEWS:
            _VIEWS.popitem(last=False)
    return {ref: _person_shown(p) for ref, p in persons.items()}


def _person_shown(person: dict[str, Any]) -> dict[str, Any]:
    """A person as the pages show them: 生年月日 in 和暦 with the age (満年齢)."""
    age = age_on(person.get("birth_date"))
    return {**person, "birth_wareki": wareki(person.get("birth_date"), with_gregorian=False),
            "age": age}


def _list_filters(request: Request) -> Filters:
    """The filter bar's filters of a counter's list: its `counter` is the list's own (`_cases`: the cases it received
    and those it took up, D11 D12), not a filter on the counter that first received each case (which dropped a case
    taken up from the live list and the CSV, and called an empty counter's list 「条件に合う…」)."""
    return replace(filters_of(request), counter="")


def _listed(request: Request, app: IntakeApplication, who: Principal, counter: str, view: str) -> dict[str, Any]:
    """One page of the counter's cases the filter bar keeps (状態, 担当者, 相談日 from/to), newest first, with
    its pager; only the page's persons are shown (and recorded, issue 15)."""
    assigned = app.assignments()
    rows = [{**c, "assignee": (assigned.get(c["case_id"]) or (None, None))[0] or ""}
            for c in reversed(_cases(app, who, counter))]
    filters = _list_filters(request)
    cases, paging = paged(request, filters.apply(rows, day="consulted_on"))
    return {"cases": cases, "paging": paging, "filters": filters, "status_ja": STATUS_JA,
            "assignees": {a: a for a in sorted({r["assignee"] for r in rows if r["assignee"]})},
            "persons": _with_persons(app, who, cases, view)}


def _table_query(request: Request, counter: str, view: str) -> str:
    """The live table's address: the page's filters and page, its counter and its view."""
    kept = [(k, v) for k, v in request.query_params.multi_items() if k not in ("counter", "view", "ok", "ng", "sig")]
    return urlencode([("counter", counter), ("view", view), *kept])


@router.get("/ui/", response_class=HTMLResponse, dependencies=[  # narrowed by another site: its persons are chosen
    requires("intake.case.read"), records_showing(ui, with_query("status", "assignee", "from", "to", "page", "per_page"))])
def home(request: Request, app: App, who: Who, counter: str | None = None) -> Response:
    chosen = counter if counter is not None and counter in COUNTERS else _default_counter(who)
    referrals = [r for r in app.referrals() if r["counter"] == chosen and may_see_referral(who, r)]
    view = uuid4().hex
    # a referral of a case intake holds names its person to a reader entitled to them (D9 D10, recorded with the list's)
    referred = _with_persons(app, who, [r for r in referrals if r.get("person_ref")], view)
    return ui.render(request, "intake_home.html", f"{COUNTERS[chosen].ja}の相談", counter=COUNTERS[chosen],
                     counters=list(counters().values()), referrals=referrals, referred=referred, view=view,
                     table_query=_table_query(request, chosen, view), **_listed(request, app, who, chosen, view))


@router.get("/ui/cases-table", response_class=HTMLResponse,
            dependencies=[requires("intake.case.read"), records_showing(ui)])
def cases_table(request: Request, app: App, who: Who, counter: str, view: str = "") -> Response:
    """The live part of the list: reloaded whenever the store changes (the same page view: `view`)."""
    view = view[:64] or uuid4().hex
    return ui.render(request, "intake_cases_table.html", "", **_listed(request, app, who, counter, view))


@router.get("/ui/cases.csv", dependencies=[requires("intake.case.read")])
def cases_csv(request: Request, app: App, who: Who, counter: str) -> Response:
    """The counter's cases as the filter bar keeps them (every page), with each one's 相談日 and 担当者 (the list's filters)."""
    assigned = app.assignments()
    cases = _list_filters(request).apply([{**c, "assignee": (assigned.get(c["case_id"]) or (None, None))[0] or ""}
                                          for c in _cases(app, who, counter)], day="consulted_on")
    return csv_response(f"相談一覧_{COUNTERS[counter].ja}.csv",
                        ["ケース番号", "窓口", "経路", "相談内容", "状態", "主担当", "同意", "相談日", "担当者"],
                        [[c["case_id"], COUNTERS[c["counter"]].ja, c["channel"], "・".join(c["concerns"]),
                          STATUS_JA.get(c["status"], c["status"]), c["primary"],
                          "" if c["consent"] is None else ("あり" if c["consent"]["granted"] else "撤回"),
                          c.get("consulted_on") or "", c["assignee"]] for c in cases])


def _known_person(app: IntakeApplication, who: Principal, person_ref: Any, referral: Any) -> dict[str, Any] | None:
    """The person a reception form is for (a referral's case's, or one chosen in the search), as the case page shows
    them, to a division with a legal basis on a case of theirs it may read (D9 D10: the counter that received them, a
    consent that covers it, a 支援会議 it sat in; the showing recorded, `shown_in` "reception"); None to any other,
    whose form says the person's reference only (blocking)."""
    if not person_ref or not allowed(who, "person.read"):
        return None
    try:
        ref, first = UUID(str(person_ref)), UUID(str(referral)) if referral else None
    except ValueError:
        return None
    cases = app.cases_of_person(str(ref))
    for case_id in sorted(cases, key=lambda c: c != first):  # the referral's own case first
        view = app.case_view(case_id)
        if view.get("person_ref") != str(ref) or not may_read_case(who, view):
            continue
        shown = app.persons_in_view(who, [case_id], "reception").get(str(case_id))
        if shown:
            return _person_shown(shown)
    return None


def _reception(request: Request, app: IntakeApplication, who: Principal, counter: str, sent: dict[str, Any],
               referral: str | None, status_code: int = 200, candidates: list[dict[str, Any]] | None = None,
               error: str | None = None, elsewhere: int = 0) -> Response:
    """The reception form (相談受付票), empty or as sent (with the candidates or the refusal); a known person's
    name shown to a division entitled to it (`_known_person`), else their reference (blocking)."""
    known = None if candidates else _known_person(app, who, sent.get("person_ref"), referral)
    referred = next((r for r in app.referrals() if r["case_id"] == str(referral) and may_see_referral(who, r)), None) \
        if referral else None  # outreach's reason, for the counter to read before receiving
    return ui.render(request, "intake_new.html", NEW, status_code=status_code, counters=_own_counters(who),
                     counter=counter, routes=ROUTES, consulted_by=CONSULTED_BY, concerns=list(CONCERN_FIELDS.values()),
                     form=sent, ticked=_listed_values(sent.get("concerns")), candidates=candidates, elsewhere=elsewhere,
                     referral=referral, error=error, today=wareki(today_in_japan(), with_gregorian=False), known=known,
                     referred=referred)


@router.get("/ui/consultations/new", response_class=HTMLResponse,
            dependencies=[requires("consultation.receive"), records_showing(ui, with_query("person_ref"))])
def new_consultation(request: Request, app: App, who: Who, counter: str | None = None, referral: str | None = None,
                     person_ref: str | None = None) -> Response:
    """The reception form; `person_ref`: a person chosen in the search (受付前の検索) or a referral's case's."""
    sent = {"person_ref": person_ref[:100]} if person_ref else {}
    return _reception(request, app, who,
                      counter if counter is not None and counter in COUNTERS else _default_counter(who), sent, referral)


def _chosen(text: dict[str, Any]) -> dict[str, Any]:
    """The form's one exclusive choice among the candidates (`choice`: a person's number, or `new`) as the
    API's fields (person_ref, confirm_new_person); the 相談経路 as the channel's words; partial matches checked."""
    choice, sent = str(text.get("choice") or ""), dict(text)
    if choice == "new":
        sent["confirm_new_person"] = "1"
    elif choice:
        sent["person_ref"] = choice
    route = str(sent.get("route") or "")
    if route in ROUTES and not sent.get("channel"):
        sent["channel"] = ROUTES[route]
    sent.setdefault("check_similar", "1")
    return sent


@router.post("/ui/consultations", response_class=HTMLResponse, dependencies=[requires("consultation.receive")])
async def receive(request: Request, app: App, who: Who) -> Response:
    text = _chosen(await form_text(request))
    counter, referral = str(text.get("counter", "")), text.get("referral") or None
    try:
        # the form's one choice between the API's two shapes: a known person (candidates) or the person's fields
        person = None if text.get("person_ref") else form_model(PersonIn, text)
        command = form_model(ConsultationIn, {**text, "person": person})
        case_id = await call(receive_consultation, app, who.actor, command)
    except PossibleDuplicate as duplicate:
        return await call(_reception, request, app, who, counter, text, referral, 409,
                          candidates=list(duplicate.extra["candidates"]), elsewhere=int(duplicate.extra["elsewhere"]))
    except DomainError as refused:
        return await call(_reception, request, app, who, counter, text, referral, refused.status, error=str(refused))
    return redirect(f"/ui/cases/{case_id}", ok="相談を受け付けました / consultation received")


@router.get("/ui/persons", response_class=HTMLResponse,
            dependencies=[requires("person.search"), records_showing(ui, with_query("name", "kana", "phone", "birth_date"))])
def search_page(request: Request, app: App, who: Who, name: str = "", kana: str = "", phone: str = "",
                birth_date: str = "") -> Response:
    """相談者の検索 (issue 15): before reception and at any time; a search that finds is recorded."""
    sent = {"name": name[:200], "kana": kana[:200], "phone": phone[:50], "birth_date": birth_date[:40]}
    found, error = None, None
    if any(sent.values()):
        try:
            query = form_model(SearchIn, sent)
            found = app.find_anyone(who, query.name, query.kana, query.phone, query.birth_date)
            found["people"] = [_person_shown(p) for p in found["people"]]
        except DomainError as refused:
            error = str(refused)
    return ui.render(request, "intake_search.html", "相談者の検索 / search", form=sent, found=found, error=error,
                     counter=_default_counter(who), status_ja=STATUS_JA, counters=COUNTERS)


@router.get("/ui/cases/{case_id}", response_class=HTMLResponse,
            dependencies=[requires("intake.case.read"), records_showing(ui)])
def case_page(request: Request, case_id: UUID, app: App, who: Who) -> Response:
    return _case_page(request, app, who, case_id)


def _case_page(request: Request, app: IntakeApplication, who: Principal, case_id: UUID, status_code: int = 200,
               refused: dict[str, Any] | None = None) -> Response:
    """The case page; `refused`: a form of it that was refused (`where`), its fields as typed (`form`) and why
    (`message`), shown beside that form so that nothing typed is lost (blocking: run it in the thread pool)."""
    case = app.case_view(case_id)
    shown = app.persons_in_view(who, [case_id], "case").get(str(case_id)) if allowed(who, "person.read") else None
    return ui.render(request, "intake_case.html", "相談ケース / case", status_code=status_code, case=case,
                     counter=COUNTERS[case["counter"]],
                     casework=app.case_file(case_id), household=app.household_of_case(case_id),
                     today=wareki(today_in_japan(), with_gregorian=False),
                     person=_person_shown(shown) if shown else None, routes=ROUTES, consulted_by=CONSULTED_BY,
                     outcomes=CLOSING_OUTCOMES, consulted_on=wareki(case["consulted_on"], with_gregorian=False),
                     closable=case["status"] not in ("escalated", "linked", "closed"),
                     status_ja=STATUS_JA, erased=app.person_erasure(UUID(case["person_ref"])),
                     erasure_bases=ERASURE_BASES, may_erase=allowed(who, "person.erase"),
                     writable=who.division in case_writers(case),  # division scope of writes
                     answers=[answering_division(case, i) == who.division  # D11: theirs to answer
                              for i in range(len(case["connections"]))],
                     agencies=sorted(agencies()), refused=refused or {"where": "", "message": "", "form": {}})


@router.post("/ui/persons/{person_ref}/erasure", dependencies=[requires("person.erase")])
async def erase_person(request: Request, person_ref: UUID, app: App, actor: Staff) -> Response:
    """消去 from a case page of the person (a supervisor's action, shared/web/policy.py)."""
    text = await form_text(request)
    try:
        case_id: UUID | None = UUID(str(text.get("case_id", "")))  # the page it was sent from
    except ValueError:
        case_id = None
    back = f"/ui/cases/{case_id}" if case_id else "/ui/"
    try:
        command = form_model(ErasureIn, text)
        await call(app.erase_person, actor, person_ref, command.basis, command.reason)
    except DomainError as refused:
        if case_id is None or await call(app.person_erasure, person_ref) is not None:  # no form to show again
            return redirect(back, ng=str(refused))
        typed = {"basis": str(text.get("basis") or ""), "reason": str(text.get("reason") or "")}
        return await call(_case_page, request, app, request.state.principal, case_id, refused.status,
                          {"where": "erasure", "message": str(refused), "form": typed})
    return redirect(back, ok="相談者の個人情報を消去しました / the person's information was erased")


# -- the forms of the case page: each its own route, so the policy names its action (the answer to a
# connection is `connection.answer`, the agency connected to's; the others `intake.case.write`) ------

async def _from_case_page(request: Request, app: IntakeApplication, case_id: UUID, where: str, done: str,
                          record: Callable[[], Awaitable[None]]) -> Response:
    """Record a form of the case page, then back to the page saying what happened; refused, the page again with
    why beside that form (`where`) and its fields as typed."""
    try:
        await record()
    except DomainError as refused:
        typed = {k: v for k, v in (await form_text(request)).items() if k not in ("csrf_token", "idempotency_key")}
        return await call(_case_page, request, app, request.state.principal, case_id, refused.status,
                          {"where": where, "message": str(refused), "form": typed})
    return redirect(f"/ui/cases/{case_id}", ok=done)


@router.post("/ui/cases/{case_id}/consent", name="case_consent", dependencies=[requires("intake.case.write")])
async def consent(request: Request, case_id: UUID, app: App, actor: Staff) -> Response:
    """本人同意 (D9)."""
    text = await form_text(request)

    async def record() -> None:
        command = form_model(ConsentIn, text)
        await call(app.record_consent, actor, case_id, command.scope, command.granted, command.method, command.covers)

    return await _from_case_page(request, app, case_id, "consent", "同意を記録しました / consent recorded", record)


@router.post("/ui/cases/{case_id}/connect", name="case_connect", dependencies=[requires("intake.case.write")])
async def connect(request: Request, case_id: UUID, app: App, actor: Staff) -> Response:
    """つなぎ (D3)."""
    text = await form_text(request)

    async def record() -> None:
        command = form_model(ConnectIn, text)
        await call(app.connect_case, actor, case_id, command.to_agency, command.reason)

    return await _from_case_page(request, app, case_id, "connect", "つなぎを記録しました / connected", record)


@router.post("/ui/cases/{case_id}/escalate", name="case_escalate", dependencies=[requires("intake.case.write")])
async def escalate(request: Request, case_id: UUID, app: App, actor: Staff) -> Response:
    """多機関協働事業へ (D3, D11)."""
    text = await form_text(request)

    async def record() -> None:
        command = form_model(EscalateIn, text)
        await call(app.escalate_case, actor, case_id, command.reason, command.primary_agency)

    return await _from_case_page(request, app, case_id, "escalate", "多機関協働事業へつなぎました / escalated", record)


@router.post("/ui/cases/{case_id}/closure", name="case_closure", dependencies=[requires("intake.case.write")])
async def close(request: Request, case_id: UUID, app: App, actor: Staff) -> Response:
    """対応終了 (issue 15)."""
    text = await form_text(request)

    async def record() -> None:
        command = form_model(CloseIn, text)
        await call(app.close_case, actor, case_id, command.outcome, command.note)

    return await _from_case_page(request, app, case_id, "closure", "対応終了を記録しました / case closed", record)


@router.post("/ui/cases/{case_id}/answer", name="case_answer", dependencies=[requires("connection.answer")])
async def answer(request: Request, case_id: UUID, app: App, actor: Staff) -> Response:
    """つなぎ先の回答 (D3, D11): the connection's number comes with the form (the API has it in its path)."""
    text = await form_text(request)
    index = str(text.get("index", "0"))
    if not (index.isascii() and index.isdigit() and len(index) <= 5):  # a hand-made form: a 4xx
        raise Invalid("つなぎの番号 (index) は 0 以上の整数です。ケースの画面から回答してください / "
                      "index must be a whole number: answer from the case page")

    async def record() -> None:
        command = form_model(AnswerIn, text)
        await call(app.answer_connection, actor, case_id, int(index), command.accepted, command.reason)

    return await _from_case_page(request, app, case_id, "answer", "回答を記録しました / answer recorded", record)


@router.get("/ui/audit/recent-basis", response_class=HTMLResponse, dependencies=[requires("audit.disclosures")])
def recent_basis_page(request: Request, app: App, who: Who) -> Response:
    """要確認の開示 (issue 13): showings on an own-counter basis the reader had just created."""
    rows = app.recent_basis_disclosures(None if reads_every_division(who) else who.division)
    filters = filters_of(request)
    shown, paging = paged(request, filters.apply(list(reversed(rows)), day="occurred_at"))  # newest first
    return ui.render(request, "intake_recent_basis.html", "要確認の開示 / disclosures to check", rows=shown,
                     paging=paging, filters=filters)


@router.get("/ui/trend", response_class=HTMLResponse, dependencies=[requires("trend.read")])
def trend_page(request: Request, app: App) -> Response:
    """D14: the trend report as a chart (server-drawn SVG) and a table."""
    rows = app.trend()
    top = max([max(r["consultations"], r["escalations"], r["meeting_cases"]) for r in rows] or [1]) or 1
    return ui.render(request, "intake_trend.html", "傾向 / trend", rows=rows, top=top)


@router.get("/ui/trend.csv", dependencies=[requires("trend.read")])
def trend_csv(app: App) -> Response:
    rows = app.trend()
    return csv_response("傾向.csv", ["期間", "窓口", "相談", "つなぎ", "多機関協働へ", "会議で扱ったケース"],
                        [[r["period_ja"], r["counter_ja"], r["consultations"], r["connections"], r["escalations"],
                          r["meeting_cases"]] for r in rows])


# -- 世帯 (D16, issue 15): the household page of a person, its forms --------------------------------------

@router.get("/ui/persons/{person_ref}/household", response_class=HTMLResponse,
            dependencies=[requires("person.read"), records_showing(ui)])
def household_page(request: Request, person_ref: UUID, app: App, who: Who, name: str = "", kana: str = "",
                   phone: str = "") -> Response:
    """世帯 of this person: every member with their cases for those with a basis (each showing recorded), the
    others as 世帯員（閲覧権限なし）; a search to add a known person, a new person, escalation together."""
    sent = {"name": name[:200], "kana": kana[:200], "phone": phone[:50]}
    return _household(request, app, who, person_ref, sent)


def _household(request: Request, app: IntakeApplication, who: Principal, person_ref: UUID, sent: dict[str, Any],
               error: str | None = None, status_code: int = 200, typed: dict[str, Any] | None = None) -> Response:
    """The household page (blocking); `typed`: a refused form as sent (a new member's fields, or the escalation's
    reason, primary agency and ticked cases), shown again in its form with the refusal at the top."""
    found_id = app.household_of(str(person_ref))
    household = app.household_view(who, found_id) if found_id is not None else None
    found = None
    if household is not None and any(sent.values()):
        try:
            query = form_model(SearchIn, sent)
            found = app.find_anyone(who, query.name, query.kana, query.phone, None)
            found["people"] = [_person_shown(p) for p in found["people"]]
        except DomainError as refused:
            error = str(refused)
    if household is not None:
        household["members"] = [_person_shown(m) if m["shown"] else m for m in household["members"]]
    escalable = sum(1 for m in (household or {}).get("members", []) if m["shown"] for c in m["cases"]
                    if c["writable"] and c["status"] in ("open", "returned"))
    return ui.render(request, "intake_household.html", "世帯 / household", status_code=status_code,
                     household=household, entry=person_ref, found=found, form=sent, error=error,
                     relations=RELATIONS, member_relations={k: v for k, v in RELATIONS.items() if k != "self"},
                     status_ja=STATUS_JA, counters=COUNTERS, escalable=escalable, typed=typed or {},
                     ticked=_listed_values((typed or {}).get("case_ids")),
                     primary_default=COUNTERS[_default_counter(who)].ja)


@router.post("/ui/cases/{case_id}/household", name="case_household", dependencies=[requires("intake.case.write")])
async def form_household(request: Request, case_id: UUID, app: App, actor: Staff) -> Response:
    """この方の世帯をつくる (D16): the case's person heads a new household."""
    text = await form_text(request)
    try:
        if not str(text.get("since") or "").strip():  # the form offers today: an empty one was not sent from it
            raise Invalid("世帯として把握した日を入力してください（和暦・西暦）/ give the day the household was known")
        command = form_model(HouseholdIn, text)
        await call(app.form_household, actor, case_id, command.since)
    except DomainError as refused:  # the case page again, the day as typed beside the form with why
        return await call(_case_page, request, app, request.state.principal, case_id, refused.status,
                          {"where": "household", "message": str(refused), "form": {"since": str(text.get("since") or "")}})
    person_ref = app.case_view(case_id)["person_ref"]
    return redirect(f"/ui/persons/{person_ref}/household", ok="世帯をつくりました / household formed")


@router.post("/ui/persons/{person_ref}/household/members", dependencies=[requires("intake.case.write")])
async def add_member(request: Request, person_ref: UUID, app: App, who: Who, actor: Staff) -> Response:
    """世帯員を加える: a person found by the search (person_ref) or a new person's fields."""
    text = await form_text(request)
    back = f"/ui/persons/{person_ref}/household"
    try:
        person = None if text.get("person_ref") else form_model(PersonIn, text)
        command = form_model(MemberIn, {**text, "person": person})
        household_id = await call(app.household_id_of, str(person_ref))
        await call(app.add_member, actor, household_id, command.relation, command.person_ref,
                   command.person.model_dump() if command.person else None, command.confirm_new_person)
    except PossibleDuplicate as duplicate:
        names = "、".join(str(c.get("name")) for c in duplicate.extra["candidates"])
        message = f"{duplicate}（候補: {names or '他の窓口の方'}。検索して選ぶか、別人として登録にチェックしてください）"
        return await call(_household, request, app, who, person_ref, {"name": "", "kana": "", "phone": ""}, message,
                          409, _new_member(text))
    except DomainError as refused:
        if text.get("person_ref"):  # a person found by the search: nothing typed but the relation
            return redirect(back, ng=str(refused))
        return await call(_household, request, app, who, person_ref, {"name": "", "kana": "", "phone": ""},
                          str(refused), refused.status, _new_member(text))
    return redirect(back, ok="世帯員を加えました / member added")


def _new_member(text: dict[str, Any]) -> dict[str, Any]:
    """The new-person form as sent, to show again after a refusal (kept: what was typed)."""
    return {"member": {k: str(text.get(k) or "") for k in ("name", "kana", "birth_date", "relation", "confirm_new_person")}}


@router.post("/ui/persons/{person_ref}/household/removal", dependencies=[requires("intake.case.write")])
async def remove_member(request: Request, person_ref: UUID, app: App, actor: Staff) -> Response:
    """世帯員を外す (kept as a former member)."""
    text = await form_text(request)
    back = f"/ui/persons/{person_ref}/household"

    async def record() -> None:
        command = form_model(RemovalIn, text)
        await call(app.remove_member, actor, await call(app.household_id_of, str(person_ref)), command.member)

    try:
        await record()
    except DomainError as refused:
        return redirect(back, ng=str(refused))
    return redirect(back, ok="世帯員を外しました / member removed")


@router.post("/ui/persons/{person_ref}/household/escalation", dependencies=[requires("intake.case.write")])
async def escalate_household(request: Request, person_ref: UUID, app: App, who: Who, actor: Staff) -> Response:
    """選んだケースを一緒に多機関協働へ (D16 D3); refused, the page again with the reason, agency and ticks as sent."""
    text = await form_text(request)
    back = f"/ui/persons/{person_ref}/household"
    try:
        command = form_model(HouseholdEscalateIn, {**text, "case_ids": _listed_values(text.get("case_ids"))})
        household_id = await call(app.household_id_of, str(person_ref))
        await call(app.escalate_household, actor, household_id, command.case_ids, command.reason,
                   command.primary_agency)
    except NotFound as refused:
        return redirect(back, ng=str(refused))
    except DomainError as refused:
        typed = {"reason": str(text.get("reason") or ""), "primary_agency": str(text.get("primary_agency") or ""),
                 "case_ids": text.get("case_ids")}
        return await call(_household, request, app, who, person_ref, {"name": "", "kana": "", "phone": ""},
                          str(refused), refused.status, typed)
    return redirect(back, ok="世帯のケースを一緒に多機関協働事業へつなぎました / escalated together")


def _printed_person(app: IntakeApplication, who: Principal, case_id: UUID) -> dict[str, Any] | None:
    """The person a printed 経過記録 names: shown as on the case page to a reader with a legal basis (D9 D10; the showing
    recorded, `shown_in` "print"), none to any other (the sheet names the case number only)."""
    if not allowed(who, "person.read"):
        return None
    try:
        shown = app.persons_in_view(who, [case_id], "print").get(str(case_id))
    except NotFound:  # notes kept for a case intake does not hold: no person to name
        return None
    return _person_shown(shown) if shown else None


router.include_router(casework_pages(ui, lambda case_id: f"/ui/cases/{case_id}", "intake.case.read", _printed_person),
                      dependencies=[records_showing(ui, lambda request: request.url.path.endswith("/print"))])
