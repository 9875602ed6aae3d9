"""The municipality file's codes on the bus (issue 18), for a journey that sets each one, over HTTP on the running
suite: outreach started by a referrer chosen from the file (`referred_by_code`), handed on to participation
(`referred_by_code: program:outreach`), a shortage in a 地区 (`area_code`), the regional issue community opens from it
(`area_code`), a resource of a partner in that 地区 (`provider_code`, `area_code`), its match (`provider_code`) and an
initiative in a forum the file has (`forum_code`), a gap the meeting names in a 地区 and the 推進会議's decision on the
shortage's gap (`area_code`).

It names the organisation by what the file in force says (its referral sources, partners, areas, programs), so it runs
on either shipped file: `JUSOU_TEST_MUNICIPALITY=kakushi .venv/bin/pytest tests/e2e/test_event_codes_on_the_bus.py`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import nats as nats_py
import pytest
from support.auth import staff_headers
from support.journey import COORDINATOR, OUTREACH_WORKER, PARTICIPATION_STAFF, SECRETARIAT, Journey
from support.municipality import LEAD, SHAKYO
from support.poll import eventually

from jusou.runner import Suite
from shared.contract.events import parse
from shared.organisation import reference

COMMUNITY_STAFF = staff_headers("chiiki-018", LEAD, "community_worker")


class Bus:
    """Reads the stream as any program would: an ordered consumer from the first message, up to the last one."""

    def __init__(self, client: Any) -> None:
        self.js = client.jetstream()

    async def messages(self) -> list[tuple[str, str, dict[str, Any]]]:
        """(subject, case_id, payload) of every message on the stream so far."""
        sub = await self.js.subscribe("jusou.>", ordered_consumer=True)
        found = []
        try:
            while True:
                try:
                    msg = await sub.next_msg(timeout=1)
                except (TimeoutError, nats_py.errors.TimeoutError):
                    return found  # an empty stream
                envelope, _ = parse(msg.data)
                found.append((msg.subject, str(envelope.case_id), envelope.payload))
                if msg.metadata.num_pending == 0:
                    return found
        finally:
            await sub.unsubscribe()

    async def each(self, wanted: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """Subject → the payload on it whose case (`case_id`) and fields match `wanted[subject]`; waits for all."""

        def matches(subject: str, case_id: str, payload: dict[str, Any]) -> bool:
            fields = wanted.get(subject)
            return fields is not None and all(
                (case_id if key == "case_id" else payload.get(key)) == value for key, value in fields.items())

        async def probe() -> dict[str, dict[str, Any]] | None:
            found = {subject: payload for subject, case_id, payload in await self.messages()
                     if matches(subject, case_id, payload)}
            return found if len(found) == len(wanted) else None

        return await eventually(probe, f"each of {', '.join(wanted)}")


@pytest.fixture
async def bus(running_suite: Suite) -> AsyncIterator[Bus]:
    client = await nats_py.connect(running_suite.nats_url)
    yield Bus(client)
    await client.close()


async def test_issue18_each_new_code_is_on_the_bus_for_a_journey_that_sets_it(journey: Journey, bus: Bus) -> None:
    family = reference.REFERRAL_SOURCES["family"]
    district = next(a for a in reference.areas().values() if a.code != "citywide")
    council = reference.council_forum()
    assert council is not None  # both shipped files mark their 推進会議 among [[forums]]

    # 紹介元 from the start form's select (its value: the code); handed on to participation
    started = await journey.post("outreach", "/engagements", {"referred_by": f"referrer:{family.code}",
                                                              "reason": "10年以上外出していない（コードの確認）"}, OUTREACH_WORKER)
    case_id = started["case_id"]
    await journey.post("outreach", f"/engagements/{case_id}/hand-over",
                       {"to_program": "participation", "reason": "居場所を探す"}, OUTREACH_WORKER)
    await journey.get_when("participation", f"/supports/{case_id}", lambda s: True, "participation to start")
    # a need without a resource, in a 地区 chosen from the file (no area written)
    await journey.post("participation", f"/supports/{case_id}/shortages",
                       {"need": "夜に通える居場所（コード）", "description": "夜間に開く場がない", "area_code": district.code},
                       PARTICIPATION_STAFF)
    # a partner's resource in that 地区, matched to the person
    resource = await journey.post("community", "/resources", {
        "kind": "ibasho", "name": "夜のたまり場（コードの確認）", "provider": SHAKYO, "area_code": district.code}, COMMUNITY_STAFF)

    async def catalogued() -> bool:
        response = await journey.http.get(journey.urls["participation"] + "/catalogue")
        return any(r["resource_id"] == resource["resource_id"] for r in response.json())

    await eventually(catalogued, "the resource in participation's catalogue")
    await journey.post("participation", f"/supports/{case_id}/matches", {"resource_id": resource["resource_id"]},
                       PARTICIPATION_STAFF)
    # the regional issue community opened from the shortage, taken up in the council (a forum of the file)
    issue = await _issue_of(journey, case_id)
    await journey.post("community", f"/issues/{issue}/initiatives",
                       {"forum": council.ja, "summary": "資源開発を協議する"}, COMMUNITY_STAFF)
    # a gap the meeting names in the 地区 (the select only), and the 推進会議's decision on the shortage's gap
    meeting_id = await journey.convene()
    await journey.post("meeting", f"/meetings/{meeting_id}/resource-gaps", {
        "case_id": case_id, "need": "当事者会（コードの確認）", "area_code": district.code, "description": "当事者会がない"},
        SECRETARIAT)
    def shortage_gap(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
        return next((g for g in rows if g["case_id"] == case_id and g["source"] == "participation"), None)

    gap = shortage_gap(await journey.get_when("collaboration", "/council/gaps", shortage_gap, "the shortage's gap"))
    assert gap is not None
    sitting = await journey.post("collaboration", "/council/sittings", {
        "held_on": "2026-04-01", "attendees": [reference.DIVISIONS[LEAD].ja]}, COORDINATOR)
    await journey.post("collaboration", f"/council/sittings/{sitting['sitting_id']}/agenda", {"gap_id": gap["gap_id"]},
                       COORDINATOR)
    await journey.post("collaboration", f"/council/sittings/{sitting['sitting_id']}/gaps/{gap['gap_id']}/decision",
                       {"decision": "deferred", "summary": "件数を調べる"}, COORDINATOR)

    on_bus = await bus.each({
        "jusou.outreach.OutreachStarted": {"case_id": case_id},
        "jusou.participation.ParticipationStarted": {"case_id": case_id},
        "jusou.participation.ResourceShortageReported": {"case_id": case_id},
        "jusou.community.RegionalIssueOpened": {"issue_id": issue},
        "jusou.community.ResourceDeveloped": {"resource_id": resource["resource_id"]},
        "jusou.participation.ResourceMatched": {"resource_id": resource["resource_id"]},
        "jusou.community.InitiativeStarted": {"issue_id": issue},
        "jusou.meeting.ResourceGapIdentified": {"case_id": case_id},
        "jusou.collaboration.PromotionCouncilDecided": {"gap_id": gap["gap_id"]},
    })
    outreach, participation = on_bus["jusou.outreach.OutreachStarted"], on_bus["jusou.participation.ParticipationStarted"]
    shortage, opened = on_bus["jusou.participation.ResourceShortageReported"], on_bus["jusou.community.RegionalIssueOpened"]
    developed, matched = on_bus["jusou.community.ResourceDeveloped"], on_bus["jusou.participation.ResourceMatched"]
    initiative = on_bus["jusou.community.InitiativeStarted"]

    assert (outreach["referred_by"], outreach["referred_by_code"]) == (family.ja, "referrer:family")
    assert participation["referred_by_code"] == "program:outreach"
    assert (shortage["area"], shortage["area_code"]) == (district.ja, district.code)
    assert opened["area_code"] == district.code
    assert (developed["provider_code"], developed["area_code"]) == ("partner:shakyo", district.code)
    assert matched["provider_code"] == "partner:shakyo"
    assert (initiative["forum"], initiative["forum_code"]) == (council.ja, f"forum:{council.code}")
    named, decided = on_bus["jusou.meeting.ResourceGapIdentified"], on_bus["jusou.collaboration.PromotionCouncilDecided"]
    assert (named["area"], named["area_code"]) == (district.ja, district.code)
    assert (decided["area"], decided["area_code"]) == (district.ja, district.code)


async def _issue_of(journey: Journey, case_id: str) -> str:
    """The regional issue community opened from the case's shortage."""

    async def probe() -> str | None:
        rows = (await journey.http.get(journey.urls["community"] + "/issues")).json()
        return next((row["issue_id"] for row in rows if row["case_id"] == case_id), None)

    return await eventually(probe, "the regional issue at community")
