"""保存年限 (retention, issue 17) on every service: its records past their retention period, and at intake the
erasure at expiry of the people whose every record is.

- `GET /retention?state=past|all&as_of=YYYY-MM-DD`: this program's records (of a case; of a sitting for the
  meeting) past their period, as of today in Japan or `as_of` (a look ahead; read-only); `state=all` every
  record with its dates (open ones with none). At intake the past list also names the people whose
  information is past its period: every program's record of their cases completed, the person's period passed
  since the last (intake asks the other five with the caller's token).
- `POST /retention/persons/{person_ref}/erasure` (intake only): erase that person at expiry, judged again on
  today's date (never `as_of`): the existing crypto-shredding (`erase_person`, the person's key deleted),
  recorded as `Person.Erased` with the basis `retention_expired` (保存期間満了) in the audit.
- `/ui/retention`: the same as a page, with a confirm step before an erasure.

Reading needs `audit.read` (管理職, 監査: ids and dates, nothing personal); erasing `person.erase` (管理職). A
supervisor reads the rows of their division's scope only (`readable`: the records they could open, as the case
lists and the erasure route judge them); an auditor every division's. The
periods are the data folder's `retention.toml` (`[retention]`, shared/domain/retention.py), read at each request.
The store's events are read once, then only what was recorded since (the store only grows).
"""

from __future__ import annotations

import hashlib
import threading
import weakref
from datetime import date, timedelta, timezone
from pathlib import Path
from typing import Annotated, Any, Literal
from uuid import UUID

import anyio
from fastapi import APIRouter, Depends, FastAPI, Query, Request, Response
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema

from shared import tenancy
from shared.domain.retention import (
    BASIS,
    KINDS,
    PERSON_ERASED,
    SERVICES,
    Due,
    PeriodsInvalid,
    PersonDue,
    Record,
    Step,
    judged,
    past,
    people,
    people_due,
    person_due,
    read_periods,
    records,
    settle,
    wanted,
)
from shared.domain.wareki import today_in_japan
from shared.kernel.app import ServiceApplication
from shared.kernel.journey import DomainError, NotFound
from shared.organisation.scope import in_scope
from shared.settings import current
from shared.web.audit_api import gather
from shared.web.dates import query_day, query_day_schema
from shared.web.deps import principal, runtime_of, staff
from shared.web.limits import Text, form_guard, form_model, form_text
from shared.web.paging import PAGING_HEADERS, Cursor, Limit
from shared.web.paging import page as one_page
from shared.web.policy import requires
from shared.web.ui import UI, internal_url, paged, redirect

READ = requires("audit.read")
ERASE = requires("person.erase")
JST = timezone(timedelta(hours=9), "JST")
FILE = "retention.toml"


class RetentionNotExpired(DomainError):
    """409: the person's information is not past its retention period today (a record still open, or too soon)."""


class RetentionUnconfirmed(DomainError):
    """503: a program did not answer, so whether the person's records there are completed cannot be told."""

    status = 503
    headers = {"Retry-After": "30"}


class RetentionPeriodsUnreadable(DomainError):
    """503: the data folder's retention.toml cannot be used (the message says what is wrong)."""

    status = 503


class RetentionRowOut(BaseModel):
    """A record with its retention: what it is, when it was completed, its period and the first day past it."""

    model_config = ConfigDict(extra="forbid")

    service: str = Field(description="the program that keeps the record")
    kind: str = Field(description="record kind (shared/domain/retention.py KINDS), e.g. case, meeting, person")
    kind_label: str = Field(description="記録の種類（日本語）")
    key: str = Field(description="the record's id: a case id, a meeting id, or a person_ref for `person`")
    case_ids: list[str] = Field(description="the cases the record is about")
    closed_on: date | None = Field(description="完結日 (Japan); null while the record is open")
    years: int = Field(description="保存年限（年）")
    due_on: date | None = Field(description="the first day past the period (保存期間満了日の翌日); null while open")
    past: bool = Field(description="past its period on the day judged")
    last_on: date | None = Field(None, description="the day of the record's last entry (null for a person)")
    follows_case: bool = Field(False, description="open here, but completed with the case at intake: this program "
                               "has no plan of its own for it (with state=all, as recorded here, not yet settled)")
    held: list[str] = Field(default_factory=list, description="for a person: the records still open (service:id)")
    withheld: bool = Field(False, description="only with withheld=true: a record outside the reader's division scope, "
                           "its ids as `sealed` digests (what intake needs to judge a person: whether and when "
                           "each program's record of their cases was completed; no id of another division's case)")


