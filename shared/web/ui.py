"""The division UIs' common parts: templates, the shared look, sign-in, live updates, CSV.

Server-rendered pages (Jinja2) with htmx; every asset is served by the service itself under
`/ui/static/`. Each service adds its own pages with `ui_router(...)` and templates in
`services/<name>/templates/`.

Browser safety (README "Staff, roles and tokens"): every response carries a CSP without inline
script or style and the other security headers (`SecurityHeaders`); a cookie-authenticated POST
under /ui/ needs its form's CSRF token and a same-origin request (`csrf_guard`); sign-in is
throttled; sign-out is a POST that ends the session at every service; a page shows a message only
from the fixed set `MESSAGES` or signed for the session that caused it, never free text from a link.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import csv
import hashlib
import hmac
import io
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import anyio
import structlog
from fastapi import APIRouter, FastAPI, Form, Request
from fastapi.responses import (
    HTMLResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import (
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    pass_context,
    select_autoescape,
)
from markupsafe import Markup
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared import tenancy
from shared.contract.events import CONSULTATION_ROUTES, CONSULTED_BY, REGISTRY
from shared.domain.audit import inert_row
from shared.domain.wareki import jst, wareki
from shared.kernel.idempotency import HeadRecordsNothing, form_messages_by, new_key_field
from shared.kernel.journey import DomainError
from shared.organisation.reference import DIVISIONS, counter_display, municipality
from shared.settings import current
from shared.web import oidc
from shared.web.auth import (
    COOKIE,
    DEFAULT_TTL_SECONDS,
    Accounts,
    AuthSettings,
    DevIssuer,
    SignInThrottle,
    Unauthenticated,
    bearer,
    csrf_token,
    verifier,
)
from shared.web.dates import out_of_filter_range, read_day
from shared.web.deps import runtime_of
from shared.web.labels import (
    BASIS_LABELS,
    DECISION_LABELS,
    EVENT_LABELS,
    FIELD_LABELS,
    MEETING_TYPE_LABELS,
    PROGRAM_LABELS,
    VALUE_LABELS,
    division_label,
    event_label,
    kind_label,
    split_rule_codes,
)
from shared.web.policy import ROLES, permits, public, requires
from shared.web.routing import answering_head

SHARED = Path(__file__).resolve().parent
#: What each program's start page (`/ui/`) needs: the top bar links only to the programs the reader may
#: open (tests/ui/test_office_language.py checks this against each service's own route).
HOME_ACTIONS = {
    "intake": "intake.case.read", "collaboration": "collaboration.case.read", "meeting": "meeting.agenda.read",
    "outreach": "engagement.read", "participation": "support.read", "community": "issue.read",
}
CSRF_FIELD = "csrf_token"  # the hidden field beside each form's idempotency key
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: Every response's security headers. No inline script or style anywhere (behaviour in
#: /ui/static/jusou.js, looks in jusou.css), no framing, nothing loaded from another host.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
SECURITY_HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
    # a page, list, CSV or JSON answer may hold personal information: never kept by the browser, so that after
    # signing out Back shows the sign-in page, not the person's record from the cache (HF's review, session 16);
    # the static assets set their own (`Assets`: kept, asked again each time)
    "cache-control": "no-store",
}
#: the static assets' own: a browser keeps them and asks whether they changed (ETag) before using them again
ASSET_CACHE = "no-cache"


class Assets(StaticFiles):
    """Static files (style sheets, scripts, the docs' Swagger UI) with `Cache-Control: no-cache`, not the pages'
    `no-store`: they hold nothing personal, and a page would otherwise fetch each of them again every time."""

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers.setdefault("cache-control", ASSET_CACHE)
        return response
#: The messages a page shows after a redirect, by key (`?ok=signed_out`). Any other text in the query
#: string is shown only when signed for the session that caused it (`sig`): a link cannot put words
#: on the suite's page.
MESSAGES = {
    "signed_in": "ログインしました / signed in",
    "signed_out": "ログアウトしました / signed out",
    "wrong_password": "職員番号またはパスワードが違います / wrong staff id or password",
    "use_idp": "市の認証基盤からログインしてください / sign in through the city's identity provider",
    "no_idp": "市の認証基盤が設定されていません / no identity provider is configured",
    "idp_unreachable": "市の認証基盤に接続できません。しばらくしてからログインしてください / "
                       "cannot reach the identity provider; try again later",
    "sign_in_again": "ログインをやり直してください / the sign-in expired or did not match; start again",
    "idp_refused": "認証基盤がログインを認めませんでした。もう一度ログインしてください / "
                   "the identity provider refused the sign-in; sign in again",
}
_MESSAGE_KEYS = {text: key for key, text in MESSAGES.items()}
#: The session token of the request being answered (set by `csrf_guard`), which signs its messages.
_SESSION: ContextVar[str] = ContextVar("jusou_ui_session", default="")
THROTTLE = SignInThrottle()


class CrossSiteRefused(DomainError):
    """A state change the signed-in browser did not make from this service's own page: 403."""

    status = 403


def staff_from_cookie(request: Request) -> dict[str, str] | None:
    """The signed-in staff member (the policy gate checked the cookie's token), or None."""
    principal = getattr(request.state, "principal", None)
    if principal is None:
        return None
    return {"staff_id": principal.staff_id, "division": principal.division,
            "division_ja": DIVISIONS[principal.division].ja, "roles": " ".join(sorted(principal.roles)),
            "tenant": getattr(principal, "tenant", "") or ""}


def _callback(request: Request, service: str) -> str:
    """Where the IdP sends the browser back (registered at the IdP for each service's address): built
    from the configured address (`service_url`), not from the request's Host header."""
    return service_url(request, service) + "/ui/login/callback"


def login_url(request: Request, reason: str = "") -> str:
    """The sign-in page, coming back here afterwards: for a form's POST, back to the page the form was on
    (`form_page`), where jusou.js puts back what was typed (README "Pages": nothing is sent by itself)."""
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if request.method not in SAFE_METHODS:
        here = form_page(request)
    message = message_query("ng", reason, request.cookies.get(COOKIE, "")) if reason else ""
    return f"/ui/login?next={quote(here, safe='')}" + (f"&{message}" if message else "")


def form_page(request: Request) -> str:
    """The page of this service a form was posted from: its `Referer` (sent on a same-origin request, the
    suite's Referrer-Policy), when it is this origin's /ui/ page other than signing in, without the message
    of the last redirect (`ok`, `ng`, `sig`); else /ui/. A POST's own address is no page to come back to (a GET
    there is refused or another page): a form refused where it stands is shown at its page's address (`sent_from`)."""
    return _referring_page(request) or "/ui/"


def _referring_page(request: Request) -> str | None:
    """`form_page`'s page, None when the `Referer` names none."""
    parts = urlsplit(request.headers.get("referer", ""))
    if (f"{parts.scheme}://{parts.netloc}".lower() != _origin_of(request) or not parts.path.startswith("/ui/")
            or parts.path.startswith(("/ui/login", "/ui/logout")) or not _printable(parts.path, 2000)):
        return None
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in ("ok", "ng", "sig")])
    return parts.path + (f"?{query}" if query else "")


