"""担当者, 支援経過記録 and 自分の担当 on every program (issue 15): `casework_router()` (the JSON API) and
`casework_pages(ui, case_page)` (the pages), each mounted by a service in a line or two.

The use cases and queries are the application's (shared/domain/casework_owner.py `CaseworkOwner`); `AssignIn`
and `NoteIn` are the one model of each command, for the JSON body and the page's form alike. Every route that
names a case is in the case's division scope (the policy's gate); 自分の担当 and the caseload list only the
cases the reader's division may see."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from shared.domain.casework import ASSIGNMENT_ROLES, CONTACT_METHODS, JST
from shared.domain.casework_owner import CaseworkOwner
from shared.kernel.journey import DomainError, NotFound
from shared.web.dates import typed_dates
from shared.web.deps import Staff, Who, application, call
from shared.web.limits import (
    YEARS_AROUND,
    Name,
    NearDate,
    Text,
    check_near_date,
    form_model,
    form_text,
    written_as_a_moment,
)
from shared.web.policy import requires
from shared.web.staff_roster import StaffNotListed, account, check_listed, roster
from shared.web.ui import UI, actor_of, redirect, staff_from_cookie

App = Annotated[CaseworkOwner, Depends(application(CaseworkOwner))]
Reader = Who
READ, WRITE, CASELOAD = requires("casework.read"), requires("casework.write"), requires("casework.caseload.read")


class AssignIn(BaseModel):
    """担当者・副担当を決める／替える: the JSON body and the assignment form alike (no staff id for 副担当: release)."""

    role: Literal["main", "sub"] = Field(title="担当の種類", description="main: 担当者, sub: 副担当")
    staff_id: Name | None = Field(default=None, max_length=100, title="職員番号",
                                  description="the staff member in charge; empty for 副担当 releases the sub. Where "
                                              "Jusou keeps the staff's accounts (the development issuer), an id that "
                                              "is not one who may hold the case is refused: 422 `staff_not_listed`, "
                                              "naming those who may")
    unlisted: bool = Field(default=False, title="名簿にない番号のまま記録する",
                           description="true: record `staff_id` even though it is not on the roster of staff who may "
                                       "hold the case (a colleague without an account yet); a staff member whose account may not hold it "
                                       "(another division's, an auditor) is refused all the same")


def check_near_moment(moment: datetime) -> datetime:
    """A contact's 日時 within `YEARS_AROUND` years of today, judged by its own date: no zone conversion, which
    overflows near year 1 (a note dated 0001-01-01T00:00+14:00 with a 期日 was a 500)."""
    check_near_date(moment.date())
    return moment


#: a contact's moment as staff give it (Japan time when it names no zone), near today
NearMoment = Annotated[datetime, BeforeValidator(written_as_a_moment), AfterValidator(check_near_moment)]


class NoteIn(BaseModel):
    """支援経過記録: the JSON body and the note form alike."""

    contacted_at: NearMoment = Field(title="日時", description="when the contact happened (Japan time if no zone), "
                                                              f"within {YEARS_AROUND} years of today")
    method: Literal[CONTACT_METHODS] = Field(title="方法", description="来所, 電話, 訪問, 同行, オンライン, 文書")  # type: ignore[valid-type]
    counterpart: Name = Field(min_length=1, max_length=200, title="相手", description="with whom")
    content: Text = Field(min_length=1, max_length=4000, title="内容", description="what was discussed")
    agreed: Text = Field(default="", max_length=2000, title="合意事項")
    next_step: Text = Field(default="", max_length=1000, title="次の対応")
    next_due: NearDate | None = Field(default=None, title="次の対応の期日",
                                      description=f"within {YEARS_AROUND} years of today")


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class AssignmentChangeOut(_Out):
    at: datetime
    role: str
    staff_id: str | None
    previous: str | None = Field(description="from whom")
    by: str


class RecordEntryOut(_Out):
    at: datetime = Field(description="when the contact or activity happened")
    kind: str = Field(description="note, or the program's own activity (contact, placement, review)")
    kind_ja: str
    method: str
    counterpart: str
    content: str
    agreed: str
    next_step: str
    next_due: date | None
    written_at: datetime | None
    written_by: str


class DueItemOut(_Out):
    case_id: UUID
    what: str
    due: date
    overdue: bool


class CaseFileOut(_Out):
    """A case's 担当者・副担当 (with every change) and its 経過記録, oldest first."""

    case_id: UUID
    main: str | None
    sub: str | None
    changes: list[AssignmentChangeOut]
    entries: list[RecordEntryOut]
    due: list[DueItemOut]


