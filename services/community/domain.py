"""地域づくり事業: regional issues (地域の課題) taken up from resource gaps, and the local resources grown (D8);
the programs' places (拠点・居場所), the sessions they hold and the self-help groups formed (D21, issue 16).

D21 (the rule these follow; DOMAIN.md lives outside the repository): 地域づくり (the nine programs of the source
under 地域づくり事業) works through places and activities: each program's places (拠点; a 居場所 among them is
offered to participation as a resource, D13), the sessions it holds (開催: the day, the place, how many took part
and how many came for the first time, volunteers and participating organisations: counts and organisation names,
never a person's), and the self-help groups formed (自主グループ化). A session is held at a place that is open
that day; a program's records are made by the division that runs it (or the lead division). The
figures per program and fiscal year (sessions, participants, new groups, places, organisations) are computed
from these events."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any, ClassVar
from uuid import UUID, uuid4, uuid5

from eventsourcing.domain import event

from shared.domain.wareki import day_ja
from shared.kernel.journey import DomainError, Invalid, JourneyAggregate

#: The envelope needs a case: a resource answering no issue gets one derived from its own id.
RESOURCE_CASE_NAMESPACE = UUID("46c6218e-d5d3-4f1e-88bc-6d3213a9a397")


class IssueResolved(DomainError):
    """D8: a resolved regional issue takes no new initiative and cannot be resolved again."""


def resource_case_id(resource_id: UUID) -> UUID:
    """The `case_id` on the bus of a resource that answers no regional issue (uuid5 of its id)."""
    return uuid5(RESOURCE_CASE_NAMESPACE, str(resource_id))


def _required(value: str, what: str) -> str:
    if not value.strip():
        raise Invalid(f"{what}を入力してください / {what} is required")
    return value.strip()


class RegionalIssue(JourneyAggregate):
    """地域の課題: a need with no local resource, as reported by the meeting or participation."""

    if TYPE_CHECKING:  # the event classes @event generates (fields: the method's parameters)
        Opened: ClassVar[type[Any]]
        InitiativeStarted: ClassVar[type[Any]]
        Resolved: ClassVar[type[Any]]
        CouncilDecided: ClassVar[type[Any]]

    @event("Opened")
    def __init__(self, case_id: UUID, need: str, area: str, description: str, origin_event_id: UUID, reported_by: str,
                 area_code: str | None = None) -> None:
        """`area_code`: the 地区's code in the municipality file (issue 18; none on issues opened before, or for an area
        the file does not know)."""
        self.case_id, self.need, self.area, self.description = case_id, need, area, description
        self.area_code = area_code
        self.origin_event_id, self.reported_by = origin_event_id, reported_by
        self.status = "open"
        self.initiatives: list[dict[str, str]] = []
        self.resolution = ""

    def take_up(self, forum: str, summary: str, forum_code: str | None = None) -> None:
        """D8: the issue is taken up in a forum of its own (資源開発の協議の場), apart from the meeting. `forum_code`: the
        forum's code when it is an entry of the municipality file (issue 18)."""
        if self.status == "resolved":
            raise IssueResolved("この地域の課題は解決済みです / this regional issue is already resolved")
        self._initiative_started(forum=_required(forum, "協議の場 (forum)"), summary=_required(summary, "取り組みの概要 (summary)"),
                                 forum_code=forum_code)

    @event("InitiativeStarted")
    def _initiative_started(self, forum: str, summary: str, forum_code: str | None = None) -> None:
        self.initiatives.append({"forum": forum, "summary": summary})
        self.status = "taken_up"

    def resolve(self, note: str) -> None:
        """D8: the need is met (a resource now answers it, or another way was found)."""
        if self.status == "resolved":
            raise IssueResolved("この地域の課題は解決済みです / this regional issue is already resolved")
        self._resolved(note=_required(note, "解決の内容 (note)"))

    @event("Resolved")
    def _resolved(self, note: str) -> None:
        self.status, self.resolution = "resolved", note

    def council_decided(self, sitting_id: UUID) -> bool:
        """D8: whether the 推進会議's sitting `sitting_id` already decided on this issue (a redelivery notes nothing)."""
        return any(d["sitting_id"] == str(sitting_id) for d in self.council_decisions())

    def council_decisions(self) -> list[dict[str, str]]:
        """The 推進会議's decisions on the gap this issue keeps, oldest first (an issue opened before
        the council existed has none)."""
        decisions: list[dict[str, str]] = getattr(self, "council", [])
        return decisions

    def note_council(self, sitting_id: UUID, decision: str, division: str, summary: str) -> None:
        """D8: record the 推進会議's decision (initiative, request to a division, or deferred) on this issue, so the
        community worker sees the council's answer on the issue's page; recorded once per sitting."""
        if not self.council_decided(sitting_id):
            self._council_decided(sitting_id=str(sitting_id), decision=decision, division=division,
                                  summary=summary.strip())

    @event("CouncilDecided")
    def _council_decided(self, sitting_id: str, decision: str, division: str, summary: str) -> None:
        self.council = [*self.council_decisions(),
                        {"sitting_id": sitting_id, "decision": decision, "division": division, "summary": summary}]

    def view(self) -> dict[str, Any]:
        return {"issue_id": str(self.id), "case_id": str(self.case_id), "need": self.need, "area": self.area,
                "description": self.description, "reported_by": self.reported_by, "status": self.status,
                "initiatives": self.initiatives, "resolution": self.resolution, "council": self.council_decisions()}


