"""旧字体・異体字 in names (HC's review, session 20): a person registered as their ID card writes them (「國分寺 髙橋 𠮷子」)
was not found by the counter's search for 高橋, 国分寺 or 吉子, and a reception of 「国分寺 高橋 吉子」 born the same day
offered no candidate (D1 D2: search before create), so the same person was registered twice. Names are now compared
folded (shared/domain/name_variants.py), shown as registered."""

from __future__ import annotations

import unicodedata
from types import SimpleNamespace
from uuid import uuid4

import pytest

from services.intake.people import PersonIndex
from shared.domain.name_variants import VARIANTS, fold_variants

REGISTERED = {"name": "國分寺 髙橋 𠮷子", "kana": "こくぶんじ たかはし よしこ", "birth_date": "1950-01-02",
              "phone": "042-481-0000", "address": "調布市小島町二丁目"}


class _Index(PersonIndex):
    """The person index without a store: people added as its catch-up would (`_add`)."""

    def __init__(self) -> None:
        super().__init__(None, None)  # type: ignore[arg-type]

    def catch_up(self) -> None:
        pass


def _index_of(person: dict[str, str]) -> tuple[_Index, str]:
    index, ref = _Index(), uuid4()
    index._add(SimpleNamespace(originator_id=ref, **person))
    return index, str(ref)


@pytest.mark.parametrize("typed", ["高橋", "国分寺", "吉子", "国分寺 高橋 吉子", "髙橋", "國分寺　髙橋"])
def test_d1_the_counter_finds_a_name_registered_in_its_old_forms_by_the_forms_it_types(typed: str) -> None:
    index, ref = _index_of(REGISTERED)

    found = index.search(typed, None, None, None)

    assert [p["person_ref"] for p in found] == [ref]
    assert found[0]["name"] == "國分寺 髙橋 𠮷子"  # shown as registered


def test_d2_a_reception_of_the_same_person_in_the_forms_typed_is_offered_as_the_same_person() -> None:
    index, ref = _index_of(REGISTERED)
    typed = {"name": "国分寺 高橋 吉子", "birth_date": "1950-01-02"}

    assert [p["person_ref"] for p in index.find(typed["name"], typed["birth_date"], None, None)] == [ref]
    assert [(p["person_ref"], why) for p, why in index.similar(typed)] == [(ref, ["氏名が同じ"])]


def test_a_variation_selector_after_a_character_does_not_make_another_name() -> None:
    index, ref = _index_of({**REGISTERED, "name": "葛\U000e0100城 﨑子"})

    assert [p["person_ref"] for p in index.search("葛城 崎子", None, None, None)] == [ref]


def test_each_variant_folds_to_a_character_that_folds_no_further_and_nfkc_keeps_it() -> None:
    for variant, typed in VARIANTS.items():
        assert variant != typed and fold_variants(typed) == typed, variant
        assert unicodedata.normalize("NFKC", variant) == variant, variant  # NFKC first would have taken it
    assert fold_variants("調布 花子") == "調布 花子"
