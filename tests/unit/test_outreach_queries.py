"""Outreach's queries the worker's pages read (D12): the engagement with its contact log, who started it
and when, and the hand-over, from its own events' metadata; never the store from the UI."""

from __future__ import annotations

from uuid import uuid4

import pytest
from support.municipality import LEAD

from services.outreach.application import OutreachApplication
from shared.kernel.journey import NotFound
from shared.web.auth import Principal
from unit.builders import in_memory

WORKER = {"staff_id": "outreach-007", "division": LEAD}


def test_d12_engagement_record_tells_who_did_what_and_when() -> None:
    app = in_memory(OutreachApplication)
    case_id = app.start(WORKER, None, "民生委員", "長期のひきこもり")
    app.record_contact(WORKER, case_id, "手紙", False, "返事なし", "未接触")
    app.record_contact({"staff_id": "outreach-008", "division": LEAD}, case_id, "訪問", True, "話せた",
                       "接触")
    app.hand_over(WORKER, case_id, "participation", "居場所へ", None)

    record = app.engagement_record(case_id)

    assert record["started_by"] == "outreach-007" and record["started_at"].endswith("+09:00")
    assert [(c["method"], c["reached"], c["stage"], c["who"]) for c in record["log"]] == [
        ("手紙", False, "未接触", "outreach-007"), ("訪問", True, "接触", "outreach-008")]
    assert record["last"] == record["log"][-1]
    assert record["stage"] == "接触" and record["stage_index"] == 1
    assert record["handed"] is not None and record["handed"]["to_program"] == "participation"
    assert record["handed"]["who"] == "outreach-007"
    assert record["handed_over_to"] == "participation"


def test_d12_has_engagement_and_an_unknown_case() -> None:
    app = in_memory(OutreachApplication)
    case_id = app.start(WORKER, uuid4(), "家族", "外出しない")
    assert app.has_engagement(case_id)
    assert not app.has_engagement(uuid4())
    with pytest.raises(NotFound):
        app.engagement_record(uuid4())


def test_engagement_records_are_the_readers_division_scope() -> None:
    app = in_memory(OutreachApplication)
    case_id = app.start(WORKER, None, "家族", "外出しない")
    worker = Principal(staff_id="outreach-007", division=LEAD, roles=frozenset({"outreach_worker"}))
    assert [r["case_id"] for r in app.engagement_records(worker)] == [str(case_id)]
    assert app.engagement_records(None) == []