class MyCaseOut(_Out):
    case_id: UUID
    role: str
    role_ja: str
    next_step: str
    next_due: date | None
    last_contact: datetime | None


class MyWorkOut(_Out):
    """自分の担当: cases in charge (or sub) and the items due or overdue."""

    staff_id: str
    cases: list[MyCaseOut]
    items: list[DueItemOut]


class CaseloadRowOut(_Out):
    staff_id: str
    main: int
    sub: int
    due: int
    overdue: int


class CaseloadOut(_Out):
    """管理職: caseload per staff member, the overdue items and the cases without 担当者."""

    rows: list[CaseloadRowOut]
    unassigned: int
    overdue: int
    cases: int


class NoteWrittenOut(BaseModel):
    note_id: UUID


def casework_router() -> APIRouter:
    """The JSON API of 担当者 and 支援経過記録 (any service whose Application is a CaseworkOwner)."""
    router = APIRouter(tags=["casework"])

    @router.get("/cases/{case_id}/casework", dependencies=[READ])
    def case_file(case_id: UUID, app: App) -> CaseFileOut:
        """担当者と支援経過記録 (division scope of the case)."""
        return CaseFileOut.model_validate(app.case_file(case_id))

    @router.post("/cases/{case_id}/casework/assignment", dependencies=[WRITE])
    def assign(case_id: UUID, body: AssignIn, app: App, actor: Staff, who: Reader) -> CaseFileOut:
        """担当者・副担当を決める／替える (an event: who, from whom, when).

        職員番号の確認 / the staff id is checked: with the development issuer (`jusou staff add`: Jusou keeps the
        accounts), an id that is not one of the staff who may hold the case (roles that write this program's casework,
        a division that sees the case) is refused, 422 `staff_not_listed`, naming those who may; `unlisted: true`
        records it all the same, unless it is a staff member who may not hold the case (still 422). An id typed in
        full width, with spaces or in capitals, or with a letter or dash that only looks the same (ー, ‐, a Cyrillic
        е), is recorded as the staff member's it reads as. The caller's own id and ids already named on the case are
        accepted. Under the city's IdP (`JUSOU_OIDC_ISSUER`) Jusou keeps no list of staff: any id is recorded."""
        _assign(app, actor, case_id, body, who=who)
        return CaseFileOut.model_validate(app.case_file(case_id))

    @router.post("/cases/{case_id}/casework/notes", status_code=201, dependencies=[WRITE])
    def write_note(case_id: UUID, body: NoteIn, app: App, actor: Staff) -> NoteWrittenOut:
        """支援経過記録を書く (stored encrypted in this program's store; never published)."""
        return NoteWrittenOut(note_id=_write(app, actor, case_id, body))

    @router.get("/casework/mine", dependencies=[READ])
    def mine(app: App, who: Reader) -> MyWorkOut:
        """自分の担当: the caller's cases and what is due or overdue."""
        return MyWorkOut.model_validate(app.my_work(who.staff_id, who))

    @router.get("/casework/caseload", dependencies=[CASELOAD])
    def caseload(app: App, who: Reader) -> CaseloadOut:
        """管理職: caseload per staff member and overdue counts (the cases the caller's division may see)."""
        return CaseloadOut.model_validate(app.caseload(who))

    return router


