"""structlog set-up: JSON lines in production (`JUSOU_LOG_FORMAT=json`), readable lines otherwise.

Every line names its service. Lines written while the inbox handles an integration event, while
the relay publishes one, or while an HTTP command on a case runs also carry `case_id`,
`event_id` and `correlation_id` (bound with structlog's contextvars: `bind_event`,
`RequestContext`). The standard library's loggers (uvicorn, asyncio, nats, warnings, uncaught
exceptions) go through the same renderer, so in JSON mode every line a service writes is one
JSON object.

No personal information in a log line: log ids, event types, route templates and counts; never
a request body, a query string, a raw path or a domain field (tests/e2e/test_logs.py checks it).
"""

from __future__ import annotations

import functools
import logging
import re
import sys
import threading
import time
from types import TracebackType
from typing import Any
from uuid import UUID

import structlog
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.kernel.journey import journey_id
from shared.settings import current

HANDLER_NAME = "jusou-structlog"
#: The ids an integration event's lines carry (`bind_event`); none of them is personal.
EVENT_KEYS = ("case_id", "event_id", "correlation_id", "event_type", "source")
READS = frozenset({"GET", "HEAD", "OPTIONS"})
#: Third-party loggers that install their own handlers; their lines go through ours instead.
ADOPTED_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi")

log = structlog.get_logger("jusou")


def json_lines() -> bool:
    return current().log_format == "json"


def _service_adder(service: str) -> structlog.types.Processor:
    def add_service(_: Any, __: str, event_dict: structlog.types.EventDict) -> structlog.types.EventDict:
        # Static, not a contextvar: threads (read models) and uvicorn's request tasks see it too.
        event_dict.setdefault("service", service)
        return event_dict

    return add_service


