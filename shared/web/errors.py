"""Every error on a page (`/ui/…`) is a Japanese HTML page with the next step (issue 15); the JSON API
keeps its JSON errors.

`error_page` renders `error.html`: what happened in the office's words (a rule code the message names
goes to the tooltip, shared/web/labels.py), who may use the page when the policy refused it, links to
go on, and for an unexpected failure (500) a number to quote to the help desk, never a traceback (the
number is on the log line that has it). `install_error_pages` answers the framework's own refusals
(404, 405, 413, 422) and an unexpected failure on pages, and leaves the API's answers as they were.

For programs (issue 17): every JSON refusal carries a machine-readable `code` beside its `detail`
(`ErrorCodes`: the refused rule's name, e.g. `not_for_shien_kaigi`, else one per status, `CODES`), and
the OpenAPI document declares each operation's refusals (401, 403, 404, 409, 422, 503) with that body
and the bearer scheme (`document_refusals`).
"""

from __future__ import annotations

import inspect
import json
import re
import uuid
from collections.abc import Awaitable, Mapping
from typing import Any
from urllib.parse import urlsplit

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.kernel.journey import DomainError
from shared.organisation.scope import PROGRAM_DIVISIONS
from shared.web.auth import Unauthenticated
from shared.web.labels import division_label, split_rule_codes
from shared.web.limits import TOO_LARGE, readable
from shared.web.policy import PUBLIC, ROLES, actions, declared, permits, principal_of, program_of
from shared.web.ui import HOME_ACTIONS, PROGRAM_LABELS, SECURITY_HEADERS, UI, service_url

log = structlog.get_logger()

#: Each status's heading, and what a person does next when nothing more precise is known.
TITLES = {
    400: "送信内容を読めませんでした / the request could not be read",
    403: "権限がありません / not allowed",
    404: "ページまたは記録が見つかりません / not found",
    405: "この画面ではその操作はできません / not possible here",
    409: "記録できませんでした / not recorded",
    413: "送信内容が大きすぎます / too large",
    422: "入力内容を確認してください / check what was entered",
    429: "操作が多すぎます / too many requests",
    500: "システムで問題が起きました / something went wrong",
    503: "一時的に利用できません / unavailable for now",
}
MESSAGES = {
    400: "送信された内容を読めませんでした。画面を開き直して、もう一度入力してください / "
         "the request could not be read: reload the page and try again",
    404: "お探しのページまたは記録はありません。アドレスを確かめるか、一覧から開き直してください / "
         "no such page or record: check the address or open it again from the list",
    405: "この画面では、その操作は受け付けていません。画面のボタンから操作してください / "
         "this page does not take that request: use the page's own buttons",
    413: TOO_LARGE,
    500: "処理の途中で予期しない問題が起きました。記録されなかった可能性があります。一覧で確かめてから、もう一度操作してください / "
         "an unexpected error stopped the request: check the list for what was recorded, then try again",
}


def is_page(request: Request) -> bool:
    """A request for a division UI's page (its errors are pages), not the JSON API."""
    return request.url.path.startswith("/ui/") and not request.url.path.startswith("/ui/static/")


def _back(request: Request) -> str | None:
    """The page the reader came from, when it is one of this service's pages (never another site's)."""
    referer = request.headers.get("referer", "")
    parts = urlsplit(referer)
    if not referer or parts.netloc != request.headers.get("host", "") or not parts.path.startswith("/ui/"):
        return None
    if parts.path == request.url.path:
        return None
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _next_steps(request: Request, status: int, service: str) -> list[tuple[str, str]]:
    """Where the reader can go from here: only pages they may open."""
    steps: list[tuple[str, str]] = []
    back = _back(request)
    if back:
        steps.append(("前の画面に戻る / back to the previous page", back))
    if status in (500, 503, 409) and request.method == "GET":
        steps.append(("もう一度開く / try again", request.url.path + (f"?{request.url.query}" if request.url.query else "")))
    reader = getattr(request.state, "principal", None)
    if permits(reader, HOME_ACTIONS[service], service) or reader is None:
        steps.append(("この事業のトップへ / to this program's start page", "/ui/"))
    else:
        steps += [(f"{label}へ / to {name}", service_url(request, name) + "/ui/") for name, label in PROGRAM_LABELS.items()
                  if permits(reader, HOME_ACTIONS[name], name)]
        steps.append(("この事業の記録へ / this program's record", "/ui/log"))
    if status == 403:
        steps.append(("別の職員でログインし直す / sign in as someone else", "/ui/logout"))
    return steps