class LocalResource(JourneyAggregate):
    """地域の社会資源: a local resource community developed or found, for participation to match (D8 D13)."""

    if TYPE_CHECKING:  # the event classes @event generates (fields: the method's parameters)
        Developed: ClassVar[type[Any]]

    @event("Developed")
    def __init__(self, resource_id: UUID, case_id: UUID, kind: str, name: str, provider: str, area: str,
                 capacity: int | None, issue_id: UUID | None, provider_code: str | None = None,
                 area_code: str | None = None) -> None:
        """`provider_code`, `area_code`: the municipality file's codes of the provider and the 地区 (issue 18; none
        on resources registered before, or for a provider or area the file does not know)."""
        self.case_id, self.kind, self.name, self.provider, self.area = case_id, kind, name, provider, area
        self.capacity, self.issue_id = capacity, issue_id
        self.provider_code, self.area_code = provider_code, area_code

    @staticmethod
    def create_id(resource_id: UUID, **_: Any) -> UUID:
        return resource_id

    @classmethod
    def develop(cls, kind: str, name: str, provider: str, area: str, capacity: int | None,
                answers: RegionalIssue | None, provider_code: str | None = None,
                area_code: str | None = None) -> LocalResource:
        """D8: register a new local resource; it joins the journey of the issue it answers, if any."""
        if capacity is not None and capacity < 1:
            raise Invalid("定員は1以上で入力してください / capacity must be at least 1")
        resource_id = uuid4()
        return cls(
            resource_id=resource_id, case_id=answers.case_id if answers else resource_case_id(resource_id),
            kind=kind, name=_required(name, "資源の名称 (name)"), provider=_required(provider, "運営主体 (provider)"),
            area=_required(area, "地域 (area)"), capacity=capacity, issue_id=answers.id if answers else None,
            provider_code=provider_code, area_code=area_code,
        )

    def view(self) -> dict[str, Any]:
        return {"resource_id": str(self.id), "kind": self.kind, "name": self.name, "provider": self.provider,
                "area": self.area, "capacity": self.capacity, "issue_id": str(self.issue_id) if self.issue_id else None}


# -- 地域づくり as places and activities (issue 16): 拠点・居場所, 開催, 自主グループ化 ----------------------------


class PlaceClosed(DomainError):
    """D21: a closed place holds no session after it closed and cannot be closed again."""


def _count(value: int | None, what: str) -> int:
    """A head count (人数, never names): a whole number from 0."""
    if value is None or isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise Invalid(f"{what}は0以上の整数で入力してください / {what} must be a whole number from 0")
    return value


class Place(JourneyAggregate):
    """拠点・居場所 (D21): where a community program meets people: its program, area and capacity; a 居場所 is
    also offered to participation as a resource (ResourceDeveloped, kind ibasho) under the same id."""

    if TYPE_CHECKING:  # the event classes @event generates (fields: the method's parameters)
        Registered: ClassVar[type[Any]]
        Closed: ClassVar[type[Any]]

    @event("Registered")
    def __init__(self, place_id: UUID, case_id: UUID, program: str, name: str, area: str, ibasho: bool,
                 capacity: int | None, provider: str, opened_on: date, in_charge: str, provider_code: str | None = None,
                 area_code: str | None = None) -> None:
        """`provider_code`, `area_code`: the municipality file's codes (issue 18; none on places registered before)."""
        self.case_id, self.program, self.name, self.area, self.ibasho = case_id, program, name, area, ibasho
        self.capacity, self.provider, self.opened_on, self.in_charge = capacity, provider, opened_on, in_charge
        self.provider_code, self.area_code = provider_code, area_code
        self.closed_on: date | None = None

    @staticmethod
    def create_id(place_id: UUID, **_: Any) -> UUID:
        return place_id

    @classmethod
    def register(cls, program: str, name: str, area: str, ibasho: bool, capacity: int | None, provider: str,
                 opened_on: date, in_charge: str, provider_code: str | None = None, area_code: str | None = None) -> Place:
        """D21: a new place of a community program (its provider: the program itself when not given)."""
        if capacity is not None and capacity < 1:
            raise Invalid("定員は1以上で入力してください / capacity must be at least 1")
        place_id = uuid4()
        return cls(place_id=place_id, case_id=resource_case_id(place_id), program=_required(program, "事業 (program)"),
                   name=_required(name, "拠点の名称 (name)"), area=_required(area, "地域 (area)"), ibasho=bool(ibasho),
                   capacity=capacity, provider=provider.strip() or program, opened_on=opened_on,
                   in_charge=in_charge.strip(), provider_code=provider_code, area_code=area_code)

    def open_on(self, day: date) -> bool:
        """Whether the place was open on that day (opened, and not yet closed)."""
        return self.opened_on <= day and (self.closed_on is None or day <= self.closed_on)

    def close(self, closed_on: date) -> None:
        """D21: the place closes (閉所) on a day; its sessions until then stay counted."""
        if self.closed_on is not None:
            raise PlaceClosed(f"この拠点は {day_ja(self.closed_on)} に閉所しています / this place is already closed")
        if closed_on < self.opened_on:
            raise Invalid(f"閉所日は開設日 {day_ja(self.opened_on)} 以降にしてください / "
                          "a place cannot close before it opened")
        self._closed(closed_on=closed_on)

    @event("Closed")
    def _closed(self, closed_on: date) -> None:
        self.closed_on = closed_on

    def view(self) -> dict[str, Any]:
        return {"place_id": str(self.id), "program": self.program, "name": self.name, "area": self.area,
                "ibasho": self.ibasho, "capacity": self.capacity, "provider": self.provider,
                "opened_on": self.opened_on.isoformat(), "closed_on": self.closed_on.isoformat() if self.closed_on else None,
                "in_charge": self.in_charge}


