"""Case journeys driven over HTTP as careful staff would drive them while the system fails under them.

A command either gets an answer (2xx: acknowledged, recorded in `Driver.acked` to be found again at
the end; 4xx: a refusal, the journey fails) or its outcome is unknown: the connection was cut
mid-request or the service answered 5xx. Then one of two careful staff members acts:

- half the commands (at random) carry an `Idempotency-Key`: the driver simply sends the command
  again with the same key until it is answered; the service records it once and gives the first
  answer back (`Idempotent-Replayed`). If the first answer itself was lost, the service says the
  command was recorded, and the driver looks for what it recorded (the probe) as staff would;
- the other half carry none: the driver waits for the service to come back and asks it whether the
  command took effect (a probe over the case's history) before sending it again.

Either way a retry must never double a command: the invariants check it. A refused connection (the
service is down) is simply retried. Every request waits on `gate` (the harness closes it to measure
an idle suite).
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import httpx
from support.auth import staff_headers
from support.journey import (
    COORDINATOR,
    COUNTER_STAFF,
    OUTREACH_WORKER,
    PARTICIPATION_STAFF,
    PLAN,
    READER,
    SECRETARIAT,
)
from support.municipality import ELDERLY, HARDSHIP, LEAD, LEAD_NAME

COMMUNITY_STAFF = staff_headers("chiiki-004", LEAD, "community_worker")
ATTENDEES = [LEAD_NAME, ELDERLY.ja, HARDSHIP.ja]
CONCURRENT_UPDATE = "同時に別の更新"


#: Which replica of each service a journey talks to (its index, modulo the replicas): a journey keeps to one, as a
#: session does behind a balancer; the harness's own reads go to replica 1 (index 0).
REPLICA: ContextVar[int] = ContextVar("replica", default=0)


class JourneyFailed(Exception):
    """The journey could not go on: a refusal, or a state it waited for never came."""


class Unreachable(Exception):
    """The service did not answer (down or restarting)."""


@dataclass(frozen=True)
class Acked:
    """An acknowledged command and the event it must have left in the service's store."""

    service: str
    case_id: str
    event: str
    aggregate_id: str | None
    at_least: int


@dataclass
class Record:
    kind: str
    index: int
    case_id: str | None = None
    ids: dict[str, str] = field(default_factory=dict)
    failure: str | None = None
    seconds: float = 0.0


@dataclass
class Tally:
    requests: int = 0
    refused: int = 0  # connection refused: the service was down; retried
    unknown: int = 0  # cut mid-request or 5xx: outcome unknown, probed (or sent again with its key)
    took_effect: int = 0  # of the unknown, the probe found the command had taken effect
    conflicts_retried: int = 0
    keyed: int = 0  # commands sent with an Idempotency-Key
    keyed_resent: int = 0  # of the unknown, sent again with the same key (no probe)
    replayed: int = 0  # answers given back for a key already recorded (Idempotent-Replayed)
    recorded_unanswered: int = 0  # of those, "recorded, but its answer was lost": then probed


