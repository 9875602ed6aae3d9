"""Events carry codes, never only display names (issue 18), for the fields session 8 left with names: who referred a
person (`referred_by_code`: outreach's and participation's start), a resource's provider (`provider_code`:
ResourceDeveloped, ResourceMatched), the 地区 of a need without a resource and of a resource (`area_code`:
ResourceShortageReported, RegionalIssueOpened, ResourceDeveloped) and the forum that took an issue up (`forum_code`).

Each runs on both shipped municipality files, naming the organisation by what the file says (its referral sources,
partners, counters, areas, programs), never by Chofu's codes. An event without the codes (published before them)
still validates, and a domain event recorded before them is published without them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from uuid import UUID, uuid4

import pytest

from services.collaboration.application import CollaborationApplication
from services.collaboration.translate import translate as collaboration_translate
from services.community.application import CommunityApplication
from services.community.translate import translate as community_translate
from services.meeting.application import MeetingApplication
from services.meeting.translate import translate as meeting_translate
from services.outreach.application import OutreachApplication
from services.outreach.domain import Engagement
from services.outreach.translate import translate as outreach_translate
from services.participation.application import ParticipationApplication
from services.participation.translate import translate as participation_translate
from shared.contract.events import PRODUCERS, REGISTRY, PoisonMessage, parse
from shared.kernel.journey import Invalid, acting
from shared.organisation import reference
from shared.organisation.municipality import DATA, DEFAULT_FILE, MunicipalityFileError, load
from unit.builders import Upstream, deliver, in_memory, only, published

FILES = pytest.mark.parametrize("path", [DEFAULT_FILE, DATA / "kakushi.toml"], ids=["chofu", "kakushi"])


@pytest.fixture
def on_file(monkeypatch: pytest.MonkeyPatch, path: Path) -> Iterator[Path]:
    """The municipality file in force for the test (a shipped one, by the parameter `path`)."""
    monkeypatch.setenv(reference.VARIABLE, str(path))
    yield path


def staff() -> dict[str, str]:
    """A member of the lead division (runs outreach, participation and community in both files, or oversees them)."""
    return {"staff_id": "codes-1", "division": reference.lead_division()}


def a_district() -> reference.Area:
    """A 地区 of the file in force today other than the whole city."""
    return next(a for a in reference.areas().values() if a.code != "citywide")


def decided(connect_to: str, meeting_type: str) -> dict[str, object]:
    return {"meeting_id": str(uuid4()), "meeting_type": meeting_type, "plan_id": str(uuid4()), "decision": "approved",
            "attendees": [reference.DIVISIONS[reference.lead_division()].ja], "reasons": "合議", "connect_to": [connect_to]}


# -- 紹介元: referred_by_code ----------------------------------------------------------------------------------


@FILES
def test_issue18_outreach_started_carries_the_referrers_code_beside_its_name(on_file: Path) -> None:
    outreach = in_memory(OutreachApplication)
    minsei = reference.partner_entries()["minsei-iin"]
    counter = next(iter(reference.counters().values()))
    family = reference.REFERRAL_SOURCES["family"]

    outreach.start(staff(), None, f"referrer:{family.code}", "長く外出していない")  # what the form's select sends
    outreach.start(staff(), None, minsei.ja, "訪問を希望")  # a name the file knows, typed
    outreach.start(staff(), None, f"counter:{counter.code}", "窓口から")
    outreach.start(staff(), None, "知人の紹介", "名簿にない紹介元")  # free text: no code, left out

    started = [e.payload for e in published(outreach, outreach_translate, "OutreachStarted")]
    assert [(p["referred_by"], p.get("referred_by_code")) for p in started] == [
        (family.ja, "referrer:family"), (minsei.ja, "partner:minsei-iin"), (counter.ja, f"counter:{counter.code}"),
        ("知人の紹介", None)]
    assert "referred_by_code" not in started[3]
    assert reference.referrer_name("referrer:family") == family.ja


@FILES
def test_issue18_a_referrer_code_the_file_does_not_know_is_refused_naming_the_form(on_file: Path) -> None:
    outreach = in_memory(OutreachApplication)

    with pytest.raises(Invalid, match="紹介元のコード 'partner:no-such-partner' は自治体ファイルにありません"):
        outreach.start(staff(), None, "partner:no-such-partner", "誤ったコード")
    assert published(outreach, outreach_translate) == []


@FILES
def test_issue18_a_start_by_a_meetings_decision_names_the_kind_of_meeting(on_file: Path) -> None:
    outreach, participation = in_memory(OutreachApplication), in_memory(ParticipationApplication)
    meeting = Upstream("meeting")

    outreach.receive(*meeting.emit("MeetingDecided", decided("outreach", "shien_kaigi"), uuid4()))
    participation.receive(*meeting.emit("MeetingDecided", decided("participation", "jusou_shien_kaigi"), uuid4()))

    reached = only(published(outreach, outreach_translate, "OutreachStarted")).payload
    joined = only(published(participation, participation_translate, "ParticipationStarted")).payload
    assert (reached["referred_by"], reached["referred_by_code"]) == ("meeting", "meeting_kind:shien_kaigi")
    assert joined["referred_by"].startswith("meeting:") and joined["referred_by_code"] == "meeting_kind:jusou_shien_kaigi"
    assert reference.referrer_name("meeting_kind:shien_kaigi") == reference.MEETING_KINDS["shien_kaigi"].ja


@FILES
def test_issue18_participation_started_by_outreachs_hand_over_names_the_outreach_program(on_file: Path) -> None:
    participation, case_id = in_memory(ParticipationApplication), uuid4()

    participation.receive(*Upstream("outreach").emit("OutreachHandedOver", {
        "to_program": "participation", "reason": "居場所を探す", "primary_agency": None, "counter": None}, case_id))

    joined = only(published(participation, participation_translate, "ParticipationStarted")).payload
    assert (joined["referred_by"], joined["referred_by_code"]) == ("outreach", "program:outreach")
    assert reference.referrer_name("program:outreach") == reference.PROGRAMS["outreach"].ja


# -- 地区: area_code ---------------------------------------------------------------------------------------------


@FILES
def test_issue18_a_shortage_carries_its_districts_code(on_file: Path) -> None:
    participation, district = in_memory(ParticipationApplication), a_district()
    participation.receive(*Upstream("outreach").emit("OutreachHandedOver", {
        "to_program": "participation", "reason": "r", "primary_agency": None, "counter": None}, case_id := uuid4()))

    participation.report_shortage(staff(), case_id, "夜間の居場所", "", "夜に開く場がない", district.code)  # the select only
    participation.report_shortage(staff(), case_id, "就労体験の場", district.ja, "体験先がない")  # its name, typed
    participation.report_shortage(staff(), case_id, "住まい", "〇〇町三丁目", "単身者向けがない")  # finer than a 地区

    reported = [e.payload for e in published(participation, participation_translate, "ResourceShortageReported")]
    assert [(p["area"], p.get("area_code")) for p in reported] == [
        (district.ja, district.code), (district.ja, district.code), ("〇〇町三丁目", None)]
    assert "area_code" not in reported[2]
    with pytest.raises(Invalid, match="地区 'no-such-area' は自治体ファイルにありません"):
        participation.report_shortage(staff(), case_id, "x", "", "y", "no-such-area")
    with pytest.raises(Invalid, match="地域を入力するか地区を選んでください"):
        participation.report_shortage(staff(), case_id, "x", " ", "y")


@FILES
def test_issue18_a_gap_the_meeting_names_and_the_councils_decision_on_it_carry_the_district(on_file: Path) -> None:
    meeting, council, district = in_memory(MeetingApplication), in_memory(CollaborationApplication), a_district()
    lead = [reference.DIVISIONS[reference.lead_division()].ja]
    sitting = meeting.convene(staff(), "shien_kaigi", date(2026, 5, 20), lead)

    meeting.identify_gap(staff(), sitting, uuid4(), "夜間の居場所", "", "夜に開く場がない", district.code)  # the select only
    meeting.identify_gap(staff(), sitting, uuid4(), "当事者会", "〇〇町", "当事者会がない")
    for envelope in published(meeting, meeting_translate, "ResourceGapIdentified"):
        deliver(envelope, council)
    council.refer_gap(staff(), "買い物支援", district.ja, "")  # brought by hand, naming the 地区
    held = council.hold_sitting(staff(), date(2026, 12, 10), lead, "第1回")
    for gap in council.gaps():
        council.take_up_gap(staff(), held, UUID(gap["gap_id"]))
        council.decide_gap(staff(), held, UUID(gap["gap_id"]), "deferred", summary="次回までに調べる")

    named = [e.payload for e in published(meeting, meeting_translate, "ResourceGapIdentified")]
    decided = [e.payload for e in published(council, collaboration_translate, "PromotionCouncilDecided")]
    assert [(p["area"], p.get("area_code")) for p in named] == [(district.ja, district.code), ("〇〇町", None)]
    assert [(p["area"], p.get("area_code")) for p in decided] == [
        (district.ja, district.code), ("〇〇町", None), (district.ja, district.code)]


@FILES
def test_issue18_a_regional_issue_keeps_the_reports_district_or_finds_it_on_the_reports_day(on_file: Path) -> None:
    community, district = in_memory(CommunityApplication), a_district()
    participation, meeting = Upstream("participation"), Upstream("meeting")
    coded = {"need": "夜間の居場所", "area": "夜の駅前", "description": "d", "area_code": district.code}
    before = {"need": "当事者会", "area": district.ja, "description": "d"}  # published before area_code existed

    community.receive(*participation.emit("ResourceShortageReported", coded, uuid4()))
    community.receive(*meeting.emit("ResourceGapIdentified", before, uuid4()))
    community.receive(*meeting.emit("ResourceGapIdentified", {**before, "area": "どこか遠く"}, uuid4()))

    opened = [e.payload for e in published(community, community_translate, "RegionalIssueOpened")]
    assert [(p["area"], p.get("area_code")) for p in opened] == [
        ("夜の駅前", district.code), (district.ja, district.code), ("どこか遠く", None)]


@FILES
def test_issue18_a_resource_carries_its_providers_and_districts_codes_and_a_match_its_providers(on_file: Path) -> None:
    community, participation, district = in_memory(CommunityApplication), in_memory(ParticipationApplication), a_district()
    shakyo = reference.partner_entries()["shakyo"]
    program = next(p for p in reference.programs().values() if p.kind == "community" and p.division)
    worker = {"staff_id": "codes-2", "division": program.division}

    resource_id = community.develop_resource(staff(), "ibasho", "夜のたまり場", shakyo.ja, "", 10, None, district.code)
    community.develop_resource(staff(), "shuro", "就労体験", "NPO法人まちの本屋", "〇〇町", None, None)
    community.register_place(worker, program.code, "地域サロン", district.ja, True, 20, "", date(2026, 4, 1))

    developed = [e.payload for e in published(community, community_translate, "ResourceDeveloped")]
    assert [(p["provider"], p.get("provider_code"), p["area"], p.get("area_code")) for p in developed] == [
        (shakyo.ja, "partner:shakyo", district.ja, district.code),
        ("NPO法人まちの本屋", None, "〇〇町", None),
        (program.ja, f"program:{program.code}", district.ja, district.code),  # a place without a provider: its program
    ]
    for envelope in published(community, community_translate, "ResourceDeveloped"):
        deliver(envelope, participation)
    participation.receive(*Upstream("outreach").emit("OutreachHandedOver", {
        "to_program": "participation", "reason": "r", "primary_agency": None, "counter": None}, case_id := uuid4()))
    participation.match(staff(), case_id, str(resource_id))
    matched = only(published(participation, participation_translate, "ResourceMatched")).payload
    assert (matched["provider"], matched["provider_code"]) == (shakyo.ja, "partner:shakyo")


@FILES
def test_issue18_a_resource_learnt_from_an_event_without_codes_gets_them_on_the_events_day(on_file: Path) -> None:
    participation = in_memory(ParticipationApplication)
    shakyo = reference.partner_entries()["shakyo"]
    resource_id = uuid4()
    participation.receive(*Upstream("community").emit("ResourceDeveloped", {
        "resource_id": str(resource_id), "kind": "ibasho", "resource_name": "古い資源", "provider": shakyo.ja,
        "area": a_district().ja, "capacity": None, "issue_id": None}, uuid4()))
    participation.receive(*Upstream("outreach").emit("OutreachHandedOver", {
        "to_program": "participation", "reason": "r", "primary_agency": None, "counter": None}, case_id := uuid4()))

    participation.match(staff(), case_id, str(resource_id))

    assert only(published(participation, participation_translate, "ResourceMatched")).payload["provider_code"] == (
        "partner:shakyo")


# -- 協議の場: forum_code ----------------------------------------------------------------------------------------


@FILES
def test_issue18_an_initiative_in_a_forum_the_file_has_carries_its_code(on_file: Path) -> None:
    community = in_memory(CommunityApplication)
    council = reference.council_forum()
    assert council is not None
    community.receive(*Upstream("meeting").emit("ResourceGapIdentified", {
        "need": "夜間の居場所", "area": "市内", "description": "d"}, uuid4()))
    [issue_id] = [i["issue_id"] for i in community.issues()]

    community.take_up(staff(), issue_id, council.ja, "推進会議で資源開発を協議する")
    community.take_up(staff(), issue_id, "地区の見守り連絡会", "個別ケースから地域課題を検討する")  # not an entry of the file

    started = [e.payload for e in published(community, community_translate, "InitiativeStarted")]
    assert [(p["forum"], p.get("forum_code")) for p in started] == [
        (council.ja, f"forum:{council.code}"), ("地区の見守り連絡会", None)]


# -- old events ----------------------------------------------------------------------------------------------------


OLD_PAYLOADS = {
    "OutreachStarted": {"referred_by": "民生委員", "reason": "r"},
    "ParticipationStarted": {"referred_by": "outreach", "needs": []},
    "ResourceMatched": {"resource_kind": "ibasho", "resource_id": "x", "provider": "NPO法人"},
    "ResourceShortageReported": {"need": "n", "area": "a", "description": "d"},
    "ResourceGapIdentified": {"need": "n", "area": "a", "description": "d"},
    "RegionalIssueOpened": {"issue_id": str(uuid4()), "need": "n", "area": "a", "origin_event_id": str(uuid4())},
    "InitiativeStarted": {"issue_id": str(uuid4()), "forum": "f", "summary": "s"},
    "ResourceDeveloped": {"resource_id": str(uuid4()), "kind": "ibasho", "resource_name": "r", "provider": "p", "area": "a"},
    "PromotionCouncilDecided": {"sitting_id": str(uuid4()), "gap_id": str(uuid4()), "need": "n", "area": "a",
                                "decision": "deferred"},
}


def wire(event_type: str, payload: dict[str, object]) -> bytes:
    """A message body as the event's producer published it."""
    source = PRODUCERS[event_type][0]
    return json.dumps({"event_id": str(uuid4()), "event_type": event_type, "schema_version": 1, "source": source,
                       "source_position": 1, "case_id": str(uuid4()), "occurred_at": "2025-04-01T09:00:00+09:00",
                       "correlation_id": str(uuid4()), "causation_id": None, "actor": {"service": source},
                       "payload": payload}).encode()


