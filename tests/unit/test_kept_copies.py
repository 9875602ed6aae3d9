"""Issue 19: a command of the meeting or collaboration is given its own copy of the kept aggregate
(shared/domain/kept_reads.py `own_copy`, not `copy.deepcopy`): for every aggregate class the two services keep, the
copy equals the kept one and shares nothing that can be changed with it, so what the command does to it (its events
applied, its lists and dicts changed, a refusal half-way) never shows in what the reads are given, nor in the next
command's copy; and odd values (tuples, sets, enums, pydantic models, a list held twice, a list holding itself) are
copied as `copy.deepcopy` copies them."""

from __future__ import annotations

import copy
import enum
import inspect
from collections import OrderedDict
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import pytest
from pydantic import BaseModel
from support.municipality import ELDERLY, HARDSHIP, LEAD_NAME, SHAKYO

import services.collaboration.domain as collaboration_domain
import services.meeting.domain as meeting_domain
import shared.domain.casework as casework_domain
import shared.domain.open_plan as open_plan_domain
import shared.domain.plan as plan_domain
from services.collaboration.application import CollaborationApplication
from services.collaboration.domain import gap_id_of, household_link_id
from services.meeting.application import MeetingApplication
from shared.domain import kept_reads
from shared.domain.casework import case_file_id
from shared.domain.kept_reads import KeptReads, own_copy
from shared.kernel.journey import DomainError, JourneyAggregate, acting
from unit.builders import ATTENDEES, COORDINATOR, ROLES, SECRETARIAT, Upstream, in_memory
from unit.test_meeting import Feeds, decide, evaluate

SITTING = {"starts_at": "14:00", "ends_at": "15:30", "place": "市役所 8階 特別会議室",
           "present": [{"name": "調布 花子", "agency": LEAD_NAME}, {"name": "深大寺 太郎", "agency": ELDERLY.ja},
                       {"name": "国領 次郎", "agency": HARDSHIP.ja}],
           "chair": "調布 花子", "recorder": "深大寺 太郎"}
LEARNING = {"situation": "80代の親と50代の子の世帯", "worked": "包括の訪問に生活困窮の窓口が同行した",
            "agencies": [ELDERLY.ja, HARDSHIP.ja], "resources": ["家計改善支援"], "concerns": ["hikikomori"]}
ESCALATED = {"reason": "8050: 母の介護と本人のひきこもり", "concerns": ["高齢・介護"], "primary_agency": HARDSHIP.ja}
GAP = {"need": "ひきこもりの若者の居場所", "area": "調布市東部", "description": "日中に通える場がない"}

#: the modules whose aggregates the meeting and collaboration record (and so keep for their reads and commands)
KEPT_MODULES = (meeting_domain, collaboration_domain, plan_domain, casework_domain, open_plan_domain)


def aggregate_classes() -> set[type]:
    return {c for m in KEPT_MODULES for c in vars(m).values()
            if inspect.isclass(c) and issubclass(c, JourneyAggregate) and c.__module__ == m.__name__}


def meeting_kept() -> tuple[MeetingApplication, dict[type, UUID]]:
    """A meeting that recorded one of each of its aggregates, at a journey's end (decided twice, evaluated, the
    sitting's time and people, its agenda, a learning)."""
    app = in_memory(MeetingApplication)
    feeds, case_id = Feeds(app), uuid4()
    feeds.consent(case_id)
    plan_id = feeds.propose(case_id)
    sitting = app.convene(SECRETARIAT, "jusou_shien_kaigi", date(2025, 5, 20), ATTENDEES)
    app.record_sitting(SECRETARIAT, sitting, SITTING)
    app.put_on_agenda(SECRETARIAT, sitting, plan_id=plan_id)
    decide(app, sitting, plan_id, "revision_requested")
    feeds.propose(case_id, plan_id, revision=2)
    decide(app, sitting, plan_id, "approved", connect_to=["participation"])
    learning = app.record_learning(SECRETARIAT, sitting, plan_id, **LEARNING)
    feeds.request_closure(case_id, plan_id)
    evaluate(app, sitting, plan_id, "closed")
    outreach_case = uuid4()  # a case outreach announced holding (HeldCase, D6)
    assert app.receive(*Upstream("outreach").emit("OutreachStarted", {"referred_by": "民生委員・児童委員", "reason": "r"},
                                                  outreach_case))
    return app, {meeting_domain.Meeting: sitting, meeting_domain.PlanReview: plan_id, meeting_domain.Consent: case_id,
                 meeting_domain.CaseLearning: learning,
                 meeting_domain.HeldCase: meeting_domain.held_id("outreach", outreach_case)}