def who_may(request: Request, service: str) -> list[str] | None:
    """The roles (and divisions) that may use the refused page, when the policy refused this reader its
    action; None when the refusal was something else (a record of another division, a domain rule)."""
    action = declared(request.scope.get("route"))
    principal = getattr(request.state, "principal", None)
    if not action or action == "public" or permits(principal, action, service):
        return None
    roles = [role.ja for role in ROLES.values() if action in role.actions]
    program = program_of(action, service)
    if program:
        divisions = "、".join(sorted(division_label(d) for d in PROGRAM_DIVISIONS.get(program, frozenset())))
        roles = [f"{role}（{divisions}）" for role in roles]
    return roles or ["（この画面を使える役割はありません）"]


def error_page(page: UI, request: Request, status: int, message: str | None = None,
               headers: dict[str, str] | None = None, incident: str | None = None) -> HTMLResponse:
    """The page of an error: heading, what happened (a rule code only in the tooltip), who may, what next."""
    if not hasattr(request.state, "principal"):  # no route matched: who is signed in, for the page's header
        try:
            request.state.principal = principal_of(request)
        except Unauthenticated:  # an expired or unreadable cookie: the header shows no one
            request.state.principal = None
    allowed_roles = who_may(request, page.service) if status == 403 else None
    if allowed_roles is not None:
        message = ("あなたの役割・所属課では、この画面・操作は使えません。必要な場合は、使える職員に依頼してください / "
                   "your role or division may not use this page: ask someone who may")
    text, rule = split_rule_codes(message or MESSAGES.get(status, TITLES.get(status, "")))
    response = page.render(request, "error.html", TITLES.get(status, f"エラー（{status}）/ error"),
                           status_code=status, message=text, rule=rule, who_may=allowed_roles,
                           next_steps=_next_steps(request, status, page.service), incident=incident)
    response.headers.update(headers or {})
    return response


def coded(answer: Response, status: int) -> None:
    """A JSON refusal made whole (`answer.body`) with its `code`, in place (`_with_code`), and the length that holds."""
    body = bytes(answer.body)
    with_code = _with_code(body, status)
    if with_code is not body:
        answer.body = with_code
        answer.headers["content-length"] = str(len(with_code))


def with_head(headers: Mapping[str, str]) -> dict[str, str]:
    """A 405's headers with HEAD in its `Allow` where GET is (every GET route answers HEAD: shared/web/routing.py)."""
    allow = [method.strip() for method in headers.get("Allow", "").split(",") if method.strip()]
    if "GET" in allow and "HEAD" not in allow:
        return {**headers, "Allow": ", ".join([*allow, "HEAD"])}
    return dict(headers)


#: the methods a path's routes may take, asked of each in turn for a 405's `Allow`
_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def allowed_methods(request: Request) -> list[str]:
    """Every method some route of the app takes at this request's path (RFC 9110 §15.5.6: a 405's `Allow` lists the
    resource's methods). Starlette names only the first route whose path matched: `GET /places` and `POST /places`
    are two routes, so an OPTIONS there said `Allow: GET, HEAD` without POST (the review from outside, schemathesis
    `allow_header_conformance`)."""
    scope = {key: request.scope[key] for key in ("type", "path", "root_path", "headers", "query_string")
             if key in request.scope}
    routes = getattr(request.app, "routes", ())
    found = []
    for method in _METHODS:
        asked = {**scope, "method": method}
        if any(getattr(route, "matches", None) is not None and route.matches(dict(asked))[0] == Match.FULL
               for route in routes):
            found.append(method)
    return found


