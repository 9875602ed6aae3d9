"""Limits on what a request may carry, in one place (issue 6: bad input is refused clearly).

`BodyLimit` refuses a request body over `MAX_BODY_BYTES` with 413, before the route reads it
when `Content-Length` says so, and while it is read otherwise (chunked); an API body that is
not declared JSON with 415 (the division UIs under `/ui/` post forms); request headers over
`MAX_HEADER_BYTES` with 431 (shared/web/serve.py refuses them already while they arrive). A body
that is not UTF-8 or not JSON is refused with 400 saying so, in Japanese and English; a
validation error that echoes a lone surrogate back is escaped rather than becoming a 500, and
each one's `msg` says in Japanese what to do, with pydantic's English beside it.

The bounds of every field a command carries (issue 13, item 6), used by every request model
(services/*/api.py, shared/web/plan_api.py) and by the division UIs' form parsers (`form_model`):

- `Name` (a single line: names, codes, agencies, areas) and `Text` (free text, which may have
  line breaks and tabs) refuse the C0 control characters, DEL and the C1 controls, and the
  bidirectional controls (U+061C, U+200E/F, U+202A–U+202E, U+2066–U+2069: Unicode's Bidi_Control) that make text
  read otherwise than it is stored; a single line also the line and paragraph separators (U+2028/U+2029); each field
  gives its own `max_length`;
- `BirthDate`: a real date from 1900-01-01 to today; `NearDate`: a real date within
  `YEARS_AROUND` years of today (meetings, placements, reviews);
- `Capacity`: a JSON integer from 1 to `MAX_CAPACITY` (a 401-digit number once stopped the read
  models of two services); list lengths are bounded where they are declared.
"""

from __future__ import annotations

import html
import json
import math
import re
import unicodedata
from collections.abc import Mapping
from datetime import date, datetime, timedelta, timezone
from typing import Annotated, Any, TypeVar, get_origin

from fastapi import FastAPI, HTTPException, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import AfterValidator, BaseModel, BeforeValidator, Field, TypeAdapter, ValidationError, ValidationInfo
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.domain.labels import CHOICE_WHY
from shared.domain.wareki import NotADate, day_ja, parse_date
from shared.kernel.journey import Invalid

#: The largest legitimate command (a plan with many long goals) is a few tens of kB.
MAX_BODY_BYTES = 1_048_576
#: Request line and headers together; a browser's with every cookie is a few kB.
MAX_HEADER_BYTES = 65_536
#: The most people one local resource takes (定員).
MAX_CAPACITY = 100_000
#: How far from today a meeting, a placement or a review may be dated.
YEARS_AROUND = 5
EARLIEST_BIRTH_DATE = date(1900, 1, 1)
#: List lengths: attendees, positions, goals, roles, needs, concerns.
MAX_ITEMS = 50
JST = timezone(timedelta(hours=9), "JST")

TOO_LARGE = (
    f"送信された内容が大きすぎます（上限 {MAX_BODY_BYTES // 1024} KiB）。内容を分けるか短くしてください / "
    f"the request body is larger than {MAX_BODY_BYTES // 1024} KiB: shorten it or send it in parts"
)
NOT_JSON_TYPE = (
    "API への送信は JSON です。Content-Type: application/json を付けてください / "
    "the API takes JSON: send the body with Content-Type: application/json"
)
HEADERS_TOO_LARGE = (
    f"リクエストヘッダーが大きすぎます（上限 {MAX_HEADER_BYTES // 1024} KiB）。Cookie を削除するなどして小さくしてください / "
    f"the request headers are larger than {MAX_HEADER_BYTES // 1024} KiB: send fewer or shorter headers (cookies)"
)
BAD_LENGTH = "Content-Length が正しくありません / the Content-Length header is not a number"
NOT_JSON = (
    "送信された内容を JSON (UTF-8) として読めません。Content-Type: application/json で UTF-8 の JSON を送ってください / "
    "the body is not JSON in UTF-8: send UTF-8 JSON with Content-Type: application/json"
)

