"""The HTTP door of a service (FastAPI), and its life: store, bus, relay and inbox.

HTTP is an adapter (STYLE 5): routes make one application call; one handler maps domain
errors to 404 / 409 / 422 with a message a person can act on.
"""

from __future__ import annotations

import asyncio
import gc
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any
from uuid import UUID

import anyio
import structlog
from eventsourcing.persistence import IntegrityError, InterfaceError, OperationalError
from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from fastapi.telemetry import TelemetryConfig
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware import Middleware

from shared.contract.events import Envelope
from shared.kernel.app import ServiceApplication
from shared.kernel.idempotency import (
    COMMANDS,
    IDEMPOTENCY_PARAMETER,
    AlreadyRecorded,
    IdempotentRequest,
    Replayed,
    answer_of,
    idempotent,
)
from shared.kernel.journey import DomainError, NotFound
from shared.observe.logs import bind_path_ids, configure_logging
from shared.observe.tracing import install as install_tracing
from shared.organisation.reference import (
    CONCERN_FIELDS,
    COUNTERS,
    DIVISION_TITLES,
    DIVISIONS,
    PROGRAMS,
    RESOURCE_KINDS,
    agencies,
)
from shared.settings import Settings
from shared.web.asyncapi import served
from shared.web.audit_api import mount_audit
from shared.web.deps import Runtime, Tenants, call, open_runtime, principal, runtime_of
from shared.web.edge import CODES, HEADERS, IDEMPOTENCY, LIMITS, LOGS, METRICS, Edge
from shared.web.errors import code_of, error_page, install_error_pages, is_page
from shared.web.figures_api import mount_figures
from shared.web.hops import one_hop
from shared.web.limits import form_guard
from shared.web.limits import install as install_limits
from shared.web.metrics import install_metrics, tracking_positions
from shared.web.openapi_guide import guide
from shared.web.openapi_roles import document_roles
from shared.web.paging import PAGING_HEADERS, Cursor, Limit, page
from shared.web.policy import SignInRequired, document_actions, gate, gate_checked, public, requires
from shared.web.retention_api import mount_retention
from shared.web.retry import retry_conflicts
from shared.web.routing import install as index_routes
from shared.web.solving import install as solve_once
from shared.web.ui import (
    PROGRAM_LABELS,
    UI,
    Assets,
    csrf_guard,
    internal_url,
    login_url,
    mount_common,
)

log = structlog.get_logger()

#: FastAPI's own spans, metrics and logs off (its `telemetry`): the suite traces its commands itself
NO_NATIVE_TELEMETRY: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}


def create_service(
    service: str,
    application_class: type[ServiceApplication],
    translate: Callable[[Any, int], Envelope | None],
    router: APIRouter,
    ui: UI | None = None,
    ui_router: APIRouter | None = None,
) -> FastAPI:
    """Assemble one service: its Application, relay, inbox and routes (the wiring point)."""
    solve_once()  # FastAPI's facts about each dependency worked out once, not per request (shared/web/solving.py)
    api = FastAPI(
        title=f"Jusou {service}",
        description=guide(service),  # the program, then how to call it (token, refusals, retry, lists, events)
        version="0.1.0",
        lifespan=_lifespan(service, application_class, translate),
        # who is acting and whether the policy lets them (shared/web/policy.py); a page's change comes from
        # its own page (CSRF, shared/web/ui.py); a case's ids on every log line
        dependencies=[Depends(admission(service))],
        docs_url=None, redoc_url=None,  # /docs is served below from the service itself (no CDN)
        # a command's span is the suite's own (shared/observe/tracing.py); FastAPI's native telemetry would otherwise
        # look for three global OpenTelemetry providers on every request (about 20 µs) to find none (issue 19)
        telemetry=NO_NATIVE_TELEMETRY,
    )
    _install_middleware(api, service)
    without_inert_layers(api)
    mount_docs(api)

    page = ui or UI(service, DIVISION_TITLES[service])
    _install_error_handlers(api, page)
    _mount_ops_routes(api, service, application_class)
    _mount_case_routes(api)
    mount_common(api, page)
    mount_audit(api, page)
    mount_figures(api, page)
    mount_retention(api, page, application_class)  # 保存年限: GET /retention, /ui/retention; intake's erasure at expiry
    _mount_pages(api, page, ui_router)

    api.include_router(router)
    document_idempotency_key(api)
    retry_conflicts(api)  # a command that lost an optimistic race runs again on the fresh record
    one_hop(api)  # a blocking (`def`) route: one hop to a worker thread, its answer checked on the loop (hops.py)
    document_actions(api)  # x-jusou-action on every operation (shared/web/policy.py)
    document_roles(api, service)  # which roles may call it, in its description and x-jusou-roles
    # a request matched against the routes of its path's first segment only (shared/web/routing.py); a route's
    # `requires` not solved again after the gate checked it (shared/web/policy.py gate_checked)
    index_routes(api, settled=gate_checked)
    return api


