"""D4 D6 D7 at the inbox's door: a plan owner's event (PlanProposed, PlanClosureRequested) whose payload names another
program than its subject's source is refused before any handler, by every consumer (`refusal`, the subject is the
authority): found by the integrator's review with outreach's own NATS credentials."""

from __future__ import annotations

from uuid import uuid4

import pytest

from shared.messaging.inbox import refusal
from unit.builders import envelope_for, plan_proposed


@pytest.mark.parametrize("event_type", ["PlanProposed", "PlanClosureRequested"])
def test_d6_a_plan_owners_event_naming_another_program_is_refused_by_every_consumer(event_type: str) -> None:
    payload = plan_proposed(uuid4(), program="collaboration") if event_type == "PlanProposed" else {
        "plan_id": str(uuid4()), "program": "collaboration", "progress": "終結"}
    envelope, _ = envelope_for("outreach", 1, event_type, payload, uuid4())
    reason = refusal(f"jusou.outreach.{event_type}", envelope)
    assert reason is not None and "names program 'collaboration'" in reason and "not applied" in reason


def test_d6_the_owners_own_plan_and_a_closure_naming_no_program_pass() -> None:
    envelope, _ = envelope_for("outreach", 1, "PlanProposed", plan_proposed(uuid4(), program="outreach"), uuid4())
    assert refusal("jusou.outreach.PlanProposed", envelope) is None
    closure, _ = envelope_for("outreach", 2, "PlanClosureRequested", {"plan_id": str(uuid4()), "progress": "終結"}, uuid4())
    assert refusal("jusou.outreach.PlanClosureRequested", closure) is None
