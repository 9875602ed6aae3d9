"""The date parser's English half names the era in English (HC's review, session 20): 「平成32年」 was refused with
"'平成32年' is not a date of the 平成 era", an English sentence naming the era in kanji, and neither half said when the
era ran nor which era the day was in. Both halves now say the era's span and, for a real day after 大正's start, the
era year it fell in (平成32年 is 令和2年)."""

from __future__ import annotations

import re
from datetime import date

import pytest

from shared.domain.wareki import NotADate, parse_date

KANJI = re.compile(r"[\u3040-\u30ff\u3400-\u9fff]")


def _halves(text: str) -> tuple[str, str]:
    with pytest.raises(NotADate) as refused:
        parse_date(text, earliest=date(1900, 1, 1), latest=date(9999, 12, 31))
    japanese, _, english = str(refused.value).partition(" / ")
    return japanese, english.replace(repr(text), "")  # the text as typed is quoted as it was typed


@pytest.mark.parametrize(("typed", "era", "english", "japanese"), [
    ("平成32年", "Heisei", "Heisei ran from 1989-01-08 to 2019-04-30; 2020-01-01 is in Reiwa 2", "令和2年1月1日です"),
    ("令和元年4月", "Reiwa", "Reiwa began on 2019-05-01; 2019-04-01 is in Heisei 31", "平成31年4月1日です"),
    ("H31.5.1", "Heisei", "2019-05-01 is in Reiwa 1", "令和元年5月1日です"),
    ("S64.1.8", "Showa", "Showa ran from 1926-12-25 to 1989-01-07; 1989-01-08 is in Heisei 1", "平成元年1月8日です"),
    ("大正16年1月1日", "Taisho", "Taisho ran from 1912-07-30 to 1926-12-24; 1927-01-01 is in Showa 2", "昭和2年1月1日です"),
    ("R0.1.1", "Reiwa", "Reiwa began on 2019-05-01", "令和は令和元年5月1日から"),
], ids=["heisei 32", "reiwa 1 april", "H31.5.1", "S64.1.8", "taisho 16", "R0"])
def test_an_era_refused_is_named_in_english_in_the_english_half(typed: str, era: str, english: str,
                                                                 japanese: str) -> None:
    ja, en = _halves(typed)

    assert not KANJI.search(en), en
    assert f"not a date of the {era} era" in en and english in en, en
    assert "の日付ではありません" in ja and japanese in ja, ja


def test_every_era_that_may_be_typed_has_its_english_name() -> None:
    from shared.domain.wareki import ERA_ENGLISH, ERA_NAMES

    assert set(ERA_NAMES.values()) == set(ERA_ENGLISH)
