"""A one-line field (a name, a code, a つなぎ先, an attendee…) needs something to read when it is not empty (the review:
zero-width characters or combining marks only were stored, and listed as an empty-looking entry)."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, Field, ValidationError

from shared.web.limits import Name, ShortName


class Form(BaseModel):
    name: Name = Field(max_length=50)
    items: list[ShortName] = []


@pytest.mark.parametrize("invisible", ["\u200b\u200b", "\u0301\u0301", "\u3000 ", "\u2060\ufeff"])
def test_a_one_line_value_of_nothing_visible_is_refused_with_a_message(invisible: str) -> None:
    with pytest.raises(ValidationError, match="見える文字がありません"):
        Form(name=invisible)
    with pytest.raises(ValidationError, match="見える文字がありません"):
        Form(name="ok", items=[invisible])


@pytest.mark.parametrize("value", ["", "山田 花子", "A", "〒", "①"])
def test_a_value_with_something_to_read_or_none_at_all_is_taken(value: str) -> None:
    assert Form(name=value).name == value