class Driver:
    def __init__(self, urls: Mapping[str, str | Sequence[str]], client: httpx.AsyncClient, gate: asyncio.Event,
                 deadline_s: float, poll_s: float = 0.75, keyed_share: float = 0.5) -> None:
        #: each service's replicas' URLs (replica 1 first); a journey keeps to one (`REPLICA`)
        self.urls = {s: [u] if isinstance(u, str) else list(u) for s, u in urls.items()}
        self.keyed_share = keyed_share  # the share of commands sent with an Idempotency-Key
        self.http = client
        self.gate = gate
        self.deadline_s = deadline_s
        self.poll_s = poll_s
        self.acked: list[Acked] = []
        self.meetings: list[str] = []  # convened (acknowledged) meetings: found again at the end
        self.tally = Tally()
        self.in_flight: Counter[str] = Counter()  # commands sent and not yet answered, per process (`process`)
        self.unknown: list[str] = []  # each command whose outcome was unknown, and what was found
        self._ack_waiters: list[tuple[frozenset[str], asyncio.Future[str]]] = []

    def replica(self, service: str, replica: int | None = None) -> int:
        """The index of the replica a request goes to: `replica` if given, else the journey's (`REPLICA`)."""
        return (REPLICA.get() if replica is None else replica) % len(self.urls[service])

    def process(self, service: str, replica: int | None = None) -> str:
        """The process a request goes to: `intake`, or `intake-2` for the second replica (tests/faults/world.py)."""
        index = self.replica(service, replica)
        return service if index == 0 else f"{service}-{index + 1}"

    def next_ack(self, names: frozenset[str]) -> asyncio.Future[str]:
        """Resolved (with the process's name) when one of `names` (services, or processes) next acknowledges a command."""
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._ack_waiters.append((names, future))
        return future

    def _acknowledged(self, service: str) -> None:
        process = self.process(service)
        waiting, self._ack_waiters = self._ack_waiters, []
        for names, future in waiting:
            if (service in names or process in names) and not future.done():
                future.set_result(process)
            elif not future.done():
                self._ack_waiters.append((names, future))

    async def _send(self, method: str, service: str, path: str, body: Any = None,
                    headers: dict[str, str] | None = None, timeout: float | None = None,
                    gated: bool = True, replica: int | None = None) -> httpx.Response:
        if gated:
            await self.gate.wait()
        self.tally.requests += 1
        url = self.urls[service][self.replica(service, replica)]
        return await self.http.request(method, url + path, json=body, headers=headers,
                                       timeout=timeout or self.http.timeout)

    async def get(self, service: str, path: str, headers: dict[str, str] | None = None,
                  timeout: float | None = None, gated: bool = True, replica: int | None = None) -> httpx.Response:
        """A read; `gated=False` for the harness's own watching, which goes on while journeys are paused; `replica`
        (an index) for one replica whatever the journey's."""
        try:
            return await self._send("GET", service, path, headers=headers, timeout=timeout, gated=gated,
                                    replica=replica)
        except httpx.TransportError as exc:
            raise Unreachable(f"{service}: {type(exc).__name__}") from exc

    async def _pause(self) -> None:
        await asyncio.sleep(self.poll_s * random.uniform(0.5, 1.5))

    async def until_answered(self, ask: Callable[[], Awaitable[Any]], what: str) -> Any:
        """Ask again while the service is unreachable (a probe after a crash)."""
        deadline = time.monotonic() + self.deadline_s
        while True:
            try:
                return await ask()
            except Unreachable:
                if time.monotonic() > deadline:
                    raise JourneyFailed(f"no answer to {what} within {self.deadline_s} s") from None
                await self._pause()

    async def found_within(self, probe: Callable[[], Awaitable[dict[str, Any] | None]],
                           what: str) -> dict[str, Any] | None:
        """Ask a probe again until it finds the effect or the deadline passes (None then)."""
        deadline = time.monotonic() + self.deadline_s
        while time.monotonic() < deadline:
            found = await self.until_answered(probe, what)
            if found is not None:
                return found
            await self._pause()
        return None

    async def when(self, service: str, path: str, predicate: Callable[[Any], bool], what: str,
                   headers: dict[str, str] | None = None) -> Any:
        """Poll a read until it satisfies `predicate` (a deadline, never sleep and hope)."""
        deadline = time.monotonic() + self.deadline_s
        last: Any = None
        while time.monotonic() < deadline:
            try:
                response = await self.get(service, path, headers or READER)
            except Unreachable:
                response = None
            if response is not None and response.status_code in (400, 401, 403, 405, 422):
                raise JourneyFailed(f"{service}{path} refused a read: {response.status_code} {response.text[:300]}")
            if response is not None and response.status_code == 200:
                last = response.json()
                if predicate(last):
                    return last
            await self._pause()
        raise JourneyFailed(f"timed out after {self.deadline_s} s waiting for {what}; last seen {str(last)[:300]}")

    async def history(self, service: str, case_id: str) -> list[dict[str, Any]]:
        response = await self.get(service, f"/cases/{case_id}/history", READER)
        answered(response, f"{service}'s history")
        rows: list[dict[str, Any]] = response.json()
        return rows

    async def count(self, service: str, case_id: str, event: str, aggregate_id: str | None = None) -> int:
        rows = await self.history(service, case_id)
        return sum(1 for r in rows if r["event"] == event and aggregate_id in (None, r["aggregate_id"]))

    def counted(self, service: str, case_id: str, event: str, at_least: int,
                aggregate_id: str | None = None) -> Callable[[], Awaitable[dict[str, Any] | None]]:
        """A probe: the command took effect if the case's history holds the event `at_least` times."""

        async def probe() -> dict[str, Any] | None:
            found = await self.count(service, case_id, event, aggregate_id)
            return {"probed": True} if found >= at_least else None

        return probe

    async def command(
        self, method: str, service: str, path: str, body: Any, headers: dict[str, str], *,
        probe: Callable[[], Awaitable[dict[str, Any] | None]] | None,
        acked: Callable[[dict[str, Any]], list[Acked]],
        retry_conflict: str | None = None,
    ) -> dict[str, Any]:
        """Send a command until it is acknowledged, or found to have taken effect; raise on a refusal."""
        deadline = time.monotonic() + self.deadline_s
        cut = ""
        # Keyed only where a probe could find the outcome: a lost answer ("recorded") is then looked up.
        key = str(uuid.uuid4()) if probe is not None and random.random() < self.keyed_share else None
        resent_unknown = False  # sent again without a key after an unknown outcome (`unknown` below)
        if key is not None:
            self.tally.keyed += 1
            headers = {**headers, "Idempotency-Key": key}
        while True:
            if time.monotonic() > deadline:
                raise JourneyFailed(f"{method} {service}{path}: not acknowledged within {self.deadline_s} s")
            await self.gate.wait()
            process = self.process(service)
            self.in_flight[process] += 1
            try:
                response = await self._send(method, service, path, body, headers)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout):
                self.tally.refused += 1  # never reached the service: nothing happened
                await self._pause()
                continue
            except httpx.TransportError as exc:
                response = None
                cut = f"{type(exc).__name__}"
            finally:
                self.in_flight[process] -= 1
            if response is not None and 200 <= response.status_code < 300:
                result: dict[str, Any] = response.json() if response.content else {}
                if response.headers.get("Idempotent-Replayed") == "true":
                    self.tally.replayed += 1
                    if "recorded" in result and probe is not None:  # recorded, its answer lost: look it up
                        self.tally.recorded_unanswered += 1
                        found = await self.until_answered(probe, f"a probe of {service}{path}")
                        if found is None:
                            raise JourneyFailed(f"{method} {service}{path}: said recorded, but the probe finds nothing")
                        result = found
                self.acked.extend(acked(result))
                self._acknowledged(service)
                return result
            if response is not None and response.status_code < 500 and CONCURRENT_UPDATE not in response.text:
                # (A "changed at the same time" 409 is an unknown outcome: on PostgreSQL, a commit whose
                # connection died before it answered is retried by eventsourcing and then conflicts
                # with itself, so the command may have taken effect.)
                detail = response.text
                if response.status_code == 409 and retry_conflict is not None and retry_conflict in detail:
                    self.tally.conflicts_retried += 1
                    await self._pause()
                    continue
                if response.status_code == 409 and resent_unknown and probe is not None:
                    # The first try's outcome was unknown and the probe then found nothing; this resend is
                    # refused as a conflict: the first try took effect after the probe looked (a ReadTimeout
                    # while the service was still working on it, its store's connections being cut). Look
                    # again until the effect is readable; a conflict with nothing to find stays a failure.
                    found = await self.found_within(probe, f"a probe of {service}{path} after 409")
                    if found is not None:
                        self.tally.took_effect += 1
                        self.unknown.append(f"{method} {service}{path}: 409 on the resend — it had taken effect")
                        return found
                raise JourneyFailed(f"{method} {service}{path}: {response.status_code} {detail[:400]}")
            # The outcome is unknown: ask the service, once it is back, whether it happened.
            self.tally.unknown += 1
            what = cut if response is None else f"{response.status_code} {response.text[:160]}"
            if key is not None:  # the same key again: recorded once, whatever happened to the first
                self.tally.keyed_resent += 1
                self.unknown.append(f"{method} {service}{path}: {what} — sent again with its Idempotency-Key")
                await self._pause()
                continue
            if probe is not None:
                found = await self.until_answered(probe, f"a probe of {service}{path}")
                if found is not None:
                    self.tally.took_effect += 1
                    self.unknown.append(f"{method} {service}{path}: {what} — it had taken effect")
                    return found
            self.unknown.append(f"{method} {service}{path}: {what} — sent again")
            resent_unknown = True
            await self._pause()


