"""A household's 世帯として把握した日 refused is not called 相談日 (HC's review, session 20): the household form shares the
相談日's type (a year back to today), whose refusal named the day 「相談日」 whatever field it was, so the counter read
「世帯として把握した日: 相談日は 令和7年12月6日…までの日付にしてください」. The form names the field; the type says 「日付」."""

from __future__ import annotations

import pytest

from services.intake.api import ConsultationIn, HouseholdIn
from shared.kernel.journey import Invalid
from shared.web.limits import form_model


@pytest.mark.parametrize("typed", ["R5.4.1", "令和9年1月1日", "平成32年"], ids=["too early", "future", "no such era day"])
def test_a_household_day_refused_is_named_by_its_own_title_only(typed: str) -> None:
    with pytest.raises(Invalid) as refused:
        form_model(HouseholdIn, {"since": typed})

    message = str(refused.value)
    assert "世帯として把握した日: " in message and "相談日" not in message, message


def test_a_consultation_day_refused_still_says_it_is_the_consultation_day() -> None:
    with pytest.raises(Invalid) as refused:
        form_model(ConsultationIn, {"counter": "x", "channel": "窓口", "concerns": ["x"], "consulted_on": "R5.4.1"})

    assert "相談日: " in str(refused.value), refused.value
