"""D9 on the bus: a message claiming the position of an event its source keeps private is reported as forged.

The relay tells its own messages from forged ones by the (`source_position`, `event_id`) a message claims: the id
of the event its store holds at that position (shared/messaging/relay.py `_not_ours`). Most positions hold events
that are never published (a person shown on a basis, `Case.PersonDisclosed`; the meeting's notes on the case), and
their `event_id` is as predictable as any (uuid5 of service, aggregate and version: the case's versions can be
counted off its public events' ids). Someone holding intake's NATS password published, on intake's own subject, a
ConsentRecorded granting the consent of a case whose consent had just been withdrawn, claiming the position and id of
the disclosure the counselor's look at the person recorded after the withdrawal. The relay found it "ours", so no
`/readyz` said anything; the position was real, so the meeting's tracking moved nowhere odd; and the meeting took the
consent for granted again (review HC, session 19). The store holds no such message at that position: it is foreign,
and intake's `/readyz` says so (`degraded`), as for any message its store never recorded (README "A forged message on
the bus": what the forged message did stays recorded and is corrected with the meeting's own commands).

Its own suite: the forged message stays on intake's subject.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
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
from shared.kernel.journey import event_id_of
from shared.messaging import natsauth

COUNTER_STAFF = staff_headers("kouki-012", ELDERLY.division, "counselor")
SCOPE = "重層的支援会議での情報共有"


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Suite]:
    with suite_as_jusou_up_runs_it(tmp_path_factory.mktemp("private-position")) as running:
        yield running


@pytest.fixture
async def journey(suite: Suite) -> AsyncIterator[Journey]:
    async with journey_on(suite) as made:
        yield made


def newest_stored(suite: Suite) -> tuple[int, str, int, str]:
    """(position, aggregate, version, topic) of intake's newest stored event: what the forger counts off the stream."""
    with sqlite3.connect(f"file:{suite.data_dir / 'intake.sqlite'}?mode=ro", uri=True) as store:
        position, aggregate, version, topic = store.execute(
            "SELECT rowid, originator_id, originator_version, topic FROM stored_events ORDER BY rowid DESC LIMIT 1"
        ).fetchone()
    return int(position), str(aggregate), int(version), str(topic)


async def forge_a_grant_at(suite: Suite, case_id: str, position: int, event_id: str) -> None:
    """As intake's NATS user: intake's last ConsentRecorded of the case, granted, at that position with that id."""
    passwords = natsauth.credentials(suite.data_dir, suite.services)
    nc = await nats_py.connect(suite.nats_url, user="intake", password=passwords["intake"], allow_reconnect=False,
                               connect_timeout=5, inbox_prefix=natsauth.inbox_prefix("intake"))
    try:
        js = nc.jetstream()
        withdrawal: dict[str, Any] = json.loads((await js.get_last_msg(STREAM, "jusou.intake.ConsentRecorded")).data or b"")
        assert withdrawal["case_id"] == case_id and withdrawal["payload"]["granted"] is False, withdrawal
        forged = {**withdrawal, "source_position": position, "event_id": event_id,
                  "payload": {**withdrawal["payload"], "granted": True}}
        await js.publish("jusou.intake.ConsentRecorded", json.dumps(forged).encode(), stream=STREAM,
                         headers={"Nats-Msg-Id": event_id}, timeout=5)
    finally:
        await nc.close()


async def test_d9_a_grant_claiming_a_private_events_position_is_reported_as_foreign(
        suite: Suite, journey: Journey) -> None:
    case_id = await journey.receive_and_escalate()
    await journey.get_when("meeting", f"/consents/{case_id}", lambda c: c["granted"], "the consent at the meeting")
    await journey.post("intake", f"/cases/{case_id}/consent", {"scope": SCOPE, "granted": False, "method": "口頭"},
                       COUNTER_STAFF)
    await journey.get_when("meeting", f"/consents/{case_id}", lambda c: c["granted"] is False,
                           "the withdrawal at the meeting")
    shown = await journey.http.get(suite.url("intake") + f"/cases/{case_id}/person", params={"basis": "own_counter"},
                                   headers=COUNTER_STAFF)
    assert shown.status_code == 200, shown.text
    position, aggregate, version, topic = newest_stored(suite)
    assert topic.endswith("Case.PersonDisclosed"), topic  # an event intake never publishes

    await forge_a_grant_at(suite, case_id, position, str(event_id_of("intake", uuid.UUID(aggregate), version)))

    async def degraded() -> dict[str, Any] | None:
        body: dict[str, Any] = (await journey.http.get(suite.url("intake") + "/readyz")).json()
        return body if body["status"] == "degraded" and body["problems"] else None

    found = await eventually(degraded, "intake's readyz to report the forged grant as a message its store never "
                             "recorded", deadline_s=60)
    assert any("jusou.intake.ConsentRecorded" in str(p) and f"position {position}" in str(p) for p in found["problems"]), \
        found["problems"]
