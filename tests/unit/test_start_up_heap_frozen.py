"""A service process freezes what its start-up made once it is up (shared/web/http.py `freeze_start_up_heap`, issue
19): the cyclic garbage collector's full collections then walk only what requests made since, instead of every
import, route and store object, and stop the process (its relay and its store connections' holders too) for far less.
A test's app (TestClient, the unit tests' lifespans) is not frozen: only `serve` asks for it."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi import FastAPI

from services.intake.application import IntakeApplication
from services.intake.translate import translate
from shared.web import http, serve


class Runtime:
    async def close(self) -> None:
        return None


@pytest.fixture
def unfrozen(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    async def opened(*_: Any) -> Runtime:
        return Runtime()

    monkeypatch.setattr(http, "open_runtime", opened)
    gc.unfreeze()
    yield
    gc.unfreeze()  # the test process's own heap stays collectable


def app(freeze: bool) -> FastAPI:
    api = FastAPI()
    api.state.metrics = SimpleNamespace(observe=lambda *_: None)
    if freeze:
        api.state.freeze_start_up_heap = True
    return api


async def test_a_service_process_freezes_its_start_up_heap_once_up(unfrozen: None) -> None:
    async with http._lifespan("intake", IntakeApplication, translate)(app(freeze=True)):
        assert gc.get_freeze_count() > 1000  # imports, routes, the application: thousands of objects


async def test_a_tests_app_is_not_frozen(unfrozen: None) -> None:
    async with http._lifespan("intake", IntakeApplication, translate)(app(freeze=False)):
        assert gc.get_freeze_count() == 0


def test_serve_asks_its_lifespan_to_freeze(monkeypatch: pytest.MonkeyPatch) -> None:
    served: list[FastAPI] = []
    monkeypatch.setattr(serve, "exit_if_unsupported_nats", lambda *_: None)
    monkeypatch.setattr(serve.uvicorn, "run", lambda api, **_: served.append(api))
    api = app(freeze=False)
    serve.serve("intake", api)
    assert served == [api] and api.state.freeze_start_up_heap is True
