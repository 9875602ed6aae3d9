"""The 監査 page's 「各事業から見たケース」 showed many fields by their code names (HD's review, session 24, on a jusou up as
demo-auditor after a day of a case: strands, a plan with its period, a meeting's 相談窓口へ戻す): 「accompanying_since」
「check_ins」「history」「intention」「next_review_on」「persons」「revisions」「starts_on」「agenda」「minutes」
「member_divisions: elderly-support」, and inside them 「strand_id: …、concern: …、description: …、agency: …、状態: todo」,
「label: 本人」「responsibility: …、contact: —、agency_code: counter:houkatsu」「position: agree」「kind: decision」.
Every field the views of the plan, the collaboration case and the meeting hold is now named in Japanese, the strands'
and the positions' codes said as the pages say them, and a division's code by its name."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any
from uuid import uuid4

from support.municipality import ELDERLY, LEAD, SHAKYO, division_name

from services.collaboration.application import CollaborationApplication
from services.collaboration.domain import CollaborationCase
from services.meeting.application import MeetingApplication
from services.meeting.domain import Meeting
from shared.domain.plan import Plan
from shared.domain.wareki import today_in_japan
from shared.kernel.journey import acting
from shared.web.ui import field_label, state_value
from unit.builders import COORDINATOR, ROLES, in_memory
from unit.test_collaboration_strands import escalated
from unit.test_meeting import Feeds, convene, decide, on_agenda_with_consent

#: a code name as the page would show it: a word of lower-case ASCII (a field, a status, a division's code); an agency's
#: code in the municipality file (「counter:houkatsu」, under 機関コード) is the code the auditor may look for
_CODE = re.compile(r"^[a-z][a-z_\-]*$")


def _shown(view: dict[str, Any], kind: str) -> list[str]:
    """What the page shows of a view: each field's name, and its value as words (a list of records: `key: value`)."""
    shown = []
    for key, value in view.items():
        shown.append(field_label(key))
        text = state_value(value, key, kind)
        shown += [part.strip() for chunk in text.split("、") for part in chunk.split(": ")]
    return shown


def _codes(view: dict[str, Any], kind: str) -> list[str]:
    return sorted({part for part in _shown(view, kind) if _CODE.match(part)})


def test_a_plan_with_its_period_and_members_reads_in_words() -> None:
    with acting(COORDINATOR):
        plan = Plan.draft(uuid4(), "collaboration", "母の介護と息子の社会参加", ["週2回デイサービスに通う"],
                          [{**ROLES[0], "contact": None, "agency_code": "counter:houkatsu"}],
                          intention="家で母と暮らし続けたい", starts_on=today_in_japan() + timedelta(days=3),
                          review_on=today_in_japan() + timedelta(days=90),
                          members=[{"label": "母", "goals": ["介護サービスを使う"]}])
    assert _codes(plan.view(), "Plan") == []


def test_a_collaboration_case_with_strands_reads_in_words() -> None:
    app = in_memory(CollaborationApplication)
    case_id = escalated(app)
    app.add_strand(COORDINATOR, case_id, "高齢・介護", "母の介護サービスの調整", ELDERLY.ja, "working")
    app.add_strand(COORDINATOR, case_id, "ひきこもり", "本人の外出", SHAKYO)
    view = app.read(case_id, CollaborationCase, "多機関協働のケース").view()
    assert _codes(view, "CollaborationCase") == []
    assert "状態: 未着手" in state_value(view["strands"], "strands", "CollaborationCase")


def test_a_meeting_with_a_return_to_intake_reads_in_words() -> None:
    app = in_memory(MeetingApplication)
    feeds = Feeds(app)
    _, plan_id = on_agenda_with_consent(feeds)
    sitting = convene(app)
    decide(app, sitting, plan_id, "returned_to_intake", primary_agency=ELDERLY.ja,
           positions=[{"agency": a, "position": p, "reason": "もう少し聞きたい" if p == "object" else ""}
                      for a, p in zip(app.read(sitting, Meeting, "会議").attendees, ("agree", "object", "agree"), strict=True)])
    view = app.read(sitting, Meeting, "会議").view()
    assert _codes(view, "Meeting") == []
    assert "異議" in state_value(view["minutes"], "minutes", "Meeting")



def test_a_meetings_member_divisions_are_named() -> None:
    """By the names of the municipality file the suite runs on (Chofu's 高齢者支援室、福祉総務課; 架空市's its own)."""
    codes = [ELDERLY.division, LEAD]
    named = state_value(codes, "member_divisions")
    assert named == "、".join(division_name(code) for code in codes) and "他の課" not in named, named
