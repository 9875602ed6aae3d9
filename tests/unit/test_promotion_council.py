"""D8: the 相談支援包括化推進会議 (in collaboration) is the separate forum where the resource gaps the 重層的支援会議
only names are taken up (「社会資源の開発は別に協議の場を設ける」): gaps arrive from the bus (ResourceGapIdentified,
ResourceShortageReported) or are brought by a 地域福祉コーディネーター; a sitting takes them up and decides on each
an initiative, a request to a division, or 継続審議."""

from __future__ import annotations

from datetime import date
from uuid import UUID, uuid4

import pytest
from support.municipality import ELDERLY, LEAD_NAME, SHAKYO

from services.collaboration.application import CollaborationApplication
from services.collaboration.domain import DecisionInvalid, GapClosed, NotOnAgenda, SittingInvalid, gap_id_of
from services.collaboration.translate import translate
from unit.builders import COORDINATOR, Upstream, in_memory, published, stored_count

GAP = {"need": "ひきこもりの若者の居場所", "area": "調布市東部", "description": "日中に通える場がない"}
ATTENDEES = [LEAD_NAME, SHAKYO, ELDERLY.ja]


def test_d8_gaps_from_the_meeting_and_participation_await_the_council_once_each() -> None:
    app = in_memory(CollaborationApplication)
    named = Upstream("meeting").emit("ResourceGapIdentified", GAP, uuid4())
    short = Upstream("participation").emit("ResourceShortageReported", {**GAP, "need": "就労体験の場"}, uuid4())

    assert app.receive(*named) and app.receive(*short)
    assert not app.receive(*named)  # the same event again: nothing new

    gaps = app.gaps("awaiting")
    assert [(g["need"], g["source"]) for g in gaps] == [("ひきこもりの若者の居場所", "meeting"), ("就労体験の場", "participation")]
    assert gaps[0]["gap_id"] == str(gap_id_of(named[0].event_id))
    assert gaps[0]["origin_event_id"] == str(named[0].event_id)
    assert gaps[0]["case_id"] == str(named[0].case_id)


def test_d8_council_takes_up_gaps_and_decides_initiative_request_or_continued_discussion() -> None:
    app = in_memory(CollaborationApplication)
    app.receive(*Upstream("meeting").emit("ResourceGapIdentified", GAP, uuid4()))
    [from_meeting] = app.gaps()
    named = UUID(from_meeting["gap_id"])
    brought = app.refer_gap(COORDINATOR, "買い物支援", "深大寺地区", "坂が多く買い物に行けない高齢者")
    third = app.refer_gap(COORDINATOR, "夜間の相談先", "", "")
    sitting = app.hold_sitting(COORDINATOR, date(2026, 12, 10), ATTENDEES, "第3回")

    for gap in (named, brought, third):
        app.take_up_gap(COORDINATOR, sitting, gap)
    app.decide_gap(COORDINATOR, sitting, named, "initiative", summary="社協と居場所づくりの検討会を始める")
    app.decide_gap(COORDINATOR, sitting, brought, "request", ELDERLY.division, "生活支援体制整備事業で移動販売を検討")
    app.decide_gap(COORDINATOR, sitting, third, "deferred", summary="次回までに件数を調べる")

    view = app.sitting_view(sitting)
    assert view["held_on"] == "2026-12-10" and view["attendees"] == ATTENDEES
    assert view["agenda"] == [from_meeting["gap_id"], str(brought), str(third)]
    assert view["decisions"][str(brought)] == {"decision": "request", "division": ELDERLY.division,
                                               "summary": "生活支援体制整備事業で移動販売を検討"}
    assert app.gap_view(named)["status"] == "initiative"
    assert app.gap_view(brought)["status"] == "request"
    assert [g["gap_id"] for g in app.gaps("awaiting")] == [str(third)]  # 継続審議: back for the next sitting
    assert app.gap_view(third)["decisions"][0]["decision"] == "deferred"
    next_sitting = app.hold_sitting(COORDINATOR, date(2027, 1, 14), [LEAD_NAME])
    app.take_up_gap(COORDINATOR, next_sitting, third)
    assert app.gap_view(third)["status"] == "on_agenda"
    assert [s["held_on"] for s in app.sittings()] == ["2027-01-14", "2026-12-10"]


def test_d8_council_refuses_a_decision_off_its_agenda_an_incomplete_one_and_a_decided_gap_again() -> None:
    app = in_memory(CollaborationApplication)
    gap = app.refer_gap(COORDINATOR, "買い物支援", "", "")
    sitting = app.hold_sitting(COORDINATOR, date(2026, 12, 10), ATTENDEES)
    before = stored_count(app)

    with pytest.raises(NotOnAgenda):
        app.decide_gap(COORDINATOR, sitting, gap, "initiative", summary="取組")
    app.take_up_gap(COORDINATOR, sitting, gap)
    with pytest.raises(DecisionInvalid) as incomplete:
        app.decide_gap(COORDINATOR, sitting, gap, "request", "", "依頼の内容")
    assert incomplete.value.status == 422 and "依頼先の課" in str(incomplete.value)
    with pytest.raises(DecisionInvalid):
        app.decide_gap(COORDINATOR, sitting, gap, "initiative", summary=" ")
    assert stored_count(app) == before + 2  # taken up: the gap and the sitting, nothing else
    app.decide_gap(COORDINATOR, sitting, gap, "initiative", summary="取組を始める")
    later = app.hold_sitting(COORDINATOR, date(2027, 1, 14), ATTENDEES)
    with pytest.raises(GapClosed):
        app.take_up_gap(COORDINATOR, later, gap)
    with pytest.raises(SittingInvalid):
        app.hold_sitting(COORDINATOR, date(2027, 2, 1), [])
    with pytest.raises(SittingInvalid):
        app.hold_sitting(COORDINATOR, None, ATTENDEES)


def test_d8_council_decisions_travel_as_promotion_council_decided_with_codes_and_the_gaps_origin() -> None:
    app = in_memory(CollaborationApplication)
    case_id = uuid4()
    named = Upstream("meeting").emit("ResourceGapIdentified", GAP, case_id)
    app.receive(*named)
    gap_id = gap_id_of(named[0].event_id)
    sitting = app.hold_sitting(COORDINATOR, date(2026, 12, 10), ATTENDEES)
    app.take_up_gap(COORDINATOR, sitting, gap_id)
    app.decide_gap(COORDINATOR, sitting, gap_id, "deferred", summary="次回までに件数を調べる")
    app.take_up_gap(COORDINATOR, sitting, gap_id)
    app.decide_gap(COORDINATOR, sitting, gap_id, "request", ELDERLY.division, "生活支援体制整備事業で検討")

    deferred, request = published(app, translate, "PromotionCouncilDecided")

    assert request.case_id == case_id and request.source == "collaboration"
    assert request.payload == {
        "sitting_id": str(sitting), "gap_id": str(gap_id), "origin_event_id": str(named[0].event_id),
        "need": GAP["need"], "area": GAP["area"], "decision": "request", "division": ELDERLY.division,
        "summary": "生活支援体制整備事業で検討"}
    assert (deferred.payload["decision"], deferred.payload["division"]) == ("deferred", None)
    assert published(app, translate, "CollaborationStarted") == []  # the gap and the sitting open no case