class CurrentStderr:
    """`sys.stderr` as it is at each write, not the object it was when logging was configured: a command run in a
    test's process (`jusou.cli.main`) must not leave the logs writing to that test's closed capture."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def configure_logging(service: str) -> None:
    """Configure structlog and, in a service's own process, the standard library's logging."""
    common: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        _service_adder(service),
        structlog.processors.add_log_level,
        UtcStamp(),  # structlog's TimeStamper(fmt="iso", utc=True), the same text (issue 19)
    ]
    # Tracebacks without the frames' local variables: a local can hold a person's name.
    rendering: list[structlog.types.Processor] = (
        [
            structlog.processors.ExceptionRenderer(structlog.tracebacks.ExceptionDictTransformer(show_locals=False)),
            structlog.processors.JSONRenderer(ensure_ascii=False),
        ]
        if json_lines()
        else [ReadableLines()]
    )
    structlog.configure(
        processors=[*common, *rendering],
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        # one write a line (PrintLogger's print() writes the text, then "\n": two syscalls a line; issue 19)
        logger_factory=structlog.WriteLoggerFactory(CurrentStderr()),  # type: ignore[arg-type]
        cache_logger_on_first_use=False,
    )
    _route_standard_logging(common, rendering)


class UtcStamp:
    """structlog's `TimeStamper(fmt="iso", utc=True)`, the same text (`2026-12-07T03:29:44.123456Z`, no fraction in
    the microsecond a second begins, as `datetime.isoformat` writes it) at a fraction of its cost: the second's text is
    kept while the clock stays in that second, and only the microseconds are added (issue 19: ~2.3 µs a line, half a
    request's `http.command` stamp). The clock is `time.time_ns`, which `datetime.now` reads too (floored to the
    microsecond, as there)."""

    __slots__ = ("clock", "key", "second")

    def __init__(self, key: str = "timestamp", clock: Any = time.time_ns) -> None:
        self.key = key
        self.clock = clock
        self.second: tuple[int, str] = (-1, "")  # (the second since the epoch, its text): replaced whole, thread-safe

    def text(self, nanoseconds: int) -> str:
        second, rest = divmod(nanoseconds, 1_000_000_000)
        kept = self.second
        if kept[0] != second:
            kept = self.second = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)))
        micro = rest // 1000
        return f"{kept[1]}.{micro:06d}Z" if micro else f"{kept[1]}Z"

    def __call__(self, _: Any, __: str, event_dict: structlog.types.EventDict) -> structlog.types.EventDict:
        event_dict[self.key] = self.text(self.clock())
        return event_dict


class ReadableLines:
    """structlog's ConsoleRenderer without colours, character for character, at a fraction of its
    cost: `timestamp [level    ] event                          key=value …`, keys sorted. A line
    with a traceback, a stack or a standard-library logger's name goes to ConsoleRenderer itself.
    (bench/: ConsoleRenderer took most of a line's ~120 µs, and the services write a few lines per
    event.) A plain string's value is tested with one regular expression instead of a set made of its characters
    (issue 19: the renderer ~6 → ~3 µs a line; tests/unit/test_he_log_lines.py pins the bytes against the old one)."""

    HANDED_ON = ("stack", "exception", "exc_info", "logger", "logger_name")
    QUOTED = frozenset(" \t=\r\n\"'")  # a string with one of these is shown as its repr, as there
    EVENT_WIDTH = 30
    _quoted = re.compile("[" + re.escape("".join(sorted(QUOTED))) + "]").search

    def __init__(self) -> None:
        self.full = structlog.dev.ConsoleRenderer(colors=False, exception_formatter=structlog.dev.plain_traceback,
                                                  pad_event_to=self.EVENT_WIDTH)
        self.levels = {level: self.full(None, level, {"level": level, "event": "-"})[:-2]
                       for level in ("debug", "info", "warning", "error", "critical", "exception")}
        self.handed_on = frozenset(self.HANDED_ON)

    def _value(self, value: Any) -> str:
        if isinstance(value, str):
            return repr(value) if self.QUOTED.intersection(value) else value
        return repr(value)

    def __call__(self, logger: Any, name: str, event_dict: structlog.types.EventDict) -> str:
        level = event_dict.get("level")
        if not self.handed_on.isdisjoint(event_dict) or (level is not None and level not in self.levels):
            return self.full(logger, name, event_dict)
        parts = []
        if (timestamp := event_dict.pop("timestamp", None)) is not None and (stamp := str(timestamp)):
            parts.append(stamp)
        if event_dict.pop("level", None) is not None:
            parts.append(self.levels[str(level)])  # a level in self.levels (checked above)
        if (event := event_dict.pop("event", None)) is not None:
            parts.append(str(event).ljust(self.EVENT_WIDTH))
        quoted = self._quoted
        for key in sorted(event_dict):
            value = event_dict[key]
            if type(value) is str:
                parts.append(f"{key}={value!r}" if quoted(value) else f"{key}={value}")
            else:
                parts.append(f"{key}={self._value(value)}")
        return " ".join(parts).rstrip(" ")


def _route_standard_logging(common: list[structlog.types.Processor], rendering: list[structlog.types.Processor]) -> None:
    """Render stdlib records like structlog's, unless someone else (pytest, an embedding app) owns logging."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if h.get_name() == HANDLER_NAME]:
        root.removeHandler(handler)
    if root.handlers:
        return
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*common, structlog.stdlib.add_logger_name],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *rendering],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name(HANDLER_NAME)
    handler.setFormatter(formatter)
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    for name in ADOPTED_LOGGERS:
        adopted = logging.getLogger(name)
        adopted.handlers.clear()
        adopted.propagate = True
    logging.captureWarnings(True)
    sys.excepthook = _log_uncaught
    threading.excepthook = _log_uncaught_in_thread


def _log_uncaught(kind: type[BaseException], error: BaseException, trace: TracebackType | None) -> None:
    logging.getLogger("jusou").critical("uncaught_exception", exc_info=(kind, error, trace))


def _log_uncaught_in_thread(hook: threading.ExceptHookArgs) -> None:
    if hook.exc_value is not None:
        _log_uncaught(hook.exc_type, hook.exc_value, hook.exc_traceback)


# --- ids on every line ----------------------------------------------------------------------


def event_fields(envelope: Any) -> dict[str, str]:
    """The log ids of an integration event's envelope (`shared.contract.events.Envelope`)."""
    return {
        "case_id": _id_text(envelope.case_id),
        "event_id": str(envelope.event_id),
        "correlation_id": _id_text(envelope.correlation_id),
        "event_type": str(envelope.event_type),
        "source": str(envelope.source),
    }


