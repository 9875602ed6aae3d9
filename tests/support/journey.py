"""A case's whole journey, driven over HTTP only, as staff would drive it."""

from __future__ import annotations

import random
from typing import Any

import httpx

from support.auth import reader, staff_headers
from support.municipality import ELDERLY, HARDSHIP, LEAD, LEAD_NAME, concern
from support.poll import eventually

# by role, from the municipality file in force (support/municipality.py)
COUNTER_STAFF = staff_headers("kouki-012", ELDERLY.division, "counselor")
COORDINATOR = staff_headers("fukushi-003", LEAD, "coordinator")
SECRETARIAT = staff_headers("kaigi-001", LEAD, "secretariat")
READER = reader()
PLAN = {
    "support_direction": "8050世帯の孤立を防ぎ、本人の社会参加を段階的に支える",
    "goals": ["月1回の訪問で本人と会える関係をつくる"],
    "roles": [
        {"agency": ELDERLY.ja, "responsibility": "母の介護サービス調整", "contact": "山田"},
        {"agency": HARDSHIP.ja, "responsibility": "家計相談"},
    ],
}


class Journey:
    def __init__(self, urls: dict[str, str], client: httpx.AsyncClient) -> None:
        self.urls = urls
        self.http = client

    async def post(self, service: str, path: str, body: dict[str, Any] | None, headers: dict[str, str]) -> dict[str, Any]:
        response = await self.http.post(self.urls[service] + path, json=body, headers=headers)
        assert response.status_code in (200, 201), f"{service} {path}: {response.status_code} {response.text}"
        result: dict[str, Any] = response.json()
        return result

    async def get_when(self, service: str, path: str, predicate: Any, what: str) -> dict[str, Any]:
        async def probe() -> dict[str, Any] | None:
            response = await self.http.get(self.urls[service] + path, headers=READER)
            if response.status_code == 200 and predicate(response.json()):
                body: dict[str, Any] = response.json()
                return body
            return None

        return await eventually(probe, what)

    async def receive_and_escalate(self) -> str:
        birth = f"{random.randint(1940, 2005)}-{random.randint(1, 12):02d}-{random.randint(1, 28):02d}"
        case = await self.post("intake", "/consultations", {
            "counter": ELDERLY.code, "channel": "窓口",
            "concerns": [concern("elderly-care"), concern("hikikomori"), concern("debt")],
            "person": {"name": "調布 一郎", "kana": "ちょうふ いちろう", "birth_date": birth},
            "confirm_new_person": True,
        }, COUNTER_STAFF)
        case_id: str = case["case_id"]
        await self.post("intake", f"/cases/{case_id}/consent",
                        {"scope": "重層的支援会議での情報共有", "granted": True, "method": "書面"}, COUNTER_STAFF)
        await self.post("intake", f"/cases/{case_id}/escalate",
                        {"reason": "母の介護と本人のひきこもり、家計の課題が重なる", "primary_agency": ELDERLY.ja},
                        COUNTER_STAFF)
        return case_id

    async def draft_and_propose(self, case_id: str) -> str:
        await self.get_when("collaboration", f"/cases/{case_id}", lambda c: c["status"] == "open", "collaboration to open the case")
        plan = await self.post("collaboration", f"/cases/{case_id}/plans", PLAN, COORDINATOR)
        plan_id: str = plan["plan_id"]
        await self.post("collaboration", f"/plans/{plan_id}/propose", None, COORDINATOR)
        return plan_id

    async def convene(self) -> str:
        meeting = await self.post("meeting", "/meetings", {
            "meeting_type": "jusou_shien_kaigi", "held_on": "2026-11-28",
            "attendees": [LEAD_NAME, ELDERLY.ja, HARDSHIP.ja],
        }, SECRETARIAT)
        meeting_id: str = meeting["meeting_id"]
        return meeting_id

    async def decide(self, meeting_id: str, plan_id: str, revision: int, decision: str, **extra: Any) -> None:
        """Decide by consensus: every attendee agrees unless `positions` says otherwise (D5)."""
        item = await self.get_when("meeting", f"/agenda/{plan_id}",
                                   lambda r: r["status"] == "proposed" and r["revision"] == revision,
                                   f"revision {revision} on the agenda")
        meeting = (await self.http.get(self.urls["meeting"] + f"/meetings/{meeting_id}", headers=SECRETARIAT)).json()
        if meeting["meeting_type"] == "jusou_shien_kaigi":
            # D9: the consent comes from intake, the plan from collaboration: no order between the two
            # sources, so the secretariat checks the consent has reached the meeting, as its page shows.
            await self.get_when("meeting", f"/consents/{item['case_id']}", lambda c: c["granted"],
                                "the person's consent to reach the meeting (D9)")
        agree = [{"agency": a, "position": "agree"} for a in meeting["attendees"]]
        await self.post("meeting", f"/meetings/{meeting_id}/decisions",
                        {"plan_id": plan_id, "decision": decision, "reasons": "合議の結果", "positions": agree, **extra},
                        SECRETARIAT)

    async def evaluate(self, meeting_id: str, plan_id: str, outcome: str, **extra: Any) -> None:
        """D7: evaluate every goal of the plan as the meeting sees it."""
        review = await self.get_when("meeting", f"/agenda/{plan_id}", lambda r: r["status"] == "closure_requested",
                                     "the closure request on the agenda")
        goal_results = [{"goal": g, "result": "achieved", "note": "月次で確認"} for g in review["goals"]]
        await self.post("meeting", f"/meetings/{meeting_id}/evaluations", {
            "plan_id": plan_id, "outcome": outcome, "course": "訪問12回、居場所に定着", "result": "目標を達成",
            "goal_results": goal_results, **extra}, SECRETARIAT)

    async def whole(self, closed_at_intake: bool = True) -> tuple[str, str]:
        """ConsultationReceived → escalation → revision request → approval → closure → PlanClosed (and, unless
        `closed_at_intake` is False, as the bench's journeys have it, intake's record of the case's closure)."""
        case_id = await self.receive_and_escalate()
        plan_id = await self.draft_and_propose(case_id)
        meeting_id = await self.convene()
        await self.decide(meeting_id, plan_id, 1, "revision_requested")
        await self.get_when("collaboration", f"/plans/{plan_id}", lambda p: p["status"] == "revision_requested",
                            "the revision request to reach collaboration")
        revised = {**PLAN, "goals": [*PLAN["goals"], "本人が居場所に月2回通う"]}
        response = await self.http.put(self.urls["collaboration"] + f"/plans/{plan_id}", json=revised, headers=COORDINATOR)
        assert response.status_code == 200, response.text
        await self.post("collaboration", f"/plans/{plan_id}/propose", None, COORDINATOR)
        await self.decide(meeting_id, plan_id, 2, "approved", connect_to=["participation"])
        await self.get_when("collaboration", f"/plans/{plan_id}", lambda p: p["status"] == "approved", "approval")
        await self.get_when("participation", f"/supports/{case_id}", lambda s: True, "participation to start")
        await self.post("collaboration", f"/plans/{plan_id}/closure-request",
                        {"progress": "本人が居場所に定着し、母の介護も安定した"}, COORDINATOR)
        await self.evaluate(meeting_id, plan_id, "closed")
        await self.get_when("collaboration", f"/plans/{plan_id}", lambda p: p["status"] == "closed", "PlanClosed to reach collaboration")
        # intake records the case's closure on PlanClosed: the journey's last event; tests that count stores
        # or back them up right after need it in (CI once backed up intake one event short of the journey).
        if closed_at_intake:
            await self.get_when("intake", f"/cases/{case_id}", lambda c: c["status"] == "plan_closed",
                                "intake to record the case's closure by its plan")
        return case_id, plan_id


EXPECTED_EVENTS = [
    ("intake", "ConsultationReceived"),
    ("intake", "ConsentRecorded"),
    ("intake", "CaseEscalated"),
    ("collaboration", "CollaborationStarted"),
    ("collaboration", "PlanProposed"),
    ("meeting", "MeetingCaseTakenUp"),
    ("meeting", "MeetingDecided"),
    ("collaboration", "PlanProposed"),
    ("meeting", "MeetingDecided"),
    ("participation", "ParticipationStarted"),
    ("collaboration", "PlanClosureRequested"),
    ("meeting", "PlanClosed"),
]


OUTREACH_WORKER = staff_headers("outreach-007", LEAD, "outreach_worker")
PARTICIPATION_STAFF = staff_headers("sanka-002", LEAD, "participation_worker")