def sent_from(request: Request, template: str, status_code: int) -> str | None:
    """The address a page answering a form's POST with a refusal stands for: the page the form was sent from, shown
    again with the reason and what was typed (a 4xx; no error page). base.html names it (`data-page`) and jusou.js puts
    it in the address bar, so that a reload asks for that page and posts nothing (redirect-after-post, with the form
    kept as typed), and the next send's `Referer`, which signing in again comes back to, is that page, not the POST's
    address (a GET there is 405). None for any other answer, or when the `Referer` names no page of this service."""
    if request.method in SAFE_METHODS or not 400 <= status_code < 500 or template == "error.html":
        return None
    page = _referring_page(request)
    return page if page is not None and page.split("?")[0] != request.url.path else None


def _printable(text: str, limit: int) -> bool:
    """Non-empty, at most `limit` characters, no control characters (they would break a header)."""
    return 0 < len(text) <= limit and text.isprintable()


def actor_of(staff: dict[str, str]) -> dict[str, str]:
    """The actor recorded on events, from a signed-in staff member (without display-only fields)."""
    return {"staff_id": staff["staff_id"], "division": staff["division"]}


def internal_url(service: str) -> str:
    """Where this service reaches another over HTTP (server to server): `JUSOU_<SERVICE>_INTERNAL_URL`
    (e.g. `http://intake:8101` in compose), else 127.0.0.1 on the service's port. Browser links use
    `service_url`, which may be a public address the server itself cannot reach."""
    env = current()
    configured = env.internal_url_of(service)
    if configured:
        return configured.rstrip("/")
    return f"http://127.0.0.1:{env.port_of(service)}"


LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


def service_url(request: Request, service: str) -> str:
    """Where another service's UI is: `JUSOU_<SERVICE>_URL`, else the service's port on this host, as
    the browser named it only when that is a loopback name or `JUSOU_HOST` (the Host header is the
    client's to choose: a link built from it could point anywhere), else 127.0.0.1."""
    env = current()
    configured = env.url_of(service)
    if configured:
        return configured.rstrip("/")
    port = env.port_of(service)
    host = request.url.hostname or ""
    if host not in LOOPBACK and host != env.host:
        host = "127.0.0.1"
    shown = f"[{host}]" if ":" in host else host
    return f"{'https' if request.url.scheme == 'https' else 'http'}://{shown}:{port}"


