"""The meeting as practised (issue 16): positions as given, the sitting and its agenda, 全員賛成, the city at
every 重層的支援会議 decision, 事例の学び and its 事例集 / 持ち帰り.

Fed the way production feeds it: PlanProposed and ConsentRecorded envelopes through `receive`.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any
from uuid import UUID, uuid4

import pytest
from support.held import escalate
from support.municipality import CHILDCARE, ELDERLY, HARDSHIP, LEAD_NAME, partner

from services.meeting.application import MeetingApplication
from services.meeting.domain import CityAbsent, NotSettledHere, OpenObjection
from services.meeting.translate import translate
from shared.kernel.journey import Invalid
from unit.builders import ATTENDEES, SECRETARIAT, Upstream, consent_recorded, in_memory, plan_proposed, published

SITTING = {"starts_at": "14:00", "ends_at": "15:30", "place": "市役所 8階 特別会議室",
           "present": [{"name": "調布 花子", "agency": LEAD_NAME}, {"name": "深大寺 太郎", "agency": ELDERLY.ja},
                       {"name": "国領 次郎", "agency": HARDSHIP.ja}],
           "chair": "調布 花子", "recorder": "深大寺 太郎"}
OBJECTING = [{"agency": ELDERLY.ja, "position": "object", "reason": "訪問の頻度が多すぎる"},
             {"agency": HARDSHIP.ja, "position": "reserve", "reason": ""},
             {"agency": LEAD_NAME, "position": "comment", "reason": "家計の見直しも加えてほしい"}]


class Sitting:
    """A meeting app with its upstreams: a case with consent, its plan proposed."""

    def __init__(self) -> None:
        self.app = in_memory(MeetingApplication)
        self.intake, self.collaboration = Upstream("intake"), Upstream("collaboration")

    def plan(self, consent: bool = True) -> UUID:
        case_id, plan_id = uuid4(), uuid4()
        assert self.app.receive(*self.intake.emit("ConsentRecorded", consent_recorded(consent), case_id))
        escalate(self.app, case_id, self.intake)
        assert self.app.receive(*self.collaboration.emit("PlanProposed", plan_proposed(plan_id), case_id))
        return plan_id

    def convene(self, meeting_type: str = "jusou_shien_kaigi", attendees: list[str] | None = None,
                **extra: Any) -> UUID:
        return self.app.convene(SECRETARIAT, meeting_type, date(2026, 12, 3), attendees or ATTENDEES, **extra)


@pytest.fixture
def s() -> Sitting:
    return Sitting()


def test_objection_blocks_only_approval(s: Sitting) -> None:
    plan_id = s.plan()
    sitting = s.convene()
    with pytest.raises(OpenObjection, match="訪問の頻度が多すぎる"):
        s.app.decide(SECRETARIAT, sitting, plan_id, "approved", "合議", OBJECTING, [], None)

    s.app.decide(SECRETARIAT, sitting, plan_id, "revision_requested", "頻度を見直す", OBJECTING, [], None)

    [minute] = [m for m in s.app.minutes(sitting) if m["kind"] == "decision"]
    assert [(p["agency"], p["position"], p["reason"]) for p in minute["positions"]] == [
        (p["agency"], p["position"], p["reason"]) for p in OBJECTING], "every position exactly as given"


def test_objection_does_not_block_a_return_to_intake(s: Sitting) -> None:
    plan_id = s.plan()
    s.app.decide(SECRETARIAT, s.convene(), plan_id, "returned_to_intake", "窓口で継続", OBJECTING, [], ELDERLY.ja)
    assert s.app.review(plan_id).status == "returned"


def test_a_comment_needs_its_text_and_a_position_is_one_of_four(s: Sitting) -> None:
    plan_id, sitting = s.plan(), s.convene()
    silent = [*OBJECTING[:2], {"agency": LEAD_NAME, "position": "comment", "reason": " "}]
    with pytest.raises(Invalid, match="意見の内容"):
        s.app.decide(SECRETARIAT, sitting, plan_id, "revision_requested", "r", silent, [], None)
    odd = [*OBJECTING[:2], {"agency": LEAD_NAME, "position": "abstain", "reason": ""}]
    with pytest.raises(Invalid, match="賛成・異議・保留・意見"):
        s.app.decide(SECRETARIAT, sitting, plan_id, "revision_requested", "r", odd, [], None)


def test_d5_a_refused_position_names_its_agency_as_staff_write_it(s: Sitting) -> None:
    """「地域包括支援センターの異議には理由が必要です」: the agency's name, then the particle, with no space between
    (HD's review as staff found 「… の異議…」), for each of the three refusals of a position."""
    plan_id, sitting = s.plan(), s.convene()
    for position, reason, said in (("object", "", "の異議には理由が必要です"), ("comment", " ", "の意見の内容を入力してください"),
                                   ("abstain", "", "の意見は賛成・異議・保留・意見のいずれかです")):
        positions = [*OBJECTING[1:], {"agency": ELDERLY.ja, "position": position, "reason": reason}]
        with pytest.raises(Invalid) as refused:
            s.app.decide(SECRETARIAT, sitting, plan_id, "revision_requested", "r", positions, [], None)
        assert str(refused.value).startswith(f"{ELDERLY.ja}{said} / "), str(refused.value)


def test_all_agree_records_every_attendees_agreement_in_one_step(s: Sitting) -> None:
    plan_id = s.plan()
    sitting = s.convene()
    s.app.decide(SECRETARIAT, sitting, plan_id, "approved", "全員賛成", [], [], None, all_agree=True)

    [minute] = [m for m in s.app.minutes(sitting) if m["kind"] == "decision"]
    assert [(p["agency"], p["position"]) for p in minute["positions"]] == [(a, "agree") for a in ATTENDEES]


def test_city_must_attend_a_jusou_shien_kaigi_decision_on_a_plan(s: Sitting) -> None:
    plan_id = s.plan()
    without_city = s.convene(attendees=[ELDERLY.ja, HARDSHIP.ja])
    agree = [{"agency": a, "position": "agree"} for a in [ELDERLY.ja, HARDSHIP.ja]]
    with pytest.raises(CityAbsent, match=LEAD_NAME) as refused:
        s.app.decide(SECRETARIAT, without_city, plan_id, "approved", "合議", agree, [], None)
    assert refused.value.status == 409
    with pytest.raises(CityAbsent):
        s.app.decide(SECRETARIAT, without_city, plan_id, "revision_requested", "r", agree, [], None)
    # the 支援会議 is not bound by it
    shien = s.convene("shien_kaigi", attendees=[ELDERLY.ja, HARDSHIP.ja])
    s.app.decide(SECRETARIAT, shien, plan_id, "revision_requested", "r", agree, [], None)
    assert s.app.review(plan_id).status == "revision_requested"


def test_sitting_records_time_place_people_chair_and_recorder_never_on_the_bus(s: Sitting) -> None:
    plan_id = s.plan()
    sitting = s.convene(sitting=SITTING, agenda=[plan_id])
    s.app.decide(SECRETARIAT, sitting, plan_id, "approved", "全員賛成", [], [], None, all_agree=True)

    view = s.app.meeting_view(SECRETARIAT, sitting)
    assert view["sitting"] == SITTING
    assert [item["ref"] for item in view["agenda"]] == [str(plan_id)]
    on_the_bus = json.dumps([e.model_dump(mode="json") for e in published(s.app, translate)], ensure_ascii=False)
    assert "MeetingDecided" in on_the_bus
    assert all(p["name"] not in on_the_bus for p in SITTING["present"]), "names of people present stay here"


def test_sitting_refuses_a_chair_not_present_and_a_person_of_no_attending_agency(s: Sitting) -> None:
    sitting = s.convene()
    with pytest.raises(Invalid, match="議長は出席者から"):
        s.app.record_sitting(SECRETARIAT, sitting, {**SITTING, "chair": "いない 人"})
    stranger = {**SITTING, "present": [*SITTING["present"], {"name": "府中 三郎", "agency": partner("hello-work")}]}
    with pytest.raises(Invalid, match="出席機関ではない所属"):
        s.app.record_sitting(SECRETARIAT, sitting, stranger)
    with pytest.raises(Invalid, match="終了時刻"):
        s.app.record_sitting(SECRETARIAT, sitting, {**SITTING, "ends_at": "13:00"})


def test_agenda_keeps_plans_and_cases_in_order(s: Sitting) -> None:
    first, second, case_id = s.plan(), s.plan(), uuid4()
    assert s.app.receive(*s.intake.emit("ConsentRecorded", consent_recorded(True), case_id))  # D9: taken up with it
    sitting = s.convene(agenda=[second])
    s.app.put_on_agenda(SECRETARIAT, sitting, case_id=case_id)
    agenda = s.app.put_on_agenda(SECRETARIAT, sitting, plan_id=first)
    assert [(i["kind"], i["ref"]) for i in agenda] == [("plan", str(second)), ("case", str(case_id)),
                                                      ("plan", str(first))]
    assert str(case_id) in s.app.meeting_view(SECRETARIAT, sitting)["cases"], "D10: a case on the agenda is taken up"


LEARNING = {"situation": "80代の親と50代の子の世帯。子が長くひきこもり、親の介護が始まった",
            "worked": "包括の訪問に生活困窮の窓口が同行し、家計の相談から子と話せた",
            "agencies": [ELDERLY.ja, HARDSHIP.ja], "resources": ["家計改善支援"],
            "concerns": ["hikikomori", "elderly-care"]}


def test_learning_follows_a_decision_and_reaches_every_attending_agency(s: Sitting) -> None:
    plan_id = s.plan()
    sitting = s.convene()
    with pytest.raises(NotSettledHere):
        s.app.record_learning(SECRETARIAT, sitting, plan_id, **LEARNING)
    s.app.decide(SECRETARIAT, sitting, plan_id, "approved", "全員賛成", [], [], None, all_agree=True)
    s.app.record_learning(SECRETARIAT, sitting, plan_id, **LEARNING)

    [found] = s.app.learnings("hikikomori")
    assert found["worked"] == LEARNING["worked"] and found["shared_with"] == ATTENDEES
    assert s.app.learnings("debt") == [] and s.app.learnings(None, "家計 同行") == [found]
    assert s.app.takeaways(agency=HARDSHIP.ja) == [found]
    assert s.app.takeaways(division=ELDERLY.division) == [found], "the 包括's division takes it home"
    assert s.app.takeaways(agency=CHILDCARE.ja) == []
    assert published(s.app, translate, "MeetingDecided"), "the decision went out"
    assert "ひきこもり" not in json.dumps([e.model_dump(mode="json") for e in published(s.app, translate)],
                                      ensure_ascii=False), "the learning stays in the meeting's store"


@pytest.mark.parametrize("text", ["本人の電話 090-1234-5678 に連絡", "連絡先 taro@example.jp", "〒182-0022 の住まい"])
def test_learning_refuses_personal_information(s: Sitting, text: str) -> None:
    plan_id = s.plan()
    sitting = s.convene()
    s.app.decide(SECRETARIAT, sitting, plan_id, "approved", "全員賛成", [], [], None, all_agree=True)
    with pytest.raises(Invalid, match="個人を特定できる情報"):
        s.app.record_learning(SECRETARIAT, sitting, plan_id, **{**LEARNING, "situation": text})
    assert s.app.learnings() == []


def test_d10_a_shien_kaigi_learning_is_withheld_from_a_non_members_case_history(s: Sitting) -> None:
    plan_id = s.plan(consent=False)
    members = [LEAD_NAME, ELDERLY.ja]
    shien = s.convene("shien_kaigi", attendees=members, sitting={**SITTING, "present": SITTING["present"][:2]})
    s.app.decide(SECRETARIAT, shien, plan_id, "revision_requested", "情報共有", [], [], None, all_agree=True)
    s.app.record_learning(SECRETARIAT, shien, plan_id, **{**LEARNING, "agencies": members})
    case_id = s.app.review(plan_id).case_id

    outsider = json.dumps(s.app.redact(s.app.history(case_id), CHILDCARE.division)
                          + s.app.state_as_of(case_id, division=CHILDCARE.division), ensure_ascii=False)
    member = json.dumps(s.app.redact(s.app.history(case_id), ELDERLY.division)
                        + s.app.state_as_of(case_id, division=ELDERLY.division), ensure_ascii=False)
    assert LEARNING["worked"] in member and LEARNING["worked"] not in outsider
    assert all(p["name"] not in member + outsider for p in SITTING["present"]), "the sitting's names stay with it"


def test_city_must_attend_a_closure_evaluation_and_a_learning_may_follow_the_closure(s: Sitting) -> None:
    plan_id = s.plan()
    s.app.decide(SECRETARIAT, s.convene(), plan_id, "approved", "全員賛成", [], [], None, all_agree=True)
    case_id = s.app.review(plan_id).case_id
    closure = {"plan_id": str(plan_id), "program": "collaboration", "progress": "半年で安定"}
    assert s.app.receive(*s.collaboration.emit("PlanClosureRequested", closure, case_id))
    goals = [{"goal": g, "result": "achieved", "note": ""} for g in s.app.review(plan_id).summary["goals"]]
    without_city = s.convene(attendees=[ELDERLY.ja, HARDSHIP.ja])
    with pytest.raises(CityAbsent):
        s.app.evaluate(SECRETARIAT, without_city, plan_id, "closed", "訪問12回", "安定", "", None, goals)

    closing = s.convene()
    s.app.evaluate(SECRETARIAT, closing, plan_id, "closed", "訪問12回", "安定", "", None, goals)
    s.app.record_learning(SECRETARIAT, closing, plan_id, **LEARNING)
    assert [r["meeting_id"] for r in s.app.learnings("elderly-care")] == [str(closing)]
