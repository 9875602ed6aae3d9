"""地域づくり: regional issues taken up, local resources grown, and participation's catalogue (D8, D13).

Both services run on the in-memory store; community's events reach participation the way the
relay and the inbox carry them (translate, wire format, `receive`).
"""

from __future__ import annotations

from datetime import date
from uuid import UUID, uuid4

import pytest

from services.community.application import CommunityApplication
from services.community.domain import IssueResolved, RegionalIssue, resource_case_id
from services.community.translate import translate as community_translate
from services.participation.application import ParticipationApplication
from services.participation.domain import PlacementEnded, PlacementOpen, Support
from services.participation.translate import translate as participation_translate
from shared.contract.events import ResourceGapIdentifiedV1
from shared.kernel.journey import Invalid, NotFound, journey_id
from unit.builders import (
    COORDINATOR,
    Upstream,
    deliver,
    in_memory,
    only,
    published,
    stored_count,
)

COMMUNITY_STAFF = {"staff_id": "chiiki-1", "division": "welfare-general"}
FORUM = "社協との夜間の居場所検討会"  # written freely: no forum of the municipality file (those: test_forums.py)


@pytest.fixture
def community() -> CommunityApplication:
    return in_memory(CommunityApplication)


@pytest.fixture
def participation() -> ParticipationApplication:
    return in_memory(ParticipationApplication)


def open_issue(community: CommunityApplication, case_id: UUID | None = None) -> UUID:
    """A ResourceGapIdentified from the meeting opens a regional issue; returns its id."""
    gap = ResourceGapIdentifiedV1(need="夜間の居場所", area="調布市東部", description="若者が夜に過ごせる場がない")
    community.receive(*Upstream("meeting").emit("ResourceGapIdentified", gap, case_id or uuid4()))
    [issue_id] = community.ids_of(RegionalIssue)
    return issue_id


def develop(community: CommunityApplication, issue_id: UUID | None = None, kind: str = "ibasho") -> UUID:
    return community.develop_resource(COMMUNITY_STAFF, kind, "夜のたまり場 国領", "NPO法人", "調布市東部", 10, issue_id)


def catalogued(community: CommunityApplication, participation: ParticipationApplication) -> None:
    """Carry every ResourceDeveloped community published to participation."""
    for envelope in published(community, community_translate, "ResourceDeveloped"):
        deliver(envelope, participation)


def supported(participation: ParticipationApplication) -> UUID:
    """A participation support, started as the meeting's connect_to would start it."""
    case_id = uuid4()
    decision = {"meeting_id": str(uuid4()), "meeting_type": "shien_kaigi", "plan_id": str(uuid4()),
                "decision": "approved", "attendees": ["福祉総務課"], "reasons": "合議", "connect_to": ["participation"]}
    participation.receive(*Upstream("meeting").emit("MeetingDecided", decision, case_id))
    return case_id


def matched(community: CommunityApplication, participation: ParticipationApplication) -> tuple[UUID, str]:
    resource_id = develop(community)
    catalogued(community, participation)
    case_id = supported(participation)
    participation.match(COORDINATOR, case_id, str(resource_id))
    return case_id, str(resource_id)


# -- D8: regional issues are taken up in a forum of their own ----------------------------------------


def test_d8_taking_up_an_issue_publishes_initiative_started_on_its_case(community: CommunityApplication) -> None:
    case_id = uuid4()
    issue_id = open_issue(community, case_id)

    community.take_up(COMMUNITY_STAFF, issue_id, FORUM, "夜間に開く居場所を社協と検討する")

    started = only(published(community, community_translate, "InitiativeStarted"))
    assert started.case_id == case_id and started.payload == {
        "issue_id": str(issue_id), "forum": FORUM, "summary": "夜間に開く居場所を社協と検討する"}
    assert started.actor.staff_id == COMMUNITY_STAFF["staff_id"]
    assert community.issue_view(issue_id)["status"] == "taken_up"


def test_d8_an_initiative_without_a_forum_is_refused(community: CommunityApplication) -> None:
    issue_id = open_issue(community)
    before = stored_count(community)

    with pytest.raises(Invalid):
        community.take_up(COMMUNITY_STAFF, issue_id, "  ", "検討する")

    assert stored_count(community) == before


def test_d8_a_resolved_issue_takes_no_new_initiative(community: CommunityApplication) -> None:
    issue_id = open_issue(community)
    community.resolve(COMMUNITY_STAFF, issue_id, "夜間の居場所が開設された")

    with pytest.raises(IssueResolved):
        community.take_up(COMMUNITY_STAFF, issue_id, FORUM, "検討する")
    with pytest.raises(IssueResolved):
        community.resolve(COMMUNITY_STAFF, issue_id, "もう一度")


