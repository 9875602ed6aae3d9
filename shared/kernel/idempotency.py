"""Commands safe to retry: the `Idempotency-Key` header (and the UI forms' hidden key).

A command sent again with the same key — a client's retry after a timeout or after a 503 whose
transaction did commit (the connection died at commit time), a staff member's double click — never
records its effect twice and answers what the first one answered.

How (README "Retrying a command / 再送"):

- The key is scoped by service, staff member and route template, and hashed: the record's id is
  `uuid5(NAMESPACE, "service|staff|METHOD route|key")`; the key itself is never stored.
- `IdempotentRequest` (version 1, `Requested`: a sha256 of the method, path and body, and the ids
  the command recorded) is saved in the same store transaction as the command's first save
  (`ServiceApplication.save` adds it while `Idempotency` marks the request). A concurrent duplicate
  fails on the unique (originator_id, version) and records nothing of its own; it waits for the
  first one's answer and gives it back.
- `Answered` (version 2) keeps the answer before it is sent: status, content type, `Location` and
  body; encrypted at rest like every event. A refusal (4xx) keeps only its `detail` message: an
  intake refusal may list people (search before create), whose information must stay under their
  own key (crypto-shredding).
- The record is private: no translation publishes it, it names no case.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol
from urllib.parse import urlsplit
from uuid import UUID, uuid4, uuid5

import structlog
from eventsourcing.domain import Aggregate, event
from fastapi import Request
from fastapi.responses import JSONResponse, Response
from markupsafe import Markup
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.kernel.journey import DomainError
from shared.kernel.threads import run_sync


class RecordKeeper(Protocol):
    """What `answer_of` needs of the application (ServiceApplication, shared/kernel/app.py)."""

    def idempotent_record(self, request_id: UUID) -> IdempotentRequest | None: ...

    def finish_recorded(self, recorded: list[UUID]) -> None: ...


log = structlog.get_logger()

NAMESPACE = UUID("0c5e7f7a-2d4b-4f1e-8a0b-6c2f1d9e4b37")
HEADER = "Idempotency-Key"
FORM_FIELD = "idempotency_key"  # the division UIs' hidden field (`idempotency_field()` in templates)
MAX_KEY_LENGTH = 255
COMMANDS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: A duplicate arriving while the first request is between its commit and its answer waits this long.
ANSWER_WAIT_SECONDS = 5.0
KEEP_BODY_BYTES = 64 * 1024
REPLAYED = {"Idempotent-Replayed": "true"}
#: The header as the OpenAPI document of every command names it (shared/web/http.py).
IDEMPOTENCY_PARAMETER: dict[str, Any] = {
    "name": HEADER,
    "in": "header",
    "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH},
    "description": "再送しても一度だけ記録するためのキー（操作ごとに新しい UUID など）。同じキーと同じ内容の再送には"
                   "最初の応答が `Idempotent-Replayed: true` 付きで返ります / a new value (a UUID) per operation: "
                   "resent with the same key and body, the command is recorded once and the first answer is "
                   "given back with `Idempotent-Replayed: true`; the same key with another body is refused (422)",
}
REFUSED_BEFORE = (
    "この操作は既に送られ、断られています。画面を更新して内容を確かめ、新しい操作としてやり直してください / "
    "this request was already sent and refused: reload, check, and send it again as a new request"
)
CONFLICT = ("同時に別の更新がありました。画面を更新してもう一度操作してください / "
            "the record changed at the same time; reload and try again")

RECORDED_BUT_UNANSWERED = (
    "この操作は既に記録されています（応答を返す前に処理が中断しました）。記録された内容を画面で確かめてください。"
    "もう一度記録する必要はありません / this request was already recorded, but its answer was lost before it was "
    "sent: check what was recorded; there is no need to send it again"
)


class IdempotentRequest(Aggregate):
    """A command received with an `Idempotency-Key`: what was asked (hashed) and what was answered."""

    if TYPE_CHECKING:  # the event classes @event generates (fields: the method's parameters)
        Requested: ClassVar[type[Any]]
        Answered: ClassVar[type[Any]]

    @event("Requested")
    def __init__(self, request_id: UUID, route: str, fingerprint: str, recorded: list[str]) -> None:
        self.route, self.fingerprint, self.recorded = route, fingerprint, recorded
        self.answer: dict[str, Any] | None = None

    @staticmethod
    def create_id(request_id: UUID, **_: Any) -> UUID:
        return request_id

    def give_answer(self, status: int, content_type: str, location: str, body: str) -> None:
        if self.answer is None:
            self._answered(status=status, content_type=content_type, location=location, body=body)

    @event("Answered")
    def _answered(self, status: int, content_type: str, location: str, body: str) -> None:
        self.answer = {"status": status, "content_type": content_type, "location": location, "body": body}


class BadKey(DomainError):
    status = 400


class KeyReused(DomainError):
    """The same key with another request: the client must use a new key for a new request."""

    status = 422

    def __init__(self, form: bool = False) -> None:
        super().__init__(FORM_SENT_ALREADY if form else (
            "同じ Idempotency-Key で別の内容が送られました。新しい操作には新しいキーを使ってください"
            "（同じ操作の再送なら、最初と同じ内容を送ってください） / this Idempotency-Key was already used "
            "for a different request: use a new key for a new request, or resend exactly the first request"
        ))


#: A staff page's form whose hidden key was spent by another tab of the same page (or by the page before going back):
#: words a member of staff can act on, not the API's "use a new key".
FORM_SENT_ALREADY = (
    "このフォームは別のタブ（または戻る前の画面）から既に送信され、記録されています。二重に記録しないよう、この送信は"
    "受け付けていません。記録された内容を一覧で確かめ、まだ必要なら、戻された入力内容から送り直してください / this form "
    "was already sent from another tab (or before going back) and recorded; this one was not, so that nothing is "
    "recorded twice: check the list, and send it again from the form put back if it is still needed"
)


class AlreadyRecorded(Exception):
    """Raised by the save of a concurrent duplicate: the first request recorded the effect."""

    def __init__(self, request_id: UUID, fingerprint: str) -> None:
        super().__init__(str(request_id))
        self.request_id, self.fingerprint = request_id, fingerprint


class Replayed(Exception):
    """Raised by the dependency: the answer is the first request's, no command runs."""

    def __init__(self, response: Response) -> None:
        super().__init__("replayed")
        self.response = response


