"""A command that loses an optimistic race is run again on the fresh record (issue 14 follow-up).

Every aggregate is saved with optimistic concurrency: a save that finds the record changed since it
was loaded fails with eventsourcing's `IntegrityError` and records nothing. The record is changed
not only by other staff but by the service's own inbox, which applies other programs' events to it
in the background (a sitting noted on an intake case, a decision on a plan). A member of staff who
records consent just as the meeting's decision arrives should not be told 「同時に別の更新がありました」
for a change nobody made by hand: the command is run again, from the start, on the record as it now is,
where its own rules decide afresh. After `TRIES` tries, each after a short random pause, the conflict is answered as before (409, and
on a page the same words). A repeated request with an `Idempotency-Key` is recognised by its own
record (shared/kernel/idempotency.py), which `AlreadyRecorded` reports and which is never retried.
"""

from __future__ import annotations

import asyncio
import functools
import random
import time
from collections.abc import Callable, Iterator
from typing import Any

import structlog
from eventsourcing.persistence import IntegrityError
from fastapi import FastAPI
from fastapi.routing import APIRoute, APIRouter

from shared.web.routing import included_routes

log = structlog.get_logger()

TRIES = 5
#: the pause before try n+1 is random in [0, BACKOFF_SECONDS × 2^n): the inbox applying a run of another program's
#: events to the same record (shared/messaging/inbox.py) is done within a few commits, and a loaded machine is slow
BACKOFF_SECONDS = 0.01
CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_WRAPPED = "__jusou_retries_conflicts__"


def _routes(routes: list[Any]) -> Iterator[APIRoute]:
    for route in routes:
        if isinstance(route, APIRoute):
            yield route


def pause(attempt: int) -> float:
    """Seconds to wait after the `attempt`-th conflict: random, doubling (full jitter), at most 0.15 s over all tries."""
    return random.uniform(0, BACKOFF_SECONDS * 2 ** (attempt - 1))


def retrying(call: Callable[..., Any], name: str) -> Callable[..., Any]:
    """`call`, run again (up to TRIES in all) when it fails with a concurrency conflict; same sync/async."""
    if asyncio.iscoroutinefunction(call):

        @functools.wraps(call)
        async def run_async(*args: Any, **kwargs: Any) -> Any:
            for attempt in range(1, TRIES + 1):
                try:
                    return await call(*args, **kwargs)
                except IntegrityError:
                    if attempt == TRIES:
                        raise
                    log.info("command.conflict_retried", route=name, attempt=attempt)
                    await asyncio.sleep(pause(attempt))
            raise AssertionError("unreachable")

        setattr(run_async, _WRAPPED, True)
        return run_async

    @functools.wraps(call)
    def run(*args: Any, **kwargs: Any) -> Any:
        for attempt in range(1, TRIES + 1):
            try:
                return call(*args, **kwargs)
            except IntegrityError:
                if attempt == TRIES:
                    raise
                log.info("command.conflict_retried", route=name, attempt=attempt)
                time.sleep(pause(attempt))  # a plain `def` route runs in the thread pool
        raise AssertionError("unreachable")

    setattr(run, _WRAPPED, True)
    return run


def retry_conflicts(api: FastAPI) -> None:
    """Every route that changes something runs its command again on a concurrency conflict: the app's own, and
    those of its included routers at any depth (a service's commands: FastAPI ≥ 0.16x lists an included router as
    one entry of `api.routes`, and builds its routes from each route's `endpoint`)."""
    for route in _routes(api.routes):
        call = route.dependant.call
        if (route.methods or set()) & CHANGING and call is not None and not getattr(call, _WRAPPED, False):
            route.dependant.call = retrying(call, route.path)
    changed: dict[int, APIRouter] = {}
    for router, route in included_routes(api.router):
        if (route.methods or set()) & CHANGING and not getattr(route.endpoint, _WRAPPED, False):
            route.endpoint = retrying(route.endpoint, route.path)  # the route's own handler (unused) is left as it was
            changed[id(router)] = router
    for router in changed.values():
        router._mark_routes_changed()  # FastAPI builds the included routes again, from the new endpoints
