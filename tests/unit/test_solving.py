"""FastAPI's facts about a dependency, worked out once (shared/web/solving.py, issue 19): the answers are FastAPI's own
for every dependency of every service, the functions replaced are those `solve_dependencies` calls (an upgrade of
FastAPI that renames or stops calling them fails here), and an entry never answers for another object."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from functools import partial
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.dependencies import models, utils
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, _IncludedRouter
from fastapi.testclient import TestClient

from shared.web import solving

SERVICES = ("intake", "collaboration", "meeting", "outreach", "participation", "community")


def apis() -> dict[str, FastAPI]:
    return {service: importlib.import_module(f"services.{service}.main").api for service in SERVICES}


def dependants(api: FastAPI) -> Iterator[Dependant]:
    """Every dependant FastAPI solves for the app's routes (included routers' as built for their inclusion), and
    every dependency below each."""
    def below(dependant: Dependant) -> Iterator[Dependant]:
        yield dependant
        for sub in dependant.dependencies:
            yield from below(sub)

    for route in api.router.routes:
        if isinstance(route, _IncludedRouter):
            for context in route.effective_route_contexts():
                if isinstance(context.original_route, APIRoute):
                    yield from below(context.dependant)
        elif isinstance(route, APIRoute):
            yield from below(route.dependant)


def test_every_service_dependency_gets_fastapis_own_answers() -> None:
    seen = 0
    for service, api in apis().items():
        assert utils._get_cache_key is solving.get_cache_key, f"{service}: create_service installs the tables"
        for dependant in dependants(api):
            for _ in range(2):  # the first answer is worked out, the second comes from the table
                assert solving.get_cache_key(dependant=dependant) == models._get_cache_key(dependant=dependant)
                assert solving.is_gen_callable(dependant.call) == models._is_gen_callable(dependant.call)
                assert solving.is_async_gen_callable(dependant.call) == models._is_async_gen_callable(dependant.call)
                assert solving.is_coroutine_callable(dependant.call) == models._is_coroutine_callable(dependant.call)
            seen += 1
    assert seen > 500  # six services' routes, each with its app-wide and own dependencies


def test_the_replaced_functions_are_those_solve_dependencies_calls() -> None:
    """An upgrade of FastAPI that stops calling these (or renames them) fails here: look at shared/web/solving.py."""
    solving.install()
    called = set(utils.solve_dependencies.__code__.co_names)
    assert set(solving.PATCHED) <= called
    for name, replacement in solving.PATCHED.items():
        assert getattr(utils, name) is replacement
        assert solving.ORIGINAL[name] is getattr(models, name)  # FastAPI's own, where FastAPI defines them


def test_the_answers_of_generators_coroutines_and_scoped_dependencies() -> None:
    def plain() -> int:
        return 1

    async def coroutine() -> int:
        return 1

    def generator() -> Iterator[int]:
        yield 1

    async def async_generator() -> Any:
        yield 1

    class Callable:
        async def __call__(self) -> int:
            return 1

    for call in (plain, coroutine, generator, async_generator, Callable(), partial(coroutine), Callable):
        facts = (models._is_gen_callable(call), models._is_async_gen_callable(call), models._is_coroutine_callable(call))
        assert (solving.is_gen_callable(call), solving.is_async_gen_callable(call),
                solving.is_coroutine_callable(call)) == facts
        for scope in (None, "function", "request"):
            dependant = Dependant(call=call, scope=scope)  # type: ignore[arg-type]
            assert solving.get_cache_key(dependant=dependant) == models._get_cache_key(dependant=dependant)


def test_an_entry_answers_only_for_the_same_dependant_and_call() -> None:
    async def first() -> int:
        return 1

    def second() -> Iterator[int]:
        yield 2

    dependant = Dependant(call=first)
    assert solving.get_cache_key(dependant=dependant) == (first, (), "")
    dependant.call = second  # a dependant given another callable: its key is worked out again
    assert solving.get_cache_key(dependant=dependant) == (second, (), "request")
    other = Dependant(call=first, scope="request")
    assert solving.get_cache_key(dependant=other) == (first, (), "request")


def test_the_tables_are_bounded() -> None:
    for _ in range(solving.LIMIT + 10):
        async def made() -> None:
            return None
        solving.is_coroutine_callable(made)
        solving.get_cache_key(dependant=Dependant(call=made))
    assert len(solving._calls) <= solving.LIMIT
    assert len(solving._keys) <= solving.LIMIT


def test_dependency_overrides_and_request_caching_answer_as_before() -> None:
    """A dependency used twice is solved once per request (FastAPI's cache key), and an override replaces it."""
    solving.install()
    calls: list[str] = []

    async def counted() -> str:
        calls.append("counted")
        return "real"

    async def uses(value: str = Depends(counted)) -> str:
        return value

    api = FastAPI()

    @api.get("/")
    async def root(a: str = Depends(counted), b: str = Depends(uses)) -> list[str]:
        return [a, b]

    with TestClient(api) as client:
        assert client.get("/").json() == ["real", "real"]
        assert calls == ["counted"]
        api.dependency_overrides[counted] = lambda: "override"
        assert client.get("/").json() == ["override", "override"]
        assert calls == ["counted"]