def collaboration_kept() -> tuple[CollaborationApplication, dict[type, UUID]]:
    """Collaboration that recorded one of each of its aggregates: a household's case with strands, its plan proposed,
    its case file with a note, a gap taken up by a council sitting and decided."""
    app, intake = in_memory(CollaborationApplication), Upstream("intake")
    case_id, mother, household = uuid4(), uuid4(), uuid4()
    assert app.receive(*intake.emit("CaseEscalated", {**ESCALATED, "household_ref": str(household),
                                                      "related_case_ids": [str(mother)]}, case_id))
    app.add_strand(COORDINATOR, case_id, "高齢・介護", "母の介護", ELDERLY.ja)
    plan_id = app.draft_plan(COORDINATOR, case_id, "方向性", ["目標"], ROLES)
    app.propose_plan(COORDINATOR, plan_id)
    app.assign(COORDINATOR, case_id, "main", "c1")
    app.write_note(COORDINATOR, case_id, datetime(2026, 11, 1, 10, 0), "電話", "本人", "近況を聞いた")
    named = Upstream("meeting").emit("ResourceGapIdentified", GAP, case_id)
    assert app.receive(*named)
    gap_id = gap_id_of(named[0].event_id)
    sitting = app.hold_sitting(COORDINATOR, date(2026, 12, 10), [LEAD_NAME, SHAKYO, ELDERLY.ja], "第3回")
    app.take_up_gap(COORDINATOR, sitting, gap_id)
    app.decide_gap(COORDINATOR, sitting, gap_id, "initiative", summary="居場所づくり")
    return app, {collaboration_domain.CollaborationCase: case_id, plan_domain.Plan: plan_id,
                 collaboration_domain.HouseholdLink: household_link_id(mother),
                 collaboration_domain.ResourceGap: gap_id, collaboration_domain.CouncilSitting: sitting,
                 casework_domain.CaseFile: case_file_id(case_id),
                 open_plan_domain.OpenPlan: open_plan_domain.open_plan_id("collaboration", case_id)}


def kept_in(app: KeptReads, aggregate_id: UUID) -> Any:
    assert app.reads_kept is not None
    return app.reads_kept.get(aggregate_id)


def changeables(value: Any, found: dict[int, Any] | None = None) -> dict[int, Any]:
    """Every object reachable from `value` (through `__dict__`, dicts, lists, tuples, sets) that could be changed in
    place: id → object."""
    found = {} if found is None else found
    if type(value) in (str, int, float, bool, type(None), bytes, UUID, datetime, date, Decimal) or id(value) in found:
        return found
    if isinstance(value, (tuple, frozenset)):
        for item in value:
            changeables(item, found)
        return found
    if isinstance(value, enum.Enum):
        return found
    found[id(value)] = value
    if isinstance(value, dict):
        for key, item in value.items():
            changeables(key, found)
            changeables(item, found)
    elif isinstance(value, (list, set)):
        for item in value:
            changeables(item, found)
    elif isinstance(value, BaseModel):
        changeables(value.__dict__, found)
    elif hasattr(value, "__dict__"):
        changeables(vars(value), found)
    return found


def scribble(value: Any, seen: set[int] | None = None) -> None:
    """What a command might do to its copy beyond its events: change every list, dict and attribute in it."""
    seen = set() if seen is None else seen
    if id(value) in seen:
        return
    seen.add(id(value))
    if isinstance(value, list):
        for item in list(value):
            scribble(item, seen)
        value.append("落書き")
    elif isinstance(value, dict):
        for item in list(value.values()):
            scribble(item, seen)
        value["落書き"] = ["落書き"]


def assert_own(copied: Any, kept: Any) -> None:
    """The copy equals the kept aggregate and shares nothing changeable with it."""
    assert type(copied) is type(kept) and copied is not kept
    assert vars(copied) == vars(kept)
    shared = set(changeables(copied)) & set(changeables(kept))
    assert not shared, [type(changeables(kept)[i]) for i in shared]


def test_every_aggregate_class_the_meeting_and_collaboration_keep_is_pinned_below() -> None:
    """A new aggregate class in these services must be added to the journeys above (so that its copy is pinned)."""
    _, meeting_ids = meeting_kept()
    _, collaboration_ids = collaboration_kept()
    assert aggregate_classes() == set(meeting_ids) | set(collaboration_ids)


@pytest.mark.parametrize("service", ["meeting", "collaboration"])
def test_d5_d4_a_commands_copy_of_each_kept_aggregate_shares_nothing_changeable_with_it(service: str) -> None:
    """For each aggregate class: the command's copy (`load`) equals the kept one, shares no list or dict with it, and
    changing every value of the copy leaves the kept aggregate, the reads and the next command's copy as they were."""
    app, ids = meeting_kept() if service == "meeting" else collaboration_kept()
    for kind, aggregate_id in ids.items():
        kept = kept_in(app, aggregate_id)
        assert type(kept) is kind and not kept.pending_events
        before = copy.deepcopy(vars(kept))

        copied = app.load(aggregate_id, kind, "集約")
        assert_own(copied, kept)
        scribble(vars(copied))
        copied.__dict__["status"] = "落書き"

        assert vars(kept_in(app, aggregate_id)) == before, kind  # the kept one, as recorded
        assert vars(app.read(aggregate_id, kind, "集約")) == before, kind  # what the reads are given
        assert vars(app.load(aggregate_id, kind, "集約")) == before, kind  # the next command's copy


