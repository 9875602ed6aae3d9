"""The polled reads of a kept aggregate answer with JSON made once for that aggregate (shared/web/answers.py, issue
19): collaboration's plan, the meeting's agenda item and consent. The answer is byte for byte, header for header,
what FastAPI wrote for the route's response model before; it is made again as soon as the read hands back another
object (anything recorded, here or by another replica on the same store), and never served for another aggregate."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from uuid import UUID, uuid4

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from support.auth import reader
from support.held import escalate
from support.municipality import ELDERLY, HARDSHIP, LEAD_NAME

from services.collaboration.application import CollaborationApplication
from services.meeting.api import AgendaItemOut, ConsentOut
from services.meeting.application import MeetingApplication
from shared.web import answers
from shared.web.plan_api import PlanView
from unit.builders import COORDINATOR, ROLES, SECRETARIAT, Upstream, consent_recorded, plan_proposed

ATTENDEES = [LEAD_NAME, ELDERLY.ja, HARDSHIP.ja]


def sqlite(path: Path) -> dict[str, str]:
    return {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(path), "JUSOU_READMODELS_FOLLOW": "0"}


def fastapis_own(model: type[Any], view: Any, exclude_unset: bool = False) -> Any:
    """What FastAPI answered before: a route returning the validated model, FastAPI serialising it."""
    scratch = FastAPI()

    @scratch.get("/", response_model=model, response_model_exclude_unset=exclude_unset)
    def route() -> Any:
        return model.model_validate(view())

    return TestClient(scratch).get("/")


def same_answer(mine: Any, theirs: Any) -> None:
    assert mine.status_code == theirs.status_code == 200, mine.text
    assert mine.content == theirs.content
    assert mine.headers["content-type"] == theirs.headers["content-type"] == "application/json"
    assert mine.headers["content-length"] == theirs.headers["content-length"]


@pytest.fixture
def collaboration(tmp_path: Path) -> Iterator[tuple[CollaborationApplication, CollaborationApplication, TestClient]]:
    """Two replicas of collaboration on one store; the app's routes on the first."""
    from services.collaboration.main import api

    one = CollaborationApplication(env=sqlite(tmp_path / "collaboration.sqlite"))
    two = CollaborationApplication(env=sqlite(tmp_path / "collaboration.sqlite"))
    api.state.runtime = SimpleNamespace(app=one)  # no lifespan (no bus): the application only
    try:
        yield one, two, TestClient(api)
    finally:
        del api.state.runtime
        one.close()
        two.close()


def a_plan(app: CollaborationApplication, intake: Upstream, meeting: Upstream) -> UUID:
    case_id = uuid4()
    assert app.receive(*intake.emit("CaseEscalated", {
        "reason": "8050", "concerns": ["高齢・介護"], "primary_agency": ELDERLY.ja}, case_id))
    plan_id = app.draft_plan(COORDINATOR, case_id, "方向性", ["目標"], ROLES)
    app.propose_plan(COORDINATOR, plan_id)
    assert app.receive(*meeting.emit("MeetingDecided", {
        "meeting_id": str(uuid4()), "meeting_type": "jusou_shien_kaigi", "plan_id": str(plan_id),
        "decision": "revision_requested", "attendees": ATTENDEES, "reasons": "合議の結果", "program": "collaboration",
        "revision": 1}, case_id))
    return plan_id


