"""紹介元 of an engagement a meeting's decision started reads 「会議の決定から」 (as participation says it) on outreach's list, not the stored code
「meeting」; what staff typed stays as typed."""

from __future__ import annotations

from services.outreach.ui import ui


def referrer_cell(referred_by: str) -> str:
    row = {"case_id": "0f6a6d0e-1111-4222-8333-444455556666", "referred_by": referred_by, "address": None,
           "stage": "未接触", "stage_index": 0, "last": None, "log": [], "handed": None, "started_at": "", "started_by": ""}
    html = ui.templates.env.get_template("outreach_engagements_table.html").render(
        engagements=[row], paging=None, stages=["未接触"], hand_over_to={}, assigned={})
    return html.split("</a></td>", 1)[1].split("</td>", 1)[0].strip().removeprefix("<td>")


def test_an_engagement_the_meeting_started_names_its_referrer_in_japanese() -> None:
    assert referrer_cell("meeting") == "会議の決定から"
    assert referrer_cell("民生委員・児童委員") == "民生委員・児童委員"
