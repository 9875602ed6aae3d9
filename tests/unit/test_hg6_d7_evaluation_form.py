"""D7: a suspended plan (中断) comes back in force by its own act, its resumption (再開, at the 重層的支援会議 once the
person's consent was given again: D9). Its owner may ask for its closure; the meeting then ends it (終結) or leaves it
suspended (中断), and 「継続」 is refused (675be12). The meeting's evaluation form still offered 「継続」 (and its
次回の見直し日) for such a plan, a choice refused when sent. It now offers 終結 and 中断 only there, saying why and how
the plan comes back (再開); a plan in force brought to closure is offered 継続 as before.

intake, collaboration, outreach and the meeting in memory, the bus between them (tests/unit/he6_suite.py), the
meeting's page served over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from uuid import UUID

import pytest
from fastapi.testclient import TestClient
from support.auth import staff_headers
from support.municipality import LEAD

from unit.builders import SECRETARIAT
from unit.he6_suite import Suite
from unit.test_he6_d7 import escalated_with_outreach_plan

SECRETARY = staff_headers(SECRETARIAT["staff_id"], LEAD, "secretariat")


@pytest.fixture
def suite() -> Iterator[Suite]:
    from services.meeting.main import api

    found = Suite()
    api.state.runtime = SimpleNamespace(app=found.meeting)  # no lifespan (no bus): the application only
    try:
        yield found
    finally:
        del api.state.runtime


def _evaluation_form(suite: Suite, plan_id: UUID) -> str:
    from services.meeting.main import api

    page = TestClient(api).get(f"/ui/meetings/{suite.meeting_id}", headers=SECRETARY)
    assert page.status_code == 200, page.text[:300]
    form = page.text.split(f'name="plan_id" value="{plan_id}"')[1].split("</form>")[0]
    return form


def test_d7_the_evaluation_form_offers_no_continuation_for_a_suspended_plan_brought_to_closure(suite: Suite) -> None:
    _, plan_id, _ = escalated_with_outreach_plan(suite)
    suite.end(suite.collaboration, plan_id, "suspended")
    suite.ask_closure(suite.collaboration, plan_id)

    form = _evaluation_form(suite, plan_id)

    assert 'value="closed"' in form and 'value="suspended"' in form
    assert 'value="continued"' not in form, "継続 is refused for it (675be12): not offered"
    assert 'name="next_review_on"' not in form  # the next review is 継続's
    assert "「継続」は選べません" in form and "再開" in form and "本人同意" in form  # why, and how it comes back


def test_d7_the_evaluation_form_offers_continuation_for_a_plan_in_force_brought_to_closure(suite: Suite) -> None:
    _, plan_id, _ = escalated_with_outreach_plan(suite)
    suite.ask_closure(suite.collaboration, plan_id)

    form = _evaluation_form(suite, plan_id)

    assert 'value="closed"' in form and 'value="suspended"' in form and 'value="continued"' in form
    assert 'name="next_review_on"' in form and "「継続」は選べません" not in form
