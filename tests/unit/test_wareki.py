"""和暦 and Japan time as staff read dates (issue 4)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from shared.domain.wareki import jst, wareki


def test_wareki_with_the_gregorian_date_beside() -> None:
    assert wareki("2026-11-28") == "令和8年11月28日 (2026-11-28)"
    assert wareki(date(2019, 5, 1), with_gregorian=False) == "令和元年5月1日"
    assert wareki(date(2019, 4, 30), with_gregorian=False) == "平成31年4月30日"
    assert wareki(None) == ""


def test_recorded_moments_are_shown_in_japan_time() -> None:
    # Stored in UTC: 20:30 on the 28th is 05:30 on the 29th in Chofu, so the date changes too.
    assert jst("2026-11-28T20:30:00+00:00") == "2026-11-29T05:30:00+09:00"
    assert wareki(jst("2026-11-28T20:30:00+00:00"), with_gregorian=False) == "令和8年11月29日"
    assert jst(datetime(2026, 1, 1, tzinfo=UTC))[11:16] == "09:00"
    assert jst("2026-11-28T20:30:00") == "2026-11-29T05:30:00+09:00"  # naive means UTC
    assert jst("") == ""