# -- the journeys ---------------------------------------------------------------------------------


def answered(response: httpx.Response, what: str) -> None:
    """A probe's read: 5xx is the service not (yet) able to answer; 4xx is the harness's mistake."""
    if response.status_code >= 500:
        raise Unreachable(f"{what}: {response.status_code}")
    if response.status_code != 200:
        raise JourneyFailed(f"{what}: {response.status_code} {response.text[:300]}")


async def consult(d: Driver, r: Record) -> str:
    """D1: a consultation; unknown outcome → search for the person (their kana and phone are unique)."""
    kana, phone = f"ふぉると {r.kind} {r.index}", f"090-{r.index:05d}-{len(r.kind):04d}"
    body = {"counter": ELDERLY.code, "channel": "窓口", "concerns": ["高齢・介護", "ひきこもり", "家計・債務"],
            "person": {"name": "調布 一郎", "kana": kana, "birth_date": "1970-01-01", "phone": phone},
            "confirm_new_person": True}

    async def probe() -> dict[str, Any] | None:
        found = await d.get("intake", f"/persons/search?kana={kana}&phone={phone}", COUNTER_STAFF)
        answered(found, "person search")
        if not found.json():
            return None
        person_ref = found.json()[0]["person_ref"]
        cases = await d.get("intake", "/cases", COUNTER_STAFF, timeout=d.deadline_s / 2)  # every case: slow under load
        answered(cases, "the list of cases")
        mine = [c for c in cases.json() if c["person_ref"] == person_ref]
        return {"case_id": mine[0]["case_id"]} if mine else None

    result = await d.command("POST", "intake", "/consultations", body, COUNTER_STAFF, probe=probe,
                             acked=lambda b: [Acked("intake", b["case_id"], "Case.Received", None, 1)])
    case_id: str = result["case_id"]
    r.case_id = case_id
    return case_id


