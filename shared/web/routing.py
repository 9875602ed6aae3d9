"""Route matching by the path's first segment (issue 19): a request is matched against the routes that could match it.

FastAPI walks an app's routes in order until one matches, and an included router's routes twice (once to see
that it matches, once to handle): a service's API routes come after its pages', about 70 candidates and
0.25–0.7 ms of CPU per request. A route whose path template begins with a literal segment (`/cases/…`,
`/ui/…`) can only match a path that begins with that segment; `RouteIndex` keeps, per first segment, the same
routes in the same order without those that cannot match it (and, inside included routers, the same), and lets
FastAPI's own matching run on those. So the route that answers, its path parameters, the 405 of a path that
matches with another method and the redirect to the path with or without its trailing slash are FastAPI's own;
a route whose first segment is a parameter (or that is not a plain route, mount or included router) is kept for
every path. tests/unit/test_route_index.py checks, for every route of every service, that the same endpoint
answers with the index and without it. A route of an included router that matches a request fully is then handed
the request directly, as FastAPI's walk would hand it, without the walk's double matching of each included router
(`RouteIndex.dispatch`); whatever else the walk decides (405, redirects, 404, the app's own routes) is the walk's.

The index is built again when the app's routes change (FastAPI's routes version, or the app's list of routes
changed in place), before the request that follows; an app with low-priority
routes (FastAPI's `frontend`), which are matched after every other, is left to FastAPI's walk.

`HEAD` (RFC 9110 §9.3.2: a GET's status and headers, without its body) is answered here for every GET route: the
request is matched and run as a GET (FastAPI's APIRoute, unlike Starlette's Route, does not take HEAD for a GET), so
its refusals are the GET's (401, 403, 404, 422), and the server sends no body (uvicorn drops it for HEAD); a
streamed answer (a page's live updates) ends after its headers. The OpenAPI document is unchanged (no route added).
A HEAD records nothing: while it runs, a save refuses it (405, shared/kernel/idempotency.py `reading_head`), so a
GET that records a showing of personal information (intake's disclosures, D9) is not answered to a HEAD.
tests/security/test_review_edge_head.py checks it.
"""

from __future__ import annotations

import copy
import operator
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import anyio
from fastapi import FastAPI
from fastapi.routing import (
    _FASTAPI_EFFECTIVE_ROUTE_CONTEXT_KEY,
    _FASTAPI_INCLUDED_ROUTER_KEY,
    APIRoute,
    APIRouter,
    _apply_router_form_limits,
    _EffectiveRouteContext,
    _get_fastapi_scope,
    _IncludedRouter,
    _route_selected,
    _update_scope,
)
from starlette._utils import get_route_path
from starlette.routing import BaseRoute, Match, Mount, Route, WebSocketRoute
from starlette.types import Message, Receive, Scope, Send

from shared.kernel.idempotency import reading_head

#: the first segments of a route that may match any path
ANY = "*"
#: a router's routes version (FastAPI counts each router's own changes there)
_VERSION = operator.attrgetter("_routes_version")


def first_segment(template: str) -> str:
    """The literal first segment of a path template (`/cases/{case_id}` → `cases`, `/` → ``), ANY when it has none."""
    if not template.startswith("/"):
        return ANY
    segment = template[1:].split("/", 1)[0]
    return ANY if "{" in segment or "}" in segment else segment


def _segments_of_context(candidate: Any) -> set[str]:
    if isinstance(candidate, _IncludedRouter):
        found: set[str] = set()
        for inner in candidate.effective_candidates():
            found |= _segments_of_context(inner)
            if ANY in found:
                return {ANY}
        return found
    if isinstance(candidate, _EffectiveRouteContext) and isinstance(candidate.original_route, APIRoute) \
            and candidate.path_format:
        return {first_segment(candidate.path_format)}
    return {ANY}


def segments_of(route: BaseRoute) -> set[str]:
    """The first segments of the paths a top-level route (or included router) may match; {ANY} when any."""
    if isinstance(route, _IncludedRouter):
        return _segments_of_context(route) or {ANY}
    if isinstance(route, (APIRoute, Route, WebSocketRoute)):
        return {first_segment(route.path)}
    if isinstance(route, Mount):
        return {first_segment(route.path)} if route.path else {ANY}
    return {ANY}


def _keeps(segments: set[str], segment: str | None) -> bool:
    return ANY in segments or (segment is not None and segment in segments)


#: where an included router leaves, in the request's scope, what it matched (`_Narrowed._match`)
MATCHED = "jusou.matched"


