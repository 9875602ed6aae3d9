"""D8 (issue 16): community follows the 推進会議's decisions (PromotionCouncilDecided from
collaboration) on the gaps it keeps as regional issues, matched by the gap's origin event id."""

from __future__ import annotations

from uuid import UUID, uuid4

import pytest
from pydantic import BaseModel
from support.municipality import LEAD

from services.community.application import CommunityApplication
from services.community.domain import RegionalIssue
from services.community.translate import translate as community_translate
from shared.contract.events import Envelope, PromotionCouncilDecidedV1, ResourceGapIdentifiedV1
from shared.organisation.reference import council_name
from unit.builders import Upstream, envelope_for, in_memory, only, published, stored_count


@pytest.fixture
def community() -> CommunityApplication:
    return in_memory(CommunityApplication)


def gap_issue(community: CommunityApplication) -> tuple[UUID, UUID]:
    """A gap the meeting named opens a regional issue: (issue_id, the gap event's id)."""
    gap = ResourceGapIdentifiedV1(need="夜間の居場所", area="調布市東部", description="若者が夜に過ごせる場がない")
    envelope, payload = Upstream("meeting").emit("ResourceGapIdentified", gap, uuid4())
    community.receive(envelope, payload)
    [issue_id] = community.ids_of(RegionalIssue)
    return issue_id, envelope.event_id


def decided(origin_event_id: UUID | None, decision: str, sitting_id: UUID, position: int,
            division: str | None = None, summary: str = "") -> tuple[Envelope, BaseModel]:
    payload = PromotionCouncilDecidedV1(sitting_id=sitting_id, gap_id=uuid4(), origin_event_id=origin_event_id,
                                        need="夜間の居場所", area="調布市東部", decision=decision,  # type: ignore[arg-type]
                                        division=division, summary=summary)
    return envelope_for("collaboration", position, "PromotionCouncilDecided", payload, uuid4())


def test_d8_a_council_initiative_starts_the_initiative_on_the_regional_issue(community: CommunityApplication) -> None:
    issue_id, origin = gap_issue(community)
    sitting = uuid4()
    event = decided(origin, "initiative", sitting, 1, summary="空き店舗を使った夜の居場所づくりを協議する")
    assert community.receive(*event)
    record = community.issue_record(issue_id)
    assert record["status"] == "taken_up"
    assert [(i["forum"], i["summary"]) for i in record["initiatives"]] == [
        (council_name(), "空き店舗を使った夜の居場所づくりを協議する")]
    assert [c["decision"] for c in record["council"]] == ["initiative"]
    started = only(published(community, community_translate, "InitiativeStarted"))
    assert started.payload["issue_id"] == str(issue_id) and started.payload["forum"] == council_name()
    # idempotent: the same delivery again, and the same sitting's decision sent anew, record nothing
    count = stored_count(community)
    community.receive(*event)
    community.receive(*decided(origin, "initiative", sitting, 2, summary="空き店舗を使った夜の居場所づくりを協議する"))
    assert stored_count(community) == count
    assert len(community.issue_record(issue_id)["initiatives"]) == 1


def test_d8_a_council_request_or_deferral_is_noted_on_the_issue_without_an_initiative(
    community: CommunityApplication,
) -> None:
    issue_id, origin = gap_issue(community)
    community.receive(*decided(origin, "deferred", uuid4(), 1))
    community.receive(*decided(origin, "request", uuid4(), 2, division=LEAD, summary="既存施設の夜間開放を検討"))
    record = community.issue_record(issue_id)
    assert record["status"] == "open" and record["initiatives"] == []
    assert [(c["decision"], c["division"], c["summary"]) for c in record["council"]] == [
        ("deferred", "", ""), ("request", LEAD, "既存施設の夜間開放を検討")]
    assert record["council"][1]["division_ja"] not in ("", LEAD)
    assert published(community, community_translate, "InitiativeStarted") == []


def test_d8_a_council_decision_on_a_gap_no_issue_keeps_records_nothing(community: CommunityApplication) -> None:
    gap_issue(community)
    count = stored_count(community)
    community.receive(*decided(uuid4(), "initiative", uuid4(), 1, summary="別の課題"))
    community.receive(*decided(None, "initiative", uuid4(), 2, summary="別の課題"))
    assert stored_count(community) == count
