"""Dates as office documents write them (HC's review, session 20): staff type a date as they read it off a paper or a
screen, and 「昭35.2.3」 (the era's first character), 「昭和三十五年二月三日」 (kanji numerals), 「20261201」 (eight digits, as
the city's other systems print them), 「1960年2月3日生」 and 「令和8年12月1日（火）」 (a weekday after it) were refused with
「日付は 令和8年12月5日・R8.12.5・2026-12-05 のように入力してください」. They are read now; a weekday that is not the day's
is refused saying which day of the week it is, since one of the two was mistyped."""

from __future__ import annotations

from datetime import date

import pytest

from shared.domain.wareki import NotADate, parse_date

ANY = {"earliest": date(1900, 1, 1), "latest": date(2030, 12, 31)}


@pytest.mark.parametrize(("typed", "day"), [
    ("昭35.2.3", date(1960, 2, 3)), ("平31.4.30", date(2019, 4, 30)), ("令8.12.1", date(2026, 12, 1)),
    ("大15.12.24", date(1926, 12, 24)), ("平元.1.8", date(1989, 1, 8)),
    ("昭和三十五年二月三日", date(1960, 2, 3)), ("平成元年一月八日", date(1989, 1, 8)), ("令和八年十二月一日", date(2026, 12, 1)),
    ("一九六〇年二月三日", date(1960, 2, 3)), ("昭和二十年八月十五日", date(1945, 8, 15)),
    ("20261201", date(2026, 12, 1)), ("１９６００２０３", date(1960, 2, 3)),
    ("1960年2月3日生", date(1960, 2, 3)), ("昭和35年2月3日生まれ", date(1960, 2, 3)),
    ("令和8年12月1日（火）", date(2026, 12, 1)), ("2026/12/1(火曜日)", date(2026, 12, 1)), ("R8.12.1（火曜）", date(2026, 12, 1)),
])
def test_a_date_written_as_documents_write_it_is_read(typed: str, day: date) -> None:
    assert parse_date(typed, **ANY) == day


def test_a_weekday_that_is_not_the_day_s_is_refused_saying_the_day_s() -> None:
    with pytest.raises(NotADate) as refused:
        parse_date("令和8年12月1日（月）", **ANY, what="相談日")

    japanese, _, english = str(refused.value).partition(" / ")
    assert "相談日「令和8年12月1日（月）」の曜日が合いません（令和8年12月1日は火曜日です）" in japanese
    assert "2026-12-01 is a Tuesday, not a Monday" in english


@pytest.mark.parametrize("typed", ["20261301", "12345678", "令和", "昭", "三十五", "令和八年十二月三十二日", "百年"])
def test_what_is_still_no_date_is_refused(typed: str) -> None:
    with pytest.raises(NotADate):
        parse_date(typed, **ANY)