def test_d8_taking_up_an_unknown_issue_is_not_found(community: CommunityApplication) -> None:
    with pytest.raises(NotFound):
        community.take_up(COMMUNITY_STAFF, uuid4(), FORUM, "検討する")


# -- D8: local resources ---------------------------------------------------------------------------


def test_d8_a_resource_answering_an_issue_joins_that_case_journey(community: CommunityApplication) -> None:
    case_id = uuid4()
    issue_id = open_issue(community, case_id)

    resource_id = develop(community, issue_id)

    developed = only(published(community, community_translate, "ResourceDeveloped"))
    assert (developed.case_id, developed.correlation_id) == (case_id, journey_id(case_id))
    assert developed.payload["resource_id"] == str(resource_id) and developed.payload["issue_id"] == str(issue_id)
    assert community.issue_view(issue_id)["resources"] == [str(resource_id)]


def test_d8_a_resource_answering_no_issue_gets_a_case_id_derived_from_its_id(community: CommunityApplication) -> None:
    resource_id = develop(community)

    developed = only(published(community, community_translate, "ResourceDeveloped"))
    assert developed.case_id == resource_case_id(resource_id) and developed.payload["issue_id"] is None


def test_d8_a_resource_kind_may_be_named_in_japanese_and_travels_as_its_code(community: CommunityApplication) -> None:
    develop(community, kind="就労支援")

    assert only(published(community, community_translate, "ResourceDeveloped")).payload["kind"] == "shuro"


@pytest.mark.parametrize(("kind", "name", "capacity"), [("居酒屋", "夜のたまり場", 10), ("ibasho", " ", 10), ("ibasho", "夜のたまり場", 0)])
def test_d8_a_resource_with_an_unknown_kind_no_name_or_no_capacity_is_refused(
    community: CommunityApplication, kind: str, name: str, capacity: int,
) -> None:
    with pytest.raises(Invalid):
        community.develop_resource(COMMUNITY_STAFF, kind, name, "NPO法人", "調布市東部", capacity, None)

    assert stored_count(community) == 0


def test_d8_a_resource_for_an_unknown_issue_is_not_found(community: CommunityApplication) -> None:
    with pytest.raises(NotFound):
        develop(community, uuid4())


# -- the pages' queries: when and by whom, from the events' metadata ------------------------------------


def test_d8_issue_record_says_when_it_opened_who_took_it_up_and_what_answers_it(community: CommunityApplication) -> None:
    issue_id = open_issue(community)
    community.take_up(COMMUNITY_STAFF, issue_id, FORUM, "夜間に開く居場所を社協と検討する")
    resource_id = develop(community, issue_id)
    develop(community)  # answers no issue

    record = community.issue_record(issue_id)

    assert record["opened_at"] is not None and record["resolved_at"] is None
    [initiative] = record["initiatives"]
    assert (initiative["forum"], initiative["actor"]) == (FORUM, COMMUNITY_STAFF)
    assert initiative["at"] >= record["opened_at"]
    assert [r["resource_id"] for r in record["answering"]] == record["resources"] == [str(resource_id)]
    community.resolve(COMMUNITY_STAFF, issue_id, "夜間の居場所が開設された")
    resolved = community.issue_records()
    assert [r["issue_id"] for r in resolved] == [str(issue_id)]
    assert resolved[0]["resolved_at"] >= initiative["at"]


def test_d8_resource_records_say_when_and_by_whom_each_was_registered(community: CommunityApplication) -> None:
    resource_id = develop(community)

    [record] = community.resource_records()

    assert record["resource_id"] == str(resource_id) and record["actor"] == COMMUNITY_STAFF
    assert record["at"] is not None


# -- D13: participation's catalogue learns from ResourceDeveloped alone --------------------------------


def test_d13_the_catalogue_learns_of_a_resource_from_resource_developed(
    community: CommunityApplication, participation: ParticipationApplication,
) -> None:
    resource_id = develop(community)

    catalogued(community, participation)

    assert participation.catalogue() == [{
        "resource_id": str(resource_id), "kind": "ibasho", "name": "夜のたまり場 国領", "provider": "NPO法人",
        "area": "調布市東部", "capacity": 10, "issue_id": None,
        "schedule": None, "contact": None, "fee": None}]  # 案内情報 (issue 15): participation staff write them later


def test_d13_resource_developed_delivered_twice_adds_one_entry(
    community: CommunityApplication, participation: ParticipationApplication,
) -> None:
    develop(community)
    developed = only(published(community, community_translate, "ResourceDeveloped"))
    deliver(developed, participation)

    assert deliver(developed, participation) is False
    assert len(participation.catalogue()) == 1


