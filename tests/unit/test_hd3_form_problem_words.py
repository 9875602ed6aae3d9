"""Two refusals of a form as staff read them (HD's review, session 21, shared/web/limits.py `_form_problem`):
- a date field refused by its own check named the field twice: 「開設日: 開設日「R8.2.30」は実在しない日付です」,
  「生年月日: 生年月日「S99.4.1」は…」; the field is named once;
- a case's number typed as the pages show it (its first eight characters: 「0231cc17」) into 「ケース番号」 was refused
  「ケース番号: 番号（UUID）の形式が正しくありません / case id: Input should be a valid UUID, invalid length: found 8」,
  pydantic's words in the English half and nothing to do in either; it now says the whole number is 36 characters
  (8-4-4-4-12) and to copy it from the record's page. The JSON API's own refusals are unchanged."""

from __future__ import annotations

from uuid import UUID

import pytest
from pydantic import BaseModel, Field

from services.community.api import OpenedOn
from shared.kernel.journey import Invalid
from shared.web.dates import typed_dates
from shared.web.limits import form_model, halves


class TakeUp(BaseModel):
    case_id: UUID = Field(title="ケース番号")


class Opening(BaseModel):  # as community's place form: its own check reads 和暦 and names the field
    opened_on: OpenedOn = Field(title="開設日")


def _said(model: type[BaseModel], sent: dict[str, str]) -> tuple[str, str]:
    with pytest.raises(Invalid) as refused:
        form_model(model, typed_dates(model, dict(sent)))
    return halves(str(refused.value))


def test_a_case_number_typed_short_says_to_copy_the_whole_number() -> None:
    japanese, english = _said(TakeUp, {"case_id": "0231cc17"})
    assert japanese == ("入力内容を確認してください: ケース番号は 8-4-4-4-12 の形の36文字の番号です。記録の画面の「ケース番号」を写して"
                        "入力してください")
    assert english == "check the form: case id: give the whole number (36 characters, 8-4-4-4-12), copied from the record's page"
    assert "UUID" not in japanese + english


def test_a_date_refused_by_its_own_check_names_its_field_once() -> None:
    japanese, english = _said(Opening, {"opened_on": "R8.2.30"})
    assert japanese == "入力内容を確認してください: 開設日「R8.2.30」は実在しない日付です"
    assert english == "check the form: opened on: 'R8.2.30' is not a real date"
