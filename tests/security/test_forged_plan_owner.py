"""D4 D6 D7 on the bus: a program's own NATS credentials cannot put words in another program's plan.

Outreach's user may publish only on `jusou.outreach.>` (the server refuses the rest), so a message there agrees with its
subject; its payload, though, names a plan. A PlanProposed on outreach's subject naming collaboration's proposed plan
(its plan_id, program collaboration, a support direction collaboration never wrote) was applied by the meeting: the
agenda showed it as collaboration's revision 2 (found by the integrator's review). Now the meeting dead-letters it with
the reason (every consumer does, at its door, when the payload names another program) and the agenda keeps what
collaboration proposed. Its own suite: the forged messages are left parked."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from support.auth import reader
from support.journey import Journey

from jusou.runner import Suite
from security.conftest import journey_on, suite_as_jusou_up_runs_it
from security.test_forged_envelope import connect_as, envelope, parked_for, proposed_plan
from shared.contract.events import STREAM

POSITION = 900_000  # a position outreach's store does not have: the message is not one of its own


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Suite]:
    with suite_as_jusou_up_runs_it(tmp_path_factory.mktemp("forged-plan")) as running:
        yield running


@pytest.fixture
async def journey(suite: Suite) -> AsyncIterator[Journey]:
    async with journey_on(suite) as made:
        yield made


async def publish_as_outreach(suite: Suite, body: bytes) -> None:
    nc = await connect_as(suite, "outreach")
    try:
        await nc.jetstream().publish("jusou.outreach.PlanProposed", body, stream=STREAM, timeout=5)
    finally:
        await nc.close()


def forged_proposal(case_id: str, plan_id: str, program: str, position: int) -> bytes:
    return envelope("outreach", "PlanProposed", position, case_id, {
        "plan_id": plan_id, "program": program, "revision": 2, "support_direction": "乗っ取り",
        "goals": ["forged"], "roles": []})


@pytest.mark.parametrize("named", ["collaboration", "outreach"])
async def test_d6_outreachs_credentials_cannot_relist_collaborations_plan(
    suite: Suite, journey: Journey, named: str
) -> None:
    case_id, plan_id = await proposed_plan(journey)
    body = forged_proposal(case_id, plan_id, named, POSITION + (named == "outreach"))
    await publish_as_outreach(suite, body)

    letter = await parked_for(suite, "meeting", body)
    assert "not applied" in letter.reason and not letter.reason.startswith("failed"), letter.reason  # at once, why
    if named == "collaboration":  # refused at every consumer's door: the payload names another program
        assert "names program 'collaboration'" in letter.reason, letter.reason
        await parked_for(suite, "intake", body)
    else:  # its own name on another's plan: only the meeting's store knows whose plan it is
        assert f"names plan {plan_id}, which collaboration proposed" in letter.reason, letter.reason
    agenda = await journey.http.get(journey.urls["meeting"] + f"/agenda/{plan_id}", headers=reader())
    assert agenda.status_code == 200, agenda.text
    item = agenda.json()
    assert (item["program"], item["revision"]) == ("collaboration", 1), item
    assert "乗っ取り" not in agenda.text


async def test_d6_a_plan_proposed_naming_another_program_lists_nothing(suite: Suite, journey: Journey) -> None:
    case_id, plan_id = str(uuid.uuid4()), str(uuid.uuid4())  # a plan collaboration does not have
    body = forged_proposal(case_id, plan_id, "collaboration", POSITION + 2)
    await publish_as_outreach(suite, body)

    letter = await parked_for(suite, "meeting", body)
    assert "names program 'collaboration'" in letter.reason, letter.reason
    agenda = await journey.http.get(journey.urls["meeting"] + f"/agenda/{plan_id}", headers=reader())
    assert agenda.status_code == 404, agenda.text