class RetentionErasureIn(BaseModel):
    """消去（保存期間満了）: the person is judged again on today's date; a note may be added to the reason."""

    model_config = ConfigDict(extra="forbid")

    note: Annotated[Text, Field(max_length=500)] = Field(
        "", title="備考 / note", description="added to the recorded reason (no personal information)")


class RetentionErasedOut(BaseModel):
    """The erasure recorded (Person.Erased, basis retention_expired) with the retention it was judged on."""

    person_ref: str
    erased: dict[str, Any] = Field(description="who erased the person, when, basis and reason (intake's record)")
    retention: RetentionRowOut


# -- the store's events as steps -------------------------------------------------------------------------

_STEPS: weakref.WeakKeyDictionary[ServiceApplication, tuple[int, list[Step]]] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def steps_of(app: ServiceApplication, service: str) -> list[Step]:
    """The stored events retention reads (shared/domain/retention.py `wanted`), read once and then only what
    was recorded since. A `Person.Erased` is not decoded: its aggregate is all that is needed."""
    with _LOCK:
        position, known = _STEPS.get(app, (0, []))
        steps = list(known)
        for notification in app.notifications(start=position + 1):
            position = notification.id
            name = notification.topic.rsplit(":", 1)[-1]
            if not wanted(service, name):
                continue
            if name == PERSON_ERASED:
                steps.append(Step(name, str(notification.originator_id), None, date.min))
                continue
            steps.append(step_of(app.domain_event(notification), name))
        _STEPS[app] = (position, steps)
        return steps


_FOLDED: weakref.WeakKeyDictionary[ServiceApplication, tuple[int, Any]] = weakref.WeakKeyDictionary()


def folded(app: ServiceApplication, service: str) -> tuple[list[Record], dict[str, list[str]], set[str]]:
    """The program's records (and at intake its people), folded again only when new steps were read."""
    steps = steps_of(app, service)
    with _LOCK:
        count, known = _FOLDED.get(app, (-1, None))
        if count != len(steps):
            cases, erased = people(steps) if service == "intake" else ({}, set())
            known = (records(service, steps), cases, erased)
            _FOLDED[app] = (len(steps), known)
    own, cases, erased = known
    return list(own), cases, set(erased)


def step_of(event: Any, name: str) -> Step:
    """One decoded stored event as a `Step` (a plan's evaluation named with its outcome)."""
    if name == "Plan.Evaluated":
        name = f"{name}:{getattr(event, 'outcome', '')}"
    meta = getattr(event, "meta", None) or {}
    case_id = meta.get("case_id") or getattr(event, "case_id", None)
    person = getattr(event, "person_ref", None) if name == "Case.Received" else None
    return Step(name, str(event.originator_id), str(case_id) if case_id else None,
                event.timestamp.astimezone(JST).date(), str(person) if person else None)


def periods() -> dict[str, int]:
    """The periods of the data folder's retention.toml (the acting municipality's, on a deployment of many), else
    the defaults."""
    tenant = tenancy.current_tenant()
    path = (tenant.data_path if tenant is not None else current().data_path) / FILE
    try:
        text = path.read_text(encoding="utf-8") if path.exists() else None
        return read_periods(text, str(Path(FILE)))
    except (OSError, PeriodsInvalid) as exc:
        raise RetentionPeriodsUnreadable(f"保存年限の設定（データフォルダの {FILE}）を使えません / the retention file "
                                         f"cannot be used: {exc}") from None


def row(due: Due | PersonDue, today: date) -> dict[str, Any]:
    if isinstance(due, PersonDue):
        return {"service": "intake", "kind": "person", "kind_label": KINDS["person"].ja, "key": due.person_ref,
                "case_ids": list(due.case_ids), "closed_on": due.closed_on, "years": due.years, "due_on": due.due_on,
                "past": due.past(today), "held": list(due.held)}
    return {"service": due.service, "kind": due.kind, "kind_label": KINDS[due.kind].ja, "key": due.key,
            "case_ids": list(due.case_ids), "closed_on": due.closed_on, "years": due.years, "due_on": due.due_on,
            "past": due.past(today), "held": [], "last_on": due.last_on, "follows_case": due.follows_case}


