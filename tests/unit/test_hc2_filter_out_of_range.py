"""A list's から/まで that is a real day outside the days a list can be filtered by is said so (HC's review, session 20):
`to=1899-01-01` was said to be 「日付として読めない」, as if 1899-01-01 were no date; a filter reads days from 大正's first
day (1912-07-30), and the list now says that. What is no date is said as before."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request

from shared.web.ui import UI, filters_of


def _request(query: str) -> Request:
    return Request({"type": "http", "method": "GET", "path": "/ui/", "query_string": query.encode(), "headers": []})


def test_a_real_day_before_the_filters_range_is_said_to_be_out_of_range_not_no_date() -> None:
    filters = filters_of(_request("to=1899-01-01&from=R8.13.1"))

    assert filters.unread == (("から", "R8.13.1"), ("まで", "1899-01-01"))
    assert filters.outside == ("まで",)


def test_the_list_says_which_of_the_two_it_is() -> None:
    ui = UI("intake", "包括的相談支援", Path("services/intake/templates"))
    macro = ui.templates.env.get_template("_lists.html").module.unread_dates  # type: ignore[attr-defined]

    said = str(macro(filters_of(_request("to=1899-01-01&from=R8.13.1")), "相談日"))

    assert "相談日（まで）の「1899-01-01」は絞り込める期間（大正元年7月30日（1912-07-30）以降）の外のため" in said
    assert "相談日（から）の「R8.13.1」は日付として読めないため" in said
    assert "「1899-01-01」は日付として読めない" not in said
