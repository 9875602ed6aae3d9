"""The division UIs' common parts: templates, the shared look, sign-in, live updates, CSV.

Server-rendered pages (Jinja2) with htmx; every asset is served by the service itself under
`/ui/static/`. Each service adds its own pages with `ui_router(...)` and templates in
`services/<name>/templates/`.
"""

from __future__ import annotations

import asyncio
import base64
import csv
import hmac
import io
import json
import os
import secrets
from collections.abc import AsyncIterator, Iterable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import anyio
from fastapi import APIRouter, FastAPI, Form, Request
from fastapi.responses import (
    HTMLResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, select_autoescape

from shared.audit import inert_row
from shared.auth import (
    COOKIE,
    DEFAULT_TTL_SECONDS,
    Accounts,
    AuthSettings,
    DevIssuer,
    Unauthenticated,
    discovery,
    exchange_code,
    pkce_pair,
    verifier,
)
from shared.idempotency import new_key_field
from shared.policy import permits
from shared.reference import DIVISIONS
from shared.settings import PORTS
from shared.wareki import jst, wareki

SHARED = Path(__file__).resolve().parent
OIDC_COOKIE = "jusou_oidc"  # the sign-in at the IdP in progress: state, PKCE verifier, where to go after
PROGRAM_LABELS = {
    "intake": "包括的相談支援", "collaboration": "多機関協働", "meeting": "会議",
    "outreach": "アウトリーチ", "participation": "参加支援", "community": "地域づくり",
}


def staff_from_cookie(request: Request) -> dict[str, str] | None:
    """The signed-in staff member (the policy gate checked the cookie's token), or None."""
    principal = getattr(request.state, "principal", None)
    if principal is None:
        return None
    return {"staff_id": principal.staff_id, "division": principal.division,
            "division_ja": DIVISIONS[principal.division].ja, "roles": " ".join(sorted(principal.roles))}


def _callback(request: Request) -> str:
    """Where the IdP sends the browser back (registered at the IdP for each service's address)."""
    return str(request.url_for("login_callback"))


def login_url(request: Request, reason: str = "") -> str:
    """The sign-in page, coming back here afterwards."""
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return f"/ui/login?next={quote(here, safe='')}" + (f"&ng={quote(reason)}" if reason else "")


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
    configured = os.environ.get(f"JUSOU_{service.upper()}_INTERNAL_URL")
    if configured:
        return configured.rstrip("/")
    return f"http://127.0.0.1:{os.environ.get(f'JUSOU_{service.upper()}_PORT', str(PORTS[service]))}"


def service_url(request: Request, service: str) -> str:
    """Where another service's UI is: `JUSOU_<SERVICE>_URL`, else this host on its port."""
    configured = os.environ.get(f"JUSOU_{service.upper()}_URL")
    if configured:
        return configured.rstrip("/")
    port = os.environ.get(f"JUSOU_{service.upper()}_PORT", str(PORTS[service]))
    return f"{request.url.scheme}://{request.url.hostname}:{port}"


class UI:
    """One service's pages: render with the shared layout."""

    def __init__(self, service: str, title: str, templates_dir: Path | None = None) -> None:
        self.service, self.title = service, title
        loaders = [FileSystemLoader(str(templates_dir))] if templates_dir else []
        loaders.append(FileSystemLoader(str(SHARED / "templates")))
        env = Environment(loader=ChoiceLoader(loaders), autoescape=select_autoescape(["html"]))
        env.filters["wareki"] = wareki
        env.filters["jst"] = jst
        env.globals["PROGRAM_LABELS"] = PROGRAM_LABELS
        env.globals["idempotency_field"] = new_key_field  # a fresh key per form: a double submit records once
        self.templates = Jinja2Templates(env=env)

    def render(self, request: Request, template: str, title: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        programs = [(name, label, service_url(request, name) + "/ui/") for name, label in PROGRAM_LABELS.items()]
        return self.templates.TemplateResponse(request, template, {
            "service": self.service, "division_title": self.title, "title": title, "programs": programs,
            "staff": staff_from_cookie(request), "flash": request.query_params.get("ok") or request.query_params.get("ng"),
            "flash_kind": "ng" if request.query_params.get("ng") else "ok",
            "url_of": lambda name: service_url(request, name),
            # the forms a page shows: only what the policy lets this staff member do here
            "may": lambda action: permits(getattr(request.state, "principal", None), action, self.service),
            **context,
        }, status_code=status_code)


def redirect(url: str, ok: str | None = None, ng: str | None = None) -> RedirectResponse:
    """After a form post: back to a page, with a message (PRG, so a reload never posts twice)."""
    message = f"ok={quote(ok)}" if ok else f"ng={quote(ng)}" if ng else ""
    sep = "&" if "?" in url else "?"
    return RedirectResponse(f"{url}{sep}{message}" if message else url, status_code=303)


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
    api.mount("/ui/static", StaticFiles(directory=str(SHARED / "static")), name="static")
    router = APIRouter(include_in_schema=False)

    @router.get("/ui/login", response_class=HTMLResponse)
    async def login_form(request: Request, next: str = "/ui/") -> HTMLResponse:  # noqa: A002
        settings = AuthSettings.from_env()
        return ui.render(request, "login.html", "ログイン", next=next, idp=settings.issuer,
                         idp_sign_in=bool(settings.issuer and settings.client_id))

    @router.get("/ui/login/oidc")
    async def login_at_idp(request: Request, next: str = "/ui/") -> Response:  # noqa: A002
        """To the city's IdP (authorization code with PKCE); it sends the browser back to the callback."""
        settings = AuthSettings.from_env()
        if not (settings.issuer and settings.client_id):
            return redirect("/ui/login", ng="市の認証基盤が設定されていません / no identity provider is configured")
        try:
            endpoint = (await discovery(settings.issuer))["authorization_endpoint"]
        except Unauthenticated as exc:
            return redirect("/ui/login", ng=str(exc))
        state, (code_verifier, challenge) = secrets.token_urlsafe(24), pkce_pair()
        query = urlencode({"response_type": "code", "client_id": settings.client_id, "scope": "openid",
                           "redirect_uri": _callback(request), "state": state, "code_challenge": challenge,
                           "code_challenge_method": "S256"})
        response = RedirectResponse(f"{endpoint}?{query}", status_code=303)
        pending = base64.urlsafe_b64encode(json.dumps([state, code_verifier, next]).encode()).decode()
        response.set_cookie(OIDC_COOKIE, pending, max_age=600, path="/ui/login", httponly=True, samesite="lax",
                            secure=request.url.scheme == "https")
        return response

    @router.get("/ui/login/callback")
    async def login_callback(request: Request, code: str = "", state: str = "") -> Response:
        """Back from the IdP: the code and the PKCE verifier buy the access token, kept in the session cookie."""
        settings = AuthSettings.from_env()
        try:
            expected, code_verifier, next_ = json.loads(base64.urlsafe_b64decode(request.cookies.get(OIDC_COOKIE, "")))
        except ValueError:
            expected = code_verifier = next_ = ""
        if not code or not state or not hmac.compare_digest(str(expected), state):
            return redirect("/ui/login", ng="ログインをやり直してください / the sign-in expired or did not match; start again")
        try:
            token = await exchange_code(settings, code, str(code_verifier), _callback(request))
            principal = verifier().verify(token)
        except Unauthenticated as exc:
            return redirect("/ui/login", ng=str(exc))
        target = str(next_) if str(next_).startswith("/ui/") and _printable(str(next_), 2000) else "/ui/"
        response = redirect(quote(target, safe="/?&=%#:;,+-._~"), ok=f"{principal.staff_id} としてログインしました")
        response.set_cookie(COOKIE, token, max_age=DEFAULT_TTL_SECONDS, httponly=True, samesite="lax",
                            secure=request.url.scheme == "https")
        response.delete_cookie(OIDC_COOKIE, path="/ui/login")
        return response

    @router.post("/ui/login")
    async def login(request: Request, staff_id: str = Form(...), password: str = Form(...),
                    next: str = Form("/ui/")) -> Response:  # noqa: A002
        settings = AuthSettings.from_env()
        again = f"/ui/login?next={quote(next, safe='')}"
        if not settings.development:
            return redirect(again, ng="市の認証基盤からログインしてください / sign in through the city's identity provider")
        account = None
        if _printable(staff_id.strip(), 100) and len(password) <= 1000:
            account = await anyio.to_thread.run_sync(Accounts(settings.folder).check, staff_id.strip(), password)
        if account is None:
            return redirect(again, ng="職員番号またはパスワードが違います / wrong staff id or password")
        token = DevIssuer(settings.folder).mint(staff_id.strip(), account["division"], account["roles"],
                                                settings.audience)
        # back to a page of this UI only; a header never carries a line break (CRLF injection)
        target = next if next.startswith("/ui/") and _printable(next, 2000) else "/ui/"
        response = redirect(quote(target, safe="/?&=%#:;,+-._~"), ok=f"{staff_id.strip()} としてログインしました")
        response.set_cookie(COOKIE, token, max_age=DEFAULT_TTL_SECONDS, httponly=True, samesite="lax",
                            secure=request.url.scheme == "https")
        return response

    @router.get("/ui/logout")
    async def logout() -> Response:
        response = redirect("/ui/login", ok="ログアウトしました / signed out")
        response.delete_cookie(COOKIE)
        return response

    @router.get("/ui/events")
    async def events(request: Request) -> StreamingResponse:
        """Server-sent events: `changed` whenever this service's store commits (a command or an arriving event)."""
        runtime = request.app.state.runtime
        loop = asyncio.get_running_loop()
        changed = asyncio.Event()

        def wake() -> None:
            loop.call_soon_threadsafe(changed.set)

        runtime.app.on_commit(wake)

        async def stream() -> AsyncIterator[str]:
            try:
                yield "retry: 2000\n\n"
                while not await request.is_disconnected():
                    try:
                        await asyncio.wait_for(changed.wait(), timeout=15)
                    except TimeoutError:
                        yield ": keep-alive\n\n"
                        continue
                    changed.clear()
                    await asyncio.sleep(0.05)  # coalesce a burst of commits into one refresh
                    yield f"event: changed\ndata: {runtime.app.service}\n\n"
            finally:
                runtime.app.off_commit(wake)

        return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    api.include_router(router)