def _record(found: dict[str, Any]) -> Record:
    """A row of another program's `GET /retention?state=all` back as a `Record`."""
    closed = found.get("closed_on")
    last = found.get("last_on")
    return Record(str(found["service"]), str(found["kind"]), str(found["key"]), tuple(found.get("case_ids") or ()),
                  date.fromisoformat(closed) if closed else None, date.fromisoformat(last) if last else date.min,
                  bool(found.get("follows_case")))


class Ledger:
    """What one request judges: the program's records, and at intake its people and the other programs' records."""

    def __init__(self, service: str, app: ServiceApplication, years: dict[str, int]) -> None:
        self.service, self.years = service, years
        self.own, self.cases, self.erased = folded(app, service)
        self.others: list[Record] = []
        self.missing: list[str] = []

    async def gather_others(self, token: str) -> None:
        """At intake, every other program's records (as recorded there), settled with intake's cases; elsewhere,
        intake's records of the cases this program's records follow. Asked with the caller's token."""
        wanted = [n for n in SERVICES if n != self.service] if self.service == "intake" else (
            ["intake"] if any(r.follows_case for r in self.own) else [])
        if not wanted:
            return
        rows, self.missing = await gather("/retention?state=all&withheld=true", {n: internal_url(n) for n in wanted},
                                          token)
        ids = {c for r in self.own for c in (r.key, *r.case_ids)} | {c for cs in self.cases.values() for c in cs}
        known = {sealed(c): c for c in ids}
        rows = [unsealed(r, known) for r in rows]
        if self.service == "intake":
            self.others = settle([_record(r) for r in rows], self.own)
        else:
            self.own = settle(self.own, [_record(r) for r in rows])

    def rows(self, state: str, today: date) -> list[dict[str, Any]]:
        if state == "all":
            return [row(d, today) for d in judged(self.own, self.years)]
        found = [row(d, today) for d in past(self.own, self.years, today)]
        if self.service == "intake" and not self.missing:
            every = [*self.own, *self.others]
            found += [row(p, today) for p in people_due(self.cases, self.erased, every, self.years["person"], today)]
        return found

    def person(self, person_ref: str) -> PersonDue:
        if person_ref not in self.cases:
            raise NotFound("この相談者の記録はありません / no such person")
        return person_due(person_ref, self.cases[person_ref], [*self.own, *self.others], self.years["person"])


