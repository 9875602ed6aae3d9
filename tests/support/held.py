"""A case collaboration holds, as the meeting hears it: intake's CaseEscalated (D4).

The meeting lists a first plan from collaboration only for a case intake escalated, or outreach handed over, to it
(services/meeting/application.py `_require_held`). A test that hands the meeting a collaboration plan feeds the
escalation first, through `escalate`, as production delivers it (an envelope from intake, to `receive`).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from unit.builders import envelope_for

from shared.kernel.app import ServiceApplication
from support.municipality import ELDERLY

#: a CaseEscalated v1 payload (what intakes sent before v2: the meeting takes it raised to v2, as collaboration does)
ESCALATION: dict[str, Any] = {"reason": "8050世帯: 母の介護と本人のひきこもり", "concerns": ["介護", "ひきこもり"],
              "primary_agency": ELDERLY.ja}


def escalate(meeting: ServiceApplication, case_id: UUID, intake: Any = None) -> None:
    """Deliver intake's CaseEscalated for `case_id` to `meeting`, so collaboration's plans for the case are listed.

    `intake`: the test's own `unit.builders.Upstream("intake")` when it feeds the meeting other intake events too
    (ConsentRecorded): the escalation then takes its next position. Without one it takes the position after the
    meeting's intake tracking (one at or below it would be skipped as a duplicate)."""
    if intake is not None:
        escalation = intake.emit("CaseEscalated", ESCALATION, case_id)
    else:
        position = (meeting.recorder.max_tracking_id("intake") or 0) + 1
        escalation = envelope_for("intake", position, "CaseEscalated", ESCALATION, case_id)
    assert meeting.receive(*escalation), f"the meeting skipped the escalation of {case_id}"
