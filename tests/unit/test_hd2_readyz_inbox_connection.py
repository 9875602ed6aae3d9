"""/readyz says "bus unreachable" (503) when the consumers' NATS connection is closed, not only the relay's.

The review from outside (2026-12-07): a dead letter over NATS's max_payload made nats-server close the consumers'
connection (the broker's), and nats-py never reconnects after such an `-ERR`: every consumer of collaboration and the
meeting failed once a second for good while /readyz answered 200 "ready", as it looked only at the relay's own
connection. The cause is fixed (shared/messaging/natsheaders.py `within_max_payload`); any other final `-ERR` would do
the same, and readyz is what `jusou up`, `jusou status` and a load balancer ask."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest

from shared.web import http


def runtime(relay_up: bool, inbox_up: bool | None) -> Any:
    async def store_head() -> int:
        return 3

    readmodels = SimpleNamespace(position=lambda: 3, quarantined=list)
    connection = None if inbox_up is None else SimpleNamespace(is_connected=inbox_up)
    return SimpleNamespace(
        store_head=store_head, app=SimpleNamespace(readmodels=readmodels),
        relay=SimpleNamespace(nc=SimpleNamespace(is_connected=relay_up), problems=list, position=3,
                              saved_position=3, published=3),
        inbox=SimpleNamespace(broker=SimpleNamespace(connection=connection), problems=list, applied=0,
                              duplicates=0, dead_lettered=0))


@pytest.mark.parametrize(("relay_up", "inbox_up", "status", "code"), [
    (True, True, "ready", 200),
    (True, False, "bus unreachable", 503),  # the consumers' connection closed for good: what readyz missed
    (True, None, "bus unreachable", 503),  # not connected yet
    (False, True, "bus unreachable", 503),
])
async def test_readyz_asks_the_consumers_connection_too(relay_up: bool, inbox_up: bool | None, status: str, code: int,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http, "tracking_positions", lambda app: {})

    answer = await http._readiness(runtime(relay_up, inbox_up), "collaboration")

    assert (answer.status_code, json.loads(answer.body)["status"]) == (code, status)
