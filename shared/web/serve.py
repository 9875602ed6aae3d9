"""Run one service's HTTP door with uvicorn (`python -m services.<name>`).

Request headers over `MAX_HEADER_BYTES` (64 KiB, request line included) are refused with 431 while
they arrive (issue 13, item 6): uvicorn's httptools protocol would otherwise gather a header of any
size (a 48 MB one held the event loop for about a second, every other request waiting) before the
app saw it, and its `h11_max_incomplete_event_size` applies to h11 only. `BoundedHttpToolsProtocol`
counts what arrives before the end of the headers, answers 431 with a reason, half-closes, and
reads and drops what the client still sends for at most `LINGER_SECONDS` (so that the client, still
writing, reads the answer instead of a reset). shared/web/limits.py checks the same limit again behind
any other server. A request the parser cannot read (a Content-Length that is no number or sent twice, or beside
Transfer-Encoding: a smuggling attempt) is refused with 400 and a JSON `detail` in Japanese and English, code
`bad_request` (uvicorn's own answer was plain English text).

An answer leaves in one write (issue 19): uvicorn writes its head (status line and headers) in one `transport.write`
and its body in another, two system calls (two TCP segments: the server sets TCP_NODELAY) for every answer.
`HeadWithBody` holds the head of an answer of known length (`content-length`: Starlette sends its body at once) and
writes it with the body; a stream's head (no length: a page's live updates, which may wait for their first event) and
a HEAD's (no body is written) go at once, and a close writes a held head first. No callback of the
loop: one scheduled per answer to write a head that nothing followed cost the suite more than the write it saved. uvicorn's access log, which
`log_level="warning"` never printed, is off (`access_log=False`): its client address and path were still worked out
for every answer. tests/unit/test_served_answers.py.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import uvicorn
from fastapi import FastAPI

from shared.messaging.bus import exit_if_unsupported_nats
from shared.observe.logs import configure_logging
from shared.organisation.reference import exit_if_invalid as municipality_or_exit
from shared.settings import Settings, exit_if_invalid
from shared.tenancy import exit_if_invalid as tenants_or_exit
from shared.web.limits import HEADERS_TOO_LARGE, MAX_HEADER_BYTES
from shared.web.ui import SECURITY_HEADERS

#: On SIGTERM: how long requests in flight may take before open streams are closed (jusou/runner.py waits 10 s).
GRACEFUL_SHUTDOWN_SECONDS = 3
#: How long a refused connection is drained before it is closed.
LINGER_SECONDS = 5.0


#: a request the HTTP parser cannot read (a Content-Length that is no number or given twice, both Content-Length and
#: Transfer-Encoding, a broken request line): uvicorn's own answer was `Invalid HTTP request received.` in plain text
UNREADABLE = ("HTTP のリクエストとして読めません（Content-Length が数でない・二つある、Transfer-Encoding と併用、リクエスト行の"
              "形が正しくない など）。HTTP クライアントの送り方を確かめてください / the request is not valid HTTP (a "
              "Content-Length that is no number or sent twice, or beside Transfer-Encoding, or a broken request line): "
              "check how the client sends it")


def _refusal(status_line: bytes, detail: str, code: str) -> bytes:
    """An answer written before the app sees the request, with the security headers every answer carries (README:
    CSP, nosniff, no-store…; HB's review, session 24: these two had none)."""
    body = json.dumps({"detail": detail, "code": code}, ensure_ascii=False).encode()
    security = b"".join(f"{name}: {value}\r\n".encode() for name, value in SECURITY_HEADERS.items())
    return (status_line + b"\r\ncontent-type: application/json\r\n" + security +
            b"content-length: " + str(len(body)).encode() + b"\r\nconnection: close\r\n\r\n" + body)


REFUSAL = _refusal(b"HTTP/1.1 431 Request Header Fields Too Large", HEADERS_TOO_LARGE, "headers_too_large")
INVALID = _refusal(b"HTTP/1.1 400 Bad Request", UNREADABLE, "bad_request")


class _HeadersTooLarge(Exception):
    pass


class HeadWithBody:
    """A request's transport as its `RequestResponseCycle` sees it: the head of an answer of known length (its first
    write once the answer has started, with a `content-length`, not a HEAD's) held and written with the write that
    follows (its body: uvicorn writes it even when empty), or before a close; every other write (a stream's head,
    without a length, and a HEAD's, which no body follows, go at once) and call goes to the connection's transport."""

    __slots__ = ("_cycle", "_head", "_transport")

    def __init__(self, transport: asyncio.Transport, cycle: Any) -> None:
        self._transport, self._cycle = transport, cycle
        self._head: bytes | None = None  # held; b"" once written

    def write(self, data: bytes) -> None:
        head = self._head
        if head is None and self._cycle.response_started:  # the answer's head (a 100 Continue comes before it)
            cycle, self._cycle = self._cycle, None  # not needed again: no reference cycle left with it (garbage)
            if b"\r\ncontent-length: " in data and cycle.scope["method"] != "HEAD":  # its body follows at once
                self._head = data
                return
            self._head = b""
        elif head:
            self._head, data = b"", head + data
        self._transport.write(data)

    def flush(self) -> None:
        """The held head, if it is still held (the app failed, or a client left, before the body)."""
        head = self._head
        if head:
            self._head = b""
            if not self._transport.is_closing():
                self._transport.write(head)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


def bounded_protocol() -> type[asyncio.Protocol] | None:
    """uvicorn's httptools protocol with the header limit; None when httptools is not installed (h11 then,
    with `h11_max_incomplete_event_size`)."""
    try:
        import httptools
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:  # pragma: no cover - httptools is a dependency (uvicorn[standard])
        return None

    class BoundedHttpToolsProtocol(HttpToolsProtocol):
        """HttpToolsProtocol that refuses request headers over MAX_HEADER_BYTES with 431."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._in_head = False
            self._began_now = False
            self._head_bytes = 0
            self._refused = False

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._in_head, self._began_now, self._head_bytes = True, True, 0

        def on_headers_complete(self) -> None:
            self._in_head = False
            size = len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)
            if size > MAX_HEADER_BYTES:  # they came in one read: counted here, before the app sees them
                raise _HeadersTooLarge
            super().on_headers_complete()
            cycle = self.cycle
            if cycle is not None and cycle.transport is self.transport:  # not an upgrade (WebSocket): the new cycle
                cycle.transport = HeadWithBody(self.transport, cycle)  # type: ignore[assignment]

        def data_received(self, data: bytes) -> None:
            if self._refused:
                return  # drained while lingering
            self._unset_keepalive_if_required()
            try:
                self.parser.feed_data(data)
            except httptools.HttpParserCallbackError as exc:
                if isinstance(exc.__context__, _HeadersTooLarge):
                    self._refuse()
                    return
                self._invalid()
                return
            except httptools.HttpParserError:
                self._invalid()
                return
            except httptools.HttpParserUpgrade:
                if self._should_upgrade():
                    self.handle_websocket_upgrade()
                else:
                    self._unsupported_upgrade_warning()
                return
            if self._in_head and not self._began_now:  # a read that began the request may hold the one before
                self._head_bytes += len(data)
                if self._head_bytes > MAX_HEADER_BYTES:
                    self._refuse()
            self._began_now = False

        def _invalid(self) -> None:
            """uvicorn's `send_400_response`, with a refusal a person can act on (JSON, Japanese and English, `code`)."""
            self.logger.warning("Invalid HTTP request received.")
            self.transport.write(INVALID)
            self.transport.close()

        def _refuse(self) -> None:
            self._refused = True
            self.logger.warning("request headers over %d bytes refused with 431", MAX_HEADER_BYTES)
            self.transport.write(REFUSAL)
            if self.transport.can_write_eof():
                self.transport.write_eof()  # the answer, then EOF; what still arrives is read and dropped
            self.loop.call_later(LINGER_SECONDS, self.transport.close)

    return BoundedHttpToolsProtocol


def serve(service: str, api: FastAPI) -> None:
    exit_if_invalid()  # a bad setting: status 2 and what is allowed, before anything starts
    municipality_or_exit()  # a bad municipality file: status 2, the file, line and entry (shared/organisation)
    tenants_or_exit()  # a bad tenants file (JUSOU_TENANTS_FILE): status 2, the file, line and tenant (issue 18)
    configure_logging(service)  # before uvicorn: its lines too are JSON with JUSOU_LOG_FORMAT=json
    settings = Settings.from_env(service)
    # a NATS older than the relay needs: status 2 and why, before anything starts (docs/nats.md)
    exit_if_unsupported_nats(settings.nats_url, f"{service}-version-check", settings.nats_user, settings.nats_password)
    protocol = bounded_protocol()
    api.state.freeze_start_up_heap = True  # its lifespan freezes what start-up made (shared/web/http.py)
    # behind a TLS proxy: its X-Forwarded-Proto makes request.url https (Secure cookies, https redirect URIs at the
    # IdP), believed only from JUSOU_FORWARDED_ALLOW_IPS (deploy/k8s/ingress.yaml)
    uvicorn.run(api, host=settings.host, port=settings.port, log_level="warning", log_config=None, lifespan="on",
                access_log=False,  # never printed at "warning"; on, uvicorn works out each answer's client and path
                http=protocol or "h11", h11_max_incomplete_event_size=MAX_HEADER_BYTES,
                proxy_headers=True, forwarded_allow_ips=settings.forwarded_allow_ips,
                # a page's live-update stream (/ui/events) stays open until the browser leaves: on SIGTERM, requests in
                # flight get 3 s to finish, then the open streams are closed and the store and bus shut down cleanly
                timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS)
