"""D9 D12 on the bus: outreach's own NATS credentials cannot hand another division's case to a counter (HI, session 24).

Commit 3a9473d made outreach's start (`POST /engagements {"case_id": …}`) refuse a case the worker's division does not
read at intake. The same hand-over still came over the bus: anyone holding outreach's NATS password published an
`OutreachHandedOver` (to intake, any counter) for a case a counter of another division had received; intake put a
referral for it at the named counter, whose counselor received it and then read the person on the own-counter basis
(D9: no つなぎ, no escalation, no meeting). Now intake takes outreach's hand-over of a case it holds only when a
division that runs outreach reads the case there (services/intake/access.py case_readers: connected to it, escalated,
at a meeting…, the rule the start applies over HTTP); otherwise the message is dead-lettered with the reason and
nothing is recorded. A hand-over of a case intake does not hold (a person outreach met first) goes on as before, and
the legitimate road (escalated, so 福祉総務課's outreach reads it, started, handed to a counter) still works.

The same for a hand-over to collaboration naming a primary agency: intake made it the case's primary, whose division then
read and wrote the case (D11); it too is dead-lettered now.

Its own suite (NATS users per service): the forged messages carry positions outreach's store does not have, so the
legitimate test runs first (file order).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest
from support.auth import staff_headers
from support.journey import Journey
from support.municipality import ELDERLY, HARDSHIP, LEAD, concern
from support.poll import eventually

from jusou.runner import Suite
from security.conftest import COUNTER_STAFF, journey_on, suite_as_jusou_up_runs_it
from security.test_forged_envelope import connect_as, envelope, operator_js
from shared.contract.events import STREAM
from shared.messaging.deadletters import dead_letters

POSITION = 900_000  # a position outreach's store does not have: the message is not one of its own
OUTREACH = staff_headers("outreach-hi6", LEAD, "outreach_worker")
THERE = staff_headers("konkyu-hi6", HARDSHIP.division, "counselor")  # the counter the hand-over names


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Suite]:
    with suite_as_jusou_up_runs_it(tmp_path_factory.mktemp("forged-handover")) as running:
        yield running


@pytest.fixture
async def journey(suite: Suite) -> AsyncIterator[Journey]:
    async with journey_on(suite) as made:
        yield made


async def waiting_there(journey: Journey, case_id: str) -> list[dict[str, Any]]:
    response = await journey.http.get(journey.urls["intake"] + "/referrals", headers=THERE)
    assert response.status_code == 200, response.text
    return [r for r in response.json() if r["case_id"] == case_id]


async def test_d12_outreach_hands_a_case_it_reads_to_a_counter_over_the_bus(journey: Journey) -> None:
    """Escalated at the elderly counter (福祉総務課 reads it), outreach starts on it and hands it to another counter."""
    case_id = await journey.receive_and_escalate()
    await journey.post("outreach", "/engagements", {"case_id": case_id, "referred_by": "民生委員",
                                                    "reason": "訪問しても会えない"}, OUTREACH)
    await journey.post("outreach", f"/engagements/{case_id}/hand-over",
                       {"to_program": "intake", "reason": "家計の相談を希望", "counter": HARDSHIP.code}, OUTREACH)

    async def referred() -> list[dict[str, Any]]:
        return await waiting_there(journey, case_id)

    waiting = await eventually(referred, "the referral at the counter outreach named")
    assert waiting[0]["counter"] == HARDSHIP.code and waiting[0]["person_ref"], waiting


async def counter_case(journey: Journey, name: str) -> str:
    """A case at the elderly counter, which no other division reads (outreach's 福祉総務課 included)."""
    case = await journey.post("intake", "/consultations", {
        "counter": ELDERLY.code, "channel": "窓口", "concerns": [concern("elderly-care")],
        "person": {"name": name, "birth_date": "1950-01-01"}, "confirm_new_person": True}, COUNTER_STAFF)
    case_id = str(case["case_id"])
    assert (await journey.http.get(journey.urls["intake"] + f"/cases/{case_id}/history",
                                   headers=OUTREACH)).status_code == 403
    return case_id


async def forged_first(suite: Suite, body: bytes, applied: Callable[[], Awaitable[Any]]) -> Any:
    """Publishes `body` with outreach's own NATS credentials; intake's dead letter of it, failing when what `applied`
    looks for (its effect) comes first."""
    nc = await connect_as(suite, "outreach")
    try:
        await nc.jetstream().publish("jusou.outreach.OutreachHandedOver", body, stream=STREAM, timeout=5)
    finally:
        await nc.close()
    operator, js = await operator_js(suite)

    async def outcome() -> tuple[str, Any] | None:  # whichever comes first: its effect at intake, or the dead letter
        effect = await applied()
        if effect:
            return "applied", effect
        letter = next((d for d in await dead_letters(js) if d.consumer == "intake" and d.data == body), None)
        return ("dead-lettered", letter) if letter else None

    try:
        came, letter = await eventually(outcome, "intake to park the forged hand-over or apply it")
    finally:
        await operator.close()
    assert came == "dead-lettered", f"the forged hand-over was applied: {letter}"
    assert "not applied" in letter.reason and not letter.reason.startswith("failed"), letter.reason  # at once, why
    return letter


async def test_d9_a_hand_over_for_a_case_outreach_never_held_is_dead_lettered(suite: Suite, journey: Journey) -> None:
    assert HARDSHIP.division != ELDERLY.division != LEAD, "the test needs three divisions"
    intake = journey.urls["intake"]
    case_id = await counter_case(journey, "秘密 太郎")
    before = await journey.http.get(f"{intake}/cases/{case_id}/history", headers=COUNTER_STAFF)
    assert before.status_code == 200, before.text
    body = envelope("outreach", "OutreachHandedOver", POSITION, case_id, {
        "to_program": "intake", "reason": "窓口へ", "counter": HARDSHIP.code})

    async def referred() -> list[dict[str, Any]]:
        return await waiting_there(journey, case_id)

    letter = await forged_first(suite, body, referred)

    assert case_id in letter.reason and f"counter {HARDSHIP.code}" in letter.reason, letter.reason
    assert "no division that runs outreach reads it" in letter.reason, letter.reason
    assert await waiting_there(journey, case_id) == []
    after = await journey.http.get(f"{intake}/cases/{case_id}/history", headers=COUNTER_STAFF)
    assert after.json() == before.json()  # nothing recorded at intake
    taken = await journey.http.post(f"{intake}/consultations", headers=THERE, json={
        "counter": HARDSHIP.code, "channel": "窓口", "concerns": [concern("poverty")], "referral": case_id})
    assert taken.status_code in (403, 404, 409), taken.text
    person = await journey.http.get(f"{intake}/cases/{case_id}/person", params={"basis": "own_counter"}, headers=THERE)
    assert person.status_code == 403, person.text
    assert "秘密" not in person.text


async def test_d9_a_hand_over_to_collaboration_of_a_case_outreach_never_held_is_dead_lettered(
        suite: Suite, journey: Journey) -> None:
    """The same road to collaboration: intake made the primary agency it names the case's primary, whose division then
    read and wrote the case (D11)."""
    intake = journey.urls["intake"]
    case_id = await counter_case(journey, "秘密 花子")
    body = envelope("outreach", "OutreachHandedOver", POSITION + 1, case_id, {
        "to_program": "collaboration", "reason": "多機関で", "primary_agency": HARDSHIP.ja})

    async def read_there() -> bool:
        return (await journey.http.get(f"{intake}/cases/{case_id}", headers=THERE)).status_code == 200

    letter = await forged_first(suite, body, read_there)

    assert case_id in letter.reason and "collaboration" in letter.reason, letter.reason
    case = await journey.http.get(f"{intake}/cases/{case_id}", headers=COUNTER_STAFF)
    assert (case.json()["status"], case.json()["primary"]) == ("open", ELDERLY.ja), case.text
    assert (await journey.http.get(f"{intake}/cases/{case_id}", headers=THERE)).status_code == 403