@dataclass
class Marked:
    """This request's idempotency, from the middleware (per request) and the dependency (the key)."""

    request_id: UUID | None = None
    route: str = ""
    fingerprint: str = ""
    saved: bool = False
    back: str | None = None  # a staff page's form post: the page to go back to with a replay's message (`back_of`)


_marked: ContextVar[Marked | None] = ContextVar("jusou_idempotency", default=None)
_head: ContextVar[bool] = ContextVar("jusou_head", default=False)

HEAD_RECORDS_NOTHING = (
    "HEAD では何も記録しません。この読み取りは閲覧の記録（個人情報の開示）を残すため、GET で送ってください / "
    "a HEAD records nothing, and this read records a showing of personal information: send it as a GET"
)


class HeadRecordsNothing(DomainError):
    """A save while a HEAD runs as its GET (shared/web/routing.py `head_as_get`): refused before anything is saved, so
    that a probe never records (a showing of personal information, D9, would be recorded as seen when it was not)."""

    status = 405
    headers = {"Allow": "GET"}

    def __init__(self) -> None:
        super().__init__(HEAD_RECORDS_NOTHING)


@contextmanager
def reading_head() -> Iterator[None]:
    """A HEAD is being answered as its GET: every save meanwhile raises `HeadRecordsNothing` (`marked`)."""
    token = _head.set(True)
    try:
        yield
    finally:
        _head.reset(token)


def marked() -> Marked | None:
    """The request being handled, when it carries a key and its record is not saved yet (ServiceApplication.save
    asks before every save: under a HEAD, `HeadRecordsNothing` is raised instead, and nothing is saved)."""
    if _head.get():
        raise HeadRecordsNothing
    found = _marked.get()
    return found if found is not None and found.request_id is not None and not found.saved else None


@contextmanager
def marking(request_id: UUID, route: str, fingerprint: str) -> Iterator[Marked]:
    """Call use cases as one command received with a key (the middleware and dependency do this per request)."""
    here = Marked(request_id=request_id, route=route, fingerprint=fingerprint)
    token = _marked.set(here)
    try:
        yield here
    finally:
        _marked.reset(token)


def request_id_of(service: str, staff_id: str, method: str, route: str, key: str) -> UUID:
    return uuid5(NAMESPACE, f"{service}|{staff_id}|{method} {route}|{key}")


def fingerprint_of(method: str, path: str, body: bytes, form: list[tuple[str, str]] | None = None) -> str:
    """sha256 of what was asked: JSON compared by content (key order aside), forms by their fields."""
    digest = hashlib.sha256(f"{method} {path}\n".encode())
    if form is not None:
        digest.update(json.dumps(sorted(form), ensure_ascii=False).encode())
        return digest.hexdigest()
    try:
        digest.update(json.dumps(json.loads(body), sort_keys=True, ensure_ascii=False).encode())
    except (ValueError, UnicodeDecodeError):
        digest.update(body)
    return digest.hexdigest()


def new_key_field() -> Markup:
    """A hidden field with a fresh key, one per form rendered: a double submit records once."""
    return Markup(f'<input type="hidden" name="{FORM_FIELD}" value="{uuid4()}">')


