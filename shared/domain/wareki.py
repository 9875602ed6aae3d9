"""和暦: dates as staff read them, with the Gregorian date beside (令和8年11月28日 (2026-11-28)).

A page shows what is stored: a value that is not a date (recorded before the API bounded dates,
e.g. a five-digit year) is shown as it is, never a 500 (issue 13, item 6)."""

from __future__ import annotations

import re
import unicodedata
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


def day_ja(day: date) -> str:
    """A day in a refusal's Japanese half as staff read and type dates: 和暦 with the Gregorian beside,
    「令和8年12月1日（2026-12-01）」 (the English half keeps 2026-12-01)."""
    return f"{wareki(day, with_gregorian=False)}（{day.isoformat()}）"


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


# -- 和暦の入力 / reading a date as staff type it (issue 15) ------------------------------------------

#: the eras a date may be typed in, by name and by initial (R/H/S, also full width and lower case)
ERA_NAMES = {"令和": "令和", "R": "令和", "平成": "平成", "H": "平成", "昭和": "昭和", "S": "昭和", "大正": "大正", "T": "大正"}
_ERA_START = {era: start for start, era in ERAS}
_ERA_END = {"平成": date(2019, 4, 30), "昭和": date(1989, 1, 7), "大正": date(1926, 12, 24), "令和": date(9999, 12, 31)}
#: each era's name as English writes it (an English message names the era so, never in kanji)
ERA_ENGLISH = {"令和": "Reiwa", "平成": "Heisei", "昭和": "Showa", "大正": "Taisho"}


def _era_span_ja(era: str) -> str:
    last = _ERA_END[era]
    return (f"{era}は{wareki(_ERA_START[era], with_gregorian=False)}から" if last.year == 9999 else
            f"{era}は{wareki(_ERA_START[era], with_gregorian=False)}から{wareki(last, with_gregorian=False)}まで")


def _era_span_en(era: str) -> str:
    last = _ERA_END[era]
    return (f"{ERA_ENGLISH[era]} began on {_ERA_START[era].isoformat()}" if last.year == 9999 else
            f"{ERA_ENGLISH[era]} ran from {_ERA_START[era].isoformat()} to {last.isoformat()}")


def _era_year_en(day: date) -> str:
    """The era year a day falls in, as English writes it: Reiwa 2 (令和2年)."""
    start, era = next((start, era) for start, era in ERAS if day >= start)
    return f"{ERA_ENGLISH[era]} {day.year - start.year + 1}"


_WAREKI = re.compile(r"^(令和|平成|昭和|大正|[RHST])\.?(元|\d{1,2})年?(?:[.\-/]?(\d{1,2})月?(?:[.\-/]?(\d{1,2})日?)?)?$")
_WESTERN = re.compile(r"^(\d{4})(?:[\-/.年](\d{1,2})月?(?:[\-/.](\d{1,2})日?|(\d{1,2})日)?)?$")


class NotADate(ValueError):
    """A typed date that is not one, or out of its plausible range: the message is Japanese, then English."""


def _compact(text: str) -> str:
    return "".join(unicodedata.normalize("NFKC", text or "").split()).upper()


#: as office documents write a date besides: 昭35.2.3 (the era's first character), 昭和三十五年二月三日 (kanji numerals),
#: 20261201 (eight digits, as the city's other systems print it), 1960年2月3日生 and 令和8年12月1日（火） (a weekday after it)
_ERA_INITIAL = re.compile(r"^(令|平|昭|大)(?=[.元\d])")
_ERA_OF_INITIAL = {"令": "令和", "平": "平成", "昭": "昭和", "大": "大正"}
_KANJI_NUMBER = re.compile(r"[〇一二三四五六七八九十]+")
_KANJI_DIGITS = {c: i for i, c in enumerate("〇一二三四五六七八九")}
_EIGHT_DIGITS = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_BORN = re.compile(r"(生まれ|生)$")
_WEEKDAY = re.compile(r"\(([月火水木金土日])(?:曜日?)?\)$")
WEEKDAYS_JA = "月火水木金土日"
_WEEKDAYS_EN = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _arabic(kanji: str) -> str:
    """Kanji numerals as digits: 三十五 → 35, 十二 → 12, 二十 → 20, 十 → 10, 一九六〇 → 1960."""
    if "十" not in kanji:
        return "".join(str(_KANJI_DIGITS[c]) for c in kanji)
    tens, _, ones = kanji.partition("十")
    if len(tens) > 1 or len(ones) > 1 or "十" in ones:
        return kanji  # not a number under 100 written so: left as typed (refused as no date)
    return str(10 * (_KANJI_DIGITS[tens] if tens else 1) + (_KANJI_DIGITS[ones] if ones else 0))


def _as_typed(raw: str) -> tuple[str, int | None]:
    """The compacted text as the patterns read it, and the weekday written after it (0 = Monday), if any."""
    weekday = _WEEKDAY.search(raw)
    if weekday:
        raw = raw[:weekday.start()]
    raw = _BORN.sub("", raw)
    raw = _KANJI_NUMBER.sub(lambda m: _arabic(m.group()), raw)
    raw = _ERA_INITIAL.sub(lambda m: _ERA_OF_INITIAL[m.group(1)], raw)
    raw = _EIGHT_DIGITS.sub(r"\1-\2-\3", raw)
    return raw, WEEKDAYS_JA.index(weekday.group(1)) if weekday else None


