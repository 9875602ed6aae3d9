"""One copy of an old message cannot make a relay publish its store again; the copy is reported.

The relay goes on from the newest of its messages on the stream (shared/messaging/relay.py `follow_stream`): one
claiming less than it published means the stream lost its tail, and everything after it is published again. Someone
holding intake's NATS password put on the stream an exact copy of intake's first message (its own `Nats-Msg-Id`, once
the stream's 2-minute duplicate window was past): intake's next publish was refused (the stream no longer ended where
the relay had chained), the copy was taken for the newest, and intake published every event after its first again,
each appended a second time (review HC, session 19): one small message, the whole store republished, with a warning
(`relay.stream_lost_tail`) and no report. What is asked: the relay finds its real newest behind the copy, republishes
nothing, and reports the copy (readyz `degraded`), as any message its store never put there.

Its own suite (the copy stays on intake's subject); it waits out the stream's duplicate window (about 2 minutes).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import nats as nats_py
import pytest
from support.auth import staff_headers
from support.journey import Journey
from support.municipality import ELDERLY
from support.poll import eventually

from jusou.runner import Suite
from security.conftest import journey_on, suite_as_jusou_up_runs_it
from shared.contract.events import STREAM
from shared.messaging import natsauth
from shared.messaging.bus import DUPLICATE_WINDOW_SECONDS

COUNTER_STAFF = staff_headers("kouki-012", ELDERLY.division, "counselor")
INTAKE = "jusou.intake.>"


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Suite]:
    with suite_as_jusou_up_runs_it(tmp_path_factory.mktemp("copied")) as running:
        yield running


@pytest.fixture
async def journey(suite: Suite) -> AsyncIterator[Journey]:
    async with journey_on(suite) as made:
        yield made


async def as_intake(suite: Suite) -> nats_py.NATS:
    passwords = natsauth.credentials(suite.data_dir, suite.services)
    return await nats_py.connect(suite.nats_url, user="intake", password=passwords["intake"], allow_reconnect=False,
                                 connect_timeout=5, inbox_prefix=natsauth.inbox_prefix("intake"))


async def intake_messages(suite: Suite) -> int:
    user, password = suite.nats_operator()
    nc = await nats_py.connect(suite.nats_url, user=user, password=password, allow_reconnect=False)
    try:
        return int((await nc.jetstream().stream_info(STREAM, subjects_filter=INTAKE)).state.messages)
    finally:
        await nc.close()


async def test_a_copy_of_an_old_message_is_reported_and_makes_the_relay_publish_nothing_again(
        suite: Suite, journey: Journey) -> None:
    case_id = await journey.receive_and_escalate()
    await journey.get_when("meeting", f"/consents/{case_id}", lambda c: c["granted"], "the consent at the meeting")
    nc = await as_intake(suite)
    try:
        first = await nc.jetstream().get_msg(STREAM, 1, subject=INTAKE, next=True)
        await asyncio.sleep(DUPLICATE_WINDOW_SECONDS + 5)  # the stream forgets the first message's id
        await nc.jetstream().publish(first.subject or "", first.data or b"", stream=STREAM,
                                     headers={"Nats-Msg-Id": (first.headers or {})["Nats-Msg-Id"]}, timeout=5)
    finally:
        await nc.close()
    before = await intake_messages(suite)  # the copy among them

    await journey.post("intake", f"/cases/{case_id}/consent", {"scope": "重層的支援会議での情報共有", "granted": False,
                                                              "method": "口頭"}, COUNTER_STAFF)

    async def degraded() -> dict[str, Any] | None:
        body: dict[str, Any] = (await journey.http.get(suite.url("intake") + "/readyz")).json()
        return body if body["status"] == "degraded" and body["problems"] else None

    found = await eventually(degraded, "intake's readyz to report the copy")
    assert any("a copy of" in str(p) for p in found["problems"]), found["problems"]
    await journey.get_when("meeting", f"/consents/{case_id}", lambda c: c["granted"] is False,
                           "the withdrawal at the meeting")
    assert await intake_messages(suite) == before + 1  # the withdrawal, and nothing published again
