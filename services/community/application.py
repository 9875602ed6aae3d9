"""Community's use cases: it depends on no other service, only on the stream."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import ProcessingEvent

from services.community.domain import ActivitySession, LocalResource, Place, RegionalIssue, SelfHelpGroup
from shared.contract.events import (
    Envelope,
    PromotionCouncilDecidedV1,
    ResourceGapIdentifiedV1,
    ResourceShortageReportedV1,
)
from shared.domain.access import OutOfScope
from shared.domain.areas import area_of
from shared.domain.casework_owner import CaseworkOwner
from shared.domain.wareki import today_in_japan
from shared.kernel.app import handles
from shared.kernel.journey import Invalid, NotFound, acting, recorded_by
from shared.observe.logs import log
from shared.organisation import reference
from shared.organisation.reference import (
    AGENCY_KINDS,
    COUNCIL_NAME,
    FORUM,
    PROGRAMS,
    RESOURCE_KINDS,
    Program,
    agency_code,
    council_forum,
    day_of,
    forum_code,
    forum_name,
    forums,
    lead_division,
    programs,
    resource_kind,
)
from shared.organisation.scope import division_name

#: the 推進会議's decisions as the issue's page names them
COUNCIL_DECISIONS_JA = {"initiative": "取り組みを始める / initiative", "request": "担当課に依頼 / request",
                        "deferred": "継続審議 / deferred"}

#: the counters of a fiscal year's figures (GET /figures/community), in the order the page shows them
FIGURES = ("sessions", "participants", "new_participants", "volunteers", "organisations", "new_groups", "places",
           "ibasho", "new_places")


def community_programs(on: date | None = None) -> list[Program]:
    """The programs under 地域づくり事業 (reference data, kind "community"), in the source's order: those valid on
    `on`, or every one the organisation has known (D19: a record keeps the program it was made under)."""
    return [p for p in (programs(on) if on else PROGRAMS).values() if p.kind == "community"]


def community_program(value: str, on: date | None = None) -> Program:
    """A community program valid on `on` (default today) by its code or its Japanese name; Invalid naming the
    choices otherwise."""
    value = value.strip()
    for p in community_programs(on or today_in_japan()):
        if value in (p.code, p.ja):
            return p
    raise Invalid(f"事業 {value!r} は地域づくり事業の事業ではありません。次のいずれかです / not a community program; one of: "
                  + ", ".join(f"{p.code}={p.ja}" for p in community_programs(on or today_in_japan())))


def forum_of(forum: str) -> tuple[str, str | None]:
    """協議の場 as InitiativeStarted carries it (issue 18): the name people read and its code in the municipality file in
    force today. A forum given by its code (what a client may send: `forum:<code>`, or the bare code) is recorded by
    its name; a name the file does not know stays as written, without a code; a `forum:` code it does not know is
    refused, naming the file's forums."""
    value = forum.strip()
    code = forum_code(value)
    if code is None and value.partition(":")[0] in (FORUM, *AGENCY_KINDS) and ":" in value:
        raise Invalid(f"協議の場のコード {value!r} は自治体ファイルにありません。次のいずれかです / unknown forum code; one of: "
                      + ", ".join(f"{FORUM}:{f.code}={f.ja}" for f in forums().values()))
    given_as_code = code is not None and value in (code, code.partition(":")[2])
    return (forum_name(code) if given_as_code else value), code


def fiscal_year_of(day: date) -> int:
    """The fiscal year (年度, April to March) a day falls in: 2027-03-31 is in 2026."""
    return day.year if day.month >= 4 else day.year - 1


def fiscal_quarters(fiscal_year: int) -> list[tuple[date, date]]:
    """The four quarters of a fiscal year: Apr–Jun, Jul–Sep, Oct–Dec, Jan–Mar."""
    y = fiscal_year
    return [(date(y, 4, 1), date(y, 6, 30)), (date(y, 7, 1), date(y, 9, 30)), (date(y, 10, 1), date(y, 12, 31)),
            (date(y + 1, 1, 1), date(y + 1, 3, 31))]


