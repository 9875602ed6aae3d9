"""JUSOU_DLQ and JUSOU_REPLAY are bounded, and a full one loses no letter (the operator review, session 21).

They grew without bound. Now each has a byte limit an operator sets (JUSOU_DLQ_MAX_BYTES, JUSOU_REPLAY_MAX_BYTES,
1 GiB by default, `0` none) and discards *new*: a full dead-letter stream refuses the next letter instead of dropping
the oldest. A consumer that must park a message then keeps it unacknowledged and tries again; once there is room (the
operator raised the limit with `jusou nats init --limits`) it is parked and acknowledged, so nothing is lost. `jusou
status` names a stream 90 % full (exit 1); `--limits` refuses a limit below what a stream holds (nats-server would drop
its oldest letters to fit)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import nats as nats_py
import pytest
from nats.js.api import DiscardPolicy
from nats.js.errors import APIError
from support.poll import eventually
from support.servers import Nats, free_port

from jusou import ops
from jusou.runner import ROOT, Suite, create_streams, run_async, subscriptions_of
from shared import settings
from shared.contract.events import DEAD_LETTER_STREAM, REPLAY_STREAM, STREAM

LETTER = b"x" * 900


def jusou(url: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in settings.variable_names()}
    return subprocess.run([sys.executable, "-m", "jusou.cli", *args], cwd=ROOT, timeout=120,
                          env=clean | {"NATS_URL": url, **env}, capture_output=True, text=True, check=False)


def init_limits(url: str, **env: str) -> subprocess.CompletedProcess[str]:
    return jusou(url, "nats", "init", "--limits", **env)


def test_a_full_dead_letter_stream_refuses_the_next_letter_and_keeps_every_old_one(
        nats: Nats, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUSOU_DLQ_MAX_BYTES", "4096")
    run_async(create_streams(nats.url))

    async def fill() -> tuple[int, Any, list[str]]:
        nc = await nats_py.connect(nats.url)
        js = nc.jetstream()
        refused: list[str] = []
        try:
            for n in range(10):
                try:
                    await js.publish("jusou-dlq.meeting.intake.CaseEscalated", LETTER, headers={"Nats-Msg-Id": str(n)})
                except APIError as error:
                    refused.append(str(error))
            info = await js.stream_info(DEAD_LETTER_STREAM)
            first = await js.get_msg(DEAD_LETTER_STREAM, 1)
            return info.state.messages, (info, first), refused
        finally:
            await nc.close()

    kept, (info, first), refused = asyncio.run(fill())
    assert info.config.max_bytes == 4096 and info.config.discard == DiscardPolicy.NEW
    assert refused and 0 < kept < 10 and kept + len(refused) == 10  # what did not fit was refused, said so
    assert first.seq == 1 and first.data == LETTER  # the oldest letter is still there (discard OLD dropped it)
    state = asyncio.run(ops.nats_state(nats.url))
    assert state["streams"][DEAD_LETTER_STREAM]["full"] and state["streams"][DEAD_LETTER_STREAM]["max_bytes"] == 4096

    lower = init_limits(nats.url, JUSOU_DLQ_MAX_BYTES="1024")  # below what it holds: nats-server would drop letters
    assert lower.returncode == 1 and "would drop its oldest letters" in lower.stderr, lower.stdout + lower.stderr
    raised = init_limits(nats.url, JUSOU_DLQ_MAX_BYTES=str(1 << 20))
    assert raised.returncode == 0 and "limit set to 1048576 bytes" in raised.stdout, raised.stdout + raised.stderr
    assert asyncio.run(ops.nats_state(nats.url))["streams"][DEAD_LETTER_STREAM]["messages"] == kept
    assert not asyncio.run(ops.nats_state(nats.url))["streams"][DEAD_LETTER_STREAM]["full"]


def test_the_limits_are_the_documented_defaults_and_0_is_none(nats: Nats, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JUSOU_DLQ_MAX_BYTES", raising=False)
    monkeypatch.setenv("JUSOU_REPLAY_MAX_BYTES", "0")
    run_async(create_streams(nats.url))
    state = asyncio.run(ops.nats_state(nats.url))["streams"]
    assert state[DEAD_LETTER_STREAM]["max_bytes"] == 1 << 30 and state[REPLAY_STREAM]["max_bytes"] is None
    assert state[STREAM]["max_bytes"] is None  # the history itself is never bounded


def test_a_consumer_that_cannot_park_keeps_the_message_and_parks_it_once_there_is_room(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUSOU_DLQ_MAX_BYTES", "64")  # no letter fits: every park is refused
    monkeypatch.setenv("JUSOU_REPLAY_MAX_BYTES", "64")  # nor any replay
    source, event_type = "intake", subscriptions_of("collaboration")["intake"][0]
    ports = {"collaboration": free_port()}
    with Suite(tmp_path / "data", nats_port=free_port(), ports=ports, services=("collaboration",)) as suite:
        user, password = suite.nats_operator()

        async def scenario() -> None:
            nc = await nats_py.connect(suite.nats_url, user=user, password=password)
            js = nc.jetstream()
            try:
                ack = await js.publish(f"jusou.{source}.{event_type}", b"not json: poison",
                                       headers={"Nats-Msg-Id": "hc3-poison"})
                consumer = f"collaboration--{source}"

                async def refused_and_held() -> bool:
                    info = await js.consumer_info(STREAM, consumer)
                    log = suite.log_path("collaboration").read_text(encoding="utf-8", errors="replace")
                    return (info.delivered.stream_seq >= ack.seq and info.ack_floor.stream_seq < ack.seq
                            and "inbox.run_failed" in log)

                await eventually(refused_and_held, "the park refused and the message held unacknowledged")
                assert (await js.stream_info(DEAD_LETTER_STREAM)).state.messages == 0
                raised = await asyncio.to_thread(init_limits, suite.nats_url, JUSOU_DLQ_MAX_BYTES=str(1 << 20),
                                                 JUSOU_REPLAY_MAX_BYTES="64", NATS_USER=user or "",
                                                 NATS_PASSWORD=password or "")
                assert raised.returncode == 0, raised.stdout + raised.stderr

                async def parked() -> bool:
                    info = await js.consumer_info(STREAM, consumer)
                    letters = (await js.stream_info(DEAD_LETTER_STREAM)).state.messages
                    return letters == 1 and info.ack_floor.stream_seq >= ack.seq

                await eventually(parked, "the letter parked and the original acknowledged once there was room")
                letter = await js.get_msg(DEAD_LETTER_STREAM, 1)
                assert letter.data == b"not json: poison" and (letter.headers or {})["Jusou-Original-Subject"] == (
                    f"jusou.{source}.{event_type}")

                login = {"NATS_USER": user or "", "NATS_PASSWORD": password or ""}
                refused = await asyncio.to_thread(jusou, suite.nats_url, "deadletters", "replay", "1", **login)
                assert refused.returncode == 1, refused.stdout + refused.stderr  # it was a traceback
                assert "not replayed" in refused.stderr and "JUSOU_REPLAY_MAX_BYTES" in refused.stderr, refused.stderr
                assert "Traceback" not in refused.stderr
                assert (await js.stream_info(REPLAY_STREAM)).state.messages == 0
                assert (await js.stream_info(DEAD_LETTER_STREAM)).state.messages == 1  # the letter is kept
                room = await asyncio.to_thread(init_limits, suite.nats_url, JUSOU_REPLAY_MAX_BYTES=str(1 << 20),
                                               JUSOU_DLQ_MAX_BYTES=str(1 << 20), **login)
                assert room.returncode == 0, room.stdout + room.stderr
                replayed = await asyncio.to_thread(jusou, suite.nats_url, "deadletters", "replay", "1", **login)
                assert "as JUSOU_REPLAY #1" in replayed.stdout, replayed.stdout + replayed.stderr  # (poison: parked again)
                assert (await js.stream_info(REPLAY_STREAM)).state.messages == 1
            finally:
                await nc.close()

        asyncio.run(scenario())
