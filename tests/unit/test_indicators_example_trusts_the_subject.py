"""examples/indicators.py, the integrators' example, keeps docs/integrating.md §1: trust the subject, not the body.

Whoever holds intake's NATS password can publish any body on `jusou.intake.>`; the example must not count a
`PlanClosed` that claims to come from meeting there, and a body no JSON reader takes (nested 100,000 deep) is passed
over and counted, not an exception out of its loop at every restart."""

from __future__ import annotations

import importlib.util
import json
import sys
import types
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest

from shared.contract import events

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def example(monkeypatch: pytest.MonkeyPatch) -> Any:
    contract = types.ModuleType("jusou_contract")  # the package re-exports shared/contract/events.py as it is
    for name in ("PRODUCERS", "STREAM", "PoisonMessage", "parse", "upcast"):
        setattr(contract, name, getattr(events, name))
    monkeypatch.setitem(sys.modules, "jusou_contract", contract)
    spec = importlib.util.spec_from_file_location("indicators_example", ROOT / "examples" / "indicators.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def plan_closed() -> bytes:
    return json.dumps({
        "event_id": str(uuid4()), "event_type": "PlanClosed", "schema_version": 1, "source": "meeting",
        "source_position": 7, "case_id": str(uuid4()), "occurred_at": "2026-11-28T01:02:03+00:00",
        "correlation_id": str(uuid4()), "causation_id": None,
        "actor": {"staff_id": "s1", "division": "elderly-support"},
        "payload": {"plan_id": str(uuid4()), "meeting_id": str(uuid4()),
                    "evaluation": {"course": "経過", "outcome": "目標を達成"}},
    }).encode()


def test_a_plan_closed_on_meetings_subject_is_counted(example: Any) -> None:
    view = json.loads(json.dumps(example.EMPTY))
    body = plan_closed()
    events.parse(body)  # a valid envelope: what follows is about the subject alone
    example.apply(view, "jusou.meeting.PlanClosed", body)
    assert view["plans_closed"] == 1


@pytest.mark.parametrize("subject", ["jusou.intake.PlanClosed", "jusou.intake.CaseEscalated",
                                     "jusou.meeting.PlanClosed.extra"])
def test_a_plan_closed_forged_on_another_subject_is_refused(example: Any, subject: str) -> None:
    view = json.loads(json.dumps(example.EMPTY))
    with pytest.raises(events.PoisonMessage, match="claims meeting.PlanClosed"):
        example.apply(view, subject, plan_closed())
    assert view["plans_closed"] == 0


def test_the_loop_passes_over_what_apply_refuses_whatever_it_raises() -> None:
    source = (ROOT / "examples" / "indicators.py").read_text()
    loop = source[source.index("for msg in batch:"):source.index("if batch:")]
    assert "apply(view, msg.subject, msg.data)" in loop and "except Exception" in loop, loop