async def _answer(answer: Response | Awaitable[Response]) -> Response:
    """What another exception handler (sync or async) answered."""
    return await answer if inspect.isawaitable(answer) else answer


def install_error_pages(api: FastAPI, page: UI, middleware: bool = True) -> None:
    """The framework's refusals (404, 405, 413, 400) and its validation errors (422) as pages on /ui/,
    through the API's own handlers elsewhere (shared/web/limits.py); an unexpected failure (500) as a
    page with a number to quote on /ui/, as JSON with that number on the API. Every JSON refusal gets
    its `code` (ErrorCodes; `middleware` False: the service's edge, shared/web/edge.py, sends through `CodedSend`),
    and the OpenAPI document its refusals (document_refusals)."""
    if middleware:
        api.add_middleware(ErrorCodes)
    document_refusals(api)
    framework = api.exception_handlers[StarletteHTTPException]
    validation = api.exception_handlers[RequestValidationError]

    @api.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 405 and exc.headers:
            every = allowed_methods(request)
            exc.headers = with_head({**exc.headers, "Allow": ", ".join(every)} if every else exc.headers)
        if is_page(request):
            detail = exc.detail if exc.status_code == 413 else None
            return error_page(page, request, exc.status_code, detail, getattr(exc, "headers", None))
        answer = await _answer(framework(request, exc))
        if request.url.path.startswith("/ui/static/"):  # JSON, but under /ui/, where the edge adds no `code`
            coded(answer, exc.status_code)
        return answer

    @api.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        if is_page(request):
            found = dict.fromkeys(readable(error) for error in exc.errors()[:5])
            return error_page(page, request, 422, "アドレスまたは入力の形式が正しくありません / the address or form "
                              "is not in the expected form: " + "; ".join(found))
        return await _answer(validation(request, exc))

    @api.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        incident = uuid.uuid4().hex[:12]
        log.error("request.unexpected_error", incident=incident, path=request.url.path, method=request.method,
                  exc_info=exc)
        if not is_page(request):
            return JSONResponse(status_code=500, headers=SECURITY_HEADERS, content={  # outside the edge's headers too
                "detail": f"予期しない問題が起きました。問い合わせ番号 {incident} / unexpected error, incident {incident}",
                "code": CODES[500], "incident": incident})
        try:
            response: Response = error_page(page, request, 500, incident=incident)
        except Exception:  # noqa: BLE001 - the error page itself failed: a plain page, still no traceback
            response = HTMLResponse(_PLAIN.format(incident=incident), status_code=500)
        response.headers.update(SECURITY_HEADERS)  # answered outside the middleware that adds them
        return response


# ---- machine-readable refusals (issue 17) ---------------------------------------------------------------

