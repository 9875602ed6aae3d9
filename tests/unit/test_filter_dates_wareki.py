"""A list's from/to read 和暦 typed as text as well as a date field's YYYY-MM-DD (README "Pages"); what is not a date
is not applied and the bar says so, as before."""

from __future__ import annotations

from datetime import date
from urllib.parse import urlencode

from starlette.requests import Request

from shared.web.dates import read_day
from shared.web.ui import filters_of


def _list(**query: str) -> Request:
    return Request({"type": "http", "method": "GET", "path": "/ui/", "query_string": urlencode(query).encode(),
                    "headers": [], "scheme": "http", "server": ("127.0.0.1", 8101)})


def test_a_lists_range_reads_wareki_typed_as_text() -> None:
    filters = filters_of(_list(**{"from": "令和8年4月1日", "to": "R8.4.30"}))
    assert (filters.since, filters.until, filters.unread) == (date(2026, 4, 1), date(2026, 4, 30), ())
    rows = [{"received_at": "2026-03-31T14:59:00+00:00"}, {"received_at": "2026-03-31T15:00:00+00:00"},
            {"received_at": "2026-04-30T14:59:00+00:00"}, {"received_at": "2026-04-30T15:00:00+00:00"}]
    assert filters.apply(rows) == rows[1:3]  # the days in Japan, as with YYYY-MM-DD


def test_a_date_fields_value_and_what_is_no_date() -> None:
    assert read_day("2026-12-05") == read_day("令和8年12月5日") == read_day("2026/12/5") == date(2026, 12, 5)
    assert read_day("平成元年1月8日") == date(1989, 1, 8)
    for text in ("", "  ", "明日", "平成32年1月1日", "2026-13-01", "令和" * 30):
        assert read_day(text) is None, text
    filters = filters_of(_list(**{"from": "明日"}))
    assert filters.since is None and filters.unread == (("から", "明日"),)
