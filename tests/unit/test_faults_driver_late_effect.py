"""The fault harness's client (tests/faults/journeys.py `Driver.command`): a command without an Idempotency-Key whose
first try timed out (outcome unknown), whose probe then found nothing, and whose resend is refused 409 because the first
try took effect after the probe looked, is found by probing again; it is not a journey that "differs".

Found by the session-22 rehearsal: on PostgreSQL with its connections cut, `POST outreach/cases/{id}/plans` timed out
on the client after 15 s while the service was still at work; the probe found no Plan.Drafted yet, the resend was
refused 409 open_plan_exists, and the harness counted the journey as differing from the fault-free run.
A 409 with nothing to find stays a failure."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from faults.journeys import Driver, JourneyFailed


def driver(handler: Any) -> Driver:
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    gate = asyncio.Event()
    gate.set()
    return Driver({"outreach": "http://outreach"}, client, gate, deadline_s=2.0, poll_s=0.01, keyed_share=0.0)


async def test_a_resend_refused_409_after_an_unknown_outcome_is_probed_again_and_counted_as_taken_effect() -> None:
    tries: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        tries.append(request.method)
        if len(tries) == 1:
            raise httpx.ReadTimeout("the service still at work", request=request)
        return httpx.Response(409, json={"detail": "open plan", "code": "open_plan_exists"})

    looks: list[int] = []

    async def probe() -> dict[str, Any] | None:  # the first look comes before the first try's commit
        looks.append(1)
        return {"plan_id": "p-1"} if len(looks) >= 3 else None

    d = driver(handler)
    found = await d.command("POST", "outreach", "/cases/c/plans", {}, {}, probe=probe, acked=lambda b: [])
    assert found == {"plan_id": "p-1"} and tries == ["POST", "POST"], (found, tries)
    assert d.tally.took_effect == 1 and any("409 on the resend" in u for u in d.unknown), d.unknown


async def test_a_409_after_an_unknown_outcome_with_nothing_to_find_is_still_a_failure() -> None:
    tries: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        tries.append(request.method)
        if len(tries) == 1:
            raise httpx.ReadTimeout("cut", request=request)
        return httpx.Response(409, json={"detail": "something else", "code": "open_plan_exists"})

    async def probe() -> dict[str, Any] | None:
        return None

    with pytest.raises(JourneyFailed, match="409"):
        await driver(handler).command("POST", "outreach", "/cases/c/plans", {}, {}, probe=probe, acked=lambda b: [])


async def test_a_409_on_a_first_try_is_a_refusal_not_probed() -> None:
    looks: list[int] = []

    async def probe() -> dict[str, Any] | None:
        looks.append(1)
        return {"plan_id": "p-1"}

    with pytest.raises(JourneyFailed, match="409"):
        await driver(lambda r: httpx.Response(409, json={"code": "open_plan_exists"})).command(
            "POST", "outreach", "/cases/c/plans", {}, {}, probe=probe, acked=lambda b: [])
    assert looks == []