class CommunityApplication(CaseworkOwner):
    """Keeps resource gaps and shortages as regional issues, takes them up and grows local resources (D8)."""

    name = "community"
    service = "community"

    def take_up(self, actor: dict[str, str], issue_id: UUID, forum: str, summary: str) -> None:
        """D8: record an initiative that takes the issue up in its own forum (InitiativeStarted), with the forum's code
        when it is a 協議の場 of the municipality file in force today (`forum:<code>`; else an agency's code when an
        agency is named: issue 18). `forum`: its name (a former one too), its code, or a forum the file does not know."""
        name, code = forum_of(forum)
        issue = self._issue(issue_id)
        with acting(actor):
            issue.take_up(name, summary, forum_code=code)
        self.save(issue)

    def resolve(self, actor: dict[str, str], issue_id: UUID, note: str) -> None:
        """D8: the regional issue is resolved."""
        issue = self._issue(issue_id)
        with acting(actor):
            issue.resolve(note)
        self.save(issue)

    def develop_resource(
        self, actor: dict[str, str], kind: str, name: str, provider: str, area: str, capacity: int | None,
        issue_id: UUID | None, area_code: str | None = None,
    ) -> UUID:
        """D8 D13: register a new local resource (ResourceDeveloped), for participation's catalogue. The event carries
        the provider's agency code and the 地区's code (`area_code` chosen, else the area's when the file knows it) of
        the municipality file in force today (issue 18)."""
        place, code = area_of(area, area_code)
        known = resource_kind(kind)
        if known is None:
            raise Invalid(
                f"資源の種類 {kind!r} はありません。次のいずれかです / unknown resource kind; one of: "
                + ", ".join(f"{k.code}={k.ja}" for k in RESOURCE_KINDS.values())
            )
        answers = self._issue(issue_id) if issue_id else None
        with acting(actor):
            resource = LocalResource.develop(known.code, name, provider, place, capacity, answers,
                                             provider_code=agency_code(provider.strip()), area_code=code)
        self.save(resource)
        return resource.id

    # -- 地域づくり as places and activities (D21, issue 16) ------------------------------------------------

    def register_place(self, actor: dict[str, str], program: str, name: str, area: str, ibasho: bool,
                       capacity: int | None, provider: str, opened_on: date, in_charge: str = "",
                       area_code: str | None = None) -> UUID:
        """D21: a program's place (拠点); a 居場所 is offered to participation too (ResourceDeveloped, kind ibasho),
        with the provider's code (the program's own when no provider is named) and the 地区's (issue 18)."""
        known = self._program_of(actor, program)
        where, code = area_of(area, area_code)
        provider_code = agency_code(provider.strip()) if provider.strip() else f"program:{known.code}"
        with acting(actor):
            place = Place.register(known.code, name, where, ibasho, capacity, provider or known.ja, opened_on,
                                   in_charge or actor.get("staff_id", ""), provider_code=provider_code, area_code=code)
        self.save(place)
        return place.id

    def close_place(self, actor: dict[str, str], place_id: UUID, closed_on: date) -> None:
        """D21: the place closes on a day."""
        place = self.place(place_id)
        self._program_of(actor, place.program)
        with acting(actor):
            place.close(closed_on)
        self.save(place)

    def record_session(self, actor: dict[str, str], place_id: UUID, held_on: date, participants: int,
                       new_participants: int, volunteers: int, organisations: list[str], summary: str = "",
                       program: str = "") -> UUID:
        """D21: a session held at a place (開催): counts, never names; the place's program unless another is named."""
        place = self.place(place_id)
        known = self._program_of(actor, program or place.program, held_on)
        with acting(actor):
            session = ActivitySession.record(place, known.code, held_on, participants, new_participants, volunteers,
                                             organisations, summary)
        self.save(session)
        return session.id

    def form_group(self, actor: dict[str, str], name: str, program: str, area: str, formed_on: date,
                   place_id: UUID | None = None, members: int | None = None) -> UUID:
        """D21: a self-help group formed out of a program's activities (自主グループ化)."""
        place = self.place(place_id) if place_id else None
        known = self._program_of(actor, program or (place.program if place else ""), formed_on)
        with acting(actor):
            group = SelfHelpGroup.form(name, known.code, area or (place.area if place else ""), formed_on, place, members)
        self.save(group)
        return group.id

    def place(self, place_id: UUID) -> Place:
        place: Place = self.load(place_id, Place, "拠点")
        return place

    def places(self) -> list[dict[str, Any]]:
        """拠点・居場所, oldest first, each with its sessions' count and when it was registered and by whom."""
        held: dict[str, int] = {}
        for s in self._sessions():
            held[str(s.place_id)] = held.get(str(s.place_id), 0) + 1
        rows = []
        for place_id in self.ids_of(Place):
            first = next(iter(self.events_of(place_id)), None)
            place = self.place(place_id)
            rows.append({**place.view(), "sessions": held.get(str(place_id), 0),
                         "at": first.timestamp if first else None, "actor": recorded_by(first)})
        return rows

    def sessions(self) -> list[dict[str, Any]]:
        """開催の記録, newest first, each with its place's name and area and who recorded it."""
        names = {str(i): self.place(i) for i in self.ids_of(Place)}
        rows = []
        for s, at, actor in self._once(ActivitySession, "開催の記録"):
            place = names.get(str(s.place_id))
            rows.append({**s.view(), "place_name": place.name if place else "", "area": place.area if place else "",
                         "in_charge": place.in_charge if place else "", "at": at, "actor": actor})
        return sorted(rows, key=lambda r: r["held_on"], reverse=True)

    def groups(self) -> list[dict[str, Any]]:
        """自主グループ, newest first."""
        rows = [g.view() for g in self._groups()]
        return sorted(rows, key=lambda r: r["formed_on"], reverse=True)

    def figures(self, fiscal_year: int) -> dict[str, Any]:
        """D21: a fiscal year's figures per program and quarter, computed from the stored events (the days
        staff recorded), so any past year is recomputed alike. Counts are raw (suppression is the reader's)."""
        places = [self.place(i) for i in self.ids_of(Place)]
        sessions = self._sessions()
        groups = self._groups()
        quarters = fiscal_quarters(fiscal_year)
        starts_on, ends_on = quarters[0][0], quarters[-1][1]

        def counted(program: str | None, start: date, end: date) -> dict[str, int]:
            def mine(p: str) -> bool:
                return program is None or p == program
            held = [s for s in sessions if mine(s.program) and start <= s.held_on <= end]
            open_ = [p for p in places if mine(p.program) and p.opened_on <= end
                     and (p.closed_on is None or p.closed_on >= start)]
            return {
                "sessions": len(held), "participants": sum(s.participants for s in held),
                "new_participants": sum(s.new_participants for s in held),
                "volunteers": sum(s.volunteers for s in held),
                "organisations": len({o for s in held for o in s.organisations}),
                "new_groups": sum(1 for g in groups if mine(g.program) and start <= g.formed_on <= end),
                "places": len(open_), "ibasho": sum(1 for p in open_ if p.ibasho),
                "new_places": sum(1 for p in open_ if start <= p.opened_on),
            }

        def row(program: str | None) -> dict[str, Any]:
            return {**counted(program, starts_on, ends_on), "quarters": [
                {"quarter": n, "starts_on": a.isoformat(), "ends_on": b.isoformat(), **counted(program, a, b)}
                for n, (a, b) in enumerate(quarters, start=1)]}

        return {"fiscal_year": fiscal_year, "starts_on": starts_on.isoformat(), "ends_on": ends_on.isoformat(),
                "programs": [{"program": p.code, "program_ja": p.ja, "division": p.division or "", **row(p.code)}
                             for p in self._programs_of_year(starts_on, ends_on, sessions, groups, places)],
                "total": row(None)}

    @staticmethod
    def _programs_of_year(starts_on: date, ends_on: date, sessions: list[ActivitySession], groups: list[SelfHelpGroup],
                          places: list[Place]) -> list[Program]:
        """The programs of a year's figures: those valid at some time in it, and any a record of it names."""
        known = [p for p in community_programs()
                 if p.valid_from <= ends_on and (p.valid_to is None or p.valid_to >= starts_on)]
        named = ({s.program for s in sessions if starts_on <= s.held_on <= ends_on}
                 | {g.program for g in groups if starts_on <= g.formed_on <= ends_on}
                 | {p.program for p in places if p.opened_on <= ends_on and (p.closed_on is None or p.closed_on >= starts_on)})
        named -= {p.code for p in known}
        return known + [Program(code, code, code, "community", None) for code in sorted(named)]

    def _sessions(self) -> list[ActivitySession]:
        return [s for s, _, _ in self._once(ActivitySession, "開催の記録")]

    def _groups(self) -> list[SelfHelpGroup]:
        return [g for g, _, _ in self._once(SelfHelpGroup, "自主グループ")]

    def _once(self, kind: type[Any], what: str) -> list[tuple[Any, datetime | None, dict[str, Any]]]:
        """Every aggregate of a kind that never changes once recorded (a session, a group: one event each), with
        when and by whom it was recorded; each is read from the store once per process, so the lists and the
        figures cost one read of the catalogue, not one per record. (A kind that gains a second event must
        leave this cache.)"""
        cache: dict[UUID, tuple[Any, datetime | None, dict[str, Any]]] = self.__dict__.setdefault("_recorded_once", {})
        rows = []
        for aggregate_id in self.ids_of(kind):
            found = cache.get(aggregate_id)
            if found is None:
                first = next(iter(self.events_of(aggregate_id)), None)
                found = (self.load(aggregate_id, kind, what), first.timestamp if first else None, recorded_by(first))
                cache[aggregate_id] = found
            rows.append(found)
        return rows

    def _program_of(self, actor: dict[str, str], program: str, on: date | None = None) -> Program:
        """D21: the community program named (valid on the record's day), which the actor's division runs (or the
        lead division oversees)."""
        known = community_program(program, on)
        division, lead = actor.get("division", ""), lead_division()
        if division not in (known.division, lead):
            runs = division_name(known.division or lead)
            raise OutOfScope(f"「{known.ja}」の記録は{runs}（または{division_name(lead)}）が行います。担当課に依頼してください / "
                             f"{known.en} is recorded by the division that runs it ({known.division}) or {lead}")
        return known

    def issue_view(self, issue_id: UUID) -> dict[str, Any]:
        """地域の課題, with the resources registered as answering it."""
        answering = [r["resource_id"] for r in self.resources() if r["issue_id"] == str(issue_id)]
        return {**self._issue(issue_id).view(), "resources": answering}

    def issues(self) -> list[dict[str, Any]]:
        resources = self.resources()
        return [
            {**issue.view(), "resources": [r["resource_id"] for r in resources if r["issue_id"] == str(issue.id)]}
            for issue in (self._issue(i) for i in self.ids_of(RegionalIssue))
        ]

    def resources(self) -> list[dict[str, Any]]:
        """地域の社会資源一覧."""
        return [self.load(i, LocalResource, "社会資源").view() for i in self.ids_of(LocalResource)]

    # -- casework (issue 15): a community worker's 担当 and notes are kept on the case its regional issues name

    def casework_cases(self) -> list[UUID]:
        return list(dict.fromkeys(self._issue(i).case_id for i in self.ids_of(RegionalIssue)))

    def casework_require_case(self, case_id: UUID) -> None:
        if case_id not in self.casework_cases():
            raise NotFound(f"この事例の地域の課題が見つかりません / no regional issue of case {case_id}")

    # -- the pages' queries: the views with when and by whom (from the events' metadata) -------------

    def issue_record(self, issue_id: UUID) -> dict[str, Any]:
        """地域の課題 as its page shows it: when it opened and was resolved, when and by whom each
        initiative started (`at`, `actor`) and its forum's code (`forum_code`), and the resources answering it
        (`answering`)."""
        return self._with_when_and_who(self._issue(issue_id), self.resources())

    def issue_records(self) -> list[dict[str, Any]]:
        """Every regional issue as `issue_record` gives it, oldest first."""
        resources = self.resources()
        return [self._with_when_and_who(self._issue(i), resources) for i in self.ids_of(RegionalIssue)]

    def resource_records(self) -> list[dict[str, Any]]:
        """地域の社会資源一覧 with when and by whom each resource was registered (`at`, `actor`)."""
        rows = []
        for view in self.resources():
            first = next(iter(self.events_of(UUID(view["resource_id"]))), None)
            developed = first if isinstance(first, LocalResource.Developed) else None
            rows.append({**view, "at": developed.timestamp if developed else None, "actor": recorded_by(developed)})
        return rows

    def _with_when_and_who(self, issue: RegionalIssue, resources: list[dict[str, Any]]) -> dict[str, Any]:
        opened_at: datetime | None = None
        resolved_at: datetime | None = None
        started: list[dict[str, Any]] = []
        council: list[dict[str, Any]] = []
        for event in self.events_of(issue.id):
            if isinstance(event, RegionalIssue.Opened):
                opened_at = event.timestamp
            elif isinstance(event, RegionalIssue.InitiativeStarted):
                started.append({"at": event.timestamp, "actor": recorded_by(event),
                                "forum_code": getattr(event, "forum_code", None)})  # none on events before issue 18
            elif isinstance(event, RegionalIssue.Resolved):
                resolved_at = event.timestamp
            elif isinstance(event, RegionalIssue.CouncilDecided):
                council.append({"at": event.timestamp, "sitting_id": event.sitting_id, "decision": event.decision,
                                "decision_ja": COUNCIL_DECISIONS_JA.get(event.decision, event.decision),
                                "division": event.division,
                                "division_ja": division_name(event.division) if event.division else "",
                                "summary": event.summary})
        view = issue.view()
        answering = [r for r in resources if r["issue_id"] == view["issue_id"]]
        initiatives = [{**i, **(started[n] if n < len(started) else {})} for n, i in enumerate(view["initiatives"])]
        return {**view, "resources": [r["resource_id"] for r in answering], "initiatives": initiatives,
                "opened_at": opened_at, "resolved_at": resolved_at, "answering": answering, "council": council}

    @handles(ResourceGapIdentifiedV1, ResourceShortageReportedV1)
    def _gap_reported(self, envelope: Envelope, payload: ResourceGapIdentifiedV1 | ResourceShortageReportedV1,
                      processing: ProcessingEvent[UUID]) -> None:
        """D8 D13: a gap named by a meeting or a shortage met by participation opens a regional issue, with the 地区's
        code as the event carried it, else (an event without it) the area's in the municipality file in force on
        the event's day (issue 18)."""
        processing.collect_events(RegionalIssue(
            case_id=envelope.case_id, need=payload.need, area=payload.area, description=payload.description,
            origin_event_id=envelope.event_id, reported_by=envelope.source,
            area_code=payload.area_code or reference.area_code(payload.area, day_of(envelope.occurred_at)),
        ))

    @handles(PromotionCouncilDecidedV1)
    def _council_decided(self, envelope: Envelope, payload: PromotionCouncilDecidedV1,
                         processing: ProcessingEvent[UUID]) -> None:
        """D8: the 推進会議 decided on a gap this service keeps as a regional issue (the same origin event). Its
        decision is noted on the issue once per sitting (CouncilDecided, private); an `initiative` also starts the
        initiative there, in the council's forum, as a worker's would (InitiativeStarted): the forum the municipality
        file in force on the decision's day marks `council = true`, with its code (issue 18). A redelivery, or a
        decision on a gap no issue keeps, records nothing."""
        issue = self._issue_from(payload.origin_event_id)
        if issue is None:
            log.info("council_decision_without_issue", sitting_id=str(payload.sitting_id), gap_id=str(payload.gap_id),
                     decision=payload.decision)
            return
        if issue.council_decided(payload.sitting_id):
            return
        issue.note_council(payload.sitting_id, payload.decision, payload.division or "", payload.summary)
        if payload.decision == "initiative" and issue.status != "resolved":
            council = council_forum(day_of(envelope.occurred_at))
            issue.take_up(council.ja if council else COUNCIL_NAME,
                          payload.summary.strip() or f"{payload.need}（{payload.area}）の資源開発",
                          forum_code=f"{FORUM}:{council.code}" if council else None)
        processing.collect_events(issue)

    def _issue_from(self, origin_event_id: UUID | None) -> RegionalIssue | None:
        """The regional issue opened from the event `origin_event_id` (a gap or a shortage), if any."""
        if origin_event_id is None:
            return None
        for issue_id in self.ids_of(RegionalIssue):
            issue = self._issue(issue_id)
            if issue.origin_event_id == origin_event_id:
                return issue
        return None

    def _issue(self, issue_id: UUID) -> RegionalIssue:
        issue: RegionalIssue = self.load(issue_id, RegionalIssue, "地域の課題")
        return issue
