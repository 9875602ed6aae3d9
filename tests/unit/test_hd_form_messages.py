"""A form's refusal as staff read it beside the form (shared/web/limits.py form_model, shared/web/dates.py typed_dates):
its Japanese, then its English, each whole (HD's review as staff). Before, the English half carried the field's
Japanese name (「協議の場を入力してください / 協議の場 is required」) and every problem came as 「入力内容を確認してください /
check the form: 生年月日: 生年月日「S35.13.3」は実在しない日付です / 'S35.13.3' is not a real date」, Japanese again after the
English; a refusal of the whole form named its field 「フォーム / form」 in the middle of it. Now: 「入力内容を確認してください:
<each problem in Japanese> / check the form: <each problem in English, the field by its own name>」."""

from __future__ import annotations

import re
from typing import Self

import pytest
from pydantic import BaseModel, Field, model_validator

from services.meeting.api import MeetingIn
from shared.web.dates import WarekiBirthDate, typed_dates
from shared.web.limits import Invalid, form_model

#: a Japanese character (kana or kanji); an echoed value in 「」 or '' is the person's own text
JAPANESE = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uff01-\uff5e]")


class Role(BaseModel):
    agency: str = Field(min_length=1, title="機関")
    responsibility: str = Field(min_length=1, title="役割")


class Sample(BaseModel):
    forum: str = Field(min_length=1, title="協議の場")
    birth_date: WarekiBirthDate | None = Field(default=None, title="生年月日")
    roles: list[Role] = Field(default=[], title="役割分担")


class Attended(BaseModel):
    attendees: list[str] = Field(default=[], title="出席機関")

    @model_validator(mode="after")
    def someone(self) -> Self:
        if not self.attendees:
            raise ValueError("出席機関を1つ以上選んでください / choose the attending agencies")
        return self


def refusal(model: type[BaseModel], sent: dict[str, object]) -> tuple[str, str]:
    """The refusal's Japanese and English halves."""
    with pytest.raises(Invalid) as refused:
        form_model(model, sent)
    japanese, english = str(refused.value).split(" / check the form: ")
    assert japanese.startswith("入力内容を確認してください: "), japanese
    return japanese, english


def without_values(text: str) -> str:
    return re.sub(r"「[^」]*」|'[^']*'", "", text)


def test_a_field_left_empty_is_asked_for_by_its_japanese_name_then_its_own_name() -> None:
    japanese, english = refusal(Sample, {"forum": ""})
    assert japanese == "入力内容を確認してください: 協議の場を入力してください"
    assert english == "forum is required"


def test_a_date_that_is_no_day_is_said_in_each_language_naming_the_field_in_that_language() -> None:
    japanese, english = refusal(Sample, {"forum": "地域ケア会議", "birth_date": "S35.13.3"})
    assert "確認してください: 生年月日「S35.13.3」は実在しない日付です" in japanese and "check the form" not in japanese
    assert "生年月日: 生年月日" not in japanese  # the field named once (session 21)
    assert english == "birth date: 'S35.13.3' is not a real date"


def test_an_item_of_a_list_is_named_by_its_number_in_both_languages() -> None:
    japanese, english = refusal(Sample, {"forum": "地域ケア会議", "roles": [{"agency": "福祉総務課", "responsibility": ""}]})
    assert japanese == "入力内容を確認してください: 役割分担 1件目 役割: 入力してください（1 文字以上）"
    assert english == "roles #1 responsibility: String should have at least 1 character"


def test_a_refusal_of_the_whole_form_names_no_field() -> None:
    japanese, english = refusal(Attended, {})
    assert japanese == "入力内容を確認してください: 出席機関を1つ以上選んでください"
    assert english == "choose the attending agencies"


def test_several_problems_each_in_its_language() -> None:
    japanese, english = refusal(Sample, {"birth_date": "S35.13.3", "roles": [{"agency": "", "responsibility": "x"}]})
    assert not JAPANESE.search(without_values(english)), english
    assert english.count("; ") == 2 and "forum is required" in english, english
    assert japanese.count("; ") == 2 and "協議の場を入力してください" in japanese, japanese


@pytest.mark.parametrize(("typed", "said", "in_english"), [
    ("R8.13.1", "開催日「R8.13.1」は実在しない日付です", "'R8.13.1' is not a real date"),
    ("来週の火曜", "開催日は 令和8年12月5日・R8.12.5・2026-12-05 のように入力してください",
     "type the date as 令和8年12月5日, R8.12.5 or 2026-12-05"),  # the ways to type it, as typed
])
def test_a_typed_date_refused_before_the_model_is_said_in_each_language(typed: str, said: str, in_english: str) -> None:
    with pytest.raises(Invalid) as refused:
        typed_dates(MeetingIn, {"held_on": typed})
    japanese, english = str(refused.value).split(" / check the form: ")
    assert japanese == "入力内容を確認してください: " + said
    assert english == in_english
