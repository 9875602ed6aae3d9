"""The 監査 page's "as of" view in the office's words (the review: it printed `status plan_closed`, `route visit` and
UTC ISO times): fields by their Japanese names, codes by their labels, moments in Japan time and 和暦."""

from __future__ import annotations

from shared.web.ui import field_label, state_value


def test_the_as_of_view_says_fields_codes_and_moments_as_staff_read_them() -> None:
    assert (field_label("status"), field_label("opened_at"), field_label("meeting_type")) == ("状態", "開始日時", "会議の種類")
    assert state_value("plan_closed", "status", "Case") == "終結"
    assert state_value("closed", "status", "Plan") == "終結"
    assert state_value("visit", "route") == "来所"
    assert state_value("jusou_shien_kaigi", "meeting_type") == "重層的支援会議"
    assert state_value("2026-12-05T17:58:37.869528+00:00", "opened_at") == "令和8年12月6日 02:58"  # JST, the next day
    assert state_value(["高齢・介護", "家計"], "concerns") == "高齢・介護、家計"
    assert state_value(None) == "—"


def test_what_has_no_label_is_shown_as_it_is() -> None:
    assert field_label("some_new_field") == "some_new_field"
    assert state_value("自由記述のメモ", "note") == "自由記述のメモ"


def test_lists_and_mappings_that_arrive_as_json_text_read_as_words() -> None:
    assert state_value('["高齢・介護", "ひきこもり"]', "concerns") == "高齢・介護、ひきこもり"
    assert state_value('{"scope": "会議での共有", "granted": true}', "consent") == "同意の範囲: 会議での共有、同意: はい"
    assert state_value("null", "closure") == "—"
    assert state_value("[not json", "note") == "[not json"
