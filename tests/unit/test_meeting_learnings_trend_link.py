"""The 事例集 links intake's 傾向 (D14 trend) only for staff who may open it (trend.read): the 会議事務局 gets no link to
「権限がありません」 (the top bar and links show only what the reader may open)."""

from __future__ import annotations

from services.meeting.ui import ui


def learnings_page(may_read_trend: bool) -> str:
    return ui.templates.env.get_template("meeting_learnings.html").render(
        may=lambda action: may_read_trend or action != "trend.read", url_of=lambda service: "http://127.0.0.1:8101",
        concern_choices={}, filters={}, learnings=[], takeaways=[], paging=None)


def test_the_trend_is_linked_only_for_those_who_may_read_it() -> None:
    assert 'id="trend-link"' in learnings_page(may_read_trend=True)
    assert "/ui/trend" not in learnings_page(may_read_trend=False)
