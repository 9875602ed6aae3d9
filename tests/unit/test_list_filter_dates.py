"""A list's filter bar with a date it cannot read (the review: `?from=2026-13-45` was dropped without a word): the
range is not applied, and the bar says which date was not read, as the retention page's 基準日 does."""

from __future__ import annotations

from starlette.requests import Request

from shared.web.ui import UI, filters_of


def request(query: str) -> Request:
    return Request({"type": "http", "method": "GET", "path": "/ui/", "query_string": query.encode(), "headers": []})


def bar(query: str) -> str:
    template = UI("intake", "t").templates.env.from_string(
        '{% from "_lists.html" import filter_bar %}{{ filter_bar(filters) }}')
    return template.render(filters=filters_of(request(query)))


def test_a_date_that_is_not_one_is_not_applied_and_the_bar_says_so() -> None:
    filters = filters_of(request("from=2026-13-45&to=2026-11-30"))
    assert (filters.since, str(filters.until)) == (None, "2026-11-30")
    assert filters.unread == (("から", "2026-13-45"),)
    shown = bar("from=2026-13-45&to=abc")
    assert "期間（から）の「2026-13-45」は日付として読めない" in shown
    assert "期間（まで）の「abc」は日付として読めない" in shown


def test_dates_that_are_dates_and_no_dates_say_nothing() -> None:
    assert filters_of(request("from=2026-04-01&to=2026-11-30")).unread == ()
    assert filters_of(request("")).unread == ()
    assert "読めない" not in bar("from=2026-04-01")