async def consent_and_escalate(d: Driver, case_id: str, escalations: int = 1) -> None:
    if escalations == 1:
        await d.command("POST", "intake", f"/cases/{case_id}/consent",
                        {"scope": "重層的支援会議での情報共有", "granted": True, "method": "書面"}, COUNTER_STAFF,
                        probe=d.counted("intake", case_id, "Case.ConsentRecorded", 1),
                        acked=lambda _: [Acked("intake", case_id, "Case.ConsentRecorded", None, 1)])
    await d.command("POST", "intake", f"/cases/{case_id}/escalate",
                    {"reason": "母の介護と本人のひきこもり、家計の課題が重なる", "primary_agency": ELDERLY.ja},
                    COUNTER_STAFF, probe=d.counted("intake", case_id, "Case.Escalated", escalations),
                    acked=lambda _: [Acked("intake", case_id, "Case.Escalated", None, escalations)])


async def draft(d: Driver, service: str, case_id: str, headers: dict[str, str]) -> str:
    async def probe() -> dict[str, Any] | None:
        drafted = [row for row in await d.history(service, case_id) if row["event"] == "Plan.Drafted"]
        return {"plan_id": drafted[0]["aggregate_id"]} if drafted else None

    plan = await d.command("POST", service, f"/cases/{case_id}/plans", PLAN, headers, probe=probe,
                           acked=lambda b: [Acked(service, case_id, "Plan.Drafted", b["plan_id"], 1)])
    plan_id: str = plan["plan_id"]
    return plan_id


async def propose(d: Driver, service: str, case_id: str, plan_id: str, revision: int, headers: dict[str, str]) -> None:
    await d.command("POST", service, f"/plans/{plan_id}/propose", None, headers,
                    probe=d.counted(service, case_id, "Plan.Proposed", revision, plan_id),
                    acked=lambda _: [Acked(service, case_id, "Plan.Proposed", plan_id, revision)])


async def convene(d: Driver, meeting_type: str, attendees: list[str]) -> str:
    """A meeting belongs to no case: an unknown outcome convenes another (an unused sitting harms no journey)."""
    meeting = await d.command("POST", "meeting", "/meetings",
                              {"meeting_type": meeting_type, "held_on": "2026-11-28", "attendees": attendees},
                              SECRETARIAT, probe=None, acked=lambda _: [])
    meeting_id: str = meeting["meeting_id"]
    d.meetings.append(meeting_id)
    return meeting_id


