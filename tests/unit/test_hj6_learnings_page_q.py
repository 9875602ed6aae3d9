"""The 事例集's page bounds its search words as the JSON API does (HB's review from outside, session 24, item 2).

Found: f64d2ab bounded `GET /learnings?q=` to 200 characters (6,000 one-character words took 1.6 s of a worker thread
over 80 learnings), but the page `/ui/learnings` passed `q` (and `concern`, `agency`) unbounded to the same search
(services/meeting/ui.py learnings_page -> application.py learnings, which looks for every word in every learning).
Now the page refuses words over 200 characters (a concern over 100, an agency over 200) with 422, saying so in
Japanese with the English beside, the search form kept with what fits; the search is not run. Within the bound, the
page searches as before.
"""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient
from support.auth import staff_headers
from support.municipality import ELDERLY

from services.meeting import main
from services.meeting.api import LEARNING_WORDS_MAX
from services.meeting.application import MeetingApplication

COUNSELOR = staff_headers("kouki-hj6", ELDERLY.division, "counselor")


@pytest.fixture
def searched() -> Iterator[tuple[TestClient, list[tuple[str, Any]]]]:
    """The meeting service's pages in this process, over an application that records each search it is asked."""
    asked: list[tuple[str, Any]] = []
    app = object.__new__(MeetingApplication)

    def learnings(concern: str | None = None, words: str = "") -> list[dict[str, Any]]:
        asked.append(("learnings", words))
        return []

    def takeaways(**by: Any) -> list[dict[str, Any]]:
        asked.append(("takeaways", by))
        return []

    app.learnings = learnings  # type: ignore[method-assign]
    app.takeaways = takeaways  # type: ignore[method-assign,assignment]
    before = getattr(main.api.state, "runtime", None)
    main.api.state.runtime = SimpleNamespace(app=app)
    yield TestClient(main.api, raise_server_exceptions=True), asked
    main.api.state.runtime = before


def test_words_over_the_apis_bound_are_refused_on_the_page_with_the_form_kept(
        searched: tuple[TestClient, list[tuple[str, Any]]]) -> None:
    client, asked = searched

    page = client.get("/ui/learnings", params={"q": "の " * 3000}, headers=COUNSELOR)

    assert page.status_code == 422, page.status_code
    assert f"言葉は {LEARNING_WORDS_MAX} 文字以内" in page.text and f"at most {LEARNING_WORDS_MAX} characters" in page.text
    assert 'role="alert"' in page.text and '<input id="q" name="q" maxlength="200" value="' in page.text
    kept = page.text.split('<input id="q" name="q" maxlength="200" value="', 1)[1].split('"', 1)[0]
    assert kept == ("の " * 3000)[:LEARNING_WORDS_MAX], len(kept)
    assert [words for what, words in asked if what == "learnings"] == [], "the search ran with the words refused"


@pytest.mark.parametrize(("name", "bound"), [("concern", 100), ("agency", 200)])
def test_a_concern_or_agency_over_the_apis_bound_is_refused_on_the_page(
        name: str, bound: int, searched: tuple[TestClient, list[tuple[str, Any]]]) -> None:
    client, asked = searched

    page = client.get("/ui/learnings", params={name: "あ" * (bound + 1)}, headers=COUNSELOR)

    assert page.status_code == 422 and f"{bound} 文字以内" in page.text and f"at most {bound} characters" in page.text
    assert not any(what == "learnings" for what, _ in asked) or name == "agency", asked
    assert not any(what == "takeaways" and by.get("agency") for what, by in asked), asked


def test_words_within_the_bound_are_searched_as_before(searched: tuple[TestClient, list[tuple[str, Any]]]) -> None:
    client, asked = searched
    words = ("見守り " * 100)[:LEARNING_WORDS_MAX]

    page = client.get("/ui/learnings", params={"q": words}, headers=COUNSELOR)

    assert page.status_code == 200, page.status_code
    assert ("learnings", words) in asked