def _sign(session: str, kind: str, text: str) -> str:
    mac = hmac.new(session.encode(), f"jusou-message|{kind}|{text}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac[:18]).decode()


def message_query(kind: str, text: str, session: str | None = None) -> str:
    """`ok=<key>` for a message of the fixed set, else the text signed for the session (dropped without one)."""
    key = text if text in MESSAGES else _MESSAGE_KEYS.get(text)
    if key:
        return f"{kind}={key}"
    session = _SESSION.get() if session is None else session
    if not session:
        return ""
    return f"{kind}={quote(text)}&sig={_sign(session, kind, text)}"


form_messages_by(message_query)  # a form post sent again answers with its message (shared/kernel/idempotency.py)


def flash_of(request: Request) -> tuple[str | None, str]:
    """The message a page shows, and its kind (ok / ng): a key of MESSAGES, or text signed for this session."""
    for kind in ("ng", "ok"):
        given = request.query_params.get(kind)
        if not given:
            continue
        if given in MESSAGES:
            return MESSAGES[given], kind
        session = request.cookies.get(COOKIE, "")
        sig = request.query_params.get("sig", "")
        if session and sig and hmac.compare_digest(sig, _sign(session, kind, given)):
            return given, kind
    return None, "ok"


@pass_context
def csrf_field(context: Any) -> Markup:
    """The CSRF token of the signed-in browser as a hidden field (a page of another origin cannot know it)."""
    request = context.get("request")
    session = request.cookies.get(COOKIE) if request is not None else None
    if not session:
        return Markup("")
    return Markup('<input type="hidden" name="{}" value="{}">').format(CSRF_FIELD, csrf_token(session))


#: the hidden field that says which version of a record a page showed (`seen_version` in the page's context)
SEEN_FIELD = "seen_version"


@pass_context
def form_fields(context: Any) -> Markup:
    """The hidden fields of every form that records something: a fresh idempotency key (a double submit
    records once), the CSRF token, and the version of the record the page showed where the page gives one
    (`seen_version`: a form sent from a tab left open while the record changed is refused, shared/web/plan_pages.py)."""
    fields = new_key_field() + csrf_field(context)
    seen = context.get(SEEN_FIELD)
    if isinstance(seen, int) and not isinstance(seen, bool):
        fields += Markup('<input type="hidden" name="{}" value="{}">').format(SEEN_FIELD, seen)
    return fields


def _origin_of(request: Request) -> str:
    host = request.headers.get("host", "")
    return f"{request.url.scheme}://{host}".lower()


def csrf_guard(service: str) -> Callable[[Request], Awaitable[None]]:
    """The app-wide dependency (after the policy gate): a state change under /ui/ comes from this
    service's own page. A browser says where a request comes from (`Sec-Fetch-Site`, `Origin`): another
    origin, even another port of the same host (same-site: SameSite=Lax lets the cookie go), is refused;
    and a cookie-authenticated change carries the CSRF token of its session (the form's hidden field)."""

    async def check(request: Request) -> None:
        path: str = request.scope["path"]  # not `request.url` (built per request) nor the cookies off /ui/ (issue 19)
        if not path.startswith("/ui/"):
            _SESSION.set("")  # the JSON API never takes the UI's cookie (shared/web/policy.py principal_of)
            return
        session = request.cookies.get(COOKIE, "")
        _SESSION.set(session)
        if request.method in SAFE_METHODS:
            return
        site = request.headers.get("sec-fetch-site")
        origin = request.headers.get("origin")
        allowed = {_origin_of(request)}
        configured = current().url_of(service)
        if configured:
            allowed.add(configured.rstrip("/").lower())
        if (site is not None and site not in ("same-origin", "none")) or (
                origin is not None and origin.lower() not in allowed):
            raise CrossSiteRefused(
                "別のサイト（同じホストの別のポートを含む）のページからの操作は受け付けません。このサービスの画面から"
                "操作してください / refused: the request came from another site's page (another port of this host "
                "counts), not from this service's own page (cross-site request, CSRF)")
        if bearer(request.headers.get("authorization", "")) or not session or path == "/ui/login":
            return  # not cookie-authenticated (a bearer token is never sent by a browser on its own)
        given = ""
        if request.headers.get("content-type", "").startswith(("application/x-www-form-urlencoded",
                                                                "multipart/form-data")):
            given = str((await request.form()).get(CSRF_FIELD) or "")
        given = given or request.headers.get("x-csrf-token", "")
        if not hmac.compare_digest(given.encode(), csrf_token(session).encode()):
            raise CrossSiteRefused(
                "画面の有効な確認用トークン（CSRF）がない操作は受け付けません。画面を開き直してからもう一度操作してください / "
                "refused: the form's CSRF token is missing or not this session's; reload the page and try again")

    return check


class SecurityHeaders:
    """Every response's security headers (pure ASGI: also on errors, static files and the docs)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []), *(
                    (name.encode(), value.encode()) for name, value in SECURITY_HEADERS.items()
                    if name.encode() not in present)]
            await send(message)

        await self.app(scope, receive, send_with_headers)


_MOMENT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_BY_FIELD: dict[str, Mapping[str, str]] = {"route": CONSULTATION_ROUTES, "consulted_by": CONSULTED_BY}


def field_label(key: str) -> str:
    """A record's field as staff name it (`opened_at` → 開始日時), the field's own name when it has no label."""
    return FIELD_LABELS.get(key, key)


def state_value(value: Any, key: str = "", kind: str = "") -> str:
    """A value of a record as staff read it on the 監査 page: a moment in Japan time and 和暦, a day in 和暦, a code by
    its label (状態, 経路, 決定, 会議の種類, 担当課), a list joined with 「、」; anything else as it is."""
    if isinstance(value, list | tuple):
        return "、".join(state_value(v, key, kind) for v in value)
    if isinstance(value, dict):
        return "、".join(f"{field_label(str(k))}: {state_value(v, str(k), kind)}" for k, v in value.items())
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "はい" if value else "いいえ"
    text = str(value)
    if text == "null":
        return "—"
    if text in ("true", "false"):  # the view's booleans arrive as JSON text
        return "はい" if text == "true" else "いいえ"
    if text[:1] in "[{":  # the view's lists and mappings arrive as JSON text
        try:
            return state_value(json.loads(text), key, kind)
        except ValueError:
            return text
    if key in ("division", "member_divisions"):  # a 支援会議's members: their divisions by name
        return division_label(text)
    if key == "counter":  # 受付窓口 by its name (the municipality file's), not its code
        return counter_display(text)
    if key in _BY_FIELD:
        return _BY_FIELD[key].get(text, text)
    if _MOMENT.match(text):
        moment = jst(text)
        return f"{wareki(moment, with_gregorian=False)} {moment[11:16]}" if moment != text else text
    if _DAY.match(text):
        return wareki(text, with_gregorian=False)
    if key == "status" and kind == "Plan" and text == "closed":
        return "終結"
    return VALUE_LABELS.get(text, text)


#: the lists a refusal names by the API's route (「GET /reference/agencies」), as the office names them (English half)
_ROUTE_WORDS = {"/reference/agencies": "the list of agencies", "/reference/concerns": "the list of concern fields",
                "/reference/divisions": "the list of divisions", "/catalogue": "the catalogue"}
_ROUTE_IN_BRACKETS = re.compile(r"\s*[（(]\s*(?:GET|POST|PUT|PATCH|DELETE)\s+/[^)）]*[)）]")
_ROUTE_IN_TEXT = re.compile(r"\b(?:GET|POST|PUT|PATCH|DELETE)\s+(/[\w/{}.-]*)")
_DOTTED_EVENT = re.compile(r"\b[A-Z][a-z]+(?:[A-Z][a-z]+)*\.[A-Z][a-z]+(?:[A-Z][a-z]+)*\b")
_ACTIONS = sorted({action for role in ROLES.values() for action in role.actions}, key=len, reverse=True)
_ACTION_IN_TEXT = re.compile(r"\s*[（(]?`?(?<![\w.])(?:" + "|".join(re.escape(a) for a in _ACTIONS) + r")(?![\w.])`?[)）]?")
#: an integration event's name (`ConsultationReceived`) → the office's word for its event (`Case.Received` → 相談の受付)
_INTEGRATION_EVENTS = {name: next((event_label(k) for k in EVENT_LABELS if k.replace(".", "") == name
                                   or k.split(".", 1)[1] == name), "事業間の知らせ") for name, _ in REGISTRY}
_INTEGRATION_EVENT = re.compile(r"\b(?:" + "|".join(sorted(_INTEGRATION_EVENTS, key=len, reverse=True)) + r")\b")


def office_text(message: object) -> Markup:
    """A refusal (or any message of the services) as staff read it beside a form: no rule code (the rule kept in the
    tooltip, 「根拠となる規則: D5」), no route (「(GET /reference/agencies)」 dropped, 「choose one of GET /catalogue」 →
    「choose one of the catalogue」), no action name, no English event name (「Case.Received」 → 相談の受付). The JSON API
    keeps the message as it is, codes and all (integrators read them); every template shows a refusal through this
    filter (`office_text`, tests/ui/test_office_language.py holds every template to it)."""
    safe = isinstance(message, Markup)  # written as HTML by the suite itself: its tags kept, its text cleaned the same
    text, rule = split_rule_codes(str(message or ""))
    text = _ROUTE_IN_BRACKETS.sub("", text)
    text = _ROUTE_IN_TEXT.sub(lambda m: _ROUTE_WORDS.get(m.group(1).rstrip("/"), "the list"), text)
    text = _ACTION_IN_TEXT.sub("", text)
    text = _DOTTED_EVENT.sub(lambda m: event_label(m.group()), text)
    text = _INTEGRATION_EVENT.sub(lambda m: _INTEGRATION_EVENTS[m.group()], text)
    shown = Markup(text) if safe else Markup.escape(text)
    return Markup('<span title="根拠となる規則: {}">{}</span>').format(rule, shown) if rule else shown


#: a disclosure of the person to the staff member it names (intake records each showing: D9 D15)
DISCLOSURES = frozenset({"Case.PersonDisclosed", "Person.Shown"})
#: records kept for the store's own rules, not steps of the person's journey: each plan's 1ケース1プラン record
#: (shared/domain/open_plan.py) came right after 「支援プランの作成」 as a second step; the meeting's note that a program
#: holds the case (HeldCase, services/meeting/domain.py: which programs may bring it a first plan, D6) came once per
#: program after 「多機関協働の開始」「アウトリーチの開始」「参加支援の開始」 as 「会議 担当開始の受領 — 自動」; kept in 監査
BOOKKEEPING = ("OpenPlan.", "HeldCase.")


def journey_steps(rows: Sequence[Mapping[str, Any]], staff: Mapping[str, str] | None) -> tuple[list[Any], list[Any]]:
    """A case's 経過 as its reader follows it: the steps of the journey, and apart from them the reader's own views of
    the person (each opening of the case page records a disclosure to the reader, so a caseworker's own visits would
    otherwise outnumber the case's steps). Others' views stay steps (who else read the person is part of the story);
    the reader's own are kept in the audit (監査, 開示記録) and summarised on the page. The store's own bookkeeping
    (`BOOKKEEPING`: the 1ケース1プラン record) is no step; 監査 shows it."""
    me = (staff or {}).get("staff_id")
    own = [r for r in rows if me and r.get("event") in DISCLOSURES and (r.get("actor") or {}).get("staff_id") == me]
    steps = [r for r in rows if not str(r.get("event", "")).startswith(BOOKKEEPING)]
    return [r for r in steps if not any(r is o for o in own)], own


class UI:
    """One service's pages: render with the shared layout."""

    def __init__(self, service: str, title: str, templates_dir: Path | None = None) -> None:
        self.service, self.title = service, title
        loaders = [FileSystemLoader(str(templates_dir))] if templates_dir else []
        loaders.append(FileSystemLoader(str(SHARED / "templates")))
        env = Environment(loader=ChoiceLoader(loaders), autoescape=select_autoescape(["html"]))
        env.filters["wareki"] = wareki
        env.filters["jst"] = jst
        env.filters["event_ja"] = event_label  # the office's words (shared/web/labels.py): no English event name
        env.filters["office_text"] = office_text  # a refusal beside a form: no rule code, route or event name
        env.filters["kind_ja"] = kind_label
        env.filters["division_ja"] = division_label
        env.filters["field_ja"] = field_label  # the 監査 page's "as of" view: fields and codes as staff say them
        env.filters["state_value"] = state_value
        env.globals["PROGRAM_LABELS"] = PROGRAM_LABELS
        env.globals["municipality"] = municipality  # the municipality file's name (print headers): 調布市 for Chofu
        env.globals["paged"] = paged  # a list whose route passes every row pages it in its template
        env.globals["journey_steps"] = journey_steps  # a case's 経過 without the reader's own views of the person
        env.globals["DECISION_LABELS"] = DECISION_LABELS
        env.globals["MEETING_TYPE_LABELS"] = MEETING_TYPE_LABELS
        env.globals["BASIS_LABELS"] = BASIS_LABELS
        env.globals["idempotency_field"] = form_fields  # a fresh key per form, and the CSRF token (form_fields)
        env.globals["csrf_field"] = csrf_field
        self.templates = Jinja2Templates(env=env)

    def render(self, request: Request, template: str, title: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        reader = getattr(request.state, "principal", None)
        programs = [(name, label, service_url(request, name) + "/ui/") for name, label in PROGRAM_LABELS.items()
                    if permits(reader, HOME_ACTIONS[name], name)]
        return self.templates.TemplateResponse(request, template, {
            "service": self.service, "division_title": self.title, "title": title, "programs": programs,
            "staff": staff_from_cookie(request), "flash": flash_of(request)[0], "flash_kind": flash_of(request)[1],
            "url_of": lambda name: service_url(request, name),
            "sent_from": sent_from(request, template, status_code),  # a refused form's page (data-page: jusou.js)
            # the forms a page shows: only what the policy lets this staff member do here
            "may": lambda action: permits(getattr(request.state, "principal", None), action, self.service),
            # a link to another service's page only where the reader may go
            "may_at": lambda action, service: permits(getattr(request.state, "principal", None), action, service),
            **context,
        }, status_code=status_code)


def redirect(url: str, ok: str | None = None, ng: str | None = None) -> RedirectResponse:
    """After a form post: back to a page, with a message (PRG, so a reload never posts twice): a key
    of MESSAGES, or the text signed for the session that caused it (`flash_of` shows nothing else)."""
    message = message_query("ok", ok) if ok else message_query("ng", ng) if ng else ""
    sep = "&" if "?" in url else "?"
    return RedirectResponse(f"{url}{sep}{message}" if message else url, status_code=303)


PER_PAGE = 50  #: rows on a list's page unless `per_page` says otherwise
MAX_PER_PAGE = 200  #: the most a list shows on one page, whatever `per_page` asks


def _bounded(text: str | None, default: int, low: int, high: int) -> int:
    """A whole number from a query parameter within [low, high]; the default when it is not one."""
    text = (text or "").strip()
    if not text or not (text.isascii() and text.isdigit()) or len(text) > 6:  # ASCII digits only: int() of 「²」 fails
        return default
    return min(max(int(text), low), high)


@dataclass(frozen=True)
class Paging:
    """Where a list's page is: `page` (from 1) of `per_page` rows, out of `total`; the template macro
    `pager(paging)` (shared/web/templates/_lists.html) shows 「N件中 a–b件」 and 前へ / 次へ."""

    page: int
    per_page: int
    total: int
    query: tuple[tuple[str, str], ...] = ()  # the list's other query parameters (filters), kept by the links

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def first(self) -> int:
        return 0 if self.total == 0 else (self.page - 1) * self.per_page + 1

    @property
    def last(self) -> int:
        return min(self.page * self.per_page, self.total)

    def url(self, page: int) -> str:
        """The same list at another page (with its filters)."""
        params = [*self.query, ("page", str(page))]
        if self.per_page != PER_PAGE:
            params.append(("per_page", str(self.per_page)))
        return "?" + urlencode(params)

    @property
    def previous_url(self) -> str | None:
        return self.url(self.page - 1) if self.page > 1 else None

    @property
    def next_url(self) -> str | None:
        return self.url(self.page + 1) if self.page < self.pages else None


Row = TypeVar("Row")


def paged(request: Request, rows: Sequence[Row], per_page: int = PER_PAGE) -> tuple[list[Row], Paging]:
    """One page of a list's rows, from the query's `page` and `per_page` (bounded: 1 to MAX_PER_PAGE;
    a page past the end shows the last). See `Filters` for the three lines a list adds."""
    size = _bounded(request.query_params.get("per_page"), per_page, 1, MAX_PER_PAGE)
    pages = max(1, -(-len(rows) // size))
    page = _bounded(request.query_params.get("page"), 1, 1, pages)
    kept = tuple((k, v) for k, v in request.query_params.multi_items() if k not in ("page", "per_page", "ok", "ng", "sig"))
    return list(rows[(page - 1) * size: page * size]), Paging(page, size, len(rows), kept)


def _day(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text.strip()) if text and len(text.strip()) == 10 else None
    except ValueError:
        return None


@dataclass(frozen=True)
class Filters:
    """A list's filter bar, read from the query: status, counter (窓口), 担当者 (assignee) and a date range
    (`from`, `to`, YYYY-MM-DD or 和暦 typed as text; a date that is not one is not applied, and the bar says so). A list adds three lines:

        filters = filters_of(request)                                    # in the route
        rows, paging = paged(request, filters.apply(rows, day="received_at"))
        return ui.render(request, "cases.html", "…", rows=rows, paging=paging, filters=filters)

    and in its template `{% from "_lists.html" import filter_bar, pager %}`, `{{ filter_bar(filters,
    statuses=STATUS_JA, counters=COUNTER_JA, assignees=STAFF) }}` above the table and `{{ pager(paging) }}`
    below it (each choice a mapping of value → Japanese label; a choice left out is not shown).

    A list's own selects (事業 `program`, 会議の種類 `type`, …) are named when reading the query,
    `filters_of(request, "program")`, kept with `filters.apply(rows, chosen={"program": "program"})` (the
    select's name → each row's field) and shown with `filter_bar(filters, selects=[("program", "事業 / program",
    PROGRAM_JA)])`; `filters.choice("program")` is the value sent."""

    status: str = ""
    counter: str = ""
    assignee: str = ""
    since: date | None = None
    until: date | None = None
    #: the list's own selects as sent: (name, value), a value not sent ""
    chosen: tuple[tuple[str, str], ...] = ()
    #: dates sent that are not dates, (which, the text as sent, cut): the bar says they were not applied
    unread: tuple[tuple[str, str], ...] = ()
    outside: tuple[str, ...] = ()  # of `unread`, those (から/まで) that are real days, only before the range a filter reads

    @property
    def active(self) -> bool:
        return bool(self.status or self.counter or self.assignee or self.since or self.until
                    or any(value for _, value in self.chosen))

    def choice(self, name: str) -> str:
        """The value sent for one of the list's own selects ("" when none)."""
        return dict(self.chosen).get(name, "")

    def apply(self, rows: Iterable[Row], status: str = "status", counter: str = "counter",
              assignee: str = "assignee", day: str | None = "received_at",
              chosen: Mapping[str, str] | None = None) -> list[Row]:
        """The rows that pass every filter given; `status`… name each row's field (a mapping's key or an
        attribute); `day` is a date or an ISO date-time (its first 10 characters, the day in Japan; None: the
        list has no date and the range is not applied); `chosen` names the row's field for each own select."""
        def field(row: Any, name: str) -> Any:
            return row.get(name) if isinstance(row, dict) else getattr(row, name, None)

        wanted = [(chosen.get(name, name) if chosen else name, value) for name, value in self.chosen if value]
        kept = []
        for row in rows:
            if self.status and str(field(row, status) or "") != self.status:
                continue
            if self.counter and str(field(row, counter) or "") != self.counter:
                continue
            if self.assignee and str(field(row, assignee) or "") != self.assignee:
                continue
            if any(str(field(row, name) or "") != value for name, value in wanted):
                continue
            if day is None:
                kept.append(row)
                continue
            when = _day(str(jst(str(field(row, day))) if field(row, day) else "")[:10])
            if (self.since or self.until) and when is None:
                continue
            if when is not None and ((self.since and when < self.since) or (self.until and when > self.until)):
                continue
            kept.append(row)
        return kept


def filters_of(request: Request, *selects: str) -> Filters:
    """The filter bar's values as sent (each a short single line; anything else is ignored), with the list's
    own `selects` by their query names."""
    def text(name: str) -> str:
        value = (request.query_params.get(name) or "").strip()
        return value if _printable(value, 100) else ""

    sent = {name: (request.query_params.get(name) or "").strip() for name in ("from", "to")}
    unread = tuple((("から" if name == "from" else "まで"), value[:20]) for name, value in sent.items()
                   if value and read_day(value) is None)  # YYYY-MM-DD, or 和暦 typed as text
    outside = tuple(("から" if name == "from" else "まで") for name, value in sent.items()
                    if value and read_day(value) is None and out_of_filter_range(value))
    return Filters(text("status"), text("counter"), text("assignee"), read_day(sent["from"]), read_day(sent["to"]),
                   tuple((name, text(name)) for name in selects), unread, outside)


def csv_response(filename: str, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Response:
    """CSV that opens correctly in Excel: UTF-8 with a BOM, CRLF line ends."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(inert_row(list(row)) for row in rows)
    return Response(
        content="\ufeff" + buffer.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(filename)}"},
    )


def mount_common(api: FastAPI, ui: UI) -> None:
    """Static assets, sign-in and the live-update stream, on every service."""
    api.mount("/ui/static", Assets(directory=str(SHARED / "static")), name="static")
    router = APIRouter(include_in_schema=False)
    _mount_sign_in(router, ui)
    _mount_password_sign_in(router, ui)
    _mount_sign_out(router, ui)
    _mount_events(router)
    api.include_router(router)


def _secure(request: Request, settings: AuthSettings) -> bool:
    """Whether the session cookies are `Secure`: on an https request (behind a TLS proxy, with
    JUSOU_FORWARDED_ALLOW_IPS set), or always with JUSOU_COOKIE_SECURE=always."""
    return settings.cookie_secure == "always" or request.url.scheme == "https"


def _idps() -> dict[str, tuple[str, AuthSettings]]:
    """Where staff sign in at an IdP, by tenant ("": the one municipality) → (name, settings); {} when none is set."""
    base = AuthSettings.from_env()
    tenants = tenancy.configured()
    if not tenants:
        return {"": ("", base)} if base.issuer and base.client_id else {}
    found = {tid: (t.name or tid, tenancy.auth_settings(base, t)) for tid, t in tenants.items()}
    return {tid: idp for tid, idp in found.items() if idp[1].issuer and idp[1].client_id}


def _mount_sign_in(router: APIRouter, ui: UI) -> None:
    """The sign-in page and the way through the city's IdP and back (shared/web/oidc.py: Authlib, the
    code flow with PKCE and a nonce, the ID token checked, then a server-side session)."""

    @router.get("/ui/login", response_class=HTMLResponse, dependencies=[public()])
    async def login_form(request: Request, next: str = "/ui/") -> HTMLResponse:
        settings = AuthSettings.from_env()
        return ui.render(request, "login.html", "ログイン", next=next, idp=settings.issuer,
                         idp_sign_in=bool(_idps()))

    @router.get("/ui/login/oidc", dependencies=[public()])
    async def login_at_idp(request: Request, next: str = "/ui/", tenant: str = "") -> Response:
        """To the city's IdP (with many municipalities: the one chosen, after a page to choose it); it sends
        the browser back to the callback."""
        _no_flow_for_a_head(request)
        idps = _idps()
        target = next if next.startswith("/ui/") and _printable(next, 2000) else "/ui/"
        if not idps:
            return redirect("/ui/login", ng="no_idp")
        if "" not in idps and tenant not in idps:
            return ui.render(request, "oidc_tenants.html", "ログイン", next=target, tenants=[
                (tid, name, f"/ui/login/oidc?{urlencode({'tenant': tid, 'next': target})}") for tid, (name, _) in idps.items()])
        settings = idps["" if "" in idps else tenant][1]
        try:
            url = await oidc.begin(request, settings, _callback(request, ui.service), target)
        except oidc.TooManySignIns as exc:  # too many flows started (from this address, or on the host): wait, in words
            refused = ui.render(request, "login.html", "ログイン", status_code=429, next=target, idp=settings.issuer,
                                idp_sign_in=True, throttled=exc.wait)
            refused.headers["Retry-After"] = str(exc.wait)
            return refused
        except Unauthenticated as exc:
            structlog.get_logger().warning("ui.idp_unreachable", reason=str(exc))
            return redirect("/ui/login", ng="idp_unreachable")
        response = RedirectResponse(url, status_code=303)
        response.set_cookie(oidc.PENDING_COOKIE, oidc.pending_cookie(request, "" if "" in idps else tenant),
                            max_age=oidc.PENDING_SECONDS, path="/ui/login", httponly=True, samesite="lax",
                            secure=_secure(request, settings))
        return response

    @router.get("/ui/login/callback", dependencies=[public()])
    async def login_callback(request: Request) -> Response:
        """Back from the IdP: the code is exchanged, the ID token checked, and the browser gets a session."""
        _no_flow_for_a_head(request)
        idps, tenant = _idps(), oidc.pending_tenant(request)
        if tenant not in idps:
            return redirect("/ui/login", ng="no_idp" if not idps else "sign_in_again")
        settings = idps[tenant][1]
        checker = verifier()
        checker = getattr(checker, "of_tenant", {}).get(tenant, checker) if tenant else checker
        try:
            with tenancy.acting_for(tenant) if tenant else contextlib.nullcontext():  # its municipality's divisions
                session, next_ = await oidc.finish(request, settings, checker)
        except oidc.SignInRefused as exc:
            structlog.get_logger().info("ui.sign_in_refused", reason=str(exc), tenant=tenant)
            refused = redirect("/ui/login", ng=exc.key)
            if exc.key != "sign_in_again":  # this browser's flow was used up (a forged state leaves it be)
                refused.delete_cookie(oidc.PENDING_COOKIE, path="/ui/login")
            return refused
        target = next_ if next_.startswith("/ui/") and _printable(next_, 2000) else "/ui/"
        response = redirect(quote(target, safe="/?&=%#:;,+-._~"), ok="signed_in")
        response.set_cookie(COOKIE, session, max_age=DEFAULT_TTL_SECONDS, httponly=True, samesite="lax",
                            secure=_secure(request, settings))
        response.delete_cookie(oidc.PENDING_COOKIE, path="/ui/login")
        return response


def _no_flow_for_a_head(request: Request) -> None:
    """A HEAD of the way to the IdP or back starts or finishes no sign-in (405, `Allow: GET`): answered as its GET
    (shared/web/routing.py), it kept a new flow's data on the server and set its cookie, or exchanged the IdP's code
    and used the flow up, for a probe or a link checker (the review from outside: HEAD /ui/login/oidc)."""
    if answering_head(request.scope):
        raise HeadRecordsNothing


def _mount_password_sign_in(router: APIRouter, ui: UI) -> None:
    """Sign-in with a staff id and password, in development only (throttled per person and address).

    Many municipalities on one deployment (issue 18): the person chooses their municipality among the tenants
    with a development issuer of their own; the id and password are checked against THAT tenant's accounts
    (`<data_dir>/auth/staff.json`) and the token is signed by that tenant's key with its `tenant` claim. The
    choice is proven by the password file and key; later requests are the token's tenant, never a parameter."""

    def by_password() -> dict[str, tenancy.Tenant] | None:
        """The tenants whose staff sign in here, by id; None: one municipality (no tenants file)."""
        tenants = tenancy.configured()
        return {tid: t for tid, t in tenants.items() if t.oidc is None} if tenants else None

    def choices() -> list[tuple[str, str]] | None:
        """For login.html: (id, name) of each such tenant; None on a single-municipality suite."""
        found = by_password()
        return None if found is None else [(tid, t.name or tid) for tid, t in found.items()]

    ui.templates.env.globals["password_tenants"] = choices

    @router.post("/ui/login", dependencies=[public()])
    async def login(request: Request, staff_id: str = Form(...), password: str = Form(...),
                    next: str = Form("/ui/"), tenant: str = Form("")) -> Response:
        settings = AuthSettings.from_env()
        tenants = by_password()
        chosen = tenants.get(tenant) if tenants else None
        again = f"/ui/login?next={quote(next, safe='')}" + (f"&tenant={chosen.id}" if chosen else "")
        if not settings.development or tenants == {}:
            return redirect(again, ng="use_idp")
        who, address = staff_id.strip(), request.client.host if request.client else ""
        counted = f"{chosen.id if chosen else tenant[:40]}/{who}" if tenants is not None else who  # one tenant's id
        wait = THROTTLE.begin(counted, address)  # before the password is hashed: a guess costs the guesser time
        if wait is not None:
            refused = ui.render(request, "login.html", "ログイン", status_code=429, next=next, idp=settings.issuer,
                                idp_sign_in=False, throttled=wait)
            refused.headers["Retry-After"] = str(wait)
            return refused
        folder = tenancy.auth_settings(settings, chosen).folder if chosen else settings.folder
        account = None
        if (chosen is not None or tenants is None) and _printable(who, 100) and len(password) <= 1000:
            account = await anyio.to_thread.run_sync(Accounts(folder).check, who, password)
        if account is None:
            return redirect(again, ng="wrong_password")
        THROTTLE.succeeded(counted, address)
        token = DevIssuer(folder).mint(who, account["division"], account["roles"], settings.audience,
                                       tenant=chosen.id if chosen else "")
        # back to a page of this UI only; a header never carries a line break (CRLF injection)
        target = next if next.startswith("/ui/") and _printable(next, 2000) else "/ui/"
        response = redirect(quote(target, safe="/?&=%#:;,+-._~"), ok="signed_in")
        response.set_cookie(COOKIE, token, max_age=DEFAULT_TTL_SECONDS, httponly=True, samesite="lax",
                            secure=_secure(request, settings))
        return response


def _mount_sign_out(router: APIRouter, ui: UI) -> None:
    """Sign-out: a page with the button, and the form's POST that ends the session everywhere."""

    @router.get("/ui/logout", response_class=HTMLResponse, dependencies=[public()])
    async def logout_page(request: Request) -> Response:
        """A link signs no one out (a page of another site could show it as an image): the button posts."""
        return ui.render(request, "logout.html", "ログアウト / sign out")

    @router.post("/ui/logout", dependencies=[public()])
    async def logout(request: Request) -> Response:
        """Sign out (the form in the top bar, with its CSRF token): the session ends at every service of
        the host at once (shared/web/auth.py Revocations), and the cookie is deleted; a session at the
        city's IdP ends there too (RP-initiated logout: the browser goes to its end_session_endpoint,
        which sends it back to /ui/logout/done)."""
        principal = getattr(request.state, "principal", None)
        settings = AuthSettings.from_env()
        at_idp = None
        if principal is not None and request.cookies.get(COOKIE, "").startswith(oidc.SESSION_PREFIX):
            record = verifier().sessions.record(principal.session) or {}
            at_idp = await oidc.logout_url(settings, str(record.get("id_token", "")),
                                           service_url(request, ui.service) + "/ui/logout/done")
        if principal is not None:
            await anyio.to_thread.run_sync(verifier().end, principal)
        if at_idp:
            # Not a redirect: the page's CSP (form-action 'self') stops a form's redirect to another origin.
            # A page that goes on by itself (Refresh) and says where, with a link if it does not.
            request.state.principal = None
            response: Response = ui.render(request, "oidc_signed_out.html", "ログアウト / sign out", at_idp=at_idp)
            response.headers["Refresh"] = f"0; url={at_idp}"
        else:
            response = redirect("/ui/login", ok="signed_out")
        response.delete_cookie(COOKIE, httponly=True, samesite="lax", secure=_secure(request, settings))
        return response

    @router.get("/ui/logout/done", dependencies=[public()])
    async def signed_out_at_idp(request: Request) -> Response:
        """Where the IdP sends the browser back after signing out there (register it as a post-logout
        redirect URI): the sign-in page saying so."""
        return redirect("/ui/login", ok="signed_out")


def _mount_events(router: APIRouter) -> None:
    """The live-update stream (server-sent events) the pages listen to."""

    @router.get("/ui/events", dependencies=[requires("ui.open")])
    async def events(request: Request) -> StreamingResponse:
        """Server-sent events: `changed` whenever this service's store commits (a command or an arriving event)."""
        runtime = runtime_of(request)  # the signed-in staff member's tenant's store (issue 18)
        loop = asyncio.get_running_loop()
        changed = asyncio.Event()

        def wake() -> None:
            loop.call_soon_threadsafe(changed.set)

        runtime.app.on_commit(wake)

        async def stream() -> AsyncIterator[str]:
            try:
                yield "retry: 2000\n\n"
                while not await request.is_disconnected():
                    try:  # asyncio.timeout: a 3.11 wait_for may lose the cancellation of a closed stream (relay.py)
                        async with asyncio.timeout(15):
                            await changed.wait()
                    except TimeoutError:
                        yield ": keep-alive\n\n"
                        continue
                    changed.clear()
                    await asyncio.sleep(0.05)  # coalesce a burst of commits into one refresh
                    yield f"event: changed\ndata: {runtime.app.service}\n\n"
            finally:
                runtime.app.off_commit(wake)

        return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