@pytest.mark.parametrize("event_type", sorted(OLD_PAYLOADS))
def test_issue18_an_event_published_before_the_codes_still_validates(event_type: str) -> None:
    _, payload = parse(wire(event_type, OLD_PAYLOADS[event_type]))

    codes = {"referred_by_code", "provider_code", "area_code", "forum_code"} & set(type(payload).model_fields)
    assert type(payload) is REGISTRY[(event_type, 1)] and codes
    assert all(getattr(payload, code) is None for code in codes)


def test_issue18_a_code_is_text_or_null() -> None:
    with pytest.raises(PoisonMessage, match="area_code"):
        parse(wire("ResourceShortageReported", {**OLD_PAYLOADS["ResourceShortageReported"], "area_code": 7}))


def test_issue18_an_engagement_recorded_before_the_code_is_published_as_it_was() -> None:
    """A Started event stored before `referred_by_code` existed has none: its payload keeps the keys it had."""
    outreach = in_memory(OutreachApplication)
    with acting(staff()):
        outreach.save(Engagement(case_id=uuid4(), referred_by="民生委員", reason="r"))
    [notification] = outreach.notifications()
    stored = outreach.mapper.to_domain_event(notification)
    vars(stored).pop("referred_by_code")  # as an event stored before the field existed reads back

    started = outreach_translate(stored, notification.id)
    assert started is not None and started.payload == {"referred_by": "民生委員", "reason": "r"}
    assert only(published(outreach, outreach_translate)).payload == started.payload  # the same through the relay


