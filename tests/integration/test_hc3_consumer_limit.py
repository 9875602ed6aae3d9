"""JUSOU's consumer limit is explicit (HE's finding, the lead's request, session 21): nats-server 2.15 gives a stream
that sets no `max_consumers` 1,000, integrators' included, below Jusou's own 19 × (1 + 64) with partitions. JUSOU is
made with MAX_CONSUMERS (4,096); an existing JUSOU below it is raised by the operator's start (`jusou up`, `jusou
cluster up`, `jusou nats init`), nothing else of it changed and a higher limit left; `jusou audit verify` on a JUSOU
full of consumers says what to do (status 3), where it ended in nats-py's traceback."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import nats as nats_py
import pytest
from nats.js.api import AckPolicy, ConsumerConfig
from support.servers import Nats

from jusou.cli import main
from jusou.runner import create_streams, run_async
from shared.contract.events import STREAM
from shared.messaging.bus import MAX_CONSUMERS, STREAMS


async def jusou_stream(url: str) -> tuple[int, int]:
    nc = await nats_py.connect(url)
    try:
        info = await nc.jetstream().stream_info(STREAM)
        return info.config.max_consumers or -1, info.state.messages
    finally:
        await nc.close()


def test_jusou_is_made_with_the_suites_consumer_limit(nats: Nats) -> None:
    run_async(create_streams(nats.url))
    assert asyncio.run(jusou_stream(nats.url))[0] == MAX_CONSUMERS > 19 * (1 + 64)


@pytest.mark.parametrize("before", [-1, 1000, 8192])
def test_the_operators_init_raises_an_existing_jusous_limit_and_keeps_its_events(
        nats: Nats, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], before: int) -> None:
    async def old_stream() -> None:  # made by a release before this one (or with a limit the operator chose)
        nc = await nats_py.connect(nats.url)
        try:
            await nc.jetstream().add_stream(dataclasses.replace(STREAMS[0], max_consumers=before))
            await nc.jetstream().publish("jusou.intake.CaseOpened", b"{}", headers={"Nats-Msg-Id": "one"})
        finally:
            await nc.close()

    asyncio.run(old_stream())
    monkeypatch.setenv("NATS_URL", nats.url)
    assert main(["nats", "init"]) == 0
    assert asyncio.run(jusou_stream(nats.url)) == (max(before, MAX_CONSUMERS), 1)  # raised, never lowered; kept
    said = capsys.readouterr().out
    assert (f"raised from {before}" in said) == (before < MAX_CONSUMERS), said


def test_audit_verify_on_a_jusou_full_of_consumers_says_what_to_do_with_status_3(
        nats: Nats, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    async def full() -> None:
        nc = await nats_py.connect(nats.url)
        js = nc.jetstream()
        try:
            await js.add_stream(dataclasses.replace(STREAMS[0], max_consumers=1))
            await js.publish("jusou.intake.CaseOpened", b"{}", headers={"Nats-Msg-Id": "one"})
            await js.add_consumer(STREAM, ConsumerConfig(durable_name="someone", ack_policy=AckPolicy.EXPLICIT))
        finally:
            await nc.close()

    asyncio.run(full())
    monkeypatch.setenv("NATS_URL", nats.url)
    monkeypatch.setenv("JUSOU_DATA_DIR", str(tmp_path))
    assert main(["audit", "verify"]) == 3
    err = capsys.readouterr().err
    assert "as many consumers as its limit allows" in err and "jusou nats init" in err and "Traceback" not in err, err
