"""地域づくり as places and activities (D21, issue 16): each program's places (拠点・居場所), the sessions held
there (counts, never names), the self-help groups formed, a 居場所 offered to participation (D13), and the
fiscal year's figures computed from the stored events.

Community and participation run on the in-memory store; community's events reach participation the way
the relay and the inbox carry them (translate, wire format, `receive`).
"""

from __future__ import annotations

from datetime import date
from uuid import UUID, uuid4

import pytest

from services.community.application import CommunityApplication, fiscal_year_of
from services.community.domain import ActivitySession, Place, PlaceClosed, SelfHelpGroup
from services.community.translate import translate as community_translate
from services.participation.application import ParticipationApplication
from shared.domain.access import OutOfScope
from shared.kernel.journey import Invalid, NotFound, acting
from unit.builders import deliver, in_memory, only, published, stored_count

ELDERLY = {"staff_id": "kouki-7", "division": "elderly-support"}  # runs 介護予防普及啓発事業 and three others
CHILDREN = {"staff_id": "kodomo-3", "division": "children-policy"}  # runs すこやか and プレイセンター
WELFARE = {"staff_id": "fukushi-1", "division": "welfare-general"}  # 福祉総務課: oversees every program


@pytest.fixture
def community() -> CommunityApplication:
    return in_memory(CommunityApplication)


def salon(community: CommunityApplication, ibasho: bool = True, opened_on: date = date(2025, 4, 1)) -> UUID:
    return community.register_place(ELDERLY, "kaigo-yobo", "いきいきサロン東部", "東部地区", ibasho, 20, "", opened_on)


def session(community: CommunityApplication, place_id: UUID, held_on: date, participants: int = 12,
            new: int = 2, volunteers: int = 3, organisations: tuple[str, ...] = ("老人クラブ",)) -> UUID:
    return community.record_session(ELDERLY, place_id, held_on, participants, new, volunteers, list(organisations), "体操")


# -- D21: places, sessions and groups --------------------------------------------------------------------


def test_d21_a_session_records_counts_at_a_place_of_the_program(community: CommunityApplication) -> None:
    place_id = salon(community)

    session_id = session(community, place_id, date(2026, 5, 10), 14, 3, 2, ("老人クラブ", " 民生委員協議会 ", "老人クラブ"))

    [row] = community.sessions()
    assert row["session_id"] == str(session_id) and row["program"] == "kaigo-yobo"
    assert (row["participants"], row["new_participants"], row["volunteers"]) == (14, 3, 2)
    assert row["organisations"] == ["老人クラブ", "民生委員協議会"]  # trimmed, each once
    assert (row["place_name"], row["in_charge"]) == ("いきいきサロン東部", "kouki-7")
    assert community.places()[0]["sessions"] == 1
    recorded = next(iter(community.events_of(session_id)))
    assert isinstance(recorded, ActivitySession.Recorded)
    assert not {"name", "names", "person", "persons"} & set(vars(recorded))  # counts only, no one named


def test_d21_new_participants_are_among_the_participants_and_counts_are_not_negative(
        community: CommunityApplication) -> None:
    place_id = salon(community)
    before = stored_count(community)

    with pytest.raises(Invalid, match="新規参加者数は参加者数以下"):
        session(community, place_id, date(2026, 5, 10), participants=3, new=4)
    with pytest.raises(Invalid, match="参加者数は0以上"):
        session(community, place_id, date(2026, 5, 10), participants=-1, new=0)

    assert stored_count(community) == before


def test_d21_a_session_is_held_at_a_place_that_is_open_that_day(community: CommunityApplication) -> None:
    place_id = salon(community, opened_on=date(2026, 4, 1))
    community.close_place(ELDERLY, place_id, date(2026, 9, 30))

    with pytest.raises(PlaceClosed, match="開設日"):
        session(community, place_id, date(2026, 3, 31))
    with pytest.raises(PlaceClosed, match="閉所"):
        session(community, place_id, date(2026, 10, 1))
    session(community, place_id, date(2026, 9, 30))  # its last day still counts
    with pytest.raises(PlaceClosed):
        community.close_place(ELDERLY, place_id, date(2026, 10, 1))
    assert [s["held_on"] for s in community.sessions()] == ["2026-09-30"]