class _Narrowed(_IncludedRouter):
    """An included router that offers FastAPI's walk only its candidates that may match paths of `segment`
    (None: paths whose first segment no route names), in their order.

    Its candidates are FastAPI's as they were when the index was built: the index is built again when any router
    it was built from changes (`RouteIndex._current`), so they are not asked for again on every request (FastAPI's
    `effective_candidates` adds up the routes versions of every router below, twice per request). FastAPI matches an
    included router twice per request, once to see that it matches (`matches`) and once to handle it
    (`_handle_selected`), on the same scope: the second is answered with the first's result, kept in the request's
    scope for this router, path and method."""

    def __init__(self, base: _IncludedRouter, segment: str | None) -> None:
        super().__init__(original_router=base.original_router, include_context=base.include_context)
        self._narrowed: list[Any] = [_Narrowed(c, segment) if isinstance(c, _IncludedRouter) else c
                                     for c in base.effective_candidates() if _keeps(_segments_of_context(c), segment)]

    def effective_candidates(self) -> list[Any]:
        return self._narrowed

    def _match(self, scope: Scope) -> Any:
        matched = scope.get(MATCHED)
        if matched is None:
            matched = scope[MATCHED] = {}
        kept = matched.get(id(self))
        if kept is not None and kept[0] is self and kept[1] == scope["path"] and kept[2] == scope.get("method"):
            return kept[3]
        found = super()._match(scope)
        matched[id(self)] = (self, scope["path"], scope.get("method"), found)
        return found


class _Leaf:
    """A route of an included router (at any depth) as FastAPI's walk reaches it: the included routers that lead to
    it, outermost first (the index's narrowed copies), and its effective context (its path, methods and app as
    included)."""

    __slots__ = ("chain", "context", "route", "selected")

    def __init__(self, chain: tuple[_IncludedRouter, ...], context: _EffectiveRouteContext) -> None:
        self.chain = chain
        self.context = context
        self.route: APIRoute = context.original_route  # type: ignore[assignment]
        self.selected = getattr(context.starlette_route, "path_format", None) or context.path_format


def _walk_order(routes: Sequence[BaseRoute]) -> list[Any]:
    """The app's routes as FastAPI's walk tries them, included routers opened (depth first, in their candidates'
    order): a `_Leaf` for each route of an included router, the route or candidate itself for anything else (which
    the index leaves to FastAPI's walk when it matches)."""

    def opened(included: _IncludedRouter, chain: tuple[_IncludedRouter, ...]) -> Iterator[Any]:
        for candidate in included.effective_candidates():
            if isinstance(candidate, _IncludedRouter):
                yield from opened(candidate, (*chain, candidate))
            elif isinstance(candidate.original_route, APIRoute):
                yield _Leaf(chain, candidate)
            else:
                yield candidate

    order: list[Any] = []
    for route in routes:
        if isinstance(route, _IncludedRouter):
            order.extend(opened(route, (route,)))
        else:
            order.append(route)
    return order


def _by_method(order: list[Any]) -> dict[str | None, list[Any]]:
    """The walk order for each method an included router's route takes, without the routes that do not take it (they
    can match such a request only partly, which decides nothing while a full match may follow); None: every route, for
    the other methods."""
    methods = {m for entry in order if type(entry) is _Leaf for m in (entry.context.methods or ())}
    found: dict[str | None, list[Any]] = {
        method: [e for e in order if type(e) is not _Leaf or not e.context.methods or method in e.context.methods]
        for method in methods}
    found[None] = order
    return found


def _has_low_priority(routes: Iterable[BaseRoute], router: APIRouter) -> bool:
    if getattr(router, "_low_priority_routes", None):
        return True
    return any(isinstance(r, _IncludedRouter) and r.effective_low_priority_routes() for r in routes)


