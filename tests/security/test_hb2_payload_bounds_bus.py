"""The contract's bounds on the bus (session 20): a 900 KB CaseEscalated published with intake's own NATS user (what the
review did with a 919 KB one, taken and stored by its consumers) is dead-lettered at once by each consumer that takes
CaseEscalated (collaboration, the meeting) with a reason a person can read (English, and Japanese in `jusou
deadletters`); each consumer goes on (the next real escalation is applied) and nothing recorded before is lost. Failed
before the bounds: the oversized escalation opened a case at collaboration and nothing was parked.

Its own suite, as `jusou up` runs it (a nats-server with a NATS user per service): the message is left parked."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from support.auth import reader
from support.journey import Journey
from support.municipality import ELDERLY

from jusou.runner import Suite
from security.conftest import journey_on, suite_as_jusou_up_runs_it
from security.test_forged_envelope import envelope, parked_for, publish_as_intake
from shared.contract.events import TEXT_MAX

POSITION = 900_000  # a position intake's store does not have
OVERSIZED = 900_000  # characters of the escalation's reason (ASCII: 900 KB, under the server's max_payload)


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Suite]:
    with suite_as_jusou_up_runs_it(tmp_path_factory.mktemp("hb2-payload-bounds")) as running:
        yield running


@pytest.fixture
async def journey(suite: Suite) -> AsyncIterator[Journey]:
    async with journey_on(suite) as made:
        yield made


async def opened(journey: Journey, case_id: str) -> None:
    await journey.get_when("collaboration", f"/cases/{case_id}", lambda c: c["status"] == "open",
                           "collaboration to open the escalated case")


async def test_bus_an_escalation_over_the_contracts_bounds_is_parked_by_each_consumer_which_goes_on(
        suite: Suite, journey: Journey) -> None:
    before = await journey.receive_and_escalate()
    await opened(journey, before)

    target = str(uuid.uuid4())
    body = envelope("intake", "CaseEscalated", POSITION, target, {
        "reason": "x" * OVERSIZED, "concerns": ["ひきこもり"], "primary_agency": ELDERLY.ja})
    assert len(body) > 900_000
    await publish_as_intake(suite, "jusou.intake.CaseEscalated", body)

    for consumer in ("collaboration", "meeting"):
        letter = await parked_for(suite, consumer, body)
        assert letter.reason.startswith("invalid payload of CaseEscalated v1: reason: "), letter.reason
        assert f"at most {TEXT_MAX} characters" in letter.reason, letter.reason  # at once, with why
        assert letter.reason_ja and "上限" in letter.reason_ja and "CaseEscalated" in letter.reason_ja, letter.reason_ja

    # the consumers go on: the next real escalation is applied; what was recorded before is kept
    after = await journey.receive_and_escalate()
    await opened(journey, after)
    await opened(journey, before)
    refused = await journey.http.get(journey.urls["collaboration"] + f"/cases/{target}", headers=reader())
    assert refused.status_code == 404, refused.text
