"""`If-Match` sent not quite as the ETag was given (HC's review from outside, session 22). A client that sent
`If-Match: v2` (the quotes dropped, as a shell often does) or `W/"v2"` for a plan whose ETag is `"v2"` was refused 412
saying the plan had been updated since it was read (「取得した後に更新されています」), which was not so: it went to read
it again and again. Still 412 and nothing recorded (only the ETag as given matches, as documented), but saying how to
send it (`tag_not_as_given`); a tag of another version still says the record changed (`changed_meanwhile`)."""

from __future__ import annotations

import pytest

from shared.web.if_match import ChangedMeanwhile, TagNotAsGiven, require_version


@pytest.mark.parametrize("sent", ["v2", 'W/"v2"', " v2 ", '"x", v2'])
def test_the_current_version_sent_without_its_quotes_or_weak_says_how_to_send_it(sent: str) -> None:
    with pytest.raises(TagNotAsGiven) as refused:
        require_version(sent, 2, "プラン", "plan", "/plans/p")

    assert refused.value.status == 412
    assert '引用符を含めて "v2"' in str(refused.value) and "更新されていません" in str(refused.value)
    assert "取得した後に更新されています" not in str(refused.value)


@pytest.mark.parametrize("sent", ['"v1"', "v1", 'W/"v1"', '"abc"'])
def test_another_version_still_says_the_record_changed(sent: str) -> None:
    with pytest.raises(ChangedMeanwhile) as refused:
        require_version(sent, 2, "プラン", "plan", "/plans/p")

    assert "取得した後に更新されています" in str(refused.value)


@pytest.mark.parametrize("sent", [None, '"v2"', "*", '"v1", "v2"'])
def test_the_etag_as_given_passes(sent: str | None) -> None:
    require_version(sent, 2, "プラン", "plan", "/plans/p")
