"""A case's 経過 lists the journey's steps, not the meeting's bookkeeping (HD's review, session 21): a case the meeting
connected to outreach and participation read, after 「多機関協働の開始」「アウトリーチの開始」「参加支援の開始」, one more
line per program, 「会議 担当開始の受領（多機関協働・アウトリーチ・参加支援） — 自動（会議）」: the meeting's note that the
program holds the case (HeldCase, which programs may bring it a first plan, D6), a second line for each act. It is
left out of the steps like the 1ケース1プラン record; 監査 (the causation tree) still shows it."""

from __future__ import annotations

from shared.web.ui import journey_steps

ROWS = [
    {"event": "CollaborationCase.Opened", "service": "collaboration", "actor": {"staff_id": "system"}},
    {"event": "HeldCase.Announced", "service": "meeting", "actor": {"staff_id": "system"}},
    {"event": "Engagement.Started", "service": "outreach", "actor": {"staff_id": "system"}},
    {"event": "HeldCase.Announced", "service": "meeting", "actor": {"staff_id": "system"}},
    {"event": "Plan.Drafted", "service": "collaboration", "actor": {"staff_id": "fukushi-003"}},
    {"event": "OpenPlan.Taken", "service": "collaboration", "actor": {"staff_id": "fukushi-003"}},
    {"event": "Consent.Heard", "service": "meeting", "actor": {"staff_id": "system"}},
]


def test_the_meetings_note_that_a_program_holds_the_case_is_no_step_of_the_journey() -> None:
    steps, own = journey_steps(ROWS, {"staff_id": "fukushi-003"})

    assert [r["event"] for r in steps] == ["CollaborationCase.Opened", "Engagement.Started", "Plan.Drafted",
                                           "Consent.Heard"]
    assert own == []