# -- the dependency: find the key, answer a retry --------------------------------------------------


def idempotent(service: str) -> Callable[[Request], Any]:
    """The app-wide dependency (after the policy gate, which knows the staff member)."""

    async def check(request: Request) -> None:
        here = _marked.get()
        principal = getattr(request.state, "principal", None)
        if here is None or request.method not in COMMANDS or principal is None:
            return
        form: list[tuple[str, str]] | None = None
        key = request.headers.get(HEADER)
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            fields = await request.form()
            # the CSRF token belongs to the session, not to what was asked: the same form sent again after
            # signing in again is the same command
            form = [(k, str(v)) for k, v in fields.multi_items() if k not in (FORM_FIELD, "csrf_token")]
            if key is None:
                key = str(fields.get(FORM_FIELD) or "") or None
        if key is None:
            return
        here.back = back_of(request)
        if not key.strip() or len(key) > MAX_KEY_LENGTH:
            raise BadKey(f"{HEADER} は 1〜{MAX_KEY_LENGTH} 文字で指定してください（操作ごとに新しい値、例えば UUID） / "
                         f"the {HEADER} header must be 1 to {MAX_KEY_LENGTH} characters: a new value, such as a UUID, "
                         "for each request")
        route = getattr(request.scope.get("route"), "path", request.url.path)
        body = b"" if form is not None else await request.body()
        request_id = request_id_of(service, principal.staff_id, request.method, route, key)
        fingerprint = fingerprint_of(request.method, request.url.path, body, form)
        app = request.app.state.runtime.app
        record = await run_sync(app.idempotent_record, request_id)
        if record is not None:
            if record.fingerprint != fingerprint:
                raise KeyReused(form=form is not None)
            raise Replayed(await answer_of(app, request_id, fingerprint, record, back=here.back))
        here.request_id, here.route, here.fingerprint = request_id, f"{request.method} {route}", fingerprint

    return check


def back_of(request: Request) -> str | None:
    """Where a staff page's form post (under /ui/) goes back to: the page it was sent from when that is one of this
    service's pages (its Referer: path and query, never another site's), else the service's start page; None for the
    API (its answers are JSON)."""
    path = request.url.path
    if not path.startswith("/ui/") or path.startswith("/ui/static/"):
        return None
    referer = urlsplit(request.headers.get("referer", ""))
    if referer.netloc and referer.netloc == request.headers.get("host", "") and referer.path.startswith("/ui/") \
            and referer.path != path:
        return referer.path + (f"?{referer.query}" if referer.query else "")
    return "/ui/"


#: How a form post's message goes into its page's query, signed for the request's session: shared/web/ui.py's
#: `message_query`, which that module hands over when it is imported (`form_messages_by`; the kernel imports nothing
#: of the web layer). Until then a form post goes back to its page without the message.
_message_query: Callable[[str, str], str] | None = None


def form_messages_by(query: Callable[[str, str], str]) -> None:
    """Called by shared/web/ui.py: the function that signs a form post's message for the page it goes back to."""
    global _message_query
    _message_query = query


def _back_with(back: str, kind: str, text: str) -> Response:
    """A form post's answer: back to its page (303, PRG: a reload posts nothing) with `text` as the page's message,
    signed for the request's session (`form_messages_by`: ui.py's `message_query`, whose CSRF guard ran before)."""
    query = _message_query(kind, text) if _message_query is not None else ""
    location = back + (("&" if "?" in back else "?") + query if query else "")
    return Response(status_code=303, headers={**REPLAYED, "Location": location})


def _detail_of(body: str) -> str | None:
    try:
        detail = json.loads(body).get("detail")
    except (ValueError, AttributeError):
        return None
    return detail if isinstance(detail, str) else None