def admission(service: str) -> Callable[[Request], Awaitable[None]]:
    """The app-wide checks of every request, in this order, as one dependency (FastAPI solves each dependency for
    about 7 µs; one instead of four saves about 25 µs a request, issue 19): who is acting and whether the policy lets
    them (shared/web/policy.py), a page's change from its own page (CSRF, shared/web/ui.py), the case's ids on every
    log line, a command's Idempotency-Key (shared/kernel/idempotency.py). The first refusal ends the request."""
    checks = (gate(service), csrf_guard(service), bind_path_ids, idempotent(service))

    async def admitted(request: Request) -> None:
        for check in checks:
            await check(request)

    return admitted


def _lifespan(
    service: str,
    application_class: type[ServiceApplication],
    translate: Callable[[Any, int], Envelope | None],
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """The service's life: open the store, bus, relay and inbox at start; close them in order at the end."""

    @asynccontextmanager
    async def lifespan(api: FastAPI) -> AsyncIterator[None]:
        configure_logging(service)
        os.umask(0o077)  # what the service writes (its SQLite store, keys) is its owner's only, however started
        # its store, bus, relay and inbox; with a tenants file one of each per tenant (shared/web/deps.py, issue 18)
        try:
            runtime = await open_runtime(Settings.from_env(service), application_class, translate,
                                         api.state.metrics.observe)
        except SystemExit as exc:  # a start refused (partitions.py, inbox.py): the process ends with its status
            _refused_start(service, exc)
            raise
        api.state.runtime = runtime
        if getattr(api.state, "freeze_start_up_heap", False):  # set by `serve`: a service process, not a test's app
            freeze_start_up_heap()
        try:
            yield
        finally:
            await runtime.close()

    return lifespan


def freeze_start_up_heap() -> int:
    """Once a service is up (its store, bus, relay, inbox and imports made), what start-up made is collected once and
    the rest frozen (`gc.freeze`): the cyclic collector then never walks it again. A full collection walked all of it
    (a bare intake's ~87,000 objects: 44 ms of CPU, 0.4 ms once frozen) and stops every thread meanwhile, the relay and
    the commands holding store connections too: on PostgreSQL such a stop became the hop's tail (docs/capacity.md
    §5.12). What start-up keeps lives as long as the process; what it freed is collected before. Returns how many
    objects are frozen."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


def _refused_start(service: str, exc: SystemExit) -> None:
    """A start refused inside the lifespan (`SystemExit(2)`, or a message: status 1) would leave uvicorn to exit with
    its own status 3 ("startup failed"). In the service's own process (`python -m services.<service>`) the process
    ends here with the refusal's status and message, as a refusal before uvicorn does (docs: status 2)."""
    code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    log.error("service.start_refused", service=service, status=code,
              reason=exc.code if isinstance(exc.code, str) else None)
    main = getattr(sys.modules.get("__main__"), "__spec__", None)
    if getattr(main, "name", None) not in (f"services.{service}", f"services.{service}.__main__"):
        return  # a test's or a tool's process: the SystemExit goes on
    if isinstance(exc.code, str):
        print(exc.code, file=sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _install_middleware(api: FastAPI, service: str) -> None:
    """The service's edge (shared/web/edge.py), one middleware whose steps are, outermost first: a JSON refusal's
    `code`, the security headers (CSP, frame-ancestors, nosniff, referrer policy) on every answer, the request
    counted by route template (GET /metrics), one log line per command, the body limit, and a command's answer kept
    with its Idempotency-Key record. With tracing on (OTLP configured), its span per command sits between the
    metrics and the log line, as two edges around it."""
    install_limits(api, middleware=False)  # the limits' own refusals (400 for a body that is not JSON)
    metrics = install_metrics(api, service, middleware=False)
    before = len(api.user_middleware)
    install_tracing(api, service)  # a span per command, publish and consumed event, when OTLP is configured
    if len(api.user_middleware) == before:
        api.add_middleware(Edge, metrics=metrics)
        return
    api.user_middleware.insert(len(api.user_middleware) - before, Middleware(Edge, steps=(LOGS, LIMITS, IDEMPOTENCY)))
    api.add_middleware(Edge, metrics=metrics, steps=(CODES, HEADERS, METRICS))


#: FastAPI's own outer layers that do nothing for an app with its native telemetry off and no app-wide body limit
_INERT = {"ExceptionTelemetryMiddleware": "fastapi.telemetry._asgi", "AppBodyLimitMiddleware": "fastapi._body_limit"}


def without_inert_layers(api: FastAPI) -> None:
    """FastAPI builds, outside the service's edge, `ExceptionTelemetryMiddleware` (it notes an exception for FastAPI's
    native telemetry only where that telemetry runs for the request: never with `NO_NATIVE_TELEMETRY`) and
    `AppBodyLimitMiddleware` (it acts only where a limit is already in the request's scope when the request reaches
    it: an app-wide `max_body_size`, or a parent app's, and a service is no other app's child). With the telemetry off
    and no app-wide limit each is a coroutine frame per request that passes it on as it is: the stack is built
    without them (issue 19). Another FastAPI whose stack is not as expected keeps its own, unchanged."""
    build = api.build_middleware_stack
    telemetry = getattr(api, "_telemetry", None)
    if not isinstance(telemetry, dict) or any(telemetry.get(k) for k in ("tracing", "metrics", "logs")) \
            or getattr(api, "max_body_size", None) is not None:
        return

    def built() -> Any:
        app: Any = build()  # ServerErrorMiddleware, then (FastAPI 0.165) these two, then the edge …
        while (inner := getattr(app, "app", None)) is not None \
                and _INERT.get(type(inner).__name__) == type(inner).__module__:
            app.app = inner.app
        return app

    api.build_middleware_stack = built  # type: ignore[method-assign]


def _install_error_handlers(api: FastAPI, page: UI) -> None:
    """Domain errors, repeated Idempotency-Keys, sign-in, conflicts and a lost store, as answers a person can act on."""

    install_error_pages(api, page, middleware=False)  # the framework's refusals, an unexpected failure as pages on /ui/

    @api.exception_handler(DomainError)
    async def domain_error(request: Request, exc: DomainError) -> Response:
        if is_page(request):  # a page's error is a page with the next step (shared/web/errors.py)
            return error_page(page, request, exc.status, str(exc), getattr(exc, "headers", None))
        return JSONResponse(status_code=exc.status, content={"detail": str(exc), "code": code_of(exc),
                                                                **getattr(exc, "extra", {})},
                            headers=getattr(exc, "headers", None))

    @api.exception_handler(Replayed)
    async def replayed(_: Request, exc: Replayed) -> Response:
        return exc.response  # the same Idempotency-Key again: the first request's answer

    @api.exception_handler(AlreadyRecorded)
    async def already_recorded(request: Request, exc: AlreadyRecorded) -> Response:
        # The same Idempotency-Key sent twice at once: the other one recorded it; give its answer.
        log.info("idempotency.duplicate_at_once", route=getattr(request.scope.get("route"), "path", None))
        return await answer_of(runtime_of(request).app, exc.request_id, exc.fingerprint)

    @api.exception_handler(SignInRequired)
    async def sign_in(request: Request, exc: SignInRequired) -> Response:
        return RedirectResponse(login_url(request, exc.reason), status_code=303)

    @api.exception_handler(IntegrityError)
    async def conflict(request: Request, exc: IntegrityError) -> Response:
        # Two commands changed the same record at once; nothing was half-written.
        if is_page(request):
            return error_page(page, request, 409, "同時に別の更新がありました。画面を開き直して、記録を確かめてから"
                                                  "もう一度操作してください / the record changed at the same time; "
                                                  "reload and try again")
        return JSONResponse(status_code=409, content={
            "detail": "同時に別の更新がありました。画面を更新してもう一度操作してください / "
                      "the record changed at the same time; reload and try again"})

    @api.exception_handler(OperationalError)
    @api.exception_handler(InterfaceError)
    async def store_unavailable(request: Request, exc: Exception) -> Response:
        # The database went away (restarted, connection lost): say so and when to try again.
        if is_page(request):
            return error_page(page, request, 503, "記録先のデータベースに一時的に接続できません。少し待ってから画面を"
                                                  "開き直し、記録されたか確かめてからもう一度操作してください / the "
                                                  "store is unreachable for now; reload in a moment to see whether "
                                                  "it was recorded, then try again", {"Retry-After": "2"})
        return JSONResponse(status_code=503, headers={"Retry-After": "2"}, content={
            "detail": "記録先のデータベースに一時的に接続できません。画面を更新して記録されたか確かめてから、"
                      "もう一度操作してください（Idempotency-Key を付けた要求はそのまま再送できます） / "
                      "the store is unreachable for now; reload to see whether it was recorded, then try again "
                      "(a request sent with an Idempotency-Key can simply be sent again)"})


def _mount_ops_routes(api: FastAPI, service: str, application_class: type[ServiceApplication]) -> None:
    """The operators' routes, open to all: /healthz, /asyncapi.json and /readyz; and the service's bare address."""

    @api.get("/", include_in_schema=False, dependencies=[public()])
    async def root(request: Request) -> Response:
        """A browser opening the service's address (`http://127.0.0.1:8101`, as the table of `jusou up` leaves it
        without `/ui/`) is taken to its pages; a program gets the unknown address's 404, as before."""
        if "text/html" in request.headers.get("accept", ""):
            return RedirectResponse("/ui/", status_code=303)
        raise StarletteHTTPException(status_code=404)

    @api.get("/healthz", tags=["ops"], dependencies=[public()])
    async def healthz() -> dict[str, str]:
        """Alive."""
        return {"status": "ok", "service": service}

    @api.get("/asyncapi.json", tags=["ops"], response_class=Response, dependencies=[public()], responses={200: {
        "description": "AsyncAPI 3.0 の文書 / the AsyncAPI 3.0 document",
        "content": {"application/json": {"schema": {"type": "object", "required": ["asyncapi", "channels"]}}}}})
    async def asyncapi() -> Response:
        """The AsyncAPI 3.0 document of the subjects this service publishes and subscribes to (docs/asyncapi/)."""

        text = await anyio.to_thread.run_sync(served, service, application_class.subscriptions)
        return Response(text, media_type="application/json")

    @api.get("/readyz", tags=["ops"], dependencies=[public()], responses=READINESS)
    async def readyz(request: Request) -> JSONResponse:
        """Store and bus reachable; with positions for operators and tests. `degraded` (still 200: the service
        works) lists `problems` an operator must look at: a consumer's tracking ahead of real events of its
        source, messages on this service's subjects its store never recorded (shared/messaging/inbox.py, relay.py)."""
        runtime = request.app.state.runtime
        if isinstance(runtime, Tenants):  # every tenant's store and bus (issue 18)
            return await runtime.readiness(lambda one: _readiness(one, service), service)
        return await _readiness(runtime, service)


#: /readyz's answers in the OpenAPI document: 503 is no refusal of the request but the service saying it is not ready
#: (its store or bus unreachable), with the readiness body (the review from outside: a 503 the document did not declare)
_READINESS_BODY = {"application/json": {"schema": {
    "type": "object", "required": ["status"],
    "properties": {"status": {"type": "string", "enum": ["ready", "degraded", "bus unreachable", "store unreachable"]},
                   "error": {"type": "string"}, "problems": {"type": "array", "items": {"type": "string"}}},
    "additionalProperties": True}}}
READINESS: dict[int | str, dict[str, Any]] = {
    200: {"description": "準備完了 (ready)、または問題を抱えて稼働中 (degraded: problems を参照) / ready, or serving with "
                         "problems an operator must look at (degraded)", "content": _READINESS_BODY},
    503: {"description": "記録先 (store) またはバス (NATS) に接続できません。status と error が理由です / not ready: the "
                         "store or the bus is unreachable (status and error say which)", "content": _READINESS_BODY},
}


def _inbox_connected(runtime: Runtime) -> bool:
    """Whether the consumers' NATS connection (the broker's, apart from the relay's) is up. nats-py takes a server's
    `-ERR` (other than a permissions violation or a stale connection) as final: the connection closes, never to
    reconnect, and every consumer of the service stops while the relay's connection stays up (the review from outside,
    2026-12-07: a dead letter over max_payload did it; readyz said "ready")."""
    try:
        connection = runtime.inbox.broker.connection
    except Exception:  # noqa: BLE001 - FastStream: no connection yet (starting)
        return False
    return bool(connection is not None and connection.is_connected)


async def _readiness(runtime: Runtime, service: str) -> JSONResponse:
    """The /readyz answer: 200 ready or degraded (with its problems), 503 when the store or bus is unreachable."""
    try:
        head = await runtime.store_head()
        tracking = await anyio.to_thread.run_sync(tracking_positions, runtime.app)
        indexed = await anyio.to_thread.run_sync(runtime.app.readmodels.position)
    except TimeoutError:
        return JSONResponse(status_code=503, content={"status": "store unreachable", "error": "no answer in 2 s"})
    except Exception as exc:  # noqa: BLE001 - any store failure means not ready; say which
        return JSONResponse(status_code=503, content={"status": "store unreachable", "error": str(exc)})
    bus_ok = runtime.relay.nc.is_connected and _inbox_connected(runtime)
    problems = [*runtime.inbox.problems(), *runtime.relay.problems()]
    body: dict[str, Any] = {
        "status": ("degraded" if problems else "ready") if bus_ok else "bus unreachable",
        "service": service,
        "store_position": head or 0,
        "relay_position": runtime.relay.position,
        "relay_saved_position": runtime.relay.saved_position,  # what `jusou audit verify` reads (saved ≤ 0.5 s late)
        "readmodel_position": indexed,  # what the read models have indexed (jusou status: 未索引 = store − this)
        "published": runtime.relay.published,
        "applied": runtime.inbox.applied,
        "duplicates": runtime.inbox.duplicates,
        "dead_lettered": runtime.inbox.dead_lettered,
        "tracking": tracking,
        "problems": problems,
    }
    quarantined = await anyio.to_thread.run_sync(runtime.app.readmodels.quarantined)
    if quarantined:  # serving, but records are missing from the lists: an operator must look (readmodel.py)
        body["status"] = "degraded" if body["status"] == "ready" else body["status"]
        body["quarantined"] = quarantined[:20]
        body.setdefault("problems", []).append(
            f"読めない記録 {len(quarantined)} 件を一覧から外しました（位置 "
            f"{', '.join(str(q['position']) for q in quarantined[:5])}）/ the read models quarantined "
            f"{len(quarantined)} unreadable record(s), first at position {quarantined[0]['position']}: "
            f"{quarantined[0]['reason']}")
    return JSONResponse(status_code=200 if bus_ok else 503, content=body)


def _mount_case_routes(api: FastAPI) -> None:
    """Every service's shared API routes: a case's history (D15) and the city's reference data."""

    @api.get("/cases/{case_id}/history", tags=["audit"], dependencies=[requires("case.history")],
             responses={200: {"description": "the case's events here, in order", "headers": PAGING_HEADERS}})
    async def history(case_id: UUID, request: Request, response: Response, limit: Limit = None,
                      cursor: Cursor = None) -> list[dict[str, Any]]:
        """D15: what this program recorded for the case, in order (`jusou history` merges all six).

        A 支援会議's content is withheld from those who did not sit in it (D10)."""
        app = runtime_of(request).app
        division = principal(request).division
        found = await call(lambda: app.redact(app.history(case_id), division))
        return page(found, limit, cursor, request, response)

    @api.get("/reference/{kind}", tags=["reference"], dependencies=[requires("reference.read")])
    async def reference(kind: str) -> Any:
        """The city's reference data: divisions, counters, programs, concerns, agencies."""
        tables: dict[str, Any] = {
            "divisions": [vars(d) for d in DIVISIONS.values()],
            "counters": [vars(c) for c in COUNTERS.values()],
            "programs": [vars(p) for p in PROGRAMS.values()],
            "concerns": [vars(c) for c in CONCERN_FIELDS.values()],
            "agencies": sorted(agencies()),
            "resource-kinds": [vars(k) for k in RESOURCE_KINDS.values()],
        }
        if kind not in tables:
            raise NotFound(f"参照データ {kind!r} はありません。{', '.join(tables)} のいずれかです / unknown reference table")
        return tables[kind]


def _mount_pages(api: FastAPI, page: UI, ui_router: APIRouter | None) -> None:
    """Every service's own pages (記録, a case's timeline) and then the service's UI router, if it has one."""

    @api.get("/ui/log", response_class=HTMLResponse, include_in_schema=False, dependencies=[requires("log.read")])
    async def log_page(request: Request) -> HTMLResponse:
        """記録: this service's recorded events, newest first."""
        runtime = runtime_of(request)
        rows = await anyio.to_thread.run_sync(lambda: _recent(runtime.app))
        return page.render(request, "log.html", "記録 / recorded events", rows=rows)

    @api.get("/ui/cases/{case_id}/timeline", response_class=HTMLResponse, include_in_schema=False,
             dependencies=[requires("case.history")])
    async def timeline(case_id: UUID, request: Request) -> HTMLResponse:
        """D15: the case's journey across every program, as a timeline."""
        rows, missing, withheld = await gather_history(
            str(case_id), {name: internal_url(name) for name in PROGRAM_LABELS}, principal(request).token)
        return page.render(request, "timeline.html", "ケースの経過 / journey", case_id=str(case_id), rows=rows,
                           missing=missing, withheld=withheld)

    if ui_router is not None:
        api.include_router(ui_router, dependencies=[Depends(form_guard)])  # shared/web/limits.py
    else:
        @api.get("/ui/", response_class=HTMLResponse, include_in_schema=False, dependencies=[requires("log.read")])
        async def home(request: Request) -> HTMLResponse:
            return RedirectResponse("/ui/log")  # type: ignore[return-value]


DOCS_PAGE = """<!doctype html>
<html lang="ja"><head><meta charset="utf-8"><title>{title} — API</title>
<link rel="stylesheet" href="/docs/static/swagger-ui.css"></head>
<body><div id="swagger-ui" data-openapi-url="/openapi.json"></div>
<script src="/docs/static/swagger-ui-bundle.js"></script>
<script src="/ui/static/docs.js"></script>
</body></html>
"""


def mount_docs(api: FastAPI) -> None:
    """`/docs`: Swagger UI from the service itself (the files of the `swagger-ui-py` package), started
    by a static script: no CDN, and nothing the CSP would block (FastAPI's default page loads
    swagger-ui from jsdelivr and starts it with an inline script)."""
    from pathlib import Path

    import swagger_ui
    api.mount("/docs/static", Assets(directory=Path(swagger_ui.__file__).parent / "static"), name="swagger-ui")

    async def docs(_: Request) -> HTMLResponse:
        from html import escape

        return HTMLResponse(DOCS_PAGE.format(title=escape(api.title)))

    api.add_route("/docs", docs, include_in_schema=False)  # as FastAPI adds its own: public, like /openapi.json


def document_idempotency_key(api: FastAPI) -> None:
    """Every command in the OpenAPI document names the optional `Idempotency-Key` header
    (shared/kernel/idempotency.py), so that clients generated from it can send it."""
    made = api.openapi

    def openapi() -> dict[str, Any]:
        if api.openapi_schema is None:
            schema = made()
            for operations in schema.get("paths", {}).values():
                for method, operation in operations.items():
                    if method.upper() in COMMANDS and isinstance(operation, dict):
                        operation.setdefault("parameters", []).append(dict(IDEMPOTENCY_PARAMETER))
        return api.openapi_schema or made()

    api.openapi = openapi  # type: ignore[method-assign]


def _recent(app: ServiceApplication, limit: int = 100) -> list[tuple[int, str, str, str]]:
    head = app.recorder.max_notification_id() or 0
    notifications = app.recorder.select_notifications(start=max(1, head - limit + 1), limit=limit)
    rows = []
    for n in reversed(notifications):
        if n.topic.startswith(IdempotentRequest.__module__ + ":"):
            continue  # a retry key's bookkeeping, not something that happened to a case
        event = app.domain_event(n)
        meta = getattr(event, "meta", {}) or {}
        actor = meta.get("actor") or {}
        who = actor.get("staff_id") or actor.get("service") or ""
        rows.append((n.id, event.timestamp.isoformat(timespec="seconds"), n.topic.split(":")[-1], who))
    return rows


async def gather_history(case_id: str, urls: dict[str, str],
                         token: str) -> tuple[list[dict[str, Any]], list[str], list[str]]:
    """D15: every program's record of the case, merged in time order; the programs that did not answer (unreachable,
    a failure), and apart those that answered but did not let the caller, whose token is forwarded, read their
    record (401, 403: the division scope, no outage). A 404 is no record there."""
    import httpx

    rows: list[dict[str, Any]] = []
    missing: list[str] = []
    withheld: list[str] = []
    async with httpx.AsyncClient(timeout=5, headers={"Authorization": f"Bearer {token}"}) as client:
        responses = await asyncio.gather(
            *(client.get(f"{url}/cases/{case_id}/history") for url in urls.values()), return_exceptions=True
        )
    for name, response in zip(urls, responses, strict=True):
        if isinstance(response, httpx.Response) and response.status_code == 200:
            rows.extend(response.json())
        elif isinstance(response, httpx.Response) and response.status_code in (401, 403):
            withheld.append(name)
        elif not (isinstance(response, httpx.Response) and response.status_code == 404):
            missing.append(name)
    rows.sort(key=lambda r: (r["occurred_at"], r["service"], r["position"]))
    return rows, missing, withheld
