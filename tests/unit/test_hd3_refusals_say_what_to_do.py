"""The refusals staff meet most on a plan, a case note and a case of another division say what to do next, in both
halves (HD's review, session 21): 「状態「会議に提出中」のプランは修正できません」 stopped there, and a coordinator had
to guess whether to wait, ask the meeting or draft again; now each names the step (wait for the meeting's decision,
request closure, revise and propose again, draft a new plan…), as do 「次の対応の期日が接触日より前です」 (the earliest
date it takes) and the division scope's 「閲覧・記録できません」 (ask the division holding the case to connect it). The
rules themselves (D4 D5 D7 D17, the division scope) refuse exactly as before."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from uuid import uuid4

import pytest
from support.municipality import DISABILITY, ELDERLY

from shared.domain.access import OutOfScope, require_in_scope
from shared.domain.casework import JST, CaseFile
from shared.domain.plan import STATUS_JA, Plan, next_step
from shared.kernel.journey import DomainError, acting
from shared.web.limits import halves
from unit.builders import COORDINATOR

JAPANESE = re.compile(r"[\u3040-\u30ff\u3400-\u9fff]")
ROLES = [{"agency": "地域包括支援センター", "responsibility": "母の介護"}]


@pytest.fixture(autouse=True)
def coordinator_acting() -> Iterator[None]:
    with acting(COORDINATOR):
        yield


def _said(refused: pytest.ExceptionInfo[DomainError]) -> tuple[str, str]:
    japanese, english = halves(str(refused.value))
    assert japanese != english and " / " not in japanese, refused.value
    assert not JAPANESE.search(re.sub(r"「[^」]*」", "", english)), english  # no Japanese in the English but a button's
    return japanese, english


def _plan(status: str) -> Plan:
    plan = Plan.draft(uuid4(), "collaboration", "世帯の孤立を防ぐ", ["月1回の訪問"], ROLES)
    if status == "draft":
        return plan
    plan.propose()
    if status == "proposed":
        return plan
    plan.record_decision(uuid4(), "jusou_shien_kaigi", "approved", "合意", 1)
    if status == "approved":
        return plan
    plan.request_closure("経過")
    if status == "closure_requested":
        return plan
    plan.record_evaluation(status, uuid4(), {"月1回の訪問": "達成"}, None)
    assert plan.status == status
    return plan


def test_d5_a_proposed_plan_refused_a_revision_says_to_wait_for_the_meetings_decision() -> None:
    with pytest.raises(DomainError) as refused:
        _plan("proposed").revise("別の方向性", ["月1回の訪問"], ROLES)
    japanese, english = _said(refused)
    assert japanese == "状態「会議に提出中」のプランは修正できません。会議の決定を待ってください（修正が必要なら会議が修正依頼を出します）"
    assert english.endswith("cannot be revised: wait for the meeting's decision (it asks for a revision if one is needed)")


def test_d7_a_plan_in_force_refused_a_revision_says_to_request_closure_and_what_follows() -> None:
    with pytest.raises(DomainError) as refused:
        _plan("approved").revise("別の方向性", ["月1回の訪問"], ROLES)
    japanese, english = _said(refused)
    assert "「終結の評価を依頼する」で会議の評価を受けてください" in japanese
    assert "新しいプランを作成できます" in japanese and "ask the meeting to evaluate it" in english


@pytest.mark.parametrize("status", ["approved", "closure_requested", "closed"])
def test_d4_d7_a_plan_not_to_be_proposed_says_what_to_do_instead(status: str) -> None:
    with pytest.raises(DomainError) as refused:
        _plan(status).propose()
    japanese, english = _said(refused)
    assert japanese.startswith(f"状態「{STATUS_JA[status]}」のプランは提出できません。{next_step(status)[0]}")
    assert english.endswith(next_step(status)[1])


def test_d7_closure_of_a_draft_says_to_propose_it_first_and_accompanying_says_so_too() -> None:
    plan = _plan("draft")
    with pytest.raises(DomainError) as closing:
        plan.request_closure("経過")
    assert _said(closing)[0].endswith("下書きを会議に提出し、承認を受けてください")
    with pytest.raises(DomainError) as accompanying:
        plan.accompany(date(2026, 12, 1), ["月1回の訪問"])
    assert _said(accompanying)[1].endswith("propose the draft to the meeting and have it approved first")


def test_a_check_in_on_a_plan_in_force_says_to_start_accompanying_first() -> None:
    with pytest.raises(DomainError) as refused:
        _plan("approved").check_in(date(2026, 12, 1), "訪問", "")
    japanese, english = _said(refused)
    assert "「伴走支援に移る」を押してから、見守りを記録してください" in japanese
    assert english.endswith("start accompanying first, then record the check-in")


def test_a_check_in_dated_before_accompaniment_names_the_first_day_it_takes() -> None:
    plan = _plan("approved")
    plan.accompany(date(2026, 12, 1), ["月1回の訪問"])
    with pytest.raises(DomainError) as refused:
        plan.check_in(date(2026, 11, 30), "訪問", "")
    assert _said(refused) == ("伴走支援の開始日 令和8年12月1日（2026-12-01） より前の日付は記録できません。令和8年12月1日以降の日付にしてください",
                              "a check-in is not dated before accompaniment began: date it 2026-12-01 or later")


def test_a_household_member_twice_says_how_to_tell_them_apart() -> None:
    with pytest.raises(DomainError) as refused:
        Plan.draft(uuid4(), "collaboration", "世帯の孤立を防ぐ", ["月1回の訪問"], ROLES,
                   members=[{"label": "兄", "goals": ["就労"]}, {"label": "兄", "goals": ["通院"]}])
    japanese, english = _said(refused)
    assert "1人につき1行にまとめるか、呼び方を変えてください" in japanese and "keep one line per person" in english


def test_d17_a_next_step_due_before_the_contact_names_the_earliest_date() -> None:
    notes = CaseFile(uuid4())
    contacted = datetime(2026, 12, 3, 10, 0, tzinfo=JST)
    with pytest.raises(DomainError) as refused:
        notes.write_note(uuid4(), contacted, "電話", "本人", "近況", "", "再訪問", date(2026, 12, 2),
                         now=contacted + timedelta(hours=1))
    assert _said(refused) == ("次の対応の期日が接触日より前です。期日は接触日 令和8年12月3日（2026-12-03） 以降にしてください",
                              "the next step's date is before the contact: date it 2026-12-03 or later")


def test_the_division_scope_says_whom_to_ask() -> None:
    with pytest.raises(OutOfScope) as refused:
        require_in_scope(DISABILITY.division, {"counselor"}, {ELDERLY.division}, holders=(ELDERLY.division,))
    japanese, english = _said(refused)
    assert japanese.endswith("その課にこのケースのつなぎ（連携）を依頼してください")
    assert english.endswith("ask the division holding it to connect the case to yours")
