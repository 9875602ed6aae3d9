"""Dates as staff type them (和暦 or Western), as pydantic types for command models (issue 15).

`WarekiBirthDate` (1900-01-01 to today) and `ConsultationDate` (a year back to today) read 令和8年12月5日,
R8.12.5, 平成元年, S35-2-3, 2026-12-05 or 2026/12/5 (shared/domain/wareki.py parse_date) and hold the ISO
text; a refusal is the parser's Japanese message (a form names the field by its title).

`query_day` reads a query parameter that is a day (保存年限's `as_of`) the same way, refusing what is none, naming the
parameter. `read_day` reads a date a list's filter was sent (`from`, `to`: a date field's YYYY-MM-DD, or 和暦 typed where the
browser shows a text field), None when it is not one. `typed_dates` does the same for a form's post: each date field of
the command's model read as staff type it and sent on as YYYY-MM-DD, or refused with what to type, naming the field."""

from __future__ import annotations

import types
from collections.abc import Callable, MutableMapping
from datetime import date, datetime
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import AfterValidator, BaseModel, BeforeValidator, Field, ValidationInfo

from shared.domain.wareki import NotADate, parse_birth_date, parse_consultation_date, parse_date
from shared.kernel.journey import Invalid
from shared.web.limits import form_refusal, halves

#: the days a filter may name: from the first day of 大正 (the earliest era typed) to the Gregorian calendar's end
_FILTER_EARLIEST, _FILTER_LATEST = date(1912, 7, 30), date(9999, 12, 31)


def _birth(text: str) -> str:
    return parse_birth_date(text).isoformat()


def _consulted(text: str) -> str:
    """A recent day (a year back to today): the 相談日, but also a household's 世帯として把握した日, so the refusal says
    「日付」; a form names the field by its title before it, the API by its name (it said 「世帯として把握した日: 相談日は…」)."""
    return parse_consultation_date(text, what="日付").isoformat()


_HOW = "和暦（令和8年12月5日, R8.12.5, 平成元年）または西暦（2026-12-05, 2026/12/5）"


def _as_text(what: str, example: str) -> Callable[[Any, ValidationInfo], Any]:
    """A typed day's field refuses a JSON number saying what to send (it said 「文字列を入力してください」 only)."""

    def text(value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, bool | int | float):
            raise ValueError(f"{what}は数ではなく 和暦か YYYY-MM-DD（例 {example}）の文字で送ってください / "  # noqa: TRY004  # pydantic: a 422
                             f"{info.field_name}: send the date as text, YYYY-MM-DD (e.g. {example}) or 和暦, not a number")
        return value

    return text


WarekiBirthDate = Annotated[str, Field(max_length=40, description="生年月日: " + _HOW + "; 1900-01-01 から今日まで"),
                            BeforeValidator(_as_text("生年月日", "1960-02-03")), AfterValidator(_birth)]
ConsultationDate = Annotated[str, Field(max_length=40, description="相談日など最近の日: " + _HOW + "; 1年前から今日まで"),
                             BeforeValidator(_as_text("日付", "2026-12-01")), AfterValidator(_consulted)]


def read_day(text: str | None) -> date | None:
    """A day as sent in a query: 2026-12-05 (a date field), or as staff type it (令和8年12月5日, R8.12.5, 2026/12/5;
    a year or month alone: its first day); None when it is none of these (at most 40 characters read)."""
    if not text or not text.strip() or len(text) > 40:
        return None
    try:
        return parse_date(text, earliest=_FILTER_EARLIEST, latest=_FILTER_LATEST)
    except NotADate:
        return None


def out_of_filter_range(text: str | None) -> bool:
    """Whether a filter's day that `read_day` did not read is a real day, only outside the days a filter may name (大正's
    first day to 9999-12-31): said as such to staff rather than as no date."""
    if not text or not text.strip() or len(text) > 40:
        return False
    try:
        parse_date(text, earliest=date.min, latest=date.max)
    except NotADate:
        return False
    return True


def query_day(what: str, name: str) -> Callable[[Any], date | None]:
    """The reader of a query parameter that is a day (`name`, 「`what`」 to staff), as `read_day` reads a filter: 和暦 or
    Western (令和8年12月6日, R8.12.6, 2026-12-06, 2026/12/6), None when blank; anything else refused with what to type,
    naming the parameter in Japanese and English (a 422 of the API; its page says so itself)."""

    def read(value: Any) -> date | None:
        if value is None or isinstance(value, date):
            return value
        text = str(value)
        if not text.strip():
            return None
        if len(text) > _QUERY_MAX:
            raise NotADate(f"{what}（{name}）が長すぎます（{_QUERY_MAX} 文字まで）/ {name}: at most {_QUERY_MAX} characters")
        try:
            return parse_date(text, earliest=_FILTER_EARLIEST, latest=_FILTER_LATEST, what=f"{what}（{name}）")
        except NotADate as refused:
            japanese, _, english = str(refused).partition(" / ")
            raise NotADate(f"{japanese} / {name}: {english}") from None

    return read


def query_day_schema(description: str) -> dict[str, Any]:
    """The OpenAPI schema of a `query_day` parameter: text (和暦 is no `format: date`), at most 40 characters."""
    return {"type": "string", "maxLength": _QUERY_MAX, "description": description + ": " + _HOW,
            "examples": ["2026-12-06", "令和8年12月6日", "R8.12.6"]}


_QUERY_MAX = 40

#: the days a form's date may be read as (the command model then says its own range: 開催日 within 5 years…)
_FORM_EARLIEST, _FORM_LATEST = date(1900, 1, 1), date(9999, 12, 31)
_ISO_DAY_LENGTH = 10


def _is_day(annotation: Any) -> bool:
    """Whether a field holds a day (`date`, `date | None`, `Annotated[date, …]`), not a moment (`datetime`)."""
    if isinstance(annotation, type):
        return issubclass(annotation, date) and not issubclass(annotation, datetime)
    origin = get_origin(annotation)
    if origin is Annotated:
        return _is_day(get_args(annotation)[0])
    if origin is Union or origin is types.UnionType:
        held = [a for a in get_args(annotation) if a is not type(None)]
        return len(held) == 1 and _is_day(held[0])
    return False


def typed_dates(model: type[BaseModel], sent: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """A division UI's form as sent (`form_text`), with each date field of its command `model` read as staff type it
    (令和8年12月6日, R8.12.6, 2026/12/6; a browser that shows a date field as a text field, or an old one) and put
    back as YYYY-MM-DD, in place (the page shown again after a refusal has the day in its date field). A value that
    is no date is refused here, naming the field by its title and saying what to type (the model's own message asked
    for YYYY-MM-DD only); its range stays the model's to check."""
    for name, field in model.model_fields.items():
        key = field.alias or name
        value = sent.get(key)
        if not isinstance(value, str) or not value.strip() or not _is_day(field.annotation):
            continue
        try:
            if len(value.strip()) == _ISO_DAY_LENGTH and date.fromisoformat(value.strip()):
                continue  # a date field's own YYYY-MM-DD
        except ValueError:
            pass
        try:
            sent[key] = parse_date(value, earliest=_FORM_EARLIEST, latest=_FORM_LATEST,
                                   what=field.title or name).isoformat()
        except NotADate as refused:
            raise Invalid(form_refusal([halves(str(refused))])) from None
    return sent
