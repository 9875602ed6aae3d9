"""A case the meeting returns to intake names an agency the city knows (HC's review from outside, session 22). Intake's
escalation refuses a 主担当機関 the municipality file does not know (422 `unknown_primary_agency`, D11), and so does
outreach's hand-over, but the meeting's 相談窓口へ戻す took any text: 「存在しない機関」 was recorded, CaseReturnedToIntake
carried it and the counter's case showed 主担当: 存在しない機関, an agency nobody is, with no division holding it. The
decision is now refused the same way and records nothing; a known agency is returned to as before."""

from __future__ import annotations

import pytest
from support.municipality import ELDERLY

from services.meeting.application import MeetingApplication
from shared.kernel.journey import Invalid
from unit.builders import in_memory
from unit.test_meeting import Feeds, convene, decide, on_agenda_with_consent, outputs


@pytest.fixture
def meeting() -> MeetingApplication:
    return in_memory(MeetingApplication)


@pytest.fixture
def feeds(meeting: MeetingApplication) -> Feeds:
    return Feeds(meeting)


def test_d11_a_return_to_an_agency_the_city_does_not_know_is_refused_and_records_nothing(
        meeting: MeetingApplication, feeds: Feeds) -> None:
    _, plan_id = on_agenda_with_consent(feeds)
    sitting = convene(meeting)

    with pytest.raises(Invalid) as refused:
        decide(meeting, sitting, plan_id, "returned_to_intake", primary_agency="存在しない機関")

    assert type(refused.value).__name__ == "UnknownPrimaryAgency"  # code unknown_primary_agency, as intake's
    assert refused.value.status == 422 and "主担当機関「存在しない機関」は機関の一覧にありません" in str(refused.value)
    assert outputs(meeting, "CaseReturnedToIntake") == [] and outputs(meeting, "MeetingDecided") == []


def test_d11_a_return_to_a_known_agency_is_recorded(meeting: MeetingApplication, feeds: Feeds) -> None:
    _, plan_id = on_agenda_with_consent(feeds)
    sitting = convene(meeting)

    decide(meeting, sitting, plan_id, "returned_to_intake", primary_agency=ELDERLY.ja)

    [returned] = outputs(meeting, "CaseReturnedToIntake")
    assert returned.payload["primary_agency"] == ELDERLY.ja


@pytest.mark.parametrize("around", [" ", "\u3000", "\t"], ids=["space", "full-width space", "tab"])
def test_d11_a_return_to_a_known_agency_typed_with_spaces_around_it_is_that_agency(
        meeting: MeetingApplication, feeds: Feeds, around: str) -> None:
    """The JSON API's 主担当機関 with a space around it was refused 422 unknown_primary_agency, while intake's escalation
    and outreach's hand-over take the same text as the agency (HB's review): it is that agency, named without them."""
    _, plan_id = on_agenda_with_consent(feeds)
    sitting = convene(meeting)

    decide(meeting, sitting, plan_id, "returned_to_intake", primary_agency=f"{around}{ELDERLY.ja}{around}")

    [returned] = outputs(meeting, "CaseReturnedToIntake")
    assert returned.payload["primary_agency"] == ELDERLY.ja