NESTED_TOO_DEEP = (
    "送信された JSON の入れ子（配列・オブジェクトの中の配列・オブジェクト）が深すぎて読めません。項目の形を /docs で確認して"
    "ください / the JSON body is nested too deeply to be read: see /docs for the fields' shapes"
)
TOO_MANY_DIGITS = (
    "送信された JSON に 4300 桁を超える数があり、読めません。数は項目の範囲内で送ってください / the JSON body holds a number "
    "of more than 4300 digits, which cannot be read: send numbers within the fields' ranges"
)

#: Starlette's bare answers, said so that a person knows what to do
FRAMEWORK_WORDS = {
    (404, "Not Found"): "このアドレスはありません。API の一覧は /docs にあります / no such address: see /docs for the API",
    (405, "Method Not Allowed"): "このアドレスはこのメソッドを受け付けません。/docs を確認してください / "
                                 "this address does not take this method: see /docs",
}


# -- the bounds of a field --------------------------------------------------------------------

_BIDI = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"  # Unicode's Bidi_Control (U+061C: the review from outside)
_SEPARATORS = "\u2028\u2029"  # a line break in a single line as much as CR or LF
#: what no field may hold; a `Name` neither tab nor line break
_NOT_IN_NAME = re.compile(f"[\x00-\x1f\x7f-\x9f{_BIDI}{_SEPARATORS}]")
_NOT_IN_TEXT = re.compile(f"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f{_BIDI}]")
#: the same as JSON Schema patterns, so that API clients (and schemathesis) know them
NAME_PATTERN = "^[^\\x00-\\x1f\\x7f-\\x9f\\u061c\\u200e\\u200f\\u202a-\\u202e\\u2066-\\u2069\\u2028\\u2029]*$"
TEXT_PATTERN = "^[^\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f-\\x9f\\u061c\\u200e\\u200f\\u202a-\\u202e\\u2066-\\u2069]*$"


def _what(char: str) -> tuple[str, str]:
    code = f"U+{ord(char):04X}"
    if char in "\t\r\n\u2028\u2029":
        return f"改行またはタブ（{code}）", f"a line break or tab ({code})"
    if char == "\u061c" or ord(char) >= 0x200E:
        return f"文字の向きを変える制御文字（{code}）", f"a bidirectional control character ({code})"
    return f"制御文字（{code}）", f"a control character ({code})"


def _refusing(pattern: re.Pattern[str], where: str) -> Any:
    def check(value: str) -> str:
        found = pattern.search(value)
        if found:
            ja, en = _what(found.group())
            raise ValueError(f"{where}使えない文字 {ja} が含まれています。取り除いてください / "
                             f"contains {en}, which cannot be stored: remove it")
        return value

    return check


_refusing_in_a_line = _refusing(_NOT_IN_NAME, "一行の項目に")


def single_line(value: str) -> str:
    """One line with no control character, and something to read when it is not empty (the review: a name of zero-width
    characters or combining marks only was stored and listed as an empty-looking name)."""
    _refusing_in_a_line(value)
    if value and not any(unicodedata.category(ch)[0] in "LNPS" for ch in value):
        raise ValueError("見える文字がありません（空白・ゼロ幅の文字・結合記号だけです）。内容を入力してください / "
                         "no visible character (only spaces, zero-width characters or combining marks)")
    return value


free_text = _refusing(_NOT_IN_TEXT, "")

#: A name, code or other single line; give `Field(min_length=…, max_length=…)` beside it.
Name = Annotated[str, AfterValidator(single_line), Field(json_schema_extra={"pattern": NAME_PATTERN})]
#: Free text (line breaks and tabs allowed); give `Field(min_length=…, max_length=…)` beside it.
Text = Annotated[str, AfterValidator(free_text), Field(json_schema_extra={"pattern": TEXT_PATTERN})]
#: List items, whose bounds cannot be given beside them
ShortName = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(single_line),
                      Field(json_schema_extra={"pattern": NAME_PATTERN})]