async def decide(d: Driver, case_id: str, meeting_id: str, plan_id: str, revision: int, decision: str,
                 attendees: list[str], nth: int, **extra: Any) -> None:
    await d.when("meeting", f"/agenda/{plan_id}", lambda r: r["status"] == "proposed" and r["revision"] == revision,
                 f"revision {revision} on the agenda")
    body = {"plan_id": plan_id, "decision": decision, "reasons": "合議の結果",
            "positions": [{"agency": a, "position": "agree"} for a in attendees], **extra}
    await d.command("POST", "meeting", f"/meetings/{meeting_id}/decisions", body, SECRETARIAT,
                    probe=d.counted("meeting", case_id, "Meeting.Decided", nth),
                    acked=lambda _: [Acked("meeting", case_id, "Meeting.Decided", None, nth)],
                    retry_conflict="本人同意")  # D9: the consent may still be on its way to the meeting


async def plan_status(d: Driver, service: str, plan_id: str, status: str) -> None:
    await d.when(service, f"/plans/{plan_id}", lambda p: p["status"] == status, f"{service}'s plan to be {status}")


async def escalated_plan_before_the_meeting(d: Driver, r: Record) -> tuple[str, str, str]:
    """Counter → consent → escalation → collaboration's plan proposed → a 重層的支援会議 convened:
    (case, plan, meeting)."""
    case_id = await consult(d, r)
    await consent_and_escalate(d, case_id)
    await d.when("collaboration", f"/cases/{case_id}", lambda c: c["status"] == "open", "collaboration to open the case")
    plan_id = r.ids["plan"] = await draft(d, "collaboration", case_id, COORDINATOR)
    await propose(d, "collaboration", case_id, plan_id, 1, COORDINATOR)
    meeting_id = await convene(d, "jusou_shien_kaigi", ATTENDEES)
    return case_id, plan_id, meeting_id


async def closure_journey(d: Driver, r: Record) -> None:
    """Counter → escalation → revision asked → approved with participation → closure (PlanClosed)."""
    case_id, plan_id, meeting_id = await escalated_plan_before_the_meeting(d, r)
    await decide(d, case_id, meeting_id, plan_id, 1, "revision_requested", ATTENDEES, 1)
    await plan_status(d, "collaboration", plan_id, "revision_requested")
    revised = {**PLAN, "goals": [*PLAN["goals"], "本人が居場所に月2回通う"]}
    await d.command("PUT", "collaboration", f"/plans/{plan_id}", revised, COORDINATOR,
                    probe=d.counted("collaboration", case_id, "Plan.Revised", 1, plan_id),
                    acked=lambda _: [Acked("collaboration", case_id, "Plan.Revised", plan_id, 1)])
    await propose(d, "collaboration", case_id, plan_id, 2, COORDINATOR)
    await decide(d, case_id, meeting_id, plan_id, 2, "approved", ATTENDEES, 2, connect_to=["participation"])
    await plan_status(d, "collaboration", plan_id, "approved")
    await d.when("participation", f"/supports/{case_id}", lambda s: True, "participation to start")
    await d.command("POST", "collaboration", f"/plans/{plan_id}/closure-request",
                    {"progress": "本人が居場所に定着し、母の介護も安定した"}, COORDINATOR,
                    probe=d.counted("collaboration", case_id, "Plan.ClosureRequested", 1, plan_id),
                    acked=lambda _: [Acked("collaboration", case_id, "Plan.ClosureRequested", plan_id, 1)])
    review = await d.when("meeting", f"/agenda/{plan_id}", lambda x: x["status"] == "closure_requested",
                          "the closure request on the agenda")
    goals = [{"goal": g, "result": "achieved", "note": "月次で確認"} for g in review["goals"]]
    await d.command("POST", "meeting", f"/meetings/{meeting_id}/evaluations",
                    {"plan_id": plan_id, "outcome": "closed", "course": "訪問12回、居場所に定着", "result": "目標を達成",
                     "goal_results": goals}, SECRETARIAT,
                    probe=d.counted("meeting", case_id, "Meeting.Evaluated", 1),
                    acked=lambda _: [Acked("meeting", case_id, "Meeting.Evaluated", None, 1)])
    await plan_status(d, "collaboration", plan_id, "closed")