class ActivitySession(JourneyAggregate):
    """開催 (D21): one session a program held at a place: the day, how many took part (人数, never names),
    how many came for the first time, the volunteers and the organisations that took part."""

    if TYPE_CHECKING:
        Recorded: ClassVar[type[Any]]

    @event("Recorded")
    def __init__(self, held_on: date, program: str, place_id: UUID, participants: int, new_participants: int,
                 volunteers: int, organisations: list[str], summary: str) -> None:
        self.held_on, self.program, self.place_id = held_on, program, place_id
        self.participants, self.new_participants, self.volunteers = participants, new_participants, volunteers
        self.organisations, self.summary = organisations, summary

    @classmethod
    def record(cls, place: Place, program: str, held_on: date, participants: int, new_participants: int,
               volunteers: int, organisations: list[str], summary: str) -> ActivitySession:
        """D21: a session held at an open place; counts only, new participants among the participants."""
        if not place.open_on(held_on):
            if held_on < place.opened_on:
                raise PlaceClosed(f"「{place.name}」の開設日 {day_ja(place.opened_on)} より前の開催は記録できません。"
                                  "開催日を確かめてください / the place had not opened on that day")
            raise PlaceClosed(f"「{place.name}」は {day_ja(place.closed_on) if place.closed_on else ''} に閉所しています。"
                              "開催日を確かめてください / the place was closed on that day")
        participants = _count(participants, "参加者数")
        if _count(new_participants, "新規参加者数") > participants:
            raise Invalid("新規参加者数は参加者数以下にしてください / new participants are among the participants")
        names = list(dict.fromkeys(o.strip() for o in organisations if o.strip()))
        return cls(held_on=held_on, program=_required(program, "事業 (program)"), place_id=place.id,
                   participants=participants, new_participants=new_participants,
                   volunteers=_count(volunteers, "ボランティア数"), organisations=names, summary=summary.strip())

    def view(self) -> dict[str, Any]:
        return {"session_id": str(self.id), "held_on": self.held_on.isoformat(), "program": self.program,
                "place_id": str(self.place_id), "participants": self.participants,
                "new_participants": self.new_participants, "volunteers": self.volunteers,
                "organisations": list(self.organisations), "summary": self.summary}


class SelfHelpGroup(JourneyAggregate):
    """自主グループ化 (D21): a group the residents now run themselves, formed out of a program's activities."""

    if TYPE_CHECKING:
        Formed: ClassVar[type[Any]]

    @event("Formed")
    def __init__(self, name: str, program: str, area: str, formed_on: date, place_id: UUID | None,
                 members: int | None) -> None:
        self.name, self.program, self.area, self.formed_on = name, program, area, formed_on
        self.place_id, self.members = place_id, members

    @classmethod
    def form(cls, name: str, program: str, area: str, formed_on: date, place: Place | None,
             members: int | None) -> SelfHelpGroup:
        """D21: a new self-help group; at a place, the place was open when it formed."""
        if place is not None and not place.open_on(formed_on):
            raise PlaceClosed(f"「{place.name}」は {day_ja(formed_on)} に開いていません。拠点か結成日を確かめてください / "
                              "the place was not open on that day")
        if members is not None and _count(members, "メンバー数") < 1:
            raise Invalid("メンバー数は1以上で入力してください / a group has at least one member")
        return cls(name=_required(name, "グループの名称 (name)"), program=_required(program, "事業 (program)"),
                   area=_required(area, "地域 (area)"), formed_on=formed_on, place_id=place.id if place else None,
                   members=members)

    def view(self) -> dict[str, Any]:
        return {"group_id": str(self.id), "name": self.name, "program": self.program, "area": self.area,
                "formed_on": self.formed_on.isoformat(), "place_id": str(self.place_id) if self.place_id else None,
                "members": self.members}