def _id_text(value: Any) -> str:
    """`str(value)`; a UUID's text once for the lines naming the same case (its case and correlation ids: a journey's
    ~25 deliveries; issue 19: `UUID.__str__` ~0.6 µs, the cache's look-up half that)."""
    return _uuid_str(value) if type(value) is UUID else str(value)


@functools.lru_cache(maxsize=4096)
def _uuid_str(value: UUID) -> str:
    return str(value)


def bind_event(envelope: Any) -> None:
    """From here on in this context (a consumer's or the relay's task), lines carry the event's ids."""
    structlog.contextvars.bind_contextvars(**event_fields(envelope))


def unbind_event() -> None:
    structlog.contextvars.unbind_contextvars(*EVENT_KEYS)


def _case_fields(case_id: str) -> dict[str, str]:
    return {"case_id": case_id, "correlation_id": _correlation_id(case_id)}


@functools.lru_cache(maxsize=4096)
def _correlation_id(case_id: str) -> str:
    """A case's correlation id (its journey's, a uuid5): worked out once for the requests on the same case (the
    dependency `bind_path_ids` and the request's `http.command` line both name it)."""
    return str(journey_id(case_id))


def _uuid(value: Any) -> str | None:
    if type(value) is str:
        return _uuid_text(value)
    try:
        return str(UUID(str(value)))
    except ValueError:
        return None


@functools.lru_cache(maxsize=4096)
def _uuid_text(value: str) -> str | None:
    """A path's id as a UUID's text, once for the requests that name the same id (a path's text: nothing of who
    asked)."""
    try:
        return str(UUID(value))
    except ValueError:
        return None


def path_ids(path_params: dict[str, Any]) -> dict[str, str]:
    """The ids a route's path names (`case_id`, `plan_id`, …), only when they are UUIDs.

    A path segment that is not a UUID could be anything a person typed, a name included.
    """
    ids = {key: _uuid(value) for key, value in path_params.items() if key.endswith("_id")}
    found = {key: value for key, value in ids.items() if value is not None}
    if "case_id" in found:
        found.update(_case_fields(found["case_id"]))
    return found


async def bind_path_ids(request: Request) -> None:
    """An app-wide FastAPI dependency: the route is matched, so its ids go on every line from here.

    It runs in the request's own task (and the use case's thread copies its context), so the ids
    stay with this request.
    """
    structlog.contextvars.bind_contextvars(**path_ids(request.path_params))


class AfterEachRequest:
    """ASGI middleware that calls `done(scope, status, seconds)` once each HTTP request is answered
    (or failed: status 500). The router has matched by then and left its route and parameters in
    the scope."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500

        async def send_watching(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        began = time.perf_counter()
        try:
            await self.app(scope, receive, send_watching)
        finally:
            self.done(scope, status, time.perf_counter() - began)

    def done(self, scope: Scope, status: int, seconds: float) -> None:
        raise NotImplementedError


class RequestContext(AfterEachRequest):
    """ASGI middleware: one `http.command` line per command, with the ids its path names (`log_command`; a service's
    edge, shared/web/edge.py, calls it itself)."""

    def done(self, scope: Scope, status: int, seconds: float) -> None:
        log_command(scope, status, seconds)


def log_command(scope: Scope, status: int, seconds: float) -> None:
    """One `http.command` line for an answered request that is a command, with the ids its path names.

    A command (a request that is not a read) gets one line with its method, route template,
    status, duration and the route's ids (`case_id` …); a read only when it fails with 5xx. The
    raw path and the query string are never logged: `GET /persons/search?name=…` carries a name.
    """
    method = scope.get("method", "")
    if method not in READS or status >= 500:
        route = getattr(scope.get("route"), "path", None) or "(no route)"
        (log.error if status >= 500 else log.info)(
            "http.command",
            method=method,
            route=route,
            status=status,
            ms=round(seconds * 1000, 1),
            **path_ids(scope.get("path_params") or {}),
        )
