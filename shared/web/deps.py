"""What a route needs from the running service, as FastAPI dependencies (issue 14).

Kept apart from shared/web/http.py (which assembles the service and mounts every router) so that
any router module may import these without an import cycle: the running `Runtime`, the signed-in
`principal` and the acting `staff` (as dependencies `Who` and `Staff`, which cost no thread hop), the typed
`application(Kind)`, and `call` for the one hop from an async route (a form post) to a blocking use case.

Many municipalities on one deployment (issue 18, shared/tenancy.py): with a tenants file the service runs
one `Runtime` per tenant (its own store, key, relay and inbox on its own NATS connection to its account),
held by `Tenants`; every route reaches its tenant's application through `runtime_of` / `application(Kind)`,
chosen by the signed-in staff member's verified `tenant` claim, never by a request parameter. A token
without a tenant, or naming one this deployment does not serve, is refused. `open_runtime` starts what
the service's life (shared/web/http.py lifespan) holds: one `Runtime`, or `Tenants`.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import json
import sys
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from typing import Annotated, Any, ParamSpec, TypeVar

import anyio
import structlog
from fastapi import Depends, Request
from fastapi.responses import JSONResponse
from faststream.nats import NatsBroker
from nats.aio.client import Client as NATS
from nats.js.errors import APIError, NotFoundError

from shared import tenancy
from shared.contract.events import STREAM, Envelope
from shared.kernel.app import ServiceApplication
from shared.kernel.group_commit import set_in_flight
from shared.kernel.journey import DomainError
from shared.kernel.store import STORE_UNREACHABLE, creating, store_env
from shared.kernel.threads import run_sync
from shared.messaging.adoption import limit_reached, not_made
from shared.messaging.bus import connect, ensure_streams, servers
from shared.messaging.deadletters import subscribe_replays
from shared.messaging.inbox import Inbox
from shared.messaging.natsauth import broker_credentials
from shared.messaging.partitions import PartitionedInbox, inbox_for
from shared.messaging.relay import Relay
from shared.settings import Settings
from shared.web.auth import Principal, Unauthenticated

P = ParamSpec("P")
T = TypeVar("T")


log = structlog.get_logger()


class Runtime:
    """What a running service holds (for one tenant, with a tenants file); reachable from routes as
    `runtime_of(request)`."""

    def __init__(self, app: ServiceApplication, relay: Relay, inbox: Inbox, broker: NatsBroker,
                 tenant: str | None = None) -> None:
        self.app = app
        self.relay = relay
        self.inbox = inbox
        self.broker = broker
        self.tenant = tenant
        self.relay_task: asyncio.Task[None] | None = None
        self.partitions_task: asyncio.Task[None] | None = None  # JUSOU_PARTITIONS > 1: the leases and their consumers
        self._store_probe: asyncio.Future[Any] | None = None

    async def close(self) -> None:
        """Stop the relay, the inbox's consumers and the bus connection, then close the store."""
        if self.relay_task is not None:
            self.relay_task.cancel()
            await asyncio.gather(self.relay_task, return_exceptions=True)
        if self.partitions_task is not None:  # its partitions left to the other replicas at once
            self.partitions_task.cancel()
            await asyncio.gather(self.partitions_task, return_exceptions=True)
        await self.broker.stop()
        await self.relay.nc.drain()
        self.app.close()

    async def store_head(self, within: float = 2.0) -> int:
        """The store's head, or TimeoutError after `within` s. While the database is away the library
        retries for a long time: probes share one call in flight rather than pile up threads."""
        if self._store_probe is None or self._store_probe.done():
            self._store_probe = asyncio.ensure_future(anyio.to_thread.run_sync(self.app.recorder.max_notification_id))
        head = await asyncio.wait_for(asyncio.shield(self._store_probe), within)
        return int(head or 0)


def principal(request: Request) -> Principal:
    """The signed-in staff member the policy let through (shared/web/policy.py gate)."""
    found: Principal | None = getattr(request.state, "principal", None)
    if found is None:
        raise Unauthenticated.missing()
    return found