def parse_date(text: str, *, earliest: date, latest: date, what: str = "日付") -> date:
    """A date typed as staff write it: 令和8年12月5日, R8.12.5, 平成元年1月8日, S35-2-3, 2026-12-05,
    2026/12/5, 2026年12月5日; as documents write it too: 昭35.2.3, 昭和三十五年二月三日, 20261205, 1960年2月3日生,
    令和8年12月5日（土） (a weekday that is not the day's is refused, saying the day's). A year alone (令和8年, 1960) or a
    year and month mean their first day.

    Refused (NotADate) when it is not a real day of its era (平成32年, 令和元年4月) or lies outside
    `earliest`..`latest`."""
    raw, weekday = _as_typed(_compact(text))
    era_match, western = _WAREKI.match(raw), _WESTERN.match(raw)
    try:
        if era_match:
            era = ERA_NAMES[era_match.group(1)]
            year = 1 if era_match.group(2) == "元" else int(era_match.group(2))
            month, day_ = int(era_match.group(3) or 1), int(era_match.group(4) or 1)
            day = date(_ERA_START[era].year + year - 1, month, day_)
            before_era = day < _ERA_START[era] and era_match.group(3) is not None  # 令和元年4月: still 平成
            if year < 1 or before_era or day > _ERA_END[era]:
                meant = year >= 1 and day >= ERAS[-1][0]  # the day in the era it fell in: 平成32年 is 令和2年
                raise NotADate(
                    f"{what}「{text}」は{era}の日付ではありません（{_era_span_ja(era)}"
                    + (f"。{day.isoformat()} は{wareki(day, with_gregorian=False)}です" if meant else "") + "） / "
                    f"{text!r} is not a date of the {ERA_ENGLISH[era]} era ({_era_span_en(era)}"
                    + (f"; {day.isoformat()} is in {_era_year_en(day)}" if meant else "") + ")")
            day = max(day, _ERA_START[era])  # 平成元年 alone: its first day, 1989-01-08
        elif western:
            day = date(int(western.group(1)), int(western.group(2) or 1),
                       int(western.group(3) or western.group(4) or 1))
        else:
            raise NotADate(f"{what}は 令和8年12月5日・R8.12.5・2026-12-05 のように入力してください / "
                           f"type the {'birth date' if what == '生年月日' else 'date'} as 令和8年12月5日, R8.12.5 or 2026-12-05")
    except ValueError as error:
        if isinstance(error, NotADate):
            raise
        raise NotADate(f"{what}「{text}」は実在しない日付です / {text!r} is not a real date") from error
    if weekday is not None and day.weekday() != weekday:  # 令和8年12月1日（月）: which of the two was meant?
        raise NotADate(f"{what}「{text}」の曜日が合いません（{wareki(day, with_gregorian=False)}は"
                       f"{WEEKDAYS_JA[day.weekday()]}曜日です）。日付か曜日を確かめてください / "
                       f"{text!r}: {day.isoformat()} is a {_WEEKDAYS_EN[day.weekday()]}, not a "
                       f"{_WEEKDAYS_EN[weekday]}: check the date or the weekday")
    if not earliest <= day <= latest:
        raise NotADate(f"{what}は {wareki(earliest, with_gregorian=False)}（{earliest.isoformat()}）から"
                       f"{wareki(latest, with_gregorian=False)}（{latest.isoformat()}）までの日付にしてください / "
                       f"the date must be between {earliest.isoformat()} and {latest.isoformat()}")
    return day


def today_in_japan() -> date:
    """Today in Japan (the city's day, whatever the server's zone)."""
    return datetime.now(JST).date()


EARLIEST_BIRTH = date(1900, 1, 1)
#: how far back a 相談日 may be recorded (a consultation entered late), and never in the future
CONSULTATION_DAYS_BACK = 366


def parse_birth_date(text: str) -> date:
    """生年月日: 1900-01-01 to today."""
    return parse_date(text, earliest=EARLIEST_BIRTH, latest=today_in_japan(), what="生年月日")


def parse_consultation_date(text: str, what: str = "相談日") -> date:
    """相談日 (or another recent day, `what`): within a year before today, not after today."""
    now = today_in_japan()
    return parse_date(text, earliest=now - timedelta(days=CONSULTATION_DAYS_BACK), latest=now, what=what)


def age_on(birth: date | str | None, on: date | None = None) -> int | None:
    """満年齢 on a day (today in Japan by default); None for no or an unreadable birth date."""
    if isinstance(birth, str):
        try:
            birth = date.fromisoformat(birth)
        except ValueError:
            return None
    if birth is None:
        return None
    on = on or today_in_japan()
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def local_time(moment: datetime | None) -> str:
    """A moment as staff read it: Japan time, ISO text to the minute (for the `wareki` filter and hh:mm);
    empty for none."""
    return moment.astimezone(JST).isoformat(timespec="minutes") if moment else ""
