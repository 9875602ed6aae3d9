"""What staff typed survives signing in again at the city's identity provider (README "Pages"): the browser leaves
for the IdP (another origin) and comes back through the callback to the form's page, where what was typed is put
back, not sent. Debian's chromium and `oidc-provider-mock` on loopback, as tests/security/test_oidc_browser.py.

Here, not in tests/ui: it drives the browser with Playwright's sync API (its own event loop), which must not run
after tests/ui's session-wide async Playwright has started in the same process (in CI's order the next async UI test
then waited forever); tests/security runs before tests/ui, as test_oidc_browser.py does."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import Form, Request
from fastapi.responses import HTMLResponse, Response
from support.idp_browser import behind_the_idp, browser, sign_in_at_the_idp

from shared.web.policy import requires
from shared.web.ui import UI, redirect

from .test_oidc_flow import app

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

FORM = """{% extends "base.html" %}{% block content %}
<form class="stack" method="post" action="/ui/note">{{ idempotency_field() }}
  <label for="note">内容 / note <textarea id="note" name="note"></textarea></label>
  <button type="submit">記録する / record</button>
</form>{% endblock %}"""


@pytest.fixture
def service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, str, list[str]]]:
    """(the service's address, the IdP's issuer, the notes recorded): a page with a form, behind the city's IdP."""
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "note.html").write_text(FORM, encoding="utf-8")
    recorded: list[str] = []

    def with_a_form() -> object:
        api, page = app(), UI("intake", "包括的相談支援事業", tmp_path / "templates")

        @api.get("/ui/note", response_class=HTMLResponse, dependencies=[requires("ui.open")])
        async def note_form(request: Request) -> Response:
            return page.render(request, "note.html", "メモ")

        @api.post("/ui/note", dependencies=[requires("ui.open")])
        async def note(note: str = Form(...)) -> Response:
            recorded.append(note)
            return redirect("/ui/note", ok="signed_in")

        return api

    with behind_the_idp(monkeypatch, tmp_path / "auth", with_a_form) as (address, issuer):
        yield address, issuer, recorded


def test_what_was_typed_comes_back_after_signing_in_again_at_the_idp(service: tuple[str, str, list[str]]) -> None:
    from playwright.sync_api import expect

    address, issuer, recorded = service
    text = "長女から電話。来週の訪問は午後を希望。"
    with browser() as chromium:
        page = chromium.new_page(locale="ja-JP")
        page.goto(address + "/ui/note")
        sign_in_at_the_idp(page, address, issuer, "/ui/note?ok=signed_in")
        page.get_by_label("内容").fill(text)
        page.context.clear_cookies()  # the session ended (its cookie ran out) while the note was being typed
        page.get_by_role("button", name="記録する").click()
        page.wait_for_url(address + "/ui/login?next=%2Fui%2Fnote**")
        assert recorded == []
        sign_in_at_the_idp(page, address, issuer, "/ui/note?ok=signed_in")  # to the IdP's origin and back

        expect(page.get_by_label("内容")).to_have_value(text)
        expect(page.get_by_role("status").filter(has_text="まだ送信していません")).to_be_visible()
        assert recorded == []  # not sent by itself
        page.get_by_role("button", name="記録する").click()
        page.wait_for_url(address + "/ui/note?ok=signed_in")
        assert recorded == [text]
