"""A person recorded without ふりがな (the form leaves it optional) is named without an empty 「（）」 on the counter's
list; with one, the kana follows the name in brackets."""

from __future__ import annotations

from support.municipality import ELDERLY, concern

from services.intake.ui import ui

CASE = {"case_id": "0f6a6d0e-1111-4222-8333-444455556666", "person_ref": "5" * 36, "channel": "窓口",
        "concerns": [concern("health")], "escalation_candidate": False, "status": "open", "primary": ELDERLY.ja,
        "assignee": None, "consent": None}


def person_cell(kana: str) -> str:
    html = ui.templates.env.get_template("intake_cases_table.html").render(
        cases=[CASE], persons={CASE["case_id"]: {"name": "仙川 四郎", "kana": kana, "age": 66}}, paging=None,
        status_ja={}, filters=None)
    return html.split('class="person">', 1)[1].split("</td>", 1)[0]


def test_a_person_without_kana_is_named_without_empty_brackets() -> None:
    assert person_cell("") == "仙川 四郎 66歳"
    assert person_cell("せんがわ しろう") == "仙川 四郎（せんがわ しろう） 66歳"