# -- the file: areas and referral sources, with dates -----------------------------------------------------------


def test_issue18_a_district_ended_in_a_reorganisation_still_reads_and_is_no_longer_offered(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """架空市 splits its 中部圏域 on 2027-04-01: a record's code still reads as its name; forms offer the new ones."""
    monkeypatch.setenv(reference.VARIABLE, str(DATA / "kakushi.toml"))
    before, after = date(2027, 3, 31), date(2027, 4, 1)

    assert "chubu" in reference.areas(before) and "chubu" not in reference.areas(after)
    assert {"chubu-higashi", "chubu-nishi"} <= set(reference.areas(after))
    assert reference.area_code("中部圏域", after) == "chubu" and reference.area_name("chubu", after) == "中部圏域"


def test_issue18_a_file_without_areas_or_referral_sources_is_valid_and_overlaps_are_refused(tmp_path: Path) -> None:
    text = (DATA / "kakushi.toml").read_text(encoding="utf-8")
    older = tmp_path / "older.toml"
    older.write_text(text.split("\n# 地区 (areas", 1)[0] + "\n", encoding="utf-8")
    overlapping = tmp_path / "overlap.toml"
    overlapping.write_text(text + '\n[[areas]]\ncode = "hokubu"\nja = "北部圏域（重複）"\n', encoding="utf-8")

    assert load(older).model.areas == [] and load(older).model.referral_sources == []
    with pytest.raises(MunicipalityFileError, match=r"\[\[areas\]\] #7 \(hokubu\) valid_from: コード hokubu の項目が #2 と"):
        load(overlapping)
