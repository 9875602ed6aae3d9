"""A refusal naming a date said it only as 2026-12-01 in its Japanese half (HD's review, session 22, on a jusou up: a plan
whose 見直し予定日 was typed 「R8.12.1」 before its 開始日 「R8.12.10」 came back 「見直し予定日（2026-12-01）は開始日
（2026-12-10）より後の日にしてください」), while staff type dates in 和暦 and every page shows them in 和暦 with the Western
date beside. Each such refusal now names the day as the pages do, 「令和8年12月1日（2026-12-01）」 (shared/domain/wareki.py
day_ja); the English half keeps the Western date; the rules refuse exactly as before."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from uuid import uuid4

import pytest

from services.community.domain import ActivitySession, Place, SelfHelpGroup
from services.outreach.domain import Engagement
from shared.domain.casework import JST, CaseFile
from shared.domain.plan import Plan
from shared.domain.wareki import day_ja
from shared.kernel.journey import DomainError, acting
from shared.web.limits import halves
from unit.builders import COORDINATOR

ROLES = [{"agency": "地域包括支援センター", "responsibility": "母の介護"}]


@pytest.fixture(autouse=True)
def coordinator_acting() -> Iterator[None]:
    with acting(COORDINATOR):
        yield


def _japanese(refused: pytest.ExceptionInfo[DomainError]) -> str:
    japanese, english = halves(str(refused.value))
    assert "令和" not in english, english
    return japanese


def test_the_day_as_a_refusal_says_it() -> None:
    assert day_ja(date(2026, 12, 1)) == "令和8年12月1日（2026-12-01）"
    assert day_ja(date(2019, 4, 30)) == "平成31年4月30日（2019-04-30）"


def test_a_plan_period_refused_names_both_days_in_wareki() -> None:
    with pytest.raises(DomainError) as refused:
        Plan.draft(uuid4(), "collaboration", "世帯の孤立を防ぐ", ["月1回の訪問"], ROLES,
                   starts_on=date(2026, 12, 10), review_on=date(2026, 12, 1))
    assert _japanese(refused) == ("見直し予定日 令和8年12月1日（2026-12-01） は開始日 令和8年12月10日（2026-12-10） "
                                  "より後の日にしてください")


def _place(opened_on: date) -> Place:
    return Place.register("地域づくり事業", "ふれあいサロン国領", "国領", True, None, "", opened_on, "")


def test_a_place_closed_before_it_opened_names_its_opening_in_wareki() -> None:
    place = _place(date(2026, 4, 1))
    with pytest.raises(DomainError) as refused:
        place.close(date(2026, 3, 31))
    assert "開設日 令和8年4月1日（2026-04-01） 以降" in _japanese(refused)
    place.close(date(2026, 10, 1))
    with pytest.raises(DomainError) as refused:
        place.close(date(2026, 11, 1))
    assert "この拠点は 令和8年10月1日（2026-10-01） に閉所しています" in _japanese(refused)


def test_a_session_or_a_group_on_a_day_the_place_was_not_open_names_the_day_in_wareki() -> None:
    place = _place(date(2026, 4, 1))
    with pytest.raises(DomainError) as refused:
        ActivitySession.record(place, "地域づくり事業", date(2026, 3, 1), 5, 1, 0, [], "")
    assert "開設日 令和8年4月1日（2026-04-01） より前の開催" in _japanese(refused)
    with pytest.raises(DomainError) as refused:
        SelfHelpGroup.form("体操の会", "地域づくり事業", "国領", date(2026, 3, 1), place, 5)
    assert "は 令和8年3月1日（2026-03-01） に開いていません" in _japanese(refused)
    place.close(date(2026, 10, 1))
    with pytest.raises(DomainError) as refused:
        ActivitySession.record(place, "地域づくり事業", date(2026, 11, 1), 5, 1, 0, [], "")
    assert "は 令和8年10月1日（2026-10-01） に閉所しています" in _japanese(refused)


def test_an_outreach_contact_after_today_names_the_day_in_wareki() -> None:
    engagement = Engagement(case_id=uuid4(), referred_by="民生委員", reason="長期のひきこもり")
    with pytest.raises(DomainError) as refused:
        engagement.record_contact("訪問", True, "", "contacted", on=date(2026, 12, 9), today=date(2026, 12, 8))
    assert _japanese(refused).startswith("接触日 令和8年12月9日（2026-12-09） は今日より後です")


def test_a_next_step_due_before_the_contact_names_the_contact_day_in_wareki() -> None:
    contacted = datetime(2026, 12, 3, 10, 0, tzinfo=JST)
    with pytest.raises(DomainError) as refused:
        CaseFile(uuid4()).write_note(uuid4(), contacted, "電話", "本人", "近況", "", "再訪問", date(2026, 12, 2),
                                     now=contacted)
    assert "期日は接触日 令和8年12月3日（2026-12-03） 以降" in _japanese(refused)
