"""D4 課題の解きほぐし: collaboration records a household's issues as separate strands (分野, 内容, 担当機関, 状態)
before the plan; the plan's roles come from them, and a plan is not proposed while an open strand names no agency."""

from __future__ import annotations

from uuid import UUID, uuid4

import pytest
from support.municipality import ELDERLY, SHAKYO

from services.collaboration.application import CollaborationApplication
from services.collaboration.domain import StrandInvalid, StrandWithoutAgency
from shared.kernel.journey import NotFound
from unit.builders import COORDINATOR, ROLES, Upstream, in_memory, stored_count


def escalated(app: CollaborationApplication) -> UUID:
    case_id = uuid4()
    assert app.receive(*Upstream("intake").emit("CaseEscalated", {
        "reason": "8050: 母の介護と本人のひきこもり", "concerns": ["高齢・介護", "ひきこもり"],
        "primary_agency": ELDERLY.ja}, case_id))
    return case_id


def test_d4_strands_are_recorded_separately_and_roles_come_from_them() -> None:
    app = in_memory(CollaborationApplication)
    case_id = escalated(app)

    care = app.add_strand(COORDINATOR, case_id, "elderly-care", "母の介護サービスの調整", ELDERLY.ja, "working")
    app.add_strand(COORDINATOR, case_id, "ひきこもり", "本人の外出のきっかけ", "アウトリーチ等を通じた継続的支援事業")
    app.add_strand(COORDINATOR, case_id, "家計・債務", "年金だけの家計", ELDERLY.ja)
    app.add_strand(COORDINATOR, case_id, "住まい", "住宅の修繕（済）", SHAKYO, "resolved")

    strands = app.case_view(case_id)["strands"]
    assert [(s["concern"], s["status"]) for s in strands] == [
        ("高齢・介護", "working"), ("ひきこもり", "todo"), ("家計・債務", "todo"), ("住まい", "resolved")]
    assert app.strand_view(case_id, care)["agency"] == ELDERLY.ja
    assert app.roles_from_strands(case_id) == [
        {"agency": ELDERLY.ja, "responsibility": "高齢・介護: 母の介護サービスの調整／家計・債務: 年金だけの家計",
         "contact": None},
        {"agency": "アウトリーチ等を通じた継続的支援事業", "responsibility": "ひきこもり: 本人の外出のきっかけ", "contact": None},
    ]


def test_d4_plan_refused_while_a_strand_has_no_agency() -> None:
    app = in_memory(CollaborationApplication)
    case_id = escalated(app)
    open_strand = app.add_strand(COORDINATOR, case_id, "ひきこもり", "本人の外出", "")
    app.add_strand(COORDINATOR, case_id, "住まい", "", "", "resolved")  # a resolved strand needs no agency
    plan_id = app.draft_plan(COORDINATOR, case_id, "方向性", ["目標"], ROLES)
    before = stored_count(app)

    with pytest.raises(StrandWithoutAgency) as refused:
        app.propose_plan(COORDINATOR, plan_id)

    assert refused.value.status == 409 and "担当機関が決まっていない課題" in str(refused.value)
    assert "ひきこもり" in str(refused.value) and "住まい" not in str(refused.value)
    assert stored_count(app) == before
    app.change_strand(COORDINATOR, case_id, open_strand, "ひきこもり", "本人の外出", "アウトリーチ等を通じた継続的支援事業",
                      "working")
    assert app.propose_plan(COORDINATOR, plan_id) == 1


def test_d4_strand_unchanged_records_nothing_and_bad_choices_are_refused() -> None:
    app = in_memory(CollaborationApplication)
    case_id = escalated(app)
    strand = app.add_strand(COORDINATOR, case_id, "就労", "", "")
    before = stored_count(app)

    app.change_strand(COORDINATOR, case_id, strand, "就労", "", "", "todo")
    assert stored_count(app) == before
    with pytest.raises(StrandInvalid):
        app.add_strand(COORDINATOR, case_id, "宇宙", "", "")
    with pytest.raises(StrandInvalid):
        app.add_strand(COORDINATOR, case_id, "就労", "", "どこかの機関")
    with pytest.raises(StrandInvalid):
        app.change_strand(COORDINATOR, case_id, strand, "就労", "", "", "done")
    with pytest.raises(NotFound):
        app.change_strand(COORDINATOR, case_id, uuid4(), "就労", "", "", "todo")
    assert stored_count(app) == before
