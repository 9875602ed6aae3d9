"""和暦: dates as staff read them, with the Gregorian date beside (令和8年11月28日 (2026-11-28)).

A page shows what is stored: a value that is not a date (recorded before the API bounded dates,
e.g. a five-digit year) is shown as it is, never a 500 (issue 13, item 6)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

JST = timezone(timedelta(hours=9), "JST")
ERAS = ((date(2019, 5, 1), "令和"), (date(1989, 1, 8), "平成"), (date(1926, 12, 25), "昭和"), (date(1912, 7, 30), "大正"))


def wareki(value: date | datetime | str | None, *, with_gregorian: bool = True) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value) if "T" in value else date.fromisoformat(value)
        except ValueError:
            return value
        value = parsed
    if not isinstance(value, date):
        return str(value)
    day = value.date() if isinstance(value, datetime) else value
    for start, era in ERAS:
        if day >= start:
            year = day.year - start.year + 1
            text = f"{era}{'元' if year == 1 else year}年{day.month}月{day.day}日"
            break
    else:
        text = f"{day.year}年{day.month}月{day.day}日"
    return f"{text} ({day.isoformat()})" if with_gregorian else text


def jst(value: datetime | str | None) -> str:
    """A recorded moment (stored in UTC) as Japan time, ISO text: `{{ at | jst | wareki }} {{ (at | jst)[11:16] }}`."""
    if value is None or value == "":
        return ""
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else value
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.astimezone(JST).isoformat(timespec="seconds")
    except (ValueError, OverflowError, AttributeError, TypeError):
        return str(value)
