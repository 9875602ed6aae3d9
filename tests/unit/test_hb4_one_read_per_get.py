"""Issue 19 (HA's count of statements): a GET that answers an aggregate with its `ETag` reads the aggregate once, the
tag and the body from the same read: collaboration's `GET /cases/{case_id}` and participation's `GET /supports/{case_id}`
read it twice (the version for the tag first, then the view: two selects, and for the support a copy as well). One read
also cannot give a body and a tag of two versions (tests/unit/test_review_he_support_etag.py: a write between)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from uuid import uuid4

import pytest
from fastapi.testclient import TestClient
from support.auth import reader
from support.municipality import ELDERLY

from services.collaboration.application import CollaborationApplication
from services.participation.application import ParticipationApplication
from shared.web.if_match import etag_of
from unit.builders import Upstream
from unit.test_loads_per_command import selects


@pytest.fixture
def served(tmp_path: Path) -> Iterator[dict[str, Any]]:
    from services.collaboration.main import api as collaboration_api
    from services.participation.main import api as participation_api

    def env(name: str) -> dict[str, str]:
        return {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp_path / f"{name}.sqlite"),
                "JUSOU_READMODELS_FOLLOW": "0"}

    collaboration = CollaborationApplication(env=env("collaboration"))
    participation = ParticipationApplication(env=env("participation"))
    case_id = uuid4()
    assert collaboration.receive(*Upstream("intake").emit("CaseEscalated", {
        "reason": "複合的な課題", "concerns": ["高齢・介護"], "primary_agency": ELDERLY.ja}, case_id))
    assert participation.receive(*Upstream("meeting").emit("MeetingDecided", {
        "meeting_id": str(uuid4()), "meeting_type": "jusou_shien_kaigi", "plan_id": str(uuid4()),
        "decision": "approved", "attendees": ["調整役"], "reasons": "合議の結果", "connect_to": ["participation"]},
        case_id))
    collaboration_api.state.runtime = SimpleNamespace(app=collaboration)
    participation_api.state.runtime = SimpleNamespace(app=participation)
    try:
        yield {"case_id": case_id, "collaboration": (collaboration, TestClient(collaboration_api)),
               "participation": (participation, TestClient(participation_api))}
    finally:
        del collaboration_api.state.runtime, participation_api.state.runtime
        collaboration.close()
        participation.close()


@pytest.mark.parametrize(("service", "path"), [("collaboration", "/cases/{}"), ("participation", "/supports/{}")])
def test_a_get_with_its_etag_reads_its_aggregate_once(served: dict[str, Any], service: str, path: str) -> None:
    app, client = served[service]
    case_id = served["case_id"]
    url = path.format(case_id)
    assert client.get(url, headers=reader()).status_code == 200  # warm: kept as read

    with selects(app) as counted:
        answered = client.get(url, headers=reader())

    assert answered.status_code == 200 and answered.json()["case_id"] == str(case_id)
    assert counted == {case_id: 1}, counted  # was 2: the version for the ETag, then the view
    kept: Any = app.repository.get(case_id)
    assert answered.headers["etag"] == etag_of(kept.version)
