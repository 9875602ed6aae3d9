"""`jusou status` (a real process) against the running suite: positions and lags as the services and
JetStream know them, and a stopped service shown as down (停止) with exit code 1."""

from __future__ import annotations

from typing import Any

import httpx
import nats
from rich.console import Console
from support.auth import reader
from support.journey import Journey
from support.ops import jusou_json
from support.poll import eventually

from jusou.ops import render_status
from jusou.runner import Suite
from shared.contract.events import DEAD_LETTER_PREFIX, DEAD_LETTER_STREAM, STREAM


async def _readyz(suite: Suite, names: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    async with httpx.AsyncClient(timeout=10, headers=reader()) as client:
        return {name: (await client.get(f"{suite.url(name)}/readyz")).json() for name in names}


async def _jetstream(url: str) -> tuple[Any, dict[str, Any], dict[str, int]]:
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        stream = await js.stream_info(STREAM)
        consumers = {c.name: c for c in await js.consumers_info(STREAM)}
        parked = await js.stream_info(DEAD_LETTER_STREAM, subjects_filter=f"{DEAD_LETTER_PREFIX}.>")
        return stream.state, consumers, dict(parked.state.subjects or {})
    finally:
        await nc.close()


async def test_status_shows_positions_lag_and_a_stopped_service_as_down(running_suite: Suite, journey: Journey) -> None:
    # collaboration stops; intake goes on: its three new events wait for collaboration's consumer.
    running_suite.kill("collaboration")
    await journey.receive_and_escalate()
    up = tuple(name for name in running_suite.services if name != "collaboration")

    async def quiet() -> bool:
        _, consumers, _ = await _jetstream(running_suite.nats_url)
        ready = await _readyz(running_suite, up)
        return all(c.num_ack_pending == 0 and (c.num_pending == 0 or c.name.startswith("collaboration--"))
                   for c in consumers.values()) and all(r["relay_position"] == r["store_position"]
                                                        for r in ready.values())

    await eventually(quiet, "every running relay and consumer to catch up")
    status = jusou_json(running_suite, "status", code=1)
    ready = await _readyz(running_suite, up)
    stream, consumers, parked = await _jetstream(running_suite.nats_url)

    assert status["ok"] is False and status["down"] == ["collaboration"]
    assert status["services"]["collaboration"]["health"] == "down"
    [lagging] = [c for c in status["services"]["collaboration"]["consumers"] if c["name"] == "collaboration--intake"]
    # CaseEscalated; intake's ConsultationReceived and ConsentRecorded are not of the types collaboration takes, which
    # its consumer filters one by one (filter_subjects), so nats-server never counts them for it
    assert lagging["pending"] == 1
    assert lagging["delivered"] == consumers["collaboration--intake"].delivered.stream_seq
    for name in up:
        row = status["services"][name]
        assert row["health"] == "ready", name
        for key in ("store_position", "relay_position", "published", "applied"):
            assert row[key] == ready[name][key], (name, key)
        assert row["relay_lag"] == 0
        assert row["dead_letters"] == sum(n for subject, n in parked.items() if subject.split(".")[1] == name)
        for consumer in (c for c in row["consumers"] if c["stream"] == STREAM):
            known = consumers[consumer["name"]]
            assert (consumer["delivered"], consumer["pending"]) == (known.delivered.stream_seq, 0)
        assert f"{name}--replay" in {c["name"] for c in row["consumers"]}  # every service consumes something
    assert status["nats"]["up"] is True and status["nats"]["version"]
    jusou_row = status["nats"]["streams"][STREAM]
    assert (jusou_row["messages"], jusou_row["last_seq"]) == (stream.messages, stream.last_seq)
    assert status["nats"]["connections"] >= 2 * len(up)  # a relay and a broker connection per running service

    console = Console(record=True, width=120)  # the table `jusou status` prints, from the same data
    console.print(render_status(status))
    table = console.export_text()
    assert "停止" in next(line for line in table.splitlines() if line.strip().startswith("collaboration "))
    assert "稼働中" in next(line for line in table.splitlines() if line.strip().startswith("intake "))