#: The `code` of a JSON refusal that no rule named: one per status.
CODES = {
    400: "bad_request", 401: "unauthenticated", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
    409: "conflict", 412: "changed_meanwhile", 413: "too_large", 415: "unsupported_media_type", 422: "invalid", 429: "too_many_requests",
    431: "headers_too_large", 500: "internal_error", 503: "unavailable",
}
#: The refusals the OpenAPI document declares (issue 17), and what each means to a program.
REFUSALS = {
    401: "トークンがない、または無効です / no valid bearer token (code `unauthenticated`; where several municipalities "
         "are served, `tenant_not_named` or `tenant_not_served` for a token that names none or another)",
    403: "役割または所属課の範囲外です / the role or the division scope refuses it (code `forbidden`, `out_of_scope`, "
         "or the rule's)",
    404: "記録がありません / no such record (code `not_found` or the rule's)",
    409: "規則により記録できません、または同時に更新されました / a rule refuses it now, or the record changed at the same "
         "time (code: the rule's, e.g. `case_already_escalated`, or `conflict`)",
    400: "本文が UTF-8 の JSON として読めません / the body is not UTF-8 JSON (code `bad_request`), the "
         "Idempotency-Key is empty or over 255 characters (code `bad_key`), or the request is not valid HTTP: a "
         "Content-Length that is no number, sent twice or beside Transfer-Encoding (code `bad_request`)",
    413: "本文が大きすぎます（1 MiB まで。本文を取らない操作でも、送られた本文で判断します） / the body is over 1 MiB, "
         "refused before any route, also by an operation that takes no body (code `too_large`)",
    415: "本文は application/json で送ってください / send the body as application/json (code `unsupported_media_type`)",
    422: "入力内容が正しくありません / the input is not valid (code `invalid` with the fields in `detail`, or the rule's)",
    431: "リクエストのヘッダーが大きすぎます（64 KiB まで） / the request's headers are over 64 KiB (code "
         "`headers_too_large`)",
    503: "記録先に一時的に接続できません。Retry-After の後に再送できます / the store is unreachable for now: retry after "
         "Retry-After, with the same Idempotency-Key (code `unavailable`)",
}
COMMAND_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
REFUSAL_SCHEMA: dict[str, Any] = {
    "title": "Refusal",
    "type": "object",
    "required": ["detail", "code"],
    "properties": {
        "detail": {
            "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "object"}}],
            "description": "何が拒否されたか、次にすること（日本語と英語）。入力の誤り (422) は項目ごとの一覧 / what was refused "
                           "and what to do, in Japanese and English; for invalid input (422) a list naming each field",
        },
        "code": {
            "type": "string", "pattern": "^[a-z][a-z0-9_]*$",
            "description": "機械で判別するための拒否の種類 / the kind of refusal, for programs: the refused rule "
                           "(e.g. `not_for_shien_kaigi`, `out_of_scope`) or one per status (" +
                           ", ".join(f"{status} `{code}`" for status, code in CODES.items()) + ")",
        },
    },
    "additionalProperties": True,
}
BEARER = {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
          "description": "職員のトークン（市の認証基盤の OIDC、または開発用の発行者 `jusou token`）/ a staff member's token: "
                         "the city IdP's OIDC JWT, or the development issuer's (`jusou token`)"}


def code_of(exc: Exception) -> str:
    """The machine-readable code of a refusal: its rule (the DomainError's class) in snake_case,
    `NotForShienKaigi` → `not_for_shien_kaigi`; a plain DomainError by its status."""
    if type(exc) is DomainError or not isinstance(exc, DomainError):
        return CODES.get(getattr(exc, "status", 500), "refused")
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", type(exc).__name__).lower()


def _with_code(body: bytes, status: int) -> bytes:
    """A JSON refusal's body with its `code` beside `detail` (as it was when it has one, or is not such a body)."""
    try:
        content = json.loads(body)
    except ValueError:
        return body
    if not isinstance(content, dict) or "detail" not in content or "code" in content:
        return body
    content["code"] = CODES.get(status, "refused")
    try:
        return json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate echoed from the input (limits.SafeJSONResponse)
        return json.dumps(content, ensure_ascii=True, separators=(",", ":")).encode("ascii")


class ErrorCodes:
    """ASGI middleware: every JSON refusal of the API (not the pages) carries a `code` beside its `detail` (on its own;
    a service's edge, shared/web/edge.py, sends through `CodedSend` itself).

    Only answers of status 400 and above with a JSON body are read; the rest pass untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or str(scope.get("path", "")).startswith("/ui/"):
            await self.app(scope, receive, send)
            return
        await self.app(scope, receive, CodedSend(send))


class CodedSend:
    """An API answer's `send`: a JSON refusal (status ≥ 400, `application/json`) is held until its body is whole, then
    sent with its `code` (`_with_code`) and the length that holds; every other message passes as it is."""

    __slots__ = ("chunks", "held", "send")

    def __init__(self, send: Send) -> None:
        self.send = send
        self.held: Message | None = None
        self.chunks: list[bytes] = []

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            if message["status"] >= 400 and _content_type(message).startswith(b"application/json"):
                self.held = message
                return
        elif message["type"] == "http.response.body" and self.held is not None:
            self.chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return
            held, body = self.held, b"".join(self.chunks)
            coded_body = _with_code(body, held["status"])
            if coded_body is not body:  # a length that no longer holds (HEAD's empty body keeps its own)
                headers = [(k, v) for k, v in held.get("headers", []) if k.lower() != b"content-length"]
                held = {**held, "headers": [*headers, (b"content-length", str(len(coded_body)).encode())]}
            await self.send(held)
            await self.send({"type": "http.response.body", "body": coded_body})
            return
        await self.send(message)


def _content_type(start: Message) -> bytes:
    """The `content-type` of an answer's start message (b"" when it has none)."""
    for name, value in start.get("headers", ()):
        if name.lower() == b"content-type":
            return bytes(value)
    return b""


