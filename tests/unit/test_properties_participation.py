"""Any sequence of commands leaves a participation support (参加支援) valid (D8, D13).

Invariants, from DOMAIN.md (D13: needs, the resources matched and how each placement went):
- a resource is matched once; a placement is only at a matched resource;
- at a resource, at most one placement is open (not ended) at a time;
- a placement's state is started or a known outcome; an ended placement takes no more reviews;
- every shortage reported (D8) is kept.
Refused commands change nothing, and the support is rebuilt equal from its stored events (dates
included).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any
from uuid import uuid4

from hypothesis import given
from hypothesis import strategies as st
from support.municipality import LEAD

from services.participation.api import CatalogueDetailsIn, PlacementIn, PlacementReviewIn
from services.participation.application import ParticipationApplication
from services.participation.domain import PLACEMENT_OUTCOMES, CatalogueEntry, Support
from services.participation.translate import translate
from shared.domain.wareki import today_in_japan
from shared.kernel.journey import Invalid, acting
from shared.web.limits import form_model
from unit.aggregate_laws import PROPERTIES, Subject
from unit.builders import in_memory

APP = in_memory(ParticipationApplication)
with acting({"service": "participation"}):
    ENTRIES = [CatalogueEntry(resource_id=uuid4(), kind=kind, name=name, provider="社協", area="深大寺",
                              capacity=None, issue_id=None) for kind, name in (("ibasho", "居場所"), ("shuro", "就労体験"))]

COMMANDS = st.one_of(
    st.tuples(st.just("needs"), st.lists(st.sampled_from(["居場所", "就労", "住まい"]), max_size=3)),
    st.tuples(st.just("match"), st.integers(0, 1)),
    st.tuples(st.just("shortage"), st.sampled_from(["居場所", "就労"])),
    st.tuples(st.just("place"), st.integers(0, 2), st.dates(date(2026, 1, 1), date(2027, 12, 31))),
    st.tuples(st.just("review"), st.integers(-1, 3), st.sampled_from([*PLACEMENT_OUTCOMES, "unknown"]),
              st.text(max_size=6)),
)


def check(support: Support, shortages: int, ended_reviews: dict[int, int]) -> None:
    matched = [m["resource_id"] for m in support.matches]
    assert len(matched) == len(set(matched)), "D13: a resource is matched once"
    for placement in support.placements:
        assert placement["resource_id"] in matched, "D13: a placement only at a matched resource"
        assert placement["status"] in ("started", *PLACEMENT_OUTCOMES)
    for resource_id in matched:
        open_ones = [p for p in support.placements if p["resource_id"] == resource_id and p["status"] != "ended"]
        assert len(open_ones) <= 1, "D13: one open placement per resource"
    for index, reviews in ended_reviews.items():
        assert len(support.placements[index]["reviews"]) == reviews, "D13: an ended placement takes no review"
    assert len(support.shortages) == shortages, "D8: every shortage is kept"


@PROPERTIES
@given(ops=st.lists(COMMANDS, max_size=14))
def test_d8_d13_any_commands_leave_a_support_valid(ops: list[tuple[Any, ...]]) -> None:
    subject = Subject(APP, lambda: Support(case_id=uuid4(), referred_by="meeting", needs=["居場所"]))
    support = subject.aggregate
    shortages = 0
    ended_reviews: dict[int, int] = {}
    for op in ops:
        kind = op[0]
        if kind == "needs":
            assert subject.apply(lambda s: s.record_needs(op[1]))  # noqa: B023 - applied at once
        elif kind == "match":
            assert subject.apply(lambda s: s.match(ENTRIES[op[1]]))  # noqa: B023
        elif kind == "shortage":
            assert subject.apply(lambda s: s.report_shortage(op[1], "深大寺", "足りない"))  # noqa: B023
            shortages += 1
        elif kind == "place":
            resource_id = str(ENTRIES[op[1]].id) if op[1] < len(ENTRIES) else str(uuid4())
            matched = any(m["resource_id"] == resource_id for m in support.matches)
            busy = any(p["resource_id"] == resource_id and p["status"] != "ended" for p in support.placements)
            placed = subject.apply(lambda s: s.start_placement(resource_id, op[2]))  # noqa: B023
            assert placed == (matched and not busy), (matched, busy)
        else:
            _, index, outcome, note = op
            known = 0 <= index < len(support.placements)
            lawful = known and outcome in PLACEMENT_OUTCOMES and support.placements[index]["status"] != "ended"
            reviewed = subject.apply(lambda s: s.review_placement(index, outcome, note))  # noqa: B023
            assert reviewed == lawful
            if reviewed and outcome == "ended":
                ended_reviews[index] = len(support.placements[index]["reviews"])
        check(support, shortages, ended_reviews)
    check(subject.rebuilt(), shortages, ended_reviews)


def test_d13_a_review_sets_the_next_review_date_typed_in_wareki_and_my_work_follows_it() -> None:
    """次回の見直し予定日 (issue 15): typed as staff write it, kept with the review, and the placement is due on it
    (not 90 days after the review); an ended placement takes none."""
    actor = {"staff_id": "sanka-002", "division": LEAD}
    today = today_in_japan()
    started = form_model(PlacementIn, {"resource_id": str(ENTRIES[0].id), "started_on": "R8.11.1"}).started_on
    assert started == date(2026, 11, 1)
    with acting(actor):
        support = Support(case_id=uuid4(), referred_by="outreach", needs=[])
        support.match(ENTRIES[0])
        support.start_placement(str(ENTRIES[0].id), started)
    soon = today + timedelta(days=3)
    typed = form_model(PlacementReviewIn, {"outcome": "ongoing", "note": "通えている",
                                           "next_review_on": f"令和{soon.year - 2018}年{soon.month}月{soon.day}日"})
    assert typed.next_review_on == soon
    with acting(actor):
        support.review_placement(0, typed.outcome, typed.note, typed.next_review_on)
    APP.save(support)
    assert support.view()["placements"][0]["reviews"][-1]["next_review_on"] == soon.isoformat()
    due = APP.casework_due(support.case_id, [], today)
    assert [(d.due, d.overdue) for d in due] == [(soon, False)]  # on the date set, not 90 days after the review
    try:
        with acting(actor):
            support.review_placement(0, "ended", "", soon)
    except Invalid as refused:
        assert "次回の見直し予定日" in str(refused)
    else:
        raise AssertionError("an ended placement took a next review date")


def test_d13_the_catalogue_keeps_a_resources_schedule_contact_and_fee_off_the_bus_and_older_entries_load() -> None:
    """資源の案内情報 (issue 15): 開催日時・曜日, the provider's 連絡先 and 利用料, typed on the catalogue's form and
    kept in participation's store; a blank clears a field; an entry learnt before them loads with none."""
    with acting({"service": "participation"}):
        entry = CatalogueEntry(resource_id=uuid4(), kind="ibasho", name="こくりょう居場所", provider="社協", area="国領",
                               capacity=10, issue_id=None)
    APP.save(entry)
    assert APP.catalogue_entry(str(entry.id)).view()["schedule"] is None  # before anything was recorded
    typed = form_model(CatalogueDetailsIn, {"schedule": "毎週火・木 10:00〜15:00", "contact": "042-000-0000（事務局）",
                                            "fee": "無料"})
    actor = {"staff_id": "sanka-002", "division": LEAD}
    APP.record_catalogue_details(actor, str(entry.id), typed.schedule, typed.contact, typed.fee)
    shown = {r["resource_id"]: r for r in APP.catalogue()}[str(entry.id)]
    assert (shown["schedule"], shown["contact"], shown["fee"]) == ("毎週火・木 10:00〜15:00", "042-000-0000（事務局）", "無料")
    APP.record_catalogue_details(actor, str(entry.id), typed.schedule, typed.contact, " ")
    assert APP.catalogue_entry(str(entry.id)).view()["fee"] is None, "a blank clears the fee"
    assert all(translate(e, 1) is None for e in APP.events_of(entry.id)), "details stay off the bus"
    try:
        APP.record_catalogue_details(actor, str(uuid4()), "毎週", None, None)
    except Invalid as refused:
        assert "資源一覧にありません" in str(refused)
    else:
        raise AssertionError("details were recorded for a resource not in the catalogue")
