"""A command that loses an optimistic race against the service's own inbox runs again on the fresh
record (shared/web/retry.py); a conflict that persists is still a 409, and nothing is half-written.

The store is a real (in-memory) eventsourcing application: the "background" change is a real save of
the same aggregate between the command's load and its save, as the inbox's reaction would make.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

from eventsourcing.domain import event
from eventsourcing.persistence import IntegrityError
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient
from support.municipality import LEAD

from shared.kernel.app import ServiceApplication
from shared.kernel.journey import JourneyAggregate, acting
from shared.web.retry import TRIES, retry_conflicts

STAFF = {"staff_id": "c1", "division": LEAD}


class Ledger(JourneyAggregate):
    def __init__(self, case_id: UUID) -> None:
        self.case_id = case_id
        self.lines: list[str] = []

    @event("Written")
    def write(self, line: str) -> None:
        self.lines.append(line)


class LedgerApplication(ServiceApplication):
    service = "community"

    def open(self) -> UUID:
        with acting(STAFF):
            ledger = Ledger(case_id=uuid4())
        self.save(ledger)
        return ledger.id

    def write(self, ledger_id: UUID, line: str, meanwhile: Any = None) -> None:
        ledger: Ledger = self.repository.get(ledger_id)
        if meanwhile is not None:
            meanwhile()  # another writer saves the same record now, as the inbox would
        with acting(STAFF):
            ledger.write(line)
        self.save(ledger)

    def lines(self, ledger_id: UUID) -> list[str]:
        ledger: Ledger = self.repository.get(ledger_id)
        return ledger.lines


def service(app: LedgerApplication, races: int) -> tuple[FastAPI, list[int]]:
    """A route whose first `races` runs lose the race to a background write."""
    api = FastAPI()
    runs: list[int] = []

    @api.exception_handler(IntegrityError)
    async def conflict(request: Request, exc: IntegrityError) -> JSONResponse:
        return JSONResponse(status_code=409, content={"detail": "同時に別の更新がありました"})

    @api.post("/ledgers/{ledger_id}/lines")
    def write(ledger_id: UUID, line: str) -> dict[str, int]:
        runs.append(1)
        racing = len(runs) <= races
        app.write(ledger_id, line, meanwhile=(lambda: app.write(ledger_id, f"inbox {len(runs)}")) if racing else None)
        return {"runs": len(runs)}

    @api.post("/async/ledgers/{ledger_id}/lines")
    async def write_async(ledger_id: UUID, line: str) -> dict[str, int]:
        return write(ledger_id, line)

    retry_conflicts(api)
    return api, runs


def test_a_command_that_lost_the_race_to_the_inbox_runs_again_on_the_fresh_record() -> None:
    app = LedgerApplication()
    ledger_id = app.open()
    api, runs = service(app, races=1)
    answer = TestClient(api).post(f"/ledgers/{ledger_id}/lines", params={"line": "同意を記録"})
    assert answer.status_code == 200 and len(runs) == 2
    assert app.lines(ledger_id) == ["inbox 1", "同意を記録"]  # both kept, once each


def test_an_async_page_route_runs_again_too() -> None:
    app = LedgerApplication()
    ledger_id = app.open()
    api, runs = service(app, races=2)
    answer = TestClient(api).post(f"/async/ledgers/{ledger_id}/lines", params={"line": "経過"})
    assert answer.status_code == 200 and len(runs) == 3
    assert app.lines(ledger_id) == ["inbox 1", "inbox 2", "経過"]


def test_a_conflict_that_persists_is_still_a_409_and_nothing_is_half_written() -> None:
    app = LedgerApplication()
    ledger_id = app.open()
    api, runs = service(app, races=TRIES)
    answer = TestClient(api).post(f"/ledgers/{ledger_id}/lines", params={"line": "負け続け"})
    assert answer.status_code == 409 and len(runs) == TRIES
    assert "負け続け" not in app.lines(ledger_id)


def test_reads_are_never_run_twice() -> None:
    api = FastAPI()
    calls: list[int] = []

    @api.get("/boom")
    def boom() -> None:
        calls.append(1)
        raise IntegrityError("not a command")

    retry_conflicts(api)
    assert TestClient(api, raise_server_exceptions=False).get("/boom").status_code == 500
    assert calls == [1]


def test_a_command_of_a_services_included_router_runs_again_too() -> None:
    """A service's commands are on its routers, which create_service includes: FastAPI (≥ 0.16x) lists each included
    router as one entry of `api.routes`, and the commands on it were never retried. Here through create_service, the
    route a `def` (one hop to a worker thread, shared/web/hops.py) and an `async` one."""
    from types import SimpleNamespace

    from fastapi import APIRouter
    from support.auth import worker

    from shared.web.http import create_service
    from shared.web.policy import requires

    app = LedgerApplication()
    ledger_id = app.open()
    runs: list[int] = []
    router = APIRouter(tags=["ledger"])

    @router.post("/ledgers/{ledger_id}/lines", dependencies=[requires("issue.write")])
    def write(ledger_id: UUID, line: str) -> dict[str, int]:
        runs.append(1)
        racing = len(runs) <= 2
        app.write(ledger_id, line, meanwhile=(lambda: app.write(ledger_id, f"inbox {len(runs)}")) if racing else None)
        return {"runs": len(runs)}

    @router.post("/async/ledgers/{ledger_id}/lines", dependencies=[requires("issue.write")])
    async def write_async(ledger_id: UUID, line: str) -> dict[str, int]:
        return write(ledger_id, line)

    api = create_service("community", LedgerApplication, lambda event, position: None, router)
    api.state.runtime = SimpleNamespace(app=app)  # no lifespan: the route works on `app` itself
    client = TestClient(api)

    answer = client.post(f"/ledgers/{ledger_id}/lines", params={"line": "経過"}, headers=worker("community"))
    assert (answer.status_code, answer.json(), len(runs)) == (200, {"runs": 3}, 3), answer.text
    runs.clear()
    answer = client.post(f"/async/ledgers/{ledger_id}/lines", params={"line": "支援"}, headers=worker("community"))
    assert answer.status_code == 200 and len(runs) == 3
    assert app.lines(ledger_id) == ["inbox 1", "inbox 2", "経過", "inbox 1", "inbox 2", "支援"]
