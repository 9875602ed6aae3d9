"""`Staff` and `Who` (shared/web/deps.py) are resolved in the request's own task: no thread-pool hop per request
(issue 19), and they say who is acting as `staff` and `principal` do."""

from __future__ import annotations

from typing import Any

import fastapi.dependencies.utils as fastapi_dependencies
import pytest
from fastapi import Depends, FastAPI, Request
from fastapi.testclient import TestClient
from support.municipality import ELDERLY

from shared.web.auth import Principal
from shared.web.deps import Staff, Who, principal, staff

SOMEONE = Principal("kouki-012", ELDERLY.division, frozenset({"counselor"}))


def _app() -> FastAPI:
    async def signed_in(request: Request) -> None:
        request.state.principal = SOMEONE

    api = FastAPI(dependencies=[Depends(signed_in)])

    @api.get("/staff")
    async def acting(actor: Staff) -> dict[str, str]:
        return actor

    @api.get("/who")
    async def who(reader: Who) -> dict[str, str]:
        return {"staff_id": reader.staff_id}

    @api.get("/old")
    async def old(actor: dict[str, str] = Depends(staff), reader: Principal = Depends(principal)) -> dict[str, str]:
        return {**actor, "reader": reader.staff_id}

    return api


@pytest.fixture
def hops(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every dependency FastAPI sends to its thread pool, by name (and run there, as before)."""
    seen: list[str] = []
    original = fastapi_dependencies.run_in_threadpool

    async def counted(func: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(getattr(func, "__name__", repr(func)))
        return await original(func, *args, **kwargs)

    monkeypatch.setattr(fastapi_dependencies, "run_in_threadpool", counted)
    return seen


def test_staff_and_who_are_resolved_without_a_thread_hop(hops: list[str]) -> None:
    client = TestClient(_app())
    assert client.get("/staff").json() == {"staff_id": "kouki-012", "division": ELDERLY.division}
    assert client.get("/who").json() == {"staff_id": "kouki-012"}
    assert hops == []


def test_the_plain_functions_as_dependencies_hop_to_a_thread(hops: list[str]) -> None:
    """What `Staff` and `Who` replace: the same answer, one hop each (the count the test above holds at zero)."""
    assert TestClient(_app()).get("/old").json() == {"staff_id": "kouki-012", "division": ELDERLY.division,
                                                    "reader": "kouki-012"}
    assert sorted(hops) == ["principal", "staff"]
