"""担当者 and 支援経過記録 (issue 15): the rules in the domain (shared/domain/casework.py) and the queries every
program's pages read (shared/domain/casework_owner.py), on outreach's and participation's applications."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from uuid import uuid4

import pytest
from support.municipality import CHILDCARE
from support.municipality import LEAD as LEAD_DIVISION

from services.community.application import CommunityApplication
from services.outreach.application import OutreachApplication
from services.outreach.translate import translate as outreach_translate
from services.participation.application import ParticipationApplication
from shared.domain.casework import (
    JST,
    CaseFile,
    ContactInFuture,
    NextStepIncomplete,
    SameStaffTwice,
    SubWithoutMain,
    case_file_id,
)
from shared.domain.casework_owner import CaseworkOwner
from shared.kernel.journey import Invalid, NotFound
from shared.web.auth import Principal
from unit.builders import in_memory
from unit.test_community import matched

LEAD = {"staff_id": "outreach-007", "division": LEAD_DIVISION}
NOW = datetime.now(JST)


@pytest.fixture(autouse=True)
def _now() -> None:
    """The time in Japan as each test begins, not as the module was collected: a run that crosses midnight JST
    (15:00 UTC), or is long, saw a note dated by a stale clock (the parametrized refusals below take their dates
    as offsets from it, read at the same moment)."""
    global NOW
    NOW = datetime.now(JST)


def today() -> date:
    """Today in Japan (the machine's date.today() is UTC's, a day behind from 15:00 UTC)."""
    return NOW.date()


def started(app: OutreachApplication) -> object:
    return app.start(LEAD, None, "民生委員", "長期のひきこもり")


def test_casework_assignment_and_reassignment_are_events_with_who_and_from_whom() -> None:
    app = in_memory(OutreachApplication)
    case_id = started(app)
    app.assign(LEAD, case_id, "main", "outreach-007")
    app.assign(LEAD, case_id, "sub", "outreach-008")
    app.assign({"staff_id": "kanri-001", "division": LEAD_DIVISION}, case_id, "main", "outreach-009")

    record = app.case_file(case_id)

    assert (record.main, record.sub) == ("outreach-009", "outreach-008")
    assert [(c.role, c.staff_id, c.previous, c.by) for c in record.changes] == [
        ("main", "outreach-007", None, "outreach-007"), ("sub", "outreach-008", None, "outreach-007"),
        ("main", "outreach-009", "outreach-007", "kanri-001")]
    assert all(c.at.tzinfo is not None for c in record.changes)


def test_casework_the_same_staff_again_records_nothing() -> None:
    app = in_memory(OutreachApplication)
    case_id = started(app)
    app.assign(LEAD, case_id, "main", "outreach-007")
    version = app.repository.get(case_file_id(case_id)).version
    app.assign(LEAD, case_id, "main", " outreach-007 ")

    assert app.repository.get(case_file_id(case_id)).version == version


def test_casework_a_sub_needs_a_main_and_is_another_person() -> None:
    app = in_memory(OutreachApplication)
    case_id = started(app)
    with pytest.raises(SubWithoutMain):
        app.assign(LEAD, case_id, "sub", "outreach-008")
    app.assign(LEAD, case_id, "main", "outreach-007")
    with pytest.raises(SameStaffTwice):
        app.assign(LEAD, case_id, "sub", "outreach-007")
    app.assign(LEAD, case_id, "sub", "outreach-008")
    with pytest.raises(SameStaffTwice):
        app.assign(LEAD, case_id, "main", "outreach-008")
    app.release_sub(LEAD, case_id)
    assert app.case_file(case_id).sub is None


def test_casework_only_the_programs_own_cases_have_a_case_file() -> None:
    app = in_memory(OutreachApplication)
    with pytest.raises(NotFound):
        app.assign(LEAD, uuid4(), "main", "outreach-007")
    with pytest.raises(NotFound):
        app.write_note(LEAD, uuid4(), NOW, "電話", "本人", "話した")


def test_casework_a_program_that_names_no_cases_keeps_no_case_file() -> None:
    class Unwired(CaseworkOwner):
        name = service = "outreach"

    with pytest.raises(NotFound):
        in_memory(Unwired).assign(LEAD, uuid4(), "main", "outreach-007")


def test_casework_a_note_keeps_when_the_contact_happened_not_when_it_was_typed() -> None:
    app = in_memory(OutreachApplication)
    case_id = started(app)
    contacted = (NOW - timedelta(days=3)).replace(microsecond=0)
    app.write_note(LEAD, case_id, contacted.replace(tzinfo=None), "訪問", "本人と母", "生活の様子を聞いた",
                   "来週また訪問する", "再訪問", contacted.date() + timedelta(days=7))

    note = next(e for e in app.case_file(case_id).entries if e.kind == "note")

    assert note.at == contacted and note.written_at is not None and note.written_at > contacted
    assert (note.method, note.counterpart, note.agreed, note.next_step) == ("訪問", "本人と母", "来週また訪問する", "再訪問")
    assert note.written_by == "outreach-007"


@pytest.mark.parametrize(("change", "refused"), [
    (lambda: {"method": "FAX"}, Invalid),
    (lambda: {"content": "  "}, Invalid),
    (lambda: {"contacted_at": NOW + timedelta(days=1)}, ContactInFuture),
    (lambda: {"next_step": "再訪問", "next_due": None}, NextStepIncomplete),
    (lambda: {"next_step": "", "next_due": today() + timedelta(days=3)}, NextStepIncomplete),
    (lambda: {"next_step": "再訪問", "next_due": (NOW - timedelta(days=10)).date()}, NextStepIncomplete),
], ids=["method", "content", "future", "step_without_date", "date_without_step", "date_before_contact"])
def test_casework_a_note_is_refused_by_its_rule(change: Callable[[], dict[str, object]],
                                                refused: type[Exception]) -> None:
    app = in_memory(OutreachApplication)
    case_id = started(app)
    note = {"contacted_at": NOW - timedelta(days=1), "method": "電話", "counterpart": "本人", "content": "話した",
            "agreed": "", "next_step": "", "next_due": None, **change()}
    with pytest.raises(refused):
        app.write_note(LEAD, case_id, **note)  # type: ignore[arg-type]
    assert app._case_file(case_id) is None  # nothing recorded


def test_casework_is_never_on_the_bus() -> None:
    app = in_memory(OutreachApplication)
    case_id = started(app)
    app.assign(LEAD, case_id, "main", "outreach-007")
    app.write_note(LEAD, case_id, NOW, "電話", "本人", "相談内容")

    events = list(app.events_of(case_file_id(case_id)))

    assert len(events) == 3 and all(outreach_translate(e, 1) is None for e in events)
    assert isinstance(app.repository.get(case_file_id(case_id)), CaseFile)


def test_casework_outreach_contacts_are_in_the_record_and_a_contact_without_a_note_is_due() -> None:
    app = in_memory(OutreachApplication)
    case_id = started(app)
    app.record_contact(LEAD, case_id, "訪問", True, "玄関越しに話せた", "接触")
    app.assign(LEAD, case_id, "main", "outreach-007")
    worker = Principal("outreach-007", LEAD_DIVISION, frozenset({"outreach_worker"}))

    before = app.my_work("outreach-007", worker)
    app.write_note(LEAD, case_id, datetime.now(JST), "訪問", "本人", "玄関越しに話せた。次は手紙")
    after = app.my_work("outreach-007", worker)

    assert [e.kind for e in app.case_file(case_id).entries] == ["contact", "note"]
    assert [i.what[:5] for i in before.items] == ["接触後の経"]
    assert after.items == [] and [c.role for c in after.cases] == ["main"]


def test_casework_my_work_shows_a_passed_next_step_as_overdue_and_the_supervisor_counts_it() -> None:
    app = in_memory(OutreachApplication)
    mine, other = started(app), started(app)
    unassigned = started(app)
    app.assign(LEAD, mine, "main", "outreach-007")
    app.assign(LEAD, other, "main", "outreach-008")
    app.assign(LEAD, other, "sub", "outreach-007")
    app.write_note(LEAD, mine, NOW - timedelta(days=10), "電話", "本人", "話した", "", "書類を送る",
                   (NOW - timedelta(days=2)).date())
    worker = Principal("outreach-007", LEAD_DIVISION, frozenset({"outreach_worker"}))

    work = app.my_work("outreach-007", worker)
    load = app.caseload(Principal("kanri-001", LEAD_DIVISION, frozenset({"supervisor"})))

    assert sorted(c.role for c in work.cases) == ["main", "sub"]
    assert [(i.case_id, i.overdue) for i in work.items] == [(str(mine), True)]
    assert [(r.staff_id, r.main, r.sub, r.overdue) for r in load.rows] == [
        ("outreach-007", 1, 1, 1), ("outreach-008", 1, 0, 0)]
    assert load.unassigned == 1 and load.unassigned_ids == [str(unassigned)] and load.overdue == 1


def test_casework_another_division_sees_no_case_in_my_work_or_caseload() -> None:
    app = in_memory(OutreachApplication)
    case_id = started(app)
    app.assign(LEAD, case_id, "main", "hoiku-021")
    stranger = Principal("hoiku-021", CHILDCARE.division, frozenset({"counselor"}))

    assert app.my_work("hoiku-021", stranger).cases == []
    assert app.caseload(Principal("kanri-9", CHILDCARE.division, frozenset({"supervisor"}))).rows == []


def test_casework_participation_reviews_are_in_the_record_and_an_unreviewed_placement_is_due() -> None:
    community, app = in_memory(CommunityApplication), in_memory(ParticipationApplication)
    case_id, resource = matched(community, app)
    worker = {"staff_id": "sanka-002", "division": LEAD_DIVISION}
    app.start_placement(worker, case_id, str(resource), today() - timedelta(days=200))
    app.assign(worker, case_id, "main", "sanka-002")
    reader = Principal("sanka-002", LEAD_DIVISION, frozenset({"participation_worker"}))

    due = app.my_work("sanka-002", reader).items
    app.review_placement(worker, case_id, 0, "ongoing", "週1回通えている")

    assert [i.overdue for i in due] == [True] and "見直し" in due[0].what
    assert [e.kind for e in app.case_file(case_id).entries] == ["placement", "review"]
    assert app.my_work("sanka-002", reader).items == []