def test_a_kept_plans_answer_is_fastapis_own_and_made_once_for_it(
    collaboration: tuple[CollaborationApplication, CollaborationApplication, TestClient],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    one, _, client = collaboration
    plan_id = a_plan(one, Upstream("intake"), Upstream("meeting"))
    made: list[str] = []
    json_of = answers.json_of

    def counted(model: Any, exclude_unset: bool = False) -> bytes:
        made.append(type(model).__name__)
        return json_of(model, exclude_unset)

    monkeypatch.setattr(answers, "json_of", counted)

    first = client.get(f"/plans/{plan_id}", headers=reader())
    second = client.get(f"/plans/{plan_id}", headers=reader())

    same_answer(first, fastapis_own(PlanView, lambda: one.plan_view(plan_id)))
    same_answer(second, first)
    assert made == ["PlanView"]  # the second poll served what the first made: the same kept plan


def test_a_plans_answer_follows_every_recorded_event_here_and_by_another_replica(
    collaboration: tuple[CollaborationApplication, CollaborationApplication, TestClient],
) -> None:
    one, two, client = collaboration
    intake, meeting = Upstream("intake"), Upstream("meeting")
    plan_id = a_plan(one, intake, meeting)
    assert client.get(f"/plans/{plan_id}", headers=reader()).json()["status"] == "revision_requested"

    one.revise_plan(COORDINATOR, plan_id, "方向性", ["目標", "居場所に月2回"], ROLES)  # recorded here
    revised = client.get(f"/plans/{plan_id}", headers=reader())
    assert revised.json()["goals"] == ["目標", "居場所に月2回"]
    same_answer(revised, fastapis_own(PlanView, lambda: one.plan_view(plan_id)))

    two.propose_plan(COORDINATOR, plan_id)  # recorded by the other replica: seen at the next read
    proposed = client.get(f"/plans/{plan_id}", headers=reader())
    assert (proposed.json()["status"], proposed.json()["revision"]) == ("proposed", 2)
    same_answer(proposed, fastapis_own(PlanView, lambda: one.plan_view(plan_id)))

    other = a_plan(one, intake, meeting)  # another plan's answer is its own
    assert client.get(f"/plans/{other}", headers=reader()).json()["plan_id"] == str(other)
    assert client.get(f"/plans/{plan_id}", headers=reader()).json()["plan_id"] == str(plan_id)


@pytest.fixture
def meeting(tmp_path: Path) -> Iterator[tuple[MeetingApplication, TestClient]]:
    from services.meeting.main import api

    app = MeetingApplication(env=sqlite(tmp_path / "meeting.sqlite"))
    api.state.runtime = SimpleNamespace(app=app)
    try:
        yield app, TestClient(api)
    finally:
        del api.state.runtime
        app.close()


def test_the_meetings_agenda_item_and_consent_answer_as_fastapi_did_and_follow_each_event(
    meeting: tuple[MeetingApplication, TestClient],
) -> None:
    app, client = meeting
    case_id, plan_id = uuid4(), uuid4()
    intake, collaboration = Upstream("intake"), Upstream("collaboration")

    unheard = client.get(f"/consents/{case_id}", headers=reader())  # nothing kept yet: made each time
    same_answer(unheard, fastapis_own(ConsentOut, lambda: app.consent_view(case_id), exclude_unset=True))
    assert "given" not in unheard.json()  # exclude_unset, as the route declares

    assert app.receive(*intake.emit("ConsentRecorded", consent_recorded(True), case_id))
    escalate(app, case_id, intake)
    assert app.receive(*collaboration.emit("PlanProposed", plan_proposed(plan_id, 1), case_id))
    for _ in range(2):
        heard = client.get(f"/consents/{case_id}", headers=reader())
        same_answer(heard, fastapis_own(ConsentOut, lambda: app.consent_view(case_id), exclude_unset=True))
        item = client.get(f"/agenda/{plan_id}", headers=reader())
        same_answer(item, fastapis_own(AgendaItemOut, lambda: app.listed(plan_id).view()))
    assert heard.json()["granted"] is True
    assert (item.json()["status"], item.json()["revision"]) == ("proposed", 1)

    sitting = app.convene(SECRETARIAT, "jusou_shien_kaigi", date(2026, 11, 28), ATTENDEES)
    app.decide(SECRETARIAT, sitting, plan_id, "revision_requested", "合議の結果",
               [{"agency": a, "position": "agree", "reason": ""} for a in ATTENDEES], [], None)
    assert client.get(f"/agenda/{plan_id}", headers=reader()).json()["status"] == "revision_requested"
    assert app.receive(*intake.emit("ConsentRecorded", consent_recorded(False), case_id))  # withdrawn
    withdrawn = client.get(f"/consents/{case_id}", headers=reader())
    assert withdrawn.json()["granted"] is False
    same_answer(withdrawn, fastapis_own(ConsentOut, lambda: app.consent_view(case_id), exclude_unset=True))
