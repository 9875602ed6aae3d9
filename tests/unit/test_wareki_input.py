"""和暦 input (issue 15): dates as staff type them, in plausible ranges (shared/domain/wareki.py, shared/web/dates.py)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from pydantic import BaseModel, ValidationError

from shared.domain.wareki import EARLIEST_BIRTH, NotADate, age_on, parse_date, today_in_japan
from shared.web.dates import ConsultationDate, WarekiBirthDate

LATEST = date(2030, 12, 31)


@pytest.mark.parametrize(("typed", "day"), [
    ("令和8年12月5日", date(2026, 12, 5)), ("R8.12.5", date(2026, 12, 5)), ("r8.12.5", date(2026, 12, 5)),
    ("Ｒ８．１２．５", date(2026, 12, 5)), ("令和元年5月1日", date(2019, 5, 1)), ("令和 元年 5月 1日", date(2019, 5, 1)),
    ("平成元年1月8日", date(1989, 1, 8)), ("H31.4.30", date(2019, 4, 30)), ("S35-2-3", date(1960, 2, 3)),
    ("昭和35年", date(1960, 1, 1)), ("平成元年", date(1989, 1, 8)), ("2026-12-05", date(2026, 12, 5)),
    ("2026/12/5", date(2026, 12, 5)), ("２０２６年１２月５日", date(2026, 12, 5)), ("1960", date(1960, 1, 1)),
])
def test_a_date_typed_in_wareki_or_western_is_read(typed: str, day: date) -> None:
    assert parse_date(typed, earliest=EARLIEST_BIRTH, latest=LATEST) == day


@pytest.mark.parametrize("typed", ["平成32年1月1日", "令和元年4月1日", "昭和64年1月8日", "2026-02-30", "R8.13.1", "abc",
                                   "10000-01-01", "+10000-01-01", "", "令和0年1月1日"])
def test_what_is_no_date_of_its_era_or_no_date_is_refused_in_japanese_and_english(typed: str) -> None:
    with pytest.raises(NotADate) as refused:
        parse_date(typed, earliest=EARLIEST_BIRTH, latest=LATEST)
    assert " / " in str(refused.value)


def test_a_birth_date_is_from_1900_to_today_and_a_consultation_date_within_a_year_to_today() -> None:
    class Form(BaseModel):
        birth: WarekiBirthDate | None = None
        consulted: ConsultationDate | None = None

    today = today_in_japan()
    assert Form(birth="S35.2.3").birth == "1960-02-03"
    for bad in ({"birth": "1899-12-31"}, {"birth": (today + timedelta(days=1)).isoformat()},
                {"consulted": (today + timedelta(days=1)).isoformat()},
                {"consulted": (today - timedelta(days=400)).isoformat()}):
        with pytest.raises(ValidationError):
            Form.model_validate(bad)
    assert Form(consulted=today.isoformat()).consulted == today.isoformat()


def test_age_is_the_full_years_on_a_day() -> None:
    assert age_on("1960-02-03", date(2026, 2, 2)) == 65
    assert age_on("1960-02-03", date(2026, 2, 3)) == 66
    assert age_on(None) is None and age_on("not a date") is None