def test_d21_a_program_is_recorded_by_the_division_that_runs_it_or_welfare_general(
        community: CommunityApplication) -> None:
    with pytest.raises(OutOfScope, match="高齢者支援室"):
        community.register_place(CHILDREN, "kaigo-yobo", "サロン", "西部地区", False, None, "", date(2026, 4, 1))
    place_id = community.register_place(WELFARE, "kaigo-yobo", "サロン", "西部地区", False, None, "", date(2026, 4, 1))
    with pytest.raises(OutOfScope):
        community.record_session(CHILDREN, place_id, date(2026, 5, 1), 5, 0, 0, [], "")
    with pytest.raises(OutOfScope):
        community.form_group(CHILDREN, "体操の会", "", "", date(2026, 5, 1), place_id)

    community.register_place(CHILDREN, "プレイセンターちょうふ", "プレイパーク", "中部地区", True, None, "", date(2026, 4, 1))

    assert {p["program"] for p in community.places()} == {"kaigo-yobo", "play-center"}  # the name read as its code


def test_d21_only_the_programs_of_community_are_places_programs(community: CommunityApplication) -> None:
    with pytest.raises(Invalid, match="地域づくり事業の事業ではありません"):
        community.register_place(WELFARE, "outreach", "事務所", "市内", False, None, "", date(2026, 4, 1))
    with pytest.raises(NotFound):
        community.record_session(ELDERLY, uuid4(), date(2026, 5, 1), 5, 0, 0, [], "")


def test_d21_a_group_formed_at_a_place_takes_its_program_and_area(community: CommunityApplication) -> None:
    place_id = salon(community)

    group_id = community.form_group(ELDERLY, "東部10の筋トレの会", "kinryoku-10", "", date(2026, 6, 1), place_id, 9)
    other = community.form_group(ELDERLY, "体操の会", "", "", date(2026, 7, 1), place_id)

    groups = {g["group_id"]: g for g in community.groups()}
    assert (groups[str(group_id)]["program"], groups[str(group_id)]["area"]) == ("kinryoku-10", "東部地区")
    assert groups[str(other)]["program"] == "kaigo-yobo"  # the place's own program
    with pytest.raises(PlaceClosed):
        community.form_group(ELDERLY, "早すぎる会", "", "", date(2025, 3, 1), place_id)
    with pytest.raises(Invalid, match="地域"):
        community.form_group(ELDERLY, "場所のない会", "kaigo-yobo", "", date(2026, 7, 1))
    assert isinstance(community.load(group_id, SelfHelpGroup, "自主グループ"), SelfHelpGroup)


# -- D21 D13: a 居場所 is offered to participation -------------------------------------------------------


def test_d21_an_ibasho_place_joins_participations_catalogue_and_a_plain_place_does_not(
        community: CommunityApplication) -> None:
    participation = in_memory(ParticipationApplication)
    ibasho = salon(community, ibasho=True)
    community.register_place(ELDERLY, "chiiki-reha", "リハビリ教室", "東部地区", False, None, "", date(2026, 4, 1))
    place_id = community.load(ibasho, Place, "拠点").id

    developed = only(published(community, community_translate, "ResourceDeveloped"))
    deliver(developed, participation)

    assert developed.payload == {"resource_id": str(place_id), "kind": "ibasho", "resource_name": "いきいきサロン東部",
                                 "provider": "介護予防普及啓発事業", "area": "東部地区", "capacity": 20, "issue_id": None,
                                 "provider_code": "program:kaigo-yobo"}
    [entry] = participation.catalogue()
    assert (entry["resource_id"], entry["kind"], entry["name"]) == (str(place_id), "ibasho", "いきいきサロン東部")
    session(community, ibasho, date(2026, 5, 10))
    assert len(published(community, community_translate)) == 1  # sessions and plain places stay in community