def staff(request: Request) -> dict[str, str]:
    """Who is acting, as events record it: the bearer token's (or the UI cookie's) staff member."""
    return principal(request).actor


# As FastAPI dependencies: `async`, so that they run in the request's own task. FastAPI runs a `def` dependency in
# its thread pool, a hop of about 60 µs of CPU and 0.3 ms of waiting on a busy 2-core machine, per request
# (bench/commands.py): `principal` and `staff` themselves stay plain functions for the code that calls them.


async def signed_in(request: Request) -> Principal:
    """`principal` as a route's dependency (`Who`)."""
    return principal(request)


async def acting_staff(request: Request) -> dict[str, str]:
    """`staff` as a route's dependency (`Staff`)."""
    return principal(request).actor


#: A route's signed-in staff member and who is acting, as dependencies: `def consent(…, actor: Staff)`.
Who = Annotated[Principal, Depends(signed_in)]
Staff = Annotated[dict[str, str], Depends(acting_staff)]


class TenantNotNamed(DomainError):
    """A token without a `tenant` claim on a deployment of many municipalities (the code `tenant_not_named`, as the
    token check's own refusal, shared/web/auth.py, which answers first)."""

    status = 401

    def __init__(self) -> None:
        super().__init__("このトークンには自治体（tenant）の指定がありません。所属する自治体の認証基盤でログインしてください / "
                         f"the token names no tenant (claim {tenancy.CLAIM!r}): sign in at your municipality's identity provider")
        self.headers = {"WWW-Authenticate": 'Bearer realm="jusou", error="invalid_token"'}


class TenantNotServed(DomainError):
    """A token naming a tenant this deployment does not serve (`tenant_not_served`, 401, as shared/web/auth.py's)."""

    status = 401

    def __init__(self, tenant: str) -> None:
        super().__init__(f"自治体 {tenant!r} はこの環境で扱っていません / this deployment serves no tenant {tenant!r}")
        self.headers = {"WWW-Authenticate": 'Bearer realm="jusou", error="invalid_token"'}


class Tenants:
    """One `Runtime` per tenant (issue 18). Routes choose theirs with `runtime_of(request)`; code that reads
    `request.app.state.runtime.app` directly gets the acting tenant's (shared/tenancy.py `CURRENT`, set from the
    verified token), and a refusal when none is acting: never another tenant's, never a default one."""

    def __init__(self, runtimes: dict[str, Runtime]) -> None:
        self.runtimes = runtimes

    def of(self, tenant: str | None) -> Runtime:
        if not tenant:
            raise TenantNotNamed()
        found = self.runtimes.get(tenant)
        if found is None:
            raise TenantNotServed(tenant)
        return found

    def current(self) -> Runtime:
        return self.of(tenancy.CURRENT.get())

    def __iter__(self) -> Iterator[Runtime]:
        return iter(self.runtimes.values())

    @property
    def app(self) -> ServiceApplication:
        return self.current().app

    @property
    def relay(self) -> Relay:
        return self.current().relay

    @property
    def inbox(self) -> Inbox:
        return self.current().inbox

    @property
    def broker(self) -> NatsBroker:
        return self.current().broker

    async def store_head(self, within: float = 2.0) -> int:
        return await self.current().store_head(within)

    async def each(self, fn: Callable[[Runtime], Coroutine[Any, Any, T]]) -> dict[str, T]:
        """`fn` of every tenant's runtime, each run as that tenant (/readyz: every tenant's store and bus)."""
        found: dict[str, T] = {}
        for tenant, runtime in self.runtimes.items():
            with tenancy.acting_for(tenant):
                found[tenant] = await fn(runtime)
        return found

    async def readiness(self, one: Callable[[Runtime], Coroutine[Any, Any, JSONResponse]], service: str) -> JSONResponse:
        """/readyz of many tenants: each tenant's answer (`one`) under `tenants`; 200 only when every one is."""
        answers = await self.each(one)
        worst = max(answer.status_code for answer in answers.values())
        bodies = {tenant: json.loads(bytes(answer.body)) for tenant, answer in answers.items()}
        statuses = {body.get("status") for body in bodies.values()}
        status = "ready" if statuses == {"ready"} else "degraded" if worst == 200 else "not ready"
        return JSONResponse(status_code=worst, content={"status": status, "service": service, "tenants": bodies})

    async def close(self) -> None:
        await asyncio.gather(*(runtime.close() for runtime in self.runtimes.values()), return_exceptions=True)