Need = Annotated[str, Field(min_length=1, max_length=500), AfterValidator(free_text),
                 Field(json_schema_extra={"pattern": TEXT_PATTERN})]
LongText = Annotated[str, Field(min_length=1, max_length=2000), AfterValidator(free_text),
                     Field(json_schema_extra={"pattern": TEXT_PATTERN})]


def today() -> date:
    """Today in Japan (the city's day, whatever the server's zone)."""
    return datetime.now(JST).date()


def _years_from(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def check_birth_date(value: str) -> str:
    """A birth date as YYYY-MM-DD, a real day from 1900-01-01 to today; the ISO text back."""
    try:
        day = date.fromisoformat(value) if len(value) == 10 else None
    except ValueError:
        day = None
    if day is None:
        raise ValueError("生年月日は実在する日付を YYYY-MM-DD で入力してください（例: 1960-02-03）/ "
                         "the birth date is not a date: give YYYY-MM-DD, e.g. 1960-02-03")
    now = today()
    if not EARLIEST_BIRTH_DATE <= day <= now:
        raise ValueError(f"生年月日は {day_ja(EARLIEST_BIRTH_DATE)} から今日 {day_ja(now)} までの日付にしてください / "
                         f"the birth date must be between {EARLIEST_BIRTH_DATE.isoformat()} and today ({now.isoformat()})")
    return day.isoformat()


def check_near_date(day: date) -> date:
    """A day within `YEARS_AROUND` years of today."""
    now = today()
    earliest, latest = _years_from(now, -YEARS_AROUND), _years_from(now, YEARS_AROUND)
    if not earliest <= day <= latest:
        raise ValueError(f"日付は今日の前後 {YEARS_AROUND} 年以内（{day_ja(earliest)}〜{day_ja(latest)}）に"
                         f"してください / the date must be within {YEARS_AROUND} years of today "
                         f"({earliest.isoformat()} to {latest.isoformat()})")
    return day


def check_moment(moment: datetime) -> datetime:
    """A moment of the audit (`as_of`): from 1900 to `YEARS_AROUND` years ahead, so that no zone
    conversion overflows."""
    latest = _years_from(today(), YEARS_AROUND)
    if not EARLIEST_BIRTH_DATE <= moment.date() <= latest:
        raise ValueError(f"日時は {day_ja(EARLIEST_BIRTH_DATE)} から {day_ja(latest)} までにしてください / "
                         f"the moment must be between {EARLIEST_BIRTH_DATE.year} and {latest.isoformat()}")
    return moment


#: what a date field takes, as its refusals say it
DAY_AS_SENT = "YYYY-MM-DD（例 2026-12-01）"
MOMENT_AS_SENT = "2026-11-29T12:00:00+09:00"


def _named(info: ValidationInfo) -> str:
    return f"{info.field_name}: " if info.field_name else ""


def written_as_a_day(value: Any, info: ValidationInfo) -> Any:
    """A date field's value before pydantic reads it: pydantic reads a number (`1796256000`) or a string of digits as
    seconds since 1970 (the review from outside: `held_on: 1796256000` was recorded as 2026-12-03). A number is
    refused; eight digits are read as the pages read them (20261203: 2026-12-03, shared/domain/wareki.py
    parse_date); other digits are refused; any other text is left to the field (YYYY-MM-DD)."""
    if isinstance(value, bool | int | float):
        raise ValueError(f"日付は数ではなく {DAY_AS_SENT} の文字で送ってください（数は受け付けません） / "  # noqa: TRY004  # pydantic turns a ValueError into a 422
                         f"{_named(info)}send the date as text YYYY-MM-DD (e.g. 2026-12-01), not a number")
    if isinstance(value, str) and value.strip().isdigit():
        if len(value.strip()) != 8:
            raise ValueError(f"日付は {DAY_AS_SENT} で送ってください（数字だけなら 8 桁の年月日、例 20261201） / "
                             f"{_named(info)}send the date as YYYY-MM-DD (e.g. 2026-12-01), or as eight digits "
                             "(20261201), not a number")
        try:
            return parse_date(value, earliest=date(1, 1, 1), latest=date(9999, 12, 31))
        except NotADate as refused:
            raise ValueError(str(refused)) from None
    return value


_A_NUMBER = re.compile(r"\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*")


def written_as_a_moment(value: Any, info: ValidationInfo) -> Any:
    """A date-time field's value before pydantic reads it: a number, or a string of digits, is refused (pydantic read
    it as seconds since 1970)."""
    if isinstance(value, bool | int | float) or (isinstance(value, str) and _A_NUMBER.fullmatch(value)):
        raise ValueError(f"日時は数ではなく {MOMENT_AS_SENT} の形の文字で送ってください（数は受け付けません） / "
                         f"{_named(info)}send the moment as text such as {MOMENT_AS_SENT}, not a number")
    return value


BirthDate = Annotated[str, AfterValidator(check_birth_date), Field(json_schema_extra={"format": "date"})]
#: a day within `YEARS_AROUND` years of today, sent as YYYY-MM-DD (or eight digits); never a number
NearDate = Annotated[date, BeforeValidator(written_as_a_day), AfterValidator(check_near_date)]
Capacity = Annotated[int, Field(strict=True, ge=1, le=MAX_CAPACITY)]

Model = TypeVar("Model", bound=BaseModel)


def form_model(model: type[Model], data: Mapping[str, Any]) -> Model:
    """A division UI's form read into the API's own command model (one model per command, the same
    bounds as the JSON body). An empty field counts as not filled in (its default applies, or it is
    reported missing); one value for a list field is a list of one. A field out of bounds raises
    `Invalid` (422) naming the field by its `title` (Japanese) and saying what to do; the pages show it."""
    fields = model.model_fields
    cleaned: dict[str, Any] = {}
    for name, field in fields.items():
        key = field.alias or name
        value = data.get(key, data.get(name))
        if isinstance(value, str):
            value = value.strip()
        if value is None or value == "" or value == []:
            continue
        if isinstance(value, str) and _holds_many(field.annotation):
            value = [value]
        cleaned[key] = value
    try:
        return model.model_validate(cleaned)
    except ValidationError as exc:
        raise Invalid(form_refusal([_form_problem(model, error) for error in exc.errors(include_url=False)[:5]])) from None


def form_refusal(problems: list[tuple[str, str]]) -> str:
    """A form's problems (each in Japanese and in English) as one refusal: the Japanese half whole, then the English
    half whole (「入力内容を確認してください: … / check the form: …」), so neither carries the other's words."""
    return ("入力内容を確認してください: " + "; ".join(ja for ja, _ in problems)
            + " / check the form: " + "; ".join(en for _, en in problems))


#: where a message written 「Japanese / English」 turns to English: a slash after Japanese (kana, kanji, a full-width
#: bracket), before a printable ASCII character (an English word, or a value echoed in quotes)
_TO_ENGLISH = re.compile(r"(?<=[\u3000-\u30ff\u3400-\u9fff\uff01-\uff60]) ?/ (?=[!-~])")


def halves(message: str) -> tuple[str, str]:
    """A message written 「Japanese / English」 (the suite's way, shared/web/limits.py readable) as its two halves; a
    message without a Japanese half is its own Japanese too."""
    turn = _TO_ENGLISH.search(message)
    if turn is None:
        return message, message
    return message[:turn.start()], message[turn.end():]


def _holds_many(annotation: Any) -> bool:
    """Whether a field holds several values: a list (or tuple, set), also when it may be None."""
    if get_origin(annotation) in (list, tuple, set, frozenset):
        return True
    return any(_holds_many(argument) for argument in getattr(annotation, "__args__", ()) if argument is not type(None))


def _form_problem(model: type[BaseModel], error: Mapping[str, Any]) -> tuple[str, str]:
    """One problem of a form as staff read it, in Japanese and in English: a field left empty is asked for by its name
    (its `title` in Japanese, its own name in English); a problem of the whole form names no field."""
    label, name = _field_label(model, error["loc"]), _field_name(error["loc"])
    why = CHOICE_WHY.get(label) if len(error["loc"]) == 1 else None
    if why is not None and error.get("type") in ("missing", "too_short"):  # boxes to tick: which, how many, why
        least = _least_items(model, str(error["loc"][0]))
        return (f"{label}が選ばれていません。{least}つ以上選んでください。{why[0]}" if error.get("type") == "missing"
                else f"{label}は{least}つ以上選んでください。{why[0]}",
                f"{name}: none ticked; tick at least {least}: {why[1]}" if error.get("type") == "missing"
                else f"{name}: tick at least {least}: {why[1]}")
    if error.get("type") == "missing":
        return f"{label}を入力してください", f"{name} is required"
    if error.get("type") in ("uuid_parsing", "uuid_type"):  # a number typed short (the 8 characters a page shows)
        return (f"{label}は 8-4-4-4-12 の形の36文字の番号です。記録の画面の「{label}」を写して入力してください",
                f"{name}: give the whole number (36 characters, 8-4-4-4-12), copied from the record's page")
    japanese, english = halves(readable(error))
    if not error["loc"]:
        return japanese, english
    # a validator's own message that names the field already (「開設日「R8.2.30」は実在しない日付です」) is not named twice
    return (japanese if japanese.startswith(label) else f"{label}: {japanese}"), f"{name}: {english}"


def _least_items(model: type[BaseModel], name: str) -> int:
    """The fewest items a list field takes (its `min_length`, 1 when it declares none)."""
    field = model.model_fields.get(name)
    for bound in getattr(field, "metadata", ()):
        least = getattr(bound, "min_length", None)
        if isinstance(least, int) and least > 0:
            return least
    return 1


def _field_name(loc: tuple[int | str, ...]) -> str:
    """The field as the English half names it: its own name in words, an item of a list by its number from 1
    (「roles #2 responsibility」 for roles.1.responsibility)."""
    return " ".join(f"#{step + 1}" if isinstance(step, int) else str(step).replace("_", " ") for step in loc)


def _field_label(model: type[BaseModel], loc: tuple[int | str, ...]) -> str:
    """The field as staff know it: each step's `title` where the model gives one, else its name; an
    item of a list by its number from 1 (「役割分担 2件目 役割」 for roles.1.responsibility)."""
    if not loc:
        return "フォーム / form"
    parts: list[str] = []
    current: Any = model
    for step in loc:
        if isinstance(step, int):
            parts.append(f"{step + 1}件目")
            continue
        fields = getattr(current, "model_fields", {}) if isinstance(current, type) else {}
        field = fields.get(str(step))
        parts.append(field.title if field is not None and field.title else str(step))
        current = _item_model(field.annotation) if field is not None else None
    return " ".join(parts)


def _item_model(annotation: Any) -> Any:
    """The model a field holds, itself or as the items of a list (None when it holds no model)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for argument in getattr(annotation, "__args__", ()):
        found = _item_model(argument)
        if found is not None:
            return found
    return None


async def form_text(request: Request) -> dict[str, Any]:
    """A division UI's form as sent, for the command model and for showing the form again: each
    value stripped; a field sent more than once (checkboxes, multi-selects) as a list."""
    form = await request.form()
    sent: dict[str, Any] = {}
    for key in form:
        values = [value.strip() if isinstance(value, str) else value for value in form.getlist(key)]
        sent[key] = values if len(values) > 1 else values[0]
    return sent


def check_form(model: type[BaseModel], data: dict[str, Any]) -> dict[str, Any]:
    """The filled-in fields of a division UI's form checked against the API model's own bounds
    (an empty field is left to the use case, which says what is missing, as before); the values
    as the model reads them. Out of bounds raises `Invalid` (422) naming the field."""
    checked: dict[str, Any] = {}
    problems: list[str] = []
    for name, value in data.items():
        if value in (None, "", []) or name not in model.model_fields or model.model_fields[name].annotation is bool:
            checked[name] = value
            continue
        try:
            checked[name] = _adapter(model, name).validate_python(value)
        except ValidationError as exc:
            problems += [f"{'.'.join(str(p) for p in (name, *e['loc']))}: {readable(e)}"
                         for e in exc.errors(include_url=False)[:3]]
    if problems:
        raise Invalid("入力内容を確認してください / check the form: " + "; ".join(problems[:5]))
    return checked


_adapters: dict[tuple[type[BaseModel], str], TypeAdapter[Any]] = {}


def _adapter(model: type[BaseModel], name: str) -> TypeAdapter[Any]:
    key = (model, name)
    if key not in _adapters:
        field = model.model_fields[name]
        _adapters[key] = TypeAdapter(Annotated[field.annotation, field])  # type: ignore[arg-type]  # a type built at run time from the field
    return _adapters[key]


#: the longest free text a command takes (API models); a form field past it is refused
MAX_FORM_FIELD = 4000


async def form_guard(request: Request) -> None:
    """A division UI's form (a router dependency): no field longer than any command takes, and no
    control or bidirectional control characters in any (the forms' own checks give each field's
    exact bounds). Refused with 422 before the page's handler runs, as a page with the next step
    (shared/web/errors.py): the message names no form field by its code (the page's labels name them)."""
    if request.method != "POST":
        return
    form = await request.form()  # kept on the request: the handler's own `request.form()` reads it again
    for _name, value in form.multi_items():
        if not isinstance(value, str):
            raise Invalid("ファイルは送れません。前の画面に戻り、文字で入力してください / files are not accepted")
        if len(value) > MAX_FORM_FIELD:
            raise Invalid(f"{MAX_FORM_FIELD} 文字を超える入力欄があります。前の画面に戻り、{MAX_FORM_FIELD} 文字以内に"
                          f"してください / a field is longer than {MAX_FORM_FIELD} characters: go back and shorten it")
        try:
            free_text(value)
        except ValueError as exc:
            raise Invalid(f"入力欄に{exc}（前の画面に戻って直してください）") from None


#: pydantic's error types as a person at a counter reads them (the English message stays beside)
_JAPANESE = {
    "string_too_long": "{max_length} 文字以内にしてください",
    "string_too_short": "入力してください（{min_length} 文字以上）",
    "too_long": "{max_length} 件以内にしてください",
    "too_short": "{min_length} 件以上入力してください",
    "less_than_equal": "{le} 以下の数にしてください",
    "less_than": "{lt} より小さい数にしてください",
    "greater_than_equal": "{ge} 以上の数にしてください",
    "greater_than": "{gt} より大きい数にしてください",
    "int_type": "整数を入力してください",
    "int_parsing": "整数を入力してください",
    "int_from_float": "小数ではなく整数を入力してください",
    "missing": "必須の項目です",
    "string_type": "文字列を入力してください",
    "bool_type": "true か false を指定してください",
    "bool_parsing": "true か false を指定してください",
    "literal_error": "選べる値のいずれかにしてください",
    "enum": "選べる値のいずれかにしてください",
    "uuid_parsing": "番号（UUID）の形式が正しくありません",
    "uuid_type": "番号（UUID）の形式が正しくありません",
    "date_parsing": "日付を YYYY-MM-DD で入力してください",
    "date_from_datetime_parsing": "日付を YYYY-MM-DD で入力してください",
    "date_from_datetime_inexact": "日付は時刻を付けずに YYYY-MM-DD（例 2026-12-01）で入力してください",
    "date_type": "日付を YYYY-MM-DD で入力してください",
    "datetime_parsing": "日時を 2026-11-29T12:00:00+09:00 の形で入力してください",
    "datetime_from_date_parsing": "日時を 2026-11-29T12:00:00+09:00 の形で入力してください",
    "list_type": "一覧（配列）で指定してください",
    "dict_type": "オブジェクトで指定してください",
    "model_attributes_type": "オブジェクトで指定してください",
    "string_pattern_mismatch": "形式が正しくありません",
    "string_unicode": "文字列を UTF-8 で送ってください",
    "json_invalid": "JSON として読めません",
}


def readable(error: Mapping[str, Any]) -> str:
    """One validation error's message: Japanese, then English (a validator's own text is both)."""
    message, kind = str(error.get("msg", "")), str(error.get("type"))
    if kind == "value_error":
        return message.removeprefix("Value error, ")
    if kind in ("too_long", "too_short") and isinstance(error.get("input"), str):
        # a text that may be left out (`str | None` with a length): pydantic counts its characters as a list's items
        # (「100 件以内にしてください / Value should have at most 100 items after validation」): say characters
        ctx = error.get("ctx") or {}
        kind, message = (("string_too_long", f"String should have at most {ctx.get('max_length')} characters")
                         if kind == "too_long" else
                         ("string_too_short", f"String should have at least {ctx.get('min_length')} characters"))
    japanese = _JAPANESE.get(kind)
    if japanese is None:
        return message
    try:
        japanese = japanese.format(**(error.get("ctx") or {}))
    except (KeyError, IndexError, ValueError):
        pass
    return f"{japanese} / {message}"


def _writable(value: Any) -> Any:
    """`value` with every float JSON cannot write (`1e400` read as infinity, `NaN`) as the text it was sent as."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {key: _writable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_writable(item) for item in value]
    return value


class SafeJSONResponse(JSONResponse):
    """A JSON answer that survives echoing the input: a lone surrogate (`"\\ud800"`) is escaped, and a number JSON
    cannot write (`1e400`, `NaN`: the review from outside) is echoed as its text, not a 500."""

    def render(self, content: Any) -> bytes:
        try:
            return super().render(content)
        except ValueError:  # UnicodeEncodeError (a lone surrogate), or a float JSON cannot write
            return json.dumps(_writable(content), ensure_ascii=True, allow_nan=False,
                              separators=(",", ":")).encode("ascii")


class BodyTooLarge(HTTPException):
    """Raised while reading a body past the limit; FastAPI answers it as 413 with `detail`."""

    def __init__(self) -> None:
        super().__init__(status_code=413, detail=TOO_LARGE)


class BodyLimit:
    """ASGI middleware: no request body over `max_bytes` reaches a route (on its own; a service's edge,
    shared/web/edge.py, takes the same steps: `refusal_before`, `LimitedReceive`, `refuse`)."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        page = is_page_path(scope)
        refused = refusal_before(scope, self.max_bytes)
        if refused is not None:
            await refuse(send, *refused, page)
            return
        started = False

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, LimitedReceive(receive, self.max_bytes), watched_send)
        except BodyTooLarge:
            if started:
                raise
            await refuse(send, 413, TOO_LARGE, page)


def is_page_path(scope: Scope) -> bool:
    """A request for a division UI's page (`/ui/…`): refused with a page, not JSON."""
    return str(scope.get("path", "")).startswith("/ui/")


def refusal_before(scope: Scope, max_bytes: int = MAX_BODY_BYTES) -> tuple[int, str] | None:
    """What refuses a request before any route runs, as (status, detail); None when nothing does: request headers
    over `MAX_HEADER_BYTES` (431: a server other than shared/web/serve.py's let them in), a `Content-Length` that is
    no number (400) or over `max_bytes` (413), an API body not declared JSON (415; the division UIs post forms)."""
    raw = scope["headers"]
    if sum(len(name) + len(value) + 4 for name, value in raw) > MAX_HEADER_BYTES:
        return 431, HEADERS_TOO_LARGE
    headers = dict(raw)
    declared = headers.get(b"content-length")
    if declared is not None:
        if not declared.strip().isdigit():
            return 400, BAD_LENGTH
        if len(declared.strip()) > 18 or int(declared) > max_bytes:  # never int() of 5000 digits
            return 413, TOO_LARGE
    has_body = (declared is not None and int(declared) > 0) or b"transfer-encoding" in headers
    if has_body and scope["method"] in ("POST", "PUT", "PATCH") and not _is_json(headers.get(b"content-type")) \
            and not scope["path"].startswith("/ui/"):
        return 415, NOT_JSON_TYPE
    return None


class LimitedReceive:
    """A request's `receive` that raises `BodyTooLarge` once more than `max_bytes` of body have arrived (a chunked
    body, or one longer than its `Content-Length` said)."""

    __slots__ = ("max_bytes", "receive", "received")

    def __init__(self, receive: Receive, max_bytes: int) -> None:
        self.receive, self.max_bytes, self.received = receive, max_bytes, 0

    async def __call__(self) -> Message:
        message = await self.receive()
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self.max_bytes:
                raise BodyTooLarge()
        return message


def _is_json(content_type: bytes | None) -> bool:
    media = (content_type or b"").split(b";", 1)[0].strip().lower()
    return media == b"application/json" or (media.startswith(b"application/") and media.endswith(b"+json"))


#: what a page route (`/ui/...`) answers when the request is refused before any route runs: a page in
#: Japanese with the next step, never JSON (the error pages of shared/web/errors.py need a route)
REFUSED_PAGE = """<!doctype html>
<html lang="ja"><head><meta charset="utf-8"><title>送信できませんでした / not sent</title></head>
<body><main><h1>送信できませんでした（{status}）</h1><p role="alert">{detail}</p>
<h2>次にできること / what to do next</h2>
<ul><li>前の画面に戻り、入力した内容を短くするか、分けてからもう一度送ってください。</li>
<li><a href="/ui/">はじめの画面へ / start page</a></li></ul></main></body></html>
"""


async def refuse(send: Send, status: int, detail: str, page: bool = False) -> None:
    """Answer a request refused before any route ran: a page on `/ui/`, else JSON (`detail`)."""
    if page:
        body = REFUSED_PAGE.format(status=status, detail=html.escape(detail)).encode()
        content_type = b"text/html; charset=utf-8"
    else:
        body = json.dumps({"detail": detail}, ensure_ascii=False).encode()
        content_type = b"application/json"
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", content_type), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


def install(api: FastAPI, middleware: bool = True) -> None:
    """Put the limits on a service: the body limit, and a readable 400 for a body that is not JSON (`middleware`
    False: the service's edge, shared/web/edge.py, takes the body limit's steps)."""
    if middleware:
        api.add_middleware(BodyLimit)

    @api.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        errors = [{**error, "msg": readable(error)} for error in exc.errors()]
        return SafeJSONResponse({"detail": jsonable_encoder(errors)}, status_code=422)

    @api.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 400 and exc.detail == "There was an error parsing the body":
            # FastAPI's words for a body it could not decode (not UTF-8, not JSON), or JSON that Python's reader
            # would not take: nested too deep, or a number of more than 4300 digits (the review from outside)
            cause = exc.__cause__
            detail = (NESTED_TOO_DEEP if isinstance(cause, RecursionError)
                      else TOO_MANY_DIGITS if isinstance(cause, ValueError) and "digits" in str(cause) else NOT_JSON)
            return JSONResponse({"detail": detail}, status_code=400)
        if (exc.status_code, exc.detail) in FRAMEWORK_WORDS:
            return JSONResponse({"detail": FRAMEWORK_WORDS[exc.status_code, exc.detail]}, status_code=exc.status_code,
                                headers=getattr(exc, "headers", None))
        return await http_exception_handler(request, exc)
