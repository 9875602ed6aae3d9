"""Participation's queries the staff pages read (D13): a support with the catalogue's names, when it
started, who started each placement and who reviewed it when, from its own events' metadata; never the
store from the UI."""

from __future__ import annotations

from datetime import date
from uuid import uuid4

import pytest
from support.municipality import LEAD

from services.community.application import CommunityApplication
from services.participation.application import ParticipationApplication
from shared.kernel.journey import NotFound
from shared.web.auth import Principal
from unit.builders import COORDINATOR, in_memory
from unit.test_community import matched

REVIEWER = {"staff_id": "sanka-009", "division": LEAD}


def test_d13_support_record_tells_who_did_what_and_when() -> None:
    community, participation = in_memory(CommunityApplication), in_memory(ParticipationApplication)
    case_id, resource_id = matched(community, participation)
    index = participation.start_placement(COORDINATOR, case_id, resource_id, date(2026, 12, 1))
    participation.review_placement(REVIEWER, case_id, index, "ongoing", "週1回")
    participation.review_placement(COORDINATOR, case_id, index, "settled", "週2回")

    record = participation.support_record(case_id)

    assert record["started_at"] is not None
    [match] = record["matches"]
    assert match["resource"]["name"] == "夜のたまり場 国領"
    [placement] = record["placements"]
    assert placement["resource"]["resource_id"] == resource_id and placement["started_by"] == COORDINATOR
    assert [(r["outcome"], r["note"], r["actor"]) for r in placement["reviews"]] == [
        ("ongoing", "週1回", REVIEWER), ("settled", "週2回", COORDINATOR)]
    assert record["started_at"] <= placement["reviews"][0]["at"] <= placement["reviews"][1]["at"]
    assert participation.support_record(case_id, participation.catalogue()) == record


def test_d13_support_record_of_an_unknown_case_is_not_found() -> None:
    with pytest.raises(NotFound):
        in_memory(ParticipationApplication).support_record(uuid4())


def test_support_records_are_the_readers_division_scope() -> None:
    community, participation = in_memory(CommunityApplication), in_memory(ParticipationApplication)
    case_id, _ = matched(community, participation)
    worker = Principal(staff_id="sanka-002", division=LEAD, roles=frozenset({"participation_worker"}))

    assert [r["case_id"] for r in participation.support_records(worker)] == [str(case_id)]
    assert participation.visible_supports(worker) == [participation.support_view(case_id)]
    assert participation.support_records(None) == participation.visible_supports(None) == []