def runtime_of(request: Request) -> Runtime:
    """The running service, for the signed-in staff member's tenant when it serves many (`Tenants`)."""
    runtime: Runtime | Tenants = request.app.state.runtime
    if isinstance(runtime, Tenants):
        found: Principal | None = getattr(request.state, "principal", None)
        tenant = getattr(found, "tenant", None) if found is not None else None
        if tenant is None or tenant != tenancy.CURRENT.get():  # the token verified in this request names it
            raise TenantNotNamed() if not tenant else TenantNotServed(tenant)
        return runtime.of(tenant)
    return runtime


AppT = TypeVar("AppT", bound=ServiceApplication)


def application(kind: type[AppT]) -> Callable[[Request], Awaitable[AppT]]:
    """The running service's application as a typed FastAPI dependency::

        App = Annotated[OutreachApplication, Depends(application(OutreachApplication))]

        @router.get("/engagements/{case_id}")
        def engagement(case_id: UUID, app: App) -> EngagementOut: ...

    A route that works on the store is a plain `def` (FastAPI runs it in its thread pool); the
    dependency itself is `async` so that fetching the application costs no thread hop."""

    async def dependency(request: Request) -> AppT:
        app = runtime_of(request).app
        if not isinstance(app, kind):  # a service mounted with another service's routes: a wiring mistake
            raise TypeError(f"this service runs {type(app).__name__}, not {kind.__name__}")
        return app

    dependency.__name__ = f"application_{kind.__name__}"
    return dependency