async def answer_of(app: RecordKeeper, request_id: UUID, fingerprint: str,
                    record: IdempotentRequest | None = None, back: str | None = None) -> Response:
    """The first request's answer, waiting a little for it while the first one is still answering. A staff page's form
    post (`back`: its page, `back_of`; by default the marked request's) is answered as a form post is, not in JSON:
    a kept answer as it was (a redirect, a page); a refusal whose page was not kept, an answer lost before it was sent
    (a crash after the commit) or a conflict, back to its page with the message."""
    here = _marked.get()
    back = back if back is not None else (here.back if here is not None else None)
    deadline = asyncio.get_running_loop().time() + ANSWER_WAIT_SECONDS
    while True:
        if record is None or record.answer is None:
            record = await run_sync(app.idempotent_record, request_id)
        if record is None:  # a save that failed and left nothing: as any conflict, try again
            if back is not None:
                return _back_with(back, "ng", CONFLICT)
            return JSONResponse(status_code=409, content={"detail": CONFLICT})
        if record.fingerprint != fingerprint:
            if back is not None:
                return _back_with(back, "ng", FORM_SENT_ALREADY)
            return JSONResponse(status_code=422, content={"detail": str(KeyReused())})
        if record.answer is not None or asyncio.get_running_loop().time() >= deadline:
            break
        await asyncio.sleep(0.05)
        record = None
    if record.answer is None:
        await run_sync(app.finish_recorded, [UUID(i) for i in record.recorded])
        if back is not None:
            return _back_with(back, "ok", RECORDED_BUT_UNANSWERED)
        return JSONResponse({"detail": RECORDED_BUT_UNANSWERED, "recorded": record.recorded, "replayed": True},
                            status_code=200, headers=REPLAYED)
    answer = record.answer
    if answer["status"] >= 400 and not answer["body"]:  # a refusal whose page was not kept (it may list people)
        if back is not None:
            return _back_with(back, "ng", REFUSED_BEFORE)
        return JSONResponse({"detail": REFUSED_BEFORE}, status_code=answer["status"], headers=REPLAYED)
    if back is not None and answer["status"] >= 400 and answer["content_type"].startswith("application/json"):
        return _back_with(back, "ng", _detail_of(answer["body"]) or REFUSED_BEFORE)
    headers = dict(REPLAYED)
    if answer["location"]:
        headers["Location"] = answer["location"]
    return Response(answer["body"].encode(), status_code=answer["status"], headers=headers,
                    media_type=answer["content_type"] or None)


# -- the middleware: mark each command, keep its answer --------------------------------------------


def kept(status: int, content_type: str, body: bytes) -> str:
    """What is kept of an answer's body: all of a success; a refusal's `detail` message and its `code` only."""
    if status < 400:
        return body.decode("utf-8", errors="replace")
    if content_type.startswith("application/json") and len(body) <= KEEP_BODY_BYTES:
        try:
            content = json.loads(body)
            detail, code = content.get("detail"), content.get("code")
        except (ValueError, AttributeError):
            return ""
        if not isinstance(detail, str):
            return ""
        return json.dumps({"detail": detail, **({"code": code} if isinstance(code, str) else {})}, ensure_ascii=False)
    return ""


class Idempotency:
    """ASGI middleware: marks every command, and keeps the answer of one whose record was saved
    (before sending it, so that a client who got it and retries gets it again). On its own; a service's edge
    (shared/web/edge.py) takes the same steps: `mark_command`, `KeepingSend`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") not in COMMANDS:
            await self.app(scope, receive, send)
            return
        here, token = mark_command()
        try:
            await self.app(scope, receive, KeepingSend(scope, here, send))
        finally:
            unmark(token)


def mark_command() -> tuple[Marked, Token[Marked | None]]:
    """Mark the request being handled as a command (the dependency `idempotent` then finds its key); give the token
    to `unmark` when it is answered."""
    here = Marked()
    return here, _marked.set(here)


def unmark(token: Token[Marked | None]) -> None:
    _marked.reset(token)


class KeepingSend:
    """A command's `send`: once its Idempotency-Key record is saved (`here.saved`), the answer is held until it is
    whole, kept with the record (`keep_answer`), then sent; before that, messages pass as they are."""

    __slots__ = ("held", "here", "scope", "send")

    def __init__(self, scope: Scope, here: Marked, send: Send) -> None:
        self.scope, self.here, self.send = scope, here, send
        self.held: list[Message] = []

    async def __call__(self, message: Message) -> None:
        held = self.held
        if message["type"] == "http.response.start" and self.here.saved and self.here.request_id is not None:
            held.append(message)
            return
        if not held:
            await self.send(message)
            return
        held.append(message)
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            await keep_answer(self.scope, self.here, held)
            for each in held:
                await self.send(each)
            held.clear()


async def keep_answer(scope: Scope, here: Marked, held: list[Message]) -> None:
    """Keep a command's answer (its start and body messages) with its Idempotency-Key record: a success whole (up to
    `KEEP_BODY_BYTES`), a refusal's `detail` and `code` only (`kept`), a failure (5xx) not at all."""
    start = held[0]
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in start.get("headers", [])}
    body = b"".join(m.get("body", b"") for m in held[1:])
    status = int(start["status"])
    if status >= 500 or (status < 400 and len(body) > KEEP_BODY_BYTES):
        return  # not kept: a retry says that it was recorded, and what
    content_type = headers.get("content-type", "")
    app = scope["app"].state.runtime.app
    request_id = here.request_id
    if request_id is None:
        return
    try:
        await run_sync(lambda: app.answer_request(
            request_id, status, content_type, headers.get("location", ""), kept(status, content_type, body)))
    except Exception as exc:  # noqa: BLE001 - the effect is recorded; a retry then says so without the answer
        log.warning("idempotency.answer_not_kept", error=f"{type(exc).__name__}: {exc}")
