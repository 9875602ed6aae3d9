"""A record that is not there is refused with an English half in English (HC's review, session 20): every service's
404 for a record wrote the Japanese name it was asked by into the English half — "相談者 not found", "多機関協働のケース not
found", "プラン not found" — as the date parser named the era in kanji. The English half now names the record's kind in
words (person, collaboration case, plan); the Japanese half as before."""

from __future__ import annotations

import re
from uuid import uuid4

import pytest

from services.collaboration.application import CollaborationApplication
from services.collaboration.domain import CollaborationCase
from services.intake.application import IntakeApplication
from services.intake.domain import Case, Person
from shared.domain.plan import Plan
from shared.kernel.journey import NotFound
from unit.builders import in_memory

KANA_KANJI = re.compile(r"[\u3040-\u30ff\u3400-\u9fff]")


def _halves(call: object) -> tuple[str, str]:
    with pytest.raises(NotFound) as refused:
        call()  # type: ignore[operator]
    japanese, _, english = str(refused.value).partition(" / ")
    return japanese, english


@pytest.mark.parametrize(("how", "kind", "what", "english"), [
    ("load", Person, "相談者", "person not found"),
    ("read", Case, "ケース", "case not found"),
    ("load", CollaborationCase, "多機関協働のケース", "collaboration case not found"),
    ("read", Plan, "プラン", "plan not found"),
], ids=["load person", "read case", "load collaboration case", "read plan"])
def test_a_record_not_found_is_named_in_english_in_the_english_half(how: str, kind: type, what: str,
                                                                     english: str) -> None:
    app = in_memory(IntakeApplication if kind in (Person, Case) else CollaborationApplication)
    missing = uuid4()

    japanese, said = _halves(lambda: getattr(app, how)(missing, kind, what))

    assert japanese == f"{what}が見つかりません"
    assert said == f"{english}: {missing}" and not KANA_KANJI.search(said), said


def test_a_plan_s_steps_of_no_plan_are_refused_in_english_too() -> None:
    missing = uuid4()

    japanese, said = _halves(lambda: in_memory(CollaborationApplication).plan_steps(missing))

    assert japanese == "プランが見つかりません" and said == f"plan not found: {missing}", said
