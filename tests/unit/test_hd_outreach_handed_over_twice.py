"""D12: an engagement handed on once is not handed on again, and the refusal names the program it went to as staff say it
(HD's review as staff: a second tab's hand-over answered 「既に intake へ引き継いでいます」, the program's code in the
Japanese half). In memory."""

from __future__ import annotations

import pytest
from support.municipality import ELDERLY

from services.outreach.application import OutreachApplication
from shared.kernel.journey import DomainError
from shared.web.limits import halves
from unit.builders import in_memory

WORKER = {"staff_id": "outreach-007", "division": "welfare-general", "roles": "outreach_worker"}


@pytest.mark.parametrize(("first", "named"), [("intake", "包括的相談支援"), ("participation", "参加支援")])
def test_d12_an_engagement_handed_over_is_not_handed_over_again_naming_where_it_went(first: str, named: str) -> None:
    outreach = in_memory(OutreachApplication)
    case_id = outreach.start(WORKER, None, "家族", "長期のひきこもり")
    outreach.hand_over(WORKER, case_id, first, "本人が希望", None, ELDERLY.code if first == "intake" else None)

    with pytest.raises(DomainError) as refused:
        outreach.hand_over(WORKER, case_id, "collaboration", "別のタブから", ELDERLY.ja)

    japanese, english = halves(str(refused.value))
    assert named in japanese and first not in japanese, japanese
    assert english == "already handed over", english
