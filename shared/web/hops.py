"""One thread hop per blocking route, not two (issue 19).

A route that works on the store is a plain `def` (the eventsourcing API blocks): FastAPI runs it in its thread pool,
and then, because it is a `def`, checks its answer against the response model in the thread pool too: a second hop
to a worker thread and back for a few microseconds of pydantic, each of them about 30–60 µs of CPU (a lock, a wake-up
and the loop's self-pipe) and a wait for a core on a busy machine. `one_hop` gives every such route an `async`
endpoint that runs the `def` in a worker thread (anyio's, as FastAPI does: the same threads, the request's context
variables copied) and returns its answer to the loop, where FastAPI checks and serialises it. The use case itself
still never runs on the event loop. Routes declared `async` are left as they are.

The hop itself is shared/kernel/threads.py's `run_sync` (a lean one: about 17 µs of CPU instead of anyio's 40–50).

The endpoint is replaced on the route itself (`functools.wraps`: the same signature, name, docstring and globals for
FastAPI's introspection, so the parameters, the OpenAPI document and the answers are the same), in the app's
included routers, whose routes FastAPI builds from it again (`_mark_routes_changed`). tests/unit/test_one_hop.py
checks that a service's blocking routes hop once, on a worker thread, with the request's context.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute, APIRouter

from shared.kernel.threads import run_sync
from shared.web.routing import included_routes

#: set on the async endpoint that runs a `def` in a worker thread
HOPS = "__jusou_one_hop__"
def in_worker_thread(call: Callable[..., Any]) -> Callable[..., Any]:
    """An `async` endpoint that runs the blocking `call` in a worker thread (FastAPI passes every parameter by name)."""

    @functools.wraps(call)
    async def endpoint(**values: Any) -> Any:
        return await run_sync(functools.partial(call, **values))

    setattr(endpoint, HOPS, call)
    return endpoint


def blocking(route: APIRoute) -> bool:
    """A route whose endpoint is a plain `def` (FastAPI runs it, and checks its answer, in its thread pool)."""
    call = route.endpoint
    return not getattr(call, HOPS, None) and not inspect.iscoroutinefunction(call) and inspect.isfunction(
        inspect.unwrap(call))


def one_hop(api: FastAPI) -> int:
    """Every blocking route of the app's included routers runs in a worker thread once per request, its answer
    checked on the loop; the number of routes changed. (Routes put on the app itself are left to FastAPI: a service
    has none that blocks.)"""
    changed: set[int] = set()
    routers: dict[int, APIRouter] = {}
    for router, route in included_routes(api.router):
        if blocking(route):
            route.endpoint = in_worker_thread(route.endpoint)  # the route's own handler (unused) keeps its `def`
            changed.add(id(route))
            routers[id(router)] = router
    for router in routers.values():
        router._mark_routes_changed()  # FastAPI builds the included routes again, from the new endpoints
    return len(changed)
