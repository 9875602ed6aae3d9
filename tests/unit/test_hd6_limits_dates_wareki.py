"""shared/web/limits.py's date bounds said their days only in Western form (HD's review, session 24): a meeting's 開催日
typed six years ahead came back 「開催日: 日付は今日の前後 5 年以内（2021-12-07〜2031-12-07）にしてください」, a birth date
of the API's 「生年月日は 1900-01-01 から今日までの日付にしてください」, while every other refusal naming a day, and every
page, says it as 「令和8年12月1日（2026-12-01）」 (shared/domain/wareki.py day_ja). Now these say the same; the English
halves keep the Western dates; what is refused is as before."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.domain.wareki import day_ja
from shared.kernel.journey import Invalid
from shared.web.limits import (
    EARLIEST_BIRTH_DATE,
    YEARS_AROUND,
    _years_from,
    check_birth_date,
    check_moment,
    check_near_date,
    form_model,
    halves,
    today,
)
from shared.web.plan_api import PlanIn


def _refusal(check, value) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError) as refused:
        check(value)
    return halves(str(refused.value))


def test_a_day_too_far_from_today_names_the_bounds_in_wareki() -> None:
    now = today()
    earliest, latest = _years_from(now, -YEARS_AROUND), _years_from(now, YEARS_AROUND)
    japanese, english = _refusal(check_near_date, latest + timedelta(days=1))
    assert f"（{day_ja(earliest)}〜{day_ja(latest)}）" in japanese, japanese
    assert "令和" in japanese and "令和" not in english, (japanese, english)
    assert f"({earliest.isoformat()} to {latest.isoformat()})" in english
    assert check_near_date(latest) == latest  # the bounds themselves are taken, as before


def test_a_birth_date_out_of_bounds_names_the_first_day_and_today_as_the_pages_do() -> None:
    now = today()
    japanese, english = _refusal(check_birth_date, (now + timedelta(days=1)).isoformat())
    assert japanese == f"生年月日は {day_ja(EARLIEST_BIRTH_DATE)} から今日 {day_ja(now)} までの日付にしてください"
    assert "令和" not in english and now.isoformat() in english
    assert check_birth_date(EARLIEST_BIRTH_DATE.isoformat()) == "1900-01-01"


def test_a_moment_past_the_bound_names_the_last_day_in_wareki() -> None:
    latest = _years_from(today(), YEARS_AROUND)
    moment = datetime.combine(latest + timedelta(days=1), datetime.min.time(), UTC)
    japanese, english = _refusal(check_moment, moment)
    assert day_ja(latest) in japanese, japanese
    assert "令和" not in english and latest.isoformat() in english


def test_the_near_dates_bound_reads_so_on_a_form() -> None:
    """The same bound reached through a form (the plan period's 開始日, shared/web/plan_api.py PlanDate): the field
    named, then the days in wareki."""
    far = _years_from(today(), YEARS_AROUND) + timedelta(days=1)
    with pytest.raises(Invalid) as refused:
        form_model(PlanIn, {"support_direction": "方針", "goals": ["目標"],
                            "roles": [{"agency": "地域包括支援センター", "responsibility": "見守り"}],
                            "starts_on": far.isoformat()})
    japanese, english = halves(str(refused.value))
    assert "開始日" in japanese and day_ja(_years_from(today(), YEARS_AROUND)) in japanese, japanese
    assert "令和" not in english, english