def test_d13_match_refuses_a_resource_not_in_the_catalogue(participation: ParticipationApplication) -> None:
    case_id = supported(participation)
    before = stored_count(participation)

    for resource_id in ("ibasho-12", str(uuid4())):
        with pytest.raises(Invalid, match="GET /catalogue"):
            participation.match(COORDINATOR, case_id, resource_id)

    assert stored_count(participation) == before


def test_d13_match_refuses_a_kind_other_than_the_catalogue_entry(
    community: CommunityApplication, participation: ParticipationApplication,
) -> None:
    resource_id = develop(community, kind="jukyo")
    catalogued(community, participation)
    case_id = supported(participation)

    with pytest.raises(Invalid):
        participation.match(COORDINATOR, case_id, str(resource_id), "居場所")


def test_d13_resource_matched_names_the_catalogue_kind_and_provider(
    community: CommunityApplication, participation: ParticipationApplication,
) -> None:
    case_id, resource_id = matched(community, participation)

    assert only(published(participation, participation_translate, "ResourceMatched")).payload == {
        "resource_kind": "ibasho", "resource_id": resource_id, "provider": "NPO法人",
        "provider_code": "partner:npo"}
    participation.match(COORDINATOR, case_id, resource_id, "居場所")
    assert len(published(participation, participation_translate, "ResourceMatched")) == 1, "a second match changes nothing"


# -- D13: placements and how they went -----------------------------------------------------------------


def test_d13_a_placement_started_and_reviewed_is_published(
    community: CommunityApplication, participation: ParticipationApplication,
) -> None:
    case_id, resource_id = matched(community, participation)

    index = participation.start_placement(COORDINATOR, case_id, resource_id, date(2026, 12, 1))
    participation.review_placement(COORDINATOR, case_id, index, "settled", "週2回通い、定着した")

    started = only(published(participation, participation_translate, "PlacementStarted"))
    reviewed = only(published(participation, participation_translate, "PlacementReviewed"))
    assert started.payload == {"resource_id": resource_id, "started_on": "2026-12-01"}
    assert reviewed.payload == {"resource_id": resource_id, "outcome": "settled", "note": "週2回通い、定着した"}
    assert participation.support_view(case_id)["placements"][0]["status"] == "settled"


def test_d13_a_placement_needs_a_matched_resource(
    community: CommunityApplication, participation: ParticipationApplication,
) -> None:
    resource_id = develop(community)
    catalogued(community, participation)
    case_id = supported(participation)

    with pytest.raises(Invalid):
        participation.start_placement(COORDINATOR, case_id, str(resource_id), date(2026, 12, 1))


def test_d13_a_second_placement_at_a_resource_waits_for_the_first_to_end(
    community: CommunityApplication, participation: ParticipationApplication,
) -> None:
    case_id, resource_id = matched(community, participation)
    index = participation.start_placement(COORDINATOR, case_id, resource_id, date(2026, 12, 1))
    participation.review_placement(COORDINATOR, case_id, index, "interrupted", "体調不良で休止")

    with pytest.raises(PlacementOpen):
        participation.start_placement(COORDINATOR, case_id, resource_id, date(2027, 1, 10))

    participation.review_placement(COORDINATOR, case_id, index, "ended", "別の居場所へ")
    assert participation.start_placement(COORDINATOR, case_id, resource_id, date(2027, 1, 10)) == 1


def test_d13_an_ended_placement_takes_no_further_review(
    community: CommunityApplication, participation: ParticipationApplication,
) -> None:
    case_id, resource_id = matched(community, participation)
    index = participation.start_placement(COORDINATOR, case_id, resource_id, date(2026, 12, 1))
    participation.review_placement(COORDINATOR, case_id, index, "ended", "目標を達成")

    with pytest.raises(PlacementEnded):
        participation.review_placement(COORDINATOR, case_id, index, "ongoing", "")


@pytest.mark.parametrize(("index", "outcome", "error"), [(5, "settled", NotFound), (0, "定着", Invalid), (0, "done", Invalid)])
def test_d13_a_review_of_an_unknown_placement_or_outcome_is_refused(
    community: CommunityApplication, participation: ParticipationApplication, index: int, outcome: str,
    error: type[Exception],
) -> None:
    case_id, resource_id = matched(community, participation)
    participation.start_placement(COORDINATOR, case_id, resource_id, date(2026, 12, 1))

    with pytest.raises(error):
        participation.review_placement(COORDINATOR, case_id, index, outcome, "")

    assert participation.support_view(case_id)["placements"][0]["status"] == "started"


def test_d13_support_replays_its_placements_from_the_store(
    community: CommunityApplication, participation: ParticipationApplication,
) -> None:
    case_id, resource_id = matched(community, participation)
    participation.start_placement(COORDINATOR, case_id, resource_id, date(2026, 12, 1))

    support: Support = participation.repository.get(case_id)

    assert support.placements[0]["started_on"] == date(2026, 12, 1)
