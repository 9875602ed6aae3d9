"""OpenTelemetry tracing: one case's journey is one trace, across every service.

On only when an OTLP endpoint is configured (`OTEL_EXPORTER_OTLP_ENDPOINT`, or the standard
`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`); spans go there over HTTP/protobuf in batches from a
background thread. Without one nothing is set up: no middleware, no provider, no headers, no
`traceparent` in stored events.

Three kinds of span, each with `service`, and on an event `event_type`, `case_id`, `event_id`
and `correlation_id`:

- `POST /cases/{case_id}/escalate` …: each HTTP command (not reads), named by method and route
  template, never the raw path or query string (a search's query carries a name);
- `publish jusou.<source>.<EventType>`: each publish by the relay (shared/messaging/relay.py);
- `process jusou.<source>.<EventType>`: each event a consumer handles (shared/messaging/inbox.py).

How the context travels: every event recorded while a span acts gets its W3C `traceparent` in
`meta` (shared/kernel/journey.py calls `traceparent_now`, which this module sets); the relay, later and in
another task, starts its publish span as a child of that and sends its own context in the NATS
headers `traceparent` / `tracestate`; the consumer's span is a child of the publish span and is
current while the effect is recorded, so the effect carries it on.

Why the trace id is the case's `correlation_id` (its 32 hex digits): a span with no parent on a
case — each staff command on it, or an event recorded without a context — starts in that trace,
so the journey is one trace even across separate commands, and an operator finds it from the
correlation id in any log line. A command learns its case only when it records an event, so its
span is started when the command ends, with the id given to its events and the time it began;
a caller's own `traceparent` becomes a link, or the parent when the command touches no case.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import anyio
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.kernel import journey
from shared.observe.logs import READS, path_ids

ENDPOINT_SETTINGS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
TRACER = "jusou"
FLUSH_SECONDS = 3.0  # at shutdown, at most this long to send the last spans

_propagator = TraceContextTextMapPropagator()  # W3C only: no baggage, which could carry anything
_tracers: dict[str, trace.Tracer] = {}  # service → its tracer (several services may share a process in tests)
#: ids the next span must have (trace, span): a case's trace for a root; a command's pre-given span id
_forced: ContextVar[tuple[int | None, int | None]] = ContextVar("jusou_trace_forced", default=(None, None))


def configured() -> bool:
    """An OTLP endpoint is set (and the SDK is not disabled)."""
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    return any(os.environ.get(name, "").strip() for name in ENDPOINT_SETTINGS)


def enabled(service: str) -> bool:
    return service in _tracers


def install(api: Any, service: str, exporter: Any = None) -> None:
    """Trace this service's commands, publishes and consumed events, if an endpoint is configured.

    `exporter` (a SpanExporter) replaces the OTLP one and turns tracing on regardless (tests).
    """
    if service in _tracers or (exporter is None and not configured()):
        return
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.id_generator import RandomIdGenerator

    if exporter is None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
            OTLPSpanExporter,
        )

        exporter = OTLPSpanExporter()  # the endpoint, headers, timeout… from the standard OTEL_* variables

    class JourneyIds(RandomIdGenerator):
        """Random ids, except where `_forced` gives them."""

        def generate_trace_id(self) -> int:
            return _forced.get()[0] or super().generate_trace_id()

        def generate_span_id(self) -> int:
            return _forced.get()[1] or super().generate_span_id()

    provider = TracerProvider(
        resource=Resource.create({"service.name": service, "service.namespace": "jusou"}),
        id_generator=JourneyIds(),
    )
    provider.add_span_processor(BatchSpanProcessor(exporter))
    _tracers[service] = provider.get_tracer(TRACER)
    journey.traceparent_now = traceparent_now
    api.add_middleware(TraceCommands, service=service)
    _flush_on_shutdown(api, service, provider)


def _flush_on_shutdown(api: Any, service: str, provider: Any) -> None:
    """Send the last spans when the service stops: uvicorn ends the process by re-raising SIGTERM,
    so the provider's own atexit hook never runs. Wraps the app's lifespan (shared/web/http.py)."""
    inner = api.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[Any]:
        try:
            async with inner(app) as state:
                yield state
        finally:
            _tracers.pop(service, None)
            with anyio.move_on_after(FLUSH_SECONDS):  # exports what is queued; a collector that is down must not hold it up
                await anyio.to_thread.run_sync(provider.shutdown, abandon_on_cancel=True)

    api.router.lifespan_context = lifespan


# --- ids ----------------------------------------------------------------------------------------


def journey_trace_id(correlation_id: Any) -> int | None:
    """The trace of a case's journey: its correlation id's 128 bits."""
    try:
        return UUID(str(correlation_id)).int or None
    except ValueError:
        return None


def traceparent(trace_id: int, span_id: int, flags: int = 1) -> str:
    return f"00-{trace_id:032x}-{span_id:016x}-{flags:02x}"


def _parent(carrier: Mapping[str, str] | None) -> tuple[Context, SpanContext | None]:
    """The W3C context in headers (or a stored `traceparent`): as a Context, and its span (None: none)."""
    context = _propagator.extract(dict(carrier or {}))
    span_context = trace.get_current_span(context).get_span_context()
    return context, span_context if span_context.is_valid else None


def _start(service: str, name: str, kind: SpanKind, parent: Context | None, trace_id: int | None,
           attributes: dict[str, Any], span_id: int | None = None, links: list[Link] | None = None,
           start_time: int | None = None) -> trace.Span:
    """A span under `parent`; without one, a root in trace `trace_id` (a case's: `journey_trace_id`)."""
    token = _forced.set((None if parent is not None else trace_id, span_id))
    try:
        return _tracers[service].start_span(
            name, context=parent if parent is not None else Context(), kind=kind,
            attributes={k: v for k, v in attributes.items() if v is not None}, links=links, start_time=start_time,
        )
    finally:
        _forced.reset(token)


def event_attributes(service: str, envelope: Any) -> dict[str, Any]:
    """The ids of an integration event (none of them personal), as span attributes."""
    return {
        "service": service,
        "event_type": str(envelope.event_type),
        "case_id": str(envelope.case_id),
        "event_id": str(envelope.event_id),
        "correlation_id": str(envelope.correlation_id),
        "source": str(envelope.source),
        "source_position": int(envelope.source_position),
        "messaging.system": "nats",
        "messaging.destination.name": str(envelope.subject),
    }


def _failed(span: trace.Span, exc: BaseException) -> None:
    # The type only: an exception's message can quote what a person typed.
    span.set_status(Status(StatusCode.ERROR, type(exc).__name__))


# --- the relay and the inbox ----------------------------------------------------------------------


class PublishSpan:
    """A publish span, child of the context stored with the event; `headers` carry it to the consumer.

    Not a `with` block, so that the relay can hold several while their acks are awaited. A publish
    that fails is not ended, so not exported: the retry makes its own.
    """

    headers: dict[str, str]

    def __init__(self, service: str, envelope: Any, event: Any) -> None:
        self.headers = {}
        self.span: trace.Span | None = None
        if service not in _tracers:
            return
        stored = (getattr(event, "meta", None) or {}).get("traceparent")
        context, parent = _parent({"traceparent": stored} if stored else None)
        self.span = _start(service, f"publish {envelope.subject}", SpanKind.PRODUCER, context if parent else None,
                           journey_trace_id(envelope.correlation_id), event_attributes(service, envelope))
        _propagator.inject(self.headers, context=trace.set_span_in_context(self.span))

    def end(self) -> None:
        """The stream acknowledged the message."""
        if self.span is not None:
            self.span.end()


TRACE_HEADERS = ("traceparent", "tracestate")


def trace_headers(headers: Mapping[str, str] | None) -> dict[str, str]:
    """The W3C trace context among a message's headers, to pass on with a copy (dead letter, replay)."""
    return {k: v for k, v in (headers or {}).items() if k in TRACE_HEADERS}


@contextmanager
def consuming(service: str, envelope: Any, headers: Mapping[str, str] | None) -> Iterator[None]:
    """A consumer span, child of the publish span in the message's headers, current while the effect is recorded."""
    if service not in _tracers:
        yield
        return
    context, parent = _parent(headers)
    span = _start(service, f"process {envelope.subject}", SpanKind.CONSUMER, context if parent else None,
                  journey_trace_id(envelope.correlation_id), event_attributes(service, envelope))
    with trace.use_span(span, end_on_exit=True, record_exception=False, set_status_on_exception=False):
        try:
            yield
        except BaseException as exc:
            _failed(span, exc)
            raise


# --- HTTP commands --------------------------------------------------------------------------------


@dataclass
class _Command:
    """A command in progress: its span id is given now, its trace once it records an event on a case."""

    span_id: int
    incoming: SpanContext | None  # the caller's own trace context, if it sent one
    incoming_context: Context
    trace_id: int | None = None
    case_id: str | None = None
    correlation_id: str | None = None

    def fix_trace(self, case_id: Any, correlation_id: Any) -> int:
        if self.trace_id is None:
            self.trace_id = journey_trace_id(correlation_id) if correlation_id else None
            if self.trace_id is not None:
                self.case_id, self.correlation_id = str(case_id), str(correlation_id)
            elif self.incoming is not None:
                self.trace_id = self.incoming.trace_id
            else:
                self.trace_id = random.getrandbits(128) or 1
        return self.trace_id


_command: ContextVar[_Command | None] = ContextVar("jusou_trace_command", default=None)


def traceparent_now(case_id: Any, correlation_id: Any) -> str | None:
    """The `traceparent` an event recorded now carries (shared/kernel/journey.py): the command's or the current span's."""
    command = _command.get()
    if command is not None:
        return traceparent(command.fix_trace(case_id, correlation_id), command.span_id)
    span_context = trace.get_current_span().get_span_context()
    if span_context.is_valid:
        return traceparent(span_context.trace_id, span_context.span_id, int(span_context.trace_flags))
    return None


class TraceCommands:
    """ASGI middleware: a span per HTTP command, named by its route template, started when it ends."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method", "") in READS:
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", [])
                   if k in (b"traceparent", b"tracestate")}
        incoming_context, incoming = _parent(headers)
        command = _Command(random.getrandbits(64) or 1, incoming, incoming_context)
        token = _command.set(command)
        began = time.time_ns()
        status = 500

        async def send_watching(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_watching)
        finally:
            _command.reset(token)
            self._record(scope, command, status, began)

    def _record(self, scope: Scope, command: _Command, status: int, began: int) -> None:
        method = scope.get("method", "")
        route = getattr(scope.get("route"), "path", None)  # the template: the router matched it
        ids = path_ids(scope.get("path_params") or {})
        trace_id = command.fix_trace(ids.get("case_id"), ids.get("correlation_id"))
        case_id, correlation_id = command.case_id or ids.get("case_id"), command.correlation_id or ids.get("correlation_id")
        under_caller = command.incoming is not None and command.incoming.trace_id == trace_id
        attributes = {
            "service": self.service,
            "http.request.method": method,
            "http.route": route,
            "http.response.status_code": status,
            "case_id": case_id,
            "correlation_id": correlation_id,
            **{key: value for key, value in ids.items() if key not in ("case_id", "correlation_id")},
        }
        links = [Link(command.incoming)] if command.incoming is not None and not under_caller else None
        span = _start(self.service, f"{method} {route}" if route else method, SpanKind.SERVER,
                      command.incoming_context if under_caller else None, trace_id, attributes,
                      span_id=command.span_id, links=links, start_time=began)
        if status >= 500:
            span.set_status(Status(StatusCode.ERROR))
        span.end()
