"""Participation's `ETag` / `If-Match` on the needs (9066b17) must keep what it promises: a PUT with the `If-Match` a
client read is refused (412) whenever the support changed after the state that client saw, so two API clients never
undo each other's needs unseen (the review of session 16, HE).

Two interleavings broke it at 9066b17, each a real race between two clients (the routes run in worker threads):
- the GET built its body and its `ETag` in two reads of the store, the tag last: a recording that landed between them
  gave the client the old needs with the new version's tag, and its PUT then replaced needs it never saw (fixed by
  8d985b8: the tag is read first, so a change between makes it older, never newer);
- the PUT checks `If-Match` and then records, in two steps: a second PUT with the same tag that lands between them
  passes the check as well, and both answer `recorded`, the later one silently undoing the other (fixed: the version
  is required again of the aggregate the command saves, shared/kernel/expected.py).
Here the other client's write is made to land exactly there (no timing)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from uuid import UUID, uuid4

import pytest
from fastapi.testclient import TestClient
from support.auth import staff_headers
from support.municipality import LEAD

from services.participation import api as participation_api
from services.participation.application import ParticipationApplication
from unit.builders import Upstream

WORKER = ("sanka-he1", LEAD, "participation_worker")
OTHER = {"staff_id": "sanka-he2", "division": LEAD}


@pytest.fixture
def participation(tmp_path: Path) -> Iterator[tuple[ParticipationApplication, TestClient, UUID]]:
    from services.participation.main import api

    app = ParticipationApplication(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite",
                                        "SQLITE_DBNAME": str(tmp_path / "participation.sqlite"),
                                        "JUSOU_READMODELS_FOLLOW": "0"})
    case_id = uuid4()
    assert app.receive(*Upstream("meeting").emit("MeetingDecided", {
        "meeting_id": str(uuid4()), "meeting_type": "jusou_shien_kaigi", "plan_id": str(uuid4()),
        "decision": "approved", "attendees": ["調整役"], "reasons": "合議の結果", "connect_to": ["participation"]},
        case_id))
    app.record_needs(OTHER, case_id, ["居場所"])
    api.state.runtime = SimpleNamespace(app=app)
    try:
        yield app, TestClient(api), case_id
    finally:
        del api.state.runtime
        app.close()


def headers() -> dict[str, str]:
    return {**staff_headers(*WORKER), "content-type": "application/json"}


def test_the_etag_of_a_support_names_the_version_whose_needs_the_body_shows(
        participation: tuple[ParticipationApplication, TestClient, UUID], monkeypatch: pytest.MonkeyPatch) -> None:
    app, client, case_id = participation
    support_of = app._support
    armed = [True]

    def then_another_client_records(case: UUID) -> Any:
        read = support_of(case)
        if armed:  # another client's PUT lands right after the GET read the support (once)
            armed.clear()
            app.record_needs(OTHER, case_id, ["就労体験"])
        return read

    monkeypatch.setattr(app, "_support", then_another_client_records)
    read = client.get(f"/supports/{case_id}", headers=headers())
    monkeypatch.setattr(app, "_support", support_of)
    assert not armed, "the GET read the support"
    assert read.status_code == 200 and read.json()["needs"] == ["居場所"]  # this client never saw 就労体験

    put = client.put(f"/supports/{case_id}/needs", json={"needs": ["居場所", "住まい"]},
                     headers={**headers(), "If-Match": read.headers["etag"]})

    assert put.status_code == 412, (put.status_code, put.text, app.support_view(case_id)["needs"])
    assert app.support_view(case_id)["needs"] == ["就労体験"]


def test_two_puts_with_the_same_if_match_record_one_and_refuse_the_other(
        participation: tuple[ParticipationApplication, TestClient, UUID], monkeypatch: pytest.MonkeyPatch) -> None:
    app, client, case_id = participation
    etag = client.get(f"/supports/{case_id}", headers=headers()).headers["etag"]
    record = app.record_needs
    raced: list[str] = []

    def the_other_put_lands_first(*args: Any, **kwargs: Any) -> None:
        if not raced:  # the other client's PUT (its route's whole handler), the same If-Match: it records first
            raced.append("racing")
            raced[0] = participation_api.needs(case_id, participation_api.NeedsIn(needs=["就労体験"]), app, OTHER,
                                               if_match=etag).status
        record(*args, **kwargs)

    monkeypatch.setattr(app, "record_needs", the_other_put_lands_first)
    mine = client.put(f"/supports/{case_id}/needs", json={"needs": ["住まい"]}, headers={**headers(), "If-Match": etag})
    monkeypatch.setattr(app, "record_needs", record)

    assert raced == ["recorded"]
    assert mine.status_code == 412, (mine.status_code, mine.text, app.support_view(case_id)["needs"])
    assert app.support_view(case_id)["needs"] == ["就労体験"]