# -- D21 D15: the year's figures, from the events -----------------------------------------------------------


def test_d21_fiscal_year_runs_april_to_march() -> None:
    assert [fiscal_year_of(d) for d in (date(2026, 4, 1), date(2027, 3, 31), date(2026, 3, 31))] == [2026, 2026, 2025]


def test_d21_figures_per_program_and_quarter_come_from_the_recorded_days(community: CommunityApplication) -> None:
    place_id = salon(community, opened_on=date(2025, 4, 1))
    session(community, place_id, date(2026, 3, 31), 99, 9, 9, ("前年度の団体",))  # fiscal 2025
    session(community, place_id, date(2026, 4, 1), 10, 2, 1, ("老人クラブ",))
    session(community, place_id, date(2027, 3, 31), 12, 1, 2, ("老人クラブ", "自治会"))
    community.form_group(ELDERLY, "体操の会", "", "", date(2026, 7, 1), place_id)
    hiroba = community.register_place(WELFARE, "kosodate-hiroba", "ひろば", "中部地区", True, None, "", date(2026, 10, 1))
    community.record_session(WELFARE, hiroba, date(2026, 10, 2), 8, 8, 0, ["自治会"], "")
    closed = community.register_place(ELDERLY, "chiiki-reha", "閉じた教室", "北部地区", False, None, "", date(2024, 4, 1))
    community.close_place(ELDERLY, closed, date(2026, 3, 31))

    figures = community.figures(2026)

    assert (figures["starts_on"], figures["ends_on"]) == ("2026-04-01", "2027-03-31")
    rows = {p["program"]: p for p in figures["programs"]}
    assert len(rows) == 9 and rows["chiiki-zukuri"]["sessions"] == 0
    kaigo = rows["kaigo-yobo"]
    assert {k: kaigo[k] for k in ("sessions", "participants", "new_participants", "volunteers", "organisations",
                                  "new_groups", "places", "ibasho", "new_places")} == {
        "sessions": 2, "participants": 22, "new_participants": 3, "volunteers": 3, "organisations": 2,
        "new_groups": 1, "places": 1, "ibasho": 1, "new_places": 0}
    assert [q["sessions"] for q in kaigo["quarters"]] == [1, 0, 0, 1]
    assert [q["new_groups"] for q in kaigo["quarters"]] == [0, 1, 0, 0]
    assert rows["chiiki-reha"]["places"] == 0  # closed before the year began
    assert (rows["kosodate-hiroba"]["new_places"], rows["kosodate-hiroba"]["places"]) == (1, 1)
    total = figures["total"]
    assert (total["sessions"], total["participants"], total["organisations"], total["places"]) == (3, 30, 2, 2)
    assert [q["places"] for q in total["quarters"]] == [1, 1, 2, 2]
    assert community.figures(2025)["total"]["sessions"] == 1  # the past year recomputed alike
    assert community.figures(2025)["total"]["places"] == 2


def test_d19_a_session_of_a_program_the_organisation_no_longer_lists_stays_in_its_years_figures(
        community: CommunityApplication) -> None:
    place_id = salon(community)
    with acting(ELDERLY):  # recorded under a program since dropped from the reference data (a reorganisation)
        old = ActivitySession.record(community.place(place_id), "old-salon-program", date(2026, 6, 1), 7, 0, 0, [], "")
    community.save(old)

    rows = {p["program"]: p for p in community.figures(2026)["programs"]}

    assert rows["old-salon-program"]["sessions"] == 1 and rows["old-salon-program"]["participants"] == 7
    assert "old-salon-program" not in {p["program"] for p in community.figures(2024)["programs"]}