def refusals_of(method: str, path: str, action: str | None, operation: dict[str, Any]) -> list[int]:
    """The refusals an operation can give: 401 and 403 unless public, 404 when its path names a record,
    409 for a command, 415 for a command (POST, PUT, PATCH: a body not declared JSON, also where the route takes
    none), 422 when it takes input, 400 (a request the HTTP parser cannot read; for a body, also one that is not UTF-8
    JSON), 413 (a body over 1 MiB, whatever the route takes) and 431 (headers too large) for every one, 503 when it
    reaches the store (all but the public ones)."""
    found = []
    if action != PUBLIC:
        found += [401, 403]
    if "{" in path:
        found.append(404)
    if method.upper() in COMMAND_METHODS:
        found.append(409)
    found.append(400)  # a request the HTTP parser cannot read (shared/web/serve.py), before any route is chosen
    # a body over 1 MiB is refused before any route is chosen, whatever the route takes (a GET's or a command's that
    # takes none: the review from outside found these 413s undeclared); a command's body not declared JSON likewise
    found.append(413)
    if operation.get("requestBody") or method.upper() in ("POST", "PUT", "PATCH"):
        found.append(415)
    if operation.get("parameters") or operation.get("requestBody") or "422" in operation.get("responses", {}):
        found.append(422)
    found.append(431)  # headers over 64 KiB (shared/web/serve.py), before any route is chosen
    if action != PUBLIC:
        found.append(503)
    return sorted(found)


def document_refusals(api: FastAPI) -> None:
    """Every operation of the OpenAPI document declares its refusals (`refusals_of`) with the `Refusal`
    body, and the bearer scheme it needs (`security`; a public operation none)."""
    made = api.openapi

    def openapi() -> dict[str, Any]:
        if api.openapi_schema is None:
            schema = made()
            components = schema.setdefault("components", {})
            components.setdefault("schemas", {})["Refusal"] = REFUSAL_SCHEMA
            components.setdefault("securitySchemes", {})["bearer"] = BEARER
            body = {"application/json": {"schema": {"$ref": "#/components/schemas/Refusal"}}}
            for (method, path), action in actions(api).items():
                operation = schema.get("paths", {}).get(path, {}).get(method.lower())
                if not isinstance(operation, dict):
                    continue
                operation["security"] = [] if action == PUBLIC else [{"bearer": []}]
                responses = operation.setdefault("responses", {})
                for status in refusals_of(method, path, action, operation):
                    # a route's own word on a refusal (`responses={409: {"description": …}}`) stays, before the
                    # common one: what this route refuses and why, then the codes every refusal of the status has
                    own = str(responses.get(str(status), {}).get("description") or "")
                    said = REFUSALS[status] if own in ("", "Validation Error", REFUSALS[status]) else (
                        f"{own}\n\n{REFUSALS[status]}")
                    responses[str(status)] = {"description": said, "content": body}
            schemas = components["schemas"]
            if not any("HTTPValidationError" in json.dumps(op) for ops in schema.get("paths", {}).values()
                       for op in ops.values()):
                schemas.pop("HTTPValidationError", None)
                schemas.pop("ValidationError", None)
        return api.openapi_schema or made()

    api.openapi = openapi  # type: ignore[method-assign]


_PLAIN = """<!doctype html><html lang="ja"><head><meta charset="utf-8"><title>システムで問題が起きました</title></head>
<body><main><h1>システムで問題が起きました / something went wrong</h1>
<p>ヘルプデスクに次の番号をお伝えください / quote this number to the help desk: <strong>{incident}</strong></p>
<p><a href="/ui/">この事業のトップへ / to the start page</a></p></main></body></html>"""

