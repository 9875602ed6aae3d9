"""D9 on the bus: a service's NATS password cannot make the stream drop that service's next events unseen.

`event_id`, which is also `Nats-Msg-Id` (CONTRACT.md), is uuid5 of the service, the aggregate and its version
(shared/kernel/journey.py `event_id_of`): whoever reads a case id on the bus knows the ids of the case's next events.
Someone holding intake's NATS password publishes first, on intake's own subject, a copy of one of intake's messages
carrying those ids as `Nats-Msg-Id`. JetStream then takes each real event published within its duplicate window
(2 minutes) for a duplicate and drops it; the relay took that answer for its own publish and moved on. A consent
withdrawn at the counter never reached the meeting, which went on treating the case as consented, while every
service's `/readyz` said `ready` (review HC, session 19; only `jusou audit verify` noticed, offline).

What is asked: the relay reads the message that holds its event's id; not its own, it is reported at once as a
message intake's store never recorded (readyz `degraded`, README "A forged message on the bus"), and the event is
published once the stream's duplicate window is past, so the withdrawal still reaches the meeting (held, not lost).

Its own suite: the forged messages stay on intake's subjects.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import nats as nats_py
import pytest
from support.auth import reader, staff_headers
from support.journey import Journey
from support.municipality import ELDERLY
from support.poll import eventually

from jusou.runner import Suite
from security.conftest import journey_on, suite_as_jusou_up_runs_it
from shared.contract.events import STREAM
from shared.kernel.journey import event_id_of
from shared.messaging import natsauth
from shared.messaging.bus import DUPLICATE_WINDOW_SECONDS

COUNTER_STAFF = staff_headers("kouki-012", ELDERLY.division, "counselor")
VERSIONS = range(1, 41)  # every version the case can reach in this test, its next ones among them


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Suite]:
    with suite_as_jusou_up_runs_it(tmp_path_factory.mktemp("held-id")) as running:
        yield running


@pytest.fixture
async def journey(suite: Suite) -> AsyncIterator[Journey]:
    async with journey_on(suite) as made:
        yield made


async def hold_the_ids_of(suite: Suite, case_id: str) -> None:
    """As intake's NATS user: a copy of intake's newest message, once per id the case's events have or will have."""
    passwords = natsauth.credentials(suite.data_dir, suite.services)
    nc = await nats_py.connect(suite.nats_url, user="intake", password=passwords["intake"], allow_reconnect=False,
                               connect_timeout=5, inbox_prefix=natsauth.inbox_prefix("intake"))
    try:
        js = nc.jetstream()
        newest = await js.get_last_msg(STREAM, "jusou.intake.>")
        for version in VERSIONS:
            held = str(event_id_of("intake", uuid.UUID(case_id), version))
            await js.publish(newest.subject or "", newest.data or b"", stream=STREAM, headers={"Nats-Msg-Id": held},
                             timeout=5)
    finally:
        await nc.close()


async def test_d9_an_event_whose_message_id_a_forger_holds_is_reported_and_still_reaches_the_meeting(
        suite: Suite, journey: Journey) -> None:
    case_id = await journey.receive_and_escalate()
    await journey.get_when("meeting", f"/consents/{case_id}", lambda c: c["granted"], "the consent at the meeting")

    await hold_the_ids_of(suite, case_id)
    await journey.post("intake", f"/cases/{case_id}/consent",
                       {"scope": "重層的支援会議での情報共有", "granted": False, "method": "口頭"}, COUNTER_STAFF)

    async def degraded() -> dict[str, object] | None:
        body = (await journey.http.get(suite.url("intake") + "/readyz")).json()
        return body if body["status"] == "degraded" and body["problems"] else None

    found = await eventually(degraded, "intake's readyz to report the message holding its event's Nats-Msg-Id")
    assert any("Nats-Msg-Id" in str(p) for p in found["problems"]), found["problems"]

    async def withdrawn() -> dict[str, object] | None:
        response = await journey.http.get(suite.url("meeting") + f"/consents/{case_id}", headers=reader())
        return response.json() if response.status_code == 200 and response.json()["granted"] is False else None

    await eventually(withdrawn, "the withdrawal to reach the meeting once the stream's duplicate window is past (D9)",
                     deadline_s=DUPLICATE_WINDOW_SECONDS + 60)