def test_d5_a_refused_command_leaves_the_kept_sitting_and_plan_as_recorded() -> None:
    """A command that applied events to its copies and was then refused (nothing saved): the kept sitting and plan
    are as recorded, and the next command's copies too."""
    app, ids = meeting_kept()
    sitting, plan_id = ids[meeting_domain.Meeting], ids[meeting_domain.PlanReview]
    before = {i: copy.deepcopy(vars(kept_in(app, i))) for i in (sitting, plan_id)}

    meeting, review = app.load(sitting, meeting_domain.Meeting, "会議"), app.load(plan_id, meeting_domain.PlanReview, "議題")
    with acting(SECRETARIAT):
        meeting.take_up(uuid4(), ["X"])
        meeting.identify_gap(review.case_id, "居場所", "東部", "日中の場がない")
        review.settle("落書き")
    assert meeting.pending_events and review.pending_events and meeting.minutes[-1]["kind"] == "resource_gap"
    with pytest.raises(DomainError):
        decide(app, sitting, plan_id, "approved")  # (closed: refused, nothing saved)

    for i in (sitting, plan_id):
        assert vars(kept_in(app, i)) == before[i]
        assert vars(app.load(i, JourneyAggregate, "集約")) == before[i]


def test_a_commands_copy_of_plain_values_goes_through_no_deepcopy(monkeypatch: pytest.MonkeyPatch) -> None:
    """The cheaper copy is the one used: `copy.deepcopy` (its memo and `__reduce_ex__` for each UUID and datetime)
    runs for none of the journey's aggregates, whose values are all dicts, lists and values no one can change."""
    app, ids = meeting_kept()
    calls: list[Any] = []
    real = copy.deepcopy
    monkeypatch.setattr(kept_reads, "deepcopy", lambda value, memo=None: calls.append(value) or real(value, memo))
    for kind, aggregate_id in ids.items():
        assert_own(app.load(aggregate_id, kind, "集約"), kept_in(app, aggregate_id))
    assert calls == []


# -- the copy of values a journey's aggregates do not hold (today): as copy.deepcopy copies them ----------------------


class Colour(enum.Enum):
    RED = "red"


class Point(BaseModel):
    x: int
    tags: list[str]


class Holder:
    """An aggregate-like object (its state in `__dict__`)."""


def odd_state() -> Holder:
    shared = ["共有"]
    looped: list[Any] = ["自分"]
    looped.append(looped)
    holder = Holder()
    holder.__dict__.update({
        "_id": uuid4(), "_created_on": datetime(2026, 12, 6, 13, 0, tzinfo=UTC), "held_on": date(2026, 12, 6),
        "amount": Decimal("1.50"), "ratio": 0.5, "flag": True, "nothing": None, "blob": b"\x00",
        "pair": (1, ["中のリスト"]), "held": (shared,), "frozen": (1, "a"), "tags": {"a", "b"}, "colour": Colour.RED,
        "point": Point(x=1, tags=["t"]), "ordered": OrderedDict(a=[1]), "twice": [shared, {"again": shared}],
        "looped": looped, "keyed": {(1, 2): ["タプルの鍵"], 3: {"n": [1]}},
    })
    return holder


def test_odd_values_are_copied_as_deepcopy_copies_them() -> None:
    original = odd_state()
    copied, deep = own_copy(original), copy.deepcopy(original)

    assert type(copied) is Holder and vars(copied).keys() == vars(deep).keys()
    for name in ("_id", "_created_on", "held_on", "amount", "ratio", "flag", "nothing", "blob", "pair", "frozen",
                 "tags", "colour", "point", "ordered", "twice", "keyed"):
        assert vars(copied)[name] == vars(deep)[name], name
        assert type(vars(copied)[name]) is type(vars(deep)[name]), name
    assert copied.colour is Colour.RED and copied.frozen is original.frozen  # as deepcopy: the same objects
    assert copied.twice[0] is copied.twice[1]["again"] is copied.held[0]  # one list held in three places: one list in
    # the copy (as with deepcopy), a tuple's too
    assert copied.looped[1] is copied.looped and copied.looped is not original.looped
    assert not set(changeables(copied)) & set(changeables(original))

    scribble(vars(copied))
    copied.point.tags.append("落書き")
    copied.pair[1].append("落書き")
    copied.tags.add("落書き")
    assert vars(original) == vars(odd_state()) | {k: vars(original)[k] for k in ("_id", "looped", "twice", "held")}
    assert original.point.tags == ["t"] and original.pair[1] == ["中のリスト"] and original.tags == {"a", "b"}


class Slotted:
    __slots__ = ("__dict__", "items")


class OwnCopy:
    def __deepcopy__(self, memo: dict[int, Any]) -> OwnCopy:
        made = OwnCopy()
        made.copied_its_own_way = True
        return made


def test_a_class_that_says_how_it_is_copied_is_copied_by_deepcopy() -> None:
    slotted = Slotted()
    slotted.items = ["槽"]
    slotted.other = ["辞書"]
    copied = own_copy(slotted)
    assert copied.items == ["槽"] and copied.items is not slotted.items and copied.other == ["辞書"]
    assert getattr(own_copy(OwnCopy()), "copied_its_own_way", False) is True