class RouteIndex:
    """The app's router's entry (`api.router.middleware_stack`): the request is matched by a copy of the router
    holding only the routes that may match its path's first segment (`install`)."""

    def __init__(self, router: APIRouter, settled: Callable[[list[Any]], list[Any]] | None = None) -> None:
        self.router = router
        self.settled = settled  # what of a route's dependencies FastAPI still solves per request (`install`)
        self._routers: list[APIRouter] = [router]  # the app's router and those included in it, when last built
        self._key: tuple[tuple[int, ...], tuple[int, ...]] | None = None
        self._by_segment: dict[str, APIRouter] = {}
        self._other: APIRouter | None = None
        #: a narrowed router's routes in FastAPI's walk order (`_walk_order`), by method (`_by_method`)
        self._order: dict[int, dict[str | None, list[Any]]] = {}
        self._off = False

    def _current(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """What the index was built from: the routes version of the app's router and of each router included in it
        (FastAPI counts there each router's own changes: a route added through FastAPI, a router included, which
        then counts too once the index is built again) and the app's routes themselves (a list changed in place, a
        route replaced). The same changes FastAPI's `_get_routes_version()` adds up, without walking every route of
        every router on each request (issue 19)."""
        return tuple(map(_VERSION, self._routers)), tuple(map(id, self.router.routes))  # C loops: ~1 µs, not ~3

    def _narrowed(self, routes: Sequence[BaseRoute], segments: list[set[str]], segment: str | None) -> APIRouter:
        clone = copy.copy(self.router)
        clone.routes = [_Narrowed(r, segment) if isinstance(r, _IncludedRouter) else r
                        for r, s in zip(routes, segments, strict=True) if _keeps(s, segment)]
        return clone

    def build(self) -> None:
        routes = list(self.router.routes)
        self._routers = [self.router, *included_routers(self.router)]
        self._key = self._current()
        self._off = _has_low_priority(routes, self.router)
        if self._off:
            return
        segments = [segments_of(r) for r in routes]
        named = set().union(*segments) - {ANY} if segments else set()
        self._by_segment = {segment: self._narrowed(routes, segments, segment) for segment in named}
        self._other = self._narrowed(routes, segments, None)
        self._order = {id(r): _by_method(_walk_order(r.routes)) for r in (*self._by_segment.values(), self._other)}
        if self.settled is not None:
            for dependant in _dependants(routes):
                dependant.dependencies[:] = self.settled(dependant.dependencies)

    def router_for(self, scope: Scope) -> APIRouter:
        """The router (a narrowed copy, or the app's own) that matches this request."""
        if self._current() != self._key:
            self.build()
        if self._off or scope["type"] != "http":
            return self.router
        path = get_route_path(scope)
        if not path.startswith("/"):
            return self.router
        found = self._by_segment.get(path[1:].split("/", 1)[0], self._other)
        return found if found is not None else self.router

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.router.app(scope, receive, send)
            return
        if "router" not in scope:
            scope["router"] = self.router  # url_for and the like look through every route
        router = self.router_for(scope)
        if scope["type"] == "http" and scope["method"] == "HEAD":
            await head_as_get(lambda s, r, w: self.dispatch(router, s, r, w), scope, receive, send)
            return
        await self.dispatch(router, scope, receive, send)

    async def dispatch(self, router: APIRouter, scope: Scope, receive: Receive, send: Send) -> None:
        """The request to the route FastAPI's walk of `router` would choose, without the walk's machinery when that
        is a route of an included router that matches it fully (path and method): FastAPI's walk matches the
        included router, then matches it again to handle it, through each router it includes, and sets and restores
        its scope keys at every step (~60,000 instructions a request, 4–7 % of a read's in process:
        bench/http_instructions.py). The routes are tried in the walk's order (`_walk_order`) by their own
        matching; the first that matches fully is handled as the walk handles it: the same form limits, scope keys (`endpoint`, `path_params`, `route`, FastAPI's included router and
        effective context), route selection and the route's own `handle` (a route matched only by its path, with
        another method, does not stop the search: the walk too takes a later full match over it). Anything else — a
        full match of a route that is not an included router's (the app's own, a mount), no full match at all (a
        405, the redirect to the path with or without its trailing slash, a 404) — is FastAPI's walk, as before.
        tests/unit/test_hb4_direct_dispatch.py compares the scope the route sees with the walk's for every route of
        every service."""
        orders = self._order.get(id(router)) if router is not self.router and scope["type"] == "http" else None
        if orders is not None:
            order = orders.get(scope["method"]) or orders[None]
            for entry in order:  # the walk takes the first full match in this order, whatever matched partly before
                if type(entry) is _Leaf:
                    match, child = entry.context.matches(scope)
                    if match is Match.FULL:
                        await self._handle(router, entry, child, scope, receive, send)
                        return
                elif entry.matches(scope)[0] is Match.FULL:
                    break  # another kind of route: FastAPI's walk handles it
        await router.app(scope, receive, send)

    @staticmethod
    async def _handle(router: APIRouter, leaf: _Leaf, child: Scope, scope: Scope, receive: Receive,
                      send: Send) -> None:
        """What FastAPI's `APIRouter.app`, `_IncludedRouter.handle` and `_handle_selected` do for a route of an
        included router that matched fully, in their order."""
        _apply_router_form_limits(scope, router.form_limits)
        if "router" not in scope:
            scope["router"] = router
        _route_selected(scope=scope, path=getattr(leaf.chain[0], "path_format", None), mount=False)
        for included in leaf.chain:
            _apply_router_form_limits(scope, included.include_context.form_limits)
            _get_fastapi_scope(scope)[_FASTAPI_INCLUDED_ROUTER_KEY] = included
        child["route"] = leaf.route  # as `APIRoute.matches` adds it
        _update_scope(scope, child)
        _route_selected(scope=scope, path=leaf.selected, mount=False)
        _get_fastapi_scope(scope)[_FASTAPI_EFFECTIVE_ROUTE_CONTEXT_KEY] = leaf.context
        scope["route"] = leaf.route
        await leaf.route.handle(scope, receive, send)


#: the key a HEAD's scope, run as its GET, carries (`answering_head`)
HEAD_MARK = "jusou.head"


def answering_head(scope: Scope) -> bool:
    """Whether this request, run as a GET, answers a HEAD: a GET route that starts or finishes something outside the
    event store (a sign-in at the city's IdP: its flow's data, the session) refuses it (shared/web/ui.py)."""
    return bool(scope.get(HEAD_MARK))


#: what the route's matching leaves in the scope, given back to a HEAD's own scope (metrics, logs: its route)
_MATCHED_KEYS = ("route", "endpoint", "path_params")


async def head_as_get(app: Any, scope: Scope, receive: Receive, send: Send) -> None:
    """A HEAD answered as its GET (matched and run with the method GET, in a scope of its own: the server still sees
    HEAD and sends no body); a streamed body ends after its first part, the rest not made. Nothing is recorded
    meanwhile (`reading_head`)."""
    as_get = {**scope, "method": "GET", HEAD_MARK: True}
    ended = False
    with anyio.CancelScope() as streaming:

        async def headers_first(message: Message) -> None:
            nonlocal ended
            if ended:
                return
            if message["type"] == "http.response.body" and message.get("more_body", False):
                ended = True  # a stream (a page's live updates): its headers, then the end, and no more of it
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                streaming.cancel()
                return
            await send(message)

        try:
            with reading_head():
                await app(as_get, receive, headers_first)
        finally:
            for key in _MATCHED_KEYS:
                if key in as_get:
                    scope[key] = as_get[key]


def included_routers(router: APIRouter, seen: set[int] | None = None) -> Iterator[APIRouter]:
    """Every router included in `router`, at any depth, each once."""
    seen = set() if seen is None else seen
    for route in router.routes:
        if isinstance(route, _IncludedRouter) and id(route.original_router) not in seen:
            seen.add(id(route.original_router))
            yield route.original_router
            yield from included_routers(route.original_router, seen)


def included_routes(router: APIRouter, seen: set[int] | None = None) -> Iterator[tuple[APIRouter, APIRoute]]:
    """(its router, route) for every route of the routers included in `router`, at any depth, each router once.
    A route's `endpoint` changed here is what FastAPI builds the included route from once the router is marked
    changed (`router._mark_routes_changed()`: shared/web/hops.py, shared/web/retry.py)."""
    seen = set() if seen is None else seen
    for route in router.routes:
        if isinstance(route, _IncludedRouter) and id(route.original_router) not in seen:
            seen.add(id(route.original_router))
            for inner in route.original_router.routes:
                if isinstance(inner, APIRoute):
                    yield route.original_router, inner
            yield from included_routes(route.original_router, seen)


def _dependants(routes: Iterable[Any]) -> Iterator[Any]:
    """The dependant FastAPI solves for each route (an included router's: as built for its inclusion, which FastAPI
    builds again when the routes change, and the index with them)."""
    for route in routes:
        if isinstance(route, _IncludedRouter):
            for context in route.effective_route_contexts():
                if isinstance(context.original_route, APIRoute) and context.dependant is not None:
                    yield context.dependant
        elif isinstance(route, APIRoute):
            yield route.dependant


def install(api: FastAPI, settled: Callable[[list[Any]], list[Any]] | None = None) -> RouteIndex | None:
    """Match the app's requests through a `RouteIndex`; None (FastAPI's walk kept) when its router's entry is
    not the plain one (router-level middleware). `settled(dependencies)`: of a route's dependencies (its
    dependant's, in order), those FastAPI still solves per request, without those whose check the app makes
    otherwise (shared/web/policy.py `gate_checked`); the route still declares them (its `dependencies`, the OpenAPI
    document), and where the index is not used (an app with low-priority routes) FastAPI solves them as before."""
    router = api.router
    if getattr(router, "middleware_stack", None) != router.app:
        return None
    index = RouteIndex(router, settled)
    router.middleware_stack = index
    return index
