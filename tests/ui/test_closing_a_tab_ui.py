"""A tab a test opened beside its own is closed in bounded time (tests/ui/conftest.py `close_tab`), also when chromium
drops the close: Playwright's `page.close()` has no timeout, and chromium acknowledges a close that comes while the tab
commits or loads a navigation, then never closes it (crbug.com/536385539, microsoft/playwright#42366). The CSRF test of
test_sign_in_again_keeps_input_ui.py closed its second tab right after that tab's sign-in (a form's POST, a redirect, a
page with a live stream) and waited so until pytest-timeout's 600 s in 架空市's run.

Here, against a server of the test's own with the same shape (a form, POST → 303 → a page that opens an EventSource),
many tabs are closed right after their sign-in's navigation commits, as that test did: each is closed within
`close_tab`'s bound (chromium asked a second time where it dropped the first). Plain `page.close()` hung on 15 of 200
such closes on CI's 2-core machine, so a few of these rounds meet the dropped close; a `close_tab` that only called
`page.close()` fails here, naming the round."""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from .conftest import close_tab

ROUNDS = 24
SECONDS = 2.0  # close_tab's bound per ask here (10 s in the tests): a dropped close costs this much


class _SignIn(BaseHTTPRequestHandler):
    """/login: a form; POST /login → 303 → /home, a page that opens a live stream (/events) as the UI's pages do."""

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, status: int, body: bytes = b"", **headers: str) -> None:
        self.send_response(status)
        for name, value in {"content-type": "text/html", "content-length": str(len(body)), **headers}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path.startswith("/events"):
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.end_headers()
            for _ in range(30):  # until the tab goes (a broken pipe) or 30 s
                self.wfile.write(b": still here\n\n")
                self.wfile.flush()
                time.sleep(1)
            return
        if self.path.startswith("/login"):
            self._send(200, b"<!doctype html><title>login</title><form method=post action=/login>"
                            b"<button>log in</button></form>")
            return
        time.sleep(random.random() * 0.05)
        self._send(200, b"<!doctype html><title>home</title>" + b"<p>a list</p>" * 2000
                   + b"<script>new EventSource('/events')</script>")

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        time.sleep(random.random() * 0.05)
        self._send(303, location="/home?ok=signed_in")


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a tab closed while its stream or page was being written: expected here


@pytest.fixture(scope="module")
def sign_in_server() -> Iterator[str]:
    server = _Server(("127.0.0.1", 0), _SignIn)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


async def test_a_tab_closed_right_after_its_sign_ins_redirect_commits_is_closed_in_bounded_time(
        browser: Any, sign_in_server: str) -> None:
    context = await browser.new_context()
    asked_twice: list[int] = []
    try:
        for round_ in range(ROUNDS):
            tab = await context.new_page()
            await tab.goto(f"{sign_in_server}/login")
            await tab.get_by_role("button", name="log in").click()  # returns once the redirect's page commits
            try:
                if await asyncio.wait_for(close_tab(tab, settle=False, seconds=SECONDS), 3 * SECONDS + 5):
                    asked_twice.append(round_)
            except TimeoutError:
                pytest.fail(f"round {round_}: the tab at {tab.url} was not closed in {3 * SECONDS + 5} s")
            assert tab.is_closed(), f"round {round_}: close_tab returned with the tab open"
    finally:
        await asyncio.wait_for(context.close(), 30)
    print(f"\n{ROUNDS} tabs closed right after the redirect; chromium asked twice in rounds {asked_twice}")


async def test_a_tab_closed_after_its_page_has_loaded_closes_at_the_first_ask(browser: Any, sign_in_server: str) -> None:
    """close_tab's first step (the tab's load event first) is what keeps the dropped close away: none of 300 such
    closes hung on this machine, against 15 of 200 right after the commit."""
    context = await browser.new_context()
    try:
        for round_ in range(ROUNDS // 4):
            tab = await context.new_page()
            await tab.goto(f"{sign_in_server}/login")
            await tab.get_by_role("button", name="log in").click()
            assert not await asyncio.wait_for(close_tab(tab), 3 * SECONDS + 20), \
                f"round {round_}: chromium dropped a close after the load event"
            assert tab.is_closed()
    finally:
        await asyncio.wait_for(context.close(), 30)