def readable(app: ServiceApplication, reader: Any, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows `reader` (a Principal) may read: division scope, as the routes naming the record judge it
    (shared/web/policy.py `_require_scope`): a person's by `person_readers`, a sitting's by `meeting_readers`,
    a case's record by the divisions of its case (`case_divisions`). Auditors read every row; nobody, none."""
    if reader is None:
        return []
    known: dict[str, frozenset[str]] = {}

    def of_case(case_id: str) -> frozenset[str]:
        if case_id not in known:
            try:
                known[case_id] = app.case_divisions(UUID(case_id))
            except (NotFound, ValueError):
                known[case_id] = frozenset()
        return known[case_id]

    def readers(found: dict[str, Any]) -> frozenset[str]:
        if found["kind"] == "person":
            return app.person_readers(UUID(found["key"])) or frozenset()
        if found["kind"] == "meeting" and (members := app.meeting_readers(UUID(found["key"]))) is not None:
            return members
        return frozenset().union(*(of_case(c) for c in found["case_ids"]))

    return [r for r in rows if in_scope(reader.division, reader.roles, readers(r))]


def sealed(record_id: str) -> str:
    """A record's or case's id as a digest: what a program tells intake of a record outside the reader's scope,
    so that intake judges a person on every program's records (it knows its own case ids, and matches them)."""
    return "#" + hashlib.sha256(record_id.encode()).hexdigest()[:32]


def unsealed(found: dict[str, Any], known: dict[str, str]) -> dict[str, Any]:
    """A withheld row with the ids this service knows (`known`: digest → id) put back."""
    if not found.get("withheld"):
        return found
    return found | {"key": known.get(found["key"], found["key"]),
                    "case_ids": [known.get(c, c) for c in found.get("case_ids") or ()]}


async def scoped_rows(request: Request, found: Ledger, state: str, day: date,
                      withheld: bool = False) -> list[dict[str, Any]]:
    """The ledger's rows on `day`, those of the reader's division scope, in the lists' order; with `withheld`
    also the others, sealed (for intake's judgement of people: `Ledger.gather_others`)."""
    app = runtime_of(request).app
    reader = principal(request)
    every = found.rows(state, day)
    rows = await anyio.to_thread.run_sync(lambda: readable(app, reader, every))
    if withheld and len(rows) < len(every):
        shown = {id(r) for r in rows}
        rows += [r | {"key": sealed(r["key"]), "case_ids": [sealed(c) for c in r["case_ids"]], "held": [],
                      "withheld": True} for r in every if id(r) not in shown]
    return sorted(rows, key=order)


async def ledger(request: Request, service: str, gathered: bool) -> Ledger:
    years = periods()
    app = runtime_of(request).app
    found = await anyio.to_thread.run_sync(lambda: Ledger(service, app, years))
    if gathered:
        await found.gather_others(principal(request).token)
    return found


def order(found: dict[str, Any]) -> tuple[str, str, str]:
    """The lists' order (and keyset): the longest past first; open records last."""
    return (found["due_on"].isoformat() if found["due_on"] else "9999", found["kind"], found["key"])


def reason_of(due: PersonDue, note: str) -> str:
    said = (f"保存年限（{due.years}年）経過: 最後の記録の完結 {due.closed_on}、期限の翌日 {due.due_on} / "
            f"retention period of {due.years} years passed since {due.closed_on}")
    return f"{said}（{note}）" if note else said


async def erase_at_expiry(request: Request, person_ref: UUID, note: str) -> dict[str, Any]:
    """Judge the person on today's date, then erase them through the application's crypto-shredding."""
    app: Any = runtime_of(request).app
    found = await ledger(request, "intake", gathered=True)
    if str(person_ref) in found.erased:  # the domain's own refusal (409 person_erased), a lost key deletion retried
        await anyio.to_thread.run_sync(lambda: app.erase_person(staff(request), person_ref, BASIS, "again"))
    due = found.person(str(person_ref))
    if found.missing:
        raise RetentionUnconfirmed(
            f"{'、'.join(found.missing)} が応答しないため、この相談者の記録がすべて完結したか確かめられません。しばらくして"
            f"からもう一度操作してください / {', '.join(found.missing)} did not answer: cannot tell whether every record "
            "of this person is completed; try again later")
    today = today_in_japan()
    if not due.past(today):
        why = (f"まだ完結していない記録があります（{'、'.join(due.held)}）" if due.held else
               f"保存期間は {due.due_on} まで満了しません" if due.due_on else "完結した記録がありません")
        raise RetentionNotExpired(f"この相談者の個人情報は保存年限を過ぎていません: {why} / not past its retention "
                                  f"period: {'records still open' if due.held else f'due on {due.due_on}'}")
    erased = await anyio.to_thread.run_sync(
        lambda: app.erase_person(staff(request), person_ref, BASIS, reason_of(due, note)))
    return {"person_ref": str(person_ref), "erased": erased["erased"], "retention": row(due, today)}


# -- routes ----------------------------------------------------------------------------------------------

STATE = Query("past", description="past: the records past their period (at intake also the people); all: every "
              "record of this program with its dates")
WITHHELD = Query(False, description="also the records outside the reader's division scope, their ids sealed "
                 "(intake asks this to judge a person on every program's records; see `withheld`)")
AS_OF = Query(description="基準日: judge as on this day (default today in Japan), 和暦 or YYYY-MM-DD as staff type "
              "it (令和8年12月6日, R8.12.6, 2026/12/6); a text that is no date is refused (422, naming `as_of`). A "
              "look ahead: an erasure is always judged on today's date")
#: 基準日 (`as_of`) as the staff forms read a date (shared/web/dates.py): 和暦 or Western, else 422 naming it
AsOfDay = Annotated[date | None, BeforeValidator(query_day("基準日", "as_of")),
                    WithJsonSchema(query_day_schema("基準日 / as of")), AS_OF]


_read_as_of = query_day("基準日", "as_of")


def mount_retention(api: FastAPI, page: UI, application_class: type[ServiceApplication]) -> None:
    """The retention routes of a service; the erasure routes where the application erases people (intake)."""
    router = APIRouter(tags=["retention"])
    service = page.service
    erases = hasattr(application_class, "erase_person")

    @router.get("/retention", dependencies=[READ], responses={200: {"headers": PAGING_HEADERS}})
    async def listed(request: Request, response: Response, state: Literal["past", "all"] = STATE,
                     as_of: AsOfDay = None, limit: Limit = None, cursor: Cursor = None,
                     withheld: bool = WITHHELD) -> list[RetentionRowOut]:
        """保存年限: this program's records past their retention period (kind, 完結日, years, the first day past
        it), the longest past first; at intake also the people whose information is. `X-Jusou-Missing` names
        the programs that did not answer (their records unknown: no person is listed then)."""
        found = await ledger(request, service, gathered=state == "past")
        if found.missing:
            response.headers["X-Jusou-Missing"] = ",".join(found.missing)
        rows = await scoped_rows(request, found, state, as_of or today_in_japan(), withheld)
        return [RetentionRowOut.model_validate(r) for r in one_page(rows, limit, cursor, request, response,
                                                                                 key=order)]

    @router.get("/ui/retention", response_class=HTMLResponse, include_in_schema=False, dependencies=[READ])
    async def retention_page(request: Request, as_of: str = "") -> HTMLResponse:
        """保存年限: the records past their period, and at intake the people to erase at expiry."""
        today = today_in_japan()
        try:  # 和暦 or Western, as the API and the forms read a date
            day, bad_as_of = (_read_as_of(as_of) or today), ""
        except ValueError:  # said on the page (422), shown as of today: never silently another day
            day, bad_as_of = today, as_of[:40]
        found = await ledger(request, service, gathered=True)
        rows = await scoped_rows(request, found, "past", day)
        shown, paging = paged(request, rows)
        return page.render(request, "retention.html", "保存年限 / retention", status_code=422 if bad_as_of else 200,
                           bad_as_of=bad_as_of, rows=shown, paging=paging, day=day,
                           today=today, years=found.years, kinds=[k for k in KINDS.values() if k.service == service
                                                                   or (k.code == "person" and erases)],
                           missing=found.missing, erases=erases, kinds_all=KINDS)

    if erases:
        @router.post("/retention/persons/{person_ref}/erasure", dependencies=[ERASE])
        async def erase(request: Request, person_ref: UUID, body: RetentionErasureIn) -> RetentionErasedOut:
            """消去（保存期間満了）: erase the person at expiry, judged on today's date: every program's record of
            their cases completed and their period passed since the last. Crypto-shredding (the person's key
            deleted), recorded as `Person.Erased` with the basis `retention_expired` (jusou audit disclosures)."""
            return RetentionErasedOut.model_validate(await erase_at_expiry(request, person_ref, body.note))

        @router.get("/ui/retention/persons/{person_ref}/erasure", response_class=HTMLResponse, include_in_schema=False,
                    dependencies=[ERASE])
        async def confirm_page(request: Request, person_ref: UUID) -> HTMLResponse:
            """The confirm step: what will be erased and why, before the button that does it."""
            found = await ledger(request, service, gathered=True)
            due = found.person(str(person_ref))
            today = today_in_japan()
            return page.render(request, "retention_confirm.html", "消去の確認 / confirm the erasure",
                               due=row(due, today), erased=str(person_ref) in found.erased, missing=found.missing,
                               ready=due.past(today) and not found.missing and str(person_ref) not in found.erased)

        @router.post("/ui/retention/persons/{person_ref}/erasure", include_in_schema=False,
                     dependencies=[ERASE, Depends(form_guard)])
        async def erase_from_page(request: Request, person_ref: UUID) -> Response:
            """The confirmed erasure from the page (CSRF: the form's token, shared/web/ui.py)."""
            command = form_model(RetentionErasureIn, {k: v for k, v in (await form_text(request)).items()
                                                      if k in RetentionErasureIn.model_fields})
            try:
                await erase_at_expiry(request, person_ref, command.note)
            except DomainError as refused:
                return redirect("/ui/retention", ng=str(refused))
            return redirect("/ui/retention", ok="保存期間満了により相談者の個人情報を消去しました / the person's "
                                                "information was erased at expiry")

    api.include_router(router)