async def call(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run a blocking use case in a worker thread (the eventsourcing API blocks; shared/kernel/threads.py)."""
    return await run_sync(lambda: fn(*args, **kwargs))


# --- the service's life: its runtime, or one per tenant ----------------------------------------------------


def _relay_ended(relay: Relay, task: asyncio.Task[None]) -> None:
    """A relay's task that ends other than by the service stopping is an error to see at once: logged, and readyz
    degraded (`Relay.problems`), never a relay silently publishing nothing more."""
    if task.cancelled():
        return
    error = task.exception()
    relay.ended = f"{type(error).__name__}: {error}" if error else "its loop returned"
    log.error("relay.ended", service=relay.app.service, error=relay.ended)


async def open_runtime(
    settings: Settings,
    application_class: type[ServiceApplication],
    translate: Callable[[Any, int], Envelope | None],
    observe: Any = None,
) -> Runtime | Tenants:
    """Open the store, bus, relay and inbox (shared/web/http.py lifespan); with a tenants file, one of each per
    tenant, each started as that tenant (its relay's and inbox's tasks keep it: shared/tenancy.py `CURRENT`)."""
    tenants = tenancy.configured()
    if not tenants:
        return await _start(settings, application_class, translate, observe, None)
    runtimes: dict[str, Runtime] = {}

    async def one(tenant: tenancy.Tenant) -> None:
        context = contextvars.copy_context()
        context.run(tenancy.CURRENT.set, tenant.id)
        runtimes[tenant.id] = await asyncio.create_task(
            _start(tenancy.service_settings(settings, tenant), application_class, translate, observe, tenant.id),
            context=context)

    try:  # all at once: each opens its store in a thread and waits on its own connections
        await asyncio.gather(*(one(tenant) for tenant in tenants.values()))
    except BaseException:
        await Tenants(runtimes).close()
        raise
    runtimes = {tenant: runtimes[tenant] for tenant in tenants}  # in the file's order
    log.info("tenants.serving", service=settings.service, tenants=list(runtimes))
    return Tenants(runtimes)


def open_store(settings: Settings, application_class: type[ServiceApplication]) -> ServiceApplication:
    """The service's application on its store (`store_env`); on PostgreSQL with group commit, its recorder keeps up to
    `JUSOU_PG_GROUP_IN_FLIGHT` grouped transactions in flight (shared/kernel/group_commit.py)."""
    with creating(settings):  # replicas starting together: one creates the schema's tables
        made = application_class(env=store_env(settings))
    if settings.store == "postgres" and settings.pg_group_commit:
        set_in_flight(made.recorder, settings.pg_group_in_flight)
    return made


async def _start(
    settings: Settings,
    application_class: type[ServiceApplication],
    translate: Callable[[Any, int], Envelope | None],
    observe: Any,
    tenant: str | None,
) -> Runtime:
    service = settings.service

    app = await opened(functools.partial(open_store, settings, application_class), service)
    nc = await connect(settings.nats_url, f"{service}-relay" + (f"@{tenant}" if tenant else ""), settings.nats_user,
                       settings.nats_password)
    await ensure_streams(nc, settings.stream_replicas)
    broker = NatsBroker(servers(settings.nats_url), max_reconnect_attempts=-1, reconnect_time_wait=2, logger=None,
                        **broker_credentials(settings.nats_user, settings.nats_password))
    inbox = inbox_for(app, broker, settings.max_deliver)  # JUSOU_PARTITIONS > 1: partitioned (docs/capacity.md §6)
    if observe is not None:
        inbox.observe = observe  # consumed events and handler latency on /metrics
    subscribe_replays(inbox)  # `jusou deadletters replay`: its own durable consumer on JUSOU_REPLAY
    relay = Relay(app, translate, nc, settings.relay_poll_seconds)
    try:
        await broker.start()  # FastStream makes each durable consumer the service has not got yet
    except APIError as exc:
        if not limit_reached(exc):
            raise
        missing = await consumers_missing(nc, service, inbox)
        with contextlib.suppress(Exception):
            await nc.close()
        raise ConsumersNotMade(service, missing) from None
    runtime = Runtime(app, relay, inbox, broker, tenant)
    runtime.relay_task = asyncio.create_task(relay.run(), name=f"{service}-relay" + (f"@{tenant}" if tenant else ""))
    runtime.relay_task.add_done_callback(lambda task: _relay_ended(relay, task))
    if isinstance(inbox, PartitionedInbox):
        runtime.partitions_task = asyncio.create_task(inbox.run(nc),
                                                      name=f"{service}-partitions" + (f"@{tenant}" if tenant else ""))
    return runtime


class ConsumersNotMade(SystemExit):
    """A service whose durable consumers JUSOU's consumer limit keeps from being made (nats-server 2.15: 1,000 on a
    stream that sets no `max_consumers`, the integrators' included) at its start: it would consume nothing of those
    sources. Nothing starts: status 2, what the operator does on stderr and in the log (`bus.consumers_not_made`),
    instead of nats-py's traceback and uvicorn's status 3. Once there is room, the service starts as before."""

    def __init__(self, service: str, missing: list[str]) -> None:
        super().__init__(2)
        names = ", ".join(missing) or f"{service}--…"
        self.problem = not_made(names, f"then start {service} again")
        log.error("bus.consumers_not_made", service=service, consumers=missing, problem=self.problem)
        print(self.problem, file=sys.stderr)


async def consumers_missing(nc: NATS, service: str, inbox: Any) -> list[str]:
    """The service's durable consumers on JUSOU (`<service>--<source>`) that are not there."""
    missing = []
    for source in sorted(getattr(inbox, "filters", {})):
        name = f"{service}--{source}"
        try:
            await nc.jetstream().consumer_info(STREAM, name)
        except (NotFoundError, APIError, TimeoutError):  # not there, or no answer: named (it is only a message)
            missing.append(name)
    return missing


async def opened(open_store: Callable[[], ServiceApplication], service: str) -> ServiceApplication:
    """Open the store, waiting for a database that is not there yet (restarted, or starting with the
    service): a service restarted while PostgreSQL is down comes up when it is back, as it does for NATS."""
    delay = 0.5
    while True:
        try:
            return await anyio.to_thread.run_sync(open_store)
        except STORE_UNREACHABLE as exc:
            log.warning("store.unreachable_at_start", service=service, error=f"{type(exc).__name__}: {exc}",
                        retry_in_seconds=delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
