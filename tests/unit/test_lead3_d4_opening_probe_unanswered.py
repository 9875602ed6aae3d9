"""D4 D15: a real plan is never parked because the server did not answer whether its case's opening is on its way.

Found by the fault harness in this session's rehearsal (tests/faults, SQLite, one consumer): a PlanProposed from
collaboration waited for its case's CaseEscalated (`OpeningOnItsWay`, a `Waiting`: its deliveries are not counted as
tries) while nats-server was being killed and restarted; one probe timed out (`meeting.opening_probe_failed
TimeoutError`), the meeting fell back to its timed rule, whose `OpeningNotYetHeard` is no `Waiting`, and the inbox,
the message's delivery count already past JUSOU_MAX_DELIVER, parked it at once: "failed 5 times; last error
OpeningNotYetHeard" (the harness's "real events dead-lettered: 1"). A server that does not answer cannot say the plan
is a forgery: the plan now waits as for an opening on its way (`Unanswered`), and is refused only once the server
answers that no opening is unsettled.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from uuid import uuid4

import pytest
from support.held import escalate

from services.meeting import openings
from services.meeting.application import MeetingApplication, OpeningOnItsWay
from services.meeting.openings import OpeningProbe, Unanswered
from shared.messaging.waiting import Waiting
from unit.builders import Upstream, in_memory, plan_proposed


class SilentServer:
    """A JetStream context whose every request waits longer than the probe does (a nats-server restarting)."""

    async def consumer_info(self, *_: object, **__: object) -> None:
        await asyncio.sleep(60)

    async def get_msg(self, *_: object, **__: object) -> None:
        await asyncio.sleep(60)


@pytest.fixture
def service_loop() -> Iterator[asyncio.AbstractEventLoop]:
    """The service's event loop on a thread of its own, as the probe's caller (the inbox thread) sees it."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield loop
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


def test_d4_a_probe_the_server_does_not_answer_says_so_and_counts_as_on_its_way(
        service_loop: asyncio.AbstractEventLoop, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(openings, "PROBE_SECONDS", 0.2)
    probe = OpeningProbe(service_loop, SilentServer(), "meeting", 1)

    answer = probe("collaboration", [("intake", "CaseEscalated")], uuid4())

    assert isinstance(answer, Unanswered) and answer, answer
    assert "did not answer" in str(answer) and "TimeoutError" in str(answer)


def test_d4_a_real_plan_waits_while_the_server_cannot_answer_and_is_listed_once_its_escalation_comes() -> None:
    meeting = in_memory(MeetingApplication)
    meeting.catch_up_held_cases([], read_to=1)
    clock = [100.0]
    meeting.clock = lambda: clock[0]
    meeting.opening_probe = lambda *_: Unanswered("TimeoutError")
    case_id, plan_id = uuid4(), uuid4()
    proposal = Upstream("collaboration").emit("PlanProposed", plan_proposed(plan_id), case_id)

    for _ in range(10):  # far past the timed rule's grace, nothing applied meanwhile: it still waits, as a Waiting
        with pytest.raises(OpeningOnItsWay) as waiting:
            meeting.receive(*proposal)
        clock[0] += 60
    assert isinstance(waiting.value, Waiting) and "did not answer" in str(waiting.value)

    escalate(meeting, case_id, Upstream("intake"))
    assert meeting.receive(*proposal) and meeting.listed(plan_id).program == "collaboration"
