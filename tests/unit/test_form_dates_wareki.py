"""A form's date fields read 和暦 typed as text (README "Pages"), as a list's から/まで do: a field whose command model
takes a plain `date` (会議の開催日, 次回の見直し日, 次の対応の期日) gets the day as YYYY-MM-DD; what is no date is refused
naming the field and saying what to type, not "YYYY-MM-DD" only; a moment (`datetime`) and other fields are left as sent."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import pytest
from pydantic import AfterValidator, BaseModel, Field

from services.meeting.api import EvaluationIn, MeetingIn
from shared.kernel.journey import Invalid
from shared.web.casework_api import NoteIn
from shared.web.dates import typed_dates
from shared.web.limits import form_model


@pytest.mark.parametrize("typed", ["令和8年12月6日", "R8.12.6", "r8-12-6", "Ｒ８．１２．６", "2026/12/6", "2026年12月6日",
                                   "2026-12-06"])
def test_a_meetings_date_typed_in_wareki_is_read_as_its_day(typed: str) -> None:
    sent = {"meeting_type": "jusou_shien_kaigi", "held_on": typed, "attendees": ["福祉総務課"]}
    assert typed_dates(MeetingIn, sent)["held_on"] == "2026-12-06"
    assert sent["held_on"] == "2026-12-06"  # in place: the page shown again after a refusal has the day in its field


def test_the_model_then_reads_the_day_and_keeps_its_own_range() -> None:
    sent = {"meeting_type": "jusou_shien_kaigi", "held_on": "令和8年12月6日", "attendees": ["福祉総務課"]}
    # (the range check is the model's: within 5 years of today; this day is checked against today, so only its reading)
    assert typed_dates(MeetingIn, dict(sent))["held_on"] == "2026-12-06"
    with pytest.raises(Invalid, match="開催日: 日付は今日の前後 5 年以内"):
        form_model(MeetingIn, typed_dates(MeetingIn, {**sent, "held_on": "昭和64年1月7日"}))


def test_optional_date_fields_of_an_evaluation_and_a_case_note() -> None:
    assert typed_dates(EvaluationIn, {"next_review_on": "R9.3.31"})["next_review_on"] == "2027-03-31"
    note = typed_dates(NoteIn, {"next_due": "令和9年1月5日", "contacted_at": "2026-12-06T10:00"})
    assert note == {"next_due": "2027-01-05", "contacted_at": "2026-12-06T10:00"}  # a moment is not a day: as sent
    assert typed_dates(EvaluationIn, {"next_review_on": ""}) == {"next_review_on": ""}  # empty: the model's default


@pytest.mark.parametrize(("typed", "said"), [
    ("R8.13.1", "開催日「R8.13.1」は実在しない日付です"),
    ("平成32年1月1日", "開催日「平成32年1月1日」は平成の日付ではありません"),
    ("来週の火曜", "開催日は 令和8年12月5日・R8.12.5・2026-12-05 のように入力してください"),
])
def test_what_is_no_date_is_refused_naming_the_field_and_what_to_type(typed: str, said: str) -> None:
    with pytest.raises(Invalid) as refused:
        typed_dates(MeetingIn, {"held_on": typed})
    assert str(refused.value).startswith("入力内容を確認してください: " + said)
    assert "YYYY-MM-DD" not in str(refused.value)


def test_only_date_fields_are_read() -> None:
    class Form(BaseModel):
        on: Annotated[date, AfterValidator(lambda d: d)] = Field(title="日")
        maybe: date | None = None
        label: str = Field(default="", title="R8.1.1")

    sent = {"on": "R8.1.1", "maybe": "H31.4.30", "label": "R8.1.1", "other": "R8.1.1"}
    assert typed_dates(Form, sent) == {"on": "2026-01-01", "maybe": "2019-04-30", "label": "R8.1.1", "other": "R8.1.1"}