class AssignedMeanwhile(DomainError):
    """The assignment form was sent from a page that showed another 担当 than the case has now (a second tab, another
    member of staff): recorded, it would have undone that change unseen."""

    status = 409


def _check_unchanged(app: CaseworkOwner, case_id: UUID, role: str, shown: Any) -> None:
    """Refuses the page's assignment when the 担当 it showed (`shown`, the form's own hidden field) is no longer the case's.
    A request without it (the API) is not checked."""
    if shown is None:
        return
    record = app.case_file(case_id)
    now = (record.main if role == "main" else record.sub) or ""
    if now != str(shown):
        what = "担当者" if role == "main" else "副担当"
        raise AssignedMeanwhile(
            f"この画面を開いた後に{what}が{now or '未定'}に替わっています（画面では{shown or '未定'}）。"
            f"いまの{what}を確かめてから、もう一度記録してください / the {'staff in charge' if role == 'main' else 'sub'} "
            f"changed to {now or 'none'} since this page was opened (it showed {shown or 'none'}): check, then assign again")


def _check_roster(app: CaseworkOwner, who: Any, case_id: UUID, command: AssignIn) -> AssignIn:
    """An id off the roster of staff who may hold the case is refused (shared/web/staff_roster.py), unless it is the
    one assigning, one named on the case now or before, or `unlisted` says it is meant; one typed in full-width or
    with spaces around it is that staff member's id (the command as it is recorded)."""
    if not command.staff_id or who is None or command.staff_id == who.staff_id:
        return command
    record = app.case_file(case_id)
    named = {who.staff_id, *(s for s in (record.main, record.sub, *(c.staff_id for c in record.changes),
                                         *(c.previous for c in record.changes)) if s)}
    if command.staff_id in named:
        return command
    staff_id = check_listed(command.staff_id, roster(who, app.service, app.case_divisions(case_id)), named,
                            command.unlisted, account(who, command.staff_id))
    return command if staff_id == command.staff_id else command.model_copy(update={"staff_id": staff_id})


def _assign(app: CaseworkOwner, actor: dict[str, str], case_id: UUID, command: AssignIn, shown: Any = None,
            who: Any = None) -> None:
    _check_unchanged(app, case_id, command.role, shown)
    command = _check_roster(app, who, case_id, command)
    if command.role == "sub" and not command.staff_id:
        app.release_sub(actor, case_id)
    else:
        app.assign(actor, case_id, command.role, command.staff_id or "")


def _write(app: CaseworkOwner, actor: dict[str, str], case_id: UUID, command: NoteIn) -> UUID:
    return app.write_note(actor, case_id, command.contacted_at, command.method, command.counterpart, command.content,
                          command.agreed, command.next_step, command.next_due)


#: a program's reader of the person a printed 経過記録 names: (its application, the reader, the case) → the person as its
#: pages show them (name, kana, birth_wareki), None for a reader without a legal basis (each showing recorded: intake's)
PersonOf = Callable[[Any, Any, UUID], "dict[str, Any] | None"]


