"""地域づくり across the running suite: a resource gap becomes a community initiative, and a new resource
that participation then matches and places (D8, D13)."""

from __future__ import annotations

from typing import Any

from support.auth import staff_headers
from support.journey import PARTICIPATION_STAFF, SECRETARIAT, Journey
from support.municipality import LEAD, SHAKYO
from support.poll import eventually

COMMUNITY_STAFF = staff_headers("chiiki-004", LEAD, "community_worker")


async def supported_case(journey: Journey) -> tuple[str, str]:
    """A case the meeting approved and connected to participation; returns (case_id, meeting_id)."""
    case_id = await journey.receive_and_escalate()
    plan_id = await journey.draft_and_propose(case_id)
    meeting_id = await journey.convene()
    await journey.decide(meeting_id, plan_id, 1, "approved", connect_to=["participation"])
    await journey.get_when("participation", f"/supports/{case_id}", lambda s: True, "participation to start")
    return case_id, meeting_id


async def test_d8_gap_becomes_an_initiative_and_a_new_resource_participation_matches(journey: Journey) -> None:
    case_id, meeting_id = await supported_case(journey)
    await journey.post("meeting", f"/meetings/{meeting_id}/resource-gaps",
                       {"case_id": case_id, "need": "夜間の居場所", "area": "調布市東部",
                        "description": "若者が夜に過ごせる場がない"}, SECRETARIAT)

    async def issue_of_the_case() -> dict[str, Any] | None:
        response = await journey.http.get(journey.urls["community"] + "/issues")
        return next((i for i in response.json() if i["case_id"] == case_id), None)

    issue = await eventually(issue_of_the_case, "the gap as a regional issue at community")
    assert (issue["need"], issue["reported_by"], issue["status"]) == ("夜間の居場所", "meeting", "open")

    taken_up = await journey.post("community", f"/issues/{issue['issue_id']}/initiatives",
                                  {"forum": "生活支援体制整備事業の協議体", "summary": "社協と夜間の居場所を立ち上げる"},
                                  COMMUNITY_STAFF)
    assert taken_up["status"] == "taken_up" and taken_up["initiatives"][0]["forum"] == "生活支援体制整備事業の協議体"

    resource = await journey.post("community", "/resources", {
        "kind": "居場所", "name": "夜のたまり場 国領", "provider": SHAKYO, "area": "調布市東部",
        "capacity": 12, "issue_id": issue["issue_id"]}, COMMUNITY_STAFF)
    resource_id = resource["resource_id"]
    answered = (await journey.http.get(journey.urls["community"] + f"/issues/{issue['issue_id']}")).json()
    assert answered["resources"] == [resource_id]

    async def in_catalogue() -> dict[str, Any] | None:
        response = await journey.http.get(journey.urls["participation"] + "/catalogue")
        return next((r for r in response.json() if r["resource_id"] == resource_id), None)

    entry = await eventually(in_catalogue, "the new resource in participation's catalogue")
    assert (entry["kind"], entry["name"], entry["provider"], entry["area"]) == (
        "ibasho", "夜のたまり場 国領", SHAKYO, "調布市東部")

    await journey.post("participation", f"/supports/{case_id}/matches", {"resource_id": resource_id}, PARTICIPATION_STAFF)
    placed = await journey.post("participation", f"/supports/{case_id}/placements",
                                {"resource_id": resource_id, "started_on": "2026-12-01"}, PARTICIPATION_STAFF)
    support = await journey.post("participation", f"/supports/{case_id}/placements/{placed['index']}/review",
                                 {"outcome": "settled", "note": "週2回通い、定着した"}, PARTICIPATION_STAFF)

    assert support["matches"] == [{"resource_kind": "ibasho", "resource_id": resource_id, "provider": SHAKYO}]
    [placement] = support["placements"]
    assert (placement["resource_id"], placement["started_on"], placement["status"]) == (resource_id, "2026-12-01", "settled")


async def test_d13_match_refuses_a_resource_not_in_the_catalogue(journey: Journey) -> None:
    case_id, _ = await supported_case(journey)

    refused = await journey.http.post(journey.urls["participation"] + f"/supports/{case_id}/matches",
                                      json={"resource_kind": "居場所", "resource_id": "ibasho-12"}, headers=PARTICIPATION_STAFF)

    assert refused.status_code == 422
    assert "資源一覧にありません" in refused.json()["detail"] and "catalogue" in refused.json()["detail"]
    support = (await journey.http.get(journey.urls["participation"] + f"/supports/{case_id}")).json()
    assert support["matches"] == []
