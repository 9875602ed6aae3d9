"""A plan's refusals name its status as staff read it (HD's review as staff): 「状態「会議に提出中」のプランは修正できません」,
not the status's code (「状態「proposed」…」, 「承認されていないプラン（draft）…」), and their English halves are English
(「only a plan in force moves to 伴走支援」 was not); the goals not yet met are listed with 、 in the Japanese half, not
with the 「 / 」 that separates the two halves. The pages show these texts beside the forms (shared/web/plan_pages.py)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from uuid import uuid4

import pytest

from shared.domain.plan import Plan
from shared.kernel.journey import DomainError, acting
from shared.web.limits import halves
from unit.builders import COORDINATOR

JAPANESE = re.compile(r"[\u3040-\u30ff\u3400-\u9fff]")
CODES = re.compile(r"\b(draft|proposed|approved|revision_requested|closure_requested|accompanying)\b")
ROLES = [{"agency": "地域包括支援センター", "responsibility": "母の介護"}]


@pytest.fixture(autouse=True)
def coordinator_acting() -> Iterator[None]:
    with acting(COORDINATOR):
        yield


def a_plan(goals: list[str] | None = None) -> Plan:
    return Plan.draft(uuid4(), "collaboration", "世帯の孤立を防ぐ", goals or ["月1回の訪問"], ROLES)


def said(refused: pytest.ExceptionInfo[DomainError]) -> tuple[str, str]:
    japanese, english = halves(str(refused.value))
    assert japanese != english, f"no English half: {refused.value}"
    assert not CODES.search(japanese), japanese  # no status code in the Japanese
    assert not JAPANESE.search(re.sub(r"「[^」]*」|'[^']*'", "", english)), english  # no Japanese in the English
    return japanese, english


def test_a_proposed_plan_is_neither_revised_nor_proposed_again_naming_its_status() -> None:
    plan = a_plan()
    plan.propose()
    with pytest.raises(DomainError) as revised:
        plan.revise("別の方向性", ["月1回の訪問"], ROLES)
    assert said(revised)[0].startswith("状態「会議に提出中」のプランは修正できません")
    with pytest.raises(DomainError) as proposed:
        plan.propose()
    assert said(proposed)[0].startswith("状態「会議に提出中」のプランは提出できません")


def test_a_draft_is_not_asked_to_close_nor_accompanied_nor_checked_in_on() -> None:
    plan = a_plan()
    with pytest.raises(DomainError) as closing:
        plan.request_closure("経過")
    assert "下書き" in said(closing)[0]
    with pytest.raises(DomainError) as accompanying:
        plan.accompany(date(2026, 12, 1), ["月1回の訪問"])
    assert "下書き" in said(accompanying)[0]
    with pytest.raises(DomainError) as checked_in:
        plan.check_in(date(2026, 12, 1), "訪問", "")
    assert "下書き" in said(checked_in)[0]


def test_the_goals_not_met_are_listed_in_the_japanese_half() -> None:
    plan = a_plan(["月1回の訪問", "週1回外出する", "家計を見直す"])
    plan.propose()
    plan.record_decision(uuid4(), "jusou_shien_kaigi", "approved", "合意", 1)
    with pytest.raises(DomainError) as refused:
        plan.accompany(date(2026, 12, 1), ["月1回の訪問"])
    japanese, english = said(refused)
    assert "未達成: 週1回外出する、家計を見直す" in japanese, japanese
    assert english.startswith("every goal of the plan is met before"), english
