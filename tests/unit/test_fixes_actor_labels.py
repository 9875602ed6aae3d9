"""A program's own act (a policy's event) is named on collaboration's and the meeting's pages as staff name the
program (shared/kernel/journey.py actor_label), never by its code: 自動（多機関協働）, not 自動（collaboration）."""

from __future__ import annotations

from types import SimpleNamespace

from support.municipality import LEAD

from services.collaboration.application import actor_name
from services.meeting.application import _who
from shared.kernel.journey import SERVICE_LABELS


def test_collaboration_and_the_meeting_name_a_programs_own_act_in_japanese() -> None:
    for service, ja in SERVICE_LABELS.items():
        event = SimpleNamespace(meta={"actor": {"service": service}})
        assert actor_name(event) == _who(event) == f"自動（{ja}）"
    staff = SimpleNamespace(meta={"actor": {"staff_id": "c1", "division": LEAD}})
    assert actor_name(staff) == _who(staff) == "c1"
