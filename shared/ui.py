"""The division UIs' common parts: templates, the shared look, sign-in, live updates, CSV.

Server-rendered pages (Jinja2) with htmx; every asset is served by the service itself under
`/ui/static/`. Each service adds its own pages with `ui_router(...)` and templates in
`services/<name>/templates/`.
"""

from __future__ import annotations

import asyncio
import csv
import io
import os
from collections.abc import AsyncIterator, Iterable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

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
from shared.reference import DIVISIONS
from shared.settings import PORTS
from shared.wareki import jst, wareki

SHARED = Path(__file__).resolve().parent
COOKIE = "jusou_staff"
PROGRAM_LABELS = {
    "intake": "包括的相談支援", "collaboration": "多機関協働", "meeting": "会議",
    "outreach": "アウトリーチ", "participation": "参加支援", "community": "地域づくり",
}


def staff_from_cookie(request: Request) -> dict[str, str] | None:
    raw = request.cookies.get(COOKIE, "")
    quoted, _, division = raw.partition(":")
    staff_id = unquote(quoted)  # set quoted: a header carries Latin-1 only
    if not staff_id or division not in DIVISIONS:
        return None
    return {"staff_id": staff_id, "division": division, "division_ja": DIVISIONS[division].ja}


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
        self.templates = Jinja2Templates(env=env)

    def render(self, request: Request, template: str, title: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        programs = [(name, label, service_url(request, name) + "/ui/") for name, label in PROGRAM_LABELS.items()]
        return self.templates.TemplateResponse(request, template, {
            "service": self.service, "division_title": self.title, "title": title, "programs": programs,
            "staff": staff_from_cookie(request), "flash": request.query_params.get("ok") or request.query_params.get("ng"),
            "flash_kind": "ng" if request.query_params.get("ng") else "ok",
            "url_of": lambda name: service_url(request, name), **context,
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
        return ui.render(request, "login.html", "ログイン", divisions=list(DIVISIONS.values()), next=next)

    @router.post("/ui/login")
    async def login(staff_id: str = Form(...), division: str = Form(...), next: str = Form("/ui/")) -> Response:  # noqa: A002
        if division not in DIVISIONS or not _printable(staff_id.strip(), 100) or ":" in staff_id:
            return redirect("/ui/login", ng="職員番号と所属課を選んでください / choose your id and division")
        # back to a page of this UI only; a header never carries a line break (CRLF injection)
        target = next if next.startswith("/ui/") and _printable(next, 2000) else "/ui/"
        response = redirect(quote(target, safe="/?&=%#:;,+-._~"), ok=f"{staff_id} としてログインしました")
        response.set_cookie(COOKIE, f"{quote(staff_id.strip(), safe='')}:{division}", httponly=True, samesite="lax")
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
