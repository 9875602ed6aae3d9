"""Dates as staff type them (和暦 or Western), as pydantic types for command models (issue 15).

`WarekiBirthDate` (1900-01-01 to today) and `ConsultationDate` (a year back to today) read 令和8年12月5日,
R8.12.5, 平成元年, S35-2-3, 2026-12-05 or 2026/12/5 (shared/domain/wareki.py parse_date) and hold the ISO
text; a refusal is the parser's Japanese message (a form names the field by its title).

`read_day` reads a date a list's filter was sent (`from`, `to`: a date field's YYYY-MM-DD, or 和暦 typed where the
browser shows a text field), None when it is not one."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import AfterValidator, Field

from shared.domain.wareki import NotADate, parse_birth_date, parse_consultation_date, parse_date

#: the days a filter may name: from the first day of 大正 (the earliest era typed) to the Gregorian calendar's end
_FILTER_EARLIEST, _FILTER_LATEST = date(1912, 7, 30), date(9999, 12, 31)


def _birth(text: str) -> str:
    return parse_birth_date(text).isoformat()


def _consulted(text: str) -> str:
    return parse_consultation_date(text).isoformat()


_HOW = "和暦（令和8年12月5日, R8.12.5, 平成元年）または西暦（2026-12-05, 2026/12/5）"
WarekiBirthDate = Annotated[str, Field(max_length=40, description="生年月日: " + _HOW + "; 1900-01-01 から今日まで"),
                            AfterValidator(_birth)]
ConsultationDate = Annotated[str, Field(max_length=40, description="相談日: " + _HOW + "; 1年前から今日まで"),
                             AfterValidator(_consulted)]


def read_day(text: str | None) -> date | None:
    """A day as sent in a query: 2026-12-05 (a date field), or as staff type it (令和8年12月5日, R8.12.5, 2026/12/5;
    a year or month alone: its first day); None when it is none of these (at most 40 characters read)."""
    if not text or not text.strip() or len(text) > 40:
        return None
    try:
        return parse_date(text, earliest=_FILTER_EARLIEST, latest=_FILTER_LATEST)
    except NotADate:
        return None
