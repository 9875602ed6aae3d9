"""One 相談窓口へ戻す decision showed twice in the minutes (HD's review, session 23, left for session 24): the meeting
records the plan's decision (MeetingDecided) and the case's return (CaseReturnedToIntake), and the meeting page, its live
minutes and the printed 会議録 drew each as an entry, 「相談窓口へ戻す プラン … 」 then again 「相談窓口へ戻す ケース …
主担当: …」, as if the sitting had decided two things. Now the minutes show the decision once, its reasons, positions
and the 主担当 the case returns to together; the other decisions as before."""

from __future__ import annotations

import re
from collections.abc import Iterator
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient
from support.auth import staff_headers
from support.municipality import ELDERLY, LEAD

from services.meeting.application import MeetingApplication
from unit.builders import SECRETARIAT, in_memory
from unit.test_meeting import Feeds, convene, decide, on_agenda_with_consent

SECRETARY = staff_headers(SECRETARIAT["staff_id"], LEAD, "secretariat")


@pytest.fixture
def served() -> Iterator[tuple[TestClient, MeetingApplication]]:
    from services.meeting.main import api

    app = in_memory(MeetingApplication)
    api.state.runtime = SimpleNamespace(app=app)  # no lifespan (no bus): the application only
    try:
        yield TestClient(api), app
    finally:
        del api.state.runtime
        app.close()


def _entries(page: str) -> list[str]:
    found = re.search(r'<ol class="minutes">(.*?)</ol>', page, re.DOTALL)
    assert found, "no minutes on the page"
    return re.findall(r"<li data-kind=.*?(?=<li data-kind=|\Z)", found.group(1), re.DOTALL)


def test_d11_a_return_to_intake_is_one_decision_in_the_minutes_with_its_primary_agency(
        served: tuple[TestClient, MeetingApplication]) -> None:
    client, app = served
    feeds = Feeds(app)
    _, returned_plan = on_agenda_with_consent(feeds)
    _, approved_plan = on_agenda_with_consent(feeds)
    sitting = convene(app)
    decide(app, sitting, returned_plan, "returned_to_intake", primary_agency=ELDERLY.ja)
    decide(app, sitting, approved_plan, "approved")

    for address in (f"/ui/meetings/{sitting}", f"/ui/meetings/{sitting}/minutes", f"/ui/meetings/{sitting}/print"):
        answer = client.get(address, headers=SECRETARY)
        assert answer.status_code == 200, (address, answer.text[:300])
        entries = _entries(answer.text)
        assert len(entries) == 2, (address, entries)  # two decisions, two entries
        [returned] = [e for e in entries if str(returned_plan)[:8] in e]
        assert returned.count("相談窓口へ戻す") == 2, (address, returned)  # its badge, and the line naming the 主担当
        assert f"主担当: {ELDERLY.ja}" in returned, (address, returned)
        assert "理由: 合議の結果" in returned
        [approved] = [e for e in entries if str(approved_plan)[:8] in e]
        assert "承認" in approved and "相談窓口へ戻す" not in approved, (address, approved)
