"""What a route needs from the running service, as FastAPI dependencies (issue 14).

Kept apart from shared/web/http.py (which assembles the service and mounts every router) so that
any router module may import these without an import cycle: the running `Runtime`, the signed-in
`principal` and the acting `staff`, the typed `application(Kind)`, and `call` for the one hop from
an async route (a form post) to a blocking use case.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, TypeVar

import anyio
from fastapi import Request
from faststream.nats import NatsBroker

from shared.kernel.app import ServiceApplication
from shared.messaging.inbox import Inbox
from shared.messaging.relay import Relay
from shared.web.auth import Principal, Unauthenticated

P = ParamSpec("P")
T = TypeVar("T")


class Runtime:
    """What a running service holds; reachable from routes as `request.app.state.runtime`."""

    def __init__(self, app: ServiceApplication, relay: Relay, inbox: Inbox, broker: NatsBroker) -> None:
        self.app = app
        self.relay = relay
        self.inbox = inbox
        self.broker = broker
        self._store_probe: asyncio.Future[Any] | None = None

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


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
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
    """Run a blocking use case in the thread pool (the eventsourcing API blocks)."""
    return await anyio.to_thread.run_sync(lambda: fn(*args, **kwargs))
