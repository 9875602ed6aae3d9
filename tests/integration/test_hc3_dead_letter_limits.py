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

import httpx
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


LIMIT = 16 << 20  # the least a limit may be (shared/settings.py MIN_LETTERS_BYTES)


async def fill(js: Any, subject: str, sizes: tuple[int, ...] = (900_000, 90_000, 9_000, 900, 90, 9)) -> int:
    """Publish letters of each size in turn until the stream refuses one: it is then full to within a few bytes
    (never a letter dropped: discard new). The number published."""
    published = 0
    for size in sizes:
        while True:
            try:
                await js.publish(subject, b"x" * size, headers={"Nats-Msg-Id": f"fill-{subject}-{published}"})
            except APIError:
                break
            published += 1
    return published


def jusou(url: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in settings.variable_names()}
    return subprocess.run([sys.executable, "-m", "jusou.cli", *args], cwd=ROOT, timeout=120,
                          env=clean | {"NATS_URL": url, **env}, capture_output=True, text=True, check=False)


def init_limits(url: str, **env: str) -> subprocess.CompletedProcess[str]:
    return jusou(url, "nats", "init", "--limits", **env)


def test_a_full_dead_letter_stream_refuses_the_next_letter_and_keeps_every_old_one(
        nats: Nats, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUSOU_DLQ_MAX_BYTES", str(LIMIT))
    run_async(create_streams(nats.url))

    async def filled() -> tuple[int, Any, Any, str]:
        nc = await nats_py.connect(nats.url)
        js = nc.jetstream()
        try:
            published = await fill(js, "jusou-dlq.meeting.intake.CaseEscalated")
            try:
                await js.publish("jusou-dlq.meeting.intake.CaseEscalated", LETTER, headers={"Nats-Msg-Id": "late"})
                refused = ""
            except APIError as error:
                refused = str(error)
            return published, await js.stream_info(DEAD_LETTER_STREAM), await js.get_msg(DEAD_LETTER_STREAM, 1), refused
        finally:
            await nc.close()

    published, info, first, refused = asyncio.run(filled())
    assert info.config.max_bytes == LIMIT and info.config.discard == DiscardPolicy.NEW
    assert "maximum bytes exceeded" in refused and info.state.messages == published  # refused, said so; none dropped
    assert first.seq == 1 and len(first.data) == 900_000  # the oldest letter is still there (discard OLD dropped it)
    state = asyncio.run(ops.nats_state(nats.url))
    assert state["streams"][DEAD_LETTER_STREAM]["full"] and state["streams"][DEAD_LETTER_STREAM]["max_bytes"] == LIMIT

    lower = init_limits(nats.url, JUSOU_DLQ_MAX_BYTES=str(LIMIT))  # unchanged
    assert lower.returncode == 0 and "limit unchanged" in lower.stdout, lower.stdout + lower.stderr
    raised = init_limits(nats.url, JUSOU_DLQ_MAX_BYTES=str(2 * LIMIT))
    assert raised.returncode == 0 and f"limit set to {2 * LIMIT} bytes" in raised.stdout, raised.stdout + raised.stderr
    assert asyncio.run(ops.nats_state(nats.url))["streams"][DEAD_LETTER_STREAM]["messages"] == published
    assert not asyncio.run(ops.nats_state(nats.url))["streams"][DEAD_LETTER_STREAM]["full"]
    back = init_limits(nats.url, JUSOU_DLQ_MAX_BYTES=str(LIMIT + 1))  # lowered again, still above what it holds
    assert back.returncode == 0, back.stdout + back.stderr


def test_a_limit_below_what_a_stream_holds_is_refused_and_a_tiny_one_never_set(
        nats: Nats, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUSOU_DLQ_MAX_BYTES", str(2 * LIMIT))
    run_async(create_streams(nats.url))

    async def over_limit() -> int:
        nc = await nats_py.connect(nats.url)
        try:
            return await fill(nc.jetstream(), "jusou-dlq.meeting.intake.CaseEscalated", (900_000,))
        finally:
            await nc.close()

    held = asyncio.run(over_limit())  # ~32 MiB
    lower = init_limits(nats.url, JUSOU_DLQ_MAX_BYTES=str(LIMIT))  # nats-server would drop the oldest letters to fit
    assert lower.returncode == 1 and "would drop its oldest letters" in lower.stderr, lower.stdout + lower.stderr
    tiny = init_limits(nats.url, JUSOU_DLQ_MAX_BYTES="4096")  # a letter could be refused with the stream all but empty
    assert tiny.returncode == 2 and "JUSOU_DLQ_MAX_BYTES='4096'" in tiny.stderr and "16 MiB" in tiny.stderr, tiny.stderr
    assert asyncio.run(ops.nats_state(nats.url))["streams"][DEAD_LETTER_STREAM]["messages"] == held


def test_the_limits_are_the_documented_defaults_and_0_is_none(nats: Nats, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JUSOU_DLQ_MAX_BYTES", raising=False)
    monkeypatch.setenv("JUSOU_REPLAY_MAX_BYTES", "0")
    run_async(create_streams(nats.url))
    state = asyncio.run(ops.nats_state(nats.url))["streams"]
    assert state[DEAD_LETTER_STREAM]["max_bytes"] == 1 << 30 and state[REPLAY_STREAM]["max_bytes"] is None
    assert state[STREAM]["max_bytes"] is None  # the history itself is never bounded


def test_a_consumer_that_cannot_park_keeps_the_message_and_parks_it_once_there_is_room(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUSOU_DLQ_MAX_BYTES", str(LIMIT))  # filled below: no letter fits, every park is refused
    monkeypatch.setenv("JUSOU_REPLAY_MAX_BYTES", str(LIMIT))  # nor any replay
    source, event_type = "intake", subscriptions_of("collaboration")["intake"][0]
    ports = {"collaboration": free_port()}
    with Suite(tmp_path / "data", nats_port=free_port(), ports=ports, services=("collaboration",)) as suite:
        user, password = suite.nats_operator()

        async def scenario() -> None:
            nc = await nats_py.connect(suite.nats_url, user=user, password=password)
            js = nc.jetstream()
            try:
                fillers = await fill(js, "jusou-dlq.someone.else.Filler")  # full to within a few bytes
                await fill(js, "jusou-replay.someone.else.Filler")
                ack = await js.publish(f"jusou.{source}.{event_type}", b"not json: poison",
                                       headers={"Nats-Msg-Id": "hc3-poison"})
                consumer = f"collaboration--{source}"

                async def refused_and_held() -> bool:
                    info = await js.consumer_info(STREAM, consumer)
                    log = suite.log_path("collaboration").read_text(encoding="utf-8", errors="replace")
                    return (info.delivered.stream_seq >= ack.seq and info.ack_floor.stream_seq < ack.seq
                            and "inbox.run_failed" in log)

                await eventually(refused_and_held, "the park refused and the message held unacknowledged")

                async def readyz_says(expected: bool) -> bool:  # the lead: readyz named nothing while the letter waited
                    async with httpx.AsyncClient(timeout=5) as client:
                        answer = (await client.get(f"http://127.0.0.1:{ports['collaboration']}/readyz")).json()
                    named = any("cannot be parked" in p for p in answer.get("problems", []))
                    return named == expected and (answer.get("status") == "degraded") == expected

                await eventually(lambda: readyz_says(True), "collaboration's readyz naming the letter it cannot park")
                assert (await js.stream_info(DEAD_LETTER_STREAM)).state.messages == fillers
                raised = await asyncio.to_thread(init_limits, suite.nats_url, JUSOU_DLQ_MAX_BYTES=str(2 * LIMIT),
                                                 JUSOU_REPLAY_MAX_BYTES=str(LIMIT), NATS_USER=user or "",
                                                 NATS_PASSWORD=password or "")
                assert raised.returncode == 0, raised.stdout + raised.stderr

                async def parked() -> bool:
                    info = await js.consumer_info(STREAM, consumer)
                    letters = (await js.stream_info(DEAD_LETTER_STREAM)).state.messages
                    return letters == fillers + 1 and info.ack_floor.stream_seq >= ack.seq

                await eventually(parked, "the letter parked and the original acknowledged once there was room")
                await eventually(lambda: readyz_says(False), "collaboration's readyz clear once the letter was parked")
                seq = (await js.stream_info(DEAD_LETTER_STREAM)).state.last_seq
                letter = await js.get_msg(DEAD_LETTER_STREAM, seq)
                assert letter.data == b"not json: poison" and (letter.headers or {})["Jusou-Original-Subject"] == (
                    f"jusou.{source}.{event_type}")

                login = {"NATS_USER": user or "", "NATS_PASSWORD": password or ""}
                refused = await asyncio.to_thread(jusou, suite.nats_url, "deadletters", "replay", str(seq), **login)
                assert refused.returncode == 1, refused.stdout + refused.stderr  # it was a traceback
                assert "not replayed" in refused.stderr and "JUSOU_REPLAY_MAX_BYTES" in refused.stderr, refused.stderr
                assert "Traceback" not in refused.stderr
                replays = (await js.stream_info(REPLAY_STREAM)).state.messages
                assert (await js.stream_info(DEAD_LETTER_STREAM)).state.messages == fillers + 1  # the letter is kept
                room = await asyncio.to_thread(init_limits, suite.nats_url, JUSOU_REPLAY_MAX_BYTES=str(2 * LIMIT),
                                               JUSOU_DLQ_MAX_BYTES=str(2 * LIMIT), **login)
                assert room.returncode == 0, room.stdout + room.stderr
                replayed = await asyncio.to_thread(jusou, suite.nats_url, "deadletters", "replay", str(seq), **login)
                assert f"as JUSOU_REPLAY #{replays + 1}" in replayed.stdout, replayed.stdout + replayed.stderr
                assert (await js.stream_info(REPLAY_STREAM)).state.messages == replays + 1
            finally:
                await nc.close()

        asyncio.run(scenario())
