"""A case recorded in every program, over HTTP, so that bad input can reach real aggregates.

`seed(urls)` returns the ids a fuzzer or a hostile client needs to get past 404: a case known to
intake, collaboration, meeting, outreach and participation; its plan, meeting, connection and
placement; a person; a regional issue and a local resource.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
from support.auth import reader, staff_headers
from support.municipality import ELDERLY, HARDSHIP, LEAD, LEAD_NAME, SHAKYO, concern

# by role, from the municipality file in force (support/municipality.py): the elderly counter's counselor, the lead
# division's staff of the 重層 programs
COUNTER_STAFF = staff_headers("kouki-012", ELDERLY.division, "counselor")
STAFF = staff_headers("fukushi-003", LEAD, "coordinator")
SECRETARIAT = staff_headers("kaigi-001", LEAD, "secretariat")
OUTREACH_WORKER = staff_headers("outreach-007", LEAD, "outreach_worker")
PARTICIPATION_STAFF = staff_headers("sanka-002", LEAD, "participation_worker")
COMMUNITY_STAFF = staff_headers("chiiki-001", LEAD, "community_worker")
ATTENDEES = [LEAD_NAME, ELDERLY.ja]
PLAN = {
    "support_direction": "世帯の孤立を防ぐ",
    "goals": ["月1回の訪問"],
    "roles": [{"agency": ELDERLY.ja, "responsibility": "母の介護"}],
}


def wait_for(probe: Callable[[], Any], what: str, deadline_s: float = 20.0) -> Any:
    """Poll `probe()` until it returns something truthy; fail naming `what` after the deadline."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"timed out after {deadline_s} s waiting for {what}")


class Client:
    def __init__(self, urls: dict[str, str]) -> None:
        self.urls = urls
        self.http = httpx.Client(timeout=15)

    def post(self, service: str, path: str, body: dict[str, Any] | None, headers: dict[str, str] = STAFF) -> Any:
        response = self.http.post(self.urls[service] + path, json=body, headers=headers)
        assert response.status_code in (200, 201), f"{service} {path}: {response.status_code} {response.text}"
        return response.json()

    def get(self, service: str, path: str, headers: dict[str, str] | None = None) -> Any:
        response = self.http.get(self.urls[service] + path, headers=headers or reader())
        return response.json() if response.status_code == 200 else None


def seed(urls: dict[str, str], name: str = "調布 次郎") -> dict[str, Any]:
    """Record one case through every program; return its ids by path-parameter name."""
    c = Client(urls)
    case_id = c.post("intake", "/consultations", {
        "counter": ELDERLY.code, "channel": "窓口", "concerns": [concern("elderly-care"), concern("hikikomori")],
        "person": {"name": name, "kana": "ちょうふ じろう", "birth_date": "1960-02-03"}, "confirm_new_person": True,
    }, COUNTER_STAFF)["case_id"]
    c.post("intake", f"/cases/{case_id}/consent", {"scope": "重層的支援会議での情報共有", "granted": True, "method": "書面"},
           COUNTER_STAFF)
    c.post("intake", f"/cases/{case_id}/connect", {"to_agency": HARDSHIP.ja, "reason": "家計"}, COUNTER_STAFF)
    c.post("intake", f"/cases/{case_id}/escalate", {"reason": "複合的な課題", "primary_agency": ELDERLY.ja},
           COUNTER_STAFF)
    wait_for(lambda: c.get("collaboration", f"/cases/{case_id}"), "collaboration to open the case")
    plan_id = c.post("collaboration", f"/cases/{case_id}/plans", PLAN)["plan_id"]
    c.post("collaboration", f"/plans/{plan_id}/propose", None)
    meeting_id = c.post("meeting", "/meetings", {"meeting_type": "jusou_shien_kaigi", "held_on": "2026-12-03",
                                                "attendees": ATTENDEES}, SECRETARIAT)["meeting_id"]
    wait_for(lambda: (c.get("meeting", f"/consents/{case_id}") or {}).get("granted"), "consent to reach the meeting")
    wait_for(lambda: c.get("meeting", f"/agenda/{plan_id}"), "the plan on the agenda")
    c.post("meeting", f"/meetings/{meeting_id}/decisions", {
        "plan_id": plan_id, "decision": "approved", "reasons": "合意", "connect_to": ["participation"],
        "positions": [{"agency": a, "position": "agree"} for a in ATTENDEES]}, SECRETARIAT)
    c.post("meeting", f"/meetings/{meeting_id}/resource-gaps",
           {"case_id": case_id, "need": "居場所", "area": "深大寺", "description": "若者の居場所がない"}, SECRETARIAT)
    strand_id = c.post("collaboration", f"/cases/{case_id}/strands",
                       {"concern": concern("elderly-care"), "description": "母の介護", "agency": ELDERLY.ja})["strand_id"]
    gap_id = wait_for(lambda: next((g for g in c.get("collaboration", "/council/gaps") or []
                                    if g["case_id"] == case_id), None), "the gap awaiting the council")["gap_id"]
    sitting_id = c.post("collaboration", "/council/sittings",
                        {"held_on": "2026-12-10", "attendees": [LEAD_NAME, SHAKYO]})["sitting_id"]
    c.post("collaboration", f"/council/sittings/{sitting_id}/agenda", {"gap_id": gap_id})
    c.post("outreach", "/engagements", {"case_id": case_id, "referred_by": "民生委員", "reason": "訪問を拒む"},
           OUTREACH_WORKER)
    outreach_plan_id = c.post("outreach", f"/cases/{case_id}/plans", PLAN, OUTREACH_WORKER)["plan_id"]
    issue_id = wait_for(lambda: next((i for i in c.get("community", "/issues") or [] if i["case_id"] == case_id), None),
                        "the regional issue")["issue_id"]
    resource_id = c.post("community", "/resources", {"kind": "ibasho", "name": "深大寺の居場所", "provider": "社協",
                                                     "area": "深大寺", "issue_id": issue_id}, COMMUNITY_STAFF)["resource_id"]
    wait_for(lambda: c.get("participation", f"/supports/{case_id}"), "participation to start")
    wait_for(lambda: any(r["resource_id"] == resource_id for r in c.get("participation", "/catalogue") or []),
             "the resource in participation's catalogue")
    c.post("participation", f"/supports/{case_id}/matches", {"resource_id": resource_id}, PARTICIPATION_STAFF)
    c.post("participation", f"/supports/{case_id}/placements", {"resource_id": resource_id, "started_on": "2026-12-10"},
           PARTICIPATION_STAFF)
    participation_plan_id = c.post("participation", f"/cases/{case_id}/plans", PLAN, PARTICIPATION_STAFF)["plan_id"]
    person_ref = c.get("intake", f"/cases/{case_id}")["person_ref"]
    c.http.close()
    return {"case_id": case_id, "plan_id": plan_id, "meeting_id": meeting_id, "issue_id": issue_id,
            "resource_id": resource_id, "person_ref": person_ref, "index": 0, "kind": "agencies",
            "strand_id": strand_id, "gap_id": gap_id, "sitting_id": sitting_id,
            # a plan each of outreach and participation holds: `{plan_id}` on their routes (tests/ui/every_page.py `filled`)
            "plan_id@outreach": outreach_plan_id, "plan_id@participation": participation_plan_id}
