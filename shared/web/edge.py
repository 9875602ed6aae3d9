"""A service's HTTP edge: one pure ASGI middleware for what six layers did around every request (issue 19).

Each request went through six middlewares of ours, each wrapping `send` (and two `receive`) in a closure of its
own: about 10 % of the CPU of a request through the HTTP stack (bench/commands.py --profile intake). `Edge` takes
the same steps in the same order, as one layer; each step is still its concern's own code:

1. error codes (shared/web/errors.py `CodedSend`): a JSON refusal of the API gets its `code` (not on `/ui/`);
2. security headers (shared/web/ui.py `SECURITY_HEADERS`) on every answer: refusals included;
3. metrics (shared/web/metrics.py `Metrics.count_request`): each answered request by its route template;
4. — a span per command when tracing is on (shared/observe/tracing.py, its own layer: the edge is then two);
5. request logging (shared/observe/logs.py `log_command`): one `http.command` line per command;
6. body limit (shared/web/limits.py): a request refused before any route (431, 400, 413, 415) or while its body
   is read (413), as a page on `/ui/`;
7. idempotency (shared/kernel/idempotency.py): a command marked, and its answer kept with its Idempotency-Key
   record before it is sent.

As before, what a later step sends passes the earlier steps on its way out (a 413 of the body limit is counted,
logged, gets the security headers and its `code`), and what the app sends passes them all, innermost first; an
answer made outside (ServerErrorMiddleware's 500) is not the edge's (its handler adds the headers itself).
tests/security/test_edge.py checks the order on refusals and that a service has one layer of its own.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.kernel.idempotency import COMMANDS, KeepingSend, mark_command, unmark
from shared.observe.logs import log_command
from shared.web.errors import CodedSend
from shared.web.limits import (
    MAX_BODY_BYTES,
    TOO_LARGE,
    BodyTooLarge,
    LimitedReceive,
    is_page_path,
    refusal_before,
    refuse,
)
from shared.web.metrics import Metrics
from shared.web.ui import SECURITY_HEADERS

#: the security headers as they go on an answer, encoded once
_SECURITY = tuple((name.encode(), value.encode()) for name, value in SECURITY_HEADERS.items())

#: the steps of an edge, outermost first (`Edge(steps=…)`)
CODES, HEADERS, METRICS, LOGS, LIMITS, IDEMPOTENCY = "codes", "headers", "metrics", "logs", "limits", "idempotency"
EVERY_STEP = (CODES, HEADERS, METRICS, LOGS, LIMITS, IDEMPOTENCY)


def secured(message: Message) -> None:
    """An answer's start with the security headers it does not set itself."""
    headers = message.get("headers") or []
    present = {name.lower() for name, _ in headers}
    message["headers"] = [*headers, *(header for header in _SECURITY if header[0] not in present)]


class Outgoing:
    """What leaves the edge, through its outer steps in order: the status noted (metrics, logs), the security
    headers added, a JSON refusal's `code` (`CodedSend`)."""

    __slots__ = ("headers", "send", "started", "status")

    def __init__(self, send: Send, headers: bool) -> None:
        self.send, self.headers = send, headers
        self.status = 500  # an answer never started: the app failed (ServerErrorMiddleware answers 500)
        self.started = False

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status, self.started = int(message["status"]), True
            if self.headers:
                secured(message)
        await self.send(message)


class Edge:
    """The service's own middleware: the `steps` (`EVERY_STEP`, outermost first) around every HTTP request."""

    def __init__(self, app: ASGIApp, metrics: Metrics | None = None, steps: tuple[str, ...] = EVERY_STEP,
                 max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.steps = frozenset(steps)
        unknown = self.steps - set(EVERY_STEP)
        if unknown or (METRICS in self.steps and metrics is None):
            raise ValueError(f"edge steps {sorted(unknown)} unknown, or metrics without a registry")
        self.codes, self.headers = CODES in self.steps, HEADERS in self.steps
        self.limits, self.idempotency = LIMITS in self.steps, IDEMPOTENCY in self.steps
        self.answered: tuple[Callable[[Scope, int, float], None], ...] = tuple(
            done for step, done in ((LOGS, log_command), (METRICS, metrics.count_request if metrics else None))
            if step in self.steps and done is not None)
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        page = is_page_path(scope)
        out = Outgoing(CodedSend(send) if self.codes and not page else send, self.headers)
        began = time.perf_counter()
        try:
            await self._limited(scope, receive, out, page)
        finally:
            self._answered(scope, out.status, time.perf_counter() - began)

    async def _limited(self, scope: Scope, receive: Receive, out: Outgoing, page: bool) -> None:
        """The body limit: a request refused before any route runs, or while its body is read (413 unless the answer
        has begun); the app's answer passes out as it is."""
        if not self.limits:
            await self._marked(scope, receive, out)
            return
        refused = refusal_before(scope, self.max_bytes)
        if refused is not None:
            await refuse(out, *refused, page)
            return
        try:
            await self._marked(scope, LimitedReceive(receive, self.max_bytes), out)
        except BodyTooLarge:
            if out.started:
                raise
            await refuse(out, 413, TOO_LARGE, page)

    async def _marked(self, scope: Scope, receive: Receive, out: Send) -> None:
        """Idempotency: a command is marked while it runs, and its answer kept once its key's record is saved."""
        if not self.idempotency or scope.get("method") not in COMMANDS:
            await self.app(scope, receive, out)
            return
        here, token = mark_command()
        try:
            await self.app(scope, receive, KeepingSend(scope, here, out))
        finally:
            unmark(token)

    def _answered(self, scope: Scope, status: int, seconds: float) -> None:
        """Once the request is answered (or failed: 500): the command's log line, then the metrics."""
        for done in self.answered:
            done(scope, status, seconds)