async def returned_journey(d: Driver, r: Record) -> None:
    """D5 D11: the meeting returns the case to intake, which escalates it again (collaboration reopens)."""
    case_id, plan_id, meeting_id = await escalated_plan_before_the_meeting(d, r)
    await decide(d, case_id, meeting_id, plan_id, 1, "returned_to_intake", ATTENDEES, 1,
                 primary_agency=ELDERLY.ja)
    await d.when("intake", f"/cases/{case_id}", lambda c: c["status"] == "returned", "the return to reach intake")
    await plan_status(d, "collaboration", plan_id, "returned")
    await consent_and_escalate(d, case_id, escalations=2)

    async def reopened() -> bool:
        return await d.count("collaboration", case_id, "CollaborationCase.Reopened") >= 1

    deadline = time.monotonic() + d.deadline_s
    while not await d.until_answered(reopened, "collaboration's history"):
        if time.monotonic() > deadline:
            raise JourneyFailed("collaboration never reopened the case")
        await d._pause()


async def outreach_journey(d: Driver, r: Record) -> None:
    """D12 D6 D10 D13 D8: outreach's own plan at a 支援会議 (which asks for a revision and connects participation: only
    the 重層的支援会議 approves), participation, a shortage taken up by community."""
    case_id = r.case_id = str(uuid.uuid4())  # chosen by the worker: a retried start is recognised
    await d.command("POST", "outreach", "/engagements",
                    {"case_id": case_id, "referred_by": "民生委員", "reason": "長期ひきこもりの疑い"}, OUTREACH_WORKER,
                    probe=d.counted("outreach", case_id, "Engagement.Started", 1),
                    acked=lambda _: [Acked("outreach", case_id, "Engagement.Started", None, 1)])
    await d.command("POST", "outreach", f"/engagements/{case_id}/contacts",
                    {"method": "訪問", "reached": True, "note": "玄関越しに会話", "stage": "接触"}, OUTREACH_WORKER,
                    probe=d.counted("outreach", case_id, "Engagement.ContactRecorded", 1),
                    acked=lambda _: [Acked("outreach", case_id, "Engagement.ContactRecorded", None, 1)])
    plan_id = r.ids["plan"] = await draft(d, "outreach", case_id, OUTREACH_WORKER)
    await propose(d, "outreach", case_id, plan_id, 1, OUTREACH_WORKER)
    members = [LEAD_NAME, ELDERLY.ja]
    meeting_id = await convene(d, "shien_kaigi", members)
    await decide(d, case_id, meeting_id, plan_id, 1, "revision_requested", members, 1, connect_to=["participation"])
    await plan_status(d, "outreach", plan_id, "revision_requested")
    await d.when("participation", f"/supports/{case_id}", lambda s: True, "participation to start")
    await d.command("POST", "participation", f"/supports/{case_id}/shortages",
                    {"need": "夜間の居場所", "area": "調布市東部", "description": "夜間に開いている居場所がない"},
                    PARTICIPATION_STAFF, probe=d.counted("participation", case_id, "Support.ShortageReported", 1),
                    acked=lambda _: [Acked("participation", case_id, "Support.ShortageReported", None, 1)])

    async def issue() -> str | None:
        opened = [row for row in await d.history("community", case_id) if row["event"] == "RegionalIssue.Opened"]
        return opened[0]["aggregate_id"] if opened else None

    deadline = time.monotonic() + d.deadline_s
    while (issue_id := await d.until_answered(issue, "community's history")) is None:
        if time.monotonic() > deadline:
            raise JourneyFailed("the shortage never reached community")
        await d._pause()
    r.ids["issue"] = issue_id
    await d.command("POST", "community", f"/issues/{issue_id}/initiatives",
                    {"forum": "生活支援体制整備事業の協議体", "summary": "夜間の居場所づくり"}, COMMUNITY_STAFF,
                    probe=d.counted("community", case_id, "RegionalIssue.InitiativeStarted", 1, issue_id),
                    acked=lambda _: [Acked("community", case_id, "RegionalIssue.InitiativeStarted", issue_id, 1)])


KINDS: dict[str, Callable[[Driver, Record], Awaitable[None]]] = {
    "closure": closure_journey,
    "returned": returned_journey,
    "outreach": outreach_journey,
}


async def run(d: Driver, record: Record) -> Record:
    began = time.monotonic()
    try:
        await KINDS[record.kind](d, record)
    except JourneyFailed as exc:
        record.failure = str(exc)
    except Exception as exc:  # noqa: BLE001 - the harness reports every broken journey, whatever broke it
        record.failure = f"{type(exc).__name__}: {exc}"
    record.seconds = time.monotonic() - began
    return record
