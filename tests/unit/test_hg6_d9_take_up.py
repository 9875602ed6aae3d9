"""D9: a case is discussed at the 重層的支援会議 only with the person's consent (本人同意) to share personal information
among the agencies there. Taking a case up (議題にする) is discussing it: the sitting records it (MeetingCaseTakenUp)
and 会議で扱った事例数 counts it. A 重層的支援会議 took a case up with no consent, by either route (POST
/meetings/{id}/cases, and a case put on the 議事次第), on the JSON API and on the page's 「議題にする」 form. It is
refused now (409, saying what to do: record the consent at the counter, or take the case to a 支援会議), nothing
recorded, the form kept on the page with the message; a 支援会議 takes it up without consent (D10), and a
重層的支援会議 with it.

The meeting service over HTTP (its API and its pages), in memory, the consent delivered as intake publishes it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from types import SimpleNamespace
from uuid import UUID, uuid4

import pytest
from fastapi.testclient import TestClient
from support.auth import staff_headers
from support.municipality import ELDERLY, LEAD, LEAD_NAME

from services.meeting.application import MeetingApplication
from services.meeting.domain import Meeting
from unit.builders import IN_MEMORY, SECRETARIAT, Upstream

SECRETARY = staff_headers(SECRETARIAT["staff_id"], LEAD, "secretariat")
ATTENDING = [LEAD_NAME, ELDERLY.ja]
MEETING_CONSENT = {"scope": "重層的支援会議での情報共有", "granted": True, "method": "書面",
                   "covers": ["jusou_shien_kaigi"]}
OTHER_CONSENT = {"scope": "関係機関との情報共有", "granted": True, "method": "書面", "covers": ["related_agencies"]}


@pytest.fixture
def served() -> Iterator[tuple[TestClient, MeetingApplication]]:
    from services.meeting.main import api

    app = MeetingApplication(env=dict(IN_MEMORY))
    api.state.runtime = SimpleNamespace(app=app)  # no lifespan (no bus): the application only
    try:
        yield TestClient(api), app
    finally:
        del api.state.runtime
        app.close()


def _sitting(app: MeetingApplication, meeting_type: str) -> UUID:
    return app.convene(SECRETARIAT, meeting_type, date(2026, 12, 7), ATTENDING)


def _consent(app: MeetingApplication, intake: Upstream, case_id: UUID, consent: dict[str, object]) -> None:
    assert app.receive(*intake.emit("ConsentRecorded", consent, case_id))


def _taken_up(app: MeetingApplication, meeting_id: UUID) -> tuple[list[str], list[dict[str, str]], int]:
    meeting: Meeting = app.read(meeting_id, Meeting, "会議")
    return list(meeting.cases), list(getattr(meeting, "agenda", [])), meeting.version


def _says_what_to_do(detail: str) -> None:
    assert "本人同意" in detail and "窓口" in detail and "支援会議" in detail, detail
    assert "consent" in detail and "支援会議" in detail, detail


def test_d9_meeting_refuses_to_take_up_a_case_without_consent(
        served: tuple[TestClient, MeetingApplication]) -> None:
    client, app = served
    jusou = _sitting(app, "jusou_shien_kaigi")
    no_consent, other_only = uuid4(), uuid4()
    _consent(app, Upstream("intake"), other_only, OTHER_CONSENT)  # a consent that does not cover the 重層的支援会議
    before = _taken_up(app, jusou)

    for case_id in (no_consent, other_only):
        taken = client.post(f"/meetings/{jusou}/cases", json={"case_id": str(case_id)}, headers=SECRETARY)
        assert taken.status_code == 409 and taken.json()["code"] == "consent_missing", taken.text
        _says_what_to_do(taken.json()["detail"])
        on_agenda = client.post(f"/meetings/{jusou}/agenda", json={"case_id": str(case_id)}, headers=SECRETARY)
        assert on_agenda.status_code == 409, on_agenda.text
        _says_what_to_do(on_agenda.json()["detail"])
        for form, path in (("take-up", "cases"), ("agenda", "agenda")):
            page = client.post(f"/ui/meetings/{jusou}/{path}", data={"case_id": str(case_id)}, headers=SECRETARY,
                               follow_redirects=False)
            assert page.status_code == 409, (path, page.text[:300])
            assert f'id="error-{form}"' in page.text and "本人同意" in page.text, path  # beside its form
            assert f'value="{case_id}"' in page.text, f"{path}: the case number typed is kept"

    assert _taken_up(app, jusou) == before, "nothing recorded"


def test_d9_a_shien_kaigi_takes_up_a_case_without_consent(served: tuple[TestClient, MeetingApplication]) -> None:
    client, app = served
    shien = _sitting(app, "shien_kaigi")
    case_id, on_agenda = uuid4(), uuid4()

    taken = client.post(f"/meetings/{shien}/cases", json={"case_id": str(case_id)}, headers=SECRETARY)
    assert taken.status_code == 201, taken.text
    put = client.post(f"/meetings/{shien}/agenda", json={"case_id": str(on_agenda)}, headers=SECRETARY)
    assert put.status_code == 201, put.text

    assert _taken_up(app, shien)[0] == [str(case_id), str(on_agenda)]


def test_d9_the_jusou_meeting_takes_up_a_case_with_consent(served: tuple[TestClient, MeetingApplication]) -> None:
    client, app = served
    jusou = _sitting(app, "jusou_shien_kaigi")
    case_id, on_agenda, by_page = uuid4(), uuid4(), uuid4()
    intake = Upstream("intake")
    for consented in (case_id, on_agenda, by_page):
        _consent(app, intake, consented, MEETING_CONSENT)

    taken = client.post(f"/meetings/{jusou}/cases", json={"case_id": str(case_id)}, headers=SECRETARY)
    assert taken.status_code == 201, taken.text
    put = client.post(f"/meetings/{jusou}/agenda", json={"case_id": str(on_agenda)}, headers=SECRETARY)
    assert put.status_code == 201, put.text
    page = client.post(f"/ui/meetings/{jusou}/cases", data={"case_id": str(by_page)}, headers=SECRETARY,
                       follow_redirects=False)
    assert page.status_code == 303, page.text[:300]

    assert _taken_up(app, jusou)[0] == [str(case_id), str(on_agenda), str(by_page)]


def test_d9_the_take_up_routes_declare_the_refusal(served: tuple[TestClient, MeetingApplication]) -> None:
    client, _ = served
    paths = client.get("/openapi.json", headers=SECRETARY).json()["paths"]
    for path in ("/meetings/{meeting_id}/cases", "/meetings/{meeting_id}/agenda"):
        assert "409" in paths[path]["post"]["responses"], path
        assert "409 `consent_missing`" in paths[path]["post"]["description"], path  # what refuses it, and why


def test_d9_the_jusou_meetings_page_says_which_cases_it_may_take_up(
        served: tuple[TestClient, MeetingApplication]) -> None:
    client, app = served
    jusou, shien = _sitting(app, "jusou_shien_kaigi"), _sitting(app, "shien_kaigi")

    def section(meeting_id: UUID, name: str) -> str:
        page = client.get(f"/ui/meetings/{meeting_id}", headers=SECRETARY).text
        return page.split(f'id="{name}"')[1].split("</section>")[0]

    for name in ("take-up", "agenda-add"):  # 「議題にする」 and the 議事次第's 「またはケース番号」
        said = section(jusou, name)
        assert "本人同意（重層的支援会議での情報共有）を記録したケースだけ" in said and "支援会議で検討" in said, name
    assert "本人同意がなくても" in section(shien, "take-up")
    assert "記録したケースだけ" not in section(shien, "agenda-add")