def casework_pages(ui: UI, case_page: Callable[[str], str] | None = None, case_action: str = "casework.read",
                   person_of: PersonOf | None = None) -> APIRouter:
    """The pages: a case's 経過記録 (with the 担当 and note forms) and its print view, 自分の担当, the caseload.
    `case_page(case_id)`: the program's own page of a case, linked from each for those who may open it
    (`case_action`, the action that page declares). `person_of`: the program that keeps the person (intake) names them
    on the print view, the staff file's sheet, to a reader entitled to see them (a sheet naming only a case number was
    filed by hand)."""
    router = APIRouter(include_in_schema=False)
    link = case_page or (lambda case_id: f"/ui/cases/{case_id}/casework")

    def page(request: Request, app: CaseworkOwner, case_id: UUID, status_code: int = 200, **extra: Any) -> Response:
        try:
            record = app.case_file(case_id)
        except NotFound as missing:
            return ui.render(request, "missing.html", "見つかりません / not found", status_code=404, message=str(missing))
        staff_ids = sorted({s for s in (record.main, record.sub, *(c.previous for c in record.changes)) if s})
        listed = roster(request.state.principal, app.service, app.case_divisions(case_id)) or []
        staff_ids = [*staff_ids, *(s.staff_id for s in listed if s.staff_id not in staff_ids)]
        return ui.render(request, "casework_case.html", "支援経過記録 / case notes", status_code=status_code, c=record,
                         methods=CONTACT_METHODS, roles=ASSIGNMENT_ROLES, case_link=link(str(case_id)), case_action=case_action,
                         staff_ids=staff_ids, now=datetime.now(JST).strftime("%Y-%m-%dT%H:%M"),
                         **{"form": {}, "error": None, "error_at": None, "unlisted_offered": False, **extra})

    @router.get("/ui/cases/{case_id}/casework", response_class=HTMLResponse, dependencies=[READ])
    def case_notes(request: Request, case_id: UUID, app: App) -> Response:
        return page(request, app, case_id)

    @router.get("/ui/cases/{case_id}/casework/print", response_class=HTMLResponse, dependencies=[READ])
    def print_notes(request: Request, case_id: UUID, app: App) -> Response:
        """経過記録 as the staff file (A4, @media print)."""
        try:
            record = app.case_file(case_id)
        except NotFound as missing:
            return ui.render(request, "missing.html", "見つかりません / not found", status_code=404, message=str(missing))
        person = person_of(app, request.state.principal, case_id) if person_of is not None else None
        return ui.render(request, "casework_print.html", "経過記録（印刷）/ printable case notes", c=record,
                         roles=ASSIGNMENT_ROLES, today=datetime.now(JST).date(), person=person)

    @router.post("/ui/cases/{case_id}/casework/assignment", response_class=HTMLResponse, dependencies=[WRITE])
    async def assign(request: Request, case_id: UUID, app: App) -> Response:
        return await _post(request, app, case_id, "assignment")

    @router.post("/ui/cases/{case_id}/casework/notes", response_class=HTMLResponse, dependencies=[WRITE])
    async def write_note(request: Request, case_id: UUID, app: App) -> Response:
        return await _post(request, app, case_id, "note")

    async def _post(request: Request, app: CaseworkOwner, case_id: UUID, what: str) -> Response:
        here = f"/ui/cases/{case_id}/casework"
        who = staff_from_cookie(request)
        if who is None:
            return redirect(f"/ui/login?next={here}")
        text = await form_text(request)
        try:
            if what == "assignment":
                await call(_assign, app, actor_of(who), case_id, form_model(AssignIn, text), text.get("shown"),
                           request.state.principal)
                done = "担当を記録しました / assignment recorded"
            else:
                typed_dates(NoteIn, text)  # 次の対応の期日 typed in 和暦 (a text field, a form put back) as its day
                await call(_write, app, actor_of(who), case_id, form_model(NoteIn, text))
                done = "経過記録を書きました / note written"
        except DomainError as refused:
            return await call(page, request, app, case_id, refused.status, form=text, error_at=what, error=str(refused),
                              unlisted_offered=isinstance(refused, StaffNotListed) and refused.offers_unlisted)
        return redirect(here, ok=done)

    @router.get("/ui/my-work", response_class=HTMLResponse, dependencies=[READ])
    def my_work(request: Request, app: App, who: Reader) -> Response:
        """自分の担当: my cases and the items due or overdue, each linked to its case."""
        work = app.my_work(who.staff_id, who)
        return ui.render(request, "casework_mine.html", "自分の担当 / my work", work=work, link=link,
                         case_action=case_action,
                         today=datetime.now(JST).date())

    @router.get("/ui/caseload", response_class=HTMLResponse, dependencies=[CASELOAD])
    def caseload(request: Request, app: App, who: Reader) -> Response:
        """管理職: caseload per staff member and the overdue counts."""
        return ui.render(request, "casework_caseload.html", "担当件数 / caseload", load=app.caseload(who))

    return router
